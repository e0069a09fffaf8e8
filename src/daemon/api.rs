//! The daemon's HTTP API (SPEC "HTTP API"): probes of the process, status, the current
//! plan, and behind the bearer token the operator's controls and the peer endpoints.

use std::sync::Arc;

use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::Shared;
use crate::health::State;
use crate::peer::{Override, SyncRequest, VoteRequest};

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/plan", get(plan))
        .route("/v1/pause", post(pause))
        .route("/v1/resume", post(resume))
        .route("/v1/override", post(set_override))
        .route("/v1/approve", post(approve))
        .route("/v1/peer/sync", post(peer_sync))
        .route("/v1/peer/vote", post(peer_vote))
        .with_state(shared)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Constant-time comparison of the bearer token, so its value cannot be guessed byte by
/// byte from response times. Without a configured token, every guarded call is refused.
fn refused(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let Some(expected) = shared.api_token.as_deref() else {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "agent.api_token is not configured: mutating and peer endpoints are disabled",
        ));
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let same_length = given.len() == expected.len();
    let diff = given
        .bytes()
        .zip(expected.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if same_length && diff == 0 {
        None
    } else {
        Some(error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"))
    }
}

async fn readyz(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    match shared.not_ready() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

async fn metrics(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    let body = shared.metrics.encode();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn status(AxumState(shared): AxumState<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(shared.status_json(Utc::now()))
}

#[derive(Deserialize)]
struct PageQuery {
    /// Only the part the page's script swaps in on each refresh.
    #[serde(default)]
    fragment: Option<String>,
}

/// The status page (`page/`): read-only, no token, nothing secret on it.
async fn page(AxumState(shared): AxumState<Arc<Shared>>, Query(q): Query<PageQuery>) -> Response {
    let now = Utc::now();
    let status = shared.status_json(now);
    let (plan, delegated) = {
        let inner = shared.inner();
        let delegated = inner
            .decision
            .iter()
            .flat_map(|d| d.delegated.iter())
            .map(|(z, p)| (z.as_str().to_ascii_lowercase(), p.clone()))
            .collect();
        (inner.last_plan.clone(), delegated)
    };
    let zones = shared.page.zones();
    let inputs = super::page::Inputs {
        status: &status,
        plan: plan.as_ref(),
        delegated,
        zones: &zones,
        view: shared.page.view(),
        audit: shared.audit.tail(PAGE_AUDIT_LINES),
        alerts: shared.alerter().recent(),
        now,
    };
    let html = super::page::render(&inputs, q.fragment.is_some());
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// How many of the audit log's last lines the page shows.
const PAGE_AUDIT_LINES: usize = 15;

async fn plan(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    match shared.inner().last_plan.clone() {
        Some(plan) => Json(plan).into_response(),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "no plan computed yet"),
    }
}

async fn pause(AxumState(shared): AxumState<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    shared.change_operator(|o| o.paused = true);
    tracing::warn!("writes paused through the API");
    Json(json!({ "paused": true })).into_response()
}

async fn resume(AxumState(shared): AxumState<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    shared.change_operator(|o| o.paused = false);
    tracing::warn!("writes resumed through the API");
    Json(json!({ "paused": false })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideRequest {
    target: String,
    /// `up`, `down`, or `clear` to drop an override early.
    state: String,
    #[serde(rename = "for")]
    duration: Option<String>,
}

async fn set_override(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Option<Json<OverrideRequest>>,
) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let Some(Json(req)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected JSON {target, state: up|down|clear, for: \"10m\"}",
        );
    };
    let now = Utc::now();
    let forced = match req.state.as_str() {
        "clear" => None,
        "up" | "down" => {
            let state = if req.state == "up" {
                State::Healthy
            } else {
                State::Unhealthy
            };
            let Some(text) = req.duration.as_deref() else {
                return error(StatusCode::BAD_REQUEST, "`for` is required with up/down (e.g. \"10m\")");
            };
            let Ok(d) = humantime::parse_duration(text) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("`for`: {text:?} is not a duration like 30s, 10m, 1h"),
                );
            };
            let Some(until) = chrono::TimeDelta::from_std(d)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
            else {
                return error(StatusCode::BAD_REQUEST, "`for` is too long");
            };
            Some(Override { state, until })
        }
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("state must be up, down or clear, not {other:?}"),
            )
        }
    };
    if !shared.targets().contains(&req.target) {
        return error(
            StatusCode::NOT_FOUND,
            &format!(
                "unknown target {:?} (targets are check:NAME and provider:NAME)",
                req.target
            ),
        );
    }
    shared.change_operator(|o| match forced {
        Some(f) => {
            o.overrides.insert(req.target.clone(), f);
        }
        None => {
            o.overrides.remove(&req.target);
        }
    });
    let state = shared.inner().engine.state(&req.target, now);
    Json(json!({ "target": req.target, "state": state })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveRequest {
    checksum: String,
}

/// Approves a held plan by its checksum: it is written at the next pass if it is still
/// the plan held.
async fn approve(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Option<Json<ApproveRequest>>,
) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let Some(Json(req)) = body else {
        return error(StatusCode::BAD_REQUEST, "expected JSON {checksum}");
    };
    let decision = shared.inner().decision.clone();
    match super::supervisor::approvable(&req.checksum, decision.as_deref()) {
        Ok(zones) => {
            shared.change_operator(|o| {
                o.approved.insert(req.checksum.clone());
            });
            tracing::warn!(checksum = %req.checksum, zones = ?zones, "held plan approved through the API");
            let zones: Vec<&str> = zones.iter().map(|z| z.as_str()).collect();
            Json(json!({ "approved": req.checksum, "zones": zones })).into_response()
        }
        Err(why) => error(StatusCode::CONFLICT, &why),
    }
}

async fn peer_sync(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Json(req): Json<SyncRequest>,
) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    Json(shared.handle_peer_sync(req).await).into_response()
}

async fn peer_vote(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Json(req): Json<VoteRequest>,
) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    Json(shared.handle_peer_vote(req).await).into_response()
}
