//! Plan renderings: the JSON of the contract (SPEC "Plan JSON") and a table for people.

use std::fmt::Write;

use serde_json::{json, Value};

use dnsteer_providers::Change;

use super::{Hold, LeftOut, Plan};

/// The plan as SPEC's JSON: `changes`, `summary`, `held` (one entry per held zone, its
/// reasons joined in `reason`, each also in `reasons`), `checksum`, plus `errors` for
/// providers that could not be read.
pub fn render_json(plan: &Plan, held: &[Hold]) -> Value {
    let changes: Vec<Value> = plan
        .changes
        .iter()
        .map(|c| {
            let subject = c.change.subject();
            let mut change = json!({
                "zone": c.zone.as_str(),
                "provider": c.provider,
                "action": c.change.action(),
                "name": subject.name,
                "type": subject.rtype.as_str(),
                "ttl": subject.ttl,
                "before": c.change.before().map(|s| s.values.clone()).unwrap_or_default(),
                "after": c.change.after().map(|s| s.values.clone()).unwrap_or_default(),
                "reason": c.reason,
                "stale_for_s": c.stale_for_s,
            });
            add_routing(&c.change, &mut change);
            change
        })
        .collect();
    let held: Vec<Value> = held
        .iter()
        .map(|h| {
            json!({
                "zone": h.zone.as_str(),
                "reason": h.reasons.join("; "),
                "reasons": h.reasons,
                "checksum": h.checksum,
            })
        })
        .collect();
    json!({
        "changes": changes,
        "summary": plan.summary(),
        "held": held,
        "checksum": plan.checksum(),
        "errors": plan.errors,
    })
}

/// Adds to the JSON object of `change`, when it is about one set of a weighted record,
/// which set (`set`) and its weight after and before (`weight`, `before_weight`, each
/// only where that side exists); any other change is left with exactly SPEC's fields.
pub fn add_routing(change: &Change, object: &mut Value) {
    let Some(set) = &change.subject().set_id else {
        return;
    };
    object["set"] = json!(set);
    if let Some(weight) = change.after().and_then(|s| s.weight) {
        object["weight"] = json!(weight);
    }
    if let Some(weight) = change.before().and_then(|s| s.weight) {
        object["before_weight"] = json!(weight);
    }
}

/// A table grouped by zone and provider, one line per change, its reason beneath; then
/// the providers left out and why, the held zones, why, and how to let them through.
/// "No changes." is said only when every provider was read.
pub fn render_table(plan: &Plan, held: &[Hold], left_out: &[LeftOut]) -> String {
    let mut out = String::new();
    let mut current: Option<(&str, &str)> = None;
    for c in &plan.changes {
        if current != Some((c.zone.as_str(), &c.provider)) {
            current = Some((c.zone.as_str(), &c.provider));
            let _ = writeln!(out, "{} @ {}", c.zone, c.provider);
        }
        let subject = c.change.subject();
        let values = |s: Option<&dnsteer_providers::RecordSet>| {
            s.map_or("-".to_string(), |s| format!("{} [{}]", s.ttl, s.values.join(", ")))
        };
        let _ = writeln!(
            out,
            "  {:<7} {} {}{}  {} -> {}",
            c.change.action(),
            subject.name,
            subject.rtype,
            routing(c),
            values(c.change.before()),
            values(c.change.after()),
        );
        let _ = writeln!(out, "          because {}", c.reason);
        let _ = writeln!(out, "          {}", follow(c.stale_for_s, &c.change));
    }
    for e in &plan.errors {
        let _ = writeln!(out, "{} @ {}: NOT PLANNED: {}", e.zone, e.provider, e.error);
    }
    // Those of healthy providers are errors, listed above.
    for l in left_out.iter().filter(|l| l.unhealthy) {
        let why = match l.why {
            "zone_missing" => "zone missing",
            _ => "unreadable",
        };
        let _ = writeln!(
            out,
            "{} @ {}: LEFT OUT (unhealthy, {why}): {}",
            l.zone, l.provider, l.error
        );
    }
    for h in held {
        let _ = writeln!(
            out,
            "HELD {} (checksum {}): its changes wait for approval (apply --force, or POST /v1/approve with the checksum)",
            h.zone, h.checksum
        );
        for reason in &h.reasons {
            let _ = writeln!(out, "  because {reason}");
        }
    }
    let s = plan.summary();
    if plan.changes.is_empty() && left_out.is_empty() {
        let _ = writeln!(out, "No changes.");
    } else if plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "Nothing to change at the providers that were read; {} left out (above).",
            left_out.len()
        );
    }
    let resolvers = match s.stale_for_s {
        _ if plan.changes.is_empty() => String::new(),
        Some(secs) => format!("; resolvers follow within {}", duration_words(secs)),
        None => "; when resolvers follow is unknown for some changes".to_string(),
    };
    let _ = writeln!(
        out,
        "Summary: {} create, {} update, {} delete{resolvers}; checksum {}",
        s.create,
        s.update,
        s.delete,
        plan.checksum()
    );
    out
}

/// ` [us-east weight 3]` for a set of a weighted record (`weight 0 -> 3` when the
/// weight changes), nothing for any other set.
fn routing(c: &super::PlannedChange) -> String {
    let subject = c.change.subject();
    let Some(set) = &subject.set_id else {
        return String::new();
    };
    let weight = |s: Option<&dnsteer_providers::RecordSet>| s.and_then(|s| s.weight);
    match (weight(c.change.before()), weight(c.change.after())) {
        (Some(b), Some(a)) if a != b => format!(" [{set} weight {b} -> {a}]"),
        (_, Some(w)) | (Some(w), None) => format!(" [{set} weight {w}]"),
        (None, None) => format!(" [{set}]"),
    }
}

/// When resolvers follow one change, and why then.
fn follow(stale_for_s: Option<u32>, change: &Change) -> String {
    let Some(secs) = stale_for_s else {
        return "resolvers follow when their negative answers expire (no SOA read: unknown)".to_string();
    };
    let why = match change {
        Change::Create { .. } => "the zone's negative-caching TTL",
        Change::Update { .. } | Change::Delete { .. } => "the old set's TTL",
    };
    format!("resolvers follow within {} ({why})", duration_words(secs))
}

/// `30 s`, `5 min`, `1 h 30 min`, `2 d`: the two largest units, for people.
pub fn duration_words(secs: u32) -> String {
    if secs < 120 {
        return format!("{secs} s");
    }
    let units = [(86_400, "d"), (3_600, "h"), (60, "min"), (1, "s")];
    let mut left = secs;
    let mut parts = Vec::new();
    for (size, unit) in units {
        if left >= size && parts.len() < 2 {
            parts.push(format!("{} {unit}", left / size));
            left %= size;
        } else if !parts.is_empty() {
            // Only adjacent units: "1 d 30 s" would read as a typo.
            break;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsteer_providers::{RecordSet, RecordType, ZoneName};

    fn weighted_plan() -> Plan {
        let zone = ZoneName::new("example.test.").unwrap();
        let set = |weight| {
            RecordSet::new("www.example.test.", RecordType::A, 30, ["192.0.2.10"])
                .unwrap()
                .weighted("us-east", weight)
        };
        let plain = RecordSet::new("api.example.test.", RecordType::A, 30, ["192.0.2.1"]).unwrap();
        let mut plan = Plan::default();
        plan.extend(
            &zone,
            &zone,
            "r53",
            vec![
                (Change::Create { after: plain }, "t".into()),
                (
                    Change::Update {
                        before: set(3),
                        after: set(0),
                    },
                    "t".into(),
                ),
            ],
            &[],
        );
        plan
    }

    #[test]
    fn the_json_says_which_set_and_its_weights() {
        let json = render_json(&weighted_plan(), &[]);
        let changes = json["changes"].as_array().unwrap();
        // An unweighted change has exactly SPEC's fields.
        let keys: Vec<&String> = changes[0].as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| !["set", "weight", "before_weight"].contains(&k.as_str())),
            "{keys:?}"
        );
        assert_eq!(changes[1]["set"], "us-east");
        assert_eq!(changes[1]["weight"], 0);
        assert_eq!(changes[1]["before_weight"], 3);
        assert_eq!(changes[1]["after"], serde_json::json!(["192.0.2.10"]));
    }

    #[test]
    fn the_table_names_the_set_and_its_weights() {
        let table = render_table(&weighted_plan(), &[], &[]);
        assert!(
            table.contains("update  www.example.test. A [us-east weight 3 -> 0]  30 [192.0.2.10] -> 30 [192.0.2.10]"),
            "{table}"
        );
        assert!(
            table.contains("create  api.example.test. A  - -> 30 [192.0.2.1]"),
            "{table}"
        );
    }

    #[test]
    fn the_checksum_covers_the_weight() {
        let mut other = weighted_plan();
        if let Change::Update { after, .. } = &mut other.changes[1].change {
            after.weight = Some(1);
        }
        assert_ne!(weighted_plan().checksum(), other.checksum());
    }

    #[test]
    fn durations_read_in_the_two_largest_units() {
        assert_eq!(duration_words(0), "0 s");
        assert_eq!(duration_words(30), "30 s");
        assert_eq!(duration_words(119), "119 s");
        assert_eq!(duration_words(300), "5 min");
        assert_eq!(duration_words(5400), "1 h 30 min");
        assert_eq!(duration_words(172_800), "2 d");
        assert_eq!(duration_words(86_430), "1 d");
    }
}
