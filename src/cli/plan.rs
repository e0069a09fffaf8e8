//! `dnsteer plan` (a dry run that writes nothing) and `dnsteer apply` (the same plan,
//! confirmed, then pushed provider by provider; zones the safety limits hold wait for
//! `--force`).

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::health_source::{self, HealthArgs, Verdict};
use super::GlobalArgs;
use crate::config;
use crate::connect::{self, Providers};
use crate::decide::{self, Decision, FlapHistory};
use crate::plan::{render_json, render_table};
use crate::reconcile::{self, ApplyReport};
use crate::steer::Note;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub health: HealthArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Apply without asking.
    #[arg(long)]
    pub yes: bool,
    /// Apply the held zones too (deletes, NS sets under min_providers, changes the
    /// configuration did not ask for, edits over max_change_ratio, flapping records).
    #[arg(long)]
    pub force: bool,
    /// Apply only if the plan's checksum is still this one (as printed by `plan`).
    #[arg(long, value_name = "C")]
    pub checksum: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub health: HealthArgs,
}

pub(super) struct Computed {
    pub(super) config: config::Config,
    pub(super) providers: Providers,
    pub(super) decision: Decision,
    pub(super) verdicts: Vec<Verdict>,
    /// What each provider held when read (for `explain`).
    pub(super) live: reconcile::Live,
}

/// How long `plan` waits for one provider's records: a provider that does not answer
/// is reported as unread rather than holding the plan of every other one.
const READ_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) async fn compute(global: &GlobalArgs, health: &HealthArgs) -> anyhow::Result<Computed> {
    let loaded = config::load(&global.config)
        .map_err(|e| anyhow::anyhow!("invalid configuration {}:\n{e}", global.config.display()))?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let mut config = loaded.config;
    let providers = connect::providers(&config)?;
    connect::discover_nameservers(&mut config, &providers).await?;
    let (view, verdicts) = health_source::resolve(&config, health).await?;
    let live = reconcile::read_live(&config, &providers, READ_DEADLINE).await;
    for warning in decide::live_ttl_warnings(&config, &live) {
        eprintln!("warning: {warning}");
    }
    // The command line keeps no history of flips: flap damping is the daemon's.
    let decision = decide::decide(
        &config,
        &providers,
        &view,
        &live,
        &FlapHistory::default(),
        chrono::Utc::now(),
    );
    Ok(Computed {
        config,
        providers,
        decision,
        verdicts,
        live,
    })
}

fn render_notes(notes: &[(dnsteer_providers::ZoneName, Note)]) -> Vec<String> {
    notes
        .iter()
        .filter_map(|(zone, note)| match note {
            Note::AllPoolsDown { record, rtype } => Some(format!(
                "{zone}: every pool of {record} {rtype} is unhealthy: keeping its published values (fail-open)"
            )),
            Note::DelegationHeld { reason } => Some(format!("{zone}: {reason}")),
            Note::ProviderOut { provider, reason } => {
                Some(format!("{zone}: {provider} is out of the delegation: {reason}"))
            }
            Note::ProviderDrift { provider } => Some(format!(
                "{zone}: {provider} is healthy but its records differ: repaired before it rejoins the delegation"
            )),
            Note::FailedOver { .. } => None, // the change's reason says it
        })
        .collect()
}

fn json(c: &Computed) -> serde_json::Value {
    let mut value = render_json(&c.decision.plan, &c.decision.held);
    value["targets"] = serde_json::to_value(&c.verdicts).expect("verdicts serialise");
    value["notes"] = serde_json::to_value(render_notes(&c.decision.notes)).expect("notes serialise");
    value["left_out"] = serde_json::to_value(&c.decision.left_out).expect("left-out providers serialise");
    value
}

fn print_table(c: &Computed) {
    let mut out = String::new();
    out.push_str(&health_source::render(&c.verdicts));
    out.push('\n');
    for note in render_notes(&c.decision.notes) {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push_str(&render_table(&c.decision.plan, &c.decision.held, &c.decision.left_out));
    print!("{out}");
}

pub async fn plan(global: &GlobalArgs, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let c = compute(global, &args.health).await?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&json(&c))?),
        Format::Table => print_table(&c),
    }
    Ok(ExitCode::from(if !c.decision.plan.errors.is_empty() {
        1
    } else if c.decision.plan.is_empty() {
        0
    } else {
        2
    }))
}

pub async fn apply(global: &GlobalArgs, args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let c = compute(global, &args.health).await?;
    let plan = &c.decision.plan;
    // With --format json, standard output holds exactly one JSON document (the plan and
    // what was applied); every message goes to standard error.
    let json_out = args.format == Format::Json;
    let done = |reports: Option<&[ApplyReport]>, code: u8| -> anyhow::Result<ExitCode> {
        if json_out {
            let mut value = json(&c);
            value["applied"] = match reports {
                Some(r) => serde_json::Value::Array(r.iter().map(report_json).collect()),
                None => serde_json::Value::Null,
            };
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else if let Some(r) = reports {
            print_reports(r);
        }
        Ok(ExitCode::from(code))
    };
    if !json_out {
        print_table(&c);
    }
    if let Some(expected) = &args.checksum {
        if *expected != plan.checksum() {
            eprintln!(
                "error: the plan changed since it was reviewed (checksum now {}, expected {expected}); nothing written",
                plan.checksum()
            );
            return done(None, 1);
        }
    }
    if plan.is_empty() {
        eprintln!("Nothing to apply.");
        return done(None, if plan.errors.is_empty() { 0 } else { 1 });
    }
    // --force approves the whole plan; without it the held zones wait and the others
    // go ahead.
    let approved = if args.force {
        BTreeSet::from([plan.checksum()])
    } else {
        BTreeSet::new()
    };
    let writable = c.decision.writable(&approved);
    let held: Vec<_> = if args.force {
        Vec::new()
    } else {
        c.decision.held.iter().collect()
    };
    for h in &held {
        eprintln!(
            "held: {} is not written ({}). To write it: dnsteer apply --force, or POST /v1/approve {{\"checksum\": \"{}\"}} to the daemon",
            h.zone,
            h.reasons.join("; "),
            h.checksum
        );
    }
    if writable.is_empty() {
        eprintln!("Every change is held: nothing written.");
        return done(None, 1);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("error: no terminal on standard input to confirm, and no --yes: nothing written");
            return done(None, 1);
        }
        let held_note = if held.is_empty() {
            String::new()
        } else {
            format!(" (held zones left out: {})", held.len())
        };
        eprint!("Apply these {} changes{held_note}? [y/N] ", writable.changes.len());
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .context("reading the answer")?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Not applied: nothing written.");
            return done(None, 1);
        }
    }
    if let Some(warning) = running_daemon(&c.config, args.health.from.as_deref()).await {
        eprintln!("{warning}");
    }
    let started = chrono::Utc::now();
    let reports = reconcile::apply(&writable, &c.providers, &reconcile::Fences::new(), reconcile::always()).await;
    // A manual apply is audited like the daemon's, beside the same state file.
    let audit = crate::daemon::Audit::new(c.config.agent.state_file.with_extension("audit.jsonl"));
    let who = format!("{} (dnsteer apply)", c.config.agent.id);
    for r in &reports {
        let changes: Vec<_> = writable
            .changes
            .iter()
            .filter(|ch| ch.zone == r.zone && ch.provider == r.provider)
            .cloned()
            .collect();
        audit.record(&who, 0, r, &changes, started, chrono::Utc::now());
    }
    let ok = reports.iter().all(ApplyReport::ok) && plan.errors.is_empty() && held.is_empty();
    done(Some(&reports), if ok { 0 } else { 1 })
}

/// A warning when a daemon runs for this configuration (it answers at `agent.listen`,
/// or at `--from`): it steers by health and will undo a manual change at its next pass.
async fn running_daemon(config: &crate::config::Config, from: Option<&str>) -> Option<String> {
    let url = from
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{}", config.agent.listen));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(500))
        .build()
        .ok()?;
    let resp = client.get(format!("{url}/healthz")).send().await.ok()?;
    resp.status().is_success().then(|| {
        format!(
            "warning: a dnsteer daemon answers at {url}: it steers by health and will undo this change at its next \
             pass. To hold a target where you want it, use POST {url}/v1/override {{\"target\", \"state\", \"for\"}}, \
             or pause it (POST {url}/v1/pause)."
        )
    })
}

fn report_json(r: &ApplyReport) -> serde_json::Value {
    serde_json::json!({
        "zone": r.zone.as_str(), "provider": r.provider, "planned": r.planned,
        "applied": r.applied, "ok": r.ok(), "error": r.error.as_ref().map(ToString::to_string),
        "may_be_partial": r.may_be_partial,
    })
}

fn print_reports(reports: &[ApplyReport]) {
    for r in reports {
        match &r.error {
            None => println!(
                "applied  {} @ {}: {} of {} changes",
                r.zone, r.provider, r.applied, r.planned
            ),
            Some(e) if r.may_be_partial => println!(
                "FAILED   {} @ {}: {} of {} changes applied, {} not known (the provider does not apply a batch \
                 atomically: read it again): {e}",
                r.zone,
                r.provider,
                r.applied,
                r.planned,
                r.planned - r.applied
            ),
            Some(e) => println!(
                "FAILED   {} @ {}: {} of {} changes applied, {} not applied: {e}",
                r.zone,
                r.provider,
                r.applied,
                r.planned,
                r.planned - r.applied
            ),
        }
    }
}
