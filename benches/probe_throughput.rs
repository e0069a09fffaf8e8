//! DNS probe throughput on one core, next to dnsperf against the same PowerDNS.
//!
//! dnsteer's side is the real `DnsProber` (a provider's health probe: the zone's SOA,
//! non-recursive, rcode and AA checked, serial read), N probers looping back to back on
//! one tokio current-thread runtime, the whole process pinned to CPU 1 with `taskset`.
//! The reference is `dnsperf -c 5` uncapped, asking the same question of the same
//! server from both CPUs (and, for information, from CPU 1 alone). PowerDNS runs on CPU
//! 0. The sides alternate for a few rounds and each keeps its best round, so that
//! other work on the machine weighs on both alike. Run by `scripts/bench.sh`; alone:
//! `cargo bench --bench probe_throughput [-- --quick] [-- --seconds S --rounds R --probers N]`.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dnsteer::probe::{DnsProber, Prober};
use support::{rrset, thousands, yes_no, Opts, PowerDns, Row};
use tokio::task::JoinSet;

const ZONE: &str = "bench.test.";

/// dnsperf's default limit of queries in flight is 100: as many probers as that.
const DEFAULT_PROBERS: usize = 100;

/// dnsteer needs at least this share of dnsperf's rate.
const AIM: f64 = 0.5;

/// What one timed run of the probers did.
struct Run {
    ok: u64,
    failed: u64,
    elapsed: Duration,
    cpu: Option<Duration>,
    first_failure: Option<String>,
}

/// A rate and the CPU time spent on it.
#[derive(Clone, Copy)]
struct Rate {
    per_second: f64,
    /// CPU time used over the wall time: 1.0 is one core kept busy.
    cores: Option<f64>,
}

impl Rate {
    fn show(&self, unit: &str) -> String {
        let cores = self.cores.map(|c| format!(" ({c:.2} cores busy)")).unwrap_or_default();
        format!("{} {unit}/s{cores}", thousands(self.per_second))
    }
}

/// The best of several rounds: each side gets the round least disturbed by whatever
/// else the machine was doing.
fn best(rates: &[Rate]) -> Rate {
    rates
        .iter()
        .copied()
        .max_by(|a, b| a.per_second.total_cmp(&b.per_second))
        .expect("at least one round")
}

fn main() -> anyhow::Result<()> {
    let opts = Opts::from_env();
    let seconds: u64 = opts.value("seconds").unwrap_or(if opts.quick { 2 } else { 5 });
    let rounds: usize = opts.value("rounds").unwrap_or(if opts.quick { 1 } else { 3 }).max(1);
    let probers: usize = opts.value("probers").unwrap_or(DEFAULT_PROBERS);
    let pin = support::can_pin();
    let dnsperf = support::require("dnsperf")?;
    if pin {
        // Before any runtime exists, so every thread this process starts stays on CPU 1.
        support::pin_self("1")?;
    }

    let pdns = PowerDns::start(pin.then_some("0"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(pdns.create_zone(ZONE, serde_json::json!([rrset(ZONE, "NS", 300, &["ns1.bench.test."])])))?;
    let queries = tempfile::NamedTempFile::new()?;
    std::fs::write(queries.path(), format!("{ZONE} SOA\n"))?;
    let probe_side = runtime.block_on(probers_for(pdns.dns, probers))?;

    println!(
        "== DNS probe throughput: {rounds} rounds of {seconds} s per side, PowerDNS {}",
        pdns.dns
    );
    if pin {
        println!("   PowerDNS pinned to CPU 0; dnsteer's probers pinned to CPU 1; dnsperf on both, then on CPU 1");
    } else {
        println!("   taskset or a second CPU missing: nothing pinned (dnsteer still runs on one thread)");
    }
    let (mut perf, mut perf_one, mut ours) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let r = run_dnsperf(&dnsperf, pin.then_some("0,1"), pdns.dns, queries.path(), seconds)?;
        println!(
            "   round {round}: dnsperf -c 5 uncapped, both CPUs: {}",
            r.show("queries")
        );
        perf.push(r);
        if pin {
            let r = run_dnsperf(&dnsperf, Some("1"), pdns.dns, queries.path(), seconds)?;
            println!(
                "   round {round}: dnsperf -c 5 uncapped, CPU 1:     {}",
                r.show("queries")
            );
            perf_one.push(r);
        }
        let run = runtime.block_on(probe_for(&probe_side, Duration::from_secs(seconds)));
        let r = Rate {
            per_second: run.ok as f64 / run.elapsed.as_secs_f64(),
            cores: run.cpu.map(|c| c.as_secs_f64() / run.elapsed.as_secs_f64()),
        };
        println!(
            "   round {round}: dnsteer, {probers} DnsProbers, current-thread runtime: {} ({} failed)",
            r.show("probes"),
            run.failed
        );
        if let Some(reason) = &run.first_failure {
            println!("   round {round}: first failed probe (failures are not counted): {reason}");
        }
        ours.push(r);
    }

    let (ours, reference) = (best(&ours), best(&perf));
    let ratio = ours.per_second / reference.per_second;
    let core = if pin { "one pinned core" } else { "one thread" };
    Row {
        figure: &format!("DNS probes/s (SOA), {probers} probers, {core}, best of {rounds} x {seconds} s"),
        dnsteer: &format!("{}/s", thousands(ours.per_second)),
        reference: &format!("dnsperf -c 5 uncapped: {}/s", thousands(reference.per_second)),
        ratio: &format!("{ratio:.2}x"),
        aim: &format!(">= {AIM}x dnsperf"),
        met: yes_no(ratio >= AIM),
    }
    .report();
    if let (Some(a), Some(b)) = (ours.cores, reference.cores) {
        let (a, b) = (ours.per_second / a, reference.per_second / b);
        Row {
            figure: "  same, per CPU-second the client kept busy (info)",
            dnsteer: &format!("{}/CPU-s", thousands(a)),
            reference: &format!("dnsperf: {}/CPU-s", thousands(b)),
            ratio: &format!("{:.2}x", a / b),
            aim: "-",
            met: "-",
        }
        .report();
    }
    if !perf_one.is_empty() {
        let one = best(&perf_one);
        Row {
            figure: "  same, dnsperf also pinned to dnsteer's core (info)",
            dnsteer: &format!("{}/s", thousands(ours.per_second)),
            reference: &format!("dnsperf -c 5 on CPU 1: {}/s", thousands(one.per_second)),
            ratio: &format!("{:.2}x", ours.per_second / one.per_second),
            aim: "-",
            met: "-",
        }
        .report();
    }
    Ok(())
}

/// `dnsperf -s 127.0.0.1 -p PORT -d QUERIES -l SECONDS -c 5`, uncapped, on `cpus`.
fn run_dnsperf(
    dnsperf: &std::path::Path,
    cpus: Option<&str>,
    server: SocketAddr,
    queries: &std::path::Path,
    seconds: u64,
) -> anyhow::Result<Rate> {
    let mut command: Command = support::command_on(cpus, dnsperf);
    command
        .args(["-s", &server.ip().to_string(), "-p", &server.port().to_string(), "-d"])
        .arg(queries)
        .args(["-l", &seconds.to_string(), "-c", "5"]);
    let cpu_before = support::children_cpu_time();
    let start = Instant::now();
    let out = command.output().context("running dnsperf")?;
    let elapsed = start.elapsed();
    let cpu = cpu_before
        .zip(support::children_cpu_time())
        .map(|(a, b)| b.saturating_sub(a));
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "dnsperf failed ({}):\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let field = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let qps = field("Queries per second:").with_context(|| format!("no 'Queries per second' in:\n{text}"))?;
    if let Some(lost) = field("Queries lost:").filter(|l| *l > 0.0) {
        println!("   (dnsperf lost {lost} queries)");
    }
    Ok(Rate {
        per_second: qps,
        cores: cpu.map(|c| c.as_secs_f64() / elapsed.as_secs_f64()),
    })
}

/// `count` provider probes of the zone at `server`, checked once.
async fn probers_for(server: SocketAddr, count: usize) -> anyhow::Result<Vec<Arc<DnsProber>>> {
    let probers: Vec<Arc<DnsProber>> = (0..count)
        .map(|i| {
            DnsProber::for_provider(&format!("provider:bench-{i}"), server, ZONE, Duration::from_secs(1)).map(Arc::new)
        })
        .collect::<Result<_, _>>()?;
    let check = probers[0].probe().await;
    if !check.ok {
        bail!("the first probe failed: {:?}", check.reason);
    }
    Ok(probers)
}

/// Runs the probers back to back for a short warm-up, then for `duration`, and counts
/// the probes of the timed part.
async fn probe_for(probers: &[Arc<DnsProber>], duration: Duration) -> Run {
    // Warm-up: every prober has its socket open, the allocator and caches settle.
    probe_loop(probers, Duration::from_millis(500)).await;
    let cpu_before = support::cpu_time();
    let start = Instant::now();
    let mut run = probe_loop(probers, duration).await;
    run.elapsed = start.elapsed();
    run.cpu = cpu_before.zip(support::cpu_time()).map(|(a, b)| b.saturating_sub(a));
    run
}

async fn probe_loop(probers: &[Arc<DnsProber>], duration: Duration) -> Run {
    let end = Instant::now() + duration;
    let mut tasks = JoinSet::new();
    for prober in probers {
        let prober = Arc::clone(prober);
        tasks.spawn(async move {
            let (mut ok, mut failed, mut first_failure) = (0u64, 0u64, None);
            while Instant::now() < end {
                let result = prober.probe().await;
                if result.ok {
                    ok += 1;
                } else {
                    failed += 1;
                    first_failure.get_or_insert(format!("{}: {:?}", result.class, result.reason));
                }
            }
            (ok, failed, first_failure)
        });
    }
    let mut run = Run {
        ok: 0,
        failed: 0,
        elapsed: duration,
        cpu: None,
        first_failure: None,
    };
    while let Some(joined) = tasks.join_next().await {
        let (ok, failed, first_failure) = joined.expect("a probe loop panicked");
        run.ok += ok;
        run.failed += failed;
        if run.first_failure.is_none() {
            run.first_failure = first_failure;
        }
    }
    run
}
