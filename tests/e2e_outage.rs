//! End to end at the moments dnsteer exists for (issue 8): a region outage moving a
//! whole zone, a held zone beside it, a hung provider, a crashed leader, a partitioned
//! pair, and a pair delegating at a registrar. The real binary runs against real
//! PowerDNS, BIND and moto on loopback; failures are injected by switching endpoints,
//! signalling processes and cutting links through test proxies; outcomes are checked
//! as an operator would: DNS answers at every provider, `/v1/status`, the audit log.
//! Each test prints its measured figure (`FIGURE ...`, with `--nocapture`).

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::daemon::{eventually, Daemon};
use support::moto::Moto;
use support::pdns::PowerDns;
use support::proxy::Proxy;
use support::world::{World, EU, NS_A, NS_B, US};

const TOKEN: &str = "tok-outage-5512";
/// Interval 0.5 s. A dead endpoint is unhealthy after at most three failed probes: two
/// of a window of four fail the window, and fall 2 needs one more failing evaluation.
const HEALTH: &str = "{ interval: 500ms, timeout: 400ms, health: { window: 4, fail_ratio: 0.5, recover_ratio: 0.25, fall: 2, rise: 2, hold: 1s } }";
/// One detection at [`HEALTH`]: three probes 0.5 s apart, the last one's 0.4 s timeout,
/// rounded up.
const DETECTION: Duration = Duration::from_secs(2);
/// One write: the next steering cycle (every interval) and a PATCH per provider on
/// loopback, with room for two busy cores.
const WRITE: Duration = Duration::from_secs(1);
const LEASE: Duration = Duration::from_secs(2);
const LIMIT: Duration = Duration::from_secs(30);
/// How long a failover is waited for before the test gives up on it (its figure is
/// then checked against the budget, so a slow one is still reported with its time).
const FAILOVER_WAIT: Duration = Duration::from_secs(15);

/// The 13 steered names of the region-outage zone: `www` (already in the world) and 12 more.
fn region_names() -> Vec<String> {
    std::iter::once("www".to_string())
        .chain((1..=12).map(|i| format!("app{i:02}")))
        .collect()
}

/// Configuration items for failover records on us-east/eu-west, indented for
/// `zones[].records`.
fn failover_records(names: &[String], ttl: u32) -> String {
    names
        .iter()
        .map(|name| {
            format!(
                "      - {{ name: {name}, type: A, ttl: {ttl}, policy: failover, pools: [ \
                 {{ name: us-east, priority: 1, values: [ {US} ], check: web-us }}, \
                 {{ name: eu-west, priority: 2, values: [ {EU} ], check: web-eu }} ] }}\n"
            )
        })
        .collect()
}

/// PowerDNS rrsets answering each name from us-east.
fn us_rrsets(zone: &str, names: &[String], ttl: u32) -> serde_json::Value {
    names
        .iter()
        .map(|n| json!({"name": format!("{n}.{zone}"), "type": "A", "ttl": ttl, "records": [{"content": US, "disabled": false}]}))
        .collect()
}

/// Puts YAML into the world's configuration just before `checks:`: more records of
/// `example.test.` (indented as its records) and further zones after them.
fn insert_before_checks(config: &str, yaml: &str) -> String {
    config.replacen("\nchecks:\n", &format!("\n{yaml}checks:\n"), 1)
}

fn listen() -> String {
    format!("127.0.0.1:{}", support::free_port())
}

/// An `agent:` block; with peers, a lease of [`LEASE`] and the given witness.
fn agent(id: &str, listen: &str, state: &Path, peers: &[String], witness: Option<&str>) -> String {
    let lease = match (peers.is_empty(), witness) {
        (true, _) => String::new(),
        (false, Some(w)) => format!(", lease: {{ duration: {}s, witness: {w} }}", LEASE.as_secs()),
        (false, None) => format!(", lease: {{ duration: {}s }}", LEASE.as_secs()),
    };
    format!(
        "{{ id: {id}, listen: \"{listen}\", state_file: \"{}\", api_token: {{ env: DNSTEER_API_TOKEN }}, peers: [{}]{lease} }}",
        state.display(),
        peers.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", ")
    )
}

fn start(world: &World, name: &str, config: &str, listen: &str) -> Daemon {
    let path = world.write_config(&format!("{name}.yaml"), config);
    let mut env = world.env();
    env.push(("DNSTEER_API_TOKEN", TOKEN.to_string()));
    Daemon::start(&path, listen, &env, world.dir.path().join(format!("{name}.log")))
}

/// Every A answer of `zone` for `names` at one server, as `name -> (ttl, values)`: one
/// `dig` for all of them, so a poll sees one moment.
fn answers(server: SocketAddr, zone: &str, names: &[String]) -> BTreeMap<String, (u32, Vec<String>)> {
    let mut cmd = Command::new("dig");
    cmd.args(["+noall", "+answer", "+norecurse", "+time=1", "+tries=1", "-p"])
        .arg(server.port().to_string())
        .arg(format!("@{}", server.ip()));
    for n in names {
        cmd.arg(format!("{n}.{zone}")).arg("A");
    }
    let out = cmd.output().expect("run dig");
    let mut found: BTreeMap<String, (u32, Vec<String>)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [name, ttl, _, "A", value] = f[..] {
            let name = name.trim_end_matches(&format!(".{zone}")).to_string();
            let entry = found.entry(name).or_insert((ttl.parse().unwrap_or(0), Vec::new()));
            entry.1.push(value.to_string());
        }
    }
    found
}

/// Whether every name answers `value` (alone) at `server`.
fn all_answer(server: SocketAddr, zone: &str, names: &[String], value: &str) -> bool {
    let found = answers(server, zone, names);
    names
        .iter()
        .all(|n| found.get(n).is_some_and(|(_, v)| v.as_slice() == [value]))
}

fn everywhere(world: &World, zone: &str, names: &[String], value: &str) -> bool {
    all_answer(world.pdns_a.dns, zone, names, value) && all_answer(world.pdns_b.dns, zone, names, value)
}

async fn role(d: &Daemon) -> Option<String> {
    let (code, body) = d.get("/v1/status").await;
    let status: serde_json::Value = serde_json::from_str(&body).ok().filter(|_| code == 200)?;
    status["agent"]["role"].as_str().map(str::to_string)
}

async fn wait_healthy(d: &Daemon, targets: &[&str]) {
    eventually("every target decided healthy", LIMIT, || async {
        for t in targets {
            if d.target_state(t).await != "healthy" {
                return None;
            }
        }
        Some(())
    })
    .await;
}

/// The audit log's lines (one JSON object per applied batch).
fn audit(state: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state.with_extension("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// a. A region outage moves the whole zone (13 names, 14 managed sets with the apex NS)
/// with the default safety limits, within one detection plus one write, and it all
/// comes back when the region does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_outage_fails_the_whole_zone_over_and_back() {
    let world = World::start().await;
    let names = region_names();
    for pdns in [&world.pdns_a, &world.pdns_b] {
        pdns.replace_rrsets("example.test.", us_rrsets("example.test.", &names, 30));
    }
    let addr = listen();
    let state = world.dir.path().join("a.json");
    let config = insert_before_checks(
        &world.config(&agent("steer-a", &addr, &state, &[], None), HEALTH, ""),
        &failover_records(&names[1..], 30),
    );
    let d = start(&world, "a", &config, &addr);
    wait_healthy(
        &d,
        &["check:web-us", "check:web-eu", "provider:pdns-a", "provider:pdns-b"],
    )
    .await;
    assert!(everywhere(&world, "example.test.", &names, US), "starts in sync");

    let died = Instant::now();
    world.us.set_up(false);
    eventually("all 13 names on eu-west at both providers", FAILOVER_WAIT, || async {
        everywhere(&world, "example.test.", &names, EU).then_some(())
    })
    .await;
    let failover = died.elapsed();
    eprintln!("FIGURE region failover of 13 names (14 managed sets), default limits, interval 0.5 s: {failover:?}");
    let status = d.status().await;
    assert_eq!(status["held"], json!([]), "a region failing is not held: {status}");
    assert!(
        failover <= DETECTION + WRITE,
        "one detection plus one write ({:?}), took {failover:?}",
        DETECTION + WRITE
    );
    assert_eq!(world.dig_mail(), vec!["192.0.2.25"], "unmanaged records stay");
    assert_eq!(world.delegation(), [NS_A, NS_B], "both providers stay delegated");
    let moved: std::collections::BTreeSet<String> = audit(&state)
        .iter()
        .filter(|l| l["result"] == "ok")
        .flat_map(|l| l["changes"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["after"] == json!([EU]))
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        moved.len(),
        names.len(),
        "the audit log names every moved record: {moved:?}"
    );

    let back = Instant::now();
    world.us.set_up(true);
    eventually("all 13 names back on us-east", LIMIT, || async {
        everywhere(&world, "example.test.", &names, US).then_some(())
    })
    .await;
    eprintln!(
        "FIGURE region failback of 13 names (rise 2, hold 1 s): {:?}",
        back.elapsed()
    );
}

/// b. A second zone whose plan is held (its configuration changes the TTL of most of
/// its records, over its `max_change_ratio`) does not hold the first zone's failover;
/// `/v1/status` shows the hold, and `POST /v1/approve` with its checksum applies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_zone_holds_only_itself_until_approved() {
    let world = World::start().await;
    let names = region_names();
    let other: Vec<String> = (1..=10).map(|i| format!("o{i:02}")).collect();
    for pdns in [&world.pdns_a, &world.pdns_b] {
        pdns.replace_rrsets("example.test.", us_rrsets("example.test.", &names, 30));
        pdns.create_zone("other.test.", &[NS_A, NS_B], us_rrsets("other.test.", &other, 30));
    }
    world.parent.nsupdate(&format!(
        "update add other.test. 300 NS {NS_A}\nupdate add other.test. 300 NS {NS_B}"
    ));
    // The configuration raises the TTL of 8 of other.test.'s 10 records (30 -> 120): a
    // change of 8 of its 11 managed sets, an edit over the zone's 30% limit.
    let zone2 = format!(
        "  - name: other.test.\n    providers: [ pdns-a, pdns-b ]\n    max_change_ratio: 0.3\n    \
         delegation: {{ provider: parent, parent: test., min_providers: 1, ttl: 300 }}\n    records:\n{}{}",
        failover_records(&other[..8], 120),
        failover_records(&other[8..], 30)
    );
    let addr = listen();
    let state = world.dir.path().join("a.json");
    let config = insert_before_checks(
        &world.config(&agent("steer-a", &addr, &state, &[], None), HEALTH, ""),
        &(failover_records(&names[1..], 30) + &zone2),
    );
    let d = start(&world, "a", &config, &addr);
    wait_healthy(&d, &["check:web-us", "check:web-eu"]).await;

    let died = Instant::now();
    world.us.set_up(false);
    eventually(
        "example.test. fails over beside the held zone",
        FAILOVER_WAIT,
        || async { everywhere(&world, "example.test.", &names, EU).then_some(()) },
    )
    .await;
    let failover = died.elapsed();
    eprintln!("FIGURE region failover of 13 names beside a held zone: {failover:?}");
    assert!(failover <= DETECTION + WRITE, "took {failover:?}");
    for pdns in [&world.pdns_a, &world.pdns_b] {
        let live = answers(pdns.dns, "other.test.", &other);
        assert!(
            other.iter().all(|n| live.get(n) == Some(&(30, vec![US.to_string()]))),
            "the held zone is untouched: {live:?}"
        );
    }
    let status = d.status().await;
    let held = status["held"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["zone"] == "other.test."))
        .unwrap_or_else(|| panic!("other.test. held in /v1/status: {status}"));
    eprintln!("held: {held}");
    assert!(held["reason"].as_str().is_some_and(|r| !r.is_empty()), "{held}");
    assert!(held["checksum"].as_str().is_some_and(|c| !c.is_empty()), "{held}");
    assert_eq!(
        status["held"].as_array().unwrap().len(),
        1,
        "only other.test. is held: {status}"
    );

    // The operator reviews the held plan as it now stands and approves that checksum.
    let checksum = eventually("the held plan with the failover in it", LIMIT, || async {
        let status = d.status().await;
        let hold = status["held"]
            .as_array()?
            .iter()
            .find(|h| h["zone"] == "other.test.")?
            .clone();
        let plan: serde_json::Value = serde_json::from_str(&d.get("/v1/plan").await.1).ok()?;
        let moves_values = plan["changes"]
            .as_array()?
            .iter()
            .any(|c| c["zone"] == "other.test." && c["after"] == json!([EU]));
        moves_values.then(|| hold["checksum"].as_str().map(str::to_string))?
    })
    .await;
    let approve = json!({ "checksum": checksum });
    assert_eq!(
        d.post("/v1/approve", None, approve.clone()).await.0,
        401,
        "no token, no approval"
    );
    let (code, body) = d.post("/v1/approve", Some(TOKEN), approve).await;
    assert_eq!(code, 200, "{body}");
    eventually("the approved plan applied at both providers", LIMIT, || async {
        [&world.pdns_a, &world.pdns_b]
            .iter()
            .all(|p| {
                let live = answers(p.dns, "other.test.", &other);
                other.iter().enumerate().all(|(i, n)| {
                    let ttl = if i < 8 { 120 } else { 30 };
                    live.get(n) == Some(&(ttl, vec![EU.to_string()]))
                })
            })
            .then_some(())
    })
    .await;
    eventually("nothing held any more", LIMIT, || async {
        (d.status().await["held"] == json!([])).then_some(())
    })
    .await;
    assert!(
        audit(&state)
            .iter()
            .any(|l| l["zone"] == "other.test." && l["result"] == "ok"),
        "the approved write is audited"
    );
}

/// c. One PowerDNS paused (SIGSTOP: its DNS and API both hang): a failover completes at
/// the other provider in the normal time, and the paused provider leaves the
/// delegation about as fast as a killed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_provider_delays_nothing_and_leaves_the_delegation() {
    let mut world = World::start().await;
    let addr = listen();
    let state = world.dir.path().join("a.json");
    let d = start(
        &world,
        "a",
        &world.config(&agent("steer-a", &addr, &state, &[], None), HEALTH, ""),
        &addr,
    );
    let all = ["check:web-us", "check:web-eu", "provider:pdns-a", "provider:pdns-b"];
    wait_healthy(&d, &all).await;

    // The reference: a killed provider.
    let killed = Instant::now();
    world.pdns_b.stop();
    eventually("killed pdns-b out of the delegation", LIMIT, || async {
        (world.delegation() == [NS_A]).then_some(())
    })
    .await;
    let killed_left = killed.elapsed();
    eprintln!("FIGURE a killed provider leaves the delegation after {killed_left:?}");
    world.pdns_b.resume();
    eventually("pdns-b back in the delegation", LIMIT, || async {
        (world.delegation() == [NS_A, NS_B]).then_some(())
    })
    .await;
    wait_healthy(&d, &all).await;

    // Paused, and the region fails at the same moment.
    let paused = Instant::now();
    world.pdns_b.pause();
    let _unpause = Unpause(&world.pdns_b);
    world.us.set_up(false);
    let failover = eventually("failover at pdns-a", Duration::from_secs(60), || async {
        (world.www(&world.pdns_a) == [EU]).then(|| paused.elapsed())
    })
    .await;
    let paused_left = eventually(
        "paused pdns-b out of the delegation",
        Duration::from_secs(90),
        || async { (world.delegation() == [NS_A]).then(|| paused.elapsed()) },
    )
    .await;
    eprintln!("FIGURE with pdns-b paused: failover at pdns-a after {failover:?}; pdns-b left the delegation after {paused_left:?} (killed: {killed_left:?})");
    let write_at = audit(&state)
        .iter()
        .rev()
        .find(|l| l["provider"] == "pdns-a" && l["changes"].to_string().contains(EU))
        .and_then(|l| l["at"].as_str().map(str::to_string))
        .expect("the failover write at pdns-a is audited");
    let write_at: chrono::DateTime<chrono::Utc> = write_at.parse().unwrap();
    let paused_at = chrono::Utc::now() - chrono::Duration::from_std(paused.elapsed()).unwrap();
    assert!(
        write_at >= paused_at - chrono::Duration::milliseconds(100),
        "the audit line's time is the write's, not the cycle's start: {write_at} vs pause at {paused_at}"
    );
    assert!(failover <= DETECTION + WRITE, "normal time: {failover:?}");
    assert!(
        paused_left <= killed_left + DETECTION,
        "about as fast as a killed one: paused {paused_left:?}, killed {killed_left:?}"
    );

    // Resumed: the paused provider is brought in sync before it is delegated again.
    world.pdns_b.unpause();
    eventually("pdns-b in sync and delegated again", LIMIT, || async {
        (world.www(&world.pdns_b) == [EU] && world.delegation() == [NS_A, NS_B]).then_some(())
    })
    .await;
}

/// SIGCONT on the way out, even when the test fails, so the process can be killed.
struct Unpause<'a>(&'a PowerDns);

impl Drop for Unpause<'_> {
    fn drop(&mut self) {
        // Not `unpause`: it asserts, and a panic while unwinding would abort.
        if let Some(pid) = self.0.process.pid() {
            let _ = Command::new("kill").arg("-CONT").arg(pid.to_string()).status();
        }
    }
}

/// Two daemons of a pair on a 2 s lease witnessed at the BIND parent, each reaching
/// its peer through a proxy (`link_ab` carries A's calls to B), the leader first.
struct Pair {
    leader: Daemon,
    standby: Daemon,
    /// A's, then B's state file path: the audit log lies beside it.
    states: [PathBuf; 2],
    a_is_leader: bool,
    link_ab: Proxy,
    link_ba: Proxy,
}

/// Starts the pair with `configure(daemon index, agent block)` giving each daemon's
/// configuration, and waits until exactly one leads.
async fn pair(world: &World, configure: impl Fn(usize, &str) -> String) -> Pair {
    let (addr_a, addr_b) = (listen(), listen());
    let link_ab = Proxy::start(addr_b.parse().unwrap());
    let link_ba = Proxy::start(addr_a.parse().unwrap());
    let states = [world.dir.path().join("a.json"), world.dir.path().join("b.json")];
    let a = start(
        world,
        "a",
        &configure(
            0,
            &agent("steer-a", &addr_a, &states[0], &[link_ab.url()], Some("parent")),
        ),
        &addr_a,
    );
    let b = start(
        world,
        "b",
        &configure(
            1,
            &agent("steer-b", &addr_b, &states[1], &[link_ba.url()], Some("parent")),
        ),
        &addr_b,
    );
    let a_is_leader = eventually("one leader", LIMIT, || async {
        match (role(&a).await?.as_str(), role(&b).await?.as_str()) {
            ("leader", "standby") => Some(true),
            ("standby", "leader") => Some(false),
            _ => None,
        }
    })
    .await;
    let (leader, standby) = if a_is_leader { (a, b) } else { (b, a) };
    Pair {
        leader,
        standby,
        states,
        a_is_leader,
        link_ab,
        link_ba,
    }
}

/// d. SIGKILL of the leader, then the endpoint fails: the standby takes over and fails
/// over within the lone daemon's time plus the takeover time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_delays_failover_by_the_takeover_only() {
    let world = World::start().await;
    let mut pair = pair(&world, |_, agent| world.config(agent, HEALTH, "")).await;
    wait_healthy(&pair.standby, &["check:web-us", "check:web-eu"]).await;

    let killed = Instant::now();
    pair.leader.kill();
    world.us.set_up(false);
    let standby = &pair.standby;
    let takeover = eventually("the standby leads", LIMIT, || async {
        (role(standby).await.as_deref() == Some("leader")).then(|| killed.elapsed())
    })
    .await;
    let failover = eventually("failover at both providers", FAILOVER_WAIT, || async {
        (world.www(&world.pdns_a) == [EU] && world.www(&world.pdns_b) == [EU]).then(|| killed.elapsed())
    })
    .await;
    eprintln!(
        "FIGURE SIGKILL of the leader then the endpoint died: takeover {takeover:?}, failover {failover:?} (lone daemon budget {:?})",
        DETECTION + WRITE
    );
    assert!(
        failover <= DETECTION + WRITE + takeover,
        "within the lone-daemon time plus the takeover: {failover:?}"
    );
    let status = standby.status().await;
    assert!(
        status["vantage"]
            .as_array()
            .is_none_or(|v| v.iter().all(|p| p["fresh"] == false)),
        "the dead peer no longer counts: {status}"
    );
}

/// The value sequence of one record, polled; `changes` counts value changes.
#[derive(Default)]
struct Watched {
    last: Option<Vec<String>>,
    changes: usize,
}

impl Watched {
    fn see(&mut self, now: Vec<String>) {
        if now.is_empty() {
            return; // an unanswered poll is not a change
        }
        if self.last.as_ref().is_some_and(|l| *l != now) {
            self.changes += 1;
        }
        self.last = Some(now);
    }
}

/// e. The pair partitioned (peer links reset both ways) while the two daemons' views of
/// us-east disagree, the standby seeing it fail: for 20 s one daemon at most writes and
/// each record changes at most once; healed, one leader within lease + 2 s, and only it
/// writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_pair_never_has_two_writers_when_the_standby_sees_a_failure() {
    partitioned_pair(Side::Standby).await;
}

/// e. The same with the leader seeing us-east fail: it may fail over (once), alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_pair_never_has_two_writers_when_the_leader_sees_a_failure() {
    partitioned_pair(Side::Leader).await;
}

/// Which daemon's view of us-east fails during the partition.
#[derive(Clone, Copy, Debug)]
enum Side {
    Leader,
    Standby,
}

async fn partitioned_pair(failing_view: Side) {
    let world = World::start().await;
    // Each daemon reaches each PowerDNS API and the us-east endpoint through its own
    // proxy: writes are attributed, and one daemon's view can be failed alone.
    let apis: Vec<[Proxy; 2]> = (0..2)
        .map(|_| {
            [&world.pdns_a, &world.pdns_b]
                .map(|p| Proxy::start(p.api_url.trim_start_matches("http://").parse().unwrap()))
        })
        .collect();
    let probes: Vec<Proxy> = (0..2).map(|_| Proxy::start(world.us.addr)).collect();
    let pair = pair(&world, |i, agent| {
        world
            .config(agent, HEALTH, "")
            .replacen(&world.pdns_a.api_url, &apis[i][0].url(), 1)
            .replacen(&world.pdns_b.api_url, &apis[i][1].url(), 1)
            .replacen(&world.us.url(), &format!("{}/healthz", probes[i].url()), 1)
    })
    .await;
    let (leader, standby) = if pair.a_is_leader { (0, 1) } else { (1, 0) };
    let writes = |i: usize| apis[i].iter().map(Proxy::writes).sum::<usize>();
    wait_healthy(&pair.leader, &["check:web-us", "check:web-eu"]).await;
    wait_healthy(&pair.standby, &["check:web-us", "check:web-eu"]).await;

    // The cut: both peer links reset, and one daemon's view of us-east fails.
    let (failing, failing_daemon, seeing_daemon) = match failing_view {
        Side::Leader => (leader, &pair.leader, &pair.standby),
        Side::Standby => (standby, &pair.standby, &pair.leader),
    };
    let before = [writes(0), writes(1)];
    pair.link_ab.reset();
    pair.link_ba.reset();
    probes[failing].reset();
    let mut records: BTreeMap<&str, Watched> = BTreeMap::new();
    // Both claiming to lead is reported, not failed: the contract is about writes.
    let (mut two_leaders, mut polls) = (0, 0);
    let cut = Instant::now();
    while cut.elapsed() < Duration::from_secs(20) {
        records.entry("www@pdns-a").or_default().see(world.www(&world.pdns_a));
        records.entry("www@pdns-b").or_default().see(world.www(&world.pdns_b));
        records.entry("delegation").or_default().see(world.delegation());
        let roles = [role(&pair.leader).await, role(&pair.standby).await];
        two_leaders += usize::from(roles.iter().all(|r| r.as_deref() == Some("leader")));
        polls += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during = [writes(0) - before[0], writes(1) - before[1]];
    let changes: BTreeMap<_, _> = records.iter().map(|(k, w)| (*k, w.changes)).collect();
    eprintln!(
        "FIGURE partition for 20 s, the {failing_view:?}'s view failing: writes by the leader {}, by the standby {}; value changes per record {changes:?}",
        during[leader], during[standby]
    );
    eprintln!("both daemons said `leader` in {two_leaders} of {polls} polls");
    // The views did disagree: each daemon's own measurement of us-east.
    let measured = |status: serde_json::Value| {
        status["targets"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == "check:web-us"))
            .map(|t| t["measured_state"].clone())
    };
    assert_eq!(measured(failing_daemon.status().await), Some(json!("unhealthy")));
    assert_eq!(measured(seeing_daemon.status().await), Some(json!("healthy")));
    assert!(
        during[0] == 0 || during[1] == 0,
        "only one daemon writes: leader {}, standby {}",
        during[leader],
        during[standby]
    );
    assert!(
        changes.values().all(|c| *c <= 1),
        "each record changes at most once: {changes:?}"
    );

    // Healed: one leader within lease + 2 s.
    let before = [writes(0), writes(1)];
    let healed_at = chrono::Utc::now();
    pair.link_ab.pass();
    pair.link_ba.pass();
    probes[failing].pass();
    let healed = Instant::now();
    let (a, b) = if pair.a_is_leader {
        (&pair.leader, &pair.standby)
    } else {
        (&pair.standby, &pair.leader)
    };
    let new_leader = eventually(
        "exactly one leader after the heal",
        LEASE + Duration::from_secs(2),
        || async {
            match (role(a).await?.as_str(), role(b).await?.as_str()) {
                ("leader", "standby") => Some(0),
                ("standby", "leader") => Some(1),
                _ => None,
            }
        },
    )
    .await;
    eprintln!("FIGURE one leader {:?} after the heal", healed.elapsed());

    // Only it writes: whatever the partition left is repaired to us-east (both views
    // agree again), then the region fails and the failover comes from the leader alone.
    eventually("us-east at both providers after the heal", LIMIT, || async {
        (world.www(&world.pdns_a) == [US] && world.www(&world.pdns_b) == [US]).then_some(())
    })
    .await;
    world.us.set_up(false);
    eventually("failover after the heal", LIMIT, || async {
        (world.www(&world.pdns_a) == [EU] && world.www(&world.pdns_b) == [EU]).then_some(())
    })
    .await;
    let after = [writes(0) - before[0], writes(1) - before[1]];
    eprintln!(
        "FIGURE after the heal: writes by the leader (steer-{}) {}, by the other {}",
        ["a", "b"][new_leader],
        after[new_leader],
        after[1 - new_leader]
    );
    assert!(after[new_leader] > 0, "the leader wrote the failover");
    assert_eq!(after[1 - new_leader], 0, "only the leader writes");
    let audited: Vec<_> = audit(&pair.states[1 - new_leader])
        .into_iter()
        .filter(|l| {
            l["at"]
                .as_str()
                .and_then(|at| at.parse::<chrono::DateTime<chrono::Utc>>().ok())
                .is_some_and(|at| at >= healed_at)
        })
        .collect();
    assert!(
        audited.is_empty(),
        "the other daemon audited no write after the heal: {audited:?}"
    );
}

/// f. A pair delegating at a registrar (Route 53 Domains on moto) moves the delegation
/// when a provider fails. moto takes one UpdateDomainNameservers per domain, ever, so the
/// providers are named by moto's default name servers (two each): in sync at the start,
/// and the one update allowed is the failover's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_moves_the_delegation_at_a_registrar() {
    const ZONE: &str = "dnsteer-example.com.";
    let moto = tokio::task::spawn_blocking(|| {
        let moto = Moto::start();
        moto.register_domain(ZONE.trim_end_matches('.'));
        moto
    })
    .await
    .unwrap();
    let registrar_ns = || -> Vec<String> {
        let detail = moto
            .domains("GetDomainDetail", &json!({"DomainName": ZONE.trim_end_matches('.')}))
            .unwrap();
        let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
        let mut ns: Vec<String> = detail["Nameservers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| format!("{}.", n["Name"].as_str().unwrap().trim_end_matches('.')))
            .collect();
        ns.sort();
        ns
    };
    let start_ns = tokio::task::block_in_place(registrar_ns);
    assert_eq!(start_ns.len(), 4, "moto's default delegation: {start_ns:?}");
    let (ns_a, ns_b) = (&start_ns[..2], &start_ns[2..]);
    let mut pdns = [PowerDns::start(), PowerDns::start()];
    for p in &pdns {
        p.create_zone(
            ZONE,
            &[],
            json!([
                {"name": ZONE, "type": "NS", "ttl": 300, "records": start_ns.iter().map(|n| json!({"content": n, "disabled": false})).collect::<Vec<_>>()},
                {"name": format!("www.{ZONE}"), "type": "A", "ttl": 30, "records": [{"content": US, "disabled": false}]}
            ]),
        );
    }
    let endpoint_us = support::endpoint::Endpoint::start("127.0.0.2").await;
    let endpoint_eu = support::endpoint::Endpoint::start("127.0.0.3").await;
    let dir = tempfile::tempdir().unwrap();
    let config = |id: &str, listen: &str, peer: &str| {
        let list = |ns: &[String]| ns.join(", ");
        // No witness: neither PowerDNS nor the registrar has compare-and-set (`check`
        // warns), and the link between the two is never cut here.
        let state = dir.path().join(format!("{id}.json"));
        let agent = agent(id, listen, &state, &[format!("http://{peer}")], None);
        format!(
            r#"
agent: {agent}
defaults: {HEALTH}
providers:
  pdns-a: {{ kind: powerdns, url: "{a}", api_key: {{ env: PDNS_KEY }}, nameservers: [ {ns_a} ], probe: [ "{a_dns}" ] }}
  pdns-b: {{ kind: powerdns, url: "{b}", api_key: {{ env: PDNS_KEY }}, nameservers: [ {ns_b} ], probe: [ "{b_dns}" ] }}
  registrar:
    kind: route53domains
    access_key_id: {{ env: AWS_ACCESS_KEY_ID }}
    secret_access_key: {{ env: AWS_SECRET_ACCESS_KEY }}
    endpoint: "{moto}"
zones:
  - name: {ZONE}
    providers: [ pdns-a, pdns-b ]
    delegation: {{ provider: registrar, min_providers: 1, ttl: 300 }}
    records:
{records}checks:
  web-us: {{ kind: http, url: "{us}" }}
  web-eu: {{ kind: http, url: "{eu}" }}
"#,
            a = pdns[0].api_url,
            b = pdns[1].api_url,
            ns_a = list(ns_a),
            ns_b = list(ns_b),
            a_dns = pdns[0].dns,
            b_dns = pdns[1].dns,
            moto = moto.url,
            records = failover_records(&["www".to_string()], 30),
            us = endpoint_us.url(),
            eu = endpoint_eu.url(),
        )
    };
    let (addr_a, addr_b) = (listen(), listen());
    let env = vec![
        ("PDNS_KEY", support::pdns::API_KEY.to_string()),
        ("AWS_ACCESS_KEY_ID", moto.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", moto.secret_access_key.clone()),
        ("DNSTEER_API_TOKEN", TOKEN.to_string()),
    ];
    let daemons: Vec<Daemon> = [("steer-a", &addr_a, &addr_b), ("steer-b", &addr_b, &addr_a)]
        .iter()
        .map(|(id, me, peer)| {
            let path = dir.path().join(format!("{id}.yaml"));
            std::fs::write(&path, config(id, me, peer)).unwrap();
            Daemon::start(&path, me, &env, dir.path().join(format!("{id}.log")))
        })
        .collect();
    eventually("one leader", LIMIT, || async {
        let roles = [role(&daemons[0]).await?, role(&daemons[1]).await?];
        (roles.iter().filter(|r| *r == "leader").count() == 1).then_some(())
    })
    .await;
    for d in &daemons {
        wait_healthy(d, &["provider:pdns-a", "provider:pdns-b"]).await;
    }
    assert_eq!(
        tokio::task::block_in_place(registrar_ns),
        start_ns,
        "in sync: nothing to move yet"
    );

    let killed = Instant::now();
    pdns[1].stop();
    eventually("the registrar delegates to pdns-a alone", LIMIT, || async {
        (tokio::task::block_in_place(registrar_ns) == ns_a).then_some(())
    })
    .await;
    eprintln!(
        "FIGURE registrar delegation moved by a pair after a provider died: {:?}",
        killed.elapsed()
    );
    let apex = support::bind::dig(pdns[0].dns, ZONE, "NS");
    assert_eq!(apex, ns_a, "the apex NS set follows the delegation");
}
