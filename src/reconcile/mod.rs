//! The write side of one steering pass: read every provider's live records, steer,
//! diff into a plan, and apply a plan provider by provider. Providers are read and
//! written concurrently; one that fails never stops the others.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dnsteer_providers::{Applied, Change, Fence, Provider, ProviderError, RecordSet, RecordType, ZoneName};
use tokio::task::JoinSet;

use crate::config::{Config, ZoneConfig};
use crate::connect::Providers;
use crate::plan::{self, Desired, Plan, PlanError, SafetyLimits};
use crate::steer::{self, HealthView, Note};

/// Live record sets read from the providers, by (zone, provider).
#[derive(Clone, Debug, Default)]
pub struct Live {
    pub records: BTreeMap<(ZoneName, String), Vec<RecordSet>>,
    pub errors: Vec<PlanError>,
}

impl Live {
    fn get(&self, zone: &ZoneName, provider: &str) -> Option<&Vec<RecordSet>> {
        self.records.get(&(zone.clone(), provider.to_string()))
    }
}

/// The zone a delegation is written in: the parent, or for a registrar the zone itself.
pub fn delegation_zone(zone: &ZoneConfig) -> Option<(ZoneName, String)> {
    let delegation = zone.delegation.as_ref()?;
    let at = match &delegation.parent {
        Some(parent) => ZoneName::new(parent).ok()?,
        None => ZoneName::new(&zone.name).ok()?,
    };
    Some((at, delegation.provider.clone()))
}

/// Reads every zone from each of its providers, and each delegation's parent zone.
pub async fn read_live(config: &Config, providers: &Providers) -> Live {
    let mut wanted: BTreeSet<(ZoneName, String)> = BTreeSet::new();
    for zone in &config.zones {
        let Ok(name) = ZoneName::new(&zone.name) else { continue };
        for p in &zone.providers {
            wanted.insert((name.clone(), p.clone()));
        }
        if let Some(at) = delegation_zone(zone) {
            wanted.insert(at);
        }
    }
    let mut tasks = JoinSet::new();
    let mut reading = BTreeMap::new();
    for (zone, provider) in wanted {
        let Some(adapter) = providers.get(&provider).cloned() else {
            continue;
        };
        let z = zone.clone();
        let handle = tasks.spawn(async move { adapter.records(&z).await });
        reading.insert(handle.id(), (zone, provider));
    }
    let mut live = Live::default();
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, result) = match joined {
            Ok((id, result)) => (id, result),
            // A read that panicked is a failed read, reported like any other.
            Err(e) => (
                e.id(),
                Err(ProviderError::Protocol {
                    provider: String::new(),
                    message: format!("read failed: {e}"),
                }),
            ),
        };
        let Some((zone, provider)) = reading.remove(&id) else {
            continue;
        };
        match result {
            Ok(sets) => {
                live.records.insert((zone, provider), sets);
            }
            Err(e) => live.errors.push(PlanError {
                zone: zone.to_string(),
                provider,
                error: e.to_string(),
            }),
        }
    }
    live.errors
        .sort_by(|a, b| (&a.zone, &a.provider).cmp(&(&b.zone, &b.provider)));
    live
}

/// A plan and what steering had to say while making it.
#[derive(Clone, Debug, Default)]
pub struct Steered {
    pub plan: Plan,
    pub notes: Vec<(ZoneName, Note)>,
    pub limits: BTreeMap<ZoneName, SafetyLimits>,
    /// Providers in each zone's desired delegation.
    pub delegated: BTreeMap<ZoneName, Vec<String>>,
}

/// The share of a zone's managed record sets one apply may change without `--force`,
/// when the zone does not say (octoDNS's update threshold).
pub const DEFAULT_MAX_CHANGE_RATIO: f64 = 0.3;
/// Zones managing fewer record sets than this are not held by the ratio.
pub const MIN_MANAGED_FOR_RATIO: usize = 10;

/// Steers every zone and diffs the result against `live`. Pure: the adapters are
/// used only for `normalize`.
pub fn steer_and_plan(config: &Config, providers: &Providers, health: &HealthView, live: &Live) -> Steered {
    let mut out = Steered::default();
    // A provider that could not be read matters only where it would have been written:
    // an unhealthy provider is skipped anyway (its health says why).
    let mut written: BTreeSet<(String, String)> = BTreeSet::new();
    for zone in &config.zones {
        let Ok(zone_name) = ZoneName::new(&zone.name) else {
            continue;
        };
        let zone_live: BTreeMap<String, Vec<RecordSet>> = zone
            .providers
            .iter()
            .filter_map(|p| live.get(&zone_name, p).map(|sets| (p.clone(), sets.clone())))
            .collect();
        let delegation_at = delegation_zone(zone);
        let live_delegation = delegation_at.as_ref().and_then(|(at, p)| {
            live.get(at, p)?
                .iter()
                .find(|s| s.name == zone_name.as_str() && s.rtype == RecordType::Ns)
                .cloned()
        });
        // The providers the parent sends resolvers to now: their answers are the
        // published ones.
        let serving: Vec<String> = match &live_delegation {
            Some(ns) => zone
                .providers
                .iter()
                .filter(|p| {
                    config.providers.get(*p).is_some_and(|c| {
                        c.nameservers()
                            .iter()
                            .filter_map(|n| dnsteer_providers::record::normalize_name(n).ok())
                            .any(|n| ns.values.contains(&n))
                    })
                })
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let records = steer::desired_records(zone, &zone_name, health, &zone_live, &serving);
        out.notes
            .extend(records.notes.iter().cloned().map(|n| (zone_name.clone(), n)));

        // A provider whose copy already matches the steered records may (re)join the
        // delegation.
        let mut in_sync = BTreeSet::new();
        for (p, sets) in &zone_live {
            let Some(adapter) = providers.get(p) else { continue };
            if plan::diff(sets, &normalized(adapter.as_ref(), &records.records)).is_empty() {
                in_sync.insert(p.clone());
            }
        }

        // Without the parent's view there is no knowing the delegation: the NS sets
        // (parent and apex) wait for the next read.
        let parent_unread = delegation_at.as_ref().is_some_and(|(at, p)| live.get(at, p).is_none());
        let ns = if parent_unread {
            steer::NsDesired::default()
        } else {
            steer::desired_ns(
                zone,
                &zone_name,
                &config.providers,
                health,
                live_delegation.as_ref(),
                &in_sync,
            )
        };
        out.notes
            .extend(ns.notes.iter().cloned().map(|n| (zone_name.clone(), n)));
        out.delegated.insert(zone_name.clone(), ns.delegated.clone());

        let mut wanted = records.records.clone();
        wanted.extend(ns.apex.clone());
        for p in steer::writable_providers(zone, health) {
            written.insert((zone_name.to_string(), p.clone()));
            let (Some(adapter), Some(sets)) = (providers.get(&p), zone_live.get(&p)) else {
                continue;
            };
            out.plan
                .extend(&zone_name, &p, plan::diff(sets, &normalized(adapter.as_ref(), &wanted)));
        }
        if let Some((at, p)) = &delegation_at {
            written.insert((at.to_string(), p.clone()));
        }
        if let (Some((at, p)), Some(desired)) = (&delegation_at, &ns.delegation) {
            if let (Some(adapter), Some(sets)) = (providers.get(p), live.get(at, p)) {
                out.plan.extend(
                    at,
                    p,
                    plan::diff(sets, &normalized(adapter.as_ref(), std::slice::from_ref(desired))),
                );
            }
        }
        out.limits.insert(zone_name.clone(), limits(config, zone));
        if let Some((at, _)) = &delegation_at {
            out.limits.entry(at.clone()).or_insert_with(|| limits(config, zone));
        }
    }
    out.plan.errors = live
        .errors
        .iter()
        .filter(|e| written.contains(&(e.zone.clone(), e.provider.clone())))
        .cloned()
        .collect();
    out.plan.sort();
    out
}

fn normalized(adapter: &dyn Provider, desired: &[Desired]) -> Vec<Desired> {
    let sets = adapter.normalize(desired.iter().map(|d| d.set.clone()).collect());
    sets.into_iter()
        .zip(desired)
        .map(|(set, d)| Desired {
            set,
            reason: d.reason.clone(),
        })
        .collect()
}

fn limits(config: &Config, zone: &ZoneConfig) -> SafetyLimits {
    let min_providers = zone.delegation.as_ref().map_or(0, |d| d.min_providers);
    let mut ns_counts: Vec<usize> = zone
        .providers
        .iter()
        .map(|p| config.providers.get(p).map_or(0, |c| c.nameservers().len()))
        .collect();
    ns_counts.sort_unstable();
    SafetyLimits {
        managed_sets: zone.records.len() + usize::from(zone.delegation.is_some()),
        max_change_ratio: zone.max_change_ratio.unwrap_or(DEFAULT_MAX_CHANGE_RATIO),
        min_managed_for_ratio: MIN_MANAGED_FOR_RATIO,
        min_ns_values: ns_counts.iter().take(min_providers).sum(),
    }
}

/// What applying a plan did at one provider for one zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyReport {
    pub zone: ZoneName,
    pub provider: String,
    pub planned: usize,
    pub applied: usize,
    /// The error that stopped this provider's changes, if any. Changes before it (in
    /// earlier batches) are applied; the failed batch and those after it are not.
    pub error: Option<String>,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// The fence each (zone, provider) batch carries, in pair mode (see `docs/pair.md`).
pub type Fences = BTreeMap<(ZoneName, String), Fence>;

/// Applies the plan: each (zone, provider) in batches of at most its `max_batch`, the
/// providers concurrently, stopping a provider at its first failed batch. A group with
/// a fence carries it in every batch.
/// Asked before every batch: whether writing may go on (the daemon's lease is live and
/// it is not shutting down). A batch is never cut halfway; the ones after stop.
pub type MayWrite = Arc<dyn Fn() -> bool + Send + Sync>;

/// Writing may always go on (the CLI: an operator confirmed).
pub fn always() -> MayWrite {
    Arc::new(|| true)
}

pub async fn apply(plan: &Plan, providers: &Providers, fences: &Fences, may_write: MayWrite) -> Vec<ApplyReport> {
    let mut groups: BTreeMap<(ZoneName, String), Vec<Change>> = BTreeMap::new();
    for c in &plan.changes {
        groups
            .entry((c.zone.clone(), c.provider.clone()))
            .or_default()
            .push(c.change.clone());
    }
    let mut tasks = JoinSet::new();
    for ((zone, provider), changes) in groups {
        let adapter = providers.get(&provider).cloned();
        let fence = fences.get(&(zone.clone(), provider.clone())).copied();
        let may_write = may_write.clone();
        tasks.spawn(async move { apply_one(zone, provider, adapter, changes, fence, may_write).await });
    }
    let mut reports = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(report) => reports.push(report),
            Err(e) => tracing::error!("an apply task failed: {e}"),
        }
    }
    reports.sort_by(|a, b| (&a.zone, &a.provider).cmp(&(&b.zone, &b.provider)));
    reports
}

async fn apply_one(
    zone: ZoneName,
    provider: String,
    adapter: Option<Arc<dyn Provider>>,
    changes: Vec<Change>,
    mut fence: Option<Fence>,
    may_write: MayWrite,
) -> ApplyReport {
    let mut report = ApplyReport {
        zone,
        provider,
        planned: changes.len(),
        applied: 0,
        error: None,
    };
    let Some(adapter) = adapter else {
        report.error = Some("no such provider".into());
        return report;
    };
    // Leave room for the fence change in each batch.
    let batch = adapter
        .capabilities()
        .max_batch
        .saturating_sub(usize::from(fence.is_some()))
        .max(1);
    for chunk in changes.chunks(batch) {
        if !may_write() {
            report.error =
                Some("writing stopped (the lease lapsed or the daemon is stopping): the rest was not written".into());
            break;
        }
        let result: Result<Applied, ProviderError> = match &fence {
            Some(f) => adapter.apply_fenced(&report.zone, f, chunk).await,
            None => adapter.apply(&report.zone, chunk).await,
        };
        match result {
            Ok(_) => {
                report.applied += chunk.len();
                fence = fence.map(|f| f.next());
            }
            Err(e) => {
                // A provider that cannot apply a batch atomically says how far it got.
                if let ProviderError::PartiallyApplied { applied, .. } = &e {
                    report.applied += applied;
                }
                report.error = Some(e.to_string());
                break;
            }
        }
    }
    report
}
