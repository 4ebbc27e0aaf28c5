//! Fuzz harnesses for every Latchkey parser that takes outside input, and a small mutation
//! engine to drive them on stable Rust (no nightly toolchain, no sanitizers here).
//!
//! Each target ([`TARGETS`]) feeds arbitrary bytes to one parser exactly as the core receives
//! them: callback URLs (the loopback request head, then the URL; the scheme URL), token /
//! device / PAR (the core's `PushedRequest`) / introspection / error responses ([`latchkey_core::token::interpret_json`]
//! and the checks after it), discovery documents, a JWKS with an id_token, `WWW-Authenticate` /
//! `DPoP-Nonce` headers, `accounts.toml`, agent frames, and the tools' protocols (git's
//! credential request, the Docker helper's input, `KUBERNETES_EXEC_INFO`, AWS STS's XML answer,
//! cargo's credential-provider requests and `config.toml`) through the same
//! `latchkey_core::tools` code the CLI runs, with a fake hand-out behind them. A harness only fails by panicking: every input
//! must end in `Ok` or a typed error. Whatever the parser returns must also be free of control
//! characters where it is text for people (error messages).
//!
//! The engine ([`Fuzzer`]) is seed-corpus driven and mutation based (byte flips, inserts,
//! deletes, splices, dictionary tokens such as `1e300` or ESC sequences). It is *not* coverage
//! guided: see FUZZING.md for what that means for the results.

use std::time::{Duration, Instant};

use latchkey_core::http::Response;
use latchkey_core::token::{ErrorContext, TokenResponse, TokenSet, interpret_json};
use openidconnect::core::CoreJsonWebKeySet;
use reqwest::header::{HeaderMap, HeaderValue};
use time::OffsetDateTime;

/// The targets, by name.
pub const TARGETS: &[&str] = &[
    "callback_url",
    "loopback_request",
    "token_response",
    "device_response",
    "par_response",
    "introspection_response",
    "error_response",
    "discovery",
    "jwks_id_token",
    "www_authenticate",
    "accounts_toml",
    "agent_frame",
    "git_credential",
    "docker_helper",
    "kube_exec_info",
    "sts_response",
    "proc_requester",
    "activity_line",
    "cargo_request",
];

/// Runs `data` through `target`. Returns `false` for an unknown target; panics on a finding.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "callback_url" => callback_url(data),
        "loopback_request" => loopback_request(data),
        "token_response" => token_response(data),
        "device_response" => device_response(data),
        "par_response" => par_response(data),
        "introspection_response" => introspection_response(data),
        "error_response" => error_response(data),
        "discovery" => discovery(data),
        "jwks_id_token" => jwks_id_token(data),
        "www_authenticate" => www_authenticate(data),
        "accounts_toml" => accounts_toml(data),
        "agent_frame" => agent_frame(data),
        "git_credential" => git_credential(data),
        "docker_helper" => docker_helper(data),
        "kube_exec_info" => kube_exec_info(data),
        "sts_response" => sts_response(data),
        "proc_requester" => proc_requester(data),
        "activity_line" => activity_line(data),
        "cargo_request" => cargo_request(data),
        _ => return false,
    }
    true
}

/// `/proc` as a hostile process could shape it (its `comm`, its cgroup name, its argv): the
/// input is split at `0xFF` into `stat`, `cgroup` and `cmdline`; every pid of a chain of eight
/// gets them (so parent loops and self-parents happen), and the requester line named from it
/// must be one line of printable text.
fn proc_requester(data: &[u8]) {
    use latchkey_core::approval::requester::{self, ProcInfo, ProcSource, Requester};
    let mut parts = data.splitn(3, |&b| b == 0xff);
    let stat = parts.next().unwrap_or_default();
    let cgroup = parts.next().unwrap_or_default();
    let cmdline = parts.next().unwrap_or_default();
    let parsed = requester::parse_stat(stat);
    let cg = requester::parse_cgroup(cgroup);
    if let Some(c) = &cg {
        let _ = requester::cgroup_unit(c);
        let _ = requester::sandbox_app(c);
    }
    struct Table(Option<ProcInfo>, Option<String>, bool);
    impl ProcSource for Table {
        fn stat(&self, pid: u32) -> Option<ProcInfo> {
            let mut p = self.0.clone()?;
            if pid > 8 {
                return None;
            }
            // A chain 1..=8 whose parents come from the input.
            p.pid = pid;
            p.ppid %= 9;
            Some(p)
        }
        fn exe(&self, pid: u32) -> Option<std::path::PathBuf> {
            let p = self.stat(pid)?;
            Some(std::path::PathBuf::from(format!("/usr/bin/{}", p.comm)))
        }
        fn cgroup(&self, _pid: u32) -> Option<String> {
            self.1.clone()
        }
        fn runs_command(&self, _pid: u32) -> bool {
            self.2
        }
    }
    let table = Table(parsed, cg, requester::runs_command(cmdline));
    for pid in 0..=9 {
        let r = Requester::inspect(&table, pid);
        let line = r.line();
        assert!(
            !line.chars().any(latchkey_core::text::is_unsafe),
            "{line:?}"
        );
        let _ = r.session_key();
        if let Some(tty) = requester::tty_name(u32::from(stat.first().copied().unwrap_or(0)) << 8) {
            assert!(!tty.is_empty());
        }
    }
}

/// A line of `activity.jsonl` (the file is the user's: hand edits, torn writes): read back as a
/// record or skipped, never a panic; the filter and the per-tool summary work on what parses.
fn activity_line(data: &[u8]) {
    let records = latchkey_core::activity::parse(data);
    for r in &records {
        let line = r.requester.line();
        assert!(
            !line.chars().any(latchkey_core::text::is_unsafe),
            "{line:?}"
        );
        assert!(!r.ask.what.chars().any(latchkey_core::text::is_unsafe));
    }
    let now =
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    for u in latchkey_core::activity::usage(&records, now) {
        let _ = latchkey_core::activity::usage_line(&u, now);
    }
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Error messages are shown on terminals: no control characters may come from the input.
fn assert_printable(e: &latchkey_core::Error) {
    let msg = e.to_string();
    assert!(
        !msg.chars().any(latchkey_core::text::is_unsafe),
        "an error message carries control characters: {msg:?}"
    );
}

fn response(status: u16, content_type: &str, body: &[u8]) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(reqwest::header::CONTENT_TYPE, v);
    }
    Response {
        url: "https://idp.example/endpoint".into(),
        status,
        headers,
        body: body.to_vec(),
    }
}

fn callback_url(data: &[u8]) {
    let raw = text(data);
    for candidate in [raw.clone(), format!("dev.latchkey.app:/callback/w?{raw}")] {
        if let Ok(cb) = latchkey_core::flow::pkce::Callback::parse(&candidate) {
            let _ =
                latchkey_core::flow::pkce::same_redirect(&cb.base, "dev.latchkey.app:/callback/w");
            if let Some(state) = &cb.state {
                let _ = latchkey_core::flow::pkce::state_digest(state.expose());
            }
            // The error parameters become a provider error as they would in a sign-in.
            if let Some(error) = &cb.error {
                let e = latchkey_core::token::provider_error(
                    latchkey_core::token::OAuthErrorBody {
                        error: latchkey_core::oauth_error::OAuthErrorCode::parse(error),
                        error_description: cb.error_description.clone(),
                        error_uri: None,
                    },
                    &ErrorContext::default(),
                );
                assert_printable(&e);
            }
        }
    }
}

fn loopback_request(data: &[u8]) {
    if let Ok(target) = latchkey_core::flow::loopback::parse_request_head(data) {
        let _ = latchkey_core::flow::pkce::Callback::parse(&format!("http://127.0.0.1:1{target}"));
    }
}

fn token_response(data: &[u8]) {
    let now = OffsetDateTime::now_utc();
    for status in [200, 400] {
        match interpret_json::<TokenResponse>(
            &response(status, "application/json", data),
            &ErrorContext::default(),
        ) {
            Ok(t) => {
                let set = TokenSet::from_response(t, now, None, ' ');
                let _ = set.is_fresh(now, time::Duration::seconds(60));
                if let Ok(s) = set.to_secret() {
                    assert!(TokenSet::from_secret(&s).is_ok(), "a stored set reads back");
                }
            }
            Err(e) => assert_printable(&e),
        }
    }
}

fn device_response(data: &[u8]) {
    match latchkey_core::flow::device::parse_codes(&response(200, "application/json", data)) {
        Ok(c) => {
            assert!(
                !c.user_code.chars().any(latchkey_core::text::is_unsafe),
                "user_code {:?}",
                c.user_code
            );
            let mut s = latchkey_core::flow::device::PollSchedule::new(c.interval);
            s.slow_down();
            let now = tokio_free_instant();
            let _ = now.checked_add(c.expires_in + s.interval());
        }
        Err(e) => assert_printable(&e),
    }
}

fn tokio_free_instant() -> Instant {
    Instant::now()
}

fn par_response(data: &[u8]) {
    // The core's own PAR response type and checks (not a look-alike).
    for status in [201, 400] {
        match latchkey_core::flow::pkce::PushedRequest::parse(
            &response(status, "application/json", data),
            "http://127.0.0.1:1/callback",
        ) {
            Ok(p) => assert!(!p.request_uri.is_empty(), "an empty request_uri is refused"),
            Err(e) => assert_printable(&e),
        }
    }
}

fn introspection_response(data: &[u8]) {
    if let Err(e) = interpret_json::<latchkey_core::Introspection>(
        &response(200, "application/json", data),
        &ErrorContext::default(),
    ) {
        assert_printable(&e);
    }
}

fn error_response(data: &[u8]) {
    for (status, ct) in [
        (400, "application/json"),
        (401, "text/html; charset=utf-8"),
        (503, "text/html"),
        (302, ""),
    ] {
        let resp = response(status, ct, data);
        let _ = resp.error_page_summary();
        let e = interpret_json::<TokenResponse>(&resp, &ErrorContext::default())
            .err()
            .unwrap_or_else(|| latchkey_core::Error::Other("no error".into()));
        assert_printable(&e);
    }
}

fn discovery(data: &[u8]) {
    let Ok(issuer) = url::Url::parse("https://idp.example") else {
        return;
    };
    let spec = latchkey_core::ProviderSpec {
        preset: latchkey_core::Preset::Oidc,
        issuer: Some(issuer),
        ..Default::default()
    };
    let Ok(from) = url::Url::parse("https://idp.example/.well-known/openid-configuration") else {
        return;
    };
    if let Err(e) = spec.from_document(&from, data) {
        assert_printable(&e);
    }
}

/// The input is `JWKS JSON` + `\n` + `id_token` (no newline: the whole input is the token
/// and the JWKS is empty).
fn jwks_id_token(data: &[u8]) {
    let (jwks_raw, token) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"{\"keys\":[]}"[..], data),
    };
    let Ok(jwks) = serde_json::from_slice::<CoreJsonWebKeySet>(jwks_raw) else {
        return;
    };
    let Ok(issuer) = url::Url::parse("https://idp.example") else {
        return;
    };
    let secret = latchkey_core::Secret::new("client-secret-0123456789abcdef0123");
    let nonce = latchkey_core::Secret::new("n-0S6_WzA2Mj");
    let algs = vec![
        "RS256".to_string(),
        "ES256".to_string(),
        "HS256".to_string(),
    ];
    let token = latchkey_core::Secret::new(text(token));
    let check = latchkey_core::oidc::IdTokenCheck {
        client_id: "latchkey-public",
        client_secret: Some(&secret),
        issuer: &issuer,
        issuer_template: Some("https://login.example/{tenantid}/v2.0"),
        jwks: &jwks,
        algs: &algs,
        nonce: Some(&nonce),
        expected_sub: None,
        now: OffsetDateTime::now_utc(),
    };
    match latchkey_core::oidc::validate_id_token(&token, &check) {
        Ok(identity) => assert!(!identity.sub.chars().any(latchkey_core::text::is_unsafe)),
        Err(e) => assert_printable(&e),
    }
}

/// The input is `WWW-Authenticate value` + `\n` + `DPoP-Nonce value` + `\n` + a body.
fn www_authenticate(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let challenge = parts.next().unwrap_or_default();
    let nonce = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let mut resp = response(401, "application/json", body);
    if let Ok(v) = HeaderValue::from_bytes(challenge) {
        resp.headers.insert(reqwest::header::WWW_AUTHENTICATE, v);
    }
    if let Ok(v) = HeaderValue::from_bytes(nonce) {
        resp.headers.insert("dpop-nonce", v);
    }
    let _ = latchkey_core::http::asks_for_nonce(&resp);
    let _ = resp.headers.get("dpop-nonce").and_then(|v| v.to_str().ok());
    // The challenge as the wire carries it (bytes, any encoding) and as the agent forwards it
    // (lossy text): it must end, and what reaches a person must be printable.
    let _ = latchkey_core::challenge::parse(challenge);
    for status in [401, 403] {
        for value in [challenge.to_vec(), text(challenge).into_bytes()] {
            if let Some(words) = latchkey_core::challenge::explain("acct", status, [&value]) {
                assert!(
                    !format!("{words:?}")
                        .chars()
                        .any(latchkey_core::text::is_unsafe),
                    "a challenge explanation carries control characters: {words:?}"
                );
            }
        }
    }
}

fn accounts_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = toml::from_str::<latchkey_core::accounts::AccountsFile>(text) {
        for a in &file.accounts {
            let _ = a.warnings();
            let _ = a.redirect_uri_to_register();
            let _ = a.identity.as_ref().map(|i| i.display().len());
        }
        // What was read writes back.
        let again = toml::to_string_pretty(&file);
        assert!(again.is_ok(), "an accounts file that parses serializes");
    }
}

/// Bytes on the agent socket, read as the agent reads a request and as a client reads an
/// answer: [`protocol::read_frame`](latchkey_core::agent::protocol::read_frame), then the
/// request and response types, and the `latchkey` front's reading of a first answer
/// (`latchkey_wire::front::first_answer`). An error message a client would print must be
/// printable; a token the front prints is the one the full client would read, with a printable
/// warning.
fn agent_frame(data: &[u8]) {
    use latchkey_core::agent::protocol::{self, Answer, Request, Response};
    for max in [protocol::MAX_REQUEST, 64] {
        let mut input = std::io::Cursor::new(data);
        while let Ok(frame) = protocol::read_frame(&mut input, max) {
            // The agent: JSON first (for the version and op name), then the typed request.
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&frame)
                && let Ok(req) = serde_json::from_value::<Request>(value)
            {
                // A spec that was read was checked as it was read: checking it again changes
                // nothing.
                let rechecked = |spec: &latchkey_core::TokenSpec| {
                    let again = latchkey_core::TokenSpec::new(
                        spec.scopes(),
                        spec.resources(),
                        spec.audience(),
                    );
                    assert_eq!(
                        again.ok().as_ref(),
                        Some(spec),
                        "a spec read is a checked spec"
                    );
                };
                match &req.op {
                    protocol::Op::TokenFor { spec, .. } | protocol::Op::RequestFor { spec, .. } => {
                        rechecked(spec);
                    }
                    protocol::Op::Credential { request } => {
                        if let latchkey_core::handout::Subject::Account { spec, .. }
                        | latchkey_core::handout::Subject::Cluster { spec, .. } =
                            &request.subject
                        {
                            rechecked(spec);
                        }
                    }
                    _ => {}
                }
            }
            // The front.
            if let latchkey_wire::front::FirstAnswer::Token { token, degraded } =
                latchkey_wire::front::first_answer(&frame)
            {
                assert!(!token.expose().is_empty());
                if let Some(w) = degraded {
                    assert!(
                        !w.chars()
                            .any(|c| c != '\n' && latchkey_core::text::is_unsafe(c))
                    );
                }
                if let Ok(resp) = serde_json::from_slice::<Response>(&frame) {
                    match resp.answer {
                        Answer::Token(t) => assert_eq!(t.access_token.expose(), token.expose()),
                        other => panic!("the front printed a token of a {other:?} answer"),
                    }
                }
            }
            // A client.
            if let Ok(resp) = serde_json::from_slice::<Response>(&frame) {
                if let Answer::Error { kind, message, .. } = &resp.answer {
                    let shown = latchkey_core::text::clean_lines(message, 2000);
                    assert!(
                        !shown
                            .chars()
                            .any(|c| c != '\n' && latchkey_core::text::is_unsafe(c)),
                        "an agent message reaches the terminal with control characters"
                    );
                    let _ = protocol::kinds::not_executed(kind, message);
                }
                // What a tool would word from a hand-out: cleaned text.
                if let Answer::Handout { handout } = resp.answer
                    && let latchkey_core::handout::Handout::Refused(reason) = handout.into()
                {
                    assert!(!reason.chars().any(latchkey_core::text::is_unsafe));
                }
            }
        }
    }
}

/// Tokens a hostile or broken provider would send, spliced in by the mutator.
pub const DICTIONARY: &[&[u8]] = &[
    b"1e300",
    b"-1",
    b"18446744073709551615",
    b"-9223372036854775808",
    b"NaN",
    b"\"\"",
    b"null",
    b"true",
    b"{}",
    b"[]",
    b"\\u001b]0;x\\u0007",
    b"\x1b[31m",
    b"\xc2\x9b",
    b"%00",
    b"%1b",
    b"&state=",
    b"&code=",
    b"&iss=",
    b"&error=",
    b"\"expires_in\":",
    b"\"interval\":",
    b"\"access_token\":\"a\"",
    b"\"token_type\":\"DPoP\"",
    b"\"error\":\"use_dpop_nonce\"",
    b"use_dpop_nonce",
    b"DPoP error=\"use_dpop_nonce\"",
    b"\"keys\":[",
    b"\"kty\":\"RSA\"",
    b"\"alg\":\"none\"",
    b"eyJhbGciOiJub25lIn0",
    b"[[account]]",
    b"version = 1",
    b"<title>",
    b"</title>",
    b"\r\n",
    b"\xff\xfe",
    b"\"op\":\"token_for\"",
    b"\"op\":\"request\"",
    b"\"result\":\"error\"",
    b"\"kind\":\"bad_request\"",
    b"\x00\x00\x00\x10",
    b"\xff\xff\xff\xff",
];

/// A tiny deterministic PRNG (xorshift64*), so runs are reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Mutates `input` in place a few times (flips, inserts, deletes, duplicates, dictionary
/// tokens, splices from `other`). Inputs stay under `max_len`.
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8], max_len: usize) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(8) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.next_u64() as u8;
            }
            2 => {
                let i = rng.below(input.len() + 1);
                input.insert(i, rng.next_u64() as u8);
            }
            3 if !input.is_empty() => {
                let i = rng.below(input.len());
                let n = 1 + rng.below(16.min(input.len() - i));
                input.drain(i..i + n);
            }
            4 | 5 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())];
                let i = rng.below(input.len() + 1);
                input.splice(i..i, token.iter().copied());
            }
            6 if !other.is_empty() => {
                let a = rng.below(other.len());
                let n = 1 + rng.below((other.len() - a).min(64));
                let i = rng.below(input.len() + 1);
                input.splice(i..i, other[a..a + n].iter().copied());
            }
            _ if !input.is_empty() => {
                // Repeat a slice (long strings, deep nesting).
                let i = rng.below(input.len());
                let n = 1 + rng.below(8.min(input.len() - i));
                let chunk: Vec<u8> = input[i..i + n].to_vec();
                for _ in 0..1 + rng.below(64) {
                    input.splice(i..i, chunk.iter().copied());
                }
            }
            _ => input.push(rng.next_u64() as u8),
        }
    }
    input.truncate(max_len);
}

/// What a fuzz run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Inputs run.
    pub executions: u64,
    /// The slowest single input.
    pub slowest: Duration,
    /// Inputs that panicked (the panic message and the input).
    pub crashes: Vec<(String, Vec<u8>)>,
    /// Inputs slower than one second.
    pub hangs: Vec<Vec<u8>>,
}

/// Runs `target` on the seeds, then on mutations of them, until `budget` is spent.
pub fn fuzz(target: &str, seeds: &[Vec<u8>], budget: Duration, seed: u64) -> Report {
    let mut report = Report::default();
    let mut rng = Rng::new(seed);
    let start = Instant::now();
    let empty = [Vec::new()];
    let seeds = if seeds.is_empty() { &empty[..] } else { seeds };
    let one = |input: &[u8], report: &mut Report| {
        let t = Instant::now();
        let result = std::panic::catch_unwind(|| run(target, input));
        let took = t.elapsed();
        report.executions += 1;
        report.slowest = report.slowest.max(took);
        if took > Duration::from_secs(1) {
            report.hangs.push(input.to_vec());
        }
        if let Err(p) = result {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            report.crashes.push((msg, input.to_vec()));
        }
    };
    for s in seeds {
        one(s, &mut report);
    }
    while start.elapsed() < budget && report.crashes.len() < 10 {
        for _ in 0..256 {
            let mut input = seeds[rng.below(seeds.len())].clone();
            let other = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, &mut input, other, 64 * 1024);
            one(&input, &mut report);
        }
    }
    report
}

/// The seed corpus of `target` (`fuzz/corpus/<target>/*`), sorted by name.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// Hands out a fixed Bearer credential for every request, so the protocols' answer paths run.
struct Handouts;

impl latchkey_core::handout::Handouts for Handouts {
    async fn credential(
        &self,
        _request: latchkey_core::handout::CredentialRequest,
    ) -> latchkey_core::Result<latchkey_core::handout::Handout> {
        Ok(latchkey_core::handout::Handout::Issued(
            latchkey_core::handout::Credential {
                account: "fuzz".into(),
                username: "fuzz-user".into(),
                token: latchkey_core::AccessToken {
                    token: latchkey_core::Secret::new("FUZZTOKEN"),
                    token_type: "Bearer".into(),
                    expires_at: None,
                    scope: None,
                    degraded: None,
                    refreshed: false,
                },
            },
        ))
    }

    async fn select(
        &self,
        _: &latchkey_core::handout::Subject,
        _: Option<&str>,
    ) -> latchkey_core::Result<Option<latchkey_core::rules::Selection>> {
        Ok(None)
    }

    async fn token_rejected(
        &self,
        _: &latchkey_core::handout::Subject,
        _: Option<&str>,
    ) -> latchkey_core::Result<Option<String>> {
        Ok(None)
    }

    async fn usernames(&self) -> latchkey_core::Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }
}

/// Polls a future that never waits (the fake [`Handouts`] answers at once) to completion.
fn now<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn git_credential(data: &[u8]) {
    use latchkey_core::tools::git;
    match git::read_request(&mut &data[..]) {
        Ok(req) => {
            if let Some(latchkey_core::handout::Subject::GitRequest {
                protocol,
                host,
                path,
                username,
            }) = req.subject()
            {
                // What the core would make of it (the agent or the direct path).
                if let Err(e) = latchkey_core::rules::Target::from_host_field(
                    protocol.as_deref(),
                    &host,
                    path.as_deref(),
                    username.as_deref(),
                ) {
                    assert_printable(&e);
                }
            }
        }
        Err(e) => assert_printable(&e),
    }
    for action in [git::Action::Get, git::Action::Erase] {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        match now(git::main(action, None, data, &mut out, &mut err, &Handouts)) {
            Ok(()) => {}
            Err(e) => {
                assert_printable(&e);
                assert!(out.is_empty(), "no answer with an error");
            }
        }
    }
}

fn docker_helper(data: &[u8]) {
    use latchkey_core::tools::docker;
    for action in ["get", "erase", "store"] {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = now(docker::main(
            action,
            None,
            data,
            &mut out,
            &mut err,
            &Handouts,
            |e: &latchkey_core::Error| (e.to_string(), 1),
        ));
        let out = String::from_utf8_lossy(&out);
        if code != 0 {
            assert!(!out.contains("FUZZTOKEN"), "no token with an error");
            assert!(
                !out.trim_end().chars().any(latchkey_core::text::is_unsafe),
                "an error on stdout carries control characters: {out:?}"
            );
        }
    }
    if let Err(e) = docker::store_request(&text(data)) {
        assert_printable(&e);
    }
}

fn sts_response(data: &[u8]) {
    use latchkey_core::tools::aws;
    // The first byte picks the status (200 or a refusal), the rest is the body.
    let (status, body) = match data.split_first() {
        Some((b, rest)) if b % 2 == 0 => (200, rest),
        Some((_, rest)) => (403, rest),
        None => (200, data),
    };
    match aws::parse_sts_response(status, body) {
        Ok(c) => {
            let j = c.process_json();
            assert_eq!(j["Version"], 1);
            assert!(j["Expiration"].is_string());
            assert!(!c.access_key_id.is_empty() && !c.secret_access_key.is_empty());
        }
        Err(Ok(e)) => {
            let line = aws::explain_sts_error(&e, "work", "arn:aws:iam::1:role/r");
            assert!(
                !line.chars().any(latchkey_core::text::is_unsafe),
                "{line:?}"
            );
        }
        Err(Err(e)) => assert_printable(&e),
    }
}

fn kube_exec_info(data: &[u8]) {
    use latchkey_core::tools::kubectl;
    let raw = text(data);
    match latchkey_core::kube::parse_exec_info(Some(&raw)) {
        Ok(info) => assert!(latchkey_core::kube::API_VERSIONS.contains(&info.api_version.as_str())),
        Err(e) => assert_printable(&e),
    }
    let mut out = Vec::new();
    let r = now(kubectl::main(
        kubectl::Invocation::default(),
        Some(&raw),
        None,
        &mut out,
        Vec::new(),
        &Handouts,
        async |_| Ok(()),
    ));
    match r {
        Ok(()) => {
            let v = serde_json::from_slice::<serde_json::Value>(&out);
            assert!(
                v.is_ok_and(|v| v["kind"] == "ExecCredential"),
                "the answer is an ExecCredential"
            );
        }
        Err(e) => assert_printable(&e),
    }
}

fn cargo_request(data: &[u8]) {
    use latchkey_core::tools::cargo;
    // cargo's side of the conversation: every non-blank line gets exactly one JSON answer.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let at = OffsetDateTime::UNIX_EPOCH;
    let r = now(cargo::main(
        data,
        &mut out,
        &mut err,
        None,
        &Handouts,
        || at,
        |e: &latchkey_core::Error| e.to_string(),
    ));
    assert!(r.is_ok(), "only writing can fail");
    let Ok(out) = String::from_utf8(out) else {
        panic!("the answers are not UTF-8");
    };
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(r#"{"v":[1]}"#), "the hello comes first");
    let requests = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .count();
    let mut answers = 0;
    for line in lines {
        answers += 1;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            panic!("an answer is not JSON: {line:?}");
        };
        if let Some(e) = v.get("Err") {
            let text = e.to_string();
            assert!(!text.contains("FUZZTOKEN"), "no token with an error");
            if let Some(m) = e.get("message").and_then(|m| m.as_str()) {
                assert!(
                    !m.chars().any(latchkey_core::text::is_unsafe),
                    "an error message carries control characters: {m:?}"
                );
            }
        } else {
            assert_eq!(v["Ok"]["token"], "Bearer FUZZTOKEN", "{line}");
        }
    }
    assert_eq!(answers, requests, "one answer per request line");

    // The same bytes as a user's config.toml: an edit that succeeds is valid TOML holding the
    // provider, and a second edit changes nothing.
    let text = text(data);
    let Ok(index) = cargo::Index::parse("https://crates.example.com/") else {
        panic!("the fixed index parses");
    };
    match cargo::edit_config(&text, "corp", &index, "/usr/bin/latchkey", false) {
        Ok(e) => {
            let Ok(again) = cargo::edit_config(&e.text, "corp", &index, "/usr/bin/latchkey", false)
            else {
                panic!("the edited file does not edit again");
            };
            assert!(again.changes.is_empty(), "idempotent: {:?}", again.changes);
            assert!(e.text.parse::<toml::Table>().is_ok(), "the edit is TOML");
            let Ok(undone) = cargo::edit_config(&e.text, "corp", &index, "/usr/bin/latchkey", true)
            else {
                panic!("the edit does not undo");
            };
            assert!(
                !undone.changes.is_empty(),
                "the provider just written is undone"
            );
        }
        Err(detail) => assert!(
            !detail.chars().any(latchkey_core::text::is_unsafe),
            "{detail:?}"
        ),
    }
}
