//! Approval and activity commands: `lock`, `pending`, `approve`, `deny`, `approvals`,
//! `activity`. Each is one core call through the source (the agent holds the prompts and the
//! session grants); the words are in [`crate::output`].

use latchkey_core::activity::Filter;
use latchkey_core::approval::Decision;

use super::*;

/// `latchkey lock`: the agent ends its session grants and forgets its vault key; the cached
/// vault key is forgotten too.
pub async fn lock(direct: &DirectPath, json: bool) -> Result<u8, Error> {
    let locked = direct.source().lock().await?;
    output::locked(&locked, json);
    Ok(0)
}

/// `latchkey pending`.
pub async fn pending(direct: &DirectPath, json: bool) -> Result<u8, Error> {
    let pending = direct.source().pending().await?;
    output::pending(&pending, json);
    Ok(0)
}

/// `latchkey approve ID [--session|--always]`.
pub async fn approve(direct: &DirectPath, a: ApproveArgs, json: bool) -> Result<u8, Error> {
    let decision = if a.always {
        Decision::Always
    } else if a.session {
        Decision::Session
    } else {
        Decision::Once
    };
    let p = direct.source().decide(&a.id, decision).await?;
    output::decided(&p, decision, json || a.json);
    Ok(0)
}

/// `latchkey deny ID`.
pub async fn deny(direct: &DirectPath, d: IdArg, json: bool) -> Result<u8, Error> {
    let p = direct.source().decide(&d.id, Decision::Deny).await?;
    output::decided(&p, Decision::Deny, json || d.json);
    Ok(0)
}

/// `latchkey approvals [--revoke ID]`.
pub async fn approvals(direct: &DirectPath, a: ApprovalsArgs, json: bool) -> Result<u8, Error> {
    let json = json || a.json;
    let source = direct.source();
    if let Some(id) = &a.revoke {
        let r = source.revoke(id).await?;
        output::revoked(&r, json);
        return Ok(0);
    }
    let all = source.approvals().await?;
    output::approvals(&all, json);
    Ok(0)
}

/// `latchkey activity [NAME] [--since D] [--json]`: through the agent (which writes its own
/// records still on their way first), else read from the file.
pub async fn activity(direct: &DirectPath, a: ActivityArgs, json: bool) -> Result<u8, Error> {
    let now = time::OffsetDateTime::now_utc();
    let source = direct.source();
    let records = source
        .activity(&Filter {
            account: a.name.clone(),
            since: a
                .since
                .map(|s| now - time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2))),
            limit: a.limit,
        })
        .await?;
    if records.is_empty()
        && let Some(name) = &a.name
    {
        // A mistyped name says so rather than "no activity".
        direct.manager()?.account(name)?;
    }
    output::activity(&records, json || a.json);
    Ok(0)
}
