//! Command-line grammar (clap derive). Exit codes are documented in the long help.

use clap::{Args, Parser, Subcommand};
use latchkey_core::{ClientAuthMethod, GrantFlow, RedirectMode};
use url::Url;

const AFTER_HELP: &str = "\
Exit codes:
  0    ok (also a token served in degraded mode: a warning goes to stderr)
  1    other error
  2    usage error
  3    needs sign-in (no tokens, or the provider answered invalid_grant)
  4    provider unreachable, or the provider answered with an error
  5    keychain unavailable, locked, or timed out
  6    `latchkey request`: the server answered with HTTP status 400 or more
  7    the hand-out was not approved (denied, unanswered, or the account needs the agent)
  130  interrupted

Environment:
  LATCHKEY_CONFIG_DIR  where accounts.toml, locks and latchkey.log live
                       (default: the platform config dir, ~/.config/latchkey on Linux)
  LATCHKEY_BROWSER     command that opens URLs (the URL is appended as the last argument)
  LATCHKEY_ACCOUNT     the account git, Docker, kubectl, pnpm, cargo and `which` use,
                       overriding the rules
  LATCHKEY_LOG         log filter for stderr and the log file (e.g. debug, latchkey_core=trace)
  LATCHKEY_AGENT_SOCK  the agent's socket, for `latchkey agent` and its clients
                       (default: $XDG_RUNTIME_DIR/latchkey/agent.sock)
  LATCHKEY_NO_AGENT    set to 1: never ask the agent, always use the direct path
                       (refused for accounts that need approval: only the agent asks)
  LATCHKEY_APPROVAL_TIMEOUT
                       seconds an approval prompt waits before it is a denial (default 60)
  LATCHKEY_VAULT_PASSWORD_COMMAND
                       where no Secret Service runs: a command whose output is the
                       vault's passphrase (e.g. `pass show latchkey`)
  HTTPS_PROXY/NO_PROXY proxies for provider requests

Secrets (tokens, client secrets) are only ever stored in the OS keychain (Secret Service), or
where none runs in an encrypted vault in the config dir (`latchkey store`); never in plain text.";

/// Sign in to OAuth 2.0 / OpenID Connect providers and hand fresh tokens to scripts.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about, after_long_help = AFTER_HELP, after_help = "Run `latchkey --help` for exit codes and environment variables.")]
pub struct Cli {
    /// More log detail on stderr (-v info, -vv debug, -vvv trace); see also LATCHKEY_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Machine-readable JSON output (stable field names).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add an account (runs OIDC/RFC 8414 discovery).
    Add(Box<AddArgs>),
    /// Change an account without signing it out where the change allows.
    Edit(EditArgs),
    /// Sign in: the system browser (PKCE; loopback or the desktop app's URI scheme), the
    /// device flow (a code to enter on any device), or a client credentials grant.
    Login(LoginArgs),
    /// Complete a sign-in from its callback URL (what the desktop app does with a deep link).
    Complete(CompleteArgs),
    /// List accounts: provider, identity, status, expiry.
    List(JsonFlag),
    /// Print a valid access token (refreshes first if needed).
    Token(TokenArgs),
    /// Refresh the access token now (with --force even if it is still fresh).
    Refresh(RefreshArgs),
    /// Make an HTTP request with the account's token (Bearer, or DPoP with a proof): body to
    /// stdout, status to stderr; exit 6 on HTTP status >= 400.
    Request(RequestArgs),
    /// Ask the provider about the current access token (RFC 7662): active, exp, scope, sub.
    Introspect(NameArg),
    /// Revoke the tokens at the provider (RFC 7009) and delete them.
    Logout(NameArg),
    /// Log out and forget the account.
    Remove(NameArg),
    /// Who, where, scopes, expiry and problems (exits 3 if an account needs sign-in).
    Status(StatusArgs),
    /// Which account a tool talking to URL gets, and why (LATCHKEY_ACCOUNT, else the most
    /// specific selection rule).
    Which(crate::commands::which::WhichArgs),
    /// git credential helper: `get`, `store` or `erase`, git's protocol on stdin/stdout
    /// (set up with `latchkey setup git`).
    GitCredential(crate::commands::git::GitCredentialArgs),
    /// kubectl exec credential plugin: prints an ExecCredential with a fresh token (set up
    /// with `latchkey setup kubectl`).
    KubectlCredential(crate::commands::kubectl::KubectlArgs),
    /// AWS credential_process: exchanges the account's id_token at STS
    /// (AssumeRoleWithWebIdentity) and prints the credentials, cached until 5 min before they
    /// expire (set up with `latchkey setup aws`).
    AwsCredential(crate::commands::aws::AwsArgs),
    /// Docker credential helper (`get`, `store`, `erase`, `list`); installed as
    /// `docker-credential-latchkey`, set up with `latchkey setup docker`.
    DockerCredential(crate::commands::docker::DockerArgs),
    /// pnpm's tokenHelper: prints `Bearer <token>` for the registry (set up with `latchkey
    /// setup npm`, which writes the wrapper script pnpm runs).
    NpmTokenHelper(crate::commands::npm::NpmTokenHelperArgs),
    /// cargo's credential provider (JSON lines on stdin/stdout): `Bearer <token>` for the
    /// registry's index (set up with `latchkey setup cargo`); `login`/`logout` store nothing.
    CargoCredential(crate::commands::cargo::CargoCredentialArgs),
    /// Run a command with a fresh access token in its environment (never in its arguments);
    /// its exit status and signals pass through.
    Exec(crate::commands::exec::ExecArgs),
    /// Point git, kubectl, Docker, AWS, pnpm or cargo at Latchkey (idempotent; --dry-run, --undo).
    Setup(crate::commands::setup::SetupArgs),
    /// Run the agent: one process that holds the tokens and answers `token`, `request`,
    /// `list`, `status`, `refresh` and `introspect` (and the desktop app) over a user-only
    /// socket. Foreground; `--install` sets it up as a systemd user service.
    Agent(AgentArgs),
    /// Which store holds the secrets (Secret Service or the encrypted vault), what it holds and
    /// why; `store use` pins one, `store migrate` moves every item.
    Store(StoreArgs),
    /// Unlock the vault now (asks for its passphrase; the key is cached for the session).
    Unlock(JsonFlag),
    /// End every approval session grant (in the agent) and forget the vault's key cached for
    /// the session (the next command asks again).
    Lock(JsonFlag),
    /// Hand-outs waiting for your approval in the agent (answer with `approve`/`deny`).
    Pending(JsonFlag),
    /// Approve a waiting hand-out: this once (default), for the requester's session, or always
    /// for its program.
    Approve(ApproveArgs),
    /// Deny a waiting hand-out.
    Deny(IdArg),
    /// Remembered "always allow" decisions and live session grants; --revoke ID forgets one.
    Approvals(ApprovalsArgs),
    /// Who got which token: every hand-out and refusal, newest last (never a token).
    Activity(ActivityArgs),
}

/// `latchkey approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The id `latchkey pending` shows.
    pub id: String,
    /// Allow the requester (program + terminal or session) until the grant is idle or old.
    #[arg(long, conflicts_with = "always")]
    pub session: bool,
    /// Always allow the requester's program for this account (refused for a program you can
    /// change).
    #[arg(long)]
    pub always: bool,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// A prompt's id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// The id `latchkey pending` shows.
    pub id: String,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `latchkey approvals`.
#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// Forget the remembered decision with this id.
    #[arg(long, value_name = "ID")]
    pub revoke: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `latchkey activity`.
#[derive(Debug, Args)]
pub struct ActivityArgs {
    /// Only this account's.
    pub name: Option<String>,
    /// Only this recent: a number with s, m, h or d (`1h`, `7d`).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<u64>,
    /// At most this many (the newest).
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
    /// JSON output: one array of records.
    #[arg(long)]
    pub json: bool,
}

fn parse_since(s: &str) -> Result<u64, String> {
    latchkey_core::approval::parse_ttl(s)
        .map_err(|e| e.to_string().replace("approval TTL", "duration"))
        .and_then(|(secs, max)| match max {
            None => Ok(secs),
            Some(_) => Err("one duration, such as 1h".into()),
        })
}

fn parse_approval(s: &str) -> Result<latchkey_core::approval::ApprovalMode, String> {
    latchkey_core::approval::ApprovalMode::parse(s).map_err(|e| e.to_string())
}

fn parse_approval_ttl(s: &str) -> Result<(u64, Option<u64>), String> {
    latchkey_core::approval::parse_ttl(s).map_err(|e| e.to_string())
}

/// `latchkey store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Option<StoreAction>,
}

/// `latchkey store use|migrate`.
#[derive(Debug, Subcommand)]
pub enum StoreAction {
    /// Pin the store: `vault`, `secret-service` or `auto` (the vault if one exists, else the
    /// Secret Service if it answers, else a new vault). Items are not moved: see `migrate`.
    Use {
        /// auto, vault or secret-service.
        #[arg(value_parser = ["auto", "vault", "secret-service"])]
        store: String,
    },
    /// Move every item to the other store (each verified before the originals are deleted),
    /// and pin it.
    Migrate {
        /// The store to move the items to.
        #[arg(long, value_enum)]
        to: StoreTarget,
    },
}

/// A store to migrate to.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StoreTarget {
    /// The encrypted vault file.
    Vault,
    /// The Secret Service.
    SecretService,
}

/// `latchkey agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Socket path (default: $LATCHKEY_AGENT_SOCK, else $XDG_RUNTIME_DIR/latchkey/agent.sock).
    #[arg(long, conflicts_with_all = ["install", "uninstall"])]
    pub socket: Option<std::path::PathBuf>,
    /// Write and enable the systemd user unit latchkey-agent.service.
    #[arg(long, conflicts_with = "uninstall")]
    pub install: bool,
    /// Disable and remove the systemd user unit.
    #[arg(long)]
    pub uninstall: bool,
}

/// `--json` on a subcommand.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// A command on one account.
#[derive(Debug, Args)]
pub struct NameArg {
    /// Account name.
    pub name: String,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Provider selection flags shared by `add`.
#[derive(Debug, Args, Clone)]
pub struct ProviderArgs {
    /// Preset: oidc, oauth2, manual, google, github, github-enterprise, entra, gitlab, auth0,
    /// okta, cognito, keycloak.
    #[arg(long)]
    pub provider: Option<String>,
    /// OIDC issuer (or RFC 8414 authorization server) URL.
    #[arg(long)]
    pub issuer: Option<Url>,
    /// Microsoft Entra tenant (id, domain, common, organizations, consumers).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Auth0 / Okta / Cognito domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// GitLab / Keycloak / GitHub Enterprise base URL.
    #[arg(long)]
    pub base_url: Option<Url>,
    /// Keycloak realm.
    #[arg(long)]
    pub realm: Option<String>,
    /// AWS region (Cognito).
    #[arg(long)]
    pub region: Option<String>,
    /// Cognito user pool id.
    #[arg(long)]
    pub user_pool_id: Option<String>,
    /// Authorization endpoint (plain OAuth).
    #[arg(long)]
    pub auth_url: Option<Url>,
    /// Token endpoint (plain OAuth).
    #[arg(long)]
    pub token_url: Option<Url>,
    /// Revocation endpoint (plain OAuth).
    #[arg(long)]
    pub revocation_url: Option<Url>,
    /// Userinfo endpoint (plain OAuth).
    #[arg(long)]
    pub userinfo_url: Option<Url>,
    /// Device authorization endpoint (plain OAuth, RFC 8628).
    #[arg(long)]
    pub device_url: Option<Url>,
}

/// `latchkey add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Unique account name (letters, digits, `.`, `_`, `-`).
    pub name: String,
    #[command(flatten)]
    pub provider: ProviderArgs,
    /// OAuth client id.
    #[arg(long)]
    pub client_id: String,
    /// Read the client secret from standard input (stored in the keychain).
    #[arg(long)]
    pub client_secret_stdin: bool,
    /// Scopes to request (repeatable or space-separated). Default: the preset's.
    #[arg(long)]
    pub scope: Vec<String>,
    /// How the browser returns: loopback (127.0.0.1) or scheme (the desktop app).
    #[arg(long, value_parser = parse_redirect)]
    pub redirect: Option<RedirectMode>,
    /// Fixed loopback port (for providers that match redirect ports exactly).
    #[arg(long)]
    pub port: Option<u16>,
    /// Keep this account signed in: renewed ahead of expiry by `latchkey agent` (or the desktop
    /// app) with no client asking.
    #[arg(long)]
    pub keep_signed_in: bool,
    /// Ask before handing out this account's tokens: off (default), session (once per program
    /// and terminal/session) or every-use. Only the agent or the window can ask.
    #[arg(long, value_parser = parse_approval, value_name = "off|session|every-use")]
    pub approval: Option<latchkey_core::approval::ApprovalMode>,
    /// Session grants' lifetime: IDLE or IDLE,MAX (default 10m,12h).
    #[arg(long, value_parser = parse_approval_ttl, value_name = "IDLE[,MAX]")]
    pub approval_ttl: Option<(u64, Option<u64>)>,
    /// Free-text label.
    #[arg(long)]
    pub label: Option<String>,
    /// How the account gets tokens: authorization-code (browser, the default), device (a code
    /// entered on any device, RFC 8628) or client-credentials (no user; needs
    /// --client-secret-stdin).
    #[arg(long, value_parser = parse_flow)]
    pub flow: Option<GrantFlow>,
    /// Client authentication with the secret: basic (client_secret_basic, the default) or post
    /// (client_secret_post).
    #[arg(long, value_parser = parse_auth)]
    pub auth: Option<ClientAuthMethod>,
    /// Ask for DPoP-bound tokens (RFC 9449): a key pair is kept in the keychain and every token
    /// request and `latchkey request` carries a proof.
    #[arg(long)]
    pub dpop: bool,
    /// A resource (RFC 8707) to ask for at sign-in (repeatable), so that tokens for it can be
    /// had later with `latchkey token NAME --resource URI`.
    #[arg(long = "resource", value_name = "URI")]
    pub resource: Vec<String>,
    /// Send `prompt=consent` when a sign-in asks for offline access (OpenID Connect Core §11):
    /// for providers that grant a refresh token only then (stock panva oidc-provider). The
    /// provider asks for consent at every sign-in. Default: the preset's (on for Google only).
    #[arg(long)]
    pub offline_consent: bool,
}

/// `latchkey edit`.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// Account name.
    pub name: String,
    /// New client id (signs the account out).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Read a new client secret from standard input.
    #[arg(long, conflicts_with = "remove_client_secret")]
    pub client_secret_stdin: bool,
    /// Delete the stored client secret.
    #[arg(long)]
    pub remove_client_secret: bool,
    /// New scopes (replace the old ones; take effect at the next sign-in).
    #[arg(long)]
    pub scope: Vec<String>,
    /// New redirect mode.
    #[arg(long, value_parser = parse_redirect)]
    pub redirect: Option<RedirectMode>,
    /// New fixed loopback port.
    #[arg(long, conflicts_with = "ephemeral_port")]
    pub port: Option<u16>,
    /// Use an ephemeral loopback port again.
    #[arg(long)]
    pub ephemeral_port: bool,
    /// Keep signed in (true/false): renewed ahead of expiry by `latchkey agent` or the app.
    #[arg(long)]
    pub keep_signed_in: Option<bool>,
    /// Ask before handing out this account's tokens: off, session or every-use (ends its
    /// session grants).
    #[arg(long, value_parser = parse_approval, value_name = "off|session|every-use")]
    pub approval: Option<latchkey_core::approval::ApprovalMode>,
    /// Session grants' lifetime: IDLE or IDLE,MAX (default 10m,12h).
    #[arg(long, value_parser = parse_approval_ttl, value_name = "IDLE[,MAX]")]
    pub approval_ttl: Option<(u64, Option<u64>)>,
    /// The provider's session maximum in seconds from sign-in (0: unknown); the app warns
    /// before it ends.
    #[arg(long, value_name = "SECONDS")]
    pub session_max: Option<u64>,
    /// Warn this many seconds before the session ends (0: the default, 15 minutes).
    #[arg(long, value_name = "SECONDS")]
    pub session_warning: Option<u64>,
    /// New grant flow: authorization-code, device or client-credentials (to or from client
    /// credentials signs the account out).
    #[arg(long, value_parser = parse_flow)]
    pub flow: Option<GrantFlow>,
    /// New client authentication at the token endpoint: basic or post.
    #[arg(long, value_parser = parse_auth)]
    pub auth: Option<ClientAuthMethod>,
    /// Ask for DPoP-bound tokens (true/false; a change signs the account out).
    #[arg(long)]
    pub dpop: Option<bool>,
    /// Use the account's own redirect URI (`…/callback/NAME`, protects against mix-up attacks;
    /// register it at the provider first). For accounts added before Latchkey had them.
    #[arg(long)]
    pub per_account_redirect: bool,
    /// New label.
    #[arg(long, conflicts_with = "remove_label")]
    pub label: Option<String>,
    /// Remove the label.
    #[arg(long)]
    pub remove_label: bool,
    /// Resources (RFC 8707) to ask for at sign-in (replace the old ones; repeatable; take
    /// effect at the next sign-in).
    #[arg(
        long = "resource",
        value_name = "URI",
        conflicts_with = "remove_resources"
    )]
    pub resource: Vec<String>,
    /// Ask for no resources at sign-in any more.
    #[arg(long)]
    pub remove_resources: bool,
    /// Send `prompt=consent` when a sign-in asks for offline access (true/false; OpenID
    /// Connect Core §11; takes effect at the next sign-in).
    #[arg(long, value_name = "BOOL")]
    pub offline_consent: Option<bool>,
}

/// `latchkey login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Account name.
    pub name: String,
    /// Allow signing in as a different user than the one on record.
    #[arg(long)]
    pub replace: bool,
    /// Seconds to wait for the browser to come back.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Only print the URL; do not open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Use the device flow (RFC 8628) even if the account signs in with the browser.
    #[arg(long)]
    pub device: bool,
    /// Where no browser can be opened (SSH session, no display, `LATCHKEY_BROWSER=none`), use
    /// the device flow by itself when the provider has one.
    #[arg(long)]
    pub auto: bool,
    /// Incremental authorization: consent to these scopes too (repeatable or space-separated).
    /// The user must stay the same; the old tokens stay until the new ones are stored.
    #[arg(long = "add-scope", value_name = "SCOPE", conflicts_with = "replace")]
    pub add_scope: Vec<String>,
    /// Incremental authorization: ask for this resource (RFC 8707) too (repeatable).
    #[arg(long = "add-resource", value_name = "URI", conflicts_with = "replace")]
    pub add_resource: Vec<String>,
    /// Step-up (RFC 9470): authentication context class references to ask for
    /// (`acr_values`, space-separated).
    #[arg(long, value_name = "VALUES")]
    pub acr: Option<String>,
    /// Step-up (RFC 9470): ask for a sign-in no older than this many seconds (`max_age`).
    #[arg(long, value_name = "SECS")]
    pub max_age: Option<u64>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `latchkey request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Account name.
    pub name: String,
    /// The URL (https; http only to 127.0.0.1/localhost).
    pub url: Url,
    /// HTTP method (default GET, or POST with -d).
    #[arg(short = 'X', long)]
    pub method: Option<String>,
    /// Extra header `Name: value` (repeatable). Authorization and DPoP are set by latchkey.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Request body; `@FILE` reads a file, `@-` standard input.
    #[arg(short = 'd', long)]
    pub data: Option<String>,
    /// Print the response status line and headers (to stdout, before the body).
    #[arg(short = 'i', long)]
    pub include: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// What a token is for (`token`, `request`, `exec`, `kubectl-credential`, the rules `setup`
/// writes): without these, the account's own token.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    /// Ask for a token with only these scopes (repeatable or space-separated; a subset of the
    /// account's, RFC 6749 §6).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scope: Vec<String>,
    /// Ask for a token for this resource (RFC 8707; repeatable). Servers that mint tokens only
    /// for resources named at sign-in need `latchkey edit NAME --resource URI` first.
    #[arg(long = "resource", value_name = "URI")]
    pub resource: Vec<String>,
    /// Ask for a token for this audience (Auth0 API identifier; other servers get `audience`).
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
}

/// `latchkey complete`.
#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// The callback URL (e.g. dev.latchkey.app:/callback?code=…&state=…).
    pub url: String,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `latchkey token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Account name.
    pub name: String,
    /// Refresh if fewer than this many seconds are left (default 60).
    #[arg(long)]
    pub min_ttl: Option<u64>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// JSON output: access_token, token_type, expires_at (RFC 3339), scope, degraded.
    #[arg(long, conflicts_with = "sasl")]
    pub json: bool,
    /// Print `Bearer <token>`, the whole Authorization value (for tools that send what they
    /// read as the header, e.g. cargo's `cargo:token-from-stdout`); refused for DPoP tokens.
    #[arg(long, conflicts_with_all = ["json", "sasl"])]
    pub bearer: bool,
    /// Print a mail client's SASL initial response instead of the bare token: `xoauth2` or
    /// `oauthbearer` (RFC 7628), base64; needs --user.
    #[arg(long, value_name = "MECHANISM", requires = "user")]
    pub sasl: Option<String>,
    /// The mail address (login) for --sasl.
    #[arg(long, value_name = "ADDRESS", requires = "sasl")]
    pub user: Option<String>,
    /// The server's host name for --sasl oauthbearer (`host=`; optional).
    #[arg(long, requires = "sasl")]
    pub host: Option<String>,
    /// The server's port for --sasl oauthbearer (`port=`; optional).
    #[arg(long, requires = "sasl")]
    pub port: Option<u16>,
}

/// `latchkey refresh`.
#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Account name.
    pub name: String,
    /// Refresh even if the token is still fresh.
    #[arg(long)]
    pub force: bool,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `latchkey status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Account name (default: all).
    pub name: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

fn parse_flow(s: &str) -> Result<GrantFlow, String> {
    s.parse::<GrantFlow>().map_err(|e| e.to_string())
}

fn parse_auth(s: &str) -> Result<ClientAuthMethod, String> {
    s.parse::<ClientAuthMethod>().map_err(|e| e.to_string())
}

fn parse_redirect(s: &str) -> Result<RedirectMode, String> {
    s.parse::<RedirectMode>().map_err(|e| e.to_string())
}
