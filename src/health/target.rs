//! One target's state machine: windows per vantage point, streaks, measured state,
//! hold, and the operator override layered on top.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::window::{Verdict, Window};
use super::{HealthParams, Layer, Observation, State, TargetStatus, Transition, VantageView};

/// A run of consecutive evaluations with the same verdict. Failing and passing
/// streaks are counted apart: a failing evaluation ends a passing streak and the
/// reverse; an evaluation that is neither ends both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Streak {
    #[default]
    None,
    Failing {
        count: u32,
        since: DateTime<Utc>,
    },
    Passing {
        count: u32,
        since: DateTime<Utc>,
    },
}

/// An operator's forced state, active while `now < until`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Override {
    state: State,
    until: DateTime<Utc>,
    /// When the forced state took effect (kept when the same state is extended).
    set_at: DateTime<Utc>,
}

/// Everything about one target that survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TargetState {
    measured: State,
    /// When the measured state was entered; `None` while unknown since the start.
    since: Option<DateTime<Utc>>,
    streak: Streak,
    /// Local results handled since the measured state was entered.
    results_in_state: u32,
    local: Window,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    peers: BTreeMap<String, Window>,
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    overridden: Option<Override>,
}

/// How the vantage points voted at one evaluation, for the transition's reason.
#[derive(Debug, Clone, Copy)]
struct Tally {
    failing: usize,
    fresh: usize,
    quorum: usize,
}

#[derive(Debug)]
pub(crate) struct TargetHealth {
    params: HealthParams,
    hold: TimeDelta,
    st: TargetState,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl TargetHealth {
    pub(crate) fn new(params: HealthParams, st: TargetState) -> Self {
        let mut t = TargetHealth {
            hold: TimeDelta::zero(),
            params: params.clone(),
            st,
        };
        t.set_params(params);
        t
    }

    pub(crate) fn state(&self) -> &TargetState {
        &self.st
    }

    /// New parameters keep the state; windows shrink to the newest results.
    pub(crate) fn set_params(&mut self, params: HealthParams) {
        self.hold = TimeDelta::from_std(params.hold).unwrap_or(TimeDelta::MAX);
        self.st.local.resize(params.window);
        for w in self.st.peers.values_mut() {
            w.resize(params.window);
        }
        self.params = params;
    }

    fn active_override(&self, now: DateTime<Utc>) -> Option<&Override> {
        self.st.overridden.as_ref().filter(|o| now < o.until)
    }

    pub(crate) fn effective(&self, now: DateTime<Utc>) -> State {
        self.active_override(now).map_or(self.st.measured, |o| o.state)
    }

    pub(crate) fn override_until(&self) -> Option<DateTime<Utc>> {
        self.st.overridden.as_ref().map(|o| o.until)
    }

    /// Drops an override whose time is up; a transition if that changes the
    /// effective state.
    pub(crate) fn expire_override(&mut self, name: &str, now: DateTime<Utc>) -> Option<Transition> {
        let o = self.st.overridden.take_if(|o| now >= o.until)?;
        let to = self.st.measured;
        (o.state != to).then(|| Transition {
            target: name.to_owned(),
            layer: Layer::Effective,
            from: o.state,
            to,
            at: now,
            reason: format!(
                "operator override {} expired at {}; measured state is {to}{}",
                o.state.verb(),
                rfc3339(o.until),
                self.measured_since(),
            ),
        })
    }

    fn measured_since(&self) -> String {
        self.st
            .since
            .map(|s| format!(" since {}", rfc3339(s)))
            .unwrap_or_default()
    }

    pub(crate) fn set_override(
        &mut self,
        name: &str,
        forced: Option<(State, DateTime<Utc>)>,
        now: DateTime<Utc>,
    ) -> Vec<Transition> {
        let mut out: Vec<Transition> = self.expire_override(name, now).into_iter().collect();
        let from = self.effective(now);
        let previous = self.st.overridden.take();
        let reason = match forced {
            Some((state, until)) if now < until => {
                let set_at = match previous {
                    Some(p) if p.state == state => p.set_at,
                    _ => now,
                };
                self.st.overridden = Some(Override { state, until, set_at });
                format!("operator override {} until {}", state.verb(), rfc3339(until))
            }
            _ => format!(
                "operator override cleared; measured state is {}{}",
                self.st.measured,
                self.measured_since()
            ),
        };
        let to = self.effective(now);
        if from != to {
            out.push(Transition {
                target: name.to_owned(),
                layer: Layer::Effective,
                from,
                to,
                at: now,
                reason,
            });
        }
        out
    }

    /// A peer's result is dated when it arrives: freshness is judged on this agent's
    /// clock alone, whatever the peer's says.
    pub(crate) fn handle_peer(&mut self, obs: &Observation, now: DateTime<Utc>) {
        let w = self.st.peers.entry(obs.vantage.clone()).or_default();
        w.push(obs.ok, obs.reason.as_deref(), now, now, self.params.window);
    }

    /// A fleet vantage point's whole window, dated on receipt like a peer's result.
    pub(crate) fn handle_vantage_window(
        &mut self,
        vantage: &str,
        results: &[bool],
        last_error: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let w = self.st.peers.entry(vantage.to_owned()).or_default();
        w.replace(results, last_error, now, self.params.window);
    }

    /// Each peer vantage point with a window here, and when its newest result arrived.
    pub(crate) fn peers_seen(&self) -> impl Iterator<Item = (&str, Option<DateTime<Utc>>)> + '_ {
        self.st.peers.iter().map(|(v, w)| (v.as_str(), w.last_at()))
    }

    /// This agent's own window: its results (oldest first) and its newest failure.
    pub(crate) fn local_window(&self) -> (Vec<bool>, Option<String>) {
        (self.st.local.results(), self.st.local.last_error().map(str::to_owned))
    }

    pub(crate) fn forget_vantage(&mut self, vantage: &str) {
        self.st.peers.remove(vantage);
    }

    /// One local result: expire the override if due, then one evaluation.
    pub(crate) fn handle_local(
        &mut self,
        name: &str,
        obs: &Observation,
        now: DateTime<Utc>,
        peer_stale_after: TimeDelta,
    ) -> Vec<Transition> {
        let mut out: Vec<Transition> = self.expire_override(name, now).into_iter().collect();
        self.st
            .local
            .push(obs.ok, obs.reason.as_deref(), obs.at, now, self.params.window);
        self.st.results_in_state = self.st.results_in_state.saturating_add(1);
        // A peer that has gone quiet is forgotten: its old results must not be mixed
        // with new ones should it come back.
        self.st.peers.retain(|_, w| w.is_fresh(now, peer_stale_after));
        out.extend(self.evaluate(name, now));
        out
    }

    /// Failing iff at least `quorum` of the fresh vantage points with a verdict fail;
    /// passing iff the local window passes and the ones not failing would make a quorum
    /// on their own (so that for the pair one failing vantage point blocks recovery, as
    /// a split, while in a fleet a lone dissenter does not); neither otherwise.
    fn combined_verdict(&self) -> (Verdict, Tally) {
        // The local window has just received a result, so it always has a verdict.
        let local = self.st.local.verdict(&self.params).unwrap_or(Verdict::Neither);
        let peers = self.st.peers.values().filter_map(|w| w.verdict(&self.params));
        let (mut fresh, mut failing) = (0, 0);
        for v in std::iter::once(local).chain(peers) {
            fresh += 1;
            failing += usize::from(v == Verdict::Failing);
        }
        let tally = Tally {
            failing,
            fresh,
            quorum: self.params.quorum.of(fresh),
        };
        let verdict = if failing >= tally.quorum {
            Verdict::Failing
        } else if local == Verdict::Passing && fresh - failing >= tally.quorum {
            Verdict::Passing
        } else {
            Verdict::Neither
        };
        (verdict, tally)
    }

    fn evaluate(&mut self, name: &str, now: DateTime<Utc>) -> Option<Transition> {
        let (verdict, tally) = self.combined_verdict();
        self.st.streak = match (verdict, self.st.streak) {
            (Verdict::Failing, Streak::Failing { count, since }) => Streak::Failing {
                count: count.saturating_add(1),
                since,
            },
            (Verdict::Failing, _) => Streak::Failing { count: 1, since: now },
            (Verdict::Passing, Streak::Passing { count, since }) => Streak::Passing {
                count: count.saturating_add(1),
                since,
            },
            (Verdict::Passing, _) => Streak::Passing { count: 1, since: now },
            (Verdict::Neither, _) => Streak::None,
        };
        // Unknown (the only state without a `since`) has no hold.
        let held = self.st.since.is_none_or(|s| now.signed_duration_since(s) >= self.hold);
        let refilled = self.st.results_in_state as usize >= self.params.window;
        let (to, count, since) = match (self.st.measured, self.st.streak) {
            (State::Unknown | State::Healthy, Streak::Failing { count, since })
                if count >= self.params.fall && held =>
            {
                (State::Unhealthy, count, since)
            }
            (State::Unknown, Streak::Passing { count, since }) if count >= self.params.rise => {
                (State::Healthy, count, since)
            }
            (State::Unhealthy, Streak::Passing { count, since }) if count >= self.params.rise && held && refilled => {
                (State::Healthy, count, since)
            }
            _ => return None,
        };
        let from = self.st.measured;
        let overridden = self.active_override(now).is_some();
        let mut reason = format!(
            "{} for {count} evaluation{} since {}",
            self.st.local.describe(),
            plural(count),
            rfc3339(since)
        );
        for (vantage, w) in &self.st.peers {
            reason.push_str(&format!("; peer {vantage}: {}", w.describe()));
        }
        if tally.fresh > 1 {
            reason.push_str(&format!(
                "; {} of {} vantage points failing, quorum {} ({})",
                tally.failing, tally.fresh, tally.quorum, self.params.quorum
            ));
        }
        if overridden {
            reason.push_str("; effective state still held by an operator override");
        }
        self.st.measured = to;
        self.st.since = Some(now);
        self.st.results_in_state = 0;
        Some(Transition {
            target: name.to_owned(),
            layer: if overridden { Layer::Measured } else { Layer::Effective },
            from,
            to,
            at: now,
            reason,
        })
    }

    pub(crate) fn status(&self, name: &str, now: DateTime<Utc>) -> TargetStatus {
        let active = self.active_override(now);
        TargetStatus {
            name: name.to_owned(),
            state: self.effective(now),
            measured_state: self.st.measured,
            failure_ratio: self.st.local.failure_ratio(),
            since: active.map(|o| o.set_at).or(self.st.since),
            last_error: self.st.local.last_error().map(str::to_owned),
            override_until: active.map(|o| o.until),
            vantage: self
                .st
                .peers
                .iter()
                .map(|(id, w)| VantageView {
                    id: id.clone(),
                    failure_ratio: w.failure_ratio(),
                    last_error: w.last_error().map(str::to_owned),
                    last_seen: w.last_at(),
                })
                .collect(),
        }
    }
}
