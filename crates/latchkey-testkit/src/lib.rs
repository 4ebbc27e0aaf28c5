//! Test support for Latchkey's end-to-end tests (never shipped).
//!
//! - [`Provider`]: the project's test OpenID provider (panva `oidc-provider`, `tests/provider/`),
//!   started on 127.0.0.1 with an ephemeral port, its event log, fault injection and
//!   introspection.
//! - [`browser_command`]: the headless "system browser" for `LATCHKEY_BROWSER`.
//! - [`Keyring`]: the real Secret Service seen from outside, through `secret-tool`.
//! - [`Sandbox`]: a config dir + environment for running the `latchkey` binary.
//! - [`Agent`]: a running `latchkey agent` with its log ([`Sandbox::start_agent`]).
//! - [`Interactive`]: a running command a test answers line by line; [`browse`] by hand.
//! - [`BearerApi`]: an HTTPS resource server that accepts active bearer tokens only.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

mod agent;
pub mod bearer_api;
mod git_server;
mod interactive;
pub use agent::Agent;
pub use bearer_api::{BearerApi, Reply};
pub use git_server::GitServer;
pub use interactive::{Interactive, browse, is_url};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// The Debian package `cargo tauri build --bundles deb` made (`scripts/check-deb.sh` builds it):
/// `$LATCHKEY_DEB` if set, else the first `.deb` in `<target dir>/release/bundle/deb`, where the
/// target dir is `$CARGO_TARGET_DIR` or `<repo>/target`. Panics, naming where it looked, when
/// there is none: the tests that call this are `#[ignore]`d and run only by that script.
pub fn built_deb() -> PathBuf {
    if let Some(p) = std::env::var_os("LATCHKEY_DEB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let dir = target.join("release/bundle/deb");
    std::fs::read_dir(&dir)
        .ok()
        .and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "deb"))
        })
        .unwrap_or_else(|| {
            panic!(
                "no .deb in {} (build it with scripts/check-deb.sh, which also runs this test)",
                dir.display()
            )
        })
}

/// Fails with a clear message when the real Secret Service is not there.
pub fn require_secret_service() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "end-to-end tests need a D-Bus session with an unlocked gnome-keyring: run them with `scripts/test.sh` (or `dbus-run-session -- scripts/with-keyring.sh cargo test --workspace`)"
    );
}

/// A running test provider. Killed on drop.
pub struct Provider {
    child: Child,
    pub issuer: String,
    pub port: u16,
    pub events_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Provider {
    /// A test file's provider: checks the Secret Service is there, then starts the provider
    /// with `defaults` overlaid by `extra` (the keys of `extra` win).
    pub fn start_merged(defaults: Value, extra: Value) -> Provider {
        require_secret_service();
        let mut cfg = defaults;
        if let (Some(base), Some(extra)) = (cfg.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        }
        Provider::start(cfg)
    }

    /// Starts `node tests/provider/server.mjs` with `PROVIDER_CONFIG` = `config`.
    pub fn start(config: Value) -> Provider {
        let dir = tempfile::tempdir().unwrap();
        let events_path = dir.path().join("events.jsonl");
        let script = repo_root().join("tests/provider/server.mjs");
        assert!(
            repo_root().join("tests/provider/node_modules").exists(),
            "the test provider's npm packages are missing: run `npm ci --prefix tests/provider` (scripts/test.sh does)"
        );
        let mut child = Command::new("node")
            .arg(&script)
            .env("PROVIDER_CONFIG", config.to_string())
            .env("EVENT_LOG", &events_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start node: is Node.js ≥ 20.18 installed?");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the provider never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the test provider did not report ready within 20 s");
        let ready: Value = serde_json::from_str(&line).expect("ready line is JSON");
        Provider {
            child,
            issuer: ready["issuer"].as_str().unwrap().to_string(),
            port: ready["port"].as_u64().unwrap() as u16,
            events_path,
            _dir: dir,
        }
    }

    /// All events so far.
    pub fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.events_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Number of events named `event` (and with `grant_type`, if given).
    pub fn count(&self, event: &str, grant_type: Option<&str>) -> usize {
        self.events()
            .iter()
            .filter(|e| e["event"] == event)
            .filter(|e| grant_type.is_none_or(|g| e["grant_type"] == g))
            .count()
    }

    /// `invalid_grant` details from `grant.error` events (for assertion messages).
    pub fn grant_errors(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "grant.error")
            .collect()
    }

    /// Sets a fault (see tests/provider/README.md).
    pub fn fault(&self, route: &str, mode: &str, count: i64) {
        let body = serde_json::json!({"route": route, "mode": mode, "count": count}).to_string();
        let (status, _) = http(
            self.port,
            "POST",
            "/__test/fault",
            &[("Content-Type", "application/json")],
            &body,
        );
        assert!(
            (200..300).contains(&status),
            "setting fault failed: {status}"
        );
    }

    /// Clears all faults.
    pub fn clear_faults(&self) {
        http(self.port, "DELETE", "/__test/fault", &[], "");
    }

    /// RFC 7662 introspection as the resource-server client `latchkey-rs`.
    pub fn introspect(&self, token: &str) -> Value {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD
            .encode("latchkey-rs:rs-secret-0123456789abcdef");
        let body = format!("token={}", urlencode(token));
        let path = self.endpoint_path("introspection_endpoint");
        let (status, text) = http(
            self.port,
            "POST",
            &path,
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", &format!("Basic {auth}")),
            ],
            &body,
        );
        assert_eq!(status, 200, "introspection failed: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// The path of an endpoint from the discovery document.
    pub fn endpoint_path(&self, field: &str) -> String {
        let (_, text) = http(
            self.port,
            "GET",
            "/.well-known/openid-configuration",
            &[],
            "",
        );
        let doc: Value = serde_json::from_str(&text).unwrap();
        let url = doc[field].as_str().unwrap_or_else(|| panic!("no {field}"));
        url.trim_start_matches(&self.issuer).to_string()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A minimal HTTP/1.1 client for loopback test endpoints. Returns (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    (status, body)
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// The `LATCHKEY_BROWSER` command of the headless browser.
pub fn browser_command() -> String {
    format!(
        "node {}",
        repo_root().join("tests/provider/browser.mjs").display()
    )
}

/// The real keychain seen from outside (`secret-tool`).
pub struct Keyring;

impl Keyring {
    /// Usernames of all items with `service=latchkey` whose username starts with `prefix`.
    ///
    /// `secret-tool search --all` reads every matching item's secret in turn and gives up (exit
    /// 1, the list cut short) when one of them is deleted meanwhile — as tests running in
    /// parallel on the same keyring do. Such a listing is not an answer: it is taken again, and
    /// a failure that persists fails the test with secret-tool's words.
    pub fn items(prefix: &str) -> Vec<String> {
        Self::items_on(None, prefix)
    }

    /// [`Self::items`] of the Secret Service on `bus` (a session's `DBUS_SESSION_BUS_ADDRESS`;
    /// `None`: this process's).
    pub fn items_on(bus: Option<&str>, prefix: &str) -> Vec<String> {
        let mut attempts = 0;
        let out = loop {
            let mut cmd = Command::new("secret-tool");
            cmd.args(["search", "--all", "service", "latchkey"]);
            if let Some(bus) = bus {
                cmd.env("DBUS_SESSION_BUS_ADDRESS", bus);
            }
            let out = cmd
                .output()
                .expect("secret-tool (libsecret-tools) is needed");
            attempts += 1;
            if out.status.success() {
                break out;
            }
            assert!(
                attempts < 50,
                "secret-tool search failed {attempts} times: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let mut users: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("attribute.username = "))
            .filter(|u| u.starts_with(prefix))
            .map(str::to_string)
            .collect();
        users.sort();
        users
    }

    /// The token set stored for an account (its `<id>/tokens` item), parsed.
    pub fn tokens(account_id: &str) -> Option<Value> {
        Self::lookup(&format!("{account_id}/tokens"))
            .map(|raw| serde_json::from_str(&raw).expect("the tokens item is JSON"))
    }

    /// Writes an item the way Latchkey's store does (`service=latchkey`, `username=user`),
    /// from outside: e.g. an entry that nothing in the config dir lists.
    pub fn store(user: &str, value: &str) {
        let out = output_with_stdin(
            Command::new("secret-tool").args([
                "store",
                "--label",
                &format!("Latchkey: {user}"),
                "service",
                "latchkey",
                "username",
                user,
            ]),
            value,
        );
        assert!(
            out.status.success(),
            "secret-tool store failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The value of one item.
    pub fn lookup(user: &str) -> Option<String> {
        let out = Command::new("secret-tool")
            .args(["lookup", "service", "latchkey", "username", user])
            .output()
            .ok()?;
        if out.status.success() {
            Some(String::from_utf8_lossy(&out.stdout).to_string())
        } else {
            None
        }
    }
}

/// A throwaway config dir and environment for the `latchkey` binary.
pub struct Sandbox {
    pub bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    /// Variables removed from this sandbox's commands (e.g. `DBUS_SESSION_BUS_ADDRESS` for a
    /// machine without a Secret Service).
    pub unset: Vec<String>,
}

impl Sandbox {
    /// Adds `name` for the public test client of `p`, signs it in through the headless browser,
    /// and returns its account id.
    pub fn add_and_login(&self, p: &Provider, name: &str) -> String {
        self.ok(&[
            "add",
            name,
            "--issuer",
            &p.issuer,
            "--client-id",
            "latchkey-public",
        ]);
        self.ok(&["login", name, "--timeout", "60"]);
        self.account_id(name)
    }

    pub fn new(bin: impl Into<PathBuf>) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        // Every sandbox has its own agent socket (absent unless a test starts an agent): a
        // test never talks to an agent of another test or of the developer.
        let sock = dir.path().join("agent.sock").to_string_lossy().into_owned();
        Sandbox {
            bin: bin.into(),
            dir,
            env: vec![
                ("LATCHKEY_BROWSER".into(), browser_command()),
                ("LATCHKEY_AGENT_SOCK".into(), sock),
            ],
            unset: Vec::new(),
        }
    }

    /// The agent socket of this sandbox (`LATCHKEY_AGENT_SOCK`).
    pub fn agent_socket(&self) -> PathBuf {
        self.env
            .iter()
            .find(|(k, _)| k == "LATCHKEY_AGENT_SOCK")
            .map(|(_, v)| PathBuf::from(v))
            .unwrap()
    }

    /// Sets (or replaces) an environment variable of this sandbox's commands.
    pub fn set_env(&mut self, key: &str, value: impl Into<String>) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    pub fn config_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A command with this sandbox's environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_with(&self.bin, args)
    }

    /// `bin ARGS` (another copy of the CLI) with this sandbox's environment.
    pub fn cmd_with(&self, bin: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .env("LATCHKEY_CONFIG_DIR", self.dir.path())
            .env_remove("LATCHKEY_LOG")
            .stdin(Stdio::null());
        for k in &self.unset {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Real `git ARGS` in `cwd` as a tool of this sandbox: `home` is its HOME (where
    /// `latchkey setup git` wrote the helper), no system or other global config, no terminal
    /// prompt, the sandbox's config dir and agent socket; with `new_session`, in a session of
    /// its own (`setsid --wait`: another "terminal" for approval's session grants).
    pub fn git(&self, home: &Path, cwd: &Path, args: &[&str], new_session: bool) -> Command {
        let mut c = if new_session {
            let mut c = Command::new("setsid");
            c.args(["--wait", "git"]);
            c
        } else {
            Command::new("git")
        };
        c.args(args)
            .current_dir(cwd)
            .env("HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env_remove("GIT_CONFIG_GLOBAL")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("LATCHKEY_ACCOUNT")
            .env("LATCHKEY_CONFIG_DIR", self.dir.path())
            .env_remove("LATCHKEY_LOG")
            .stdin(Stdio::null());
        for k in &self.unset {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs and collects output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs with stdin.
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        output_with_stdin(&mut self.cmd(args), input)
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`latchkey {}` failed ({:?})\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Starts `n` copies of `latchkey ARGS` that all wait behind a gate (each blocks on its
    /// stdin), opens the gate for all of them at once, and returns their outputs: concurrent
    /// callers start behind a barrier, not after sleeps.
    pub fn run_gated(&self, n: usize, args: &[&str]) -> Vec<Output> {
        let mut children: Vec<Child> = (0..n)
            .map(|_| {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg("read _go && exec \"$0\" \"$@\"")
                    .arg(&self.bin)
                    .args(args)
                    .env("LATCHKEY_CONFIG_DIR", self.dir.path())
                    .env_remove("LATCHKEY_LOG")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                for k in &self.unset {
                    c.env_remove(k);
                }
                for (k, v) in &self.env {
                    c.env(k, v);
                }
                c.spawn().unwrap()
            })
            .collect();
        for c in &mut children {
            c.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        }
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect()
    }

    /// The account id of `name` from `latchkey list --json`.
    pub fn account_id(&self, name: &str) -> String {
        let list: Value = serde_json::from_str(&self.ok(&["list", "--json"])).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Every file under the config dir, concatenated (for leak scans).
    pub fn all_files_text(&self) -> String {
        fn walk(p: &Path, out: &mut String) {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path, out);
                    } else if let Ok(bytes) = std::fs::read(&path) {
                        out.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
            }
        }
        let mut s = String::new();
        walk(self.dir.path(), &mut s);
        s
    }

    /// The metadata file's text ("" if none).
    pub fn accounts_toml(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("accounts.toml")).unwrap_or_default()
    }
}

/// Exit code of an output.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A minimal forward HTTP proxy on 127.0.0.1 (absolute-form requests, one request per
/// connection) that counts what passes through: proves that `HTTP(S)_PROXY` is honoured.
pub struct ForwardProxy {
    pub port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ForwardProxy {
    pub fn start() -> ForwardProxy {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = proxy_one(stream, &log);
                });
            }
        });
        ForwardProxy { port, seen }
    }

    /// `METHOD absolute-URL` of every request proxied so far.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn proxy_one(mut client: TcpStream, log: &std::sync::Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let rest = target.strip_prefix("http://").unwrap_or(target);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    log.lock().unwrap().push(format!("{method} {target}"));
    let mut head = format!(
        "{method} {} HTTP/1.1\r\n",
        if path.is_empty() { "/" } else { path }
    );
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:") || lower.starts_with("proxy-") {
            continue;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let mut upstream = TcpStream::connect(authority)?;
    upstream.write_all(head.as_bytes())?;
    upstream.write_all(&body)?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    client.write_all(&response)?;
    client.shutdown(std::net::Shutdown::Both)
}

/// Runs `cmd` with `input` on its standard input; its output and status.
pub fn output_with_stdin(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A private D-Bus session with its own throwaway, unlocked gnome-keyring
/// (`dbus-run-session -- scripts/with-keyring.sh`), whose bus daemon has no `DISPLAY`: the
/// bus-activated `gcr-prompter` cannot show an unlock prompt, so once [`Self::lock`] locks the
/// login collection (`org.freedesktop.Secret.Service.Lock`, as a desktop's "lock keyring"
/// does) every read or write fails at once as *locked* instead of waiting for a person. Point a
/// command at it with `DBUS_SESSION_BUS_ADDRESS` = [`Self::bus`]. Stopped on drop.
pub struct LockableKeyring {
    child: Child,
    pid: i32,
    bus: String,
    _dir: tempfile::TempDir,
}

const SECRETS: &str = "org.freedesktop.secrets";
const SECRETS_PATH: &str = "/org/freedesktop/secrets";
const LOGIN: &str = "/org/freedesktop/secrets/collection/login";

impl LockableKeyring {
    /// Starts the session (waits until its keyring serves).
    pub fn start() -> LockableKeyring {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("session.info");
        let child = Command::new("dbus-run-session")
            .arg("--")
            .arg(repo_root().join("scripts/with-keyring.sh"))
            .arg(repo_root().join("tests/desktop/session.sh"))
            .arg(&info)
            .args(["sleep", "3600"])
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-run-session (package dbus) is needed");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let text = loop {
            if let Ok(t) = std::fs::read_to_string(&info) {
                break t;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the private D-Bus session did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut lines = text.lines();
        let pid = lines.next().unwrap().parse().unwrap();
        let bus = lines.next().unwrap().to_string();
        let k = LockableKeyring {
            child,
            pid,
            bus,
            _dir: dir,
        };
        assert!(!k.locked(), "the keyring starts unlocked");
        k
    }

    /// The session bus address.
    pub fn bus(&self) -> &str {
        &self.bus
    }

    fn conn(&self) -> zbus::blocking::Connection {
        zbus::blocking::connection::Builder::address(self.bus.as_str())
            .unwrap()
            .build()
            .unwrap()
    }

    /// The login collection's `Locked` property.
    pub fn locked(&self) -> bool {
        let reply = self
            .conn()
            .call_method(
                Some(SECRETS),
                LOGIN,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.freedesktop.Secret.Collection", "Locked"),
            )
            .unwrap();
        bool::try_from(
            reply
                .body()
                .deserialize::<zbus::zvariant::OwnedValue>()
                .unwrap(),
        )
        .unwrap()
    }

    /// Locks the login collection (`org.freedesktop.Secret.Service.Lock`).
    pub fn lock(&self) {
        let login = zbus::zvariant::ObjectPath::try_from(LOGIN).unwrap();
        let reply = self
            .conn()
            .call_method(
                Some(SECRETS),
                SECRETS_PATH,
                Some("org.freedesktop.Secret.Service"),
                "Lock",
                &(vec![login],),
            )
            .unwrap();
        let (done, _prompt): (
            Vec<zbus::zvariant::OwnedObjectPath>,
            zbus::zvariant::OwnedObjectPath,
        ) = reply.body().deserialize().unwrap();
        assert_eq!(done.len(), 1, "the login collection was locked");
        assert!(self.locked());
    }

    /// Unlocks it with the test password through gnome-keyring's own
    /// `UnlockWithMasterPassword` (what its unlock dialog does; no prompt).
    pub fn unlock(&self) {
        let password = std::env::var("LATCHKEY_TEST_KEYRING_PASSWORD")
            .unwrap_or_else(|_| "latchkey-test".to_string());
        let conn = self.conn();
        let reply = conn
            .call_method(
                Some(SECRETS),
                SECRETS_PATH,
                Some("org.freedesktop.Secret.Service"),
                "OpenSession",
                &("plain", zbus::zvariant::Value::from("")),
            )
            .unwrap();
        let (_out, session): (zbus::zvariant::OwnedValue, zbus::zvariant::OwnedObjectPath) =
            reply.body().deserialize().unwrap();
        let secret = (
            session,
            Vec::<u8>::new(),
            password.as_bytes().to_vec(),
            "text/plain",
        );
        conn.call_method(
            Some(SECRETS),
            SECRETS_PATH,
            Some("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"),
            "UnlockWithMasterPassword",
            &(zbus::zvariant::ObjectPath::try_from(LOGIN).unwrap(), secret),
        )
        .unwrap();
        assert!(!self.locked(), "unlocked");
    }

    /// The value of one Latchkey item in this keyring (`secret-tool lookup`), if readable.
    pub fn lookup(&self, user: &str) -> Option<String> {
        let out = Command::new("secret-tool")
            .args(["lookup", "service", "latchkey", "username", user])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    }
}

impl Drop for LockableKeyring {
    fn drop(&mut self) {
        // Ending the session's command lets with-keyring.sh clean up and the session end.
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        let _ = self.child.wait();
    }
}

/// Waits up to `grace` for `child` to exit (after the test asked it to, e.g. with a signal),
/// then kills it; always reaps it.
pub fn reap_within(child: &mut Child, grace: Duration) {
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}
