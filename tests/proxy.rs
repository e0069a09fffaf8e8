//! The test proxy itself (tests/support/proxy.rs): it forwards, resets both ways,
//! black-holes, and counts HTTP write requests however they are framed and split.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::proxy::{Proxy, RequestCounter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An upstream that answers every request with `200 ok` on a keep-alive connection and
/// counts the connections it accepted and the ones that ended.
struct Upstream {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

async fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (a, c) = (accepted.clone(), closed.clone());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                let mut counter = RequestCounter::default();
                let mut buf = [0u8; 4096];
                loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            for _ in counter.feed(&buf[..n]) {
                                if sock
                                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                    .await
                                    .is_err()
                                {
                                    break;
                                }
                            }
                        }
                    }
                }
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    Upstream { addr, accepted, closed }
}

/// Reads one `200 ok` reply (38 bytes), or what the connection gave instead.
async fn reply(sock: &mut TcpStream) -> std::io::Result<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(b"\r\n\r\nok") {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&got).to_string())
}

async fn within<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(limit, f).await.ok()
}

#[test]
fn the_counter_finds_every_request_line_however_the_stream_is_split() {
    let stream = concat!(
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        // A body that looks like a request line must not count.
        "POST /b HTTP/1.1\r\nContent-Length: 18\r\n\r\nPUT /fake HTTP/1.1",
        "PATCH /c HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}",
        "\r\n",
        "DELETE /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nPOST \r\n0\r\n\r\n",
        "PUT /e HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    )
    .as_bytes();
    let want = [
        "GET /a HTTP/1.1",
        "POST /b HTTP/1.1",
        "PATCH /c HTTP/1.1",
        "DELETE /d HTTP/1.1",
        "PUT /e HTTP/1.1",
    ];
    for step in [stream.len(), 1, 2, 7] {
        let mut counter = RequestCounter::default();
        let lines: Vec<String> = stream.chunks(step).flat_map(|chunk| counter.feed(chunk)).collect();
        assert_eq!(lines, want, "fed {step} bytes at a time");
    }
    assert_eq!(want.iter().filter(|l| support::proxy::is_write(l)).count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_forwards_and_counts_writes_on_a_keep_alive_connection() {
    let up = upstream().await;
    let proxy = Proxy::start(up.addr);
    let mut sock = TcpStream::connect(proxy.addr).await.unwrap();
    for request in [
        "GET /x HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
        "PATCH /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}",
    ] {
        sock.write_all(request.as_bytes()).await.unwrap();
        let answer = within(Duration::from_secs(5), reply(&mut sock))
            .await
            .expect("answered");
        assert!(answer.unwrap().starts_with("HTTP/1.1 200"));
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1, "one connection, kept alive");
    assert_eq!(proxy.requests().len(), 3);
    assert_eq!(proxy.writes(), 2, "{:?}", proxy.requests());
    // Through reqwest too, as the daemon's providers talk.
    dnsteer_providers::http::install_crypto_provider();
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let resp = client
            .put(format!("{}/y", proxy.url()))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(proxy.writes(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_cuts_existing_and_new_connections_both_ways() {
    let up = upstream().await;
    let proxy = Proxy::start(up.addr);
    let mut sock = TcpStream::connect(proxy.addr).await.unwrap();
    sock.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    within(Duration::from_secs(5), reply(&mut sock)).await.unwrap().unwrap();

    proxy.reset();
    let mut buf = [0u8; 16];
    let read = within(Duration::from_secs(2), sock.read(&mut buf))
        .await
        .expect("the client hears at once");
    assert!(matches!(read, Err(_) | Ok(0)), "{read:?}");
    // The server's side was closed too.
    for _ in 0..100 {
        if up.closed.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(up.closed.load(Ordering::SeqCst), 1, "the upstream connection is cut");

    // A new connection is accepted and reset at once (or refused, if the RST comes first).
    if let Ok(mut new) = TcpStream::connect(proxy.addr).await {
        let _ = new.write_all(b"GET / HTTP/1.1\r\n\r\n").await;
        let read = within(Duration::from_secs(2), new.read(&mut buf))
            .await
            .expect("reset at once");
        assert!(matches!(read, Err(_) | Ok(0)), "{read:?}");
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1, "nothing new reached the server");

    proxy.pass();
    let mut again = TcpStream::connect(proxy.addr).await.unwrap();
    again.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    within(Duration::from_secs(5), reply(&mut again))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_holds_connections_silently_until_it_passes_again() {
    let up = upstream().await;
    let proxy = Proxy::start(up.addr);
    let mut old = TcpStream::connect(proxy.addr).await.unwrap();
    old.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    within(Duration::from_secs(5), reply(&mut old)).await.unwrap().unwrap();

    proxy.blackhole();
    // Connecting still works (the host's kernel accepts), but nothing answers.
    let mut new = TcpStream::connect(proxy.addr).await.unwrap();
    new.write_all(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    old.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(
        within(Duration::from_millis(500), reply(&mut new)).await.is_none(),
        "no answer"
    );
    assert!(
        within(Duration::from_millis(300), reply(&mut old)).await.is_none(),
        "no answer"
    );
    assert_eq!(
        up.accepted.load(Ordering::SeqCst),
        1,
        "the new connection reached nothing"
    );
    assert_eq!(proxy.writes(), 0, "a held request did not pass");

    // A paused host resumed: what was held goes through.
    proxy.pass();
    within(Duration::from_secs(5), reply(&mut new))
        .await
        .expect("answered")
        .unwrap();
    within(Duration::from_secs(5), reply(&mut old))
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(proxy.writes(), 1);
}

#[test]
fn dropping_the_proxy_ends_its_thread_and_closes_its_port() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = rt.block_on(upstream());
    let proxy = Proxy::start(up.addr);
    let addr = proxy.addr;
    let held = std::net::TcpStream::connect(addr).unwrap();
    proxy.blackhole();
    drop(proxy); // joins the proxy's thread: it must not hang on the held connection
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err());
    drop(held);
}
