//! Deep links: the OS hands `dev.latchkey.app:/callback?code=…&state=…&iss=…` to the app —
//! to the running instance through single-instance (a second launch forwards its arguments),
//! or to a fresh process on a cold start (`get_current()`). Either way the URL goes to the
//! core's completion path, which checks `state` (one-shot), `iss`, the redirect URI and the
//! id_token.
//!
//! The URL carries a code and the state: it is never logged, shown or sent to the page. A link
//! that is not a Latchkey callback is logged and dropped. One whose `state` matches no sign-in in
//! progress (forged, replayed, stale) becomes a `notice` event with a short message
//! ([`IGNORED_CALLBACK`]) and never raises the window; one the core rejects otherwise ends as a
//! `sign-in-finished` event with a calm message and a log line.

use latchkey_core::config::URI_SCHEME;
use latchkey_core::flow::pkce::state_digest;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use url::Url;

use crate::NOTICE;
use crate::background::Notice;
use crate::signin;
use crate::state::AppState;

/// What the page shows for a sign-in link that matches no sign-in in progress.
pub const IGNORED_CALLBACK: &str = "A sign-in link arrived that belongs to no sign-in in progress (forged, old or already used); it was ignored. A sign-in in progress keeps waiting.";

/// True if `url` is addressed to Latchkey's private-use scheme.
pub fn is_ours(url: &Url) -> bool {
    url.scheme().eq_ignore_ascii_case(URI_SCHEME)
}

/// The account whose sign-in (started here) this callback belongs to, if any.
fn account_of(state: &AppState, url: &Url) -> Option<String> {
    let value = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())?;
    state.account_for_digest(&state_digest(&value))
}

/// Handles URLs the OS opened the app with (running or cold start).
pub fn handle_urls<R: Runtime>(app: &AppHandle<R>, urls: Vec<Url>) {
    for url in urls {
        handle_url(app, url);
    }
}

fn handle_url<R: Runtime>(app: &AppHandle<R>, url: Url) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    if !is_ours(&url) {
        tracing::warn!(
            scheme = url.scheme(),
            "ignored a link that is not a Latchkey callback"
        );
        return;
    }
    tracing::info!("sign-in callback received by deep link");
    let account = account_of(&state, &url);
    let manager = state.manager.clone();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        // Not a sign-in started here: if it matches no sign-in in progress anywhere (forged,
        // stale, replayed), the page is told quietly and the window is not raised.
        if account.is_none()
            && !manager
                .callback_matches_sign_in(url.as_str())
                .await
                .unwrap_or(true)
        {
            tracing::warn!("ignored a sign-in link that belongs to no sign-in in progress");
            let _ = app.emit(
                NOTICE,
                Notice {
                    level: "info",
                    message: IGNORED_CALLBACK.into(),
                },
            );
            return;
        }
        let result = manager.complete_sign_in(url.as_str()).await;
        if let Some(state) = app.try_state::<AppState>() {
            let name = match &result {
                Ok(done) => Some(done.account.clone()),
                Err(_) => account.clone(),
            };
            if let Some(name) = name {
                state.end_sign_in(&name, None);
            }
        }
        signin::finish(&app, account, result);
    });
}

/// Shortest time between two raises of the window by deep links.
pub const RAISE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3);

static LAST_RAISE: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);

/// Whether a deep link may raise and focus the window: only one that belongs to a sign-in
/// started here (a forged or stale link must not steal focus), and at most once per
/// [`RAISE_INTERVAL`] (a page firing links in a loop).
pub fn may_raise(
    matches_sign_in: bool,
    last: Option<std::time::Instant>,
    now: std::time::Instant,
) -> bool {
    matches_sign_in && last.is_none_or(|t| now.saturating_duration_since(t) >= RAISE_INTERVAL)
}

/// [`may_raise`] for `url` against this app's sign-ins, recording the raise.
pub fn should_raise(state: &AppState, url: &Url) -> bool {
    let now = std::time::Instant::now();
    let mut last = match LAST_RAISE.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let ok = may_raise(account_of(state, url).is_some(), *last, now);
    if ok {
        *last = Some(now);
    } else {
        tracing::info!("a deep link did not raise the window (no matching sign-in, or too soon)");
    }
    ok
}

/// Parses command-line arguments the way the deep-link plugin does (a single argument that is
/// a URL of our scheme), for the single-instance callback's decision to just show the window.
pub fn url_in_args(args: &[String]) -> Option<Url> {
    match args {
        [_, one] => Url::parse(one).ok().filter(is_ours),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_matching_links_raise_and_not_too_often() {
        let t0 = std::time::Instant::now();
        assert!(may_raise(true, None, t0));
        assert!(!may_raise(false, None, t0), "a forged link does not raise");
        assert!(!may_raise(
            true,
            Some(t0),
            t0 + std::time::Duration::from_millis(500)
        ));
        assert!(may_raise(true, Some(t0), t0 + RAISE_INTERVAL));
    }

    #[test]
    fn recognises_only_its_own_scheme() {
        let ours = Url::parse("dev.latchkey.app:/callback?code=x&state=y").expect("url");
        assert!(is_ours(&ours));
        let other = Url::parse("https://example.com/callback").expect("url");
        assert!(!is_ours(&other));
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(url_in_args(&args(&["app", "dev.latchkey.app:/callback?state=1"])).is_some());
        assert!(url_in_args(&args(&["app"])).is_none());
        assert!(url_in_args(&args(&["app", "--hidden"])).is_none());
        assert!(url_in_args(&args(&["app", "https://x", "y"])).is_none());
    }
}
