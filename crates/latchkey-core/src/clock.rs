//! Time and waiting, injectable so tests can move the clock.
//!
//! Every wait of the core that is about protocol time (refresh backoff, device polling, the
//! keychain write retry) goes through [`Clock::sleep`], and every "is it expired" through
//! [`Clock::now`]. [`SystemClock`] is real time; [`OffsetClock`] is real time shifted by a test;
//! [`ManualClock`] is fully virtual (a sleep moves it forward at once and is recorded), so
//! in-process tests of backoff and polling take no real time. Deadlines that guard against real
//! hangs (keychain calls, the loopback listener, lock files) stay on `tokio::time`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

/// A source of "now" and a way to wait.
pub trait Clock: Send + Sync + 'static {
    /// The current time (UTC).
    fn now(&self) -> OffsetDateTime;

    /// Waits `duration` (real time by default).
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The system clock shifted by an adjustable offset (tests: "wait past expiry" without waiting).
#[derive(Debug, Default, Clone)]
pub struct OffsetClock {
    offset_ms: Arc<AtomicI64>,
}

impl OffsetClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: time::Duration) {
        self.offset_ms
            .fetch_add(by.whole_milliseconds() as i64, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// A virtual clock for tests: it stands still until [`Self::advance`] or a [`Clock::sleep`],
/// which moves it forward at once and is recorded ([`Self::sleeps`]).
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<OffsetDateTime>>,
    sleeps: Arc<Mutex<Vec<Duration>>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
            sleeps: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = match self.now.lock() {
            Ok(n) => n,
            Err(p) => p.into_inner(),
        };
        *now += by;
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        match self.sleeps.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        match self.now.lock() {
            Ok(n) => *n,
            Err(p) => *p.into_inner(),
        }
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let this = self.clone();
        Box::pin(async move {
            match this.sleeps.lock() {
                Ok(mut s) => s.push(duration),
                Err(p) => p.into_inner().push(duration),
            }
            this.advance(duration);
            // A real sleep yields; so does this one, so other tasks get to run.
            tokio::task::yield_now().await;
        })
    }
}
