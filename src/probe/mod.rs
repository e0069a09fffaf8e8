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
pub use scheduler::{probe_rounds, Confirm, ScheduledTarget, Scheduler, SchedulerHandle};
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
    /// A passing round of a target probed at several addresses (a provider's
    /// nameservers) where some failed: which, and why. `None` when every one passed.
    pub degraded: Option<String>,
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
            degraded: None,
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
            degraded: None,
        }
    }
}

impl ProbeResult {
    /// One round of a target probed at several addresses, as one result: it passes
    /// when any address passed, since a provider is unhealthy only when every one of
    /// its nameservers fails; one that fails while another passes makes the round
    /// `degraded`. Whatever the order of `results`, the verdict is the same. `None`
    /// for an empty round.
    pub fn combine(results: Vec<ProbeResult>) -> Option<ProbeResult> {
        if results.len() <= 1 {
            return results.into_iter().next();
        }
        let total = results.len();
        let (passed, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.ok);
        let reasons = || {
            failed
                .iter()
                .filter_map(|r| r.reason.as_deref())
                .collect::<Vec<_>>()
                .join("; ")
        };
        // The fastest answer stands for a passing round (a resolver takes the first),
        // the slowest failure for a failing one (how long until all were given up).
        let combined = match passed.iter().min_by_key(|r| r.latency) {
            Some(best) => ProbeResult {
                degraded: (!failed.is_empty()).then(|| format!("{} of {total} failing: {}", failed.len(), reasons())),
                serial: passed.iter().find_map(|r| r.serial),
                ..best.clone()
            },
            None => ProbeResult {
                reason: Some(reasons()),
                latency: failed.iter().map(|r| r.latency).max().unwrap_or_default(),
                serial: failed.iter().find_map(|r| r.serial),
                ..failed[0].clone()
            },
        };
        Some(combined)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ms: u64) -> ProbeResult {
        ProbeResult::success("provider:a", Duration::from_millis(ms))
    }

    fn down(address: &str) -> ProbeResult {
        ProbeResult::failure(
            "provider:a",
            Outcome::Timeout,
            format!("{address}: no reply"),
            Duration::from_millis(500),
        )
    }

    #[test]
    fn a_round_passes_while_any_nameserver_answers_and_says_which_failed() {
        for round in [vec![ok(3), down("192.0.2.1:53")], vec![down("192.0.2.1:53"), ok(3)]] {
            let r = ProbeResult::combine(round).unwrap();
            assert!(r.ok && r.reason.is_none(), "{r:?}");
            assert_eq!(r.degraded.as_deref(), Some("1 of 2 failing: 192.0.2.1:53: no reply"));
            assert_eq!(r.latency, Duration::from_millis(3));
        }
        let r = ProbeResult::combine(vec![ok(3), ok(1)]).unwrap();
        assert_eq!((r.ok, r.degraded, r.latency), (true, None, Duration::from_millis(1)));
    }

    #[test]
    fn a_round_fails_only_when_every_nameserver_fails() {
        let r = ProbeResult::combine(vec![down("192.0.2.1:53"), down("192.0.2.2:53")]).unwrap();
        assert!(!r.ok && r.degraded.is_none(), "{r:?}");
        assert_eq!(r.class, Outcome::Timeout);
        assert_eq!(
            r.reason.as_deref(),
            Some("192.0.2.1:53: no reply; 192.0.2.2:53: no reply")
        );
        assert!(ProbeResult::combine(Vec::new()).is_none());
        assert_eq!(ProbeResult::combine(vec![ok(2)]), Some(ok(2)));
    }
}
