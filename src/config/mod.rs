//! Configuration: the YAML shape (SPEC), validation with YAML paths and lines, secrets.
//!
//! [`load`] reads a file, [`load_str`] a text: the YAML is parsed once for lines
//! ([`lines`]), then each section and each entry is deserialized on its own so that
//! every structural problem is reported ([`parse`]), then the meaning is checked
//! ([`validate`]) and every secret resolved. All problems come back together, each
//! with its YAML path and line.

pub mod budget;
mod duration;
pub mod hosts;
mod lines;
mod parse;
mod secret;
mod types;
mod validate;

use std::fmt;
use std::path::Path;

pub use duration::{Duration, DurationError};
pub use secret::{Secret, SecretSource, SecretValue};
pub use types::*;

/// The pair's witness: the provider and zone that hold its lease record. Named by
/// `agent.lease.witness`; otherwise the first delegation's provider that has
/// compare-and-set (the record then sits in the parent zone), else the first provider
/// with compare-and-set that serves a zone (the record sits in that zone). `None` for
/// a lone daemon, or when no provider can witness.
pub fn pair_witness<'a>(
    agent: &AgentConfig,
    providers: &std::collections::BTreeMap<String, ProviderConfig>,
    zones: impl Iterator<Item = &'a ZoneConfig> + Clone,
) -> Option<(String, dnsteer_providers::ZoneName)> {
    if agent.peers.is_empty() {
        return None;
    }
    if let Some(name) = &agent.lease.witness {
        return pair_witness_zone(name, zones).map(|z| (name.clone(), z));
    }
    let cas = |name: &String| providers.get(name).is_some_and(ProviderConfig::has_compare_and_set);
    let delegations = zones.clone().filter_map(|z| z.delegation.as_ref()).map(|d| &d.provider);
    let serving = zones.clone().flat_map(|z| z.providers.iter());
    let name = delegations.chain(serving).find(|p| cas(p))?;
    pair_witness_zone(name, zones).map(|z| (name.clone(), z))
}

/// The zone at `provider` that holds the lease record: a delegation's parent written
/// there, else a zone it serves.
pub fn pair_witness_zone<'a>(
    provider: &str,
    zones: impl Iterator<Item = &'a ZoneConfig> + Clone,
) -> Option<dnsteer_providers::ZoneName> {
    let parent = zones.clone().find_map(|z| {
        let d = z.delegation.as_ref().filter(|d| d.provider == provider)?;
        dnsteer_providers::ZoneName::new(d.parent.as_ref()?).ok()
    });
    parent.or_else(|| {
        zones
            .clone()
            .find(|z| z.providers.iter().any(|p| p == provider))
            .and_then(|z| dnsteer_providers::ZoneName::new(&z.name).ok())
    })
}

/// One thing wrong (or suspicious) in a configuration, where it is written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Problem {
    /// YAML path, e.g. `zones[0].records[0].pools[1].check`; empty for the whole file.
    pub path: String,
    /// 1-based line of the path (or of its nearest written ancestor).
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// Every error found in a configuration, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<Problem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A valid configuration, every secret resolved, and what deserves a second look.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Problem>,
    lines: lines::LineMap,
}

impl Loaded {
    /// A problem with provider `name` found after loading (building its adapter), at
    /// its path and line in the file.
    pub fn provider_problem(&self, name: &str, message: String) -> Problem {
        self.problem_at(lines::join_key("providers", name), message)
    }

    /// A problem found after loading at `path` (as lines.rs writes paths), with its line.
    pub fn problem_at(&self, path: String, message: String) -> Problem {
        Problem {
            line: self.lines.line(&path),
            path,
            message,
        }
    }
}

/// Reads, validates and resolves the configuration at `path`; relative secret files
/// are taken from its folder.
pub fn load(path: &Path) -> Result<Loaded, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![Problem {
            path: String::new(),
            line: None,
            message: format!("cannot read configuration file {}: {e}", path.display()),
        }])
    })?;
    let base_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    load_str(&text, base_dir)
}

/// Validates and resolves a configuration text; relative secret files are taken from
/// `base_dir`.
pub fn load_str(text: &str, base_dir: &Path) -> Result<Loaded, ConfigErrors> {
    let line_map = match lines::LineMap::parse(text) {
        Ok(map) => map,
        Err(e) => {
            return Err(ConfigErrors(vec![Problem {
                path: String::new(),
                line: Some(e.line),
                message: format!("YAML syntax error at column {}: {}", e.column, e.message),
            }]))
        }
    };
    if !line_map.duplicates().is_empty() {
        let problems = line_map.duplicates().iter().map(|(path, line)| Problem {
            path: path.clone(),
            line: Some(*line),
            message: "duplicate key: it is already set above in the same mapping".to_string(),
        });
        return Err(ConfigErrors(problems.collect()));
    }
    let mut report = Report::new(&line_map);
    let mut parsed = parse::parse(text, &mut report);
    if let Some(parsed) = parsed.as_mut() {
        validate::validate(parsed, &mut report);
        validate::resolve_secrets(parsed, base_dir, &mut report);
        hosts::resolve_hosts(parsed, &mut report);
    }
    let (errors, warnings) = report.finish();
    match parsed {
        Some(parsed) if errors.is_empty() => Ok(Loaded {
            config: parsed.into_config(),
            warnings,
            lines: line_map,
        }),
        _ => Err(ConfigErrors(errors)),
    }
}

/// Collects problems, looking up each one's line as it comes.
pub(crate) struct Report<'a> {
    lines: &'a lines::LineMap,
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl<'a> Report<'a> {
    fn new(lines: &'a lines::LineMap) -> Self {
        Self {
            lines,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn problem(&self, path: String, message: String) -> Problem {
        Problem {
            line: self.lines.line(&path),
            path,
            message,
        }
    }

    pub(crate) fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let p = self.problem(path.into(), message.into());
        self.errors.push(p);
    }

    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let p = self.problem(path.into(), message.into());
        self.warnings.push(p);
    }

    /// An error at a line of its own (a parse error that knows better than the map).
    pub(crate) fn error_at(&mut self, path: impl Into<String>, line: Option<usize>, message: String) {
        let path = path.into();
        let line = line.or_else(|| self.lines.line(&path));
        self.errors.push(Problem { path, line, message });
    }

    /// Errors and warnings in file order (whole-file problems first), without repeats.
    fn finish(self) -> (Vec<Problem>, Vec<Problem>) {
        let order = |mut v: Vec<Problem>| {
            let mut seen = std::collections::HashSet::new();
            v.retain(|p| seen.insert(p.clone()));
            v.sort_by_key(|p| p.line.unwrap_or(0));
            v
        };
        (order(self.errors), order(self.warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_display_path_message_and_line() {
        let p = Problem {
            path: "zones[0].records[0].pools[1].check".into(),
            line: Some(41),
            message: "no check named \"web-eu\"".into(),
        };
        assert_eq!(
            p.to_string(),
            "zones[0].records[0].pools[1].check: no check named \"web-eu\" (line 41)"
        );
        let whole = Problem {
            path: String::new(),
            line: None,
            message: "empty".into(),
        };
        let errors = ConfigErrors(vec![p, whole]);
        assert_eq!(errors.to_string().lines().count(), 2);
    }
}
