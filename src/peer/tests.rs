use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::*;

/// A link straight into the other lease's handlers; `down` makes the peer unreachable.
#[derive(Clone)]
struct FakeLink {
    other: Arc<OnceLock<Arc<dyn Lease>>>,
    down: Arc<AtomicBool>,
    /// Answers, but refuses every request (as with a wrong token).
    refusing: bool,
}

#[async_trait]
impl PeerLink for FakeLink {
    async fn sync(&self, request: &SyncRequest) -> Result<SyncResponse, PeerError> {
        if self.refusing {
            return Err(PeerError::Refused("HTTP 401".into()));
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(PeerError::Unreachable("connection refused".into()));
        }
        Ok(self.other.get().unwrap().handle_sync(request, Vec::new()).0)
    }
    async fn vote(&self, request: &VoteRequest) -> Result<VoteResponse, PeerError> {
        if self.refusing {
            return Err(PeerError::Refused("HTTP 401".into()));
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(PeerError::Unreachable("connection refused".into()));
        }
        Ok(self.other.get().unwrap().handle_vote(request).0)
    }
}

const LEASE: Duration = Duration::from_millis(60);

struct Pair {
    a: Arc<dyn Lease>,
    b: Arc<dyn Lease>,
    /// Makes a unreachable from b (a is "dead" to b) and the reverse.
    a_down: Arc<AtomicBool>,
    b_down: Arc<AtomicBool>,
}

fn pair(term_a: u64, term_b: u64) -> Pair {
    let (to_b, to_a) = (Arc::new(OnceLock::new()), Arc::new(OnceLock::new()));
    let (a_down, b_down) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let now = Instant::now();
    let a: Arc<dyn Lease> = Arc::new(PeerLease::new(
        "a",
        LEASE,
        term_a,
        Some(FakeLink {
            other: to_b.clone(),
            down: b_down.clone(),
            refusing: false,
        }),
        now,
    ));
    let b: Arc<dyn Lease> = Arc::new(PeerLease::new(
        "b",
        LEASE,
        term_b,
        Some(FakeLink {
            other: to_a.clone(),
            down: a_down.clone(),
            refusing: false,
        }),
        now,
    ));
    let _ = to_b.set(b.clone());
    let _ = to_a.set(a.clone());
    Pair { a, b, a_down, b_down }
}

/// Ticks both (skipping a "dead" one) every tick interval until `done` or the bound.
async fn run_until(p: &Pair, a_alive: bool, mut done: impl FnMut(&Pair) -> bool) -> bool {
    for _ in 0..200 {
        if a_alive {
            p.a.tick(Vec::new()).await;
        }
        p.b.tick(Vec::new()).await;
        let leaders = [&p.a, &p.b].iter().filter(|l| l.write_term().is_some()).count();
        assert!(leaders <= 1 || !a_alive, "two daemons may write at once");
        if done(p) {
            return true;
        }
        tokio::time::sleep(LEASE / 3).await;
    }
    false
}

#[tokio::test]
async fn a_lone_daemon_leads_at_once_with_a_higher_term() {
    let lease = PeerLease::<FakeLink>::new("solo", LEASE, 41, None, Instant::now());
    assert_eq!(lease.write_term(), Some(42));
    assert_eq!(lease.view().role, Role::Leader);
}

#[tokio::test]
async fn a_pair_elects_exactly_one_leader() {
    let p = pair(3, 5);
    assert!(
        p.a.write_term().is_none() && p.b.write_term().is_none(),
        "no one writes before a lease is settled"
    );
    assert!(run_until(&p, true, |p| p.a.write_term().is_some() || p.b.write_term().is_some()).await);
    // It stays settled: the standby keeps hearing the leader.
    let leader_before = if p.a.write_term().is_some() { "a" } else { "b" };
    for _ in 0..10 {
        p.a.tick(Vec::new()).await;
        p.b.tick(Vec::new()).await;
        tokio::time::sleep(LEASE / 3).await;
    }
    let leader_after = if p.a.write_term().is_some() { "a" } else { "b" };
    assert_eq!(leader_before, leader_after, "no flapping while both are alive");
    assert!(
        p.a.view().term > 5 && p.a.view().term == p.b.view().term,
        "terms only grow and agree"
    );
}

#[tokio::test]
async fn the_standby_takes_over_when_the_leader_dies() {
    let p = pair(0, 0);
    assert!(run_until(&p, true, |p| p.a.write_term().is_some() || p.b.write_term().is_some()).await);
    // Make `a` the dead one whichever led: if b led, kill b by swapping names.
    let (dead, live, dead_down) = if p.a.write_term().is_some() {
        (&p.a, &p.b, &p.a_down)
    } else {
        (&p.b, &p.a, &p.b_down)
    };
    let term = dead.view().term;
    dead_down.store(true, Ordering::SeqCst);
    let mut took_over = false;
    for _ in 0..100 {
        live.tick(Vec::new()).await;
        if live.write_term().is_some() {
            took_over = true;
            break;
        }
        tokio::time::sleep(LEASE / 3).await;
    }
    assert!(took_over, "the standby must lead once the lease lapses");
    assert!(live.view().term > term);
    // The old leader, back, hears the newer term and steps down.
    dead_down.store(false, Ordering::SeqCst);
    dead.tick(Vec::new()).await;
    live.tick(Vec::new()).await;
    dead.tick(Vec::new()).await;
    assert!(dead.write_term().is_none(), "a deposed leader does not write");
    assert_eq!(dead.view().role, Role::Standby);
}

#[tokio::test]
async fn a_leader_that_stalls_past_its_lease_writes_nothing() {
    let lease = PeerLease::new(
        "a",
        LEASE,
        0,
        Some(FakeLink {
            other: Arc::new(OnceLock::new()),
            down: Arc::new(AtomicBool::new(true)),
            refusing: false,
        }),
        Instant::now(),
    );
    // Peer unreachable: after a lease it campaigns and leads.
    let mut led = false;
    for _ in 0..50 {
        lease.tick(Vec::new()).await;
        if lease.write_term().is_some() {
            led = true;
            break;
        }
        tokio::time::sleep(LEASE / 3).await;
    }
    assert!(led);
    // No tick for longer than the lease (a stalled loop): the lease has lapsed.
    tokio::time::sleep(LEASE + LEASE / 2).await;
    assert!(lease.write_term().is_none(), "a lapsed lease must not write");
    lease.tick(Vec::new()).await;
    assert!(lease.write_term().is_some(), "renewed after the next round");
}

#[tokio::test]
async fn step_down_on_a_newer_fence_term() {
    let lease = PeerLease::<FakeLink>::new("solo", LEASE, 1, None, Instant::now());
    let change = lease.step_down(9, "fence record holds term 9").unwrap();
    assert_eq!(change.to, Role::Standby);
    assert_eq!(lease.view().term, 9);
    assert!(lease.write_term().is_none());
}

#[tokio::test]
async fn a_peer_that_answers_but_refuses_is_not_taken_for_dead() {
    let link = FakeLink {
        other: Arc::new(OnceLock::new()),
        down: Arc::new(AtomicBool::new(false)),
        refusing: true,
    };
    let lease = PeerLease::new("a", LEASE, 0, Some(link), Instant::now());
    for _ in 0..10 {
        lease.tick(Vec::new()).await;
        tokio::time::sleep(LEASE / 3).await;
    }
    assert!(
        lease.write_term().is_none(),
        "a refusing peer is alive: taking the lease would make two leaders"
    );
}

#[tokio::test]
async fn a_resigning_leader_hands_over_without_waiting_out_the_lease() {
    let p = pair(0, 0);
    assert!(run_until(&p, true, |p| p.a.write_term().is_some() || p.b.write_term().is_some()).await);
    let (leader, standby, leader_down) = if p.a.write_term().is_some() {
        (&p.a, &p.b, &p.a_down)
    } else {
        (&p.b, &p.a, &p.b_down)
    };
    leader.resign().await;
    assert!(leader.write_term().is_none(), "a resigned leader writes nothing");
    leader_down.store(true, Ordering::SeqCst); // and then it is gone
    let started = Instant::now();
    standby.tick(Vec::new()).await;
    assert!(standby.write_term().is_some(), "the standby leads at its next round");
    assert!(started.elapsed() < LEASE, "without waiting the lease out");
}
