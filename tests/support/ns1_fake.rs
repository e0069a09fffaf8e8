//! `FakeNs1`: an in-process NS1 REST API v1 (zones, records, API keys) built to the
//! published API and its official SDKs (ns1-python, ns1-go): `X-NSONE-Key`
//! authentication (401 `{"message": "Unauthorized"}` for an unknown key); `GET
//! /v1/zones/{zone}` with the zone's `dns_servers` and a summary of every record
//! (`domain`, `type`, `ttl`, `short_answers`), paged through `Link: <...>; rel="next"`
//! when a page size is set; `GET`/`PUT` (create)/`POST` (update)/`DELETE` on
//! `/v1/zones/{zone}/{domain}/{type}` with NS1's errors (`zone not found`, `record not
//! found` as 404, PUT over an existing record 400 `record already exists`), answers
//! stored with their `meta` (`weight`, `up`, `note` checked as NS1 types them) and the
//! record with its `filters` chain (known filters only), the summary's `tier` 1 for a
//! plain record, 2 with answer metadata, 3 with a filter chain; `GET
//! /v1/account/apikeys` listing keys with their permissions. Each key's permissions are
//! enforced: reading takes `dns.view_zones`, writing `dns.manage_zones`, both within the
//! zone allow/deny lists, listing keys `account.manage_apikeys` (403 otherwise).
//!
//! Rate limits: one token bucket per key and method (NS1 buckets by endpoint and
//! method), `limit` tokens refilling over `period` seconds; every answer carries
//! `X-Ratelimit-Limit`, `X-Ratelimit-Remaining`, `X-Ratelimit-Period` and
//! `X-Ratelimit-By`, and a request finding the bucket empty is answered 429.
//!
//! The official `ns1-python` SDK is run against it (tests/provider_ns1.rs) as an
//! independent check that it speaks the API the SDK expects.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http_fake::{FakeServer, Request, Response};

pub const KEY: &str = "ns1-test-key-0123456789abcdef";
pub const READ_ONLY_KEY: &str = "ns1-read-only-key-0123456789";
pub const DNS_SERVERS: [&str; 4] = [
    "dns1.p01.nsone.net",
    "dns2.p01.nsone.net",
    "dns3.p01.nsone.net",
    "dns4.p01.nsone.net",
];

/// One logged request and what it was answered.
#[derive(Clone, Debug)]
pub struct Logged {
    pub at: Instant,
    pub request: Request,
    pub status: u16,
}

/// An API key and its permissions, as `GET /account/apikeys` shows it.
#[derive(Clone, Debug)]
pub struct FakeKey {
    pub name: String,
    pub view_zones: bool,
    pub manage_zones: bool,
    pub zones_allow_by_default: bool,
    pub zones_allow: Vec<String>,
    pub zones_deny: Vec<String>,
    pub manage_apikeys: bool,
    pub teams: Vec<String>,
}

impl FakeKey {
    pub fn full(name: &str) -> Self {
        Self {
            name: name.into(),
            view_zones: true,
            manage_zones: true,
            zones_allow_by_default: true,
            zones_allow: vec![],
            zones_deny: vec![],
            manage_apikeys: true,
            teams: vec![],
        }
    }

    pub fn read_only(name: &str) -> Self {
        Self {
            manage_zones: false,
            ..Self::full(name)
        }
    }

    fn may(&self, zone: &str, write: bool) -> bool {
        let listed = |list: &[String]| list.iter().any(|z| z.trim_end_matches('.') == zone);
        let zone_ok = if self.zones_allow_by_default {
            !listed(&self.zones_deny)
        } else {
            listed(&self.zones_allow)
        };
        zone_ok && self.view_zones && (!write || self.manage_zones)
    }
}

/// A token bucket: `limit` tokens, refilled evenly over `period`.
#[derive(Clone, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct State {
    pub zone: String,
    /// Records by (domain, type), in NS1's full record form.
    pub records: BTreeMap<(String, String), Value>,
    pub keys: BTreeMap<String, FakeKey>,
    pub log: Vec<Logged>,
    /// Bucket size and period for every (key, method) bucket.
    pub limit: u32,
    pub period: Duration,
    buckets: HashMap<(String, String), Bucket>,
    /// Records per zone page; `None` answers the whole zone at once.
    pub page_size: Option<usize>,
    /// Fail the Nth (0-based) record write from now on with a 500.
    pub fail_write_after: Option<usize>,
    /// A record (a PUT body) another writer creates right after a GET finds it missing:
    /// the race between a re-read and the write that follows it.
    pub appear_on_miss: Option<Value>,
    next_id: u64,
    base_url: String,
}

pub struct FakeNs1 {
    pub state: Arc<Mutex<State>>,
    pub server: FakeServer,
}

impl FakeNs1 {
    /// A zone (e.g. `example.test`) with NS1's apex NS record, a full key (`KEY`) and a
    /// read-only one (`READ_ONLY_KEY`), and a bucket of 900 per 300 s (NS1's example of
    /// a GET route).
    pub fn start(zone: &str) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(KEY.to_string(), FakeKey::full("dnsteer"));
        keys.insert(READ_ONLY_KEY.to_string(), FakeKey::read_only("viewer"));
        let state = Arc::new(Mutex::new(State {
            zone: zone.to_string(),
            records: BTreeMap::new(),
            keys,
            log: Vec::new(),
            limit: 900,
            period: Duration::from_secs(300),
            buckets: HashMap::new(),
            page_size: None,
            fail_write_after: None,
            appear_on_miss: None,
            next_id: 0,
            base_url: String::new(),
        }));
        let handler_state = state.clone();
        let server = FakeServer::start(Arc::new(move |req: &Request| handle(&handler_state, req)));
        {
            let mut s = state.lock().unwrap();
            s.base_url = server.url();
            let ns: Vec<Value> = DNS_SERVERS.iter().map(|n| json!({"answer": [n]})).collect();
            let record = json!({"zone": zone, "domain": zone, "type": "NS", "ttl": 3600, "answers": ns});
            let record = s.materialise(&record).unwrap();
            s.records.insert((zone.to_string(), "NS".to_string()), record);
        }
        Self { state, server }
    }

    /// The API base, `/v1` included.
    pub fn url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// Adds or replaces a record directly (as another writer would): `answers` are
    /// NS1 answer field lists.
    pub fn put(&self, domain: &str, rtype: &str, ttl: u32, answers: Value) {
        let mut s = self.state.lock().unwrap();
        let answers: Vec<Value> = answers
            .as_array()
            .unwrap()
            .iter()
            .map(|a| json!({"answer": a}))
            .collect();
        let zone = s.zone.clone();
        let body = json!({"zone": zone, "domain": domain, "type": rtype, "ttl": ttl, "answers": answers});
        let record = s.materialise(&body).expect("a valid record");
        s.records.insert((domain.to_string(), rtype.to_string()), record);
    }

    /// Adds or replaces a record from a whole PUT body (answers with their `meta`,
    /// `filters`), as another writer would.
    pub fn put_record(&self, body: Value) {
        let mut s = self.state.lock().unwrap();
        let record = s.materialise(&body).expect("a valid record");
        let id = (
            record["domain"].as_str().unwrap().to_string(),
            record["type"].as_str().unwrap().to_string(),
        );
        s.records.insert(id, record);
    }

    /// A record in NS1's full form.
    pub fn record(&self, domain: &str, rtype: &str) -> Option<Value> {
        let s = self.state.lock().unwrap();
        s.records.get(&(domain.to_string(), rtype.to_string())).cloned()
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn set_bucket(&self, limit: u32, period: Duration) {
        let mut s = self.state.lock().unwrap();
        s.limit = limit;
        s.period = period;
        s.buckets.clear();
    }
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({"message": message}))
}

impl State {
    /// A record as NS1 stores it from a PUT body, or NS1's refusal.
    fn materialise(&mut self, body: &Value) -> Result<Value, Response> {
        let bad = |m: &str| Err(error(400, m));
        let domain = body["domain"].as_str().unwrap_or_default().trim_end_matches('.');
        let rtype = body["type"].as_str().unwrap_or_default().to_ascii_uppercase();
        if domain != self.zone && !domain.ends_with(&format!(".{}", self.zone)) {
            return bad("invalid: domain is not within the zone");
        }
        if !["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "CAA", "PTR", "ALIAS"].contains(&rtype.as_str()) {
            return bad("invalid: unsupported record type");
        }
        let Some(answers) = body["answers"].as_array().filter(|a| !a.is_empty()) else {
            return bad("invalid: a record needs at least one answer");
        };
        let mut stored = Vec::new();
        for a in answers {
            let Some(fields) = a["answer"].as_array() else {
                return bad("invalid: answer must be a list of rdata fields");
            };
            let text: Vec<String> = fields.iter().map(field_text).collect();
            let arity = match rtype.as_str() {
                "MX" => 2,
                "SRV" => 4,
                "CAA" => 3,
                _ => 1,
            };
            let valid = text.len() == arity
                && match rtype.as_str() {
                    "A" => text[0].parse::<std::net::Ipv4Addr>().is_ok(),
                    "AAAA" => text[0].parse::<std::net::Ipv6Addr>().is_ok(),
                    "MX" => text[0].parse::<u16>().is_ok(),
                    "SRV" => text[..3].iter().all(|n| n.parse::<u16>().is_ok()),
                    "CAA" => text[0].parse::<u8>().is_ok(),
                    _ => !text[0].is_empty(),
                };
            if !valid {
                return bad(&format!(
                    "invalid: answer {} is not valid {rtype} rdata",
                    Value::from(fields.clone())
                ));
            }
            let meta = a.get("meta").cloned().unwrap_or(json!({}));
            if let Err(m) = valid_answer_meta(&meta) {
                return bad(&m);
            }
            self.next_id += 1;
            stored.push(json!({"id": format!("{:024x}", self.next_id), "answer": fields, "meta": meta}));
        }
        let filters = body.get("filters").cloned().unwrap_or(json!([]));
        if let Err(m) = valid_filters(&filters) {
            return bad(&m);
        }
        let ttl = body["ttl"].as_u64().unwrap_or(3600);
        self.next_id += 1;
        Ok(json!({
            "id": format!("{:024x}", 0x5e00_0000u64 + self.next_id), "zone": self.zone, "domain": domain,
            "type": rtype, "ttl": ttl, "answers": stored, "filters": filters,
            "meta": {}, "link": null, "use_client_subnet": true, "networks": [0], "regions": {}, "tier": 1,
            "override_ttl": false, "blocked_tags": [], "tags": {}
        }))
    }

    /// The zone object, its records summarised.
    fn zone_object(&self, records: Vec<Value>) -> Value {
        json!({
            "id": "52051b2c9f782d58bb4df41b", "zone": self.zone, "ttl": 3600, "nx_ttl": 3600, "retry": 7200,
            "refresh": 43200, "expiry": 1209600, "serial": 1700000000, "hostmaster": format!("hostmaster@nsone.net"),
            "dns_servers": DNS_SERVERS, "networks": [0], "meta": {}, "link": null, "primary": {"enabled": false, "secondaries": []},
            "records": records, "dnssec": false, "views": []
        })
    }

    fn summary(record: &Value) -> Value {
        let short: Vec<String> = record["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                a["answer"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(field_text)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        json!({
            "id": record["id"], "domain": record["domain"], "type": record["type"], "ttl": record["ttl"],
            "short_answers": short, "link": null, "tier": tier(record)
        })
    }

    /// Takes one token from the (key, method) bucket; the headers to send and whether
    /// a token was there.
    fn spend(&mut self, key: &str, method: &str) -> (Vec<(String, String)>, bool) {
        let (limit, period) = (self.limit as f64, self.period);
        let now = Instant::now();
        let b = self
            .buckets
            .entry((key.to_string(), method.to_string()))
            .or_insert(Bucket {
                tokens: limit,
                last: now,
            });
        let refill = now.duration_since(b.last).as_secs_f64() * limit / period.as_secs_f64();
        b.tokens = (b.tokens + refill).min(limit);
        b.last = now;
        let granted = b.tokens >= 1.0;
        if granted {
            b.tokens -= 1.0;
        }
        let headers = vec![
            ("X-Ratelimit-Limit".to_string(), self.limit.to_string()),
            (
                "X-Ratelimit-Remaining".to_string(),
                (b.tokens.floor() as u64).to_string(),
            ),
            ("X-Ratelimit-Period".to_string(), period.as_secs().to_string()),
            ("X-Ratelimit-By".to_string(), "customer".to_string()),
        ];
        (headers, granted)
    }

    fn write_allowed(&mut self) -> Result<(), Response> {
        if let Some(n) = self.fail_write_after {
            if n == 0 {
                return Err(error(500, "internal error"));
            }
            self.fail_write_after = Some(n - 1);
        }
        Ok(())
    }

    fn route(&mut self, key: &FakeKey, req: &Request) -> Response {
        let Some(path) = req.path.strip_prefix("/v1/") else {
            return error(404, "Not Found");
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["account", "apikeys"]) => {
                if !key.manage_apikeys {
                    return error(403, "insufficient permissions");
                }
                let keys: Vec<Value> = self
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(i, (secret, k))| {
                        json!({
                            "id": format!("{:024x}", 0xa9e0 + i), "key": secret, "name": k.name, "last_access": 0,
                            "teams": k.teams, "ip_whitelist": [], "ip_whitelist_strict": false,
                            "permissions": {
                                "dns": {"view_zones": k.view_zones, "manage_zones": k.manage_zones,
                                        "zones_allow_by_default": k.zones_allow_by_default,
                                        "zones_allow": k.zones_allow, "zones_deny": k.zones_deny,
                                        "records_allow": [], "records_deny": []},
                                "account": {"manage_apikeys": k.manage_apikeys, "manage_users": false,
                                            "manage_payment_methods": false, "manage_plan": false, "manage_teams": false,
                                            "manage_account_settings": false, "view_activity_log": false,
                                            "view_invoices": false, "manage_ip_whitelist": false},
                                "data": {"push_to_datafeeds": false, "manage_datasources": false, "manage_datafeeds": false},
                                "monitoring": {"manage_lists": false, "manage_jobs": false, "view_jobs": false}
                            }
                        })
                    })
                    .collect();
                Response::json(200, &Value::from(keys))
            }
            (method, ["zones", zone, rest @ ..]) => {
                if *zone != self.zone {
                    return error(404, "zone not found");
                }
                let write = method != "GET";
                if !key.may(zone, write) {
                    return error(403, "insufficient permissions");
                }
                match (method, rest) {
                    ("GET", []) => self.get_zone(req),
                    (_, [domain, rtype]) => self.record_call(method, domain, rtype, req),
                    _ => error(404, "Not Found"),
                }
            }
            _ => error(404, "Not Found"),
        }
    }

    fn get_zone(&self, req: &Request) -> Response {
        let all: Vec<Value> = self.records.values().map(Self::summary).collect();
        let Some(size) = self.page_size else {
            return Response::json(200, &self.zone_object(all));
        };
        // An opaque cursor, as NS1's next-page links carry one.
        let from: usize = req.query_param("after").and_then(|a| a.parse().ok()).unwrap_or(0);
        let page: Vec<Value> = all.iter().skip(from).take(size).cloned().collect();
        let resp = Response::json(200, &self.zone_object(page));
        if from + size < all.len() {
            let next = format!("{}/v1/zones/{}?after={}", self.base_url, self.zone, from + size);
            resp.with_header("Link", &format!("<{next}>; rel=\"next\""))
        } else {
            resp
        }
    }

    fn record_call(&mut self, method: &str, domain: &str, rtype: &str, req: &Request) -> Response {
        let id = (domain.trim_end_matches('.').to_string(), rtype.to_ascii_uppercase());
        match method {
            "GET" => match self.records.get(&id) {
                Some(r) => Response::json(200, r),
                None => {
                    let racer = self
                        .appear_on_miss
                        .take_if(|b| b["domain"] == id.0 && b["type"] == id.1);
                    if let Some(body) = racer {
                        let record = self.materialise(&body).expect("a valid record");
                        self.records.insert(id, record);
                    }
                    error(404, "record not found")
                }
            },
            "PUT" => {
                if let Err(e) = self.write_allowed() {
                    return e;
                }
                let mut body = req.json();
                if !body.is_object() {
                    return error(400, "invalid: request body is not a JSON object");
                }
                body["domain"] = json!(id.0);
                body["type"] = json!(id.1);
                if self.records.contains_key(&id) {
                    return error(400, "record already exists");
                }
                match self.materialise(&body) {
                    Ok(record) => {
                        self.records.insert(id, record.clone());
                        Response::json(200, &record)
                    }
                    Err(e) => e,
                }
            }
            "POST" => {
                if let Err(e) = self.write_allowed() {
                    return e;
                }
                let Some(current) = self.records.get(&id).cloned() else {
                    return error(404, "record not found");
                };
                // The fields given replace the record's; the rest stays.
                let mut merged = current.clone();
                for (k, v) in req.json().as_object().into_iter().flatten() {
                    if ["ttl", "answers", "filters", "meta", "use_client_subnet"].contains(&k.as_str()) {
                        merged[k] = v.clone();
                    }
                }
                let answers: Vec<Value> = merged["answers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| json!({"answer": a["answer"], "meta": a.get("meta").cloned().unwrap_or(json!({}))}))
                    .collect();
                merged["answers"] = json!(answers);
                match self.materialise(&merged) {
                    Ok(mut record) => {
                        record["id"] = current["id"].clone();
                        self.records.insert(id, record.clone());
                        Response::json(200, &record)
                    }
                    Err(e) => e,
                }
            }
            "DELETE" => {
                if let Err(e) = self.write_allowed() {
                    return e;
                }
                match self.records.remove(&id) {
                    Some(_) => Response::json(200, &json!({})),
                    None => error(404, "record not found"),
                }
            }
            _ => error(405, "Method Not Allowed"),
        }
    }
}

/// A record's tier as NS1's zone summary gives it: 1 for plain answers, 2 once an
/// answer carries metadata, 3 with a filter chain.
fn tier(record: &Value) -> u64 {
    let chain = record["filters"].as_array().is_some_and(|f| !f.is_empty());
    let meta = record["answers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|a| a["meta"].as_object().is_some_and(|m| !m.is_empty()));
    if chain {
        3
    } else if meta {
        2
    } else {
        1
    }
}

/// The answer metadata fields the fake knows, checked as NS1 types them: `weight` a
/// number, `up` a boolean (or a data feed), `note` a string.
fn valid_answer_meta(meta: &Value) -> Result<(), String> {
    let Some(fields) = meta.as_object() else {
        return Err("invalid: answer meta must be an object".into());
    };
    for (k, v) in fields {
        let feed = v.get("feed").is_some();
        let ok = match k.as_str() {
            "weight" => v.as_f64().is_some_and(|w| w >= 0.0) || feed,
            "up" => v.is_boolean() || feed,
            "note" => v.is_string(),
            "priority" | "connections" | "requests" | "loadavg" => v.is_number() || feed,
            "georegion" | "country" | "us_state" | "ca_province" | "asn" | "ip_prefixes" | "pulsar" => true,
            _ => return Err(format!("invalid: unknown meta field {k}")),
        };
        if !ok {
            return Err(format!("invalid: meta field {k} has a value of the wrong type: {v}"));
        }
    }
    Ok(())
}

/// A filter chain: a list of `{"filter": name, "config": {...}}` of filters NS1 has.
fn valid_filters(filters: &Value) -> Result<(), String> {
    const KNOWN: [&str; 12] = [
        "up",
        "weighted_shuffle",
        "select_first_n",
        "shuffle",
        "priority",
        "geotarget_country",
        "geotarget_regional",
        "geofence_country",
        "netfence_asn",
        "netfence_prefix",
        "sticky",
        "shed_load",
    ];
    let Some(chain) = filters.as_array() else {
        return Err("invalid: filters must be a list".into());
    };
    for f in chain {
        let name = f["filter"].as_str().unwrap_or_default();
        if !KNOWN.contains(&name) {
            return Err(format!("invalid: unknown filter {name:?}"));
        }
        if f.get("config").is_some_and(|c| !c.is_object()) {
            return Err(format!("invalid: config of filter {name} must be an object"));
        }
        if name == "select_first_n" && f["config"]["N"].as_u64().is_none_or(|n| n == 0) {
            return Err("invalid: select_first_n needs a config N of at least 1".into());
        }
    }
    Ok(())
}

fn field_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn handle(state: &Mutex<State>, req: &Request) -> Response {
    let mut s = state.lock().unwrap();
    let presented = req.header("x-nsone-key").unwrap_or_default().to_string();
    let response = match s.keys.get(&presented).cloned() {
        None => error(401, "Unauthorized"),
        Some(key) => {
            let (headers, granted) = s.spend(&presented, &req.method);
            let mut response = if granted {
                s.route(&key, req)
            } else {
                error(429, "rate limit exceeded")
            };
            response.headers.extend(headers);
            response
        }
    };
    s.log.push(Logged {
        at: Instant::now(),
        request: req.clone(),
        status: response.status,
    });
    response
}
