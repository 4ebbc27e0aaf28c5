//! The device authorization grant (RFC 8628): the pure protocol pieces.
//!
//! 1. [`request_codes`] POSTs the client id and scopes to the device authorization endpoint and
//!    checks the answer ([`DeviceCodes`]: `device_code`, `user_code`, `verification_uri`,
//!    optional `verification_uri_complete`, `expires_in`, optional `interval`).
//! 2. The user opens the verification URI on any device and enters the user code.
//! 3. [`poll_until`] polls the token endpoint with the device code: never faster than the
//!    interval ([`DEFAULT_INTERVAL`] when the provider gives none), keeps going on
//!    `authorization_pending`, adds [`SLOW_DOWN_STEP`] on `slow_down` and keeps the larger
//!    interval, and stops with a clear error on `access_denied`, `expired_token` or anything
//!    else. Waiting goes through a [`Clock`], so tests drive it with a [`crate::clock::ManualClock`].
//!
//! The manager ([`crate::manager::LoginManager::start_device_sign_in`]) stores the result like
//! any other sign-in.

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{ClientAuth, HttpClient};
use crate::oauth_error::OAuthErrorCode;
use crate::secret::Secret;
use crate::token::{ErrorContext, TokenResponse, interpret_json};

/// `grant_type` of the token requests.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The polling interval when the provider gives none (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// What `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// The shortest interval Latchkey polls at, whatever the provider says.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest interval Latchkey accepts from a provider (a larger one is clamped to it).
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// The longest lifetime of device codes Latchkey waits for (a larger one is clamped to it).
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(24 * 3600);
/// Consecutive transport failures tolerated while polling before giving up.
pub const MAX_TRANSIENT_FAILURES: u32 = 3;

/// The raw device authorization response (RFC 8628 §3.2).
#[derive(Debug, Clone, Deserialize)]
struct RawCodes {
    device_code: Secret,
    user_code: String,
    // Google says `verification_url`.
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default, alias = "verification_url_complete")]
    verification_uri_complete: Option<String>,
    #[serde(default, deserialize_with = "crate::token::de_opt_u64")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "crate::token::de_opt_u64")]
    interval: Option<u64>,
}

/// A checked device authorization response.
#[derive(Debug, Clone)]
pub struct DeviceCodes {
    /// The device code (secret: it redeems the grant).
    pub device_code: Secret,
    /// The code the user types in.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: Url,
    /// The verification URI with the user code in it, if the provider gives one.
    pub verification_uri_complete: Option<Url>,
    /// Lifetime of the codes.
    pub expires_in: Duration,
    /// The polling interval the provider asked for (`None`: use [`DEFAULT_INTERVAL`]).
    pub interval: Option<Duration>,
}

/// A verification URI the user may be sent to: https, or http only on a loopback host (a test
/// or local provider), never a plain-http page on the network.
fn web_url(raw: &str) -> Option<Url> {
    Url::parse(raw).ok().filter(crate::rules::endpoint_allowed)
}

/// Checks a device authorization response body (already known to be a 2xx JSON answer).
fn check_codes(raw: RawCodes, url: &str, status: u16) -> Result<DeviceCodes> {
    let bad = |detail: String| Error::BadResponse {
        url: url.to_string(),
        status,
        detail,
    };
    if raw.device_code.is_empty() {
        return Err(bad("the device_code is empty".into()));
    }
    if raw.user_code.trim().is_empty() {
        return Err(bad("the user_code is empty".into()));
    }
    let verification_uri = web_url(&raw.verification_uri)
        .ok_or_else(|| {
            bad("the verification_uri is not an https URL (http is accepted only on 127.0.0.1/localhost)".into())
        })?;
    let verification_uri_complete = match raw.verification_uri_complete.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            web_url(s)
                .ok_or_else(|| bad("the verification_uri_complete is not an https URL (http is accepted only on 127.0.0.1/localhost)".into()))?,
        ),
    };
    let expires_in = raw
        .expires_in
        .filter(|s| *s > 0)
        .ok_or_else(|| bad("the response is missing `expires_in`".into()))?;
    // The provider's numbers are clamped: a huge interval or lifetime must not overflow the
    // poll deadline arithmetic.
    let interval = raw
        .interval
        .map(|i| Duration::from_secs(i.min(MAX_INTERVAL.as_secs())));
    if raw.interval.is_some_and(|i| i > MAX_INTERVAL.as_secs()) {
        tracing::warn!(
            interval_s = raw.interval,
            "the provider asked for an unreasonable polling interval; using {} s",
            MAX_INTERVAL.as_secs()
        );
    }
    let user_code = crate::text::clean(&raw.user_code, crate::text::MAX_USER_CODE);
    if user_code.is_empty() {
        return Err(bad("the user_code has no printable characters".into()));
    }
    Ok(DeviceCodes {
        device_code: raw.device_code,
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_in: Duration::from_secs(expires_in.min(MAX_EXPIRES_IN.as_secs())),
        interval,
    })
}

/// Requests device and user codes.
pub async fn request_codes(
    http: &HttpClient,
    endpoint: &Url,
    auth: &ClientAuth,
    scopes: &[String],
) -> Result<DeviceCodes> {
    let scope = scopes.join(" ");
    let mut params: Vec<(&str, &str)> = Vec::new();
    if !scope.is_empty() {
        params.push(("scope", &scope));
    }
    let resp = http.post_form(endpoint, auth, &params).await?;
    parse_codes(&resp)
}

/// Interprets and checks a device authorization response (pure; fuzzed on its own).
pub fn parse_codes(resp: &crate::http::Response) -> Result<DeviceCodes> {
    let raw: RawCodes = interpret_json(resp, &ErrorContext::default())?;
    check_codes(raw, &resp.url, resp.status)
}

/// The polling interval, raised by `slow_down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSchedule {
    interval: Duration,
}

impl PollSchedule {
    /// Starts at the provider's interval ([`DEFAULT_INTERVAL`] if none, at least
    /// [`MIN_INTERVAL`]).
    pub fn new(interval: Option<Duration>) -> Self {
        PollSchedule {
            interval: interval
                .unwrap_or(DEFAULT_INTERVAL)
                .clamp(MIN_INTERVAL, MAX_INTERVAL),
        }
    }

    /// The current interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// `slow_down`: the interval grows by [`SLOW_DOWN_STEP`] for all later polls.
    /// Never beyond [`MAX_INTERVAL`] plus a few steps (a provider repeating `slow_down` forever
    /// cannot push the arithmetic anywhere near overflow).
    pub fn slow_down(&mut self) {
        self.interval = self
            .interval
            .saturating_add(SLOW_DOWN_STEP)
            .min(MAX_INTERVAL * 4);
    }
}

/// Polls with `poll` until it yields tokens or a final error (see the module docs). `expires`
/// is when the codes expire: a provider that keeps answering `authorization_pending` past it
/// (plus one interval of grace) ends in [`Error::Timeout`].
pub async fn poll_until<F, Fut>(
    schedule: &mut PollSchedule,
    clock: &dyn Clock,
    expires: time::OffsetDateTime,
    mut poll: F,
) -> Result<TokenResponse>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<TokenResponse>>,
{
    let mut transient = 0u32;
    loop {
        let grace = time::Duration::try_from(schedule.interval()).unwrap_or(time::Duration::ZERO);
        let grace_end = expires.checked_add(grace).unwrap_or(expires);
        if clock.now() > grace_end {
            return Err(Error::Timeout(
                "waiting for the device sign-in to be approved: the code expired; start the sign-in again".into(),
            ));
        }
        clock.sleep(schedule.interval()).await;
        match poll().await {
            Ok(tokens) => return Ok(tokens),
            Err(Error::ProviderError {
                error: OAuthErrorCode::AuthorizationPending,
                ..
            }) => {
                transient = 0;
            }
            Err(Error::ProviderError {
                error: OAuthErrorCode::SlowDown,
                ..
            }) => {
                transient = 0;
                schedule.slow_down();
                tracing::info!(
                    interval_s = schedule.interval().as_secs(),
                    "provider asked to slow down"
                );
            }
            Err(e) if e.kind() == ErrorKind::ProviderUnreachable => {
                transient += 1;
                if transient >= MAX_TRANSIENT_FAILURES {
                    return Err(e);
                }
                tracing::warn!(error = %e, "device poll failed; trying again");
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::{Arc, Mutex};

    fn pe(code: &str) -> Error {
        Error::ProviderError {
            error: code.into(),
            description: None,
            hint: None,
        }
    }

    fn tokens() -> TokenResponse {
        serde_json::from_str(r#"{"access_token":"a","token_type":"Bearer"}"#).unwrap()
    }

    /// Runs `poll_until` over scripted answers; returns the poll times (s after start) and the
    /// result.
    async fn run(
        interval: Option<Duration>,
        script: Vec<Result<TokenResponse>>,
        expires_in: Duration,
    ) -> (Vec<f64>, Result<TokenResponse>) {
        let clock = ManualClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let start = clock.now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.into_iter()));
        let mut schedule = PollSchedule::new(interval);
        let t = times.clone();
        let c = clock.clone();
        let result = poll_until(&mut schedule, &clock, start + expires_in, move || {
            t.lock().unwrap().push((c.now() - start).as_seconds_f64());
            let next = script.lock().unwrap().next();
            async move { next.unwrap_or_else(|| Err(pe("authorization_pending"))) }
        })
        .await;
        let times = times.lock().unwrap().clone();
        (times, result)
    }

    #[tokio::test]
    async fn waits_the_interval_and_keeps_polling_while_pending() {
        let (times, r) = run(
            Some(Duration::from_secs(2)),
            vec![
                Err(pe("authorization_pending")),
                Err(pe("authorization_pending")),
                Ok(tokens()),
            ],
            Duration::from_secs(600),
        )
        .await;
        assert!(r.is_ok());
        assert_eq!(times, vec![2.0, 4.0, 6.0]);
    }

    #[tokio::test]
    async fn default_interval_is_five_seconds() {
        let (times, _) = run(None, vec![Ok(tokens())], Duration::from_secs(600)).await;
        assert_eq!(times, vec![5.0]);
    }

    #[tokio::test]
    async fn slow_down_adds_five_seconds_and_keeps_it() {
        let (times, r) = run(
            Some(Duration::from_secs(1)),
            vec![
                Err(pe("authorization_pending")),
                Err(pe("slow_down")),
                Err(pe("authorization_pending")),
                Err(pe("slow_down")),
                Err(pe("authorization_pending")),
                Ok(tokens()),
            ],
            Duration::from_secs(600),
        )
        .await;
        assert!(r.is_ok());
        // 1, 2 (slow_down → 6), 8, 14 (slow_down → 11), 25, 36.
        assert_eq!(times, vec![1.0, 2.0, 8.0, 14.0, 25.0, 36.0]);
    }

    #[tokio::test]
    async fn denial_and_expiry_are_final_and_unknown_errors_stop() {
        for code in ["access_denied", "expired_token", "weird_new_error"] {
            let (times, r) = run(
                Some(Duration::from_secs(1)),
                vec![Err(pe("authorization_pending")), Err(pe(code))],
                Duration::from_secs(600),
            )
            .await;
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Provider);
            assert!(e.to_string().contains(code), "{e}");
            assert_eq!(times.len(), 2);
        }
    }

    #[tokio::test]
    async fn gives_up_after_the_codes_expire() {
        let (times, r) = run(Some(Duration::from_secs(2)), vec![], Duration::from_secs(7)).await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Timeout);
        assert_eq!(times, vec![2.0, 4.0, 6.0, 8.0, 10.0]);
    }

    #[tokio::test]
    async fn transient_failures_are_retried_a_few_times() {
        let down = || Error::Unreachable {
            url: "u".into(),
            detail: "d".into(),
        };
        let (_, r) = run(
            Some(Duration::from_secs(1)),
            vec![Err(down()), Err(down()), Ok(tokens())],
            Duration::from_secs(600),
        )
        .await;
        assert!(r.is_ok());
        let (times, r) = run(
            Some(Duration::from_secs(1)),
            vec![Err(down()), Err(down()), Err(down())],
            Duration::from_secs(600),
        )
        .await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::ProviderUnreachable);
        assert_eq!(times.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_interval_is_clamped_and_never_overflows() {
        let raw: RawCodes = serde_json::from_str(
            r#"{"device_code":"d","user_code":"\u001b]52;c;eA==\u0007WDJB-MJHT","verification_uri":"https://as/device","expires_in":1e300,"interval":18446744073709551615}"#,
        )
        .unwrap();
        let c = check_codes(raw, "https://as/device", 200).unwrap();
        assert_eq!(c.interval, Some(MAX_INTERVAL));
        assert_eq!(c.expires_in, MAX_EXPIRES_IN);
        assert_eq!(c.user_code, "]52;c;eA==WDJB-MJHT");
        // Even an unclamped interval near u64::MAX and a far deadline do not panic.
        let (times, r) = run(
            Some(Duration::from_secs(u64::MAX)),
            vec![Ok(tokens())],
            Duration::from_secs(600),
        )
        .await;
        assert!(r.is_ok());
        assert_eq!(times, vec![MAX_INTERVAL.as_secs_f64()]);
        let mut s = PollSchedule::new(Some(MAX_INTERVAL));
        for _ in 0..1000 {
            s.slow_down();
        }
        assert!(s.interval() <= MAX_INTERVAL * 4);
    }

    #[test]
    fn verification_uri_must_be_https_except_on_loopback() {
        let check = |uri: &str| {
            let raw: RawCodes = serde_json::from_str(&format!(
                r#"{{"device_code":"d","user_code":"X","verification_uri":"{uri}","expires_in":60}}"#
            ))
            .unwrap();
            check_codes(raw, "https://as/device", 200)
        };
        assert!(check("https://as.example/device").is_ok());
        assert!(check("http://127.0.0.1:8080/device").is_ok());
        let e = check("http://as.example/device").unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
    }

    #[test]
    fn device_responses_are_checked() {
        let ok = |body: &str| {
            let raw: RawCodes = serde_json::from_str(body).unwrap();
            check_codes(raw, "https://as/device", 200)
        };
        let c = ok(r#"{"device_code":"d","user_code":"ABCD-EFGH","verification_uri":"https://as/device","verification_uri_complete":"https://as/device?user_code=ABCD-EFGH","expires_in":"600","interval":3}"#).unwrap();
        assert_eq!(c.interval, Some(Duration::from_secs(3)));
        assert_eq!(c.expires_in, Duration::from_secs(600));
        assert!(c.verification_uri_complete.is_some());
        // Google's spelling.
        let c = ok(r#"{"device_code":"d","user_code":"X","verification_url":"https://www.google.com/device","expires_in":1800}"#).unwrap();
        assert_eq!(c.verification_uri.as_str(), "https://www.google.com/device");
        assert_eq!(c.interval, None);
        for bad in [
            r#"{"device_code":"","user_code":"X","verification_uri":"https://a/d","expires_in":5}"#,
            r#"{"device_code":"d","user_code":" ","verification_uri":"https://a/d","expires_in":5}"#,
            r#"{"device_code":"d","user_code":"X","verification_uri":"javascript:alert(1)","expires_in":5}"#,
            r#"{"device_code":"d","user_code":"X","verification_uri":"https://a/d"}"#,
        ] {
            let e = ok(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Provider, "{bad}");
            assert!(!e.to_string().contains("\"d\""), "{e}");
        }
        assert_eq!(
            PollSchedule::new(Some(Duration::ZERO)).interval(),
            MIN_INTERVAL
        );
    }
}
