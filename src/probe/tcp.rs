//! The TCP prober: a connection accepted within the timeout, then closed.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::net::TcpStream;

use super::{Outcome, ProbeResult, Prober};

#[derive(Debug)]
pub struct TcpProber {
    target: String,
    address: SocketAddr,
    timeout: Duration,
}

impl TcpProber {
    pub fn new(target: &str, address: SocketAddr, timeout: Duration) -> Self {
        Self {
            target: target.to_string(),
            address,
            timeout,
        }
    }
}

#[async_trait]
impl Prober for TcpProber {
    async fn probe(&self) -> ProbeResult {
        let start = Instant::now();
        let connected = tokio::time::timeout(self.timeout, TcpStream::connect(self.address)).await;
        let latency = start.elapsed();
        let address = self.address;
        match connected {
            Ok(Ok(_stream)) => ProbeResult::success(&self.target, latency),
            Err(_) => ProbeResult::failure(
                &self.target,
                Outcome::ConnectTimeout,
                format!("{address}: no connection within {} ms", self.timeout.as_millis()),
                latency,
            ),
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => ProbeResult::failure(
                &self.target,
                Outcome::ConnectRefused,
                format!("{address}: connection refused"),
                latency,
            ),
            Ok(Err(e)) => ProbeResult::failure(&self.target, Outcome::Io, format!("{address}: {e}"), latency),
        }
    }

    fn target(&self) -> &str {
        &self.target
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }
}
