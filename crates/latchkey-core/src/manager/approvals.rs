//! The manager's side of approval and activity (see [`crate::approval`] and
//! [`crate::activity`]): [`LoginManager::admit`] — THE approval decision of every hand-out —,
//! the gated hand-outs of an account's token and of a request made with it, the prompts and
//! grants the shells list and answer, and the activity they read.

use super::*;
use crate::activity::{ActivityRecord, Outcome};
use crate::approval::{
    Admission, ApprovalMode, ApprovalPolicy, Ask, Decision, Origin, PendingApproval, SessionGrant,
    remembered,
};
use crate::handout::Asker;

/// The approvals there are: remembered decisions and live session grants.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Approvals {
    /// "Always for this program" decisions.
    pub remembered: Vec<remembered::Remembered>,
    /// Live session grants (of the process that serves; empty on the direct path).
    pub sessions: Vec<SessionGrant>,
    /// The last time grants were ended (lock), if they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_lock: Option<crate::approval::LockEvent>,
}

/// What [`LoginManager::lock`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Locked {
    /// Session grants ended.
    pub grants_ended: usize,
    /// A cached vault key was removed.
    pub vault_key_removed: bool,
}

impl LoginManager {
    /// The approval state of this process (prompts and session grants).
    pub fn gate(&self) -> &Arc<crate::approval::Gate> {
        &self.gate
    }

    /// THE approval decision of a hand-out (see [`crate::approval`]): admitted, or
    /// [`Error::Denied`] saying why. Waits for the owner's answer when a prompt is needed.
    pub async fn admit(
        &self,
        asker: &Asker<'_>,
        account: &Account,
        ask: &Ask,
    ) -> Result<Admission> {
        let policy = ApprovalPolicy::of(account);
        if policy.mode == ApprovalMode::Off {
            return Ok(Admission::NotRequired);
        }
        let requester = match asker.origin {
            Origin::Window => return Ok(Admission::Window),
            Origin::Direct(_) => {
                return Err(Error::Denied {
                    message: format!(
                        "account `{}` asks for approval before its tokens are handed out ({}), and only the agent or the Latchkey window can ask you; this process has no agent to ask",
                        account.name,
                        policy.describe()
                    ),
                    timed_out: false,
                }
                .with_remedy(Remedy::StartAgent));
            }
            Origin::Peer(p) => p.requester(),
        };
        let dir = self.opts.paths.dir();
        let program = requester.executable.clone();
        if let Some(p) = &program {
            let list = remembered::list(dir)?;
            if remembered::covers(&list, &account.name, p) {
                return Ok(Admission::Remembered);
            }
        }
        let now = self.now();
        if policy.mode == ApprovalMode::Session
            && self
                .gate
                .use_grant(&account.name, &requester.session_key(), &policy, now)
        {
            return Ok(Admission::SessionGrant);
        }
        if self.gate.pending().len() >= crate::approval::MAX_PENDING {
            return Err(Error::Denied {
                message: format!(
                    "{} approval prompts wait already; {} was refused at once (answer the waiting ones first)",
                    crate::approval::MAX_PENDING,
                    requester.line()
                ),
                timed_out: false,
            }
            .with_remedy(Remedy::ListPending));
        }
        let remember = match &program {
            Some(p) => remembered::user_can_change(std::path::Path::new(p)),
            None => Err("the program's executable is not known".to_string()),
        };
        let view = self
            .gate
            .prompt(ask.clone(), requester, policy.mode, remember, now);
        tracing::info!(
            id = %view.id,
            account = %account.name,
            requester = %view.requester_line,
            "waiting for approval"
        );
        let (decision, answered) = self.gate.ask(view, asker.on_wait).await;
        let who = requester.line();
        match decision {
            Decision::Deny if answered => Err(Error::Denied {
                message: format!(
                    "you denied {who}: {} of account `{}`",
                    ask.what, account.name
                ),
                timed_out: false,
            }),
            Decision::Deny => Err(Error::Denied {
                message: format!(
                    "nobody approved {who}: {} of account `{}` (no answer within {} s)",
                    ask.what,
                    account.name,
                    self.gate.timeout().as_secs()
                ),
                timed_out: true,
            }),
            Decision::Once => Ok(Admission::Allowed),
            Decision::Session => {
                if policy.mode == ApprovalMode::Session {
                    self.gate.grant(&account.name, requester, self.now());
                }
                Ok(Admission::Allowed)
            }
            Decision::Always => {
                if let Some(p) = &program
                    && let Err(e) = remembered::add(dir, &account.name, p, self.now()).await
                {
                    tracing::warn!(error = %e, "allowed once; the decision could not be remembered");
                }
                Ok(Admission::Allowed)
            }
        }
    }

    /// The activity record of one request ([`crate::activity`]).
    pub(crate) fn record<T>(&self, asker: &Asker<'_>, ask: Ask, result: &Result<(Admission, T)>) {
        let (outcome, admission, reason) = match result {
            Ok((a, _)) => (Outcome::Issued, Some(*a), None),
            Err(Error::Denied { timed_out, message }) => (
                if *timed_out {
                    Outcome::TimedOut
                } else {
                    Outcome::Denied
                },
                None,
                Some(message.clone()),
            ),
            Err(Error::Remedied { error, .. }) if matches!(**error, Error::Denied { .. }) => {
                (Outcome::Denied, None, Some(error.to_string()))
            }
            Err(e) => (Outcome::Failed, None, Some(e.to_string())),
        };
        self.record_outcome(asker, ask, outcome, admission, reason);
    }

    /// Writes a record now, or keeps it for after the answer ([`Asker::later`]: the agent);
    /// then the requester is named only once the answer went out.
    pub(crate) fn record_outcome(
        &self,
        asker: &Asker<'_>,
        ask: Ask,
        outcome: Outcome,
        admission: Option<Admission>,
        reason: Option<String>,
    ) {
        let mut record = ActivityRecord {
            at: self.now(),
            ask,
            requester: crate::approval::Requester::unknown(0),
            outcome,
            admission,
            via: asker.origin.via().into(),
            reason: reason.map(|r| crate::text::clean(&r, crate::text::MAX_DESCRIPTION)),
        };
        match asker.later {
            Some(later) => later.push(record),
            None => {
                record.requester = asker.origin.requester();
                crate::activity::append(self.opts.paths.dir(), &record);
            }
        }
    }

    /// The counter of this process's records still to be written (see
    /// [`crate::activity::Later`]).
    pub fn activity_in_flight(&self) -> &Arc<crate::activity::InFlight> {
        &self.activity_in_flight
    }

    /// An account's token for exactly `spec` handed to `asker` (`latchkey token`, the agent's
    /// `token` operations): [`Self::admit`], [`Self::token_for`], the activity record.
    pub async fn hand_out_token(
        &self,
        asker: &Asker<'_>,
        name: &str,
        spec: &crate::target::TokenSpec,
        opts: TokenOptions,
    ) -> Result<AccessToken> {
        let ask = Ask::token(name, spec, "token", None);
        let result = async {
            let account = self.account(name)?;
            let admission = self.admit(asker, &account, &ask).await?;
            let token = self.token_for(name, spec, opts).await?;
            Ok((admission, token))
        }
        .await;
        self.record(asker, ask, &result);
        result.map(|(_, t)| t)
    }

    /// A request made with an account's token for `asker` (`latchkey request`, the agent's
    /// `request` operations): [`Self::admit`], [`Self::request_with`], the activity record.
    pub async fn hand_out_request(
        &self,
        asker: &Asker<'_>,
        name: &str,
        spec: &crate::target::TokenSpec,
        request: crate::http::ResourceRequest,
    ) -> Result<crate::http::Response> {
        let shown = crate::http::display_url(&request.url);
        let mut ask = Ask::token(name, spec, "request", Some(shown));
        ask.what = format!(
            "{} for a {} request",
            ask.what,
            crate::text::clean(&request.method, 16)
        );
        let result = async {
            let account = self.account(name)?;
            let admission = self.admit(asker, &account, &ask).await?;
            let resp = self.request_with(name, spec, request).await?;
            Ok((admission, resp))
        }
        .await;
        self.record(asker, ask, &result);
        result.map(|(_, r)| r)
    }

    /// The prompts waiting in this process.
    pub fn pending_approvals(&self) -> Vec<PendingApproval> {
        self.gate.pending()
    }

    /// Answers a waiting prompt.
    pub fn decide_approval(&self, id: &str, decision: Decision) -> Result<PendingApproval> {
        self.gate.decide(id, decision)
    }

    /// Remembered decisions and this process's live session grants.
    pub fn approvals(&self) -> Result<Approvals> {
        let accounts = self.accounts()?;
        let policy_of = |name: &str| {
            accounts
                .iter()
                .find(|a| a.name == name)
                .map(ApprovalPolicy::of)
        };
        Ok(Approvals {
            remembered: remembered::list(self.opts.paths.dir())?,
            sessions: self.gate.grants(policy_of, self.now()),
            last_lock: self.gate.last_lock(),
        })
    }

    /// Forgets a remembered decision.
    pub async fn revoke_approval(&self, id: &str) -> Result<remembered::Remembered> {
        remembered::revoke(self.opts.paths.dir(), id).await
    }

    /// `latchkey lock`: ends every session grant of this process and forgets the vault key
    /// (this process's copy and the kernel keyring's), when the store is a vault.
    pub fn lock(&self, reason: &str) -> Result<Locked> {
        let grants_ended = self.end_session_grants(reason);
        let vault_key_removed = match self.keychain().selector() {
            Some(selector) => selector.vault().lock_now()?,
            None => false,
        };
        Ok(Locked {
            grants_ended,
            vault_key_removed,
        })
    }

    /// Ends every session grant of this process; how many ended.
    pub fn end_session_grants(&self, reason: &str) -> usize {
        self.gate.lock(reason, self.now())
    }

    /// The activity records that pass `filter` (after this process's records still on their
    /// way are written, within a second).
    pub fn activity(&self, filter: &crate::activity::Filter) -> Result<Vec<ActivityRecord>> {
        self.activity_in_flight.settle(Duration::from_secs(1));
        crate::activity::read(self.opts.paths.dir(), filter)
    }

    /// An account's use per tool today (the window's "git, 12 times today, last 3m 0s ago").
    pub fn usage(&self, name: &str) -> Result<Vec<crate::activity::ToolUse>> {
        let now = self.now();
        let records = self.activity(&crate::activity::Filter {
            account: Some(name.to_string()),
            since: Some(now - time::Duration::days(31)),
            limit: 0,
        })?;
        Ok(crate::activity::usage(&records, now))
    }
}
