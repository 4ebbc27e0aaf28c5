//! Logging of the desktop app: lines on stderr and in `latchkey.log` in the config dir (the
//! file the CLI writes too), `info` by default, `LATCHKEY_LOG` to change the filter. Nothing
//! logged ever contains a token: the core's `Secret` prints `[redacted]`, and callback URLs
//! (which carry a code and the state) are never logged.

use std::sync::Mutex;

use latchkey_core::config::Paths;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

const DEFAULT_FILTER: &str = "latchkey_app=info,latchkey_core=info";

/// Sets up stderr and file logging (start-up only).
pub fn init() {
    let filter = || {
        std::env::var("LATCHKEY_LOG")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| EnvFilter::new(latchkey_core::text::log_filter(&s)))
            .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter());
    let file = Paths::from_env().ok().and_then(|paths| {
        latchkey_core::private::create_dir(paths.dir()).ok()?;
        let file = latchkey_core::private::open_log(&paths.log_file()).ok()?;
        Some(
            tracing_subscriber::fmt::layer()
                .with_writer(Mutex::new(file))
                .with_ansi(false)
                .with_filter(filter()),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
}
