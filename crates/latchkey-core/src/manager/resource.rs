//! Using a token: requests to resource servers and RFC 7662 introspection.

use super::*;

/// An RFC 7662 introspection answer (the fields Latchkey shows; others are kept in `extra`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Introspection {
    /// Whether the provider considers the token active.
    pub active: bool,
    /// Granted scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `Bearer` or `DPoP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Human-readable user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Every other member of the answer.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl LoginManager {
    /// Makes an HTTP request with the account's access token (fresh, refreshed if needed):
    /// `Authorization: Bearer`, or `DPoP` with a proof for DPoP-bound tokens. On a 401 whose
    /// `WWW-Authenticate` says `invalid_token`, the token is refreshed once and the request
    /// retried. The response is returned whatever its status. The token never leaves the
    /// process except in this request's headers.
    pub async fn request(&self, name: &str, request: ResourceRequest) -> Result<Response> {
        self.request_with(name, &crate::target::TokenSpec::default(), request)
            .await
    }

    /// [`Self::request`] with a token for exactly `spec` ([`Self::token_for`]; `latchkey
    /// request --scope/--resource/--audience`).
    pub async fn request_with(
        &self,
        name: &str,
        spec: &crate::target::TokenSpec,
        request: ResourceRequest,
    ) -> Result<Response> {
        if !crate::rules::endpoint_allowed(&request.url) {
            return Err(Error::InvalidInput(format!(
                "refusing to send a token to {}: use https (plain http only to 127.0.0.1/localhost)",
                crate::http::display_url(&request.url)
            )));
        }
        let account = self.account(name)?;
        let token = self.token_for(name, spec, TokenOptions::default()).await?;
        let key = self.dpop_key(&account).await?;
        let resp = self
            .opts
            .http
            .resource_request(
                &request,
                Presented {
                    token: &token.token,
                    token_type: &token.token_type,
                    dpop: key.as_ref(),
                },
            )
            .await?;
        let invalid_token = resp.status == 401
            && (resp
                .headers
                .get_all(reqwest::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("invalid_token"))
                || (resp.looks_like_json()
                    && serde_json::from_slice::<crate::oauth_error::OAuthErrorBody>(&resp.body)
                        .is_ok_and(|b| {
                            b.error == crate::oauth_error::OAuthErrorCode::InvalidToken
                        })));
        if !invalid_token {
            return Ok(resp);
        }
        tracing::info!(account = %name, "the resource server rejected the token (invalid_token); refreshing once");
        let fresh = self
            .token_for(
                name,
                spec,
                TokenOptions {
                    min_ttl: None,
                    force: true,
                },
            )
            .await?;
        self.opts
            .http
            .resource_request(
                &request,
                Presented {
                    token: &fresh.token,
                    token_type: &fresh.token_type,
                    dpop: key.as_ref(),
                },
            )
            .await
    }

    /// Asks the provider about the account's current access token (RFC 7662), authenticating
    /// as the account's client. The token is not refreshed first.
    pub async fn introspect(&self, name: &str) -> Result<Introspection> {
        let account = self.account(name)?;
        let Some(endpoint) = account.provider.endpoints.introspection.clone() else {
            return Err(Error::InvalidInput(format!(
                "the provider of `{name}` offers no token introspection (RFC 7662)"
            )));
        };
        let tokens = self
            .read_tokens(&account)
            .await?
            .ok_or_else(|| self.needs_sign_in_error(&account))?;
        let auth = self.client_auth(&account).await?;
        let resp = self
            .opts
            .http
            .post_form(
                &endpoint,
                &auth,
                &[
                    ("token", tokens.access_token.expose()),
                    ("token_type_hint", "access_token"),
                ],
            )
            .await?;
        let mut info: Introspection = interpret_json(&resp, &ErrorContext::default())?;
        // Provider text reaches the terminal: no control characters, bounded length.
        let clean = |v: &mut Option<String>, max: usize| {
            if let Some(s) = v.as_mut() {
                *s = crate::text::clean(s, max);
            }
        };
        clean(&mut info.scope, MAX_INTROSPECTED_SCOPE);
        for v in [
            &mut info.sub,
            &mut info.client_id,
            &mut info.token_type,
            &mut info.username,
        ] {
            clean(v, crate::text::MAX_IDENTITY);
        }
        Ok(info)
    }
}

/// The longest `scope` of an introspection answer that is shown (scopes can be many).
const MAX_INTROSPECTED_SCOPE: usize = 2000;
