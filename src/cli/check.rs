//! `dnsteer check`: validate the configuration and resolve its secrets.

use std::process::ExitCode;

use super::GlobalArgs;
use crate::config;

pub fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let path = &global.config;
    tracing::debug!(config = %path.display(), "checking the configuration");
    match config::load(path) {
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

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
