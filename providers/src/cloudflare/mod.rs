//! Cloudflare DNS, through the API v4 with a scoped API token (`Authorization: Bearer`).
//!
//! - Zone: the configured `zone_id`, or looked up by name (`GET /zones?name=`).
//! - Reads: `GET /zones/{id}/dns_records`, every page (`result_info.total_pages`).
//!   Cloudflare stores one record per value; records of one name and type make a set.
//!   MX priorities, kept apart by Cloudflare, are put back in front of the value; SRV
//!   and CAA values are read from, and written as, their components (`data`), the
//!   way the API takes them.
//! - Writes: the adapter re-reads the zone, refuses (`Conflict`) a change whose `before`
//!   no longer matches (Cloudflare has no compare-and-set; the window is one round
//!   trip), skips changes already live, and turns each change into record operations: a
//!   create posts one record per value; a delete deletes each record; an update deletes
//!   the values that go, posts those that come and patches the TTL of those that stay.
//!   They go through `POST /zones/{id}/dns_records/batch` (one transaction per call, at
//!   most `max_batch_ops` operations, 200 by default: the Free plan's limit). Where the
//!   batch endpoint is not there (404/405) the adapter falls back, for good, to one
//!   call per record, in plan order; a failure part way is `PartiallyApplied` with the
//!   number of changes that went through.
//! - `proxied` records keep their flag: never sent on a patch, copied from the set onto
//!   records posted into it. Cloudflare answers TTL 1 ("automatic") for proxied
//!   records whatever was asked, so `normalize_for` gives a desired set whose live set
//!   was read as proxied TTL 1. `normalize` keeps a desired TTL of 1 as "automatic",
//!   raises others to 60 s (Cloudflare's floor outside Enterprise) and caps them at
//!   one day.
//! - Budget: 1,200 requests per 5 minutes per token (Cloudflare's global limit), as a
//!   token bucket shared by every adapter with the same token; 429 honours
//!   `Retry-After` through the shared HTTP layer.

mod access;
mod types;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ProviderError;
use crate::http::{classify_status_as, HttpClient, HttpConfig, HttpResponse, Idempotency, Verdict};
use crate::provider::{Applied, Capabilities, Provider, SetKey, WriteAccess};
use crate::record::{caa_parts, canonical, srv_parts, Change, RecordSet, RecordType, ZoneName};
use crate::shared::{self, limiter, Budget, LimiterKey, ZoneIds};

use types::{Batch, DnsRecord, Envelope, ErrorEnvelope, NewRecord, RecordId, RecordPatch, Zone};

pub const DEFAULT_ENDPOINT: &str = "https://api.cloudflare.com/client/v4";
/// Cloudflare's TTL floor outside Enterprise plans, and its ceiling.
pub const MIN_TTL: u32 = 60;
pub const MAX_TTL: u32 = 86_400;
/// The TTL Cloudflare reads as "automatic" (and gives every proxied record).
pub const AUTO_TTL: u32 = 1;

/// Settings of one Cloudflare adapter.
#[derive(Clone, Debug)]
pub struct CloudflareOptions {
    pub endpoint: String,
    /// The zone's id; looked up by name when absent.
    pub zone_id: Option<String>,
    /// Requests allowed per `budget_window` for the token.
    pub budget: NonZeroU32,
    pub budget_window: Duration,
    /// Records per page when listing.
    pub per_page: u32,
    /// Record operations per batch call.
    pub max_batch_ops: usize,
    pub http: HttpConfig,
}

impl Default for CloudflareOptions {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            zone_id: None,
            budget: NonZeroU32::new(1200).unwrap(),
            budget_window: Duration::from_secs(300),
            per_page: 500,
            max_batch_ops: 200,
            http: HttpConfig::default(),
        }
    }
}

/// What Cloudflare can do, whoever runs it.
pub fn capabilities() -> Capabilities {
    Capabilities {
        // Not PTR: nothing here writes or tests it against Cloudflare.
        record_types: Capabilities::common_record_types()
            .into_iter()
            .filter(|t| *t != RecordType::Ptr)
            .collect(),
        min_ttl: MIN_TTL,
        max_batch: 100,
        // Each batch call is one transaction, but a large apply takes several and the
        // per-record fallback none: a failed apply may have written part of its batch.
        atomic: false,
        compare_and_set: false,
        native_weights: false,
        extra_records: true,
    }
}

pub struct CloudflareProvider {
    name: String,
    endpoint: String,
    token: String,
    http: HttpClient,
    options: CloudflareOptions,
    capabilities: Capabilities,
    zone_ids: ZoneIds,
    /// The sets (name, type, values) read as proxied, by what they held when read: a
    /// desired set whose live set is one of them keeps Cloudflare's "automatic" TTL
    /// (`normalize_for`). Keyed by content, so which read came last does not matter.
    proxied: Mutex<HashSet<(String, RecordType, Vec<String>)>>,
    /// Set once the batch endpoint answered 404/405: every apply then goes per record.
    no_batch: AtomicBool,
}

impl std::fmt::Debug for CloudflareProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareProvider")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("zone_id", &self.options.zone_id)
            .field("api_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The records of one name and type, as read: the set and each value's record.
struct Group {
    set: RecordSet,
    records: Vec<(String, DnsRecord)>,
    proxied: bool,
}

impl CloudflareProvider {
    pub fn new(name: &str, api_token: &str, options: CloudflareOptions) -> Result<Self, ProviderError> {
        let endpoint = options.endpoint.trim_end_matches('/').to_string();
        // Cloudflare counts requests per token.
        let budget = Budget::per_window(options.budget, options.budget_window);
        let limiter = limiter(LimiterKey::new("cloudflare", &endpoint, api_token.trim(), budget));
        let http = HttpClient::new(name, options.http.clone(), limiter)?;
        Ok(Self {
            name: name.to_string(),
            endpoint,
            token: api_token.trim().to_string(),
            http,
            zone_ids: ZoneIds::new(options.zone_id.clone()),
            options,
            capabilities: capabilities(),
            proxied: Mutex::default(),
            no_batch: AtomicBool::new(false),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        zone: &ZoneName,
    ) -> Result<(T, Option<types::ResultInfo>), ProviderError> {
        let url = format!("{}{path}", self.endpoint);
        let idempotency = if method == Method::POST {
            Idempotency::NotIdempotent
        } else {
            Idempotency::Idempotent
        };
        let resp = self
            .http
            .send(
                idempotency,
                |client| {
                    let mut req = client.request(method.clone(), &url).bearer_auth(&self.token);
                    if !query.is_empty() {
                        req = req.query(query);
                    }
                    if let Some(body) = &body {
                        req = req.header("Content-Type", "application/json").body(body.clone());
                    }
                    req
                },
                |resp| self.classify(resp, zone, path),
            )
            .await?;
        let envelope: Envelope<T> = resp.json(&self.name)?;
        let result = envelope.result.ok_or_else(|| ProviderError::Protocol {
            provider: self.name.clone(),
            message: format!("{method} {path}: no result in the answer"),
        })?;
        Ok((result, envelope.result_info))
    }

    fn classify(&self, resp: &HttpResponse, zone: &ZoneName, path: &str) -> Verdict {
        let envelope: ErrorEnvelope = serde_json::from_slice(&resp.body).unwrap_or_default();
        let codes: Vec<i64> = envelope.errors.iter().map(|e| e.code).collect();
        let message = || {
            let text: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| format!("{} ({})", e.message, e.code))
                .collect();
            if text.is_empty() {
                format!("HTTP {}: {}", resp.status, crate::http::snippet(&resp.body))
            } else {
                format!("HTTP {}: {}", resp.status, text.join("; "))
            }
        };
        let provider = self.name.clone();
        let status = resp.status;
        if status.is_success() {
            // A 2xx that says it failed is a failure all the same.
            let failed = serde_json::from_slice::<serde_json::Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("success").and_then(|s| s.as_bool()))
                == Some(false);
            return if failed {
                Verdict::Fail(ProviderError::Rejected {
                    provider,
                    message: message(),
                })
            } else {
                Verdict::Ok
            };
        }
        // 10000 "Authentication error", 9109 "Invalid access token", 6111 "Invalid format
        // for Authorization header", 10001 "Unable to authenticate request", whatever
        // the status.
        if codes.iter().any(|c| matches!(c, 10000 | 10001 | 9109 | 6111)) {
            return Verdict::Fail(ProviderError::Auth {
                provider,
                message: message(),
            });
        }
        // 81044 "Record does not exist", 81053 "An A, AAAA, or CNAME record with that host
        // already exists", 81057 "Record already exists", 81058 "An identical record
        // already exists": someone else changed the zone since it was read.
        if codes.iter().any(|c| matches!(c, 81044 | 81053 | 81057 | 81058)) {
            return Verdict::Fail(ProviderError::Conflict {
                provider,
                message: format!("a record changed concurrently: {}", message()),
            });
        }
        if path.ends_with("/dns_records/batch")
            && (status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED)
        {
            return Verdict::Fail(ProviderError::Unsupported {
                provider,
                message: format!("no batch endpoint: {}", message()),
            });
        }
        if status == StatusCode::NOT_FOUND {
            return Verdict::Fail(ProviderError::ZoneNotFound {
                provider,
                zone: zone.to_string(),
            });
        }
        classify_status_as(&self.name, resp, message)
    }

    /// The zone's id: configured, or the zone of that name the token can see.
    pub async fn zone_id(&self, zone: &ZoneName) -> Result<String, ProviderError> {
        self.zone_ids
            .get(zone, || async {
                let bare = zone.as_str().trim_end_matches('.').to_string();
                let (zones, _): (Vec<Zone>, _) = self
                    .call(Method::GET, "/zones", &[("name", bare.clone())], None, zone)
                    .await?;
                zones
                    .into_iter()
                    .find(|z| z.name.trim_end_matches('.').eq_ignore_ascii_case(&bare))
                    .map(|z| z.id)
                    .ok_or_else(|| ProviderError::ZoneNotFound {
                        provider: self.name.clone(),
                        zone: zone.to_string(),
                    })
            })
            .await
    }

    async fn list(&self, zone: &ZoneName, zone_id: &str) -> Result<Vec<DnsRecord>, ProviderError> {
        let path = format!("/zones/{zone_id}/dns_records");
        let mut all = Vec::new();
        let mut page = 1u32;
        loop {
            let query = [
                ("page", page.to_string()),
                ("per_page", self.options.per_page.to_string()),
            ];
            let (records, info): (Vec<DnsRecord>, _) = self.call(Method::GET, &path, &query, None, zone).await?;
            let got = records.len();
            all.extend(records);
            let total_pages = info.map_or(page, |i| i.total_pages.max(i.page));
            if page >= total_pages || got == 0 {
                break;
            }
            page += 1;
        }
        Ok(all)
    }

    /// Record sets by (name, type), with each value's record.
    fn group(&self, records: Vec<DnsRecord>) -> BTreeMap<(String, RecordType), Group> {
        let mut raw: BTreeMap<(String, RecordType), Vec<(String, DnsRecord)>> = BTreeMap::new();
        for r in records {
            let rtype: RecordType = r.rtype.parse().unwrap_or_else(|never| match never {});
            let value = read_value(&rtype, &r);
            let Ok(name) = crate::record::normalize_name(&r.name) else {
                tracing::warn!(provider = %self.name, name = %r.name, "record not read: invalid name");
                continue;
            };
            match crate::record::normalize_value(&rtype, &value) {
                Ok(v) => raw.entry((name, rtype)).or_default().push((v, r)),
                Err(e) => tracing::warn!(provider = %self.name, name = %r.name, "record not read: {e}"),
            }
        }
        raw.into_iter()
            .map(|((name, rtype), records)| {
                let ttl = records.iter().map(|(_, r)| r.ttl).min().unwrap_or(AUTO_TTL);
                let proxied = records.iter().any(|(_, r)| r.proxied);
                let set = RecordSet::new(&name, rtype.clone(), ttl, records.iter().map(|(v, _)| v))
                    .expect("values were normalised one by one");
                ((name, rtype), Group { set, records, proxied })
            })
            .collect()
    }

    /// The record operations that take `current` to what `change` asks.
    fn operations(&self, change: &Change, current: Option<&Group>) -> Batch {
        let mut batch = Batch::default();
        let deletes_all = |batch: &mut Batch| {
            if let Some(g) = current {
                batch
                    .deletes
                    .extend(g.records.iter().map(|(_, r)| RecordId { id: r.id.clone() }));
            }
        };
        match change {
            Change::Delete { .. } => deletes_all(&mut batch),
            Change::Create { after } | Change::Update { after, .. } => {
                let proxied = current.is_some_and(|g| g.proxied);
                let ttl = if proxied { AUTO_TTL } else { after.ttl };
                let have: HashMap<&str, &DnsRecord> = current
                    .map(|g| g.records.iter().map(|(v, r)| (v.as_str(), r)).collect())
                    .unwrap_or_default();
                for (value, record) in &have {
                    if !after.values.iter().any(|v| v == value) {
                        batch.deletes.push(RecordId { id: record.id.clone() });
                    } else if record.ttl != ttl && !record.proxied {
                        batch.patches.push(RecordPatch {
                            id: Some(record.id.clone()),
                            ttl,
                        });
                    }
                }
                for value in after.values.iter().filter(|v| !have.contains_key(v.as_str())) {
                    batch.posts.push(self.new_record(after, value, ttl, proxied));
                }
            }
        }
        batch.deletes.sort_by(|a, b| a.id.cmp(&b.id));
        batch.patches.sort_by(|a, b| a.id.cmp(&b.id));
        batch
    }

    fn new_record(&self, set: &RecordSet, value: &str, ttl: u32, proxied: bool) -> NewRecord {
        let proxiable = matches!(set.rtype, RecordType::A | RecordType::Aaaa | RecordType::Cname);
        let mut record = NewRecord {
            name: set.name.trim_end_matches('.').to_string(),
            rtype: set.rtype.as_str().to_string(),
            content: None,
            data: None,
            ttl,
            proxied: proxiable.then_some(proxied),
            priority: None,
        };
        // `normalize` has put SRV and CAA values in the shape these take apart; one
        // that does not fit is sent as content for Cloudflare to refuse.
        match (&set.rtype, srv_parts(value), caa_parts(value)) {
            (RecordType::Srv, Some((priority, weight, port, target)), _) => {
                let target = target.trim_end_matches('.');
                record.data =
                    Some(serde_json::json!({"priority": priority, "weight": weight, "port": port, "target": target}));
            }
            (RecordType::Caa, _, Some((flags, tag, caa_value))) => {
                record.data = Some(serde_json::json!({"flags": flags, "tag": tag, "value": caa_value}));
            }
            (RecordType::Mx, ..) => match value.split_once(' ') {
                Some((p, host)) if p.parse::<u16>().is_ok() => {
                    record.priority = p.parse().ok();
                    record.content = Some(host.trim_end_matches('.').to_string());
                }
                _ => record.content = Some(value.to_string()),
            },
            (RecordType::Cname | RecordType::Ns | RecordType::Ptr, ..) => {
                record.content = Some(value.trim_end_matches('.').to_string());
            }
            _ => record.content = Some(value.to_string()),
        }
        record
    }

    async fn send_batch(&self, zone: &ZoneName, zone_id: &str, batch: &Batch) -> Result<(), ProviderError> {
        let body = serde_json::to_vec(batch).expect("a batch serialises");
        let path = format!("/zones/{zone_id}/dns_records/batch");
        let _: (serde_json::Value, _) = self.call(Method::POST, &path, &[], Some(body), zone).await?;
        Ok(())
    }

    /// One call per record operation: posts, then deletes (a CNAME's delete first, as
    /// it cannot share its name), then patches.
    async fn send_one_by_one(
        &self,
        zone: &ZoneName,
        zone_id: &str,
        rtype: &RecordType,
        ops: &Batch,
    ) -> Result<usize, (usize, ProviderError)> {
        let mut done = 0;
        let records = format!("/zones/{zone_id}/dns_records");
        let delete = |id: &RecordId| (Method::DELETE, format!("{records}/{}", id.id), None);
        let post = |r: &NewRecord| {
            (
                Method::POST,
                records.clone(),
                Some(serde_json::to_vec(r).expect("serialises")),
            )
        };
        let mut calls: Vec<(Method, String, Option<Vec<u8>>)> = Vec::new();
        if *rtype == RecordType::Cname {
            calls.extend(ops.deletes.iter().map(delete));
            calls.extend(ops.posts.iter().map(post));
        } else {
            calls.extend(ops.posts.iter().map(post));
            calls.extend(ops.deletes.iter().map(delete));
        }
        for p in &ops.patches {
            let id = p.id.clone().unwrap_or_default();
            let body = serde_json::to_vec(&RecordPatch { id: None, ttl: p.ttl }).expect("serialises");
            calls.push((Method::PATCH, format!("{records}/{id}"), Some(body)));
        }
        for (method, path, body) in calls {
            let result: Result<(serde_json::Value, _), _> = self.call(method, &path, &[], body, zone).await;
            result.map_err(|e| (done, e))?;
            done += 1;
        }
        Ok(done)
    }

    /// Reads the zone as groups, remembering which sets are proxied.
    async fn read(&self, zone: &ZoneName) -> Result<BTreeMap<(String, RecordType), Group>, ProviderError> {
        let zone_id = self.zone_id(zone).await?;
        let groups = self.group(self.list(zone, &zone_id).await?);
        let mut proxied = self.proxied.lock().expect("lock poisoned");
        for g in groups.values() {
            let key = (g.set.name.clone(), g.set.rtype.clone(), g.set.values.clone());
            if g.proxied {
                proxied.insert(key);
            } else {
                proxied.remove(&key);
            }
        }
        Ok(groups)
    }

    /// A set as Cloudflare stores it: "automatic" (1) when proxied or asked for, other
    /// TTLs held within 60 s..1 day; SRV targets absolute and CAA values quoted, as
    /// they are read back.
    fn shape(mut rs: RecordSet, proxied: bool) -> RecordSet {
        rs.ttl = if proxied || rs.ttl == AUTO_TTL {
            AUTO_TTL
        } else {
            rs.ttl.clamp(MIN_TTL, MAX_TTL)
        };
        if matches!(rs.rtype, RecordType::Srv | RecordType::Caa) {
            rs.values = rs.values.iter().map(|v| canonical(&rs.rtype, v)).collect();
            rs.values.sort();
            rs.values.dedup();
        }
        rs
    }
}

#[async_trait]
impl Provider for CloudflareProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The nameservers Cloudflare assigned the zone (Zone Details' `name_servers`): the
    /// apex NS set may name other providers too.
    async fn nameservers(&self, zone: &ZoneName) -> Result<Vec<String>, ProviderError> {
        let zone_id = self.zone_id(zone).await?;
        let (details, _): (Zone, _) = self
            .call(Method::GET, &format!("/zones/{zone_id}"), &[], None, zone)
            .await?;
        shared::nameservers(&self.name, zone, details.name_servers)
    }

    async fn records(&self, zone: &ZoneName) -> Result<Vec<RecordSet>, ProviderError> {
        Ok(self.read(zone).await?.into_values().map(|g| g.set).collect())
    }

    /// TTLs as Cloudflare stores them: a desired TTL of 1 stays "automatic", others are
    /// held within 60 s..1 day. SRV targets are made absolute and CAA values quoted, as
    /// they are read back.
    fn normalize(&self, desired: Vec<RecordSet>) -> Vec<RecordSet> {
        desired.into_iter().map(|rs| Self::shape(rs, false)).collect()
    }

    /// `normalize`, and a set whose live set was read as proxied is "automatic" (1):
    /// Cloudflare keeps that TTL for proxied records whatever is asked.
    fn normalize_for(&self, desired: Vec<RecordSet>, live: &[RecordSet]) -> Vec<RecordSet> {
        let proxied = self.proxied.lock().expect("lock poisoned");
        desired
            .into_iter()
            .map(|rs| {
                let is_proxied = live.iter().any(|l| {
                    l.key() == rs.key() && proxied.contains(&(l.name.clone(), l.rtype.clone(), l.values.clone()))
                });
                Self::shape(rs, is_proxied)
            })
            .collect()
    }

    async fn write_access(&self, zone: &ZoneName, _: &[SetKey]) -> Result<WriteAccess, ProviderError> {
        Ok(access::write_access(zone))
    }

    async fn apply(&self, zone: &ZoneName, changes: &[Change]) -> Result<Applied, ProviderError> {
        if changes.is_empty() {
            return Ok(Applied::default());
        }
        let groups = self.read(zone).await?;
        let zone_id = self.zone_id(zone).await?;
        let proxied = |set: &RecordSet| {
            groups
                .get(&(set.name.clone(), set.rtype.clone()))
                .is_some_and(|g| g.proxied)
        };
        // Sets are written as `normalize_for` shapes them (a plan's are already), so
        // that what is written is what the next read gives.
        let changes: Vec<Change> = changes
            .iter()
            .map(|c| match c {
                Change::Create { after } => Change::Create {
                    after: Self::shape(after.clone(), proxied(after)),
                },
                Change::Update { before, after } => Change::Update {
                    before: before.clone(),
                    after: Self::shape(after.clone(), proxied(after)),
                },
                Change::Delete { .. } => c.clone(),
            })
            .collect();
        // Check every change against the zone before sending anything: `before` counts
        // as read, or as this adapter would have stored it.
        let to_send = shared::pending_by(
            &self.name,
            &changes,
            |subject| {
                groups
                    .get(&(subject.name.clone(), subject.rtype.clone()))
                    .map(|g| &g.set)
            },
            |live, after| live.values == after.values && (live.ttl == after.ttl || proxied(live)),
            |live, before| live == before || *live == Self::shape(before.clone(), false),
        )?;
        let mut pending: Vec<(&Change, Batch)> = Vec::new();
        for change in to_send {
            let subject = change.subject();
            let ops = self.operations(change, groups.get(&(subject.name.clone(), subject.rtype.clone())));
            // Nothing to send (a TTL difference Cloudflare keeps for proxied records).
            if ops.operations() > 0 {
                pending.push((change, ops));
            }
        }
        let already = changes.len() - pending.len();

        if !self.no_batch.load(Ordering::Relaxed) {
            let mut batches: Vec<(usize, Batch)> = Vec::new();
            for (_, ops) in &pending {
                match batches.last_mut() {
                    Some((n, b)) if b.operations() + ops.operations() <= self.options.max_batch_ops => {
                        *n += 1;
                        b.extend(ops.clone());
                    }
                    _ => batches.push((1, ops.clone())),
                }
            }
            let mut applied = 0;
            let mut fallback = false;
            for (i, (n, batch)) in batches.iter().enumerate() {
                match self.send_batch(zone, &zone_id, batch).await {
                    Ok(()) => applied += n,
                    Err(ProviderError::Unsupported { message, .. }) if i == 0 => {
                        tracing::info!(provider = %self.name, "{message}; applying one record at a time from now on");
                        self.no_batch.store(true, Ordering::Relaxed);
                        fallback = true;
                        break;
                    }
                    // The first call applied nothing: its error is the answer as it is.
                    Err(e) => {
                        let how = format!("in {i} batch call(s)");
                        return Err(shared::partially_applied(&self.name, applied, i, &how, e));
                    }
                }
            }
            if !fallback {
                return Ok(Applied {
                    changes: applied + already,
                });
            }
        }

        let mut applied = 0;
        for (change, ops) in &pending {
            if let Err((calls, e)) = self.send_one_by_one(zone, &zone_id, &change.subject().rtype, ops).await {
                let how = format!(
                    "one record at a time (and {calls} of {} record calls of `{change}`)",
                    ops.operations()
                );
                return Err(shared::partially_applied(&self.name, applied, applied + calls, &how, e));
            }
            applied += 1;
        }
        Ok(Applied {
            changes: applied + already,
        })
    }
}

/// The value of a record as dnsteer writes it: SRV and CAA from their components
/// (`data`) where Cloudflare gives them, MX with its priority in front.
fn read_value(rtype: &RecordType, r: &DnsRecord) -> String {
    let data = r.data.as_ref();
    let field = |key: &str| data.and_then(|d| d.get(key));
    let number = |key: &str| field(key).and_then(serde_json::Value::as_f64).map(|n| n as u64);
    let text = |key: &str| field(key).and_then(serde_json::Value::as_str);
    match rtype {
        RecordType::Srv => match (number("priority"), number("weight"), number("port"), text("target")) {
            (Some(p), Some(w), Some(port), Some(target)) => canonical(rtype, &format!("{p} {w} {port} {target}")),
            // Without components: content is "weight port target" beside `priority`,
            // or all four.
            _ => match r.priority {
                Some(p) if r.content.split_whitespace().count() == 3 => canonical(rtype, &format!("{p} {}", r.content)),
                _ => canonical(rtype, &r.content),
            },
        },
        RecordType::Caa => match (number("flags"), text("tag"), text("value")) {
            (Some(flags), Some(tag), Some(value)) => canonical(rtype, &format!("{flags} {tag} \"{value}\"")),
            _ => canonical(rtype, &r.content),
        },
        RecordType::Mx => match r.priority {
            Some(p) => format!("{p} {}", r.content),
            None => r.content.clone(),
        },
        _ => r.content.clone(),
    }
}
