//! Alerts to on-call: events (`event`), their wire formats (`format`: signed webhook,
//! Slack, PagerDuty Events API v2), de-duplication (`dedup`) and background delivery
//! with retries (`sink`). [`Alerter::send`] never blocks: a slow or dead receiver
//! never delays steering.

mod dedup;
mod event;
mod format;
mod sink;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

pub use dedup::Dedup;
pub use event::{Event, EventKind, Severity};
pub use format::{
    pagerduty_body, signature, slack_body, webhook_body, PagerDutyAction, PAGERDUTY_URL, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};

use crate::config::AlertConfig;
use sink::{Counters, Queue, Sink};

/// How many of the last alerts are kept for the status page.
pub const RECENT: usize = 20;

/// Delivery settings. The defaults are the production ones; tests shorten the waits
/// and point PagerDuty at a local receiver.
#[derive(Clone, Debug)]
pub struct AlertOptions {
    /// Alerts waiting per sink; beyond it the oldest is dropped (and counted).
    pub queue_capacity: usize,
    /// One attempt, connect to last byte.
    pub request_timeout: Duration,
    /// Attempts per alert, the first included.
    pub max_attempts: u32,
    /// The first retry's wait; it doubles up to `max_backoff` (with jitter).
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one waits this long.
    pub max_retry_after: Duration,
    /// The same event inside this window (by the events' `at`) is sent once.
    pub dedup_window: Duration,
    /// PagerDuty's Events API v2 endpoint.
    pub pagerduty_url: String,
}

impl Default for AlertOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 1000,
            request_timeout: Duration::from_secs(5),
            max_attempts: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
            dedup_window: Duration::from_secs(600),
            pagerduty_url: PAGERDUTY_URL.to_string(),
        }
    }
}

/// Totals since start, over every sink, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AlertStats {
    /// Alerts a receiver accepted (one per sink).
    pub sent: u64,
    /// Alerts given up on after their attempts, or refused by the receiver.
    pub failed: u64,
    /// Alerts pushed out of a full queue.
    pub dropped: u64,
    /// Events not sent because the same one went out within the window.
    pub deduplicated: u64,
}

/// The handle the daemon sends events through. Cheap to clone; the sinks' tasks end
/// once every handle is gone and their queues are drained.
#[derive(Clone)]
pub struct Alerter {
    inner: Arc<Inner>,
}

struct Inner {
    agent: String,
    queues: Vec<(String, Arc<Queue>)>,
    dedup: Mutex<Dedup>,
    counters: Arc<Counters>,
    capacity: usize,
    /// The last alerts admitted, newest last, for the status page.
    recent: Mutex<VecDeque<Event>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for (_, queue) in &self.queues {
            queue.close();
        }
    }
}

impl fmt::Debug for Alerter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sinks: Vec<&str> = self.inner.queues.iter().map(|(label, _)| label.as_str()).collect();
        f.debug_struct("Alerter")
            .field("agent", &self.inner.agent)
            .field("sinks", &sinks)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Alerter {
    /// Builds a sink per configuration entry and starts its delivery task. Must be
    /// called inside a tokio runtime; every secret must be resolved.
    pub fn new(configs: &[AlertConfig], agent: &str) -> anyhow::Result<Self> {
        Self::with_options(configs, agent, AlertOptions::default())
    }

    /// [`Alerter::new`] with explicit delivery settings.
    pub fn with_options(configs: &[AlertConfig], agent: &str, options: AlertOptions) -> anyhow::Result<Self> {
        let sinks = configs
            .iter()
            .enumerate()
            .map(|(index, config)| Sink::from_config(index, config, &options))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let alerter = Self::build(agent, &options, sinks.iter().map(|s| s.label().to_string()).collect());
        if sinks.is_empty() {
            return Ok(alerter);
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| anyhow::anyhow!("alerts need a tokio runtime to deliver from"))?;
        dnsteer_providers::http::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(Duration::from_secs(5)))
            // A redirect would carry a signed body, or a secret URL's request, elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dnsteer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the alerts' HTTP client: {}", e.without_url()))?;
        for (sink, (_, queue)) in sinks.into_iter().zip(&alerter.inner.queues) {
            runtime.spawn(sink::run(
                sink,
                queue.clone(),
                client.clone(),
                alerter.inner.counters.clone(),
                options.clone(),
            ));
        }
        Ok(alerter)
    }

    /// Takes over `old`'s list of recent alerts (a reload replaced the sinks), so the
    /// status page keeps showing what went out.
    pub fn carry_recent_from(&self, old: &Alerter) {
        let recent = old.inner.recent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        *self.inner.recent.lock().unwrap_or_else(|p| p.into_inner()) = recent;
    }

    /// No sinks: events are only logged (CLI commands, tests).
    pub fn disabled() -> Self {
        Self::build("", &AlertOptions::default(), Vec::new())
    }

    fn build(agent: &str, options: &AlertOptions, labels: Vec<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                agent: agent.to_string(),
                queues: labels
                    .into_iter()
                    .map(|label| (label, Arc::new(Queue::default())))
                    .collect(),
                dedup: Mutex::new(Dedup::new(options.dedup_window)),
                counters: Arc::new(Counters::default()),
                capacity: options.queue_capacity,
                recent: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// Logs `event` and queues it for every sink, unless the same event went out
    /// within the window. Never blocks on the network and never awaits.
    pub fn send(&self, mut event: Event) {
        if event.agent.is_empty() {
            event.agent = self.inner.agent.clone();
        }
        let admitted = self.inner.dedup.lock().unwrap_or_else(|p| p.into_inner()).admit(&event);
        if !admitted {
            self.inner.counters.deduplicated.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                event = %event.event,
                zone = event.zone.as_deref(),
                target = event.target.as_deref(),
                summary = %event.summary,
                "alert suppressed: sent within the de-duplication window"
            );
            return;
        }
        log(&event);
        {
            let mut recent = self.inner.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() >= RECENT {
                recent.pop_front();
            }
            recent.push_back(event.clone());
        }
        for (label, queue) in &self.inner.queues {
            self.inner.counters.pending.fetch_add(1, Ordering::SeqCst);
            let (dropped, first) = queue.push(event.clone(), self.inner.capacity);
            if dropped {
                // The dropped alert will never finish: it leaves `pending` here.
                self.inner.counters.pending.fetch_sub(1, Ordering::SeqCst);
                self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                if first {
                    tracing::warn!(sink = %label, "alert queue full: dropping the oldest alerts");
                }
            }
        }
    }

    /// The last alerts sent (at most [`RECENT`]), oldest first.
    pub fn recent(&self) -> Vec<Event> {
        self.inner
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Waits until every queued alert is delivered or given up on, or `timeout` passes.
    /// Returns whether the queues were emptied.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let counters = &self.inner.counters;
        loop {
            let idle = counters.idle.notified();
            tokio::pin!(idle);
            // Registered before the check, so a wake-up in between is not lost.
            idle.as_mut().enable();
            if counters.pending.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return counters.pending.load(Ordering::SeqCst) == 0;
            }
        }
    }

    pub fn stats(&self) -> AlertStats {
        let c = &self.inner.counters;
        AlertStats {
            sent: c.sent.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            deduplicated: c.deduplicated.load(Ordering::Relaxed),
        }
    }
}

/// Every alert is logged, whatever its sinks do: warn for critical and warning,
/// info for info. Events carry no secrets; sinks' settings never reach here.
fn log(event: &Event) {
    let details = (!event.details.is_null()).then(|| event.details.to_string());
    let zone = event.zone.as_deref();
    let target = event.target.as_deref();
    match event.severity {
        Severity::Critical | Severity::Warning => tracing::warn!(
            event = %event.event,
            severity = %event.severity,
            zone,
            target,
            details,
            "alert: {}",
            event.summary
        ),
        Severity::Info => tracing::info!(
            event = %event.event,
            severity = %event.severity,
            zone,
            target,
            details,
            "alert: {}",
            event.summary
        ),
    }
}
