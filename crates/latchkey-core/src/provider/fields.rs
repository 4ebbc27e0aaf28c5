//! Which provider settings (CLI flags, fields of the app's add form) each preset takes, and
//! their descriptions: [`PresetView`] is what the desktop app builds its add form from, so a
//! field added to a preset here appears in the app by itself.

use serde::Serialize;

use super::{Preset, ProviderSpec};

// ---------------------------------------------------------------------------------------------
// Which flags each preset takes
// ---------------------------------------------------------------------------------------------

/// A user-settable field of [`ProviderSpec`] (besides the preset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Issuer,
    Tenant,
    Domain,
    BaseUrl,
    Realm,
    Region,
    UserPoolId,
    AuthUrl,
    TokenUrl,
    RevocationUrl,
    UserinfoUrl,
    DeviceUrl,
}

impl Field {
    const ALL: [Field; 12] = [
        Field::Issuer,
        Field::Tenant,
        Field::Domain,
        Field::BaseUrl,
        Field::Realm,
        Field::Region,
        Field::UserPoolId,
        Field::AuthUrl,
        Field::TokenUrl,
        Field::RevocationUrl,
        Field::UserinfoUrl,
        Field::DeviceUrl,
    ];

    /// The CLI flag (the desktop app shows the same names).
    pub(super) fn flag(self) -> &'static str {
        match self {
            Field::Issuer => "--issuer",
            Field::Tenant => "--tenant",
            Field::Domain => "--domain",
            Field::BaseUrl => "--base-url",
            Field::Realm => "--realm",
            Field::Region => "--region",
            Field::UserPoolId => "--user-pool-id",
            Field::AuthUrl => "--auth-url",
            Field::TokenUrl => "--token-url",
            Field::RevocationUrl => "--revocation-url",
            Field::UserinfoUrl => "--userinfo-url",
            Field::DeviceUrl => "--device-url",
        }
    }

    pub(super) fn is_set(self, spec: &ProviderSpec) -> bool {
        match self {
            Field::Issuer => spec.issuer.is_some(),
            Field::Tenant => spec.tenant.is_some(),
            Field::Domain => spec.domain.is_some(),
            Field::BaseUrl => spec.base_url.is_some(),
            Field::Realm => spec.realm.is_some(),
            Field::Region => spec.region.is_some(),
            Field::UserPoolId => spec.user_pool_id.is_some(),
            Field::AuthUrl => spec.auth_url.is_some(),
            Field::TokenUrl => spec.token_url.is_some(),
            Field::RevocationUrl => spec.revocation_url.is_some(),
            Field::UserinfoUrl => spec.userinfo_url.is_some(),
            Field::DeviceUrl => spec.device_url.is_some(),
        }
    }

    /// What to put in the flag, for "missing flag" messages.
    pub(super) fn hint(self, preset: Preset) -> &'static str {
        match (self, preset) {
            (Field::Issuer, Preset::Okta) => {
                "the custom authorization server, e.g. https://example.okta.com/oauth2/default"
            }
            (Field::Issuer, _) => "the issuer URL, e.g. https://login.example.com/realms/main",
            (Field::Tenant, _) => {
                "common, organizations, consumers, a tenant id or a verified domain"
            }
            (Field::Domain, Preset::Auth0) => {
                "the tenant's host name, e.g. dev-abc123.us.auth0.com"
            }
            (Field::Domain, Preset::Okta) => "the org's host name, e.g. example.okta.com",
            (Field::Domain, _) => {
                "the user pool's domain, e.g. myapp.auth.us-east-1.amazoncognito.com or auth.example.com"
            }
            (Field::BaseUrl, Preset::GithubEnterprise) => {
                "the server URL, e.g. https://github.example.com"
            }
            (Field::BaseUrl, Preset::Keycloak) => {
                "the server URL, e.g. https://sso.example.com (add /auth for Keycloak 16 and older)"
            }
            (Field::BaseUrl, _) => "the server URL, e.g. https://gitlab.example.com",
            (Field::Realm, _) => "the realm name, e.g. master",
            (Field::Region, _) => "the AWS region, e.g. us-east-1",
            (Field::UserPoolId, _) => "the user pool id, e.g. us-east-1_AbCdEf123",
            (Field::AuthUrl, _) => "the authorization endpoint URL",
            (Field::TokenUrl, _) => "the token endpoint URL",
            (Field::RevocationUrl, _) => "the RFC 7009 revocation endpoint URL",
            (Field::UserinfoUrl, _) => "the userinfo endpoint URL",
            (Field::DeviceUrl, _) => "the device authorization endpoint URL",
        }
    }
}

/// The flags a preset requires and the ones it also accepts; any other flag is refused so that a
/// typo'd combination (`--preset google --issuer ...`) is reported instead of silently ignored.
fn fields(preset: Preset) -> (&'static [Field], &'static [Field]) {
    use Field::*;
    match preset {
        Preset::Oidc | Preset::Oauth2 => (&[Issuer], &[]),
        Preset::Manual => (
            &[AuthUrl, TokenUrl],
            &[RevocationUrl, UserinfoUrl, DeviceUrl],
        ),
        Preset::Google | Preset::Github => (&[], &[]),
        Preset::GithubEnterprise => (&[BaseUrl], &[]),
        Preset::Entra => (&[], &[Tenant]),
        Preset::Gitlab => (&[], &[BaseUrl]),
        Preset::Auth0 => (&[Domain], &[]),
        // One of the two is required; checked in `check_values`.
        Preset::Okta => (&[], &[Domain, Issuer]),
        Preset::Cognito => (&[UserPoolId], &[Region, Domain]),
        Preset::Keycloak => (&[BaseUrl, Realm], &[]),
    }
}

/// Checks that the spec has the flags its preset requires and no others.
pub(super) fn check_fields(spec: &ProviderSpec) -> Result<(), String> {
    let preset = spec.preset;
    let (required, optional) = fields(preset);
    for field in required {
        if !field.is_set(spec) {
            return Err(format!(
                "the {preset} preset needs {} ({})",
                field.flag(),
                field.hint(preset)
            ));
        }
    }
    for field in Field::ALL {
        if field.is_set(spec) && !required.contains(&field) && !optional.contains(&field) {
            return Err(format!(
                "{} is not used by the {preset} preset; remove it (or pick another --preset)",
                field.flag()
            ));
        }
    }
    Ok(())
}

impl Field {
    /// The name of the [`ProviderSpec`] member (and of the form field / JSON key).
    pub(super) fn name(self) -> &'static str {
        match self {
            Field::Issuer => "issuer",
            Field::Tenant => "tenant",
            Field::Domain => "domain",
            Field::BaseUrl => "base_url",
            Field::Realm => "realm",
            Field::Region => "region",
            Field::UserPoolId => "user_pool_id",
            Field::AuthUrl => "auth_url",
            Field::TokenUrl => "token_url",
            Field::RevocationUrl => "revocation_url",
            Field::UserinfoUrl => "userinfo_url",
            Field::DeviceUrl => "device_url",
        }
    }

    /// A short label for people.
    fn label(self) -> &'static str {
        match self {
            Field::Issuer => "Issuer URL",
            Field::Tenant => "Tenant",
            Field::Domain => "Domain",
            Field::BaseUrl => "Base URL",
            Field::Realm => "Realm",
            Field::Region => "Region",
            Field::UserPoolId => "User pool id",
            Field::AuthUrl => "Authorization URL",
            Field::TokenUrl => "Token URL",
            Field::RevocationUrl => "Revocation URL",
            Field::UserinfoUrl => "Userinfo URL",
            Field::DeviceUrl => "Device authorization URL",
        }
    }

    fn is_url(self) -> bool {
        matches!(
            self,
            Field::Issuer
                | Field::BaseUrl
                | Field::AuthUrl
                | Field::TokenUrl
                | Field::RevocationUrl
                | Field::UserinfoUrl
                | Field::DeviceUrl
        )
    }
}

/// One setting a preset takes, described for a form.
#[derive(Debug, Clone, Serialize)]
pub struct PresetField {
    /// The [`ProviderSpec`] member (`issuer`, `base_url`, …).
    pub name: &'static str,
    /// The CLI flag (`--issuer`).
    pub flag: &'static str,
    /// Label for people.
    pub label: &'static str,
    /// What to type, with an example.
    pub hint: &'static str,
    /// The preset cannot work without it.
    pub required: bool,
    /// The value is a URL.
    pub url: bool,
}

/// A provider preset as a form shows it: its settings and its quirks that matter to a person.
#[derive(Debug, Clone, Serialize)]
pub struct PresetView {
    /// Stored name (`entra`).
    pub id: &'static str,
    /// Name for people.
    pub name: &'static str,
    /// Only loopback redirects work.
    pub loopback_only: bool,
    /// The client secret is required.
    pub client_secret_required: bool,
    /// A fixed loopback port is required.
    pub exact_redirect_port: bool,
    /// Notes for people.
    pub notes: Vec<&'static str>,
    /// The settings the preset takes, required ones first.
    pub fields: Vec<PresetField>,
}

impl Preset {
    /// The settings this preset takes, required ones first.
    pub fn fields(self) -> Vec<PresetField> {
        let (required, optional) = fields(self);
        let describe = |f: &Field, required: bool| PresetField {
            name: f.name(),
            flag: f.flag(),
            label: f.label(),
            hint: f.hint(self),
            required,
            url: f.is_url(),
        };
        required
            .iter()
            .map(|f| describe(f, true))
            .chain(optional.iter().map(|f| describe(f, false)))
            .collect()
    }

    /// This preset for a form.
    pub fn view(self) -> PresetView {
        let q = self.quirks();
        PresetView {
            id: self.as_str(),
            name: self.display_name(),
            loopback_only: q.loopback_only,
            client_secret_required: q.client_secret_required,
            exact_redirect_port: q.exact_redirect_port,
            notes: q.notes.to_vec(),
            fields: self.fields(),
        }
    }
}

/// Every preset for a form, in the order of [`Preset::all`].
pub fn preset_views() -> Vec<PresetView> {
    Preset::all().iter().map(|p| p.view()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_a_preset_accepts_is_described_for_forms() {
        let manual = Preset::Manual.fields();
        let names: Vec<_> = manual.iter().map(|f| (f.name, f.required)).collect();
        assert_eq!(
            names,
            vec![
                ("auth_url", true),
                ("token_url", true),
                ("revocation_url", false),
                ("userinfo_url", false),
                ("device_url", false),
            ]
        );
        assert!(manual.iter().all(|f| f.url && f.flag.starts_with("--")));
        // The names are the ProviderSpec members: a spec built from them parses.
        let spec: ProviderSpec = serde_json::from_value(serde_json::json!({
            "preset": "manual",
            "auth_url": "https://a.example/auth",
            "token_url": "https://a.example/token",
            "device_url": "https://a.example/device",
        }))
        .unwrap();
        assert!(check_fields(&spec).is_ok());
        for view in preset_views() {
            for f in &view.fields {
                assert!(Field::ALL.iter().any(|x| x.name() == f.name), "{}", f.name);
            }
        }
        assert!(Preset::Keycloak.fields().iter().all(|f| f.required));
        assert_eq!(preset_views().len(), Preset::all().len());
    }
}
