//! Steering: health plus configuration gives the record sets every provider of a zone
//! should hold, the NS set to delegate to at the parent, and the zone's apex NS set.
//! Pure: no I/O, no clock. The safety rules of SPEC live here:
//! - fail-open: a record whose pools are all unhealthy keeps its published values (a
//!   weighted record: every published set back at its pool's configured weight);
//! - traffic never moves onto or off a target whose health is unknown;
//! - the delegation never drops under `min_providers`, never rests on unknown
//!   providers alone, and a returning provider joins it only once it is in sync.

use std::collections::{BTreeMap, BTreeSet};

use dnsteer_providers::record::normalize_value;
use dnsteer_providers::{RecordSet, RecordType, ZoneName};

use crate::config::{ProviderConfig, RecordConfig, RecordPolicy, ZoneConfig};
use crate::health::State;
use crate::plan::Desired;

/// Effective health per target name (`check:NAME`, `provider:NAME`); absent is unknown.
pub type HealthView = BTreeMap<String, State>;

pub fn check_target(check: &str) -> String {
    format!("check:{check}")
}

pub fn provider_target(provider: &str) -> String {
    format!("provider:{provider}")
}

fn state_of(health: &HealthView, target: &str) -> State {
    health.get(target).copied().unwrap_or(State::Unknown)
}

/// A provider's health (`provider:NAME`); absent is unknown.
pub fn provider_state(health: &HealthView, provider: &str) -> State {
    state_of(health, &provider_target(provider))
}

/// Something about a zone's steering that on-call should hear of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Every pool of a record is unhealthy: it keeps its published values.
    AllPoolsDown { record: String, rtype: RecordType },
    /// A record's answer is not its preferred pool's.
    FailedOver {
        record: String,
        rtype: RecordType,
        pool: String,
    },
    /// Every provider of the zone is unhealthy or unknown: the delegation is kept.
    DelegationHeld { reason: String },
    /// A provider is outside the desired delegation because it is unhealthy (never said
    /// of one kept in it, e.g. to make up `min_providers`).
    ProviderOut { provider: String, reason: String },
    /// A healthy provider outside the delegation whose records differ: it is repaired
    /// before it rejoins.
    ProviderDrift { provider: String },
}

/// The record sets steering wants at every provider that takes writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordsDesired {
    pub records: Vec<Desired>,
    pub notes: Vec<Note>,
}

/// Desired record sets for the zone's steered records.
///
/// `live` holds the record sets read from each provider that could be read; the
/// published values kept by fail-open (and for undecided pools) come from the first
/// healthy provider in the zone's order that holds the set, else any that does.
pub fn desired_records(
    zone: &ZoneConfig,
    zone_name: &ZoneName,
    health: &HealthView,
    live: &BTreeMap<String, Vec<RecordSet>>,
    serving: &[String],
) -> RecordsDesired {
    let mut out = RecordsDesired::default();
    for record in &zone.records {
        let Ok(name) = zone_name.absolute(&record.name) else {
            continue;
        };
        if record.policy == RecordPolicy::Weighted {
            let published =
                |set_id: &str| published_set(zone, health, live, serving, (&name, &record.rtype, Some(set_id)));
            weighted(record, &name, health, &published, &mut out);
            continue;
        }
        let published = published_values(zone, health, live, serving, &name, &record.rtype);
        match choose(record, health) {
            Choice::Values {
                values,
                reason,
                pool,
                preferred,
            } => {
                if !preferred {
                    out.notes.push(Note::FailedOver {
                        record: name.clone(),
                        rtype: record.rtype.clone(),
                        pool: pool.clone(),
                    });
                }
                if let Ok(set) = RecordSet::new(&name, record.rtype.clone(), record.ttl, &values) {
                    out.records.push(Desired { set, reason });
                }
            }
            Choice::Keep { reason, all_down } => {
                if all_down {
                    out.notes.push(Note::AllPoolsDown {
                        record: name.clone(),
                        rtype: record.rtype.clone(),
                    });
                }
                // Keep the published values, at the configured TTL. Nothing published
                // anywhere: nothing to keep, and nothing is created on a guess.
                if let Some(values) = published {
                    if let Ok(set) = RecordSet::new(&name, record.rtype.clone(), record.ttl, &values) {
                        out.records.push(Desired { set, reason });
                    }
                }
            }
        }
    }
    out
}

enum Choice {
    Values {
        values: Vec<String>,
        reason: String,
        pool: String,
        preferred: bool,
    },
    Keep {
        reason: String,
        all_down: bool,
    },
}

fn pool_state(health: &HealthView, check: Option<&String>) -> State {
    check.map_or(State::Healthy, |c| state_of(health, &check_target(c)))
}

fn choose(record: &RecordConfig, health: &HealthView) -> Choice {
    let mut pools: Vec<_> = record
        .pools
        .iter()
        .map(|p| (p, pool_state(health, p.check.as_ref())))
        .collect();
    pools.sort_by_key(|(p, _)| p.priority);
    if let Some((p, _)) = pools.iter().find(|(_, s)| *s == State::Unknown) {
        return Choice::Keep {
            reason: format!(
                "health of pool {} ({}) is not decided yet: keeping the published values",
                p.name,
                check_label(p.check.as_ref())
            ),
            all_down: false,
        };
    }
    let healthy: Vec<_> = pools
        .iter()
        .filter(|(_, s)| *s == State::Healthy)
        .map(|(p, _)| *p)
        .collect();
    if healthy.is_empty() {
        let names: Vec<_> = pools.iter().map(|(p, _)| p.name.as_str()).collect();
        return Choice::Keep {
            reason: format!(
                "every pool is unhealthy ({}): keeping the published values (fail-open)",
                names.join(", ")
            ),
            all_down: true,
        };
    }
    let preferred_priority = pools[0].0.priority;
    let down: Vec<String> = pools
        .iter()
        .filter(|(_, s)| *s == State::Unhealthy)
        .map(|(p, _)| format!("{} ({} unhealthy)", p.name, check_label(p.check.as_ref())))
        .collect();
    match record.policy {
        RecordPolicy::Failover => {
            // The best priority among healthy pools; pools sharing it answer together.
            let best = healthy[0].priority;
            let chosen: Vec<_> = healthy.iter().filter(|p| p.priority == best).collect();
            let names: Vec<_> = chosen.iter().map(|p| p.name.as_str()).collect();
            let values = chosen.iter().flat_map(|p| p.values.iter().cloned()).collect();
            let preferred = best == preferred_priority;
            let reason = if preferred {
                format!("preferred pool {} (priority {best}) is healthy", names.join("+"))
            } else {
                format!(
                    "failover to pool {} (priority {best}): {}",
                    names.join("+"),
                    down.join(", ")
                )
            };
            Choice::Values {
                values,
                reason,
                pool: names.join("+"),
                preferred,
            }
        }
        // `desired_records` steers weighted records on their own (`weighted`).
        RecordPolicy::AllHealthy | RecordPolicy::Weighted => {
            let names: Vec<_> = healthy.iter().map(|p| p.name.as_str()).collect();
            let values = healthy.iter().flat_map(|p| p.values.iter().cloned()).collect();
            let preferred = down.is_empty();
            let what = "all-healthy";
            let reason = if preferred {
                format!("{what}: every pool is healthy ({})", names.join(", "))
            } else {
                format!(
                    "{what}: healthy pools {}; left out: {}",
                    names.join(", "),
                    down.join(", ")
                )
            };
            Choice::Values {
                values,
                reason,
                pool: names.join("+"),
                preferred,
            }
        }
    }
}

fn check_label(check: Option<&String>) -> String {
    check.map_or_else(|| "no check".to_string(), |c| check_target(c))
}

/// A weighted record: one set per pool (set identifier = the pool's name), so a pool's
/// failure is an update of its weight to 0, never a delete. The rules of every policy
/// hold: while any pool's health is undecided every published set is kept as it is;
/// when every pool is unhealthy (fail-open) every published set is kept at its pool's
/// configured weight, and nothing is created on a guess.
fn weighted(
    record: &RecordConfig,
    name: &str,
    health: &HealthView,
    published: &dyn Fn(&str) -> Option<RecordSet>,
    out: &mut RecordsDesired,
) {
    let pools: Vec<_> = record
        .pools
        .iter()
        .map(|p| (p, pool_state(health, p.check.as_ref())))
        .collect();
    let set_of = |values: &[String], pool: &str, weight: u32| {
        RecordSet::new(name, record.rtype.clone(), record.ttl, values)
            .ok()
            .map(|set| set.weighted(pool, weight))
    };
    let mut push = |set: Option<RecordSet>, reason: String| {
        if let Some(set) = set {
            out.records.push(Desired { set, reason });
        }
    };
    if let Some((undecided, _)) = pools.iter().find(|(_, s)| *s == State::Unknown) {
        for (p, _) in &pools {
            let kept = published(&p.name).and_then(|live| set_of(&live.values, &p.name, live.weight.unwrap_or(0)));
            let reason = format!(
                "weighted: health of pool {} ({}) is not decided yet: keeping pool {}'s published weight",
                undecided.name,
                check_label(undecided.check.as_ref()),
                p.name
            );
            push(kept, reason);
        }
        return;
    }
    if pools.iter().all(|(_, s)| *s == State::Unhealthy) {
        out.notes.push(Note::AllPoolsDown {
            record: name.to_string(),
            rtype: record.rtype.clone(),
        });
        let names: Vec<_> = pools.iter().map(|(p, _)| p.name.as_str()).collect();
        for (p, _) in &pools {
            let kept = published(&p.name).and_then(|live| set_of(&live.values, &p.name, p.weight));
            let reason = format!(
                "weighted: every pool is unhealthy ({}): pool {} keeps its published values at its configured weight {} \
                 (fail-open)",
                names.join(", "),
                p.name,
                p.weight
            );
            push(kept, reason);
        }
        return;
    }
    let healthy: Vec<_> = pools
        .iter()
        .filter(|(_, s)| *s == State::Healthy)
        .map(|(p, _)| p.name.as_str())
        .collect();
    if healthy.len() < pools.len() {
        out.notes.push(Note::FailedOver {
            record: name.to_string(),
            rtype: record.rtype.clone(),
            pool: healthy.join("+"),
        });
    }
    for (p, state) in &pools {
        let (weight, reason) = if *state == State::Healthy {
            (
                p.weight,
                format!(
                    "weighted: pool {} is healthy: its configured weight {}",
                    p.name, p.weight
                ),
            )
        } else {
            (
                0,
                format!(
                    "weighted: pool {} is unhealthy ({} unhealthy): weight 0 (configured {}) until it recovers",
                    p.name,
                    check_label(p.check.as_ref()),
                    p.weight
                ),
            )
        };
        push(set_of(&p.values, &p.name, weight), reason);
    }
}

/// The values a record is published with now (see [`published_set`]).
fn published_values(
    zone: &ZoneConfig,
    health: &HealthView,
    live: &BTreeMap<String, Vec<RecordSet>>,
    serving: &[String],
    name: &str,
    rtype: &RecordType,
) -> Option<Vec<String>> {
    published_set(zone, health, live, serving, (name, rtype, None)).map(|s| s.values)
}

/// The record set of `key` as published now: that of a healthy provider the parent
/// delegates to (`serving`) first, since resolvers get their answers there; a provider
/// outside the delegation may hold stale values from before an outage.
fn published_set(
    zone: &ZoneConfig,
    health: &HealthView,
    live: &BTreeMap<String, Vec<RecordSet>>,
    serving: &[String],
    key: (&str, &RecordType, Option<&str>),
) -> Option<RecordSet> {
    // A set whose values dnsteer could not publish (a Route 53 alias, read with its
    // target as its value) is no answer to keep: look further.
    let publishable = |s: &RecordSet| s.values.iter().all(|v| normalize_value(&s.rtype, v).is_ok());
    let held_by = |p: &String| {
        live.get(p)
            .and_then(|sets| sets.iter().find(|s| s.key() == key && publishable(s)))
    };
    let healthy = |p: &&String| state_of(health, &provider_target(p)) == State::Healthy;
    serving
        .iter()
        .filter(healthy)
        .chain(zone.providers.iter().filter(healthy))
        .chain(zone.providers.iter())
        .find_map(held_by)
        .cloned()
}

/// The NS side of a zone: who is delegated to and the NS sets that say so.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NsDesired {
    /// Providers in the desired delegation, in the zone's order.
    pub delegated: Vec<String>,
    /// The NS set at the parent (owner: the zone's apex name), when the zone has a
    /// `delegation`. Written to the delegation provider.
    pub delegation: Option<Desired>,
    /// The apex NS set every provider's copy of the zone should hold.
    pub apex: Option<Desired>,
    pub notes: Vec<Note>,
}

/// Decides the delegation.
///
/// `live_delegation` is the NS set read at the parent (None when it does not exist);
/// `in_sync` names the providers whose records already match the desired ones. A
/// healthy provider stays in the delegation; one outside it joins only when in sync; an
/// unknown one stays where it is; the set never drops under `min_providers` (unhealthy
/// providers already delegated to are kept to make up the number) and never rests on
/// providers that are not healthy alone (then the live delegation is kept).
///
/// Without a `delegation` nothing is steered, the apex NS set included: resolvers that
/// start at the parent would still be sent to every provider, and an apex that
/// disagrees with its parent is an inconsistent zone (docs/configuration.md).
pub fn desired_ns(
    zone: &ZoneConfig,
    zone_name: &ZoneName,
    providers: &BTreeMap<String, ProviderConfig>,
    health: &HealthView,
    live_delegation: Option<&RecordSet>,
    in_sync: &BTreeSet<String>,
) -> NsDesired {
    if zone.delegation.is_none() {
        return NsDesired::default();
    }
    let mut out = choose_delegation(zone, zone_name, providers, health, live_delegation, in_sync);
    note_out(&mut out, zone, health);
    out
}

fn choose_delegation(
    zone: &ZoneConfig,
    zone_name: &ZoneName,
    providers: &BTreeMap<String, ProviderConfig>,
    health: &HealthView,
    live_delegation: Option<&RecordSet>,
    in_sync: &BTreeSet<String>,
) -> NsDesired {
    let Some(delegation) = &zone.delegation else {
        return NsDesired::default();
    };
    let mut out = NsDesired::default();
    let ns_of = |p: &str| -> Vec<String> {
        providers
            .get(p)
            .map(|c| {
                c.nameservers()
                    .iter()
                    .filter_map(|n| dnsteer_providers::record::normalize_name(n).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let live_values: BTreeSet<String> = live_delegation
        .map(|s| s.values.iter().cloned().collect())
        .unwrap_or_default();
    let delegated_now = |p: &str| ns_of(p).iter().any(|n| live_values.contains(n));
    let state = |p: &str| provider_state(health, p);

    let mut chosen: Vec<&String> = Vec::new();
    for p in &zone.providers {
        let keep = match state(p) {
            State::Healthy if delegated_now(p) || in_sync.contains(p.as_str()) => true,
            State::Healthy => {
                out.notes.push(Note::ProviderDrift { provider: p.clone() });
                false
            }
            State::Unknown => delegated_now(p),
            State::Unhealthy => false,
        };
        if keep {
            chosen.push(p);
        }
    }
    if !chosen.iter().any(|p| state(p) == State::Healthy) {
        // Still undecided at start-up is not news; every provider failing is.
        if zone.providers.iter().any(|p| state(p) == State::Unhealthy) {
            out.notes.push(Note::DelegationHeld {
                reason: "no provider of the zone is healthy: the delegation is kept as it is".into(),
            });
        }
        return held(out, zone, zone_name, &live_values, &ns_of, live_delegation);
    }
    // Never under min_providers: keep providers already delegated to (in zone order),
    // however they fare, to make up the number.
    for p in &zone.providers {
        if chosen.len() >= delegation.min_providers {
            break;
        }
        if !chosen.contains(&p) && delegated_now(p) {
            chosen.push(p);
        }
    }
    if chosen.len() < delegation.min_providers {
        out.notes.push(Note::DelegationHeld {
            reason: format!(
                "fewer than min_providers ({}) could be delegated to: the delegation is kept as it is",
                delegation.min_providers
            ),
        });
        return held(out, zone, zone_name, &live_values, &ns_of, live_delegation);
    }
    let delegated: Vec<String> = zone.providers.iter().filter(|p| chosen.contains(p)).cloned().collect();
    let values: BTreeSet<String> = delegated.iter().flat_map(|p| ns_of(p)).collect();
    let reason = ns_reason(&delegated, zone, &state);
    finish(
        out,
        zone_name,
        (delegation.ttl, delegation.ttl),
        delegated,
        values,
        reason,
    )
}

fn ns_reason(delegated: &[String], zone: &ZoneConfig, state: &dyn Fn(&str) -> State) -> String {
    let out: Vec<String> = zone
        .providers
        .iter()
        .filter(|p| !delegated.contains(p))
        .map(|p| format!("{p} ({})", state(p)))
        .collect();
    if out.is_empty() {
        format!("delegate to every provider: {}", delegated.join(", "))
    } else {
        format!("delegate to {}; left out: {}", delegated.join(", "), out.join(", "))
    }
}

fn held(
    out: NsDesired,
    zone: &ZoneConfig,
    zone_name: &ZoneName,
    live_values: &BTreeSet<String>,
    ns_of: &dyn Fn(&str) -> Vec<String>,
    live_delegation: Option<&RecordSet>,
) -> NsDesired {
    let Some(live) = live_delegation else { return out };
    let delegated = zone
        .providers
        .iter()
        .filter(|p| ns_of(p).iter().any(|n| live_values.contains(n)))
        .cloned()
        .collect();
    // The parent keeps exactly what it has; the apex still takes the configured TTL.
    let apex_ttl = zone.delegation.as_ref().map_or(live.ttl, |d| d.ttl);
    finish(
        out,
        zone_name,
        (live.ttl, apex_ttl),
        delegated,
        live_values.clone(),
        "delegation held: see notes".into(),
    )
}

/// `ttls`: the delegation's at the parent, and the apex's.
fn finish(
    mut out: NsDesired,
    zone_name: &ZoneName,
    ttls: (u32, u32),
    delegated: Vec<String>,
    values: BTreeSet<String>,
    reason: String,
) -> NsDesired {
    if let Ok(set) = RecordSet::new(zone_name.as_str(), RecordType::Ns, ttls.0, &values) {
        if !set.values.is_empty() {
            let apex = RecordSet {
                ttl: ttls.1,
                ..set.clone()
            };
            out.delegation = Some(Desired {
                set,
                reason: reason.clone(),
            });
            out.apex = Some(Desired {
                set: apex,
                reason: format!("apex NS follows the delegation: {reason}"),
            });
        }
    }
    out.delegated = delegated;
    out
}

/// Says of every unhealthy provider left outside `delegated` that it is out. Said once
/// the delegation is settled, so a provider kept in it (to make up `min_providers`, or
/// because the delegation is held) is never reported as leaving.
fn note_out(out: &mut NsDesired, zone: &ZoneConfig, health: &HealthView) {
    for p in &zone.providers {
        if provider_state(health, p) == State::Unhealthy && !out.delegated.contains(p) {
            out.notes.push(Note::ProviderOut {
                provider: p.clone(),
                reason: format!("{} is unhealthy", provider_target(p)),
            });
        }
    }
}

#[cfg(test)]
mod tests;
