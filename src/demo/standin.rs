//! An in-process stand-in for one DNS provider: an authoritative DNS server
//! (hickory-server, UDP and TCP on 127.0.0.1) and an HTTP API speaking the subset of the
//! PowerDNS v1 API that dnsteer's `powerdns` adapter uses, both over one in-memory
//! [`ZoneStore`], so a change made through the API is answered over DNS at once. It is
//! not PowerDNS; it lets the real daemon and the real adapter run with nothing installed.
//!
//! API: `GET /api/v1/servers/localhost/zones/{zone}` lists the rrsets; `PATCH` on the
//! same URL applies `{rrsets: [{name, type, ttl, changetype: REPLACE|DELETE, records}]}`
//! atomically (204; one bad rrset: 422 and nothing applied); `X-API-Key` is checked on
//! every call (401); an unknown zone is 404.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use serde::Deserialize;
use serde_json::json;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::zone::{Lookup, PatchError, WireRrSet, ZoneStore};

/// The PowerDNS server id the adapter addresses by default.
const SERVER_ID: &str = "localhost";
/// How long the stand-in waits for its servers to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// One running stand-in.
pub struct StandIn {
    pub name: String,
    /// The zone it serves (`example.test.` or the parent `test.`).
    pub zone: String,
    /// Where its authoritative DNS server answers (UDP and TCP).
    pub dns: SocketAddr,
    /// The base URL of its PowerDNS-like API.
    pub api_url: String,
    store: Arc<ZoneStore>,
    failed: Arc<AtomicBool>,
    dns_server: Server<Authoritative>,
    api_stop: Option<oneshot::Sender<()>>,
    api_task: JoinHandle<()>,
}

impl StandIn {
    /// Serves `zone`, filled with `rrsets`, on free ports of 127.0.0.1.
    pub async fn start(name: &str, zone: &str, rrsets: &[WireRrSet], api_key: &str) -> anyhow::Result<Self> {
        let store = Arc::new(ZoneStore::default());
        store
            .create_zone(zone, rrsets)
            .map_err(|e| anyhow::anyhow!("stand-in {name}: zone {zone}: {e}"))?;
        let failed = Arc::new(AtomicBool::new(false));

        let (udp, tcp) = bind_dns()
            .await
            .with_context(|| format!("stand-in {name}: cannot bind a DNS port on 127.0.0.1"))?;
        let dns = udp.local_addr()?;
        let mut dns_server = Server::new(Authoritative {
            store: store.clone(),
            failed: failed.clone(),
        });
        dns_server.register_socket(udp);
        dns_server.register_listener(tcp, Duration::from_secs(5), 32);

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .with_context(|| format!("stand-in {name}: cannot bind an API port on 127.0.0.1"))?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let app = api_router(store.clone(), api_key);
        let (api_stop, stopped) = oneshot::channel::<()>();
        let api_task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            name: name.to_string(),
            zone: zone.to_string(),
            dns,
            api_url,
            store,
            failed,
            dns_server,
            api_stop: Some(api_stop),
            api_task,
        })
    }

    /// A DNS outage as probers see it: every query is answered REFUSED while the API
    /// keeps working.
    pub fn set_failed(&self, failed: bool) {
        self.failed.store(failed, Ordering::SeqCst);
    }

    /// The zone's SOA serial, which every accepted PATCH increases.
    pub fn serial(&self) -> u32 {
        self.store.serial(&self.zone).unwrap_or(0)
    }

    /// Stops both servers (bounded).
    pub async fn stop(mut self) {
        if let Some(stop) = self.api_stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(STOP_TIMEOUT, self.dns_server.shutdown_gracefully()).await;
        if tokio::time::timeout(STOP_TIMEOUT, &mut self.api_task).await.is_err() {
            self.api_task.abort();
        }
    }
}

/// A UDP socket and a TCP listener on the same free port of 127.0.0.1.
async fn bind_dns() -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port")))
}

/// The authoritative DNS side: answers from the store, refers below zone cuts, and
/// refuses everything while failed.
struct Authoritative {
    store: Arc<ZoneStore>,
    failed: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl RequestHandler for Authoritative {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let edns = request.edns.as_ref().map(|asked| {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().max(512));
            edns
        });
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let queries = request.queries.queries();
        let lookup = if self.failed.load(Ordering::SeqCst) {
            Err(ResponseCode::Refused)
        } else if request.metadata.message_type != MessageType::Query || request.metadata.op_code != OpCode::Query {
            Err(ResponseCode::NotImp)
        } else if queries.len() != 1 {
            Err(ResponseCode::FormErr)
        } else {
            Ok(self.store.lookup(queries[0].original().name(), queries[0].query_type()))
        };
        let none: Vec<Record> = Vec::new();
        let (code, authoritative, answers, referral, soa) = match lookup {
            Err(code) => (code, false, none.clone(), none.clone(), none),
            Ok(Lookup::NotAuthoritative) => (ResponseCode::Refused, false, none.clone(), none.clone(), none),
            Ok(Lookup::Answer(records)) => (ResponseCode::NoError, true, records, none.clone(), none),
            Ok(Lookup::Referral(ns)) => (ResponseCode::NoError, false, none.clone(), ns, none),
            Ok(Lookup::NoData(soa)) => (ResponseCode::NoError, true, none.clone(), none, soa),
            Ok(Lookup::NxDomain(soa)) => (ResponseCode::NXDomain, true, none.clone(), none, soa),
        };
        metadata.response_code = code;
        metadata.authoritative = authoritative;
        let response = MessageResponseBuilder::new(&request.queries, edns.as_ref()).build(
            metadata,
            answers.iter(),
            referral.iter(),
            soa.iter(),
            std::iter::empty::<&Record>(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!("stand-in: cannot send a DNS response: {e}");
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

#[derive(Clone)]
struct ApiState {
    store: Arc<ZoneStore>,
    api_key: Arc<str>,
}

#[derive(Deserialize)]
struct PatchBody {
    rrsets: Vec<WireRrSet>,
}

/// The PowerDNS-like HTTP API over `store`, guarded by `api_key`.
pub fn api_router(store: Arc<ZoneStore>, api_key: &str) -> Router {
    Router::new()
        .route("/api/v1/servers/{server}/zones/{zone}", get(get_zone).patch(patch_zone))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not Found") })
        .with_state(ApiState {
            store,
            api_key: Arc::from(api_key),
        })
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Constant-time comparison of the `X-API-Key` header.
fn authorized(state: &ApiState, headers: &HeaderMap) -> bool {
    let given = headers.get("x-api-key").map(|v| v.as_bytes()).unwrap_or_default();
    let expected = state.api_key.as_bytes();
    let diff = given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    given.len() == expected.len() && diff == 0
}

/// Checks the key and the server id; `Some` is the refusal to send.
fn refused(state: &ApiState, headers: &HeaderMap, server: &str) -> Option<Response> {
    if !authorized(state, headers) {
        return Some(error(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    if server != SERVER_ID {
        return Some(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    None
}

async fn get_zone(
    State(state): State<ApiState>,
    Path((server, zone)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = refused(&state, &headers, &server) {
        return response;
    }
    let Some(rrsets) = state.store.rrsets(&zone) else {
        return error(StatusCode::NOT_FOUND, &PatchError::NoSuchZone(zone).to_string());
    };
    let serial = state.store.serial(&zone).unwrap_or(0);
    let rrsets: Vec<_> = rrsets
        .into_iter()
        .map(|s| json!({ "name": s.name, "type": s.rtype, "ttl": s.ttl, "records": s.records, "comments": [] }))
        .collect();
    Json(json!({ "id": zone, "name": zone, "kind": "Native", "serial": serial, "rrsets": rrsets })).into_response()
}

async fn patch_zone(
    State(state): State<ApiState>,
    Path((server, zone)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = refused(&state, &headers, &server) {
        return response;
    }
    let patch: PatchBody = match serde_json::from_slice(&body) {
        Ok(patch) => patch,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("malformed JSON: {e}")),
    };
    match state.store.patch(&zone, &patch.rrsets) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e @ PatchError::NoSuchZone(_)) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e @ PatchError::Invalid(_)) => error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::zone::WireRecord;

    const KEY: &str = "test-key-5517";

    fn set(name: &str, rtype: &str, contents: &[&str]) -> WireRrSet {
        WireRrSet {
            name: name.into(),
            rtype: rtype.into(),
            ttl: Some(30),
            changetype: Some("REPLACE".into()),
            records: contents
                .iter()
                .map(|c| WireRecord {
                    content: c.to_string(),
                    disabled: false,
                })
                .collect(),
        }
    }

    async fn standin() -> StandIn {
        StandIn::start(
            "test",
            "example.test.",
            &[
                set(
                    "example.test.",
                    "SOA",
                    &["ns1.test. hostmaster.test. 7 3600 600 86400 60"],
                ),
                set("example.test.", "NS", &["ns1.test."]),
                set("www.example.test.", "A", &["192.0.2.10"]),
            ],
            KEY,
        )
        .await
        .unwrap()
    }

    fn zone_url(s: &StandIn) -> String {
        format!("{}/api/v1/servers/localhost/zones/example.test.", s.api_url)
    }

    async fn www(s: &StandIn, key: &str) -> (u16, serde_json::Value) {
        let resp = reqwest::Client::new()
            .get(zone_url(s))
            .header("X-API-Key", key)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap_or_default())
    }

    #[tokio::test]
    async fn the_api_key_is_required() {
        crate::demo::install_crypto();
        let s = standin().await;
        assert_eq!(www(&s, "wrong").await.0, 401);
        let resp = reqwest::Client::new().get(zone_url(&s)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "no key at all");
        let patch = json!({"rrsets": [{"name": "www.example.test.", "type": "A", "ttl": 30, "changetype": "REPLACE",
            "records": [{"content": "198.51.100.10", "disabled": false}]}]});
        let resp = reqwest::Client::new()
            .patch(zone_url(&s))
            .header("X-API-Key", "wrong")
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401);
        let (status, zone) = www(&s, KEY).await;
        assert_eq!(status, 200);
        assert!(
            zone.to_string().contains("192.0.2.10") && !zone.to_string().contains("198.51.100.10"),
            "{zone}"
        );
        let other = reqwest::Client::new()
            .get(format!("{}/api/v1/servers/localhost/zones/other.test.", s.api_url))
            .header("X-API-Key", KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status().as_u16(), 404);
        s.stop().await;
    }

    #[tokio::test]
    async fn a_patch_is_all_or_nothing() {
        crate::demo::install_crypto();
        let s = standin().await;
        let (_, before) = www(&s, KEY).await;
        let bad = json!({"rrsets": [
            {"name": "www.example.test.", "type": "A", "ttl": 30, "changetype": "REPLACE",
             "records": [{"content": "198.51.100.10", "disabled": false}]},
            {"name": "api.example.test.", "type": "A", "ttl": 30, "changetype": "REPLACE",
             "records": [{"content": "999.1.1.1", "disabled": false}]}]});
        let resp = reqwest::Client::new()
            .patch(zone_url(&s))
            .header("X-API-Key", KEY)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("999.1.1.1")),
            "{body}"
        );
        assert_eq!(www(&s, KEY).await.1, before, "nothing applied");
        assert_eq!(s.serial(), 7);

        let good = json!({"rrsets": [{"name": "www.example.test.", "type": "A", "ttl": 30, "changetype": "REPLACE",
            "records": [{"content": "198.51.100.10", "disabled": false}]}]});
        let resp = reqwest::Client::new()
            .patch(zone_url(&s))
            .header("X-API-Key", KEY)
            .json(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        assert_eq!(s.serial(), 8);
        let answer = crate::demo::observe::query(s.dns, "www.example.test.", hickory_proto::rr::RecordType::A).await;
        assert_eq!(
            answer,
            crate::demo::observe::Answer::Records(vec!["198.51.100.10".into()]),
            "served over DNS at once"
        );
        s.set_failed(true);
        let answer = crate::demo::observe::query(s.dns, "www.example.test.", hickory_proto::rr::RecordType::A).await;
        assert_eq!(answer, crate::demo::observe::Answer::Failed("REFUSED".into()));
        s.stop().await;
    }
}
