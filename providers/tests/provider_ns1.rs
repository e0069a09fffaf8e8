//! The NS1 adapter against `FakeNs1` (support/ns1_fake.rs), an in-process fake of the
//! published REST API v1, and the fake itself against an independent client: the
//! official `ns1-python` SDK.

mod support;

use std::time::{Duration, Instant};

use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::ns1::Ns1Options;
use dnsteer_providers::{Change, Ns1Provider, Provider, ProviderError, RecordSet, RecordType, WriteAccess, ZoneName};
use serde_json::json;
use support::conformance::{self, set, Harness, Running, WrongKey};
use support::ns1_fake::{FakeKey, FakeNs1, DNS_SERVERS, KEY, READ_ONLY_KEY};

const ZONE: &str = "example.test.";

fn zone() -> ZoneName {
    ZoneName::new(ZONE).unwrap()
}

fn options(fake: &FakeNs1) -> Ns1Options {
    Ns1Options {
        endpoint: fake.url(),
        http: HttpConfig {
            timeout: Duration::from_secs(2),
            base_backoff: Duration::from_millis(50),
            ..HttpConfig::default()
        },
    }
}

fn provider(fake: &FakeNs1, key: &str) -> Ns1Provider {
    Ns1Provider::new("ns1", key, options(fake)).unwrap()
}

/// The fake holding `example.test` with an unmanaged TXT record beside its NS record.
fn fake_with_zone() -> FakeNs1 {
    let fake = FakeNs1::start("example.test");
    fake.put("keep.example.test", "TXT", 300, json!([["unmanaged"]]));
    fake
}

/// How many requests the fake has seen that were not reads.
fn writes(fake: &FakeNs1) -> usize {
    fake.requests().iter().filter(|l| l.request.method != "GET").count()
}

fn statuses(fake: &FakeNs1) -> Vec<u16> {
    fake.requests().iter().map(|l| l.status).collect()
}

/// The conformance suite against the fake; `stop` drops it (its port then refuses).
struct Ns1(Running<FakeNs1>);

impl Ns1 {
    fn fake(&self) -> &FakeNs1 {
        self.0.get()
    }
}

impl Harness for Ns1 {
    async fn start() -> Self {
        Ns1(Running::new(fake_with_zone()))
    }

    fn provider(&self) -> Box<dyn Provider> {
        Box::new(provider(self.fake(), KEY))
    }

    /// NS1 would answer the PUT "record already exists"; the re-read refuses it first,
    /// before the good change beside it is written (NS1 has no batches to roll back).
    async fn refused_change(&self) -> Change {
        self.fake()
            .put("occupied.example.test", "A", 300, json!([["192.0.2.3"]]));
        let taken = set("occupied.example.test.", RecordType::A, 300, &["192.0.2.4"]);
        Change::Create { after: taken }
    }

    async fn wrong_key(&self) -> WrongKey {
        WrongKey::of(provider(self.fake(), "not-the-key"))
    }

    fn stop(&mut self) {
        self.0.stop();
    }
}

conformance_suite!(Ns1);

/// A batch refused by the re-read sends no write at all.
#[tokio::test]
async fn a_batch_refused_by_the_re_read_writes_nothing() {
    let h = Ns1::start().await;
    let refused = h.refused_change().await;
    conformance::refused_batch_leaves_zone_unchanged(h.provider().as_ref(), &zone(), refused).await;
    assert!(
        h.fake().requests().iter().all(|l| l.request.method == "GET"),
        "nothing was written"
    );
}

/// A wrong key is NS1's 401, reported as an auth error carrying NS1's message and
/// never the key.
#[tokio::test]
async fn a_wrong_key_is_an_auth_error_with_ns1s_message() {
    let fake = fake_with_zone();
    let err = provider(&fake, "wrong-key-123").records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("ns1") && text.contains("Unauthorized"), "{text}");
    assert!(!text.contains("wrong-key-123"), "{text}");
    assert_eq!(statuses(&fake), [401], "an auth failure is not retried");
}

#[tokio::test]
async fn requests_carry_the_key_and_follow_the_record_api() {
    let fake = fake_with_zone();
    let p = provider(&fake, KEY);
    let www = set("www.example.test.", RecordType::A, 120, &["192.0.2.1", "192.0.2.2"]);
    let moved = set("www.example.test.", RecordType::A, 300, &["192.0.2.3"]);
    p.apply(&zone(), &[Change::Create { after: www.clone() }])
        .await
        .unwrap();
    p.apply(
        &zone(),
        &[Change::Update {
            before: www,
            after: moved.clone(),
        }],
    )
    .await
    .unwrap();
    assert!(p.records(&zone()).await.unwrap().contains(&moved));
    p.apply(&zone(), &[Change::Delete { before: moved }]).await.unwrap();

    let log = fake.requests();
    for l in &log {
        assert_eq!(
            l.request.header("x-nsone-key"),
            Some(KEY),
            "{} {}",
            l.request.method,
            l.request.path
        );
    }
    let writes: Vec<_> = log.iter().filter(|l| l.request.method != "GET").collect();
    let calls: Vec<String> = writes
        .iter()
        .map(|l| format!("{} {}", l.request.method, l.request.path))
        .collect();
    assert_eq!(
        calls,
        [
            "PUT /v1/zones/example.test/www.example.test/A",
            "POST /v1/zones/example.test/www.example.test/A",
            "DELETE /v1/zones/example.test/www.example.test/A"
        ]
    );
    assert_eq!(writes[0].request.header("content-type"), Some("application/json"));
    assert_eq!(
        writes[0].request.json(),
        json!({"zone": "example.test", "domain": "www.example.test", "type": "A", "ttl": 120,
               "answers": [{"answer": ["192.0.2.1"]}, {"answer": ["192.0.2.2"]}]})
    );
    assert_eq!(
        writes[1].request.json(),
        json!({"zone": "example.test", "domain": "www.example.test", "type": "A", "ttl": 300,
               "answers": [{"answer": ["192.0.2.3"]}]})
    );
    // Each write was preceded by a re-read of just its record.
    let before_put = &log[log.iter().position(|l| l.request.method == "PUT").unwrap() - 1];
    assert_eq!(before_put.request.path, "/v1/zones/example.test/www.example.test/A");
    assert_eq!(before_put.status, 404);
    assert!(fake.record("www.example.test", "A").is_none());
}

#[tokio::test]
async fn a_set_changed_since_it_was_read_is_a_conflict_and_nothing_is_written() {
    let fake = fake_with_zone();
    let p = provider(&fake, KEY);
    let www = |v: &str| set("www.example.test.", RecordType::A, 60, &[v]);
    p.apply(
        &zone(),
        &[Change::Create {
            after: www("192.0.2.1"),
        }],
    )
    .await
    .unwrap();
    // Another writer moves it.
    fake.put("www.example.test", "A", 60, json!([["192.0.2.99"]]));
    let writes_before = writes(&fake);
    let other = set("other.example.test.", RecordType::A, 60, &["192.0.2.5"]);
    let err = p
        .apply(
            &zone(),
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
    assert!(err.to_string().contains("192.0.2.99"), "{err}");
    assert_eq!(writes(&fake), writes_before, "nothing written");
    assert!(fake.record("other.example.test", "A").is_none());
    assert_eq!(
        fake.record("www.example.test", "A").unwrap()["answers"][0]["answer"],
        json!(["192.0.2.99"])
    );
}

/// A record created between the re-read and the PUT is NS1's "record already exists":
/// a conflict, not a success.
#[tokio::test]
async fn a_put_over_a_record_that_appeared_is_a_conflict() {
    let fake = fake_with_zone();
    let p = provider(&fake, KEY);
    let raced = set("raced.example.test.", RecordType::A, 60, &["192.0.2.7"]);
    fake.state.lock().unwrap().appear_on_miss = Some(json!({
        "zone": "example.test", "domain": "raced.example.test", "type": "A", "ttl": 60,
        "answers": [{"answer": ["192.0.2.8"]}]
    }));
    let err = p.apply(&zone(), &[Change::Create { after: raced }]).await.unwrap_err();
    let last = fake.requests().pop().unwrap();
    assert_eq!((last.request.method.as_str(), last.status), ("PUT", 400));
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
}

#[tokio::test]
async fn a_write_failing_midway_is_partially_applied() {
    let fake = fake_with_zone();
    let p = provider(&fake, KEY);
    fake.state.lock().unwrap().fail_write_after = Some(1);
    let a = set("a.example.test.", RecordType::A, 60, &["192.0.2.20"]);
    let b = set("b.example.test.", RecordType::A, 60, &["192.0.2.21"]);
    let err = p
        .apply(&zone(), &[Change::Create { after: a }, Change::Create { after: b }])
        .await
        .unwrap_err();
    match &err {
        ProviderError::PartiallyApplied { applied, .. } => assert_eq!(*applied, 1, "{err}"),
        other => panic!("expected PartiallyApplied, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(fake.record("a.example.test", "A").is_some());
    assert!(fake.record("b.example.test", "A").is_none());
}

#[tokio::test]
async fn nameservers_are_the_zones_dns_servers() {
    let fake = fake_with_zone();
    // The apex NS record names another provider too: the zone's own list is what counts.
    fake.put(
        "example.test",
        "NS",
        3600,
        json!([["dns1.p01.nsone.net"], ["ns.elsewhere.test"]]),
    );
    let p = provider(&fake, KEY);
    let absolute: Vec<String> = DNS_SERVERS.iter().map(|n| format!("{n}.")).collect();
    assert_eq!(p.nameservers(&zone()).await.unwrap(), absolute);
    let err = p.nameservers(&ZoneName::new("other.test").unwrap()).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
}

/// NS1's bucket (here 4 requests per second) reported in the X-Ratelimit-* headers
/// spaces the adapter's requests at the refill rate before the bucket is empty: no 429.
#[tokio::test]
async fn the_rate_limit_headers_slow_the_adapter_down_before_a_429() {
    let fake = fake_with_zone();
    fake.set_bucket(4, Duration::from_secs(1));
    let p = provider(&fake, KEY);
    let started = Instant::now();
    for _ in 0..14 {
        p.records(&zone()).await.expect("every read succeeds");
    }
    let elapsed = started.elapsed();
    assert!(statuses(&fake).iter().all(|s| *s == 200), "{:?}", statuses(&fake));
    // 4 at once, then about one per 250 ms.
    assert!(elapsed >= Duration::from_millis(2200), "14 reads took {elapsed:?}");
    let log = fake.requests();
    let gaps: Vec<Duration> = log.windows(2).map(|w| w[1].at.duration_since(w[0].at)).collect();
    assert!(
        gaps[6..].iter().all(|g| *g >= Duration::from_millis(200)),
        "paced requests came closer than the refill: {gaps:?}"
    );
}

/// A 429 (the bucket emptied by another client of the key) waits for one token and
/// retries; a bucket that refills too slowly for one call is `RateLimited` with the
/// wait, and the next call does not knock.
#[tokio::test]
async fn a_429_waits_for_a_token_or_reports_the_wait() {
    let fake = fake_with_zone();
    fake.set_bucket(2, Duration::from_secs(1));
    // Another client of the key empties the bucket.
    dnsteer_providers::http::install_crypto_provider();
    let client = reqwest::Client::new();
    for _ in 0..3 {
        client
            .get(format!("{}/zones/example.test", fake.url()))
            .header("X-NSONE-Key", KEY)
            .send()
            .await
            .unwrap();
    }
    let p = provider(&fake, KEY);
    p.records(&zone()).await.expect("retried after the 429");
    let log = fake.requests();
    let n = log.len();
    assert_eq!(log[n - 2].status, 429, "{:?}", statuses(&fake));
    assert_eq!(log[n - 1].status, 200);
    let gap = log[n - 1].at.duration_since(log[n - 2].at);
    assert!(gap >= Duration::from_millis(450), "retried {gap:?} after the 429");

    // One token a minute: more than one call may wait.
    fake.set_bucket(1, Duration::from_secs(60));
    let other = provider(&fake, READ_ONLY_KEY);
    other.records(&zone()).await.unwrap();
    let before = fake.requests().len();
    let err = other.records(&zone()).await.unwrap_err();
    match err {
        ProviderError::RateLimited {
            retry_after: Some(after),
            ..
        } => assert!(after > Duration::from_secs(50), "{after:?}"),
        other => panic!("{other:?}"),
    }
    let again = other.records(&zone()).await.unwrap_err();
    assert!(matches!(again, ProviderError::RateLimited { .. }), "{again:?}");
    assert_eq!(
        fake.requests().len(),
        before,
        "no request while the bucket is known empty"
    );
}

#[tokio::test]
async fn write_access_is_read_from_the_keys_permissions() {
    let fake = fake_with_zone();
    let granted = provider(&fake, KEY).write_access(&zone(), &[]).await.unwrap();
    assert!(matches!(granted, WriteAccess::Granted(_)), "{granted:?}");
    let denied = provider(&fake, READ_ONLY_KEY).write_access(&zone(), &[]).await.unwrap();
    match &denied {
        WriteAccess::Denied(why) => assert!(why.contains("manage zones"), "{why}"),
        other => panic!("{other:?}"),
    }
    // And the read-only key is indeed refused a write.
    let write = provider(&fake, READ_ONLY_KEY)
        .apply(
            &zone(),
            &[Change::Create {
                after: set("ro.example.test.", RecordType::A, 60, &["192.0.2.1"]),
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(write, ProviderError::Auth { .. }), "{write:?}");

    // A key limited to other zones, and one that may not read the key list.
    let limited = "ns1-limited-key";
    let blind = "ns1-blind-key";
    {
        let mut s = fake.state.lock().unwrap();
        s.keys.insert(
            limited.into(),
            FakeKey {
                zones_allow_by_default: false,
                zones_allow: vec!["other.test".into()],
                ..FakeKey::full("limited")
            },
        );
        s.keys.insert(
            blind.into(),
            FakeKey {
                manage_apikeys: false,
                ..FakeKey::full("blind")
            },
        );
    }
    let limited = provider(&fake, limited).write_access(&zone(), &[]).await.unwrap();
    assert!(
        matches!(&limited, WriteAccess::Denied(why) if why.contains("example.test")),
        "{limited:?}"
    );
    let blind = provider(&fake, blind).write_access(&zone(), &[]).await.unwrap();
    assert!(
        matches!(&blind, WriteAccess::Unverifiable(why) if why.contains("manage API keys")),
        "{blind:?}"
    );
    let wrong = provider(&fake, "nope").write_access(&zone(), &[]).await.unwrap_err();
    assert!(matches!(wrong, ProviderError::Auth { .. }), "{wrong:?}");
}

#[tokio::test]
async fn zone_pages_are_followed() {
    let fake = fake_with_zone();
    for i in 0..11 {
        fake.put(
            &format!("h{i}.example.test"),
            "A",
            60,
            json!([[format!("192.0.2.{i}")]]),
        );
    }
    let whole = provider(&fake, KEY).records(&zone()).await.unwrap();
    fake.state.lock().unwrap().page_size = Some(4);
    let paged = provider(&fake, KEY).records(&zone()).await.unwrap();
    assert_eq!(paged, whole);
    assert_eq!(paged.len(), 13);
    let pages = fake
        .requests()
        .iter()
        .filter(|l| l.request.path == "/v1/zones/example.test")
        .count();
    assert_eq!(pages, 1 + 4, "one whole read, then 13 records at 4 a page");
}

#[tokio::test]
async fn mx_srv_caa_and_txt_round_trip() {
    let fake = fake_with_zone();
    let p = provider(&fake, KEY);
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
        set("example.test.", RecordType::Caa, 300, &["0 issue letsencrypt.org"]),
        set("txt.example.test.", RecordType::Txt, 300, &["\"two words\""]),
    ]);
    let changes: Vec<Change> = desired.iter().cloned().map(|after| Change::Create { after }).collect();
    p.apply(&zone(), &changes).await.unwrap();
    assert_eq!(
        fake.record("example.test", "MX").unwrap()["answers"][0]["answer"],
        json!([10, "mx1.example.test"])
    );
    assert_eq!(
        fake.record("_sip._tcp.example.test", "SRV").unwrap()["answers"][0]["answer"],
        json!([10, 5, 5060, "sip.example.test"])
    );
    assert_eq!(
        fake.record("txt.example.test", "TXT").unwrap()["answers"][0]["answer"],
        json!(["two words"])
    );
    let live = p.records(&zone()).await.unwrap();
    for want in &desired {
        assert!(live.contains(want), "{want} not read back: {live:?}");
    }
    assert_eq!(p.normalize(desired.clone()), desired, "normalize is idempotent");
    // The same plan again is already live: nothing more is written.
    let writes_before = writes(&fake);
    assert_eq!(p.apply(&zone(), &changes).await.unwrap().changes, 4);
    assert_eq!(writes(&fake), writes_before);
}

#[tokio::test]
async fn a_zone_ns1_does_not_hold_is_zone_not_found() {
    let fake = fake_with_zone();
    let err = provider(&fake, KEY)
        .records(&ZoneName::new("other.test.").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
}

#[test]
fn the_fake_passes_the_official_ns1_sdk() {
    let python = support::moto::venv_bin("python");
    let fake = fake_with_zone();
    fake.set_bucket(30, Duration::from_secs(300));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/support/ns1_sdk_check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(fake.server.url())
        .arg(KEY)
        .arg("example.test")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the SDK check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["dns_servers"], json!(DNS_SERVERS));
    assert_eq!(seen["records_at_start"], 2, "the apex NS and keep");
    assert_eq!(seen["create_twice"], "server error: record already exists");
    assert_eq!(seen["after_delete"], "server error: record not found");
    assert_eq!(seen["update_missing"], "server error: record not found");
    assert_eq!(seen["other_zone"], "server error: zone not found");
    assert_eq!(seen["short_mx"], json!(["10 mx1.example.test", "20 mx2.example.test"]));
    assert_eq!(seen["manage_zones"], true);
    assert_eq!(seen["wrong_key"], "AuthException");
    assert_eq!(seen["rate_limited"]["remaining"], 0);
    assert_eq!(seen["rate_limited"]["limit"], 30);
    assert_eq!(seen["rate_limited"]["period"], 300);
    assert_eq!(seen["rate_headers"]["limit"], 30);
    // What the SDK sent, as the fake saw it.
    let log = fake.requests();
    let create = log
        .iter()
        .find(|l| l.request.method == "PUT" && l.request.path.ends_with("/sdk.example.test/A"))
        .unwrap();
    assert_eq!(
        create.request.json(),
        json!({"zone": "example.test", "domain": "sdk.example.test", "type": "A", "ttl": 120,
               "answers": [{"answer": ["192.0.2.77"]}, {"answer": ["192.0.2.78"]}]})
    );
    assert!(log.iter().any(|l| l.request.method == "POST" && l.status == 200));
    assert!(log.iter().any(|l| l.status == 429));
    assert!(fake.record("sdk.example.test", "A").is_none());
    // Answer metadata and the filter chain, as the SDK sent them and read them back.
    assert_eq!(
        seen["weighted_filters"],
        json!([{"filter": "up", "config": {}}, {"filter": "weighted_shuffle", "config": {}},
               {"filter": "select_first_n", "config": {"N": 1}}])
    );
    assert_eq!(
        seen["weighted_meta"],
        json!([{"weight": 3, "up": true, "note": "dnsteer-set=east"},
               {"weight": 1, "up": true, "note": "dnsteer-set=west"}])
    );
    assert_eq!(
        seen["weighted_meta_after_update"][1],
        json!({"up": false, "note": "dnsteer-set=west"})
    );
    assert_eq!(seen["weighted_tier"], 3);
    assert!(seen["bad_weight"].as_str().unwrap().contains("weight"), "{seen}");
}

fn pool(name: &str, value: &str, weight: u32) -> RecordSet {
    set("www.example.test.", RecordType::A, 30, &[value]).weighted(name, weight)
}

/// The answers of one NS1 record as (value, meta), in NS1's order.
fn answers(fake: &FakeNs1, domain: &str) -> Vec<(String, serde_json::Value)> {
    fake.record(domain, "A").unwrap()["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["answer"][0].as_str().unwrap().to_string(), a["meta"].clone()))
        .collect()
}

/// The fake with www A written as two weighted sets: us-east at 3, eu-west at 1.
async fn weighted_www() -> (FakeNs1, Ns1Provider, RecordSet, RecordSet) {
    let fake = fake_with_zone();
    let p = provider(&fake, KEY);
    let east = pool("us-east", "192.0.2.10", 3);
    let west = pool("eu-west", "192.0.2.20", 1);
    let creates = [
        Change::Create { after: east.clone() },
        Change::Create { after: west.clone() },
    ];
    p.apply(&zone(), &creates).await.unwrap();
    (fake, p, east, west)
}

#[tokio::test]
async fn weighted_sets_are_one_record_with_answer_weights_and_read_back() {
    let (fake, p, east, west) = weighted_www().await;
    assert!(p.capabilities().native_weights);
    // One record, written once, both sets' answers marked and weighed.
    let puts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|l| l.request.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 1, "one PUT for the record");
    let record = fake.record("www.example.test", "A").unwrap();
    assert_eq!(
        record["filters"],
        json!([{"filter": "up", "config": {}}, {"filter": "weighted_shuffle", "config": {}},
               {"filter": "select_first_n", "config": {"N": 1}}])
    );
    let mut got = answers(&fake, "www.example.test");
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            (
                "192.0.2.10".to_string(),
                json!({"note": "dnsteer-set=us-east", "up": true, "weight": 3})
            ),
            (
                "192.0.2.20".to_string(),
                json!({"note": "dnsteer-set=eu-west", "up": true, "weight": 1})
            ),
        ]
    );
    // Read back through the zone listing: one weighted set per marker.
    let live = p.records(&zone()).await.unwrap();
    let www: Vec<_> = live.iter().filter(|s| s.name == "www.example.test.").cloned().collect();
    let mut want = vec![east, west];
    want.sort();
    assert_eq!(www, want);
    // A record without markers stays a plain set.
    assert!(live
        .iter()
        .any(|s| s.name == "keep.example.test." && s.set_id.is_none() && s.weight.is_none()));
}

#[tokio::test]
async fn a_pool_at_weight_zero_is_down_and_only_its_answers_change() {
    let (fake, p, east, west) = weighted_www().await;
    let east_before = answers(&fake, "www.example.test")
        .into_iter()
        .find(|a| a.0 == "192.0.2.10")
        .unwrap();
    let west_down = pool("eu-west", "192.0.2.20", 0);
    p.apply(
        &zone(),
        &[Change::Update {
            before: west,
            after: west_down.clone(),
        }],
    )
    .await
    .unwrap();
    let posts = fake
        .requests()
        .into_iter()
        .filter(|l| l.request.method == "POST")
        .count();
    assert_eq!(posts, 1, "one update of the record");
    let now = answers(&fake, "www.example.test");
    assert!(now.contains(&east_before), "us-east untouched: {now:?}");
    let west_now = now.iter().find(|a| a.0 == "192.0.2.20").unwrap();
    assert_eq!(west_now.1, json!({"note": "dnsteer-set=eu-west", "up": false}));
    let live: Vec<_> = p
        .records(&zone())
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "www.example.test.")
        .collect();
    let mut want = vec![east, west_down];
    want.sort();
    assert_eq!(live, want, "weight 0 reads back as 0");
}

#[tokio::test]
async fn a_stale_weight_is_a_conflict_and_nothing_is_written() {
    let (fake, p, east, west) = weighted_www().await;
    // Another writer sets eu-west's weight to 5.
    let marked = |ip: &str, set: &str, w: u32| json!({"answer": [ip], "meta": {"weight": w, "up": true, "note": format!("dnsteer-set={set}")}});
    fake.put_record(json!({
        "zone": "example.test", "domain": "www.example.test", "type": "A", "ttl": 30,
        "answers": [marked("192.0.2.10", "us-east", 3), marked("192.0.2.20", "eu-west", 5)],
        "filters": [{"filter": "weighted_shuffle", "config": {}}, {"filter": "select_first_n", "config": {"N": 1}}]
    }));
    let before = fake.record("www.example.test", "A").unwrap();
    let writes_before = writes(&fake);
    let err = p
        .apply(
            &zone(),
            &[
                Change::Update {
                    before: east,
                    after: pool("us-east", "192.0.2.10", 2),
                },
                Change::Update {
                    before: west,
                    after: pool("eu-west", "192.0.2.20", 0),
                },
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("eu-west weight 5"), "{err}");
    assert_eq!(writes(&fake), writes_before, "nothing written");
    assert_eq!(fake.record("www.example.test", "A").unwrap(), before);
}

#[tokio::test]
async fn deleting_every_set_deletes_the_record_and_one_set_leaves_the_rest() {
    let (fake, p, east, west) = weighted_www().await;
    p.apply(&zone(), &[Change::Delete { before: west }]).await.unwrap();
    assert_eq!(answers(&fake, "www.example.test").len(), 1);
    p.apply(&zone(), &[Change::Delete { before: east }]).await.unwrap();
    assert!(fake.record("www.example.test", "A").is_none());
}
