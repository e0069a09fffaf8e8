//! A PowerDNS Authoritative 4.x server (sqlite backend, HTTP API) on loopback.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use super::{fill, free_port, require_binary, ServerProcess};

const CONFIG: &str = "\
launch=gsqlite3
gsqlite3-database=@DIR@/pdns.sqlite3
gsqlite3-dnssec=no
local-address=@DNS_IP@
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
cache-ttl=0
negquery-cache-ttl=0
query-cache-ttl=0
";

pub const API_KEY: &str = "test-pdns-key";

pub struct PowerDns {
    pub dir: tempfile::TempDir,
    pub dns: SocketAddr,
    pub api_url: String,
    pub process: ServerProcess,
}

impl PowerDns {
    pub fn start() -> Self {
        Self::start_at(SocketAddr::from(([127, 0, 0, 1], free_port())))
    }

    /// A server answering DNS at `dns` (e.g. port 53 of a loopback address of its own,
    /// where a resolver following a delegation finds it); its API on 127.0.0.1.
    pub fn start_at(dns: SocketAddr) -> Self {
        let binary = require_binary("pdns_server");
        let dir = tempfile::tempdir().unwrap();
        let api_port = free_port();
        let path = dir.path().to_str().unwrap();
        let config = fill(
            CONFIG,
            &[
                ("DIR", path),
                ("DNS_IP", &dns.ip().to_string()),
                ("DNS_PORT", &dns.port().to_string()),
                ("API_PORT", &api_port.to_string()),
                ("KEY", API_KEY),
            ],
        );
        std::fs::write(dir.path().join("pdns.conf"), config).unwrap();
        let schema = std::fs::read_to_string("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql")
            .expect("pdns-backend-sqlite3 schema (install pdns-backend-sqlite3)");
        let status = Command::new(require_binary("sqlite3"))
            .arg(dir.path().join("pdns.sqlite3"))
            .arg(schema)
            .status()
            .unwrap();
        assert!(status.success(), "sqlite3 could not create the PowerDNS database");
        let process = ServerProcess::start(
            "pdns",
            vec![binary.display().to_string(), format!("--config-dir={path}")],
            dir.path(),
            SocketAddr::from(([127, 0, 0, 1], api_port)),
        );
        Self {
            dir,
            dns,
            api_url: format!("http://127.0.0.1:{api_port}"),
            process,
        }
    }

    /// Creates `zone` (absolute name) with the given NS names and extra rrsets through
    /// the API, as an operator would before pointing dnsteer at it.
    pub fn create_zone(&self, zone: &str, nameservers: &[&str], rrsets: serde_json::Value) {
        let body = serde_json::json!({
            "name": zone, "kind": "Native", "nameservers": nameservers, "rrsets": rrsets,
        });
        self.call("POST", "zones", &body, "201", &format!("creating {zone}"));
    }

    /// One API call with curl, asserting the HTTP status.
    fn call(&self, method: &str, path: &str, body: &serde_json::Value, status: &str, what: &str) {
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, "-H"])
            .arg(format!("X-API-Key: {API_KEY}"))
            .args(["-H", "Content-Type: application/json", "--data"])
            .arg(body.to_string())
            .arg(format!("{}/api/v1/servers/localhost/{path}", self.api_url))
            .output()
            .expect("curl");
        let code = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            code,
            status,
            "{what} at PowerDNS: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.process.log()
        );
    }

    /// Replaces (or adds) rrsets of `zone` through the API, as an operator's edit would.
    pub fn replace_rrsets(&self, zone: &str, rrsets: serde_json::Value) {
        let rrsets: Vec<serde_json::Value> = rrsets
            .as_array()
            .expect("a list of rrsets")
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r["changetype"] = "REPLACE".into();
                r
            })
            .collect();
        let body = serde_json::json!({ "rrsets": rrsets });
        self.call(
            "PATCH",
            &format!("zones/{zone}"),
            &body,
            "204",
            &format!("changing {zone}"),
        );
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// SIGSTOP: DNS and API both hang, connections open and unanswered.
    pub fn pause(&self) {
        self.process.signal("STOP");
    }

    /// SIGCONT after [`PowerDns::pause`].
    pub fn unpause(&self) {
        self.process.signal("CONT");
    }

    pub fn resume(&mut self) {
        self.process.resume();
        super::wait_until("PowerDNS API", Duration::from_secs(10), || {
            super::tcp_accepts(self.api_url.trim_start_matches("http://").parse().unwrap())
        });
    }
}
