//! `dnsteer explain`: each rule it can name, on the real world (two PowerDNS, a BIND
//! parent, endpoints), with health assumed, measured, or taken from a daemon's status.

mod support;

use std::sync::Arc;

use serde_json::json;
use support::http_fake::{FakeServer, Response};
use support::world::{code, show, World, QUICK};

async fn explain(world: &World, args: &[&str]) -> String {
    let config = world.write_config("dnsteer.yaml", &world.config("{ id: e2e }", QUICK, ""));
    let mut all = vec!["explain"];
    all.extend_from_slice(args);
    let out = world.dnsteer(&config, &all).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_the_rule_that_holds_a_record() {
    let world = World::start().await;
    let up = ["--assume", "check:web-us=up", "--assume", "check:web-eu=up"];
    let text = explain(&world, &[&["www", "A"][..], &up[..]].concat()).await;
    assert!(
        text.contains("rule: in place: us-east is the most preferred pool that is healthy"),
        "{text}"
    );
    assert!(text.contains("at pdns-a: 192.0.2.10 (ttl 30) (stays)"), "{text}");

    let us_down = ["--assume", "check:web-us=down", "--assume", "check:web-eu=up"];
    let text = explain(&world, &[&["www.example.test.", "A"][..], &us_down[..]].concat()).await;
    assert!(text.contains("rule: moves:"), "{text}");
    assert!(
        text.contains("at pdns-a: 192.0.2.10 (ttl 30) → update to 198.51.100.10"),
        "{text}"
    );
    assert!(
        text.contains("at pdns-b: 192.0.2.10 (ttl 30) → update to 198.51.100.10"),
        "{text}"
    );
    assert!(
        text.contains("back to us-east: check:web-us back to healthy after 2 consecutive"),
        "{text}"
    );
    assert!(text.contains("(rise)") && text.contains("(hold)"), "{text}");

    let all_down = ["--assume", "check:web-us=down", "--assume", "check:web-eu=down"];
    let text = explain(&world, &[&["www"][..], &all_down[..]].concat()).await;
    assert!(text.contains("rule: fail-open: every pool is unhealthy"), "{text}");

    // A daemon that has not decided web-eu yet: nothing moves off or onto it.
    let fake = FakeServer::start(Arc::new(|_| {
        Response::json(
            200,
            &json!({"targets": [
                {"name": "check:web-us", "state": "unhealthy", "last_error": "connect refused"},
                {"name": "check:web-eu", "state": "unknown"},
                {"name": "provider:pdns-a", "state": "healthy"},
                {"name": "provider:pdns-b", "state": "healthy"},
            ]}),
        )
    }));
    let text = explain(&world, &["www", "A", "--from", &fake.url()]).await;
    assert!(text.contains("rule: unknown: check:web-eu not decided yet"), "{text}");
    assert!(
        text.contains("check:web-us: unhealthy (from the daemon; last error: connect refused)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_a_held_zone_and_its_checksum() {
    let world = World::start().await;
    let zone2 = world.held_zone();
    let text = world
        .config("{ id: e2e }", QUICK, "")
        .replacen("\nchecks:\n", &format!("\n{zone2}checks:\n"), 1);
    let config = world.write_config("held.yaml", &text);
    let out = world
        .dnsteer(
            &config,
            &[
                "explain",
                "o01.other.test.",
                "A",
                "--assume",
                "check:web-us=up",
                "--assume",
                "check:web-eu=up",
            ],
        )
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        text.contains("rule: held: ") && text.contains("max_change_ratio"),
        "{text}"
    );
    assert!(text.contains("POST /v1/approve {\"checksum\": \""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_a_target_says_what_it_steers_and_what_would_move_it() {
    let world = World::start().await;
    let text = explain(&world, &["check:web-us", "--assume", "check:web-us=down"]).await;
    assert!(
        text.contains("check:web-us: unhealthy (assumed with --assume)"),
        "{text}"
    );
    assert!(
        text.contains("rule: back to healthy after 2 consecutive evaluations"),
        "{text}"
    );
    assert!(
        text.contains("steers: www A in example.test. (pool us-east, preference 1)"),
        "{text}"
    );

    let text = explain(&world, &["provider:pdns-a", "--assume", "provider:pdns-a=down"]).await;
    assert!(text.contains("never fewer than 1 (min_providers)"), "{text}");
    assert!(text.contains("pdns-a out of the delegation"), "{text}");

    let config = world.write_config("dnsteer.yaml", &world.config("{ id: e2e }", QUICK, ""));
    let out = world
        .dnsteer(&config, &["explain", "nope", "A", "--assume", "check:web-us=up"])
        .await;
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no steered record nope A"),
        "{}",
        show(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_the_flap_budget_a_daemon_holds_a_record_by() {
    let world = World::start().await;
    // A dry run keeps no flip history: it says the budget and where the flips are counted.
    let up = ["--assume", "check:web-us=up", "--assume", "check:web-eu=up"];
    let text = explain(&world, &[&["www", "A"][..], &up[..]].concat()).await;
    assert!(
        text.contains("flap budget: at most 6 changes of this record within 1h (defaults.flap_budget)"),
        "{text}"
    );
    assert!(text.contains("add --from to see its holds"), "{text}");

    // The daemon holds www A past its budget: explain names the rule and the checksum.
    let reason =
        "www.example.test. A already flipped 6 times within 1h: one more is over its flap_budget (6 changes within 1h)";
    let fake = FakeServer::start(Arc::new(move |_| {
        Response::json(
            200,
            &json!({"targets": [
                {"name": "check:web-us", "state": "unhealthy", "last_error": "connect refused"},
                {"name": "check:web-eu", "state": "healthy"},
                {"name": "provider:pdns-a", "state": "healthy"},
                {"name": "provider:pdns-b", "state": "healthy"},
            ], "held": [{"zone": "example.test.", "reason": reason, "checksum": "f1a9"}]}),
        )
    }));
    let text = explain(&world, &["www", "A", "--from", &fake.url()]).await;
    assert!(
        text.contains("rule: flap budget: the daemon holds this record: www.example.test. A already flipped 6 times"),
        "{text}"
    );
    assert!(text.contains("POST /v1/approve {\"checksum\": \"f1a9\"}"), "{text}");
    assert!(!text.contains("add --from"), "{text}");
}
