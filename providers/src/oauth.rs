//! OAuth2 access tokens for the adapters whose APIs take them (Google's JWT-bearer
//! grant, RFC 7523; Azure's client credentials): a form POST to the token endpoint
//! through the provider's `HttpClient` (so the write guard and the rate limit apply),
//! an OAuth2 error (RFC 6749 §5.2) read as `Auth`, and the token kept until shortly
//! before it expires.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Deserialize;

use crate::error::ProviderError;
use crate::http::{classify_status, snippet, HttpClient, HttpResponse, Idempotency, Verdict};

/// A token this close to expiry is renewed before use, so it cannot lapse in flight.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Seconds the token lives.
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Default, Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

struct Cached {
    value: String,
    renew_at: Instant,
}

/// One provider's access token, asked for when there is none or it is about to expire.
pub struct TokenCache {
    /// Held while a token is asked for, so concurrent calls wait for one exchange.
    token: tokio::sync::Mutex<Option<Cached>>,
    /// How long before expiry a token is renewed.
    margin: Duration,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::renewing_before(TOKEN_MARGIN)
    }
}

impl TokenCache {
    /// A cache that renews a token `margin` before it expires (half its life when it
    /// lives shorter than that).
    pub fn renewing_before(margin: Duration) -> Self {
        Self {
            token: tokio::sync::Mutex::new(None),
            margin,
        }
    }

    /// The cached token, or a new one from `url` for the form `fields` makes (called
    /// only when a token is asked for: a JWT assertion is signed fresh each time).
    pub async fn token<F>(&self, http: &HttpClient, url: &str, fields: F) -> Result<String, ProviderError>
    where
        F: FnOnce() -> Result<Vec<(&'static str, String)>, ProviderError>,
    {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| t.renew_at > Instant::now()) {
            return Ok(token.value.clone());
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields()?)
            .finish();
        let asked = Instant::now();
        // Asking again for a token changes nothing, so any failure may be retried.
        let resp = http
            .send(
                Idempotency::Idempotent,
                |client| {
                    client
                        .post(url)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(body.clone())
                },
                |resp| classify(http.provider(), resp),
            )
            .await?;
        // Not `resp.json`: its error quotes the body, which here may hold a token.
        let token: TokenResponse = serde_json::from_slice(&resp.body).map_err(|_| ProviderError::Protocol {
            provider: http.provider().to_string(),
            message: format!(
                "the token endpoint answered HTTP {} without a usable access_token",
                resp.status
            ),
        })?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        // A short-lived token is used for half its life rather than not at all.
        let usable = lifetime.checked_sub(self.margin).unwrap_or(lifetime / 2);
        *cached = Some(Cached {
            value: token.access_token.clone(),
            renew_at: asked + usable,
        });
        Ok(token.access_token)
    }

    /// Drops the cached token (the API refused it): the next call asks for a new one.
    pub async fn forget(&self) {
        *self.token.lock().await = None;
    }
}

/// The token endpoint's answer: any refusal but 429 is the credentials' fault (400
/// `invalid_grant` for a key the endpoint does not know or a bad signature, 401
/// `invalid_client` for a wrong secret).
fn classify(provider: &str, resp: &HttpResponse) -> Verdict {
    let status = resp.status;
    if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
        let error: TokenError = serde_json::from_slice(&resp.body).unwrap_or_default();
        // The description's first line: the rest may be trace and correlation ids.
        let description = error.error_description.lines().next().unwrap_or_default();
        let message = if error.error.is_empty() {
            format!(
                "the token endpoint refused the credentials: HTTP {status}: {}",
                snippet(&resp.body)
            )
        } else {
            format!(
                "the token endpoint refused the credentials: {}: {description}",
                error.error
            )
        };
        return Verdict::Fail(ProviderError::Auth {
            provider: provider.to_string(),
            message,
        });
    }
    classify_status(provider, resp)
}
