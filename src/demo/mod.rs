//! `dnsteer demo`: a self-contained failover walk-through on loopback, nothing installed.
//!
//! In-process stand-ins for three DNS providers ([`standin`]: two serving `example.test.`,
//! one the parent `test.`; each an authoritative hickory-server plus the subset of the
//! PowerDNS v1 API that the `powerdns` adapter uses), two regional HTTP endpoints
//! ([`endpoint`]) and one real daemon ([`crate::daemon::run`]) with a generated
//! configuration. The script fails a region, then a provider, brings each back, and
//! prints what every provider answers over real DNS ([`observe`]) as it happens. Every
//! wait is bounded; every socket is on 127.0.0.0/8.

mod endpoint;
mod observe;
mod standin;
mod zone;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hickory_proto::rr::RecordType;

use endpoint::Endpoint;
use observe::{query, Answer};
use standin::StandIn;
use zone::{WireRecord, WireRrSet};

/// What the command line can change.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long each step may take before the demo gives up on it.
    pub step_timeout: Duration,
}

const ZONE: &str = "example.test.";
const WWW: &str = "www.example.test.";
const US: &str = "192.0.2.10";
const EU: &str = "198.51.100.10";
const NS_A: &str = "ns1.provider-a.test.";
const NS_B: &str = "ns1.provider-b.test.";
const US_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const EU_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// How often the world is looked at.
const POLL: Duration = Duration::from_millis(50);
/// The fast health settings of the walk-through.
const DEFAULTS: &str = "{ interval: 200ms, timeout: 150ms, health: { window: 3, fail_ratio: 0.5, recover_ratio: 0.1, fall: 2, rise: 2, hold: 1s } }";
/// The longest the daemon may take to stop once asked (its own grace is 15 s).
const DAEMON_STOP: Duration = Duration::from_secs(20);

/// The HTTP client of the providers' adapters needs a TLS crypto provider installed,
/// even for plain HTTP.
pub(crate) fn install_crypto() {
    dnsteer_providers::http::install_crypto_provider();
}

/// Runs the walk-through; `Ok(true)` when every step happened in time.
pub async fn run(options: &Options) -> anyhow::Result<bool> {
    let started = Instant::now();
    install_crypto();
    let world = World::start().await?;
    world.print_setup();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon_done = Arc::new(AtomicBool::new(false));
    let daemon = {
        let done = daemon_done.clone();
        let config = world.config.clone();
        async move {
            let result = bounded_daemon(&config, stop_rx).await;
            done.store(true, Ordering::SeqCst);
            result
        }
    };
    let script = async {
        let steps = Script::new(&world, options, &daemon_done).run().await;
        let _ = stop_tx.send(());
        steps
    };
    let (steps, daemon) = tokio::join!(script, daemon);
    world.stop().await;
    if let Err(e) = daemon {
        println!("\nThe daemon stopped with an error: {e:#}");
        return Err(e.context("the demo's daemon failed"));
    }
    Ok(summary(&steps, started.elapsed()))
}

/// The daemon until `stop` fires, then at most [`DAEMON_STOP`] more.
async fn bounded_daemon(config: &Path, stop: tokio::sync::oneshot::Receiver<()>) -> anyhow::Result<()> {
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stop.await;
        let _ = stopping_tx.send(());
    };
    let daemon = crate::daemon::run(config, shutdown);
    let deadline = async move {
        let _ = stopping_rx.await;
        tokio::time::sleep(DAEMON_STOP).await;
    };
    tokio::select! {
        result = daemon => result,
        _ = deadline => anyhow::bail!("the daemon did not stop within {DAEMON_STOP:?}"),
    }
}

/// Everything the demo runs besides the daemon.
struct World {
    a: StandIn,
    b: StandIn,
    parent: StandIn,
    us: Endpoint,
    eu: Endpoint,
    dir: TempDir,
    config: PathBuf,
    api: String,
    http: reqwest::Client,
}

fn rrset(name: &str, rtype: &str, ttl: u32, contents: &[&str]) -> WireRrSet {
    WireRrSet {
        name: name.to_string(),
        rtype: rtype.to_string(),
        ttl: Some(ttl),
        changetype: None,
        records: contents
            .iter()
            .map(|c| WireRecord {
                content: c.to_string(),
                disabled: false,
            })
            .collect(),
    }
}

/// A random secret, hex.
fn secret() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl World {
    async fn start() -> anyhow::Result<Self> {
        let keys = [secret(), secret(), secret()];
        // Both providers start in sync: www on us-east, both listed at the apex, plus a
        // record dnsteer does not manage.
        let child = |ns: &str| {
            vec![
                rrset(
                    ZONE,
                    "SOA",
                    300,
                    &[&format!("{ns} hostmaster.example.test. 1 3600 600 86400 60")],
                ),
                rrset(ZONE, "NS", 300, &[NS_A, NS_B]),
                rrset(WWW, "A", 30, &[US]),
                rrset("mail.example.test.", "A", 60, &["192.0.2.25"]),
            ]
        };
        let a = StandIn::start("provider-a", ZONE, &child(NS_A), &keys[0]).await?;
        let b = StandIn::start("provider-b", ZONE, &child(NS_B), &keys[1]).await?;
        let parent_zone = [
            rrset(
                "test.",
                "SOA",
                300,
                &["ns1.parent.test. hostmaster.test. 1 3600 600 86400 60"],
            ),
            rrset("test.", "NS", 300, &["ns1.parent.test."]),
            rrset(ZONE, "NS", 300, &[NS_A, NS_B]),
        ];
        let parent = StandIn::start("parent", "test.", &parent_zone, &keys[2]).await?;
        let us = Endpoint::start(US_IP).await?;
        let eu = Endpoint::start(EU_IP).await?;

        let dir = TempDir::new()?;
        let token = secret();
        for (file, value) in [
            ("provider-a.key", &keys[0]),
            ("provider-b.key", &keys[1]),
            ("parent.key", &keys[2]),
            ("api.token", &token),
        ] {
            write_private(&dir.0.join(file), value)?;
        }
        let listen = free_port()?;
        let config = dir.0.join("dnsteer.yaml");
        let text = format!(
            r#"# Generated by `dnsteer demo`.
agent:
  id: demo
  listen: "{listen}"
  state_file: "{state}"
  api_token: {{ file: api.token }}
  lease: {{ duration: 2s }}
defaults: {DEFAULTS}
providers:
  provider-a:
    kind: powerdns
    url: {a_api}
    api_key: {{ file: provider-a.key }}
    nameservers: [ {NS_A} ]
    probe: [ "{a_dns}" ]
  provider-b:
    kind: powerdns
    url: {b_api}
    api_key: {{ file: provider-b.key }}
    nameservers: [ {NS_B} ]
    probe: [ "{b_dns}" ]
  parent:
    kind: powerdns
    url: {p_api}
    api_key: {{ file: parent.key }}
zones:
  - name: {ZONE}
    providers: [ provider-a, provider-b ]
    delegation: {{ provider: parent, parent: test., min_providers: 1, ttl: 300 }}
    records:
      - name: www
        type: A
        ttl: 30
        policy: failover
        pools:
          - {{ name: us-east, priority: 1, values: [ {US} ], check: web-us }}
          - {{ name: eu-west, priority: 2, values: [ {EU} ], check: web-eu }}
checks:
  web-us: {{ kind: http, url: "{us}" }}
  web-eu: {{ kind: http, url: "{eu}" }}
"#,
            state = dir.0.join("state.json").display(),
            a_api = a.api_url,
            b_api = b.api_url,
            p_api = parent.api_url,
            a_dns = a.dns,
            b_dns = b.dns,
            us = us.url(),
            eu = eu.url(),
        );
        std::fs::write(&config, text).with_context(|| format!("cannot write {}", config.display()))?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(1)).build()?;
        Ok(Self {
            a,
            b,
            parent,
            us,
            eu,
            dir,
            config,
            api: format!("http://{listen}"),
            http,
        })
    }

    fn print_setup(&self) {
        println!("dnsteer demo: a failover walk-through on loopback, with nothing installed\n");
        println!("Three in-process stand-ins for DNS providers. Each is an authoritative DNS server (hickory-server)");
        println!("and an HTTP API speaking the subset of the PowerDNS v1 API that dnsteer's `powerdns` adapter uses");
        println!("(they are not PowerDNS); a change made through the API is answered over DNS at once.");
        for (s, role) in [
            (&self.a, "NS ns1.provider-a.test. (a)"),
            (&self.b, "NS ns1.provider-b.test. (b)"),
            (&self.parent, "delegates example.test."),
        ] {
            println!(
                "  {:<11} zone {:<14} DNS {:<16} API {:<24} {role}",
                s.name, s.zone, s.dns, s.api_url
            );
        }
        println!("Two regional HTTP endpoints, checked on /healthz:");
        println!(
            "  us-east     {:<34} www.example.test. A {US} (preferred)",
            self.us.url()
        );
        println!("  eu-west     {:<34} www.example.test. A {EU}", self.eu.url());
        if !self.us.on(US_IP) || !self.eu.on(EU_IP) {
            println!(
                "  (127.0.0.2/127.0.0.3 could not be bound here: the endpoints use 127.0.0.1 with their own ports)"
            );
        }
        println!(
            "One daemon: the real `dnsteer run`, in-process, all three providers `kind: powerdns`; API {}",
            self.api
        );
        println!("  probes every 200ms; a target turns unhealthy after 2 failing and healthy after 2 passing");
        println!(
            "  evaluations over a window of 3, and stays at least 1s in a state; config {} (deleted at the end)",
            self.config.display()
        );
        println!();
        println!("Each line: time, event, then what each provider answers now over DNS for www.example.test. A and");
        println!("its apex NS set, and the NS set the parent test. delegates example.test. to (a, b: the providers).");
        println!();
    }

    /// What every stand-in answers now.
    async fn look(&self) -> View {
        let (www_a, ns_a, www_b, ns_b, delegation) = tokio::join!(
            query(self.a.dns, WWW, RecordType::A),
            query(self.a.dns, ZONE, RecordType::NS),
            query(self.b.dns, WWW, RecordType::A),
            query(self.b.dns, ZONE, RecordType::NS),
            query(self.parent.dns, ZONE, RecordType::NS),
        );
        View {
            www_a,
            ns_a,
            www_b,
            ns_b,
            delegation,
        }
    }

    /// The daemon's own view: `(ready, healthy targets, targets)`, `None` while it is
    /// not answering yet.
    async fn daemon(&self) -> Option<(bool, usize, usize)> {
        let status: serde_json::Value = self
            .http
            .get(format!("{}/v1/status", self.api))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let targets = status["targets"].as_array()?;
        let healthy = targets.iter().filter(|t| t["state"] == "healthy").count();
        Some((status["ready"] == true, healthy, targets.len()))
    }

    async fn stop(self) {
        let World {
            a,
            b,
            parent,
            us,
            eu,
            dir,
            ..
        } = self;
        tokio::join!(a.stop(), b.stop(), parent.stop(), us.stop(), eu.stop());
        drop(dir);
    }
}

/// A free TCP port on 127.0.0.1 for the daemon's API.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener =
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?)
}

/// Writes a secret file readable by its owner only.
fn write_private(path: &Path, value: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{value}")?;
    Ok(())
}

/// A private temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "dnsteer-demo-{}-{nanos:x}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the stand-ins answered at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    www_a: Answer,
    ns_a: Answer,
    www_b: Answer,
    ns_b: Answer,
    delegation: Answer,
}

/// `a`/`b` for the providers' nameservers.
fn short(value: &str) -> &str {
    match value {
        NS_A => "a",
        NS_B => "b",
        other => other,
    }
}

fn ns_text(answer: &Answer) -> String {
    match answer {
        Answer::Records(values) => values.iter().map(|v| short(v)).collect::<Vec<_>>().join(","),
        Answer::Failed(why) => why.clone(),
    }
}

fn www_text(answer: &Answer) -> String {
    match answer {
        Answer::Records(values) => values.join(","),
        Answer::Failed(why) => why.clone(),
    }
}

fn provider_cell(www: &Answer, ns: &Answer) -> String {
    match (www, ns) {
        (Answer::Failed(a), Answer::Failed(b)) if a == b => a.clone(),
        _ => format!("{:<14}| {}", www_text(www), ns_text(ns)),
    }
}

impl View {
    fn columns(&self) -> String {
        format!(
            "{:<24}{:<24}{}",
            provider_cell(&self.www_a, &self.ns_a),
            provider_cell(&self.www_b, &self.ns_b),
            ns_text(&self.delegation)
        )
    }

    fn compact(&self) -> String {
        let provider = |www: &Answer, ns: &Answer| format!("www {}, NS {}", www_text(www), ns_text(ns));
        format!(
            "provider-a {}; provider-b {}; parent delegates to {}",
            provider(&self.www_a, &self.ns_a),
            provider(&self.www_b, &self.ns_b),
            ns_text(&self.delegation)
        )
    }

    /// What changed since `before`, in words.
    fn changes_since(&self, before: &View) -> String {
        let failed = |w: &Answer, n: &Answer| matches!((w, n), (Answer::Failed(_), Answer::Failed(_)));
        let mut out = Vec::new();
        let mut www = Vec::new();
        for (name, (w0, n0), (w1, n1)) in [
            ("provider-a", (&before.www_a, &before.ns_a), (&self.www_a, &self.ns_a)),
            ("provider-b", (&before.www_b, &before.ns_b), (&self.www_b, &self.ns_b)),
        ] {
            if failed(w1, n1) && !failed(w0, n0) {
                out.push(format!("{name}'s DNS: {}", www_text(w1)));
            } else if failed(w0, n0) && !failed(w1, n1) {
                out.push(format!("{name} answers again"));
            } else {
                if w0 != w1 {
                    www.push((name, w1));
                }
                if n0 != n1 {
                    out.push(format!("{name} apex NS: {}", ns_text(n1)));
                }
            }
        }
        let answer = |w: &Answer| match w {
            Answer::Records(v) if v == &[EU] => format!("eu-west {EU}"),
            Answer::Records(v) if v == &[US] => format!("us-east {US}"),
            other => www_text(other),
        };
        match www.as_slice() {
            [(_, w0), (_, w1)] if w0 == w1 => out.insert(0, format!("both providers answer {}", answer(w0))),
            _ => {
                for (i, (name, w)) in www.iter().enumerate() {
                    out.insert(i, format!("{name} answers {}", answer(w)));
                }
            }
        }
        if before.delegation != self.delegation {
            out.push(format!("parent delegates to {}", ns_text(&self.delegation)));
        }
        out.join("; ")
    }
}

/// One step of the walk-through and how it went.
struct Step {
    title: &'static str,
    expected: &'static str,
    /// `Ok(time it took)`, or `Err(what was observed instead)`; `None`: not run.
    outcome: Option<Result<Duration, String>>,
}

struct Script<'w> {
    world: &'w World,
    options: &'w Options,
    daemon_done: &'w AtomicBool,
    start: Instant,
    last: Option<View>,
    steps: Vec<Step>,
}

impl<'w> Script<'w> {
    fn new(world: &'w World, options: &'w Options, daemon_done: &'w AtomicBool) -> Self {
        Self {
            world,
            options,
            daemon_done,
            start: Instant::now(),
            last: None,
            steps: Vec::new(),
        }
    }

    fn line(&self, event: &str) {
        let at = format!("+{:.2}s", self.start.elapsed().as_secs_f64());
        let state = self.last.as_ref().map(View::columns).unwrap_or_default();
        println!("{at:>7}  {event:<52}  {state}");
    }

    /// Polls the world (and, for the first step, the daemon) until `done` holds, printing a
    /// line at every change: `Ok` with the time since `since`, or `Err` with what was seen last.
    async fn until(
        &mut self,
        since: Instant,
        with_daemon: bool,
        done: impl Fn(&View) -> bool,
    ) -> Result<Duration, String> {
        let mut daemon_ready = !with_daemon;
        loop {
            let view = self.world.look().await;
            if let Some(before) = &self.last {
                if *before != view {
                    let what = view.changes_since(before);
                    self.last = Some(view.clone());
                    self.line(&what);
                }
            }
            if !daemon_ready {
                if let Some((true, healthy, total)) = self.world.daemon().await {
                    if healthy == total {
                        daemon_ready = true;
                        self.line(&format!("daemon ready: {healthy}/{total} targets healthy"));
                    }
                }
            }
            if daemon_ready && done(&view) {
                return Ok(since.elapsed());
            }
            if self.daemon_done.load(Ordering::SeqCst) {
                return Err(format!("the daemon stopped; {}", view.compact()));
            }
            if since.elapsed() > self.options.step_timeout {
                let mut seen = view.compact();
                if !daemon_ready {
                    seen = format!("daemon not ready with every target healthy; {seen}");
                }
                return Err(seen);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs one step: its action, then the wait for its outcome; `false` stops the script.
    async fn step(
        &mut self,
        title: &'static str,
        expected: &'static str,
        action: impl Future<Output = ()>,
        with_daemon: bool,
        done_line: impl Fn(Duration) -> String,
        done: impl Fn(&View) -> bool,
    ) -> bool {
        let n = self.steps.len() + 1;
        let since = Instant::now();
        action.await;
        self.line(&format!("> {n}. {title}"));
        let outcome = self.until(since, with_daemon, done).await;
        match &outcome {
            Ok(took) => self.line(&format!("  ok: {}", done_line(*took))),
            Err(_) => self.line(&format!(
                "  FAILED: step {n} ({title}) not within {:?}",
                self.options.step_timeout
            )),
        }
        let ok = outcome.is_ok();
        self.steps.push(Step {
            title,
            expected,
            outcome: Some(outcome),
        });
        ok
    }

    async fn run(mut self) -> Vec<Step> {
        self.last = Some(self.world.look().await);
        println!(
            "{:>7}  {:<52}  {:<24}{:<24}PARENT delegates to",
            "TIME", "EVENT", "PROVIDER-A www | NS", "PROVIDER-B www | NS"
        );
        let world = self.world;
        let in_sync = |v: &View| {
            v.www_a.is(&[US])
                && v.www_b.is(&[US])
                && v.ns_a.is(&[NS_A, NS_B])
                && v.ns_b.is(&[NS_A, NS_B])
                && v.delegation.is(&[NS_A, NS_B])
        };
        let all = [
            (
                "start: daemon ready, in sync",
                "both answer us-east 192.0.2.10; parent delegates to a,b",
            ),
            (
                "region us-east fails (503)",
                "both providers answer eu-west 198.51.100.10",
            ),
            (
                "region us-east recovers",
                "both providers answer us-east 192.0.2.10 again",
            ),
            (
                "provider-b's DNS fails (REFUSED)",
                "parent and provider-a's apex NS list a only",
            ),
            ("provider-b's DNS recovers", "parent delegates to a,b again; b in sync"),
        ];
        let mut go = self
            .step(
                all[0].0,
                all[0].1,
                async {},
                true,
                |t| format!("ready and in sync after {:.2}s", t.as_secs_f64()),
                in_sync,
            )
            .await;
        if go {
            go = self
                .step(
                    all[1].0,
                    all[1].1,
                    async { world.us.set_up(false) },
                    false,
                    |t| format!("failover to eu-west in {:.2}s", t.as_secs_f64()),
                    |v| v.www_a.is(&[EU]) && v.www_b.is(&[EU]),
                )
                .await;
        }
        if go {
            go = self
                .step(
                    all[2].0,
                    all[2].1,
                    async { world.us.set_up(true) },
                    false,
                    |t| format!("failback to us-east in {:.2}s", t.as_secs_f64()),
                    |v| v.www_a.is(&[US]) && v.www_b.is(&[US]),
                )
                .await;
        }
        if go {
            go = self
                .step(
                    all[3].0,
                    all[3].1,
                    async { world.b.set_failed(true) },
                    false,
                    |t| format!("provider-b leaves the delegation in {:.2}s", t.as_secs_f64()),
                    |v| v.delegation.is(&[NS_A]) && v.ns_a.is(&[NS_A]) && v.www_a.is(&[US]),
                )
                .await;
        }
        if go {
            self.step(
                all[4].0,
                all[4].1,
                async { world.b.set_failed(false) },
                false,
                |t| format!("provider-b returns to the delegation in {:.2}s", t.as_secs_f64()),
                in_sync,
            )
            .await;
        }
        for (title, expected) in all.into_iter().skip(self.steps.len()) {
            self.steps.push(Step {
                title,
                expected,
                outcome: None,
            });
        }
        let writes =
            [&world.a, &world.b, &world.parent].map(|s| format!("{} {}", s.name, s.serial().saturating_sub(1)));
        self.line(&format!("PATCHes so far: {}", writes.join(", ")));
        self.line("stopping the daemon and the stand-ins");
        self.steps
    }
}

/// Prints the summary table; `true` when every step happened.
fn summary(steps: &[Step], took: Duration) -> bool {
    println!("\nSummary");
    println!("  {:<36} {:<56} {:<12} {:>6}", "STEP", "EXPECTED", "OBSERVED", "TIME");
    for (i, s) in steps.iter().enumerate() {
        let (observed, time) = match &s.outcome {
            Some(Ok(took)) => ("as expected".to_string(), format!("{:.2}s", took.as_secs_f64())),
            Some(Err(seen)) => (format!("NOT in time: {seen}"), "-".to_string()),
            None => ("not run".to_string(), "-".to_string()),
        };
        println!(
            "  {:<36} {:<56} {:<12} {:>6}",
            format!("{}. {}", i + 1, s.title),
            s.expected,
            observed,
            time
        );
    }
    let failed = steps
        .iter()
        .enumerate()
        .find(|(_, s)| !matches!(s.outcome, Some(Ok(_))));
    match failed {
        None => {
            println!(
                "\nAll {} steps happened as expected; the demo took {:.1}s.",
                steps.len(),
                took.as_secs_f64()
            );
            true
        }
        Some((i, s)) => {
            println!("\nStep {} ({}) did not happen as expected.", i + 1, s.title);
            eprintln!("error: demo step {} ({}) failed", i + 1, s.title);
            false
        }
    }
}
