//! In-process tests of tokens for other APIs (`derived.rs`), in the style of `tests.rs`: a
//! scripted transport, a virtual clock and the in-memory keychain. They assert the exact
//! derived refresh request, that a rotated refresh token reaches the account's set before the
//! derived token is handed out, that every other entry keeps working, and that no refusal of a
//! derived request touches the account's own tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::tests::{Fixture, fixture};
use super::*;
use crate::http::testing::{json, oauth_error};
use crate::store::SecretStore;
use crate::target::TokenSpec;

const TOKEN_URL: &str = "https://as.example/token";

/// A signed-in account on explicit endpoints, RFC 8707 style, scopes `read write`, its
/// token `at-1` (valid 1 h) and refresh token `rt-1`.
async fn signed_in(f: &Fixture) -> Account {
    let account =
        f.m.add(NewAccount {
            name: "work".into(),
            provider: ProviderSpec {
                preset: crate::provider::Preset::Manual,
                auth_url: Some(Url::parse("https://as.example/authorize").unwrap()),
                token_url: Some(Url::parse(TOKEN_URL).unwrap()),
                ..Default::default()
            },
            client_id: "cli-app".into(),
            scopes: vec!["read".into(), "write".into()],
            resources: vec!["https://a.example".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let set = TokenSet {
        access_token: Secret::new("at-1"),
        token_type: "Bearer".into(),
        refresh_token: Some(Secret::new("rt-1")),
        id_token: None,
        expires_at: Some(f.clock.now() + time::Duration::hours(1)),
        scope: Some("read write".into()),
        obtained_at: f.clock.now(),
        session_expires_at: None,
    };
    f.store
        .set(&account.tokens_key(), set.to_secret().unwrap().expose())
        .unwrap();
    account
}

fn main_set(f: &Fixture, account: &Account) -> TokenSet {
    TokenSet::from_secret(&Secret::new(
        f.store.get(&account.tokens_key()).unwrap().unwrap(),
    ))
    .unwrap()
}

fn spec(scopes: &[&str], resources: &[&str]) -> TokenSpec {
    let s: Vec<String> = scopes.iter().map(|x| x.to_string()).collect();
    let r: Vec<String> = resources.iter().map(|x| x.to_string()).collect();
    TokenSpec::new(&s, &r, None).unwrap()
}

#[tokio::test]
async fn a_derived_token_is_one_exact_refresh_request_then_served_from_its_cache() {
    let f = fixture(|_| {
        Ok(json(
            200,
            json!({"access_token": "d-1", "token_type": "Bearer", "expires_in": 600, "scope": "read"}),
        ))
    });
    let account = signed_in(&f).await;
    let s = spec(&["read"], &["https://a.example"]);
    let t =
        f.m.token_for("work", &s, TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(t.token.expose(), "d-1");
    assert!(t.refreshed);
    assert_eq!(t.scope.as_deref(), Some("read"));
    let reqs = f.http.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].url.as_str(), TOKEN_URL);
    assert_eq!(
        reqs[0].form(),
        vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".to_string(), "rt-1".to_string()),
            ("scope".to_string(), "read".to_string()),
            ("resource".to_string(), "https://a.example".to_string()),
            ("client_id".to_string(), "cli-app".to_string()),
        ]
    );
    // Cached under its own key, without a refresh token; the account's set is untouched.
    let cached = f.store.get(&account.derived_key(&s)).unwrap().unwrap();
    assert!(
        cached.contains("d-1") && !cached.contains("rt-1"),
        "{cached}"
    );
    assert_eq!(main_set(&f, &account).access_token.expose(), "at-1");
    assert_eq!(f.m.account("work").unwrap().derived_tokens, vec![s.clone()]);
    // The same spec in another order is the same entry: no request.
    let again =
        f.m.token_for(
            "work",
            &spec(&["read"], &["https://a.example"]),
            TokenOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(again.token.expose(), "d-1");
    assert!(!again.refreshed);
    assert_eq!(f.http.requests().len(), 1);
    // The account's own token is still the hot path's.
    let own =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(own.token.expose(), "at-1");
    // status shows the entry (never the token).
    let summary = f.m.summary("work").await.unwrap();
    assert_eq!(summary.cached_tokens.len(), 1);
    assert_eq!(
        summary.cached_tokens[0].granted_scope.as_deref(),
        Some("read")
    );
    assert_eq!(summary.cached_tokens[0].expires_in, Some(600));
    // Quoted: "d-1" alone can occur inside an id (a UUID's `…d-1…`).
    assert!(!serde_json::to_string(&summary).unwrap().contains("\"d-1\""));
    // Lists read the recorded facts, not the keychain: with the entry gone from the keychain
    // (nothing else touched), the list still shows it; the record holds no token.
    let state = std::fs::read_to_string(f.m.paths().derived_token_state(&account.id)).unwrap();
    assert!(
        state.contains("read") && !state.contains("\"d-1\""),
        "{state}"
    );
    f.store.delete(&account.derived_key(&s)).unwrap();
    f.clock.advance(Duration::from_secs(100));
    let listed = f.m.summaries().await.unwrap();
    assert_eq!(listed[0].cached_tokens[0].expires_in, Some(500));
}

#[tokio::test]
async fn a_rotation_during_a_derived_refresh_goes_to_the_account_first_and_every_entry_keeps_working()
 {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    let f = fixture(move |req| {
        let i = c.fetch_add(1, Ordering::SeqCst) + 1;
        // Every answer rotates: rt-1 → rt-2 → rt-3 …; a replayed refresh token is refused.
        let presented = req.form_value("refresh_token").unwrap();
        if presented != format!("rt-{i}") {
            return Ok(oauth_error(400, "invalid_grant"));
        }
        Ok(json(
            200,
            json!({"access_token": format!("x-{i}"), "token_type": "Bearer", "expires_in": 600, "refresh_token": format!("rt-{}", i + 1)}),
        ))
    });
    let account = signed_in(&f).await;
    let a = spec(&[], &["https://a.example"]);
    let b = spec(&["read"], &[]);
    let ta =
        f.m.token_for("work", &a, TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(ta.token.expose(), "x-1");
    // The rotated refresh token is the account's now; its access token is unchanged.
    let main = main_set(&f, &account);
    assert_eq!(main.refresh_token.as_ref().unwrap().expose(), "rt-2");
    assert_eq!(main.access_token.expose(), "at-1");
    let tb =
        f.m.token_for("work", &b, TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(tb.token.expose(), "x-2");
    assert_eq!(
        main_set(&f, &account)
            .refresh_token
            .as_ref()
            .unwrap()
            .expose(),
        "rt-3"
    );
    // A renewed first entry and the account's own refresh both use the newest one.
    f.clock.advance(Duration::from_secs(700));
    let ta2 =
        f.m.token_for("work", &a, TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(ta2.token.expose(), "x-3");
    f.clock.advance(Duration::from_secs(3600));
    let own =
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(own.token.expose(), "x-4");
    let presented: Vec<String> = f
        .http
        .requests()
        .iter()
        .map(|r| r.form_value("refresh_token").unwrap())
        .collect();
    assert_eq!(presented, ["rt-1", "rt-2", "rt-3", "rt-4"]);
}

#[tokio::test]
async fn refusals_are_explained_and_say_the_sign_in_may_be_used_up() {
    let answer = Arc::new(Mutex::new("invalid_scope"));
    let a = answer.clone();
    let f = fixture(move |_| Ok(oauth_error(400, &a.lock().unwrap())));
    let account = signed_in(&f).await;
    let before = main_set(&f, &account);

    let e =
        f.m.token_for("work", &spec(&["admin"], &[]), TokenOptions::default())
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RefreshRefused, "{e}");
    let text = e.to_string();
    assert!(!text.contains("latchkey login"), "{text}");
    assert!(
        text.contains("may have used up the sign-in")
            && text.contains("if its next token request fails, sign in again"),
        "{text}"
    );
    match &e {
        Error::RefreshRefused { remedy, .. } => assert_eq!(
            &**remedy,
            &crate::remedy::Remedy::AddScopes {
                account: "work".into(),
                scopes: vec!["admin".into()]
            }
        ),
        other => panic!("{other:?}"),
    }
    // Not repeated; the account's set is exactly as before; the doubt is recorded and shown.
    assert_eq!(f.http.requests().len(), 1);
    assert_eq!(main_set(&f, &account), before);
    let account = f.m.account("work").unwrap();
    assert!(account.needs_sign_in.is_none());
    assert!(account.derived_tokens.is_empty());
    assert!(account.refresh_token_at_risk.is_some());
    let summary = f.m.summary("work").await.unwrap();
    assert!(
        summary
            .problems
            .iter()
            .any(|p| p.contains("may have spent the refresh token")),
        "{:?}",
        summary.problems
    );
    assert_eq!(
        f.m.access_token("work", TokenOptions::default())
            .await
            .unwrap()
            .token
            .expose(),
        "at-1"
    );
}

#[tokio::test]
async fn a_resource_the_sign_in_did_not_name_is_not_asked_for() {
    let f = fixture(|_| panic!("no request expected"));
    signed_in(&f).await;
    let e =
        f.m.token_for(
            "work",
            &spec(&[], &["https://c.example"]),
            TokenOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(
        e.remedy(),
        Some(crate::remedy::Remedy::AddResources {
            account: "work".into(),
            resources: vec!["https://c.example".into()]
        })
    );
    assert!(f.http.requests().is_empty());
    assert!(f.m.account("work").unwrap().refresh_token_at_risk.is_none());
}

#[tokio::test]
async fn an_invalid_target_teaches_the_account_not_to_ask_again() {
    let f = fixture(|_| Ok(oauth_error(400, "invalid_target")));
    let account = signed_in(&f).await;
    // A provider whose row says a refresh may name new resources (Auth0: as `audience`).
    let mut edited = account.clone();
    edited.provider.spec.preset = crate::provider::Preset::Auth0;
    f.m.registry
        .update(move |file| {
            if let Some(a) = file.by_id_mut(&edited.id) {
                *a = edited;
            }
            Ok(())
        })
        .await
        .unwrap();
    let e =
        f.m.token_for(
            "work",
            &spec(&[], &["https://c.example"]),
            TokenOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RefreshRefused, "{e}");
    assert!(f.m.account("work").unwrap().refuses_new_resources);
    assert_eq!(f.http.requests().len(), 1);
    let e =
        f.m.token_for(
            "work",
            &spec(&[], &["https://d.example"]),
            TokenOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.to_string().contains("refused such a request before"),
        "{e}"
    );
    assert_eq!(f.http.requests().len(), 1, "not sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_invalid_grant_for_another_api_no_caller_sends_the_refresh_token_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let f = fixture(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(oauth_error(400, "invalid_grant"))
    });
    let account = signed_in(&f).await;
    // Ten callers of a token for another API, then ten of the account's own (forced).
    for own in [false, true] {
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let m = f.m.clone();
                tokio::spawn(async move {
                    if own {
                        m.access_token(
                            "work",
                            TokenOptions {
                                min_ttl: None,
                                force: true,
                            },
                        )
                        .await
                    } else {
                        m.token_for("work", &spec(&["read"], &[]), TokenOptions::default())
                            .await
                    }
                })
            })
            .collect();
        for t in tasks {
            let e = t.await.unwrap().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NeedsSignIn, "{e}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one request, then nobody");
    }
    assert!(f.store.get(&account.tokens_key()).unwrap().is_none());
    assert!(f.m.account("work").unwrap().needs_sign_in.is_some());
}

#[tokio::test]
async fn the_cache_records_what_was_granted_and_sign_out_deletes_every_entry() {
    let f = fixture(|_| {
        Ok(json(
            200,
            json!({"access_token": "d-1", "token_type": "Bearer", "expires_in": 600, "scope": "read write"}),
        ))
    });
    let account = signed_in(&f).await;
    let s = spec(&["read"], &[]);
    let t =
        f.m.token_for("work", &s, TokenOptions::default())
            .await
            .unwrap();
    // Broader than asked: recorded as granted.
    assert_eq!(t.scope.as_deref(), Some("read write"));
    let key = account.derived_key(&s);
    assert!(f.store.get(&key).unwrap().is_some());
    f.m.logout("work").await.unwrap();
    assert!(
        f.store.get(&key).unwrap().is_none(),
        "derived entry deleted"
    );
    assert!(f.store.get(&account.tokens_key()).unwrap().is_none());
    assert!(f.m.account("work").unwrap().derived_tokens.is_empty());
    assert!(
        !f.m.paths().derived_token_state(&account.id).exists(),
        "the recorded facts go with the entries"
    );
}

/// Signs `work` in again through the browser (scheme redirect); the fixture answers the code.
async fn sign_in_again(f: &Fixture, opts: SignInOptions) -> SignedIn {
    let start =
        f.m.start_sign_in(
            "work",
            SignInOptions {
                redirect: Some(RedirectMode::Scheme),
                ..opts
            },
        )
        .await
        .unwrap();
    let state =
        url::form_urlencoded::byte_serialize(start.state.expose().as_bytes()).collect::<String>();
    f.m.complete_sign_in(&format!("{}?state={state}&code=c", start.redirect_uri))
        .await
        .unwrap()
}

/// A token endpoint that answers a code with `at-N`/`rt-N` and a derived request with `d-N`.
fn numbering_provider() -> Fixture {
    let n = Arc::new(AtomicUsize::new(1));
    fixture(move |req| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        let code = req
            .form()
            .iter()
            .any(|(k, v)| k == "grant_type" && v == "authorization_code");
        Ok(json(
            200,
            if code {
                json!({"access_token": format!("at-{i}"), "token_type": "Bearer", "expires_in": 3600, "refresh_token": format!("rt-{i}")})
            } else {
                json!({"access_token": format!("d-{i}"), "token_type": "Bearer", "expires_in": 3600})
            },
        ))
    })
}

#[tokio::test]
async fn a_new_sign_in_drops_the_cached_tokens_of_the_one_before() {
    // A provider without identity (manual endpoints): whoever signs in next is unknown.
    let f = numbering_provider();
    let account = signed_in(&f).await;
    let s = spec(&[], &["https://a.example"]);
    let first =
        f.m.token_for("work", &s, TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(first.token.expose(), "d-1");
    let old_entry = f.store.get(&account.derived_key(&s)).unwrap().unwrap();

    sign_in_again(&f, SignInOptions::default()).await;
    assert_eq!(f.m.account("work").unwrap().sign_in_generation, 1);
    assert!(
        f.store.get(&account.derived_key(&s)).unwrap().is_none(),
        "deleted at the new sign-in"
    );
    let second =
        f.m.token_for("work", &s, TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(
        second.token.expose(),
        "d-3",
        "obtained with the new sign-in"
    );

    // An entry of the earlier sign-in (a failed deletion, another process) is never served,
    // and deleted when found.
    f.store.set(&account.derived_key(&s), &old_entry).unwrap();
    let third =
        f.m.token_for("work", &s, TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(third.token.expose(), "d-4");
    let stored = f.store.get(&account.derived_key(&s)).unwrap().unwrap();
    assert!(
        stored.contains("d-4") && stored.contains("\"generation\":1"),
        "{stored}"
    );

    // Without a known identity, even an --add-scope sign-in may be someone else's.
    sign_in_again(
        &f,
        SignInOptions {
            add_scopes: vec!["admin".into()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(f.m.account("work").unwrap().sign_in_generation, 2);
    assert_eq!(
        f.m.token_for("work", &s, TokenOptions::default())
            .await
            .unwrap()
            .token
            .expose(),
        "d-6"
    );
}

#[tokio::test]
async fn sign_out_deletes_cached_tokens_that_no_listing_or_record_knows() {
    let f = fixture(|_| panic!("no request expected"));
    let account = signed_in(&f).await;
    // Left by a crash between the keychain write and the listing, or by an older Latchkey.
    let orphan = format!("{}/derived/{}", account.id, "0".repeat(64));
    f.store.set(&orphan, "{}").unwrap();
    let foreign = format!("{}/derived/{}", Uuid::new_v4(), "0".repeat(64));
    f.store.set(&foreign, "{}").unwrap();
    f.m.logout("work").await.unwrap();
    assert!(f.store.get(&orphan).unwrap().is_none(), "swept by a search");
    assert!(
        f.store.get(&foreign).unwrap().is_some(),
        "another account's entry stays"
    );
}

#[tokio::test]
async fn what_the_provider_cannot_do_is_refused_before_any_request() {
    let f = fixture(|_| panic!("no request expected"));
    let account = signed_in(&f).await;
    let mut edited = account.clone();
    edited.provider.spec.preset = crate::provider::Preset::Google;
    // Google: no resources at all.
    f.m.registry
        .update(move |file| {
            if let Some(a) = file.by_id_mut(&edited.id) {
                *a = edited;
            }
            Ok(())
        })
        .await
        .unwrap();
    let e =
        f.m.token_for(
            "work",
            &spec(&[], &["https://a.example"]),
            TokenOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("--scope"), "{e}");
    assert!(f.http.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_callers_of_one_derived_token_make_one_request() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let f = fixture(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(json(
            200,
            json!({"access_token": "d-1", "token_type": "Bearer", "expires_in": 600, "refresh_token": "rt-2"}),
        ))
    });
    let account = signed_in(&f).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let m = f.m.clone();
            tokio::spawn(async move {
                m.token_for(
                    "work",
                    &spec(&[], &["https://a.example"]),
                    TokenOptions::default(),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().token.expose(), "d-1");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        main_set(&f, &account)
            .refresh_token
            .as_ref()
            .unwrap()
            .expose(),
        "rt-2"
    );
}

#[tokio::test]
async fn incremental_sign_in_asks_for_the_union_and_step_up_parameters() {
    let f = fixture(|_| panic!("no request expected"));
    signed_in(&f).await;
    let start =
        f.m.start_sign_in(
            "work",
            SignInOptions {
                redirect: Some(RedirectMode::Scheme),
                add_scopes: vec!["admin read".into()],
                add_resources: vec!["https://b.example".into()],
                acr_values: Some("urn:mfa".into()),
                max_age: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let q: HashMap<String, Vec<String>> =
        start
            .url
            .query_pairs()
            .fold(HashMap::new(), |mut m, (k, v)| {
                m.entry(k.into_owned()).or_default().push(v.into_owned());
                m
            });
    assert_eq!(q["scope"], ["read write admin"]);
    assert_eq!(q["resource"], ["https://a.example", "https://b.example"]);
    assert_eq!(q["acr_values"], ["urn:mfa"]);
    assert_eq!(q["max_age"], ["0"]);
    // Not the account's settings until a sign-in stores new tokens.
    let account = f.m.account("work").unwrap();
    assert_eq!(account.scopes, ["read", "write"]);
    assert_eq!(account.resources, ["https://a.example"]);
    // --add-scope cannot replace the identity.
    let e =
        f.m.start_sign_in(
            "work",
            SignInOptions {
                replace_identity: true,
                add_scopes: vec!["admin".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

/// A derived request that outlives the proactive deadline with a valid cached token in hand:
/// the cached token is served at once, and the late answer, which rotates the account's
/// refresh token, is still stored (the account's set first) for the next caller.
#[tokio::test(start_paused = true)]
async fn a_slow_rotating_derived_answer_after_the_deadline_is_still_stored() {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    let f = fixture(move |_| {
        let i = c.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(json(
            200,
            json!({"access_token": format!("x-{i}"), "token_type": "Bearer", "expires_in": 600, "refresh_token": format!("rt-{}", i + 1)}),
        ))
    });
    let account = signed_in(&f).await;
    let a = spec(&[], &["https://a.example"]);
    let first =
        f.m.token_for("work", &a, TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(first.token.expose(), "x-1");
    f.clock.advance(Duration::from_secs(570)); // 30 s left: a proactive renewal
    f.http.hold();
    let served =
        f.m.token_for("work", &a, TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(
        served.token.expose(),
        "x-1",
        "the cached token, without waiting"
    );
    assert!(
        served
            .degraded
            .as_deref()
            .unwrap()
            .contains("in the background"),
        "{:?}",
        served.degraded
    );
    assert_eq!(f.http.waiting(), 1, "the request is still in flight");
    // A second caller while it is in flight: the wait for the account locks is bounded too,
    // and it gets the still-valid cached token without a second request.
    let second = tokio::time::timeout(
        Duration::from_secs(60),
        f.m.token_for("work", &a, TokenOptions::default()),
    )
    .await
    .expect("the second caller is not held until the background request ends")
    .unwrap();
    assert_eq!(second.token.expose(), "x-1");
    assert!(
        second
            .degraded
            .as_deref()
            .unwrap()
            .contains("another refresh"),
        "{:?}",
        second.degraded
    );
    assert_eq!(f.http.waiting(), 1, "no second request");
    f.http.release();
    // The next caller waits for the background request's locks and finds its answer.
    let next =
        f.m.token_for("work", &a, TokenOptions::default())
            .await
            .unwrap();
    assert_eq!(next.token.expose(), "x-2");
    assert_eq!(
        main_set(&f, &account)
            .refresh_token
            .as_ref()
            .unwrap()
            .expose(),
        "rt-3",
        "the late answer's rotated refresh token is the account's"
    );
    assert_eq!(f.http.requests().len(), 2);
}
