//! End to end: `dnsteer run` daemons against real PowerDNS, BIND and HTTP endpoints on
//! loopback. Failures are injected by switching endpoints and stopping processes; every
//! outcome is checked with `dig` against the servers, the daemons' own API, and the
//! alerts a local receiver got.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::daemon::{eventually, Daemon};
use support::receiver::Receiver;
use support::world::{World, EU, NS_A, NS_B, US};

const TOKEN: &str = "tok-s3cr3t-daemon-4471";
const HOOK_SECRET: &str = "hook-s3cr3t-9921";
/// Interval 0.2 s, fall/rise 2 over a window of 3, hold 1 s.
const FAST: &str = "{ interval: 200ms, timeout: 150ms, health: { window: 3, fail_ratio: 0.5, recover_ratio: 0.1, fall: 2, rise: 2, hold: 1s } }";
const LIMIT: Duration = Duration::from_secs(20);

fn agent(id: &str, listen: &str, state: &Path, peers: &[String], lease: &str) -> String {
    format!(
        "{{ id: {id}, listen: \"{listen}\", state_file: \"{}\", api_token: {{ env: DNSTEER_API_TOKEN }}, peers: [{}], lease: {{ duration: {lease} }} }}",
        state.display(),
        peers.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", ")
    )
}

fn alerts(receiver: &Receiver) -> String {
    format!(
        "alerts:\n  - {{ kind: webhook, url: \"{}\", secret: {{ env: HOOK_SECRET }} }}\n",
        receiver.url()
    )
}

fn listen() -> String {
    format!("127.0.0.1:{}", support::free_port())
}

fn env(world: &World) -> Vec<(&'static str, String)> {
    let mut env = world.env();
    env.push(("DNSTEER_API_TOKEN", TOKEN.to_string()));
    env.push(("HOOK_SECRET", HOOK_SECRET.to_string()));
    env
}

fn start(world: &World, name: &str, config: &str, listen: &str) -> Daemon {
    let path = world.write_config(&format!("{name}.yaml"), config);
    Daemon::start(&path, listen, &env(world), world.dir.path().join(format!("{name}.log")))
}

async fn www_everywhere(world: &World, value: &str) -> bool {
    world.www(&world.pdns_a) == [value] && world.www(&world.pdns_b) == [value]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_fails_over_and_back_and_tells_on_call() {
    let world = World::start().await;
    let receiver = Receiver::start().await;
    let addr = listen();
    let state = world.dir.path().join("a.state.json");
    let mut d = start(
        &world,
        "a",
        &world.config(&agent("steer-a", &addr, &state, &[], "2s"), FAST, &alerts(&receiver)),
        &addr,
    );
    eventually("ready", LIMIT, || async {
        (d.get("/readyz").await.0 == 200).then_some(())
    })
    .await;

    let died = Instant::now();
    world.us.set_up(false);
    eventually("failover to eu-west at both providers", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
    let failover = died.elapsed();
    eprintln!("FIGURE failover after an endpoint died (interval 0.2 s, fall 2): {failover:?}");

    let back = Instant::now();
    world.us.set_up(true);
    eventually("failback to us-east", LIMIT, || async {
        www_everywhere(&world, US).await.then_some(())
    })
    .await;
    eprintln!(
        "FIGURE failback after recovery (rise 2, hold 1 s): {:?}",
        back.elapsed()
    );
    assert_eq!(world.dig_mail(), vec!["192.0.2.25"], "unmanaged records stay");

    let wanted = ["target_down", "failover", "target_up", "failback"];
    let events = eventually("alerts delivered", LIMIT, || async {
        let events = receiver.events();
        wanted.iter().all(|w| events.iter().any(|e| e == w)).then_some(events)
    })
    .await;
    for r in receiver.received() {
        let signature = r.headers.get("x-dnsteer-signature").expect("signed");
        let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
        mac.update(&r.body);
        assert_eq!(
            signature,
            &format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
            "signature verifies"
        );
        let body = r.json();
        assert_eq!(body["agent"], "steer-a");
        assert!(
            body["timestamp"].is_number() || body["at"].is_string(),
            "a time inside the signed body: {body}"
        );
    }
    eprintln!("alerts: {events:?}");

    // The audit log has one line per applied batch, with the plan checksum.
    let audit = std::fs::read_to_string(state.with_extension("audit.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(line["agent"], "steer-a");
    assert_eq!(line["result"], "ok");
    assert!(line["checksum"].as_str().is_some_and(|c| c.len() == 16));

    // Nothing secret anywhere: log, status, plan, state, audit, alerts.
    let status = d.get("/v1/status").await.1;
    let plan = d.get("/v1/plan").await.1;
    let metrics = d.get("/metrics").await.1;
    assert!(metrics.contains("dnsteer_target_state"), "{metrics}");
    assert_eq!(
        d.terminate().code(),
        Some(0),
        "clean exit on SIGTERM:\n{}",
        d.log_text()
    );
    let mut everything = vec![
        d.log_text(),
        status,
        plan,
        metrics,
        audit,
        std::fs::read_to_string(&state).unwrap(),
    ];
    everything.extend(
        receiver
            .received()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).to_string() + &format!("{:?}", r.headers)),
    );
    for secret in [
        TOKEN,
        HOOK_SECRET,
        support::pdns::API_KEY,
        world.parent.secret_b64.as_str(),
    ] {
        for text in &everything {
            assert!(!text.contains(secret), "a secret leaked into:\n{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_endpoint_changes_nothing() {
    let world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("s.json");
    let defaults = "{ interval: 100ms, timeout: 80ms, health: { window: 10, fail_ratio: 0.5, recover_ratio: 0.1, fall: 3, rise: 3, hold: 1s } }";
    let d = start(
        &world,
        "a",
        &world.config(&agent("steer-a", &addr, &state, &[], "2s"), defaults, ""),
        &addr,
    );
    world.us.fail_one_in(5);
    let seen = world.us.hits();
    eventually("60 probes of the flaky endpoint", LIMIT, || async {
        (world.us.hits() >= seen + 60).then_some(())
    })
    .await;
    assert_eq!(d.target_state("check:web-us").await, "healthy");
    let status = d.status().await;
    assert!(status["last_apply"].is_null(), "nothing was applied: {status}");
    assert_eq!(world.www(&world.pdns_a), vec![US]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_pools_down_changes_nothing_and_alerts() {
    let world = World::start().await;
    let receiver = Receiver::start().await;
    let addr = listen();
    let state = world.dir.path().join("s.json");
    let d = start(
        &world,
        "a",
        &world.config(&agent("steer-a", &addr, &state, &[], "2s"), FAST, &alerts(&receiver)),
        &addr,
    );
    eventually("ready", LIMIT, || async {
        (d.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    // The backup pool first: were us-east decided down a probe before eu-west, the
    // daemon would rightly fail over in between, and the answer kept would be eu-west's.
    world.eu.set_up(false);
    eventually("eu-west down", LIMIT, || async {
        (d.target_state("check:web-eu").await == "unhealthy").then_some(())
    })
    .await;
    world.us.set_up(false);
    eventually("all_pools_down alert", LIMIT, || async {
        receiver.events().contains(&"all_pools_down".to_string()).then_some(())
    })
    .await;
    assert_eq!(
        d.target_state("check:web-us").await,
        "unhealthy",
        "the alert comes only once every pool is down"
    );
    assert_eq!(d.target_state("check:web-eu").await, "unhealthy");
    assert_eq!(
        world.www(&world.pdns_a),
        vec![US],
        "fail-open: the published answer stays"
    );
    assert_eq!(world.www(&world.pdns_b), vec![US]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_provider_leaves_the_delegation_and_returns_in_sync() {
    let mut world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("s.json");
    let _d = start(
        &world,
        "a",
        &world.config(&agent("steer-a", &addr, &state, &[], "2s"), FAST, ""),
        &addr,
    );
    world.pdns_b.stop();
    eventually("pdns-b out of the delegation", LIMIT, || async {
        (world.delegation() == [NS_A]).then_some(())
    })
    .await;
    world.us.set_up(false);
    eventually("failover at pdns-a", LIMIT, || async {
        (world.www(&world.pdns_a) == [EU]).then_some(())
    })
    .await;
    world.pdns_b.resume();
    eventually("pdns-b repaired and back in the delegation", LIMIT, || async {
        (world.delegation() == [NS_A, NS_B]).then_some(())
    })
    .await;
    assert_eq!(world.www(&world.pdns_b), vec![EU], "brought in sync before it rejoined");
    // The apex NS sets follow the delegation in the same pass, but each provider is
    // written by its own task: pdns-b's may land just after the parent's.
    eventually("the apex NS set at pdns-b names both again", LIMIT, || async {
        (support::bind::dig(world.pdns_b.dns, "example.test.", "NS") == [NS_A, NS_B]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_writes_and_resume_restarts_them() {
    let world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("s.json");
    let d = start(
        &world,
        "a",
        &world.config(&agent("steer-a", &addr, &state, &[], "2s"), FAST, ""),
        &addr,
    );
    assert_eq!(
        d.post("/v1/pause", None, serde_json::json!({})).await.0,
        401,
        "no token, no pause"
    );
    assert_eq!(d.post("/v1/pause", Some("wrong"), serde_json::json!({})).await.0, 401);
    assert_eq!(d.post("/v1/pause", Some(TOKEN), serde_json::json!({})).await.0, 200);
    world.us.set_up(false);
    eventually("a pending failover in the plan", LIMIT, || async {
        let plan: serde_json::Value = serde_json::from_str(&d.get("/v1/plan").await.1).ok()?;
        (plan["summary"]["update"].as_u64()? >= 2).then_some(())
    })
    .await;
    assert_eq!(world.www(&world.pdns_a), vec![US], "paused: nothing written");
    assert_eq!(d.status().await["paused"], true);
    assert_eq!(d.post("/v1/resume", Some(TOKEN), serde_json::json!({})).await.0, 200);
    eventually("failover once resumed", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_forces_health_for_a_while() {
    let world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("s.json");
    let d = start(
        &world,
        "a",
        &world.config(&agent("steer-a", &addr, &state, &[], "2s"), FAST, ""),
        &addr,
    );
    eventually("ready", LIMIT, || async {
        (d.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    let body = serde_json::json!({"target": "check:web-us", "state": "down", "for": "10m"});
    assert_eq!(d.post("/v1/override", Some(TOKEN), body).await.0, 200);
    eventually("failover forced by the operator", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
    let bad = serde_json::json!({"target": "check:nope", "state": "down", "for": "10m"});
    assert_eq!(d.post("/v1/override", Some(TOKEN), bad).await.0, 404);
    let clear = serde_json::json!({"target": "check:web-us", "state": "clear"});
    assert_eq!(d.post("/v1/override", Some(TOKEN), clear).await.0, 200);
    eventually("back once the override is cleared", LIMIT, || async {
        www_everywhere(&world, US).await.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_health_and_does_not_flap_back() {
    let world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("s.json");
    // A long hold: after the restart, health can only be what was saved.
    let defaults = "{ interval: 200ms, timeout: 150ms, health: { window: 3, fail_ratio: 0.5, recover_ratio: 0.1, fall: 2, rise: 2, hold: 60s } }";
    let config = world.config(&agent("steer-a", &addr, &state, &[], "2s"), defaults, "");
    let mut d = start(&world, "a", &config, &addr);
    world.us.set_up(false);
    eventually("failover", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
    assert_eq!(d.terminate().code(), Some(0));
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains("check:web-us"), "{saved}");

    world.us.set_up(true);
    let d = start(&world, "b", &config, &addr);
    // Right away, before any new probe could decide: the saved verdicts.
    assert_eq!(d.target_state("check:web-us").await, "unhealthy");
    assert_eq!(d.target_state("check:web-eu").await, "healthy");
    // Healthy again, but within hold it must not flap back.
    eventually("several probes after the restart", LIMIT, || async {
        let status = d.status().await;
        (status["targets"]
            .as_array()?
            .iter()
            .any(|t| t["name"] == "check:web-us" && t["failure_ratio"] == 0.0))
        .then_some(())
    })
    .await;
    assert_eq!(
        d.target_state("check:web-us").await,
        "unhealthy",
        "hold 60 s is kept across the restart"
    );
    assert_eq!(world.www(&world.pdns_a), vec![EU]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_reported_and_health_starts_unknown() {
    let world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("s.json");
    std::fs::write(&state, "{ this is not json").unwrap();
    let d = start(
        &world,
        "a",
        &world.config(&agent("steer-a", &addr, &state, &[], "2s"), FAST, ""),
        &addr,
    );
    let status = d.status().await;
    assert!(
        status["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "unknown" || t["state"] == "healthy"),
        "{status}"
    );
    eventually("the corruption reported in the log", LIMIT, || async {
        d.log_text().contains("corrupt").then_some(())
    })
    .await;
}

/// Starts a pair of daemons on `lease` and waits until exactly one leads; returns the
/// leader first.
async fn elected_pair(world: &World, lease: &str) -> (Daemon, Daemon) {
    let (addr_a, addr_b) = (listen(), listen());
    let (state_a, state_b) = (world.dir.path().join("a.json"), world.dir.path().join("b.json"));
    let config_a = world.config(
        &agent("steer-a", &addr_a, &state_a, &[format!("http://{addr_b}")], lease),
        FAST,
        "",
    );
    let config_b = world.config(
        &agent("steer-b", &addr_b, &state_b, &[format!("http://{addr_a}")], lease),
        FAST,
        "",
    );
    let a = start(world, "a", &config_a, &addr_a);
    let b = start(world, "b", &config_b, &addr_b);
    let a_leads = eventually("one leader", Duration::from_secs(30), || async {
        let (ra, rb) = (
            a.status().await["agent"]["role"].clone(),
            b.status().await["agent"]["role"].clone(),
        );
        match (ra.as_str()?, rb.as_str()?) {
            ("leader", "standby") => Some(true),
            ("standby", "leader") => Some(false),
            _ => None,
        }
    })
    .await;
    if a_leads {
        (a, b)
    } else {
        (b, a)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_when_the_leader_is_killed() {
    let world = World::start().await;
    let (mut dead, live) = elected_pair(&world, "1s").await;
    let term = live.status().await["agent"]["term"].as_u64().unwrap();
    let killed = Instant::now();
    dead.kill();
    eventually("the standby leads", LIMIT, || async {
        (live.status().await["agent"]["role"] == "leader").then_some(())
    })
    .await;
    eprintln!(
        "FIGURE takeover after SIGKILL of the leader (lease 1 s): {:?}",
        killed.elapsed()
    );
    assert!(
        live.status().await["agent"]["term"].as_u64().unwrap() > term,
        "a new, higher term"
    );
    world.us.set_up(false);
    eventually("the new leader steers", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
    // The fence record carries the new leader's term.
    let fence = support::bind::dig(world.pdns_a.dns, "_dnsteer-fence.example.test.", "TXT");
    let new_term = live.status().await["agent"]["term"].as_u64().unwrap();
    assert_eq!(
        fence,
        vec![format!("\"term={new_term} leader=steer-b\"")],
        "the fence holds the new leader's term"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_api_is_retried_alerted_once_and_spares_the_others() {
    let world = World::start().await;
    let receiver = Receiver::start().await;
    let addr = listen();
    let state = world.dir.path().join("s.json");
    // pdns-b answers DNS (healthy) but refuses our API key.
    let config = world
        .config(&agent("steer-a", &addr, &state, &[], "2s"), FAST, &alerts(&receiver))
        .replacen(
            "api_key: { env: PDNS_KEY }\n    nameservers: [ ns1.provider-b.test. ]",
            "api_key: { env: WRONG_KEY }\n    nameservers: [ ns1.provider-b.test. ]",
            1,
        );
    let path = world.write_config("a.yaml", &config);
    let mut vars = env(&world);
    vars.push(("WRONG_KEY", "not-the-key".to_string()));
    let d = Daemon::start(&path, &addr, &vars, world.dir.path().join("a.log"));
    eventually("ready", LIMIT, || async {
        (d.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    world.us.set_up(false);
    eventually("pdns-a still fails over", LIMIT, || async {
        (world.www(&world.pdns_a) == [EU]).then_some(())
    })
    .await;
    let failed_reads = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("dnsteer_provider_calls_total")
                    && l.contains("provider=\"pdns-b\"")
                    && l.contains("operation=\"read\"")
                    && l.contains("result=\"error\"")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    eventually("pdns-b retried on later cycles", LIMIT, || async {
        (failed_reads(&d.get("/metrics").await.1) >= 3).then_some(())
    })
    .await;
    assert_eq!(world.www(&world.pdns_b), vec![US], "nothing reached pdns-b");
    // A key refused on read is a read problem, told once per outage.
    let read_failed = receiver.events().iter().filter(|e| *e == "read_failed").count();
    assert_eq!(read_failed, 1, "one read_failed per outage: {:?}", receiver.events());
    assert!(!d.log_text().contains("not-the-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_fence_is_adopted_and_writes_never_go_back_in_fence_order() {
    use dnsteer_providers::{Change, FenceMark, PowerDnsProvider, Provider, ZoneName};
    let world = World::start().await;
    // Another daemon of the pair already wrote this zone under a much newer term.
    let zone = ZoneName::new("example.test.").unwrap();
    let options = dnsteer_providers::PowerDnsOptions {
        endpoint: world.pdns_a.api_url.clone(),
        ..Default::default()
    };
    let pdns = PowerDnsProvider::new("pdns-a", support::pdns::API_KEY, options).unwrap();
    pdns.apply(
        &zone,
        &[Change::Create {
            after: FenceMark::new(999, "steer-z").record(&zone),
        }],
    )
    .await
    .unwrap();

    let addr = listen();
    let state = world.dir.path().join("s.json");
    // Its peer is unreachable: this daemon takes a lease of its own, a low term.
    let peer = format!("http://{}", listen());
    let d = start(
        &world,
        "a",
        &world.config(&agent("steer-a", &addr, &state, &[peer], "1s"), FAST, ""),
        &addr,
    );
    eventually("the newer term adopted", LIMIT, || async {
        (d.status().await["agent"]["term"].as_u64().unwrap() >= 999).then_some(())
    })
    .await;
    world.us.set_up(false);
    eventually("web-us unhealthy", LIMIT, || async {
        (d.target_state("check:web-us").await == "unhealthy").then_some(())
    })
    .await;
    // Whatever it writes from now on carries a fence newer than the one it found:
    // writes never go back in fence order.
    eventually("failover written under a newer fence", LIMIT, || async {
        (world.www(&world.pdns_a) == [EU]).then_some(())
    })
    .await;
    let fence = support::bind::dig(world.pdns_a.dns, "_dnsteer-fence.example.test.", "TXT");
    let term: u64 = fence[0]
        .trim_matches('"')
        .strip_prefix("term=")
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(term > 999, "the fence moved forward: {fence:?}");
}

/// The settings the failover figure is quoted for: interval 0.5 s, fall 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_at_half_second_intervals_with_fall_three() {
    let world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("s.json");
    let defaults = "{ interval: 500ms, timeout: 400ms, health: { window: 10, fail_ratio: 0.5, recover_ratio: 0.1, fall: 3, rise: 3, hold: 1s } }";
    let d = start(
        &world,
        "a",
        &world.config(&agent("steer-a", &addr, &state, &[], "2s"), defaults, ""),
        &addr,
    );
    // A full window of passing probes first: the figure is for a target in steady state.
    eventually("us-east healthy with a full window", LIMIT, || async {
        (d.target_state("check:web-us").await == "healthy" && world.us.hits() >= 11).then_some(())
    })
    .await;
    let died = Instant::now();
    world.us.set_up(false);
    eventually("failover at both providers", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
    eprintln!(
        "FIGURE failover after an endpoint died (interval 0.5 s, fall 3, window 10): {:?}",
        died.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_with_sigterm_hands_over_before_its_lease_runs_out() {
    let world = World::start().await;
    let (mut stopping, live) = elected_pair(&world, "3s").await;
    let stopped = Instant::now();
    assert_eq!(stopping.terminate().code(), Some(0));
    eventually("the standby leads", LIMIT, || async {
        (live.status().await["agent"]["role"] == "leader").then_some(())
    })
    .await;
    let handover = stopped.elapsed();
    eprintln!("FIGURE handover after SIGTERM of the leader (lease 3 s): {handover:?}");
    assert!(
        handover < Duration::from_secs(3),
        "handed over at once, not after the lease: {handover:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_with_one_dead_nameserver_stays_delegated_degraded_and_written() {
    let world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("a.state.json");
    // pdns-b is probed at its real address and at one that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = world
        .config(&agent("steer-a", &addr, &state, &[], "2s"), FAST, "")
        .replacen(
            &format!("probe: [ \"{}\" ]", world.pdns_b.dns),
            &format!(
                "probe: [ \"{}\", \"{}\" ]",
                world.pdns_b.dns,
                silent.local_addr().unwrap()
            ),
            1,
        );
    assert!(config.contains(&silent.local_addr().unwrap().to_string()));
    let d = start(&world, "a", &config, &addr);
    eventually("ready", LIMIT, || async {
        (d.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    // Many rounds, each with the dead address failing: healthy, and reported degraded.
    eventually("pdns-b degraded in the status", LIMIT, || async {
        let status = d.status().await;
        let target = status["targets"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == "provider:pdns-b")?
            .clone();
        (target["state"] == "healthy" && target["degraded"].as_str()?.starts_with("1 of 2 failing: ")).then_some(())
    })
    .await;
    let metrics = d.get("/metrics").await.1;
    assert!(
        metrics.contains("dnsteer_target_degraded{target=\"provider:pdns-b\"} 1"),
        "{metrics}"
    );
    assert_eq!(world.delegation(), vec![NS_A, NS_B], "still delegated to");

    // A failover reaches both providers, the degraded one too.
    world.us.set_up(false);
    eventually("failover to eu-west at both providers", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
    assert_eq!(world.delegation(), vec![NS_A, NS_B]);
    assert_eq!(d.target_state("provider:pdns-b").await, "healthy");
    // Each provider's write of www, and when resolvers will have followed it: the old
    // set's TTL (30 s) after the write.
    let status = d.status().await;
    for provider in ["pdns-a", "pdns-b"] {
        let record = status["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["provider"] == provider && r["name"] == "www.example.test.")
            .unwrap_or_else(|| panic!("no record written at {provider}: {status:#}"));
        assert_eq!(record["stale_for_s"], 30, "{record}");
        let at = |field: &str| chrono::DateTime::parse_from_rfc3339(record[field].as_str().unwrap()).unwrap();
        assert_eq!(
            at("followed_by") - at("written_at"),
            chrono::TimeDelta::seconds(30),
            "{record}"
        );
    }
    let metrics = d.get("/metrics").await.1;
    assert!(
        metrics.contains("dnsteer_record_followed_by_timestamp_seconds{zone=\"example.test.\",provider=\"pdns-b\",name=\"www.example.test.\",record_type=\"A\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_apply_is_audited_and_warned_about_while_a_daemon_runs() {
    let world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("m.state.json");
    let config = world.config(&agent("steer-a", &addr, &state, &[], "2s"), FAST, "");
    let d = start(&world, "m", &config, &addr);
    eventually("ready", LIMIT, || async {
        (d.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    // The operator forces a failover by hand while the daemon runs.
    d.post("/v1/pause", Some(TOKEN), serde_json::json!({})).await;
    let path = world.write_config("m.yaml", &config);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dnsteer"))
        .args([
            "--config",
            path.to_str().unwrap(),
            "apply",
            "--yes",
            "--assume",
            "check:web-us=down",
        ])
        .args([
            "--assume",
            "check:web-eu=up",
            "--assume",
            "provider:pdns-a=up",
            "--assume",
            "provider:pdns-b=up",
        ])
        .envs(env(&world))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("warning: a dnsteer daemon answers at http://{addr}"))
            && stderr.contains("/v1/override"),
        "{stderr}"
    );
    assert!(www_everywhere(&world, EU).await, "the manual apply wrote the failover");
    let audit = std::fs::read_to_string(state.with_extension("audit.jsonl")).unwrap();
    let manual: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l["agent"] == "steer-a (dnsteer apply)")
        .collect();
    assert_eq!(manual.len(), 2, "one line per provider written: {audit}");
    assert!(manual
        .iter()
        .all(|l| l["result"] == "ok" && l["checksum"].as_str().is_some()));
}

/// SIGHUP reloads the configuration: a broken one is refused and logged, and the daemon
/// goes on steering with the one it runs; a good one takes effect, health kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_refuses_a_broken_configuration_and_applies_a_good_one() {
    let world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("hup.state.json");
    let good = world.config(&agent("steer-a", &addr, &state, &[], "2s"), FAST, "");
    let path = world.write_config("hup.yaml", &good);
    let mut d = Daemon::start(&path, &addr, &env(&world), world.dir.path().join("hup.log"));
    eventually("us-east at both providers", LIMIT, || async {
        www_everywhere(&world, US).await.then_some(())
    })
    .await;
    let hangup = |d: &Daemon| {
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &d.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -HUP");
    };

    // Broken: a pool names a check that does not exist, and eu-west comes first.
    let broken = good
        .replace("check: web-eu }", "check: web-nowhere }")
        .replace("priority: 2", "priority: 0");
    assert_ne!(broken, good);
    std::fs::write(&path, &broken).unwrap();
    hangup(&d);
    let log = eventually("the reload refused in the log", LIMIT, || async {
        let log = d.log_text();
        log.contains("configuration reload refused").then_some(log)
    })
    .await;
    assert!(log.contains("web-nowhere"), "the refusal says what is wrong:\n{log}");
    assert_eq!(d.get("/healthz").await.0, 200, "still running");
    // Still steering on the old configuration: us-east stays first and a failure there
    // still fails over to eu-west, checked by web-eu.
    assert!(
        www_everywhere(&world, US).await,
        "the broken priorities were not applied"
    );
    world.us.set_up(false);
    eventually("failover on the old configuration", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
    world.us.set_up(true);
    eventually("failback on the old configuration", LIMIT, || async {
        www_everywhere(&world, US).await.then_some(())
    })
    .await;

    // Good: eu-west first. Applied without a restart, and us-east's health is kept.
    std::fs::write(&path, good.replace("priority: 2", "priority: 0")).unwrap();
    hangup(&d);
    eventually("eu-west first after the reload", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
    assert!(d.log_text().contains("configuration reloaded"), "{}", d.log_text());
    assert_eq!(d.target_state("check:web-us").await, "healthy");
    assert!(d.terminate().success(), "a clean stop after reloads");
}
