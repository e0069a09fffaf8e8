//! The binary with a `kind: ns1` provider, against the in-process NS1 fake (the
//! adapter itself is tested in `providers/tests/provider_ns1.rs`).

mod support;

use serde_json::json;
use support::ns1_fake::{FakeNs1, KEY, READ_ONLY_KEY};

const ZONE: &str = "example.test.";

fn fake_with_zone() -> FakeNs1 {
    let fake = FakeNs1::start("example.test");
    fake.put("keep.example.test", "TXT", 300, json!([["unmanaged"]]));
    fake
}

/// The real binary with a `kind: ns1` provider that lists no nameservers: `check`
/// builds the adapter as `plan` and `apply` do, the nameservers come from the zone's
/// `dns_servers`, and `apply` steers www until a plan is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_plan_and_apply_through_the_binary() {
    let fake = fake_with_zone();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"agent: {{ id: ns1-e2e }}
providers:
  ns1:
    kind: ns1
    api_key: {{ env: TEST_NS1_API_KEY }}
    endpoint: {endpoint}
zones:
  - name: {ZONE}
    providers: [ ns1 ]
    records:
      - name: www
        type: A
        ttl: 60
        policy: failover
        pools:
          - {{ name: us-east, priority: 1, values: [ 192.0.2.10 ], check: web-us }}
          - {{ name: eu-west, priority: 2, values: [ 198.51.100.10 ], check: web-eu }}
checks:
  web-us: {{ kind: http, url: "http://127.0.0.1:9/healthz" }}
  web-eu: {{ kind: http, url: "http://127.0.0.1:9/healthz" }}
"#,
        endpoint = fake.url()
    );
    let path = dir.path().join("dnsteer.yaml");
    std::fs::write(&path, config).unwrap();
    let dnsteer = |args: Vec<String>, key: &'static str| {
        let path = path.clone();
        async move {
            // Its state and audit files go beside the configuration, not into the checkout.
            tokio::process::Command::new(env!("CARGO_BIN_EXE_dnsteer"))
                .current_dir(path.parent().unwrap())
                .arg("--config")
                .arg(&path)
                .args(&args)
                .env("TEST_NS1_API_KEY", key)
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .unwrap()
        }
    };
    let show = |out: &std::process::Output| {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let out = dnsteer(vec!["check".into()], KEY).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Health is assumed, so nothing is resolved and nothing leaves the machine.
    let assume = |us: &str| -> Vec<String> {
        [("provider:ns1", "up"), ("check:web-us", us), ("check:web-eu", "up")]
            .iter()
            .flat_map(|(t, s)| ["--assume".to_string(), format!("{t}={s}")])
            .collect()
    };
    let with =
        |head: &[&str], us: &str| -> Vec<String> { head.iter().map(|s| s.to_string()).chain(assume(us)).collect() };
    let out = dnsteer(with(&["plan", "--format", "json"], "up"), KEY).await;
    assert_eq!(out.status.code(), Some(2), "changes pending: {}", show(&out));
    let out = dnsteer(with(&["apply", "--yes"], "up"), KEY).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        fake.record("www.example.test", "A").unwrap()["answers"][0]["answer"],
        json!(["192.0.2.10"])
    );
    let out = dnsteer(with(&["plan"], "up"), KEY).await;
    assert_eq!(out.status.code(), Some(0), "converged: {}", show(&out));

    // us-east fails: www moves to eu-west with one POST.
    let out = dnsteer(with(&["apply", "--yes"], "down"), KEY).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        fake.record("www.example.test", "A").unwrap()["answers"][0]["answer"],
        json!(["198.51.100.10"])
    );
    assert!(fake
        .requests()
        .iter()
        .any(|l| l.request.method == "POST" && l.request.path.ends_with("/www.example.test/A")));

    // A read-only key: plan reads, apply is refused as an auth error and nothing moves.
    let out = dnsteer(with(&["apply", "--yes"], "up"), READ_ONLY_KEY).await;
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    assert!(show(&out).contains("authentication failed"), "{}", show(&out));
    assert!(
        !show(&out).contains(READ_ONLY_KEY),
        "the key is printed: {}",
        show(&out)
    );
    assert_eq!(
        fake.record("www.example.test", "A").unwrap()["answers"][0]["answer"],
        json!(["198.51.100.10"])
    );
}
