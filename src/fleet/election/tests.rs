//! The election on a manual clock against a small in-memory etcd: leases that expire,
//! a `leader` key created only while absent, revisions that only grow.

use std::collections::BTreeMap;

use super::*;

const TTL: Duration = Duration::from_millis(900);
const STEP: Duration = Duration::from_millis(50);

#[derive(Default)]
struct FakeEtcd {
    revision: u64,
    /// lease id → expiry
    leases: BTreeMap<i64, Instant>,
    /// (holder, create revision, lease)
    leader: Option<(String, u64, i64)>,
    up: bool,
}

impl FakeEtcd {
    fn expire(&mut self, now: Instant) {
        self.leases.retain(|_, until| *until > now);
        if self
            .leader
            .as_ref()
            .is_some_and(|(_, _, l)| !self.leases.contains_key(l))
        {
            self.leader = None;
            self.revision += 1;
        }
    }
}

struct Node {
    m: FleetElection,
    alive: bool,
    events: Vec<LeaseEvent>,
}

struct World {
    etcd: FakeEtcd,
    nodes: Vec<Node>,
    now: Instant,
}

impl World {
    fn new(n: usize) -> Self {
        let now = Instant::now();
        let nodes = (0..n)
            .map(|i| Node {
                m: FleetElection::new(
                    FleetConfig {
                        id: format!("d{i}"),
                        ttl: TTL,
                    },
                    now,
                ),
                alive: true,
                events: Vec::new(),
            })
            .collect();
        Self {
            etcd: FakeEtcd {
                up: true,
                ..Default::default()
            },
            nodes,
            now,
        }
    }

    fn step(&mut self) {
        self.now += STEP;
        self.etcd.expire(self.now);
        for i in 0..self.nodes.len() {
            if !self.nodes[i].alive {
                continue;
            }
            self.nodes[i].m.handle_timeout(self.now);
            self.deliver(i);
        }
    }

    fn deliver(&mut self, i: usize) {
        let now = self.now;
        let id = format!("d{i}");
        while let Some(t) = self.nodes[i].m.poll_transmit() {
            let e = &mut self.etcd;
            let down = || Err::<(), String>("etcd unreachable".into());
            let m = &mut self.nodes[i].m;
            match t {
                FleetTransmit::Grant => {
                    if e.up {
                        let id = e.leases.len() as i64 + 100 * (i as i64 + 1) + e.revision as i64 * 1000;
                        e.leases.insert(id, now + TTL);
                        m.handle_grant(Ok(id), now);
                    } else {
                        m.handle_grant(down().map(|_| 0), now);
                    }
                }
                FleetTransmit::KeepAlive { lease } => {
                    let r = if !e.up {
                        Err("etcd unreachable".into())
                    } else if let Some(until) = e.leases.get_mut(&lease) {
                        *until = now + TTL;
                        Ok(TTL.as_secs().max(1) as i64)
                    } else {
                        Ok(0)
                    };
                    m.handle_keep_alive(now, r, now);
                }
                FleetTransmit::Campaign { lease } => {
                    let r = if !e.up {
                        Err("etcd unreachable".into())
                    } else {
                        if e.leader.is_none() && e.leases.contains_key(&lease) {
                            e.revision += 1;
                            e.leader = Some((id.clone(), e.revision, lease));
                        }
                        e.leader
                            .as_ref()
                            .map(|(h, r, _)| LeaderKey {
                                holder: h.clone(),
                                create_revision: *r,
                            })
                            .ok_or_else(|| "no leader key".to_string())
                    };
                    m.handle_campaign(now, r, now);
                }
                FleetTransmit::Confirm { term } => {
                    let r = if e.up {
                        Ok(e.leader.as_ref().is_some_and(|(h, r, _)| *h == id && *r == term))
                    } else {
                        Err("etcd unreachable".into())
                    };
                    m.handle_confirm(now, r, now);
                }
                FleetTransmit::ReadLeader => {
                    let r = if e.up {
                        Ok(e.leader.as_ref().map(|(h, r, _)| LeaderKey {
                            holder: h.clone(),
                            create_revision: *r,
                        }))
                    } else {
                        Err("etcd unreachable".into())
                    };
                    m.handle_read_leader(r, now);
                }
                FleetTransmit::Resign { term, lease } => {
                    if e.up {
                        if e.leader.as_ref().is_some_and(|(_, r, _)| *r == term) {
                            e.leader = None;
                        }
                        e.leases.remove(&lease);
                    }
                }
            }
            while let Some(ev) = self.nodes[i].m.poll_event() {
                self.nodes[i].events.push(ev);
            }
        }
    }

    fn writers(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && self.nodes[i].m.may_write(self.now).is_some())
            .collect()
    }

    fn run_until(&mut self, limit: Duration, done: impl Fn(&World) -> bool) -> Option<Duration> {
        let start = self.now;
        while self.now < start + limit {
            self.step();
            assert!(self.writers().len() <= 1, "two writers at once");
            if done(self) {
                return Some(self.now - start);
            }
        }
        None
    }
}

#[test]
fn three_daemons_elect_one_leader_whose_term_is_the_key_revision() {
    let mut w = World::new(3);
    w.run_until(TTL * 3, |w| w.writers().len() == 1).expect("a leader");
    let leader = w.writers()[0];
    let (_, revision, _) = w.etcd.leader.clone().unwrap();
    assert_eq!(
        w.nodes[leader].m.may_write(w.now).unwrap(),
        FenceMark::new(revision, &format!("d{leader}"))
    );
    for n in &w.nodes {
        assert_eq!(
            n.m.leader(),
            Some(format!("d{leader}").as_str()),
            "everyone knows who leads"
        );
    }
}

#[test]
fn a_dead_leader_is_replaced_with_a_newer_term() {
    let mut w = World::new(3);
    w.run_until(TTL * 3, |w| w.writers().len() == 1).expect("a leader");
    let old = w.writers()[0];
    let old_term = w.nodes[old].m.term();
    w.nodes[old].alive = false;
    let took = w.run_until(TTL * 4, |w| w.writers().len() == 1).expect("a new leader");
    assert!(took <= TTL * 2, "takeover within two leases: {took:?}");
    let new = w.writers()[0];
    assert_ne!(new, old);
    assert!(w.nodes[new].m.term() > old_term, "the fence moves forward");
}

#[test]
fn without_etcd_nobody_writes_and_writing_resumes_when_it_returns() {
    let mut w = World::new(3);
    w.run_until(TTL * 3, |w| w.writers().len() == 1).expect("a leader");
    let leader = w.writers()[0];
    w.etcd.up = false;
    let stopped = w.run_until(TTL * 2, |w| w.writers().is_empty()).expect("writes stop");
    assert!(stopped <= TTL, "within the lease: {stopped:?}");
    w.run_until(TTL * 3, |_| false);
    assert!(
        w.writers().is_empty(),
        "static stability: nobody writes while etcd is gone"
    );
    let lost: usize = w
        .nodes
        .iter()
        .map(|n| n.events.iter().filter(|e| matches!(e, LeaseEvent::Lost(_))).count())
        .sum();
    assert!(
        (1..=3).contains(&lost),
        "one coordination_lost per daemon at most: {lost}"
    );
    assert!(
        w.nodes[leader].events.iter().any(|e| matches!(e, LeaseEvent::Lost(_))),
        "the leader says so"
    );
    w.etcd.up = true;
    w.run_until(TTL * 4, |w| w.writers().len() == 1)
        .expect("writing resumes by itself");
}

#[test]
fn a_resigning_leader_hands_over_at_the_next_round() {
    let mut w = World::new(2);
    w.run_until(TTL * 3, |w| w.writers().len() == 1).expect("a leader");
    let old = w.writers()[0];
    let now = w.now;
    w.nodes[old].m.resign(now);
    w.deliver(old);
    w.nodes[old].alive = false;
    let took = w.run_until(TTL * 3, |w| w.writers().len() == 1).expect("handover");
    assert!(took < TTL, "not a whole lease later: {took:?}");
}

#[test]
fn a_newer_fence_ends_the_lease() {
    let mut w = World::new(2);
    w.run_until(TTL * 3, |w| w.writers().len() == 1).expect("a leader");
    let leader = w.writers()[0];
    let term = w.nodes[leader].m.term();
    let now = w.now;
    w.nodes[leader]
        .m
        .handle_fence_seen(&FenceMark::new(term + 10, "other"), now);
    assert!(w.nodes[leader].m.may_write(now).is_none());
}

#[test]
fn fences_ahead_of_etcd_keep_the_fleet_from_writing_and_say_why() {
    let now = Instant::now();
    let mut m = FleetElection::new(
        FleetConfig {
            id: "d0".into(),
            ttl: TTL,
        },
        now,
    );
    m.handle_fence_seen(&FenceMark::new(100, "steer-a"), now);
    m.handle_campaign(
        now,
        Ok(LeaderKey {
            holder: "d0".into(),
            create_revision: 5,
        }),
        now,
    );
    assert!(m.may_write(now).is_none(), "it would be fenced off at every write");
    let events: Vec<_> = std::iter::from_fn(|| m.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LeaseEvent::Lost(why) if why.contains("ahead of etcd"))),
        "{events:?}"
    );
}
