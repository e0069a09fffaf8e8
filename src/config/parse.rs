//! Structure: the YAML text into typed sections, one section and one entry at a time,
//! so that every structural problem (unknown key, wrong type, bad duration) is
//! reported with its full path rather than only the first.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};

use super::lines::{join_index, join_key};
use super::types::*;
use super::Report;

/// The sections that parsed, and the names of entries that did not (so references
/// to them are not reported a second time as undefined).
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub agent: AgentConfig,
    pub defaults: DefaultsConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub broken_providers: BTreeSet<String>,
    /// Indexed as written; `None` where an entry did not parse.
    pub zones: Vec<Option<ZoneConfig>>,
    pub checks: BTreeMap<String, CheckConfig>,
    pub broken_checks: BTreeSet<String>,
    pub alerts: Vec<Option<AlertConfig>>,
}

impl Parsed {
    /// The configuration; called only when no error was found.
    pub fn into_config(self) -> Config {
        Config {
            agent: self.agent,
            defaults: self.defaults,
            providers: self.providers,
            zones: self.zones.into_iter().flatten().collect(),
            checks: self.checks,
            alerts: self.alerts.into_iter().flatten().collect(),
            discovered_nameservers: BTreeMap::new(),
        }
    }
}

const SECTIONS: &[&str] = &["agent", "defaults", "providers", "zones", "checks", "alerts"];

/// Parses `text` (already known to be well-formed YAML to yaml-rust2) into sections.
/// `None` when the document as a whole is unusable.
pub(crate) fn parse(text: &str, report: &mut Report) -> Option<Parsed> {
    let mut root: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            report.error_at("", line, format!("invalid YAML: {}", without_location(&e.to_string())));
            return None;
        }
    };
    if let Err(e) = root.apply_merge() {
        report.error("", format!("invalid YAML merge key: {e}"));
        return None;
    }
    let top = match root {
        Value::Null => Mapping::new(),
        Value::Mapping(m) => m,
        _ => {
            report.error(
                "",
                "the configuration must be a mapping of sections (agent, defaults, providers, zones, checks, alerts)",
            );
            return None;
        }
    };

    let mut parsed = Parsed::default();
    let (mut saw_providers, mut saw_zones) = (false, false);
    for (key, value) in top {
        let Some(section) = key_text(&key) else {
            report.error("", "section names must be strings");
            continue;
        };
        match section.as_str() {
            "agent" => {
                if let Some(agent) = typed_or_default(value, "agent", report) {
                    parsed.agent = agent;
                }
            }
            "defaults" => {
                if let Some(defaults) = typed_or_default(value, "defaults", report) {
                    parsed.defaults = defaults;
                }
            }
            "providers" => {
                saw_providers = true;
                for (name, path, entry) in entries(value, "providers", report) {
                    match provider(entry, &path, report) {
                        Some(p) => {
                            parsed.providers.insert(name, p);
                        }
                        None => {
                            parsed.broken_providers.insert(name);
                        }
                    }
                }
            }
            "zones" => {
                saw_zones = true;
                parsed.zones = items(value, "zones", report)
                    .into_iter()
                    .map(|(path, item)| typed(item, &path, report))
                    .collect();
            }
            "checks" => {
                for (name, path, entry) in entries(value, "checks", report) {
                    match check(entry, &path, report) {
                        Some(c) => {
                            parsed.checks.insert(name, c);
                        }
                        None => {
                            parsed.broken_checks.insert(name);
                        }
                    }
                }
            }
            "alerts" => {
                parsed.alerts = items(value, "alerts", report)
                    .into_iter()
                    .map(|(path, item)| alert(item, &path, report))
                    .collect();
            }
            other => report.error(
                other,
                format!("unknown section `{other}`, expected one of {}", backticked(SECTIONS)),
            ),
        }
    }
    if !saw_providers {
        report.error("providers", "missing section `providers` (name -> provider adapter)");
    }
    if !saw_zones {
        report.error("zones", "missing section `zones` (the zones to steer)");
    } else if parsed.zones.is_empty() {
        report.warn("zones", "no zones: there is nothing to steer");
    }
    Some(parsed)
}

/// A step of a path inside one entry.
enum Step {
    Key(String),
    Index(usize),
}

/// Deserializes one value, reporting every problem with its full path.
///
/// serde stops at the first error, so the offending key is taken out and the value
/// tried again, until it deserializes (the entry is then still checked for meaning,
/// its bad fields at their defaults) or a required field is gone (the entry is given
/// up, and only what was found so far is reported).
fn typed<T: DeserializeOwned>(mut value: Value, path: &str, report: &mut Report) -> Option<T> {
    let mut removed: Vec<String> = Vec::new();
    // Each round removes one key, so the number of rounds is bounded by the entry's size;
    // the cap only guards against surprises.
    for _ in 0..256 {
        let e = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let mut steps: Vec<Step> = e
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
                serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let message = without_location(&e.inner().to_string());
        // Point an unknown key at its own line.
        if let Some(key) = unknown_field(&message) {
            if !matches!(steps.last(), Some(Step::Key(k)) if k == key) {
                steps.push(Step::Key(key.to_string()));
            }
        }
        let full = steps.iter().fold(path.to_string(), |p, step| match step {
            Step::Key(k) => join_key(&p, k),
            Step::Index(i) => join_index(&p, *i),
        });
        // A required field we took out ourselves: already reported, nothing more to learn.
        if let Some(field) = missing_field(&message) {
            if removed.contains(&join_key(&full, field)) {
                return None;
            }
        }
        report.error(&full, message);
        if !remove_at(&mut value, &steps) {
            return None;
        }
        removed.push(full);
    }
    None
}

/// Takes out the mapping entry at `steps`; false when it is not a mapping entry.
fn remove_at(value: &mut Value, steps: &[Step]) -> bool {
    let Some((Step::Key(last), parents)) = steps.split_last() else {
        return false;
    };
    let mut node = value;
    for step in parents {
        let next = match step {
            Step::Key(k) => node.as_mapping_mut().and_then(|m| m.get_mut(k.as_str())),
            Step::Index(i) => node.as_sequence_mut().and_then(|s| s.get_mut(*i)),
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    node.as_mapping_mut().and_then(|m| m.remove(last.as_str())).is_some()
}

/// A section that may be left empty (`agent:` with nothing under it) or omitted.
fn typed_or_default<T: DeserializeOwned + Default>(value: Value, path: &str, report: &mut Report) -> Option<T> {
    if value.is_null() {
        return Some(T::default());
    }
    typed(value, path, report)
}

/// `name -> entry` pairs of a mapping section, with their paths.
fn entries(value: Value, path: &str, report: &mut Report) -> Vec<(String, String, Value)> {
    match value {
        Value::Null => Vec::new(),
        Value::Mapping(m) => m
            .into_iter()
            .filter_map(|(k, v)| match key_text(&k) {
                Some(name) => Some((name.clone(), join_key(path, &name), v)),
                None => {
                    report.error(path, "names must be strings");
                    None
                }
            })
            .collect(),
        other => {
            report.error(path, format!("expected a mapping of names, found {}", kind_of(&other)));
            Vec::new()
        }
    }
}

/// The items of a list section, with their paths.
fn items(value: Value, path: &str, report: &mut Report) -> Vec<(String, Value)> {
    match value {
        Value::Null => Vec::new(),
        Value::Sequence(s) => s
            .into_iter()
            .enumerate()
            .map(|(i, v)| (join_index(path, i), v))
            .collect(),
        other => {
            report.error(path, format!("expected a list, found {}", kind_of(&other)));
            Vec::new()
        }
    }
}

/// Splits an entry tagged by `kind` into the kind and the rest of its fields.
fn tagged(value: Value, path: &str, kinds: &[&str], report: &mut Report) -> Option<(String, Value)> {
    let mut map = match value {
        Value::Mapping(m) => m,
        other => {
            report.error(
                path,
                format!("expected a mapping with a `kind`, found {}", kind_of(&other)),
            );
            return None;
        }
    };
    let kind_path = join_key(path, "kind");
    match map.remove("kind") {
        None => {
            report.error(path, format!("missing field `kind` (one of {})", backticked(kinds)));
            None
        }
        Some(Value::String(kind)) if kinds.contains(&kind.as_str()) => Some((kind, Value::Mapping(map))),
        Some(Value::String(kind)) => {
            report.error(
                kind_path,
                format!("unknown kind `{kind}`, expected one of {}", backticked(kinds)),
            );
            None
        }
        Some(other) => {
            report.error(kind_path, format!("expected a kind name, found {}", kind_of(&other)));
            None
        }
    }
}

fn provider(value: Value, path: &str, report: &mut Report) -> Option<ProviderConfig> {
    let (kind, rest) = tagged(value, path, ProviderConfig::KINDS, report)?;
    match kind.as_str() {
        "powerdns" => typed(rest, path, report).map(ProviderConfig::Powerdns),
        "rfc2136" => typed(rest, path, report).map(ProviderConfig::Rfc2136),
        "route53" => typed(rest, path, report).map(ProviderConfig::Route53),
        "route53domains" => typed(rest, path, report).map(ProviderConfig::Route53domains),
        "azure" => typed(rest, path, report).map(ProviderConfig::Azure),
        "ns1" => typed(rest, path, report).map(ProviderConfig::Ns1),
        _ => typed(rest, path, report).map(ProviderConfig::Cloudflare),
    }
}

fn check(value: Value, path: &str, report: &mut Report) -> Option<CheckConfig> {
    let (kind, rest) = tagged(value, path, CheckConfig::KINDS, report)?;
    match kind.as_str() {
        "http" => typed(rest, path, report).map(CheckConfig::Http),
        "tcp" => typed(rest, path, report).map(CheckConfig::Tcp),
        _ => typed(rest, path, report).map(CheckConfig::Dns),
    }
}

fn alert(value: Value, path: &str, report: &mut Report) -> Option<AlertConfig> {
    let (kind, rest) = tagged(value, path, AlertConfig::KINDS, report)?;
    match kind.as_str() {
        "webhook" => typed(rest, path, report).map(AlertConfig::Webhook),
        "slack" => typed(rest, path, report).map(AlertConfig::Slack),
        _ => typed(rest, path, report).map(AlertConfig::Pagerduty),
    }
}

/// A mapping key as text: strings as they are, numbers and booleans spelled out.
fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn backticked(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The field name of serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// The field name of serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// serde_yaml_ng writes locations into its messages (" at line L column C"); the
/// line is reported on its own, so they are taken out.
fn without_location(message: &str) -> String {
    const AT: &str = " at line ";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(AT) {
        out.push_str(&rest[..i]);
        let tail = &rest[i + AT.len()..];
        let line_len = tail.bytes().take_while(u8::is_ascii_digit).count();
        let after_line = &tail[line_len..];
        match after_line.strip_prefix(" column ") {
            Some(col) if line_len > 0 => {
                let col_len = col.bytes().take_while(u8::is_ascii_digit).count();
                rest = &col[col_len..];
            }
            _ => {
                out.push_str(AT);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_taken_out_of_messages() {
        assert_eq!(
            without_location(
                "did not find expected key at line 3 column 5, while parsing a block mapping at line 1 column 1"
            ),
            "did not find expected key, while parsing a block mapping"
        );
        assert_eq!(without_location("look at line noise"), "look at line noise");
        assert_eq!(without_location("plain"), "plain");
    }
}
