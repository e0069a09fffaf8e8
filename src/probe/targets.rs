//! The probe targets a configuration names: one per check (`check:NAME`) and one per
//! provider that serves a zone (`provider:NAME`), with their probers built and every
//! address resolved once, at start.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hickory_proto::rr::RecordType;

use dnsteer_providers::ZoneName;

use super::{Confirm, DnsProber, HttpProber, Prober, ScheduledTarget, TcpProber};
use crate::config::hosts::{self, HostPort, DNS_PORT};
use crate::config::{CheckConfig, Config, HealthConfig};

/// One health target and the probers that measure it. A provider's target has one
/// prober per (address, zone); every prober reports under the target's name, and a
/// round of them is one result.
#[derive(Debug, Clone)]
pub struct Target {
    /// `check:NAME` or `provider:NAME`.
    pub name: String,
    pub probers: Vec<Arc<dyn Prober>>,
    pub interval: Duration,
    pub timeout: Duration,
    pub confirm: Confirm,
}

impl Target {
    /// This target for [`super::Scheduler`]: all its probers in one round per interval.
    pub fn scheduled(&self) -> impl Iterator<Item = ScheduledTarget> + '_ {
        std::iter::once(ScheduledTarget {
            probers: self.probers.clone(),
            interval: self.interval,
            confirm: self.confirm,
        })
    }
}

fn confirm_of(health: &HealthConfig) -> Confirm {
    Confirm {
        probes: health.confirm.probes,
        spacing: health.confirm.spacing.get(),
    }
}

/// Builds every target of `config`: checks first, then providers, each in name order.
/// A provider with `probe` addresses is probed there; otherwise each of its nameserver
/// names for each zone (configured, or read from it at start) is resolved now, and a
/// name that does not resolve is an error naming the provider. Provider targets ask
/// each of their addresses for the SOA of every zone the provider serves, on the
/// `defaults` interval and timeout.
pub async fn targets_from_config(config: &Config) -> anyhow::Result<Vec<Target>> {
    targets_where(config, |_| true).await
}

/// The name of every target of `config` (`check:NAME`, `provider:NAME`), without
/// building or resolving anything.
pub fn target_names(config: &Config) -> Vec<String> {
    let checks = config.checks.keys().map(|name| format!("check:{name}"));
    let providers = config
        .providers
        .keys()
        .filter(|name| config.zones.iter().any(|z| z.providers.contains(name)))
        .map(|name| format!("provider:{name}"));
    checks.chain(providers).collect()
}

/// The targets of `config` whose name `wanted` accepts, built as
/// [`targets_from_config`] builds them: a target whose health is forced is neither
/// built nor resolved.
pub async fn targets_where(config: &Config, wanted: impl Fn(&str) -> bool) -> anyhow::Result<Vec<Target>> {
    let mut targets = Vec::new();
    for (name, check) in &config.checks {
        let target = format!("check:{name}");
        if !wanted(&target) {
            continue;
        }
        let (interval, timeout, health) = config.check_settings(name);
        let (interval, timeout): (Duration, Duration) = (interval.into(), timeout.into());
        let prober: Arc<dyn Prober> = match check {
            CheckConfig::Http(c) => {
                // Resolved now as the other kinds are, so a name that never resolves stops
                // the start; the prober resolves it again for each request, so one that
                // fails later is that probe's failure, with its reason.
                if let Some((host, port)) = hosts::url_host(&c.url) {
                    resolve(&format!("{host}:{port}"), None)
                        .await
                        .with_context(|| format!("check {name}: url {}", c.url))?;
                }
                Arc::new(HttpProber::new(
                    &target,
                    &c.url,
                    c.expect_status.clone(),
                    c.body.clone(),
                    c.host.clone(),
                    c.follow_redirects,
                    timeout,
                )?)
            }
            CheckConfig::Tcp(c) => {
                let address = first(&c.address, None)
                    .await
                    .with_context(|| format!("check {name}: address"))?;
                Arc::new(TcpProber::new(&target, address, timeout))
            }
            CheckConfig::Dns(c) => {
                let server = first(&c.server, Some(DNS_PORT))
                    .await
                    .with_context(|| format!("check {name}: server"))?;
                let rtype = RecordType::from_str(c.query.rtype.as_str())
                    .map_err(|e| anyhow::anyhow!("check {name}: query type {}: {e}", c.query.rtype.as_str()))?;
                Arc::new(DnsProber::new(
                    &target,
                    server,
                    &c.query.name,
                    rtype,
                    timeout,
                    c.expect.clone(),
                )?)
            }
        };
        targets.push(Target {
            name: target,
            probers: vec![prober],
            interval,
            timeout,
            confirm: confirm_of(&health),
        });
    }

    let (interval, timeout, health) = config.provider_health_settings();
    let (interval, timeout): (Duration, Duration) = (interval.into(), timeout.into());
    for (name, provider) in &config.providers {
        if !wanted(&format!("provider:{name}")) {
            continue;
        }
        let zones: Vec<ZoneName> = config
            .zones
            .iter()
            .filter(|zone| zone.providers.iter().any(|p| p == name))
            .filter_map(|zone| ZoneName::new(&zone.name).ok())
            .collect();
        if zones.is_empty() {
            continue;
        }
        let mut probe_at = Vec::new();
        for entry in provider.probe() {
            let address = first(entry, Some(DNS_PORT))
                .await
                .with_context(|| format!("provider {name}: probe address"))?;
            probe_at.push(address);
        }
        // Each zone is asked of the nameservers that serve it (Route 53 gives every
        // hosted zone its own delegation set).
        let mut pairs: Vec<(SocketAddr, &ZoneName)> = Vec::new();
        for zone in &zones {
            if !probe_at.is_empty() {
                pairs.extend(probe_at.iter().map(|a| (*a, zone)));
                continue;
            }
            let names = config.nameservers_of(name, zone);
            if names.is_empty() {
                bail!(
                    "provider {name}: nothing to probe for zone {zone} (no `probe` addresses, and no nameservers \
                     configured or read from the provider)"
                );
            }
            for ns in names {
                let found = resolve(ns, Some(DNS_PORT))
                    .await
                    .with_context(|| format!("provider {name}: cannot resolve nameserver {ns} of zone {zone}"))?;
                pairs.extend(found.into_iter().map(|a| (a, zone)));
            }
        }
        let mut seen = std::collections::HashSet::new();
        pairs.retain(|(a, z)| seen.insert((*a, z.as_str())));
        let target = format!("provider:{name}");
        let mut probers: Vec<Arc<dyn Prober>> = Vec::new();
        for (address, zone) in pairs {
            probers.push(Arc::new(DnsProber::for_provider(
                &target,
                address,
                zone.as_str(),
                timeout,
            )?));
        }
        targets.push(Target {
            name: target,
            probers,
            interval,
            timeout,
            confirm: confirm_of(&health),
        });
    }
    Ok(targets)
}

/// The first address of `entry` (see [`resolve`]).
async fn first(entry: &str, default_port: Option<u16>) -> anyhow::Result<SocketAddr> {
    let addresses = resolve(entry, default_port).await?;
    addresses
        .into_iter()
        .next()
        .with_context(|| format!("{entry} resolves to no address"))
}

/// The addresses of `host:port`, `host` (with `default_port`), an address or an
/// `address:port` ([`hosts::split`]). A name is resolved by the system resolver; of its
/// addresses only those of the family the resolver prefers are kept, so an IPv6 address
/// is not probed from a host the resolver knows has no IPv6 route.
async fn resolve(entry: &str, default_port: Option<u16>) -> anyhow::Result<Vec<SocketAddr>> {
    let (host, port) = match hosts::split(entry, default_port).map_err(anyhow::Error::msg)? {
        HostPort::Address(address) => return Ok(vec![address]),
        HostPort::Name(host, port) => (host, port),
    };
    if hosts::never_resolves(&host) {
        bail!("{host} does not resolve (a name under .invalid never does)");
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    let Some(preferred) = found.first().map(SocketAddr::is_ipv4) else {
        bail!("{host} resolves to no address");
    };
    Ok(found.into_iter().filter(|a| a.is_ipv4() == preferred).collect())
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[tokio::test]
    async fn resolve_reads_addresses_ports_and_hosts_file_names() {
        assert_eq!(
            resolve("127.0.0.1:5301", Some(53)).await.unwrap(),
            vec!["127.0.0.1:5301".parse().unwrap()]
        );
        assert_eq!(
            resolve("127.0.0.1", Some(53)).await.unwrap(),
            vec!["127.0.0.1:53".parse().unwrap()]
        );
        assert_eq!(
            resolve("[::1]:53", None).await.unwrap(),
            vec!["[::1]:53".parse().unwrap()]
        );
        assert_eq!(
            resolve("::1", Some(53)).await.unwrap(),
            vec!["[::1]:53".parse().unwrap()]
        );
        let local = resolve("localhost.", Some(5300)).await.unwrap();
        assert!(
            local.iter().all(|a| a.port() == 5300 && a.ip().is_loopback()),
            "{local:?}"
        );
        assert!(resolve("127.0.0.1", None).await.is_err());
    }
}
