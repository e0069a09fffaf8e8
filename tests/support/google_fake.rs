//! `FakeGoogle`: an in-process Google Cloud DNS API v1 and OAuth2 token endpoint, built
//! to the published API (the `dns/v1` discovery document; the `google-cloud-dns` SDK's
//! models):
//! - `POST /token`: the JWT-bearer grant (RFC 7523). The assertion's RS256 signature is
//!   checked against the test key's public key, its `aud` against Google's token endpoint, its
//!   `iss` against the service account and its `scope`; refusals are OAuth2 errors
//!   (`invalid_grant`, 400). Access tokens expire after `token_lifetime`.
//! - `/dns/v1/projects/{project}/managedZones[?dnsName=]`, `.../managedZones/{zone}`,
//!   `.../rrsets` (paged: `maxResults`, `pageToken`, `nextPageToken`, at most
//!   `max_page` sets a page whatever is asked), `.../changes` (create: all or nothing;
//!   a deletion must be exactly the live set, else 412 `conditionNotMet`, or 404
//!   `notFound` when there is none; an addition of a set that exists is 409
//!   `alreadyExists`), `.../changes/{id}` (`pending` for `pending_polls` reads, then
//!   `done`), `.../managedZones/{zone}:testIamPermissions`.
//! - A bearer token the fake issued on every DNS call (401 `UNAUTHENTICATED` otherwise),
//!   and a request budget (`rate_limit` requests per window; beyond it 429
//!   `RESOURCE_EXHAUSTED` with reason `rateLimitExceeded`, as Google answers quota).
//!   Errors are Google's JSON: `{"error": {"code", "message", "errors": [...], "status"}}`.
//!
//! The official `google-cloud-dns` Python SDK (with `google-auth` doing the token
//! exchange) drives it in tests/provider_google.rs, as an independent check.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use super::http_fake::{FakeServer, Request, Response};
use super::openssl;

pub const PROJECT: &str = "dnsteer-test";
pub const MANAGED_ZONE: &str = "example-test";
pub const CLIENT_EMAIL: &str = "dnsteer@dnsteer-test.iam.gserviceaccount.com";
pub const NAME_SERVERS: [&str; 4] = [
    "ns-cloud-a1.googledomains.com.",
    "ns-cloud-a2.googledomains.com.",
    "ns-cloud-a3.googledomains.com.",
    "ns-cloud-a4.googledomains.com.",
];
/// Every permission the fake knows; `granted` holds those the key has.
pub const ALL_PERMISSIONS: [&str; 9] = [
    "dns.changes.create",
    "dns.changes.get",
    "dns.changes.list",
    "dns.managedZones.get",
    "dns.managedZones.list",
    "dns.resourceRecordSets.create",
    "dns.resourceRecordSets.delete",
    "dns.resourceRecordSets.list",
    "dns.resourceRecordSets.update",
];

/// An RSA key pair made with openssl for the tests: the private key in PKCS#8 PEM (as
/// Google's key files hold it) and the public key.
#[derive(Clone)]
pub struct TestKey {
    pub private_pem: String,
    pub public_pem: String,
}

impl TestKey {
    fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        openssl(
            dir.path(),
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "key.pem",
            ],
        );
        openssl(dir.path(), &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        Self {
            private_pem: read("key.pem"),
            public_pem: read("pub.pem"),
        }
    }

    /// The service account's key, made once per test binary.
    pub fn account() -> &'static TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        KEY.get_or_init(Self::generate)
    }

    /// A key the fake does not know.
    pub fn stranger() -> &'static TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        KEY.get_or_init(Self::generate)
    }

    /// A service-account key file's JSON for this key, with `token_uri`.
    pub fn key_json(&self, token_uri: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": self.private_pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        })
        .to_string()
    }
}

/// One logged request.
#[derive(Clone, Debug)]
pub struct Logged {
    pub at: Instant,
    pub request: Request,
}

pub struct State {
    pub dns_name: String,
    /// Record sets as Google returns them.
    pub rrsets: Vec<Value>,
    pub changes: Vec<Value>,
    /// How many `changes.get` reads of a change answer `pending` before `done`.
    pub pending_polls: u32,
    reads: HashMap<String, u32>,
    /// The most sets one `rrsets.list` page holds.
    pub max_page: usize,
    /// Answer with 429 beyond this many DNS requests within the window.
    pub rate_limit: Option<(usize, Duration)>,
    /// Answer the next this many DNS requests with 429, whatever the budget.
    pub throttle: usize,
    /// Issued access tokens and when each stops being accepted.
    pub tokens: HashMap<String, Instant>,
    pub token_lifetime: Duration,
    /// The `expires_in` the token endpoint says, where it is not `token_lifetime`.
    pub told_expires_in: Option<u64>,
    pub granted: BTreeSet<String>,
    pub log: Vec<Logged>,
    /// When each DNS request (not the token endpoint) came.
    api_times: Vec<Instant>,
    public_key: String,
    token_uri: String,
}

pub struct FakeGoogle {
    pub state: Arc<Mutex<State>>,
    pub server: FakeServer,
}

fn error(code: u16, status: &str, reason: &str, message: &str) -> Response {
    Response::json(
        code,
        &json!({"error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status,
        }}),
    )
}

fn oauth_error(error: &str, description: &str) -> Response {
    Response::json(400, &json!({"error": error, "error_description": description}))
}

fn rrset(name: &str, rtype: &str, ttl: u64, rrdatas: &[&str]) -> Value {
    json!({"kind": "dns#resourceRecordSet", "name": name, "type": rtype, "ttl": ttl, "rrdatas": rrdatas})
}

impl FakeGoogle {
    /// A public managed zone `example-test` for `dns_name` (`example.test.`) with its SOA
    /// and the four Google nameservers as apex NS set.
    pub fn start(dns_name: &str) -> Self {
        let soa = "ns-cloud-a1.googledomains.com. cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300";
        let state = Arc::new(Mutex::new(State {
            dns_name: dns_name.to_string(),
            rrsets: vec![
                rrset(dns_name, "NS", 21600, &NAME_SERVERS),
                rrset(dns_name, "SOA", 21600, &[soa]),
            ],
            changes: Vec::new(),
            pending_polls: 1,
            reads: HashMap::new(),
            max_page: 3,
            rate_limit: None,
            throttle: 0,
            tokens: HashMap::new(),
            token_lifetime: Duration::from_secs(3600),
            told_expires_in: None,
            granted: ALL_PERMISSIONS.iter().map(|p| p.to_string()).collect(),
            log: Vec::new(),
            api_times: Vec::new(),
            public_key: TestKey::account().public_pem.clone(),
            token_uri: String::new(),
        }));
        let handler_state = state.clone();
        let server = FakeServer::start(Arc::new(move |req: &Request| handle(&handler_state, req)));
        state.lock().unwrap().token_uri = format!("{}/token", server.url());
        Self { state, server }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn token_uri(&self) -> String {
        format!("{}/token", self.server.url())
    }

    /// A key file the fake accepts (`TestKey::account()`), pointing at its token endpoint.
    pub fn key_json(&self) -> String {
        TestKey::account().key_json(&self.token_uri())
    }

    /// Adds a record set directly (as another writer would).
    pub fn insert(&self, name: &str, rtype: &str, ttl: u64, rrdatas: &[&str]) {
        self.state.lock().unwrap().rrsets.push(rrset(name, rtype, ttl, rrdatas));
    }

    pub fn rrset(&self, name: &str, rtype: &str) -> Option<Value> {
        let s = self.state.lock().unwrap();
        s.rrsets
            .iter()
            .find(|r| r["name"] == name && r["type"] == rtype)
            .cloned()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log().into_iter().map(|logged| logged.request).collect()
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }
}

/// The form fields of an `application/x-www-form-urlencoded` body.
fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn handle(state: &Mutex<State>, req: &Request) -> Response {
    let mut s = state.lock().unwrap();
    s.log.push(Logged {
        at: Instant::now(),
        request: req.clone(),
    });
    if req.path == "/token" {
        return s.token(req);
    }
    let Some(path) = req.path.strip_prefix("/dns/v1/projects/") else {
        return error(404, "NOT_FOUND", "notFound", "Not Found");
    };
    let now = Instant::now();
    let bearer = req.header("authorization").and_then(|h| h.strip_prefix("Bearer "));
    let token_live = bearer.and_then(|t| s.tokens.get(t)).is_some_and(|until| *until > now);
    if !token_live {
        return error(
            401,
            "UNAUTHENTICATED",
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        )
        .with_header("WWW-Authenticate", "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"");
    }
    s.api_times.push(now);
    if s.throttle > 0 || s.over_budget(now) {
        s.throttle = s.throttle.saturating_sub(1);
        return error(
            429,
            "RESOURCE_EXHAUSTED",
            "rateLimitExceeded",
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'dns.googleapis.com'.",
        );
    }
    let (path, custom) = match path.split_once(':') {
        Some((p, verb)) => (p, Some(verb)),
        None => (path, None),
    };
    let parts: Vec<&str> = path.split('/').collect();
    let Some((&project, rest)) = parts.split_first() else {
        return error(404, "NOT_FOUND", "notFound", "Not Found");
    };
    if project != PROJECT {
        return error(
            403,
            "PERMISSION_DENIED",
            "forbidden",
            &format!("The caller does not have permission to access project {project}"),
        );
    }
    match (req.method.as_str(), rest, custom) {
        ("GET", ["managedZones"], None) => {
            let wanted = req.query_param("dnsName");
            let zones: Vec<Value> = if wanted.is_none_or(|w| w == s.dns_name) {
                vec![s.zone()]
            } else {
                vec![]
            };
            Response::json(
                200,
                &json!({"kind": "dns#managedZonesListResponse", "managedZones": zones}),
            )
        }
        (_, ["managedZones", zone, ..], _) if *zone != MANAGED_ZONE => error(
            404,
            "NOT_FOUND",
            "notFound",
            &format!("The 'parameters.managedZone' resource named '{zone}' does not exist."),
        ),
        ("GET", ["managedZones", _], None) => Response::json(200, &s.zone()),
        ("POST", ["managedZones", _], Some("testIamPermissions")) => {
            let asked = req.json()["permissions"].as_array().cloned().unwrap_or_default();
            let held: Vec<Value> = asked
                .into_iter()
                .filter(|p| p.as_str().is_some_and(|p| s.granted.contains(p)))
                .collect();
            // Google leaves `permissions` out when none is held.
            Response::json(
                200,
                &if held.is_empty() {
                    json!({})
                } else {
                    json!({"permissions": held})
                },
            )
        }
        ("GET", ["managedZones", _, "rrsets"], None) => s.list_rrsets(req),
        ("POST", ["managedZones", _, "changes"], None) => s.create_change(req),
        ("GET", ["managedZones", _, "changes", id], None) => s.get_change(id),
        _ => error(404, "NOT_FOUND", "notFound", "Not Found"),
    }
}

impl State {
    fn zone(&self) -> Value {
        json!({
            "kind": "dns#managedZone",
            "name": MANAGED_ZONE,
            "dnsName": self.dns_name,
            "description": "",
            "id": "4311228374592372736",
            "nameServers": NAME_SERVERS,
            "creationTime": "2024-01-01T00:00:00.000Z",
            "visibility": "public",
        })
    }

    fn over_budget(&self, now: Instant) -> bool {
        let Some((limit, window)) = self.rate_limit else {
            return false;
        };
        let recent = self
            .api_times
            .iter()
            .filter(|t| now.duration_since(**t) < window)
            .count();
        recent > limit
    }

    fn token(&mut self, req: &Request) -> Response {
        let fields = form(&req.body);
        if fields.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
            return oauth_error("unsupported_grant_type", "Invalid grant_type.");
        }
        let Some(assertion) = fields.get("assertion") else {
            return oauth_error("invalid_request", "Missing required parameter: assertion");
        };
        let key = DecodingKey::from_rsa_pem(self.public_key.as_bytes()).expect("the test's public key");
        let mut validation = Validation::new(Algorithm::RS256);
        // Google's token endpoint is the audience wherever the token is asked for.
        validation.set_audience(&["https://oauth2.googleapis.com/token"]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
        validation.set_issuer(&[CLIENT_EMAIL]);
        let claims = match jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                let description = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => "Invalid JWT Signature.".to_string(),
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
                            .to_string()
                    }
                    other => format!("Invalid JWT: {other:?}"),
                };
                return oauth_error("invalid_grant", &description);
            }
        };
        let scopes = claims["scope"].as_str().unwrap_or_default();
        if !scopes.split(' ').any(|s| {
            s == "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
                || s == "https://www.googleapis.com/auth/cloud-platform"
        }) {
            return oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.");
        }
        let token = format!("ya29.fake-{}", self.tokens.len() + 1);
        self.tokens.insert(token.clone(), Instant::now() + self.token_lifetime);
        Response::json(
            200,
            &json!({
                "access_token": token,
                "expires_in": self.told_expires_in.unwrap_or(self.token_lifetime.as_secs()),
                "token_type": "Bearer",
            }),
        )
    }

    fn list_rrsets(&self, req: &Request) -> Response {
        let mut sets: Vec<&Value> = self
            .rrsets
            .iter()
            .filter(|r| req.query_param("name").is_none_or(|n| r["name"] == n))
            .filter(|r| req.query_param("type").is_none_or(|t| r["type"] == t))
            .collect();
        sets.sort_by_key(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["type"].to_string(),
            )
        });
        let start = match req.query_param("pageToken") {
            None => 0,
            Some(token) => match token.strip_prefix("offset-").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n <= sets.len() => n,
                _ => return error(400, "INVALID_ARGUMENT", "invalid", "Invalid value for 'pageToken'."),
            },
        };
        let asked = match req.query_param("maxResults") {
            None => self.max_page,
            Some(n) => match n.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => return error(400, "INVALID_ARGUMENT", "invalid", "Invalid value for 'maxResults'."),
            },
        };
        let end = (start + asked.min(self.max_page)).min(sets.len());
        let mut body = json!({"kind": "dns#resourceRecordSetsListResponse", "rrsets": sets[start..end]});
        if end < sets.len() {
            body["nextPageToken"] = json!(format!("offset-{end}"));
        }
        Response::json(200, &body)
    }

    fn create_change(&mut self, req: &Request) -> Response {
        let body = req.json();
        let parse = |field: &str| -> Result<Vec<Value>, Response> {
            let mut out = Vec::new();
            for (i, r) in body[field].as_array().cloned().unwrap_or_default().iter().enumerate() {
                let at = format!("entity.change.{field}[{i}]");
                let invalid = |what: &str| {
                    error(
                        400,
                        "INVALID_ARGUMENT",
                        "invalid",
                        &format!("Invalid value for '{at}.{what}'"),
                    )
                };
                let name = r["name"].as_str().unwrap_or_default();
                let rtype = r["type"].as_str().unwrap_or_default();
                // int32 in Google's JSON: a number, or a string of one (as the SDK sends).
                let ttl = match &r["ttl"] {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse::<u64>().ok(),
                    _ => None,
                };
                let rrdatas: Vec<String> = r["rrdatas"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                if !name.ends_with('.') || !(name == self.dns_name || name.ends_with(&format!(".{}", self.dns_name))) {
                    return Err(invalid("name"));
                }
                if !["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "CAA", "PTR", "SOA"].contains(&rtype) {
                    return Err(invalid("type"));
                }
                let Some(ttl) = ttl.filter(|t| *t <= i32::MAX as u64) else {
                    return Err(invalid("ttl"));
                };
                if rrdatas.is_empty() {
                    return Err(invalid("rrdatas"));
                }
                let rrdatas: Vec<&str> = rrdatas.iter().map(String::as_str).collect();
                out.push(rrset(name, rtype, ttl, &rrdatas));
            }
            Ok(out)
        };
        let (additions, deletions) = match (parse("additions"), parse("deletions")) {
            (Ok(a), Ok(d)) => (a, d),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        if additions.is_empty() && deletions.is_empty() {
            return error(
                400,
                "INVALID_ARGUMENT",
                "required",
                "The 'entity.change' parameter is required but was missing.",
            );
        }
        // All or nothing: work on a copy, keep it only if every step holds.
        let mut sets = self.rrsets.clone();
        let same = |a: &Value, b: &Value| a["name"] == b["name"] && a["type"] == b["type"];
        let values = |r: &Value| -> BTreeSet<String> {
            r["rrdatas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        for (i, d) in deletions.iter().enumerate() {
            let named = format!("{} ({})", d["name"].as_str().unwrap(), d["type"].as_str().unwrap());
            let Some(at) = sets.iter().position(|r| same(r, d)) else {
                return error(
                    404,
                    "NOT_FOUND",
                    "notFound",
                    &format!("The 'entity.change.deletions[{i}]' resource named '{named}' does not exist."),
                );
            };
            if sets[at]["ttl"] != d["ttl"] || values(&sets[at]) != values(d) {
                return error(
                    412,
                    "FAILED_PRECONDITION",
                    "conditionNotMet",
                    &format!("Precondition not met for 'entity.change.deletions[{i}]'"),
                );
            }
            sets.remove(at);
        }
        for (i, a) in additions.iter().enumerate() {
            let named = format!("{} ({})", a["name"].as_str().unwrap(), a["type"].as_str().unwrap());
            if sets.iter().any(|r| same(r, a)) {
                return error(
                    409,
                    "ALREADY_EXISTS",
                    "alreadyExists",
                    &format!("The resource 'entity.change.additions[{i}]' named '{named}' already exists"),
                );
            }
            let cname_clash = sets
                .iter()
                .any(|r| r["name"] == a["name"] && (r["type"] == "CNAME") != (a["type"] == "CNAME"));
            if cname_clash {
                return error(
                    400,
                    "INVALID_ARGUMENT",
                    "cnameResourceRecordSetConflict",
                    &format!(
                        "The resource record set 'entity.change.additions[{i}]' is invalid because a CNAME resource record set named '{}' cannot coexist with resource record sets of other types.",
                        a["name"].as_str().unwrap()
                    ),
                );
            }
            sets.push(a.clone());
        }
        self.rrsets = sets;
        let id = (self.changes.len() + 1).to_string();
        let change = json!({
            "kind": "dns#change",
            "id": id,
            "startTime": "2024-01-01T00:00:00.000Z",
            "status": if self.pending_polls == 0 { "done" } else { "pending" },
            "additions": additions,
            "deletions": deletions,
        });
        self.changes.push(change.clone());
        Response::json(200, &change)
    }

    fn get_change(&mut self, id: &str) -> Response {
        let Some(at) = self.changes.iter().position(|c| c["id"] == id) else {
            return error(
                404,
                "NOT_FOUND",
                "notFound",
                &format!("The 'parameters.changeId' resource named '{id}' does not exist."),
            );
        };
        let reads = self.reads.entry(id.to_string()).or_default();
        *reads += 1;
        if *reads >= self.pending_polls {
            self.changes[at]["status"] = json!("done");
        }
        Response::json(200, &self.changes[at])
    }
}

/// Where a key file is written for a test (a temp dir the caller keeps).
pub fn write_key(dir: &Path, json: &str) -> PathBuf {
    let path = dir.join("sa.json");
    std::fs::write(&path, json).unwrap();
    path
}
