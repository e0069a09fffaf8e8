//! The audit log: one JSON line per batch written to a provider, beside the state file,
//! with when the write started and when it was done (a write to a slow provider can
//! take minutes, and the line must say when the change really happened).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::plan::{Plan, PlannedChange};
use crate::reconcile::ApplyReport;

pub struct Audit {
    path: PathBuf,
}

impl Audit {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Appends the line of one finished write (an append is short; it runs off the
    /// async threads all the same, through the writer's own task).
    pub fn record(
        &self,
        agent: &str,
        term: u64,
        report: &ApplyReport,
        changes: &[PlannedChange],
        started: DateTime<Utc>,
        at: DateTime<Utc>,
    ) {
        let checksum = Plan {
            changes: changes.to_vec(),
            errors: Vec::new(),
        }
        .checksum();
        let line = json!({
            "at": at, "started": started, "agent": agent, "term": term, "checksum": checksum,
            "zone": report.zone.as_str(), "provider": report.provider,
            "result": if report.ok() { "ok" } else { "failed" },
            "error": report.error.as_ref().map(ToString::to_string),
            "applied": report.applied, "planned": report.planned, "may_be_partial": report.may_be_partial,
            "changes": changes.iter().map(|c| {
                let mut change = json!({
                    "action": c.change.action(), "name": c.change.subject().name,
                    "type": c.change.subject().rtype.as_str(),
                    "before": c.change.before().map(|s| &s.values), "after": c.change.after().map(|s| &s.values),
                    "ttl": c.change.subject().ttl, "reason": c.reason,
                });
                crate::plan::add_routing(&c.change, &mut change);
                change
            }).collect::<Vec<_>>(),
        });
        tracing::info!(target: "dnsteer::audit", "{line}");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
            writeln!(f, "{line}")
        };
        if let Err(e) = write() {
            tracing::error!("cannot append to the audit log {}: {e}", self.path.display());
        }
    }

    /// The last `n` lines of the log, oldest first, read from at most its last
    /// `TAIL_BYTES` (the log grows without end; the page needs only its end).
    pub fn tail(&self, n: usize) -> Vec<serde_json::Value> {
        const TAIL_BYTES: u64 = 256 * 1024;
        let read = || -> std::io::Result<String> {
            let mut f = std::fs::File::open(&self.path)?;
            let len = f.metadata()?.len();
            f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
            let mut bytes = Vec::new();
            f.take(TAIL_BYTES).read_to_end(&mut bytes)?;
            // The cut may fall inside a line (dropped below: it does not parse).
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let text = read().unwrap_or_default();
        let mut lines: Vec<serde_json::Value> = text
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str(l).ok())
            .take(n)
            .collect();
        lines.reverse();
        lines
    }
}
