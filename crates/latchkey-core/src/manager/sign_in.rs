//! Browser sign-in: start (PKCE, PAR), loopback and deep-link completion, id_token checks, storing the result.

use super::*;

/// How an account signs in. Decided here, once, for the CLI and the desktop app (both only
/// present the chosen method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignInMethod {
    /// A client credentials grant; no user, no browser.
    ClientCredentials,
    /// The device authorization grant (RFC 8628): show a code, poll.
    Device,
    /// Browser with a loopback redirect (`http://127.0.0.1:<port>/callback`).
    Loopback,
    /// Browser with the app's URL scheme; the desktop app receives the callback.
    Scheme,
}

impl SignInMethod {
    /// The method for `account`; `device` asks for the device grant (`latchkey login
    /// --device`). A provider that accepts only loopback redirects always gets
    /// [`SignInMethod::Loopback`] for a browser sign-in.
    pub fn for_account(account: &Account, device: bool) -> Self {
        match account.flow {
            GrantFlow::ClientCredentials => SignInMethod::ClientCredentials,
            GrantFlow::Device => SignInMethod::Device,
            GrantFlow::AuthorizationCode if device => SignInMethod::Device,
            GrantFlow::AuthorizationCode if account.provider.quirks().loopback_only => {
                SignInMethod::Loopback
            }
            GrantFlow::AuthorizationCode => match account.redirect {
                RedirectMode::Loopback => SignInMethod::Loopback,
                RedirectMode::Scheme => SignInMethod::Scheme,
            },
        }
    }
}

impl LoginManager {
    pub(super) async fn validate_id_token(
        &self,
        account: &Account,
        id_token: &Secret,
        nonce: Option<&Secret>,
        expected_sub: Option<&str>,
    ) -> Result<Identity> {
        let endpoints = &account.provider.endpoints;
        let (Some(issuer), Some(jwks_uri)) = (&endpoints.issuer, &endpoints.jwks_uri) else {
            return Err(Error::InvalidIdToken(
                "the provider sent an id_token but its discovery document has no issuer/jwks_uri"
                    .into(),
            ));
        };
        let secret = self.client_secret(account).await?;
        let quirks = account.provider.quirks();
        let cache = self.opts.paths.jwks_cache(jwks_uri);
        let check = |jwks: &openidconnect::core::CoreJsonWebKeySet| {
            oidc::validate_id_token(
                id_token,
                &IdTokenCheck {
                    client_id: &account.client_id,
                    client_secret: secret.as_ref(),
                    issuer,
                    issuer_template: quirks.issuer_template,
                    jwks,
                    algs: &endpoints.id_token_signing_algs,
                    nonce,
                    expected_sub,
                    now: self.now(),
                },
            )
        };
        // Keys cached from an earlier sign-in save a request per refresh; on any failure the
        // keys are fetched again (the provider may have rotated them) and checked once more.
        if let Some(cached) = oidc::read_cached_jwks(&cache, self.now())
            && let Ok(identity) = check(&cached)
        {
            return Ok(identity);
        }
        let jwks = oidc::fetch_jwks(&self.opts.http, jwks_uri).await?;
        let identity = check(&jwks)?;
        oidc::write_cached_jwks(&cache, &jwks, self.now());
        Ok(identity)
    }

    /// Starts a sign-in: creates and stores the pending flow, binds the loopback listener if
    /// needed, and returns the URL to open.
    pub async fn start_sign_in(&self, name: &str, opts: SignInOptions) -> Result<SignInStart> {
        let account = self.account(name)?;
        let provider = &account.provider;
        let quirks = provider.quirks();
        let Some(auth_endpoint) = provider.endpoints.authorization.clone() else {
            return Err(Error::InvalidInput(format!(
                "the provider of `{name}` has no authorization endpoint"
            )));
        };
        if !quirks.pkce_supported {
            tracing::warn!(account = %name, "provider documents no PKCE support; sending S256 anyway");
        }
        self.sweep_expired_pending().await;
        let mode = opts.redirect.unwrap_or(account.redirect);
        let (listener, redirect_uri) = match mode {
            RedirectMode::Loopback => {
                let l = LoopbackListener::bind(account.port)
                    .await?
                    .with_path(account.callback_path());
                let uri = l.redirect_uri();
                (Some(l), uri)
            }
            RedirectMode::Scheme => {
                if quirks.loopback_only {
                    return Err(Error::InvalidInput(
                        "this provider accepts only loopback redirects".into(),
                    ));
                }
                (None, account.scheme_redirect_uri())
            }
        };
        let now = self.now();
        // Incremental authorization and step-up (manager/derived.rs has the checks).
        let more = self.sign_in_additions(&account, &opts)?;
        // A nonce only with `openid` (providers refuse one in a plain OAuth request).
        let mut new = PendingFlow::start(
            account.id,
            redirect_uri.clone(),
            provider.is_oidc() && account.scopes.iter().any(|s| s == "openid"),
            opts.replace_identity,
            now,
        )?;
        new.flow.add_scopes = more.add_scopes.clone();
        new.flow.add_resources = more.add_resources.clone();
        new.flow.max_age = opts.max_age;
        new.flow.acr_values = opts.acr_values.as_deref().map(|a| a.trim().to_string());
        let digest = new.flow.digest();
        let mut extra: Vec<(&str, &str)> = quirks.extra_authorize_params.to_vec();
        // OpenID Connect Core §11: offline access with consent, where the provider needs it.
        if account.sends_offline_consent() && !extra.iter().any(|(k, _)| *k == "prompt") {
            extra.push(("prompt", "consent"));
        }
        // RFC 9449 §10: bind the authorization code to the account's DPoP key.
        let jkt = self.dpop_key(&account).await?.map(|key| key.thumbprint());
        if let Some(jkt) = &jkt {
            extra.push(("dpop_jkt", jkt.as_str()));
        }
        extra.extend(more.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let request = AuthRequest {
            endpoint: &auth_endpoint,
            client_id: &account.client_id,
            scopes: &more.scopes,
            flow: &new.flow,
            challenge: &new.challenge,
            extra: &extra,
        };
        let url = match &provider.endpoints.pushed_authorization_request {
            Some(par) => {
                self.push_authorization_request(&account, par, &request)
                    .await?
            }
            None if provider.endpoints.require_pushed_authorization_requests => {
                return Err(Error::InvalidInput(format!(
                    "the provider of `{name}` requires pushed authorization requests but announces no endpoint for them"
                )));
            }
            None => pkce::authorization_url(&request),
        };
        self.opts
            .keychain
            .set(&pending_key(&digest), &new.flow.to_secret()?)
            .await?;
        let index = PendingIndex {
            digest: digest.clone(),
            account_id: account.id,
            expires_at: new.flow.expires_at,
        };
        self.registry
            .update(move |f| {
                f.pending.push(index);
                Ok(())
            })
            .await?;
        tracing::info!(account = %name, redirect = %redirect_uri, "sign-in started");
        Ok(SignInStart {
            url,
            redirect_uri,
            listener,
            state: new.flow.state.clone(),
            digest,
            expires_at: new.flow.expires_at,
        })
    }

    /// Abandons a started sign-in (timeout, Ctrl-C): removes its pending flow.
    pub async fn cancel_sign_in(&self, digest: &str) -> Result<()> {
        self.opts.keychain.delete(&pending_key(digest)).await?;
        let d = digest.to_string();
        self.registry
            .update(move |f| {
                f.pending.retain(|p| p.digest != d);
                Ok(())
            })
            .await
    }

    pub(super) async fn sweep_expired_pending(&self) {
        let now = self.now();
        let Ok(file) = self.registry.load() else {
            return;
        };
        let expired: Vec<String> = file
            .pending
            .iter()
            .filter(|p| p.expires_at < now || file.by_id(&p.account_id).is_none())
            .map(|p| p.digest.clone())
            .collect();
        for d in expired {
            if let Err(e) = self.cancel_sign_in(&d).await {
                tracing::debug!(error = %e, "could not clean up an expired sign-in");
            }
        }
    }

    /// Starts a loopback sign-in, calls `open` with the URL, waits for the callback (at most
    /// `timeout`) and completes it. The pending flow is removed if the wait fails.
    /// If `cancel` completes first (Ctrl-C, a Cancel button), the sign-in is abandoned and
    /// [`Error::Interrupted`] returned.
    pub async fn sign_in_loopback<F, C>(
        &self,
        name: &str,
        opts: SignInOptions,
        timeout: Duration,
        open: F,
        cancel: C,
    ) -> Result<SignedIn>
    where
        F: FnOnce(&SignInStart),
        C: std::future::Future<Output = ()>,
    {
        let mut start = self
            .start_sign_in(
                name,
                SignInOptions {
                    redirect: Some(RedirectMode::Loopback),
                    ..opts
                },
            )
            .await?;
        let Some(listener) = start.listener.take() else {
            return Err(Error::Other("no loopback listener".into()));
        };
        let listener = listener.report_ignored_to(name, self.ignored.clone());
        open(&start);
        let wait = listener.wait(&start.state, timeout, |url| async move {
            let done = self.complete_sign_in(&url).await?;
            let who = done
                .identity
                .as_ref()
                .map(|i| {
                    format!(
                        "Signed in to Latchkey account `{}` as {}.",
                        done.account,
                        i.display()
                    )
                })
                .unwrap_or_else(|| format!("Signed in to Latchkey account `{}`.", done.account));
            Ok((done, who))
        });
        let result = tokio::select! {
            r = wait => r,
            () = cancel => Err(Error::Interrupted),
        };
        if result.is_err() {
            // Consumed already if the callback arrived; otherwise clean up.
            log_cleanup_failure(
                name,
                "removing an abandoned sign-in",
                self.cancel_sign_in(&start.digest).await,
            );
        }
        result
    }

    /// Waits until another process (the desktop app) completes or abandons the sign-in with
    /// this digest, polling the metadata file.
    pub async fn wait_for_completion(
        &self,
        name: &str,
        digest: &str,
        started: OffsetDateTime,
        timeout: Duration,
    ) -> Result<SignedIn> {
        let now = tokio::time::Instant::now();
        let deadline = now
            .checked_add(timeout)
            .unwrap_or(now + Duration::from_secs(365 * 24 * 3600));
        loop {
            let file = self.registry.load()?;
            if !file.pending.iter().any(|p| p.digest == digest) {
                let id = file
                    .by_name(name)
                    .map(|a| a.id)
                    .ok_or_else(|| Error::UnknownAccount(name.to_string()))?;
                // The completing process consumed the flow under the account lock and holds
                // it until tokens and metadata are written: wait for it, then read the result.
                let (_local, _file) = self.lock_account(id).await?;
                let account = self.account(name)?;
                let tokens = self.read_tokens_locked(&account).await?;
                return match (account.signed_in_at, tokens) {
                    (Some(at), Some(t)) if at >= started - time::Duration::seconds(1) => Ok(SignedIn {
                        account: account.name.clone(),
                        identity: account.identity.clone(),
                        expires_at: t.expires_at,
                        scope: t.scope.clone(),
                        has_refresh_token: t.refresh_token.is_some(),
                        offline_access: OfflineAccess::of(
                            &account,
                            Some(t.refresh_token.is_some()),
                        ),
                    }),
                    _ => Err(Error::Callback(
                        "the sign-in was completed elsewhere but did not succeed; see the account's status".into(),
                    )
                    .with_remedy(Remedy::CheckStatus)),
                };
            }
            if tokio::time::Instant::now() >= deadline {
                log_cleanup_failure(
                    name,
                    "removing a timed-out sign-in",
                    self.cancel_sign_in(digest).await,
                );
                return Err(Error::Timeout(format!(
                    "after {} s waiting for the Latchkey app to receive the sign-in callback",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Whether a callback URL belongs to a sign-in in progress (its `state` is that of a pending
    /// flow, from this process or another). Consumes nothing; for a shell that wants to tell an
    /// ignored link (forged, stale, replayed) from a real callback before completing it.
    pub async fn callback_matches_sign_in(&self, callback_url: &str) -> Result<bool> {
        let Some(state) = Callback::parse(callback_url).ok().and_then(|cb| cb.state) else {
            return Ok(false);
        };
        let key = pending_key(&state_digest(state.expose()));
        let Some(stored) = self.opts.keychain.get(&key).await? else {
            return Ok(false);
        };
        Ok(PendingFlow::from_secret(&stored)
            .is_ok_and(|flow| ct_eq(flow.state.expose(), state.expose())))
    }

    /// Completes a sign-in from its callback URL (loopback request or deep link).
    pub async fn complete_sign_in(&self, callback_url: &str) -> Result<SignedIn> {
        let cb = Callback::parse(callback_url)?;
        let unknown = || {
            Error::Callback(
                "this callback does not belong to a sign-in in progress (unknown, already used or expired state); start the sign-in again".into(),
            )
        };
        let state = cb
            .state
            .clone()
            .ok_or_else(|| Error::Callback("the callback has no `state` parameter".into()))?;
        let digest = state_digest(state.expose());
        let key = pending_key(&digest);
        let stored = self.opts.keychain.get(&key).await?.ok_or_else(unknown)?;
        let flow = PendingFlow::from_secret(&stored)?;
        if !ct_eq(flow.state.expose(), state.expose()) {
            return Err(unknown());
        }
        let file = self.registry.load()?;
        let Some(account) = file.by_id(&flow.account_id).cloned() else {
            log_cleanup_failure(
                "(removed)",
                "removing the sign-in of a removed account",
                self.cancel_sign_in(&digest).await,
            );
            return Err(Error::Callback(
                "the account of this sign-in was removed".into(),
            ));
        };
        let (_local, _file_lock) = self.lock_account(account.id).await?;
        // Consume once: only the holder of the lock who still finds the flow proceeds.
        if self.opts.keychain.get(&key).await?.is_none() {
            return Err(unknown());
        }
        self.cancel_sign_in(&digest).await?;
        let account = self.account(&account.name)?;
        let now = self.now();
        if now > flow.expires_at {
            return Err(Error::Callback(
                "this sign-in expired (10 minutes); start it again".into(),
            ));
        }
        if !pkce::same_redirect(&cb.base, &flow.redirect_uri) {
            return Err(Error::Callback(format!(
                "the callback arrived at {}, but the sign-in used {}",
                cb.base, flow.redirect_uri
            )));
        }
        let endpoints = &account.provider.endpoints;
        match (&cb.iss, &endpoints.issuer) {
            (Some(iss), Some(expected)) => {
                // No tenant is named yet: the id_token check binds it.
                let ok = crate::issuer::issuer_matches(
                    iss,
                    expected.as_str(),
                    account.provider.quirks().issuer_template,
                    crate::issuer::Tenant::Unknown,
                );
                if !ok {
                    return Err(Error::Callback(format!(
                        "the response came from issuer `{}`, not `{expected}` (possible mix-up attack; RFC 9207)",
                        crate::text::clean(iss, crate::text::MAX_URI)
                    )));
                }
            }
            (None, Some(_)) if endpoints.authorization_response_iss_parameter_supported => {
                return Err(Error::Callback(
                    "the provider announces RFC 9207 but the response has no `iss`".into(),
                ));
            }
            _ => {}
        }
        if let Some(error) = &cb.error {
            return Err(crate::token::provider_error(
                crate::oauth_error::OAuthErrorBody {
                    error: error.as_str().into(),
                    error_description: cb.error_description.clone(),
                    error_uri: None,
                },
                &ErrorContext {
                    redirect_uri: Some(&flow.redirect_uri),
                    errors_with_200: false,
                },
            ));
        }
        let code = cb
            .code
            .clone()
            .ok_or_else(|| Error::Callback("the callback has neither `code` nor `error`".into()))?;
        let auth = self.client_auth(&account).await?;
        let dpop = self.dpop_key(&account).await?;
        let quirks = account.provider.quirks();
        let response = request_token(
            &self.opts.http,
            &endpoints.token,
            &auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.expose()),
                ("redirect_uri", &flow.redirect_uri),
                ("code_verifier", flow.verifier.expose()),
            ],
            &ErrorContext {
                redirect_uri: Some(&flow.redirect_uri),
                errors_with_200: quirks.token_errors_with_http_200,
            },
            dpop.as_ref(),
        )
        .await?;
        // Step-up (RFC 9470, OIDC Core §3.1.2.1): a sign-in that asked for `max_age` is
        // refused when the provider did not authenticate the user again within it (the
        // account's tokens stay as they were); an `acr` other than asked for is reported.
        if let Some(id_token) = &response.id_token
            && (flow.max_age.is_some() || flow.acr_values.is_some())
            && let Some(note) = oidc::check_step_up(
                id_token,
                flow.max_age,
                flow.acr_values.as_deref(),
                self.now(),
            )?
        {
            tracing::warn!(account = %account.name, "{note}");
        }
        let addition = !flow.add_scopes.is_empty()
            || !flow.add_resources.is_empty()
            || flow.max_age.is_some()
            || flow.acr_values.is_some();
        let mut resources = account.resources.clone();
        resources.extend(
            flow.add_resources
                .iter()
                .filter(|r| !account.resources.contains(r))
                .cloned(),
        );
        let done = self
            .store_sign_in(
                &account,
                response,
                flow.nonce.as_ref(),
                flow.replace_identity,
                addition,
                resources,
            )
            .await?;
        // Only now, with the new tokens stored, does the account ask for the added scopes
        // and resources at every sign-in.
        self.note_added_permissions(&account, &flow.add_scopes, &flow.add_resources)
            .await?;
        Ok(done)
    }

    /// The shared tail of every interactive sign-in (authorization code, device): tokens
    /// received → validate the id_token (with the sign-in's nonce, if any) → read userinfo →
    /// refuse a silent identity switch → write the tokens → write the metadata. The caller
    /// holds the account locks.
    ///
    /// The cached tokens for other APIs belong to the sign-in that obtained them: a new
    /// sign-in takes the next [`Account::sign_in_generation`] (before its tokens are written,
    /// so no cached token of the old one is served with them) and deletes them. Only an
    /// `addition` (`--add-scope`, `--add-resource`, step-up) by the same, known identity
    /// keeps them. `resources`: what the sign-in asked for (RFC 8707), recorded as
    /// [`Account::signed_in_resources`].
    pub(super) async fn store_sign_in(
        &self,
        account: &Account,
        response: TokenResponse,
        nonce: Option<&Secret>,
        replace_identity: bool,
        addition: bool,
        resources: Vec<String>,
    ) -> Result<SignedIn> {
        let quirks = account.provider.quirks();
        let identity = self.identify(account, &response, nonce).await?;
        match (&account.identity, &identity) {
            (Some(old), Some(new)) if old.sub != new.sub && !replace_identity => {
                return Err(Error::IdentityMismatch {
                    account: account.name.clone(),
                    existing: old.display().to_string(),
                    new: new.display().to_string(),
                });
            }
            // The account has an identity but this sign-in cannot say who it is (GitHub's
            // /user failed, `openid` not requested): it may be someone else, so it is not
            // stored under the old identity.
            (Some(old), None) if !replace_identity => {
                return Err(Error::IdentityMismatch {
                    account: account.name.clone(),
                    existing: old.display().to_string(),
                    new: "an unknown user (the provider's answer does not say who signed in)"
                        .into(),
                });
            }
            _ => {}
        }
        let now = self.now();
        let set = TokenSet::from_response(response, now, None, quirks.scope_delimiter);
        let same_identity =
            matches!((&account.identity, &identity), (Some(old), Some(new)) if old.sub == new.sub);
        let new_sign_in = !(addition && same_identity);
        if new_sign_in {
            let id = account.id;
            self.registry
                .update(move |f| {
                    if let Some(a) = f.by_id_mut(&id) {
                        a.sign_in_generation = a.sign_in_generation.saturating_add(1);
                    }
                    Ok(())
                })
                .await?;
        }
        self.write_tokens(account, &set).await?;
        if new_sign_in {
            // Never served again (their generation is gone); deleting them is housekeeping.
            log_cleanup_failure(
                &account.name,
                "deleting the cached tokens of the previous sign-in",
                self.delete_derived(account).await,
            );
        }
        let id = account.id;
        let granted = scope_list(set.scope.as_deref());
        let ident = identity.clone();
        self.registry
            .update(move |f| {
                if let Some(a) = f.by_id_mut(&id) {
                    a.signed_in_at = Some(now);
                    a.needs_sign_in = None;
                    a.refresh_token_at_risk = None;
                    a.signed_in_resources = Some(resources);
                    a.granted_scopes = granted;
                    // `None` only with --replace: the old identity is no longer known true.
                    a.identity = ident;
                }
                Ok(())
            })
            .await?;
        tracing::info!(account = %account.name, sub = identity.as_ref().map(|i| i.sub.as_str()).unwrap_or("-"), "signed in");
        let offline_access = OfflineAccess::of(account, Some(set.refresh_token.is_some()));
        if let Some(OfflineAccess::NotGranted { consent_sent }) = offline_access {
            if consent_sent {
                tracing::info!(account = %account.name, "the sign-in asked for offline access with prompt=consent, but the provider issued no refresh token (the client may not be allowed the refresh_token grant)");
            } else {
                tracing::info!(account = %account.name, "the sign-in asked for offline access, but the provider issued no refresh token; a provider that follows OpenID Connect Core §11 grants it only with prompt=consent: turn on the account's offline consent (--offline-consent true), then sign in again");
            }
        }
        Ok(SignedIn {
            account: account.name.clone(),
            identity,
            expires_at: set.expires_at,
            scope: set.scope.clone(),
            has_refresh_token: set.refresh_token.is_some(),
            offline_access,
        })
    }

    pub(super) async fn identify(
        &self,
        account: &Account,
        response: &crate::token::TokenResponse,
        nonce: Option<&Secret>,
    ) -> Result<Option<Identity>> {
        let endpoints = &account.provider.endpoints;
        match account.provider.quirks().identity {
            IdentitySource::GithubUser => {
                let Some(url) = &endpoints.userinfo else {
                    return Ok(None);
                };
                match oidc::fetch_github_user(&self.opts.http, url, &response.access_token).await {
                    Ok(i) => Ok(Some(i)),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read the GitHub user");
                        Ok(None)
                    }
                }
            }
            IdentitySource::IdToken => {
                let Some(id_token) = &response.id_token else {
                    if account.provider.is_oidc() && account.scopes.iter().any(|s| s == "openid") {
                        return Err(Error::InvalidIdToken(
                            "the provider returned no id_token although `openid` was requested"
                                .into(),
                        ));
                    }
                    return Ok(None);
                };
                let mut identity = self
                    .validate_id_token(account, id_token, nonce, None)
                    .await?;
                if let Some(url) = &endpoints.userinfo {
                    let key = if response.token_type.is_dpop() {
                        self.dpop_key(account).await?
                    } else {
                        None
                    };
                    match oidc::fetch_userinfo(
                        &self.opts.http,
                        url,
                        Presented {
                            token: &response.access_token,
                            token_type: &response.token_type,
                            dpop: key.as_ref(),
                        },
                        &identity.sub,
                    )
                    .await
                    {
                        Ok(Some(info)) => {
                            identity.email = identity.email.or(info.email);
                            identity.name = identity.name.or(info.name);
                            identity.username = identity.username.or(info.username);
                        }
                        Ok(None) => {}
                        Err(e) => tracing::debug!(error = %e, "userinfo unavailable"),
                    }
                }
                Ok(Some(identity))
            }
        }
    }

    /// Sends the authorization request parameters to the PAR endpoint (RFC 9126) and returns
    /// the browser URL, which then carries only `client_id` and `request_uri`.
    pub(super) async fn push_authorization_request(
        &self,
        account: &Account,
        endpoint: &Url,
        request: &AuthRequest<'_>,
    ) -> Result<Url> {
        let auth = self.client_auth(account).await?;
        let dpop = self.dpop_key(account).await?;
        let params = pkce::authorization_params(request);
        // The client authentication adds `client_id` where it belongs.
        let form: Vec<(&str, &str)> = params
            .iter()
            .filter(|(k, _)| k != "client_id")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let resp = self
            .opts
            .http
            .post_form_dpop(endpoint, &auth, &form, dpop.as_ref())
            .await?;
        let pushed = pkce::PushedRequest::parse(&resp, &request.flow.redirect_uri)?;
        tracing::debug!(account = %account.name, "authorization request pushed (PAR)");
        let mut url = request.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &account.client_id)
            .append_pair("request_uri", &pushed.request_uri);
        Ok(url)
    }
}
