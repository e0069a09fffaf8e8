//! `write_access` for Cloudflare: nothing tells without writing or without more
//! rights. `GET /user/tokens/verify` says a token is active, not what it may do
//! (`records` already proved it reads the zone); a token's permission groups are shown
//! by `GET /user/tokens/{id}` only to a token that also holds "API Tokens: Read", a
//! right dnsteer does not otherwise need; and the DNS endpoints have no dry run.

use crate::provider::WriteAccess;
use crate::record::ZoneName;

pub(super) fn write_access(zone: &ZoneName) -> WriteAccess {
    WriteAccess::Unverifiable(format!(
        "Cloudflare shows a token's permissions only to a token allowed to read API tokens, and its DNS \
         endpoints have no dry run: make sure the token has Zone: DNS: Edit (with Zone: Zone: Read) for {zone}"
    ))
}
