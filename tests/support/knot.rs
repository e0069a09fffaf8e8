//! A Knot DNS 3 primary on loopback serving one zone that takes TSIG-signed updates and
//! transfers.

use std::net::SocketAddr;
use std::time::Duration;

use super::bind::{nsupdate, random_secret_b64, serves_zone, KEY_NAME, ZONE_FILE};
use super::{fill, free_port, require_binary, wait_until, ServerProcess};

const KNOT_CONF: &str = r#"server:
    rundir: "@DIR@"
    pidfile: "@DIR@/knot.pid"
    listen: 127.0.0.1@@PORT@
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "@DIR@/db"
key:
  - id: @KEY_NAME@
    algorithm: hmac-sha256
    secret: @SECRET@
acl:
  - id: steer
    key: @KEY_NAME@
    action: [@ACTIONS@]
@ACL_LIMITS@
template:
  - id: default
    storage: "@DIR@"
    file: "%s.zone"
    zonefile-sync: 0
    zonefile-load: difference-no-serial
    journal-content: all
zone:
  - domain: @ZONE@
    acl: steer
"#;

/// The same key in BIND's syntax, for `nsupdate -k`.
const NSUPDATE_KEY: &str = r#"key "@KEY_NAME@" {
    algorithm hmac-sha256;
    secret "@SECRET@";
};
"#;

pub struct Knot {
    process: ServerProcess,
    pub addr: SocketAddr,
    /// Absolute zone name, e.g. `example.test.`.
    pub zone: String,
    pub key_name: String,
    pub secret_b64: String,
    pub dir: tempfile::TempDir,
}

impl Knot {
    /// Starts knotd for `zone`, where the key may change anything, and waits until it
    /// answers for it.
    pub fn start(zone: &str) -> Self {
        Self::start_with_acl_limits(zone, "")
    }

    /// Starts knotd for `zone` with extra lines (`update-type`, `update-owner`, ...) in
    /// the key's ACL entry (the key may always transfer the zone).
    pub fn start_with_acl_limits(zone: &str, limits: &str) -> Self {
        Self::start_with_acl(zone, "update, transfer", limits)
    }

    /// Starts knotd for `zone` where the key may transfer the zone and nothing else.
    pub fn start_transfer_only(zone: &str) -> Self {
        Self::start_with_acl(zone, "transfer", "")
    }

    fn start_with_acl(zone: &str, actions: &str, limits: &str) -> Self {
        let knotd = require_binary("knotd");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let zone = zone.trim_end_matches('.').to_string();
        let port = free_port();
        let secret_b64 = random_secret_b64();
        let values = [
            ("DIR", path),
            ("PORT", &port.to_string()),
            ("ZONE", zone.as_str()),
            ("KEY_NAME", KEY_NAME),
            ("SECRET", secret_b64.as_str()),
            ("ACTIONS", actions),
            ("ACL_LIMITS", limits),
        ];
        std::fs::write(dir.path().join("knot.conf"), fill(KNOT_CONF, &values)).unwrap();
        std::fs::write(dir.path().join("nsupdate.key"), fill(NSUPDATE_KEY, &values)).unwrap();
        std::fs::write(dir.path().join(format!("{zone}.zone")), fill(ZONE_FILE, &values)).unwrap();
        // Knot does not create its database folder: without it every update fails with
        // SERVFAIL ("failed to write zone-in-journal").
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let command = vec![knotd.display().to_string(), "-c".into(), format!("{path}/knot.conf")];
        let process = ServerProcess::start("knotd", command, dir.path(), addr);
        let server = Self {
            process,
            addr,
            zone: format!("{zone}."),
            key_name: KEY_NAME.into(),
            secret_b64,
            dir,
        };
        server.wait_serving();
        server
    }

    /// Kills knotd; the zone file and journal stay on disk.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts knotd again and waits until it answers for the zone.
    pub fn resume(&mut self) {
        self.process.resume();
        self.wait_serving();
    }

    /// Runs `nsupdate` with this server's key: an independent second writer.
    pub fn nsupdate(&self, commands: &str) {
        nsupdate(self.addr, &self.dir.path().join("nsupdate.key"), &self.zone, commands);
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    fn wait_serving(&self) {
        wait_until("knotd serving the zone", Duration::from_secs(20), || {
            serves_zone(self.addr, &self.zone)
        });
    }
}
