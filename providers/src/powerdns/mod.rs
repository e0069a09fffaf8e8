//! PowerDNS Authoritative, through its HTTP API (v1).
//!
//! - Reads: `GET /api/v1/servers/{server}/zones/{zone}` returns every rrset.
//! - Writes: one `PATCH` per batch with `changetype` REPLACE / DELETE. PowerDNS applies a
//!   PATCH atomically (one bad rrset: HTTP 422, nothing applied).
//! - PowerDNS has no compare-and-set, so before each PATCH the adapter re-reads the zone
//!   and refuses (`Conflict`) a batch whose `before` no longer matches (`shared::fresh`). A write that
//!   lands between that read and the PATCH is not detected: the window is one round
//!   trip, and the daemon pair's lease is what keeps two writers apart.
//! - Credentials: the `api-key` of the server (PowerDNS has no finer scopes).
//! - Tested against PowerDNS Authoritative 4.7 (Debian 12) with the gsqlite3 backend.

mod access;
mod types;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};

use crate::error::ProviderError;
use crate::http::{classify_status_as, HttpClient, HttpConfig, HttpResponse, Verdict};
use crate::provider::{Applied, Capabilities, Provider, SetKey, WriteAccess};
use crate::record::{Change, RecordSet, RecordType, ZoneName};
use crate::shared::{limiter, pending, Budget, LimiterKey};

use types::{ApiError, Patch, PatchRrSet, Record, Zone};

/// Settings of one PowerDNS adapter.
#[derive(Clone, Debug)]
pub struct PowerDnsOptions {
    /// The API's base URL, e.g. `http://127.0.0.1:8081`.
    pub endpoint: String,
    /// The server id in the API's paths (`localhost` for the server itself).
    pub server_id: String,
    pub http: HttpConfig,
}

impl Default for PowerDnsOptions {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:8081".to_string(),
            server_id: "localhost".to_string(),
            http: HttpConfig::default(),
        }
    }
}

/// What PowerDNS can do, whoever runs it.
pub fn capabilities() -> Capabilities {
    Capabilities {
        record_types: Capabilities::common_record_types(),
        min_ttl: 1,
        // One PATCH carries the batch; PowerDNS has no documented cap, this keeps
        // request bodies reasonable.
        max_batch: 1000,
        atomic: true,
        compare_and_set: false,
        native_weights: false,
        extra_records: true,
    }
}

/// The PowerDNS adapter. Its API key is held only inside the request builder.
pub struct PowerDnsProvider {
    name: String,
    base_url: String,
    server_id: String,
    api_key: String,
    http: HttpClient,
    capabilities: Capabilities,
}

impl std::fmt::Debug for PowerDnsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerDnsProvider")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("server_id", &self.server_id)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

impl PowerDnsProvider {
    pub fn new(name: &str, api_key: &str, options: PowerDnsOptions) -> Result<Self, ProviderError> {
        let base_url = options.endpoint.trim_end_matches('/').to_string();
        // PowerDNS limits nothing itself: the budget is the server's, shared by every
        // adapter that writes to it.
        let budget = Budget::per_second(options.http.requests_per_second, options.http.burst);
        let limiter = limiter(LimiterKey::new("powerdns", &base_url, api_key, budget));
        Ok(Self {
            name: name.to_string(),
            http: HttpClient::new(name, options.http, limiter)?,
            base_url,
            server_id: options.server_id,
            api_key: api_key.to_string(),
            capabilities: capabilities(),
        })
    }

    fn zone_url(&self, zone: &ZoneName) -> String {
        format!(
            "{}/api/v1/servers/{}/zones/{}",
            self.base_url,
            self.server_id,
            zone.as_str()
        )
    }

    async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        zone: &ZoneName,
    ) -> Result<HttpResponse, ProviderError> {
        self.http
            .send_keyed(method, url, ("X-API-Key", &self.api_key), body, |resp| {
                self.classify(resp, zone)
            })
            .await
    }

    fn classify(&self, resp: &HttpResponse, zone: &ZoneName) -> Verdict {
        if resp.status == StatusCode::NOT_FOUND {
            return Verdict::Fail(ProviderError::ZoneNotFound {
                provider: self.name.clone(),
                zone: zone.to_string(),
            });
        }
        // PowerDNS says why in `{"error": ...}` (422 for content it refuses, 400 for a
        // malformed request: both rejected).
        classify_status_as(&self.name, resp, || {
            serde_json::from_slice::<ApiError>(&resp.body)
                .map(|e| format!("HTTP {}: {}", resp.status, e.error))
                .unwrap_or_else(|_| format!("HTTP {}: {}", resp.status, crate::http::snippet(&resp.body)))
        })
    }

    fn to_record_sets(&self, zone: Zone) -> Result<Vec<RecordSet>, ProviderError> {
        let mut sets = Vec::with_capacity(zone.rrsets.len());
        for rrset in zone.rrsets {
            let values: Vec<&str> = rrset
                .records
                .iter()
                .filter(|r| !r.disabled)
                .map(|r| r.content.as_str())
                .collect();
            if values.is_empty() {
                continue; // only disabled records (or a comment-only rrset): nothing is served
            }
            let rtype: RecordType = rrset.rtype.parse().unwrap_or_else(|never| match never {});
            // A record dnsteer cannot model (an RFC 2317 name, say) is not one it manages
            // (the configuration only names valid ones): skip it rather than lose the zone.
            match RecordSet::new(&rrset.name, rtype, rrset.ttl, values) {
                Ok(set) => sets.push(set),
                Err(e) => tracing::warn!(provider = %self.name, "skipping rrset {} {}: {e}", rrset.name, rrset.rtype),
            }
        }
        sets.sort();
        Ok(sets)
    }
}

#[async_trait]
impl Provider for PowerDnsProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn records(&self, zone: &ZoneName) -> Result<Vec<RecordSet>, ProviderError> {
        let url = self.zone_url(zone);
        let resp = self.request(Method::GET, &url, None, zone).await?;
        self.to_record_sets(resp.json(&self.name)?)
    }

    async fn write_access(&self, zone: &ZoneName, _: &[SetKey]) -> Result<WriteAccess, ProviderError> {
        access::write_access(self, zone).await
    }

    async fn apply(&self, zone: &ZoneName, changes: &[Change]) -> Result<Applied, ProviderError> {
        if changes.is_empty() {
            return Ok(Applied::default());
        }
        let live = self.records(zone).await?;
        let pending = pending(&self.name, &live, changes)?;
        if pending.is_empty() {
            return Ok(Applied { changes: changes.len() });
        }
        let rrsets = pending
            .iter()
            .map(|change| match change.after() {
                Some(after) => PatchRrSet {
                    name: &after.name,
                    rtype: after.rtype.as_str(),
                    ttl: Some(after.ttl),
                    changetype: "REPLACE",
                    records: after
                        .values
                        .iter()
                        .map(|v| Record {
                            content: v.clone(),
                            disabled: false,
                        })
                        .collect(),
                },
                None => {
                    let before = change.subject();
                    PatchRrSet {
                        name: &before.name,
                        rtype: before.rtype.as_str(),
                        ttl: None,
                        changetype: "DELETE",
                        records: vec![],
                    }
                }
            })
            .collect();
        let body = serde_json::to_vec(&Patch { rrsets }).expect("a patch serialises");
        self.request(Method::PATCH, &self.zone_url(zone), Some(body), zone)
            .await?;
        Ok(Applied { changes: changes.len() })
    }
}
