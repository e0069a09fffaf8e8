//! A BIND 9 primary on loopback serving one zone that takes TSIG-signed updates and
//! transfers; plus what the RFC 2136 servers' starters share (random TSIG secrets, an
//! SOA readiness probe, `nsupdate` as an independent writer).

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{fill, free_port, require_binary, wait_until, ServerProcess};

const NAMED_CONF: &str = r#"include "@DIR@/tsig.conf";
options {
    directory "@DIR@";
    pid-file "@DIR@/named.pid";
    session-keyfile "@DIR@/session.key";
    listen-on port @PORT@ { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    notify no;
    allow-query { 127.0.0.0/8; };
    allow-transfer { key "@KEY_NAME@"; };
    dnssec-validation no;
};
controls { };
zone "@ZONE@" {
    type primary;
    file "@DIR@/zone.db";
    journal "@DIR@/zone.db.jnl";
    update-policy { @POLICY@ };
};
"#;

/// A key in BIND's syntax: named includes it, and `nsupdate -k` reads it.
const KEY_FILE: &str = r#"key "@KEY_NAME@" {
    algorithm hmac-sha256;
    secret "@SECRET@";
};
"#;

/// The zone every test server starts with: SOA, apex NS, the NS's address.
pub const ZONE_FILE: &str = "$TTL 60
@       IN SOA  ns1.@ZONE@. hostmaster.@ZONE@. 1 3600 600 86400 60
        IN NS   ns1.@ZONE@.
ns1     IN A    127.0.0.1
";

pub const KEY_NAME: &str = "steer-key";

pub struct Bind {
    process: ServerProcess,
    pub addr: SocketAddr,
    /// Absolute zone name, e.g. `example.test.`.
    pub zone: String,
    pub key_name: String,
    pub secret_b64: String,
    pub dir: tempfile::TempDir,
}

impl Bind {
    /// Starts named for `zone`, where the key may change anything, and waits until it
    /// answers for it.
    pub fn start(zone: &str) -> Self {
        Self::start_with_policy(zone, &format!("grant \"{KEY_NAME}\" zonesub ANY;"))
    }

    /// Starts named for `zone` with the given `update-policy` rules (the key may always
    /// transfer the zone).
    pub fn start_with_policy(zone: &str, policy: &str) -> Self {
        let named = require_binary("named");
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
            ("POLICY", policy),
        ];
        std::fs::write(dir.path().join("named.conf"), fill(NAMED_CONF, &values)).unwrap();
        std::fs::write(dir.path().join("tsig.conf"), fill(KEY_FILE, &values)).unwrap();
        std::fs::write(dir.path().join("zone.db"), fill(ZONE_FILE, &values)).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // -g: foreground, log to stderr; -n 1: one worker thread is plenty here.
        let command = vec![
            named.display().to_string(),
            "-g".into(),
            "-n".into(),
            "1".into(),
            "-c".into(),
            format!("{path}/named.conf"),
        ];
        let process = ServerProcess::start("named", command, dir.path(), addr);
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

    /// Kills named; the zone and its journal stay on disk.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts named again and waits until it answers for the zone.
    pub fn resume(&mut self) {
        self.process.resume();
        self.wait_serving();
    }

    /// Runs `nsupdate` with this server's key: an independent second writer.
    pub fn nsupdate(&self, commands: &str) {
        nsupdate(self.addr, &self.dir.path().join("tsig.conf"), &self.zone, commands);
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    fn wait_serving(&self) {
        wait_until("named serving the zone", Duration::from_secs(20), || {
            serves_zone(self.addr, &self.zone)
        });
    }
}

/// A fresh TSIG secret: 32 random bytes, base64.
pub fn random_secret_b64() -> String {
    base64(&rand::random::<[u8; 32]>())
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether `addr` answers an SOA query for `zone` with NOERROR, authoritatively and
/// with an answer: the zone is loaded. A hand-made UDP query, so no resolver or tool is
/// involved.
pub fn serves_zone(addr: SocketAddr, zone: &str) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let id: u16 = rand::random();
    let mut query = Vec::new();
    query.extend(id.to_be_bytes());
    query.extend([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]); // no flags, one question
    for label in zone.trim_end_matches('.').split('.') {
        query.push(label.len() as u8);
        query.extend(label.as_bytes());
    }
    query.extend([0, 0, 6, 0, 1]); // root, type SOA, class IN
    if socket.send_to(&query, addr).is_err() {
        return false;
    }
    let mut answer = [0u8; 512];
    match socket.recv(&mut answer) {
        Ok(n) if n >= 12 => {
            let same_id = answer[..2] == id.to_be_bytes();
            let authoritative = answer[2] & 0x04 != 0;
            let noerror = answer[3] & 0x0f == 0;
            let answers = u16::from_be_bytes([answer[6], answer[7]]);
            same_id && authoritative && noerror && answers > 0
        }
        _ => false,
    }
}

/// Sends `commands` (nsupdate syntax, without `server`, `zone` and `send`) to `addr`,
/// signed with the key in `key_file`, and fails the test if the update is refused.
pub fn nsupdate(addr: SocketAddr, key_file: &Path, zone: &str, commands: &str) {
    let script = format!("server {} {}\nzone {zone}\n{commands}\nsend\n", addr.ip(), addr.port());
    let mut child = Command::new(require_binary("nsupdate"))
        .arg("-k")
        .arg(key_file)
        .arg("-t")
        .arg("5")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nsupdate");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "nsupdate failed ({}):\n{}{}\nscript:\n{script}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `dig +short` of `name` `rtype` at `addr`, one value a line, sorted.
pub fn dig(addr: SocketAddr, name: &str, rtype: &str) -> Vec<String> {
    let output = Command::new(require_binary("dig"))
        .args([
            "+short",
            "+norecurse",
            "+time=2",
            "+tries=1",
            "-p",
            &addr.port().to_string(),
        ])
        .arg(format!("@{}", addr.ip()))
        .args([name, rtype])
        .output()
        .expect("run dig");
    assert!(
        output.status.success(),
        "dig failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}
