//! Wire structs of the Route 53 Domains API (2014-05-15, JSON 1.1), only what we use.

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DomainRequest<'a> {
    pub domain_name: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DomainDetail {
    #[serde(default)]
    pub nameservers: Vec<Nameserver>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Nameserver {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub glue_ips: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateNameservers<'a> {
    pub domain_name: &'a str,
    pub nameservers: Vec<Nameserver>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationId {
    pub operation_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationRequest<'a> {
    pub operation_id: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationDetail {
    /// SUBMITTED | IN_PROGRESS | ERROR | SUCCESSFUL | FAILED
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
}
