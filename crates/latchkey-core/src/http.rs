//! The one HTTP client of the core.
//!
//! A thin wrapper over `reqwest` (rustls, the operating system's certificate store through
//! `rustls-platform-verifier`, proxies from `HTTPS_PROXY`/`NO_PROXY`), with timeouts, redirects
//! off (a token endpoint that redirects is an error, not something to follow) and a cap on
//! response size. Transport failures become [`Error::Unreachable`]; callers interpret statuses.
//!
//! The seam for tests: [`HttpClient`] builds each request completely (headers, client
//! authentication, form body, DPoP proof) as an [`HttpRequest`] and hands it to a [`Transport`].
//! Production uses [`ReqwestTransport`]; tests use [`testing::ScriptedTransport`] (feature
//! `test-support`), which records every request and answers from a script, so a test can assert
//! the exact outgoing request without a network.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
pub use reqwest::Method;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT,
};
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
    /// HTTP status code (callers interpret it; any status is `Ok`).
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body bytes (at most [`MAX_BODY`]).
    pub body: Vec<u8>,
}

impl Response {
    /// The headers as `(name, value)` text for people and for the agent's answer (values that
    /// are not UTF-8 are replaced lossily; parsers such as [`crate::challenge::parse`] take the
    /// bytes from [`Self::headers`] instead).
    pub fn header_lines(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect()
    }

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

/// A URL for messages and logs: without `user:password@`, query and fragment (any of which
/// may carry a secret).
pub fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    // Fails only for URLs that cannot have user-info (`mailto:`…), which then carry none.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// A fully built outgoing request: what a [`Transport`] sends and what tests assert. Its
/// `Debug` shows only the method and the URL without query: headers and body carry secrets.
#[derive(Clone)]
pub struct HttpRequest {
    /// HTTP method.
    pub method: Method,
    /// The URL.
    pub url: Url,
    /// Request headers (`Authorization` and `DPoP` included, marked sensitive).
    pub headers: HeaderMap,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// Largest response body the caller accepts.
    pub limit: usize,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &display_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl HttpRequest {
    fn new(method: Method, url: &Url, limit: usize) -> Self {
        HttpRequest {
            method,
            url: url.clone(),
            headers: HeaderMap::new(),
            body: None,
            limit,
        }
    }

    /// A header's value as text (first value), for tests and logs of non-secret headers.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body decoded as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_deref().unwrap_or_default())
            .into_owned()
            .collect()
    }

    /// The value of one form field.
    pub fn form_value(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    fn set_header(&mut self, name: HeaderName, value: &str, sensitive: bool) -> Result<()> {
        let mut v = HeaderValue::from_str(value).map_err(|_| {
            Error::InvalidInput(format!("the value of header `{name}` is not valid"))
        })?;
        v.set_sensitive(sensitive);
        self.headers.insert(name, v);
        Ok(())
    }

    fn bearer(&mut self, scheme: &str, token: &Secret) -> Result<()> {
        self.set_header(AUTHORIZATION, &format!("{scheme} {}", token.expose()), true)
            .map_err(|_| Error::Other("the access token cannot be sent in a header".into()))
    }
}

/// A boxed future, as [`Transport`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends a fully built [`HttpRequest`] and reads the whole response (at most
/// [`HttpRequest::limit`] bytes). Transport failures are [`Error::Unreachable`]; statuses are
/// the caller's business. Implementations: [`ReqwestTransport`], and
/// [`testing::ScriptedTransport`] for tests.
pub trait Transport: Send + Sync + 'static {
    /// Sends the request.
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<Response>>;
}

/// The production transport: `reqwest` with rustls. The client (TLS set-up, certificate store)
/// is built on first use, so commands that never touch the network (`latchkey token` with a
/// fresh token) do not pay for it.
#[derive(Debug)]
pub struct ReqwestTransport {
    timeout: Duration,
    client: OnceLock<std::result::Result<reqwest::Client, String>>,
}

impl ReqwestTransport {
    /// A transport whose requests time out after `timeout` in all.
    pub fn new(timeout: Duration) -> Self {
        ReqwestTransport {
            timeout,
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&reqwest::Client> {
        self.client
            .get_or_init(|| build_client(self.timeout))
            .as_ref()
            .map_err(|e| Error::Other(format!("cannot set up HTTPS: {e}")))
    }

    async fn send_inner(&self, request: HttpRequest) -> Result<Response> {
        let shown = display_url(&request.url);
        let limit = request.limit;
        let mut req = self
            .client()?
            .request(request.method, request.url)
            .headers(request.headers);
        if let Some(body) = request.body {
            req = req.body(body);
        }
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
}

impl Transport for ReqwestTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<Response>> {
        Box::pin(self.send_inner(request))
    }
}

/// The core's HTTP client. Cheap to clone. It builds requests (client authentication, DPoP
/// proofs, the nonce retry) and hands them to its [`Transport`].
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Shared>,
}

struct Shared {
    transport: Arc<dyn Transport>,
    /// The latest `DPoP-Nonce` per origin (RFC 9449 §8/§9), for this process.
    nonces: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
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
    pub token_type: &'a crate::token_type::TokenType,
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
            && serde_json::from_slice::<crate::oauth_error::OAuthErrorBody>(&resp.body)
                .is_ok_and(|b| b.error == crate::oauth_error::OAuthErrorCode::UseDpopNonce))
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
        Ok(Self::with_transport(Arc::new(ReqwestTransport::new(
            timeout,
        ))))
    }

    /// A client over any transport (tests: [`testing::ScriptedTransport`]).
    pub fn with_transport(transport: Arc<dyn Transport>) -> Self {
        HttpClient {
            inner: Arc::new(Shared {
                transport,
                nonces: Mutex::new(HashMap::new()),
            }),
        }
    }

    async fn send(&self, request: HttpRequest) -> Result<Response> {
        self.inner.transport.send(request).await
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

    /// GET, optionally with a bearer token, accepting JSON.
    pub async fn get(&self, url: &Url, bearer: Option<&Secret>) -> Result<Response> {
        self.get_with(url, bearer, &[("accept", "application/json")])
            .await
    }

    /// GET with extra headers.
    pub async fn get_with(
        &self,
        url: &Url,
        bearer: Option<&Secret>,
        extra: &[(&str, &str)],
    ) -> Result<Response> {
        let mut req = HttpRequest::new(Method::GET, url, MAX_BODY);
        for (k, v) in extra {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| Error::InvalidInput(format!("`{k}` is not a header name")))?;
            req.set_header(name, v, false)?;
        }
        if let Some(token) = bearer {
            req.bearer("Bearer", token)?;
        }
        self.send(req).await
    }

    /// POST a form without client authentication to a service that is not the provider (AWS
    /// STS), accepting XML or JSON. The values may be secrets; they travel only in the body.
    pub async fn post_plain_form(&self, url: &Url, form: &[(String, Secret)]) -> Result<Response> {
        let mut req = HttpRequest::new(Method::POST, url, MAX_BODY);
        req.set_header(ACCEPT, "text/xml, application/xml, application/json", false)?;
        req.set_header(CONTENT_TYPE, "application/x-www-form-urlencoded", false)?;
        req.body = Some(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter().map(|(k, v)| (k.as_str(), v.expose())))
                .finish()
                .into_bytes(),
        );
        self.send(req).await
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
        let mut req = HttpRequest::new(Method::POST, url, MAX_BODY);
        req.set_header(ACCEPT, "application/json", false)?;
        if let Some(p) = proof {
            req.set_header(HeaderName::from_static("dpop"), p, true)?;
        }
        match auth {
            ClientAuth::None { client_id } => form.push(("client_id", client_id)),
            ClientAuth::Basic { client_id, secret } => {
                // RFC 6749 §2.3.1: form-urlencode id and secret before base64.
                let id = form_urlencode(client_id);
                let pw = form_urlencode(secret.expose());
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{pw}"));
                req.set_header(AUTHORIZATION, &format!("Basic {encoded}"), true)
                    .map_err(|_| {
                        Error::Other("the client credentials cannot be sent in a header".into())
                    })?;
            }
            ClientAuth::Post { client_id, secret } => {
                form.push(("client_id", client_id));
                form.push(("client_secret", secret.expose()));
            }
        }
        req.set_header(CONTENT_TYPE, "application/x-www-form-urlencoded", false)?;
        req.body = Some(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish()
                .into_bytes(),
        );
        self.send(req).await
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
        let method =
            Method::from_bytes(request.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
                Error::InvalidInput(format!("`{}` is not an HTTP method", request.method))
            })?;
        let dpop_bound = presented.token_type.is_dpop();
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
            let mut req = HttpRequest::new(method.clone(), url, MAX_RESOURCE_BODY);
            for (k, v) in &request.headers {
                if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("dpop") {
                    return Err(Error::InvalidInput(format!(
                        "Latchkey sets the `{k}` header of the request itself; leave it out"
                    )));
                }
                // An invalid name is not quoted: it may be a pasted `Authorization Bearer …`.
                let name = HeaderName::from_bytes(k.trim().as_bytes()).map_err(|_| {
                    Error::InvalidInput(
                        "a header name is not a valid HTTP token (it is not shown)".into(),
                    )
                })?;
                let value = HeaderValue::from_str(v.trim()).map_err(|_| {
                    Error::InvalidInput(format!("the value of header `{k}` is not valid"))
                })?;
                req.headers.append(name, value);
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
                    req.bearer("DPoP", presented.token)?;
                    req.set_header(HeaderName::from_static("dpop"), &proof, true)?;
                }
                None => req.bearer("Bearer", presented.token)?,
            }
            req.body = request.body.clone();
            let resp = self.send(req).await?;
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

/// A scripted [`Transport`] for tests (feature `test-support`): records every request and
/// answers it from a function, in-process.
#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    use super::*;

    type Handler = dyn Fn(&HttpRequest) -> Result<Response> + Send + Sync;

    /// See the module docs. `handler` sees each request in order and returns the answer (or a
    /// transport error such as [`unreachable`]). [`ScriptedTransport::hold`] makes the answers
    /// wait (a provider that is slow to answer) until [`ScriptedTransport::release`].
    pub struct ScriptedTransport {
        handler: Box<Handler>,
        requests: Mutex<Vec<HttpRequest>>,
        held: tokio::sync::watch::Sender<bool>,
        waiting: std::sync::atomic::AtomicUsize,
    }

    impl ScriptedTransport {
        /// A transport answering with `handler`.
        pub fn new(
            handler: impl Fn(&HttpRequest) -> Result<Response> + Send + Sync + 'static,
        ) -> Arc<Self> {
            Arc::new(ScriptedTransport {
                handler: Box::new(handler),
                requests: Mutex::new(Vec::new()),
                held: tokio::sync::watch::Sender::new(false),
                waiting: std::sync::atomic::AtomicUsize::new(0),
            })
        }

        /// From now on, requests wait unanswered until [`Self::release`].
        pub fn hold(&self) {
            self.held.send_replace(true);
        }

        /// Lets the held requests (and later ones) be answered.
        pub fn release(&self) {
            self.held.send_replace(false);
        }

        /// How many requests are waiting for [`Self::release`] now.
        pub fn waiting(&self) -> usize {
            self.waiting.load(std::sync::atomic::Ordering::SeqCst)
        }

        /// An [`HttpClient`] over this transport.
        pub fn client(self: &Arc<Self>) -> HttpClient {
            HttpClient::with_transport(self.clone())
        }

        /// Every request sent so far, in order.
        pub fn requests(&self) -> Vec<HttpRequest> {
            match self.requests.lock() {
                Ok(r) => r.clone(),
                Err(p) => p.into_inner().clone(),
            }
        }

        /// How many requests went to this URL (ignoring the query).
        pub fn count_to(&self, url: &str) -> usize {
            self.requests()
                .iter()
                .filter(|r| display_url(&r.url) == url)
                .count()
        }
    }

    impl Transport for ScriptedTransport {
        fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<Response>> {
            Box::pin(async move {
                // Let other tasks run first, so concurrent callers really overlap.
                tokio::task::yield_now().await;
                if *self.held.borrow() {
                    use std::sync::atomic::Ordering;
                    self.waiting.fetch_add(1, Ordering::SeqCst);
                    let mut held = self.held.subscribe();
                    let _ = held.wait_for(|h| !*h).await;
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                }
                let answer = (self.handler)(&request);
                match self.requests.lock() {
                    Ok(mut r) => r.push(request),
                    Err(p) => p.into_inner().push(request),
                }
                answer
            })
        }
    }

    /// A JSON response.
    pub fn json(status: u16, body: serde_json::Value) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Response {
            url: String::new(),
            status,
            headers,
            body: body.to_string().into_bytes(),
        }
    }

    /// An OAuth error response (`{"error": code}`) with this status.
    pub fn oauth_error(status: u16, code: &str) -> Response {
        json(status, serde_json::json!({ "error": code }))
    }

    /// A transport failure, as when the provider cannot be reached.
    pub fn unreachable(request: &HttpRequest) -> Error {
        Error::Unreachable {
            url: display_url(&request.url),
            detail: "could not connect (scripted)".into(),
        }
    }
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
