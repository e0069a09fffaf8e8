//! What the daemon makes of what happened, with no I/O and no clock (time comes in as
//! `now`, like `health::Engine`): which provider waits how long after a failure and
//! why, which outages on-call has heard of, which held plans an operator approved, and
//! which events steering's notes become. The daemon feeds it with `handle_*` and
//! drains `poll_event`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use dnsteer_providers::{ProviderError, ZoneName};

use crate::alert::{Event, EventKind, Severity};
use crate::decide::{Decision, FlapHistory};
use crate::plan::PlannedChange;
use crate::steer::Note;

/// The first wait after a failure that may pass by itself; each further one doubles.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest a provider that keeps failing is left alone between attempts, and how
/// long refused credentials or a refused request wait (retrying at once cannot help).
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why a provider is not written to for a while.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub until: DateTime<Utc>,
    pub step: Duration,
    pub reason: String,
}

/// A provider's API in trouble since when, and the last error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    pub since: DateTime<Utc>,
    pub error: String,
}

/// A situation steering reported, kept from one cycle to the next so that each is
/// told once when it starts (and a failover once more when it ends).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Situation {
    FailedOver {
        zone: ZoneName,
        record: String,
        rtype: String,
    },
    AllPoolsDown {
        zone: ZoneName,
        record: String,
        rtype: String,
    },
    Drift {
        zone: ZoneName,
        provider: String,
    },
    Out {
        zone: ZoneName,
        provider: String,
    },
    DelegationHeld {
        zone: ZoneName,
    },
    Held {
        zone: ZoneName,
        checksum: String,
    },
}

impl Situation {
    fn zone(&self) -> &ZoneName {
        match self {
            Self::FailedOver { zone, .. }
            | Self::AllPoolsDown { zone, .. }
            | Self::Drift { zone, .. }
            | Self::Out { zone, .. }
            | Self::DelegationHeld { zone }
            | Self::Held { zone, .. } => zone,
        }
    }

    /// Whether it describes traffic moving (which waits while writes cannot happen).
    fn is_movement(&self) -> bool {
        matches!(self, Self::FailedOver { .. } | Self::Drift { .. } | Self::Out { .. })
    }
}

/// What the daemon should do after a failed write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Read again and plan at once (a compare-and-set failed: someone else wrote).
    Replan,
    /// Wait out the provider's backoff.
    Wait,
    /// The lease no longer allows writing: nothing to retry here.
    Fenced,
}

#[derive(Debug)]
pub struct Supervisor {
    agent: String,
    backoff: BTreeMap<String, Backoff>,
    read_outages: BTreeMap<String, Outage>,
    write_outages: BTreeMap<String, Outage>,
    situations: BTreeMap<Situation, String>,
    pub flaps: FlapHistory,
    events: VecDeque<Event>,
}

impl Supervisor {
    pub fn new(agent: &str, flaps: FlapHistory) -> Self {
        Self {
            agent: agent.to_string(),
            backoff: BTreeMap::new(),
            read_outages: BTreeMap::new(),
            write_outages: BTreeMap::new(),
            situations: BTreeMap::new(),
            flaps,
            events: VecDeque::new(),
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When the next backoff ends (a cycle should run then).
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.backoff.values().map(|b| b.until).min()
    }

    pub fn may_write(&self, provider: &str, now: DateTime<Utc>) -> bool {
        self.backoff.get(provider).is_none_or(|b| b.until <= now)
    }

    pub fn backoffs(&self) -> &BTreeMap<String, Backoff> {
        &self.backoff
    }

    pub fn read_outages(&self) -> &BTreeMap<String, Outage> {
        &self.read_outages
    }

    pub fn write_outages(&self) -> &BTreeMap<String, Outage> {
        &self.write_outages
    }

    /// A new leader reports the situation as it finds it, not recoveries from
    /// situations it never reported.
    pub fn forget_reported(&mut self) {
        self.situations.clear();
        self.read_outages.clear();
        self.write_outages.clear();
    }

    /// This cycle's reads: each (zone, provider) read, or why it failed.
    pub fn handle_reads<'a>(
        &mut self,
        reads: impl IntoIterator<Item = (&'a ZoneName, &'a str, Option<&'a ProviderError>)>,
        leader: bool,
        now: DateTime<Utc>,
    ) {
        let mut ok: BTreeSet<&str> = BTreeSet::new();
        let mut failed: BTreeMap<&str, (&ZoneName, &ProviderError)> = BTreeMap::new();
        for (zone, provider, error) in reads {
            match error {
                None => {
                    ok.insert(provider);
                }
                Some(e) => {
                    failed.insert(provider, (zone, e));
                }
            }
        }
        for (provider, (zone, e)) in &failed {
            if let Some(outage) = self.read_outages.get_mut(*provider) {
                outage.error = e.to_string();
                continue;
            }
            self.read_outages.insert(
                provider.to_string(),
                Outage {
                    since: now,
                    error: e.to_string(),
                },
            );
            if leader {
                self.events.push_back(
                    Event::new(
                        EventKind::ReadFailed,
                        &self.agent,
                        now,
                        format!("cannot read {zone} from {provider}: {e}"),
                    )
                    .zone(zone.as_str())
                    .target(format!("provider:{provider}")),
                );
            }
        }
        for provider in ok.iter().filter(|p| !failed.contains_key(*p)) {
            if self.read_outages.remove(*provider).is_some() {
                tracing::info!(provider = %provider, "provider API can be read again");
            }
        }
    }

    /// A write to one provider for one zone finished. Returns what to do next.
    pub fn handle_apply(
        &mut self,
        zone: &ZoneName,
        provider: &str,
        written: &[PlannedChange],
        error: Option<&ProviderError>,
        now: DateTime<Utc>,
    ) -> AfterFailure {
        for change in written {
            self.flaps.record(change, now);
        }
        let Some(e) = error else {
            self.backoff.remove(provider);
            if self.write_outages.remove(provider).is_some() {
                tracing::info!(provider = %provider, "provider writes recovered");
            }
            return AfterFailure::Wait;
        };
        let step = self.backoff.get(provider).map(|b| b.step);
        let (wait, next) = match e {
            ProviderError::Fenced { .. } => return AfterFailure::Fenced,
            ProviderError::Conflict { .. } => return AfterFailure::Replan,
            ProviderError::RateLimited { retry_after, .. } => {
                let wait = retry_after.unwrap_or(FIRST_BACKOFF).min(MAX_BACKOFF);
                (wait, step.unwrap_or(FIRST_BACKOFF))
            }
            ProviderError::Auth { .. } | ProviderError::Rejected { .. } | ProviderError::Unsupported { .. } => {
                (MAX_BACKOFF, MAX_BACKOFF)
            }
            _ => {
                let wait = step.map_or(FIRST_BACKOFF, |s| (s * 2).min(MAX_BACKOFF));
                (wait, wait)
            }
        };
        self.backoff.insert(
            provider.to_string(),
            Backoff {
                until: now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX),
                step: next,
                reason: e.to_string(),
            },
        );
        if !self.write_outages.contains_key(provider) {
            self.write_outages.insert(
                provider.to_string(),
                Outage {
                    since: now,
                    error: e.to_string(),
                },
            );
            // One alert per outage: the next one comes after a recovery.
            self.events.push_back(
                Event::new(
                    EventKind::ApplyFailed,
                    &self.agent,
                    now,
                    format!(
                        "writes to {provider} for {zone} failed: {e}; retrying in {}",
                        humantime::format_duration(wait)
                    ),
                )
                .zone(zone.as_str())
                .target(format!("provider:{provider}")),
            );
        }
        AfterFailure::Wait
    }

    /// Turns this cycle's decision into events, once per change of situation.
    /// `moving(zone)` says whether the zone's changes can be written now (not dry run,
    /// not paused, not held): movement that cannot happen is not news yet, and what was
    /// already reported of it stays as it was.
    pub fn handle_decision(
        &mut self,
        decision: &Decision,
        moving: &dyn Fn(&ZoneName) -> bool,
        leader: bool,
        now: DateTime<Utc>,
    ) {
        // Where the delegation could not be decided (its parent unread), what was said of
        // it stands: no news is no failback.
        let undecided: BTreeSet<&ZoneName> = decision
            .delegated
            .iter()
            .filter(|(_, providers)| providers.is_empty())
            .map(|(zone, _)| zone)
            .collect();
        let mut current: BTreeMap<Situation, String> = self
            .situations
            .iter()
            .filter(|(s, _)| {
                (s.is_movement() && !moving(s.zone()))
                    || (matches!(s, Situation::Out { .. } | Situation::Drift { .. }) && undecided.contains(s.zone()))
            })
            .map(|(s, d)| (s.clone(), d.clone()))
            .collect();
        for (zone, note) in &decision.notes {
            let (situation, detail) = match note {
                Note::FailedOver { record, rtype, pool } => (
                    Situation::FailedOver {
                        zone: zone.clone(),
                        record: record.clone(),
                        rtype: rtype.to_string(),
                    },
                    pool.clone(),
                ),
                Note::AllPoolsDown { record, rtype } => (
                    Situation::AllPoolsDown {
                        zone: zone.clone(),
                        record: record.clone(),
                        rtype: rtype.to_string(),
                    },
                    String::new(),
                ),
                Note::ProviderDrift { provider } => (
                    Situation::Drift {
                        zone: zone.clone(),
                        provider: provider.clone(),
                    },
                    String::new(),
                ),
                Note::ProviderOut { provider, reason } => (
                    Situation::Out {
                        zone: zone.clone(),
                        provider: provider.clone(),
                    },
                    reason.clone(),
                ),
                Note::DelegationHeld { reason } => (Situation::DelegationHeld { zone: zone.clone() }, reason.clone()),
            };
            if situation.is_movement() && !moving(zone) {
                continue;
            }
            current.insert(situation, detail);
        }
        // Every pool down keeps the record where it was (fail-open): a record failed
        // over stays failed over, which is no failback.
        let still_over: Vec<(Situation, String)> = self
            .situations
            .iter()
            .filter_map(|(s, d)| match s {
                Situation::FailedOver { zone, record, rtype }
                    if current.contains_key(&Situation::AllPoolsDown {
                        zone: zone.clone(),
                        record: record.clone(),
                        rtype: rtype.clone(),
                    }) =>
                {
                    Some((s.clone(), d.clone()))
                }
                _ => None,
            })
            .collect();
        current.extend(still_over);
        for hold in &decision.held {
            current.insert(
                Situation::Held {
                    zone: hold.zone.clone(),
                    checksum: hold.checksum.clone(),
                },
                hold.reasons.join("; "),
            );
        }
        let previous = std::mem::replace(&mut self.situations, current);
        if leader {
            self.report(&previous, now);
        }
    }

    fn report(&mut self, previous: &BTreeMap<Situation, String>, now: DateTime<Utc>) {
        let started: Vec<(Situation, String)> = self
            .situations
            .iter()
            .filter(|(s, _)| !previous.contains_key(*s))
            .map(|(s, d)| (s.clone(), d.clone()))
            .collect();
        let ended: Vec<(Situation, String)> = previous
            .iter()
            .filter(|(s, _)| !self.situations.contains_key(*s))
            .map(|(s, d)| (s.clone(), d.clone()))
            .collect();
        // Records that one cause moved go out as one event: grouped by zone and the
        // pool they now answer from (failover), or by zone (failback).
        let mut over: BTreeMap<(ZoneName, String), Vec<String>> = BTreeMap::new();
        let mut back: BTreeMap<ZoneName, Vec<String>> = BTreeMap::new();
        for (s, detail) in started {
            let agent = self.agent.clone();
            let event = |kind, summary: String| Event::new(kind, &agent, now, summary);
            match s {
                Situation::FailedOver { zone, record, rtype } => {
                    over.entry((zone, detail))
                        .or_default()
                        .push(format!("{record} {rtype}"));
                }
                Situation::AllPoolsDown { zone, record, rtype } => self.events.push_back(
                    event(
                        EventKind::AllPoolsDown,
                        format!(
                            "every pool of {record} {rtype} is unhealthy: keeping its published values (fail-open)"
                        ),
                    )
                    .zone(zone.as_str())
                    .records(vec![format!("{record} {rtype}")]),
                ),
                Situation::Drift { zone, provider } => self.events.push_back(
                    event(
                        EventKind::ProviderDrift,
                        format!(
                            "{provider} is healthy but its records differ: repairing before it rejoins the delegation"
                        ),
                    )
                    .zone(zone.as_str())
                    .target(format!("provider:{provider}")),
                ),
                Situation::Out { zone, provider } => self.events.push_back(
                    event(
                        EventKind::Failover,
                        format!("{provider} leaves the delegation of {zone}: {detail}"),
                    )
                    .zone(zone.as_str())
                    .target(format!("provider:{provider}")),
                ),
                Situation::DelegationHeld { zone } => self
                    .events
                    .push_back(event(EventKind::AllPoolsDown, detail).zone(zone.as_str())),
                Situation::Held { zone, checksum } => self.events.push_back(
                    event(
                        EventKind::ApplyFailed,
                        format!(
                            "plan for {zone} held until an operator approves it ({detail}): \
                             POST /v1/approve {{\"checksum\": \"{checksum}\"}} or dnsteer apply --force"
                        ),
                    )
                    .severity(Severity::Warning)
                    .zone(zone.as_str()),
                ),
            }
        }
        for (s, _) in ended {
            match s {
                Situation::FailedOver { zone, record, rtype } => {
                    back.entry(zone).or_default().push(format!("{record} {rtype}"));
                }
                Situation::Out { zone, provider } => self.events.push_back(
                    Event::new(
                        EventKind::Failback,
                        &self.agent,
                        now,
                        format!("{provider} is back in the delegation of {zone}"),
                    )
                    .zone(zone.as_str())
                    .target(format!("provider:{provider}")),
                ),
                _ => {}
            }
        }
        // No `target` on record events: a failover and the failback that ends it share
        // one dedup key (zone and family) however the records were grouped.
        for ((zone, pool), records) in over {
            let summary = format!(
                "{} record{} of {zone} answer from pool {pool}, not their preferred pool: {}",
                records.len(),
                if records.len() == 1 { "" } else { "s" },
                records.join(", ")
            );
            self.events.push_back(
                Event::new(EventKind::Failover, &self.agent, now, summary)
                    .zone(zone.as_str())
                    .records(records),
            );
        }
        for (zone, records) in back {
            let summary = format!(
                "{} record{} of {zone} back on their preferred pool: {}",
                records.len(),
                if records.len() == 1 { "" } else { "s" },
                records.join(", ")
            );
            self.events.push_back(
                Event::new(EventKind::Failback, &self.agent, now, summary)
                    .zone(zone.as_str())
                    .records(records),
            );
        }
    }
}

/// The zones an approval of `checksum` (a held zone's, or the whole plan's) would let
/// through; an error when no current hold has it: the plan changed since it was read.
pub fn approvable(checksum: &str, decision: Option<&Decision>) -> Result<Vec<ZoneName>, String> {
    let Some(decision) = decision else {
        return Err("no plan has been computed yet".into());
    };
    let whole = decision.plan.checksum() == checksum;
    let zones: Vec<ZoneName> = decision
        .held
        .iter()
        .filter(|h| whole || h.checksum == checksum)
        .map(|h| h.zone.clone())
        .collect();
    if zones.is_empty() {
        let current: Vec<String> = decision
            .held
            .iter()
            .map(|h| format!("{} {}", h.zone, h.checksum))
            .collect();
        return Err(if current.is_empty() {
            format!("no plan is held now; {checksum} is not a current held plan")
        } else {
            format!(
                "{checksum} is not a held plan's checksum now (held: {})",
                current.join(", ")
            )
        });
    }
    Ok(zones)
}

/// The approvals that still match something held; the others are spent or stale.
pub fn live_approvals(approved: &BTreeSet<String>, decision: &Decision) -> BTreeSet<String> {
    approved
        .iter()
        .filter(|c| approvable(c, Some(decision)).is_ok())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
