//! Account commands: add, edit, list, status, logout, remove.

use super::*;

/// `latchkey add`.
pub async fn add(direct: &DirectPath, a: Box<AddArgs>) -> Result<u8, Error> {
    let m = direct.manager()?;
    let secret = if a.client_secret_stdin {
        Some(read_secret_stdin()?)
    } else {
        None
    };
    let spec = provider_spec(&a.provider)?;
    let account = m
        .add(NewAccount {
            name: a.name.clone(),
            provider: spec,
            client_id: a.client_id.clone(),
            client_secret: secret,
            scopes: split_scopes(&a.scope),
            redirect: a.redirect.unwrap_or_default(),
            port: a.port,
            keep_signed_in: a.keep_signed_in,
            approval: a.approval.unwrap_or_default(),
            approval_ttl: a.approval_ttl,
            label: a.label.clone(),
            flow: a.flow.unwrap_or_default(),
            client_auth: a.auth,
            dpop: a.dpop,
            resources: a.resource.clone(),
            offline_consent: a.offline_consent.then_some(true),
        })
        .await?;
    output::added(&account);
    Ok(0)
}

/// `latchkey edit`.
pub async fn edit(direct: &DirectPath, e: EditArgs) -> Result<u8, Error> {
    let m = direct.manager()?;
    let secret = if e.client_secret_stdin {
        Some(Some(read_secret_stdin()?))
    } else if e.remove_client_secret {
        Some(None)
    } else {
        None
    };
    let scopes = if e.scope.is_empty() {
        None
    } else {
        Some(split_scopes(&e.scope))
    };
    let port = match (e.port, e.ephemeral_port) {
        (Some(p), _) => Some(Some(p)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let label = match (e.label, e.remove_label) {
        (Some(l), _) => Some(Some(l)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let out = m
        .edit(
            &e.name,
            AccountEdit {
                label,
                client_id: e.client_id,
                client_secret: secret,
                scopes,
                redirect: e.redirect,
                port,
                keep_signed_in: e.keep_signed_in,
                approval: e.approval,
                approval_ttl: e.approval_ttl,
                session_max_secs: e.session_max.map(|s| (s > 0).then_some(s)),
                session_warning_secs: e.session_warning.map(|s| (s > 0).then_some(s)),
                flow: e.flow,
                client_auth: e.auth.map(Some),
                dpop: e.dpop,
                per_account_redirect: e.per_account_redirect.then_some(true),
                resources: if e.remove_resources {
                    Some(Vec::new())
                } else if e.resource.is_empty() {
                    None
                } else {
                    Some(e.resource)
                },
                offline_consent: e.offline_consent,
            },
        )
        .await?;
    output::edited(&out);
    Ok(0)
}

/// `latchkey list`.
pub async fn list(direct: &DirectPath, l: JsonFlag, json: bool) -> Result<u8, Error> {
    let (all, _) = direct.source().list().await?;
    output::list(&all, json || l.json);
    Ok(0)
}

/// `latchkey status`.
pub async fn status(direct: &DirectPath, s: StatusArgs, json: bool) -> Result<u8, Error> {
    let (all, served) = direct.source().accounts(s.name.as_deref()).await?;
    let ok = output::status(&all, json || s.json, served);
    // Which store holds the secrets, when this process read them itself.
    if !(json || s.json)
        && let Some(m) = direct.made()
        && let Some(choice) = m.keychain().choice().await
    {
        output::store_line(&choice);
    }
    Ok(if ok { 0 } else { 3 })
}

/// `latchkey logout`.
pub async fn logout(direct: &DirectPath, l: NameArg, json: bool) -> Result<u8, Error> {
    let m = direct.manager()?;
    let report = m.logout(&l.name).await?;
    output::logged_out(&report, false, json || l.json);
    Ok(0)
}

/// `latchkey remove`.
pub async fn remove(direct: &DirectPath, r: NameArg, json: bool) -> Result<u8, Error> {
    let m = direct.manager()?;
    let report = m.remove(&r.name).await?;
    output::logged_out(&report, true, json || r.json);
    Ok(0)
}
