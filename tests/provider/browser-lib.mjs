// Shared helpers for browser.mjs and approve-device.mjs: a tiny headless "browser"
// (fetch with redirect: 'manual', a cookie jar, naive HTML form parsing) that can
// drive oidc-provider's devInteractions pages. No dependencies beyond Node 20.

import fs from 'node:fs';

export class Fail extends Error {}

export function makeLogger(name) {
  const file = process.env.LATCHKEY_TEST_BROWSER_LOG;
  return (msg) => {
    const line = `${new Date().toISOString()} ${name}[${process.pid}] ${msg}\n`;
    if (file) {
      try {
        fs.appendFileSync(file, line);
        return;
      } catch {
        // fall through to stderr
      }
    }
    process.stderr.write(line);
  };
}

/** URL without query string or fragment (never log codes/states). */
export function bare(url) {
  try {
    const u = new URL(url);
    if (u.protocol === 'http:' || u.protocol === 'https:') return `${u.origin}${u.pathname}`;
    return `${u.protocol}${u.pathname}`;
  } catch {
    return '<unparseable url>';
  }
}

export function decodeEntities(s) {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attrs(tag) {
  const out = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g;
  // skip the tag name
  const body = tag.replace(/^<\s*[a-zA-Z]+/, '').replace(/\/?>$/, '');
  let m;
  while ((m = re.exec(body)) !== null) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/** Parse all <form>s: { id, action (absolute), method, fields: [[name, value]] (hidden + prefilled), inputs: [attrs] } */
export function parseForms(html, baseUrl) {
  const forms = [];
  const re = /<form\b[^>]*>([\s\S]*?)<\/form>/gi;
  let m;
  while ((m = re.exec(html)) !== null) {
    const open = m[0].match(/^<form\b[^>]*>/i)[0];
    const a = attrs(open);
    const inputs = [];
    const ire = /<input\b[^>]*>/gi;
    let im;
    while ((im = ire.exec(m[1])) !== null) inputs.push(attrs(im[0]));
    forms.push({
      id: a.id,
      action: new URL(a.action || baseUrl, baseUrl).href,
      method: (a.method || 'get').toUpperCase(),
      inputs,
      fields: inputs.filter((i) => i.name && (i.type === 'hidden')).map((i) => [i.name, i.value ?? '']),
    });
  }
  return forms;
}

export function findLinks(html, baseUrl) {
  const links = [];
  const re = /<a\b[^>]*>/gi;
  let m;
  while ((m = re.exec(html)) !== null) {
    const a = attrs(m[0]);
    if (a.href) links.push(new URL(a.href, baseUrl).href);
  }
  return links;
}

export function pageTitle(html) {
  const m = html.match(/<title>([\s\S]*?)<\/title>/i);
  return m ? decodeEntities(m[1].trim()) : '';
}

export class Browser {
  constructor(log) {
    this.log = log;
    this.jar = new Map(); // name -> { value, path }
    this.timeoutMs = Number(process.env.LATCHKEY_TEST_BROWSER_TIMEOUT_MS || 15000);
  }

  cookieHeader(url) {
    const { pathname } = new URL(url);
    const parts = [];
    for (const [name, c] of this.jar) {
      const p = c.path || '/';
      if (pathname === p || pathname.startsWith(p.endsWith('/') ? p : `${p}/`) || p === '/') parts.push(`${name}=${c.value}`);
    }
    return parts.join('; ');
  }

  storeCookies(res) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrList] = sc.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = false;
      for (const attr of attrList) {
        const [k, v = ''] = attr.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path') path = v.trim() || '/';
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      if (expired || value === '') this.jar.delete(name);
      else this.jar.set(name, { value, path });
    }
  }

  async request(method, url, { form, headers = {} } = {}) {
    const h = { 'user-agent': 'latchkey-test-browser/1', accept: 'text/html,*/*;q=0.8', ...headers };
    const cookie = this.cookieHeader(url);
    if (cookie) h.cookie = cookie;
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      h['content-type'] = 'application/x-www-form-urlencoded';
    }
    this.log(`${method} ${bare(url)}`);
    let res;
    try {
      res = await fetch(url, {
        method, headers: h, body, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new Fail(`${method} ${bare(url)} failed: ${err.cause?.message || err.message}`);
    }
    this.storeCookies(res);
    const text = await res.text();
    const location = res.headers.get('location');
    this.log(`  -> ${res.status}${location ? ` Location: ${bare(new URL(location, url).href)}` : ''}`);
    return {
      status: res.status, headers: res.headers, text, url, location: location ? new URL(location, url).href : null,
    };
  }
}

export function unexpected(page, why) {
  const ctype = page.headers?.get('content-type') ?? '';
  return new Fail(`${why}: HTTP ${page.status} (${ctype}) at ${bare(page.url)}; body: ${JSON.stringify(page.text.slice(0, 300))}`);
}

export const isRedirect = (status) => status >= 300 && status < 400;

export function loginName() {
  return process.env.LATCHKEY_TEST_LOGIN || 'alice';
}

export function mode(allowed) {
  const m = process.env.LATCHKEY_TEST_BROWSER_MODE || 'approve';
  if (!allowed.includes(m)) throw new Fail(`unknown LATCHKEY_TEST_BROWSER_MODE ${JSON.stringify(m)} (expected ${allowed.join('|')})`);
  return m;
}

/**
 * Handle one devInteractions page (login or consent). Returns the next page, or null if
 * this is not an interaction page.
 */
export async function handleInteraction(browser, page, { deny }) {
  const forms = parseForms(page.text, page.url);
  const form = forms.find((f) => f.fields.some(([n]) => n === 'prompt'));
  if (!form) return null;
  const prompt = form.fields.find(([n]) => n === 'prompt')[1];
  if (prompt === 'login') {
    const login = loginName();
    browser.log(`login form: signing in as ${JSON.stringify(login)}`);
    return browser.request('POST', form.action, { form: [...form.fields, ['login', login], ['password', 'x']] });
  }
  if (prompt === 'consent') {
    if (deny) {
      const abort = findLinks(page.text, page.url).find((l) => new URL(l).pathname.endsWith('/abort'));
      if (!abort) throw unexpected(page, 'consent page without an abort link');
      browser.log('consent form: denying (abort link)');
      return browser.request('GET', abort);
    }
    browser.log('consent form: approving');
    return browser.request('POST', form.action, { form: form.fields });
  }
  throw unexpected(page, `unknown interaction prompt ${JSON.stringify(prompt)}`);
}
