//! A git smart-HTTP server for end-to-end tests: `git http-backend` as CGI behind a small
//! HTTP/1.1 loop that accepts `Authorization: Basic user:token` only when the test provider says
//! the token is active (introspection), and records what it saw. Real git clones and fetches
//! from it through Latchkey's credential helper (the CLI's and the desktop app's tests).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::{Provider, stderr};

/// What the git server saw: (path, username, token, accepted).
pub type Seen = Arc<Mutex<Vec<(String, String, String, bool)>>>;

pub struct GitServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    root: tempfile::TempDir,
    seen: Seen,
    /// Tokens refused even while active (a server that stopped accepting a token).
    pub deny: Arc<Mutex<Vec<String>>>,
}

impl GitServer {
    /// Serves repositories on an ephemeral port of 127.0.0.1.
    pub fn start(p: Arc<Provider>) -> GitServer {
        let root = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Seen = Arc::default();
        let deny: Arc<Mutex<Vec<String>>> = Arc::default();
        let (log, dir, denied) = (seen.clone(), root.path().to_path_buf(), deny.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (p, log, dir, denied) = (p.clone(), log.clone(), dir.clone(), denied.clone());
                std::thread::spawn(move || {
                    let _ = serve_git(stream, &p, &log, &dir, &denied);
                });
            }
        });
        GitServer {
            port,
            root,
            seen,
            deny,
        }
    }

    /// A bare repository `path` (e.g. `org-a/repo.git`) with one commit holding `file`.
    pub fn repo(&self, path: &str, content: &str) {
        let bare = self.root.path().join(path);
        let work = tempfile::tempdir().unwrap();
        let run = |cwd: &Path, args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(cwd)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", cwd)
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
        };
        run(work.path(), &["init", "-q", "-b", "main", "."]);
        std::fs::write(work.path().join("file"), content).unwrap();
        run(work.path(), &["add", "file"]);
        run(
            work.path(),
            &[
                "-c",
                "user.name=T",
                "-c",
                "user.email=t@example.test",
                "commit",
                "-q",
                "-m",
                "one",
            ],
        );
        std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
        run(
            work.path(),
            &["clone", "-q", "--bare", ".", bare.to_str().unwrap()],
        );
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// What it saw so far: (path, username, token, accepted).
    pub fn seen(&self) -> Vec<(String, String, String, bool)> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_git(
    stream: TcpStream,
    p: &Provider,
    seen: &Seen,
    root: &Path,
    deny: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use base64::Engine;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0u8; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    // Authorization: Basic user:token, accepted only if the provider says the token is active.
    let creds = header("authorization")
        .and_then(|a| a.strip_prefix("Basic ").map(str::to_string))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, t)| (u.to_string(), t.to_string()))
        });
    let Some((user, token)) = creds else {
        out.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        return Ok(());
    };
    let active = p.introspect(&token)["active"] == true && !deny.lock().unwrap().contains(&token);
    seen.lock()
        .unwrap()
        .push((path.to_string(), user.clone(), token, active));
    if !active {
        out.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        return Ok(());
    }
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_USER", &user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(ct) = header("content-type") {
        cgi.env("CONTENT_TYPE", ct);
    }
    if let Some(gp) = header("git-protocol") {
        cgi.env("GIT_PROTOCOL", gp);
    }
    if let Some(ce) = header("content-encoding") {
        cgi.env("HTTP_CONTENT_ENCODING", ce);
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut cgi_out = BufReader::new(child.stdout.take().unwrap());
    let mut status = "200 OK".to_string();
    let mut head = String::new();
    loop {
        let mut h = String::new();
        cgi_out.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            _ => head.push_str(&format!("{h}\r\n")),
        }
    }
    out.write_all(format!("HTTP/1.1 {status}\r\n{head}Connection: close\r\n\r\n").as_bytes())?;
    std::io::copy(&mut cgi_out, &mut out)?;
    let _ = writer.join();
    let _ = child.wait();
    Ok(())
}
