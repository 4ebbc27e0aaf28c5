//! Latchkey desktop shell: the Tauri application (window, commands, plugins).
//!
//! [`builder`] holds everything that does not depend on the runtime, so tests can drive the same
//! app with Tauri's mock runtime; [`run`] starts it for real with the Wry webview.

use tauri::{Builder, Runtime};

/// Version of the running Latchkey app, as set in `Cargo.toml`.
#[tauri::command]
fn app_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Creates the Latchkey app builder with its commands and plugins, for any runtime.
///
/// The window itself is declared in `tauri.conf.json` and created from the context passed to
/// [`Builder::run`] or [`Builder::build`].
pub fn builder<R: Runtime>() -> Builder<R> {
    Builder::<R>::new().invoke_handler(tauri::generate_handler![app_version])
}

/// Starts the desktop app and blocks until its last window is closed.
///
/// Exits the process with status 1 if Tauri cannot start (for example without a display).
pub fn run() {
    if let Err(err) = builder::<tauri::Wry>().run(tauri::generate_context!()) {
        eprintln!("latchkey-app: could not start: {err}");
        std::process::exit(1);
    }
}
