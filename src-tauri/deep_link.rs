//! Deep links: the OS hands `dev.latchkey.app:/callback?code=…&state=…&iss=…` to the app —
//! to the running instance through single-instance (a second launch forwards its arguments),
//! or to a fresh process on a cold start (`get_current()`). Either way the URL goes to the
//! core's completion path, which checks `state` (one-shot), `iss`, the redirect URI and the
//! id_token.
//!
//! The URL carries a code and the state: it is never logged, shown or sent to the page. A link
//! that is not a Latchkey callback, or one the core rejects (unknown, replayed, stale,
//! malformed), ends as a `sign-in-finished` event with a calm message and a log line.

use latchkey_core::config::URI_SCHEME;
use latchkey_core::flow::pkce::state_digest;
use tauri::{AppHandle, Manager, Runtime};
use url::Url;

use crate::signin;
use crate::state::AppState;

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
