//! The HTTP prober: a GET with TLS verified, redirects not followed unless asked, that
//! must answer an expected status (and contain a text, if asked), within one timeout
//! for the whole exchange. Errors are classified by the stage that failed: connect
//! (refused, timed out), TLS, or the response.

use std::error::Error as StdError;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderValue, HOST, LOCATION};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode, Url};

use super::{Outcome, ProbeError, ProbeResult, Prober};

/// At most this much of a body is searched for the expected text.
const MAX_BODY: usize = 1 << 20;

/// How many redirects are followed when following is asked for.
const MAX_REDIRECTS: usize = 5;

/// GETs one URL and checks the status and, optionally, that the body contains a text.
#[derive(Debug)]
pub struct HttpProber {
    target: String,
    /// The URL asked, with its host replaced by the `host` override if there is one.
    url: Url,
    /// An explicit Host header, when the override carries a port or is an address.
    host_header: Option<HeaderValue>,
    /// Empty: any 2xx status.
    expect_status: Vec<u16>,
    body: Option<String>,
    timeout: Duration,
    /// One client per prober, so connections are kept between probes.
    client: Client,
}

impl HttpProber {
    /// `host` overrides the Host header and the TLS server name: the request goes to
    /// the URL's address with `host` as its name.
    pub fn new(
        target: &str,
        url: &str,
        expect_status: Vec<u16>,
        body: Option<String>,
        host: Option<String>,
        follow_redirects: bool,
        timeout: Duration,
    ) -> Result<Self, ProbeError> {
        let url_error = |message: String| ProbeError::Url {
            target: target.to_string(),
            url: url.to_string(),
            message,
        };
        let mut parsed = Url::parse(url).map_err(|e| url_error(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(url_error("the scheme must be http or https".to_string()));
        }
        let original_host = match parsed.host() {
            Some(url::Host::Domain(name)) => name.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(url_error("no host".to_string())),
        };

        dnsteer_providers::http::install_crypto_provider();
        let mut builder = Client::builder()
            .timeout(timeout)
            // A connection not made within 90% of the budget is a connect timeout; the
            // margin keeps the whole-request timeout from firing first and hiding it.
            .connect_timeout(timeout.mul_f64(0.9))
            .redirect(if follow_redirects {
                Policy::limited(MAX_REDIRECTS)
            } else {
                Policy::none()
            })
            // A health check measures the endpoint, never a proxy from the environment.
            .no_proxy()
            .user_agent(concat!("dnsteer/", env!("CARGO_PKG_VERSION"), " (health probe)"));
        let mut host_header = None;
        if let Some(host) = host {
            // `name:port` keeps the port in the Host header only: the request still goes
            // to the URL's port.
            let (name, has_port) = match host.rsplit_once(':') {
                Some((name, port)) if port.parse::<u16>().is_ok() && !name.contains(':') => (name, true),
                _ => (host.as_str(), false),
            };
            let name = name.trim_start_matches('[').trim_end_matches(']');
            if has_port || name.parse::<IpAddr>().is_ok() {
                host_header =
                    Some(HeaderValue::from_str(&host).map_err(|e| url_error(format!("host override {host:?}: {e}")))?);
            }
            if name.parse::<IpAddr>().is_err() && !name.eq_ignore_ascii_case(&original_host) {
                parsed
                    .set_host(Some(name))
                    .map_err(|e| url_error(format!("host override {host:?}: {e}")))?;
                builder = builder.dns_resolver(PinnedHost {
                    name: name.to_ascii_lowercase(),
                    address: original_host,
                });
            }
        }
        let client = builder.build().map_err(|e| ProbeError::Client {
            target: target.to_string(),
            message: error_chain(&e),
        })?;
        Ok(Self {
            target: target.to_string(),
            url: parsed,
            host_header,
            expect_status,
            body,
            timeout,
            client,
        })
    }

    async fn exchange(&self) -> Result<(), (Outcome, String)> {
        let mut request = self.client.get(self.url.clone());
        if let Some(host) = &self.host_header {
            request = request.header(HOST, host.clone());
        }
        let mut response = request.send().await.map_err(|e| classify(&e))?;
        let status = response.status();
        if !self.status_expected(status) {
            let expected = if self.expect_status.is_empty() {
                "2xx".to_string()
            } else {
                self.expect_status
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut reason = format!("status {}, expected {expected}", status.as_u16());
            if status.is_redirection() {
                if let Some(location) = response.headers().get(LOCATION) {
                    reason.push_str(&format!(
                        " (redirect to {} not followed)",
                        String::from_utf8_lossy(location.as_bytes())
                    ));
                }
            }
            return Err((Outcome::Status, reason));
        }
        let Some(needle) = &self.body else {
            return Ok(());
        };
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            body.extend_from_slice(&chunk);
            if contains(&body, needle.as_bytes()) {
                return Ok(());
            }
            if body.len() >= MAX_BODY {
                break;
            }
        }
        Err((Outcome::BodyMismatch, format!("body does not contain {needle:?}")))
    }

    fn status_expected(&self, status: StatusCode) -> bool {
        if self.expect_status.is_empty() {
            status.is_success()
        } else {
            self.expect_status.contains(&status.as_u16())
        }
    }
}

#[async_trait]
impl Prober for HttpProber {
    async fn probe(&self) -> ProbeResult {
        let start = Instant::now();
        let verdict = self.exchange().await;
        let latency = start.elapsed();
        match verdict {
            Ok(()) => ProbeResult::success(&self.target, latency),
            Err((class, reason)) => {
                ProbeResult::failure(&self.target, class, format!("{}: {reason}", self.url), latency)
            }
        }
    }

    fn target(&self) -> &str {
        &self.target
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Resolves the `host` override to the URL's own host (an address, or a name resolved
/// as usual), so the request carries the override as Host header and TLS server name
/// but goes where the URL points. Every other name (after a redirect) resolves as usual.
#[derive(Debug)]
struct PinnedHost {
    name: String,
    address: String,
}

impl Resolve for PinnedHost {
    fn resolve(&self, name: Name) -> Resolving {
        let host = if name.as_str().eq_ignore_ascii_case(&self.name) {
            self.address.clone()
        } else {
            name.as_str().to_string()
        };
        Box::pin(async move {
            // The port is ignored: the URL's port is used.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The failure class of a request error, by the stage that failed.
fn classify(e: &reqwest::Error) -> (Outcome, String) {
    let reason = error_chain(e);
    let class = if is_tls(e) {
        Outcome::Tls
    } else if e.is_connect() {
        if e.is_timeout() {
            Outcome::ConnectTimeout
        } else if io_kind(e) == Some(io::ErrorKind::ConnectionRefused) {
            Outcome::ConnectRefused
        } else {
            Outcome::Io
        }
    } else if e.is_timeout() {
        Outcome::ResponseTimeout
    } else {
        Outcome::Io
    };
    (class, reason)
}

/// The errors below `e`, including those an `io::Error` wraps (its `source` skips
/// them): a TLS failure comes as an I/O error wrapping an I/O error wrapping rustls's.
fn causes(e: &reqwest::Error) -> Vec<&(dyn StdError + 'static)> {
    let mut found = Vec::new();
    let mut next = e.source();
    while let Some(err) = next {
        found.push(err);
        next = match err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => err.source(),
        };
    }
    found
}

/// A rustls error (certificate, protocol), or the peer closing mid-handshake
/// (tokio-rustls reports that as a plain I/O error of its own).
fn is_tls(e: &reqwest::Error) -> bool {
    causes(e)
        .iter()
        .any(|err| err.is::<rustls::Error>() || err.to_string() == "tls handshake eof")
}

fn io_kind(e: &reqwest::Error) -> Option<io::ErrorKind> {
    causes(e)
        .iter()
        .find_map(|err| err.downcast_ref::<io::Error>())
        .map(io::Error::kind)
}

/// `e` and its causes, as one line (the result's reason adds the URL).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    for err in causes(e) {
        let text = err.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_override_rewrites_the_url_and_keeps_port_and_path() {
        let prober = HttpProber::new(
            "check:web",
            "http://127.0.0.1:8080/healthz?x=1",
            vec![200],
            None,
            Some("www.example.test".into()),
            false,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(prober.url.as_str(), "http://www.example.test:8080/healthz?x=1");
        assert_eq!(prober.host_header, None);
        let with_port = HttpProber::new(
            "check:web",
            "https://127.0.0.1/",
            vec![200],
            None,
            Some("www.example.test:8443".into()),
            false,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(with_port.url.as_str(), "https://www.example.test/");
        assert_eq!(with_port.host_header.unwrap(), "www.example.test:8443");
    }

    #[test]
    fn bad_urls_are_construction_errors() {
        for url in ["not a url", "ftp://192.0.2.1/", "http://[::1"] {
            let err = HttpProber::new("check:web", url, vec![], None, None, false, Duration::from_secs(1));
            assert!(matches!(err, Err(ProbeError::Url { .. })), "{url}");
        }
    }

    #[test]
    fn contains_finds_substrings() {
        assert!(contains(b"status: all good", b"all good"));
        assert!(!contains(b"status: degraded", b"all good"));
    }
}
