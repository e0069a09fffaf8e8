//! A `dnsteer run` child process: started with a configuration, polled through its
//! HTTP API, stopped with SIGTERM (clean) or SIGKILL (crash).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub url: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// Starts the daemon and waits until it serves `/healthz`.
    pub fn start(config: &Path, listen: &str, env: &[(&str, String)], log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_dnsteer"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("DNSTEER_LOG", "info,dnsteer=debug")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start dnsteer run");
        let mut daemon = Self {
            url: format!("http://{listen}"),
            log,
            child: Some(child),
        };
        let started = Instant::now();
        while !crate::support::tcp_accepts(listen.parse().unwrap()) {
            // A daemon that refused its configuration says why at once; no need to wait.
            if let Some(status) = daemon.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("daemon exited at start ({status}):\n{}", daemon.log_text());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "daemon did not listen:\n{}",
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("daemon reachable");
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    pub async fn status(&self) -> serde_json::Value {
        let (code, body) = self.get("/v1/status").await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    pub async fn target_state(&self, target: &str) -> String {
        let status = self.status().await;
        status["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == target)
            .map(|t| t["state"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no target {target} in {status}"))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: serde_json::Value) -> (u16, String) {
        let mut req = client().post(format!("{}{path}", self.url)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("daemon reachable");
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// SIGTERM, then the exit status (within 20 s).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "daemon did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id, to signal it.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        // The log goes with the test's folder: show its end when the test failed.
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of {}:", self.log.display());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn client() -> reqwest::Client {
    dnsteer_providers::http::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Polls `check` every 25 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
