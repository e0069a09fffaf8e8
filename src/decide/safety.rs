//! Safety limits: which configured zones wait for an operator. They guard against
//! mistakes, never against health (docs/configuration.md, "Safety limits"): a failover
//! or failback that health decided goes through whatever share of a zone it moves,
//! since a region outage moves every record on it. Held: deletes, an NS set under
//! `min_providers`, a change the configuration did not ask for, configuration edits
//! over `max_change_ratio`, and a record set flipping past its flap budget. A hold
//! covers its own configured zone only.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use dnsteer_providers::record::{normalize_name, normalize_value};
use dnsteer_providers::{Change, RecordSet, RecordType, ZoneName};

use super::FlapHistory;
use crate::config::{Config, FlapBudgetConfig, RecordPolicy, ZoneConfig};
use crate::plan::{Hold, Plan, PlannedChange};

/// The share of a zone's managed record sets that configuration edits may change at one
/// provider in one apply without approval, when the zone does not say (octoDNS's update
/// threshold: it guards against a configuration mistake).
pub const DEFAULT_MAX_CHANGE_RATIO: f64 = 0.3;
/// Zones managing fewer record sets than this are not held by the ratio: in a small
/// zone one edit is already a large share.
pub const MIN_MANAGED_FOR_RATIO: usize = 10;

/// What the configuration of one zone allows.
#[derive(Clone, Debug)]
pub(super) struct ZoneRules {
    /// Every record set the zone's configuration names (its steered records, and the
    /// NS set when it has a delegation), with every value steering may give it.
    managed: BTreeMap<(String, RecordType), BTreeSet<String>>,
    /// The configured weight of each pool of a weighted record, by (name, type, pool):
    /// health moves a set between it and 0.
    weights: BTreeMap<(String, RecordType, String), u32>,
    /// The fewest NS values an NS set of the zone may be left with.
    min_ns_values: usize,
    max_change_ratio: f64,
    flap_budget: FlapBudgetConfig,
}

impl ZoneRules {
    pub(super) fn new(config: &Config, zone: &ZoneConfig, zone_name: &ZoneName) -> Self {
        let mut managed = BTreeMap::new();
        let mut weights = BTreeMap::new();
        for record in &zone.records {
            let Ok(name) = zone_name.absolute(&record.name) else {
                continue;
            };
            let values = record
                .pools
                .iter()
                .flat_map(|p| &p.values)
                .filter_map(|v| normalize_value(&record.rtype, v).ok())
                .collect();
            if record.policy == RecordPolicy::Weighted {
                for pool in &record.pools {
                    weights.insert((name.clone(), record.rtype.clone(), pool.name.clone()), pool.weight);
                }
            }
            managed.insert((name, record.rtype.clone()), values);
        }
        let nameservers = |p: &String| -> Vec<String> {
            config
                .nameservers_of(p, zone_name)
                .iter()
                .filter_map(|n| normalize_name(n).ok())
                .collect()
        };
        let min_providers = zone.delegation.as_ref().map_or(0, |d| d.min_providers);
        if zone.delegation.is_some() {
            let values = zone.providers.iter().flat_map(nameservers).collect();
            managed.insert((zone_name.to_string(), RecordType::Ns), values);
        }
        // The floor counts the providers with the fewest nameservers, so any
        // `min_providers` of them pass.
        let mut ns_counts: Vec<usize> = zone.providers.iter().map(|p| nameservers(p).len()).collect();
        ns_counts.sort_unstable();
        Self {
            managed,
            weights,
            min_ns_values: ns_counts.iter().take(min_providers).sum(),
            max_change_ratio: zone.max_change_ratio.unwrap_or(DEFAULT_MAX_CHANGE_RATIO),
            flap_budget: zone.flap_budget.unwrap_or(config.defaults.flap_budget),
        }
    }
}

/// Why a change is in the plan, for the limits.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cause {
    /// Moves a set between values steering may give it, at the configured TTL: a
    /// failover or failback, or a lagging provider catching up. Never held by share.
    Health,
    /// Creates a set the configuration names: first publication, never held by share.
    Publish,
    /// Any other update of a named set: a TTL or value the configuration changed, or
    /// values written by someone else (drift). Counted against `max_change_ratio`.
    Edit,
}

/// The held zones of `plan`, one [`Hold`] per configured zone with a held change, in
/// zone-name order. A change owned by a zone without rules is held: nothing asked for it.
pub(super) fn holds(
    plan: &Plan,
    rules: &BTreeMap<ZoneName, ZoneRules>,
    flaps: &FlapHistory,
    now: DateTime<Utc>,
) -> Vec<Hold> {
    let mut reasons: BTreeMap<&ZoneName, BTreeSet<String>> = BTreeMap::new();
    let mut edits: BTreeMap<(&ZoneName, &ZoneName, &str), usize> = BTreeMap::new();
    for c in &plan.changes {
        let cause = match rules.get(&c.owner) {
            Some(rule) => classify(c, rule, flaps, now),
            None => Err(format!(
                "{} steers zone {}, which the configuration does not name",
                describe(c),
                c.owner
            )),
        };
        match cause {
            Err(reason) => {
                reasons.entry(&c.owner).or_default().insert(reason);
            }
            Ok(Cause::Edit) => *edits.entry((&c.owner, &c.zone, c.provider.as_str())).or_default() += 1,
            Ok(Cause::Health | Cause::Publish) => {}
        }
    }
    for ((owner, zone, provider), changed) in edits {
        let rule = &rules[owner];
        let managed = rule.managed.len();
        if managed < MIN_MANAGED_FOR_RATIO {
            continue;
        }
        let ratio = changed as f64 / managed as f64;
        if ratio > rule.max_change_ratio {
            reasons.entry(owner).or_default().insert(format!(
                "{changed} of the {managed} record sets the zone manages would change in {zone} at {provider} for \
                 reasons other than health (TTL or values the configuration changed, or drift): {:.0}%, over \
                 max_change_ratio ({:.0}%)",
                ratio * 100.0,
                rule.max_change_ratio * 100.0
            ));
        }
    }
    reasons
        .into_iter()
        .map(|(zone, reasons)| Hold {
            zone: zone.clone(),
            reasons: reasons.into_iter().collect(),
            checksum: plan.filtered(|c| &c.owner == zone).checksum(),
        })
        .collect()
}

fn describe(c: &PlannedChange) -> String {
    let set = c.change.subject();
    format!("{} {} {}", c.change.action(), set.name, set.rtype)
}

/// The change's cause, or why it waits for an operator.
fn classify(c: &PlannedChange, rule: &ZoneRules, flaps: &FlapHistory, now: DateTime<Utc>) -> Result<Cause, String> {
    let set = c.change.subject();
    let Some(steerable) = rule.managed.get(&(set.name.clone(), set.rtype.clone())) else {
        return Err(format!(
            "{}: a record set the configuration does not name (dnsteer changes only those it steers)",
            describe(c)
        ));
    };
    let (before, after) = match &c.change {
        Change::Delete { .. } => return Err(format!("{}: deletes wait for approval", describe(c))),
        Change::Create { after } => (None, after),
        Change::Update { before, after } => (Some(before), after),
    };
    if set.rtype == RecordType::Ns && after.values.len() < rule.min_ns_values {
        return Err(format!(
            "NS set {} in {} would keep {} nameservers, fewer than the {} the zone's min_providers needs",
            set.name,
            c.zone,
            after.values.len(),
            rule.min_ns_values
        ));
    }
    if let Some(flips) = flaps.over_budget(c, &rule.flap_budget, now) {
        return Err(format!(
            "{} {} already flipped {flips} times within {}: one more is over its flap_budget ({} changes within {})",
            set.name, set.rtype, rule.flap_budget.within, rule.flap_budget.changes, rule.flap_budget.within
        ));
    }
    // A set of a weighted record moves by health between its pool's weight and 0.
    let weight_steered = |s: &RecordSet| match (&s.set_id, s.weight) {
        (None, None) => true,
        (Some(pool), Some(w)) => rule
            .weights
            .get(&(s.name.clone(), s.rtype.clone(), pool.clone()))
            .is_some_and(|configured| w == 0 || w == *configured),
        _ => false,
    };
    let steered = |s: &RecordSet| s.values.iter().all(|v| steerable.contains(v)) && weight_steered(s);
    Ok(match before {
        None => Cause::Publish,
        Some(before) if before.ttl == after.ttl && steered(before) && steered(after) => Cause::Health,
        Some(_) => Cause::Edit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONES: &str = r#"
providers:
  x: { kind: powerdns, url: "http://127.0.0.1:1", api_key: { env: K }, nameservers: [ns1.x.test.] }
  y: { kind: powerdns, url: "http://127.0.0.1:2", api_key: { env: K }, nameservers: [ns1.y.test.] }
  parent: { kind: rfc2136, server: "127.0.0.1:3", tsig: { name: k., algorithm: hmac-sha256, secret: { env: K } } }
zones:
  - name: a.test.
    providers: [x, y]
    delegation: { provider: parent, parent: test., min_providers: 2 }
    records:
      - { name: www, type: A, pools: [ { name: p, values: [192.0.2.1] } ] }
  - name: b.test.
    providers: [x, y]
    delegation: { provider: parent, parent: test., min_providers: 1 }
    records:
      - name: www
        type: A
        policy: weighted
        pools: [ { name: p, weight: 3, values: [192.0.2.1] }, { name: q, weight: 1, values: [192.0.2.2] } ]
"#;

    fn rules() -> BTreeMap<ZoneName, ZoneRules> {
        let config: Config = serde_yaml_ng::from_str(ZONES).unwrap();
        config
            .zones
            .iter()
            .map(|z| {
                let name = ZoneName::new(&z.name).unwrap();
                let rules = ZoneRules::new(&config, z, &name);
                (name, rules)
            })
            .collect()
    }

    fn ns(owner: &str, values: &[&str]) -> RecordSet {
        RecordSet::new(owner, RecordType::Ns, 300, values.iter().copied()).unwrap()
    }

    fn plan(changes: &[(&str, &str, Change)]) -> Plan {
        let mut plan = Plan::default();
        for (owner, zone, change) in changes {
            let (owner, zone) = (ZoneName::new(owner).unwrap(), ZoneName::new(zone).unwrap());
            plan.extend(&owner, &zone, "x", vec![(change.clone(), "t".into())], &[]);
        }
        plan
    }

    fn held(plan: &Plan) -> Vec<(String, String)> {
        holds(plan, &rules(), &FlapHistory::default(), DateTime::UNIX_EPOCH)
            .into_iter()
            .flat_map(|h| h.reasons.into_iter().map(move |r| (h.zone.to_string(), r)))
            .collect()
    }

    #[test]
    fn deletes_and_sets_the_configuration_does_not_name_are_held() {
        let www = RecordSet::new("www.a.test.", RecordType::A, 60, ["192.0.2.1"]).unwrap();
        let other = RecordSet::new("mail.a.test.", RecordType::A, 60, ["192.0.2.9"]).unwrap();
        let h = held(&plan(&[
            ("a.test.", "a.test.", Change::Delete { before: www }),
            ("a.test.", "a.test.", Change::Create { after: other }),
        ]));
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h.iter().any(|(_, r)| r.contains("deletes wait")), "{h:?}");
        assert!(h.iter().any(|(_, r)| r.contains("does not name")), "{h:?}");
    }

    #[test]
    fn a_delegation_in_a_shared_parent_is_held_to_its_own_zone_floor() {
        let shrink = |owner: &str| Change::Update {
            before: ns(owner, &["ns1.x.test.", "ns1.y.test."]),
            after: ns(owner, &["ns1.x.test."]),
        };
        assert!(
            held(&plan(&[("b.test.", "test.", shrink("b.test."))])).is_empty(),
            "b.test. may shrink to one"
        );
        let h = held(&plan(&[
            ("b.test.", "test.", shrink("b.test.")),
            ("a.test.", "test.", shrink("a.test.")),
        ]));
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[0].0, "a.test.");
        assert!(h[0].1.contains("min_providers"), "{h:?}");
    }

    #[test]
    fn a_failover_is_health_and_a_ttl_or_foreign_value_an_edit() {
        let rules = rules();
        let rule = &rules[&ZoneName::new("a.test.").unwrap()];
        let www = |ttl, v: &str| RecordSet::new("www.a.test.", RecordType::A, ttl, [v]).unwrap();
        let cause = |before, after| {
            let p = plan(&[("a.test.", "a.test.", Change::Update { before, after })]);
            classify(&p.changes[0], rule, &FlapHistory::default(), DateTime::UNIX_EPOCH)
        };
        // www has one pool here: moving onto its value from itself is the only health move.
        assert_eq!(cause(www(60, "192.0.2.1"), www(60, "192.0.2.1")), Ok(Cause::Health));
        assert_eq!(cause(www(30, "192.0.2.1"), www(60, "192.0.2.1")), Ok(Cause::Edit));
        assert_eq!(cause(www(60, "203.0.113.7"), www(60, "192.0.2.1")), Ok(Cause::Edit));
    }

    #[test]
    fn a_weight_moved_by_health_is_health_and_any_other_weight_an_edit() {
        let rules = rules();
        let rule = &rules[&ZoneName::new("b.test.").unwrap()];
        let p = |weight| {
            RecordSet::new("www.b.test.", RecordType::A, 60, ["192.0.2.1"])
                .unwrap()
                .weighted("p", weight)
        };
        let cause = |before, after| {
            let plan = plan(&[("b.test.", "b.test.", Change::Update { before, after })]);
            classify(&plan.changes[0], rule, &FlapHistory::default(), DateTime::UNIX_EPOCH)
        };
        assert_eq!(cause(p(3), p(0)), Ok(Cause::Health));
        assert_eq!(cause(p(0), p(3)), Ok(Cause::Health));
        // A weight the configuration no longer gives (it was edited) is an edit.
        assert_eq!(cause(p(5), p(3)), Ok(Cause::Edit));
        let h = held(&plan(&[("b.test.", "b.test.", Change::Delete { before: p(3) })]));
        assert!(h.iter().any(|(_, r)| r.contains("deletes wait")), "{h:?}");
    }
}
