//! The binary with a `kind: azure` provider, against the in-process Azure fake (the
//! adapter itself is tested in `providers/tests/provider_azure.rs`).

mod support;

use serde_json::json;
use support::azure_fake::{FakeAzure, CLIENT_ID, CLIENT_SECRET, RESOURCE_GROUP, SUBSCRIPTION, TENANT};

fn fake_with_zone() -> FakeAzure {
    let fake = FakeAzure::start("example.test");
    fake.insert(
        "keep",
        "TXT",
        json!({"TTL": 300, "TXTRecords": [{"value": ["unmanaged"]}]}),
    );
    fake
}

/// `dnsteer check --online` builds the adapter from `kind: azure` as `plan` and `run`
/// do: the right secret reads the zone, a wrong one is a clear failed line.
#[test]
fn check_online_reaches_the_fake_through_the_configuration() {
    let fake = fake_with_zone();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "\
providers:
  az:
    kind: azure
    tenant_id: {TENANT}
    client_id: {CLIENT_ID}
    client_secret: {{ env: AZ_SECRET }}
    subscription_id: {SUBSCRIPTION}
    resource_group: {RESOURCE_GROUP}
    endpoint: {url}
    authority: {url}
    nameservers: [ ns1-01.azure-dns.com. ]
    probe: [ \"127.0.0.1:9\" ]
zones:
  - name: example.test.
    providers: [ az ]
    records:
      - name: www
        type: A
        pools:
          - {{ name: us, values: [ 192.0.2.10 ], check: web }}
checks:
  web: {{ kind: tcp, address: \"127.0.0.1:9\" }}
",
        url = fake.url()
    );
    let path = dir.path().join("dnsteer.yaml");
    std::fs::write(&path, config).unwrap();
    let check = |secret: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnsteer"))
            .arg("--config")
            .arg(&path)
            .args(["check", "--online"])
            .env_clear()
            .env("AZ_SECRET", secret)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let good = check(CLIENT_SECRET);
    assert!(
        good.lines()
            .any(|l| l == "ok      az: credentials accepted, zone example.test. readable (3 record sets)"),
        "{good}"
    );
    let wrong = check("s3cr3t-wrong");
    let line = wrong
        .lines()
        .find(|l| l.contains("az: zone example.test."))
        .unwrap_or_default();
    assert!(
        line.starts_with("FAILED") && line.contains("authentication failed") && line.contains("invalid_client"),
        "{wrong}"
    );
    assert!(!wrong.contains("s3cr3t-wrong"), "{wrong}");
}
