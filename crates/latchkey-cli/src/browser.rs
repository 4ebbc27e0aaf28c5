//! Presenting a sign-in URL: printed on stderr (so sign-in works over SSH by opening it on
//! another machine), then opened with `latchkey_core::browser` (`LATCHKEY_BROWSER`, else the
//! platform opener), which the desktop app shares.

use url::Url;

/// Prints the URL and, unless `no_browser`, opens it.
pub fn present(url: &Url, no_browser: bool) {
    eprintln!("To sign in, open this URL in a browser:\n\n  {url}\n");
    if no_browser {
        return;
    }
    if let Err(e) = latchkey_core::browser::open(url) {
        eprintln!("(could not open a browser: {e}; open the URL above yourself)");
    }
}
