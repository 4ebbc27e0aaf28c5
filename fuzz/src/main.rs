//! `latchkey-fuzz TARGET SECS [SEED]`: runs one harness on its seed corpus and mutations of it
//! for SECS seconds with the heap capped (64 MiB above what the run starts with), then prints
//! one JSON line: target, executions, slowest input (ms), crashes, hangs (> 1 s). Crashing and
//! hanging inputs are written to `fuzz/artifacts/<target>/`. `latchkey-fuzz list` names the
//! targets. `scripts/fuzz.sh` runs it in release mode.

use std::alloc::System;
use std::process::ExitCode;
use std::time::Duration;

use cap::Cap;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// Heap an input may add on top of the run's starting point.
const HEAP_LIMIT: usize = 64 * 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("list") {
        for t in latchkey_fuzz::TARGETS {
            println!("{t}");
        }
        return ExitCode::SUCCESS;
    }
    let (Some(target), Some(secs)) = (args.get(1), args.get(2).and_then(|s| s.parse().ok())) else {
        eprintln!("usage: latchkey-fuzz TARGET SECS [SEED] | latchkey-fuzz list");
        return ExitCode::from(2);
    };
    if !latchkey_fuzz::TARGETS.contains(&target.as_str()) {
        eprintln!(
            "unknown target `{target}`; targets: {}",
            latchkey_fuzz::TARGETS.join(", ")
        );
        return ExitCode::from(2);
    }
    let seed = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64 ^ 0x9E37_79B9_7F4A_7C15);
    // Quiet the default panic output: panics are collected and reported below.
    std::panic::set_hook(Box::new(|_| {}));
    let seeds = latchkey_fuzz::corpus(target);
    let _ = ALLOCATOR.set_limit(ALLOCATOR.allocated() + HEAP_LIMIT);
    let report = latchkey_fuzz::fuzz(target, &seeds, Duration::from_secs(secs), seed);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts")
        .join(target);
    for (i, (msg, input)) in report.crashes.iter().enumerate() {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("crash-{seed}-{i}")), input);
        eprintln!("crash {i}: {msg}");
    }
    for (i, input) in report.hangs.iter().enumerate() {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("slow-{seed}-{i}")), input);
    }
    println!(
        "{{\"target\":\"{target}\",\"seed\":{seed},\"executions\":{},\"slowest_ms\":{:.3},\"crashes\":{},\"hangs\":{},\"peak_heap_bytes\":{}}}",
        report.executions,
        report.slowest.as_secs_f64() * 1000.0,
        report.crashes.len(),
        report.hangs.len(),
        ALLOCATOR.max_allocated(),
    );
    if report.crashes.is_empty() && report.hangs.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
