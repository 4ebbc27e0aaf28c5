//! AWS's `credential_process` (`latchkey aws-credential ACCOUNT --role-arn ARN`): the
//! account's OpenID Connect id_token (or, with `--audience/--resource/--scope`, a token for
//! exactly that) is exchanged at STS with `AssumeRoleWithWebIdentity` for temporary AWS
//! credentials, printed as the `Version: 1` JSON the AWS CLI and SDKs read.
//!
//! - **Which token** is the one hand-out ([`crate::LoginManager::credential_for`] with
//!   [`Tool::Aws`]): an empty spec means the account's id_token, renewed through a refresh when
//!   it has expired; any spec means the access token for it.
//! - **STS** is found as the SDKs find it ([`sts_endpoint`]): `AWS_ENDPOINT_URL_STS`, else
//!   `AWS_ENDPOINT_URL`, else the regional endpoint of `--region`/`AWS_REGION`/
//!   `AWS_DEFAULT_REGION`, else the global one; https only (plain http only to loopback).
//! - **The answer** is parsed by [`parse_sts_response`] (small, no XML library, fuzzed as
//!   `sts_response`); STS's refusals (expired token, wrong audience, a role that does not
//!   trust the provider) are each explained in one line ([`explain_sts_error`]).
//! - **Cache**: the AWS CLI runs the process several times per command, so the credentials are
//!   kept in the keychain under the account (`<id>/aws/<digest of role, session, duration and
//!   spec>`) until [`CACHE_MARGIN`] before they expire, and obtained single-flight across
//!   processes (a lock file per cache entry: ten concurrent calls make one STS request).
//!   `--refresh` skips the cached entry.
//! - **Who serves it** ([`AwsSource`]): the agent when it runs (its `aws` operation runs
//!   [`credentials_at`] with the agent's own keychain, lock and HTTPS client, so the calling
//!   process opens no keychain and builds no manager), else this process ([`Local`]).

use std::future::Future;
use std::io::Write;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use url::Url;

use crate::error::{Error, Result};
use crate::handout::{CredentialRequest, Handout, Handouts, Subject, Tool};
use crate::secret::Secret;
use crate::target::TokenSpec;

/// Cached credentials are used until this long before they expire.
pub const CACHE_MARGIN: time::Duration = time::Duration::minutes(5);

/// The session name sent when none is given.
pub const DEFAULT_SESSION_NAME: &str = "latchkey";

/// What `latchkey aws-credential` was asked.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The account whose identity is exchanged.
    pub account: String,
    /// The role to assume.
    pub role_arn: String,
    /// `--duration` in seconds (STS's default, one hour, when absent).
    pub duration: Option<u32>,
    /// `--session-name` ([`DEFAULT_SESSION_NAME`] when absent).
    pub session_name: Option<String>,
    /// `--region` (else the environment).
    pub region: Option<String>,
    /// `--scope/--resource/--audience`: a token for exactly that instead of the id_token.
    pub spec: TokenSpec,
    /// `--refresh`: ignore a cached entry and ask STS again.
    pub refresh: bool,
}

impl Invocation {
    fn session_name(&self) -> &str {
        self.session_name.as_deref().unwrap_or(DEFAULT_SESSION_NAME)
    }

    /// The cache entry's name: a digest of everything that makes the credentials differ.
    pub fn cache_digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"latchkey-aws:v1\n");
        h.update(self.role_arn.as_bytes());
        h.update(b"\n");
        h.update(self.session_name().as_bytes());
        h.update(b"\n");
        h.update(self.duration.unwrap_or(0).to_string().as_bytes());
        h.update(b"\n");
        h.update(self.spec.digest().as_bytes());
        hex::encode(&h.finalize()[..16])
    }
}

/// Temporary AWS credentials, as STS answers them and as they are cached.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsCredentials {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `SecretAccessKey`.
    pub secret_access_key: String,
    /// `SessionToken`.
    pub session_token: String,
    /// `Expiration`.
    #[serde(with = "time::serde::rfc3339")]
    pub expiration: OffsetDateTime,
    /// The assumed role's ARN (`AssumedRoleUser/Arn`), when STS said.
    #[serde(default)]
    pub assumed_role_arn: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl AwsCredentials {
    /// The `credential_process` answer (`Version: 1`).
    pub fn process_json(&self) -> serde_json::Value {
        serde_json::json!({
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": super::rfc3339(Some(self.expiration)),
        })
    }

    /// Still good for more than [`CACHE_MARGIN`] at `now`.
    pub fn fresh_at(&self, now: OffsetDateTime) -> bool {
        self.expiration - CACHE_MARGIN > now
    }
}

/// STS's refusal: its `Code` and `Message` (cleaned for display).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsError {
    /// HTTP status.
    pub status: u16,
    /// `Error/Code`, e.g. `InvalidIdentityToken`.
    pub code: Option<String>,
    /// `Error/Message`.
    pub message: Option<String>,
}

/// The text of the first `<tag>…</tag>` element in `xml` (entities decoded), if any.
fn element<'a>(xml: &'a str, tag: &str) -> Option<std::borrow::Cow<'a, str>> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(unescape(&xml[start..start + len]))
}

/// XML's five predefined entities and numeric character references.
fn unescape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
}

/// Parses STS's answer to `AssumeRoleWithWebIdentity`: the credentials on 200, else its
/// `ErrorResponse` (an `Err(Ok(StsError))`); `Err(Err(..))` when the body is not STS's.
pub fn parse_sts_response(
    status: u16,
    body: &[u8],
) -> std::result::Result<AwsCredentials, std::result::Result<StsError, Error>> {
    let text = std::str::from_utf8(body).map_err(|_| {
        Err(Error::Other(
            "STS answered with a body that is not UTF-8".into(),
        ))
    })?;
    if status != 200 {
        let err = element(text, "Error").map(|e| e.into_owned());
        let err = err.as_deref().unwrap_or(text);
        let field =
            |name| element(err, name).map(|v| crate::text::clean(v.trim(), crate::text::MAX_URI));
        return Err(Ok(StsError {
            status,
            code: field("Code"),
            message: field("Message"),
        }));
    }
    let creds = element(text, "Credentials")
        .ok_or_else(|| Err(Error::Other("STS answered without Credentials".into())))?;
    let field = |name: &str| {
        element(&creds, name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Err(Error::Other(format!("STS's Credentials lack {name}"))))
    };
    let expiration = field("Expiration")?;
    let expiration =
        OffsetDateTime::parse(&expiration, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                Err(Error::Other(format!(
                    "STS's Expiration is not a time: {}",
                    crate::text::clean(&expiration, 40)
                )))
            })?;
    let assumed_role_arn = element(text, "AssumedRoleUser")
        .and_then(|u| element(&u, "Arn").map(|a| crate::text::clean(a.trim(), 2048)));
    Ok(AwsCredentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: field("SessionToken")?,
        expiration,
        assumed_role_arn,
    })
}

/// One line saying what STS's refusal means and what to do.
pub fn explain_sts_error(e: &StsError, account: &str, role_arn: &str) -> String {
    let said = match (&e.code, &e.message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => format!("HTTP {}", e.status),
    };
    let message = e
        .message
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let hint = match e.code.as_deref() {
        Some("ExpiredTokenException") => format!(
            "the token of `{account}` had expired when STS checked it; run the command again, or refresh the account"
        ),
        Some("InvalidIdentityToken") if message.contains("aud") => "STS does not accept the token's audience: add the account's client id as an audience of the IAM OIDC provider, or pass the audience it expects with --audience"
            .into(),
        Some("InvalidIdentityToken") => format!(
            "STS refused the token of `{account}`: check that IAM has an OIDC identity provider for its issuer (and its thumbprint/audience)"
        ),
        Some("IDPCommunicationError") => "STS could not reach the provider to verify the token; try again".into(),
        Some("AccessDenied") => format!(
            "the role {role_arn} does not trust this identity: its trust policy must allow sts:AssumeRoleWithWebIdentity for the provider, audience and subject of `{account}`"
        ),
        Some("ValidationError") => "STS refused the request's parameters (role ARN, session name, or --duration outside what the role allows)".into(),
        _ => "STS refused to assume the role".into(),
    };
    format!("{hint} (STS said {said})")
}

/// Where STS is, as the SDKs find it: `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else
/// `https://sts.<region>.amazonaws.com` for `region` (else `AWS_REGION`, else
/// `AWS_DEFAULT_REGION`), else the global `https://sts.amazonaws.com`. Refused when it is
/// not https (plain http only to loopback).
pub fn sts_endpoint(region: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<Url> {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let raw = match set("AWS_ENDPOINT_URL_STS").or_else(|| set("AWS_ENDPOINT_URL")) {
        Some(u) => u,
        None => {
            let region = region
                .map(str::to_string)
                .or_else(|| set("AWS_REGION"))
                .or_else(|| set("AWS_DEFAULT_REGION"));
            match region {
                Some(r) => {
                    if r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                        return Err(Error::InvalidInput(format!(
                            "not an AWS region: {}",
                            crate::text::clean(&r, 40)
                        )));
                    }
                    format!("https://sts.{r}.amazonaws.com")
                }
                None => "https://sts.amazonaws.com".into(),
            }
        }
    };
    crate::rules::Target::parse(&raw)?.check_transport()?;
    Url::parse(raw.trim()).map_err(|e| {
        Error::InvalidInput(format!(
            "the STS endpoint {} is not a URL: {e}",
            crate::text::clean(&raw, crate::text::MAX_URI)
        ))
    })
}

/// The form of `AssumeRoleWithWebIdentity` (the token is the secret part).
pub fn assume_role_form(inv: &Invocation, token: &Secret) -> Vec<(String, Secret)> {
    let mut form = vec![
        ("Action".into(), Secret::new("AssumeRoleWithWebIdentity")),
        ("Version".into(), Secret::new("2011-06-15")),
        ("RoleArn".into(), Secret::new(inv.role_arn.clone())),
        ("RoleSessionName".into(), Secret::new(inv.session_name())),
        ("WebIdentityToken".into(), token.clone()),
    ];
    if let Some(d) = inv.duration {
        form.push(("DurationSeconds".into(), Secret::new(d.to_string())));
    }
    form
}

/// What the AWS protocol needs beside the hand-out: the cache, its lock, STS and the clock.
/// [`crate::LoginManager`] implements it (keychain, lock file, its HTTPS client); tests fake it.
pub trait AwsBackend {
    /// Held while credentials are obtained (released on drop).
    type Guard;
    /// The cached entry `digest` of `account`, if any.
    fn cached(&self, account: &str, digest: &str) -> impl Future<Output = Result<Option<Secret>>>;
    /// Stores the entry.
    fn store(
        &self,
        account: &str,
        digest: &str,
        value: &Secret,
    ) -> impl Future<Output = Result<()>>;
    /// The cross-process lock of the entry.
    fn lock(&self, account: &str, digest: &str) -> impl Future<Output = Result<Self::Guard>>;
    /// POSTs `form` to `url` (no client authentication); the status and body.
    fn post(
        &self,
        url: &Url,
        form: &[(String, Secret)],
    ) -> impl Future<Output = Result<(u16, Vec<u8>)>>;
    /// Now.
    fn now(&self) -> OffsetDateTime;
}

async fn cached_fresh(
    backend: &impl AwsBackend,
    inv: &Invocation,
    digest: &str,
) -> Result<Option<AwsCredentials>> {
    if inv.refresh {
        return Ok(None);
    }
    let Some(raw) = backend.cached(&inv.account, digest).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_str::<AwsCredentials>(raw.expose())
        .ok()
        .filter(|c| c.fresh_at(backend.now())))
}

fn check_role_arn(inv: &Invocation) -> Result<()> {
    if !inv.role_arn.starts_with("arn:") {
        return Err(Error::InvalidInput(format!(
            "--role-arn must be a role ARN (arn:aws:iam::ACCOUNT:role/NAME), not {}",
            crate::text::clean(&inv.role_arn, 100)
        )));
    }
    Ok(())
}

/// The credentials for `inv` from the STS at `endpoint` (https, or plain http to loopback:
/// checked again here, for the agent serving another process): cached, else (under the
/// entry's lock, checking the cache again) from STS with the hand-out's token, then cached.
pub async fn credentials_at(
    inv: &Invocation,
    endpoint: &Url,
    latchkey: &impl Handouts,
    backend: &impl AwsBackend,
) -> Result<AwsCredentials> {
    check_role_arn(inv)?;
    crate::rules::Target::parse(endpoint.as_str())?.check_transport()?;
    let digest = inv.cache_digest();
    if let Some(c) = cached_fresh(backend, inv, &digest).await? {
        tracing::debug!("AWS credentials served from the cache");
        return Ok(c);
    }
    let _guard = backend.lock(&inv.account, &digest).await?;
    if let Some(c) = cached_fresh(backend, inv, &digest).await? {
        tracing::debug!("AWS credentials obtained by another process meanwhile");
        return Ok(c);
    }
    let request = CredentialRequest {
        tool: Tool::Aws,
        subject: Subject::Account {
            account: inv.account.clone(),
            spec: inv.spec.clone(),
        },
        env_override: None,
        min_ttl: None,
    };
    let token = match latchkey.credential(request).await? {
        Handout::Issued(c) => c.token.token,
        Handout::NoRule => return Err(Error::UnknownAccount(inv.account.clone())),
        Handout::Refused(reason) => return Err(Error::InvalidInput(reason)),
    };
    let (status, body) = backend
        .post(endpoint, &assume_role_form(inv, &token))
        .await?;
    let creds = match parse_sts_response(status, &body) {
        Ok(c) => c,
        Err(Ok(e)) => {
            return Err(Error::InvalidInput(explain_sts_error(
                &e,
                &inv.account,
                &inv.role_arn,
            )));
        }
        Err(Err(e)) => return Err(e),
    };
    let stored = serde_json::to_string(&creds)
        .map_err(|e| Error::Other(format!("encoding AWS credentials: {e}")))?;
    if let Err(e) = backend
        .store(&inv.account, &digest, &Secret::new(stored))
        .await
    {
        tracing::warn!(error = %e, "could not cache the AWS credentials; the next call asks STS again");
    }
    Ok(creds)
}

/// Where `latchkey aws-credential` gets its credentials. [`crate::source::Source`] asks the
/// agent first (which runs [`credentials_at`] with its own keychain cache, lock, hand-out and
/// HTTPS client), so a call the agent answers opens no keychain and builds no manager; it
/// serves them itself ([`Local`] over its manager) only when no agent answers.
pub trait AwsSource {
    /// The credentials for `inv` from the STS at `endpoint`.
    fn aws_credentials(
        &self,
        inv: &Invocation,
        endpoint: &Url,
    ) -> impl Future<Output = Result<AwsCredentials>>;
}

/// This process: [`credentials_at`] over `latchkey` and `backend`.
pub struct Local<'a, H, B> {
    /// The hand-outs.
    pub latchkey: &'a H,
    /// The cache, lock and STS client.
    pub backend: &'a B,
}

impl<H: Handouts, B: AwsBackend> AwsSource for Local<'_, H, B> {
    async fn aws_credentials(&self, inv: &Invocation, endpoint: &Url) -> Result<AwsCredentials> {
        credentials_at(inv, endpoint, self.latchkey, self.backend).await
    }
}

/// `latchkey aws-credential`: finds STS in `env` and writes the `credential_process` JSON on
/// `stdout`.
pub async fn main(
    inv: Invocation,
    env: impl Fn(&str) -> Option<String>,
    mut stdout: impl Write,
    source: &impl AwsSource,
) -> Result<()> {
    check_role_arn(&inv)?;
    let endpoint = sts_endpoint(inv.region.as_deref(), env)?;
    let creds = source.aws_credentials(&inv, &endpoint).await?;
    writeln!(stdout, "{}", creds.process_json())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("answering the AWS CLI", e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    use super::*;
    use crate::tools::fake::{Fake, block, issued};

    const OK: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
      <SecretAccessKey>s3cr3t&amp;x</SecretAccessKey>
      <SessionToken>sess</SessionToken>
      <Expiration>2030-01-02T03:04:05Z</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/dev/latchkey</Arn><AssumedRoleId>X:latchkey</AssumedRoleId></AssumedRoleUser>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"#;

    struct Backend {
        cache: RefCell<HashMap<String, Secret>>,
        posts: RefCell<Vec<Vec<(String, String)>>>,
        answer: (u16, String),
        now: Cell<OffsetDateTime>,
    }

    impl Backend {
        fn new(status: u16, body: &str) -> Self {
            Backend {
                cache: RefCell::new(HashMap::new()),
                posts: RefCell::new(Vec::new()),
                answer: (status, body.into()),
                now: Cell::new(time::macros::datetime!(2030-01-02 02:00:00 UTC)),
            }
        }
    }

    impl AwsBackend for Backend {
        type Guard = ();
        async fn cached(&self, a: &str, d: &str) -> Result<Option<Secret>> {
            Ok(self.cache.borrow().get(&format!("{a}/{d}")).cloned())
        }
        async fn store(&self, a: &str, d: &str, v: &Secret) -> Result<()> {
            self.cache
                .borrow_mut()
                .insert(format!("{a}/{d}"), v.clone());
            Ok(())
        }
        async fn lock(&self, _: &str, _: &str) -> Result<()> {
            Ok(())
        }
        async fn post(&self, _: &Url, form: &[(String, Secret)]) -> Result<(u16, Vec<u8>)> {
            self.posts.borrow_mut().push(
                form.iter()
                    .map(|(k, v)| (k.clone(), v.expose().to_string()))
                    .collect(),
            );
            Ok((self.answer.0, self.answer.1.clone().into_bytes()))
        }
        fn now(&self) -> OffsetDateTime {
            self.now.get()
        }
    }

    fn local<'a>(fake: &'a Fake, backend: &'a Backend) -> Local<'a, Fake, Backend> {
        Local {
            latchkey: fake,
            backend,
        }
    }

    fn inv() -> Invocation {
        Invocation {
            account: "work".into(),
            role_arn: "arn:aws:iam::123456789012:role/dev".into(),
            duration: Some(900),
            ..Invocation::default()
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_credentials_and_errors() {
        let c = parse_sts_response(200, OK.as_bytes()).unwrap();
        assert_eq!(c.access_key_id, "ASIAEXAMPLE");
        assert_eq!(c.secret_access_key, "s3cr3t&x");
        assert_eq!(
            c.assumed_role_arn.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/dev/latchkey")
        );
        let j = c.process_json();
        assert_eq!(j["Version"], 1);
        assert_eq!(j["Expiration"], "2030-01-02T03:04:05Z");
        let err = r#"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Incorrect token audience</Message></Error></ErrorResponse>"#;
        let e = parse_sts_response(400, err.as_bytes())
            .unwrap_err()
            .unwrap();
        assert_eq!(e.code.as_deref(), Some("InvalidIdentityToken"));
        let line = explain_sts_error(&e, "work", "arn:r");
        assert!(line.contains("audience") && !line.contains('\n'), "{line}");
        assert!(parse_sts_response(200, b"<x/>").unwrap_err().is_err());
        assert!(parse_sts_response(200, &[0xff]).unwrap_err().is_err());
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn each_refusal_is_one_line_of_its_own() {
        let mut seen = std::collections::HashSet::new();
        for code in [
            "ExpiredTokenException",
            "InvalidIdentityToken",
            "AccessDenied",
            "ValidationError",
        ] {
            let e = StsError {
                status: 403,
                code: Some(code.into()),
                message: Some("no\u{1b}[2J".into()),
            };
            let line = explain_sts_error(&e, "work", "arn:aws:iam::1:role/r");
            assert!(!line.contains('\n'));
            assert!(seen.insert(line.split(" (STS said").next().unwrap().to_string()));
        }
        let e = parse_sts_response(403, b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>x\x1b[2J</Message></Error></ErrorResponse>").unwrap_err().unwrap();
        assert!(!e.message.unwrap().chars().any(crate::text::is_unsafe));
    }

    #[test]
    fn unescapes_entities_and_leaves_junk() {
        assert_eq!(unescape("a&lt;b&#65;&#x42;&bogus;&"), "a<bAB&bogus;&");
    }

    #[test]
    fn finds_sts_as_the_sdks_do() {
        let env = |m: &'static [(&'static str, &'static str)]| {
            move |k: &str| m.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            sts_endpoint(None, no_env).unwrap().as_str(),
            "https://sts.amazonaws.com/"
        );
        assert_eq!(
            sts_endpoint(Some("eu-west-1"), env(&[("AWS_REGION", "us-east-2")]))
                .unwrap()
                .as_str(),
            "https://sts.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            sts_endpoint(None, env(&[("AWS_DEFAULT_REGION", "us-east-2")]))
                .unwrap()
                .as_str(),
            "https://sts.us-east-2.amazonaws.com/"
        );
        assert_eq!(
            sts_endpoint(
                Some("eu-west-1"),
                env(&[
                    ("AWS_ENDPOINT_URL", "https://all.test"),
                    ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:5000")
                ])
            )
            .unwrap()
            .as_str(),
            "http://127.0.0.1:5000/"
        );
        assert!(
            sts_endpoint(None, env(&[("AWS_ENDPOINT_URL", "http://sts.example.com")])).is_err()
        );
        assert!(sts_endpoint(Some("eu/../x"), no_env).is_err());
    }

    #[test]
    fn exchanges_the_token_once_then_serves_the_cache() {
        let fake = Fake::answering(Ok(issued("the-id-token")));
        let backend = Backend::new(200, OK);
        let mut out = Vec::new();
        block(main(inv(), no_env, &mut out, &local(&fake, &backend))).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["AccessKeyId"], "ASIAEXAMPLE");
        let posts = backend.posts.borrow().clone();
        assert_eq!(posts.len(), 1);
        let get = |k: &str| {
            posts[0]
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("Action"), Some("AssumeRoleWithWebIdentity"));
        assert_eq!(get("Version"), Some("2011-06-15"));
        assert_eq!(get("WebIdentityToken"), Some("the-id-token"));
        assert_eq!(get("RoleSessionName"), Some("latchkey"));
        assert_eq!(get("DurationSeconds"), Some("900"));
        assert_eq!(fake.asked.borrow()[0].tool, Tool::Aws);
        // Cached: no hand-out, no STS.
        let mut out = Vec::new();
        block(main(inv(), no_env, &mut out, &local(&fake, &backend))).unwrap();
        assert_eq!(backend.posts.borrow().len(), 1);
        assert_eq!(fake.asked.borrow().len(), 1);
        // Within the margin of expiry: asked again.
        backend
            .now
            .set(time::macros::datetime!(2030-01-02 03:00:00 UTC));
        *fake.answer.borrow_mut() = Some(Ok(issued("again")));
        block(main(inv(), no_env, Vec::new(), &local(&fake, &backend))).unwrap();
        assert_eq!(backend.posts.borrow().len(), 2);
        // --refresh: asked again.
        backend
            .now
            .set(time::macros::datetime!(2030-01-02 01:00:00 UTC));
        *fake.answer.borrow_mut() = Some(Ok(issued("again")));
        let forced = Invocation {
            refresh: true,
            ..inv()
        };
        block(main(forced, no_env, Vec::new(), &local(&fake, &backend))).unwrap();
        assert_eq!(backend.posts.borrow().len(), 3);
    }

    #[test]
    fn a_refusal_is_explained_and_nothing_is_printed_or_cached() {
        let fake = Fake::answering(Ok(issued("tok")));
        let backend = Backend::new(
            403,
            "<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized</Message></Error></ErrorResponse>",
        );
        let mut out = Vec::new();
        let e = block(main(inv(), no_env, &mut out, &local(&fake, &backend))).unwrap_err();
        assert!(e.to_string().contains("trust policy"), "{e}");
        assert!(!e.to_string().contains("tok\""));
        assert!(out.is_empty());
        assert!(backend.cache.borrow().is_empty());
    }

    #[test]
    fn a_bad_role_arn_is_refused_before_anything_is_asked() {
        let fake = Fake::answering(Ok(issued("tok")));
        let backend = Backend::new(200, OK);
        let bad = Invocation {
            role_arn: "dev".into(),
            ..inv()
        };
        assert!(block(main(bad, no_env, Vec::new(), &local(&fake, &backend))).is_err());
        assert!(fake.asked.borrow().is_empty());
    }

    #[test]
    fn the_cache_digest_tells_requests_apart() {
        let a = inv().cache_digest();
        let other_session = Invocation {
            session_name: Some("x".into()),
            ..inv()
        };
        assert_ne!(a, other_session.cache_digest());
        let other_spec = Invocation {
            spec: TokenSpec::new(&[], &[], Some("sts.amazonaws.com")).unwrap(),
            ..inv()
        };
        assert_ne!(a, other_spec.cache_digest());
        assert_eq!(a, inv().cache_digest());
    }
}
