//! Safety limits in the manner of octoDNS's update thresholds: a plan that changes too
//! much of a zone at once, or shrinks an NS set under the zone's floor, is held until
//! an operator says `--force`.

use std::collections::BTreeMap;

use dnsteer_providers::{Change, RecordType, ZoneName};

use super::Plan;

/// The limits of one zone.
#[derive(Clone, Debug, PartialEq)]
pub struct SafetyLimits {
    /// How many record sets dnsteer manages in the zone (records plus the NS sets).
    pub managed_sets: usize,
    /// The largest share of `managed_sets` one provider may see changed at once.
    pub max_change_ratio: f64,
    /// Below this many managed sets the ratio is not enforced: a two-record zone
    /// failing over must not need `--force`.
    pub min_managed_for_ratio: usize,
    /// The fewest NS values an NS set may be left with.
    pub min_ns_values: usize,
}

/// Why a plan needs `--force`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub zone: String,
    pub provider: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} @ {}: {}", self.zone, self.provider, self.message)
    }
}

/// Every limit the plan goes past; empty when it may be applied without `--force`.
pub fn check_safety(plan: &Plan, limits: &BTreeMap<ZoneName, SafetyLimits>) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut per_provider: BTreeMap<(&ZoneName, &str), usize> = BTreeMap::new();
    for c in &plan.changes {
        let Some(limit) = limits.get(&c.zone) else { continue };
        if !matches!(c.change, Change::Create { .. }) {
            *per_provider.entry((&c.zone, &c.provider)).or_default() += 1;
        }
        let subject = c.change.subject();
        if subject.rtype == RecordType::Ns {
            // An NS set is held to the floor of the zone it delegates (its owner), which
            // for a delegation in a shared parent is not the zone it is written in.
            let floor = ZoneName::new(&subject.name)
                .ok()
                .and_then(|owner| limits.get(&owner))
                .map_or(limit.min_ns_values, |l| l.min_ns_values);
            let left = c.change.after().map_or(0, |s| s.values.len());
            if left < floor {
                violations.push(Violation {
                    zone: c.zone.to_string(),
                    provider: c.provider.clone(),
                    message: format!(
                        "NS set {} would keep {left} nameservers, fewer than the {} the zone's min_providers needs",
                        subject.name, floor
                    ),
                });
            }
        }
    }
    for ((zone, provider), changed) in per_provider {
        let limit = &limits[zone];
        if limit.managed_sets < limit.min_managed_for_ratio || limit.managed_sets == 0 {
            continue;
        }
        let ratio = changed as f64 / limit.managed_sets as f64;
        if ratio > limit.max_change_ratio {
            violations.push(Violation {
                zone: zone.to_string(),
                provider: provider.to_string(),
                message: format!(
                    "{changed} of {} managed record sets would change ({:.0}%), over the {:.0}% limit (max_change_ratio)",
                    limit.managed_sets,
                    ratio * 100.0,
                    limit.max_change_ratio * 100.0
                ),
            });
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsteer_providers::RecordSet;

    fn limits(managed: usize) -> BTreeMap<ZoneName, SafetyLimits> {
        BTreeMap::from([(
            ZoneName::new("example.test.").unwrap(),
            SafetyLimits {
                managed_sets: managed,
                max_change_ratio: 0.3,
                min_managed_for_ratio: 10,
                min_ns_values: 2,
            },
        )])
    }

    fn update(plan: &mut Plan, name: &str, rtype: RecordType, before: &[&str], after: &[&str]) {
        let zone = ZoneName::new("example.test.").unwrap();
        let set = |v: &[&str]| RecordSet::new(name, rtype.clone(), 60, v.iter().copied()).unwrap();
        plan.extend(
            &zone,
            "pdns-a",
            vec![(
                Change::Update {
                    before: set(before),
                    after: set(after),
                },
                "t".into(),
            )],
        );
    }

    #[test]
    fn small_zones_fail_over_without_force() {
        let mut plan = Plan::default();
        update(
            &mut plan,
            "www.example.test.",
            RecordType::A,
            &["192.0.2.1"],
            &["192.0.2.2"],
        );
        assert!(check_safety(&plan, &limits(3)).is_empty());
    }

    #[test]
    fn changing_too_much_of_a_large_zone_needs_force() {
        let mut plan = Plan::default();
        for i in 0..4 {
            update(
                &mut plan,
                &format!("r{i}.example.test."),
                RecordType::A,
                &["192.0.2.1"],
                &["192.0.2.2"],
            );
        }
        assert!(check_safety(&plan, &limits(20)).is_empty(), "4 of 20 is under 30%");
        let v = check_safety(&plan, &limits(10));
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("4 of 10"), "{}", v[0]);
    }

    #[test]
    fn an_ns_set_under_the_floor_needs_force() {
        let mut plan = Plan::default();
        update(
            &mut plan,
            "example.test.",
            RecordType::Ns,
            &["ns1.a.test.", "ns1.b.test."],
            &["ns1.a.test."],
        );
        let v = check_safety(&plan, &limits(3));
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("NS set"));
    }

    #[test]
    fn a_delegation_in_a_shared_parent_is_held_to_its_own_zone_floor() {
        let limit = |min_ns_values| SafetyLimits {
            managed_sets: 2,
            max_change_ratio: 0.3,
            min_managed_for_ratio: 10,
            min_ns_values,
        };
        let limits = BTreeMap::from([
            (ZoneName::new("test.").unwrap(), limit(2)),
            (ZoneName::new("a.test.").unwrap(), limit(2)),
            (ZoneName::new("b.test.").unwrap(), limit(1)),
        ]);
        let parent = ZoneName::new("test.").unwrap();
        let ns = |owner: &str, v: &[&str]| RecordSet::new(owner, RecordType::Ns, 300, v.iter().copied()).unwrap();
        let mut plan = Plan::default();
        let change = |owner: &str| Change::Update {
            before: ns(owner, &["ns1.x.test.", "ns1.y.test."]),
            after: ns(owner, &["ns1.x.test."]),
        };
        plan.extend(&parent, "parent", vec![(change("b.test."), "t".into())]);
        assert!(check_safety(&plan, &limits).is_empty(), "b.test. may shrink to one");
        plan.extend(&parent, "parent", vec![(change("a.test."), "t".into())]);
        let v = check_safety(&plan, &limits);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("a.test."), "{}", v[0]);
    }
}
