//! Meaning: ranges, references, duplicates, DNS names and values, addresses and
//! URLs; then every secret resolved. Each problem is reported with its YAML path.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;

use dnsteer_providers::google::ServiceAccount;
use dnsteer_providers::record::{normalize_name, normalize_value};
use dnsteer_providers::{RecordType, ZoneName};

use super::lines::{join_index, join_key};
use super::parse::Parsed;
use super::types::*;
use super::{Duration, Report, Secret};
use crate::health::Quorum;

/// The largest TTL DNS allows (RFC 2181 §8).
const MAX_TTL: u32 = 2_147_483_647;

pub(crate) fn validate(p: &Parsed, r: &mut Report) {
    agent(&p.agent, r);
    defaults(&p.defaults, r);
    for (name, provider) in &p.providers {
        self::provider(name, provider, r);
    }
    for name in &p.broken_providers {
        target_name("providers", name, r);
    }
    for (name, check) in &p.checks {
        self::check(name, check, &p.defaults, r);
    }
    for name in &p.broken_checks {
        target_name("checks", name, r);
    }
    zones(p, r);
    failover_budget(p, r);
    witness(p, r);
    for (i, alert) in p.alerts.iter().enumerate() {
        if let Some(AlertConfig::Webhook(w)) = alert {
            url(&join_key(&join_index("alerts", i), "url"), &w.url, r);
        }
    }
    unused(p, r);
}

fn agent(a: &AgentConfig, r: &mut Report) {
    if a.id.trim().is_empty() || a.id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        r.error("agent.id", "must be a non-empty name without spaces");
    }
    if a.state_file.as_os_str().is_empty() {
        r.error("agent.state_file", "must name a file");
    }
    for (i, peer) in a.peers.iter().enumerate() {
        url(&join_index("agent.peers", i), peer, r);
    }
    if !a.peers.is_empty() && a.api_token.is_none() {
        r.error(
            "agent.peers",
            "peers need `agent.api_token`: the peer endpoints require it",
        );
    }
    nonzero("agent.lease.duration", a.lease.duration, r);
    if let Some(CoordinationConfig::Etcd(etcd)) = &a.coordination {
        if !a.peers.is_empty() {
            r.error(
                "agent.coordination",
                "`coordination` and `peers` exclude each other: a fleet on etcd has no embedded pair",
            );
        }
        if a.api_token.is_none() {
            r.warn(
                "agent.api_token",
                "without a token, pause, resume, overrides and approvals cannot be given to this daemon",
            );
        }
        if etcd.endpoints.is_empty() {
            r.error("agent.coordination.endpoints", "at least one etcd endpoint is needed");
        }
        for (i, e) in etcd.endpoints.iter().enumerate() {
            url(&join_index("agent.coordination.endpoints", i), e, r);
        }
        if !etcd.prefix.starts_with('/') || !etcd.prefix.ends_with('/') {
            r.error(
                "agent.coordination.prefix",
                format!("{:?} must start and end with `/`, e.g. /dnsteer/", etcd.prefix),
            );
        }
        if etcd.username.is_some() != etcd.password.is_some() {
            r.error(
                "agent.coordination",
                "`username` and `password` go together (etcd authentication needs both)",
            );
        }
    }
}

/// The pair's witness: named, it must exist and compare-and-set; without one, a pair
/// can split when its link is cut.
fn witness(p: &Parsed, r: &mut Report) {
    if p.agent.peers.is_empty() {
        return;
    }
    if let Some(name) = &p.agent.lease.witness {
        match p.providers.get(name) {
            None => r.error(
                "agent.lease.witness",
                format!("no provider named {name:?} (providers: {})", names(p.providers.keys())),
            ),
            Some(c) if !c.has_compare_and_set() => r.error(
                "agent.lease.witness",
                format!(
                    "{name} is a {} provider, which has no compare-and-set: the witness must be a provider of a kind \
                     that has it ({})",
                    c.kind(),
                    ProviderConfig::kinds_with(|c| c.compare_and_set)
                ),
            ),
            Some(_) if super::pair_witness_zone(name, p.zones.iter().flatten()).is_none() => r.error(
                "agent.lease.witness",
                format!(
                    "{name} serves no zone of this configuration (nor a delegation's parent) to hold the lease record"
                ),
            ),
            Some(_) => {}
        }
    } else if super::pair_witness(&p.agent, &p.providers, p.zones.iter().flatten()).is_none() {
        r.warn(
            "agent.peers",
            format!(
                "no provider with compare-and-set ({}) can witness the pair's lease: a daemon that cannot reach its \
                 peer takes the lease, so a cut link can make two writers (set agent.lease.witness)",
                ProviderConfig::kinds_with(|c| c.compare_and_set)
            ),
        );
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    it.map(String::as_str).collect::<Vec<_>>().join(", ")
}

fn defaults(d: &DefaultsConfig, r: &mut Report) {
    nonzero("defaults.interval", d.interval, r);
    nonzero("defaults.timeout", d.timeout, r);
    timeout_vs_interval("defaults.timeout", d.timeout, d.interval, r);
    health("defaults.health", &d.health, &|_| true, r);
    flap_budget("defaults.flap_budget", &d.flap_budget, r);
    if let Some(budget) = d.failover_budget {
        nonzero("defaults.failover_budget", budget, r);
    }
}

/// A warning on every steered record whose worst failover (detection plus its TTL)
/// is over `defaults.failover_budget`, with the arithmetic.
fn failover_budget(p: &Parsed, r: &mut Report) {
    let Some(budget) = p.defaults.failover_budget.filter(|b| !b.is_zero()) else {
        return;
    };
    for (i, zone) in p.zones.iter().enumerate() {
        let Some(zone) = zone else { continue };
        for (j, rec) in zone.records.iter().enumerate() {
            let Some((worst, why)) = super::budget::record_failover(&p.defaults, &p.checks, rec, rec.ttl) else {
                continue;
            };
            if worst > budget.get() {
                let path = join_key(&join_index(&join_key(&join_index("zones", i), "records"), j), "ttl");
                r.warn(
                    path,
                    format!(
                        "{} {} can take longer than the failover budget of {budget} to fail over: {why}",
                        rec.name, rec.rtype
                    ),
                );
            }
        }
    }
}

fn flap_budget(path: &str, b: &FlapBudgetConfig, r: &mut Report) {
    if !(1..=MAX_FLAP_BUDGET).contains(&b.changes) {
        r.error(
            join_key(path, "changes"),
            format!(
                "must be from 1 to {MAX_FLAP_BUDGET} (the flips remembered per record set), found {}",
                b.changes
            ),
        );
    }
    nonzero(&join_key(path, "within"), b.within, r);
}

/// Checks `h`, reporting only the fields for which `written` holds (a check's
/// override is checked merged over the defaults, which are reported on their own).
fn health(path: &str, h: &HealthConfig, written: &dyn Fn(&str) -> bool, r: &mut Report) {
    let at = |field: &str| join_key(path, field);
    if written("window") && h.window == 0 {
        r.error(at("window"), "must be at least 1");
    }
    let mut ratios_ok = true;
    for (field, value) in [("fail_ratio", h.fail_ratio), ("recover_ratio", h.recover_ratio)] {
        if !(0.0..=1.0).contains(&value) {
            ratios_ok = false;
            if written(field) {
                r.error(at(field), format!("must be between 0 and 1, found {value}"));
            }
        }
    }
    if ratios_ok && h.fail_ratio <= h.recover_ratio {
        let field = if written("fail_ratio") {
            Some("fail_ratio")
        } else if written("recover_ratio") {
            Some("recover_ratio")
        } else {
            None
        };
        if let Some(field) = field {
            r.error(
                at(field),
                format!(
                    "fail_ratio ({}) must be above recover_ratio ({}), or the target can be failing and passing at once",
                    h.fail_ratio, h.recover_ratio
                ),
            );
        }
    }
    if written("fall") && h.fall == 0 {
        r.error(at("fall"), "must be at least 1");
    }
    if written("rise") && h.rise == 0 {
        r.error(at("rise"), "must be at least 1");
    }
    if written("quorum") && h.quorum == Quorum::AtLeast(0) {
        r.error(
            at("quorum"),
            "must be `majority` or at least 1 (vantage points that must see the target failing)",
        );
    }
    if written("confirm") {
        confirm(&at("confirm"), &h.confirm, r);
    }
}

fn confirm(path: &str, c: &ConfirmConfig, r: &mut Report) {
    if c.probes > MAX_CONFIRM_PROBES {
        r.error(
            join_key(path, "probes"),
            format!("must be from 0 to {MAX_CONFIRM_PROBES}, found {}", c.probes),
        );
    }
    if c.probes > 0 && c.spacing.get() < MIN_CONFIRM_SPACING {
        r.error(
            join_key(path, "spacing"),
            format!(
                "must be at least {} ms (probes are never closer), found {} ms",
                MIN_CONFIRM_SPACING.as_millis(),
                c.spacing.as_millis()
            ),
        );
    }
}

fn provider(name: &str, p: &ProviderConfig, r: &mut Report) {
    let base = join_key("providers", name);
    let at = |field: &str| join_key(&base, field);
    target_name("providers", name, r);
    match p {
        ProviderConfig::Powerdns(c) => {
            url(&at("url"), &c.url, r);
            if c.server_id.trim().is_empty() || c.server_id.contains('/') {
                r.error(at("server_id"), "must be a non-empty server id without '/'");
            }
        }
        ProviderConfig::Rfc2136(c) => {
            host_port(&at("server"), &c.server, r);
            dns_name(&join_key(&at("tsig"), "name"), &c.tsig.name, r);
        }
        ProviderConfig::Route53(c) => {
            key_pair(&base, &c.access_key_id, &c.secret_access_key, r);
            optional_url(&at("endpoint"), &c.endpoint, r);
            if c.hosted_zone_id.as_ref().is_some_and(|id| id.trim().is_empty()) {
                r.error(
                    at("hosted_zone_id"),
                    "must not be empty (omit it to look the zone up by name)",
                );
            }
            if c.requests_per_second == Some(0) {
                r.error(at("requests_per_second"), "must be at least 1");
            }
            if let Some(d) = c.change_timeout {
                nonzero(&at("change_timeout"), d, r);
            }
            if let Some(d) = c.poll_interval {
                nonzero(&at("poll_interval"), d, r);
                if c.change_timeout.is_some_and(|t| !d.is_zero() && d > t) {
                    r.error(at("poll_interval"), "must not be longer than change_timeout");
                }
            }
        }
        ProviderConfig::Route53domains(c) => {
            key_pair(&base, &c.access_key_id, &c.secret_access_key, r);
            optional_url(&at("endpoint"), &c.endpoint, r);
        }
        ProviderConfig::Cloudflare(c) => {
            optional_url(&at("endpoint"), &c.endpoint, r);
            if c.zone_id.as_ref().is_some_and(|id| id.trim().is_empty()) {
                r.error(at("zone_id"), "must not be empty (omit it to look the zone up by name)");
            }
        }
        ProviderConfig::Ns1(c) => optional_url(&at("endpoint"), &c.endpoint, r),
        ProviderConfig::Google(c) => {
            optional_url(&at("endpoint"), &c.endpoint, r);
            if c.project.as_ref().is_some_and(|p| p.trim().is_empty()) {
                r.error(at("project"), "must not be empty (omit it to use the key's project_id)");
            }
        }
        ProviderConfig::Azure(c) => {
            optional_url(&at("endpoint"), &c.endpoint, r);
            optional_url(&at("authority"), &c.authority, r);
            if c.tenant_id.trim().is_empty() || c.tenant_id.contains(['/', '?', '#']) {
                r.error(
                    at("tenant_id"),
                    "must be the tenant's id (a GUID) or its domain, without '/'",
                );
            }
            for (field, value) in [("client_id", &c.client_id), ("subscription_id", &c.subscription_id)] {
                if !is_guid(value.trim()) {
                    r.error(
                        at(field),
                        format!("must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), found {value:?}"),
                    );
                }
            }
            if !is_resource_group(&c.resource_group) {
                r.error(
                    at("resource_group"),
                    format!(
                        "must be an Azure resource group name (1-90 letters, digits, '_', '-', '.', '(' or ')', \
                         not ending in '.'), found {:?}",
                        c.resource_group
                    ),
                );
            }
        }
    }
    let mut seen = HashMap::new();
    for (i, ns) in p.nameservers().iter().enumerate() {
        let path = join_index(&at("nameservers"), i);
        if let Some(ns) = dns_name(&path, ns, r) {
            if let Some(first) = seen.insert(ns.clone(), i) {
                r.error(path, format!("{ns} is listed twice (also nameservers[{first}])"));
            }
        }
    }
    for (i, addr) in p.probe().iter().enumerate() {
        host_port(&join_index(&at("probe"), i), addr, r);
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hexadecimal digits.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What Azure accepts as a resource group's name.
fn is_resource_group(s: &str) -> bool {
    (1..=90).contains(&s.len())
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')'))
}

fn key_pair(base: &str, id: &Option<Secret>, key: &Option<Secret>, r: &mut Report) {
    match (id, key) {
        (Some(_), None) => r.error(
            join_key(base, "secret_access_key"),
            "`access_key_id` is set but `secret_access_key` is not: give both or neither",
        ),
        (None, Some(_)) => r.error(
            join_key(base, "access_key_id"),
            "`secret_access_key` is set but `access_key_id` is not: give both or neither",
        ),
        _ => {}
    }
}

fn check(name: &str, c: &CheckConfig, d: &DefaultsConfig, r: &mut Report) {
    let base = join_key("checks", name);
    let at = |field: &str| join_key(&base, field);
    target_name("checks", name, r);
    if let Some(interval) = c.interval() {
        nonzero(&at("interval"), interval, r);
    }
    if let Some(timeout) = c.timeout() {
        nonzero(&at("timeout"), timeout, r);
    }
    if c.interval().is_some() || c.timeout().is_some() {
        let path = if c.timeout().is_some() {
            at("timeout")
        } else {
            at("interval")
        };
        timeout_vs_interval(
            &path,
            c.timeout().unwrap_or(d.timeout),
            c.interval().unwrap_or(d.interval),
            r,
        );
    }
    let o = c.health();
    let written = |field: &str| match field {
        "window" => o.window.is_some(),
        "fail_ratio" => o.fail_ratio.is_some(),
        "recover_ratio" => o.recover_ratio.is_some(),
        "fall" => o.fall.is_some(),
        "rise" => o.rise.is_some(),
        "quorum" => o.quorum.is_some(),
        "confirm" => o.confirm.is_some(),
        _ => false,
    };
    health(&at("health"), &d.health.with(o), &written, r);
    match c {
        CheckConfig::Http(h) => {
            url(&at("url"), &h.url, r);
            if h.expect_status.is_empty() {
                r.error(at("expect_status"), "must list at least one status code");
            }
            for (i, status) in h.expect_status.iter().enumerate() {
                if !(100..=599).contains(status) {
                    r.error(
                        join_index(&at("expect_status"), i),
                        format!("{status} is not an HTTP status code (100-599)"),
                    );
                }
            }
            if let Some(host) = &h.host {
                if check_host_port(host).is_err() && normalize_name(host).is_err() {
                    r.error(at("host"), format!("{host:?} is not a host name (or host:port)"));
                }
            }
            if h.body.as_ref().is_some_and(String::is_empty) {
                r.error(at("body"), "must not be empty (omit it to accept any body)");
            }
        }
        CheckConfig::Tcp(t) => host_port(&at("address"), &t.address, r),
        CheckConfig::Dns(q) => {
            host_port(&at("server"), &q.server, r);
            let query = at("query");
            dns_name(&join_key(&query, "name"), &q.query.name, r);
            let type_ok = match &q.query.rtype {
                RecordType::Other(t) => {
                    t.starts_with(|c: char| c.is_ascii_alphabetic()) && t.bytes().all(|b| b.is_ascii_alphanumeric())
                }
                _ => true,
            };
            if !type_ok {
                r.error(
                    join_key(&query, "type"),
                    format!("{:?} is not a record type", q.query.rtype.as_str()),
                );
            } else {
                for (i, v) in q.expect.iter().enumerate() {
                    if let Err(e) = normalize_value(&q.query.rtype, v) {
                        r.error(join_index(&at("expect"), i), e.to_string());
                    }
                }
            }
        }
    }
}

fn zones(p: &Parsed, r: &mut Report) {
    let mut zone_names: HashMap<String, usize> = HashMap::new();
    let mut needs_nameservers = BTreeSet::new();
    for (i, zone) in p.zones.iter().enumerate() {
        let Some(zone) = zone else { continue };
        let base = join_index("zones", i);
        let at = |field: &str| join_key(&base, field);
        let apex = match ZoneName::new(&zone.name) {
            Ok(z) => {
                if let Some(first) = zone_names.insert(z.to_string(), i) {
                    r.error(at("name"), format!("zone {z} is defined twice (also zones[{first}])"));
                }
                Some(z)
            }
            Err(e) => {
                r.error(at("name"), e.to_string());
                None
            }
        };

        if zone.providers.is_empty() {
            r.error(at("providers"), "a zone needs at least one provider");
        }
        let mut seen = HashMap::new();
        for (j, name) in zone.providers.iter().enumerate() {
            let path = join_index(&at("providers"), j);
            if let Some(first) = seen.insert(name.as_str(), j) {
                r.error(
                    &path,
                    format!("provider {name:?} is listed twice (also providers[{first}])"),
                );
                continue;
            }
            match p.providers.get(name) {
                None if p.broken_providers.contains(name) => {}
                None => r.error(
                    &path,
                    format!(
                        "no provider named {name:?}{}",
                        known(p.providers.keys().chain(&p.broken_providers))
                    ),
                ),
                Some(provider) if !provider.serves_zones() => r.error(
                    &path,
                    format!(
                        "provider {name:?} is a registrar ({}): it can delegate a zone, not serve it",
                        provider.kind()
                    ),
                ),
                // A server's nameservers are read from its apex NS set, which in a zone
                // shared with other providers names them all: there they must be listed.
                Some(provider @ (ProviderConfig::Powerdns(_) | ProviderConfig::Rfc2136(_)))
                    if provider.nameservers().is_empty() && zone.providers.len() > 1 =>
                {
                    needs_nameservers.insert(name.clone());
                }
                Some(_) => {}
            }
        }

        match &zone.delegation {
            Some(d) => delegation(p, zone, d, apex.as_ref(), &at("delegation"), r),
            // The apex NS set is steered only with the delegation (docs/configuration.md
            // says why), so without one a failed provider keeps being named.
            None if zone.providers.len() > 1 => r.warn(
                at("providers"),
                "no `delegation`: a provider that fails stays in the parent's NS set and in every apex NS set \
                 (resolvers keep asking it; only A/AAAA/CNAME answers are steered); add `delegation` to steer them",
            ),
            None => {}
        }
        if let Some(budget) = &zone.flap_budget {
            flap_budget(&at("flap_budget"), budget, r);
        }
        if let Some(ratio) = zone.max_change_ratio {
            if !(0.0..=1.0).contains(&ratio) {
                r.error(
                    at("max_change_ratio"),
                    format!("must be between 0 and 1, found {ratio}"),
                );
            }
        }
        records(p, zone, apex.as_ref(), &base, r);
    }
    for name in needs_nameservers {
        r.error(
            join_key(&join_key("providers", &name), "nameservers"),
            "a server that shares a zone with other providers needs `nameservers`: they cannot be read from its \
             apex NS set, which names every provider of the zone (its health is measured on them and the NS sets \
             are made of them)",
        );
    }
}

fn delegation(
    p: &Parsed,
    zone: &ZoneConfig,
    d: &DelegationConfig,
    apex: Option<&ZoneName>,
    base: &str,
    r: &mut Report,
) {
    let at = |field: &str| join_key(base, field);
    match p.providers.get(&d.provider) {
        None if p.broken_providers.contains(&d.provider) => {}
        None => r.error(at("provider"), format!("no provider named {:?}{}", d.provider, known(p.providers.keys().chain(&p.broken_providers)))),
        Some(ProviderConfig::Route53domains(_)) => {
            if d.parent.is_some() {
                r.warn(at("parent"), "ignored: a route53domains delegation is written at the registrar");
            }
        }
        Some(provider) if d.parent.is_none() => r.error(
            base,
            format!(
                "missing `parent`: the parent zone written through provider {:?} ({}); only a registrar kind (route53domains) goes without",
                d.provider,
                provider.kind()
            ),
        ),
        Some(_) => {}
    }
    // The delegation is an NS set at the parent (or the registrar).
    if let Some(provider) = p.providers.get(&d.provider) {
        if !provider.capabilities().record_types.contains(&RecordType::Ns) {
            r.error(
                at("provider"),
                format!(
                    "provider {:?} ({}) cannot write NS records",
                    d.provider,
                    provider.kind()
                ),
            );
        }
    }
    if let Some(parent) = &d.parent {
        if let (Some(parent), Some(apex)) = (dns_name(&at("parent"), parent, r), apex) {
            let parent = ZoneName::new(&parent).ok();
            if let Some(parent) = parent {
                if !parent.contains(apex.as_str()) || parent == *apex {
                    r.error(at("parent"), format!("{parent} is not a parent of {apex}"));
                }
            }
        }
    }
    if d.min_providers == 0 {
        r.error(
            at("min_providers"),
            "must be at least 1: a zone is never delegated to no provider",
        );
    } else if d.min_providers > zone.providers.len() {
        r.error(
            at("min_providers"),
            format!(
                "{} is more than the zone's {} provider(s)",
                d.min_providers,
                zone.providers.len()
            ),
        );
    }
    if d.ttl > MAX_TTL {
        r.error(at("ttl"), format!("must be at most {MAX_TTL}"));
    }
}

/// Every provider of `zone` can write `rtype` (its adapter's `record_types`): a record
/// one of them cannot write would pass `check` and fail every apply.
fn writable(p: &Parsed, zone: &ZoneConfig, rtype: &RecordType, path: &str, r: &mut Report) {
    for name in &zone.providers {
        let Some(provider) = p.providers.get(name).filter(|p| p.serves_zones()) else {
            continue;
        };
        if !provider.capabilities().record_types.contains(rtype) {
            r.error(
                path,
                format!(
                    "provider {name:?} ({}) cannot write {rtype} records (kinds that can: {})",
                    provider.kind(),
                    ProviderConfig::kinds_with(|c| c.record_types.contains(rtype))
                ),
            );
        }
    }
}

fn records(p: &Parsed, zone: &ZoneConfig, apex: Option<&ZoneName>, zone_path: &str, r: &mut Report) {
    // (owner, type) -> index, and owner -> (index, type) for CNAME exclusivity.
    let mut sets: HashMap<(String, String), usize> = HashMap::new();
    let mut owners: BTreeMap<String, Vec<(usize, RecordType)>> = BTreeMap::new();
    for (j, rec) in zone.records.iter().enumerate() {
        let base = join_index(&join_key(zone_path, "records"), j);
        let at = |field: &str| join_key(&base, field);
        let steerable = matches!(rec.rtype, RecordType::A | RecordType::Aaaa | RecordType::Cname);
        if !steerable {
            r.error(
                at("type"),
                format!(
                    "{:?} cannot be steered: the type must be A, AAAA or CNAME",
                    rec.rtype.as_str()
                ),
            );
        }
        if let Some(apex) = apex {
            match apex.absolute(&rec.name) {
                Err(e) => r.error(at("name"), e.to_string()),
                Ok(owner) if !apex.contains(&owner) => r.error(at("name"), format!("{owner} is outside zone {apex}")),
                Ok(owner) => {
                    if rec.rtype == RecordType::Cname && owner == apex.as_str() {
                        r.error(
                            at("name"),
                            "a CNAME cannot be at the zone apex (@): the apex holds SOA and NS",
                        );
                    }
                    let key = (owner.clone(), rec.rtype.to_string());
                    if let Some(first) = sets.insert(key, j) {
                        r.error(
                            at("name"),
                            format!(
                                "{owner} {} is defined twice in this zone (also records[{first}])",
                                rec.rtype
                            ),
                        );
                    } else {
                        let others = owners.entry(owner.clone()).or_default();
                        let clash = others
                            .iter()
                            .find(|(_, t)| (*t == RecordType::Cname) != (rec.rtype == RecordType::Cname));
                        if let Some((first, t)) = clash {
                            r.error(at("name"), format!("{owner} has a CNAME and other records (records[{first}] is {t}): a CNAME must stand alone"));
                        }
                        others.push((j, rec.rtype.clone()));
                    }
                }
            }
        }
        if steerable {
            writable(p, zone, &rec.rtype, &at("type"), r);
        }
        if rec.ttl > MAX_TTL {
            r.error(at("ttl"), format!("must be at most {MAX_TTL}"));
        }
        if rec.pools.is_empty() {
            r.error(at("pools"), "a record needs at least one pool");
        }
        // A weighted CNAME is one set per pool, each with its one value.
        if rec.rtype == RecordType::Cname && rec.pools.len() > 1 && rec.policy == RecordPolicy::AllHealthy {
            r.error(
                at("policy"),
                "a CNAME has exactly one value: with several pools only `failover` (or `weighted`, one set per \
                 pool) can answer with one",
            );
        }
        if rec.policy == RecordPolicy::Weighted {
            let without: Vec<String> = zone
                .providers
                .iter()
                .filter_map(|name| Some((name, p.providers.get(name)?)))
                .filter(|(_, c)| !c.has_native_weights())
                .map(|(name, c)| format!("{name} ({})", c.kind()))
                .collect();
            if !without.is_empty() {
                r.error(
                    at("policy"),
                    format!(
                        "`weighted` needs every provider of the zone to store weights natively, and {} cannot: \
                         it would answer with every pool whatever the weights. Kinds with native weights: {}",
                        without.join(", "),
                        ProviderConfig::kinds_with(|c| c.native_weights)
                    ),
                );
            }
        }
        if rec.policy == RecordPolicy::Weighted
            && !rec.pools.is_empty()
            && rec.pools.iter().all(|pool| pool.weight == 0)
        {
            r.error(
                at("pools"),
                "a weighted record needs at least one pool with a weight above 0",
            );
        }
        let mut pool_names = HashMap::new();
        let mut cname_priorities = HashMap::new();
        for (k, pool) in rec.pools.iter().enumerate() {
            let pbase = join_index(&at("pools"), k);
            let pat = |field: &str| join_key(&pbase, field);
            if pool.name.trim().is_empty() {
                r.error(pat("name"), "a pool needs a name");
            } else if let Some(first) = pool_names.insert(pool.name.as_str(), k) {
                r.error(
                    pat("name"),
                    format!(
                        "pool {:?} is defined twice in this record (also pools[{first}])",
                        pool.name
                    ),
                );
            }
            // Failover answers with every pool of the best healthy priority: two CNAME
            // pools sharing one would make a CNAME with two values.
            if rec.rtype == RecordType::Cname && rec.policy == RecordPolicy::Failover {
                if let Some(first) = cname_priorities.insert(pool.priority, k) {
                    r.error(
                        pat("priority"),
                        format!(
                            "a CNAME's pools need distinct priorities: pools[{first}] has priority {} too",
                            pool.priority
                        ),
                    );
                }
            }
            if pool.values.is_empty() {
                r.error(pat("values"), "a pool needs at least one value");
            } else if rec.rtype == RecordType::Cname && pool.values.len() > 1 {
                r.error(
                    pat("values"),
                    format!("a CNAME has exactly one value, found {}", pool.values.len()),
                );
            }
            if steerable {
                for (v, value) in pool.values.iter().enumerate() {
                    if normalize_value(&rec.rtype, value).is_err() {
                        let what = match rec.rtype {
                            RecordType::A => "an IPv4 address",
                            RecordType::Aaaa => "an IPv6 address",
                            _ => "a DNS name",
                        };
                        r.error(
                            join_index(&pat("values"), v),
                            format!("{value:?} is not a valid {} value: it must be {what}", rec.rtype),
                        );
                    }
                }
            }
            if let Some(check) = &pool.check {
                if !p.checks.contains_key(check) && !p.broken_checks.contains(check) {
                    r.error(
                        pat("check"),
                        format!(
                            "no check named {check:?}{}",
                            known(p.checks.keys().chain(&p.broken_checks))
                        ),
                    );
                }
            }
        }
    }
}

/// Warnings for what is defined and never used.
fn unused(p: &Parsed, r: &mut Report) {
    let mut used_providers = BTreeSet::new();
    let mut used_checks = BTreeSet::new();
    for zone in p.zones.iter().flatten() {
        used_providers.extend(zone.providers.iter().cloned());
        used_providers.extend(zone.delegation.iter().map(|d| d.provider.clone()));
        for rec in &zone.records {
            used_checks.extend(rec.pools.iter().filter_map(|pool| pool.check.clone()));
        }
    }
    let all_zones_parsed = p.zones.iter().all(Option::is_some);
    if !all_zones_parsed {
        return;
    }
    for name in p.providers.keys().filter(|n| !used_providers.contains(*n)) {
        r.warn(join_key("providers", name), "not used by any zone");
    }
    for name in p.checks.keys().filter(|n| !used_checks.contains(*n)) {
        r.warn(join_key("checks", name), "not used by any pool");
    }
}

/// Resolves every secret, reporting unset variables and unreadable files.
pub(crate) fn resolve_secrets(p: &mut Parsed, base_dir: &Path, r: &mut Report) {
    let mut secrets: Vec<(String, &mut Secret)> = Vec::new();
    if let Some(s) = p.agent.api_token.as_mut() {
        secrets.push(("agent.api_token".to_string(), s));
    }
    if let Some(CoordinationConfig::Etcd(etcd)) = p.agent.coordination.as_mut() {
        if let Some(s) = etcd.password.as_mut() {
            secrets.push(("agent.coordination.password".to_string(), s));
        }
    }
    for (name, provider) in p.providers.iter_mut() {
        let base = join_key("providers", name);
        let at = |field: &str| join_key(&base, field);
        match provider {
            ProviderConfig::Powerdns(c) => secrets.push((at("api_key"), &mut c.api_key)),
            ProviderConfig::Rfc2136(c) => secrets.push((join_key(&at("tsig"), "secret"), &mut c.tsig.secret)),
            ProviderConfig::Route53(c) => {
                secrets.extend(c.access_key_id.as_mut().map(|s| (at("access_key_id"), s)));
                secrets.extend(c.secret_access_key.as_mut().map(|s| (at("secret_access_key"), s)));
            }
            ProviderConfig::Route53domains(c) => {
                secrets.extend(c.access_key_id.as_mut().map(|s| (at("access_key_id"), s)));
                secrets.extend(c.secret_access_key.as_mut().map(|s| (at("secret_access_key"), s)));
            }
            ProviderConfig::Cloudflare(c) => secrets.push((at("api_token"), &mut c.api_token)),
            ProviderConfig::Azure(c) => secrets.push((at("client_secret"), &mut c.client_secret)),
            ProviderConfig::Ns1(c) => secrets.push((at("api_key"), &mut c.api_key)),
            ProviderConfig::Google(c) => secrets.push((at("credentials"), &mut c.credentials)),
        }
    }
    let mut slack_urls = Vec::new();
    for (i, alert) in p.alerts.iter_mut().enumerate() {
        let base = join_index("alerts", i);
        match alert {
            Some(AlertConfig::Webhook(w)) => secrets.extend(w.secret.as_mut().map(|s| (join_key(&base, "secret"), s))),
            Some(AlertConfig::Slack(s)) => {
                slack_urls.push(join_key(&base, "url"));
                secrets.push((join_key(&base, "url"), &mut s.url));
            }
            Some(AlertConfig::Pagerduty(pd)) => secrets.push((join_key(&base, "routing_key"), &mut pd.routing_key)),
            None => {}
        }
    }
    for (path, secret) in secrets {
        match secret.resolve(base_dir) {
            Ok(Some(warning)) => r.warn(&path, warning),
            Ok(None) => {
                // The value itself is never shown, only whether it looks like a URL.
                if slack_urls.contains(&path) && check_url(secret.expose()).is_err() {
                    r.error(&path, format!("the value of {} is not an http(s) URL", secret.source()));
                }
            }
            Err(e) => r.error(&path, e),
        }
    }
    // A Google key is checked where it is named (it parses and signs), so that a bad
    // key file is a configuration error and not the first request's.
    for (name, provider) in &p.providers {
        let ProviderConfig::Google(c) = provider else {
            continue;
        };
        if !c.credentials.is_resolved() {
            continue;
        }
        let path = join_key(&join_key("providers", name), "credentials");
        match ServiceAccount::from_json(c.credentials.expose()) {
            Err(e) => r.error(&path, format!("{}: {e}", c.credentials.source())),
            Ok(key) if key.project_id().is_none() && c.project.is_none() => r.error(
                &path,
                format!(
                    "the key in {} names no project_id: set `project`",
                    c.credentials.source()
                ),
            ),
            Ok(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------
// Small validators

fn nonzero(path: &str, d: Duration, r: &mut Report) {
    if d.is_zero() {
        r.error(path, "must be above 0");
    }
}

fn timeout_vs_interval(path: &str, timeout: Duration, interval: Duration, r: &mut Report) {
    if !timeout.is_zero() && !interval.is_zero() && timeout > interval {
        r.warn(
            path,
            format!("timeout {timeout} is longer than interval {interval}: probes will overlap"),
        );
    }
}

/// Provider and check names become target names (`provider:NAME`, `check:NAME`) on the
/// command line and in the API.
fn target_name(section: &str, name: &str, r: &mut Report) {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        r.error(
            join_key(section, name),
            format!("{name:?} is not a valid name: use 1 to 63 letters, digits, '-', '_' or '.'"),
        );
    }
}

fn dns_name(path: &str, name: &str, r: &mut Report) -> Option<String> {
    match normalize_name(name) {
        Ok(n) => Some(n),
        Err(e) => {
            r.error(path, e.to_string());
            None
        }
    }
}

fn check_url(text: &str) -> Result<(), String> {
    let u = url::Url::parse(text).map_err(|e| e.to_string())?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("the scheme must be http or https, not {:?}", u.scheme()));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".to_string());
    }
    Ok(())
}

fn url(path: &str, text: &str, r: &mut Report) {
    if let Err(why) = check_url(text) {
        r.error(path, format!("{text:?} is not a valid http(s) URL: {why}"));
    }
}

fn optional_url(path: &str, text: &Option<String>, r: &mut Report) {
    if let Some(text) = text {
        url(path, text, r);
    }
}

/// `host:port`, where host is an IP address (IPv6 in brackets) or a DNS name.
fn check_host_port(text: &str) -> Result<(), String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return if addr.port() == 0 {
            Err("port 0 cannot be reached".into())
        } else {
            Ok(())
        };
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err("expected host:port".into());
    };
    match port.parse::<u16>() {
        Ok(0) => return Err("port 0 cannot be reached".into()),
        Ok(_) => {}
        Err(_) => return Err(format!("{port:?} is not a port number")),
    }
    if host.contains(':') {
        return Err("write an IPv6 address in brackets, e.g. [2001:db8::1]:53".into());
    }
    if host.is_empty() || host.starts_with('*') || normalize_name(host).is_err() {
        return Err(format!("{host:?} is neither an IP address nor a host name"));
    }
    Ok(())
}

fn host_port(path: &str, text: &str, r: &mut Report) {
    if let Err(why) = check_host_port(text) {
        r.error(path, format!("{text:?} is not a valid host:port address: {why}"));
    }
}

/// ", known: a, b" for an undefined-name message, when there are names to suggest.
fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: BTreeSet<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" (defined: {})", names.into_iter().collect::<Vec<_>>().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_addresses() {
        for ok in [
            "127.0.0.1:53",
            "[2001:db8::1]:53",
            "ns1.example.test:5300",
            "localhost:1",
        ] {
            assert!(check_host_port(ok).is_ok(), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "2001:db8::1:53",
            ":53",
            "host:http",
            "a b:53",
            "127.0.0.1:70000",
        ] {
            assert!(check_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:8081").is_ok());
        assert!(check_url("https://hooks.example.test/x").is_ok());
        for bad in ["127.0.0.1:8081", "ftp://x", "http://", "not a url", "mailto:a@b"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
