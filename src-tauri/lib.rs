//! Latchkey desktop shell: the Tauri application over `latchkey-core` (window, commands,
//! deep links, tray, background refresh, notifications).
//!
//! - [`configure`] adds what every build of the app has — the state, the commands, the
//!   clipboard and autostart plugins — to any builder, so the IPC tests drive the same app on
//!   Tauri's mock runtime (`tauri::test::mock_builder()`).
//! - [`run`] starts the real app: single-instance (first, so a second launch with a URL reaches
//!   this process), deep links, notifications, the tray and the background tasks. Those are
//!   never added to the mock builder: single-instance calls `process::exit(0)` when its D-Bus
//!   name is taken, which would end a test binary silently.
//!
//! Events to the page: `accounts-changed` (reload the list), `sign-in-finished`
//! ([`views::SignInFinished`]), `device-code` ([`views::DeviceCodeView`]), `notice`
//! ([`background::Notice`]), `open-add-account`.

pub mod background;
pub mod clipboard;
pub mod commands;
pub mod deep_link;
pub mod ipc_error;
mod logging;
pub mod signin;
pub mod state;
pub mod tray;
pub mod views;

#[cfg(test)]
mod ipc_tests;

use tauri::{Builder, Manager, RunEvent, Runtime, WindowEvent};
use tauri_plugin_deep_link::DeepLinkExt;

use crate::state::AppState;

/// Event: the account list changed (the CLI, a refresh, a sign-in); the page reloads it.
pub const ACCOUNTS_CHANGED: &str = "accounts-changed";
/// Event: a sign-in ended ([`views::SignInFinished`]).
pub const SIGN_IN_FINISHED: &str = "sign-in-finished";
/// Event: a message for the window's notice area ([`background::Notice`]).
pub const NOTICE: &str = "notice";
/// Event: a device sign-in has its user code ([`views::DeviceCodeView`]).
pub const DEVICE_CODE: &str = "device-code";
/// Event: the tray asked for the "Add account" form.
pub const OPEN_ADD_ACCOUNT: &str = "open-add-account";

/// The argument autostart passes: start in the tray, without showing the window.
pub const HIDDEN_ARG: &str = "--hidden";

/// Adds Latchkey's state, commands and runtime-independent plugins to `builder`.
///
/// The window itself is declared in `tauri.conf.json`; Tauri creates it when the app starts.
pub fn configure<R: Runtime>(builder: Builder<R>, state: AppState) -> Builder<R> {
    builder
        .manage(state)
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .args([HIDDEN_ARG])
                .build(),
        )
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_presets,
            commands::list_accounts,
            commands::list_accounts_metadata,
            commands::add_account,
            commands::edit_account,
            commands::remove_account,
            commands::sign_in,
            commands::cancel_sign_in,
            commands::refresh_account,
            commands::sign_out,
            commands::copy_access_token,
            commands::autostart_enabled,
            commands::set_autostart,
            commands::bench_painted,
            commands::keychain_state,
            commands::add_permissions,
            commands::store_info,
            commands::unlock_vault,
            commands::pending_approvals,
            commands::decide_approval,
            commands::account_activity,
            commands::activity_log,
            commands::list_connections,
            commands::plan_setup,
            commands::apply_setup,
        ])
}

/// Shows, unminimizes and focuses the main window.
pub fn show_main_window<R: Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Starts the desktop app and blocks until it quits (the tray's "Quit").
///
/// Exits the process with status 1 if Tauri cannot start (for example without a display).
pub fn run() {
    logging::init();
    let state = match AppState::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("latchkey-app: could not start: {e}");
            std::process::exit(1);
        }
    };
    // Single-instance first: a second launch hands its arguments (a deep link, or nothing) to
    // this process and exits; with the `deep-link` feature the URL is routed to the deep-link
    // plugin's `on_open_url`, so this callback only brings the window forward.
    let builder = Builder::default()
        .plugin(tauri_plugin_single_instance::init(
            |app, args, _cwd| match deep_link::url_in_args(&args) {
                None => {
                    tracing::info!("launched again: showing the window");
                    show_main_window(app);
                }
                Some(url) => {
                    let raise = app
                        .try_state::<AppState>()
                        .is_some_and(|s| deep_link::should_raise(&s, &url));
                    if raise {
                        show_main_window(app);
                    }
                }
            },
        ))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init());
    let app = configure(builder, state)
        .setup(|app| {
            setup(app.handle());
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps the app in the tray; "Quit" ends it.
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.label() == "main"
            {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|app, event| {
            if let RunEvent::Exit = event {
                tracing::info!("quitting");
                // Renewals finishing in the background (a late answer may carry the only
                // valid, rotated refresh token) and rotated sets the keychain refused earlier
                // (held in memory only) are stored first, within a bound; the manager says
                // what it had to leave.
                if let Some(state) = app.try_state::<AppState>() {
                    let manager = state.manager.clone();
                    let drained = tauri::async_runtime::block_on(async move {
                        manager.drain(latchkey_core::manager::DRAIN_AT_EXIT).await
                    });
                    if !drained.is_clean() {
                        tracing::error!(
                            "quitting with tokens not stored; the accounts concerned may need to sign in again"
                        );
                    }
                }
            }
        }),
        Err(err) => {
            eprintln!("latchkey-app: could not start: {err}");
            std::process::exit(1);
        }
    }
}

fn setup<R: Runtime>(app: &tauri::AppHandle<R>) {
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Latchkey app starting");
    let deep_links = app.deep_link();
    // Registers the scheme handler for this executable (Linux/Windows); tools may be missing,
    // so a failure is logged, never fatal. Off the main thread: it runs external commands.
    #[cfg(any(target_os = "linux", windows))]
    {
        let handle = app.clone();
        std::thread::spawn(move || {
            // Not while the window is starting: registration runs update-desktop-database and
            // xdg-mime as child processes, which compete with the first paint.
            std::thread::sleep(std::time::Duration::from_secs(3));
            if let Err(e) = handle.deep_link().register_all() {
                tracing::warn!("could not register the dev.latchkey.app URL handler: {e}");
            }
        });
    }
    let handle = app.clone();
    deep_links.on_open_url(move |event| deep_link::handle_urls(&handle, event.urls()));
    // Cold start by URL: the OS started this process with the callback as its argument.
    match deep_links.get_current() {
        Ok(Some(urls)) => deep_link::handle_urls(app, urls),
        Ok(None) => {}
        Err(e) => tracing::warn!("could not read the start-up URL: {e}"),
    }
    if std::env::args().any(|a| a == HIDDEN_ARG)
        && let Some(window) = app.get_webview_window("main")
    {
        let _ = window.hide();
    }
    tray::install(app);
    background::start(app);
    serve_agent(app);
}

/// The app is the agent when no other one runs: it serves the agent socket from its own
/// manager (one owner of refreshes for the window and every script); when a standalone agent
/// already serves it, the app asks that agent for tokens instead.
#[cfg(unix)]
fn serve_agent<R: Runtime>(app: &tauri::AppHandle<R>) {
    let source = app.state::<AppState>().source.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = source.host(std::future::pending()).await {
            tracing::warn!("could not serve the agent socket: {e}");
        }
    });
}

#[cfg(not(unix))]
fn serve_agent<R: Runtime>(_app: &tauri::AppHandle<R>) {}
