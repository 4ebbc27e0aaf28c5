//! The one rule for "is this the provider's issuer", used by discovery (the published
//! `issuer` against the expected one), the authorization response's `iss` (RFC 9207) and the
//! id_token's `iss` claim.
//!
//! Two spellings match when they are equal ignoring one trailing `/` (`Url` cannot tell
//! `https://host` from `https://host/`). A templated issuer (Entra's
//! `https://login.microsoftonline.com/{tenantid}/v2.0`) matches an issuer that fills
//! `{tenantid}` with one tenant GUID; when the tenant is known ([`Tenant::Claimed`], the
//! id_token's `tid`), it must be exactly that tenant.

/// What is known about the tenant of the response being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenant<'a> {
    /// Nothing names a tenant (discovery, an authorization response): a templated issuer
    /// matches any tenant. The id_token check that follows a sign-in binds it.
    Unknown,
    /// The id_token's `tid` claim (`None`: the claim is missing, so a templated issuer fails).
    Claimed(Option<&'a str>),
}

/// True if `got` is the issuer `expected` (or fills `template`, for `tenant`). See the module
/// docs.
pub fn issuer_matches(
    got: &str,
    expected: &str,
    template: Option<&str>,
    tenant: Tenant<'_>,
) -> bool {
    if same_spelling(got, expected) {
        return true;
    }
    let Some(template) = template else {
        return false;
    };
    if !matches_template(got, template) {
        return false;
    }
    match tenant {
        Tenant::Unknown => true,
        Tenant::Claimed(Some(tid)) => got == template.replace("{tenantid}", tid),
        Tenant::Claimed(None) => false,
    }
}

/// Equal, ignoring one trailing `/` on either side.
fn same_spelling(a: &str, b: &str) -> bool {
    a.strip_suffix('/').unwrap_or(a) == b.strip_suffix('/').unwrap_or(b)
}

/// True if `iss` matches `template`, where `{tenantid}` stands for one path segment of
/// hex digits and dashes (a tenant GUID).
pub fn matches_template(iss: &str, template: &str) -> bool {
    let Some((prefix, suffix)) = template.split_once("{tenantid}") else {
        return iss == template;
    };
    let Some(rest) = iss.strip_prefix(prefix) else {
        return false;
    };
    let Some(tenant) = rest.strip_suffix(suffix) else {
        return false;
    };
    !tenant.is_empty()
        && tenant.len() <= 64
        && tenant.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const ISS: &str = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";

    #[test]
    fn trailing_slash_is_the_only_difference_allowed() {
        let m = |a, b| issuer_matches(a, b, None, Tenant::Unknown);
        assert!(m("https://a.example", "https://a.example/"));
        assert!(m("https://a.example/x/", "https://a.example/x"));
        assert!(!m("https://a.example/x", "https://a.example/y"));
        assert!(!m("https://a.example", "https://b.example"));
        assert!(!m("https://a.example/x", "https://a.example/x//"));
    }

    #[test]
    fn templated_issuers_bind_the_tenant_when_it_is_known() {
        assert!(issuer_matches(ISS, T, Some(T), Tenant::Unknown));
        assert!(issuer_matches(
            ISS,
            T,
            Some(T),
            Tenant::Claimed(Some("9188040d-6c67-4c5b-b112-36a304b66dad"))
        ));
        assert!(!issuer_matches(
            ISS,
            T,
            Some(T),
            Tenant::Claimed(Some("00000000-0000-0000-0000-000000000000"))
        ));
        assert!(!issuer_matches(ISS, T, Some(T), Tenant::Claimed(None)));
        assert!(!issuer_matches(
            "https://evil.example/9188040d/v2.0",
            T,
            Some(T),
            Tenant::Unknown
        ));
        assert!(
            !issuer_matches(ISS, T, None, Tenant::Unknown),
            "no template, no match"
        );
    }
}
