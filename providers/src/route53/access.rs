//! `write_access` for Route 53. ChangeResourceRecordSets has no dry run, but IAM
//! authorizes a request before Route 53 looks at its content: a batch that DELETEs, at
//! each steered name and type, a record set with a value that set does not hold is
//! refused for its content (InvalidChangeBatch; moto: InvalidInput) when the caller may
//! write those sets, and AccessDenied when it may not (a policy's resource or its
//! `route53:ChangeResourceRecordSets*` conditions on names, types and actions). A
//! DELETE must match a set exactly, so it cannot remove anything.

use super::types::WireChange;
use super::Route53Provider;
use crate::error::ProviderError;
use crate::provider::{Provider, WriteAccess};
use crate::record::{RecordType, ZoneName};

/// The TTL of the stand-in sets: a DELETE must match the live TTL too, and no steered
/// set is written with one second.
const STAND_IN_TTL: u32 = 1;

pub(super) async fn write_access(
    provider: &Route53Provider,
    zone: &ZoneName,
    steered: &[(String, RecordType)],
) -> Result<WriteAccess, ProviderError> {
    let zone_id = provider.hosted_zone_id(zone).await?;
    let live = provider.records(zone).await?;
    let mut probes = Vec::new();
    for (name, rtype) in steered {
        let held = live
            .iter()
            .find(|s| &s.name == name && &s.rtype == rtype)
            .map(|s| s.values.as_slice())
            .unwrap_or_default();
        let Some(value) = stand_ins(rtype).iter().find(|v| !held.iter().any(|h| h == *v)) else {
            return Ok(WriteAccess::Unverifiable(format!(
                "{name} {rtype}: no stand-in value to ask about this type with"
            )));
        };
        probes.push(WireChange {
            action: "DELETE",
            name: name.clone(),
            rtype: rtype.as_str().to_string(),
            ttl: STAND_IN_TTL,
            values: vec![value.to_string()],
        });
    }
    if probes.is_empty() {
        return Ok(WriteAccess::Unverifiable(format!(
            "dnsteer steers no set in {zone} here, so there is nothing to ask Route 53 about"
        )));
    }
    match ask(provider, &zone_id, &probes).await? {
        None => Ok(WriteAccess::Granted(format!(
            "a ChangeResourceRecordSets that deletes only record sets that do not exist was refused for its \
             content, not its authorization, for {}",
            describe(probes.iter())
        ))),
        Some(denial) => {
            let mut refused = Vec::new();
            for probe in &probes {
                if ask(provider, &zone_id, std::slice::from_ref(probe)).await?.is_some() {
                    refused.push(probe);
                }
            }
            let which = if refused.is_empty() {
                describe(probes.iter())
            } else {
                describe(refused.into_iter())
            };
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

fn describe<'a>(probes: impl Iterator<Item = &'a WireChange>) -> String {
    probes
        .map(|p| format!("{} {}", p.name, p.rtype))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Values no steered set holds, two per type so one is always free.
fn stand_ins(rtype: &RecordType) -> &'static [&'static str] {
    match rtype {
        RecordType::A => &["0.0.0.0", "0.0.0.1"],
        RecordType::Aaaa => &["100::", "100::1"],
        RecordType::Cname | RecordType::Ns | RecordType::Ptr => &["dnsteer-probe.invalid.", "dnsteer-probe-2.invalid."],
        RecordType::Txt => &["\"dnsteer permission probe\"", "\"dnsteer permission probe 2\""],
        RecordType::Mx => &["0 dnsteer-probe.invalid.", "1 dnsteer-probe.invalid."],
        RecordType::Srv => &["0 0 0 dnsteer-probe.invalid.", "0 0 1 dnsteer-probe.invalid."],
        RecordType::Caa => &[
            "0 issue \"dnsteer-probe.invalid\"",
            "0 issuewild \"dnsteer-probe.invalid\"",
        ],
        _ => &[],
    }
}
