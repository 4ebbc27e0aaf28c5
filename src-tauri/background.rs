//! Background work of the running app (real app only, started from `run()`):
//!
//! - **Live updates**: polls the metadata file's fingerprint (one `stat` every 500 ms; the CLI
//!   and every refresh replace the file atomically) and emits one `accounts-changed` event when
//!   it changes, plus a periodic tick so countdowns and "expires soon" stay true.
//! - **Keep signed in**: each sweep runs the core's keep-signed-in sweep
//!   ([`latchkey_core::LoginManager::keep_signed_in`]: the policy and the renewals are the core's, the same
//!   that `latchkey agent` runs), through the agent when another process serves it; here only
//!   what to tell the user (a notification when an account needs sign-in).
//! - **Session ending**: when the provider (or the account's settings) tells when the session
//!   ends, one notification per session the account's warning time before (the core decides:
//!   [`latchkey_core::AccountSummary::session_warning`]), with the same "Sign in" action.
//! - **Needs sign-in**: one desktop notification per account when it needs the user, with a
//!   "Sign in" action that starts the sign-in (Linux: notify-rust, so the action's
//!   `ActionInvoked` reaches us), and the tray's status and tooltip say so. Without a notification service the failure is logged and shown in
//!   the window (`notice` event) rather than hidden.

use std::time::Duration;

use latchkey_core::TokenStatus;
use latchkey_core::manager::{KEEP_SIGNED_IN_SWEEP, Kept, KeychainState};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::state::AppState;
use crate::{ACCOUNTS_CHANGED, NOTICE};

/// How often the metadata file is checked.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// How often account states are re-read (expiry, keep-signed-in, notifications, tray): the
/// core's keep-signed-in sweep interval, which its margins are made for.
const SWEEP_INTERVAL: Duration = KEEP_SIGNED_IN_SWEEP;
/// The notification action that starts a sign-in.
#[cfg(target_os = "linux")]
const SIGN_IN_ACTION: &str = "sign-in";
/// First retry while the keychain is unreadable (then 2×, 4×… up to [`SWEEP_INTERVAL`]).
const UNREADABLE_RETRY: Duration = Duration::from_secs(1);
/// The first sweep waits this long after start-up: with many accounts it reads every one
/// (and rebuilds the tray), which on a small machine competes with the window's first paint
/// and its first `list_accounts_metadata` answer (BENCHMARKS.md, "The desktop app painting
/// 1,000 accounts"). Nothing at start-up needs it sooner: the window reads the list itself.
const FIRST_SWEEP_DELAY: Duration = Duration::from_secs(2);

/// A message for the window's notice area.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// `info`, `warning` or `error`.
    pub level: &'static str,
    /// Text for people.
    pub message: String,
}

/// Starts the watcher and the sweeper.
pub fn start<R: Runtime>(app: &AppHandle<R>) {
    tauri::async_runtime::spawn(watch(app.clone()));
    tauri::async_runtime::spawn(approvals(app.clone()));
    tauri::async_runtime::spawn(sweep_forever(app.clone()));
}

async fn watch<R: Runtime>(app: AppHandle<R>) {
    let Some(paths) = app
        .try_state::<AppState>()
        .map(|s| s.manager.paths().clone())
    else {
        return;
    };
    let mut last = latchkey_core::watch::fingerprint(&paths);
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let now = latchkey_core::watch::fingerprint(&paths);
        if now != last {
            last = now;
            tracing::debug!("accounts file changed");
            let _ = app.emit(ACCOUNTS_CHANGED, ());
            sweep(&app, false).await;
        }
    }
}

/// Hand-outs waiting for approval (the agent's, or this app's own when it is the agent): every
/// [`WATCH_INTERVAL`], the window gets `approvals-changed` when the set changes; a new one
/// while the window is hidden also gets a notification with the dialog's actions; the tray
/// asks for attention while any wait.
async fn approvals<R: Runtime>(app: AppHandle<R>) {
    let mut shown: Vec<String> = Vec::new();
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let Some(state) = app.try_state::<AppState>() else {
            return;
        };
        let pending = match state.source.pending().await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "cannot list the approvals waiting");
                continue;
            }
        };
        let ids: Vec<String> = pending.iter().map(|p| p.id.clone()).collect();
        if ids == shown {
            continue;
        }
        let visible = app
            .get_webview_window("main")
            .and_then(|w| w.is_visible().ok())
            .unwrap_or(false);
        for p in pending.iter().filter(|p| !shown.contains(&p.id)) {
            tracing::info!(id = %p.id, account = %p.ask.account, "approval asked");
            if !visible {
                approval_notification(&app, p);
            }
        }
        state.set_approvals_waiting(pending.len());
        let _ = app.emit(APPROVALS_CHANGED, &pending);
        shown = ids;
        sweep(&app, false).await;
    }
}

/// The event the window's approval dialog listens to (payload: the waiting hand-outs).
pub const APPROVALS_CHANGED: &str = "approvals-changed";

/// A notification for a hand-out waiting while the window is hidden, with the dialog's
/// actions (Linux: notify-rust, so the `ActionInvoked` reaches us); its body opens the window.
fn approval_notification<R: Runtime>(
    app: &AppHandle<R>,
    p: &latchkey_core::approval::PendingApproval,
) {
    let app = app.clone();
    let p = p.clone();
    std::thread::spawn(move || {
        if let Err(e) = show_approval_notification(&app, &p) {
            tracing::warn!("no desktop notification for the approval: {e}");
        }
    });
}

#[cfg(target_os = "linux")]
fn show_approval_notification<R: Runtime>(
    app: &AppHandle<R>,
    p: &latchkey_core::approval::PendingApproval,
) -> Result<(), String> {
    use latchkey_core::approval::{ApprovalMode, Decision};
    let mut n = notify_rust::Notification::new();
    n.appname("Latchkey")
        .summary(&format!("Allow {} of `{}`?", p.ask.what, p.ask.account))
        .body(&format!(
            "{}{}\nAsked by {}",
            p.ask.tool,
            p.ask
                .target
                .as_deref()
                .map(|t| format!(" → {t}"))
                .unwrap_or_default(),
            p.requester_line
        ))
        .action("once", "Allow once");
    if p.mode == ApprovalMode::Session {
        n.action("session", "Allow for this session");
    }
    n.action("deny", "Deny").action("default", "Open Latchkey");
    let handle = n.show().map_err(|e| e.to_string())?;
    let app = app.clone();
    let id = p.id.clone();
    handle.wait_for_action(|action| {
        let decision = match action {
            "once" => Some(Decision::Once),
            "session" => Some(Decision::Session),
            "deny" => Some(Decision::Deny),
            "default" => {
                crate::show_main_window(&app);
                None
            }
            _ => None,
        };
        if let Some(d) = decision
            && let Some(state) = app.try_state::<AppState>()
        {
            let source = state.source.clone();
            let id = id.clone();
            tauri::async_runtime::spawn(async move {
                match source.decide(&id, d).await {
                    Ok(_) => tracing::info!(id = %id, "approval answered from the notification"),
                    Err(e) => tracing::warn!(id = %id, error = %e, "approval from the notification failed"),
                }
            });
        }
    });
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn show_approval_notification<R: Runtime>(
    app: &AppHandle<R>,
    p: &latchkey_core::approval::PendingApproval,
) -> Result<(), String> {
    use tauri_plugin_notification::NotificationExt;
    app.notification()
        .builder()
        .title(format!("Allow {} of `{}`?", p.ask.what, p.ask.account))
        .body(format!(
            "Asked by {}; answer in the Latchkey window",
            p.requester_line
        ))
        .show()
        .map_err(|e| e.to_string())
}

/// Sweeps every [`SWEEP_INTERVAL`]; while some account's tokens cannot be read (a locked
/// keychain), sooner, with backoff from [`UNREADABLE_RETRY`], so that unlocking the keychain
/// fills the window in without a restart. When the statuses change, the window reloads.
async fn sweep_forever<R: Runtime>(app: AppHandle<R>) {
    let mut last: Option<(KeychainState, Vec<(String, TokenStatus)>)> = None;
    let mut unreadable_streak = 0;
    tokio::time::sleep(FIRST_SWEEP_DELAY).await;
    loop {
        // Tokens held in memory are served without the keychain, so the account statuses alone
        // would not show that it was locked: ask it once per sweep (one read).
        let keychain = match app.try_state::<AppState>() {
            Some(state) => state.manager.probe_keychain().await,
            None => KeychainState::Unknown,
        };
        if let Some(statuses) = sweep(&app, true).await {
            let now = (keychain, statuses);
            if last.as_ref().is_some_and(|l| *l != now) {
                tracing::debug!("account statuses or the keychain state changed");
                let _ = app.emit(ACCOUNTS_CHANGED, ());
            }
            let unreadable = !matches!(keychain, KeychainState::Available | KeychainState::Unknown)
                || now.1.iter().any(|(_, s)| *s == TokenStatus::Unknown);
            if unreadable {
                unreadable_streak += 1;
            } else {
                unreadable_streak = 0;
            }
            last = Some(now);
        }
        tokio::time::sleep(next_delay(unreadable_streak)).await;
    }
}

/// The wait before the next sweep (pure): [`SWEEP_INTERVAL`] normally; after `streak`
/// sweeps in a row found tokens unreadable, [`UNREADABLE_RETRY`] × 2^(streak−1), at most
/// [`SWEEP_INTERVAL`].
pub fn next_delay(streak: u32) -> Duration {
    match streak {
        0 => SWEEP_INTERVAL,
        n => latchkey_core::backoff::Backoff::doubling(UNREADABLE_RETRY, SWEEP_INTERVAL).delay(n),
    }
}

/// Re-reads every account: updates the tray, notifies about accounts that need sign-in, and
/// (when `refresh`) refreshes "keep signed in" accounts that are close to expiry. Returns
/// each account's id and status.
async fn sweep<R: Runtime>(
    app: &AppHandle<R>,
    refresh: bool,
) -> Option<Vec<(String, TokenStatus)>> {
    let state = app.try_state::<AppState>()?;
    let summaries = match state.manager.summaries().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("account sweep failed: {e}");
            return None;
        }
    };
    crate::tray::update(app, &summaries);
    if refresh {
        for kept in state
            .manager
            .keep_signed_in(&summaries, state.source.as_ref())
            .await
        {
            if matches!(kept.outcome, Kept::NeedsSignIn(_))
                && state.mark_notified(&kept.id.to_string())
            {
                notify_needs_sign_in(app, &kept.name);
            }
        }
    }
    for s in &summaries {
        let id = s.account.id.to_string();
        if let Some(w) = s.session_warning()
            && state.mark_session_warned(&id, w.ends_at.unix_timestamp())
        {
            notify_session_ending(app, &s.account.name, w.seconds_left);
        }
        match s.status {
            TokenStatus::NeedsSignIn if state.mark_notified(&id) => {
                notify_needs_sign_in(app, &s.account.name);
            }
            TokenStatus::SignedIn | TokenStatus::ExpiresSoon => state.clear_notified(&id),
            _ => {}
        }
    }
    Some(
        summaries
            .iter()
            .map(|s| (s.account.id.to_string(), s.status))
            .collect(),
    )
}

fn notify_needs_sign_in<R: Runtime>(app: &AppHandle<R>, name: &str) {
    let message = format!("Account “{name}” needs you to sign in again.");
    tracing::info!(account = %name, "needs sign-in; notifying");
    notify(app, "Latchkey: sign in again", message, name);
}

fn notify_session_ending<R: Runtime>(app: &AppHandle<R>, name: &str, seconds_left: i64) {
    let message = format!(
        "The session of “{name}” ends in {} (a limit set by the provider). Sign in again before then to keep working.",
        latchkey_core::text::human_duration(seconds_left)
    );
    tracing::info!(account = %name, seconds_left, "session ends soon; notifying");
    notify(app, "Latchkey: session ending soon", message, name);
}

/// Shows a desktop notification with a "Sign in" action for `account`, and the same message
/// in the window's notice area (saying so when no notification could be shown).
fn notify<R: Runtime>(app: &AppHandle<R>, title: &str, message: String, account: &str) {
    let app = app.clone();
    let title = title.to_string();
    let account = account.to_string();
    // Off the async runtime: showing is a D-Bus round trip, and waiting for the action blocks
    // until the notification is closed.
    std::thread::spawn(move || {
        let notice = match show_notification(&app, &title, &message, &account) {
            Ok(()) => Notice {
                level: "warning",
                message,
            },
            Err(e) => {
                tracing::warn!("no desktop notification (is a notification service running?): {e}");
                Notice {
                    level: "warning",
                    message: format!("{message} (No desktop notification could be shown: {e}.)"),
                }
            }
        };
        let _ = app.emit(NOTICE, notice);
    });
}

/// Linux: through notify-rust, with a "Sign in" action; invoking it starts the sign-in.
#[cfg(target_os = "linux")]
fn show_notification<R: Runtime>(
    app: &AppHandle<R>,
    title: &str,
    message: &str,
    account: &str,
) -> Result<(), String> {
    let handle = notify_rust::Notification::new()
        .appname("Latchkey")
        .summary(title)
        .body(message)
        .action(SIGN_IN_ACTION, "Sign in")
        .show()
        .map_err(|e| e.to_string())?;
    let app = app.clone();
    let account = account.to_string();
    std::thread::spawn(move || {
        handle.wait_for_action(|action| {
            if action == SIGN_IN_ACTION {
                tracing::info!(account = %account, "sign-in from the notification");
                crate::signin::begin_detached(&app, account);
            }
        });
    });
    Ok(())
}

/// Elsewhere: Tauri's notification plugin (no actions on desktop).
#[cfg(not(target_os = "linux"))]
fn show_notification<R: Runtime>(
    app: &AppHandle<R>,
    title: &str,
    message: &str,
    _account: &str,
) -> Result<(), String> {
    use tauri_plugin_notification::NotificationExt;
    app.notification()
        .builder()
        .title(title)
        .body(message)
        .show()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_keychain_is_retried_sooner_with_backoff() {
        let seen: Vec<u64> = (1..=6).map(|n| next_delay(n).as_secs()).collect();
        assert_eq!(seen, [1, 2, 4, 8, 15, 15]);
        assert_eq!(next_delay(40).as_secs(), 15);
        assert_eq!(next_delay(0), SWEEP_INTERVAL);
    }
}
