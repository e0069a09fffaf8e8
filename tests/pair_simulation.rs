//! Deterministic simulation of the pair: two `LeaseMachine`s, each on its own skewed
//! clock, over a lossy, reordering, partitionable network, a compare-and-set witness
//! record and simulated DNS providers, with crashes, pauses, clean stops and restarts
//! from saved state; every run replays exactly from its seed.
//!
//! Why a discrete-event harness of our own rather than turmoil: the lease machine has
//! no sockets, no tasks and no clock inside (`handle_*(…, now)`, `poll_*`), so there is
//! no async code to schedule. Driving it from an event queue in simulated real time is
//! exact (every instant at which a machine's state changes is an event, so checking
//! after each event sees every overlap) and fast (no runtime, no real sleeps), and each
//! daemon's clock is simply a function of real time at its own rate, with no runtime's
//! clock to patch.
//!
//! The harness follows the daemon's driver (`src/daemon/pair.rs`): whatever a machine
//! transmits or replies leaves only after its `durable()` was saved, and a crash
//! restores exactly that. Writes follow the steering loop (`src/daemon/steering.rs`):
//! read the provider's fence (a newer one is fed to `handle_fence_seen`), and only when
//! `may_write(now)` is `Some(mark)` write a batch moving the fence from what was read
//! to `mark`.
//!
//! `DNSTEER_SIM_SEEDS=N` runs N seeds (default below); `DNSTEER_SIM_SEED=S` replays one,
//! and `DNSTEER_SIM_TRACE=1` prints its every event.
//! Figures and what each invariant means: `docs/pair.md`, "Simulation".

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use dnsteer::peer::{
    Coordination, Durable, LeaseConfig, LeaseEvent, LeaseMachine, PeerError, Role, RoleChange, SyncRequest,
    SyncResponse, Transmit, VoteRequest, VoteResponse, WitnessError, WitnessRecord,
};
use dnsteer_providers::FenceMark;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The lease: the SPEC's default. Everything else is a share of it.
const LEASE: Duration = Duration::from_secs(10);
/// Faults happen during the first part of a run...
const FAULT_PHASE: Duration = Duration::from_secs(180);
/// ...then everything heals and the pair must settle on one leader.
const CALM_PHASE: Duration = Duration::from_secs(60);
/// Seeds the default suite runs.
const DEFAULT_SEEDS: u64 = 5000;
/// A run that has not settled this long after the calm began is stopped (invariant 4).
const SETTLE_CAP: Duration = Duration::from_secs(600);
/// The share of provider writes held up on the way for up to two leases.
const SLOW_WRITES: f64 = 0.05;
/// The events kept for a violation's report.
const TRACE_LEN: usize = 40;
const IDS: [&str; 2] = ["steer-a", "steer-b"];

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// What a run may be told to get wrong, to show that the checker catches it.
#[derive(Clone, Copy, Debug)]
struct Knobs {
    /// Each clock's rate differs from real time by up to this share.
    skew: f64,
    /// Compare-and-set providers compare the fence (false: they accept any batch).
    fence_checked: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            skew: 0.02,
            fence_checked: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProviderKind {
    /// RFC 2136 prerequisites, Route 53 change batches: the batch applies only if the
    /// fence still holds `before`, checked by the provider itself.
    CompareAndSet,
    /// PowerDNS, Cloudflare: the adapter re-reads the fence, then writes after a while
    /// (a rate limiter's wait); the daemon's guard asks `may_write` just before sending.
    CheckThenWrite,
}

struct Provider {
    kind: ProviderKind,
    fence: Option<FenceMark>,
    /// The newest mark it accepted, and from whom.
    last_accepted: Option<(FenceMark, usize)>,
}

/// One seed's world, drawn from the seed.
struct Params {
    rates: [f64; 2],
    /// One-way delay of a message, uniform in 0..=max (at most a quarter lease).
    max_delay: u64,
    loss: f64,
    witness_max_delay: u64,
    /// A witness reply lost (the write landed, nobody heard).
    witness_reply_loss: f64,
    /// How long a check-then-write adapter may wait between its check and its write.
    ctw_max_gap: u64,
    /// Chance that a steering cycle has something to write at a provider.
    write_chance: f64,
}

#[derive(Clone, Debug)]
enum PeerReq {
    Sync(SyncRequest),
    Vote(VoteRequest),
}

#[derive(Clone, Debug)]
enum PeerResp {
    Sync(SyncResponse),
    Vote(VoteResponse),
}

#[derive(Clone, Debug)]
enum WitnessOp {
    Read,
    Write {
        before: Option<WitnessRecord>,
        after: WitnessRecord,
    },
}

#[derive(Clone, Debug)]
enum WitnessReply {
    Read(Option<WitnessRecord>),
    Written(Result<(), WitnessError>),
}

#[derive(Clone, Debug)]
enum Fault {
    Cut {
        from: usize,
        to: usize,
        on: bool,
    },
    WitnessCut {
        node: usize,
        on: bool,
    },
    Stop {
        node: usize,
        clean: bool,
        restart_after: u64,
    },
    Restart {
        node: usize,
    },
    Pause {
        node: usize,
        resume_after: u64,
    },
    Resume {
        node: usize,
    },
    Calm,
}

#[derive(Clone, Debug)]
enum Ev {
    /// The machine's `poll_timeout` came (stale unless `gen` is the node's latest).
    Wake {
        node: usize,
        gen: u64,
    },
    /// A steering cycle: read every provider's fence.
    Steer {
        node: usize,
        inc: u32,
    },
    PeerArrive {
        to: usize,
        id: u64,
        from: usize,
        from_inc: u32,
        req: PeerReq,
    },
    PeerReply {
        to: usize,
        inc: u32,
        id: u64,
        resp: PeerResp,
    },
    /// The HTTP client gives up on request `id` (a third of a lease).
    PeerTimeout {
        to: usize,
        inc: u32,
        id: u64,
    },
    WitnessArrive {
        from: usize,
        inc: u32,
        id: u64,
        op: WitnessOp,
    },
    WitnessReply {
        to: usize,
        inc: u32,
        id: u64,
        reply: WitnessReply,
    },
    WitnessTimeout {
        to: usize,
        inc: u32,
        id: u64,
    },
    FenceRead {
        p: usize,
        from: usize,
        inc: u32,
    },
    FenceReadReply {
        to: usize,
        inc: u32,
        p: usize,
        mark: Option<FenceMark>,
    },
    /// A check-then-write adapter's re-read reaches the provider.
    Check {
        p: usize,
        from: usize,
        inc: u32,
        before: Option<FenceMark>,
        after: FenceMark,
    },
    /// ...and its answer is back: wait, ask the guard, send.
    Checked {
        to: usize,
        inc: u32,
        p: usize,
        ok: bool,
        after: FenceMark,
    },
    Send {
        node: usize,
        inc: u32,
        p: usize,
        after: FenceMark,
    },
    /// A batch reaches the provider; `before` is compared only at compare-and-set ones.
    /// `slow`: it was held up on the way (a retransmit, a slow proxy) past the usual
    /// delays, which only a compare-and-set can catch.
    Write {
        p: usize,
        from: usize,
        before: Option<FenceMark>,
        after: FenceMark,
        slow: bool,
    },
    WriteDone {
        to: usize,
        inc: u32,
        p: usize,
    },
    Fault(Fault),
}

impl Ev {
    /// The node that handles the event, if it is one (a paused node defers it).
    fn handler(&self) -> Option<(usize, Option<u32>)> {
        Some(match *self {
            Ev::Wake { node, .. } => (node, None),
            Ev::Steer { node, inc } | Ev::Send { node, inc, .. } => (node, Some(inc)),
            Ev::PeerArrive { to, .. } => (to, None),
            Ev::PeerReply { to, inc, .. }
            | Ev::PeerTimeout { to, inc, .. }
            | Ev::WitnessReply { to, inc, .. }
            | Ev::WitnessTimeout { to, inc, .. }
            | Ev::FenceReadReply { to, inc, .. }
            | Ev::Checked { to, inc, .. }
            | Ev::WriteDone { to, inc, .. } => (to, Some(inc)),
            _ => return None,
        })
    }

    fn label(&self) -> String {
        match self {
            Ev::Wake { node, .. } => format!("{} wakes", IDS[*node]),
            Ev::Steer { node, .. } => format!("{} steers", IDS[*node]),
            Ev::PeerArrive { to, req, .. } => format!("{} gets {req:?}", IDS[*to]),
            Ev::PeerReply { to, resp, .. } => format!("{} gets reply {resp:?}", IDS[*to]),
            Ev::PeerTimeout { to, id, .. } => format!("{} times out request {id}", IDS[*to]),
            Ev::WitnessArrive { from, op, .. } => format!("witness gets {op:?} from {}", IDS[*from]),
            Ev::WitnessReply { to, reply, .. } => format!("{} gets witness {reply:?}", IDS[*to]),
            Ev::WitnessTimeout { to, .. } => format!("{} times out at the witness", IDS[*to]),
            Ev::FenceRead { p, from, .. } => format!("provider {p} read by {}", IDS[*from]),
            Ev::FenceReadReply { to, p, mark, .. } => format!("{} reads fence {mark:?} at provider {p}", IDS[*to]),
            Ev::Check { p, from, before, .. } => {
                format!("provider {p} re-read by {} expecting {before:?}", IDS[*from])
            }
            Ev::Checked { to, p, ok, .. } => format!("{} re-read provider {p}: {ok}", IDS[*to]),
            Ev::Send { node, p, after, .. } => format!("{} sends {after:?} to provider {p}", IDS[*node]),
            Ev::Write {
                p,
                from,
                before,
                after,
                slow,
            } => {
                let slow = if *slow { " (held up)" } else { "" };
                format!("provider {p} gets {before:?} -> {after:?} from {}{slow}", IDS[*from])
            }
            Ev::WriteDone { to, p, .. } => format!("{} done writing provider {p}", IDS[*to]),
            Ev::Fault(f) => format!("fault {f:?}"),
        }
    }
}

/// A line of a violation's trace.
enum Traced {
    Event(Ev),
    Role(usize, RoleChange),
}

impl Traced {
    fn line(&self, at: u64) -> String {
        let what = match self {
            Traced::Event(ev) => ev.label(),
            Traced::Role(node, change) => format!("{} {change:?}", IDS[*node]),
        };
        format!("{:>9.3}s {what}", at as f64 / 1e9)
    }
}

struct Queued {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    /// Earliest first out of the max-heap; ties in the order they were queued.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

enum PendingPeer {
    Sync(SyncRequest),
    Vote(VoteRequest),
}

struct Node {
    m: Option<LeaseMachine>,
    /// What a crash restores: saved before anything the machine said left.
    saved: Durable,
    /// Bumped by every start: replies to an earlier incarnation are dropped.
    inc: u32,
    paused: bool,
    /// Events that reached a paused process, handled when it resumes.
    deferred: Vec<Ev>,
    rate: f64,
    /// The node's clock at real time zero.
    offset: u64,
    wake_gen: u64,
    wake_at: u64,
    peer_pending: HashMap<u64, (PendingPeer, Instant)>,
    witness_pending: HashMap<u64, (WitnessOp, Instant)>,
    writing: Vec<bool>,
}

/// A broken invariant, with what led to it.
#[derive(Debug)]
struct Violation {
    seed: u64,
    invariant: u8,
    what: String,
    trace: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} (replay: DNSTEER_SIM_SEED={}): invariant {} broken: {}\nlast events:\n{}",
            self.seed, self.seed, self.invariant, self.what, self.trace
        )
    }
}

/// What one run measured.
#[derive(Debug, Default)]
struct Outcome {
    events: u64,
    /// Time from the calm phase's start to exactly one leader.
    settled_after: Duration,
    accepted_writes: u64,
    fenced_writes: u64,
    leader_changes: u64,
    /// Campaigns (vote requests, takes at the witness) started after everything healed.
    campaigns: u64,
    /// Held-up batches that landed over a newer leader's at a check-then-write provider.
    late_unfenced: u64,
}

struct Sim {
    seed: u64,
    knobs: Knobs,
    rng: StdRng,
    p: Params,
    base: Instant,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Queued>,
    nodes: Vec<Node>,
    /// `cut[from][to]`: partitions in force on that direction (they may overlap).
    cut: [[u32; 2]; 2],
    witness_cut: [u32; 2],
    witness: Option<WitnessRecord>,
    providers: Vec<Provider>,
    next_id: u64,
    /// Invariant 2: the one leader of each term, across leading and writing.
    term_leader: HashMap<u64, String>,
    calm_since: Option<u64>,
    settled_at: Option<u64>,
    trace: VecDeque<(u64, Traced)>,
    /// Every event to stderr (`DNSTEER_SIM_TRACE=1`, with `DNSTEER_SIM_SEED`).
    verbose: bool,
    out: Outcome,
}

impl Sim {
    fn new(seed: u64, knobs: Knobs) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let lease = ns(LEASE);
        let p = Params {
            rates: [
                1.0 + rng.random_range(-knobs.skew..=knobs.skew),
                1.0 + rng.random_range(-knobs.skew..=knobs.skew),
            ],
            max_delay: rng.random_range(0..=lease / 4),
            loss: rng.random_range(0.0..0.2),
            witness_max_delay: rng.random_range(0..=lease / 4),
            witness_reply_loss: rng.random_range(0.0..0.2),
            ctw_max_gap: rng.random_range(0..=lease / 4),
            write_chance: rng.random_range(0.1..0.9),
        };
        let kinds = match rng.random_range(0..3) {
            0 => vec![ProviderKind::CompareAndSet, ProviderKind::CheckThenWrite],
            1 => vec![ProviderKind::CompareAndSet, ProviderKind::CompareAndSet],
            _ => vec![
                ProviderKind::CompareAndSet,
                ProviderKind::CheckThenWrite,
                ProviderKind::CheckThenWrite,
            ],
        };
        let providers: Vec<Provider> = kinds
            .into_iter()
            .map(|kind| Provider {
                kind,
                fence: None,
                last_accepted: None,
            })
            .collect();
        let nodes = (0..2)
            .map(|i| Node {
                m: None,
                saved: Durable::default(),
                inc: 0,
                paused: false,
                deferred: Vec::new(),
                rate: p.rates[i],
                offset: rng.random_range(0..ns(Duration::from_secs(1000))),
                wake_gen: 0,
                wake_at: u64::MAX,
                peer_pending: HashMap::new(),
                witness_pending: HashMap::new(),
                writing: vec![false; providers.len()],
            })
            .collect();
        let mut sim = Self {
            seed,
            knobs,
            rng,
            p,
            base: Instant::now(),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            cut: [[0; 2]; 2],
            witness_cut: [0; 2],
            witness: None,
            providers,
            next_id: 0,
            term_leader: HashMap::new(),
            calm_since: None,
            settled_at: None,
            trace: VecDeque::with_capacity(TRACE_LEN),
            verbose: std::env::var_os("DNSTEER_SIM_TRACE").is_some(),
            out: Outcome::default(),
        };
        sim.plan_faults();
        for i in 0..2 {
            // The second daemon starts up to a lease later.
            let at = if i == 0 { 0 } else { sim.rng.random_range(0..lease) };
            sim.push(at, Ev::Fault(Fault::Restart { node: i }));
        }
        sim
    }

    /// Faults at random times over the fault phase, then the calm.
    fn plan_faults(&mut self) {
        let lease = ns(LEASE);
        let end = ns(FAULT_PHASE);
        let count = self.rng.random_range(3..=25);
        for _ in 0..count {
            let at = self.rng.random_range(0..end);
            let node = self.rng.random_range(0..2);
            let lasting = self.rng.random_range(lease / 10..=lease * 5);
            let (on, off) = match self.rng.random_range(0..6) {
                0 => (
                    Fault::Cut {
                        from: node,
                        to: 1 - node,
                        on: true,
                    },
                    Fault::Cut {
                        from: node,
                        to: 1 - node,
                        on: false,
                    },
                ),
                1 => {
                    self.push(
                        at,
                        Ev::Fault(Fault::Cut {
                            from: 1 - node,
                            to: node,
                            on: true,
                        }),
                    );
                    self.push(
                        at + lasting,
                        Ev::Fault(Fault::Cut {
                            from: 1 - node,
                            to: node,
                            on: false,
                        }),
                    );
                    (
                        Fault::Cut {
                            from: node,
                            to: 1 - node,
                            on: true,
                        },
                        Fault::Cut {
                            from: node,
                            to: 1 - node,
                            on: false,
                        },
                    )
                }
                2 => (
                    Fault::WitnessCut { node, on: true },
                    Fault::WitnessCut { node, on: false },
                ),
                3 => {
                    let clean = self.rng.random_bool(0.3);
                    self.push(
                        at,
                        Ev::Fault(Fault::Stop {
                            node,
                            clean,
                            restart_after: lasting,
                        }),
                    );
                    continue;
                }
                _ => {
                    self.push(
                        at,
                        Ev::Fault(Fault::Pause {
                            node,
                            resume_after: lasting,
                        }),
                    );
                    continue;
                }
            };
            self.push(at, Ev::Fault(on));
            self.push(at + lasting, Ev::Fault(off));
        }
        self.push(end, Ev::Fault(Fault::Calm));
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Queued { at, seq: self.seq, ev });
    }

    fn delay(&mut self, max: u64) -> u64 {
        self.rng.random_range(0..=max)
    }

    /// A provider write's one-way delay; now and then it is held up for up to two
    /// leases, the case a fence exists for.
    fn write_delay(&mut self) -> (u64, bool) {
        if self.rng.random_bool(SLOW_WRITES) {
            (self.delay(ns(LEASE) * 2), true)
        } else {
            (self.delay(self.p.max_delay), false)
        }
    }

    /// Node `i`'s clock at real time `real`.
    fn local_at(&self, i: usize, real: u64) -> Instant {
        let n = &self.nodes[i];
        self.base + Duration::from_nanos(n.offset + (real as f64 * n.rate) as u64)
    }

    fn local(&self, i: usize) -> Instant {
        self.local_at(i, self.now)
    }

    /// The first real time at which node `i`'s clock reads `at` or later.
    fn real_at(&self, i: usize, at: Instant) -> u64 {
        let n = &self.nodes[i];
        let local = at.saturating_duration_since(self.base).as_nanos() as u64;
        let mut real = (local.saturating_sub(n.offset) as f64 / n.rate).ceil() as u64;
        // Float rounding may leave it a nanosecond or two short.
        for _ in 0..4 {
            if self.local_at(i, real) >= at {
                break;
            }
            real += 1;
        }
        real.max(self.now)
    }

    fn up(&self, i: usize) -> bool {
        self.nodes[i].m.is_some()
    }

    fn calm(&self) -> bool {
        self.calm_since.is_some()
    }

    /// Keeps the last events for a violation's report; formatted only then (or at
    /// once with `DNSTEER_SIM_TRACE`), which keeps a run fast.
    fn record(&mut self, what: Traced) {
        if self.verbose {
            eprintln!("{}", what.line(self.now));
        }
        if self.trace.len() == TRACE_LEN {
            self.trace.pop_front();
        }
        self.trace.push_back((self.now, what));
    }

    fn violation(&self, invariant: u8, what: String) -> Violation {
        let mut trace = String::new();
        for (at, what) in &self.trace {
            let _ = writeln!(trace, "  {}", what.line(*at));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let state = match &n.m {
                Some(m) => format!(
                    "{:?} term {} may_write {:?} valid_until {:?}",
                    m.role(),
                    m.term(),
                    m.may_write(self.local(i)),
                    m.valid_until().map(|u| u.saturating_duration_since(self.local(i)))
                ),
                None => "down".into(),
            };
            let _ = writeln!(
                trace,
                "  now: {} rate {:.4} paused {} saved {:?}: {state}",
                IDS[i], n.rate, n.paused, n.saved
            );
        }
        let _ = writeln!(trace, "  witness {:?}", self.witness);
        Violation {
            seed: self.seed,
            invariant,
            what,
            trace,
        }
    }

    fn run(mut self) -> Result<Outcome, Violation> {
        let end = ns(FAULT_PHASE + CALM_PHASE);
        // Bounded: every event is at a later or equal time, each handler queues a bounded
        // number of events, and the run stops at `end` once settled, or at the cap.
        while let Some(Queued { at, ev, .. }) = self.queue.pop() {
            if at > end && self.settled_at.is_some() {
                break;
            }
            if at > ns(FAULT_PHASE + SETTLE_CAP) {
                return Err(self.violation(4, format!("no single leader {SETTLE_CAP:?} after the calm began")));
            }
            self.now = at;
            self.out.events += 1;
            if let Some((node, inc)) = ev.handler() {
                if !self.up(node) || inc.is_some_and(|inc| inc != self.nodes[node].inc) {
                    continue; // for a process that is gone
                }
                if self.nodes[node].paused {
                    self.nodes[node].deferred.push(ev);
                    continue;
                }
            }
            let stale = match ev {
                Ev::Wake { node, gen } => gen != self.nodes[node].wake_gen,
                Ev::PeerTimeout { to, id, .. } => !self.nodes[to].peer_pending.contains_key(&id),
                Ev::WitnessTimeout { to, id, .. } => !self.nodes[to].witness_pending.contains_key(&id),
                _ => false,
            };
            if stale {
                continue;
            }
            self.record(Traced::Event(ev.clone()));
            self.handle(ev)?;
            self.check()?;
        }
        let Some(settled) = self.settled_at else {
            return Err(self.violation(4, "no events left and no single leader".into()));
        };
        self.out.settled_after = Duration::from_nanos(settled - self.calm_since.unwrap_or(settled));
        Ok(self.out)
    }

    fn handle(&mut self, ev: Ev) -> Result<(), Violation> {
        match ev {
            Ev::Wake { node, .. } => {
                let now = self.local(node);
                self.machine(node).handle_timeout(now);
                self.drain(node)?;
            }
            Ev::Steer { node, inc } => {
                for p in 0..self.providers.len() {
                    let d = self.delay(self.p.max_delay);
                    self.push(self.now + d, Ev::FenceRead { p, from: node, inc });
                }
                let every = ns(LEASE) / 5;
                let next = self.now + (every as f64 / self.nodes[node].rate) as u64;
                self.push(next, Ev::Steer { node, inc });
            }
            Ev::PeerArrive {
                to,
                id,
                from,
                from_inc,
                req,
            } => {
                let now = self.local(to);
                let resp = match &req {
                    PeerReq::Sync(r) => PeerResp::Sync(self.machine(to).handle_sync_request(r, now)),
                    PeerReq::Vote(r) => PeerResp::Vote(self.machine(to).handle_vote_request(r, now)),
                };
                // The reply leaves only once what it promises is saved.
                self.nodes[to].saved = self.machine(to).durable().clone();
                if let Some(d) = self.link_delay(to, from) {
                    self.push(
                        self.now + d,
                        Ev::PeerReply {
                            to: from,
                            inc: from_inc,
                            id,
                            resp,
                        },
                    );
                }
                self.drain(to)?;
            }
            Ev::PeerReply { to, id, resp, .. } => self.peer_answer(to, id, Some(resp))?,
            Ev::PeerTimeout { to, id, .. } => self.peer_answer(to, id, None)?,
            Ev::WitnessArrive { from, inc, id, op } => {
                let reply = match op {
                    WitnessOp::Read => WitnessReply::Read(self.witness.clone()),
                    WitnessOp::Write { before, after } => {
                        if self.witness == before {
                            self.witness = Some(after);
                            WitnessReply::Written(Ok(()))
                        } else {
                            WitnessReply::Written(Err(WitnessError::Conflict))
                        }
                    }
                };
                let lost = self.witness_cut[from] > 0 || self.rng.random_bool(self.p.witness_reply_loss);
                if !lost {
                    let d = self.delay(self.p.witness_max_delay);
                    self.push(
                        self.now + d,
                        Ev::WitnessReply {
                            to: from,
                            inc,
                            id,
                            reply,
                        },
                    );
                }
            }
            Ev::WitnessReply { to, id, reply, .. } => self.witness_answer(to, id, Some(reply))?,
            Ev::WitnessTimeout { to, id, .. } => self.witness_answer(to, id, None)?,
            Ev::FenceRead { p, from, inc } => {
                let mark = self.providers[p].fence.clone();
                let d = self.delay(self.p.max_delay);
                self.push(self.now + d, Ev::FenceReadReply { to: from, inc, p, mark });
            }
            Ev::FenceReadReply { to, inc, p, mark } => {
                let now = self.local(to);
                if let Some(mark) = &mark {
                    self.machine(to).handle_fence_seen(mark, now);
                }
                self.drain(to)?;
                let Some(ours) = self.machine(to).may_write(now) else {
                    return Ok(());
                };
                if self.nodes[to].writing[p] || !self.rng.random_bool(self.p.write_chance) {
                    return Ok(());
                }
                self.nodes[to].writing[p] = true;
                let kind = self.providers[p].kind;
                let (d, slow) = match kind {
                    ProviderKind::CompareAndSet => self.write_delay(),
                    ProviderKind::CheckThenWrite => (self.delay(self.p.max_delay), false),
                };
                let ev = match kind {
                    ProviderKind::CompareAndSet => Ev::Write {
                        p,
                        from: to,
                        before: mark,
                        after: ours,
                        slow,
                    },
                    ProviderKind::CheckThenWrite => Ev::Check {
                        p,
                        from: to,
                        inc,
                        before: mark,
                        after: ours,
                    },
                };
                self.push(self.now + d, ev);
            }
            Ev::Check {
                p,
                from,
                inc,
                before,
                after,
            } => {
                // PowerDNS's adapter: a fence already at our mark is "already done".
                let fence = &self.providers[p].fence;
                let ok = *fence == before || fence.as_ref() == Some(&after);
                let d = self.delay(self.p.max_delay);
                self.push(
                    self.now + d,
                    Ev::Checked {
                        to: from,
                        inc,
                        p,
                        ok,
                        after,
                    },
                );
            }
            Ev::Checked { to, inc, p, ok, after } => {
                if !ok {
                    self.nodes[to].writing[p] = false;
                    self.out.fenced_writes += 1;
                    return Ok(());
                }
                let gap = self.delay(self.p.ctw_max_gap);
                self.push(
                    self.now + gap,
                    Ev::Send {
                        node: to,
                        inc,
                        p,
                        after,
                    },
                );
            }
            Ev::Send { node, p, after, .. } => {
                // The guard, just before the request leaves.
                let now = self.local(node);
                if self.machine(node).may_write(now).as_ref() != Some(&after) {
                    self.nodes[node].writing[p] = false;
                    self.out.fenced_writes += 1;
                    return Ok(());
                }
                let (d, slow) = self.write_delay();
                self.push(
                    self.now + d,
                    Ev::Write {
                        p,
                        from: node,
                        before: None,
                        after,
                        slow,
                    },
                );
            }
            Ev::Write {
                p,
                from,
                before,
                after,
                slow,
            } => self.provider_write(p, from, before, after, slow)?,
            Ev::WriteDone { to, p, .. } => self.nodes[to].writing[p] = false,
            Ev::Fault(f) => self.fault(f)?,
        }
        Ok(())
    }

    /// The reply to node `to`'s request `id`, or (`None`) its client giving up.
    fn peer_answer(&mut self, to: usize, id: u64, resp: Option<PeerResp>) -> Result<(), Violation> {
        let Some((req, sent)) = self.nodes[to].peer_pending.remove(&id) else {
            return Ok(()); // answered or timed out already
        };
        let now = self.local(to);
        let e = PeerError::Unreachable("timed out".into());
        let m = self.machine(to);
        match (req, resp) {
            (PendingPeer::Sync(req), Some(PeerResp::Sync(r))) => m.handle_sync_response(&req, sent, Ok(&r), now),
            (PendingPeer::Vote(req), Some(PeerResp::Vote(r))) => m.handle_vote_response(&req, sent, Ok(&r), now),
            (PendingPeer::Sync(req), None) => m.handle_sync_response(&req, sent, Err(&e), now),
            (PendingPeer::Vote(req), None) => m.handle_vote_response(&req, sent, Err(&e), now),
            _ => unreachable!("replies match their requests"),
        }
        self.drain(to)
    }

    /// The witness's answer to node `to`'s operation `id`, or (`None`) a timeout.
    fn witness_answer(&mut self, to: usize, id: u64, reply: Option<WitnessReply>) -> Result<(), Violation> {
        let Some((op, sent)) = self.nodes[to].witness_pending.remove(&id) else {
            return Ok(());
        };
        let now = self.local(to);
        let timed_out = || WitnessError::Unavailable("timed out".into());
        let m = self.machine(to);
        match (op, reply) {
            (WitnessOp::Read, Some(WitnessReply::Read(v))) => m.handle_witness_read(Ok(v), now),
            (WitnessOp::Read, None) => m.handle_witness_read(Err(timed_out()), now),
            (WitnessOp::Write { before, after }, Some(WitnessReply::Written(r))) => {
                m.handle_witness_write(before.as_ref(), &after, sent, r, now)
            }
            (WitnessOp::Write { before, after }, None) => {
                m.handle_witness_write(before.as_ref(), &after, sent, Err(timed_out()), now)
            }
            _ => unreachable!("replies match their requests"),
        }
        self.drain(to)
    }

    fn provider_write(
        &mut self,
        p: usize,
        from: usize,
        before: Option<FenceMark>,
        after: FenceMark,
        slow: bool,
    ) -> Result<(), Violation> {
        let provider = &self.providers[p];
        let kind = provider.kind;
        let newest = provider.last_accepted.clone();
        let accepted = match kind {
            ProviderKind::CompareAndSet => {
                !self.knobs.fence_checked || provider.fence == before || provider.fence.as_ref() == Some(&after)
            }
            ProviderKind::CheckThenWrite => true,
        };
        let inc = self.nodes[from].inc;
        let d = self.delay(self.p.max_delay);
        self.push(self.now + d, Ev::WriteDone { to: from, inc, p });
        if !accepted {
            self.out.fenced_writes += 1;
            return Ok(());
        }
        self.out.accepted_writes += 1;
        if let Some((newest, by)) = newest.clone() {
            if after < newest && kind == ProviderKind::CheckThenWrite && slow {
                // The limit of a provider without compare-and-set (docs/pair.md): a
                // batch that passed the guard in time and then was held up on the way
                // lands over a newer leader's. Counted, not a violation.
                self.out.late_unfenced += 1;
                self.providers[p].fence = Some(after);
                return Ok(());
            }
            if after < newest {
                // Invariant 3: the fence's job at a compare-and-set provider.
                let lapsed = self.nodes[from]
                    .m
                    .as_ref()
                    .is_none_or(|m| m.may_write(self.local(from)) != Some(after.clone()));
                if kind == ProviderKind::CompareAndSet && lapsed && by != from {
                    return Err(self.violation(
                        3,
                        format!(
                            "provider {p} ({kind:?}) accepted {after:?} from {}, whose lease lapsed, after {newest:?} from {}",
                            IDS[from], IDS[by]
                        ),
                    ));
                }
                return Err(self.violation(
                    2,
                    format!(
                        "provider {p} ({kind:?}) accepted {after:?} from {} after {newest:?}",
                        IDS[from]
                    ),
                ));
            }
        }
        self.claim_term(&after)?;
        let provider = &mut self.providers[p];
        provider.fence = Some(after.clone());
        provider.last_accepted = Some((after, from));
        Ok(())
    }

    /// Invariant 2: one leader id per term, whoever says so.
    fn claim_term(&mut self, mark: &FenceMark) -> Result<(), Violation> {
        match self.term_leader.get(&mark.term) {
            Some(id) if *id != mark.leader => Err(self.violation(
                2,
                format!("term {} has two leaders: {id} and {}", mark.term, mark.leader),
            )),
            Some(_) => Ok(()),
            None => {
                self.term_leader.insert(mark.term, mark.leader.clone());
                Ok(())
            }
        }
    }

    fn fault(&mut self, f: Fault) -> Result<(), Violation> {
        let lease = ns(LEASE);
        match f {
            // Faults that would start in the calm are dropped; their ends are harmless.
            Fault::Cut { from, to, on } => {
                if on && !self.calm() {
                    self.cut[from][to] += 1;
                } else if !on {
                    self.cut[from][to] = self.cut[from][to].saturating_sub(1);
                }
            }
            Fault::WitnessCut { node, on } => {
                if on && !self.calm() {
                    self.witness_cut[node] += 1;
                } else if !on {
                    self.witness_cut[node] = self.witness_cut[node].saturating_sub(1);
                }
            }
            Fault::Stop {
                node,
                clean,
                restart_after,
            } => {
                if self.calm() || !self.up(node) || self.nodes[node].paused {
                    return Ok(());
                }
                if clean {
                    // A clean stop: the writes are over, then the lease is given up.
                    let now = self.local(node);
                    self.machine(node).resign(now);
                    self.drain(node)?;
                }
                let n = &mut self.nodes[node];
                n.m = None;
                n.deferred.clear();
                n.peer_pending.clear();
                n.witness_pending.clear();
                n.writing.iter_mut().for_each(|w| *w = false);
                self.push(self.now + restart_after, Ev::Fault(Fault::Restart { node }));
            }
            Fault::Restart { node } => {
                if self.up(node) {
                    return Ok(());
                }
                let now = self.local(node);
                let n = &mut self.nodes[node];
                n.inc += 1;
                let cfg = LeaseConfig {
                    id: IDS[node].into(),
                    duration: LEASE,
                    peer: true,
                    witness: true,
                    seed: self.seed ^ (u64::from(n.inc) << 32) ^ node as u64,
                };
                n.m = Some(LeaseMachine::new(cfg, n.saved.clone(), now));
                let inc = n.inc;
                let first = self.rng.random_range(0..lease / 5);
                self.push(self.now + first, Ev::Steer { node, inc });
                self.drain(node)?;
            }
            Fault::Pause { node, resume_after } => {
                if self.calm() || !self.up(node) || self.nodes[node].paused {
                    return Ok(());
                }
                self.nodes[node].paused = true;
                self.push(self.now + resume_after, Ev::Fault(Fault::Resume { node }));
            }
            Fault::Resume { node } => {
                if !self.nodes[node].paused {
                    return Ok(());
                }
                self.nodes[node].paused = false;
                // What reached the stopped process is handled now, in order, with the
                // clock as it reads on resuming.
                for ev in std::mem::take(&mut self.nodes[node].deferred) {
                    self.push(self.now, ev);
                }
            }
            Fault::Calm => {
                self.calm_since = Some(self.now);
                self.cut = [[0; 2]; 2];
                self.witness_cut = [0; 2];
                self.p.loss = 0.0;
                self.p.witness_reply_loss = 0.0;
                // A reply must beat the client's timeout (a third of a lease) for anything
                // to settle: calm round trips take at most a quarter lease.
                self.p.max_delay = self.p.max_delay.min(ns(LEASE) / 8);
                self.p.witness_max_delay = self.p.witness_max_delay.min(ns(LEASE) / 8);
                for node in 0..2 {
                    if self.nodes[node].paused {
                        self.fault(Fault::Resume { node })?;
                    }
                    if !self.up(node) {
                        self.fault(Fault::Restart { node })?;
                    }
                }
            }
        }
        Ok(())
    }

    fn machine(&mut self, i: usize) -> &mut LeaseMachine {
        self.nodes[i].m.as_mut().expect("handled only while up")
    }

    /// The one-way delay of a message from `from` to `to`, or `None` if it is lost.
    fn link_delay(&mut self, from: usize, to: usize) -> Option<u64> {
        if self.cut[from][to] > 0 || self.rng.random_bool(self.p.loss) {
            return None;
        }
        Some(self.delay(self.p.max_delay))
    }

    /// Sends what node `i` has to send (once its durable state is saved), records its
    /// events, and sets its next wake-up.
    fn drain(&mut self, i: usize) -> Result<(), Violation> {
        let now = self.local(i);
        let inc = self.nodes[i].inc;
        let lease = ns(LEASE);
        let mut saved = false;
        while let Some(t) = self.machine(i).poll_transmit() {
            if !saved {
                self.nodes[i].saved = self.machine(i).durable().clone();
                saved = true;
            }
            self.next_id += 1;
            let id = self.next_id;
            // The HTTP client's timeout: a third of a lease on the sender's clock.
            let timeout = self.now + ((lease / 3) as f64 / self.nodes[i].rate) as u64;
            let j = 1 - i;
            match t {
                Transmit::Sync(req) => {
                    self.nodes[i]
                        .peer_pending
                        .insert(id, (PendingPeer::Sync(req.clone()), now));
                    self.send_peer(i, j, inc, id, PeerReq::Sync(req));
                    self.push(timeout, Ev::PeerTimeout { to: i, inc, id });
                }
                Transmit::Vote(req) => {
                    if self.calm() {
                        self.out.campaigns += 1;
                    }
                    self.nodes[i]
                        .peer_pending
                        .insert(id, (PendingPeer::Vote(req.clone()), now));
                    self.send_peer(i, j, inc, id, PeerReq::Vote(req));
                    self.push(timeout, Ev::PeerTimeout { to: i, inc, id });
                }
                Transmit::WitnessRead => self.send_witness(i, inc, id, WitnessOp::Read, now, timeout),
                Transmit::WitnessWrite { before, after } => {
                    // A take writes a fresh record (`seq` 0); renewals count up.
                    if self.calm() && after.seq == 0 {
                        self.out.campaigns += 1;
                    }
                    self.send_witness(i, inc, id, WitnessOp::Write { before, after }, now, timeout)
                }
            }
        }
        while let Some(e) = self.machine(i).poll_event() {
            if let LeaseEvent::Role(change) = e {
                self.out.leader_changes += 1;
                if change.to == Role::Leader {
                    self.claim_term(&FenceMark::new(change.term, IDS[i]))?;
                }
                self.record(Traced::Role(i, change));
            }
        }
        let wake = self.machine(i).poll_timeout();
        let at = self.real_at(i, wake);
        let n = &mut self.nodes[i];
        if at != n.wake_at || n.wake_gen == 0 {
            n.wake_gen += 1;
            n.wake_at = at;
            let gen = n.wake_gen;
            self.push(at, Ev::Wake { node: i, gen });
        }
        Ok(())
    }

    fn send_peer(&mut self, from: usize, to: usize, from_inc: u32, id: u64, req: PeerReq) {
        if let Some(d) = self.link_delay(from, to) {
            self.push(
                self.now + d,
                Ev::PeerArrive {
                    to,
                    id,
                    from,
                    from_inc,
                    req,
                },
            );
        }
    }

    fn send_witness(&mut self, i: usize, inc: u32, id: u64, op: WitnessOp, now: Instant, timeout: u64) {
        self.nodes[i].witness_pending.insert(id, (op.clone(), now));
        if self.witness_cut[i] == 0 {
            let d = self.delay(self.p.witness_max_delay);
            self.push(self.now + d, Ev::WitnessArrive { from: i, inc, id, op });
        }
        self.push(timeout, Ev::WitnessTimeout { to: i, inc, id });
    }

    /// Invariants 1 and 4, after every event: exact, because a daemon's `may_write`
    /// turns on only while it handles an event and only turns off as time passes.
    fn check(&mut self) -> Result<(), Violation> {
        let mut writers: [Option<FenceMark>; 2] = [None, None];
        for (i, w) in writers.iter_mut().enumerate() {
            if let Some(m) = &self.nodes[i].m {
                *w = m.may_write(self.local(i));
            }
        }
        if let [Some(a), Some(b)] = &writers {
            return Err(self.violation(1, format!("two daemons may write at once: {a:?} and {b:?}")));
        }
        if let (Some(calm), None) = (self.calm_since, self.settled_at) {
            if writers.iter().flatten().count() == 1 {
                self.settled_at = Some(self.now);
            } else if self.now - calm > ns(liveness_bound(self.out.campaigns, self.knobs.skew)) {
                let bound = liveness_bound(self.out.campaigns, self.knobs.skew);
                return Err(self.violation(
                    4,
                    format!(
                        "no single leader {bound:?} after the calm began ({} campaigns meanwhile)",
                        self.out.campaigns
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Invariant 4's bound, from the moment everything heals, once `campaigns` campaigns
/// have started since. One round is the longest quiet time a standby may be in when
/// the calm begins (a backoff just started: a lease and up to half a lease of jitter; a
/// restart waits one lease), then the next tick (a third of a lease), then a vote's
/// round trip (two calm one-way delays, an eighth of a lease each). Each campaign after
/// the first, lost to a split vote or cut short, may cost one more round. Slow clocks
/// stretch it all.
fn liveness_bound(campaigns: u64, skew: f64) -> Duration {
    let round = LEASE * 3 / 2 + LEASE / 3 + LEASE / 4;
    round.mul_f64(campaigns.max(1) as f64 / (1.0 - skew))
}

fn seeds_from_env() -> (u64, Option<u64>) {
    let count = std::env::var("DNSTEER_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEEDS);
    let one = std::env::var("DNSTEER_SIM_SEED").ok().and_then(|v| v.parse().ok());
    (count, one)
}

/// Runs `seeds` with `knobs`: the outcomes, or the first violation.
fn run_seeds(seeds: impl IntoIterator<Item = u64>, knobs: Knobs) -> Result<Vec<Outcome>, Violation> {
    seeds.into_iter().map(|seed| Sim::new(seed, knobs).run()).collect()
}

#[test]
fn the_pair_keeps_its_invariants() {
    let (count, one) = seeds_from_env();
    let seeds: Vec<u64> = match one {
        Some(s) => vec![s],
        None => (0..count).collect(),
    };
    let started = Instant::now();
    let outcomes = run_seeds(seeds.iter().copied(), Knobs::default()).unwrap_or_else(|v| panic!("{v}"));
    let took = started.elapsed();
    let events: u64 = outcomes.iter().map(|o| o.events).sum();
    let accepted: u64 = outcomes.iter().map(|o| o.accepted_writes).sum();
    let fenced: u64 = outcomes.iter().map(|o| o.fenced_writes).sum();
    let slowest = seeds
        .iter()
        .zip(&outcomes)
        .max_by_key(|(_, o)| o.settled_after)
        .map(|(seed, o)| (*seed, o.campaigns));
    let mut settles: Vec<Duration> = outcomes.iter().map(|o| o.settled_after).collect();
    settles.sort();
    let quantile = |q: f64| settles[((settles.len() - 1) as f64 * q) as usize];
    let first_campaign = outcomes
        .iter()
        .filter(|o| o.campaigns <= 1)
        .map(|o| o.settled_after)
        .max()
        .unwrap_or_default();
    let more = outcomes.iter().filter(|o| o.campaigns > 1).count();
    println!(
        "pair simulation: {} seeds x {:?} simulated, {events} events, {:.1} s, {:.0} seeds/s, violations: 0",
        seeds.len(),
        FAULT_PHASE + CALM_PHASE,
        took.as_secs_f64(),
        seeds.len() as f64 / took.as_secs_f64(),
    );
    let late: u64 = outcomes.iter().map(|o| o.late_unfenced).sum();
    let changes: u64 = outcomes.iter().map(|o| o.leader_changes).sum();
    println!("role changes: {changes}");
    println!(
        "writes: {accepted} accepted, {fenced} fenced off or refused; {late} held-up writes landed late at check-then-write providers"
    );
    println!(
        "one leader after the calm began: p50 {:?}, p99 {:?}, max {:?} (seed, campaigns: {slowest:?}); max with at most one campaign {first_campaign:?}; {more} seeds needed more",
        quantile(0.5),
        quantile(0.99),
        quantile(1.0),
    );
}

/// The checker itself: a run that breaks a rule must be caught within `within` seeds.
fn caught(knobs: Knobs, invariants: &[u8], within: u64) -> Violation {
    for seed in 0..within {
        if let Err(v) = Sim::new(seed, knobs).run() {
            assert!(invariants.contains(&v.invariant), "caught, but as {v}");
            return v;
        }
    }
    panic!("{knobs:?}: no violation within {within} seeds");
}

#[test]
fn a_provider_that_ignores_the_fence_is_caught() {
    let knobs = Knobs {
        fence_checked: false,
        ..Knobs::default()
    };
    let v = caught(knobs, &[2, 3], 2000);
    println!("caught at seed {} (invariant {}): {}", v.seed, v.invariant, v.what);
}

#[test]
fn clocks_skewed_past_the_margin_are_caught() {
    // 30% apart against a 20% margin: a slow leader believes its lease outlasts the
    // time a fast standby waits before taking over.
    let knobs = Knobs {
        skew: 0.5,
        ..Knobs::default()
    };
    let v = caught(knobs, &[1], 1000);
    println!("caught at seed {} (invariant {}): {}", v.seed, v.invariant, v.what);
}
