//! `dnsteer probe`: run probe rounds against every target and print each result.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::config;
use crate::connect;
use crate::probe;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Probe rounds per target.
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
}

pub async fn run(global: &GlobalArgs, args: &ProbeArgs) -> anyhow::Result<ExitCode> {
    let loaded = config::load(&global.config)
        .map_err(|e| anyhow::anyhow!("invalid configuration {}:\n{e}", global.config.display()))?;
    let mut config = loaded.config;
    let providers = connect::providers(&config)?;
    connect::discover_nameservers(&mut config, &providers).await?;
    let targets = probe::targets_from_config(&config).await?;
    let probers: Vec<_> = targets.iter().flat_map(|t| t.probers.iter().cloned()).collect();
    let mut results = probe::probe_rounds(&probers, args.rounds.max(1), 16).await.concat();
    results.sort_by(|a, b| a.target.cmp(&b.target));
    let width = results.iter().map(|r| r.target.len()).max().unwrap_or(6).max(6);
    println!("{:<width$}  {:<18}  {:>9}  REASON", "TARGET", "RESULT", "LATENCY");
    for r in &results {
        let result = if r.ok {
            "ok".to_string()
        } else {
            r.class.as_str().to_string()
        };
        let detail = match (&r.reason, r.serial) {
            (Some(reason), _) => reason.clone(),
            (None, Some(serial)) => format!("serial {serial}"),
            (None, None) => String::new(),
        };
        println!(
            "{:<width$}  {:<18}  {:>7.1}ms  {detail}",
            r.target,
            result,
            r.latency.as_secs_f64() * 1000.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
