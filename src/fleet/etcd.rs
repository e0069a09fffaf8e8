//! A small etcd v3 client over etcd's JSON gateway (`POST /v3/...`), so that building
//! dnsteer needs no `protoc` (the gRPC crates generate their code at build time).
//!
//! Every key the caller names is relative to the configured prefix: the client adds
//! the prefix on the way out and strips it from the keys it returns, so nothing dnsteer
//! writes can land outside it (and an etcd role scoped to the prefix is enough).
//!
//! Each operation tries the endpoints in turn, starting with the one that answered
//! last, within one overall `timeout`: a member that is down or slow only costs its
//! share of it. When no endpoint answers in time, or the cluster has lost quorum, the
//! operation fails with [`EtcdError::Unavailable`] and the caller writes nothing (static
//! stability). An attempt that timed out may still have been applied by etcd; a retry
//! on the next endpoint then sees its effect, so write transactions should compare on
//! something that recognises the caller's own earlier write (its value or its lease).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What went wrong, phrased as what the caller should do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdError {
    /// No endpoint answered in time, or the cluster has no quorum (no leader, requests
    /// time out): nobody may write; try again later. Lists each endpoint's failure.
    #[error("etcd unavailable: {0}")]
    Unavailable(String),
    /// etcd refused the credentials, or the user lacks a permission on the prefix:
    /// retrying will not help until the configuration or the etcd roles change.
    #[error("etcd refused access: {0}")]
    Auth(String),
    /// The lease named in the request expired or was revoked: grant a new one.
    #[error("etcd lease not found: it expired or was revoked")]
    LeaseNotFound,
    /// An answer the client does not understand, or a request etcd rejected as
    /// malformed: a bug or an unsupported etcd version; report it.
    #[error("unexpected answer from etcd at {endpoint}: {detail}")]
    Protocol { endpoint: String, detail: String },
    /// The client's settings are unusable (no endpoint, not an http(s) URL).
    #[error("invalid etcd settings: {0}")]
    Config(String),
}

/// One key as etcd stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Relative to the client's prefix.
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the write that created the key (it changes when the key is deleted
    /// and created again, which makes it a fence token).
    pub create_revision: i64,
    /// Revision of the last write to the key.
    pub mod_revision: i64,
    /// The lease the key is attached to, if any: the key vanishes with it.
    pub lease: Option<i64>,
}

/// How a [`Compare`] relates the key's current field to the given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompareOp {
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// The field of a key a [`Compare`] looks at, with the value to compare it to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CompareTarget {
    CreateRevision(i64),
    ModRevision(i64),
    Value(Vec<u8>),
}

/// One condition of a [`Txn`]. A key that does not exist has revisions 0, so
/// `create_revision(key, Equal, 0)` means "absent".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    key: String,
    op: CompareOp,
    target: CompareTarget,
}

impl Compare {
    pub fn create_revision(key: impl Into<String>, op: CompareOp, revision: i64) -> Self {
        Self {
            key: key.into(),
            op,
            target: CompareTarget::CreateRevision(revision),
        }
    }

    pub fn mod_revision(key: impl Into<String>, op: CompareOp, revision: i64) -> Self {
        Self {
            key: key.into(),
            op,
            target: CompareTarget::ModRevision(revision),
        }
    }

    pub fn value(key: impl Into<String>, op: CompareOp, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            op,
            target: CompareTarget::Value(value.into()),
        }
    }
}

/// One operation of a [`Txn`] branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    Put {
        key: String,
        value: Vec<u8>,
        lease: Option<i64>,
    },
    Delete {
        key: String,
    },
    /// Its result is one entry of [`TxnResponse::ranges`].
    Get {
        key: String,
    },
}

impl TxnOp {
    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>, lease: Option<i64>) -> Self {
        TxnOp::Put {
            key: key.into(),
            value: value.into(),
            lease,
        }
    }

    pub fn delete(key: impl Into<String>) -> Self {
        TxnOp::Delete { key: key.into() }
    }

    pub fn get(key: impl Into<String>) -> Self {
        TxnOp::Get { key: key.into() }
    }
}

/// An atomic transaction: if every comparison holds, the `success` operations run,
/// else the `failure` ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    compare: Vec<Compare>,
    success: Vec<TxnOp>,
    failure: Vec<TxnOp>,
}

impl Txn {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> Self {
        self.compare.extend(compares);
        self
    }

    pub fn and_then(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.success.extend(ops);
        self
    }

    pub fn or_else(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.failure.extend(ops);
        self
    }
}

/// What a [`Txn`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether the comparisons held (and the `success` branch ran).
    pub succeeded: bool,
    /// The store's revision after the transaction.
    pub revision: i64,
    /// One entry per [`TxnOp::Get`] of the branch that ran, in order; `None` for an
    /// absent key.
    pub ranges: Vec<Option<KeyValue>>,
}

/// An etcd v3 client over the JSON gateway; share it behind an `Arc`.
pub struct EtcdClient {
    http: reqwest::Client,
    endpoints: Vec<String>,
    prefix: String,
    credentials: Option<(String, String)>,
    timeout: Duration,
    /// The endpoint that answered last: tried first next time, so a dead member is
    /// not waited for on every call.
    preferred: AtomicUsize,
    /// The auth token from `/v3/auth/authenticate`, when credentials are set.
    token: Mutex<Option<String>>,
}

impl fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password and the token stay out of logs.
        f.debug_struct("EtcdClient")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("username", &self.credentials.as_ref().map(|(user, _)| user))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why one attempt at one endpoint failed.
enum AttemptError {
    /// This endpoint cannot serve now (down, slow, no leader): try the next one.
    Next(String),
    /// The token expired or is unknown to this member: authenticate again.
    TokenRejected,
    /// Any endpoint would say the same: stop.
    Final(EtcdError),
}

impl EtcdClient {
    /// `endpoints` are base URLs (`http://127.0.0.1:2379`, or `https://...` for TLS);
    /// `timeout` bounds each operation as a whole, across every endpoint it tries.
    pub fn new(
        endpoints: Vec<String>,
        prefix: String,
        credentials: Option<(String, String)>,
        timeout: Duration,
    ) -> Result<Self, EtcdError> {
        if endpoints.is_empty() {
            return Err(EtcdError::Config("no endpoint".to_string()));
        }
        let endpoints = endpoints
            .into_iter()
            .map(|e| match url::Url::parse(&e) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(e.trim_end_matches('/').to_string()),
                _ => Err(EtcdError::Config(format!("endpoint {e:?} is not an http(s) URL"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        dnsteer_providers::http::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EtcdError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            endpoints,
            prefix,
            credentials,
            timeout,
            preferred: AtomicUsize::new(0),
            token: Mutex::new(None),
        })
    }

    /// The value of `key`, `None` when absent.
    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>, EtcdError> {
        let req = RangeRequest {
            key: self.wire_key(key),
            range_end: None,
        };
        let resp: RangeResponse = self.call("/v3/kv/range", &req).await?;
        Ok(self.key_values(resp.kvs)?.into_iter().next())
    }

    /// Every key starting with `prefix` (under the client's own prefix), sorted by key.
    pub async fn get_prefix(&self, prefix: &str) -> Result<Vec<KeyValue>, EtcdError> {
        let full = self.full_key(prefix);
        let req = RangeRequest {
            key: B64.encode(&full),
            range_end: Some(B64.encode(prefix_end(full.as_bytes()))),
        };
        let resp: RangeResponse = self.call("/v3/kv/range", &req).await?;
        self.key_values(resp.kvs)
    }

    /// Writes `key`, attached to `lease` if given; returns the store's new revision.
    pub async fn put(&self, key: &str, value: &[u8], lease: Option<i64>) -> Result<i64, EtcdError> {
        let req = self.put_request(key, value, lease);
        let resp: HeaderOnly = self.call("/v3/kv/put", &req).await?;
        Ok(resp.header.revision)
    }

    /// Deletes `key`; whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, EtcdError> {
        let req = DeleteRequest {
            key: self.wire_key(key),
        };
        let resp: DeleteResponse = self.call("/v3/kv/deleterange", &req).await?;
        Ok(resp.deleted > 0)
    }

    /// Runs `txn` atomically.
    pub async fn txn(&self, txn: &Txn) -> Result<TxnResponse, EtcdError> {
        let req = TxnRequest {
            compare: txn.compare.iter().map(|c| self.wire_compare(c)).collect(),
            success: txn.success.iter().map(|op| self.wire_op(op)).collect(),
            failure: txn.failure.iter().map(|op| self.wire_op(op)).collect(),
        };
        let resp: TxnWireResponse = self.call("/v3/kv/txn", &req).await?;
        let mut ranges = Vec::new();
        for r in resp.responses {
            if let Some(range) = r.response_range {
                ranges.push(self.key_values(range.kvs)?.into_iter().next());
            }
        }
        Ok(TxnResponse {
            succeeded: resp.succeeded,
            revision: resp.header.revision,
            ranges,
        })
    }

    /// A new lease of `ttl` (whole seconds, rounded up); its id and the TTL etcd granted
    /// (etcd may raise a TTL under its minimum).
    pub async fn lease_grant(&self, ttl: Duration) -> Result<(i64, Duration), EtcdError> {
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let req = LeaseGrantRequest {
            ttl: i64::try_from(secs.max(1)).unwrap_or(i64::MAX),
        };
        let resp: LeaseGrantResponse = self.call("/v3/lease/grant", &req).await?;
        if !resp.error.is_empty() {
            return Err(EtcdError::Protocol {
                endpoint: self.endpoints[self.preferred.load(Ordering::Relaxed)].clone(),
                detail: format!("lease grant: {}", resp.error),
            });
        }
        Ok((resp.id, secs_duration(resp.ttl)))
    }

    /// Renews lease `id`; the time it has left, zero when it has already expired.
    pub async fn lease_keep_alive(&self, id: i64) -> Result<Duration, EtcdError> {
        let req = LeaseIdRequest { id };
        let resp: KeepAliveStream = self.call("/v3/lease/keepalive", &req).await?;
        Ok(secs_duration(resp.result.ttl))
    }

    /// Ends lease `id` now, deleting its keys. A lease already gone is not an error.
    pub async fn lease_revoke(&self, id: i64) -> Result<(), EtcdError> {
        match self
            .call::<_, HeaderOnly>("/v3/lease/revoke", &LeaseIdRequest { id })
            .await
        {
            Ok(_) | Err(EtcdError::LeaseNotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn wire_key(&self, key: &str) -> String {
        B64.encode(self.full_key(key))
    }

    fn put_request(&self, key: &str, value: &[u8], lease: Option<i64>) -> PutRequest {
        PutRequest {
            key: self.wire_key(key),
            value: B64.encode(value),
            lease,
        }
    }

    fn wire_compare(&self, c: &Compare) -> WireCompare {
        let (target, create_revision, mod_revision, value) = match &c.target {
            CompareTarget::CreateRevision(r) => ("CREATE", Some(*r), None, None),
            CompareTarget::ModRevision(r) => ("MOD", None, Some(*r), None),
            CompareTarget::Value(v) => ("VALUE", None, None, Some(B64.encode(v))),
        };
        WireCompare {
            key: self.wire_key(&c.key),
            target,
            result: c.op,
            create_revision,
            mod_revision,
            value,
        }
    }

    fn wire_op(&self, op: &TxnOp) -> WireOp {
        match op {
            TxnOp::Put { key, value, lease } => WireOp::Put(self.put_request(key, value, *lease)),
            TxnOp::Delete { key } => WireOp::DeleteRange(DeleteRequest {
                key: self.wire_key(key),
            }),
            TxnOp::Get { key } => WireOp::Range(RangeRequest {
                key: self.wire_key(key),
                range_end: None,
            }),
        }
    }

    fn key_values(&self, kvs: Vec<WireKeyValue>) -> Result<Vec<KeyValue>, EtcdError> {
        kvs.into_iter().map(|kv| self.key_value(kv)).collect()
    }

    fn key_value(&self, kv: WireKeyValue) -> Result<KeyValue, EtcdError> {
        let surprise = |detail: String| EtcdError::Protocol {
            endpoint: self.endpoints[self.preferred.load(Ordering::Relaxed)].clone(),
            detail,
        };
        let key = B64
            .decode(&kv.key)
            .ok()
            .and_then(|k| String::from_utf8(k).ok())
            .ok_or_else(|| surprise(format!("key {:?} is not base64 of UTF-8", kv.key)))?;
        let key = key
            .strip_prefix(&self.prefix)
            .ok_or_else(|| surprise(format!("key {key:?} is outside the prefix {:?}", self.prefix)))?
            .to_string();
        let value = B64
            .decode(&kv.value)
            .map_err(|e| surprise(format!("value of {key:?} is not base64: {e}")))?;
        Ok(KeyValue {
            key,
            value,
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            lease: (kv.lease != 0).then_some(kv.lease),
        })
    }

    /// One operation: the endpoints in turn from the preferred one, each given an equal
    /// share of the time left, so that one hanging member cannot use up the whole
    /// `timeout` while another could answer.
    async fn call<Q: Serialize, R: DeserializeOwned>(&self, path: &str, body: &Q) -> Result<R, EtcdError> {
        let deadline = Instant::now() + self.timeout;
        let count = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in 0..count {
            let index = (first + i) % count;
            let endpoint = &self.endpoints[index];
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                failures.push(format!("{endpoint}: not tried, time is up"));
                continue;
            }
            let share = left / u32::try_from(count - i).unwrap_or(u32::MAX);
            match tokio::time::timeout(share, self.attempt(endpoint, path, body)).await {
                Ok(Ok(resp)) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(resp);
                }
                Ok(Err(EtcdError::Unavailable(why))) => failures.push(format!("{endpoint}: {why}")),
                Ok(Err(e)) => return Err(e),
                Err(_) => failures.push(format!("{endpoint}: no answer within {share:?}")),
            }
        }
        Err(EtcdError::Unavailable(failures.join("; ")))
    }

    /// One endpoint: authenticates first when needed, and once more if the token is
    /// refused (tokens expire, and a member may not know a fresh one yet).
    async fn attempt<Q: Serialize, R: DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        body: &Q,
    ) -> Result<R, EtcdError> {
        let mut renewed = false;
        loop {
            let token = self.token(endpoint).await?;
            match self.send(endpoint, path, body, token.as_deref()).await {
                Ok(resp) => return Ok(resp),
                Err(AttemptError::TokenRejected) if self.credentials.is_some() && !renewed => {
                    renewed = true;
                    self.clear_token(token.as_deref());
                }
                Err(AttemptError::TokenRejected) => {
                    return Err(EtcdError::Auth(format!(
                        "{endpoint} refused the auth token{}",
                        if self.credentials.is_none() {
                            " (no credentials configured)"
                        } else {
                            ""
                        }
                    )))
                }
                Err(AttemptError::Next(why)) => return Err(EtcdError::Unavailable(why)),
                Err(AttemptError::Final(e)) => return Err(e),
            }
        }
    }

    /// The current token, authenticating at `endpoint` when there is none yet.
    async fn token(&self, endpoint: &str) -> Result<Option<String>, EtcdError> {
        let Some((name, password)) = &self.credentials else {
            return Ok(None);
        };
        if let Some(t) = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(Some(t));
        }
        let req = AuthRequest { name, password };
        let resp: AuthResponse = match self.send(endpoint, "/v3/auth/authenticate", &req, None).await {
            Ok(resp) => resp,
            Err(AttemptError::Next(why)) => return Err(EtcdError::Unavailable(why)),
            Err(AttemptError::TokenRejected) => {
                return Err(EtcdError::Auth(format!("{endpoint} refused to authenticate {name:?}")))
            }
            Err(AttemptError::Final(e)) => return Err(e),
        };
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(resp.token.clone());
        Ok(Some(resp.token))
    }

    /// Forgets `stale`, unless another call already replaced it.
    fn clear_token(&self, stale: Option<&str>) {
        let mut token = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if token.as_deref() == stale {
            *token = None;
        }
    }

    async fn send<Q: Serialize, R: DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        body: &Q,
        token: Option<&str>,
    ) -> Result<R, AttemptError> {
        let mut req = self.http.post(format!("{endpoint}{path}")).json(body);
        if let Some(token) = token {
            req = req.header(reqwest::header::AUTHORIZATION, token);
        }
        let resp = req.send().await.map_err(|e| AttemptError::Next(error_chain(&e)))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| AttemptError::Next(error_chain(&e)))?;
        let surprise = |detail: String| {
            AttemptError::Final(EtcdError::Protocol {
                endpoint: endpoint.to_string(),
                detail: format!("{path}: {detail}"),
            })
        };
        // The keepalive stream answers 200 with an error object inside.
        let stream_error = status
            .is_success()
            .then(|| serde_json::from_slice::<StreamErrorEnvelope>(&bytes).ok())
            .flatten()
            .and_then(|e| e.error);
        if status.is_success() && stream_error.is_none() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| surprise(format!("{e} in {}", String::from_utf8_lossy(&bytes))));
        }
        let error = match stream_error {
            Some(e) => GatewayError {
                code: e.grpc_code,
                message: e.message,
            },
            None => match serde_json::from_slice::<GatewayError>(&bytes) {
                Ok(e) => e,
                Err(_) if status.is_server_error() => return Err(AttemptError::Next(format!("HTTP {status}"))),
                Err(_) => return Err(surprise(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)))),
            },
        };
        Err(classify(status, error, surprise))
    }
}

/// Maps a gRPC status from the gateway to what the caller should do.
fn classify(
    status: reqwest::StatusCode,
    error: GatewayError,
    surprise: impl Fn(String) -> AttemptError,
) -> AttemptError {
    let GatewayError { code, message } = error;
    match code {
        // UNAVAILABLE covers "no leader", "request timed out" and "leader changed";
        // DEADLINE_EXCEEDED and CANCELLED come from a member that could not finish.
        GRPC_CANCELLED | GRPC_DEADLINE_EXCEEDED | GRPC_UNAVAILABLE | GRPC_RESOURCE_EXHAUSTED => {
            AttemptError::Next(message)
        }
        GRPC_UNAUTHENTICATED => AttemptError::TokenRejected,
        GRPC_PERMISSION_DENIED => AttemptError::Final(EtcdError::Auth(message)),
        // etcd reports bad credentials, and a request without a token while auth is on,
        // as INVALID_ARGUMENT.
        GRPC_INVALID_ARGUMENT
            if message.contains("authentication failed") || message.contains("user name is empty") =>
        {
            AttemptError::Final(EtcdError::Auth(message))
        }
        GRPC_NOT_FOUND if message.contains("lease not found") => AttemptError::Final(EtcdError::LeaseNotFound),
        _ if status.is_server_error() => AttemptError::Next(message),
        _ => surprise(format!("HTTP {status}, gRPC code {code}: {message}")),
    }
}

const GRPC_CANCELLED: i32 = 1;
const GRPC_INVALID_ARGUMENT: i32 = 3;
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_NOT_FOUND: i32 = 5;
const GRPC_PERMISSION_DENIED: i32 = 7;
const GRPC_RESOURCE_EXHAUSTED: i32 = 8;
const GRPC_UNAVAILABLE: i32 = 14;
const GRPC_UNAUTHENTICATED: i32 = 16;

/// The error with its causes: reqwest's own message hides whether it was a refused
/// connection or a timeout.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn secs_duration(secs: i64) -> Duration {
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// The smallest key after every key starting with `key` (etcd's `range_end` for a
/// prefix): the last byte below 0xff incremented, the rest dropped; `\0` (no upper
/// bound) when there is no such byte.
fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

// The gateway's JSON: bytes as base64, int64 as decimal strings (accepted as numbers
// too), and fields at their default value (0, false, empty) left out of answers.

fn int64_str<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn opt_int64_str<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Text(String),
        Number(i64),
    }
    match Int64::deserialize(d)? {
        Int64::Number(n) => Ok(n),
        Int64::Text(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

#[derive(Serialize)]
struct RangeRequest {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    range_end: Option<String>,
}

#[derive(Serialize)]
struct PutRequest {
    key: String,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_int64_str")]
    lease: Option<i64>,
}

#[derive(Serialize)]
struct DeleteRequest {
    key: String,
}

#[derive(Serialize)]
struct WireCompare {
    key: String,
    target: &'static str,
    result: CompareOp,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_int64_str")]
    create_revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_int64_str")]
    mod_revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

#[derive(Serialize)]
enum WireOp {
    #[serde(rename = "request_range")]
    Range(RangeRequest),
    #[serde(rename = "request_put")]
    Put(PutRequest),
    #[serde(rename = "request_delete_range")]
    DeleteRange(DeleteRequest),
}

#[derive(Serialize)]
struct TxnRequest {
    compare: Vec<WireCompare>,
    success: Vec<WireOp>,
    failure: Vec<WireOp>,
}

#[derive(Serialize)]
struct LeaseGrantRequest {
    #[serde(rename = "TTL", serialize_with = "int64_str")]
    ttl: i64,
}

#[derive(Serialize)]
struct LeaseIdRequest {
    #[serde(rename = "ID", serialize_with = "int64_str")]
    id: i64,
}

#[derive(Serialize)]
struct AuthRequest<'a> {
    name: &'a str,
    password: &'a str,
}

#[derive(Debug, Default, Deserialize)]
struct Header {
    #[serde(default, deserialize_with = "int64")]
    revision: i64,
}

#[derive(Deserialize)]
struct HeaderOnly {
    #[serde(default)]
    header: Header,
}

#[derive(Deserialize)]
struct WireKeyValue {
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default, deserialize_with = "int64")]
    create_revision: i64,
    #[serde(default, deserialize_with = "int64")]
    mod_revision: i64,
    #[serde(default, deserialize_with = "int64")]
    lease: i64,
}

#[derive(Deserialize)]
struct RangeResponse {
    #[serde(default)]
    kvs: Vec<WireKeyValue>,
}

#[derive(Deserialize)]
struct DeleteResponse {
    #[serde(default, deserialize_with = "int64")]
    deleted: i64,
}

#[derive(Deserialize)]
struct TxnWireResponse {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<TxnWireResult>,
}

/// One of `response_range`, `response_put`, `response_delete_range`; only ranges carry
/// something the caller reads.
#[derive(Deserialize)]
struct TxnWireResult {
    response_range: Option<RangeResponse>,
}

#[derive(Deserialize)]
struct LeaseGrantResponse {
    #[serde(rename = "ID", deserialize_with = "int64")]
    id: i64,
    #[serde(rename = "TTL", default, deserialize_with = "int64")]
    ttl: i64,
    #[serde(default)]
    error: String,
}

/// The keepalive endpoint is a stream: each answer is wrapped in `result`.
#[derive(Deserialize)]
struct KeepAliveStream {
    result: KeepAliveResult,
}

#[derive(Deserialize)]
struct KeepAliveResult {
    /// Left out when the lease has expired.
    #[serde(rename = "TTL", default, deserialize_with = "int64")]
    ttl: i64,
}

#[derive(Deserialize)]
struct AuthResponse {
    token: String,
}

/// A unary call's error: `{"error", "message", "code"}`.
#[derive(Deserialize)]
struct GatewayError {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    message: String,
}

/// A streaming call's error: `{"error": {"grpc_code", "http_code", "message", ...}}`.
#[derive(Deserialize)]
struct StreamErrorEnvelope {
    error: Option<StreamError>,
}

#[derive(Deserialize)]
struct StreamError {
    #[serde(default)]
    grpc_code: i32,
    #[serde(default)]
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> EtcdClient {
        EtcdClient::new(
            vec!["http://127.0.0.1:1".to_string()],
            "/dnsteer/".to_string(),
            None,
            Duration::from_secs(1),
        )
        .unwrap()
    }

    fn b64(s: &str) -> String {
        B64.encode(s)
    }

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"/dnsteer/"), b"/dnsteer0");
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
        assert_eq!(prefix_end(b""), b"\0");
    }

    #[test]
    fn keys_carry_the_prefix_and_int64_go_as_strings() {
        let c = client();
        let put = serde_json::to_value(c.put_request("leader", b"a", Some(7))).unwrap();
        assert_eq!(
            put,
            json!({"key": b64("/dnsteer/leader"), "value": b64("a"), "lease": "7"})
        );
        let put = serde_json::to_value(c.put_request("k", b"", None)).unwrap();
        assert_eq!(put, json!({"key": b64("/dnsteer/k"), "value": ""}));
        let grant = serde_json::to_value(LeaseGrantRequest { ttl: 5 }).unwrap();
        assert_eq!(grant, json!({"TTL": "5"}));
        let keep = serde_json::to_value(LeaseIdRequest { id: -3 }).unwrap();
        assert_eq!(keep, json!({"ID": "-3"}));
    }

    #[test]
    fn a_txn_encodes_compares_and_both_branches() {
        let c = client();
        let txn = Txn::new()
            .when([
                Compare::create_revision("leader", CompareOp::Equal, 0),
                Compare::mod_revision("fence", CompareOp::Less, 12),
                Compare::value("owner", CompareOp::NotEqual, "b"),
            ])
            .and_then([TxnOp::put("leader", "a", Some(9))])
            .or_else([TxnOp::get("leader"), TxnOp::delete("old")]);
        let req = TxnRequest {
            compare: txn.compare.iter().map(|x| c.wire_compare(x)).collect(),
            success: txn.success.iter().map(|x| c.wire_op(x)).collect(),
            failure: txn.failure.iter().map(|x| c.wire_op(x)).collect(),
        };
        assert_eq!(
            serde_json::to_value(req).unwrap(),
            json!({
                "compare": [
                    {"key": b64("/dnsteer/leader"), "target": "CREATE", "result": "EQUAL", "create_revision": "0"},
                    {"key": b64("/dnsteer/fence"), "target": "MOD", "result": "LESS", "mod_revision": "12"},
                    {"key": b64("/dnsteer/owner"), "target": "VALUE", "result": "NOT_EQUAL", "value": b64("b")},
                ],
                "success": [{"request_put": {"key": b64("/dnsteer/leader"), "value": b64("a"), "lease": "9"}}],
                "failure": [
                    {"request_range": {"key": b64("/dnsteer/leader")}},
                    {"request_delete_range": {"key": b64("/dnsteer/old")}},
                ],
            })
        );
    }

    #[test]
    fn answers_decode_with_defaults_left_out() {
        let c = client();
        // As etcd 3.4.23 answered: `succeeded` and `kvs` absent when false or empty,
        // `lease` absent when 0.
        let txn: TxnWireResponse = serde_json::from_value(json!({
            "header": {"cluster_id": "1", "member_id": "2", "revision": "7", "raft_term": "2"},
            "responses": [
                {"response_range": {"header": {"revision": "7"}, "kvs": [
                    {"key": b64("/dnsteer/leader"), "create_revision": "7", "mod_revision": "7",
                     "version": "1", "value": b64("me"), "lease": "694"}
                ], "count": "1"}},
                {"response_range": {"header": {"revision": "7"}}},
                {"response_delete_range": {"header": {"revision": "7"}}},
            ]
        }))
        .unwrap();
        assert!(!txn.succeeded);
        assert_eq!(txn.header.revision, 7);
        let ranges: Vec<_> = txn
            .responses
            .into_iter()
            .filter_map(|r| r.response_range)
            .map(|r| c.key_values(r.kvs).unwrap())
            .collect();
        assert_eq!(
            ranges,
            vec![
                vec![KeyValue {
                    key: "leader".to_string(),
                    value: b"me".to_vec(),
                    create_revision: 7,
                    mod_revision: 7,
                    lease: Some(694),
                }],
                vec![],
            ]
        );
        let expired: KeepAliveStream =
            serde_json::from_value(json!({"result": {"header": {"revision": "5"}, "ID": "9"}})).unwrap();
        assert_eq!(expired.result.ttl, 0);
        let grant: LeaseGrantResponse = serde_json::from_value(json!({"ID": "9", "TTL": "2"})).unwrap();
        assert_eq!((grant.id, grant.ttl), (9, 2));
    }

    #[test]
    fn a_key_outside_the_prefix_is_a_surprise() {
        let c = client();
        let kv = WireKeyValue {
            key: b64("/other/x"),
            value: String::new(),
            create_revision: 1,
            mod_revision: 1,
            lease: 0,
        };
        assert!(matches!(c.key_value(kv), Err(EtcdError::Protocol { .. })));
    }

    #[test]
    fn gateway_errors_say_what_to_do() {
        let status = |code| reqwest::StatusCode::from_u16(code).unwrap();
        let err = |code, message: &str| GatewayError {
            code,
            message: message.to_string(),
        };
        let surprise = |d: String| {
            AttemptError::Final(EtcdError::Protocol {
                endpoint: "e".to_string(),
                detail: d,
            })
        };
        assert!(matches!(
            classify(status(503), err(14, "etcdserver: no leader"), surprise),
            AttemptError::Next(_)
        ));
        assert!(matches!(
            classify(status(401), err(16, "etcdserver: invalid auth token"), surprise),
            AttemptError::TokenRejected
        ));
        assert!(matches!(
            classify(status(403), err(7, "etcdserver: permission denied"), surprise),
            AttemptError::Final(EtcdError::Auth(_))
        ));
        assert!(matches!(
            classify(
                status(400),
                err(3, "etcdserver: authentication failed, invalid user ID or password"),
                surprise
            ),
            AttemptError::Final(EtcdError::Auth(_))
        ));
        assert!(matches!(
            classify(status(404), err(5, "etcdserver: requested lease not found"), surprise),
            AttemptError::Final(EtcdError::LeaseNotFound)
        ));
        assert!(matches!(
            classify(status(400), err(3, "illegal base64 data at input byte 9"), surprise),
            AttemptError::Final(EtcdError::Protocol { .. })
        ));
    }

    #[test]
    fn settings_are_checked() {
        let new = |e: Vec<&str>| {
            EtcdClient::new(
                e.into_iter().map(String::from).collect(),
                "/p/".to_string(),
                Some(("u".to_string(), "secret".to_string())),
                Duration::from_secs(1),
            )
        };
        assert!(matches!(new(vec![]), Err(EtcdError::Config(_))));
        assert!(matches!(new(vec!["127.0.0.1:2379"]), Err(EtcdError::Config(_))));
        let debug = format!("{:?}", new(vec!["https://127.0.0.1:2379/"]).unwrap());
        assert!(!debug.contains("secret"), "{debug}");
    }
}
