//! The PowerDNS adapter against a real PowerDNS Authoritative server on loopback.

mod support;

use std::time::Duration;

use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::{
    Change, PowerDnsOptions, PowerDnsProvider, Provider, ProviderError, RecordSet, RecordType, WriteAccess, ZoneName,
};
use support::conformance::{Harness, WrongKey};
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

/// The conformance suite against a real PowerDNS.
struct Pdns(PowerDns);

impl Harness for Pdns {
    async fn start() -> Self {
        Pdns(server_with_zone())
    }

    fn provider(&self) -> Box<dyn Provider> {
        Box::new(provider(&self.0, API_KEY))
    }

    /// PowerDNS refuses a CNAME beside the apex's SOA and NS (HTTP 422).
    async fn refused_change(&self) -> Change {
        let cname_at_apex = RecordSet::new(ZONE, RecordType::Cname, 60, ["elsewhere.test."]).unwrap();
        Change::Create { after: cname_at_apex }
    }

    async fn wrong_key(&self) -> WrongKey {
        WrongKey::of(provider(&self.0, "not-the-key"))
    }

    fn stop(&mut self) {
        self.0.stop();
    }

    fn resume(&mut self) -> bool {
        self.0.resume();
        true
    }
}

conformance_suite!(Pdns);

#[tokio::test]
async fn unknown_zone_is_zone_not_found() {
    let server = server_with_zone();
    let other = ZoneName::new("missing.test.").unwrap();
    let err = provider(&server, API_KEY).records(&other).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
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

/// PowerDNS keys are not scoped and it has no PATCH that writes nothing (an empty one
/// raises the SOA serial): `write_access` reads the zone and its kind, writes nothing
/// (the SOA serial included), and a wrong key and a missing zone are errors, not
/// refusals.
#[tokio::test]
async fn write_access_reads_and_writes_nothing() {
    let server = server_with_zone();
    let p = provider(&server, API_KEY);
    let before = p.records(&zone()).await.unwrap();
    let www = (zone().absolute("www").unwrap(), RecordType::A);
    match p.write_access(&zone(), std::slice::from_ref(&www)).await.unwrap() {
        WriteAccess::Granted(how) => assert!(how.contains("not scoped") && how.contains("Native"), "{how}"),
        other => panic!("{other:?}"),
    }
    let after = p.records(&zone()).await.unwrap();
    assert_eq!(before, after, "nothing written, the SOA serial included");
    assert!(after.iter().any(|s| s.rtype == RecordType::Soa), "{after:?}");

    let wrong = provider(&server, "wrong-key")
        .write_access(&zone(), std::slice::from_ref(&www))
        .await;
    assert!(matches!(wrong, Err(ProviderError::Auth { .. })), "{wrong:?}");
    let missing = p.write_access(&ZoneName::new("missing.test.").unwrap(), &[www]).await;
    assert!(
        matches!(missing, Err(ProviderError::ZoneNotFound { .. })),
        "{missing:?}"
    );
}
