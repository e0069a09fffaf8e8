//! Headless Chromium driven through chromedriver's W3C WebDriver protocol (JSON over
//! HTTP on loopback, spoken with the reqwest the project already has), plus
//! chromedriver's browser-log endpoint, which the W3C protocol lacks, for console
//! errors. A missing chromedriver fails the test with what to install.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

pub struct Browser {
    driver: Child,
    base: String,
    client: reqwest::Client,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless session.
    pub async fn start() -> Self {
        let chromedriver = super::require_binary("chromedriver");
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!("chromium is not installed: run scripts/install-test-deps.sh (Debian: chromium chromium-driver)")
            });
        dnsteer_providers::http::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let port = super::free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        // Owned at once, so that a panic from here on still ends chromedriver (Drop).
        let mut browser = Self {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            client,
        };
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        super::wait_until("chromedriver", Duration::from_secs(20), || super::tcp_accepts(addr));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1100,1500", "--no-first-run", "--hide-scrollbars"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let session = browser.call("POST", "/session", Some(caps)).await;
        let id = session["sessionId"].as_str().expect("a session id").to_string();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.client.get(&url),
            "DELETE" => self.client.delete(&url),
            _ => self.client.post(&url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let resp = req.send().await.unwrap_or_else(|e| panic!("chromedriver {path}: {e}"));
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "chromedriver {method} {path}: {status} {value}");
        value.get("value").cloned().unwrap_or(value)
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": [] })))
            .await
    }

    /// The browser console's entries since the last call (level, message).
    pub async fn console(&self) -> Vec<(String, String)> {
        let logs = self.call("POST", "/se/log", Some(json!({ "type": "browser" }))).await;
        logs.as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                (
                    l["level"].as_str().unwrap_or("").to_string(),
                    l["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// A PNG of the whole page (the window is first made as tall as the page).
    pub async fn screenshot(&self) -> Vec<u8> {
        let height = self
            .eval("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(1500)
            .clamp(600, 8000);
        self.call("POST", "/window/rect", Some(json!({ "width": 1100, "height": height })))
            .await;
        let b64 = self.call("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 PNG"))
            .expect("a PNG")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session ends Chromium (a blocking request: no runtime in a drop);
        // chromedriver is then ours to end.
        if let Some(rest) = self.base.strip_prefix("http://") {
            if let Some((host, path)) = rest.split_once('/') {
                if let Ok(mut s) = std::net::TcpStream::connect(host) {
                    use std::io::{Read, Write};
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let _ = write!(
                        s,
                        "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                    );
                    let _ = s.read_to_end(&mut Vec::new());
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
