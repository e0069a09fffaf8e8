//! The I/O of one steering pass: read every provider's live records, and apply a plan
//! provider by provider (what to write is `decide`'s). Providers are read and written
//! concurrently; one that fails never stops the others.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use dnsteer_providers::{Applied, Change, Fence, Provider, ProviderError, RecordSet, ZoneName};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::connect::Providers;
use crate::decide::delegation_zone;
use crate::plan::{Plan, PlanError};

/// Live record sets read from the providers, by (zone, provider).
#[derive(Clone, Debug, Default)]
pub struct Live {
    pub records: BTreeMap<(ZoneName, String), Vec<RecordSet>>,
    pub errors: Vec<PlanError>,
    /// The (zone, provider) reads that failed because the provider does not have the
    /// zone, told apart from other failures so the plan can say so.
    pub zone_missing: BTreeSet<(ZoneName, String)>,
}

impl Live {
    /// What `provider` holds for `zone`; `None` when it was not read (or failed).
    pub fn get(&self, zone: &ZoneName, provider: &str) -> Option<&Vec<RecordSet>> {
        self.records.get(&(zone.clone(), provider.to_string()))
    }
}

/// Every (zone, provider) a configuration reads: each zone at each of its providers,
/// and each delegation's parent zone.
pub fn wanted(config: &Config) -> BTreeSet<(ZoneName, String)> {
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
    wanted
}

/// Reads every zone the configuration names from each provider concurrently. A read
/// that has not finished within `deadline` is given up and reported as such: one hung
/// provider must not hold up the plan of the others.
pub async fn read_live(config: &Config, providers: &Providers, deadline: Duration) -> Live {
    let mut tasks = JoinSet::new();
    for (zone, provider) in wanted(config) {
        let Some(adapter) = providers.get(&provider).cloned() else {
            continue;
        };
        tasks.spawn(async move {
            let result = match tokio::time::timeout(deadline, adapter.records(&zone)).await {
                Ok(result) => result,
                Err(_) => Err(ProviderError::Transient {
                    provider: provider.clone(),
                    message: format!("no answer within {}", humantime::format_duration(deadline)),
                }),
            };
            (zone, provider, result)
        });
    }
    let mut live = Live::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((zone, provider, result)) => live.insert(zone, provider, result),
            Err(e) => tracing::error!("a provider read failed: {e}"),
        }
    }
    live.errors
        .sort_by(|a, b| (&a.zone, &a.provider).cmp(&(&b.zone, &b.provider)));
    live
}

impl Live {
    /// Adds one read's outcome.
    pub fn insert(&mut self, zone: ZoneName, provider: String, result: Result<Vec<RecordSet>, ProviderError>) {
        match result {
            Ok(sets) => {
                self.records.insert((zone, provider), sets);
            }
            Err(e) => {
                if matches!(e, ProviderError::ZoneNotFound { .. }) {
                    self.zone_missing.insert((zone.clone(), provider.clone()));
                }
                self.errors.push(PlanError {
                    zone: zone.to_string(),
                    provider,
                    error: e.to_string(),
                });
            }
        }
    }
}

/// What applying a plan did at one provider for one zone.
#[derive(Clone, Debug)]
pub struct ApplyReport {
    pub zone: ZoneName,
    pub provider: String,
    pub planned: usize,
    pub applied: usize,
    /// The error that stopped this provider's changes, if any. Changes before it (in
    /// earlier batches, or reported by `PartiallyApplied`) are applied; the rest are not,
    /// unless `may_be_partial`.
    pub error: Option<ProviderError>,
    /// The failed batch went to a provider that does not apply a batch atomically
    /// (`Capabilities.atomic`) and failed after it may have reached it (a timeout, an
    /// unreadable answer): any part of it may be live. Read again before trusting the
    /// count.
    pub may_be_partial: bool,
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
        let fence = fences.get(&(zone.clone(), provider.clone())).cloned();
        let may_write = may_write.clone();
        tasks.spawn(async move { apply_group(zone, provider, adapter, changes, fence, may_write).await });
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

/// Applies one (zone, provider)'s changes in batches, stopping at the first failure.
pub async fn apply_group(
    zone: ZoneName,
    provider: String,
    adapter: Option<Arc<dyn Provider>>,
    changes: Vec<Change>,
    mut fence: Option<Fence>,
    may_write: MayWrite,
) -> ApplyReport {
    // `may_write` is also asked before each request an adapter sends (the providers'
    // write guard), after any rate-limit wait.
    let mut report = ApplyReport {
        zone,
        provider,
        planned: changes.len(),
        applied: 0,
        error: None,
        may_be_partial: false,
    };
    let Some(adapter) = adapter else {
        report.error = Some(ProviderError::Rejected {
            provider: report.provider.clone(),
            message: "no such provider".into(),
        });
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
            report.error = Some(ProviderError::Fenced {
                provider: report.provider.clone(),
                message: "writing stopped (the lease lapsed or the daemon is stopping): the rest was not written"
                    .into(),
            });
            break;
        }
        let guard = may_write.clone();
        let write = async {
            match &fence {
                Some(f) => adapter.apply_fenced(&report.zone, f, chunk).await,
                None => adapter.apply(&report.zone, chunk).await,
            }
        };
        let result: Result<Applied, ProviderError> = dnsteer_providers::guard::guarded(guard, write).await;
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
                let maybe_sent = e.is_retryable() || matches!(e, ProviderError::Protocol { .. });
                report.may_be_partial = maybe_sent && !adapter.capabilities().atomic;
                report.error = Some(e);
                break;
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use dnsteer_providers::{Capabilities, RecordType};

    /// A provider whose every write times out, atomic or not.
    #[derive(Debug)]
    struct TimesOut(Capabilities);

    #[async_trait]
    impl Provider for TimesOut {
        fn name(&self) -> &str {
            "p"
        }
        fn capabilities(&self) -> &Capabilities {
            &self.0
        }
        async fn records(&self, _: &ZoneName) -> Result<Vec<RecordSet>, ProviderError> {
            Ok(Vec::new())
        }
        async fn apply(&self, _: &ZoneName, _: &[Change]) -> Result<Applied, ProviderError> {
            Err(ProviderError::Transient {
                provider: "p".into(),
                message: "timed out".into(),
            })
        }
    }

    /// Only a provider whose batches are not atomic can have written part of a batch
    /// that failed in flight.
    #[tokio::test]
    async fn a_failed_batch_may_be_partial_only_where_batches_are_not_atomic() {
        let zone = ZoneName::new("example.test.").unwrap();
        let changes = vec![Change::Create {
            after: RecordSet::new("www.example.test.", RecordType::A, 60, ["192.0.2.1"]).unwrap(),
        }];
        for atomic in [true, false] {
            let capabilities = dnsteer_providers::Capabilities {
                atomic,
                ..dnsteer_providers::capabilities_of("cloudflare").unwrap()
            };
            let adapter: Arc<dyn Provider> = Arc::new(TimesOut(capabilities));
            let report = apply_group(zone.clone(), "p".into(), Some(adapter), changes.clone(), None, always()).await;
            assert!(!report.ok());
            assert_eq!(report.may_be_partial, !atomic, "atomic: {atomic}");
        }
    }
}
