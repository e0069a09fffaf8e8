//! The one HTTP layer every HTTP provider goes through: per-attempt timeouts, at most a
//! few attempts with capped exponential backoff and full jitter, `Retry-After` honoured
//! (within a call and across calls), and a token bucket per provider account.
//!
//! Adapters never loop themselves: they build a request and classify a response as
//! ok / retry / fail (`Verdict`), in the manner of Vector's `RetryLogic`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use governor::DefaultDirectRateLimiter;
use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use crate::error::ProviderError;

/// Retry and pacing settings of one provider account.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Time allowed for one attempt, connect to last byte.
    pub timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The first backoff's upper bound; each retry doubles it up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Sustained requests per second allowed for the account, and the burst on top.
    pub requests_per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            requests_per_second: NonZeroU32::new(20).unwrap(),
            burst: NonZeroU32::new(20).unwrap(),
        }
    }
}

/// A token bucket shared by every client that spends the same account's budget.
pub type AccountLimiter = Arc<DefaultDirectRateLimiter>;

/// How the adapter reads one response.
#[derive(Debug)]
pub enum Verdict {
    Ok,
    /// Try again (after at least `after`, if given); `error` is returned if no
    /// attempts are left.
    Retry {
        after: Option<Duration>,
        error: ProviderError,
    },
    Fail(ProviderError),
}

/// Whether a request may be sent twice. A request that is not idempotent is retried
/// only where the server certainly did not act on it (no connection, or 429).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    Idempotent,
    NotIdempotent,
}

/// A response read whole.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json<T: serde::de::DeserializeOwned>(&self, provider: &str) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|e| ProviderError::Protocol {
            provider: provider.to_string(),
            message: format!("unreadable JSON ({e}): {}", snippet(&self.body)),
        })
    }
}

/// The HTTP client of one provider.
#[derive(Debug, Clone)]
pub struct HttpClient {
    provider: String,
    client: reqwest::Client,
    limiter: AccountLimiter,
    config: HttpConfig,
    /// Set by a `Retry-After` longer than one call may wait: later calls fail fast
    /// until then instead of hammering a provider that asked for quiet.
    blocked_until: Arc<Mutex<Option<Instant>>>,
    /// Pacing by the bucket the provider reports in its response headers, if it does.
    pacer: Option<Arc<HeaderPacer>>,
}

/// The response headers by which a provider reports its rate-limit token bucket (NS1:
/// `X-Ratelimit-Limit`, `X-Ratelimit-Remaining`, `X-Ratelimit-Period`).
#[derive(Clone, Copy, Debug)]
pub struct BucketHeaders {
    /// Tokens per period.
    pub limit: &'static str,
    /// Tokens left now.
    pub remaining: &'static str,
    /// The period, in seconds, over which `limit` tokens refill.
    pub period: &'static str,
}

/// What one response said about a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketState {
    pub limit: u64,
    pub remaining: u64,
    pub period: Duration,
}

impl BucketState {
    /// Reads the three headers; `None` when any is missing or unreadable.
    pub fn read(names: &BucketHeaders, headers: &HeaderMap) -> Option<Self> {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
        let limit = number(names.limit).filter(|l| *l > 0)?;
        Some(Self {
            limit,
            remaining: number(names.remaining)?,
            period: Duration::from_secs(number(names.period)?),
        })
    }

    /// How long the bucket takes to refill one token.
    pub fn refill(&self) -> Duration {
        self.period / self.limit.min(u64::from(u32::MAX)) as u32
    }
}

/// Slows requests down as the provider's own bucket runs low, so that they are spaced
/// at its refill rate instead of running it dry and meeting 429s. Buckets are told
/// apart by request method: a provider like NS1 counts reads and writes separately.
#[derive(Debug)]
pub struct HeaderPacer {
    names: BucketHeaders,
    /// The share of a bucket (in tenths) below which requests are spaced: the slack
    /// left for other clients of the same key.
    reserve_tenths: u64,
    buckets: Mutex<HashMap<String, PacedBucket>>,
}

#[derive(Debug)]
struct PacedBucket {
    refill: Duration,
    low: bool,
    /// The earliest moment the next request of this bucket may go.
    next_free: Instant,
}

impl HeaderPacer {
    /// Paces once a bucket is down to a tenth of its size.
    pub fn new(names: BucketHeaders) -> Self {
        Self {
            names,
            reserve_tenths: 1,
            buckets: Mutex::default(),
        }
    }

    /// Waits, if the bucket is low, for this request's slot at the refill rate. A slot
    /// further away than `max_wait` is not taken: its distance is the error.
    pub async fn wait(&self, bucket: &str, max_wait: Duration) -> Result<(), Duration> {
        let wait = {
            let mut buckets = self.buckets.lock().expect("lock poisoned");
            let Some(b) = buckets.get_mut(bucket) else {
                return Ok(());
            };
            if !b.low {
                return Ok(());
            }
            let now = Instant::now();
            let at = b.next_free.max(now);
            if at - now > max_wait {
                return Err(at - now);
            }
            b.next_free = at + b.refill;
            at - now
        };
        if !wait.is_zero() {
            tracing::debug!(
                bucket,
                wait_ms = wait.as_millis() as u64,
                "pacing by the provider's rate-limit headers"
            );
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Takes note of what a response said about the bucket.
    pub fn observe(&self, bucket: &str, headers: &HeaderMap) {
        let Some(state) = BucketState::read(&self.names, headers) else {
            return;
        };
        let refill = state.refill();
        let reserve = (state.limit * self.reserve_tenths / 10).max(1);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("lock poisoned");
        let b = buckets.entry(bucket.to_string()).or_insert(PacedBucket {
            refill,
            low: false,
            next_free: now,
        });
        b.refill = refill;
        b.low = state.remaining <= reserve;
        if state.remaining == 0 {
            b.next_free = b.next_free.max(now + refill);
        }
    }
}

static CRYPTO: Once = Once::new();

/// Installs the process's TLS crypto (ring) once; reqwest is built without a default.
pub fn install_crypto_provider() {
    CRYPTO.call_once(|| {
        // Another part of the process may have installed one already; either will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl HttpClient {
    pub fn new(provider: &str, config: HttpConfig, limiter: AccountLimiter) -> Result<Self, ProviderError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dnsteer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Protocol {
                provider: provider.to_string(),
                message: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Self {
            provider: provider.to_string(),
            client,
            limiter,
            config,
            blocked_until: Arc::default(),
            pacer: None,
        })
    }

    /// This client, also pacing by the bucket `pacer` learns from response headers
    /// (share one pacer among the clients of one key).
    pub fn with_pacer(mut self, pacer: Arc<HeaderPacer>) -> Self {
        self.pacer = Some(pacer);
        self
    }

    /// A client with its own token bucket, sized from `config`.
    pub fn with_own_limiter(provider: &str, config: HttpConfig) -> Result<Self, ProviderError> {
        let limiter = crate::shared::limiters::Budget::per_second(config.requests_per_second, config.burst).bucket();
        Self::new(provider, config, limiter)
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The underlying client, to build requests with.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request `build` makes (once per attempt), reads the whole body, and lets
    /// `classify` judge it. Retries as the verdicts and `idempotency` allow.
    pub async fn send<B, C>(
        &self,
        idempotency: Idempotency,
        build: B,
        classify: C,
    ) -> Result<HttpResponse, ProviderError>
    where
        B: Fn(&reqwest::Client) -> RequestBuilder,
        C: Fn(&HttpResponse) -> Verdict,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.check_not_blocked()?;
            self.limiter.until_ready().await;
            let request = build(&self.client).build();
            let bucket = request.as_ref().map(|r| r.method().to_string()).unwrap_or_default();
            if let Some(pacer) = &self.pacer {
                // As with a long `Retry-After`: a wait longer than the backoff cap would
                // stall the caller's cycle, so the call fails now and the caller retries.
                pacer
                    .wait(&bucket, self.config.max_backoff)
                    .await
                    .map_err(|wait| ProviderError::RateLimited {
                        provider: self.provider.clone(),
                        retry_after: Some(wait),
                    })?;
            }
            crate::guard::check(&self.provider)?;
            let sent = match request {
                Ok(request) => self.client.execute(request).await,
                Err(e) => Err(e),
            };
            let (error, after, may_retry) = match sent {
                Err(e) => {
                    // A refused connection never reached the server; anything later might have.
                    let unsent = e.is_connect();
                    let error = self.transport_error(&e);
                    (error, None, unsent || idempotency == Idempotency::Idempotent)
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    if let Some(pacer) = &self.pacer {
                        pacer.observe(&bucket, &headers);
                    }
                    match resp.bytes().await {
                        Err(e) => (self.transport_error(&e), None, idempotency == Idempotency::Idempotent),
                        Ok(body) => {
                            let response = HttpResponse {
                                status,
                                headers,
                                body: body.to_vec(),
                            };
                            match classify(&response) {
                                Verdict::Ok => return Ok(response),
                                Verdict::Fail(error) => return Err(error),
                                Verdict::Retry { after, error } => {
                                    let may = idempotency == Idempotency::Idempotent
                                        || status == StatusCode::TOO_MANY_REQUESTS;
                                    (error, after, may)
                                }
                            }
                        }
                    }
                }
            };
            if !may_retry || attempt >= self.config.max_attempts {
                if let Some(after) = after {
                    self.block_for(after);
                }
                return Err(error);
            }
            let wait = self.backoff(attempt);
            let wait = match after {
                // Waiting longer than the backoff cap inside one call would stall the
                // caller's cycle: give up now and refuse calls until the time is up.
                Some(after) if after > self.config.max_backoff => {
                    self.block_for(after);
                    return Err(error);
                }
                Some(after) => after.max(wait),
                None => wait,
            };
            tracing::debug!(provider = %self.provider, attempt, wait_ms = wait.as_millis() as u64, %error, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends `method url` with one credential header and, if given, a JSON body, as the
    /// APIs keyed by a header (PowerDNS, NS1) take them. Only a GET is resent after a
    /// failure that may have reached the server: their writes are checked against a
    /// read made just before, and one resent after a timeout could land long after that
    /// check (over another writer's newer values).
    pub async fn send_keyed<C>(
        &self,
        method: reqwest::Method,
        url: &str,
        credential: (&str, &str),
        body: Option<Vec<u8>>,
        classify: C,
    ) -> Result<HttpResponse, ProviderError>
    where
        C: Fn(&HttpResponse) -> Verdict,
    {
        let idempotency = if method == reqwest::Method::GET {
            Idempotency::Idempotent
        } else {
            Idempotency::NotIdempotent
        };
        self.send(
            idempotency,
            |client| {
                let mut req = client.request(method.clone(), url).header(credential.0, credential.1);
                if let Some(body) = &body {
                    req = req.header("Content-Type", "application/json").body(body.clone());
                }
                req
            },
            classify,
        )
        .await
    }

    /// Full jitter: a uniform wait between zero and the capped exponential bound.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.config.base_backoff.saturating_mul(1u32 << (attempt - 1).min(16));
        let cap = exp.min(self.config.max_backoff);
        let millis = cap.as_millis() as u64;
        Duration::from_millis(if millis == 0 {
            0
        } else {
            rand::rng().random_range(0..=millis)
        })
    }

    fn block_for(&self, after: Duration) {
        let until = Instant::now() + after;
        let mut blocked = self.blocked_until.lock().expect("lock poisoned");
        *blocked = Some(blocked.map_or(until, |b| b.max(until)));
    }

    fn check_not_blocked(&self) -> Result<(), ProviderError> {
        let blocked = *self.blocked_until.lock().expect("lock poisoned");
        match blocked {
            Some(until) if until > Instant::now() => Err(ProviderError::RateLimited {
                provider: self.provider.clone(),
                retry_after: Some(until - Instant::now()),
            }),
            _ => Ok(()),
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> ProviderError {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "connection failed"
        };
        ProviderError::Transient {
            provider: self.provider.clone(),
            message: format!("{what}: {}", error_chain(e)),
        }
    }
}

/// A request the way most provider APIs take one: a bearer token, query parameters
/// (none: no `?`), and a JSON body where there is one.
pub fn bearer_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    query: &[(&str, String)],
    body: Option<&[u8]>,
) -> RequestBuilder {
    let mut request = client.request(method, url).bearer_auth(token);
    if !query.is_empty() {
        request = request.query(query);
    }
    match body {
        Some(body) => request.header("Content-Type", "application/json").body(body.to_vec()),
        None => request,
    }
}

/// The reading of a status code every adapter shares, after mapping its own error
/// codes: 2xx ok; 429 rate limited (retried after `Retry-After`); 401/403 auth; 5xx
/// (and 408) transient; other 4xx rejected.
pub fn classify_status(provider: &str, response: &HttpResponse) -> Verdict {
    classify_status_as(provider, response, || {
        format!("HTTP {}: {}", response.status, snippet(&response.body))
    })
}

/// `classify_status` with the adapter's reading of the error body as the message.
pub fn classify_status_as(provider: &str, response: &HttpResponse, message: impl FnOnce() -> String) -> Verdict {
    let status = response.status;
    let provider = provider.to_string();
    if status.is_success() {
        Verdict::Ok
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        rate_limited(&provider, response)
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        Verdict::Fail(ProviderError::Auth {
            provider,
            message: message(),
        })
    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        Verdict::Retry {
            after: retry_after(&response.headers),
            error: ProviderError::Transient {
                provider,
                message: message(),
            },
        }
    } else {
        Verdict::Fail(ProviderError::Rejected {
            provider,
            message: message(),
        })
    }
}

/// A request the provider asked us to slow down on (a 429, or the provider's own code
/// for it): retried no sooner than its `Retry-After`.
pub fn rate_limited(provider: &str, response: &HttpResponse) -> Verdict {
    let after = retry_after(&response.headers);
    Verdict::Retry {
        after,
        error: ProviderError::RateLimited {
            provider: provider.to_string(),
            retry_after: after,
        },
    }
}

/// `Retry-After` in its delta-seconds form (the HTTP-date form is read as absent: a
/// clock-skewed date is worse than our own backoff).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        // An hour at most: a provider asking for longer is treated as asking for an hour.
        .map(|secs| Duration::from_secs(secs.min(3600)))
}

/// The start of a body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s = s.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        source = s_source(source);
    }
    out
}

fn s_source<'a>(e: Option<&'a (dyn std::error::Error + 'static)>) -> Option<&'a (dyn std::error::Error + 'static)> {
    e.and_then(|e| e.source())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: BucketHeaders = BucketHeaders {
        limit: "x-ratelimit-limit",
        remaining: "x-ratelimit-remaining",
        period: "x-ratelimit-period",
    };

    fn bucket(limit: u64, remaining: u64, period: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(NAMES.limit, limit.into());
        h.insert(NAMES.remaining, remaining.into());
        h.insert(NAMES.period, period.into());
        h
    }

    #[tokio::test]
    async fn the_pacer_spaces_requests_only_once_the_bucket_runs_low() {
        let pacer = HeaderPacer::new(NAMES);
        let cap = Duration::from_secs(5);
        // Unknown bucket, and a bucket with plenty left: no wait.
        assert_eq!(pacer.wait("GET", cap).await, Ok(()));
        pacer.observe("GET", &bucket(100, 50, 10));
        let started = Instant::now();
        pacer.wait("GET", cap).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(50));
        // Empty: the next GET waits one refill (10 s / 100 = 100 ms); POST is another bucket.
        pacer.observe("GET", &bucket(100, 0, 10));
        pacer.wait("POST", cap).await.unwrap();
        let started = Instant::now();
        pacer.wait("GET", cap).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(95),
            "{:?}",
            started.elapsed()
        );
        // A slot further away than the caller may wait is refused, with its distance.
        pacer.observe("GET", &bucket(1, 0, 60));
        let refused = pacer.wait("GET", cap).await.unwrap_err();
        assert!(refused > Duration::from_secs(50), "{refused:?}");
        // Missing or zero headers teach nothing.
        assert_eq!(BucketState::read(&NAMES, &HeaderMap::new()), None);
        assert_eq!(BucketState::read(&NAMES, &bucket(0, 0, 1)), None);
    }
}
