//! One vantage point's sliding window of probe results and the verdict it gives.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::HealthParams;

/// What one window says at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Failure ratio at or above `fail_ratio`.
    Failing,
    /// Failure ratio at or under `recover_ratio`.
    Passing,
    /// Strictly between the two ratios: evidence for neither.
    Neither,
}

/// One probe result as kept in a window. The reason is only kept for failures:
/// it is what `last_error` and transition reasons quote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sample {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// The last `window` results of one vantage point, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Window {
    samples: VecDeque<Sample>,
    /// When the newest result was measured (capped at the time it was handled, so a
    /// peer whose clock runs ahead cannot make its data look fresher than it is).
    last_at: Option<DateTime<Utc>>,
}

impl Window {
    pub(crate) fn push(&mut self, ok: bool, reason: Option<&str>, at: DateTime<Utc>, now: DateTime<Utc>, size: usize) {
        self.samples.push_back(Sample {
            ok,
            reason: if ok { None } else { reason.map(str::to_owned) },
        });
        self.resize(size);
        self.last_at = Some(at.min(now));
    }

    /// Replaces the whole window (results oldest first), keeping the newest `size`; the
    /// reason goes with the newest failure.
    pub(crate) fn replace(&mut self, results: &[bool], last_error: Option<&str>, now: DateTime<Utc>, size: usize) {
        let newest_failure = results.iter().rposition(|ok| !ok);
        self.samples = results
            .iter()
            .enumerate()
            .map(|(i, &ok)| Sample {
                ok,
                reason: (Some(i) == newest_failure)
                    .then(|| last_error.map(str::to_owned))
                    .flatten(),
            })
            .collect();
        self.resize(size);
        self.last_at = Some(now);
    }

    /// The results held, oldest first.
    pub(crate) fn results(&self) -> Vec<bool> {
        self.samples.iter().map(|s| s.ok).collect()
    }

    pub(crate) fn last_at(&self) -> Option<DateTime<Utc>> {
        self.last_at
    }

    /// Keeps only the newest `size` results.
    pub(crate) fn resize(&mut self, size: usize) {
        while self.samples.len() > size {
            self.samples.pop_front();
        }
    }

    /// Whether the newest result is no older than `stale_after` at `now`.
    pub(crate) fn is_fresh(&self, now: DateTime<Utc>, stale_after: chrono::TimeDelta) -> bool {
        self.last_at
            .is_some_and(|at| now.signed_duration_since(at) <= stale_after)
    }

    fn failed(&self) -> usize {
        self.samples.iter().filter(|s| !s.ok).count()
    }

    /// Failed results over results held; 0 for an empty window.
    pub(crate) fn failure_ratio(&self) -> f64 {
        if self.samples.is_empty() {
            0.0
        } else {
            self.failed() as f64 / self.samples.len() as f64
        }
    }

    /// The reason of the newest failure still in the window.
    pub(crate) fn last_error(&self) -> Option<&str> {
        self.samples
            .iter()
            .rev()
            .find(|s| !s.ok)
            .and_then(|s| s.reason.as_deref())
    }

    /// `None` when the window holds no result at all.
    pub(crate) fn verdict(&self, params: &HealthParams) -> Option<Verdict> {
        if self.samples.is_empty() {
            return None;
        }
        let ratio = self.failure_ratio();
        Some(if ratio >= params.fail_ratio {
            Verdict::Failing
        } else if ratio <= params.recover_ratio {
            Verdict::Passing
        } else {
            Verdict::Neither
        })
    }

    /// E.g. `failure ratio 0.60 over last 10 probes (6 failed; last: connect refused)`.
    pub(crate) fn describe(&self) -> String {
        let n = self.samples.len();
        let failed = self.failed();
        let last = match (failed, self.last_error()) {
            (0, _) | (_, None) => String::new(),
            (_, Some(reason)) => format!("; last: {reason}"),
        };
        format!(
            "failure ratio {:.2} over last {n} probe{} ({failed} failed{last})",
            self.failure_ratio(),
            if n == 1 { "" } else { "s" },
        )
    }
}
