//! End to end: the real `dnsteer` binary planning and applying against two real
//! PowerDNS servers (two providers of `example.test.`), a real BIND holding the parent
//! `test.` (delegation through TSIG-signed RFC 2136), and HTTP endpoints on 127.0.0.2
//! and 127.0.0.3 whose health the test switches. Every outcome is checked by asking the
//! servers themselves with `dig`.

mod support;

use std::path::PathBuf;
use std::process::Output;

use support::bind::dig;
use support::world::{code, show, World as Servers, EU, NS_A, NS_B, QUICK, US};

/// The world with the quick-deciding configuration every test here uses.
struct World {
    servers: Servers,
    config: PathBuf,
}

impl std::ops::Deref for World {
    type Target = Servers;
    fn deref(&self) -> &Servers {
        &self.servers
    }
}

impl std::ops::DerefMut for World {
    fn deref_mut(&mut self) -> &mut Servers {
        &mut self.servers
    }
}

impl World {
    async fn start() -> Self {
        let servers = Servers::start().await;
        let config = servers.write_config("dnsteer.yaml", &servers.config("{ id: e2e }", QUICK, ""));
        Self { servers, config }
    }

    fn config(&self) -> String {
        std::fs::read_to_string(&self.config).unwrap()
    }

    fn config_path(&self) -> PathBuf {
        self.config.clone()
    }

    async fn dnsteer(&self, args: &[&str]) -> Output {
        self.servers.dnsteer(&self.config, args).await
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", show(out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_in_sync_exits_zero_and_lists_no_changes() {
    let w = World::start().await;
    let out = w.dnsteer(&["plan", "--format", "json"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    let plan = json(&out);
    assert_eq!(plan["changes"].as_array().unwrap().len(), 0, "{}", show(&out));
    let healthy: Vec<_> = plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "healthy")
        .collect();
    assert_eq!(healthy.len(), 4, "every target measured healthy: {}", show(&out));
    assert!(w.us.hits() >= 2, "the us endpoint was really probed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_with_a_region_down_shows_the_failover_and_writes_nothing() {
    let w = World::start().await;
    w.us.set_up(false);
    let out = w.dnsteer(&["plan", "--format", "json"]).await;
    assert_eq!(code(&out), 2, "{}", show(&out));
    let plan = json(&out);
    let changes = plan["changes"].as_array().unwrap();
    for provider in ["pdns-a", "pdns-b"] {
        let change = changes
            .iter()
            .find(|c| c["provider"] == provider && c["name"] == "www.example.test.")
            .unwrap_or_else(|| panic!("no www change at {provider}: {}", show(&out)));
        assert_eq!(change["action"], "update");
        assert_eq!(change["before"], serde_json::json!([US]));
        assert_eq!(change["after"], serde_json::json!([EU]));
        assert!(change["reason"].as_str().unwrap().contains("eu-west"), "{change}");
    }
    assert_eq!(changes.len(), 2, "only www changes: {}", show(&out));
    assert_eq!(plan["summary"]["update"], 2);
    assert_eq!(plan["checksum"].as_str().unwrap().len(), 16);
    // A dry run: both providers still answer from us-east.
    assert_eq!(w.www(&w.pdns_a), vec![US]);
    assert_eq!(w.www(&w.pdns_b), vec![US]);
    // The table says the same for people.
    let out = w.dnsteer(&["plan"]).await;
    assert_eq!(code(&out), 2, "{}", show(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("check:web-us") && table.contains("unhealthy"), "{table}");
    assert!(table.contains(&format!("[{US}] -> 30 [{EU}]")), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_moves_both_providers_answers_and_converges() {
    let w = World::start().await;
    w.us.set_up(false);
    let out = w.dnsteer(&["apply", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(w.www(&w.pdns_a), vec![EU]);
    assert_eq!(w.www(&w.pdns_b), vec![EU]);
    assert_eq!(
        dig(w.pdns_a.dns, "mail.example.test.", "A"),
        vec!["192.0.2.25"],
        "unmanaged records stay"
    );
    let again = w.dnsteer(&["plan"]).await;
    assert_eq!(
        code(&again),
        0,
        "the plan after an apply must be empty: {}",
        show(&again)
    );

    // Failback once us-east is healthy again.
    w.us.set_up(true);
    let out = w.dnsteer(&["apply", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(w.www(&w.pdns_a), vec![US]);
    assert_eq!(w.www(&w.pdns_b), vec![US]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_provider_leaves_the_delegation_and_rejoins_in_sync() {
    let mut w = World::start().await;
    assert_eq!(w.delegation(), vec![NS_A, NS_B]);
    w.pdns_b.stop();
    w.us.set_up(false);
    let out = w.dnsteer(&["apply", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(
        w.delegation(),
        vec![NS_A],
        "pdns-b must leave the parent delegation: {}",
        show(&out)
    );
    assert_eq!(
        dig(w.pdns_a.dns, "example.test.", "NS"),
        vec![NS_A],
        "the apex NS follows the delegation"
    );
    assert_eq!(w.www(&w.pdns_a), vec![EU]);

    // pdns-b comes back holding the stale us-east answer: first repaired, still out.
    w.pdns_b.resume();
    assert_eq!(w.www(&w.pdns_b), vec![US]);
    let out = w.dnsteer(&["apply", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(w.www(&w.pdns_b), vec![EU], "drift repaired: {}", show(&out));
    assert_eq!(w.delegation(), vec![NS_A], "not delegated to before it is in sync");

    // In sync now: it rejoins the delegation and both apexes list both providers.
    let out = w.dnsteer(&["apply", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(w.delegation(), vec![NS_A, NS_B], "{}", show(&out));
    assert_eq!(dig(w.pdns_a.dns, "example.test.", "NS"), vec![NS_A, NS_B]);
    assert_eq!(dig(w.pdns_b.dns, "example.test.", "NS"), vec![NS_A, NS_B]);
    let out = w.dnsteer(&["plan"]).await;
    assert_eq!(code(&out), 0, "converged: {}", show(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_pools_down_changes_nothing() {
    let w = World::start().await;
    w.us.set_up(false);
    w.eu.set_up(false);
    let out = w.dnsteer(&["plan"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("fail-open"),
        "{}",
        show(&out)
    );
    let out = w.dnsteer(&["apply", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(w.www(&w.pdns_a), vec![US]);
    assert_eq!(w.www(&w.pdns_b), vec![US]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_without_a_terminal_or_yes_writes_nothing() {
    let w = World::start().await;
    w.us.set_up(false);
    let out = w.dnsteer(&["apply"]).await;
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing written"),
        "{}",
        show(&out)
    );
    assert_eq!(w.www(&w.pdns_a), vec![US]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_insists_on_the_reviewed_checksum_and_honours_assume() {
    let w = World::start().await;
    let out = w
        .dnsteer(&["plan", "--format", "json", "--assume", "check:web-us=down"])
        .await;
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert_eq!(json(&out)["held"], serde_json::json!([]), "a failover is never held");
    let checksum = json(&out)["checksum"].as_str().unwrap().to_string();
    // The reviewed plan was a failover; with us-east up the plan differs: refused.
    let out = w.dnsteer(&["apply", "--yes", "--checksum", &checksum]).await;
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_eq!(w.www(&w.pdns_a), vec![US]);
    let out = w
        .dnsteer(&[
            "apply",
            "--yes",
            "--checksum",
            &checksum,
            "--assume",
            "check:web-us=down",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(w.www(&w.pdns_a), vec![EU]);
    assert_eq!(w.www(&w.pdns_b), vec![EU]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_whose_api_fails_does_not_stop_the_others() {
    let w = World::start().await;
    w.us.set_up(false);
    // pdns-b's DNS still answers (healthy) but its API refuses our key.
    let config = w.config().replacen(
        "api_key: { env: PDNS_KEY }\n    nameservers: [ ns1.provider-b.test. ]",
        "api_key: { env: WRONG_KEY }\n    nameservers: [ ns1.provider-b.test. ]",
        1,
    );
    std::fs::write(w.config_path(), config).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dnsteer"))
        .arg("--config")
        .arg(w.config_path())
        .args(["apply", "--yes"])
        .env("PDNS_KEY", support::pdns::API_KEY)
        .env("WRONG_KEY", "not-the-key")
        .env("TSIG_SECRET", &w.parent.secret_b64)
        .output()
        .await
        .unwrap();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("pdns-b") && stdout.contains("authentication failed"),
        "{}",
        show(&out)
    );
    assert_eq!(w.www(&w.pdns_a), vec![EU], "pdns-a still gets its change");
    assert_eq!(w.www(&w.pdns_b), vec![US]);
    assert!(!stdout.contains("not-the-key") && !String::from_utf8_lossy(&out.stderr).contains("not-the-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_with_json_prints_one_json_document_on_stdout() {
    let w = World::start().await;
    w.us.set_up(false);
    let out = w.dnsteer(&["apply", "--yes", "--format", "json"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    let doc = json(&out);
    let applied = doc["applied"]
        .as_array()
        .unwrap_or_else(|| panic!("no applied reports: {doc}"));
    assert_eq!(applied.len(), 2, "{doc}");
    assert!(applied.iter().all(|r| r["ok"] == true && r["applied"] == 1), "{doc}");
    assert_eq!(doc["summary"]["update"], 2);
    assert_eq!(w.www(&w.pdns_a), vec![EU]);
}

/// Issue 11: a zone that exists on neither PowerDNS. Measured, both providers are
/// unhealthy (their servers do not serve it) and neither can be read; the plan lists
/// both as left out, with why, never says "No changes.", and exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_no_provider_has_is_an_error_not_no_changes() {
    let w = World::start().await;
    let config = w.config().replace("name: example.test.", "name: nozone.test.");
    let path = w.write_config("nozone.yaml", &config);
    let out = w.servers.dnsteer(&path, &["plan"]).await;
    assert_eq!(code(&out), 1, "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("No changes."), "{}", show(&out));
    for provider in ["pdns-a", "pdns-b"] {
        assert!(
            stdout.contains(&format!(
                "nozone.test. @ {provider}: LEFT OUT (unhealthy, zone missing)"
            )),
            "{}",
            show(&out)
        );
    }
    assert!(
        stdout.contains("no provider of the zone could be read"),
        "{}",
        show(&out)
    );

    let out = w.servers.dnsteer(&path, &["plan", "--format", "json"]).await;
    assert_eq!(code(&out), 1, "{}", show(&out));
    let plan = json(&out);
    let left_out = plan["left_out"].as_array().unwrap();
    assert_eq!(left_out.len(), 2, "{plan:#}");
    assert!(left_out.iter().all(|l| l["why"] == "zone_missing"), "{plan:#}");
    assert_eq!(plan["errors"].as_array().unwrap().len(), 1, "{plan:#}");

    // Forced up, they are errors of the plan themselves.
    let out = w
        .servers
        .dnsteer(
            &path,
            &[
                "plan",
                "--assume",
                "provider:pdns-a=up",
                "--assume",
                "provider:pdns-b=up",
            ],
        )
        .await;
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("No changes."),
        "{}",
        show(&out)
    );

    let out = w.servers.dnsteer(&path, &["apply", "--yes"]).await;
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("No changes."),
        "{}",
        show(&out)
    );
}

/// The negative-caching TTL `dig` reads from `addr`'s SOA for `zone`: its minimum,
/// capped by its own TTL (RFC 2308).
fn negative_ttl_served(addr: std::net::SocketAddr, zone: &str) -> u64 {
    let out = std::process::Command::new("dig")
        .args(["+noall", "+answer", "+norecurse", "+time=2", "+tries=1", "-p"])
        .arg(addr.port().to_string())
        .arg(format!("@{}", addr.ip()))
        .args([zone, "SOA"])
        .output()
        .expect("run dig");
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert!(fields.len() >= 11, "no SOA from {addr}: {text}");
    let ttl: u64 = fields[1].parse().unwrap();
    let minimum: u64 = fields[10].parse().unwrap();
    ttl.min(minimum)
}

fn change<'a>(plan: &'a serde_json::Value, provider: &str, name: &str) -> &'a serde_json::Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == provider && c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} change at {provider}: {plan:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_says_how_long_resolvers_may_answer_the_old_data() {
    let w = World::start().await;
    // Distinct negative-caching TTLs: pdns-a by its SOA minimum, pdns-b capped by its
    // SOA's own TTL; and a parent NS TTL of 2 hours, as TLDs have.
    w.pdns_a.replace_rrsets(
        "example.test.",
        serde_json::json!([{"name": "example.test.", "type": "SOA", "ttl": 900, "records": [
            {"content": "ns1.example.test. hostmaster.example.test. 5 10800 3600 604800 45", "disabled": false}]}]),
    );
    w.pdns_b.replace_rrsets(
        "example.test.",
        serde_json::json!([{"name": "example.test.", "type": "SOA", "ttl": 20, "records": [
            {"content": "ns1.example.test. hostmaster.example.test. 5 10800 3600 604800 3600", "disabled": false}]}]),
    );
    w.parent.nsupdate(&format!(
        "update delete example.test. NS\nupdate add example.test. 7200 NS {NS_A}\nupdate add example.test. 7200 NS {NS_B}"
    ));
    assert_eq!(negative_ttl_served(w.pdns_a.dns, "example.test."), 45);
    assert_eq!(negative_ttl_served(w.pdns_b.dns, "example.test."), 20);
    // A record the zones do not hold yet: a create at both providers.
    let config = w.config().replacen(
        "checks:",
        "      - name: api\n        type: A\n        ttl: 30\n        policy: failover\n        pools:\n          - { name: eu-west, priority: 1, values: [ 198.51.100.10 ], check: web-eu }\nchecks:",
        1,
    );
    std::fs::write(w.config_path(), config).unwrap();

    let out = w
        .dnsteer(&[
            "plan",
            "--format",
            "json",
            "--assume",
            "check:web-us=down",
            "--assume",
            "provider:pdns-b=down",
        ])
        .await;
    assert_eq!(code(&out), 2, "{}", show(&out));
    let plan = json(&out);
    // Update: the old set's TTL, as PowerDNS holds it.
    for provider in ["pdns-a", "pdns-b"] {
        let www = change(&plan, provider, "www.example.test.");
        assert_eq!(
            (&www["action"], &www["stale_for_s"]),
            (&"update".into(), &30.into()),
            "{www}"
        );
    }
    // Create: each zone's negative-caching TTL, read from its live SOA.
    let api_a = change(&plan, "pdns-a", "api.example.test.");
    assert_eq!(
        (&api_a["action"], &api_a["stale_for_s"]),
        (&"create".into(), &45.into()),
        "{api_a}"
    );
    let api_b = change(&plan, "pdns-b", "api.example.test.");
    assert_eq!(api_b["stale_for_s"], 20, "{api_b}");
    // Delegation: the parent's NS TTL as BIND serves it, the largest in the summary.
    let delegation = change(&plan, "parent", "example.test.");
    assert_eq!(
        (&delegation["action"], &delegation["type"], &delegation["stale_for_s"]),
        (&"update".into(), &"NS".into(), &7200.into()),
        "{delegation}"
    );
    assert_eq!(plan["summary"]["stale_for_s"], 7200, "{plan:#}");

    // The table says it in words.
    let out = w
        .dnsteer(&[
            "plan",
            "--assume",
            "check:web-us=down",
            "--assume",
            "provider:pdns-b=down",
        ])
        .await;
    let table = String::from_utf8_lossy(&out.stdout);
    for words in [
        "resolvers follow within 30 s (the old set's TTL)",
        "resolvers follow within 45 s (the zone's negative-caching TTL)",
        "resolvers follow within 2 h (the old set's TTL)",
        "delete; resolvers follow within 2 h; checksum",
    ] {
        assert!(table.contains(words), "{words:?} not in:\n{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_delegation_waits_for_the_parents_negative_caching_ttl() {
    let w = World::start().await;
    // The parent does not delegate yet, and caches negative answers for 40 s (its SOA
    // TTL caps the minimum of 90).
    w.parent.nsupdate(
        "update delete example.test. NS\nupdate add test. 40 SOA ns1.test. hostmaster.test. 100 3600 600 86400 90",
    );
    assert!(!w.delegation().contains(&NS_A.to_string()), "{:?}", w.delegation());
    assert_eq!(negative_ttl_served(w.parent.addr, "test."), 40);
    let out = w.dnsteer(&["plan", "--format", "json"]).await;
    assert_eq!(code(&out), 2, "{}", show(&out));
    let plan = json(&out);
    let delegation = change(&plan, "parent", "example.test.");
    assert_eq!(
        (&delegation["action"], &delegation["stale_for_s"]),
        (&"create".into(), &40.into()),
        "{delegation}"
    );
    assert_eq!(plan["summary"]["stale_for_s"], 40, "{plan:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_warns_when_a_live_ttl_breaks_the_failover_budget() {
    let w = World::start().await;
    // Configured TTL 30 s: within a 1 min budget at a 1 s interval.
    let config = w
        .config()
        .replacen("defaults: {", "defaults: { failover_budget: 1m,", 1);
    std::fs::write(w.config_path(), config).unwrap();
    let out = w.dnsteer(&["check"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(!show(&out).contains("failover budget"), "{}", show(&out));
    // pdns-b serves www with TTL 300: resolvers would keep the old answer 5 minutes.
    w.pdns_b.replace_rrsets(
        "example.test.",
        serde_json::json!([{"name": "www.example.test.", "type": "A", "ttl": 300, "records": [
            {"content": US, "disabled": false}]}]),
    );
    let out = w.dnsteer(&["plan"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("failover budget")).collect();
    assert_eq!(warnings.len(), 1, "only pdns-b's copy: {}", show(&out));
    assert!(
        warnings[0].starts_with(
            "warning: zones[0].records[0].ttl: www.example.test. A has TTL 300 s at pdns-b, not the configured 30 s, \
             and can take longer than the failover budget of 1m to fail over there: "
        ) && warnings[0].contains("+ TTL 300 s while resolvers keep the old answer"),
        "{}",
        warnings[0]
    );
}
