// The approval dialog: a hand-out waits for the owner (the agent's prompt, or this app's when
// it is the agent). Rust emits `approvals-changed` with the waiting hand-outs; the dialog shows
// the oldest, keyboard-first (Tab between the four answers, Escape denies), and is gone when
// it is answered here, elsewhere (`latchkey approve`, a notification) or at its deadline.
// Deny has the focus first: Enter never allows by accident.

const tauri = window.__TAURI__;
const $ = (sel) => document.querySelector(sel);

let current = null; // the PendingApproval shown
let tick = null;

function fill(p, more) {
  current = p;
  $("#approval-account").textContent = p.ask.account;
  $("#approval-what").textContent = p.ask.what;
  $("#approval-target").textContent = p.ask.target ? `${p.ask.tool} → ${p.ask.target}` : p.ask.tool;
  $("#approval-who").textContent = p.requester_line;
  const session = $("#approval-session");
  session.hidden = p.mode !== "session";
  const always = $("#approval-always");
  always.disabled = !p.can_remember;
  const note = $("#approval-remember-note");
  if (p.can_remember) {
    note.hidden = true;
  } else {
    note.hidden = false;
    note.textContent = `“Always” is not offered: ${p.cannot_remember ?? "the program is unknown"}.`;
  }
  const moreText = $("#approval-more");
  moreText.hidden = more === 0;
  moreText.textContent = more === 1 ? "1 more request waits." : `${more} more requests wait.`;
  clearInterval(tick);
  const deadline = Date.parse(p.deadline);
  const countdown = () => {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    $("#approval-countdown").textContent = `Denied in ${left} s unless answered.`;
  };
  countdown();
  tick = setInterval(countdown, 1000);
}

function close() {
  clearInterval(tick);
  current = null;
  const d = $("#approval-dialog");
  if (d.open) d.close();
}

function show(pending) {
  if (!pending || pending.length === 0) {
    close();
    return;
  }
  const first = pending[0];
  const d = $("#approval-dialog");
  const isNew = !current || current.id !== first.id;
  fill(first, pending.length - 1);
  if (!d.open) d.showModal();
  if (isNew) $("#approval-deny").focus();
}

async function answer(decision) {
  if (!current) return;
  const id = current.id;
  try {
    await tauri.core.invoke("decide_approval", { id, decision });
  } catch (e) {
    // Answered elsewhere or expired: the next event closes or replaces the dialog.
    console.warn("approval answer", e);
  }
  const pending = await tauri.core.invoke("pending_approvals").catch(() => []);
  show(pending.filter((p) => p.id !== id));
}

function init() {
  const d = $("#approval-dialog");
  for (const b of d.querySelectorAll("button[data-decision]")) {
    b.addEventListener("click", () => answer(b.dataset.decision));
  }
  // Escape is "Deny", not just "close": the caller must not wait for nothing.
  d.addEventListener("cancel", (ev) => {
    ev.preventDefault();
    answer("deny");
  });
  tauri.event.listen("approvals-changed", (ev) => show(ev.payload));
  tauri.core.invoke("pending_approvals").then(show).catch(() => {});
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", init);
} else {
  init();
}
