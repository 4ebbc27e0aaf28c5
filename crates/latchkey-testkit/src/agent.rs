//! A running `latchkey agent` for end-to-end tests: started from a command the test shapes
//! (environment, socket), ready once it logs `agent serving` (30 s at most, else the test fails
//! with the agent's log), its stderr kept line by line for assertions, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Sandbox;

/// A `latchkey agent` process; killed on drop.
pub struct Agent {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Starts `cmd` (an `agent` command, e.g. from [`Sandbox::agent_cmd`]) with its stderr
    /// collected, and waits until it serves.
    pub fn spawn(mut cmd: Command) -> Agent {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let err = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let agent = Agent { child, lines };
        agent.wait_for(|l| l.contains("agent serving"), "the agent to serve");
        agent
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it wrote to stderr so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits (30 s at most) until a stderr line matches; panics with the log otherwise.
    pub fn wait_for(&self, f: impl Fn(&str) -> bool, what: &str) {
        let start = Instant::now();
        while self.count(&f) == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}; agent log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many stderr lines match.
    pub fn count(&self, f: impl Fn(&str) -> bool) -> usize {
        self.lines.lock().unwrap().iter().filter(|l| f(l)).count()
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sandbox {
    /// `latchkey agent --socket SOCKET` with this sandbox's environment and a debug log.
    pub fn agent_cmd(&self, socket: &Path) -> Command {
        let mut cmd = self.cmd(&["agent", "--socket", &socket.to_string_lossy()]);
        cmd.env("LATCHKEY_LOG", "latchkey=debug,latchkey_core=debug");
        cmd
    }

    /// [`Sandbox::agent_cmd`] on this sandbox's socket, started and serving.
    pub fn start_agent(&self) -> Agent {
        Agent::spawn(self.agent_cmd(&self.agent_socket()))
    }
}
