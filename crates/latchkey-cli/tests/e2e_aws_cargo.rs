//! End-to-end tests of the AWS and cargo integrations with the real tools.
//!
//! - **AWS**: the AWS CLI (PyPI `awscli`) with a profile written by `latchkey setup aws` whose
//!   `credential_process` is `latchkey aws-credential`, against a local STS (`moto_server`)
//!   reached through a small counting proxy that records every `AssumeRoleWithWebIdentity` form
//!   (moto accepts any token, so the test itself checks that the WebIdentityToken is the
//!   account's id_token). awscli and moto come from the test venv `scripts/install-deps.sh test`
//!   creates (`~/.cache/latchkey-test-venv`, or `LATCHKEY_TEST_VENV`); without them the test
//!   FAILS saying so.
//! - **cargo** (the machine's, the one running these tests): a small HTTPS sparse registry in
//!   this test (self-signed certificate, given to cargo as `CARGO_HTTP_CAINFO`; `config.json`
//!   with `"auth-required": true`, one index entry, a `.crate` made by `cargo package`) that
//!   accepts only an `Authorization: Bearer` token the test provider says is active. `cargo
//!   fetch` is refused without Latchkey and succeeds through the provider `latchkey setup
//!   cargo` writes; `config.toml` never holds a token and `--undo` restores it byte for byte.
//!
//! The provider and the keychain (gnome-keyring) are real.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use latchkey_testkit::{
    BearerApi, Keyring, Provider, Reply, Sandbox, code, require_secret_service, stderr, stdout,
};
use serde_json::json;
use sha2::Digest;

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

    // With the agent running it serves the whole call: this process reaches no keychain (its
    // D-Bus address leads nowhere) and still gets credentials, which the agent obtained.
    {
        let agent = sb.start_agent();
        let no_bus = |c: &mut Command| {
            c.env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/latchkey-test-bus",
            );
        };
        let mut c = run(&["--session-name", "agent"]);
        c.arg("-v");
        no_bus(&mut c);
        let out = c.output().unwrap();
        assert_eq!(code(&out), 0, "through the agent: {}", stderr(&out));
        assert!(!stderr(&out).contains("agent not used"), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert!(v["AccessKeyId"].is_string(), "{v}");
        assert_eq!(proxy.assume_calls("agent").len(), 1);
        assert!(
            agent.count(|l| l.contains("AWS credentials request")) >= 1,
            "{}",
            agent.log()
        );
        // The same call without the agent needs the keychain, which this bus does not reach:
        // the direct path finds no tokens (no Secret Service, so no signed-in account).
        let mut c = run(&["--session-name", "agent"]);
        c.env("LATCHKEY_NO_AGENT", "1");
        no_bus(&mut c);
        let out = c.output().unwrap();
        assert_eq!(
            code(&out),
            3,
            "the direct path reached the tokens?\n{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("needs sign-in"), "{}", stderr(&out));
    }

    // --undo takes the profile back out.
    setup(&["--undo"]);
    let config = std::fs::read_to_string(home.path().join(".aws/config")).unwrap();
    assert!(!config.contains("aws-credential"), "{config}");
}

// ---------------------------------------------------------------------------------------------
// cargo: a sparse registry over https that takes only active Bearer tokens
// ---------------------------------------------------------------------------------------------

const CRATE: &str = "lkdemo";

/// What the registry saw: (path, the raw Authorization value, accepted).
type Seen = latchkey_testkit::bearer_api::Seen;

/// The machine's cargo (the one running this test).
fn cargo_bin() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// cargo with a home of its own (`CARGO_HOME` under `home`), trusting the registry's
/// certificate, and the sandbox's environment for the `latchkey` it runs.
fn cargo_cmd(sb: &Sandbox, home: &Path, ca: &Path) -> Command {
    let mut c = Command::new(cargo_bin());
    c.env("LATCHKEY_CONFIG_DIR", sb.config_dir())
        .env_remove("LATCHKEY_LOG")
        .env_remove("LATCHKEY_ACCOUNT");
    for (k, v) in &sb.env {
        c.env(k, v);
    }
    for k in &sb.unset {
        c.env_remove(k);
    }
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_REGISTRIES_") || k.starts_with("CARGO_REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.env("CARGO_HOME", home.join(".cargo"))
        .env("HOME", home)
        .env("CARGO_HTTP_CAINFO", ca)
        .env("CARGO_NET_RETRY", "0")
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null());
    c
}

/// `lkdemo-1.0.0.crate`, packaged by the real cargo.
fn crate_file(sb: &Sandbox, home: &Path, ca: &Path) -> Vec<u8> {
    let src = home.join("lkdemo-src");
    std::fs::create_dir_all(src.join("src")).unwrap();
    std::fs::write(
        src.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{CRATE}\"\nversion = \"1.0.0\"\nedition = \"2021\"\ndescription = \"Latchkey's test crate\"\nlicense = \"MIT\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        src.join("src/lib.rs"),
        "pub fn hello() -> &'static str { \"hello from the registry\" }\n",
    )
    .unwrap();
    let out = cargo_cmd(sb, home, ca)
        .args(["package", "--no-verify", "--allow-dirty", "--offline"])
        .arg("--target-dir")
        .arg(home.join("pkg-target"))
        .current_dir(&src)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "cargo package: {}", stderr(&out));
    std::fs::read(home.join(format!("pkg-target/package/{CRATE}-1.0.0.crate"))).unwrap()
}

/// A sparse registry on 127.0.0.1 over TLS: `/index/config.json`, `/index/lk/de/lkdemo`,
/// `/dl/lkdemo/1.0.0/download`; every request needs `Authorization: Bearer <active token>`.
/// Returns the index URL, the certificate (PEM) file, and what it saw.
fn start_cargo_registry(
    p: Arc<Provider>,
    crate_bytes: Vec<u8>,
    dir: &Path,
) -> (String, PathBuf, Seen) {
    // The port is known only once it listens; the config names it, so it is filled in then.
    let base: Arc<OnceLock<String>> = Arc::default();
    let files = {
        let entry = json!({
            "name": CRATE, "vers": "1.0.0", "deps": [], "features": {}, "yanked": false,
            "cksum": hex(&sha2::Sha256::digest(&crate_bytes)),
        })
        .to_string()
            + "\n";
        vec![
            (format!("/index/lk/de/{CRATE}"), entry.into_bytes()),
            (format!("/dl/{CRATE}/1.0.0/download"), crate_bytes),
        ]
    };
    let config_base = base.clone();
    let api = BearerApi::start(p, move |path, ok| {
        let reply = |status, body: &[u8]| Reply {
            status,
            content_type: "application/octet-stream",
            headers: "WWW-Authenticate: Cargo\r\n",
            body: body.to_vec(),
        };
        if !ok {
            return reply(
                "401 Unauthorized",
                br#"{"errors":[{"detail":"authentication required"}]}"#,
            );
        }
        if path == "/index/config.json" {
            let base = config_base.get().cloned().unwrap_or_default();
            let config = json!({
                "dl": format!("{base}/dl/{{crate}}/{{version}}/download"),
                "auth-required": true
            });
            return reply("200 OK", config.to_string().as_bytes());
        }
        match files.iter().find(|(f, _)| f == path) {
            Some((_, b)) => reply("200 OK", b),
            None => reply("404 Not Found", br#"{"errors":[{"detail":"not found"}]}"#),
        }
    });
    let url = format!("https://127.0.0.1:{}", api.port);
    let _ = base.set(url.clone());
    let ca = dir.join("registry-ca.pem");
    std::fs::write(&ca, &api.ca_pem).unwrap();
    (format!("{url}/index/"), ca, api.seen)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn cargo_fetches_from_an_authenticated_sparse_registry_through_the_provider() {
    require_secret_service();
    let p = Arc::new(Provider::start(json!({"accessTokenTtl": 600})));
    let sb = Sandbox::new(BIN);
    sb.add_and_login(&p, "work");
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    // The certificate is made before cargo packages the crate (cargo wants the CA file to
    // exist): a placeholder CA path first, then the registry's own.
    let placeholder = home.join("none.pem");
    std::fs::write(&placeholder, "").unwrap();
    let crate_bytes = crate_file(&sb, home, &placeholder);
    let (index, ca, seen) = start_cargo_registry(p.clone(), crate_bytes, home);

    let config = home.join(".cargo/config.toml");
    let before = "# my own settings\n[net]\nretry = 0 # no retries\n";
    std::fs::write(&config, before).unwrap();
    let app = home.join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{CRATE} = {{ version = \"1.0.0\", registry = \"corp\" }}\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(app.join("src/main.rs"), "fn main() {}\n").unwrap();
    let fetch = |env_index: bool| {
        let mut c = cargo_cmd(&sb, home, &ca);
        c.arg("fetch").current_dir(&app);
        if env_index {
            c.env("CARGO_REGISTRIES_CORP_INDEX", format!("sparse+{index}"));
        }
        c.output().unwrap()
    };

    // Without Latchkey (the registry defined, no provider for it) cargo is refused.
    let out = fetch(true);
    assert_ne!(code(&out), 0, "fetched without a token?\n{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("authenticated registries require a credential-provider"),
        "cargo without Latchkey: {err}"
    );
    {
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty(), "cargo never asked the registry");
        assert!(seen.iter().all(|(_, a, ok)| a.is_none() && !ok), "{seen:?}");
    }

    // setup: --dry-run changes nothing; then once; then nothing to do.
    let setup = |extra: &[&str]| {
        let mut args = vec![
            "setup",
            "cargo",
            "work",
            "--registry",
            "corp",
            "--index",
            &index,
        ];
        args.extend_from_slice(extra);
        let out = sb
            .cmd(&args)
            .env("CARGO_HOME", home.join(".cargo"))
            .output()
            .unwrap();
        assert_eq!(
            code(&out),
            0,
            "setup cargo {extra:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    };
    let dry = setup(&["--dry-run"]);
    assert!(dry.contains("Would change"), "{dry}");
    assert!(dry.contains("credential-provider"), "{dry}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    assert!(
        !stdout(&sb.run(&["which", &index])).contains("work"),
        "the dry run wrote the rule"
    );
    let done = setup(&[]);
    assert!(done.contains("Changed"), "{done}");
    assert!(done.contains("rule 127.0.0.1:"), "{done}");
    assert!(setup(&[]).contains("Nothing to change"));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.starts_with(before), "{text}");
    assert!(
        text.contains(&format!("index = \"sparse+{index}\"")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "credential-provider = [\"{BIN}\", \"cargo-credential\"]"
        )),
        "{text}"
    );
    let which = sb.ok(&["which", &index]);
    assert!(which.starts_with("work"), "{which}");

    // With Latchkey cargo fetches, sending `Bearer <the account's active token>`.
    seen.lock().unwrap().clear();
    let out = fetch(false);
    assert_eq!(code(&out), 0, "cargo fetch: {}", stderr(&out));
    let token = sb
        .ok(&["token", "work", "--min-ttl", "0"])
        .trim()
        .to_string();
    {
        let seen = seen.lock().unwrap();
        assert!(
            seen.iter()
                .any(|(path, _, ok)| path.ends_with("/download") && *ok),
            "{seen:?}"
        );
        let bearer = format!("Bearer {token}");
        // The first config.json request carries no token (cargo learns that the registry needs
        // one from its 401); every other one carries the account's.
        assert!(
            seen.iter()
                .filter(|(_, a, _)| a.is_some())
                .all(|(_, a, ok)| *ok && a.as_deref() == Some(bearer.as_str())),
            "{seen:?}"
        );
    }
    let cached: Vec<PathBuf> = std::fs::read_dir(home.join(".cargo/registry/cache"))
        .unwrap()
        .flatten()
        .map(|d| d.path().join(format!("{CRATE}-1.0.0.crate")))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(cached.len(), 1, "the crate was downloaded");

    // With the agent running, it serves the provider's hand-out (the same rule, same token).
    {
        let agent = sb.start_agent();
        std::fs::remove_file(app.join("Cargo.lock")).unwrap();
        std::fs::remove_dir_all(home.join(".cargo/registry")).unwrap();
        seen.lock().unwrap().clear();
        let out = fetch(false);
        assert_eq!(
            code(&out),
            0,
            "cargo fetch through the agent: {}",
            stderr(&out)
        );
        assert!(
            agent.count(|l| l.contains("credential request") && l.contains("cargo")) >= 1,
            "the agent served cargo's provider:\n{}",
            agent.log()
        );
        let bearer = format!("Bearer {token}");
        assert!(
            seen.lock()
                .unwrap()
                .iter()
                .filter(|(_, a, _)| a.is_some())
                .all(|(_, a, ok)| *ok && a.as_deref() == Some(bearer.as_str())),
            "{:?}",
            seen.lock().unwrap()
        );
    }

    // No token in cargo's config or anywhere cargo keeps credentials.
    assert!(!std::fs::read_to_string(&config).unwrap().contains(&token));
    assert!(!home.join(".cargo/credentials.toml").exists());

    // login/logout: nothing to store, said plainly.
    let out = cargo_cmd(&sb, home, &ca)
        .args(["logout", "--registry", "corp"])
        .current_dir(&app)
        .output()
        .unwrap();
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("latchkey logout work"),
        "{}",
        stderr(&out)
    );

    // --undo restores the file byte for byte and takes the rule away: cargo is refused again.
    let undone = setup(&["--undo"]);
    assert!(undone.contains("- "), "{undone}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    assert!(!stdout(&sb.run(&["which", &index])).contains("work"));
    assert!(setup(&["--undo"]).contains("Nothing to change"));
    std::fs::remove_file(app.join("Cargo.lock")).unwrap();
    std::fs::remove_dir_all(home.join(".cargo/registry")).unwrap();
    seen.lock().unwrap().clear();
    let out = fetch(true);
    assert_ne!(code(&out), 0, "fetched after --undo?\n{}", stderr(&out));
    assert!(seen.lock().unwrap().iter().all(|(_, a, _)| a.is_none()));

    // The alternative without setup: cargo's own `cargo:token-from-stdout` running
    // `latchkey token work --bearer` (cargo sends the line it prints as the whole header).
    let out = cargo_cmd(&sb, home, &ca)
        .arg("fetch")
        .current_dir(&app)
        .env("CARGO_REGISTRIES_CORP_INDEX", format!("sparse+{index}"))
        .env(
            "CARGO_REGISTRIES_CORP_CREDENTIAL_PROVIDER",
            format!("cargo:token-from-stdout {BIN} token work --bearer"),
        )
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "token-from-stdout: {}", stderr(&out));
    let bearer = format!("Bearer {token}");
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|(path, _, ok)| path.ends_with("/download") && *ok),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .filter(|(_, a, _)| a.is_some())
            .all(|(_, a, ok)| *ok && a.as_deref() == Some(bearer.as_str())),
        "{seen:?}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
}
