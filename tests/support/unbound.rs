//! Unbound, a real recursive resolver, on loopback: it iterates from a stub for the
//! parent zone and follows the delegations it finds there, caching as any resolver.

use std::net::SocketAddr;

use super::{fill, require_binary, ServerProcess};

const CONFIG: &str = r#"server:
    interface: @IP@
    port: @PORT@
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "@DIR@"
    pidfile: "@DIR@/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    # The authoritative servers live on loopback addresses.
    do-not-query-localhost: no
    # No DNSSEC here: iterate only.
    module-config: "iterator"
    qname-minimisation: no
    prefetch: no
    domain-insecure: "@ZONE@"
    # Unbound answers special-use names (RFC 6761: test., invalid.) NXDOMAIN itself
    # unless told not to.
    local-zone: "@ZONE@" nodefault
stub-zone:
    name: "@ZONE@"
    stub-addr: @STUB_IP@@@STUB_PORT@
"#;

pub struct Unbound {
    pub addr: SocketAddr,
    process: ServerProcess,
    _dir: tempfile::TempDir,
}

impl Unbound {
    /// Answers at `addr`, iterating from `parent` for `zone` (an absolute name) and
    /// whatever it delegates.
    pub fn start(addr: SocketAddr, zone: &str, parent: SocketAddr) -> Self {
        let binary = require_binary("unbound");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_string();
        let config = fill(
            CONFIG,
            &[
                ("IP", &addr.ip().to_string()),
                ("PORT", &addr.port().to_string()),
                ("DIR", &path),
                ("ZONE", zone),
                ("STUB_IP", &parent.ip().to_string()),
                ("STUB_PORT", &parent.port().to_string()),
            ],
        );
        let file = dir.path().join("unbound.conf");
        std::fs::write(&file, config).unwrap();
        let process = ServerProcess::start(
            "unbound",
            vec![
                binary.display().to_string(),
                "-d".into(),
                "-c".into(),
                file.display().to_string(),
            ],
            dir.path(),
            addr,
        );
        Self {
            addr,
            process,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}
