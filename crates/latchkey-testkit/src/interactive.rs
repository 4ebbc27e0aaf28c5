//! A running `latchkey` command a test talks to as a person would: it waits for a line on its
//! stderr (a sign-in URL, a device code, a refusal), pastes a line on its stdin, and collects
//! the exit code and all output at the end. Plus the headless browser run by hand, for the
//! sign-ins a test completes itself (paste the redirect, device code).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::{browser_command, code, stdout};

/// A running command whose stderr lines arrive on a channel.
pub struct Interactive {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Interactive {
    /// Starts `cmd` with piped stdin, stdout and stderr.
    pub fn spawn(mut cmd: Command) -> Interactive {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in err.lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Interactive {
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first stderr line (trimmed) for which `pred` holds, among those seen so far or the
    /// next ones (60 s at most; then the command is killed and the test fails with its stderr).
    pub fn line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| pred(l.trim())) {
            return l.trim().to_string();
        }
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(l.trim()) {
                        return l.trim().to_string();
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "the command printed no {what}; stderr so far:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// Writes `text` and a newline on its stdin.
    pub fn paste(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
    }

    /// Closes its stdin and waits for the exit: (exit code, stdout, all of stderr).
    pub fn finish(mut self) -> (i32, String, String) {
        drop(self.stdin.take());
        let out = self.child.wait_with_output().unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        (code(&out), stdout(&out), self.seen.join("\n"))
    }
}

/// Whether a (trimmed) line is a URL.
pub fn is_url(l: &str) -> bool {
    l.starts_with("http://") || l.starts_with("https://")
}

/// The headless browser signs in at `url` as alice. With `print`, it prints the final redirect
/// instead of following it (what a person copies); without, it delivers the callback itself
/// and prints nothing.
pub fn browse(url: &str, print: bool) -> String {
    let mut words = browser_command()
        .split(' ')
        .map(str::to_string)
        .collect::<Vec<_>>();
    let mut cmd = Command::new(words.remove(0));
    cmd.args(words)
        .arg(url)
        .env_remove("LATCHKEY_TEST_DEEP_LINK_CMD");
    if print {
        cmd.env("LATCHKEY_TEST_BROWSER_DELIVER", "print");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "browser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
