//! Google Cloud DNS, through the REST API v1 with a service-account key.
//!
//! - Auth: an RS256-signed JWT exchanged at the key's `token_uri` for an access token
//!   (the JWT-bearer grant, RFC 7523), scope `ndev.clouddns.readwrite`; the token is
//!   kept until a minute before it expires. The key is checked (parsed and made to
//!   sign) when the adapter is built, so `check` refuses a bad key file.
//! - Zone: the managed zone whose `dnsName` is the zone (`managedZones.list?dnsName=`),
//!   the public one where a private zone has the same name.
//! - Reads: `rrsets.list`, every page (`pageToken`). Sets answered by a routing policy
//!   carry no values and are not read.
//! - Nameservers: the managed zone's `nameServers`, the ones Google assigned it.
//! - Writes: one `changes.create` per apply, `before` sets as deletions and `after` sets
//!   as additions (a deletion spelled as Google held the set at the last read). Google
//!   applies a change whole or not at all and refuses it when a deletion is not exactly
//!   the live set (412) or an addition already exists (409): a compare-and-set. A refused change whose sets are all live as asked (a repeated
//!   apply) counts as done. Then `changes.get` until `done`, within `change_timeout`.
//! - Rights: `managedZones.testIamPermissions` tells, without writing, which of the
//!   permissions dnsteer needs the key holds.

mod types;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ProviderError;
use crate::http::{
    bearer_json, classify_status, retry_after, HttpClient, HttpConfig, HttpResponse, Idempotency, Verdict,
};
use crate::oauth::TokenCache;
use crate::provider::{Applied, Capabilities, Provider, SetKey, WriteAccess};
use crate::record::{Change, RecordSet, RecordType, ZoneName};

use types::{
    ChangeBody, Claims, ErrorBody, ManagedZone, ManagedZonesPage, ResourceRecordSet, RrsetsPage, ServiceAccountKey,
    TestPermissionsRequest, TestPermissionsResponse,
};

pub const DEFAULT_ENDPOINT: &str = "https://dns.googleapis.com";
/// The OAuth2 scope of Cloud DNS reads and writes.
pub const SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The assertion's audience: Google's token endpoint, whatever URL the token is asked
/// at ("when making an access token request this value is always
/// https://oauth2.googleapis.com/token", and google-auth sends it so).
const TOKEN_AUDIENCE: &str = "https://oauth2.googleapis.com/token";
/// How long a requested token lives (Google's maximum for this grant).
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// A runaway `nextPageToken` (a server that never stops) ends the read as an error.
const MAX_PAGES: usize = 10_000;

/// The permissions dnsteer's reads and writes need on a managed zone.
pub const NEEDED_PERMISSIONS: &[&str] = &[
    "dns.changes.create",
    "dns.changes.get",
    "dns.managedZones.get",
    "dns.resourceRecordSets.create",
    "dns.resourceRecordSets.delete",
    "dns.resourceRecordSets.list",
    "dns.resourceRecordSets.update",
];

/// Settings of one Cloud DNS adapter.
#[derive(Clone, Debug)]
pub struct GoogleOptions {
    pub endpoint: String,
    /// The project holding the zone; the key's `project_id` when absent.
    pub project: Option<String>,
    /// Record sets asked for per `rrsets.list` page (`maxResults`).
    pub page_size: u32,
    /// How long `apply` waits for a change to be `done`.
    pub change_timeout: Duration,
    /// Pause between `changes.get` polls while waiting.
    pub poll_interval: Duration,
    pub http: HttpConfig,
}

impl Default for GoogleOptions {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            project: None,
            page_size: 1000,
            change_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            http: HttpConfig::default(),
        }
    }
}

/// The managed zone serving one DNS zone.
#[derive(Clone)]
struct ZoneInfo {
    /// Its resource name, what URLs take.
    resource: String,
    name_servers: Vec<String>,
}

/// What a request is, for reading its errors: a 404 on `changes.create` is about a
/// deletion that is not there, anywhere else about the zone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Read,
    CreateChange,
}

pub struct GoogleProvider {
    name: String,
    endpoint: String,
    project: String,
    account: ServiceAccount,
    http: HttpClient,
    options: GoogleOptions,
    capabilities: Capabilities,
    token: TokenCache,
    /// Set when Cloud DNS answered 401: the token itself was refused (a 403 is the
    /// account's rights, which a new token does not change).
    token_refused: AtomicBool,
    zones: Mutex<HashMap<ZoneName, ZoneInfo>>,
    /// Each set as Google spelled it at the last read, by the set as dnsteer reads it.
    /// A deletion must match the live set exactly, so a set another tool wrote in
    /// another spelling (`2001:DB8::1`) is deleted as Google holds it. Only the wire
    /// form: a stale entry matches no `before` and the set goes out as dnsteer spells it.
    as_stored: Mutex<HashMap<RecordSet, Vec<String>>>,
}

impl std::fmt::Debug for GoogleProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleProvider")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("project", &self.project)
            .field("account", &self.account)
            .field("change_timeout", &self.options.change_timeout)
            .field("poll_interval", &self.options.poll_interval)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Why a key file is not a service-account key, without quoting it: a serde message
/// can echo a value, and this file is a secret.
fn key_error(e: &serde_json::Error) -> String {
    let at = format!("line {}, column {}", e.line(), e.column());
    match e.classify() {
        serde_json::error::Category::Data if e.to_string().starts_with("missing field") => {
            let text = e.to_string();
            let field = text.split(" at line").next().unwrap_or(&text);
            format!("not a service-account JSON key: {field}")
        }
        serde_json::error::Category::Data => {
            format!("not a service-account JSON key: a field has the wrong type ({at})")
        }
        _ => format!("not a JSON document ({at})"),
    }
}

/// A service-account key, read and checked: it parses, is a service account's, and its
/// private key signs.
pub struct ServiceAccount {
    project_id: Option<String>,
    client_email: String,
    token_uri: String,
    key_id: Option<String>,
    key: EncodingKey,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads a key file's text. The error says what is wrong without quoting the file.
    pub fn from_json(key_json: &str) -> Result<Self, String> {
        let key: ServiceAccountKey = serde_json::from_str(key_json).map_err(|e| key_error(&e))?;
        if !key.key_type.is_empty() && key.key_type != "service_account" {
            return Err(format!(
                "the credentials are a {:?} credential, not a service-account key",
                key.key_type
            ));
        }
        let signing = EncodingKey::from_rsa_pem(key.private_key.as_bytes())
            .map_err(|e| format!("the key's private_key is not an RSA private key in PEM form ({e})"))?;
        let account = Self {
            project_id: key.project_id.filter(|p| !p.trim().is_empty()),
            client_email: key.client_email,
            token_uri: key.token_uri,
            key_id: key.private_key_id,
            key: signing,
        };
        // ring reads the key only when it signs: sign once so a malformed key fails here.
        account.assertion()?;
        Ok(account)
    }

    /// The project the key belongs to, if it names one.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// The signed JWT of a token request.
    fn assertion(&self) -> Result<String, String> {
        let iat = unix_now();
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: TOKEN_AUDIENCE,
            iat,
            exp: iat + TOKEN_LIFETIME.as_secs(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign with the service-account key ({e})"))
    }
}

/// What Cloud DNS can do, whoever runs it.
pub fn capabilities() -> Capabilities {
    Capabilities {
        record_types: Capabilities::common_record_types(),
        min_ttl: 0,
        // Google's default quota: 100 additions and 100 deletions per change.
        max_batch: 100,
        // One change (its additions and deletions) is applied whole or not at all.
        atomic: true,
        // A deletion must match the live set exactly.
        compare_and_set: true,
        extra_records: true,
        // Cloud DNS routing policies (weighted round robin) are not written yet.
        native_weights: false,
    }
}

impl GoogleProvider {
    /// An adapter for the service-account key `key_json` (the key file's text). The key
    /// is parsed and made to sign here, so a bad key is an error now rather than at the
    /// first request.
    pub fn new(name: &str, key_json: &str, options: GoogleOptions) -> Result<Self, ProviderError> {
        let account = ServiceAccount::from_json(key_json).map_err(|message| ProviderError::Auth {
            provider: name.to_string(),
            message,
        })?;
        let project = options
            .project
            .clone()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .or(account.project_id.clone())
            .ok_or_else(|| ProviderError::Rejected {
                provider: name.to_string(),
                message: "no project: the key names none, so set `project`".into(),
            })?;
        let endpoint = options.endpoint.trim_end_matches('/').to_string();
        let http = HttpClient::with_own_limiter(name, options.http.clone())?;
        Ok(Self {
            name: name.to_string(),
            endpoint,
            project,
            account,
            http,
            options,
            capabilities: capabilities(),
            token: TokenCache::default(),
            token_refused: AtomicBool::new(false),
            zones: Mutex::default(),
            as_stored: Mutex::default(),
        })
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    /// An access token: the cached one, or one for a freshly signed assertion.
    async fn access_token(&self) -> Result<String, ProviderError> {
        self.token
            .token(&self.http, &self.account.token_uri, || {
                let assertion = self.account.assertion().map_err(|message| ProviderError::Auth {
                    provider: self.name.clone(),
                    message,
                })?;
                Ok(vec![("grant_type", JWT_BEARER.to_string()), ("assertion", assertion)])
            })
            .await
    }

    /// One Cloud DNS call (`path` after `/dns/v1`), with a token, read as `T`. A token
    /// refused with 401 (revoked, or expired early) is dropped and the call made once
    /// more with a fresh one.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        zone: &ZoneName,
        kind: Call,
    ) -> Result<T, ProviderError> {
        let url = format!("{}/dns/v1{path}", self.endpoint);
        let idempotency = if kind == Call::CreateChange {
            Idempotency::NotIdempotent
        } else {
            Idempotency::Idempotent
        };
        let mut renewed = false;
        loop {
            let token = self.access_token().await?;
            let result = self
                .http
                .send(
                    idempotency,
                    |client| bearer_json(client, method.clone(), &url, &token, query, body.as_deref()),
                    |resp| self.classify(resp, zone, kind),
                )
                .await;
            match result {
                Err(ProviderError::Auth { .. }) if !renewed && self.token_refused.swap(false, Ordering::Relaxed) => {
                    self.token.forget().await;
                    renewed = true;
                }
                Err(e) => return Err(e),
                Ok(resp) => return resp.json(&self.name),
            }
        }
    }

    /// Google's error JSON read into the shared error kinds: 409/412 are a failed
    /// compare-and-set, a 404 is the zone (or, on `changes.create`, a deletion's set)
    /// missing; the rest is the shared status reading, with Google's message.
    fn classify(&self, resp: &HttpResponse, zone: &ZoneName, kind: Call) -> Verdict {
        let status = resp.status;
        if status.is_success() {
            return Verdict::Ok;
        }
        let error = serde_json::from_slice::<ErrorBody>(&resp.body)
            .unwrap_or_default()
            .error;
        let message = if error.message.is_empty() {
            format!("HTTP {status}: {}", crate::http::snippet(&resp.body))
        } else {
            format!("HTTP {} {}: {}", status.as_u16(), error.status, error.message)
        };
        if status == StatusCode::UNAUTHORIZED {
            self.token_refused.store(true, Ordering::Relaxed);
        }
        let provider = self.name.clone();
        let reason = error.errors.first().map(|d| d.reason.as_str()).unwrap_or_default();
        // Older Google front ends say "quota" with a 403 and one of these reasons.
        if status == StatusCode::FORBIDDEN && matches!(reason, "rateLimitExceeded" | "userRateLimitExceeded") {
            let after = retry_after(&resp.headers);
            return Verdict::Retry {
                after,
                error: ProviderError::RateLimited {
                    provider,
                    retry_after: after,
                },
            };
        }
        match status {
            StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => {
                return Verdict::Fail(ProviderError::Conflict {
                    provider,
                    message: format!("a record set changed since it was read: {message}"),
                })
            }
            // "The 'entity.change.deletions[0]' resource named '...' does not exist": the
            // set to delete went away since it was read. A missing zone names the
            // `managedZone` parameter instead.
            StatusCode::NOT_FOUND if kind == Call::CreateChange && !error.message.contains("managedZone") => {
                return Verdict::Fail(ProviderError::Conflict {
                    provider,
                    message: format!("a record set to delete is gone: {message}"),
                })
            }
            StatusCode::NOT_FOUND => {
                return Verdict::Fail(ProviderError::ZoneNotFound {
                    provider,
                    zone: zone.to_string(),
                })
            }
            _ => {}
        }
        match classify_status(&self.name, resp) {
            Verdict::Retry { after, error } => Verdict::Retry {
                after,
                error: with_message(error, message),
            },
            Verdict::Fail(error) => Verdict::Fail(with_message(error, message)),
            Verdict::Ok => Verdict::Ok,
        }
    }

    fn zone_path(&self, resource: &str) -> String {
        format!("/projects/{}/managedZones/{resource}", self.project)
    }

    /// The managed zone serving `zone`: the one of that `dnsName`, public before private.
    async fn managed_zone(&self, zone: &ZoneName) -> Result<ZoneInfo, ProviderError> {
        if let Some(info) = self.zones.lock().expect("lock poisoned").get(zone) {
            return Ok(info.clone());
        }
        let path = format!("/projects/{}/managedZones", self.project);
        let mut found: Vec<ManagedZone> = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("dnsName", zone.as_str().to_string())];
            query.extend(page_token.take().map(|t| ("pageToken", t)));
            let page: ManagedZonesPage = self.call(Method::GET, &path, &query, None, zone, Call::Read).await?;
            found.extend(
                page.managed_zones
                    .into_iter()
                    .filter(|z| z.dns_name.eq_ignore_ascii_case(zone.as_str())),
            );
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => page_token = Some(t),
                None => break,
            }
        }
        let public: Vec<&ManagedZone> = found
            .iter()
            .filter(|z| z.visibility.as_deref().is_none_or(|v| v.eq_ignore_ascii_case("public")))
            .collect();
        let chosen = match (public.as_slice(), found.as_slice()) {
            ([one], _) => *one,
            ([], [one]) => one,
            ([], []) => {
                return Err(ProviderError::ZoneNotFound {
                    provider: self.name.clone(),
                    zone: zone.to_string(),
                })
            }
            _ => {
                let names: Vec<&str> = found.iter().map(|z| z.name.as_str()).collect();
                return Err(ProviderError::Rejected {
                    provider: self.name.clone(),
                    message: format!(
                        "{} managed zones of project {} serve {zone} ({}): dnsteer cannot tell which",
                        found.len(),
                        self.project,
                        names.join(", ")
                    ),
                });
            }
        };
        let info = ZoneInfo {
            resource: chosen.name.clone(),
            name_servers: chosen.name_servers.clone(),
        };
        self.zones
            .lock()
            .expect("lock poisoned")
            .insert(zone.clone(), info.clone());
        Ok(info)
    }

    /// Every record set of the zone, as Google returns them, every page.
    async fn rrsets(&self, zone: &ZoneName, resource: &str) -> Result<Vec<ResourceRecordSet>, ProviderError> {
        let path = format!("{}/rrsets", self.zone_path(resource));
        let mut all = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("maxResults", self.options.page_size.to_string())];
            query.extend(page_token.take().map(|t| ("pageToken", t)));
            let page: RrsetsPage = self.call(Method::GET, &path, &query, None, zone, Call::Read).await?;
            all.extend(page.rrsets);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => page_token = Some(t),
                None => return Ok(all),
            }
        }
        Err(ProviderError::Protocol {
            provider: self.name.clone(),
            message: format!("rrsets.list gave more than {MAX_PAGES} pages"),
        })
    }

    fn to_record_set(&self, rrs: ResourceRecordSet) -> Option<RecordSet> {
        if rrs.routing_policy.is_some() && rrs.rrdatas.is_empty() {
            tracing::warn!(provider = %self.name, name = %rrs.name, rtype = %rrs.rtype, "record set with a routing policy not read");
            return None;
        }
        let rtype: RecordType = rrs.rtype.parse().unwrap_or_else(|never| match never {});
        match RecordSet::new(&rrs.name, rtype, rrs.ttl, &rrs.rrdatas) {
            Ok(set) => {
                if set.values != rrs.rrdatas {
                    self.as_stored
                        .lock()
                        .expect("lock poisoned")
                        .insert(set.clone(), rrs.rrdatas);
                }
                Some(set)
            }
            Err(e) => {
                tracing::warn!(provider = %self.name, name = %rrs.name, rtype = %rrs.rtype, "record set not read: {e}");
                None
            }
        }
    }

    /// Waits until the change is `done`, polling `changes.get` within `change_timeout`.
    async fn wait_done(&self, zone: &ZoneName, resource: &str, change: ChangeBody) -> Result<(), ProviderError> {
        let Some(id) = change.id else {
            return Ok(());
        };
        let mut status = change.status.unwrap_or_default();
        let deadline = Instant::now() + self.options.change_timeout;
        let path = format!("{}/changes/{id}", self.zone_path(resource));
        while !status.eq_ignore_ascii_case("done") {
            if Instant::now() + self.options.poll_interval > deadline {
                return Err(ProviderError::Transient {
                    provider: self.name.clone(),
                    message: format!(
                        "change {id} was accepted (the records are written) but is still {status} after {:?}",
                        self.options.change_timeout
                    ),
                });
            }
            tokio::time::sleep(self.options.poll_interval).await;
            let now: ChangeBody = self.call(Method::GET, &path, &[], None, zone, Call::Read).await?;
            status = now.status.unwrap_or_default();
        }
        Ok(())
    }

    /// Whether every change is already what the zone holds (a repeated apply).
    async fn already_live(&self, zone: &ZoneName, changes: &[Change]) -> Result<bool, ProviderError> {
        let live = self.records(zone).await?;
        Ok(changes.iter().all(|c| {
            let subject = c.subject();
            let now = live.iter().find(|s| s.name == subject.name && s.rtype == subject.rtype);
            now == c.after()
        }))
    }
}

/// `error` with Google's `message` in place of the shared layer's.
fn with_message(error: ProviderError, message: String) -> ProviderError {
    match error {
        ProviderError::Auth { provider, .. } => ProviderError::Auth { provider, message },
        ProviderError::Rejected { provider, .. } => ProviderError::Rejected { provider, message },
        ProviderError::Transient { provider, .. } => ProviderError::Transient { provider, message },
        other => other,
    }
}

fn wire(set: &RecordSet) -> ResourceRecordSet {
    ResourceRecordSet {
        name: set.name.clone(),
        rtype: set.rtype.as_str().to_string(),
        ttl: set.ttl,
        rrdatas: set.values.clone(),
        routing_policy: None,
    }
}

#[async_trait]
impl Provider for GoogleProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn records(&self, zone: &ZoneName) -> Result<Vec<RecordSet>, ProviderError> {
        let info = self.managed_zone(zone).await?;
        let sets = self.rrsets(zone, &info.resource).await?;
        self.as_stored
            .lock()
            .expect("lock poisoned")
            .retain(|set, _| !zone.contains(&set.name));
        let mut sets: Vec<RecordSet> = sets.into_iter().filter_map(|s| self.to_record_set(s)).collect();
        sets.sort();
        Ok(sets)
    }

    /// The nameservers Google assigned the managed zone (`nameServers`): the apex NS set
    /// may name other providers too.
    async fn nameservers(&self, zone: &ZoneName) -> Result<Vec<String>, ProviderError> {
        let info = self.managed_zone(zone).await?;
        crate::shared::nameservers(&self.name, zone, info.name_servers.clone())
    }

    /// Cloud DNS grants rights per zone (or project), not per set: `steered` does not
    /// change the question.
    async fn write_access(&self, zone: &ZoneName, steered: &[SetKey]) -> Result<WriteAccess, ProviderError> {
        let _ = steered;
        let info = self.managed_zone(zone).await?;
        let path = format!("{}:testIamPermissions", self.zone_path(&info.resource));
        let body = serde_json::to_vec(&TestPermissionsRequest {
            permissions: NEEDED_PERMISSIONS,
        })
        .expect("serialises");
        let granted: TestPermissionsResponse = self
            .call(Method::POST, &path, &[], Some(body), zone, Call::Read)
            .await?;
        let missing: Vec<&str> = NEEDED_PERMISSIONS
            .iter()
            .copied()
            .filter(|p| !granted.permissions.iter().any(|g| g == p))
            .collect();
        Ok(if missing.is_empty() {
            WriteAccess::Granted(format!(
                "testIamPermissions on managed zone {} grants all of {}",
                info.resource,
                NEEDED_PERMISSIONS.join(", ")
            ))
        } else {
            WriteAccess::Denied(format!(
                "testIamPermissions on managed zone {}: missing {}",
                info.resource,
                missing.join(", ")
            ))
        })
    }

    async fn apply(&self, zone: &ZoneName, changes: &[Change]) -> Result<Applied, ProviderError> {
        let asked = changes.len();
        // Google refuses a change that deletes and adds the same set; there is nothing to do.
        let changes: Vec<Change> = changes.iter().filter(|c| c.before() != c.after()).cloned().collect();
        if changes.is_empty() {
            return Ok(Applied { changes: asked });
        }
        let info = self.managed_zone(zone).await?;
        let mut body = ChangeBody::default();
        for change in &changes {
            body.deletions.extend(change.before().map(|before| {
                let mut deletion = wire(before);
                if let Some(stored) = self.as_stored.lock().expect("lock poisoned").get(before) {
                    deletion.rrdatas = stored.clone();
                }
                deletion
            }));
            body.additions
                .extend(change.after().map(|a| wire(&self.normalize(vec![a.clone()])[0])));
        }
        let path = format!("{}/changes", self.zone_path(&info.resource));
        let bytes = serde_json::to_vec(&body).expect("serialises");
        match self
            .call::<ChangeBody>(Method::POST, &path, &[], Some(bytes), zone, Call::CreateChange)
            .await
        {
            Ok(created) => self.wait_done(zone, &info.resource, created).await?,
            // Refused because every set is already as asked: a repeat of a change that
            // went through (its answer lost, or applied twice). Nothing more to do.
            Err(e @ ProviderError::Conflict { .. }) => {
                if !self.already_live(zone, &changes).await? {
                    return Err(e);
                }
                tracing::debug!(provider = %self.name, "change already live");
            }
            Err(e) => return Err(e),
        }
        Ok(Applied { changes: asked })
    }
}
