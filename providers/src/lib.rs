//! dnsteer's providers: the record model every adapter speaks, the `Provider` trait,
//! the one HTTP layer (timeouts, retries, rate limits) all HTTP adapters share, and
//! one module per DNS provider.

mod access;
pub mod azure;
pub mod cloudflare;
pub mod error;
pub mod fence;
pub mod google;
pub mod guard;
pub mod http;
pub mod ns1;
pub mod oauth;
pub mod powerdns;
pub mod provider;
pub mod record;
pub mod rfc2136;
pub mod route53;
pub mod route53domains;
pub mod shared;

pub use azure::{AzureCredentials, AzureProvider};
pub use cloudflare::CloudflareProvider;
pub use error::ProviderError;
pub use fence::{Fence, FenceMark};
pub use google::GoogleProvider;
pub use guard::WriteGuard;
pub use ns1::Ns1Provider;
pub use powerdns::{PowerDnsOptions, PowerDnsProvider};
pub use provider::{Applied, Capabilities, Provider, SetKey, WriteAccess};
pub use record::{Change, RecordSet, RecordType, ZoneName};
pub use rfc2136::{Rfc2136Options, Rfc2136Provider, TsigAlgorithmName, TsigKey};
pub use route53::{AwsCredentials, Route53Provider};
pub use route53domains::Route53DomainsProvider;

/// What an adapter of `kind` (as the configuration names kinds) can do, before one is
/// built: what `check` holds a configuration to.
pub fn capabilities_of(kind: &str) -> Option<Capabilities> {
    Some(match kind {
        "powerdns" => powerdns::capabilities(),
        "rfc2136" => rfc2136::capabilities(),
        "route53" => route53::capabilities(),
        "route53domains" => route53domains::capabilities(),
        "cloudflare" => cloudflare::capabilities(),
        "azure" => azure::capabilities(),
        "ns1" => ns1::capabilities(),
        "google" => google::capabilities(),
        _ => return None,
    })
}
