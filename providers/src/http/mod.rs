//! The one HTTP layer every HTTP provider goes through: per-attempt timeouts, at most a
//! few attempts with capped exponential backoff and full jitter, `Retry-After` honoured
//! (within a call and across calls), and a token bucket per provider account.
//!
//! Adapters never loop themselves: they build a request and classify a response as
//! ok / retry / fail (`Verdict`), in the manner of Vector's `RetryLogic`.

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
        })
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
            crate::guard::check(&self.provider)?;
            let (error, after, may_retry) = match build(&self.client).send().await {
                Err(e) => {
                    // A refused connection never reached the server; anything later might have.
                    let unsent = e.is_connect();
                    let error = self.transport_error(&e);
                    (error, None, unsent || idempotency == Idempotency::Idempotent)
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
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
