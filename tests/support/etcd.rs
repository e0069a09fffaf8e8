//! A 3-member etcd 3.4 cluster (Debian `etcd-server`) on free loopback ports, each
//! member a child process with its data under one temporary folder; members can be
//! killed and restarted one at a time, and all are killed on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{free_port, require_binary, ServerProcess};

/// How long a cluster, or a restarted member, may take to become healthy: about 1–3 s
/// on a quiet 2-core machine, much more when the tests run side by side.
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);

struct Member {
    name: String,
    client: SocketAddr,
    peer: SocketAddr,
    /// `None` while killed.
    process: Option<ServerProcess>,
}

pub struct EtcdCluster {
    binary: PathBuf,
    /// `e1=http://127.0.0.1:P1,...`: every member's peer URL.
    initial_cluster: String,
    members: Vec<Member>,
    // Declared last: dropped after the members, whose processes use it.
    dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// Starts three members and waits until each reports itself healthy.
    pub fn start() -> Self {
        let binary = require_binary("etcd");
        let dir = tempfile::tempdir().unwrap();
        let members: Vec<Member> = (1..=3)
            .map(|i| Member {
                name: format!("e{i}"),
                client: SocketAddr::from(([127, 0, 0, 1], free_port())),
                peer: SocketAddr::from(([127, 0, 0, 1], free_port())),
                process: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = EtcdCluster {
            binary,
            initial_cluster,
            members,
            dir,
        };
        // Each member's client port is bound at once, but it only serves once a quorum
        // is up: start all three before waiting for any to be healthy.
        for i in 0..cluster.members.len() {
            cluster.launch(i, "new");
        }
        cluster.wait_healthy(&[0, 1, 2]);
        cluster
    }

    /// Every member's client URL, `http://127.0.0.1:PORT`.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|i| self.endpoint(i)).collect()
    }

    pub fn endpoint(&self, member: usize) -> String {
        format!("http://{}", self.members[member].client)
    }

    /// SIGKILLs a member; its data stays for a restart.
    pub fn kill(&mut self, member: usize) {
        if let Some(mut p) = self.members[member].process.take() {
            p.stop();
        }
    }

    /// Starts a killed member again on its data, and waits until it is healthy (which
    /// needs a quorum of the cluster up).
    pub fn restart(&mut self, member: usize) {
        assert!(self.members[member].process.is_none(), "member {member} is running");
        self.launch(member, "existing");
        self.wait_healthy(&[member]);
    }

    /// A member's log, for assertion messages.
    pub fn log(&self, member: usize) -> String {
        self.members[member]
            .process
            .as_ref()
            .map(ServerProcess::log)
            .unwrap_or_default()
    }

    fn launch(&mut self, member: usize, state: &str) {
        let m = &self.members[member];
        let client = format!("http://{}", m.client);
        let peer = format!("http://{}", m.peer);
        let data = self.dir.path().join(&m.name);
        let command = [
            self.binary.to_str().unwrap(),
            "--name",
            &m.name,
            "--data-dir",
            data.to_str().unwrap(),
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--initial-cluster",
            &self.initial_cluster,
            "--initial-cluster-state",
            state,
            "--initial-cluster-token",
            "dnsteer-test",
            // The recipe's timings: a leader is elected about a second after a loss.
            "--heartbeat-interval",
            "100",
            "--election-timeout",
            "1000",
        ]
        .map(String::from)
        .to_vec();
        let process = ServerProcess::start(&m.name, command, self.dir.path(), m.client);
        self.members[member].process = Some(process);
    }

    fn wait_healthy(&self, members: &[usize]) {
        let start = Instant::now();
        for &i in members {
            while !is_healthy(self.members[i].client) {
                assert!(
                    start.elapsed() < HEALTHY_WITHIN,
                    "etcd member {} not healthy within {HEALTHY_WITHIN:?}:\n{}",
                    self.members[i].name,
                    self.log(i)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// `GET /health` answers `{"health":"true"}` once the member has a leader and can
/// commit.
fn is_healthy(client: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&client, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.0\r\nHost: {client}\r\n\r\n");
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.contains(r#""health":"true""#)
}
