#!/usr/bin/env node
// Latchkey test OAuth 2.0 / OpenID Connect provider (panva oidc-provider 9.13.3).
//
// Usage:  PROVIDER_CONFIG='{"accessTokenTtl":60}' EVENT_LOG=/tmp/ev.jsonl node server.mjs
// Prints exactly one line on stdout once listening:
//   {"ready":true,"issuer":"http://127.0.0.1:PORT","port":PORT}
// Everything else (warnings, errors) goes to stderr. See README.md for the full contract.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import util from 'node:util';

// ---------------------------------------------------------------------------
// stdout is reserved for the single ready line. oidc-provider prints NOTICE lines
// with console.info (stdout) and WARNING lines with console.warn (stderr).
// ---------------------------------------------------------------------------
const VERBOSE = process.env.PROVIDER_VERBOSE === '1';
const writeStdout = process.stdout.write.bind(process.stdout);
const toStderr = (...args) => process.stderr.write(`${util.format(...args)}\n`);
console.log = VERBOSE ? toStderr : () => {};
console.info = VERBOSE ? toStderr : () => {};
console.debug = VERBOSE ? toStderr : () => {};
const QUIET_WARNINGS = [
  'already parsed request body detected', // expected: we pre-read /token bodies (see below)
  'devInteractions is enabled', // intentional for a test provider
  'Unsupported runtime', // Node 20 works; oidc-provider prefers 22+
  'in-memory adapter', // intentional: state lives for the life of the test server
];
console.warn = (...args) => {
  const msg = util.format(...args);
  if (!VERBOSE && QUIET_WARNINGS.some((q) => msg.includes(q))) return;
  process.stderr.write(`${msg}\n`);
};

function fatal(msg) {
  process.stderr.write(`test-provider: ${msg}\n`);
  process.exit(2);
}

// Start the slow work (module loading, key generation) concurrently.
const joseP = import('jose');
const providerModP = import('oidc-provider');

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------
const DEFAULTS = {
  accessTokenTtl: 60,
  clientCredentialsTtl: null, // null -> accessTokenTtl
  refreshedAccessTokenTtl: null, // null -> accessTokenTtl; lifetime of tokens from a refresh
  idTokenTtl: 60,
  refreshTokenTtl: 86400,
  authorizationCodeTtl: 60,
  deviceCodeTtl: 600,
  deviceInterval: 5,
  slowDown: false,
  slowDownFromIssue: true,
  slowDownToleranceMs: 0,
  par: false,
  requirePar: false,
  dpop: false,
  dpopRequireNonce: false,
  clockTolerance: 5,
  rotateRefreshToken: true,
  strictClientAuthMethod: true,
  acceptOfflineAccessOnRefresh: false,
  resourceIndicators: false,
  stockRefreshTokens: false,
};

let cfg;
try {
  const raw = process.env.PROVIDER_CONFIG ? JSON.parse(process.env.PROVIDER_CONFIG) : {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('not a JSON object');
  for (const key of Object.keys(raw)) {
    if (!Object.hasOwn(DEFAULTS, key)) throw new Error(`unknown key ${JSON.stringify(key)} (known: ${Object.keys(DEFAULTS).join(', ')})`);
  }
  cfg = { ...DEFAULTS, ...raw };
  for (const [key, def] of Object.entries(DEFAULTS)) {
    const v = cfg[key];
    if (typeof def === 'boolean' && typeof v !== 'boolean') throw new Error(`${key} must be a boolean`);
    if (typeof def === 'number' && !(Number.isInteger(v) && v >= 0)) throw new Error(`${key} must be a non-negative integer`);
  }
  if (cfg.clientCredentialsTtl === null) cfg.clientCredentialsTtl = cfg.accessTokenTtl;
  if (cfg.refreshedAccessTokenTtl === null) cfg.refreshedAccessTokenTtl = cfg.accessTokenTtl;
  for (const key of ['accessTokenTtl', 'clientCredentialsTtl', 'refreshedAccessTokenTtl', 'idTokenTtl', 'refreshTokenTtl', 'authorizationCodeTtl', 'deviceCodeTtl']) {
    if (!(Number.isInteger(cfg[key]) && cfg[key] >= 1)) throw new Error(`${key} must be a positive integer (seconds)`);
  }
  if (cfg.requirePar && !cfg.par) cfg.par = true;
  if (cfg.dpopRequireNonce && !cfg.dpop) cfg.dpop = true;
} catch (err) {
  fatal(`invalid PROVIDER_CONFIG: ${err.message}`);
}

// ---------------------------------------------------------------------------
// Event log (JSON lines, synchronous appends) + in-memory copy for GET /__test/events
// ---------------------------------------------------------------------------
const events = [];
let eventFd = null;
if (process.env.EVENT_LOG) {
  try {
    eventFd = fs.openSync(process.env.EVENT_LOG, 'a');
  } catch (err) {
    fatal(`cannot open EVENT_LOG ${process.env.EVENT_LOG}: ${err.message}`);
  }
}

function logEvent(name, fields = {}) {
  const entry = { event: name, t: Date.now() };
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) entry[k] = v;
  }
  events.push(entry);
  if (eventFd !== null) {
    try {
      fs.writeSync(eventFd, `${JSON.stringify(entry)}\n`);
    } catch (err) {
      process.stderr.write(`test-provider: cannot write EVENT_LOG: ${err.message}\n`);
    }
  }
}

// A non-reversible reference to a token value, so tests can correlate without the
// log ever containing a token: first 16 hex chars of sha256(token value).
const ref = (value) => (typeof value === 'string' && value
  ? crypto.createHash('sha256').update(value).digest('hex').slice(0, 16)
  : undefined);

// ---------------------------------------------------------------------------
// Listen first (ephemeral port), then build the provider with the right issuer.
// ---------------------------------------------------------------------------
const server = http.createServer();
server.keepAliveTimeout = 5000;
const requestedPort = process.env.PORT ? Number(process.env.PORT) : 0;
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) fatal(`invalid PORT ${process.env.PORT}`);

const listening = new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(requestedPort, '127.0.0.1', () => {
    server.off('error', reject);
    resolve(server.address().port);
  });
});

const jose = await joseP;
const rsaP = jose.generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
const ecP = jose.generateKeyPair('ES256', { extractable: true });

let port;
try {
  port = await listening;
} catch (err) {
  fatal(`cannot listen on 127.0.0.1:${requestedPort}: ${err.message}`);
}
const ISSUER = `http://127.0.0.1:${port}`;

const [{ default: Provider, errors: oidcErrors }, rsa, ec] = await Promise.all([providerModP, rsaP, ecP]);

const kidSuffix = crypto.randomBytes(4).toString('hex');
const rsaJwk = { ...(await jose.exportJWK(rsa.privateKey)), kid: `rs256-${kidSuffix}`, alg: 'RS256', use: 'sig' };
const ecJwk = { ...(await jose.exportJWK(ec.privateKey)), kid: `es256-${kidSuffix}`, alg: 'ES256', use: 'sig' };
const signingKeys = {
  RS256: { key: rsa.privateKey, kid: rsaJwk.kid },
  ES256: { key: ec.privateKey, kid: ecJwk.kid },
};

// ---------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------
function capitalize(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}
async function findAccount(_ctx, id) {
  if (typeof id !== 'string' || id === '') return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        name: `${capitalize(id)} Example`,
        email: `${id}@example.test`,
        email_verified: true,
        preferred_username: id,
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------
const ALL_SCOPES = ['openid', 'profile', 'email', 'offline_access', 'api:read', 'api:write'];
const USER_GRANTS = ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'];
const REDIRECTS = ['http://127.0.0.1/callback', 'dev.latchkey.app:/callback'];

const clients = [
  {
    client_id: 'latchkey-public',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: USER_GRANTS,
    response_types: ['code'],
    redirect_uris: REDIRECTS,
    scope: ALL_SCOPES.join(' '),
  },
  {
    client_id: 'latchkey-confidential',
    client_secret: 'confidential-secret-0123456789abcdef',
    application_type: 'native',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: USER_GRANTS,
    response_types: ['code'],
    redirect_uris: REDIRECTS,
    scope: ALL_SCOPES.join(' '),
  },
  {
    client_id: 'latchkey-svc',
    client_secret: 'svc-secret-0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'api:read api:write',
  },
  {
    client_id: 'latchkey-svc-post',
    client_secret: 'svc-post-secret-0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'api:read api:write',
  },
  {
    client_id: 'latchkey-dpop',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: USER_GRANTS,
    response_types: ['code'],
    redirect_uris: REDIRECTS,
    scope: ALL_SCOPES.join(' '),
    // only a recognized client property when DPoP is enabled
    ...(cfg.dpop ? { dpop_bound_access_tokens: true } : {}),
  },
  {
    client_id: 'latchkey-rs',
    client_secret: 'rs-secret-0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  },
];

// Resource servers of the `resourceIndicators` feature (RFC 8707).
const RESOURCE_SERVERS = {
  'https://a.api.test': { scope: 'api:read api:write' },
  'https://b.api.test': { scope: 'api:read api:write' },
};

// ---------------------------------------------------------------------------
// Provider
// ---------------------------------------------------------------------------
const DAY = 24 * 60 * 60;
const longTtl = Math.max(30 * DAY, 10 * cfg.refreshTokenTtl);

const configuration = {
  clients,
  findAccount,
  jwks: { keys: [rsaJwk, ecJwk] },
  scopes: ALL_SCOPES,
  responseTypes: ['code'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  // put granted profile/email claims into the ID token too (like most real IdPs)
  conformIdTokenClaims: false,
  clockTolerance: cfg.clockTolerance,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  rotateRefreshToken: cfg.rotateRefreshToken,
  // issue a refresh token for every code / device_code grant of a client allowed the
  // refresh_token grant, even without offline_access (+ prompt=consent); with
  // `stockRefreshTokens`, as stock oidc-provider does: only when `offline_access` was granted,
  // which needs `prompt=consent` in the authorization request (OpenID Connect Core §11)
  issueRefreshToken: async (_ctx, client, source) => client.grantTypeAllowed('refresh_token')
    && (source.scopes.has('offline_access')
      || (!cfg.stockRefreshTokens && (source.kind === 'AuthorizationCode' || source.kind === 'DeviceCode'))),
  // tokens are not bound to the (headless) browser session
  expiresWithSession: async () => false,
  ttl: {
    AccessToken: (ctx) => (ctx?.oidc?.params?.grant_type === 'refresh_token'
      ? cfg.refreshedAccessTokenTtl : cfg.accessTokenTtl),
    ClientCredentials: () => cfg.clientCredentialsTtl,
    IdToken: () => cfg.idTokenTtl,
    RefreshToken: () => cfg.refreshTokenTtl,
    AuthorizationCode: () => cfg.authorizationCodeTtl,
    DeviceCode: () => cfg.deviceCodeTtl,
    Interaction: () => 3600,
    Session: () => longTtl,
    Grant: () => longTtl,
    PushedAuthorizationRequest: () => 600,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>oops! something went wrong</title></head><body><h1>oops! something went wrong</h1>${Object.entries(out).map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('')}</body></html>`;
  },
  clientBasedCORS: () => false,
  features: {
    devInteractions: { enabled: true },
    claimsParameter: { enabled: false },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    userinfo: { enabled: true },
    revocation: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => {
        if (token.clientId !== client.clientId) {
          if (client.clientAuthMethod === 'none') return false;
          throw new oidcErrors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
    introspection: {
      enabled: true,
      // any authenticated client may introspect any token; a public client only its own
      allowedPolicy: async (ctx, client, token) => client.clientAuthMethod !== 'none'
        || token.clientId === client.clientId,
    },
    // RFC 8707 (off by default: plain opaque access tokens for userinfo). On, the resource
    // servers RESOURCE_SERVERS mint opaque tokens whose `aud` is the resource; a token for a
    // resource is issued only when it was named at authorization (the refresh token's grant),
    // and a request without `resource` gets a userinfo token as before.
    resourceIndicators: {
      enabled: cfg.resourceIndicators,
      defaultResource: async () => undefined,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, indicator) => {
        const rs = RESOURCE_SERVERS[indicator];
        if (!rs) throw new oidcErrors.InvalidTarget();
        return { scope: rs.scope, audience: indicator, accessTokenFormat: 'opaque' };
      },
    },
    pushedAuthorizationRequests: {
      enabled: cfg.par,
      requirePushedAuthorizationRequests: cfg.requirePar,
    },
    dPoP: {
      enabled: cfg.dpop,
      nonceSecret: cfg.dpopRequireNonce ? crypto.randomBytes(32) : undefined,
      requireNonce: () => cfg.dpopRequireNonce,
    },
  },
};

let provider;
try {
  provider = new Provider(ISSUER, configuration);
} catch (err) {
  fatal(`provider configuration failed: ${err.stack || err}`);
}

// Per-account redirect URIs (Latchkey's mix-up defence, RFC 9700 §4.4): a registered
// `…/callback` also admits `…/callback/<one segment>` (`/callback/<account name>`), so every test
// account works without registering its own URI. Real providers match exactly; the match is
// still exact on everything else (scheme, host, the `/callback` prefix; loopback ports are
// free per RFC 8252 §7.3 as before).
{
  const exactlyAllowed = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    if (exactlyAllowed.call(this, value)) return true;
    const m = /^(.*\/callback)\/[A-Za-z0-9._-]{1,64}$/.exec(typeof value === 'string' ? value : '');
    return m !== null && exactlyAllowed.call(this, m[1]);
  };
}

// ---------------------------------------------------------------------------
// Provider events -> event log (never token values)
// ---------------------------------------------------------------------------
function safe(fn) {
  return (...args) => {
    try {
      fn(...args);
    } catch (err) {
      process.stderr.write(`test-provider: event logging failed: ${err.stack || err}\n`);
    }
  };
}
const clientIdOf = (ctx) => ctx?.oidc?.client?.clientId ?? ctx?.oidc?.params?.client_id
  ?? ctx?.state?.latchkey?.client_id ?? undefined;
const errFields = (err) => ({
  error: err?.error ?? (err?.message ? 'server_error' : undefined),
  error_description: err?.error_description,
  error_detail: err?.error_detail,
});
const issuedKinds = (body) => (body && typeof body === 'object'
  ? ['access_token', 'id_token', 'refresh_token'].filter((k) => typeof body[k] === 'string')
  : undefined);

provider.on('grant.success', safe((ctx) => {
  const { params, entities } = ctx.oidc;
  const body = ctx.body;
  logEvent('grant.success', {
    grant_type: params?.grant_type,
    client_id: clientIdOf(ctx),
    account_id: entities.Account?.accountId,
    grant_id: entities.Grant?.jti,
    issued: issuedKinds(body),
    scope: body?.scope,
    dpop_bound: body?.token_type === 'DPoP' ? true : undefined,
    presented_refresh_token_ref: params?.grant_type === 'refresh_token' ? ref(params.refresh_token) : undefined,
    refresh_token_ref: ref(body?.refresh_token),
    resource: params?.resource,
    requested_scope: params?.scope,
  });
}));
provider.on('grant.error', safe((ctx, err) => {
  logEvent('grant.error', {
    grant_type: ctx.oidc?.params?.grant_type ?? ctx.state?.latchkey?.grant_type,
    resource: ctx.oidc?.params?.resource,
    client_id: clientIdOf(ctx),
    ...errFields(err),
  });
}));
provider.on('grant.revoked', safe((ctx, grantId) => {
  logEvent('grant.revoked', { client_id: clientIdOf(ctx), grant_id: grantId, route: ctx?.oidc?.route });
}));
for (const kind of ['refresh_token', 'authorization_code', 'device_code']) {
  for (const what of ['consumed', 'saved', 'destroyed']) {
    if (kind !== 'refresh_token' && what === 'saved') continue;
    provider.on(`${kind}.${what}`, safe((token) => {
      logEvent(`${kind}.${what}`, {
        client_id: token.clientId,
        grant_id: token.grantId,
        ref: ref(token.jti),
        rotations: kind === 'refresh_token' ? token.rotations : undefined,
      });
    }));
  }
}
provider.on('authorization.success', safe((ctx) => {
  logEvent('authorization.success', {
    client_id: clientIdOf(ctx),
    route: ctx.oidc?.route,
    redirect_uri: ctx.oidc?.route === 'device_resume' ? undefined : ctx.oidc?.params?.redirect_uri,
    account_id: ctx.oidc?.session?.accountId,
  });
}));
provider.on('authorization.error', safe((ctx, err) => {
  logEvent('authorization.error', {
    client_id: clientIdOf(ctx),
    route: ctx.oidc?.route,
    redirect_uri: ctx.oidc?.params?.redirect_uri,
    ...errFields(err),
  });
}));
provider.on('pushed_authorization_request.success', safe((ctx, client) => {
  logEvent('pushed_authorization_request.success', { client_id: client?.clientId ?? clientIdOf(ctx) });
}));
provider.on('pushed_authorization_request.error', safe((ctx, err) => {
  logEvent('pushed_authorization_request.error', { client_id: clientIdOf(ctx), ...errFields(err) });
}));
provider.on('device_authorization.success', safe((ctx, body) => {
  logEvent('device_authorization.success', {
    client_id: clientIdOf(ctx),
    expires_in: body?.expires_in,
    interval: cfg.deviceInterval,
    device_code_ref: ref(body?.device_code),
  });
}));
provider.on('device_authorization.error', safe((ctx, err) => {
  logEvent('device_authorization.error', { client_id: clientIdOf(ctx), ...errFields(err) });
}));
for (const name of ['revocation.error', 'introspection.error', 'userinfo.error', 'code_verification.error', 'device_resume.error', 'jwks.error', 'discovery.error', 'end_session.error']) {
  provider.on(name, safe((ctx, err) => logEvent(name, { client_id: clientIdOf(ctx), ...errFields(err) })));
}
provider.on('end_session.success', safe((ctx) => logEvent('end_session.success', { client_id: clientIdOf(ctx) })));
provider.on('server_error', safe((ctx, err) => {
  logEvent('server_error', {
    route: ctx?.oidc?.route,
    path: ctx?.path,
    message: err?.message ?? String(err),
  });
  process.stderr.write(`test-provider: server_error ${ctx?.method} ${ctx?.path}: ${err?.stack || err}\n`);
}));

// ---------------------------------------------------------------------------
// Fault injection + test endpoints (Koa middleware in front of the provider router)
// ---------------------------------------------------------------------------
const ROUTES = {
  token: (m, p) => m === 'POST' && p === '/token',
  device: (m, p) => m === 'POST' && p === '/device/auth',
  userinfo: (m, p) => (m === 'GET' || m === 'POST') && p === '/me',
  jwks: (m, p) => m === 'GET' && p === '/jwks',
  discovery: (m, p) => m === 'GET' && (p === '/.well-known/openid-configuration' || p === '/.well-known/oauth-authorization-server'),
  revocation: (m, p) => m === 'POST' && p === '/token/revocation',
  introspection: (m, p) => m === 'POST' && p === '/token/introspection',
  par: (m, p) => m === 'POST' && p === '/request',
};
const BODY_ROUTES = new Set(['token', 'device', 'revocation', 'introspection', 'par']);
const ROUTE_EVENT = {
  token: 'grant', device: 'device_authorization', revocation: 'revocation', introspection: 'introspection', par: 'pushed_authorization_request',
};
const REGISTERED_AUTH = new Map(clients.map((c) => [c.client_id, c.token_endpoint_auth_method]));
const ID_TOKEN_MODES = new Set(['id_token_wrong_aud', 'id_token_wrong_nonce', 'id_token_bad_signature', 'id_token_wrong_key', 'id_token_wrong_key_same_kid', 'id_token_alg_none', 'id_token_wrong_iss', 'id_token_expired']);
const SIMPLE_MODES = new Set(['html500', 'html400', 'status503', 'malformed_json', 'drop', 'drop_after', 'invalid_grant']);
const isIdTokenMode = (mode) => ID_TOKEN_MODES.has(mode) || mode.startsWith('id_token_patch:');
function validMode(route, mode) {
  if (typeof mode !== 'string') return false;
  if (SIMPLE_MODES.has(mode)) return true;
  if (/^delay:\d{1,7}$/.test(mode)) return true;
  if (/^json:\d{3}:/.test(mode)) return true;
  if (mode.startsWith('patch:')) return route === 'token' || route === 'device' || route === 'introspection';
  if (mode === 'slow_down') return route === 'token';
  if (isIdTokenMode(mode)) return route === 'token';
  return false;
}

let faults = []; // { id, route, mode, remaining (-1 = forever), grant_type?, client_id? }
let faultSeq = 0;

function takeFault(route, info, { idToken = false } = {}) {
  for (const f of faults) {
    if (f.route !== route) continue;
    if (isIdTokenMode(f.mode) !== idToken) continue;
    if (f.grant_type && f.grant_type !== info.grant_type) continue;
    if (f.client_id && f.client_id !== info.client_id) continue;
    if (f.remaining > 0) f.remaining -= 1;
    if (f.remaining === 0) faults = faults.filter((x) => x !== f);
    return f;
  }
  return undefined;
}

async function readRaw(req, limit = 64 * 1024) {
  const chunks = [];
  let n = 0;
  for await (const chunk of req) {
    n += chunk.length;
    if (n > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, n);
}

function clientIdFromRequest(ctx, form) {
  const auth = ctx.get('authorization');
  if (/^basic /i.test(auth)) {
    try {
      const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      return decodeURIComponent((i === -1 ? decoded : decoded.slice(0, i)).replace(/\+/g, ' '));
    } catch {
      return undefined;
    }
  }
  return form?.get('client_id') ?? undefined;
}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

// --- device polling bookkeeping (keyed by sha256 of the device_code) ---
const devicePolls = new Map(); // ref -> { last: ms (monotonic), interval: seconds }
const monoMs = () => performance.now();

async function rewriteIdToken(mode, idToken) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  const alg = header.alg;
  const sign = async (claims, key, kid, algorithm = alg) => new jose.SignJWT(claims)
    .setProtectedHeader({ ...header, alg: algorithm, kid })
    .sign(key);
  const real = signingKeys[alg] ?? signingKeys.RS256;
  if (mode.startsWith('id_token_patch:')) {
    // Claims replaced/added (hostile names, long strings), re-signed with the real key.
    return sign({ ...payload, ...JSON.parse(mode.slice('id_token_patch:'.length)) }, real.key, real.kid);
  }
  switch (mode) {
    case 'id_token_wrong_aud':
      return sign({ ...payload, aud: 'not-latchkey' }, real.key, real.kid);
    case 'id_token_wrong_nonce':
      return sign({ ...payload, nonce: `wrong-nonce-${crypto.randomBytes(6).toString('hex')}` }, real.key, real.kid);
    case 'id_token_wrong_iss':
      return sign({ ...payload, iss: 'http://evil.example.test' }, real.key, real.kid);
    case 'id_token_expired': {
      const now = Math.floor(Date.now() / 1000);
      return sign({ ...payload, iat: now - 7200, exp: now - 3600 }, real.key, real.kid);
    }
    case 'id_token_bad_signature': {
      const bytes = Buffer.from(s, 'base64url');
      bytes[Math.floor(bytes.length / 2)] ^= 0x01;
      return `${h}.${p}.${bytes.toString('base64url')}`;
    }
    case 'id_token_wrong_key':
    case 'id_token_wrong_key_same_kid': {
      const { privateKey } = await jose.generateKeyPair(alg, alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048 } : {});
      const kid = mode === 'id_token_wrong_key' ? `rogue-${crypto.randomBytes(4).toString('hex')}` : header.kid;
      return sign(payload, privateKey, kid);
    }
    case 'id_token_alg_none': {
      const noneHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      return `${noneHeader}.${p}.`;
    }
    default:
      throw new Error(`unknown id_token mode ${mode}`);
  }
}

function applySimpleFault(ctx, mode, route) {
  switch (mode) {
    case 'html500':
    case 'html400': {
      const status = mode === 'html500' ? 500 : 400;
      ctx.status = status;
      ctx.set('Content-Type', 'text/html; charset=utf-8');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = `<!DOCTYPE html>\n<html><head><title>${status} Error</title></head><body><h1>${status} ${status === 500 ? 'Internal Server Error' : 'Bad Request'}</h1><p>The test provider injected this error page (${route}).</p></body></html>\n`;
      return;
    }
    case 'status503':
      ctx.status = 503;
      ctx.set('Content-Type', 'text/plain; charset=utf-8');
      ctx.body = 'Service Unavailable\n';
      return;
    case 'malformed_json':
      ctx.status = 200;
      ctx.set('Content-Type', 'application/json; charset=utf-8');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = route === 'token'
        ? '{"access_token":"trunc'
        : '{"issuer":"http://127.0.0.1';
      return;
    case 'invalid_grant':
      ctx.status = 400;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_grant', error_description: 'test fault' };
      return;
    case 'drop':
      ctx.respond = false;
      ctx.req.socket.destroy();
      return;
    default:
      throw new Error(`unhandled mode ${mode}`);
  }
}

provider.use(async (ctx, next) => {
  const { method, path } = ctx;

  // ---- test control endpoints ----
  if (path === '/__test/events') {
    if (method === 'GET') {
      ctx.set('Cache-Control', 'no-store');
      const name = ctx.query.event;
      ctx.body = name ? events.filter((e) => e.event === name) : events;
      return;
    }
    if (method === 'DELETE') {
      events.length = 0;
      ctx.status = 204;
      return;
    }
    ctx.status = 405;
    return;
  }
  if (path === '/__test/fault') {
    ctx.set('Cache-Control', 'no-store');
    if (method === 'GET') {
      ctx.body = faults;
      return;
    }
    if (method === 'DELETE') {
      faults = [];
      logEvent('fault.cleared');
      ctx.body = { ok: true };
      return;
    }
    if (method === 'POST') {
      let spec;
      try {
        spec = JSON.parse((await readRaw(ctx.req)).toString('utf8'));
      } catch (err) {
        ctx.status = 400;
        ctx.body = { ok: false, error: `invalid JSON: ${err.message}` };
        return;
      }
      const count = spec?.count ?? 1;
      if (!spec || !Object.hasOwn(ROUTES, spec.route) || !validMode(spec.route, spec.mode) || !Number.isInteger(count) || count === 0 || count < -1) {
        ctx.status = 400;
        ctx.body = { ok: false, error: `bad fault spec; routes: ${Object.keys(ROUTES).join(',')}; modes: ${[...SIMPLE_MODES, 'delay:<ms>', 'json:<status>:<body>', 'slow_down', ...ID_TOKEN_MODES].join(',')}; count: N>0 or -1` };
        return;
      }
      faultSeq += 1;
      const fault = {
        id: faultSeq,
        route: spec.route,
        mode: spec.mode,
        remaining: count,
        ...(typeof spec.grant_type === 'string' ? { grant_type: spec.grant_type } : {}),
        ...(typeof spec.client_id === 'string' ? { client_id: spec.client_id } : {}),
      };
      faults.push(fault);
      logEvent('fault.set', { id: fault.id, route: fault.route, mode: fault.mode, count, grant_type: fault.grant_type, client_id: fault.client_id });
      ctx.body = { ok: true, fault };
      return;
    }
    ctx.status = 405;
    return;
  }

  const route = Object.keys(ROUTES).find((r) => ROUTES[r](method, path));
  if (!route) {
    await next();
    return;
  }

  // ---- pre-read form bodies of the client-authenticated POST endpoints so we can log and
  // match grant_type / client_id (oidc-provider then uses the already-read body through its
  // documented ctx.req.body fallback).
  const info = {};
  let form = new URLSearchParams();
  if (BODY_ROUTES.has(route)) {
    let raw;
    try {
      raw = await readRaw(ctx.req);
    } catch (err) {
      ctx.status = 413;
      ctx.body = { error: 'invalid_request', error_description: err.message };
      return;
    }
    ctx.req.body = raw;
    if (ctx.is('application/x-www-form-urlencoded')) form = new URLSearchParams(raw.toString('utf8'));
  }
  info.client_id = clientIdFromRequest(ctx, form);
  ctx.state.latchkey = info; // lets the provider event listeners fall back to what we parsed
  if (route === 'token') {
    info.grant_type = form.get('grant_type') ?? undefined;
    logEvent('token.request', {
      grant_type: info.grant_type,
      client_id: info.client_id,
      dpop: ctx.get('dpop') ? true : undefined,
    });
    // ---- acceptOfflineAccessOnRefresh (opt-in; for clients such as oidc-agent that name
    // `offline_access` in every refresh request). oidc-provider drops a requested
    // `offline_access` at the authorization endpoint unless the request had `prompt=consent`
    // (lib/actions/authorization/scopes.js), so our refresh tokens (issued anyway, see
    // issueRefreshToken) never hold that scope, and a refresh asking for it fails with
    // `invalid_scope` ("refresh token missing requested scope"). oidc-provider has no hook for
    // the scopes of a refresh request, and adding the scope to the grant (loadExistingGrant)
    // would not help: the code, and so the refresh token, gets the request's already-stripped
    // scope. So we take `offline_access` out of the `scope` parameter before the provider reads
    // the (already read) body: every refresh token here is offline already. The rest of the
    // requested scope is still checked by the provider.
    if (cfg.acceptOfflineAccessOnRefresh && info.grant_type === 'refresh_token' && form.has('scope')) {
      const scopes = form.get('scope').split(' ').filter((s) => s && s !== 'offline_access');
      if (scopes.length) form.set('scope', scopes.join(' '));
      else form.delete('scope');
      ctx.req.body = form.toString();
    }
  }

  // ---- simple / delay faults (before the real endpoint) ----
  const fault = takeFault(route, info);
  let dropAfter = false;
  let patchAfter = null;
  if (fault) {
    logEvent('fault.applied', { id: fault.id, route, mode: fault.mode, grant_type: info.grant_type, client_id: info.client_id });
    if (fault.mode.startsWith('delay:')) {
      await sleep(Number(fault.mode.slice(6)));
    } else if (fault.mode === 'drop_after') {
      dropAfter = true;
    } else if (fault.mode.startsWith('patch:')) {
      patchAfter = fault.mode.slice(6); // applied to the real answer below
    } else if (fault.mode === 'slow_down') {
      // As if this poll came too early: raise the device code's interval by 5 s (so the real
      // enforcement, with `slowDown`, holds the client to it) and answer slow_down.
      const key = ref(form?.get('device_code') ?? '');
      const st = devicePolls.get(key) ?? { last: 0, interval: cfg.deviceInterval };
      st.last = monoMs();
      st.interval += 5;
      devicePolls.set(key, st);
      logEvent('device.slow_down', { client_id: info.client_id, device_code_ref: key, elapsed_ms: 0, interval: st.interval, fault: true });
      ctx.status = 400;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'slow_down', error_description: `polling too fast; interval is now ${st.interval}s` };
      return;
    } else if (fault.mode.startsWith('json:')) {
      // Arbitrary answer: json:<status>:<body> (the body is sent as is, typed application/json).
      const rest = fault.mode.slice(5);
      ctx.status = Number(rest.slice(0, 3));
      ctx.set('Content-Type', 'application/json; charset=utf-8');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = rest.slice(4);
      return;
    } else {
      applySimpleFault(ctx, fault.mode, route);
      return;
    }
  }

  // ---- RFC 8628 slow_down enforcement ----
  const isDevicePoll = route === 'token' && info.grant_type === 'urn:ietf:params:oauth:grant-type:device_code';
  if (isDevicePoll && cfg.slowDown) {
    const key = ref(form.get('device_code') ?? '');
    const now = monoMs();
    let st = devicePolls.get(key);
    if (!st && !cfg.slowDownFromIssue) {
      st = { last: now, interval: cfg.deviceInterval };
      devicePolls.set(key, st);
    } else if (st) {
      const elapsed = now - st.last;
      st.last = now;
      if (elapsed + cfg.slowDownToleranceMs < st.interval * 1000) {
        st.interval += 5;
        logEvent('device.slow_down', {
          client_id: info.client_id,
          device_code_ref: key,
          elapsed_ms: Math.round(elapsed),
          interval: st.interval,
        });
        ctx.status = 400;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: 'slow_down', error_description: `polling too fast; interval is now ${st.interval}s` };
        return;
      }
    }
    // unknown device_code with slowDownFromIssue: let the provider answer (invalid_grant)
  }

  // ---- strict token_endpoint_auth_method (oidc-provider accepts basic and post
  // interchangeably for client_secret_* clients; real servers often do not) ----
  if (cfg.strictClientAuthMethod && BODY_ROUTES.has(route)) {
    const registered = REGISTERED_AUTH.get(info.client_id);
    const used = /^basic /i.test(ctx.get('authorization')) ? 'client_secret_basic'
      : (form.has('client_secret') ? 'client_secret_post' : undefined);
    if (used && registered && registered !== used && registered.startsWith('client_secret_')) {
      const detail = `client ${info.client_id} is registered for ${registered} but used ${used}`;
      logEvent(route === 'token' ? 'grant.error' : `${ROUTE_EVENT[route]}.error`, {
        grant_type: info.grant_type,
        client_id: info.client_id,
        error: 'invalid_client',
        error_description: 'client authentication failed',
        error_detail: detail,
      });
      ctx.status = 401;
      ctx.set('Cache-Control', 'no-store');
      if (used === 'client_secret_basic') ctx.set('WWW-Authenticate', 'Basic realm="latchkey-test-provider"');
      ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
      return;
    }
  }

  await next();

  if (dropAfter) {
    ctx.respond = false;
    ctx.req.socket.destroy();
    return;
  }

  // ---- post-processing of real responses ----
  if (isDevicePoll && (ctx.status === 200 || (ctx.body?.error && ctx.body.error !== 'authorization_pending'))) {
    devicePolls.delete(ref(form.get('device_code') ?? '')); // finished: later polls get the provider's answer
  }
  if (route === 'device' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.device_code) {
    ctx.body = { ...ctx.body, interval: cfg.deviceInterval };
    devicePolls.set(ref(ctx.body.device_code), { last: monoMs(), interval: cfg.deviceInterval });
  }

  if (route === 'token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && typeof ctx.body.id_token === 'string') {
    const idFault = takeFault('token', info, { idToken: true });
    if (idFault) {
      logEvent('fault.applied', { id: idFault.id, route, mode: idFault.mode, grant_type: info.grant_type, client_id: info.client_id });
      ctx.body = { ...ctx.body, id_token: await rewriteIdToken(idFault.mode, ctx.body.id_token) };
    }
  }

  if (route === 'revocation' && ctx.status === 200) {
    const ents = ctx.oidc?.entities ?? {};
    const kind = ['AccessToken', 'RefreshToken', 'ClientCredentials'].find((k) => ents[k]);
    logEvent('revocation.success', {
      client_id: clientIdOf(ctx),
      token_type_hint: ctx.oidc?.params?.token_type_hint,
      token_kind: kind,
      grant_id: kind ? ents[kind].grantId : undefined,
    });
  }
  if (route === 'introspection' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    logEvent('introspection.success', {
      client_id: clientIdOf(ctx),
      active: ctx.body.active,
      token_client_id: ctx.body.client_id,
      token_type: ctx.body.token_type,
      sub: ctx.body.sub,
    });
  }
  if (route === 'userinfo' && ctx.status === 200) {
    logEvent('userinfo.success', { client_id: clientIdOf(ctx), sub: ctx.body?.sub });
  }

  // ---- patch:<json text>: the real 2xx answer (rotated tokens and all) with these fields
  // replaced, spliced in as raw JSON text so values JSON.parse cannot keep (1e999, huge
  // integers) reach the client verbatim ----
  if (patchAfter !== null && ctx.status >= 200 && ctx.status < 300 && ctx.body && typeof ctx.body === 'object') {
    const extra = patchAfter.trim().replace(/^\{/, '').replace(/\}$/, '');
    const body = { ...ctx.body };
    try {
      for (const k of Object.keys(JSON.parse(`{${extra}}`))) delete body[k];
    } catch { /* not parseable by JS: keep the fields, the patch text follows them */ }
    const base = JSON.stringify(body);
    ctx.body = `${base.slice(0, -1)}${base.length > 2 && extra ? ',' : ''}${extra}}`;
    ctx.set('Content-Type', 'application/json; charset=utf-8');
  }
});

// ---------------------------------------------------------------------------
// Serve, announce, and shut down cleanly
// ---------------------------------------------------------------------------
server.on('request', provider.callback());
server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
});

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  if (VERBOSE) process.stderr.write(`test-provider: ${signal}, shutting down\n`);
  server.close(() => {
    if (eventFd !== null) fs.closeSync(eventFd);
    process.exit(0);
  });
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// Do not outlive the process that started us (a panicking cargo test does not kill its
// children). Disable with PROVIDER_EXIT_WITH_PARENT=0.
if (process.env.PROVIDER_EXIT_WITH_PARENT !== '0') {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) shutdown('parent exited');
  }, 500).unref();
}

logEvent('server.ready', { issuer: ISSUER, port });
writeStdout(`${JSON.stringify({ ready: true, issuer: ISSUER, port })}\n`);
