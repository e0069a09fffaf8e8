//! `dnsteer run`: the daemon. The I/O shell around the pure parts: it spawns the tasks,
//! reads the clock and loops. Probe results feed the health engine (`observe`); the
//! steering loop makes one pass per cycle, observe → decide → act (`steering.rs`), with
//! each (zone, provider) written by its own task so that no write waits for another's;
//! the pair's lease runs in `pair.rs`; the HTTP API in `api.rs`. What the daemon
//! decides about failures, outages, held plans and alerts is the pure `Supervisor`.

mod api;
mod audit;
mod fleet;
mod metrics;
mod page;
mod pair;
mod persist;
mod reload;
mod state;
mod steering;
mod supervisor;

pub use audit::Audit;
pub use fleet::client as etcd_client;
pub use state::{LastApply, PersistedState, StateFile};
pub use supervisor::{AfterFailure, Supervisor};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{mpsc, Notify};

use crate::alert::{Alerter, Event, EventKind};
use crate::config;
use crate::decide::Decision;
use crate::health::{Engine, EngineParams, Layer, Observation, State, Transition};
use crate::peer::{
    Coordination, LeaseConfig, LeaseEvent, LeaseMachine, OperatorState, Override, PeerObservation, Role,
};
use crate::probe::ProbeResult;
use metrics::{Metrics, ProbeLabels, StateLabels, TargetLabel};
use persist::Persister;
use reload::{prepare, reload, Generation};

/// The most probe results kept for the peer between two syncs.
const OUTBOX_LIMIT: usize = 20_000;

/// How long a shutdown waits for the writes in flight before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// (zone, provider, name, type) of a written record set.
type WrittenKey = (String, String, String, String);

/// A record set's last write, as `/v1/status` shows it under `records`.
#[derive(Clone, Debug)]
struct Written {
    at: DateTime<Utc>,
    /// How long resolvers may answer the old data after `at` (the plan's `stale_for_s`).
    stale_for_s: Option<u32>,
}

impl Written {
    /// When every resolver will have the new data; `None` when `stale_for_s` is unknown.
    fn followed_by(&self) -> Option<DateTime<Utc>> {
        self.stale_for_s
            .map(|s| self.at + chrono::TimeDelta::seconds(i64::from(s)))
    }
}

/// Mutable state shared by the loops and the API, behind one short-held lock.
pub struct Inner {
    pub engine: Engine,
    pub supervisor: Supervisor,
    /// Pause and overrides, replicated through the pair.
    pub operator: OperatorState,
    /// The overrides last given to the engine, to apply only what changed.
    applied_overrides: BTreeMap<String, Override>,
    pub decision: Option<Arc<Decision>>,
    pub last_plan: Option<serde_json::Value>,
    pub last_apply: Option<LastApply>,
    /// Targets with at least one local result (ready once it holds them all).
    probed: BTreeSet<String>,
    /// Targets whose newest round passed while some of their addresses failed (a
    /// provider with a dead nameserver), and which: reported, never steered on.
    degraded: BTreeMap<String, String>,
    /// The last write of each steered record set at each provider, with when resolvers
    /// will have followed it.
    written: BTreeMap<WrittenKey, Written>,
    /// (zone, provider) pairs whose write is under way.
    writing: BTreeSet<(dnsteer_providers::ZoneName, String)>,
    /// Set once a shutdown begins: nothing new is written.
    stopping: bool,
}

pub struct Shared {
    pub agent_id: String,
    api_token: Option<String>,
    inner: Mutex<Inner>,
    /// Who may write: the pair's lease or the fleet's election. Never locked while
    /// `inner` is held.
    coord: Arc<Mutex<dyn Coordination>>,
    /// The pair's lease itself, for the peer endpoints (none in a fleet).
    pair: Option<Arc<Mutex<LeaseMachine>>>,
    pub metrics: Metrics,
    /// Replaced when a reload changes `alerts`.
    alerter: RwLock<Alerter>,
    /// Wakes the steering loop for a pass now.
    pub steer_now: Notify,
    /// Wakes the pair's driver (new transmits, an operator change to share).
    pair_wake: Notify,
    persister: OnceLock<Persister>,
    audit: audit::Audit,
    /// What the status page keeps beyond the status: timelines, last answers.
    page: page::Recorder,
    outbox: Mutex<Vec<PeerObservation>>,
    /// Every target's name; replaced when a reload changes them.
    targets: RwLock<Arc<Vec<String>>>,
    dry_run: bool,
    /// Whether probe results go to a peer (the pair): a lone daemon keeps no outbox,
    /// and a fleet publishes windows instead.
    shares_observations: bool,
}

impl Shared {
    pub fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn alerter(&self) -> Alerter {
        self.alerter.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn targets(&self) -> Arc<Vec<String>> {
        self.targets.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn coord(&self) -> MutexGuard<'_, dyn Coordination + 'static> {
        self.coord.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the daemon is not ready, if it is not: a first probe round still under way,
    /// or a zone none of whose providers can be read (it could not be steered).
    fn not_ready(&self) -> Option<String> {
        let inner = self.inner();
        if !self.targets().iter().all(|t| inner.probed.contains(t)) {
            return Some("first probe round not done".into());
        }
        let failing: BTreeSet<&str> = inner.supervisor.read_outages().keys().map(String::as_str).collect();
        self.page
            .unreadable_zone(&failing)
            .map(|zone| format!("no provider of {zone} can be read"))
    }

    /// Asks for the state file to be saved soon (batched, off the async threads).
    fn persist(&self) {
        if let Some(p) = self.persister.get() {
            p.request();
        }
    }

    /// Saves now and waits: for what must be on disk before a message leaves. False
    /// when the save failed.
    async fn flush(&self) -> bool {
        match self.persister.get() {
            Some(p) => p.flush().await,
            None => false,
        }
    }

    fn snapshot(&self) -> PersistedState {
        let lease = self.coord().durable_state().unwrap_or_default();
        let inner = self.inner();
        PersistedState {
            version: 0,
            agent: self.agent_id.clone(),
            health: inner.engine.save(),
            lease,
            legacy_term: 0,
            last_apply: inner.last_apply.clone(),
            operator: inner.operator.clone(),
            flaps: inner.supervisor.flaps.clone(),
        }
    }

    /// Whether a write may go out now: this daemon leads with a live lease, and is
    /// not stopping.
    fn may_write_now(&self) -> Option<dnsteer_providers::FenceMark> {
        if self.inner().stopping {
            return None;
        }
        self.coord().may_write(Instant::now())
    }

    fn status_json(&self, now: DateTime<Utc>) -> serde_json::Value {
        let agent = {
            let coord = self.coord();
            json!({"id": self.agent_id, "role": coord.role(), "term": coord.term(), "leader": coord.leader()})
        };
        let not_ready = self.not_ready();
        let inner = self.inner();
        let targets: Vec<_> = inner
            .engine
            .snapshot(now)
            .into_iter()
            .map(|t| {
                json!({
                    "name": t.name, "state": t.state, "measured_state": t.measured_state,
                    "failure_ratio": t.failure_ratio, "since": t.since, "last_error": t.last_error,
                    "override_until": t.override_until, "vantage": t.vantage,
                    "degraded": inner.degraded.get(&t.name),
                })
            })
            .collect();
        let held: Vec<_> = inner
            .decision
            .iter()
            .flat_map(|d| d.held.iter())
            .map(|h| json!({"zone": h.zone.as_str(), "reason": h.reasons.join("; "), "checksum": h.checksum}))
            .collect();
        let vantage = inner.engine.vantages(now);
        let outage = |m: &BTreeMap<String, supervisor::Outage>| -> serde_json::Value {
            m.iter()
                .map(|(p, o)| (p.clone(), json!({"since": o.since, "error": o.error})))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let backoff: serde_json::Map<_, _> = inner
            .supervisor
            .backoffs()
            .iter()
            .map(|(p, b)| (p.clone(), json!({"until": b.until, "reason": b.reason})))
            .collect();
        json!({
            "agent": agent,
            "paused": inner.operator.paused,
            "dry_run": self.dry_run,
            "ready": not_ready.is_none(),
            "not_ready": not_ready,
            "overrides": inner.operator.overrides.iter()
                .map(|(t, o)| json!({"target": t, "state": o.state, "until": o.until}))
                .collect::<Vec<_>>(),
            // While paused, what waits to be written once writes resume.
            "pending": inner.operator.paused.then(|| inner.last_plan.as_ref().map(|p| json!({
                "changes": p["changes"].as_array().map_or(0, Vec::len), "checksum": p["checksum"],
            }))).flatten(),
            "targets": targets,
            "last_apply": inner.last_apply,
            "records": inner.written.iter().map(|((zone, provider, name, rtype), w)| json!({
                "zone": zone, "provider": provider, "name": name, "type": rtype,
                "written_at": w.at, "stale_for_s": w.stale_for_s, "followed_by": w.followed_by(),
            })).collect::<Vec<_>>(),
            "last_plan": inner.last_plan.as_ref().map(|p| json!({"checksum": p["checksum"], "summary": p["summary"]})),
            "held": held,
            "vantage": vantage,
            "providers": {
                "read_errors": outage(inner.supervisor.read_outages()),
                "write_errors": outage(inner.supervisor.write_outages()),
                "backoff": backoff,
            },
        })
    }

    /// An operator's change made here: applied, saved, and shared with the peer.
    fn change_operator(&self, edit: impl FnOnce(&mut OperatorState)) {
        let now = Utc::now();
        let transitions = {
            let mut inner = self.inner();
            inner.operator.change(&self.agent_id, edit);
            Self::apply_operator(&mut inner, now)
        };
        self.on_transitions(&transitions, now);
        self.persist();
        self.steer_now.notify_one();
        self.pair_wake.notify_one();
    }

    /// Gives the engine the overrides the operator state holds now (only what changed).
    fn apply_operator(inner: &mut Inner, now: DateTime<Utc>) -> Vec<Transition> {
        let wanted = inner.operator.overrides.clone();
        let mut transitions = Vec::new();
        let targets: BTreeSet<String> = wanted.keys().chain(inner.applied_overrides.keys()).cloned().collect();
        for target in targets {
            let new = wanted.get(&target);
            if new == inner.applied_overrides.get(&target) {
                continue;
            }
            let forced = new.map(|o| (o.state, o.until));
            match inner.engine.set_override(&target, forced, now) {
                Ok(t) => transitions.extend(t),
                Err(e) => tracing::warn!("override of {target}: {e}"),
            }
        }
        inner.applied_overrides = wanted;
        transitions
    }

    /// Takes in what the peer sent: its observations (dated on our clock) and its
    /// operator state when newer.
    fn take_from_peer(&self, observations: &[PeerObservation], operator: Option<&OperatorState>) {
        let now = Utc::now();
        let transitions = {
            let mut inner = self.inner();
            for o in observations {
                let _ = inner.engine.handle_peer_observation(&o.target, &o.observation, now);
            }
            match operator {
                Some(theirs) if inner.operator.merge(theirs) => {
                    tracing::info!(by = %theirs.by, paused = theirs.paused, "operator state taken from the peer");
                    Self::apply_operator(&mut inner, now)
                }
                _ => return,
            }
        };
        self.on_transitions(&transitions, now);
        self.persist();
        self.steer_now.notify_one();
    }

    /// The observations made since the last sync.
    fn take_outbox(&self) -> Vec<PeerObservation> {
        std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Acts on what the lease machine reported.
    fn on_lease_events(&self) {
        let events: Vec<LeaseEvent> = {
            let mut coord = self.coord();
            std::iter::from_fn(|| coord.poll_event()).collect()
        };
        for event in events {
            match event {
                LeaseEvent::Lost(reason) => {
                    tracing::error!("coordination lost: {reason}");
                    self.alerter().send(Event::new(
                        EventKind::CoordinationLost,
                        &self.agent_id,
                        Utc::now(),
                        format!(
                            "{} writes nothing until its lease can be proved again: {reason}",
                            self.agent_id
                        ),
                    ));
                }
                LeaseEvent::PeerGone(id) => {
                    tracing::warn!(peer = %id, "the peer is gone: its observations stop counting");
                    self.inner().engine.forget_vantage(&id);
                }
                LeaseEvent::Role(change) => {
                    let (role, term) = {
                        let coord = self.coord();
                        (coord.role(), coord.term())
                    };
                    self.metrics.set_role(role, term);
                    tracing::warn!(from = %change.from, to = %change.to, term = change.term, "lease: {}", change.reason);
                    let now = Utc::now();
                    if change.to == Role::Leader {
                        self.inner().supervisor.forget_reported();
                        self.alerter().send(Event::new(
                            EventKind::LeaderChanged,
                            &self.agent_id,
                            now,
                            format!("{} now leads (term {}): {}", self.agent_id, change.term, change.reason),
                        ));
                        self.steer_now.notify_one();
                    }
                    self.persist();
                }
            }
        }
    }

    fn on_transitions(&self, transitions: &[Transition], now: DateTime<Utc>) {
        if transitions.is_empty() {
            return;
        }
        let leader = self.coord().role() == Role::Leader;
        for t in transitions {
            tracing::info!(target = %t.target, from = %t.from, to = %t.to, layer = ?t.layer, "health: {}", t.reason);
            if t.layer != Layer::Effective {
                continue;
            }
            self.metrics.set_state(&t.target, t.to);
            self.page.transition(t);
            self.metrics
                .transitions
                .get_or_create(&StateLabels {
                    target: t.target.clone(),
                    state: t.to.to_string(),
                })
                .inc();
            let kind = match (t.from, t.to) {
                (_, State::Unhealthy) => Some(EventKind::TargetDown),
                (State::Unhealthy, State::Healthy) => Some(EventKind::TargetUp),
                _ => None,
            };
            // Only the leader tells on-call: the pair would otherwise page twice.
            if let (Some(kind), true) = (kind, leader) {
                self.alerter().send(
                    Event::new(
                        kind,
                        &self.agent_id,
                        now,
                        format!("{} is {}: {}", t.target, t.to, t.reason),
                    )
                    .target(&t.target),
                );
            }
        }
        self.persist();
        self.steer_now.notify_one();
    }
}

/// Runs the daemon until `shutdown` resolves.
pub async fn run(config_path: &Path, shutdown: impl std::future::Future<Output = ()> + Send) -> anyhow::Result<()> {
    let prepared = prepare(config_path).await?;
    let (config, providers, targets) = (prepared.config.clone(), prepared.providers.clone(), &prepared.targets);
    let agent = &config.agent;

    let state_file = StateFile::new(&agent.state_file);
    let saved = match state_file.load() {
        Ok(saved) => saved,
        Err(e) => {
            tracing::error!("{e:#}; starting every target from unknown");
            None
        }
    };
    let lease_duration = agent.lease.duration.get();
    let longest_interval = targets.iter().map(|t| t.interval).max().unwrap_or(lease_duration);
    let engine_params = EngineParams {
        // A peer's window counts while it keeps arriving; a peer that is gone is also
        // forgotten at once when the lease says so.
        peer_stale_after: lease_duration.max(longest_interval * 2),
    };
    let registered: Vec<_> = targets
        .iter()
        .map(|t| (t.name.clone(), config.target_health(&t.name).params()))
        .collect();
    let engine = match saved.as_ref() {
        Some(s) => Engine::restore(s.health.clone(), engine_params.clone(), registered.clone()).unwrap_or_else(|e| {
            tracing::error!("state file {}: {e}; starting from unknown", state_file.path().display());
            fresh_engine(engine_params.clone(), &registered)
        }),
        None => fresh_engine(engine_params, &registered),
    };
    let coordination = match &agent.coordination {
        Some(config::CoordinationConfig::Etcd(etcd)) => {
            let client = fleet::client(etcd, lease_duration / 3)?;
            let election = Arc::new(Mutex::new(crate::fleet::election::FleetElection::new(
                crate::fleet::election::FleetConfig {
                    id: agent.id.clone(),
                    ttl: lease_duration,
                },
                Instant::now(),
            )));
            Coordinator::Fleet(election, client)
        }
        None => {
            let witness = pair::Witness::from_config(&config, &providers)?.map(Arc::new);
            let lease = Arc::new(Mutex::new(LeaseMachine::new(
                LeaseConfig {
                    id: agent.id.clone(),
                    duration: lease_duration,
                    peer: !agent.peers.is_empty(),
                    witness: witness.is_some(),
                    seed: rand::random(),
                },
                saved.as_ref().map(|s| s.lease.clone()).unwrap_or_default(),
                Instant::now(),
            )));
            let link = match agent.peers.first() {
                Some(url) => Some(pair::HttpPeerLink::new(
                    url,
                    agent.api_token.as_ref().map(|s| s.expose().to_string()),
                    lease_duration / 3,
                )?),
                None => None,
            };
            if agent.peers.len() > 1 {
                tracing::warn!("only the first of agent.peers is used: the pair is two daemons");
            }
            Coordinator::Pair { lease, link, witness }
        }
    };
    let alerter = Alerter::new(&config.alerts, &agent.id)?;
    let flaps = saved.as_ref().map(|s| s.flaps.clone()).unwrap_or_default();
    let operator = saved.as_ref().map(|s| s.operator.clone()).unwrap_or_default();

    let shared = Arc::new(Shared {
        agent_id: agent.id.clone(),
        api_token: agent.api_token.as_ref().map(|s| s.expose().to_string()),
        coord: coordination.machine(),
        pair: match &coordination {
            Coordinator::Pair { lease, .. } => Some(lease.clone()),
            Coordinator::Fleet(..) => None,
        },
        inner: Mutex::new(Inner {
            engine,
            supervisor: Supervisor::new(&agent.id, flaps),
            operator,
            applied_overrides: BTreeMap::new(),
            decision: None,
            last_plan: None,
            last_apply: saved.and_then(|s| s.last_apply),
            probed: BTreeSet::new(),
            degraded: BTreeMap::new(),
            written: BTreeMap::new(),
            writing: BTreeSet::new(),
            stopping: false,
        }),
        metrics: Metrics::new(),
        alerter: RwLock::new(alerter),
        steer_now: Notify::new(),
        pair_wake: Notify::new(),
        persister: OnceLock::new(),
        audit: audit::Audit::new(agent.state_file.with_extension("audit.jsonl")),
        page: page::Recorder::new(&config),
        outbox: Mutex::new(Vec::new()),
        targets: RwLock::new(Arc::new(targets.iter().map(|t| t.name.clone()).collect())),
        dry_run: agent.dry_run,
        shares_observations: !agent.peers.is_empty(),
    });
    let _ = shared.persister.set(Persister::spawn(state_file, {
        let shared = Arc::downgrade(&shared);
        move || shared.upgrade().map(|s| s.snapshot()).unwrap_or_default()
    }));
    {
        let now = Utc::now();
        let mut inner = shared.inner();
        // Overrides saved with the operator state are in force again.
        let restored = Shared::apply_operator(&mut inner, now);
        drop(inner);
        shared.on_transitions(&restored, now);
        let (role, term) = {
            let coord = shared.coord();
            (coord.role(), coord.term())
        };
        shared.metrics.set_role(role, term);
        let inner = shared.inner();
        for t in shared.targets().iter() {
            shared.metrics.set_state(t, inner.engine.state(t, now));
        }
    }
    shared.on_lease_events();
    if !shared.flush().await {
        anyhow::bail!(
            "cannot write the state file {} (agent.state_file): the lease term must be saved before it is used",
            agent.state_file.display()
        );
    }

    let listener = tokio::net::TcpListener::bind(agent.listen)
        .await
        .with_context(|| format!("cannot listen on {} (agent.listen)", agent.listen))?;
    tracing::info!(agent = %agent.id, listen = %agent.listen, targets = targets.len(), role = %shared.coord().role(), "dnsteer running");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The lease is given up only once no write is under way any more: a request still
    // in flight must not land after the other daemon took over.
    let (resign_tx, resign_rx) = tokio::sync::watch::channel(false);
    // The API outlives the loops: the peer may still ask for our vote while we resign.
    let (server_stop_tx, server_stop_rx) = tokio::sync::watch::channel(false);
    let server = {
        let mut stop = server_stop_rx;
        let app = api::router(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        })
    };

    let (coordinator, witness) = match coordination {
        Coordinator::Pair { lease, link, witness } => (
            tokio::spawn(pair::drive(shared.clone(), lease, link, witness.clone(), resign_rx)),
            witness,
        ),
        Coordinator::Fleet(election, client) => {
            let every = config
                .defaults
                .interval
                .get()
                .min(lease_duration / 3)
                .max(Duration::from_millis(200));
            (
                tokio::spawn(fleet::drive(shared.clone(), election, client, every, resign_rx)),
                None,
            )
        }
    };
    let sampler = tokio::spawn(page::sample_every(shared.clone(), stop_rx));
    drop((config, providers));
    let mut generation = Generation::start(&shared, prepared, witness.clone());

    #[cfg(unix)]
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot install the SIGHUP handler")?;
    tokio::pin!(shutdown);
    loop {
        let hangup = async {
            #[cfg(unix)]
            hangups.recv().await;
            #[cfg(not(unix))]
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = hangup => generation = reload(&shared, config_path, generation, witness.clone()).await,
        }
    }
    tracing::info!("shutting down: finishing the writes in flight");
    shared.inner().stopping = true;
    let _ = stop_tx.send(true);
    let _ = generation.stop.send(true);
    generation.scheduler.shutdown().await;
    shared.steer_now.notify_one();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, generation.steering).await.is_ok();
    generation.observer.abort();
    sampler.abort();
    if drained {
        // Every write is done: hand the lease over now (peer and witness, or etcd)
        // rather than make the others wait it out.
        let _ = resign_tx.send(true);
        let _ = coordinator.await;
    } else {
        // A write may still land: keep the lease to its natural end instead of handing
        // it over, so that nobody else writes meanwhile.
        tracing::error!(
            "the writes in flight did not finish within {SHUTDOWN_GRACE:?}: abandoned; the lease is left to lapse"
        );
        coordinator.abort();
    }
    let _ = server_stop_tx.send(true);
    let _ = server.await;
    shared.flush().await;
    shared.alerter().flush(Duration::from_secs(3)).await;
    tracing::info!("stopped");
    Ok(())
}

/// Who coordinates this daemon's writes, with what its driver needs.
enum Coordinator {
    Pair {
        lease: Arc<Mutex<LeaseMachine>>,
        link: Option<pair::HttpPeerLink>,
        witness: Option<Arc<pair::Witness>>,
    },
    Fleet(
        Arc<Mutex<crate::fleet::election::FleetElection>>,
        crate::fleet::etcd::EtcdClient,
    ),
}

impl Coordinator {
    fn machine(&self) -> Arc<Mutex<dyn Coordination>> {
        match self {
            Coordinator::Pair { lease, .. } => lease.clone(),
            Coordinator::Fleet(election, _) => election.clone(),
        }
    }
}

fn fresh_engine(params: EngineParams, targets: &[(String, crate::health::HealthParams)]) -> Engine {
    let mut engine = Engine::new(params);
    for (name, p) in targets {
        if let Err(e) = engine.register(name, p.clone()) {
            tracing::error!("target {name}: {e}");
        }
    }
    engine
}

/// Feeds probe results into the health engine.
async fn observe(shared: Arc<Shared>, mut rx: mpsc::Receiver<ProbeResult>) {
    while let Some(result) = rx.recv().await {
        let now = Utc::now();
        let class = if result.ok {
            "ok".to_string()
        } else {
            result.class.as_str().to_string()
        };
        shared
            .metrics
            .probes
            .get_or_create(&ProbeLabels {
                target: result.target.clone(),
                result: class,
            })
            .inc();
        shared
            .metrics
            .probe_duration
            .get_or_create(&TargetLabel {
                target: result.target.clone(),
            })
            .observe(result.latency.as_secs_f64());
        shared
            .metrics
            .target_degraded
            .get_or_create(&TargetLabel {
                target: result.target.clone(),
            })
            .set(i64::from(result.degraded.is_some()));
        let observation = Observation {
            at: now,
            ok: result.ok,
            vantage: shared.agent_id.clone(),
            reason: result.reason.clone(),
            latency: Some(result.latency),
        };
        let transitions = {
            let mut inner = shared.inner();
            inner.probed.insert(result.target.clone());
            match &result.degraded {
                Some(note) => inner.degraded.insert(result.target.clone(), note.clone()),
                None => inner.degraded.remove(&result.target),
            };
            inner
                .engine
                .handle_observation(&result.target, &observation, now)
                .unwrap_or_default()
        };
        if shared.shares_observations {
            let mut outbox = shared.outbox.lock().unwrap_or_else(|e| e.into_inner());
            // A peer out of reach for long must not make the outbox grow without end:
            // the newest results matter.
            if outbox.len() >= OUTBOX_LIMIT {
                outbox.drain(..OUTBOX_LIMIT / 2);
            }
            outbox.push(PeerObservation {
                target: result.target.clone(),
                observation,
            });
        }
        shared.on_transitions(&transitions, now);
    }
}

/// Resolves when the process gets SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
