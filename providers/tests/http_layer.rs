//! The shared HTTP layer against a scripted HTTP server on loopback that answers 429,
//! 503, slow responses and connection resets.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dnsteer_providers::http::{classify_status, HttpClient, HttpConfig, Idempotency};
use dnsteer_providers::ProviderError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server does with one request.
#[derive(Clone, Debug)]
enum Step {
    Status(u16, &'static str),
    Slow(Duration),
    Reset,
}

/// Serves `script` one step per request (the last step repeats); counts requests.
async fn scripted(script: Vec<Step>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let step = script[n.min(script.len() - 1)].clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                let (code, headers) = match step {
                    Step::Reset => {
                        let std = sock.into_std().unwrap();
                        // Linger 0 turns the close into a TCP reset.
                        socket2::SockRef::from(&std).set_linger(Some(Duration::ZERO)).unwrap();
                        drop(std);
                        return;
                    }
                    Step::Slow(d) => {
                        tokio::time::sleep(d).await;
                        (200, "")
                    }
                    Step::Status(code, headers) => (code, headers),
                };
                let body = format!("{{\"status\": {code}}}");
                let reply = format!(
                    "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, count)
}

fn client(timeout: Duration) -> HttpClient {
    let config = HttpConfig {
        timeout,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..HttpConfig::default()
    };
    HttpClient::with_own_limiter("test-provider", config).unwrap()
}

async fn get(client: &HttpClient, addr: SocketAddr, idempotency: Idempotency) -> Result<u16, ProviderError> {
    let url = format!("http://{addr}/x");
    client
        .send(
            idempotency,
            |c| c.get(&url),
            |resp| classify_status("test-provider", resp),
        )
        .await
        .map(|r| r.status.as_u16())
}

#[tokio::test]
async fn transient_503_is_retried_until_success() {
    let (addr, count) = scripted(vec![
        Step::Status(503, ""),
        Step::Status(503, ""),
        Step::Status(200, ""),
    ])
    .await;
    assert_eq!(
        get(&client(Duration::from_secs(2)), addr, Idempotency::Idempotent)
            .await
            .unwrap(),
        200
    );
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn at_most_three_attempts_then_a_transient_error() {
    let (addr, count) = scripted(vec![Step::Status(503, "")]).await;
    let err = get(&client(Duration::from_secs(2)), addr, Idempotency::Idempotent)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transient { .. }), "{err:?}");
    assert!(err.to_string().contains("test-provider"));
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retry_after_is_waited_within_a_call() {
    let (addr, count) = scripted(vec![Step::Status(429, "Retry-After: 1\r\n"), Step::Status(200, "")]).await;
    let c = HttpClient::with_own_limiter(
        "test-provider",
        HttpConfig {
            max_backoff: Duration::from_secs(2),
            ..HttpConfig::default()
        },
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(get(&c, addr, Idempotency::Idempotent).await.unwrap(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 not honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_long_retry_after_fails_fast_and_blocks_later_calls() {
    let (addr, count) = scripted(vec![Step::Status(429, "Retry-After: 120\r\n")]).await;
    let c = client(Duration::from_secs(2));
    let err = get(&c, addr, Idempotency::Idempotent).await.unwrap_err();
    match err {
        ProviderError::RateLimited {
            retry_after: Some(d), ..
        } => assert_eq!(d, Duration::from_secs(120)),
        other => panic!("expected RateLimited with retry_after, got {other:?}"),
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // The next cycle's call is refused locally: the provider asked for quiet.
    let again = get(&c, addr, Idempotency::Idempotent).await.unwrap_err();
    assert!(matches!(again, ProviderError::RateLimited { retry_after: Some(d), .. } if d > Duration::from_secs(100)));
    assert_eq!(count.load(Ordering::SeqCst), 1, "a blocked client must not send");
}

#[tokio::test]
async fn a_slow_response_times_out_as_transient() {
    let (addr, count) = scripted(vec![Step::Slow(Duration::from_secs(5))]).await;
    let started = Instant::now();
    let err = get(&client(Duration::from_millis(300)), addr, Idempotency::Idempotent)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transient { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_connection_reset_is_retried() {
    let (addr, count) = scripted(vec![Step::Reset, Step::Status(200, "")]).await;
    assert_eq!(
        get(&client(Duration::from_secs(2)), addr, Idempotency::Idempotent)
            .await
            .unwrap(),
        200
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_request_that_is_not_idempotent_is_not_resent_after_a_5xx() {
    let (addr, count) = scripted(vec![Step::Status(503, ""), Step::Status(200, "")]).await;
    let err = get(&client(Duration::from_secs(2)), addr, Idempotency::NotIdempotent)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transient { .. }), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn auth_failures_are_not_retried() {
    let (addr, count) = scripted(vec![Step::Status(401, "")]).await;
    let err = get(&client(Duration::from_secs(2)), addr, Idempotency::Idempotent)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = get(&client(Duration::from_secs(2)), port, Idempotency::NotIdempotent)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transient { .. }), "{err:?}");
    assert!(err.to_string().contains("could not connect"), "{err}");
}

#[tokio::test]
async fn the_token_bucket_paces_requests() {
    let (addr, count) = scripted(vec![Step::Status(200, "")]).await;
    let config = HttpConfig {
        requests_per_second: NonZeroU32::new(10).unwrap(),
        burst: NonZeroU32::new(1).unwrap(),
        ..HttpConfig::default()
    };
    let c = HttpClient::with_own_limiter("test-provider", config).unwrap();
    let started = Instant::now();
    for _ in 0..6 {
        get(&c, addr, Idempotency::Idempotent).await.unwrap();
    }
    // One token at once, then one every 100 ms: six requests need at least 500 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count.load(Ordering::SeqCst), 6);
}
