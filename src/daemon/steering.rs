//! The steering loop: one pass per cycle, observe → decide → act.
//!
//! - observe: read each (zone, provider) concurrently. A read still running after a
//!   short wait is left to finish in the background and its result is taken by the
//!   next pass, so a hung provider never delays the others' plans;
//! - decide: `decide::decide` once, then the supervisor turns it into events;
//! - act: each (zone, provider) with changes gets its own write task, unless one is
//!   still under way or the provider is backing off. A pass never waits for a write:
//!   a 300 s registrar operation and a failover elsewhere proceed side by side.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dnsteer_providers::{Fence, FenceMark, ProviderError, RecordSet, ZoneName};
use tokio::sync::mpsc;

use super::metrics::{ProviderCallLabels, ProviderLabels, RecordLabels};
use super::pair::Witness;
use super::{AfterFailure, LastApply, Shared};
use crate::config::Config;
use crate::connect::Providers;
use crate::decide;
use crate::plan::{render_json, PlannedChange};
use crate::reconcile::{self, ApplyReport, Live};
use crate::steer::HealthView;

type Key = (ZoneName, String);

/// A finished write of one (zone, provider).
struct WriteDone {
    report: ApplyReport,
    changes: Vec<PlannedChange>,
    term: u64,
    started: DateTime<Utc>,
    took: Duration,
}

/// A finished read of one (zone, provider).
type ReadDone = (Key, Result<Vec<RecordSet>, ProviderError>, Duration);

/// Reads that may outlive a pass.
struct Reader {
    in_flight: BTreeSet<Key>,
    tx: mpsc::UnboundedSender<ReadDone>,
    rx: mpsc::UnboundedReceiver<ReadDone>,
}

impl Reader {
    fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            in_flight: BTreeSet::new(),
            tx,
            rx,
        }
    }

    /// Starts a read of every wanted key not already being read, then collects what
    /// finishes within `wait` (and what finished late since the last pass).
    async fn read(
        &mut self,
        shared: &Arc<Shared>,
        config: &Config,
        providers: &Providers,
        wait: Duration,
    ) -> Vec<ReadDone> {
        for key in reconcile::wanted(config) {
            let Some(adapter) = providers.get(&key.1).cloned() else {
                continue;
            };
            if !self.in_flight.insert(key.clone()) {
                continue;
            }
            let (tx, shared) = (self.tx.clone(), shared.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let result = adapter.records(&key.0).await;
                let took = started.elapsed();
                let _ = tx.send((key, result, took));
                if took > wait {
                    // A late result is news for a pass that did not wait for it.
                    shared.steer_now.notify_one();
                }
            });
        }
        let deadline = tokio::time::Instant::now() + wait;
        let mut done = Vec::new();
        while !self.in_flight.is_empty() {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(read)) => {
                    self.in_flight.remove(&read.0);
                    done.push(read);
                }
                _ => break,
            }
        }
        done
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    config: Arc<Config>,
    providers: Arc<Providers>,
    witness: Option<Arc<Witness>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let interval = config.defaults.interval.get();
    let read_wait = (interval / 2).clamp(Duration::from_millis(200), Duration::from_secs(2));
    let witness = witness.as_deref();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<WriteDone>();
    let mut reader = Reader::new();
    loop {
        if *stop.borrow() {
            break;
        }
        cycle(&shared, &config, &providers, witness, &mut reader, read_wait, &done_tx).await;
        let now = Utc::now();
        let wake = {
            let inner = shared.inner();
            [
                inner.engine.next_override_expiry(),
                inner.operator.overrides.values().map(|o| o.until).min(),
                inner.supervisor.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min()
            .and_then(|at| (at - now).to_std().ok())
        };
        let sleep = wake.map_or(interval, |w| w.min(interval)) + Duration::from_millis(1);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = shared.steer_now.notified() => {}
            Some(done) = done_rx.recv() => finish_write(&shared, done),
            _ = stop.changed() => {}
        }
        while let Ok(done) = done_rx.try_recv() {
            finish_write(&shared, done);
        }
    }
    // Stopping: nothing new is written; let the writes under way finish.
    while !shared.inner().writing.is_empty() {
        match done_rx.recv().await {
            Some(done) => finish_write(&shared, done),
            None => break,
        }
    }
}

/// One pass: observe, decide, act.
async fn cycle(
    shared: &Arc<Shared>,
    config: &Config,
    providers: &Providers,
    witness: Option<&Witness>,
    reader: &mut Reader,
    read_wait: Duration,
    done_tx: &mpsc::UnboundedSender<WriteDone>,
) {
    // Observe.
    let now = Utc::now();
    let view: HealthView = {
        let mut inner = shared.inner();
        let mut transitions = inner.engine.poll_expired_overrides(now);
        if inner.operator.expire(now) {
            transitions.extend(super::Shared::apply_operator(&mut inner, now));
        }
        drop(inner);
        shared.on_transitions(&transitions, now);
        let inner = shared.inner();
        shared
            .targets()
            .iter()
            .map(|t| (t.clone(), inner.engine.state(t, now)))
            .collect()
    };
    let reads = reader.read(shared, config, providers, read_wait).await;
    let mut live = Live::default();
    let mut outcomes: Vec<(Key, Option<ProviderError>)> = Vec::new();
    for ((zone, provider), result, took) in reads {
        count_call(shared, &provider, "read", result.is_ok(), took);
        outcomes.push(((zone.clone(), provider.clone()), result.as_ref().err().cloned()));
        live.insert(zone, provider, result);
    }
    live.errors
        .sort_by(|a, b| (&a.zone, &a.provider).cmp(&(&b.zone, &b.provider)));
    shared.page.saw_live(&live, now);
    {
        // A newer leader's fence at any provider ends our lease before we act.
        let marks: Vec<FenceMark> = live
            .records
            .iter()
            .filter_map(|((zone, _), sets)| FenceMark::read(zone, sets).map(|(m, _)| m))
            .collect();
        let mut coord = shared.coord();
        for mark in &marks {
            coord.handle_fence_seen(mark, Instant::now());
        }
    }
    shared.on_lease_events();

    // Decide.
    let now = Utc::now();
    let flaps = shared.inner().supervisor.flaps.clone();
    let decision = decide::decide(config, providers, &view, &live, &flaps, now);
    let paused = shared.inner().operator.paused;
    let leader = shared.may_write_now().is_some();
    let moving =
        |zone: &ZoneName| leader && !shared.dry_run && !paused && !decision.held.iter().any(|h| &h.zone == zone);
    {
        let mut inner = shared.inner();
        let reads = outcomes.iter().map(|((z, p), e)| (z, p.as_str(), e.as_ref()));
        inner.supervisor.handle_reads(reads, leader, now);
        inner.supervisor.handle_decision(&decision, &moving, leader, now);
    }
    send_events(shared);
    let plan_json = render_json(&decision.plan, &decision.held);
    shared.metrics.plans.inc();
    shared.metrics.plan_changes.set(decision.plan.changes.len() as i64);
    let decision = Arc::new(decision);
    {
        let mut inner = shared.inner();
        inner.last_plan = Some(plan_json);
        inner.decision = Some(decision.clone());
    }

    // Act.
    if decision.plan.is_empty() || paused {
        return;
    }
    if shared.dry_run {
        tracing::info!(changes = decision.plan.changes.len(), checksum = %decision.plan.checksum(), "dry run: would apply");
        return;
    }
    let Some(mark) = shared.may_write_now() else { return };
    let approved = shared.inner().operator.approved.clone();
    let still = super::supervisor::live_approvals(&approved, &decision);
    if still != approved {
        // Spent or stale approvals go, so that an old checksum never lets a later plan by.
        shared.change_operator(|o| o.approved = still.clone());
    }
    let plan = decision.writable(&still);
    let mut groups: BTreeMap<Key, Vec<PlannedChange>> = BTreeMap::new();
    for c in plan.changes {
        groups.entry((c.zone.clone(), c.provider.clone())).or_default().push(c);
    }
    for (key, changes) in groups {
        // A write to the witness's own zone is fenced by the lease record as this
        // leader holds it; until it holds one (just elected by vote, or after a
        // conflict), that write waits for the next pass rather than go unfenced.
        let held = match witness.filter(|w| w.provider == key.1 && w.zone == key.0) {
            Some(w) => match shared.coord().witness_held(Instant::now()) {
                Some(record) => Some(record.record_set(&w.name)),
                None => continue,
            },
            None => None,
        };
        {
            let mut inner = shared.inner();
            if inner.writing.contains(&key) || !inner.supervisor.may_write(&key.1, now) {
                continue;
            }
            inner.writing.insert(key.clone());
        }
        let fence = fence_for(config, providers, &live, &key, &mark, held);
        spawn_write(shared, providers, key, changes, fence, mark.clone(), done_tx.clone());
    }
}

/// The fence a pair's write to `key` carries: the witness's lease record where the
/// write goes to the witness's zone; the zone's own fence record where the zone can
/// hold one; none for a registrar or a parent zone, which are guarded by the lease
/// check before each request instead. A lone daemon fences nothing; a pair and a fleet
/// fence every batch.
fn fence_for(
    config: &Config,
    providers: &Providers,
    live: &Live,
    key: &Key,
    mark: &FenceMark,
    witness_held: Option<RecordSet>,
) -> Option<Fence> {
    if config.agent.peers.is_empty() && config.agent.coordination.is_none() {
        return None;
    }
    if let Some(record) = witness_held {
        return Some(Fence::hold(record));
    }
    let ours = config
        .zones
        .iter()
        .any(|z| ZoneName::new(&z.name).is_ok_and(|z| z == key.0));
    let can_hold = providers.get(&key.1).is_some_and(|p| p.capabilities().extra_records);
    if !ours || !can_hold {
        return None;
    }
    let current = live
        .records
        .get(key)
        .and_then(|sets| FenceMark::read(&key.0, sets))
        .map(|(_, set)| set);
    Some(Fence::zone(&key.0, current, mark))
}

fn spawn_write(
    shared: &Arc<Shared>,
    providers: &Providers,
    (zone, provider): Key,
    changes: Vec<PlannedChange>,
    fence: Option<Fence>,
    mark: FenceMark,
    done_tx: mpsc::UnboundedSender<WriteDone>,
) {
    let adapter = providers.get(&provider).cloned();
    let guard: reconcile::MayWrite = {
        let shared = shared.clone();
        let mark = mark.clone();
        Arc::new(move || shared.may_write_now().as_ref() == Some(&mark))
    };
    tokio::spawn(async move {
        let started = Utc::now();
        let clock = Instant::now();
        let raw = changes.iter().map(|c| c.change.clone()).collect();
        let report = reconcile::apply_group(zone, provider, adapter, raw, fence, guard).await;
        let _ = done_tx.send(WriteDone {
            report,
            changes,
            term: mark.term,
            started,
            took: clock.elapsed(),
        });
    });
}

fn finish_write(shared: &Arc<Shared>, done: WriteDone) {
    let now = Utc::now();
    let r = &done.report;
    let written = &done.changes[..r.applied.min(done.changes.len())];
    count_call(shared, &r.provider, "apply", r.ok(), done.took);
    shared
        .metrics
        .applied_changes
        .get_or_create(&ProviderLabels {
            provider: r.provider.clone(),
        })
        .inc_by(r.applied as u64);
    shared
        .audit
        .record(&shared.agent_id, done.term, r, &done.changes, done.started, now);
    match &r.error {
        None => {
            tracing::info!(zone = %r.zone, provider = %r.provider, changes = r.applied, took = ?done.took, "applied")
        }
        Some(e) => {
            tracing::error!(zone = %r.zone, provider = %r.provider, applied = r.applied, planned = r.planned, "apply failed: {e}")
        }
    }
    let after = {
        let mut inner = shared.inner();
        inner.writing.remove(&(r.zone.clone(), r.provider.clone()));
        let after = inner
            .supervisor
            .handle_apply(&r.zone, &r.provider, written, r.error.as_ref(), now);
        for c in written {
            let subject = c.change.subject();
            let key = (
                r.zone.to_string(),
                r.provider.clone(),
                subject.name.clone(),
                subject.rtype.to_string(),
            );
            let w = super::Written {
                at: now,
                stale_for_s: c.stale_for_s,
            };
            if let Some(by) = w.followed_by() {
                shared
                    .metrics
                    .followed_by
                    .get_or_create(&RecordLabels {
                        zone: key.0.clone(),
                        provider: key.1.clone(),
                        name: key.2.clone(),
                        record_type: key.3.clone(),
                    })
                    .set(by.timestamp() as f64);
            }
            inner.written.insert(key, w);
        }
        inner.last_apply = Some(LastApply {
            at: now,
            ok: r.ok(),
            changes: r.applied,
            checksum: inner
                .last_plan
                .as_ref()
                .and_then(|p| p["checksum"].as_str().map(String::from)),
            errors: r
                .error
                .iter()
                .map(|e| format!("{} @ {}: {e}", r.zone, r.provider))
                .collect(),
        });
        after
    };
    if r.ok() {
        shared
            .metrics
            .last_apply_success
            .set(now.timestamp_millis() as f64 / 1000.0);
    }
    send_events(shared);
    shared.persist();
    if after == AfterFailure::Replan || r.ok() {
        // Read again at once: to confirm what was written, or to see who else wrote.
        shared.steer_now.notify_one();
    }
}

fn send_events(shared: &Shared) {
    let events: Vec<_> = {
        let mut inner = shared.inner();
        std::iter::from_fn(|| inner.supervisor.poll_event()).collect()
    };
    for e in events {
        shared.alerter().send(e);
    }
}

/// One provider call in the metrics, booked with its own duration.
fn count_call(shared: &Shared, provider: &str, operation: &str, ok: bool, took: Duration) {
    let labels = ProviderCallLabels {
        provider: provider.to_string(),
        operation: operation.into(),
        result: if ok { "ok" } else { "error" }.into(),
    };
    shared.metrics.provider_calls.get_or_create(&labels).inc();
    shared
        .metrics
        .provider_call_duration
        .get_or_create(&ProviderLabels {
            provider: provider.to_string(),
        })
        .observe(took.as_secs_f64());
}
