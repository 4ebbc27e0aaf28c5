//! End-to-end tests of the desktop app, driven like a person would: the real binary under
//! Xvfb, `tauri-driver` + `WebKitWebDriver` (W3C WebDriver: plain JSON over HTTP, spoken here
//! with the testkit's tiny HTTP client), the test provider (`tests/provider/server.mjs`), the
//! headless "system browser" (`browser.mjs`, as `LATCHKEY_BROWSER`) and a real gnome-keyring.
//!
//! Each scenario runs in its own `dbus-run-session -- scripts/with-keyring.sh`: a private bus
//! (single-instance hands off to any other copy of the app on the same bus and exits) with a
//! throwaway, unlocked keyring. The test talks to that bus with `secret-tool` through the
//! address `tests/desktop/session.sh` records.
//!
//! Scenarios: the keychain banner against a really locked gnome-keyring (locked over D-Bus,
//! no prompter able to show) and its recovery without a restart once unlocked; custom-scheme
//! sign-in with the callback handed to a second launch of the app
//! binary (as the OS does; single-instance forwards it), loopback sign-in, and a cold start by
//! URL. Each: empty config → add the account through the UI → Sign in → identity in the DOM →
//! tokens in the keychain → Refresh → Sign out, a screenshot of every state under
//! `target/e2e-screenshots/`, and a scan of the DOM, the app's log file and its output for
//! every token issued: none may appear.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use latchkey_testkit::{Provider, browser_command, repo_root};
use serde_json::{Value, json};

const APP: &str = env!("CARGO_BIN_EXE_latchkey-app");
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One scenario at a time: WebKit is heavy on a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn tauri_driver() -> PathBuf {
    let candidates = [
        std::env::var_os("TAURI_DRIVER").map(PathBuf::from),
        std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin/tauri-driver")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .or_else(|| {
            let out = Command::new("sh").args(["-c", "command -v tauri-driver"]).output().ok()?;
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (!p.is_empty()).then(|| PathBuf::from(p))
        })
        .expect("tauri-driver is needed: `cargo install tauri-driver --locked` (scripts/install-deps.sh test does it)")
}

/// One WebDriver request: (status, body); status 0 if the connection failed.
///
/// Not the testkit's `http`: that one sends `Connection: close`, which tauri-driver forwards to
/// WebKitWebDriver; WebKitWebDriver then closes its side while tauri-driver may reuse the
/// pooled connection, and random requests fail. This client keeps the default keep-alive and
/// reads exactly `Content-Length` (or a chunked body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return (0, String::new());
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n + 2];
            if reader.read_exact(&mut chunk).is_err() {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        if reader.read_exact(&mut body).is_err() {
            return (0, String::new());
        }
    } else {
        let _ = reader.read_to_end(&mut body);
    }
    (status, String::from_utf8_lossy(&body).to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn screenshot_dir() -> PathBuf {
    let dir = repo_root().join("target/e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A private D-Bus session with a throwaway keyring and tauri-driver in it.
struct Desktop {
    child: Child,
    driver_pid: i32,
    bus: String,
    port: u16,
    dir: tempfile::TempDir,
}

impl Desktop {
    fn start(extra_env: &[(&str, String)]) -> Desktop {
        Self::start_with(extra_env, true)
    }

    /// `prompter_display: false` keeps `DISPLAY` from the bus daemon (and so from the
    /// bus-activated `gcr-prompter`, which then cannot show an unlock prompt: a locked keyring
    /// fails at once instead of waiting for a person) while the app still gets it.
    fn start_with(extra_env: &[(&str, String)], prompter_display: bool) -> Desktop {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("session.info");
        let port = free_port();
        let native = free_port();
        let log = std::fs::File::create(dir.path().join("driver.log")).unwrap();
        let mut cmd = Command::new("dbus-run-session");
        cmd.arg("--");
        if !prompter_display {
            let display = std::env::var("DISPLAY").unwrap_or_default();
            cmd.env_remove("DISPLAY")
                .arg("env")
                .arg(format!("DISPLAY={display}"));
        }
        cmd.arg(repo_root().join("scripts/with-keyring.sh"))
            .arg(repo_root().join("tests/desktop/session.sh"))
            .arg(&info)
            .arg(tauri_driver())
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .env("LATCHKEY_CONFIG_DIR", dir.path().join("config"))
            .env("LATCHKEY_BROWSER", browser_command())
            .env("LATCHKEY_TEST_BROWSER_LOG", dir.path().join("browser.log"))
            .env("LATCHKEY_LOG", "latchkey_app=debug,latchkey_core=debug")
            // With WEBKIT_DISABLE_DMABUF_RENDERER=1 (which scripts/test.sh sets to save
            // memory) WebKitWebDriver's screenshot never answers (measured: WebKitGTK 2.4x).
            .env_remove("WEBKIT_DISABLE_DMABUF_RENDERER")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("LATCHKEY_TEST_DEEP_LINK_CMD")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .expect("dbus-run-session (package dbus) is needed");
        let deadline = Instant::now() + Duration::from_secs(30);
        let text = loop {
            if let Ok(t) = std::fs::read_to_string(&info) {
                break t;
            }
            assert!(Instant::now() < deadline, "the D-Bus session did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut lines = text.lines();
        let driver_pid = lines.next().unwrap().parse().unwrap();
        let bus = lines.next().unwrap().to_string();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Desktop {
            child,
            driver_pid,
            bus,
            port,
            dir,
        }
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Starts the app in a new WebDriver session.
    fn session(&self, args: &[&str]) -> Session<'_> {
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {
            "application": APP, "args": args}}}});
        let started = Instant::now();
        // tauri-driver may answer before its WebKitWebDriver accepts connections: retry while
        // the answer is an empty one (HTTP 0).
        let mut attempts = 0;
        let v = loop {
            attempts += 1;
            let (status, text) = http(self.port, "POST", "/session", &caps.to_string());
            if status == 0 && attempts < 40 {
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("webdriver POST /session: HTTP {status}: {text}"));
            assert_eq!(status, 200, "webdriver POST /session: {v}");
            break v["value"].clone();
        };
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        eprintln!("webdriver session in {:?}", started.elapsed());
        Session { desktop: self, id }
    }

    fn wd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, text) = http(self.port, method, path, &body);
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("webdriver {method} {path}: HTTP {status}: {text}"));
        assert!(
            status == 200,
            "webdriver {method} {path}: HTTP {status}: {v}"
        );
        v["value"].clone()
    }

    /// `secret-tool` on this session's bus.
    fn secret_tool(&self, args: &[&str]) -> String {
        let out = Command::new("secret-tool")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .expect("secret-tool (libsecret-tools) is needed");
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    }

    /// Usernames of Latchkey's keychain items.
    fn keychain_items(&self) -> Vec<String> {
        self.secret_tool(&["search", "--all", "service", "latchkey"])
            .lines()
            .filter_map(|l| l.trim().strip_prefix("attribute.username = "))
            .map(str::to_string)
            .collect()
    }

    /// Every token string in the keychain now.
    fn tokens(&self) -> Vec<String> {
        let mut out = Vec::new();
        for user in self.keychain_items() {
            if !user.ends_with("/tokens") {
                continue;
            }
            let raw = self.secret_tool(&["lookup", "service", "latchkey", "username", &user]);
            let v: Value =
                serde_json::from_str(raw.trim()).unwrap_or_else(|_| panic!("tokens item is JSON"));
            for field in ["access_token", "refresh_token", "id_token"] {
                if let Some(t) = v[field].as_str() {
                    out.push(t.to_string());
                }
            }
        }
        out
    }

    /// Whether a running copy of the app owns its single-instance name on this bus.
    fn app_running(&self) -> bool {
        let out = Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply=literal",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:dev.latchkey.app.SingleInstance",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("true")
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for f in [
            self.dir.path().join("driver.log"),
            self.config_dir().join("latchkey.log"),
            self.dir.path().join("browser.log"),
        ] {
            if let Ok(mut file) = std::fs::File::open(&f) {
                let mut buf = Vec::new();
                let _ = file.read_to_end(&mut buf);
                s.push_str(&String::from_utf8_lossy(&buf));
            }
        }
        s
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the evidence next to the screenshots (a CI artifact).
            let name = std::thread::current()
                .name()
                .unwrap_or("e2e")
                .replace("::", "-");
            let _ = std::fs::write(screenshot_dir().join(format!("{name}.log")), self.logs());
        }
        // Stopping tauri-driver lets with-keyring.sh clean up and dbus-run-session end.
        let _ = Command::new("kill")
            .arg(self.driver_pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session: the running app.
struct Session<'a> {
    desktop: &'a Desktop,
    id: String,
}

impl Session<'_> {
    fn wd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.desktop
            .wd(method, &format!("/session/{}{path}", self.id), body)
    }

    fn js(&self, script: &str) -> Value {
        self.wd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn find(&self, css: &str) -> String {
        let v = self.wd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let el = self.find(css);
        self.wd("POST", &format!("/element/{el}/click"), Some(json!({})));
    }

    fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.wd("POST", &format!("/element/{el}/clear"), Some(json!({})));
        self.wd(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        );
    }

    /// Waits until the JavaScript expression is truthy.
    fn wait_for(&self, what: &str, expr: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.js(&format!("return !!({expr});")) == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let body = self.js("return document.body.innerText;");
                panic!(
                    "timed out waiting for {what}; the window shows:\n{}",
                    body.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn account_js(name: &str) -> String {
        format!("document.querySelector('li.account[data-name=\"{name}\"]')")
    }

    fn wait_status(&self, name: &str, status: &str) {
        let li = Self::account_js(name);
        self.wait_for(
            &format!("{name} to be {status}"),
            &format!("{li} && {li}.dataset.status === '{status}'"),
            Duration::from_secs(45),
        );
    }

    fn text(&self, css: &str) -> String {
        self.js(&format!(
            "return document.querySelector('{css}')?.innerText ?? '';"
        ))
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    fn screenshot(&self, name: &str) {
        // Let the last change paint.
        std::thread::sleep(Duration::from_millis(300));
        let v = self.wd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    }

    fn dom(&self) -> String {
        self.js("return document.documentElement.outerHTML + '\\n' + document.body.innerText;")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn action(&self, name: &str, action: &str) {
        self.click(&format!(
            "li.account[data-name=\"{name}\"] button[data-action=\"{action}\"]"
        ));
    }

    /// Adds an account for the test provider through the "Add account" form.
    fn add_account(&self, name: &str, issuer: &str, redirect: &str, shot: &str) {
        self.click("#add-account");
        self.wait_for(
            "the form",
            "document.querySelector('#account-dialog').open",
            Duration::from_secs(5),
        );
        self.type_into("#account-form [name=name]", name);
        self.type_into("#account-form [name=issuer]", issuer);
        self.type_into("#account-form [name=client_id]", "latchkey-public");
        self.js(&format!(
            "const r = document.querySelector('#redirect'); r.value = '{redirect}'; r.dispatchEvent(new Event('change'));"
        ));
        let shown = self.text("#redirect-uri");
        if redirect == "scheme" {
            assert_eq!(shown, format!("dev.latchkey.app:/callback/{name}"));
        } else {
            assert!(shown.starts_with("http://127.0.0.1:"), "{shown}");
        }
        self.screenshot(shot);
        self.click("#account-submit");
        self.wait_status(name, "signed_out");
    }

    fn end(self) {
        self.wd("DELETE", "", None);
    }
}

fn provider() -> Provider {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "the desktop end-to-end tests need a display: run them with scripts/test.sh (xvfb-run)"
    );
    Provider::start(json!({"accessTokenTtl": 300}))
}

/// Signed in → keychain → Refresh → Sign out, with screenshots; returns every token seen.
fn signed_in_refresh_sign_out(d: &Desktop, s: &Session, name: &str, prefix: &str) -> Vec<String> {
    s.wait_status(name, "signed_in");
    let identity = s.text(&format!("li.account[data-name=\"{name}\"] .identity"));
    assert!(
        identity.contains("Alice Example") && identity.contains("alice@example.test"),
        "identity shown: {identity:?}"
    );
    s.screenshot(&format!("{prefix}-04-signed-in"));
    let items = d.keychain_items();
    assert!(
        items.iter().any(|u| u.ends_with("/tokens")),
        "keychain items: {items:?}"
    );
    let mut tokens = d.tokens();
    assert_eq!(
        tokens.len(),
        3,
        "access, refresh and id token are in the keychain"
    );

    let before = tokens[0].clone();
    s.action(name, "refresh");
    s.wait_for(
        "the refresh",
        &format!(
            "{}.querySelector('.refreshed').innerText.includes('last refresh')",
            Session::account_js(name)
        ),
        Duration::from_secs(30),
    );
    let after = d.tokens();
    assert_ne!(after[0], before, "Refresh stored a new access token");
    tokens.extend(after);
    s.wait_status(name, "signed_in");
    s.screenshot(&format!("{prefix}-05-refreshed"));

    s.action(name, "sign-out");
    s.wait_status(name, "signed_out");
    assert!(
        !d.keychain_items().iter().any(|u| u.ends_with("/tokens")),
        "Sign out removed the tokens"
    );
    s.screenshot(&format!("{prefix}-06-signed-out"));
    tokens
}

fn assert_no_token_leaked(d: &Desktop, s: &Session, tokens: &[String]) {
    let dom = s.dom();
    let logs = d.logs();
    assert!(logs.contains("sign"), "the app's logs were captured");
    for t in tokens {
        assert!(t.len() >= 16);
        assert!(!dom.contains(t.as_str()), "a token is in the DOM");
        assert!(
            !logs.contains(t.as_str()),
            "a token is in the logs or output"
        );
    }
}

#[test]
fn scheme_sign_in_reaches_the_running_app_through_a_second_launch() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let p = provider();
    // The "OS": the browser hands the dev.latchkey.app: URL to a new launch of the app binary.
    let d = Desktop::start(&[("LATCHKEY_TEST_DEEP_LINK_CMD", APP.to_string())]);
    let s = d.session(&[]);
    s.wait_for(
        "the empty state",
        "!document.querySelector('#empty').hidden",
        Duration::from_secs(20),
    );
    s.screenshot("scheme-01-empty");
    s.add_account("work", &p.issuer, "scheme", "scheme-02-add-form");
    s.screenshot("scheme-03-added");
    s.action("work", "sign-in");
    let tokens = signed_in_refresh_sign_out(&d, &s, "work", "scheme");
    let browser_log = std::fs::read_to_string(d.dir.path().join("browser.log")).unwrap_or_default();
    assert!(
        browser_log.contains("deep link command exited with 0"),
        "{browser_log}"
    );
    assert_no_token_leaked(&d, &s, &tokens);
    s.end();
}

#[test]
fn loopback_sign_in_from_the_window() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let p = provider();
    let d = Desktop::start(&[]);
    let s = d.session(&[]);
    s.wait_for(
        "the empty state",
        "!document.querySelector('#empty').hidden",
        Duration::from_secs(20),
    );
    s.screenshot("loopback-01-empty");
    s.add_account("home", &p.issuer, "loopback", "loopback-02-add-form");
    s.screenshot("loopback-03-added");
    s.action("home", "sign-in");
    let tokens = signed_in_refresh_sign_out(&d, &s, "home", "loopback");
    assert_no_token_leaked(&d, &s, &tokens);
    s.end();
}

#[test]
fn cold_start_by_url_completes_the_sign_in() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let p = provider();
    let url_file = tempfile::tempdir().unwrap();
    let url_path = url_file.path().join("callback.url");
    let save = format!(
        "{} {}",
        repo_root().join("tests/desktop/save-url.sh").display(),
        url_path.display()
    );
    let d = Desktop::start(&[("LATCHKEY_TEST_DEEP_LINK_CMD", save)]);
    let s = d.session(&[]);
    s.wait_for(
        "the empty state",
        "!document.querySelector('#empty').hidden",
        Duration::from_secs(20),
    );
    s.add_account("cold", &p.issuer, "scheme", "cold-02-add-form");
    s.action("cold", "sign-in");
    s.wait_status("cold", "signing_in");
    s.screenshot("cold-03-signing-in");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !url_path.exists() {
        assert!(
            Instant::now() < deadline,
            "the browser produced no callback"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = std::fs::read_to_string(&url_path)
        .unwrap()
        .trim()
        .to_string();
    assert!(url.starts_with("dev.latchkey.app:/callback/"), "{url}");
    s.end();
    let deadline = Instant::now() + Duration::from_secs(15);
    while d.app_running() {
        assert!(Instant::now() < deadline, "the first app did not quit");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The OS starts the app with the callback as its only argument.
    let s = d.session(&[&url]);
    let tokens = signed_in_refresh_sign_out(&d, &s, "cold", "cold");
    assert_no_token_leaked(&d, &s, &tokens);
    // The URL itself (code, state) is not logged either.
    let state = url
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert!(
        !d.logs().contains(state),
        "the callback's state is in the logs"
    );
    s.end();
}

/// The private bus's Secret Service, spoken to directly (zbus), as a person locking and
/// unlocking their keyring would through their desktop.
mod keyring_bus {
    use zbus::blocking::Connection;
    use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

    const SECRETS: &str = "org.freedesktop.secrets";
    const SERVICE_PATH: &str = "/org/freedesktop/secrets";
    const LOGIN: &str = "/org/freedesktop/secrets/collection/login";

    pub fn connect(bus: &str) -> Connection {
        zbus::blocking::connection::Builder::address(bus)
            .unwrap()
            .build()
            .unwrap()
    }

    pub fn locked(conn: &Connection) -> bool {
        let reply = conn
            .call_method(
                Some(SECRETS),
                LOGIN,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.freedesktop.Secret.Collection", "Locked"),
            )
            .unwrap();
        bool::try_from(reply.body().deserialize::<OwnedValue>().unwrap()).unwrap()
    }

    /// `org.freedesktop.Secret.Service.Lock` on the login collection.
    pub fn lock(conn: &Connection) {
        let login = ObjectPath::try_from(LOGIN).unwrap();
        let reply = conn
            .call_method(
                Some(SECRETS),
                SERVICE_PATH,
                Some("org.freedesktop.Secret.Service"),
                "Lock",
                &(vec![login],),
            )
            .unwrap();
        let (done, _prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) =
            reply.body().deserialize().unwrap();
        assert_eq!(done.len(), 1, "the login collection was locked");
    }

    /// Unlocks the login collection with the test password (gnome-keyring's own
    /// `UnlockWithMasterPassword`, what its unlock dialog does: no prompt here).
    pub fn unlock(conn: &Connection, password: &str) {
        let reply = conn
            .call_method(
                Some(SECRETS),
                SERVICE_PATH,
                Some("org.freedesktop.Secret.Service"),
                "OpenSession",
                &("plain", Value::from("")),
            )
            .unwrap();
        let (_out, session): (OwnedValue, OwnedObjectPath) = reply.body().deserialize().unwrap();
        let secret = (
            session,
            Vec::<u8>::new(),
            password.as_bytes().to_vec(),
            "text/plain",
        );
        conn.call_method(
            Some(SECRETS),
            SERVICE_PATH,
            Some("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"),
            "UnlockWithMasterPassword",
            &(ObjectPath::try_from(LOGIN).unwrap(), secret),
        )
        .unwrap();
    }
}

#[test]
fn locked_keychain_shows_a_banner_and_recovers_without_a_restart() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let p = provider();
    let d = Desktop::start_with(&[], false);
    let s = d.session(&[]);
    s.wait_for(
        "the empty state",
        "!document.querySelector('#empty').hidden",
        Duration::from_secs(20),
    );
    s.add_account("vault", &p.issuer, "loopback", "keychain-01-add-form");
    s.action("vault", "sign-in");
    s.wait_status("vault", "signed_in");
    assert_eq!(
        s.js("return document.querySelector('#keychain-locked').hidden;"),
        json!(true),
        "no banner while the keychain is readable"
    );
    s.screenshot("keychain-02-signed-in");

    let bus = keyring_bus::connect(&d.bus);
    keyring_bus::lock(&bus);
    assert!(keyring_bus::locked(&bus));
    // The app notices at its next sweep, without any action in the window.
    s.wait_for(
        "the locked-keychain banner",
        "!document.querySelector('#keychain-locked').hidden",
        Duration::from_secs(60),
    );
    s.wait_status("vault", "unknown");
    let banner = s.text("#keychain-locked");
    assert!(banner.contains("keychain is locked"), "{banner}");
    s.screenshot("keychain-03-locked-banner");

    let password = std::env::var("LATCHKEY_TEST_KEYRING_PASSWORD")
        .unwrap_or_else(|_| "latchkey-test".to_string());
    keyring_bus::unlock(&bus, &password);
    assert!(!keyring_bus::locked(&bus));
    // Recovery without a restart: the banner goes and the list is filled again.
    s.wait_for(
        "the banner to go",
        "document.querySelector('#keychain-locked').hidden",
        Duration::from_secs(60),
    );
    s.wait_status("vault", "signed_in");
    let identity = s.text("li.account[data-name=\"vault\"] .identity");
    assert!(identity.contains("alice@example.test"), "{identity}");
    assert!(d.app_running(), "the same app, not a restart");
    s.screenshot("keychain-04-unlocked");
    s.end();
}
