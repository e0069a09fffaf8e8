//! `FakeCloudflare`: an in-process Cloudflare API v4 (zones and DNS records) built to the
//! published API reference: the `{success, errors, messages, result, result_info}`
//! envelope; Bearer-token authentication (error 10000, HTTP 403, otherwise); page-number
//! pagination (`page`, `per_page`, `result_info.total_pages`); create, get, patch, put
//! and delete of records; `POST .../dns_records/batch` executing deletes, patches, puts,
//! posts in that order as one transaction; Cloudflare's record rules (one CNAME per name
//! and none beside A/AAAA, identical records refused, TTL 1 = automatic or 60..86400,
//! only A/AAAA/CNAME proxiable, proxied records always TTL 1, MX priority apart from the
//! content). It logs every request and can answer 429 with `Retry-After`, or hide the
//! batch endpoint (as an account without it would).
//!
//! The official `cloudflare` Python SDK is run against it (tests/provider_cloudflare.rs)
//! as an independent check that it speaks the API the SDK expects.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

use super::http_fake::{FakeServer, Request, Response};

pub const TOKEN: &str = "cf-test-token-0123456789";
pub const ZONE_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";

/// One logged request.
#[derive(Clone, Debug)]
pub struct Logged {
    pub at: Instant,
    pub request: Request,
}

#[derive(Default)]
pub struct State {
    pub zone: String,
    /// Records as Cloudflare returns them.
    pub records: Vec<Value>,
    pub log: Vec<Logged>,
    /// Answer the next requests with 429 and this `Retry-After` (seconds).
    pub throttle: VecDeque<u64>,
    /// Whether `/dns_records/batch` exists.
    pub batch_available: bool,
    /// Fail the Nth (0-based) single-record write from now on with a 500.
    pub fail_write_after: Option<usize>,
    next_id: u64,
}

pub struct FakeCloudflare {
    pub state: Arc<Mutex<State>>,
    pub server: FakeServer,
}

impl FakeCloudflare {
    /// A zone (name without the trailing dot, e.g. `example.test`) with its two
    /// Cloudflare name servers.
    pub fn start(zone: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            zone: zone.to_string(),
            batch_available: true,
            ..State::default()
        }));
        {
            let mut s = state.lock().unwrap();
            for ns in ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"] {
                let r = json!({"name": zone, "type": "NS", "content": ns, "ttl": 86400});
                let record = s.materialise(&r, None).unwrap();
                s.records.push(record);
            }
        }
        let handler_state = state.clone();
        let server = FakeServer::start(Arc::new(move |req: &Request| handle(&handler_state, req)));
        Self { state, server }
    }

    pub fn url(&self) -> String {
        format!("{}/client/v4", self.server.url())
    }

    /// Adds a record directly (as another writer would), returning it.
    pub fn insert(&self, record: Value) -> Value {
        let mut s = self.state.lock().unwrap();
        let r = s.materialise(&record, None).expect("a valid record");
        s.records.push(r.clone());
        r
    }

    pub fn records(&self, name: &str, rtype: &str) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.records
            .iter()
            .filter(|r| r["name"] == name && r["type"] == rtype)
            .cloned()
            .collect()
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
}

fn envelope(result: Value) -> Value {
    json!({"success": true, "errors": [], "messages": [], "result": result})
}

fn failure(status: u16, code: i64, message: &str) -> Response {
    Response::json(
        status,
        &json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null}),
    )
}

type Failure = (u16, i64, String);

impl State {
    /// A record as Cloudflare would store it from a create/put body, or why it refuses.
    fn materialise(&mut self, body: &Value, id: Option<&str>) -> Result<Value, Failure> {
        let bad = |code: i64, m: &str| Err((400, code, m.to_string()));
        let name = body["name"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let rtype = body["type"].as_str().unwrap_or_default().to_string();
        // SRV and CAA are written as their components (`data`); content is then
        // formatted from them, as the API reference says the answer carries it.
        let (content, data) = match rtype.as_str() {
            "SRV" | "CAA" => match components(&rtype, &body["data"]) {
                Some(formatted) => (formatted, body["data"].clone()),
                None => {
                    return bad(
                        9101,
                        "DNS Validation Error: data is required and must hold every component",
                    )
                }
            },
            _ => (body["content"].as_str().unwrap_or_default().to_string(), Value::Null),
        };
        if name.is_empty() {
            return bad(9007, "DNS Validation Error: name required");
        }
        if name != self.zone && !name.ends_with(&format!(".{}", self.zone)) {
            return bad(9007, "DNS Validation Error: record name is outside the zone");
        }
        if !["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "CAA", "PTR"].contains(&rtype.as_str()) {
            return bad(9000, "DNS Validation Error: invalid or unsupported record type");
        }
        let valid = match rtype.as_str() {
            "A" => content.parse::<std::net::Ipv4Addr>().is_ok(),
            "AAAA" => content.parse::<std::net::Ipv6Addr>().is_ok(),
            _ => !content.is_empty(),
        };
        if !valid {
            return bad(9005, "Content for the record is invalid.");
        }
        let proxiable = matches!(rtype.as_str(), "A" | "AAAA" | "CNAME");
        let proxied = body["proxied"].as_bool().unwrap_or(false);
        if proxied && !proxiable {
            return bad(9004, "This record type cannot be proxied.");
        }
        let ttl = body["ttl"].as_u64().unwrap_or(1);
        if ttl != 1 && !(60..=86400).contains(&ttl) {
            return bad(
                9021,
                "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
            );
        }
        let ttl = if proxied { 1 } else { ttl };
        let id = match id {
            Some(id) => id.to_string(),
            None => {
                self.next_id += 1;
                format!(
                    "{:032x}",
                    0x3725_0000_0000_0000u64 as u128 * 1_000_003 + self.next_id as u128
                )
            }
        };
        let now = "2024-01-01T00:00:00.000000Z";
        let mut record = json!({
            "id": id, "zone_id": ZONE_ID, "zone_name": self.zone, "name": name, "type": rtype, "content": content,
            "proxiable": proxiable, "proxied": proxied, "ttl": ttl, "settings": {}, "meta": {}, "comment": body.get("comment").cloned().unwrap_or(Value::Null),
            "tags": [], "created_on": now, "modified_on": now
        });
        if !data.is_null() {
            record["data"] = data;
        }
        if rtype == "MX" {
            let priority = body["priority"].as_u64();
            if priority.is_none() {
                return bad(9100, "DNS Validation Error: MX records need a priority");
            }
            record["priority"] = json!(priority);
        }
        Ok(record)
    }

    /// Cloudflare's rules between records of one name.
    fn check_neighbours(&self, record: &Value, replacing: Option<&str>) -> Result<(), Failure> {
        let others: Vec<&Value> = self
            .records
            .iter()
            .filter(|r| r["name"] == record["name"] && Some(r["id"].as_str().unwrap()) != replacing)
            .collect();
        let rtype = record["type"].as_str().unwrap();
        for o in &others {
            let otype = o["type"].as_str().unwrap();
            let address_or_cname = |t: &str| matches!(t, "A" | "AAAA" | "CNAME");
            if (rtype == "CNAME" || otype == "CNAME") && address_or_cname(rtype) && address_or_cname(otype) {
                return Err((
                    400,
                    81053,
                    "An A, AAAA, or CNAME record with that host already exists.".into(),
                ));
            }
            if otype == rtype && o["content"] == record["content"] && o.get("priority") == record.get("priority") {
                return Err((400, 81058, "An identical record already exists.".into()));
            }
        }
        Ok(())
    }

    fn create(&mut self, body: &Value) -> Result<Value, Failure> {
        let record = self.materialise(body, None)?;
        self.check_neighbours(&record, None)?;
        self.records.push(record.clone());
        Ok(record)
    }

    fn index(&self, id: &str) -> Result<usize, Failure> {
        self.records
            .iter()
            .position(|r| r["id"] == id)
            .ok_or((404, 81044, "Record does not exist.".into()))
    }

    fn delete(&mut self, id: &str) -> Result<Value, Failure> {
        let i = self.index(id)?;
        self.records.remove(i);
        Ok(json!({"id": id}))
    }

    /// PATCH: the given fields over the record; PUT: the body replaces it.
    fn update(&mut self, id: &str, body: &Value, put: bool) -> Result<Value, Failure> {
        let i = self.index(id)?;
        let mut merged = if put { json!({}) } else { self.records[i].clone() };
        if !put && body.get("ttl").is_some() && body.get("proxied").is_none() {
            // A patch that leaves `proxied` out keeps it.
            merged["proxied"] = self.records[i]["proxied"].clone();
        }
        for (k, v) in body.as_object().into_iter().flatten() {
            merged[k] = v.clone();
        }
        let record = self.materialise(&merged, Some(id))?;
        self.check_neighbours(&record, Some(id))?;
        self.records[i] = record.clone();
        Ok(record)
    }

    fn batch(&mut self, body: &Value) -> Result<Value, Failure> {
        let saved = self.records.clone();
        let result = (|| {
            let mut out = json!({"deletes": [], "patches": [], "puts": [], "posts": []});
            for d in body["deletes"].as_array().into_iter().flatten() {
                let i = self.index(d["id"].as_str().unwrap_or_default())?;
                out["deletes"].as_array_mut().unwrap().push(self.records.remove(i));
            }
            for p in body["patches"].as_array().into_iter().flatten() {
                let r = self.update(p["id"].as_str().unwrap_or_default(), &without_id(p), false)?;
                out["patches"].as_array_mut().unwrap().push(r);
            }
            for p in body["puts"].as_array().into_iter().flatten() {
                let r = self.update(p["id"].as_str().unwrap_or_default(), &without_id(p), true)?;
                out["puts"].as_array_mut().unwrap().push(r);
            }
            for p in body["posts"].as_array().into_iter().flatten() {
                let r = self.create(p)?;
                out["posts"].as_array_mut().unwrap().push(r);
            }
            Ok(out)
        })();
        if result.is_err() {
            self.records = saved; // one transaction: nothing of a failed batch stays
        }
        result
    }
}

/// The content of an SRV (`priority weight port target`) or CAA (`flags tag "value"`)
/// record from its `data`, or `None` when a component is missing or out of range.
fn components(rtype: &str, data: &Value) -> Option<String> {
    let number = |key: &str, max: u64| data[key].as_u64().filter(|n| *n <= max);
    match rtype {
        "SRV" => {
            let target = data["target"].as_str().filter(|t| !t.is_empty())?;
            Some(format!(
                "{} {} {} {target}",
                number("priority", 65535)?,
                number("weight", 65535)?,
                number("port", 65535)?
            ))
        }
        "CAA" => {
            let tag = data["tag"]
                .as_str()
                .filter(|t| ["issue", "issuewild", "iodef"].contains(t))?;
            Some(format!(
                "{} {tag} \"{}\"",
                number("flags", 255)?,
                data["value"].as_str()?
            ))
        }
        _ => None,
    }
}

/// The zone object of List Zones and Zone Details, with the nameservers Cloudflare
/// assigned the account (`name_servers`).
fn zone_details(zone: &str) -> Value {
    json!({"id": ZONE_ID, "name": zone, "status": "active", "paused": false, "type": "full",
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"]})
}

fn without_id(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
    }
    v
}

fn handle(state: &Mutex<State>, req: &Request) -> Response {
    let mut s = state.lock().unwrap();
    s.log.push(Logged {
        at: Instant::now(),
        request: req.clone(),
    });
    if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return failure(403, 10000, "Authentication error");
    }
    if let Some(after) = s.throttle.pop_front() {
        return failure(429, 971, "Please wait and consider throttling your request speed")
            .with_header("Retry-After", &after.to_string());
    }
    let Some(path) = req.path.strip_prefix("/client/v4") else {
        return failure(404, 7000, "No route for that URI");
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let result = match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["zones"]) => {
            let wanted = req.query_param("name");
            let zones: Vec<Value> = if wanted.is_none_or(|w| w == s.zone) {
                vec![zone_details(&s.zone)]
            } else {
                vec![]
            };
            return Response::json(200, &paginated(zones, req));
        }
        (_, ["zones", zone, ..]) if *zone != ZONE_ID => {
            return failure(
                404,
                7003,
                "Could not route to /zones/..., perhaps your object identifier is invalid?",
            )
        }
        // Zone Details: the same zone object as the list, assigned nameservers included.
        ("GET", ["zones", _]) => Ok(zone_details(&s.zone)),
        ("GET", ["zones", _, "dns_records"]) => {
            let mut records: Vec<Value> = s
                .records
                .iter()
                .filter(|r| {
                    req.query_param("name")
                        .is_none_or(|n| r["name"] == n.trim_end_matches('.'))
                })
                .filter(|r| req.query_param("type").is_none_or(|t| r["type"] == t))
                .cloned()
                .collect();
            records.sort_by(|a, b| {
                (a["type"].as_str(), a["name"].as_str()).cmp(&(b["type"].as_str(), b["name"].as_str()))
            });
            return Response::json(200, &paginated(records, req));
        }
        ("POST", ["zones", _, "dns_records", "batch"]) => {
            if !s.batch_available {
                return failure(404, 7000, "No route for that URI");
            }
            s.batch(&req.json())
        }
        ("POST", ["zones", _, "dns_records"]) => single_write(&mut s, |s| s.create(&req.json())),
        ("GET", ["zones", _, "dns_records", id]) => s.index(id).map(|i| s.records[i].clone()),
        ("PATCH", ["zones", _, "dns_records", id]) => single_write(&mut s, |s| s.update(id, &req.json(), false)),
        ("PUT", ["zones", _, "dns_records", id]) => single_write(&mut s, |s| s.update(id, &req.json(), true)),
        ("DELETE", ["zones", _, "dns_records", id]) => single_write(&mut s, |s| s.delete(id)),
        _ => return failure(404, 7000, "No route for that URI"),
    };
    match result {
        Ok(result) => Response::json(200, &envelope(result)),
        Err((status, code, message)) => failure(status, code, &message),
    }
}

fn single_write(s: &mut State, op: impl FnOnce(&mut State) -> Result<Value, Failure>) -> Result<Value, Failure> {
    if let Some(n) = s.fail_write_after {
        if n == 0 {
            return Err((500, 10002, "Internal error".into()));
        }
        s.fail_write_after = Some(n - 1);
    }
    op(s)
}

/// Page-number pagination: `page` (from 1), `per_page` (default 100, 5..=5,000,000).
fn paginated(items: Vec<Value>, req: &Request) -> Value {
    let per_page = req
        .query_param("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(5, 5_000_000);
    let page = req
        .query_param("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = items.len();
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    json!({
        "success": true, "errors": [], "messages": [], "result": slice,
        "result_info": {"page": page, "per_page": per_page, "count": slice.len(), "total_count": total,
                        "total_pages": total.div_ceil(per_page).max(1)}
    })
}
