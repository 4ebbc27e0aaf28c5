//! Logging: human lines on stderr (warnings by default; `-v`, `-vv`, `-vvv` or `LATCHKEY_LOG`
//! for more) and the same events at `info` or more in `latchkey.log` in the config dir. The core
//! never logs a secret; `Secret` values print `[redacted]` even by mistake.

use std::io::IsTerminal;
use std::sync::Mutex;

use latchkey_core::config::Paths;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

const MAX_LOG_BYTES: u64 = 5 * 1024 * 1024;

/// Sets up stderr and file logging.
pub fn init(verbose: u8) {
    // A bare level is scoped to Latchkey's crates (not hyper/reqwest/zbus).
    let from_env = std::env::var("LATCHKEY_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| latchkey_core::text::log_filter(&s));
    let stderr_level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let stderr_filter = from_env.clone().map(EnvFilter::new).unwrap_or_else(|| {
        EnvFilter::new(format!(
            "latchkey={stderr_level},latchkey_core={stderr_level}"
        ))
    });
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .with_filter(stderr_filter);

    let file_layer = Paths::from_env().ok().and_then(|paths| {
        let path = paths.log_file();
        latchkey_core::private::create_dir(paths.dir()).ok()?;
        if std::fs::metadata(&path)
            .map(|m| m.len() > MAX_LOG_BYTES)
            .unwrap_or(false)
        {
            let _ = std::fs::rename(&path, path.with_extension("log.1"));
        }
        let file = latchkey_core::private::open_log(&path).ok()?;
        let level = if verbose >= 3 {
            "trace"
        } else if verbose == 2 {
            "debug"
        } else {
            "info"
        };
        let filter = from_env
            .clone()
            .map(EnvFilter::new)
            .unwrap_or_else(|| EnvFilter::new(format!("latchkey={level},latchkey_core={level}")));
        Some(
            tracing_subscriber::fmt::layer()
                .with_writer(Mutex::new(file))
                .with_ansi(false)
                .with_filter(filter),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
}
