//! Asking the owner before a token leaves: the approval policy, session grants, remembered
//! decisions and the prompts that wait for an answer.
//!
//! Every hand-out ([`crate::LoginManager::credential_for`], `hand_out_token`,
//! `hand_out_request`) passes [`crate::LoginManager::admit`] once it knows the account, and
//! nowhere else decides:
//!
//! 1. An account's [`ApprovalMode`] is `off` (the default): admitted.
//! 2. The desktop app's own buttons ([`Origin::Window`]): admitted — the click was the consent.
//! 3. The direct path ([`Origin::Direct`]: no agent, or `LATCHKEY_NO_AGENT`) cannot ask anyone
//!    and refuses, saying that the agent or the window asks.
//! 4. A remembered decision ("always for /usr/bin/git", [`remembered`]) for the requester's
//!    executable, when that file is still not one the user can change: admitted.
//! 5. `session`: a grant for this requester (executable + terminal or session,
//!    [`requester::Requester::session_key`]) and account that is neither idle longer than
//!    the policy's idle time nor older than its maximum: admitted, and its idle clock restarts.
//! 6. Otherwise a prompt: a [`PendingApproval`] the window, a notification, `latchkey pending`
//!    and `latchkey approve|deny ID` can see and answer ([`Gate::decide`]); the caller is told
//!    what it waits for ([`crate::handout::Asker::on_wait`]); no answer within
//!    [`Gate::timeout`] is a denial.
//!
//! [`Gate::lock`] (`latchkey lock`, the screen locking) ends every session grant. Grants and
//! prompts live in the serving process (the agent, or the app when it is the agent); remembered
//! decisions live in `approvals.toml` in the config dir.

pub mod remembered;
pub mod requester;
pub mod screen_lock;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use requester::Requester;

/// How long a prompt waits for an answer before it is a denial (the default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Environment variable: seconds a prompt waits (1–600), for the agent that serves.
pub const TIMEOUT_ENV: &str = "LATCHKEY_APPROVAL_TIMEOUT";
/// A session grant ends after this long unused (the default).
pub const DEFAULT_IDLE: Duration = Duration::from_secs(10 * 60);
/// A session grant ends this long after it was given, used or not (the default).
pub const DEFAULT_MAX: Duration = Duration::from_secs(12 * 60 * 60);
/// At most this many prompts wait at once (more are refused at once: a flood of requests must
/// not bury the real one).
pub const MAX_PENDING: usize = 32;

pub use crate::accounts::ApprovalMode;

/// An account's approval policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    /// When to ask.
    pub mode: ApprovalMode,
    /// A session grant ends after this many seconds unused.
    pub idle_secs: u64,
    /// A session grant ends this many seconds after it was given.
    pub max_secs: u64,
}

impl ApprovalPolicy {
    /// The policy of `account`, with the defaults filled in.
    pub fn of(account: &crate::accounts::Account) -> Self {
        ApprovalPolicy {
            mode: account.approval,
            idle_secs: account.approval_idle_secs.unwrap_or(DEFAULT_IDLE.as_secs()),
            max_secs: account.approval_max_secs.unwrap_or(DEFAULT_MAX.as_secs()),
        }
    }

    /// Words for people: `every use`, `once per session (10 min idle, 12 h at most)`.
    pub fn describe(&self) -> String {
        match self.mode {
            ApprovalMode::Off => "off".into(),
            ApprovalMode::EveryUse => "at every use".into(),
            ApprovalMode::Session => format!(
                "once per program and session ({} idle, {} at most)",
                crate::text::human_duration(i64::try_from(self.idle_secs).unwrap_or(i64::MAX)),
                crate::text::human_duration(i64::try_from(self.max_secs).unwrap_or(i64::MAX))
            ),
        }
    }
}

/// Parses `--approval-ttl`: `IDLE` or `IDLE,MAX`, each a number with `s`, `m`, `h` or `d`
/// (`10m`, `10m,12h`); `(idle, max)` in seconds.
pub fn parse_ttl(s: &str) -> crate::Result<(u64, Option<u64>)> {
    let bad = || {
        crate::Error::InvalidInput(format!(
            "`{}` is not an approval TTL: IDLE or IDLE,MAX such as 10m or 10m,12h",
            crate::text::clean(s, 40)
        ))
    };
    let one = |part: &str| -> crate::Result<u64> {
        let part = part.trim();
        let (num, unit) = part.split_at(
            part.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(part.len()),
        );
        let n: u64 = num.parse().map_err(|_| bad())?;
        let mult = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let secs = n.checked_mul(mult).ok_or_else(bad)?;
        if secs == 0 || secs > 30 * 86_400 {
            return Err(crate::Error::InvalidInput(
                "an approval TTL is between 1 second and 30 days".into(),
            ));
        }
        Ok(secs)
    };
    match s.split_once(',') {
        Some((idle, max)) => {
            let (idle, max) = (one(idle)?, one(max)?);
            if max < idle {
                return Err(crate::Error::InvalidInput(
                    "the approval TTL's maximum is shorter than its idle time".into(),
                ));
            }
            Ok((idle, Some(max)))
        }
        None => Ok((one(s)?, None)),
    }
}

/// The answer to a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// This hand-out only.
    Once,
    /// This requester and account until the grant is idle or old (as `once` for an account
    /// that asks at every use).
    Session,
    /// This program and account from now on (remembered in `approvals.toml`).
    Always,
    /// No.
    Deny,
}

impl Decision {
    /// Parses `once`, `session`, `always`, `deny`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "once" => Ok(Decision::Once),
            "session" => Ok(Decision::Session),
            "always" => Ok(Decision::Always),
            "deny" => Ok(Decision::Deny),
            other => Err(crate::Error::InvalidInput(format!(
                "unknown decision `{}` (once, session, always or deny)",
                crate::text::clean(other, 40)
            ))),
        }
    }
}

/// What is asked for, for the prompt and the activity record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    /// The account.
    pub account: String,
    /// The token: `its own token`, `a token for https://api.example (scope read)`, `its
    /// id_token`, `a GET request to https://…`.
    pub what: String,
    /// The tool or command (`git`, `kubectl`, `token`, `request`, …).
    pub tool: String,
    /// Where the token goes, as the tool named it (`https://github.com/org/repo`, a cluster,
    /// a registry, a command), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The token for another API asked for (none: the account's own token), so that its
    /// hand-outs are found by what they are, not by their words ([`crate::activity::last_issued`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<crate::target::TokenSpec>,
}

impl Ask {
    /// A hand-out of `account`'s token for `spec` (its own token when `spec` is empty) to
    /// `tool`, going to `target`.
    pub fn token(
        account: &str,
        spec: &crate::target::TokenSpec,
        tool: &str,
        target: Option<String>,
    ) -> Ask {
        let (what, spec) = if spec.is_empty() {
            ("its own token".to_string(), None)
        } else {
            (
                format!("a token for {}", spec.describe()),
                Some(spec.clone()),
            )
        };
        Ask {
            account: account.to_string(),
            what,
            tool: tool.to_string(),
            target,
            spec,
        }
    }
}

/// A prompt waiting for an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// Short id for `latchkey approve ID`.
    pub id: String,
    /// What is asked.
    pub ask: Ask,
    /// Who asks.
    pub requester: Requester,
    /// One line for people naming who asks.
    pub requester_line: String,
    /// The account's mode (`every_use` offers no session grant).
    pub mode: ApprovalMode,
    /// Whether "always for this program" can be remembered (not when the executable is one the
    /// user can change).
    pub can_remember: bool,
    /// Why not, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cannot_remember: Option<String>,
    /// When it was asked.
    #[serde(with = "time::serde::rfc3339")]
    pub asked_at: OffsetDateTime,
    /// When it is denied unanswered.
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
}

impl PendingApproval {
    /// The prompt with every text made safe to show (it came from another process).
    pub fn cleaned(mut self) -> Self {
        let c = |s: &str| crate::text::clean(s, crate::text::MAX_DESCRIPTION);
        self.id = crate::text::clean(&self.id, 16);
        self.ask.account = c(&self.ask.account);
        self.ask.what = c(&self.ask.what);
        self.ask.tool = c(&self.ask.tool);
        self.ask.target = self.ask.target.as_deref().map(c);
        self.requester_line = c(&self.requester_line);
        self.requester.name = c(&self.requester.name);
        self.requester.executable = self.requester.executable.as_deref().map(c);
        self.cannot_remember = self.cannot_remember.as_deref().map(c);
        self
    }
}

/// A live session grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionGrant {
    /// The account.
    pub account: String,
    /// The requester's executable (or name).
    pub program: String,
    /// The session it covers (`pts/3`, `session 12`).
    pub session: String,
    /// When it was given.
    #[serde(with = "time::serde::rfc3339")]
    pub granted_at: OffsetDateTime,
    /// When it was last used.
    #[serde(with = "time::serde::rfc3339")]
    pub last_used: OffsetDateTime,
}

/// A client of the agent: its pid (`SO_PEERCRED`), named from `/proc` on first need — when an
/// account asks for approval, or when the activity record is written after the answer went
/// out — so a hand-out that needs no approval does not wait for it.
#[derive(Debug)]
pub struct Peer {
    pid: u32,
    requester: std::sync::OnceLock<Requester>,
}

impl Peer {
    /// The client with this pid.
    pub fn new(pid: u32) -> Self {
        Peer {
            pid,
            requester: std::sync::OnceLock::new(),
        }
    }

    /// Who it is ([`Requester::inspect`], once).
    pub fn requester(&self) -> &Requester {
        self.requester
            .get_or_init(|| Requester::inspect(&requester::LiveProc, self.pid))
    }
}

/// Where a hand-out request comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A client of the agent.
    Peer(std::sync::Arc<Peer>),
    /// This very process, without an agent (the CLI's direct path).
    Direct(Requester),
    /// The desktop app's own buttons.
    Window,
}

impl Origin {
    /// The requester (the app itself for [`Origin::Window`]).
    pub fn requester(&self) -> Requester {
        match self {
            Origin::Peer(p) => p.requester().clone(),
            Origin::Direct(r) => r.clone(),
            Origin::Window => Requester {
                window: true,
                ..Requester::unknown(std::process::id())
            },
        }
    }

    /// `agent` or `direct` (the window's own hand-outs are `window`).
    pub fn via(&self) -> &'static str {
        match self {
            Origin::Peer(_) => "agent",
            Origin::Direct(_) => "direct",
            Origin::Window => "window",
        }
    }
}

/// Told when a hand-out waits for the owner's answer (the agent sends it to the caller).
pub type OnWait<'a> = &'a (dyn Fn(&PendingApproval) + Send + Sync);

/// Why a hand-out was admitted (recorded in the activity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    /// The account asks for no approval.
    NotRequired,
    /// The desktop app's own button.
    Window,
    /// A remembered decision.
    Remembered,
    /// A live session grant.
    SessionGrant,
    /// The owner allowed it just now.
    Allowed,
}

struct Waiting {
    view: PendingApproval,
    answer: tokio::sync::oneshot::Sender<Decision>,
}

#[derive(Debug, Clone)]
struct Grant {
    program: String,
    session: String,
    granted_at: OffsetDateTime,
    last_used: OffsetDateTime,
}

/// Why session grants ended last ([`Gate::lock`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockEvent {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why (`latchkey lock`, `the screen locked`).
    pub reason: String,
    /// How many grants ended.
    pub ended: usize,
}

/// The serving process's approval state: session grants and waiting prompts (see the module
/// doc). Cheap when nothing needs approval: one mutex per hand-out of an account that asks.
pub struct Gate {
    grants: Mutex<HashMap<(String, String), Grant>>,
    waiting: Mutex<BTreeMap<String, Waiting>>,
    changes: tokio::sync::watch::Sender<u64>,
    last_lock: Mutex<Option<LockEvent>>,
    timeout: Duration,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new(timeout_from_env())
    }
}

/// [`TIMEOUT_ENV`] when it is a number of seconds from 1 to 600, else [`DEFAULT_TIMEOUT`].
pub fn timeout_from_env() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=600).contains(s))
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
}

pub(crate) fn new_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gate {
    /// A gate whose prompts wait `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Gate {
            grants: Mutex::new(HashMap::new()),
            waiting: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::watch::channel(0).0,
            last_lock: Mutex::new(None),
            timeout,
        }
    }

    /// How long a prompt waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A receiver that changes whenever a prompt is raised or answered, or grants end (the
    /// window and the tray watch it).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Uses a live session grant of `key` for `account`, restarting its idle clock.
    pub(crate) fn use_grant(
        &self,
        account: &str,
        key: &str,
        policy: &ApprovalPolicy,
        now: OffsetDateTime,
    ) -> bool {
        let mut grants = lock(&self.grants);
        let k = (account.to_string(), key.to_string());
        let live = grants.get(&k).is_some_and(|g| {
            now - g.last_used < time::Duration::seconds(secs(policy.idle_secs))
                && now - g.granted_at < time::Duration::seconds(secs(policy.max_secs))
        });
        if live {
            if let Some(g) = grants.get_mut(&k) {
                g.last_used = now;
            }
        } else {
            grants.remove(&k);
        }
        live
    }

    pub(crate) fn grant(&self, account: &str, requester: &Requester, now: OffsetDateTime) {
        lock(&self.grants).insert(
            (account.to_string(), requester.session_key()),
            Grant {
                program: requester
                    .executable
                    .clone()
                    .unwrap_or_else(|| requester.name.clone()),
                session: requester.session_line(),
                granted_at: now,
                last_used: now,
            },
        );
        self.changed();
    }

    /// Raises a prompt and waits for its answer (a denial when unanswered within the timeout
    /// or when too many wait already). `on_wait` is told once the prompt is visible.
    pub(crate) async fn ask(
        &self,
        view: PendingApproval,
        on_wait: Option<OnWait<'_>>,
    ) -> (Decision, bool) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let id = view.id.clone();
        {
            let mut waiting = lock(&self.waiting);
            if waiting.len() >= MAX_PENDING {
                tracing::warn!("too many approval prompts wait; refused at once");
                return (Decision::Deny, false);
            }
            if let Some(tell) = on_wait {
                tell(&view);
            }
            waiting.insert(id.clone(), Waiting { view, answer: tx });
        }
        self.changed();
        // Removed however this ends: answered, timed out, or dropped (the caller went away).
        struct Unlist<'g>(&'g Gate, String);
        impl Drop for Unlist<'_> {
            fn drop(&mut self) {
                if lock(&self.0.waiting).remove(&self.1).is_some() {
                    self.0.changed();
                }
            }
        }
        let _unlist = Unlist(self, id);
        let answer = tokio::time::timeout(self.timeout, rx).await;
        match answer {
            Ok(Ok(d)) => (d, true),
            // Unanswered (or the gate went away): no.
            _ => (Decision::Deny, false),
        }
    }

    /// A new prompt's view (id and deadline filled in).
    pub(crate) fn prompt(
        &self,
        ask: Ask,
        requester: &Requester,
        mode: ApprovalMode,
        remember: Result<(), String>,
        now: OffsetDateTime,
    ) -> PendingApproval {
        PendingApproval {
            id: new_id(),
            ask,
            requester_line: requester.line(),
            requester: requester.clone(),
            mode,
            can_remember: remember.is_ok(),
            cannot_remember: remember.err(),
            asked_at: now,
            deadline: now + time::Duration::seconds(secs(self.timeout.as_secs())),
        }
    }

    /// The prompts waiting now, oldest first.
    pub fn pending(&self) -> Vec<PendingApproval> {
        let mut v: Vec<_> = lock(&self.waiting)
            .values()
            .map(|w| w.view.clone())
            .collect();
        v.sort_by_key(|p| p.asked_at);
        v
    }

    /// Answers the prompt `id` (an error when no such prompt waits: answered, expired or
    /// mistyped).
    pub fn decide(&self, id: &str, decision: Decision) -> crate::Result<PendingApproval> {
        let w = {
            let mut waiting = lock(&self.waiting);
            let std::collections::btree_map::Entry::Occupied(entry) = waiting.entry(id.to_string())
            else {
                return Err(not_pending(id));
            };
            // "Always" for a program that cannot be remembered is refused, and the prompt
            // keeps waiting for another answer.
            let view = &entry.get().view;
            if decision == Decision::Always && !view.can_remember {
                return Err(crate::Error::InvalidInput(format!(
                    "this program cannot be always allowed: {}; allow it once or for the session instead",
                    view.cannot_remember
                        .as_deref()
                        .unwrap_or("its executable is not known")
                )));
            }
            entry.remove()
        };
        let view = w.view.clone();
        // The waiting hand-out may have timed out this instant; then the answer is moot.
        let _ = w.answer.send(decision);
        self.changed();
        Ok(view)
    }

    /// Ends every session grant (`latchkey lock`, the screen locking); says how many.
    pub fn lock(&self, reason: &str, now: OffsetDateTime) -> usize {
        let ended = {
            let mut g = lock(&self.grants);
            let n = g.len();
            g.clear();
            n
        };
        *lock(&self.last_lock) = Some(LockEvent {
            at: now,
            reason: reason.to_string(),
            ended,
        });
        tracing::info!(ended, reason, "session grants ended");
        self.changed();
        ended
    }

    /// The last time grants were ended, and why.
    pub fn last_lock(&self) -> Option<LockEvent> {
        lock(&self.last_lock).clone()
    }

    /// The live session grants (expired ones are dropped here).
    pub fn grants(
        &self,
        policy_of: impl Fn(&str) -> Option<ApprovalPolicy>,
        now: OffsetDateTime,
    ) -> Vec<SessionGrant> {
        let mut grants = lock(&self.grants);
        grants.retain(|(account, _), g| {
            policy_of(account).is_some_and(|p| {
                p.mode == ApprovalMode::Session
                    && now - g.last_used < time::Duration::seconds(secs(p.idle_secs))
                    && now - g.granted_at < time::Duration::seconds(secs(p.max_secs))
            })
        });
        let mut v: Vec<_> = grants
            .iter()
            .map(|((account, _), g)| SessionGrant {
                account: account.clone(),
                program: g.program.clone(),
                session: g.session.clone(),
                granted_at: g.granted_at,
                last_used: g.last_used,
            })
            .collect();
        v.sort_by_key(|g| g.granted_at);
        v
    }

    /// Ends the session grants of one account (its policy changed, it signed out).
    pub fn end_grants_of(&self, account: &str) {
        lock(&self.grants).retain(|(a, _), _| a != account);
        self.changed();
    }
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / 2)
}

fn not_pending(id: &str) -> crate::Error {
    crate::Error::InvalidInput(format!(
        "no approval `{}` is waiting (answered already, expired, or mistyped)",
        crate::text::clean(id, 40)
    ))
    .with_remedy(crate::remedy::Remedy::ListPending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(exe: &str, session: u32) -> Requester {
        Requester {
            executable: Some(exe.into()),
            name: exe.rsplit('/').next().unwrap_or(exe).into(),
            session: Some(session),
            ..Requester::unknown(42)
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn ttl_and_mode_parse() {
        assert_eq!(parse_ttl("10m").unwrap(), (600, None));
        assert_eq!(parse_ttl("10m,12h").unwrap(), (600, Some(43_200)));
        assert_eq!(parse_ttl("90").unwrap(), (90, None));
        for bad in [
            "",
            "m",
            "10x",
            "0",
            "1h,10m",
            "31d",
            "99999999999999999999d",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ApprovalMode::parse("every-use").unwrap(),
            ApprovalMode::EveryUse
        );
        assert!(ApprovalMode::parse("sometimes").is_err());
        assert_eq!(Decision::parse("always").unwrap(), Decision::Always);
    }

    #[test]
    fn a_session_grant_covers_its_requester_until_idle_or_old_and_a_lock_ends_it() {
        let gate = Gate::new(Duration::from_secs(5));
        let policy = ApprovalPolicy {
            mode: ApprovalMode::Session,
            idle_secs: 600,
            max_secs: 3600,
        };
        let git = req("/usr/bin/git", 7);
        let key = git.session_key();
        assert!(!gate.use_grant("work", &key, &policy, now()));
        gate.grant("work", &git, now());
        assert!(gate.use_grant("work", &key, &policy, now() + time::Duration::minutes(9)));
        // Idle clock restarted at 9 min: still live at 18 min.
        assert!(gate.use_grant("work", &key, &policy, now() + time::Duration::minutes(18)));
        // Another account, another session, another program: not covered.
        assert!(!gate.use_grant("home", &key, &policy, now()));
        assert!(!gate.use_grant(
            "work",
            &req("/usr/bin/git", 8).session_key(),
            &policy,
            now()
        ));
        assert!(!gate.use_grant(
            "work",
            &req("/usr/bin/curl", 7).session_key(),
            &policy,
            now()
        ));
        // Idle too long.
        assert!(!gate.use_grant("work", &key, &policy, now() + time::Duration::minutes(40)));
        // Older than the maximum even when used.
        gate.grant("work", &git, now());
        for m in (5..60).step_by(5) {
            assert!(gate.use_grant("work", &key, &policy, now() + time::Duration::minutes(m)));
        }
        assert!(!gate.use_grant("work", &key, &policy, now() + time::Duration::minutes(61)));
        // A lock ends them all.
        gate.grant("work", &git, now());
        assert_eq!(gate.grants(|_| Some(policy), now()).len(), 1);
        assert_eq!(gate.lock("the screen locked", now()), 1);
        assert!(!gate.use_grant("work", &key, &policy, now()));
        assert_eq!(gate.last_lock().unwrap().reason, "the screen locked");
    }

    #[tokio::test]
    async fn a_prompt_is_answered_or_denied_at_its_deadline() {
        let gate = std::sync::Arc::new(Gate::new(Duration::from_millis(300)));
        let ask = Ask::token(
            "work",
            &crate::target::TokenSpec::default(),
            "git",
            Some("https://git.example/org/repo".into()),
        );
        let git = req("/usr/bin/git", 7);
        let view = gate.prompt(ask.clone(), &git, ApprovalMode::Session, Ok(()), now());
        let id = view.id.clone();
        let told = std::sync::Arc::new(Mutex::new(Vec::new()));
        let g = gate.clone();
        let t = told.clone();
        let waiter = tokio::spawn(async move {
            let tell = move |p: &PendingApproval| lock(&t).push(p.id.clone());
            g.ask(view, Some(&tell)).await
        });
        let mut rx = gate.subscribe();
        while gate.pending().is_empty() {
            rx.changed().await.unwrap();
        }
        assert_eq!(gate.pending()[0].ask, ask);
        assert_eq!(lock(&told).as_slice(), std::slice::from_ref(&id));
        assert!(gate.decide("nope", Decision::Once).is_err());
        gate.decide(&id, Decision::Session).unwrap();
        // (the next prompt cannot be remembered: "always" is refused and it keeps waiting)
        assert_eq!(waiter.await.unwrap(), (Decision::Session, true));
        assert!(gate.pending().is_empty());
        assert!(
            gate.decide(&id, Decision::Once).is_err(),
            "answered once only"
        );

        let view = gate.prompt(
            ask.clone(),
            &git,
            ApprovalMode::Session,
            Err("you can change it".into()),
            now(),
        );
        let unremembered = view.id.clone();
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.ask(view, None).await });
        while gate.pending().is_empty() {
            tokio::task::yield_now().await;
        }
        let refused = gate.decide(&unremembered, Decision::Always).unwrap_err();
        assert!(
            refused.to_string().contains("you can change it"),
            "{refused}"
        );
        assert_eq!(gate.pending().len(), 1, "still waiting");
        gate.decide(&unremembered, Decision::Once).unwrap();
        assert_eq!(waiter.await.unwrap(), (Decision::Once, true));

        let view = gate.prompt(ask.clone(), &git, ApprovalMode::Session, Ok(()), now());
        assert_eq!(gate.ask(view, None).await, (Decision::Deny, false));
        assert!(gate.pending().is_empty());

        // A caller that goes away takes its prompt with it.
        let view = gate.prompt(ask, &git, ApprovalMode::Session, Ok(()), now());
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.ask(view, None).await });
        while gate.pending().is_empty() {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert!(gate.pending().is_empty(), "withdrawn with its caller");
    }
}
