// Latchkey desktop page. Loaded as an ES module: the CSP allows no inline scripts.
// `window.__TAURI__` exists because tauri.conf.json sets `app.withGlobalTauri`.

const versionLine = document.getElementById("version");

async function showVersion() {
  const invoke = window.__TAURI__?.core?.invoke;
  if (!invoke || !versionLine) {
    return; // Opened outside the app (e.g. in a browser): nothing to ask.
  }
  try {
    const version = await invoke("app_version");
    versionLine.textContent = `Version ${version}`;
    versionLine.hidden = false;
  } catch (err) {
    console.error("app_version failed:", err);
  }
}

showVersion();
