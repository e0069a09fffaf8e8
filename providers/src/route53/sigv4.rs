//! AWS credentials and SigV4 request signing for the Route 53 family, through the
//! `aws-sigv4` crate (the signer the official SDK uses) rather than the whole SDK: the
//! SDK's client, runtime and generated models would add minutes to a build on a
//! 2-core machine and megabytes to the binary for the six calls dnsteer makes.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::error::ProviderError;

/// Route 53 and Route 53 Domains are global services, signed for this region.
pub const REGION: &str = "us-east-1";

/// An access key pair (and session token, for temporary credentials).
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl AwsCredentials {
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        Self {
            access_key_id: access_key_id.trim().to_string(),
            secret_access_key: secret_access_key.trim().to_string(),
            session_token: session_token.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
        }
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The standard chain, minus the parts that need the network (instance metadata,
    /// SSO, web identity): `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
    /// `AWS_SESSION_TOKEN` from the environment, else the profile `AWS_PROFILE`
    /// (default `default`) of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`,
    /// default `~/.aws/credentials`).
    pub fn from_environment(provider: &str) -> Result<Self, ProviderError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            return Ok(Self::new(&id, &secret, env("AWS_SESSION_TOKEN").as_deref()));
        }
        let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
        let file = env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws").join("credentials")));
        let auth = |message: String| ProviderError::Auth {
            provider: provider.to_string(),
            message,
        };
        let Some(file) = file else {
            return Err(auth("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the provider's access_key_id and secret_access_key".into()));
        };
        let text = std::fs::read_to_string(&file).map_err(|e| {
            auth(format!(
                "no AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and {} cannot be read ({e})",
                file.display()
            ))
        })?;
        profile_credentials(&text, &profile).ok_or_else(|| {
            auth(format!(
                "no AWS credentials: profile [{profile}] of {} has no aws_access_key_id and aws_secret_access_key",
                file.display()
            ))
        })
    }
}

/// Reads one profile of a shared credentials file (INI).
fn profile_credentials(text: &str, profile: &str) -> Option<AwsCredentials> {
    let mut in_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            in_profile = section == profile || section.strip_prefix("profile ").map(str::trim) == Some(profile);
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim().to_string();
            match key.trim() {
                "aws_access_key_id" => id = Some(value),
                "aws_secret_access_key" => secret = Some(value),
                "aws_session_token" => token = Some(value),
                _ => {}
            }
        }
    }
    Some(AwsCredentials::new(&id?, &secret?, token.as_deref()))
}

/// Signs requests for one AWS service with one set of credentials.
#[derive(Clone, Debug)]
pub struct Signer {
    credentials: AwsCredentials,
    service: &'static str,
}

impl Signer {
    pub fn new(credentials: AwsCredentials, service: &'static str) -> Self {
        Self { credentials, service }
    }

    /// The headers to add to a request so that it carries a SigV4 signature made at
    /// `time` (`Authorization`, `X-Amz-Date`, and the session token if any). `url` must
    /// be the exact, already encoded URL the request goes to; `headers` the other
    /// headers to sign (`host` is taken from the URL).
    pub fn headers(
        &self,
        provider: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let fail = |e: &dyn std::fmt::Display| ProviderError::Protocol {
            provider: provider.to_string(),
            message: format!("cannot sign the request: {e}"),
        };
        let identity = Credentials::new(
            &self.credentials.access_key_id,
            &self.credentials.secret_access_key,
            self.credentials.session_token.clone(),
            None,
            "dnsteer",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| fail(&e))?
            .into();
        let request = SignableRequest::new(
            method,
            Cow::Borrowed(url),
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| fail(&e))?;
        let (instructions, _signature) = sign(request, &params).map_err(|e| fail(&e))?.into_parts();
        let (headers, _params) = instructions.into_parts();
        Ok(headers
            .into_iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_named_profile() {
        let text = "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n[profile ops]\n# comment\naws_access_key_id=AKIDOPS\naws_secret_access_key=s2\naws_session_token = tok\n";
        let ops = profile_credentials(text, "ops").unwrap();
        assert_eq!(ops.access_key_id(), "AKIDOPS");
        assert_eq!(ops.session_token.as_deref(), Some("tok"));
        assert_eq!(
            profile_credentials(text, "default").unwrap().access_key_id(),
            "AKIDDEFAULT"
        );
        assert!(profile_credentials(text, "missing").is_none());
    }

    #[test]
    fn signature_is_stable_and_scoped() {
        let signer = Signer::new(AwsCredentials::new("AKIDEXAMPLE", "secret", None), "route53");
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let url = "https://route53.amazonaws.com/2013-04-01/hostedzone/Z1/rrset?maxitems=10&name=a.example.com.";
        let one = signer.headers("r53", "GET", url, &[], b"", at).unwrap();
        let two = signer.headers("r53", "GET", url, &[], b"", at).unwrap();
        assert_eq!(one, two);
        let auth = &one
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .unwrap()
            .1;
        assert!(
            auth.contains("Credential=AKIDEXAMPLE/20231114/us-east-1/route53/aws4_request"),
            "{auth}"
        );
        assert!(format!("{:?}", signer).contains("<redacted>"));
        assert!(!format!("{:?}", signer).contains("secret\""));
    }
}
