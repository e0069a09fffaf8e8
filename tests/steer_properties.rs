//! Property tests of steering over random health, zones and live delegations: the
//! safety rules hold whatever the input.

use std::collections::{BTreeMap, BTreeSet};

use dnsteer::config::{ProviderConfig, ZoneConfig};
use dnsteer::health::State;
use dnsteer::steer::{desired_ns, desired_records, HealthView};
use dnsteer_providers::{RecordSet, RecordType, ZoneName};
use proptest::prelude::*;

fn state() -> impl Strategy<Value = State> {
    prop_oneof![Just(State::Unknown), Just(State::Healthy), Just(State::Unhealthy)]
}

/// A zone of `n` providers (provider i serves from ns1.p{i}.test. and ns2.p{i}.test.),
/// one failover and one all-healthy record over three pools with checks c0..c2.
fn zone(n: usize, min_providers: usize) -> (ZoneConfig, BTreeMap<String, ProviderConfig>) {
    let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let yaml = format!(
        r#"
name: example.test.
providers: [{}]
delegation: {{ provider: parent, parent: test., min_providers: {min_providers}, ttl: 300 }}
records:
  - name: www
    type: A
    policy: failover
    pools:
      - {{ name: a, priority: 1, values: [192.0.2.1], check: c0 }}
      - {{ name: b, priority: 2, values: [192.0.2.2], check: c1 }}
      - {{ name: c, priority: 3, values: [192.0.2.3], check: c2 }}
  - name: api
    type: A
    policy: all-healthy
    pools:
      - {{ name: a, values: [192.0.2.11], check: c0 }}
      - {{ name: b, values: [192.0.2.12], check: c1 }}
"#,
        names.join(", ")
    );
    let providers = names
        .iter()
        .map(|p| {
            let cfg = format!("{{ kind: powerdns, url: \"http://127.0.0.1:1\", api_key: {{ env: K }}, nameservers: [ns1.{p}.test., ns2.{p}.test.] }}");
            (p.clone(), serde_yaml_ng::from_str(&cfg).unwrap())
        })
        .collect();
    (serde_yaml_ng::from_str(&yaml).unwrap(), providers)
}

fn ns_of(p: &str) -> [String; 2] {
    [format!("ns1.{p}.test."), format!("ns2.{p}.test.")]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn steering_keeps_its_safety_rules(
        n in 1usize..5,
        min_seed in 0usize..4,
        provider_states in prop::collection::vec(state(), 4),
        check_states in prop::collection::vec(state(), 3),
        delegated in prop::collection::vec(any::<bool>(), 4),
        synced in prop::collection::vec(any::<bool>(), 4),
        published in any::<bool>(),
    ) {
        let min_providers = 1 + min_seed % n;
        let (zone, providers) = zone(n, min_providers);
        let zone_name = ZoneName::new("example.test.").unwrap();
        let mut health: HealthView = BTreeMap::new();
        for (i, s) in provider_states.iter().take(n).enumerate() {
            health.insert(format!("provider:p{i}"), *s);
        }
        for (i, s) in check_states.iter().enumerate() {
            health.insert(format!("check:c{i}"), *s);
        }
        let live: BTreeMap<String, Vec<RecordSet>> = if published {
            (0..n).map(|i| (format!("p{i}"), vec![
                RecordSet::new("www.example.test.", RecordType::A, 60, ["192.0.2.1"]).unwrap(),
                RecordSet::new("api.example.test.", RecordType::A, 60, ["192.0.2.11"]).unwrap(),
            ])).collect()
        } else {
            BTreeMap::new()
        };

        // Never an empty record set, whatever the health.
        let records = desired_records(&zone, &zone_name, &health, &live, &[]);
        for d in &records.records {
            prop_assert!(!d.set.values.is_empty(), "empty record set {:?}", d.set);
        }
        // Every pool unhealthy: the published values stay.
        if check_states.iter().all(|s| *s == State::Unhealthy) && published {
            let www = records.records.iter().find(|d| d.set.name == "www.example.test.").unwrap();
            prop_assert_eq!(&www.set.values, &vec!["192.0.2.1".to_string()]);
        }

        let live_providers: Vec<usize> = (0..n).filter(|i| delegated[*i]).collect();
        let live_ns: Option<RecordSet> = (!live_providers.is_empty()).then(|| {
            RecordSet::new("example.test.", RecordType::Ns, 300, live_providers.iter().flat_map(|i| ns_of(&format!("p{i}")))).unwrap()
        });
        let in_sync: BTreeSet<String> = (0..n).filter(|i| synced[*i]).map(|i| format!("p{i}")).collect();
        let ns = desired_ns(&zone, &zone_name, &providers, &health, live_ns.as_ref(), &in_sync);
        let Some(desired) = ns.delegation else {
            // Nothing to keep and no healthy provider: no delegation is written at all.
            prop_assert!(live_ns.is_none());
            return Ok(());
        };
        prop_assert!(!desired.set.values.is_empty());
        let changed = Some(&desired.set) != live_ns.as_ref();
        if changed {
            // A changed delegation is never under min_providers and always holds a
            // healthy provider.
            prop_assert!(ns.delegated.len() >= min_providers, "{:?} under {min_providers}", ns.delegated);
            let healthy = ns.delegated.iter().any(|p| health[&format!("provider:{}", p)] == State::Healthy);
            prop_assert!(healthy, "delegated only to providers that are not healthy");
        }
        for (i, p) in (0..n).map(|i| (i, format!("p{i}"))) {
            let was = delegated[i];
            let is = ns.delegated.contains(&p);
            let st = provider_states[i];
            if !was && is {
                // Joining takes a healthy provider whose records are in sync.
                prop_assert_eq!(st, State::Healthy);
                prop_assert!(in_sync.contains(&p));
            }
            if was && !is {
                // Nothing leaves on unknown health.
                prop_assert_eq!(st, State::Unhealthy);
            }
        }
        // The apex NS follows the delegation.
        prop_assert_eq!(ns.apex.map(|a| a.set), Some(desired.set));
    }
}

/// A weighted record over three pools (weights 3, 1, 2; checks c0..c2), served by one
/// provider with native weights.
fn weighted_zone() -> ZoneConfig {
    serde_yaml_ng::from_str(
        r#"
name: example.test.
providers: [r53]
records:
  - name: shop
    type: A
    policy: weighted
    pools:
      - { name: a, weight: 3, values: [192.0.2.1], check: c0 }
      - { name: b, weight: 1, values: [192.0.2.2], check: c1 }
      - { name: c, weight: 2, values: [192.0.2.3], check: c2 }
"#,
    )
    .unwrap()
}

const WEIGHTS: [(&str, u32, &str); 3] = [("a", 3, "192.0.2.1"), ("b", 1, "192.0.2.2"), ("c", 2, "192.0.2.3")];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn weighted_steering_moves_weights_never_sets(
        check_states in prop::collection::vec(state(), 3),
        published in prop::collection::vec(prop::option::of(0u32..4), 3),
    ) {
        let zone = weighted_zone();
        let zone_name = ZoneName::new("example.test.").unwrap();
        let mut health: HealthView = BTreeMap::from([("provider:r53".to_string(), State::Healthy)]);
        for (i, s) in check_states.iter().enumerate() {
            health.insert(format!("check:c{i}"), *s);
        }
        let live_sets: Vec<RecordSet> = WEIGHTS
            .iter()
            .zip(&published)
            .filter_map(|((pool, _, value), weight)| {
                let weight = (*weight)?;
                Some(RecordSet::new("shop.example.test.", RecordType::A, 60, [*value]).unwrap().weighted(pool, weight))
            })
            .collect();
        let live = BTreeMap::from([("r53".to_string(), live_sets.clone())]);
        let records = desired_records(&zone, &zone_name, &health, &live, &[]);
        let got: BTreeMap<String, (u32, Vec<String>)> = records
            .records
            .iter()
            .map(|d| (d.set.set_id.clone().unwrap(), (d.set.weight.unwrap(), d.set.values.clone())))
            .collect();
        prop_assert_eq!(got.len(), records.records.len(), "one set per pool");
        for d in &records.records {
            prop_assert!(!d.set.values.is_empty());
        }
        // Health never deletes: every published set is still desired.
        for s in &live_sets {
            prop_assert!(got.contains_key(s.set_id.as_deref().unwrap()), "{:?} dropped", s);
        }
        let unknown = check_states.contains(&State::Unknown);
        let all_down = check_states.iter().all(|s| *s == State::Unhealthy);
        for (i, (pool, configured, value)) in WEIGHTS.iter().enumerate() {
            let want = if unknown {
                // Undecided: every published set stays exactly as it is.
                published[i].map(|w| (w, vec![value.to_string()]))
            } else if all_down {
                // Fail-open: the published sets, at their configured weights.
                published[i].map(|_| (*configured, vec![value.to_string()]))
            } else if check_states[i] == State::Healthy {
                Some((*configured, vec![value.to_string()]))
            } else {
                Some((0, vec![value.to_string()]))
            };
            prop_assert_eq!(got.get(*pool).cloned(), want, "pool {}", pool);
        }
    }
}
