//! What every adapter needs and none should write again: the check of a batch against
//! a fresh read, the account-wide request budgets, the zone-id cache, waiting for a
//! provider's asynchronous operation, and the report of a batch stopped part way.
//! (Status codes are read once, in `http::classify_status`.)

pub mod fresh;
pub mod limiters;
pub mod partial;
pub mod poll;
pub mod zone_ids;

pub use fresh::{all_done, pending, pending_by, Standing};
pub use limiters::{limiter, Budget, LimiterKey};
pub use partial::partially_applied;
pub use poll::{poll_until, Poll};
pub use zone_ids::ZoneIds;

use crate::error::ProviderError;
use crate::record::ZoneName;

/// The nameservers a provider names for `zone`, or `NoNameservers` when it names none
/// (the configuration then has to list them).
pub fn nameservers(provider: &str, zone: &ZoneName, names: Vec<String>) -> Result<Vec<String>, ProviderError> {
    // As absolute lowercase names, whatever the API's spelling.
    let names: Vec<String> = names
        .iter()
        .filter_map(|n| crate::record::normalize_name(n).ok())
        .collect();
    if names.is_empty() {
        return Err(ProviderError::NoNameservers {
            provider: provider.to_string(),
            zone: zone.to_string(),
        });
    }
    Ok(names)
}
