//! Where `plan` and `apply` take health from: measured on the spot (each target probed
//! back to back), a running daemon's view (`--from`), or forced (`--assume`).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Args;

use crate::config::Config;
use crate::health::{Engine, EngineParams, Observation, State};
use crate::probe::{self, ProbeResult, Prober};
use crate::steer::HealthView;

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// Force a target's health: `check:NAME=up|down` or `provider:NAME=up|down` (repeatable).
    #[arg(long = "assume", value_name = "TARGET=up|down")]
    pub assume: Vec<String>,
    /// Take health from a running daemon (its HTTP API base URL) instead of probing.
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    /// Probe rounds per target when measuring (default: the largest of fall and rise).
    #[arg(long)]
    pub rounds: Option<u32>,
}

/// A target's verdict and how it was reached, for the plan's health table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verdict {
    pub name: String,
    pub state: State,
    /// `measured`, `assumed` or `daemon`.
    pub source: &'static str,
    pub failed: usize,
    pub probes: usize,
    pub last_error: Option<String>,
}

impl Verdict {
    /// How the verdict was reached, in a few words: the probes when measured, else the
    /// last error reported.
    pub fn detail(&self) -> String {
        match self.source {
            "measured" => format!(
                "{}/{} probes failed{}",
                self.failed,
                self.probes,
                self.last_error
                    .as_ref()
                    .map(|e| format!("; last: {e}"))
                    .unwrap_or_default()
            ),
            _ => self.last_error.clone().unwrap_or_default(),
        }
    }
}

fn parse_assume(spec: &str) -> anyhow::Result<(String, State)> {
    let (target, state) = spec
        .split_once('=')
        .with_context(|| format!("--assume {spec:?}: expected TARGET=up|down"))?;
    let state = match state {
        "up" => State::Healthy,
        "down" => State::Unhealthy,
        other => bail!("--assume {spec:?}: state must be up or down, not {other:?}"),
    };
    if !(target.starts_with("check:") || target.starts_with("provider:")) {
        bail!("--assume {spec:?}: a target is check:NAME or provider:NAME");
    }
    Ok((target.to_string(), state))
}

/// Every target's health, by the means the flags choose.
pub async fn resolve(config: &Config, args: &HealthArgs) -> anyhow::Result<(HealthView, Vec<Verdict>)> {
    let assumed: BTreeMap<String, State> = args
        .assume
        .iter()
        .map(|s| parse_assume(s))
        .collect::<anyhow::Result<_>>()?;
    let names = probe::target_names(config);
    for name in assumed.keys() {
        if !names.contains(name) {
            bail!("--assume {name}: no such target (targets: {})", names.join(", "));
        }
    }
    let mut verdicts = match &args.from {
        Some(url) => from_daemon(url).await?,
        None => {
            // A target whose health is assumed is not probed, so its addresses need not
            // resolve (a provider's nameservers may be names only the Internet knows).
            let targets = probe::targets_where(config, |name| !assumed.contains_key(name)).await?;
            measure(config, &targets.iter().collect::<Vec<_>>(), args.rounds).await
        }
    };
    for (name, state) in &assumed {
        verdicts.retain(|v| &v.name != name);
        verdicts.push(Verdict {
            name: name.clone(),
            state: *state,
            source: "assumed",
            failed: 0,
            probes: 0,
            last_error: None,
        });
    }
    verdicts.sort_by(|a, b| a.name.cmp(&b.name));
    let view = verdicts.iter().map(|v| (v.name.clone(), v.state)).collect();
    Ok((view, verdicts))
}

async fn measure(config: &Config, targets: &[&probe::Target], rounds: Option<u32>) -> Vec<Verdict> {
    let mut engine = Engine::new(EngineParams {
        peer_stale_after: std::time::Duration::from_secs(60),
    });
    let mut probers: Vec<Arc<dyn Prober>> = Vec::new();
    let mut most_rounds = 1;
    for t in targets {
        let health = config.target_health(&t.name);
        most_rounds = most_rounds.max(health.fall.max(health.rise));
        // Settings were validated when the configuration loaded.
        let _ = engine.register(&t.name, health.params());
        probers.extend(t.probers.iter().cloned());
    }
    let rounds = rounds.unwrap_or(most_rounds).max(1);
    tracing::info!(targets = targets.len(), rounds, "measuring health");
    let results = probe::probe_rounds(&probers, rounds, 16).await;
    let mut counts: BTreeMap<&str, (usize, usize, Option<String>)> = BTreeMap::new();
    for r in results.iter().flatten() {
        let entry = counts.entry(r.target.as_str()).or_default();
        entry.1 += 1;
        if !r.ok {
            entry.0 += 1;
            entry.2 = r.reason.clone();
        }
    }
    for (target, observations) in round_observations(&results, Utc::now()) {
        for o in observations {
            let _ = engine.handle_observation(&target, &o, o.at);
        }
    }
    let now = Utc::now();
    targets
        .iter()
        .map(|t| {
            let (failed, probes, last_error) = counts.get(t.name.as_str()).cloned().unwrap_or_default();
            Verdict {
                name: t.name.clone(),
                state: engine.state(&t.name, now),
                source: "measured",
                failed,
                probes,
                last_error,
            }
        })
        .collect()
}

/// One observation per target and round, from every prober's results (one list per
/// prober, rounds in order), each round [`ProbeResult::combine`]d as the daemon's
/// scheduler does: a provider is unhealthy when all of its nameservers fail, merely
/// degraded when some do, whatever their order.
fn round_observations(by_prober: &[Vec<ProbeResult>], at: DateTime<Utc>) -> BTreeMap<String, Vec<Observation>> {
    let mut rounds: BTreeMap<&str, Vec<Vec<ProbeResult>>> = BTreeMap::new();
    for results in by_prober {
        for (round, r) in results.iter().enumerate() {
            let target = rounds.entry(r.target.as_str()).or_default();
            if target.len() <= round {
                target.resize_with(round + 1, Vec::new);
            }
            target[round].push(r.clone());
        }
    }
    rounds
        .into_iter()
        .map(|(target, rounds)| {
            let observations = rounds
                .into_iter()
                .filter_map(ProbeResult::combine)
                .map(|r| Observation {
                    at,
                    ok: r.ok,
                    vantage: "cli".into(),
                    reason: r.reason,
                    latency: Some(r.latency),
                })
                .collect();
            (target.to_string(), observations)
        })
        .collect()
}

async fn from_daemon(url: &str) -> anyhow::Result<Vec<Verdict>> {
    #[derive(serde::Deserialize)]
    struct Status {
        targets: Vec<Target>,
    }
    #[derive(serde::Deserialize)]
    struct Target {
        name: String,
        state: State,
        #[serde(default)]
        last_error: Option<String>,
    }
    let status: Status = daemon_status(url).await?;
    Ok(status
        .targets
        .into_iter()
        .map(|t| Verdict {
            name: t.name,
            state: t.state,
            source: "daemon",
            failed: 0,
            probes: 0,
            last_error: t.last_error,
        })
        .collect())
}

/// A zone a running daemon holds, as its `/v1/status` says.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DaemonHold {
    pub zone: String,
    pub reason: String,
    pub checksum: String,
}

/// The zones a running daemon holds now: only the daemon knows what its flap history
/// holds (a dry run keeps no history of flips).
pub async fn daemon_holds(url: &str) -> anyhow::Result<Vec<DaemonHold>> {
    #[derive(serde::Deserialize)]
    struct Status {
        #[serde(default)]
        held: Vec<DaemonHold>,
    }
    let status: Status = daemon_status(url).await?;
    Ok(status.held)
}

/// A running daemon's `/v1/status`, read as `T`.
async fn daemon_status<T: serde::de::DeserializeOwned>(url: &str) -> anyhow::Result<T> {
    dnsteer_providers::http::install_crypto_provider();
    let status_url = format!("{}/v1/status", url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let resp = client
        .get(&status_url)
        .send()
        .await
        .with_context(|| format!("cannot reach the daemon at {status_url}"))?;
    if !resp.status().is_success() {
        bail!("{status_url} answered HTTP {}", resp.status());
    }
    resp.json()
        .await
        .with_context(|| format!("{status_url}: unreadable status"))
}

/// The health table printed above a plan.
pub fn render(verdicts: &[Verdict]) -> String {
    use std::fmt::Write;
    let width = verdicts.iter().map(|v| v.name.len()).max().unwrap_or(6).max(6);
    let mut out = format!("{:<width$}  {:<9}  {:<8}  DETAIL\n", "TARGET", "STATE", "SOURCE");
    for v in verdicts {
        let detail = v.detail();
        let _ = writeln!(
            out,
            "{:<width$}  {:<9}  {:<8}  {detail}",
            v.name,
            v.state.to_string(),
            v.source
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::probe::Outcome;

    fn results(target: &str, oks: &[bool]) -> Vec<ProbeResult> {
        oks.iter()
            .map(|ok| match ok {
                true => ProbeResult::success(target, Duration::from_millis(1)),
                false => ProbeResult::failure(target, Outcome::Timeout, "ns down", Duration::from_millis(9)),
            })
            .collect()
    }

    fn oks(by_prober: &[Vec<ProbeResult>]) -> Vec<bool> {
        round_observations(by_prober, Utc::now())["provider:x"]
            .iter()
            .map(|o| o.ok)
            .collect()
    }

    #[test]
    fn a_provider_round_fails_only_when_every_nameserver_fails_whatever_their_order() {
        let down = results("provider:x", &[false, false, false]);
        let up = results("provider:x", &[true, true, true]);
        let flaky = results("provider:x", &[true, false, false]);
        assert_eq!(oks(&[down.clone(), up.clone()]), vec![true; 3]);
        assert_eq!(oks(&[up, down.clone()]), vec![true; 3]);
        assert_eq!(oks(&[down.clone(), flaky.clone()]), vec![true, false, false]);
        assert_eq!(oks(&[flaky, down.clone()]), vec![true, false, false]);
        let all_down = round_observations(&[down.clone(), down], Utc::now());
        assert!(all_down["provider:x"].iter().all(|o| !o.ok));
        assert_eq!(all_down["provider:x"][0].reason.as_deref(), Some("ns down; ns down"));
    }
}
