//! `dnsteer check`: validate the configuration and resolve its secrets; with
//! `--online`, also reach every provider (credentials accepted, each zone readable,
//! the rights to write what dnsteer steers there, nameservers answering), the pair's
//! witness and the coordination service, one line each. A right the provider cannot
//! show without writing is a WARNING line, not a failure.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{rights, GlobalArgs};
use crate::config::{self, Config, ConfigErrors, CoordinationConfig};
use crate::{connect, probe};

/// How long one online check may take.
const ONLINE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also reach every provider, the pair's witness and the coordination service.
    #[arg(long)]
    pub online: bool,
}

pub async fn run(global: &GlobalArgs, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let path = &global.config;
    tracing::debug!(config = %path.display(), "checking the configuration");
    match config::load(path).and_then(adapters_build) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            let c = &loaded.config;
            if let Some(why) = state_folder_problem(&c.agent.state_file) {
                // A warning, not an error: the file may be checked on another machine
                // than the one the daemon runs on.
                eprintln!("warning: agent.state_file: {why}: `dnsteer run` would not start here");
            }
            println!(
                "configuration OK: {}, {}, {}, {} ({})",
                count(c.providers.len(), "provider"),
                count(c.zones.len(), "zone"),
                count(c.checks.len(), "check"),
                count(c.alerts.len(), "alert"),
                path.display()
            );
            if !args.online {
                return Ok(ExitCode::SUCCESS);
            }
            let failed = online(c).await?;
            if failed > 0 {
                eprintln!("{} online", count(failed, "problem"));
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for problem in &errors.0 {
                eprintln!("error: {problem}");
            }
            eprintln!("{} in {}", count(errors.0.len(), "problem"), path.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// One line per provider and zone, per provider's nameservers, for the witness and the
/// coordination service; returns how many failed.
async fn online(config: &Config) -> anyhow::Result<usize> {
    let providers = connect::providers(config)?;
    let mut failed = 0;
    let mut line = |ok: bool, text: String| {
        if ok {
            println!("ok      {text}");
        } else {
            failed += 1;
            println!("FAILED  {text}");
        }
    };
    for (zone, provider) in crate::reconcile::wanted(config) {
        let Some(adapter) = providers.get(&provider) else {
            continue;
        };
        let kind = rights::kind(config, &provider);
        match tokio::time::timeout(ONLINE_TIMEOUT, adapter.records(&zone)).await {
            Ok(Ok(sets)) => line(
                true,
                format!(
                    "{provider}: credentials accepted, zone {zone} readable ({} record sets)",
                    sets.len()
                ),
            ),
            Ok(Err(e)) => {
                line(
                    false,
                    format!(
                        "{provider}: zone {zone}: {e}{}",
                        rights::fix(&provider, kind, &zone, &e)
                    ),
                );
                // The rights of a key that cannot read, or at a zone that is not there,
                // tell nothing more.
                continue;
            }
            Err(_) => {
                line(
                    false,
                    format!("{provider}: zone {zone}: no answer within {ONLINE_TIMEOUT:?}"),
                );
                continue;
            }
        }
        let steered = rights::steered(config, &zone, &provider);
        let answer = match tokio::time::timeout(ONLINE_TIMEOUT, adapter.write_access(&zone, &steered)).await {
            Ok(answer) => answer,
            Err(_) => Err(dnsteer_providers::ProviderError::Transient {
                provider: provider.clone(),
                message: format!("no answer within {ONLINE_TIMEOUT:?}"),
            }),
        };
        match rights::verdict(&provider, kind, &zone, answer) {
            rights::Verdict::Ok(text) => line(true, text),
            rights::Verdict::Failed(text) => line(false, text),
            rights::Verdict::Warning(text) => println!("WARNING {text}"),
        }
    }
    // Nameservers the configuration omits are read from the providers, as at start.
    let mut config = config.clone();
    if let Err(e) = connect::discover_nameservers(&mut config, &providers).await {
        line(false, format!("nameservers: {e:#}"));
    }
    let config = &config;
    match probe::targets_from_config(config).await {
        Ok(targets) => {
            for t in targets.iter().filter(|t| t.name.starts_with("provider:")) {
                let results = probe::probe_rounds(&t.probers, 1, 8).await;
                let answered = results.iter().flatten().filter(|r| r.ok).count();
                let asked = results.iter().flatten().count();
                let reasons: Vec<String> = results.iter().flatten().filter_map(|r| r.reason.clone()).collect();
                line(
                    answered == asked && asked > 0,
                    format!(
                        "{}: {answered} of {asked} nameserver addresses answer{}",
                        &t.name["provider:".len()..],
                        if reasons.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", reasons.join("; "))
                        }
                    ),
                );
            }
        }
        Err(e) => line(false, format!("probe targets: {e:#}")),
    }
    if let Some((provider, zone)) = config::pair_witness(&config.agent, &config.providers, config.zones.iter()) {
        let readable = match providers.get(&provider) {
            Some(adapter) => tokio::time::timeout(ONLINE_TIMEOUT, adapter.records(&zone)).await,
            None => Ok(Err(dnsteer_providers::ProviderError::Rejected {
                provider: provider.clone(),
                message: "not configured".into(),
            })),
        };
        match readable {
            Ok(Ok(_)) => line(
                true,
                format!("witness {provider}: zone {zone} readable for the pair's lease record"),
            ),
            Ok(Err(e)) => line(false, format!("witness {provider}: zone {zone}: {e}")),
            Err(_) => line(
                false,
                format!("witness {provider}: no answer within {ONLINE_TIMEOUT:?}"),
            ),
        }
    }
    if let Some(CoordinationConfig::Etcd(etcd)) = &config.agent.coordination {
        let client = crate::daemon::etcd_client(etcd, ONLINE_TIMEOUT)?;
        match client.get("leader").await {
            Ok(kv) => {
                let leader = kv.map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
                line(
                    true,
                    format!(
                        "etcd {}: reachable under {} (leader: {})",
                        etcd.endpoints.join(", "),
                        etcd.prefix,
                        leader.as_deref().unwrap_or("none yet")
                    ),
                )
            }
            Err(e) => line(false, format!("etcd {}: {e}", etcd.endpoints.join(", "))),
        }
    }
    Ok(failed)
}

/// Builds every provider's adapter as `plan` and `run` do (nothing is sent: adapters
/// connect only when used), so that what they would refuse at start (an RFC 2136
/// server that is not an address, a TSIG secret that is not base64, AWS credentials
/// found nowhere) is refused here, at the provider's path and line.
/// Builds what `plan` and `run` build from the configuration before they touch the
/// network (every provider's adapter, the alert sinks, the etcd client), so that a
/// configuration `check` accepts is one they accept.
fn adapters_build(loaded: config::Loaded) -> Result<config::Loaded, ConfigErrors> {
    let mut problems: Vec<_> = loaded
        .config
        .providers
        .iter()
        .filter_map(|(name, provider)| {
            let e = connect::provider(name, provider).err()?;
            Some(loaded.provider_problem(name, format!("{e:#}")))
        })
        .collect();
    if let Err(e) = crate::alert::Alerter::new(&loaded.config.alerts, &loaded.config.agent.id) {
        problems.push(loaded.problem_at("alerts".into(), format!("{e:#}")));
    }
    if let Some(config::CoordinationConfig::Etcd(etcd)) = &loaded.config.agent.coordination {
        if let Err(e) = crate::daemon::etcd_client(etcd, std::time::Duration::from_secs(1)) {
            problems.push(loaded.problem_at("agent.coordination".into(), format!("{e:#}")));
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(ConfigErrors(problems))
    }
}

/// Why the daemon could not write its state file on this machine, if it could not.
fn state_folder_problem(state_file: &std::path::Path) -> Option<String> {
    let folder = match state_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    match std::fs::metadata(folder) {
        Err(e) => Some(format!("folder {}: {e}", folder.display())),
        Ok(m) if !m.is_dir() => Some(format!("{} is not a folder", folder.display())),
        Ok(m) if m.permissions().readonly() => Some(format!("folder {} is read-only", folder.display())),
        Ok(_) => None,
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
