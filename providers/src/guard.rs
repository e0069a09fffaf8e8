//! The writer's guard: a check that the agent's lease still allows writing, asked just
//! before each request of a write leaves for a provider, after any rate-limit wait. A
//! leader whose lease lapsed while its batch waited for a token (Cloudflare's budget
//! can make that minutes) then sends nothing. The guard is task-local, so every
//! adapter's requests pass through it without each adapter carrying it.

use std::future::Future;
use std::sync::Arc;

use crate::error::ProviderError;

/// Whether writing may go on now.
pub type WriteGuard = Arc<dyn Fn() -> bool + Send + Sync>;

tokio::task_local! {
    static GUARD: WriteGuard;
}

/// Runs `work` (an `apply`) with `guard` asked before each request it sends.
pub async fn guarded<F: Future>(guard: WriteGuard, work: F) -> F::Output {
    GUARD.scope(guard, work).await
}

/// `Err(Fenced)` when the current task runs under a guard that now says no; requests
/// outside a guarded task (reads, the CLI) always pass.
pub fn check(provider: &str) -> Result<(), ProviderError> {
    match GUARD.try_with(|guard| guard()) {
        Ok(false) => Err(ProviderError::Fenced {
            provider: provider.to_string(),
            message: "the lease no longer allows writing: the request was not sent".into(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_guard_that_says_no_stops_a_request() {
        assert!(check("p").is_ok(), "unguarded work always passes");
        assert!(guarded(Arc::new(|| true), async { check("p") }).await.is_ok());
        let refused = guarded(Arc::new(|| false), async { check("p") }).await;
        assert!(matches!(refused, Err(ProviderError::Fenced { .. })), "{refused:?}");
    }
}
