//! When probes run: each target on its own jittered interval, one probe of a target at
//! a time, a bound on probes in flight across targets. Also the back-to-back rounds the
//! command line runs (`dnsteer probe`, `plan` without `--from`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{bounded_probe, ProbeResult, Prober, GRACE};

/// Each interval is stretched or shrunk by a random factor within ±10%, so targets on
/// the same interval do not probe in lockstep.
const JITTER: f64 = 0.1;

/// No target is probed more often than this, whatever its configuration says.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Re-probes of a target whose previous result passed and whose latest failed
/// (`health.confirm`): `probes` more, the k-th sent `k * spacing` after the failure,
/// stopping at the first that passes. They make a new failure sure within a fraction
/// of an interval instead of several intervals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confirm {
    pub probes: u32,
    pub spacing: Duration,
}

impl Confirm {
    /// No confirmations: a failure waits for the next interval like a success.
    pub const OFF: Confirm = Confirm {
        probes: 0,
        spacing: Duration::ZERO,
    };
}

/// One target, its probers and how often they run. Each round probes every prober at
/// once and reports one [`ProbeResult::combine`]d result: a provider's nameservers
/// are one target.
#[derive(Debug, Clone)]
pub struct ScheduledTarget {
    pub probers: Vec<Arc<dyn Prober>>,
    pub interval: Duration,
    pub confirm: Confirm,
}

impl ScheduledTarget {
    /// One prober on `interval`, without confirmations.
    pub fn new(prober: Arc<dyn Prober>, interval: Duration) -> Self {
        ScheduledTarget {
            probers: vec![prober],
            interval,
            confirm: Confirm::OFF,
        }
    }
}

/// Runs probers on their intervals and sends every result to a channel.
#[derive(Debug)]
pub struct Scheduler;

/// The running scheduler: dropping it (or [`SchedulerHandle::shutdown`]) stops every
/// probe loop. Loops also stop by themselves once the result channel is closed.
#[derive(Debug)]
pub struct SchedulerHandle {
    tasks: JoinSet<()>,
}

impl Scheduler {
    /// Starts one loop per target. Each target's first round comes at a random point
    /// of its first interval, so targets spread; each later one an interval (±10%)
    /// after the start of the one before, or after the last confirmation if that is
    /// later. A probe that overruns its own timeout is cut off and reported as
    /// `timeout`; a timeout not under the interval is clamped to 90% of it, with a
    /// warning. At most `max_concurrent` probes run at once. Rounds of one target never
    /// overlap, but its confirmations may: each is sent on its own schedule, so that a
    /// target that times out is confirmed in one timeout, not one per confirmation.
    pub fn spawn(
        targets: Vec<ScheduledTarget>,
        max_concurrent: usize,
        tx: mpsc::Sender<ProbeResult>,
    ) -> SchedulerHandle {
        let permits = Arc::new(Semaphore::new(max_concurrent.max(1)));
        let mut tasks = JoinSet::new();
        for target in targets.into_iter().filter(|t| !t.probers.is_empty()) {
            tasks.spawn(run(target, Arc::clone(&permits), tx.clone()));
        }
        SchedulerHandle { tasks }
    }
}

impl SchedulerHandle {
    /// Stops every loop and waits until they are gone (a probe in flight is dropped).
    pub async fn shutdown(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The probers of a target with the time each may run, shared by its confirmations.
type Round = Arc<[(Arc<dyn Prober>, Duration)]>;

async fn run(target: ScheduledTarget, permits: Arc<Semaphore>, tx: mpsc::Sender<ProbeResult>) {
    let interval = target.interval.max(MIN_INTERVAL);
    let round: Round = target
        .probers
        .iter()
        .map(|p| (Arc::clone(p), probe_limit(&**p, interval)))
        .collect();
    let confirm = target.confirm;
    // Whether the target's latest result passed; a target that was never probed has
    // not failed yet, so its first failure is confirmed too.
    let mut passing = true;
    let mut next = Instant::now() + interval.mul_f64(rand::random_range(0.0..1.0));
    loop {
        tokio::time::sleep_until(next).await;
        let Some((started, result)) = probe_round(&round, &permits).await else {
            return;
        };
        // Spaced from this round's actual start: a wait for a permit delays the next
        // round too, instead of bunching two rounds of one target together.
        next = started + interval.mul_f64(rand::random_range(1.0 - JITTER..=1.0 + JITTER));
        let failed_now = !result.ok;
        if tx.send(result).await.is_err() {
            return;
        }
        if !(failed_now && passing && confirm.probes > 0) {
            passing = !failed_now;
            continue;
        }
        let Some(confirmed_ok) = confirm_failure(&round, confirm, &permits, &tx).await else {
            return;
        };
        passing = confirmed_ok;
        next = next.max(Instant::now() + confirm.spacing.max(MIN_INTERVAL));
    }
}

/// Sends `confirm.probes` rounds, the k-th `k * spacing` from now, and reports their
/// results in that order until one passes (the rest are dropped unsent or cut off).
/// Whether the last reported result passed; `None` once nobody listens.
async fn confirm_failure(
    round: &Round,
    confirm: Confirm,
    permits: &Arc<Semaphore>,
    tx: &mpsc::Sender<ProbeResult>,
) -> Option<bool> {
    let failed_at = Instant::now();
    let spacing = confirm.spacing.max(MIN_INTERVAL);
    let mut pending = Pending(
        (1..=confirm.probes)
            .map(|k| {
                let round = Arc::clone(round);
                let permits = Arc::clone(permits);
                tokio::spawn(async move {
                    tokio::time::sleep_until(failed_at + spacing * k).await;
                    probe_round(&round, &permits).await.map(|(_, result)| result)
                })
            })
            .collect(),
    );
    let mut passed = false;
    for handle in &mut pending.0 {
        let result = match handle.await {
            Ok(Some(result)) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(None) | Err(_) => return None,
        };
        passed = result.ok;
        tx.send(result).await.ok()?;
        if passed {
            break;
        }
    }
    Some(passed)
}

/// Confirmations in flight, cut off when no longer needed (one passed, or the loop
/// was stopped).
struct Pending(Vec<tokio::task::JoinHandle<Option<ProbeResult>>>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.iter().for_each(|h| h.abort());
    }
}

/// Probes every prober of `round` at once, each under its own limit and permit, and
/// combines the results; also when the round really started (its first probe got a
/// permit). `None` once the permits are closed.
async fn probe_round(round: &Round, permits: &Arc<Semaphore>) -> Option<(Instant, ProbeResult)> {
    if let [(prober, limit)] = &round[..] {
        let _permit = permits.acquire().await.ok()?;
        return Some((Instant::now(), bounded_probe(&**prober, *limit).await));
    }
    // Dropping the set (a confirmation no longer needed) cuts every probe off.
    let mut set = JoinSet::new();
    for (index, (prober, limit)) in round.iter().enumerate() {
        let (prober, limit, permits) = (Arc::clone(prober), *limit, Arc::clone(permits));
        set.spawn(async move {
            let _permit = permits.acquire().await.ok()?;
            let started = Instant::now();
            Some((index, started, bounded_probe(&*prober, limit).await))
        });
    }
    let mut results = Vec::with_capacity(round.len());
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Some(result)) => results.push(result),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(None) | Err(_) => return None,
        }
    }
    results.sort_by_key(|(index, _, _)| *index);
    let started = results.iter().map(|(_, started, _)| *started).min()?;
    let combined = ProbeResult::combine(results.into_iter().map(|(_, _, r)| r).collect())?;
    Some((started, combined))
}

/// How long a probe of `prober` may run in a loop of `interval`.
fn probe_limit(prober: &dyn Prober, interval: Duration) -> Duration {
    let timeout = prober.timeout();
    if timeout < interval {
        return (timeout + GRACE).min(interval);
    }
    let clamped = interval.mul_f64(0.9);
    tracing::warn!(
        probe_target = prober.target(),
        timeout_ms = timeout.as_millis() as u64,
        interval_ms = interval.as_millis() as u64,
        "probe timeout is not under the interval: probes are cut off at {} ms",
        clamped.as_millis()
    );
    clamped
}

/// Probes every prober `rounds` times back to back: probers concurrently (at most
/// `max_concurrent` probes at once), each prober's rounds one after the other. One list
/// per prober, in the given order, its rounds in order.
pub async fn probe_rounds(probers: &[Arc<dyn Prober>], rounds: u32, max_concurrent: usize) -> Vec<Vec<ProbeResult>> {
    let permits = Arc::new(Semaphore::new(max_concurrent.max(1)));
    let mut tasks = JoinSet::new();
    for (index, prober) in probers.iter().enumerate() {
        let prober = Arc::clone(prober);
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let mut results = Vec::with_capacity(rounds as usize);
            for _ in 0..rounds {
                let _permit = permits.acquire().await.expect("the semaphore is never closed");
                results.push(bounded_probe(&*prober, prober.timeout() + GRACE).await);
            }
            (index, results)
        });
    }
    let mut by_prober: Vec<Vec<ProbeResult>> = vec![Vec::new(); probers.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, results)) => by_prober[index] = results,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    by_prober
}
