//! A blocking connection to the agent: std's `UnixStream`, no runtime.
//!
//! [`Connection::open`] checks the default socket directory ([`crate::socket::check_private_dir`]),
//! connects, and sends nothing before it knows who answers: a server of another uid (one that
//! created the path first) gets no request and its answers are never read (`SO_PEERCRED`).
//! Reads and writes share one deadline, so an agent that answers a byte at a time cannot hold a
//! client past it (a timeout per `read` could).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::frame::{self, FrameError};

/// Why no connection was made.
#[derive(Debug)]
pub struct OpenError {
    /// For `-v` and the log.
    pub reason: String,
    /// The socket or its directory cannot be trusted (another uid, a directory open to
    /// others): worth a warning, not just a fallback.
    pub untrusted: bool,
}

impl OpenError {
    fn plain(reason: String) -> Self {
        OpenError {
            reason,
            untrusted: false,
        }
    }
}

/// A connection to an agent of this uid, with a deadline for everything said on it.
#[cfg(unix)]
#[derive(Debug)]
pub struct Connection {
    stream: std::os::unix::net::UnixStream,
    until: Instant,
}

#[cfg(unix)]
impl Connection {
    /// Connects to the agent at `path`, which must be served by this uid (see the module doc).
    pub fn open(path: &Path, deadline: Duration) -> Result<Connection, OpenError> {
        use std::os::unix::net::UnixStream;
        let shown = path.display();
        if crate::socket::in_default_dir(path)
            && let Some(dir) = path.parent()
        {
            crate::socket::check_private_dir(dir).map_err(|why| OpenError {
                reason: format!("the agent's directory cannot be trusted: {why}"),
                untrusted: true,
            })?;
        }
        let stream = UnixStream::connect(path).map_err(|e| {
            OpenError::plain(match e.kind() {
                std::io::ErrorKind::NotFound => format!("no agent socket at {shown}"),
                std::io::ErrorKind::ConnectionRefused => {
                    format!("no agent listening at {shown} (stale socket)")
                }
                _ => format!("cannot connect to the agent at {shown}: {e}"),
            })
        })?;
        Self::checked(stream, &shown.to_string(), deadline)
    }

    /// A connection already made (handed over by the `latchkey` front on standard input): it
    /// must be a socket served by this uid, like one [`Self::open`] makes.
    pub fn adopt(
        stream: std::os::unix::net::UnixStream,
        deadline: Duration,
    ) -> Result<Connection, OpenError> {
        Self::checked(stream, "the handed-over connection", deadline)
    }

    fn checked(
        stream: std::os::unix::net::UnixStream,
        shown: &str,
        deadline: Duration,
    ) -> Result<Connection, OpenError> {
        let server_uid = peer_uid(&stream)
            .map_err(|e| OpenError::plain(format!("cannot tell who serves {shown}: {e}")))?;
        let me = crate::current_uid();
        if server_uid != me {
            return Err(OpenError {
                reason: format!(
                    "{shown} is served by uid {server_uid}, not by you (uid {me}); not used"
                ),
                untrusted: true,
            });
        }
        Ok(Connection {
            stream,
            until: Instant::now() + deadline,
        })
    }

    /// Sends one frame.
    pub fn send(&mut self, json: &[u8]) -> std::io::Result<()> {
        frame::write_frame(self, json)
    }

    /// Reads one frame of at most `max` bytes.
    pub fn read(&mut self, max: usize) -> Result<Vec<u8>, FrameError> {
        frame::read_frame(self, max)
    }

    /// From now, `deadline` more for everything said on this connection (the agent said the
    /// answer waits for a person).
    pub fn extend(&mut self, deadline: Duration) {
        self.until = Instant::now() + deadline;
    }

    /// The stream, for handing over to another process.
    pub fn into_stream(self) -> std::os::unix::net::UnixStream {
        self.stream
    }

    fn left(&self) -> std::io::Result<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(std::io::ErrorKind::TimedOut.into())
        } else {
            Ok(left)
        }
    }
}

#[cfg(unix)]
impl std::io::Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.stream.set_read_timeout(Some(left))?;
        std::io::Read::read(&mut self.stream, buf)
    }
}

#[cfg(unix)]
impl std::io::Write for Connection {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.stream.set_write_timeout(Some(left))?;
        std::io::Write::write(&mut self.stream, buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut self.stream)
    }
}

/// Whether a frame error is the deadline passing (rather than the agent closing or garbling).
pub fn timed_out(e: &FrameError) -> bool {
    matches!(e, FrameError::Io(e) if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ))
}

/// The uid of the process that serves the connected socket (`SO_PEERCRED`: the listener's
/// credentials as of its `listen`; an sshd-forwarded socket is yours, as sshd runs as you).
#[cfg(unix)]
pub fn peer_uid(stream: &std::os::unix::net::UnixStream) -> std::io::Result<u32> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let cred = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
            .map_err(std::io::Error::from)?;
        Ok(cred.uid())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let (uid, _gid) = nix::unistd::getpeereid(stream).map_err(std::io::Error::from)?;
        Ok(uid.as_raw())
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_trickling_agent_is_cut_off_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                use std::io::Write;
                let _ = conn.write_all(&[0, 0, 0xff, 0xff]);
                for _ in 0..200 {
                    std::thread::sleep(Duration::from_millis(100));
                    if conn.write_all(b" ").is_err() {
                        return;
                    }
                }
            }
        });
        let started = Instant::now();
        let mut conn = Connection::open(&path, Duration::from_secs(1)).unwrap();
        let e = conn.read(crate::MAX_RESPONSE).unwrap_err();
        assert!(timed_out(&e), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_pipe_is_not_adopted_as_the_agent() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        // A socket pair of this process: this uid, so adopted.
        assert!(Connection::adopt(a, Duration::from_secs(1)).is_ok());
        let (r, _w) = std::io::pipe().unwrap();
        let fd: std::os::fd::OwnedFd = r.into();
        let not_a_socket = std::os::unix::net::UnixStream::from(fd);
        let e = Connection::adopt(not_a_socket, Duration::from_secs(1)).unwrap_err();
        assert!(e.reason.contains("cannot tell who serves"), "{}", e.reason);
    }

    #[test]
    fn nothing_is_sent_to_a_missing_socket() {
        let dir = tempfile::tempdir().unwrap();
        let e =
            Connection::open(&dir.path().join("none.sock"), Duration::from_secs(1)).unwrap_err();
        assert!(e.reason.starts_with("no agent socket at"), "{}", e.reason);
        assert!(!e.untrusted);
    }
}
