//! Wire structs of the Cloudflare API v4 (zones and DNS records), only what we use.

use serde::{Deserialize, Serialize};

/// Every answer's envelope (`success` and `errors` are read by the classifier).
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub result: Option<T>,
    #[serde(default)]
    pub result_info: Option<ResultInfo>,
}

/// An error envelope, read without knowing the result's shape.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorEnvelope {
    #[serde(default)]
    pub errors: Vec<ApiMessage>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ApiMessage {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Deserialize)]
pub struct ResultInfo {
    #[serde(default)]
    pub page: u32,
    #[serde(default)]
    pub total_pages: u32,
}

#[derive(Debug, Deserialize)]
pub struct Zone {
    pub id: String,
    pub name: String,
    /// The nameservers Cloudflare assigned the zone.
    #[serde(default)]
    pub name_servers: Vec<String>,
}

/// A DNS record as Cloudflare returns it.
#[derive(Clone, Debug, Deserialize)]
pub struct DnsRecord {
    pub id: String,
    /// The owner name without the trailing dot (`www.example.com`).
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    #[serde(default)]
    pub content: String,
    /// Seconds; 1 means "automatic".
    pub ttl: u32,
    #[serde(default)]
    pub proxied: bool,
    /// MX, SRV and URI records carry their priority apart from `content`.
    #[serde(default)]
    pub priority: Option<u16>,
    /// The components of the types that have them (SRV: priority, weight, port,
    /// target; CAA: flags, tag, value). Kept loose: a type dnsteer does not know must
    /// not make the whole zone unreadable.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// A record to create (POST, or `posts` of a batch).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NewRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    /// The value, for the types written as one string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The components, for the types Cloudflare writes from them (SRV, CAA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    pub ttl: u32,
    /// Only sent for the types Cloudflare can proxy (A, AAAA, CNAME).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxied: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u16>,
}

/// The fields a PATCH changes (only the TTL: content changes are delete + create).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RecordPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub ttl: u32,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RecordId {
    pub id: String,
}

/// `POST /zones/{zone_id}/dns_records/batch`: executed deletes, patches, puts, posts,
/// in one transaction.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Batch {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<RecordId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<RecordPatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub posts: Vec<NewRecord>,
}

impl Batch {
    /// How many record operations the batch holds.
    pub fn operations(&self) -> usize {
        self.deletes.len() + self.patches.len() + self.posts.len()
    }

    pub fn extend(&mut self, other: Batch) {
        self.deletes.extend(other.deletes);
        self.patches.extend(other.patches);
        self.posts.extend(other.posts);
    }
}
