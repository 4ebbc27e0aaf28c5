//! Sign-in from the app: start it (browser + loopback wait, browser + deep link, device code,
//! or client credentials), cancel it, and report how it ended with one `sign-in-finished`
//! event.
//!
//! Both redirect modes end in the core's one completion path
//! ([`latchkey_core::LoginManager::complete_sign_in`]): the loopback listener calls it inside
//! [`latchkey_core::LoginManager::sign_in_loopback`]; a deep link calls it from
//! [`crate::deep_link`]. Nothing here sees a token.

use std::time::Duration;

use latchkey_core::{Error, RedirectMode, Result, SignInMethod, SignInOptions, SignedIn};
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::oneshot;

use crate::background::Notice;
use crate::ipc_error::IpcError;
use crate::state::AppState;
use crate::views::{DeviceCodeView, SignInFinished, SignInStartedView, redirect_uri_to_register};
use crate::{ACCOUNTS_CHANGED, DEVICE_CODE, NOTICE, SIGN_IN_FINISHED, show_main_window};

/// The window's words for a callback the loopback listener ignored (`core`: the core's log text).
pub fn ignored_message(core: &str) -> String {
    let mut chars = core.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

/// How long a loopback sign-in waits for the browser (the pending flow lives 10 minutes).
pub const LOOPBACK_TIMEOUT: Duration = Duration::from_secs(600);

/// Starts a sign-in of `name` and opens the browser; the outcome arrives as `sign-in-finished`.
pub async fn begin<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    name: &str,
    replace_identity: bool,
) -> Result<SignInStartedView> {
    let opts = SignInOptions {
        replace_identity,
        ..Default::default()
    };
    begin_with(app, state, name, opts).await
}

/// [`begin`] with any sign-in options (the "Add permissions" action: scopes and resources to
/// add).
pub async fn begin_with<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    name: &str,
    opts: SignInOptions,
) -> Result<SignInStartedView> {
    let account = state.manager.account(name)?;
    let mode = match SignInMethod::for_account(&account, false) {
        SignInMethod::Loopback => RedirectMode::Loopback,
        SignInMethod::Scheme => RedirectMode::Scheme,
        SignInMethod::Device => return Ok(begin_device(app, state, name, opts)),
        SignInMethod::ClientCredentials => {
            let (generation, previous) = state.begin_sign_in(name, None, None);
            cancel_progress(state, previous).await;
            let manager = state.manager.clone();
            let app = app.clone();
            let account_name = name.to_string();
            tauri::async_runtime::spawn(async move {
                let result = manager.sign_in_client_credentials(&account_name).await;
                if let Some(state) = app.try_state::<AppState>() {
                    state.end_sign_in(&account_name, Some(generation));
                }
                finish(&app, Some(account_name), result);
            });
            return Ok(SignInStartedView {
                account: name.to_string(),
                mode: "client-credentials",
                redirect_uri: String::new(),
            });
        }
    };
    match mode {
        RedirectMode::Loopback => {
            let (tx, rx) = oneshot::channel();
            let (generation, previous) = state.begin_sign_in(name, None, Some(tx));
            cancel_progress(state, previous).await;
            let manager = state.manager.clone();
            let opener = state.opener.clone();
            let app = app.clone();
            let account_name = name.to_string();
            tauri::async_runtime::spawn(async move {
                let cancelled = cancelled(rx);
                let mut ignored = manager.ignored_callbacks();
                let result = {
                    let sign_in = manager.sign_in_loopback(
                        &account_name,
                        SignInOptions {
                            redirect: Some(RedirectMode::Loopback),
                            ..opts
                        },
                        LOOPBACK_TIMEOUT,
                        |start| {
                            if let Err(e) = opener(&start.url) {
                                tracing::warn!("could not open the browser: {e}");
                            }
                        },
                        cancelled,
                    );
                    tokio::pin!(sign_in);
                    // A callback the listener ignored (another state, another account's path) is
                    // shown in the window's notice area; the sign-in keeps waiting.
                    loop {
                        tokio::select! {
                            r = &mut sign_in => break r,
                            Ok(note) = ignored.recv() => {
                                if note.account == account_name {
                                    let _ = app.emit(
                                        NOTICE,
                                        Notice {
                                            level: "info",
                                            message: ignored_message(&note.message),
                                        },
                                    );
                                }
                            }
                        }
                    }
                };
                if let Some(state) = app.try_state::<AppState>() {
                    state.end_sign_in(&account_name, Some(generation));
                }
                finish(&app, Some(account_name), result);
            });
            Ok(SignInStartedView {
                account: name.to_string(),
                mode: "loopback",
                redirect_uri: redirect_uri_to_register(&account, RedirectMode::Loopback),
            })
        }
        RedirectMode::Scheme => {
            let start = state.manager.start_sign_in(name, opts).await?;
            let (generation, previous) =
                state.begin_sign_in(name, Some(start.digest.clone()), None);
            cancel_progress(state, previous).await;
            if let Err(e) = (state.opener)(&start.url) {
                state.end_sign_in(name, Some(generation));
                let _ = state.manager.cancel_sign_in(&start.digest).await;
                return Err(e);
            }
            let _ = app.emit(ACCOUNTS_CHANGED, ());
            Ok(SignInStartedView {
                account: name.to_string(),
                mode: "scheme",
                redirect_uri: start.redirect_uri,
            })
        }
    }
}

/// Starts a sign-in of `name` from outside the window (the tray, a notification's "Sign in"
/// action) on Tauri's runtime; a failure to start ends as a `sign-in-finished` event.
pub fn begin_detached<R: Runtime>(app: &AppHandle<R>, name: String) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let Some(state) = app.try_state::<AppState>() else {
            return;
        };
        if let Err(e) = begin(&app, &state, &name, false).await {
            finish(&app, Some(name), Err(e));
        }
    });
}

/// Device sign-in (RFC 8628): the codes go to the page as a `device-code` event (the panel
/// with the user code, the link, a countdown and Cancel), the verification page opens in the
/// browser, and the core polls until the user approves, denies or the code expires.
fn begin_device<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    name: &str,
    opts: SignInOptions,
) -> SignInStartedView {
    let (tx, rx) = oneshot::channel();
    let (generation, previous) = state.begin_sign_in(name, None, Some(tx));
    if let Some(p) = previous
        && let Some(cancel) = p.cancel
    {
        let _ = cancel.send(());
    }
    let manager = state.manager.clone();
    let opener = state.opener.clone();
    let app = app.clone();
    let account_name = name.to_string();
    tauri::async_runtime::spawn(async move {
        let cancelled = cancelled(rx);
        let show = |started: &latchkey_core::DeviceSignIn| {
            let _ = app.emit(DEVICE_CODE, DeviceCodeView::from(started));
            let page = started
                .verification_uri_complete
                .as_ref()
                .unwrap_or(&started.verification_uri);
            if let Err(e) = opener(page) {
                tracing::warn!("could not open the browser: {e}");
            }
        };
        let result = manager
            .sign_in_device(&account_name, opts, show, cancelled)
            .await;
        if let Some(state) = app.try_state::<AppState>() {
            state.end_sign_in(&account_name, Some(generation));
        }
        finish(&app, Some(account_name), result);
    });
    SignInStartedView {
        account: name.to_string(),
        mode: "device",
        redirect_uri: String::new(),
    }
}

/// Cancels the sign-in of `name` started from this app, if any. True if there was one.
pub async fn cancel<R: Runtime>(app: &AppHandle<R>, state: &AppState, name: &str) -> bool {
    let progress = state.end_sign_in(name, None);
    let had = progress.is_some();
    cancel_progress(state, progress).await;
    if had {
        let _ = app.emit(ACCOUNTS_CHANGED, ());
    }
    had
}

/// Completes when the sign-in is cancelled explicitly; a dropped sender does not end the wait.
async fn cancelled(rx: oneshot::Receiver<()>) {
    if rx.await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn cancel_progress(state: &AppState, progress: Option<crate::state::SignInProgress>) {
    let Some(p) = progress else { return };
    if let Some(tx) = p.cancel {
        let _ = tx.send(());
    }
    if let Some(digest) = p.digest
        && let Err(e) = state.manager.cancel_sign_in(&digest).await
    {
        tracing::debug!("could not remove an abandoned sign-in: {e}");
    }
}

/// Reports the end of a sign-in: one `sign-in-finished` event, `accounts-changed`, a log line
/// (no secrets: core messages never carry one), and the window brought forward.
pub fn finish<R: Runtime>(app: &AppHandle<R>, account: Option<String>, result: Result<SignedIn>) {
    let event = match result {
        Ok(done) => {
            tracing::info!(account = %done.account, "signed in from the app");
            if let (Some(state), Some(summary_id)) = (
                app.try_state::<AppState>(),
                state_account_id(app, &done.account),
            ) {
                state.clear_notified(&summary_id);
            }
            SignInFinished {
                account: Some(done.account),
                identity: done.identity,
                error: None,
            }
        }
        Err(Error::Interrupted) => {
            tracing::info!(
                account = account.as_deref().unwrap_or("-"),
                "sign-in cancelled"
            );
            SignInFinished {
                account,
                identity: None,
                error: Some(IpcError::new(
                    latchkey_core::ErrorKind::Interrupted,
                    "sign-in cancelled",
                )),
            }
        }
        Err(e) => {
            tracing::warn!(
                account = account.as_deref().unwrap_or("-"),
                kind = %e.kind(),
                "sign-in failed: {e}"
            );
            SignInFinished {
                account,
                identity: None,
                error: Some(IpcError::from(e)),
            }
        }
    };
    let _ = app.emit(SIGN_IN_FINISHED, &event);
    let _ = app.emit(ACCOUNTS_CHANGED, ());
    if event
        .error
        .as_ref()
        .is_none_or(|e| e.kind != latchkey_core::ErrorKind::Interrupted)
    {
        show_main_window(app);
    }
}

fn state_account_id<R: Runtime>(app: &AppHandle<R>, name: &str) -> Option<String> {
    let state = app.try_state::<AppState>()?;
    state.manager.account(name).ok().map(|a| a.id.to_string())
}
