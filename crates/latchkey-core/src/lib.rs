//! Latchkey core: OAuth 2.0 / OpenID Connect sign-in, keychain storage and single-flight
//! refresh, with no UI and no Tauri dependency. The `latchkey` CLI and the desktop app are thin
//! shells over [`LoginManager`].
//!
//! Map of the crate:
//! - [`manager`]: the façade, and the refresh and sign-in protocols.
//! - [`provider`]: presets, the quirk table and discovery (pure: no I/O).
//! - [`flow`]: PKCE pieces, the loopback listener and the device authorization grant.
//! - [`headless`]: signing in where no browser can be opened (SSH, no display).
//! - [`dpop`]: DPoP proofs (RFC 9449) with a per-account ES256 key.
//! - [`token`]: token sets and the token endpoint protocol; [`oidc`]: id_token and userinfo.
//! - [`store`]: the keychain under deadlines; [`accounts`]: the metadata file; [`lock`]:
//!   cross-process locks; [`config`]: where things live; [`private`]: modes of what is written
//!   there; [`http`]: the one HTTP client.
//! - [`challenge`]: a resource server's `WWW-Authenticate` (insufficient scope, step-up)
//!   explained with the `latchkey login` command that fixes it.
//! - [`target`]: what a token is for (scopes, resources, audience) and how each provider is
//!   asked for it; the protocol is `manager/derived.rs`.
//! - [`source`]: the agent first, else this process — the one way every shell gets tokens;
//!   [`handout`]: THE hand-out of a tool's credential (rules, https only, bearer only, username),
//!   served by [`LoginManager::credential_for`]; [`tools`]: the tools' protocols (git
//!   credential helper, Docker credential helper, kubectl exec plugin, `exec`'s environment)
//!   as bytes in, bytes out.
//! - [`rules`]: which account an integration (git, Docker, kubectl) uses for a server, the one
//!   path normalisation and the one https-only rule; [`kube`]: kubectl's `KUBERNETES_EXEC_INFO`
//!   and which cluster gets which token.
//! - [`setup`]: pointing git, kubectl and Docker at Latchkey as a plan (file before/after, the
//!   rule) computed without touching anything, then applied — for the CLI's `setup` and the
//!   window alike.
//! - [`backoff`]: the one retry-pause rule (doubling, capped, optional jitter).
//! - [`error`]: the one error type with stable kinds; [`oauth_error`]: typed OAuth error codes;
//!   [`issuer`]: the one issuer-matching rule; [`secret`]: redacting secret strings; [`text`]:
//!   the sanitizer for provider-supplied text.
//! - Seams for tests: [`http::Transport`] (tests: `http::testing::ScriptedTransport`) and
//!   [`clock::Clock`] (tests: [`clock::ManualClock`]). `ARCHITECTURE.md` at the repository root
//!   maps every concern to its file.

pub mod accounts;
pub(crate) mod accounts_index;
pub mod activity;
pub mod agent;
pub mod approval;
pub mod backoff;
pub mod browser;
pub mod challenge;
pub mod clock;
pub mod config;
pub mod dpop;
pub mod error;
pub mod flow;
pub mod handout;
pub mod headless;
pub mod http;
pub mod issuer;
pub mod jwt;
pub mod kube;
pub mod lock;
pub mod manager;
pub mod oauth_error;
pub mod oidc;
pub mod private;
pub mod provider;
pub mod remedy;
pub mod rules;
pub mod scope;
pub mod secret;
pub mod setup;
pub mod source;
pub mod store;
pub mod target;
pub mod text;
pub mod tls;
pub mod token;
pub mod token_state;
pub mod token_type;
pub mod tools;
pub mod watch;

#[cfg(test)]
mod no_command_text_tests;

pub use accounts::{Account, ClientAuthMethod, GrantFlow, Identity, RedirectMode};
pub use error::{Error, ErrorKind, KeychainProblem, Result};
pub use manager::{
    AccessToken, AccountEdit, AccountSummary, DeviceSignIn, Introspection, LoginManager,
    ManagerOptions, NewAccount, OfflineAccess, SignInMethod, SignInOptions, SignedIn, TokenOptions,
    TokenSpec, TokenStatus,
};
pub use provider::{Preset, ProviderSpec};
pub use remedy::{Advice, Remedy};
pub use secret::Secret;
pub use token_type::TokenType;
