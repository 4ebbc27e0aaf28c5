//! Entry point of the Latchkey desktop app; everything lives in the `latchkey_app` library.

// Without a console window on Windows release builds; debug builds keep it for logs.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    latchkey_app::run();
}
