//! Waiting for a provider's asynchronous operation (Route 53's change until INSYNC, the
//! registrar's operation until SUCCESSFUL) with a deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::ProviderError;

/// What one look at an operation found.
#[derive(Debug)]
pub enum Poll {
    Done,
    /// Still going; the status, for the message if the deadline passes.
    Pending(String),
}

/// Asks `check` every `interval` until it says `Done` or fails; past `timeout` it is
/// `Transient` with `still(status, timeout)` as message: the provider accepted the
/// work and goes on with it, only the wait is over.
pub async fn poll_until<F, Fut>(
    provider: &str,
    timeout: Duration,
    interval: Duration,
    mut check: F,
    still: impl Fn(&str, Duration) -> String,
) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll, ProviderError>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let status = match check().await? {
            Poll::Done => return Ok(()),
            Poll::Pending(status) => status,
        };
        if Instant::now() + interval > deadline {
            return Err(ProviderError::Transient {
                provider: provider.to_string(),
                message: still(&status, timeout),
            });
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn polls_until_done_or_the_deadline() {
        let mut n = 0;
        let done = poll_until(
            "p",
            Duration::from_secs(10),
            Duration::from_millis(5),
            || {
                n += 1;
                let n = n;
                async move {
                    Ok(if n < 3 {
                        Poll::Pending("PENDING".into())
                    } else {
                        Poll::Done
                    })
                }
            },
            |s, t| format!("{s} after {t:?}"),
        )
        .await;
        assert!(done.is_ok());
        assert_eq!(n, 3);
        let late = poll_until(
            "p",
            Duration::from_millis(30),
            Duration::from_millis(10),
            || async { Ok(Poll::Pending("PENDING".into())) },
            |s, t| format!("{s} after {t:?}"),
        )
        .await
        .unwrap_err();
        assert!(matches!(late, ProviderError::Transient { .. }), "{late:?}");
        assert!(late.to_string().contains("PENDING after 30ms"), "{late}");
    }
}
