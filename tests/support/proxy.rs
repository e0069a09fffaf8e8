//! A switchable TCP proxy on loopback for failure tests: it forwards to one target
//! (`pass`), resets every connection at once (`reset`: a link cut both ways), or accepts
//! and holds connections without forwarding or answering anything (`blackhole`: what a
//! paused host looks like). It counts the HTTP write requests (POST, PUT, PATCH, DELETE)
//! its clients send, request line by request line, so a test can tell which daemon wrote
//! to a provider. It runs on its own thread and runtime, which end when it is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Reset,
    Blackhole,
}

pub struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `target`, a loopback address.
    pub fn start(target: SocketAddr) -> Self {
        assert!(target.ip().is_loopback(), "test proxies stay on loopback");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, mode_rx) = watch::channel(Mode::Pass);
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).unwrap();
                    tokio::select! {
                        _ = accept(listener, target, mode_rx, log) => {}
                        _ = shutdown_rx => {}
                    }
                });
                // Dropping the runtime here drops every connection task and its sockets.
            })
            .unwrap();
        Self {
            addr,
            mode,
            shutdown: Some(shutdown),
            requests,
            thread: Some(thread),
        }
    }

    /// `http://ADDR`, for a URL that should go through the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn pass(&self) {
        self.set(Mode::Pass);
    }

    pub fn reset(&self) {
        self.set(Mode::Reset);
    }

    pub fn blackhole(&self) {
        self.set(Mode::Blackhole);
    }

    /// Every HTTP request line clients sent through the proxy so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// How many of those requests were writes (POST, PUT, PATCH, DELETE).
    pub fn writes(&self) -> usize {
        self.requests().iter().filter(|line| is_write(line)).count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn is_write(request_line: &str) -> bool {
    ["POST ", "PUT ", "PATCH ", "DELETE "]
        .iter()
        .any(|m| request_line.starts_with(m))
}

async fn accept(listener: TcpListener, target: SocketAddr, mode: watch::Receiver<Mode>, log: Arc<Mutex<Vec<String>>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors, say: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(connection(client, target, mode.clone(), log.clone()));
    }
}

/// One client connection, following the proxy's mode for as long as it lives. The
/// upstream connection is opened only once the mode lets traffic pass, so a connection
/// accepted while black-holed reaches nothing until the proxy passes again.
async fn connection(
    client: TcpStream,
    target: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    log: Arc<Mutex<Vec<String>>>,
) {
    let mut client = client;
    let mut upstream: Option<TcpStream> = None;
    let mut counter = RequestCounter::default();
    let (mut from_client, mut from_upstream) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    // Half-closes pass through: each direction ends on its own.
    let (mut client_done, mut upstream_done) = (false, false);
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Reset => {
                reset(client);
                if let Some(up) = upstream {
                    reset(up);
                }
                return;
            }
            Mode::Blackhole => {
                // Hold both sockets: read nothing, answer nothing, until the mode changes.
                if mode.changed().await.is_err() {
                    return;
                }
            }
            Mode::Pass => {
                if upstream.is_none() {
                    match TcpStream::connect(target).await {
                        Ok(up) => upstream = Some(up),
                        Err(_) => return reset(client),
                    }
                }
                let up = upstream.as_mut().unwrap();
                tokio::select! {
                    read = client.read(&mut from_client), if !client_done => match read {
                        Ok(0) | Err(_) => {
                            client_done = true;
                            let _ = up.shutdown().await;
                        }
                        Ok(n) => {
                            for line in counter.feed(&from_client[..n]) {
                                log.lock().unwrap().push(line);
                            }
                            if !until_reset(up.write_all(&from_client[..n]), &mut mode).await {
                                continue;
                            }
                        }
                    },
                    read = up.read(&mut from_upstream), if !upstream_done => match read {
                        Ok(0) | Err(_) => {
                            upstream_done = true;
                            let _ = client.shutdown().await;
                        }
                        Ok(n) => {
                            if !until_reset(client.write_all(&from_upstream[..n]), &mut mode).await {
                                continue;
                            }
                        }
                    },
                    changed = mode.changed() => if changed.is_err() {
                        return;
                    },
                }
                if client_done && upstream_done {
                    return;
                }
            }
        }
    }
}

/// Runs a write to its end unless the proxy switches to `reset` meanwhile (a write to a
/// stopped peer can block for good). False when the write was given up or failed; the
/// connection loop then sees the new mode, or the closed socket on its next read.
async fn until_reset(
    write: impl std::future::Future<Output = std::io::Result<()>>,
    mode: &mut watch::Receiver<Mode>,
) -> bool {
    let reset = async {
        loop {
            if *mode.borrow() == Mode::Reset {
                return;
            }
            if mode.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        written = write => written.is_ok(),
        _ = reset => false,
    }
}

/// Closes with an RST rather than a FIN, as a cut link does to both ends.
fn reset(stream: TcpStream) {
    // SO_LINGER 0 makes the close send an RST; closing never blocks with a zero linger.
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Finds the request lines in one connection's client-to-server byte stream, however
/// the stream is split into reads: it skips each message's body by its Content-Length
/// or its chunked framing, so several requests on one keep-alive connection each count.
#[derive(Debug, Default)]
pub struct RequestCounter {
    buf: Vec<u8>,
    state: Framing,
}

#[derive(Debug, Default)]
enum Framing {
    #[default]
    Head,
    Body(usize),
    ChunkSize,
    ChunkData(usize),
    Trailer,
}

impl RequestCounter {
    /// Takes the next bytes of the stream; returns the request lines completed in them.
    pub fn feed(&mut self, data: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(data);
        let mut lines = Vec::new();
        loop {
            match self.state {
                Framing::Head => {
                    // Stray CRLFs between messages are allowed (RFC 9112 §2.2).
                    while self.buf.starts_with(b"\r\n") {
                        self.buf.drain(..2);
                    }
                    let Some(end) = find(&self.buf, b"\r\n\r\n") else { break };
                    let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                    self.buf.drain(..end + 4);
                    let mut head_lines = head.split("\r\n");
                    lines.push(head_lines.next().unwrap_or_default().to_string());
                    let mut length = 0;
                    let mut chunked = false;
                    for header in head_lines {
                        let Some((name, value)) = header.split_once(':') else {
                            continue;
                        };
                        let value = value.trim();
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.parse().unwrap_or(0);
                        } else if name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = value.to_ascii_lowercase().contains("chunked");
                        }
                    }
                    self.state = match (chunked, length) {
                        (true, _) => Framing::ChunkSize,
                        (false, 0) => Framing::Head,
                        (false, n) => Framing::Body(n),
                    };
                }
                Framing::Body(left) => {
                    if self.buf.is_empty() {
                        break;
                    }
                    let n = left.min(self.buf.len());
                    self.buf.drain(..n);
                    self.state = if n == left {
                        Framing::Head
                    } else {
                        Framing::Body(left - n)
                    };
                }
                Framing::ChunkData(left) => {
                    if self.buf.is_empty() {
                        break;
                    }
                    let n = left.min(self.buf.len());
                    self.buf.drain(..n);
                    self.state = if n == left {
                        Framing::ChunkSize
                    } else {
                        Framing::ChunkData(left - n)
                    };
                }
                Framing::ChunkSize => {
                    let Some(end) = find(&self.buf, b"\r\n") else { break };
                    let line = String::from_utf8_lossy(&self.buf[..end]).to_string();
                    self.buf.drain(..end + 2);
                    let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
                    // Each chunk's data is followed by a CRLF; the last chunk by the trailer.
                    self.state = if size == 0 {
                        Framing::Trailer
                    } else {
                        Framing::ChunkData(size + 2)
                    };
                }
                Framing::Trailer => {
                    let Some(end) = find(&self.buf, b"\r\n") else { break };
                    self.buf.drain(..end + 2);
                    if end == 0 {
                        self.state = Framing::Head;
                    }
                }
            }
        }
        lines
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
