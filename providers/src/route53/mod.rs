//! Amazon Route 53 hosted zones, through the Route 53 REST API (2013-04-01) signed with
//! SigV4 (`sigv4.rs`: the `aws-sigv4` crate with a thin reqwest client, not the SDK).
//!
//! - Reads: ListResourceRecordSets, every page. A weighted record set (`SetIdentifier`
//!   and `Weight`) is read as a set with `set_id` and `weight`: one set of a weighted
//!   record, which dnsteer writes too. An alias record set is read under its own name
//!   and type with one value naming its target, `ALIAS <DNSName> (<HostedZoneId>)`
//!   (`types::Alias`), so a plan shows it as what a steered name holds now; it is only
//!   ever deleted (with its AliasTarget exactly as read, when the configuration puts a
//!   plain set there), never written as a plain value nor created. Record sets with
//!   another routing policy (latency, geolocation, failover, multivalue) are exposed
//!   under their own types (`A[set-id]`), so a plan never takes one for a set it
//!   steers; the adapter refuses to write those types.
//! - Writes: ChangeResourceRecordSets. Create = CREATE; Delete = DELETE with the exact
//!   values (and SetIdentifier and Weight) read; Update = DELETE of the exact `before`
//!   and CREATE of `after`, in the same batch. Route 53 refuses a whole batch whose
//!   DELETE does not match the live set or whose CREATE meets an existing set: that is
//!   the compare-and-set, reported as `Conflict`. Batches are split to Route 53's limits (1,000 ResourceRecord
//!   elements, 32,000 characters of values per request); each request is atomic.
//!   The one exception: the apex NS set is replaced with an UPSERT (Route 53 will not
//!   let the NS set it made with the zone be deleted), checked against a fresh read
//!   just before instead.
//! - Then GetChange until INSYNC (bounded by `change_timeout`).
//! - Every request, polls included, spends the account's token bucket (default 5
//!   requests/s, Route 53's documented per-account limit); Throttling and
//!   PriorRequestNotComplete are retried with jitter by the shared HTTP layer.
//! - Fencing: `apply_fenced` carries the daemon pair's fence record (a TXT record at
//!   `_dnsteer-fence.<zone>` holding the leader's term) in every request of the batch,
//!   as a compare-and-set on the term: a leader whose term was superseded writes
//!   nothing.

mod access;
mod client;
pub mod sigv4;
mod types;

use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::ProviderError;
use crate::fence::Fence;
use crate::http::{HttpClient, HttpConfig};
use crate::provider::{Applied, Capabilities, Provider, SetKey, WriteAccess};
use crate::record::{normalize_name, Change, RecordSet, RecordType, ZoneName};
use crate::shared::{self, limiter, Budget, LimiterKey, Poll, ZoneIds};

pub(crate) use client::{classify, error_code};
use client::{PageStart, Route53Client};
pub use sigv4::AwsCredentials;
use types::{unescape_name, Alias, ResourceRecordSet, WireChange};

/// Route 53's public endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://route53.amazonaws.com";
/// Route 53's documented limit: five requests per second per AWS account.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 5;
/// ResourceRecord elements per ChangeResourceRecordSets request.
pub const MAX_RECORDS_PER_REQUEST: usize = 1000;
/// Characters of Value elements per ChangeResourceRecordSets request.
pub const MAX_VALUE_CHARS_PER_REQUEST: usize = 32_000;

/// Settings of one Route 53 adapter.
#[derive(Clone, Debug)]
pub struct Route53Options {
    /// API endpoint (an emulator's URL in tests).
    pub endpoint: String,
    /// The hosted zone to write; looked up by the zone's name when absent.
    pub hosted_zone_id: Option<String>,
    /// The account's request budget, shared by every adapter with the same access key.
    pub requests_per_second: NonZeroU32,
    /// How long `apply` waits for a change to be INSYNC.
    pub change_timeout: Duration,
    /// Pause between GetChange polls.
    pub poll_interval: Duration,
    /// `maxitems` per ListResourceRecordSets page (Route 53's default, 300, when absent).
    pub page_size: Option<u32>,
    /// Timeouts and retries of each request.
    pub http: HttpConfig,
}

impl Default for Route53Options {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            hosted_zone_id: None,
            requests_per_second: NonZeroU32::new(DEFAULT_REQUESTS_PER_SECOND).unwrap(),
            change_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(1500),
            page_size: None,
            http: HttpConfig::default(),
        }
    }
}

/// What Route 53 can do, whoever runs it.
pub fn capabilities() -> Capabilities {
    Capabilities {
        record_types: Capabilities::common_record_types(),
        min_ttl: 0,
        max_batch: 1000,
        atomic: true,
        compare_and_set: true,
        native_weights: true,
        extra_records: true,
    }
}

/// The Route 53 adapter.
pub struct Route53Provider {
    name: String,
    client: Route53Client,
    options: Route53Options,
    capabilities: Capabilities,
    /// Hosted zone ids by zone name: configured, or looked up once.
    zone_ids: ZoneIds,
}

impl std::fmt::Debug for Route53Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route53Provider")
            .field("name", &self.name)
            .field("endpoint", &self.options.endpoint)
            .field("hosted_zone_id", &self.zone_ids.configured())
            .field("change_timeout", &self.options.change_timeout)
            .field("poll_interval", &self.options.poll_interval)
            .finish_non_exhaustive()
    }
}

/// The account's token bucket for `kind` (an AWS API) at `endpoint`: AWS limits
/// requests per account, so adapters sharing credentials share the budget. A burst of
/// one: never more than `per_second` requests in any one-second window.
pub(crate) fn account_limiter(
    kind: &'static str,
    endpoint: &str,
    access_key_id: &str,
    per_second: NonZeroU32,
) -> crate::http::AccountLimiter {
    let budget = Budget::per_second(per_second, NonZeroU32::MIN);
    limiter(LimiterKey::new(kind, endpoint, access_key_id, budget))
}

impl Route53Provider {
    pub fn new(name: &str, credentials: AwsCredentials, options: Route53Options) -> Result<Self, ProviderError> {
        let limiter = account_limiter(
            "route53",
            &options.endpoint,
            credentials.access_key_id(),
            options.requests_per_second,
        );
        let http = HttpClient::new(name, options.http.clone(), limiter)?;
        let client = Route53Client::new(
            name,
            &options.endpoint,
            sigv4::Signer::new(credentials, "route53"),
            http,
        );
        Ok(Self {
            name: name.to_string(),
            client,
            zone_ids: ZoneIds::new(options.hosted_zone_id.as_deref().map(bare_zone_id)),
            options,
            capabilities: capabilities(),
        })
    }

    /// The hosted zone id of `zone`: the configured one, or the only public hosted zone
    /// of that name (the only one at all when every match is private).
    pub async fn hosted_zone_id(&self, zone: &ZoneName) -> Result<String, ProviderError> {
        self.zone_ids
            .get(zone, || async {
                let zones = self.client.hosted_zones_named(zone.as_str()).await?;
                let public: Vec<_> = zones
                    .iter()
                    .filter(|z| !z.config.as_ref().is_some_and(|c| c.private_zone))
                    .collect();
                let chosen = match (public.as_slice(), zones.as_slice()) {
                    ([one], _) => one.id.clone(),
                    ([], [one]) => one.id.clone(),
                    ([], []) => {
                        return Err(ProviderError::ZoneNotFound {
                            provider: self.name.clone(),
                            zone: zone.to_string(),
                        })
                    }
                    _ => {
                        return Err(ProviderError::Rejected {
                            provider: self.name.clone(),
                            message: format!("{} hosted zones are named {zone}: set hosted_zone_id", zones.len()),
                        })
                    }
                };
                Ok(bare_zone_id(&chosen))
            })
            .await
    }

    async fn apply_inner(
        &self,
        zone: &ZoneName,
        changes: &[Change],
        fence: Option<Fence>,
    ) -> Result<Applied, ProviderError> {
        if changes.is_empty() && fence.is_none() {
            return Ok(Applied::default());
        }
        let zone_id = self.hosted_zone_id(zone).await?;
        let wire: Vec<Vec<WireChange>> = changes.iter().map(|c| self.wire(zone, c)).collect::<Result<_, _>>()?;
        self.check_upserts(zone, changes).await?;
        let batches = self.split(&wire, fence.as_ref().map(fence_reserve))?;
        let mut applied = 0;
        let mut change_ids = Vec::new();
        let mut fence_now = fence.clone();
        for (i, batch) in batches.iter().enumerate() {
            let mut request: Vec<WireChange> = Vec::new();
            if let Some(f) = &fence_now {
                request.extend(self.wire(zone, &f.change())?);
            }
            request.extend(batch.iter().flat_map(|&k| wire[k].iter().cloned()));
            match self.client.change(&zone_id, &request).await {
                Ok(info) => change_ids.push(info.id),
                Err(e @ ProviderError::Conflict { .. }) => {
                    // A retried request (or a repeated apply) whose first copy landed is
                    // refused as a conflict: if the batch, fence included, is live as
                    // asked, it is done. A fence moved by another leader is not ours.
                    let fence_change = fence_now.as_ref().map(Fence::change);
                    let mine: Vec<&Change> = batch
                        .iter()
                        .map(|&k| &changes[k])
                        .chain(fence_change.as_ref())
                        .collect();
                    if shared::all_done(&self.records(zone).await?, mine) {
                        tracing::debug!(provider = %self.name, "change batch already live");
                    } else {
                        return Err(self.partial(e, applied, i));
                    }
                }
                Err(e) => return Err(self.partial(e, applied, i)),
            }
            fence_now = fence_now.as_ref().map(Fence::next);
            applied += batch.len();
        }
        // Every request was accepted: a slow INSYNC is reported as it is (the records
        // are written), not as a partial apply.
        self.wait_in_sync(&change_ids).await?;
        Ok(Applied { changes: changes.len() })
    }

    /// An error after `done_batches` requests went through: the earlier requests are
    /// applied and stay so.
    fn partial(&self, error: ProviderError, applied: usize, done_batches: usize) -> ProviderError {
        let how = format!("in {done_batches} earlier atomic request(s)");
        shared::partially_applied(&self.name, applied, done_batches, &how, error)
    }

    /// The apex NS set is replaced with an UPSERT (see `wire`), which Route 53 does not
    /// compare: check its `before` against a fresh read instead (a one-round-trip
    /// window, as for providers without compare-and-set).
    async fn check_upserts(&self, zone: &ZoneName, changes: &[Change]) -> Result<(), ProviderError> {
        let upserts: Vec<Change> = changes.iter().filter(|c| is_apex_ns_update(zone, c)).cloned().collect();
        if !upserts.is_empty() {
            shared::pending(&self.name, &self.records(zone).await?, &upserts)?;
        }
        Ok(())
    }

    /// The Route 53 changes one plan change is made of.
    fn wire(&self, zone: &ZoneName, change: &Change) -> Result<Vec<WireChange>, ProviderError> {
        let one = |action: &'static str, set: &RecordSet| -> Result<WireChange, ProviderError> {
            let unsupported = |message: String| ProviderError::Unsupported {
                provider: self.name.clone(),
                message,
            };
            if let RecordType::Other(t) = &set.rtype {
                if t.starts_with("ALIAS-") || t.contains('[') {
                    return Err(unsupported(format!(
                        "{} {t}: record sets with a routing policy other than weighted are left alone",
                        set.name
                    )));
                }
            }
            if set.values.is_empty() {
                return Err(ProviderError::Rejected {
                    provider: self.name.clone(),
                    message: format!("{} {}: a record set needs at least one value", set.name, set.rtype),
                });
            }
            if set.set_id.is_some() != set.weight.is_some() {
                return Err(unsupported(format!(
                    "{} {}: a set identifier goes with a weight (the only routing policy dnsteer writes)",
                    set.name, set.rtype
                )));
            }
            let alias = match set.values.as_slice() {
                [one] => Alias::parse(one),
                _ => None,
            };
            // The alias is sent back only as the exact target it was read with, to
            // delete it: never as a plain value, and never made.
            if alias.is_some() && action != "DELETE" {
                return Err(unsupported(format!(
                    "{} {}: dnsteer does not write alias record sets ({})",
                    set.name,
                    set.rtype,
                    set.values.join(", ")
                )));
            }
            Ok(WireChange {
                action,
                name: set.name.clone(),
                rtype: set.rtype.as_str().to_string(),
                ttl: set.ttl,
                values: set.values.clone(),
                set_id: set.set_id.clone(),
                weight: set.weight,
                alias,
            })
        };
        Ok(match change {
            Change::Create { after } => vec![one("CREATE", after)?],
            Change::Delete { before } => vec![one("DELETE", before)?],
            // The NS set Route 53 made with the hosted zone is replaced, not deleted:
            // Route 53 refuses to leave a zone without its apex NS set, even for the
            // length of a batch.
            Change::Update { after, .. } if is_apex_ns_update(zone, change) => vec![one("UPSERT", after)?],
            Change::Update { before, after } => vec![one("DELETE", before)?, one("CREATE", after)?],
        })
    }

    /// Groups changes (indexes into `wire`) into requests within Route 53's limits,
    /// keeping each plan change (an Update's DELETE and CREATE) in one request.
    fn split(
        &self,
        wire: &[Vec<WireChange>],
        reserve: Option<(usize, usize)>,
    ) -> Result<Vec<Vec<usize>>, ProviderError> {
        let (reserved_records, reserved_chars) = reserve.unwrap_or((0, 0));
        let (max_records, max_chars) = (
            MAX_RECORDS_PER_REQUEST - reserved_records,
            MAX_VALUE_CHARS_PER_REQUEST - reserved_chars,
        );
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let (mut records, mut chars) = (0, 0);
        for (k, parts) in wire.iter().enumerate() {
            let r: usize = parts.iter().map(WireChange::record_count).sum();
            let c: usize = parts.iter().map(WireChange::value_chars).sum();
            if r > max_records || c > max_chars {
                return Err(ProviderError::Rejected {
                    provider: self.name.clone(),
                    message: format!(
                        "{} {}: {r} records / {c} characters of values exceed what one Route 53 request may carry",
                        parts[0].name, parts[0].rtype
                    ),
                });
            }
            match batches.last_mut() {
                Some(last) if records + r <= max_records && chars + c <= max_chars => {
                    last.push(k);
                    records += r;
                    chars += c;
                }
                _ => {
                    batches.push(vec![k]);
                    records = r;
                    chars = c;
                }
            }
        }
        if batches.is_empty() {
            batches.push(Vec::new()); // a fence-only request
        }
        Ok(batches)
    }

    /// Waits, within one `change_timeout` for all, until every change is INSYNC.
    async fn wait_in_sync(&self, change_ids: &[String]) -> Result<(), ProviderError> {
        let (timeout, interval) = (self.options.change_timeout, self.options.poll_interval);
        let in_sync = std::sync::atomic::AtomicUsize::new(0);
        let status = || async {
            while let Some(id) = change_ids.get(in_sync.load(std::sync::atomic::Ordering::Relaxed)) {
                let info = self.client.get_change(id).await?;
                if !info.status.eq_ignore_ascii_case("INSYNC") {
                    return Ok(Poll::Pending(format!("change {id} {}", info.status)));
                }
                in_sync.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(Poll::Done)
        };
        let still = |status: &str, timeout| {
            format!(
                "{status} after {timeout:?}: it was accepted (the records are written), Route 53 is slow to propagate"
            )
        };
        shared::poll_until(&self.name, timeout, interval, status, still).await
    }

    fn to_record_set(&self, rrs: ResourceRecordSet) -> Option<RecordSet> {
        let raw_name = unescape_name(&rrs.name);
        let skip = |why: String| {
            tracing::warn!(provider = %self.name, name = %raw_name, rtype = %rrs.rtype, "record set not read: {why}");
            None
        };
        let name = match normalize_name(&raw_name) {
            Ok(n) => n,
            Err(e) => return skip(e.to_string()),
        };
        let base: RecordType = rrs.rtype.parse().unwrap_or_else(|never| match never {});
        let alias = rrs.alias_target.as_ref().map(|a| Alias {
            hosted_zone_id: a.hosted_zone_id.clone(),
            dns_name: unescape_name(&a.dns_name).to_ascii_lowercase(),
            evaluate_target_health: a.evaluate_target_health,
        });
        let mut values: Vec<String> = match &alias {
            Some(alias) => vec![alias.value()],
            None => rrs
                .resource_records
                .map(|r| r.items.into_iter().map(|v| v.value).collect())
                .unwrap_or_default(),
        };
        let ttl = rrs.ttl.unwrap_or(0);
        let weighted = rrs.set_identifier.clone().zip(rrs.weight);
        if let (Some(id), None) = (&rrs.set_identifier, weighted.as_ref()) {
            // Latency, geolocation, failover, multivalue: under a type of their own.
            values.sort();
            return Some(RecordSet {
                name,
                rtype: RecordType::Other(format!("{}[{id}]", base.as_str())),
                ttl,
                values,
                set_id: None,
                weight: None,
            });
        }
        if alias.is_some() {
            return Some(RecordSet {
                name,
                rtype: base,
                ttl,
                values,
                set_id: weighted.as_ref().map(|(id, _)| id.clone()),
                weight: weighted.map(|(_, w)| w),
            });
        }
        if values.is_empty() {
            // A traffic-policy instance's record set: nothing dnsteer can read or write.
            return skip("no values".into());
        }
        match RecordSet::new(&name, base, ttl, &values) {
            Ok(set) => Some(match weighted {
                Some((id, weight)) => set.weighted(&id, weight),
                None => set,
            }),
            Err(e) => skip(e.to_string()),
        }
    }
}

#[async_trait]
impl Provider for Route53Provider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The hosted zone's delegation set: the apex NS set may name other providers too.
    async fn nameservers(&self, zone: &ZoneName) -> Result<Vec<String>, ProviderError> {
        let zone_id = self.hosted_zone_id(zone).await?;
        let names = self.client.delegation_set(&zone_id).await?;
        shared::nameservers(&self.name, zone, names)
    }

    async fn records(&self, zone: &ZoneName) -> Result<Vec<RecordSet>, ProviderError> {
        let zone_id = self.hosted_zone_id(zone).await?;
        let mut start = PageStart::default();
        let mut sets = Vec::new();
        loop {
            let page = self
                .client
                .record_sets_page(&zone_id, &start, self.options.page_size)
                .await?;
            sets.extend(
                page.resource_record_sets
                    .items
                    .into_iter()
                    .filter_map(|r| self.to_record_set(r)),
            );
            if !page.is_truncated {
                break;
            }
            let next = PageStart {
                name: page.next_record_name,
                rtype: page.next_record_type,
                identifier: page.next_record_identifier,
            };
            if next.name.is_none() {
                return Err(ProviderError::Protocol {
                    provider: self.name.clone(),
                    message: "a truncated ListResourceRecordSets page without NextRecordName".into(),
                });
            }
            start = next;
        }
        sets.sort();
        sets.dedup_by(|a, b| a.key() == b.key());
        Ok(sets)
    }

    /// TXT values are stored quoted by Route 53 (each string at most 255 characters):
    /// desired values are quoted (and long ones split) the same way so plans converge.
    fn normalize(&self, desired: Vec<RecordSet>) -> Vec<RecordSet> {
        desired
            .into_iter()
            .map(|mut rs| {
                if matches!(rs.rtype, RecordType::Txt) || rs.rtype == RecordType::Other("SPF".into()) {
                    rs.values = rs.values.iter().map(|v| quote_txt(v)).collect();
                    rs.values.sort();
                    rs.values.dedup();
                }
                rs
            })
            .collect()
    }

    async fn write_access(&self, zone: &ZoneName, steered: &[SetKey]) -> Result<WriteAccess, ProviderError> {
        access::write_access(self, zone, steered).await
    }

    async fn apply(&self, zone: &ZoneName, changes: &[Change]) -> Result<Applied, ProviderError> {
        self.apply_inner(zone, changes, None).await
    }

    /// Every request of a split batch deletes the fence value it expects and creates
    /// the current term, so Route 53 refuses any request (nothing of it applied) once
    /// another leader moved the fence.
    async fn apply_fenced(&self, zone: &ZoneName, fence: &Fence, changes: &[Change]) -> Result<Applied, ProviderError> {
        self.apply_inner(zone, changes, Some(fence.clone())).await
    }
}

fn is_apex_ns_update(zone: &ZoneName, change: &Change) -> bool {
    matches!(change, Change::Update { after, .. } if after.rtype == RecordType::Ns && after.name == zone.as_str())
}

/// `/hostedzone/Z123` or `Z123` → `Z123`.
fn bare_zone_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('/')
        .trim_start_matches("hostedzone/")
        .to_string()
}

/// The fence's share of a request (records, characters), kept free in every request:
/// a DELETE of what it held and a CREATE of what it holds after.
fn fence_reserve(fence: &Fence) -> (usize, usize) {
    let chars = |s: &RecordSet| s.values.iter().map(|v| v.chars().count()).sum::<usize>();
    (2, fence.before.as_ref().map_or(0, chars) + chars(&fence.after))
}

/// A TXT value as Route 53 stores it: already quoted strings are kept; anything else
/// becomes quoted strings of at most 255 characters, `"` and `\` escaped.
pub fn quote_txt(value: &str) -> String {
    let v = value.trim();
    if v.starts_with('"') && v.ends_with('"') && v.len() >= 2 {
        return v.to_string();
    }
    let escaped: Vec<String> = v
        .chars()
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            c => c.to_string(),
        })
        .collect();
    let mut strings = Vec::new();
    let mut current = String::new();
    let mut len = 0;
    for piece in escaped {
        if len + 1 > 255 {
            strings.push(format!("\"{current}\""));
            current.clear();
            len = 0;
        }
        current.push_str(&piece);
        len += 1;
    }
    strings.push(format!("\"{current}\""));
    strings.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_values_are_quoted_and_split() {
        assert_eq!(quote_txt("hello world"), "\"hello world\"");
        assert_eq!(quote_txt("\"already\""), "\"already\"");
        assert_eq!(quote_txt("say \"hi\""), "\"say \\\"hi\\\"\"");
        let long = "x".repeat(300);
        let quoted = quote_txt(&long);
        assert_eq!(quoted, format!("\"{}\" \"{}\"", "x".repeat(255), "x".repeat(45)));
    }

    #[test]
    fn zone_ids_are_bare() {
        assert_eq!(bare_zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(bare_zone_id("Z123"), "Z123");
    }
}
