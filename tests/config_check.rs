//! `dnsteer check` end to end (the real binary), plus in-process tests of
//! `config::load_str`: every class of invalid configuration is reported with its YAML
//! path and line, secrets never show, and no input makes loading panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dnsteer::config::{self, CheckConfig, Duration, ProviderConfig};
use proptest::prelude::*;

/// The secrets config.example.yaml reads, with values distinctive enough to grep for.
const EXAMPLE_ENV: &[(&str, &str)] = &[
    ("PDNS_A_KEY", "s3cr3t-VALUE-xyz-pdns-a"),
    ("PDNS_B_KEY", "s3cr3t-VALUE-xyz-pdns-b"),
    ("DNSTEER_API_TOKEN", "s3cr3t-VALUE-xyz-api"),
    ("AWS_ACCESS_KEY_ID", "s3cr3t-VALUE-xyz-akid"),
    ("AWS_SECRET_ACCESS_KEY", "s3cr3t-VALUE-xyz-sak"),
    ("CLOUDFLARE_API_TOKEN", "s3cr3t-VALUE-xyz-cf"),
    ("HOOK_SECRET", "s3cr3t-VALUE-xyz-hook"),
    ("SLACK_WEBHOOK_URL", "https://hooks.slack.test/s3cr3t-VALUE-xyz-slack"),
    ("PAGERDUTY_ROUTING_KEY", "s3cr3t-VALUE-xyz-pd"),
    // Base64, as a TSIG secret must be (`s3cr3t-VALUE-xyz-tsig` encoded).
    ("TSIG_SECRET", "czNjcjN0LVZBTFVFLXh5ei10c2ln"),
];

/// Every distinctive value starts with this.
const MARK: &str = "s3cr3t-VALUE-xyz";

fn example_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    std::fs::read_to_string(path).expect("config.example.yaml is readable")
}

/// A small valid configuration the invalid cases are written from.
const BASE: &str = "\
providers:
  pdns-a:
    kind: powerdns
    url: http://127.0.0.1:8081
    api_key: { env: T_KEY }
    nameservers: [ ns1.provider-a.test. ]
  pdns-b:
    kind: powerdns
    url: http://127.0.0.1:8082
    api_key: { env: T_KEY }
    nameservers: [ ns1.provider-b.test. ]
  parent:
    kind: rfc2136
    server: 127.0.0.1:5300
    tsig: { name: steer-key., algorithm: hmac-sha256, secret: { env: T_KEY } }
zones:
  - name: example.test.
    providers: [ pdns-a, pdns-b ]
    delegation: { provider: parent, parent: test. }
    records:
      - name: www
        type: A
        pools:
          - { name: us, values: [ 192.0.2.10 ], check: web }
checks:
  web: { kind: tcp, address: \"192.0.2.10:443\" }
";

/// Base64, since it is also the TSIG secret (`s3cr3t-VALUE-xyz-base` encoded).
const BASE_ENV: &[(&str, &str)] = &[("T_KEY", "czNjcjN0LVZBTFVFLXh5ei1iYXNl")];

/// Runs the binary with only `env` in its environment.
fn dnsteer(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dnsteer"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run dnsteer")
}

/// Writes `yaml` as dnsteer.yaml in a new folder and runs `dnsteer check` on it.
fn check_with(yaml: &str, env: &[(&str, &str)], extra: &[&str]) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dnsteer.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut args = vec!["check", "--config", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = dnsteer(&args, env);
    (dir, out)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The 1-based line of the only line of `yaml` holding `needle`.
fn line_of(yaml: &str, needle: &str) -> usize {
    let hits: Vec<usize> = yaml
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "{needle:?} must be on exactly one line of:\n{yaml}");
    hits[0]
}

/// `BASE` with `from` replaced by `to` (which must be there).
fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} is not in BASE");
    BASE.replacen(from, to, 1)
}

/// Asserts `dnsteer check` fails with an error at `path` on the line holding `needle`.
fn assert_error(yaml: &str, path: &str, needle: &str) -> String {
    assert_error_env(yaml, BASE_ENV, path, needle)
}

fn assert_error_env(yaml: &str, env: &[(&str, &str)], path: &str, needle: &str) -> String {
    let (_dir, out) = check_with(yaml, env, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{err}\nconfig:\n{yaml}");
    let line = line_of(yaml, needle);
    let want_start = format!("error: {path}: ");
    let want_line = format!("(line {line})");
    assert!(
        err.lines()
            .any(|l| l.starts_with(&want_start) && l.ends_with(&want_line)),
        "expected an error at {path} {want_line}; stderr:\n{err}"
    );
    let last = err.lines().last().unwrap_or("");
    assert!(last.contains(" problem") && last.ends_with("dnsteer.yaml"), "{err}");
    assert!(stdout(&out).is_empty(), "nothing on stdout on failure");
    err
}

#[test]
fn base_config_is_valid() {
    let (_dir, out) = check_with(BASE, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn example_config_is_valid() {
    let yaml = example_text();
    let (_dir, out) = check_with(&yaml, EXAMPLE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
    let summary = stdout(&out);
    assert!(
        summary.starts_with("configuration OK: 6 providers, 3 zones, 3 checks, 3 alerts ("),
        "{summary}"
    );
    assert!(!stderr(&out).contains("error"), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------
// One test per class of problem.

#[test]
fn syntax_error() {
    let yaml = base_with(
        "    url: http://127.0.0.1:8081\n",
        "    url: http://127.0.0.1:8081\n     oops: [\n",
    );
    let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = line_of(&yaml, "oops");
    assert!(
        err.contains("syntax error") && err.contains(&format!("(line {line})")),
        "{err}"
    );
}

#[test]
fn duplicate_key() {
    let yaml = base_with(
        "    url: http://127.0.0.1:8082\n",
        "    url: http://127.0.0.1:8082\n    url: http://127.0.0.1:9999\n",
    );
    assert_error(&yaml, "providers.pdns-b.url", "9999");
}

#[test]
fn unknown_key() {
    let yaml = base_with(
        "    url: http://127.0.0.1:8081\n",
        "    url: http://127.0.0.1:8081\n    colour: blue\n",
    );
    let err = assert_error(&yaml, "providers.pdns-a.colour", "colour");
    assert!(err.contains("unknown field `colour`"), "{err}");
}

#[test]
fn unknown_section() {
    let yaml = format!("{BASE}alert: []\n");
    assert_error(&yaml, "alert", "alert:");
}

#[test]
fn unknown_kind() {
    let yaml = base_with("    kind: rfc2136\n", "    kind: bind9\n");
    assert_error(&yaml, "providers.parent.kind", "bind9");
}

#[test]
fn wrong_type() {
    let yaml = base_with("        type: A\n", "        type: A\n        ttl: sixty\n");
    assert_error(&yaml, "zones[0].records[0].ttl", "sixty");
}

#[test]
fn bad_duration() {
    let yaml = format!("defaults:\n  interval: soon\n{BASE}");
    let err = assert_error(&yaml, "defaults.interval", "soon");
    assert!(err.contains("invalid duration"), "{err}");
    let yaml = format!("agent:\n  lease: {{ duration: 10 }}\n{BASE}");
    assert_error(&yaml, "agent.lease.duration", "duration: 10");
}

#[test]
fn zero_durations() {
    let yaml = base_with(
        "address: \"192.0.2.10:443\" }",
        "address: \"192.0.2.10:443\", interval: 0s }",
    );
    assert_error(&yaml, "checks.web.interval", "interval: 0s");
    let yaml = format!("defaults:\n  timeout: 0ms\n{BASE}");
    assert_error(&yaml, "defaults.timeout", "0ms");
    let yaml = format!("agent:\n  lease:\n    duration: 0s\n{BASE}");
    assert_error(&yaml, "agent.lease.duration", "0s");
}

#[test]
fn ratio_outside_zero_to_one() {
    let yaml = format!("defaults:\n  health:\n    fail_ratio: 1.5\n{BASE}");
    assert_error(&yaml, "defaults.health.fail_ratio", "1.5");
    let yaml = base_with("        pools:\n", "        pools:\n");
    let yaml = yaml.replacen("    records:\n", "    max_change_ratio: -0.1\n    records:\n", 1);
    assert_error(&yaml, "zones[0].max_change_ratio", "-0.1");
}

#[test]
fn flap_budget_out_of_range() {
    let yaml = format!("defaults:\n  flap_budget:\n    changes: 0\n{BASE}");
    assert_error(&yaml, "defaults.flap_budget.changes", "changes: 0");
    let yaml = base_with(
        "    records:\n",
        "    flap_budget: { changes: 101, within: 0s }\n    records:\n",
    );
    assert_error(&yaml, "zones[0].flap_budget.changes", "changes: 101");
    assert_error(&yaml, "zones[0].flap_budget.within", "changes: 101");
}

#[test]
fn a_record_that_cannot_fail_over_within_the_budget_is_warned_about_with_the_arithmetic() {
    let yaml = format!(
        "defaults:\n  failover_budget: 60s\n  interval: 2s\n{}",
        base_with("        type: A\n", "        type: A\n        ttl: 300\n")
    );
    let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "a warning, not an error: {err}");
    let line = line_of(&yaml, "ttl: 300");
    let want = format!(
        "warning: zones[0].records[0].ttl: www A can take longer than the failover budget of 1m to fail over: \
         304.95 s = detection up to 4.95 s (check web: 7 failed probes needed (ceil(1 × 5) + 3 − 1): 2.20 s to \
         the first (interval 2s + 10 % jitter) + 6 confirmations × 125ms + 2s for a probe that times out) + TTL \
         300 s while resolvers keep the old answer (line {line})"
    );
    assert!(err.lines().any(|l| l == want), "want:\n{want}\ngot:\n{err}");
    // Within the budget: nothing to say.
    let yaml = yaml.replace("failover_budget: 60s", "failover_budget: 10m");
    let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
    assert!(!stderr(&out).contains("failover budget"), "{}", stderr(&out));
    // A TTL not written is the default (60 s): still over a 1 min budget, warned at the
    // record.
    let yaml = format!("defaults:\n  failover_budget: 60s\n{BASE}");
    let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
    let err = stderr(&out);
    let line = line_of(&yaml, "- name: www");
    assert!(
        err.lines().any(
            |l| l.starts_with("warning: zones[0].records[0].ttl: www A can take longer")
                && l.contains("= detection up to 8.25 s")
                && l.ends_with(&format!("(line {line})"))
        ),
        "{err}"
    );
}

#[test]
fn several_providers_without_delegation_warn_that_a_failed_one_stays_named() {
    let yaml = base_with("    delegation: { provider: parent, parent: test. }\n", "");
    let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let line = line_of(&yaml, "providers: [ pdns-a, pdns-b ]");
    assert!(
        err.lines().any(|l| l.starts_with("warning: zones[0].providers: ")
            && l.contains("stays in the parent's NS set and in every apex NS set")
            && l.ends_with(&format!("(line {line})"))),
        "{err}"
    );
}

#[test]
fn fail_ratio_not_above_recover_ratio() {
    let yaml = format!("defaults:\n  health:\n    fail_ratio: 0.2\n    recover_ratio: 0.3\n{BASE}");
    assert_error(&yaml, "defaults.health.fail_ratio", "fail_ratio: 0.2");
    // A check's override is checked against the defaults it is merged with.
    let yaml = base_with(
        "address: \"192.0.2.10:443\" }",
        "address: \"192.0.2.10:443\", health: { recover_ratio: 1.0 } }",
    );
    assert_error(&yaml, "checks.web.health.recover_ratio", "recover_ratio");
}

#[test]
fn confirmations_bounded_and_spaced() {
    let yaml = format!("defaults:\n  health:\n    confirm: {{ probes: 50 }}\n{BASE}");
    let err = assert_error(&yaml, "defaults.health.confirm.probes", "probes: 50");
    assert!(err.contains("must be from 0 to 20, found 50"), "{err}");
    let yaml = base_with(
        "address: \"192.0.2.10:443\" }",
        "address: \"192.0.2.10:443\",\n         health: { confirm: { probes: 2, spacing: 1ms } } }",
    );
    let err = assert_error(&yaml, "checks.web.health.confirm.spacing", "spacing: 1ms");
    assert!(err.contains("must be at least 10 ms"), "{err}");
    // Turned off, the spacing does not matter.
    let yaml = format!("defaults:\n  health:\n    confirm: {{ probes: 0, spacing: 1ms }}\n{BASE}");
    let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn window_zero() {
    let yaml = format!("defaults:\n  health:\n    window: 0\n{BASE}");
    assert_error(&yaml, "defaults.health.window", "window");
}

#[test]
fn fall_or_rise_zero() {
    let yaml = base_with(
        "address: \"192.0.2.10:443\" }",
        "address: \"192.0.2.10:443\",\n         health: { fall: 0 } }",
    );
    assert_error(&yaml, "checks.web.health.fall", "fall: 0");
    let yaml = format!("defaults:\n  health:\n    rise: 0\n{BASE}");
    assert_error(&yaml, "defaults.health.rise", "rise");
}

#[test]
fn quorum_is_majority_or_at_least_one() {
    let yaml = base_with(
        "address: \"192.0.2.10:443\" }",
        "address: \"192.0.2.10:443\",\n         health: { quorum: 0 } }",
    );
    assert_error(&yaml, "checks.web.health.quorum", "quorum: 0");
    let yaml = format!("defaults:\n  health:\n    quorum: most\n{BASE}");
    assert_error(&yaml, "defaults.health.quorum", "most");
    for quorum in ["majority", "2"] {
        let yaml = format!("defaults:\n  health:\n    quorum: {quorum}\n{BASE}");
        let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
        assert_eq!(out.status.code(), Some(0), "stderr:\n{}\nconfig:\n{yaml}", stderr(&out));
    }
}

#[test]
fn undefined_zone_provider() {
    let yaml = base_with(
        "    providers: [ pdns-a, pdns-b ]",
        "    providers: [ pdns-a,\n      pdns-c ]",
    );
    let err = assert_error(&yaml, "zones[0].providers[1]", "pdns-c");
    assert!(err.contains("no provider named \"pdns-c\""), "{err}");
}

#[test]
fn undefined_delegation_provider() {
    let yaml = base_with("delegation: { provider: parent,", "delegation: { provider: nowhere,");
    assert_error(&yaml, "zones[0].delegation.provider", "nowhere");
}

#[test]
fn undefined_check() {
    let yaml = base_with("check: web }", "check: web-eu }");
    let err = assert_error(&yaml, "zones[0].records[0].pools[0].check", "web-eu");
    assert!(err.contains("no check named \"web-eu\""), "{err}");
}

#[test]
fn duplicate_zone() {
    let yaml = base_with(
        "checks:\n",
        "  - name: EXAMPLE.test\n    providers: [ pdns-a ]\nchecks:\n",
    );
    assert_error(&yaml, "zones[1].name", "EXAMPLE");
}

#[test]
fn duplicate_record() {
    let yaml = base_with(
        "checks:\n",
        "      - name: www.example.test.\n        type: A\n        pools: [ { name: x, values: [ 192.0.2.1 ] } ]\nchecks:\n",
    );
    assert_error(&yaml, "zones[0].records[1].name", "www.example.test.");
}

#[test]
fn duplicate_pool() {
    let yaml = base_with(
        "check: web }\n",
        "check: web }\n          - { name: us, values: [ 192.0.2.11 ] }\n",
    );
    assert_error(&yaml, "zones[0].records[0].pools[1].name", "192.0.2.11");
}

#[test]
fn provider_listed_twice_in_a_zone() {
    let yaml = base_with(
        "    providers: [ pdns-a, pdns-b ]",
        "    providers:\n      - pdns-a\n      - pdns-b\n      - pdns-a # again",
    );
    assert_error(&yaml, "zones[0].providers[2]", "again");
}

#[test]
fn invalid_zone_name() {
    let yaml = base_with("  - name: example.test.", "  - name: exa_mple..test.");
    assert_error(&yaml, "zones[0].name", "exa_mple");
}

#[test]
fn invalid_record_name() {
    let yaml = base_with("      - name: www", "      - name: w w");
    assert_error(&yaml, "zones[0].records[0].name", "w w");
}

#[test]
fn invalid_nameserver() {
    let yaml = base_with("[ ns1.provider-b.test. ]", "[ -ns1.provider-b.test. ]");
    assert_error(&yaml, "providers.pdns-b.nameservers[0]", "-ns1");
}

#[test]
fn invalid_tsig_name() {
    let yaml = base_with("tsig: { name: steer-key.,", "tsig: { name: \"steer key.\",");
    assert_error(&yaml, "providers.parent.tsig.name", "steer key");
}

#[test]
fn invalid_dns_check_query_name() {
    let yaml = format!(
        "{BASE}  q:\n    kind: dns\n    server: 192.0.2.53:53\n    query: {{ name: \"api..example.test.\", type: A }}\n"
    );
    assert_error(&yaml, "checks.q.query.name", "api..example");
}

#[test]
fn a_record_needs_ipv4() {
    let yaml = base_with("values: [ 192.0.2.10 ]", "values: [ \"2001:db8::1\" ]");
    assert_error(&yaml, "zones[0].records[0].pools[0].values[0]", "2001:db8::1");
}

#[test]
fn aaaa_record_needs_ipv6() {
    let yaml = base_with("        type: A\n", "        type: AAAA\n");
    assert_error(
        &yaml,
        "zones[0].records[0].pools[0].values[0]",
        "values: [ 192.0.2.10 ]",
    );
}

#[test]
fn cname_needs_one_name() {
    let yaml = base_with("        type: A\n", "        type: CNAME\n").replacen(
        "values: [ 192.0.2.10 ]",
        "values: [ a.example.test., b.example.test. ]",
        1,
    );
    assert_error(&yaml, "zones[0].records[0].pools[0].values", "b.example.test.");
    let yaml = base_with("        type: A\n", "        type: CNAME\n").replacen(
        "values: [ 192.0.2.10 ]",
        "values: [ \"not a name\" ]",
        1,
    );
    assert_error(&yaml, "zones[0].records[0].pools[0].values[0]", "not a name");
}

#[test]
fn cname_pools_need_distinct_priorities() {
    let yaml = base_with("        type: A\n", "        type: CNAME\n").replacen(
        "          - { name: us, values: [ 192.0.2.10 ], check: web }\n",
        "          - { name: us, values: [ us.example.net. ], check: web }\n          - { name: eu, values: [ eu.example.net. ] }\n",
        1,
    );
    assert_error(&yaml, "zones[0].records[0].pools[1].priority", "name: eu,");
}

#[test]
fn weighted_is_refused_where_a_provider_has_no_native_weights() {
    let yaml = base_with("        type: A\n", "        type: A\n        policy: weighted\n");
    let err = assert_error(&yaml, "zones[0].records[0].policy", "policy: weighted");
    assert!(err.contains("pdns-a (powerdns), pdns-b (powerdns)"), "{err}");
    assert!(err.contains("Kinds with native weights: route53, ns1"), "{err}");
}

#[test]
fn weighted_is_accepted_where_every_provider_has_native_weights() {
    // One set per pool: a weighted CNAME may have several pools, at any priorities.
    let yaml = "\
providers:
  r53:
    kind: route53
    access_key_id: { env: T_KEY }
    secret_access_key: { env: T_KEY }
    nameservers: [ ns-1.awsdns-00.test. ]
zones:
  - name: example.test.
    providers: [ r53 ]
    records:
      - name: www
        type: CNAME
        policy: weighted
        pools:
          - { name: us, weight: 3, values: [ us.example.net. ], check: web }
          - { name: eu, weight: 1, values: [ eu.example.net. ] }
checks:
  web: { kind: tcp, address: \"192.0.2.10:443\" }
";
    let (_dir, out) = check_with(yaml, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn weighted_is_accepted_on_a_zone_served_by_ns1_only() {
    let yaml = "\
providers:
  ns1:
    kind: ns1
    api_key: { env: T_KEY }
    nameservers: [ dns1.p01.nsone.net. ]
zones:
  - name: example.test.
    providers: [ ns1 ]
    records:
      - name: www
        type: A
        policy: weighted
        pools:
          - { name: us, weight: 3, values: [ 192.0.2.10 ], check: web }
          - { name: eu, weight: 1, values: [ 192.0.2.20 ] }
checks:
  web: { kind: tcp, address: \"192.0.2.10:443\" }
";
    let (_dir, out) = check_with(yaml, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn cname_at_apex() {
    let yaml = base_with(
        "      - name: www\n        type: A\n",
        "      - name: \"@\"\n        type: CNAME\n",
    )
    .replacen("values: [ 192.0.2.10 ]", "values: [ other.test. ]", 1);
    assert_error(&yaml, "zones[0].records[0].name", "\"@\"");
}

#[test]
fn record_without_pools() {
    let yaml = base_with(
        "        pools:\n          - { name: us, values: [ 192.0.2.10 ], check: web }\n",
        "        pools: []\n",
    );
    assert_error(&yaml, "zones[0].records[0].pools", "pools: []");
}

#[test]
fn pool_without_values() {
    let yaml = base_with("values: [ 192.0.2.10 ]", "values: []");
    assert_error(&yaml, "zones[0].records[0].pools[0].values", "values: []");
}

#[test]
fn min_providers_out_of_range() {
    let yaml = base_with(
        "delegation: { provider: parent, parent: test. }",
        "delegation:\n      provider: parent\n      parent: test.\n      min_providers: 3",
    );
    assert_error(&yaml, "zones[0].delegation.min_providers", "min_providers");
    let yaml = base_with(
        "delegation: { provider: parent, parent: test. }",
        "delegation:\n      provider: parent\n      parent: test.\n      min_providers: 0",
    );
    assert_error(&yaml, "zones[0].delegation.min_providers", "min_providers");
}

#[test]
fn delegation_without_parent() {
    let yaml = base_with(
        "delegation: { provider: parent, parent: test. }",
        "delegation: { provider: parent }",
    );
    let err = assert_error(&yaml, "zones[0].delegation", "delegation:");
    assert!(err.contains("parent"), "{err}");
    // A registrar kind needs none.
    let yaml = base_with(
        "delegation: { provider: parent, parent: test. }",
        "delegation: { provider: reg }",
    )
    .replacen("zones:\n", "  reg: { kind: route53domains }\nzones:\n", 1);
    // Without keys in the configuration, the registrar takes the AWS environment's.
    let env = [
        BASE_ENV[0],
        ("AWS_ACCESS_KEY_ID", "id"),
        ("AWS_SECRET_ACCESS_KEY", "key"),
    ];
    let (_dir, out) = check_with(&yaml, &env, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn literal_secret() {
    let yaml = base_with(
        "    api_key: { env: T_KEY }\n    nameservers: [ ns1.provider-a.test. ]",
        "    api_key: s3cr3t-VALUE-xyz-literal\n    nameservers: [ ns1.provider-a.test. ]",
    );
    let err = assert_error(&yaml, "providers.pdns-a.api_key", "literal");
    assert!(
        err.contains("a secret must be a reference ({ env: NAME } or { file: PATH }), not a literal"),
        "{err}"
    );
    assert!(!err.contains(MARK), "the literal is echoed:\n{err}");
}

#[test]
fn unset_env_secret() {
    let yaml = base_with(
        "tsig: { name: steer-key., algorithm: hmac-sha256, secret: { env: T_KEY } }",
        "tsig: { name: steer-key., algorithm: hmac-sha256, secret: { env: T_TSIG } }",
    );
    let err = assert_error(&yaml, "providers.parent.tsig.secret", "T_TSIG");
    assert!(err.contains("T_TSIG is not set"), "{err}");
    let err = assert_error_env(
        &yaml,
        &[("T_KEY", "x"), ("T_TSIG", "")],
        "providers.parent.tsig.secret",
        "T_TSIG",
    );
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn missing_secret_file() {
    let yaml = base_with("secret: { env: T_KEY } }", "secret: { file: ./tsig.secret } }");
    let err = assert_error(&yaml, "providers.parent.tsig.secret", "tsig.secret");
    assert!(err.contains("cannot read secret file"), "{err}");
}

#[cfg(unix)]
#[test]
fn secret_files_relative_to_the_config_and_loose_permissions_warn() {
    use std::os::unix::fs::PermissionsExt;
    let yaml = base_with("secret: { env: T_KEY } }", "secret: { file: tsig.secret } }");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dnsteer.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let secret = dir.path().join("tsig.secret");
    // `s3cr3t-VALUE-xyz-file`, base64 as a TSIG secret must be.
    let value = "czNjcjN0LVZBTFVFLXh5ei1maWxl";
    std::fs::write(&secret, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    // Run from elsewhere: the file is found next to the configuration.
    let out = Command::new(env!("CARGO_BIN_EXE_dnsteer"))
        .args(["check", "--config", config.to_str().unwrap()])
        .current_dir(std::env::temp_dir())
        .env_clear()
        .envs(BASE_ENV.iter().copied())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let line = line_of(&yaml, "tsig.secret");
    assert!(
        err.lines()
            .any(|l| l.starts_with("warning: providers.parent.tsig.secret: ")
                && l.contains("readable by group or others")
                && l.ends_with(&format!("(line {line})"))),
        "{err}"
    );
    assert!(!err.contains(value) && !stdout(&out).contains(value));

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = dnsteer(&["check", "--config", config.to_str().unwrap()], BASE_ENV);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn bad_url() {
    let yaml = base_with("    url: http://127.0.0.1:8082", "    url: 127.0.0.1:8082");
    assert_error(&yaml, "providers.pdns-b.url", "127.0.0.1:8082");
}

#[test]
fn bad_host_port() {
    let yaml = base_with("address: \"192.0.2.10:443\"", "address: \"192.0.2.10\"");
    assert_error(&yaml, "checks.web.address", "192.0.2.10\"");
    let yaml = base_with("    server: 127.0.0.1:5300", "    server: 127.0.0.1:99999");
    assert_error(&yaml, "providers.parent.server", "99999");
}

#[test]
fn peers_must_be_urls() {
    let yaml = format!(
        "agent:\n  api_token: {{ env: T_KEY }}\n  peers:\n    - http://127.0.0.1:9311\n    - steer-b:9311\n{BASE}"
    );
    assert_error(&yaml, "agent.peers[1]", "steer-b");
}

#[test]
fn a_witness_must_compare_and_set() {
    let pair =
        "agent:\n  api_token: { env: T_KEY }\n  peers: [ \"http://127.0.0.1:9311\" ]\n  lease:\n    duration: 2s\n";
    let yaml = format!("{pair}    witness: pdns-a\n{BASE}");
    let err = assert_error(&yaml, "agent.lease.witness", "witness: pdns-a");
    assert!(err.contains("no compare-and-set"), "{err}");
    let yaml = format!("{pair}    witness: nowhere\n{BASE}");
    assert_error(&yaml, "agent.lease.witness", "witness: nowhere");
    // The delegation's RFC 2136 provider witnesses the pair when none is named.
    let (_dir, out) = check_with(&format!("{pair}{BASE}"), BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("compare-and-set"), "{}", stderr(&out));
}

#[test]
fn a_pair_with_no_possible_witness_is_warned_about() {
    let pair = "agent:\n  api_token: { env: T_KEY }\n  peers: [ \"http://127.0.0.1:9311\" ]\n";
    let yaml = format!("{pair}{BASE}").replace("    delegation: { provider: parent, parent: test. }\n", "");
    let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with("warning: agent.peers: ") && l.contains("two writers")),
        "{err}"
    );
}

#[test]
fn a_fleet_on_etcd() {
    let fleet = "agent:\n  api_token: { env: T_KEY }\n  coordination:\n    kind: etcd\n    endpoints: [ \"http://127.0.0.1:2379\" ]\n";
    let (_dir, out) = check_with(&format!("{fleet}{BASE}"), BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let with_peers = format!("{fleet}  peers: [ \"http://127.0.0.1:9311\" ]\n{BASE}");
    assert_error(&with_peers, "agent.coordination", "coordination:");
    let no_endpoints = format!("{}{BASE}", fleet.replace("[ \"http://127.0.0.1:2379\" ]", "[]"));
    assert_error(&no_endpoints, "agent.coordination.endpoints", "endpoints: []");
    let bad = format!("{}{BASE}", fleet.replace("http://127.0.0.1:2379", "127.0.0.1:2379"));
    assert_error(&bad, "agent.coordination.endpoints[0]", "127.0.0.1:2379");
    let half = format!("{fleet}    username: steer\n{BASE}");
    assert_error(&half, "agent.coordination", "coordination:");
    let prefix = format!("{fleet}    prefix: dnsteer\n{BASE}");
    assert_error(&prefix, "agent.coordination.prefix", "prefix: dnsteer");
}

#[test]
fn several_problems_are_all_listed() {
    let yaml = "\
agent:
  id: a
  colour: blue
defaults:
  interval: 5
providers:
  pdns-a:
    kind: powerdns
    url: nope
    api_key: { env: T_UNSET }
    nameservers: [ ns1.provider-a.test. ]
zones:
  - name: example.test.
    providers: [ pdns-a, pdns-z ]
    records:
      - name: www
        type: AAAA
        pools:
          - { name: us, values: [ 192.0.2.1 ], check: nope }
checks:
  web: { kind: tcp, address: \"192.0.2.10\" }
";
    let (_dir, out) = check_with(yaml, &[], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let expected = [
        ("agent.colour", "colour"),
        ("defaults.interval", "interval: 5"),
        ("providers.pdns-a.url", "url: nope"),
        ("providers.pdns-a.api_key", "T_UNSET"),
        ("zones[0].providers[1]", "pdns-z"),
        ("zones[0].records[0].pools[0].values[0]", "192.0.2.1 "),
        ("zones[0].records[0].pools[0].check", "check: nope"),
        ("checks.web.address", "address:"),
    ];
    for (path, needle) in expected {
        let line = line_of(yaml, needle);
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("error: {path}: ")) && l.ends_with(&format!("(line {line})"))),
            "missing {path} (line {line}) in:\n{err}"
        );
    }
    let errors = err.lines().filter(|l| l.starts_with("error: ")).count();
    assert!(errors >= expected.len());
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with(&format!("{errors} problems in ")),
        "{err}"
    );
    // In file order.
    let lines: Vec<usize> = err
        .lines()
        .filter_map(|l| {
            l.rsplit_once("(line ")
                .and_then(|(_, n)| n.trim_end_matches(')').parse().ok())
        })
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{err}");
}

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.yaml");
    let out = dnsteer(&["check", "--config", path.to_str().unwrap()], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot read configuration file") && err.contains(path.to_str().unwrap()),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------
// Secrets never show.

#[test]
fn secrets_never_appear_in_output() {
    let example = example_text();
    let mut runs: Vec<(String, Vec<(&str, &str)>)> = vec![(example.clone(), EXAMPLE_ENV.to_vec())];
    // Invalid: a literal where a reference belongs, plus an unrelated error.
    runs.push((
        example
            .replacen("api_key: { env: PDNS_B_KEY }", "api_key: s3cr3t-VALUE-xyz-literal", 1)
            .replacen("ttl: 30", "ttl: -1", 1),
        EXAMPLE_ENV.to_vec(),
    ));
    // Invalid: a Slack URL secret whose value is not a URL.
    let mut env = EXAMPLE_ENV.to_vec();
    env.retain(|(k, _)| *k != "SLACK_WEBHOOK_URL");
    env.push(("SLACK_WEBHOOK_URL", "s3cr3t-VALUE-xyz not a url"));
    runs.push((example.clone(), env));
    // Invalid: a literal inside a mapping that is not a reference.
    runs.push((
        example.replacen("{ env: HOOK_SECRET }", "{ value: s3cr3t-VALUE-xyz-map }", 1),
        EXAMPLE_ENV.to_vec(),
    ));

    for (i, (yaml, env)) in runs.iter().enumerate() {
        for extra in [&[][..], &["-v"][..], &["-vv", "--log-format", "json"][..]] {
            let (_dir, out) = check_with(yaml, env, extra);
            let all = format!("{}{}", stdout(&out), stderr(&out));
            let want = if i == 0 { 0 } else { 1 };
            assert_eq!(out.status.code(), Some(want), "run {i} {extra:?}:\n{all}");
            assert!(!all.contains(MARK), "run {i} {extra:?} printed a secret:\n{all}");
        }
    }
}

/// config.example.yaml with every `{ env: NAME }` turned into a `{ file: NAME }` in `dir`.
fn example_with_file_secrets(dir: &Path) -> PathBuf {
    let mut yaml = example_text();
    for (name, value) in EXAMPLE_ENV {
        yaml = yaml.replace(&format!("{{ env: {name} }}"), &format!("{{ file: {name} }}"));
        let path = dir.join(name);
        std::fs::write(&path, format!("{value}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    let config = dir.join("dnsteer.yaml");
    std::fs::write(&config, yaml).unwrap();
    config
}

#[test]
fn loaded_config_debug_and_serialization_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = example_with_file_secrets(dir.path());
    let loaded = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.config;
    let debug = format!("{c:?} {c:#?}");
    let yaml = serde_yaml_ng::to_string(c).unwrap();
    for (_, value) in EXAMPLE_ENV {
        assert!(!debug.contains(value), "Debug shows {value}");
        assert!(!yaml.contains(value), "serialization shows {value}");
    }
    assert!(!debug.contains(MARK) && !yaml.contains(MARK));
    // Still reachable on purpose.
    match &c.providers["pdns-a"] {
        ProviderConfig::Powerdns(p) => assert_eq!(p.api_key.expose(), "s3cr3t-VALUE-xyz-pdns-a"),
        other => panic!("{other:?}"),
    }
    // Serialization writes references, so it loads back to the same configuration.
    let again = config::load_str(&yaml, dir.path()).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(&again.config, c);
}

#[test]
fn settings_resolve_against_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = example_with_file_secrets(dir.path());
    let c = config::load(&path).unwrap_or_else(|e| panic!("{e}")).config;
    let (interval, timeout, health) = c.check_settings("web-us");
    assert_eq!((interval, timeout), (Duration::from_secs(2), Duration::from_secs(1)));
    assert_eq!((health.fall, health.rise, health.window), (2, 4, 5));
    let (interval, timeout, health) = c.check_settings("web-eu");
    assert_eq!((interval, timeout), (Duration::from_secs(5), Duration::from_secs(2)));
    assert_eq!(health, c.defaults.health);
    assert_eq!(
        c.provider_health_settings(),
        (
            Duration::from_secs(5),
            Duration::from_secs(2),
            c.defaults.health.clone()
        )
    );
    assert_eq!(c.providers["pdns-a"].kind(), "powerdns");
    assert_eq!(c.providers["pdns-a"].nameservers(), ["ns1.provider-a.test."]);
    assert_eq!(c.providers["pdns-a"].probe(), ["127.0.0.1:5301"]);
    assert!(matches!(c.checks["api-dns"], CheckConfig::Dns(_)));
    assert_eq!(c.zones[0].records[0].pools[0].check.as_deref(), Some("web-us"));
}

#[test]
fn omitted_sections_get_defaults() {
    let yaml = "providers: {}\nzones: []\n";
    let loaded = config::load_str(yaml, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    let c = loaded.config;
    assert_eq!(c.agent.id, "dnsteer");
    assert_eq!(c.agent.listen.to_string(), "127.0.0.1:9310");
    assert_eq!(c.agent.state_file, Path::new("./dnsteer-state.json"));
    assert_eq!(c.agent.lease.duration, Duration::from_secs(10));
    assert!(c.agent.peers.is_empty() && !c.agent.dry_run);
    assert_eq!(c.defaults.interval, Duration::from_secs(5));
    let h = &c.defaults.health;
    assert_eq!(
        (h.window, h.fail_ratio, h.recover_ratio, h.fall, h.rise),
        (5, 1.0, 0.1, 3, 3)
    );
    assert_eq!(h.hold, Duration::from_secs(60));
    assert_eq!((h.confirm.probes, h.confirm.spacing), (6, Duration::from_millis(125)));
}

// ---------------------------------------------------------------------------------
// No input makes loading panic.

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    SetChar(usize, char),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let ch = prop_oneof![
        Just(':'),
        Just('-'),
        Just(' '),
        Just('\t'),
        Just('\n'),
        Just('['),
        Just('{'),
        Just(']'),
        Just('}'),
        Just('"'),
        Just('\''),
        Just('&'),
        Just('*'),
        Just('!'),
        Just('#'),
        Just('|'),
        Just('>'),
        Just('0'),
        Just('x'),
        Just('.'),
        Just('@'),
        any::<char>(),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<usize>(), ch).prop_map(|(i, c)| Mutation::SetChar(i, c)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match *m {
            Mutation::Delete(i) => {
                lines.remove(i % n);
            }
            Mutation::Duplicate(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::Swap(a, b) => lines.swap(a % n, b % n),
            Mutation::SetChar(i, c) => {
                let mut chars: Vec<char> = lines.join("\n").chars().collect();
                if !chars.is_empty() {
                    let at = i % chars.len();
                    chars[at] = c;
                }
                lines = chars
                    .into_iter()
                    .collect::<String>()
                    .split('\n')
                    .map(str::to_string)
                    .collect();
            }
            Mutation::Truncate(i) => {
                let text = lines.join("\n");
                let cut: String = text.chars().take(i % (text.chars().count() + 1)).collect();
                lines = cut.split('\n').map(str::to_string).collect();
            }
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn loading_never_panics_on_mutated_examples(mutations in prop::collection::vec(mutation(), 1..6)) {
        let text = mutate(&example_text(), &mutations);
        let _ = config::load_str(&text, Path::new("/nonexistent-dnsteer-dir"));
    }

    #[test]
    fn loading_never_panics_on_random_text(
        text in prop_oneof![
            any::<String>(),
            "[a-z_:@&*!|>#%\\-\\[\\]{}, \n\t\"'0-9.]{0,300}",
        ]
    ) {
        let _ = config::load_str(&text, Path::new("/nonexistent-dnsteer-dir"));
    }
}

/// Deep nesting is an error, not a stack overflow: loading runs here on a small stack
/// (512 KiB) that a parser recursing once per level would overflow.
#[test]
fn deep_nesting_is_refused_not_fatal() {
    let inputs = [
        "[".repeat(8_000),
        "{a: ".repeat(3_000),
        "- ".repeat(8_000) + "x",
        format!("providers: {}\nzones: []\n", "[".repeat(1_000) + &"]".repeat(1_000)),
        (0..300)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect::<String>(),
    ];
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            for text in &inputs {
                assert!(config::load_str(text, Path::new(".")).is_err());
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Issue 11: a check's host that does not resolve is a configuration error at its path
/// and line, for every kind (`.invalid` never resolves, and is never sent anywhere).
#[test]
fn check_hosts_that_do_not_resolve_are_errors() {
    let web = "web: { kind: tcp, address: \"192.0.2.10:443\" }";
    for (check, path) in [
        (
            "web: { kind: http, url: \"http://east.shop.invalid:38080/healthz\" }",
            "checks.web.url",
        ),
        (
            "web: { kind: tcp, address: \"east.shop.invalid:443\" }",
            "checks.web.address",
        ),
        (
            "web: { kind: dns, server: \"ns.shop.invalid\", query: { name: www.example.test., type: A } }",
            "checks.web.server",
        ),
    ] {
        let yaml = base_with(web, check);
        let err = assert_error(&yaml, path, "shop.invalid");
        assert!(err.contains("does not resolve"), "{err}");
    }
    let yaml = base_with(
        "    nameservers: [ ns1.provider-a.test. ]\n",
        "    nameservers: [ ns1.provider-a.test. ]\n    probe: [ \"ns.a.invalid:53\" ]\n",
    );
    assert_error(&yaml, "providers.pdns-a.probe[0]", "ns.a.invalid");
    let ok = base_with(web, "web: { kind: http, url: \"http://localhost:38080/healthz\" }");
    let (_dir, out) = check_with(&ok, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Issue 11: `nameservers` may be omitted where they can be read from the provider;
/// a server sharing a zone is refused, since its apex NS set names every provider.
#[test]
fn nameservers_are_needed_only_where_they_cannot_be_read() {
    let yaml = base_with("    nameservers: [ ns1.provider-b.test. ]\n", "");
    let err = assert_error(&yaml, "providers.pdns-b.nameservers", "pdns-b:");
    assert!(err.contains("apex NS set"), "{err}");

    let alone = base_with("    nameservers: [ ns1.provider-b.test. ]\n", "")
        .replace("providers: [ pdns-a, pdns-b ]", "providers: [ pdns-b ]");
    let (_dir, out) = check_with(&alone, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let cloud = BASE.replace(
        "  pdns-b:\n    kind: powerdns\n    url: http://127.0.0.1:8082\n    api_key: { env: T_KEY }\n    nameservers: [ ns1.provider-b.test. ]\n",
        "  pdns-b:\n    kind: route53\n    access_key_id: { env: T_KEY }\n    secret_access_key: { env: T_KEY }\n",
    );
    assert_ne!(cloud, BASE);
    let (_dir, out) = check_with(&cloud, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Route 53's GetChange wait is set in YAML; a poll longer than the wait, or a zero
/// one, is refused.
#[test]
fn route53_change_timeout_and_poll_interval() {
    let route53 =
        "  pdns-b:\n    kind: route53\n    access_key_id: { env: T_KEY }\n    secret_access_key: { env: T_KEY }\n";
    let base = BASE.replace(
        "  pdns-b:\n    kind: powerdns\n    url: http://127.0.0.1:8082\n    api_key: { env: T_KEY }\n",
        route53,
    );
    let ok = base.replace(
        route53,
        &format!("{route53}    change_timeout: 2m\n    poll_interval: 5s\n"),
    );
    let (_dir, out) = check_with(&ok, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let slow = base.replace(
        route53,
        &format!("{route53}    change_timeout: 2s\n    poll_interval: 5s\n"),
    );
    assert_error(&slow, "providers.pdns-b.poll_interval", "poll_interval: 5s");
    let zero = base.replace(route53, &format!("{route53}    poll_interval: 0s\n"));
    assert_error(&zero, "providers.pdns-b.poll_interval", "poll_interval: 0s");
}

/// Issue 11: what building the adapters refuses at the start of `plan` and `run` is
/// refused by `check`, at the provider's line.
#[test]
fn what_the_adapters_refuse_check_refuses() {
    let tsig = "    tsig: { name: steer-key., algorithm: hmac-sha256, secret: { env: T_KEY } }\n";
    let yaml = base_with(
        tsig,
        "    tsig: { name: steer-key., algorithm: hmac-sha256, secret: { env: NOT_BASE64 } }\n",
    );
    let env = [BASE_ENV[0], ("NOT_BASE64", "*** not base64 ***")];
    let err = assert_error_env(&yaml, &env, "providers.parent", "  parent:");
    assert!(err.contains("base64"), "{err}");

    let yaml = base_with("    server: 127.0.0.1:5300\n", "    server: localhost:5300\n");
    let err = assert_error(&yaml, "providers.parent", "  parent:");
    assert!(err.contains("address:port"), "{err}");

    // Route 53 without keys takes the standard AWS environment; with none, it is refused.
    let yaml = base_with(
        "  pdns-b:\n    kind: powerdns\n    url: http://127.0.0.1:8082\n    api_key: { env: T_KEY }\n",
        "  pdns-b:\n    kind: route53\n",
    );
    let err = assert_error(&yaml, "providers.pdns-b", "pdns-b:");
    assert!(err.contains("no AWS credentials"), "{err}");
}

/// What `run` would stop at before touching the network is said by `check`: a state
/// file whose folder is missing is a warning (the file may be checked elsewhere).
#[test]
fn a_state_folder_that_does_not_exist_is_a_warning() {
    let yaml = format!("agent:\n  state_file: /nonexistent-dnsteer-dir/state.json\n{BASE}");
    let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: agent.state_file: folder /nonexistent-dnsteer-dir")
            && stderr(&out).contains("`dnsteer run` would not start here"),
        "{}",
        stderr(&out)
    );
}

/// `BASE` with its second provider at NS1: the key a secret reference, the endpoint
/// optional.
fn base_with_ns1(provider: &str) -> String {
    base_with(
        "  pdns-b:\n    kind: powerdns\n    url: http://127.0.0.1:8082\n    api_key: { env: T_KEY }\n    nameservers: [ ns1.provider-b.test. ]\n",
        provider,
    )
    .replace("[ pdns-a, pdns-b ]", "[ pdns-a, ns ]")
}

#[test]
fn ns1_provider_takes_a_key_reference_and_an_optional_endpoint() {
    let yaml =
        base_with_ns1("  ns:\n    kind: ns1\n    api_key: { env: T_KEY }\n    nameservers: [ dns1.p01.nsone.net. ]\n");
    let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let with_endpoint = yaml.replace(
        "    kind: ns1\n",
        "    kind: ns1\n    endpoint: https://api.nsone.net/v1\n",
    );
    let (_dir, out) = check_with(&with_endpoint, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let bad_endpoint = yaml.replace("    kind: ns1\n", "    kind: ns1\n    endpoint: api.nsone.net\n");
    assert_error(&bad_endpoint, "providers.ns.endpoint", "api.nsone.net");
    let literal = yaml.replace(
        "api_key: { env: T_KEY }\n    nameservers: [ dns1",
        "api_key: s3cr3t-VALUE-xyz-ns1\n    nameservers: [ dns1",
    );
    let err = assert_error(&literal, "providers.ns.api_key", "xyz-ns1");
    assert!(!err.contains(MARK), "the literal is echoed:\n{err}");
    let unset = yaml.replace(
        "api_key: { env: T_KEY }\n    nameservers: [ dns1",
        "api_key: { env: T_NS1 }\n    nameservers: [ dns1",
    );
    let err = assert_error(&unset, "providers.ns.api_key", "T_NS1");
    assert!(err.contains("T_NS1 is not set"), "{err}");
    let unknown = yaml.replace("    kind: ns1\n", "    kind: ns1\n    api_token: { env: T_KEY }\n");
    assert_error(&unknown, "providers.ns.api_token", "api_token");
}

/// `kind: azure`: ids, the resource group and the URLs checked at their path and line,
/// the client secret a reference like every other secret.
#[test]
fn azure_provider_fields() {
    // (No line continuation here: it would eat the first line's indent.)
    let azure = "  az:
    kind: azure
    tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
    client_id: 04b07795-8ddb-461a-bbee-02f9e1bf7b46
    client_secret: { env: T_KEY }
    subscription_id: 00000000-1111-2222-3333-444444444444
    resource_group: dns-rg
    nameservers: [ ns1-01.azure-dns.com. ]
zones:
";
    let yaml = base_with("zones:\n", azure).replace("providers: [ pdns-a, pdns-b ]", "providers: [ pdns-a, az ]");
    let (_dir, out) = check_with(&yaml, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Conditional requests per record set: Azure DNS can hold the pair's lease record.
    let pair = format!(
        "agent:\n  api_token: {{ env: T_KEY }}\n  peers: [ \"http://127.0.0.1:9311\" ]\n  lease:\n    witness: az\n{yaml}"
    );
    let (_dir, out) = check_with(&pair, BASE_ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let bad = yaml.replace("client_id: 04b07795-8ddb-461a-bbee-02f9e1bf7b46", "client_id: my-app");
    let err = assert_error(&bad, "providers.az.client_id", "client_id: my-app");
    assert!(err.contains("must be a GUID"), "{err}");
    let bad = yaml.replace(
        "subscription_id: 00000000-1111-2222-3333-444444444444",
        "subscription_id: 00000000-1111-2222-3333",
    );
    assert_error(&bad, "providers.az.subscription_id", "subscription_id:");
    let bad = yaml.replace("resource_group: dns-rg", "resource_group: dns/rg");
    assert_error(&bad, "providers.az.resource_group", "resource_group:");
    let bad = yaml.replace(
        "    resource_group: dns-rg\n",
        "    resource_group: dns-rg\n    endpoint: management.test\n",
    );
    assert_error(&bad, "providers.az.endpoint", "endpoint:");
    let bad = yaml.replace(
        "    resource_group: dns-rg\n",
        "    resource_group: dns-rg\n    authority: login.test\n",
    );
    assert_error(&bad, "providers.az.authority", "authority:");
    let bad = yaml.replace("client_secret: { env: T_KEY }", "client_secret: s3cr3t-VALUE-xyz-azure");
    let err = assert_error(&bad, "providers.az.client_secret", "client_secret:");
    assert!(!err.contains(MARK), "the literal is echoed:\n{err}");
    let bad = yaml.replace("    tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47\n", "");
    let err = assert_error(&bad, "providers.az", "  az:");
    assert!(err.contains("tenant_id"), "{err}");
}
