//! `dnsteer run` (the daemon) and `dnsteer status` (a running daemon's view).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::GlobalArgs;
use crate::daemon;

pub async fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    daemon::run(&global.config, daemon::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The daemon's HTTP API (default: agent.listen from the configuration).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Print the raw JSON of /v1/status.
    #[arg(long)]
    pub json: bool,
}

pub async fn status(global: &GlobalArgs, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let loaded = crate::config::load(&global.config).map_err(|e| {
                anyhow::anyhow!(
                    "no --url, and the configuration {} is invalid:\n{e}",
                    global.config.display()
                )
            })?;
            format!("http://{}", loaded.config.agent.listen)
        }
    };
    dnsteer_providers::http::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    let status_url = format!("{}/v1/status", url.trim_end_matches('/'));
    let status: serde_json::Value = match client.get(&status_url).send().await {
        Ok(resp) if resp.status().is_success() => resp
            .json()
            .await
            .with_context(|| format!("{status_url}: unreadable status"))?,
        Ok(resp) => {
            eprintln!("error: {status_url} answered HTTP {}", resp.status());
            return Ok(ExitCode::from(1));
        }
        Err(e) => {
            eprintln!("error: daemon unreachable at {status_url}: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    let agent = &status["agent"];
    println!(
        "agent {} — {} (term {}){}{}",
        agent["id"].as_str().unwrap_or("?"),
        agent["role"].as_str().unwrap_or("?"),
        agent["term"],
        if status["paused"] == true {
            ", writes PAUSED"
        } else {
            ""
        },
        if status["dry_run"] == true { ", dry run" } else { "" },
    );
    println!(
        "{:<28} {:<10} {:>7}  {:<25} LAST ERROR",
        "TARGET", "STATE", "FAILED", "SINCE"
    );
    for t in status["targets"].as_array().into_iter().flatten() {
        println!(
            "{:<28} {:<10} {:>6.0}%  {:<25} {}",
            t["name"].as_str().unwrap_or("?"),
            t["state"].as_str().unwrap_or("?"),
            t["failure_ratio"].as_f64().unwrap_or(0.0) * 100.0,
            t["since"].as_str().unwrap_or("-"),
            t["last_error"].as_str().unwrap_or(""),
        );
    }
    match status["last_apply"].as_object() {
        Some(a) => println!(
            "last apply: {} — {} ({} changes)",
            a.get("at").and_then(|v| v.as_str()).unwrap_or("?"),
            if a.get("ok") == Some(&serde_json::Value::Bool(true)) {
                "ok"
            } else {
                "FAILED"
            },
            a.get("changes").cloned().unwrap_or_default()
        ),
        None => println!("last apply: none"),
    }
    Ok(ExitCode::SUCCESS)
}
