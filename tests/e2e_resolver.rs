//! End to end through a real recursive resolver: unbound on loopback iterates from the
//! BIND parent `test.`, follows its delegation to the two PowerDNS providers (each on
//! port 53 of a loopback address of its own, found through glue at the parent, as on
//! the Internet) and caches what they answer. After a failover, it must answer the new
//! value no later than the write plus the plan's `stale_for_s` (and a second of slack).

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use support::bind::Bind;
use support::pdns::PowerDns;
use support::unbound::Unbound;
use support::world::{code, show, World, EU, NS_A, NS_B, QUICK, US};

/// What the resolver answers for `name` (asked recursively, as a stub resolver does).
fn resolve(resolver: SocketAddr, name: &str) -> Vec<String> {
    let out = Command::new("dig")
        .args(["+short", "+time=2", "+tries=1", "-p", &resolver.port().to_string()])
        .arg(format!("@{}", resolver.ip()))
        .args([name, "A"])
        .output()
        .expect("run dig");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_answers_the_new_value_within_the_write_plus_stale_for_s() {
    // A /24 of loopback of this test's own, so parallel runs do not meet.
    let net = rand::random_range(1..=254u8);
    let ip = |host: u8| IpAddr::V4(Ipv4Addr::new(127, 53, net, host));
    if UdpSocket::bind((ip(1), 53)).is_err() {
        eprintln!("skipped: binding port 53 needs root (resolvers only ask nameservers there)");
        return;
    }
    let pdns_a = PowerDns::start_at(SocketAddr::new(ip(1), 53));
    let pdns_b = PowerDns::start_at(SocketAddr::new(ip(2), 53));
    // The parent may be anywhere: the resolver is pointed at it (a stub for `test.`).
    let parent = Bind::start("test.");
    let world = World::start_with(pdns_a, pdns_b, parent).await;
    // Glue: where the parent says the providers' nameservers are.
    world.parent.nsupdate(&format!(
        "update add {NS_A} 300 A {}\nupdate add {NS_B} 300 A {}",
        ip(1),
        ip(2)
    ));
    let resolver = Unbound::start(
        SocketAddr::from(([127, 0, 0, 1], support::free_port())),
        "test.",
        world.parent.addr,
    );

    // www with a TTL of 5 s, written first so every provider serves it.
    let config = world
        .config("{ id: e2e }", QUICK, "")
        .replacen("        ttl: 30\n", "        ttl: 5\n", 1);
    let path = world.write_config("dnsteer.yaml", &config);
    let out = world.dnsteer(&path, &["apply", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    // The resolver follows the delegation and caches us-east for 5 s.
    let debug = |addr: SocketAddr| {
        let out = Command::new("dig")
            .args(["+time=2", "+tries=1", "-p", &addr.port().to_string()])
            .arg(format!("@{}", addr.ip()))
            .args(["www.example.test.", "A"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(
        resolve(resolver.addr, "www.example.test."),
        [US],
        "{}\n{}\n{}\n{}",
        resolver.log(),
        debug(resolver.addr),
        debug(world.parent.addr),
        debug(world.pdns_a.dns)
    );

    world.us.set_up(false);
    let failed = Instant::now();
    let out = world.dnsteer(&path, &["apply", "--yes", "--format", "json"]).await;
    let written = Instant::now();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stale = plan["summary"]["stale_for_s"]
        .as_u64()
        .expect("stale_for_s in the summary");
    assert_eq!(stale, 5, "the old set's TTL: {plan:#}");
    let promised = written + Duration::from_secs(stale) + Duration::from_secs(1);
    let followed = loop {
        if resolve(resolver.addr, "www.example.test.") == [EU] {
            break Instant::now();
        }
        assert!(
            Instant::now() < promised,
            "the resolver still answers the old value {stale} s + 1 s after the write\n{}",
            resolver.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "FIGURE failure -> unbound answering eu-west: {:.2} s (detection and write {:.2} s, then {:.2} s; stale_for_s {stale})",
        (followed - failed).as_secs_f64(),
        (written - failed).as_secs_f64(),
        (followed - written).as_secs_f64(),
    );
}
