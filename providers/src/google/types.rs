//! Wire structs of the Cloud DNS API v1 (managed zones, resource record sets, changes)
//! and of Google's OAuth2 token endpoint, only what we use.

use serde::{Deserialize, Serialize};

/// A service-account key file as the Cloud console downloads it.
#[derive(Deserialize)]
pub struct ServiceAccountKey {
    #[serde(rename = "type", default)]
    pub key_type: String,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub private_key_id: Option<String>,
    pub private_key: String,
    pub client_email: String,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_string()
}

/// The JWT claims of a token request (RFC 7523, Google's service-account flow).
#[derive(Serialize)]
pub struct Claims<'a> {
    pub iss: &'a str,
    pub scope: &'a str,
    pub aud: &'static str,
    pub iat: u64,
    pub exp: u64,
}

/// Google's JSON error: `{"error": {"code", "message", "status", "errors": [...]}}`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: ApiError,
}

#[derive(Debug, Default, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub message: String,
    /// The canonical code (`FAILED_PRECONDITION`, `RESOURCE_EXHAUSTED`...).
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedZone {
    /// The zone's resource name (what URLs take), not its DNS name.
    pub name: String,
    pub dns_name: String,
    #[serde(default)]
    pub name_servers: Vec<String>,
    /// `public` or `private`; absent means public.
    #[serde(default)]
    pub visibility: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedZonesPage {
    #[serde(default)]
    pub managed_zones: Vec<ManagedZone>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// A resource record set. `ttl` is an int32, which Google's JSON may also send as a
/// string.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ResourceRecordSet {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    #[serde(deserialize_with = "int_or_string", default)]
    pub ttl: u32,
    #[serde(default)]
    pub rrdatas: Vec<String>,
    /// Sets answered by a routing policy carry no `rrdatas`; they are not read.
    #[serde(rename = "routingPolicy", default, skip_serializing)]
    pub routing_policy: Option<serde_json::Value>,
}

fn int_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Int(u32),
        Text(String),
    }
    match Loose::deserialize(d)? {
        Loose::Int(n) => Ok(n),
        Loose::Text(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RrsetsPage {
    #[serde(default)]
    pub rrsets: Vec<ResourceRecordSet>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `changes.create`'s body and the change it answers with.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ChangeBody {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additions: Vec<ResourceRecordSet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletions: Vec<ResourceRecordSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `pending` or `done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Serialize)]
pub struct TestPermissionsRequest<'a> {
    pub permissions: &'a [&'a str],
}

#[derive(Default, Deserialize)]
pub struct TestPermissionsResponse {
    #[serde(default)]
    pub permissions: Vec<String>,
}
