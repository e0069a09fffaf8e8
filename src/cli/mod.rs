//! The command line: global flags, one subcommand per SPEC entry, exit codes.

mod check;
mod demo;
mod explain;
mod health_source;
mod plan;
mod probe;
mod rights;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "dnsteer", version, about = "Multi-provider DNS health-steering agent")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file.
    #[arg(long, global = true, default_value = "./dnsteer.yaml", value_name = "PATH")]
    pub config: PathBuf,
    /// Log line format (logs go to standard error).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log detail (repeat for less).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and validate the configuration and resolve every secret; touches no provider
    /// unless `--online`.
    Check(check::CheckArgs),
    /// Run probe rounds against every target and print each result.
    Probe(probe::ProbeArgs),
    /// Dry run: measure health, steer, read every provider, print the plan. Writes nothing.
    Plan(plan::PlanArgs),
    /// Compute the plan and push it to the providers.
    Apply(plan::ApplyArgs),
    /// The daemon: probe, decide, apply, serve the HTTP API, coordinate with its peer, alert.
    Run,
    /// A running daemon's view: role, targets, last plan, last apply.
    Status(run::StatusArgs),
    /// Why a record (`www A`) or a target (`check:NAME`) is where it is: its checks, the
    /// rule that holds it, and what would move it back. Writes nothing.
    Explain(explain::ExplainArgs),
    /// A self-contained failover walk-through on loopback, nothing installed: in-process DNS
    /// providers (PowerDNS API stand-ins) and HTTP endpoints, a region and a provider failing.
    Demo(demo::DemoArgs),
    /// Shell completions and the man page, generated from this command line's own
    /// definition (the Debian package ships them).
    #[command(hide = true)]
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: Generated,
}

#[derive(Debug, Subcommand)]
pub enum Generated {
    /// Completions for SHELL, on standard output.
    Completions { shell: clap_complete::Shell },
    /// The man page dnsteer(1), roff on standard output.
    Man,
}

fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    match args.what {
        Generated::Completions { shell } => clap_complete::generate(shell, &mut command, "dnsteer", &mut out),
        Generated::Man => clap_mangen::Man::new(command).render(&mut out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Logs go to standard error so that standard output stays clean for `--format json`.
pub fn init_logging(global: &GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let level = match i16::from(global.verbose) - i16::from(global.quiet) {
        i16::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // `-v` raises dnsteer's own level; dependencies stay at warnings unless
    // DNSTEER_LOG says otherwise (hyper and rustls at debug drown everything).
    let directives = if level == "info" || level == "warn" || level == "error" {
        level.to_string()
    } else {
        format!("warn,dnsteer={level},dnsteer_providers={level}")
    };
    let filter = EnvFilter::try_from_env("DNSTEER_LOG").unwrap_or_else(|_| EnvFilter::new(directives));
    // Colour only on a terminal (journald and log files keep escape codes verbatim),
    // and never when NO_COLOR is set.
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = match global.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(&cli.global, &args).await,
        Command::Probe(args) => probe::run(&cli.global, &args).await,
        Command::Plan(args) => plan::plan(&cli.global, &args).await,
        Command::Apply(args) => plan::apply(&cli.global, &args).await,
        Command::Run => run::run(&cli.global).await,
        Command::Status(args) => run::status(&cli.global, &args).await,
        Command::Explain(args) => explain::run(&cli.global, &args).await,
        Command::Demo(args) => demo::run(&cli.global, &args).await,
        Command::Generate(args) => generate(&args),
    }
}
