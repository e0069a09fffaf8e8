//! Fencing the daemon pair's writes. A fence is one record-set compare-and-set that
//! rides in a batch: the batch is applied only if the record still holds `before`.
//! Where the provider compares atomically (RFC 2136 prerequisites, Route 53 change
//! batches) a deposed leader's batch is refused by the provider itself; elsewhere the
//! adapter re-reads just before writing.
//!
//! Two records serve as fences:
//! - the zone's own fence, a TXT record at `_dnsteer-fence.<zone>` holding the
//!   (term, leader) that last wrote the zone (`FenceMark`);
//! - where the pair's lease record (its witness) lives in the zone written, the lease
//!   record itself, held at the value this leader last renewed it to. That fences a
//!   delegation in a parent zone without adding records to it.

use crate::record::{Change, RecordSet, RecordType, ZoneName};

/// The owner label of the fence record, below the zone apex.
pub const FENCE_LABEL: &str = "_dnsteer-fence";
/// The fence record's TTL: it is never meant to be resolved.
pub const FENCE_TTL: u32 = 60;

/// Who wrote under which lease term. Ordered by term, then leader id (two leaders
/// never share a term; the id only makes the order total).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FenceMark {
    pub term: u64,
    pub leader: String,
}

impl FenceMark {
    pub fn new(term: u64, leader: &str) -> Self {
        Self {
            term,
            leader: leader.to_string(),
        }
    }

    /// The zone fence record's owner name in `zone`.
    pub fn name(zone: &ZoneName) -> String {
        format!("{FENCE_LABEL}.{}", zone.as_str())
    }

    /// The zone fence record set holding this mark.
    pub fn record(&self, zone: &ZoneName) -> RecordSet {
        RecordSet {
            name: Self::name(zone),
            rtype: RecordType::Txt,
            ttl: FENCE_TTL,
            values: vec![format!("\"term={} leader={}\"", self.term, self.leader)],
            set_id: None,
            weight: None,
        }
    }

    /// The mark a zone's live fence holds, if `sets` (a zone as read) has one. A
    /// record written before leader ids were recorded reads with an empty leader.
    pub fn read(zone: &ZoneName, sets: &[RecordSet]) -> Option<(FenceMark, RecordSet)> {
        let name = Self::name(zone);
        let set = sets.iter().find(|s| s.name == name && s.rtype == RecordType::Txt)?;
        let mark = set.values.iter().find_map(|v| Self::parse(v))?;
        Some((mark, set.clone()))
    }

    fn parse(value: &str) -> Option<FenceMark> {
        let mut term = None;
        let mut leader = String::new();
        for field in value.trim_matches('"').split_whitespace() {
            if let Some(t) = field.strip_prefix("term=") {
                term = t.parse().ok();
            } else if let Some(l) = field.strip_prefix("leader=") {
                leader = l.to_string();
            }
        }
        Some(FenceMark { term: term?, leader })
    }
}

/// One compare-and-set that a batch carries: applied with the batch only if the record
/// set still holds `before` (absent when `None`), after which it holds `after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub before: Option<RecordSet>,
    pub after: RecordSet,
}

impl Fence {
    /// Moves the zone's fence record from what was read (`live`) to `mark`.
    pub fn zone(zone: &ZoneName, live: Option<RecordSet>, mark: &FenceMark) -> Self {
        Self {
            before: live,
            after: mark.record(zone),
        }
    }

    /// Requires `set` to hold exactly its values, and leaves it so.
    pub fn hold(set: RecordSet) -> Self {
        Self {
            before: Some(set.clone()),
            after: set,
        }
    }

    /// The fence as one change of a batch.
    pub fn change(&self) -> Change {
        match &self.before {
            None => Change::Create {
                after: self.after.clone(),
            },
            Some(before) => Change::Update {
                before: before.clone(),
                after: self.after.clone(),
            },
        }
    }

    /// The same fence for the next batch of one apply: the record holds `after` by then.
    pub fn next(&self) -> Fence {
        Fence::hold(self.after.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_round_trips_through_the_record() {
        let zone = ZoneName::new("example.test.").unwrap();
        let mark = FenceMark::new(42, "steer-a");
        let live = vec![mark.record(&zone)];
        assert_eq!(FenceMark::read(&zone, &live).map(|(m, _)| m), Some(mark.clone()));
        assert_eq!(FenceMark::read(&zone, &[]), None);
        // Through the normaliser (as an adapter reads it) the value is unchanged.
        let read = RecordSet::new(
            &FenceMark::name(&zone),
            RecordType::Txt,
            60,
            ["\"term=42 leader=steer-a\""],
        )
        .unwrap();
        assert_eq!(read, mark.record(&zone));
        // A fence written before leader ids were recorded still gives its term.
        let old = RecordSet::new(&FenceMark::name(&zone), RecordType::Txt, 60, ["\"term=7\""]).unwrap();
        assert_eq!(FenceMark::read(&zone, &[old]).unwrap().0, FenceMark::new(7, ""));
    }

    #[test]
    fn marks_order_by_term_first() {
        assert!(FenceMark::new(2, "a") > FenceMark::new(1, "z"));
        assert!(FenceMark::new(2, "b") > FenceMark::new(2, "a"));
    }

    #[test]
    fn a_zone_fence_moves_from_what_was_read() {
        let zone = ZoneName::new("example.test.").unwrap();
        let old = FenceMark::new(41, "steer-b").record(&zone);
        let fence = Fence::zone(&zone, Some(old.clone()), &FenceMark::new(42, "steer-a"));
        assert_eq!(fence.change().before(), Some(&old));
        assert_eq!(
            fence.change().after().unwrap().values,
            vec!["\"term=42 leader=steer-a\""]
        );
        assert_eq!(fence.next().change().before(), fence.change().after());
        let first = Fence::zone(&zone, None, &FenceMark::new(1, "steer-a"));
        assert!(matches!(first.change(), Change::Create { .. }));
    }
}
