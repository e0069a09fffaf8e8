//! `dnsteer run` (the daemon) and `dnsteer status` (a running daemon's view).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
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
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Redraw the status in place as it changes, until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
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
    if args.watch {
        return watch(&client, &status_url).await;
    }
    let status = match fetch(&client, &status_url).await {
        Ok(status) => status,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&status, Paint::for_stdout(), Utc::now()));
    Ok(ExitCode::SUCCESS)
}

async fn fetch(client: &reqwest::Client, status_url: &str) -> anyhow::Result<serde_json::Value> {
    match client.get(status_url).send().await {
        Ok(resp) if resp.status().is_success() => resp
            .json()
            .await
            .with_context(|| format!("{status_url}: unreadable status")),
        Ok(resp) => anyhow::bail!("{status_url} answered HTTP {}", resp.status()),
        Err(e) => anyhow::bail!("daemon unreachable at {status_url}: {e}"),
    }
}

/// How often `--watch` asks the daemon again.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Redraws the status in place until Ctrl-C (exit 0). A daemon out of reach is said on
/// screen and asked again: on-call watches through a restart.
async fn watch(client: &reqwest::Client, status_url: &str) -> anyhow::Result<ExitCode> {
    let paint = Paint::for_stdout();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut shown = String::new();
    loop {
        let now = Utc::now();
        let body = match fetch(client, status_url).await {
            Ok(status) => render(&status, paint, now),
            Err(e) => format!("{}\n", paint.bad(&format!("{e:#}"))),
        };
        if body != shown {
            let mut out = std::io::stdout().lock();
            if paint.tty {
                // Home and clear: the screen is redrawn in place, also over SSH.
                write!(out, "\x1b[H\x1b[2J")?;
            } else if !shown.is_empty() {
                writeln!(out)?;
            }
            writeln!(
                out,
                "{body}{}",
                paint.dim(&format!("{status_url} at {} — Ctrl-C to quit", now.format("%H:%M:%S")))
            )?;
            out.flush()?;
            shown = body;
        }
        tokio::select! {
            _ = &mut interrupted => {
                println!();
                return Ok(ExitCode::SUCCESS);
            }
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
    }
}

/// Colour for a terminal, only when stdout is one and `NO_COLOR` is not set.
#[derive(Clone, Copy)]
struct Paint {
    tty: bool,
    colour: bool,
}

impl Paint {
    fn for_stdout() -> Self {
        let tty = std::io::stdout().is_terminal();
        Self {
            tty,
            colour: tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn code(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn bad(&self, text: &str) -> String {
        self.code("1;31", text)
    }

    fn dim(&self, text: &str) -> String {
        self.code("2", text)
    }

    /// A state word, padded before colouring so that columns stay aligned.
    fn state(&self, state: &str, width: usize) -> String {
        let padded = format!("{state:<width$}");
        match state {
            "healthy" => self.code("32", &padded),
            "unhealthy" => self.code("1;31", &padded),
            _ => self.code("33", &padded),
        }
    }
}

/// A time as `HH:MM:SS (Ns ago)`.
fn ago(v: &serde_json::Value, now: DateTime<Utc>) -> String {
    let Some(at) = v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) else {
        return "-".into();
    };
    let secs = (now - at.to_utc()).num_seconds().max(0);
    let rel = match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    };
    format!("{} ({rel} ago)", at.format("%H:%M:%S"))
}

/// The status as text: the page's content in a smaller form.
fn render(status: &serde_json::Value, paint: Paint, now: DateTime<Utc>) -> String {
    let mut o = String::new();
    let agent = &status["agent"];
    let writes = if status["dry_run"] == true {
        ", dry run".to_string()
    } else if status["paused"] == true {
        let pending = match status["pending"].as_object() {
            Some(p) => format!(
                " ({} changes waiting, plan {})",
                p.get("changes").cloned().unwrap_or_default(),
                p.get("checksum").and_then(|c| c.as_str()).unwrap_or("?")
            ),
            None => String::new(),
        };
        format!(", {}{pending}", paint.bad("writes PAUSED"))
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "agent {} — {} (term {}){writes}{}",
        agent["id"].as_str().unwrap_or("?"),
        agent["role"].as_str().unwrap_or("?"),
        agent["term"],
        match status["not_ready"].as_str() {
            Some(why) if status["ready"] == false => format!(", {}: {why}", paint.bad("NOT READY")),
            _ if status["ready"] == false => format!(", {}", paint.bad("NOT READY")),
            _ => String::new(),
        },
    );
    let _ = writeln!(
        o,
        "{:<28} {:<10} {:>7}  {:<20} LAST ERROR",
        "TARGET", "STATE", "FAILED", "SINCE"
    );
    for t in status["targets"].as_array().into_iter().flatten() {
        let over = if t["override_until"].is_null() {
            String::new()
        } else {
            format!(
                " [override until {}, measured {}]",
                ago(&t["override_until"], now).split(' ').next().unwrap_or("?"),
                t["measured_state"].as_str().unwrap_or("?")
            )
        };
        // What the other vantage points see, where several count.
        let views: Vec<String> = t["vantage"].as_array().map_or_else(Vec::new, |vs| {
            vs.iter()
                .map(|v| {
                    format!(
                        "{} {:.0}%",
                        v["id"].as_str().unwrap_or("?"),
                        v["failure_ratio"].as_f64().unwrap_or(0.0) * 100.0
                    )
                })
                .collect()
        });
        let others = if views.is_empty() {
            String::new()
        } else {
            format!(" [elsewhere: {}]", views.join(", "))
        };
        let _ = writeln!(
            o,
            "{:<28} {} {:>6.0}%  {:<20} {}{over}{others}",
            t["name"].as_str().unwrap_or("?"),
            paint.state(t["state"].as_str().unwrap_or("?"), 10),
            t["failure_ratio"].as_f64().unwrap_or(0.0) * 100.0,
            ago(&t["since"], now),
            t["last_error"].as_str().unwrap_or(""),
        );
    }
    let providers = &status["providers"];
    for (kind, key) in [("read", "read_errors"), ("write", "write_errors")] {
        for (name, e) in providers[key].as_object().into_iter().flatten() {
            let _ = writeln!(
                o,
                "{} {name}: {kind} failing since {}: {}",
                paint.bad("provider"),
                ago(&e["since"], now),
                e["error"].as_str().unwrap_or("?")
            );
        }
    }
    for (name, b) in providers["backoff"].as_object().into_iter().flatten() {
        let _ = writeln!(
            o,
            "provider {name}: backing off until {}: {}",
            ago(&b["until"], now).split(' ').next().unwrap_or("?"),
            b["reason"].as_str().unwrap_or("?")
        );
    }
    for h in status["held"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "{} {}: {} — approve: POST /v1/approve {{\"checksum\": \"{}\"}}",
            paint.bad("HELD"),
            h["zone"].as_str().unwrap_or("?"),
            h["reason"].as_str().unwrap_or("?"),
            h["checksum"].as_str().unwrap_or("?")
        );
    }
    for v in status["vantage"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "vantage {}: {} (last seen {})",
            v["id"].as_str().unwrap_or("?"),
            if v["fresh"] == true { "fresh" } else { "STALE" },
            ago(&v["last_seen"], now)
        );
    }
    match status["last_apply"].as_object() {
        Some(a) => {
            let _ = writeln!(
                o,
                "last apply: {} — {} ({} changes)",
                ago(a.get("at").unwrap_or(&serde_json::Value::Null), now),
                if a.get("ok") == Some(&serde_json::Value::Bool(true)) {
                    "ok".to_string()
                } else {
                    paint.bad("FAILED")
                },
                a.get("changes").cloned().unwrap_or_default()
            );
        }
        None => o.push_str("last apply: none\n"),
    }
    o
}
