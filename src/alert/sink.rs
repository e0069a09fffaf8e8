//! Where alerts go and how: each configured sink (webhook, Slack, PagerDuty) with its
//! own bounded queue and background task that delivers with retries. Secrets (the
//! webhook's key, Slack's URL, PagerDuty's routing key) stay inside this file: sinks
//! print by hand and every error text is scrubbed before it is logged.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use tokio::sync::Notify;

use super::event::Event;
use super::format::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use super::AlertOptions;
use crate::config::AlertConfig;

const REDACTED: &str = "<redacted>";

/// One configured destination.
pub(crate) struct Sink {
    /// `alerts[N] kind` plus, for a plain webhook, its host: safe to log.
    label: String,
    url: Url,
    kind: SinkKind,
    /// Every string that must never leave this sink in a message.
    secrets: Vec<String>,
}

enum SinkKind {
    Webhook { secret: Option<String> },
    Slack,
    PagerDuty { routing_key: String },
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SinkKind::Webhook { secret } => f
                .debug_struct("Webhook")
                .field("label", &self.label)
                .field("url", &self.url.as_str())
                .field("secret", &secret.as_ref().map(|_| REDACTED))
                .finish(),
            SinkKind::Slack => f
                .debug_struct("Slack")
                .field("label", &self.label)
                .field("url", &REDACTED)
                .finish(),
            SinkKind::PagerDuty { .. } => f
                .debug_struct("PagerDuty")
                .field("label", &self.label)
                .field("url", &self.url.as_str())
                .field("routing_key", &REDACTED)
                .finish(),
        }
    }
}

fn http_url(text: &str) -> Option<Url> {
    Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

impl Sink {
    /// Builds the sink of `alerts[index]`. Errors name the entry, never a secret, and
    /// never a URL (Slack's is a secret; a webhook's may carry a token).
    pub(crate) fn from_config(index: usize, config: &AlertConfig, options: &AlertOptions) -> anyhow::Result<Self> {
        let prefix = format!("alerts[{index}] ({})", config.kind());
        match config {
            AlertConfig::Webhook(c) => {
                let url = http_url(&c.url).with_context(|| format!("{prefix}: url is not an http(s) URL"))?;
                let secret = match &c.secret {
                    None => None,
                    Some(s) if s.expose().is_empty() => bail!("{prefix}: secret is not resolved"),
                    Some(s) => Some(s.expose().to_string()),
                };
                let host = url.host_str().unwrap_or_default();
                let label = match url.port_or_known_default() {
                    Some(port) => format!("alerts[{index}] webhook {host}:{port}"),
                    None => format!("alerts[{index}] webhook {host}"),
                };
                let secrets = secret.iter().cloned().collect();
                Ok(Self {
                    label,
                    url,
                    kind: SinkKind::Webhook { secret },
                    secrets,
                })
            }
            AlertConfig::Slack(c) => {
                let raw = c.url.expose();
                if raw.is_empty() {
                    bail!("{prefix}: url secret is not resolved");
                }
                let url = http_url(raw).with_context(|| format!("{prefix}: url is not an http(s) URL"))?;
                // The whole URL is the credential; its path alone is too.
                let mut secrets = vec![raw.to_string(), url.as_str().to_string()];
                let path = &url[url::Position::BeforePath..];
                if path.len() > 1 {
                    secrets.push(path.to_string());
                }
                Ok(Self {
                    label: format!("alerts[{index}] slack"),
                    url,
                    kind: SinkKind::Slack,
                    secrets,
                })
            }
            AlertConfig::Pagerduty(c) => {
                let key = c.routing_key.expose();
                if key.is_empty() {
                    bail!("{prefix}: routing_key secret is not resolved");
                }
                let url = http_url(&options.pagerduty_url)
                    .with_context(|| format!("{prefix}: the PagerDuty URL is not an http(s) URL"))?;
                Ok(Self {
                    label: format!("alerts[{index}] pagerduty"),
                    url,
                    kind: SinkKind::PagerDuty {
                        routing_key: key.to_string(),
                    },
                    secrets: vec![key.to_string()],
                })
            }
        }
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The request for `event`, made once per alert so every retry sends the same bytes
    /// (same `id`, same signature). `now` stamps the webhook body.
    pub(crate) fn prepare(&self, event: &Event, now: DateTime<Utc>, id: &str) -> Prepared {
        let json = HeaderValue::from_static("application/json");
        match &self.kind {
            SinkKind::Webhook { secret } => {
                let timestamp = now.timestamp();
                let body = format::webhook_body(event, timestamp, id);
                let mut headers = vec![
                    (CONTENT_TYPE.as_str(), json),
                    (TIMESTAMP_HEADER, HeaderValue::from(timestamp)),
                ];
                if let Some(secret) = secret {
                    let signature = format::signature(secret.as_bytes(), &body);
                    headers.push((
                        SIGNATURE_HEADER,
                        HeaderValue::from_str(&signature).expect("hex is a valid header"),
                    ));
                }
                Prepared { headers, body }
            }
            SinkKind::Slack => Prepared {
                headers: vec![(CONTENT_TYPE.as_str(), json)],
                body: serde_json::to_vec(&format::slack_body(event)).expect("JSON serializes"),
            },
            SinkKind::PagerDuty { routing_key } => Prepared {
                headers: vec![(CONTENT_TYPE.as_str(), json)],
                body: serde_json::to_vec(&format::pagerduty_body(event, routing_key)).expect("JSON serializes"),
            },
        }
    }

    /// `text` with every secret of this sink replaced.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut secrets: Vec<&String> = self.secrets.iter().filter(|s| !s.is_empty()).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets
            .iter()
            .fold(text.to_string(), |out, s| out.replace(s.as_str(), REDACTED))
    }

    /// Sends `prepared`, retrying connection failures, timeouts, 408, 429 and 5xx with
    /// capped exponential backoff and jitter (and `Retry-After`, up to a cap). Returns
    /// the attempts made, and the last error (already scrubbed) on failure.
    pub(crate) async fn deliver(
        &self,
        client: &reqwest::Client,
        prepared: &Prepared,
        options: &AlertOptions,
    ) -> Result<u32, (u32, String)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = client.post(self.url.clone()).body(prepared.body.clone());
            for (name, value) in &prepared.headers {
                request = request.header(*name, value.clone());
            }
            let (error, retry_after) = match request.send().await {
                Err(e) => (self.transport_error(e), None),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = dnsteer_providers::http::retry_after(response.headers());
                    let body = response.bytes().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok(attempt);
                    }
                    let error = self.redact(&format!("HTTP {status}: {}", dnsteer_providers::http::snippet(&body)));
                    let retryable = status.is_server_error()
                        || status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::REQUEST_TIMEOUT;
                    if !retryable {
                        return Err((attempt, error));
                    }
                    (error, retry_after)
                }
            };
            if attempt >= options.max_attempts.max(1) {
                return Err((attempt, error));
            }
            let wait = backoff(options, attempt).max(retry_after.unwrap_or_default().min(options.max_retry_after));
            tracing::debug!(sink = %self.label, attempt, wait_ms = wait.as_millis() as u64, %error, "alert delivery failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> String {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "connection failed"
        };
        // reqwest puts the URL in its message; Slack's URL is the secret itself.
        let e = e.without_url();
        let mut chain = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !chain.contains(&text) {
                chain.push_str(": ");
                chain.push_str(&text);
            }
            source = cause.source();
        }
        self.redact(&format!("{what}: {chain}"))
    }
}

/// Exponential from `base_backoff`, capped at `max_backoff`, with "equal jitter": at
/// least half the step, so waits still grow, and a random rest so a fleet of agents
/// does not retry in step.
fn backoff(options: &AlertOptions, attempt: u32) -> Duration {
    let step = options
        .base_backoff
        .saturating_mul(1u32 << (attempt - 1).min(16))
        .min(options.max_backoff);
    let half = step / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter)
}

/// One alert's request, fixed before the first attempt.
pub(crate) struct Prepared {
    pub(crate) headers: Vec<(&'static str, HeaderValue)>,
    pub(crate) body: Vec<u8>,
}

/// Delivery counters shared by the handle and every sink task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) deduplicated: AtomicU64,
    /// Alerts queued or being delivered, over every sink.
    pub(crate) pending: AtomicUsize,
    /// Woken when `pending` reaches zero.
    pub(crate) idle: Notify,
}

impl Counters {
    fn finish_one(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// A sink's bounded queue: when full, the oldest alert gives way to the newest.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    work: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Event>,
    closed: bool,
    /// Set by a drop, cleared when the task takes an alert: one warning per overflow.
    overflowing: bool,
}

impl Queue {
    /// Enqueues `event`; returns whether an older alert was dropped to make room, and
    /// whether that is the first drop of this overflow.
    pub(crate) fn push(&self, event: Event, capacity: usize) -> (bool, bool) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut dropped = (false, false);
        while state.items.len() >= capacity.max(1) {
            state.items.pop_front();
            dropped = (true, !state.overflowing);
            state.overflowing = true;
        }
        state.items.push_back(event);
        drop(state);
        self.work.notify_one();
        dropped
    }

    pub(crate) fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.work.notify_one();
    }

    /// The next alert; `None` once closed and drained.
    async fn next(&self) -> Option<Event> {
        loop {
            // One task per queue: a `notify_one` before this wait leaves a permit.
            let notified = self.work.notified();
            {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(event) = state.items.pop_front() {
                    state.overflowing = false;
                    return Some(event);
                }
                if state.closed {
                    return None;
                }
            }
            notified.await;
        }
    }
}

/// The background task of one sink: takes alerts in order and delivers each.
pub(crate) async fn run(
    sink: Sink,
    queue: Arc<Queue>,
    client: reqwest::Client,
    counters: Arc<Counters>,
    options: AlertOptions,
) {
    while let Some(event) = queue.next().await {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let prepared = sink.prepare(&event, Utc::now(), &id);
        match sink.deliver(&client, &prepared, &options).await {
            Ok(attempts) => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(sink = %sink.label, event = %event.event, attempts, id, "alert delivered");
            }
            Err((attempts, error)) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(sink = %sink.label, event = %event.event, attempts, %error, "alert delivery failed");
            }
        }
        counters.finish_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::event::EventKind;
    use crate::config::{PagerDutyAlertConfig, Secret, SlackAlertConfig, WebhookAlertConfig};

    fn resolved(value: &str) -> Secret {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s"), format!("{value}\n")).unwrap();
        let mut s = Secret::file("s");
        s.resolve(dir.path()).unwrap();
        s
    }

    fn event(at: i64) -> Event {
        Event::new(
            EventKind::TargetDown,
            "a",
            DateTime::from_timestamp(at, 0).unwrap(),
            format!("e{at}"),
        )
    }

    #[test]
    fn debug_and_redact_hide_every_secret() {
        let options = AlertOptions::default();
        let slack = Sink::from_config(
            1,
            &AlertConfig::Slack(SlackAlertConfig {
                url: resolved("https://hooks.slack.test/services/T0/B0/XSLACKX"),
            }),
            &options,
        )
        .unwrap();
        let pd = Sink::from_config(
            2,
            &AlertConfig::Pagerduty(PagerDutyAlertConfig {
                routing_key: resolved("RKEY0123456789"),
            }),
            &options,
        )
        .unwrap();
        let hook = Sink::from_config(
            0,
            &AlertConfig::Webhook(WebhookAlertConfig {
                url: "http://127.0.0.1:9/hook".into(),
                secret: Some(resolved("HOOKSECRET")),
            }),
            &options,
        )
        .unwrap();
        let shown = format!("{slack:?} {pd:?} {hook:?}");
        for secret in ["XSLACKX", "hooks.slack.test", "RKEY0123456789", "HOOKSECRET"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(hook.label(), "alerts[0] webhook 127.0.0.1:9");
        assert_eq!(
            slack.redact("error sending request for url (https://hooks.slack.test/services/T0/B0/XSLACKX)"),
            "error sending request for url (<redacted>)"
        );
        assert_eq!(slack.redact("GET /services/T0/B0/XSLACKX"), "GET <redacted>");
        assert_eq!(pd.redact("bad key RKEY0123456789"), "bad key <redacted>");
    }

    #[test]
    fn unresolved_secrets_and_bad_urls_are_refused_without_echo() {
        let options = AlertOptions::default();
        let err = Sink::from_config(
            0,
            &AlertConfig::Slack(SlackAlertConfig { url: Secret::env("X") }),
            &options,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "alerts[0] (slack): url secret is not resolved");
        let err = Sink::from_config(
            3,
            &AlertConfig::Slack(SlackAlertConfig {
                url: resolved("not a url XSLACKX"),
            }),
            &options,
        )
        .unwrap_err();
        assert!(!format!("{err:#}").contains("XSLACKX"));
        let err = Sink::from_config(
            0,
            &AlertConfig::Webhook(WebhookAlertConfig {
                url: "ftp://x/".into(),
                secret: None,
            }),
            &options,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "alerts[0] (webhook): url is not an http(s) URL");
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let q = Queue::default();
        assert_eq!(q.push(event(1), 2), (false, false));
        assert_eq!(q.push(event(2), 2), (false, false));
        assert_eq!(q.push(event(3), 2), (true, true));
        assert_eq!(q.push(event(4), 2), (true, false));
        let left: Vec<_> = q
            .state
            .lock()
            .unwrap()
            .items
            .iter()
            .map(|e| e.summary.clone())
            .collect();
        assert_eq!(left, ["e3", "e4"]);
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let options = AlertOptions {
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            ..AlertOptions::default()
        };
        for _ in 0..50 {
            let first = backoff(&options, 1);
            assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
            let late = backoff(&options, 10);
            assert!(late >= Duration::from_secs(4) && late <= Duration::from_secs(8));
        }
    }

    #[test]
    fn webhook_request_is_signed_and_stamped() {
        let hook = Sink::from_config(
            0,
            &AlertConfig::Webhook(WebhookAlertConfig {
                url: "http://127.0.0.1:9/hook".into(),
                secret: Some(resolved("HOOKSECRET")),
            }),
            &AlertOptions::default(),
        )
        .unwrap();
        let now = DateTime::from_timestamp(1_714_564_800, 0).unwrap();
        let p = hook.prepare(&event(5), now, "id1");
        let header = |name: &str| {
            p.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_str().unwrap().to_string())
        };
        assert_eq!(header(TIMESTAMP_HEADER).unwrap(), "1714564800");
        assert_eq!(
            header(SIGNATURE_HEADER).unwrap(),
            format::signature(b"HOOKSECRET", &p.body)
        );
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["timestamp"], 1_714_564_800);
        assert_eq!(v["id"], "id1");
    }
}
