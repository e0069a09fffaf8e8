//! How long a failover can take at most, from the settings alone: detection (interval,
//! confirmations, the failures `window`, `fail_ratio` and `fall` need, a probe's time)
//! plus the TTL resolvers may keep the old answer. `check` and `plan` hold it against
//! `defaults.failover_budget`. Pure arithmetic; the rule is in `docs/health.md`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::types::{CheckConfig, DefaultsConfig, HealthConfig, RecordConfig};

/// Intervals are stretched by up to this much (the scheduler's jitter).
const JITTER: f64 = 1.1;

/// The worst detection time of one target, and how it adds up.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub worst: Duration,
    /// E.g. `7 failed probes needed (ceil(1 × 5) + 3 − 1): 1.1 s to the first
    /// (interval 1s + 10 % jitter) + 6 confirmations × 125ms + 1s for a probe`.
    pub arithmetic: String,
}

/// The worst time from a target's failure to its decision, for a target that had been
/// healthy for `hold` with a window of passing results: the first failed probe within
/// an interval (with jitter), the confirmations that follow it, one more interval for
/// each failure they do not cover, and one probe's time (a probe that times out).
pub fn detection(interval: Duration, timeout: Duration, health: &HealthConfig) -> Detection {
    let needed_in_window = (health.fail_ratio * health.window as f64).ceil().max(1.0) as u32;
    let needed = needed_in_window + health.fall.max(1) - 1;
    let confirmations = health.confirm.probes.min(needed - 1);
    let regular = needed - 1 - confirmations;
    let spacing = health.confirm.spacing.get();
    let round = interval.mul_f64(JITTER);
    // A probe is cut off at the interval whatever its timeout.
    let probe = timeout.min(interval);
    let worst = round + spacing * confirmations + round * regular + probe;
    let mut arithmetic = format!(
        "{needed} failed probe{} needed (ceil({} × {}) + {} − 1): {} to the first (interval {} + 10 % jitter)",
        if needed == 1 { "" } else { "s" },
        health.fail_ratio,
        health.window,
        health.fall,
        seconds(round),
        super::Duration::from(interval),
    );
    if confirmations > 0 {
        arithmetic.push_str(&format!(
            " + {confirmations} confirmations × {}",
            health.confirm.spacing
        ));
    }
    if regular > 0 {
        arithmetic.push_str(&format!(
            " + {regular} more interval{} × {}",
            plural(regular),
            seconds(round)
        ));
    }
    arithmetic.push_str(&format!(
        " + {} for a probe that times out",
        super::Duration::from(probe)
    ));
    Detection { worst, arithmetic }
}

/// The worst failover time of a steered record whose old answer resolvers keep for
/// `ttl` seconds: the slowest detection among its pools' checks, plus the TTL.
/// `None` when no pool has a check (nothing fails it over). The write itself comes on
/// top.
pub fn record_failover(
    defaults: &DefaultsConfig,
    checks: &BTreeMap<String, CheckConfig>,
    record: &RecordConfig,
    ttl: u32,
) -> Option<(Duration, String)> {
    let (name, detection) = record
        .pools
        .iter()
        .filter_map(|pool| {
            let name = pool.check.as_ref()?;
            let check = checks.get(name)?;
            let interval = check.interval().unwrap_or(defaults.interval).get();
            let timeout = check.timeout().unwrap_or(defaults.timeout).get();
            Some((
                name,
                detection(interval, timeout, &defaults.health.with(check.health())),
            ))
        })
        .max_by_key(|(_, d)| d.worst)?;
    let total = detection.worst + Duration::from_secs(ttl.into());
    let why = format!(
        "{} = detection up to {} (check {name}: {}) + TTL {ttl} s while resolvers keep the old answer",
        seconds(total),
        seconds(detection.worst),
        detection.arithmetic,
    );
    Some((total, why))
}

/// `1.85 s`, to the hundredth.
fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_at_one_second_detect_within_two_seconds_without_a_timeout() {
        let d = detection(Duration::from_secs(1), Duration::from_secs(2), &HealthConfig::default());
        // 1.1 s to the first failure, 6 × 125 ms of confirmations, and a probe cut off
        // at the interval.
        assert_eq!(d.worst, Duration::from_millis(1100 + 750 + 1000));
        assert_eq!(
            d.arithmetic,
            "7 failed probes needed (ceil(1 × 5) + 3 − 1): 1.10 s to the first (interval 1s + 10 % jitter) \
             + 6 confirmations × 125ms + 1s for a probe that times out"
        );
    }

    #[test]
    fn failures_the_confirmations_do_not_cover_cost_an_interval_each() {
        let health = HealthConfig {
            window: 10,
            fail_ratio: 0.5,
            fall: 3,
            confirm: crate::config::ConfirmConfig {
                probes: 2,
                spacing: crate::config::Duration::from_millis(100),
            },
            ..HealthConfig::default()
        };
        // 7 failures: the first, 2 confirmations, 4 more intervals.
        let d = detection(Duration::from_secs(2), Duration::from_millis(500), &health);
        assert_eq!(d.worst, Duration::from_millis(2200 + 200 + 4 * 2200 + 500));
        assert!(d.arithmetic.contains("+ 4 more intervals × 2.20 s"), "{}", d.arithmetic);
    }
}
