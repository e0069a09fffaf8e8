//! Flap damping's memory: when each steered record set last flipped its values, as
//! written. The daemon records every change it applied; `decide` asks whether the next
//! flip would go past the zone's budget. Pure: times come in as parameters.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use dnsteer_providers::{Change, RecordType, ZoneName};
use serde::{Deserialize, Serialize};

use crate::config::{FlapBudgetConfig, MAX_FLAP_BUDGET};
use crate::plan::PlannedChange;

/// The flips remembered per record set: no budget may allow more, so counting the
/// kept ones inside a window never falls short of a budget.
const KEPT: usize = MAX_FLAP_BUDGET as usize;

/// When each steered record set changed its values (applied writes), for flap damping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<SetFlips>", into = "Vec<SetFlips>")]
pub struct FlapHistory {
    sets: BTreeMap<SetKey, VecDeque<Flip>>,
}

/// One record set of one configured zone: a delegation at the parent and the apex NS
/// set share a key, so a move of the delegation counts once.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SetKey {
    owner: ZoneName,
    name: String,
    rtype: RecordType,
    /// The pool's set of a weighted record.
    set: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Flip {
    at: DateTime<Utc>,
    /// The values flipped to: the same flip written at another provider (or retried
    /// later) carries the same values and is not counted again.
    values: Vec<String>,
    /// The weight flipped to, for a set of a weighted record (whose values stay: its
    /// failover is a weight going to 0 and back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weight: Option<u32>,
}

/// The persisted shape: a list, since JSON keys must be strings.
#[derive(Serialize, Deserialize)]
struct SetFlips {
    zone: ZoneName,
    name: String,
    #[serde(rename = "type")]
    rtype: RecordType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    set: Option<String>,
    flips: VecDeque<Flip>,
}

impl From<Vec<SetFlips>> for FlapHistory {
    fn from(list: Vec<SetFlips>) -> Self {
        let sets = list
            .into_iter()
            .map(|s| {
                let key = SetKey {
                    owner: s.zone,
                    name: s.name,
                    rtype: s.rtype,
                    set: s.set,
                };
                (key, s.flips)
            })
            .collect();
        Self { sets }
    }
}

impl From<FlapHistory> for Vec<SetFlips> {
    fn from(history: FlapHistory) -> Self {
        history
            .sets
            .into_iter()
            .map(|(key, flips)| SetFlips {
                zone: key.owner,
                name: key.name,
                rtype: key.rtype,
                set: key.set,
                flips,
            })
            .collect()
    }
}

/// The set a change flips and what it flips to (values and, for a set of a weighted
/// record, weight); `None` for a change that flips nothing (a create publishes for the
/// first time, a TTL change keeps the values).
fn flip_of(change: &PlannedChange) -> Option<(SetKey, FlipTo<'_>)> {
    let Change::Update { before, after } = &change.change else {
        return None;
    };
    (before.values != after.values || before.weight != after.weight).then(|| {
        (
            SetKey {
                owner: change.owner.clone(),
                name: after.name.clone(),
                rtype: after.rtype.clone(),
                set: after.set_id.clone(),
            },
            (after.values.as_slice(), after.weight),
        )
    })
}

/// What a flip flips to: its values and, for a set of a weighted record, its weight.
type FlipTo<'a> = (&'a [String], Option<u32>);

impl Flip {
    fn is(&self, (values, weight): FlipTo) -> bool {
        self.values == values && self.weight == weight
    }
}

impl FlapHistory {
    /// Notes that `change` was written at `at`. Only a change of values is a flip, and
    /// the same flip written at several providers counts once.
    pub fn record(&mut self, change: &PlannedChange, at: DateTime<Utc>) {
        let Some((key, to)) = flip_of(change) else { return };
        let flips = self.sets.entry(key).or_default();
        if flips.back().is_some_and(|last| last.is(to)) {
            return;
        }
        flips.push_back(Flip {
            at,
            values: to.0.to_vec(),
            weight: to.1,
        });
        while flips.len() > KEPT {
            flips.pop_front();
        }
    }

    /// When `change` would be a new flip past `budget` at `now`: how many flips its
    /// record set already made within the budget's window. A change repeating the last
    /// flip (a provider catching up) is never past the budget.
    pub fn over_budget(&self, change: &PlannedChange, budget: &FlapBudgetConfig, now: DateTime<Utc>) -> Option<usize> {
        let (key, to) = flip_of(change)?;
        let flips = self.sets.get(&key)?;
        if flips.back().is_some_and(|last| last.is(to)) {
            return None;
        }
        let since = now - chrono::Duration::from_std(budget.within.get()).unwrap_or(chrono::Duration::MAX);
        let recent = flips.iter().filter(|f| f.at > since).count();
        (recent >= budget.changes as usize).then_some(recent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsteer_providers::RecordSet;

    fn zone() -> ZoneName {
        ZoneName::new("example.test.").unwrap()
    }

    fn update(provider: &str, from: &str, to: &str) -> PlannedChange {
        let set = |v: &str| RecordSet::new("www.example.test.", RecordType::A, 30, [v]).unwrap();
        PlannedChange {
            owner: zone(),
            zone: zone(),
            provider: provider.into(),
            change: Change::Update {
                before: set(from),
                after: set(to),
            },
            reason: "test".into(),
            stale_for_s: Some(30),
        }
    }

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + minute * 60, 0).unwrap()
    }

    const US: &str = "192.0.2.10";
    const EU: &str = "198.51.100.10";

    fn budget(changes: u32) -> FlapBudgetConfig {
        FlapBudgetConfig {
            changes,
            within: crate::config::Duration::from_secs(3600),
        }
    }

    #[test]
    fn flips_past_the_budget_within_the_window_are_over_it() {
        let mut h = FlapHistory::default();
        h.record(&update("a", US, EU), at(0));
        h.record(&update("a", EU, US), at(10));
        assert_eq!(h.over_budget(&update("a", US, EU), &budget(3), at(20)), None);
        assert_eq!(h.over_budget(&update("a", US, EU), &budget(2), at(20)), Some(2));
        // An hour after the first flip it has left the window.
        assert_eq!(h.over_budget(&update("a", US, EU), &budget(2), at(60)), None);
    }

    #[test]
    fn one_flip_written_at_several_providers_counts_once() {
        let mut h = FlapHistory::default();
        h.record(&update("a", US, EU), at(0));
        h.record(&update("b", US, EU), at(1));
        assert_eq!(h.over_budget(&update("a", EU, US), &budget(2), at(2)), None);
        assert_eq!(h.over_budget(&update("a", EU, US), &budget(1), at(2)), Some(1));
        // A provider catching up with the last flip is never held by it.
        assert_eq!(h.over_budget(&update("c", US, EU), &budget(1), at(2)), None);
    }

    #[test]
    fn ttl_changes_and_creates_are_not_flips() {
        let mut h = FlapHistory::default();
        let mut ttl = update("a", US, US);
        if let Change::Update { after, .. } = &mut ttl.change {
            after.ttl = 60;
        }
        h.record(&ttl, at(0));
        let create = PlannedChange {
            change: Change::Create {
                after: RecordSet::new("www.example.test.", RecordType::A, 30, [EU]).unwrap(),
            },
            ..update("a", US, EU)
        };
        h.record(&create, at(0));
        assert_eq!(h, FlapHistory::default());
    }

    #[test]
    fn only_the_last_flips_are_kept_and_the_history_survives_json() {
        let mut h = FlapHistory::default();
        for i in 0..(KEPT as i64 + 10) {
            let (from, to) = if i % 2 == 0 { (US, EU) } else { (EU, US) };
            h.record(&update("a", from, to), at(i));
        }
        let kept: usize = h.sets.values().map(VecDeque::len).sum();
        assert_eq!(kept, KEPT);
        let back: FlapHistory = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn a_weight_going_to_zero_and_back_is_a_flip_of_its_set() {
        let weighted = |from: u32, to: u32| {
            let set = |w| {
                RecordSet::new("www.example.test.", RecordType::A, 30, [US])
                    .unwrap()
                    .weighted("us-east", w)
            };
            PlannedChange {
                change: Change::Update {
                    before: set(from),
                    after: set(to),
                },
                ..update("a", US, US)
            }
        };
        let mut h = FlapHistory::default();
        h.record(&weighted(3, 0), at(0));
        h.record(&weighted(0, 3), at(5));
        assert_eq!(h.over_budget(&weighted(3, 0), &budget(2), at(10)), Some(2));
        // Another set of the record has flipped nothing.
        assert_eq!(h.over_budget(&update("a", US, EU), &budget(2), at(10)), None);
        let back: FlapHistory = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }
}
