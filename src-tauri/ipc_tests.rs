//! IPC tests: the real app (config, capability, commands) on Tauri's mock runtime, with an
//! in-memory keychain, a temporary config dir and the real test provider
//! (`tests/provider/server.mjs`) and headless browser (`browser.mjs`). Every IPC response and
//! event payload is recorded and scanned for every token the provider issued: none may appear.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_core::LoginManager;
use latchkey_core::config::Paths;
use latchkey_core::manager::ManagerOptions;
use latchkey_core::store::memory::MemoryStore;
use latchkey_core::store::{Keychain, SecretStore};
use latchkey_testkit::{Provider, repo_root};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, WebviewWindow, WebviewWindowBuilder};
use url::Url;

use crate::state::{AppState, Opener};

/// One app on the mock runtime with everything a test looks at.
struct TestApp {
    app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    store: Arc<MemoryStore>,
    /// Every IPC response body and event payload, as sent.
    wire: Arc<Mutex<Vec<String>>>,
    events: mpsc::Receiver<Value>,
    /// `notice` events.
    notices: mpsc::Receiver<Value>,
    _dir: tempfile::TempDir,
}

fn test_app(opener: Opener) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    let factory_store = store.clone();
    let mut opts = ManagerOptions::from_env(Duration::from_secs(5)).unwrap();
    opts.paths = Paths::new(dir.path());
    opts.keychain = Keychain::with_factory(
        Arc::new(move || Ok(factory_store.clone() as Arc<dyn SecretStore>)),
        Duration::from_secs(5),
    );
    let state = AppState::new(LoginManager::new(opts), opener);
    let app = crate::configure(mock_builder(), state)
        .build(tauri::generate_context!())
        .expect("the app builds on the mock runtime");
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == "main")
        .cloned()
        .expect("tauri.conf.json declares the main window");
    let window = WebviewWindowBuilder::from_config(app.handle(), &config)
        .and_then(WebviewWindowBuilder::build)
        .expect("the main window opens on the mock runtime");
    let wire = Arc::new(Mutex::new(Vec::new()));
    let (tx, events) = mpsc::channel();
    let (notice_tx, notices) = mpsc::channel();
    for name in [
        crate::SIGN_IN_FINISHED,
        crate::ACCOUNTS_CHANGED,
        crate::NOTICE,
    ] {
        let wire = wire.clone();
        let tx = tx.clone();
        let notice_tx = notice_tx.clone();
        app.listen_any(name, move |event| {
            wire.lock().unwrap().push(event.payload().to_string());
            if name == crate::SIGN_IN_FINISHED {
                let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
            }
            if name == crate::NOTICE {
                let _ = notice_tx.send(serde_json::from_str(event.payload()).unwrap());
            }
        });
    }
    TestApp {
        app,
        window,
        store,
        wire,
        events,
        notices,
        _dir: dir,
    }
}

impl TestApp {
    /// Sends `cmd` with `args` from the main window's page, as the UI would.
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        let response = get_ipc_response(&self.window, request);
        let text = match &response {
            Ok(tauri::ipc::InvokeResponseBody::Json(s)) => s.clone(),
            Ok(other) => format!("{other:?}"),
            Err(v) => v.to_string(),
        };
        self.wire.lock().unwrap().push(text);
        response.map(|b| b.deserialize::<Value>().unwrap())
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("`{cmd}` failed: {e}"))
    }

    fn account(&self, name: &str) -> Value {
        let list = self.ok("list_accounts", json!({}));
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no account {name} in {list}"))
    }

    /// The next `notice` event.
    fn notice(&self) -> Value {
        self.notices
            .recv_timeout(Duration::from_secs(60))
            .expect("a notice event")
    }

    /// The next `sign-in-finished` event.
    fn finished(&self) -> Value {
        self.events
            .recv_timeout(Duration::from_secs(60))
            .expect("a sign-in-finished event")
    }

    /// Every token string now in the keychain (access, refresh, id_token).
    fn tokens(&self) -> Vec<String> {
        let mut out = Vec::new();
        for key in self.store.keys() {
            if !key.ends_with("/tokens") {
                continue;
            }
            let raw = self.store.get(&key).unwrap().unwrap_or_default();
            let v: Value = serde_json::from_str(&raw).unwrap();
            for field in ["access_token", "refresh_token", "id_token"] {
                if let Some(t) = v[field].as_str() {
                    out.push(t.to_string());
                }
            }
        }
        out
    }

    fn assert_no_token_on_the_wire(&self, tokens: &[String]) {
        assert!(!tokens.is_empty(), "the test saw no tokens");
        let wire = self.wire.lock().unwrap();
        assert!(!wire.is_empty());
        for t in tokens {
            assert!(t.len() >= 16, "implausible token {t:?}");
            for msg in wire.iter() {
                assert!(!msg.contains(t.as_str()), "a token crossed IPC: {msg}");
            }
        }
    }
}

fn capturing_opener() -> (Opener, mpsc::Receiver<Url>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let opener: Opener = Arc::new(move |url: &Url| {
        let _ = tx.lock().unwrap().send(url.clone());
        Ok(())
    });
    (opener, rx)
}

/// Runs the headless browser on `url`; returns the custom-scheme callback it printed.
fn browse_to_callback(url: &Url, login: &str) -> String {
    let out = Command::new("node")
        .arg(repo_root().join("tests/provider/browser.mjs"))
        .arg(url.as_str())
        .env("LATCHKEY_TEST_LOGIN", login)
        .env_remove("LATCHKEY_TEST_DEEP_LINK_CMD")
        .stdin(Stdio::null())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "browser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(text.starts_with("dev.latchkey.app:/callback/"), "{text}");
    text
}

fn provider() -> Provider {
    Provider::start(json!({"accessTokenTtl": 120}))
}

fn add(t: &TestApp, p: &Provider, name: &str, redirect: &str) -> Value {
    t.ok(
        "add_account",
        json!({"input": {
            "name": name,
            "provider": {"preset": "oidc", "issuer": p.issuer},
            "client_id": "latchkey-public",
            "redirect": redirect,
        }}),
    )
}

#[test]
fn main_window_may_only_call_the_granted_commands() {
    let (opener, _rx) = capturing_opener();
    let t = test_app(opener);
    let info = t.ok("app_info", json!({}));
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["scheme_redirect_uri"], "dev.latchkey.app:/callback");
    let err = t
        .invoke("plugin:app|version", json!({}))
        .expect_err("core:app is not granted");
    assert!(err.to_string().contains("not allowed"), "{err}");
    let err = t
        .invoke("plugin:clipboard-manager|read_text", json!({}))
        .expect_err("the page may not read the clipboard");
    assert!(err.to_string().contains("not allowed"), "{err}");
}

#[test]
fn command_lists_agree_build_rs_capability_and_handler() {
    let build_rs = include_str!("build.rs");
    let capability: Value =
        serde_json::from_str(include_str!("capabilities/default.json")).unwrap();
    let granted: Vec<&str> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-"))
        .collect();
    for name in crate::commands::NAMES {
        assert!(
            build_rs.contains(&format!("\"{name}\"")),
            "{name} not in build.rs"
        );
        assert!(
            granted.contains(&name.replace('_', "-").as_str()),
            "{name} not granted"
        );
    }
    assert_eq!(granted.len(), crate::commands::NAMES.len());
}

#[test]
fn empty_config_lists_nothing_and_errors_are_kind_message_and_remedy() {
    let (opener, _rx) = capturing_opener();
    let t = test_app(opener);
    assert_eq!(t.ok("list_accounts", json!({})), json!([]));
    let err = t
        .invoke("sign_in", json!({"name": "nope"}))
        .expect_err("unknown account");
    assert_eq!(err["kind"], "not_found");
    assert!(err["message"].as_str().unwrap().contains("nope"));
    // Kind, message and the remedy as data (a button for the window); nothing else.
    assert_eq!(err["remedy"]["do"], "list_accounts", "{err}");
    assert_eq!(err.as_object().unwrap().len(), 3, "{err}");
    let presets = t.ok("list_presets", json!({}));
    assert!(
        presets
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "keycloak")
    );
}

#[test]
fn the_metadata_list_comes_in_ranges_for_a_first_screenful() {
    let p = provider();
    let (opener, _rx) = capturing_opener();
    let t = test_app(opener);
    for name in ["a1", "a2", "a3"] {
        add(&t, &p, name, "scheme");
    }
    let names = |args: Value| -> Vec<String> {
        t.ok("list_accounts_metadata", args)
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                assert_eq!(a["status"], "checking", "{a}");
                a["name"].as_str().unwrap().to_string()
            })
            .collect()
    };
    assert_eq!(names(json!({})), ["a1", "a2", "a3"]);
    assert_eq!(names(json!({"limit": 2})), ["a1", "a2"]);
    assert_eq!(names(json!({"offset": 2})), ["a3"]);
    assert_eq!(names(json!({"offset": 1, "limit": 1})), ["a2"]);
    assert!(names(json!({"offset": 5})).is_empty());
    let err = t
        .invoke("list_accounts_metadata", json!({"limit": -1}))
        .expect_err("a negative limit is refused");
    assert!(err.to_string().contains("limit"), "{err}");
}

#[test]
fn scheme_sign_in_refresh_copy_sign_out_never_send_a_token() {
    let p = provider();
    let (opener, urls) = capturing_opener();
    let t = test_app(opener);
    let added = add(&t, &p, "work", "scheme");
    assert_eq!(added["redirect_uri"], "dev.latchkey.app:/callback/work");
    assert_eq!(t.account("work")["status"], "signed_out");

    let started = t.ok("sign_in", json!({"name": "work"}));
    assert_eq!(started["mode"], "scheme");
    assert_eq!(t.account("work")["signing_in"], true);
    let url = urls.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        url.as_str().contains("redirect_uri=dev.latchkey.app"),
        "{url}"
    );
    let callback = browse_to_callback(&url, "alice");

    crate::deep_link::handle_urls(t.app.handle(), vec![Url::parse(&callback).unwrap()]);
    let done = t.finished();
    assert_eq!(done["error"], Value::Null, "{done}");
    assert_eq!(done["account"], "work");
    assert_eq!(done["identity"]["name"], "Alice Example");
    let work = t.account("work");
    assert_eq!(work["status"], "signed_in", "{work}");
    assert_eq!(work["signing_in"], false);
    assert_eq!(work["identity"]["email"], "alice@example.test");
    // The first paint's list: metadata only (identity, scopes), token status still to come.
    let first = t.ok("list_accounts_metadata", json!({}));
    assert_eq!(first.as_array().unwrap().len(), 1, "{first}");
    assert_eq!(first[0]["name"], "work");
    assert_eq!(first[0]["status"], "checking");
    assert_eq!(first[0]["expires_at"], Value::Null);
    assert_eq!(first[0]["identity"]["email"], "alice@example.test");
    let mut tokens = t.tokens();

    // The same callback again (a double click, a stale tab): it matches no sign-in in
    // progress, so the page gets a short notice (no `sign-in-finished`, which raises the
    // window), and nothing changes. A forged state likewise.
    for link in [
        callback.clone(),
        "dev.latchkey.app:/callback/work?code=forged&state=forged".to_string(),
    ] {
        crate::deep_link::handle_urls(t.app.handle(), vec![Url::parse(&link).unwrap()]);
        let ignored = t.notice();
        assert_eq!(ignored["level"], "info", "{ignored}");
        assert_eq!(ignored["message"], crate::deep_link::IGNORED_CALLBACK);
        assert!(
            t.events.try_recv().is_err(),
            "an ignored link ends no sign-in (and raises no window)"
        );
    }
    assert_eq!(t.account("work")["status"], "signed_in");

    let refreshed = t.ok("refresh_account", json!({"name": "work"}));
    assert_eq!(refreshed["refreshed"], true);
    assert!(refreshed["expires_at"].is_string());
    tokens.extend(t.tokens());

    if std::env::var_os("DISPLAY").is_some() {
        let copied = t.ok("copy_access_token", json!({"name": "work"}));
        assert_eq!(copied["clipboard_clear_after"], 30);
        use tauri_plugin_clipboard_manager::ClipboardExt;
        let on_clipboard = t.app.clipboard().read_text().unwrap();
        assert!(
            tokens.contains(&on_clipboard),
            "the access token is on the clipboard"
        );
        t.app.clipboard().clear().unwrap();
    }

    let report = t.ok("sign_out", json!({"name": "work"}));
    assert_eq!(report["had_tokens"], true);
    assert!(
        !report["revoked"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert_eq!(t.account("work")["status"], "signed_out");
    assert!(t.tokens().is_empty());
    t.ok("remove_account", json!({"name": "work"}));
    assert_eq!(t.ok("list_accounts", json!({})), json!([]));
    t.assert_no_token_on_the_wire(&tokens);
}

#[test]
fn loopback_sign_in_and_identity_switch_needs_confirmation() {
    let p = provider();
    let (tx, urls) = mpsc::channel::<Url>();
    let tx = Mutex::new(tx);
    let login = Arc::new(Mutex::new("alice".to_string()));
    let who = login.clone();
    // The "system browser": the headless browser, which GETs the loopback callback itself.
    let opener: Opener = Arc::new(move |url: &Url| {
        let _ = tx.lock().unwrap().send(url.clone());
        Command::new("node")
            .arg(repo_root().join("tests/provider/browser.mjs"))
            .arg(url.as_str())
            .env("LATCHKEY_TEST_LOGIN", who.lock().unwrap().as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|_| ())
            .map_err(|e| latchkey_core::Error::Other(e.to_string()))
    });
    let t = test_app(opener);
    let added = add(&t, &p, "home", "loopback");
    assert!(
        added["redirect_uri"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let started = t.ok("sign_in", json!({"name": "home"}));
    assert_eq!(started["mode"], "loopback");
    let url = urls.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        url.as_str().contains("redirect_uri=http%3A%2F%2F127.0.0.1"),
        "{url}"
    );
    let done = t.finished();
    assert_eq!(done["error"], Value::Null, "{done}");
    assert_eq!(done["identity"]["sub"], "alice");
    let mut tokens = t.tokens();

    // Signing in again as someone else is refused unless the user confirms.
    *login.lock().unwrap() = "bob".into();
    t.ok("sign_in", json!({"name": "home"}));
    let refused = t.finished();
    assert_eq!(refused["error"]["kind"], "identity_mismatch", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("alice")
    );
    assert_eq!(t.account("home")["identity"]["sub"], "alice");
    t.ok("sign_in", json!({"name": "home", "replaceIdentity": true}));
    let replaced = t.finished();
    assert_eq!(replaced["error"], Value::Null, "{replaced}");
    assert_eq!(t.account("home")["identity"]["sub"], "bob");
    tokens.extend(t.tokens());
    t.assert_no_token_on_the_wire(&tokens);
}

#[test]
fn a_cancelled_loopback_sign_in_ends_quietly() {
    let p = provider();
    let (opener, urls) = capturing_opener();
    let t = test_app(opener);
    add(&t, &p, "slow", "loopback");
    t.ok("sign_in", json!({"name": "slow"}));
    let url = urls.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(t.account("slow")["signing_in"], true);
    // A callback with another state reaches the listener: answered, ignored, and shown in the
    // window as a notice (the terminal says the same for a CLI sign-in); still waiting.
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| Url::parse(&v).unwrap())
        .unwrap();
    let (status, _) = latchkey_testkit::http(
        redirect.port().unwrap(),
        "GET",
        &format!("{}?code=x&state=forged", redirect.path()),
        &[],
        "",
    );
    assert_eq!(status, 400);
    let ignored = t.notice();
    assert_eq!(ignored["level"], "info", "{ignored}");
    assert!(
        ignored["message"]
            .as_str()
            .unwrap()
            .contains("does not belong to this sign-in"),
        "{ignored}"
    );
    assert_eq!(t.account("slow")["signing_in"], true);
    assert_eq!(t.ok("cancel_sign_in", json!({"name": "slow"})), json!(true));
    let done = t.finished();
    assert_eq!(done["error"]["kind"], "interrupted", "{done}");
    assert_eq!(t.account("slow")["signing_in"], false);
    assert_eq!(t.account("slow")["status"], "signed_out");
}

#[test]
fn device_sign_in_shows_the_user_code_and_completes() {
    let p = Provider::start(json!({"accessTokenTtl": 120, "deviceInterval": 1}));
    let (opener, urls) = capturing_opener();
    let t = test_app(opener);
    let (tx, codes) = mpsc::channel();
    let wire = t.wire.clone();
    t.app.listen_any(crate::DEVICE_CODE, move |event| {
        wire.lock().unwrap().push(event.payload().to_string());
        let _ = tx.send(serde_json::from_str::<Value>(event.payload()).unwrap());
    });
    t.ok(
        "add_account",
        json!({"input": {
            "name": "tv",
            "provider": {"preset": "oidc", "issuer": p.issuer},
            "client_id": "latchkey-public",
            "flow": "device",
        }}),
    );
    let started = t.ok("sign_in", json!({"name": "tv"}));
    assert_eq!(started["mode"], "device");
    let code = codes.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        code["user_code"].as_str().is_some_and(|c| !c.is_empty()),
        "{code}"
    );
    assert!(code["expires_at"].is_string());
    assert!(
        code.get("device_code").is_none(),
        "the device code stays in Rust"
    );
    let page = urls.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        Some(page.as_str()),
        code["verification_uri_complete"].as_str(),
        "the browser opens the verification page"
    );
    assert_eq!(t.account("tv")["signing_in"], true);
    let approved = Command::new("node")
        .arg(repo_root().join("tests/provider/approve-device.mjs"))
        .arg(page.as_str())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let done = t.finished();
    assert_eq!(done["error"], Value::Null, "{done}");
    assert_eq!(done["identity"]["sub"], "alice");
    assert_eq!(t.account("tv")["status"], "signed_in");
    let tokens = t.tokens();
    t.assert_no_token_on_the_wire(&tokens);
}

#[test]
fn add_permissions_asks_for_the_union_keeps_the_user_and_shows_no_token() {
    let p = provider();
    let (opener, urls) = capturing_opener();
    let t = test_app(opener);
    add(&t, &p, "work", "scheme");
    t.ok("sign_in", json!({"name": "work"}));
    let url = urls.recv_timeout(Duration::from_secs(10)).unwrap();
    let callback = browse_to_callback(&url, "alice");
    crate::deep_link::handle_urls(t.app.handle(), vec![Url::parse(&callback).unwrap()]);
    assert_eq!(t.finished()["error"], Value::Null);
    let before = t.account("work")["scopes"].clone();
    assert!(!before.to_string().contains("api:read"), "{before}");

    // "Add permissions": the browser is asked for the account's scopes and the new one.
    let started = t.ok(
        "add_permissions",
        json!({"name": "work", "scopes": ["api:read"]}),
    );
    assert_eq!(started["mode"], "scheme");
    let url = urls.recv_timeout(Duration::from_secs(10)).unwrap();
    let scope = url
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(
        scope.ends_with(" api:read") && scope.contains("openid"),
        "{scope}"
    );
    // Another user is refused; nothing changes.
    let callback = browse_to_callback(&url, "bob");
    crate::deep_link::handle_urls(t.app.handle(), vec![Url::parse(&callback).unwrap()]);
    let refused = t.finished();
    assert_eq!(refused["error"]["kind"], "identity_mismatch", "{refused}");
    assert_eq!(t.account("work")["scopes"], before);
    // The same user: the account asks for the union from now on.
    t.ok(
        "add_permissions",
        json!({"name": "work", "scopes": ["api:read"]}),
    );
    let url = urls.recv_timeout(Duration::from_secs(10)).unwrap();
    let callback = browse_to_callback(&url, "alice");
    crate::deep_link::handle_urls(t.app.handle(), vec![Url::parse(&callback).unwrap()]);
    assert_eq!(t.finished()["error"], Value::Null);
    let work = t.account("work");
    assert!(work["scopes"].to_string().contains("api:read"), "{work}");
    assert_eq!(work["identity"]["sub"], "alice");
    assert_eq!(work["cached_tokens"], json!([]));
    for token in t.tokens() {
        assert!(!work.to_string().contains(&token));
    }
    // Bad input is an IPC error with a kind.
    let err = t
        .invoke(
            "add_permissions",
            json!({"name": "work", "scopes": ["bad\"scope"]}),
        )
        .expect_err("a malformed scope");
    assert_eq!(err["kind"], "invalid_input", "{err}");
}

/// The account's activity for the window (issue 17): use per tool today, the last records, the
/// approval policy, and the last hand-out of each of its tokens for other APIs — read from the
/// activity file the agent and the CLI write, never a token.
#[test]
fn account_activity_summarises_use_per_tool_and_per_token_for_another_api() {
    let p = provider();
    let (opener, _rx) = capturing_opener();
    let t = test_app(opener);
    add(&t, &p, "work", "loopback");
    let dir = t._dir.path();
    // A token for another API the account keeps (as a tool's `--resource` request records it).
    let accounts = dir.join("accounts.toml");
    let mut text = std::fs::read_to_string(&accounts).unwrap();
    text.push_str("\n[[account.derived_tokens]]\nresources = [\"https://a.api.test\"]\n");
    std::fs::write(&accounts, text).unwrap();
    // "Today" is the UTC day: the records below (up to 30 s old) must all fall in it.
    let mut now = time::OffsetDateTime::now_utc();
    let into_day = now - now.replace_time(time::Time::MIDNIGHT);
    if into_day < time::Duration::seconds(61) {
        std::thread::sleep((time::Duration::seconds(61) - into_day).unsigned_abs());
        now = time::OffsetDateTime::now_utc();
    }
    let record = |secs_ago: i64, tool: &str, what: &str, outcome: &str, spec: Value| {
        json!({
            "at": (now - time::Duration::seconds(secs_ago))
                .format(&time::format_description::well_known::Rfc3339).unwrap(),
            "account": "work", "what": what, "tool": tool, "spec": spec,
            "requester": {"pid": 7, "name": tool, "executable": format!("/usr/bin/{tool}")},
            "outcome": outcome, "via": "agent",
        })
        .to_string()
    };
    let lines = [
        record(30, "git", "its own token", "issued", Value::Null),
        record(20, "git", "its own token", "issued", Value::Null),
        record(15, "git", "its own token", "denied", Value::Null),
        record(
            12,
            "exec",
            "a token for resource https://a.api.test",
            "issued",
            json!({"resources": ["https://a.api.test"]}),
        ),
        // Newer, and its words begin like the kept token's: not the same token.
        record(
            10,
            "exec",
            "a token for resource https://a.api.test/more",
            "issued",
            json!({"resources": ["https://a.api.test/more"]}),
        ),
    ];
    std::fs::write(dir.join("activity.jsonl"), lines.join("\n") + "\n").unwrap();

    let v = t.ok("account_activity", json!({"name": "work"}));
    assert_eq!(v["approval"], "off");
    let usage: Vec<&str> = v["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(
        usage
            .iter()
            .any(|u| u.starts_with("git, 2 times today, last 2")),
        "{usage:?}"
    );
    assert!(
        usage.iter().any(|u| u.starts_with("exec, 2 times today")),
        "{usage:?}"
    );
    assert_eq!(v["recent"].as_array().unwrap().len(), 5);
    assert_eq!(v["recent"][0]["tool"], "exec", "newest first");
    assert_eq!(
        v["token_uses"][0]["resources"],
        json!(["https://a.api.test"])
    );
    let last = time::OffsetDateTime::parse(
        v["token_uses"][0]["last"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        (now - last).whole_seconds(),
        12,
        "the kept token's own hand-out, not the newer one for /more"
    );
    let all = t.ok("activity_log", json!({"limit": 10}));
    assert_eq!(all.as_array().unwrap().len(), 5);
    assert!(
        all[0]["requester_line"]
            .as_str()
            .unwrap()
            .starts_with("exec (/usr/bin/exec")
    );
    let err = t
        .invoke("account_activity", json!({"name": "nobody"}))
        .expect_err("an unknown account");
    assert!(err.to_string().contains("nobody"), "{err}");
}
