//! The Google Cloud DNS adapter against `FakeGoogle` (support/google_fake.rs), an
//! in-process fake of the published API v1 and its OAuth2 token endpoint, and the fake
//! itself against an independent client: the official `google-cloud-dns` Python SDK.

mod support;

use std::time::Duration;

use dnsteer_providers::google::GoogleOptions;
use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::{Change, GoogleProvider, Provider, ProviderError, RecordType, WriteAccess, ZoneName};
use serde_json::json;
use support::conformance::{self, set, Harness, Running, WrongKey};
use support::google_fake::{FakeGoogle, TestKey, NAME_SERVERS, PROJECT};

const ZONE: &str = "example.test.";

fn zone() -> ZoneName {
    ZoneName::new(ZONE).unwrap()
}

fn options(fake: &FakeGoogle) -> GoogleOptions {
    GoogleOptions {
        endpoint: fake.url(),
        poll_interval: Duration::from_millis(20),
        change_timeout: Duration::from_secs(5),
        http: conformance::fast_http(),
        ..GoogleOptions::default()
    }
}

fn provider(fake: &FakeGoogle) -> GoogleProvider {
    GoogleProvider::new("gdns", &fake.key_json(), options(fake)).unwrap()
}

/// The fake holding `example.test.` with an unmanaged TXT set beside its NS and SOA.
fn fake_with_zone() -> FakeGoogle {
    let fake = FakeGoogle::start(ZONE);
    fake.insert("keep.example.test.", "TXT", 300, &["\"unmanaged\""]);
    fake
}

/// The requests to one DNS path (after `/dns/v1/projects/{project}`).
fn calls(fake: &FakeGoogle, method: &str, suffix: &str) -> Vec<support::http_fake::Request> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.starts_with("/dns/v1/") && r.path.ends_with(suffix))
        .collect()
}

/// The conformance suite against the fake; `stop` drops it (its port then refuses).
struct Google(Running<FakeGoogle>);

impl Google {
    fn fake(&self) -> &FakeGoogle {
        self.0.get()
    }
}

impl Harness for Google {
    async fn start() -> Self {
        Google(Running::new(fake_with_zone()))
    }

    fn provider(&self) -> Box<dyn Provider> {
        Box::new(provider(self.fake()))
    }

    /// Google refuses a CNAME beside another type; the change is all or nothing.
    async fn refused_change(&self) -> Change {
        self.fake().insert("occupied.example.test.", "A", 300, &["192.0.2.3"]);
        let cname = set("occupied.example.test.", RecordType::Cname, 300, &["elsewhere.test."]);
        Change::Create { after: cname }
    }

    async fn wrong_key(&self) -> WrongKey {
        let stranger = TestKey::stranger().key_json(&self.fake().token_uri());
        WrongKey::of(GoogleProvider::new("gdns", &stranger, options(self.fake())).unwrap())
    }

    fn stop(&mut self) {
        self.0.stop();
    }
}

conformance_suite!(Google);

/// A wrong key is refused at the token endpoint, which says why, and no DNS call goes
/// out without a token.
#[tokio::test]
async fn a_wrong_key_is_refused_at_the_token_endpoint() {
    let fake = fake_with_zone();
    let stranger = TestKey::stranger().key_json(&fake.token_uri());
    let wrong = GoogleProvider::new("gdns", &stranger, options(&fake)).unwrap();
    let err = wrong.records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    assert!(fake.requests().iter().all(|r| r.path == "/token"));
}

#[test]
fn a_key_that_is_not_a_service_account_key_is_refused_when_built() {
    let fake = fake_with_zone();
    let not_json = GoogleProvider::new("gdns", "s3cr3t-not-json", options(&fake)).unwrap_err();
    assert!(matches!(not_json, ProviderError::Auth { .. }), "{not_json:?}");
    assert!(
        !not_json.to_string().contains("s3cr3t"),
        "the key's text is never shown: {not_json}"
    );
    let bad_pem = json!({"type": "service_account", "project_id": PROJECT, "client_email": "a@b.test",
        "private_key": "-----BEGIN PRIVATE KEY-----\nczNjcjN0\n-----END PRIVATE KEY-----\n"});
    let err = GoogleProvider::new("gdns", &bad_pem.to_string(), options(&fake)).unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert!(!err.to_string().contains("czNjcjN0"), "{err}");
    let user = json!({"type": "authorized_user", "client_email": "a@b.test", "private_key": "x"});
    let err = GoogleProvider::new("gdns", &user.to_string(), options(&fake)).unwrap_err();
    assert!(err.to_string().contains("not a service-account key"), "{err}");
    // Nothing was sent: a bad key is found before any request.
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn requests_carry_a_token_from_the_jwt_exchange_and_changes_follow_the_api() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    let mail = set("mail.example.test.", RecordType::Mx, 300, &["10 mx.example.test."]);
    p.apply(&zone(), &[Change::Create { after: mail }]).await.unwrap();
    // Another writer made `www`; dnsteer read it and moves it.
    fake.insert("www.example.test.", "A", 120, &["192.0.2.1", "192.0.2.2"]);
    let read = p.records(&zone()).await.unwrap();
    let www = read.iter().find(|s| s.name == "www.example.test.").unwrap().clone();
    let after = set("www.example.test.", RecordType::A, 300, &["192.0.2.2", "192.0.2.3"]);
    p.apply(&zone(), &[Change::Update { before: www, after }])
        .await
        .unwrap();

    let requests = fake.requests();
    // One token, asked first, used by every DNS call.
    let tokens: Vec<_> = requests.iter().filter(|r| r.path == "/token").collect();
    assert_eq!(tokens.len(), 1, "the token is cached");
    assert_eq!(requests[0].path, "/token");
    assert_eq!(
        tokens[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    for r in requests.iter().filter(|r| r.path != "/token") {
        assert_eq!(
            r.header("authorization"),
            Some("Bearer ya29.fake-1"),
            "{} {}",
            r.method,
            r.path
        );
    }
    // The zone was found by its DNS name, once.
    let lookups = calls(&fake, "GET", "/managedZones");
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].path, format!("/dns/v1/projects/{PROJECT}/managedZones"));
    assert_eq!(lookups[0].query_param("dnsName"), Some(ZONE));
    // An update is the exact live set deleted and the new one added, in one change.
    let creates = calls(&fake, "POST", "/managedZones/example-test/changes");
    assert_eq!(creates.len(), 2);
    assert_eq!(
        creates[1].json(),
        json!({
            "additions": [{"name": "www.example.test.", "type": "A", "ttl": 300, "rrdatas": ["192.0.2.2", "192.0.2.3"]}],
            "deletions": [{"name": "www.example.test.", "type": "A", "ttl": 120, "rrdatas": ["192.0.2.1", "192.0.2.2"]}],
        })
    );
    // Each change was polled until done.
    assert_eq!(calls(&fake, "GET", "/changes/1").len(), 1);
    assert_eq!(calls(&fake, "GET", "/changes/2").len(), 1);
    assert_eq!(
        fake.rrset("www.example.test.", "A").unwrap()["rrdatas"],
        json!(["192.0.2.2", "192.0.2.3"])
    );
}

#[tokio::test]
async fn a_stale_deletion_is_a_conflict_and_writes_nothing() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    let read = set("www.example.test.", RecordType::A, 60, &["192.0.2.1"]);
    p.apply(&zone(), &[Change::Create { after: read.clone() }])
        .await
        .unwrap();
    // Another writer moves the set after we read it.
    {
        let mut s = fake.state.lock().unwrap();
        let at = s.rrsets.iter().position(|r| r["name"] == "www.example.test.").unwrap();
        s.rrsets[at]["rrdatas"] = json!(["192.0.2.9"]);
    }
    let changes_before = fake.state.lock().unwrap().changes.len();
    let elsewhere = set("other.example.test.", RecordType::A, 60, &["192.0.2.5"]);
    let err = p
        .apply(
            &zone(),
            &[
                Change::Create { after: elsewhere },
                Change::Update {
                    before: read,
                    after: set("www.example.test.", RecordType::A, 60, &["192.0.2.2"]),
                },
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
    assert!(
        err.to_string().contains("412"),
        "Google's answer is in the message: {err}"
    );
    assert_eq!(
        fake.state.lock().unwrap().changes.len(),
        changes_before,
        "no change recorded"
    );
    assert_eq!(
        fake.rrset("www.example.test.", "A").unwrap()["rrdatas"],
        json!(["192.0.2.9"])
    );
    assert!(
        fake.rrset("other.example.test.", "A").is_none(),
        "the change beside it was not applied"
    );

    // A deletion of a set that is already gone (Google's 404 on the deletion) is done,
    // not a missing zone, and sends nothing more.
    let gone = set("gone.example.test.", RecordType::A, 60, &["192.0.2.7"]);
    p.apply(&zone(), &[Change::Delete { before: gone }])
        .await
        .expect("already deleted");
    assert_eq!(fake.state.lock().unwrap().changes.len(), changes_before);
}

/// A set another tool wrote in another spelling is deleted as Google holds it: a
/// deletion must match exactly.
#[tokio::test]
async fn a_set_spelled_otherwise_is_deleted_as_stored() {
    let fake = fake_with_zone();
    fake.insert("v6.example.test.", "AAAA", 60, &["2001:DB8:0::1", "2001:db8::2"]);
    let p = provider(&fake);
    let live = p.records(&zone()).await.unwrap();
    let v6 = live.iter().find(|s| s.name == "v6.example.test.").unwrap().clone();
    assert_eq!(v6.values, ["2001:db8::1", "2001:db8::2"], "read normalised");
    let after = set("v6.example.test.", RecordType::Aaaa, 60, &["2001:db8::3"]);
    p.apply(&zone(), &[Change::Update { before: v6, after }]).await.unwrap();
    assert_eq!(
        fake.rrset("v6.example.test.", "AAAA").unwrap()["rrdatas"],
        json!(["2001:db8::3"])
    );
    let sent = calls(&fake, "POST", "/changes");
    assert_eq!(
        sent[0].json()["deletions"][0]["rrdatas"],
        json!(["2001:DB8:0::1", "2001:db8::2"])
    );
}

#[tokio::test]
async fn paging_reads_every_set() {
    let fake = fake_with_zone();
    for i in 0..10 {
        fake.insert(&format!("p{i}.example.test."), "A", 60, &[&format!("192.0.2.{i}")]);
    }
    let p = provider(&fake);
    let sets = p.records(&zone()).await.unwrap();
    // NS, SOA, keep, and ten more, over pages of at most three.
    assert_eq!(sets.len(), 13, "{sets:?}");
    for i in 0..10 {
        assert!(
            sets.iter().any(|s| s.name == format!("p{i}.example.test.")),
            "p{i} missing"
        );
    }
    let lists = calls(&fake, "GET", "/rrsets");
    assert_eq!(lists.len(), 5, "13 sets in pages of 3");
    assert_eq!(lists[0].query_param("pageToken"), None);
    assert_eq!(lists[0].query_param("maxResults"), Some("1000"));
    for pair in lists.windows(2) {
        assert!(
            pair[1].query_param("pageToken").is_some(),
            "each next page asked by its token"
        );
    }
}

#[tokio::test]
async fn nameservers_are_the_managed_zones() {
    let fake = fake_with_zone();
    // The apex NS set also names another provider; the managed zone's do not.
    {
        let mut s = fake.state.lock().unwrap();
        let at = s.rrsets.iter().position(|r| r["type"] == "NS").unwrap();
        s.rrsets[at]["rrdatas"]
            .as_array_mut()
            .unwrap()
            .push(json!("ns1.other-provider.test."));
    }
    let p = provider(&fake);
    let names = p.nameservers(&zone()).await.unwrap();
    assert_eq!(names, NAME_SERVERS.to_vec());
    assert!(
        calls(&fake, "GET", "/rrsets").is_empty(),
        "read from the managed zone, not the NS set"
    );

    let err = p.nameservers(&ZoneName::new("other.test.").unwrap()).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_429_is_retried_and_the_budget_is_kept() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    p.records(&zone()).await.unwrap();
    fake.state.lock().unwrap().throttle = 1;
    let before = calls(&fake, "GET", "/rrsets").len();
    p.records(&zone()).await.expect("retried after the 429");
    assert_eq!(calls(&fake, "GET", "/rrsets").len(), before + 2, "one 429, one retry");

    // Quota that stays exhausted ends as RateLimited, after the shared layer's attempts.
    fake.state.lock().unwrap().throttle = 10;
    let err = p.records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(fake.state.lock().unwrap().throttle, 7, "three attempts, no more");
}

#[tokio::test]
async fn requests_stay_within_the_configured_rate() {
    let fake = fake_with_zone();
    // The fake allows 4 DNS requests in any second; the adapter is held to 3 a second.
    fake.state.lock().unwrap().rate_limit = Some((4, Duration::from_secs(1)));
    let opts = GoogleOptions {
        http: HttpConfig {
            requests_per_second: std::num::NonZeroU32::new(3).unwrap(),
            burst: std::num::NonZeroU32::new(1).unwrap(),
            max_attempts: 1,
            ..options(&fake).http
        },
        ..options(&fake)
    };
    let p = GoogleProvider::new("gdns", &fake.key_json(), opts).unwrap();
    for _ in 0..6 {
        p.records(&zone()).await.expect("never refused for quota");
    }
    let times: Vec<_> = fake
        .log()
        .into_iter()
        .filter(|l| l.request.path.starts_with("/dns/v1/"))
        .map(|l| l.at)
        .collect();
    assert_eq!(times.len(), 7, "a zone lookup and six reads");
    for (i, t) in times.iter().enumerate() {
        let in_second = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_millis(990))
            .count();
        assert!(in_second <= 4, "{in_second} requests within a second from request {i}");
    }
}

#[tokio::test]
async fn the_token_is_renewed_before_it_expires_and_after_a_401() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    p.records(&zone()).await.unwrap();
    p.records(&zone()).await.unwrap();
    assert_eq!(fake.requests().iter().filter(|r| r.path == "/token").count(), 1);

    // A token revoked at the server: the 401 drops it and the call goes through with a
    // new one.
    fake.state.lock().unwrap().tokens.clear();
    p.records(&zone()).await.expect("renewed after a 401");
    assert_eq!(fake.requests().iter().filter(|r| r.path == "/token").count(), 2);

    // A token said to expire at once is never reused.
    fake.state.lock().unwrap().told_expires_in = Some(0);
    let short = provider(&fake);
    let before = fake.requests().len();
    short.records(&zone()).await.unwrap();
    short.records(&zone()).await.unwrap();
    let made = &fake.requests()[before..];
    let tokens = made.iter().filter(|r| r.path == "/token").count();
    assert_eq!(tokens, 3, "a zone lookup and two reads, each with a new token");
    assert_eq!(made.len(), 6);
}

#[tokio::test]
async fn a_403_keeps_the_token_and_a_fenced_apply_sends_nothing() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    p.records(&zone()).await.unwrap();
    // Another project's zone: refused for rights, not for the token, so no new token.
    let other = GoogleProvider::new(
        "gdns",
        &fake.key_json(),
        GoogleOptions {
            project: Some("someone-elses".into()),
            ..options(&fake)
        },
    )
    .unwrap();
    let err = other.records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("PERMISSION_DENIED"), "{err}");
    let tokens = fake.requests().iter().filter(|r| r.path == "/token").count();
    assert_eq!(tokens, 2, "one token each, none asked again after the 403");

    // A lease that no longer allows writing stops the change before any request.
    let before = fake.requests().len();
    let rs = set("fenced.example.test.", RecordType::A, 60, &["192.0.2.1"]);
    let guard: dnsteer_providers::WriteGuard = std::sync::Arc::new(|| false);
    let err = dnsteer_providers::guard::guarded(guard, p.apply(&zone(), &[Change::Create { after: rs }]))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Fenced { .. }), "{err:?}");
    assert_eq!(fake.requests().len(), before, "nothing sent");
}

#[tokio::test]
async fn apply_waits_for_done_within_its_deadline() {
    let fake = fake_with_zone();
    fake.state.lock().unwrap().pending_polls = 3;
    let p = provider(&fake);
    let rs = set("slow.example.test.", RecordType::A, 60, &["192.0.2.1"]);
    p.apply(&zone(), &[Change::Create { after: rs }]).await.unwrap();
    assert_eq!(calls(&fake, "GET", "/changes/1").len(), 3, "polled until done");

    fake.state.lock().unwrap().pending_polls = 1_000_000;
    let quick = GoogleProvider::new(
        "gdns",
        &fake.key_json(),
        GoogleOptions {
            change_timeout: Duration::from_millis(200),
            ..options(&fake)
        },
    )
    .unwrap();
    let rs = set("slower.example.test.", RecordType::A, 60, &["192.0.2.1"]);
    let err = quick.apply(&zone(), &[Change::Create { after: rs }]).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transient { .. }), "{err:?}");
    assert!(err.to_string().contains("still pending"), "{err}");
}

#[tokio::test]
async fn write_access_is_read_from_test_iam_permissions() {
    let fake = fake_with_zone();
    let p = provider(&fake);
    match p.write_access(&zone(), &[]).await.unwrap() {
        WriteAccess::Granted(how) => assert!(how.contains("testIamPermissions"), "{how}"),
        other => panic!("{other:?}"),
    }
    fake.state.lock().unwrap().granted.remove("dns.changes.create");
    match p.write_access(&zone(), &[]).await.unwrap() {
        WriteAccess::Denied(why) => {
            assert!(
                why.contains("dns.changes.create") && !why.contains("dns.changes.get"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    let asked = calls(&fake, "POST", "/managedZones/example-test:testIamPermissions");
    assert_eq!(asked.len(), 2);
    assert!(asked[0].json()["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("dns.resourceRecordSets.delete")));
    assert!(
        calls(&fake, "POST", "/changes").is_empty(),
        "nothing written to find out"
    );
}

#[tokio::test]
async fn a_zone_it_does_not_host_is_zone_not_found() {
    let fake = fake_with_zone();
    let err = provider(&fake)
        .records(&ZoneName::new("other.test.").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
}

#[test]
fn the_fake_passes_the_official_google_cloud_dns_sdk() {
    let python = support::moto::venv_bin("python");
    let fake = fake_with_zone();
    for i in 0..4 {
        fake.insert(&format!("p{i}.example.test."), "A", 60, &[&format!("192.0.2.{i}")]);
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("sa.json");
    std::fs::write(&key, fake.key_json()).unwrap();
    let wrong = dir.path().join("wrong.json");
    std::fs::write(&wrong, TestKey::stranger().key_json(&fake.token_uri())).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/support/google_sdk_check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(fake.url())
        .arg(&key)
        .arg(&wrong)
        .arg(ZONE)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the SDK check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["zone"], "example-test");
    assert_eq!(seen["name_servers"], json!(NAME_SERVERS));
    assert_eq!(seen["listed"], 7, "NS, SOA, keep and four more");
    assert_eq!(seen["pages"], 3, "the fake's pages of three");
    assert_eq!(seen["stale_delete"], 412);
    assert_eq!(seen["duplicate_add"], 409);
    assert_eq!(seen["after_delete"], 7);
    assert_eq!(seen["wrong_key"], "RefreshError");
    // What the SDK sent, as the fake saw it.
    let requests = fake.requests();
    let token = requests.iter().find(|r| r.path == "/token").unwrap();
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&token.body).into_owned().collect();
    assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let create = requests
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/changes"))
        .unwrap();
    assert_eq!(
        create.json()["additions"],
        json!([{"name": "sdk.example.test.", "type": "A", "ttl": "120", "rrdatas": ["192.0.2.77"]}])
    );
    assert!(fake.rrset("sdk.example.test.", "A").is_none());
}
