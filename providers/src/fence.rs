//! The daemon pair's fence record: a TXT record at `_dnsteer-fence.<zone>` holding the
//! lease term of the leader that last wrote the zone. Every batch a leader writes
//! carries it as a compare-and-set, so a deposed leader's batch is refused by the
//! provider itself where the provider can compare (RFC 2136 prerequisites, Route 53
//! batches), and by the adapter's re-read where it cannot (PowerDNS, Cloudflare).

use crate::record::{Change, RecordSet, RecordType, ZoneName};

/// The owner label of the fence record, below the zone apex.
pub const FENCE_LABEL: &str = "_dnsteer-fence";
/// The fence record's TTL: it is never meant to be resolved.
pub const FENCE_TTL: u32 = 60;

/// The term a leader writes with: `previous` is the term the fence record holds now
/// (`None` when there is none yet), `term` the one it holds after the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fence {
    pub previous: Option<u64>,
    pub term: u64,
}

impl Fence {
    /// The fence record's owner name in `zone`.
    pub fn name(zone: &ZoneName) -> String {
        format!("{FENCE_LABEL}.{}", zone.as_str())
    }

    /// The fence record set holding `term`.
    pub fn record(zone: &ZoneName, term: u64) -> RecordSet {
        RecordSet {
            name: Self::name(zone),
            rtype: RecordType::Txt,
            ttl: FENCE_TTL,
            values: vec![format!("\"term={term}\"")],
        }
    }

    /// The term a zone's live fence holds, if `sets` (a zone as read) has one.
    pub fn term_in(zone: &ZoneName, sets: &[RecordSet]) -> Option<u64> {
        let name = Self::name(zone);
        sets.iter()
            .find(|s| s.name == name && s.rtype == RecordType::Txt)?
            .values
            .iter()
            .find_map(|v| v.trim_matches('"').strip_prefix("term=")?.parse().ok())
    }

    /// The fence as one change: moves the record from `previous` to `term` (or leaves
    /// it at `term`, which still checks that it holds `term`).
    pub fn change(&self, zone: &ZoneName) -> Change {
        let after = Self::record(zone, self.term);
        match self.previous {
            None => Change::Create { after },
            Some(previous) => Change::Update {
                before: Self::record(zone, previous),
                after,
            },
        }
    }

    /// The same fence for the next batch of one apply: the record holds `term` by then.
    pub fn next(&self) -> Fence {
        Fence {
            previous: Some(self.term),
            term: self.term,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_round_trips_through_the_record() {
        let zone = ZoneName::new("example.test.").unwrap();
        let live = vec![Fence::record(&zone, 42)];
        assert_eq!(Fence::term_in(&zone, &live), Some(42));
        assert_eq!(Fence::term_in(&zone, &[]), None);
        let change = Fence {
            previous: Some(41),
            term: 42,
        }
        .change(&zone);
        assert_eq!(change.before().unwrap().values, vec!["\"term=41\""]);
        assert_eq!(change.after().unwrap().values, vec!["\"term=42\""]);
        // Through the normaliser (as an adapter reads it) the value is unchanged.
        let read = RecordSet::new(&Fence::name(&zone), RecordType::Txt, 60, ["\"term=42\""]).unwrap();
        assert_eq!(read, Fence::record(&zone, 42));
    }
}
