//! The report of a batch that a provider takes in several steps (several requests, or
//! one call per record) and that stopped part way.

use crate::error::ProviderError;

/// `error`, met after `steps` steps of a batch went through, carrying `applied` whole
/// changes; `how` says what the steps were ("in 2 atomic requests"). With no step
/// through, nothing of the batch is live and the error is returned as it is; otherwise
/// it is `PartiallyApplied`, so the caller re-reads before planning again.
pub fn partially_applied(
    provider: &str,
    applied: usize,
    steps: usize,
    how: &str,
    error: ProviderError,
) -> ProviderError {
    if steps == 0 {
        return error;
    }
    ProviderError::PartiallyApplied {
        provider: provider.to_string(),
        applied,
        message: format!("{applied} changes applied {how}, then: {error}"),
    }
}
