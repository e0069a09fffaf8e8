//! The check of a batch against a fresh read, for providers without compare-and-set
//! (and for the parts of a batch a provider does not compare): a change whose result is
//! already live is dropped, so a repeated apply is harmless; a change whose set is no
//! longer what the plan read refuses the whole batch as `Conflict`, before anything is
//! sent. The window between that read and the write is one round trip.

use crate::error::ProviderError;
use crate::record::{Change, RecordSet};

/// Where one change stands against the live zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Its result is already live: nothing to send.
    Done,
    /// The live set is what the change expects: send it.
    Pending,
    /// The live set is neither what the change expects nor its result.
    Stale,
}

impl Standing {
    /// Where `change` stands when `live` is the set at its name and type (`None`:
    /// absent). `done(live, after)` says whether the live set counts as the change's
    /// result, `expected(live, before)` whether it counts as what the plan read: a
    /// provider that stores TTLs its own way compares its own way.
    pub fn of(
        change: &Change,
        live: Option<&RecordSet>,
        done: impl Fn(&RecordSet, &RecordSet) -> bool,
        expected: impl Fn(&RecordSet, &RecordSet) -> bool,
    ) -> Self {
        let is = |want: Option<&RecordSet>, same: &dyn Fn(&RecordSet, &RecordSet) -> bool| match (live, want) {
            (None, None) => true,
            (Some(l), Some(w)) => same(l, w),
            _ => false,
        };
        if is(change.after(), &done) {
            Standing::Done
        } else if is(change.before(), &expected) {
            Standing::Pending
        } else {
            Standing::Stale
        }
    }

    /// `of` with exact equality.
    pub fn exact(change: &Change, live: &[RecordSet]) -> Self {
        Self::of(change, find(live, change.subject()), |l, a| l == a, |l, b| l == b)
    }
}

/// The set of `live` at `subject`'s name and type.
pub fn find<'l>(live: &'l [RecordSet], subject: &RecordSet) -> Option<&'l RecordSet> {
    live.iter().find(|s| s.key() == subject.key())
}

/// The changes of `changes` still to send, judged by exact equality against `live`
/// (a fresh read); `Conflict` if any is stale.
pub fn pending<'c>(
    provider: &str,
    live: &[RecordSet],
    changes: &'c [Change],
) -> Result<Vec<&'c Change>, ProviderError> {
    pending_by(
        provider,
        changes,
        |subject| find(live, subject),
        |l, a| l == a,
        |l, b| l == b,
    )
}

/// `pending` with the provider's own lookup and comparisons (see `Standing::of`).
pub fn pending_by<'c, 'l>(
    provider: &str,
    changes: &'c [Change],
    live: impl Fn(&RecordSet) -> Option<&'l RecordSet>,
    done: impl Fn(&RecordSet, &RecordSet) -> bool,
    expected: impl Fn(&RecordSet, &RecordSet) -> bool,
) -> Result<Vec<&'c Change>, ProviderError> {
    let mut pending = Vec::with_capacity(changes.len());
    for change in changes {
        let current = live(change.subject());
        match Standing::of(change, current, &done, &expected) {
            Standing::Done => {}
            Standing::Pending => pending.push(change),
            Standing::Stale => return Err(conflict(provider, &[stale(change, current)], None)),
        }
    }
    Ok(pending)
}

/// For an adapter that checks one set at a time against a fresh read of it (`live`,
/// `None` when absent): `Ok(false)` when the change's result is already live (nothing
/// to send), `Ok(true)` when `live` is still its `before`, as read or as `shape` (the
/// adapter's `normalize`) would store it, and `Conflict` otherwise.
pub fn still_applies(
    provider: &str,
    change: &Change,
    live: Option<&RecordSet>,
    shape: impl Fn(&RecordSet) -> RecordSet,
) -> Result<bool, ProviderError> {
    let same = |l: &RecordSet, want: &RecordSet| l == want || *l == shape(want);
    match Standing::of(change, live, same, same) {
        Standing::Done => Ok(false),
        Standing::Pending => Ok(true),
        Standing::Stale => Err(conflict(provider, &[stale(change, live)], None)),
    }
}

/// Whether every change's result is already live (a batch refused as a conflict may be
/// one whose first copy landed).
pub fn all_done<'c>(live: &[RecordSet], changes: impl IntoIterator<Item = &'c Change>) -> bool {
    changes.into_iter().all(|c| Standing::exact(c, live) == Standing::Done)
}

/// One stale set, said the one way every adapter says it.
pub fn stale(change: &Change, found: Option<&RecordSet>) -> String {
    let subject = change.subject();
    format!(
        "{} {} was {} when read, is now {}",
        subject.name,
        subject.rtype,
        describe(change.before()),
        describe(found)
    )
}

/// The `Conflict` for a batch refused because of the `stale` sets; `refusal` says who
/// refused it when it was the provider (a compare-and-set), not our own read.
pub fn conflict(provider: &str, stale: &[String], refusal: Option<&str>) -> ProviderError {
    let by = refusal.map(|r| format!(" ({r})")).unwrap_or_default();
    ProviderError::Conflict {
        provider: provider.to_string(),
        message: format!(
            "{}; nothing of the batch was applied{by}: read again and plan again",
            stale.join("; ")
        ),
    }
}

fn describe(set: Option<&RecordSet>) -> String {
    match set {
        None => "absent".to_string(),
        // A weighted set's weight is what most often moved: said with the values.
        Some(set) => match set.routing_label() {
            Some(label) => format!("[{}] TTL {} ({label})", set.values.join(", "), set.ttl),
            None => format!("[{}] TTL {}", set.values.join(", "), set.ttl),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordType;

    fn a(values: &[&str]) -> RecordSet {
        RecordSet::new("www.example.test.", RecordType::A, 60, values.iter().copied()).unwrap()
    }

    #[test]
    fn done_changes_are_dropped_and_a_stale_one_refuses_the_batch() {
        let live = vec![a(&["192.0.2.1"])];
        let done = Change::Create {
            after: a(&["192.0.2.1"]),
        };
        let update = Change::Update {
            before: a(&["192.0.2.1"]),
            after: a(&["192.0.2.2"]),
        };
        let left = pending("p", &live, std::slice::from_ref(&done)).unwrap();
        assert!(left.is_empty());
        assert_eq!(
            pending("p", &live, std::slice::from_ref(&update)).unwrap(),
            vec![&update]
        );
        let stale = Change::Update {
            before: a(&["192.0.2.9"]),
            after: a(&["192.0.2.2"]),
        };
        let err = pending("p", &live, &[update.clone(), stale]).unwrap_err();
        assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains("www.example.test. A was [192.0.2.9] TTL 60 when read, is now [192.0.2.1] TTL 60"),
            "{shown}"
        );
        assert!(all_done(&live, [&done]));
        assert!(!all_done(&live, [&done, &update]));
    }
}
