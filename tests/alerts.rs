//! Alert delivery against real HTTP receivers on loopback: signed webhooks, retries,
//! slow and dead receivers, de-duplication, PagerDuty trigger/resolve, Slack, and
//! secrets kept out of logs and `Debug`.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dnsteer::alert::{AlertOptions, Alerter, Event, EventKind};
use dnsteer::config::{AlertConfig, PagerDutyAlertConfig, Secret, SlackAlertConfig, WebhookAlertConfig};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---------------------------------------------------------------- the receiver

#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    /// 429 with `Retry-After: N` seconds.
    TooMany(u64),
    /// Reads the request, then holds the connection open without a word.
    Hang,
    /// Reads the request, then closes the connection without a response.
    Close,
    /// Answers 400 quoting the request's `routing_key` back (as some receivers do).
    Echo400,
}

/// A hand-written HTTP/1.1 receiver that records every request; `script` answers the
/// first requests in order, `then` every later one.
struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    async fn start(script: Vec<Reply>, then: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let seen = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (recorded, seen, script) = (recorded.clone(), seen.clone(), script.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut sock).await else {
                        return;
                    };
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    let body = request.body.clone();
                    recorded.lock().unwrap().push(request);
                    let reply = script.get(n).copied().unwrap_or(then);
                    let (status, extra, text) = match reply {
                        Reply::Status(code) => (code, String::new(), b"ok".to_vec()),
                        Reply::TooMany(secs) => (429, format!("Retry-After: {secs}\r\n"), b"slow down".to_vec()),
                        Reply::Echo400 => {
                            let key = serde_json::from_slice::<Value>(&body)
                                .ok()
                                .and_then(|v| v["routing_key"].as_str().map(str::to_string));
                            let text = format!("{{\"message\":\"invalid routing_key {}\"}}", key.unwrap_or_default());
                            (400, String::new(), text.into_bytes())
                        }
                        Reply::Hang => {
                            std::future::pending::<()>().await;
                            return;
                        }
                        Reply::Close => return,
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                        text.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&text).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self { addr, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (bounded polling) until `n` requests arrived; panics after 10 s.
    async fn wait_for(&self, n: usize) -> Vec<Request> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "waited for {n} requests, got {}", got.len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = sock.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(Request {
        path,
        headers,
        body: data[head_end..head_end + length].to_vec(),
        at: Instant::now(),
    })
}

/// A port nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

// ---------------------------------------------------------------- helpers

/// Every test's logs, captured once for the whole binary.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn secret(value: &str) -> Secret {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), format!("{value}\n")).unwrap();
    let mut s = Secret::file("secret");
    s.resolve(dir.path()).unwrap();
    s
}

fn webhook(url: String, key: Option<&str>) -> AlertConfig {
    AlertConfig::Webhook(WebhookAlertConfig {
        url,
        secret: key.map(secret),
    })
}

fn fast(pagerduty_url: Option<String>) -> AlertOptions {
    AlertOptions {
        request_timeout: Duration::from_secs(1),
        max_attempts: 3,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(2),
        pagerduty_url: pagerduty_url.unwrap_or_else(|| "http://127.0.0.1:9/v2/enqueue".into()),
        ..AlertOptions::default()
    }
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_714_564_800 + secs, 0).unwrap()
}

fn down(at: i64) -> Event {
    Event::new(
        EventKind::TargetDown,
        "agent-a",
        t(at),
        "check web-us failing: 3 of 3 probes",
    )
    .zone("example.test.")
    .target("check:web-us")
}

fn up(at: i64) -> Event {
    Event::new(EventKind::TargetUp, "agent-a", t(at), "check web-us passing again")
        .zone("example.test.")
        .target("check:web-us")
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_body_is_signed_with_the_secret() {
    logs();
    let rx = Receiver::start(vec![], Reply::Status(200)).await;
    let key = "whsec-signing-key-1";
    let alerter = Alerter::with_options(&[webhook(rx.url("/hook"), Some(key))], "agent-a", fast(None)).unwrap();
    let before = Utc::now().timestamp();
    alerter.send(down(0).details(serde_json::json!({ "failure_ratio": 1.0 })));
    assert!(alerter.flush(Duration::from_secs(10)).await);

    let got = rx.requests();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.path, "/hook");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let signature = req.header("x-dnsteer-signature").expect("signed");
    assert_eq!(signature, format!("sha256={}", hmac_hex(key.as_bytes(), &req.body)));
    assert_ne!(signature, format!("sha256={}", hmac_hex(b"another key", &req.body)));

    let body = req.json();
    assert_eq!(body["event"], "target_down");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["agent"], "agent-a");
    assert_eq!(body["at"], "2024-05-01T12:00:00.000Z");
    assert_eq!(body["zone"], "example.test.");
    assert_eq!(body["target"], "check:web-us");
    assert_eq!(body["summary"], "check web-us failing: 3 of 3 probes");
    assert_eq!(body["details"]["failure_ratio"], 1.0);
    let ts = body["timestamp"]
        .as_i64()
        .expect("a unix timestamp inside the signed body");
    assert!(ts >= before && ts <= Utc::now().timestamp());
    assert_eq!(req.header("x-dnsteer-timestamp"), Some(ts.to_string().as_str()));
    assert_eq!(body["id"].as_str().unwrap().len(), 32);
    assert_eq!(alerter.stats().sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_webhook_has_no_signature() {
    logs();
    let rx = Receiver::start(vec![], Reply::Status(204)).await;
    let alerter = Alerter::with_options(&[webhook(rx.url("/"), None)], "agent-a", fast(None)).unwrap();
    alerter.send(down(0));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let got = rx.requests();
    assert_eq!(got.len(), 1);
    assert!(got[0].header("x-dnsteer-signature").is_none());
    assert!(got[0].header("x-dnsteer-timestamp").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_twice_then_200_is_delivered_on_the_third_attempt() {
    logs();
    let rx = Receiver::start(vec![Reply::Status(503), Reply::Status(503)], Reply::Status(200)).await;
    let alerter = Alerter::with_options(&[webhook(rx.url("/hook"), Some("k"))], "agent-a", fast(None)).unwrap();
    alerter.send(down(0));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let got = rx.requests();
    assert_eq!(got.len(), 3);
    // Every retry sends the same bytes: same id, same timestamp, same signature.
    assert!(got.iter().all(|r| r.body == got[0].body));
    assert!(got
        .iter()
        .all(|r| r.header("x-dnsteer-signature") == got[0].header("x-dnsteer-signature")));
    assert_eq!(
        alerter.stats(),
        dnsteer::alert::AlertStats {
            sent: 1,
            failed: 0,
            dropped: 0,
            deduplicated: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    logs();
    let rx = Receiver::start(vec![Reply::TooMany(1)], Reply::Status(200)).await;
    let alerter = Alerter::with_options(&[webhook(rx.url("/hook"), None)], "agent-a", fast(None)).unwrap();
    alerter.send(down(0));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let got = rx.requests();
    assert_eq!(got.len(), 2);
    let waited = got[1].at - got[0].at;
    assert!(waited >= Duration::from_millis(900), "retried after {waited:?}");
    assert_eq!(alerter.stats().sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_not_retried() {
    logs();
    let rx = Receiver::start(vec![], Reply::Status(400)).await;
    let alerter = Alerter::with_options(&[webhook(rx.url("/hook"), None)], "agent-a", fast(None)).unwrap();
    alerter.send(down(0));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    assert_eq!(rx.requests().len(), 1);
    assert_eq!(alerter.stats().failed, 1);
    assert_eq!(alerter.stats().sent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_never_delays_send() {
    logs();
    let rx = Receiver::start(vec![], Reply::Hang).await;
    let fine = Receiver::start(vec![], Reply::Status(200)).await;
    let alerter = Alerter::with_options(
        &[webhook(rx.url("/slow"), Some("k")), webhook(fine.url("/fine"), None)],
        "agent-a",
        AlertOptions {
            request_timeout: Duration::from_secs(30),
            ..fast(None)
        },
    )
    .unwrap();
    for i in 0..50 {
        let started = Instant::now();
        alerter.send(down(i).target(format!("check:t{i}")));
        let took = started.elapsed();
        assert!(took < Duration::from_millis(50), "send took {took:?}");
    }
    // The hanging receiver got the first alert and holds it...
    rx.wait_for(1).await;
    // ...while the other sink delivers everything regardless.
    fine.wait_for(50).await;
    assert!(
        !alerter.flush(Duration::from_millis(200)).await,
        "the hanging sink cannot drain"
    );
    assert_eq!(rx.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_the_oldest_and_counts() {
    logs();
    let rx = Receiver::start(vec![], Reply::Hang).await;
    let alerter = Alerter::with_options(
        &[webhook(rx.url("/slow"), None)],
        "agent-a",
        AlertOptions {
            queue_capacity: 3,
            request_timeout: Duration::from_secs(30),
            ..fast(None)
        },
    )
    .unwrap();
    alerter.send(down(0).target("check:first"));
    rx.wait_for(1).await; // the first alert is in flight, the queue is empty
    for i in 1..=10 {
        alerter.send(down(i).target(format!("check:t{i}")));
    }
    assert_eq!(alerter.stats().dropped, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_is_retried_then_counted_failed() {
    logs();
    // Nothing listens.
    let dead = closed_port().await;
    // Accepts, reads, and hangs up without answering.
    let rude = Receiver::start(vec![], Reply::Close).await;
    let alerter = Alerter::with_options(
        &[
            webhook(format!("http://{dead}/hook"), Some("k")),
            webhook(rude.url("/hook"), None),
        ],
        "agent-a",
        fast(None),
    )
    .unwrap();
    alerter.send(down(0));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    assert_eq!(rude.requests().len(), 3, "every attempt made");
    let stats = alerter.stats();
    assert_eq!((stats.sent, stats.failed), (0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_suppressed_but_changes_of_state_are_not() {
    logs();
    let rx = Receiver::start(vec![], Reply::Status(200)).await;
    let alerter = Alerter::with_options(&[webhook(rx.url("/hook"), None)], "agent-a", fast(None)).unwrap();
    alerter.send(down(0));
    alerter.send(down(30)); // same event, 30 s later: a duplicate
    alerter.send(down(60).target("check:web-eu")); // another target: not one
    alerter.send(up(90));
    alerter.send(down(120)); // down again after up: a new state
    alerter.send(down(700)); // duplicate of the one at 120
    alerter.send(down(720 + 600)); // past the window
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let events: Vec<(String, String)> = rx
        .requests()
        .iter()
        .map(|r| {
            let v = r.json();
            (
                v["event"].as_str().unwrap().to_string(),
                v["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("target_down".into(), "check:web-us".into()),
            ("target_down".into(), "check:web-eu".into()),
            ("target_up".into(), "check:web-us".into()),
            ("target_down".into(), "check:web-us".into()),
            ("target_down".into(), "check:web-us".into()),
        ]
    );
    assert_eq!(alerter.stats().deduplicated, 2);
    assert_eq!(alerter.stats().sent, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_trigger_then_resolve_share_the_dedup_key() {
    logs();
    let rx = Receiver::start(vec![], Reply::Status(202)).await;
    let pd = AlertConfig::Pagerduty(PagerDutyAlertConfig {
        routing_key: secret("pd-routing-key-0123456789abcdef"),
    });
    let alerter = Alerter::with_options(&[pd], "agent-a", fast(Some(rx.url("/v2/enqueue")))).unwrap();
    alerter.send(down(0));
    alerter.send(up(60));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let got = rx.requests();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.path == "/v2/enqueue"));
    let (trigger, resolve) = (got[0].json(), got[1].json());
    assert_eq!(trigger["routing_key"], "pd-routing-key-0123456789abcdef");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "agent-a");
    assert_eq!(trigger["payload"]["component"], "check:web-us");
    assert_eq!(trigger["payload"]["group"], "example.test.");
    assert!(trigger["payload"]["summary"]
        .as_str()
        .unwrap()
        .contains("check web-us failing"));
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    assert_eq!(alerter.stats().sent, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_its_own_format() {
    logs();
    let rx = Receiver::start(vec![], Reply::Status(200)).await;
    let slack = AlertConfig::Slack(SlackAlertConfig {
        url: secret(&rx.url("/services/T000/B000/slackpath")),
    });
    let alerter = Alerter::with_options(&[slack], "agent-a", fast(None)).unwrap();
    alerter.send(
        Event::new(EventKind::Failover, "agent-a", t(0), "www A leaves us-east for eu-west").zone("example.test."),
    );
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let got = rx.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/services/T000/B000/slackpath");
    let body = got[0].json();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("⚠️ [WARNING] failover: www A leaves us-east for eu-west"),
        "{text}"
    );
    assert!(body["blocks"].as_array().is_some_and(|b| !b.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_errors_or_debug() {
    let logs = logs();
    const HOOK_KEY: &str = "HOOK-SECRET-7f3a9c";
    const SLACK_PATH: &str = "/services/TSLACK9/BSLACK9/SLACK-SECRET-4e1d";
    const PD_KEY: &str = "PD-SECRET-b2c8e6";
    let dead = closed_port().await;
    let echo = Receiver::start(vec![], Reply::Echo400).await;
    let configs = [
        webhook(format!("http://{dead}/hook"), Some(HOOK_KEY)),
        // Slack's URL is the secret: a dead one makes connection errors.
        AlertConfig::Slack(SlackAlertConfig {
            url: secret(&format!("http://{dead}{SLACK_PATH}")),
        }),
        // A receiver that quotes the routing key back in its error.
        AlertConfig::Pagerduty(PagerDutyAlertConfig {
            routing_key: secret(PD_KEY),
        }),
    ];
    let alerter = Alerter::with_options(&configs, "agent-a", fast(Some(echo.url("/v2/enqueue")))).unwrap();
    alerter.send(down(0).summary_marker());
    assert!(alerter.flush(Duration::from_secs(10)).await);
    assert_eq!(alerter.stats().failed, 3);
    assert_eq!(echo.requests().len(), 1, "a 400 is not retried");

    let debug = format!("{alerter:?} {configs:?}");
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(text.contains("alert: secret-test marker"), "the alert itself is logged");
    assert!(text.contains("alert delivery failed"), "the failures are logged");
    assert!(
        text.contains("invalid routing_key <redacted>"),
        "the echoed key is scrubbed:\n{text}"
    );
    for secret in [HOOK_KEY, "SLACK-SECRET-4e1d", "TSLACK9", PD_KEY] {
        assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
        assert!(!debug.contains(secret), "{secret} in Debug: {debug}");
    }
}

#[tokio::test]
async fn disabled_only_logs() {
    logs();
    let alerter = Alerter::disabled();
    alerter.send(down(0));
    alerter.send(down(1));
    assert!(alerter.flush(Duration::from_millis(10)).await);
    assert_eq!(
        alerter.stats(),
        dnsteer::alert::AlertStats {
            sent: 0,
            failed: 0,
            dropped: 0,
            deduplicated: 1
        }
    );
}

#[test]
fn sinks_need_a_runtime() {
    let err = Alerter::new(&[webhook("http://127.0.0.1:9/".into(), None)], "a").unwrap_err();
    assert!(err.to_string().contains("tokio runtime"));
    // No sinks, no runtime needed.
    Alerter::new(&[], "a").unwrap().send(down(0));
}

trait Marker {
    fn summary_marker(self) -> Self;
}

impl Marker for Event {
    fn summary_marker(mut self) -> Self {
        self.summary = "secret-test marker".into();
        self
    }
}
