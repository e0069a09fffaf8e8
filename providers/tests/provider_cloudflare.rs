//! The Cloudflare adapter against `FakeCloudflare` (support/cloudflare_fake.rs), an
//! in-process fake of the published API v4, and the fake itself against an independent
//! client: the official `cloudflare` Python SDK.

mod support;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dnsteer_providers::cloudflare::CloudflareOptions;
use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::{
    Change, CloudflareProvider, Provider, ProviderError, RecordSet, RecordType, WriteAccess, ZoneName,
};
use serde_json::json;
use support::cloudflare_fake::{FakeCloudflare, TOKEN, ZONE_ID};
use support::conformance::{self, set, Harness, Running, WrongKey};

const ZONE: &str = "example.test.";

fn zone() -> ZoneName {
    ZoneName::new(ZONE).unwrap()
}

fn options(fake: &FakeCloudflare) -> CloudflareOptions {
    CloudflareOptions {
        endpoint: fake.url(),
        http: HttpConfig {
            timeout: Duration::from_secs(2),
            base_backoff: Duration::from_millis(50),
            ..HttpConfig::default()
        },
        ..CloudflareOptions::default()
    }
}

fn provider(fake: &FakeCloudflare, token: &str) -> CloudflareProvider {
    CloudflareProvider::new("cf", token, options(fake)).unwrap()
}

/// The fake holding `example.test` with an unmanaged TXT record beside its NS set.
fn fake_with_zone() -> FakeCloudflare {
    let fake = FakeCloudflare::start("example.test");
    fake.insert(json!({"name": "keep.example.test", "type": "TXT", "content": "\"unmanaged\"", "ttl": 300}));
    fake
}

/// The conformance suite against the fake; `stop` drops it (its port then refuses).
struct Cloudflare(Running<FakeCloudflare>);

impl Cloudflare {
    fn fake(&self) -> &FakeCloudflare {
        self.0.get()
    }
}

impl Harness for Cloudflare {
    async fn start() -> Self {
        Cloudflare(Running::new(fake_with_zone()))
    }

    fn provider(&self) -> Box<dyn Provider> {
        Box::new(provider(self.fake(), TOKEN))
    }

    /// Cloudflare refuses a CNAME beside an A record (81053); the batch is one transaction.
    async fn refused_change(&self) -> Change {
        self.fake()
            .insert(json!({"name": "occupied.example.test", "type": "A", "content": "192.0.2.3", "ttl": 300}));
        let cname = set("occupied.example.test.", RecordType::Cname, 300, &["elsewhere.test."]);
        Change::Create { after: cname }
    }

    async fn wrong_key(&self) -> WrongKey {
        WrongKey::of(provider(self.fake(), "not-the-token"))
    }

    fn stop(&mut self) {
        self.0.stop();
    }

    /// Another client adds a record to the set, straight into the fake's store.
    async fn change_behind(&self, set: &RecordSet) {
        let name = set.name.trim_end_matches('.');
        let record = json!({"name": name, "type": set.rtype.as_str(), "content": "192.0.2.99", "ttl": set.ttl});
        self.fake().insert(record);
    }
}

conformance_suite!(Cloudflare);

#[tokio::test]
async fn requests_carry_the_token_and_batch_bodies_follow_the_api() {
    let fake = fake_with_zone();
    let p = provider(&fake, TOKEN);
    let www = set("www.example.test.", RecordType::A, 120, &["192.0.2.1", "192.0.2.2"]);
    p.apply(&zone(), &[Change::Create { after: www.clone() }])
        .await
        .unwrap();
    let ids: Vec<String> = fake
        .records("www.example.test", "A")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let moved = set("www.example.test.", RecordType::A, 300, &["192.0.2.2", "192.0.2.3"]);
    p.apply(
        &zone(),
        &[Change::Update {
            before: www,
            after: moved,
        }],
    )
    .await
    .unwrap();

    let requests = fake.requests();
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{} {}",
            r.method,
            r.path
        );
    }
    // The zone was looked up by name, once.
    let lookups: Vec<_> = requests.iter().filter(|r| r.path == "/client/v4/zones").collect();
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].query_param("name"), Some("example.test"));
    // Reads page explicitly.
    let list = requests
        .iter()
        .find(|r| r.path.ends_with("/dns_records") && r.method == "GET")
        .unwrap();
    assert_eq!(list.query_param("page"), Some("1"));
    assert_eq!(list.query_param("per_page"), Some("500"));

    let batches: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/dns_records/batch"))
        .collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].method, "POST");
    assert_eq!(batches[0].path, format!("/client/v4/zones/{ZONE_ID}/dns_records/batch"));
    assert_eq!(batches[0].header("content-type"), Some("application/json"));
    assert_eq!(
        batches[0].json(),
        json!({"posts": [
            {"name": "www.example.test", "type": "A", "content": "192.0.2.1", "ttl": 120, "proxied": false},
            {"name": "www.example.test", "type": "A", "content": "192.0.2.2", "ttl": 120, "proxied": false}
        ]})
    );
    // The update: .1 goes, .3 comes, .2 stays with its TTL patched.
    let (id1, id2) = (&ids[0], &ids[1]);
    assert_eq!(
        batches[1].json(),
        json!({
            "deletes": [{"id": id1}],
            "patches": [{"id": id2, "ttl": 300}],
            "posts": [{"name": "www.example.test", "type": "A", "content": "192.0.2.3", "ttl": 300, "proxied": false}]
        })
    );
    let live = p.records(&zone()).await.unwrap();
    assert!(live.contains(&set(
        "www.example.test.",
        RecordType::A,
        300,
        &["192.0.2.2", "192.0.2.3"]
    )));
}

#[tokio::test]
async fn pagination_reads_every_page() {
    let fake = fake_with_zone();
    for i in 0..23 {
        fake.insert(
            json!({"name": format!("h{i}.example.test"), "type": "A", "content": format!("192.0.2.{i}"), "ttl": 60}),
        );
    }
    let small = CloudflareProvider::new(
        "cf",
        TOKEN,
        CloudflareOptions {
            per_page: 5,
            ..options(&fake)
        },
    )
    .unwrap();
    let paged = small.records(&zone()).await.unwrap();
    assert_eq!(paged, provider(&fake, TOKEN).records(&zone()).await.unwrap());
    assert_eq!(paged.iter().filter(|s| s.name.starts_with('h')).count(), 23);
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/dns_records") && r.query_param("per_page") == Some("5"))
        .count();
    assert_eq!(pages, 6, "27 records at 5 a page");
}

#[tokio::test]
async fn proxied_records_keep_their_flag_and_their_automatic_ttl_converges() {
    let fake = fake_with_zone();
    fake.insert(json!({"name": "www.example.test", "type": "A", "content": "192.0.2.1", "ttl": 1, "proxied": true}));
    let p = provider(&fake, TOKEN);
    let live = p.records(&zone()).await.unwrap();
    let www = live
        .iter()
        .find(|s| s.name == "www.example.test." && s.rtype == RecordType::A)
        .unwrap()
        .clone();
    assert_eq!(www.ttl, 1, "proxied records are TTL 1, automatic");
    // The configuration says 30 s: for a proxied set Cloudflare keeps "automatic". What
    // says so is the live read passed in, not which zone this adapter read last.
    let wanted = set("www.example.test.", RecordType::A, 30, &["198.51.100.10"]);
    assert_eq!(p.normalize(vec![wanted.clone()])[0].ttl, 60, "no live set: not proxied");
    p.records(&ZoneName::new("other.test.").unwrap()).await.ok();
    let desired = p.normalize_for(vec![wanted], &live).remove(0);
    assert_eq!(desired.ttl, 1);
    p.apply(
        &zone(),
        &[Change::Update {
            before: www,
            after: desired.clone(),
        }],
    )
    .await
    .unwrap();
    let records = fake.records("www.example.test", "A");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["content"], "198.51.100.10");
    assert_eq!(
        records[0]["proxied"], true,
        "the new record is proxied like the one it replaced"
    );
    let batch = fake
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/batch"))
        .unwrap()
        .json();
    assert!(batch.get("patches").is_none(), "{batch}");
    assert_eq!(batch["posts"][0]["proxied"], true);
    // A plan after the apply is empty.
    let live = p.records(&zone()).await.unwrap();
    assert!(live.contains(&desired), "{live:?}");
}

#[tokio::test]
async fn automatic_ttl_one_converges_and_low_ttls_are_raised() {
    let fake = fake_with_zone();
    let p = provider(&fake, TOKEN);
    let wanted = p.normalize(vec![
        set("auto.example.test.", RecordType::A, 1, &["192.0.2.1"]),
        set("low.example.test.", RecordType::A, 30, &["192.0.2.2"]),
        set("high.example.test.", RecordType::A, 604_800, &["192.0.2.3"]),
    ]);
    assert_eq!(wanted.iter().map(|s| s.ttl).collect::<Vec<_>>(), vec![1, 60, 86_400]);
    let changes: Vec<Change> = wanted.iter().cloned().map(|after| Change::Create { after }).collect();
    p.apply(&zone(), &changes).await.unwrap();
    let live = p.records(&zone()).await.unwrap();
    for w in &wanted {
        assert!(live.contains(w), "{w} not read back as written");
    }
    // The same plan again changes nothing.
    assert_eq!(p.apply(&zone(), &changes).await.unwrap().changes, 3);
    assert_eq!(fake.requests().iter().filter(|r| r.path.ends_with("/batch")).count(), 1);
}

#[tokio::test]
async fn mx_priorities_round_trip() {
    let fake = fake_with_zone();
    let p = provider(&fake, TOKEN);
    let mx = set(
        "example.test.",
        RecordType::Mx,
        300,
        &["10 mx1.example.test.", "20 mx2.example.test."],
    );
    p.apply(&zone(), &[Change::Create { after: mx.clone() }]).await.unwrap();
    let stored = fake.records("example.test", "MX");
    assert!(
        stored
            .iter()
            .any(|r| r["content"] == "mx1.example.test" && r["priority"] == 10),
        "{stored:?}"
    );
    assert!(p.records(&zone()).await.unwrap().contains(&mx));
}

#[tokio::test]
async fn without_the_batch_endpoint_changes_go_one_record_at_a_time_in_plan_order() {
    let fake = fake_with_zone();
    fake.state.lock().unwrap().batch_available = false;
    fake.insert(json!({"name": "old.example.test", "type": "A", "content": "192.0.2.9", "ttl": 60}));
    let p = provider(&fake, TOKEN);
    let old = set("old.example.test.", RecordType::A, 60, &["192.0.2.9"]);
    let new = set("new.example.test.", RecordType::A, 60, &["192.0.2.10", "192.0.2.11"]);
    p.apply(
        &zone(),
        &[Change::Delete { before: old }, Change::Create { after: new.clone() }],
    )
    .await
    .unwrap();
    let writes: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(writes.len(), 4, "{writes:?}");
    assert_eq!(writes[0], "POST batch", "the batch endpoint is tried first");
    assert!(writes[1].starts_with("DELETE "), "{writes:?}");
    assert_eq!(&writes[2..], ["POST dns_records", "POST dns_records"]);
    assert!(p.records(&zone()).await.unwrap().contains(&new));

    // Later applies go straight to single calls; a failure part way says how far it got.
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
    assert_eq!(fake.requests().iter().filter(|r| r.path.ends_with("/batch")).count(), 1);
    assert_eq!(fake.records("a.example.test", "A").len(), 1);
    assert!(fake.records("b.example.test", "A").is_empty());
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let fake = fake_with_zone();
    conformance::retry_after_is_honoured(
        &provider(&fake, TOKEN),
        &zone(),
        &|secs| fake.state.lock().unwrap().throttle.push_back(secs),
        &|| fake.state.lock().unwrap().log.iter().map(|l| l.at).collect(),
    )
    .await;
}

#[tokio::test]
async fn a_burst_of_plans_never_exceeds_the_token_budget() {
    let fake = fake_with_zone();
    // A budget of 12 requests per 2 s (Cloudflare's is 1,200 per 5 minutes, the same
    // shape), shared by two adapters on the same token.
    let opts = CloudflareOptions {
        budget: NonZeroU32::new(12).unwrap(),
        budget_window: Duration::from_secs(2),
        ..options(&fake)
    };
    let a = Arc::new(CloudflareProvider::new("cf-a", TOKEN, opts.clone()).unwrap());
    let b = Arc::new(CloudflareProvider::new("cf-b", TOKEN, opts).unwrap());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let p = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let rs = set(&format!("burst{i}.example.test."), RecordType::A, 60, &["192.0.2.1"]);
            p.records(&zone()).await.unwrap();
            p.apply(&zone(), &[Change::Create { after: rs }]).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let times: Vec<Instant> = fake.state.lock().unwrap().log.iter().map(|l| l.at).collect();
    assert!(times.len() >= 26, "{} requests", times.len());
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_millis(1950))
            .count();
        assert!(
            in_window <= 12,
            "{in_window} requests within one budget window from request {i}"
        );
    }
}

#[tokio::test]
async fn zone_by_configured_id_or_not_found() {
    let fake = fake_with_zone();
    let by_id = CloudflareProvider::new(
        "cf",
        TOKEN,
        CloudflareOptions {
            zone_id: Some(ZONE_ID.into()),
            ..options(&fake)
        },
    )
    .unwrap();
    assert!(!by_id.records(&zone()).await.unwrap().is_empty());
    assert!(
        fake.requests().iter().all(|r| r.path != "/client/v4/zones"),
        "no lookup with a configured id"
    );
    let err = provider(&fake, TOKEN)
        .records(&ZoneName::new("other.test.").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
    let wrong_id = CloudflareProvider::new(
        "cf",
        TOKEN,
        CloudflareOptions {
            zone_id: Some("0".repeat(32)),
            ..options(&fake)
        },
    )
    .unwrap();
    let err = wrong_id.records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
}

#[test]
fn the_fake_passes_the_official_cloudflare_sdk() {
    let python = support::moto::venv_bin("python");
    let fake = fake_with_zone();
    for i in 0..7 {
        fake.insert(
            json!({"name": format!("p{i}.example.test"), "type": "A", "content": format!("192.0.2.{i}"), "ttl": 60}),
        );
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/support/cloudflare_sdk_check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(fake.url())
        .arg(TOKEN)
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
    assert_eq!(seen["zone_id"], ZONE_ID);
    assert_eq!(seen["listed"], 10, "2 NS + keep + 7 records, over pages of 5");
    assert_eq!(seen["after_delete"], 10);
    assert_eq!(seen["not_found_code"], 81044);
    assert_eq!(seen["wrong_token"], "PermissionDeniedError");
    // What the SDK sent, as the fake saw it.
    let requests = fake.requests();
    let create = requests
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/dns_records"))
        .unwrap();
    assert_eq!(
        create.json(),
        json!({"name": "sdk.example.test", "type": "A", "content": "192.0.2.77", "ttl": 120, "proxied": false})
    );
    assert_eq!(create.header("content-type"), Some("application/json"));
    assert!(requests.iter().any(|r| r.method == "PATCH"));
    assert!(fake.records("sdk.example.test", "A").is_empty() && fake.records("batch.example.test", "TXT").is_empty());
}

/// Nameservers the configuration omits are those Cloudflare assigned the zone (Zone
/// Details' `name_servers`).
#[tokio::test]
async fn nameservers_are_the_assigned_ones() {
    let fake = fake_with_zone();
    let p = provider(&fake, TOKEN);
    assert_eq!(
        p.nameservers(&zone()).await.unwrap(),
        ["ada.ns.cloudflare.com.", "bob.ns.cloudflare.com."],
        "absolute names, as every adapter gives them"
    );
}

/// SRV and CAA are written as their components (`data`) and read back from them: an
/// apply then a re-read is the desired set, and a second plan is empty.
#[tokio::test]
async fn srv_and_caa_are_written_as_components() {
    let fake = fake_with_zone();
    let p = provider(&fake, TOKEN);
    let srv = set(
        "_sip._tcp.example.test.",
        RecordType::Srv,
        300,
        &["10 5 5060 sip.example.test.", "20 0 5060 backup.example.test"],
    );
    let caa = set(
        "example.test.",
        RecordType::Caa,
        300,
        &["0 issue \"letsencrypt.org\"", "0 iodef mailto:ops@example.test"],
    );
    let desired = p.normalize(vec![srv, caa]);
    let changes: Vec<Change> = desired.iter().cloned().map(|after| Change::Create { after }).collect();
    p.apply(&zone(), &changes).await.unwrap();

    let stored = fake.records("_sip._tcp.example.test", "SRV");
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored
            .iter()
            .any(|r| r["data"] == json!({"priority": 10, "weight": 5, "port": 5060, "target": "sip.example.test"})),
        "{stored:?}"
    );
    let live = p.records(&zone()).await.unwrap();
    for want in &desired {
        let got = live
            .iter()
            .find(|s| s.key() == want.key())
            .unwrap_or_else(|| panic!("{want:?} not read"));
        assert_eq!(got.values, want.values);
    }
    let again = p.normalize(desired.clone());
    assert_eq!(again, desired, "normalize is idempotent");
    assert_eq!(
        desired[0].values,
        ["10 5 5060 sip.example.test.", "20 0 5060 backup.example.test."]
    );
    assert_eq!(
        desired[1].values,
        ["0 iodef \"mailto:ops@example.test\"", "0 issue \"letsencrypt.org\""]
    );
}

/// Cloudflare shows a token's permissions only to a token that may read API tokens,
/// and has no dry run: `write_access` says so (naming the permission to grant) and
/// sends nothing.
#[tokio::test]
async fn write_access_is_unverifiable_and_sends_nothing() {
    let fake = fake_with_zone();
    let p = provider(&fake, TOKEN);
    let sent = fake.requests().len();
    let www = (zone().absolute("www").unwrap(), RecordType::A);
    match p.write_access(&zone(), &[www]).await.unwrap() {
        WriteAccess::Unverifiable(why) => assert!(why.contains("DNS: Edit"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests().len(), sent, "nothing sent");
}
