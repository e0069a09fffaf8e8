//! `dnsteer plan` against a PowerDNS zone holding 10,000 records it does not manage,
//! next to `octodns-sync` (plan only, no `--doit`) planning the same zone.
//!
//! Both read the whole zone through the PowerDNS API and both find nothing to change:
//! dnsteer's three managed record sets are in sync (health forced with `--assume`, so no
//! probe time counts), and octoDNS's desired zone holds every record the server has.
//! Each side is the real command, timed end to end with process start-up, median of
//! several runs after one untimed warm-up run. Run by `scripts/bench.sh`; alone:
//! `cargo bench --bench plan_vs_octodns [-- --quick] [-- --runs N --records N]`
//! (octoDNS from `.venv-bench/`, or the `octodns-sync` named by `OCTODNS_SYNC`).

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use support::{median, rrset, secs, thousands, yes_no, Opts, PowerDns, Row, PDNS_KEY};

const ZONE: &str = "example.test.";
const NAMESERVER: &str = "ns1.bench.test.";
const DEFAULT_RECORDS: usize = 10_000;
/// Records per PATCH when filling the zone.
const BATCH: usize = 1_000;
const TTL: u32 = 300;
/// dnsteer must plan at least this many times faster than octoDNS.
const AIM: f64 = 10.0;

/// Health is forced, so the checks are never probed: their addresses need not exist.
const DNSTEER_CONFIG: &str = r#"
defaults: { interval: 1s, timeout: 500ms }
providers:
  pdns:
    kind: powerdns
    url: @API@
    api_key: { env: PDNS_API_KEY }
    nameservers: [ @NS@ ]
    probe: [ "@DNS@" ]
zones:
  - name: example.test.
    providers: [ pdns ]
    records:
      - name: www
        type: A
        ttl: 60
        policy: failover
        pools:
          - { name: us-east, priority: 1, values: [ 192.0.2.10 ], check: web-us }
          - { name: eu-west, priority: 2, values: [ 198.51.100.10 ], check: web-eu }
      - name: www
        type: AAAA
        ttl: 60
        policy: all-healthy
        pools:
          - { name: us-east, values: [ "2001:db8::10" ], check: web-us }
          - { name: eu-west, values: [ "2001:db8:1::10" ], check: web-eu }
      - name: api
        type: CNAME
        ttl: 60
        pools:
          - { name: primary, priority: 1, values: [ api-us.example.test. ], check: web-us }
          - { name: backup, priority: 2, values: [ api-eu.example.test. ] }
checks:
  web-us: { kind: http, url: "http://127.0.0.1:9/healthz" }
  web-eu: { kind: tcp, address: "127.0.0.1:9" }
"#;

const ASSUME: [&str; 3] = ["check:web-us=up", "check:web-eu=up", "provider:pdns=up"];

/// The recipe's octoDNS configuration (`../shared/recipes/octodns-config.example.yaml`).
const OCTODNS_CONFIG: &str = r#"
manager:
  max_workers: 1
providers:
  config:
    class: octodns.provider.yaml.YamlProvider
    directory: @DIR@/config
    default_ttl: 60
    enforce_order: false
  pdns:
    class: octodns_powerdns.PowerDnsProvider
    host: 127.0.0.1
    port: @PORT@
    api_key: env/PDNS_API_KEY
    timeout: 30
zones:
  example.test.:
    sources: [config]
    targets: [pdns]
"#;

/// The managed record sets as they stand when in sync (www A on us-east, both AAAA,
/// api on the primary), in PowerDNS's form.
fn managed() -> Vec<serde_json::Value> {
    vec![
        rrset("www.example.test.", "A", 60, &["192.0.2.10"]),
        rrset("www.example.test.", "AAAA", 60, &["2001:db8::10", "2001:db8:1::10"]),
        rrset("api.example.test.", "CNAME", 60, &["api-us.example.test."]),
    ]
}

/// The `i`th unmanaged record: a mix of A, AAAA, TXT, CNAME and MX, one value each.
/// Returns its relative name, type, PowerDNS content and octoDNS YAML value.
fn extra(i: usize) -> (String, &'static str, String, String) {
    let name = format!("h{i:05}");
    match i % 10 {
        0..=3 => {
            let v = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff);
            (name, "A", v.clone(), v)
        }
        4 | 5 => {
            let v = format!("2001:db8:2::{i:x}");
            (name, "AAAA", v.clone(), v)
        }
        6 | 7 => (
            name,
            "TXT",
            format!("\"bench record {i}\""),
            format!("bench record {i}"),
        ),
        8 => {
            let v = format!("target-{i}.example.net.");
            (name, "CNAME", v.clone(), v)
        }
        _ => (
            name,
            "MX",
            format!("10 mx{i}.example.net."),
            format!("{{preference: 10, exchange: mx{i}.example.net.}}"),
        ),
    }
}

fn main() -> anyhow::Result<()> {
    let opts = Opts::from_env();
    let runs: usize = opts.value("runs").unwrap_or(if opts.quick { 3 } else { 5 }).max(1);
    let records: usize = opts.value("records").unwrap_or(DEFAULT_RECORDS);
    let dnsteer = PathBuf::from(env!("CARGO_BIN_EXE_dnsteer"));
    let octodns = octodns_sync()?;

    let pdns = PowerDns::start(None)?;
    let filled = Instant::now();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(fill_zone(&pdns, records))?;
    println!(
        "== plan of a {} + 3 record zone, PowerDNS API {} (filled through the API in batches of {BATCH} in {:.1} s)",
        thousands(records as f64),
        pdns.api_url,
        filled.elapsed().as_secs_f64()
    );

    let dir = tempfile::Builder::new().prefix("dnsteer-bench-plan").tempdir()?;
    let config = dir.path().join("dnsteer.yaml");
    std::fs::write(
        &config,
        DNSTEER_CONFIG
            .replace("@API@", &pdns.api_url)
            .replace("@NS@", NAMESERVER)
            .replace("@DNS@", &pdns.dns.to_string()),
    )?;
    let octodns_config = write_octodns(dir.path(), &pdns, records)?;

    let dnsteer_run = || {
        let mut c = Command::new(&dnsteer);
        c.arg("--config").arg(&config).args(["plan", "--format", "json"]);
        for a in ASSUME {
            c.args(["--assume", a]);
        }
        c.env("PDNS_API_KEY", PDNS_KEY);
        c
    };
    let octodns_run = || {
        let mut c = Command::new(&octodns);
        c.arg(format!("--config-file={}", octodns_config.display()));
        c.env("PDNS_API_KEY", PDNS_KEY).current_dir(dir.path());
        c
    };

    // The untimed warm-up runs also check that both tools find the zone in sync.
    let out = run(dnsteer_run())?;
    check_dnsteer_in_sync(&out)?;
    let out = run(octodns_run())?;
    check_octodns_in_sync(&out)?;
    println!("   both in sync before timing: dnsteer plans 0 changes (exit 0), octoDNS plans no changes");

    let dnsteer_times = time_runs(runs, dnsteer_run, check_dnsteer_in_sync)?;
    let octodns_times = time_runs(runs, octodns_run, check_octodns_in_sync)?;
    let list = |t: &[Duration]| {
        t.iter()
            .map(|d| format!("{:.3}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("   dnsteer plan (release, --assume): {} s", list(&dnsteer_times));
    println!("   octodns-sync (plan only):         {} s", list(&octodns_times));

    // What process start-up alone costs each side: a run that only prints the version.
    let version = |program: &Path| {
        let mut c = Command::new(program);
        c.arg("--version");
        c
    };
    let accept_any = |_: &Output| Ok(());
    let start_ours = median(&time_runs(runs, || version(&dnsteer), accept_any)?);
    let start_theirs = median(&time_runs(runs, || version(&octodns), accept_any)?);
    println!(
        "   start-up alone (--version, median): dnsteer {}, octodns-sync {}",
        secs(start_ours),
        secs(start_theirs)
    );

    let (ours, theirs) = (median(&dnsteer_times), median(&octodns_times));
    let ratio = theirs.as_secs_f64() / ours.as_secs_f64();
    Row {
        figure: &format!(
            "plan, {} unmanaged + 3 managed rrsets, in sync, median of {runs}, with process start",
            thousands(records as f64)
        ),
        dnsteer: &secs(ours),
        reference: &format!("octodns-sync: {}", secs(theirs)),
        ratio: &format!("{ratio:.1}x faster"),
        aim: &format!(">= {AIM}x faster"),
        met: yes_no(ratio >= AIM),
    }
    .report();
    Ok(())
}

/// `octodns-sync` from `OCTODNS_SYNC`, or the project's `.venv-bench/`.
fn octodns_sync() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("OCTODNS_SYNC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-bench/bin/octodns-sync"));
    if !path.is_file() {
        bail!(
            "{} not found: run scripts/bench.sh, which installs octoDNS into .venv-bench/",
            path.display()
        );
    }
    Ok(path)
}

async fn fill_zone(pdns: &PowerDns, records: usize) -> anyhow::Result<()> {
    let mut apex = vec![rrset(ZONE, "NS", TTL, &[NAMESERVER])];
    apex.extend(managed());
    pdns.create_zone(ZONE, serde_json::Value::Array(apex)).await?;
    let all: Vec<_> = (0..records)
        .map(|i| {
            let (name, rtype, content, _) = extra(i);
            rrset(&format!("{name}.{ZONE}"), rtype, TTL, &[&content])
        })
        .collect();
    for batch in all.chunks(BATCH) {
        pdns.replace(ZONE, batch.to_vec()).await?;
    }
    Ok(())
}

/// octoDNS's configuration and its desired zone: every record the server holds but the
/// SOA and apex NS (which octoDNS leaves alone here), so that it plans no change.
fn write_octodns(dir: &Path, pdns: &PowerDns, records: usize) -> anyhow::Result<PathBuf> {
    let port = pdns.api_url.rsplit(':').next().context("API port")?;
    std::fs::create_dir_all(dir.join("config"))?;
    let mut zone = String::from("---\n");
    zone.push_str("api:\n  type: CNAME\n  ttl: 60\n  value: api-us.example.test.\n");
    zone.push_str("www:\n  - type: A\n    ttl: 60\n    value: 192.0.2.10\n");
    zone.push_str("  - type: AAAA\n    ttl: 60\n    values: [\"2001:db8::10\", \"2001:db8:1::10\"]\n");
    for i in 0..records {
        let (name, rtype, _, value) = extra(i);
        writeln!(zone, "{name}:\n  type: {rtype}\n  ttl: {TTL}\n  value: {value}")?;
    }
    std::fs::write(dir.join("config").join(format!("{ZONE}yaml")), zone)?;
    let path = dir.join("octodns.yaml");
    let dir = dir.to_str().context("temporary folder path is not UTF-8")?;
    std::fs::write(&path, OCTODNS_CONFIG.replace("@DIR@", dir).replace("@PORT@", port))?;
    Ok(path)
}

fn run(mut command: Command) -> anyhow::Result<Output> {
    command.output().with_context(|| format!("running {command:?}"))
}

fn time_runs(
    runs: usize,
    command: impl Fn() -> Command,
    check: impl Fn(&Output) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut c = command();
        let start = Instant::now();
        let out = c.output().with_context(|| format!("running {c:?}"))?;
        times.push(start.elapsed());
        check(&out)?;
    }
    Ok(times)
}

fn show(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn check_dnsteer_in_sync(out: &Output) -> anyhow::Result<()> {
    let plan: serde_json::Value =
        serde_json::from_slice(&out.stdout).with_context(|| format!("dnsteer plan printed no JSON:\n{}", show(out)))?;
    let changes = plan["changes"].as_array().map_or(usize::MAX, Vec::len);
    if out.status.code() != Some(0) || changes != 0 {
        bail!("dnsteer plan is not in sync ({changes} changes):\n{}", show(out));
    }
    Ok(())
}

fn check_octodns_in_sync(out: &Output) -> anyhow::Result<()> {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !text.contains("No changes were planned") {
        bail!("octodns-sync does not plan an empty change set:\n{}", show(out));
    }
    Ok(())
}
