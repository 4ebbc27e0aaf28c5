//! What the integrations (git, Docker, kubectl, `exec`, `which`) ask of the manager: THE
//! hand-out of a tool's credential ([`LoginManager::credential_for`], see [`crate::handout`]),
//! the selection rules in the metadata file, the "token rejected" marker a tool's `erase`
//! leaves, and the username a provider expects beside a token.

use super::*;
use crate::handout::{Credential, CredentialRequest, Handout, Handouts, Subject};
use crate::provider::Preset;
use crate::rules::{Rule, Selection, Target};

/// What [`LoginManager::add_rule`] / [`LoginManager::remove_rule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleChange {
    /// The rule was added (or removed).
    Changed,
    /// Nothing to do: the rule was already there (or was not there).
    Unchanged,
}

/// An id_token handed out must stay valid this long (the time a tool needs to present it; some
/// providers issue id_tokens that last only a minute).
pub const ID_TOKEN_MARGIN: time::Duration = time::Duration::seconds(15);

/// True if `t` was obtained at or before the account's "token rejected" marker: it must not be
/// served again, the next request refreshes once.
pub(crate) fn token_rejected(account: &Account, t: &TokenSet) -> bool {
    account
        .token_rejected_at
        .is_some_and(|rejected| t.obtained_at <= rejected)
}

impl LoginManager {
    /// The selection rules, in the order they were written.
    pub fn rules(&self) -> Result<Vec<Rule>> {
        Ok(self.registry.load()?.rules)
    }

    /// Adds a rule (atomic, under the registry lock). A rule for the same host, path and
    /// username that names another account is replaced; the same rule twice is a no-op.
    pub async fn add_rule(&self, rule: Rule) -> Result<RuleChange> {
        self.registry
            .update(move |f| {
                if f.by_name(&rule.account).is_none() {
                    return Err(Error::UnknownAccount(rule.account.clone()));
                }
                if f.rules.contains(&rule) {
                    return Ok(RuleChange::Unchanged);
                }
                f.rules.retain(|r| {
                    !(r.host == rule.host && r.path == rule.path && r.username == rule.username)
                });
                f.rules.push(rule);
                Ok(RuleChange::Changed)
            })
            .await
    }

    /// Removes a rule (atomic, under the registry lock).
    pub async fn remove_rule(&self, rule: &Rule) -> Result<RuleChange> {
        let rule = rule.clone();
        self.registry
            .update(move |f| {
                let before = f.rules.len();
                f.rules.retain(|r| r != &rule);
                Ok(if f.rules.len() == before {
                    RuleChange::Unchanged
                } else {
                    RuleChange::Changed
                })
            })
            .await
    }

    /// The account that answers for `target` (see [`crate::rules::select`]) and the token spec
    /// its rule names; `None` when no rule matches. An account named by a rule or the override that
    /// does not exist is an error that says which.
    pub fn select_account(
        &self,
        target: &Target,
        env_override: Option<&str>,
    ) -> Result<Option<Selection>> {
        let file = self.registry.load()?;
        let Some(selection) = crate::rules::select(&file.rules, target, env_override) else {
            return Ok(None);
        };
        checked_selection(&file, selection).map(Some)
    }

    /// The account and token spec for the cluster kubectl runs `kubectl-credential` for
    /// ([`crate::kube::select_for_cluster`] over the rules: https, and a rule or the recorded
    /// server matching the cluster), checked as [`Self::select_account`] checks a selection.
    pub fn select_for_cluster(
        &self,
        request: &crate::kube::ClusterRequest<'_>,
    ) -> Result<Selection> {
        let file = self.registry.load()?;
        let selection = crate::kube::select_for_cluster(&file.rules, request)?;
        checked_selection(&file, selection)
    }

    /// Records that a tool had the account's current access token rejected: the next
    /// [`LoginManager::access_token`] refreshes once (single-flight, as always). The account
    /// stays signed in; nothing is deleted.
    pub async fn mark_token_rejected(&self, name: &str) -> Result<()> {
        let now = self.now();
        let name = name.to_string();
        self.registry
            .update(move |f| {
                let a = f
                    .by_name_mut(&name)
                    .ok_or_else(|| Error::UnknownAccount(name.clone()))?;
                a.token_rejected_at = Some(now);
                Ok(())
            })
            .await?;
        tracing::info!("access token reported rejected; the next request refreshes");
        Ok(())
    }

    /// The username to present beside the account's token where a tool needs one (git over
    /// HTTPS, registries): the provider's fixed name from the quirk table (GitHub
    /// `x-access-token`, GitLab `oauth2`), else the account's identity (username, email,
    /// subject), else the account name.
    pub fn token_username(&self, account: &Account) -> String {
        if let Some(fixed) = account.provider.quirks().token_username {
            return fixed.to_string();
        }
        match &account.identity {
            Some(i) => i
                .username
                .clone()
                .or_else(|| i.email.clone())
                .unwrap_or_else(|| i.sub.clone()),
            None => account.name.clone(),
        }
    }

    /// The default host the account's tokens are for (GitHub, GitLab and GitHub Enterprise:
    /// the code host), for `latchkey setup git` without `--host`.
    pub fn default_git_host(&self, account: &Account) -> Option<String> {
        match account.provider.spec.preset {
            Preset::Github => Some("github.com".into()),
            Preset::Gitlab | Preset::GithubEnterprise => account
                .provider
                .spec
                .base_url
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_string))
                .or_else(|| {
                    (account.provider.spec.preset == Preset::Gitlab).then(|| "gitlab.com".into())
                }),
            _ => None,
        }
    }
}

/// `selection`, its account known to exist. (Its spec needs no second look: a
/// [`crate::target::TokenSpec`] read from the file was checked and sorted as it was read.)
fn checked_selection(
    file: &crate::accounts::AccountsFile,
    selection: Selection,
) -> Result<Selection> {
    if file.by_name(&selection.account).is_none() {
        return Err(Error::InvalidInput(format!(
            "{} selects the account `{}`, which does not exist",
            selection.explain(),
            selection.account
        ))
        .with_remedy(Remedy::ListAccounts));
    }
    Ok(selection)
}

/// Where a tool's token goes, for people and the activity record (no user-info, no query).
fn subject_words(subject: &Subject) -> Option<String> {
    let clean = |s: &str| crate::text::clean(s, crate::text::MAX_URI);
    match subject {
        Subject::GitRequest {
            protocol,
            host,
            path,
            ..
        } => Some(clean(&format!(
            "{}://{}/{}",
            protocol.as_deref().unwrap_or("https"),
            host,
            path.as_deref().unwrap_or("")
        ))),
        Subject::Server { url } => Some(match url::Url::parse(url) {
            Ok(u) => crate::http::display_url(&u),
            Err(_) => clean(url.split(['?', '#']).next().unwrap_or_default()),
        }),
        Subject::Cluster { server, .. } => {
            server.as_deref().map(|s| format!("cluster {}", clean(s)))
        }
        Subject::Account { .. } => None,
    }
}

/// The server a tool names, as a [`Target`] (`None` for a cluster or a named account).
fn subject_target(subject: &Subject) -> Result<Option<Target>> {
    Ok(match subject {
        Subject::GitRequest {
            protocol,
            host,
            path,
            username,
        } => Some(Target::from_host_field(
            protocol.as_deref(),
            host,
            path.as_deref(),
            username.as_deref(),
        )?),
        Subject::Server { url } => Some(Target::parse(url)?),
        Subject::Cluster { .. } | Subject::Account { .. } => None,
    })
}

impl LoginManager {
    /// THE hand-out of a tool's credential (see [`crate::handout`]): which account and token
    /// spec, https only, the owner's approval ([`Self::admit`]), the token, bearer only, the
    /// username — in this order, here only — and the activity record of what happened.
    pub async fn credential_for(
        &self,
        request: &CredentialRequest,
        asker: &crate::handout::Asker<'_>,
    ) -> Result<Handout> {
        let env = request.env_override.as_deref();
        let target = subject_words(&request.subject);
        let ask = |account: &str, spec: &crate::target::TokenSpec| {
            crate::approval::Ask::token(account, spec, request.tool.id(), target.clone())
        };
        let (name, spec) = match &request.subject {
            Subject::GitRequest { .. } | Subject::Server { .. } => {
                let Some(target) = subject_target(&request.subject)? else {
                    return Ok(Handout::NoRule);
                };
                let Some(selection) = self.select_account(&target, env)? else {
                    tracing::debug!(host = %target.authority(), "no rule matches; nothing handed out");
                    return Ok(Handout::NoRule);
                };
                if let Err(e) = target.check_transport() {
                    self.record_outcome(
                        asker,
                        ask(&selection.account, &selection.spec),
                        crate::activity::Outcome::Refused,
                        None,
                        Some(e.to_string()),
                    );
                    return Ok(Handout::Refused(e.to_string()));
                }
                (selection.account, selection.spec)
            }
            Subject::Cluster {
                server,
                account,
                recorded_server,
                spec,
            } => {
                let selection = self.select_for_cluster(&crate::kube::ClusterRequest {
                    server: server.as_deref(),
                    account: account.as_deref(),
                    recorded_server: recorded_server.as_deref(),
                    spec: spec.clone(),
                    env_override: env,
                })?;
                (selection.account, selection.spec)
            }
            Subject::Account { account, spec } => (account.clone(), spec.clone()),
        };
        let id_token = request.tool.wants_id_token() && spec.is_empty();
        let mut ask = ask(&name, &spec);
        if id_token {
            ask.what = "its id_token".into();
        }
        let result = async {
            let account = self.account(&name)?;
            let admission = self.admit(asker, &account, &ask).await?;
            let credential = self.issue(request, &account, &spec, id_token).await?;
            Ok((admission, credential))
        }
        .await;
        self.record(asker, ask, &result);
        result.map(|(_, c)| Handout::Issued(c))
    }

    /// The token of an admitted hand-out, bearer only, with its username.
    async fn issue(
        &self,
        request: &CredentialRequest,
        account: &Account,
        spec: &crate::target::TokenSpec,
        id_token: bool,
    ) -> Result<Credential> {
        if id_token {
            let token = self.id_token(&account.name).await?;
            return Ok(Credential {
                username: self.token_username(account),
                account: account.name.clone(),
                token,
            });
        }
        let opts = TokenOptions {
            min_ttl: request.min_ttl.map(Duration::from_secs),
            force: false,
        };
        let token = self.token_for(&account.name, spec, opts).await?;
        if request.tool.bearer_only() && !token.token_type.is_bearer() {
            return Err(Error::InvalidInput(format!(
                "account `{}` has {}-bound tokens, which {} cannot use (it sends only Bearer tokens); pick an account without --dpop",
                account.name,
                crate::text::clean(token.token_type.as_str(), 20),
                request.tool.name()
            )));
        }
        Ok(Credential {
            username: self.token_username(account),
            account: account.name.clone(),
            token,
        })
    }

    /// The selection for a server a tool names (`None`: no rule, or not a server).
    pub fn select_for(
        &self,
        subject: &Subject,
        env_override: Option<&str>,
    ) -> Result<Option<Selection>> {
        match subject_target(subject)? {
            Some(target) => self.select_account(&target, env_override),
            None => Ok(None),
        }
    }

    /// A tool's `erase`: marks the token of the account the rules pick for `subject` rejected
    /// ([`Self::mark_token_rejected`]); the account, or `None` when no rule names it.
    pub async fn token_rejected_for(
        &self,
        subject: &Subject,
        env_override: Option<&str>,
    ) -> Result<Option<String>> {
        let Some(selection) = self.select_for(subject, env_override)? else {
            return Ok(None);
        };
        self.mark_token_rejected(&selection.account).await?;
        Ok(Some(selection.account))
    }

    /// The account's id_token (OpenID Connect), for a tool that presents the identity itself
    /// (AWS STS). One that expires within [`ID_TOKEN_MARGIN`] is renewed first with a forced refresh
    /// (single-flight; providers send a fresh id_token with an `openid` refresh); an account
    /// without one is an error that says what to do instead.
    pub async fn id_token(&self, name: &str) -> Result<AccessToken> {
        let account = self.account(name)?;
        let usable = |set: Option<TokenSet>, now: OffsetDateTime| {
            let id = set?.id_token?;
            let exp = crate::jwt::UnverifiedJwt::parse(id.expose())?
                .unverified_claims()
                .get("exp")?
                .as_i64()?;
            let exp = OffsetDateTime::from_unix_timestamp(exp).ok()?;
            (exp > now + ID_TOKEN_MARGIN).then_some((id, exp))
        };
        let mut found = usable(self.read_tokens(&account).await?, self.now());
        if found.is_none() {
            tracing::info!(account = %account.name, "id_token missing or expiring; refreshing for a new one");
            self.access_token(
                name,
                TokenOptions {
                    min_ttl: None,
                    force: true,
                },
            )
            .await?;
            found = usable(self.read_tokens(&account).await?, self.now());
        }
        let (token, exp) = found.ok_or_else(|| {
            Error::InvalidInput(format!(
                "account `{}` has no current id_token (not an OpenID Connect sign-in, or the provider sent none on refresh): pass --audience/--resource for an access token the role accepts, or sign in again",
                account.name
            ))
            .with_remedy(crate::remedy::Remedy::SignIn {
                account: account.name.clone(),
            })
        })?;
        Ok(AccessToken {
            token,
            token_type: crate::token::TokenType::Other("id_token".into()),
            expires_at: Some(exp),
            scope: None,
            degraded: None,
            refreshed: false,
        })
    }

    /// Each rule's pattern with the username its account presents (rules naming an account
    /// that does not exist are left out).
    pub fn rule_usernames(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for rule in self.rules()? {
            if let Ok(account) = self.account(&rule.account) {
                out.push((rule.pattern(), self.token_username(&account)));
            }
        }
        Ok(out)
    }
}

/// A manager that answers one asker's hand-outs itself: the agent, for an operation that runs a
/// whole tool protocol in its own process (`aws`), so the tool's hand-out passes the same
/// approval and activity record as every other ([`crate::LoginManager::credential_for`] with
/// that asker).
pub struct AskedManager<'a> {
    /// The manager.
    pub manager: &'a LoginManager,
    /// Who asks.
    pub asker: crate::handout::Asker<'a>,
}

impl Handouts for AskedManager<'_> {
    async fn credential(&self, request: CredentialRequest) -> Result<Handout> {
        self.manager.credential_for(&request, &self.asker).await
    }

    async fn select(
        &self,
        subject: &Subject,
        env_override: Option<&str>,
    ) -> Result<Option<Selection>> {
        self.manager.select_for(subject, env_override)
    }

    async fn token_rejected(
        &self,
        subject: &Subject,
        env_override: Option<&str>,
    ) -> Result<Option<String>> {
        self.manager.token_rejected_for(subject, env_override).await
    }

    async fn usernames(&self) -> Result<Vec<(String, String)>> {
        self.manager.rule_usernames()
    }
}
