//! A byte-range index of `accounts.toml`, so looking up one account by name does not parse the
//! whole file (with 1,000 accounts the file is ~500 KB and a full parse ~14 ms, paid by every
//! `latchkey token` on the direct path).
//!
//! `accounts.index` (0600, beside `accounts.toml`; a cache, never the truth) holds:
//!
//! ```text
//! latchkey accounts index 1
//! <dev> <inode> <length> <mtime ns> <ctime ns>      ← the accounts.toml it describes
//! <start> <end> <name>                              ← one line per account, first of a name
//! ```
//!
//! **Correctness.** A lookup opens `accounts.toml`, `fstat`s the open file and uses the index
//! only if the stamp equals line 2; the account's bytes are then read from that same open file
//! and parsed as TOML, and the result must carry the name asked for. Writers replace the file by
//! renaming a new one over it (new inode, new times), and an edit in place changes its ctime, so
//! a rewrite by any process, or by hand, makes the index stale: the reader then parses the whole
//! file (the result is always what a full parse gives) and writes a fresh index. [`build`]
//! only indexes a file whose every account slice parses back to exactly the account the full
//! parse gave (a hand-written file with an odd layout simply gets no index). The format of
//! `accounts.toml` is unchanged.
//!
//! The index knows byte ranges and names, not what an account is: it reads any [`Indexed`]
//! type (`crate::accounts::Account` implements it), so `accounts` uses this module and this
//! module uses nothing of `accounts`.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::Paths;

const MAGIC: &str = "latchkey accounts index 1";

/// What identifies one version of `accounts.toml` (device, inode, length, mtime, ctime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp([i128; 5]);

impl Stamp {
    /// The stamp of a file's metadata (`None` where there are no inodes).
    pub(crate) fn of(meta: &std::fs::Metadata) -> Option<Stamp> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            Some(Stamp([
                i128::from(meta.dev()),
                i128::from(meta.ino()),
                i128::from(meta.len()),
                ns(meta.mtime(), meta.mtime_nsec()),
                ns(meta.ctime(), meta.ctime_nsec()),
            ]))
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            None
        }
    }

    fn line(&self) -> String {
        let [a, b, c, d, e] = self.0;
        format!("{a} {b} {c} {d} {e}")
    }
}

/// What the index reads back from an `[[account]]` section: a TOML table with a name.
pub(crate) trait Indexed: DeserializeOwned + PartialEq {
    /// The name a lookup finds it by.
    fn index_name(&self) -> &str;
}

/// One indexed account: its name and byte range in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Deserialize)]
#[serde(bound = "A: DeserializeOwned")]
struct Slice<A> {
    #[serde(default = "Vec::new")]
    account: Vec<A>,
}

/// The `[[account]]` sections of `text`, as byte ranges (header line to the next top-level
/// header that is not one of the account's own sub-tables).
fn sections(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open: Option<usize> = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            let own = t.starts_with("[account.") || t.starts_with("[[account.");
            if !own {
                if let Some(s) = open.take() {
                    out.push((s, pos));
                }
                if t == "[[account]]" {
                    open = Some(pos);
                }
            }
        }
        pos += line.len();
    }
    if let Some(s) = open {
        out.push((s, text.len()));
    }
    out
}

fn parse_slice<A: Indexed>(bytes: &[u8]) -> Option<A> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut slice: Slice<A> = toml::from_str(text).ok()?;
    (slice.account.len() == 1).then(|| slice.account.remove(0))
}

/// The index of `text`, whose full parse gave `accounts`; `None` when its layout cannot be
/// indexed exactly (every slice must parse back to the same account, in order).
pub(crate) fn build<A: Indexed>(text: &str, accounts: &[A]) -> Option<Vec<Entry>> {
    let ranges = sections(text);
    if ranges.len() != accounts.len() {
        return None;
    }
    let mut out: Vec<Entry> = Vec::with_capacity(accounts.len());
    for ((start, end), account) in ranges.into_iter().zip(accounts) {
        let name = account.index_name();
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return None;
        }
        if parse_slice::<A>(&text.as_bytes()[start..end]).as_ref() != Some(account) {
            return None;
        }
        if !out.iter().any(|e| e.name == name) {
            out.push(Entry {
                name: name.to_string(),
                start,
                end,
            });
        }
    }
    Some(out)
}

/// Writes the index of the file with `stamp` (best effort: it is only a cache).
pub(crate) fn write(paths: &Paths, stamp: Stamp, entries: &[Entry]) {
    let mut text = String::with_capacity(64 + entries.len() * 48);
    text.push_str(MAGIC);
    text.push('\n');
    text.push_str(&stamp.line());
    text.push('\n');
    for e in entries {
        text.push_str(&format!("{} {} {}\n", e.start, e.end, e.name));
    }
    if let Err(e) = crate::private::write_atomic(&paths.accounts_index(), text.as_bytes()) {
        tracing::debug!(error = %e, "could not write the accounts index");
    }
}

/// What the index says about one name.
#[derive(Debug)]
pub(crate) enum Lookup<A> {
    /// The account, read from its byte range of the current file.
    Found(Box<A>),
    /// The current file has no account of that name.
    Absent,
    /// The index cannot answer (missing, stale, unreadable): parse the whole file.
    Miss,
}

/// Looks `name` up through the index, reading only its bytes of `accounts.toml`.
pub(crate) fn lookup<A: Indexed>(paths: &Paths, name: &str) -> Lookup<A> {
    lookup_inner(paths, name).unwrap_or(Lookup::Miss)
}

fn lookup_inner<A: Indexed>(paths: &Paths, name: &str) -> Option<Lookup<A>> {
    let mut file = std::fs::File::open(paths.accounts_file()).ok()?;
    let stamp = Stamp::of(&file.metadata().ok()?)?;
    let index = std::fs::read_to_string(paths.accounts_index()).ok()?;
    let mut lines = index.lines();
    if lines.next()? != MAGIC || lines.next()? != stamp.line() {
        return None;
    }
    for line in lines {
        let mut parts = line.splitn(3, ' ');
        let (start, end, n) = (parts.next()?, parts.next()?, parts.next()?);
        if n != name {
            continue;
        }
        let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
        let len = usize::try_from(end.checked_sub(start)?).ok()?;
        let mut buf = vec![0u8; len];
        file.seek(SeekFrom::Start(start)).ok()?;
        file.read_exact(&mut buf).ok()?;
        // The bytes come from the file we stamped; they must still say what we asked for.
        let account = parse_slice::<A>(&buf).filter(|a| a.index_name() == name)?;
        return Some(Lookup::Found(Box::new(account)));
    }
    Some(Lookup::Absent)
}

/// True if the index file at `index` describes the accounts file with `stamp`.
pub(crate) fn is_current(index: &Path, stamp: Stamp) -> bool {
    let Ok(f) = std::fs::File::open(index) else {
        return false;
    };
    let mut head = String::new();
    let _ = f.take(256).read_to_string(&mut head);
    let mut lines = head.lines();
    lines.next() == Some(MAGIC) && lines.next() == Some(stamp.line().as_str())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sections_stop_at_other_top_level_tables() {
        let text = "version = 1\n\n[[account]]\nname = \"a\"\n\n[account.provider]\nx = 1\n\n[[account]]\nname = \"b\"\n\n[[rule]]\nhost = \"h\"\n";
        let s = sections(text);
        assert_eq!(s.len(), 2);
        assert!(text[s[0].0..s[0].1].starts_with("[[account]]\nname = \"a\""));
        assert!(text[s[0].0..s[0].1].contains("[account.provider]"));
        assert_eq!(&text[s[1].0..s[1].1], "[[account]]\nname = \"b\"\n\n");
    }
}
