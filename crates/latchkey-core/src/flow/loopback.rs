//! The loopback redirect listener (RFC 8252 §7.3).
//!
//! Binds `127.0.0.1` (never `localhost`: IPv4/IPv6 mismatches) on an ephemeral port, or a fixed
//! one for providers that match ports exactly. It waits for the one request at `/callback`
//! whose `state` matches, hands the full URL to the completion path, answers the browser with
//! a small page, and stops. Requests with another path or `state` are answered and ignored;
//! the wait goes on until the right one or the deadline.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::{Error, Result};
use crate::flow::pkce::Callback;
use crate::secret::Secret;

/// Stands in for a wait too long to add to the clock (`--timeout` near `u64::MAX`).
const FAR_FUTURE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Reported for a callback at another account's redirect path.
pub const IGNORED_OTHER_PATH: &str = "ignored a callback for another redirect URI (another account's?); still waiting for this sign-in";
/// Reported for a callback whose `state` is not this sign-in's.
pub const IGNORED_OTHER_STATE: &str = "ignored a callback that does not belong to this sign-in (its state does not match); still waiting";

/// The path of the loopback redirect URI.
pub const CALLBACK_PATH: &str = "/callback";

/// A callback the listener answered and ignored (it keeps waiting): for a shell to show.
#[derive(Debug, Clone)]
pub struct IgnoredCallback {
    /// The account whose sign-in is waiting.
    pub account: String,
    /// What happened, for people.
    pub message: String,
}

/// A bound loopback listener.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
    path: String,
    ignored: Option<(String, tokio::sync::broadcast::Sender<IgnoredCallback>)>,
}

impl LoopbackListener {
    /// Binds `127.0.0.1:port` (`None`: an ephemeral port).
    pub async fn bind(port: Option<u16>) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
            .await
            .map_err(|e| match port {
                Some(p) => Error::io(
                    format!("cannot listen on 127.0.0.1:{p} for the sign-in callback (is another program using it?)"),
                    e,
                ),
                None => Error::io("cannot listen on 127.0.0.1 for the sign-in callback", e),
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("reading the loopback port", e))?
            .port();
        Ok(LoopbackListener {
            listener,
            port,
            path: CALLBACK_PATH.to_string(),
            ignored: None,
        })
    }

    /// Answers at `path` instead of [`CALLBACK_PATH`] (an account's own redirect URI,
    /// `/callback/<name>`): a callback at any other path is refused before anything is sent to
    /// a token endpoint.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Reports each ignored callback of `account`'s sign-in to `to` (besides the log).
    pub fn report_ignored_to(
        mut self,
        account: impl Into<String>,
        to: tokio::sync::broadcast::Sender<IgnoredCallback>,
    ) -> Self {
        self.ignored = Some((account.into(), to));
        self
    }

    fn report_ignored(&self, message: &str) {
        tracing::warn!("{message}");
        if let Some((account, to)) = &self.ignored {
            // No receiver (a CLI): the log line above is the report.
            let _ = to.send(IgnoredCallback {
                account: account.clone(),
                message: message.to_string(),
            });
        }
    }

    /// The port bound (ephemeral unless the account fixes one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.path)
    }

    /// Waits for the matching callback, runs `complete` on its URL and answers the browser
    /// with `complete`'s page text (or the error). Stops after that request or at `timeout`.
    pub async fn wait<T, F, Fut>(
        self,
        expected_state: &Secret,
        timeout: Duration,
        complete: F,
    ) -> Result<T>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<(T, String)>>,
    {
        let now = tokio::time::Instant::now();
        let deadline = now.checked_add(timeout).unwrap_or(now + FAR_FUTURE);
        let mut complete = Some(complete);
        loop {
            let accepted = tokio::time::timeout_at(deadline, self.listener.accept()).await;
            let (mut stream, _) = match accepted {
                Err(_) => {
                    return Err(Error::Timeout(format!(
                        "after {} s waiting for the browser to come back from the provider",
                        timeout.as_secs()
                    )));
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "loopback accept failed");
                    continue;
                }
                Ok(Ok(s)) => s,
            };
            let target = match read_request_target(&mut stream).await {
                Ok(t) => t,
                Err(reason) => {
                    let _ = respond(&mut stream, 400, "Bad request", reason).await;
                    continue;
                }
            };
            let path = target.split('?').next().unwrap_or("");
            if path != self.path {
                if path.starts_with(CALLBACK_PATH) {
                    self.report_ignored(IGNORED_OTHER_PATH);
                }
                let _ = respond(
                    &mut stream,
                    404,
                    "Not found",
                    "Latchkey is waiting for a sign-in callback; this is not it.",
                )
                .await;
                continue;
            }
            let url = format!("http://127.0.0.1:{}{}", self.port, target);
            let matches = Callback::parse(&url)
                .map(|cb| cb.state_matches(expected_state))
                .unwrap_or(false);
            if !matches {
                self.report_ignored(IGNORED_OTHER_STATE);
                let _ = respond(
                    &mut stream,
                    400,
                    "Not this sign-in",
                    "This link does not belong to the sign-in Latchkey is waiting for. Start the sign-in again if needed.",
                )
                .await;
                continue;
            }
            let Some(f) = complete.take() else {
                return Err(Error::Other("callback handled twice".into()));
            };
            let result = f(url).await;
            match &result {
                Ok((_, page)) => {
                    let _ = respond(&mut stream, 200, "Signed in", page).await;
                }
                Err(e) => {
                    let _ = respond(&mut stream, 400, "Sign-in failed", &e.to_string()).await;
                }
            }
            return result.map(|(t, _)| t);
        }
    }
}

async fn read_request_target(stream: &mut TcpStream) -> std::result::Result<String, &'static str> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            let n = stream.read(&mut chunk).await.map_err(|_| "read failed")?;
            if n == 0 {
                return Err("connection closed");
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
                return Ok(());
            }
            if buf.len() > 16 * 1024 {
                return Err("request too large");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .map_err(|_| "request timed out")??;
    parse_request_head(&buf)
}

/// The request target of an HTTP request head (`GET /callback?… HTTP/1.1`): only `GET` and an
/// origin-form target are accepted. Pure, so it is fuzzed on its own.
pub fn parse_request_head(buf: &[u8]) -> std::result::Result<String, &'static str> {
    let head = std::str::from_utf8(buf).map_err(|_| "request is not text")?;
    let line = head.lines().next().ok_or("empty request")?;
    let mut parts = line.split(' ');
    let method = parts.next().ok_or("no method")?;
    let target = parts.next().ok_or("no target")?;
    if method != "GET" {
        return Err("only GET is accepted");
    }
    if !target.starts_with('/') {
        return Err("bad request target");
    }
    Ok(target.to_string())
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    title: &str,
    message: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Latchkey: {t}</title>\
<style>body{{font:16px system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em}}\
@media(prefers-color-scheme:dark){{body{{background:#1b1b1f;color:#e6e6e6}}}}</style></head>\
<body><h1>{t}</h1><p>{m}</p><p>You can close this tab and return to Latchkey.</p></body></html>",
        t = html_escape(title),
        m = html_escape(message)
    );
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(port: u16, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn ignores_wrong_path_and_state_then_completes() {
        let l = LoopbackListener::bind(None).await.unwrap();
        let port = l.port();
        assert_eq!(
            l.redirect_uri(),
            format!("http://127.0.0.1:{port}/callback")
        );
        let state = Secret::new("good-state");
        let waiter = tokio::spawn(async move {
            l.wait(&state, Duration::from_secs(5), |url| async move {
                Ok((url, "Signed in as alice".to_string()))
            })
            .await
        });
        assert!(get(port, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        assert!(
            get(port, "/callback?code=x&state=bad")
                .await
                .starts_with("HTTP/1.1 400")
        );
        let ok = get(port, "/callback?code=x&state=good-state").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("Signed in as alice"));
        let url = waiter.await.unwrap().unwrap();
        assert_eq!(
            url,
            format!("http://127.0.0.1:{port}/callback?code=x&state=good-state")
        );
        // The listener is gone.
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    }

    #[tokio::test]
    async fn times_out() {
        let l = LoopbackListener::bind(None).await.unwrap();
        let err = l
            .wait(&Secret::new("s"), Duration::from_millis(50), |_u| async {
                Ok(((), String::new()))
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Timeout);
    }

    #[tokio::test]
    async fn error_page_escapes() {
        let l = LoopbackListener::bind(None).await.unwrap();
        let port = l.port();
        let waiter = tokio::spawn(async move {
            l.wait(&Secret::new("s"), Duration::from_secs(5), |_u| async {
                Err::<((), String), _>(Error::Callback("<b>bad</b>".into()))
            })
            .await
        });
        let page = get(port, "/callback?state=s&error=access_denied").await;
        assert!(page.contains("&lt;b&gt;bad"), "{page}");
        assert_eq!(
            waiter.await.unwrap().unwrap_err().kind(),
            crate::ErrorKind::Callback
        );
    }
}
