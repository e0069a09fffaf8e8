//! `dnsteer demo`: the failover walk-through ([`crate::demo`]), on a runtime of its own
//! whose threads log through the demo's own subscriber: quiet (warnings only) unless
//! `-v`, so the timeline on standard output stays readable.

use std::cell::RefCell;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tracing::dispatcher::{DefaultGuard, Dispatch};

use super::{GlobalArgs, LogFormat};
use crate::demo;

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How long each step may take before the demo gives up on it.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub step_timeout: Duration,
}

thread_local! {
    /// The demo's log subscriber on each thread of its runtime.
    static LOG_GUARD: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

pub async fn run(global: &GlobalArgs, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let dispatch = dispatch(global);
    let options = demo::Options {
        step_timeout: args.step_timeout,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("dnsteer-demo".into())
        .spawn(move || {
            let _ = tx.send(run_on_own_runtime(dispatch, options));
        })
        .context("cannot start the demo's thread")?;
    let passed = rx.await.context("the demo's thread died")??;
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn run_on_own_runtime(dispatch: Dispatch, options: demo::Options) -> anyhow::Result<bool> {
    let on_start = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            LOG_GUARD.with(|g| *g.borrow_mut() = Some(tracing::dispatcher::set_default(&on_start)))
        })
        .on_thread_stop(|| LOG_GUARD.with(|g| drop(g.borrow_mut().take())))
        .build()
        .context("cannot start the demo's runtime")?;
    let result = tracing::dispatcher::with_default(&dispatch, || runtime.block_on(demo::run(&options)));
    runtime.shutdown_timeout(Duration::from_secs(5));
    result
}

/// The global flags' log settings, one step quieter than the other commands: warnings
/// by default, `-v` for what the daemon does, `DNSTEER_LOG` as everywhere.
fn dispatch(global: &GlobalArgs) -> Dispatch {
    use tracing_subscriber::EnvFilter;
    let level = match i16::from(global.verbose) - i16::from(global.quiet) {
        i16::MIN..=-1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // Every alert is also logged as a warning; in the demo they are the expected events
    // the timeline already shows, so they are left to `-v`. The stand-ins' DNS servers
    // log each query at info: that is for `-vv`.
    let default = match level {
        "warn" => "warn,dnsteer::alert=error".to_string(),
        "info" => "info,hickory_server=warn".to_string(),
        other => other.to_string(),
    };
    let filter = EnvFilter::try_from_env("DNSTEER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match global.log_format {
        LogFormat::Text => Dispatch::new(builder.finish()),
        LogFormat::Json => Dispatch::new(builder.json().finish()),
    }
}
