//! The app's shared state, managed by Tauri and extracted by commands: the core's
//! [`LoginManager`], the browser opener, the sign-ins this app started (so the window can
//! show "signing in…" and a Cancel button, and a loopback wait can be cancelled), and the
//! set-up plans the window previewed (applied by id: the page never sends file contents).
//!
//! No global `AppHandle`: whoever needs to emit events gets a handle passed in.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use latchkey_core::manager::ManagerOptions;
use latchkey_core::setup::{SetupPlan, ToolFiles};
use latchkey_core::source::Source;
use latchkey_core::store::APP_DEADLINE;
use latchkey_core::{LoginManager, Result};
use tokio::sync::oneshot;
use url::Url;

/// Opens a sign-in URL in the system browser. Injected so that tests can capture the URL.
pub type Opener = Arc<dyn Fn(&Url) -> Result<()> + Send + Sync>;

/// A sign-in started from this app and not finished yet.
#[derive(Debug)]
pub struct SignInProgress {
    /// Distinguishes a sign-in from a later one for the same account.
    pub generation: u64,
    /// The pending flow's digest (scheme sign-ins; identifies the deep link that finishes it).
    pub digest: Option<String>,
    /// Ends the loopback wait (loopback sign-ins).
    pub cancel: Option<oneshot::Sender<()>>,
}

/// See the module docs.
pub struct AppState {
    /// The one façade over accounts, keychain and providers.
    pub manager: Arc<LoginManager>,
    /// Where tokens come from: the agent when another process serves the socket, else
    /// [`Self::manager`] (also while this app is the agent:
    /// [`latchkey_core::source::Source::host`]).
    pub source: Arc<Source>,
    /// The system browser.
    pub opener: Opener,
    sign_ins: Mutex<HashMap<String, SignInProgress>>,
    notified: Mutex<HashSet<String>>,
    warned_sessions: Mutex<HashSet<(String, i64)>>,
    generation: AtomicU64,
    /// Hand-outs waiting for the owner's approval (the tray asks for attention while any do).
    approvals_waiting: std::sync::atomic::AtomicUsize,
    /// Where git, Docker and kubectl keep their files (as each tool finds them at start).
    pub tool_files: ToolFiles,
    /// The `latchkey` CLI the tools run (installed beside the app); `None`: not found.
    pub cli: Option<String>,
    setup_plans: Mutex<HashMap<u64, SetupPlan>>,
}

/// Previewed plans kept for "Apply" (older ones are dropped).
const KEPT_PLANS: usize = 8;

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl AppState {
    /// State over an explicit manager and opener (tests).
    pub fn new(manager: LoginManager, opener: Opener) -> Self {
        let manager = Arc::new(manager);
        AppState {
            source: Arc::new(Source::with_manager(manager.clone())),
            manager,
            opener,
            sign_ins: Mutex::new(HashMap::new()),
            notified: Mutex::new(HashSet::new()),
            warned_sessions: Mutex::new(HashSet::new()),
            generation: AtomicU64::new(0),
            approvals_waiting: std::sync::atomic::AtomicUsize::new(0),
            tool_files: ToolFiles::from_env(),
            cli: std::env::current_exe()
                .ok()
                .and_then(|exe| latchkey_core::setup::cli_beside(&exe))
                .and_then(|p| p.to_str().map(str::to_string)),
            setup_plans: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps a previewed plan for [`Self::take_plan`]; returns its id.
    pub fn keep_plan(&self, plan: SetupPlan) -> u64 {
        let id = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let mut plans = lock(&self.setup_plans);
        if plans.len() >= KEPT_PLANS
            && let Some(oldest) = plans.keys().min().copied()
        {
            plans.remove(&oldest);
        }
        plans.insert(id, plan);
        id
    }

    /// The previewed plan `id`, once.
    pub fn take_plan(&self, id: u64) -> Option<SetupPlan> {
        lock(&self.setup_plans).remove(&id)
    }

    /// The real state: config dir from the environment, the platform keychain with the app's
    /// long deadline (a person may be answering an unlock prompt), the system browser. The
    /// manager holds tokens in memory: the app is the agent when no other one runs
    /// ([`latchkey_core::source::Source::host`], started in `setup`).
    pub fn from_env() -> Result<Self> {
        let manager =
            LoginManager::new(ManagerOptions::from_env(APP_DEADLINE)?).with_token_memory();
        Ok(Self::new(manager, Arc::new(latchkey_core::browser::open)))
    }

    /// Records a sign-in in progress for `account`, returning its generation and the one it
    /// replaced (which the caller cancels).
    pub fn begin_sign_in(
        &self,
        account: &str,
        digest: Option<String>,
        cancel: Option<oneshot::Sender<()>>,
    ) -> (u64, Option<SignInProgress>) {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let previous = lock(&self.sign_ins).insert(
            account.to_string(),
            SignInProgress {
                generation,
                digest,
                cancel,
            },
        );
        (generation, previous)
    }

    /// Forgets the sign-in of `account` if it is still generation `generation` (`None`: any).
    pub fn end_sign_in(&self, account: &str, generation: Option<u64>) -> Option<SignInProgress> {
        let mut map = lock(&self.sign_ins);
        match map.get(account) {
            Some(p) if generation.is_none_or(|g| g == p.generation) => map.remove(account),
            _ => None,
        }
    }

    /// The account whose scheme sign-in has this pending-flow digest.
    pub fn account_for_digest(&self, digest: &str) -> Option<String> {
        lock(&self.sign_ins)
            .iter()
            .find(|(_, p)| p.digest.as_deref() == Some(digest))
            .map(|(name, _)| name.clone())
    }

    /// How many hand-outs wait for approval now.
    pub fn approvals_waiting(&self) -> usize {
        self.approvals_waiting
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records how many hand-outs wait for approval.
    pub fn set_approvals_waiting(&self, n: usize) {
        self.approvals_waiting
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Names of the accounts with a sign-in in progress.
    pub fn signing_in(&self) -> HashSet<String> {
        lock(&self.sign_ins).keys().cloned().collect()
    }

    /// Marks `account_id` as notified about needing sign-in; false if it already was.
    pub fn mark_notified(&self, account_id: &str) -> bool {
        lock(&self.notified).insert(account_id.to_string())
    }

    /// Marks the session of `account_id` ending at `ends_at` (Unix time) as warned about;
    /// false if it already was (one warning per session end).
    pub fn mark_session_warned(&self, account_id: &str, ends_at: i64) -> bool {
        lock(&self.warned_sessions).insert((account_id.to_string(), ends_at))
    }

    /// Forgets that `account_id` was notified (it is signed in again).
    pub fn clear_notified(&self, account_id: &str) {
        lock(&self.notified).remove(account_id);
    }
}
