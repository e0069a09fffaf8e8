//! The status page's HTML, rendered on the server from `/v1/status` and the recorder's
//! view. Every colour comes with its word (a screen reader and a colour-blind reader
//! read "unhealthy", not red), and every table has its headers.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::{Point, View, Zone};
use crate::alert::Event;

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// Everything the page shows, gathered by the API handler.
pub struct Inputs<'a> {
    pub status: &'a Value,
    pub plan: Option<&'a Value>,
    pub delegated: BTreeMap<String, Vec<String>>,
    pub zones: &'a [Zone],
    pub view: View,
    pub audit: Vec<Value>,
    pub alerts: Vec<Event>,
    pub now: DateTime<Utc>,
}

/// The whole page, or with `fragment` only what the script swaps in on each refresh.
pub fn render(i: &Inputs, fragment: bool) -> String {
    let mut body = String::with_capacity(16 * 1024);
    live(&mut body, i);
    if fragment {
        return body;
    }
    let id = esc(i.status["agent"]["id"].as_str().unwrap_or("dnsteer"));
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><title>dnsteer {id}</title><style>{STYLE}</style></head>\
         <body><header><h1>dnsteer <span class=\"agent\">{id}</span></h1>\
         <p id=\"refresh\" role=\"status\">Refreshes every 2 seconds.</p></header>\
         <main id=\"live\">{body}</main><script>{SCRIPT}</script></body></html>\n"
    )
}

/// HTML-escapes text (every value on the page comes from outside: names, reasons).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

/// A time as "HH:MM:SS (Ns ago)", in a `<time>` element.
fn when(v: &Value, now: DateTime<Utc>) -> String {
    let Some(at) = v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) else {
        return "—".into();
    };
    stamp(at.to_utc(), now)
}

fn stamp(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let ago = (now - at).num_seconds();
    let ago = match ago {
        s if s < 0 => "just now".to_string(),
        s if s < 120 => format!("{s}s ago"),
        s if s < 7200 => format!("{}m ago", s / 60),
        s => format!("{}h ago", s / 3600),
    };
    // The date only when it is not today's: the page is read during an outage.
    let shown = if at.date_naive() == now.date_naive() {
        at.format("%H:%M:%S")
    } else {
        at.format("%Y-%m-%d %H:%M:%S")
    };
    format!(
        "<time datetime=\"{}\">{shown} UTC ({ago})</time>",
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// A state as a badge: the word always, the colour as a second channel.
fn badge(state: &str) -> String {
    let (class, mark) = match state {
        "healthy" => ("ok", "✓"),
        "unhealthy" => ("bad", "✗"),
        "degraded" => ("warn", "!"),
        _ => ("unk", "?"),
    };
    format!(
        "<span class=\"b {class}\"><span aria-hidden=\"true\">{mark} </span>{}</span>",
        esc(state)
    )
}

fn table_open(out: &mut String, caption: &str, headers: &[&str]) {
    let _ = write!(
        out,
        "<div class=\"t\"><table><caption>{}</caption><thead><tr>",
        esc(caption)
    );
    for h in headers {
        let _ = write!(out, "<th scope=\"col\">{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
}

fn table_close(out: &mut String) {
    out.push_str("</tbody></table></div>");
}

fn live(out: &mut String, i: &Inputs) {
    let s = i.status;
    let agent = &s["agent"];
    let _ = write!(
        out,
        "<section aria-labelledby=\"h-agent\"><h2 id=\"h-agent\">Agent</h2><dl>\
         <dt>Role</dt><dd>{}</dd><dt>Term</dt><dd>{}</dd><dt>Leader</dt><dd>{}</dd>\
         <dt>Writes</dt><dd>{}</dd><dt>Ready</dt><dd>{}</dd><dt>Last apply</dt><dd>{}</dd><dt>Updated</dt><dd>{}</dd></dl>",
        text(&agent["role"]),
        text(&agent["term"]),
        if agent["leader"].is_null() { "none known".into() } else { text(&agent["leader"]) },
        writes(s),
        if s["ready"] == true { "yes".to_string() } else { format!("{}: {}", badge("unhealthy").replace("unhealthy", "no"), text(&s["not_ready"])) },
        last_apply(&s["last_apply"], i.now),
        stamp(i.now, i.now),
    );
    out.push_str("</section>");
    targets(out, i);
    vantage(out, i);
    records(out, i);
    delegation(out, i);
    providers(out, i);
    held(out, i);
    audit(out, i);
    alerts(out, i);
}

fn writes(s: &Value) -> String {
    let mut w = String::new();
    if s["dry_run"] == true {
        w.push_str("dry run (nothing written)");
    } else if s["paused"] == true {
        w.push_str("<strong class=\"b warn\">PAUSED</strong>");
        if let Some(p) = s["pending"].as_object() {
            let _ = write!(
                w,
                ": {} changes waiting (plan <code>{}</code>)",
                text(&p["changes"]),
                text(&p["checksum"])
            );
        }
    } else {
        w.push_str("on");
    }
    w
}

fn last_apply(a: &Value, now: DateTime<Utc>) -> String {
    if a.is_null() {
        return "none yet".into();
    }
    let ok = if a["ok"] == true {
        badge("healthy").replace("healthy", "ok")
    } else {
        badge("unhealthy").replace("unhealthy", "failed")
    };
    format!("{} — {ok}, {} changes", when(&a["at"], now), text(&a["changes"]))
}

fn targets(out: &mut String, i: &Inputs) {
    out.push_str("<section aria-labelledby=\"h-targets\"><h2 id=\"h-targets\">Targets</h2>");
    table_open(
        out,
        "Health of every target, with its last hour",
        &[
            "Target",
            "State",
            "Failure ratio",
            "Since",
            "Reason or last error",
            "Last hour",
        ],
    );
    for t in i.status["targets"].as_array().into_iter().flatten() {
        let name = t["name"].as_str().unwrap_or("?");
        let state = t["state"].as_str().unwrap_or("unknown");
        let mut state_cell = badge(state);
        if !t["override_until"].is_null() {
            let _ = write!(
                state_cell,
                " <small>override until {} (measured: {})</small>",
                when(&t["override_until"], i.now),
                text(&t["measured_state"])
            );
        }
        let ratio = t["failure_ratio"].as_f64().unwrap_or(0.0);
        // The other vantage points' windows, where several count.
        let others: String = t["vantage"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                format!(
                    "<br><small>{}: {:.0}%</small>",
                    text(&v["id"]),
                    v["failure_ratio"].as_f64().unwrap_or(0.0) * 100.0
                )
            })
            .collect();
        let _ = write!(
            out,
            "<tr class=\"{state}\"><th scope=\"row\">{}</th><td>{state_cell}</td><td>{:.0}%{others}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            ratio * 100.0,
            when(&t["since"], i.now),
            text(&t["last_error"]),
            timeline(i.view.history.get(name).map(Vec::as_slice).unwrap_or_default(), i.now),
        );
    }
    table_close(out);
    out.push_str("</section>");
}

/// The last hour of one target: its failure ratio as a small chart (described in
/// words for those who cannot see it) and its state changes as a list.
fn timeline(points: &[Point], now: DateTime<Utc>) -> String {
    let samples: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| {
            let x = 60.0 - ((now - p.at).num_seconds() as f64 / 60.0).clamp(0.0, 60.0);
            p.failure_ratio.map(|r| (x, 10.0 - r * 10.0))
        })
        .collect();
    let peak = points.iter().filter_map(|p| p.failure_ratio).fold(0.0, f64::max);
    let mut out = String::new();
    // A line needs two points; one sample alone would draw an empty box.
    if samples.len() >= 2 {
        let line: Vec<String> = samples.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(
            out,
            "<svg viewBox=\"0 0 60 10\" class=\"spark\" role=\"img\" aria-label=\"failure ratio over the last hour, peak {:.0}%\">\
             <polyline points=\"{}\"/></svg>",
            peak * 100.0,
            line.join(" ")
        );
    }
    let changes: Vec<&Point> = points.iter().filter(|p| p.change.is_some()).collect();
    if changes.is_empty() {
        out.push_str("<small>no state change</small>");
    } else {
        out.push_str("<ul class=\"changes\">");
        for p in changes.iter().rev().take(5) {
            let _ = write!(out, "<li>{} → {}</li>", stamp(p.at, now), badge(&p.state.to_string()));
        }
        out.push_str("</ul>");
    }
    out
}

fn vantage(out: &mut String, i: &Inputs) {
    out.push_str("<section aria-labelledby=\"h-vantage\"><h2 id=\"h-vantage\">Vantage points</h2>");
    let list = i.status["vantage"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        out.push_str("<p>Only this daemon's own observations count.</p></section>");
        return;
    }
    table_open(
        out,
        "Other daemons whose observations count",
        &["Vantage point", "Fresh", "Last seen"],
    );
    for v in &list {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
            text(&v["id"]),
            if v["fresh"] == true {
                badge("healthy").replace("healthy", "fresh")
            } else {
                badge("unhealthy").replace("unhealthy", "stale")
            },
            when(&v["last_seen"], i.now)
        );
    }
    table_close(out);
    out.push_str("</section>");
}

fn records(out: &mut String, i: &Inputs) {
    out.push_str("<section aria-labelledby=\"h-records\"><h2 id=\"h-records\">Steered records</h2>");
    let states: BTreeMap<&str, &str> = i.status["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["name"].as_str()?, t["state"].as_str()?)))
        .collect();
    let pending: Vec<&Value> = i
        .plan
        .and_then(|p| p["changes"].as_array())
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let held_zones: Vec<&str> = i.status["held"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["zone"].as_str())
        .collect();
    // The daemon's last write of each record set, and when resolvers will have followed.
    let written: BTreeMap<(&str, &str, &str, &str), &Value> = i.status["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| {
            let key = (
                w["zone"].as_str()?,
                w["provider"].as_str()?,
                w["name"].as_str()?,
                w["type"].as_str()?,
            );
            Some((key, w))
        })
        .collect();
    for zone in i.zones {
        let mut headers = vec!["Record".to_string(), "Pools".to_string()];
        headers.extend(zone.providers.iter().map(|p| format!("At {}", esc(p))));
        headers.push("Pending".into());
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        table_open(out, &format!("Zone {}", zone.name), &headers);
        for r in &zone.records {
            let mut pools = String::from("<ol class=\"pools\">");
            for (name, values, check) in &r.pools {
                let state = check
                    .as_deref()
                    .and_then(|c| states.get(c))
                    .copied()
                    .unwrap_or("unknown");
                let _ = write!(
                    pools,
                    "<li>{} <code>{}</code> {}</li>",
                    esc(name),
                    esc(&values.join(" ")),
                    badge(state)
                );
            }
            pools.push_str("</ol>");
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{} {} <small>ttl {} · {}</small></th><td>{pools}</td>",
                esc(&r.name),
                esc(&r.rtype),
                r.ttl,
                esc(&r.policy)
            );
            for provider in &zone.providers {
                let cell = match i.view.answers.get(&(zone.name.clone(), provider.clone())) {
                    None => "not read yet".to_string(),
                    Some((at, sets)) => match sets.iter().find(|s| s.name == r.name && s.rtype.as_str() == r.rtype) {
                        None => format!("<em>no such record</em> <small>read {}</small>", stamp(*at, i.now)),
                        // A weighted record: every pool's set with its weight.
                        Some(first) if first.set_id.is_some() => {
                            let weighted: Vec<String> = sets
                                .iter()
                                .filter(|s| s.name == r.name && s.rtype.as_str() == r.rtype)
                                .map(|s| {
                                    format!(
                                        "<code>{}</code> <small>{}</small>",
                                        esc(&s.values.join(" ")),
                                        esc(&s.routing_label().unwrap_or_default())
                                    )
                                })
                                .collect();
                            format!(
                                "{} <small>ttl {}, read {}</small>",
                                weighted.join("<br>"),
                                first.ttl,
                                stamp(*at, i.now)
                            )
                        }
                        Some(set) => {
                            let pool = r
                                .pools
                                .iter()
                                .find(|(_, v, _)| {
                                    let mut v = v.clone();
                                    v.sort();
                                    v == set.values
                                })
                                .map_or("no single pool".to_string(), |(n, _, _)| format!("pool {}", esc(n)));
                            format!(
                                "<code>{}</code> <small>{pool}, ttl {}, read {}{}</small>",
                                esc(&set.values.join(" ")),
                                set.ttl,
                                stamp(*at, i.now),
                                followed(
                                    written.get(&(
                                        zone.name.as_str(),
                                        provider.as_str(),
                                        r.name.as_str(),
                                        r.rtype.as_str()
                                    )),
                                    i.now
                                )
                            )
                        }
                    },
                };
                let _ = write!(out, "<td>{cell}</td>");
            }
            let mine: Vec<String> = pending
                .iter()
                .filter(|c| {
                    c["zone"] == zone.name.as_str() && c["name"] == r.name.as_str() && c["type"] == r.rtype.as_str()
                })
                .map(|c| {
                    let after = c["after"].as_array().into_iter().flatten().filter_map(Value::as_str);
                    let follow = match c["stale_for_s"].as_u64() {
                        Some(s) => format!(" <small>resolvers follow within {s}s of the write</small>"),
                        None => String::new(),
                    };
                    let held = if held_zones.contains(&zone.name.as_str()) {
                        " <strong>(held)</strong>"
                    } else {
                        ""
                    };
                    format!(
                        "{} at {} → <code>{}</code> ttl {}{held}{follow}",
                        text(&c["action"]),
                        text(&c["provider"]),
                        esc(&after.collect::<Vec<_>>().join(" ")),
                        text(&c["ttl"]),
                    )
                })
                .collect();
            let _ = write!(
                out,
                "<td>{}</td></tr>",
                if mine.is_empty() {
                    "in sync".into()
                } else {
                    mine.join("<br>")
                }
            );
        }
        table_close(out);
    }
    out.push_str("</section>");
}

/// "; written T, resolvers follow by T'" for a record set the daemon wrote.
fn followed(w: Option<&&Value>, now: DateTime<Utc>) -> String {
    let Some(w) = w else { return String::new() };
    let by = w["followed_by"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    let follow = match by {
        Some(by) if by.to_utc() <= now => "resolvers have followed".to_string(),
        Some(by) => format!("resolvers follow by {}", stamp(by.to_utc(), now)),
        None => String::new(),
    };
    format!("; written {}, {follow}", when(&w["written_at"], now))
}

fn delegation(out: &mut String, i: &Inputs) {
    out.push_str("<section aria-labelledby=\"h-deleg\"><h2 id=\"h-deleg\">Delegation</h2>");
    table_open(
        out,
        "Each zone's NS set at its parent",
        &["Zone", "Written at", "Wanted providers", "Parent answers"],
    );
    for zone in i.zones {
        let Some((provider, parent)) = &zone.delegation else {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td colspan=\"3\">not steered</td></tr>",
                esc(&zone.name)
            );
            continue;
        };
        let wanted = i
            .delegated
            .get(&zone.name)
            .map(|p| p.join(", "))
            .unwrap_or_else(|| "—".into());
        let seen = match i.view.delegation.get(&zone.name) {
            Some((at, ns)) => format!(
                "<code>{}</code> <small>read {}</small>",
                esc(&ns.join(" ")),
                stamp(*at, i.now)
            ),
            None => "not read yet".into(),
        };
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{} in {}</td><td>{} <small>(at least {})</small></td><td>{seen}</td></tr>",
            esc(&zone.name),
            esc(provider),
            esc(parent),
            esc(&wanted),
            zone.min_providers
        );
    }
    table_close(out);
    out.push_str("</section>");
}

fn providers(out: &mut String, i: &Inputs) {
    let p = &i.status["providers"];
    let mut rows = Vec::new();
    for (kind, key) in [("read", "read_errors"), ("write", "write_errors")] {
        for (name, e) in p[key].as_object().into_iter().flatten() {
            rows.push(format!(
                "<tr><th scope=\"row\">{}</th><td>{kind} failing</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                when(&e["since"], i.now),
                text(&e["error"])
            ));
        }
    }
    for (name, b) in p["backoff"].as_object().into_iter().flatten() {
        rows.push(format!(
            "<tr><th scope=\"row\">{}</th><td>backing off until {}</td><td>—</td><td>{}</td></tr>",
            esc(name),
            when(&b["until"], i.now),
            text(&b["reason"])
        ));
    }
    out.push_str("<section aria-labelledby=\"h-prov\"><h2 id=\"h-prov\">Provider APIs</h2>");
    if rows.is_empty() {
        out.push_str("<p>Every provider API answers.</p></section>");
        return;
    }
    table_open(out, "Provider API errors", &["Provider", "Problem", "Since", "Reason"]);
    out.push_str(&rows.concat());
    table_close(out);
    out.push_str("</section>");
}

fn held(out: &mut String, i: &Inputs) {
    out.push_str("<section aria-labelledby=\"h-held\"><h2 id=\"h-held\">Held plans</h2>");
    let held = i.status["held"].as_array().cloned().unwrap_or_default();
    if held.is_empty() {
        out.push_str("<p>Nothing held.</p></section>");
        return;
    }
    table_open(
        out,
        "Zones whose changes wait for an operator (POST /v1/approve with the checksum)",
        &["Zone", "Reason", "Checksum"],
    );
    for h in &held {
        let _ = write!(
            out,
            "<tr class=\"held\"><th scope=\"row\">{}</th><td>{}</td><td><code class=\"checksum\">{}</code></td></tr>",
            text(&h["zone"]),
            text(&h["reason"]),
            text(&h["checksum"])
        );
    }
    table_close(out);
    out.push_str("</section>");
}

fn audit(out: &mut String, i: &Inputs) {
    out.push_str("<section aria-labelledby=\"h-audit\"><h2 id=\"h-audit\">Recent changes</h2>");
    if i.audit.is_empty() {
        out.push_str("<p>No change written yet.</p></section>");
        return;
    }
    table_open(
        out,
        "The last writes, from the audit log",
        &["At", "Where", "Result", "Changes"],
    );
    for line in i.audit.iter().rev() {
        let changes: Vec<String> = line["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let after = c["after"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>();
                format!(
                    "{} {} {} → <code>{}</code>",
                    text(&c["action"]),
                    text(&c["name"]),
                    text(&c["type"]),
                    esc(&after.join(" "))
                )
            })
            .collect();
        let result = if line["result"] == "ok" {
            badge("healthy").replace("healthy", "ok")
        } else {
            format!(
                "{} {}",
                badge("unhealthy").replace("unhealthy", "failed"),
                text(&line["error"])
            )
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{} at {} <small>term {}</small></td><td>{result}</td><td>{}</td></tr>",
            when(&line["at"], i.now),
            text(&line["zone"]),
            text(&line["provider"]),
            text(&line["term"]),
            changes.join("<br>")
        );
    }
    table_close(out);
    out.push_str("</section>");
}

fn alerts(out: &mut String, i: &Inputs) {
    out.push_str("<section aria-labelledby=\"h-alerts\"><h2 id=\"h-alerts\">Recent alerts</h2>");
    if i.alerts.is_empty() {
        out.push_str("<p>No alert sent since the daemon started.</p></section>");
        return;
    }
    table_open(out, "The last alerts sent", &["At", "Event", "Severity", "Summary"]);
    for e in i.alerts.iter().rev() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            stamp(e.at, i.now),
            esc(e.event.as_str()),
            esc(e.severity.as_str()),
            esc(&e.summary)
        );
    }
    table_close(out);
    out.push_str("</section>");
}
