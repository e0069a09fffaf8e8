//! `FakeAzure`: an in-process Azure DNS, written to the published REST API
//! (Microsoft.Network `dnsZones`, api-version 2018-05-01, as `azure-rest-api-specs` and
//! the `azure-mgmt-dns` models describe it), with the two services around it that a
//! client meets:
//!
//! - the Microsoft identity platform's token endpoint (`POST /{tenant}/oauth2/v2.0/token`,
//!   client-credentials grant; `invalid_client` 401 for a wrong secret, `invalid_request`
//!   400 for an unknown tenant) and its OpenID discovery document, which MSAL reads
//!   first;
//! - Azure Resource Manager: bearer tokens checked (401 `InvalidAuthenticationToken`),
//!   `api-version` required, paths matched without regard to case as ARM does, errors
//!   as `{"error": {"code", "message"}}`; the zone (`properties.nameServers`); record
//!   sets listed through `/recordsets` and `/all` in pages of `$top` (100 by default)
//!   linked by an absolute `nextLink`; one record set read, created or replaced (`PUT`,
//!   201 or 200) and deleted (`DELETE`, 200, or 204 when there was none), each write
//!   checked against `If-Match` (the set's etag; 412 `PreconditionFailed` otherwise, a
//!   missing set included) and `If-None-Match: *` (412 when the set exists); a new
//!   etag on every write; a CNAME refused beside other data (409); the apex NS and SOA
//!   sets kept; and the caller's permissions at the zone
//!   (`.../providers/Microsoft.Authorization/permissions`), which a test may narrow.
//!
//! It can answer 429 with `Retry-After`, fail the Nth write with a 500, and logs every
//! request. `start_tls` also serves it over HTTPS, for the official SDK (azure-identity
//! refuses a plain-HTTP authority): tests/provider_azure.rs runs `azure-mgmt-dns` with
//! `azure-identity` against it as an independent check.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

use super::http_fake::{parse_query, FakeServer, Request, Response, TestCa};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
pub const CLIENT_SECRET: &str = "azure-test-secret~0123456789";
pub const SUBSCRIPTION: &str = "00000000-1111-2222-3333-444444444444";
pub const RESOURCE_GROUP: &str = "dns-rg";
pub const DNS_API_VERSION: &str = "2018-05-01";
pub const NAME_SERVERS: [&str; 4] = [
    "ns1-01.azure-dns.com.",
    "ns2-01.azure-dns.net.",
    "ns3-01.azure-dns.org.",
    "ns4-01.azure-dns.info.",
];
/// What the built-in role "DNS Zone Contributor" grants.
pub const DNS_ZONE_CONTRIBUTOR: [&str; 7] = [
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.Network/dnsZones/*",
    "Microsoft.ResourceHealth/availabilityStatuses/read",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
];

/// One logged request.
#[derive(Clone, Debug)]
pub struct Logged {
    pub at: Instant,
    pub request: Request,
}

pub struct State {
    /// The zone's name, without the trailing dot.
    pub zone: String,
    /// Record sets by (relative name lowercase, TYPE), as ARM returns them.
    pub sets: BTreeMap<(String, String), Value>,
    pub log: Vec<Logged>,
    /// Tokens issued, and which are still accepted.
    pub tokens: Vec<String>,
    /// Seconds a new token lives.
    pub token_lifetime: u64,
    /// Answer the next ARM requests with 429 and this `Retry-After` (seconds).
    pub throttle: VecDeque<u64>,
    /// Fail the Nth (0-based) record set write from now on with a 500.
    pub fail_write_after: Option<usize>,
    /// The caller's permissions at the zone: `{actions, notActions, ...}` entries.
    pub permissions: Vec<Value>,
    /// Another writer rewrites the set the next write names just before that write
    /// arrives (same records, new etag): the race a compare-and-set must lose.
    pub race_next_write: bool,
    next_etag: u64,
}

pub struct FakeAzure {
    pub state: Arc<Mutex<State>>,
    pub server: FakeServer,
    tls: Option<FakeServer>,
}

impl FakeAzure {
    /// A zone (name without the trailing dot) with its SOA and its four Azure name
    /// servers at the apex, over plain HTTP.
    pub fn start(zone: &str) -> Self {
        Self::start_with(zone, None)
    }

    /// The same, also served over HTTPS with `ca`'s certificate.
    pub fn start_tls(zone: &str, ca: &TestCa) -> Self {
        Self::start_with(zone, Some(ca))
    }

    fn start_with(zone: &str, ca: Option<&TestCa>) -> Self {
        let state = Arc::new(Mutex::new(State {
            zone: zone.to_ascii_lowercase(),
            sets: BTreeMap::new(),
            log: Vec::new(),
            tokens: Vec::new(),
            token_lifetime: 3599,
            throttle: VecDeque::new(),
            fail_write_after: None,
            race_next_write: false,
            permissions: vec![json!({
                "actions": DNS_ZONE_CONTRIBUTOR, "notActions": [], "dataActions": [], "notDataActions": []
            })],
            next_etag: 0,
        }));
        {
            let mut s = state.lock().unwrap();
            let ns: Vec<Value> = NAME_SERVERS.iter().map(|n| json!({"nsdname": n})).collect();
            s.store("@", "NS", json!({"TTL": 172800, "NSRecords": ns}));
            let soa = json!({"host": NAME_SERVERS[0], "email": "azuredns-hostmaster.microsoft.com",
                             "serialNumber": 1, "refreshTime": 3600, "retryTime": 300, "expireTime": 2419200,
                             "minimumTTL": 300});
            s.store("@", "SOA", json!({"TTL": 3600, "SOARecord": soa}));
        }
        let handler = |scheme: &'static str, state: Arc<Mutex<State>>| -> super::http_fake::Handler {
            Arc::new(move |req: &Request| handle(&state, req, scheme))
        };
        let server = FakeServer::start(handler("http", state.clone()));
        let tls = ca.map(|ca| FakeServer::start_tls(handler("https", state.clone()), ca));
        Self { state, server, tls }
    }

    /// ARM's base URL (the adapter's `endpoint`) and the identity platform's
    /// (`authority`): one server answers both.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn https_url(&self) -> String {
        self.tls.as_ref().expect("started with start_tls").https_url()
    }

    /// Adds or replaces a record set directly (as another writer would): `properties`
    /// as ARM takes them. Returns its new etag.
    pub fn insert(&self, relative: &str, rtype: &str, properties: Value) -> String {
        let mut s = self.state.lock().unwrap();
        s.store(relative, rtype, properties)["etag"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A record set as stored.
    pub fn set(&self, relative: &str, rtype: &str) -> Option<Value> {
        let s = self.state.lock().unwrap();
        s.sets.get(&(relative.to_ascii_lowercase(), rtype.to_string())).cloned()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .map(|l| l.request.clone())
            .collect()
    }

    /// Writes (PUT, DELETE) that reached the record sets, successful or not.
    pub fn writes(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| matches!(r.method.as_str(), "PUT" | "DELETE" | "PATCH"))
            .collect()
    }

    /// Makes every token issued so far invalid, as a revoked or expired one is.
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }
}

fn arm_error(status: u16, code: &str, message: &str) -> Response {
    Response::json(status, &json!({"error": {"code": code, "message": message}}))
}

impl State {
    fn zone_id(&self) -> String {
        format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Network/dnszones/{}",
            self.zone
        )
    }

    fn etag(&mut self) -> String {
        self.next_etag += 1;
        format!(
            "{:08x}-0000-4000-8000-{:012x}",
            0x5eed_0000u64 + self.next_etag,
            self.next_etag
        )
    }

    /// Stores a set from its properties (already checked) with a new etag.
    fn store(&mut self, relative: &str, rtype: &str, properties: Value) -> Value {
        let relative = relative.to_ascii_lowercase();
        let fqdn = if relative == "@" {
            format!("{}.", self.zone)
        } else {
            format!("{relative}.{}.", self.zone)
        };
        let mut properties = properties;
        properties["fqdn"] = json!(fqdn);
        properties["provisioningState"] = json!("Succeeded");
        if properties.get("metadata").is_none() {
            properties["metadata"] = json!({});
        }
        let set = json!({
            "id": format!("{}/{rtype}/{relative}", self.zone_id()),
            "name": relative,
            "type": format!("Microsoft.Network/dnszones/{rtype}"),
            "etag": self.etag(),
            "properties": properties,
        });
        self.sets.insert((relative, rtype.to_string()), set.clone());
        set
    }

    fn zone(&self) -> Value {
        json!({
            "id": self.zone_id(), "name": self.zone, "type": "Microsoft.Network/dnszones",
            "location": "global", "tags": {}, "etag": "00000002-0000-0000-76c2-f7ad90b5d101",
            "properties": {"maxNumberOfRecordSets": 10000, "maxNumberOfRecordsPerRecordSet": 20,
                           "numberOfRecordSets": self.sets.len(), "nameServers": NAME_SERVERS,
                           "zoneType": "Public"}
        })
    }

    fn token(&mut self, req: &Request, base: &str) -> Response {
        let form: BTreeMap<String, String> = parse_query(&String::from_utf8_lossy(&req.body)).into_iter().collect();
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
        let aad = |status: u16, error: &str, description: &str| {
            Response::json(
                status,
                &json!({"error": error, "error_description": format!("{description}\r\nTrace ID: 0000\r\nCorrelation ID: 0000\r\nTimestamp: 2024-01-01 00:00:00Z"),
                        "error_codes": [], "timestamp": "2024-01-01 00:00:00Z", "trace_id": "0000", "correlation_id": "0000"}),
            )
        };
        if field("grant_type") != "client_credentials" {
            return aad(
                400,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            );
        }
        if field("client_id") != CLIENT_ID {
            return aad(
                400,
                "unauthorized_client",
                "AADSTS700016: Application was not found in the directory.",
            );
        }
        if field("client_secret") != CLIENT_SECRET {
            return aad(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            );
        }
        if field("scope") != "https://management.azure.com/.default" {
            return aad(
                400,
                "invalid_scope",
                "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
            );
        }
        let token = format!("eyJ0eXAiOiJKV1QifQ.fake-arm-token-{}.{base}", self.tokens.len() + 1);
        self.tokens.push(token.clone());
        Response::json(
            200,
            &json!({"token_type": "Bearer", "expires_in": self.token_lifetime, "ext_expires_in": self.token_lifetime,
                    "access_token": token}),
        )
    }

    /// Checks a set's properties against its type, as ARM does, returning them clean.
    fn validate(&self, rtype: &str, body: &Value) -> Result<Value, Response> {
        let bad = |m: String| Err(arm_error(400, "BadRequest", &m));
        let props = body.get("properties").cloned().unwrap_or(Value::Null);
        let Some(props) = props.as_object() else {
            return bad("The request body must contain 'properties'.".into());
        };
        let ttl = props.get("TTL").and_then(Value::as_u64);
        if ttl.is_none_or(|t| t > 2_147_483_647) {
            return bad("The value for the record set TTL is invalid.".into());
        }
        let field = match rtype {
            "A" => "ARecords",
            "AAAA" => "AAAARecords",
            "CNAME" => "CNAMERecord",
            "NS" => "NSRecords",
            "PTR" => "PTRRecords",
            "MX" => "MXRecords",
            "TXT" => "TXTRecords",
            "SRV" => "SRVRecords",
            "CAA" => "caaRecords",
            "SOA" => "SOARecord",
            other => return bad(format!("The record type '{other}' is not supported.")),
        };
        let record_fields = [
            "ARecords",
            "AAAARecords",
            "CNAMERecord",
            "NSRecords",
            "PTRRecords",
            "MXRecords",
            "TXTRecords",
            "SRVRecords",
            "caaRecords",
            "SOARecord",
        ];
        if let Some(other) = record_fields.iter().find(|f| **f != field && props.contains_key(**f)) {
            return bad(format!(
                "The property '{other}' is not allowed for record type '{rtype}'."
            ));
        }
        let records = props.get(field).cloned().unwrap_or(Value::Null);
        let list: Vec<Value> = match &records {
            Value::Array(list) => list.clone(),
            Value::Object(_) => vec![records.clone()],
            _ => return bad(format!("A record set of type '{rtype}' must contain {field}.")),
        };
        let text = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        let number = |r: &Value, k: &str, max: u64| r.get(k).and_then(Value::as_u64).filter(|n| *n <= max);
        for r in &list {
            let ok = match rtype {
                "A" => text(r, "ipv4Address").is_some_and(|a| a.parse::<std::net::Ipv4Addr>().is_ok()),
                "AAAA" => text(r, "ipv6Address").is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
                "CNAME" => text(r, "cname").is_some_and(|c| !c.is_empty()),
                "NS" => text(r, "nsdname").is_some_and(|c| !c.is_empty()),
                "PTR" => text(r, "ptrdname").is_some_and(|c| !c.is_empty()),
                "MX" => number(r, "preference", 65535).is_some() && text(r, "exchange").is_some_and(|e| !e.is_empty()),
                "TXT" => r
                    .get("value")
                    .and_then(Value::as_array)
                    .is_some_and(|v| !v.is_empty() && v.iter().all(|s| s.as_str().is_some_and(|s| s.len() <= 255))),
                "SRV" => {
                    ["priority", "weight", "port"]
                        .iter()
                        .all(|k| number(r, k, 65535).is_some())
                        && text(r, "target").is_some_and(|t| !t.is_empty())
                }
                "CAA" => {
                    number(r, "flags", 255).is_some()
                        && text(r, "tag").is_some_and(|t| ["issue", "issuewild", "iodef"].contains(&t.as_str()))
                        && text(r, "value").is_some()
                }
                _ => true,
            };
            if !ok {
                return bad(format!("The record {r} is not a valid {rtype} record."));
            }
        }
        let mut clean = json!({"TTL": ttl});
        clean[field] = records;
        if let Some(metadata) = props.get("metadata") {
            clean["metadata"] = metadata.clone();
        }
        Ok(clean)
    }

    /// PUT of one record set, with ARM's conditional headers.
    fn put(&mut self, req: &Request, relative: &str, rtype: &str) -> Response {
        let key = (relative.to_ascii_lowercase(), rtype.to_string());
        self.race(&key);
        let existing = self.sets.get(&key).cloned();
        if let Some(refused) = precondition(req, existing.as_ref(), &self.zone, relative, rtype) {
            return refused;
        }
        let properties = match self.validate(rtype, &req.json()) {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let others: Vec<&String> = self
            .sets
            .keys()
            .filter(|(name, t)| *name == key.0 && *t != rtype)
            .map(|(_, t)| t)
            .collect();
        if (rtype == "CNAME" && !others.is_empty()) || (others.iter().any(|t| *t == "CNAME")) {
            return arm_error(
                409,
                "Conflict",
                &format!("The record set {relative} of type {rtype} conflicts with a CNAME record set of the same name: a CNAME cannot share its name with other record sets."),
            );
        }
        if let Some(failed) = self.injected_failure() {
            return failed;
        }
        let set = self.store(relative, rtype, properties);
        Response::json(if existing.is_some() { 200 } else { 201 }, &set)
    }

    fn delete(&mut self, req: &Request, relative: &str, rtype: &str) -> Response {
        let key = (relative.to_ascii_lowercase(), rtype.to_string());
        self.race(&key);
        let existing = self.sets.get(&key).cloned();
        if let Some(refused) = precondition(req, existing.as_ref(), &self.zone, relative, rtype) {
            return refused;
        }
        if key.0 == "@" && (rtype == "NS" || rtype == "SOA") {
            return arm_error(
                400,
                "BadRequest",
                "The NS and SOA record sets at the zone apex cannot be deleted.",
            );
        }
        if let Some(failed) = self.injected_failure() {
            return failed;
        }
        match self.sets.remove(&key) {
            Some(_) => Response::new(200, "application/json", ""),
            None => Response::new(204, "application/json", ""),
        }
    }

    fn race(&mut self, key: &(String, String)) {
        if !std::mem::take(&mut self.race_next_write) {
            return;
        }
        if let Some(set) = self.sets.get(key).cloned() {
            self.store(&key.0, &key.1, set["properties"].clone());
        }
    }

    fn injected_failure(&mut self) -> Option<Response> {
        match self.fail_write_after {
            Some(0) => Some(arm_error(500, "InternalServerError", "An internal error occurred.")),
            Some(n) => {
                self.fail_write_after = Some(n - 1);
                None
            }
            None => None,
        }
    }

    /// One page of record sets (`$top` per page, `$skipToken` an offset), with an
    /// absolute `nextLink` back to the same listing while any are left.
    fn list(&self, req: &Request, base: &str) -> Response {
        let top = match req.query_param("$top").map(str::parse::<usize>) {
            None => 100,
            Some(Ok(n)) if (1..=1000).contains(&n) => n,
            Some(_) => return arm_error(400, "BadRequest", "The value of $top must be between 1 and 1000."),
        };
        let skip = match req
            .query_param("$skipToken")
            .map(|t| t.strip_prefix("rs").map(str::parse::<usize>))
        {
            None => 0,
            Some(Some(Ok(n))) => n,
            Some(_) => return arm_error(400, "BadRequest", "The $skipToken is invalid."),
        };
        let page: Vec<&Value> = self.sets.values().skip(skip).take(top).collect();
        let mut body = json!({"value": page});
        if skip + top < self.sets.len() {
            body["nextLink"] = json!(format!(
                "{base}{}?api-version={DNS_API_VERSION}&$top={top}&$skipToken=rs{}",
                req.path,
                skip + top
            ));
        }
        Response::json(200, &body)
    }
}

/// `If-Match` (the current etag, `*` for any) and `If-None-Match: *` against the set.
fn precondition(req: &Request, existing: Option<&Value>, zone: &str, relative: &str, rtype: &str) -> Option<Response> {
    let etag = existing.and_then(|s| s["etag"].as_str());
    if let Some(wanted) = req.header("if-match") {
        let wanted = wanted.trim().trim_matches('"');
        let ok = match etag {
            Some(current) => wanted == "*" || wanted == current,
            None => false,
        };
        if !ok {
            return Some(arm_error(
                412,
                "PreconditionFailed",
                &format!(
                    "The condition '{wanted}' in the If-Match header was not satisfied. The current was '{}'.",
                    etag.unwrap_or("n/a")
                ),
            ));
        }
    }
    if req.header("if-none-match").map(str::trim) == Some("*") && existing.is_some() {
        return Some(arm_error(
            412,
            "PreconditionFailed",
            &format!("The Resource 'Microsoft.Network/dnszones/{zone}/{rtype}/{relative}' already exists"),
        ));
    }
    None
}

fn handle(state: &Mutex<State>, req: &Request, scheme: &str) -> Response {
    let mut s = state.lock().unwrap();
    s.log.push(Logged {
        at: Instant::now(),
        request: req.clone(),
    });
    let base = format!("{scheme}://{}", req.header("host").unwrap_or("127.0.0.1"));
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();

    // The identity platform: no bearer token, its own error shape.
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", [tenant, "v2.0", ".well-known", "openid-configuration"]) if *tenant == TENANT => {
            return Response::json(
                200,
                &json!({
                    "token_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/token"),
                    "authorization_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/authorize"),
                    "device_authorization_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/devicecode"),
                    "issuer": format!("{base}/{TENANT}/v2.0"),
                    "jwks_uri": format!("{base}/{TENANT}/discovery/v2.0/keys"),
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                    "tenant_region_scope": "NA",
                }),
            );
        }
        ("POST", [tenant, "oauth2", "v2.0", "token"]) => {
            if *tenant != TENANT {
                return Response::json(
                    400,
                    &json!({"error": "invalid_request",
                            "error_description": format!("AADSTS90002: Tenant '{tenant}' not found.")}),
                );
            }
            return s.token(req, &base);
        }
        _ => {}
    }

    // Azure Resource Manager.
    let token = req.header("authorization").and_then(|a| a.strip_prefix("Bearer "));
    if !token.is_some_and(|t| s.tokens.iter().any(|issued| issued == t)) {
        return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.").with_header(
            "WWW-Authenticate",
            &format!("Bearer authorization_uri=\"{base}/{TENANT}\", error=\"invalid_token\", error_description=\"The access token is invalid.\""),
        );
    }
    if let Some(after) = s.throttle.pop_front() {
        return arm_error(
            429,
            "TooManyRequests",
            "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00.",
        )
        .with_header("Retry-After", &after.to_string());
    }
    let lower: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let ["subscriptions", sub, "resourcegroups", rg, "providers", "microsoft.network", "dnszones", zone, rest @ ..] =
        lower.as_slice()
    else {
        return arm_error(404, "NotFound", "The requested resource was not found.");
    };
    if *sub != SUBSCRIPTION {
        return arm_error(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        );
    }
    if *rg != RESOURCE_GROUP.to_ascii_lowercase() {
        return arm_error(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
        );
    }
    let zone_missing = *zone != s.zone;
    let not_found = |what: String| {
        arm_error(
            404,
            "ResourceNotFound",
            &format!("The Resource '{what}' under resource group '{RESOURCE_GROUP}' was not found."),
        )
    };
    let api_version = req.query_param("api-version");
    // The permissions read belongs to Microsoft.Authorization and has its own versions.
    if let ["providers", "microsoft.authorization", "permissions"] = rest {
        if !matches!(api_version, Some("2015-07-01" | "2018-01-01-preview" | "2022-04-01")) {
            return arm_error(400, "InvalidApiVersionParameter", "The api-version is invalid.");
        }
        if zone_missing {
            return not_found(format!("Microsoft.Network/dnszones/{zone}"));
        }
        return Response::json(200, &json!({"value": s.permissions, "nextLink": null}));
    }
    match api_version {
        None => {
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        }
        Some(DNS_API_VERSION) => {}
        Some(other) => {
            return arm_error(
                400,
                "InvalidApiVersionParameter",
                &format!("The api-version '{other}' is invalid. The supported versions are '{DNS_API_VERSION}'."),
            )
        }
    }
    if zone_missing {
        let code = if rest.is_empty() {
            "ResourceNotFound"
        } else {
            "ParentResourceNotFound"
        };
        return arm_error(
            404,
            code,
            &format!("Can not perform requested operation on nested resource. Parent resource '{zone}' not found."),
        );
    }
    // The record set's type and name as the request spelled them (the type in capitals).
    let original = |i: usize| parts[8 + i].to_string();
    match (req.method.as_str(), rest) {
        ("GET", []) => Response::json(200, &s.zone()),
        ("GET", ["recordsets"] | ["all"]) => s.list(req, &base),
        (method, [_, _]) => {
            let rtype = original(0).to_ascii_uppercase();
            let relative = original(1);
            match method {
                "GET" => match s.sets.get(&(relative.to_ascii_lowercase(), rtype.clone())) {
                    Some(set) => Response::json(200, set),
                    None => not_found(format!("Microsoft.Network/dnszones/{}/{rtype}/{relative}", s.zone)),
                },
                "PUT" => s.put(req, &relative, &rtype),
                "DELETE" => s.delete(req, &relative, &rtype),
                _ => arm_error(405, "MethodNotAllowed", "The requested method is not allowed."),
            }
        }
        _ => arm_error(404, "NotFound", "The requested resource was not found."),
    }
}
