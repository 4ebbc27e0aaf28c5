//! Discovery documents: where to fetch them (OpenID Connect Discovery 1.0 §4, RFC 8414 §3.1) and
//! the checks a fetched document must pass before Latchkey uses any of its endpoints.
//!
//! Everything here is pure: the caller does the HTTP and hands over the body. Problems are
//! returned as a plain sentence; [`super::ProviderSpec::from_document`] wraps it into an
//! [`crate::Error::BadResponse`] naming the URL the document came from.

use serde_json::{Map, Value};
use url::{Host, Url};

use super::Endpoints;

/// The largest discovery document Latchkey accepts (1 MiB). Real documents are a few KiB; the
/// caller should stop reading the body past this size.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// The OpenID Connect Discovery URL of `issuer`: `/.well-known/openid-configuration` appended to
/// the issuer (OpenID Connect Discovery 1.0 §4.1), e.g.
/// `https://sso.example.com/realms/main/.well-known/openid-configuration`.
pub fn oidc_discovery_url(issuer: &str) -> Result<Url, url::ParseError> {
    Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
}

/// The RFC 8414 metadata URL of `issuer`: the well-known segment goes between the host and the
/// issuer's path (RFC 8414 §3.1), e.g. `https://host/.well-known/oauth-authorization-server/tenant1`
/// for the issuer `https://host/tenant1`.
pub fn oauth_metadata_url(issuer: &str) -> Result<Url, url::ParseError> {
    let mut url = Url::parse(issuer)?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Whether `url` points at this machine: `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks that `url` may carry tokens or codes: `https`, or plain `http` to a loopback host
/// (a provider running on this machine, e.g. a test Keycloak). No fragment, and a host.
pub(super) fn check_transport(url: &Url) -> Result<(), String> {
    if url.host().is_none() {
        return Err(format!("{url} has no host"));
    }
    if url.fragment().is_some() {
        return Err(format!("{url} must not have a #fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "{url} uses plain http; https is required (http is only accepted for localhost, 127.0.0.1 and ::1)"
        )),
        other => Err(format!("{url} has the scheme `{other}`; https is required")),
    }
}

/// Issuer identifiers match when they are equal after dropping at most one trailing `/` from
/// each. (`Url` cannot tell `https://host` from `https://host/`, so an `--issuer` typed either way
/// must match a document that spells it either way; the document's exact spelling is what is
/// stored and later compared with id_token `iss` claims.)
pub(super) fn same_issuer(a: &str, b: &str) -> bool {
    crate::issuer::issuer_matches(a, b, None, crate::issuer::Tenant::Unknown)
}

/// A discovery document that passed the checks that do not depend on the preset.
#[derive(Debug)]
pub(super) struct Document {
    /// The `issuer` value, exactly as published.
    pub issuer: String,
    /// The endpoints and capabilities; the issuer fields are still empty (the preset's issuer
    /// rule fills them).
    pub endpoints: Endpoints,
}

/// Parses and checks a discovery document (OpenID Connect Discovery or RFC 8414 metadata).
///
/// Checks: at most [`MAX_DOCUMENT_BYTES`]; a JSON object; a string `issuer` that is an https (or
/// loopback http) URL without query or fragment; `authorization_endpoint` and `token_endpoint`
/// present; every endpoint a URL passing [`check_transport`]; `code_challenge_methods_supported`,
/// when present, lists `S256`; `require_pushed_authorization_requests` comes with a PAR endpoint.
/// Unknown members are ignored, and so is everything Latchkey does not use (e.g.
/// `response_types_supported`).
pub(super) fn parse_document(body: &[u8]) -> Result<Document, String> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "the document is {} bytes; discovery documents larger than {MAX_DOCUMENT_BYTES} bytes are refused",
            body.len()
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the document is not valid JSON ({e})"))?;
    let Value::Object(doc) = value else {
        return Err("the document is not a JSON object".into());
    };

    let issuer = string_member(&doc, "issuer")?
        .ok_or("the document has no `issuer`; it is not OpenID Connect or RFC 8414 metadata")?;
    let issuer_url =
        Url::parse(&issuer).map_err(|e| format!("`issuer` ({issuer}) is not a URL ({e})"))?;
    check_transport(&issuer_url).map_err(|e| format!("`issuer`: {e}"))?;
    if issuer_url.query().is_some() {
        return Err(format!("`issuer` ({issuer}) must not have a ?query"));
    }

    let authorization = endpoint_member(&doc, "authorization_endpoint")?
        .ok_or("the document has no `authorization_endpoint`")?;
    let token =
        endpoint_member(&doc, "token_endpoint")?.ok_or("the document has no `token_endpoint`")?;

    let code_challenge_methods = list_member(&doc, "code_challenge_methods_supported")?;
    if let Some(methods) = &code_challenge_methods
        && !methods.iter().any(|m| m == "S256")
    {
        return Err(format!(
            "the provider does not support PKCE with S256 (code_challenge_methods_supported is {methods:?}); Latchkey requires S256"
        ));
    }

    let pushed_authorization_request =
        endpoint_member(&doc, "pushed_authorization_request_endpoint")?;
    let require_par = bool_member(&doc, "require_pushed_authorization_requests")?.unwrap_or(false);
    if require_par && pushed_authorization_request.is_none() {
        return Err(
            "`require_pushed_authorization_requests` is true but there is no `pushed_authorization_request_endpoint`".into(),
        );
    }

    let endpoints = Endpoints {
        issuer: None,
        issuer_as_published: None,
        issuer_is_template: false,
        authorization: Some(authorization),
        token,
        revocation: endpoint_member(&doc, "revocation_endpoint")?,
        introspection: endpoint_member(&doc, "introspection_endpoint")?,
        userinfo: endpoint_member(&doc, "userinfo_endpoint")?,
        jwks_uri: endpoint_member(&doc, "jwks_uri")?,
        device_authorization: endpoint_member(&doc, "device_authorization_endpoint")?,
        pushed_authorization_request,
        require_pushed_authorization_requests: require_par,
        end_session: endpoint_member(&doc, "end_session_endpoint")?,
        id_token_signing_algs: list_member(&doc, "id_token_signing_alg_values_supported")?
            .unwrap_or_default(),
        dpop_signing_algs: list_member(&doc, "dpop_signing_alg_values_supported")?
            .unwrap_or_default(),
        code_challenge_methods: code_challenge_methods.unwrap_or_default(),
        scopes_supported: list_member(&doc, "scopes_supported")?.unwrap_or_default(),
        grant_types_supported: list_member(&doc, "grant_types_supported")?.unwrap_or_default(),
        authorization_response_iss_parameter_supported: bool_member(
            &doc,
            "authorization_response_iss_parameter_supported",
        )?
        .unwrap_or(false),
    };
    Ok(Document { issuer, endpoints })
}

/// A string member; `null` counts as absent.
fn string_member(doc: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

/// An endpoint member: a URL that passes [`check_transport`].
fn endpoint_member(doc: &Map<String, Value>, name: &str) -> Result<Option<Url>, String> {
    let Some(raw) = string_member(doc, name)? else {
        return Ok(None);
    };
    let url = Url::parse(&raw).map_err(|e| format!("`{name}` ({raw}) is not a URL ({e})"))?;
    check_transport(&url).map_err(|e| format!("`{name}`: {e}"))?;
    Ok(Some(url))
}

/// An array-of-strings member.
fn list_member(doc: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, String> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(format!("`{name}` contains a value that is not a string")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("`{name}` is not an array")),
    }
}

/// A boolean member.
fn bool_member(doc: &Map<String, Value>, name: &str) -> Result<Option<bool>, String> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("`{name}` is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn oidc_url_is_appended_to_the_issuer() {
        assert_eq!(
            oidc_discovery_url("https://accounts.google.com")
                .unwrap()
                .as_str(),
            "https://accounts.google.com/.well-known/openid-configuration"
        );
        // Auth0 issuers end with a slash: no double slash.
        assert_eq!(
            oidc_discovery_url("https://dev-1.us.auth0.com/")
                .unwrap()
                .as_str(),
            "https://dev-1.us.auth0.com/.well-known/openid-configuration"
        );
        assert_eq!(
            oidc_discovery_url("https://sso.example.com/realms/main")
                .unwrap()
                .as_str(),
            "https://sso.example.com/realms/main/.well-known/openid-configuration"
        );
    }

    #[test]
    fn rfc8414_url_inserts_the_well_known_segment_before_the_issuer_path() {
        assert_eq!(
            oauth_metadata_url("https://host.example/path")
                .unwrap()
                .as_str(),
            "https://host.example/.well-known/oauth-authorization-server/path"
        );
        assert_eq!(
            oauth_metadata_url("https://host.example/a/b/")
                .unwrap()
                .as_str(),
            "https://host.example/.well-known/oauth-authorization-server/a/b"
        );
        assert_eq!(
            oauth_metadata_url("https://host.example").unwrap().as_str(),
            "https://host.example/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            oauth_metadata_url("http://127.0.0.1:8080/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn loopback_hosts() {
        for ok in [
            "http://localhost:1/",
            "http://LOCALHOST/",
            "http://127.0.0.1/",
            "http://127.3.4.5:9/",
            "http://[::1]:8080/",
        ] {
            assert!(is_loopback(&url(ok)), "{ok}");
            assert!(check_transport(&url(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/",
            "http://10.0.0.1/",
            "http://localhost.example.com/",
            "http://[::2]/",
        ] {
            assert!(!is_loopback(&url(bad)), "{bad}");
            let err = check_transport(&url(bad)).unwrap_err();
            assert!(err.contains("https is required"), "{err}");
        }
        assert!(check_transport(&url("https://example.com/")).is_ok());
        assert!(check_transport(&url("ftp://example.com/")).is_err());
        assert!(check_transport(&url("https://example.com/#x")).is_err());
    }

    #[test]
    fn issuer_comparison_tolerates_one_trailing_slash_only() {
        assert!(same_issuer("https://a.example", "https://a.example/"));
        assert!(same_issuer("https://a.example/x/", "https://a.example/x"));
        assert!(!same_issuer("https://a.example/x", "https://a.example/y"));
        assert!(!same_issuer("https://a.example", "https://b.example"));
        assert!(!same_issuer("https://a.example/x", "https://a.example/x//"));
    }

    fn minimal(extra: &str) -> String {
        format!(
            r#"{{"issuer":"https://as.example","authorization_endpoint":"https://as.example/authorize","token_endpoint":"https://as.example/token"{extra}}}"#
        )
    }

    #[test]
    fn minimal_document_parses_and_ignores_unknown_members() {
        let doc = parse_document(
            minimal(r#","x_unknown":{"a":[1,2]},"response_types_supported":5"#).as_bytes(),
        )
        .unwrap();
        assert_eq!(doc.issuer, "https://as.example");
        assert_eq!(doc.endpoints.token.as_str(), "https://as.example/token");
        assert!(doc.endpoints.code_challenge_methods.is_empty());
        assert!(!doc.endpoints.require_pushed_authorization_requests);
    }

    #[test]
    fn document_must_be_a_json_object() {
        assert!(
            parse_document(b"[1,2]")
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(
            parse_document(b"<html>")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn document_size_is_limited() {
        let mut big = minimal(r#","pad":""#).into_bytes();
        big.truncate(big.len() - 2);
        big.extend(std::iter::repeat_n(b'a', MAX_DOCUMENT_BYTES));
        big.extend(br#""}"#);
        assert!(parse_document(&big).unwrap_err().contains("larger than"));
    }

    #[test]
    fn required_members() {
        let no_token =
            r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/a"}"#;
        assert!(
            parse_document(no_token.as_bytes())
                .unwrap_err()
                .contains("token_endpoint")
        );
        let no_auth = r#"{"issuer":"https://as.example","token_endpoint":"https://as.example/t"}"#;
        assert!(
            parse_document(no_auth.as_bytes())
                .unwrap_err()
                .contains("authorization_endpoint")
        );
        let no_issuer = r#"{"authorization_endpoint":"https://as.example/a","token_endpoint":"https://as.example/t"}"#;
        assert!(
            parse_document(no_issuer.as_bytes())
                .unwrap_err()
                .contains("`issuer`")
        );
    }

    #[test]
    fn wrong_member_types_are_named() {
        let err = parse_document(minimal(r#","jwks_uri":42"#).as_bytes()).unwrap_err();
        assert!(err.contains("`jwks_uri` is not a string"), "{err}");
        let err =
            parse_document(minimal(r#","scopes_supported":"openid""#).as_bytes()).unwrap_err();
        assert!(err.contains("`scopes_supported` is not an array"), "{err}");
        let err =
            parse_document(minimal(r#","userinfo_endpoint":"not a url""#).as_bytes()).unwrap_err();
        assert!(err.contains("`userinfo_endpoint`"), "{err}");
    }

    #[test]
    fn http_endpoint_is_refused_unless_loopback() {
        let err = parse_document(minimal(r#","jwks_uri":"http://as.example/jwks""#).as_bytes())
            .unwrap_err();
        assert!(
            err.contains("`jwks_uri`") && err.contains("plain http"),
            "{err}"
        );
        let doc = r#"{"issuer":"http://127.0.0.1:8080","authorization_endpoint":"http://127.0.0.1:8080/authorize","token_endpoint":"http://127.0.0.1:8080/token"}"#;
        assert!(parse_document(doc.as_bytes()).is_ok());
        let doc = r#"{"issuer":"http://as.example","authorization_endpoint":"https://as.example/authorize","token_endpoint":"https://as.example/token"}"#;
        assert!(
            parse_document(doc.as_bytes())
                .unwrap_err()
                .contains("`issuer`")
        );
    }

    #[test]
    fn missing_s256_is_refused() {
        let err =
            parse_document(minimal(r#","code_challenge_methods_supported":["plain"]"#).as_bytes())
                .unwrap_err();
        assert!(err.contains("PKCE with S256"), "{err}");
        let ok = parse_document(
            minimal(r#","code_challenge_methods_supported":["plain","S256"]"#).as_bytes(),
        )
        .unwrap();
        assert_eq!(ok.endpoints.code_challenge_methods, ["plain", "S256"]);
    }

    #[test]
    fn required_par_without_endpoint_is_refused() {
        let err =
            parse_document(minimal(r#","require_pushed_authorization_requests":true"#).as_bytes())
                .unwrap_err();
        assert!(
            err.contains("pushed_authorization_request_endpoint"),
            "{err}"
        );
        let ok = parse_document(
            minimal(r#","require_pushed_authorization_requests":true,"pushed_authorization_request_endpoint":"https://as.example/par""#)
                .as_bytes(),
        )
        .unwrap();
        assert!(ok.endpoints.require_pushed_authorization_requests);
    }

    #[test]
    fn issuer_with_query_is_refused() {
        let doc = r#"{"issuer":"https://as.example/?x=1","authorization_endpoint":"https://as.example/a","token_endpoint":"https://as.example/t"}"#;
        assert!(
            parse_document(doc.as_bytes())
                .unwrap_err()
                .contains("?query")
        );
    }
}
