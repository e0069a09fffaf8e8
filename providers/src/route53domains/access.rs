//! `write_access` for Route 53 Domains: nothing tells without writing. GetDomainDetail
//! (what `records` calls) reads; UpdateDomainNameservers has no dry run, and sent with
//! the live name servers it still starts an operation at the registry. Only IAM could
//! say (iam:SimulatePrincipalPolicy), and asking it needs rights dnsteer does not need
//! otherwise.

use crate::provider::WriteAccess;
use crate::record::ZoneName;

pub(super) fn write_access(zone: &ZoneName) -> WriteAccess {
    WriteAccess::Unverifiable(format!(
        "Route 53 Domains has no dry run of UpdateDomainNameservers: make sure the credentials may call \
         route53domains:UpdateDomainNameservers and route53domains:GetOperationDetail for {zone}"
    ))
}
