//! The Azure DNS adapter against `FakeAzure` (support/azure_fake.rs), an in-process fake
//! of the token endpoint and Azure Resource Manager's DNS API, and the fake itself
//! against an independent client: the official `azure-mgmt-dns` SDK with
//! `azure-identity`.

mod support;

use std::time::{Duration, Instant};

use dnsteer_providers::azure::AzureOptions;
use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::{
    AzureCredentials, AzureProvider, Change, Provider, ProviderError, RecordType, WriteAccess, ZoneName,
};
use serde_json::json;
use support::azure_fake::{FakeAzure, CLIENT_ID, CLIENT_SECRET, NAME_SERVERS, RESOURCE_GROUP, SUBSCRIPTION, TENANT};
use support::conformance::{self, set, Harness, Running, WrongKey};
use support::http_fake::TestCa;

const ZONE: &str = "example.test.";

fn zone() -> ZoneName {
    ZoneName::new(ZONE).unwrap()
}

fn options(fake: &FakeAzure) -> AzureOptions {
    AzureOptions {
        endpoint: fake.url(),
        authority: fake.url(),
        http: HttpConfig {
            timeout: Duration::from_secs(2),
            base_backoff: Duration::from_millis(50),
            ..HttpConfig::default()
        },
        ..AzureOptions::new(SUBSCRIPTION, RESOURCE_GROUP)
    }
}

fn credentials(secret: &str) -> AzureCredentials {
    AzureCredentials {
        tenant_id: TENANT.into(),
        client_id: CLIENT_ID.into(),
        client_secret: secret.into(),
    }
}

fn provider(fake: &FakeAzure) -> AzureProvider {
    AzureProvider::new("az", credentials(CLIENT_SECRET), options(fake)).unwrap()
}

/// The fake holding `example.test` with an unmanaged TXT set beside its NS and SOA.
fn fake_with_zone() -> FakeAzure {
    let fake = FakeAzure::start("example.test");
    fake.insert(
        "keep",
        "TXT",
        json!({"TTL": 300, "TXTRecords": [{"value": ["unmanaged"]}]}),
    );
    fake
}

/// The conformance suite against the fake; `stop` drops it (its port then refuses).
struct Azure(Running<FakeAzure>);

impl Azure {
    fn fake(&self) -> &FakeAzure {
        self.0.get()
    }
}

impl Harness for Azure {
    async fn start() -> Self {
        Azure(Running::new(fake_with_zone()))
    }

    fn provider(&self) -> Box<dyn Provider> {
        Box::new(provider(self.fake()))
    }

    /// ARM refuses a CNAME beside other data (409); the adapter, which writes one set
    /// per request, refuses the batch before sending any of it.
    async fn refused_change(&self) -> Change {
        let occupied = json!({"TTL": 300, "ARecords": [{"ipv4Address": "192.0.2.3"}]});
        self.fake().insert("occupied", "A", occupied);
        let cname = set("occupied.example.test.", RecordType::Cname, 300, &["elsewhere.test."]);
        Change::Create { after: cname }
    }

    async fn wrong_key(&self) -> WrongKey {
        WrongKey::of(AzureProvider::new("az", credentials("not-the-secret"), options(self.fake())).unwrap())
    }

    fn stop(&mut self) {
        self.0.stop();
    }
}

conformance_suite!(Azure);

/// Nothing of a batch refused before sending reaches the fake.
#[tokio::test]
async fn a_batch_refused_before_sending_writes_nothing() {
    let h = Azure::start().await;
    let refused = h.refused_change().await;
    conformance::refused_batch_leaves_zone_unchanged(h.provider().as_ref(), &zone(), refused).await;
    assert!(h.fake().writes().is_empty(), "{:?}", h.fake().writes());
}

/// A wrong secret is refused at the token endpoint: an Auth error that says so, with
/// the secret nowhere in it, and no ARM request sent.
#[tokio::test]
async fn a_wrong_secret_is_an_auth_error_from_the_token_endpoint() {
    let fake = fake_with_zone();
    let wrong = AzureProvider::new("az", credentials("not-the-secret"), options(&fake)).unwrap();
    let err = wrong.records(&zone()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert!(
        text.contains("invalid_client") && text.contains("AADSTS7000215"),
        "{text}"
    );
    assert!(!text.contains("not-the-secret") && !format!("{wrong:?}").contains("not-the-secret"));
    assert!(fake.requests().iter().all(|r| r.path.ends_with("/oauth2/v2.0/token")));

    let other_tenant = AzureProvider::new(
        "az",
        AzureCredentials {
            tenant_id: "11111111-2222-3333-4444-555555555555".into(),
            ..credentials(CLIENT_SECRET)
        },
        options(&fake),
    )
    .unwrap();
    let err = other_tenant.records(&zone()).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Auth { message, .. } if message.contains("AADSTS90002")),
        "{err:?}"
    );
}

/// One token serves every request until it nears its expiry; a revoked one is
/// dropped on ARM's 401 and the next call fetches a new one.
#[tokio::test]
async fn the_token_is_fetched_once_and_renewed_when_refused() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    for _ in 0..3 {
        p.records(&zone()).await.unwrap();
    }
    let token_requests = |fake: &FakeAzure| {
        fake.requests()
            .iter()
            .filter(|r| r.path == format!("/{TENANT}/oauth2/v2.0/token"))
            .count()
    };
    assert_eq!(token_requests(&fake), 1);
    let form = fake.requests()[0].body.clone();
    let form = String::from_utf8(form).unwrap();
    assert!(form.contains("grant_type=client_credentials"), "{form}");
    assert!(
        form.contains("scope=https%3A%2F%2Fmanagement.azure.com%2F.default"),
        "{form}"
    );
    let arm: Vec<_> = fake.requests().into_iter().skip(1).collect();
    assert!(arm
        .iter()
        .all(|r| r.header("authorization").is_some_and(|a| a.starts_with("Bearer "))));
    assert!(arm.iter().all(|r| r.query_param("api-version") == Some("2018-05-01")));

    fake.revoke_tokens();
    let err = p.records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    p.records(&zone()).await.expect("a new token after the 401");
    assert_eq!(token_requests(&fake), 2);

    // A token that lives less than the renewal margin is used for half its life.
    fake.state.lock().unwrap().token_lifetime = 1;
    fake.revoke_tokens();
    let _ = p.records(&zone()).await;
    p.records(&zone()).await.unwrap();
    let before = token_requests(&fake);
    let started = Instant::now();
    while token_requests(&fake) == before {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a token past half its life was never renewed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        p.records(&zone()).await.unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "renewed after {:?}, before half its life",
        started.elapsed()
    );
}

/// Every page is read, following `nextLink`.
#[tokio::test]
async fn paging_reads_every_set() {
    let fake = fake_with_zone();
    for i in 0..23 {
        fake.insert(
            &format!("h{i}"),
            "A",
            json!({"TTL": 60, "ARecords": [{"ipv4Address": format!("192.0.2.{i}")}]}),
        );
    }
    let small = AzureProvider::new(
        "az",
        credentials(CLIENT_SECRET),
        AzureOptions {
            page_size: Some(5),
            ..options(&fake)
        },
    )
    .unwrap();
    let paged = small.records(&zone()).await.unwrap();
    assert_eq!(paged.len(), 26, "NS, SOA, keep and 23 A sets: {paged:?}");
    assert_eq!(paged, provider(&fake).records(&zone()).await.unwrap());
    let pages: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/recordsets") && r.query_param("$top") == Some("5"))
        .collect();
    assert_eq!(pages.len(), 6, "26 sets at 5 a page");
    assert_eq!(pages[1].query_param("$skipToken"), Some("rs5"));
    let txt = paged.iter().find(|s| s.name == "keep.example.test.").unwrap();
    assert_eq!(txt.values, ["\"unmanaged\""]);
}

/// The zone's name servers are the ones Azure assigned it, not its apex NS set.
#[tokio::test]
async fn nameservers_are_the_zones_assigned_ones() {
    let fake = fake_with_zone();
    fake.insert(
        "@",
        "NS",
        json!({"TTL": 3600, "NSRecords": [{"nsdname": "ns1-01.azure-dns.com."}, {"nsdname": "ns1.other.test."}]}),
    );
    let p = provider(&fake);
    assert_eq!(p.nameservers(&zone()).await.unwrap(), NAME_SERVERS);
    let err = p.nameservers(&ZoneName::new("other.test.").unwrap()).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
    let err = p.records(&ZoneName::new("other.test.").unwrap()).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
    let wrong_group = AzureProvider::new(
        "az",
        credentials(CLIENT_SECRET),
        AzureOptions {
            resource_group: "elsewhere".into(),
            ..options(&fake)
        },
    )
    .unwrap();
    let err = wrong_group.records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
}

/// Writes are conditional: a create `If-None-Match: *`, an update and a delete
/// `If-Match` with the etag just read; bodies as ARM takes them.
#[tokio::test]
async fn writes_are_conditional_on_the_etags_read() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    let www = set("www.example.test.", RecordType::A, 120, &["192.0.2.1", "192.0.2.2"]);
    p.apply(&zone(), &[Change::Create { after: www.clone() }])
        .await
        .unwrap();
    let etag = fake.set("www", "A").unwrap()["etag"].as_str().unwrap().to_string();
    let moved = set("www.example.test.", RecordType::A, 300, &["192.0.2.3"]);
    p.apply(
        &zone(),
        &[Change::Update {
            before: www,
            after: moved.clone(),
        }],
    )
    .await
    .unwrap();
    let etag2 = fake.set("www", "A").unwrap()["etag"].as_str().unwrap().to_string();
    assert_ne!(etag, etag2, "every write makes a new etag");
    p.apply(&zone(), &[Change::Delete { before: moved }]).await.unwrap();
    assert!(fake.set("www", "A").is_none());

    let writes = fake.writes();
    assert_eq!(writes.len(), 3, "{writes:?}");
    let path = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Network/dnsZones/example.test/A/www"
    );
    assert!(writes.iter().all(|w| w.path == path), "{writes:?}");
    assert_eq!(writes[0].method, "PUT");
    assert_eq!(writes[0].header("if-none-match"), Some("*"));
    assert_eq!(writes[0].header("if-match"), None);
    assert_eq!(
        writes[0].json(),
        json!({"properties": {"TTL": 120, "ARecords": [{"ipv4Address": "192.0.2.1"}, {"ipv4Address": "192.0.2.2"}]}})
    );
    assert_eq!(writes[1].header("if-match"), Some(etag.as_str()));
    assert_eq!(writes[1].header("if-none-match"), None);
    assert_eq!(writes[2].method, "DELETE");
    assert_eq!(writes[2].header("if-match"), Some(etag2.as_str()));
}

/// A set changed by someone else is a Conflict and nothing of the batch is written,
/// whether the change is seen in the read before writing or only by ARM's etag check.
#[tokio::test]
async fn a_stale_etag_is_a_conflict_and_writes_nothing() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    let www = |v: &str| set("www.example.test.", RecordType::A, 60, &[v]);
    p.apply(
        &zone(),
        &[Change::Create {
            after: www("192.0.2.1"),
        }],
    )
    .await
    .unwrap();
    let writes_before = fake.writes().len();

    // Another writer changed the set since the plan was made.
    fake.insert(
        "www",
        "A",
        json!({"TTL": 60, "ARecords": [{"ipv4Address": "192.0.2.99"}]}),
    );
    let other = set("other.example.test.", RecordType::A, 60, &["192.0.2.5"]);
    let err = p
        .apply(
            &zone(),
            &[
                Change::Create { after: other.clone() },
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
    assert_eq!(fake.writes().len(), writes_before, "nothing sent");
    assert!(fake.set("other", "A").is_none());

    // Another writer changes the set between the adapter's read and its write: the
    // etag no longer matches and ARM refuses with 412.
    let read = fake.set("www", "A").unwrap()["etag"].as_str().unwrap().to_string();
    fake.state.lock().unwrap().race_next_write = true;
    let before = www("192.0.2.99");
    let err = p
        .apply(
            &zone(),
            &[Change::Update {
                before,
                after: www("192.0.2.7"),
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("PreconditionFailed"), "{err}");
    let last = fake.writes().pop().unwrap();
    assert_eq!(
        last.header("if-match"),
        Some(read.as_str()),
        "the etag of the adapter's own read"
    );
    assert_ne!(fake.set("www", "A").unwrap()["etag"].as_str(), Some(read.as_str()));
    assert_eq!(
        fake.set("www", "A").unwrap()["properties"]["ARecords"],
        json!([{"ipv4Address": "192.0.2.99"}])
    );

    // A create over a set that appeared since the read: If-None-Match refuses it.
    let err = p
        .apply(
            &zone(),
            &[Change::Create {
                after: www("192.0.2.8"),
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
}

/// ARM writes one set per request: a failure part way reports what was written and
/// what was not, and the count of changes in order that are live.
#[tokio::test]
async fn a_batch_that_fails_midway_is_partially_applied() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    let a = set("a.example.test.", RecordType::A, 60, &["192.0.2.20"]);
    let b = set("b.example.test.", RecordType::A, 60, &["192.0.2.21"]);
    let c = set("c.example.test.", RecordType::A, 60, &["192.0.2.22"]);
    fake.state.lock().unwrap().fail_write_after = Some(1);
    let err = p
        .apply(
            &zone(),
            &[
                Change::Create { after: a },
                Change::Create { after: b },
                Change::Create { after: c },
            ],
        )
        .await
        .unwrap_err();
    match &err {
        ProviderError::PartiallyApplied { applied, message, .. } => {
            assert_eq!(*applied, 1, "{err}");
            assert!(message.contains("written: create a.example.test. A"), "{message}");
            assert!(
                message.contains("not written: create b.example.test. A, create c.example.test. A"),
                "{message}"
            );
        }
        other => panic!("expected PartiallyApplied, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(fake.set("a", "A").is_some() && fake.set("b", "A").is_none() && fake.set("c", "A").is_none());
    assert!(!p.capabilities().atomic && p.capabilities().compare_and_set);
}

/// 429 with `Retry-After` is waited out and retried; a longer one fails fast and
/// later calls send nothing until it has passed.
#[tokio::test]
async fn throttling_is_honoured() {
    let fake = fake_with_zone();
    conformance::retry_after_is_honoured(
        &provider(&fake),
        &zone(),
        &|secs| fake.state.lock().unwrap().throttle.push_back(secs),
        &|| fake.state.lock().unwrap().log.iter().map(|l| l.at).collect(),
    )
    .await;
}

/// `write_access` reads the permissions at the zone: granted by the DNS Zone
/// Contributor role, denied when a notAction or a read-only role takes writes away.
#[tokio::test]
async fn write_access_reads_the_permissions_at_the_zone() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    let access = p.write_access(&zone(), &[]).await.unwrap();
    assert!(matches!(access, WriteAccess::Granted(_)), "{access:?}");
    let read = fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/providers/Microsoft.Authorization/permissions"))
        .unwrap();
    assert!(read.path.contains("/dnsZones/example.test/"), "{}", read.path);

    fake.state.lock().unwrap().permissions = vec![json!({
        "actions": ["Microsoft.Network/dnsZones/*"], "notActions": ["Microsoft.Network/dnsZones/*/write"],
        "dataActions": [], "notDataActions": []
    })];
    match p.write_access(&zone(), &[]).await.unwrap() {
        WriteAccess::Denied(why) => assert!(why.contains("Microsoft.Network/dnsZones/A/write"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A reader role (DNS reads only) is denied every write and delete.
    fake.state.lock().unwrap().permissions = vec![json!({
        "actions": ["Microsoft.Network/dnsZones/read", "Microsoft.Network/dnsZones/recordsets/read"],
        "notActions": []
    })];
    match p.write_access(&zone(), &[]).await.unwrap() {
        WriteAccess::Denied(why) => assert!(why.contains("Microsoft.Network/dnsZones/CNAME/delete"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A custom role with exactly the per-type actions the docs list is enough.
    let mut actions = vec!["Microsoft.Network/dnsZones/read".to_string()];
    for t in ["A", "AAAA", "CNAME", "TXT", "NS"] {
        actions.push(format!("Microsoft.Network/dnsZones/{t}/write"));
        actions.push(format!("Microsoft.Network/dnsZones/{t}/delete"));
    }
    fake.state.lock().unwrap().permissions = vec![json!({"actions": actions, "notActions": []})];
    assert!(matches!(
        p.write_access(&zone(), &[]).await.unwrap(),
        WriteAccess::Granted(_)
    ));
    let err = p
        .write_access(&ZoneName::new("other.test.").unwrap(), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
}

/// MX, SRV, CAA and TXT are written as ARM's structured records and read back as the
/// same canonical values: a second plan is empty.
#[tokio::test]
async fn structured_records_round_trip() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    let desired = p.normalize(vec![
        set(
            "example.test.",
            RecordType::Mx,
            300,
            &["10 mx1.example.test.", "20 mx2.example.test."],
        ),
        set(
            "_sip._tcp.example.test.",
            RecordType::Srv,
            300,
            &["10 5 5060 sip.example.test"],
        ),
        set("example.test.", RecordType::Caa, 300, &["0 issue \"letsencrypt.org\""]),
        set(
            "txt.example.test.",
            RecordType::Txt,
            300,
            &["\"two\" \"strings\"", "plain text"],
        ),
    ]);
    let changes: Vec<Change> = desired.iter().cloned().map(|after| Change::Create { after }).collect();
    p.apply(&zone(), &changes).await.unwrap();
    assert_eq!(
        fake.set("_sip._tcp", "SRV").unwrap()["properties"]["SRVRecords"],
        json!([{"priority": 10, "weight": 5, "port": 5060, "target": "sip.example.test"}])
    );
    assert_eq!(
        fake.set("txt", "TXT").unwrap()["properties"]["TXTRecords"],
        json!([{"value": ["plain text"]}, {"value": ["two", "strings"]}])
    );
    let live = p.records(&zone()).await.unwrap();
    for want in &desired {
        assert!(live.contains(want), "{want} not read back as written: {live:?}");
    }
    assert_eq!(p.normalize(desired.clone()), desired, "normalize is idempotent");
    assert_eq!(p.apply(&zone(), &changes).await.unwrap().changes, 4);
    assert_eq!(fake.writes().len(), 4, "the same plan again sends nothing");
}

#[test]
fn the_fake_passes_the_official_azure_sdk() {
    let python = support::moto::venv_bin("python");
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let fake = FakeAzure::start_tls("example.test", &ca);
    for i in 0..7 {
        fake.insert(
            &format!("p{i}"),
            "A",
            json!({"TTL": 60, "ARecords": [{"ipv4Address": format!("192.0.2.{i}")}]}),
        );
    }
    fake.state.lock().unwrap().throttle.push_back(1);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/support/azure_sdk_check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(fake.https_url())
        .args([
            TENANT,
            CLIENT_ID,
            CLIENT_SECRET,
            SUBSCRIPTION,
            RESOURCE_GROUP,
            "example.test",
        ])
        // The SDK trusts the test's CA and nothing else; nothing leaves loopback.
        .env("REQUESTS_CA_BUNDLE", &ca_file)
        .env("SSL_CERT_FILE", &ca_file)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the SDK check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or_default()).unwrap();
    assert_eq!(seen["listed"], 9, "NS, SOA and 7 A sets: {seen}");
    assert_eq!(seen["pages"], 3, "9 sets at 3 a page: {seen}");
    assert_eq!(seen["after_delete"], 9, "{seen}");
    assert_eq!(seen["stale_etag"], "PreconditionFailed");
    assert_eq!(seen["create_twice"], "PreconditionFailed");
    assert_eq!(seen["name_servers"], json!(NAME_SERVERS));
    assert_eq!(seen["wrong_secret"], "ClientAuthenticationError");
    // What the SDK sent, as the fake saw it.
    let requests = fake.requests();
    assert!(requests
        .iter()
        .any(|r| r.path.ends_with("/.well-known/openid-configuration")));
    let create = requests
        .iter()
        .find(|r| r.method == "PUT" && r.header("if-none-match") == Some("*"))
        .expect("a create with If-None-Match");
    assert_eq!(
        create.json(),
        json!({"properties": {"TTL": 120, "ARecords": [{"ipv4Address": "192.0.2.77"}]}})
    );
    assert!(requests
        .iter()
        .filter(|r| r.method == "PUT")
        .any(|r| r.header("if-match").is_some()));
    assert!(
        requests
            .iter()
            .any(|r| r.method == "DELETE" && r.header("if-match").is_some()),
        "a conditional delete"
    );
    assert!(fake.set("sdk", "A").is_none(), "the SDK's set was deleted");
    let zone_reads = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/dnsZones/example.test"))
        .count();
    assert_eq!(zone_reads, 2, "the SDK retried the throttled read once");
}
