//! The delegation at Amazon's registrar, through the Route 53 Domains API (JSON 1.1,
//! SigV4 for `route53domains` in us-east-1, the only region it has).
//!
//! - `records(zone)` is one NS record set at the apex: the name servers the registrar
//!   publishes in the parent zone (GetDomainDetail).
//! - `apply` takes only a create or update of that set: UpdateDomainNameservers, then
//!   GetOperationDetail until SUCCESSFUL (or FAILED/ERROR, or the timeout). Anything
//!   else is `Unsupported`.
//! - The TTL of a delegation is the parent registry's, not ours: the set is read, and
//!   desired sets normalised, with `DELEGATION_TTL` so that plans converge.
//! - Requests spend a token bucket (default 1 request/s; the API allows a few per
//!   second per account) and throttling is retried by the shared HTTP layer.

mod access;
mod types;

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::Method;

use crate::error::ProviderError;
use crate::http::{HttpClient, HttpConfig, HttpResponse, Idempotency, Verdict};
use crate::provider::{Applied, Capabilities, Provider, SetKey, WriteAccess};
use crate::record::{Change, RecordSet, RecordType, ZoneName};
use crate::route53::sigv4::Signer;
use crate::route53::{account_limiter, classify, error_code, AwsCredentials};
use crate::shared::{self, Poll};

use types::{
    DomainDetail, DomainRequest, Nameserver, OperationDetail, OperationId, OperationRequest, UpdateNameservers,
};

/// The API's only endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://route53domains.us-east-1.amazonaws.com";
/// The TTL the delegation is read and planned with: registries publish their own (most
/// TLDs: two days), whatever the configuration says.
pub const DELEGATION_TTL: u32 = 172_800;

/// Settings of one Route 53 Domains adapter.
#[derive(Clone, Debug)]
pub struct Route53DomainsOptions {
    pub endpoint: String,
    pub requests_per_second: NonZeroU32,
    /// How long `apply` follows the operation before giving up on it.
    pub operation_timeout: Duration,
    pub poll_interval: Duration,
    pub http: HttpConfig,
}

impl Default for Route53DomainsOptions {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            requests_per_second: NonZeroU32::new(1).unwrap(),
            operation_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(5),
            http: HttpConfig::default(),
        }
    }
}

/// What the registrar can do: hold the delegation, one change at a time.
pub fn capabilities() -> Capabilities {
    Capabilities {
        record_types: vec![RecordType::Ns],
        min_ttl: 0,
        max_batch: 1,
        atomic: true,
        compare_and_set: false,
        native_weights: false,
        extra_records: false,
    }
}

pub struct Route53DomainsProvider {
    name: String,
    endpoint: String,
    signer: Signer,
    http: HttpClient,
    options: Route53DomainsOptions,
    capabilities: Capabilities,
}

impl std::fmt::Debug for Route53DomainsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route53DomainsProvider")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Route53DomainsProvider {
    pub fn new(name: &str, credentials: AwsCredentials, options: Route53DomainsOptions) -> Result<Self, ProviderError> {
        let endpoint = options.endpoint.trim_end_matches('/').to_string();
        // Its own bucket (another API than Route 53's), shared by adapters on one account.
        let limiter = account_limiter(
            "route53domains",
            &endpoint,
            credentials.access_key_id(),
            options.requests_per_second,
        );
        let http = HttpClient::new(name, options.http.clone(), limiter)?;
        Ok(Self {
            name: name.to_string(),
            endpoint,
            signer: Signer::new(credentials, "route53domains"),
            http,
            options,
            capabilities: capabilities(),
        })
    }

    fn unsupported(&self, message: String) -> ProviderError {
        ProviderError::Unsupported {
            provider: self.name.clone(),
            message,
        }
    }

    async fn call<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        action: &str,
        body: &B,
        zone: &ZoneName,
    ) -> Result<T, ProviderError> {
        let body = serde_json::to_vec(body).expect("a request serialises");
        let url = format!("{}/", self.endpoint);
        let target = format!("Route53Domains_v20140515.{action}");
        let to_sign = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let first = self
            .signer
            .headers(&self.name, "POST", &url, &to_sign, &body, SystemTime::now())?;
        // GetDomainDetail and GetOperationDetail read; UpdateDomainNameservers sets an
        // absolute list: sending any of them twice gives the same result.
        let resp = self
            .http
            .send(
                Idempotency::Idempotent,
                |client| {
                    let signed = self
                        .signer
                        .headers(&self.name, "POST", &url, &to_sign, &body, SystemTime::now())
                        .unwrap_or_else(|_| first.clone());
                    let mut req = client.request(Method::POST, &url).body(body.clone());
                    for (k, v) in to_sign.iter().copied() {
                        req = req.header(k, v);
                    }
                    for (k, v) in &signed {
                        req = req.header(k.as_str(), v.as_str());
                    }
                    req
                },
                |resp| self.classify(resp, action, zone),
            )
            .await?;
        resp.json(&self.name)
    }

    fn classify(&self, resp: &HttpResponse, action: &str, zone: &ZoneName) -> Verdict {
        // GetDomainDetail's only input is the domain: InvalidInput to it means the
        // registrar holds no such domain for these credentials.
        if action == "GetDomainDetail" && !resp.status.is_success() && error_code(&resp.body).0 == "InvalidInput" {
            return Verdict::Fail(ProviderError::ZoneNotFound {
                provider: self.name.clone(),
                zone: zone.to_string(),
            });
        }
        classify(&self.name, resp, None)
    }

    /// Follows the operation until SUCCESSFUL, within `operation_timeout`.
    async fn follow(&self, operation_id: &str, zone: &ZoneName) -> Result<(), ProviderError> {
        let status = || async {
            let detail: OperationDetail = self
                .call("GetOperationDetail", &OperationRequest { operation_id }, zone)
                .await?;
            match detail.status.as_str() {
                "SUCCESSFUL" => Ok(Poll::Done),
                "FAILED" | "ERROR" => Err(ProviderError::Rejected {
                    provider: self.name.clone(),
                    message: format!(
                        "UpdateDomainNameservers operation {operation_id} ended {}: {}",
                        detail.status,
                        detail.message.unwrap_or_default()
                    ),
                }),
                _ => Ok(Poll::Pending(detail.status)),
            }
        };
        let still = |status: &str, timeout| {
            format!("UpdateDomainNameservers operation {operation_id} still {status} after {timeout:?}; the registrar goes on with it")
        };
        let (timeout, interval) = (self.options.operation_timeout, self.options.poll_interval);
        shared::poll_until(&self.name, timeout, interval, status, still).await
    }
}

/// `example.com.` → `example.com`, as the registrar names domains.
fn domain_name(zone: &ZoneName) -> &str {
    zone.as_str().trim_end_matches('.')
}

#[async_trait]
impl Provider for Route53DomainsProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn records(&self, zone: &ZoneName) -> Result<Vec<RecordSet>, ProviderError> {
        let detail: DomainDetail = self
            .call(
                "GetDomainDetail",
                &DomainRequest {
                    domain_name: domain_name(zone),
                },
                zone,
            )
            .await?;
        if detail.nameservers.is_empty() {
            return Ok(Vec::new());
        }
        let set = RecordSet::new(
            zone.as_str(),
            RecordType::Ns,
            DELEGATION_TTL,
            detail.nameservers.iter().map(|n| &n.name),
        )
        .map_err(|e| ProviderError::Protocol {
            provider: self.name.clone(),
            message: format!("name servers: {e}"),
        })?;
        Ok(vec![set])
    }

    /// The delegation's TTL is the registry's: desired NS sets take `DELEGATION_TTL`.
    fn normalize(&self, desired: Vec<RecordSet>) -> Vec<RecordSet> {
        desired
            .into_iter()
            .map(|mut rs| {
                if rs.rtype == RecordType::Ns {
                    rs.ttl = DELEGATION_TTL;
                }
                rs
            })
            .collect()
    }

    async fn write_access(&self, zone: &ZoneName, _: &[SetKey]) -> Result<WriteAccess, ProviderError> {
        Ok(access::write_access(zone))
    }

    async fn apply(&self, zone: &ZoneName, changes: &[Change]) -> Result<Applied, ProviderError> {
        let after = match changes {
            [] => return Ok(Applied::default()),
            [Change::Create { after } | Change::Update { after, .. }] => after,
            [Change::Delete { .. }] => {
                return Err(self.unsupported("a domain's delegation cannot be deleted, only replaced".into()))
            }
            _ => return Err(self.unsupported("one change at a time: the apex NS set".into())),
        };
        if after.rtype != RecordType::Ns || after.name != zone.as_str() {
            return Err(self.unsupported(format!(
                "{} {}: the registrar holds only the NS set at {zone}",
                after.name, after.rtype
            )));
        }
        if after.values.is_empty() {
            return Err(ProviderError::Rejected {
                provider: self.name.clone(),
                message: "a delegation needs at least one name server".into(),
            });
        }
        let request = UpdateNameservers {
            domain_name: domain_name(zone),
            nameservers: after
                .values
                .iter()
                .map(|v| Nameserver {
                    name: v.trim_end_matches('.').to_string(),
                    glue_ips: Vec::new(),
                })
                .collect(),
        };
        let op: OperationId = self.call("UpdateDomainNameservers", &request, zone).await?;
        self.follow(&op.operation_id, zone).await?;
        Ok(Applied { changes: 1 })
    }
}
