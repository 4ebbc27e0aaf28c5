//! Background work of the running app (real app only, started from `run()`):
//!
//! - **Live updates**: polls the metadata file's fingerprint (one `stat` every 500 ms; the CLI
//!   and every refresh replace the file atomically) and emits one `accounts-changed` event when
//!   it changes, plus a periodic tick so countdowns and "expires soon" stay true.
//! - **Keep signed in**: accounts marked so are refreshed before expiry through the core's
//!   single-flight refresh (the same locks as the CLI, so they never race).
//! - **Needs sign-in**: one desktop notification per account when it needs the user, and the
//!   tray's tooltip says so. Without a notification service the failure is logged and shown in
//!   the window (`notice` event) rather than hidden.

use std::time::Duration;

use latchkey_core::{AccountSummary, ErrorKind, TokenOptions, TokenStatus};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;

use crate::state::AppState;
use crate::{ACCOUNTS_CHANGED, NOTICE};

/// How often the metadata file is checked.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// How often account states are re-read (expiry, keep-signed-in, notifications, tray).
const SWEEP_INTERVAL: Duration = Duration::from_secs(15);
/// Accounts marked "keep signed in" are refreshed when less than this is left (at most).
const KEEP_SIGNED_IN_MARGIN: Duration = Duration::from_secs(120);
/// The margin never goes below one sweep plus some slack, so a token cannot expire between
/// two sweeps.
const MIN_MARGIN: Duration = Duration::from_secs(SWEEP_INTERVAL.as_secs() + 5);

/// The keep-signed-in margin for a token that lives `lifetime` seconds: a quarter of it,
/// between [`MIN_MARGIN`] and [`KEEP_SIGNED_IN_MARGIN`]. A fixed 120 s margin would refresh a
/// 100 s token on every sweep.
pub fn margin_for(lifetime: Option<i64>) -> Duration {
    match lifetime {
        Some(l) if l > 0 => {
            Duration::from_secs((l as u64) / 4).clamp(MIN_MARGIN, KEEP_SIGNED_IN_MARGIN)
        }
        _ => KEEP_SIGNED_IN_MARGIN,
    }
}

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

async fn sweep_forever<R: Runtime>(app: AppHandle<R>) {
    loop {
        sweep(&app, true).await;
        tokio::time::sleep(SWEEP_INTERVAL).await;
    }
}

/// Re-reads every account: updates the tray, notifies about accounts that need sign-in, and
/// (when `refresh`) refreshes "keep signed in" accounts that are close to expiry.
async fn sweep<R: Runtime>(app: &AppHandle<R>, refresh: bool) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let summaries = match state.manager.summaries().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("account sweep failed: {e}");
            return;
        }
    };
    crate::tray::update(app, &summaries);
    for s in &summaries {
        if refresh && due_for_refresh(s) {
            keep_signed_in(app, &state, s).await;
        }
        let id = s.account.id.to_string();
        match s.status {
            TokenStatus::NeedsSignIn if state.mark_notified(&id) => {
                notify_needs_sign_in(app, &s.account.name);
            }
            TokenStatus::SignedIn | TokenStatus::ExpiresSoon => state.clear_notified(&id),
            _ => {}
        }
    }
}

/// True if `s` is kept signed in and its token is close to expiry (pure).
pub fn due_for_refresh(s: &AccountSummary) -> bool {
    s.account.keep_signed_in
        && s.has_refresh_token
        && s.expires_in
            .is_some_and(|left| left < margin_for(s.token_lifetime).as_secs() as i64)
}

async fn keep_signed_in<R: Runtime>(app: &AppHandle<R>, state: &AppState, s: &AccountSummary) {
    let name = &s.account.name;
    let opts = TokenOptions {
        min_ttl: Some(margin_for(s.token_lifetime)),
        force: false,
    };
    match latchkey_core::agent::access_token(&state.manager, name, opts).await {
        Ok(t) if t.refreshed => tracing::info!(account = %name, "refreshed in the background"),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NeedsSignIn => {
            if state.mark_notified(&s.account.id.to_string()) {
                notify_needs_sign_in(app, name);
            }
        }
        Err(e) => {
            tracing::warn!(account = %name, kind = %e.kind(), "background refresh failed: {e}")
        }
    }
}

fn notify_needs_sign_in<R: Runtime>(app: &AppHandle<R>, name: &str) {
    let message = format!("Account “{name}” needs you to sign in again.");
    tracing::info!(account = %name, "needs sign-in; notifying");
    let shown = app
        .notification()
        .builder()
        .title("Latchkey: sign in again")
        .body(&message)
        .show();
    let notice = match shown {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_scales_with_the_token_lifetime() {
        // 100 s tokens: refreshed with 25 s left (every ~75 s), not on every 15 s sweep.
        assert_eq!(margin_for(Some(100)), Duration::from_secs(25));
        assert!(margin_for(Some(100)) < Duration::from_secs(100) - SWEEP_INTERVAL);
        assert_eq!(margin_for(Some(3600)), KEEP_SIGNED_IN_MARGIN);
        // Never below one sweep (a token must not expire between sweeps).
        assert_eq!(margin_for(Some(30)), MIN_MARGIN);
        assert!(MIN_MARGIN > SWEEP_INTERVAL);
        assert_eq!(margin_for(None), KEEP_SIGNED_IN_MARGIN);
        assert_eq!(margin_for(Some(-5)), KEEP_SIGNED_IN_MARGIN);
    }
}
