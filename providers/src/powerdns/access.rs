//! `write_access` for PowerDNS, which has no call that tells without writing.
//!
//! Its API keys are not scoped: the one `api-key` of a server reads and writes every
//! zone on it (and `webserver-allow-from` limits reads and writes alike), so a key that
//! reads the zone may write it unless the zone is a secondary, which PowerDNS keeps
//! from its primary. A PATCH that changes nothing would be a closer test, but there is
//! none: a PATCH with an empty `rrsets` list raises the SOA serial under the default
//! SOA-EDIT-API (measured on 4.7), so it is not sent.

use reqwest::Method;
use serde::Deserialize;

use super::PowerDnsProvider;
use crate::error::ProviderError;
use crate::provider::WriteAccess;
use crate::record::ZoneName;

#[derive(Deserialize)]
struct ZoneKind {
    kind: String,
}

pub(super) async fn write_access(provider: &PowerDnsProvider, zone: &ZoneName) -> Result<WriteAccess, ProviderError> {
    let url = provider.zone_url(zone);
    let resp = provider.request(Method::GET, &url, None, zone).await?;
    let ZoneKind { kind } = resp.json(&provider.name)?;
    match kind.to_ascii_lowercase().as_str() {
        "native" | "master" | "primary" | "producer" => Ok(WriteAccess::Granted(format!(
            "the key reads {zone}, a {kind} zone, and PowerDNS API keys are not scoped: a key that reads may \
             write every zone on the server"
        ))),
        _ => Ok(WriteAccess::Unverifiable(format!(
            "{zone} is a {kind} zone, which PowerDNS keeps from its primary: write to the primary instead"
        ))),
    }
}
