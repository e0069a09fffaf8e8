//! The end-to-end world: two PowerDNS servers as two providers of `example.test.`, a
//! BIND holding the parent `test.` (delegation through TSIG-signed RFC 2136), and HTTP
//! endpoints on 127.0.0.2 (us-east) and 127.0.0.3 (eu-west). Everything starts healthy
//! and in sync: both providers answer `www` from us-east, list both providers at the
//! apex, and the parent delegates to both.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::bind::{dig, Bind};
use super::endpoint::Endpoint;
use super::pdns::{PowerDns, API_KEY};

pub const US: &str = "192.0.2.10";
pub const EU: &str = "198.51.100.10";
pub const NS_A: &str = "ns1.provider-a.test.";
pub const NS_B: &str = "ns1.provider-b.test.";

/// The health settings of the plan/apply tests: a few quick probes decide.
pub const QUICK: &str = "{ interval: 1s, timeout: 500ms, health: { window: 3, fail_ratio: 0.5, recover_ratio: 0.1, fall: 2, rise: 2, hold: 1s } }";

pub struct World {
    pub pdns_a: PowerDns,
    pub pdns_b: PowerDns,
    pub parent: Bind,
    pub us: Endpoint,
    pub eu: Endpoint,
    pub dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> Self {
        let pdns_a = PowerDns::start();
        let pdns_b = PowerDns::start();
        let parent = Bind::start("test.");
        Self::start_with(pdns_a, pdns_b, parent).await
    }

    /// The world on servers started by the caller (e.g. on port 53 of addresses of
    /// their own, for a resolver to follow the delegation).
    pub async fn start_with(pdns_a: PowerDns, pdns_b: PowerDns, parent: Bind) -> Self {
        let us = Endpoint::start("127.0.0.2").await;
        let eu = Endpoint::start("127.0.0.3").await;
        for pdns in [&pdns_a, &pdns_b] {
            pdns.create_zone(
                "example.test.",
                &[],
                serde_json::json!([
                    {"name": "example.test.", "type": "NS", "ttl": 300, "records": [
                        {"content": NS_A, "disabled": false}, {"content": NS_B, "disabled": false}]},
                    {"name": "www.example.test.", "type": "A", "ttl": 30, "records": [{"content": US, "disabled": false}]},
                    {"name": "mail.example.test.", "type": "A", "ttl": 60, "records": [{"content": "192.0.2.25", "disabled": false}]}
                ]),
            );
        }
        parent.nsupdate(&format!(
            "update add example.test. 300 NS {NS_A}\nupdate add example.test. 300 NS {NS_B}"
        ));
        Self {
            pdns_a,
            pdns_b,
            parent,
            us,
            eu,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A configuration with the given `agent:` and `defaults:` blocks (YAML flow
    /// mappings) and extra top-level YAML (e.g. `alerts:`).
    pub fn config(&self, agent: &str, defaults: &str, extra: &str) -> String {
        format!(
            r#"
agent: {agent}
defaults: {defaults}
providers:
  pdns-a:
    kind: powerdns
    url: {a_api}
    api_key: {{ env: PDNS_KEY }}
    nameservers: [ {NS_A} ]
    probe: [ "{a_dns}" ]
  pdns-b:
    kind: powerdns
    url: {b_api}
    api_key: {{ env: PDNS_KEY }}
    nameservers: [ {NS_B} ]
    probe: [ "{b_dns}" ]
  parent:
    kind: rfc2136
    server: "{parent}"
    tsig: {{ name: {key}, algorithm: hmac-sha256, secret: {{ env: TSIG_SECRET }} }}
zones:
  - name: example.test.
    providers: [ pdns-a, pdns-b ]
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
{extra}
"#,
            a_api = self.pdns_a.api_url,
            b_api = self.pdns_b.api_url,
            a_dns = self.pdns_a.dns,
            b_dns = self.pdns_b.dns,
            parent = self.parent.addr,
            key = self.parent.key_name,
            us = self.us.url(),
            eu = self.eu.url(),
        )
    }

    /// Adds a second zone, `other.test.` (ten A records at both providers, delegated by
    /// the parent), and returns its configuration (YAML for `zones:`, to put after the
    /// first zone), which raises eight TTLs: an edit past its `max_change_ratio`, so the
    /// zone is held from the start (the limit leaves zones under ten sets alone).
    pub fn held_zone(&self) -> String {
        let other: Vec<String> = (1..=10).map(|i| format!("o{i:02}")).collect();
        let rrsets: serde_json::Value = other
            .iter()
            .map(|n| serde_json::json!({"name": format!("{n}.other.test."), "type": "A", "ttl": 30, "records": [{"content": US, "disabled": false}]}))
            .collect();
        for pdns in [&self.pdns_a, &self.pdns_b] {
            pdns.create_zone("other.test.", &[NS_A, NS_B], rrsets.clone());
        }
        self.parent.nsupdate(&format!(
            "update add other.test. 300 NS {NS_A}\nupdate add other.test. 300 NS {NS_B}"
        ));
        let records: String = other
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let ttl = if i < 8 { 120 } else { 30 };
                format!(
                    "      - {{ name: {n}, type: A, ttl: {ttl}, policy: failover, pools: [ \
                     {{ name: us-east, priority: 1, values: [ {US} ], check: web-us }}, \
                     {{ name: eu-west, priority: 2, values: [ {EU} ], check: web-eu }} ] }}\n"
                )
            })
            .collect();
        format!(
            "  - name: other.test.\n    providers: [ pdns-a, pdns-b ]\n    max_change_ratio: 0.3\n    \
             delegation: {{ provider: parent, parent: test., min_providers: 1, ttl: 300 }}\n    records:\n{records}"
        )
    }

    /// Writes a configuration file into the world's folder and returns its path.
    pub fn write_config(&self, file: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The environment every dnsteer process of this world gets (its secrets).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PDNS_KEY", API_KEY.to_string()),
            ("TSIG_SECRET", self.parent.secret_b64.clone()),
        ]
    }

    pub async fn dnsteer(&self, config: &PathBuf, args: &[&str]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dnsteer"))
            .arg("--config")
            .arg(config)
            .args(args)
            .envs(self.env())
            // A relative default (the state file beside which `apply` writes its audit
            // log) lands in the test's folder, not in the checkout.
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("run dnsteer")
    }

    pub fn www(&self, pdns: &PowerDns) -> Vec<String> {
        dig(pdns.dns, "www.example.test.", "A")
    }

    pub fn dig_mail(&self) -> Vec<String> {
        dig(self.pdns_a.dns, "mail.example.test.", "A")
    }

    /// The NS set the parent refers resolvers to (a referral: the authority section).
    pub fn delegation(&self) -> Vec<String> {
        let out = Command::new("dig")
            .args([
                "+noall",
                "+authority",
                "+norecurse",
                "+time=2",
                "+tries=1",
                "-p",
                &self.parent.addr.port().to_string(),
            ])
            .arg(format!("@{}", self.parent.addr.ip()))
            .args(["example.test.", "NS"])
            .output()
            .expect("run dig");
        let mut ns: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .collect();
        ns.sort();
        ns
    }
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
