//! An HTTPS API on 127.0.0.1 that accepts a request only with a bearer token the test provider
//! says is active (introspection), the way a real resource server does: the kubectl API of the
//! exec-plugin tests and the cargo sparse registry are both one of these with their own answers.
//! Its certificate is self-signed for 127.0.0.1 and localhost; its PEM is kept for clients that
//! verify it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::Provider;

/// What the API saw: (path, the raw `Authorization` value, whether its bearer token was active).
pub type Seen = Arc<Mutex<Vec<(String, Option<String>, bool)>>>;

/// One answer: status line (`200 OK`), content type, extra header lines (each ending in
/// `\r\n`), body.
pub struct Reply {
    pub status: &'static str,
    pub content_type: &'static str,
    pub headers: &'static str,
    pub body: Vec<u8>,
}

/// A running API (its threads end with the test process).
pub struct BearerApi {
    pub port: u16,
    /// The server's certificate (PEM).
    pub ca_pem: String,
    pub seen: Seen,
}

impl BearerApi {
    /// Serves every request with `respond(path, accepted)`.
    pub fn start(
        p: Arc<Provider>,
        respond: impl Fn(&str, bool) -> Reply + Send + Sync + 'static,
    ) -> BearerApi {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let chain = vec![cert.cert.der().clone()];
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap(),
        );
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let respond = Arc::new(respond);
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (config, p, log, respond) =
                    (config.clone(), p.clone(), log.clone(), respond.clone());
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    let mut reader = BufReader::new(&mut tls);
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() {
                        return;
                    }
                    let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let mut auth = None;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).is_err() {
                            return;
                        }
                        let h = h.trim_end().to_string();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("authorization")
                        {
                            auth = Some(v.trim().to_string());
                        }
                    }
                    let ok = auth
                        .as_deref()
                        .and_then(|a| a.strip_prefix("Bearer "))
                        .is_some_and(|t| p.introspect(t)["active"] == true);
                    log.lock().unwrap().push((path.clone(), auth, ok));
                    let reply = respond(&path, ok);
                    let head = format!(
                        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
                        reply.status,
                        reply.content_type,
                        reply.body.len(),
                        reply.headers
                    );
                    let _ = tls.write_all(head.as_bytes());
                    let _ = tls.write_all(&reply.body);
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        BearerApi {
            port,
            ca_pem: cert.cert.pem(),
            seen,
        }
    }

    /// The bearer tokens it was sent, and whether each was active.
    pub fn bearers(&self) -> Vec<(String, bool)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, auth, ok)| {
                Some((auth.as_deref()?.strip_prefix("Bearer ")?.to_string(), *ok))
            })
            .collect()
    }
}
