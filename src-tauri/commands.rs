//! The commands the window's page may call. Each one extracts state, makes one core call (or
//! one call into the app's own sign-in/clipboard helpers, which wrap one), and maps the error
//! to `{kind, message}`. No network, keychain or file logic here, and no response carries a
//! token: see [`crate::views`].

use latchkey_core::manager::{AccountEdit, NewAccount};
use latchkey_core::{GrantFlow, ProviderSpec, RedirectMode, Secret, SignInOptions, TokenOptions};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_autostart::ManagerExt;

use crate::ipc_error::IpcError;
use crate::state::AppState;
use crate::views::{
    AccountView, AddedView, AppInfo, EditedView, PresetView, SetupPlanView, SignInStartedView,
    SignOutView, TokenInfoView,
};

/// Every command, for `build.rs`'s list and the capability file (kept in sync by a test).
pub const NAMES: &[&str] = &[
    "app_info",
    "list_presets",
    "list_accounts",
    "list_accounts_metadata",
    "add_account",
    "edit_account",
    "remove_account",
    "sign_in",
    "cancel_sign_in",
    "refresh_account",
    "sign_out",
    "copy_access_token",
    "autostart_enabled",
    "set_autostart",
    "bench_painted",
    "keychain_state",
    "add_permissions",
    "store_info",
    "unlock_vault",
    "pending_approvals",
    "decide_approval",
    "account_activity",
    "activity_log",
    "list_connections",
    "plan_setup",
    "apply_setup",
];

/// The "Add account" form.
#[derive(Debug, Deserialize)]
pub struct AddAccountInput {
    /// Unique name.
    pub name: String,
    /// Preset and its fields.
    pub provider: ProviderSpec,
    /// OAuth client id.
    pub client_id: String,
    /// Client secret, if the client has one (goes to the keychain; `[redacted]` in Debug).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Scopes (empty: the preset's defaults).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How the account gets tokens (browser, device code, client credentials).
    #[serde(default)]
    pub flow: GrantFlow,
    /// Redirect mode.
    #[serde(default)]
    pub redirect: RedirectMode,
    /// Fixed loopback port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Refresh in the background.
    #[serde(default)]
    pub keep_signed_in: bool,
    /// Free-text label.
    #[serde(default)]
    pub label: Option<String>,
}

/// The "Edit account" form: absent fields stay as they are.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditAccountInput {
    /// New label; an empty string removes it.
    pub label: Option<String>,
    /// New client id.
    pub client_id: Option<String>,
    /// New client secret (`[redacted]` in Debug).
    pub client_secret: Option<Secret>,
    /// Delete the stored client secret.
    pub remove_client_secret: bool,
    /// New scopes.
    pub scopes: Option<Vec<String>>,
    /// New redirect mode.
    pub redirect: Option<RedirectMode>,
    /// New fixed port.
    pub port: Option<u16>,
    /// Use an ephemeral port again.
    pub ephemeral_port: bool,
    /// Keep signed in.
    pub keep_signed_in: Option<bool>,
    /// Switch an account from before the mix-up defence to its own redirect URI
    /// (`…/callback/<name>`), after the person registered that URI at the provider.
    pub per_account_redirect: Option<bool>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn non_empty_secret(s: Option<Secret>) -> Option<Secret> {
    s.map(|s| Secret::new(s.expose().trim()))
        .filter(|s| !s.is_empty())
}

impl From<AddAccountInput> for NewAccount {
    fn from(i: AddAccountInput) -> Self {
        NewAccount {
            name: i.name.trim().to_string(),
            provider: i.provider,
            client_id: i.client_id,
            client_secret: non_empty_secret(i.client_secret),
            scopes: i.scopes,
            flow: i.flow,
            redirect: i.redirect,
            port: i.port,
            keep_signed_in: i.keep_signed_in,
            label: non_empty(i.label),
            ..Default::default()
        }
    }
}

impl From<EditAccountInput> for AccountEdit {
    fn from(i: EditAccountInput) -> Self {
        AccountEdit {
            label: i.label.map(|l| non_empty(Some(l))),
            client_id: non_empty(i.client_id),
            client_secret: if i.remove_client_secret {
                Some(None)
            } else {
                non_empty_secret(i.client_secret).map(Some)
            },
            scopes: i.scopes,
            redirect: i.redirect,
            port: if i.ephemeral_port {
                Some(None)
            } else {
                i.port.map(Some)
            },
            keep_signed_in: i.keep_signed_in,
            per_account_redirect: i.per_account_redirect,
            // Flow, client authentication and DPoP are set when the account is added; the
            // edit form does not change them (the CLI's `latchkey edit` does).
            ..Default::default()
        }
    }
}

/// Version and where things live.
#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        config_dir: state.manager.paths().dir().display().to_string(),
        scheme_redirect_uri: latchkey_core::config::SCHEME_REDIRECT_URI,
    }
}

/// The provider presets for the "Add account" form.
#[tauri::command]
pub fn list_presets() -> Vec<PresetView> {
    crate::views::presets()
}

/// What the app's last keychain call found (`available`, `locked`, `unavailable`, `timed_out`,
/// `failed`, or `unknown` before the first call). The app serves tokens it holds while the
/// keychain is locked, so the window asks for this as well as for the account statuses.
#[tauri::command]
pub fn keychain_state(state: State<'_, AppState>) -> latchkey_core::manager::KeychainState {
    state.manager.keychain_state()
}

/// Which store holds the secrets, for the footer and the unlock dialog: never a secret.
#[derive(Debug, Serialize)]
pub struct StoreInfo {
    /// `secret-service` or `vault`.
    pub kind: latchkey_core::store::choice::StoreKind,
    /// Words for people ("vault", "Secret Service").
    pub label: &'static str,
    /// Why this store.
    pub reason: String,
    /// The vault file.
    pub vault: String,
    /// The store is the vault and this app does not hold its key (the dialog asks for it).
    pub locked: bool,
}

/// Which store holds the secrets and why (`latchkey store`).
#[tauri::command]
pub async fn store_info(state: State<'_, AppState>) -> Result<StoreInfo, IpcError> {
    let keychain = state.manager.keychain();
    let choice = match keychain.choice().await {
        Some(c) => c?,
        None => {
            return Err(latchkey_core::Error::Other("no store selection".into()).into());
        }
    };
    let vault = keychain.selector().map(|s| s.vault().clone());
    let locked = choice.kind == latchkey_core::store::choice::StoreKind::Vault
        && choice.vault_exists
        && vault.is_some_and(|v| !v.is_unlocked());
    Ok(StoreInfo {
        kind: choice.kind,
        label: choice.kind.label(),
        reason: choice.reason,
        vault: choice.vault.display().to_string(),
        locked,
    })
}

/// Unlocks the vault with the passphrase typed in the app's dialog; the key stays in this
/// process (and is cached for the session). A wrong passphrase is an error of kind `keychain`
/// and changes nothing.
#[tauri::command]
pub async fn unlock_vault(state: State<'_, AppState>, passphrase: String) -> Result<(), IpcError> {
    state
        .manager
        .unlock_vault_with(latchkey_core::Secret::new(passphrase))
        .await?;
    Ok(())
}

/// Every account with its state.
#[tauri::command]
pub async fn list_accounts(state: State<'_, AppState>) -> Result<Vec<AccountView>, IpcError> {
    let summaries = state.manager.summaries().await?;
    let busy = state.signing_in();
    Ok(summaries
        .into_iter()
        .map(|s| {
            let signing_in = busy.contains(&s.account.name);
            AccountView::new(s, signing_in)
        })
        .collect())
}

/// Every account from the metadata file only (status `checking`): the window paints this
/// first and fills in the token status with `list_accounts`, which reads the keychain.
/// Optional `offset` (default 0) and `limit` (default: all) select a range in the file's
/// order: the window asks for its first screenful, paints it, then asks for the rest.
#[tauri::command]
pub async fn list_accounts_metadata(
    state: State<'_, AppState>,
    offset: Option<usize>,
    limit: Option<usize>,
) -> Result<Vec<AccountView>, IpcError> {
    let summaries = state
        .manager
        .summaries_from_metadata_range(offset.unwrap_or(0), limit)?;
    let busy = state.signing_in();
    Ok(summaries
        .into_iter()
        .map(|s| {
            let signing_in = busy.contains(&s.account.name);
            AccountView::new(s, signing_in)
        })
        .collect())
}

/// Adds an account (runs discovery; the client secret goes to the keychain).
#[tauri::command]
pub async fn add_account(
    state: State<'_, AppState>,
    input: AddAccountInput,
) -> Result<AddedView, IpcError> {
    Ok(state.manager.add(input.into()).await?.into())
}

/// Changes an account.
#[tauri::command]
pub async fn edit_account(
    state: State<'_, AppState>,
    name: String,
    changes: EditAccountInput,
) -> Result<EditedView, IpcError> {
    Ok(state.manager.edit(&name, changes.into()).await?.into())
}

/// Signs out (revoking at the provider) and forgets the account.
#[tauri::command]
pub async fn remove_account(
    state: State<'_, AppState>,
    name: String,
) -> Result<SignOutView, IpcError> {
    Ok(state.manager.remove(&name).await?)
}

/// Starts a sign-in in the system browser; `sign-in-finished` reports the outcome.
#[tauri::command]
pub async fn sign_in<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
    replace_identity: Option<bool>,
) -> Result<SignInStartedView, IpcError> {
    let replace = replace_identity.unwrap_or(false);
    Ok(crate::signin::begin(&app, &state, &name, replace).await?)
}

/// "Add permissions": a sign-in in the system browser asking for the account's scopes and
/// these (incremental authorization; the user must stay the same, the old tokens stay until
/// the new ones are stored); `sign-in-finished` reports the outcome.
#[tauri::command]
pub async fn add_permissions<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
    scopes: Vec<String>,
    resources: Option<Vec<String>>,
) -> Result<SignInStartedView, IpcError> {
    let opts = SignInOptions {
        add_scopes: scopes,
        add_resources: resources.unwrap_or_default(),
        ..Default::default()
    };
    Ok(crate::signin::begin_with(&app, &state, &name, opts).await?)
}

/// Cancels a sign-in started from the app. True if one was in progress.
#[tauri::command]
pub async fn cancel_sign_in<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
) -> Result<bool, IpcError> {
    Ok(crate::signin::cancel(&app, &state, &name).await)
}

/// Refreshes now (single-flight with the CLI); returns the new expiry, never the token.
#[tauri::command]
pub async fn refresh_account(
    state: State<'_, AppState>,
    name: String,
) -> Result<TokenInfoView, IpcError> {
    let opts = TokenOptions {
        min_ttl: None,
        force: true,
    };
    let token = state.source.token(&name, &Default::default(), opts).await?;
    Ok(TokenInfoView::new(&token, None))
}

/// Signs out: revokes at the provider when it can, deletes the tokens.
#[tauri::command]
pub async fn sign_out(state: State<'_, AppState>, name: String) -> Result<SignOutView, IpcError> {
    Ok(state.manager.logout(&name).await?)
}

/// Copies a valid access token to the clipboard (in Rust), cleared after 30 s.
#[tauri::command]
pub async fn copy_access_token<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
) -> Result<TokenInfoView, IpcError> {
    let token = crate::clipboard::copy_token(&app, &state, &name).await?;
    Ok(TokenInfoView::new(
        &token,
        Some(crate::clipboard::CLEAR_AFTER.as_secs()),
    ))
}

/// What points at Latchkey for an account: each rule naming it with the tool set up for it
/// (git host/path, kubectl cluster, Docker registry) and what undoing it takes. (Async: it
/// reads the tools' files and runs `git config`, which must not hold the main thread.)
#[tauri::command]
pub async fn list_connections(
    state: State<'_, AppState>,
    name: String,
) -> Result<Vec<latchkey_core::setup::Connection>, IpcError> {
    Ok(state.manager.connections(&name, &state.tool_files)?)
}

/// "Connect git/kubectl/Docker…" and "Undo": which tool, where, for which account. The page
/// cannot name a kubeconfig file (the default one is used) nor a program.
#[derive(Debug, Deserialize)]
pub struct SetupInput {
    /// The account.
    pub account: String,
    /// The tool and where (`{"tool": "git", "host": …, "path": …}`, …).
    #[serde(flatten)]
    pub target: latchkey_core::setup::SetupTarget,
    /// Take it back out.
    #[serde(default)]
    pub undo: bool,
}

impl SetupInput {
    /// The core's request: `program` (the `latchkey` beside the app) as the program the tools
    /// run, the tools' files as found at start; a kubeconfig named by the page is dropped.
    fn request(
        self,
        program: Option<String>,
        files: latchkey_core::setup::ToolFiles,
    ) -> Result<latchkey_core::setup::SetupRequest, IpcError> {
        let program = program.ok_or_else(|| {
            IpcError::new(
                latchkey_core::ErrorKind::Config,
                "the `latchkey` command is not installed beside the app, and the tools run it: install the latchkey package",
            )
        })?;
        let target = match self.target {
            latchkey_core::setup::SetupTarget::Kubectl { cluster, .. } => {
                latchkey_core::setup::SetupTarget::Kubectl {
                    cluster,
                    kubeconfig: None,
                }
            }
            other => other,
        };
        Ok(latchkey_core::setup::SetupRequest {
            account: self.account,
            target,
            spec: Default::default(),
            undo: self.undo,
            program,
            files,
        })
    }
}

/// The dry run: what connecting (or undoing) would change, file by file (changed lines only,
/// secret-looking values redacted) and the rule; kept in the app under the returned id for
/// [`apply_setup`].
#[tauri::command]
pub async fn plan_setup(
    state: State<'_, AppState>,
    input: SetupInput,
) -> Result<SetupPlanView, IpcError> {
    let request = input.request(state.cli.clone(), state.tool_files.clone())?;
    let plan = state.manager.plan_setup(&request).await?;
    Ok(SetupPlanView::new(&plan, |p| state.keep_plan(p)))
}

/// Applies the plan previewed under `id` (each file must still read as it did in the preview);
/// returns the changes made.
#[tauri::command]
pub async fn apply_setup(state: State<'_, AppState>, id: u64) -> Result<Vec<String>, IpcError> {
    let plan = state.take_plan(id).ok_or_else(|| {
        IpcError::new(
            latchkey_core::ErrorKind::InvalidInput,
            "this preview is no longer current: open it again",
        )
    })?;
    Ok(state.manager.apply_setup(&plan).await?)
}

fn autostart_error(e: impl std::fmt::Display) -> IpcError {
    IpcError::new(
        latchkey_core::ErrorKind::Other,
        format!("start at login: {e}"),
    )
}

/// Whether the app starts at login.
#[tauri::command]
pub fn autostart_enabled<R: Runtime>(app: AppHandle<R>) -> Result<bool, IpcError> {
    app.autolaunch().is_enabled().map_err(autostart_error)
}

/// Turns start-at-login on or off; returns the new setting.
#[tauri::command]
pub fn set_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> Result<bool, IpcError> {
    let launcher = app.autolaunch();
    if enabled {
        launcher.enable().map_err(autostart_error)?;
    } else {
        launcher.disable().map_err(autostart_error)?;
    }
    launcher.is_enabled().map_err(autostart_error)
}

/// Benchmark mark (`bench/desktop.sh`, `bench/scale.sh`, BENCHMARKS.md "Desktop app"): the
/// page calls this in the second animation frame after the account list's first render
/// (`what` = `painted`, from the metadata) and after its first full reload (`statuses`), i.e.
/// once a frame with the list has been drawn; `list_ms` is the page's own time from asking for
/// the list to that frame (of which `ipc_ms` waiting for the list and `render_ms` building the
/// rows). With `LATCHKEY_BENCH_MARKS` set it prints
/// `latchkey-bench: <what> <unix time in ns> list_ms=<ms> …` on stdout; otherwise it does
/// nothing. The blank baseline app (`bench/blank-tauri`) has the same command (no arguments).
#[tauri::command]
pub fn bench_painted(
    what: Option<String>,
    list_ms: Option<f64>,
    ipc_ms: Option<f64>,
    render_ms: Option<f64>,
) {
    if std::env::var_os("LATCHKEY_BENCH_MARKS").is_some() {
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let what = match what.as_deref() {
            Some("statuses") => "statuses",
            _ => "painted",
        };
        let mut line = format!("latchkey-bench: {what} {ns}");
        for (name, v) in [
            ("list_ms", list_ms),
            ("ipc_ms", ipc_ms),
            ("render_ms", render_ms),
        ] {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                line.push_str(&format!(" {name}={v:.1}"));
            }
        }
        println!("{line}");
    }
}

#[cfg(test)]
mod input_tests {
    use super::*;

    #[test]
    fn the_page_names_the_tool_and_where_but_never_a_file_or_program() {
        use latchkey_core::setup::{SetupTarget, ToolFiles};
        let input: SetupInput = serde_json::from_value(serde_json::json!({
            "account": "work", "tool": "kubectl", "cluster": "prod",
            "kubeconfig": "/etc/passwd", "program": "/bin/evil", "undo": true
        }))
        .unwrap();
        let files = ToolFiles {
            kubeconfig: Some("/home/u/.kube/config".into()),
            ..Default::default()
        };
        let r = input
            .request(Some("/usr/bin/latchkey".into()), files.clone())
            .unwrap();
        assert_eq!(
            r.target,
            SetupTarget::Kubectl {
                cluster: "prod".into(),
                kubeconfig: None
            }
        );
        assert_eq!(r.program, "/usr/bin/latchkey");
        assert_eq!(r.files, files);
        assert!(r.undo);
        let git: SetupInput = serde_json::from_value(serde_json::json!({
            "account": "work", "tool": "git", "host": "git.example.com", "path": null
        }))
        .unwrap();
        assert!(
            matches!(&git.target, SetupTarget::Git { host: Some(h), path: None, .. } if h == "git.example.com")
        );
        let e = git.request(None, ToolFiles::default()).unwrap_err();
        assert!(
            e.to_string().contains("not installed beside the app"),
            "{e}"
        );
    }

    #[test]
    fn client_secrets_from_the_form_are_secrets() {
        let add: AddAccountInput = serde_json::from_value(serde_json::json!({
            "name": "w", "provider": {"preset": "oidc", "issuer": "https://idp.example"},
            "client_id": "c", "client_secret": "  s3cr3t-value  "
        }))
        .unwrap();
        assert!(!format!("{add:?}").contains("s3cr3t"), "{add:?}");
        let new = NewAccount::from(add);
        assert_eq!(new.client_secret.unwrap().expose(), "s3cr3t-value");
        let edit: EditAccountInput =
            serde_json::from_value(serde_json::json!({"client_secret": "other-s3cr3t"})).unwrap();
        assert!(!format!("{edit:?}").contains("s3cr3t"), "{edit:?}");
        let e = AccountEdit::from(edit);
        assert!(matches!(e.client_secret, Some(Some(s)) if s.expose() == "other-s3cr3t"));
    }
}

/// The hand-outs waiting for the owner's approval (the agent's, or this app's when it is the
/// agent): the approval dialog shows the oldest.
#[tauri::command]
pub async fn pending_approvals(
    state: State<'_, AppState>,
) -> Result<Vec<latchkey_core::approval::PendingApproval>, IpcError> {
    Ok(state.source.pending().await?)
}

/// Answers a waiting hand-out: `once`, `session`, `always` or `deny`.
#[tauri::command]
pub async fn decide_approval(
    state: State<'_, AppState>,
    id: String,
    decision: String,
) -> Result<latchkey_core::approval::PendingApproval, IpcError> {
    let decision = latchkey_core::approval::Decision::parse(&decision)?;
    Ok(state.source.decide(&id, decision).await?)
}

/// An account's recent use: per tool today ("git, 12 times today, last 3m 0s ago") and its
/// last records (never a token).
#[tauri::command]
pub async fn account_activity(
    state: State<'_, AppState>,
    name: String,
) -> Result<crate::views::ActivityView, IpcError> {
    // Grants live in the process that serves (the agent, or this app): asked through the source.
    let approvals = state.source.approvals().await.ok();
    Ok(crate::views::ActivityView::of(
        &state.manager,
        &name,
        approvals.as_ref(),
    )?)
}

/// Every account's last `limit` hand-outs and refusals, newest first (the full activity view).
#[tauri::command]
pub async fn activity_log(
    state: State<'_, AppState>,
    limit: usize,
) -> Result<Vec<crate::views::ActivityRow>, IpcError> {
    Ok(crate::views::ActivityRow::latest(&state.manager, limit)?)
}
