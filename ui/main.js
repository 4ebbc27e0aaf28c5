// Latchkey window. Plain ES module (the CSP allows no inline script); talks to Rust only
// through the app's commands (window.__TAURI__.core.invoke) and events. No command returns a
// token: "Copy access token" happens in Rust.

const tauri = window.__TAURI__;
const $ = (sel, root = document) => root.querySelector(sel);

const STATUS_TEXT = {
  signed_in: "Signed in",
  expires_soon: "Expires soon",
  expired_refreshable: "Expired, refreshable",
  needs_sign_in: "Needs sign-in",
  signed_out: "Signed out",
  unknown: "Keychain unreadable",
  signing_in: "Signing in…",
  checking: "Checking…",
};

// The provider fields of the add form come from the core (`list_presets`: each preset's
// `fields`), so a field added to a preset appears here by itself.
let PROVIDER_FIELDS = [];

let accounts = [];
let presets = [];
let schemeRedirect = "dev.latchkey.app:/callback";
let editingAccount = null;
let editing = null; // name of the account being edited, or null when adding
const accountErrors = new Map(); // account name -> {kind, message}

// ---- calls ---------------------------------------------------------------------------------

let slowCalls = 0;
// Calls Rust; if it takes long, says what it waits for (the keychain may be showing an unlock
// prompt: the app waits up to two minutes rather than failing).
async function call(cmd, args = {}, waitText) {
  const text = waitText ?? "Waiting for the keychain to be unlocked… If your system asks for your keyring password, enter it.";
  let shown = false;
  const timer = setTimeout(() => {
    shown = true;
    slowCalls += 1;
    $("#keychain-wait-text").textContent = text;
    $("#keychain-wait").hidden = false;
  }, 800);
  try {
    return await tauri.core.invoke(cmd, args);
  } finally {
    clearTimeout(timer);
    if (shown) {
      slowCalls -= 1;
      if (slowCalls === 0) $("#keychain-wait").hidden = true;
    }
  }
}
const NETWORK_WAIT = "Working… waiting for the provider (or for the keychain to be unlocked).";

function errorText(err) {
  if (err && typeof err === "object" && "message" in err) return err.message;
  return String(err);
}

// ---- notices -------------------------------------------------------------------------------

function notice(level, message, actions = []) {
  const box = document.createElement("div");
  box.className = `notice notice-${level}`;
  box.setAttribute("role", level === "error" ? "alert" : "status");
  const text = document.createElement("span");
  text.className = "notice-text";
  text.textContent = message;
  box.append(text);
  for (const [label, fn] of actions) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = label;
    b.addEventListener("click", () => { box.remove(); fn(); });
    box.append(b);
  }
  const close = document.createElement("button");
  close.type = "button";
  close.className = "small close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => box.remove());
  box.append(close);
  $("#notices").append(box);
  if (level === "info") setTimeout(() => box.remove(), 8000);
  return box;
}

// Errors a person can act on get a hint next to the core's message.
function explain(err) {
  const msg = errorText(err);
  switch (err?.kind) {
    case "keychain":
      return `${msg}`;
    case "provider_unreachable":
      return `${msg} — check the network or the provider's status, then try again.`;
    default:
      return msg;
  }
}

// What the core says to do about an error (`err.remedy`, data, never a command): a sign-in gets
// a "Sign in" button; the others are said in words after the message.
function remedyActions(err) {
  const r = err?.remedy;
  if (!r?.account) return [];
  if (r.do === "sign_in" || (r.do === "sign_in_again" && !r.replace)) {
    return [["Sign in", () => signIn(r.account, false).catch((e) => notice("error", explain(e)))]];
  }
  return [];
}

function remedyWords(err) {
  const r = err?.remedy;
  switch (r?.do) {
    case "add_scopes":
      return r.scopes.length ? ` Sign in again asking for the scope ${r.scopes.join(" ")}.` : "";
    case "add_resources":
      return ` Sign in again naming ${r.resources.join(" ")}.`;
    case "step_up":
      return " Sign in again (a stronger or more recent sign-in).";
    case "set_client_secret":
      return " Set the client secret again in Edit.";
    case "unlock_vault":
      return " Unlock the vault in a terminal.";
    case "own_redirect_uri":
      return " Turn on the account's own redirect URI in Edit.";
    default:
      return "";
  }
}

// ---- rendering -----------------------------------------------------------------------------

// A length of time in its two largest units ("59s", "4m 10s", "2h 5m", "1d 1h"; negative:
// "3m 0s ago"): the same rules as the core's `latchkey_core::text::human_duration`
// (crates/latchkey-core/src/text.rs), which the CLI, the tray and the notifications use.
function fmtDuration(secs) {
  const s = Math.abs(Math.round(secs));
  let text;
  if (s >= 86400) text = `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  else if (s >= 3600) text = `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  else if (s >= 60) text = `${Math.floor(s / 60)}m ${s % 60}s`;
  else text = `${s}s`;
  return Math.round(secs) < 0 ? `${text} ago` : text;
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString();
}

function statusOf(a) {
  return a.signing_in ? "signing_in" : a.status;
}

function expiresText(a) {
  if (!a.expires_at) return "";
  const left = (new Date(a.expires_at).getTime() - Date.now()) / 1000;
  return left >= 0 ? `expires in ${fmtDuration(left)}` : `expired ${fmtDuration(left)}`;
}

let rendered = "";
let keychain = "unknown";
const KEYCHAIN_UNUSABLE = ["locked", "unavailable", "timed_out", "failed"];

// The account shown in the detail pane (its name), or null.
let selected = null;

// Provider marks (inline SVG symbols in index.html); custom issuers get the generic padlock.
const ICONS = {
  google: "google", github: "github", "github-enterprise": "github", entra: "entra",
  gitlab: "gitlab", auth0: "auth0", okta: "okta", cognito: "cognito", keycloak: "keycloak",
};
function setIcon(el, a) {
  const preset = a.provider?.spec?.preset ?? "oidc";
  el.dataset.preset = preset;
  el.querySelector("use").setAttribute("href", `#icon-${ICONS[preset] ?? "oidc"}`);
}

function setStatus(el, a) {
  el.textContent = STATUS_TEXT[statusOf(a)] ?? a.status;
  el.dataset.status = statusOf(a);
}

function render() {
  $("#loading").hidden = true;
  // Re-render only on change: keeps keyboard focus and avoids needless work on each poll.
  const key = JSON.stringify([
    accounts.map((a) => ({
      ...a,
      expires_in: null,
      cached_tokens: (a.cached_tokens ?? []).map((c) => ({ ...c, expires_in: null })),
    })),
    [...accountErrors],
    keychain,
  ]);
  if (key === rendered) return;
  rendered = key;
  const list = $("#accounts");
  $("#empty").hidden = accounts.length > 0;
  $("#split").hidden = accounts.length === 0;
  // "unknown": the account's tokens could not be read from the keychain (locked, no service);
  // or the keychain refused the app's last call although tokens held in memory are served.
  $("#keychain-locked").hidden =
    !accounts.some((a) => a.status === "unknown") && !KEYCHAIN_UNUSABLE.includes(keychain);
  if (!accounts.some((a) => a.name === selected)) selected = accounts[0]?.name ?? null;
  const listHadFocus = list.contains(document.activeElement);
  const tpl = $("#account-template");
  const row = (a) => {
    const li = tpl.content.firstElementChild.cloneNode(true);
    li.dataset.name = a.name;
    li.dataset.status = statusOf(a);
    const mine = a.name === selected;
    li.setAttribute("aria-selected", String(mine));
    li.tabIndex = mine ? 0 : -1;
    setIcon($(".provider-icon", li), a);
    $(".name", li).textContent = a.name;
    $(".label", li).textContent = a.label ?? "";
    setStatus($(".status", li), a);
    return li;
  };
  // The first screenful at once; the rest in chunks, each after a frame has been drawn
  // (requestAnimationFrame runs before a frame, the timeout after it), so a long list (hundreds
  // of accounts) shows without waiting for every row. A newer render stops an older one's.
  const gen = ++renderGeneration;
  let at = Math.min(FIRST_ROWS, accounts.length);
  list.replaceChildren(...accounts.slice(0, at).map(row));
  if (listHadFocus) selectedRow()?.focus();
  const more = () => {
    if (gen !== renderGeneration || at >= accounts.length) return;
    const end = Math.min(at + CHUNK_ROWS, accounts.length);
    list.append(...accounts.slice(at, end).map(row));
    at = end;
    afterFrame(more);
  };
  afterFrame(more);
  renderDetail();
}

const afterFrame = (f) => requestAnimationFrame(() => setTimeout(f, 0));

const FIRST_ROWS = 40;
const CHUNK_ROWS = 200;
let renderGeneration = 0;

function selectedRow() {
  return [...$("#accounts").children].find((li) => li.dataset.name === selected) ?? null;
}

// Shows account `name` in the detail pane; `focus` moves the keyboard focus to its row.
function select(name, focus = false) {
  if (name !== selected) {
    const remove = $("#detail button[data-action='remove']");
    remove.dataset.confirm = "";
    remove.textContent = "Remove";
  }
  selected = name;
  for (const li of $("#accounts").children) {
    const mine = li.dataset.name === name;
    li.setAttribute("aria-selected", String(mine));
    li.tabIndex = mine ? 0 : -1;
  }
  renderDetail();
  const li = selectedRow();
  if (li && focus) {
    li.focus();
    li.scrollIntoView({ block: "nearest" });
  }
}

// The list: a click selects; arrow keys, Home and End move the selection (and the focus).
function onListClick(ev) {
  const li = ev.target.closest("li.account");
  if (li) select(li.dataset.name, true);
}

function onListKey(ev) {
  const rows = [...$("#accounts").children];
  const at = rows.findIndex((li) => li.dataset.name === selected);
  let to = null;
  switch (ev.key) {
    case "ArrowDown": to = Math.min(at + 1, rows.length - 1); break;
    case "ArrowUp": to = Math.max(at - 1, 0); break;
    case "Home": to = 0; break;
    case "End": to = rows.length - 1; break;
    default: return;
  }
  ev.preventDefault();
  if (rows[to]) select(rows[to].dataset.name, true);
}

// One click handler for the detail pane's actions.
function onDetailClick(ev) {
  const b = ev.target.closest("button[data-action], button[data-connect]");
  if (!b || b.disabled) return;
  if (b.dataset.connect) {
    openConnect(b.dataset.connect);
    return;
  }
  const a = accounts.find((x) => x.name === $("#detail").dataset.name);
  if (a) act(b.dataset.action, a, b);
}

// Live countdowns, without re-rendering.
function tick() {
  let expiredNow = false;
  const shown = accounts.find((a) => a.name === selected);
  if (shown) $("#detail .expires").textContent = expiresText(shown);
  for (const a of accounts) {
    if (a.expires_at && a.status === "signed_in" && new Date(a.expires_at).getTime() - Date.now() < 60000) {
      expiredNow = true;
    }
    if (a.expires_at && a.status === "expires_soon" && new Date(a.expires_at).getTime() < Date.now()) {
      expiredNow = true;
    }
  }
  if (expiredNow) scheduleReload();
}

// The detail pane is one fixed set of elements, updated in place: a button keeps the keyboard
// focus across reloads, and a dialog's opener stays in the page.
function renderDetail() {
  const a = accounts.find((x) => x.name === selected);
  const d = $("#detail");
  d.hidden = !a;
  if (!a) return;
  const changed = d.dataset.name !== a.name;
  d.dataset.name = a.name;
  d.dataset.status = statusOf(a);
  setIcon($(".provider-icon", d), a);
  $("#detail-name").textContent = a.name;
  $(".label", d).textContent = a.label ?? "";
  setStatus($(".status", d), a);
  const id = a.identity;
  const who = $(".identity", d);
  who.classList.toggle("muted", !id);
  if (id) {
    const parts = [id.name, id.email ?? id.username].filter(Boolean);
    who.textContent = parts.length ? parts.join(" · ") : id.sub;
    who.title = `subject: ${id.sub}`;
  } else {
    who.textContent = "Not signed in yet";
    who.title = "";
  }
  $(".provider", d).textContent = a.provider_name;
  $(".expires", d).textContent = expiresText(a);
  $(".refreshed", d).textContent = a.last_refresh_at ? `last refresh ${fmtTime(a.last_refresh_at)}` : "";
  const scopes = a.granted_scopes?.length ? a.granted_scopes : a.scopes;
  $(".scopes", d).textContent = scopes?.length ? `scopes: ${scopes.join(" ")}` : "";
  // Tokens for other APIs (never the token: what it is for, what was granted, expiry). The
  // core records no last use yet: the activity record will.
  const cached = $(".cached", d);
  cached.replaceChildren(...(a.cached_tokens ?? []).map((c) => {
    const item = document.createElement("li");
    const what = [
      c.scopes?.length ? `scope ${c.scopes.join(" ")}` : "",
      ...(c.resources ?? []).map((r) => `resource ${r}`),
      c.audience ? `audience ${c.audience}` : "",
    ].filter(Boolean).join(", ");
    const left = c.expires_at ? (new Date(c.expires_at).getTime() - Date.now()) / 1000 : null;
    const when = left === null ? "" : left > 0 ? ` · expires in ${fmtDuration(left)}` : " · expired (renewed on next use)";
    const granted = c.granted_scope && c.granted_scope !== (c.scopes ?? []).join(" ") ? ` · granted ${c.granted_scope}` : "";
    item.textContent = `token for ${what || "the account's own scopes"}${granted}${when}`;
    item.dataset.spec = specKey(c);
    return item;
  }));
  $(".cached-none", d).hidden = (a.cached_tokens ?? []).length > 0;
  markLastUse();
  const problems = $(".problems", d);
  const err = accountErrors.get(a.name);
  problems.replaceChildren(...[...(a.problems ?? []), ...(err ? [errorText(err)] : [])].map((p) => {
    const div = document.createElement("div");
    div.className = "problem";
    div.textContent = p;
    return div;
  }));
  const hasTokens = ["signed_in", "expires_soon", "expired_refreshable"].includes(a.status);
  const show = {
    "sign-in": !a.signing_in && !["signed_in", "expires_soon", "checking"].includes(a.status),
    cancel: a.signing_in,
    refresh: hasTokens && a.has_refresh_token,
    copy: hasTokens,
    "add-permissions": hasTokens && a.flow !== "client-credentials" && !a.signing_in,
    "sign-out": hasTokens || a.status === "unknown",
    edit: true,
    remove: true,
  };
  for (const b of d.querySelectorAll("button[data-action]")) {
    b.hidden = !show[b.dataset.action];
  }
  const signIn = $("button[data-action='sign-in']", d);
  if (a.status === "signed_in" || a.status === "expires_soon") {
    // Offer "sign in again" quietly (e.g. new scopes).
    signIn.hidden = a.signing_in;
    signIn.textContent = "Sign in again";
    signIn.classList.remove("primary");
  } else {
    signIn.textContent = "Sign in";
    signIn.classList.add("primary");
  }
  // Screen readers hear which account a button acts on ("Edit, work").
  for (const b of d.querySelectorAll("button[data-action], button[data-connect]")) {
    b.setAttribute("aria-label", `${b.textContent}, ${a.name}`);
  }
  if (changed) {
    loadConnections();
    activityKey = "";
    loadActivity();
  }
}

// ---- activity (who got this account's tokens) ----------------------------------------------

const OUTCOME_TEXT = {
  issued: "issued",
  refused: "refused",
  denied: "denied",
  timed_out: "not answered",
  failed: "failed",
};
let activityKey = "";
let lastUse = {}; // tool id -> ISO time of the last hand-out, for the connections list
let tokenLastUse = {}; // token spec key -> ISO time of its last hand-out

function activityWhere(r) {
  return r.target ? `${r.tool} → ${r.target}` : r.tool;
}

// The selected account's use (`account_activity`: per tool today, the last records, its
// approval policy). Re-drawn only when it changed.
async function loadActivity() {
  const name = selected;
  if (!name) return;
  let v;
  try {
    v = await tauri.core.invoke("account_activity", { name });
  } catch {
    return;
  }
  if (name !== selected) return;
  const key = JSON.stringify(v);
  if (key === activityKey) return;
  activityKey = key;
  $("#activity").hidden = false;
  $("#approval-policy").textContent = `Approval before a hand-out: ${v.approval}.`;
  const grants = [
    ...v.grants.map((g) => `Allowed for a session: ${g}.`),
    ...(v.last_lock ? [v.last_lock] : []),
  ];
  $("#approval-grants").hidden = grants.length === 0;
  $("#approval-grants").textContent = grants.join(" ");
  const items = v.usage.map((line) => {
    const li = document.createElement("li");
    li.className = "usage";
    li.textContent = line;
    return li;
  });
  for (const r of v.recent.slice(0, 5)) {
    const li = document.createElement("li");
    li.className = `outcome-${r.outcome}`;
    li.textContent = `${fmtTime(r.at)} — ${OUTCOME_TEXT[r.outcome] ?? r.outcome}: ${r.what}, ${activityWhere(r)}, asked by ${r.requester.name}`;
    items.push(li);
  }
  if (items.length === 0) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "No token of this account has been handed out yet.";
    items.push(li);
  }
  $("#activity-list").replaceChildren(...items);
  lastUse = Object.fromEntries((v.tools ?? []).map((t) => [t.tool, t.last]));
  tokenLastUse = Object.fromEntries((v.token_uses ?? []).map((u) => [specKey(u), u.last]));
  markLastUse();
}

// One key for a token spec (scopes, resources, audience), as the core sorts them.
function specKey(c) {
  return JSON.stringify([c.scopes ?? [], c.resources ?? [], c.audience ?? null]);
}

// "last use 3m 0s ago" beside each connection whose tool has handed out a token, and beside
// each token for another API that was handed out.
function markLastUse() {
  for (const li of document.querySelectorAll("#detail .cached li[data-spec]")) {
    showLastUse(li, tokenLastUse[li.dataset.spec], "last-use", li);
  }
  for (const li of document.querySelectorAll("#connections li.connection")) {
    showLastUse(li, lastUse[li.dataset.tool], "last-use muted small-text", li.querySelector(".what"));
  }
}

// One "last use" span in `li` (appended to `into`), removed when there is no last use.
function showLastUse(li, when, className, into) {
  let span = li.querySelector(".last-use");
  if (!when) {
    span?.remove();
    return;
  }
  if (!span) {
    span = document.createElement("span");
    span.className = className;
    into?.append(span);
  }
  span.textContent = ` · last use ${fmtDuration(Math.min(-1, (new Date(when).getTime() - Date.now()) / 1000))}`;
}

// The full view: every account's records, newest first.
async function openActivity() {
  let records = [];
  try {
    records = await tauri.core.invoke("activity_log", { limit: 200 });
  } catch (err) {
    notice("error", `Activity: ${explain(err)}`);
    return;
  }
  const rows = records.map((r) => {
    const tr = document.createElement("tr");
    tr.className = `outcome-${r.outcome}`;
    const cells = [
      fmtTime(r.at),
      r.account,
      OUTCOME_TEXT[r.outcome] ?? r.outcome,
      `${r.what}, ${activityWhere(r)}${r.reason ? ` (${r.reason})` : ""}`,
      `${r.requester_line} · ${r.via}`,
    ];
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.append(td);
    }
    return tr;
  });
  $("#activity-table tbody").replaceChildren(...rows);
  $("#activity-empty").hidden = rows.length > 0;
  $("#activity-table").hidden = rows.length === 0;
  openers.set($("#activity-dialog"), document.activeElement);
  $("#activity-dialog").showModal();
  $("#activity-close").focus();
}

// ---- connections (rules and the tools set up for them) ------------------------------------

const TOOL_NAME = { git: "git", kubectl: "kubectl", docker: "Docker", rule: "Rule" };
let connections = { account: null, key: "" };

// The selected account's connections, from the core (`list_connections`); re-drawn only when
// they changed, so an Undo button keeps the focus.
async function loadConnections() {
  const name = selected;
  if (!name) return;
  let list;
  try {
    list = await call("list_connections", { name });
  } catch (err) {
    list = [];
    if (err?.kind !== "unknown_account") notice("error", `${name}: connections: ${explain(err)}`);
  }
  if (name !== selected) return;
  const key = JSON.stringify(list);
  if (connections.account === name && connections.key === key) return;
  connections = { account: name, key };
  const ul = $("#connections");
  const hadFocus = ul.contains(document.activeElement);
  ul.replaceChildren(...list.map((c) => {
    const li = document.createElement("li");
    li.className = "connection";
    li.dataset.tool = c.tool;
    li.dataset.detail = c.detail;
    const tool = document.createElement("span");
    tool.className = "tool";
    tool.textContent = TOOL_NAME[c.tool] ?? c.tool;
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = c.detail;
    if (c.rule) {
      const rule = document.createElement("span");
      rule.className = "rule";
      rule.textContent = `rule ${c.rule}`;
      what.append(rule);
    }
    li.append(tool, what);
    if (c.undo) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "small";
      b.dataset.undo = "";
      b.textContent = "Undo…";
      b.setAttribute("aria-label", `Undo the ${TOOL_NAME[c.tool]} connection ${c.detail}, ${name}`);
      b.addEventListener("click", () => openUndo(name, c));
      li.append(b);
    }
    return li;
  }));
  $("#connections-none").hidden = list.length > 0;
  markLastUse();
  if (hadFocus) ($("button", ul) ?? $("#connect-git")).focus();
}

// The "Connect …" dialog: the form, then the dry run (which file, which lines), then Apply.
let connect = null; // {account, tool, undo, planId}

function openConnect(tool) {
  const a = accounts.find((x) => x.name === selected);
  if (!a) return;
  connect = { account: a.name, tool, undo: false, planId: 0 };
  const form = $("#connect-form");
  form.reset();
  $("#connect-title").textContent = `Connect ${TOOL_NAME[tool]} to ${a.name}`;
  $("#connect-intro").textContent = {
    git: "git asks Latchkey for this account's token for the host (and path prefix): the credential helper in your global git config, and a rule.",
    kubectl: "kubectl runs Latchkey for the cluster: a user and a context in your kubeconfig, and a rule for the cluster's server.",
    docker: "Docker asks Latchkey for this registry: a credHelpers entry in Docker's config.json, and a rule.",
  }[tool];
  $("#connect-fields").hidden = false;
  for (const label of $("#connect-fields").querySelectorAll("[data-tool]")) {
    label.hidden = label.dataset.tool !== tool;
  }
  if (tool === "git") {
    const preset = a.provider?.spec?.preset;
    form.host.placeholder = preset === "github" ? "github.com (default)" : preset === "gitlab" ? "gitlab.com (default)" : "git.example.com";
  }
  resetPreview();
  $("#connect-preview-button").hidden = false;
  $("#connect-apply").textContent = "Apply";
  showDialog($("#connect-dialog"));
  $("#connect-fields label:not([hidden]) input").focus();
}

async function openUndo(account, c) {
  connect = { account, tool: c.tool, undo: true, planId: 0 };
  $("#connect-title").textContent = `Undo the ${TOOL_NAME[c.tool]} connection of ${account}`;
  $("#connect-intro").textContent = `${c.detail}: these changes take it back out.`;
  $("#connect-fields").hidden = true;
  $("#connect-preview-button").hidden = true;
  $("#connect-apply").textContent = "Undo";
  resetPreview();
  showDialog($("#connect-dialog"));
  await runPreview({ ...c.undo, account, undo: true });
}

function resetPreview() {
  $("#connect-preview").hidden = true;
  $("#connect-preview-body").replaceChildren();
  $("#connect-error").hidden = true;
  $("#connect-apply").disabled = true;
  if (connect) connect.planId = 0;
}

function connectInput() {
  const form = $("#connect-form");
  const v = (n) => form[n].value.trim() || null;
  const input = { account: connect.account, tool: connect.tool, undo: false };
  if (connect.tool === "git") Object.assign(input, { host: v("host"), path: v("path") });
  if (connect.tool === "kubectl") Object.assign(input, { cluster: v("cluster") ?? "" });
  if (connect.tool === "docker") Object.assign(input, { registry: v("registry") ?? "" });
  return input;
}

async function previewConnect(ev) {
  ev.preventDefault();
  if (!connect || connect.undo) return;
  const form = $("#connect-form");
  if (connect.tool === "kubectl" && !form.cluster.value.trim()) {
    showConnectError("Give the cluster's name, as `kubectl config get-clusters` lists it.");
    return;
  }
  if (connect.tool === "docker" && !form.registry.value.trim()) {
    showConnectError("Give the registry, e.g. registry.example.com.");
    return;
  }
  await runPreview(connectInput());
}

function showConnectError(text) {
  $("#connect-error").textContent = text;
  $("#connect-error").hidden = false;
}

async function runPreview(input) {
  const button = $("#connect-preview-button");
  button.disabled = true;
  try {
    showPreview(await call("plan_setup", { input }));
  } catch (err) {
    resetPreview();
    showConnectError(explain(err));
  } finally {
    button.disabled = false;
  }
}

// The dry run: per file its path, the changes in words and the changed lines; then the rule.
function showPreview(plan) {
  const parts = [];
  const para = (text, cls) => {
    const p = document.createElement("p");
    if (cls) p.className = cls;
    p.textContent = text;
    return p;
  };
  const list = (lines) => {
    const ul = document.createElement("ul");
    for (const line of lines) {
      const li = document.createElement("li");
      li.textContent = line;
      ul.append(li);
    }
    return ul;
  };
  const box = (title, ...content) => {
    const div = document.createElement("div");
    div.className = "file";
    const path = document.createElement("div");
    path.className = "file-path";
    path.textContent = title;
    div.append(path, ...content);
    return div;
  };
  if (plan.empty) {
    parts.push(para(plan.undo ? "Nothing to change: not set up." : "Nothing to change: already set up."));
  }
  const inFiles = new Set();
  for (const f of plan.files) {
    for (const line of f.description) inFiles.add(line);
    const pre = document.createElement("pre");
    pre.className = "diff";
    pre.tabIndex = 0;
    pre.setAttribute("aria-label", `Changed lines in ${f.path}`);
    for (const d of f.diff) {
      const span = document.createElement("span");
      span.className = d.op === "+" ? "add" : "del";
      span.textContent = `${d.op} ${d.text}\n`;
      pre.append(span);
    }
    parts.push(box(f.path, list(f.description), pre));
  }
  const rules = plan.changes.filter((c) => !inFiles.has(c));
  if (rules.length) parts.push(box("Latchkey's rules (accounts.toml)", list(rules)));
  for (const w of plan.warnings) parts.push(para(`Note: ${w}`, "warning"));
  if (plan.context) parts.push(para(`Afterwards: kubectl --context ${plan.context} …`, "muted small-text"));
  $("#connect-preview-body").replaceChildren(...parts);
  $("#connect-preview").hidden = false;
  connect.planId = plan.id;
  $("#connect-apply").disabled = plan.empty;
  (plan.empty ? $("#connect-cancel") : $("#connect-apply")).focus();
}

async function applyConnect() {
  if (!connect?.planId) return;
  $("#connect-apply").disabled = true;
  try {
    const changes = await call("apply_setup", { id: connect.planId });
    const what = connect.undo ? "took back" : "connected";
    notice("info", `${connect.account}: ${what} ${TOOL_NAME[connect.tool] ?? connect.tool} (${changes.length} change${changes.length === 1 ? "" : "s"}).`);
    connect.planId = 0;
    $("#connect-dialog").close();
    connections.key = "";
    await loadConnections();
  } catch (err) {
    connect.planId = 0;
    showConnectError(explain(err));
  }
}

let reloadTimer = null;
function scheduleReload() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => { reloadTimer = null; reload(); }, 250);
}

// Set once a full list (with token statuses) has arrived: the rest of the first, metadata-only
// list must not replace it.
let fullListLoaded = false;

async function reload() {
  try {
    accounts = await call("list_accounts");
    fullListLoaded = true;
    // Tokens held in memory are still served while the keychain is locked, so the statuses
    // alone would not show it: the app's last keychain call says.
    keychain = await call("keychain_state").catch(() => "unknown");
    await showStore();
    render();
    loadConnections();
  } catch (err) {
    $("#loading").hidden = true;
    notice("error", `Could not read the accounts: ${explain(err)}`);
  }
}

// ---- the store (Secret Service or the encrypted vault) ----------------------------------------

let store = null;
let unlockOffered = false;

async function showStore() {
  try {
    store = await call("store_info");
  } catch {
    store = null;
  }
  const info = $("#store-info");
  info.textContent = store ? `Secrets: ${store.label}${store.locked ? " (locked)" : ""}` : "";
  info.title = store ? store.reason : "";
  $("#store-unlock").hidden = !(store && store.locked);
  // Offered once by itself; afterwards the footer's button opens it.
  if (store && store.locked && !unlockOffered && !$("#unlock-dialog").open) {
    unlockOffered = true;
    openUnlock();
  }
}

function openUnlock() {
  if (!store) return;
  $("#unlock-path").textContent = store.vault;
  $("#unlock-error").hidden = true;
  $("#unlock-passphrase").value = "";
  $("#unlock-dialog").showModal();
  $("#unlock-passphrase").focus();
}

async function submitUnlock(ev) {
  ev.preventDefault();
  const field = $("#unlock-passphrase");
  const button = $("#unlock-submit");
  if (!field.value) return;
  button.disabled = true;
  try {
    await call("unlock_vault", { passphrase: field.value });
    field.value = "";
    $("#unlock-dialog").close();
    await reload();
  } catch (err) {
    field.value = "";
    $("#unlock-error").textContent = explain(err);
    $("#unlock-error").hidden = false;
    field.focus();
  } finally {
    button.disabled = false;
  }
}

// ---- actions -------------------------------------------------------------------------------

async function act(action, a, button) {
  accountErrors.delete(a.name);
  button.disabled = true;
  try {
    switch (action) {
      case "sign-in":
        await signIn(a.name, false);
        break;
      case "cancel":
        await call("cancel_sign_in", { name: a.name });
        break;
      case "refresh": {
        const r = await call("refresh_account", { name: a.name }, NETWORK_WAIT);
        if (r.degraded) notice("warning", `${a.name}: ${r.degraded}`);
        else notice("info", `${a.name} refreshed.`);
        break;
      }
      case "copy": {
        const r = await call("copy_access_token", { name: a.name }, NETWORK_WAIT);
        notice("info", `Access token of ${a.name} copied. The clipboard is cleared in ${r.clipboard_clear_after} s.`);
        break;
      }
      case "sign-out": {
        const r = await call("sign_out", { name: a.name }, NETWORK_WAIT);
        const where = r.revoked?.length ? "revoked at the provider and removed" : "removed from this computer";
        notice("info", `Signed out of ${a.name}: tokens ${where}.`);
        for (const e of r.revocation_errors ?? []) notice("warning", `Revocation: ${e}`);
        break;
      }
      case "add-permissions":
        openPermissions(a);
        break;
      case "edit":
        openDialog(a);
        break;
      case "remove":
        if (button.dataset.confirm !== "yes") {
          button.dataset.confirm = "yes";
          button.textContent = "Click again to remove";
          setTimeout(() => { button.dataset.confirm = ""; button.textContent = "Remove"; }, 4000);
          return;
        }
        await call("remove_account", { name: a.name }, NETWORK_WAIT);
        notice("info", `Removed ${a.name}.`);
        break;
    }
  } catch (err) {
    accountErrors.set(a.name, err);
    notice(err?.kind === "callback" ? "info" : "error", `${a.name}: ${explain(err)}${remedyWords(err)}`, remedyActions(err));
  } finally {
    button.disabled = false;
    await reload();
  }
}

async function signIn(name, replaceIdentity) {
  const r = await call("sign_in", { name, replaceIdentity }, NETWORK_WAIT);
  if (r.mode === "loopback" || r.mode === "scheme") {
    notice("info", `Continue in your browser to sign in to ${name}.`);
  }
  return r;
}

function onSignInFinished(ev) {
  const { account, identity, error } = ev.payload;
  closeDevice(account);
  if (!error) {
    const who = identity ? (identity.name ?? identity.email ?? identity.sub) : "";
    notice("info", `Signed in to ${account}${who ? ` as ${who}` : ""}.`);
  } else if (error.kind === "interrupted") {
    // Cancelled by the user: nothing to say.
  } else if (error.kind === "identity_mismatch" && account) {
    notice("warning", error.message, [["Replace the identity", () => signIn(account, true).catch((e) => notice("error", explain(e)))]]);
  } else if (error.kind === "callback") {
    // Unknown, replayed or stale links: calm, not alarming.
    notice("info", error.message);
  } else {
    if (account) accountErrors.set(account, error);
    notice("error", `${account ? `${account}: ` : ""}${explain(error)}${remedyWords(error)}`, remedyActions(error));
  }
  reload();
}

// ---- dialogs: focus trap and restore ---------------------------------------------------------

// Where focus was when a dialog opened; it goes back there when the dialog closes.
const openers = new WeakMap();

function showDialog(dlg) {
  if (dlg.open) return;
  const active = document.activeElement;
  openers.set(dlg, active && active !== document.body ? active : null);
  dlg.showModal();
}

function focusables(root) {
  return [...root.querySelectorAll("button, input, select, textarea, a[href], [tabindex]:not([tabindex='-1'])")]
    .filter((el) => !el.disabled && !el.closest("[hidden]") && el.getClientRects().length > 0);
}

// Tab and Shift+Tab cycle inside an open dialog; focus returns to the opener on close (Escape,
// Cancel, Save). A removed opener (e.g. the list re-rendered) falls back to "Add account".
function manageDialog(dlg) {
  dlg.addEventListener("keydown", (ev) => {
    if (ev.key !== "Tab") return;
    const items = focusables(dlg);
    if (items.length === 0) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (ev.shiftKey && (document.activeElement === first || !dlg.contains(document.activeElement))) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && (document.activeElement === last || !dlg.contains(document.activeElement))) {
      ev.preventDefault();
      first.focus();
    }
  });
  dlg.addEventListener("close", () => {
    const opener = openers.get(dlg);
    openers.delete(dlg);
    const target = opener && opener.isConnected && !opener.closest("[hidden]") ? opener : $("#add-account");
    target.focus();
  });
}

// ---- device sign-in panel ------------------------------------------------------------------

let device = null; // the device-code event payload on screen
function showDevice(ev) {
  device = ev.payload;
  $("#device-account").textContent = device.account;
  $("#device-uri").textContent = device.verification_uri;
  $("#device-code").textContent = device.user_code;
  tickDevice();
  showDialog($("#device-dialog"));
  $("#device-code").focus();
}
function tickDevice() {
  if (!device) return;
  const left = (new Date(device.expires_at).getTime() - Date.now()) / 1000;
  $("#device-countdown").textContent = left > 0 ? fmtDuration(left) : "0s (expired)";
}
function closeDevice(account) {
  if (device && (!account || device.account === account)) {
    device = null;
    $("#device-dialog").close();
  }
}

// ---- add / edit dialog ---------------------------------------------------------------------

// One labelled input per provider field any preset takes, right after the preset select.
function buildProviderFields(form) {
  const seen = new Map();
  for (const p of presets) for (const f of p.fields) if (!seen.has(f.name)) seen.set(f.name, f);
  PROVIDER_FIELDS = [...seen.keys()];
  let after = form.preset.closest("label");
  for (const f of seen.values()) {
    let label = $(`[data-field='${f.name}']`, form);
    if (!label) {
      label = document.createElement("label");
      label.dataset.field = f.name;
      const input = document.createElement("input");
      input.name = f.name;
      if (f.url) input.type = "url";
      input.spellcheck = false;
      label.append(`${f.label} `, input);
    }
    const input = label.querySelector("input");
    input.title = `${f.hint} (${f.flag})`;
    const example = f.hint.split("e.g. ")[1];
    if (example && !input.placeholder) input.placeholder = example.split(" ")[0];
    after.after(label);
    after = label;
  }
}

function presetInfo(id) {
  return presets.find((p) => p.id === id);
}

function updateForm() {
  const form = $("#account-form");
  const preset = form.preset.value;
  const fields = (presetInfo(preset)?.fields ?? []).map((f) => f.name);
  for (const label of form.querySelectorAll("[data-field]")) {
    const f = label.dataset.field;
    if (f === "port" || f === "flow" || f === "redirect" || f === "own_redirect") continue;
    label.hidden = !fields.includes(f) || editing !== null;
  }
  const info = presetInfo(preset);
  const schemeOption = form.redirect.querySelector("option[value='scheme']");
  schemeOption.disabled = !!info?.loopback_only;
  if (info?.loopback_only) form.redirect.value = "loopback";
  const flow = form.flow.value;
  $("[data-field='redirect']", form).hidden = flow !== "authorization-code";
  $("[data-field='flow']", form).hidden = editing !== null;
  const loopback = form.redirect.value === "loopback" && flow === "authorization-code";
  $("[data-field='port']", form).hidden = !loopback;
  const port = form.port.value.trim();
  $(".redirect-box", form).hidden = flow !== "authorization-code";
  // Every account added now has its own redirect URI (…/callback/<name>: the mix-up defence);
  // accounts from before keep the shared one until switched.
  const hasOwn = editing === null || !!editingAccount?.per_account_redirect;
  $("[data-field='own_redirect']", form).hidden = hasOwn || flow !== "authorization-code";
  const perAccount = hasOwn || form.per_account_redirect.checked;
  const suffix = perAccount ? `/${form.name.value.trim() || "<name>"}` : "";
  $("#redirect-uri").textContent = loopback
    ? `http://127.0.0.1:${port || "<any port>"}/callback${suffix}`
    : `${schemeRedirect}${suffix}`;
  form.client_secret.placeholder = info?.client_secret_required ? "required for this provider" : (editing ? "unchanged" : "only if the client has one");
  $("#preset-notes").textContent = (info?.notes ?? []).join(" ");
  form.preset.disabled = editing !== null;
  form.name.disabled = editing !== null;
}

function openDialog(a = null) {
  editing = a ? a.name : null;
  editingAccount = a;
  const form = $("#account-form");
  form.reset();
  $("#form-error").hidden = true;
  $("#dialog-title").textContent = a ? `Edit ${a.name}` : "Add account";
  $("#account-submit").textContent = a ? "Save" : "Add account";
  if (a) {
    form.name.value = a.name;
    form.preset.value = a.provider?.spec?.preset ?? "oidc";
    form.client_id.value = a.client_id;
    form.scopes.value = (a.scopes ?? []).join(" ");
    form.redirect.value = a.redirect;
    form.port.value = a.port ?? "";
    form.label.value = a.label ?? "";
    form.keep_signed_in.checked = !!a.keep_signed_in;
    form.flow.value = a.flow ?? "authorization-code";
  } else {
    form.preset.value = "oidc";
    form.redirect.value = "scheme";
    form.flow.value = "authorization-code";
  }
  updateForm();
  showDialog($("#account-dialog"));
  (a ? form.client_id : form.name).focus();
}

// ---- "Add permissions" (incremental authorization) -------------------------------------------

let permissionsFor = null;
function openPermissions(a) {
  permissionsFor = a.name;
  const form = $("#permissions-form");
  form.reset();
  $("#permissions-error").hidden = true;
  $("#permissions-account").textContent = a.name;
  showDialog($("#permissions-dialog"));
  form.scopes.focus();
}

async function submitPermissions(ev) {
  ev.preventDefault();
  const form = $("#permissions-form");
  const scopes = scopesOf(form.scopes.value);
  const resources = scopesOf(form.resources.value);
  if (!scopes.length && !resources.length) {
    $("#permissions-error").textContent = "Give at least one scope or resource to add.";
    $("#permissions-error").hidden = false;
    return;
  }
  try {
    await call("add_permissions", { name: permissionsFor, scopes, resources }, NETWORK_WAIT);
    $("#permissions-dialog").close();
    notice("info", `${permissionsFor}: continue in the browser to add the permissions.`);
    reload();
  } catch (err) {
    $("#permissions-error").textContent = explain(err);
    $("#permissions-error").hidden = false;
  }
}

function scopesOf(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

async function submitForm(ev) {
  ev.preventDefault();
  const form = $("#account-form");
  const err = $("#form-error");
  err.hidden = true;
  const v = (n) => form[n].value.trim();
  const submit = $("#account-submit");
  submit.disabled = true;
  try {
    if (editing === null) {
      if (!v("name") || !v("client_id")) throw { message: "Name and client id are needed." };
      const provider = { preset: v("preset") };
      for (const f of PROVIDER_FIELDS) {
        const label = $(`[data-field='${f}']`, form);
        if (label && !label.hidden && v(f)) provider[f] = v(f);
      }
      const input = {
        name: v("name"),
        provider,
        client_id: v("client_id"),
        client_secret: v("client_secret") || null,
        scopes: scopesOf(v("scopes")),
        flow: form.flow.value,
        redirect: form.redirect.value,
        port: form.redirect.value === "loopback" && v("port") ? Number(v("port")) : null,
        keep_signed_in: form.keep_signed_in.checked,
        label: v("label") || null,
      };
      const added = await call("add_account", { input }, "Looking up the provider…");
      notice("info", `Added ${added.name}. Redirect URI to register: ${added.redirect_uri}`);
    } else {
      const a = accounts.find((x) => x.name === editing);
      const changes = {};
      if (v("client_id") !== a.client_id) changes.client_id = v("client_id");
      if (v("client_secret")) changes.client_secret = v("client_secret");
      const scopes = scopesOf(v("scopes"));
      if (scopes.join(" ") !== (a.scopes ?? []).join(" ")) changes.scopes = scopes;
      if (form.redirect.value !== a.redirect) changes.redirect = form.redirect.value;
      if (form.redirect.value === "loopback") {
        if (v("port")) changes.port = Number(v("port"));
        else if (a.port) changes.ephemeral_port = true;
      }
      if (v("label") !== (a.label ?? "")) changes.label = v("label");
      if (form.keep_signed_in.checked !== !!a.keep_signed_in) changes.keep_signed_in = form.keep_signed_in.checked;
      if (form.per_account_redirect.checked && !a.per_account_redirect) changes.per_account_redirect = true;
      const r = await call("edit_account", { name: editing, changes });
      for (const n of r.notes) notice("info", n);
    }
    $("#account-dialog").close();
    await reload();
  } catch (e) {
    err.textContent = explain(e);
    err.hidden = false;
  } finally {
    submit.disabled = false;
  }
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const range = document.createRange();
    range.selectNodeContents($("#redirect-uri"));
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    return document.execCommand("copy");
  }
}

// ---- start ---------------------------------------------------------------------------------

async function start() {
  if (!tauri?.core?.invoke) {
    $("#loading").textContent = "Open this page in the Latchkey app.";
    return;
  }
  const form = $("#account-form");
  form.addEventListener("submit", submitForm);
  form.preset.addEventListener("change", updateForm);
  form.redirect.addEventListener("change", updateForm);
  form.flow.addEventListener("change", updateForm);
  form.port.addEventListener("input", updateForm);
  form.name.addEventListener("input", updateForm);
  form.per_account_redirect.addEventListener("change", updateForm);
  $("#account-cancel").addEventListener("click", () => $("#account-dialog").close());
  $("#add-account").addEventListener("click", () => openDialog());
  for (const b of document.querySelectorAll("[data-open-add]")) b.addEventListener("click", () => openDialog());
  $("#copy-redirect").addEventListener("click", async () => {
    const ok = await copyText($("#redirect-uri").textContent);
    $("#copy-redirect").textContent = ok ? "Copied" : "Select and copy";
    setTimeout(() => { $("#copy-redirect").textContent = "Copy"; }, 2000);
  });
  const autostart = $("#autostart");
  autostart.addEventListener("change", async () => {
    try {
      autostart.checked = await call("set_autostart", { enabled: autostart.checked });
    } catch (e) {
      notice("error", explain(e));
      autostart.checked = !autostart.checked;
    }
  });

  // First paint from the metadata file alone (no keychain: status "checking"), and only its
  // first screenful (FIRST_ROWS accounts: less to read, send and build); once a frame with it
  // has been drawn, the rest of the metadata list; then the token status from the keychain
  // (`list_accounts`, the reload below).
  $("#accounts").addEventListener("click", onListClick);
  $("#accounts").addEventListener("keydown", onListKey);
  $("#detail").addEventListener("click", onDetailClick);
  const listStart = performance.now();
  const phases = {};
  try {
    accounts = await call("list_accounts_metadata", { limit: FIRST_ROWS });
    phases.ipcMs = performance.now() - listStart;
    render();
    phases.renderMs = performance.now() - listStart - phases.ipcMs;
  } catch {
    // The full reload below reports it.
  }
  // Benchmark marks (bench/desktop.sh, bench/scale.sh): the second animation frame after a
  // render runs once a frame showing it has been drawn; listMs is the time from asking for the
  // list to that frame. Print only with LATCHKEY_BENCH_MARKS set.
  const mark = (what, since, more = {}, then = () => {}) => requestAnimationFrame(() => requestAnimationFrame(() => {
    tauri.core.invoke("bench_painted", { what, listMs: performance.now() - since, ...more }).catch(() => {});
    then();
  }));
  const restOfList = async () => {
    if (accounts.length < FIRST_ROWS || fullListLoaded) return;
    try {
      const rest = await call("list_accounts_metadata", { offset: FIRST_ROWS });
      if (fullListLoaded || rest.length === 0) return;
      accounts = accounts.slice(0, FIRST_ROWS).concat(rest);
      render();
    } catch {
      // The full reload below reports it.
    }
  };
  // The full reload (1,000 accounts' statuses: work in the app, a large answer to parse here)
  // waits for that frame too, so that it does not delay the first paint (at most a second: a
  // window started hidden may draw no frame).
  const painted = new Promise((resolve) => {
    setTimeout(resolve, 1000);
    mark("painted", listStart, phases, () => {
      resolve();
      restOfList();
    });
  });

  // All listeners are in place before the first full reload (a cold start by URL may finish a
  // sign-in right away); registering them at once saves four IPC round trips at start-up.
  await Promise.all([
    tauri.event.listen("accounts-changed", scheduleReload),
    tauri.event.listen("sign-in-finished", onSignInFinished),
    tauri.event.listen("notice", (ev) => notice(ev.payload.level, ev.payload.message)),
    tauri.event.listen("open-add-account", () => openDialog()),
    tauri.event.listen("device-code", showDevice),
    tauri.event.listen("approvals-changed", () => loadActivity()),
  ]);
  // Hand-outs do not change the accounts file: the activity is re-read every few seconds.
  setInterval(() => { if (!document.hidden) loadActivity(); }, 3000);
  $("#activity-all").addEventListener("click", openActivity);
  $("#activity-close").addEventListener("click", () => $("#activity-dialog").close());
  const cancelDevice = async () => {
    if (device) await call("cancel_sign_in", { name: device.account }).catch((e) => notice("error", explain(e)));
    closeDevice();
  };
  $("#device-cancel").addEventListener("click", cancelDevice);
  // Escape on the device panel cancels the sign-in, like its Cancel button.
  $("#device-dialog").addEventListener("cancel", (ev) => { ev.preventDefault(); cancelDevice(); });
  manageDialog($("#device-dialog"));
  manageDialog($("#account-dialog"));
  manageDialog($("#permissions-dialog"));
  manageDialog($("#connect-dialog"));
  manageDialog($("#activity-dialog"));
  $("#connect-form").addEventListener("submit", previewConnect);
  $("#connect-form").addEventListener("input", () => { if (connect && !connect.undo) resetPreview(); });
  $("#connect-apply").addEventListener("click", applyConnect);
  $("#connect-cancel").addEventListener("click", () => $("#connect-dialog").close());
  $("#permissions-form").addEventListener("submit", submitPermissions);
  $("#permissions-cancel").addEventListener("click", () => $("#permissions-dialog").close());
  $("#device-copy").addEventListener("click", async () => {
    if (!device) return;
    try { await navigator.clipboard.writeText(device.user_code); $("#device-copy").textContent = "Copied"; } catch { $("#device-copy").textContent = "Select the code to copy"; }
    setTimeout(() => { $("#device-copy").textContent = "Copy code"; }, 2000);
  });
  setInterval(tickDevice, 1000);
  $("#store-unlock").addEventListener("click", openUnlock);
  $("#unlock-form").addEventListener("submit", submitUnlock);
  $("#unlock-cancel").addEventListener("click", () => $("#unlock-dialog").close());

  // The "Add account" form is ready without waiting for the statuses.
  const [info, list] = await Promise.all([call("app_info"), call("list_presets")]);
  schemeRedirect = info.scheme_redirect_uri;
  presets = list;
  buildProviderFields(form);
  $("#app-info").textContent = `Latchkey ${info.version} · ${info.config_dir}`;
  form.preset.replaceChildren(...presets.map((p) => {
    const o = document.createElement("option");
    o.value = p.id;
    o.textContent = p.name;
    return o;
  }));

  await painted;
  const reloadStart = performance.now();
  await reload();
  mark("statuses", reloadStart);
  setInterval(tick, 1000);
  setInterval(reload, 30000);

  try {
    autostart.checked = await call("autostart_enabled");
  } catch {
    autostart.disabled = true;
  }
}

start();
