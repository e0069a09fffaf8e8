//! What an alert says: the event kinds of the contract, their severities, and the key
//! that ties a recovery to the trouble it ends.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

/// The events of the contract (SPEC, "Alerts"); serialized in snake_case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    TargetDown,
    TargetUp,
    /// A record leaves its preferred pool, or a provider leaves the delegation.
    Failover,
    /// What a failover moved away from is back.
    Failback,
    /// Every pool of a record is unhealthy: the record keeps its last values.
    AllPoolsDown,
    ApplyFailed,
    /// A provider's API could not be read (a write problem ahead, never a health verdict).
    ReadFailed,
    LeaderChanged,
    ProviderDrift,
    /// The lease could not be proved (peer and witness, or etcd, unreachable): nobody writes.
    CoordinationLost,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TargetDown => "target_down",
            Self::TargetUp => "target_up",
            Self::Failover => "failover",
            Self::Failback => "failback",
            Self::AllPoolsDown => "all_pools_down",
            Self::ApplyFailed => "apply_failed",
            Self::ReadFailed => "read_failed",
            Self::LeaderChanged => "leader_changed",
            Self::ProviderDrift => "provider_drift",
            Self::CoordinationLost => "coordination_lost",
        }
    }

    /// The severity an event gets unless its sender says otherwise.
    pub fn default_severity(self) -> Severity {
        match self {
            Self::TargetDown | Self::ApplyFailed | Self::AllPoolsDown | Self::CoordinationLost => Severity::Critical,
            Self::Failover | Self::ProviderDrift | Self::LeaderChanged | Self::ReadFailed => Severity::Warning,
            Self::TargetUp | Self::Failback => Severity::Info,
        }
    }

    /// Events that come in trouble/recovery pairs share a family, so that a recovery
    /// resolves (PagerDuty) and un-deduplicates the trouble it ends.
    pub fn family(self) -> &'static str {
        match self {
            Self::TargetDown | Self::TargetUp => "target",
            Self::Failover | Self::Failback => "failover",
            other => other.as_str(),
        }
    }

    /// Whether this event ends the trouble its family's other event reported.
    pub fn is_recovery(self) -> bool {
        matches!(self, Self::TargetUp | Self::Failback)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent an event is; serialized in lowercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event, as every sink receives it. Build it with [`Event::new`] and the
/// chained setters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub event: EventKind,
    pub severity: Severity,
    pub agent: String,
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// A target name, `check:NAME` or `provider:NAME` (or what the event is about).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub summary: String,
    /// The records one cause moved, for a grouped `failover`/`failback`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<String>,
    /// Extra context; `Null` when there is none (and then left out of the JSON).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

fn rfc3339<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl Event {
    /// An event with its kind's default severity and no zone, target or details.
    pub fn new(event: EventKind, agent: &str, at: DateTime<Utc>, summary: impl Into<String>) -> Self {
        Self {
            event,
            severity: event.default_severity(),
            agent: agent.to_string(),
            at,
            zone: None,
            target: None,
            summary: summary.into(),
            records: Vec::new(),
            details: serde_json::Value::Null,
        }
    }

    pub fn records(mut self, records: Vec<String>) -> Self {
        self.records = records;
        self
    }

    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = Some(zone.into());
        self
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// `dnsteer:{zone}:{target}:{family}` (`-` for what is absent): the same for a
    /// trouble and the recovery that ends it (`target_down`/`target_up`,
    /// `failover`/`failback`), so PagerDuty resolves the incident the trigger opened.
    /// The agent is left out on purpose: both daemons of a pair report into one incident.
    pub fn dedup_key(&self) -> String {
        format!(
            "dnsteer:{}:{}:{}",
            self.zone.as_deref().unwrap_or("-"),
            self.target.as_deref().unwrap_or("-"),
            self.event.family()
        )
    }
}
