//! The core names no `latchkey …` command (issue 15, point 5): it says what to do with a
//! [`crate::Remedy`] and the shells word it. This walks the crate's sources at test time and
//! fails on a line that spells a command, outside comments and tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// The CLI's subcommands a plain `latchkey <word>` would name.
const COMMANDS: &[&str] = &[
    "add",
    "agent",
    "approvals",
    "edit",
    "list",
    "lock",
    "login",
    "logout",
    "pending",
    "refresh",
    "request",
    "setup",
    "status",
    "store",
    "token",
    "unlock",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name != "tests.rs" && !name.ends_with("_tests.rs") {
                out.push(path);
            }
        }
    }
}

/// The lines of `text` outside comments and `#[cfg(test)]` modules (rustfmt's layout: a test
/// module ends at the `}` with the indentation of its `mod` line), with their numbers.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]")
            && let Some((_, next)) = lines.peek()
            && next.trim_start().starts_with("mod ")
            && next.trim_end().ends_with('{')
        {
            let indent = &next[..next.len() - next.trim_start().len()];
            let end = format!("{indent}}}");
            lines.next();
            for (_, l) in lines.by_ref() {
                if l == end {
                    break;
                }
            }
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push((n + 1, line));
    }
    out
}

fn names_a_command(line: &str) -> bool {
    line.contains("`latchkey ")
        || line.match_indices("latchkey ").any(|(i, m)| {
            let rest = &line[i + m.len()..];
            COMMANDS.iter().any(|c| {
                rest.strip_prefix(c)
                    .is_some_and(|after| !after.starts_with(|ch: char| ch.is_alphanumeric()))
            })
        })
}

#[test]
fn no_core_line_spells_a_latchkey_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&text) {
            if names_a_command(line) {
                found.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "core lines that spell a `latchkey …` command (say it with a Remedy instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_sees_commands_and_skips_comments_and_tests() {
    let text = "fn a() {}\n// `latchkey login x`\nconst X: &str = \"run `latchkey edit`\";\nconst Y: &str = \"latchkey login x\";\nconst Z: &str = \"no latchkey rule\";\n#[cfg(test)]\nmod tests {\n    const T: &str = \"`latchkey login`\";\n}\nconst W: &str = \"`latchkey lock`\";\n";
    let hits: Vec<usize> = code_lines(text)
        .into_iter()
        .filter(|(_, l)| names_a_command(l))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(hits, vec![3, 4, 10]);
}
