//! The one backoff rule: the pause before retry number `attempt` (1 = the first retry) is
//! `first × 2^(attempt−1)`, at most `max`, optionally spread by ±50 % jitter so that callers
//! that failed together do not retry together.
//!
//! Used by a token renewal whose provider is unreachable (with jitter: many processes may
//! share one provider), the agent's retries of rotated sets the keychain refused, the
//! keychain write retries of a process without token memory, the lock-file polling, and the
//! desktop app's sweeps while the keychain is unreadable. Pure: the caller sleeps (through its
//! [`crate::clock::Clock`] when the wait is protocol time).

use std::time::Duration;

use rand::Rng;

/// A doubling backoff (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first pause.
    pub first: Duration,
    /// The longest pause (before jitter).
    pub max: Duration,
    /// Spread each pause by ±50 % (uniformly).
    pub jitter: bool,
}

impl Backoff {
    /// Doubling from `first` up to `max`, without jitter.
    pub const fn doubling(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            jitter: false,
        }
    }

    /// The same with ±50 % jitter.
    pub const fn jittered(self) -> Self {
        Backoff {
            jitter: true,
            ..self
        }
    }

    /// The pause before retry `attempt` (1-based; 0 is taken as 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let base = self.first.saturating_mul(1u32 << doublings).min(self.max);
        if self.jitter {
            let factor: f64 = rand::rng().random_range(0.5..1.5);
            Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
        } else {
            base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum() {
        let b = Backoff::doubling(Duration::from_secs(1), Duration::from_secs(15));
        let seen: Vec<u64> = (1..=6).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(seen, [1, 2, 4, 8, 15, 15]);
        assert_eq!(b.delay(0), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(15));
    }

    #[test]
    fn jitter_stays_within_half_either_side() {
        let b = Backoff::doubling(Duration::from_millis(400), Duration::MAX).jittered();
        for attempt in 1..=4 {
            let base = 400u128 << (attempt - 1);
            for _ in 0..50 {
                let d = b.delay(attempt).as_millis();
                assert!(d >= base / 2 && d <= base * 3 / 2, "{attempt}: {d}");
            }
        }
    }
}
