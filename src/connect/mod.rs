//! Builds the provider adapters the configuration names, with their secrets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dnsteer_providers::cloudflare::{CloudflareOptions, CloudflareProvider};
use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::rfc2136::{Rfc2136Provider, TsigAlgorithmName, TsigKey};
use dnsteer_providers::route53::{AwsCredentials, Route53Options, Route53Provider};
use dnsteer_providers::route53domains::{Route53DomainsOptions, Route53DomainsProvider};
use dnsteer_providers::{PowerDnsProvider, Provider};

use crate::config::{Config, ProviderConfig, Secret, TsigAlgorithm};

/// Every configured provider's adapter, by name.
pub type Providers = BTreeMap<String, Arc<dyn Provider>>;

/// How long one provider API call may take, whatever the probe timeouts: provider APIs
/// are slower than a DNS query, and a write cut short is worse than a slow one.
const API_TIMEOUT: Duration = Duration::from_secs(10);

pub fn providers(config: &Config) -> anyhow::Result<Providers> {
    config
        .providers
        .iter()
        .map(|(name, cfg)| {
            Ok((
                name.clone(),
                provider(name, cfg).with_context(|| format!("provider {name}"))?,
            ))
        })
        .collect()
}

pub fn provider(name: &str, config: &ProviderConfig) -> anyhow::Result<Arc<dyn Provider>> {
    let http = HttpConfig {
        timeout: API_TIMEOUT,
        ..HttpConfig::default()
    };
    Ok(match config {
        ProviderConfig::Powerdns(c) => Arc::new(PowerDnsProvider::new(
            name,
            &c.url,
            &c.server_id,
            c.api_key.expose(),
            http,
        )?),
        ProviderConfig::Rfc2136(c) => {
            let server: SocketAddr = c
                .server
                .parse()
                .with_context(|| format!("server {:?} is not an address:port", c.server))?;
            let algorithm = match c.tsig.algorithm {
                TsigAlgorithm::HmacSha256 => TsigAlgorithmName::HmacSha256,
                TsigAlgorithm::HmacSha384 => TsigAlgorithmName::HmacSha384,
                TsigAlgorithm::HmacSha512 => TsigAlgorithmName::HmacSha512,
            };
            let key = TsigKey::from_base64(&c.tsig.name, algorithm, c.tsig.secret.expose())?;
            Arc::new(Rfc2136Provider::new(name, server, Some(key), API_TIMEOUT))
        }
        ProviderConfig::Route53(c) => {
            let credentials = aws_credentials(name, c.access_key_id.as_ref(), c.secret_access_key.as_ref())?;
            let mut options = Route53Options {
                hosted_zone_id: c.hosted_zone_id.clone(),
                http,
                ..Route53Options::default()
            };
            if let Some(endpoint) = &c.endpoint {
                options.endpoint = endpoint.clone();
            }
            if let Some(rps) = c.requests_per_second.and_then(NonZeroU32::new) {
                options.requests_per_second = rps;
            }
            Arc::new(Route53Provider::new(name, credentials, options)?)
        }
        ProviderConfig::Route53domains(c) => {
            let credentials = aws_credentials(name, c.access_key_id.as_ref(), c.secret_access_key.as_ref())?;
            let mut options = Route53DomainsOptions {
                http,
                ..Route53DomainsOptions::default()
            };
            if let Some(endpoint) = &c.endpoint {
                options.endpoint = endpoint.clone();
            }
            Arc::new(Route53DomainsProvider::new(name, credentials, options)?)
        }
        ProviderConfig::Cloudflare(c) => {
            let mut options = CloudflareOptions {
                zone_id: c.zone_id.clone(),
                http,
                ..CloudflareOptions::default()
            };
            if let Some(endpoint) = &c.endpoint {
                options.endpoint = endpoint.clone();
            }
            Arc::new(CloudflareProvider::new(name, c.api_token.expose(), options)?)
        }
    })
}

/// The configured key pair, or (when neither is configured) the standard AWS
/// environment variables and shared credentials file.
fn aws_credentials(name: &str, id: Option<&Secret>, secret: Option<&Secret>) -> anyhow::Result<AwsCredentials> {
    Ok(match (id, secret) {
        (Some(id), Some(secret)) => AwsCredentials::new(id.expose(), secret.expose(), None),
        (None, None) => AwsCredentials::from_environment(name)?,
        _ => anyhow::bail!("access_key_id and secret_access_key go together"),
    })
}
