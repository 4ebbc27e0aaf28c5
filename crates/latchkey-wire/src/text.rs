//! Text the agent (or a provider, through the agent) sends, made safe to show: what a terminal
//! or a log viewer would interpret — C0 controls including ESC and newlines, DEL, C1 controls
//! such as CSI/OSC, and the Unicode bidi overrides that reorder text — is removed and the
//! length capped. `latchkey_core::text` re-exports these for everything a provider controls.

/// True for characters that must not reach a terminal or a log line.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() // C0, DEL and C1 (U+0080–U+009F)
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` without control and bidi-override characters (tabs and line breaks become one space),
/// trimmed, at most `max` characters (an ellipsis marks a cut).
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max.saturating_mul(4)));
    let mut count = 0usize;
    let mut cut = false;
    let mut last_space = false;
    for c in s.chars() {
        let c = if matches!(c, '\t' | '\n' | '\r') {
            ' '
        } else {
            c
        };
        if is_unsafe(c) {
            continue;
        }
        if c == ' ' && (last_space || count == 0) {
            continue;
        }
        if count >= max {
            cut = true;
            break;
        }
        last_space = c == ' ';
        out.push(c);
        count += 1;
    }
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    if cut {
        out.push('…');
    }
    out
}

/// [`clean`] line by line: a message of several lines (a remedy on its own line) keeps its
/// line breaks, and nothing else that could steer a terminal; at most `max` characters in all.
pub fn clean_lines(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut left = max;
    for line in s.split('\n') {
        if left == 0 {
            out.push('…');
            break;
        }
        let leading = line.len() - line.trim_start_matches(' ').len();
        let indent = " ".repeat(leading.min(8));
        let line = clean(line, left);
        left = left.saturating_sub(line.chars().count() + 1);
        if !out.is_empty() {
            out.push('\n');
        }
        if !line.is_empty() {
            out.push_str(&indent);
        }
        out.push_str(&line);
    }
    out
}
