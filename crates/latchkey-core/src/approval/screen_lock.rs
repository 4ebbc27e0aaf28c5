//! The session's screen lock, heard on D-Bus: it ends every session grant
//! ([`super::Gate::lock`]), as 1Password ends its grants when the app locks.
//!
//! Two sources, each on its own thread with a blocking zbus connection (the serving process
//! may have no D-Bus at all; then nothing is heard and that is logged once):
//! - the session bus: `org.freedesktop.ScreenSaver.ActiveChanged(true)` and the same signal of
//!   `org.gnome.ScreenSaver` (screensavers and desktops emit these when the screen locks);
//! - the system bus: logind's `org.freedesktop.login1.Session.Lock` for this process's session
//!   (`loginctl lock-session`), found with `GetSessionByPID`.

use std::sync::Arc;

/// The match rules on the session bus.
const SCREENSAVER_RULES: [&str; 2] = [
    "type='signal',interface='org.freedesktop.ScreenSaver',member='ActiveChanged'",
    "type='signal',interface='org.gnome.ScreenSaver',member='ActiveChanged'",
];

/// Starts listening; `on_lock` is called with a reason for people each time the screen locks.
pub fn watch(on_lock: Arc<dyn Fn(&str) + Send + Sync>) {
    for rule in SCREENSAVER_RULES {
        let on_lock = on_lock.clone();
        let spawned = std::thread::Builder::new()
            .name("latchkey-screensaver".into())
            .spawn(move || {
                if let Err(e) = screensaver(rule, on_lock.as_ref()) {
                    tracing::info!(error = %e, "not listening for the screen lock on the session bus");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the screen-lock listener");
        }
    }
    let spawned = std::thread::Builder::new()
        .name("latchkey-logind".into())
        .spawn(move || {
            if let Err(e) = logind(on_lock.as_ref()) {
                tracing::info!(error = %e, "not listening for logind's session lock");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the logind listener");
    }
}

fn screensaver(rule: &str, on_lock: &(dyn Fn(&str) + Send + Sync)) -> zbus::Result<()> {
    let conn = zbus::blocking::Connection::session()?;
    let signals = zbus::blocking::MessageIterator::for_match_rule(rule, &conn, Some(16))?;
    tracing::debug!(rule, "listening for the screen lock");
    for msg in signals {
        let Ok(msg) = msg else { continue };
        if msg.body().deserialize::<bool>().unwrap_or(false) {
            on_lock("the screen locked");
        }
    }
    Ok(())
}

fn logind(on_lock: &(dyn Fn(&str) + Send + Sync)) -> zbus::Result<()> {
    let conn = zbus::blocking::Connection::system()?;
    let reply = conn.call_method(
        Some("org.freedesktop.login1"),
        "/org/freedesktop/login1",
        Some("org.freedesktop.login1.Manager"),
        "GetSessionByPID",
        &(std::process::id()),
    )?;
    let session: zbus::zvariant::OwnedObjectPath = reply.body().deserialize()?;
    let rule = format!(
        "type='signal',sender='org.freedesktop.login1',interface='org.freedesktop.login1.Session',member='Lock',path='{}'",
        session.as_str()
    );
    let signals = zbus::blocking::MessageIterator::for_match_rule(rule.as_str(), &conn, Some(16))?;
    tracing::debug!(
        session = session.as_str(),
        "listening for logind's session lock"
    );
    for msg in signals {
        if msg.is_ok() {
            on_lock("the session was locked");
        }
    }
    Ok(())
}
