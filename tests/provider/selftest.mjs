#!/usr/bin/env node
// Self-check of the Latchkey test provider: cd tests/provider && npm ci && node selftest.mjs
// Exits 0 only if every check passes. Set SELFTEST_VERBOSE=1 to see server stderr.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';

const DIR = path.dirname(fileURLToPath(import.meta.url));
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-provider-selftest-'));
const VERBOSE = process.env.SELFTEST_VERBOSE === '1';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const SECRETS = {
  'latchkey-confidential': 'confidential-secret-0123456789abcdef',
  'latchkey-svc': 'svc-secret-0123456789abcdef',
  'latchkey-svc-post': 'svc-post-secret-0123456789abcdef',
  'latchkey-rs': 'rs-secret-0123456789abcdef',
};

// ---------------------------------------------------------------------------
// tiny test harness
// ---------------------------------------------------------------------------
const results = [];
const notes = [];
const seenSecrets = new Set(); // every token/code value we saw; must never appear in logs
function remember(...values) {
  for (const v of values) if (typeof v === 'string' && v.length >= 8) seenSecrets.add(v);
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
function eq(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}
async function check(name, fn) {
  const t0 = performance.now();
  try {
    await fn();
    results.push({ name, ok: true });
    process.stdout.write(`ok   ${name} (${Math.round(performance.now() - t0)} ms)\n`);
  } catch (err) {
    results.push({ name, ok: false, err });
    process.stdout.write(`FAIL ${name}: ${err.stack || err}\n`);
  }
}
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

// ---------------------------------------------------------------------------
// server / browser / loopback helpers
// ---------------------------------------------------------------------------
async function startServer(config = {}, extraEnv = {}) {
  const eventLog = path.join(TMP, `events-${crypto.randomBytes(3).toString('hex')}.jsonl`);
  const t0 = performance.now();
  const proc = spawn(process.execPath, [path.join(DIR, 'server.mjs')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PROVIDER_CONFIG: JSON.stringify(config), EVENT_LOG: eventLog, ...extraEnv },
  });
  let stdout = '';
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (VERBOSE) process.stderr.write(`[server] ${d}`);
  });
  const exited = new Promise((resolve) => { proc.on('exit', (code, signal) => resolve({ code, signal })); });
  const readyLine = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready after 5 s; stderr: ${stderr}`)), 5000);
    proc.stdout.on('data', (d) => {
      stdout += d;
      const nl = stdout.indexOf('\n');
      if (nl !== -1) {
        clearTimeout(timer);
        resolve(stdout.slice(0, nl));
      }
    });
    exited.then(({ code }) => reject(new Error(`server exited early (${code}); stderr: ${stderr}`)));
  });
  const readyMs = performance.now() - t0;
  const ready = JSON.parse(readyLine);
  return {
    proc,
    ready,
    readyLine,
    readyMs,
    issuer: ready.issuer,
    eventLog,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    async stop(signal = 'SIGTERM') {
      proc.kill(signal);
      return exited;
    },
    fileEvents() {
      return fs.readFileSync(eventLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    },
  };
}

async function startLoopback() {
  const waiters = [];
  const received = [];
  const posts = [];
  const srv = http.createServer(async (req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${srv.address().port}`);
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.method === 'POST') posts.push(new URLSearchParams(body));
    received.push(url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<html><body>Latchkey test callback received. You can close this window.</body></html>');
    const w = waiters.shift();
    if (w) w(url);
  });
  await new Promise((r) => { srv.listen(0, '127.0.0.1', r); });
  const { port } = srv.address();
  return {
    port,
    redirectUri: `http://127.0.0.1:${port}/callback`,
    received,
    posts,
    next(timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no callback on the loopback listener')), timeoutMs);
        waiters.push((u) => { clearTimeout(timer); resolve(u); });
      });
    },
    close() { srv.close(); },
  };
}

const browserLog = path.join(TMP, 'browser.log');
function runNode(script, args, env = {}) {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [path.join(DIR, script), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LATCHKEY_TEST_BROWSER_LOG: browserLog, ...env },
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

function authorizeUrl(srv, params) {
  const u = new URL(`${srv.issuer}/auth`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.href;
}

function basic(id, secret) {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function post(url, form, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  if (json) remember(json.access_token, json.refresh_token, json.id_token, json.device_code, json.user_code);
  return { status: res.status, headers: res.headers, text, json };
}

async function token(srv, form, { client = 'latchkey-public', auth = 'auto', headers = {} } = {}) {
  const h = { ...headers };
  const body = { ...form };
  const secret = SECRETS[client];
  if (auth === 'auto') auth = client === 'latchkey-svc-post' ? 'post' : (secret ? 'basic' : 'none');
  if (auth === 'basic') h.authorization = basic(client, secret);
  else if (auth === 'post') Object.assign(body, { client_id: client, client_secret: secret });
  else body.client_id = client;
  return post(`${srv.issuer}/token`, body, h);
}

/** Full authorization-code + PKCE login through browser.mjs against a loopback listener. */
async function loginWithBrowser(srv, loopback, {
  client = 'latchkey-public', scope = 'openid profile email api:read', env = {}, extra = {},
} = {}) {
  const { verifier, challenge } = pkce();
  const state = crypto.randomBytes(8).toString('hex');
  const nonce = crypto.randomBytes(8).toString('hex');
  const url = authorizeUrl(srv, {
    client_id: client,
    response_type: 'code',
    redirect_uri: loopback.redirectUri,
    scope,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  const cb = loopback.next();
  const run = runNode('browser.mjs', [url], env);
  const cbUrl = await cb;
  const { code } = await run;
  assert(code === 0, `browser.mjs exited ${code}`);
  remember(cbUrl.searchParams.get('code'));
  return { cbUrl, verifier, state, nonce };
}

async function exchange(srv, loopback, login, client = 'latchkey-public') {
  return token(srv, {
    grant_type: 'authorization_code',
    code: login.cbUrl.searchParams.get('code'),
    redirect_uri: loopback.redirectUri,
    code_verifier: login.verifier,
  }, { client });
}

const jwksCache = new Map();
async function verifyIdToken(srv, idToken, { audience = 'latchkey-public', nonce } = {}) {
  if (!jwksCache.has(srv.issuer)) jwksCache.set(srv.issuer, jose.createRemoteJWKSet(new URL(`${srv.issuer}/jwks`)));
  const { payload, protectedHeader } = await jose.jwtVerify(idToken, jwksCache.get(srv.issuer), {
    issuer: srv.issuer, audience, algorithms: ['RS256', 'ES256'],
  });
  if (nonce !== undefined && payload.nonce !== nonce) throw new Error(`nonce mismatch (${payload.nonce} != ${nonce})`);
  return { payload, protectedHeader };
}

async function setFault(srv, spec) {
  const res = await fetch(`${srv.issuer}/__test/fault`, { method: 'POST', body: JSON.stringify(spec) });
  const json = await res.json();
  assert(res.status === 200 && json.ok, `setting fault ${JSON.stringify(spec)} failed: ${res.status} ${JSON.stringify(json)}`);
  return json.fault;
}
async function clearFaults(srv) {
  const res = await fetch(`${srv.issuer}/__test/fault`, { method: 'DELETE' });
  assert(res.status === 200, 'DELETE /__test/fault failed');
}
async function httpEvents(srv) {
  return (await fetch(`${srv.issuer}/__test/events`)).json();
}

// DPoP proof helper
async function dpopProof(keyPair, htm, htu, { nonce, accessToken } = {}) {
  const jwk = await jose.exportJWK(keyPair.publicKey);
  const claims = { htm, htu, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000) };
  if (nonce) claims.nonce = nonce;
  if (accessToken) claims.ath = crypto.createHash('sha256').update(accessToken).digest('base64url');
  return new jose.SignJWT(claims).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).sign(keyPair.privateKey);
}

// ---------------------------------------------------------------------------
// main server
// ---------------------------------------------------------------------------
const MAIN_CONFIG = { deviceInterval: 1, slowDown: true };
const srv = await startServer(MAIN_CONFIG);
const loop = await startLoopback();
let userTokens; // from the first login

await check('ready line: exact shape, ephemeral port, fast start', async () => {
  eq(Object.keys(srv.ready), ['ready', 'issuer', 'port'], 'ready keys');
  eq(srv.readyLine, JSON.stringify({ ready: true, issuer: `http://127.0.0.1:${srv.ready.port}`, port: srv.ready.port }), 'ready line');
  assert(srv.ready.port > 0, 'port');
  notes.push(`spawn -> ready line: ${Math.round(srv.readyMs)} ms`);
  assert(srv.readyMs < 2000, `slow start: ${srv.readyMs} ms`);
});

await check('discovery: endpoints, S256 only, no PAR/DPoP by default', async () => {
  const d = await (await fetch(`${srv.issuer}/.well-known/openid-configuration`)).json();
  eq(d.issuer, srv.issuer, 'issuer');
  eq(d.code_challenge_methods_supported, ['S256'], 'code_challenge_methods_supported');
  for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'device_authorization_endpoint', 'revocation_endpoint', 'introspection_endpoint']) {
    assert(typeof d[k] === 'string' && d[k].startsWith(srv.issuer), `missing ${k}`);
  }
  assert(!('pushed_authorization_request_endpoint' in d), 'PAR should be off by default');
  assert(!('dpop_signing_alg_values_supported' in d), 'DPoP should be off by default');
  for (const s of ['openid', 'profile', 'email', 'offline_access', 'api:read', 'api:write']) assert(d.scopes_supported.includes(s), `scope ${s}`);
  const jwks = await (await fetch(`${srv.issuer}/jwks`)).json();
  eq(jwks.keys.map((k) => k.alg).sort(), ['ES256', 'RS256'], 'jwks algs');
  assert(jwks.keys.every((k) => !k.d && !k.p), 'private key material in JWKS!');
});

await check('auth code + PKCE, public native client, loopback redirect on a random port', async () => {
  const login = await loginWithBrowser(srv, loop);
  eq(login.cbUrl.pathname, '/callback', 'callback path');
  eq(login.cbUrl.searchParams.get('state'), login.state, 'state');
  eq(login.cbUrl.searchParams.get('iss'), srv.issuer, 'iss param');
  assert(login.cbUrl.searchParams.get('code'), 'no code');
  const res = await exchange(srv, loop, login);
  eq(res.status, 200, `token status (${res.text})`);
  assert(/application\/json/.test(res.headers.get('content-type')), 'token content-type');
  eq(res.headers.get('cache-control'), 'no-store', 'token cache-control');
  const t = res.json;
  eq(t.token_type, 'Bearer', 'token_type');
  eq(t.expires_in, 60, 'expires_in (accessTokenTtl default)');
  assert(t.refresh_token, 'refresh token issued without offline_access');
  eq(t.scope, 'openid profile email api:read', 'scope');
  const { payload } = await verifyIdToken(srv, t.id_token, { nonce: login.nonce });
  eq([payload.sub, payload.name, payload.email, payload.email_verified, payload.preferred_username],
    ['alice', 'Alice Example', 'alice@example.test', true, 'alice'], 'id_token claims');
  eq(payload.exp - payload.iat, 60, 'id token ttl');
  const ui = await fetch(`${srv.issuer}/me`, { headers: { authorization: `Bearer ${t.access_token}` } });
  eq(ui.status, 200, 'userinfo status');
  const claims = await ui.json();
  eq(claims, { sub: 'alice', name: 'Alice Example', preferred_username: 'alice', email: 'alice@example.test', email_verified: true }, 'userinfo');
  // the code is single-use, and replaying it revokes what it produced
  const again = await exchange(srv, loop, login);
  eq([again.status, again.json?.error], [400, 'invalid_grant'], 'code replay');
  const err = srv.fileEvents().filter((e) => e.event === 'grant.error').at(-1);
  eq(err.error_detail, 'authorization code already consumed', 'replay error_detail');
  const ui2 = await fetch(`${srv.issuer}/me`, { headers: { authorization: `Bearer ${t.access_token}` } });
  eq(ui2.status, 401, 'access token after code replay (grant revoked)');
});

await check('LATCHKEY_TEST_LOGIN sets sub/name/email', async () => {
  const login = await loginWithBrowser(srv, loop, { env: { LATCHKEY_TEST_LOGIN: 'bob' } });
  const t = (await exchange(srv, loop, login)).json;
  const { payload } = await verifyIdToken(srv, t.id_token, { nonce: login.nonce });
  eq([payload.sub, payload.name, payload.email], ['bob', 'Bob Example', 'bob@example.test'], 'claims');
  userTokens = t;
});

await check('PKCE is required and verified', async () => {
  const res = await runNode('browser.mjs', [authorizeUrl(srv, {
    client_id: 'latchkey-public', response_type: 'code', redirect_uri: loop.redirectUri, scope: 'openid', state: 's',
  })]);
  const cb = loop.received.at(-1);
  eq(res.code, 0, 'browser exit');
  eq([cb.searchParams.get('error'), cb.searchParams.get('state')], ['invalid_request', 's'], 'missing code_challenge error');
  const login = await loginWithBrowser(srv, loop);
  const bad = await exchange(srv, loop, { ...login, verifier: pkce().verifier });
  eq([bad.status, bad.json?.error], [400, 'invalid_grant'], 'wrong verifier');
  const ev = srv.fileEvents().filter((e) => e.event === 'grant.error').at(-1);
  assert(/code_verifier/.test(ev.error_detail), `grant.error detail: ${JSON.stringify(ev)}`);
});

await check('refresh: rotation, reuse of the old token -> invalid_grant + grant revoked', async () => {
  const login = await loginWithBrowser(srv, loop);
  const t1 = (await exchange(srv, loop, login)).json;
  const r1 = await token(srv, { grant_type: 'refresh_token', refresh_token: t1.refresh_token });
  eq(r1.status, 200, `refresh (${r1.text})`);
  assert(r1.json.refresh_token && r1.json.refresh_token !== t1.refresh_token, 'refresh token rotated');
  assert(r1.json.access_token !== t1.access_token, 'new access token');
  await verifyIdToken(srv, r1.json.id_token, { nonce: login.nonce });
  const success = srv.fileEvents().filter((e) => e.event === 'grant.success' && e.grant_type === 'refresh_token').at(-1);
  eq(success.client_id, 'latchkey-public', 'grant.success client_id');
  eq(success.issued, ['access_token', 'id_token', 'refresh_token'], 'grant.success issued');
  // replay the rotated-away token
  const reuse = await token(srv, { grant_type: 'refresh_token', refresh_token: t1.refresh_token });
  eq([reuse.status, reuse.json?.error], [400, 'invalid_grant'], 'reuse');
  const evs = srv.fileEvents();
  const err = evs.filter((e) => e.event === 'grant.error').at(-1);
  eq([err.grant_type, err.error, err.error_detail], ['refresh_token', 'invalid_grant', 'refresh token already used'], 'grant.error');
  assert(evs.some((e) => e.event === 'grant.revoked' && e.grant_id === success.grant_id), 'grant.revoked event');
  // the whole grant is gone: the newest refresh token and access token too
  const next = await token(srv, { grant_type: 'refresh_token', refresh_token: r1.json.refresh_token });
  eq([next.status, next.json?.error], [400, 'invalid_grant'], 'new token after reuse');
  notes.push(`after reuse, the newest refresh token fails with error_detail=${JSON.stringify(srv.fileEvents().filter((e) => e.event === 'grant.error').at(-1).error_detail)}`);
  const ui = await fetch(`${srv.issuer}/me`, { headers: { authorization: `Bearer ${r1.json.access_token}` } });
  eq(ui.status, 401, 'access token of the revoked grant');
});

await check('concurrent refresh with one token: exactly one wins, the loser revokes the grant', async () => {
  const login = await loginWithBrowser(srv, loop);
  const t = (await exchange(srv, loop, login)).json;
  const before = srv.fileEvents().filter((e) => e.event === 'grant.success' && e.grant_type === 'refresh_token').length;
  const rs = await Promise.all([0, 1].map(() => token(srv, { grant_type: 'refresh_token', refresh_token: t.refresh_token })));
  eq(rs.map((r) => r.status).sort(), [200, 400], 'one 200, one 400');
  const winner = rs.find((r) => r.status === 200).json;
  eq(rs.find((r) => r.status === 400).json.error, 'invalid_grant', 'loser error');
  const after = srv.fileEvents().filter((e) => e.event === 'grant.success' && e.grant_type === 'refresh_token').length;
  eq(after - before, 1, 'grant.success refresh_token events');
  const r = await token(srv, { grant_type: 'refresh_token', refresh_token: winner.refresh_token });
  eq(r.json?.error, 'invalid_grant', "the winner's new refresh token died with the grant");
});

await check('confidential client + custom-scheme redirect via LATCHKEY_TEST_DEEP_LINK_CMD', async () => {
  const sink = path.join(TMP, 'deeplink.txt');
  const script = path.join(TMP, 'deeplink.mjs');
  fs.writeFileSync(script, `import fs from 'node:fs'; fs.writeFileSync(${JSON.stringify(sink)}, process.argv.at(-1));\n`);
  const { verifier, challenge } = pkce();
  const url = authorizeUrl(srv, {
    client_id: 'latchkey-confidential', response_type: 'code', redirect_uri: 'dev.latchkey.app:/callback', scope: 'openid email', state: 'cs', code_challenge: challenge, code_challenge_method: 'S256',
  });
  const r = await runNode('browser.mjs', [url], { LATCHKEY_TEST_DEEP_LINK_CMD: `${process.execPath} ${script}` });
  eq(r.code, 0, `browser exit (${r.stderr})`);
  const cb = new URL(fs.readFileSync(sink, 'utf8'));
  eq([cb.protocol, cb.pathname, cb.searchParams.get('state')], ['dev.latchkey.app:', '/callback', 'cs'], 'deep link');
  remember(cb.searchParams.get('code'));
  const noAuth = await token(srv, { grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: 'dev.latchkey.app:/callback', code_verifier: verifier }, { client: 'latchkey-confidential', auth: 'none' });
  eq([noAuth.status, noAuth.json?.error], [401, 'invalid_client'], 'no client auth');
  const t = await token(srv, { grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: 'dev.latchkey.app:/callback', code_verifier: verifier }, { client: 'latchkey-confidential' });
  eq(t.status, 200, `exchange (${t.text})`);
  assert(t.json.refresh_token, 'refresh token');
  await verifyIdToken(srv, t.json.id_token, { audience: 'latchkey-confidential' });
});

await check('custom-scheme redirect without a deep link command is printed on stdout', async () => {
  const { challenge } = pkce();
  const r = await runNode('browser.mjs', [authorizeUrl(srv, {
    client_id: 'latchkey-public', response_type: 'code', redirect_uri: 'dev.latchkey.app:/callback', scope: 'openid', state: 'p', code_challenge: challenge, code_challenge_method: 'S256',
  })], { LATCHKEY_TEST_DEEP_LINK_CMD: '' });
  eq(r.code, 0, 'exit');
  assert(/^dev\.latchkey\.app:\/callback\?code=[^&]+&state=p&iss=/.test(r.stdout.trim()), `stdout: ${r.stdout}`);
  remember(new URL(r.stdout.trim()).searchParams.get('code'));
});

await check('browser deny mode -> error=access_denied on the loopback', async () => {
  const login = await loginWithBrowser(srv, loop, { env: { LATCHKEY_TEST_BROWSER_MODE: 'deny' } });
  eq(login.cbUrl.searchParams.get('error'), 'access_denied', 'error');
  eq(login.cbUrl.searchParams.get('state'), login.state, 'state');
  assert(!login.cbUrl.searchParams.has('code'), 'code on deny');
  const ev = srv.fileEvents().filter((e) => e.event === 'authorization.error').at(-1);
  eq(ev.error, 'access_denied', 'authorization.error event');
});

await check('browser ignore mode does nothing; bad redirect_uri -> non-zero exit with status', async () => {
  const before = loop.received.length;
  const r = await runNode('browser.mjs', [authorizeUrl(srv, { client_id: 'latchkey-public' })], { LATCHKEY_TEST_BROWSER_MODE: 'ignore' });
  eq(r.code, 0, 'ignore exit');
  await sleep(300);
  eq(loop.received.length, before, 'no callback in ignore mode');
  const { challenge } = pkce();
  const bad = await runNode('browser.mjs', [authorizeUrl(srv, {
    client_id: 'latchkey-public', response_type: 'code', redirect_uri: 'http://evil.example.test/cb', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256',
  })], { LATCHKEY_TEST_BROWSER_LOG: '' });
  eq(bad.code, 1, 'exit on provider error page');
  assert(/HTTP 400/.test(bad.stderr) && /redirect_uri/.test(bad.stderr), `log: ${bad.stderr}`);
});

// ---------------------------------------------------------------------------
// fault injection
// ---------------------------------------------------------------------------
const ROUTE_CALLS = {
  token: () => token(srv, { grant_type: 'client_credentials', scope: 'api:read' }, { client: 'latchkey-svc' }),
  device: () => post(`${srv.issuer}/device/auth`, { client_id: 'latchkey-public', scope: 'openid' }),
  userinfo: async () => {
    const res = await fetch(`${srv.issuer}/me`, { headers: { authorization: `Bearer ${userTokens.access_token}` } });
    return { status: res.status, headers: res.headers, text: await res.text() };
  },
  jwks: async () => {
    const res = await fetch(`${srv.issuer}/jwks`);
    return { status: res.status, headers: res.headers, text: await res.text() };
  },
  discovery: async () => {
    const res = await fetch(`${srv.issuer}/.well-known/openid-configuration`);
    return { status: res.status, headers: res.headers, text: await res.text() };
  },
  revocation: () => post(`${srv.issuer}/token/revocation`, { token: 'not-a-real-token' }, { authorization: basic('latchkey-svc', SECRETS['latchkey-svc']) }),
};

await check('fault modes x routes (html500, html400, status503, malformed_json, drop, delay, invalid_grant)', async () => {
  for (const route of Object.keys(ROUTE_CALLS)) {
    const call = ROUTE_CALLS[route];
    const normal = await call();
    eq(normal.status, 200, `${route} normal status (${normal.text?.slice(0, 200)})`);
    for (const mode of ['html500', 'html400', 'status503', 'malformed_json', 'drop', 'delay:250', 'invalid_grant']) {
      await setFault(srv, { route, mode });
      const t0 = performance.now();
      let res;
      let thrown;
      try {
        res = await call();
      } catch (err) {
        thrown = err;
      }
      const what = `${route}/${mode}`;
      if (mode === 'drop') {
        assert(thrown, `${what}: expected a connection error, got ${res?.status}`);
      } else {
        assert(!thrown, `${what}: unexpected error ${thrown}`);
        const ctype = res.headers.get('content-type') ?? '';
        if (mode === 'html500' || mode === 'html400') {
          eq(res.status, mode === 'html500' ? 500 : 400, `${what} status`);
          assert(ctype.startsWith('text/html'), `${what} content-type ${ctype}`);
          assert(/<html/i.test(res.text), `${what} body`);
        } else if (mode === 'status503') {
          eq(res.status, 503, `${what} status`);
          assert(!/json/.test(ctype), `${what} content-type ${ctype}`);
        } else if (mode === 'malformed_json') {
          eq(res.status, 200, `${what} status`);
          assert(ctype.startsWith('application/json'), `${what} content-type ${ctype}`);
          let parsed = true;
          try { JSON.parse(res.text); } catch { parsed = false; }
          assert(!parsed, `${what}: body parsed as JSON`);
        } else if (mode.startsWith('delay:')) {
          eq(res.status, 200, `${what} status`);
          assert(performance.now() - t0 >= 240, `${what}: not delayed`);
        } else if (mode === 'invalid_grant') {
          eq(res.status, 400, `${what} status`);
          eq(JSON.parse(res.text), { error: 'invalid_grant', error_description: 'test fault' }, `${what} body`);
        }
      }
      const after = await call();
      eq(after.status, 200, `${what}: fault not cleared after one request (${after.status})`);
    }
  }
  const applied = srv.fileEvents().filter((e) => e.event === 'fault.applied');
  eq(applied.length, 6 * 7, 'fault.applied events');
});

await check('fault count N, count -1 + DELETE, grant_type filter, drop_after', async () => {
  await setFault(srv, { route: 'jwks', mode: 'status503', count: 2 });
  eq((await ROUTE_CALLS.jwks()).status, 503, '1st');
  eq((await ROUTE_CALLS.jwks()).status, 503, '2nd');
  eq((await ROUTE_CALLS.jwks()).status, 200, '3rd');
  await setFault(srv, { route: 'discovery', mode: 'html500', count: -1 });
  for (let i = 0; i < 3; i += 1) eq((await ROUTE_CALLS.discovery()).status, 500, `sticky ${i}`);
  await clearFaults(srv);
  eq((await ROUTE_CALLS.discovery()).status, 200, 'after DELETE');
  // only refresh_token grants are affected
  await setFault(srv, { route: 'token', mode: 'invalid_grant', grant_type: 'refresh_token' });
  eq((await ROUTE_CALLS.token()).status, 200, 'client_credentials unaffected');
  const login = await loginWithBrowser(srv, loop);
  const t = (await exchange(srv, loop, login)).json;
  const r = await token(srv, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
  eq([r.status, r.json?.error_description], [400, 'test fault'], 'refresh hit by filtered fault');
  // the refresh token was not consumed by the injected failure
  const r2 = await token(srv, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
  eq(r2.status, 200, 'refresh after injected failure');
  // drop_after: the provider processes (rotates) but the client never sees the answer
  await setFault(srv, { route: 'token', mode: 'drop_after' });
  let dropped = false;
  try { await token(srv, { grant_type: 'refresh_token', refresh_token: r2.json.refresh_token }); } catch { dropped = true; }
  assert(dropped, 'drop_after should drop the connection');
  const replay = await token(srv, { grant_type: 'refresh_token', refresh_token: r2.json.refresh_token });
  eq([replay.status, replay.json?.error], [400, 'invalid_grant'], 'retry after lost rotation = reuse');
  const bad = await fetch(`${srv.issuer}/__test/fault`, { method: 'POST', body: JSON.stringify({ route: 'jwks', mode: 'id_token_wrong_aud' }) });
  eq(bad.status, 400, 'id_token mode on a non-token route is rejected');
});

await check('id_token fault modes (code exchange and refresh)', async () => {
  const login = await loginWithBrowser(srv, loop);
  await setFault(srv, { route: 'token', mode: 'id_token_wrong_nonce' });
  const t = await exchange(srv, loop, login);
  eq(t.status, 200, 'exchange');
  await verifyIdToken(srv, t.json.id_token); // signature etc. fine...
  let failed = false;
  try { await verifyIdToken(srv, t.json.id_token, { nonce: login.nonce }); } catch { failed = true; }
  assert(failed, 'wrong nonce not detected');

  let rt = t.json.refresh_token;
  const expectFailure = {
    id_token_wrong_aud: /aud/,
    id_token_wrong_iss: /iss/,
    id_token_bad_signature: /signature/i,
    id_token_wrong_key: /no applicable key|matching/i,
    id_token_wrong_key_same_kid: /signature/i,
    id_token_alg_none: /alg|Unsupported|JWS/i,
    id_token_expired: /exp/,
    id_token_wrong_nonce: /nonce/,
  };
  for (const [mode, re] of Object.entries(expectFailure)) {
    await setFault(srv, { route: 'token', mode });
    const r = await token(srv, { grant_type: 'refresh_token', refresh_token: rt });
    eq(r.status, 200, `${mode}: refresh status (${r.text})`);
    rt = r.json.refresh_token;
    let err;
    try { await verifyIdToken(srv, r.json.id_token, { nonce: login.nonce }); } catch (e) { err = e; }
    assert(err, `${mode}: id_token verified fine`);
    assert(re.test(`${err.code} ${err.message}`), `${mode}: unexpected failure ${err.code} ${err.message}`);
    if (mode === 'id_token_alg_none') eq(jose.decodeProtectedHeader(r.json.id_token).alg, 'none', 'alg none header');
  }
  // after all faults, the next id_token is valid again
  const ok = await token(srv, { grant_type: 'refresh_token', refresh_token: rt });
  await verifyIdToken(srv, ok.json.id_token, { nonce: login.nonce });
  // id_token faults wait for a response that has an id_token
  await setFault(srv, { route: 'token', mode: 'id_token_wrong_aud' });
  eq((await ROUTE_CALLS.token()).status, 200, 'client_credentials');
  const faults = await (await fetch(`${srv.issuer}/__test/fault`)).json();
  eq(faults.length, 1, 'id_token fault still pending after client_credentials');
  await clearFaults(srv);
});

// ---------------------------------------------------------------------------
// device flow
// ---------------------------------------------------------------------------
await check('device flow: interval, slow_down (+5 s), approve-device, tokens', async () => {
  const da = await post(`${srv.issuer}/device/auth`, { client_id: 'latchkey-public', scope: 'openid profile' });
  eq(da.status, 200, `device auth (${da.text})`);
  eq(da.json.interval, 1, 'interval');
  eq(da.json.expires_in, 600, 'expires_in (deviceCodeTtl default)');
  assert(da.json.verification_uri_complete.startsWith(`${srv.issuer}/device?user_code=`), 'verification_uri_complete');
  const poll = () => token(srv, { grant_type: DEVICE_GRANT, device_code: da.json.device_code });
  const p0 = await poll(); // immediately: faster than 1 s after issue
  eq([p0.status, p0.json?.error], [400, 'slow_down'], 'slow_down');
  const sd = srv.fileEvents().filter((e) => e.event === 'device.slow_down').at(-1);
  eq(sd.interval, 6, 'interval raised by 5 s');
  const approve = await runNode('approve-device.mjs', [da.json.verification_uri_complete], { LATCHKEY_TEST_LOGIN: 'carol' });
  eq(approve.code, 0, 'approve-device exit');
  await sleep(6100); // the raised interval, counted from the previous poll
  const p2 = await poll();
  eq(p2.status, 200, `tokens (${p2.text})`);
  assert(p2.json.refresh_token, 'refresh token for device grant');
  const { payload } = await verifyIdToken(srv, p2.json.id_token);
  eq([payload.sub, payload.name], ['carol', 'Carol Example'], 'device id_token');
  const evs = srv.fileEvents();
  const polls = evs.filter((e) => e.event === 'token.request' && e.grant_type === DEVICE_GRANT).slice(-2);
  eq(polls.length, 2, 'token.request events for polls');
  assert(polls[1].t - polls[0].t >= 6000, 'poll spacing visible in t');
  const again = await poll();
  eq(again.json?.error, 'invalid_grant', 'device code is single use');
});

await check('device flow: authorization_pending, deny -> access_denied, approve-device user-code entry', async () => {
  const da = await post(`${srv.issuer}/device/auth`, { client_id: 'latchkey-confidential', scope: 'openid' }, { authorization: basic('latchkey-confidential', SECRETS['latchkey-confidential']) });
  eq(da.status, 200, 'device auth (confidential)');
  const poll = () => token(srv, { grant_type: DEVICE_GRANT, device_code: da.json.device_code }, { client: 'latchkey-confidential' });
  await sleep(1050);
  eq((await poll()).json?.error, 'authorization_pending', 'pending');
  const deny = await runNode('approve-device.mjs', [da.json.verification_uri_complete], { LATCHKEY_TEST_BROWSER_MODE: 'deny' });
  eq(deny.code, 0, 'approve-device deny exit');
  await sleep(1050);
  const p = await poll();
  eq([p.status, p.json?.error], [400, 'access_denied'], 'access_denied');
  const dc = await post(`${srv.issuer}/device/auth`, { client_id: 'latchkey-public', scope: 'openid' });
  const dcr = await runNode('approve-device.mjs', [dc.json.verification_uri_complete], { LATCHKEY_TEST_BROWSER_MODE: 'deny_consent' });
  eq(dcr.code, 0, 'approve-device deny_consent exit');
  await sleep(1050);
  eq((await token(srv, { grant_type: DEVICE_GRANT, device_code: dc.json.device_code })).json?.error, 'access_denied', 'deny_consent -> access_denied');
  // typing the user code on the plain verification_uri
  const db = await post(`${srv.issuer}/device/auth`, { client_id: 'latchkey-public', scope: 'openid' });
  const r = await runNode('approve-device.mjs', [db.json.verification_uri, db.json.user_code]);
  eq(r.code, 0, 'approve via user code entry');
  await sleep(1050);
  eq((await token(srv, { grant_type: DEVICE_GRANT, device_code: db.json.device_code })).status, 200, 'tokens');
});

// ---------------------------------------------------------------------------
// client credentials, introspection, revocation
// ---------------------------------------------------------------------------
let ccToken;
await check('client_credentials: basic and post; wrong secret / method rejected', async () => {
  const a = await token(srv, { grant_type: 'client_credentials', scope: 'api:read api:write' }, { client: 'latchkey-svc' });
  eq([a.status, a.json?.token_type, a.json?.scope, a.json?.expires_in], [200, 'Bearer', 'api:read api:write', 60], `basic (${a.text})`);
  const b = await token(srv, { grant_type: 'client_credentials', scope: 'api:read' }, { client: 'latchkey-svc-post' });
  eq([b.status, b.json?.scope], [200, 'api:read'], `post (${b.text})`);
  ccToken = a.json.access_token;
  const wrong = await post(`${srv.issuer}/token`, { grant_type: 'client_credentials' }, { authorization: basic('latchkey-svc', 'nope') });
  eq([wrong.status, wrong.json?.error], [401, 'invalid_client'], 'wrong secret');
  const method = await token(srv, { grant_type: 'client_credentials' }, { client: 'latchkey-svc-post', auth: 'basic' });
  eq([method.status, method.json?.error], [401, 'invalid_client'], 'basic for a post client');
  const scope = await token(srv, { grant_type: 'client_credentials', scope: 'openid' }, { client: 'latchkey-svc' });
  eq([scope.status, scope.json?.error], [400, 'invalid_scope'], 'scope not allowed');
  const ev = srv.fileEvents().filter((e) => e.event === 'grant.error').at(-1);
  eq([ev.grant_type, ev.client_id, ev.error], ['client_credentials', 'latchkey-svc', 'invalid_scope'], 'grant.error event');
});

await check('introspection by latchkey-rs (any token), revocation', async () => {
  const login = await loginWithBrowser(srv, loop);
  const t = (await exchange(srv, loop, login)).json;
  const rs = { authorization: basic('latchkey-rs', SECRETS['latchkey-rs']) };
  const i1 = await post(`${srv.issuer}/token/introspection`, { token: t.access_token }, rs);
  eq([i1.status, i1.json.active, i1.json.sub, i1.json.client_id, i1.json.token_type], [200, true, 'alice', 'latchkey-public', 'Bearer'], `AT introspection ${i1.text}`);
  const i2 = await post(`${srv.issuer}/token/introspection`, { token: t.refresh_token }, rs);
  eq([i2.json.active, i2.json.client_id, i2.json.sub], [true, 'latchkey-public', 'alice'], `RT introspection ${i2.text}`);
  const i3 = await post(`${srv.issuer}/token/introspection`, { token: ccToken }, rs);
  eq([i3.json.active, i3.json.client_id], [true, 'latchkey-svc'], 'CC introspection');
  const badRs = await post(`${srv.issuer}/token/introspection`, { token: ccToken }, { authorization: basic('latchkey-rs', 'nope') });
  eq(badRs.status, 401, 'rs wrong secret');
  const rv = await post(`${srv.issuer}/token/revocation`, { token: t.refresh_token, token_type_hint: 'refresh_token', client_id: 'latchkey-public' });
  eq(rv.status, 200, 'revocation');
  const i4 = await post(`${srv.issuer}/token/introspection`, { token: t.refresh_token }, rs);
  eq(i4.json, { active: false }, 'revoked RT inactive');
  const i5 = await post(`${srv.issuer}/token/introspection`, { token: t.access_token }, rs);
  eq(i5.json.active, false, 'AT of a revoked grant inactive');
  const r = await token(srv, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
  eq(r.json?.error, 'invalid_grant', 'refresh after revocation');
  const evs = srv.fileEvents();
  const rev = evs.filter((e) => e.event === 'revocation.success').at(-1);
  eq([rev.client_id, rev.token_kind], ['latchkey-public', 'RefreshToken'], 'revocation.success');
  const intro = evs.filter((e) => e.event === 'introspection.success');
  assert(intro.some((e) => e.client_id === 'latchkey-rs' && e.active === true), 'introspection.success');
});

await check('response_mode=form_post is delivered as a POST; revoking an access token kills its grant', async () => {
  const login = await loginWithBrowser(srv, loop, { extra: { response_mode: 'form_post' } });
  eq(login.cbUrl.search, '', 'no query on form_post');
  const form = loop.posts.at(-1);
  eq(form.get('state'), login.state, 'state in the form');
  remember(form.get('code'));
  const t = (await exchange(srv, loop, { ...login, cbUrl: new URL(`http://x/?code=${encodeURIComponent(form.get('code'))}`) })).json;
  assert(t.access_token, 'token from form_post code');
  const rv = await post(`${srv.issuer}/token/revocation`, { token: t.access_token, client_id: 'latchkey-public' });
  eq(rv.status, 200, 'AT revocation');
  const r = await token(srv, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
  eq(r.json?.error, 'invalid_grant', 'refresh token after access token revocation');
  notes.push(`refresh after revoking only the access token: error_detail=${JSON.stringify(srv.fileEvents().filter((e) => e.event === 'grant.error').at(-1).error_detail)}`);
});

// ---------------------------------------------------------------------------
// event log
// ---------------------------------------------------------------------------
await check('event log: file == GET /__test/events, required events/fields, no token values', async () => {
  const fileEv = srv.fileEvents();
  const httpEv = await httpEvents(srv);
  eq(httpEv.length, fileEv.length, 'same number of events');
  eq(httpEv, fileEv, 'same events');
  for (const e of fileEv) assert(typeof e.event === 'string' && Number.isInteger(e.t), `bad event ${JSON.stringify(e)}`);
  const names = new Set(fileEv.map((e) => e.event));
  for (const n of ['token.request', 'grant.success', 'grant.error', 'grant.revoked', 'refresh_token.consumed', 'refresh_token.saved', 'authorization.success', 'authorization.error', 'device_authorization.success', 'revocation.success', 'introspection.success', 'device.slow_down', 'fault.applied']) {
    assert(names.has(n), `missing event ${n}`);
  }
  const tr = fileEv.find((e) => e.event === 'token.request');
  assert('grant_type' in tr && 'client_id' in tr, 'token.request fields');
  const gs = fileEv.filter((e) => e.event === 'grant.success' && e.grant_type === 'refresh_token');
  assert(gs.length >= 5, 'refresh grant.success events');
  const raw = fs.readFileSync(srv.eventLog, 'utf8') + fs.readFileSync(browserLog, 'utf8');
  assert(seenSecrets.size > 30, `collected ${seenSecrets.size} secrets`);
  for (const s of seenSecrets) assert(!raw.includes(s), 'a token/code value leaked into the event or browser log');
  const filtered = await (await fetch(`${srv.issuer}/__test/events?event=grant.revoked`)).json();
  assert(filtered.length >= 1 && filtered.every((e) => e.event === 'grant.revoked'), '?event= filter');
  notes.push(`event names seen: ${[...names].sort().join(', ')}`);
});

await check('SIGTERM: clean exit 0, stdout held exactly the ready line', async () => {
  const { code, signal } = await srv.stop('SIGTERM');
  eq([code, signal], [0, null], 'exit');
  eq(srv.stdout, `${srv.readyLine}\n`, 'stdout');
  if (srv.stderr.trim()) notes.push(`main server stderr: ${srv.stderr.trim()}`);
});

// ---------------------------------------------------------------------------
// PAR + DPoP server on a fixed PORT
// ---------------------------------------------------------------------------
async function freePort() {
  const s = net.createServer();
  await new Promise((r) => { s.listen(0, '127.0.0.1', r); });
  const { port } = s.address();
  await new Promise((r) => { s.close(r); });
  return port;
}

await check('PORT env, PAR required, DPoP with server nonces, config TTLs', async () => {
  const port = await freePort();
  const s2 = await startServer({
    par: true, requirePar: true, dpop: true, dpopRequireNonce: true, accessTokenTtl: 7, refreshTokenTtl: 100, clockTolerance: 0,
  }, { PORT: String(port) });
  try {
    eq([s2.ready.port, s2.issuer], [port, `http://127.0.0.1:${port}`], 'PORT honoured');
    const d = await (await fetch(`${s2.issuer}/.well-known/openid-configuration`)).json();
    eq(d.pushed_authorization_request_endpoint, `${s2.issuer}/request`, 'PAR endpoint');
    eq(d.require_pushed_authorization_requests, true, 'require PAR');
    assert(Array.isArray(d.dpop_signing_alg_values_supported), 'DPoP algs advertised');

    const lb = await startLoopback();
    // a plain authorization request is refused when PAR is required
    const { verifier, challenge } = pkce();
    const plain = await runNode('browser.mjs', [authorizeUrl(s2, {
      client_id: 'latchkey-dpop', response_type: 'code', redirect_uri: lb.redirectUri, scope: 'openid', state: 'x', code_challenge: challenge, code_challenge_method: 'S256',
    })]);
    const plainCb = lb.received.at(-1);
    notes.push(`requirePar + plain /auth: browser exit ${plain.code}, callback error=${plainCb?.searchParams.get('error')}`);
    assert(plain.code === 1 || plainCb?.searchParams.get('error') === 'invalid_request', 'plain request accepted');

    const key = await jose.generateKeyPair('ES256');
    const parUrl = `${s2.issuer}/request`;
    const parForm = {
      client_id: 'latchkey-dpop', response_type: 'code', redirect_uri: lb.redirectUri, scope: 'openid profile', state: 'par-state', nonce: 'par-nonce', code_challenge: challenge, code_challenge_method: 'S256',
    };
    let par = await post(parUrl, parForm, { dpop: await dpopProof(key, 'POST', parUrl) });
    eq([par.status, par.json?.error], [400, 'use_dpop_nonce'], 'PAR needs a DPoP nonce first');
    let nonce = par.headers.get('dpop-nonce');
    assert(nonce, 'DPoP-Nonce header');
    par = await post(parUrl, parForm, { dpop: await dpopProof(key, 'POST', parUrl, { nonce }) });
    eq(par.status, 201, `PAR (${par.text})`);
    assert(par.json.request_uri.startsWith('urn:ietf:params:oauth:request_uri:'), 'request_uri');

    const cbP = lb.next();
    const br = await runNode('browser.mjs', [authorizeUrl(s2, { client_id: 'latchkey-dpop', request_uri: par.json.request_uri })]);
    eq(br.code, 0, 'browser with request_uri');
    const cb = await cbP;
    eq(cb.searchParams.get('state'), 'par-state', 'state via PAR');
    remember(cb.searchParams.get('code'));

    const tokenUrl = `${s2.issuer}/token`;
    const form = { grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: lb.redirectUri, code_verifier: verifier, client_id: 'latchkey-dpop' };
    let t = await post(tokenUrl, form, { dpop: await dpopProof(key, 'POST', tokenUrl, { nonce }) });
    if (t.json?.error === 'use_dpop_nonce') {
      nonce = t.headers.get('dpop-nonce');
      t = await post(tokenUrl, form, { dpop: await dpopProof(key, 'POST', tokenUrl, { nonce }) });
    }
    eq([t.status, t.json?.token_type, t.json?.expires_in], [200, 'DPoP', 7], `DPoP token (${t.text})`);
    // a DPoP-bound token is useless as a bearer token
    const asBearer = await fetch(`${s2.issuer}/me`, { headers: { authorization: `Bearer ${t.json.access_token}` } });
    eq(asBearer.status, 401, 'DPoP token as Bearer');
    const meUrl = `${s2.issuer}/me`;
    let me = await fetch(meUrl, { headers: { authorization: `DPoP ${t.json.access_token}`, dpop: await dpopProof(key, 'GET', meUrl, { nonce, accessToken: t.json.access_token }) } });
    if (me.status === 401 && me.headers.get('dpop-nonce')) {
      nonce = me.headers.get('dpop-nonce');
      me = await fetch(meUrl, { headers: { authorization: `DPoP ${t.json.access_token}`, dpop: await dpopProof(key, 'GET', meUrl, { nonce, accessToken: t.json.access_token }) } });
    }
    eq(me.status, 200, 'userinfo with DPoP');
    const evs = s2.fileEvents();
    assert(evs.some((e) => e.event === 'pushed_authorization_request.success' && e.client_id === 'latchkey-dpop'), 'PAR event');
    assert(evs.some((e) => e.event === 'grant.success' && e.dpop_bound === true), 'grant.success dpop_bound');
    const i = await post(`${s2.issuer}/token/introspection`, { token: t.json.refresh_token }, { authorization: basic('latchkey-rs', SECRETS['latchkey-rs']) });
    eq(i.json.exp - i.json.iat, 100, 'refreshTokenTtl');
    lb.close();
  } finally {
    const { code } = await s2.stop('SIGINT');
    eq(code, 0, 'SIGINT exit code');
  }
});

await check('invalid PROVIDER_CONFIG is rejected with a clear message', async () => {
  const r = await new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(DIR, 'server.mjs')], { env: { ...process.env, PROVIDER_CONFIG: '{"acessTokenTtl":5}' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let out = '';
    p.stderr.on('data', (d) => { err += d; });
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', (code) => resolve({ code, err, out }));
  });
  eq([r.code, r.out], [2, ''], 'exit code / stdout');
  assert(/unknown key "acessTokenTtl"/.test(r.err), r.err);
});

loop.close();

// ---------------------------------------------------------------------------
const failed = results.filter((r) => !r.ok);
process.stdout.write(`\nnotes:\n${notes.map((n) => `  - ${n}`).join('\n')}\n`);
process.stdout.write(`\n${results.length - failed.length}/${results.length} checks passed${failed.length ? `; FAILED: ${failed.map((f) => f.name).join(' | ')}` : ''}\n`);
if (!failed.length) fs.rmSync(TMP, { recursive: true, force: true });
else process.stdout.write(`logs kept in ${TMP}\n`);
process.exit(failed.length ? 1 : 0);
