//! Detection at the default health settings, through the real scheduler (with its
//! confirmations) and the real engine, on tokio's paused clock: an outage is decided
//! within the promised number of probes, while random loss and short blips never
//! decide anything. Nothing here waits for real time.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use dnsteer::config::HealthConfig;
use dnsteer::health::{Engine, EngineParams, Observation, State};
use dnsteer::probe::{Confirm, Outcome, ProbeResult, Prober, ScheduledTarget, Scheduler};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

const T: &str = "check:web";
const INTERVAL: Duration = Duration::from_secs(1);
/// Noise and outages start once the target is healthy and its `hold` (60 s) is over.
const SETTLED: Duration = Duration::from_secs(70);

/// Whether a probe at this time (since the start) fails.
type Pattern = Box<dyn FnMut(Duration) -> bool + Send>;

#[derive(Debug)]
struct ScriptedProber {
    start: Instant,
    pattern: Mutex<PatternBox>,
}

struct PatternBox(Pattern);

impl std::fmt::Debug for PatternBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("pattern")
    }
}

#[async_trait]
impl Prober for ScriptedProber {
    async fn probe(&self) -> ProbeResult {
        let fails = (self.pattern.lock().unwrap().0)(self.start.elapsed());
        if fails {
            ProbeResult::failure(T, Outcome::ConnectRefused, "connect refused", Duration::ZERO)
        } else {
            ProbeResult::success(T, Duration::ZERO)
        }
    }

    fn target(&self) -> &str {
        T
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(500)
    }
}

/// One result as the engine saw it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    at: Duration,
    ok: bool,
    state: State,
}

/// Runs the target for `run_for` with the default health settings, an interval of 1 s
/// and nothing else set, and returns every result with the state after it.
async fn run(pattern: Pattern, run_for: Duration) -> Vec<Seen> {
    let health = HealthConfig::default();
    let start = Instant::now();
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let prober = ScriptedProber {
        start,
        pattern: Mutex::new(PatternBox(pattern)),
    };
    let target = ScheduledTarget {
        probers: vec![Arc::new(prober)],
        interval: INTERVAL,
        confirm: Confirm {
            probes: health.confirm.probes,
            spacing: health.confirm.spacing.get(),
        },
    };
    let mut engine = Engine::new(EngineParams {
        peer_stale_after: Duration::from_secs(60),
    });
    engine.register(T, health.params()).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let scheduler = Scheduler::spawn(vec![target], 4, tx);
    let mut seen = Vec::new();
    while let Some(result) = rx.recv().await {
        let at = start.elapsed();
        if at > run_for {
            break;
        }
        let now = t0 + TimeDelta::from_std(at).unwrap();
        let obs = Observation {
            at: now,
            ok: result.ok,
            vantage: "steer-a".into(),
            reason: result.reason,
            latency: Some(result.latency),
        };
        engine.handle_observation(T, &obs, now).unwrap();
        seen.push(Seen {
            at,
            ok: result.ok,
            state: engine.state(T, now),
        });
    }
    scheduler.shutdown().await;
    seen
}

/// Times (since the start) at which the target went unhealthy after being healthy.
fn decisions(seen: &[Seen]) -> Vec<Duration> {
    seen.windows(2)
        .filter(|w| w[0].state == State::Healthy && w[1].state == State::Unhealthy)
        .map(|w| w[1].at)
        .collect()
}

fn healthy_when_settled(seen: &[Seen]) {
    let settled = seen.iter().find(|s| s.at >= SETTLED).expect("results after settling");
    assert_eq!(settled.state, State::Healthy, "not healthy at {:?}", settled.at);
}

#[tokio::test(start_paused = true)]
async fn an_outage_is_decided_by_the_seventh_failed_probe_within_one_interval_of_confirmations() {
    for phase_ms in [0u64, 130, 400, 777, 999] {
        let fail_at = SETTLED + Duration::from_millis(phase_ms);
        let seen = run(Box::new(move |at| at >= fail_at), SETTLED + Duration::from_secs(10)).await;
        healthy_when_settled(&seen);
        let down = decisions(&seen);
        assert_eq!(down.len(), 1, "phase {phase_ms} ms: {down:?}");
        let failed_before: Vec<&Seen> = seen.iter().filter(|s| !s.ok && s.at <= down[0]).collect();
        // Window 5 all failing, then fall 3: the 7th failure in a row decides, and
        // every confirmation is one of them.
        assert_eq!(failed_before.len(), 7, "phase {phase_ms} ms: {failed_before:?}");
        // The first failure comes within an interval (plus 10 % jitter) of the
        // outage; its six confirmations 125 ms apart.
        let first = failed_before[0].at;
        assert!(
            first - fail_at <= INTERVAL.mul_f64(1.1),
            "phase {phase_ms} ms: first failure at {first:?}"
        );
        assert_eq!(down[0] - first, Duration::from_millis(6 * 125), "phase {phase_ms} ms");
        // A target already failing is not confirmed again: one result per interval.
        let after: Vec<Duration> = seen.iter().filter(|s| s.at > down[0]).map(|s| s.at).collect();
        for gap in after.windows(2).map(|w| w[1] - w[0]) {
            assert!(gap >= INTERVAL.mul_f64(0.9), "phase {phase_ms} ms: {after:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn ten_minutes_of_twenty_percent_random_loss_decide_nothing() {
    for seed in [1u64, 2, 3] {
        let mut rng = StdRng::seed_from_u64(seed);
        let seen = run(
            Box::new(move |at| at >= SETTLED && rng.random_bool(0.2)),
            SETTLED + Duration::from_secs(600),
        )
        .await;
        healthy_when_settled(&seen);
        assert_eq!(decisions(&seen), Vec::<Duration>::new(), "seed {seed}");
        let noisy: Vec<&Seen> = seen.iter().filter(|s| s.at >= SETTLED).collect();
        let failed = noisy.iter().filter(|s| !s.ok).count();
        // About 600 rounds, a fifth of them failing, each failure confirmed.
        assert!(noisy.len() > 700, "seed {seed}: {} results", noisy.len());
        assert!(failed > 100, "seed {seed}: {failed} failures");
        assert!(noisy.iter().all(|s| s.state == State::Healthy), "seed {seed}");
    }
}

#[tokio::test(start_paused = true)]
async fn blips_of_300_ms_every_few_seconds_decide_nothing() {
    for seed in [1u64, 2, 3] {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut blips = Vec::new();
        let mut start = SETTLED;
        while start < SETTLED + Duration::from_secs(600) {
            blips.push(start);
            start += Duration::from_millis(rng.random_range(2_000..=5_000));
        }
        let blip = Duration::from_millis(300);
        let seen = run(
            Box::new(move |at| blips.iter().any(|b| at >= *b && at < *b + blip)),
            SETTLED + Duration::from_secs(600),
        )
        .await;
        healthy_when_settled(&seen);
        assert_eq!(decisions(&seen), Vec::<Duration>::new(), "seed {seed}");
        let failed = seen.iter().filter(|s| !s.ok).count();
        assert!(failed > 20, "seed {seed}: the blips hit only {failed} probes");
    }
}
