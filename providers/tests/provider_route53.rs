//! The Route 53 adapter: the conformance suite and paging against moto's server on
//! loopback (which also checks every request's SigV4 signature, see support/moto.rs),
//! and compare-and-set, atomicity, request limits, throttling and the fence against
//! `FakeRoute53`, which enforces the behaviour the Route 53 API reference documents
//! where moto does not.

mod support;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::route53::Route53Options;
use dnsteer_providers::Fence;
use dnsteer_providers::{
    AwsCredentials, Change, FenceMark, Provider, ProviderError, RecordSet, RecordType, Route53Provider, WriteAccess,
    ZoneName,
};
use support::conformance::{set, Harness, Running, WrongKey};
use support::moto::Moto;
use support::route53_fake::FakeRoute53;

const ZONE: &str = "example.test.";

fn zone() -> ZoneName {
    ZoneName::new(ZONE).unwrap()
}

fn options(endpoint: &str) -> Route53Options {
    Route53Options {
        endpoint: endpoint.to_string(),
        // Tests run many adapters side by side; each test's moto is its own "account".
        requests_per_second: NonZeroU32::new(50).unwrap(),
        poll_interval: Duration::from_millis(50),
        http: HttpConfig {
            timeout: Duration::from_secs(3),
            base_backoff: Duration::from_millis(50),
            ..HttpConfig::default()
        },
        ..Route53Options::default()
    }
}

/// moto with `example.test.` hosted, holding an unmanaged TXT record beside its SOA/NS.
async fn moto_with_zone() -> (Moto, Route53Provider) {
    let moto = tokio::task::spawn_blocking(|| {
        let moto = Moto::start();
        moto.create_hosted_zone(ZONE);
        moto
    })
    .await
    .unwrap();
    let p = Route53Provider::new("r53", moto.credentials(), options(&moto.url)).unwrap();
    let keep = set("keep.example.test.", RecordType::Txt, 60, &["\"unmanaged\""]);
    p.apply(&zone(), &[Change::Create { after: keep }]).await.unwrap();
    (moto, p)
}

/// moto with IAM authentication on: a key its IAM does not know is refused
/// (InvalidClientTokenId) on reads and writes.
async fn unknown_key() -> WrongKey {
    let moto = tokio::task::spawn_blocking(Moto::start_with_auth).await.unwrap();
    let unknown = AwsCredentials::new("AKIDUNKNOWN", "nope", None);
    let provider = Route53Provider::new("r53", unknown, options(&moto.url)).unwrap();
    WrongKey::kept_with(provider, moto)
}

/// What Route 53 refuses whole: deleting a set that was never there.
fn delete_of_a_set_never_there() -> Change {
    let never = set("never.example.test.", RecordType::A, 60, &["192.0.2.99"]);
    Change::Delete { before: never }
}

/// The conformance suite against moto.
struct MotoZone {
    moto: Moto,
}

impl Harness for MotoZone {
    async fn start() -> Self {
        let (moto, _) = moto_with_zone().await;
        MotoZone { moto }
    }

    fn provider(&self) -> Box<dyn Provider> {
        Box::new(Route53Provider::new("r53", self.moto.credentials(), options(&self.moto.url)).unwrap())
    }

    /// Moto refuses the batch before applying any of it (InvalidInput), as Route 53
    /// does (InvalidChangeBatch, "not found").
    async fn refused_change(&self) -> Change {
        delete_of_a_set_never_there()
    }

    async fn wrong_key(&self) -> WrongKey {
        unknown_key().await
    }

    fn stop(&mut self) {
        self.moto.process.stop();
    }
}

mod moto {
    use super::*;
    // moto takes a DELETE whose set was ever created, whatever is live now (it checks
    // its change journal), so it cannot refuse a stale batch: `fake` runs that check.
    conformance_suite!(MotoZone;
        apply_then_read_gives_desired,
        apply_twice_is_harmless,
        unnamed_records_untouched,
        refused_batch_leaves_zone_unchanged,
        wrong_key_is_auth_error,
        stopped_server_is_transient,
    );
}

/// The conformance suite against FakeRoute53, which refuses a DELETE that does not
/// match the live set exactly, as Route 53 does.
struct FakeZone(Running<FakeRoute53>);

impl FakeZone {
    fn fake(&self) -> &FakeRoute53 {
        self.0.get()
    }
}

impl Harness for FakeZone {
    async fn start() -> Self {
        let fake = FakeRoute53::start(ZONE);
        fake.set("keep.example.test.", "TXT", 60, &["\"unmanaged\""]);
        FakeZone(Running::new(fake))
    }

    fn provider(&self) -> Box<dyn Provider> {
        Box::new(fake_provider(self.fake(), 50))
    }

    async fn refused_change(&self) -> Change {
        delete_of_a_set_never_there()
    }

    /// The fake checks no signatures: moto with IAM on does.
    async fn wrong_key(&self) -> WrongKey {
        unknown_key().await
    }

    fn stop(&mut self) {
        self.0.stop();
    }

    /// Another client replaces the set, straight in the fake's store.
    async fn change_behind(&self, set: &RecordSet) {
        self.fake().set(&set.name, set.rtype.as_str(), set.ttl, &["192.0.2.99"]);
    }
}

mod fake {
    use super::*;
    conformance_suite!(FakeZone);
}

/// The wrong key's error names what AWS said.
#[tokio::test]
async fn moto_unknown_key_names_the_aws_error() {
    let wrong = unknown_key().await;
    let err = wrong.provider.records(&zone()).await.unwrap_err();
    assert!(err.to_string().contains("InvalidClientTokenId"), "{err}");
}

#[tokio::test]
async fn moto_verifies_our_sigv4_signatures() {
    // moto recomputes the signature of a POST with botocore and compares: our signer's
    // request with the right secret passes, with a wrong secret it is refused.
    let moto = tokio::task::spawn_blocking(Moto::start_with_auth).await.unwrap();
    let good = moto.credentials();
    let bad = AwsCredentials::new(&moto.access_key_id, "not-the-secret", None);
    let (ok, refused) = tokio::task::spawn_blocking(move || {
        (
            moto.try_create_hosted_zone("signed.test.", &good),
            moto.try_create_hosted_zone("forged.test.", &bad),
        )
    })
    .await
    .unwrap();
    assert!(ok.is_ok(), "{ok:?}");
    let refused = refused.unwrap_err();
    assert!(
        refused.contains("SignatureDoesNotMatch") && refused.contains("403"),
        "{refused}"
    );
}

#[test]
fn our_sigv4_matches_botocore() {
    // moto cannot check GET signatures (see support/moto.rs), so every request shape the
    // adapters send is also signed by botocore, independently, and compared.
    let python = support::moto::venv_bin("python");
    let at = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let signer = |service| {
        dnsteer_providers::route53::sigv4::Signer::new(
            AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None),
            service,
        )
    };
    // (service, method, url, headers, body)
    type Case = (
        &'static str,
        &'static str,
        String,
        Vec<(&'static str, &'static str)>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "route53",
            "GET",
            "https://route53.amazonaws.com/2013-04-01/hostedzonesbyname?dnsname=example.test.&maxitems=100".into(),
            vec![],
            "",
        ),
        (
            "route53",
            "GET",
            "https://route53.amazonaws.com/2013-04-01/hostedzone/Z1/rrset?name=%2A.example.test.&type=A&maxitems=7"
                .into(),
            vec![],
            "",
        ),
        (
            "route53",
            "POST",
            "http://127.0.0.1:5000/2013-04-01/hostedzone/Z1/rrset/".into(),
            vec![("content-type", "application/xml")],
            "<ChangeResourceRecordSetsRequest/>",
        ),
        (
            "route53domains",
            "POST",
            "https://route53domains.us-east-1.amazonaws.com/".into(),
            vec![
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "Route53Domains_v20140515.GetDomainDetail"),
            ],
            r#"{"DomainName":"example.test"}"#,
        ),
    ];
    for (service, method, url, headers, body) in cases {
        let ours = signer(service)
            .headers("test", method, &url, &headers, body.as_bytes(), at)
            .unwrap();
        let auth = &ours
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .unwrap()
            .1;
        let ours_sig = auth.rsplit("Signature=").next().unwrap();
        let args = serde_json::json!({
            "service": service, "method": method, "url": url, "body": body, "date": "20231114T221320Z",
            "headers": headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<std::collections::BTreeMap<_, _>>(),
        });
        let out = std::process::Command::new(&python)
            .arg("-c")
            .arg(BOTOCORE_SIGN)
            .arg(args.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            ours_sig, theirs,
            "{method} {url}: our signature differs from botocore's"
        );
    }
}

const BOTOCORE_SIGN: &str = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
a = json.loads(sys.argv[1])
headers = dict(a["headers"]); headers["X-Amz-Date"] = a["date"]
req = AWSRequest(method=a["method"], url=a["url"], data=a["body"].encode(), headers=headers)
req.context["timestamp"] = a["date"]
auth = SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), a["service"], "us-east-1")
canonical = auth.canonical_request(req)
print(auth.signature(auth.string_to_sign(req, canonical), req))
"#;

#[tokio::test]
async fn moto_unknown_zone_is_zone_not_found() {
    let (moto, p) = moto_with_zone().await;
    let err = p.records(&ZoneName::new("missing.test.").unwrap()).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
    // A configured hosted zone id that does not exist.
    let by_id = Route53Provider::new(
        "r53",
        moto.credentials(),
        Route53Options {
            hosted_zone_id: Some("/hostedzone/ZNOPE".into()),
            ..options(&moto.url)
        },
    )
    .unwrap();
    let err = by_id.records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn moto_pagination_reads_every_page() {
    let (moto, p) = moto_with_zone().await;
    let creates: Vec<Change> = (0..45)
        .map(|i| Change::Create {
            after: set(
                &format!("host{i:02}.example.test."),
                RecordType::A,
                60,
                &[&format!("192.0.2.{i}")],
            ),
        })
        .collect();
    p.apply(&zone(), &creates).await.unwrap();
    let paged = Route53Provider::new(
        "r53",
        moto.credentials(),
        Route53Options {
            page_size: Some(7),
            ..options(&moto.url)
        },
    )
    .unwrap();
    let small_pages = paged.records(&zone()).await.unwrap();
    let one_page = p.records(&zone()).await.unwrap();
    assert_eq!(small_pages, one_page);
    assert_eq!(small_pages.iter().filter(|s| s.name.starts_with("host")).count(), 45);
    assert!(
        small_pages.iter().any(|s| s.rtype == RecordType::Soa) && small_pages.iter().any(|s| s.rtype == RecordType::Ns)
    );
}

#[tokio::test]
async fn moto_batches_are_split_by_record_count() {
    // 600 creates of two values each: 1,200 ResourceRecord elements, over the 1,000 one
    // request may carry (moto enforces that limit), so the adapter must send two.
    let (_moto, p) = moto_with_zone().await;
    let creates: Vec<Change> = (0..600)
        .map(|i| {
            let (a, b) = (
                format!("10.0.{}.{}", i / 250, i % 250),
                format!("10.1.{}.{}", i / 250, i % 250),
            );
            Change::Create {
                after: set(&format!("n{i}.example.test."), RecordType::A, 60, &[&a, &b]),
            }
        })
        .collect();
    let applied = p.apply(&zone(), &creates).await.unwrap();
    assert_eq!(applied.changes, 600);
    let live = p.records(&zone()).await.unwrap();
    assert_eq!(
        live.iter()
            .filter(|s| s.name.starts_with('n') && s.values.len() == 2)
            .count(),
        600
    );
}

#[tokio::test]
async fn moto_wildcards_txt_and_mx_round_trip() {
    let (_moto, p) = moto_with_zone().await;
    let desired = vec![
        set("*.example.test.", RecordType::A, 60, &["192.0.2.7"]),
        set("txt.example.test.", RecordType::Txt, 60, &["v=spf1 -all"]),
        set("example.test.", RecordType::Mx, 300, &["10 mail.example.test."]),
    ];
    let normalized = p.normalize(desired.clone());
    assert_eq!(
        normalized[1].values,
        vec!["\"v=spf1 -all\""],
        "TXT values are quoted as Route 53 stores them"
    );
    let changes: Vec<Change> = normalized
        .iter()
        .cloned()
        .map(|after| Change::Create { after })
        .collect();
    p.apply(&zone(), &changes).await.unwrap();
    let live = p.records(&zone()).await.unwrap();
    for want in &normalized {
        assert!(live.contains(want), "{want} not read back from {live:?}");
    }
}

#[tokio::test]
async fn moto_alias_records_are_read_with_their_target_and_only_ever_deleted() {
    let (moto, p) = moto_with_zone().await;
    let zone_id = p.hosted_zone_id(&zone()).await.unwrap();
    let alias = r#"<Change><Action>CREATE</Action><ResourceRecordSet><Name>www.example.test.</Name><Type>A</Type><AliasTarget><HostedZoneId>Z2FDTNDATAQYW2</HostedZoneId><DNSName>d111111abcdef8.cloudfront.net.</DNSName><EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget></ResourceRecordSet></Change>"#;
    let moto = tokio::task::spawn_blocking(move || {
        moto.change_raw(&zone_id, alias);
        moto
    })
    .await
    .unwrap();
    let live = p.records(&zone()).await.unwrap();
    let www: Vec<_> = live.iter().filter(|s| s.name == "www.example.test.").collect();
    assert_eq!(www.len(), 1, "{www:?}");
    // What the name holds, as a plan shows it: the A set at www is this alias.
    assert_eq!(www[0].rtype, RecordType::A);
    assert_eq!(
        www[0].values,
        vec!["ALIAS d111111abcdef8.cloudfront.net. (Z2FDTNDATAQYW2)"]
    );
    let alias_set = www[0].clone();
    // Never written as a value, nor made.
    let err = p
        .apply(
            &zone(),
            &[Change::Create {
                after: RecordSet {
                    name: "other.example.test.".into(),
                    ..alias_set.clone()
                },
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unsupported { .. }), "{err:?}");
    // Replaced by a plain set: deleted with its AliasTarget as read, in one batch.
    let plain = set("www.example.test.", RecordType::A, 60, &["192.0.2.1"]);
    p.apply(
        &zone(),
        &[Change::Update {
            before: alias_set,
            after: plain.clone(),
        }],
    )
    .await
    .unwrap();
    let zone_id = p.hosted_zone_id(&zone()).await.unwrap();
    let raw = tokio::task::spawn_blocking(move || moto.record_sets(&zone_id))
        .await
        .unwrap();
    let www: Vec<_> = raw.iter().filter(|s| s.name == "www.example.test.").collect();
    assert_eq!(www.len(), 1, "{www:?}");
    assert_eq!(
        (&www[0].values, &www[0].alias_dns_name),
        (&vec!["192.0.2.1".to_string()], &None)
    );
}

/// Creates `shop A` as a weighted record of two sets, us-east (weight 3) and eu-west
/// (weight 1), and returns them.
async fn create_weighted_pair(p: &Route53Provider) -> (RecordSet, RecordSet) {
    let us = set("shop.example.test.", RecordType::A, 60, &["192.0.2.10"]).weighted("us-east", 3);
    let eu = set("shop.example.test.", RecordType::A, 60, &["198.51.100.10"]).weighted("eu-west", 1);
    let creates = [us.clone(), eu.clone()].map(|after| Change::Create { after });
    p.apply(&zone(), &creates).await.unwrap();
    (us, eu)
}

/// The sets of `shop` as the adapter reads them, by set identifier.
async fn shop_sets(p: &Route53Provider) -> Vec<RecordSet> {
    let mut shop = p.records(&zone()).await.unwrap();
    shop.retain(|s| s.name == "shop.example.test.");
    shop.sort_by(|a, b| a.set_id.cmp(&b.set_id));
    shop
}

#[tokio::test]
async fn moto_weighted_sets_round_trip_with_their_identifiers_and_weights() {
    let (moto, p) = moto_with_zone().await;
    let (us, eu) = create_weighted_pair(&p).await;
    assert_eq!(shop_sets(&p).await, vec![eu.clone(), us.clone()]);

    // A weight to 0 is an update of that set alone.
    let down = us.clone().weighted("us-east", 0);
    p.apply(
        &zone(),
        &[Change::Update {
            before: us.clone(),
            after: down.clone(),
        }],
    )
    .await
    .unwrap();
    let err = p
        .apply(
            &zone(),
            &[Change::Update {
                before: us.clone(),
                after: down.clone(),
            }],
        )
        .await;
    // A repeat of what is already live is done, not a conflict.
    assert!(err.is_ok(), "{err:?}");
    let zone_id = p.hosted_zone_id(&zone()).await.unwrap();
    let (_moto, raw) = tokio::task::spawn_blocking(move || {
        let raw = moto.record_sets(&zone_id);
        (moto, raw)
    })
    .await
    .unwrap();
    let mut weights: Vec<_> = raw
        .iter()
        .filter(|s| s.name == "shop.example.test.")
        .map(|s| (s.set_identifier.clone().unwrap(), s.weight.unwrap(), s.values.clone()))
        .collect();
    weights.sort();
    assert_eq!(
        weights,
        vec![
            ("eu-west".to_string(), 1, vec!["198.51.100.10".to_string()]),
            ("us-east".to_string(), 0, vec!["192.0.2.10".to_string()]),
        ]
    );
    p.apply(&zone(), &[Change::Delete { before: down }]).await.unwrap();
    assert_eq!(shop_sets(&p).await, vec![eu]);
}

// ---------------------------------------------------------------------------------
// Against FakeRoute53: the documented Route 53 semantics moto does not enforce.

fn fake_provider(fake: &FakeRoute53, rps: u32) -> Route53Provider {
    let creds = AwsCredentials::new(&format!("AKIDFAKE{}", fake.server.addr.port()), "secret", None);
    Route53Provider::new(
        "r53",
        creds,
        Route53Options {
            requests_per_second: NonZeroU32::new(rps).unwrap(),
            ..options(&fake.url())
        },
    )
    .unwrap()
}

/// Values or a TTL changed behind our back: the DELETE must match exactly, so Route 53
/// refuses the batch (moto does not: the conformance suite's other writer deletes).
#[tokio::test]
async fn fake_a_set_changed_behind_our_back_is_a_conflict() {
    let fake = FakeRoute53::start(ZONE);
    let p = fake_provider(&fake, 50);
    let www = |v: &str| set("www.example.test.", RecordType::A, 60, &[v]);
    fake.set("www.example.test.", "A", 60, &["192.0.2.99"]);
    let stale = Change::Update {
        before: www("192.0.2.1"),
        after: www("192.0.2.2"),
    };
    let err = p.apply(&zone(), &[stale]).await.unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
    assert_eq!(fake.get("www.example.test.", "A").unwrap().values, vec!["192.0.2.99"]);
    fake.set("www.example.test.", "A", 300, &["192.0.2.99"]);
    let err = p
        .apply(
            &zone(),
            &[Change::Delete {
                before: www("192.0.2.99"),
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
    assert!(fake.get("www.example.test.", "A").is_some());
}

#[tokio::test]
async fn fake_create_over_an_existing_set_is_a_conflict_unless_it_is_already_what_we_want() {
    let fake = FakeRoute53::start(ZONE);
    let p = fake_provider(&fake, 50);
    fake.set("www.example.test.", "A", 60, &["192.0.2.50"]);
    let mine = set("www.example.test.", RecordType::A, 60, &["192.0.2.1"]);
    let err = p
        .apply(&zone(), &[Change::Create { after: mine.clone() }])
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
    assert_eq!(fake.get("www.example.test.", "A").unwrap().values, vec!["192.0.2.50"]);
    // The same create when the zone already holds exactly it (a retried request whose
    // first copy landed): refused by Route 53, found live, reported applied.
    fake.set("www.example.test.", "A", 60, &["192.0.2.1"]);
    assert_eq!(
        p.apply(&zone(), &[Change::Create { after: mine }])
            .await
            .unwrap()
            .changes,
        1
    );
}

#[tokio::test]
async fn fake_batches_are_split_by_value_characters_and_each_is_atomic() {
    let fake = FakeRoute53::start(ZONE);
    let p = fake_provider(&fake, 50);
    // 40 TXT sets of 1,000 characters: 40,000 characters, over the 32,000 per request.
    let long = |i: usize| format!("\"{}\"", format!("{i:03}").repeat(332));
    let creates: Vec<Change> = (0..40)
        .map(|i| Change::Create {
            after: set(&format!("t{i}.example.test."), RecordType::Txt, 60, &[&long(i)]),
        })
        .collect();
    p.apply(&zone(), &creates).await.unwrap();
    let batches = fake.state.lock().unwrap().batches.clone();
    assert_eq!(batches.len(), 2, "40,000 characters take two requests");
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 40);
    for i in 0..40 {
        assert!(fake.get(&format!("t{i}.example.test."), "TXT").is_some());
    }
    // An update's DELETE and CREATE always travel in the same request.
    let updates: Vec<Change> = (0..40)
        .map(|i| {
            let name = format!("t{i}.example.test.");
            Change::Update {
                before: set(&name, RecordType::Txt, 60, &[&long(i)]),
                after: set(&name, RecordType::Txt, 60, &["\"short\""]),
            }
        })
        .collect();
    p.apply(&zone(), &updates).await.unwrap();
    let batches = fake.state.lock().unwrap().batches.clone();
    for batch in &batches[2..] {
        for (action, name, _) in batch {
            let pair = batch.iter().filter(|(_, n, _)| n == name).count();
            assert_eq!(pair, 2, "{action} {name} travels without its pair");
        }
    }
    // A later request refused after earlier ones landed says how many were applied.
    fake.set("t39.example.test.", "TXT", 60, &["\"someone else\""]);
    let back: Vec<Change> = (0..40)
        .map(|i| {
            let name = format!("t{i}.example.test.");
            Change::Update {
                before: set(&name, RecordType::Txt, 60, &["\"short\""]),
                after: set(&name, RecordType::Txt, 60, &[&long(i)]),
            }
        })
        .collect();
    let err = p.apply(&zone(), &back).await.unwrap_err();
    match &err {
        ProviderError::PartiallyApplied { applied, .. } => assert!(*applied > 0 && *applied < 40, "{err}"),
        other => panic!("expected PartiallyApplied, got {other:?}"),
    }
}

#[tokio::test]
async fn fake_throttling_is_retried_with_backoff_then_reported() {
    let fake = FakeRoute53::start(ZONE);
    let p = fake_provider(&fake, 50);
    let a = set("a.example.test.", RecordType::A, 60, &["192.0.2.1"]);
    fake.state
        .lock()
        .unwrap()
        .inject
        .extend(["Throttling", "PriorRequestNotComplete"]);
    p.apply(&zone(), &[Change::Create { after: a.clone() }])
        .await
        .expect("two throttled answers are retried");
    assert!(fake.get("a.example.test.", "A").is_some());
    fake.state
        .lock()
        .unwrap()
        .inject
        .extend(["Throttling", "Throttling", "Throttling"]);
    let err = p.records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn fake_waits_for_insync_within_the_timeout() {
    let fake = FakeRoute53::start(ZONE);
    let p = fake_provider(&fake, 50);
    fake.state.lock().unwrap().pending_polls = 3;
    let a = set("a.example.test.", RecordType::A, 60, &["192.0.2.1"]);
    p.apply(&zone(), &[Change::Create { after: a }]).await.unwrap();
    let polls = fake
        .state
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|(_, _, path)| path.contains("/change/"))
        .count();
    assert_eq!(polls, 4, "PENDING three times, then INSYNC");

    let impatient = Route53Provider::new(
        "r53",
        AwsCredentials::new("AKIDIMPATIENT", "s", None),
        Route53Options {
            change_timeout: Duration::from_millis(200),
            ..options(&fake.url())
        },
    )
    .unwrap();
    fake.state.lock().unwrap().pending_polls = 1000;
    let b = set("b.example.test.", RecordType::A, 60, &["192.0.2.2"]);
    let err = impatient
        .apply(&zone(), &[Change::Create { after: b }])
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transient { .. }), "{err:?}");
    assert!(err.to_string().contains("accepted"), "{err}");
}

#[tokio::test]
async fn fake_a_burst_of_plans_never_exceeds_the_account_budget() {
    let fake = FakeRoute53::start(ZONE);
    // Two adapters on the same account (same key and endpoint) share one budget.
    let creds = AwsCredentials::new("AKIDBUDGET", "secret", None);
    let opts = Route53Options {
        requests_per_second: NonZeroU32::new(5).unwrap(),
        ..options(&fake.url())
    };
    let a = Arc::new(Route53Provider::new("r53-a", creds.clone(), opts.clone()).unwrap());
    let b = Arc::new(Route53Provider::new("r53-b", creds, opts).unwrap());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let p = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let live = p.records(&zone()).await.unwrap();
            assert!(!live.is_empty());
            let rs = set(&format!("burst{i}.example.test."), RecordType::A, 60, &["192.0.2.1"]);
            p.apply(&zone(), &[Change::Create { after: rs }]).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let times: Vec<Instant> = fake.state.lock().unwrap().log.iter().map(|(t, _, _)| *t).collect();
    assert!(times.len() >= 20, "{} requests", times.len());
    // Any one-second window (less 100 ms for scheduling jitter between send and arrival)
    // holds at most the budget's 5 requests.
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_millis(900))
            .count();
        assert!(
            in_window <= 5,
            "{in_window} requests within one second from request {i}"
        );
    }
    let spent = started.elapsed();
    assert!(
        spent >= Duration::from_millis(180 * (times.len() as u64 - 1)),
        "{} requests in {spent:?}",
        times.len()
    );
}

#[tokio::test]
async fn fake_fence_rides_in_every_request_and_stops_a_superseded_leader() {
    let fake = FakeRoute53::start(ZONE);
    let p = fake_provider(&fake, 50);
    let z = zone();
    let a = |i: u8| {
        set(
            &format!("f{i}.example.test."),
            RecordType::A,
            60,
            &[&format!("192.0.2.{i}")],
        )
    };
    let mark = |term: u64| FenceMark::new(term, &format!("steer-{term}"));
    let fence = |from: Option<u64>, to: u64| Fence::zone(&z, from.map(|t| mark(t).record(&z)), &mark(to));
    // Term 1 takes the fence (no fence record yet) with its first batch.
    p.apply_fenced(&z, &fence(None, 1), &[Change::Create { after: a(1) }])
        .await
        .unwrap();
    assert_eq!(
        fake.get("_dnsteer-fence.example.test.", "TXT").unwrap().values,
        vec!["\"term=1 leader=steer-1\""]
    );
    // Term 1 writes again, keeping its term.
    p.apply_fenced(&z, &fence(Some(1), 1), &[Change::Create { after: a(2) }])
        .await
        .unwrap();
    // Term 2 takes over.
    p.apply_fenced(&z, &fence(Some(1), 2), &[Change::Create { after: a(3) }])
        .await
        .unwrap();
    // The old leader, still believing in term 1, writes nothing.
    let err = p
        .apply_fenced(&z, &fence(Some(1), 1), &[Change::Create { after: a(4) }])
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
    assert!(fake.get("f4.example.test.", "A").is_none());
    assert_eq!(
        fake.get("_dnsteer-fence.example.test.", "TXT").unwrap().values,
        vec!["\"term=2 leader=steer-2\""]
    );
    // Every accepted request carried the fence.
    for batch in &fake.state.lock().unwrap().batches {
        assert!(
            batch.iter().any(|(_, n, _)| n == "_dnsteer-fence.example.test."),
            "{batch:?}"
        );
    }
}

#[tokio::test]
async fn fake_wildcard_names_are_unescaped() {
    let fake = FakeRoute53::start(ZONE);
    let p = fake_provider(&fake, 50);
    fake.set("*.example.test.", "A", 60, &["192.0.2.9"]);
    let live = p.records(&zone()).await.unwrap();
    assert!(
        live.contains(&set("*.example.test.", RecordType::A, 60, &["192.0.2.9"])),
        "{live:?}"
    );
}

/// Nameservers the configuration omits are the hosted zone's delegation set
/// (GetHostedZone), not its apex NS set (which may name other providers too).
#[tokio::test]
async fn moto_nameservers_are_the_delegation_set() {
    let (_moto, p) = moto_with_zone().await;
    let ns = p.nameservers(&zone()).await.unwrap();
    assert_eq!(ns.len(), 4, "{ns:?}");
    assert!(ns.iter().all(|n| n.contains("awsdns")), "{ns:?}");
    let other = set(ZONE, RecordType::Ns, 300, &["ns1.elsewhere.test."]);
    let apex = p.records(&zone()).await.unwrap();
    let before = apex.iter().find(|s| s.rtype == RecordType::Ns).unwrap().clone();
    p.apply(&zone(), &[Change::Update { before, after: other }])
        .await
        .unwrap();
    assert_eq!(
        p.nameservers(&zone()).await.unwrap(),
        ns,
        "the apex NS set does not count"
    );
}

/// `write_access` sends a batch of DELETEs of record sets that do not exist (a stand-in
/// value at each steered name and type, present sets and absent ones): moto refuses it
/// for its content, which is past authorization, so Granted; the zone is unchanged.
#[tokio::test]
async fn moto_write_access_is_refused_for_content_and_writes_nothing() {
    let (_moto, p) = moto_with_zone().await;
    let www = set("www.example.test.", RecordType::A, 60, &["192.0.2.1"]);
    p.apply(&zone(), &[Change::Create { after: www }]).await.unwrap();
    let before = p.records(&zone()).await.unwrap();
    let steered = [
        ("www.example.test.".to_string(), RecordType::A),
        ("lb.example.test.".to_string(), RecordType::Aaaa),
        ("keep.example.test.".to_string(), RecordType::Txt),
        ("example.test.".to_string(), RecordType::Ns),
    ];
    match p.write_access(&zone(), &steered).await.unwrap() {
        WriteAccess::Granted(how) => assert!(how.contains("lb.example.test. AAAA"), "{how}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.records(&zone()).await.unwrap(), before, "nothing written");
}

/// Credentials whose IAM policy leaves a steered name out are refused (AccessDenied)
/// before Route 53 reads the batch: `write_access` says Denied and names that set only,
/// grants the others, and no batch is ever accepted.
#[tokio::test]
async fn fake_write_access_names_the_sets_iam_denies() {
    let fake = FakeRoute53::start(ZONE);
    let p = fake_provider(&fake, 50);
    fake.set("www.example.test.", "A", 60, &["192.0.2.1"]);
    fake.state.lock().unwrap().denied_names = vec!["www.example.test.".into()];
    let www = ("www.example.test.".to_string(), RecordType::A);
    let lb = ("lb.example.test.".to_string(), RecordType::A);
    match p.write_access(&zone(), &[lb.clone(), www]).await.unwrap() {
        WriteAccess::Denied(which) => {
            assert!(
                which.contains("www.example.test. A") && which.contains("AccessDenied"),
                "{which}"
            );
            assert!(!which.contains("lb.example.test."), "lb is allowed: {which}");
            assert!(which.contains("IAM policy"), "says what to fix: {which}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p.write_access(&zone(), &[lb]).await.unwrap(),
        WriteAccess::Granted(_)
    ));
    assert!(fake.state.lock().unwrap().batches.is_empty(), "no batch was accepted");
    assert_eq!(fake.get("www.example.test.", "A").unwrap().values, vec!["192.0.2.1"]);
    assert!(fake.get("lb.example.test.", "A").is_none());
}

/// Route 53 compares a DELETE's Weight too (moto does not): a weighted set whose weight
/// changed since it was read is a conflict, and nothing of the batch is applied.
#[tokio::test]
async fn fake_a_weighted_set_whose_weight_moved_is_a_conflict() {
    let fake = FakeRoute53::start(ZONE);
    let p = fake_provider(&fake, 50);
    let (us, eu) = create_weighted_pair(&p).await;
    assert_eq!(
        fake.get_weighted("shop.example.test.", "A", "us-east")
            .map(|s| s.weight),
        Some(Some(3))
    );
    assert_eq!(shop_sets(&p).await, vec![eu.clone(), us.clone()]);

    // Someone else sets us-east to 5; our update from 3 to 0 must not land.
    fake.state.lock().unwrap().sets.insert(
        ("shop.example.test.".into(), "A".into(), "us-east".into()),
        support::route53_fake::FakeSet {
            ttl: 60,
            values: vec!["192.0.2.10".into()],
            weight: Some(5),
        },
    );
    let err = p
        .apply(
            &zone(),
            &[
                Change::Update {
                    before: eu.clone(),
                    after: eu.clone().weighted("eu-west", 0),
                },
                Change::Update {
                    before: us.clone(),
                    after: us.clone().weighted("us-east", 0),
                },
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { .. }), "{err:?}");
    assert_eq!(
        fake.get_weighted("shop.example.test.", "A", "eu-west")
            .map(|s| s.weight),
        Some(Some(1)),
        "the batch is atomic"
    );
}
