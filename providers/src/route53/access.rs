//! `write_access` for Route 53. ChangeResourceRecordSets has no dry run, but IAM
//! authorizes a request before Route 53 looks at its content: a batch that DELETEs, at
//! each steered name and type, a record set with a value that set does not hold is
//! refused for its content (InvalidChangeBatch; moto: InvalidInput) when the caller may
//! write those sets, and AccessDenied when it may not (a policy's resource or its
//! `route53:ChangeResourceRecordSets*` conditions on names, types and actions). A
//! DELETE must match a set exactly, so it cannot remove anything.

use super::types::WireChange;
use super::Route53Provider;
use crate::access::{describe, refused_alone, stand_in_values};
use crate::error::ProviderError;
use crate::provider::{Provider, SetKey, WriteAccess};
use crate::record::ZoneName;

/// The TTL of the stand-in sets: a DELETE must match the live TTL too, and no steered
/// set is written with one second.
const STAND_IN_TTL: u32 = 1;

pub(super) async fn write_access(
    provider: &Route53Provider,
    zone: &ZoneName,
    steered: &[SetKey],
) -> Result<WriteAccess, ProviderError> {
    let zone_id = provider.hosted_zone_id(zone).await?;
    let live = provider.records(zone).await?;
    let mut asks: Vec<(WireChange, &SetKey)> = Vec::new();
    for set @ (name, rtype) in steered {
        let held = live
            .iter()
            .find(|s| &s.name == name && &s.rtype == rtype)
            .map(|s| s.values.as_slice())
            .unwrap_or_default();
        let Some(value) = stand_in_values(rtype).iter().find(|v| !held.iter().any(|h| h == *v)) else {
            return Ok(WriteAccess::Unverifiable(format!(
                "{name} {rtype}: no stand-in value to ask about this type with"
            )));
        };
        let probe = WireChange {
            action: "DELETE",
            name: name.clone(),
            rtype: rtype.as_str().to_string(),
            ttl: STAND_IN_TTL,
            values: vec![value.to_string()],
            set_id: None,
            weight: None,
            alias: None,
        };
        asks.push((probe, set));
    }
    if asks.is_empty() {
        return Ok(WriteAccess::Unverifiable(format!(
            "dnsteer steers no set in {zone} here, so there is nothing to ask Route 53 about"
        )));
    }
    let probes: Vec<WireChange> = asks.iter().map(|(probe, _)| probe.clone()).collect();
    match ask(provider, &zone_id, &probes).await? {
        None => Ok(WriteAccess::Granted(format!(
            "a ChangeResourceRecordSets that deletes only record sets that do not exist was refused for its \
             content, not its authorization, for {}",
            describe(steered)
        ))),
        Some(denial) => {
            let which = refused_alone(&asks, |probe| async {
                Ok(ask(provider, &zone_id, std::slice::from_ref(probe)).await?.is_some())
            })
            .await?;
            Ok(WriteAccess::Denied(format!(
                "route53:ChangeResourceRecordSets on hostedzone/{zone_id} for {which} ({denial}): allow it in the \
                 IAM policy of these credentials"
            )))
        }
    }
}

/// `None` when authorization passed (the content was refused), else the denial.
async fn ask(
    provider: &Route53Provider,
    zone_id: &str,
    probes: &[WireChange],
) -> Result<Option<String>, ProviderError> {
    match provider.client.change(zone_id, probes).await {
        Err(ProviderError::Conflict { .. } | ProviderError::Rejected { .. }) => Ok(None),
        // The same credentials just read the zone: a refusal now is about this write.
        Err(ProviderError::Auth { message, .. }) => Ok(Some(message)),
        Err(other) => Err(other),
        Ok(info) => Err(ProviderError::Protocol {
            provider: provider.name.clone(),
            message: format!(
                "Route 53 accepted (change {}) a DELETE of record sets that were not live; read the zone",
                info.id
            ),
        }),
    }
}
