#!/usr/bin/env node
// Approve (or deny) a device authorization like a user on a second device would.
//   node approve-device.mjs <verification_uri_complete>
//   node approve-device.mjs <verification_uri> <user_code>      (or env LATCHKEY_TEST_USER_CODE)
// Env:
//   LATCHKEY_TEST_LOGIN         login name (default alice)
//   LATCHKEY_TEST_BROWSER_MODE  approve (default) | deny (abort on the confirm page) |
//                               deny_consent (confirm, log in, then abort the consent page)
//   LATCHKEY_TEST_BROWSER_LOG   append the log here (default: stderr)
// Exit: 0 = done (approved, or denied as asked), 1 = unexpected page / failure, 2 = usage.

import {
  Browser, Fail, bare, handleInteraction, isRedirect, makeLogger, mode, pageTitle, parseForms, unexpected,
} from './browser-lib.mjs';

const log = makeLogger('approve-device');

function errorMessage(html) {
  const m = html.match(/<p class="red">([\s\S]*?)<\/p>/);
  return m ? m[1].trim() : null;
}

async function main() {
  const url = process.argv[2];
  if (!url || !/^https?:\/\//.test(url)) throw new Fail('usage: approve-device.mjs <verification_uri_complete> | <verification_uri> <user_code>');
  const userCode = process.argv[3] || process.env.LATCHKEY_TEST_USER_CODE;
  const m = mode(['approve', 'deny', 'deny_consent']);
  log(`mode=${m} url=${bare(url)}`);

  const browser = new Browser(log);
  const providerOrigin = new URL(url).origin;
  let page = await browser.request('GET', url);
  let confirmed = false;

  for (let step = 0; step < 30; step += 1) {
    if (isRedirect(page.status)) {
      if (!page.location) throw unexpected(page, 'redirect without Location');
      if (new URL(page.location).origin !== providerOrigin) throw unexpected(page, 'redirect away from the provider');
      page = await browser.request('GET', page.location);
      continue;
    }
    if (page.status !== 200 || !/html/i.test(page.headers.get('content-type') ?? '')) {
      throw unexpected(page, 'unexpected response');
    }

    const forms = parseForms(page.text, page.url);
    const confirmForm = forms.find((f) => f.id === 'op.deviceConfirmForm');
    const inputForm = forms.find((f) => f.id === 'op.deviceInputForm');
    const title = pageTitle(page.text);

    if (confirmForm) {
      if (m === 'deny') {
        log('confirm page: aborting (abort=yes)');
        page = await browser.request('POST', confirmForm.action, { form: [...confirmForm.fields, ['abort', 'yes']] });
        const msg = errorMessage(page.text);
        if (page.status === 200 && msg && /interrupted|aborted/i.test(msg)) {
          log(`denied: provider says ${JSON.stringify(msg)}`);
          return 0;
        }
        throw unexpected(page, 'unexpected answer to abort');
      }
      log('confirm page: confirming (confirm=yes)');
      confirmed = true;
      page = await browser.request('POST', confirmForm.action, { form: confirmForm.fields });
      continue;
    }

    if (inputForm) {
      const msg = errorMessage(page.text);
      if (msg && !/Enter the code/i.test(msg)) {
        if (m === 'deny_consent' && confirmed && /interrupted|aborted/i.test(msg)) {
          log(`denied at consent: provider says ${JSON.stringify(msg)}`);
          return 0;
        }
        throw unexpected(page, `device code page reports: ${msg}`);
      }
      if (!userCode) throw unexpected(page, 'user code input page, but no user code given (argv[3] or LATCHKEY_TEST_USER_CODE)');
      log('input page: submitting the user code');
      page = await browser.request('POST', inputForm.action, { form: [...inputForm.fields, ['user_code', userCode]] });
      continue;
    }

    // the auto-submitting form_post page that verification_uri_complete renders
    const autoPost = forms.find((f) => f.method === 'POST' && f.fields.some(([n]) => n === 'xsrf') && f.fields.some(([n]) => n === 'user_code'));
    if (autoPost) {
      log('auto-submit page: posting xsrf + user_code');
      page = await browser.request('POST', autoPost.action, { form: autoPost.fields });
      continue;
    }

    const next = await handleInteraction(browser, page, { deny: m === 'deny_consent' });
    if (next) {
      page = next;
      continue;
    }

    if (/Sign-in Success/i.test(title)) {
      log('device approved (success page)');
      return 0;
    }
    throw unexpected(page, 'unexpected page');
  }
  throw new Fail('too many steps');
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`FAILED: ${err instanceof Fail ? err.message : err.stack || err}`);
    process.exit(err instanceof Fail && /^usage:/.test(err.message) ? 2 : 1);
  },
);
