//! The provider conformance suite: what every adapter must do against its server (or
//! its fake), the same checks for every kind.
//!
//! # Adding a kind
//!
//! In `providers/tests/provider_<kind>.rs`, implement [`Harness`] for a type that owns
//! the server (or fake) and run the whole suite with one line:
//!
//! ```ignore
//! mod support;
//! use support::conformance::{Harness, WrongKey};
//!
//! struct Pdns(PowerDns);
//!
//! impl Harness for Pdns {
//!     async fn start() -> Self { /* the zone, with an unmanaged record beside SOA/NS */ }
//!     fn zone(&self) -> ZoneName { /* ... */ }
//!     fn provider(&self) -> Box<dyn Provider> { /* the adapter, fast timeouts */ }
//!     async fn refused_change(&self) -> Change { /* one the server refuses */ }
//!     async fn wrong_key(&self) -> WrongKey { /* the adapter with credentials it refuses */ }
//!     fn stop(&mut self) { /* stop the server or drop the fake */ }
//! }
//!
//! conformance_suite!(Pdns);
//! ```
//!
//! `conformance_suite!(H)` generates a module `conformance_suite` holding one
//! `#[tokio::test]` per check (`apply_then_read_gives_desired`, `apply_twice_is_harmless`,
//! `unnamed_records_untouched`, `refused_batch_leaves_zone_unchanged`,
//! `wrong_key_is_auth_error`, `stale_batch_is_conflict`, `stopped_server_is_transient`),
//! each on a fresh `H::start()`. For several servers of one kind (BIND and Knot), invoke it once per
//! harness inside a module of its own (`mod bind { use super::*; conformance_suite!(..); }`).
//! Each check takes a provider whose zone already exists and holds at least an SOA and
//! apex NS set, plus whatever unmanaged records the harness put there.

use std::any::Any;
use std::time::{Duration, Instant};

use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::{Change, Provider, ProviderError, RecordSet, RecordType, ZoneName};

/// An adapter whose credentials the server refuses, and what must live as long as it
/// (a server of its own, where the harness's cannot check credentials).
pub struct WrongKey {
    pub provider: Box<dyn Provider>,
    pub keep: Option<Box<dyn Any>>,
}

impl WrongKey {
    /// An adapter of the harness's own server.
    pub fn of(provider: impl Provider + 'static) -> Self {
        Self {
            provider: Box::new(provider),
            keep: None,
        }
    }

    /// An adapter of a server started for it, which lives as long as it.
    pub fn kept_with(provider: impl Provider + 'static, server: impl Any) -> Self {
        Self {
            provider: Box::new(provider),
            keep: Some(Box::new(server)),
        }
    }
}

/// A fake for a harness to hold: `stop` drops it, and its port then refuses.
pub struct Running<F>(Option<F>);

impl<F> Running<F> {
    pub fn new(fake: F) -> Self {
        Self(Some(fake))
    }

    pub fn get(&self) -> &F {
        self.0.as_ref().expect("the fake is running")
    }

    pub fn stop(&mut self) {
        self.0 = None;
    }
}

/// What a kind gives the conformance suite. `conformance_suite!` runs every check on a
/// fresh `start()`.
#[allow(async_fn_in_trait)] // the suite runs each test on tokio's current-thread runtime
pub trait Harness: Sized {
    /// How long reading and writing may take to fail once the server is stopped
    /// (timeouts and retries included).
    const STOPPED_LIMIT: Duration = Duration::from_secs(8);

    /// A server (or fake) holding `zone()` with SOA, apex NS and at least one record
    /// nobody manages.
    async fn start() -> Self;
    /// The zone the harness serves: `example.test.` unless it says otherwise.
    fn zone(&self) -> ZoneName {
        ZoneName::new("example.test.").unwrap()
    }
    /// The adapter under test, configured with short timeouts.
    fn provider(&self) -> Box<dyn Provider>;
    /// A change the server refuses, so that a batch of it and a good change leaves the
    /// zone unchanged. It may prepare the zone first.
    async fn refused_change(&self) -> Change;
    /// The adapter with credentials the server refuses.
    async fn wrong_key(&self) -> WrongKey;
    /// Stops the server, or drops the fake: the adapter must then fail as transient.
    fn stop(&mut self);
    /// Starts the server again; `false` where it cannot (a fake is gone for good).
    fn resume(&mut self) -> bool {
        false
    }

    /// Another writer changes `set` (to other values, or away) behind the adapter's
    /// back. By default it replaces the values through another adapter; a harness with
    /// a way around the API (a fake's own store, `nsupdate`) overrides this with it.
    async fn change_behind(&self, set: &RecordSet) {
        let change = Change::Update {
            before: set.clone(),
            after: RecordSet {
                values: vec!["192.0.2.99".into()],
                ..set.clone()
            },
        };
        self.provider()
            .apply(&self.zone(), &[change])
            .await
            .expect("the other writer's change");
    }
}

/// Every conformance check against `H` (see the module's note); `conformance_suite!(H;
/// check, ...)` only the checks named, for a server known to fall short of the API it
/// stands in for (say why beside it).
#[macro_export]
macro_rules! conformance_suite {
    (@check $harness:ty, apply_then_read_gives_desired) => {
        #[tokio::test]
        async fn apply_then_read_gives_desired() {
            let h = <$harness>::start().await;
            suite::apply_then_read_gives_desired(h.provider().as_ref(), &h.zone()).await;
        }
    };
    (@check $harness:ty, apply_twice_is_harmless) => {
        #[tokio::test]
        async fn apply_twice_is_harmless() {
            let h = <$harness>::start().await;
            suite::apply_twice_is_harmless(h.provider().as_ref(), &h.zone()).await;
        }
    };
    (@check $harness:ty, unnamed_records_untouched) => {
        #[tokio::test]
        async fn unnamed_records_untouched() {
            let h = <$harness>::start().await;
            suite::unnamed_records_untouched(h.provider().as_ref(), &h.zone()).await;
        }
    };
    (@check $harness:ty, refused_batch_leaves_zone_unchanged) => {
        #[tokio::test]
        async fn refused_batch_leaves_zone_unchanged() {
            let h = <$harness>::start().await;
            let refused = h.refused_change().await;
            suite::refused_batch_leaves_zone_unchanged(h.provider().as_ref(), &h.zone(), refused).await;
        }
    };
    (@check $harness:ty, wrong_key_is_auth_error) => {
        #[tokio::test]
        async fn wrong_key_is_auth_error() {
            let h = <$harness>::start().await;
            let wrong = h.wrong_key().await;
            suite::wrong_key_is_auth_error(wrong.provider.as_ref(), &h.zone()).await;
        }
    };
    (@check $harness:ty, stale_batch_is_conflict) => {
        #[tokio::test]
        async fn stale_batch_is_conflict() {
            let h = <$harness>::start().await;
            suite::stale_batch_is_conflict(&h).await;
        }
    };
    (@check $harness:ty, stopped_server_is_transient) => {
        #[tokio::test]
        async fn stopped_server_is_transient() {
            let mut h = <$harness>::start().await;
            let (p, zone) = (h.provider(), h.zone());
            let before = p.records(&zone).await.expect("reads while up");
            h.stop();
            suite::stopped_server_is_transient(p.as_ref(), &zone, <$harness>::STOPPED_LIMIT).await;
            if h.resume() {
                // It recovers once the server is back, with the zone as it was.
                let after = p.records(&zone).await.expect("reads once restarted");
                assert_eq!(suite::without_soa(after), suite::without_soa(before));
            }
        }
    };
    ($harness:ty; $($check:ident),+ $(,)?) => {
        mod conformance_suite {
            use super::*;
            use $crate::support::conformance as suite;
            #[allow(unused_imports)] // where the caller has not imported it
            use $crate::support::conformance::Harness as _;

            $($crate::conformance_suite!(@check $harness, $check);)+
        }
    };
    ($harness:ty) => {
        $crate::conformance_suite!($harness;
            apply_then_read_gives_desired,
            apply_twice_is_harmless,
            unnamed_records_untouched,
            refused_batch_leaves_zone_unchanged,
            wrong_key_is_auth_error,
            stale_batch_is_conflict,
            stopped_server_is_transient,
        );
    };
}

/// HTTP settings for an adapter under test against a local fake: a short timeout and
/// quick retries, so a failing case fails in seconds.
pub fn fast_http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(2),
        base_backoff: Duration::from_millis(50),
        ..HttpConfig::default()
    }
}

/// A record set from literals (which must be valid).
pub fn set(name: &str, rtype: RecordType, ttl: u32, values: &[&str]) -> RecordSet {
    RecordSet::new(name, rtype, ttl, values.iter().copied()).unwrap()
}

fn find<'a>(sets: &'a [RecordSet], name: &str, rtype: &RecordType) -> Option<&'a RecordSet> {
    sets.iter().find(|s| s.name == name && &s.rtype == rtype)
}

/// Applies `changes`, then reads the zone back and asserts every created/updated set is
/// exactly there and every deleted set gone.
async fn apply_and_verify(p: &dyn Provider, zone: &ZoneName, changes: &[Change]) -> Vec<RecordSet> {
    let applied = p
        .apply(zone, changes)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
    assert_eq!(applied.changes, changes.len());
    let live = p.records(zone).await.unwrap();
    for change in changes {
        match change {
            Change::Create { after } | Change::Update { after, .. } => {
                let after = &p.normalize(vec![after.clone()])[0];
                assert_eq!(find(&live, &after.name, &after.rtype), Some(after), "after {change}");
            }
            Change::Delete { before } => {
                assert_eq!(find(&live, &before.name, &before.rtype), None, "after {change}");
            }
        }
    }
    live
}

/// Create, update and delete: re-reading gives exactly the desired sets, and the
/// reverse changes bring the zone back.
pub async fn apply_then_read_gives_desired(p: &dyn Provider, zone: &ZoneName) {
    let www = zone.absolute("www").unwrap();
    let v6 = zone.absolute("v6").unwrap();
    let alias = zone.absolute("alias").unwrap();
    let a1 = set(&www, RecordType::A, 60, &["192.0.2.10", "192.0.2.11"]);
    let aaaa = set(&v6, RecordType::Aaaa, 120, &["2001:db8::10"]);
    let cname = set(&alias, RecordType::Cname, 300, &[&www]);
    apply_and_verify(
        p,
        zone,
        &[
            Change::Create { after: a1.clone() },
            Change::Create { after: aaaa.clone() },
            Change::Create { after: cname.clone() },
        ],
    )
    .await;

    let a2 = set(&www, RecordType::A, 30, &["198.51.100.10"]);
    let cname2 = set(&alias, RecordType::Cname, 300, &["target.elsewhere.test."]);
    apply_and_verify(
        p,
        zone,
        &[
            Change::Update {
                before: a1,
                after: a2.clone(),
            },
            Change::Update {
                before: cname,
                after: cname2.clone(),
            },
            Change::Delete { before: aaaa },
        ],
    )
    .await;
    apply_and_verify(
        p,
        zone,
        &[Change::Delete { before: a2 }, Change::Delete { before: cname2 }],
    )
    .await;
}

/// Applying the same create twice either succeeds again or is refused as a conflict,
/// and in both cases the zone holds the desired set exactly once, unchanged.
pub async fn apply_twice_is_harmless(p: &dyn Provider, zone: &ZoneName) {
    let name = zone.absolute("twice").unwrap();
    let desired = set(&name, RecordType::A, 60, &["192.0.2.20"]);
    let changes = [Change::Create { after: desired.clone() }];
    apply_and_verify(p, zone, &changes).await;
    let before = p.records(zone).await.unwrap();
    match p.apply(zone, &changes).await {
        Ok(_) | Err(ProviderError::Conflict { .. }) => {}
        Err(e) => panic!("a repeated apply must be harmless, got: {e}"),
    }
    let after = p.records(zone).await.unwrap();
    assert_eq!(
        without_soa(before),
        without_soa(after),
        "a repeated apply changed the zone"
    );
    p.apply(zone, &[Change::Delete { before: desired }]).await.unwrap();
}

/// Records the changes do not name (other names, other types at the same name) are left
/// exactly as they were.
pub async fn unnamed_records_untouched(p: &dyn Provider, zone: &ZoneName) {
    let mail = zone.absolute("mail").unwrap();
    let before = p.records(zone).await.unwrap();
    let neighbour_a = set(&mail, RecordType::A, 60, &["192.0.2.30"]);
    let neighbour_txt = set(&mail, RecordType::Txt, 60, &["\"keep me\""]);
    p.apply(
        zone,
        &[
            Change::Create {
                after: neighbour_a.clone(),
            },
            Change::Create {
                after: neighbour_txt.clone(),
            },
        ],
    )
    .await
    .unwrap();
    let with_neighbours = p.records(zone).await.unwrap();

    // Change only the A set at `mail`: its TXT sibling and everything else must stay.
    let moved = set(&mail, RecordType::A, 60, &["192.0.2.31"]);
    p.apply(
        zone,
        &[Change::Update {
            before: neighbour_a,
            after: moved.clone(),
        }],
    )
    .await
    .unwrap();
    let after = p.records(zone).await.unwrap();
    let untouched = |sets: &[RecordSet]| -> Vec<RecordSet> {
        sets.iter()
            .filter(|s| !(s.name == mail && s.rtype == RecordType::A) && s.rtype != RecordType::Soa)
            .cloned()
            .collect()
    };
    assert_eq!(untouched(&with_neighbours), untouched(&after));
    assert!(find(&after, &mail, &RecordType::Txt).is_some(), "TXT sibling lost");

    p.apply(
        zone,
        &[
            Change::Delete { before: moved },
            Change::Delete { before: neighbour_txt },
        ],
    )
    .await
    .unwrap();
    assert_eq!(without_soa(before), without_soa(p.records(zone).await.unwrap()));
}

/// A batch with one change the server refuses leaves the zone exactly as it was: the
/// good change beside it is not applied either.
pub async fn refused_batch_leaves_zone_unchanged(p: &dyn Provider, zone: &ZoneName, refused: Change) {
    let good = set(
        &zone.absolute("batch-good").unwrap(),
        RecordType::A,
        60,
        &["192.0.2.40"],
    );
    let before = p.records(zone).await.unwrap();
    let result = p.apply(zone, &[Change::Create { after: good.clone() }, refused]).await;
    let error = result.expect_err("the server should refuse this batch");
    assert!(
        matches!(error, ProviderError::Rejected { .. } | ProviderError::Conflict { .. }),
        "a refused batch is Rejected or Conflict, got {error:?}"
    );
    assert_eq!(error.provider(), p.name());
    let after = p.records(zone).await.unwrap();
    assert_eq!(before, after, "a refused batch changed the zone");
}

/// A batch one of whose sets another writer changed since the plan read it is refused
/// as `Conflict`, and nothing of it is written (the good change beside it neither).
pub async fn stale_batch_is_conflict<H: Harness>(h: &H) {
    let (p, zone) = (h.provider(), h.zone());
    let name = zone.absolute("stale").unwrap();
    let read = set(&name, RecordType::A, 60, &["192.0.2.1"]);
    p.apply(&zone, &[Change::Create { after: read.clone() }]).await.unwrap();
    h.change_behind(&read).await;
    let before = p.records(&zone).await.unwrap();
    let bystander = set(&zone.absolute("bystander").unwrap(), RecordType::A, 60, &["192.0.2.5"]);
    let ours = Change::Update {
        before: read,
        after: set(&name, RecordType::A, 60, &["192.0.2.2"]),
    };
    let error = p
        .apply(&zone, &[Change::Create { after: bystander }, ours])
        .await
        .expect_err("a batch read before another writer's change must be refused");
    assert!(matches!(error, ProviderError::Conflict { .. }), "{error:?}");
    assert!(error.to_string().contains("changed concurrently"), "{error}");
    assert_eq!(error.provider(), p.name());
    assert_eq!(
        p.records(&zone).await.unwrap(),
        before,
        "nothing of the batch is written"
    );
}

/// Wrong credentials give an auth error that names the provider, on read and on write.
pub async fn wrong_key_is_auth_error(wrong: &dyn Provider, zone: &ZoneName) {
    let read = wrong
        .records(zone)
        .await
        .expect_err("reading with a wrong key must fail");
    assert!(
        matches!(read, ProviderError::Auth { .. }),
        "read with a wrong key: {read:?}"
    );
    assert!(
        read.to_string().contains(wrong.name()),
        "{read} does not name the provider"
    );
    let create = Change::Create {
        after: set(&zone.absolute("nope").unwrap(), RecordType::A, 60, &["192.0.2.50"]),
    };
    let write = wrong
        .apply(zone, &[create])
        .await
        .expect_err("writing with a wrong key must fail");
    assert!(
        matches!(write, ProviderError::Auth { .. }),
        "write with a wrong key: {write:?}"
    );
}

/// With the server stopped, reads and writes fail as transient errors within the
/// provider's timeout (plus its retries), not after hanging.
pub async fn stopped_server_is_transient(p: &dyn Provider, zone: &ZoneName, limit: Duration) {
    let started = Instant::now();
    let read = p
        .records(zone)
        .await
        .expect_err("reading from a stopped server must fail");
    assert!(
        matches!(read, ProviderError::Transient { .. }),
        "read from a stopped server: {read:?}"
    );
    let create = Change::Create {
        after: set(&zone.absolute("down").unwrap(), RecordType::A, 60, &["192.0.2.60"]),
    };
    let write = p
        .apply(zone, &[create])
        .await
        .expect_err("writing to a stopped server must fail");
    assert!(
        matches!(write, ProviderError::Transient { .. }),
        "write to a stopped server: {write:?}"
    );
    assert!(
        started.elapsed() < limit,
        "failing took {:?}, more than {limit:?}",
        started.elapsed()
    );
}

/// A 429 with `Retry-After: 1` is waited out and the read retried; one longer than a
/// call may wait fails at once as `RateLimited`, and later calls send nothing until it
/// has passed. `throttle(secs)` makes the fake answer its next request 429 with that
/// `Retry-After`; `arrivals()` is when each request reached it.
pub async fn retry_after_is_honoured(
    p: &dyn Provider,
    zone: &ZoneName,
    throttle: &dyn Fn(u64),
    arrivals: &dyn Fn() -> Vec<Instant>,
) {
    p.records(zone).await.unwrap();
    throttle(1);
    let started = Instant::now();
    p.records(zone).await.expect("retried after the 429");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried after {:?}",
        started.elapsed()
    );
    let log = arrivals();
    let gap = log[log.len() - 1].duration_since(log[log.len() - 2]);
    assert!(
        gap >= Duration::from_millis(990),
        "the retry came {gap:?} after the 429"
    );

    throttle(30);
    let err = p.records(zone).await.unwrap_err();
    match err {
        ProviderError::RateLimited {
            retry_after: Some(after),
            ..
        } => assert!(after > Duration::from_secs(25)),
        other => panic!("{other:?}"),
    }
    let sent = arrivals().len();
    let again = p.records(zone).await.unwrap_err();
    assert!(matches!(again, ProviderError::RateLimited { .. }), "{again:?}");
    assert_eq!(arrivals().len(), sent, "no request while the provider asked for quiet");
}

pub fn without_soa(sets: Vec<RecordSet>) -> Vec<RecordSet> {
    sets.into_iter().filter(|s| s.rtype != RecordType::Soa).collect()
}
