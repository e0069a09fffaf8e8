//! A regional HTTP endpoint whose health the demo switches: `GET /healthz` answers 200
//! while up and 503 while down.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Endpoint {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Endpoint {
    /// Serves on a free port of `ip` (a loopback address), or of 127.0.0.1 where `ip`
    /// cannot be bound (loopback aliases are not configured on every system).
    pub async fn start(ip: Ipv4Addr) -> anyhow::Result<Self> {
        assert!(ip.is_loopback(), "demo endpoints stay on loopback");
        let listener = match TcpListener::bind((ip, 0)).await {
            Ok(listener) => listener,
            Err(_) => TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .context("cannot bind an endpoint on 127.0.0.1")?,
        };
        let addr = listener.local_addr()?;
        let up = Arc::new(AtomicBool::new(true));
        let app = Router::new()
            .route(
                "/healthz",
                get(|State(up): State<Arc<AtomicBool>>| async move {
                    if up.load(Ordering::SeqCst) {
                        (StatusCode::OK, "ok\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "down\n")
                    }
                }),
            )
            .with_state(up.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            up,
            stop: Some(stop),
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/healthz", self.addr)
    }

    /// Whether the endpoint landed on the address it asked for.
    pub fn on(&self, ip: Ipv4Addr) -> bool {
        self.addr.ip() == IpAddr::V4(ip)
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(Duration::from_secs(3), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}
