//! The RFC 2136 adapter against real BIND 9 and Knot DNS 3 primaries on loopback, each
//! check run against both.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use dnsteer_providers::{
    Change, Provider, ProviderError, RecordSet, RecordType, Rfc2136Options, Rfc2136Provider, TsigAlgorithmName,
    TsigKey, WriteAccess, ZoneName,
};
use support::bind::{base64, dig, Bind};
use support::conformance::{Harness, WrongKey};
use support::knot::Knot;

const ZONE: &str = "example.test.";

/// What the tests need of a server, whichever it is.
trait Server {
    const KIND: &'static str;
    fn start(zone: &str) -> Self;
    /// A server where the key may only write A and AAAA sets at or below `lb.<zone>`.
    fn start_limited_to_lb(zone: &str) -> Self;
    fn addr(&self) -> SocketAddr;
    fn key(&self) -> TsigKey;
    fn stop(&mut self);
    fn resume(&mut self);
    fn nsupdate(&self, commands: &str);
}

macro_rules! server {
    ($ty:ty, $kind:literal, |$zone:ident| $limited:expr) => {
        impl Server for $ty {
            const KIND: &'static str = $kind;
            fn start(zone: &str) -> Self {
                <$ty>::start(zone)
            }
            fn start_limited_to_lb($zone: &str) -> Self {
                $limited
            }
            fn addr(&self) -> SocketAddr {
                self.addr
            }
            fn key(&self) -> TsigKey {
                TsigKey::from_base64(&self.key_name, TsigAlgorithmName::HmacSha256, &self.secret_b64).unwrap()
            }
            fn stop(&mut self) {
                <$ty>::stop(self)
            }
            fn resume(&mut self) {
                <$ty>::resume(self)
            }
            fn nsupdate(&self, commands: &str) {
                <$ty>::nsupdate(self, commands)
            }
        }
    };
}
server!(Bind, "bind", |zone| Bind::start_with_policy(
    zone,
    &format!(
        "grant \"{}\" subdomain lb.{} A AAAA;",
        support::bind::KEY_NAME,
        zone.trim_end_matches('.')
    )
));
server!(Knot, "knot", |zone| {
    Knot::start_with_acl_limits(
    zone,
    "    update-owner: name\n    update-owner-match: sub-or-equal\n    update-owner-name: [lb]\n    update-type: [A, AAAA]"
)
});

fn zone() -> ZoneName {
    ZoneName::new(ZONE).unwrap()
}

fn set(name: &str, rtype: RecordType, ttl: u32, values: &[&str]) -> RecordSet {
    RecordSet::new(&zone().absolute(name).unwrap(), rtype, ttl, values.iter().copied()).unwrap()
}

fn find<'a>(sets: &'a [RecordSet], name: &str, rtype: &RecordType) -> Option<&'a RecordSet> {
    let name = zone().absolute(name).unwrap();
    sets.iter().find(|s| s.name == name && &s.rtype == rtype)
}

fn provider_with(server: &impl Server, name: &str, key: Option<TsigKey>, timeout: Duration) -> Rfc2136Provider {
    let options = Rfc2136Options {
        server: server.addr(),
        timeout,
    };
    Rfc2136Provider::new(name, key, options).unwrap()
}

fn provider<S: Server>(server: &S) -> Rfc2136Provider {
    provider_with(server, S::KIND, Some(server.key()), Duration::from_secs(5))
}

/// A server for `example.test.` holding, beside SOA and NS, one record nobody manages.
fn server_with_zone<S: Server>() -> S {
    let server = S::start(ZONE);
    server.nsupdate("update add keep.example.test. 60 TXT \"unmanaged\"");
    server
}

// ---- the conformance suite -------------------------------------------------------

/// The conformance suite against a server of kind `S`.
struct Rfc<S>(S);

impl<S: Server> Harness for Rfc<S> {
    const STOPPED_LIMIT: Duration = Duration::from_secs(3);

    async fn start() -> Self {
        Rfc(server_with_zone::<S>())
    }

    fn provider(&self) -> Box<dyn Provider> {
        Box::new(provider(&self.0))
    }

    /// The prerequisite of an update whose `before` is stale fails, so the whole UPDATE
    /// (with the good create beside it) is refused.
    async fn refused_change(&self) -> Change {
        Change::Update {
            before: set("keep", RecordType::Txt, 60, &["\"not what the zone holds\""]),
            after: set("keep", RecordType::Txt, 60, &["\"overwritten\""]),
        }
    }

    async fn wrong_key(&self) -> WrongKey {
        let wrong =
            TsigKey::from_base64(self.0.key().name(), TsigAlgorithmName::HmacSha256, &base64(&[7; 32])).unwrap();
        let name = format!("{}-wrong-key", S::KIND);
        WrongKey::of(provider_with(&self.0, &name, Some(wrong), Duration::from_secs(5)))
    }

    fn stop(&mut self) {
        self.0.stop();
    }

    fn resume(&mut self) -> bool {
        self.0.resume();
        true
    }

    /// Another client, `nsupdate`, replaces the set.
    async fn change_behind(&self, set: &RecordSet) {
        let (name, ttl, rtype) = (&set.name, set.ttl, &set.rtype);
        self.0.nsupdate(&format!(
            "update delete {name} {rtype}\nupdate add {name} {ttl} {rtype} 192.0.2.99"
        ));
    }
}

mod bind {
    use super::*;
    conformance_suite!(Rfc<Bind>);
}

mod knot {
    use super::*;
    conformance_suite!(Rfc<Knot>);
}

/// One `#[tokio::test]` per check, run against the given server.
macro_rules! tests_for {
    ($server:ty, $($test:ident => $check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                $check::<$server>().await;
            }
        )*
    };
}

// ---- beyond the suite --------------------------------------------------------------

/// Another writer changes a set between our read and our apply: the apply is refused as
/// a conflict naming that set, nothing of the batch is written, and the other writer's
/// values stand. The same for a create racing another create, and a delete racing an
/// update.
async fn concurrent_change_is_conflict<S: Server>() {
    let server = server_with_zone::<S>();
    let p = provider(&server);
    let www = set("www", RecordType::A, 60, &["192.0.2.1"]);
    p.apply(&zone(), &[Change::Create { after: www.clone() }])
        .await
        .unwrap();
    let read = p.records(&zone()).await.unwrap();
    let before = find(&read, "www", &RecordType::A).unwrap().clone();
    assert_eq!(before, www);

    server.nsupdate("update delete www.example.test. A\nupdate add www.example.test. 60 A 198.51.100.7");

    let bystander = set("bystander", RecordType::A, 60, &["192.0.2.99"]);
    let ours = set("www", RecordType::A, 60, &["192.0.2.2"]);
    let error = p
        .apply(
            &zone(),
            &[
                Change::Create {
                    after: bystander.clone(),
                },
                Change::Update {
                    before: before.clone(),
                    after: ours,
                },
            ],
        )
        .await
        .expect_err("a stale update must be refused");
    assert!(matches!(error, ProviderError::Conflict { .. }), "{error:?}");
    let shown = error.to_string();
    assert!(shown.contains("changed concurrently"), "{shown}");
    assert!(shown.contains("www.example.test. A"), "{shown}");
    assert!(
        shown.contains("198.51.100.7"),
        "the message shows what the set holds now: {shown}"
    );
    assert!(shown.starts_with(S::KIND), "{shown}");

    let live = p.records(&zone()).await.unwrap();
    assert_eq!(find(&live, "www", &RecordType::A).unwrap().values, ["198.51.100.7"]);
    assert_eq!(
        find(&live, "bystander", &RecordType::A),
        None,
        "nothing of the refused batch is written"
    );
    assert_eq!(dig(server.addr(), "www.example.test.", "A"), ["198.51.100.7"]);
    assert_eq!(dig(server.addr(), "bystander.example.test.", "A"), Vec::<String>::new());

    // Someone else created the set we are about to create.
    server.nsupdate("update add race.example.test. 60 TXT \"theirs\"");
    let error = p
        .apply(
            &zone(),
            &[Change::Create {
                after: set("race", RecordType::Txt, 60, &["\"ours\""]),
            }],
        )
        .await
        .expect_err("creating over someone else's set must be refused");
    assert!(matches!(error, ProviderError::Conflict { .. }), "{error:?}");
    assert!(error.to_string().contains("race.example.test. TXT"), "{error}");
    let live = p.records(&zone()).await.unwrap();
    assert_eq!(find(&live, "race", &RecordType::Txt).unwrap().values, ["\"theirs\""]);

    // A delete of what we read, after someone else changed it.
    let now = find(&live, "www", &RecordType::A).unwrap().clone();
    server.nsupdate("update add www.example.test. 60 A 198.51.100.8");
    let error = p
        .apply(&zone(), &[Change::Delete { before: now }])
        .await
        .expect_err("a stale delete must be refused");
    assert!(matches!(error, ProviderError::Conflict { .. }), "{error:?}");
    assert_eq!(
        dig(server.addr(), "www.example.test.", "A"),
        ["198.51.100.7", "198.51.100.8"]
    );
}

/// Without a key, reads and writes are refused as authentication errors naming the
/// provider (BIND answers REFUSED, Knot NOTAUTH), and nothing is written.
async fn unsigned_is_auth_error<S: Server>() {
    let server = server_with_zone::<S>();
    let name = format!("{}-unsigned", S::KIND);
    let p = provider_with(&server, &name, None, Duration::from_secs(5));
    let read = p
        .records(&zone())
        .await
        .expect_err("an unsigned transfer must be refused");
    assert!(matches!(read, ProviderError::Auth { .. }), "{read:?}");
    assert!(read.to_string().contains(&name), "{read}");
    let write = p
        .apply(
            &zone(),
            &[Change::Create {
                after: set("unsigned", RecordType::A, 60, &["192.0.2.5"]),
            }],
        )
        .await
        .expect_err("an unsigned update must be refused");
    assert!(matches!(write, ProviderError::Auth { .. }), "{write:?}");
    assert!(write.to_string().contains(&name), "{write}");
    assert!(
        write.to_string().contains("TSIG"),
        "the message says what to do: {write}"
    );
    assert_eq!(dig(server.addr(), "unsigned.example.test.", "A"), Vec::<String>::new());
}

/// A wrong secret: `Auth` naming the provider on read and write, nothing written.
async fn wrong_secret_names_the_provider<S: Server>() {
    let server = server_with_zone::<S>();
    let name = format!("{}-secondary-account", S::KIND);
    let wrong_secret = base64(&[1; 32]);
    let wrong = TsigKey::from_base64(server.key().name(), TsigAlgorithmName::HmacSha256, &wrong_secret).unwrap();
    let p = provider_with(&server, &name, Some(wrong), Duration::from_secs(5));
    for error in [
        p.records(&zone()).await.expect_err("read with a wrong secret"),
        p.apply(
            &zone(),
            &[Change::Create {
                after: set("nope", RecordType::A, 60, &["192.0.2.50"]),
            }],
        )
        .await
        .expect_err("write with a wrong secret"),
    ] {
        assert!(matches!(error, ProviderError::Auth { .. }), "{error:?}");
        assert_eq!(error.provider(), name);
        assert!(error.to_string().starts_with(&name), "{error}");
        assert!(
            !error.to_string().contains(&wrong_secret),
            "the secret never shows: {error}"
        );
    }
    let live = provider(&server).records(&zone()).await.unwrap();
    assert_eq!(find(&live, "nope", &RecordType::A), None);
}

/// A zone the server does not serve: `ZoneNotFound`, not `Auth`, on read and write.
async fn unknown_zone_is_zone_not_found<S: Server>() {
    let server = server_with_zone::<S>();
    let p = provider(&server);
    let other = ZoneName::new("other.test.").unwrap();
    let read = p.records(&other).await.expect_err("no such zone");
    assert!(matches!(read, ProviderError::ZoneNotFound { .. }), "{read:?}");
    let create = RecordSet::new("www.other.test.", RecordType::A, 60, ["192.0.2.1"]).unwrap();
    let write = p
        .apply(&other, &[Change::Create { after: create }])
        .await
        .expect_err("no such zone");
    assert!(matches!(write, ProviderError::ZoneNotFound { .. }), "{write:?}");
}

/// The server stopped, and a server that accepts connections but never answers: both
/// `Transient`, within the timeout.
async fn unreachable_is_transient_within_timeout<S: Server>() {
    let mut server = server_with_zone::<S>();
    let p = provider_with(&server, S::KIND, Some(server.key()), Duration::from_secs(1));
    server.stop();
    let started = Instant::now();
    let error = p.records(&zone()).await.expect_err("stopped");
    assert!(matches!(error, ProviderError::Transient { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // The kernel completes the handshake for the listener's backlog; nothing answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let options = Rfc2136Options {
        server: silent.local_addr().unwrap(),
        timeout: Duration::from_millis(500),
    };
    let p = Rfc2136Provider::new("silent", Some(server.key()), options).unwrap();
    let started = Instant::now();
    let read = p.records(&zone()).await.expect_err("no answer");
    assert!(matches!(read, ProviderError::Transient { .. }), "{read:?}");
    let write = p
        .apply(
            &zone(),
            &[Change::Create {
                after: set("x", RecordType::A, 60, &["192.0.2.1"]),
            }],
        )
        .await
        .expect_err("no answer");
    assert!(matches!(write, ProviderError::Transient { .. }), "{write:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(2),
        "two calls of 500 ms took {took:?}"
    );
}

/// Every writable type survives a write and a read unchanged (values as `normalize`
/// spells them), and `dig` sees the same.
async fn record_types_round_trip<S: Server>() {
    let server = server_with_zone::<S>();
    let p = provider(&server);
    let desired = p.normalize(vec![
        set("v4", RecordType::A, 30, &["192.0.2.1", "192.0.2.2"]),
        set("v6", RecordType::Aaaa, 30, &["2001:DB8::1"]),
        set("alias", RecordType::Cname, 300, &["Target.Elsewhere.test"]),
        set(
            "sub",
            RecordType::Ns,
            3600,
            &["ns1.provider-a.test.", "ns2.provider-b.test."],
        ),
        // BIND refuses an MX whose target inside the zone has no address; in the same
        // batch is early enough.
        set(
            "@",
            RecordType::Mx,
            300,
            &["10 mx1.example.test.", "20 mx2.example.test."],
        ),
        set("mx1", RecordType::A, 300, &["192.0.2.25"]),
        set("mx2", RecordType::Aaaa, 300, &["2001:db8::25"]),
        set(
            "txt",
            RecordType::Txt,
            60,
            &[
                "v=spf1 -all",
                "\"two\" \"strings\"",
                "\"quote \\\" backslash \\\\ caf\\195\\169\"",
            ],
        ),
        set("_sip._tcp", RecordType::Srv, 60, &["10 20 5060 sip.example.test."]),
        set("@", RecordType::Caa, 60, &["0 issue \"ca.example.net\""]),
        set("1.2", RecordType::Ptr, 60, &["host.example.test."]),
    ]);
    let changes: Vec<Change> = desired.iter().map(|s| Change::Create { after: s.clone() }).collect();
    p.apply(&zone(), &changes).await.unwrap();
    let live = p.records(&zone()).await.unwrap();
    for want in &desired {
        assert_eq!(
            live.iter().find(|s| s.key() == want.key()),
            Some(want),
            "read back {want}"
        );
    }
    assert_eq!(dig(server.addr(), "txt.example.test.", "TXT").len(), 3);
    assert_eq!(
        dig(server.addr(), "alias.example.test.", "CNAME"),
        ["target.elsewhere.test."]
    );
    // Applying the same desired state again is a no-op plan: nothing differs.
    assert_eq!(p.normalize(live.clone()), live);
    let deletes: Vec<Change> = desired.iter().map(|s| Change::Delete { before: s.clone() }).collect();
    p.apply(&zone(), &deletes).await.unwrap();
    let after = p.records(&zone()).await.unwrap();
    assert!(
        desired.iter().all(|want| after.iter().all(|s| s.key() != want.key())),
        "{after:?}"
    );
}

/// The apex NS set is updated (servers ignore a whole-set delete there), TTL included;
/// a TTL-only change of an ordinary set applies too.
async fn apex_ns_and_ttl_updates<S: Server>() {
    let server = server_with_zone::<S>();
    let p = provider(&server);
    let live = p.records(&zone()).await.unwrap();
    let ns = find(&live, "@", &RecordType::Ns).unwrap().clone();
    assert_eq!(ns.values, ["ns1.example.test."]);
    let wider = set("@", RecordType::Ns, 120, &["ns1.example.test.", "ns.provider-b.test."]);
    p.apply(
        &zone(),
        &[Change::Update {
            before: ns.clone(),
            after: wider.clone(),
        }],
    )
    .await
    .unwrap();
    let live = p.records(&zone()).await.unwrap();
    assert_eq!(find(&live, "@", &RecordType::Ns), Some(&wider));
    let moved = set("@", RecordType::Ns, 120, &["ns.provider-b.test."]);
    p.apply(
        &zone(),
        &[Change::Update {
            before: wider,
            after: moved.clone(),
        }],
    )
    .await
    .unwrap();
    let live = p.records(&zone()).await.unwrap();
    assert_eq!(find(&live, "@", &RecordType::Ns), Some(&moved));
    assert_eq!(dig(server.addr(), ZONE, "NS"), ["ns.provider-b.test."]);

    let keep = find(&live, "keep", &RecordType::Txt).unwrap().clone();
    let longer = RecordSet {
        ttl: 3600,
        ..keep.clone()
    };
    p.apply(
        &zone(),
        &[Change::Update {
            before: keep,
            after: longer.clone(),
        }],
    )
    .await
    .unwrap();
    let live = p.records(&zone()).await.unwrap();
    assert_eq!(find(&live, "keep", &RecordType::Txt), Some(&longer));
}

/// A full batch (`max_batch` changes) fits one UPDATE, and a zone too big for one
/// transfer message (~130 KB) is read whole and verified message by message.
async fn full_batches_and_multi_message_transfer<S: Server>() {
    let server = server_with_zone::<S>();
    let p = provider(&server);
    let max = p.capabilities().max_batch;
    let hosts: Vec<RecordSet> = (0..max)
        .map(|i| {
            set(
                &format!("host-{i}"),
                RecordType::A,
                60,
                &[&format!("10.0.{}.{}", i / 250, i % 250 + 1)],
            )
        })
        .collect();
    let started = Instant::now();
    p.apply(
        &zone(),
        &hosts
            .iter()
            .map(|s| Change::Create { after: s.clone() })
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    eprintln!("{}: {max} creates in one UPDATE took {:?}", S::KIND, started.elapsed());

    let long = "x".repeat(250);
    for part in 0..2 {
        let texts: Vec<Change> = (0..200)
            .map(|i| Change::Create {
                after: set(&format!("t{part}-{i}"), RecordType::Txt, 60, &[&format!("\"{long}\"")]),
            })
            .collect();
        p.apply(&zone(), &texts).await.unwrap();
    }
    let started = Instant::now();
    let live = p.records(&zone()).await.unwrap();
    eprintln!(
        "{}: transfer of {} sets took {:?}",
        S::KIND,
        live.len(),
        started.elapsed()
    );
    assert_eq!(live.iter().filter(|s| s.name.starts_with("host-")).count(), max);
    assert_eq!(
        live.iter()
            .filter(|s| s.rtype == RecordType::Txt && s.values[0].len() == 252)
            .count(),
        400
    );

    let moved: Vec<Change> = hosts
        .iter()
        .map(|s| Change::Update {
            before: s.clone(),
            after: RecordSet {
                values: vec!["192.0.2.200".into()],
                ..s.clone()
            },
        })
        .collect();
    p.apply(&zone(), &moved).await.unwrap();
    let live = p.records(&zone()).await.unwrap();
    assert!(live
        .iter()
        .filter(|s| s.name.starts_with("host-"))
        .all(|s| s.values == ["192.0.2.200"]));

    let too_many: Vec<Change> = (0..=max)
        .map(|i| Change::Create {
            after: set(&format!("extra-{i}"), RecordType::A, 60, &["192.0.2.1"]),
        })
        .collect();
    let error = p.apply(&zone(), &too_many).await.expect_err("more than max_batch");
    assert!(matches!(error, ProviderError::Rejected { .. }), "{error:?}");
}

/// A key allowed only some names and types writes those, and is refused the rest as
/// `Auth`, with nothing of the refused batch applied; it still reads the whole zone.
async fn narrow_grant_allows_only_its_names_and_types<S: Server>() {
    let server = S::start_limited_to_lb(ZONE);
    let p = provider(&server);
    let lb = set("lb", RecordType::A, 60, &["192.0.2.80"]);
    let pool = set("pool.lb", RecordType::Aaaa, 60, &["2001:db8::80"]);
    p.apply(
        &zone(),
        &[
            Change::Create { after: lb.clone() },
            Change::Create { after: pool.clone() },
        ],
    )
    .await
    .unwrap();
    for outside in [
        set("www", RecordType::A, 60, &["192.0.2.81"]),
        set("lb", RecordType::Txt, 60, &["\"not allowed\""]),
    ] {
        let error = p
            .apply(
                &zone(),
                &[
                    Change::Update {
                        before: lb.clone(),
                        after: set("lb", RecordType::A, 60, &["192.0.2.82"]),
                    },
                    Change::Create { after: outside.clone() },
                ],
            )
            .await
            .expect_err("a set outside the grant must be refused");
        assert!(matches!(error, ProviderError::Auth { .. }), "{outside}: {error:?}");
        assert!(error.to_string().contains("may not write"), "{error}");
    }
    let live = p.records(&zone()).await.unwrap();
    assert_eq!(
        find(&live, "lb", &RecordType::A),
        Some(&lb),
        "nothing of a refused batch is applied"
    );
    assert_eq!(find(&live, "pool.lb", &RecordType::Aaaa), Some(&pool));
    assert_eq!(find(&live, "www", &RecordType::A), None);
}

/// `write_access` asks the server's update policy about exactly the steered sets with
/// an UPDATE that changes nothing: granted for sets inside the grant (present or
/// absent), denied naming the sets outside it, and the zone (serial included) is the
/// same afterwards.
async fn write_access_asks_the_update_policy<S: Server>() {
    let server = S::start_limited_to_lb(ZONE);
    let p = provider(&server);
    let lb = set("lb", RecordType::A, 60, &["192.0.2.80"]);
    p.apply(&zone(), &[Change::Create { after: lb.clone() }]).await.unwrap();
    let before = p.records(&zone()).await.unwrap();
    let key = |name: &str, rtype: RecordType| (zone().absolute(name).unwrap(), rtype);

    let granted = [key("lb", RecordType::A), key("pool.lb", RecordType::Aaaa)];
    match p.write_access(&zone(), &granted).await.unwrap() {
        WriteAccess::Granted(how) => assert!(how.contains("pool.lb.example.test. AAAA"), "{how}"),
        other => panic!("{}: a key granted lb A/AAAA: {other:?}", S::KIND),
    }
    let partly = [
        key("lb", RecordType::A),
        key("lb", RecordType::Txt),
        key("www", RecordType::A),
    ];
    match p.write_access(&zone(), &partly).await.unwrap() {
        WriteAccess::Denied(which) => {
            eprintln!("{}: {which}", S::KIND);
            assert!(which.contains("lb.example.test. TXT"), "{which}");
            assert!(which.contains("www.example.test. A"), "{which}");
            assert!(!which.contains("lb.example.test. A,"), "lb A is granted: {which}");
            assert!(which.contains("update-policy"), "says what to fix: {which}");
        }
        other => panic!("{}: lb TXT and www A are outside the grant: {other:?}", S::KIND),
    }
    let after = p.records(&zone()).await.unwrap();
    assert_eq!(before, after, "the probes changed nothing, the SOA serial included");
    let soa = find(&after, "@", &RecordType::Soa).expect("SOA");
    let serial_field = |s: &RecordSet| s.values[0].split_whitespace().nth(2).unwrap().to_string();
    assert_eq!(
        serial_field(soa),
        serial_field(find(&before, "@", &RecordType::Soa).unwrap())
    );
}

/// A key the server lets transfer the zone but not update at all is denied, naming the
/// refusal (BIND: REFUSED, Knot: NOTAUTH), and nothing is written. A zone where nothing
/// is steered is not asked about: BIND accepts an empty UPDATE even from this key (its
/// update-policy is checked per record of the update section), so one tells nothing.
async fn transfer_only_key_is_denied<S: Server>(server: S, refusal: &str) {
    let p = provider(&server);
    let before = p.records(&zone()).await.unwrap();
    let www = (zone().absolute("www").unwrap(), RecordType::A);
    match p.write_access(&zone(), &[www]).await.unwrap() {
        WriteAccess::Denied(which) => {
            assert!(
                which.contains("www.example.test. A") && which.contains(refusal),
                "{which}"
            );
        }
        other => panic!("{}: a key granted no update: {other:?}", S::KIND),
    }
    let nothing_steered = p.write_access(&zone(), &[]).await.unwrap();
    assert!(
        matches!(nothing_steered, WriteAccess::Unverifiable(_)),
        "{nothing_steered:?}"
    );
    assert_eq!(p.records(&zone()).await.unwrap(), before, "nothing written");
}

#[tokio::test]
async fn bind_transfer_only_key_is_denied() {
    let server = Bind::start_with_policy(ZONE, "grant \"someone-else\" zonesub ANY;");
    transfer_only_key_is_denied(server, "REFUSED").await;
}

#[tokio::test]
async fn knot_transfer_only_key_is_denied() {
    transfer_only_key_is_denied(Knot::start_transfer_only(ZONE), "NOTAUTH").await;
}

/// BIND refuses (REFUSED) an MX whose target inside the zone has no address: that is the
/// content, not the key, so `Rejected`; with the address in the same batch it passes.
#[tokio::test]
async fn bind_refused_content_is_rejected() {
    let server = server_with_zone::<Bind>();
    let p = provider(&server);
    let mx = set("@", RecordType::Mx, 60, &["10 mail.example.test."]);
    let error = p
        .apply(&zone(), &[Change::Create { after: mx.clone() }])
        .await
        .expect_err("BIND refuses an MX without address");
    assert!(matches!(error, ProviderError::Rejected { .. }), "{error:?}");
    assert!(error.to_string().contains("MX"), "{error}");
    let mail = set("mail", RecordType::A, 60, &["192.0.2.25"]);
    p.apply(
        &zone(),
        &[Change::Create { after: mx.clone() }, Change::Create { after: mail }],
    )
    .await
    .unwrap();
    let live = p.records(&zone()).await.unwrap();
    assert_eq!(find(&live, "@", &RecordType::Mx), Some(&mx));
}

tests_for!(Bind,
    bind_concurrent_change_is_conflict => concurrent_change_is_conflict,
    bind_unsigned_is_auth_error => unsigned_is_auth_error,
    bind_wrong_secret_names_the_provider => wrong_secret_names_the_provider,
    bind_unknown_zone_is_zone_not_found => unknown_zone_is_zone_not_found,
    bind_unreachable_is_transient_within_timeout => unreachable_is_transient_within_timeout,
    bind_record_types_round_trip => record_types_round_trip,
    bind_apex_ns_and_ttl_updates => apex_ns_and_ttl_updates,
    bind_full_batches_and_multi_message_transfer => full_batches_and_multi_message_transfer,
    bind_narrow_grant_allows_only_its_names_and_types => narrow_grant_allows_only_its_names_and_types,
    bind_write_access_asks_the_update_policy => write_access_asks_the_update_policy,
);

tests_for!(Knot,
    knot_concurrent_change_is_conflict => concurrent_change_is_conflict,
    knot_unsigned_is_auth_error => unsigned_is_auth_error,
    knot_wrong_secret_names_the_provider => wrong_secret_names_the_provider,
    knot_unknown_zone_is_zone_not_found => unknown_zone_is_zone_not_found,
    knot_unreachable_is_transient_within_timeout => unreachable_is_transient_within_timeout,
    knot_record_types_round_trip => record_types_round_trip,
    knot_apex_ns_and_ttl_updates => apex_ns_and_ttl_updates,
    knot_full_batches_and_multi_message_transfer => full_batches_and_multi_message_transfer,
    knot_narrow_grant_allows_only_its_names_and_types => narrow_grant_allows_only_its_names_and_types,
    knot_write_access_asks_the_update_policy => write_access_asks_the_update_policy,
);

#[test]
fn test_secrets_are_standard_base64() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}
