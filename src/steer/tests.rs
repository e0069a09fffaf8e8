use super::*;

const ZONE: &str = r#"
name: example.test.
providers: [pdns-a, pdns-b]
delegation: { provider: parent, parent: test., min_providers: 1, ttl: 300 }
records:
  - name: www
    type: A
    ttl: 30
    policy: failover
    pools:
      - { name: us-east, priority: 1, values: [192.0.2.10], check: web-us }
      - { name: eu-west, priority: 2, values: [198.51.100.10], check: web-eu }
  - name: api
    type: A
    ttl: 30
    policy: all-healthy
    pools:
      - { name: us-east, values: [192.0.2.20], check: web-us }
      - { name: eu-west, values: [198.51.100.20], check: web-eu }
"#;

const PROVIDERS: &str = r#"
pdns-a: { kind: powerdns, url: "http://127.0.0.1:1", api_key: { env: K }, nameservers: [ns1.a.test., ns2.a.test.] }
pdns-b: { kind: powerdns, url: "http://127.0.0.1:2", api_key: { env: K }, nameservers: [ns1.b.test.] }
parent: { kind: rfc2136, server: "127.0.0.1:3", tsig: { name: k., algorithm: hmac-sha256, secret: { env: K } } }
"#;

fn zone(min_providers: usize) -> ZoneConfig {
    let mut z: ZoneConfig = serde_yaml_ng::from_str(ZONE).unwrap();
    z.delegation.as_mut().unwrap().min_providers = min_providers;
    z
}

fn providers() -> BTreeMap<String, ProviderConfig> {
    serde_yaml_ng::from_str(PROVIDERS).unwrap()
}

fn name() -> ZoneName {
    ZoneName::new("example.test.").unwrap()
}

fn health(states: &[(&str, State)]) -> HealthView {
    states.iter().map(|(t, s)| (t.to_string(), *s)).collect()
}

fn a(name: &str, values: &[&str]) -> RecordSet {
    RecordSet::new(name, RecordType::A, 30, values.iter().copied()).unwrap()
}

fn ns(values: &[&str]) -> RecordSet {
    RecordSet::new("example.test.", RecordType::Ns, 300, values.iter().copied()).unwrap()
}

fn find<'a>(d: &'a RecordsDesired, n: &str) -> Option<&'a Desired> {
    d.records.iter().find(|r| r.set.name == n)
}

use State::{Healthy, Unhealthy, Unknown};

#[test]
fn preferred_pool_answers_while_healthy() {
    let h = health(&[("check:web-us", Healthy), ("check:web-eu", Healthy)]);
    let d = desired_records(&zone(1), &name(), &h, &BTreeMap::new(), &[]);
    assert_eq!(find(&d, "www.example.test.").unwrap().set.values, vec!["192.0.2.10"]);
    assert_eq!(
        find(&d, "api.example.test.").unwrap().set.values,
        vec!["192.0.2.20", "198.51.100.20"]
    );
    assert!(d.notes.is_empty());
}

#[test]
fn an_unhealthy_preferred_pool_fails_over_to_the_next_priority() {
    let h = health(&[("check:web-us", Unhealthy), ("check:web-eu", Healthy)]);
    let d = desired_records(&zone(1), &name(), &h, &BTreeMap::new(), &[]);
    let www = find(&d, "www.example.test.").unwrap();
    assert_eq!(www.set.values, vec!["198.51.100.10"]);
    assert!(www.reason.contains("failover to pool eu-west"), "{}", www.reason);
    assert!(www.reason.contains("check:web-us unhealthy"), "{}", www.reason);
    assert_eq!(find(&d, "api.example.test.").unwrap().set.values, vec!["198.51.100.20"]);
    assert!(d
        .notes
        .iter()
        .any(|n| matches!(n, Note::FailedOver { pool, .. } if pool == "eu-west")));
}

#[test]
fn all_pools_down_keeps_the_published_values() {
    let h = health(&[
        ("check:web-us", Unhealthy),
        ("check:web-eu", Unhealthy),
        ("provider:pdns-a", Healthy),
    ]);
    let live = BTreeMap::from([("pdns-a".to_string(), vec![a("www.example.test.", &["192.0.2.10"])])]);
    let d = desired_records(&zone(1), &name(), &h, &live, &[]);
    let www = find(&d, "www.example.test.").unwrap();
    assert_eq!(www.set.values, vec!["192.0.2.10"]);
    assert!(www.reason.contains("fail-open"));
    assert!(d.notes.iter().any(|n| matches!(n, Note::AllPoolsDown { .. })));
    // Nothing published: nothing is invented, and the set is never emptied.
    assert!(find(&d, "api.example.test.").is_none());
}

#[test]
fn an_undecided_pool_keeps_the_published_values() {
    let h = health(&[("check:web-us", Unknown), ("check:web-eu", Healthy)]);
    let live = BTreeMap::from([("pdns-a".to_string(), vec![a("www.example.test.", &["192.0.2.10"])])]);
    let d = desired_records(&zone(1), &name(), &h, &live, &[]);
    assert_eq!(find(&d, "www.example.test.").unwrap().set.values, vec!["192.0.2.10"]);
}

fn both_delegated() -> RecordSet {
    ns(&["ns1.a.test.", "ns2.a.test.", "ns1.b.test."])
}

#[test]
fn healthy_providers_stay_delegated() {
    let h = health(&[("provider:pdns-a", Healthy), ("provider:pdns-b", Healthy)]);
    let d = desired_ns(
        &zone(1),
        &name(),
        &providers(),
        &h,
        Some(&both_delegated()),
        &BTreeSet::new(),
    );
    assert_eq!(d.delegated, vec!["pdns-a", "pdns-b"]);
    assert_eq!(d.delegation.unwrap().set, both_delegated());
    assert_eq!(d.apex.unwrap().set, both_delegated());
}

#[test]
fn an_unhealthy_provider_leaves_the_delegation() {
    let h = health(&[("provider:pdns-a", Healthy), ("provider:pdns-b", Unhealthy)]);
    let d = desired_ns(
        &zone(1),
        &name(),
        &providers(),
        &h,
        Some(&both_delegated()),
        &BTreeSet::new(),
    );
    assert_eq!(d.delegated, vec!["pdns-a"]);
    let del = d.delegation.unwrap();
    assert_eq!(del.set, ns(&["ns1.a.test.", "ns2.a.test."]));
    assert!(del.reason.contains("pdns-b (unhealthy)"), "{}", del.reason);
}

#[test]
fn never_under_min_providers() {
    let h = health(&[("provider:pdns-a", Healthy), ("provider:pdns-b", Unhealthy)]);
    let d = desired_ns(
        &zone(2),
        &name(),
        &providers(),
        &h,
        Some(&both_delegated()),
        &BTreeSet::new(),
    );
    assert_eq!(d.delegated, vec!["pdns-a", "pdns-b"]);
    assert_eq!(d.delegation.unwrap().set, both_delegated());
}

#[test]
fn a_returning_provider_rejoins_only_once_in_sync() {
    let only_a = ns(&["ns1.a.test.", "ns2.a.test."]);
    let h = health(&[("provider:pdns-a", Healthy), ("provider:pdns-b", Healthy)]);
    let d = desired_ns(&zone(1), &name(), &providers(), &h, Some(&only_a), &BTreeSet::new());
    assert_eq!(d.delegated, vec!["pdns-a"]);
    assert!(d
        .notes
        .iter()
        .any(|n| matches!(n, Note::ProviderDrift { provider } if provider == "pdns-b")));
    let synced = BTreeSet::from(["pdns-b".to_string()]);
    let d = desired_ns(&zone(1), &name(), &providers(), &h, Some(&only_a), &synced);
    assert_eq!(d.delegated, vec!["pdns-a", "pdns-b"]);
}

#[test]
fn no_healthy_provider_keeps_the_live_delegation() {
    for states in [[Unhealthy, Unhealthy], [Unknown, Unknown], [Unknown, Unhealthy]] {
        let h = health(&[("provider:pdns-a", states[0]), ("provider:pdns-b", states[1])]);
        let d = desired_ns(
            &zone(1),
            &name(),
            &providers(),
            &h,
            Some(&both_delegated()),
            &BTreeSet::new(),
        );
        assert_eq!(d.delegation.unwrap().set, both_delegated(), "{states:?}");
        let undecided = states.iter().all(|s| *s == Unknown);
        assert_eq!(
            d.notes.iter().any(|n| matches!(n, Note::DelegationHeld { .. })),
            !undecided,
            "{states:?}"
        );
    }
}

#[test]
fn an_unknown_provider_is_neither_added_nor_removed() {
    let only_a = ns(&["ns1.a.test.", "ns2.a.test."]);
    let synced = BTreeSet::from(["pdns-b".to_string()]);
    let h = health(&[("provider:pdns-a", Healthy), ("provider:pdns-b", Unknown)]);
    let d = desired_ns(&zone(1), &name(), &providers(), &h, Some(&only_a), &synced);
    assert_eq!(d.delegated, vec!["pdns-a"]);
    let d = desired_ns(&zone(1), &name(), &providers(), &h, Some(&both_delegated()), &synced);
    assert_eq!(d.delegated, vec!["pdns-a", "pdns-b"]);
}

#[test]
fn a_provider_kept_in_the_delegation_is_not_said_to_leave_it() {
    let out = |d: &NsDesired| -> Vec<String> {
        d.notes
            .iter()
            .filter_map(|n| match n {
                Note::ProviderOut { provider, .. } => Some(provider.clone()),
                _ => None,
            })
            .collect()
    };
    let b_down = health(&[("provider:pdns-a", Healthy), ("provider:pdns-b", Unhealthy)]);
    let ns = |min, h: &HealthView| {
        desired_ns(
            &zone(min),
            &name(),
            &providers(),
            h,
            Some(&both_delegated()),
            &BTreeSet::new(),
        )
    };
    // Kept to make up min_providers: it stays, so it does not leave.
    let kept = ns(2, &b_down);
    assert_eq!(kept.delegated, vec!["pdns-a", "pdns-b"]);
    assert!(out(&kept).is_empty(), "{:?}", kept.notes);
    // Kept because no provider is healthy: the delegation is held, nobody leaves.
    let all_down = health(&[("provider:pdns-a", Unhealthy), ("provider:pdns-b", Unhealthy)]);
    assert!(out(&ns(1, &all_down)).is_empty());
    // Left out: said so.
    assert_eq!(out(&ns(1, &b_down)), vec!["pdns-b"]);
}

#[test]
fn published_values_come_from_the_providers_the_parent_delegates_to() {
    // pdns-a came back from an outage holding the old answer; pdns-b served meanwhile.
    let h = health(&[
        ("check:web-us", Unhealthy),
        ("check:web-eu", Unhealthy),
        ("provider:pdns-a", Healthy),
        ("provider:pdns-b", Healthy),
    ]);
    let live = BTreeMap::from([
        ("pdns-a".to_string(), vec![a("www.example.test.", &["192.0.2.10"])]),
        ("pdns-b".to_string(), vec![a("www.example.test.", &["198.51.100.10"])]),
    ]);
    let d = desired_records(&zone(1), &name(), &h, &live, &["pdns-b".to_string()]);
    assert_eq!(find(&d, "www.example.test.").unwrap().set.values, vec!["198.51.100.10"]);
}

/// `www` of the zone above as a weighted record (us-east weight 3, eu-west weight 1),
/// served by one provider with native weights.
fn weighted_zone() -> ZoneConfig {
    let mut z = zone(1);
    z.providers = vec!["r53".into()];
    z.delegation = None;
    z.records.truncate(1);
    z.records[0].policy = RecordPolicy::Weighted;
    z.records[0].pools[0].weight = 3;
    z
}

/// (set, weight, values) of every desired set, by set.
fn weights(d: &RecordsDesired) -> Vec<(String, u32, Vec<String>)> {
    let mut out: Vec<_> = d
        .records
        .iter()
        .map(|r| {
            assert_eq!(
                (r.set.name.as_str(), &r.set.rtype, r.set.ttl),
                ("www.example.test.", &RecordType::A, 30)
            );
            (
                r.set.set_id.clone().unwrap(),
                r.set.weight.unwrap(),
                r.set.values.clone(),
            )
        })
        .collect();
    out.sort();
    out
}

fn w(set: &str, weight: u32, value: &str) -> (String, u32, Vec<String>) {
    (set.to_string(), weight, vec![value.to_string()])
}

fn live_weighted(us: u32, eu: u32) -> BTreeMap<String, Vec<RecordSet>> {
    BTreeMap::from([(
        "r53".to_string(),
        vec![
            a("www.example.test.", &["192.0.2.10"]).weighted("us-east", us),
            a("www.example.test.", &["198.51.100.10"]).weighted("eu-west", eu),
        ],
    )])
}

#[test]
fn a_weighted_record_is_one_set_per_pool_at_its_configured_weight() {
    let h = health(&[("check:web-us", Healthy), ("check:web-eu", Healthy)]);
    let d = desired_records(&weighted_zone(), &name(), &h, &BTreeMap::new(), &[]);
    assert_eq!(
        weights(&d),
        vec![w("eu-west", 1, "198.51.100.10"), w("us-east", 3, "192.0.2.10")]
    );
    assert!(d.notes.is_empty(), "{:?}", d.notes);
}

#[test]
fn an_unhealthy_pool_keeps_its_set_at_weight_zero() {
    let h = health(&[("check:web-us", Unhealthy), ("check:web-eu", Healthy)]);
    let d = desired_records(&weighted_zone(), &name(), &h, &live_weighted(3, 1), &[]);
    // Still two sets: the failover is an update of a weight, never a delete.
    assert_eq!(
        weights(&d),
        vec![w("eu-west", 1, "198.51.100.10"), w("us-east", 0, "192.0.2.10")]
    );
    let us = d
        .records
        .iter()
        .find(|r| r.set.set_id.as_deref() == Some("us-east"))
        .unwrap();
    assert!(us.reason.contains("weight 0 (configured 3)"), "{}", us.reason);
    assert!(us.reason.contains("check:web-us unhealthy"), "{}", us.reason);
    assert!(d
        .notes
        .iter()
        .any(|n| matches!(n, Note::FailedOver { pool, .. } if pool == "eu-west")));
    // Back to health: back to the configured weight.
    let h = health(&[("check:web-us", Healthy), ("check:web-eu", Healthy)]);
    let d = desired_records(&weighted_zone(), &name(), &h, &live_weighted(0, 1), &[]);
    assert_eq!(
        weights(&d),
        vec![w("eu-west", 1, "198.51.100.10"), w("us-east", 3, "192.0.2.10")]
    );
}

#[test]
fn every_pool_down_puts_every_published_set_back_at_its_configured_weight() {
    let h = health(&[
        ("check:web-us", Unhealthy),
        ("check:web-eu", Unhealthy),
        ("provider:r53", Healthy),
    ]);
    // us-east went down first (weight 0), then eu-west: fail-open answers with both
    // as configured, never with weights all 0.
    let d = desired_records(&weighted_zone(), &name(), &h, &live_weighted(0, 1), &[]);
    assert_eq!(
        weights(&d),
        vec![w("eu-west", 1, "198.51.100.10"), w("us-east", 3, "192.0.2.10")]
    );
    assert!(d.records.iter().all(|r| r.reason.contains("fail-open")));
    assert!(d.notes.iter().any(|n| matches!(n, Note::AllPoolsDown { .. })));
    // Nothing published: nothing is created on a guess.
    let d = desired_records(&weighted_zone(), &name(), &h, &BTreeMap::new(), &[]);
    assert!(d.records.is_empty(), "{:?}", d.records);
}

#[test]
fn an_undecided_pool_keeps_every_published_weight() {
    let h = health(&[("check:web-us", Unknown), ("check:web-eu", Unhealthy)]);
    let d = desired_records(&weighted_zone(), &name(), &h, &live_weighted(3, 1), &[]);
    // eu-west is down, but taking its weight would move traffic onto us-east, whose
    // health is not known.
    assert_eq!(
        weights(&d),
        vec![w("eu-west", 1, "198.51.100.10"), w("us-east", 3, "192.0.2.10")]
    );
    assert!(d.records.iter().all(|r| r.reason.contains("not decided")));
    assert!(d.notes.is_empty());
}

#[test]
fn an_alias_is_no_published_value_to_keep() {
    // Route 53 reads an alias at a steered name with its target as its value: while a
    // pool is undecided, the answer kept is the other provider's plain set.
    let h = health(&[("check:web-us", Unknown), ("provider:pdns-a", Healthy)]);
    let alias = RecordSet {
        values: vec!["ALIAS dualstack.elb.example. (Z35SXDOTRQ7X7K)".into()],
        ..a("www.example.test.", &["192.0.2.10"])
    };
    let live = BTreeMap::from([
        ("pdns-a".to_string(), vec![alias]),
        ("pdns-b".to_string(), vec![a("www.example.test.", &["198.51.100.10"])]),
    ]);
    let d = desired_records(&zone(1), &name(), &h, &live, &[]);
    assert_eq!(find(&d, "www.example.test.").unwrap().set.values, vec!["198.51.100.10"]);
}
