//! The tray and the notifications, driven through their real protocols: the real app binary
//! under Xvfb in its own `dbus-run-session -- scripts/with-keyring.sh` (a private bus and a
//! throwaway gnome-keyring), the test provider, and the headless "system browser".
//!
//! This test plays the panel: it owns `org.kde.StatusNotifierWatcher` on the private bus,
//! accepts the app's `RegisterStatusNotifierItem`, reads the item's properties (`Status`,
//! `ToolTip`, `AttentionIconPixmap`) and its `com.canonical.dbusmenu` menu (`GetLayout`), and
//! clicks items with `Event(id, "clicked", …)`. Notifications go to a real `dunst` on the same
//! bus, read back with `dunstctl`; its context menu (`dunstctl action` → a dmenu stand-in that
//! picks "Sign in") invokes the notification's action.
//!
//! Scenario: two signed-out accounts → one "Sign in to …" per account, status `Active` → click
//! "Sign in to work…" → the browser gets work's authorization URL → signed in (menu, keychain)
//! → the provider answers the next refresh with `invalid_grant`, "Refresh work" → status
//! `NeedsAttention`, attention icon, tooltip, "⚠ work" and its "Sign in" item again, and a
//! "needs sign-in" notification → its "Sign in" action → signed in again, `Active` → "Quit".
//! Each menu state is written as text under `target/e2e-screenshots/tray-*.txt`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_core::config::Paths;
use latchkey_core::manager::{AccountEdit, ManagerOptions, NewAccount};
use latchkey_core::store::memory::MemoryStore;
use latchkey_core::store::{Keychain, SecretStore};
use latchkey_core::{LoginManager, ProviderSpec, RedirectMode};
use latchkey_testkit::{Provider, browser_command, repo_root};
use serde_json::{Value, json};
use zbus::blocking::Connection;
use zbus::zvariant::{OwnedValue, Value as ZValue};

const APP: &str = env!("CARGO_BIN_EXE_latchkey-app");
const WATCHER: &str = "org.kde.StatusNotifierWatcher";

fn screenshot_dir() -> PathBuf {
    let dir = repo_root().join("target/e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Registrations the watcher received: (service as sent, sender's unique name).
type Registrations = Arc<Mutex<Vec<(String, String)>>>;

/// The panel's side: a StatusNotifierWatcher that records registrations.
struct Watcher {
    items: Registrations,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(
        &self,
        service: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        self.items.lock().unwrap().push((service, sender));
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items
            .lock()
            .unwrap()
            .iter()
            .map(|(s, _)| s.clone())
            .collect()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// One dbusmenu entry.
#[derive(Debug)]
struct Node {
    id: i32,
    label: String,
    enabled: bool,
    separator: bool,
    children: Vec<Node>,
}

fn unwrap_variant<'a>(v: &'a ZValue<'a>) -> &'a ZValue<'a> {
    match v {
        ZValue::Value(inner) => unwrap_variant(inner),
        other => other,
    }
}

fn props(entries: Vec<(String, &ZValue<'_>)>) -> (String, bool, bool) {
    let mut label = String::new();
    let mut enabled = true;
    let mut separator = false;
    for (k, v) in entries {
        match (k.as_str(), unwrap_variant(v)) {
            ("label", ZValue::Str(s)) => label = s.to_string(),
            ("enabled", ZValue::Bool(b)) => enabled = *b,
            ("type", ZValue::Str(s)) => separator = s.as_str() == "separator",
            _ => {}
        }
    }
    (label, enabled, separator)
}

fn node(v: &ZValue<'_>) -> Node {
    let ZValue::Structure(s) = unwrap_variant(v) else {
        panic!("a dbusmenu item is (ia{{sv}}av), got {v:?}")
    };
    let f = s.fields();
    let ZValue::I32(id) = f[0] else {
        panic!("item id: {:?}", f[0])
    };
    let ZValue::Dict(d) = &f[1] else {
        panic!("item properties: {:?}", f[1])
    };
    let entries = d
        .iter()
        .map(|(k, v)| {
            let ZValue::Str(k) = unwrap_variant(k) else {
                panic!("property name {k:?}")
            };
            (k.to_string(), v)
        })
        .collect();
    let (label, enabled, separator) = props(entries);
    let ZValue::Array(a) = &f[2] else {
        panic!("children: {:?}", f[2])
    };
    Node {
        id,
        label,
        enabled,
        separator,
        children: a.iter().map(node).collect(),
    }
}

/// The app's StatusNotifierItem, as the panel sees it.
struct Item<'c> {
    conn: &'c Connection,
    dest: String,
    path: String,
}

impl Item<'_> {
    fn property(&self, name: &str) -> OwnedValue {
        let reply = self
            .conn
            .call_method(
                Some(self.dest.as_str()),
                self.path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.kde.StatusNotifierItem", name),
            )
            .unwrap_or_else(|e| panic!("Get {name}: {e}"));
        reply.body().deserialize::<OwnedValue>().unwrap()
    }

    fn status(&self) -> String {
        String::try_from(self.property("Status")).unwrap()
    }

    fn tooltip(&self) -> String {
        let v = self.property("ToolTip");
        let ZValue::Structure(s) = unwrap_variant(&v) else {
            panic!("ToolTip is (sa(iiay)ss): {v:?}")
        };
        match &s.fields()[2] {
            ZValue::Str(t) => t.to_string(),
            other => panic!("tooltip title {other:?}"),
        }
    }

    /// Number of pixmaps in an icon property.
    fn pixmaps(&self, name: &str) -> usize {
        let v = self.property(name);
        match unwrap_variant(&v) {
            ZValue::Array(a) => a.len(),
            other => panic!("{name}: {other:?}"),
        }
    }

    fn menu_path(&self) -> String {
        let v = self.property("Menu");
        match unwrap_variant(&v) {
            ZValue::ObjectPath(p) => p.to_string(),
            other => panic!("Menu: {other:?}"),
        }
    }

    fn layout(&self) -> Node {
        let reply = self
            .conn
            .call_method(
                Some(self.dest.as_str()),
                self.menu_path().as_str(),
                Some("com.canonical.dbusmenu"),
                "GetLayout",
                &(0i32, -1i32, Vec::<String>::new()),
            )
            .expect("GetLayout");
        type Layout = (u32, (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>));
        let (_revision, (id, properties, children)): Layout = reply.body().deserialize().unwrap();
        let (label, enabled, separator) =
            props(properties.iter().map(|(k, v)| (k.clone(), &**v)).collect());
        Node {
            id,
            label,
            enabled,
            separator,
            children: children.iter().map(|c| node(c)).collect(),
        }
    }

    /// The menu's lines as a person reads them (`[x]` = clickable, `---` = separator).
    fn lines(&self) -> Vec<String> {
        self.layout()
            .children
            .iter()
            .map(|n| {
                if n.separator {
                    "---".to_string()
                } else {
                    // Quick actions are indented under their account in the menu.
                    let text = n.label.replace("__", "_").trim().to_string();
                    if n.enabled { format!("[{text}]") } else { text }
                }
            })
            .collect()
    }

    fn click(&self, label: &str) {
        self.try_click(label).expect("Event clicked");
    }

    fn try_click(&self, label: &str) -> zbus::Result<()> {
        let menu = self.layout();
        let item = menu
            .children
            .iter()
            .find(|n| n.enabled && n.label.trim() == label)
            .unwrap_or_else(|| panic!("no clickable {label:?} in the tray menu: {menu:#?}"));
        self.conn
            .call_method(
                Some(self.dest.as_str()),
                self.menu_path().as_str(),
                Some("com.canonical.dbusmenu"),
                "Event",
                &(item.id, "clicked", ZValue::from(0i32), 0u32),
            )
            .map(|_| ())
    }

    fn wait_menu(&self, what: &str, f: impl Fn(&[String]) -> bool) -> Vec<String> {
        let last = std::cell::RefCell::new(Vec::new());
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(what, Duration::from_secs(60), || {
                let lines = self.lines();
                let ok = f(&lines);
                *last.borrow_mut() = lines.clone();
                ok.then_some(lines)
            })
        }));
        found.unwrap_or_else(|_| panic!("the tray menu never showed {what}: {:?}", last.borrow()))
    }

    fn wait_status(&self, status: &str) {
        wait_until(&format!("Status {status}"), Duration::from_secs(60), || {
            (self.status() == status).then_some(())
        });
    }

    /// Writes what the panel sees now to `target/e2e-screenshots/<name>.txt`.
    fn dump(&self, name: &str) {
        let text = format!(
            "Status: {}\nToolTip: {}\nIconPixmap: {} image(s), AttentionIconPixmap: {} image(s)\nMenu:\n{}\n",
            self.status(),
            self.tooltip(),
            self.pixmaps("IconPixmap"),
            self.pixmaps("AttentionIconPixmap"),
            self.lines()
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::fs::write(screenshot_dir().join(format!("{name}.txt")), text).unwrap();
    }
}

/// The app in its own private D-Bus session (with a keyring and, optionally, dunst).
struct AppSession {
    child: Child,
    app_pid: i32,
    bus: String,
    dir: tempfile::TempDir,
}

impl AppSession {
    fn start(config_dir: &Path, with_dunst: bool) -> AppSession {
        Self::start_with(config_dir, with_dunst.then_some("Sign"), &[], &[])
    }

    /// The app with `args` and `env`; with `dunst_pick`, dunst runs on the bus and its context
    /// menu picks the first action matching that pattern.
    fn start_with(
        config_dir: &Path,
        dunst_pick: Option<&str>,
        args: &[&str],
        env: &[(&str, String)],
    ) -> AppSession {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("session.info");
        let go = dir.path().join("go");
        let urls = dir.path().join("opened-urls");
        let browser = format!(
            "{} {} {}",
            repo_root().join("tests/desktop/record-url.sh").display(),
            urls.display(),
            browser_command()
        );
        let log = std::fs::File::create(dir.path().join("app.log")).unwrap();
        let mut cmd = Command::new("dbus-run-session");
        cmd.arg("--")
            .arg(repo_root().join("scripts/with-keyring.sh"))
            .arg(repo_root().join("tests/desktop/app-session.sh"))
            .arg(&info)
            .arg(&go)
            .arg(APP)
            .args(args)
            .env("LATCHKEY_CONFIG_DIR", config_dir)
            .env("LATCHKEY_BROWSER", browser)
            .env("LATCHKEY_TEST_BROWSER_LOG", dir.path().join("browser.log"))
            .env("LATCHKEY_LOG", "latchkey_app=debug,latchkey_core=debug")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("LATCHKEY_TEST_DEEP_LINK_CMD")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(pick) = dunst_pick {
            let rc = dir.path().join("dunstrc");
            std::fs::write(
                &rc,
                format!(
                    "[global]\n    timeout = 0\n    dmenu = \"{} {} '{pick}'\"\n",
                    repo_root().join("tests/desktop/dunst-pick.sh").display(),
                    dir.path().join("dunst-menu.log").display()
                ),
            )
            .unwrap();
            cmd.env("LATCHKEY_TEST_DUNSTRC", rc);
        }
        let child = cmd
            .spawn()
            .expect("dbus-run-session (package dbus) is needed");
        let text = wait_until("the D-Bus session", Duration::from_secs(30), || {
            std::fs::read_to_string(&info).ok()
        });
        let mut lines = text.lines();
        let app_pid = lines.next().unwrap().parse().unwrap();
        let bus = lines.next().unwrap().to_string();
        AppSession {
            child,
            app_pid,
            bus,
            dir,
        }
    }

    /// Lets the app start (after the test owns the watcher name).
    fn go(&self) {
        std::fs::write(self.dir.path().join("go"), "").unwrap();
    }

    fn opened_urls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("opened-urls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn tool(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    }

    fn keychain_items(&self) -> Vec<String> {
        latchkey_testkit::Keyring::items_on(Some(&self.bus), "")
    }

    fn config_dir_log(&self, config_dir: &Path) -> PathBuf {
        config_dir.join("latchkey.log")
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for f in [
            "app.log",
            "browser.log",
            "session.info.dunst.log",
            "dunst-menu.log",
        ] {
            s.push_str(&format!("==> {f}\n"));
            s.push_str(&std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default());
        }
        s
    }
}

impl Drop for AppSession {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::fs::write(screenshot_dir().join("tray-e2e.log"), self.logs());
        }
        let _ = Command::new("kill").arg(self.app_pid.to_string()).status();
        latchkey_testkit::reap_within(&mut self.child, Duration::from_secs(10));
    }
}

/// Adds loopback accounts for the test provider to `config_dir` (metadata only: nothing of
/// theirs is in any keychain yet).
fn add_accounts(config_dir: &Path, issuer: &str, names: &[&str]) -> HashMap<String, String> {
    let store = Arc::new(MemoryStore::default());
    let mut opts = ManagerOptions::from_env(Duration::from_secs(5)).unwrap();
    opts.paths = Paths::new(config_dir);
    opts.keychain = Keychain::with_factory(
        Arc::new(move || Ok(store.clone() as Arc<dyn SecretStore>)),
        Duration::from_secs(5),
    );
    let manager = LoginManager::new(opts);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut ids = HashMap::new();
    for name in names {
        let account = rt
            .block_on(manager.add(NewAccount {
                name: name.to_string(),
                provider: ProviderSpec {
                    issuer: Some(issuer.parse().unwrap()),
                    ..Default::default()
                },
                client_id: "latchkey-public".into(),
                client_secret: None,
                scopes: vec![],
                redirect: RedirectMode::Loopback,
                port: None,
                keep_signed_in: false,
                label: None,
                flow: Default::default(),
                client_auth: None,
                dpop: false,
                resources: vec![],
                offline_consent: None,
                ..Default::default()
            }))
            .unwrap();
        ids.insert(name.to_string(), account.id.to_string());
    }
    // "home": the provider ends its sessions 10 minutes after sign-in (an account setting),
    // less than the default 15-minute warning time, so the app warns right after sign-in.
    rt.block_on(manager.edit(
        "home",
        AccountEdit {
            session_max_secs: Some(Some(600)),
            ..Default::default()
        },
    ))
    .unwrap();
    ids
}

/// Owns the watcher name on `bus`; returns the connection and the registrations it receives.
fn play_panel(bus: &str) -> (Connection, Registrations) {
    let items = Arc::new(Mutex::new(Vec::new()));
    let conn = zbus::blocking::connection::Builder::address(bus)
        .unwrap()
        .serve_at(
            "/StatusNotifierWatcher",
            Watcher {
                items: items.clone(),
            },
        )
        .unwrap()
        .name(WATCHER)
        .unwrap()
        .build()
        .expect("connect to the private session bus as the panel");
    (conn, items)
}

fn assert_authorization_url(url: &str, p: &Provider) {
    let auth = p.endpoint_path("authorization_endpoint");
    assert!(
        url.starts_with(&format!("{}{}", p.issuer.trim_end_matches('/'), auth))
            || url.contains(&auth),
        "not the provider's authorization endpoint: {url}"
    );
    for part in [
        "client_id=latchkey-public",
        "response_type=code",
        "code_challenge_method=S256",
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A",
    ] {
        assert!(url.contains(part), "{part} missing from {url}");
    }
}

/// The item the app registers with the panel (the test's StatusNotifierWatcher), once it has.
fn registered_item<'c>(conn: &'c Connection, registered: &Registrations) -> Item<'c> {
    let (service, sender) = wait_until(
        "the app's RegisterStatusNotifierItem",
        Duration::from_secs(60),
        || registered.lock().unwrap().first().cloned(),
    );
    let (dest, path) = if service.starts_with('/') {
        (sender, service)
    } else {
        (service, "/StatusNotifierItem".to_string())
    };
    Item { conn, dest, path }
}

fn dunst_history(s: &AppSession) -> Vec<Value> {
    let raw = s.tool("dunstctl", &["history"]);
    let v: Value = serde_json::from_str(&raw).unwrap_or_else(|_| panic!("dunstctl history: {raw}"));
    v["data"]
        .as_array()
        .and_then(|d| d.first())
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn tray_and_notifications_through_their_real_protocols() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "the desktop end-to-end tests need a display: run them with scripts/test.sh (xvfb-run)"
    );
    let p = Provider::start(json!({"accessTokenTtl": 300}));
    let config = tempfile::tempdir().unwrap();
    let ids = add_accounts(config.path(), &p.issuer, &["work", "home"]);

    let s = AppSession::start(config.path(), true);
    let (conn, registered) = play_panel(&s.bus);
    s.go();
    let item = registered_item(&conn, &registered);

    // Two signed-out accounts: a "Sign in" for each, nothing needs attention yet.
    let lines = item.wait_menu("both accounts in the menu", |l| {
        l.iter().any(|x| x == "[Sign in to work…]") && l.iter().any(|x| x == "[Sign in to home…]")
    });
    assert!(
        lines.contains(&"work — signed out".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"home — signed out".to_string()),
        "{lines:?}"
    );
    assert!(lines.ends_with(&[
        "---".to_string(),
        "[Add account…]".to_string(),
        "[Show Latchkey]".to_string(),
        "[Quit]".to_string()
    ]));
    assert_eq!(item.status(), "Active");
    assert_eq!(item.tooltip(), "Latchkey");
    assert_eq!(item.pixmaps("IconPixmap"), 1);
    item.dump("tray-01-signed-out");

    // Click "Sign in to work…": the browser gets work's authorization URL; the headless
    // browser logs in and the loopback callback completes the sign-in.
    item.click("Sign in to work…");
    let url = wait_until("the browser to be opened", Duration::from_secs(30), || {
        s.opened_urls().first().cloned()
    });
    assert_authorization_url(&url, &p);
    let lines = item.wait_menu("work signed in", |l| {
        l.iter()
            .any(|x| x.starts_with("work (") && x.contains("signed in"))
    });
    assert!(lines.contains(&"[Refresh work]".to_string()), "{lines:?}");
    assert!(
        lines.contains(&"[Sign in to home…]".to_string()),
        "{lines:?}"
    );
    assert!(
        !lines.contains(&"[Sign in to work…]".to_string()),
        "{lines:?}"
    );
    let tokens = format!("{}/tokens", ids["work"]);
    assert!(
        s.keychain_items().contains(&tokens),
        "work's tokens are in the keychain: {:?}",
        s.keychain_items()
    );
    assert_eq!(item.status(), "Active");
    item.dump("tray-02-work-signed-in");

    // The provider refuses the refresh token: work needs sign-in, and the item says so.
    p.fault("token", "invalid_grant", 1);
    item.click("Refresh work");
    item.wait_status("NeedsAttention");
    let lines = item.wait_menu("the Sign in item back", |l| {
        l.iter().any(|x| x == "[Sign in to work…]")
    });
    assert!(
        lines
            .iter()
            .any(|x| x.starts_with("⚠ work (") && x.contains("needs sign-in")),
        "{lines:?}"
    );
    assert_eq!(item.tooltip(), "Latchkey — work needs attention");
    assert_eq!(item.pixmaps("AttentionIconPixmap"), 1);
    assert!(!s.keychain_items().contains(&tokens), "tokens cleared");
    item.dump("tray-03-needs-attention");

    // The "needs sign-in" notification is on screen; its "Sign in" action signs in again.
    wait_until(
        "dunst to show the notification",
        Duration::from_secs(30),
        || {
            let n: u32 = s
                .tool("dunstctl", &["count", "displayed"])
                .trim()
                .parse()
                .unwrap_or(0);
            (n >= 1).then_some(())
        },
    );
    let out = s.tool("dunstctl", &["action", "0"]);
    assert!(!out.contains("rror"), "dunstctl action: {out}");
    let url = wait_until(
        "the notification's sign-in",
        Duration::from_secs(30),
        || s.opened_urls().get(1).cloned(),
    );
    assert_authorization_url(&url, &p);
    item.wait_status("Active");
    let lines = item.wait_menu("work signed in again", |l| {
        l.iter()
            .any(|x| x.starts_with("work (") && x.contains("signed in"))
    });
    assert!(s.keychain_items().contains(&tokens));
    item.dump("tray-04-signed-in-again");
    // dunst invoked the notification's own "Sign in" action (its only action, so `dunstctl
    // action` runs it directly; with more, the dmenu stand-in would pick it).
    let log = std::fs::read_to_string(s.config_dir_log(config.path())).unwrap_or_default();
    assert!(
        log.contains("sign-in from the notification"),
        "the app saw the ActionInvoked: {log}"
    );
    // dunst keeps a notification on screen after its action ran (timeout = 0 here); closing
    // it moves it to the history that `dunstctl history` reads.
    let displayed = s.tool("dunstctl", &["count", "displayed"]);
    s.tool("dunstctl", &["close-all"]);
    let history = wait_until("dunst's history", Duration::from_secs(10), || {
        let h = dunst_history(&s);
        (!h.is_empty()).then_some(h)
    });
    let shown = history
        .iter()
        .find(|n| n["appname"]["data"] == "Latchkey")
        .unwrap_or_else(|| {
            panic!(
                "no Latchkey notification in dunst's history: {history:?} (displayed: {displayed})"
            )
        });
    assert_eq!(shown["summary"]["data"], "Latchkey: sign in again");
    assert_eq!(
        shown["body"]["data"],
        "Account “work” needs you to sign in again."
    );
    std::fs::write(
        screenshot_dir().join("notification-01-needs-sign-in.json"),
        serde_json::to_string_pretty(&history).unwrap(),
    )
    .unwrap();
    assert!(lines.contains(&"[Sign in to home…]".to_string()));

    // Expiry warning: "home" signs in; its session ends in 10 minutes → one warning.
    item.click("Sign in to home…");
    item.wait_menu("home signed in", |l| {
        l.iter()
            .any(|x| x.starts_with("home (") && x.contains("signed in"))
    });
    wait_until(
        "the session warning on screen",
        Duration::from_secs(30),
        || {
            let n: u32 = s
                .tool("dunstctl", &["count", "displayed"])
                .trim()
                .parse()
                .unwrap_or(0);
            (n >= 1).then_some(())
        },
    );
    s.tool("dunstctl", &["close-all"]);
    let history = wait_until(
        "the warning in dunst's history",
        Duration::from_secs(10),
        || {
            let h = dunst_history(&s);
            h.iter()
                .any(|n| n["summary"]["data"] == "Latchkey: session ending soon")
                .then_some(h)
        },
    );
    let warnings: Vec<&Value> = history
        .iter()
        .filter(|n| n["summary"]["data"] == "Latchkey: session ending soon")
        .collect();
    assert_eq!(warnings.len(), 1, "one warning: {history:?}");
    let body = warnings[0]["body"]["data"].as_str().unwrap();
    // `latchkey_core::text::human_duration` of the seconds left (about ten minutes).
    assert!(
        body.starts_with("The session of “home” ends in 9m ")
            || body.starts_with("The session of “home” ends in 10m 0s"),
        "{body}"
    );
    std::fs::write(
        screenshot_dir().join("notification-02-session-ending.json"),
        serde_json::to_string_pretty(&warnings).unwrap(),
    )
    .unwrap();

    // "Quit" ends the app.
    // (The app may be gone before it answers the click: that is the click's effect.)
    match item.try_click("Quit") {
        Ok(()) => {}
        Err(zbus::Error::MethodError(name, _, _))
            if name.as_str() == "org.freedesktop.DBus.Error.NoReply" => {}
        Err(e) => panic!("clicking Quit: {e}"),
    }
    wait_until("the app to quit", Duration::from_secs(20), || {
        Command::new("kill")
            .args(["-0", &s.app_pid.to_string()])
            .status()
            .ok()
            .filter(|st| !st.success())
    });
}

/// Issue 17: a hand-out waiting for approval while the window is hidden is a notification
/// with the dialog's actions (picked through dunst's context menu, as a person would) and the
/// tray asks for attention until it is answered.
#[test]
fn an_approval_while_the_window_is_hidden_is_a_notification_with_actions_and_tray_attention() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "the desktop end-to-end tests need a display: run them with scripts/test.sh (xvfb-run)"
    );
    let cli = PathBuf::from(APP).with_file_name("latchkey");
    assert!(
        cli.exists(),
        "build the CLI first (cargo build -p latchkey-cli)"
    );
    let p = Provider::start(json!({"accessTokenTtl": 300}));
    let mut sb = latchkey_testkit::Sandbox::new(&cli);
    let sock = sb.agent_socket().to_string_lossy().into_owned();
    let s = AppSession::start_with(
        sb.config_dir(),
        Some("for this session"),
        &["--hidden"],
        &[("LATCHKEY_AGENT_SOCK", sock.clone())],
    );
    sb.set_env("DBUS_SESSION_BUS_ADDRESS", s.bus.clone());
    let (conn, registered) = play_panel(&s.bus);
    sb.add_and_login(&p, "work");
    sb.ok(&["edit", "work", "--approval", "session"]);
    let home = tempfile::tempdir().unwrap();
    let setup = sb
        .cmd(&[
            "setup",
            "git",
            "work",
            "--host",
            "https://git.example",
            "--path",
            "org",
        ])
        .env("HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    s.go();
    let item = registered_item(&conn, &registered);
    wait_until(
        "the app to serve the agent socket",
        Duration::from_secs(30),
        || Path::new(&sock).exists().then_some(()),
    );
    assert_eq!(item.status(), "Active");

    // Real git asks through the helper; nobody sees the window.
    let mut git = sb.git(home.path(), home.path(), &["credential", "fill"], false);
    git.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut git = git.spawn().unwrap();
    std::io::Write::write_all(
        &mut git.stdin.take().unwrap(),
        b"protocol=https\nhost=git.example\npath=org/repo.git\n\n",
    )
    .unwrap();

    wait_until(
        "dunst to show the approval",
        Duration::from_secs(30),
        || {
            let n: u32 = s
                .tool("dunstctl", &["count", "displayed"])
                .trim()
                .parse()
                .unwrap_or(0);
            (n >= 1).then_some(())
        },
    );
    item.wait_status("NeedsAttention");
    assert!(
        item.tooltip().contains("waits for your approval"),
        "{}",
        item.tooltip()
    );
    item.dump("tray-05-approval-waiting");
    // The context menu offers the dialog's answers; the pick is "Allow for this session".
    let out = s.tool("dunstctl", &["context"]);
    assert!(!out.contains("rror"), "dunstctl context: {out}");
    let out = git.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git after the notification's Allow: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.logs()
    );
    let offered = std::fs::read_to_string(s.dir.path().join("dunst-menu.log")).unwrap_or_default();
    for action in ["Allow once", "Allow for this session", "Deny"] {
        assert!(offered.contains(action), "dunst offered: {offered}");
    }
    let log = std::fs::read_to_string(sb.config_dir().join("latchkey.log")).unwrap_or_default();
    assert!(
        log.contains("approval answered from the notification"),
        "the app saw the ActionInvoked: {log}"
    );
    item.wait_status("Active");
    // A session grant: the same git in the same session is not asked again.
    let grants: Value = serde_json::from_str(&sb.ok(&["approvals", "--json"])).unwrap();
    assert_eq!(grants["sessions"].as_array().unwrap().len(), 1, "{grants}");
}
