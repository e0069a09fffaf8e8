//! `dnsteer explain NAME`: why a record (`www A`) or a target (`check:web-us`) is where
//! it is, from a dry run (or the daemon's health with `--from`, or `--assume`): the
//! checks and their windows, the rule that holds it (fail-open, unknown, held, hold
//! time, min_providers) and what would move it back.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use dnsteer_providers::RecordSet;

use super::health_source::{DaemonHold, HealthArgs};
use super::plan::{compute, Computed};
use super::GlobalArgs;
use crate::config::{RecordConfig, ZoneConfig};
use crate::health::State;
use crate::steer::Note;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A record, `NAME TYPE` (`www A`, `www.example.test. A`; without a type, every type
    /// of that name), or a target (`check:NAME`, `provider:NAME`).
    #[arg(required = true, num_args = 1..=2, value_name = "NAME")]
    pub name: Vec<String>,
    #[command(flatten)]
    pub health: HealthArgs,
}

pub async fn run(global: &GlobalArgs, args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let c = compute(global, &args.health).await?;
    let daemon_held = match &args.health.from {
        Some(url) => super::health_source::daemon_holds(url).await?,
        None => Vec::new(),
    };
    let first = args.name[0].as_str();
    let text = if first.starts_with("check:") || first.starts_with("provider:") {
        explain_target(&c, first)
    } else {
        explain_records(&c, &daemon_held, first, args.name.get(1).map(String::as_str))
    };
    match text {
        Ok(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn state_of(c: &Computed, target: &str) -> State {
    c.verdicts
        .iter()
        .find(|v| v.name == target)
        .map_or(State::Unknown, |v| v.state)
}

/// One line on a target: its verdict, where it came from, and its rules.
fn target_line(c: &Computed, target: &str) -> String {
    let Some(v) = c.verdicts.iter().find(|v| v.name == target) else {
        return format!("{target}: unknown (no verdict)");
    };
    let detail = match (v.source, v.detail()) {
        ("measured", d) => format!("measured now: {d}"),
        ("assumed", _) => "assumed with --assume".to_string(),
        (other, d) if d.is_empty() => format!("from the {other}"),
        (other, d) => format!("from the {other}; last error: {d}"),
    };
    format!("{target}: {} ({detail})", v.state)
}

/// What would change a target's state, in the health settings' own words.
fn way_back(c: &Computed, target: &str) -> String {
    let p = c.config.target_health(target).params();
    let hold = humantime::format_duration(p.hold);
    match state_of(c, target) {
        State::Unhealthy => format!(
            "back to healthy after {} consecutive evaluations with a failure ratio at or under {} over the last {} \
             probes (rise), and not before {hold} in its state (hold)",
            p.rise, p.recover_ratio, p.window
        ),
        State::Healthy => format!(
            "unhealthy after {} consecutive evaluations with a failure ratio at or over {} over the last {} probes \
             (fall), and not before {hold} in its state (hold)",
            p.fall, p.fail_ratio, p.window
        ),
        _ => format!(
            "unknown until a verdict: {} failing or {} passing evaluations in a row over a window of {} (fall / rise)",
            p.fall, p.rise, p.window
        ),
    }
}

fn explain_target(c: &Computed, target: &str) -> anyhow::Result<String> {
    if !c.verdicts.iter().any(|v| v.name == target) {
        let known: Vec<&str> = c.verdicts.iter().map(|v| v.name.as_str()).collect();
        anyhow::bail!("no target {target} (targets: {})", known.join(", "));
    }
    let mut o = String::new();
    let _ = writeln!(o, "{}", target_line(c, target));
    let _ = writeln!(o, "rule: {}", way_back(c, target));
    let check = target.strip_prefix("check:");
    let provider = target.strip_prefix("provider:");
    for zone in &c.config.zones {
        for r in &zone.records {
            for (i, pool) in r.pools.iter().enumerate() {
                if check.is_some() && pool.check.as_deref() == check {
                    let _ = writeln!(
                        o,
                        "steers: {} {} in {} (pool {}, preference {})",
                        r.name,
                        r.rtype.as_str(),
                        zone.name,
                        pool.name,
                        i + 1
                    );
                }
            }
        }
        if provider.is_some_and(|p| zone.providers.iter().any(|z| z == p)) {
            let _ = writeln!(o, "serves: {} ({})", zone.name, delegation_rule(c, zone));
        }
    }
    Ok(o)
}

/// The rule that sets a zone's delegation now.
fn delegation_rule(c: &Computed, zone: &ZoneConfig) -> String {
    let Some(d) = &zone.delegation else {
        return "its delegation is not steered".into();
    };
    let mut why = Vec::new();
    for (z, note) in &c.decision.notes {
        if !z.as_str().eq_ignore_ascii_case(&zone.name) {
            continue;
        }
        match note {
            Note::DelegationHeld { reason } => why.push(format!("delegation kept: {reason}")),
            Note::ProviderOut { provider, reason } => why.push(format!("{provider} out of the delegation: {reason}")),
            Note::ProviderDrift { provider } => why.push(format!(
                "{provider} differs from the others: repaired before it rejoins the delegation"
            )),
            _ => {}
        }
    }
    let wanted = c
        .decision
        .delegated
        .iter()
        .find(|(z, _)| z.as_str().eq_ignore_ascii_case(&zone.name))
        .map(|(_, p)| p.join(", "))
        .unwrap_or_default();
    if why.is_empty() {
        why.push("every healthy provider is in it".into());
    }
    format!(
        "delegated to {wanted}, never fewer than {} (min_providers); {}",
        d.min_providers,
        why.join("; ")
    )
}

fn absolute(name: &str, zone: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "@" => zone.to_ascii_lowercase(),
        n if n.ends_with('.') => name,
        n => format!("{n}.{}", zone.to_ascii_lowercase()),
    }
}

fn explain_records(
    c: &Computed,
    daemon_held: &[DaemonHold],
    name: &str,
    rtype: Option<&str>,
) -> anyhow::Result<String> {
    let mut found: Vec<(&ZoneConfig, &RecordConfig)> = Vec::new();
    for zone in &c.config.zones {
        for r in &zone.records {
            let same_name = r.name.eq_ignore_ascii_case(name) || absolute(&r.name, &zone.name) == absolute(name, "");
            if same_name && rtype.is_none_or(|t| r.rtype.as_str().eq_ignore_ascii_case(t)) {
                found.push((zone, r));
            }
        }
    }
    if found.is_empty() {
        anyhow::bail!(
            "no steered record {name}{} in the configuration (a record is NAME TYPE, e.g. `www A`; a target is check:NAME or provider:NAME)",
            rtype.map(|t| format!(" {t}")).unwrap_or_default()
        );
    }
    let mut o = String::new();
    for (zone, r) in found {
        explain_record(c, daemon_held, zone, r, &mut o);
    }
    Ok(o)
}

fn explain_record(c: &Computed, daemon_held: &[DaemonHold], zone: &ZoneConfig, r: &RecordConfig, o: &mut String) {
    let fqdn = absolute(&r.name, &zone.name);
    let rtype = r.rtype.as_str();
    let _ = writeln!(
        o,
        "{fqdn} {rtype} (zone {}, policy {:?}, ttl {})",
        zone.name, r.policy, r.ttl
    );
    o.push_str("pools, in order of preference:\n");
    let mut undecided = Vec::new();
    for (i, pool) in r.pools.iter().enumerate() {
        let health = match &pool.check {
            Some(check) => {
                let target = format!("check:{check}");
                if state_of(c, &target) == State::Unknown {
                    undecided.push(target.clone());
                }
                target_line(c, &target)
            }
            None => "no check: always in".into(),
        };
        let _ = writeln!(o, "  {}. {} [{}] {health}", i + 1, pool.name, pool.values.join(" "));
    }
    // Each provider's answer as read, and what the plan does there.
    let changes: Vec<_> = c
        .decision
        .plan
        .changes
        .iter()
        .filter(|ch| ch.change.subject().name == fqdn && ch.change.subject().rtype.as_str() == rtype)
        .collect();
    for provider in &zone.providers {
        let live = c
            .live
            .records
            .iter()
            .find(|((z, p), _)| z.as_str().eq_ignore_ascii_case(&zone.name) && p == provider)
            .map(|(_, sets)| sets);
        let answer = match live {
            None => "could not be read".to_string(),
            Some(sets) => {
                // Every set of the name and type: a weighted record has one per pool.
                let held: Vec<String> = sets
                    .iter()
                    .filter(|s: &&RecordSet| s.name == fqdn && s.rtype.as_str() == rtype)
                    .map(|s| match s.routing_label() {
                        Some(label) => format!("{} ({label}, ttl {})", s.values.join(" "), s.ttl),
                        None => format!("{} (ttl {})", s.values.join(" "), s.ttl),
                    })
                    .collect();
                if held.is_empty() {
                    "no such record".into()
                } else {
                    held.join("; ")
                }
            }
        };
        let planned: Vec<String> = changes
            .iter()
            .filter(|ch| &ch.provider == provider)
            .map(|ch| {
                let set = ch
                    .change
                    .subject()
                    .routing_label()
                    .map(|l| format!(" [{l}]"))
                    .unwrap_or_default();
                format!(
                    " → {}{set} to {}: {}",
                    ch.change.action(),
                    ch.change
                        .after()
                        .map(|s| s.values.join(" "))
                        .unwrap_or_else(|| "nothing".into()),
                    ch.reason
                )
            })
            .collect();
        let plan = if planned.is_empty() {
            " (stays)".to_string()
        } else {
            planned.concat()
        };
        let _ = writeln!(o, "at {provider}: {answer}{plan}");
    }
    // The rule that holds it where it is (or moves it), first match wins.
    let held = c
        .decision
        .held
        .iter()
        .find(|h| h.zone.as_str().eq_ignore_ascii_case(&zone.name));
    let all_down = c.decision.notes.iter().any(|(z, n)| {
        z.as_str().eq_ignore_ascii_case(&zone.name)
            && matches!(n, Note::AllPoolsDown { record, rtype: t } if record == &fqdn && t.as_str() == rtype)
    });
    let preferred_healthy = r.pools.iter().find(|p| {
        p.check
            .as_ref()
            .is_none_or(|ch| state_of(c, &format!("check:{ch}")) == State::Healthy)
    });
    // The daemon's own holds (with `--from`): its flap history is what a dry run lacks.
    let by_daemon = daemon_held
        .iter()
        .find(|h| h.zone.eq_ignore_ascii_case(&zone.name) && h.reason.contains(&fqdn));
    let budget = zone.flap_budget.unwrap_or(c.config.defaults.flap_budget);
    let rule = if let Some(h) = by_daemon.filter(|h| h.reason.contains("flap_budget")) {
        format!(
            "flap budget: the daemon holds this record: {} — written only once approved: POST /v1/approve \
             {{\"checksum\": \"{}\"}}; the budget refills as old flips leave its window",
            h.reason, h.checksum
        )
    } else if let Some(h) = by_daemon {
        format!(
            "held by the daemon: {} — written only once approved: POST /v1/approve {{\"checksum\": \"{}\"}}",
            h.reason, h.checksum
        )
    } else if let (Some(h), false) = (held, changes.is_empty()) {
        format!(
            "held: {} — written only once approved: dnsteer apply --force, or POST /v1/approve {{\"checksum\": \"{}\"}}",
            h.reasons.join("; "),
            h.checksum
        )
    } else if all_down {
        "fail-open: every pool is unhealthy, so the record keeps its published values (it is never emptied); \
         it moves when a pool is healthy again"
            .to_string()
    } else if !undecided.is_empty() {
        format!(
            "unknown: {} not decided yet, and traffic never moves onto or off an undecided target: the live \
             values stay until every pool has a verdict",
            undecided.join(", ")
        )
    } else if !changes.is_empty() {
        format!("moves: {}", changes[0].reason)
    } else {
        match preferred_healthy {
            Some(p) => format!("in place: {} is the most preferred pool that is healthy", p.name),
            None => "in place".into(),
        }
    };
    let _ = writeln!(o, "rule: {rule}");
    let _ = writeln!(
        o,
        "flap budget: at most {} changes of this record within {} ({}); a change past it is held until approved{}",
        budget.changes,
        humantime::format_duration(budget.within.get()),
        if zone.flap_budget.is_some() {
            "the zone's flap_budget"
        } else {
            "defaults.flap_budget"
        },
        if daemon_held.is_empty() && c.verdicts.iter().all(|v| v.source != "daemon") {
            " (the flips so far are the daemon's to count: add --from to see its holds)"
        } else {
            ""
        }
    );
    // What would move it back to its first pool.
    if let Some(first) = r.pools.first() {
        if let Some(check) = &first.check {
            let target = format!("check:{check}");
            if state_of(c, &target) != State::Healthy {
                let _ = writeln!(o, "back to {}: {target} {}", first.name, way_back(c, &target));
            }
        }
    }
    o.push('\n');
}
