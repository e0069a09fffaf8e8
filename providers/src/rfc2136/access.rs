//! `write_access` for RFC 2136 servers: an UPDATE that cannot change anything, signed
//! with the key, asks the server's update policy about exactly the steered sets.
//!
//! A server checks prerequisites before permissions (RFC 2136 §3.2 before §3.3), so a
//! prerequisite made to fail would be answered NXRRSET whatever the key may do, and an
//! empty update section asks nothing of a per-name policy (BIND's update-policy
//! checks each record of the update section). So the probe is built from a fresh read:
//! its prerequisites hold (each set as read, or absent), and its update section
//! deletes, per set, one record those prerequisites prove absent (a no-op, §3.4.2.4).
//! BIND answers REFUSED, Knot NOTAUTH (with an unsigned TSIG error) exactly when the
//! key may not write one of those names and types; a set refused is then named by
//! asking for each set alone.

use hickory_proto::op::{Message, ResponseCode};
use tokio::time::{timeout_at, Instant};

use super::client::{rcode_name, Connection, WireError};
use super::{message, Operation, Rfc2136Provider};
use crate::access::{describe, refused_alone};
use crate::error::ProviderError;
use crate::provider::{Provider, SetKey, WriteAccess};
use crate::record::{Change, RecordSet, ZoneName};

/// How one probe UPDATE was answered.
enum Answer {
    Accepted,
    /// REFUSED, NOTAUTH, or an answer that did not verify: a key that just signed a
    /// transfer which verified is valid, so this is the update policy saying no.
    Refused(String),
    /// A prerequisite failed: the zone changed between the read and the probe.
    Changed,
}

pub(super) async fn write_access(
    provider: &Rfc2136Provider,
    zone: &ZoneName,
    steered: &[SetKey],
) -> Result<WriteAccess, ProviderError> {
    // The read proves the key valid (the transfer is signed with it) and gives the
    // values the prerequisites must hold.
    let live = provider.records(zone).await?;
    let origin = provider.origin(zone)?;
    let deadline = Instant::now() + provider.timeout;
    let changes: Vec<Change> = steered
        .iter()
        .map(
            |(name, rtype)| match live.iter().find(|s| &s.name == name && &s.rtype == rtype) {
                Some(set) => Change::Delete { before: set.clone() },
                None => Change::Create {
                    after: RecordSet {
                        name: name.clone(),
                        rtype: rtype.clone(),
                        ttl: 0,
                        values: Vec::new(),
                        set_id: None,
                        weight: None,
                    },
                },
            },
        )
        .collect();
    let probe =
        |changes: &[Change]| match message::permission_probe(&origin, changes) {
            Ok(Some(probe)) => Ok(probe),
            Ok(None) => Err(provider
                .unsupported("a steered set holds every stand-in value the permission probe could delete".into())),
            Err(why) => Err(provider.rejected(why)),
        };
    let key = provider
        .tsig
        .as_ref()
        .map_or_else(|| "(none: unsigned)".to_string(), |k| k.name.clone());
    if changes.is_empty() {
        // BIND accepts an empty UPDATE from a key it grants nothing, so one tells nothing.
        return Ok(WriteAccess::Unverifiable(format!(
            "dnsteer steers no set in {zone} here, and an empty UPDATE tells nothing (BIND accepts one from a key \
             it grants no update)"
        )));
    }
    match send(provider, zone, probe(&changes)?, deadline).await? {
        Answer::Accepted => Ok(WriteAccess::Granted(format!(
            "an UPDATE signed with key {key} that deletes only records proven absent was accepted for {}",
            describe(steered)
        ))),
        Answer::Changed => Ok(WriteAccess::Unverifiable(
            "the zone changed while it was being checked; run the check again".into(),
        )),
        Answer::Refused(how) => {
            let asks: Vec<(Change, &SetKey)> = changes.into_iter().zip(steered).collect();
            let refused = refused_alone(&asks, |change| async {
                let alone = probe(std::slice::from_ref(change))?;
                Ok(matches!(
                    send(provider, zone, alone, deadline).await?,
                    Answer::Refused(_)
                ))
            })
            .await?;
            Ok(WriteAccess::Denied(format!(
                "TSIG key {key} may not update {refused} ({how}): grant it in BIND's update-policy \
                 (`grant {key} name <name> <type>;`) or in Knot's zone acl (action update, update-owner, \
                 update-type)"
            )))
        }
    }
}

async fn send(
    provider: &Rfc2136Provider,
    zone: &ZoneName,
    update: Message,
    deadline: Instant,
) -> Result<Answer, ProviderError> {
    let signer = provider.signer()?;
    let exchange = async {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let connection = Connection::open(provider.server, signer, remaining).await?;
        connection.update(update).await
    };
    match timeout_at(deadline, exchange).await {
        Err(_) => Err(provider.timed_out(Operation::Update, zone)),
        Ok(Ok(())) => Ok(Answer::Accepted),
        Ok(Err(WireError::Rcode {
            rcode: ResponseCode::NXRRSet | ResponseCode::YXRRSet | ResponseCode::NXDomain | ResponseCode::YXDomain,
            tsig: None,
        })) => Ok(Answer::Changed),
        Ok(Err(WireError::Rcode {
            rcode: rcode @ (ResponseCode::Refused | ResponseCode::NotAuth),
            tsig: None,
        })) => Ok(Answer::Refused(rcode_name(rcode))),
        // Knot's refusal: NOTAUTH with an unsigned TSIG error, which cannot verify.
        Ok(Err(WireError::Unverified(_))) if provider.tsig.is_some() => Ok(Answer::Refused(
            "refused without a valid signature: Knot's NOTAUTH".into(),
        )),
        Ok(Err(error)) => Err(provider.failure(zone, Operation::Update, error, deadline).await),
    }
}
