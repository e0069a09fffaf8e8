//! The etcd client (`dnsteer::fleet::etcd`) against a real 3-member etcd 3.4 cluster on
//! loopback: keys, prefixes, a create-if-absent race, leases, and members lost.

mod support;

use std::time::{Duration, Instant};

use dnsteer::fleet::etcd::{Compare, CompareOp, EtcdClient, EtcdError, Txn, TxnOp, TxnResponse};
use support::etcd::EtcdCluster;

const TIMEOUT: Duration = Duration::from_secs(2);

fn client(cluster: &EtcdCluster, prefix: &str) -> EtcdClient {
    EtcdClient::new(cluster.endpoints(), prefix.to_string(), None, TIMEOUT).unwrap()
}

/// Takes `key` if nobody holds it; otherwise reads who does.
async fn campaign(c: &EtcdClient, key: &str, me: &str) -> TxnResponse {
    let txn = Txn::new()
        .when([Compare::create_revision(key, CompareOp::Equal, 0)])
        .and_then([TxnOp::put(key, me, None)])
        .or_else([TxnOp::get(key)]);
    c.txn(&txn).await.unwrap()
}

/// Polls `check` every 100 ms for at most `limit`; how long it took to hold.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn keys_prefixes_and_a_create_if_absent_race() {
    let cluster = EtcdCluster::start();
    let c = client(&cluster, "/dnsteer/");
    let outside = client(&cluster, "/other/");

    let rev = c.put("vantage/a", b"1", None).await.unwrap();
    c.put("vantage/b", b"2", None).await.unwrap();
    c.put("vantagex", b"not under vantage/", None).await.unwrap();
    outside.put("vantage/c", b"other prefix", None).await.unwrap();

    let a = c.get("vantage/a").await.unwrap().expect("vantage/a exists");
    assert_eq!((a.key.as_str(), a.value.as_slice()), ("vantage/a", b"1".as_slice()));
    assert_eq!((a.create_revision, a.mod_revision, a.lease), (rev, rev, None));
    assert_eq!(c.get("absent").await.unwrap(), None);

    let listed = c.get_prefix("vantage/").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["vantage/a", "vantage/b"]);
    assert_eq!(
        c.get_prefix("").await.unwrap().len(),
        3,
        "the client's prefix bounds it"
    );

    let rev2 = c.put("vantage/a", b"3", None).await.unwrap();
    let a2 = c.get("vantage/a").await.unwrap().unwrap();
    assert_eq!((a2.create_revision, a2.mod_revision), (rev, rev2));
    assert!(c.delete("vantage/a").await.unwrap());
    assert!(!c.delete("vantage/a").await.unwrap());

    // Two callers race for the same key: exactly one wins, the other reads the winner.
    let other = client(&cluster, "/dnsteer/");
    let (first, second) = tokio::join!(campaign(&c, "leader", "a"), campaign(&other, "leader", "b"));
    assert_ne!(first.succeeded, second.succeeded, "{first:?} {second:?}");
    let (won, lost) = if first.succeeded {
        (first, second)
    } else {
        (second, first)
    };
    let holder = lost.ranges[0].clone().expect("the loser reads the holder");
    assert_eq!(holder.create_revision, won.revision);
    assert!(won.ranges.is_empty());

    // The key's create revision, the fence, only grows as leadership changes hands.
    let again = campaign(&c, "leader", "c").await;
    assert!(!again.succeeded);
    let fenced = Txn::new()
        .when([Compare::value("leader", CompareOp::Equal, holder.value.clone())])
        .and_then([TxnOp::delete("leader")]);
    assert!(c.txn(&fenced).await.unwrap().succeeded);
    let next = campaign(&other, "leader", "d").await;
    assert!(next.succeeded);
    let taken = c.get("leader").await.unwrap().unwrap();
    assert!(
        taken.create_revision > holder.create_revision,
        "{taken:?} after {holder:?}"
    );

    // A stale fence no longer matches.
    let stale = Txn::new()
        .when([Compare::create_revision(
            "leader",
            CompareOp::Equal,
            holder.create_revision,
        )])
        .and_then([TxnOp::put("fence-checked-write", "x", None)]);
    assert!(!c.txn(&stale).await.unwrap().succeeded);
    assert_eq!(c.get("fence-checked-write").await.unwrap(), None);
}

#[tokio::test]
async fn a_lease_keeps_its_keys_only_while_kept_alive() {
    let cluster = EtcdCluster::start();
    let c = client(&cluster, "/dnsteer/");

    let (lapsing, ttl) = c.lease_grant(Duration::from_secs(2)).await.unwrap();
    assert!(ttl >= Duration::from_secs(2), "{ttl:?}");
    c.put("vantage/lapsing", b"x", Some(lapsing)).await.unwrap();
    assert_eq!(c.get("vantage/lapsing").await.unwrap().unwrap().lease, Some(lapsing));

    let (kept, _) = c.lease_grant(Duration::from_secs(2)).await.unwrap();
    c.put("vantage/kept", b"y", Some(kept)).await.unwrap();

    // Keep one alive while the other lapses.
    let start = Instant::now();
    let mut gone = None;
    while start.elapsed() < ttl + Duration::from_secs(4) {
        let left = c.lease_keep_alive(kept).await.unwrap();
        assert!(
            left > Duration::ZERO,
            "the kept lease expired after {:?}",
            start.elapsed()
        );
        if gone.is_none() && c.get("vantage/lapsing").await.unwrap().is_none() {
            gone = Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let gone = gone.expect("a lease not kept alive lapses");
    assert!(gone <= ttl + Duration::from_secs(2), "lapsed after {gone:?}");
    assert!(c.get("vantage/kept").await.unwrap().is_some());

    assert_eq!(c.lease_keep_alive(lapsing).await.unwrap(), Duration::ZERO);
    assert!(matches!(
        c.put("vantage/late", b"z", Some(lapsing)).await,
        Err(EtcdError::LeaseNotFound)
    ));

    c.lease_revoke(kept).await.unwrap();
    assert_eq!(
        c.get("vantage/kept").await.unwrap(),
        None,
        "revoking deletes its keys at once"
    );
    c.lease_revoke(kept).await.unwrap();
}

#[tokio::test]
async fn one_member_down_is_no_disruption_two_down_fail_in_time() {
    let mut cluster = EtcdCluster::start();
    let c = client(&cluster, "/dnsteer/");
    c.put("k", b"0", None).await.unwrap();

    // The first endpoint, the one the client prefers, goes. If it was etcd's raft
    // leader, writes wait for an election (about a second here, longer under load):
    // the client must get through once the remaining two agree, not hang.
    cluster.kill(0);
    let elected = within(Duration::from_secs(15), async || c.put("k", b"1", None).await.is_ok()).await;
    assert!(
        elected.is_some(),
        "writes did not get through with two members of three"
    );
    let start = Instant::now();
    c.put("k", b"1", None).await.unwrap();
    assert_eq!(c.get("k").await.unwrap().unwrap().value, b"1");
    let (lease, _) = c.lease_grant(Duration::from_secs(5)).await.unwrap();
    assert!(c.lease_keep_alive(lease).await.unwrap() > Duration::ZERO);
    assert!(start.elapsed() < TIMEOUT * 2, "took {:?}", start.elapsed());

    // Quorum lost: every call fails as unavailable within its timeout, none hangs.
    cluster.kill(1);
    let slack = Duration::from_millis(500);
    for _ in 0..3 {
        let start = Instant::now();
        let err = c.get("k").await.unwrap_err();
        assert!(matches!(err, EtcdError::Unavailable(_)), "{err}");
        assert!(start.elapsed() < TIMEOUT + slack, "get took {:?}", start.elapsed());
        let start = Instant::now();
        let err = c.put("k", b"2", None).await.unwrap_err();
        assert!(matches!(err, EtcdError::Unavailable(_)), "{err}");
        assert!(start.elapsed() < TIMEOUT + slack, "put took {:?}", start.elapsed());
    }

    // Quorum back: calls succeed again without a new client.
    cluster.restart(0);
    let back = within(Duration::from_secs(15), async || c.put("k", b"3", None).await.is_ok()).await;
    assert!(back.is_some(), "writes did not resume");
    assert_eq!(c.get("k").await.unwrap().unwrap().value, b"3");
}
