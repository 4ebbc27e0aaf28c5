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
//! Scenarios: the list + detail layout driven with the keyboard, and git, Docker and kubectl
//! connected from the window (dry-run preview, Apply writing what `latchkey setup` writes into
//! the app's HOME, the connection listed, Undo back to the original bytes); the keychain banner against a really locked gnome-keyring (locked over D-Bus,
//! no prompter able to show) and its recovery without a restart once unlocked; the app as the
//! client of a standalone `latchkey agent` (the CLI built beside the app), asking for an expired
//! token at the same moment as 20 CLI callers: one refresh in all; custom-scheme
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
        latchkey_testkit::Keyring::items_on(Some(&self.bus), "")
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
        latchkey_testkit::reap_within(&mut self.child, Duration::from_secs(10));
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

    /// The detail pane while it shows account `name`.
    fn detail_js(name: &str) -> String {
        format!("document.querySelector('#detail[data-name=\"{name}\"]')")
    }

    /// Selects account `name` in the list (a click) and waits for its detail pane.
    fn show(&self, name: &str) {
        self.click(&format!("li.account[data-name=\"{name}\"]"));
        let detail = Self::detail_js(name);
        self.wait_for(
            &format!("the detail of {name}"),
            &format!("{detail} && !{detail}.hidden"),
            Duration::from_secs(5),
        );
    }

    /// Clicks an action of account `name` in the detail pane (selecting it first).
    fn action(&self, name: &str, action: &str) {
        self.show(name);
        self.click(&format!(
            "#detail[data-name=\"{name}\"] button[data-action=\"{action}\"]"
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
    s.show(name);
    let identity = s.text(&format!("#detail[data-name=\"{name}\"] .identity"));
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
            Session::detail_js(name)
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

    // An account from before the mix-up defence (shared redirect URI) is told so, and the edit
    // form switches it to its own URI.
    let toml = d.config_dir().join("accounts.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("per_account_redirect = true"), "{text}");
    std::fs::write(&toml, text.replace("per_account_redirect = true\n", "")).unwrap();
    s.wait_for(
        "the shared-redirect warning",
        "[...document.querySelectorAll('#detail[data-name=\"home\"] .problem')].some((p) => p.textContent.includes('shared by all accounts'))",
        Duration::from_secs(10),
    );
    s.action("home", "edit");
    s.wait_for(
        "the edit form",
        "document.querySelector('#account-dialog').open",
        Duration::from_secs(5),
    );
    assert_eq!(
        s.js("return document.querySelector(\"[data-field='own_redirect']\").hidden;"),
        json!(false),
        "the switch is offered to an account without its own redirect URI"
    );
    let shared = s.text("#redirect-uri");
    assert!(shared.ends_with("/callback"), "{shared}");
    s.click("#account-form [name=per_account_redirect]");
    let own = s.text("#redirect-uri");
    assert!(own.ends_with("/callback/home"), "{own}");
    s.click("#account-submit");
    s.wait_for(
        "the form to close",
        "!document.querySelector('#account-dialog').open",
        Duration::from_secs(15),
    );
    assert!(account_toml(&d, "home").contains("per_account_redirect = true"));
    s.wait_for(
        "the warning to go",
        "![...document.querySelectorAll('#detail[data-name=\"home\"] .problem')].some((p) => p.textContent.includes('shared by all accounts'))",
        Duration::from_secs(10),
    );
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
    // The tokens the app already holds are still served (it is the agent of this session), so
    // the account stays signed in; the banner is what tells the keychain is locked.
    s.wait_status("vault", "signed_in");
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
    s.show("vault");
    let identity = s.text("#detail[data-name=\"vault\"] .identity");
    assert!(identity.contains("alice@example.test"), "{identity}");
    assert!(d.app_running(), "the same app, not a restart");
    s.screenshot("keychain-04-unlocked");
    s.end();
}

// ---- the app among the agent's callers (issue 8) --------------------------------------------

/// The `latchkey` CLI built beside the app (`cargo build -p latchkey-cli` first).
fn cli_bin() -> PathBuf {
    let cli = PathBuf::from(APP).with_file_name("latchkey");
    assert!(
        cli.exists(),
        "{} is missing: build the CLI first (cargo build -p latchkey-cli)",
        cli.display()
    );
    cli
}

/// 20 concurrent CLI callers (14 through the agent, 6 on the direct path beside it), a
/// standalone `latchkey agent`, and the desktop app (its client: the agent holds the socket)
/// asking for the same expired token at once: exactly one refresh at the provider, no
/// `invalid_grant`, everyone gets the same new token.
#[test]
fn twenty_cli_callers_the_agent_and_the_app_on_an_expired_token_refresh_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let _ = provider();
    // A short first token (expired when the callers come) and a long refreshed one (so no
    // caller, the app with its default minimum validity included, wants a second refresh).
    let p = Provider::start(json!({"accessTokenTtl": 3, "refreshedAccessTokenTtl": 3600}));
    let mut sb = latchkey_testkit::Sandbox::new(cli_bin());
    let sock = sb.agent_socket().to_string_lossy().into_owned();
    let d = Desktop::start(&[
        ("LATCHKEY_CONFIG_DIR", sb.config_dir().display().to_string()),
        ("LATCHKEY_AGENT_SOCK", sock.clone()),
    ]);
    sb.set_env("DBUS_SESSION_BUS_ADDRESS", d.bus.clone());
    let id = sb.add_and_login(&p, "conc");

    // The standalone agent takes the socket first; the app then becomes its client.
    let mut agent = sb
        .cmd(&["agent"])
        .env("LATCHKEY_LOG", "latchkey=debug,latchkey_core=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.dir.path().join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let agent_pid = agent.id();
    let agent = Kill(&mut agent);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::path::Path::new(&sock).exists() {
        assert!(Instant::now() < deadline, "the agent did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = d.session(&[]);
    s.wait_for(
        "the account in the list",
        &Session::account_js("conc"),
        Duration::from_secs(30),
    );
    let status: Value = serde_json::from_str(&sb.ok(&["status", "conc", "--json"])).unwrap();
    assert_eq!(status[0]["agent"]["pid"], agent_pid, "{status}");
    // Wait out the first token, then everyone at once.
    std::thread::sleep(Duration::from_secs(4));
    let before = p.count("grant.success", Some("refresh_token"));
    let mut callers: Vec<Child> = (0..20)
        .map(|i| {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("read _go && exec \"$0\" \"$@\"")
                .arg(cli_bin())
                .args(["token", "conc"])
                .env("LATCHKEY_CONFIG_DIR", sb.config_dir())
                .env_remove("LATCHKEY_LOG")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            for (k, v) in &sb.env {
                c.env(k, v);
            }
            if i >= 14 {
                c.env("LATCHKEY_NO_AGENT", "1");
            }
            c.spawn().unwrap()
        })
        .collect();
    // The app asks (as its "Copy" button does) right when the gate opens.
    s.js("window.__copied = null; window.__TAURI__.core.invoke('copy_access_token', {name: 'conc'}).then(() => { window.__copied = 'ok'; }, (e) => { window.__copied = JSON.stringify(e); }); return true;");
    for c in &mut callers {
        c.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    let outs: Vec<std::process::Output> = callers
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    s.wait_for(
        "the app's token request to finish",
        "window.__copied !== null",
        Duration::from_secs(60),
    );
    assert_eq!(
        s.js("return window.__copied;"),
        json!("ok"),
        "the app got a token"
    );
    for o in &outs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let tokens: std::collections::HashSet<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .collect();
    assert_eq!(tokens.len(), 1, "every caller got the same refreshed token");
    assert_eq!(
        p.count("grant.success", Some("refresh_token")) - before,
        1,
        "exactly one refresh"
    );
    assert!(p.grant_errors().is_empty(), "{:?}", p.grant_errors());
    let raw = d.secret_tool(&[
        "lookup",
        "service",
        "latchkey",
        "username",
        &format!("{id}/tokens"),
    ]);
    let stored: Value = serde_json::from_str(raw.trim()).unwrap();
    assert_eq!(
        stored["access_token"].as_str(),
        tokens.iter().next().map(String::as_str),
        "the rotated set is in the keychain"
    );
    let agent_log = std::fs::read_to_string(d.dir.path().join("agent.log")).unwrap();
    assert!(
        agent_log.matches("token request").count() >= 15,
        "the agent served the 14 agent callers and the app:\n{agent_log}"
    );
    let app_log = d.logs()
        + &std::fs::read_to_string(sb.config_dir().join("latchkey.log")).unwrap_or_default();
    assert!(
        app_log.contains("asking the agent that serves it"),
        "the app is the agent's client:\n{app_log}"
    );
    drop(agent);
    s.end();
}

// ---- dialogs, keyboard and accessibility (issue 12, points 4 and 6) --------------------------

/// Serious or critical axe-core violations, as `id (impact): help — nodes` lines.
type Violations = Vec<String>;

impl Session<'_> {
    /// Presses keys (WebDriver key codes, e.g. "\u{E004}" = Tab) one after the other; `shift`
    /// holds Shift around each.
    fn press(&self, key: &str, shift: bool) {
        let mut actions = Vec::new();
        if shift {
            actions.push(json!({"type": "keyDown", "value": "\u{E008}"}));
        }
        actions.push(json!({"type": "keyDown", "value": key}));
        actions.push(json!({"type": "keyUp", "value": key}));
        if shift {
            actions.push(json!({"type": "keyUp", "value": "\u{E008}"}));
        }
        self.wd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    fn tab(&self) {
        self.press("\u{E004}", false);
    }

    /// What has the keyboard focus: `tag#id[data-action]@account`, and whether a focus
    /// indicator is drawn (an outline or a box shadow).
    fn focused(&self) -> (String, bool) {
        let v = self.js(
            "const e = document.activeElement; if (!e || e === document.body) return ['body', false];
             const s = getComputedStyle(e);
             const li = e.closest('li.account, #detail');
             const d = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
               + (e.dataset.action ? '[' + e.dataset.action + ']' : '')
               + (e.name ? '[name=' + e.name + ']' : '')
               + (li ? '@' + li.dataset.name : '')
               + (e.closest('dialog') ? ' in ' + e.closest('dialog').id : '');
             const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
             return [d, ring];",
        );
        (
            v[0].as_str().unwrap_or("").to_string(),
            v[1].as_bool().unwrap_or(false),
        )
    }

    /// Runs axe-core (`tests/provider/node_modules/axe-core`, injected through WebDriver: the
    /// app's CSP allows no injected script tag) on the whole document.
    fn axe(&self) -> Violations {
        if self.js("return typeof window.axe;") != json!("object") {
            let path = repo_root().join("tests/provider/node_modules/axe-core/axe.min.js");
            let source = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!(
                    "{} is missing: npm ci --prefix tests/provider",
                    path.display()
                )
            });
            let t = self.js(&format!("{source}\n;return typeof window.axe;"));
            assert_eq!(t, json!("object"), "axe-core did not load");
        }
        let v = self.wd(
            "POST",
            "/execute/async",
            Some(json!({"script": "const done = arguments[arguments.length - 1];
                axe.run(document, {resultTypes: ['violations']}).then((r) => done({
                  passes: r.passes.length,
                  bad: r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
                    .map((v) => `${v.id} (${v.impact}): ${v.help} — ` + v.nodes.map((n) => n.target.join(' ')).join(', ')),
                })).catch((e) => done({passes: 0, bad: ['axe failed: ' + e]}));", "args": []})),
        );
        // A check that ran no rule proves nothing.
        assert!(
            v["passes"].as_u64().unwrap_or(0) > 10,
            "axe-core ran no checks: {v}"
        );
        v["bad"]
            .as_array()
            .unwrap_or_else(|| panic!("axe answered {v}"))
            .iter()
            .map(|x| x.as_str().unwrap_or("").to_string())
            .collect()
    }

    fn assert_accessible(&self, what: &str) {
        let violations = self.axe();
        assert!(
            violations.is_empty(),
            "axe-core: serious/critical violations in {what}:\n{}",
            violations.join("\n")
        );
    }

    fn dialog_open(&self, id: &str) -> bool {
        self.js(&format!("return document.querySelector('#{id}').open;")) == json!(true)
    }

    /// Labels of the visible `[data-field]` rows of the account form.
    fn visible_fields(&self) -> Vec<String> {
        let v = self.js(
            "return [...document.querySelectorAll('#account-form [data-field]')]
               .filter((l) => !l.hidden).map((l) => l.dataset.field);",
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    }
}

/// The id of account `name` in accounts.toml.
fn account_id(d: &Desktop, name: &str) -> String {
    let text = std::fs::read_to_string(d.config_dir().join("accounts.toml")).unwrap();
    let mut id = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("id = ") {
            id = Some(v.trim_matches('"').to_string());
        }
        if line.trim() == format!("name = \"{name}\"")
            && let Some(id) = id.take()
        {
            return id;
        }
    }
    panic!("no account {name} in accounts.toml:\n{text}");
}

/// The `[[accounts]]` table of `name` in accounts.toml, as text.
fn account_toml(d: &Desktop, name: &str) -> String {
    let text = std::fs::read_to_string(d.config_dir().join("accounts.toml")).unwrap();
    // Tables: `[[account]]` and its sub-tables `[account.provider]`, … up to the next one.
    let start = text
        .find(&format!("name = \"{name}\""))
        .unwrap_or_else(|| panic!("no account {name} in accounts.toml:\n{text}"));
    let start = text[..start].rfind("[[").unwrap_or(0);
    let rest = &text[start + 2..];
    let end = rest
        .find("\n[[")
        .map(|e| start + 2 + e)
        .unwrap_or(text.len());
    text[start..end].to_string()
}

#[test]
fn add_form_shows_each_presets_fields_and_the_redirect_uri_to_register() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    assert!(std::env::var_os("DISPLAY").is_some(), "needs a display");
    let d = Desktop::start(&[]);
    let s = d.session(&[]);
    s.wait_for(
        "the empty state",
        "!document.querySelector('#empty').hidden && document.querySelectorAll('#preset option').length > 5",
        Duration::from_secs(20),
    );
    s.assert_accessible("the empty window");
    s.click("#add-account");
    s.wait_for(
        "the form",
        "document.querySelector('#account-dialog').open",
        Duration::from_secs(5),
    );
    // Provider fields per preset: the core's table (the CLI's flags take the same).
    let views = latchkey_core::provider::preset_views();
    let expected: Vec<(&str, Vec<&str>, bool)> = views
        .iter()
        .map(|v| {
            (
                v.id,
                v.fields.iter().map(|f| f.name).collect(),
                v.loopback_only,
            )
        })
        .collect();
    assert!(expected.len() >= 12, "every preset: {expected:?}");
    let presets =
        s.js("return [...document.querySelectorAll('#preset option')].map((o) => o.value);");
    let presets: Vec<&str> = presets
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        presets,
        expected.iter().map(|(p, _, _)| *p).collect::<Vec<_>>(),
        "the form offers every preset"
    );
    let always = ["flow", "redirect"];
    for (preset, fields, core_loopback_only) in &expected {
        s.js(&format!(
            "const f = document.querySelector('#account-form'); f.preset.value = '{preset}';
             f.redirect.value = 'scheme'; f.preset.dispatchEvent(new Event('change'));"
        ));
        let shown = s.visible_fields();
        let provider_fields: Vec<&str> = shown
            .iter()
            .map(String::as_str)
            .filter(|f| !always.contains(f) && *f != "port")
            .collect();
        let mut want = fields.to_vec();
        want.sort_unstable();
        let mut got = provider_fields.clone();
        got.sort_unstable();
        assert_eq!(got, want, "fields shown for {preset}");
        let loopback_only =
            s.js("return document.querySelector(\"#redirect option[value='scheme']\").disabled;");
        assert_eq!(
            loopback_only,
            json!(*core_loopback_only),
            "{preset}: loopback only"
        );
        let uri = s.text("#redirect-uri");
        if *core_loopback_only {
            assert_eq!(
                uri, "http://127.0.0.1:<any port>/callback/<name>",
                "{preset} accepts only loopback redirects"
            );
            assert!(
                shown.iter().any(|f| f == "port"),
                "{preset}: the port field"
            );
        } else {
            // Each account its own redirect URI (RFC 9700 mix-up defence); no name typed yet.
            assert_eq!(uri, "dev.latchkey.app:/callback/<name>", "{preset}");
        }
        s.screenshot(&format!("dialog-add-{preset}"));
    }
    // Loopback with a fixed port: the exact URI to register.
    s.js("const f = document.querySelector('#account-form'); f.preset.value = 'oidc'; f.redirect.value = 'loopback'; f.redirect.dispatchEvent(new Event('change'));");
    s.type_into("#account-form [name=port]", "8765");
    s.type_into("#account-form [name=name]", "work");
    assert_eq!(
        s.text("#redirect-uri"),
        "http://127.0.0.1:8765/callback/work"
    );
    // Device and client-credentials flows need no redirect URI.
    s.js("const f = document.querySelector('#account-form'); f.flow.value = 'device'; f.flow.dispatchEvent(new Event('change'));");
    assert!(!s.visible_fields().iter().any(|f| f == "redirect"));
    assert_eq!(
        s.js("return document.querySelector('.redirect-box').hidden;"),
        json!(true)
    );
    s.assert_accessible("the add form");
    s.end();
}

#[test]
fn device_panel_and_edit_form_through_the_window() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    assert!(std::env::var_os("DISPLAY").is_some(), "needs a display");
    let p = Provider::start(json!({"accessTokenTtl": 300, "deviceInterval": 1}));
    // The "browser" opens nothing: the person reads the code off the panel and approves on
    // another device (approve-device.mjs), with the URI and code the panel shows.
    let d = Desktop::start(&[("LATCHKEY_BROWSER", "true".to_string())]);
    let s = d.session(&[]);
    s.wait_for(
        "the empty state",
        "!document.querySelector('#empty').hidden",
        Duration::from_secs(20),
    );
    s.click("#add-account");
    s.wait_for(
        "the form",
        "document.querySelector('#account-dialog').open",
        Duration::from_secs(5),
    );
    s.type_into("#account-form [name=name]", "tv");
    s.type_into("#account-form [name=issuer]", &p.issuer);
    s.type_into("#account-form [name=client_id]", "latchkey-public");
    s.js("const f = document.querySelector('#account-form'); f.flow.value = 'device'; f.flow.dispatchEvent(new Event('change'));");
    s.click("#account-submit");
    s.wait_status("tv", "signed_out");

    // The device panel: user code, where to enter it, a running countdown.
    s.action("tv", "sign-in");
    s.wait_for(
        "the device panel",
        "document.querySelector('#device-dialog').open && document.querySelector('#device-code').innerText.length > 0",
        Duration::from_secs(20),
    );
    let code = s.text("#device-code");
    let uri = s.text("#device-uri");
    assert!(uri.starts_with(&p.issuer), "{uri}");
    assert!(code.len() >= 8, "{code}");
    let first = s.text("#device-countdown");
    // The core's duration words (`text::human_duration`, which the UI follows): "9m 58s".
    assert!(
        first.ends_with('s') && first.starts_with(|c: char| c.is_ascii_digit()),
        "countdown {first:?}"
    );
    s.wait_for(
        "the countdown to move",
        &format!("document.querySelector('#device-countdown').innerText !== '{first}'"),
        Duration::from_secs(10),
    );
    assert_eq!(
        s.focused().0,
        "p#device-code in device-dialog",
        "the panel takes the focus"
    );
    s.screenshot("dialog-device");
    s.assert_accessible("the device panel");
    assert!(d.tokens().is_empty(), "nothing stored before approval");
    let st = Command::new("node")
        .arg(repo_root().join("tests/provider/approve-device.mjs"))
        .arg(&uri)
        .arg(&code)
        .status()
        .unwrap();
    assert!(st.success(), "approving the code shown on the panel");
    s.wait_status("tv", "signed_in");
    assert!(!s.dialog_open("device-dialog"), "approval closed the panel");
    assert_eq!(d.tokens().len(), 3);

    // The edit form: scopes, client secret, keep signed in.
    let id = account_id(&d, "tv");
    assert!(!account_toml(&d, "tv").contains("keep_signed_in = true"));
    s.action("tv", "edit");
    s.wait_for(
        "the edit form",
        "document.querySelector('#account-dialog').open",
        Duration::from_secs(5),
    );
    assert_eq!(s.text("#dialog-title"), "Edit tv");
    assert_eq!(
        s.js("return document.querySelector('#account-form').name.disabled;"),
        json!(true),
        "the name cannot change"
    );
    s.type_into("#account-form [name=scopes]", "openid email offline_access");
    s.type_into("#account-form [name=client_secret]", "edited-secret-7f3a");
    s.click("#account-form [name=keep_signed_in]");
    s.screenshot("dialog-edit");
    s.assert_accessible("the edit form");
    s.click("#account-submit");
    s.wait_for(
        "the form to close",
        "!document.querySelector('#account-dialog').open",
        Duration::from_secs(15),
    );
    let table = account_toml(&d, "tv");
    let compact: String = table.split_whitespace().collect();
    assert!(
        compact.contains(r#"scopes=["openid","email","offline_access",]"#)
            || compact.contains(r#"scopes=["openid","email","offline_access"]"#),
        "{table}"
    );
    assert!(table.contains("keep_signed_in = true"), "{table}");
    assert!(
        !table.contains("edited-secret"),
        "no secret in the metadata"
    );
    let secret = d.secret_tool(&[
        "lookup",
        "service",
        "latchkey",
        "username",
        &format!("{id}/client-secret"),
    ]);
    assert_eq!(secret.trim(), "edited-secret-7f3a");
    s.show("tv");
    let scopes = s.text("#detail[data-name=\"tv\"] .scopes");
    assert!(scopes.contains("openid"), "{scopes}");
    assert!(
        !s.dom().contains("edited-secret-7f3a"),
        "the secret is not in the page"
    );
    s.end();
}

#[test]
fn keyboard_reaches_every_action_and_dialogs_trap_and_restore_focus() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let p = provider();
    let d = Desktop::start(&[]);
    let s = d.session(&[]);
    s.wait_for(
        "the empty state",
        "!document.querySelector('#empty').hidden",
        Duration::from_secs(20),
    );
    s.add_account("kb", &p.issuer, "loopback", "keyboard-01-add-form");
    s.action("kb", "sign-in");
    s.wait_status("kb", "signed_in");
    s.assert_accessible("the list with a signed-in account");

    // Tab from the top of the page: every visible action, each with a visible focus ring.
    s.js("document.activeElement?.blur(); window.focus();");
    let visible = s.js(
        "return [...document.querySelectorAll('button, input, select')]
           .filter((e) => !e.disabled && e.getClientRects().length > 0 && !e.closest('dialog')).length;",
    );
    let visible = visible.as_u64().unwrap() as usize;
    let mut seen = Vec::new();
    for _ in 0..visible + 2 {
        s.tab();
        let (what, ring) = s.focused();
        assert!(ring, "no visible focus on {what}");
        seen.push(what);
    }
    for want in [
        "button#add-account",
        "button[sign-in]@kb",
        "button[refresh]@kb",
        "button[copy]@kb",
        "button[sign-out]@kb",
        "button[edit]@kb",
        "button[remove]@kb",
    ] {
        assert!(
            seen.iter().any(|w| w == want),
            "Tab never reached {want}: {seen:?}"
        );
    }
    if s.js("return document.querySelector('#autostart').disabled;") == json!(false) {
        assert!(seen.iter().any(|w| w == "input#autostart"), "{seen:?}");
    }
    s.screenshot("keyboard-02-focus");

    // Enter on Edit opens the form; Tab stays inside it; Escape closes it; focus returns.
    s.js(
        "document.querySelector('#detail[data-name=\"kb\"] button[data-action=\"edit\"]').focus();",
    );
    s.press("\u{E007}", false); // Enter
    s.wait_for(
        "the edit form",
        "document.querySelector('#account-dialog').open",
        Duration::from_secs(5),
    );
    let fields = s.js(
        "return [...document.querySelectorAll('#account-dialog button, #account-dialog input, #account-dialog select')]
           .filter((e) => !e.disabled && e.getClientRects().length > 0).length;",
    );
    for i in 0..fields.as_u64().unwrap() + 3 {
        s.tab();
        let (what, ring) = s.focused();
        assert!(
            what.ends_with(" in account-dialog"),
            "Tab {i} left the dialog: {what}"
        );
        assert!(ring, "no visible focus on {what}");
    }
    for _ in 0..3 {
        s.press("\u{E004}", true); // Shift+Tab
        let (what, _) = s.focused();
        assert!(
            what.ends_with(" in account-dialog"),
            "Shift+Tab left the dialog: {what}"
        );
    }
    s.screenshot("keyboard-03-dialog-focus");
    s.press("\u{E00C}", false); // Escape
    s.wait_for(
        "the form to close",
        "!document.querySelector('#account-dialog').open",
        Duration::from_secs(5),
    );
    assert_eq!(s.focused().0, "button[edit]@kb", "focus went back to Edit");

    // The same for "Add account", opened with the keyboard.
    s.js("document.querySelector('#add-account').focus();");
    s.press("\u{E007}", false);
    s.wait_for(
        "the add form",
        "document.querySelector('#account-dialog').open",
        Duration::from_secs(5),
    );
    assert_eq!(s.focused().0, "input[name=name] in account-dialog");
    s.press("\u{E00C}", false);
    s.wait_for(
        "the form to close",
        "!document.querySelector('#account-dialog').open",
        Duration::from_secs(5),
    );
    assert_eq!(s.focused().0, "button#add-account");
    s.end();
}

/// Issue 18, the window on a vault: a config dir whose secrets are in the encrypted vault (made
/// by the CLI, its cached key then cleared with `latchkey lock`) opens with the unlock dialog and
/// the store named in the footer; a wrong passphrase is refused in the dialog, the right one
/// unlocks and the account shows signed in.
#[test]
fn a_vault_is_named_in_the_footer_and_unlocked_from_its_dialog() {
    let p = provider();
    let d = Desktop::start(&[]);
    let secret = d.dir.path().join("passphrase.sh");
    std::fs::write(&secret, "#!/bin/sh\necho desktop-vault-passphrase\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(cli_bin())
            .args(args)
            .env("LATCHKEY_CONFIG_DIR", d.config_dir())
            .env("LATCHKEY_VAULT_PASSWORD_COMMAND", &secret)
            .env("LATCHKEY_NO_AGENT", "1")
            .env("LATCHKEY_BROWSER", browser_command())
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "latchkey {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    cli(&["store", "use", "vault"]);
    cli(&[
        "add",
        "v",
        "--issuer",
        &p.issuer,
        "--client-id",
        "latchkey-public",
    ]);
    cli(&["login", "v", "--timeout", "60"]);
    cli(&["lock"]);

    let s = d.session(&[]);
    s.wait_for(
        "the unlock dialog",
        "document.querySelector('#unlock-dialog').open",
        Duration::from_secs(30),
    );
    let footer = s.text("#store-info");
    assert!(footer.to_lowercase().contains("vault"), "footer {footer:?}");
    s.screenshot("vault-01-unlock-dialog");
    s.type_into("#unlock-passphrase", "not-the-passphrase");
    s.click("#unlock-submit");
    s.wait_for(
        "the refusal in the dialog",
        "!document.querySelector('#unlock-error').hidden && document.querySelector('#unlock-dialog').open",
        Duration::from_secs(30),
    );
    let refusal = s.text("#unlock-error");
    assert!(
        refusal.to_lowercase().contains("passphrase"),
        "refusal {refusal:?}"
    );
    s.type_into("#unlock-passphrase", "desktop-vault-passphrase");
    s.click("#unlock-submit");
    s.wait_for(
        "the dialog to close",
        "!document.querySelector('#unlock-dialog').open",
        Duration::from_secs(30),
    );
    s.wait_status("v", "signed_in");
    // Unlocked: no "locked" left in the footer (the reload after the dialog shows it; a reload
    // already under way may render the account first) or in a keychain banner, and the token is
    // read from the vault (a refresh stores the rotated set there).
    s.wait_for(
        "the footer to say unlocked",
        "!document.querySelector('#store-info').textContent.includes('locked')",
        Duration::from_secs(10),
    );
    let footer = s.text("#store-info");
    assert!(footer.starts_with("Secrets: vault"), "footer {footer:?}");
    s.wait_for(
        "no keychain banner",
        "document.querySelector('#keychain-locked').hidden",
        Duration::from_secs(10),
    );
    s.action("v", "refresh");
    s.wait_for(
        "the refresh through the vault",
        "document.body.innerText.includes('v refreshed.')",
        Duration::from_secs(30),
    );
    s.screenshot("vault-02-unlocked");
    s.end();
}

/// Real `git ARGS` in `cwd` ([`latchkey_testkit::Sandbox::git`]), its output collected by the
/// caller.
fn git_run(
    sb: &latchkey_testkit::Sandbox,
    home: &std::path::Path,
    cwd: &std::path::Path,
    args: &[&str],
    new_session: bool,
) -> Child {
    sb.git(home, cwd, args, new_session)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Issue 17: the app is the agent; real git (clone and fetch over smart HTTP from
/// `git http-backend`, which accepts only tokens the provider says are active) asks through
/// Latchkey's helper for an account with
/// `--approval session`. The dialog names git and what it asks; WebDriver answers it. The same
/// session is not asked again, another session is, Deny fails git with Latchkey's reason, an
/// unanswered prompt is denied at its deadline, a lock signal on the bus ends the grant, and
/// the activity names each with requester `git`.
#[test]
fn the_window_asks_before_git_gets_a_token_and_remembers_the_session() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let p = provider();
    let mut sb = latchkey_testkit::Sandbox::new(cli_bin());
    let sock = sb.agent_socket().to_string_lossy().into_owned();
    // The app's home is the tools' home: it lists the git connection set up there.
    let home = tempfile::tempdir().unwrap();
    let d = Desktop::start(&[
        ("LATCHKEY_CONFIG_DIR", sb.config_dir().display().to_string()),
        ("LATCHKEY_AGENT_SOCK", sock.clone()),
        ("LATCHKEY_APPROVAL_TIMEOUT", "6".to_string()),
        ("HOME", home.path().display().to_string()),
    ]);
    sb.set_env("DBUS_SESSION_BUS_ADDRESS", d.bus.clone());
    sb.add_and_login(&p, "work");
    sb.ok(&["edit", "work", "--approval", "session"]);
    let server = latchkey_testkit::GitServer::start(std::sync::Arc::new(p));
    server.repo("org/repo.git", "from the server\n");
    let host = format!("http://127.0.0.1:{}", server.port);
    let url = server.url("org/repo.git");
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let setup = sb
        .cmd(&["setup", "git", "work", "--host", &host, "--path", "org"])
        .env("HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );

    let s = d.session(&[]);
    s.wait_for(
        "the account in the list",
        &Session::account_js("work"),
        Duration::from_secs(30),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::path::Path::new(&sock).exists() {
        assert!(
            Instant::now() < deadline,
            "the app did not serve the agent socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dialog_up = "document.querySelector('#approval-dialog').open";
    let dialog_down = "!document.querySelector('#approval-dialog').open";

    // 1. git asks: the dialog names the account, what and who; Deny has the focus.
    let git = git_run(
        &sb,
        home.path(),
        work.path(),
        &["clone", "-q", &url, "repo"],
        false,
    );
    s.wait_for("the approval dialog", dialog_up, Duration::from_secs(30));
    assert_eq!(s.text("#approval-account"), "work");
    assert!(s.text("#approval-what").contains("its own token"));
    assert!(
        s.text("#approval-target").contains(&format!("git → {url}")),
        "{}",
        s.text("#approval-target")
    );
    let who = s.text("#approval-who");
    assert!(
        who.starts_with("git (/") && who.contains("/git, pid "),
        "{who}"
    );
    assert_eq!(
        s.js("return document.activeElement.id;"),
        json!("approval-deny"),
        "Deny has the focus: Enter never allows by accident"
    );
    s.screenshot("approval-dialog");
    s.assert_accessible("the approval dialog");
    s.click("#approval-session");
    s.wait_for("the dialog to close", dialog_down, Duration::from_secs(10));
    let out = git.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git clone: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("file")).unwrap(),
        "from the server\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("waiting for approval"));
    assert!(server.seen().iter().all(|(_, _, _, accepted)| *accepted));

    // 2. The same program in the same session: nothing asked.
    let out = git_run(&sb, home.path(), &repo, &["fetch", "-q"], false)
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "git again: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("waiting for approval"));

    // Another program (this test, through `latchkey token`) in the same session asks again.
    let other = sb
        .cmd(&["token", "work"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    s.wait_for(
        "the dialog for another program",
        dialog_up,
        Duration::from_secs(30),
    );
    assert!(
        !s.text("#approval-who").starts_with("git ("),
        "{}",
        s.text("#approval-who")
    );
    s.click("#approval-deny");
    s.wait_for("the dialog to close", dialog_down, Duration::from_secs(10));
    let out = other.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7), "denied: exit 7");
    assert!(out.stdout.is_empty(), "no token printed");

    // 3. git in another session asks again; Deny fails it with Latchkey's reason.
    let git = git_run(&sb, home.path(), &repo, &["fetch", "-q"], true);
    s.wait_for(
        "the approval dialog again",
        dialog_up,
        Duration::from_secs(30),
    );
    s.click("#approval-deny");
    s.wait_for("the dialog to close", dialog_down, Duration::from_secs(10));
    let out = git.wait_with_output().unwrap();
    assert!(!out.status.success(), "denied git must fail");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("you denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 4. Unanswered: denied at the deadline, and the dialog goes away by itself.
    let git = git_run(&sb, home.path(), &repo, &["fetch", "-q"], true);
    s.wait_for(
        "the approval dialog (unanswered)",
        dialog_up,
        Duration::from_secs(30),
    );
    let out = git.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nobody approved"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.wait_for(
        "the expired dialog to close",
        dialog_down,
        Duration::from_secs(10),
    );

    // 5. The screen locks (a signal on the session bus): the session grant ends, the same git
    //    asks again.
    let sent = Command::new("dbus-send")
        .env("DBUS_SESSION_BUS_ADDRESS", &d.bus)
        .args([
            "--session",
            "--type=signal",
            "/org/freedesktop/ScreenSaver",
            "org.freedesktop.ScreenSaver.ActiveChanged",
            "boolean:true",
        ])
        .output()
        .unwrap();
    assert!(sent.status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a: Value = serde_json::from_str(&sb.ok(&["approvals", "--json"])).unwrap();
        if a["sessions"].as_array().unwrap().is_empty() {
            assert_eq!(a["last_lock"]["reason"], "the screen locked", "{a}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lock signal did not end the grant: {a}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let git = git_run(&sb, home.path(), &repo, &["fetch", "-q"], false);
    s.wait_for(
        "the dialog after the lock",
        dialog_up,
        Duration::from_secs(30),
    );
    s.click("#approval-once");
    let out = git.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 6. The activity names each, requester executable git.
    let records: Vec<Value> =
        serde_json::from_str(&sb.ok(&["activity", "work", "--json"])).unwrap();
    let git_records: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["requester"]["name"] == "git"
                && r["requester"]["executable"]
                    .as_str()
                    .is_some_and(|e| e.ends_with("/git"))
        })
        .collect();
    let outcomes: Vec<&str> = git_records
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["issued", "issued", "denied", "timed_out", "issued"],
        "{records:?}"
    );
    assert_eq!(git_records[1]["admission"], "session_grant");

    // 7. The window shows it: the account's recent use and policy, "last use" beside the git
    //    connection, and the full activity view.
    s.show("work");
    s.wait_for(
        "the account's recent activity",
        "!document.querySelector('#activity').hidden && document.querySelector('#activity-list').innerText.includes('git, 3 times today')",
        Duration::from_secs(15),
    );
    assert!(
        s.text("#approval-policy")
            .contains("once per program and session (10m 0s idle, 12h 0m at most)"),
        "{}",
        s.text("#approval-policy")
    );
    // The grant given after the lock is "once": none is live; the lock is shown.
    assert!(
        s.text("#approval-grants").contains("Session grants ended")
            && s.text("#approval-grants").contains("the screen locked"),
        "{}",
        s.text("#approval-grants")
    );
    let recent = s.text("#activity-list");
    assert!(
        recent.contains("denied") && recent.contains("not answered"),
        "{recent}"
    );
    s.wait_for(
        "last use beside the git connection",
        "document.querySelector('#connections li.connection[data-tool=\"git\"] .last-use')",
        Duration::from_secs(15),
    );
    s.js("document.querySelector('#activity').scrollIntoView(); return true;");
    s.screenshot("activity-01-detail");
    s.click("#activity-all");
    s.wait_for(
        "the activity view",
        "document.querySelector('#activity-dialog').open",
        Duration::from_secs(10),
    );
    let table = s.text("#activity-table");
    assert!(
        table.contains("git (/") && table.contains("not answered") && table.contains("agent"),
        "{table}"
    );
    s.screenshot("activity-02-all");
    s.assert_accessible("the activity view");
    s.click("#activity-close");
    assert!(
        git_records
            .iter()
            .all(|r| r["via"] == "agent" && r["tool"] == "git"),
        "{git_records:?}"
    );
    s.end();
}

// ---- list + detail, connections set up from the window (issue 17, points 6 and 7) ------------

/// `git config --global ARGS` in `home` (the app's HOME in the test), as a person would check.
fn git_global(home: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["config", "--global"])
        .args(args)
        .env("HOME", home)
        .env_remove("GIT_CONFIG_GLOBAL")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Two accounts: the list takes the arrow keys and the detail pane follows; "Connect git…"
/// shows the dry run (file, changed lines, the rule) and writes nothing until Apply; Apply
/// writes what `latchkey setup git` writes (the CLI then finds nothing to change) in the app's
/// HOME; the connection is listed; its Undo (with the same preview) puts the file back byte
/// for byte. axe on the list and detail, the form and both previews; screenshots.
#[test]
fn list_detail_keyboard_and_git_connected_and_undone_from_the_window() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let p = provider();
    let cli = cli_bin();
    let home = tempfile::tempdir().unwrap();
    let gitconfig = home.path().join(".gitconfig");
    let original = "# mine\n[user]\n\tname = Test Person\n";
    std::fs::write(&gitconfig, original).unwrap();
    let d = Desktop::start(&[("HOME", home.path().display().to_string())]);
    let s = d.session(&[]);
    s.wait_for(
        "the empty state",
        "!document.querySelector('#empty').hidden",
        Duration::from_secs(20),
    );
    s.add_account("alpha", &p.issuer, "loopback", "layout-00-add-form");
    s.add_account("beta", &p.issuer, "loopback", "layout-00-add-form-2");

    // The list: one Tab stop, arrow keys move the selection and the detail follows.
    let selected = || {
        s.js("return [...document.querySelectorAll('#accounts [aria-selected=true]')].map((li) => li.dataset.name);")
    };
    assert_eq!(selected(), json!(["alpha"]), "the first account is shown");
    s.js("document.querySelector('li.account[aria-selected=true]').focus();");
    assert_eq!(s.focused().0, "li@alpha");
    s.press("\u{E015}", false); // ArrowDown
    assert_eq!(s.focused(), ("li@beta".to_string(), true));
    assert_eq!(selected(), json!(["beta"]));
    s.wait_for(
        "beta's detail",
        "document.querySelector('#detail').dataset.name === 'beta'",
        Duration::from_secs(5),
    );
    assert_eq!(s.text("#detail-name"), "beta");
    s.press("\u{E013}", false); // ArrowUp
    assert_eq!(s.focused().0, "li@alpha");
    s.wait_for(
        "alpha's detail",
        "document.querySelector('#detail').dataset.name === 'alpha'",
        Duration::from_secs(5),
    );
    assert_eq!(
        s.js("return document.querySelector('#accounts').getAttribute('role') + ' ' + document.querySelector('li.account').getAttribute('role');"),
        json!("listbox option")
    );
    assert_eq!(
        s.js("return document.querySelector('#detail .provider-icon use').getAttribute('href');"),
        json!("#icon-oidc"),
        "a custom issuer gets the generic mark"
    );
    assert!(s.text("#connections-none").contains("No tool"));
    s.screenshot("layout-01-list-detail");
    s.assert_accessible("the list and the detail pane");

    // Narrower window: one column (best effort: the driver may not resize).
    let (status, _) = http(
        d.port,
        "POST",
        &format!("/session/{}/window/rect", s.id),
        &json!({"width": 600, "height": 760}).to_string(),
    );
    if status == 200 {
        std::thread::sleep(Duration::from_millis(400));
        s.screenshot("layout-02-narrow");
        s.assert_accessible("the narrow layout");
        http(
            d.port,
            "POST",
            &format!("/session/{}/window/rect", s.id),
            &json!({"width": 1000, "height": 720}).to_string(),
        );
    }

    // Connect git, from the keyboard: the form, then the dry run.
    s.js("document.querySelector('#connect-git').focus();");
    s.press("\u{E007}", false); // Enter
    s.wait_for(
        "the connect form",
        "document.querySelector('#connect-dialog').open",
        Duration::from_secs(5),
    );
    assert_eq!(s.focused().0, "input[name=host] in connect-dialog");
    s.type_into("#connect-form [name=host]", "git.example.test");
    s.type_into("#connect-form [name=path]", "team");
    s.screenshot("connect-01-form");
    s.assert_accessible("the connect form");
    s.click("#connect-preview-button");
    s.wait_for(
        "the preview",
        "!document.querySelector('#connect-preview').hidden",
        Duration::from_secs(10),
    );
    let preview = s.text("#connect-preview");
    assert!(
        preview.contains(&gitconfig.display().to_string()),
        "{preview}"
    );
    assert!(
        preview.contains("+ [credential \"https://git.example.test\"]"),
        "{preview}"
    );
    assert!(preview.contains("git-credential"), "{preview}");
    assert!(
        preview.contains("+ rule git.example.test/team → alpha"),
        "{preview}"
    );
    assert_eq!(
        std::fs::read_to_string(&gitconfig).unwrap(),
        original,
        "the preview wrote nothing"
    );
    assert!(!account_toml(&d, "alpha").contains("git.example.test"));
    assert_eq!(s.focused().0, "button#connect-apply in connect-dialog");
    s.screenshot("connect-02-preview");
    s.assert_accessible("the connect preview");

    // Apply: the helper in the app's HOME, as the CLI writes it.
    s.click("#connect-apply");
    s.wait_for(
        "the dialog to close",
        "!document.querySelector('#connect-dialog').open",
        Duration::from_secs(10),
    );
    assert_eq!(
        git_global(
            home.path(),
            &["--get-all", "credential.https://git.example.test.helper"]
        ),
        // (the path is quoted for the shell only when it needs it)
        format!("\n{} git-credential\n", cli.display())
    );
    assert_eq!(
        git_global(
            home.path(),
            &["--get", "credential.https://git.example.test.useHttpPath"]
        ),
        "true\n"
    );
    assert!(
        std::fs::read_to_string(&gitconfig)
            .unwrap()
            .starts_with(original)
    );
    let cli_says = Command::new(&cli)
        .args([
            "setup",
            "git",
            "alpha",
            "--host",
            "git.example.test",
            "--path",
            "team",
            "--dry-run",
        ])
        .env("HOME", home.path())
        .env("LATCHKEY_CONFIG_DIR", d.config_dir())
        .env("DBUS_SESSION_BUS_ADDRESS", &d.bus)
        .env("LATCHKEY_NO_AGENT", "1")
        .env_remove("GIT_CONFIG_GLOBAL")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&cli_says.stdout).trim(),
        "Nothing to change: already set up.",
        "the CLI finds its own set-up: {}",
        String::from_utf8_lossy(&cli_says.stderr)
    );

    // The connection is listed, with its rule.
    s.wait_for(
        "the connection",
        "document.querySelector('#connections li.connection[data-tool=git][data-detail=\"git.example.test/team\"]')",
        Duration::from_secs(10),
    );
    let listed = s.text("#connections");
    assert!(
        listed.contains("rule git.example.test/team → alpha"),
        "{listed}"
    );
    s.screenshot("connect-03-connected");
    s.assert_accessible("the detail with a connection");

    // Undo, with the same preview, back to the very bytes.
    s.click("#connections li.connection[data-tool=git] button[data-undo]");
    s.wait_for(
        "the undo preview",
        "document.querySelector('#connect-dialog').open && !document.querySelector('#connect-preview').hidden",
        Duration::from_secs(10),
    );
    let preview = s.text("#connect-preview");
    assert!(
        preview.contains("- rule git.example.test/team → alpha"),
        "{preview}"
    );
    assert!(
        preview.contains("- [credential \"https://git.example.test\"]"),
        "{preview}"
    );
    s.screenshot("connect-04-undo-preview");
    s.assert_accessible("the undo preview");
    s.click("#connect-apply");
    s.wait_for(
        "the dialog to close",
        "!document.querySelector('#connect-dialog').open",
        Duration::from_secs(10),
    );
    assert_eq!(std::fs::read_to_string(&gitconfig).unwrap(), original);
    assert!(!account_toml(&d, "alpha").contains("git.example.test"));
    assert!(
        !std::fs::read_to_string(d.config_dir().join("accounts.toml"))
            .unwrap()
            .contains("[[rule]]")
    );
    s.wait_for(
        "the connection to go",
        "!document.querySelector('#connections li.connection') && !document.querySelector('#connections-none').hidden",
        Duration::from_secs(10),
    );

    // Docker and kubectl, the same way: connect (preview, Apply), listed, undone byte for byte.
    let docker_cfg = home.path().join(".docker/config.json");
    let docker_before =
        "{\n  \"auths\": {\n    \"other.test\": {\n      \"auth\": \"c2VjcmV0\"\n    }\n  }\n}\n";
    std::fs::create_dir_all(docker_cfg.parent().unwrap()).unwrap();
    std::fs::write(&docker_cfg, docker_before).unwrap();
    let kubeconfig = home.path().join(".kube/config");
    let kube_before = "apiVersion: v1\nclusters:\n- name: prod\n  cluster:\n    server: https://k8s.example.test:6443\ncontexts: []\nusers: []\n";
    std::fs::create_dir_all(kubeconfig.parent().unwrap()).unwrap();
    std::fs::write(&kubeconfig, kube_before).unwrap();
    for (tool, field, value, detail, file_hint) in [
        (
            "docker",
            "registry",
            "registry.example.test:5000",
            "registry.example.test:5000",
            "\"registry.example.test:5000\": \"latchkey\"",
        ),
        (
            "kubectl",
            "cluster",
            "prod",
            "cluster prod",
            "name: latchkey-alpha@prod",
        ),
    ] {
        s.click(&format!("#connect-{tool}"));
        s.wait_for(
            "the connect form",
            "document.querySelector('#connect-dialog').open",
            Duration::from_secs(5),
        );
        assert_eq!(
            s.focused().0,
            format!("input[name={field}] in connect-dialog")
        );
        s.type_into(&format!("#connect-form [name={field}]"), value);
        s.click("#connect-preview-button");
        s.wait_for(
            "the preview",
            "!document.querySelector('#connect-preview').hidden",
            Duration::from_secs(10),
        );
        let preview = s.text("#connect-preview");
        assert!(preview.contains(file_hint), "{preview}");
        assert!(
            !preview.contains("c2VjcmV0"),
            "another entry's secret is not shown: {preview}"
        );
        s.screenshot(&format!("connect-05-{tool}-preview"));
        s.assert_accessible(&format!("the {tool} preview"));
        s.click("#connect-apply");
        s.wait_for(
            "the dialog to close",
            "!document.querySelector('#connect-dialog').open",
            Duration::from_secs(10),
        );
        s.wait_for(
            &format!("the {tool} connection"),
            &format!(
                "document.querySelector('#connections li.connection[data-tool={tool}][data-detail=\"{detail}\"]')"
            ),
            Duration::from_secs(10),
        );
    }
    let docker_after = std::fs::read_to_string(&docker_cfg).unwrap();
    assert!(
        docker_after.contains("\"registry.example.test:5000\": \"latchkey\""),
        "{docker_after}"
    );
    let kube_after = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        kube_after.contains("kubectl-credential") && kube_after.contains("latchkey-alpha@prod"),
        "{kube_after}"
    );
    assert!(
        kube_after.contains(&cli.display().to_string()),
        "the exec plugin runs the CLI: {kube_after}"
    );
    s.screenshot("connect-06-three-connections");
    for tool in ["docker", "kubectl"] {
        s.click(&format!(
            "#connections li.connection[data-tool={tool}] button[data-undo]"
        ));
        s.wait_for(
            "the undo preview",
            "document.querySelector('#connect-dialog').open && !document.querySelector('#connect-preview').hidden && !document.querySelector('#connect-apply').disabled",
            Duration::from_secs(10),
        );
        s.click("#connect-apply");
        s.wait_for(
            "the dialog to close",
            "!document.querySelector('#connect-dialog').open",
            Duration::from_secs(10),
        );
        s.wait_for(
            &format!("the {tool} connection to go"),
            &format!("!document.querySelector('#connections li.connection[data-tool={tool}]')"),
            Duration::from_secs(10),
        );
    }
    assert_eq!(std::fs::read_to_string(&docker_cfg).unwrap(), docker_before);
    let kube_undone = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(!kube_undone.contains("latchkey"), "{kube_undone}");
    assert!(kube_undone.contains("https://k8s.example.test:6443"));

    // A preset account (added with the CLI: GitHub needs no discovery) gets its provider's mark.
    let mut add = Command::new(&cli)
        .args([
            "add",
            "gh",
            "--provider",
            "github",
            "--client-id",
            "Iv1.test",
            "--client-secret-stdin",
        ])
        .env("LATCHKEY_CONFIG_DIR", d.config_dir())
        .env("DBUS_SESSION_BUS_ADDRESS", &d.bus)
        .env("LATCHKEY_NO_AGENT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"test-client-secret\n")
        .unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    s.wait_for(
        "the GitHub account in the list",
        "document.querySelector('li.account[data-name=gh] .provider-icon[data-preset=github] use')?.getAttribute('href') === '#icon-github'",
        Duration::from_secs(15),
    );
    // Every preset's mark, drawn once beside the list for the record (removed again).
    s.js("const box = document.createElement('div'); box.id = 'marks'; box.style.cssText = 'display:flex;gap:6px;padding:8px;flex-wrap:wrap';
          for (const p of ['oidc','google','github','entra','gitlab','auth0','okta','cognito','keycloak']) {
            const s = document.createElement('span'); s.className = 'provider-icon'; s.dataset.preset = p;
            s.innerHTML = `<svg viewBox=\"0 0 24 24\"><use href=\"#icon-${p}\"></use></svg>`; box.append(s); }
          document.querySelector('.sidebar').append(box);");
    s.screenshot("layout-03-provider-marks");
    s.js("document.querySelector('#marks').remove();");
    s.end();
}
