//! A blank Tauri 2 window with the same "painted" mark as Latchkey (see `bench_painted`).

/// The page calls this in the second animation frame after its first render; with
/// `LATCHKEY_BENCH_MARKS=1` it prints `latchkey-bench: painted <unix time in ns>` on stdout.
/// Identical to `latchkey_app::commands::bench_painted`.
#[tauri::command]
fn bench_painted() {
    if std::env::var_os("LATCHKEY_BENCH_MARKS").is_some() {
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        println!("latchkey-bench: painted {ns}");
    }
}

fn main() {
    let app = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![bench_painted])
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(err) => {
            eprintln!("blank-tauri: could not start: {err}");
            std::process::exit(1);
        }
    }
}
