//! The one error type every provider returns. Each variant tells the caller what to do
//! next, so the agent never has to parse messages.

use std::time::Duration;

/// What went wrong talking to a provider, and therefore what the caller should do.
///
/// Every variant names the provider (its configured name) so that a message reaching
/// an operator says where the problem is.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The provider asked us to slow down. Retry no sooner than `retry_after`.
    #[error("{provider}: rate limited{}", retry_after.map(|d| format!(", retry after {}", humantime::format_duration(d))).unwrap_or_default())]
    RateLimited {
        provider: String,
        retry_after: Option<Duration>,
    },

    /// A failure that may pass by itself (timeout, connection refused, 5xx). Retry later.
    #[error("{provider}: transient failure: {message}")]
    Transient { provider: String, message: String },

    /// The credentials were refused. Retrying will not help; fix the configuration.
    #[error("{provider}: authentication failed: {message}")]
    Auth { provider: String, message: String },

    /// The provider refused the request as invalid. Nothing of that batch was applied.
    #[error("{provider}: request rejected: {message}")]
    Rejected { provider: String, message: String },

    /// A record set changed since it was read (compare-and-set failed). Nothing of that
    /// batch was applied; re-read and plan again.
    #[error("{provider}: changed concurrently: {message}")]
    Conflict { provider: String, message: String },

    /// The provider cannot do what was asked (a record type, a feature).
    #[error("{provider}: unsupported: {message}")]
    Unsupported { provider: String, message: String },

    /// The zone is not hosted at this provider (or not visible to these credentials).
    #[error("{provider}: zone {zone} not found")]
    ZoneNotFound { provider: String, zone: String },

    /// The provider names no nameservers for the zone (an empty apex NS set): they
    /// cannot be read from it, so the configuration has to list them.
    #[error("{provider}: zone {zone} lists no nameservers (no apex NS set): list them under `nameservers`")]
    NoNameservers { provider: String, zone: String },

    /// A batch the provider takes in several non-atomic steps stopped part way: the
    /// first `applied` changes (in the order given) are live, the rest are not. Re-read
    /// and plan again.
    #[error("{provider}: partially applied ({applied} changes applied): {message}")]
    PartiallyApplied {
        provider: String,
        applied: usize,
        message: String,
    },

    /// The agent's lease no longer allows writing (it lapsed, or a newer leader's fence
    /// was found): nothing of the batch was sent. Stop writing; this is not the
    /// provider's fault.
    #[error("{provider}: fenced: {message}")]
    Fenced { provider: String, message: String },

    /// The reply could not be understood: a bug here or at the provider.
    #[error("{provider}: unexpected response: {message}")]
    Protocol { provider: String, message: String },
}

impl ProviderError {
    /// Whether trying the same request again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient { .. })
    }

    /// The provider this error is about.
    pub fn provider(&self) -> &str {
        match self {
            Self::RateLimited { provider, .. }
            | Self::Transient { provider, .. }
            | Self::Auth { provider, .. }
            | Self::Rejected { provider, .. }
            | Self::Conflict { provider, .. }
            | Self::Unsupported { provider, .. }
            | Self::ZoneNotFound { provider, .. }
            | Self::NoNameservers { provider, .. }
            | Self::PartiallyApplied { provider, .. }
            | Self::Fenced { provider, .. }
            | Self::Protocol { provider, .. } => provider,
        }
    }
}
