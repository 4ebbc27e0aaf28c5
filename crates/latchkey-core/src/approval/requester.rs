//! Who is asking for a token: one human line from a caller's pid.
//!
//! The agent knows each caller's pid from `SO_PEERCRED`. [`Requester::inspect`] reads, for
//! that process and its ancestors, `/proc/PID/{stat,exe,cgroup,cmdline}` (through
//! [`ProcSource`], so every parser here is tested on bytes) and derives:
//!
//! - **the program that asks**: Latchkey's own adapter processes (`latchkey git-credential`,
//!   `docker-credential-latchkey`, …), the `sh -c` between a tool and its helper, and libexec
//!   helpers (`git-remote-https`) are skipped, so a `git fetch` is named `git`, not `latchkey`.
//!   A `latchkey token` typed at a shell stays `latchkey` (the person at that shell asks);
//! - **where it runs**: the terminal (`pts/3`), the shell, the terminal emulator, multiplexer
//!   or `sshd` that owns the terminal, the systemd unit (from the cgroup), a Flatpak or Snap
//!   app id;
//! - **over SSH forwarding** when the connecting process is an `ssh` client (a forwarded agent
//!   socket: the program on the far end cannot be known);
//! - **Latchkey (window)** for the desktop app.
//!
//! [`Requester::session_key`] is what a session grant is bound to: the executable and the
//! terminal, else the login session, else the systemd unit, else the process that started it
//! (its pid and start time, so a reused pid is another parent), else the process itself.
//! Containers and CI runners often show none of the first three (session 0: its leader lives
//! in another pid namespace; cgroup `/`), so the parent is what keeps "this session" there.
//! Nothing here is secret or trusted for more than naming: a program can fake its `comm`, not
//! its executable path (read from `/proc/PID/exe`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The longest ancestor chain followed.
const MAX_DEPTH: usize = 24;

/// Shells, by `comm`: a `sh -c` between a tool and Latchkey is skipped; an interactive one is
/// "the shell" of the line.
const SHELLS: [&str; 8] = [
    "sh", "dash", "bash", "zsh", "fish", "ksh", "mksh", "busybox",
];

/// One process as `/proc` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// Its pid.
    pub pid: u32,
    /// Its parent's pid (0: none).
    pub ppid: u32,
    /// `comm` (at most 15 bytes, chosen by the process).
    pub comm: String,
    /// The executable (`/proc/PID/exe`), when readable; ` (deleted)` removed.
    pub exe: Option<PathBuf>,
    /// The controlling terminal's device number (0: none).
    pub tty_nr: u32,
    /// The session id (the session leader's pid).
    pub session: u32,
    /// When it started (clock ticks after boot; 0: unknown).
    pub start: u64,
    /// `argv[1]` is `-c` (a shell running a command string, not an interactive one).
    pub runs_command: bool,
    /// The cgroup path (unified hierarchy), e.g. `/user.slice/…/app-….scope`.
    pub cgroup: Option<String>,
}

/// Where [`ProcInfo`]s come from: `/proc` ([`LiveProc`]) or a test's table. Each part is read
/// only when [`Requester::inspect`] needs it (most ancestors need `stat` alone): a hand-out
/// pays for a few small reads, not four per ancestor.
pub trait ProcSource {
    /// `pid`, `ppid`, `comm`, `tty_nr` and `session` of the process (`exe`, `cgroup` and
    /// `runs_command` left empty), or `None` when it is gone or unreadable.
    fn stat(&self, pid: u32) -> Option<ProcInfo>;
    /// The executable (`/proc/PID/exe`).
    fn exe(&self, pid: u32) -> Option<PathBuf>;
    /// The cgroup path.
    fn cgroup(&self, pid: u32) -> Option<String>;
    /// Whether its `argv[1]` is `-c`.
    fn runs_command(&self, pid: u32) -> bool;
}

/// The running system's `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveProc;

impl ProcSource for LiveProc {
    fn stat(&self, pid: u32) -> Option<ProcInfo> {
        if pid == 0 {
            return None;
        }
        parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
    }

    fn exe(&self, pid: u32) -> Option<PathBuf> {
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(strip_deleted)
    }

    fn cgroup(&self, pid: u32) -> Option<String> {
        parse_cgroup(&std::fs::read(format!("/proc/{pid}/cgroup")).ok()?)
    }

    fn runs_command(&self, pid: u32) -> bool {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .ok()
            .is_some_and(|c| runs_command(&c))
    }
}

/// `stat` and `exe` of `pid`.
fn with_exe(procs: &dyn ProcSource, pid: u32) -> Option<ProcInfo> {
    let mut p = procs.stat(pid)?;
    p.exe = procs.exe(pid);
    Some(p)
}

fn strip_deleted(p: PathBuf) -> PathBuf {
    match p.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(s) => PathBuf::from(s),
        None => p,
    }
}

/// Parses `/proc/PID/stat`: `pid (comm) state ppid pgrp session tty_nr …`. `comm` may hold
/// spaces and parentheses: it ends at the *last* `)`.
pub fn parse_stat(raw: &[u8]) -> Option<ProcInfo> {
    let open = raw.iter().position(|&b| b == b'(')?;
    let close = raw.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid: u32 = std::str::from_utf8(&raw[..open])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = crate::text::clean(&String::from_utf8_lossy(&raw[open + 1..close]), 64);
    let rest = std::str::from_utf8(raw.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let _state = fields.next()?;
    let ppid: u32 = fields.next()?.parse().ok()?;
    let _pgrp = fields.next()?;
    let session: u32 = fields.next()?.parse().ok()?;
    // tty_nr is an int in the kernel's format; a negative one means none.
    let tty_nr: u32 = fields.next()?.parse::<i64>().ok()?.try_into().unwrap_or(0);
    // Field 22, `starttime`: 14 fields after `tty_nr` (absent in a truncated line: unknown).
    let start: u64 = fields.nth(14).and_then(|f| f.parse().ok()).unwrap_or(0);
    Some(ProcInfo {
        pid,
        ppid,
        comm,
        exe: None,
        tty_nr,
        session,
        start,
        runs_command: false,
        cgroup: None,
    })
}

/// The unified-hierarchy path of `/proc/PID/cgroup` (`0::/…`), else the systemd one.
pub fn parse_cgroup(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut systemd = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            return Some(crate::text::clean(path, 512));
        }
        if controllers == "name=systemd" {
            systemd = Some(crate::text::clean(path, 512));
        }
    }
    systemd
}

/// Whether a `cmdline` (NUL-separated) has `-c` as its first argument.
pub fn runs_command(cmdline: &[u8]) -> bool {
    cmdline.split(|&b| b == 0).nth(1) == Some(b"-c".as_slice())
}

/// The terminal a `tty_nr` names (`pts/3`, `tty2`, `ttyS0`), when it is one of those.
pub fn tty_name(tty_nr: u32) -> Option<String> {
    if tty_nr == 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => Some(format!("pts/{}", minor + (major - 136) * 256)),
        4 if minor < 64 => Some(format!("tty{minor}")),
        4 => Some(format!("ttyS{}", minor - 64)),
        _ => Some(format!("tty {major}:{minor}")),
    }
}

/// The systemd unit at the end of a cgroup path (`…/app-gnome-foo-123.scope` →
/// `app-gnome-foo-123.scope`), when it ends in one.
pub fn cgroup_unit(cgroup: &str) -> Option<String> {
    cgroup
        .rsplit('/')
        .find(|c| c.ends_with(".scope") || c.ends_with(".service"))
        .map(str::to_string)
}

/// A Flatpak (`app-flatpak-ID-N.scope`) or Snap (`snap.NAME.APP-….scope`) app id in a cgroup
/// path.
pub fn sandbox_app(cgroup: &str) -> Option<String> {
    for part in cgroup.rsplit('/') {
        if let Some(rest) = part.strip_prefix("app-flatpak-") {
            let rest = rest.strip_suffix(".scope").unwrap_or(rest);
            let id = match rest.rsplit_once('-') {
                Some((id, n)) if n.chars().all(|c| c.is_ascii_digit()) => id,
                _ => rest,
            };
            return Some(format!("flatpak {id}"));
        }
        if let Some(rest) = part.strip_prefix("snap.") {
            let name = rest.split('.').next().unwrap_or(rest);
            return Some(format!("snap {name}"));
        }
    }
    None
}

/// The executable's file name, else `comm`; the full CLI the `latchkey` front hands over to is
/// `latchkey` too (one program to the person who typed it).
fn base_name(p: &ProcInfo) -> String {
    let name = p
        .exe
        .as_ref()
        .and_then(|e| e.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.comm.clone());
    if name == latchkey_wire::front::FULL_BINARY {
        latchkey_wire::front::FRONT_BINARY.to_string()
    } else {
        name
    }
}

fn is_shell(p: &ProcInfo) -> bool {
    SHELLS.contains(&p.comm.as_str()) || SHELLS.contains(&base_name(p).as_str())
}

/// Latchkey's own CLI or one of its adapters (`docker-credential-latchkey`).
fn is_latchkey_cli(p: &ProcInfo) -> bool {
    let name = base_name(p);
    name == "latchkey" || name.ends_with("-latchkey") || p.comm == "latchkey"
}

/// A helper a tool runs for itself (`/usr/lib/git-core/git-remote-https`): the tool asks.
fn is_libexec_helper(p: &ProcInfo) -> bool {
    p.exe.as_ref().is_some_and(|e| {
        let s = e.to_string_lossy();
        s.contains("/git-core/") || s.contains("/libexec/")
    })
}

/// Who asks, for people and for session grants (see the module doc). Never holds a secret:
/// no command line arguments are kept (they may carry one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    /// The asking process.
    pub pid: u32,
    /// Its name: the executable's file name (`git`), else its `comm`.
    pub name: String,
    /// Its executable's path, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    /// Its terminal (`pts/3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<String>,
    /// The interactive shell it runs under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// The terminal emulator, multiplexer or `sshd` that owns the terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
    /// The login session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u32>,
    /// The systemd unit (scope or service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// A Flatpak or Snap app id (`flatpak org.example.App`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The process that started it: pid and start time (`ProcInfo::start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<(u32, u64)>,
    /// The connection came through an `ssh` client (a forwarded agent socket).
    #[serde(default)]
    pub over_ssh: bool,
    /// The desktop app itself.
    #[serde(default)]
    pub window: bool,
}

impl Requester {
    /// The caller `pid` (the process connected to the agent), named from `procs`.
    pub fn inspect(procs: &dyn ProcSource, pid: u32) -> Requester {
        let Some(peer) = with_exe(procs, pid) else {
            return Requester::unknown(pid);
        };
        if base_name(&peer) == "latchkey-app" || peer.comm == "latchkey-app" {
            return Requester {
                window: true,
                ..Requester::from_proc(&peer)
            };
        }
        if base_name(&peer) == "ssh" {
            return Requester {
                over_ssh: true,
                ..Requester::from_proc(&peer)
            };
        }
        // Up past Latchkey's own processes, `sh -c` and libexec helpers to the program.
        let mut asker = peer;
        let mut last_latchkey = None;
        for _ in 0..MAX_DEPTH {
            let skip = is_latchkey_cli(&asker)
                || (is_shell(&asker) && procs.runs_command(asker.pid))
                || is_libexec_helper(&asker);
            if !skip {
                break;
            }
            if is_latchkey_cli(&asker) {
                last_latchkey = Some(asker.clone());
            }
            match with_exe(procs, asker.ppid) {
                Some(parent) if asker.ppid > 1 => asker = parent,
                _ => break,
            }
        }
        // A `latchkey …` typed at a shell: the person at that shell asks through it.
        if (is_shell(&asker) || asker.ppid <= 1)
            && let Some(cli) = last_latchkey
        {
            asker = cli;
        }
        asker.cgroup = procs.cgroup(asker.pid);
        let mut r = Requester::from_proc(&asker);
        // Up from the asker (`stat` only): its interactive shell and what owns its terminal.
        // Without a terminal there is none to find: a few ancestors for the shell, no more.
        let limit = if asker.tty_nr == 0 { 3 } else { MAX_DEPTH };
        let mut current = asker;
        for _ in 0..limit {
            if current.ppid <= 1 {
                break;
            }
            let Some(parent) = procs.stat(current.ppid) else {
                break;
            };
            if r.parent.is_none() {
                r.parent = Some((parent.pid, parent.start));
            }
            if r.shell.is_none()
                && SHELLS.contains(&parent.comm.as_str())
                && !procs.runs_command(parent.pid)
            {
                r.shell = Some(parent.comm.clone());
            }
            if current.tty_nr != 0 && parent.tty_nr == 0 {
                r.terminal = Some(parent.comm.clone());
                break;
            }
            current = parent;
        }
        r
    }

    fn from_proc(p: &ProcInfo) -> Requester {
        Requester {
            pid: p.pid,
            name: base_name(p),
            executable: p.exe.as_ref().map(|e| e.to_string_lossy().into_owned()),
            tty: tty_name(p.tty_nr),
            shell: None,
            terminal: None,
            session: (p.session != 0).then_some(p.session),
            unit: p.cgroup.as_deref().and_then(cgroup_unit),
            app: p.cgroup.as_deref().and_then(sandbox_app),
            parent: None,
            over_ssh: false,
            window: false,
        }
    }

    /// A process that could not be read (gone already, or another pid namespace).
    pub fn unknown(pid: u32) -> Requester {
        Requester {
            pid,
            name: "unknown program".into(),
            executable: None,
            tty: None,
            shell: None,
            terminal: None,
            session: None,
            unit: None,
            app: None,
            parent: None,
            over_ssh: false,
            window: false,
        }
    }

    /// This process, named as a caller of itself (the direct path).
    pub fn this_process() -> Requester {
        Requester::inspect(&LiveProc, std::process::id())
    }

    /// One line for people: `git (/usr/bin/git, pid 4242) in bash on pts/3, gnome-terminal-,
    /// unit app-….scope`.
    pub fn line(&self) -> String {
        if self.window {
            return format!("Latchkey (window, pid {})", self.pid);
        }
        let mut s = if self.over_ssh {
            format!(
                "a program on the other end of ssh, over SSH forwarding (ssh pid {})",
                self.pid
            )
        } else {
            match &self.executable {
                Some(exe) => format!("{} ({exe}, pid {})", self.name, self.pid),
                None => format!("{} (pid {})", self.name, self.pid),
            }
        };
        let mut place = Vec::new();
        match (&self.shell, &self.tty) {
            (Some(sh), Some(tty)) => place.push(format!("in {sh} on {tty}")),
            (None, Some(tty)) => place.push(format!("on {tty}")),
            (Some(sh), None) => place.push(format!("in {sh}")),
            (None, None) => {}
        }
        if let Some(t) = &self.terminal {
            place.push(t.clone());
        }
        if let Some(a) = &self.app {
            place.push(a.clone());
        } else if let Some(u) = &self.unit {
            place.push(format!("unit {u}"));
        }
        if !place.is_empty() {
            s.push(' ');
            s.push_str(&place.join(", "));
        }
        s
    }

    /// What a session grant is bound to: the executable and the terminal, else the login
    /// session, else the unit, else the process that started it, else this very process.
    pub fn session_key(&self) -> String {
        let who = self.executable.as_deref().unwrap_or(&self.name);
        let anchor = if self.over_ssh {
            format!("ssh:{}", self.pid)
        } else if let Some(t) = &self.tty {
            format!("tty:{t}")
        } else if let Some(s) = self.session {
            format!("session:{s}")
        } else if let Some(u) = &self.unit {
            format!("unit:{u}")
        } else if let Some((pid, start)) = self.parent {
            format!("parent:{pid}@{start}")
        } else {
            format!("pid:{}", self.pid)
        };
        format!("{who}|{anchor}")
    }

    /// Where it runs, for the session a grant covers (`pts/3`, `session 12`, …).
    pub fn session_line(&self) -> String {
        if self.over_ssh {
            format!("ssh pid {}", self.pid)
        } else if let Some(t) = &self.tty {
            t.clone()
        } else if let Some(s) = self.session {
            format!("session {s}")
        } else if let Some(u) = &self.unit {
            u.clone()
        } else if let Some((pid, _)) = self.parent {
            format!("started by pid {pid}")
        } else {
            format!("pid {}", self.pid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Table(HashMap<u32, ProcInfo>);

    impl ProcSource for Table {
        fn stat(&self, pid: u32) -> Option<ProcInfo> {
            self.0.get(&pid).map(|p| ProcInfo {
                exe: None,
                cgroup: None,
                runs_command: false,
                ..p.clone()
            })
        }
        fn exe(&self, pid: u32) -> Option<PathBuf> {
            self.0.get(&pid)?.exe.clone()
        }
        fn cgroup(&self, pid: u32) -> Option<String> {
            self.0.get(&pid)?.cgroup.clone()
        }
        fn runs_command(&self, pid: u32) -> bool {
            self.0.get(&pid).is_some_and(|p| p.runs_command)
        }
    }

    const PTS3: u32 = (136 << 8) | 3;

    fn p(pid: u32, ppid: u32, comm: &str, exe: &str, tty: u32, runs_command: bool) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            comm: comm.into(),
            exe: Some(exe.into()),
            tty_nr: tty,
            session: 100,
            start: u64::from(pid) * 10,
            runs_command,
            cgroup: Some(
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-org.gnome.Terminal-77.scope"
                    .into(),
            ),
        }
    }

    fn table(ps: Vec<ProcInfo>) -> Table {
        Table(ps.into_iter().map(|p| (p.pid, p)).collect())
    }

    #[test]
    fn stat_with_spaces_and_parens_in_comm() {
        let raw = b"4242 (my (odd) prog) S 4000 4242 100 34819 4242 4194304 1 2 3";
        let info = parse_stat(raw).unwrap();
        assert_eq!(info.pid, 4242);
        assert_eq!(info.comm, "my (odd) prog");
        assert_eq!(info.ppid, 4000);
        assert_eq!(info.session, 100);
        assert_eq!(info.tty_nr, 34819);
        assert_eq!(tty_name(info.tty_nr).as_deref(), Some("pts/3"));
        assert!(parse_stat(b"garbage").is_none());
        assert!(parse_stat(b"1 (x").is_none());
        assert!(parse_stat(b"1 ) (").is_none());
        assert!(parse_stat(b"").is_none());
        assert_eq!(info.start, 0, "a truncated line has no start time");
        let full = b"77 (git) S 70 77 0 0 -1 4194560 120 0 0 0 1 0 0 0 20 0 1 0 987654 9000000 300";
        let info = parse_stat(full).unwrap();
        assert_eq!((info.session, info.tty_nr, info.start), (0, 0, 987654));
        let me = parse_stat(&std::fs::read("/proc/self/stat").unwrap()).unwrap();
        assert!(me.start > 0);
    }

    /// In a container or CI runner: no terminal, session 0 (its leader is in another pid
    /// namespace), cgroup `/`. Two runs of git from the same parent share a session grant;
    /// the same program from another parent, or from a parent whose pid was reused, does not.
    #[test]
    fn without_terminal_session_or_unit_the_parent_anchors_the_session() {
        let bare = |pid, ppid, comm: &str, exe: &str| ProcInfo {
            session: 0,
            cgroup: Some("/".into()),
            ..p(pid, ppid, comm, exe, 0, false)
        };
        let procs = table(vec![
            bare(10, 1, "runner", "/usr/bin/runner"),
            bare(11, 10, "git", "/usr/bin/git"),
            bare(12, 10, "git", "/usr/bin/git"),
            bare(20, 1, "runner", "/usr/bin/runner"),
            bare(21, 20, "git", "/usr/bin/git"),
        ]);
        let first = Requester::inspect(&procs, 11);
        assert_eq!(first.unit, None);
        assert_eq!(first.session, None);
        assert_eq!(first.session_key(), "/usr/bin/git|parent:10@100");
        assert_eq!(first.session_line(), "started by pid 10");
        assert_eq!(
            first.session_key(),
            Requester::inspect(&procs, 12).session_key()
        );
        assert_ne!(
            first.session_key(),
            Requester::inspect(&procs, 21).session_key()
        );
        let reused = table(vec![
            ProcInfo {
                start: 5,
                ..bare(10, 1, "runner", "/usr/bin/runner")
            },
            bare(11, 10, "git", "/usr/bin/git"),
        ]);
        assert_ne!(
            first.session_key(),
            Requester::inspect(&reused, 11).session_key()
        );
    }

    #[test]
    fn ttys_cgroups_and_sandboxes() {
        assert_eq!(tty_name(0), None);
        assert_eq!(tty_name((4 << 8) | 2).as_deref(), Some("tty2"));
        assert_eq!(tty_name((4 << 8) | 64).as_deref(), Some("ttyS0"));
        assert_eq!(tty_name((137 << 8) | 1).as_deref(), Some("pts/257"));
        let cg = parse_cgroup(b"12:cpu:/x\n1:name=systemd:/old\n0::/user.slice/app-flatpak-org.example.App-1234.scope\n").unwrap();
        assert_eq!(cg, "/user.slice/app-flatpak-org.example.App-1234.scope");
        assert_eq!(sandbox_app(&cg).as_deref(), Some("flatpak org.example.App"));
        assert_eq!(
            cgroup_unit(&cg).as_deref(),
            Some("app-flatpak-org.example.App-1234.scope")
        );
        assert_eq!(
            sandbox_app("/user.slice/snap.firefox.firefox-0b1c.scope").as_deref(),
            Some("snap firefox")
        );
        assert_eq!(
            parse_cgroup(b"1:name=systemd:/old\n").as_deref(),
            Some("/old")
        );
        assert_eq!(
            cgroup_unit("/system.slice/cron.service").as_deref(),
            Some("cron.service")
        );
        assert!(runs_command(b"sh\0-c\0latchkey git-credential get\0"));
        assert!(!runs_command(b"bash\0"));
    }

    #[test]
    fn git_fetch_is_named_git_not_latchkey_or_its_helper() {
        let procs = table(vec![
            p(
                10,
                1,
                "gnome-terminal-",
                "/usr/libexec/gnome-terminal-server",
                0,
                false,
            ),
            p(20, 10, "bash", "/usr/bin/bash", PTS3, false),
            p(30, 20, "git", "/usr/bin/git", PTS3, false),
            p(
                40,
                30,
                "git-remote-http",
                "/usr/lib/git-core/git-remote-https",
                PTS3,
                false,
            ),
            p(50, 40, "sh", "/usr/bin/dash", PTS3, true),
            p(60, 50, "latchkey", "/usr/bin/latchkey", PTS3, false),
        ]);
        let r = Requester::inspect(&procs, 60);
        assert_eq!(r.name, "git");
        assert_eq!(r.pid, 30);
        assert_eq!(r.executable.as_deref(), Some("/usr/bin/git"));
        assert_eq!(r.tty.as_deref(), Some("pts/3"));
        assert_eq!(r.shell.as_deref(), Some("bash"));
        assert_eq!(r.terminal.as_deref(), Some("gnome-terminal-"));
        assert_eq!(r.session_key(), "/usr/bin/git|tty:pts/3");
        assert_eq!(
            r.line(),
            "git (/usr/bin/git, pid 30) in bash on pts/3, gnome-terminal-, unit app-gnome-org.gnome.Terminal-77.scope"
        );
    }

    #[test]
    fn latchkey_typed_at_a_shell_is_latchkey_and_a_script_is_the_script() {
        let procs = table(vec![
            p(20, 1, "bash", "/usr/bin/bash", PTS3, false),
            p(60, 20, "latchkey", "/usr/bin/latchkey", PTS3, false),
            p(70, 20, "python3", "/usr/bin/python3.11", PTS3, false),
            p(80, 70, "latchkey", "/usr/bin/latchkey", PTS3, false),
        ]);
        let typed = Requester::inspect(&procs, 60);
        assert_eq!(typed.name, "latchkey");
        assert_eq!(typed.shell.as_deref(), Some("bash"));
        let script = Requester::inspect(&procs, 80);
        assert_eq!(script.name, "python3.11");
        assert_ne!(typed.session_key(), script.session_key());
        // After the front handed over (same pid, now the full CLI in libexec): still
        // `latchkey` typed at bash, and a script's call still the script's.
        let procs = table(vec![
            p(20, 1, "bash", "/usr/bin/bash", PTS3, false),
            p(
                60,
                20,
                "latchkey-full",
                "/usr/libexec/latchkey/latchkey-full",
                PTS3,
                false,
            ),
            p(70, 20, "python3", "/usr/bin/python3.11", PTS3, false),
            p(
                80,
                70,
                "latchkey-full",
                "/usr/libexec/latchkey/latchkey-full",
                PTS3,
                false,
            ),
        ]);
        let typed = Requester::inspect(&procs, 60);
        assert_eq!(typed.name, "latchkey");
        assert_eq!(typed.shell.as_deref(), Some("bash"));
        assert_eq!(Requester::inspect(&procs, 80).name, "python3.11");
    }

    #[test]
    fn window_ssh_and_unknown_callers() {
        let procs = table(vec![
            p(5, 1, "latchkey-app", "/usr/bin/latchkey-app", 0, false),
            p(6, 1, "ssh", "/usr/bin/ssh", 0, false),
        ]);
        let w = Requester::inspect(&procs, 5);
        assert!(w.window);
        assert_eq!(w.line(), "Latchkey (window, pid 5)");
        let s = Requester::inspect(&procs, 6);
        assert!(s.over_ssh);
        assert!(s.line().contains("over SSH forwarding"), "{}", s.line());
        assert_eq!(s.session_key(), "/usr/bin/ssh|ssh:6");
        let u = Requester::inspect(&procs, 999);
        assert_eq!(u.name, "unknown program");
        assert_eq!(u.session_key(), "unknown program|pid:999");
    }

    #[test]
    fn a_loop_in_the_table_ends() {
        let procs = table(vec![
            p(7, 8, "latchkey", "/usr/bin/latchkey", 0, false),
            p(8, 7, "latchkey", "/usr/bin/latchkey", 0, false),
        ]);
        let r = Requester::inspect(&procs, 7);
        assert_eq!(r.name, "latchkey");
    }

    #[test]
    fn this_process_is_readable() {
        let me = Requester::this_process();
        assert!(me.executable.is_some(), "{me:?}");
        assert!(me.pid > 0);
    }
}
