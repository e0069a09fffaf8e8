//! A regional HTTP endpoint whose health the test switches: `GET /healthz` answers 200
//! while up and 503 while down. Bound to a loopback address of the test's choosing
//! (127.0.0.2, 127.0.0.3, ...), on a free port.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub struct Endpoint {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
    fail_one_in: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    /// Starts serving on `ip` (a loopback address) in the current tokio runtime.
    pub async fn start(ip: &str) -> Self {
        let ip: IpAddr = ip.parse().unwrap();
        assert!(ip.is_loopback(), "test endpoints stay on loopback");
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let hits = Arc::new(AtomicUsize::new(0));
        let fail_one_in = Arc::new(AtomicUsize::new(0));
        let (state, count, flaky) = (up.clone(), hits.clone(), fail_one_in.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let every = flaky.load(Ordering::SeqCst);
                let healthy = state.load(Ordering::SeqCst) && !(every > 0 && n % every == 0);
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let (status, body) = if healthy {
                        ("200 OK", "ok")
                    } else {
                        ("503 Service Unavailable", "down")
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self {
            addr,
            up,
            hits,
            fail_one_in,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/healthz", self.addr)
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    /// Makes every `n`th request fail (0: none), e.g. 5 for a 20% failure rate.
    pub fn fail_one_in(&self, n: usize) {
        self.fail_one_in.store(n, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}
