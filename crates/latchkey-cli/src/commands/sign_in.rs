//! Sign-in commands: login (browser, loopback, scheme, device, client credentials) and complete.

use super::*;

/// `latchkey login`.
pub async fn login(l: LoginArgs, json: bool, interrupt: Interrupt) -> Result<u8, Error> {
    let m = manager()?;
    let account = m.account(&l.name)?;
    let opts = SignInOptions {
        replace_identity: l.replace,
        redirect: None,
    };
    let timeout = Duration::from_secs(l.timeout);
    let method = SignInMethod::for_account(&account, l.device);
    if method == SignInMethod::ClientCredentials {
        let done = m.sign_in_client_credentials(&l.name).await?;
        output::signed_in(&done, json || l.json);
        return Ok(0);
    }
    if method == SignInMethod::Device {
        let started = m.start_device_sign_in(&l.name, opts).await?;
        output::device_codes(&started);
        if !l.no_browser
            && let Some(url) = &started.verification_uri_complete
            && let Err(e) = latchkey_core::browser::open(url)
        {
            eprintln!("(could not open a browser: {e})");
        }
        let done = tokio::select! {
            r = m.finish_device_sign_in(&started, interrupted(interrupt.clone())) => r,
            () = output::countdown(started.expires_at) => Err(Error::Interrupted),
        };
        output::end_countdown();
        output::signed_in(&done?, json || l.json);
        return Ok(0);
    }
    let done = match method {
        SignInMethod::Loopback => {
            m.sign_in_loopback(
                &l.name,
                SignInOptions {
                    redirect: Some(RedirectMode::Loopback),
                    ..opts
                },
                timeout,
                |start| browser::present(&start.url, l.no_browser),
                interrupted(interrupt.clone()),
            )
            .await?
        }
        SignInMethod::ClientCredentials | SignInMethod::Device | SignInMethod::Scheme => {
            let started = time::OffsetDateTime::now_utc();
            let start = m.start_sign_in(&l.name, opts).await?;
            browser::present(&start.url, l.no_browser);
            eprintln!(
                "Waiting for the Latchkey desktop app to receive the callback at {} …",
                start.redirect_uri
            );
            let waited = tokio::select! {
                r = m.wait_for_completion(&l.name, &start.digest, started, timeout) => r,
                () = interrupted(interrupt.clone()) => Err(Error::Interrupted),
            };
            if waited.is_err()
                && let Err(e) = m.cancel_sign_in(&start.digest).await
            {
                tracing::warn!(error = %e, "could not remove the abandoned sign-in");
            }
            waited?
        }
    };
    output::signed_in(&done, json || l.json);
    Ok(0)
}

/// `latchkey complete`.
pub async fn complete(c: CompleteArgs, json: bool) -> Result<u8, Error> {
    let m = manager()?;
    let done = m.complete_sign_in(&c.url).await?;
    output::signed_in(&done, json || c.json);
    Ok(0)
}
