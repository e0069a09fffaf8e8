use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dnsteer_providers::{Applied, Capabilities, Change, ProviderError};

use super::*;
use crate::plan::PlannedChange;

/// Stores exactly what it is given: `decide` only calls `normalize`.
#[derive(Debug)]
struct FakeProvider {
    name: String,
    capabilities: Capabilities,
}

#[async_trait]
impl Provider for FakeProvider {
    fn name(&self) -> &str {
        &self.name
    }
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }
    async fn records(&self, _: &ZoneName) -> Result<Vec<RecordSet>, ProviderError> {
        unreachable!("decide reads nothing")
    }
    async fn apply(&self, _: &ZoneName, _: &[Change]) -> Result<Applied, ProviderError> {
        unreachable!("decide writes nothing")
    }
}

const US: &str = "192.0.2.10";
const EU: &str = "198.51.100.10";
const NS_A: &str = "ns1.a.test.";
const NS_B: &str = "ns1.b.test.";

/// Zones of `records` failover records each (us-east preferred, eu-west second), served
/// by pdns-a and pdns-b, delegated in `test.` at `parent`.
fn config(zones: &[(&str, usize)]) -> Config {
    let mut yaml = String::from(
        r#"
providers:
  pdns-a: { kind: powerdns, url: "http://127.0.0.1:1", api_key: { env: K }, nameservers: [ns1.a.test.] }
  pdns-b: { kind: powerdns, url: "http://127.0.0.1:2", api_key: { env: K }, nameservers: [ns1.b.test.] }
  parent: { kind: rfc2136, server: "127.0.0.1:3", tsig: { name: k., algorithm: hmac-sha256, secret: { env: K } } }
checks:
  web-us: { kind: tcp, address: "192.0.2.10:443" }
  web-eu: { kind: tcp, address: "198.51.100.10:443" }
zones:
"#,
    );
    for (zone, records) in zones {
        yaml.push_str(&format!(
            "  - name: {zone}\n    providers: [pdns-a, pdns-b]\n    \
             delegation: {{ provider: parent, parent: test., min_providers: 1, ttl: 300 }}\n    records:\n"
        ));
        for i in 0..*records {
            yaml.push_str(&format!(
                "      - name: r{i}\n        type: A\n        ttl: 30\n        pools:\n          \
                 - {{ name: us-east, priority: 1, values: [{US}], check: web-us }}\n          \
                 - {{ name: eu-west, priority: 2, values: [{EU}], check: web-eu }}\n"
            ));
        }
    }
    serde_yaml_ng::from_str(&yaml).unwrap()
}

fn providers() -> Providers {
    ["pdns-a", "pdns-b", "parent"]
        .into_iter()
        .map(|name| {
            let adapter: Arc<dyn Provider> = Arc::new(FakeProvider {
                name: name.into(),
                capabilities: Capabilities {
                    record_types: vec![RecordType::A, RecordType::Ns],
                    min_ttl: 1,
                    max_batch: 100,
                    atomic: true,
                    compare_and_set: false,
                    native_weights: false,
                    extra_records: true,
                },
            });
            (name.to_string(), adapter)
        })
        .collect()
}

fn zone(name: &str) -> ZoneName {
    ZoneName::new(name).unwrap()
}

fn set(name: &str, rtype: RecordType, ttl: u32, values: &[&str]) -> RecordSet {
    RecordSet::new(name, rtype, ttl, values.iter().copied()).unwrap()
}

/// Both providers hold every record of `config`'s zones at `value` with `ttl`, both list
/// both providers at the apex, and the parent delegates to both.
fn live(config: &Config, value: &str, ttl: u32) -> Live {
    let mut live = Live::default();
    let mut parent = Vec::new();
    for z in &config.zones {
        let name = zone(&z.name);
        let mut sets: Vec<RecordSet> = z
            .records
            .iter()
            .map(|r| set(&name.absolute(&r.name).unwrap(), RecordType::A, ttl, &[value]))
            .collect();
        sets.push(set(name.as_str(), RecordType::Ns, 300, &[NS_A, NS_B]));
        for p in ["pdns-a", "pdns-b"] {
            live.records.insert((name.clone(), p.to_string()), sets.clone());
        }
        parent.push(set(name.as_str(), RecordType::Ns, 300, &[NS_A, NS_B]));
    }
    live.records.insert((zone("test."), "parent".into()), parent);
    live
}

fn health(states: &[(&str, State)]) -> HealthView {
    let mut h: HealthView = [
        ("check:web-us", State::Healthy),
        ("check:web-eu", State::Healthy),
        ("provider:pdns-a", State::Healthy),
        ("provider:pdns-b", State::Healthy),
    ]
    .into_iter()
    .map(|(t, s)| (t.to_string(), s))
    .collect();
    h.extend(states.iter().map(|(t, s)| (t.to_string(), *s)));
    h
}

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + minute * 60, 0).unwrap()
}

fn us_down() -> HealthView {
    health(&[("check:web-us", State::Unhealthy)])
}

/// `config` decided with us-east down, over live data at us-east with TTL 30.
fn decide_us_down(config: &Config) -> Decision {
    decide(
        config,
        &providers(),
        &us_down(),
        &live(config, US, 30),
        &FlapHistory::default(),
        at(0),
    )
}

#[test]
fn a_region_failover_of_13_records_with_default_limits_is_not_held() {
    let config = config(&[("example.test.", 13)]);
    let d = decide_us_down(&config);
    assert_eq!(d.plan.changes.len(), 26, "13 records at each of 2 providers");
    assert!(d.held.is_empty(), "{:?}", d.held);
    assert_eq!(d.writable(&BTreeSet::new()), d.plan);
}

#[test]
fn a_held_zone_does_not_hold_another_zones_changes() {
    let config = config(&[("a.test.", 2), ("b.test.", 10)]);
    let mut live = live(&config, US, 30);
    // b.test. was published with a TTL of 60: the configuration's 30 is an edit to all
    // 10 of its records, over the default max_change_ratio.
    for p in ["pdns-a", "pdns-b"] {
        for s in live.records.get_mut(&(zone("b.test."), p.into())).unwrap() {
            if s.rtype == RecordType::A {
                s.ttl = 60;
            }
        }
    }
    let d = decide(&config, &providers(), &us_down(), &live, &FlapHistory::default(), at(0));
    assert_eq!(d.held.len(), 1, "{:?}", d.held);
    let hold = &d.held[0];
    assert_eq!(hold.zone, zone("b.test."));
    assert!(hold.reasons[0].contains("max_change_ratio"), "{:?}", hold.reasons);
    let b_only = d.plan.filtered(|c| c.owner == zone("b.test."));
    assert_eq!(hold.checksum, b_only.checksum());

    let writable = d.writable(&BTreeSet::new());
    assert_eq!(writable.changes.len(), 4, "a.test.'s failover at both providers");
    assert!(writable.changes.iter().all(|c| c.owner == zone("a.test.")));
    // Approving the zone's checksum, or the whole plan's, lets it through.
    assert_eq!(d.writable(&BTreeSet::from([hold.checksum.clone()])), d.plan);
    assert_eq!(d.writable(&BTreeSet::from([d.plan.checksum()])), d.plan);
}

#[test]
fn configuration_edits_in_a_small_zone_are_not_held() {
    let config = config(&[("a.test.", 3)]);
    let d = decide(
        &config,
        &providers(),
        &health(&[]),
        &live(&config, US, 60),
        &FlapHistory::default(),
        at(0),
    );
    assert_eq!(d.plan.changes.len(), 6);
    assert!(d.held.is_empty(), "{:?}", d.held);
}

#[test]
fn a_record_flipping_past_its_budget_holds_its_zone_until_the_window_passes() {
    let config = config(&[("a.test.", 1)]);
    let live = live(&config, US, 30);
    let mut flaps = FlapHistory::default();
    // Six flips in the last hour (the default budget), recorded as the daemon would.
    let record = |flaps: &mut FlapHistory, from: &str, to: &str, minute: i64| {
        let change = PlannedChange {
            owner: zone("a.test."),
            zone: zone("a.test."),
            provider: "pdns-a".into(),
            change: Change::Update {
                before: set("r0.a.test.", RecordType::A, 30, &[from]),
                after: set("r0.a.test.", RecordType::A, 30, &[to]),
            },
            reason: "test".into(),
            stale_for_s: Some(30),
        };
        flaps.record(&change, at(minute));
    };
    for i in 0..6 {
        let (from, to) = if i % 2 == 0 { (US, EU) } else { (EU, US) };
        record(&mut flaps, from, to, i * 5);
    }
    let d = decide(&config, &providers(), &us_down(), &live, &flaps, at(30));
    assert_eq!(d.held.len(), 1);
    assert!(d.held[0].reasons[0].contains("flap_budget"), "{:?}", d.held);
    assert!(d.writable(&BTreeSet::new()).is_empty());
    // An hour after the first flip, one has left the window: the flip goes through.
    let d = decide(&config, &providers(), &us_down(), &live, &flaps, at(61));
    assert!(d.held.is_empty(), "{:?}", d.held);
}

#[test]
fn changes_go_to_every_provider_read_healthy_or_not() {
    let config = config(&[("example.test.", 1)]);
    let h = health(&[
        ("check:web-us", State::Unhealthy),
        ("provider:pdns-b", State::Unhealthy),
    ]);
    let d = decide(
        &config,
        &providers(),
        &h,
        &live(&config, US, 30),
        &FlapHistory::default(),
        at(0),
    );
    let at_b: Vec<_> = d
        .plan
        .changes
        .iter()
        .filter(|c| c.provider == "pdns-b")
        .map(|c| (c.change.subject().name.as_str(), c.change.subject().rtype.clone()))
        .collect();
    assert_eq!(
        at_b,
        vec![("example.test.", RecordType::Ns), ("r0.example.test.", RecordType::A)],
        "the unhealthy provider gets the failover and the apex NS set"
    );
    // The delegation change at the parent is owned by the child zone.
    let parent: Vec<_> = d.plan.changes.iter().filter(|c| c.provider == "parent").collect();
    assert_eq!(parent.len(), 1);
    assert_eq!(
        (parent[0].zone.as_str(), parent[0].owner.as_str()),
        ("test.", "example.test.")
    );
    assert_eq!(d.delegated[&zone("example.test.")], vec!["pdns-a"]);
    assert!(d.held.is_empty(), "{:?}", d.held);
}

#[test]
fn only_read_errors_where_writes_would_go_count() {
    let config = config(&[("example.test.", 1)]);
    let mut live = live(&config, US, 30);
    live.records.remove(&(zone("example.test."), "pdns-b".into()));
    live.errors.push(crate::plan::PlanError {
        zone: "example.test.".into(),
        provider: "pdns-b".into(),
        error: "down".into(),
    });
    let decided = |h: &HealthView| decide(&config, &providers(), h, &live, &FlapHistory::default(), at(0));
    assert!(decided(&health(&[("provider:pdns-b", State::Unhealthy)]))
        .plan
        .errors
        .is_empty());
    assert_eq!(
        decided(&health(&[("provider:pdns-b", State::Unknown)]))
            .plan
            .errors
            .len(),
        1
    );
}

#[test]
fn a_provider_that_could_not_be_read_is_no_drift() {
    let config = config(&[("example.test.", 1)]);
    let mut live = live(&config, US, 30);
    // pdns-b, healthy again, is outside the delegation; its copy could not be read.
    live.records.insert(
        (zone("test."), "parent".into()),
        vec![set("example.test.", RecordType::Ns, 300, &[NS_A])],
    );
    live.records.remove(&(zone("example.test."), "pdns-b".into()));
    let drift = |d: &Decision| {
        d.notes
            .iter()
            .any(|(_, n)| matches!(n, Note::ProviderDrift { provider } if provider == "pdns-b"))
    };
    let d = decide(
        &config,
        &providers(),
        &health(&[]),
        &live,
        &FlapHistory::default(),
        at(0),
    );
    assert!(!drift(&d), "{:?}", d.notes);
    assert_eq!(
        d.delegated[&zone("example.test.")],
        vec!["pdns-a"],
        "it rejoins only once read in sync"
    );
    // Read, and behind: that is drift.
    let mut behind = live.clone();
    behind.records.insert(
        (zone("example.test."), "pdns-b".into()),
        vec![set("r0.example.test.", RecordType::A, 30, &[EU])],
    );
    assert!(drift(&decide(
        &config,
        &providers(),
        &health(&[]),
        &behind,
        &FlapHistory::default(),
        at(0)
    )));
}

#[test]
fn a_weighted_record_is_never_flattened_for_a_provider_without_native_weights() {
    // `check` refuses this configuration; should one get this far, the weighted sets
    // are not written as plain ones, and the plan says why.
    let mut config = config(&[("a.test.", 1)]);
    config.zones[0].records[0].policy = crate::config::RecordPolicy::Weighted;
    let d = decide_us_down(&config);
    assert!(
        d.plan.changes.iter().all(|c| c.change.subject().name != "r0.a.test."),
        "{:?}",
        d.plan.changes
    );
    let errors: Vec<_> = d
        .plan
        .errors
        .iter()
        .map(|e| (e.provider.as_str(), e.error.as_str()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|(_, e)| e.contains("weighted record r0.a.test. A not planned") && e.contains("no native weights")),
        "{errors:?}"
    );
}
