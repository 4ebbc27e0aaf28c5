//! Build script: validates `tauri.conf.json` (repository root) and the capabilities in
//! `src-tauri/capabilities/`, and generates the permissions of the app's own commands.

/// Commands the app exposes to its web view; each gets `allow-<name>`/`deny-<name>` permissions.
/// Keep in sync with `commands::NAMES` (a unit test checks both lists and the capability).
const COMMANDS: &[&str] = &[
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

fn main() {
    // The package root is the repository root, where tauri.conf.json lives, so Tauri finds the
    // configuration by itself; only the capabilities are away from their default place.
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(err) = tauri_build::try_build(attributes) {
        // A build script reports failure by exiting non-zero; `{err:#}` keeps the cause chain.
        eprintln!("tauri-build failed: {err:#}");
        std::process::exit(1);
    }
}
