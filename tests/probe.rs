//! The probers against real servers on loopback (PowerDNS, small DNS responders and
//! HTTP servers written here), the scheduler with scripted probers, and the targets a
//! configuration gives.

mod support;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dnsteer::health::{Engine, EngineParams, HealthParams, Observation, Quorum, State};
use dnsteer::probe::{
    probe_rounds, targets_from_config, Confirm, DnsProber, HttpProber, Outcome, ProbeResult, Prober, ScheduledTarget,
    Scheduler, TcpProber,
};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use support::pdns::PowerDns;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

const ZONE: &str = "example.test.";
const T: Duration = Duration::from_secs(2);

fn assert_class(result: &ProbeResult, class: Outcome) {
    assert_eq!(result.class, class, "{result:?}");
    assert_eq!(result.ok, class == Outcome::Ok, "{result:?}");
}

fn pdns_with_zone() -> PowerDns {
    let server = PowerDns::start();
    server.create_zone(
        ZONE,
        &["ns1.example.test."],
        serde_json::json!([
            {"name": "www.example.test.", "type": "A", "ttl": 60, "records": [
                {"content": "192.0.2.10", "disabled": false}, {"content": "192.0.2.11", "disabled": false}]}
        ]),
    );
    server
}

// ---------------------------------------------------------------------------------
// DNS

#[tokio::test]
async fn dns_against_powerdns() {
    let mut server = pdns_with_zone();
    let soa = DnsProber::for_provider("provider:pdns-a", server.dns, ZONE, T).unwrap();
    let result = soa.probe().await;
    assert_class(&result, Outcome::Ok);
    assert_eq!(result.target, "provider:pdns-a");
    assert!(result.serial.is_some(), "{result:?}");

    let expect = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    let www = DnsProber::new(
        "check:www",
        server.dns,
        "www.example.test",
        RecordType::A,
        T,
        expect(&["192.0.2.11", "192.0.2.10"]),
    )
    .unwrap();
    assert_class(&www.probe().await, Outcome::Ok);
    let wrong = DnsProber::new(
        "check:www",
        server.dns,
        "www.example.test.",
        RecordType::A,
        T,
        expect(&["192.0.2.10"]),
    )
    .unwrap()
    .probe()
    .await;
    assert_class(&wrong, Outcome::WrongAnswer);
    assert!(wrong.reason.as_deref().unwrap().contains("192.0.2.11"), "{wrong:?}");
    let nodata = DnsProber::new(
        "check:www",
        server.dns,
        "www.example.test.",
        RecordType::AAAA,
        T,
        vec![],
    )
    .unwrap();
    assert_class(&nodata.probe().await, Outcome::NoAnswer);
    let nxdomain = DnsProber::new("check:www", server.dns, "nope.example.test.", RecordType::A, T, vec![]).unwrap();
    assert_class(&nxdomain.probe().await, Outcome::NoAnswer);

    // A zone this server does not host: REFUSED.
    let other = DnsProber::for_provider("provider:pdns-a", server.dns, "other.test.", T).unwrap();
    assert_class(&other.probe().await, Outcome::DnsRefused);

    // Stopped: the port is closed, the ICMP error says so at once.
    server.stop();
    let result = soa.probe().await;
    assert_class(&result, Outcome::Refused);
    assert!(
        result.latency < Duration::from_millis(500),
        "refused should be quick: {result:?}"
    );
    assert!(
        result.reason.as_deref().unwrap().contains(&server.dns.to_string()),
        "{result:?}"
    );

    // Back up: the same prober (and socket) answers again.
    server.resume();
    assert_class(&soa.probe().await, Outcome::Ok);
}

#[tokio::test]
async fn dns_silent_server_times_out_within_the_timeout() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let timeout = Duration::from_millis(300);
    let prober = DnsProber::for_provider("provider:silent", silent.local_addr().unwrap(), ZONE, timeout).unwrap();
    let start = Instant::now();
    let result = prober.probe().await;
    assert_class(&result, Outcome::Timeout);
    assert!(
        result.latency >= timeout && start.elapsed() < timeout + Duration::from_millis(300),
        "{result:?}"
    );
}

/// How [`responder`] answers.
#[derive(Clone, Copy)]
enum Reply {
    /// NOERROR with an A record, AA clear.
    NotAuthoritative,
    ServFail,
    /// A good answer, the first one only after `delay`.
    LateFirst(Duration),
}

/// A DNS responder on a loopback UDP port, answering every query per `reply`.
async fn responder(reply: Reply) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let mut first = true;
        loop {
            let (n, peer) = socket.recv_from(&mut buf).await.unwrap();
            let query = Message::from_vec(&buf[..n]).unwrap();
            let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
            answer.add_queries(query.queries.clone());
            let record = Record::from_rdata(
                query.queries[0].name().clone(),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            );
            match reply {
                Reply::NotAuthoritative => {
                    answer.add_answer(record);
                }
                Reply::ServFail => {
                    answer.metadata.authoritative = true;
                    answer.metadata.response_code = ResponseCode::ServFail;
                }
                Reply::LateFirst(delay) => {
                    answer.metadata.authoritative = true;
                    answer.add_answer(record);
                    if first {
                        tokio::time::sleep(delay).await;
                    }
                }
            }
            first = false;
            socket.send_to(&answer.to_vec().unwrap(), peer).await.unwrap();
        }
    });
    addr
}

#[tokio::test]
async fn dns_not_authoritative_and_servfail() {
    let plain = responder(Reply::NotAuthoritative).await;
    let prober = DnsProber::new("check:api", plain, "api.example.test.", RecordType::A, T, vec![]).unwrap();
    assert_class(&prober.probe().await, Outcome::NotAuthoritative);

    let failing = responder(Reply::ServFail).await;
    let prober = DnsProber::new("check:api", failing, "api.example.test.", RecordType::A, T, vec![]).unwrap();
    assert_class(&prober.probe().await, Outcome::Servfail);
}

#[tokio::test]
async fn dns_late_reply_to_an_earlier_probe_is_ignored() {
    // The first reply comes 100 ms after the first probe gave up, well within the
    // second probe's timeout.
    let timeout = Duration::from_millis(300);
    let late = responder(Reply::LateFirst(Duration::from_millis(400))).await;
    let prober = DnsProber::new(
        "check:api",
        late,
        "api.example.test.",
        RecordType::A,
        timeout,
        vec!["192.0.2.1".into()],
    )
    .unwrap();
    assert_class(&prober.probe().await, Outcome::Timeout);
    // The first reply arrives during this probe, with the first probe's id: skipped.
    let second = prober.probe().await;
    assert_class(&second, Outcome::Ok);
    assert!(
        second.latency >= Duration::from_millis(50),
        "answered only after the late reply: {second:?}"
    );
}

/// A server that answers every UDP query truncated (TC, no records) and the same query
/// over TCP in full, on one loopback port.
async fn truncating_responder() -> SocketAddr {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, support::free_port()));
    let udp = UdpSocket::bind(addr).await.unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let answer = |query: &Message, full: bool| {
        let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
        answer.add_queries(query.queries.clone());
        answer.metadata.authoritative = true;
        if full {
            let a = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
            answer.add_answer(Record::from_rdata(query.queries[0].name().clone(), 60, a));
        } else {
            answer.metadata.truncation = true;
        }
        answer.to_vec().unwrap()
    };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
            let query = Message::from_vec(&buf[..n]).unwrap();
            udp.send_to(&answer(&query, false), peer).await.unwrap();
        }
    });
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = tcp.accept().await.unwrap();
            let len = stream.read_u16().await.unwrap();
            let mut buf = vec![0u8; usize::from(len)];
            stream.read_exact(&mut buf).await.unwrap();
            let reply = answer(&Message::from_vec(&buf).unwrap(), true);
            stream.write_u16(reply.len() as u16).await.unwrap();
            stream.write_all(&reply).await.unwrap();
        }
    });
    addr
}

#[tokio::test]
async fn dns_truncated_answer_is_asked_again_over_tcp() {
    let server = truncating_responder().await;
    let prober = DnsProber::new(
        "check:api",
        server,
        "api.example.test.",
        RecordType::A,
        T,
        vec!["192.0.2.1".into()],
    )
    .unwrap();
    assert_class(&prober.probe().await, Outcome::Ok);
}

/// Probes per second against one PowerDNS, one prober back to back and 8 at once.
#[tokio::test]
async fn dns_probe_rate_against_powerdns() {
    let server = pdns_with_zone();
    let prober = DnsProber::for_provider("provider:pdns-a", server.dns, ZONE, T).unwrap();
    let n = 1000;
    let start = Instant::now();
    for _ in 0..n {
        assert_class(&prober.probe().await, Outcome::Ok);
    }
    let sequential = f64::from(n) / start.elapsed().as_secs_f64();

    let probers: Vec<Arc<dyn Prober>> = (0..8)
        .map(|_| Arc::new(DnsProber::for_provider("provider:pdns-a", server.dns, ZONE, T).unwrap()) as Arc<dyn Prober>)
        .collect();
    let start = Instant::now();
    let results = probe_rounds(&probers, 250, 8).await.concat();
    let concurrent = results.len() as f64 / start.elapsed().as_secs_f64();
    assert_eq!(results.len(), 2000);
    assert!(results.iter().all(|r| r.ok), "{:?}", results.iter().find(|r| !r.ok));
    eprintln!("DNS probes against PowerDNS: {sequential:.0}/s one at a time, {concurrent:.0}/s with 8 probers");
}

// ---------------------------------------------------------------------------------
// HTTP

/// A small HTTP/1.1 server on loopback: `/ok`, `/down` (503), `/redirect` (302 to
/// `/ok`), `/slow` (answers after 5 s). It records the Host header of every request.
struct HttpServer {
    addr: SocketAddr,
    hosts: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hosts = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&hosts);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let Ok(Some(request_line)) = lines.next_line().await else {
                        return;
                    };
                    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("host") {
                                seen.lock().unwrap().push(value.trim().to_string());
                            }
                        }
                    }
                    let (status, extra, body) = match path.as_str() {
                        "/ok" => ("200 OK", "", "status: all good"),
                        "/down" => ("503 Service Unavailable", "", "down"),
                        "/redirect" => ("302 Found", "Location: /ok\r\n", ""),
                        "/slow" => {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            ("200 OK", "", "late")
                        }
                        _ => ("404 Not Found", "", "no such page"),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
                        body.len()
                    );
                    let _ = write.write_all(response.as_bytes()).await;
                });
            }
        });
        Self { addr, hosts }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn http(url: &str, body: Option<&str>, host: Option<&str>, follow: bool, timeout: Duration) -> HttpProber {
    HttpProber::new(
        "check:web",
        url,
        vec![200],
        body.map(str::to_string),
        host.map(str::to_string),
        follow,
        timeout,
    )
    .unwrap()
}

#[tokio::test]
async fn http_status_body_and_redirects() {
    let server = HttpServer::start().await;
    let ok = http(&server.url("/ok"), Some("all good"), None, false, T).probe().await;
    assert_class(&ok, Outcome::Ok);
    assert_eq!(ok.target, "check:web");

    let down = http(&server.url("/down"), None, None, false, T).probe().await;
    assert_class(&down, Outcome::Status);
    assert!(down.reason.as_deref().unwrap().contains("status 503"), "{down:?}");

    let mismatch = http(&server.url("/ok"), Some("degraded"), None, false, T).probe().await;
    assert_class(&mismatch, Outcome::BodyMismatch);

    let redirect = http(&server.url("/redirect"), None, None, false, T).probe().await;
    assert_class(&redirect, Outcome::Status);
    assert!(
        redirect.reason.as_deref().unwrap().contains("status 302"),
        "{redirect:?}"
    );
    let followed = http(&server.url("/redirect"), Some("all good"), None, true, T)
        .probe()
        .await;
    assert_class(&followed, Outcome::Ok);
}

#[tokio::test]
async fn http_slow_response_times_out() {
    let server = HttpServer::start().await;
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let slow = http(&server.url("/slow"), None, None, false, timeout).probe().await;
    assert_class(&slow, Outcome::ResponseTimeout);
    assert!(start.elapsed() < timeout + Duration::from_millis(500), "{slow:?}");
}

#[tokio::test]
async fn http_closed_port_and_tls_failures() {
    let closed = closed_port().await;
    let refused = http(&format!("http://{closed}/ok"), None, None, false, T).probe().await;
    assert_class(&refused, Outcome::ConnectRefused);

    // TLS spoken to a plain HTTP server: it closes mid-handshake.
    let server = HttpServer::start().await;
    let eof = http(&format!("https://{}/ok", server.addr), None, None, false, T)
        .probe()
        .await;
    assert_class(&eof, Outcome::Tls);

    // A server answering plain text to the TLS hello: a protocol error.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let garbage = http(&format!("https://{addr}/ok"), None, None, false, T).probe().await;
    assert_class(&garbage, Outcome::Tls);
}

#[tokio::test]
async fn http_host_override_reaches_the_server() {
    let server = HttpServer::start().await;
    let prober = http(&server.url("/ok"), None, Some("www.example.test"), false, T);
    assert_class(&prober.probe().await, Outcome::Ok);
    let port = server.addr.port();
    assert_eq!(
        server.hosts.lock().unwrap().clone(),
        vec![format!("www.example.test:{port}")]
    );
}

// ---------------------------------------------------------------------------------
// TCP

async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn tcp_open_and_closed_ports() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = TcpProber::new("check:tcp", listener.local_addr().unwrap(), T)
        .probe()
        .await;
    assert_class(&open, Outcome::Ok);
    let closed = TcpProber::new("check:tcp", closed_port().await, T).probe().await;
    assert_class(&closed, Outcome::ConnectRefused);
}

// ---------------------------------------------------------------------------------
// Scheduler

/// How many probes are in flight, and the most there ever were.
#[derive(Debug, Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// A prober that "works" for a set time and records when each probe started and how
/// many probes ran at once, its own and all of them.
#[derive(Debug)]
struct ScriptedProber {
    target: String,
    work: Duration,
    timeout: Duration,
    mine: Gauge,
    all: Arc<Gauge>,
    starts: Mutex<Vec<Instant>>,
}

impl ScriptedProber {
    fn new(target: &str, work: Duration, timeout: Duration, all: &Arc<Gauge>) -> Arc<Self> {
        Arc::new(Self {
            target: target.to_string(),
            work,
            timeout,
            mine: Gauge::default(),
            all: Arc::clone(all),
            starts: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl Prober for ScriptedProber {
    async fn probe(&self) -> ProbeResult {
        self.starts.lock().unwrap().push(Instant::now());
        self.mine.enter();
        self.all.enter();
        tokio::time::sleep(self.work).await;
        self.all.leave();
        self.mine.leave();
        ProbeResult::success(&self.target, self.work)
    }

    fn target(&self) -> &str {
        &self.target
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }
}

async fn next(rx: &mut mpsc::Receiver<ProbeResult>) -> Option<ProbeResult> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no result within 10 s")
}

#[tokio::test]
async fn scheduler_spaces_probes_and_bounds_concurrency() {
    let interval = Duration::from_millis(100);
    let all = Arc::new(Gauge::default());
    let probers: Vec<Arc<ScriptedProber>> = ["a", "b", "c"]
        .iter()
        .map(|name| ScriptedProber::new(&format!("check:{name}"), Duration::from_millis(40), interval / 2, &all))
        .collect();
    let targets = probers
        .iter()
        .map(|p| ScheduledTarget::new(Arc::clone(p) as Arc<dyn Prober>, interval))
        .collect();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = Scheduler::spawn(targets, 2, tx);

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    while counts.len() < 3 || counts.values().any(|&n| n < 8) {
        let result = next(&mut rx).await.expect("the scheduler stopped early");
        assert_class(&result, Outcome::Ok);
        *counts.entry(result.target).or_default() += 1;
    }
    handle.shutdown().await;

    assert!(all.max() <= 2, "{} probes at once, max_concurrent is 2", all.max());
    for prober in &probers {
        assert_eq!(
            prober.mine.max(),
            1,
            "{}: two probes of one target at once",
            prober.target
        );
        let starts = prober.starts.lock().unwrap().clone();
        let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.len() >= 7, "{}: {gaps:?}", prober.target);
        for gap in &gaps {
            // ±10% jitter, plus a wait for a permit and scheduling slack above.
            assert!(
                *gap >= Duration::from_millis(80) && *gap <= Duration::from_millis(250),
                "{}: {gaps:?}",
                prober.target
            );
        }
        let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
        assert!(
            mean >= Duration::from_millis(90) && mean <= Duration::from_millis(150),
            "{}: mean {mean:?}",
            prober.target
        );
        // Every loop is gone: nothing holds the prober but this test.
        assert_eq!(
            Arc::strong_count(prober),
            1,
            "{}: a loop is still running",
            prober.target
        );
    }
    // Results sent before the shutdown drain, then the channel closes.
    while next(&mut rx).await.is_some() {}
}

#[tokio::test]
async fn scheduler_cuts_off_a_probe_longer_than_the_interval() {
    let interval = Duration::from_millis(100);
    let all = Arc::new(Gauge::default());
    let stuck = ScriptedProber::new("check:stuck", Duration::from_secs(5), Duration::from_secs(1), &all);
    let (tx, mut rx) = mpsc::channel(8);
    let handle = Scheduler::spawn(
        vec![ScheduledTarget::new(Arc::clone(&stuck) as Arc<dyn Prober>, interval)],
        4,
        tx,
    );
    let result = next(&mut rx).await.unwrap();
    assert_class(&result, Outcome::Timeout);
    // Cut off at 90% of the interval, long before the prober's own 1 s timeout.
    assert_eq!(result.reason.as_deref(), Some("no result within 90 ms"));
    assert!(result.latency < Duration::from_millis(500), "{result:?}");
    drop(handle);
    while next(&mut rx).await.is_some() {}
    assert_eq!(Arc::strong_count(&stuck), 1, "dropping the handle stops the loop");
}

#[tokio::test]
async fn a_provider_with_one_silent_nameserver_of_two_is_degraded_and_stays_healthy() {
    let server = pdns_with_zone();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let timeout = Duration::from_millis(200);
    let target = "provider:pdns-a";
    let live = DnsProber::for_provider(target, server.dns, ZONE, timeout).unwrap();
    let dead = DnsProber::for_provider(target, silent.local_addr().unwrap(), ZONE, timeout).unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let handle = Scheduler::spawn(
        vec![ScheduledTarget {
            probers: vec![Arc::new(dead), Arc::new(live)],
            interval: Duration::from_millis(300),
            confirm: Confirm {
                probes: 2,
                spacing: Duration::from_millis(20),
            },
        }],
        4,
        tx,
    );
    let mut engine = Engine::new(EngineParams {
        peer_stale_after: Duration::from_secs(60),
    });
    let params = HealthParams {
        window: 5,
        fail_ratio: 0.5,
        recover_ratio: 0.1,
        fall: 1,
        rise: 3,
        hold: Duration::ZERO,
        quorum: Quorum::Majority,
    };
    engine.register(target, params).unwrap();
    for _ in 0..6 {
        let result = next(&mut rx).await.unwrap();
        // One result per round: the live nameserver answers, so the round passes and
        // says which one did not.
        assert_class(&result, Outcome::Ok);
        let degraded = result.degraded.as_deref().unwrap_or_default();
        assert!(
            degraded.starts_with("1 of 2 failing: ") && degraded.contains(&silent.local_addr().unwrap().to_string()),
            "{result:?}"
        );
        let now = chrono::Utc::now();
        let obs = Observation {
            at: now,
            ok: result.ok,
            vantage: "steer-a".into(),
            reason: result.reason,
            latency: Some(result.latency),
        };
        engine.handle_observation(target, &obs, now).unwrap();
    }
    handle.shutdown().await;
    assert_eq!(engine.state(target, chrono::Utc::now()), State::Healthy);
    drop(server);
}

#[tokio::test]
async fn probe_rounds_runs_each_target_back_to_back() {
    let all = Arc::new(Gauge::default());
    let scripted: Vec<Arc<ScriptedProber>> = ["a", "b", "c"]
        .iter()
        .map(|name| ScriptedProber::new(&format!("check:{name}"), Duration::from_millis(20), T, &all))
        .collect();
    let probers: Vec<Arc<dyn Prober>> = scripted.iter().map(|p| Arc::clone(p) as Arc<dyn Prober>).collect();
    let results = probe_rounds(&probers, 3, 2).await.concat();
    let targets: Vec<&str> = results.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        ["check:a", "check:a", "check:a", "check:b", "check:b", "check:b", "check:c", "check:c", "check:c"]
    );
    assert!(all.max() <= 2, "{} probes at once", all.max());
    assert!(scripted.iter().all(|p| p.mine.max() == 1));
}

// ---------------------------------------------------------------------------------
// Targets from the configuration

const CONFIG: &str = r#"
agent: { id: steer-a, state_file: ./state.json }
defaults: { interval: 5s, timeout: 2s }
providers:
  pdns-a:
    kind: powerdns
    url: http://127.0.0.1:8081
    api_key: { file: ./key }
    nameservers: [ ns1.provider-a.test. ]
    probe: [ "127.0.0.1:5301", "127.0.0.2:5301" ]
  pdns-b:
    kind: powerdns
    url: http://127.0.0.1:8082
    api_key: { file: ./key }
    nameservers: [ localhost. ]
  pdns-idle:
    kind: powerdns
    url: http://127.0.0.1:8083
    api_key: { file: ./key }
    nameservers: [ ns1.idle.test. ]
zones:
  - name: example.test.
    providers: [ pdns-a, pdns-b ]
    records:
      - name: www
        type: A
        ttl: 30
        policy: failover
        pools:
          - { name: us-east, priority: 1, values: [ 192.0.2.10 ], check: web-us }
          - { name: eu-west, priority: 2, values: [ 198.51.100.10 ], check: web-eu }
          - { name: ap, priority: 3, values: [ 203.0.113.10 ], check: api-dns }
  - name: other.test.
    providers: [ pdns-a ]
checks:
  web-us: { kind: http, url: "http://192.0.2.10/healthz", expect_status: [200], interval: 2s, timeout: 1s }
  web-eu: { kind: tcp, address: "198.51.100.10:443" }
  api-dns: { kind: dns, server: "192.0.2.53:53", query: { name: api.example.test., type: A }, expect: [ 192.0.2.1 ] }
"#;

fn load(text: &str) -> dnsteer::config::Config {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "secret\n").unwrap();
    match dnsteer::config::load_str(text, dir.path()) {
        Ok(loaded) => loaded.config,
        Err(errors) => panic!("test configuration invalid:\n{errors}"),
    }
}

#[tokio::test]
async fn targets_from_the_configuration() {
    let targets = targets_from_config(&load(CONFIG)).await.unwrap();
    let summary: Vec<(&str, usize, u64, u64)> = targets
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.probers.len(),
                t.interval.as_millis() as u64,
                t.timeout.as_millis() as u64,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("check:api-dns", 1, 5000, 2000),
            ("check:web-eu", 1, 5000, 2000),
            ("check:web-us", 1, 2000, 1000),
            // Two probe addresses, two zones.
            ("provider:pdns-a", 4, 5000, 2000),
            // localhost. resolved at start (one address family), one zone.
            ("provider:pdns-b", 1, 5000, 2000),
        ]
    );
    for target in &targets {
        assert!(target.probers.iter().all(|p| p.target() == target.name));
        // One round per target, whatever its number of probers.
        let scheduled: Vec<ScheduledTarget> = target.scheduled().collect();
        assert_eq!(scheduled.len(), 1, "{}", target.name);
        assert_eq!(scheduled[0].interval, target.interval);
        assert_eq!(scheduled[0].probers.len(), target.probers.len());
        assert_eq!(scheduled[0].confirm, target.confirm);
        assert_eq!(
            target.confirm,
            Confirm {
                probes: 6,
                spacing: Duration::from_millis(125)
            }
        );
    }
}

#[tokio::test]
async fn a_nameserver_that_does_not_resolve_is_an_error_naming_the_provider() {
    let text = CONFIG.replace(
        "nameservers: [ localhost. ]",
        "nameservers: [ ns1.provider-b.invalid. ]",
    );
    let err = targets_from_config(&load(&text)).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("provider pdns-b") && message.contains("ns1.provider-b.invalid"),
        "{message}"
    );
}
