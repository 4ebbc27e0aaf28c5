//! Identity providers: what the user typed ([`ProviderSpec`]), how it resolves to endpoints
//! ([`ProviderConfig`], via [`Resolution`]), and the one table of provider differences
//! ([`Quirks`]).
//!
//! Resolving is pure; the caller does the HTTP:
//!
//! 1. [`ProviderSpec::validate`] checks the flags (clear messages naming the missing flag).
//! 2. [`ProviderSpec::plan`] gives either a [`Resolution::Ready`] config (GitHub, GitHub
//!    Enterprise Server, manual endpoints) or the well-known URLs to try, in order.
//! 3. The caller GETs each candidate in turn (at most [`MAX_DOCUMENT_BYTES`]), moving to the
//!    next one only when the fetch fails with HTTP 404/410 (or similar "not here" answers). The
//!    first document fetched goes to [`ProviderSpec::from_document`]; a document that fails
//!    validation is an error to report, never a reason to try the next candidate.
//! 4. The resulting [`ProviderConfig`] is stored in the accounts file, so later token refreshes
//!    need no discovery.
//!
//! Decisions (also in the flag docs): Entra `--tenant` defaults to `common`; Okta `--domain`
//! means the org authorization server (`https://<domain>`) and a custom authorization server is
//! given with `--issuer`; Cognito needs `--user-pool-id` (the region is its prefix), `--domain`
//! optionally picks which of the pool's domains to use.

mod discovery;
mod fields;
mod presets;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

pub use discovery::{MAX_DOCUMENT_BYTES, is_loopback, oauth_metadata_url, oidc_discovery_url};
pub use fields::{PresetField, PresetView, preset_views};
pub use presets::{
    DEFAULT_ENTRA_TENANT, DEFAULT_GITLAB_URL, ENTRA_CONSUMERS_TENANT_ID, ENTRA_ISSUER_TEMPLATE,
};

/// What the user typed (CLI flags / UI fields). Stored in the accounts file.
///
/// Which fields a preset takes is checked by [`ProviderSpec::validate`]; fields a preset does not
/// use are refused rather than ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProviderSpec {
    /// The provider preset (`--preset`, default `oidc`).
    pub preset: Preset,
    /// `--issuer`: the issuer for `oidc` and `oauth2`; for `okta`, a custom authorization server
    /// (`https://<domain>/oauth2/default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<Url>,
    /// `--tenant` (Entra): `common` (the default: work/school and personal accounts),
    /// `organizations`, `consumers`, a tenant id or a verified domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// `--domain`: a host name. Auth0: the tenant (`dev-123.us.auth0.com` or a custom domain;
    /// issuer `https://<domain>/`). Okta: the org (issuer `https://<domain>`, the org
    /// authorization server). Cognito (optional): the user pool domain to use
    /// (`<prefix>.auth.<region>.amazoncognito.com` or a custom domain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `--base-url`: GitLab (default `https://gitlab.com`), Keycloak (the server, including
    /// `/auth` on old servers), GitHub Enterprise Server (the server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<Url>,
    /// `--realm` (Keycloak).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// `--region` (Cognito, optional): must match the `--user-pool-id` prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `--user-pool-id` (Cognito, required), e.g. `us-east-1_AbCdEf123`; the issuer is
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// `--auth-url` (manual, required): the authorization endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<Url>,
    /// `--token-url` (manual, required): the token endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<Url>,
    /// `--revocation-url` (manual): an RFC 7009 revocation endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<Url>,
    /// `--userinfo-url` (manual): identifies the account (its `sub`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_url: Option<Url>,
    /// `--device-url` (manual): an RFC 8628 device authorization endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_url: Option<Url>,
}

/// A provider preset. Parsed from and shown as kebab-case names (`github-enterprise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Any OpenID Connect provider, found with `--issuer` (OIDC Discovery, then RFC 8414).
    #[default]
    Oidc,
    /// A plain OAuth 2.0 server with RFC 8414 metadata only (no id_token).
    Oauth2,
    /// Explicit endpoints (`--auth-url`, `--token-url`, ...); no discovery.
    Manual,
    /// Google.
    Google,
    /// GitHub.com (OAuth apps and GitHub Apps); no discovery.
    Github,
    /// GitHub Enterprise Server (`--base-url`); no discovery.
    GithubEnterprise,
    /// Microsoft Entra ID / Microsoft accounts (`--tenant`).
    Entra,
    /// GitLab.com or self-managed GitLab (`--base-url`).
    Gitlab,
    /// Auth0 (`--domain`).
    Auth0,
    /// Okta (`--domain` or `--issuer`).
    Okta,
    /// Amazon Cognito user pools (`--user-pool-id`, `--domain`).
    Cognito,
    /// Keycloak (`--base-url`, `--realm`).
    Keycloak,
}

const ALL_PRESETS: [Preset; 12] = [
    Preset::Oidc,
    Preset::Oauth2,
    Preset::Manual,
    Preset::Google,
    Preset::Github,
    Preset::GithubEnterprise,
    Preset::Entra,
    Preset::Gitlab,
    Preset::Auth0,
    Preset::Okta,
    Preset::Cognito,
    Preset::Keycloak,
];

impl Preset {
    /// Every preset, in the order shown in help texts and the UI.
    pub fn all() -> &'static [Preset] {
        &ALL_PRESETS
    }

    /// The kebab-case name (`--preset` value, stored form).
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Oidc => "oidc",
            Preset::Oauth2 => "oauth2",
            Preset::Manual => "manual",
            Preset::Google => "google",
            Preset::Github => "github",
            Preset::GithubEnterprise => "github-enterprise",
            Preset::Entra => "entra",
            Preset::Gitlab => "gitlab",
            Preset::Auth0 => "auth0",
            Preset::Okta => "okta",
            Preset::Cognito => "cognito",
            Preset::Keycloak => "keycloak",
        }
    }

    /// The name shown to people.
    pub fn display_name(&self) -> &'static str {
        match self {
            Preset::Oidc => "OpenID Connect",
            Preset::Oauth2 => "OAuth 2.0 (RFC 8414)",
            Preset::Manual => "OAuth 2.0 (manual endpoints)",
            Preset::Google => "Google",
            Preset::Github => "GitHub",
            Preset::GithubEnterprise => "GitHub Enterprise Server",
            Preset::Entra => "Microsoft Entra ID",
            Preset::Gitlab => "GitLab",
            Preset::Auth0 => "Auth0",
            Preset::Okta => "Okta",
            Preset::Cognito => "Amazon Cognito",
            Preset::Keycloak => "Keycloak",
        }
    }

    /// This preset's quirks (the one table, in `presets.rs`).
    pub fn quirks(&self) -> Quirks {
        presets::quirks(*self)
    }

    /// Whether sign-in with this preset returns an id_token (every preset except `oauth2`,
    /// `manual`, `github` and `github-enterprise`).
    pub fn is_oidc(self) -> bool {
        !matches!(
            self,
            Preset::Oauth2 | Preset::Manual | Preset::Github | Preset::GithubEnterprise
        )
    }

    /// Whether this is a generic preset (`oidc`, `oauth2`, `manual`) rather than a named provider.
    pub fn is_generic(self) -> bool {
        matches!(self, Preset::Oidc | Preset::Oauth2 | Preset::Manual)
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Preset {
    type Err = Error;

    /// Parses a kebab-case name, case-insensitively; also accepts `azure`, `azure-ad`,
    /// `microsoft` (Entra), `ghes` (GitHub Enterprise Server) and `oauth` (oauth2).
    fn from_str(s: &str) -> Result<Self> {
        let name = s.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match name.as_str() {
            "azure" | "azure-ad" | "azuread" | "microsoft" | "entra-id" => Some(Preset::Entra),
            "ghes" | "github-enterprise-server" => Some(Preset::GithubEnterprise),
            "oauth" | "oauth-2" => Some(Preset::Oauth2),
            "openid" | "openid-connect" => Some(Preset::Oidc),
            _ => None,
        };
        alias
            .or_else(|| ALL_PRESETS.iter().copied().find(|p| p.as_str() == name))
            .ok_or_else(|| {
                let names: Vec<&str> = ALL_PRESETS.iter().map(|p| p.as_str()).collect();
                Error::InvalidInput(format!(
                    "unknown preset `{s}`; use one of: {}",
                    names.join(", ")
                ))
            })
    }
}

/// How the account's identity (the stable user id) is obtained after sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    /// The validated id_token (`iss` + `sub`). For the plain OAuth presets (`oauth2`, `manual`)
    /// no id_token is expected, so such accounts have no provider-side identity.
    IdToken,
    /// `GET` [`Endpoints::userinfo`] (`https://api.github.com/user`, or `<server>/api/v3/user` on
    /// GitHub Enterprise Server) with the access token: `id` (stable), `login`, `name`, `email`.
    GithubUser,
}

/// How a provider is asked for a token meant for one API (a *resource*, an *audience*), on a
/// refresh ([`crate::manager::TokenSpec`]) and at sign-in (`latchkey add --resource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStyle {
    /// RFC 8707: `resource` parameters on the authorization and token requests (the server
    /// mints tokens only for resources named at authorization). `--audience` is sent as the
    /// non-standard `audience` parameter, as asked.
    Rfc8707,
    /// Microsoft Entra ID v2: a resource is asked for as the scope `RESOURCE/.default`, one
    /// resource per token; one refresh token serves every consented resource, so nothing is
    /// sent at sign-in.
    EntraDefaultScope,
    /// Auth0: the API is named by `audience` (a `--resource` is the API identifier, sent as
    /// `audience`), one per token, at sign-in and on a refresh.
    Auth0Audience,
    /// The provider has no way to ask for a token for another API; the text says what to do
    /// instead.
    Unsupported(&'static str),
}

/// The one table of provider quirks. Derived from the preset, never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quirks {
    /// The client secret is needed to redeem codes even for a desktop app (GitHub OAuth apps,
    /// Google desktop clients).
    pub client_secret_required: bool,
    /// Send `client_id` and `client_secret` in the token request body (`client_secret_post`)
    /// instead of HTTP Basic: the form GitHub and Google document.
    pub client_secret_post: bool,
    /// Only loopback redirect URIs are accepted; custom URL schemes are refused (Google desktop
    /// clients).
    pub loopback_only: bool,
    /// The redirect URI's port must match the registered one exactly, so a fixed `--port` is
    /// needed (Cognito).
    pub exact_redirect_port: bool,
    /// Extra authorization request parameters (Google: `access_type=offline`, `prompt=consent`).
    pub extra_authorize_params: Vec<(&'static str, &'static str)>,
    /// The scope that asks for a refresh token (`offline_access`), or `None` when refresh tokens
    /// come without one. For the generic `oidc` preset, [`ProviderConfig::quirks`] keeps it only
    /// when the provider lists it in `scopes_supported`.
    pub offline_scope: Option<&'static str>,
    /// Scopes requested when the user gives none (the offline scope is added separately).
    pub default_scopes: Vec<&'static str>,
    /// Token endpoint errors come back with HTTP 200 and an `error` member (GitHub): the token
    /// response must be checked for `error` before `access_token`.
    pub token_errors_with_http_200: bool,
    /// The delimiter of the `scope` member in token responses (`' '`; GitHub uses `','`).
    pub scope_delimiter: char,
    /// The provider has an RFC 7009 revocation endpoint (false for GitHub and Entra: sign-out
    /// then only forgets tokens locally).
    pub rfc7009_revocation: bool,
    /// Access tokens may come without `expires_in` and without a refresh token and stay valid
    /// until revoked (GitHub OAuth apps without expiring tokens).
    pub tokens_may_not_expire: bool,
    /// id_tokens returned by a refresh carry no `nonce` (true for every OIDC preset), so the
    /// nonce check applies only to the sign-in response.
    pub refresh_id_token_has_no_nonce: bool,
    /// The server verifies PKCE. When false (GitHub Enterprise Server) sign-in is still allowed:
    /// Latchkey sends the S256 challenge anyway (servers ignore unknown parameters) and
    /// `latchkey status` shows the note that the code is protected only by the client secret,
    /// `state` and the loopback redirect.
    pub pkce_supported: bool,
    /// The templated issuer of multi-tenant endpoints (Entra:
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`). [`ProviderConfig::quirks`] keeps it
    /// only when the resolved issuer really is the template (`--tenant common`, `organizations`,
    /// `consumers`): a single-tenant configuration accepts its own tenant only.
    pub issuer_template: Option<&'static str>,
    /// The username a tool must send beside the access token where it needs one (git over
    /// HTTPS, registries): GitHub `x-access-token`, GitLab `oauth2`; `None`: the account's
    /// identity.
    pub token_username: Option<&'static str>,
    /// Where the account identity comes from.
    pub identity: IdentitySource,
    /// How tokens for other APIs (resources, audiences) are asked for.
    pub target_style: TargetStyle,
    /// Incremental authorization: an authorization request that adds scopes also sends
    /// `include_granted_scopes=true` (Google), so the new grant keeps the old scopes.
    pub include_granted_scopes: bool,
    /// A refresh may ask for a resource (audience) the sign-in did not name: one refresh token
    /// serves every resource the user consented to (Entra; Auth0 with multi-resource refresh
    /// tokens). When false (RFC 8707 servers such as panva's oidc-provider) such a request is
    /// not sent: it would be refused, and a provider that rotates the refresh token before it
    /// checks `resource` would have used up the sign-in. An account also learns it from the
    /// first `invalid_target` ([`crate::accounts::Account::refuses_new_resources`]).
    pub new_resources_at_refresh: bool,
    /// `invalid_grant` on a refresh that asks for another resource can mean "no consent for
    /// that resource" (Entra AADSTS65001), not a dead refresh token: such an answer to a
    /// request for another API leaves the sign-in alone.
    pub invalid_grant_may_mean_no_consent: bool,
    /// OpenID Connect Core §11: the provider grants offline access (a refresh token) only
    /// when the authorization request has `prompt=consent` (Google; stock panva
    /// oidc-provider). With it, a sign-in that asks for offline access sends `prompt=consent`
    /// (the user is asked to consent at every sign-in); an account can say otherwise
    /// ([`crate::accounts::Account::offline_consent`], `latchkey add|edit --offline-consent`).
    pub offline_consent: bool,
    /// Notes for people, shown by `latchkey status`.
    pub notes: &'static [&'static str],
    /// The scopes IMAP and SMTP with an OAuth token (XOAUTH2, OAUTHBEARER) need at this
    /// provider, for people to add to an account (`latchkey add … --scope`, or `latchkey login
    /// NAME --add-scope`); empty where the provider has no OAuth mail. Not asked for by default:
    /// a mail scope is full mailbox access, and consent screens say so.
    pub mail_scopes: &'static [&'static str],
}

/// Resolved endpoints and capabilities. Stored in the accounts file so that `latchkey token`
/// needs no discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The validated issuer; `None` for GitHub and manual endpoints. For a templated issuer
    /// (multi-tenant Entra) it is the template, with `{`/`}` percent-encoded by `Url`. `Url` also
    /// adds a `/` to a bare host (`https://accounts.google.com/`), so compare `iss` values with a
    /// trailing-slash-tolerant comparison, or exactly with [`Self::issuer_as_published`] /
    /// [`ProviderConfig::expected_id_token_issuer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<Url>,
    /// The issuer exactly as the provider published it (e.g. `https://accounts.google.com`
    /// without a slash, `https://tenant.auth0.com/` with one), or the template when
    /// [`Self::issuer_is_template`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_as_published: Option<String>,
    /// The published issuer is a template with `{tenantid}` (Entra common/organizations/consumers).
    #[serde(default, skip_serializing_if = "is_false")]
    pub issuer_is_template: bool,
    /// The authorization endpoint (always set today; `None` is reserved for device-only setups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Url>,
    /// The token endpoint.
    pub token: Url,
    /// The RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Url>,
    /// The RFC 7662 introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<Url>,
    /// The userinfo endpoint (GitHub: the user API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo: Option<Url>,
    /// The JWK set used to verify id_tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<Url>,
    /// The RFC 8628 device authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization: Option<Url>,
    /// The RFC 9126 pushed authorization request endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request: Option<Url>,
    /// The provider requires PAR.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_pushed_authorization_requests: bool,
    /// The RP-initiated logout endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session: Option<Url>,
    /// `id_token_signing_alg_values_supported`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token_signing_algs: Vec<String>,
    /// `dpop_signing_alg_values_supported` (RFC 9449).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_algs: Vec<String>,
    /// `code_challenge_methods_supported`; when non-empty it contains `S256`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods: Vec<String>,
    /// `scopes_supported`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// `grant_types_supported`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<String>,
    /// The authorization response carries `iss` (RFC 9207) and it must then be checked.
    #[serde(default, skip_serializing_if = "is_false")]
    pub authorization_response_iss_parameter_supported: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Endpoints {
    /// Endpoints with only a token endpoint; fill the rest with struct update syntax.
    pub fn new(token: Url) -> Self {
        Endpoints {
            issuer: None,
            issuer_as_published: None,
            issuer_is_template: false,
            authorization: None,
            token,
            revocation: None,
            introspection: None,
            userinfo: None,
            jwks_uri: None,
            device_authorization: None,
            pushed_authorization_request: None,
            require_pushed_authorization_requests: false,
            end_session: None,
            id_token_signing_algs: Vec::new(),
            dpop_signing_algs: Vec::new(),
            code_challenge_methods: Vec::new(),
            scopes_supported: Vec::new(),
            grant_types_supported: Vec::new(),
            authorization_response_iss_parameter_supported: false,
        }
    }
}

/// A resolved provider: what the user typed and the endpoints it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// What the user typed.
    pub spec: ProviderSpec,
    /// The resolved endpoints.
    pub endpoints: Endpoints,
}

impl ProviderConfig {
    /// The quirks of this provider: the preset's row of the table, refined by the resolved
    /// document: the generic `oidc` preset keeps `offline_access` only when `scopes_supported`
    /// lists it, and `issuer_template` is kept only when the issuer really is templated.
    pub fn quirks(&self) -> Quirks {
        let mut quirks = self.spec.preset.quirks();
        if self.spec.preset.is_generic()
            && let Some(scope) = quirks.offline_scope
            && !self.endpoints.scopes_supported.iter().any(|s| s == scope)
        {
            quirks.offline_scope = None;
        }
        if !self.endpoints.issuer_is_template {
            quirks.issuer_template = None;
        }
        quirks
    }

    /// Whether sign-in yields an id_token to validate: an OIDC preset with a (possibly
    /// templated) issuer and a JWK set.
    pub fn is_oidc(&self) -> bool {
        self.spec.preset.is_oidc()
            && self.endpoints.issuer.is_some()
            && self.endpoints.jwks_uri.is_some()
    }

    /// The scopes to request when the user gives none: the preset's defaults plus the offline
    /// scope, if any.
    pub fn default_scopes(&self) -> Vec<String> {
        let quirks = self.quirks();
        let mut scopes: Vec<String> = quirks
            .default_scopes
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if let Some(offline) = quirks.offline_scope
            && !scopes.iter().any(|s| s == offline)
        {
            scopes.push(offline.to_owned());
        }
        scopes
    }

    /// The exact `iss` an id_token must carry. For a templated issuer (multi-tenant Entra) it is
    /// the template with `{tenantid}` replaced by the token's own `tid` claim; `None` when that
    /// `tid` is missing or malformed (the token must then be refused) or there is no issuer.
    pub fn expected_id_token_issuer(&self, tid: Option<&str>) -> Option<String> {
        let published = self.endpoints.issuer_as_published.as_deref()?;
        if self.endpoints.issuer_is_template {
            let tid = tid.filter(|t| presets::is_guid(t))?;
            Some(published.replace("{tenantid}", tid))
        } else {
            Some(published.to_owned())
        }
    }
}

/// How to resolve a spec into a [`ProviderConfig`].
// Built once per `add`/`edit`, never stored in bulk: boxing `Ready` would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// No discovery needed.
    Ready(ProviderConfig),
    /// Fetch these well-known URLs in order and pass the first document found to
    /// [`ProviderSpec::from_document`].
    Discover {
        /// The URLs to try, most specific first.
        candidates: Vec<Url>,
    },
}

impl ProviderSpec {
    /// Checks the flags: those the preset requires are present (the message names the flag,
    /// e.g. `--tenant`), no others are set, URLs use https (plain http only for loopback hosts:
    /// 127.0.0.0/8, ::1, localhost), and host names and ids are well formed.
    pub fn validate(&self) -> Result<()> {
        presets::check_fields(self).map_err(Error::InvalidInput)?;
        presets::check_values(self).map_err(Error::InvalidInput)
    }

    /// Validates the spec and says how to resolve it: [`Resolution::Ready`] for presets with
    /// fixed endpoints, otherwise the well-known URLs to fetch (OpenID Connect Discovery first,
    /// then RFC 8414 for the generic `oidc` preset; RFC 8414 only for `oauth2`).
    pub fn plan(&self) -> Result<Resolution> {
        self.validate()?;
        if let Some(endpoints) = presets::fixed_endpoints(self).map_err(Error::InvalidInput)? {
            return Ok(Resolution::Ready(ProviderConfig {
                spec: self.clone(),
                endpoints,
            }));
        }
        let target = self.discovery_target()?;
        let mut candidates = Vec::new();
        let bad_url = |e: url::ParseError| {
            Error::InvalidInput(format!(
                "cannot build a discovery URL from {}: {e}",
                target.base
            ))
        };
        if target.oidc {
            candidates.push(oidc_discovery_url(&target.base).map_err(bad_url)?);
        }
        if target.oauth {
            candidates.push(oauth_metadata_url(&target.base).map_err(bad_url)?);
        }
        Ok(Resolution::Discover { candidates })
    }

    /// Parses and validates a discovery document fetched from `fetched_from` (one of the
    /// [`Resolution::Discover`] candidates) into a config.
    ///
    /// Checks, besides [`Self::validate`]: the body is a JSON object of at most
    /// [`MAX_DOCUMENT_BYTES`]; its `issuer` is the expected one (compared as strings, tolerating
    /// one trailing `/`; Entra multi-tenant documents must carry the `{tenantid}` template); the
    /// authorization and token endpoints are present; every endpoint uses https (or http to a
    /// loopback host); `code_challenge_methods_supported`, when present, includes `S256`; OIDC
    /// presets have a `jwks_uri`. Unknown members are ignored. Errors are
    /// [`Error::BadResponse`] naming `fetched_from` and the problem.
    pub fn from_document(&self, fetched_from: &Url, body: &[u8]) -> Result<ProviderConfig> {
        self.validate()?;
        let target = self.discovery_target()?;
        // The document's values are quoted in these messages: provider text, sanitized.
        let bad = |detail: String| Error::BadResponse {
            url: without_query(fetched_from),
            status: 200,
            detail: crate::text::clean(&detail, 4 * crate::text::MAX_DESCRIPTION),
        };
        let document = discovery::parse_document(body).map_err(bad)?;
        let mut endpoints = document.endpoints;
        match target.rule.accept(&document.issuer).map_err(bad)? {
            presets::AcceptedIssuer::Exact(issuer) => {
                endpoints.issuer = Some(
                    Url::parse(&issuer)
                        .map_err(|e| bad(format!("`issuer` ({issuer}) is not a URL ({e})")))?,
                );
                endpoints.issuer_as_published = Some(issuer);
            }
            presets::AcceptedIssuer::Template(template) => {
                endpoints.issuer = Some(
                    Url::parse(&template)
                        .map_err(|e| bad(format!("`issuer` ({template}) is not a URL ({e})")))?,
                );
                endpoints.issuer_as_published = Some(template);
                endpoints.issuer_is_template = true;
            }
        }
        presets::adjust_endpoints(self, &mut endpoints).map_err(bad)?;
        if self.preset.is_oidc() && endpoints.jwks_uri.is_none() {
            return Err(bad(format!(
                "the document has no `jwks_uri`, so id_tokens cannot be verified; if this is a plain OAuth 2.0 server use --preset {}",
                Preset::Oauth2
            )));
        }
        tracing::debug!(
            issuer = endpoints.issuer_as_published.as_deref().unwrap_or_default(),
            preset = %self.preset,
            "accepted discovery document"
        );
        Ok(ProviderConfig {
            spec: self.clone(),
            endpoints,
        })
    }

    fn discovery_target(&self) -> Result<presets::DiscoveryTarget> {
        presets::discovery_target(self)
            .map_err(Error::InvalidInput)?
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "the {} preset has fixed endpoints and uses no discovery document",
                    self.preset
                ))
            })
    }
}

/// `url` without query and fragment, for messages.
fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_names_round_trip() {
        for preset in Preset::all() {
            assert_eq!(preset.as_str().parse::<Preset>().unwrap(), *preset);
            assert_eq!(preset.to_string(), preset.as_str());
            let json = serde_json::to_string(preset).unwrap();
            assert_eq!(json, format!("\"{}\"", preset.as_str()));
            assert_eq!(serde_json::from_str::<Preset>(&json).unwrap(), *preset);
            assert!(!preset.display_name().is_empty());
        }
        assert_eq!(Preset::all().len(), 12);
        assert_eq!(Preset::default(), Preset::Oidc);
    }

    #[test]
    fn preset_parsing_is_lenient_and_errors_list_the_names() {
        assert_eq!(
            "GitHub_Enterprise".parse::<Preset>().unwrap(),
            Preset::GithubEnterprise
        );
        assert_eq!("ghes".parse::<Preset>().unwrap(), Preset::GithubEnterprise);
        assert_eq!("azure".parse::<Preset>().unwrap(), Preset::Entra);
        assert_eq!(" Keycloak ".parse::<Preset>().unwrap(), Preset::Keycloak);
        let err = "facebook".parse::<Preset>().unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("github-enterprise"), "{err}");
    }

    #[test]
    fn spec_serializes_compactly_and_round_trips() {
        let spec = ProviderSpec {
            preset: Preset::Keycloak,
            base_url: Some(Url::parse("https://sso.example.com").unwrap()),
            realm: Some("main".into()),
            ..Default::default()
        };
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"preset": "keycloak", "base_url": "https://sso.example.com/", "realm": "main"})
        );
        assert_eq!(serde_json::from_value::<ProviderSpec>(json).unwrap(), spec);
        // Missing fields (older files) default.
        let old: ProviderSpec = serde_json::from_str(r#"{"issuer":"https://a.example/"}"#).unwrap();
        assert_eq!(old.preset, Preset::Oidc);
    }

    #[test]
    fn endpoints_round_trip_through_the_accounts_file() {
        let token = Url::parse("https://as.example/token").unwrap();
        let endpoints = Endpoints {
            issuer_as_published: Some("https://as.example".into()),
            issuer: Some(Url::parse("https://as.example").unwrap()),
            code_challenge_methods: vec!["S256".into()],
            ..Endpoints::new(token)
        };
        let config = ProviderConfig {
            spec: ProviderSpec::default(),
            endpoints,
        };
        let json = serde_json::to_string(&config).unwrap();
        assert!(
            !json.contains("require_pushed_authorization_requests"),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<ProviderConfig>(&json).unwrap(),
            config
        );
    }
}
