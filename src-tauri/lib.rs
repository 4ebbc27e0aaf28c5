//! Latchkey desktop shell: the Tauri application (window, commands, plugins).
//!
//! [`configure`] adds everything that makes the app (commands, plugins) to any builder, so tests
//! can drive the same app on Tauri's mock runtime (`tauri::test::mock_builder()`); [`run`]
//! starts it for real with the Wry webview.

use tauri::{Builder, Runtime};

/// Version of the running Latchkey app, as set in `Cargo.toml`.
#[tauri::command]
fn app_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Adds Latchkey's commands and plugins to `builder`, whatever its runtime.
///
/// The window itself is declared in `tauri.conf.json`; Tauri creates it when the app starts
/// running, from the context given to [`Builder::run`] or [`Builder::build`].
pub fn configure<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    builder.invoke_handler(tauri::generate_handler![app_version])
}

/// Starts the desktop app and blocks until its last window is closed.
///
/// Exits the process with status 1 if Tauri cannot start (for example without a display).
pub fn run() {
    if let Err(err) = configure(Builder::default()).run(tauri::generate_context!()) {
        eprintln!("latchkey-app: could not start: {err}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
    use tauri::webview::InvokeRequest;
    use tauri::{App, WebviewWindow, WebviewWindowBuilder};

    /// The real app (config, capabilities, commands) on the mock runtime, with its main window.
    fn app() -> (App<MockRuntime>, WebviewWindow<MockRuntime>) {
        let app = crate::configure(mock_builder())
            .build(tauri::generate_context!())
            .expect("the app builds on the mock runtime");
        // A running app creates its configured windows at start-up; this one is not run.
        let config = app
            .config()
            .app
            .windows
            .iter()
            .find(|w| w.label == "main")
            .cloned();
        let config = config.expect("tauri.conf.json declares the main window");
        let window = WebviewWindowBuilder::from_config(app.handle(), &config)
            .and_then(WebviewWindowBuilder::build)
            .expect("the main window opens on the mock runtime");
        (app, window)
    }

    /// Sends `cmd` from the main window's page, as the bundled UI would.
    fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str) -> Result<String, String> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("valid URL"),
            body: InvokeBody::default(),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(window, request)
            .map(|body| body.deserialize::<String>().expect("a string"))
            .map_err(|err| err.to_string())
    }

    #[test]
    fn main_window_may_ask_for_the_app_version() {
        let (_app, window) = app();
        let version = invoke(&window, "app_version");
        assert_eq!(version, Ok(env!("CARGO_PKG_VERSION").to_owned()));
    }

    #[test]
    fn main_window_gets_nothing_beyond_its_capability() {
        let (_app, window) = app();
        let err = invoke(&window, "plugin:app|version").expect_err("core:app is not granted");
        assert!(err.contains("not allowed"), "unexpected error: {err}");
    }
}
