//! What the commands send to the web page: account ids, names, identity, status and expiry —
//! never a token. Each view is built from a core value by a pure function, so what crosses IPC
//! is decided here, in one place.

use latchkey_core::manager::{EditOutcome, LogoutReport};
use latchkey_core::{AccessToken, Account, AccountSummary, Identity, RedirectMode};
use serde::Serialize;
use time::OffsetDateTime;
use url::Url;

/// The redirect URI a person must register at the provider for this account, in `mode`
/// (the account's own `…/callback/<name>`, or the shared one for accounts from before).
pub fn redirect_uri_to_register(account: &Account, mode: RedirectMode) -> String {
    latchkey_core::accounts::redirect_uri_to_register(
        &account.name,
        account.per_account_redirect,
        mode,
        account.port,
    )
}

/// One account as the window and the tray show it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    /// Metadata and token state (the core's summary holds no token).
    #[serde(flatten)]
    pub summary: AccountSummary,
    /// The provider's name for people.
    pub provider_name: &'static str,
    /// The redirect URI to register.
    pub redirect_uri: String,
    /// A sign-in started from this app is waiting for the browser.
    pub signing_in: bool,
}

impl AccountView {
    /// The view of `summary`.
    pub fn new(summary: AccountSummary, signing_in: bool) -> Self {
        let a = &summary.account;
        AccountView {
            provider_name: a.provider.spec.preset.display_name(),
            redirect_uri: a.redirect_uri_to_register(),
            signing_in,
            summary,
        }
    }
}

/// A newly added account.
#[derive(Debug, Clone, Serialize)]
pub struct AddedView {
    /// Its name.
    pub name: String,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    /// Notes for people about this provider.
    pub notes: Vec<&'static str>,
}

impl From<Account> for AddedView {
    fn from(a: Account) -> Self {
        AddedView {
            redirect_uri: a.redirect_uri_to_register(),
            notes: a.provider.quirks().notes.to_vec(),
            name: a.name,
        }
    }
}

/// The result of an edit.
#[derive(Debug, Clone, Serialize)]
pub struct EditedView {
    /// The account's name.
    pub name: String,
    /// The change removed the tokens.
    pub signed_out: bool,
    /// Notes for people (what to do is the sign-in the page offers).
    pub notes: Vec<String>,
    /// The redirect URI to register.
    pub redirect_uri: String,
}

impl From<EditOutcome> for EditedView {
    fn from(o: EditOutcome) -> Self {
        EditedView {
            redirect_uri: o.account.redirect_uri_to_register(),
            name: o.account.name,
            signed_out: o.signed_out,
            notes: o.notes.into_iter().map(|n| n.text).collect(),
        }
    }
}

/// What a refresh (or a copy) did — the token itself stays in Rust.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfoView {
    /// New expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The provider was unreachable and the current token is still served.
    pub degraded: Option<String>,
    /// The token was refreshed by this call.
    pub refreshed: bool,
    /// Seconds after which the clipboard is cleared (copy only).
    pub clipboard_clear_after: Option<u64>,
}

impl TokenInfoView {
    /// The non-secret facts about `token`.
    pub fn new(token: &AccessToken, clipboard_clear_after: Option<u64>) -> Self {
        TokenInfoView {
            expires_at: token.expires_at,
            degraded: token.degraded.clone(),
            refreshed: token.refreshed,
            clipboard_clear_after,
        }
    }
}

/// The `device-code` event: what the device sign-in panel shows (the device code itself, a
/// secret, stays in Rust).
#[derive(Debug, Clone, Serialize)]
pub struct DeviceCodeView {
    /// Account name.
    pub account: String,
    /// The code the user types in.
    pub user_code: String,
    /// Where to type it.
    pub verification_uri: String,
    /// The same page with the code filled in, when the provider gives one.
    pub verification_uri_complete: Option<String>,
    /// When the code expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<&latchkey_core::DeviceSignIn> for DeviceCodeView {
    fn from(d: &latchkey_core::DeviceSignIn) -> Self {
        DeviceCodeView {
            account: d.account.clone(),
            user_code: d.user_code.clone(),
            verification_uri: d.verification_uri.to_string(),
            verification_uri_complete: d.verification_uri_complete.as_ref().map(Url::to_string),
            expires_at: d.expires_at,
        }
    }
}

/// What sign-out did (the core's report has no token).
pub type SignOutView = LogoutReport;

/// A started sign-in.
#[derive(Debug, Clone, Serialize)]
pub struct SignInStartedView {
    /// Account name.
    pub account: String,
    /// `loopback`, `scheme`, `device` or `client-credentials`.
    pub mode: &'static str,
    /// The redirect URI in the request.
    pub redirect_uri: String,
}

/// The `sign-in-finished` event: one per sign-in this app saw end (started here, or finished
/// here by a deep link from a sign-in the CLI started).
#[derive(Debug, Clone, Serialize)]
pub struct SignInFinished {
    /// The account, when known (a rejected deep link may belong to none).
    pub account: Option<String>,
    /// Who signed in.
    pub identity: Option<Identity>,
    /// Why it failed.
    pub error: Option<crate::ipc_error::IpcError>,
}

/// A provider preset for the "Add account" form: the core's description, fields included, so
/// a field added to a preset appears in the form by itself.
pub use latchkey_core::provider::PresetView;

/// Every preset, in the core's order.
pub fn presets() -> Vec<PresetView> {
    latchkey_core::provider::preset_views()
}

/// Facts about the running app for the window's footer and help texts.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// App version.
    pub version: &'static str,
    /// The config dir (shared with the CLI).
    pub config_dir: String,
    /// The app's redirect URI.
    pub scheme_redirect_uri: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_core::Preset;

    #[test]
    fn redirect_uris_name_what_to_register() {
        use latchkey_core::accounts::redirect_uri_to_register as uri;
        assert_eq!(
            uri("work", true, RedirectMode::Scheme, Some(1)),
            "dev.latchkey.app:/callback/work"
        );
        assert_eq!(
            uri("work", true, RedirectMode::Loopback, Some(8765)),
            "http://127.0.0.1:8765/callback/work"
        );
        assert_eq!(
            uri("old", false, RedirectMode::Scheme, None),
            "dev.latchkey.app:/callback"
        );
        assert!(uri("w", true, RedirectMode::Loopback, None).contains("<any port>/callback/w"));
    }

    #[test]
    fn presets_cover_the_core_table() {
        let all = presets();
        assert_eq!(all.len(), Preset::all().len());
        let google = all.iter().find(|p| p.id == "google").expect("google");
        assert!(google.loopback_only && google.client_secret_required);
        let manual = all.iter().find(|p| p.id == "manual").expect("manual");
        assert!(
            manual.fields.iter().any(|f| f.name == "device_url"),
            "the manual preset's device URL reaches the form"
        );
    }
}

/// An account's recent use for the window.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityView {
    /// One line per tool: `git, 12 times today, last 3m 0s ago`.
    pub usage: Vec<String>,
    /// The last records, newest first.
    pub recent: Vec<latchkey_core::activity::ActivityRecord>,
    /// The account's approval policy in words (`off`, `once per program and session …`).
    pub approval: String,
    /// Per tool: hand-outs today and the last one (the connections show "last use").
    pub tools: Vec<latchkey_core::activity::ToolUse>,
    /// This account's live session grants (of the process that serves: the agent, or this
    /// app), in words: `/usr/bin/git on pts/3, last used 1m 2s ago`.
    pub grants: Vec<String>,
    /// When session grants were last ended and why (`latchkey lock`, the screen locking).
    pub last_lock: Option<String>,
    /// The last hand-out of each of the account's tokens for other APIs.
    pub token_uses: Vec<TokenUse>,
}

/// When a token for another API was last handed out.
#[derive(Debug, Clone, Serialize)]
pub struct TokenUse {
    /// What the token is for (as the cached-token list names it).
    #[serde(flatten)]
    pub spec: latchkey_core::TokenSpec,
    /// Its last hand-out.
    #[serde(with = "time::serde::rfc3339")]
    pub last: OffsetDateTime,
}

impl ActivityView {
    /// The view of account `name` ([`latchkey_core::LoginManager::usage`] and the last 20
    /// records).
    pub fn of(
        m: &latchkey_core::LoginManager,
        name: &str,
        approvals: Option<&latchkey_core::manager::Approvals>,
    ) -> latchkey_core::Result<Self> {
        let account = m.account(name)?;
        let now = time::OffsetDateTime::now_utc();
        let tools = m.usage(name)?;
        let usage = tools
            .iter()
            .filter(|u| u.today > 0 || u.refused_today > 0)
            .map(|u| latchkey_core::activity::usage_line(u, now))
            .collect();
        let mut recent = m.activity(&latchkey_core::activity::Filter {
            account: Some(name.to_string()),
            since: None,
            limit: 500,
        })?;
        let token_uses = account
            .derived_tokens
            .iter()
            .filter_map(|spec| {
                latchkey_core::activity::last_issued(&recent, spec).map(|last| TokenUse {
                    spec: spec.clone(),
                    last,
                })
            })
            .collect();
        recent.reverse();
        recent.truncate(20);
        Ok(ActivityView {
            usage,
            recent,
            approval: latchkey_core::approval::ApprovalPolicy::of(&account).describe(),
            tools,
            grants: approvals
                .map(|a| {
                    a.sessions
                        .iter()
                        .filter(|g| g.account == name)
                        .map(|g| {
                            format!(
                                "{} on {}, last used {}",
                                g.program,
                                g.session,
                                latchkey_core::text::human_duration(
                                    (g.last_used - now).whole_seconds().min(-1)
                                )
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            last_lock: approvals.and_then(|a| a.last_lock.as_ref()).map(|l| {
                format!(
                    "Session grants ended {}: {}.",
                    latchkey_core::text::human_duration((l.at - now).whole_seconds().min(-1)),
                    l.reason
                )
            }),
            token_uses,
        })
    }
}

/// One file of a set-up preview: which file, what changes in words, and the changed lines
/// (never the whole file; secret-looking values redacted by the core).
#[derive(Debug, Clone, Serialize)]
pub struct FileChangeView {
    /// The file.
    pub path: String,
    /// One line per change.
    pub description: Vec<String>,
    /// The lines removed (`-`) and added (`+`).
    pub diff: Vec<latchkey_core::setup::DiffLine>,
}

/// A set-up preview ("dry run") for the window: applied later by `id`.
#[derive(Debug, Clone, Serialize)]
pub struct SetupPlanView {
    /// Pass to `apply_setup` (0: nothing to apply).
    pub id: u64,
    /// The account.
    pub account: String,
    /// An undo.
    pub undo: bool,
    /// Nothing to change.
    pub empty: bool,
    /// The files.
    pub files: Vec<FileChangeView>,
    /// Every change in the CLI's words (`+ rule host → account`, …).
    pub changes: Vec<String>,
    /// What the change costs, in words.
    pub warnings: Vec<String>,
    /// The kubeconfig context to use afterwards.
    pub context: Option<String>,
}

impl SetupPlanView {
    /// The view of `plan`; `keep` stores a plan with changes and returns its id.
    pub fn new(
        plan: &latchkey_core::setup::SetupPlan,
        keep: impl FnOnce(latchkey_core::setup::SetupPlan) -> u64,
    ) -> Self {
        let files = plan
            .files
            .iter()
            .map(|f| FileChangeView {
                path: f.path.display().to_string(),
                description: f.description.clone(),
                diff: f.diff(),
            })
            .collect();
        let warnings = plan
            .warnings
            .iter()
            .map(|w| match w {
                latchkey_core::setup::SetupWarning::CommentsDropped { path } => format!(
                    "{} has comments, which will not be kept: the YAML library drops them when it rewrites the file",
                    path.display()
                ),
            })
            .collect();
        let empty = plan.is_empty();
        SetupPlanView {
            id: if empty { 0 } else { keep(plan.clone()) },
            account: plan.account.clone(),
            undo: plan.undo,
            empty,
            files,
            changes: plan.changes.clone(),
            warnings,
            context: plan.context.clone(),
        }
    }
}

/// One record of the full activity view: the record and its requester as one line.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityRow {
    /// The record (flattened).
    #[serde(flatten)]
    pub record: latchkey_core::activity::ActivityRecord,
    /// Who asked, as one line.
    pub requester_line: String,
}

impl ActivityRow {
    /// Every account's last `limit` records, newest first.
    pub fn latest(
        m: &latchkey_core::LoginManager,
        limit: usize,
    ) -> latchkey_core::Result<Vec<Self>> {
        let mut records = m.activity(&latchkey_core::activity::Filter {
            account: None,
            since: None,
            limit: limit.clamp(1, 1000),
        })?;
        records.reverse();
        Ok(records
            .into_iter()
            .map(|record| ActivityRow {
                requester_line: record.requester.line(),
                record,
            })
            .collect())
    }
}
