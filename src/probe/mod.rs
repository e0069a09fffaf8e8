//! Probers: the I/O that measures a target's health (a DNS query straight to one
//! authoritative address, an HTTP GET, a TCP connect) and the scheduler that runs them.
//! A prober never returns `Err`: every failure is data, a [`ProbeResult`] with
//! `ok: false`, a failure class and a reason. What each check asks and how failures are
//! classified is written for users in `docs/probing.md`.

mod dns;
mod http;
mod scheduler;
mod targets;
mod tcp;

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use dns::DnsProber;
pub use http::HttpProber;
pub use scheduler::{probe_rounds, ScheduledTarget, Scheduler, SchedulerHandle};
pub use targets::{target_names, targets_from_config, targets_where, Target};
pub use tcp::TcpProber;

/// What one probe found: `Ok`, or the class of its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// No reply within the timeout (DNS, or a prober cut off by the scheduler).
    Timeout,
    /// DNS: the address refused the datagram (ICMP port unreachable) or the connection.
    Refused,
    /// DNS: rcode SERVFAIL (or another rcode a healthy server does not send).
    Servfail,
    /// DNS: rcode REFUSED (the server does not serve the zone).
    DnsRefused,
    /// DNS: an answer without the AA bit.
    NotAuthoritative,
    /// DNS: an answer whose values differ from the expected ones.
    WrongAnswer,
    /// DNS: no record of the asked type (NODATA or NXDOMAIN).
    NoAnswer,
    /// HTTP, TCP: the connection was refused.
    ConnectRefused,
    /// HTTP, TCP: no connection within the timeout.
    ConnectTimeout,
    /// HTTP: the TLS handshake failed (certificate, protocol).
    Tls,
    /// HTTP: a status other than the expected ones.
    Status,
    /// HTTP: the body lacks the expected text.
    BodyMismatch,
    /// HTTP: connected, but the response did not complete within the timeout.
    ResponseTimeout,
    /// Any other I/O or protocol error (the reason says which).
    Io,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Timeout => "timeout",
            Self::Refused => "refused",
            Self::Servfail => "servfail",
            Self::DnsRefused => "dns_refused",
            Self::NotAuthoritative => "not_authoritative",
            Self::WrongAnswer => "wrong_answer",
            Self::NoAnswer => "no_answer",
            Self::ConnectRefused => "connect_refused",
            Self::ConnectTimeout => "connect_timeout",
            Self::Tls => "tls",
            Self::Status => "status",
            Self::BodyMismatch => "body_mismatch",
            Self::ResponseTimeout => "response_timeout",
            Self::Io => "io",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One observation of one target, without its time stamp (the caller adds it).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// The target's name: `check:NAME` or `provider:NAME`.
    pub target: String,
    pub ok: bool,
    pub class: Outcome,
    /// Why it failed, naming the address asked; `None` when ok.
    pub reason: Option<String>,
    pub latency: Duration,
    /// The zone's SOA serial, from DNS probes that asked for it.
    pub serial: Option<u32>,
}

impl ProbeResult {
    pub fn success(target: &str, latency: Duration) -> Self {
        Self {
            target: target.to_string(),
            ok: true,
            class: Outcome::Ok,
            reason: None,
            latency,
            serial: None,
        }
    }

    pub fn failure(target: &str, class: Outcome, reason: impl Into<String>, latency: Duration) -> Self {
        Self {
            target: target.to_string(),
            ok: false,
            class,
            reason: Some(reason.into()),
            latency,
            serial: None,
        }
    }
}

/// Measures one target once per call. Failures are returned as data, never as `Err`.
#[async_trait]
pub trait Prober: Send + Sync + fmt::Debug {
    async fn probe(&self) -> ProbeResult;
    /// The target name every result carries.
    fn target(&self) -> &str;
    /// How long one probe may take; the prober gives up by itself after it.
    fn timeout(&self) -> Duration;
}

/// Errors building a prober from its settings (a bad URL, name or address). Probing
/// itself never fails with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    #[error("{target}: invalid DNS name {name:?}: {message}")]
    Name {
        target: String,
        name: String,
        message: String,
    },
    #[error("{target}: invalid URL {url:?}: {message}")]
    Url {
        target: String,
        url: String,
        message: String,
    },
    #[error("{target}: cannot build the HTTP client: {message}")]
    Client { target: String, message: String },
}

/// How long past its own timeout a prober may run before the caller cuts it off: its
/// own timeout classifies the failure better, so it gets the first word.
const GRACE: Duration = Duration::from_millis(250);

/// Runs one probe, cut off at `limit` with a `timeout` result if the prober overruns.
async fn bounded_probe(prober: &dyn Prober, limit: Duration) -> ProbeResult {
    let start = Instant::now();
    match tokio::time::timeout(limit, prober.probe()).await {
        Ok(result) => result,
        Err(_) => ProbeResult::failure(
            prober.target(),
            Outcome::Timeout,
            format!("no result within {} ms", limit.as_millis()),
            start.elapsed(),
        ),
    }
}
