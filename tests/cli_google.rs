//! `dnsteer check` and `check --online` with a `kind: google` provider, against
//! `FakeGoogle` (support/google_fake.rs): the binary's side of the Google Cloud DNS
//! adapter, whose own tests are in providers/tests/provider_google.rs.

mod support;

use support::google_fake::{FakeGoogle, TestKey};

const ZONE: &str = "example.test.";

/// The fake holding `example.test.` with an unmanaged TXT set beside its NS and SOA.
fn fake_with_zone() -> FakeGoogle {
    let fake = FakeGoogle::start(ZONE);
    fake.insert("keep.example.test.", "TXT", 300, &["\"unmanaged\""]);
    fake
}

/// `dnsteer check` refuses a key file that is not a service-account key at the
/// provider's `credentials`, with its line, without showing the file.
#[test]
fn check_refuses_a_bad_key_file_at_its_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "\
providers:
  gdns:
    kind: google
    credentials: { file: sa.json }
    nameservers: [ ns-cloud-a1.googledomains.com. ]
zones:
  - name: example.test.
    providers: [ gdns ]
    records: [ { name: www, type: A, pools: [ { name: east, values: [ 192.0.2.20 ], check: east } ] } ]
checks: { east: { kind: tcp, address: \"192.0.2.20:443\" } }
";
    let config = dir.path().join("dnsteer.yaml");
    std::fs::write(&config, yaml).unwrap();
    let check = |key: &str| {
        std::fs::write(dir.path().join("sa.json"), key).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_dnsteer"))
            .args(["check", "--config", config.to_str().unwrap()])
            .env_clear()
            .output()
            .unwrap()
    };
    let good = check(&TestKey::account().key_json("https://oauth2.googleapis.com/token"));
    assert!(
        good.status.success(),
        "a good key passes: {}",
        String::from_utf8_lossy(&good.stderr)
    );
    let bad = check("{\"type\": \"service_account\", \"private_key\": \"s3cr3t-VALUE\", \"client_email\": \"a@b.test\", \"project_id\": \"p\"}");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: providers.gdns.credentials: ") && l.ends_with("(line 4)")),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");

    // A key that names no project, with no `project` set, has nowhere to look.
    let mut no_project: serde_json::Value =
        serde_json::from_str(&TestKey::account().key_json("https://oauth2.googleapis.com/token")).unwrap();
    no_project.as_object_mut().unwrap().remove("project_id");
    let out = check(&no_project.to_string());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: providers.gdns.credentials: ") && l.contains("set `project`")),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");
}

/// `dnsteer check --online` against the fake: the key's token is accepted, the zone
/// read, and the rights read from testIamPermissions; a missing permission, a key the
/// token endpoint refuses and a zone the project lacks each fail with what to fix.
#[test]
fn check_online_reads_the_rights_and_says_what_to_fix() {
    let fake = fake_with_zone();
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str, zone: &str| {
        let yaml = format!(
            "providers:
  gdns:
    kind: google
    credentials: {{ file: {name}.json }}
    endpoint: {}
    nameservers: [ ns-cloud-a1.googledomains.com. ]
    probe: [ \"127.0.0.1:9\" ]
zones:
  - name: {zone}
    providers: [ gdns ]
    records: [ {{ name: www, type: A, pools: [ {{ name: east, values: [ 192.0.2.20 ], check: east }} ] }} ]
checks: {{ east: {{ kind: tcp, address: \"192.0.2.20:443\" }} }}
",
            fake.url()
        );
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    };
    std::fs::write(dir.path().join("good.json"), fake.key_json()).unwrap();
    std::fs::write(
        dir.path().join("stranger.json"),
        TestKey::stranger().key_json(&fake.token_uri()),
    )
    .unwrap();
    let online = |path: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnsteer"))
            .args(["check", "--online", "--config", path.to_str().unwrap()])
            .env_clear()
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let has = |text: &str, start: &str| {
        assert!(
            text.lines().any(|l| l.starts_with(start)),
            "a line starting {start:?} in:\n{text}"
        );
    };

    let text = online(&config("good", ZONE));
    has(
        &text,
        "ok      gdns: credentials accepted, zone example.test. readable (3 record sets)",
    );
    has(
        &text,
        "ok      gdns: may write example.test. (testIamPermissions on managed zone example-test grants",
    );

    fake.state.lock().unwrap().granted.remove("dns.changes.create");
    let text = online(&config("good", ZONE));
    has(
        &text,
        "FAILED  gdns: may not write example.test.: testIamPermissions on managed zone example-test: missing \
         dns.changes.create (least privilege: docs/providers/google.md)",
    );

    let text = online(&config("stranger", ZONE));
    has(
        &text,
        "FAILED  gdns: zone example.test.: gdns: authentication failed: the token endpoint refused",
    );
    assert!(
        text.contains("to fix: check that providers.gdns.credentials is a current key"),
        "{text}"
    );

    let text = online(&config("good", "other.test."));
    has(
        &text,
        "FAILED  gdns: zone other.test.: gdns: zone other.test. not found",
    );
    assert!(
        text.contains("create a public managed zone with DNS name other.test."),
        "{text}"
    );
    assert!(
        fake.state.lock().unwrap().changes.is_empty(),
        "check --online wrote nothing"
    );
}
