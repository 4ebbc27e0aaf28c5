//! In-process tests of the manager's protocols with a scripted transport
//! ([`crate::http::testing::ScriptedTransport`]), a virtual clock ([`ManualClock`]) and the
//! in-memory keychain: the exact outgoing requests, the keychain contents at hand-out time and
//! the waits are all asserted without a network or real time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::http::HttpRequest;
use crate::http::testing::{ScriptedTransport, json, oauth_error, unreachable};
use crate::store::SecretStore;
use crate::store::memory::MemoryStore;

const ISSUER: &str = "https://as.example";
/// The scheme redirect URI of the account `gw` (its own, per account: the mix-up defence).
const SCHEME_REDIRECT_URI: &str = "dev.latchkey.app:/callback/gw";
const TOKEN_URL: &str = "https://as.example/token";
const DEVICE_URL: &str = "https://as.example/device";

/// A manager on a scripted transport, a virtual clock and the in-memory keychain (also used
/// by `derived_tests.rs`).
pub(super) struct Fixture {
    pub(super) m: Arc<LoginManager>,
    pub(super) store: Arc<MemoryStore>,
    pub(super) clock: ManualClock,
    pub(super) http: Arc<ScriptedTransport>,
    _dir: tempfile::TempDir,
}

fn start_time() -> OffsetDateTime {
    time::macros::datetime!(2030-01-01 00:00 UTC)
}

pub(super) fn fixture(
    handler: impl Fn(&HttpRequest) -> Result<Response> + Send + Sync + 'static,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    let s = store.clone();
    let keychain = Keychain::with_factory(
        Arc::new(move || Ok(s.clone() as Arc<dyn SecretStore>)),
        Duration::from_secs(5),
    );
    let clock = ManualClock::new(start_time());
    let http = ScriptedTransport::new(handler);
    let m = LoginManager::new(ManagerOptions {
        paths: Paths::new(dir.path()),
        keychain,
        http: http.client(),
        clock: Arc::new(clock.clone()),
        min_ttl: DEFAULT_MIN_TTL,
        lock_timeout: Duration::from_secs(10),
        retry: RetryPolicy::default(),
    });
    Fixture {
        m: Arc::new(m),
        store,
        clock,
        http,
        _dir: dir,
    }
}

/// An account on explicit endpoints (no discovery).
async fn add_manual(f: &Fixture, name: &str) -> Account {
    f.m.add(NewAccount {
        name: name.into(),
        provider: ProviderSpec {
            preset: crate::provider::Preset::Manual,
            auth_url: Some(Url::parse("https://as.example/authorize").unwrap()),
            token_url: Some(Url::parse(TOKEN_URL).unwrap()),
            device_url: Some(Url::parse(DEVICE_URL).unwrap()),
            ..Default::default()
        },
        client_id: "cli-app".into(),
        scopes: vec!["read".into()],
        ..Default::default()
    })
    .await
    .unwrap()
}

fn stored_tokens(f: &Fixture, account: &Account) -> Option<TokenSet> {
    f.store
        .get(&account.tokens_key())
        .unwrap()
        .map(|s| TokenSet::from_secret(&Secret::new(s)).unwrap())
}

fn put_tokens(f: &Fixture, account: &Account, access: &str, refresh: &str, expires_in_s: i64) {
    let set = TokenSet {
        access_token: Secret::new(access),
        token_type: "Bearer".into(),
        refresh_token: Some(Secret::new(refresh)),
        id_token: None,
        expires_at: Some(f.clock.now() + time::Duration::seconds(expires_in_s)),
        scope: Some("read".into()),
        obtained_at: f.clock.now(),
        session_expires_at: None,
    };
    f.store
        .set(&account.tokens_key(), set.to_secret().unwrap().expose())
        .unwrap();
}

fn refreshed_answer() -> Response {
    json(
        200,
        json!({"access_token": "at-2", "token_type": "bearer", "refresh_token": "rt-2", "expires_in": 3600}),
    )
}

#[tokio::test]
async fn refresh_sends_the_exact_request_and_stores_the_rotated_set_before_hand_out() {
    let f = fixture(|req| {
        assert_eq!(req.url.as_str(), TOKEN_URL);
        Ok(refreshed_answer())
    });
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", 30); // inside the 60 s refresh window
    let t =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(t.token.expose(), "at-2");
    assert!(t.refreshed);
    // The keychain holds the rotated set at hand-out time.
    let stored = stored_tokens(&f, &account).unwrap();
    assert_eq!(stored.access_token.expose(), "at-2");
    assert_eq!(stored.refresh_token.as_ref().unwrap().expose(), "rt-2");
    assert_eq!(
        stored.expires_at,
        Some(start_time() + time::Duration::hours(1))
    );
    // The exact outgoing request.
    let reqs = f.http.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, crate::http::Method::POST);
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(r.header("authorization").is_none(), "public client");
    assert_eq!(
        r.form(),
        vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".to_string(), "rt-1".to_string()),
            ("client_id".to_string(), "cli-app".to_string()),
        ]
    );
    // Fresh now: the hot path makes no request.
    let again =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(again.token.expose(), "at-2");
    assert!(!again.refreshed);
    assert_eq!(f.http.requests().len(), 1);
}

#[tokio::test]
async fn a_rotated_set_that_cannot_be_stored_is_never_handed_out_and_is_a_keychain_error() {
    let store_slot: Arc<std::sync::OnceLock<Arc<MemoryStore>>> = Arc::default();
    let slot = store_slot.clone();
    let f = fixture(move |_| {
        // The provider answers, then the keychain breaks before the new set is written.
        if let Some(s) = slot.get() {
            s.fail_with(Some(crate::error::KeychainProblem::Failed));
        }
        Ok(refreshed_answer())
    });
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", 30);
    store_slot.set(f.store.clone()).ok();
    let e =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Keychain, "{e}");
    assert_eq!(e.kind(), ErrorKind::Keychain);
    assert!(e.to_string().contains("sign in again"), "{e}");
    // The write was retried with the clock's sleeps (100, 200, 400 ms).
    assert_eq!(
        f.clock.sleeps(),
        vec![
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400)
        ]
    );
}

#[tokio::test]
async fn invalid_grant_clears_tokens_and_marks_needs_sign_in() {
    let f = fixture(|_| Ok(oauth_error(400, "invalid_grant")));
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", -10);
    let e =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NeedsSignIn, "{e}");
    assert_eq!(e.kind(), ErrorKind::NeedsSignIn);
    assert!(stored_tokens(&f, &account).is_none(), "tokens cleared");
    let account = f.m.account("work").unwrap();
    assert!(
        account
            .needs_sign_in
            .as_deref()
            .unwrap()
            .contains("invalid_grant")
    );
    // No retry on a final answer, and the next call needs no request to know.
    assert_eq!(f.http.requests().len(), 1);
    let e =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NeedsSignIn);
    assert_eq!(f.http.requests().len(), 1);
}

#[tokio::test]
async fn outage_serves_a_still_valid_token_degraded() {
    let f = fixture(|req| Err(unreachable(req)));
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", 30);
    let t =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(t.token.expose(), "at-1");
    assert!(!t.refreshed);
    assert!(
        t.degraded.as_deref().unwrap().contains("could not refresh"),
        "{:?}",
        t.degraded
    );
    assert_eq!(
        stored_tokens(&f, &account).unwrap().access_token.expose(),
        "at-1"
    );
    assert!(
        f.clock.sleeps().is_empty(),
        "no backoff while a token can be served"
    );
}

/// The provider rotates the refresh token but answers after the proactive deadline: the caller
/// gets the current token at once, and the answer (the only valid refresh token now) is still
/// stored, under the account locks, for the next caller.
#[tokio::test(start_paused = true)]
async fn a_slow_rotating_answer_after_the_proactive_deadline_is_still_stored() {
    let f = fixture(|_| Ok(refreshed_answer()));
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", 30); // valid, inside the refresh window
    f.http.hold();
    let t =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(
        t.token.expose(),
        "at-1",
        "the current token, without waiting"
    );
    assert!(!t.refreshed);
    assert!(
        t.degraded.as_deref().unwrap().contains("in the background"),
        "{:?}",
        t.degraded
    );
    // The request is still in flight (not dropped), the old set still stored.
    assert_eq!(f.http.waiting(), 1);
    assert!(f.m.background_renewals() >= 1);
    assert_eq!(
        stored_tokens(&f, &account)
            .unwrap()
            .refresh_token
            .unwrap()
            .expose(),
        "rt-1"
    );
    // Meanwhile another caller is not held either: the account lock is busy for longer than
    // the deadline, so it gets the current token too, and sends no second request.
    let meanwhile =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(meanwhile.token.expose(), "at-1");
    assert!(
        meanwhile
            .degraded
            .as_deref()
            .unwrap()
            .contains("another refresh"),
        "{:?}",
        meanwhile.degraded
    );
    assert_eq!(f.http.waiting(), 1);
    // The provider answers late; the next caller waits for the background refresh's locks and
    // is served the rotated set, with no second token request.
    f.http.release();
    let next =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(next.token.expose(), "at-2");
    assert!(next.degraded.is_none());
    let stored = stored_tokens(&f, &account).unwrap();
    assert_eq!(stored.refresh_token.as_ref().unwrap().expose(), "rt-2");
    assert_eq!(f.http.count_to(TOKEN_URL), 1);
}

/// A late `invalid_grant` is handled like a prompt one: tokens cleared, needs sign-in.
#[tokio::test(start_paused = true)]
async fn a_late_invalid_grant_after_the_proactive_deadline_marks_needs_sign_in() {
    let f = fixture(|_| Ok(oauth_error(400, "invalid_grant")));
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", 30);
    f.http.hold();
    let t =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(t.token.expose(), "at-1");
    f.http.release();
    // Taking the account lock waits for the background refresh to finish.
    let e =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NeedsSignIn, "{e}");
    assert!(stored_tokens(&f, &account).is_none());
    assert!(f.m.account("work").unwrap().needs_sign_in.is_some());
}

/// `edit` holds the account lock through the metadata rewrite: a refresh of the old client that
/// is in flight when the client id changes finishes first, and its tokens are then removed with
/// the change; they never stay stored under the new settings.
#[tokio::test(start_paused = true)]
async fn edit_waits_for_a_refresh_in_flight_and_leaves_no_tokens_of_the_old_client() {
    let f = fixture(|_| Ok(refreshed_answer()));
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", -5); // expired: the refresh waits for the answer
    f.http.hold();
    let m = f.m.clone();
    let refresh =
        tokio::spawn(async move { m.access_token("work", TokenOptions::default()).await });
    while f.http.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    let m = f.m.clone();
    let edit = tokio::spawn(async move {
        m.edit(
            "work",
            AccountEdit {
                client_id: Some("new-client".into()),
                ..Default::default()
            },
        )
        .await
    });
    // Virtual time passes only when every task is idle: the edit has run as far as it can.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        !edit.is_finished(),
        "edit must wait for the refresh holding the account lock"
    );
    assert_eq!(f.m.account("work").unwrap().client_id, "cli-app");
    f.http.release();
    let t = refresh.await.unwrap().unwrap();
    assert_eq!(
        t.token.expose(),
        "at-2",
        "the refresh of the old client ends"
    );
    let outcome = edit.await.unwrap().unwrap();
    assert!(outcome.signed_out);
    assert_eq!(f.m.account("work").unwrap().client_id, "new-client");
    assert!(
        stored_tokens(&f, &account).is_none(),
        "no tokens of the old client under the new settings"
    );
}

/// `remove` finds pending sign-ins by a search of the keychain, not only through the index:
/// the account's leftovers go; another account's stay, also one this config dir does not know
/// (another config dir may share the keychain), and unreadable ones.
#[tokio::test]
async fn remove_sweeps_pending_items_missing_from_the_index() {
    let f = fixture(|_| Ok(refreshed_answer()));
    let gone = add_manual(&f, "gone").await;
    let kept = add_manual(&f, "kept").await;
    let flow = |id: Uuid| {
        json!({
            "account_id": id,
            "state": "s",
            "verifier": "v",
            "redirect_uri": "http://127.0.0.1/callback",
            "created_at": "2030-01-01T00:00:00Z",
            "expires_at": "2030-01-01T00:10:00Z",
        })
        .to_string()
    };
    f.store.set("pending/aaa", &flow(gone.id)).unwrap();
    f.store.set("pending/bbb", &flow(kept.id)).unwrap();
    f.store.set("pending/ccc", &flow(Uuid::new_v4())).unwrap();
    f.store.set("pending/ddd", "not a flow").unwrap();
    f.m.remove("gone").await.unwrap();
    let pending: Vec<String> = f
        .store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("pending/"))
        .collect();
    assert_eq!(pending, ["pending/bbb", "pending/ccc", "pending/ddd"]);
}

#[tokio::test]
async fn outage_with_an_expired_token_backs_off_exponentially_then_fails() {
    let f = fixture(|req| {
        if req.url.as_str() == TOKEN_URL {
            Ok(json(503, json!({"error": "temporarily_unavailable"})))
        } else {
            Err(unreachable(req))
        }
    });
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", -5);
    let e =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ProviderUnreachable, "{e}");
    assert_eq!(f.http.requests().len(), 3, "three attempts");
    let sleeps = f.clock.sleeps();
    assert_eq!(sleeps.len(), 2, "a pause between attempts: {sleeps:?}");
    // 400 ms then 800 ms, each ±50 % jitter.
    assert!(
        sleeps[0] >= Duration::from_millis(200) && sleeps[0] <= Duration::from_millis(600),
        "{sleeps:?}"
    );
    assert!(
        sleeps[1] >= Duration::from_millis(400) && sleeps[1] <= Duration::from_millis(1200),
        "{sleeps:?}"
    );
    // The old set is kept for a later attempt.
    assert_eq!(
        stored_tokens(&f, &account)
            .unwrap()
            .refresh_token
            .unwrap()
            .expose(),
        "rt-1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_callers_make_exactly_one_token_request() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let f = fixture(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(refreshed_answer())
    });
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", -1);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let m = f.m.clone();
            tokio::spawn(async move { m.access_token("work", TokenOptions::default()).await })
        })
        .collect();
    let mut refreshed = 0;
    for t in tasks {
        let tok = t.await.unwrap().unwrap();
        assert_eq!(tok.token.expose(), "at-2");
        refreshed += usize::from(tok.refreshed);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(f.http.count_to(TOKEN_URL), 1);
    assert_eq!(refreshed, 1);
}

// ---- sign-in completion -------------------------------------------------------------------

fn as_metadata() -> Response {
    json(
        200,
        json!({
            "issuer": ISSUER,
            "authorization_endpoint": "https://as.example/authorize",
            "token_endpoint": TOKEN_URL,
            "authorization_response_iss_parameter_supported": true,
            "code_challenge_methods_supported": ["S256"],
        }),
    )
}

fn sign_in_fixture() -> Fixture {
    fixture(|req| match req.url.path() {
        "/.well-known/oauth-authorization-server" => Ok(as_metadata()),
        "/token" => Ok(json(
            200,
            json!({"access_token": "at-1", "token_type": "Bearer", "refresh_token": "rt-1", "expires_in": 600}),
        )),
        _ => Ok(json(404, json!({}))),
    })
}

async fn add_oauth2(f: &Fixture) -> Account {
    f.m.add(NewAccount {
        name: "gw".into(),
        provider: ProviderSpec {
            preset: crate::provider::Preset::Oauth2,
            issuer: Some(Url::parse(ISSUER).unwrap()),
            ..Default::default()
        },
        client_id: "cli-app".into(),
        redirect: RedirectMode::Scheme,
        ..Default::default()
    })
    .await
    .unwrap()
}

fn callback(start: &SignInStart, extra: &str) -> String {
    format!(
        "{SCHEME_REDIRECT_URI}?state={}&{extra}",
        url::form_urlencoded::byte_serialize(start.state.expose().as_bytes()).collect::<String>()
    )
}

#[tokio::test]
async fn sign_in_completion_checks_state_iss_and_error_then_exchanges_the_code() {
    let f = sign_in_fixture();
    let account = add_oauth2(&f).await;
    let opts = SignInOptions::default();

    // Unknown state.
    let start = f.m.start_sign_in("gw", opts.clone()).await.unwrap();
    let e =
        f.m.complete_sign_in(&format!(
            "{SCHEME_REDIRECT_URI}?state=forged&code=c&iss={ISSUER}"
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Callback, "{e}");
    assert!(e.to_string().contains("does not belong"), "{e}");

    // Wrong issuer (mix-up): refused, and the flow is consumed.
    let e =
        f.m.complete_sign_in(&callback(&start, "code=c&iss=https%3A%2F%2Fevil.example"))
            .await
            .unwrap_err();
    assert!(e.to_string().contains("evil.example"), "{e}");
    let e =
        f.m.complete_sign_in(&callback(&start, &format!("code=c&iss={ISSUER}")))
            .await
            .unwrap_err();
    assert!(
        e.to_string().contains("does not belong"),
        "consumed once: {e}"
    );

    // Missing iss when the provider announces RFC 9207.
    let start = f.m.start_sign_in("gw", opts.clone()).await.unwrap();
    let e =
        f.m.complete_sign_in(&callback(&start, "code=c"))
            .await
            .unwrap_err();
    assert!(e.to_string().contains("no `iss`"), "{e}");

    // error= from the provider.
    let start = f.m.start_sign_in("gw", opts.clone()).await.unwrap();
    let e =
        f.m.complete_sign_in(&callback(
            &start,
            &format!("error=access_denied&error_description=nope&iss={ISSUER}"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Provider, "{e}");
    assert!(e.to_string().contains("access_denied"), "{e}");
    assert_eq!(f.http.count_to(TOKEN_URL), 0, "nothing exchanged so far");

    // Success: the code is exchanged with the verifier and the tokens stored.
    let start = f.m.start_sign_in("gw", opts.clone()).await.unwrap();
    let challenge = start
        .url
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let done =
        f.m.complete_sign_in(&callback(&start, &format!("code=the-code&iss={ISSUER}")))
            .await
            .unwrap();
    assert!(done.has_refresh_token);
    let reqs: Vec<_> = f
        .http
        .requests()
        .into_iter()
        .filter(|r| r.url.as_str() == TOKEN_URL)
        .collect();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(
        r.form_value("grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(r.form_value("code").as_deref(), Some("the-code"));
    assert_eq!(
        r.form_value("redirect_uri").as_deref(),
        Some(SCHEME_REDIRECT_URI)
    );
    assert_eq!(r.form_value("client_id").as_deref(), Some("cli-app"));
    let verifier = r.form_value("code_verifier").unwrap();
    assert_eq!(pkce_challenge(&verifier), challenge, "S256 of the verifier");
    assert_eq!(
        stored_tokens(&f, &account)
            .unwrap()
            .refresh_token
            .unwrap()
            .expose(),
        "rt-1"
    );
}

fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

// ---- device polling -----------------------------------------------------------------------

fn device_fixture(answers: Vec<Response>) -> Fixture {
    let answers = Mutex::new(answers.into_iter());
    fixture(move |req| match req.url.as_str() {
        DEVICE_URL => Ok(json(
            200,
            json!({"device_code": "dev-code", "user_code": "ABCD-EFGH",
                   "verification_uri": "https://as.example/activate", "expires_in": 60, "interval": 2}),
        )),
        TOKEN_URL => Ok(answers
            .lock()
            .unwrap()
            .next()
            .unwrap_or_else(|| oauth_error(400, "authorization_pending"))),
        _ => Err(unreachable(req)),
    })
}

async fn run_device(f: &Fixture) -> Result<SignedIn> {
    add_manual(f, "tv").await;
    let started =
        f.m.start_device_sign_in("tv", SignInOptions::default())
            .await?;
    assert_eq!(started.interval_secs, 2);
    f.m.finish_device_sign_in(&started, std::future::pending())
        .await
}

#[tokio::test]
async fn device_polling_waits_while_pending_and_slows_down() {
    let f = device_fixture(vec![
        oauth_error(400, "authorization_pending"),
        oauth_error(400, "slow_down"),
        oauth_error(400, "authorization_pending"),
        json(
            200,
            json!({"access_token": "at-d", "token_type": "Bearer", "expires_in": 300}),
        ),
    ]);
    let signed = run_device(&f).await.unwrap();
    assert_eq!(signed.account, "tv");
    let s = Duration::from_secs;
    assert_eq!(f.clock.sleeps(), vec![s(2), s(2), s(7), s(7)]);
    let polls: Vec<_> = f
        .http
        .requests()
        .into_iter()
        .filter(|r| r.url.as_str() == TOKEN_URL)
        .collect();
    assert_eq!(polls.len(), 4);
    for p in &polls {
        assert_eq!(
            p.form_value("grant_type").as_deref(),
            Some(DEVICE_CODE_GRANT)
        );
        assert_eq!(p.form_value("device_code").as_deref(), Some("dev-code"));
    }
}

#[tokio::test]
async fn device_polling_stops_on_denial() {
    let f = device_fixture(vec![
        oauth_error(400, "authorization_pending"),
        oauth_error(400, "access_denied"),
    ]);
    let e = run_device(&f).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Provider, "{e}");
    assert!(e.to_string().contains("access_denied"), "{e}");
    assert_eq!(f.http.count_to(TOKEN_URL), 2);
    assert!(stored_tokens(&f, &f.m.account("tv").unwrap()).is_none());
}

#[tokio::test]
async fn device_polling_stops_on_expired_token() {
    let f = device_fixture(vec![oauth_error(400, "expired_token")]);
    let e = run_device(&f).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Provider, "{e}");
    assert!(e.to_string().contains("expired_token"), "{e}");
    assert_eq!(f.http.count_to(TOKEN_URL), 1);
}

#[tokio::test]
async fn device_polling_gives_up_when_the_codes_expire_on_the_controlled_clock() {
    // The provider keeps saying "pending" forever; the codes live 60 s, polled every 2 s.
    let f = device_fixture(vec![]);
    let e = run_device(&f).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // Polls at 2, 4, …, 64 s (past expiry plus one interval of grace), then stops.
    assert_eq!(f.http.count_to(TOKEN_URL), 32);
    assert_eq!(f.clock.now() - start_time(), time::Duration::seconds(64));
}

// ---- sign-in dispatch ---------------------------------------------------------------------

#[tokio::test]
async fn the_sign_in_method_is_decided_by_the_core() {
    let f = fixture(|req| Err(unreachable(req)));
    let account = add_manual(&f, "work").await;
    assert_eq!(account.redirect, RedirectMode::Loopback);
    assert_eq!(
        SignInMethod::for_account(&account, false),
        SignInMethod::Loopback
    );
    assert_eq!(
        SignInMethod::for_account(&account, true),
        SignInMethod::Device
    );
    let mut scheme = account.clone();
    scheme.redirect = RedirectMode::Scheme;
    assert_eq!(
        SignInMethod::for_account(&scheme, false),
        SignInMethod::Scheme
    );
    let mut device = account.clone();
    device.flow = GrantFlow::Device;
    assert_eq!(
        SignInMethod::for_account(&device, false),
        SignInMethod::Device
    );
    let mut cc = account;
    cc.flow = GrantFlow::ClientCredentials;
    assert_eq!(
        SignInMethod::for_account(&cc, true),
        SignInMethod::ClientCredentials,
        "--device cannot turn a client into a user"
    );
}

/// The fixture's manager with token memory (the agent's, the app's).
fn with_memory(mut f: Fixture) -> Fixture {
    let m = Arc::try_unwrap(f.m).expect("no other owner yet");
    f.m = Arc::new(m.with_token_memory());
    f
}

#[tokio::test]
async fn memory_serves_without_the_keychain_and_keeps_an_unsaved_rotation_until_it_is_stored() {
    let store_slot: Arc<std::sync::OnceLock<Arc<MemoryStore>>> = Arc::default();
    let slot = store_slot.clone();
    let f = with_memory(fixture(move |_| {
        // The provider answers, then the keychain breaks before the new set is written.
        if let Some(s) = slot.get() {
            s.fail_with(Some(crate::error::KeychainProblem::Locked));
        }
        Ok(refreshed_answer())
    }));
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", 30);
    let fresh_enough = TokenOptions {
        min_ttl: Some(Duration::ZERO),
        force: false,
    };
    // One read puts the set in memory; then the keychain is not needed for it.
    let t = f.m.access_token("work", fresh_enough).await.unwrap();
    assert_eq!(t.token.expose(), "at-1");
    f.store
        .fail_with(Some(crate::error::KeychainProblem::Unavailable));
    let t = f.m.access_token("work", fresh_enough).await.unwrap();
    assert_eq!(t.token.expose(), "at-1", "served from memory");
    assert_eq!(f.m.keychain_state(), KeychainState::Available);
    // Stale (another process changed something) and the keychain unusable: still served.
    f.m.forget_stale();
    let t = f.m.access_token("work", fresh_enough).await.unwrap();
    assert_eq!(t.token.expose(), "at-1");
    assert_eq!(f.m.keychain_state(), KeychainState::Unavailable);

    // A refresh whose rotated set the keychain refuses: an error, the set kept aside.
    f.store.fail_with(None);
    store_slot.set(f.store.clone()).ok();
    let e =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Keychain, "{e}");
    assert!(e.to_string().contains("kept in memory"), "{e}");
    assert_eq!(f.m.unwritten_count(), 1);
    assert!(f.clock.sleeps().is_empty(), "no waiting in the caller");
    // Never handed out while unsaved: the old token (still valid) is what callers get, and a
    // renewal does not send the consumed refresh token again.
    let t = f.m.access_token("work", fresh_enough).await.unwrap();
    assert_eq!(t.token.expose(), "at-1");
    let e =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Keychain, "{e}");
    assert_eq!(f.http.requests().len(), 1, "rt-1 was not replayed");

    // The keychain works again: the retry stores the rotated set, which is then served.
    f.store.fail_with(None);
    assert_eq!(
        stored_tokens(&f, &account).unwrap().access_token.expose(),
        "at-1"
    );
    assert_eq!(f.m.flush_unwritten().await, 0);
    let stored = stored_tokens(&f, &account).unwrap();
    assert_eq!(stored.access_token.expose(), "at-2");
    assert_eq!(stored.refresh_token.unwrap().expose(), "rt-2");
    let t = f.m.access_token("work", fresh_enough).await.unwrap();
    assert_eq!(t.token.expose(), "at-2");
    assert_eq!(f.http.requests().len(), 1);
}

#[tokio::test]
async fn a_token_a_tool_reported_rejected_is_refreshed_once_and_the_account_stays_signed_in() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let f = fixture(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(refreshed_answer())
    });
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", 3600); // fresh by time
    f.m.mark_token_rejected("work").await.unwrap();
    assert!(f.m.account("work").unwrap().token_rejected_at.is_some());
    // The next request refreshes although the token is fresh by time…
    let t =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(t.token.expose(), "at-2");
    assert!(t.refreshed);
    // …once: the marker is used up, the new token is served from the keychain.
    assert!(f.m.account("work").unwrap().token_rejected_at.is_none());
    let again =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(again.token.expose(), "at-2");
    assert!(!again.refreshed);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(f.m.account("work").unwrap().needs_sign_in.is_none());
    // Without a marker a fresh token never refreshes.
    assert_eq!(f.http.requests().len(), 1);
}

/// A list answered from the recorded token state (no keychain read) does not keep showing
/// "signed in" after a sign-out in the same process.
#[tokio::test]
async fn a_listed_state_is_forgotten_when_the_tokens_are_deleted() {
    let f = with_memory(fixture(|_| panic!("no request expected")));
    let account = add_manual(&f, "work").await;
    // Tokens recorded by another process: the list reads the record, not the keychain.
    put_tokens(&f, &account, "at-1", "rt-1", 3600);
    let set = TokenSet::from_secret(
        &f.m.opts
            .keychain
            .get(&account.tokens_key())
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    crate::token_state::write(f.m.paths(), &account.id, Some(&set));
    let listed = f.m.summaries().await.unwrap();
    assert_eq!(listed[0].status, TokenStatus::SignedIn);
    f.m.logout("work").await.unwrap();
    let listed = f.m.summaries().await.unwrap();
    assert_eq!(listed[0].status, TokenStatus::SignedOut);
}

/// Keep signed in: one sweep renews the marked accounts close to expiry (the margin is a
/// quarter of the lifetime, at least one sweep plus slack), and nothing else.
#[tokio::test]
async fn a_keep_signed_in_sweep_renews_only_marked_accounts_close_to_expiry() {
    let f = fixture(|_| Ok(refreshed_answer()));
    let kept = add_manual(&f, "kept").await;
    let other = add_manual(&f, "other").await;
    let later = add_manual(&f, "later").await;
    for name in ["kept", "later"] {
        f.m.edit(
            name,
            AccountEdit {
                keep_signed_in: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    put_tokens(&f, &kept, "at-1", "rt-1", 10);
    put_tokens(&f, &other, "at-o", "rt-o", 10);
    put_tokens(&f, &later, "at-l", "rt-l", 3600);
    let swept = f.m.keep_signed_in_sweep().await.unwrap();
    assert_eq!(swept.len(), 1, "{swept:?}");
    assert_eq!(swept[0].name, "kept");
    assert!(matches!(swept[0].outcome, Kept::Refreshed), "{swept:?}");
    assert_eq!(f.http.count_to(TOKEN_URL), 1);
    let stored = stored_tokens(&f, &kept).unwrap();
    assert_eq!(stored.refresh_token.unwrap().expose(), "rt-2");
    assert_eq!(
        stored_tokens(&f, &other).unwrap().access_token.expose(),
        "at-o",
        "not marked: left alone"
    );
    // Renewed for an hour: the next sweep finds nothing due and sends nothing.
    assert!(f.m.keep_signed_in_sweep().await.unwrap().is_empty());
    assert_eq!(f.http.count_to(TOKEN_URL), 1);
}

/// The manager owns its background renewals: `drain` waits for a late answer to be stored,
/// and says how many it had to abandon when its deadline passes first.
#[tokio::test(start_paused = true)]
async fn drain_waits_for_a_background_renewal_or_reports_it_abandoned() {
    let f = fixture(|_| Ok(refreshed_answer()));
    let account = add_manual(&f, "work").await;
    put_tokens(&f, &account, "at-1", "rt-1", 30);
    assert!(
        f.m.drain(Duration::from_secs(1)).await.is_clean(),
        "nothing to wait for"
    );
    f.http.hold();
    let t =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(t.token.expose(), "at-1");
    assert_eq!(f.m.background_renewals(), 1);
    // The provider has not answered: a short drain gives up and says so.
    let drained = f.m.drain(Duration::from_secs(1)).await;
    assert_eq!(drained.abandoned, 1);
    assert_eq!(
        stored_tokens(&f, &account)
            .unwrap()
            .refresh_token
            .unwrap()
            .expose(),
        "rt-1"
    );
    // It answers: the drain returns once the rotated set is stored.
    f.http.release();
    assert!(f.m.drain(Duration::from_secs(60)).await.is_clean());
    assert_eq!(f.m.background_renewals(), 0);
    assert_eq!(
        stored_tokens(&f, &account)
            .unwrap()
            .refresh_token
            .unwrap()
            .expose(),
        "rt-2"
    );
}
