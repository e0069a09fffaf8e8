//! `dnsteer run`: the daemon. The only place that spawns tasks, reads the clock and
//! loops: probe results feed the health engine; a steering loop plans every interval
//! (and at once on a transition) and, while this daemon holds the lease and writes are
//! neither paused nor dry-run, applies the zones the safety limits do not hold; the HTTP API serves
//! status, plan, metrics and the operator's controls; the pair exchanges observations.

mod api;
mod metrics;
mod state;

pub use state::{LastApply, PersistedState, StateFile};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use dnsteer_providers::{Fence, ZoneName};
use serde_json::json;
use tokio::sync::{mpsc, Notify};

use crate::alert::{Alerter, Event, EventKind};
use crate::config::{self, Config};
use crate::connect::{self, Providers};
use crate::decide::{self, FlapHistory, Hold};
use crate::health::{Engine, EngineParams, Layer, Observation, State, Transition};
use crate::peer::{HttpPeerLink, Lease, PeerLease, PeerObservation, Role, RoleChange, SyncRequest, SyncResponse};
use crate::plan::{render_json, Plan, PlannedChange};
use crate::probe::{self, ProbeResult, ScheduledTarget, Scheduler};
use crate::reconcile::{self, ApplyReport, Fences, Live};
use crate::steer::{HealthView, Note};
use metrics::{Metrics, ProbeLabels, ProviderCallLabels, ProviderLabels, StateLabels, TargetLabel};

/// How long a shutdown waits for the write in flight before abandoning it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);
/// The longest a provider that keeps failing is left alone between attempts.
const MAX_PROVIDER_BACKOFF: Duration = Duration::from_secs(300);

/// Mutable state shared by the loops and the API.
pub struct Inner {
    pub engine: Engine,
    pub paused: bool,
    pub last_plan: Option<serde_json::Value>,
    pub last_apply: Option<LastApply>,
    /// Targets with at least one local result (ready once it holds them all).
    probed: BTreeSet<String>,
    /// Providers whose last write failed: when to try again, and the current backoff.
    backoff: BTreeMap<String, (Instant, Duration)>,
    /// What the previous cycle's steering said, to turn notes into events once.
    previous_notes: BTreeSet<String>,
    /// Providers in an API outage (a failed read or write): alerted once, on entry.
    failing: BTreeSet<String>,
    /// Flips written, for flap damping (kept in memory only, for now).
    flaps: FlapHistory,
    /// The zones the last plan held, each alerted once per checksum.
    held: Vec<Hold>,
}

pub struct Shared {
    pub agent_id: String,
    api_token: Option<String>,
    inner: Mutex<Inner>,
    pub lease: Arc<dyn Lease>,
    pub metrics: Metrics,
    pub alerter: Alerter,
    pub steer_now: Notify,
    state_file: StateFile,
    audit_path: PathBuf,
    outbox: Mutex<Vec<PeerObservation>>,
    /// Serialises saves: two tasks saving at once would race on the temporary file,
    /// and an older snapshot could land last.
    persist_lock: Mutex<()>,
    targets: Vec<String>,
    dry_run: bool,
}

impl Shared {
    pub fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_ready(&self) -> bool {
        let inner = self.inner();
        self.targets.iter().all(|t| inner.probed.contains(t))
    }

    fn status_json(&self, now: DateTime<Utc>) -> serde_json::Value {
        let view = self.lease.view();
        let inner = self.inner();
        let targets: Vec<_> = inner
            .engine
            .snapshot(now)
            .into_iter()
            .map(|t| {
                json!({
                    "name": t.name, "state": t.state, "measured_state": t.measured_state,
                    "failure_ratio": t.failure_ratio, "since": t.since, "last_error": t.last_error,
                    "override_until": t.override_until,
                })
            })
            .collect();
        json!({
            "agent": { "id": self.agent_id, "role": view.role, "term": view.term, "leader": view.leader },
            "paused": inner.paused,
            "dry_run": self.dry_run,
            "ready": self.targets.iter().all(|t| inner.probed.contains(t)),
            "targets": targets,
            "last_apply": inner.last_apply,
            "last_plan": inner.last_plan.as_ref().map(|p| json!({"checksum": p["checksum"], "summary": p["summary"]})),
            "held": inner.last_plan.as_ref().map_or(json!([]), |p| p["held"].clone()),
        })
    }

    fn persist(&self) {
        let _saving = self.persist_lock.lock().unwrap_or_else(|e| e.into_inner());
        let state = {
            let inner = self.inner();
            PersistedState {
                version: 0,
                agent: self.agent_id.clone(),
                health: inner.engine.save(),
                term: self.lease.view().term,
                last_apply: inner.last_apply.clone(),
                paused: inner.paused,
            }
        };
        if let Err(e) = self.state_file.save(&state) {
            tracing::error!("{e:#}");
        }
    }

    fn apply_override(
        &self,
        target: &str,
        forced: Option<(State, DateTime<Utc>)>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let transitions = self.inner().engine.set_override(target, forced, now)?;
        self.on_transitions(&transitions, now);
        self.persist();
        self.steer_now.notify_one();
        Ok(())
    }

    fn handle_peer_sync(&self, req: SyncRequest) -> SyncResponse {
        let now = Utc::now();
        {
            let mut inner = self.inner();
            for o in &req.observations {
                let _ = inner.engine.handle_peer_observation(&o.target, &o.observation, now);
            }
        }
        let outgoing = std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|e| e.into_inner()));
        let (resp, change) = self.lease.handle_sync(&req, outgoing);
        if let Some(change) = change {
            self.on_role_change(change);
        }
        resp
    }

    fn on_role_change(&self, change: RoleChange) {
        let view = self.lease.view();
        self.metrics.set_role(view.role, view.term);
        tracing::warn!(from = %change.from, to = %change.to, term = change.term, "lease: {}", change.reason);
        if change.to == Role::Leader {
            // A new leader tells on-call about the situation as it finds it, and not of
            // recoveries from situations it never reported.
            let mut inner = self.inner();
            inner.previous_notes.clear();
            inner.failing.clear();
            drop(inner);
            self.alerter.send(Event::new(
                EventKind::LeaderChanged,
                &self.agent_id,
                Utc::now(),
                format!("{} now leads (term {}): {}", self.agent_id, change.term, change.reason),
            ));
            self.steer_now.notify_one();
        }
        self.persist();
    }

    fn on_transitions(&self, transitions: &[Transition], now: DateTime<Utc>) {
        let leader = self.lease.view().role == Role::Leader;
        for t in transitions {
            tracing::info!(target = %t.target, from = %t.from, to = %t.to, layer = ?t.layer, "health: {}", t.reason);
            if t.layer != Layer::Effective {
                continue;
            }
            self.metrics.set_state(&t.target, t.to);
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
                self.alerter.send(
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
    }
}

/// Runs the daemon until `shutdown` resolves.
pub async fn run(config_path: &Path, shutdown: impl std::future::Future<Output = ()> + Send) -> anyhow::Result<()> {
    let loaded = config::load(config_path)
        .map_err(|e| anyhow::anyhow!("invalid configuration {}:\n{e}", config_path.display()))?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let config = Arc::new(loaded.config);
    let providers = Arc::new(connect::providers(&config)?);
    let targets = probe::targets_from_config(&config).await?;
    let agent = &config.agent;

    let state_file = StateFile::new(&agent.state_file);
    let saved = match state_file.load() {
        Ok(saved) => saved,
        Err(e) => {
            tracing::error!("{e:#}; starting every target from unknown");
            None
        }
    };
    let engine_params = EngineParams {
        peer_stale_after: agent.lease.duration.get() * 3,
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
    let term = saved.as_ref().map_or(0, |s| s.term);
    let link = match agent.peers.first() {
        Some(url) => Some(HttpPeerLink::new(
            url,
            agent.api_token.as_ref().map(|s| s.expose().to_string()),
            agent.lease.duration.get() / 3,
        )?),
        None => None,
    };
    if agent.peers.len() > 1 {
        tracing::warn!("only the first of agent.peers is used: the pair is two daemons");
    }
    let lease: Arc<dyn Lease> = Arc::new(PeerLease::new(
        &agent.id,
        agent.lease.duration.get(),
        term,
        link,
        Instant::now(),
    ));
    let alerter = Alerter::new(&config.alerts, &agent.id)?;
    let audit_path = agent.state_file.with_extension("audit.jsonl");

    let shared = Arc::new(Shared {
        agent_id: agent.id.clone(),
        api_token: agent.api_token.as_ref().map(|s| s.expose().to_string()),
        inner: Mutex::new(Inner {
            engine,
            paused: saved.as_ref().is_some_and(|s| s.paused),
            last_plan: None,
            last_apply: saved.and_then(|s| s.last_apply),
            probed: BTreeSet::new(),
            backoff: BTreeMap::new(),
            previous_notes: BTreeSet::new(),
            failing: BTreeSet::new(),
            flaps: FlapHistory::default(),
            held: Vec::new(),
        }),
        lease,
        metrics: Metrics::new(),
        alerter,
        steer_now: Notify::new(),
        state_file,
        audit_path,
        outbox: Mutex::new(Vec::new()),
        persist_lock: Mutex::new(()),
        targets: targets.iter().map(|t| t.name.clone()).collect(),
        dry_run: agent.dry_run,
    });
    {
        let view = shared.lease.view();
        shared.metrics.set_role(view.role, view.term);
        let now = Utc::now();
        let inner = shared.inner();
        for t in &shared.targets {
            shared.metrics.set_state(t, inner.engine.state(t, now));
        }
    }
    shared.persist();

    let listener = tokio::net::TcpListener::bind(agent.listen)
        .await
        .with_context(|| format!("cannot listen on {} (agent.listen)", agent.listen))?;
    tracing::info!(agent = %agent.id, listen = %agent.listen, targets = targets.len(), role = %shared.lease.view().role, "dnsteer running");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = {
        let mut stop = stop_rx.clone();
        let app = api::router(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        })
    };

    let (tx, rx) = mpsc::channel::<ProbeResult>(1024);
    let scheduled: Vec<ScheduledTarget> = targets.iter().flat_map(|t| t.scheduled()).collect();
    let scheduler = Scheduler::spawn(scheduled, 64, tx);
    let observer = tokio::spawn(observe(shared.clone(), rx));
    let coordinator = tokio::spawn(coordinate(shared.clone(), stop_rx.clone()));
    let steering = tokio::spawn(steer_loop(
        shared.clone(),
        config.clone(),
        providers.clone(),
        stop_rx.clone(),
    ));

    shutdown.await;
    tracing::info!("shutting down: finishing the write in flight");
    let _ = stop_tx.send(true);
    scheduler.shutdown().await;
    shared.steer_now.notify_one();
    if tokio::time::timeout(SHUTDOWN_GRACE, steering).await.is_err() {
        tracing::error!("the write in flight did not finish within {SHUTDOWN_GRACE:?}: abandoned");
    }
    observer.abort();
    coordinator.abort();
    // Hand the lease to the peer now rather than make it wait the lease out.
    shared.lease.resign().await;
    let _ = server.await;
    shared.persist();
    shared.alerter.flush(Duration::from_secs(3)).await;
    tracing::info!("stopped");
    Ok(())
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
            inner
                .engine
                .handle_observation(&result.target, &observation, now)
                .unwrap_or_default()
        };
        shared
            .outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PeerObservation {
                target: result.target.clone(),
                observation,
            });
        if !transitions.is_empty() {
            shared.on_transitions(&transitions, now);
            shared.persist();
            shared.steer_now.notify_one();
        }
    }
}

/// Runs the lease and exchanges observations with the peer.
async fn coordinate(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(shared.lease.tick_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let outgoing = std::mem::take(&mut *shared.outbox.lock().unwrap_or_else(|e| e.into_inner()));
        // Keep the exchange bounded: the newest observations matter.
        let outgoing = outgoing
            .into_iter()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let (incoming, change) = shared.lease.tick(outgoing).await;
        if !incoming.is_empty() {
            let now = Utc::now();
            let mut inner = shared.inner();
            for o in &incoming {
                let _ = inner.engine.handle_peer_observation(&o.target, &o.observation, now);
            }
        }
        if let Some(change) = change {
            shared.on_role_change(change);
        }
    }
}

async fn steer_loop(
    shared: Arc<Shared>,
    config: Arc<Config>,
    providers: Arc<Providers>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let interval = config.defaults.interval.get();
    loop {
        if *stop.borrow() {
            return;
        }
        cycle(&shared, &config, &providers, &stop).await;
        if *stop.borrow() {
            return;
        }
        let wake = {
            let inner = shared.inner();
            inner
                .engine
                .next_override_expiry()
                .and_then(|at| (at - Utc::now()).to_std().ok())
        };
        let sleep = wake.map_or(interval, |w| w.min(interval)) + Duration::from_millis(1);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = shared.steer_now.notified() => {}
        }
    }
}

/// One steering pass: plan, and apply when this daemon may write.
async fn cycle(
    shared: &Arc<Shared>,
    config: &Config,
    providers: &Providers,
    stop: &tokio::sync::watch::Receiver<bool>,
) {
    let now = Utc::now();
    let view: HealthView = {
        let mut inner = shared.inner();
        let expired = inner.engine.poll_expired_overrides(now);
        drop(inner);
        if !expired.is_empty() {
            shared.on_transitions(&expired, now);
            shared.persist();
        }
        let inner = shared.inner();
        shared
            .targets
            .iter()
            .map(|t| (t.clone(), inner.engine.state(t, now)))
            .collect()
    };
    let live = timed_read(shared, config, providers).await;
    let flaps = shared.inner().flaps.clone();
    let decision = decide::decide(config, providers, &view, &live, &flaps, now);
    let leader = shared.lease.view().role == Role::Leader;
    track_outages(shared, &decision.plan, &live, leader, now);
    if leader {
        // Movement (failover, failback, drift repair) is news only when it can happen.
        let moving = !shared.dry_run && !shared.inner().paused && decision.held.is_empty();
        notes_to_events(shared, &decision.notes, now, moving);
    }
    shared.metrics.plans.inc();
    shared.metrics.plan_changes.set(decision.plan.changes.len() as i64);
    shared.inner().last_plan = Some(render_json(&decision.plan, &decision.held));
    report_held(shared, &decision.held, leader, now);
    // A held zone waits for an operator; every other zone is written regardless.
    let writable = decision.writable(&BTreeSet::new());
    if writable.is_empty() {
        return;
    }
    if shared.dry_run {
        tracing::info!(changes = writable.changes.len(), checksum = %writable.checksum(), "dry run: would apply");
        return;
    }
    if shared.inner().paused {
        return;
    }
    let Some(term) = shared.lease.write_term() else { return };
    let fences = match fences(config, &writable, &live, term) {
        Ok(fences) => fences,
        Err(newer) => {
            let reason = format!("a provider's fence record holds term {newer}, newer than ours ({term})");
            if let Some(change) = shared.lease.step_down(newer, &reason) {
                shared.on_role_change(change);
            }
            return;
        }
    };
    let plan = without_backed_off(shared, writable);
    if plan.is_empty() {
        return;
    }
    // The lease may have lapsed while reading, or a shutdown begun: check again right
    // before writing.
    if shared.lease.write_term() != Some(term) || *stop.borrow() {
        return;
    }
    let started = Instant::now();
    let may_write: reconcile::MayWrite = {
        let (lease, stop) = (shared.lease.clone(), stop.clone());
        Arc::new(move || lease.write_term() == Some(term) && !*stop.borrow())
    };
    let reports = reconcile::apply(&plan, providers, &fences, may_write).await;
    let elapsed = started.elapsed().as_secs_f64();
    after_apply(shared, &plan, &reports, term, now, elapsed);
}

async fn timed_read(shared: &Shared, config: &Config, providers: &Providers) -> Live {
    let started = Instant::now();
    let live = reconcile::read_live(config, providers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let failed: BTreeSet<&str> = live.errors.iter().map(|e| e.provider.as_str()).collect();
    for (_, provider) in live.records.keys() {
        let labels = ProviderCallLabels {
            provider: provider.clone(),
            operation: "read".into(),
            result: "ok".into(),
        };
        shared.metrics.provider_calls.get_or_create(&labels).inc();
        shared
            .metrics
            .provider_call_duration
            .get_or_create(&ProviderLabels {
                provider: provider.clone(),
            })
            .observe(elapsed);
    }
    for provider in failed {
        let labels = ProviderCallLabels {
            provider: provider.to_string(),
            operation: "read".into(),
            result: "error".into(),
        };
        shared.metrics.provider_calls.get_or_create(&labels).inc();
    }
    live
}

/// The fence of every (zone, provider) group the plan writes, in pair mode: the live
/// fence's term moves to ours. The delegation's parent zone carries none (it is not
/// ours to add records to); it is written only under a live lease. Returns the newer
/// term when a provider's fence shows this daemon has been deposed.
fn fences(config: &Config, plan: &Plan, live: &Live, term: u64) -> Result<Fences, u64> {
    let mut out = Fences::new();
    if config.agent.peers.is_empty() {
        return Ok(out);
    }
    let zones: BTreeSet<ZoneName> = config
        .zones
        .iter()
        .filter_map(|z| ZoneName::new(&z.name).ok())
        .collect();
    for c in plan.changes.iter().filter(|c| zones.contains(&c.zone)) {
        let key = (c.zone.clone(), c.provider.clone());
        if out.contains_key(&key) {
            continue;
        }
        let previous = live.records.get(&key).and_then(|sets| Fence::term_in(&c.zone, sets));
        if let Some(newer) = previous.filter(|p| *p > term) {
            return Err(newer);
        }
        out.insert(key, Fence { previous, term });
    }
    Ok(out)
}

/// A provider whose zone cannot be read where it would be written is in an API
/// outage: one `apply_failed` alert when it starts; it ends once the provider is read
/// again with nothing left to write (or a write succeeds).
fn track_outages(shared: &Shared, plan: &Plan, live: &Live, leader: bool, now: DateTime<Utc>) {
    let mut inner = shared.inner();
    for e in &plan.errors {
        if inner.failing.insert(e.provider.clone()) && leader {
            let summary = format!("cannot read {} from {}: {}", e.zone, e.provider, e.error);
            tracing::error!("{summary}");
            shared.alerter.send(
                Event::new(EventKind::ApplyFailed, &shared.agent_id, now, summary)
                    .zone(e.zone.clone())
                    .target(format!("provider:{}", e.provider)),
            );
        }
    }
    let erroring: BTreeSet<&str> = plan.errors.iter().map(|e| e.provider.as_str()).collect();
    let pending: BTreeSet<&str> = plan.changes.iter().map(|c| c.provider.as_str()).collect();
    let recovered: Vec<String> = inner
        .failing
        .iter()
        .filter(|p| !erroring.contains(p.as_str()) && !pending.contains(p.as_str()))
        .filter(|p| live.records.keys().any(|(_, q)| q == *p))
        .cloned()
        .collect();
    for p in recovered {
        tracing::info!(provider = %p, "provider API recovered");
        inner.failing.remove(&p);
        inner.backoff.remove(&p);
    }
}

/// Logs the held zones every cycle, and alerts each hold once (again when its changes,
/// and so its checksum, change).
fn report_held(shared: &Shared, held: &[Hold], leader: bool, now: DateTime<Utc>) {
    let previous = std::mem::replace(&mut shared.inner().held, held.to_vec());
    for h in held {
        let summary = format!(
            "changes to {} held until approved (checksum {}): {}",
            h.zone,
            h.checksum,
            h.reasons.join("; ")
        );
        tracing::warn!("{summary}");
        if leader && !previous.iter().any(|p| p.checksum == h.checksum) {
            shared
                .alerter
                .send(Event::new(EventKind::ApplyFailed, &shared.agent_id, now, summary).zone(h.zone.as_str()));
        }
    }
}

/// Drops the changes of providers still waiting out a backoff after failures.
fn without_backed_off(shared: &Shared, mut plan: Plan) -> Plan {
    let inner = shared.inner();
    let now = Instant::now();
    plan.changes
        .retain(|c| inner.backoff.get(&c.provider).is_none_or(|(until, _)| *until <= now));
    plan
}

fn after_apply(shared: &Shared, plan: &Plan, reports: &[ApplyReport], term: u64, now: DateTime<Utc>, elapsed: f64) {
    let checksum = plan.checksum();
    let mut errors = Vec::new();
    for r in reports {
        let ok = r.ok();
        let labels = ProviderCallLabels {
            provider: r.provider.clone(),
            operation: "apply".into(),
            result: if ok { "ok" } else { "error" }.into(),
        };
        shared.metrics.provider_calls.get_or_create(&labels).inc();
        shared
            .metrics
            .provider_call_duration
            .get_or_create(&ProviderLabels {
                provider: r.provider.clone(),
            })
            .observe(elapsed);
        shared
            .metrics
            .applied_changes
            .get_or_create(&ProviderLabels {
                provider: r.provider.clone(),
            })
            .inc_by(r.applied as u64);
        let changes: Vec<_> = plan
            .changes
            .iter()
            .filter(|c| c.zone == r.zone && c.provider == r.provider)
            .collect();
        audit(shared, term, &checksum, r, &changes, now);
        let mut inner = shared.inner();
        match &r.error {
            None => {
                for c in &changes {
                    inner.flaps.record(c, now);
                }
                inner.backoff.remove(&r.provider);
                if inner.failing.remove(&r.provider) {
                    tracing::info!(provider = %r.provider, "provider writes recovered");
                }
            }
            Some(e) => {
                errors.push(format!("{} @ {}: {e}", r.zone, r.provider));
                let next = inner
                    .backoff
                    .get(&r.provider)
                    .map_or(Duration::from_secs(1), |(_, b)| (*b * 2).min(MAX_PROVIDER_BACKOFF));
                inner.backoff.insert(r.provider.clone(), (Instant::now() + next, next));
                let first = inner.failing.insert(r.provider.clone());
                drop(inner);
                tracing::error!(provider = %r.provider, zone = %r.zone, applied = r.applied, planned = r.planned, retry_in = ?next, "apply failed: {e}");
                if first {
                    // One alert per outage: the next one comes after a recovery.
                    let summary = format!(
                        "writes to {} for {} failed ({} of {} applied): {e}",
                        r.provider, r.zone, r.applied, r.planned
                    );
                    shared.alerter.send(
                        Event::new(EventKind::ApplyFailed, &shared.agent_id, now, summary)
                            .zone(r.zone.as_str())
                            .target(format!("provider:{}", r.provider)),
                    );
                }
            }
        }
    }
    let ok = errors.is_empty();
    let applied: usize = reports.iter().map(|r| r.applied).sum();
    if ok {
        shared
            .metrics
            .last_apply_success
            .set(now.timestamp_millis() as f64 / 1000.0);
    }
    shared.inner().last_apply = Some(LastApply {
        at: now,
        ok,
        changes: applied,
        checksum: Some(checksum),
        errors,
    });
    shared.persist();
}

/// One JSON line per applied batch, for the audit trail.
fn audit(
    shared: &Shared,
    term: u64,
    checksum: &str,
    report: &ApplyReport,
    changes: &[&PlannedChange],
    now: DateTime<Utc>,
) {
    let line = json!({
        "at": now, "agent": shared.agent_id, "term": term, "checksum": checksum,
        "zone": report.zone.as_str(), "provider": report.provider,
        "result": if report.ok() { "ok" } else { "failed" }, "error": report.error,
        "applied": report.applied, "planned": report.planned,
        "changes": changes.iter().map(|c| json!({
            "action": c.change.action(), "name": c.change.subject().name, "type": c.change.subject().rtype.as_str(),
            "before": c.change.before().map(|s| &s.values), "after": c.change.after().map(|s| &s.values),
            "ttl": c.change.subject().ttl, "reason": c.reason,
        })).collect::<Vec<_>>(),
    });
    tracing::info!(target: "dnsteer::audit", "{line}");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&shared.audit_path)?;
        writeln!(f, "{line}")
    };
    if let Err(e) = write() {
        tracing::error!("cannot append to the audit log {}: {e}", shared.audit_path.display());
    }
}

/// Turns what steering noticed into events, once per change of situation.
///
/// With `moving` false (dry run, paused, a held plan) nothing moves: situations are
/// still reported (every pool down, the delegation held) but failover, failback and
/// drift events wait, and what was already reported of them is kept as it is.
fn notes_to_events(shared: &Shared, notes: &[(ZoneName, Note)], now: DateTime<Utc>, moving: bool) {
    let is_movement = |key: &str| ["failover|", "out|", "drift|"].iter().any(|k| key.starts_with(k));
    let mut current: BTreeSet<String> = if moving {
        BTreeSet::new()
    } else {
        shared
            .inner()
            .previous_notes
            .iter()
            .filter(|k| is_movement(k))
            .cloned()
            .collect()
    };
    let mut events = Vec::new();
    for (zone, note) in notes {
        if !moving && !matches!(note, Note::AllPoolsDown { .. } | Note::DelegationHeld { .. }) {
            continue;
        }
        let (key, kind, target, summary) = match note {
            Note::FailedOver { record, rtype, pool } => (
                format!("failover|{zone}|{record}|{rtype}"),
                EventKind::Failover,
                format!("{record} {rtype}"),
                format!("{record} {rtype} answers from pool {pool}, not its preferred pool"),
            ),
            Note::AllPoolsDown { record, rtype } => (
                format!("allpools|{zone}|{record}|{rtype}"),
                EventKind::AllPoolsDown,
                format!("{record} {rtype}"),
                format!("every pool of {record} {rtype} is unhealthy: keeping its published values (fail-open)"),
            ),
            Note::ProviderDrift { provider } => (
                format!("drift|{zone}|{provider}"),
                EventKind::ProviderDrift,
                format!("provider:{provider}"),
                format!("{provider} is healthy but its records differ: repairing before it rejoins the delegation"),
            ),
            Note::ProviderOut { provider, reason } => (
                format!("out|{zone}|{provider}"),
                EventKind::Failover,
                format!("provider:{provider}"),
                format!("{provider} leaves the delegation of {zone}: {reason}"),
            ),
            Note::DelegationHeld { reason } => (
                format!("held|{zone}"),
                EventKind::AllPoolsDown,
                zone.to_string(),
                reason.clone(),
            ),
        };
        if !shared.inner().previous_notes.contains(&key) {
            events.push(
                Event::new(kind, &shared.agent_id, now, summary)
                    .zone(zone.as_str())
                    .target(&target),
            );
        }
        current.insert(key);
    }
    let previous = std::mem::replace(&mut shared.inner().previous_notes, current.clone());
    for gone in previous.difference(&current) {
        let mut parts = gone.split('|');
        let (kind, zone) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let rest: Vec<_> = parts.collect();
        let what = rest.join(" ");
        let event = match kind {
            "failover" => Some((
                EventKind::Failback,
                rest.join(" "),
                format!("{what} is back on its preferred pool"),
            )),
            "out" => Some((
                EventKind::Failback,
                format!("provider:{what}"),
                format!("{what} is back in the delegation of {zone}"),
            )),
            _ => None,
        };
        if let Some((kind, target, summary)) = event {
            events.push(
                Event::new(kind, &shared.agent_id, now, summary)
                    .zone(zone)
                    .target(&target),
            );
        }
    }
    for e in events {
        shared.alerter.send(e);
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
