//! The device authorization grant (RFC 8628) as a sign-in.

use super::*;

/// A device sign-in in progress (RFC 8628): show [`Self::user_code`] and
/// [`Self::verification_uri`] (or [`Self::verification_uri_complete`]) to the user, then wait
/// with [`LoginManager::finish_device_sign_in`]. Serializes without the device code, so it can go
/// to a UI as is.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceSignIn {
    /// Account name.
    pub account: String,
    /// The code the user enters.
    pub user_code: String,
    /// Where the user enters it.
    pub verification_uri: Url,
    /// The verification URI with the code filled in (open it, or show it as a QR code).
    pub verification_uri_complete: Option<Url>,
    /// When the codes expire.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The polling interval at the start, in seconds.
    pub interval_secs: u64,
    #[serde(skip)]
    device_code: Secret,
    #[serde(skip)]
    account_id: Uuid,
    #[serde(skip)]
    interval: Option<Duration>,
    #[serde(skip)]
    replace_identity: bool,
}

impl LoginManager {
    /// Starts a device sign-in (RFC 8628) for any account whose provider has a device
    /// authorization endpoint: requests the codes and returns what to show the user. Nothing is
    /// stored until [`Self::finish_device_sign_in`] succeeds; dropping the value abandons it.
    pub async fn start_device_sign_in(
        &self,
        name: &str,
        opts: SignInOptions,
    ) -> Result<DeviceSignIn> {
        let account = self.account(name)?;
        if account.flow == GrantFlow::ClientCredentials {
            return Err(Error::InvalidInput(format!(
                "`{name}` uses the client credentials grant, which has no user sign-in; ask for a token instead"
            ))
            .with_remedy(Remedy::RequestToken {
                account: name.to_string(),
                for_api: false,
            }));
        }
        if opts.asks_for_more() {
            return Err(Error::InvalidInput(
                "--add-scope, --add-resource, --acr and --max-age need the browser sign-in (the device flow cannot carry them); sign in with them but without --device".to_string(),
            )
            .with_remedy(Remedy::SignInWithBrowser {
                account: name.to_string(),
            }));
        }
        let Some(endpoint) = account.provider.endpoints.device_authorization.clone() else {
            return Err(Error::InvalidInput(format!(
                "the provider of `{name}` has no device authorization endpoint (RFC 8628); sign in with the browser instead"
            )));
        };
        let auth = self.client_auth(&account).await?;
        let codes =
            device::request_codes(&self.opts.http, &endpoint, &auth, &account.scopes).await?;
        let now = self.now();
        let expires_at = now + time::Duration::try_from(codes.expires_in).unwrap_or_default();
        tracing::info!(account = %name, expires_in_s = codes.expires_in.as_secs(), "device sign-in started");
        Ok(DeviceSignIn {
            account: account.name.clone(),
            user_code: codes.user_code,
            verification_uri: codes.verification_uri,
            verification_uri_complete: codes.verification_uri_complete,
            expires_at,
            interval_secs: PollSchedule::new(codes.interval).interval().as_secs(),
            device_code: codes.device_code,
            account_id: account.id,
            interval: codes.interval,
            replace_identity: opts.replace_identity,
        })
    }

    /// Polls until the user approves or denies the device sign-in, or the codes expire, then
    /// stores the tokens and identity like any sign-in. If `cancel` completes first (Ctrl-C, a
    /// Cancel button), polling stops and [`Error::Interrupted`] is returned.
    pub async fn finish_device_sign_in<C>(
        &self,
        started: &DeviceSignIn,
        cancel: C,
    ) -> Result<SignedIn>
    where
        C: std::future::Future<Output = ()>,
    {
        let account = self
            .registry
            .load()?
            .by_id(&started.account_id)
            .cloned()
            .ok_or_else(|| Error::UnknownAccount(started.account.clone()))?;
        let auth = self.client_auth(&account).await?;
        let dpop = self.dpop_key(&account).await?;
        let quirks = account.provider.quirks();
        let ctx = ErrorContext {
            redirect_uri: None,
            errors_with_200: quirks.token_errors_with_http_200,
        };
        let params = [
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", started.device_code.expose()),
        ];
        let mut schedule = PollSchedule::new(started.interval);
        let (http, url, auth_ref, params_ref, ctx_ref, key) = (
            &self.opts.http,
            &account.provider.endpoints.token,
            &auth,
            &params[..],
            &ctx,
            dpop.as_ref(),
        );
        let clock = self.opts.clock.as_ref();
        let poll = device::poll_until(&mut schedule, clock, started.expires_at, move || {
            request_token(http, url, auth_ref, params_ref, ctx_ref, key)
        });
        let response = tokio::select! {
            r = poll => r?,
            () = cancel => return Err(Error::Interrupted),
        };
        let (_local, _file) = self.lock_account(account.id).await?;
        let account = self.account(&account.name)?;
        // The device request names no resources (RFC 8628 has no place for them).
        self.store_sign_in(
            &account,
            response,
            None,
            started.replace_identity,
            false,
            Vec::new(),
        )
        .await
    }

    /// [`Self::start_device_sign_in`], then `show` (print the codes, open the browser), then
    /// [`Self::finish_device_sign_in`].
    pub async fn sign_in_device<F, C>(
        &self,
        name: &str,
        opts: SignInOptions,
        show: F,
        cancel: C,
    ) -> Result<SignedIn>
    where
        F: FnOnce(&DeviceSignIn),
        C: std::future::Future<Output = ()>,
    {
        let started = self.start_device_sign_in(name, opts).await?;
        show(&started);
        self.finish_device_sign_in(&started, cancel).await
    }
}
