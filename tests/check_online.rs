//! `dnsteer check --online` end to end: the real binary against two real PowerDNS
//! servers and a real BIND parent on loopback. A good configuration passes (exit 0)
//! with a write-access line per provider and zone; a wrong PowerDNS key, a zone the
//! provider does not have, and a TSIG key the parent does not let update the delegation
//! each fail (exit 1) with a line naming the provider and what to fix, and nothing is
//! written.

mod support;

use support::bind::{dig, Bind};
use support::pdns::PowerDns;
use support::world::{code, show, World, QUICK, US};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_lines(out: &std::process::Output, expected: &[&str]) {
    let text = stdout(out);
    for line in expected {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "a line starting {line:?} in:\n{}",
            show(out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_config_passes_and_a_bad_key_or_a_missing_zone_fails_with_what_to_fix() {
    let world = World::start().await;
    let text = world.config("{ id: e2e }", QUICK, "");
    let good = world.write_config("good.yaml", &text);
    let serial = || dig(world.pdns_a.dns, "example.test.", "SOA");
    let before = serial();

    let out = world.dnsteer(&good, &["check", "--online"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_lines(
        &out,
        &[
            "ok      pdns-a: may write example.test. (the key reads example.test., a Native zone, and PowerDNS \
             API keys are not scoped",
            "ok      pdns-b: may write example.test.",
            "ok      parent: may write test. (an UPDATE signed with key steer-key that deletes only records proven \
             absent was accepted for example.test. NS)",
        ],
    );
    assert!(!stdout(&out).contains("FAILED"), "{}", show(&out));
    assert_eq!(serial(), before, "check --online wrote nothing");

    // A key PowerDNS does not take: the read fails, saying which setting to fix.
    world.write_config("wrong-key", "not-the-key\n");
    let wrong_key = world.write_config(
        "wrong-key.yaml",
        &text.replacen("api_key: { env: PDNS_KEY }", "api_key: { file: wrong-key }", 1),
    );
    let out = world.dnsteer(&wrong_key, &["check", "--online"]).await;
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_lines(
        &out,
        &["FAILED  pdns-a: zone example.test.: pdns-a: authentication failed"],
    );
    let text_out = stdout(&out);
    assert!(
        text_out.contains("to fix: set providers.pdns-a.api_key"),
        "{}",
        show(&out)
    );
    assert!(
        !text_out.contains("pdns-a: may write"),
        "no rights line for a key that cannot read"
    );
    assert!(
        text_out.contains("ok      pdns-b: may write example.test."),
        "{}",
        show(&out)
    );
    assert!(!text_out.contains("not-the-key"), "no secret printed");

    // A zone pdns-a does not have.
    let missing = text.replacen(
        "zones:\n",
        &format!(
            "zones:\n  - name: missing.test.\n    providers: [ pdns-a ]\n    records:\n      - {{ name: www, \
             type: A, pools: [ {{ name: us-east, priority: 1, values: [ {US} ], check: web-us }} ] }}\n"
        ),
        1,
    );
    let missing = world.write_config("missing.yaml", &missing);
    let out = world.dnsteer(&missing, &["check", "--online"]).await;
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_lines(
        &out,
        &[
            "FAILED  pdns-a: zone missing.test.: pdns-a: zone missing.test. not found; to fix: create missing.test. \
           at pdns-a",
        ],
    );
    assert_eq!(serial(), before, "nothing written");
}

/// The parent's TSIG key may transfer `test.` but BIND's update-policy grants it no
/// update of the delegation: the read passes, the write-access line fails naming the
/// set and the setting, exit 1, and the parent zone (its serial) is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tsig_key_without_update_rights_fails_naming_the_grant() {
    let parent = Bind::start_with_policy(
        "test.",
        &format!("grant \"{}\" name nothing.test. TXT;", support::bind::KEY_NAME),
    );
    let world = World::start_with(PowerDns::start(), PowerDns::start(), Bind::start("test.")).await;
    // The world's own parent stays as the one its setup wrote to; the configuration
    // points at the restricted one.
    world.write_config("restricted-secret", &parent.secret_b64);
    let text = world
        .config("{ id: e2e }", QUICK, "")
        .replace(&world.parent.addr.to_string(), &parent.addr.to_string())
        .replace("secret: { env: TSIG_SECRET }", "secret: { file: restricted-secret }");
    let config = world.write_config("restricted.yaml", &text);
    let soa = || dig(parent.addr, "test.", "SOA");
    let before = soa();
    let out = world.dnsteer(&config, &["check", "--online"]).await;
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_lines(
        &out,
        &[
            "ok      parent: credentials accepted, zone test. readable",
            "FAILED  parent: may not write test.: TSIG key steer-key may not update example.test. NS (REFUSED): \
             grant it in BIND's update-policy",
            "ok      pdns-a: may write example.test.",
        ],
    );
    assert_eq!(soa(), before, "the probe wrote nothing");
}
