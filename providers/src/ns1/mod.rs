//! NS1 (IBM NS1 Connect), through its REST API v1 with an API key (`X-NSONE-Key`).
//!
//! - Reads: `GET /zones/{zone}` lists the zone's records, one per name and type, each
//!   with its answers flattened (`short_answers`); pages are followed through the
//!   `Link: <...>; rel="next"` header. A record whose summary carries no answers is read
//!   whole with `GET /zones/{zone}/{domain}/{type}`. The zone's `dns_servers` are the
//!   nameservers NS1 serves it from.
//! - Weighted records: NS1 holds one record per name and type, so dnsteer's weighted
//!   sets of one name and type are that record's answers, each marked with its set
//!   (`meta.note: "dnsteer-set=<id>"`) and weighed (`meta.weight`), under the chain
//!   `up`, `weighted_shuffle`, `select_first_n` N=1. Weight 0 is `meta.up: false`
//!   (NS1's weight orders answers, it does not take one out); it reads back as 0.
//! - Writes: one call per record, the batch's changes to it applied together: create
//!   `PUT /zones/{zone}/{domain}/{type}`, update `POST` to the same path (what is
//!   given replaced, the rest kept), delete `DELETE` once no set is left. NS1 has no
//!   preconditions and no batches, so before writing the adapter re-reads every record
//!   the batch names (`GET` on each), skips changes already live, and refuses the whole
//!   batch (`Conflict`, nothing written) when one set is no longer the change's
//!   `before`. The window is one round trip per
//!   record; the daemon pair's lease is what keeps two writers apart. A write that
//!   fails after others went through is `PartiallyApplied`.
//! - Rate limits: NS1 counts requests in token buckets and reports each response's
//!   bucket in `X-Ratelimit-Limit`/`-Remaining`/`-Period`; the shared HTTP layer spaces
//!   requests at the refill rate once a bucket is down to a tenth, and a 429 waits for
//!   one token (or `Retry-After`, where given).
//! - Rights: `write_access` reads the key's own entry of `GET /account/apikeys`
//!   (`permissions.dns`: `manage_zones`, the zone allow/deny lists).

mod answers;
mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::error::ProviderError;
use crate::http::{
    classify_status, retry_after, snippet, BucketHeaders, BucketState, HeaderPacer, HttpClient, HttpConfig,
    HttpResponse, Verdict,
};
use crate::provider::{still_applies, Applied, Capabilities, Provider, SetKey, WriteAccess};
use crate::record::{normalize_name, Change, RecordSet, RecordType, ZoneName};

use answers::*;
use types::{Answer, ApiError, ApiKey, Record, RecordBody, Zone};

pub const DEFAULT_ENDPOINT: &str = "https://api.nsone.net/v1";

/// NS1's rate-limit headers.
pub const RATE_LIMIT_HEADERS: BucketHeaders = BucketHeaders {
    limit: "x-ratelimit-limit",
    remaining: "x-ratelimit-remaining",
    period: "x-ratelimit-period",
};

/// At most this many pages of one zone: a bound on a `Link` chain that never ends.
const MAX_PAGES: usize = 10_000;

/// Settings of one NS1 adapter.
#[derive(Clone, Debug)]
pub struct Ns1Options {
    /// The API base, `/v1` included.
    pub endpoint: String,
    pub http: HttpConfig,
}

impl Default for Ns1Options {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            http: HttpConfig::default(),
        }
    }
}

/// One pacer per (endpoint, key): NS1 counts requests per key, whichever adapter sends them.
fn shared_pacer(endpoint: &str, key: &str) -> Arc<HeaderPacer> {
    type ByKey = HashMap<(String, String), Arc<HeaderPacer>>;
    static PACERS: OnceLock<Mutex<ByKey>> = OnceLock::new();
    let mut map = PACERS.get_or_init(Default::default).lock().expect("lock poisoned");
    map.entry((endpoint.to_string(), key.to_string()))
        .or_insert_with(|| Arc::new(HeaderPacer::new(RATE_LIMIT_HEADERS)))
        .clone()
}

pub struct Ns1Provider {
    name: String,
    endpoint: String,
    api_key: String,
    http: HttpClient,
    capabilities: Capabilities,
}

impl std::fmt::Debug for Ns1Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ns1Provider")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What NS1 can do, whoever runs it.
pub fn capabilities() -> Capabilities {
    Capabilities {
        record_types: Capabilities::common_record_types(),
        min_ttl: 1,
        // Two requests a change (the re-read and the write), each paced by NS1's
        // buckets: a bound that keeps one apply within a few minutes at worst.
        max_batch: 100,
        atomic: false,
        compare_and_set: false,
        // The sets of a weighted record are one NS1 record's answers, weighed by its
        // filter chain (weighted_shuffle).
        native_weights: true,
        extra_records: true,
    }
}

impl Ns1Provider {
    pub fn new(name: &str, api_key: &str, options: Ns1Options) -> Result<Self, ProviderError> {
        let endpoint = options.endpoint.trim_end_matches('/').to_string();
        let api_key = api_key.trim().to_string();
        let http = HttpClient::with_own_limiter(name, options.http)?.with_pacer(shared_pacer(&endpoint, &api_key));
        Ok(Self {
            name: name.to_string(),
            endpoint,
            api_key,
            http,
            capabilities: capabilities(),
        })
    }

    /// Sends one request and returns the reply, a 404 "record not found" included (the
    /// caller knows what an absent record means there).
    async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        zone: &ZoneName,
    ) -> Result<HttpResponse, ProviderError> {
        self.http
            .send_keyed(method, url, ("X-NSONE-Key", &self.api_key), body, |resp| {
                self.classify(resp, zone)
            })
            .await
    }

    fn classify(&self, resp: &HttpResponse, zone: &ZoneName) -> Verdict {
        let message = error_message(resp);
        let provider = self.name.clone();
        let status = resp.status;
        if status.is_success() || is_record_not_found(resp) {
            return Verdict::Ok;
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let after = retry_after(&resp.headers).or_else(|| one_token(&resp.headers));
            return Verdict::Retry {
                after,
                error: ProviderError::RateLimited {
                    provider,
                    retry_after: after,
                },
            };
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Verdict::Fail(ProviderError::Auth { provider, message });
        }
        if status == StatusCode::NOT_FOUND {
            return Verdict::Fail(ProviderError::ZoneNotFound {
                provider,
                zone: zone.to_string(),
            });
        }
        // PUT over a record that exists: someone created it since the re-read.
        if message.contains("record already exists") {
            return Verdict::Fail(ProviderError::Conflict {
                provider,
                message: format!("a record was created concurrently: {message}"),
            });
        }
        if status.is_client_error() && status != StatusCode::REQUEST_TIMEOUT {
            return Verdict::Fail(ProviderError::Rejected { provider, message });
        }
        match classify_status(&self.name, resp) {
            Verdict::Retry { after, .. } => Verdict::Retry {
                after,
                error: ProviderError::Transient {
                    provider: self.name.clone(),
                    message,
                },
            },
            other => other,
        }
    }

    fn zone_url(&self, zone: &ZoneName) -> String {
        format!("{}/zones/{}", self.endpoint, bare(zone.as_str()))
    }

    fn record_url(&self, zone: &ZoneName, name: &str, rtype: &RecordType) -> String {
        format!("{}/{}/{}", self.zone_url(zone), bare(name), rtype.as_str())
    }

    /// The zone, every page of its records gathered.
    async fn zone(&self, zone: &ZoneName) -> Result<Zone, ProviderError> {
        let mut url = self.zone_url(zone);
        let mut whole: Option<Zone> = None;
        for _ in 0..MAX_PAGES {
            let resp = self.request(Method::GET, &url, None, zone).await?;
            if is_record_not_found(&resp) {
                return Err(ProviderError::ZoneNotFound {
                    provider: self.name.clone(),
                    zone: zone.to_string(),
                });
            }
            let page: Zone = resp.json(&self.name)?;
            match &mut whole {
                None => whole = Some(page),
                Some(z) => z.records.extend(page.records),
            }
            match next_page(&resp.headers) {
                Some(next) => url = self.same_origin(&next)?,
                None => return Ok(whole.expect("a page was read")),
            }
        }
        Err(ProviderError::Protocol {
            provider: self.name.clone(),
            message: format!("zone {zone}: more than {MAX_PAGES} pages"),
        })
    }

    /// A next-page link, refused unless it points at the configured API: the key goes
    /// with every request.
    fn same_origin(&self, link: &str) -> Result<String, ProviderError> {
        if origin(link) == origin(&self.endpoint) {
            Ok(link.to_string())
        } else {
            Err(ProviderError::Protocol {
                provider: self.name.clone(),
                message: format!("a next-page link outside the API: {link}"),
            })
        }
    }

    /// One record as it is live now, or `None` when NS1 holds no such record.
    async fn read_record(
        &self,
        zone: &ZoneName,
        name: &str,
        rtype: &RecordType,
    ) -> Result<Option<Record>, ProviderError> {
        let resp = self
            .request(Method::GET, &self.record_url(zone, name, rtype), None, zone)
            .await?;
        if is_record_not_found(&resp) {
            return Ok(None);
        }
        resp.json(&self.name).map(Some)
    }

    /// The sets of one record as it is live now (see `record_sets`); none when NS1
    /// holds no such record.
    async fn read_sets(
        &self,
        zone: &ZoneName,
        name: &str,
        rtype: &RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        let Some(record) = self.read_record(zone, name, rtype).await? else {
            return Ok(Vec::new());
        };
        self.record_sets(&record).map_err(|message| ProviderError::Protocol {
            provider: self.name.clone(),
            message,
        })
    }

    /// A record's answers grouped by the dnsteer set they are marked with. Answers
    /// without a marker make one plain set; a record mixing both is one dnsteer did not
    /// write, and is refused rather than half read.
    fn record_sets(&self, record: &Record) -> Result<Vec<RecordSet>, String> {
        let rtype: RecordType = record.rtype.parse().unwrap_or_else(|never| match never {});
        let mut plain = Vec::new();
        // set id -> (weight, values), in order of first appearance.
        let mut weighted: Vec<(String, u32, Vec<String>)> = Vec::new();
        for a in &record.answers {
            let value = read_value(&rtype, &a.answer.iter().map(field_text).collect::<Vec<_>>());
            match set_marker(&a.meta) {
                None => plain.push(value),
                Some(id) => {
                    let weight = answer_weight(&a.meta);
                    match weighted.iter_mut().find(|(i, _, _)| *i == id) {
                        Some((_, w, values)) => {
                            if *w != weight {
                                return Err(format!(
                                    "record {} {}: set {id} has answers of different weights",
                                    record.domain, record.rtype
                                ));
                            }
                            values.push(value);
                        }
                        None => weighted.push((id, weight, vec![value])),
                    }
                }
            }
        }
        if weighted.is_empty() {
            return Ok(self
                .to_set(&record.domain, &record.rtype, record.ttl, plain)?
                .into_iter()
                .collect());
        }
        if !plain.is_empty() {
            return Err(format!(
                "record {} {}: answers with and without a dnsteer set marker",
                record.domain, record.rtype
            ));
        }
        let mut sets = Vec::with_capacity(weighted.len());
        for (id, weight, values) in weighted {
            sets.extend(
                self.to_set(&record.domain, &record.rtype, record.ttl, values)?
                    .map(|set| set.weighted(&id, weight)),
            );
        }
        Ok(sets)
    }

    fn to_set(&self, domain: &str, rtype: &str, ttl: u32, values: Vec<String>) -> Result<Option<RecordSet>, String> {
        if values.is_empty() {
            return Ok(None);
        }
        let rtype: RecordType = rtype.parse().unwrap_or_else(|never| match never {});
        RecordSet::new(domain, rtype.clone(), ttl, values)
            .map(|set| Some(self.canonical(set)))
            .map_err(|e| format!("record {domain} {rtype}: {e}"))
    }

    /// SRV targets absolute and CAA values quoted, as `normalize` makes desired sets.
    fn canonical(&self, mut set: RecordSet) -> RecordSet {
        if matches!(set.rtype, RecordType::Srv | RecordType::Caa) {
            set.values = set.values.iter().map(|v| canonical(&set.rtype, v)).collect();
            set.values.sort();
            set.values.dedup();
        }
        set
    }

    /// Writes one record whole: `live` as read, `after` the sets it is to hold (all of
    /// one name and type). `subject` names it in errors.
    async fn write_record(
        &self,
        zone: &ZoneName,
        subject: &RecordSet,
        live: &[RecordSet],
        after: &[RecordSet],
    ) -> Result<(), ProviderError> {
        let url = self.record_url(zone, &subject.name, &subject.rtype);
        let (method, body) = if after.is_empty() {
            (Method::DELETE, None)
        } else {
            let was_weighted = live.iter().any(|s| s.set_id.is_some());
            let method = if live.is_empty() { Method::PUT } else { Method::POST };
            (method, Some(self.body(zone, after, was_weighted)?))
        };
        let resp = self.request(method.clone(), &url, body, zone).await?;
        if !is_record_not_found(&resp) || method == Method::DELETE {
            return Ok(());
        }
        Err(ProviderError::Conflict {
            provider: self.name.clone(),
            message: format!(
                "{} {} was deleted concurrently ({method} answered: {})",
                subject.name,
                subject.rtype,
                error_message(&resp)
            ),
        })
    }

    /// One record holding `sets`: a weighted record's answers carry their set's marker
    /// and weight (an unhealthy set is `up: false`), under the weighted filter chain.
    fn body(&self, zone: &ZoneName, sets: &[RecordSet], was_weighted: bool) -> Result<Vec<u8>, ProviderError> {
        let first = &sets[0];
        let weighted = first.set_id.is_some();
        if sets.iter().any(|s| s.set_id.is_some() != weighted) || (!weighted && sets.len() > 1) {
            return Err(ProviderError::Rejected {
                provider: self.name.clone(),
                message: format!(
                    "{} {}: a weighted set and a plain one cannot share an NS1 record",
                    first.name, first.rtype
                ),
            });
        }
        let mut answers = Vec::new();
        for set in sets {
            for v in &set.values {
                answers.push(Answer {
                    answer: answer_fields(&set.rtype, v),
                    meta: set
                        .set_id
                        .as_deref()
                        .map(|id| weight_meta(id, set.weight.unwrap_or(0)))
                        .unwrap_or_default(),
                });
            }
        }
        let filters = if weighted {
            Some(weighted_filter_chain())
        } else if was_weighted {
            // No longer weighted: the chain would only shuffle one set's answers and
            // pick one of them.
            Some(serde_json::json!([]))
        } else {
            None
        };
        let body = RecordBody {
            zone: bare(zone.as_str()),
            domain: bare(&first.name),
            rtype: first.rtype.as_str(),
            ttl: sets.iter().map(|s| s.ttl).max().unwrap_or(first.ttl),
            answers,
            filters,
        };
        Ok(serde_json::to_vec(&body).expect("a record body serialises"))
    }
}

#[async_trait]
impl Provider for Ns1Provider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn records(&self, zone: &ZoneName) -> Result<Vec<RecordSet>, ProviderError> {
        let details = self.zone(zone).await?;
        let mut sets = Vec::with_capacity(details.records.len());
        for r in details.records {
            let rtype: RecordType = r.rtype.parse().unwrap_or_else(|never| match never {});
            let set = if r.short_answers.is_empty() || r.tier > 1 {
                // A summary without answers (a linked record, say), or one whose answers
                // carry metadata (a weighted record): the record says more.
                let Ok(name) = normalize_name(&r.domain) else {
                    tracing::warn!(provider = %self.name, "skipping record {} {}: not a name dnsteer can write", r.domain, r.rtype);
                    continue;
                };
                let Some(record) = self.read_record(zone, &name, &rtype).await? else {
                    continue;
                };
                match self.record_sets(&record) {
                    Ok(sets) => sets,
                    // Not a record dnsteer wrote: left alone, as below.
                    Err(e) => {
                        tracing::warn!(provider = %self.name, "skipping {e}");
                        continue;
                    }
                }
            } else {
                let values = r.short_answers.iter().map(|a| read_short(&rtype, a)).collect();
                match self.to_set(&r.domain, &r.rtype, r.ttl, values) {
                    Ok(set) => set.into_iter().collect(),
                    // A record dnsteer cannot model is not one it manages: skip it rather
                    // than lose the zone.
                    Err(e) => {
                        tracing::warn!(provider = %self.name, "skipping {e}");
                        continue;
                    }
                }
            };
            sets.extend(set);
        }
        sets.sort();
        Ok(sets)
    }

    /// The nameservers NS1 assigned the zone (`dns_servers`): the apex NS set may name
    /// other providers too.
    async fn nameservers(&self, zone: &ZoneName) -> Result<Vec<String>, ProviderError> {
        let details = self.zone(zone).await?;
        crate::shared::nameservers(&self.name, zone, details.dns_servers)
    }

    /// Reads the key's own entry of the account's key list: its `permissions.dns`
    /// says whether it may manage zones, and which.
    async fn write_access(&self, zone: &ZoneName, _steered: &[SetKey]) -> Result<WriteAccess, ProviderError> {
        let url = format!("{}/account/apikeys", self.endpoint);
        // A key that may not read the key list is refused with 403: not a bad key (401),
        // only a question it may not ask. An API without the list (404) cannot tell either.
        let resp = self
            .http
            .send_keyed(
                Method::GET,
                &url,
                ("X-NSONE-Key", &self.api_key),
                None,
                |resp| match resp.status {
                    StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => Verdict::Ok,
                    _ => self.classify(resp, zone),
                },
            )
            .await?;
        if resp.status == StatusCode::FORBIDDEN {
            return Ok(WriteAccess::Unverifiable(format!(
                "NS1 shows a key its rights only through the key list (GET /account/apikeys), which this key may \
                 not read ({}): that takes the account permission \"manage API keys\"",
                error_message(&resp)
            )));
        }
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(WriteAccess::Unverifiable(format!(
                "this API has no key list to read the key's rights from ({})",
                error_message(&resp)
            )));
        }
        let keys: Vec<ApiKey> = resp.json(&self.name)?;
        let Some(key) = keys
            .iter()
            .find(|k| k.key == self.api_key || k.secrets.iter().any(|s| s.secret == self.api_key))
        else {
            return Ok(WriteAccess::Unverifiable(
                "the key is not in the account's key list (a user's own key?), so its rights cannot be read".into(),
            ));
        };
        if !key.teams.is_empty() {
            return Ok(WriteAccess::Unverifiable(format!(
                "key {:?} takes its rights from team(s) {}, which override its own",
                key.name,
                key.teams.join(", ")
            )));
        }
        let dns = &key.permissions.dns;
        let zone_bare = bare(zone.as_str()).to_ascii_lowercase();
        let listed = |list: &[String]| list.iter().any(|z| bare(z).eq_ignore_ascii_case(&zone_bare));
        let who = format!("key {:?}", key.name);
        Ok(if !dns.manage_zones {
            WriteAccess::Denied(format!("{who} lacks the DNS permission \"manage zones\""))
        } else if !dns.view_zones {
            // Every write is checked against a read of the records it changes.
            WriteAccess::Denied(format!(
                "{who} lacks the DNS permission \"view zones\" (writes re-read first)"
            ))
        } else if dns.zones_allow_by_default && listed(&dns.zones_deny) {
            WriteAccess::Denied(format!("{who} has zone {zone_bare} in its zones_deny list"))
        } else if !dns.zones_allow_by_default && !listed(&dns.zones_allow) {
            WriteAccess::Denied(format!(
                "{who} may manage only the zones it allows, and zone {zone_bare} is not among them"
            ))
        } else {
            WriteAccess::Granted(format!(
                "{who} has \"manage zones\" for {zone_bare} (read from GET /account/apikeys)"
            ))
        })
    }

    /// TTLs raised to NS1's floor; SRV targets absolute and CAA values quoted, as they
    /// are read back.
    fn normalize(&self, desired: Vec<RecordSet>) -> Vec<RecordSet> {
        let floor = self.capabilities.min_ttl;
        desired
            .into_iter()
            .map(|mut rs| {
                rs.ttl = rs.ttl.max(floor);
                self.canonical(rs)
            })
            .collect()
    }

    async fn apply(&self, zone: &ZoneName, changes: &[Change]) -> Result<Applied, ProviderError> {
        if changes.is_empty() {
            return Ok(Applied::default());
        }
        for change in changes {
            let subject = change.subject();
            if !self.capabilities.record_types.contains(&subject.rtype) {
                return Err(ProviderError::Rejected {
                    provider: self.name.clone(),
                    message: format!(
                        "{} {}: NS1 records of this type are not written",
                        subject.name, subject.rtype
                    ),
                });
            }
            if !zone.contains(&subject.name) {
                return Err(ProviderError::Rejected {
                    provider: self.name.clone(),
                    message: format!("{} is outside zone {zone}", subject.name),
                });
            }
        }
        // One NS1 record per name and type holds every set of a weighted record: the
        // changes are grouped by record, each record re-read before anything is written.
        let mut groups: Vec<(&str, &RecordType, Vec<usize>)> = Vec::new();
        for (i, change) in changes.iter().enumerate() {
            let subject = change.subject();
            match groups
                .iter_mut()
                .find(|(n, t, _)| *n == subject.name.as_str() && **t == subject.rtype)
            {
                Some((_, _, members)) => members.push(i),
                None => groups.push((&subject.name, &subject.rtype, vec![i])),
            }
        }
        let mut writes = Vec::new();
        for (name, rtype, members) in &groups {
            let live = self.read_sets(zone, name, rtype).await?;
            let mut after = live.clone();
            let mut pending = false;
            for &i in members {
                let change = &changes[i];
                let key = change.subject().set_id.as_deref();
                let found = live.iter().find(|s| s.set_id.as_deref() == key);
                if !still_applies(&self.name, change, found, |s| self.normalize(vec![s.clone()]).remove(0))? {
                    continue;
                }
                pending = true;
                after.retain(|s| s.set_id.as_deref() != key);
                match change {
                    Change::Create { after: set } | Change::Update { after: set, .. } => {
                        after.push(self.normalize(vec![set.clone()]).remove(0));
                    }
                    Change::Delete { .. } => {}
                }
            }
            if pending {
                after.sort();
                writes.push((members, live, after));
            }
        }
        let mut done = vec![false; changes.len()];
        for (written, (members, live, after)) in writes.iter().enumerate() {
            let subject = changes[members[0]].subject();
            if let Err(e) = self.write_record(zone, subject, live, after).await {
                if written == 0 {
                    return Err(e);
                }
                // The changes before the first of a record not written are live.
                let applied = done.iter().take_while(|d| **d).count();
                return Err(ProviderError::PartiallyApplied {
                    provider: self.name.clone(),
                    applied,
                    message: format!(
                        "{written} records written, then {} {} failed: {e}",
                        subject.name, subject.rtype
                    ),
                });
            }
            for &i in *members {
                done[i] = true;
            }
        }
        Ok(Applied { changes: changes.len() })
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_page(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let next = params
            .split(';')
            .any(|p| p.trim().replace(['"', '\'', ' '], "") == "rel=next");
        next.then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

fn is_record_not_found(resp: &HttpResponse) -> bool {
    resp.status == StatusCode::NOT_FOUND && error_message(resp).contains("record not found")
}

/// NS1's `{"message": ...}`, or the start of the body.
fn error_message(resp: &HttpResponse) -> String {
    match serde_json::from_slice::<ApiError>(&resp.body) {
        Ok(e) if !e.message.is_empty() => format!("HTTP {}: {}", resp.status, e.message),
        _ => format!("HTTP {}: {}", resp.status, snippet(&resp.body)),
    }
}

/// The time the bucket a 429 reports takes to give one token.
fn one_token(headers: &HeaderMap) -> Option<Duration> {
    BucketState::read(&RATE_LIMIT_HEADERS, headers).map(|b| b.refill().max(Duration::from_millis(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_answer_fields_and_read_back() {
        let cases = [
            (RecordType::A, "192.0.2.1", serde_json::json!(["192.0.2.1"])),
            (
                RecordType::Mx,
                "10 mx1.example.test.",
                serde_json::json!([10, "mx1.example.test"]),
            ),
            (
                RecordType::Srv,
                "10 5 5060 sip.example.test.",
                serde_json::json!([10, 5, 5060, "sip.example.test"]),
            ),
            (
                RecordType::Caa,
                "0 issue \"letsencrypt.org\"",
                serde_json::json!([0, "issue", "letsencrypt.org"]),
            ),
            (
                RecordType::Txt,
                "\"keep \\\"me\\\"\"",
                serde_json::json!(["keep \"me\""]),
            ),
        ];
        for (rtype, value, fields) in cases {
            let written = answer_fields(&rtype, value);
            assert_eq!(serde_json::Value::from(written.clone()), fields, "{rtype} {value}");
            let read = read_value(&rtype, &written.iter().map(field_text).collect::<Vec<_>>());
            let read = canonical(&rtype, &read);
            let want = RecordSet::new("x.example.test", rtype.clone(), 60, [value])
                .unwrap()
                .values;
            let got = RecordSet::new("x.example.test", rtype.clone(), 60, [read])
                .unwrap()
                .values;
            assert_eq!(
                got.iter().map(|v| canonical(&rtype, v)).collect::<Vec<_>>(),
                want.iter().map(|v| canonical(&rtype, v)).collect::<Vec<_>>()
            );
        }
        // Short answers split where the type has several fields, and only there.
        assert_eq!(read_short(&RecordType::Txt, "two words"), "\"two words\"");
        assert_eq!(read_short(&RecordType::Caa, "0 issuewild a b"), "0 issuewild \"a b\"");
    }

    #[test]
    fn set_markers_and_weights_read_back_as_written() {
        for weight in [0, 1, 3, 100] {
            let meta = weight_meta("us-east", weight);
            assert_eq!(set_marker(&meta).as_deref(), Some("us-east"));
            assert_eq!(answer_weight(&meta), weight, "{meta:?}");
        }
        // Down wins over a weight someone left on the answer; no weight is NS1's 1.
        let meta: serde_json::Map<_, _> =
            serde_json::from_value(serde_json::json!({"up": false, "weight": 5})).unwrap();
        assert_eq!(answer_weight(&meta), 0);
        assert_eq!(answer_weight(&serde_json::Map::new()), 1);
        let other: serde_json::Map<_, _> = serde_json::from_value(serde_json::json!({"note": "primary"})).unwrap();
        assert_eq!(set_marker(&other), None);
    }

    #[test]
    fn next_page_links_and_origins() {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::LINK,
            "<https://api.nsone.net/v1/zones/a.test?after=x>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_page(&headers).as_deref(),
            Some("https://api.nsone.net/v1/zones/a.test?after=x")
        );
        assert_eq!(origin("https://api.nsone.net/v1"), "https://api.nsone.net");
        assert_eq!(origin("http://127.0.0.1:99"), "http://127.0.0.1:99");
        assert!(next_page(&HeaderMap::new()).is_none());
    }
}
