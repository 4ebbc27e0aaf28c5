//! What the CLI prints: aligned tables for people, JSON with stable field names for programs.
//! Tokens go to stdout only from `latchkey token`.

use std::io::{IsTerminal, Write};

use latchkey_core::manager::{AccountSummary, EditOutcome, LogoutReport, SignedIn};
use latchkey_core::{
    AccessToken, Account, DeviceSignIn, GrantFlow, Introspection, OfflineAccess, TokenStatus,
};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A time as RFC 3339 text (`None` stays `None`).
pub(crate) fn rfc3339(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&Rfc3339).ok())
}

use latchkey_core::text::human_duration;

fn print_json<T: Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("latchkey: cannot print JSON: {e}"),
    }
}

fn table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map(|s| s.chars().count()).unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        println!("{}", line.trim_end());
    }
}

#[derive(Serialize)]
struct IdentityJson<'a> {
    sub: &'a str,
    email: Option<&'a str>,
    name: Option<&'a str>,
    username: Option<&'a str>,
}

/// The stable JSON shape of an account in `list`/`status`.
#[derive(Serialize)]
struct AccountJson<'a> {
    name: &'a str,
    id: String,
    label: Option<&'a str>,
    provider: String,
    issuer: Option<String>,
    client_id: &'a str,
    identity: Option<IdentityJson<'a>>,
    status: TokenStatus,
    expires_at: Option<String>,
    expires_in: Option<i64>,
    has_refresh_token: bool,
    scopes: &'a [String],
    granted_scopes: &'a [String],
    token_scope: Option<&'a str>,
    redirect: String,
    redirect_uri: String,
    flow: String,
    dpop: bool,
    keep_signed_in: bool,
    session_max_secs: Option<u64>,
    session_warning_secs: Option<u64>,
    session_ends_at: Option<String>,
    session_ends_in: Option<i64>,
    signed_in_at: Option<String>,
    last_refresh_at: Option<String>,
    problems: &'a [String],
    notes: Vec<&'static str>,
    resources: &'a [String],
    cached_tokens: Vec<CachedTokenJson<'a>>,
    offline_consent: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    offline_access: Option<OfflineAccess>,
}

/// One extra cached token in `list --json` / `status --json` (never the token).
#[derive(Serialize)]
struct CachedTokenJson<'a> {
    scopes: &'a [String],
    resources: &'a [String],
    audience: Option<&'a str>,
    granted_scope: Option<&'a str>,
    expires_at: Option<String>,
    expires_in: Option<i64>,
}

fn account_json(s: &AccountSummary) -> AccountJson<'_> {
    let a = &s.account;
    AccountJson {
        name: &a.name,
        id: a.id.to_string(),
        label: a.label.as_deref(),
        provider: a.provider.spec.preset.to_string(),
        issuer: a.provider.endpoints.issuer.as_ref().map(|u| u.to_string()),
        client_id: &a.client_id,
        identity: a.identity.as_ref().map(|i| IdentityJson {
            sub: &i.sub,
            email: i.email.as_deref(),
            name: i.name.as_deref(),
            username: i.username.as_deref(),
        }),
        status: s.status,
        expires_at: rfc3339(s.expires_at),
        expires_in: s.expires_in,
        has_refresh_token: s.has_refresh_token,
        scopes: &a.scopes,
        granted_scopes: &a.granted_scopes,
        token_scope: s.token_scope.as_deref(),
        redirect: a.redirect.to_string(),
        redirect_uri: a.redirect_uri_to_register(),
        flow: a.flow.to_string(),
        dpop: a.dpop,
        keep_signed_in: a.keep_signed_in,
        session_max_secs: a.session_max_secs,
        session_warning_secs: a.session_warning_secs,
        session_ends_at: rfc3339(s.session_ends_at),
        session_ends_in: s.session_ends_in,
        signed_in_at: rfc3339(a.signed_in_at),
        last_refresh_at: rfc3339(a.last_refresh_at),
        problems: &s.problems,
        notes: a.provider.quirks().notes.to_vec(),
        resources: &a.resources,
        cached_tokens: s
            .cached_tokens
            .iter()
            .map(|c| CachedTokenJson {
                scopes: c.spec.scopes(),
                resources: c.spec.resources(),
                audience: c.spec.audience(),
                granted_scope: c.granted_scope.as_deref(),
                expires_at: rfc3339(c.expires_at),
                expires_in: c.expires_in,
            })
            .collect(),
        offline_consent: a.sends_offline_consent(),
        offline_access: s.offline_access,
    }
}

/// What to say about offline access the sign-in asked for and did not get (`None`: nothing).
fn offline_access_note(name: &str, o: Option<OfflineAccess>) -> Option<String> {
    match o? {
        OfflineAccess::Granted => None,
        OfflineAccess::NotGranted { consent_sent: true } => Some(
            "the provider granted no offline access (no refresh token) although the sign-in asked with prompt=consent: check that the client may use refresh tokens".to_string(),
        ),
        OfflineAccess::NotGranted {
            consent_sent: false,
        } => Some(format!(
            "the provider granted no offline access (no refresh token); a provider that follows OpenID Connect Core §11 grants it only with prompt=consent: `latchkey edit {name} --offline-consent true`, then `latchkey login {name}`"
        )),
    }
}

fn where_(a: &Account) -> String {
    a.provider
        .endpoints
        .issuer
        .as_ref()
        .map(|u| u.to_string())
        .unwrap_or_else(|| a.provider.endpoints.token.origin().ascii_serialization())
}

/// `latchkey list`.
pub fn list(all: &[AccountSummary], json: bool) {
    if json {
        print_json(&all.iter().map(account_json).collect::<Vec<_>>());
        return;
    }
    if all.is_empty() {
        println!("No accounts yet. Add one with `latchkey add NAME --issuer URL --client-id ID`.");
        return;
    }
    let mut rows = vec![vec![
        "NAME".to_string(),
        "PROVIDER".into(),
        "IDENTITY".into(),
        "STATUS".into(),
        "EXPIRES IN".into(),
    ]];
    for s in all {
        rows.push(vec![
            s.account.name.clone(),
            s.account.provider.spec.preset.to_string(),
            s.account
                .identity
                .as_ref()
                .map(|i| i.display().to_string())
                .unwrap_or_else(|| "-".into()),
            s.status.label().to_string(),
            match (s.status, s.expires_in) {
                (TokenStatus::SignedOut | TokenStatus::NeedsSignIn, _) => "-".into(),
                (_, Some(secs)) => human_duration(secs),
                (_, None) => "never".into(),
            },
        ]);
    }
    table(&rows);
}

/// Who answered a `list` or `status`.
pub use latchkey_core::source::Served;

/// `latchkey status`; true if every account is usable.
pub fn status(all: &[AccountSummary], json: bool, served: Served) -> bool {
    // A client-credentials account without a cached token is fine: `token` fetches one.
    let ok = all.iter().all(|s| {
        matches!(
            s.status,
            TokenStatus::SignedIn | TokenStatus::ExpiresSoon | TokenStatus::ExpiredRefreshable
        ) || (s.account.flow == GrantFlow::ClientCredentials && s.status == TokenStatus::SignedOut)
    });
    let agent = match served {
        Served::Agent {
            pid,
            keychain,
            unwritten,
        } => serde_json::json!({"pid": pid, "keychain": keychain, "unsaved_token_sets": unwritten}),
        Served::Direct => serde_json::Value::Null,
    };
    if json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(account_json(s)).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("agent".into(), agent.clone());
                }
                v
            })
            .collect();
        print_json(&rows);
        return ok;
    }
    match served {
        Served::Agent {
            pid,
            keychain,
            unwritten,
        } => {
            println!(
                "Answered by the Latchkey agent (pid {pid}); keychain: {}",
                keychain.label()
            );
            if unwritten > 0 {
                println!(
                    "  ! {unwritten} refreshed token set(s) wait for the keychain (unlock it); they are not handed out until stored"
                );
            }
        }
        Served::Direct => println!("No Latchkey agent answered; read directly from the keychain"),
    }
    if all.is_empty() {
        println!("No accounts yet. Add one with `latchkey add NAME --issuer URL --client-id ID`.");
        return true;
    }
    for s in all {
        let a = &s.account;
        println!(
            "{} ({}, {})",
            a.name,
            a.provider.spec.preset.display_name(),
            where_(a)
        );
        let mark = match s.status {
            TokenStatus::SignedIn | TokenStatus::ExpiresSoon | TokenStatus::ExpiredRefreshable => {
                "✓"
            }
            _ => "✗",
        };
        match (&a.identity, s.status) {
            (
                Some(i),
                TokenStatus::SignedIn | TokenStatus::ExpiresSoon | TokenStatus::ExpiredRefreshable,
            ) => {
                let mut who = i.display().to_string();
                if let Some(n) = &i.name
                    && Some(n.as_str()) != i.email.as_deref()
                {
                    who = format!("{n} <{who}>");
                }
                println!("  {mark} Signed in as {who} (sub {})", i.sub)
            }
            _ => println!("  {mark} {}", s.status.label()),
        }
        println!("  - Client id: {}", a.client_id);
        if a.flow != GrantFlow::AuthorizationCode || a.dpop {
            println!(
                "  - Grant: {}{}",
                a.flow,
                if a.dpop { ", DPoP-bound tokens" } else { "" }
            );
        }
        if let Some(secs) = s.expires_in {
            let when = rfc3339(s.expires_at).unwrap_or_default();
            if secs >= 0 {
                println!(
                    "  - Access token: expires in {} ({when})",
                    human_duration(secs)
                );
            } else {
                println!(
                    "  - Access token: expired {} ({when})",
                    human_duration(secs)
                );
            }
        } else if s.status == TokenStatus::SignedIn {
            println!("  - Access token: does not expire");
        }
        let scopes = s.token_scope.clone().unwrap_or_else(|| a.scopes.join(" "));
        println!(
            "  - Scopes: {}",
            if scopes.is_empty() { "-" } else { &scopes }
        );
        if !a.resources.is_empty() {
            println!(
                "  - Resources asked for at sign-in: {}",
                a.resources.join(" ")
            );
        }
        for c in &s.cached_tokens {
            let expiry = match c.expires_in {
                Some(secs) if secs >= 0 => format!("expires in {}", human_duration(secs)),
                Some(secs) => format!("expired {} (renewed on next use)", human_duration(secs)),
                None if c.granted_scope.is_some() => "does not expire".into(),
                None => "not read".into(),
            };
            println!(
                "  - Cached token for {}: {}{}",
                c.spec.describe(),
                expiry,
                c.granted_scope
                    .as_deref()
                    .map(|g| format!("; granted {g}"))
                    .unwrap_or_default()
            );
        }
        if !a.approval.is_off() {
            println!(
                "  - Approval before a hand-out: {}",
                latchkey_core::approval::ApprovalPolicy::of(a).describe()
            );
        }
        if let Some(note) = offline_access_note(&a.name, s.offline_access) {
            println!("  - Offline access: {note}");
        }
        if !matches!(s.status, TokenStatus::SignedOut | TokenStatus::NeedsSignIn) {
            println!(
                "  - Refresh token: {}{}",
                if s.has_refresh_token { "yes" } else { "no" },
                rfc3339(a.last_refresh_at)
                    .map(|t| format!("; last refresh {t}"))
                    .unwrap_or_default()
            );
        }
        println!(
            "  - Redirect: {}{} — register {}",
            a.redirect,
            a.port.map(|p| format!(" (port {p})")).unwrap_or_default(),
            a.redirect_uri_to_register()
        );
        // A problem that is one of the account's warnings is said with its command.
        let warnings = a.warnings();
        for p in &s.problems {
            match warnings.iter().find(|w| w.text == *p) {
                Some(w) => println!("  ! {}", crate::speak::advice(w)),
                None => println!("  ! {p}"),
            }
        }
        for n in a.provider.quirks().notes {
            println!("  · {n}");
        }
        if a.flow == GrantFlow::ClientCredentials && s.status == TokenStatus::SignedOut {
            println!(
                "  → no token cached; `latchkey token {}` fetches one",
                a.name
            );
        } else if matches!(s.status, TokenStatus::SignedOut | TokenStatus::NeedsSignIn) {
            println!("  → run `latchkey login {}`", a.name);
        }
    }
    ok
}

/// `latchkey token`.
pub fn token(t: &AccessToken, json: bool) {
    if let Some(w) = &t.degraded {
        eprintln!("latchkey: warning: {w}");
    }
    if json {
        #[derive(Serialize)]
        struct TokenJson<'a> {
            access_token: &'a str,
            token_type: &'a str,
            expires_at: Option<String>,
            scope: Option<&'a str>,
            degraded: bool,
        }
        print_json(&TokenJson {
            access_token: t.token.expose(),
            token_type: t.token_type.as_str(),
            expires_at: rfc3339(t.expires_at),
            scope: t.scope.as_deref(),
            degraded: t.degraded.is_some(),
        });
    } else {
        println!("{}", t.token.expose());
    }
}

/// `latchkey refresh` (never prints the token).
pub fn refreshed(name: &str, t: &AccessToken, json: bool) {
    if let Some(w) = &t.degraded {
        eprintln!("latchkey: warning: {w}");
    }
    let expires_in = t
        .expires_at
        .map(|e| (e - OffsetDateTime::now_utc()).whole_seconds());
    if json {
        print_json(&serde_json::json!({
            "account": name,
            "refreshed": t.refreshed,
            "expires_at": rfc3339(t.expires_at),
            "scope": t.scope,
            "degraded": t.degraded.is_some(),
        }));
    } else if t.refreshed {
        println!(
            "Refreshed `{name}`; the access token expires in {}.",
            expires_in
                .map(human_duration)
                .unwrap_or_else(|| "never".into())
        );
    } else {
        println!(
            "`{name}` is still fresh (expires in {}); use --force to refresh anyway.",
            expires_in
                .map(human_duration)
                .unwrap_or_else(|| "never".into())
        );
    }
}

/// `latchkey login` / `complete`.
pub fn signed_in(s: &SignedIn, json: bool) {
    if json {
        print_json(s);
        return;
    }
    let who = s
        .identity
        .as_ref()
        .map(|i| format!(" as {}", i.display()))
        .unwrap_or_default();
    println!("Signed in to `{}`{who}.", s.account);
    if !s.has_refresh_token {
        println!(
            "Note: the provider issued no refresh token; you will need to sign in again when the token expires."
        );
        if let Some(note) = offline_access_note(&s.account, s.offline_access) {
            println!("Offline access: {note}.");
        }
    }
}

/// `latchkey add`.
pub fn added(a: &Account) {
    println!(
        "Added `{}` ({}{}).",
        a.name,
        a.provider.spec.preset.display_name(),
        match a.flow {
            GrantFlow::AuthorizationCode => "",
            GrantFlow::Device => ", device flow",
            GrantFlow::ClientCredentials => ", client credentials",
        }
    );
    if a.dpop {
        println!("DPoP-bound tokens: on (ES256 key kept in the keychain).");
    }
    for w in a.warnings() {
        eprintln!("latchkey: warning: {}", crate::speak::advice(&w));
    }
    if a.flow == GrantFlow::ClientCredentials {
        println!(
            "Next: `latchkey token {}` (fetches and caches a token)",
            a.name
        );
        return;
    }
    if a.flow == GrantFlow::Device {
        println!("Next: `latchkey login {}`", a.name);
        return;
    }
    println!(
        "Redirect URI to register at the provider: {}",
        a.redirect_uri_to_register()
    );
    for n in a.provider.quirks().notes {
        println!("Note: {n}");
    }
    println!("Next: `latchkey login {}`", a.name);
}

/// `latchkey edit`.
pub fn edited(o: &EditOutcome) {
    println!("Updated `{}`.", o.account.name);
    for n in &o.notes {
        println!("Note: {}", crate::speak::advice(n));
    }
}

/// `latchkey logout` / `remove`.
pub fn logged_out(r: &LogoutReport, removed: bool, json: bool) {
    if json {
        print_json(&serde_json::json!({
            "account": r.account,
            "removed": removed,
            "had_tokens": r.had_tokens,
            "revocation_supported": r.revocation_supported,
            "revoked": r.revoked,
            "revocation_errors": r.revocation_errors,
        }));
        return;
    }
    if r.had_tokens {
        if !r.revocation_supported {
            println!(
                "The provider offers no token revocation (RFC 7009); tokens were deleted locally only. Revoke the app's access in the provider's settings if needed."
            );
        } else if !r.revoked.is_empty() {
            println!("Revoked at the provider: {}.", r.revoked.join(", "));
        }
        for e in &r.revocation_errors {
            eprintln!(
                "latchkey: warning: revocation failed: {e} (the tokens were deleted locally anyway)"
            );
        }
    }
    if removed {
        println!("Removed `{}`.", r.account);
    } else {
        println!("Signed out of `{}`.", r.account);
    }
}

/// `latchkey login` with the device flow: what the user must do (stderr; stdout stays for the
/// result).
pub fn device_codes(d: &DeviceSignIn) {
    let left = (d.expires_at - OffsetDateTime::now_utc()).whole_seconds();
    eprintln!(
        "To sign in to `{}`, open {}\nand enter the code:\n\n    {}\n",
        d.account, d.verification_uri, d.user_code
    );
    if let Some(u) = &d.verification_uri_complete {
        eprintln!("Or open this URL, which has the code in it:\n\n  {u}\n");
    }
    eprintln!(
        "The code expires in {}. Waiting for approval (Ctrl-C cancels) …",
        human_duration(left)
    );
}

/// Shows a countdown to `expires_at` on a terminal's stderr, once a second. Never completes.
pub async fn countdown(expires_at: OffsetDateTime) {
    if !std::io::stderr().is_terminal() {
        return std::future::pending().await;
    }
    loop {
        let left = (expires_at - OffsetDateTime::now_utc())
            .whole_seconds()
            .max(0);
        let mut err = std::io::stderr();
        let _ = write!(err, "\r  code expires in {:<12}", human_duration(left));
        let _ = err.flush();
        if left == 0 {
            return std::future::pending().await;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Ends the countdown line, if one was shown.
pub fn end_countdown() {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
}

/// A resource server's response (`latchkey request`): the status line on stderr, with
/// `--include` the status line and headers on stdout, then the body.
pub fn response_parts(status: u16, headers: &[(String, String)], body: &[u8], include: bool) {
    let reason = reqwest_reason(status);
    eprintln!("HTTP {status} {reason}");
    let mut out = std::io::stdout();
    if include {
        let _ = writeln!(out, "HTTP {status} {reason}");
        for (k, v) in headers {
            let _ = writeln!(out, "{k}: {v}");
        }
        let _ = writeln!(out);
    }
    let _ = out.write_all(body);
    let _ = out.flush();
}

fn reqwest_reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// `latchkey introspect`.
pub fn introspection(name: &str, i: &Introspection, json: bool) {
    if json {
        print_json(i);
        return;
    }
    let when = |t: Option<i64>| {
        t.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .map(|t| {
                let left = (t - OffsetDateTime::now_utc()).whole_seconds();
                format!(
                    "{} ({})",
                    rfc3339(Some(t)).unwrap_or_default(),
                    if left >= 0 {
                        format!("in {}", human_duration(left))
                    } else {
                        human_duration(left)
                    }
                )
            })
            .unwrap_or_else(|| "-".into())
    };
    let mut rows = vec![
        vec!["account".to_string(), name.to_string()],
        vec!["active".into(), i.active.to_string()],
    ];
    if i.active {
        rows.push(vec![
            "sub".into(),
            i.sub.clone().unwrap_or_else(|| "-".into()),
        ]);
        rows.push(vec![
            "scope".into(),
            i.scope.clone().unwrap_or_else(|| "-".into()),
        ]);
        rows.push(vec!["exp".into(), when(i.exp)]);
        rows.push(vec!["iat".into(), when(i.iat)]);
        rows.push(vec![
            "client_id".into(),
            i.client_id.clone().unwrap_or_else(|| "-".into()),
        ]);
        rows.push(vec![
            "token_type".into(),
            i.token_type.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    table(&rows);
}

/// `latchkey status`'s last line: which store holds the secrets, and why.
pub fn store_line(
    choice: &Result<latchkey_core::store::choice::StoreChoice, latchkey_core::Error>,
) {
    use latchkey_core::store::choice::StoreKind;
    match choice {
        Ok(c) if c.kind == StoreKind::Vault => {
            println!("Secrets: vault {} ({})", c.vault.display(), c.reason)
        }
        Ok(c) => println!("Secrets: {} ({})", c.kind.label(), c.reason),
        Err(e) => println!("Secrets: store not decided ({e})"),
    }
}

/// `latchkey store`.
pub fn store_report(r: &latchkey_core::store::choice::StoreReport, json: bool) {
    use latchkey_core::store::choice::StoreKind;
    if json {
        print_json(r);
        return;
    }
    let c = &r.choice;
    println!("Store:   {}", c.kind.label());
    println!("Why:     {} (setting: {})", c.reason, c.preference.as_str());
    println!(
        "Vault:   {}{}",
        c.vault.display(),
        if c.vault_exists { "" } else { " (not created)" }
    );
    if c.kind == StoreKind::Vault {
        println!("Key:     cached in {} between commands", r.key_cache);
    }
    match &r.items {
        Some(i) => println!(
            "Holds:   {} item(s): {} token set(s), {} client secret(s), {} DPoP key(s), {} token(s) for other APIs, {} sign-in(s) in progress{}",
            i.total(),
            i.tokens,
            i.client_secrets,
            i.dpop_keys,
            i.other_api_tokens,
            i.pending_sign_ins,
            if i.other > 0 {
                format!(", {} other", i.other)
            } else {
                String::new()
            }
        ),
        None => println!("Holds:   (this store cannot list its items here)"),
    }
}

/// `latchkey store use`.
pub fn store_pinned(p: latchkey_core::store::choice::StorePreference, json: bool) {
    if json {
        print_json(&serde_json::json!({"use": p.as_str()}));
    } else {
        println!(
            "Secrets store set to `{}` (items were not moved: `latchkey store migrate --to …` moves them)",
            p.as_str()
        );
    }
}

/// `latchkey store migrate`.
pub fn migrated(m: &latchkey_core::store::choice::Migration, json: bool) {
    if json {
        print_json(m);
    } else {
        println!(
            "Moved {} item(s) from the {} to the {}, each verified before the original was deleted; the {} is now the store in use.",
            m.moved,
            m.from.label(),
            m.to.label(),
            m.to.label()
        );
    }
}

/// `latchkey lock`.
pub fn locked(l: &latchkey_core::manager::Locked, json: bool) {
    if json {
        print_json(l);
        return;
    }
    match l.grants_ended {
        0 => println!("No approval session grants were open."),
        1 => println!("1 approval session grant ended: the next hand-out asks again."),
        n => println!("{n} approval session grants ended: the next hand-outs ask again."),
    }
    if l.vault_key_removed {
        println!("Vault key forgotten: the next command asks for the passphrase.");
    } else {
        println!("No vault key was cached.");
    }
}

/// Standard error, while a hand-out waits for the owner's approval.
pub fn waiting(p: &latchkey_core::approval::PendingApproval) {
    let secs = (p.deadline - p.asked_at).whole_seconds().max(0);
    eprintln!(
        "latchkey: waiting for approval {id}: {what} of account `{account}` for {who}; allow it in the Latchkey window or with `latchkey approve {id}` (denied in {secs} s)",
        id = p.id,
        what = p.ask.what,
        account = p.ask.account,
        who = p.requester_line,
    );
}

/// `latchkey pending`.
pub fn pending(list: &[latchkey_core::approval::PendingApproval], json: bool) {
    if json {
        print_json(&list);
        return;
    }
    if list.is_empty() {
        println!("Nothing waits for approval.");
        return;
    }
    let now = OffsetDateTime::now_utc();
    for p in list {
        println!("{}  account `{}`: {}", p.id, p.ask.account, p.ask.what);
        if let Some(t) = &p.ask.target {
            println!("        for {} → {t}", p.ask.tool);
        } else {
            println!("        for {}", p.ask.tool);
        }
        println!("        asked by {}", p.requester_line);
        println!(
            "        denied in {} unless answered: latchkey approve {} [--session|--always] | latchkey deny {}",
            human_duration((p.deadline - now).whole_seconds().max(0)),
            p.id,
            p.id
        );
        if let Some(why) = &p.cannot_remember {
            println!("        (--always is not offered: {why})");
        }
    }
}

/// `latchkey approve|deny`.
pub fn decided(
    p: &latchkey_core::approval::PendingApproval,
    d: latchkey_core::approval::Decision,
    json: bool,
) {
    use latchkey_core::approval::Decision;
    if json {
        print_json(&serde_json::json!({"id": p.id, "decision": d, "pending": p}));
        return;
    }
    let who = &p.requester_line;
    match d {
        Decision::Once => println!(
            "Allowed once: {} of `{}` for {who}.",
            p.ask.what, p.ask.account
        ),
        Decision::Session => println!(
            "Allowed for this session: {} of `{}` for {who}.",
            p.ask.what, p.ask.account
        ),
        Decision::Always => println!(
            "Always allowed: `{}` for {}.",
            p.ask.account,
            p.requester
                .executable
                .as_deref()
                .unwrap_or(&p.requester.name)
        ),
        Decision::Deny => println!("Denied: {} of `{}` for {who}.", p.ask.what, p.ask.account),
    }
}

/// `latchkey approvals --revoke`.
pub fn revoked(r: &latchkey_core::approval::remembered::Remembered, json: bool) {
    if json {
        print_json(r);
    } else {
        println!(
            "Forgotten: `{}` is no longer always allowed for {}.",
            r.account, r.program
        );
    }
}

/// `latchkey approvals`.
pub fn approvals(a: &latchkey_core::manager::Approvals, json: bool) {
    if json {
        print_json(a);
        return;
    }
    if a.remembered.is_empty() {
        println!("No program is always allowed.");
    } else {
        println!("Always allowed:");
        for r in &a.remembered {
            println!(
                "  {}  `{}` for {} (since {})",
                r.id,
                r.account,
                r.program,
                r.decided_at.format(&Rfc3339).unwrap_or_default()
            );
        }
    }
    let now = OffsetDateTime::now_utc();
    if a.sessions.is_empty() {
        println!("No session grants are open.");
    } else {
        println!("Session grants:");
        for g in &a.sessions {
            println!(
                "  `{}` for {} on {} (given {} ago, last used {} ago)",
                g.account,
                g.program,
                g.session,
                human_duration((now - g.granted_at).whole_seconds().max(0)),
                human_duration((now - g.last_used).whole_seconds().max(0))
            );
        }
    }
    if let Some(l) = &a.last_lock {
        println!(
            "Grants last ended {} ago: {}.",
            human_duration((now - l.at).whole_seconds().max(0)),
            l.reason
        );
    }
}

/// `latchkey activity`.
pub fn activity(records: &[latchkey_core::activity::ActivityRecord], json: bool) {
    if json {
        print_json(&records);
        return;
    }
    if records.is_empty() {
        println!("No activity recorded.");
        return;
    }
    for r in records {
        let when = r.at.format(&Rfc3339).unwrap_or_default();
        let target = r
            .ask
            .target
            .as_deref()
            .map(|t| format!(" → {t}"))
            .unwrap_or_default();
        println!(
            "{when}  {:<9} `{}` {} for {}{target} — {} ({})",
            r.outcome.label(),
            r.ask.account,
            r.ask.what,
            r.ask.tool,
            r.requester.line(),
            r.via
        );
        if let Some(why) = &r.reason {
            println!("{:width$}  {why}", "", width = when.len());
        }
    }
}

/// `latchkey unlock`.
pub fn unlocked(c: &latchkey_core::store::choice::StoreChoice, json: bool) {
    use latchkey_core::store::choice::StoreKind;
    if json {
        print_json(c);
    } else if c.kind == StoreKind::Vault {
        println!("Vault unlocked ({}).", c.vault.display());
    } else {
        println!("Secrets are in the {}: no vault to unlock.", c.kind.label());
    }
}
