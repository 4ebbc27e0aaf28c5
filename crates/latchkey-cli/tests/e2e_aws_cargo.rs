//! End-to-end tests of the AWS integration with the real tools: the AWS CLI (PyPI `awscli`)
//! with a profile written by `latchkey setup aws` whose `credential_process` is `latchkey
//! aws-credential`, against a local STS (`moto_server`) reached through a small counting proxy
//! that records every `AssumeRoleWithWebIdentity` form (moto accepts any token, so the test
//! itself checks that the WebIdentityToken is the account's id_token). The provider and the
//! keychain (gnome-keyring) are real.
//!
//! awscli and moto come from the test venv `scripts/install-deps.sh test` creates
//! (`~/.cache/latchkey-test-venv`, or `LATCHKEY_TEST_VENV`); without them these tests FAIL
//! saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_testkit::{Keyring, Provider, Sandbox, code, require_secret_service, stderr, stdout};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");
const ROLE: &str = "arn:aws:iam::123456789012:role/latchkey-dev";

/// The venv's bin directory, with `aws` and `moto_server` in it; fails with what to run.
fn venv_bin() -> PathBuf {
    let venv = std::env::var_os("LATCHKEY_TEST_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/latchkey-test-venv"))
        })
        .expect("HOME or LATCHKEY_TEST_VENV must be set");
    let bin = venv.join("bin");
    for tool in ["aws", "moto_server"] {
        assert!(
            bin.join(tool).exists(),
            "{tool} is missing from {}: run `scripts/install-deps.sh test` (it installs awscli and moto[server] there)",
            bin.display()
        );
    }
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto_server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `moto_server` on an ephemeral port (killed on drop).
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start(bin: &Path) -> Moto {
        let port = free_port();
        let child = Command::new(bin.join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        wait_listening(port);
        Moto { child, port }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every AssumeRoleWithWebIdentity form the proxy forwarded.
type Forms = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// An HTTP proxy in front of moto, one request per connection, recording the STS forms.
struct Proxy {
    port: u16,
    forms: Forms,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let forms: Forms = Arc::default();
        let seen = forms.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = forward(conn, upstream, &seen);
                });
            }
        });
        Proxy { port, forms }
    }

    fn assume_calls(&self, session: &str) -> Vec<Vec<(String, String)>> {
        self.forms
            .lock()
            .unwrap()
            .iter()
            .filter(|f| {
                f.iter()
                    .any(|(k, v)| k == "RoleSessionName" && v == session)
            })
            .cloned()
            .collect()
    }
}

fn forward(conn: TcpStream, upstream: u16, seen: &Forms) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        head.push(line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form
        .iter()
        .any(|(k, v)| k == "Action" && v == "AssumeRoleWithWebIdentity")
    {
        seen.lock().unwrap().push(form);
    }
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    for l in &head {
        up.write_all(l.as_bytes())?;
    }
    up.write_all(b"Connection: close\r\n\r\n")?;
    up.write_all(&body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    // Tell the client this connection ends here.
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(answer.len());
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let mut out = conn;
    out.write_all(head.join("\r\n").as_bytes())?;
    out.write_all(b"\r\nConnection: close")?;
    out.write_all(&answer[split..])?;
    out.flush()
}

/// A home of its own for the AWS CLI, with no credentials from the machine.
fn aws(sb: &Sandbox, home: &Path, bin: &Path, sts: u16, args: &[&str]) -> Output {
    let mut c = Command::new(bin.join("aws"));
    c.args(args)
        .env("LATCHKEY_CONFIG_DIR", sb.config_dir())
        .env_remove("LATCHKEY_LOG");
    for (k, v) in &sb.env {
        c.env(k, v);
    }
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONFIG_FILE",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
    ] {
        c.env_remove(k);
    }
    c.env("HOME", home)
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_ENDPOINT_URL_STS", format!("http://127.0.0.1:{sts}"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn aws_cli_assumes_the_role_with_the_id_token_cached_and_single_flight() {
    let bin = venv_bin();
    require_secret_service();
    let p = Provider::start(json!({"accessTokenTtl": 600, "clockTolerance": 0}));
    let sb = Sandbox::new(BIN);
    sb.ok(&[
        "add",
        "work",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    let out = sb
        .cmd(&["login", "work", "--timeout", "60"])
        .env("LATCHKEY_TEST_LOGIN", "alice")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "login: {}", stderr(&out));

    let moto = Moto::start(&bin);
    let proxy = Proxy::start(moto.port);
    let home = tempfile::tempdir().unwrap();

    // setup aws writes the profile into ~/.aws/config (never ~/.aws/credentials).
    let setup = |extra: &[&str]| {
        let mut args = vec![
            "setup",
            "aws",
            "dev",
            "--account",
            "work",
            "--role-arn",
            ROLE,
            "--region",
            "us-east-1",
        ];
        args.extend_from_slice(extra);
        let out = sb
            .cmd(&args)
            .env("HOME", home.path())
            .env_remove("AWS_CONFIG_FILE")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "setup aws: {}", stderr(&out));
        stdout(&out)
    };
    let dry = setup(&["--dry-run"]);
    assert!(dry.contains("credential_process"), "{dry}");
    assert!(!home.path().join(".aws/config").exists());
    setup(&[]);
    let config = std::fs::read_to_string(home.path().join(".aws/config")).unwrap();
    assert!(config.contains("[profile dev]"), "{config}");
    assert!(
        config.contains("aws-credential work --role-arn"),
        "{config}"
    );
    assert!(!home.path().join(".aws/credentials").exists());
    assert!(setup(&[]).contains("Nothing to change"));

    // The AWS CLI: the assumed role, with the account's id_token as the web identity.
    let who = aws(
        &sb,
        home.path(),
        &bin,
        proxy.port,
        &[
            "sts",
            "get-caller-identity",
            "--profile",
            "dev",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&who), 0, "aws: {}\n{}", stdout(&who), stderr(&who));
    let arn = serde_json::from_str::<serde_json::Value>(&stdout(&who)).unwrap()["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(arn.contains("assumed-role/latchkey-dev/latchkey"), "{arn}");
    // The id_token stored now is the one sent (the provider's last only 60 s: it may have been
    // renewed by a refresh just before).
    let id_token = Keyring::tokens(&sb.account_id("work")).expect("tokens stored")["id_token"]
        .as_str()
        .expect("the sign-in stored an id_token")
        .to_string();
    let calls = proxy.assume_calls("latchkey");
    assert_eq!(calls.len(), 1, "one STS exchange for the first command");
    let sent =
        |f: &Vec<(String, String)>, k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(
        sent(&calls[0], "WebIdentityToken").as_deref(),
        Some(id_token.as_str())
    );
    assert_eq!(sent(&calls[0], "RoleArn").as_deref(), Some(ROLE));

    // A second command: served from the cache, no STS exchange.
    let again = aws(
        &sb,
        home.path(),
        &bin,
        proxy.port,
        &["sts", "get-caller-identity", "--profile", "dev"],
    );
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        proxy.assume_calls("latchkey").len(),
        1,
        "served from the cache"
    );
    assert!(
        !Keyring::items(&format!("{}/aws/", sb.account_id("work"))).is_empty(),
        "cached in the keychain under the account"
    );

    // After expiry (--refresh drops the cached entry): a new exchange.
    let run = |extra: &[&str]| {
        let mut args = vec!["aws-credential", "work", "--role-arn", ROLE];
        args.extend_from_slice(extra);
        let mut c = sb.cmd(&args);
        c.env(
            "AWS_ENDPOINT_URL_STS",
            format!("http://127.0.0.1:{}", proxy.port),
        );
        c
    };
    let out = run(&["--refresh"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["Version"], 1);
    for k in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(v[k].is_string(), "{k} in {v}");
    }
    assert_eq!(proxy.assume_calls("latchkey").len(), 2);

    // Ten concurrent calls for a new entry: one exchange.
    let children: Vec<Child> = (0..10)
        .map(|_| {
            run(&["--session-name", "burst", "--duration", "900"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let answers: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            stdout(&out)
        })
        .collect();
    let burst = proxy.assume_calls("burst");
    assert_eq!(burst.len(), 1, "ten concurrent calls, one STS request");
    assert_eq!(sent(&burst[0], "DurationSeconds").as_deref(), Some("900"));
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "all got the same credentials"
    );

    // --undo takes the profile back out.
    setup(&["--undo"]);
    let config = std::fs::read_to_string(home.path().join(".aws/config")).unwrap();
    assert!(!config.contains("aws-credential"), "{config}");
}
