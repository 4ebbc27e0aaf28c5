// The same "painted" mark as Latchkey's ui/main.js: the second animation frame after the first
// render (here: the empty page) means a frame with it has been drawn.
requestAnimationFrame(() => requestAnimationFrame(() => {
  window.__TAURI__.core.invoke("bench_painted").catch(() => {});
}));
