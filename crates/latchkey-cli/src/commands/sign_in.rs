//! Sign-in commands: login (browser, loopback, scheme, device, client credentials, and the
//! no-browser mode for SSH sessions and headless machines) and complete.

use latchkey_core::headless::{self, NoBrowserReason, Pasted};
use latchkey_core::manager::SignedIn;

use super::*;

/// `latchkey login`.
pub async fn login(
    direct: &DirectPath,
    l: LoginArgs,
    json: bool,
    interrupt: Interrupt,
) -> Result<u8, Error> {
    let m = direct.manager()?;
    let account = m.account(&l.name)?;
    let opts = SignInOptions {
        replace_identity: l.replace,
        redirect: None,
        add_scopes: split_scopes(&l.add_scope),
        add_resources: l.add_resource.clone(),
        acr_values: l.acr.clone(),
        max_age: l.max_age,
    };
    let timeout = Duration::from_secs(l.timeout);
    let method = SignInMethod::for_account(&account, l.device);
    if method == SignInMethod::ClientCredentials {
        let done = m.sign_in_client_credentials(&l.name).await?;
        output::signed_in(&done, json || l.json);
        return Ok(0);
    }
    let no_browser = if l.no_browser {
        Some(NoBrowserReason::Requested)
    } else {
        headless::detect()
    };
    if let Some(reason) = no_browser {
        let done = login_without_browser(&m, &account, method, &l, opts, reason, interrupt).await?;
        output::signed_in(&done, json || l.json);
        return Ok(0);
    }
    if method == SignInMethod::Device {
        let done = device_login(&m, &l.name, opts, true, interrupt).await?;
        output::signed_in(&done, json || l.json);
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
                |start| browser::present(&start.url, false),
                interrupted(interrupt.clone()),
            )
            .await?
        }
        SignInMethod::ClientCredentials | SignInMethod::Device | SignInMethod::Scheme => {
            let started = time::OffsetDateTime::now_utc();
            let start = m.start_sign_in(&l.name, opts).await?;
            browser::present(&start.url, false);
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

/// The device flow: show the codes (and open the verification page if `open_browser`), wait
/// for approval with a countdown.
async fn device_login(
    m: &LoginManager,
    name: &str,
    opts: SignInOptions,
    open_browser: bool,
    interrupt: Interrupt,
) -> Result<SignedIn, Error> {
    let started = m.start_device_sign_in(name, opts).await?;
    output::device_codes(&started);
    if open_browser
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
    done
}

/// `latchkey login` where no browser can be opened: the device flow when asked for (or with
/// `--auto` when the provider has one), else the URL to open elsewhere, the `ssh -L` command
/// for a loopback redirect, and the final redirect URL accepted on standard input.
async fn login_without_browser(
    m: &LoginManager,
    account: &latchkey_core::Account,
    method: SignInMethod,
    l: &LoginArgs,
    opts: SignInOptions,
    reason: NoBrowserReason,
    interrupt: Interrupt,
) -> Result<SignedIn, Error> {
    eprintln!("{}", reason.explain());
    let device_capable = account.provider.endpoints.device_authorization.is_some();
    let method = headless::method_without_browser(method, device_capable, l.auto);
    if method == SignInMethod::Device {
        return device_login(m, &l.name, opts, false, interrupt).await;
    }
    let opts = SignInOptions {
        redirect: Some(if method == SignInMethod::Loopback {
            RedirectMode::Loopback
        } else {
            RedirectMode::Scheme
        }),
        ..opts
    };
    if device_capable {
        eprintln!(
            "This provider can also sign in on another device (any phone or computer): \
             `latchkey login {} --device`, or `--auto` to choose that whenever no browser can be opened.\n",
            l.name
        );
    }
    let timeout = Duration::from_secs(l.timeout);
    let started = time::OffsetDateTime::now_utc();
    let mut start = m.start_sign_in(&l.name, opts).await?;
    eprintln!(
        "To sign in, open this URL in a browser on any machine:\n\n  {}\n",
        start.url
    );
    let pasted_lines = stdin_lines();
    let result = match start.listener.take() {
        Some(listener) => {
            eprintln!(
                "After you sign in, the provider sends the browser to {redirect}.\n\
                 If that browser runs on another machine, forward the port first, from that machine:\n\n  {ssh}\n\n\
                 or paste here the address the browser ends up at (even if it shows an error page).\n\
                 Waiting for the callback (Ctrl-C cancels) …",
                redirect = start.redirect_uri,
                ssh = headless::ssh_forward_command(listener.port(), |k| std::env::var(k).ok()),
            );
            let wait = listener.wait(&start.state, timeout, |url| async move {
                let done = m.complete_sign_in(&url).await?;
                let page = format!("Signed in to Latchkey account `{}`.", done.account);
                Ok((done, page))
            });
            tokio::select! {
                r = wait => r,
                r = pasted_sign_in(m, &start.state, pasted_lines) => r,
                () = interrupted(interrupt.clone()) => Err(Error::Interrupted),
            }
        }
        None => {
            eprintln!(
                "After you sign in, the provider sends the browser to {redirect}…; \
                 paste that whole address here (the Latchkey desktop app, if it runs here, may receive it instead).\n\
                 Waiting (Ctrl-C cancels) …",
                redirect = start.redirect_uri,
            );
            tokio::select! {
                r = m.wait_for_completion(&l.name, &start.digest, started, timeout) => r,
                r = pasted_sign_in(m, &start.state, pasted_lines) => r,
                () = interrupted(interrupt.clone()) => Err(Error::Interrupted),
            }
        }
    };
    if result.is_err() {
        // Consumed already if a callback was completed; otherwise clean up.
        let _ = m.cancel_sign_in(&start.digest).await;
    }
    result
}

/// Lines of standard input, read on their own thread (a blocking read must not hold up the
/// runtime). The channel closes at end of input.
/// Each line is at most [`headless::MAX_PASTED_LINE`] bytes; a longer one is dropped with a
/// notice.
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        loop {
            let line = match headless::read_pasted_line(&mut input, headless::MAX_PASTED_LINE) {
                Ok(headless::PastedLine::Line(line)) => line,
                Ok(headless::PastedLine::TooLong) => {
                    eprintln!(
                        "latchkey: refused the pasted text: a line over {} KiB is not a sign-in address. Still waiting …",
                        headless::MAX_PASTED_LINE / 1024
                    );
                    continue;
                }
                Ok(headless::PastedLine::End) | Err(_) => break,
            };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Completes the sign-in with the first pasted URL that carries its `state`; anything else is
/// refused with a reason and the wait goes on. At end of input it waits forever (the loopback
/// or app callback may still come).
async fn pasted_sign_in(
    m: &LoginManager,
    state: &Secret,
    mut lines: tokio::sync::mpsc::UnboundedReceiver<String>,
) -> Result<SignedIn, Error> {
    while let Some(line) = lines.recv().await {
        match headless::classify_pasted(&line, state) {
            Pasted::Empty => {}
            Pasted::Refused(why) => {
                eprintln!("latchkey: refused the pasted address: {why}. Still waiting …");
            }
            Pasted::ThisSignIn(url) => return m.complete_sign_in(&url).await,
        }
    }
    std::future::pending().await
}

/// `latchkey complete`.
pub async fn complete(direct: &DirectPath, c: CompleteArgs, json: bool) -> Result<u8, Error> {
    let m = direct.manager()?;
    let done = m.complete_sign_in(&c.url).await?;
    output::signed_in(&done, json || c.json);
    Ok(0)
}
