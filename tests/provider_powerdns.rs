//! The PowerDNS adapter against a real PowerDNS Authoritative server on loopback.

mod support;

use std::time::Duration;

use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::{
    Change, PowerDnsOptions, PowerDnsProvider, Provider, ProviderError, RecordSet, RecordType, ZoneName,
};
use support::conformance;
use support::pdns::{PowerDns, API_KEY};

const ZONE: &str = "example.test.";

fn provider(server: &PowerDns, key: &str) -> PowerDnsProvider {
    let options = PowerDnsOptions {
        endpoint: server.api_url.clone(),
        server_id: "localhost".into(),
        http: HttpConfig {
            timeout: Duration::from_secs(2),
            ..HttpConfig::default()
        },
    };
    PowerDnsProvider::new("pdns-a", key, options).unwrap()
}

/// A PowerDNS holding `example.test.` with an unmanaged TXT record beside the apex NS.
fn server_with_zone() -> PowerDns {
    let server = PowerDns::start();
    server.create_zone(
        ZONE,
        &["ns1.provider-a.test."],
        serde_json::json!([
            {"name": "keep.example.test.", "type": "TXT", "ttl": 60, "records": [{"content": "\"unmanaged\"", "disabled": false}]}
        ]),
    );
    server
}

fn zone() -> ZoneName {
    ZoneName::new(ZONE).unwrap()
}

#[tokio::test]
async fn conformance_apply_then_read_gives_desired() {
    let server = server_with_zone();
    conformance::apply_then_read_gives_desired(&provider(&server, API_KEY), &zone()).await;
}

#[tokio::test]
async fn conformance_apply_twice_is_harmless() {
    let server = server_with_zone();
    conformance::apply_twice_is_harmless(&provider(&server, API_KEY), &zone()).await;
}

#[tokio::test]
async fn conformance_unnamed_records_untouched() {
    let server = server_with_zone();
    conformance::unnamed_records_untouched(&provider(&server, API_KEY), &zone()).await;
}

#[tokio::test]
async fn conformance_refused_batch_leaves_zone_unchanged() {
    let server = server_with_zone();
    // PowerDNS refuses a CNAME beside the apex's SOA and NS (HTTP 422).
    let cname_at_apex = RecordSet::new(ZONE, RecordType::Cname, 60, ["elsewhere.test."]).unwrap();
    conformance::refused_batch_leaves_zone_unchanged(
        &provider(&server, API_KEY),
        &zone(),
        Change::Create { after: cname_at_apex },
    )
    .await;
}

#[tokio::test]
async fn conformance_wrong_key_is_auth_error() {
    let server = server_with_zone();
    conformance::wrong_key_is_auth_error(&provider(&server, "not-the-key"), &zone()).await;
}

#[tokio::test]
async fn conformance_stopped_server_is_transient() {
    let mut server = server_with_zone();
    let p = provider(&server, API_KEY);
    p.records(&zone()).await.expect("reads while up");
    server.stop();
    // Three attempts with capped backoff must end well inside this.
    conformance::stopped_server_is_transient(&p, &zone(), Duration::from_secs(8)).await;
    server.resume();
    p.records(&zone()).await.expect("reads again once restarted");
}

#[tokio::test]
async fn unknown_zone_is_zone_not_found() {
    let server = server_with_zone();
    let other = ZoneName::new("missing.test.").unwrap();
    let err = provider(&server, API_KEY).records(&other).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_set_changed_since_it_was_read_is_a_conflict_and_nothing_is_written() {
    let server = server_with_zone();
    let p = provider(&server, API_KEY);
    let z = zone();
    let www = |v: &str| RecordSet::new("www.example.test.", RecordType::A, 60, [v]).unwrap();
    p.apply(
        &z,
        &[Change::Create {
            after: www("192.0.2.1"),
        }],
    )
    .await
    .unwrap();
    // Someone else moves it before our plan is applied.
    p.apply(
        &z,
        &[Change::Update {
            before: www("192.0.2.1"),
            after: www("192.0.2.99"),
        }],
    )
    .await
    .unwrap();
    let other = RecordSet::new("other.example.test.", RecordType::A, 60, ["192.0.2.5"]).unwrap();
    let err = p
        .apply(
            &z,
            &[
                Change::Create { after: other },
                Change::Update {
                    before: www("192.0.2.1"),
                    after: www("192.0.2.2"),
                },
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("changed concurrently"), "{err}");
    let live = p.records(&z).await.unwrap();
    assert!(live.contains(&www("192.0.2.99")), "the other writer's value must stay");
    assert!(
        !live.iter().any(|s| s.name == "other.example.test."),
        "nothing of the batch may be written"
    );
}

#[tokio::test]
async fn disabled_records_are_not_read_as_live() {
    let server = PowerDns::start();
    server.create_zone(
        ZONE,
        &["ns1.provider-a.test."],
        serde_json::json!([
            {"name": "www.example.test.", "type": "A", "ttl": 60, "records": [
                {"content": "192.0.2.1", "disabled": false},
                {"content": "192.0.2.2", "disabled": true}
            ]}
        ]),
    );
    let live = provider(&server, API_KEY).records(&zone()).await.unwrap();
    let www = live
        .iter()
        .find(|s| s.name == "www.example.test." && s.rtype == RecordType::A)
        .unwrap();
    assert_eq!(www.values, vec!["192.0.2.1"]);
}

/// Nameservers the configuration omits are read from the zone's apex NS set; a zone
/// the server does not have says so.
#[tokio::test]
async fn nameservers_are_the_apex_ns_set() {
    let server = server_with_zone();
    let p = provider(&server, API_KEY);
    assert_eq!(p.nameservers(&zone()).await.unwrap(), ["ns1.provider-a.test."]);
    let missing = ZoneName::new("nozone.test.").unwrap();
    assert!(
        matches!(p.nameservers(&missing).await, Err(ProviderError::ZoneNotFound { .. })),
        "a zone the server lacks is not found"
    );
}
