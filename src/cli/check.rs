//! `dnsteer check`: validate the configuration and resolve its secrets.

use std::process::ExitCode;

use super::GlobalArgs;
use crate::config::{self, ConfigErrors};
use crate::connect;

pub fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let path = &global.config;
    tracing::debug!(config = %path.display(), "checking the configuration");
    match config::load(path).and_then(adapters_build) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            let c = &loaded.config;
            println!(
                "configuration OK: {}, {}, {}, {} ({})",
                count(c.providers.len(), "provider"),
                count(c.zones.len(), "zone"),
                count(c.checks.len(), "check"),
                count(c.alerts.len(), "alert"),
                path.display()
            );
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

/// Builds every provider's adapter as `plan` and `run` do (nothing is sent: adapters
/// connect only when used), so that what they would refuse at start (an RFC 2136
/// server that is not an address, a TSIG secret that is not base64, AWS credentials
/// found nowhere) is refused here, at the provider's path and line.
fn adapters_build(loaded: config::Loaded) -> Result<config::Loaded, ConfigErrors> {
    let problems: Vec<_> = loaded
        .config
        .providers
        .iter()
        .filter_map(|(name, provider)| {
            let e = connect::provider(name, provider).err()?;
            Some(loaded.provider_problem(name, format!("{e:#}")))
        })
        .collect();
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(ConfigErrors(problems))
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
