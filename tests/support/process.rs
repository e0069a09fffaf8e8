//! Server processes and ports on loopback, for every harness here. Also included (by
//! path) in the providers crate's tests, with the harnesses its adapters are tested
//! against: nothing here may use the root crate.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free for both TCP and UDP on 127.0.0.1 at the time of asking.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral TCP port");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on 127.0.0.1");
}

/// Polls `ready` every 20 ms until it holds or `limit` passes.
pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what} not ready after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn tcp_accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Fails the test with a clear message when a server binary is missing: the tests need
/// real servers, and `.ci/run` installs them.
pub fn require_binary(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("{name} is not installed: run .ci/run (or install the packages it lists) first");
}

/// A server child process, restartable, killed on drop.
pub struct ServerProcess {
    name: String,
    command: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
    /// An address that accepts TCP once the server is up.
    ready_addr: SocketAddr,
}

impl ServerProcess {
    pub fn start(name: &str, command: Vec<String>, dir: &Path, ready_addr: SocketAddr) -> Self {
        let mut server = Self {
            name: name.to_string(),
            command,
            dir: dir.to_path_buf(),
            child: None,
            ready_addr,
        };
        server.resume();
        server
    }

    /// Starts the process (again) and waits until it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let log = std::fs::File::create(self.dir.join(format!("{}.log", self.name))).unwrap();
        let child = Command::new(&self.command[0])
            .args(&self.command[1..])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        self.child = Some(child);
        let addr = self.ready_addr;
        let name = self.name.clone();
        let log_path = self.dir.join(format!("{}.log", self.name));
        let start = Instant::now();
        while !tcp_accepts(addr) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("{name} exited at start ({status}):\n{log}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{name} did not start within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the running process: `STOP` freezes it
    /// whole, sockets open and unanswered, as a hung or black-holed host looks.
    pub fn signal(&self, signal: &str) {
        let child = self
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("{} is not running", self.name));
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.name);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Replaces each `@KEY@` in a template.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |t, (k, v)| t.replace(&format!("@{k}@"), v))
}

/// Runs openssl in `dir` (keys, certificates), failing the test with its stderr.
pub fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new(require_binary("openssl"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
