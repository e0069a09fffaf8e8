//! The decision engine: turns probe observations into a health state per target, with
//! windows, fall/rise hysteresis, a hold time, the peer's vantage point and operator
//! overrides. Pure: time is always passed in, nothing here reads a clock or does I/O.
//!
//! Shape (after quinn-proto): the daemon feeds it with `handle_*(input, now)` and reads
//! it with `poll_*(now)` and getters. The rules, as users read them, are in
//! `docs/health.md`; in short:
//!
//! - each vantage point (this agent, its peer, the other daemons of a fleet) keeps a
//!   window of its last `window` results per target; every local result triggers one
//!   evaluation;
//! - a window fails at `ratio >= fail_ratio`, passes at `ratio <= recover_ratio`, and is
//!   neither in between; of the fresh vantage points with a verdict (this agent always,
//!   the others while fresh), the combined verdict fails iff at least `quorum` of them
//!   fail, passes iff the local window passes and the ones not failing could make a
//!   quorum on their own, and is neither otherwise (a split); a "neither" evaluation
//!   breaks both streaks. `quorum` is `majority` (more than half of the fresh ones) or a
//!   number N (capped at the fresh ones there are). For the pair (majority of 2) that is:
//!   failing iff both fail, passing iff the local window passes and the peer does not
//!   fail; in a fleet of 3, one vantage point cut off from the endpoints fails nothing;
//! - `unknown` becomes `unhealthy` after `fall` consecutive failing evaluations and
//!   `healthy` after `rise` passing ones, with no hold; `healthy` becomes `unhealthy`
//!   after `fall` failing evaluations once `hold` has passed since it became healthy;
//!   `unhealthy` becomes `healthy` after `rise` passing evaluations once `hold` has
//!   passed *and* the local window has been refilled (`window` local results) since it
//!   became unhealthy, so failing back is judged on fresh data only;
//! - operator overrides sit on top of the measured state, which keeps evolving below.

mod target;
mod window;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use target::{TargetHealth, TargetState};

/// Hysteresis settings of one target (the configuration's `health:` block).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthParams {
    /// Results kept per vantage point.
    pub window: usize,
    /// Failure ratio at or above which a window counts as failing.
    pub fail_ratio: f64,
    /// Failure ratio at or under which a window counts as passing.
    pub recover_ratio: f64,
    /// Consecutive failing evaluations before unhealthy.
    pub fall: u32,
    /// Consecutive passing evaluations before healthy.
    pub rise: u32,
    /// Least time in `healthy` or `unhealthy` before leaving it.
    pub hold: Duration,
    /// How many fresh vantage points must see the target failing.
    pub quorum: Quorum,
}

/// How many fresh vantage points must see a target failing for it to count as failing
/// (the configuration's `quorum`: `majority` or a number).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Quorum {
    /// More than half of the fresh vantage points.
    #[default]
    Majority,
    /// This many, or every fresh vantage point when fewer are fresh: a target must not
    /// become impossible to fail because some vantage points are gone.
    AtLeast(u32),
}

impl Quorum {
    /// The quorum among `fresh` vantage points (at least 1 when `fresh` is).
    pub fn of(self, fresh: usize) -> usize {
        match self {
            Quorum::Majority => fresh / 2 + 1,
            Quorum::AtLeast(n) => usize::try_from(n).unwrap_or(usize::MAX).min(fresh),
        }
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quorum::Majority => f.write_str("majority"),
            Quorum::AtLeast(n) => write!(f, "{n}"),
        }
    }
}

/// Written `majority` or a number in the configuration.
impl Serialize for Quorum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Quorum::Majority => s.serialize_str("majority"),
            Quorum::AtLeast(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Quorum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct QuorumVisitor;
        impl serde::de::Visitor<'_> for QuorumVisitor {
            type Value = Quorum;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`majority` or a number of vantage points")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Quorum, E> {
                u32::try_from(n)
                    .map(Quorum::AtLeast)
                    .map_err(|_| E::custom(format!("quorum {n} is too large")))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Quorum, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom(format!("quorum must be `majority` or at least 1, found {n}")))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quorum, E> {
                match v {
                    "majority" => Ok(Quorum::Majority),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(QuorumVisitor)
    }
}

impl HealthParams {
    /// `window`, `fall`, `rise` and a numeric `quorum` at least 1, and
    /// `0 <= recover_ratio < fail_ratio <= 1` (equal ratios would make one window both
    /// failing and passing).
    pub fn validate(&self) -> Result<(), HealthError> {
        let problem = if self.window == 0 {
            "window must be at least 1"
        } else if self.fall == 0 {
            "fall must be at least 1"
        } else if self.rise == 0 {
            "rise must be at least 1"
        } else if !(0.0..=1.0).contains(&self.fail_ratio) {
            "fail_ratio must be between 0 and 1"
        } else if !(0.0..=1.0).contains(&self.recover_ratio) {
            "recover_ratio must be between 0 and 1"
        } else if self.recover_ratio >= self.fail_ratio {
            "recover_ratio must be lower than fail_ratio"
        } else if self.quorum == Quorum::AtLeast(0) {
            "quorum must be at least 1"
        } else {
            return Ok(());
        };
        Err(HealthError::InvalidParams(problem.to_owned()))
    }
}

/// Settings of the engine as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineParams {
    /// A peer's window counts only while its newest result is at most this old.
    pub peer_stale_after: Duration,
}

/// A target's health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not decided yet: traffic neither moves onto nor off the target.
    #[default]
    Unknown,
    Healthy,
    Unhealthy,
}

impl State {
    /// The operator's word for a forced state (`up`/`down`).
    fn verb(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Healthy => "up",
            State::Unhealthy => "down",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Unknown => "unknown",
            State::Healthy => "healthy",
            State::Unhealthy => "unhealthy",
        })
    }
}

/// One probe result. Failures are data, not errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// When the probe was made.
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// Id of the agent that probed.
    pub vantage: String,
    /// Why it failed (kept for failures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Duration>,
}

/// Which state a transition changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// The state steering uses changed: a measured change with no override active,
    /// or an override set, cleared or expired.
    Effective,
    /// Only the measured state changed, underneath an active operator override.
    Measured,
}

/// A change of a target's state, with why it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub target: String,
    pub layer: Layer,
    pub from: State,
    pub to: State,
    pub at: DateTime<Utc>,
    /// Human-readable cause, e.g. `failure ratio 0.60 over last 10 probes (6 failed;
    /// last: connect refused) for 3 evaluations since 2025-01-01T00:00:10Z`.
    pub reason: String,
}

/// A target as `GET /v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetStatus {
    pub name: String,
    /// The effective state: the override's while one is active, else the measured one.
    pub state: State,
    pub measured_state: State,
    /// Failure ratio of this agent's own window (0 with no result yet).
    pub failure_ratio: f64,
    /// When the override took effect while one is active, else when the measured
    /// state was entered; `None` while unknown since the start.
    pub since: Option<DateTime<Utc>>,
    /// Reason of the newest failure still in this agent's window.
    pub last_error: Option<String>,
    pub override_until: Option<DateTime<Utc>>,
    /// What each other vantage point's window says of this target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vantage: Vec<VantageView>,
}

/// One other vantage point's view of a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VantageView {
    pub id: String,
    pub failure_ratio: f64,
    pub last_error: Option<String>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// Another agent whose observations count here, as `GET /v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VantageStatus {
    pub id: String,
    pub fresh: bool,
    pub last_seen: Option<DateTime<Utc>>,
}

/// The engine's persistent state (windows, streaks, states, `since`, overrides), for
/// the daemon's state file. Opaque: only its JSON form is meant to be stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    targets: BTreeMap<String, TargetState>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// The target was never registered.
    #[error("unknown health target {0:?}")]
    UnknownTarget(String),
    #[error("invalid health settings: {0}")]
    InvalidParams(String),
}

/// Health of every target.
#[derive(Debug)]
pub struct Engine {
    peer_stale_after: TimeDelta,
    targets: BTreeMap<String, TargetHealth>,
}

impl Engine {
    pub fn new(params: EngineParams) -> Self {
        Engine {
            peer_stale_after: TimeDelta::from_std(params.peer_stale_after).unwrap_or(TimeDelta::MAX),
            targets: BTreeMap::new(),
        }
    }

    /// Adds a target (starting `unknown`), or gives an existing one new settings while
    /// keeping its state (windows shrink to their newest results).
    pub fn register(&mut self, target: &str, params: HealthParams) -> Result<(), HealthError> {
        params.validate()?;
        match self.targets.get_mut(target) {
            Some(t) => t.set_params(params),
            None => {
                self.targets
                    .insert(target.to_owned(), TargetHealth::new(params, TargetState::default()));
            }
        }
        Ok(())
    }

    /// Forgets every target not in `keep` (a reload removed them).
    pub fn retain(&mut self, keep: &BTreeSet<String>) {
        self.targets.retain(|name, _| keep.contains(name));
    }

    /// Resumes from a saved state: targets no longer configured are dropped, new ones
    /// start `unknown`, windows whose size changed keep their newest results.
    pub fn restore(
        state: EngineState,
        params: EngineParams,
        targets: impl IntoIterator<Item = (String, HealthParams)>,
    ) -> Result<Self, HealthError> {
        let mut engine = Engine::new(params);
        let mut saved = state.targets;
        for (name, p) in targets {
            p.validate()?;
            let st = saved.remove(&name).unwrap_or_default();
            engine.targets.insert(name, TargetHealth::new(p, st));
        }
        Ok(engine)
    }

    /// What the daemon writes to its state file.
    pub fn save(&self) -> EngineState {
        EngineState {
            targets: self
                .targets
                .iter()
                .map(|(name, t)| (name.clone(), t.state().clone()))
                .collect(),
        }
    }

    fn target_mut(&mut self, target: &str) -> Result<&mut TargetHealth, HealthError> {
        self.targets
            .get_mut(target)
            .ok_or_else(|| HealthError::UnknownTarget(target.to_owned()))
    }

    /// A result measured by this agent: one evaluation of the target.
    pub fn handle_observation(
        &mut self,
        target: &str,
        obs: &Observation,
        now: DateTime<Utc>,
    ) -> Result<Vec<Transition>, HealthError> {
        let stale = self.peer_stale_after;
        Ok(self.target_mut(target)?.handle_local(target, obs, now, stale))
    }

    /// A result measured by the peer: updates the peer's window only; it weighs in at
    /// the next local evaluation if still fresh then.
    pub fn handle_peer_observation(
        &mut self,
        target: &str,
        obs: &Observation,
        now: DateTime<Utc>,
    ) -> Result<(), HealthError> {
        self.target_mut(target)?.handle_peer(obs, now);
        Ok(())
    }

    /// A fleet vantage point's published window for the target (results oldest first,
    /// the reason of its newest failure): replaces what was known of it, dated `now` on
    /// this agent's clock. Like a peer's observation, it weighs in at the next local
    /// evaluation if still fresh then.
    pub fn handle_vantage_window(
        &mut self,
        target: &str,
        vantage: &str,
        results: &[bool],
        last_error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), HealthError> {
        self.target_mut(target)?
            .handle_vantage_window(vantage, results, last_error, now);
        Ok(())
    }

    /// This agent's own windows, for the other vantage points of a fleet: per target, its
    /// results (oldest first) and its newest failure.
    pub fn local_windows(&self) -> BTreeMap<String, (Vec<bool>, Option<String>)> {
        self.targets
            .iter()
            .map(|(name, t)| (name.clone(), t.local_window()))
            .collect()
    }

    /// A vantage point that is gone (its lease lapsed, it was taken over from): its
    /// windows stop counting at once rather than when they grow stale.
    pub fn forget_vantage(&mut self, vantage: &str) {
        for t in self.targets.values_mut() {
            t.forget_vantage(vantage);
        }
    }

    /// The vantage points other than this agent: when each was last heard from, and
    /// whether its windows still count (fresh) at `now`.
    pub fn vantages(&self, now: DateTime<Utc>) -> Vec<VantageStatus> {
        let mut seen: BTreeMap<&str, Option<DateTime<Utc>>> = BTreeMap::new();
        for t in self.targets.values() {
            for (v, at) in t.peers_seen() {
                let e = seen.entry(v).or_default();
                *e = (*e).max(at);
            }
        }
        seen.into_iter()
            .map(|(id, last_seen)| VantageStatus {
                id: id.to_string(),
                fresh: last_seen.is_some_and(|at| now.signed_duration_since(at) <= self.peer_stale_after),
                last_seen,
            })
            .collect()
    }

    /// Forces the target's effective state until `until` (`None` clears the override).
    /// The measured state keeps evolving underneath.
    pub fn set_override(
        &mut self,
        target: &str,
        forced: Option<(State, DateTime<Utc>)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Transition>, HealthError> {
        Ok(self.target_mut(target)?.set_override(target, forced, now))
    }

    /// Clears the overrides whose time is up, with the transitions that causes.
    pub fn poll_expired_overrides(&mut self, now: DateTime<Utc>) -> Vec<Transition> {
        self.targets
            .iter_mut()
            .filter_map(|(name, t)| t.expire_override(name, now))
            .collect()
    }

    /// When `poll_expired_overrides` next has something to do.
    pub fn next_override_expiry(&self) -> Option<DateTime<Utc>> {
        self.targets.values().filter_map(|t| t.override_until()).min()
    }

    /// Registered target names, sorted.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.targets.keys().map(String::as_str)
    }

    /// The effective state; `unknown` for a target that is not registered.
    pub fn state(&self, target: &str, now: DateTime<Utc>) -> State {
        self.targets.get(target).map_or(State::Unknown, |t| t.effective(now))
    }

    /// Every target, sorted by name.
    pub fn snapshot(&self, now: DateTime<Utc>) -> Vec<TargetStatus> {
        self.targets.iter().map(|(name, t)| t.status(name, now)).collect()
    }
}
