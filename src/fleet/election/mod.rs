//! The fleet's leader election on etcd, as a state machine with no I/O and no clock
//! (the daemon's `fleet.rs` carries out what it asks). Every daemon holds an etcd lease
//! of `agent.lease.duration`, kept alive every third of it. The leader is whoever
//! created the key `leader` with its lease (a transaction that succeeds only while the
//! key is absent); the key's create revision is the fence term, so terms grow with
//! etcd's revision and no two leaders share one. The key vanishes with its lease.
//!
//! A leader writes only while a keep-alive and a check that it still holds the key
//! (a transaction on the key's create revision) both succeeded within the lease, less
//! a fifth for clock-rate differences, counted from when they were sent. When etcd
//! cannot be reached, or has lost quorum, nobody writes (static stability).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dnsteer_providers::FenceMark;

use crate::peer::{Coordination, LeaseEvent, Role, RoleChange};

/// The share of the lease a leader gives up to clock-rate differences and request time.
const SAFETY_MARGIN: f64 = 0.2;

/// What the daemon asks etcd for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleetTransmit {
    /// A lease of the configured duration.
    Grant,
    KeepAlive {
        lease: i64,
    },
    /// Create `leader` holding our id under our lease if it is absent, else read it.
    Campaign {
        lease: i64,
    },
    /// Whether `leader` still has create revision `term` and our id.
    Confirm {
        term: u64,
    },
    /// Who leads now.
    ReadLeader,
    /// Delete `leader` if it is still ours, and revoke our lease.
    Resign {
        term: u64,
        lease: i64,
    },
}

/// The key `leader` as read: who holds it, since which revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderKey {
    pub holder: String,
    pub create_revision: u64,
}

#[derive(Clone, Debug)]
pub struct FleetConfig {
    pub id: String,
    pub ttl: Duration,
}

pub struct FleetElection {
    cfg: FleetConfig,
    tick: Duration,
    role: Role,
    term: u64,
    leader: Option<String>,
    lease: Option<i64>,
    /// When the last keep-alive that succeeded was sent.
    kept_alive: Option<Instant>,
    /// When the last check that the key is ours succeeded was sent.
    confirmed: Option<Instant>,
    busy: bool,
    /// etcd answered nothing since then (for one `coordination_lost` per outage).
    unreachable_since: Option<Instant>,
    lost_reported: bool,
    next_tick: Instant,
    resigned: bool,
    transmit: VecDeque<FleetTransmit>,
    events: VecDeque<LeaseEvent>,
}

impl FleetElection {
    pub fn new(cfg: FleetConfig, now: Instant) -> Self {
        Self {
            tick: cfg.ttl / 3,
            cfg,
            role: Role::Standby,
            term: 0,
            leader: None,
            lease: None,
            kept_alive: None,
            confirmed: None,
            busy: false,
            unreachable_since: None,
            lost_reported: false,
            next_tick: now,
            resigned: false,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn lease(&self) -> Option<i64> {
        self.lease
    }

    pub fn tick_interval(&self) -> Duration {
        self.tick
    }

    pub fn poll_transmit(&mut self) -> Option<FleetTransmit> {
        self.transmit.pop_front()
    }

    pub fn poll_timeout(&self) -> Instant {
        match self.valid_until().filter(|_| self.role == Role::Leader) {
            Some(u) => self.next_tick.min(u),
            None => self.next_tick,
        }
    }

    fn valid_until(&self) -> Option<Instant> {
        let proof = self.kept_alive?.min(self.confirmed?);
        Some(proof + self.cfg.ttl.mul_f64(1.0 - SAFETY_MARGIN))
    }

    /// One round: keep the lease alive, then campaign (standby) or confirm (leader).
    /// A round whose requests are still out is skipped: etcd answering slowly must not
    /// pile requests up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.role == Role::Leader && self.valid_until().is_none_or(|u| now >= u) {
            self.step_down("the lease could not be confirmed at etcd in time".into(), true);
        }
        if now < self.next_tick || self.resigned {
            return;
        }
        self.next_tick = now + self.tick;
        if self.busy {
            return;
        }
        self.busy = true;
        match self.lease {
            None => self.transmit.push_back(FleetTransmit::Grant),
            Some(lease) => self.transmit.push_back(FleetTransmit::KeepAlive { lease }),
        }
    }

    pub fn handle_grant(&mut self, result: Result<i64, String>, now: Instant) {
        match result {
            Ok(lease) => {
                self.reachable();
                self.lease = Some(lease);
                self.transmit.push_back(FleetTransmit::KeepAlive { lease });
            }
            Err(e) => self.unreachable(now, e),
        }
    }

    /// `remaining`: the lease's time left as etcd says (0: it expired).
    pub fn handle_keep_alive(&mut self, sent: Instant, result: Result<i64, String>, now: Instant) {
        match result {
            Ok(remaining) if remaining > 0 => {
                self.reachable();
                self.kept_alive = Some(sent);
                let Some(lease) = self.lease else { return self.done() };
                match self.role {
                    Role::Leader => self.transmit.push_back(FleetTransmit::Confirm { term: self.term }),
                    Role::Standby => self.transmit.push_back(FleetTransmit::Campaign { lease }),
                }
            }
            Ok(_) => {
                // The lease expired (etcd was out of reach longer than it lasts): the
                // key went with it. A new lease, a new campaign.
                self.reachable();
                self.lease = None;
                self.kept_alive = None;
                self.step_down("our etcd lease expired".into(), true);
                self.busy = false;
            }
            Err(e) => self.unreachable(now, e),
        }
    }

    /// The campaign's outcome (sent at `sent`): the key as it stands (ours if we
    /// created it).
    pub fn handle_campaign(&mut self, sent: Instant, result: Result<LeaderKey, String>, now: Instant) {
        self.busy = false;
        let key = match result {
            Ok(key) => key,
            Err(e) => return self.unreachable(now, e),
        };
        self.reachable();
        if key.holder == self.cfg.id && key.create_revision < self.term {
            // A fence at a provider is ahead of etcd's revisions (etcd restored or
            // rebuilt, or the fleet took over from a pair): leading on this key would
            // be fenced off at every write. Nobody writes, and on-call hears why.
            if !self.lost_reported {
                self.lost_reported = true;
                self.events.push_back(LeaseEvent::Lost(format!(
                    "the providers' fences hold term {}, ahead of etcd's leader key revision {}: remove the \
                     `_dnsteer-fence` records (or restore etcd) before this fleet can write",
                    self.term, key.create_revision
                )));
            }
            self.leader = None;
            return;
        }
        self.term = self.term.max(key.create_revision);
        if key.holder == self.cfg.id && self.role == Role::Standby && !self.resigned {
            self.term = key.create_revision;
            // The transaction that answered holds the key for us as of when it was
            // sent: that is the first proof.
            self.role = Role::Leader;
            self.leader = Some(self.cfg.id.clone());
            self.confirmed = Some(sent);
            self.events.push_back(LeaseEvent::Role(RoleChange {
                from: Role::Standby,
                to: Role::Leader,
                term: self.term,
                reason: format!("elected through etcd (leader key revision {})", self.term),
            }));
        } else {
            self.leader = Some(key.holder);
        }
    }

    /// Whether the key is still ours, checked from `sent`.
    pub fn handle_confirm(&mut self, sent: Instant, result: Result<bool, String>, now: Instant) {
        self.busy = false;
        match result {
            Ok(true) => {
                self.reachable();
                self.confirmed = Some(sent);
            }
            Ok(false) => {
                self.reachable();
                self.step_down("the leader key is no longer ours".into(), false);
                self.transmit.push_back(FleetTransmit::ReadLeader);
            }
            Err(e) => self.unreachable(now, e),
        }
    }

    pub fn handle_read_leader(&mut self, result: Result<Option<LeaderKey>, String>, now: Instant) {
        match result {
            Ok(key) => {
                self.reachable();
                if let Some(k) = &key {
                    self.term = self.term.max(k.create_revision);
                }
                self.leader = key.map(|k| k.holder);
            }
            Err(e) => self.unreachable(now, e),
        }
    }

    /// Gives leadership up (the daemon is stopping): the key goes now, not at the end
    /// of the lease.
    pub fn resign(&mut self, _now: Instant) {
        self.resigned = true;
        if let Some(lease) = self.lease.take() {
            if self.role == Role::Leader {
                self.transmit
                    .push_back(FleetTransmit::Resign { term: self.term, lease });
            } else {
                self.transmit.push_back(FleetTransmit::Resign { term: 0, lease });
            }
        }
        self.step_down("stopping".into(), false);
    }

    fn done(&mut self) {
        self.busy = false;
    }

    fn reachable(&mut self) {
        self.unreachable_since = None;
        self.lost_reported = false;
    }

    fn unreachable(&mut self, now: Instant, error: String) {
        self.busy = false;
        let since = *self.unreachable_since.get_or_insert(now);
        // One alert per outage, once it has lasted a lease (a blip is not an outage),
        // or at once when it costs the leadership.
        if !self.lost_reported && (now >= since + self.cfg.ttl || self.role == Role::Leader) {
            self.lost_reported = true;
            self.events
                .push_back(LeaseEvent::Lost(format!("etcd cannot be reached: {error}")));
        }
    }

    fn step_down(&mut self, reason: String, lost: bool) {
        if self.role != Role::Leader {
            return;
        }
        self.role = Role::Standby;
        self.leader = None;
        self.confirmed = None;
        if lost && !self.lost_reported {
            self.lost_reported = true;
            self.events.push_back(LeaseEvent::Lost(reason.clone()));
        }
        self.events.push_back(LeaseEvent::Role(RoleChange {
            from: Role::Leader,
            to: Role::Standby,
            term: self.term,
            reason,
        }));
    }
}

impl Coordination for FleetElection {
    fn may_write(&self, now: Instant) -> Option<FenceMark> {
        (self.role == Role::Leader && self.valid_until().is_some_and(|u| now < u))
            .then(|| FenceMark::new(self.term, &self.cfg.id))
    }

    fn role(&self) -> Role {
        self.role
    }

    fn term(&self) -> u64 {
        self.term
    }

    fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    fn poll_event(&mut self) -> Option<LeaseEvent> {
        self.events.pop_front()
    }

    fn handle_fence_seen(&mut self, mark: &FenceMark, _now: Instant) {
        // A fence from a newer leader key than ours: someone else leads now.
        if mark.term > self.term || (mark.term == self.term && !mark.leader.is_empty() && mark.leader != self.cfg.id) {
            self.term = self.term.max(mark.term);
            self.step_down(
                format!("a provider's fence holds term {} of {}", mark.term, mark.leader),
                false,
            );
        }
    }
}

#[cfg(test)]
mod tests;
