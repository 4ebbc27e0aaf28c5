//! CI for the fuzz harnesses: every seed corpus file (and every saved finding under
//! `fuzz/artifacts/`, which must have been fixed) replays through its harness without a
//! panic, and each harness then runs briefly on mutations of its corpus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

#[test]
fn every_target_has_a_seed_corpus_and_replays_it() {
    for target in latchkey_fuzz::TARGETS {
        let seeds = latchkey_fuzz::corpus(target);
        assert!(seeds.len() >= 3, "{target}: seed corpus too small");
        for (i, s) in seeds.iter().enumerate() {
            let r = std::panic::catch_unwind(|| latchkey_fuzz::run(target, s));
            assert!(matches!(r, Ok(true)), "{target}: corpus input {i} panicked");
        }
    }
}

#[test]
fn past_findings_stay_fixed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    for target in latchkey_fuzz::TARGETS {
        let Ok(rd) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for e in rd.flatten() {
            let input = std::fs::read(e.path()).unwrap();
            let r = std::panic::catch_unwind(|| latchkey_fuzz::run(target, &input));
            assert!(r.is_ok(), "{target}: {} panics again", e.path().display());
        }
    }
}

#[test]
fn each_harness_survives_a_short_mutation_run() {
    for target in latchkey_fuzz::TARGETS {
        let seeds = latchkey_fuzz::corpus(target);
        let report = latchkey_fuzz::fuzz(target, &seeds, Duration::from_millis(300), 0x5EED_0001);
        assert!(report.executions > seeds.len() as u64, "{target}");
        assert!(
            report.crashes.is_empty(),
            "{target}: {:?}",
            report
                .crashes
                .iter()
                .map(|(m, i)| (m.clone(), String::from_utf8_lossy(i).into_owned()))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_mutator_is_deterministic_and_bounded() {
    let mut a = latchkey_fuzz::Rng::new(7);
    let mut b = latchkey_fuzz::Rng::new(7);
    let (mut x, mut y) = (b"{\"a\":1}".to_vec(), b"{\"a\":1}".to_vec());
    for _ in 0..1000 {
        latchkey_fuzz::mutate(&mut a, &mut x, b"other", 256);
        latchkey_fuzz::mutate(&mut b, &mut y, b"other", 256);
        assert!(x.len() <= 256);
    }
    assert_eq!(x, y);
    assert!(!latchkey_fuzz::run("no_such_target", b""));
}
