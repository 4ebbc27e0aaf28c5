//! A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON
//! (`docs/agent-protocol.md`). A length over the reader's bound ends the connection before the
//! body is read; the body is grown as bytes arrive, never allocated from the announced length.

use std::io::{Read, Write};

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the connection before a frame began.
    Closed,
    /// The announced length is over the bound.
    TooLarge(usize),
    /// I/O failure (including a deadline: `WouldBlock`/`TimedOut`, or a truncated frame).
    Io(std::io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => f.write_str("connection closed"),
            FrameError::TooLarge(n) => write!(f, "frame of {n} bytes is over the limit"),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// Encodes one frame.
pub fn encode(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + json.len());
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(json);
    out
}

/// Writes one frame (blocking).
pub fn write_frame(w: &mut impl Write, json: &[u8]) -> std::io::Result<()> {
    w.write_all(&encode(json))?;
    w.flush()
}

/// The announced length of a frame whose 4-byte header is `len`, or why it is refused.
pub fn announced(len: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let n = u32::from_be_bytes(len) as usize;
    if n > max {
        Err(FrameError::TooLarge(n))
    } else {
        Ok(n)
    }
}

/// Reads one frame of at most `max` bytes (blocking; the caller sets the read timeout).
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let n = announced(len, max)?;
    let mut buf = Vec::with_capacity(n.min(64 * 1024));
    r.take(n as u64).read_to_end(&mut buf)?;
    if buf.len() < n {
        return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip_and_bounds_hold() {
        let bytes = encode(br#"{"v":1}"#);
        assert_eq!(&bytes[..4], &[0, 0, 0, 7]);
        assert_eq!(read_frame(&mut &bytes[..], 64).unwrap(), br#"{"v":1}"#);
        assert!(matches!(
            read_frame(&mut &bytes[..], 6),
            Err(FrameError::TooLarge(7))
        ));
        assert!(matches!(
            read_frame(&mut &bytes[..bytes.len() - 1], 64),
            Err(FrameError::Io(_))
        ));
        assert!(matches!(
            read_frame(&mut &bytes[..2], 64),
            Err(FrameError::Io(_))
        ));
        assert!(matches!(
            read_frame(&mut &b""[..], 64),
            Err(FrameError::Closed)
        ));
        // A huge announced length is refused without allocating it.
        assert!(matches!(
            read_frame(&mut &[0xff, 0xff, 0xff, 0xff][..], 64),
            Err(FrameError::TooLarge(_))
        ));
    }
}
