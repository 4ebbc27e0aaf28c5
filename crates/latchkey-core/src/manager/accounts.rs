//! Account management: add, edit, status summaries, sign-out and removal.

use super::*;
use crate::remedy::Advice;

impl LoginManager {
    /// Adds an account (runs discovery; stores the client secret in the keychain).
    pub async fn add(&self, new: NewAccount) -> Result<Account> {
        validate_name(&new.name)?;
        if new.client_id.trim().is_empty() {
            return Err(Error::InvalidInput(
                "the client id is empty (--client-id)".into(),
            ));
        }
        if self.registry.load()?.by_name(&new.name).is_some() {
            return Err(Error::AccountExists(new.name));
        }
        let provider = self.resolve_provider(&new.provider).await?;
        let quirks = provider.quirks();
        if new.flow == GrantFlow::ClientCredentials && new.client_secret.is_none() {
            return Err(Error::InvalidInput(
                "the client credentials grant needs the client secret: pass it on standard input with --client-secret-stdin".into(),
            ));
        }
        if new.flow == GrantFlow::Device && provider.endpoints.device_authorization.is_none() {
            return Err(Error::InvalidInput(format!(
                "{} at this address announces no device authorization endpoint (RFC 8628), so --flow device cannot work; use the browser sign-in",
                new.provider.preset.display_name()
            )));
        }
        if new.client_auth.is_some() && new.client_secret.is_none() {
            return Err(Error::InvalidInput(
                "--auth applies to clients with a secret: add --client-secret-stdin".into(),
            ));
        }
        if quirks.client_secret_required
            && new.client_secret.is_none()
            && new.flow != GrantFlow::ClientCredentials
        {
            return Err(Error::InvalidInput(format!(
                "{} clients need their client secret: pass it on standard input with --client-secret-stdin",
                new.provider.preset.display_name()
            )));
        }
        if quirks.loopback_only && new.redirect == RedirectMode::Scheme {
            return Err(Error::InvalidInput(format!(
                "{} desktop clients accept only loopback redirects; use --redirect loopback",
                new.provider.preset.display_name()
            )));
        }
        if quirks.exact_redirect_port
            && new.redirect == RedirectMode::Loopback
            && new.port.is_none()
        {
            return Err(Error::InvalidInput(format!(
                "{} matches redirect URIs exactly, port included: pass a fixed --port and register http://127.0.0.1:PORT/callback",
                new.provider.preset.display_name()
            )));
        }
        let mut new = new;
        new.resources = checked_resources(&new.resources, &quirks)?;
        let scopes = if new.scopes.is_empty() && new.flow == GrantFlow::ClientCredentials {
            // No user: the OIDC defaults (openid, profile, …) mean nothing here.
            Vec::new()
        } else if new.scopes.is_empty() {
            let mut s: Vec<String> = quirks
                .default_scopes
                .iter()
                .map(|s| s.to_string())
                .collect();
            if let Some(off) = quirks.offline_scope
                && !s.iter().any(|x| x == off)
            {
                s.push(off.to_string());
            }
            s
        } else {
            new.scopes.clone()
        };
        let account = Account {
            id: Uuid::new_v4(),
            name: new.name.clone(),
            label: new.label.clone(),
            client_id: new.client_id.trim().to_string(),
            scopes,
            redirect: new.redirect,
            port: new.port,
            keep_signed_in: new.keep_signed_in,
            approval: new.approval,
            approval_idle_secs: new.approval_ttl.map(|(idle, _)| idle),
            approval_max_secs: new.approval_ttl.and_then(|(_, max)| max),
            session_max_secs: None,
            session_warning_secs: None,
            has_client_secret: new.client_secret.is_some(),
            flow: new.flow,
            client_auth: new.client_auth,
            dpop: new.dpop,
            identity: None,
            granted_scopes: Vec::new(),
            needs_sign_in: None,
            created_at: self.now(),
            signed_in_at: None,
            token_rejected_at: None,
            last_refresh_at: None,
            provider,
            per_account_redirect: true,
            resources: new.resources.clone(),
            derived_tokens: Vec::new(),
            sign_in_generation: 0,
            signed_in_resources: None,
            refuses_new_resources: false,
            refresh_token_at_risk: None,
            offline_consent: new.offline_consent,
        };
        if let Some(secret) = &new.client_secret {
            self.opts
                .keychain
                .set(&account.client_secret_key(), secret)
                .await?;
        }
        if account.dpop {
            let key = DpopKey::generate()?;
            self.opts
                .keychain
                .set(&account.dpop_key_key(), &key.to_secret()?)
                .await?;
        }
        for w in account.warnings() {
            tracing::warn!(account = %account.name, "{}", w.text);
        }
        let added = account.clone();
        let result = self
            .registry
            .update(move |f| {
                if f.by_name(&account.name).is_some() {
                    return Err(Error::AccountExists(account.name.clone()));
                }
                f.accounts.push(account);
                Ok(())
            })
            .await;
        if let Err(e) = result {
            if added.has_client_secret {
                log_cleanup_failure(
                    &added.name,
                    "removing the client secret of an account that was not added",
                    self.opts.keychain.delete(&added.client_secret_key()).await,
                );
            }
            if added.dpop {
                log_cleanup_failure(
                    &added.name,
                    "removing the DPoP key of an account that was not added",
                    self.opts.keychain.delete(&added.dpop_key_key()).await,
                );
            }
            return Err(e);
        }
        tracing::info!(account = %added.name, id = %added.id, "account added");
        Ok(added)
    }

    /// Changes an account. Changes that invalidate its tokens (client id) sign it out.
    pub async fn edit(&self, name: &str, edit: AccountEdit) -> Result<EditOutcome> {
        if edit.approval.is_some() || edit.approval_ttl.is_some() {
            // A new policy starts from no grants.
            self.gate.end_grants_of(name);
        }
        let account = self.account(name)?;
        // Held until the metadata is rewritten: a refresh finishing in between would store
        // tokens of the old settings under the new ones.
        let (_local, _file) = self.lock_account(account.id).await?;
        let account = self.account(name)?;
        let mut notes = Vec::new();
        let sign_in = || Remedy::SignIn {
            account: name.to_string(),
        };
        let mut signed_out = false;
        if let Some(Some(mode)) = edit.redirect.map(Some)
            && mode == RedirectMode::Scheme
            && account.provider.quirks().loopback_only
        {
            return Err(Error::InvalidInput(
                "this provider accepts only loopback redirects".into(),
            ));
        }
        let will_have_secret = match &edit.client_secret {
            Some(s) => s.is_some(),
            None => account.has_client_secret,
        };
        if edit.flow == Some(GrantFlow::ClientCredentials) && !will_have_secret {
            return Err(Error::InvalidInput(
                "client credentials need the client secret: pass it with --client-secret-stdin"
                    .into(),
            ));
        }
        let mut sign_out_because = None;
        if let Some(cid) = &edit.client_id {
            if cid.trim().is_empty() {
                return Err(Error::InvalidInput("the client id is empty".into()));
            }
            if cid.trim() != account.client_id {
                sign_out_because = Some("the tokens belonged to the old client");
            }
        }
        if let Some(flow) = edit.flow
            && (flow == GrantFlow::ClientCredentials)
                != (account.flow == GrantFlow::ClientCredentials)
        {
            sign_out_because =
                Some("client-credentials tokens and user tokens are not interchangeable");
        }
        if let Some(dpop) = edit.dpop
            && dpop != account.dpop
        {
            sign_out_because = Some("DPoP-bound and bearer tokens are not interchangeable");
        }
        if let Some(reason) = sign_out_because {
            self.delete_tokens(&account).await?;
            signed_out = true;
            notes.push(Advice {
                text: format!("{reason}, so the tokens were removed"),
                remedy: Some(sign_in()),
            });
        }
        match &edit.client_secret {
            Some(Some(secret)) => {
                self.opts
                    .keychain
                    .set(&account.client_secret_key(), secret)
                    .await?
            }
            Some(None) => {
                self.opts
                    .keychain
                    .delete(&account.client_secret_key())
                    .await?
            }
            None => {}
        }
        let mut edit = edit;
        if let Some(resources) = &edit.resources {
            let resources = checked_resources(resources, &account.provider.quirks())?;
            if resources != account.resources {
                notes.push(Advice {
                    text: "the new resources are asked for at the next sign-in".into(),
                    remedy: Some(sign_in()),
                });
            }
            edit.resources = Some(resources);
        }
        if let Some(consent) = edit.offline_consent
            && Some(consent) != account.offline_consent
        {
            notes.push(Advice {
                text: format!(
                    "takes effect at the next sign-in{}",
                    if consent && !account.asks_for_offline_access() {
                        " (the account asks for no offline access: add the offline_access scope)"
                    } else {
                        ""
                    }
                ),
                remedy: Some(sign_in()),
            });
        }
        if let Some(scopes) = &edit.scopes
            && scopes != &account.scopes
        {
            notes.push(Advice {
                text: "the new scopes take effect at the next sign-in".into(),
                remedy: Some(sign_in()),
            });
        }
        let id = account.id;
        let updated = self
            .registry
            .update(move |f| {
                let a = f
                    .by_id_mut(&id)
                    .ok_or_else(|| Error::UnknownAccount(account.name.clone()))?;
                if let Some(l) = edit.label {
                    a.label = l;
                }
                if let Some(c) = edit.client_id {
                    a.client_id = c.trim().to_string();
                }
                if let Some(s) = &edit.client_secret {
                    a.has_client_secret = s.is_some();
                }
                if let Some(s) = edit.scopes {
                    a.scopes = s;
                }
                if let Some(r) = edit.redirect {
                    a.redirect = r;
                }
                if let Some(p) = edit.port {
                    a.port = p;
                }
                if let Some(k) = edit.keep_signed_in {
                    a.keep_signed_in = k;
                }
                if let Some(m) = edit.approval {
                    a.approval = m;
                }
                if let Some((idle, max)) = edit.approval_ttl {
                    a.approval_idle_secs = Some(idle);
                    a.approval_max_secs = max;
                }
                if let Some(m) = edit.session_max_secs {
                    a.session_max_secs = m;
                }
                if let Some(w) = edit.session_warning_secs {
                    a.session_warning_secs = w;
                }
                if let Some(flow) = edit.flow {
                    a.flow = flow;
                }
                if let Some(m) = edit.client_auth {
                    a.client_auth = m;
                }
                if let Some(d) = edit.dpop {
                    a.dpop = d;
                }
                if let Some(p) = edit.per_account_redirect {
                    a.per_account_redirect = p;
                }
                if let Some(r) = edit.resources {
                    a.resources = r;
                }
                if let Some(c) = edit.offline_consent {
                    a.offline_consent = Some(c);
                }
                if signed_out {
                    a.signed_in_at = None;
                    a.granted_scopes.clear();
                }
                Ok(a.clone())
            })
            .await?;
        Ok(EditOutcome {
            account: updated,
            signed_out,
            notes,
        })
    }

    pub(super) fn status_of(&self, account: &Account, tokens: Option<&TokenSet>) -> TokenStatus {
        let now = self.now();
        match tokens {
            None if account.needs_sign_in.is_some() => TokenStatus::NeedsSignIn,
            None => TokenStatus::SignedOut,
            Some(t) => {
                let min_ttl = time::Duration::try_from(self.opts.min_ttl).unwrap_or_default();
                if t.is_fresh(now, min_ttl) {
                    TokenStatus::SignedIn
                } else if t.is_unexpired(now) {
                    TokenStatus::ExpiresSoon
                } else if t.refresh_token.is_some() {
                    TokenStatus::ExpiredRefreshable
                } else {
                    TokenStatus::NeedsSignIn
                }
            }
        }
    }

    pub(super) async fn summarize(&self, account: Account) -> AccountSummary {
        let tokens = self.read_tokens(&account).await;
        self.summarize_with(account, tokens).await
    }

    pub(super) async fn summarize_with(
        &self,
        mut account: Account,
        tokens: Result<Option<TokenSet>>,
    ) -> AccountSummary {
        let mut problems = Vec::new();
        let (tokens, status) = match tokens {
            Ok(t) => {
                let s = self.status_of(&account, t.as_ref());
                (t, s)
            }
            Err(e) => {
                problems.push(e.to_string());
                (None, TokenStatus::Unknown)
            }
        };
        if let Some(reason) = &account.needs_sign_in {
            problems.push(format!("needs sign-in: {reason}"));
        }
        problems.extend(at_risk_problem(&account));
        problems.extend(account.warnings().into_iter().map(|w| w.text));
        if let Some(t) = &tokens
            && t.refresh_token.is_none()
            && t.expires_at.is_some()
        {
            problems.push(
                "no refresh token: the account must sign in again when the access token expires"
                    .into(),
            );
        }
        // A token obtained after the last sign-in came from a refresh (or a renewed
        // client-credentials grant): that is the last refresh time.
        if let Some(t) = &tokens
            && account.signed_in_at.is_none_or(|s| t.obtained_at > s)
        {
            account.last_refresh_at = Some(t.obtained_at);
        }
        let now = self.now();
        let session_ends_at = session_end(&account, tokens.as_ref());
        let cached_tokens = self.cached_tokens(&account).await;
        AccountSummary {
            cached_tokens,
            session_ends_at,
            session_ends_in: session_ends_at.map(|e| (e - now).whole_seconds()),
            status,
            expires_at: tokens.as_ref().and_then(|t| t.expires_at),
            expires_in: tokens
                .as_ref()
                .and_then(|t| t.remaining(now))
                .map(|d| d.whole_seconds()),
            has_refresh_token: tokens.as_ref().is_some_and(|t| t.refresh_token.is_some()),
            offline_access: OfflineAccess::of(
                &account,
                tokens.as_ref().map(|t| t.refresh_token.is_some()),
            ),
            token_lifetime: tokens
                .as_ref()
                .and_then(|t| t.expires_at.map(|e| (e - t.obtained_at).whole_seconds())),
            token_scope: tokens.as_ref().and_then(|t| t.scope.clone()),
            problems,
            account,
        }
    }

    /// Every account from the metadata file alone, without touching the keychain: status
    /// [`TokenStatus::Checking`], no expiry. For a first paint; [`Self::summaries`] gives the
    /// token state.
    pub fn summaries_from_metadata(&self) -> Result<Vec<AccountSummary>> {
        self.summaries_from_metadata_range(0, None)
    }

    /// Like [`Self::summaries_from_metadata`], for the accounts from position `offset` (in the
    /// file's order), at most `limit` of them (all when `None`): a window asks for its first
    /// screenful, paints it, then asks for the rest. An `offset` past the end gives an empty
    /// list.
    pub fn summaries_from_metadata_range(
        &self,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Vec<AccountSummary>> {
        Ok(self
            .accounts_range(offset, limit)?
            .into_iter()
            .map(|account| {
                let mut problems = Vec::new();
                if let Some(reason) = &account.needs_sign_in {
                    problems.push(format!("needs sign-in: {reason}"));
                }
                problems.extend(at_risk_problem(&account));
                problems.extend(account.warnings().into_iter().map(|w| w.text));
                AccountSummary {
                    cached_tokens: account
                        .derived_tokens
                        .iter()
                        .map(|spec| CachedToken {
                            spec: spec.clone(),
                            granted_scope: None,
                            expires_at: None,
                            expires_in: None,
                        })
                        .collect(),
                    status: TokenStatus::Checking,
                    expires_at: None,
                    expires_in: None,
                    has_refresh_token: false,
                    offline_access: None,
                    token_lifetime: None,
                    token_scope: None,
                    session_ends_at: None,
                    session_ends_in: None,
                    problems,
                    account,
                }
            })
            .collect())
    }

    /// Every account with its token state, without a keychain read per account: from the
    /// tokens held in memory, else the non-secret state recorded beside the metadata
    /// ([`crate::token_state`]), else (no record yet) the keychain. [`Self::summary`] always
    /// reads the keychain.
    pub async fn summaries(&self) -> Result<Vec<AccountSummary>> {
        let mut out = Vec::new();
        for a in self.accounts()? {
            let tokens = self.listed_tokens(&a).await;
            out.push(self.summarize_with(a, tokens).await);
        }
        Ok(out)
    }

    /// One account with its token state.
    pub async fn summary(&self, name: &str) -> Result<AccountSummary> {
        let a = self.account(name)?;
        Ok(self.summarize(a).await)
    }

    /// Signs out: revokes at the provider (RFC 7009) when it can, and deletes the tokens even
    /// if revocation fails.
    pub async fn logout(&self, name: &str) -> Result<LogoutReport> {
        let account = self.account(name)?;
        let (_local, _file) = self.lock_account(account.id).await?;
        let account = self.account(name)?;
        self.logout_locked(&account).await
    }

    /// [`Self::logout`] with the account locks held by the caller.
    async fn logout_locked(&self, account: &Account) -> Result<LogoutReport> {
        let account = account.clone();
        let tokens = self.read_tokens_locked(&account).await?;
        let quirks = account.provider.quirks();
        let endpoint = account
            .provider
            .endpoints
            .revocation
            .clone()
            .filter(|_| quirks.rfc7009_revocation);
        let mut report = LogoutReport {
            account: account.name.clone(),
            had_tokens: tokens.is_some(),
            revocation_supported: endpoint.is_some(),
            ..Default::default()
        };
        if let (Some(t), Some(url)) = (&tokens, &endpoint) {
            match self.client_auth(&account).await {
                Ok(auth) => {
                    let mut items: Vec<(&str, &Secret)> = Vec::new();
                    if let Some(rt) = &t.refresh_token {
                        items.push(("refresh_token", rt));
                    }
                    items.push(("access_token", &t.access_token));
                    for (hint, token) in items {
                        match self
                            .opts
                            .http
                            .post_form(
                                url,
                                &auth,
                                &[("token", token.expose()), ("token_type_hint", hint)],
                            )
                            .await
                        {
                            Ok(r) if r.status == 200 => report.revoked.push(hint.to_string()),
                            Ok(r) => report.revocation_errors.push(format!(
                                "{hint}: HTTP {} ({})",
                                r.status,
                                if r.looks_like_json() {
                                    serde_json::from_slice::<crate::oauth_error::OAuthErrorBody>(
                                        &r.body,
                                    )
                                    .map(|b| b.error.to_string())
                                    .unwrap_or_else(|_| "unreadable error".into())
                                } else {
                                    r.error_page_summary()
                                }
                            )),
                            Err(e) => report.revocation_errors.push(format!("{hint}: {e}")),
                        }
                    }
                }
                Err(e) => report.revocation_errors.push(e.to_string()),
            }
        }
        if let Some(url) = &endpoint
            && !account.derived_tokens.is_empty()
        {
            match self.client_auth(&account).await {
                Ok(auth) => self.revoke_derived(&account, url, &auth, &mut report).await,
                Err(e) => report.revocation_errors.push(e.to_string()),
            }
        }
        report.had_tokens |= !account.derived_tokens.is_empty();
        self.delete_tokens(&account).await?;
        let id = account.id;
        self.registry
            .update(move |f| {
                if let Some(a) = f.by_id_mut(&id) {
                    a.signed_in_at = None;
                    a.needs_sign_in = None;
                    a.granted_scopes.clear();
                }
                Ok(())
            })
            .await?;
        tracing::info!(account = %account.name, revoked = report.revoked.len(), "signed out");
        Ok(report)
    }

    /// Signs out and forgets the account (client secret and metadata too).
    /// Holds the account locks throughout, so a refresh or sign-in completing meanwhile cannot
    /// store tokens for an account being forgotten, and deletes the keychain items of its
    /// sign-ins in progress too.
    pub async fn remove(&self, name: &str) -> Result<LogoutReport> {
        let account = self.account(name)?;
        let (_local, _file) = self.lock_account(account.id).await?;
        let account = self.account(name)?;
        let report = self.logout_locked(&account).await?;
        let pending: Vec<String> = self
            .registry
            .load()?
            .pending
            .iter()
            .filter(|p| p.account_id == account.id)
            .map(|p| p.digest.clone())
            .collect();
        for digest in &pending {
            self.opts.keychain.delete(&pending_key(digest)).await?;
        }
        // Best effort: the index's items are gone already; a failed search must not keep the
        // account (it is logged).
        log_cleanup_failure(
            &account.name,
            "searching the keychain for pending sign-ins",
            self.sweep_pending_items(&account).await,
        );
        self.opts
            .keychain
            .delete(&account.client_secret_key())
            .await?;
        self.opts.keychain.delete(&account.dpop_key_key()).await?;
        let id = account.id;
        self.registry
            .update(move |f| {
                f.accounts.retain(|a| a.id != id);
                f.pending.retain(|p| p.account_id != id);
                Ok(())
            })
            .await?;
        crate::token_state::remove(&self.opts.paths, &id);
        match std::fs::remove_file(self.opts.paths.account_lock(&id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(account = %name, error = %e, "could not remove the account's lock file");
            }
            _ => {}
        }
        Ok(report)
    }
}

impl LoginManager {
    /// Deletes the pending sign-ins of `account` that the index does not list (a crash between
    /// writing the item and the index, an older version): the keychain is searched for
    /// `pending/…` items and those whose flow names this account are deleted. Items of other
    /// accounts stay, also of accounts this config dir does not know (another
    /// `LATCHKEY_CONFIG_DIR` shares the keychain). Stores that cannot search are left to the
    /// index.
    async fn sweep_pending_items(&self, account: &Account) -> Result<()> {
        let Some(keys) = self
            .opts
            .keychain
            .keys_with_prefix(&pending_key(""))
            .await?
        else {
            return Ok(());
        };
        for key in keys {
            // Read failures are skipped: the item may be gone since the search.
            let owner = match self.opts.keychain.get(&key).await.ok().flatten() {
                Some(value) => serde_json::from_str::<PendingFlow>(value.expose())
                    .ok()
                    .map(|flow| flow.account_id),
                None => continue,
            };
            if owner == Some(account.id) {
                self.opts.keychain.delete(&key).await?;
                tracing::info!(account = %account.name, "deleted a pending sign-in left out of the index");
            }
        }
        Ok(())
    }
}

/// The problem a refused refresh-token request leaves ([`Account::refresh_token_at_risk`]).
fn at_risk_problem(account: &Account) -> Option<String> {
    account
        .refresh_token_at_risk
        .as_ref()
        .map(|r| format!("{r}; if the next renewal fails, sign in again"))
}

/// Resources as given to `add`/`edit --resource`: each an RFC 8707 URI, sorted, no duplicates,
/// and something this provider can ask for at sign-in.
fn checked_resources(
    resources: &[String],
    quirks: &crate::provider::Quirks,
) -> Result<Vec<String>> {
    let mut out = resources
        .iter()
        .map(|r| crate::target::check_resource(r))
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    out.dedup();
    crate::target::authorization_params(&out, quirks.target_style)?;
    Ok(out)
}

/// When the session ends: the earlier of what the provider said about the refresh token
/// (`refresh_expires_in`, or its JWT `exp`) and the account's session maximum from sign-in.
/// `None` without tokens or when nothing is known.
fn session_end(account: &Account, tokens: Option<&TokenSet>) -> Option<OffsetDateTime> {
    let tokens = tokens?;
    let by_setting = account.session_max_secs.and_then(|max| {
        let start = account.signed_in_at.unwrap_or(tokens.obtained_at);
        Some(start + time::Duration::seconds(i64::try_from(max).ok()?))
    });
    match (tokens.session_expires_at, by_setting) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod session_end_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_earlier_of_the_provider_and_the_setting_wins() {
        let mut account: Account = serde_json::from_value(serde_json::json!({
            "id": "6f1c8a52-9a42-4a55-8a9b-0d5f3c8e8b11",
            "name": "work",
            "client_id": "cid",
            "created_at": "2026-01-01T00:00:00Z",
            "provider": {
                "spec": {"preset": "oidc", "issuer": "https://id.example.com"},
                "endpoints": {"token": "https://id.example.com/token"}
            }
        }))
        .unwrap();
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut tokens: TokenSet = serde_json::from_value(serde_json::json!({
            "access_token": "a", "token_type": "Bearer", "obtained_at": "2027-01-15T08:00:00Z"
        }))
        .unwrap();
        assert_eq!(session_end(&account, Some(&tokens)), None);
        assert_eq!(session_end(&account, None), None);
        account.signed_in_at = Some(t0);
        account.session_max_secs = Some(3600);
        let by_setting = t0 + time::Duration::hours(1);
        assert_eq!(session_end(&account, Some(&tokens)), Some(by_setting));
        tokens.session_expires_at = Some(t0 + time::Duration::minutes(30));
        assert_eq!(
            session_end(&account, Some(&tokens)),
            tokens.session_expires_at
        );
        tokens.session_expires_at = Some(t0 + time::Duration::hours(2));
        assert_eq!(session_end(&account, Some(&tokens)), Some(by_setting));
        account.session_max_secs = None;
        assert_eq!(
            session_end(&account, Some(&tokens)),
            tokens.session_expires_at
        );
    }
}
