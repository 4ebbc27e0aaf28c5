//! Token commands: token, refresh, request, introspect.

use super::*;

/// `latchkey token`.
pub async fn token(t: TokenArgs, json: bool) -> Result<u8, Error> {
    let m = manager()?;
    let tok = m
        .access_token(
            &t.name,
            TokenOptions {
                min_ttl: t.min_ttl.map(Duration::from_secs),
                force: false,
            },
        )
        .await?;
    output::token(&tok, json || t.json);
    Ok(0)
}

/// `latchkey refresh`.
pub async fn refresh(r: RefreshArgs, json: bool) -> Result<u8, Error> {
    let m = manager()?;
    let tok = m
        .access_token(
            &r.name,
            TokenOptions {
                min_ttl: None,
                force: r.force,
            },
        )
        .await?;
    output::refreshed(&r.name, &tok, json || r.json);
    Ok(0)
}

/// `latchkey request`.
pub async fn request(r: RequestArgs) -> Result<u8, Error> {
    let m = manager()?;
    let body = match r.data.as_deref() {
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
    };
    let mut headers = Vec::new();
    for h in &r.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| Error::InvalidInput(format!("-H `{h}`: use the form `Name: value`")))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    if body.is_some()
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
        .unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
    let resp = m
        .request(
            &r.name,
            ResourceRequest {
                method,
                url: r.url.clone(),
                headers,
                body,
            },
        )
        .await?;
    output::response(&resp, r.include);
    Ok(if resp.status >= 400 {
        latchkey_core::error::EXIT_HTTP_ERROR_STATUS
    } else {
        0
    })
}

/// `latchkey introspect`.
pub async fn introspect(n: NameArg, json: bool) -> Result<u8, Error> {
    let m = manager()?;
    let info = m.introspect(&n.name).await?;
    output::introspection(&n.name, &info, json || n.json);
    Ok(0)
}
