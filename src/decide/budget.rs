//! The failover budget against live data: a record whose TTL at a provider differs
//! from the configured one may miss `defaults.failover_budget` although `check`, which
//! knows only the configuration, found it fine. Pure, like the rest of `decide`.

use dnsteer_providers::ZoneName;

use crate::config::{budget, Config};
use crate::reconcile::Live;

/// One warning per (record, provider) whose live TTL differs from the configured one
/// and makes its worst failover longer than the budget, as `PATH: message` (the path
/// of the record's `ttl` in the configuration).
pub fn live_ttl_warnings(config: &Config, live: &Live) -> Vec<String> {
    let Some(limit) = config.defaults.failover_budget.filter(|b| !b.is_zero()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, zone) in config.zones.iter().enumerate() {
        let Ok(zone_name) = ZoneName::new(&zone.name) else {
            continue;
        };
        for (j, rec) in zone.records.iter().enumerate() {
            let Ok(owner) = zone_name.absolute(&rec.name) else {
                continue;
            };
            for provider in &zone.providers {
                let Some(set) = live
                    .get(&zone_name, provider)
                    .and_then(|sets| sets.iter().find(|s| s.name == owner && s.rtype == rec.rtype))
                else {
                    continue;
                };
                if set.ttl == rec.ttl {
                    continue;
                }
                let Some((worst, why)) = budget::record_failover(&config.defaults, &config.checks, rec, set.ttl) else {
                    continue;
                };
                if worst > limit.get() {
                    out.push(format!(
                        "zones[{i}].records[{j}].ttl: {owner} {} has TTL {} s at {provider}, not the configured {} s, \
                         and can take longer than the failover budget of {limit} to fail over there: {why}",
                        rec.rtype, set.ttl, rec.ttl
                    ));
                }
            }
        }
    }
    out
}
