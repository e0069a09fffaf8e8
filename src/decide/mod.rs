//! The decision: one pure pass from health and live records to a plan. Each zone is
//! steered once and diffed once per provider it is written to; the safety limits then
//! hold the configured zones whose changes need an operator, each zone on its own. No
//! I/O, no clock: the adapters are used only for `normalize`, and `now` comes in.

mod budget;
mod flap;
mod safety;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use dnsteer_providers::{Provider, RecordSet, RecordType, ZoneName};

pub use crate::plan::Hold;
pub use budget::live_ttl_warnings;
pub use flap::FlapHistory;

use crate::config::{Config, ZoneConfig};
use crate::connect::Providers;
use crate::health::State;
use crate::plan::{self, Desired, LeftOut, Plan, PlanError};
use crate::reconcile::Live;
use crate::steer::{self, HealthView, Note};

/// What one pass decided: every change (held ones included), what steering noticed,
/// and which zones wait for an operator.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    /// Every change, held ones included, in canonical order.
    pub plan: Plan,
    pub notes: Vec<(ZoneName, Note)>,
    /// One entry per held configured zone, in zone-name order.
    pub held: Vec<Hold>,
    /// Providers in each zone's desired delegation.
    pub delegated: BTreeMap<ZoneName, Vec<String>>,
    /// Every (zone, provider) nothing was planned for although it would have been
    /// read, with why; those that are errors are also in `plan.errors`.
    pub left_out: Vec<LeftOut>,
}

impl Decision {
    /// Changes that may be written now: every zone not held, plus held zones whose
    /// checksum (or the whole plan's checksum) is in `approved`.
    pub fn writable(&self, approved: &BTreeSet<String>) -> Plan {
        let whole = approved.contains(&self.plan.checksum());
        let blocked: BTreeSet<&ZoneName> = self
            .held
            .iter()
            .filter(|h| !whole && !approved.contains(&h.checksum))
            .map(|h| &h.zone)
            .collect();
        self.plan.filtered(|c| !blocked.contains(&c.owner))
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

/// Steers every zone, diffs it against `live` and applies the safety limits.
pub fn decide(
    config: &Config,
    providers: &Providers,
    health: &HealthView,
    live: &Live,
    flaps: &FlapHistory,
    now: chrono::DateTime<chrono::Utc>,
) -> Decision {
    let mut out = Decision::default();
    // A read error matters where the provider would have been written. An unhealthy
    // provider that cannot be read is skipped: its health already says why.
    let mut written: BTreeSet<(String, String)> = BTreeSet::new();
    let mut rules = BTreeMap::new();
    for zone in &config.zones {
        let Ok(zone_name) = ZoneName::new(&zone.name) else {
            continue;
        };
        for p in &zone.providers {
            if steer::provider_state(health, p) != State::Unhealthy {
                written.insert((zone_name.to_string(), p.clone()));
            }
        }
        if let Some((at, p)) = delegation_zone(zone) {
            written.insert((at.to_string(), p));
        }
        steer_zone(config, providers, health, live, zone, &zone_name, &mut out);
        rules.insert(zone_name.clone(), safety::ZoneRules::new(config, zone, &zone_name));
    }
    out.plan.errors.extend(
        live.errors
            .iter()
            .filter(|e| written.contains(&(e.zone.clone(), e.provider.clone())))
            .cloned(),
    );
    out.left_out = left_out(health, live);
    out.plan.errors.extend(unread_zones(config, live));
    out.plan.sort();
    out.held = safety::holds(&out.plan, &rules, flaps, now);
    out
}

/// Every failed read, with why, so a plan never looks empty for a provider it could not
/// read.
fn left_out(health: &HealthView, live: &Live) -> Vec<LeftOut> {
    live.errors
        .iter()
        .map(|e| {
            let missing =
                ZoneName::new(&e.zone).is_ok_and(|zone| live.zone_missing.contains(&(zone, e.provider.clone())));
            LeftOut {
                zone: e.zone.clone(),
                provider: e.provider.clone(),
                why: if missing { "zone_missing" } else { "unreadable" },
                unhealthy: steer::provider_state(health, &e.provider) == State::Unhealthy,
                error: e.error.clone(),
            }
        })
        .collect()
}

/// An error for each zone that none of its providers could be read for: nothing at all
/// is known of it, which must not pass for "no changes".
fn unread_zones(config: &Config, live: &Live) -> Vec<PlanError> {
    config
        .zones
        .iter()
        .filter_map(|zone| {
            let name = ZoneName::new(&zone.name).ok()?;
            let read = zone.providers.iter().any(|p| live.get(&name, p).is_some());
            (!read).then(|| PlanError {
                zone: name.to_string(),
                provider: zone.providers.join(", "),
                error: "no provider of the zone could be read: nothing is planned for it".to_string(),
            })
        })
        .collect()
}

/// One zone: desired records and NS sets, diffed once for every provider that could be
/// read, healthy or not (resolvers that cached a provider's NS set still ask it).
fn steer_zone(
    config: &Config,
    providers: &Providers,
    health: &HealthView,
    live: &Live,
    zone: &ZoneConfig,
    zone_name: &ZoneName,
    out: &mut Decision,
) {
    let zone_live: BTreeMap<String, Vec<RecordSet>> = zone
        .providers
        .iter()
        .filter_map(|p| live.get(zone_name, p).map(|sets| (p.clone(), sets.clone())))
        .collect();
    let delegation_at = delegation_zone(zone);
    let live_delegation = delegation_at.as_ref().and_then(|(at, p)| {
        live.get(at, p)?
            .iter()
            .find(|s| s.name == zone_name.as_str() && s.rtype == RecordType::Ns)
            .cloned()
    });
    // The providers the parent sends resolvers to now: their answers are the published
    // ones.
    let serving: Vec<String> = match &live_delegation {
        Some(ns) => zone
            .providers
            .iter()
            .filter(|p| {
                config
                    .nameservers_of(p, zone_name)
                    .iter()
                    .filter_map(|n| dnsteer_providers::record::normalize_name(n).ok())
                    .any(|n| ns.values.contains(&n))
            })
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let records = steer::desired_records(zone, zone_name, health, &zone_live, &serving);
    out.notes
        .extend(records.notes.iter().cloned().map(|n| (zone_name.clone(), n)));

    // Each provider's copy normalised once: the diff for its records tells both whether
    // it is in sync (it may (re)join the delegation) and what to write.
    let mut record_diffs = BTreeMap::new();
    let mut in_sync = BTreeSet::new();
    for (p, sets) in &zone_live {
        let Some(adapter) = providers.get(p) else { continue };
        let desired = writable_records(adapter.as_ref(), zone_name, &records.records, &mut out.plan.errors);
        let diff = plan::diff(sets, &normalized(adapter.as_ref(), &desired, sets));
        if diff.is_empty() {
            in_sync.insert(p.clone());
        }
        record_diffs.insert(p.clone(), diff);
    }

    // Without the parent's view there is no knowing the delegation: the NS sets (parent
    // and apex) wait for the next read.
    let parent_unread = delegation_at.as_ref().is_some_and(|(at, p)| live.get(at, p).is_none());
    let ns = if parent_unread {
        steer::NsDesired::default()
    } else {
        steer::desired_ns(
            zone,
            zone_name,
            &config.providers_for_zone(zone_name),
            health,
            live_delegation.as_ref(),
            &in_sync,
        )
    };
    // A provider that could not be read is not known to differ: its read error is
    // reported as such, never as drift.
    let noted = ns.notes.iter().filter(|n| match n {
        Note::ProviderDrift { provider } => zone_live.contains_key(provider),
        _ => true,
    });
    out.notes.extend(noted.cloned().map(|n| (zone_name.clone(), n)));
    out.delegated.insert(zone_name.clone(), ns.delegated.clone());

    for (p, mut diff) in record_diffs {
        if let (Some(apex), Some(adapter), Some(sets)) = (&ns.apex, providers.get(&p), zone_live.get(&p)) {
            diff.extend(plan::diff(
                sets,
                &normalized(adapter.as_ref(), std::slice::from_ref(apex), sets),
            ));
        }
        let sets = zone_live.get(&p).map_or(&[][..], Vec::as_slice);
        out.plan.extend(zone_name, zone_name, &p, diff, sets);
    }
    if let (Some((at, p)), Some(desired)) = (&delegation_at, &ns.delegation) {
        if let (Some(adapter), Some(sets)) = (providers.get(p), live.get(at, p)) {
            out.plan.extend(
                zone_name,
                at,
                p,
                plan::diff(sets, &normalized(adapter.as_ref(), std::slice::from_ref(desired), sets)),
                sets,
            );
        }
    }
}

/// The desired record sets `adapter` can hold. A weighted record is never flattened into
/// one plain set for a provider without native weights (that would answer with pools
/// the weights say to spare): `check` refuses such a configuration, and should one get
/// this far its sets are left out for that provider, with an error in the plan.
fn writable_records(
    adapter: &dyn Provider,
    zone_name: &ZoneName,
    desired: &[Desired],
    errors: &mut Vec<PlanError>,
) -> Vec<Desired> {
    if adapter.capabilities().native_weights {
        return desired.to_vec();
    }
    let (weighted, plain): (Vec<&Desired>, Vec<&Desired>) = desired.iter().partition(|d| d.set.set_id.is_some());
    let records: BTreeSet<String> = weighted
        .iter()
        .map(|d| format!("{} {}", d.set.name, d.set.rtype))
        .collect();
    if !records.is_empty() {
        errors.push(PlanError {
            zone: zone_name.to_string(),
            provider: adapter.name().to_string(),
            error: format!(
                "weighted record {} not planned: {} has no native weights",
                records.into_iter().collect::<Vec<_>>().join(", "),
                adapter.name()
            ),
        });
    }
    plain.into_iter().cloned().collect()
}

/// `desired` as `adapter` stores it (TTL floors, name case) where it holds `live`, so a
/// diff against what it returns is empty once written.
fn normalized(adapter: &dyn Provider, desired: &[Desired], live: &[RecordSet]) -> Vec<Desired> {
    let sets = adapter.normalize_for(desired.iter().map(|d| d.set.clone()).collect(), live);
    sets.into_iter()
        .zip(desired)
        .map(|(set, d)| Desired {
            set,
            reason: d.reason.clone(),
        })
        .collect()
}
