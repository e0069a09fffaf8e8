//! Builds the provider adapters the configuration names, with their secrets, and reads
//! from them the nameservers the configuration leaves out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dnsteer_providers::azure::{AzureCredentials, AzureOptions, AzureProvider};
use dnsteer_providers::cloudflare::{CloudflareOptions, CloudflareProvider};
use dnsteer_providers::google::{GoogleOptions, GoogleProvider};
use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::ns1::{Ns1Options, Ns1Provider};
use dnsteer_providers::rfc2136::{Rfc2136Options, Rfc2136Provider, TsigAlgorithmName, TsigKey};
use dnsteer_providers::route53::{AwsCredentials, Route53Options, Route53Provider};
use dnsteer_providers::route53domains::{Route53DomainsOptions, Route53DomainsProvider};
use dnsteer_providers::{PowerDnsOptions, PowerDnsProvider, Provider, ZoneName};

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
        ProviderConfig::Powerdns(c) => {
            let options = PowerDnsOptions {
                endpoint: c.url.clone(),
                server_id: c.server_id.clone(),
                http,
            };
            Arc::new(PowerDnsProvider::new(name, c.api_key.expose(), options)?)
        }
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
            let options = Rfc2136Options {
                server,
                timeout: API_TIMEOUT,
            };
            Arc::new(Rfc2136Provider::new(name, Some(key), options)?)
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
            if let Some(timeout) = c.change_timeout {
                options.change_timeout = timeout.into();
            }
            if let Some(interval) = c.poll_interval {
                options.poll_interval = interval.into();
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
        ProviderConfig::Ns1(c) => {
            let mut options = Ns1Options {
                http,
                ..Ns1Options::default()
            };
            if let Some(endpoint) = &c.endpoint {
                options.endpoint = endpoint.clone();
            }
            Arc::new(Ns1Provider::new(name, c.api_key.expose(), options)?)
        }
        ProviderConfig::Google(c) => {
            let mut options = GoogleOptions {
                project: c.project.clone(),
                http,
                ..GoogleOptions::default()
            };
            if let Some(endpoint) = &c.endpoint {
                options.endpoint = endpoint.clone();
            }
            Arc::new(GoogleProvider::new(name, c.credentials.expose(), options)?)
        }
        ProviderConfig::Azure(c) => {
            let credentials = AzureCredentials {
                tenant_id: c.tenant_id.clone(),
                client_id: c.client_id.clone(),
                client_secret: c.client_secret.expose().to_string(),
            };
            let mut options = AzureOptions {
                http,
                ..AzureOptions::new(&c.subscription_id, &c.resource_group)
            };
            if let Some(endpoint) = &c.endpoint {
                options.endpoint = endpoint.clone();
            }
            if let Some(authority) = &c.authority {
                options.authority = authority.clone();
            }
            Arc::new(AzureProvider::new(name, credentials, options)?)
        }
    })
}

/// Reads, once at start, the nameservers of every (provider, zone) whose provider lists
/// no `nameservers`, into `config.discovered_nameservers`, so probes, the delegation and
/// the safety limits all see the same names ([`Config::nameservers_of`]). Providers are
/// asked concurrently; the first that cannot say is an error naming it and the zone.
pub async fn discover_nameservers(config: &mut Config, providers: &Providers) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for zone in &config.zones {
        let Ok(zone_name) = ZoneName::new(&zone.name) else {
            continue;
        };
        for name in &zone.providers {
            let configured = config.providers.get(name).map(ProviderConfig::nameservers);
            let (Some([]), Some(adapter)) = (configured, providers.get(name)) else {
                continue;
            };
            let (name, adapter, zone_name) = (name.clone(), Arc::clone(adapter), zone_name.clone());
            tasks.spawn(async move {
                let found = match tokio::time::timeout(API_TIMEOUT, adapter.nameservers(&zone_name)).await {
                    Ok(found) => found.map_err(anyhow::Error::from),
                    Err(_) => Err(anyhow::anyhow!("no answer within {API_TIMEOUT:?}")),
                };
                (name, zone_name, found)
            });
        }
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (name, zone, found) = joined.context("reading nameservers")?;
        match found {
            Ok(names) => {
                tracing::info!(provider = %name, %zone, nameservers = ?names, "nameservers read from the provider");
                config
                    .discovered_nameservers
                    .entry(name)
                    .or_default()
                    .insert(zone.to_string(), names);
            }
            Err(e) => failures.push(format!(
                "provider {name}: cannot read the nameservers of zone {zone} (list them under \
                 providers.{name}.nameservers, or fix the provider): {e:#}"
            )),
        }
    }
    failures.sort();
    match failures.as_slice() {
        [] => Ok(()),
        _ => anyhow::bail!("{}", failures.join("\n")),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What `check` holds a configuration to (the kind's declared capabilities) is what
    /// the adapter built from it says of itself.
    #[test]
    fn adapters_declare_what_check_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "c2VjcmV0LXNlY3JldC1zZWNyZXQ=\n").unwrap();
        // Google's adapter signs with the key when it is built: a real RSA key.
        let pem = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
            .output()
            .expect("openssl (scripts/install-test-deps.sh installs it)");
        let sa = serde_json::json!({
            "type": "service_account", "project_id": "p", "client_email": "dnsteer@p.iam.gserviceaccount.test",
            "private_key": String::from_utf8(pem.stdout).unwrap(), "token_uri": "https://oauth2.googleapis.com/token",
        });
        std::fs::write(dir.path().join("sa.json"), sa.to_string()).unwrap();
        let text = "
providers:
  pdns: { kind: powerdns, url: 'http://127.0.0.1:8081', api_key: { file: key }, nameservers: [ns1.a.test.] }
  bind: { kind: rfc2136, server: '127.0.0.1:53', tsig: { name: k, algorithm: hmac-sha256, secret: { file: key } }, nameservers: [ns1.b.test.] }
  r53: { kind: route53, access_key_id: { file: key }, secret_access_key: { file: key } }
  reg: { kind: route53domains, access_key_id: { file: key }, secret_access_key: { file: key } }
  cf: { kind: cloudflare, api_token: { file: key } }
  az: { kind: azure, tenant_id: t, client_id: 00000000-0000-0000-0000-000000000001, client_secret: { file: key },
        subscription_id: 00000000-0000-0000-0000-000000000002, resource_group: g }
  ns1: { kind: ns1, api_key: { file: key } }
  gdns: { kind: google, credentials: { file: sa.json } }
zones:
  - { name: example.test., providers: [ pdns, bind, r53, cf, az, ns1, gdns ], delegation: { provider: reg } }
";
        let config = crate::config::load_str(text, dir.path()).unwrap().config;
        let built = providers(&config).unwrap();
        assert_eq!(built.len(), ProviderConfig::KINDS.len(), "one of each kind");
        for (name, cfg) in &config.providers {
            assert_eq!(built[name].capabilities(), &cfg.capabilities(), "{name}");
        }
    }

    /// Route 53's GetChange wait is the configuration's, where it says.
    #[test]
    fn route53_waits_as_configured() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "test\n").unwrap();
        let text = "
providers:
  r53:
    kind: route53
    access_key_id: { file: key }
    secret_access_key: { file: key }
    change_timeout: 5m
    poll_interval: 10s
zones:
  - { name: example.test., providers: [ r53 ] }
";
        let config = crate::config::load_str(text, dir.path()).unwrap().config;
        let r53 = format!("{:?}", providers(&config).unwrap()["r53"]);
        assert!(
            r53.contains("change_timeout: 300s") && r53.contains("poll_interval: 10s"),
            "{r53}"
        );
    }
}
