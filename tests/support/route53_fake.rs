//! `FakeRoute53`: an in-process Route 53 that enforces what the API reference documents
//! and moto does not: a change batch is atomic (validated whole, then applied whole); a
//! DELETE must name a set that exists with exactly its TTL, values and (for a set of a
//! weighted record, named by its SetIdentifier) Weight; a CREATE must not
//! meet an existing set; a request carries at most 1,000 ResourceRecord elements and
//! 32,000 characters of values. It also counts requests (with their times) and can
//! answer Throttling / PriorRequestNotComplete on demand, and AccessDenied to change
//! batches that touch given names, as IAM does for a policy whose
//! `route53:ChangeResourceRecordSetsNormalizedRecordNames` condition leaves them out
//! (IAM answers before Route 53 reads the batch's content).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::http_fake::{FakeServer, Request, Response};

pub const ZONE_ID: &str = "ZFAKE123";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeSet {
    pub ttl: u32,
    pub values: Vec<String>,
    pub weight: Option<u32>,
}

#[derive(Default)]
pub struct State {
    pub zone: String,
    /// (name, type, SetIdentifier or "") → set; names absolute lowercase.
    pub sets: BTreeMap<(String, String, String), FakeSet>,
    /// Every request: (when, method, path).
    pub log: Vec<(Instant, String, String)>,
    /// Change batches accepted, each as its list of (action, name, type).
    pub batches: Vec<Vec<(String, String, String)>>,
    /// Error codes to answer the next requests with (HTTP 400), front first.
    pub inject: VecDeque<&'static str>,
    /// GetChange answers PENDING this many times before INSYNC.
    pub pending_polls: usize,
    /// Names (absolute, lowercase) the credentials may not change: a batch touching
    /// one is refused AccessDenied (HTTP 403) whatever else it holds.
    pub denied_names: Vec<String>,
}

pub struct FakeRoute53 {
    pub state: Arc<Mutex<State>>,
    pub server: FakeServer,
}

impl FakeRoute53 {
    pub fn start(zone: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            zone: zone.to_string(),
            ..State::default()
        }));
        {
            let mut s = state.lock().unwrap();
            s.sets.insert(
                (zone.into(), "SOA".into(), String::new()),
                FakeSet {
                    ttl: 900,
                    values: vec![format!("ns-1.fake. hostmaster.{zone} 1 7200 900 1209600 86400")],
                    weight: None,
                },
            );
            s.sets.insert(
                (zone.into(), "NS".into(), String::new()),
                FakeSet {
                    ttl: 172800,
                    values: vec!["ns-1.fake.".into()],
                    weight: None,
                },
            );
        }
        let handler_state = state.clone();
        let server = FakeServer::start(Arc::new(move |req: &Request| handle(&handler_state, req)));
        Self { state, server }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn set(&self, name: &str, rtype: &str, ttl: u32, values: &[&str]) {
        let mut s = self.state.lock().unwrap();
        s.sets.insert(
            (name.into(), rtype.into(), String::new()),
            FakeSet {
                ttl,
                values: values.iter().map(|v| v.to_string()).collect(),
                weight: None,
            },
        );
    }

    pub fn get(&self, name: &str, rtype: &str) -> Option<FakeSet> {
        self.state
            .lock()
            .unwrap()
            .sets
            .get(&(name.to_string(), rtype.to_string(), String::new()))
            .cloned()
    }

    /// The set `set_id` of a weighted record.
    pub fn get_weighted(&self, name: &str, rtype: &str, set_id: &str) -> Option<FakeSet> {
        self.state
            .lock()
            .unwrap()
            .sets
            .get(&(name.to_string(), rtype.to_string(), set_id.to_string()))
            .cloned()
    }
}

fn error(code: &str, message: &str) -> Response {
    Response::new(
        400,
        "text/xml",
        format!(
            r#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>"#
        ),
    )
}

fn invalid_change_batch(messages: &[String]) -> Response {
    let body: String = messages
        .iter()
        .map(|m| format!("<Message>{}</Message>", xml_escape(m)))
        .collect();
    Response::new(
        400,
        "text/xml",
        format!(
            r#"<?xml version="1.0"?><InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Messages>{body}</Messages><RequestId>fake</RequestId></InvalidChangeBatch>"#
        ),
    )
}

fn handle(state: &Mutex<State>, req: &Request) -> Response {
    let mut s = state.lock().unwrap();
    s.log.push((Instant::now(), req.method.clone(), req.path.clone()));
    let auth = req.header("authorization").unwrap_or_default();
    if !auth.starts_with("AWS4-HMAC-SHA256 Credential=") || !auth.contains("/us-east-1/route53/aws4_request") {
        return Response::new(
            403,
            "text/xml",
            "<ErrorResponse><Error><Code>IncompleteSignature</Code><Message>unsigned</Message></Error></ErrorResponse>",
        );
    }
    if let Some(code) = s.inject.pop_front() {
        return error(code, "Rate exceeded");
    }
    let zone = s.zone.clone();
    let path = req.path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET", "/2013-04-01/hostedzonesbyname") => {
            let name = req.query_param("dnsname").unwrap_or_default().to_string();
            let zones = if name.trim_end_matches('.') == zone.trim_end_matches('.') {
                format!("<HostedZone><Id>/hostedzone/{ZONE_ID}</Id><Name>{zone}</Name><CallerReference>x</CallerReference><Config><PrivateZone>false</PrivateZone></Config></HostedZone>")
            } else {
                String::new()
            };
            Response::new(200, "text/xml", format!("<ListHostedZonesByNameResponse><HostedZones>{zones}</HostedZones><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesByNameResponse>"))
        }
        ("GET", p) if p == format!("/2013-04-01/hostedzone/{ZONE_ID}/rrset") => list(&s, req),
        ("POST", p) if p == format!("/2013-04-01/hostedzone/{ZONE_ID}/rrset") => change(&mut s, req),
        ("GET", p) if p.starts_with("/2013-04-01/change/") => {
            let status = if s.pending_polls > 0 {
                s.pending_polls -= 1;
                "PENDING"
            } else {
                "INSYNC"
            };
            Response::new(200, "text/xml", format!("<GetChangeResponse><ChangeInfo><Id>/change/CFAKE</Id><Status>{status}</Status><SubmittedAt>2024-01-01T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>"))
        }
        (_, p) if p.starts_with("/2013-04-01/hostedzone/") => error("NoSuchHostedZone", "No hosted zone found"),
        _ => Response::new(404, "text/plain", "no such route"),
    }
}

fn list(s: &State, req: &Request) -> Response {
    let max: usize = req.query_param("maxitems").and_then(|m| m.parse().ok()).unwrap_or(300);
    let start = req.query_param("name").map(|n| {
        (
            n.to_string(),
            req.query_param("type").unwrap_or_default().to_string(),
            req.query_param("identifier").unwrap_or_default().to_string(),
        )
    });
    // Route 53 lists in its own order (reversed labels); any total order works for paging.
    let all: Vec<_> = s
        .sets
        .iter()
        .filter(|(k, _)| start.as_ref().is_none_or(|st| *k >= st))
        .collect();
    let page = &all[..all.len().min(max)];
    let mut xml = String::from("<ListResourceRecordSetsResponse><ResourceRecordSets>");
    for ((name, rtype, id), set) in page {
        let escaped = name.replace('*', "\\052");
        xml.push_str(&format!(
            "<ResourceRecordSet><Name>{escaped}</Name><Type>{rtype}</Type>"
        ));
        if let Some(weight) = set.weight {
            xml.push_str(&format!(
                "<SetIdentifier>{}</SetIdentifier><Weight>{weight}</Weight>",
                xml_escape(id)
            ));
        }
        xml.push_str(&format!("<TTL>{}</TTL><ResourceRecords>", set.ttl));
        for v in &set.values {
            xml.push_str(&format!(
                "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                xml_escape(v)
            ));
        }
        xml.push_str("</ResourceRecords></ResourceRecordSet>");
    }
    xml.push_str("</ResourceRecordSets>");
    if all.len() > max {
        let ((n, t, id), _) = all[max];
        xml.push_str(&format!(
            "<IsTruncated>true</IsTruncated><NextRecordName>{n}</NextRecordName><NextRecordType>{t}</NextRecordType>"
        ));
        if !id.is_empty() {
            xml.push_str(&format!(
                "<NextRecordIdentifier>{}</NextRecordIdentifier>",
                xml_escape(id)
            ));
        }
    } else {
        xml.push_str("<IsTruncated>false</IsTruncated>");
    }
    xml.push_str(&format!("<MaxItems>{max}</MaxItems></ListResourceRecordSetsResponse>"));
    Response::new(200, "text/xml", xml)
}

struct WireChange {
    action: String,
    name: String,
    rtype: String,
    ttl: u32,
    values: Vec<String>,
    set_id: String,
    weight: Option<u32>,
}

fn change(s: &mut State, req: &Request) -> Response {
    let body = String::from_utf8_lossy(&req.body).to_string();
    let changes: Vec<WireChange> = elements(&body, "Change")
        .into_iter()
        .map(|c| WireChange {
            action: text(&c, "Action"),
            name: text(&c, "Name").to_ascii_lowercase(),
            rtype: text(&c, "Type"),
            ttl: text(&c, "TTL").parse().unwrap_or(0),
            values: elements(&c, "Value").into_iter().map(|v| xml_unescape(&v)).collect(),
            set_id: text(&c, "SetIdentifier"),
            weight: elements(&c, "Weight").first().map(|w| w.parse().unwrap_or(0)),
        })
        .collect();
    let records: usize = changes
        .iter()
        .map(|c| c.values.len() * if c.action == "UPSERT" { 2 } else { 1 })
        .sum();
    let chars: usize = changes
        .iter()
        .map(|c| c.values.iter().map(|v| v.chars().count()).sum::<usize>())
        .sum();
    if let Some(denied) = changes.iter().find(|c| s.denied_names.contains(&c.name)) {
        return Response::new(
            403,
            "text/xml",
            format!(
                r#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/dnsteer is not authorized to perform: route53:ChangeResourceRecordSets on resource: arn:aws:route53:::hostedzone/{ZONE_ID} because no identity-based policy allows the route53:ChangeResourceRecordSets action ({})</Message></Error><RequestId>fake</RequestId></ErrorResponse>"#,
                xml_escape(&denied.name)
            ),
        );
    }
    if records > 1000 {
        return invalid_change_batch(&["Number of records limit of 1000 exceeded.".into()]);
    }
    if chars > 32_000 {
        return invalid_change_batch(&["Number of characters limit of 32000 exceeded.".into()]);
    }
    // Validate the whole batch against a working copy; apply only if all of it holds.
    let mut work = s.sets.clone();
    let mut problems = Vec::new();
    for c in &changes {
        let key = (c.name.clone(), c.rtype.clone(), c.set_id.clone());
        let mut values = c.values.clone();
        values.sort();
        match c.action.as_str() {
            "CREATE" => match work.entry(key) {
                std::collections::btree_map::Entry::Occupied(_) => problems.push(format!(
                    "Tried to create resource record set [name='{}', type='{}'] but it already exists",
                    c.name, c.rtype
                )),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(FakeSet {
                        ttl: c.ttl,
                        values,
                        weight: c.weight,
                    });
                }
            },
            "DELETE" => match work.get(&key) {
                None => problems.push(format!(
                    "Tried to delete resource record set [name='{}', type='{}'] but it was not found",
                    c.name, c.rtype
                )),
                Some(cur) => {
                    let mut cur_values = cur.values.clone();
                    cur_values.sort();
                    if cur.ttl != c.ttl || cur_values != values || cur.weight != c.weight {
                        problems.push(format!("Tried to delete resource record set [name='{}', type='{}'] but the values provided do not match the current values", c.name, c.rtype));
                    } else {
                        work.remove(&key);
                    }
                }
            },
            "UPSERT" => {
                work.insert(
                    key,
                    FakeSet {
                        ttl: c.ttl,
                        values,
                        weight: c.weight,
                    },
                );
            }
            other => problems.push(format!("unknown action {other}")),
        }
    }
    if !problems.is_empty() {
        return invalid_change_batch(&problems);
    }
    s.sets = work;
    s.batches.push(
        changes
            .iter()
            .map(|c| (c.action.clone(), c.name.clone(), c.rtype.clone()))
            .collect(),
    );
    Response::new(200, "text/xml", "<ChangeResourceRecordSetsResponse><ChangeInfo><Id>/change/CFAKE</Id><Status>PENDING</Status><SubmittedAt>2024-01-01T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>")
}

/// The inner XML of every `<tag>` element (not nested in itself).
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(after[..end].to_string());
        rest = &after[end + close.len()..];
    }
    out
}

fn text(xml: &str, tag: &str) -> String {
    elements(xml, tag)
        .into_iter()
        .next()
        .map(|t| xml_unescape(&t))
        .unwrap_or_default()
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
