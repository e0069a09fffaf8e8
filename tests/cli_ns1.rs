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

/// The real binary with a configuration of one zone served by `kind: ns1` (no
/// nameservers listed) against the fake, steering www A over two pools by `policy`
/// (us-east: priority 1, weight 3; eu-west: priority 2, weight 1); its state and audit
/// files go beside the configuration, not into the checkout.
struct Binary {
    dir: tempfile::TempDir,
}

impl Binary {
    fn new(fake: &FakeNs1, agent: &str, policy: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            r#"agent: {{ id: {agent} }}
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
        policy: {policy}
        pools:
          - {{ name: us-east, priority: 1, weight: 3, values: [ 192.0.2.10 ], check: web-us }}
          - {{ name: eu-west, priority: 2, weight: 1, values: [ 198.51.100.10 ], check: web-eu }}
checks:
  web-us: {{ kind: http, url: "http://127.0.0.1:9/healthz" }}
  web-eu: {{ kind: http, url: "http://127.0.0.1:9/healthz" }}
"#,
            endpoint = fake.url()
        );
        std::fs::write(dir.path().join("dnsteer.yaml"), config).unwrap();
        Self { dir }
    }

    async fn run(&self, args: &[String], key: &str) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dnsteer"))
            .current_dir(self.dir.path())
            .arg("--config")
            .arg(self.dir.path().join("dnsteer.yaml"))
            .args(args)
            .env("TEST_NS1_API_KEY", key)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap()
    }
}

fn show(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The real binary with a `kind: ns1` provider that lists no nameservers: `check`
/// builds the adapter as `plan` and `apply` do, the nameservers come from the zone's
/// `dns_servers`, and `apply` steers www until a plan is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_plan_and_apply_through_the_binary() {
    let fake = fake_with_zone();
    let bin = Binary::new(&fake, "ns1-e2e", "failover");
    let dnsteer = |args: Vec<String>, key: &'static str| {
        let bin = &bin;
        async move { bin.run(&args, key).await }
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

/// `policy: weighted` on a zone NS1 alone serves: `check` accepts it, and `apply`
/// writes one NS1 record holding both pools' answers, weighed 3 and 1 in their
/// metadata under the weighted filter chain (read from the fake's state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weighted_record_is_one_ns1_record_with_answer_weights() {
    let fake = fake_with_zone();
    let bin = Binary::new(&fake, "ns1-weighted", "weighted");
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let bin = &bin;
        async move { bin.run(&args, KEY).await }
    };
    let out = run(&["check"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let assume = [
        "--assume",
        "provider:ns1=up",
        "--assume",
        "check:web-us=up",
        "--assume",
        "check:web-eu=up",
    ];
    let out = run(&[&["apply", "--yes"][..], &assume[..]].concat()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let record = fake.record("www.example.test", "A").expect("one www A record");
    let mut answers: Vec<(serde_json::Value, serde_json::Value)> = record["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["answer"].clone(), a["meta"]["weight"].clone()))
        .collect();
    answers.sort_by_key(|a| a.0.to_string());
    assert_eq!(
        answers,
        vec![(json!(["192.0.2.10"]), json!(3)), (json!(["198.51.100.10"]), json!(1))]
    );
    let chain: Vec<&str> = record["filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filter"].as_str().unwrap())
        .collect();
    assert_eq!(chain, ["up", "weighted_shuffle", "select_first_n"]);
    let puts = fake
        .requests()
        .iter()
        .filter(|l| l.request.method == "PUT" && l.request.path.ends_with("/www.example.test/A"))
        .count();
    assert_eq!(puts, 1, "the record written once");
    // Converged: the weighted sets read back as planned.
    let out = run(&[&["plan"][..], &assume[..]].concat()).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}
