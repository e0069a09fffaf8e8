//! What the adapters' write-access checks share: stand-in values that no steered set
//! holds (a probe deletes one, which cannot remove anything), and naming only the sets
//! a refusal is about.

use std::future::Future;

use crate::error::ProviderError;
use crate::provider::SetKey;
use crate::record::RecordType;

/// Values of `rtype` that a probe may delete because a set is unlikely to hold them;
/// two per type, so that one is free in any set that holds the other. Empty for a type
/// with none.
pub(crate) fn stand_in_values(rtype: &RecordType) -> &'static [&'static str] {
    match rtype {
        RecordType::A => &["0.0.0.0", "0.0.0.1"],
        RecordType::Aaaa => &["100::", "100::1"],
        RecordType::Cname | RecordType::Ns | RecordType::Ptr => &["dnsteer-probe.invalid.", "dnsteer-probe-2.invalid."],
        RecordType::Mx => &["0 dnsteer-probe.invalid.", "1 dnsteer-probe.invalid."],
        RecordType::Txt => &["\"dnsteer permission probe\"", "\"dnsteer permission probe 2\""],
        RecordType::Srv => &["0 0 0 dnsteer-probe.invalid.", "0 0 1 dnsteer-probe.invalid."],
        RecordType::Caa => &[
            "0 issue \"dnsteer-probe.invalid\"",
            "0 issuewild \"dnsteer-probe.invalid\"",
        ],
        _ => &[],
    }
}

/// After a probe of several sets was refused: the sets refused when asked about alone,
/// as `name TYPE, ...`; every set when none is refused alone (a policy that judges the
/// batch as a whole, or a grant that changed meanwhile).
pub(crate) async fn refused_alone<'a, T, Ask, Fut>(
    asks: &'a [(T, &'a SetKey)],
    mut refused: Ask,
) -> Result<String, ProviderError>
where
    Ask: FnMut(&'a T) -> Fut,
    Fut: Future<Output = Result<bool, ProviderError>>,
{
    let mut named = Vec::new();
    for (ask, set) in asks {
        if refused(ask).await? {
            named.push(*set);
        }
    }
    if named.is_empty() {
        named = asks.iter().map(|(_, set)| *set).collect();
    }
    Ok(describe(named))
}

/// Sets as `name TYPE, name TYPE`.
pub(crate) fn describe<'a>(sets: impl IntoIterator<Item = &'a SetKey>) -> String {
    sets.into_iter()
        .map(|(name, rtype)| format!("{name} {rtype}"))
        .collect::<Vec<_>>()
        .join(", ")
}
