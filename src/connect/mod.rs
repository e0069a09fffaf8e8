//! Builds the provider adapters the configuration names, with their secrets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::rfc2136::{Rfc2136Provider, TsigAlgorithmName, TsigKey};
use dnsteer_providers::{PowerDnsProvider, Provider};

use crate::config::{Config, ProviderConfig, TsigAlgorithm};

/// Every configured provider's adapter, by name.
pub type Providers = BTreeMap<String, Arc<dyn Provider>>;

/// How long one provider API call may take, whatever the probe timeouts: provider APIs
/// are slower than a DNS query, and a write cut short is worse than a slow one.
const API_TIMEOUT: Duration = Duration::from_secs(10);

pub fn providers(config: &Config) -> anyhow::Result<Providers> {
    config
        .providers
        .iter()
        .map(|(name, cfg)| Ok((name.clone(), provider(name, cfg).with_context(|| format!("provider {name}"))?)))
        .collect()
}

pub fn provider(name: &str, config: &ProviderConfig) -> anyhow::Result<Arc<dyn Provider>> {
    let http = HttpConfig { timeout: API_TIMEOUT, ..HttpConfig::default() };
    Ok(match config {
        ProviderConfig::Powerdns(c) => {
            Arc::new(PowerDnsProvider::new(name, &c.url, &c.server_id, c.api_key.expose(), http)?)
        }
        ProviderConfig::Rfc2136(c) => {
            let server: SocketAddr = c.server.parse().with_context(|| format!("server {:?} is not an address:port", c.server))?;
            let algorithm = match c.tsig.algorithm {
                TsigAlgorithm::HmacSha256 => TsigAlgorithmName::HmacSha256,
                TsigAlgorithm::HmacSha384 => TsigAlgorithmName::HmacSha384,
                TsigAlgorithm::HmacSha512 => TsigAlgorithmName::HmacSha512,
            };
            let key = TsigKey::from_base64(&c.tsig.name, algorithm, c.tsig.secret.expose())?;
            Arc::new(Rfc2136Provider::new(name, server, Some(key), API_TIMEOUT))
        }
        other => bail!("provider kind `{}` is not supported by this build yet", other.kind()),
    })
}
