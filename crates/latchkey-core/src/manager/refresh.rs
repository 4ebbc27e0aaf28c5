//! The account's own token: [`LoginManager::access_token`] (the hot path, then a renewal under
//! the account locks by the engine in `renewal.rs`). What is particular to it lives here: the
//! request (`grant_type=refresh_token`, or a new `client_credentials` grant for a
//! client-credentials account), what a refusal means (`invalid_grant` ends the sign-in for every
//! caller: [`LoginManager::refresh_token_rejected`]; another refusal may have spent the refresh
//! token: [`LoginManager::refresh_refused`]; a client-credentials client the provider does not
//! accept gets the command that fixes it), and how the answer is stored (the rotated set first,
//! then the identity and the metadata: `store_refreshed`).

use super::renewal::{Locked, Purpose, Renewal};
use super::*;
use crate::oauth_error::OAuthErrorCode;

impl LoginManager {
    /// A valid access token: the stored one if it has more than `min_ttl` left, else renewed
    /// (single-flight across tasks and processes; see `renewal.rs`).
    pub async fn access_token(&self, name: &str, opts: TokenOptions) -> Result<AccessToken> {
        let account = self.account(name)?;
        let min_ttl = self.min_ttl(&opts);
        // Client credentials: "refresh" is a new grant, through the same single-flight path.
        let client_credentials = account.flow == GrantFlow::ClientCredentials;
        let purpose = Purpose::Own { client_credentials };
        let mut in_hand = None;
        if !opts.force {
            match self.read_tokens(&account).await? {
                Some(t) if self.fresh_enough(&account, &t, min_ttl) => {
                    return Ok(hand_out(t, None, false));
                }
                Some(t) if self.servable(&account, &t) => in_hand = Some(t),
                Some(_) => {}
                None if client_credentials => {}
                None => return Err(self.needs_sign_in_error(&account)),
            }
        }
        let locks = match self.lock_for_renewal(&account, in_hand, &purpose).await? {
            Locked::Held(locks) => locks,
            Locked::Served(t) => return Ok(t),
        };
        // Re-read: another task or process may have refreshed while we waited.
        let account = self.account(name)?;
        let current = self.read_tokens_locked(&account).await?;
        if !opts.force
            && let Some(t) = current
                .as_ref()
                .filter(|t| self.fresh_enough(&account, t, min_ttl))
        {
            tracing::debug!(account = %account.name, "renewed by someone else meanwhile");
            return Ok(hand_out(t.clone(), None, false));
        }
        let form = if client_credentials {
            let mut form = vec![("grant_type".into(), Secret::new("client_credentials"))];
            if !account.scopes.is_empty() {
                form.push(("scope".into(), Secret::new(account.scopes.join(" "))));
            }
            form
        } else {
            let current_set = current
                .as_ref()
                .ok_or_else(|| self.needs_sign_in_error(&account))?;
            let Some(refresh_token) = current_set.refresh_token.clone() else {
                if current_set.is_unexpired(self.now()) {
                    return Ok(hand_out(
                        current_set.clone(),
                        Some("no refresh token: this token cannot be renewed; sign in again before it expires".into()),
                        false,
                    ));
                }
                return Err(Error::NeedsSignIn {
                    account: account.name.clone(),
                    reason: "the access token expired and the provider issued no refresh token"
                        .into(),
                });
            };
            vec![
                ("grant_type".into(), Secret::new("refresh_token")),
                ("refresh_token".into(), refresh_token),
            ]
        };
        self.renew(
            &account,
            Renewal {
                purpose,
                form,
                current,
            },
            locks,
        )
        .await
    }

    /// [`Self::access_token`] with `force`: a new token even if the stored one is fresh.
    pub(super) async fn force_refresh(&self, name: &str) -> Result<AccessToken> {
        self.access_token(
            name,
            TokenOptions {
                min_ttl: None,
                force: true,
            },
        )
        .await
    }

    pub(super) fn needs_sign_in_error(&self, account: &Account) -> Error {
        Error::NeedsSignIn {
            account: account.name.clone(),
            reason: account
                .needs_sign_in
                .clone()
                .unwrap_or_else(|| "it is not signed in".into()),
        }
    }

    /// What the provider's refusal of a renewal of the account's own token means (the error
    /// for the caller). Under the account locks.
    pub(super) async fn refresh_refusal(
        &self,
        account: &Account,
        client_credentials: bool,
        auth: &ClientAuth,
        error: OAuthErrorCode,
        description: Option<String>,
        hint: Option<String>,
    ) -> Result<Error> {
        let unaccepted_client = matches!(
            error,
            OAuthErrorCode::InvalidClient | OAuthErrorCode::UnauthorizedClient
        );
        if client_credentials && unaccepted_client {
            let method = match auth {
                ClientAuth::Post { .. } => "client_secret_post",
                _ => "client_secret_basic",
            };
            return Ok(Error::ProviderError {
                hint: Some(format!(
                    "The provider did not accept the client credentials of `{}`: check the client id, that the client may use the client_credentials grant, that it is registered for the authentication method in use ({method}; see `--auth basic|post`), and the client secret",
                    account.name
                )),
                error,
                description,
            }
            .with_remedy(Remedy::SetClientSecret {
                account: account.name.clone(),
            }));
        }
        if client_credentials || error == OAuthErrorCode::InvalidClient {
            return Ok(Error::ProviderError {
                error,
                description,
                hint,
            });
        }
        if error == OAuthErrorCode::InvalidGrant {
            return self.refresh_token_rejected(account, description).await;
        }
        // Not repeated: the provider may have spent the refresh token with it.
        Ok(self
            .refresh_refused(account, "a renewal", error, description, hint, None)
            .await)
    }

    /// The provider refused the refresh token (`invalid_grant`), on a renewal of the account's
    /// own token or on a request for another API (`derived.rs`): the tokens (and the cached
    /// tokens for other APIs) are deleted from the keychain and the account marked needs
    /// sign-in, so no caller, in this process or another, sends the dead refresh token again
    /// (the others find no tokens when they get the account locks). Returns the error for the
    /// caller. Under the account locks.
    pub(super) async fn refresh_token_rejected(
        &self,
        account: &Account,
        description: Option<String>,
    ) -> Result<Error> {
        tracing::warn!(account = %account.name, "refresh token rejected (invalid_grant); tokens cleared");
        // The account on file: another process may have recorded a refused request since.
        let at_risk = self.registry.load().ok().and_then(|f| {
            f.by_id(&account.id)
                .and_then(|a| a.refresh_token_at_risk.clone())
        });
        let reason = format!(
            "the provider no longer accepts its refresh token (invalid_grant{}){}",
            description.map(|d| format!(": {d}")).unwrap_or_default(),
            at_risk
                .map(|r| format!("; probably because {r}"))
                .unwrap_or_default()
        );
        // Marked first, then deleted: a caller that finds the tokens gone (on the hot path,
        // without the locks) finds the reason recorded too.
        let id = account.id;
        let r = reason.clone();
        let marked = self
            .registry
            .update(move |f| {
                if let Some(a) = f.by_id_mut(&id) {
                    a.needs_sign_in = Some(r);
                    a.refresh_token_at_risk = None;
                }
                Ok(())
            })
            .await;
        self.delete_tokens(account).await?;
        marked?;
        Ok(Error::NeedsSignIn {
            account: account.name.clone(),
            reason,
        })
    }

    /// The provider refused a request made with the account's refresh token (`what`: a
    /// renewal, a token for another API), with an error other than `invalid_grant`. Some
    /// providers spend the refresh token before they check the request (panva's oidc-provider
    /// rotates it before it checks `resource`), so it may be gone. The request is not repeated;
    /// the account records what happened (`latchkey status` shows it, and an `invalid_grant`
    /// on the next request says why); the error says what to do. Under the account locks.
    pub(super) async fn refresh_refused(
        &self,
        account: &Account,
        what: &str,
        error: OAuthErrorCode,
        description: Option<String>,
        hint: Option<String>,
        remedy: Option<Remedy>,
    ) -> Error {
        let when = self
            .now()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let note = format!(
            "the provider refused {what} ({error}) at {when} and may have spent the refresh token with it"
        );
        tracing::warn!(account = %account.name, "{note}");
        let id = account.id;
        let result = self
            .registry
            .update(move |f| {
                if let Some(a) = f.by_id_mut(&id) {
                    a.refresh_token_at_risk = Some(note);
                }
                Ok(())
            })
            .await;
        log_cleanup_failure(&account.name, "recording a refused request", result);
        Error::RefreshRefused {
            account: account.name.clone(),
            error,
            description,
            hint,
            advice: "the account's tokens are kept; if its next token request fails, sign in again",
            remedy: Box::new(remedy.unwrap_or_else(|| Remedy::SignInAgain {
                account: account.name.clone(),
                replace: false,
            })),
        }
    }

    /// Stores a refresh answer: the rotated set first, then the identity and the metadata. The
    /// caller holds the account locks.
    pub(super) async fn store_refreshed(
        &self,
        account: &Account,
        current: Option<TokenSet>,
        response: TokenResponse,
        client_credentials: bool,
    ) -> Result<AccessToken> {
        let quirks = account.provider.quirks();
        let now = self.now();
        let mut set =
            TokenSet::from_response(response, now, current.as_ref(), quirks.scope_delimiter);
        // Invariant: the rotated refresh token is stored before anything else can fail and
        // before the access token is handed out.
        self.write_tokens(account, &set).await?;
        let mut identity_update = None;
        let previous_id_token = current.as_ref().and_then(|c| c.id_token.clone());
        let new_id_token = set
            .id_token
            .clone()
            .filter(|t| Some(t) != previous_id_token.as_ref());
        if let Some(id_token) = new_id_token
            && account.provider.is_oidc()
        {
            // Refreshed id_tokens carry no nonce; the subject must not change. A bad one does
            // not undo the refresh (the tokens came from the token endpoint over TLS); it is
            // dropped and the identity on record stays.
            match self
                .validate_id_token(
                    account,
                    &id_token,
                    None,
                    account.identity.as_ref().map(|i| i.sub.as_str()),
                )
                .await
            {
                Ok(identity) => identity_update = Some(identity),
                Err(e) => {
                    tracing::warn!(account = %account.name, error = %e, "refreshed id_token rejected; keeping the previous one");
                    set.id_token = previous_id_token.clone();
                    self.write_tokens(account, &set).await?;
                }
            }
        }
        let id = account.id;
        let granted = scope_list(set.scope.as_deref());
        let obtained = set.obtained_at;
        self.registry
            .update(move |f| {
                // The refresh time is the token set's `obtained_at` (in the keychain): the
                // file is rewritten only when something in it changes, not on every refresh.
                if let Some(a) = f.by_id_mut(&id) {
                    a.needs_sign_in = None;
                    // The refresh token worked: it was not spent by a refused request.
                    a.refresh_token_at_risk = None;
                    // The token a tool reported rejected is replaced: the marker is used up.
                    if a.token_rejected_at.is_some_and(|r| r <= obtained) {
                        a.token_rejected_at = None;
                    }
                    if client_credentials && a.signed_in_at.is_none() {
                        a.signed_in_at = Some(now);
                    }
                    if !granted.is_empty() {
                        a.granted_scopes = granted;
                    }
                    if let Some(mut i) = identity_update {
                        // Keep what the refresh did not carry.
                        if let Some(old) = &a.identity {
                            i.email = i.email.or(old.email.clone());
                            i.name = i.name.or(old.name.clone());
                            i.username = i.username.or(old.username.clone());
                        }
                        a.identity = Some(i);
                    }
                }
                Ok(())
            })
            .await?;
        tracing::info!(account = %account.name, "token refreshed");
        Ok(hand_out(set, None, true))
    }
}
