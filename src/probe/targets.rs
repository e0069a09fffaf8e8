//! The probe targets a configuration names: one per check (`check:NAME`) and one per
//! provider that serves a zone (`provider:NAME`), with their probers built and every
//! address resolved once, at start.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hickory_proto::rr::RecordType;

use super::{Confirm, DnsProber, HttpProber, Prober, ScheduledTarget, TcpProber};
use crate::config::{CheckConfig, Config, HealthConfig};

/// The port of a DNS server or nameserver written without one.
const DNS_PORT: u16 = 53;

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
/// names is resolved now, and a name that does not resolve is an error naming the
/// provider. Provider targets ask each of their addresses for the SOA of every zone
/// the provider serves, on the `defaults` interval and timeout.
pub async fn targets_from_config(config: &Config) -> anyhow::Result<Vec<Target>> {
    let mut targets = Vec::new();
    for (name, check) in &config.checks {
        let target = format!("check:{name}");
        let (interval, timeout, health) = config.check_settings(name);
        let (interval, timeout): (Duration, Duration) = (interval.into(), timeout.into());
        let prober: Arc<dyn Prober> = match check {
            CheckConfig::Http(c) => Arc::new(HttpProber::new(
                &target,
                &c.url,
                c.expect_status.clone(),
                c.body.clone(),
                c.host.clone(),
                c.follow_redirects,
                timeout,
            )?),
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
        let zones: Vec<&str> = config
            .zones
            .iter()
            .filter(|zone| zone.providers.iter().any(|p| p == name))
            .map(|zone| zone.name.as_str())
            .collect();
        if zones.is_empty() {
            continue;
        }
        let mut addresses = Vec::new();
        if provider.probe().is_empty() {
            for ns in provider.nameservers() {
                let found = resolve(ns, Some(DNS_PORT))
                    .await
                    .with_context(|| format!("provider {name}: cannot resolve nameserver {ns}"))?;
                addresses.extend(found);
            }
        } else {
            for entry in provider.probe() {
                let address = first(entry, Some(DNS_PORT))
                    .await
                    .with_context(|| format!("provider {name}: probe address"))?;
                addresses.push(address);
            }
        }
        dedup(&mut addresses);
        if addresses.is_empty() {
            bail!("provider {name}: nothing to probe (no `probe` addresses and no `nameservers`)");
        }
        let target = format!("provider:{name}");
        let mut probers: Vec<Arc<dyn Prober>> = Vec::new();
        for address in &addresses {
            for zone in &zones {
                probers.push(Arc::new(DnsProber::for_provider(&target, *address, zone, timeout)?));
            }
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
/// `address:port`. A name is resolved by the system resolver, without its final dot
/// (the hosts file does not know `localhost.`); of its addresses only those of the
/// family the resolver prefers are kept, so an IPv6 address is not probed from a host
/// the resolver knows has no IPv6 route.
async fn resolve(entry: &str, default_port: Option<u16>) -> anyhow::Result<Vec<SocketAddr>> {
    if let Ok(address) = entry.parse::<SocketAddr>() {
        return Ok(vec![address]);
    }
    if let Ok(ip) = entry.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        let port = default_port.with_context(|| format!("{entry:?} has no port (write address:port)"))?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let with_port = entry
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
    let (host, port) = match (with_port, default_port) {
        (Some(split), _) => split,
        (None, Some(port)) => (entry, port),
        (None, None) => bail!("{entry:?} has no port (write host:port)"),
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    let Some(preferred) = found.first().map(SocketAddr::is_ipv4) else {
        bail!("{host} resolves to no address");
    };
    Ok(found.into_iter().filter(|a| a.is_ipv4() == preferred).collect())
}

fn dedup(addresses: &mut Vec<SocketAddr>) {
    let mut seen = std::collections::HashSet::new();
    addresses.retain(|a| seen.insert(*a));
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
