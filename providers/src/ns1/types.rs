//! The parts of NS1's API v1 JSON the adapter reads and writes.

use serde::{Deserialize, Serialize};

/// `GET /zones/{zone}`: the zone, its assigned nameservers and a summary of each record.
#[derive(Debug, Deserialize)]
pub struct Zone {
    #[serde(default)]
    pub dns_servers: Vec<String>,
    #[serde(default)]
    pub records: Vec<ZoneRecord>,
}

/// One record of a zone's summary: its answers flattened to one string each.
#[derive(Debug, Deserialize)]
pub struct ZoneRecord {
    pub domain: String,
    #[serde(rename = "type")]
    pub rtype: String,
    #[serde(default)]
    pub ttl: u32,
    #[serde(default)]
    pub short_answers: Vec<String>,
    /// 1 for a plain record; higher once answers carry metadata or the record a filter
    /// chain, which the summary does not show.
    #[serde(default)]
    pub tier: u32,
}

/// `GET /zones/{zone}/{domain}/{type}`: a record with its full answers.
#[derive(Debug, Deserialize)]
pub struct Record {
    pub domain: String,
    #[serde(rename = "type")]
    pub rtype: String,
    #[serde(default)]
    pub ttl: u32,
    #[serde(default)]
    pub answers: Vec<Answer>,
}

/// One answer: its rdata fields in order (strings, or numbers for MX/SRV/CAA fields).
#[derive(Debug, Deserialize, Serialize)]
pub struct Answer {
    pub answer: Vec<serde_json::Value>,
    /// Answer metadata: `weight`, `up` and `note` are the fields dnsteer writes.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

/// The body of a record PUT (create) or POST (update).
#[derive(Debug, Serialize)]
pub struct RecordBody<'a> {
    pub zone: &'a str,
    pub domain: &'a str,
    #[serde(rename = "type")]
    pub rtype: &'a str,
    pub ttl: u32,
    pub answers: Vec<Answer>,
    /// Sent only when dnsteer sets the chain (a weighted record, or one no longer
    /// weighted): an update without it keeps the record's filters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<serde_json::Value>,
}

/// NS1's error body.
#[derive(Debug, Default, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub message: String,
}

/// An entry of `GET /account/apikeys`.
#[derive(Debug, Deserialize)]
pub struct ApiKey {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub secrets: Vec<ApiKeySecret>,
    #[serde(default)]
    pub teams: Vec<String>,
    #[serde(default)]
    pub permissions: Permissions,
}

#[derive(Debug, Deserialize)]
pub struct ApiKeySecret {
    #[serde(default)]
    pub secret: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Permissions {
    #[serde(default)]
    pub dns: DnsPermissions,
}

/// `permissions.dns` of a key.
#[derive(Debug, Default, Deserialize)]
pub struct DnsPermissions {
    #[serde(default)]
    pub view_zones: bool,
    #[serde(default)]
    pub manage_zones: bool,
    #[serde(default)]
    pub zones_allow_by_default: bool,
    #[serde(default)]
    pub zones_allow: Vec<String>,
    #[serde(default)]
    pub zones_deny: Vec<String>,
}
