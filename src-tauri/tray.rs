//! The tray icon. Its menu is computed by a pure function ([`model`]) from the account list —
//! one entry per account with its status and a quick action (Sign in, or Refresh), then
//! "Add account…", "Show Latchkey", "Quit" — and unit-tested. [`install`] and [`update`] turn
//! the model into a real tray; [`parse_action`] maps a clicked item back to what to do.
//!
//! On Linux the tray is our own StatusNotifierItem (`tray_linux.rs`, ksni), so that an account
//! needing sign-in sets the item's `Status` to `NeedsAttention`; `tests/tray_e2e.rs` plays the
//! panel over D-Bus and clicks through it. Elsewhere it is Tauri's tray.

use std::collections::HashSet;

use latchkey_core::{AccountSummary, TokenStatus};
#[cfg(not(target_os = "linux"))]
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
#[cfg(not(target_os = "linux"))]
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Emitter, Manager, Runtime};

#[cfg(target_os = "linux")]
#[path = "tray_linux.rs"]
mod linux;

use crate::state::AppState;
use crate::{ACCOUNTS_CHANGED, OPEN_ADD_ACCOUNT, show_main_window};

/// The tray icon's id.
pub const TRAY_ID: &str = "latchkey";

/// One line of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Information only (greyed out).
    Info(String),
    /// A clickable item.
    Item {
        /// Menu id (see [`parse_action`]).
        id: String,
        /// Text.
        label: String,
    },
    /// A separator.
    Separator,
}

/// The whole tray: tooltip, whether something needs attention, and the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Tooltip text (names the accounts that need attention).
    pub tooltip: String,
    /// Some account needs the user (sign in again, or keychain unreadable).
    pub attention: bool,
    /// Menu entries, top to bottom.
    pub entries: Vec<Entry>,
}

/// What a tray item asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a sign-in of this account.
    SignIn(String),
    /// Refresh this account now.
    Refresh(String),
    /// Open the "Add account" form.
    AddAccount,
    /// Show the window.
    Show,
    /// Quit the app.
    Quit,
}

fn needs_attention(status: TokenStatus) -> bool {
    matches!(status, TokenStatus::NeedsSignIn | TokenStatus::Unknown)
}

/// Words for the status of an account, as the tray shows them.
pub fn status_text(s: &AccountSummary, signing_in: bool) -> String {
    if signing_in {
        return "signing in…".into();
    }
    match (s.status, s.expires_in) {
        (TokenStatus::SignedIn | TokenStatus::ExpiresSoon, Some(secs)) if secs >= 0 => {
            format!(
                "{}, {} left",
                s.status.label(),
                latchkey_core::text::human_duration(secs)
            )
        }
        (status, _) => status.label().to_string(),
    }
}

/// The tray for this account list (pure).
pub fn model(accounts: &[AccountSummary], signing_in: &HashSet<String>) -> Model {
    model_waiting(accounts, signing_in, 0)
}

/// [`model`] while `waiting` hand-outs wait for approval: the tray asks for attention and
/// its tooltip says so first.
pub fn model_waiting(
    accounts: &[AccountSummary],
    signing_in: &HashSet<String>,
    waiting: usize,
) -> Model {
    let mut entries = Vec::new();
    let mut attention = Vec::new();
    if accounts.is_empty() {
        entries.push(Entry::Info("No accounts yet".into()));
    }
    for s in accounts {
        let a = &s.account;
        let busy = signing_in.contains(&a.name);
        let who = a
            .identity
            .as_ref()
            .map(|i| format!(" ({})", i.display()))
            .unwrap_or_default();
        if needs_attention(s.status) {
            attention.push(a.name.clone());
        }
        let mark = if needs_attention(s.status) {
            "⚠ "
        } else {
            ""
        };
        entries.push(Entry::Info(format!(
            "{mark}{}{who} — {}",
            a.name,
            status_text(s, busy)
        )));
        if busy {
            continue;
        }
        let quick = match s.status {
            TokenStatus::SignedIn | TokenStatus::ExpiresSoon | TokenStatus::ExpiredRefreshable
                if s.has_refresh_token =>
            {
                Some((
                    format!("refresh:{}", a.name),
                    format!("    Refresh {}", a.name),
                ))
            }
            TokenStatus::SignedIn | TokenStatus::ExpiresSoon => None,
            _ => Some((
                format!("sign-in:{}", a.name),
                format!("    Sign in to {}…", a.name),
            )),
        };
        if let Some((id, label)) = quick {
            entries.push(Entry::Item { id, label });
        }
    }
    entries.push(Entry::Separator);
    for (id, label) in [
        ("add", "Add account…"),
        ("show", "Show Latchkey"),
        ("quit", "Quit"),
    ] {
        entries.push(Entry::Item {
            id: id.into(),
            label: label.into(),
        });
    }
    let mut tooltip = match attention.as_slice() {
        [] => "Latchkey".to_string(),
        [one] => format!("Latchkey — {one} needs attention"),
        many => format!("Latchkey — {} accounts need attention", many.len()),
    };
    match waiting {
        0 => {}
        1 => tooltip = format!("Latchkey — a token waits for your approval; {tooltip}"),
        n => tooltip = format!("Latchkey — {n} tokens wait for your approval; {tooltip}"),
    }
    Model {
        tooltip: tooltip.replace("; Latchkey", ""),
        attention: !attention.is_empty() || waiting > 0,
        entries,
    }
}

/// The action of a clicked menu id (pure).
pub fn parse_action(id: &str) -> Option<Action> {
    match id {
        "add" => Some(Action::AddAccount),
        "show" => Some(Action::Show),
        "quit" => Some(Action::Quit),
        _ => {
            if let Some(name) = id.strip_prefix("sign-in:") {
                Some(Action::SignIn(name.to_string()))
            } else {
                id.strip_prefix("refresh:")
                    .map(|name| Action::Refresh(name.to_string()))
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn build_menu<R: Runtime>(app: &AppHandle<R>, model: &Model) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    for (n, entry) in model.entries.iter().enumerate() {
        match entry {
            Entry::Info(text) => {
                menu.append(&MenuItem::with_id(
                    app,
                    format!("info:{n}"),
                    text,
                    false,
                    None::<&str>,
                )?)?;
            }
            Entry::Item { id, label } => {
                menu.append(&MenuItem::with_id(app, id, label, true, None::<&str>)?)?;
            }
            Entry::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
        }
    }
    Ok(menu)
}

/// Creates the tray icon (real app only). A failure is logged: the window still works.
#[cfg(target_os = "linux")]
pub fn install<R: Runtime>(app: &AppHandle<R>) {
    linux::install(app, model(&[], &HashSet::new()));
}

/// Creates the tray icon (real app only). A failure is logged: the window still works.
#[cfg(not(target_os = "linux"))]
pub fn install<R: Runtime>(app: &AppHandle<R>) {
    let model = model(&[], &HashSet::new());
    let result = build_menu(app, &model).and_then(|menu| {
        let mut builder = TrayIconBuilder::with_id(TRAY_ID)
            .menu(&menu)
            .tooltip(&model.tooltip)
            .show_menu_on_left_click(false)
            .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
            .on_tray_icon_event(|tray, event| {
                if let TrayIconEvent::Click {
                    button: MouseButton::Left,
                    button_state: MouseButtonState::Up,
                    ..
                } = event
                {
                    show_main_window(tray.app_handle());
                }
            });
        if let Some(icon) = app.default_window_icon() {
            builder = builder.icon(icon.clone());
        }
        builder.build(app)
    });
    if let Err(e) = result {
        tracing::warn!("no tray icon: {e}");
    }
}

/// Rebuilds the tray from the current account list.
pub fn update<R: Runtime>(app: &AppHandle<R>, accounts: &[AccountSummary]) {
    let (signing_in, waiting) = app
        .try_state::<AppState>()
        .map(|s| (s.signing_in(), s.approvals_waiting()))
        .unwrap_or_default();
    let model = model_waiting(accounts, &signing_in, waiting);
    show(app, model);
}

#[cfg(target_os = "linux")]
fn show<R: Runtime>(app: &AppHandle<R>, model: Model) {
    linux::update(app, model);
}

#[cfg(not(target_os = "linux"))]
fn show<R: Runtime>(app: &AppHandle<R>, model: Model) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    match build_menu(app, &model) {
        Ok(menu) => {
            if let Err(e) = tray.set_menu(Some(menu)) {
                tracing::debug!("tray menu not updated: {e}");
            }
        }
        Err(e) => tracing::debug!("tray menu not built: {e}"),
    }
    let _ = tray.set_tooltip(Some(&model.tooltip));
}

/// Does what the clicked tray item `id` asks for.
pub fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let Some(action) = parse_action(id) else {
        return;
    };
    match action {
        Action::Show => show_main_window(app),
        Action::Quit => app.exit(0),
        Action::AddAccount => {
            show_main_window(app);
            let _ = app.emit(OPEN_ADD_ACCOUNT, ());
        }
        Action::SignIn(name) => crate::signin::begin_detached(app, name),
        Action::Refresh(name) => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let Some(state) = app.try_state::<AppState>() else {
                    return;
                };
                let opts = latchkey_core::TokenOptions {
                    min_ttl: None,
                    force: true,
                };
                if let Err(e) = state.manager.access_token(&name, opts).await {
                    tracing::warn!(account = %name, kind = %e.kind(), "refresh from the tray failed: {e}");
                }
                let _ = app.emit(ACCOUNTS_CHANGED, ());
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use latchkey_core::{Account, Identity};

    fn summary(
        name: &str,
        status: TokenStatus,
        refresh: bool,
        expires_in: Option<i64>,
    ) -> AccountSummary {
        let json = serde_json::json!({
            "id": "6f1c8a52-9a42-4a55-8a9b-0d5f3c8e8b11",
            "name": name,
            "client_id": "cid",
            "created_at": "2026-01-01T00:00:00Z",
            "provider": {
                "spec": {"preset": "oidc", "issuer": "https://id.example.com"},
                "endpoints": {"token": "https://id.example.com/token"}
            }
        });
        let mut account: Account = serde_json::from_value(json).expect("account json");
        if status != TokenStatus::SignedOut {
            account.identity = Some(Identity {
                sub: "alice".into(),
                email: Some("alice@example.test".into()),
                ..Default::default()
            });
        }
        AccountSummary {
            account,
            status,
            expires_at: None,
            expires_in,
            has_refresh_token: refresh,
            token_lifetime: None,
            token_scope: None,
            problems: vec![],
            session_ends_at: None,
            session_ends_in: None,
            cached_tokens: vec![],
            offline_access: None,
        }
    }

    fn items(m: &Model) -> Vec<&str> {
        m.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Item { id, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn empty_list_offers_add_show_quit() {
        let m = model(&[], &HashSet::new());
        assert_eq!(items(&m), ["add", "show", "quit"]);
        assert_eq!(m.entries[0], Entry::Info("No accounts yet".into()));
        assert!(!m.attention);
        assert_eq!(m.tooltip, "Latchkey");
    }

    #[test]
    fn each_account_has_status_and_a_quick_action() {
        let list = [
            summary("work", TokenStatus::SignedIn, true, Some(1800)),
            summary("home", TokenStatus::SignedOut, false, None),
            summary("ci", TokenStatus::ExpiredRefreshable, true, Some(-5)),
        ];
        let m = model(&list, &HashSet::new());
        assert_eq!(
            items(&m),
            [
                "refresh:work",
                "sign-in:home",
                "refresh:ci",
                "add",
                "show",
                "quit"
            ]
        );
        assert_eq!(
            m.entries[0],
            Entry::Info("work (alice@example.test) — signed in, 30m 0s left".into())
        );
        assert_eq!(m.entries[2], Entry::Info("home — signed out".into()));
        assert!(!m.attention);
    }

    #[test]
    fn needs_sign_in_is_flagged_in_menu_and_tooltip() {
        let list = [
            summary("work", TokenStatus::NeedsSignIn, false, None),
            summary("home", TokenStatus::SignedIn, false, Some(30)),
        ];
        let m = model(&list, &HashSet::new());
        assert!(m.attention);
        assert_eq!(m.tooltip, "Latchkey — work needs attention");
        assert!(matches!(&m.entries[0], Entry::Info(t) if t.starts_with("⚠ work")));
        // A signed-in account without a refresh token has no quick action.
        assert_eq!(items(&m), ["sign-in:work", "add", "show", "quit"]);
        let two = [
            summary("a", TokenStatus::NeedsSignIn, false, None),
            summary("b", TokenStatus::Unknown, false, None),
        ];
        assert_eq!(
            model(&two, &HashSet::new()).tooltip,
            "Latchkey — 2 accounts need attention"
        );
    }

    #[test]
    fn signing_in_replaces_the_quick_action() {
        let list = [summary("work", TokenStatus::SignedOut, false, None)];
        let busy: HashSet<String> = ["work".to_string()].into();
        let m = model(&list, &busy);
        assert_eq!(m.entries[0], Entry::Info("work — signing in…".into()));
        assert_eq!(items(&m), ["add", "show", "quit"]);
    }

    #[test]
    fn menu_ids_round_trip() {
        assert_eq!(
            parse_action("sign-in:work"),
            Some(Action::SignIn("work".into()))
        );
        assert_eq!(
            parse_action("refresh:a:b"),
            Some(Action::Refresh("a:b".into()))
        );
        assert_eq!(parse_action("add"), Some(Action::AddAccount));
        assert_eq!(parse_action("show"), Some(Action::Show));
        assert_eq!(parse_action("quit"), Some(Action::Quit));
        assert_eq!(parse_action("info:3"), None);
    }
}
