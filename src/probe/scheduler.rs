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

/// One prober and how often it runs.
#[derive(Debug, Clone)]
pub struct ScheduledTarget {
    pub prober: Arc<dyn Prober>,
    pub interval: Duration,
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
    /// Starts one loop per target. Each target's first probe comes at a random point
    /// of its first interval, so targets spread; each later one an interval (±10%)
    /// after the start of the one before. A probe that overruns its own timeout is cut
    /// off and reported as `timeout`; a timeout not under the interval is clamped to
    /// 90% of it, with a warning. At most `max_concurrent` probes run at once.
    pub fn spawn(
        targets: Vec<ScheduledTarget>,
        max_concurrent: usize,
        tx: mpsc::Sender<ProbeResult>,
    ) -> SchedulerHandle {
        let permits = Arc::new(Semaphore::new(max_concurrent.max(1)));
        let mut tasks = JoinSet::new();
        for target in targets {
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

async fn run(target: ScheduledTarget, permits: Arc<Semaphore>, tx: mpsc::Sender<ProbeResult>) {
    let prober = target.prober;
    let interval = target.interval.max(MIN_INTERVAL);
    let limit = probe_limit(&*prober, interval);
    let mut next = Instant::now() + interval.mul_f64(rand::random_range(0.0..1.0));
    loop {
        tokio::time::sleep_until(next).await;
        let Ok(permit) = permits.acquire().await else {
            return;
        };
        let started = Instant::now();
        let result = bounded_probe(&*prober, limit).await;
        drop(permit);
        // Spaced from this probe's actual start: a wait for a permit delays the next
        // probe too, instead of bunching two probes of one target together.
        next = started + interval.mul_f64(rand::random_range(1.0 - JITTER..=1.0 + JITTER));
        if tx.send(result).await.is_err() {
            return;
        }
    }
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
