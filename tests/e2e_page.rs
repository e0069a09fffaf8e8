//! The status page in a real browser: headless Chromium through chromedriver, against a
//! real daemon, two PowerDNS, a BIND parent and HTTP endpoints. The page loads with no
//! console error, shows a failing target as unhealthy within one refresh, shows the
//! record's new answer at both providers and a held plan with its checksum, and
//! carries no secret. With `DNSTEER_SCREENSHOTS=DIR` it writes
//! `DIR/status-healthy.png` and `DIR/status-failing.png` (docs/ holds the last ones).

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::daemon::{eventually, Daemon};
use support::pdns::API_KEY;
use support::webdriver::Browser;
use support::world::{World, EU, US};

const TOKEN: &str = "tok-page-secret-7731";
const HEALTH: &str = "{ interval: 500ms, timeout: 400ms, health: { window: 4, fail_ratio: 0.5, recover_ratio: 0.25, fall: 2, rise: 2, hold: 1s } }";
const LIMIT: Duration = Duration::from_secs(30);
/// The page's refresh period, and the slack a browser round trip may take past it.
const REFRESH: Duration = Duration::from_secs(2);
const SLACK: Duration = Duration::from_millis(1500);

/// The text of the targets table's row for `target`.
const TARGET_ROW: &str = "return Array.from(document.querySelectorAll('#live tr')).filter(r => { const h = r.querySelector('th'); return h && h.textContent === arguments_target; }).map(r => r.textContent).join('') || null;";
/// The text of the steered record's row for `name`.
const RECORD_ROW: &str = "return Array.from(document.querySelectorAll('#live tr')).filter(r => { const h = r.querySelector('th'); return h && h.textContent.startsWith(arguments_name + ' '); }).map(r => Array.from(r.querySelectorAll('td')).map(c => c.textContent)).shift() || null;";

fn row_script(template: &str, var: &str, value: &str) -> String {
    template.replace(var, &serde_json::to_string(value).unwrap())
}

/// Saves a screenshot where `DNSTEER_SCREENSHOTS` says, relative to the repository.
fn keep_screenshot(png: &[u8], name: &str) {
    let Ok(dir) = std::env::var("DNSTEER_SCREENSHOTS") else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
    eprintln!("screenshot {} ({} bytes)", dir.join(name).display(), png.len());
}

/// Nothing secret on the page nor in its fragment: the world's keys, the API token, a
/// URL with credentials in it.
async fn no_secret(world: &World, d: &Daemon) {
    for path in ["/", "/?fragment=1"] {
        let (code, page) = d.get(path).await;
        assert_eq!(code, 200);
        for secret in [API_KEY, world.parent.secret_b64.as_str(), TOKEN] {
            assert!(!page.contains(secret), "a secret on {path}");
        }
        for (at, _) in page.match_indices("://") {
            let authority = page[at + 3..].split(['/', ' ', '<', '"']).next().unwrap_or("");
            assert!(
                !authority.contains('@'),
                "a URL with credentials on {path}: {authority}"
            );
        }
    }
}

fn no_console_errors(logs: &[(String, String)]) {
    let errors: Vec<_> = logs.iter().filter(|(level, _)| level == "SEVERE").collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// A lone daemon `id` on the world, with `zones` (YAML) after its zone and `key` as
/// the PowerDNS API key it is given.
fn start(world: &World, id: &str, zones: &str, key: &str) -> Daemon {
    let listen = format!("127.0.0.1:{}", support::free_port());
    let state = world.dir.path().join(format!("{id}.json"));
    let agent = format!(
        "{{ id: {id}, listen: \"{listen}\", state_file: \"{}\", api_token: {{ env: DNSTEER_API_TOKEN }}, peers: [] }}",
        state.display()
    );
    let config = world
        .config(&agent, HEALTH, "")
        .replacen("\nchecks:\n", &format!("\n{zones}checks:\n"), 1);
    let path = world.write_config(&format!("{id}.yaml"), &config);
    let mut env = world.env();
    env.retain(|(k, _)| *k != "PDNS_KEY");
    env.push(("PDNS_KEY", key.to_string()));
    env.push(("DNSTEER_API_TOKEN", TOKEN.to_string()));
    Daemon::start(&path, &listen, &env, world.dir.path().join(format!("{id}.log")))
}

/// The configuration file `start` wrote for `id`.
fn config_of(world: &World, id: &str) -> std::path::PathBuf {
    world.dir.path().join(format!("{id}.yaml"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_a_failover_as_it_happens() {
    let browser = Browser::start().await;
    let world = World::start().await;
    let zone2 = world.held_zone();
    let d = start(&world, "steer-a", &zone2, API_KEY);

    let us_row = row_script(TARGET_ROW, "arguments_target", "check:web-us");
    let www_row = row_script(RECORD_ROW, "arguments_name", "www.example.test.");
    browser.goto(&format!("{}/", d.url)).await;
    let title = browser.eval("return document.title").await;
    assert_eq!(title, "dnsteer steer-a");
    // Healthy, in sync, and the held zone on the page with the checksum of /v1/status.
    eventually("web-us healthy on the page", LIMIT, || async {
        let row = browser.eval(&us_row).await;
        row.as_str()
            .is_some_and(|r| r.contains("healthy") && !r.contains("unhealthy"))
            .then_some(())
    })
    .await;
    let held = eventually("other.test. held in /v1/status", LIMIT, || async {
        let status = d.status().await;
        let held = status["held"]
            .as_array()?
            .iter()
            .find(|h| h["zone"] == "other.test.")?
            .clone();
        held["checksum"].as_str().map(str::to_string)
    })
    .await;
    eventually("the held plan on the page with its checksum", LIMIT, || async {
        let text = browser
            .eval("return Array.from(document.querySelectorAll('tr.held')).map(r => r.textContent).join('\\n')")
            .await;
        text.as_str()
            .is_some_and(|t| t.contains("other.test.") && t.contains(&held))
            .then_some(())
    })
    .await;
    eventually("www answered from us-east at both providers", LIMIT, || async {
        let cells = browser.eval(&www_row).await;
        let cells: Vec<String> = serde_json::from_value(cells).ok()?;
        (cells.len() >= 3 && cells[1].contains(US) && cells[2].contains(US)).then_some(())
    })
    .await;
    no_console_errors(&browser.console().await);
    keep_screenshot(&browser.screenshot().await, "status-healthy.png");

    let (code, page) = d.get("/").await;
    assert_eq!(code, 200);
    no_secret(&world, &d).await;
    eprintln!("FIGURE status page weight: {} bytes", page.len());

    // us-east fails: the page says unhealthy within one refresh of the daemon knowing.
    world.us.set_up(false);
    eventually("the daemon decides web-us unhealthy", LIMIT, || async {
        (d.target_state("check:web-us").await == "unhealthy").then_some(())
    })
    .await;
    let known = Instant::now();
    eventually("web-us unhealthy on the page", REFRESH + SLACK, || async {
        let row = browser.eval(&us_row).await;
        row.as_str().is_some_and(|r| r.contains("unhealthy")).then_some(())
    })
    .await;
    eprintln!(
        "FIGURE page shows unhealthy {:?} after the daemon decided it",
        known.elapsed()
    );
    eventually(
        "www answered from eu-west at both providers, on the page",
        LIMIT,
        || async {
            let cells = browser.eval(&www_row).await;
            let cells: Vec<String> = serde_json::from_value(cells).ok()?;
            let followed = |c: &str| c.contains("written") && c.contains("resolvers");
            let moved = cells[1].contains(EU) && cells[2].contains(EU) && cells[1].contains("pool eu-west");
            (moved && followed(&cells[1]) && followed(&cells[2])).then_some(())
        },
    )
    .await;
    // The same page, never reloaded: the refresh replaced only the live part.
    assert_eq!(
        browser
            .eval("return performance.getEntriesByType('navigation').length")
            .await,
        1
    );
    no_console_errors(&browser.console().await);
    no_secret(&world, &d).await;
    keep_screenshot(&browser.screenshot().await, "status-failing.png");
}

/// A wrong PowerDNS key is a read error, with its reason and since when, on
/// `/v1/status`, the page and `dnsteer status`; and the daemon is not ready, since no
/// provider of the zone can be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_shows_as_a_read_error_and_the_daemon_is_not_ready() {
    let world = World::start().await;
    let d = start(&world, "steer-k", "", "not-the-key");
    let path = config_of(&world, "steer-k");
    let errors = eventually("both providers' read errors in /v1/status", LIMIT, || async {
        let status = d.status().await;
        let errors = status["providers"]["read_errors"].as_object()?.clone();
        (errors.contains_key("pdns-a") && errors.contains_key("pdns-b")).then_some(errors)
    })
    .await;
    for e in errors.values() {
        assert!(
            e["since"].is_string() && e["error"].as_str().is_some_and(|r| !r.is_empty()),
            "{e}"
        );
    }
    eventually("readyz says why it is not ready", LIMIT, || async {
        let (code, body) = d.get("/readyz").await;
        (code == 503 && body.trim() == "no provider of example.test. can be read").then_some(())
    })
    .await;
    assert_eq!(
        d.status().await["not_ready"],
        "no provider of example.test. can be read"
    );
    let (_, page) = d.get("/").await;
    assert!(page.contains("read failing"), "the page shows the read errors");
    assert!(!page.contains("not-the-key"));
    let out = world.dnsteer(&path, &["status", "--url", &d.url]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pdns-a: read failing since") && text.contains("NOT READY"),
        "{text}"
    );
}

/// While paused, an override's move waits: `/v1/status`, the page and `status` show
/// the override with its expiry and the changes waiting with their plan's checksum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_and_the_changes_waiting_while_paused_are_visible() {
    let world = World::start().await;
    let d = start(&world, "steer-p", "", API_KEY);
    let path = config_of(&world, "steer-p");
    eventually("ready", LIMIT, || async {
        (d.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(d.post("/v1/pause", Some(TOKEN), json!({})).await.0, 200);
    let body = json!({"target": "check:web-us", "state": "down", "for": "10m"});
    assert_eq!(d.post("/v1/override", Some(TOKEN), body).await.0, 200);
    let status = eventually("the failover waiting while paused", LIMIT, || async {
        let status = d.status().await;
        (status["pending"]["changes"].as_u64()? >= 1).then_some(status)
    })
    .await;
    assert_eq!(
        status["pending"]["checksum"], status["last_plan"]["checksum"],
        "{status}"
    );
    let o = &status["overrides"][0];
    assert_eq!(
        (o["target"].as_str(), o["state"].as_str()),
        (Some("check:web-us"), Some("unhealthy"))
    );
    assert!(o["until"].is_string(), "{status}");
    let checksum = status["pending"]["checksum"].as_str().unwrap().to_string();
    let (_, page) = d.get("/").await;
    assert!(page.contains("PAUSED") && page.contains("changes waiting") && page.contains(&checksum));
    assert!(page.contains("override until"));
    let out = world.dnsteer(&path, &["status", "--url", &d.url]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("writes PAUSED") && text.contains(&format!("plan {checksum}")),
        "{text}"
    );
    assert!(text.contains("[override until"), "{text}");
    assert_eq!(world.www(&world.pdns_a), [US], "nothing written while paused");
}
