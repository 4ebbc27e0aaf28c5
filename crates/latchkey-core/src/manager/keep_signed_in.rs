//! Keep signed in: an account marked so (`latchkey add/edit --keep-signed-in`) is renewed ahead
//! of its expiry by whichever long-lived process runs — `latchkey agent` (the process that owns
//! the tokens; every [`KEEP_SIGNED_IN_SWEEP`], see `agent/server.rs`) and the desktop app's
//! background sweep — without any client asking.
//!
//! The policy is here and pure: [`margin_for`] (how long before expiry, from the token's
//! lifetime) and [`due_for_refresh`] (which account). [`LoginManager::keep_signed_in`] runs one
//! sweep over a list of summaries through the refresh protocol ([`LoginManager::access_token`]
//! with the margin as `min_ttl`: the same locks and re-read as every other caller, so two
//! sweeping processes never refresh twice) and returns what happened to each account; the
//! shell decides what to tell the user (the app notifies about [`Kept::NeedsSignIn`]).

use super::*;

/// How often a keep-signed-in sweep runs (the agent; the app's background sweep too).
pub const KEEP_SIGNED_IN_SWEEP: Duration = Duration::from_secs(15);
/// Accounts marked "keep signed in" are renewed when less than this is left (at most).
pub const KEEP_SIGNED_IN_MARGIN: Duration = Duration::from_secs(120);
/// The margin never goes below one sweep plus some slack, so a token cannot expire between
/// two sweeps.
pub const MIN_KEEP_SIGNED_IN_MARGIN: Duration =
    Duration::from_secs(KEEP_SIGNED_IN_SWEEP.as_secs() + 5);

/// The keep-signed-in margin for a token that lives `lifetime` seconds: a quarter of it,
/// between [`MIN_KEEP_SIGNED_IN_MARGIN`] and [`KEEP_SIGNED_IN_MARGIN`]. A fixed 120 s margin
/// would renew a 100 s token on every sweep.
pub fn margin_for(lifetime: Option<i64>) -> Duration {
    match lifetime {
        Some(l) if l > 0 => Duration::from_secs(l.unsigned_abs() / 4)
            .clamp(MIN_KEEP_SIGNED_IN_MARGIN, KEEP_SIGNED_IN_MARGIN),
        _ => KEEP_SIGNED_IN_MARGIN,
    }
}

/// True if `s` is kept signed in and its token is close to expiry (less than
/// [`margin_for`] its lifetime is left, or expired) and renewable.
pub fn due_for_refresh(s: &AccountSummary) -> bool {
    let margin = i64::try_from(margin_for(s.token_lifetime).as_secs()).unwrap_or(i64::MAX);
    s.account.keep_signed_in
        && s.has_refresh_token
        && s.expires_in.is_some_and(|left| left < margin)
}

/// Which way a sweep renews a due account: this manager's own refresh (the agent, which owns
/// the tokens), or a [`crate::source::Source`] — the agent when another process serves it, else
/// its manager (the desktop app, so that one process owns the renewals while an agent runs).
pub trait Renew {
    /// The account's own token with at least `opts.min_ttl` left, renewed when it has less.
    fn renew(&self, name: &str, opts: TokenOptions) -> impl Future<Output = Result<AccessToken>>;
}

impl Renew for LoginManager {
    fn renew(&self, name: &str, opts: TokenOptions) -> impl Future<Output = Result<AccessToken>> {
        self.access_token(name, opts)
    }
}

/// What a keep-signed-in sweep did for one due account.
#[derive(Debug)]
pub enum Kept {
    /// Renewed now.
    Refreshed,
    /// Someone else had renewed it meanwhile (nothing sent).
    AlreadyFresh,
    /// The provider could not be reached (or answered late); the current token stays.
    Degraded(String),
    /// The account needs the user to sign in again.
    NeedsSignIn(Error),
    /// Another failure (logged; the next sweep tries again).
    Failed(Error),
}

/// One account of a sweep.
#[derive(Debug)]
pub struct KeptAccount {
    /// The account's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// What happened.
    pub outcome: Kept,
}

impl LoginManager {
    /// One keep-signed-in sweep over `summaries`: every account [`due_for_refresh`] is renewed
    /// with its [`margin_for`] as `min_ttl`. Returns the accounts it touched.
    pub async fn keep_signed_in(
        &self,
        summaries: &[AccountSummary],
        through: &impl Renew,
    ) -> Vec<KeptAccount> {
        let mut out = Vec::new();
        for s in summaries.iter().filter(|s| due_for_refresh(s)) {
            let name = &s.account.name;
            let opts = TokenOptions {
                min_ttl: Some(margin_for(s.token_lifetime)),
                force: false,
            };
            let result = through.renew(name, opts).await;
            let outcome = match result {
                Ok(t) if t.refreshed => {
                    tracing::info!(account = %name, "kept signed in: renewed ahead of expiry");
                    Kept::Refreshed
                }
                Ok(AccessToken {
                    degraded: Some(why),
                    ..
                }) => {
                    tracing::warn!(account = %name, "kept signed in: not renewed now: {why}");
                    Kept::Degraded(why)
                }
                Ok(_) => Kept::AlreadyFresh,
                Err(e) if e.kind() == ErrorKind::NeedsSignIn => Kept::NeedsSignIn(e),
                Err(e) => {
                    tracing::warn!(account = %name, kind = %e.kind(), "kept signed in: renewal failed: {e}");
                    Kept::Failed(e)
                }
            };
            out.push(KeptAccount {
                id: s.account.id,
                name: name.clone(),
                outcome,
            });
        }
        out
    }

    /// One sweep over the accounts marked keep-signed-in, read here (metadata and the recorded
    /// token state, as [`Self::summaries`] does), renewing through this manager: what the agent
    /// runs every [`KEEP_SIGNED_IN_SWEEP`].
    pub async fn keep_signed_in_sweep(&self) -> Result<Vec<KeptAccount>> {
        let mut summaries = Vec::new();
        for a in self.accounts()?.into_iter().filter(|a| a.keep_signed_in) {
            let tokens = self.listed_tokens(&a).await;
            summaries.push(self.summarize_with(a, tokens).await);
        }
        Ok(self.keep_signed_in(&summaries, self).await)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_margin_scales_with_the_token_lifetime() {
        // 100 s tokens: renewed with 25 s left (every ~75 s), not on every 15 s sweep.
        assert_eq!(margin_for(Some(100)), Duration::from_secs(25));
        assert!(margin_for(Some(100)) < Duration::from_secs(100) - KEEP_SIGNED_IN_SWEEP);
        assert_eq!(margin_for(Some(3600)), KEEP_SIGNED_IN_MARGIN);
        // Never below one sweep (a token must not expire between sweeps).
        assert_eq!(margin_for(Some(30)), MIN_KEEP_SIGNED_IN_MARGIN);
        assert!(MIN_KEEP_SIGNED_IN_MARGIN > KEEP_SIGNED_IN_SWEEP);
        assert_eq!(margin_for(None), KEEP_SIGNED_IN_MARGIN);
        assert_eq!(margin_for(Some(-5)), KEEP_SIGNED_IN_MARGIN);
    }
}
