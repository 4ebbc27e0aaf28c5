//! Links GCC's unwinder statically (`libgcc_eh.a`, what `gcc -static-libgcc` does) on
//! GNU/Linux, so `latchkey` does not load `libgcc_s.so.1`.
//!
//! `latchkey token` is a process started for every git fetch, kubectl call and script line.
//! Loading `libgcc_s` costs it a library mapping and the library's constructor, which runs
//! `cpuid` — an exit to the hypervisor on a virtual machine: 0.08–0.19 ms of a 2 ms run here
//! (BENCHMARKS.md). Rust's panics still unwind (the same unwinder, linked in); nothing else in
//! the binary needs `libgcc_s`, so the linker (`--as-needed`) leaves it out. Where the archive
//! is not found (another toolchain), the default link is kept and cargo says so.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CC");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os != "linux" || target_env != "gnu" {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let found = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_file());
    match found.as_ref().and_then(|p| p.parent()) {
        Some(dir) => {
            println!("cargo::rustc-link-search=native={}", dir.display());
            // Whole archive: its objects must define `_Unwind_*` before std's rlib asks for
            // them, or the linker takes them from `libgcc_s` after all.
            println!("cargo::rustc-link-lib=static:+whole-archive,+verbatim=libgcc_eh.a");
        }
        None => println!(
            "cargo::warning=libgcc_eh.a not found by `{cc} -print-file-name`; latchkey links libgcc_s (slower start-up)"
        ),
    }
}
