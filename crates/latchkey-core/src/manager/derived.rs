//! Tokens for many APIs from one sign-in: [`LoginManager::token_for`] gets a token for exactly
//! one [`TokenSpec`] (narrower scopes, RFC 6749 §6; RFC 8707 resources; an audience) with the
//! account's refresh token, and caches it in the keychain under [`Account::derived_key`].
//! Incremental authorization (`login --add-scope/--add-resource`) and step-up (`--acr`,
//! `--max-age`) are prepared here too ([`LoginManager::sign_in_additions`]).
//!
//! Invariants, the same as the account's own refresh (`refresh.rs`), with the same locks:
//! - **One refresh token per account.** A derived request is a `refresh_token` grant with the
//!   account's refresh token. It runs under the *account* locks (in-process mutex, then the
//!   lock file), so it is single-flighted with every other refresh of the account, and thus per
//!   cache entry. When the answer rotates the refresh token, the account's token set is
//!   rewritten with it (`write_tokens`) before the derived token is stored or handed out;
//!   the other cache entries hold no refresh token, so they keep working.
//! - **A refusal costs nothing it need not.** A request the provider is likely to refuse is
//!   not sent: on a provider that mints tokens on a refresh only for resources named at
//!   sign-in (the quirk table's `new_resources_at_refresh`, or learned from a first
//!   `invalid_target`: [`Account::refuses_new_resources`]), a resource the sign-in did not
//!   name is refused here with the `login --add-resource` command — panva's oidc-provider
//!   spends the refresh token before it checks `resource`. Any other refusal of the request
//!   is not repeated, may have spent the refresh token, and says so
//!   ([`Error::RefreshRefused`], recorded in [`Account::refresh_token_at_risk`]); the
//!   account's tokens stay.
//! - **A dead refresh token is sent once.** `invalid_grant` ends the sign-in as on the
//!   account's own renewal (`refresh.rs`): the tokens are deleted and the account marked
//!   needs sign-in, so no caller in any process sends that refresh token again (except where
//!   the quirk table says `invalid_grant` may mean "no consent for that API": Entra).
//! - **A cached token belongs to its sign-in.** Each entry carries the
//!   [`Account::sign_in_generation`] that obtained it and is served only while it is the
//!   account's; a new sign-in (all but a same-identity `--add-scope`/`--add-resource`/
//!   step-up) deletes them (`sign_in.rs`).
//! - **No entry outlives a logout.** An entry is listed and recorded
//!   (`token-state/<id>.derived.json`) before its keychain item is written; sign-out deletes
//!   the listed, the recorded and every `<id>/derived/` item a keychain search finds.
//! - **A slow answer is not dropped.** The request is run by the renewal engine
//!   (`renewal.rs`), as the account's own refresh is: with a valid cached token in hand it gets
//!   [`PROACTIVE_REFRESH_DEADLINE`]; after it the cached token is served and the request
//!   finishes in the background under the account locks, storing a rotated refresh token as
//!   above. This file says what the request is and where its answer goes.
//! - The cache entry records what the provider granted (`scope` of the answer), not what was
//!   asked; broader grants and a `resource` the provider seems to ignore are logged (`-v`).
//!
//! Derived tokens are read from the keychain on every call, also in a long-lived manager with
//! token memory (the agent's protocol carries no spec: the CLI asks for derived tokens on the
//! direct path).

#[cfg(doc)]
use super::PROACTIVE_REFRESH_DEADLINE;
use super::renewal::{Locked, Purpose, Renewal};
use super::*;
use crate::oauth_error::OAuthErrorCode;
use crate::target::{self, TokenSpec};

/// A cached token for another API, as stored in the keychain (`<id>/derived/<digest>`). It
/// never holds a refresh token: the account has one, in its own token set.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct DerivedEntry {
    spec: TokenSpec,
    set: TokenSet,
    /// The [`Account::sign_in_generation`] of the sign-in whose refresh token obtained it
    /// (0: before a new sign-in counted). Served only while it is the account's.
    #[serde(default)]
    generation: u64,
}

/// One extra cached token of an account, as `status`, `list --json` and the app show it.
/// Never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CachedToken {
    /// What it was asked for (scopes, resources, audience).
    #[serde(flatten)]
    pub spec: TokenSpec,
    /// The scopes the provider granted, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_scope: Option<String>,
    /// When it expires.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Seconds until then (negative: expired; renewed on next use).
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// What a sign-in asks for beyond the account's settings (see [`SignInOptions`]).
pub(super) struct SignInAdditions {
    /// The scopes of the authorization request: the account's and the added ones.
    pub scopes: Vec<String>,
    /// Scopes not yet in the account's settings.
    pub add_scopes: Vec<String>,
    /// Resources not yet in the account's settings.
    pub add_resources: Vec<String>,
    /// Authorization request parameters: resources or audience, `include_granted_scopes`,
    /// `acr_values`, `max_age`.
    pub params: Vec<(String, String)>,
}

impl LoginManager {
    /// A token for exactly `spec`, from the keychain cache when it has more than `min_ttl`
    /// left, else obtained with the account's refresh token (see the module docs). An empty
    /// spec is [`Self::access_token`].
    pub async fn token_for(
        &self,
        name: &str,
        spec: &TokenSpec,
        opts: TokenOptions,
    ) -> Result<AccessToken> {
        if spec.is_empty() {
            return self.access_token(name, opts).await;
        }
        let account = self.account(name)?;
        let params = spec.token_params(account.provider.quirks().target_style)?;
        not_outside_the_sign_in(&account, spec)?;
        let min_ttl = self.min_ttl(&opts);
        let served = Purpose::Other {
            spec: spec.clone(),
            main: None,
        };
        let mut in_hand = None;
        if !opts.force
            && let Some(e) = self.read_derived(&account, spec).await?
        {
            if self.fresh_enough(&account, &e.set, min_ttl) {
                return Ok(hand_out(e.set, None, false));
            }
            if self.servable(&account, &e.set) {
                in_hand = Some(e.set);
            }
        }
        let locks = match self.lock_for_renewal(&account, in_hand, &served).await? {
            Locked::Held(locks) => locks,
            Locked::Served(t) => return Ok(t),
        };
        // Re-read: another task or process may have obtained it while we waited.
        let account = self.account(name)?;
        let cached = self
            .read_derived_locked(&account, spec)
            .await?
            .map(|e| e.set);
        if !opts.force
            && let Some(c) = cached
                .as_ref()
                .filter(|c| self.fresh_enough(&account, c, min_ttl))
        {
            tracing::debug!(account = %account.name, "derived token obtained by someone else meanwhile");
            return Ok(hand_out(c.clone(), None, false));
        }
        let main = if account.flow == GrantFlow::ClientCredentials {
            None
        } else {
            Some(
                self.read_tokens_locked(&account)
                    .await?
                    .ok_or_else(|| self.needs_sign_in_error(&account))?,
            )
        };
        let refresh_token = match &main {
            None => None,
            Some(m) => Some(m.refresh_token.clone().ok_or_else(|| Error::NeedsSignIn {
                account: account.name.clone(),
                reason: "the provider issued no refresh token, and a token for another API or with fewer scopes is obtained with it".into(),
            })?),
        };
        let mut form: Vec<(String, Secret)> = match refresh_token {
            Some(rt) => vec![
                ("grant_type".into(), Secret::new("refresh_token")),
                ("refresh_token".into(), rt),
            ],
            None => vec![("grant_type".into(), Secret::new("client_credentials"))],
        };
        form.extend(
            params
                .iter()
                .map(|(k, v)| (k.clone(), Secret::new(v.clone()))),
        );
        self.renew(
            &account,
            Renewal {
                purpose: Purpose::Other {
                    spec: spec.clone(),
                    main: main.map(Box::new),
                },
                form,
                current: cached,
            },
            locks,
        )
        .await
    }

    /// Stores a derived answer under the account locks: a rotated refresh token into the
    /// account's set first, then the cache entry and the metadata.
    pub(super) async fn store_derived(
        &self,
        account: &Account,
        spec: &TokenSpec,
        main: Option<TokenSet>,
        response: TokenResponse,
    ) -> Result<AccessToken> {
        let account = account.clone();
        let now = self.now();
        let delimiter = account.provider.quirks().scope_delimiter;
        // One refresh token per account: a rotated one replaces the account's, stored
        // before anything is handed out.
        if let Some(main) = &main
            && response.refresh_token.is_some()
        {
            let merged = TokenSet::from_response(response.clone(), now, Some(main), delimiter);
            let updated = TokenSet {
                refresh_token: merged.refresh_token,
                session_expires_at: merged.session_expires_at,
                ..main.clone()
            };
            self.write_tokens(&account, &updated).await?;
            tracing::debug!(account = %account.name, "a derived request rotated the refresh token; the account's set now has the new one");
        }
        let mut set = TokenSet::from_response(response, now, None, delimiter);
        set.refresh_token = None;
        set.id_token = None;
        set.session_expires_at = None;
        if set.scope.is_none() && !spec.scopes().is_empty() {
            // RFC 6749 §5.1: no `scope` in the answer means the scopes asked for.
            set.scope = Some(spec.scopes().join(" "));
        }
        note_what_was_granted(&account, spec, &set);
        // Listed first, then recorded, then written to the keychain: a crash in between leaves
        // a record without an entry (harmless), never an entry no sign-out knows of.
        if !account.derived_tokens.contains(spec) {
            let id = account.id;
            let s = spec.clone();
            self.registry
                .update(move |f| {
                    if let Some(a) = f.by_id_mut(&id)
                        && !a.derived_tokens.contains(&s)
                    {
                        a.derived_tokens.push(s);
                    }
                    Ok(())
                })
                .await?;
        }
        let entry = DerivedEntry {
            spec: spec.clone(),
            set: set.clone(),
            generation: account.sign_in_generation,
        };
        let digest = spec.digest();
        match entry_secret(&entry) {
            Ok(secret) => match crate::token_state::try_record_derived(
                &self.opts.paths,
                &account.id,
                &digest,
                Some(derived_facts(&set)),
            ) {
                Ok(()) => {
                    if let Err(e) = self
                        .opts
                        .keychain
                        .set(&account.derived_key(spec), &secret)
                        .await
                    {
                        // The refresh token is safe already; only the cache is missing.
                        tracing::warn!(account = %account.name, error = %e, "could not cache the token for {}", spec.describe());
                        crate::token_state::record_derived(
                            &self.opts.paths,
                            &account.id,
                            &digest,
                            None,
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(account = %account.name, error = %e, "could not record the token for {}, so it is not cached", spec.describe());
                }
            },
            Err(e) => {
                tracing::warn!(account = %account.name, error = %e, "could not cache a token");
            }
        }
        if account.refresh_token_at_risk.is_some() && main.is_some() {
            // The refresh token worked: a refused request did not spend it.
            let id = account.id;
            let result = self
                .registry
                .update(move |f| {
                    if let Some(a) = f.by_id_mut(&id) {
                        a.refresh_token_at_risk = None;
                    }
                    Ok(())
                })
                .await;
            log_cleanup_failure(&account.name, "clearing a refused request", result);
        }
        tracing::info!(account = %account.name, "token for {} obtained", spec.describe());
        Ok(hand_out(set, None, true))
    }

    /// The provider refused a request for another API. `invalid_grant` is the end of the
    /// sign-in, as on the account's own renewal ([`Self::refresh_token_rejected`]: nobody
    /// sends that refresh token again), unless the provider also says it for a resource without
    /// consent (the quirk table). Another refusal of a refresh-token request may have spent the
    /// refresh token ([`Self::refresh_refused`]); an `invalid_target` for a resource the
    /// sign-in did not name teaches the account not to send such requests. Under the account
    /// locks.
    pub(super) async fn derived_refused(
        &self,
        account: &Account,
        spec: &TokenSpec,
        error: OAuthErrorCode,
        description: Option<String>,
        hint: Option<String>,
    ) -> Result<Error> {
        let quirks = account.provider.quirks();
        let with_refresh_token = account.flow != GrantFlow::ClientCredentials;
        if error == OAuthErrorCode::InvalidGrant
            && with_refresh_token
            && !quirks.invalid_grant_may_mean_no_consent
        {
            return self.refresh_token_rejected(account, description).await;
        }
        let (hint, remedy) = refusal_hint(account, spec, &error, hint);
        if !with_refresh_token
            || matches!(
                error,
                OAuthErrorCode::InvalidGrant | OAuthErrorCode::InvalidClient
            )
        {
            let e = Error::ProviderError {
                error,
                description,
                hint,
            };
            return Ok(match remedy {
                Some(r) => e.with_remedy(r),
                None => e,
            });
        }
        if error.as_str() == "invalid_target"
            && !account.refuses_new_resources
            && !outside_the_sign_in(account, spec).is_empty()
        {
            let id = account.id;
            let result = self
                .registry
                .update(move |f| {
                    if let Some(a) = f.by_id_mut(&id) {
                        a.refuses_new_resources = true;
                    }
                    Ok(())
                })
                .await;
            log_cleanup_failure(&account.name, "recording invalid_target", result);
            tracing::info!(account = %account.name, "the provider issues tokens only for resources named at sign-in; such requests are not sent again");
        }
        Ok(self
            .refresh_refused(
                account,
                &format!("a token for {}", spec.describe()),
                error,
                description,
                hint,
                remedy,
            )
            .await)
    }

    /// The cached entry for `spec`, if it belongs to the account's current sign-in (an entry
    /// of an earlier sign-in is never served; [`Self::read_derived_locked`] deletes it).
    async fn read_derived(
        &self,
        account: &Account,
        spec: &TokenSpec,
    ) -> Result<Option<DerivedEntry>> {
        Ok(self
            .read_derived_any(account, spec)
            .await?
            .filter(|e| e.generation == account.sign_in_generation))
    }

    /// [`Self::read_derived`] under the account locks: an entry of an earlier sign-in found
    /// here is deleted (its record too).
    async fn read_derived_locked(
        &self,
        account: &Account,
        spec: &TokenSpec,
    ) -> Result<Option<DerivedEntry>> {
        match self.read_derived_any(account, spec).await? {
            Some(e) if e.generation != account.sign_in_generation => {
                tracing::info!(account = %account.name, "the cached token for {} belongs to an earlier sign-in; deleted", spec.describe());
                self.opts
                    .keychain
                    .delete(&account.derived_key(spec))
                    .await?;
                crate::token_state::record_derived(
                    &self.opts.paths,
                    &account.id,
                    &spec.digest(),
                    None,
                );
                Ok(None)
            }
            e => Ok(e),
        }
    }

    async fn read_derived_any(
        &self,
        account: &Account,
        spec: &TokenSpec,
    ) -> Result<Option<DerivedEntry>> {
        let Some(stored) = self.opts.keychain.get(&account.derived_key(spec)).await? else {
            return Ok(None);
        };
        match serde_json::from_str::<DerivedEntry>(stored.expose()) {
            Ok(e) if e.spec == *spec => Ok(Some(e)),
            // A cache: an unreadable entry is obtained again.
            _ => {
                tracing::warn!(account = %account.name, "a cached token is unreadable; obtaining it again");
                Ok(None)
            }
        }
    }

    /// The account's extra cached tokens with their state: from the recorded non-secret facts
    /// (`token-state/<id>.derived.json`), so a list needs no keychain read; a keychain read
    /// only for an entry with no record (written by an older Latchkey, or a lost record), which
    /// then records it.
    pub(super) async fn cached_tokens(&self, account: &Account) -> Vec<CachedToken> {
        if account.derived_tokens.is_empty() {
            return Vec::new();
        }
        let now = self.now();
        let recorded =
            crate::token_state::read_derived(&self.opts.paths, &account.id).unwrap_or_default();
        let mut out = Vec::new();
        for spec in &account.derived_tokens {
            let digest = spec.digest();
            let facts = match recorded.get(&digest) {
                Some(f) => Some(f.clone()),
                None => match self.read_derived(account, spec).await {
                    Ok(e) => {
                        let facts = e.map(|e| derived_facts(&e.set));
                        // Best effort without the account locks: a record lost to a race
                        // with a store only means one more keychain read next time.
                        if facts.is_some() {
                            crate::token_state::record_derived(
                                &self.opts.paths,
                                &account.id,
                                &digest,
                                facts.clone(),
                            );
                        }
                        facts
                    }
                    Err(e) => {
                        tracing::debug!(account = %account.name, error = %e, "cached token unreadable");
                        None
                    }
                },
            };
            out.push(CachedToken {
                spec: spec.clone(),
                granted_scope: facts.as_ref().and_then(|f| f.granted_scope.clone()),
                expires_at: facts.as_ref().and_then(|f| f.expires_at),
                expires_in: facts
                    .as_ref()
                    .and_then(|f| f.expires_at)
                    .map(|e| (e - now).whole_seconds()),
            });
        }
        out
    }

    /// Deletes the account's extra cached tokens (sign-out, a new sign-in, a dead refresh
    /// token): those the metadata lists, those recorded in `token-state/<id>.derived.json`, and
    /// (where the keychain can search) every `<id>/derived/` item, so an entry that lost its
    /// listing (a crash, an older Latchkey) does not outlive the sign-in. The caller holds the
    /// account locks.
    pub(super) async fn delete_derived(&self, account: &Account) -> Result<()> {
        let specs = self
            .registry
            .load()?
            .by_id(&account.id)
            .map(|a| a.derived_tokens.clone())
            .unwrap_or_default();
        let prefix = derived_prefix(account);
        let mut keys: std::collections::BTreeSet<String> =
            specs.iter().map(|s| account.derived_key(s)).collect();
        keys.extend(
            crate::token_state::read_derived(&self.opts.paths, &account.id)
                .unwrap_or_default()
                .keys()
                .map(|digest| format!("{prefix}{digest}")),
        );
        match self.opts.keychain.keys_with_prefix(&prefix).await {
            Ok(found) => keys.extend(found.unwrap_or_default()),
            // The listed and recorded entries are still deleted.
            Err(e) => {
                tracing::warn!(account = %account.name, error = %e, "could not search the keychain for cached tokens")
            }
        }
        // Cached AWS credentials (`<id>/aws/`) go with them.
        match self
            .opts
            .keychain
            .keys_with_prefix(&format!("{}/aws/", account.id))
            .await
        {
            Ok(found) => keys.extend(found.unwrap_or_default()),
            Err(e) => {
                tracing::warn!(account = %account.name, error = %e, "could not search the keychain for cached AWS credentials")
            }
        }
        for key in &keys {
            self.opts.keychain.delete(key).await?;
        }
        crate::token_state::remove_derived(&self.opts.paths, &account.id);
        if !specs.is_empty() {
            let id = account.id;
            self.registry
                .update(move |f| {
                    if let Some(a) = f.by_id_mut(&id) {
                        a.derived_tokens.clear();
                    }
                    Ok(())
                })
                .await?;
        }
        if !keys.is_empty() {
            tracing::info!(account = %account.name, count = keys.len(), "cached tokens for other APIs deleted");
        }
        Ok(())
    }

    /// Revokes the access tokens of the account's extra cached tokens (RFC 7009), recording
    /// what happened in `report`. Deleting them is [`Self::delete_derived`]'s.
    pub(super) async fn revoke_derived(
        &self,
        account: &Account,
        endpoint: &Url,
        auth: &ClientAuth,
        report: &mut LogoutReport,
    ) {
        for spec in &account.derived_tokens {
            let Ok(Some(entry)) = self.read_derived(account, spec).await else {
                continue;
            };
            let what = format!("access_token ({})", spec.describe());
            match self
                .opts
                .http
                .post_form(
                    endpoint,
                    auth,
                    &[
                        ("token", entry.set.access_token.expose()),
                        ("token_type_hint", "access_token"),
                    ],
                )
                .await
            {
                Ok(r) if r.status == 200 => report.revoked.push(what),
                Ok(r) => report
                    .revocation_errors
                    .push(format!("{what}: HTTP {}", r.status)),
                Err(e) => report.revocation_errors.push(format!("{what}: {e}")),
            }
        }
    }

    /// Checks what a sign-in adds (see [`SignInOptions`]) and builds its scopes and extra
    /// authorization parameters.
    pub(super) fn sign_in_additions(
        &self,
        account: &Account,
        opts: &SignInOptions,
    ) -> Result<SignInAdditions> {
        let name = &account.name;
        if opts.replace_identity && (!opts.add_scopes.is_empty() || !opts.add_resources.is_empty())
        {
            return Err(Error::InvalidInput(
                "--add-scope and --add-resource keep the account's identity: they cannot be combined with --replace".into(),
            ));
        }
        if account.flow == GrantFlow::ClientCredentials && opts.asks_for_more() {
            return Err(Error::InvalidInput(format!(
                "`{name}` uses the client credentials grant: there is no sign-in to add permissions to; ask for a token for that API instead"
            ))
            .with_remedy(Remedy::RequestToken {
                account: name.clone(),
                for_api: true,
            }));
        }
        let quirks = account.provider.quirks();
        let mut add_scopes: Vec<String> = Vec::new();
        for s in crate::scope::Scopes::from_input(&opts.add_scopes).iter() {
            if !target::valid_scope(s) {
                return Err(Error::InvalidInput(format!(
                    "--add-scope `{}` is not a scope",
                    crate::text::clean(s, 200)
                )));
            }
            if !account.scopes.iter().any(|x| x == s) && !add_scopes.iter().any(|x| x == s) {
                add_scopes.push(s.to_string());
            }
        }
        let mut add_resources = Vec::new();
        for r in &opts.add_resources {
            let r = target::check_resource(r)?;
            if !account.resources.contains(&r) && !add_resources.contains(&r) {
                add_resources.push(r);
            }
        }
        let mut scopes = account.scopes.clone();
        scopes.extend(add_scopes.iter().cloned());
        let mut resources = account.resources.clone();
        resources.extend(add_resources.iter().cloned());
        let mut params = target::authorization_params(&resources, quirks.target_style)?;
        if !add_scopes.is_empty() && quirks.include_granted_scopes {
            params.push(("include_granted_scopes".into(), "true".into()));
        }
        if let Some(acr) = &opts.acr_values {
            let acr = acr.trim();
            if acr.is_empty() || acr.len() > 500 || acr.chars().any(char::is_control) {
                return Err(Error::InvalidInput(
                    "--acr: give the authentication context class references, space-separated (e.g. `--acr \"urn:example:mfa\"`)".into(),
                ));
            }
            params.push(("acr_values".into(), acr.to_string()));
        }
        if let Some(max_age) = opts.max_age {
            params.push(("max_age".into(), max_age.to_string()));
        }
        Ok(SignInAdditions {
            scopes,
            add_scopes,
            add_resources,
            params,
        })
    }

    /// After a sign-in that added scopes or resources stored its tokens: the account asks for
    /// them from now on. The caller holds the account locks.
    pub(super) async fn note_added_permissions(
        &self,
        account: &Account,
        add_scopes: &[String],
        add_resources: &[String],
    ) -> Result<()> {
        if add_scopes.is_empty() && add_resources.is_empty() {
            return Ok(());
        }
        let id = account.id;
        let (scopes, resources) = (add_scopes.to_vec(), add_resources.to_vec());
        self.registry
            .update(move |f| {
                if let Some(a) = f.by_id_mut(&id) {
                    for s in scopes {
                        if !a.scopes.contains(&s) {
                            a.scopes.push(s);
                        }
                    }
                    for r in resources {
                        if !a.resources.contains(&r) {
                            a.resources.push(r);
                        }
                    }
                    a.resources.sort();
                }
                Ok(())
            })
            .await?;
        tracing::info!(account = %account.name, "permissions added: {}", add_scopes.iter().chain(add_resources).cloned().collect::<Vec<_>>().join(" "));
        Ok(())
    }
}

/// The keychain prefix of the account's cached tokens (see [`Account::derived_key`]).
fn derived_prefix(account: &Account) -> String {
    format!("{}/derived/", account.id)
}

/// The non-secret facts of a cached token, as recorded for lists.
fn derived_facts(set: &TokenSet) -> crate::token_state::DerivedFacts {
    crate::token_state::DerivedFacts {
        granted_scope: set.scope.clone(),
        expires_at: set.expires_at,
    }
}

fn entry_secret(entry: &DerivedEntry) -> Result<Secret> {
    serde_json::to_string(entry)
        .map(Secret::new)
        .map_err(|e| Error::Other(format!("cannot serialize a cached token: {e}")))
}

/// The resources (and, where a resource is sent as one, the audience) of `spec` that the
/// account's sign-in did not name.
fn outside_the_sign_in<'a>(account: &Account, spec: &'a TokenSpec) -> Vec<&'a str> {
    let named = account.sign_in_resources();
    let audience = match account.provider.quirks().target_style {
        crate::provider::TargetStyle::Auth0Audience => spec.audience(),
        _ => None,
    };
    spec.resources()
        .iter()
        .map(String::as_str)
        .chain(audience)
        .filter(|r| !named.iter().any(|n| n == r))
        .collect()
}

/// Refuses, before anything is sent, a token for a resource the sign-in did not name, on a
/// provider that mints tokens on a refresh only for resources named at sign-in (the quirk
/// table, or learned from an `invalid_target`): the request would be refused, and a provider
/// that rotates the refresh token before it checks `resource` (panva's oidc-provider) would
/// have spent the sign-in with it.
fn not_outside_the_sign_in(account: &Account, spec: &TokenSpec) -> Result<()> {
    let quirks = account.provider.quirks();
    let sends_resources = matches!(
        quirks.target_style,
        crate::provider::TargetStyle::Rfc8707 | crate::provider::TargetStyle::Auth0Audience
    );
    if account.flow == GrantFlow::ClientCredentials
        || !sends_resources
        || (quirks.new_resources_at_refresh && !account.refuses_new_resources)
    {
        return Ok(());
    }
    let missing = outside_the_sign_in(account, spec);
    if missing.is_empty() {
        return Ok(());
    }
    let name = &account.name;
    let why = if account.refuses_new_resources {
        "this provider refused such a request before"
    } else {
        "this provider issues tokens on a refresh only for resources named at sign-in (RFC 8707)"
    };
    Err(Error::InvalidInput(format!(
        "the sign-in of `{name}` did not name {}, and {why}; Latchkey did not ask, because a refused request can use up the sign-in. Add it to the sign-in",
        missing.join(" "),
    ))
    .with_remedy(Remedy::AddResources {
        account: name.clone(),
        resources: missing.iter().map(|r| r.to_string()).collect(),
    }))
}

/// What a provider's refusal of a request for another API means, with what fixes it.
fn refusal_hint(
    account: &Account,
    spec: &TokenSpec,
    error: &OAuthErrorCode,
    hint: Option<String>,
) -> (Option<String>, Option<Remedy>) {
    let name = &account.name;
    match error.as_str() {
        "invalid_scope" => {
            let missing: Vec<&String> = spec
                .scopes()
                .iter()
                .filter(|s| !account.scopes.contains(s))
                .collect();
            let ask: Vec<&String> = if missing.is_empty() {
                spec.scopes().iter().collect()
            } else {
                missing
            };
            if ask.is_empty() {
                (
                    Some(format!(
                        "The provider does not allow this token with the sign-in of `{name}`; check --scope/--resource/--audience"
                    )),
                    None,
                )
            } else {
                (
                    Some(format!(
                        "The sign-in of `{name}` does not allow {} (a refresh can only narrow what the sign-in granted, RFC 6749 §6); add it to the sign-in",
                        ask.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
                    )),
                    Some(Remedy::AddScopes {
                        account: name.clone(),
                        scopes: ask.iter().map(|s| s.to_string()).collect(),
                    }),
                )
            }
        }
        "invalid_target" => {
            let missing = outside_the_sign_in(account, spec);
            if missing.is_empty() {
                (
                    Some(format!(
                        "The provider does not issue tokens for {} to `{name}` (it may not know the resource, or the client may not be allowed it)",
                        spec.describe()
                    )),
                    None,
                )
            } else {
                (
                    Some(
                        "The provider issues tokens only for resources named at sign-in (RFC 8707); sign in again with it"
                            .into(),
                    ),
                    Some(Remedy::AddResources {
                        account: name.clone(),
                        resources: missing.iter().map(|r| r.to_string()).collect(),
                    }),
                )
            }
        }
        "invalid_grant" => (
            Some(format!(
                "The provider refused the refresh token of `{name}` for {} (this provider says so also when the user has not consented to that API). The account's own token is kept: asking for it shows whether its sign-in still works; if not, sign in again",
                spec.describe()
            )),
            Some(Remedy::SignInAgain {
                account: name.clone(),
                replace: false,
            }),
        ),
        _ => (hint, None),
    }
}

/// Says under `-v` when the provider granted more than asked, or seems to have ignored a
/// resource (a JWT access token whose `aud` names none of them).
fn note_what_was_granted(account: &Account, spec: &TokenSpec, set: &TokenSet) {
    if !spec.scopes().is_empty()
        && let Some(granted) = &set.scope
    {
        let granted = crate::scope::Scopes::parse(granted);
        let extra: Vec<&str> = granted
            .iter()
            .filter(|g| !spec.scopes().iter().any(|s| s == g))
            .collect();
        if !extra.is_empty() {
            tracing::info!(account = %account.name, "the provider granted more than asked: {} (asked: {}); the cache records what was granted", extra.join(" "), spec.scopes().join(" "));
        }
    }
    if !spec.resources().is_empty()
        && let Some(auds) = target::jwt_audiences(set.access_token.expose())
        && !spec.resources().iter().any(|r| auds.contains(r))
    {
        tracing::info!(account = %account.name, "the provider seems to have ignored `resource`: the token's audience is {} (asked: {})", crate::text::clean(&auds.join(" "), crate::text::MAX_URI), spec.resources().join(" "));
    }
}
