//! End to end: a fleet of `dnsteer run` daemons coordinated through a real 3-member
//! etcd on loopback, against real PowerDNS, BIND and HTTP endpoints. Checked the way an
//! operator would: who leads (`/v1/status`), what every provider answers (`dig`), what
//! alerts arrived.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::daemon::{eventually, Daemon};
use support::etcd::EtcdCluster;
use support::receiver::Receiver;
use support::world::{World, EU, US};

const TOKEN: &str = "tok-s3cr3t-fleet-5512";
const HOOK_SECRET: &str = "hook-s3cr3t-fleet-1188";
/// Interval 0.2 s, fall/rise 2 over a window of 3, hold 1 s.
const FAST: &str = "{ interval: 200ms, timeout: 150ms, health: { window: 3, fail_ratio: 0.5, recover_ratio: 0.1, fall: 2, rise: 2, hold: 1s } }";
const LIMIT: Duration = Duration::from_secs(30);

fn agent(id: &str, listen: &str, state: &Path, etcd: &EtcdCluster, lease: &str) -> String {
    format!(
        "{{ id: {id}, listen: \"{listen}\", state_file: \"{}\", api_token: {{ env: DNSTEER_API_TOKEN }}, \
         lease: {{ duration: {lease} }}, coordination: {{ kind: etcd, endpoints: [{}], prefix: /fleet-test/ }} }}",
        state.display(),
        etcd.endpoints()
            .iter()
            .map(|e| format!("\"{e}\""))
            .collect::<Vec<_>>()
            .join(", ")
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

fn alerts(receiver: &Receiver) -> String {
    format!(
        "alerts:\n  - {{ kind: webhook, url: \"{}\", secret: {{ env: HOOK_SECRET }} }}\n",
        receiver.url()
    )
}

struct Fleet {
    daemons: Vec<Daemon>,
}

impl Fleet {
    /// `config(i, agent)` gives daemon i's configuration text.
    fn start(world: &World, etcd: &EtcdCluster, n: usize, config: impl Fn(usize, &str) -> String) -> Self {
        let daemons = (0..n)
            .map(|i| {
                let addr = listen();
                let state = world.dir.path().join(format!("d{i}.state.json"));
                let text = config(i, &agent(&format!("d{i}"), &addr, &state, etcd, "1500ms"));
                let path = world.write_config(&format!("d{i}.yaml"), &text);
                Daemon::start(&path, &addr, &env(world), world.dir.path().join(format!("d{i}.log")))
            })
            .collect();
        Self { daemons }
    }

    /// The index of the one daemon that says it leads, once every live one agrees on it.
    async fn leader(&self, alive: &[usize]) -> Option<usize> {
        let mut leaders = Vec::new();
        let mut named = Vec::new();
        for &i in alive {
            let status = self.daemons[i].status().await;
            if status["agent"]["role"] == "leader" {
                leaders.push(i);
            }
            named.push(status["agent"]["leader"].as_str().map(String::from));
        }
        match leaders.as_slice() {
            [one] if named.iter().all(|n| n.as_deref() == Some(format!("d{one}").as_str())) => Some(*one),
            _ => None,
        }
    }
}

async fn www_everywhere(world: &World, value: &str) -> bool {
    world.www(&world.pdns_a) == [value] && world.www(&world.pdns_b) == [value]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_elect_one_leader_fail_over_and_hand_over_after_a_kill() {
    let etcd = EtcdCluster::start();
    let world = World::start().await;
    let receiver = Receiver::start().await;
    let mut fleet = Fleet::start(&world, &etcd, 3, |_, agent| {
        world.config(agent, FAST, &alerts(&receiver))
    });
    let all = [0, 1, 2];
    let leader = eventually("one leader that all three name", LIMIT, || async {
        fleet.leader(&all).await
    })
    .await;
    // Every daemon counts the two others as vantage points.
    eventually("three vantage points", LIMIT, || async {
        let status = fleet.daemons[leader].status().await;
        let fresh = status["vantage"]
            .as_array()?
            .iter()
            .filter(|v| v["fresh"] == true)
            .count();
        (fresh == 2).then_some(())
    })
    .await;
    eventually("web-us healthy", LIMIT, || async {
        (fleet.daemons[leader].target_state("check:web-us").await == "healthy").then_some(())
    })
    .await;

    let died = Instant::now();
    world.us.set_up(false);
    eventually("failover at both providers", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
    eprintln!(
        "FIGURE fleet of 3 (quorum majority, interval 0.2 s, fall 2): failure to both providers serving eu-west in {:?}",
        died.elapsed()
    );
    // The fence at the providers is the leader key's revision, with the leader's id.
    let fence = support::bind::dig(world.pdns_a.dns, "_dnsteer-fence.example.test.", "TXT");
    let term = fleet.daemons[leader].status().await["agent"]["term"].as_u64().unwrap();
    assert_eq!(fence, vec![format!("\"term={term} leader=d{leader}\"")]);

    // The fence's proof at etcd (a transaction on the leader key) is renewed every third
    // of a lease and cached: a provider write waits for none. What one costs:
    let client =
        dnsteer::fleet::etcd::EtcdClient::new(etcd.endpoints(), "/fleet-test/".into(), None, Duration::from_secs(2))
            .unwrap();
    let proof = dnsteer::fleet::etcd::Txn::new().when([dnsteer::fleet::etcd::Compare::create_revision(
        "leader",
        dnsteer::fleet::etcd::CompareOp::Equal,
        term as i64,
    )]);
    let mut took: Vec<Duration> = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        assert!(
            client.txn(&proof).await.unwrap().succeeded,
            "the leader key is the fence's"
        );
        took.push(started.elapsed());
    }
    took.sort();
    eprintln!(
        "FIGURE fence proof at etcd (one txn, renewed every third of a lease, not per write): median {:?}, max {:?}",
        took[10], took[19]
    );

    let killed = Instant::now();
    fleet.daemons[leader].kill();
    let alive: Vec<usize> = all.iter().copied().filter(|i| *i != leader).collect();
    let new = eventually("a new leader", LIMIT, || async { fleet.leader(&alive).await }).await;
    eprintln!(
        "FIGURE fleet takeover after SIGKILL of the leader (lease 1.5 s): {:?}",
        killed.elapsed()
    );
    let new_term = fleet.daemons[new].status().await["agent"]["term"].as_u64().unwrap();
    assert!(new_term > term, "the fence token grows: {new_term} after {term}");
    // The dead daemon's views vanished with its lease.
    eventually("the dead daemon no longer counts", LIMIT, || async {
        let status = fleet.daemons[new].status().await;
        let ids: Vec<String> = status["vantage"]
            .as_array()?
            .iter()
            .filter_map(|v| v["id"].as_str().map(String::from))
            .collect();
        (!ids.contains(&format!("d{leader}"))).then_some(())
    })
    .await;
    world.us.set_up(true);
    eventually("failback under the new leader", LIMIT, || async {
        www_everywhere(&world, US).await.then_some(())
    })
    .await;
    let fence = support::bind::dig(world.pdns_a.dns, "_dnsteer-fence.example.test.", "TXT");
    assert_eq!(fence, vec![format!("\"term={new_term} leader=d{new}\"")]);
    assert!(
        receiver.events().iter().any(|e| e == "leader_changed"),
        "{:?}",
        receiver.events()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vantage_point_that_alone_sees_an_endpoint_fail_cannot_fail_it() {
    let etcd = EtcdCluster::start();
    let world = World::start().await;
    // d2 reaches us-east at an address where nothing answers: its view alone says
    // us-east is down; d0 and d1 see it up.
    let dead = format!("http://127.0.0.2:{}/healthz", support::free_port());
    // Steadier than FAST: this test asserts that no wrong verdict appears, so a probe
    // the loaded test machine answers late must not count as the second vantage point.
    const STEADY: &str = "{ interval: 250ms, timeout: 225ms, health: { window: 4, fail_ratio: 0.75, recover_ratio: 0.1, fall: 2, rise: 2, hold: 1s } }";
    let fleet = Fleet::start(&world, &etcd, 3, |i, agent| {
        let config = world.config(agent, STEADY, "");
        if i == 2 {
            config.replace(&world.us.url(), &dead)
        } else {
            config
        }
    });
    let all = [0, 1, 2];
    let leader = eventually("one leader", LIMIT, || async { fleet.leader(&all).await }).await;
    eventually("d2 measures web-us down", LIMIT, || async {
        let status = fleet.daemons[2].status().await;
        let t = status["targets"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == "check:web-us")?
            .clone();
        (t["failure_ratio"].as_f64()? >= 1.0).then_some(())
    })
    .await;
    // Its window has been published and read by the others: the status of a daemon
    // other than d2 shows, for web-us, d2's view failing.
    let observer = if leader == 2 { 0 } else { leader };
    eventually("d2's failing view shown per target", LIMIT, || async {
        let status = fleet.daemons[observer].status().await;
        let t = status["targets"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == "check:web-us")?
            .clone();
        let d2 = t["vantage"].as_array()?.iter().find(|v| v["id"] == "d2")?.clone();
        (d2["failure_ratio"].as_f64()? >= 1.0).then_some(())
    })
    .await;
    // A bounded watch, not a wait: twelve probe intervals in which a wrong verdict
    // would show.
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(3) {
        assert_eq!(
            fleet.daemons[leader].target_state("check:web-us").await,
            "healthy",
            "one vantage point of three cannot fail a target"
        );
        assert!(www_everywhere(&world, US).await, "nothing moved");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // When a second one sees it fail, the quorum does.
    world.us.set_up(false);
    eventually("failover once a majority sees it", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_etcd_nobody_writes_and_writing_resumes_when_it_returns() {
    let mut etcd = EtcdCluster::start();
    let world = World::start().await;
    let receiver = Receiver::start().await;
    let fleet = Fleet::start(&world, &etcd, 2, |_, agent| {
        world.config(agent, FAST, &alerts(&receiver))
    });
    let all = [0, 1];
    let leader = eventually("one leader", LIMIT, || async { fleet.leader(&all).await }).await;
    eventually("web-us healthy", LIMIT, || async {
        (fleet.daemons[leader].target_state("check:web-us").await == "healthy").then_some(())
    })
    .await;
    // Two of three members gone: no quorum.
    etcd.kill(1);
    etcd.kill(2);
    eventually("the leader stops leading", LIMIT, || async {
        (fleet.daemons[leader].status().await["agent"]["role"] == "standby").then_some(())
    })
    .await;
    eventually("coordination_lost alerted", LIMIT, || async {
        receiver.events().iter().any(|e| e == "coordination_lost").then_some(())
    })
    .await;
    world.us.set_up(false);
    eventually("the daemons still probe: web-us unhealthy", LIMIT, || async {
        (fleet.daemons[leader].target_state("check:web-us").await == "unhealthy").then_some(())
    })
    .await;
    assert!(
        www_everywhere(&world, US).await,
        "static stability: DNS keeps its last answers"
    );
    etcd.restart(1);
    etcd.restart(2);
    eventually("writing resumes by itself: failover", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_given_to_any_daemon_holds_the_whole_fleet() {
    let etcd = EtcdCluster::start();
    let world = World::start().await;
    let fleet = Fleet::start(&world, &etcd, 3, |_, agent| world.config(agent, FAST, ""));
    let all = [0, 1, 2];
    let leader = eventually("one leader", LIMIT, || async { fleet.leader(&all).await }).await;
    let other = (leader + 1) % 3;
    let (code, body) = fleet.daemons[other]
        .post("/v1/pause", Some(TOKEN), serde_json::json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    eventually("the leader is paused too", LIMIT, || async {
        (fleet.daemons[leader].status().await["paused"] == true).then_some(())
    })
    .await;
    world.us.set_up(false);
    eventually("web-us unhealthy at the leader", LIMIT, || async {
        (fleet.daemons[leader].target_state("check:web-us").await == "unhealthy").then_some(())
    })
    .await;
    eventually("the leader's plan has the failover", LIMIT, || async {
        let (_, plan) = fleet.daemons[leader].get("/v1/plan").await;
        plan.contains(EU).then_some(())
    })
    .await;
    assert!(www_everywhere(&world, US).await, "paused: nothing written");
    let third = (leader + 2) % 3;
    let (code, body) = fleet.daemons[third]
        .post("/v1/resume", Some(TOKEN), serde_json::json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    eventually("resumed through a third daemon: failover", LIMIT, || async {
        www_everywhere(&world, EU).await.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_reaches_every_provider_and_etcd() {
    let etcd = EtcdCluster::start();
    let world = World::start().await;
    let state = world.dir.path().join("c.state.json");
    let text = world.config(&agent("c0", &listen(), &state, &etcd, "2s"), FAST, "");
    let path = world.write_config("c.yaml", &text);
    let run = |env: Vec<(&'static str, String)>, path: std::path::PathBuf| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dnsteer"))
            .args(["--config", path.to_str().unwrap(), "check", "--online"])
            .envs(env)
            .output()
            .await
            .unwrap()
    };
    let out = run(env(&world), path.clone()).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "ok      pdns-a: credentials accepted, zone example.test. readable",
        "ok      pdns-b: credentials accepted, zone example.test. readable",
        "ok      parent: credentials accepted, zone test. readable",
        "ok      pdns-a: 1 of 1 nameserver addresses answer",
        "ok      etcd ",
    ] {
        assert!(stdout.contains(needle), "{needle:?} in:\n{stdout}");
    }

    // A wrong key, and etcd out of reach: one FAILED line each, exit 1.
    let mut bad = env(&world);
    bad.retain(|(k, _)| *k != "PDNS_KEY");
    bad.push(("PDNS_KEY", "not-the-key".into()));
    let dead = format!("http://127.0.0.1:{}", support::free_port());
    let text = text.replace(&etcd.endpoints()[0], &dead);
    let text = etcd.endpoints()[1..].iter().fold(text, |t, e| t.replace(e, &dead));
    let path = world.write_config("bad.yaml", &text);
    let out = run(bad, path).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED  pdns-a: zone example.test.: pdns-a: authentication failed"),
        "{stdout}"
    );
    assert!(stdout.contains("FAILED  etcd "), "{stdout}");
    assert!(!stdout.contains("not-the-key"), "no secret printed");
}
