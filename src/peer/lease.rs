//! The pair's leader lease as a state machine with no I/O and no clock (the shape of
//! quinn-proto's connection): the daemon, or the simulation, feeds it with
//! `handle_*(…, now)` and drains it with `poll_transmit` / `poll_event`, waking it at
//! `poll_timeout`. What it decides:
//!
//! - the leader renews every tick (a third of the lease): a heartbeat to the peer, and a
//!   compare-and-set renewal of the witness record when there is a witness. It may
//!   write until the newest renewal that was confirmed (the peer's ack or the
//!   witness's), counted from when that renewal was *sent*, plus the lease, minus a
//!   safety margin for clock-rate differences;
//! - a standby campaigns only after hearing no leader for a whole lease (heartbeats,
//!   replies, a witness record that changes, a newer fence all count as hearing one).
//!   It asks the peer for its vote; a peer that cannot be reached is taken for gone only
//!   if the witness proves it: the lease record has been seen unchanged for a whole
//!   lease, and a compare-and-set from that very value to ours succeeds;
//! - a term is used only once saved (`durable`, which the driver saves before any
//!   transmit or reply) and gets one leader: a campaign votes for itself, a daemon
//!   votes once per term, and the witness's compare-and-set lets one take through it.
//!
//! Without a witness, a peer that cannot be reached is taken for dead (the old pair
//! rule, which a partition can split; `check` warns).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dnsteer_providers::FenceMark;

use super::witness::WitnessRecord;
use super::{Coordination, PeerError, Role, RoleChange, SyncRequest, SyncResponse, VoteRequest, VoteResponse};

/// The share of a lease a leader gives up to clock-rate differences between the two
/// daemons and the time a renewal takes: it stops writing a fifth of a lease before the
/// other may take over.
const SAFETY_MARGIN: f64 = 0.2;

/// What the lease machine must have saved before anything it says leaves the process.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Durable {
    pub term: u64,
    /// Whom this daemon voted for in `term` (itself when it campaigned).
    #[serde(default)]
    pub voted_for: Option<String>,
}

/// Something to send.
#[derive(Clone, Debug, PartialEq)]
pub enum Transmit {
    Sync(SyncRequest),
    Vote(VoteRequest),
    WitnessRead,
    /// Compare-and-set of the lease record: from `before` (absent: `None`) to `after`.
    WitnessWrite {
        before: Option<WitnessRecord>,
        after: WitnessRecord,
    },
}

/// Something the daemon acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseEvent {
    Role(RoleChange),
    /// The lease cannot be proved (peer and witness, or etcd, out of reach): this
    /// daemon writes nothing until it can. Once per outage.
    Lost(String),
    /// The peer stopped counting (unreachable for a whole lease, or taken over from):
    /// its observations must stop counting too.
    PeerGone(String),
}

/// Why a witness operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WitnessError {
    /// The record no longer held the value expected.
    Conflict,
    /// No answer, or an error: nothing is known.
    Unavailable(String),
}

/// A campaign under way for `term`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Campaign {
    /// The vote request is out.
    Voting,
    /// The peer could not be reached: the witness must prove it gone.
    AwaitingWitness,
    /// The compare-and-set that takes the lease is out.
    Taking,
}

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub id: String,
    pub duration: Duration,
    /// Whether there is a peer at all (a lone daemon leads at once).
    pub peer: bool,
    /// Whether a witness holds the lease record.
    pub witness: bool,
    /// Seeds the campaign jitter (so a simulation replays exactly).
    pub seed: u64,
}

pub struct LeaseMachine {
    cfg: LeaseConfig,
    tick: Duration,
    role: Role,
    durable: Durable,
    leader: Option<String>,
    /// Leader: confirmed renewals (by the peer, by the witness): may write until then.
    acked_until: Option<Instant>,
    witnessed_until: Option<Instant>,
    /// Standby: no campaign before this (a leader was heard, a fence seen, start-up).
    quiet_until: Instant,
    /// Standby: when a backoff with jitter ends (a refused vote, a lost take). The
    /// campaign starts then, not at the next tick: rounded to the tick, the jitter takes
    /// two or three values and two standbys ticking in step keep splitting the vote.
    retry_at: Option<Instant>,
    campaign: Option<(u64, Campaign)>,
    /// The peer answered or called within the last lease.
    peer_contact: Option<Instant>,
    peer_id: Option<String>,
    peer_counted: bool,
    /// The lease record as last read, and when that value was first seen.
    witness_seen: Option<(Option<WitnessRecord>, Instant)>,
    /// When the witness last answered: a verdict on its record needs a fresh answer.
    witness_checked: Option<Instant>,
    /// The value this leader last renewed the record to.
    witness_mine: Option<WitnessRecord>,
    witness_busy: bool,
    next_tick: Instant,
    resigned: bool,
    rng: u64,
    transmit: VecDeque<Transmit>,
    events: VecDeque<LeaseEvent>,
}

impl LeaseMachine {
    /// Starts from what was saved. With a peer it starts as standby and waits one
    /// lease to hear a leader; alone it leads at once.
    pub fn new(cfg: LeaseConfig, saved: Durable, now: Instant) -> Self {
        let tick = cfg.duration / 3;
        let mut m = Self {
            tick,
            role: Role::Standby,
            durable: saved,
            leader: None,
            acked_until: None,
            witnessed_until: None,
            quiet_until: now + cfg.duration,
            retry_at: None,
            campaign: None,
            peer_contact: None,
            peer_id: None,
            peer_counted: false,
            witness_seen: None,
            witness_checked: None,
            witness_mine: None,
            witness_busy: false,
            next_tick: now,
            resigned: false,
            rng: cfg.seed | 1,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            cfg,
        };
        if !m.cfg.peer {
            m.lead_alone(now, "no peer: leading");
        }
        m
    }

    pub fn id(&self) -> &str {
        &self.cfg.id
    }

    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    pub fn tick_interval(&self) -> Duration {
        self.tick
    }

    /// Until when the current lease allows writing.
    pub fn valid_until(&self) -> Option<Instant> {
        match (self.acked_until, self.witnessed_until) {
            (Some(a), Some(w)) => Some(a.max(w)),
            (a, w) => a.or(w),
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmit.pop_front()
    }

    /// When `handle_timeout` next has something to do.
    pub fn poll_timeout(&self) -> Instant {
        let mut at = self.next_tick;
        if let Some(u) = self.valid_until().filter(|_| self.role == Role::Leader) {
            at = at.min(u);
        }
        if let Some(r) = self.retry_at {
            at = at.min(r);
        }
        at
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.role == Role::Leader && self.cfg.peer && self.valid_until().is_none_or(|u| now >= u) {
            let reason = "the lease was not renewed in time (neither the peer nor the witness confirmed it)";
            self.events.push_back(LeaseEvent::Lost(reason.into()));
            self.become_standby(reason.into());
        }
        if self.retry_at.is_some_and(|r| now >= r) {
            self.retry_at = None;
            if self.cfg.peer && now < self.next_tick {
                self.maybe_campaign(now);
            }
        }
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + self.tick;
        if !self.cfg.peer {
            if self.role == Role::Standby && now >= self.quiet_until && !self.resigned {
                self.lead_alone(now, "no peer: leading again");
            }
            return;
        }
        if self.resigned {
            return;
        }
        if self.peer_counted && self.peer_contact.is_none_or(|c| now >= c + self.cfg.duration) {
            self.peer_gone();
        }
        self.transmit.push_back(Transmit::Sync(self.sync_request(false)));
        match self.role {
            Role::Leader => {
                if self.cfg.witness && !self.witness_busy {
                    let before = self
                        .witness_mine
                        .clone()
                        .or_else(|| self.witness_seen.as_ref().and_then(|(v, _)| v.clone()));
                    let seq = before.as_ref().map_or(0, |b| b.seq + 1);
                    self.witness_write(before, self.record(seq));
                }
            }
            Role::Standby => {
                if self.cfg.witness && !self.witness_busy {
                    self.witness_busy = true;
                    self.transmit.push_back(Transmit::WitnessRead);
                }
                self.maybe_campaign(now);
            }
        }
    }

    fn maybe_campaign(&mut self, now: Instant) {
        if self.role != Role::Standby || self.resigned || now < self.quiet_until {
            return;
        }
        match self.campaign {
            None => {
                let peer_heard = self.peer_contact.is_some_and(|c| now < c + self.cfg.duration);
                if self.cfg.witness && !peer_heard {
                    // The peer is silent: ask the witness first, and spend no term
                    // while its record moves (a leader on the other side of a cut link
                    // renewing it). A term raised for nothing would depose that leader
                    // the moment the link heals.
                    if !self.witness_lapsed(now) {
                        return;
                    }
                    self.start_campaign(Campaign::AwaitingWitness);
                    self.try_take(now);
                    return;
                }
                self.start_campaign(Campaign::Voting);
                self.transmit.push_back(Transmit::Vote(VoteRequest {
                    from: self.cfg.id.clone(),
                    term: self.durable.term,
                }));
            }
            Some((_, Campaign::AwaitingWitness)) => self.try_take(now),
            Some(_) => {}
        }
    }

    /// A new term, with our own vote in it.
    fn start_campaign(&mut self, how: Campaign) {
        self.durable.term += 1;
        self.durable.voted_for = Some(self.cfg.id.clone());
        self.leader = None;
        self.campaign = Some((self.durable.term, how));
    }

    /// Whether the lease record has been seen unchanged for a whole lease, or given up,
    /// as the witness confirmed within the last two ticks (an old view of a witness we
    /// can no longer reach proves nothing).
    fn witness_lapsed(&self, now: Instant) -> bool {
        let fresh = self.witness_checked.is_some_and(|c| now < c + self.tick * 2);
        fresh
            && self.witness_seen.as_ref().is_some_and(|(seen, since)| {
                seen.as_ref().is_some_and(|r| r.holder.is_none()) || now >= *since + self.cfg.duration
            })
    }

    /// The peer cannot be reached: take the lease through the witness once its record
    /// has been seen unchanged for a whole lease (or was given up), or, with no
    /// witness, at once.
    fn try_take(&mut self, now: Instant) {
        let Some((term, _)) = self.campaign.clone() else { return };
        if !self.cfg.witness {
            self.campaign = None;
            self.acked_until = Some(self.lease_from(now));
            self.become_leader(now, None, format!("peer unreachable: taking term {term}"));
            return;
        }
        let Some((seen, _)) = self.witness_seen.clone() else {
            return;
        };
        let newer = seen.as_ref().is_some_and(|r| r.term >= term);
        if self.witness_busy || newer || !self.witness_lapsed(now) {
            return;
        }
        self.campaign = Some((term, Campaign::Taking));
        self.witness_write(seen, self.record(0));
    }

    fn record(&self, seq: u64) -> WitnessRecord {
        WitnessRecord {
            holder: Some(self.cfg.id.clone()),
            term: self.durable.term,
            seq,
        }
    }

    fn witness_write(&mut self, before: Option<WitnessRecord>, after: WitnessRecord) {
        self.witness_busy = true;
        self.transmit.push_back(Transmit::WitnessWrite { before, after });
    }

    fn sync_request(&self, resigning: bool) -> SyncRequest {
        SyncRequest {
            from: self.cfg.id.clone(),
            term: self.durable.term,
            role: if resigning { Role::Standby } else { self.role },
            observations: Vec::new(),
            resigning,
            operator: None,
        }
    }

    /// The peer's sync. The reply may leave only once `durable` is saved.
    pub fn handle_sync_request(&mut self, req: &SyncRequest, now: Instant) -> SyncResponse {
        self.contact(&req.from, now);
        if req.term > self.durable.term {
            self.adopt(req.term, format!("{} holds newer term {}", req.from, req.term));
        }
        if req.resigning && self.leader.as_deref() == Some(req.from.as_str()) {
            // Campaign at once rather than a tick later: the leader is going.
            self.leader = None;
            self.quiet_until = now;
            self.next_tick = now;
        }
        let mut accepted = false;
        if req.role == Role::Leader && req.term == self.durable.term {
            if self.role == Role::Leader {
                // One leader per term is the protocol's promise; should it ever break,
                // both must not go on: the lower id keeps the term.
                if req.from < self.cfg.id {
                    self.become_standby(format!("{} also leads term {}", req.from, req.term));
                }
            }
            if self.role == Role::Standby {
                self.heard(&req.from, now);
                accepted = true;
            }
        }
        SyncResponse {
            from: self.cfg.id.clone(),
            term: self.durable.term,
            role: self.role,
            accepted,
            observations: Vec::new(),
            operator: None,
        }
    }

    /// The reply to our sync `req`, sent at `sent`.
    pub fn handle_sync_response(
        &mut self,
        req: &SyncRequest,
        sent: Instant,
        reply: Result<&SyncResponse, &PeerError>,
        now: Instant,
    ) {
        let resp = match reply {
            Ok(resp) => resp,
            Err(PeerError::Refused(_)) => {
                // Alive, but not speaking with us: it must not be taken for gone.
                self.peer_contact = Some(now);
                return;
            }
            Err(PeerError::Unreachable(_)) => {
                // With no witness to ask, a peer that cannot be reached is taken for
                // dead and cannot take over: the leader keeps its lease (the split
                // `check` warns about).
                if !self.cfg.witness
                    && self.role == Role::Leader
                    && req.role == Role::Leader
                    && req.term == self.durable.term
                {
                    self.acked_until = Some(self.lease_from(sent).max(self.acked_until.unwrap_or(sent)));
                }
                return;
            }
        };
        self.contact(&resp.from, now);
        if resp.term > self.durable.term {
            self.adopt(resp.term, format!("{} holds newer term {}", resp.from, resp.term));
        }
        if resp.term != self.durable.term {
            return;
        }
        match (self.role, resp.role) {
            (Role::Standby, Role::Leader) => self.heard(&resp.from, now),
            (Role::Leader, _) if req.term == self.durable.term && req.role == Role::Leader => {
                if resp.accepted {
                    self.acked_until = Some(self.lease_from(sent).max(self.acked_until.unwrap_or(sent)));
                } else if resp.role == Role::Leader && resp.from < self.cfg.id {
                    self.become_standby(format!("{} also leads term {}", resp.from, resp.term));
                }
            }
            _ => {}
        }
    }

    /// The peer asks for our vote. The reply may leave only once `durable` is saved.
    pub fn handle_vote_request(&mut self, req: &VoteRequest, now: Instant) -> VoteResponse {
        self.contact(&req.from, now);
        let leading = self.may_write(now).is_some();
        if req.term > self.durable.term && !leading {
            self.adopt(req.term, format!("{} campaigns for term {}", req.from, req.term));
        }
        let granted = req.term == self.durable.term
            && !leading
            && self.durable.voted_for.as_deref().is_none_or(|v| v == req.from);
        if granted {
            self.durable.voted_for = Some(req.from.clone());
            self.heard(&req.from, now);
        } else if self.split_vote(req) && req.from < self.cfg.id {
            // Both campaigned for this term at once. When a round trip is not short
            // against the jitter, random backoffs alone split again and again: the
            // higher id waits half a lease more, so the lower one asks first.
            self.back_off(now);
            self.quiet_until += self.cfg.duration / 2;
            self.retry_at = Some(self.quiet_until);
        }
        VoteResponse {
            from: self.cfg.id.clone(),
            term: self.durable.term,
            granted,
        }
    }

    /// The answer to our vote request `req`, sent at `sent`.
    pub fn handle_vote_response(
        &mut self,
        req: &VoteRequest,
        sent: Instant,
        reply: Result<&VoteResponse, &PeerError>,
        now: Instant,
    ) {
        if self.campaign != Some((req.term, Campaign::Voting)) || self.role != Role::Standby {
            return;
        }
        match reply {
            Ok(r) => {
                self.contact(&r.from, now);
                if r.granted && r.term == req.term {
                    self.campaign = None;
                    self.acked_until = Some(self.lease_from(sent));
                    self.become_leader(now, None, format!("{} granted term {}", r.from, req.term));
                    return;
                }
                if r.term > self.durable.term {
                    self.adopt(r.term, format!("{} holds newer term {}", r.from, r.term));
                }
                self.campaign = None;
                self.back_off(now);
            }
            Err(e) => {
                if matches!(e, PeerError::Refused(_)) {
                    self.peer_contact = Some(now);
                    if !self.cfg.witness {
                        // Alive but refusing: taking the lease would make two leaders.
                        self.campaign = None;
                        self.back_off(now);
                        return;
                    }
                }
                self.campaign = Some((req.term, Campaign::AwaitingWitness));
                if self.cfg.witness && !self.witness_busy {
                    // Decide on a fresh read: the record may have been released just now.
                    self.witness_busy = true;
                    self.transmit.push_back(Transmit::WitnessRead);
                } else {
                    self.try_take(now);
                }
            }
        }
    }

    /// The lease record as read (`Ok(None)`: there is none), the read sent at `_sent`.
    pub fn handle_witness_read(&mut self, result: Result<Option<WitnessRecord>, WitnessError>, now: Instant) {
        self.witness_busy = false;
        let Ok(value) = result else { return };
        self.witness_saw(value, now);
        if self
            .campaign
            .as_ref()
            .is_some_and(|(_, c)| *c == Campaign::AwaitingWitness)
        {
            self.try_take(now);
        }
    }

    /// The outcome of our compare-and-set `before` → `after`, sent at `sent`.
    pub fn handle_witness_write(
        &mut self,
        before: Option<&WitnessRecord>,
        after: &WitnessRecord,
        sent: Instant,
        result: Result<(), WitnessError>,
        now: Instant,
    ) {
        self.witness_busy = false;
        let taking = self.campaign == Some((after.term, Campaign::Taking));
        match result {
            Ok(()) => {
                self.witness_seen = Some((Some(after.clone()), now));
                self.witness_checked = Some(now);
                if after.holder.as_deref() != Some(self.cfg.id.as_str()) || after.term != self.durable.term {
                    return; // a release, or a write from a term we have left
                }
                if taking {
                    self.campaign = None;
                    self.witnessed_until = Some(self.lease_from(sent));
                    self.witness_mine = Some(after.clone());
                    let holder = before.and_then(|b| b.holder.clone()).unwrap_or_else(|| "nobody".into());
                    self.become_leader(
                        now,
                        Some(after.clone()),
                        format!(
                            "peer unreachable; the witness shows {holder}'s lease lapsed: taking term {}",
                            after.term
                        ),
                    );
                    if self.peer_counted {
                        self.peer_gone();
                    }
                } else if self.role == Role::Leader {
                    self.witness_mine = Some(after.clone());
                    self.witnessed_until = Some(self.lease_from(sent).max(self.witnessed_until.unwrap_or(sent)));
                }
            }
            Err(WitnessError::Conflict) => {
                // Someone else wrote the record: our witness proof is gone until a read
                // says whose it is.
                self.witness_mine = None;
                self.witnessed_until = None;
                if taking {
                    self.campaign = None;
                    self.back_off(now);
                }
                self.witness_busy = true;
                self.transmit.push_back(Transmit::WitnessRead);
            }
            Err(WitnessError::Unavailable(_)) => {
                if taking {
                    self.campaign = Some((after.term, Campaign::AwaitingWitness));
                }
            }
        }
    }

    /// Gives the lease up for good (the daemon is stopping, its writes are over): the
    /// peer is told, and the witness record released, so the other takes over at once.
    pub fn resign(&mut self, _now: Instant) {
        let was_leader = self.role == Role::Leader;
        let mine = self.witness_mine.take();
        self.resigned = true;
        if was_leader {
            self.become_standby("stopping".into());
            // The record first, so that the peer, told next, finds it released.
            if let Some(mine) = mine {
                let released = WitnessRecord {
                    holder: None,
                    term: mine.term,
                    seq: mine.seq + 1,
                };
                self.witness_write(Some(mine), released);
            }
            if self.cfg.peer {
                self.transmit.push_back(Transmit::Sync(self.sync_request(true)));
            }
        }
    }

    fn witness_saw(&mut self, value: Option<WitnessRecord>, now: Instant) {
        self.witness_checked = Some(now);
        let changed = self.witness_seen.as_ref().is_none_or(|(v, _)| *v != value);
        if !changed {
            return;
        }
        self.witness_seen = Some((value.clone(), now));
        let Some(record) = value else { return };
        let ours = record.holder.as_deref() == Some(self.cfg.id.as_str());
        if record.term > self.durable.term {
            let holder = record.holder.clone().unwrap_or_else(|| "nobody".into());
            self.adopt(
                record.term,
                format!("the witness shows term {} of {holder}", record.term),
            );
        }
        if ours || record.holder.is_none() {
            return;
        }
        if record.term == self.durable.term && self.role == Role::Leader {
            self.become_standby(format!("the witness shows {:?} holds our term", record.holder));
        }
        // A record that moves is a lease being renewed: its holder is alive, whatever
        // term we have reached meanwhile (a campaign the peer never heard of). Except
        // while our vote request is out: the peer can only grant it by not leading,
        // and a record of an older term moving then is its last renewal landing late;
        // dropping the campaign would throw a granted vote away.
        if self.role == Role::Standby {
            let voting = self.campaign.as_ref().is_some_and(|(_, c)| *c == Campaign::Voting);
            if let Some(holder) = record
                .holder
                .clone()
                .filter(|_| !(voting && record.term < self.durable.term))
            {
                self.heard(&holder, now);
            }
        }
    }

    fn lease_from(&self, sent: Instant) -> Instant {
        sent + self.cfg.duration.mul_f64(1.0 - SAFETY_MARGIN)
    }

    fn contact(&mut self, from: &str, now: Instant) {
        self.peer_contact = Some(now);
        self.peer_counted = true;
        self.peer_id = Some(from.to_string());
    }

    fn peer_gone(&mut self) {
        self.peer_counted = false;
        if let Some(id) = self.peer_id.clone() {
            self.events.push_back(LeaseEvent::PeerGone(id));
        }
    }

    /// A leader was heard from: no campaign for a whole lease.
    fn heard(&mut self, leader: &str, now: Instant) {
        self.leader = Some(leader.to_string());
        self.quiet_until = self.quiet_until.max(now + self.cfg.duration);
        self.campaign = None;
    }

    /// A newer term exists: take it (unvoted), and stop leading.
    fn adopt(&mut self, term: u64, reason: String) {
        self.durable.term = term;
        self.durable.voted_for = None;
        self.leader = None;
        self.campaign = None;
        if self.role == Role::Leader {
            self.become_standby(reason);
        }
    }

    fn become_leader(&mut self, now: Instant, witnessed: Option<WitnessRecord>, reason: String) {
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id.clone());
        if let Some(w) = witnessed {
            self.witness_mine = Some(w);
        }
        // Renew (and claim the witness record) at once rather than a tick later.
        self.next_tick = now;
        self.events.push_back(LeaseEvent::Role(RoleChange {
            from: Role::Standby,
            to: Role::Leader,
            term: self.durable.term,
            reason,
        }));
    }

    fn become_standby(&mut self, reason: String) {
        if self.role != Role::Leader {
            return;
        }
        self.role = Role::Standby;
        self.leader = None;
        self.acked_until = None;
        self.witnessed_until = None;
        self.witness_mine = None;
        self.events.push_back(LeaseEvent::Role(RoleChange {
            from: Role::Leader,
            to: Role::Standby,
            term: self.durable.term,
            reason,
        }));
    }

    fn lead_alone(&mut self, now: Instant, reason: &str) {
        self.durable.term += 1;
        self.durable.voted_for = Some(self.cfg.id.clone());
        // Alone, nobody can take over: the lease lasts as long as the process.
        self.acked_until = Some(now + Duration::from_secs(100 * 365 * 24 * 3600));
        self.become_leader(now, None, reason.into());
    }

    /// Steps down on the daemon's word (a write was fenced off by a newer leader).
    pub fn step_down(&mut self, now: Instant, reason: &str) {
        self.become_standby(reason.into());
        self.back_off(now);
    }

    /// No campaign for a lease and a random share of half a lease.
    /// (Never shortens a longer wait already set.)
    fn back_off(&mut self, now: Instant) {
        self.quiet_until = self.quiet_until.max(now + self.cfg.duration + self.jitter());
        self.retry_at = Some(self.quiet_until);
    }

    /// `req` is the peer's campaign for the very term this standby campaigns for.
    fn split_vote(&self, req: &VoteRequest) -> bool {
        self.role == Role::Standby
            && req.term == self.durable.term
            && self.durable.voted_for.as_deref() == Some(self.cfg.id.as_str())
    }

    /// A random share of half a lease, so that two standbys do not campaign in step.
    fn jitter(&mut self) -> Duration {
        // xorshift64: deterministic from the seed, good enough to spread campaigns.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.cfg.duration.mul_f64((self.rng % 1000) as f64 / 2000.0)
    }
}

impl Coordination for LeaseMachine {
    /// Leading, with a lease confirmed within its duration.
    fn may_write(&self, now: Instant) -> Option<FenceMark> {
        (self.role == Role::Leader && self.valid_until().is_some_and(|u| now < u))
            .then(|| FenceMark::new(self.durable.term, &self.cfg.id))
    }

    fn role(&self) -> Role {
        self.role
    }

    fn term(&self) -> u64 {
        self.durable.term
    }

    fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    fn poll_event(&mut self) -> Option<LeaseEvent> {
        self.events.pop_front()
    }

    fn handle_fence_seen(&mut self, mark: &FenceMark, now: Instant) {
        let ours = self.durable.term;
        if mark.term > ours {
            self.adopt(
                mark.term,
                format!("a provider's fence holds term {} of {}", mark.term, mark.leader),
            );
            self.quiet_until = now + self.cfg.duration;
        } else if mark.term == ours
            && self.role == Role::Leader
            && !mark.leader.is_empty()
            && mark.leader != self.cfg.id
        {
            self.become_standby(format!(
                "a provider's fence shows {} also wrote term {ours}",
                mark.leader
            ));
            self.quiet_until = now + self.cfg.duration;
        }
    }

    /// The value the leader last renewed the lease record to.
    fn witness_held(&self, now: Instant) -> Option<WitnessRecord> {
        self.may_write(now)?;
        self.witness_mine.clone()
    }

    fn durable_state(&self) -> Option<Durable> {
        Some(self.durable.clone())
    }
}
