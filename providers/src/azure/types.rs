//! Wire shapes of the Azure DNS REST API (Microsoft.Network, api-version 2018-05-01),
//! the Microsoft identity platform's token endpoint and ARM's permissions list, as the
//! published specification and the `azure-mgmt-dns` models spell them.

use serde::{Deserialize, Serialize};

/// ARM's error body: `{"error": {"code": ..., "message": ...}}`; some services answer
/// the inner object bare.
#[derive(Debug, Default, Deserialize)]
pub struct CloudError {
    #[serde(default)]
    pub error: Option<CloudErrorBody>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CloudErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl CloudError {
    /// The error's code and message, wherever the body put them.
    pub fn code_and_message(self) -> Option<(String, String)> {
        match self.error {
            Some(body) => Some((body.code, body.message)),
            None => self.code.map(|code| (code, self.message.unwrap_or_default())),
        }
    }
}

/// The zone (`GET .../dnsZones/{zone}`); only what dnsteer reads.
#[derive(Debug, Deserialize)]
pub struct Zone {
    #[serde(default)]
    pub properties: ZoneProperties,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneProperties {
    #[serde(default)]
    pub name_servers: Vec<String>,
}

/// One page of `GET .../recordsets`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordSetList {
    #[serde(default)]
    pub value: Vec<ArmRecordSet>,
    #[serde(default)]
    pub next_link: Option<String>,
}

/// A record set as ARM returns it.
#[derive(Debug, Deserialize)]
pub struct ArmRecordSet {
    /// The name relative to the zone, `@` for the apex.
    pub name: String,
    /// `Microsoft.Network/dnszones/{TYPE}`.
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub properties: RecordSetProperties,
}

/// A record set's properties: what dnsteer writes (`TTL` and one record list) and
/// reads. Field names are the API's, capitals included.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct RecordSetProperties {
    #[serde(rename = "TTL", default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// Set on an alias record set, which points at an Azure resource instead of holding
    /// records.
    #[serde(rename = "targetResource", default, skip_serializing)]
    pub target_resource: Option<serde_json::Value>,
    #[serde(rename = "ARecords", default, skip_serializing_if = "Option::is_none")]
    pub a: Option<Vec<ARecord>>,
    #[serde(rename = "AAAARecords", default, skip_serializing_if = "Option::is_none")]
    pub aaaa: Option<Vec<AaaaRecord>>,
    #[serde(rename = "CNAMERecord", default, skip_serializing_if = "Option::is_none")]
    pub cname: Option<CnameRecord>,
    #[serde(rename = "NSRecords", default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<Vec<NsRecord>>,
    #[serde(rename = "PTRRecords", default, skip_serializing_if = "Option::is_none")]
    pub ptr: Option<Vec<PtrRecord>>,
    #[serde(rename = "MXRecords", default, skip_serializing_if = "Option::is_none")]
    pub mx: Option<Vec<MxRecord>>,
    #[serde(rename = "TXTRecords", default, skip_serializing_if = "Option::is_none")]
    pub txt: Option<Vec<TxtRecord>>,
    #[serde(rename = "SRVRecords", default, skip_serializing_if = "Option::is_none")]
    pub srv: Option<Vec<SrvRecord>>,
    #[serde(rename = "caaRecords", default, skip_serializing_if = "Option::is_none")]
    pub caa: Option<Vec<CaaRecord>>,
    #[serde(rename = "SOARecord", default, skip_serializing_if = "Option::is_none")]
    pub soa: Option<SoaRecord>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ARecord {
    pub ipv4_address: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AaaaRecord {
    pub ipv6_address: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct CnameRecord {
    pub cname: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct NsRecord {
    pub nsdname: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct PtrRecord {
    pub ptrdname: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct MxRecord {
    pub preference: u16,
    pub exchange: String,
}

/// One TXT record: its character strings (each at most 255 bytes).
#[derive(Debug, Deserialize, Serialize)]
pub struct TxtRecord {
    pub value: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct CaaRecord {
    pub flags: u8,
    pub tag: String,
    pub value: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoaRecord {
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub serial_number: u64,
    #[serde(default)]
    pub refresh_time: u64,
    #[serde(default)]
    pub retry_time: u64,
    #[serde(default)]
    pub expire_time: u64,
    #[serde(rename = "minimumTTL", default)]
    pub minimum_ttl: u64,
}

/// The body of a record set PUT.
#[derive(Debug, Serialize)]
pub struct RecordSetBody {
    pub properties: RecordSetProperties,
}

/// `GET .../providers/Microsoft.Authorization/permissions`: the caller's effective
/// permissions at a scope, one entry per role assignment.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionList {
    #[serde(default)]
    pub value: Vec<Permission>,
    #[serde(default)]
    pub next_link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
}
