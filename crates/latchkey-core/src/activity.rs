//! Who got which token: every hand-out and every refusal, one JSON line each, never a token.
//!
//! The process that decides (the agent, the app, or the CLI on the direct path) appends an
//! [`ActivityRecord`] to `activity.jsonl` in the config dir: created 0600, opened append-only
//! (one `write` per record, so records of several processes never interleave), rotated to
//! `activity.1.jsonl` when it passes [`ROTATE_AT`] (one older generation is kept). A record
//! names the account, what was asked, the tool and where the token goes, who asked
//! ([`crate::approval::Requester`]), the decision and how it was served; the reason of a
//! refusal is a message for people that quotes no secret.
//!
//! `latchkey activity [NAME] [--since 1h] [--json]` and the window read it back
//! ([`read`], [`usage`]). Writing is best effort: a full disk loses the record (logged), never
//! the hand-out.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::approval::{Admission, Ask, Requester};

/// The file's name in the config dir.
pub const FILE_NAME: &str = "activity.jsonl";
/// The previous generation's name.
pub const OLD_FILE_NAME: &str = "activity.1.jsonl";
/// Rotated past this size.
pub const ROTATE_AT: u64 = 4 << 20;
/// The longest record line read back (longer ones are skipped).
const MAX_LINE: usize = 64 << 10;

/// What happened to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The token was handed out.
    Issued,
    /// Refused by a rule (plain http, a DPoP-bound token for a bearer-only tool, no token).
    Refused,
    /// The owner said no.
    Denied,
    /// Nobody answered the prompt in time.
    TimedOut,
    /// It failed (the account needs a sign-in, the provider is down, …).
    Failed,
}

impl Outcome {
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Refused => "refused",
            Outcome::Denied => "denied",
            Outcome::TimedOut => "timed out",
            Outcome::Failed => "failed",
        }
    }
}

/// One line of the activity file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRecord {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What was asked (account, token, tool, where).
    #[serde(flatten)]
    pub ask: Ask,
    /// Who asked.
    pub requester: Requester,
    /// The outcome.
    pub outcome: Outcome,
    /// Why it was let through, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<Admission>,
    /// `agent`, `direct` or `window`.
    pub via: String,
    /// For a refusal or failure: why (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Appends `record` (see the module doc). Errors are logged, not returned.
pub fn append(dir: &Path, record: &ActivityRecord) {
    if let Err(e) = try_append(dir, record) {
        tracing::warn!(error = %e, "could not record the activity");
    }
}

fn try_append(dir: &Path, record: &ActivityRecord) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let p = path(dir);
    let mut file = crate::private::options()
        .append(true)
        .create(true)
        .open(&p)?;
    file.write_all(&line)?;
    if file.metadata()?.len() > ROTATE_AT {
        // Two processes may both see it large: the rename is atomic, the loser renames the
        // (small) new file, which loses nothing.
        std::fs::rename(&p, dir.join(OLD_FILE_NAME))?;
    }
    Ok(())
}

/// Records of one agent request, written after its answer is sent ([`Later::flush`]): naming
/// the requester and appending cost a hand-out nothing then. [`InFlight`] counts them so that a
/// reader waits for the ones still on their way ([`InFlight::settle`]).
#[derive(Debug)]
pub struct Later {
    drafts: std::sync::Mutex<Vec<ActivityRecord>>,
    in_flight: std::sync::Arc<InFlight>,
}

impl Later {
    /// Records to be written by this process's `in_flight` counter.
    pub fn new(in_flight: std::sync::Arc<InFlight>) -> Self {
        Later {
            drafts: std::sync::Mutex::new(Vec::new()),
            in_flight,
        }
    }

    /// Keeps `record` (its requester is filled in at [`Self::flush`]).
    pub fn push(&self, record: ActivityRecord) {
        self.in_flight.add();
        self.drafts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(record);
    }

    /// Whether no record waits to be written (most requests: `list`, `status`, `ping`).
    pub fn is_empty(&self) -> bool {
        self.drafts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty()
    }

    /// Writes the kept records with `requester` to `dir`.
    pub fn flush(&self, dir: &Path, requester: impl FnOnce() -> Requester) {
        let drafts = std::mem::take(
            &mut *self
                .drafts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if drafts.is_empty() {
            return;
        }
        let who = requester();
        for mut r in drafts {
            r.requester = who.clone();
            append(dir, &r);
            self.in_flight.done();
        }
    }
}

impl Drop for Later {
    fn drop(&mut self) {
        // Records never flushed (the connection broke first) are not waited for.
        let n = self
            .drafts
            .get_mut()
            .map(|d| d.len())
            .unwrap_or_else(|p| p.into_inner().len());
        for _ in 0..n {
            self.in_flight.done();
        }
    }
}

/// How many records of this process are still to be written.
#[derive(Debug, Default)]
pub struct InFlight {
    count: std::sync::Mutex<usize>,
    settled: std::sync::Condvar,
}

impl InFlight {
    fn add(&self) {
        *self
            .count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
    }

    fn done(&self) {
        let mut n = self
            .count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.settled.notify_all();
        }
    }

    /// Waits (at most `deadline`) until every record kept for later is written.
    pub fn settle(&self, deadline: std::time::Duration) {
        let n = self
            .count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = self.settled.wait_timeout_while(n, deadline, |n| *n > 0);
    }
}

/// Which records [`read`] returns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Filter {
    /// Only this account's.
    #[serde(default)]
    pub account: Option<String>,
    /// Only these at or after.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// At most this many, the newest (0: all).
    #[serde(default)]
    pub limit: usize,
}

/// The records in `dir` that pass `filter`, oldest first. Lines that are not records (a torn
/// last line, a hand edit) are skipped.
pub fn read(dir: &Path, filter: &Filter) -> crate::Result<Vec<ActivityRecord>> {
    let mut out = Vec::new();
    for name in [OLD_FILE_NAME, FILE_NAME] {
        let p = dir.join(name);
        let file = match std::fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(crate::Error::io(format!("reading {}", p.display()), e)),
        };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::BufReader::new(file), &mut bytes)
            .map_err(|e| crate::Error::io(format!("reading {}", p.display()), e))?;
        out.extend(parse(&bytes).into_iter().filter(|r| {
            filter.account.as_deref().is_none_or(|a| a == r.ask.account)
                && filter.since.is_none_or(|s| r.at >= s)
        }));
    }
    out.sort_by_key(|r| r.at);
    if filter.limit > 0 && out.len() > filter.limit {
        out.drain(..out.len() - filter.limit);
    }
    Ok(out)
}

/// The records in the bytes of an activity file; lines that are not records (a torn last line,
/// a hand edit, one longer than 64 KiB) are skipped.
pub fn parse(bytes: &[u8]) -> Vec<ActivityRecord> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty() && line.len() <= MAX_LINE)
        .filter_map(|line| serde_json::from_slice::<ActivityRecord>(line).ok())
        .map(ActivityRecord::cleaned)
        .collect()
}

impl ActivityRecord {
    /// The record with every text made safe to print (the file is the user's to edit).
    pub fn cleaned(mut self) -> Self {
        let c = |s: &str| crate::text::clean(s, crate::text::MAX_DESCRIPTION);
        self.ask.account = c(&self.ask.account);
        self.ask.what = c(&self.ask.what);
        self.ask.tool = c(&self.ask.tool);
        self.ask.target = self.ask.target.as_deref().map(c);
        self.via = c(&self.via);
        self.reason = self.reason.as_deref().map(c);
        let r = &mut self.requester;
        for field in [
            &mut r.tty,
            &mut r.shell,
            &mut r.terminal,
            &mut r.unit,
            &mut r.app,
            &mut r.executable,
        ] {
            *field = field.as_deref().map(c);
        }
        r.name = c(&r.name);
        self
    }
}

/// How one account was used, per tool: "git, 12 times today, last 3 min ago".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolUse {
    /// The tool or command.
    pub tool: String,
    /// Hand-outs since the start of the day (local to the records' offset: UTC).
    pub today: usize,
    /// The last hand-out.
    #[serde(with = "time::serde::rfc3339")]
    pub last: OffsetDateTime,
    /// The last requester's name.
    pub last_requester: String,
    /// Refusals and denials since the start of the day.
    pub refused_today: usize,
}

/// An account's use per tool from `records` (issued ones count as uses), most recent first.
pub fn usage(records: &[ActivityRecord], now: OffsetDateTime) -> Vec<ToolUse> {
    let day_start = now.replace_time(time::Time::MIDNIGHT);
    let mut by_tool: Vec<ToolUse> = Vec::new();
    for r in records {
        let i = match by_tool.iter().position(|t| t.tool == r.ask.tool) {
            Some(i) => i,
            None => {
                by_tool.push(ToolUse {
                    tool: r.ask.tool.clone(),
                    today: 0,
                    last: r.at,
                    last_requester: r.requester.name.clone(),
                    refused_today: 0,
                });
                by_tool.len() - 1
            }
        };
        let t = &mut by_tool[i];
        let today = r.at >= day_start;
        if r.outcome == Outcome::Issued {
            if today {
                t.today += 1;
            }
            if r.at >= t.last {
                t.last = r.at;
                t.last_requester = r.requester.name.clone();
            }
        } else if today {
            t.refused_today += 1;
        }
    }
    by_tool.sort_by_key(|t| std::cmp::Reverse(t.last));
    by_tool
}

/// When `spec`'s token (a token for another API) was last handed out, by the spec its
/// records carry — never by their words, which one spec's may begin like another's.
pub fn last_issued(
    records: &[ActivityRecord],
    spec: &crate::target::TokenSpec,
) -> Option<OffsetDateTime> {
    records
        .iter()
        .filter(|r| r.outcome == Outcome::Issued && r.ask.spec.as_ref() == Some(spec))
        .map(|r| r.at)
        .max()
}

/// [`ToolUse`] as one line: `git, 12 times today, last 3 min ago`.
pub fn usage_line(u: &ToolUse, now: OffsetDateTime) -> String {
    let times = match u.today {
        1 => "once today".to_string(),
        n => format!("{n} times today"),
    };
    let ago = crate::text::human_duration((now - u.last).whole_seconds().max(0));
    format!("{}, {times}, last {ago} ago", u.tool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(at: i64, account: &str, tool: &str, outcome: Outcome) -> ActivityRecord {
        ActivityRecord {
            at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
            ask: Ask::token(
                account,
                &crate::target::TokenSpec::default(),
                tool,
                Some("https://git.example/repo".into()),
            ),
            requester: Requester {
                executable: Some("/usr/bin/git".into()),
                name: "git".into(),
                ..Requester::unknown(7)
            },
            outcome,
            admission: (outcome == Outcome::Issued).then_some(Admission::NotRequired),
            via: "agent".into(),
            reason: None,
        }
    }

    /// Two specs whose words begin alike (a resource and a longer one under it; a spec and the
    /// same spec with a scope more) are told apart; the account's own token is neither.
    #[test]
    fn a_token_for_another_api_is_found_by_its_spec_not_its_words() {
        let spec = |scopes: &[&str], resources: &[&str]| {
            crate::target::TokenSpec::new(
                &scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                &resources.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                None,
            )
            .unwrap()
        };
        let api = spec(&[], &["https://api.example"]);
        let api_more = spec(&[], &["https://api.example/more"]);
        let a = spec(&["read"], &[]);
        let a_b = spec(&["read", "write"], &[]);
        let issued = |at: i64, s: &crate::target::TokenSpec, outcome: Outcome| {
            let mut r = rec(at, "work", "token", outcome);
            r.ask = Ask::token("work", s, "token", None);
            r
        };
        let records = vec![
            issued(100, &api, Outcome::Issued),
            issued(200, &api_more, Outcome::Issued),
            issued(300, &a_b, Outcome::Issued),
            issued(400, &a, Outcome::Denied),
            rec(500, "work", "token", Outcome::Issued),
        ];
        let at = |t: i64| Some(OffsetDateTime::from_unix_timestamp(t).unwrap());
        assert_eq!(last_issued(&records, &api), at(100));
        assert_eq!(last_issued(&records, &api_more), at(200));
        assert_eq!(last_issued(&records, &a_b), at(300));
        assert_eq!(last_issued(&records, &a), None, "denied is no hand-out");
        // The words of the first do begin the second's: why words are not matched.
        assert!(records[1].ask.what.starts_with(&records[0].ask.what));
    }

    #[test]
    fn records_append_read_back_filter_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), &rec(1_000, "work", "git", Outcome::Issued));
        append(dir.path(), &rec(2_000, "home", "kubectl", Outcome::Denied));
        append(dir.path(), &rec(3_000, "work", "git", Outcome::Issued));
        // A torn line and a foreign one are skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path()))
            .unwrap()
            .write_all(b"{\"at\":\"broken\n")
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let all = read(dir.path(), &Filter::default()).unwrap();
        assert_eq!(all.len(), 3);
        let work = read(
            dir.path(),
            &Filter {
                account: Some("work".into()),
                ..Filter::default()
            },
        )
        .unwrap();
        assert_eq!(work.len(), 2);
        let since = read(
            dir.path(),
            &Filter {
                since: Some(OffsetDateTime::from_unix_timestamp(1_500).unwrap()),
                limit: 1,
                ..Filter::default()
            },
        )
        .unwrap();
        assert_eq!(since, vec![rec(3_000, "work", "git", Outcome::Issued)]);
        // Rotation keeps the records readable.
        let big = "x".repeat(40_000);
        for i in 0..120 {
            let mut r = rec(4_000 + i, "work", "git", Outcome::Refused);
            r.reason = Some(big.clone());
            append(dir.path(), &r);
        }
        assert!(dir.path().join(OLD_FILE_NAME).exists());
        assert!(std::fs::metadata(path(dir.path())).unwrap().len() < ROTATE_AT);
        let after = read(dir.path(), &Filter::default()).unwrap();
        assert!(after.iter().any(|r| r.at.unix_timestamp() == 4_119));
    }

    #[test]
    fn usage_counts_today_per_tool() {
        let now = OffsetDateTime::from_unix_timestamp(86_400 * 10 + 3_600).unwrap();
        let day = 86_400 * 10;
        let records = vec![
            rec(day - 10, "work", "git", Outcome::Issued),
            rec(day + 10, "work", "git", Outcome::Issued),
            rec(day + 20, "work", "git", Outcome::Issued),
            rec(day + 30, "work", "git", Outcome::Denied),
            rec(day + 3_000, "work", "kubectl", Outcome::Issued),
        ];
        let u = usage(&records, now);
        assert_eq!(u[0].tool, "kubectl");
        assert_eq!(u[1].tool, "git");
        assert_eq!(u[1].today, 2);
        assert_eq!(u[1].refused_today, 1);
        assert_eq!(u[1].last.unix_timestamp(), day + 20);
        assert_eq!(
            usage_line(&u[0], now),
            "kubectl, once today, last 10m 0s ago"
        );
    }
}
