//! Azure DNS, through Azure Resource Manager (`Microsoft.Network/dnsZones`, api-version
//! pinned to 2018-05-01) with a service principal's client secret.
//!
//! - Auth: an OAuth2 client-credentials token from `{authority}/{tenant}/oauth2/v2.0/token`
//!   for the scope `https://management.azure.com/.default`, kept until a few minutes
//!   before it expires (dropped at once when ARM answers 401).
//! - Reads: `GET .../dnsZones/{zone}/recordsets`, following `nextLink` until there is
//!   none. Each record set comes with its `etag`. Alias record sets (`targetResource`)
//!   hold no records of their own and are left out, so dnsteer never touches them.
//! - Nameservers: the zone's `properties.nameServers`, the ones Azure assigned it.
//! - Writes: ARM takes one record set per request, so a batch is not atomic. The adapter
//!   reads the zone (values and etags), refuses the whole batch before sending anything
//!   when a change's `before` is no longer live (`Conflict`) or when it would put a
//!   CNAME beside other data (`Rejected`), skips changes already live, and sends the
//!   rest in plan order: a create is `PUT` with `If-None-Match: *`, an update `PUT` with
//!   `If-Match: <etag>` and a delete `DELETE` with `If-Match: <etag>`, the etags from
//!   that read. A set someone changed in between is refused by ARM (412:
//!   `Conflict`). A failure part way is `PartiallyApplied`, naming what was written and
//!   what was not.
//! - Rights (`check --online`): `GET .../dnsZones/{zone}/providers/Microsoft.Authorization/permissions`,
//!   the caller's effective actions and notActions at the zone, matched against the
//!   record set write and delete actions dnsteer uses.
//! - Errors: ARM's `{"error": {"code", "message"}}`; 404 under the zone (ResourceNotFound,
//!   ParentResourceNotFound, ResourceGroupNotFound) is `ZoneNotFound`, 401/403
//!   (AuthorizationFailed, InvalidAuthenticationToken) `Auth`, 429 `RateLimited` with
//!   `Retry-After`, through the shared HTTP layer.

mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::ProviderError;
use crate::http::{classify_status, snippet, HttpClient, HttpConfig, HttpResponse, Idempotency, Verdict};
use crate::oauth::TokenCache;
use crate::provider::{Applied, Capabilities, Provider, SetKey, WriteAccess};
use crate::record::{caa_parts, canonical, normalize_name, srv_parts, Change, RecordSet, RecordType, ZoneName};

use types::{
    ARecord, AaaaRecord, ArmRecordSet, CaaRecord, CloudError, CnameRecord, MxRecord, NsRecord, PermissionList,
    PtrRecord, RecordSetBody, RecordSetList, RecordSetProperties, SrvRecord, TxtRecord, Zone,
};

pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The DNS API version every request names: the stable one the SDK's models follow.
pub const API_VERSION: &str = "2018-05-01";
/// The Microsoft.Authorization API version of the permissions read.
pub const PERMISSIONS_API_VERSION: &str = "2022-04-01";
/// The token's audience: Azure Resource Manager, whatever `endpoint` says.
pub const SCOPE: &str = "https://management.azure.com/.default";
/// A token is renewed this long before it expires, so none expires in flight.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// Pages followed at most in one read: a `nextLink` that never ends is a bug somewhere.
const MAX_PAGES: usize = 10_000;
/// The record types dnsteer writes (steered sets, the pair's fence TXT, the apex NS
/// set): `write_access` asks for the write and delete actions of each.
const STEERED: [RecordType; 5] = [
    RecordType::A,
    RecordType::Aaaa,
    RecordType::Cname,
    RecordType::Txt,
    RecordType::Ns,
];

/// A service principal's client-secret credentials.
#[derive(Clone)]
pub struct AzureCredentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for AzureCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureCredentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Settings of one Azure DNS adapter.
#[derive(Clone, Debug)]
pub struct AzureOptions {
    pub subscription_id: String,
    pub resource_group: String,
    /// Azure Resource Manager's base URL.
    pub endpoint: String,
    /// The Microsoft identity platform's base URL.
    pub authority: String,
    /// Record sets per page (`$top`); `None` leaves it to ARM (100).
    pub page_size: Option<u32>,
    pub http: HttpConfig,
}

impl AzureOptions {
    pub fn new(subscription_id: &str, resource_group: &str) -> Self {
        Self {
            subscription_id: subscription_id.trim().to_string(),
            resource_group: resource_group.trim().to_string(),
            endpoint: DEFAULT_ENDPOINT.to_string(),
            authority: DEFAULT_AUTHORITY.to_string(),
            page_size: None,
            http: HttpConfig::default(),
        }
    }
}

/// A record set as read, with what a conditional write needs.
struct LiveSet {
    set: RecordSet,
    etag: Option<String>,
}

pub struct AzureProvider {
    name: String,
    credentials: AzureCredentials,
    options: AzureOptions,
    http: HttpClient,
    capabilities: Capabilities,
    /// One token at a time, shared by concurrent calls.
    token: TokenCache,
}

impl fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureProvider")
            .field("name", &self.name)
            .field("credentials", &self.credentials)
            .field("subscription_id", &self.options.subscription_id)
            .field("resource_group", &self.options.resource_group)
            .field("endpoint", &self.options.endpoint)
            .field("authority", &self.options.authority)
            .finish_non_exhaustive()
    }
}

/// What Azure DNS can do, whoever runs it.
pub fn capabilities() -> Capabilities {
    Capabilities {
        record_types: Capabilities::common_record_types(),
        min_ttl: 1,
        max_batch: 100,
        // One request per record set: a batch can stop part way.
        atomic: false,
        // Each set is written with If-Match / If-None-Match.
        compare_and_set: true,
        // Azure DNS record sets carry no weights: weighted routing is Traffic Manager's.
        native_weights: false,
        extra_records: true,
    }
}

impl AzureProvider {
    pub fn new(name: &str, credentials: AzureCredentials, options: AzureOptions) -> Result<Self, ProviderError> {
        let mut options = options;
        options.endpoint = options.endpoint.trim_end_matches('/').to_string();
        options.authority = options.authority.trim_end_matches('/').to_string();
        for (what, base) in [("endpoint", &options.endpoint), ("authority", &options.authority)] {
            Url::parse(base).map_err(|e| ProviderError::Rejected {
                provider: name.to_string(),
                message: format!("{what} {base:?} is not a URL: {e}"),
            })?;
        }
        let http = HttpClient::with_own_limiter(name, options.http.clone())?;
        Ok(Self {
            name: name.to_string(),
            credentials,
            options,
            http,
            capabilities: capabilities(),
            token: TokenCache::renewing_before(TOKEN_MARGIN),
        })
    }

    /// `.../dnsZones/{zone}` followed by `segments`, with the API version.
    fn zone_url(&self, zone: &ZoneName, segments: &[&str], api_version: &str) -> Result<Url, ProviderError> {
        let mut url = Url::parse(&self.options.endpoint).map_err(|e| self.protocol(format!("endpoint: {e}")))?;
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| self.protocol("the endpoint cannot take a path".into()))?;
            path.pop_if_empty().extend([
                "subscriptions",
                &self.options.subscription_id,
                "resourceGroups",
                &self.options.resource_group,
                "providers",
                "Microsoft.Network",
                "dnsZones",
                zone.as_str().trim_end_matches('.'),
            ]);
            path.extend(segments);
        }
        url.query_pairs_mut().append_pair("api-version", api_version);
        Ok(url)
    }

    fn protocol(&self, message: String) -> ProviderError {
        ProviderError::Protocol {
            provider: self.name.clone(),
            message,
        }
    }

    /// A bearer token for ARM: the cached one, or a new one from the token endpoint.
    async fn bearer(&self) -> Result<String, ProviderError> {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.options.authority,
            self.credentials.tenant_id.trim()
        );
        self.token
            .token(&self.http, &url, || {
                Ok(vec![
                    ("grant_type", "client_credentials".to_string()),
                    ("client_id", self.credentials.client_id.trim().to_string()),
                    ("client_secret", self.credentials.client_secret.clone()),
                    ("scope", SCOPE.to_string()),
                ])
            })
            .await
    }

    /// ARM's answer read: its error code and message kept in every error.
    fn classify(&self, resp: &HttpResponse, zone: &ZoneName) -> Verdict {
        let status = resp.status;
        if status.is_success() {
            return Verdict::Ok;
        }
        let (code, detail) = serde_json::from_slice::<CloudError>(&resp.body)
            .ok()
            .and_then(CloudError::code_and_message)
            .unwrap_or_else(|| (String::new(), snippet(&resp.body)));
        let message = if code.is_empty() {
            format!("HTTP {status}: {detail}")
        } else {
            format!("HTTP {status} {code}: {detail}")
        };
        let provider = self.name.clone();
        match status {
            StatusCode::PRECONDITION_FAILED => Verdict::Fail(ProviderError::Conflict {
                provider,
                message: format!("a record set changed since it was read: {message}"),
            }),
            // Every path dnsteer asks for lies under the zone: not found is the zone (or
            // its resource group, or subscription) not there or not visible.
            StatusCode::NOT_FOUND => Verdict::Fail(ProviderError::ZoneNotFound {
                provider,
                zone: zone.to_string(),
            }),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Verdict::Fail(ProviderError::Auth { provider, message })
            }
            _ => match classify_status(&self.name, resp) {
                Verdict::Fail(ProviderError::Rejected { .. }) => {
                    Verdict::Fail(ProviderError::Rejected { provider, message })
                }
                Verdict::Retry {
                    after,
                    error: ProviderError::Transient { .. },
                } => Verdict::Retry {
                    after,
                    error: ProviderError::Transient { provider, message },
                },
                other => other,
            },
        }
    }

    /// One ARM request with the bearer token; `headers` are the conditional ones.
    async fn arm(
        &self,
        method: Method,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        zone: &ZoneName,
    ) -> Result<HttpResponse, ProviderError> {
        let token = self.bearer().await?;
        // A write that may have reached ARM is not sent twice: a second PUT would meet
        // the etag the first one made and report a conflict that is not one.
        let idempotency = if method == Method::GET {
            Idempotency::Idempotent
        } else {
            Idempotency::NotIdempotent
        };
        let result = self
            .http
            .send(
                idempotency,
                |client| {
                    let mut req = client
                        .request(method.clone(), url.clone())
                        .bearer_auth(&token)
                        .header("Accept", "application/json");
                    for (name, value) in headers {
                        req = req.header(*name, *value);
                    }
                    if let Some(body) = &body {
                        req = req.header("Content-Type", "application/json").body(body.clone());
                    }
                    req
                },
                |resp| self.classify(resp, zone),
            )
            .await;
        if let Err(ProviderError::Auth { .. }) = &result {
            // A revoked or expired token is not used again; a wrong secret fails anew.
            self.token.forget().await;
        }
        result
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &Url, zone: &ZoneName) -> Result<T, ProviderError> {
        self.arm(Method::GET, url, &[], None, zone).await?.json(&self.name)
    }

    /// A `nextLink` as a URL, refused unless it points under the configured endpoint:
    /// the bearer token goes nowhere else.
    fn next_url(&self, link: &str) -> Result<Url, ProviderError> {
        let url = Url::parse(link).map_err(|e| self.protocol(format!("nextLink {link:?}: {e}")))?;
        let base = Url::parse(&self.options.endpoint).map_err(|e| self.protocol(format!("endpoint: {e}")))?;
        if url.origin() != base.origin() {
            return Err(self.protocol(format!(
                "nextLink {link:?} leaves the endpoint {}",
                self.options.endpoint
            )));
        }
        Ok(url)
    }

    /// Every record set of the zone with its etag, by (name, type); alias sets left out.
    async fn read(&self, zone: &ZoneName) -> Result<BTreeMap<(String, RecordType), LiveSet>, ProviderError> {
        let mut url = self.zone_url(zone, &["recordsets"], API_VERSION)?;
        if let Some(top) = self.options.page_size {
            url.query_pairs_mut().append_pair("$top", &top.to_string());
        }
        let mut sets = BTreeMap::new();
        for _ in 0..MAX_PAGES {
            let page: RecordSetList = self.get_json(&url, zone).await?;
            for arm in page.value {
                if let Some(live) = self.live_set(zone, arm)? {
                    sets.insert((live.set.name.clone(), live.set.rtype.clone()), live);
                }
            }
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(link) => url = self.next_url(&link)?,
                None => return Ok(sets),
            }
        }
        Err(self.protocol(format!("more than {MAX_PAGES} pages of record sets")))
    }

    fn live_set(&self, zone: &ZoneName, arm: ArmRecordSet) -> Result<Option<LiveSet>, ProviderError> {
        let props = arm.properties;
        if props.target_resource.as_ref().is_some_and(|t| !t.is_null()) {
            tracing::debug!(provider = %self.name, name = %arm.name, "alias record set left alone");
            return Ok(None);
        }
        let rtype: RecordType = arm
            .resource_type
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap_or_else(|never| match never {});
        let name = zone
            .absolute(&arm.name)
            .map_err(|e| self.protocol(format!("record set {:?}: {e}", arm.name)))?;
        let values: Vec<String> = match &rtype {
            RecordType::A => props.a.into_iter().flatten().map(|r| r.ipv4_address).collect(),
            RecordType::Aaaa => props.aaaa.into_iter().flatten().map(|r| r.ipv6_address).collect(),
            RecordType::Cname => props.cname.into_iter().map(|r| r.cname).collect(),
            RecordType::Ns => props.ns.into_iter().flatten().map(|r| r.nsdname).collect(),
            RecordType::Ptr => props.ptr.into_iter().flatten().map(|r| r.ptrdname).collect(),
            RecordType::Mx => props
                .mx
                .into_iter()
                .flatten()
                .map(|r| format!("{} {}", r.preference, r.exchange))
                .collect(),
            RecordType::Txt => props.txt.into_iter().flatten().map(|r| quote_txt(&r.value)).collect(),
            RecordType::Srv => props
                .srv
                .into_iter()
                .flatten()
                .map(|r| canonical(&rtype, &format!("{} {} {} {}", r.priority, r.weight, r.port, r.target)))
                .collect(),
            RecordType::Caa => props
                .caa
                .into_iter()
                .flatten()
                .map(|r| canonical(&rtype, &format!("{} {} \"{}\"", r.flags, r.tag, r.value)))
                .collect(),
            RecordType::Soa => props
                .soa
                .into_iter()
                .map(|s| {
                    format!(
                        "{} {} {} {} {} {} {}",
                        s.host, s.email, s.serial_number, s.refresh_time, s.retry_time, s.expire_time, s.minimum_ttl
                    )
                })
                .collect(),
            RecordType::Other(_) => Vec::new(),
        };
        let set = RecordSet::new(&name, rtype, props.ttl.unwrap_or(3600), values)
            .map_err(|e| self.protocol(format!("record set {name}: {e}")))?;
        Ok(Some(LiveSet { set, etag: arm.etag }))
    }

    /// The body of a PUT that makes the set `set`.
    fn put_body(&self, set: &RecordSet) -> Result<RecordSetBody, ProviderError> {
        let bad = |value: &str| ProviderError::Rejected {
            provider: self.name.clone(),
            message: format!("{value:?} is not a valid {} value for {}", set.rtype, set.name),
        };
        let host = |v: &str| v.trim_end_matches('.').to_string();
        let values = set.values.iter().map(String::as_str);
        let mut props = RecordSetProperties {
            ttl: Some(set.ttl),
            ..RecordSetProperties::default()
        };
        match &set.rtype {
            RecordType::A => {
                props.a = Some(values.map(|v| ARecord { ipv4_address: v.into() }).collect());
            }
            RecordType::Aaaa => {
                props.aaaa = Some(values.map(|v| AaaaRecord { ipv6_address: v.into() }).collect());
            }
            RecordType::Cname => match set.values.as_slice() {
                [one] => props.cname = Some(CnameRecord { cname: host(one) }),
                _ => {
                    return Err(ProviderError::Rejected {
                        provider: self.name.clone(),
                        message: format!("{}: a CNAME set holds exactly one value", set.name),
                    })
                }
            },
            RecordType::Ns => props.ns = Some(values.map(|v| NsRecord { nsdname: host(v) }).collect()),
            RecordType::Ptr => props.ptr = Some(values.map(|v| PtrRecord { ptrdname: host(v) }).collect()),
            RecordType::Mx => {
                let mx = values
                    .map(|v| {
                        let (preference, exchange) = v.split_once(' ').ok_or_else(|| bad(v))?;
                        Ok(MxRecord {
                            preference: preference.parse().map_err(|_| bad(v))?,
                            exchange: host(exchange),
                        })
                    })
                    .collect::<Result<_, ProviderError>>()?;
                props.mx = Some(mx);
            }
            RecordType::Txt => props.txt = Some(values.map(|v| TxtRecord { value: txt_strings(v) }).collect()),
            RecordType::Srv => {
                let srv = values
                    .map(|v| {
                        let (priority, weight, port, target) = srv_parts(v).ok_or_else(|| bad(v))?;
                        Ok(SrvRecord {
                            priority,
                            weight,
                            port,
                            target: host(target),
                        })
                    })
                    .collect::<Result<_, ProviderError>>()?;
                props.srv = Some(srv);
            }
            RecordType::Caa => {
                let caa = values
                    .map(|v| {
                        let (flags, tag, value) = caa_parts(v).ok_or_else(|| bad(v))?;
                        Ok(CaaRecord {
                            flags,
                            tag: tag.to_string(),
                            value: value.to_string(),
                        })
                    })
                    .collect::<Result<_, ProviderError>>()?;
                props.caa = Some(caa);
            }
            other => {
                return Err(ProviderError::Unsupported {
                    provider: self.name.clone(),
                    message: format!("dnsteer does not write {other} record sets to Azure DNS"),
                })
            }
        }
        Ok(RecordSetBody { properties: props })
    }

    /// `.../dnsZones/{zone}/{TYPE}/{relative name}`.
    fn set_url(&self, zone: &ZoneName, set: &RecordSet) -> Result<Url, ProviderError> {
        let relative = if set.name == zone.as_str() {
            "@".to_string()
        } else {
            set.name
                .strip_suffix(&format!(".{zone}"))
                .ok_or_else(|| ProviderError::Rejected {
                    provider: self.name.clone(),
                    message: format!("{} is not in zone {zone}", set.name),
                })?
                .to_string()
        };
        self.zone_url(zone, &[set.rtype.as_str(), &relative], API_VERSION)
    }

    /// Writes one change, conditional on the etag read (or on there being no set).
    async fn write(&self, zone: &ZoneName, change: &Change, etag: Option<&str>) -> Result<(), ProviderError> {
        let subject = change.subject();
        let url = self.set_url(zone, subject)?;
        let condition = match (change, etag) {
            (Change::Create { .. }, _) => ("If-None-Match", "*"),
            (_, Some(etag)) => ("If-Match", etag),
            // ARM always gives an etag; without one the write could not be conditional.
            (_, None) => return Err(self.protocol(format!("{} {}: read without an etag", subject.name, subject.rtype))),
        };
        match change.after() {
            Some(after) => {
                let body = serde_json::to_vec(&self.put_body(after)?).expect("a record set serialises");
                self.arm(Method::PUT, &url, &[condition], Some(body), zone).await?;
            }
            None => {
                self.arm(Method::DELETE, &url, &[condition], None, zone).await?;
            }
        }
        Ok(())
    }

    /// Refuses a batch that would leave a CNAME beside other data at one name, before
    /// anything is sent: ARM would refuse that set part way through the batch.
    fn check_cnames(
        &self,
        live: &BTreeMap<(String, RecordType), LiveSet>,
        changes: &[&Change],
    ) -> Result<(), ProviderError> {
        let mut after: BTreeSet<(String, RecordType)> = live.keys().cloned().collect();
        for change in changes {
            let key = (change.subject().name.clone(), change.subject().rtype.clone());
            match change.after() {
                Some(_) => after.insert(key),
                None => after.remove(&key),
            };
        }
        let mut types: BTreeMap<&str, Vec<&RecordType>> = BTreeMap::new();
        for (name, rtype) in &after {
            types.entry(name).or_default().push(rtype);
        }
        for change in changes.iter().filter(|c| c.after().is_some()) {
            let name = change.subject().name.as_str();
            let here = types.get(name).map(Vec::as_slice).unwrap_or_default();
            if here.len() > 1 && here.contains(&&RecordType::Cname) {
                return Err(ProviderError::Rejected {
                    provider: self.name.clone(),
                    message: format!(
                        "`{change}` would leave a CNAME beside other record sets at {name} ({}): nothing was sent",
                        here.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for AzureProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn records(&self, zone: &ZoneName) -> Result<Vec<RecordSet>, ProviderError> {
        Ok(self.read(zone).await?.into_values().map(|l| l.set).collect())
    }

    /// The name servers Azure assigned the zone (`properties.nameServers`): the apex NS
    /// set may name other providers too.
    async fn nameservers(&self, zone: &ZoneName) -> Result<Vec<String>, ProviderError> {
        let url = self.zone_url(zone, &[], API_VERSION)?;
        let details: Zone = self.get_json(&url, zone).await?;
        let names: Vec<String> = details
            .properties
            .name_servers
            .iter()
            .filter_map(|n| normalize_name(n).ok())
            .collect();
        crate::shared::nameservers(&self.name, zone, names)
    }

    /// The caller's effective permissions at the zone, matched against the write and
    /// delete actions of every record type dnsteer writes.
    async fn write_access(&self, zone: &ZoneName, _steered: &[SetKey]) -> Result<WriteAccess, ProviderError> {
        let mut url = self.zone_url(
            zone,
            &["providers", "Microsoft.Authorization", "permissions"],
            PERMISSIONS_API_VERSION,
        )?;
        let mut grants = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: PermissionList = self.get_json(&url, zone).await?;
            grants.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(link) => url = self.next_url(&link)?,
                None => break,
            }
        }
        let needed = STEERED
            .iter()
            .flat_map(|t| ["write", "delete"].map(|verb| format!("Microsoft.Network/dnsZones/{t}/{verb}")));
        let missing: Vec<String> = needed
            .filter(|action| {
                !grants.iter().any(|g| {
                    g.actions.iter().any(|a| action_matches(a, action))
                        && !g.not_actions.iter().any(|a| action_matches(a, action))
                })
            })
            .collect();
        Ok(if missing.is_empty() {
            WriteAccess::Granted(format!(
                "the permissions at zone {zone} allow writing and deleting {} record sets",
                STEERED.map(|t| t.to_string()).join("/")
            ))
        } else {
            WriteAccess::Denied(format!(
                "the permissions at zone {zone} lack {} (the built-in role \"DNS Zone Contributor\" on the zone has them)",
                missing.join(", ")
            ))
        })
    }

    /// TTLs raised to Azure's floor; SRV targets absolute, CAA values quoted and TXT
    /// values as quoted strings, as they are read back.
    fn normalize(&self, desired: Vec<RecordSet>) -> Vec<RecordSet> {
        let floor = self.capabilities.min_ttl;
        desired
            .into_iter()
            .map(|mut rs| {
                rs.ttl = rs.ttl.max(floor);
                if matches!(rs.rtype, RecordType::Srv | RecordType::Caa | RecordType::Txt) {
                    rs.values = rs
                        .values
                        .iter()
                        .map(|v| match rs.rtype {
                            RecordType::Txt => quote_txt(&txt_strings(v)),
                            _ => canonical(&rs.rtype, v),
                        })
                        .collect();
                    rs.values.sort();
                    rs.values.dedup();
                }
                rs
            })
            .collect()
    }

    async fn apply(&self, zone: &ZoneName, changes: &[Change]) -> Result<Applied, ProviderError> {
        if changes.is_empty() {
            return Ok(Applied::default());
        }
        let live = self.read(zone).await?;
        let normalized = |set: Option<&RecordSet>| set.map(|s| self.normalize(vec![s.clone()]).remove(0));
        // Check the whole batch against the zone before sending anything.
        let mut pending: Vec<(usize, &Change, Option<&str>)> = Vec::new();
        for (index, change) in changes.iter().enumerate() {
            let subject = change.subject();
            let current = live.get(&(subject.name.clone(), subject.rtype.clone()));
            let current_set = current.map(|l| &l.set);
            if current_set == normalized(change.after()).as_ref() {
                continue; // already live
            }
            let expected = normalized(change.before());
            if current_set != change.before() && current_set != expected.as_ref() {
                let show = |s: Option<&RecordSet>| {
                    s.map_or("no record set".to_string(), |s| {
                        format!("{} [{}]", s.ttl, s.values.join(", "))
                    })
                };
                return Err(ProviderError::Conflict {
                    provider: self.name.clone(),
                    message: format!(
                        "{} {} changed concurrently: expected {}, found {}; nothing was sent",
                        subject.name,
                        subject.rtype,
                        show(change.before()),
                        show(current_set)
                    ),
                });
            }
            pending.push((index, change, current.and_then(|l| l.etag.as_deref())));
        }
        let sending: Vec<&Change> = pending.iter().map(|(_, c, _)| *c).collect();
        self.check_cnames(&live, &sending)?;
        for (i, (index, change, etag)) in pending.iter().enumerate() {
            let normalized_change = match change {
                Change::Create { after } => Change::Create {
                    after: self.normalize(vec![after.clone()]).remove(0),
                },
                Change::Update { before, after } => Change::Update {
                    before: before.clone(),
                    after: self.normalize(vec![after.clone()]).remove(0),
                },
                Change::Delete { .. } => (*change).clone(),
            };
            if let Err(error) = self.write(zone, &normalized_change, *etag).await {
                if i == 0 {
                    return Err(error);
                }
                let list = |changes: &[(usize, &Change, Option<&str>)]| {
                    changes
                        .iter()
                        .map(|(_, c, _)| format!("{} {} {}", c.action(), c.subject().name, c.subject().rtype))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                // Every change before this one is live: written now, or found so.
                return Err(ProviderError::PartiallyApplied {
                    provider: self.name.clone(),
                    applied: *index,
                    message: format!(
                        "{index} of {} changes applied; written: {}; not written: {}; then: {error}",
                        changes.len(),
                        list(&pending[..i]),
                        list(&pending[i..])
                    ),
                });
            }
        }
        Ok(Applied { changes: changes.len() })
    }
}

/// Whether an RBAC action pattern (`*` matches any run of characters, case ignored)
/// covers `action`.
fn action_matches(pattern: &str, action: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let action = action.to_ascii_lowercase();
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = action.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A TXT value's character strings: each `"quoted"` string unescaped, or the whole
/// value as one string when it is not quoted.
fn txt_strings(value: &str) -> Vec<String> {
    let value = value.trim();
    if !value.starts_with('"') {
        return vec![value.to_string()];
    }
    let mut strings = Vec::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue; // the spaces between strings
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => s.extend(chars.next()),
                '"' => break,
                c => s.push(c),
            }
        }
        strings.push(s);
    }
    strings
}

/// Character strings as one TXT value: each quoted, `"` and `\` escaped.
fn quote_txt(strings: &[String]) -> String {
    strings
        .iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_wildcards_match_as_arm_reads_them() {
        let write = "Microsoft.Network/dnsZones/A/write";
        assert!(action_matches("*", write));
        assert!(action_matches("Microsoft.Network/*", write));
        assert!(action_matches("microsoft.network/dnszones/*", write));
        assert!(action_matches("Microsoft.Network/dnsZones/*/write", write));
        assert!(action_matches(write, write));
        assert!(!action_matches("Microsoft.Network/dnsZones/*/read", write));
        assert!(!action_matches("Microsoft.Network/dnsZones/A", write));
        assert!(!action_matches("Microsoft.Network/dnsZones/AAAA/write", write));
        assert!(!action_matches("*/read", write));
    }

    #[test]
    fn txt_values_round_trip_through_their_strings() {
        assert_eq!(txt_strings("\"keep me\""), ["keep me"]);
        assert_eq!(txt_strings("\"a\" \"b c\""), ["a", "b c"]);
        assert_eq!(txt_strings("plain words"), ["plain words"]);
        assert_eq!(txt_strings(r#""say \"hi\" \\ bye""#), [r#"say "hi" \ bye"#]);
        for value in ["\"keep me\"", "\"a\" \"b c\"", r#""say \"hi\" \\ bye""#] {
            assert_eq!(quote_txt(&txt_strings(value)), value);
        }
    }
}
