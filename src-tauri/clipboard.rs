//! "Copy access token", done entirely in Rust: the token goes from the core to the system
//! clipboard (marked as a secret, so clipboard managers that honour the hint keep it out of
//! their history) and is cleared 30 s later if the clipboard still holds it — as password
//! managers do. The page only learns the expiry.

use std::time::Duration;

use latchkey_core::{AccessToken, Error, Result, Secret, TokenOptions};
use tauri::{AppHandle, Runtime};
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::state::AppState;

/// How long a copied token stays on the clipboard.
pub const CLEAR_AFTER: Duration = Duration::from_secs(30);

/// Copies a valid access token of `name` (refreshed if needed) to the clipboard.
pub async fn copy_token<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    name: &str,
) -> Result<AccessToken> {
    // From the agent when another process serves it, else from the app's own manager.
    let token = state
        .source
        .token(name, &Default::default(), TokenOptions::default())
        .await?;
    app.clipboard()
        .write_secret(token.token.expose())
        .map_err(|e| Error::Other(format!("could not write to the clipboard: {e}")))?;
    let copied = Secret::new(token.token.expose());
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(CLEAR_AFTER).await;
        // Only clear what we put there: the user may have copied something else since.
        let still_ours = app
            .clipboard()
            .read_text()
            .map(|text| {
                let text = Secret::new(text);
                latchkey_core::secret::ct_eq(text.expose(), copied.expose())
            })
            .unwrap_or(false);
        if still_ours && let Err(e) = app.clipboard().clear() {
            tracing::warn!("could not clear the clipboard: {e}");
        }
    });
    Ok(token)
}
