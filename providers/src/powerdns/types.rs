//! Wire structs of the PowerDNS Authoritative HTTP API (v1), only the fields we use.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct Zone {
    pub rrsets: Vec<RrSet>,
}

#[derive(Debug, Deserialize)]
pub struct RrSet {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: u32,
    pub records: Vec<Record>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Record {
    pub content: String,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Serialize)]
pub struct Patch<'a> {
    pub rrsets: Vec<PatchRrSet<'a>>,
}

#[derive(Debug, Serialize)]
pub struct PatchRrSet<'a> {
    pub name: &'a str,
    #[serde(rename = "type")]
    pub rtype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    pub changetype: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<Record>,
}

/// PowerDNS's error body: `{"error": "..."}`.
#[derive(Debug, Deserialize)]
pub struct ApiError {
    pub error: String,
}
