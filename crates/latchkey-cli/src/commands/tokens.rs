//! Token commands: token, refresh, request, introspect.

use super::*;

/// The [`TokenSpec`] of `--scope/--resource/--audience` (empty: the account's own token).
pub fn token_spec(t: &TargetArgs) -> Result<TokenSpec, Error> {
    TokenSpec::new(&t.scope, &t.resource, t.audience.as_deref())
}

/// `latchkey token` (the agent first: [`source`]).
pub async fn token(direct: &DirectPath, t: TokenArgs, json: bool) -> Result<u8, Error> {
    let spec = token_spec(&t.target)?;
    let sasl = t
        .sasl
        .as_deref()
        .map(str::parse::<latchkey_core::tools::sasl::Mechanism>)
        .transpose()?;
    let tok = direct
        .source()
        .token(
            &t.name,
            &spec,
            TokenOptions {
                min_ttl: t.min_ttl.map(Duration::from_secs),
                force: false,
            },
        )
        .await?;
    if let Some(mechanism) = sasl {
        let who = latchkey_core::tools::sasl::Identity {
            user: t.user.as_deref().unwrap_or_default(),
            host: t.host.as_deref(),
            port: t.port,
        };
        let response = latchkey_core::tools::sasl::initial_response(
            mechanism,
            &who,
            &tok.token,
            &tok.token_type,
        )?;
        if let Some(w) = &tok.degraded {
            eprintln!("latchkey: warning: {w}");
        }
        println!("{}", response.expose());
        return Ok(0);
    }
    if t.bearer {
        let value = latchkey_core::tools::bearer_value(&tok.token, &tok.token_type)?;
        if let Some(w) = &tok.degraded {
            eprintln!("latchkey: warning: {w}");
        }
        println!("{}", value.expose());
        return Ok(0);
    }
    output::token(&tok, json || t.json);
    Ok(0)
}

/// `latchkey token NAME`, exactly that — the call scripts and tools make most — asked of the
/// agent before anything else is set up (argument parsing, logging, the runtime): the same
/// question [`token`] asks ([`Source::token_from_agent`]) and the same output. `None` when the
/// arguments have another shape, or when the direct path must serve: the reason is kept in
/// `direct`, and the command then runs as usual without asking the agent again. When the
/// `latchkey` front asked already and handed over, its hand-over says what the agent did
/// ([`Source::token_handed_over`]).
pub fn token_first(args: &[std::ffi::OsString], direct: &DirectPath) -> Option<Result<(), Error>> {
    let name = latchkey_wire::front::token_name(args)?;
    let source = direct.source();
    let asked = match latchkey_wire::front::Handoff::from_env() {
        Some(handoff) => source.token_handed_over(handoff),
        None => source.token_from_agent(name, &TokenSpec::default(), TokenOptions::default()),
    };
    match asked {
        Ok(Ok(tok)) => {
            output::token(&tok, false);
            Some(Ok(()))
        }
        Ok(Err(e)) => Some(Err(e)),
        Err(reason) => {
            direct.agent_declined(reason);
            None
        }
    }
}

/// `latchkey refresh`.
pub async fn refresh(direct: &DirectPath, r: RefreshArgs, json: bool) -> Result<u8, Error> {
    let tok = direct
        .source()
        .token(
            &r.name,
            &TokenSpec::default(),
            TokenOptions {
                min_ttl: None,
                force: r.force,
            },
        )
        .await?;
    output::refreshed(&r.name, &tok, json || r.json);
    Ok(0)
}

/// The body of `latchkey request` (`-d`, `@FILE`, `@-` for standard input).
pub fn request_body(r: &RequestArgs) -> Result<Option<Vec<u8>>, Error> {
    Ok(match r.data.as_deref() {
        None => None,
        Some("@-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Error::io("reading the request body from standard input", e))?;
            Some(buf)
        }
        Some(d) if d.starts_with('@') => {
            Some(std::fs::read(&d[1..]).map_err(|e| Error::io(format!("reading {}", &d[1..]), e))?)
        }
        Some(d) => Some(d.as_bytes().to_vec()),
    })
}

/// Method and headers of `latchkey request` (a body gets curl's default content type).
pub fn request_head(
    r: &RequestArgs,
    has_body: bool,
) -> Result<(String, Vec<(String, String)>), Error> {
    let mut headers = Vec::new();
    for (i, h) in r.headers.iter().enumerate() {
        // Never quoted: a header value is often a secret, and errors reach latchkey.log.
        let (k, v) = h.split_once(':').ok_or_else(|| {
            Error::InvalidInput(format!(
                "-H number {} has no `:`; use the form `Name: value` (the value is not shown)",
                i + 1
            ))
        })?;
        let name = k.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(Error::InvalidInput(format!(
                "-H number {}: the header name is not a valid HTTP token (the value is not shown)",
                i + 1
            )));
        }
        let value = v.trim();
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(Error::InvalidInput(format!(
                "-H {name}: the value has control characters (it is not shown)"
            )));
        }
        headers.push((name.to_string(), value.to_string()));
    }
    if has_body
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        // As curl does for -d.
        headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    let method = r
        .method
        .clone()
        .unwrap_or_else(|| if has_body { "POST" } else { "GET" }.into());
    Ok((method, headers))
}

/// `latchkey request` (the agent first, and never sent twice: [`Source::request`]).
pub async fn request(direct: &DirectPath, r: RequestArgs) -> Result<u8, Error> {
    let body = request_body(&r)?;
    let (method, headers) = request_head(&r, body.is_some())?;
    let spec = token_spec(&r.target)?;
    let resp = direct
        .source()
        .request(
            &r.name,
            &spec,
            ResourceRequest {
                method,
                url: r.url.clone(),
                headers,
                body,
            },
        )
        .await?;
    output::response_parts(resp.status, &resp.headers, &resp.body, r.include);
    explain_challenge(
        &r.name,
        resp.status,
        resp.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
            .map(|(_, v)| v.as_str()),
    );
    Ok(if resp.status >= 400 {
        crate::exit::EXIT_HTTP_ERROR_STATUS
    } else {
        0
    })
}

/// After a 401/403: what the server's `WWW-Authenticate` asks for (a scope, a stronger
/// sign-in) and the `latchkey login` command that gets it, on standard error.
pub fn explain_challenge<V: AsRef<[u8]>>(
    name: &str,
    status: u16,
    values: impl IntoIterator<Item = V>,
) {
    if let Some(x) = latchkey_core::challenge::explain(name, status, values) {
        eprintln!("latchkey: {}", crate::speak::challenge(&x));
    }
}

/// `latchkey introspect`.
pub async fn introspect(direct: &DirectPath, n: NameArg, json: bool) -> Result<u8, Error> {
    let info = direct.source().introspect(&n.name).await?;
    output::introspection(&n.name, &info, json || n.json);
    Ok(0)
}

/// `LATCHKEY_ACCOUNT`, the override of the selection rules.
pub fn account_override() -> Option<String> {
    std::env::var("LATCHKEY_ACCOUNT")
        .ok()
        .filter(|s| !s.trim().is_empty())
}
