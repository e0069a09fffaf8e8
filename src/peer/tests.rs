//! The lease machine on a manual clock, with messages delivered at once through a
//! switchable link and a compare-and-set witness. (The seeded simulation with delays,
//! loss, crashes and clock skew is `tests/pair_simulation.rs`.)

use std::time::{Duration, Instant};

use super::*;
use dnsteer_providers::FenceMark;

const LEASE: Duration = Duration::from_millis(900);
const STEP: Duration = Duration::from_millis(50);

struct Node {
    m: LeaseMachine,
    alive: bool,
    reaches_witness: bool,
    events: Vec<LeaseEvent>,
}

struct World {
    nodes: [Node; 2],
    /// `link[i]`: requests from node i reach the other node (and its replies come back).
    link: [bool; 2],
    witness: Option<Option<WitnessRecord>>,
    now: Instant,
}

impl World {
    fn new(witness: bool) -> Self {
        let now = Instant::now();
        let node = |id: &str, seed| Node {
            m: LeaseMachine::new(
                LeaseConfig {
                    id: id.into(),
                    duration: LEASE,
                    peer: true,
                    witness,
                    seed,
                },
                Durable::default(),
                now,
            ),
            alive: true,
            reaches_witness: true,
            events: Vec::new(),
        };
        Self {
            nodes: [node("a", 1), node("b", 2)],
            link: [true, true],
            witness: witness.then_some(None),
            now,
        }
    }

    fn step(&mut self) {
        self.now += STEP;
        for i in 0..2 {
            if self.nodes[i].alive {
                self.nodes[i].m.handle_timeout(self.now);
                self.deliver(i);
            }
        }
    }

    fn run(&mut self, d: Duration) {
        let until = self.now + d;
        while self.now < until {
            self.step();
        }
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&World) -> bool) -> Option<Duration> {
        let start = self.now;
        while self.now < start + limit {
            self.step();
            if done(self) {
                return Some(self.now - start);
            }
        }
        None
    }

    fn deliver(&mut self, i: usize) {
        let now = self.now;
        let j = 1 - i;
        let reach = self.link[i] && self.nodes[j].alive;
        while let Some(t) = self.nodes[i].m.poll_transmit() {
            match t {
                Transmit::Sync(req) => {
                    if reach {
                        let resp = self.nodes[j].m.handle_sync_request(&req, now);
                        self.nodes[i].m.handle_sync_response(&req, now, Ok(&resp), now);
                    } else {
                        let e = PeerError::Unreachable("cut".into());
                        self.nodes[i].m.handle_sync_response(&req, now, Err(&e), now);
                    }
                }
                Transmit::Vote(req) => {
                    if reach {
                        let resp = self.nodes[j].m.handle_vote_request(&req, now);
                        self.nodes[i].m.handle_vote_response(&req, now, Ok(&resp), now);
                    } else {
                        let e = PeerError::Unreachable("cut".into());
                        self.nodes[i].m.handle_vote_response(&req, now, Err(&e), now);
                    }
                }
                Transmit::WitnessRead => {
                    let result = match (&self.witness, self.nodes[i].reaches_witness) {
                        (Some(w), true) => Ok(w.clone()),
                        _ => Err(WitnessError::Unavailable("down".into())),
                    };
                    self.nodes[i].m.handle_witness_read(result, now);
                }
                Transmit::WitnessWrite { before, after } => {
                    let result = match (&mut self.witness, self.nodes[i].reaches_witness) {
                        (Some(w), true) if *w == before => {
                            *w = Some(after.clone());
                            Ok(())
                        }
                        (Some(_), true) => Err(WitnessError::Conflict),
                        _ => Err(WitnessError::Unavailable("down".into())),
                    };
                    self.nodes[i]
                        .m
                        .handle_witness_write(before.as_ref(), &after, now, result, now);
                }
            }
            for k in 0..2 {
                while let Some(e) = self.nodes[k].m.poll_event() {
                    self.nodes[k].events.push(e);
                }
            }
        }
    }

    fn writers(&self) -> Vec<usize> {
        (0..2)
            .filter(|&i| self.nodes[i].alive && self.nodes[i].m.may_write(self.now).is_some())
            .collect()
    }

    fn leader(&self) -> Option<usize> {
        match self.writers().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

#[test]
fn a_lone_daemon_leads_at_once() {
    let now = Instant::now();
    let cfg = LeaseConfig {
        id: "a".into(),
        duration: LEASE,
        peer: false,
        witness: false,
        seed: 1,
    };
    let m = LeaseMachine::new(
        cfg,
        Durable {
            term: 4,
            voted_for: None,
        },
        now,
    );
    assert_eq!(
        m.may_write(now),
        Some(FenceMark::new(5, "a")),
        "a new term above the saved one"
    );
}

#[test]
fn a_pair_elects_one_leader_and_keeps_it() {
    let mut w = World::new(true);
    let took = w.run_until(LEASE * 4, |w| w.leader().is_some());
    assert!(took.is_some(), "a leader within four leases");
    let leader = w.leader().unwrap();
    for _ in 0..100 {
        w.step();
        assert_eq!(w.writers(), vec![leader], "one writer, the same one");
    }
    assert!(w.witness.as_ref().unwrap().as_ref().unwrap().holder.as_deref() == Some(w.nodes[leader].m.id()));
}

#[test]
fn a_partition_with_the_witness_reachable_keeps_one_writer() {
    let mut w = World::new(true);
    w.run_until(LEASE * 4, |w| w.leader().is_some()).expect("a leader");
    let leader = w.leader().unwrap();
    let term = w.nodes[leader].m.term();
    w.link = [false, false];
    for _ in 0..200 {
        w.step();
        assert_eq!(
            w.writers(),
            vec![leader],
            "the leader renews at the witness; the other never takes"
        );
    }
    w.link = [true, true];
    for _ in 0..(LEASE * 2).as_millis() / STEP.as_millis() {
        w.step();
        assert_eq!(w.writers(), vec![leader], "healing the link deposes nobody");
    }
    assert_eq!(
        (w.nodes[0].m.term(), w.nodes[1].m.term()),
        (term, term),
        "no term was spent while the witness showed a live leader"
    );
}

#[test]
fn a_standby_cut_off_from_everything_spends_no_term() {
    let mut w = World::new(true);
    w.run_until(LEASE * 4, |w| w.leader().is_some()).expect("a leader");
    let leader = w.leader().unwrap();
    let term = w.nodes[leader].m.term();
    w.link = [false, false];
    w.nodes[1 - leader].reaches_witness = false;
    w.run(LEASE * 5);
    assert_eq!(w.writers(), vec![leader]);
    assert_eq!(
        w.nodes[1 - leader].m.term(),
        term,
        "no campaign on an old view of the witness"
    );
    w.link = [true, true];
    w.nodes[1 - leader].reaches_witness = true;
    for _ in 0..(LEASE * 2).as_millis() / STEP.as_millis() {
        w.step();
        assert_eq!(w.writers(), vec![leader], "healing deposes nobody");
    }
}

#[test]
fn a_cut_off_leader_stops_writing_before_the_other_takes_over() {
    let mut w = World::new(true);
    w.run_until(LEASE * 4, |w| w.leader().is_some()).expect("a leader");
    let old = w.leader().unwrap();
    let other = 1 - old;
    // The leader loses its peer and the witness; the other keeps the witness.
    w.link = [false, false];
    w.nodes[old].reaches_witness = false;
    let mut took = None;
    for _ in 0..(LEASE * 6).as_millis() / STEP.as_millis() {
        w.step();
        assert!(w.writers().len() <= 1, "never two writers");
        if w.nodes[other].m.may_write(w.now).is_some() {
            took = Some(w.now);
            break;
        }
    }
    assert!(took.is_some(), "the other takes over");
    assert!(w.nodes[old].m.may_write(w.now).is_none());
    assert!(
        w.nodes[other].m.term() > w.nodes[old].m.term() || w.nodes[old].m.role() == Role::Standby,
        "the new leader's term is newer"
    );
}

#[test]
fn a_dead_leader_is_replaced_and_its_vantage_dropped() {
    let mut w = World::new(true);
    w.run_until(LEASE * 4, |w| w.leader().is_some()).expect("a leader");
    let old = w.leader().unwrap();
    let other = 1 - old;
    w.nodes[old].alive = false;
    let took = w.run_until(LEASE * 6, |w| w.leader() == Some(other)).expect("takeover");
    assert!(took <= LEASE * 3, "takeover within three leases, took {took:?}");
    assert!(
        w.nodes[other]
            .events
            .iter()
            .any(|e| matches!(e, LeaseEvent::PeerGone(id) if id == w.nodes[old].m.id())),
        "{:?}",
        w.nodes[other].events
    );
}

#[test]
fn a_resigning_leader_hands_over_at_once() {
    let mut w = World::new(true);
    w.run_until(LEASE * 4, |w| w.leader().is_some()).expect("a leader");
    let old = w.leader().unwrap();
    let now = w.now;
    w.nodes[old].m.resign(now);
    w.deliver(old);
    w.nodes[old].alive = false;
    let took = w
        .run_until(LEASE * 4, |w| w.leader() == Some(1 - old))
        .expect("handover");
    assert!(took < LEASE, "the released lease is taken at once, took {took:?}");
}

#[test]
fn without_a_witness_an_unreachable_peer_is_taken_for_dead() {
    let mut w = World::new(false);
    w.run_until(LEASE * 4, |w| w.leader().is_some()).expect("a leader");
    let old = w.leader().unwrap();
    w.nodes[old].alive = false;
    w.run_until(LEASE * 4, |w| w.leader() == Some(1 - old))
        .expect("takeover without a witness");
}

#[test]
fn a_newer_fence_stops_writing_and_campaigns() {
    let mut w = World::new(true);
    w.run_until(LEASE * 4, |w| w.leader().is_some()).expect("a leader");
    let leader = w.leader().unwrap();
    let term = w.nodes[leader].m.term();
    let now = w.now;
    w.nodes[leader].m.handle_fence_seen(&FenceMark::new(term + 5, "x"), now);
    assert!(w.nodes[leader].m.may_write(now).is_none());
    assert_eq!(w.nodes[leader].m.term(), term + 5, "the newer term is adopted");
    // Nobody campaigns while the fence is fresh.
    w.run(LEASE / 2);
    assert!(w.nodes[leader].m.may_write(w.now).is_none());
}

#[test]
fn one_vote_per_term() {
    let now = Instant::now();
    let cfg = LeaseConfig {
        id: "a".into(),
        duration: LEASE,
        peer: true,
        witness: false,
        seed: 1,
    };
    let mut m = LeaseMachine::new(cfg, Durable::default(), now);
    let first = m.handle_vote_request(
        &VoteRequest {
            from: "b".into(),
            term: 3,
        },
        now,
    );
    assert!(first.granted);
    assert_eq!(
        m.durable(),
        &Durable {
            term: 3,
            voted_for: Some("b".into())
        },
        "saved before the reply"
    );
    let second = m.handle_vote_request(
        &VoteRequest {
            from: "c".into(),
            term: 3,
        },
        now,
    );
    assert!(!second.granted, "term 3 has its vote");
}

/// Drives `m` from `now` through its own wake-ups until it asks for a vote.
fn next_vote(m: &mut LeaseMachine, mut now: Instant) -> (VoteRequest, Instant) {
    for _ in 0..100 {
        now = m.poll_timeout().max(now);
        m.handle_timeout(now);
        while let Some(t) = m.poll_transmit() {
            if let Transmit::Vote(req) = t {
                return (req, now);
            }
        }
    }
    panic!("no campaign within 100 wake-ups");
}

#[test]
fn a_refused_campaign_retries_when_its_jitter_ends_not_at_a_tick() {
    // Found by the simulation (split votes for a whole minute): rounded up to the next
    // tick, half a lease of jitter takes two or three values, so two standbys whose
    // ticks run in step kept campaigning for the same term at once.
    let mut delays = std::collections::BTreeSet::new();
    for seed in 1..=20 {
        let start = Instant::now();
        let cfg = LeaseConfig {
            id: "a".into(),
            duration: LEASE,
            peer: true,
            // The vote path: with a witness and a silent peer, a standby asks the
            // witness before it spends a term.
            witness: false,
            seed,
        };
        let mut m = LeaseMachine::new(cfg, Durable::default(), start);
        let (req, sent) = next_vote(&mut m, start);
        let refused_at = sent + Duration::from_millis(7);
        let refusal = VoteResponse {
            from: "b".into(),
            term: req.term,
            granted: false,
        };
        m.handle_vote_response(&req, sent, Ok(&refusal), refused_at);
        let (_, retried) = next_vote(&mut m, refused_at);
        let delay = retried - refused_at;
        assert!(delay >= LEASE && delay <= LEASE * 3 / 2, "{delay:?}");
        delays.insert(delay);
    }
    assert!(
        delays.len() > 10,
        "retries spread by the jitter, not by the tick: {delays:?}"
    );
}

#[test]
fn after_a_split_vote_the_lower_id_asks_first() {
    // Found by the simulation: with round trips comparable to the jitter, two standbys
    // that campaigned at once split again round after round (nine rounds in one seed).
    for seed in 1..=20 {
        let start = Instant::now();
        let machine = |id: &str| {
            let cfg = LeaseConfig {
                id: id.into(),
                duration: LEASE,
                peer: true,
                witness: false, // the vote path (see above)
                seed,
            };
            LeaseMachine::new(cfg, Durable::default(), start)
        };
        let (mut a, mut b) = (machine("a"), machine("b"));
        let (req_a, sent_a) = next_vote(&mut a, start);
        let (req_b, sent_b) = next_vote(&mut b, start);
        assert_eq!(req_a.term, req_b.term, "both campaign for the same term");
        // The requests cross: each refuses the other, then hears the refusal.
        let at = sent_a.max(sent_b) + Duration::from_millis(5);
        let refusal_of_b = a.handle_vote_request(&req_b, at);
        let refusal_of_a = b.handle_vote_request(&req_a, at);
        assert!(!refusal_of_a.granted && !refusal_of_b.granted, "one vote per term");
        a.handle_vote_response(&req_a, sent_a, Ok(&refusal_of_a), at);
        b.handle_vote_response(&req_b, sent_b, Ok(&refusal_of_b), at);
        let (_, a_asks) = next_vote(&mut a, at);
        let (_, b_asks) = next_vote(&mut b, at);
        let (a_waits, b_waits) = (a_asks - at, b_asks - at);
        assert!(
            a_waits <= LEASE * 3 / 2 && b_waits >= LEASE * 3 / 2 && b_waits > a_waits,
            "seed {seed}: a asks again after {a_waits:?}, b after {b_waits:?}"
        );
    }
}

#[test]
fn a_late_renewal_of_an_older_term_does_not_throw_a_granted_vote_away() {
    // Found by the simulation (seed 60): the witness read that lands while the vote
    // request is out shows the peer's last renewal of the old term; the campaign must
    // survive it, and the grant that follows make this daemon the leader.
    let now = Instant::now();
    let cfg = LeaseConfig {
        id: "b".into(),
        duration: LEASE,
        peer: true,
        witness: true,
        seed: 7,
    };
    let mut m = LeaseMachine::new(
        cfg,
        Durable {
            term: 4,
            voted_for: None,
        },
        now,
    );
    // The peer answered a sync recently (it is reachable), and the witness holds its
    // term 4 record.
    let sync = SyncRequest {
        from: "a".into(),
        term: 4,
        role: Role::Standby,
        observations: Vec::new(),
        resigning: false,
        operator: None,
    };
    m.handle_sync_request(&sync, now);
    let old = |seq| WitnessRecord {
        holder: Some("a".into()),
        term: 4,
        seq,
    };
    m.handle_witness_read(Ok(Some(old(7))), now);
    // A lease later, nobody has led: campaign by vote.
    let later = now + LEASE * 2;
    m.handle_sync_request(&sync, later - LEASE / 4);
    let vote = (0..20)
        .find_map(|i| {
            let t = later + LEASE / 10 * i;
            m.handle_timeout(t);
            std::iter::from_fn(|| m.poll_transmit()).find_map(|x| match x {
                Transmit::Vote(v) => Some((v, t)),
                _ => None,
            })
        })
        .expect("a vote request");
    let (req, sent) = vote;
    assert_eq!(req.term, 5);
    // The late renewal of term 4 lands, then the grant.
    m.handle_witness_read(Ok(Some(old(8))), sent);
    let grant = VoteResponse {
        from: "a".into(),
        term: 5,
        granted: true,
    };
    m.handle_vote_response(&req, sent, Ok(&grant), sent);
    assert_eq!(m.role(), Role::Leader, "the granted vote counts");
    assert_eq!(m.may_write(sent), Some(FenceMark::new(5, "b")));
}
