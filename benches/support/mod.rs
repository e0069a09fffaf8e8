//! What the benchmarks share: a PowerDNS started on loopback in a temporary folder,
//! CPU pinning with `taskset`, timing helpers, and the result rows `scripts/bench.sh`
//! gathers into its final table.

// Each bench target uses its own part of this module.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The API key of the benchmarks' PowerDNS.
pub const PDNS_KEY: &str = "bench-pdns-key";

/// Like the test suite's server (`tests/support/pdns.rs`), with PowerDNS's default caches
/// left on: the throughput figure measures the client, so the server should not be the
/// narrowest part. The API reads the database either way.
const PDNS_CONFIG: &str = "\
launch=gsqlite3
gsqlite3-database=@DIR@/pdns.sqlite3
gsqlite3-dnssec=no
local-address=127.0.0.1
local-port=@DNS_PORT@
socket-dir=@DIR@
api=yes
api-key=@KEY@
webserver=yes
webserver-address=127.0.0.1
webserver-port=@API_PORT@
webserver-allow-from=127.0.0.0/8,::1/128
default-soa-content=ns1.@ hostmaster.@ 0 10800 3600 604800 60
loglevel=4
security-poll-suffix=
log-dns-queries=no
disable-syslog=yes
guardian=no
daemon=no
write-pid=no
receiver-threads=1
distributor-threads=1
";

const SQLITE_SCHEMA: &str = "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql";

/// Options every bench binary takes after `--` (cargo adds `--bench` itself).
#[derive(Debug, Clone)]
pub struct Opts {
    /// Shorter runs and fewer repetitions, for a quick look.
    pub quick: bool,
    args: Vec<String>,
}

impl Opts {
    pub fn from_env() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Self {
            quick: args.iter().any(|a| a == "--quick"),
            args,
        }
    }

    /// Whether `--NAME` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.args.contains(&format!("--{name}"))
    }

    /// The value of `--NAME VALUE`, if given.
    pub fn value<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        let flag = format!("--{name}");
        let at = self.args.iter().position(|a| *a == flag)?;
        self.args.get(at + 1)?.parse().ok()
    }
}

/// A child process killed (and reaped) when dropped, with its output in a log file.
pub struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    pub fn spawn(name: &'static str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        Ok(Self {
            name,
            child,
            log: log.to_path_buf(),
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `ready` holds, failing early if the process exits.
    pub fn wait_ready(&mut self, timeout: Duration, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}) before it was ready:\n{}", self.name, self.log());
            }
            if Instant::now() > deadline {
                bail!("{} not ready within {timeout:?}:\n{}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (also free for UDP in practice: nothing else binds here).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn tcp_accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// The path of `program` on `PATH`, or an error saying how to install it.
pub fn require(program: &str) -> anyhow::Result<PathBuf> {
    find_program(program)
        .with_context(|| format!("{program} not found on PATH: run scripts/install-test-deps.sh (or scripts/bench.sh)"))
}

pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// CPU pinning works here: `taskset` is installed and there are at least two CPUs.
pub fn can_pin() -> bool {
    find_program("taskset").is_some() && std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2
}

/// `program` run on `cpus` (a `taskset -c` list) when given.
pub fn command_on(cpus: Option<&str>, program: &Path) -> Command {
    match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpus).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Pins every thread of this process (and the threads and children it starts later) to
/// `cpus`. Call it before starting any runtime, so no thread escapes.
pub fn pin_self(cpus: &str) -> anyhow::Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("taskset -a -p -c {cpus} failed: {status}");
    }
    Ok(())
}

/// CPU time (user + system) this process used so far, from `/proc/self/stat`.
pub fn cpu_time() -> Option<Duration> {
    proc_stat_ticks(11)
}

/// CPU time (user + system) of this process's children that have been waited for.
pub fn children_cpu_time() -> Option<Duration> {
    proc_stat_ticks(13)
}

/// The sum of two adjacent tick counters of `/proc/self/stat`, `at` counting from the
/// field after the command name (utime is 11, cutime 13).
fn proc_stat_ticks(at: usize) -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(at)?.parse::<u64>().ok()? + fields.get(at + 1)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

pub fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let n = sorted.len();
    if n == 0 {
        Duration::ZERO
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// `12345.6` as `12,346`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line of the final table. Printed at once, and appended to the file named by
/// `DNSTEER_BENCH_RESULTS` (tab-separated) when `scripts/bench.sh` runs the benches.
pub struct Row<'a> {
    pub figure: &'a str,
    pub dnsteer: &'a str,
    pub reference: &'a str,
    pub ratio: &'a str,
    pub aim: &'a str,
    pub met: &'a str,
}

impl Row<'_> {
    pub fn report(&self) {
        let fields = [
            self.figure,
            self.dnsteer,
            self.reference,
            self.ratio,
            self.aim,
            self.met,
        ];
        println!(
            "RESULT  {}",
            ["figure", "dnsteer", "reference", "ratio", "aim", "met?"]
                .iter()
                .zip(fields)
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        if let Some(path) = std::env::var_os("DNSTEER_BENCH_RESULTS") {
            let line = fields.map(|f| f.replace(['\t', '\n'], " ")).join("\t");
            let written = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(e) = written {
                eprintln!("cannot append to {}: {e}", Path::new(&path).display());
            }
        }
    }
}

pub fn yes_no(met: bool) -> &'static str {
    if met {
        "yes"
    } else {
        "no"
    }
}

/// A PowerDNS Authoritative (sqlite backend, HTTP API) in a temporary folder on loopback.
pub struct PowerDns {
    pub dns: SocketAddr,
    pub api_url: String,
    pub server: Server,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl PowerDns {
    /// Starts it, on `cpus` when given.
    pub fn start(cpus: Option<&str>) -> anyhow::Result<Self> {
        let binary = require("pdns_server")?;
        let dir = tempfile::Builder::new().prefix("dnsteer-bench-pdns").tempdir()?;
        let (dns_port, api_port) = (free_port(), free_port());
        let path = dir.path().to_str().context("temporary folder path is not UTF-8")?;
        let config = PDNS_CONFIG
            .replace("@DIR@", path)
            .replace("@DNS_PORT@", &dns_port.to_string())
            .replace("@API_PORT@", &api_port.to_string())
            .replace("@KEY@", PDNS_KEY);
        std::fs::write(dir.path().join("pdns.conf"), config)?;
        let schema = std::fs::read_to_string(SQLITE_SCHEMA)
            .with_context(|| format!("{SQLITE_SCHEMA} (install pdns-backend-sqlite3)"))?;
        let status = Command::new(require("sqlite3")?)
            .arg(dir.path().join("pdns.sqlite3"))
            .arg(schema)
            .status()?;
        if !status.success() {
            bail!("sqlite3 could not create the PowerDNS database");
        }
        let mut command = command_on(cpus, &binary);
        command.arg(format!("--config-dir={path}"));
        let mut server = Server::spawn("pdns_server", command, &dir.path().join("pdns.log"))?;
        let api: SocketAddr = ([127, 0, 0, 1], api_port).into();
        server.wait_ready(Duration::from_secs(10), || tcp_accepts(api))?;
        dnsteer_providers::http::install_crypto_provider();
        Ok(Self {
            dns: ([127, 0, 0, 1], dns_port).into(),
            api_url: format!("http://{api}"),
            server,
            client: reqwest::Client::builder().no_proxy().build()?,
            _dir: dir,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: &serde_json::Value) -> anyhow::Result<()> {
        let url = format!("{}/api/v1/servers/localhost/{path}", self.api_url);
        let resp = self
            .client
            .request(method.clone(), &url)
            .header("X-API-Key", PDNS_KEY)
            .json(body)
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        if !status.is_success() {
            bail!("{method} {url}: {status}: {}", resp.text().await.unwrap_or_default());
        }
        Ok(())
    }

    /// Creates `zone` (absolute) holding `rrsets` (PowerDNS API form).
    pub async fn create_zone(&self, zone: &str, rrsets: serde_json::Value) -> anyhow::Result<()> {
        let body = serde_json::json!({ "name": zone, "kind": "Native", "nameservers": [], "rrsets": rrsets });
        self.call(reqwest::Method::POST, "zones", &body).await
    }

    /// Replaces `rrsets` in `zone`, in one atomic request.
    pub async fn replace(&self, zone: &str, rrsets: Vec<serde_json::Value>) -> anyhow::Result<()> {
        let rrsets: Vec<_> = rrsets
            .into_iter()
            .map(|mut r| {
                r["changetype"] = "REPLACE".into();
                r
            })
            .collect();
        let body = serde_json::json!({ "rrsets": rrsets });
        self.call(reqwest::Method::PATCH, &format!("zones/{zone}"), &body).await
    }
}

/// An rrset in the PowerDNS API's form.
pub fn rrset(name: &str, rtype: &str, ttl: u32, contents: &[&str]) -> serde_json::Value {
    let records: Vec<_> = contents
        .iter()
        .map(|c| serde_json::json!({ "content": c, "disabled": false }))
        .collect();
    serde_json::json!({ "name": name, "type": rtype, "ttl": ttl, "records": records })
}
