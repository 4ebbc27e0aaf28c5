//! The preset table: for each provider, which flags it takes, where its issuer and discovery
//! document live, the fixed endpoints of providers without discovery, and its [`Quirks`].
//!
//! Every per-provider difference in the core should be read from here (through
//! [`super::ProviderConfig::quirks`]), never re-derived with `if preset == ...` elsewhere.
//!
//! # Sources
//!
//! The fixtures in `fixtures/` are recorded discovery documents (copied verbatim unless noted):
//!
//! - `google.json`: `https://accounts.google.com/.well-known/openid-configuration`, as recorded in
//!   github.com/panva/wellknown `issuers/google/google.mjs`.
//! - `entra-common.json`, `entra-organizations.json`:
//!   `https://login.microsoftonline.com/{common,organizations}/v2.0/.well-known/openid-configuration`,
//!   recorded in panva/wellknown `issuers/entra-common/entra-common.mjs` and
//!   `issuers/entra-organizations/entra-organizations.mjs` (issuer is the literal template
//!   `https://login.microsoftonline.com/{tenantid}/v2.0`).
//! - `entra-tenant.json`: `https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration`
//!   for a single tenant, from the Azure/azure-sdk-for-js nock recordings
//!   (`sdk/cdn/arm-cdn/recordings/node/cdn_test/*.js`, tenant id sanitized to `88888888-…`).
//! - `gitlab.json`: `https://gitlab.com/.well-known/openid-configuration`, panva/wellknown
//!   `issuers/gitlab/gitlab.mjs`.
//! - `auth0.json`: `https://<tenant>.us.auth0.com/.well-known/openid-configuration`, the fixture in
//!   the fastmcp OIDC proxy tests (tenant `example.us.auth0.com`; issuer with trailing slash).
//! - `okta-org.json`: Okta org authorization server `https://<org>.okta.com/.well-known/openid-configuration`,
//!   from the frankie567/httpx-oauth Okta client tests (org `foo.okta.com`).
//! - `okta-default.json`: Okta custom authorization server
//!   `https://<org>.okta.com/oauth2/default/.well-known/openid-configuration`, a response recorded in
//!   a public project's source comment (org `integrator-7886904.okta.com`; has PAR and DPoP).
//! - `cognito.json`: `https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/openid-configuration`,
//!   from micronaut-projects/micronaut-security `OpenIdProviderMetadataFetcherCodeGeneratorSpec`
//!   (pool `us-east-1_4OqDoWVrZ`, prefix domain `auth-groovycalamari`). Note: no
//!   `code_challenge_methods_supported` and no `revocation_endpoint` although Cognito supports
//!   both; the revoke endpoint `https://<domain>/oauth2/revoke` is from AWS's "federation
//!   endpoints" reference.
//! - `keycloak.json`: `https://keycloak.example.com/realms/master/.well-known/openid-configuration`
//!   (Keycloak 2x), recorded in a public Rust project's source comment.
//! - `keycloak-localhost.json`: Keycloak 26 at `http://localhost:17070/realms/ygz-realm`, recorded
//!   in a public project's docs (has `authorization_response_iss_parameter_supported`).
//!
//! URL shapes without discovery documents:
//!
//! - GitHub ("Authorizing OAuth apps" in docs.github.com): `https://github.com/login/oauth/authorize`,
//!   `https://github.com/login/oauth/access_token`, device flow `https://github.com/login/device/code`,
//!   user API `https://api.github.com/user`. Token errors come back with HTTP 200; scopes are
//!   comma-separated in responses; there is no RFC 7009 endpoint (revocation is
//!   `DELETE /applications/{client_id}/grant` with the client secret).
//! - GitHub Enterprise Server: the same paths under the server URL, the API under `<base>/api/v3`;
//!   its 3.18–3.21 docs do not list PKCE support.
//! - Microsoft identity platform: issuer `https://login.microsoftonline.com/{tenantid}/v2.0` for the
//!   multi-tenant endpoints; personal accounts use tenant `9188040d-6c67-4c5b-b112-36a304b66dad`.
//! - Okta: org authorization server issuer `https://<domain>`, custom authorization servers
//!   `https://<domain>/oauth2/<authServerId>` (`default` is the one every org has with API Access
//!   Management).
//! - Keycloak: issuer `<base>/realms/<realm>` (`<base>` includes `/auth` on pre-17 servers).

use url::Url;

use super::discovery::{self, same_issuer};
use super::fields::Field;
pub(super) use super::fields::check_fields;
use super::{Endpoints, IdentitySource, Preset, ProviderSpec, Quirks, TargetStyle};

/// Google's issuer.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// The Microsoft identity platform host.
pub const ENTRA_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The templated issuer published by Entra's multi-tenant endpoints.
pub const ENTRA_ISSUER_TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
/// The tenant of personal Microsoft accounts (`--tenant consumers` resolves to it).
pub const ENTRA_CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// The Entra tenant used when `--tenant` is not given: both work/school and personal accounts.
pub const DEFAULT_ENTRA_TENANT: &str = "common";
/// The GitLab used when `--base-url` is not given.
pub const DEFAULT_GITLAB_URL: &str = "https://gitlab.com";

const OIDC_SCOPES: &[&str] = &["openid", "email", "profile"];
const GITHUB_SCOPES: &[&str] = &["read:user", "user:email"];
/// Gmail over IMAP/SMTP (XOAUTH2, OAUTHBEARER).
const GOOGLE_MAIL_SCOPES: &[&str] = &["https://mail.google.com/"];
/// Microsoft 365 / Outlook.com over IMAP and SMTP AUTH (XOAUTH2); `offline_access` keeps a
/// refresh token with these (Exchange Online) scopes.
const MICROSOFT_MAIL_SCOPES: &[&str] = &[
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
];
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

// ---------------------------------------------------------------------------------------------
// The quirk table
// ---------------------------------------------------------------------------------------------

const GITHUB_NO_TARGET: &str = "GitHub tokens cannot be asked for a resource, an audience or fewer scopes: use the account's token as it is";
const GOOGLE_NO_TARGET: &str = "Google has no resource indicators or audiences: a Google token works for every Google API its scopes allow, so ask for the API's scope with --scope (and add it to the account's sign-in with --add-scope)";
const OKTA_NO_TARGET: &str = "Okta issues one audience per authorization server: add an account for the authorization server of that API (its issuer is https://<domain>/oauth2/<server id>) instead of --resource/--audience";
const KEYCLOAK_NO_TARGET: &str = "Keycloak sets a token's audience through client scopes (an audience mapper), not with resource or audience parameters: ask for that client scope with --scope";

/// The quirks of `preset`: one row per preset, written as overrides of the standard OIDC row.
pub(super) fn quirks(preset: Preset) -> Quirks {
    let standard = Quirks {
        client_secret_required: false,
        client_secret_post: false,
        loopback_only: false,
        exact_redirect_port: false,
        extra_authorize_params: Vec::new(),
        offline_scope: None,
        default_scopes: OIDC_SCOPES.to_vec(),
        token_errors_with_http_200: false,
        scope_delimiter: ' ',
        rfc7009_revocation: true,
        tokens_may_not_expire: false,
        refresh_id_token_has_no_nonce: true,
        pkce_supported: true,
        issuer_template: None,
        identity: IdentitySource::IdToken,
        token_username: None,
        target_style: TargetStyle::Rfc8707,
        include_granted_scopes: false,
        new_resources_at_refresh: false,
        invalid_grant_may_mean_no_consent: false,
        offline_consent: false,
        notes: &[],
        mail_scopes: &[],
    };
    let plain_oauth = Quirks {
        default_scopes: Vec::new(),
        refresh_id_token_has_no_nonce: false,
        ..standard.clone()
    };
    let github = Quirks {
        client_secret_required: true,
        client_secret_post: true,
        default_scopes: GITHUB_SCOPES.to_vec(),
        token_errors_with_http_200: true,
        scope_delimiter: ',',
        rfc7009_revocation: false,
        tokens_may_not_expire: true,
        refresh_id_token_has_no_nonce: false,
        identity: IdentitySource::GithubUser,
        token_username: Some("x-access-token"),
        target_style: TargetStyle::Unsupported(GITHUB_NO_TARGET),
        ..standard.clone()
    };
    match preset {
        Preset::Oidc => Quirks {
            offline_scope: Some("offline_access"),
            notes: &[
                "offline_access is requested only when the provider lists it in scopes_supported.",
            ],
            ..standard
        },
        Preset::Oauth2 => Quirks {
            notes: &[
                "Plain OAuth 2.0 (RFC 8414 metadata): no id_token, so the account has no provider-side identity.",
            ],
            ..plain_oauth
        },
        Preset::Manual => Quirks {
            notes: &[
                "Endpoints were given by hand; nothing is discovered. There is no id_token, so the account has no provider-side identity.",
            ],
            ..plain_oauth
        },
        Preset::Google => Quirks {
            mail_scopes: GOOGLE_MAIL_SCOPES,
            client_secret_required: true,
            client_secret_post: true,
            loopback_only: true,
            // Offline access by parameter; `prompt=consent` comes from `offline_consent`.
            extra_authorize_params: vec![("access_type", "offline")],
            offline_consent: true,
            target_style: TargetStyle::Unsupported(GOOGLE_NO_TARGET),
            include_granted_scopes: true,
            notes: &[
                "Google desktop-app clients need their client secret (Google documents it as not confidential for installed apps).",
                "Only loopback redirect URIs (http://127.0.0.1:<port>) are accepted; custom URL schemes are refused.",
                "Google returns a refresh token only with access_type=offline and prompt=consent; Latchkey sends both, so Google asks for consent at every sign-in (turning the account's offline consent off stops prompt=consent, and with it new refresh tokens).",
            ],
            ..standard
        },
        Preset::Github => Quirks {
            notes: &[
                "The OAuth app's client secret is required to redeem the authorization code.",
                "OAuth app tokens do not expire and come without a refresh token unless the app opted in to expiring user tokens.",
                "GitHub has no RFC 7009 revocation endpoint: signing out forgets the tokens here; revoke the grant at https://github.com/settings/applications.",
                "The account is identified by GET https://api.github.com/user (id, login).",
            ],
            ..github
        },
        Preset::GithubEnterprise => Quirks {
            pkce_supported: false,
            notes: &[
                "GitHub Enterprise Server does not verify PKCE: Latchkey still sends an S256 code challenge (the server ignores it), so the authorization code is protected only by the client secret, the state check and the loopback redirect.",
                "The OAuth app's client secret is required to redeem the authorization code.",
                "OAuth app tokens do not expire and come without a refresh token unless the app opted in to expiring user tokens.",
                "There is no RFC 7009 revocation endpoint: signing out forgets the tokens here; revoke the grant in the server's settings/applications page.",
                "The account is identified by GET <server>/api/v3/user (id, login).",
            ],
            ..github
        },
        Preset::Entra => Quirks {
            mail_scopes: MICROSOFT_MAIL_SCOPES,
            offline_scope: Some("offline_access"),
            rfc7009_revocation: false,
            issuer_template: Some(ENTRA_ISSUER_TEMPLATE),
            target_style: TargetStyle::EntraDefaultScope,
            new_resources_at_refresh: true,
            invalid_grant_may_mean_no_consent: true,
            notes: &[
                "With --tenant common, organizations or consumers the issuer is the template https://login.microsoftonline.com/{tenantid}/v2.0; each id_token's iss is checked against its own tid claim.",
                "Entra publishes no revocation endpoint: signing out forgets the tokens here.",
            ],
            ..standard
        },
        Preset::Gitlab => Quirks {
            token_username: Some("oauth2"),
            notes: &[
                "GitLab returns a refresh token with every authorization-code grant; no offline scope is needed.",
                "Add the read_api or api scope to call the GitLab API with the token.",
            ],
            ..standard
        },
        Preset::Auth0 => Quirks {
            offline_scope: Some("offline_access"),
            target_style: TargetStyle::Auth0Audience,
            new_resources_at_refresh: true,
            notes: &[
                "The issuer ends with a slash: https://<domain>/.",
                "A refresh token needs offline_access and \"Allow Offline Access\" on the Auth0 API.",
            ],
            ..standard
        },
        Preset::Okta => Quirks {
            offline_scope: Some("offline_access"),
            target_style: TargetStyle::Unsupported(OKTA_NO_TARGET),
            notes: &[
                "--domain selects the org authorization server (issuer https://<domain>); for a custom authorization server pass --issuer https://<domain>/oauth2/default (or /oauth2/<id>).",
                "A refresh token needs offline_access and the Refresh Token grant enabled on the Okta app.",
            ],
            ..standard
        },
        Preset::Cognito => Quirks {
            exact_redirect_port: true,
            notes: &[
                "Cognito compares redirect URIs exactly, port included: register e.g. http://localhost:53682/callback and sign in with the same fixed --port.",
                "Cognito returns a refresh token with every authorization-code grant; it has no offline_access scope.",
            ],
            ..standard
        },
        Preset::Keycloak => Quirks {
            target_style: TargetStyle::Unsupported(KEYCLOAK_NO_TARGET),
            notes: &[
                "Keycloak returns a refresh token with every authorization-code grant; offline_access (an offline session) is not requested.",
            ],
            ..standard
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Value checks
// ---------------------------------------------------------------------------------------------

/// Checks the values of the fields the preset uses (URL schemes, host names, ids).
pub(super) fn check_values(spec: &ProviderSpec) -> Result<(), String> {
    let urls = [
        (Field::Issuer, &spec.issuer),
        (Field::BaseUrl, &spec.base_url),
        (Field::AuthUrl, &spec.auth_url),
        (Field::TokenUrl, &spec.token_url),
        (Field::RevocationUrl, &spec.revocation_url),
        (Field::UserinfoUrl, &spec.userinfo_url),
        (Field::DeviceUrl, &spec.device_url),
    ];
    for (field, url) in urls {
        if let Some(url) = url {
            discovery::check_transport(url).map_err(|e| format!("{}: {e}", field.flag()))?;
            if matches!(field, Field::Issuer | Field::BaseUrl) && url.query().is_some() {
                return Err(format!("{}: {url} must not have a ?query", field.flag()));
            }
        }
    }
    if let Some(domain) = &spec.domain {
        check_host_name(domain)?;
    }
    match spec.preset {
        Preset::Entra => {
            entra_tenant(spec)?;
        }
        Preset::Okta => okta_issuer(spec).map(drop)?,
        Preset::Cognito => {
            cognito_region(spec)?;
        }
        Preset::Keycloak => {
            let realm = spec.realm.as_deref().unwrap_or_default();
            if realm.trim().is_empty() || realm.contains('/') {
                return Err(format!(
                    "--realm `{realm}` is not a realm name (e.g. master)"
                ));
            }
        }
        Preset::GithubEnterprise => {
            if let Some(base) = &spec.base_url
                && base.host_str() == Some("github.com")
            {
                return Err(
                    "--base-url https://github.com is GitHub itself; use --preset github".into(),
                );
            }
        }
        _ => {}
    }
    Ok(())
}

/// A `--domain` value: a bare host name (optionally with a port), not a URL.
fn check_host_name(domain: &str) -> Result<(), String> {
    if domain.contains("://") {
        return Err(format!(
            "--domain takes a host name, not a URL: use `{}`",
            domain
                .split_once("://")
                .map(|(_, rest)| rest.trim_end_matches('/'))
                .unwrap_or(domain)
        ));
    }
    let valid = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        && Url::parse(&format!("https://{domain}/")).is_ok_and(|u| u.host_str().is_some());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "--domain `{domain}` is not a host name (e.g. dev-abc123.us.auth0.com)"
        ))
    }
}

/// What `--tenant` names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntraTenant {
    /// `common` or `organizations`: the templated issuer.
    MultiTenant(String),
    /// `consumers`: the templated issuer, or the personal-accounts tenant.
    Consumers,
    /// A tenant id (a GUID, lower-cased).
    Id(String),
    /// A verified domain (e.g. `contoso.onmicrosoft.com`): the document names the tenant id.
    Domain(String),
}

fn entra_tenant(spec: &ProviderSpec) -> Result<EntraTenant, String> {
    let raw = spec
        .tenant
        .as_deref()
        .unwrap_or(DEFAULT_ENTRA_TENANT)
        .trim();
    let lower = raw.to_ascii_lowercase();
    match lower.as_str() {
        "common" | "organizations" => Ok(EntraTenant::MultiTenant(lower)),
        "consumers" => Ok(EntraTenant::Consumers),
        _ if is_guid(&lower) => Ok(EntraTenant::Id(lower)),
        _ if lower.contains('.')
            && lower
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')) =>
        {
            Ok(EntraTenant::Domain(lower))
        }
        _ => Err(format!(
            "--tenant `{raw}` is not common, organizations, consumers, a tenant id (GUID) or a domain"
        )),
    }
}

/// Whether `s` is a GUID (`8-4-4-4-12` hex digits), the form of Entra tenant ids.
pub(super) fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The Okta issuer: `--issuer` (a custom authorization server) or `https://<--domain>` (the org
/// authorization server).
fn okta_issuer(spec: &ProviderSpec) -> Result<String, String> {
    match (&spec.issuer, &spec.domain) {
        (None, None) => Err(format!(
            "the okta preset needs --domain ({}) or --issuer ({})",
            Field::Domain.hint(Preset::Okta),
            Field::Issuer.hint(Preset::Okta)
        )),
        (None, Some(domain)) => Ok(format!("https://{}", domain.to_ascii_lowercase())),
        (Some(issuer), domain) => {
            if let Some(domain) = domain {
                let host = issuer.host_str().unwrap_or_default();
                if !host.eq_ignore_ascii_case(domain.split(':').next().unwrap_or_default()) {
                    return Err(format!(
                        "--issuer {issuer} is not on --domain {domain}; give one of them"
                    ));
                }
            }
            let path = issuer.path().trim_end_matches('/');
            if !(path.is_empty() || path.starts_with("/oauth2/")) {
                return Err(format!(
                    "--issuer {issuer} is not an Okta authorization server (https://<domain> or https://<domain>/oauth2/<id>)"
                ));
            }
            Ok(issuer.as_str().trim_end_matches('/').to_owned())
        }
    }
}

/// The Cognito region: from `--region`, or the prefix of `--user-pool-id` (`us-east-1_AbC…`).
fn cognito_region(spec: &ProviderSpec) -> Result<String, String> {
    let pool = spec.user_pool_id.as_deref().unwrap_or_default();
    let (prefix, id) = pool.split_once('_').unwrap_or_default();
    let region_like = |r: &str| {
        !r.is_empty()
            && r.contains('-')
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !region_like(prefix) || id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "--user-pool-id `{pool}` is not a user pool id (<region>_<id>, e.g. us-east-1_AbCdEf123)"
        ));
    }
    if let Some(region) = &spec.region {
        if !region_like(region) {
            return Err(format!(
                "--region `{region}` is not an AWS region (e.g. us-east-1)"
            ));
        }
        if region != prefix {
            return Err(format!(
                "--region {region} does not match --user-pool-id {pool} (a pool in {prefix})"
            ));
        }
    }
    Ok(prefix.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Where each preset's issuer and document are
// ---------------------------------------------------------------------------------------------

/// How the `issuer` of a fetched document is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IssuerRule {
    /// Must equal this (see [`same_issuer`]).
    Exact(String),
    /// Entra `common`/`organizations`/`consumers`: the template, or (consumers) this exact issuer.
    EntraMultiTenant { alternative: Option<String> },
    /// Entra tenant given as a domain: any `https://login.microsoftonline.com/<tenant id>/v2.0`
    /// (the document was fetched over https from Microsoft for that domain; the tenant id it
    /// names is then pinned).
    EntraAnyTenantId,
}

/// An issuer accepted by an [`IssuerRule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AcceptedIssuer {
    /// A real issuer, spelled as published.
    Exact(String),
    /// A template (`{tenantid}`), spelled as published.
    Template(String),
}

impl IssuerRule {
    /// What the user is told to expect.
    fn describe(&self) -> String {
        match self {
            IssuerRule::Exact(s) => format!("`{s}`"),
            IssuerRule::EntraMultiTenant { alternative: None } => {
                format!("`{ENTRA_ISSUER_TEMPLATE}`")
            }
            IssuerRule::EntraMultiTenant {
                alternative: Some(a),
            } => {
                format!("`{ENTRA_ISSUER_TEMPLATE}` or `{a}`")
            }
            IssuerRule::EntraAnyTenantId => {
                format!("`{ENTRA_AUTHORITY}/<tenant id>/v2.0`")
            }
        }
    }

    /// Checks a document's `issuer`.
    pub(super) fn accept(&self, published: &str) -> Result<AcceptedIssuer, String> {
        let ok = match self {
            IssuerRule::Exact(expected) => same_issuer(expected, published)
                .then(|| AcceptedIssuer::Exact(published.to_owned())),
            IssuerRule::EntraMultiTenant { alternative } => {
                if published == ENTRA_ISSUER_TEMPLATE {
                    Some(AcceptedIssuer::Template(published.to_owned()))
                } else {
                    alternative
                        .as_deref()
                        .filter(|a| *a == published)
                        .map(|a| AcceptedIssuer::Exact(a.to_owned()))
                }
            }
            IssuerRule::EntraAnyTenantId => published
                .strip_prefix(ENTRA_AUTHORITY)
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|rest| rest.strip_suffix("/v2.0"))
                .filter(|tenant| is_guid(tenant))
                .map(|_| AcceptedIssuer::Exact(published.to_owned())),
        };
        ok.ok_or_else(|| {
            format!(
                "issuer mismatch: the document says `{published}` but {} was expected; the issuer must match exactly (OpenID Connect Discovery §4.3, RFC 8414 §3.3), so check the provider flags",
                self.describe()
            )
        })
    }
}

/// Where a discovery-based preset's document is, and how its issuer is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DiscoveryTarget {
    /// The issuer the well-known URLs are built from.
    pub base: String,
    /// The check for the document's `issuer`.
    pub rule: IssuerRule,
    /// Try the OpenID Connect Discovery URL.
    pub oidc: bool,
    /// Try the RFC 8414 URL (after the OIDC one, when both).
    pub oauth: bool,
}

impl DiscoveryTarget {
    fn oidc_only(base: String) -> Self {
        DiscoveryTarget {
            rule: IssuerRule::Exact(base.clone()),
            base,
            oidc: true,
            oauth: false,
        }
    }
}

/// The discovery target of a (validated) spec; `None` for presets with fixed endpoints.
pub(super) fn discovery_target(spec: &ProviderSpec) -> Result<Option<DiscoveryTarget>, String> {
    let issuer_flag = || {
        spec.issuer
            .as_ref()
            .map(|u| u.as_str().to_owned())
            .ok_or_else(|| format!("the {} preset needs --issuer", spec.preset))
    };
    let target = match spec.preset {
        Preset::Manual | Preset::Github | Preset::GithubEnterprise => return Ok(None),
        Preset::Oidc => {
            let base = issuer_flag()?;
            DiscoveryTarget {
                oauth: true,
                ..DiscoveryTarget::oidc_only(base)
            }
        }
        Preset::Oauth2 => {
            let base = issuer_flag()?;
            DiscoveryTarget {
                oidc: false,
                oauth: true,
                ..DiscoveryTarget::oidc_only(base)
            }
        }
        Preset::Google => DiscoveryTarget::oidc_only(GOOGLE_ISSUER.to_owned()),
        Preset::Entra => {
            let tenant = entra_tenant(spec)?;
            let (path, rule) = match tenant {
                EntraTenant::MultiTenant(name) => {
                    (name, IssuerRule::EntraMultiTenant { alternative: None })
                }
                EntraTenant::Consumers => (
                    "consumers".to_owned(),
                    IssuerRule::EntraMultiTenant {
                        alternative: Some(format!(
                            "{ENTRA_AUTHORITY}/{ENTRA_CONSUMERS_TENANT_ID}/v2.0"
                        )),
                    },
                ),
                EntraTenant::Id(id) => {
                    let issuer = format!("{ENTRA_AUTHORITY}/{id}/v2.0");
                    (id, IssuerRule::Exact(issuer))
                }
                EntraTenant::Domain(domain) => (domain, IssuerRule::EntraAnyTenantId),
            };
            DiscoveryTarget {
                base: format!("{ENTRA_AUTHORITY}/{path}/v2.0"),
                rule,
                oidc: true,
                oauth: false,
            }
        }
        Preset::Gitlab => {
            let base = spec
                .base_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_owned())
                .unwrap_or_else(|| DEFAULT_GITLAB_URL.to_owned());
            DiscoveryTarget::oidc_only(base)
        }
        Preset::Auth0 => {
            let domain = spec
                .domain
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            DiscoveryTarget::oidc_only(format!("https://{domain}/"))
        }
        Preset::Okta => DiscoveryTarget::oidc_only(okta_issuer(spec)?),
        Preset::Cognito => {
            let region = cognito_region(spec)?;
            let pool = spec.user_pool_id.as_deref().unwrap_or_default();
            DiscoveryTarget::oidc_only(format!("https://cognito-idp.{region}.amazonaws.com/{pool}"))
        }
        Preset::Keycloak => {
            let mut url = spec
                .base_url
                .clone()
                .ok_or_else(|| "the keycloak preset needs --base-url".to_owned())?;
            let realm = spec.realm.as_deref().unwrap_or_default();
            url.path_segments_mut()
                .map_err(|()| "--base-url cannot take a path".to_owned())?
                .pop_if_empty()
                .extend(["realms", realm]);
            DiscoveryTarget::oidc_only(url.as_str().to_owned())
        }
    };
    Ok(Some(target))
}

// ---------------------------------------------------------------------------------------------
// Fixed endpoints (no discovery) and per-preset adjustments of discovered ones
// ---------------------------------------------------------------------------------------------

/// `base` with `suffix` appended to its path (`https://ghe.example/x` + `login` →
/// `https://ghe.example/x/login`).
fn under(base: &Url, suffix: &str) -> Url {
    let mut url = base.clone();
    let path = format!("{}/{suffix}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    url
}

fn parse_fixed(s: &str) -> Result<Url, String> {
    Url::parse(s).map_err(|e| format!("built-in URL {s} is invalid ({e})"))
}

/// The endpoints of presets without discovery (GitHub, GitHub Enterprise Server, manual).
pub(super) fn fixed_endpoints(spec: &ProviderSpec) -> Result<Option<Endpoints>, String> {
    let github_like = |authorize: Url, token: Url, device: Url, user: Url, pkce: bool| Endpoints {
        authorization: Some(authorize),
        device_authorization: Some(device),
        userinfo: Some(user),
        code_challenge_methods: if pkce {
            vec!["S256".to_owned()]
        } else {
            Vec::new()
        },
        grant_types_supported: vec![
            "authorization_code".to_owned(),
            "refresh_token".to_owned(),
            DEVICE_CODE_GRANT.to_owned(),
        ],
        ..Endpoints::new(token)
    };
    let endpoints = match spec.preset {
        Preset::Github => github_like(
            parse_fixed("https://github.com/login/oauth/authorize")?,
            parse_fixed("https://github.com/login/oauth/access_token")?,
            parse_fixed("https://github.com/login/device/code")?,
            parse_fixed("https://api.github.com/user")?,
            true,
        ),
        Preset::GithubEnterprise => {
            let base = spec
                .base_url
                .as_ref()
                .ok_or_else(|| "the github-enterprise preset needs --base-url".to_owned())?;
            github_like(
                under(base, "login/oauth/authorize"),
                under(base, "login/oauth/access_token"),
                under(base, "login/device/code"),
                under(base, "api/v3/user"),
                false,
            )
        }
        Preset::Manual => {
            let token = spec
                .token_url
                .clone()
                .ok_or_else(|| "the manual preset needs --token-url".to_owned())?;
            Endpoints {
                authorization: spec.auth_url.clone(),
                revocation: spec.revocation_url.clone(),
                userinfo: spec.userinfo_url.clone(),
                device_authorization: spec.device_url.clone(),
                ..Endpoints::new(token)
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(endpoints))
}

/// Per-preset corrections of a discovered document.
///
/// Cognito: the OAuth endpoints live on the user pool's domain, not on the issuer host. With
/// `--domain`, the authorize/token/userInfo/revoke endpoints are put on that domain (a pool can
/// have a prefix domain and a custom domain; the document names one). Without it, the document's
/// domain is used, and a pool without any domain is refused. The revoke endpoint, which older
/// documents omit, is `https://<domain>/oauth2/revoke`.
pub(super) fn adjust_endpoints(
    spec: &ProviderSpec,
    endpoints: &mut Endpoints,
) -> Result<(), String> {
    if spec.preset != Preset::Cognito {
        return Ok(());
    }
    let host = match &spec.domain {
        Some(domain) => {
            let domain = domain.to_ascii_lowercase();
            endpoints.authorization =
                Some(parse_fixed(&format!("https://{domain}/oauth2/authorize"))?);
            endpoints.token = parse_fixed(&format!("https://{domain}/oauth2/token"))?;
            endpoints.userinfo = Some(parse_fixed(&format!("https://{domain}/oauth2/userInfo"))?);
            endpoints.revocation = None;
            domain
        }
        None => {
            let authorization = endpoints.authorization.as_ref();
            let host = authorization.and_then(|u| u.host_str()).unwrap_or_default();
            if host.starts_with("cognito-idp.") {
                return Err(format!(
                    "the user pool has no domain (its authorization_endpoint is {}); add a domain to the user pool, or pass --domain",
                    authorization.map(Url::as_str).unwrap_or_default()
                ));
            }
            host.to_owned()
        }
    };
    if endpoints.revocation.is_none() {
        endpoints.revocation = Some(parse_fixed(&format!("https://{host}/oauth2/revoke"))?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use super::*;
    use crate::error::{Error, ErrorKind};
    use crate::provider::{ProviderConfig, Resolution};
    use crate::target::{TokenSpec, authorization_params};

    const GOOGLE: &str = include_str!("fixtures/google.json");
    const ENTRA_COMMON: &str = include_str!("fixtures/entra-common.json");
    const ENTRA_ORGANIZATIONS: &str = include_str!("fixtures/entra-organizations.json");
    const ENTRA_TENANT: &str = include_str!("fixtures/entra-tenant.json");
    const ENTRA_TENANT_ID: &str = "88888888-8888-8888-8888-888888888888";
    const GITLAB: &str = include_str!("fixtures/gitlab.json");
    const AUTH0: &str = include_str!("fixtures/auth0.json");
    const OKTA_ORG: &str = include_str!("fixtures/okta-org.json");
    const OKTA_DEFAULT: &str = include_str!("fixtures/okta-default.json");
    const COGNITO: &str = include_str!("fixtures/cognito.json");
    const COGNITO_POOL: &str = "us-east-1_4OqDoWVrZ";
    const KEYCLOAK: &str = include_str!("fixtures/keycloak.json");
    const KEYCLOAK_LOCALHOST: &str = include_str!("fixtures/keycloak-localhost.json");

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn spec(preset: Preset) -> ProviderSpec {
        ProviderSpec {
            preset,
            ..Default::default()
        }
    }

    fn oidc(issuer: &str) -> ProviderSpec {
        ProviderSpec {
            issuer: Some(url(issuer)),
            ..spec(Preset::Oidc)
        }
    }

    fn candidates(spec: &ProviderSpec) -> Vec<String> {
        match spec.plan().unwrap() {
            Resolution::Discover { candidates } => {
                candidates.iter().map(|u| u.to_string()).collect()
            }
            Resolution::Ready(_) => panic!("{} should need discovery", spec.preset),
        }
    }

    /// Plans, then feeds `document` as if fetched from the first candidate.
    fn resolve(spec: &ProviderSpec, document: &str) -> crate::Result<ProviderConfig> {
        let first = candidates(spec).remove(0);
        spec.from_document(&url(&first), document.as_bytes())
    }

    fn ready(spec: &ProviderSpec) -> ProviderConfig {
        match spec.plan().unwrap() {
            Resolution::Ready(config) => config,
            Resolution::Discover { .. } => panic!("{} should be ready", spec.preset),
        }
    }

    /// The message of an `InvalidInput` error.
    fn invalid(result: crate::Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::InvalidInput(message)) => message,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    /// The detail of a `BadResponse` error (checking it names a URL and is a provider error).
    fn bad_document(result: crate::Result<ProviderConfig>) -> String {
        match result {
            Err(e @ Error::BadResponse { .. }) => {
                assert_eq!(e.kind(), ErrorKind::Provider);
                let Error::BadResponse { url, detail, .. } = e else {
                    unreachable!()
                };
                assert!(url.starts_with("http"), "{url}");
                detail
            }
            other => panic!("expected BadResponse, got {other:?}"),
        }
    }

    /// `fixture` with some members changed.
    fn edited(fixture: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut doc: Map<String, Value> = serde_json::from_str(fixture).unwrap();
        edit(&mut doc);
        serde_json::to_string(&doc).unwrap()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    // ---- Google -----------------------------------------------------------------------------

    #[test]
    fn google_resolves_from_the_recorded_document() {
        let spec = spec(Preset::Google);
        assert_eq!(
            candidates(&spec),
            ["https://accounts.google.com/.well-known/openid-configuration"]
        );
        let config = resolve(&spec, GOOGLE).unwrap();
        let e = &config.endpoints;
        assert_eq!(
            e.issuer_as_published.as_deref(),
            Some("https://accounts.google.com")
        );
        assert_eq!(e.token.as_str(), "https://oauth2.googleapis.com/token");
        assert_eq!(
            e.revocation.as_ref().unwrap().as_str(),
            "https://oauth2.googleapis.com/revoke"
        );
        assert_eq!(
            e.device_authorization.as_ref().unwrap().as_str(),
            "https://oauth2.googleapis.com/device/code"
        );
        assert_eq!(
            e.jwks_uri.as_ref().unwrap().as_str(),
            "https://www.googleapis.com/oauth2/v3/certs"
        );
        assert_eq!(e.code_challenge_methods, s(&["plain", "S256"]));
        assert!(config.is_oidc());
        let q = config.quirks();
        assert_eq!(q.extra_authorize_params, [("access_type", "offline")]);
        assert_eq!(q.offline_scope, None);
        assert_eq!(config.default_scopes(), s(&["openid", "email", "profile"]));
        assert!(q.client_secret_required && q.loopback_only);
    }

    #[test]
    fn google_takes_no_flags() {
        let spec = ProviderSpec {
            issuer: Some(url("https://accounts.google.com")),
            ..spec(Preset::Google)
        };
        let message = invalid(spec.validate());
        assert!(
            message.contains("--issuer is not used by the google preset"),
            "{message}"
        );
    }

    // ---- GitHub -----------------------------------------------------------------------------

    #[test]
    fn github_is_ready_without_discovery() {
        let config = ready(&spec(Preset::Github));
        let e = &config.endpoints;
        assert_eq!(
            e.authorization.as_ref().unwrap().as_str(),
            "https://github.com/login/oauth/authorize"
        );
        assert_eq!(
            e.token.as_str(),
            "https://github.com/login/oauth/access_token"
        );
        assert_eq!(
            e.device_authorization.as_ref().unwrap().as_str(),
            "https://github.com/login/device/code"
        );
        assert_eq!(
            e.userinfo.as_ref().unwrap().as_str(),
            "https://api.github.com/user"
        );
        assert_eq!(e.revocation, None);
        assert_eq!(e.issuer, None);
        assert!(!config.is_oidc());
        let q = config.quirks();
        assert!(q.token_errors_with_http_200);
        assert_eq!(q.scope_delimiter, ',');
        assert!(!q.rfc7009_revocation);
        assert_eq!(q.identity, IdentitySource::GithubUser);
        assert_eq!(config.default_scopes(), s(&["read:user", "user:email"]));
        let message =
            invalid(spec(Preset::Github).from_document(&url("https://github.com/"), b"{}"));
        assert!(message.contains("fixed endpoints"), "{message}");
    }

    #[test]
    fn github_enterprise_needs_base_url_and_lives_under_it() {
        let message = invalid(spec(Preset::GithubEnterprise).validate());
        assert!(message.contains("needs --base-url"), "{message}");
        let config = ready(&ProviderSpec {
            base_url: Some(url("https://github.example.com/")),
            ..spec(Preset::GithubEnterprise)
        });
        let e = &config.endpoints;
        assert_eq!(
            e.authorization.as_ref().unwrap().as_str(),
            "https://github.example.com/login/oauth/authorize"
        );
        assert_eq!(
            e.token.as_str(),
            "https://github.example.com/login/oauth/access_token"
        );
        assert_eq!(
            e.device_authorization.as_ref().unwrap().as_str(),
            "https://github.example.com/login/device/code"
        );
        assert_eq!(
            e.userinfo.as_ref().unwrap().as_str(),
            "https://github.example.com/api/v3/user"
        );
        assert!(e.code_challenge_methods.is_empty());
        let q = config.quirks();
        assert!(!q.pkce_supported);
        assert!(q.notes.iter().any(|n| n.contains("PKCE")));
        let github_com = ProviderSpec {
            base_url: Some(url("https://github.com")),
            ..spec(Preset::GithubEnterprise)
        };
        assert!(invalid(github_com.validate()).contains("--preset github"));
    }

    // ---- Entra ------------------------------------------------------------------------------

    fn entra(tenant: Option<&str>) -> ProviderSpec {
        ProviderSpec {
            tenant: tenant.map(str::to_owned),
            ..spec(Preset::Entra)
        }
    }

    #[test]
    fn entra_defaults_to_common_and_accepts_the_templated_issuer() {
        let spec = entra(None);
        assert_eq!(
            candidates(&spec),
            ["https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"]
        );
        let config = resolve(&spec, ENTRA_COMMON).unwrap();
        let e = &config.endpoints;
        assert!(e.issuer_is_template);
        assert_eq!(
            e.issuer_as_published.as_deref(),
            Some(ENTRA_ISSUER_TEMPLATE)
        );
        assert!(config.is_oidc());
        assert_eq!(config.quirks().issuer_template, Some(ENTRA_ISSUER_TEMPLATE));
        let tid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        assert_eq!(
            config.expected_id_token_issuer(Some(tid)).as_deref(),
            Some("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0")
        );
        assert_eq!(config.expected_id_token_issuer(None), None);
        assert_eq!(config.expected_id_token_issuer(Some("../evil")), None);
        assert_eq!(
            config.default_scopes(),
            s(&["openid", "email", "profile", "offline_access"])
        );
        assert_eq!(e.revocation, None);
        assert!(!config.quirks().rfc7009_revocation);
    }

    #[test]
    fn entra_organizations_accepts_the_templated_issuer() {
        let spec = entra(Some("organizations"));
        assert_eq!(
            candidates(&spec),
            [
                "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
            ]
        );
        let config = resolve(&spec, ENTRA_ORGANIZATIONS).unwrap();
        assert!(config.endpoints.issuer_is_template);
        assert_eq!(
            config.endpoints.token.as_str(),
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
        );
    }

    #[test]
    fn entra_single_tenant_accepts_its_own_issuer_only() {
        let spec = entra(Some(&ENTRA_TENANT_ID.to_uppercase()));
        assert_eq!(
            candidates(&spec),
            [format!(
                "https://login.microsoftonline.com/{ENTRA_TENANT_ID}/v2.0/.well-known/openid-configuration"
            )]
        );
        let config = resolve(&spec, ENTRA_TENANT).unwrap();
        assert!(!config.endpoints.issuer_is_template);
        let issuer = format!("https://login.microsoftonline.com/{ENTRA_TENANT_ID}/v2.0");
        assert_eq!(
            config.endpoints.issuer_as_published.as_deref(),
            Some(issuer.as_str())
        );
        // A single-tenant configuration has no template to fall back on.
        assert_eq!(config.quirks().issuer_template, None);
        assert_eq!(
            config.expected_id_token_issuer(Some("other")).as_deref(),
            Some(issuer.as_str())
        );

        // The same document fetched for another tenant is refused.
        let other = entra(Some("12345678-1234-1234-1234-123456789012"));
        let detail = bad_document(
            other.from_document(&url(&candidates(&other)[0]), ENTRA_TENANT.as_bytes()),
        );
        assert!(
            detail.contains("issuer mismatch") && detail.contains(ENTRA_TENANT_ID),
            "{detail}"
        );
        // A tenant id does not accept the template, and common does not accept a tenant.
        assert!(bad_document(resolve(&other, ENTRA_COMMON)).contains("issuer mismatch"));
        assert!(bad_document(resolve(&entra(None), ENTRA_TENANT)).contains("issuer mismatch"));
    }

    #[test]
    fn entra_domain_tenant_pins_the_tenant_id_of_the_document() {
        let spec = entra(Some("Contoso.onmicrosoft.com"));
        assert_eq!(
            candidates(&spec),
            [
                "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
            ]
        );
        let config = resolve(&spec, ENTRA_TENANT).unwrap();
        assert_eq!(
            config.endpoints.issuer_as_published.as_deref(),
            Some("https://login.microsoftonline.com/88888888-8888-8888-8888-888888888888/v2.0")
        );
        assert!(bad_document(resolve(&spec, ENTRA_COMMON)).contains("issuer mismatch"));
        let foreign = edited(ENTRA_TENANT, |d| {
            d.insert(
                "issuer".into(),
                "https://evil.example/88888888-8888-8888-8888-888888888888/v2.0".into(),
            );
        });
        assert!(bad_document(resolve(&spec, &foreign)).contains("issuer mismatch"));
    }

    #[test]
    fn entra_consumers_accepts_the_template_or_the_personal_accounts_tenant() {
        let spec = entra(Some("consumers"));
        let msa = format!("https://login.microsoftonline.com/{ENTRA_CONSUMERS_TENANT_ID}/v2.0");
        let doc = edited(ENTRA_COMMON, |d| {
            d.insert("issuer".into(), msa.clone().into());
        });
        let config = resolve(&spec, &doc).unwrap();
        assert_eq!(
            config.endpoints.issuer_as_published.as_deref(),
            Some(msa.as_str())
        );
        assert!(!config.endpoints.issuer_is_template);
        assert!(
            resolve(&spec, ENTRA_COMMON)
                .unwrap()
                .endpoints
                .issuer_is_template
        );
        assert!(bad_document(resolve(&spec, ENTRA_TENANT)).contains("issuer mismatch"));
    }

    #[test]
    fn entra_rejects_malformed_tenants() {
        let message = invalid(entra(Some("not a tenant")).validate());
        assert!(message.contains("--tenant"), "{message}");
        assert!(invalid(entra(Some("8888-88")).validate()).contains("--tenant"));
    }

    // ---- GitLab -----------------------------------------------------------------------------

    #[test]
    fn gitlab_defaults_to_gitlab_com() {
        let spec = spec(Preset::Gitlab);
        assert_eq!(
            candidates(&spec),
            ["https://gitlab.com/.well-known/openid-configuration"]
        );
        let config = resolve(&spec, GITLAB).unwrap();
        assert_eq!(
            config.endpoints.issuer_as_published.as_deref(),
            Some(DEFAULT_GITLAB_URL)
        );
        assert_eq!(
            config.endpoints.revocation.as_ref().unwrap().as_str(),
            "https://gitlab.com/oauth/revoke"
        );
        assert_eq!(config.quirks().offline_scope, None);
        assert!(config.is_oidc());
    }

    #[test]
    fn gitlab_self_managed_uses_base_url() {
        let spec = ProviderSpec {
            base_url: Some(url("https://git.example.com/gitlab/")),
            ..spec(Preset::Gitlab)
        };
        assert_eq!(
            candidates(&spec),
            ["https://git.example.com/gitlab/.well-known/openid-configuration"]
        );
        // gitlab.com's document is not this server's.
        assert!(bad_document(resolve(&spec, GITLAB)).contains("issuer mismatch"));
    }

    // ---- Auth0 ------------------------------------------------------------------------------

    #[test]
    fn auth0_issuer_has_a_trailing_slash() {
        let message = invalid(spec(Preset::Auth0).validate());
        assert!(message.contains("needs --domain"), "{message}");
        let spec = ProviderSpec {
            domain: Some("Example.US.auth0.com".into()),
            ..spec(Preset::Auth0)
        };
        assert_eq!(
            candidates(&spec),
            ["https://example.us.auth0.com/.well-known/openid-configuration"]
        );
        let config = resolve(&spec, AUTH0).unwrap();
        assert_eq!(
            config.endpoints.issuer_as_published.as_deref(),
            Some("https://example.us.auth0.com/")
        );
        assert_eq!(
            config.expected_id_token_issuer(None).as_deref(),
            Some("https://example.us.auth0.com/")
        );
        assert_eq!(config.quirks().offline_scope, Some("offline_access"));
        assert_eq!(
            config
                .endpoints
                .device_authorization
                .as_ref()
                .unwrap()
                .as_str(),
            "https://example.us.auth0.com/oauth/device/code"
        );
    }

    #[test]
    fn domain_must_be_a_host_name() {
        let with = |d: &str| ProviderSpec {
            domain: Some(d.into()),
            ..spec(Preset::Auth0)
        };
        let message = invalid(with("https://dev-1.us.auth0.com/").validate());
        assert!(message.contains("use `dev-1.us.auth0.com`"), "{message}");
        assert!(invalid(with("dev 1").validate()).contains("not a host name"));
        assert!(invalid(with("a.example/path").validate()).contains("not a host name"));
        assert!(with("auth.example.com").validate().is_ok());
    }

    // ---- Okta -------------------------------------------------------------------------------

    #[test]
    fn okta_domain_means_the_org_authorization_server() {
        let message = invalid(spec(Preset::Okta).validate());
        assert!(
            message.contains("--domain") && message.contains("--issuer"),
            "{message}"
        );
        let spec = ProviderSpec {
            domain: Some("foo.okta.com".into()),
            ..spec(Preset::Okta)
        };
        assert_eq!(
            candidates(&spec),
            ["https://foo.okta.com/.well-known/openid-configuration"]
        );
        let config = resolve(&spec, OKTA_ORG).unwrap();
        assert_eq!(
            config.endpoints.issuer_as_published.as_deref(),
            Some("https://foo.okta.com")
        );
        assert_eq!(
            config.endpoints.token.as_str(),
            "https://foo.okta.com/oauth2/v1/token"
        );
        assert_eq!(config.quirks().offline_scope, Some("offline_access"));
        // The custom authorization server's document is another issuer.
        assert!(bad_document(resolve(&spec, OKTA_DEFAULT)).contains("issuer mismatch"));
    }

    #[test]
    fn okta_custom_authorization_server_via_issuer() {
        let spec = ProviderSpec {
            issuer: Some(url("https://integrator-7886904.okta.com/oauth2/default")),
            ..spec(Preset::Okta)
        };
        assert_eq!(
            candidates(&spec),
            ["https://integrator-7886904.okta.com/oauth2/default/.well-known/openid-configuration"]
        );
        let config = resolve(&spec, OKTA_DEFAULT).unwrap();
        let e = &config.endpoints;
        assert_eq!(
            e.pushed_authorization_request.as_ref().unwrap().as_str(),
            "https://integrator-7886904.okta.com/oauth2/default/v1/par"
        );
        assert!(e.dpop_signing_algs.contains(&"ES256".to_owned()));
        assert_eq!(e.code_challenge_methods, s(&["S256"]));

        let both = ProviderSpec {
            domain: Some("other.okta.com".into()),
            ..spec.clone()
        };
        assert!(invalid(both.validate()).contains("not on --domain"));
        let odd = ProviderSpec {
            issuer: Some(url("https://foo.okta.com/realms/x")),
            ..spec
        };
        assert!(invalid(odd.validate()).contains("not an Okta authorization server"));
    }

    // ---- Cognito ----------------------------------------------------------------------------

    fn cognito(domain: Option<&str>, region: Option<&str>) -> ProviderSpec {
        ProviderSpec {
            user_pool_id: Some(COGNITO_POOL.into()),
            domain: domain.map(str::to_owned),
            region: region.map(str::to_owned),
            ..spec(Preset::Cognito)
        }
    }

    #[test]
    fn cognito_issuer_is_the_user_pool() {
        let message = invalid(spec(Preset::Cognito).validate());
        assert!(message.contains("needs --user-pool-id"), "{message}");
        let spec = cognito(None, Some("us-east-1"));
        assert_eq!(
            candidates(&spec),
            [
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_4OqDoWVrZ/.well-known/openid-configuration"
            ]
        );
        // The recorded document lists no code_challenge_methods_supported: absent is accepted.
        let config = resolve(&spec, COGNITO).unwrap();
        let e = &config.endpoints;
        assert!(e.code_challenge_methods.is_empty());
        assert_eq!(
            e.authorization.as_ref().unwrap().as_str(),
            "https://auth-groovycalamari.auth.us-east-1.amazoncognito.com/oauth2/authorize"
        );
        // The revoke endpoint the document omits is derived from the pool's domain.
        assert_eq!(
            e.revocation.as_ref().unwrap().as_str(),
            "https://auth-groovycalamari.auth.us-east-1.amazoncognito.com/oauth2/revoke"
        );
        assert!(config.quirks().exact_redirect_port);
        assert_eq!(config.quirks().offline_scope, None);
    }

    #[test]
    fn cognito_region_must_match_the_pool() {
        let message = invalid(cognito(None, Some("eu-west-1")).validate());
        assert!(
            message.contains("does not match --user-pool-id"),
            "{message}"
        );
        let bad_pool = ProviderSpec {
            user_pool_id: Some("4OqDoWVrZ".into()),
            ..spec(Preset::Cognito)
        };
        assert!(invalid(bad_pool.validate()).contains("not a user pool id"));
    }

    #[test]
    fn cognito_domain_picks_the_endpoints_host() {
        let config = resolve(&cognito(Some("auth.example.com"), None), COGNITO).unwrap();
        let e = &config.endpoints;
        assert_eq!(
            e.authorization.as_ref().unwrap().as_str(),
            "https://auth.example.com/oauth2/authorize"
        );
        assert_eq!(e.token.as_str(), "https://auth.example.com/oauth2/token");
        assert_eq!(
            e.userinfo.as_ref().unwrap().as_str(),
            "https://auth.example.com/oauth2/userInfo"
        );
        assert_eq!(
            e.revocation.as_ref().unwrap().as_str(),
            "https://auth.example.com/oauth2/revoke"
        );
        // Keys stay with the issuer.
        assert!(
            e.jwks_uri
                .as_ref()
                .unwrap()
                .as_str()
                .starts_with("https://cognito-idp.")
        );
    }

    #[test]
    fn cognito_pool_without_domain_needs_the_domain_flag() {
        let no_domain = edited(COGNITO, |d| {
            d.insert(
                "authorization_endpoint".into(),
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_4OqDoWVrZ".into(),
            );
        });
        let detail = bad_document(resolve(&cognito(None, None), &no_domain));
        assert!(detail.contains("--domain"), "{detail}");
        assert!(resolve(&cognito(Some("auth.example.com"), None), &no_domain).is_ok());
    }

    // ---- Keycloak ---------------------------------------------------------------------------

    fn keycloak(base: &str, realm: Option<&str>) -> ProviderSpec {
        ProviderSpec {
            base_url: Some(url(base)),
            realm: realm.map(str::to_owned),
            ..spec(Preset::Keycloak)
        }
    }

    #[test]
    fn keycloak_issuer_is_base_realms_realm() {
        let message = invalid(keycloak("https://keycloak.example.com", None).validate());
        assert!(message.contains("needs --realm"), "{message}");
        let spec = keycloak("https://keycloak.example.com/", Some("master"));
        assert_eq!(
            candidates(&spec),
            ["https://keycloak.example.com/realms/master/.well-known/openid-configuration"]
        );
        let config = resolve(&spec, KEYCLOAK).unwrap();
        let e = &config.endpoints;
        assert_eq!(
            e.issuer_as_published.as_deref(),
            Some("https://keycloak.example.com/realms/master")
        );
        assert!(e.pushed_authorization_request.is_some());
        assert!(!e.require_pushed_authorization_requests);
        assert_eq!(config.quirks().offline_scope, None);
        // Pre-17 servers live under /auth.
        assert_eq!(
            candidates(&keycloak("https://sso.example.com/auth", Some("main"))),
            ["https://sso.example.com/auth/realms/main/.well-known/openid-configuration"]
        );
        assert!(
            invalid(keycloak("https://sso.example.com", Some("a/b")).validate())
                .contains("--realm")
        );
    }

    #[test]
    fn keycloak_on_localhost_may_use_http() {
        let spec = keycloak("http://localhost:17070", Some("ygz-realm"));
        let config = resolve(&spec, KEYCLOAK_LOCALHOST).unwrap();
        assert!(
            config
                .endpoints
                .authorization_response_iss_parameter_supported
        );
        assert_eq!(
            config.endpoints.token.as_str(),
            "http://localhost:17070/realms/ygz-realm/protocol/openid-connect/token"
        );
        let message = invalid(keycloak("http://sso.example.com", Some("main")).validate());
        assert!(
            message.contains("--base-url") && message.contains("plain http"),
            "{message}"
        );
    }

    // ---- Generic OIDC, OAuth 2.0, manual --------------------------------------------------

    #[test]
    fn oidc_tries_discovery_then_rfc8414() {
        let message = invalid(spec(Preset::Oidc).validate());
        assert!(message.contains("needs --issuer"), "{message}");
        assert_eq!(
            candidates(&oidc("https://keycloak.example.com/realms/master")),
            [
                "https://keycloak.example.com/realms/master/.well-known/openid-configuration",
                "https://keycloak.example.com/.well-known/oauth-authorization-server/realms/master",
            ]
        );
        // Generic OIDC against a recorded document; the typed issuer lacks nothing but a slash.
        let config = resolve(
            &oidc("https://keycloak.example.com/realms/master/"),
            KEYCLOAK,
        )
        .unwrap();
        assert!(config.is_oidc());
        assert_eq!(
            config.endpoints.issuer_as_published.as_deref(),
            Some("https://keycloak.example.com/realms/master")
        );
        assert!(
            invalid(
                ProviderSpec {
                    realm: Some("x".into()),
                    ..oidc("https://a.example")
                }
                .validate()
            )
            .contains("--realm is not used")
        );
    }

    #[test]
    fn generic_oidc_asks_for_offline_access_only_when_advertised() {
        assert_eq!(Preset::Oidc.quirks().offline_scope, Some("offline_access"));
        let advertised = resolve(
            &oidc("https://keycloak.example.com/realms/master"),
            KEYCLOAK,
        )
        .unwrap();
        assert_eq!(advertised.quirks().offline_scope, Some("offline_access"));
        assert!(
            advertised
                .default_scopes()
                .contains(&"offline_access".to_owned())
        );
        let not_advertised = resolve(&oidc("https://accounts.google.com"), GOOGLE).unwrap();
        assert_eq!(not_advertised.quirks().offline_scope, None);
        assert_eq!(
            not_advertised.default_scopes(),
            s(&["openid", "email", "profile"])
        );
    }

    #[test]
    fn http_issuer_is_refused_unless_loopback() {
        let message = invalid(oidc("http://login.example.com").validate());
        assert!(
            message.contains("--issuer") && message.contains("https is required"),
            "{message}"
        );
        assert!(oidc("http://[::1]:9000/").validate().is_ok());
        assert!(oidc("http://localhost:9000/").validate().is_ok());
    }

    #[test]
    fn http_loopback_issuer_is_accepted() {
        let doc = r#"{
            "issuer": "http://127.0.0.1:8080",
            "authorization_endpoint": "http://127.0.0.1:8080/authorize",
            "token_endpoint": "http://127.0.0.1:8080/token",
            "jwks_uri": "http://127.0.0.1:8080/jwks",
            "code_challenge_methods_supported": ["S256"]
        }"#;
        let config = resolve(&oidc("http://127.0.0.1:8080"), doc).unwrap();
        assert_eq!(
            config.endpoints.issuer_as_published.as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert!(config.is_oidc());
    }

    #[test]
    fn issuer_mismatch_is_refused() {
        let detail = bad_document(resolve(&oidc("https://login.example.com"), GOOGLE));
        assert!(detail.contains("issuer mismatch"), "{detail}");
        assert!(
            detail.contains("https://accounts.google.com") && detail.contains("login.example.com")
        );
        // Same host, other path.
        let other = edited(KEYCLOAK, |d| {
            d.insert(
                "issuer".into(),
                "https://keycloak.example.com/realms/other".into(),
            );
        });
        assert!(
            bad_document(resolve(
                &oidc("https://keycloak.example.com/realms/master"),
                &other
            ))
            .contains("issuer mismatch")
        );
    }

    #[test]
    fn missing_s256_is_refused() {
        let plain_only = edited(GOOGLE, |d| {
            d.insert(
                "code_challenge_methods_supported".into(),
                serde_json::json!(["plain"]),
            );
        });
        let detail = bad_document(resolve(&spec(Preset::Google), &plain_only));
        assert!(detail.contains("S256"), "{detail}");
    }

    #[test]
    fn http_endpoint_in_a_https_document_is_refused() {
        let downgraded = edited(GOOGLE, |d| {
            d.insert(
                "token_endpoint".into(),
                "http://oauth2.googleapis.com/token".into(),
            );
        });
        let detail = bad_document(resolve(&spec(Preset::Google), &downgraded));
        assert!(
            detail.contains("`token_endpoint`") && detail.contains("plain http"),
            "{detail}"
        );
    }

    #[test]
    fn oidc_presets_need_a_jwks_uri() {
        let no_keys = edited(GOOGLE, |d| {
            d.remove("jwks_uri");
        });
        let detail = bad_document(resolve(&spec(Preset::Google), &no_keys));
        assert!(
            detail.contains("jwks_uri") && detail.contains("--preset oauth2"),
            "{detail}"
        );
    }

    #[test]
    fn errors_name_the_document_url_without_query() {
        let spec = spec(Preset::Google);
        let err = spec
            .from_document(
                &url("https://accounts.google.com/.well-known/openid-configuration?x=1"),
                b"[]",
            )
            .unwrap_err();
        let Error::BadResponse {
            url,
            status,
            detail,
        } = err
        else {
            panic!()
        };
        assert_eq!(
            url,
            "https://accounts.google.com/.well-known/openid-configuration"
        );
        assert_eq!(status, 200);
        assert!(detail.contains("not a JSON object"));
    }

    #[test]
    fn oauth2_uses_rfc8414_only_and_needs_no_id_token() {
        let spec = ProviderSpec {
            issuer: Some(url("https://as.example.com/tenant1")),
            ..spec(Preset::Oauth2)
        };
        assert_eq!(
            candidates(&spec),
            ["https://as.example.com/.well-known/oauth-authorization-server/tenant1"]
        );
        let doc = r#"{
            "issuer": "https://as.example.com/tenant1",
            "authorization_endpoint": "https://as.example.com/tenant1/authorize",
            "token_endpoint": "https://as.example.com/tenant1/token",
            "revocation_endpoint": "https://as.example.com/tenant1/revoke"
        }"#;
        let config = resolve(&spec, doc).unwrap();
        assert!(!config.is_oidc());
        assert!(config.default_scopes().is_empty());
        assert_eq!(config.quirks().offline_scope, None);
    }

    #[test]
    fn manual_is_ready_with_the_given_endpoints() {
        let message = invalid(
            ProviderSpec {
                auth_url: Some(url("https://as.example/a")),
                ..spec(Preset::Manual)
            }
            .validate(),
        );
        assert!(message.contains("needs --token-url"), "{message}");
        let manual = ProviderSpec {
            auth_url: Some(url("https://as.example/authorize")),
            token_url: Some(url("https://as.example/token")),
            device_url: Some(url("https://as.example/device")),
            ..spec(Preset::Manual)
        };
        let config = ready(&manual);
        assert_eq!(config.endpoints.token.as_str(), "https://as.example/token");
        assert_eq!(
            config
                .endpoints
                .device_authorization
                .as_ref()
                .unwrap()
                .as_str(),
            "https://as.example/device"
        );
        assert_eq!(config.endpoints.issuer, None);
        assert!(!config.is_oidc());
        let insecure = ProviderSpec {
            token_url: Some(url("http://as.example/token")),
            ..manual.clone()
        };
        assert!(invalid(insecure.validate()).contains("--token-url"));
        let extra = ProviderSpec {
            domain: Some("as.example".into()),
            ..manual
        };
        assert!(invalid(extra.validate()).contains("--domain is not used by the manual preset"));
    }

    #[test]
    fn every_preset_plans_with_its_example_flags() {
        for preset in Preset::all() {
            let example = match preset {
                Preset::Oidc | Preset::Oauth2 => oidc("https://login.example.com"),
                Preset::Manual => ProviderSpec {
                    auth_url: Some(url("https://as.example/authorize")),
                    token_url: Some(url("https://as.example/token")),
                    ..Default::default()
                },
                Preset::Google | Preset::Github | Preset::Entra | Preset::Gitlab => {
                    ProviderSpec::default()
                }
                Preset::GithubEnterprise => ProviderSpec {
                    base_url: Some(url("https://github.example.com")),
                    ..Default::default()
                },
                Preset::Auth0 | Preset::Okta => ProviderSpec {
                    domain: Some("login.example.com".into()),
                    ..Default::default()
                },
                Preset::Cognito => cognito(None, None),
                Preset::Keycloak => keycloak("https://sso.example.com", Some("main")),
            };
            let spec = ProviderSpec {
                preset: *preset,
                ..example
            };
            let plan = spec.plan().unwrap_or_else(|e| panic!("{preset}: {e}"));
            let fixed = matches!(
                preset,
                Preset::Manual | Preset::Github | Preset::GithubEnterprise
            );
            assert_eq!(matches!(plan, Resolution::Ready(_)), fixed, "{preset}");
        }
    }

    // ---- The quirk table, one test per quirk ------------------------------------------------

    fn presets_where(f: impl Fn(&Quirks) -> bool) -> Vec<Preset> {
        Preset::all()
            .iter()
            .copied()
            .filter(|p| f(&p.quirks()))
            .collect()
    }

    #[test]
    fn quirk_client_secret_required() {
        assert_eq!(
            presets_where(|q| q.client_secret_required),
            [Preset::Google, Preset::Github, Preset::GithubEnterprise]
        );
    }

    #[test]
    fn quirk_client_secret_post() {
        assert_eq!(
            presets_where(|q| q.client_secret_post),
            [Preset::Google, Preset::Github, Preset::GithubEnterprise]
        );
    }

    #[test]
    fn quirk_loopback_only() {
        assert_eq!(presets_where(|q| q.loopback_only), [Preset::Google]);
    }

    #[test]
    fn quirk_exact_redirect_port() {
        assert_eq!(presets_where(|q| q.exact_redirect_port), [Preset::Cognito]);
    }

    #[test]
    fn quirk_extra_authorize_params() {
        assert_eq!(
            presets_where(|q| !q.extra_authorize_params.is_empty()),
            [Preset::Google]
        );
        assert!(
            Preset::Google
                .quirks()
                .extra_authorize_params
                .contains(&("access_type", "offline"))
        );
    }

    #[test]
    fn quirk_offline_scope() {
        assert_eq!(
            presets_where(|q| q.offline_scope == Some("offline_access")),
            [Preset::Oidc, Preset::Entra, Preset::Auth0, Preset::Okta]
        );
        assert!(
            presets_where(|q| q.offline_scope.is_some_and(|s| s != "offline_access")).is_empty()
        );
    }

    #[test]
    fn quirk_new_resources_at_refresh() {
        // RFC 8707 servers mint tokens on a refresh only for resources named at sign-in.
        assert_eq!(
            presets_where(|q| q.new_resources_at_refresh),
            [Preset::Entra, Preset::Auth0]
        );
        assert_eq!(
            presets_where(|q| q.invalid_grant_may_mean_no_consent),
            [Preset::Entra]
        );
    }

    #[test]
    fn quirk_offline_consent() {
        // Google: offline access by parameter, and a refresh token only with consent.
        assert_eq!(presets_where(|q| q.offline_consent), [Preset::Google]);
    }

    #[test]
    fn quirk_mail_scopes() {
        for preset in Preset::all() {
            let scopes = preset.quirks().mail_scopes;
            match preset {
                Preset::Google => assert_eq!(scopes, ["https://mail.google.com/"]),
                Preset::Entra => assert_eq!(
                    scopes,
                    [
                        "https://outlook.office.com/IMAP.AccessAsUser.All",
                        "https://outlook.office.com/SMTP.Send",
                        "offline_access"
                    ]
                ),
                _ => assert!(scopes.is_empty(), "{preset}"),
            }
        }
    }

    #[test]
    fn quirk_default_scopes() {
        for preset in Preset::all() {
            let scopes = preset.quirks().default_scopes;
            match preset {
                Preset::Github | Preset::GithubEnterprise => {
                    assert_eq!(scopes, ["read:user", "user:email"])
                }
                Preset::Oauth2 | Preset::Manual => assert!(scopes.is_empty()),
                _ => assert_eq!(scopes, ["openid", "email", "profile"], "{preset}"),
            }
        }
    }

    #[test]
    fn quirk_token_errors_with_http_200() {
        assert_eq!(
            presets_where(|q| q.token_errors_with_http_200),
            [Preset::Github, Preset::GithubEnterprise]
        );
    }

    #[test]
    fn quirk_scope_delimiter() {
        assert_eq!(
            presets_where(|q| q.scope_delimiter == ','),
            [Preset::Github, Preset::GithubEnterprise]
        );
        assert!(presets_where(|q| ![' ', ','].contains(&q.scope_delimiter)).is_empty());
    }

    #[test]
    fn quirk_rfc7009_revocation() {
        assert_eq!(
            presets_where(|q| !q.rfc7009_revocation),
            [Preset::Github, Preset::GithubEnterprise, Preset::Entra]
        );
    }

    #[test]
    fn quirk_tokens_may_not_expire() {
        assert_eq!(
            presets_where(|q| q.tokens_may_not_expire),
            [Preset::Github, Preset::GithubEnterprise]
        );
    }

    #[test]
    fn quirk_refresh_id_token_has_no_nonce() {
        for preset in Preset::all() {
            assert_eq!(
                preset.quirks().refresh_id_token_has_no_nonce,
                preset.is_oidc(),
                "{preset}"
            );
        }
    }

    #[test]
    fn quirk_pkce_supported() {
        assert_eq!(
            presets_where(|q| !q.pkce_supported),
            [Preset::GithubEnterprise]
        );
    }

    #[test]
    fn quirk_issuer_template() {
        assert_eq!(
            presets_where(|q| q.issuer_template.is_some()),
            [Preset::Entra]
        );
        assert_eq!(
            Preset::Entra.quirks().issuer_template,
            Some(ENTRA_ISSUER_TEMPLATE)
        );
    }

    #[test]
    fn quirk_identity() {
        assert_eq!(
            presets_where(|q| q.identity == IdentitySource::GithubUser),
            [Preset::Github, Preset::GithubEnterprise]
        );
    }

    #[test]
    fn quirk_notes() {
        for preset in Preset::all() {
            assert!(!preset.quirks().notes.is_empty(), "{preset} has no notes");
        }
        assert!(
            Preset::Cognito
                .quirks()
                .notes
                .iter()
                .any(|n| n.contains("--port"))
        );
        assert!(
            Preset::Okta
                .quirks()
                .notes
                .iter()
                .any(|n| n.contains("/oauth2/default"))
        );
    }

    // ---- Tokens for other APIs (TargetStyle) --------------------------------------------------

    fn target(scopes: &[&str], resources: &[&str], audience: Option<&str>) -> TokenSpec {
        TokenSpec::new(&s(scopes), &s(resources), audience).unwrap()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn entra_asks_for_a_resource_as_its_default_scope_one_at_a_time() {
        let config = resolve(&entra(None), ENTRA_COMMON).unwrap();
        let style = config.quirks().target_style;
        assert_eq!(style, TargetStyle::EntraDefaultScope);
        assert_eq!(
            target(&[], &["https://graph.microsoft.com/"], None)
                .token_params(style)
                .unwrap(),
            pairs(&[(
                "scope",
                "https://graph.microsoft.com/.default offline_access"
            )])
        );
        assert_eq!(
            target(&[], &["api://6f1c8a52-0000-4a55-8a9b-0d5f3c8e8b11"], None)
                .token_params(style)
                .unwrap(),
            pairs(&[(
                "scope",
                "api://6f1c8a52-0000-4a55-8a9b-0d5f3c8e8b11/.default offline_access"
            )])
        );
        // Narrower scopes by full name; no resource parameter is ever sent.
        assert_eq!(
            target(&["https://graph.microsoft.com/Mail.Read"], &[], None)
                .token_params(style)
                .unwrap(),
            pairs(&[(
                "scope",
                "https://graph.microsoft.com/Mail.Read offline_access"
            )])
        );
        assert!(
            target(&[], &["https://a.example", "https://b.example"], None)
                .token_params(style)
                .is_err()
        );
        assert!(target(&[], &[], Some("x")).token_params(style).is_err());
        // One refresh token serves every consented resource: nothing at sign-in.
        assert!(
            authorization_params(&s(&["https://graph.microsoft.com"]), style)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn auth0_asks_for_an_api_by_audience() {
        let spec = ProviderSpec {
            domain: Some("example.us.auth0.com".into()),
            ..spec(Preset::Auth0)
        };
        let style = resolve(&spec, AUTH0).unwrap().quirks().target_style;
        assert_eq!(style, TargetStyle::Auth0Audience);
        assert_eq!(
            target(&["read:mail"], &[], Some("https://api.example.com"))
                .token_params(style)
                .unwrap(),
            pairs(&[
                ("scope", "read:mail"),
                ("audience", "https://api.example.com")
            ])
        );
        // A resource is the API identifier.
        assert_eq!(
            target(&[], &["https://api.example.com"], None)
                .token_params(style)
                .unwrap(),
            pairs(&[("audience", "https://api.example.com")])
        );
        assert!(
            target(&[], &["https://a.example"], Some("b"))
                .token_params(style)
                .is_err()
        );
        assert_eq!(
            authorization_params(&s(&["https://api.example.com"]), style).unwrap(),
            pairs(&[("audience", "https://api.example.com")])
        );
        assert!(
            authorization_params(&s(&["https://a.example", "https://b.example"]), style).is_err()
        );
    }

    #[test]
    fn google_grants_scopes_incrementally_and_has_no_resources() {
        let q = resolve(&spec(Preset::Google), GOOGLE).unwrap().quirks();
        assert!(q.include_granted_scopes);
        let message = invalid(
            target(&[], &["https://www.googleapis.com"], None).token_params(q.target_style),
        );
        assert!(message.contains("--scope"), "{message}");
        assert_eq!(
            target(
                &["https://www.googleapis.com/auth/drive.readonly"],
                &[],
                None
            )
            .token_params(q.target_style)
            .unwrap(),
            pairs(&[("scope", "https://www.googleapis.com/auth/drive.readonly")])
        );
        assert!(
            presets_where(|q| q.include_granted_scopes) == [Preset::Google],
            "only Google knows include_granted_scopes"
        );
    }

    #[test]
    fn keycloak_and_okta_explain_how_they_set_audiences() {
        let kc = resolve(
            &keycloak("https://keycloak.example.com", Some("master")),
            KEYCLOAK,
        )
        .unwrap()
        .quirks();
        let message = invalid(target(&[], &[], Some("account")).token_params(kc.target_style));
        assert!(message.contains("client scope"), "{message}");
        assert!(
            invalid(authorization_params(
                &s(&["https://a.example"]),
                kc.target_style
            ))
            .contains("client scope")
        );
        // Down-scoping still works.
        assert_eq!(
            target(&["profile"], &[], None)
                .token_params(kc.target_style)
                .unwrap(),
            pairs(&[("scope", "profile")])
        );
        let okta = resolve(
            &ProviderSpec {
                issuer: Some(url("https://integrator-7886904.okta.com/oauth2/default")),
                ..spec(Preset::Okta)
            },
            OKTA_DEFAULT,
        )
        .unwrap()
        .quirks();
        let message = invalid(
            target(&[], &["https://api.example.com"], None).token_params(okta.target_style),
        );
        assert!(message.contains("/oauth2/"), "{message}");
    }

    #[test]
    fn generic_servers_get_rfc8707_resources() {
        assert_eq!(Preset::Oidc.quirks().target_style, TargetStyle::Rfc8707);
        assert_eq!(
            authorization_params(
                &s(&["https://a.example", "https://b.example"]),
                TargetStyle::Rfc8707
            )
            .unwrap(),
            pairs(&[
                ("resource", "https://a.example"),
                ("resource", "https://b.example")
            ])
        );
    }
}
