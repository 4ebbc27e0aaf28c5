//! The one HTTP client of the core.
//!
//! A thin wrapper over `reqwest` (rustls, the operating system's certificate store through
//! `rustls-platform-verifier`, proxies from `HTTPS_PROXY`/`NO_PROXY`), with timeouts, redirects
//! off (a token endpoint that redirects is an error, not something to follow) and a cap on
//! response size. Transport failures become [`Error::Unreachable`]; callers interpret statuses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use url::Url;

use crate::dpop::{DpopKey, ProofInput};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Largest response body accepted (discovery documents, JWKS, token responses).
pub const MAX_BODY: usize = 1024 * 1024;

/// Largest response body accepted from a resource server (`latchkey request`).
pub const MAX_RESOURCE_BODY: usize = 64 * 1024 * 1024;

/// An HTTP response, fully read.
#[derive(Debug, Clone)]
pub struct Response {
    /// The URL requested (query removed), for messages.
    pub url: String,
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body bytes (at most [`MAX_BODY`]).
    pub body: Vec<u8>,
}

impl Response {
    /// The media type without parameters, lower-case.
    pub fn content_type(&self) -> String {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// True if the body is (probably) JSON.
    pub fn looks_like_json(&self) -> bool {
        let ct = self.content_type();
        ct == "application/json" || ct.ends_with("+json") || {
            let first = self.body.iter().find(|b| !b.is_ascii_whitespace());
            first == Some(&b'{')
        }
    }

    /// A short, safe description of a non-JSON body (an HTML error page's title, or its first
    /// characters). Only use for error responses: never for a successful token response.
    pub fn error_page_summary(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let lower = text.to_ascii_lowercase();
        if let (Some(a), Some(b)) = (lower.find("<title>"), lower.find("</title>"))
            && b > a + 7
        {
            return format!(
                "an HTML page titled \"{}\"",
                crate::text::clean(&text[a + 7..b], crate::text::MAX_SNIPPET)
            );
        }
        let ct = crate::text::clean(&self.content_type(), crate::text::MAX_SNIPPET);
        let snippet = crate::text::clean(&text, crate::text::MAX_SNIPPET);
        if snippet.trim().is_empty() {
            format!(
                "an empty {} body",
                if ct.is_empty() { "untyped" } else { &ct }
            )
        } else {
            format!(
                "a {} body starting \"{}\"",
                if ct.is_empty() { "untyped" } else { &ct },
                snippet.trim()
            )
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// Public client: `client_id` in the form.
    None {
        /// The client id.
        client_id: String,
    },
    /// `client_secret_basic` (RFC 6749 §2.3.1).
    Basic {
        /// The client id.
        client_id: String,
        /// The client secret.
        secret: Secret,
    },
    /// `client_secret_post`.
    Post {
        /// The client id.
        client_id: String,
        /// The client secret.
        secret: Secret,
    },
}

/// Strips query and fragment for messages and logs.
pub fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// The core's HTTP client. Cheap to clone. The underlying client (TLS set-up, certificate
/// store) is built on first use, so commands that never touch the network (`latchkey token`
/// with a fresh token) do not pay for it.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Arc<LazyClient>,
}

#[derive(Debug)]
struct LazyClient {
    timeout: Duration,
    client: OnceLock<std::result::Result<reqwest::Client, String>>,
    /// The latest `DPoP-Nonce` per origin (RFC 9449 §8/§9), for this process.
    nonces: Mutex<HashMap<String, String>>,
}

/// A request to a resource server made with an account's access token (`latchkey request`).
#[derive(Debug, Clone)]
pub struct ResourceRequest {
    /// HTTP method (`GET`, `POST`, …).
    pub method: String,
    /// The URL (https, or http on a loopback host).
    pub url: Url,
    /// Extra headers (`Authorization` and `DPoP` are set by Latchkey and refused here).
    pub headers: Vec<(String, String)>,
    /// The request body, if any.
    pub body: Option<Vec<u8>>,
}

/// The access token to present to a resource server.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// The access token.
    pub token: &'a Secret,
    /// `Bearer` or `DPoP`.
    pub token_type: &'a str,
    /// The account's DPoP key (required when `token_type` is `DPoP`).
    pub dpop: Option<&'a DpopKey>,
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// True if a `WWW-Authenticate` challenge (or an OAuth error body) says `use_dpop_nonce`.
pub fn asks_for_nonce(resp: &Response) -> bool {
    let in_header = resp
        .headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("use_dpop_nonce"));
    in_header
        || (resp.looks_like_json()
            && serde_json::from_slice::<serde_json::Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .is_some_and(|e| e == "use_dpop_nonce"))
}

/// Timeout for a whole request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl HttpClient {
    /// Builds the client.
    pub fn new() -> Result<Self> {
        Self::with_timeout(REQUEST_TIMEOUT)
    }

    /// Builds the client with a custom overall timeout.
    pub fn with_timeout(timeout: Duration) -> Result<Self> {
        Ok(HttpClient {
            inner: Arc::new(LazyClient {
                timeout,
                client: OnceLock::new(),
                nonces: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn client(&self) -> Result<&reqwest::Client> {
        self.inner
            .client
            .get_or_init(|| build_client(self.inner.timeout))
            .as_ref()
            .map_err(|e| Error::Other(format!("cannot set up HTTPS: {e}")))
    }

    async fn send(&self, url: &Url, req: reqwest::RequestBuilder) -> Result<Response> {
        self.send_limited(url, req, MAX_BODY).await
    }

    /// The latest `DPoP-Nonce` this process saw from the URL's origin.
    pub fn dpop_nonce(&self, url: &Url) -> Option<String> {
        let map = match self.inner.nonces.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.get(&origin_of(url)).cloned()
    }

    /// Remembers the response's `DPoP-Nonce` for its origin; returns it if there was one.
    fn remember_nonce(&self, url: &Url, resp: &Response) -> Option<String> {
        let nonce = resp
            .headers
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)?;
        let mut map = match self.inner.nonces.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.insert(origin_of(url), nonce.clone());
        Some(nonce)
    }

    async fn send_limited(
        &self,
        url: &Url,
        req: reqwest::RequestBuilder,
        limit: usize,
    ) -> Result<Response> {
        let shown = display_url(url);
        let resp = req.send().await.map_err(|e| Error::Unreachable {
            url: shown.clone(),
            detail: describe_transport_error(&e),
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        let mut resp = resp;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Err(Error::BadResponse {
                            url: shown,
                            status,
                            detail: format!("response larger than {limit} bytes"),
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Error::Unreachable {
                        url: shown,
                        detail: describe_transport_error(&e),
                    });
                }
            }
        }
        Ok(Response {
            url: shown,
            status,
            headers,
            body,
        })
    }

    /// GET, optionally with a bearer token, accepting JSON.
    pub async fn get(&self, url: &Url, bearer: Option<&Secret>) -> Result<Response> {
        let mut req = self
            .client()?
            .get(url.clone())
            .header(ACCEPT, "application/json");
        if let Some(token) = bearer {
            req = req.bearer_auth(token.expose());
        }
        self.send(url, req).await
    }

    /// GET with extra headers.
    pub async fn get_with(
        &self,
        url: &Url,
        bearer: Option<&Secret>,
        extra: &[(&str, &str)],
    ) -> Result<Response> {
        let mut req = self.client()?.get(url.clone());
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if let Some(token) = bearer {
            req = req.bearer_auth(token.expose());
        }
        self.send(url, req).await
    }

    /// POST a form with client authentication, accepting JSON.
    pub async fn post_form(
        &self,
        url: &Url,
        auth: &ClientAuth,
        params: &[(&str, &str)],
    ) -> Result<Response> {
        self.post_form_dpop(url, auth, params, None).await
    }

    /// POST a form with client authentication and, with a key, a DPoP proof. When the server
    /// answers `use_dpop_nonce` (HTTP 400 with a new `DPoP-Nonce`), retries once with it.
    pub async fn post_form_dpop(
        &self,
        url: &Url,
        auth: &ClientAuth,
        params: &[(&str, &str)],
        dpop: Option<&DpopKey>,
    ) -> Result<Response> {
        let mut retried = false;
        loop {
            let nonce = dpop.and_then(|_| self.dpop_nonce(url));
            let proof = match dpop {
                Some(key) => Some(key.proof(&ProofInput {
                    method: "POST",
                    url,
                    nonce: nonce.as_deref(),
                    access_token: None,
                    now: unix_now(),
                })?),
                None => None,
            };
            let resp = self
                .post_form_once(url, auth, params, proof.as_deref())
                .await?;
            let fresh = self.remember_nonce(url, &resp);
            if dpop.is_some()
                && !retried
                && resp.status == 400
                && fresh.is_some()
                && fresh != nonce
                && asks_for_nonce(&resp)
            {
                tracing::debug!(url = %resp.url, "server asked for a DPoP nonce; retrying once");
                retried = true;
                continue;
            }
            return Ok(resp);
        }
    }

    async fn post_form_once(
        &self,
        url: &Url,
        auth: &ClientAuth,
        params: &[(&str, &str)],
        proof: Option<&str>,
    ) -> Result<Response> {
        let mut form: Vec<(&str, &str)> = params.to_vec();
        let mut req = self
            .client()?
            .post(url.clone())
            .header(ACCEPT, "application/json");
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        match auth {
            ClientAuth::None { client_id } => form.push(("client_id", client_id)),
            ClientAuth::Basic { client_id, secret } => {
                // RFC 6749 §2.3.1: form-urlencode id and secret before base64.
                let id = form_urlencode(client_id);
                let pw = form_urlencode(secret.expose());
                req = req.basic_auth(id, Some(pw));
            }
            ClientAuth::Post { client_id, secret } => {
                form.push(("client_id", client_id));
                form.push(("client_secret", secret.expose()));
            }
        }
        let req = req.form(&form);
        self.send(url, req).await
    }

    /// Makes a request to a resource server with an access token: `Authorization: Bearer`, or
    /// `Authorization: DPoP` plus a proof with `ath`. A 401 asking for a DPoP nonce
    /// (`WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header) is retried
    /// once with it. Any other status is returned as is, for the caller to show.
    pub async fn resource_request(
        &self,
        request: &ResourceRequest,
        presented: Presented<'_>,
    ) -> Result<Response> {
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                Error::InvalidInput(format!("`{}` is not an HTTP method", request.method))
            })?;
        let dpop_bound = presented.token_type.eq_ignore_ascii_case("dpop");
        let key = match (dpop_bound, presented.dpop) {
            (true, Some(k)) => Some(k),
            (true, None) => {
                return Err(Error::Other(
                    "the token is DPoP-bound but the account has no DPoP key".into(),
                ));
            }
            (false, _) => None,
        };
        let url = &request.url;
        let mut retried = false;
        loop {
            let mut req = self.client()?.request(method.clone(), url.clone());
            for (k, v) in &request.headers {
                if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("dpop") {
                    return Err(Error::InvalidInput(format!(
                        "`latchkey request` sets the `{k}` header itself; leave it out"
                    )));
                }
                let name = reqwest::header::HeaderName::from_bytes(k.trim().as_bytes())
                    .map_err(|_| Error::InvalidInput(format!("`{k}` is not a header name")))?;
                let value = HeaderValue::from_str(v.trim()).map_err(|_| {
                    Error::InvalidInput(format!("the value of header `{k}` is not valid"))
                })?;
                req = req.header(name, value);
            }
            let nonce = key.and_then(|_| self.dpop_nonce(url));
            match key {
                Some(k) => {
                    let proof = k.proof(&ProofInput {
                        method: method.as_str(),
                        url,
                        nonce: nonce.as_deref(),
                        access_token: Some(presented.token),
                        now: unix_now(),
                    })?;
                    req = req
                        .header(
                            reqwest::header::AUTHORIZATION,
                            format!("DPoP {}", presented.token.expose()),
                        )
                        .header("DPoP", proof);
                }
                None => req = req.bearer_auth(presented.token.expose()),
            }
            if let Some(body) = &request.body {
                req = req.body(body.clone());
            }
            let resp = self.send_limited(url, req, MAX_RESOURCE_BODY).await?;
            let fresh = self.remember_nonce(url, &resp);
            if key.is_some()
                && !retried
                && resp.status == 401
                && fresh.is_some()
                && fresh != nonce
                && asks_for_nonce(&resp)
            {
                tracing::debug!(url = %resp.url, "resource server asked for a DPoP nonce; retrying once");
                retried = true;
                continue;
            }
            return Ok(resp);
        }
    }
}

fn build_client(timeout: Duration) -> std::result::Result<reqwest::Client, String> {
    // rustls needs a process-wide crypto provider; ignore "already installed".
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = HeaderMap::new();
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("latchkey/", env!("CARGO_PKG_VERSION"))),
    );
    let tls = crate::tls::client_config().map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())
}

fn form_urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn describe_transport_error(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if e.is_timeout() {
        "the request timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "the connection failed".to_string()
    };
    let mut source = e.source();
    let mut last = String::new();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    if !last.is_empty() {
        text.push_str(&format!(" ({last})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(ct: &str, body: &str) -> Response {
        let mut headers = HeaderMap::new();
        if !ct.is_empty() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        Response {
            url: "https://x/".into(),
            status: 500,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn summaries_of_error_pages() {
        let r = resp(
            "text/html; charset=utf-8",
            "<html><head><title>502 Bad Gateway</title></head></html>",
        );
        assert_eq!(
            r.error_page_summary(),
            "an HTML page titled \"502 Bad Gateway\""
        );
        assert!(!r.looks_like_json());
        let r = resp("", "  {\"error\":\"x\"}");
        assert!(r.looks_like_json());
        assert_eq!(
            resp("text/plain", "").error_page_summary(),
            "an empty text/plain body"
        );
    }

    #[test]
    fn display_url_drops_query() {
        let u = Url::parse("https://a.example/cb?code=secret#frag").unwrap();
        assert_eq!(display_url(&u), "https://a.example/cb");
    }
}
