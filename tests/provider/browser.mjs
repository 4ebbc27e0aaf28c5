#!/usr/bin/env node
// Headless "system browser" for Latchkey tests.
//   LATCHKEY_BROWSER="node /abs/path/tests/provider/browser.mjs"  (Latchkey appends the URL)
// Env:
//   LATCHKEY_TEST_LOGIN          login name typed into the login form (default alice)
//   LATCHKEY_TEST_BROWSER_MODE   approve (default) | deny | ignore
//   LATCHKEY_TEST_DEEP_LINK_CMD  command (split on whitespace) run with a custom-scheme
//                                callback URL appended; if unset the URL is printed on stdout
//   LATCHKEY_TEST_BROWSER_DELIVER print: print every callback URL on stdout instead of
//                                delivering it (a person copying the address bar)
//   LATCHKEY_TEST_BROWSER_LOG    append the log here (default: stderr)
//   LATCHKEY_TEST_BROWSER_RESULT write a JSON summary of the outcome here (optional)
// Exit: 0 = callback delivered (or ignore mode), 1 = unexpected page / failure, 2 = usage.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

import {
  Browser, Fail, bare, handleInteraction, isRedirect, makeLogger, mode, parseForms, unexpected,
} from './browser-lib.mjs';

const log = makeLogger('browser');

function writeResult(result) {
  const file = process.env.LATCHKEY_TEST_BROWSER_RESULT;
  if (file) fs.writeFileSync(file, `${JSON.stringify(result)}\n`);
}

async function deliver(browser, callbackUrl, { method = 'GET', form } = {}) {
  const u = new URL(callbackUrl);
  const params = method === 'GET' ? u.searchParams : new URLSearchParams(form);
  const outcome = params.has('error') ? `error=${params.get('error')}` : (params.has('code') ? 'code' : 'no code/error');
  log(`provider redirected to the client: ${bare(callbackUrl)} (${outcome})`);

  if (process.env.LATCHKEY_TEST_BROWSER_DELIVER === 'print' && method === 'GET') {
    log('printing the callback URL on stdout (deliver=print)');
    process.stdout.write(`${callbackUrl}\n`);
    writeResult({ ok: true, stage: 'printed', outcome });
    return 0;
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    let res;
    try {
      res = await fetch(callbackUrl, {
        method,
        redirect: 'manual',
        headers: { 'user-agent': 'latchkey-test-browser/1', accept: 'text/html,*/*;q=0.8', ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        body: form ? new URLSearchParams(form).toString() : undefined,
        signal: AbortSignal.timeout(browser.timeoutMs),
      });
    } catch (err) {
      writeResult({ ok: false, stage: 'callback', outcome, error: err.cause?.message || err.message });
      throw new Fail(`callback ${method} ${bare(callbackUrl)} failed: ${err.cause?.message || err.message}`);
    }
    const body = await res.text();
    log(`callback answered HTTP ${res.status}; body: ${JSON.stringify(body.slice(0, 300))}`);
    writeResult({ ok: true, stage: 'callback', outcome, callback_status: res.status, callback_body: body.slice(0, 4096) });
    return 0;
  }

  // custom scheme: hand it to the "OS" (deep link command) or print it
  const cmd = (process.env.LATCHKEY_TEST_DEEP_LINK_CMD || '').split(/\s+/).filter(Boolean);
  if (cmd.length === 0) {
    log('custom-scheme callback: printing it on stdout');
    process.stdout.write(`${callbackUrl}\n`);
    writeResult({ ok: true, stage: 'deep_link', outcome, printed: true });
    return 0;
  }
  log(`custom-scheme callback: running ${cmd[0]} (${cmd.length - 1} args) + URL`);
  const r = spawnSync(cmd[0], [...cmd.slice(1), callbackUrl], { stdio: 'inherit', env: process.env });
  if (r.error) {
    writeResult({ ok: false, stage: 'deep_link', outcome, error: r.error.message });
    throw new Fail(`deep link command failed to start: ${r.error.message}`);
  }
  log(`deep link command exited with ${r.status ?? r.signal}`);
  writeResult({ ok: r.status === 0, stage: 'deep_link', outcome, deep_link_status: r.status });
  return r.status === 0 ? 0 : 1;
}

async function main() {
  const url = process.argv[process.argv.length - 1];
  if (process.argv.length < 3 || !/^https?:\/\//.test(url)) {
    throw new Fail(`usage: browser.mjs <authorize-url> (got ${JSON.stringify(process.argv.slice(2))})`);
  }
  const m = mode(['approve', 'deny', 'ignore']);
  log(`mode=${m} url=${bare(url)}`);
  if (m === 'ignore') {
    log('ignore mode: doing nothing');
    writeResult({ ok: true, stage: 'ignored' });
    return 0;
  }

  const browser = new Browser(log);
  const providerOrigin = new URL(url).origin;
  let page = await browser.request('GET', url);

  for (let step = 0; step < 30; step += 1) {
    if (isRedirect(page.status)) {
      if (!page.location) throw unexpected(page, 'redirect without Location');
      const next = new URL(page.location);
      if (next.origin === providerOrigin && (next.protocol === 'http:' || next.protocol === 'https:')) {
        page = await browser.request('GET', next.href);
        continue;
      }
      return deliver(browser, next.href);
    }

    if (page.status === 200 && /html/i.test(page.headers.get('content-type') ?? '')) {
      const next = await handleInteraction(browser, page, { deny: m === 'deny' });
      if (next) {
        page = next;
        continue;
      }
      // response_mode=form_post: an auto-submitting form aimed at the client
      const forms = parseForms(page.text, page.url);
      const external = forms.find((f) => new URL(f.action).origin !== providerOrigin);
      if (external && external.method === 'POST') {
        return deliver(browser, external.action, { method: 'POST', form: external.fields });
      }
    }
    throw unexpected(page, 'unexpected page');
  }
  throw new Fail('too many steps (redirect/interaction loop?)');
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`FAILED: ${err instanceof Fail ? err.message : err.stack || err}`);
    try {
      writeResult({ ok: false, error: err.message });
    } catch {
      // ignore
    }
    process.exit(err instanceof Fail && /^usage:/.test(err.message) ? 2 : 1);
  },
);
