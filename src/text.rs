//! Text from a project or a server, made safe to print on a terminal or in
//! a CI log. A case name, a policy id or a snippet may hold control
//! characters: a newline that forges a `Summary` line, `ESC[8m` that hides
//! what follows, a right-to-left override that reorders it. Reports print
//! such text through these functions (docs/security.md).

use std::borrow::Cow;

/// Characters that move the cursor, change colours or reorder text.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// One line of untrusted text: every unsafe character, newlines included,
/// is written as a visible escape (`\n`, `\u{1b}`).
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Several lines of untrusted text (a message, a diff): newlines and tabs
/// stay, everything else unsafe is escaped.
pub fn lines(text: &str) -> Cow<'_, str> {
    let keep = |c: char| matches!(c, '\n' | '\t');
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if keep(c) {
            out.push(c);
        } else {
            push_escaped(&mut out, c);
        }
    }
    Cow::Owned(out)
}

/// Source text for a snippet renderer, which underlines by byte offset:
/// each unsafe character becomes a placeholder of the same length in
/// bytes, so every span still points at the same text. Line breaks and
/// tabs stay.
pub fn same_offsets(text: &str) -> Cow<'_, str> {
    let keep = |c: char| matches!(c, '\n' | '\t' | '\r');
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if keep(c) || !is_unsafe(c) {
            out.push(c);
            continue;
        }
        out.push(match c.len_utf8() {
            1 => '?',
            2 => '¿',
            _ => '\u{FFFD}',
        });
    }
    debug_assert_eq!(out.len(), text.len());
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// `allow` or `deny`, as suites, reports and AVP write a decision.
pub fn decision_name(decision: cedar_policy::Decision) -> &'static str {
    match decision {
        cedar_policy::Decision::Allow => "allow",
        cedar_policy::Decision::Deny => "deny",
    }
}

/// `1 step`, `3 steps`: a count with its noun in the right number (nouns
/// whose plural is not a plain `s` are not counted this way).
pub fn counted(n: usize, noun: &str) -> String {
    count(n, noun, &format!("{noun}s"))
}

/// `1 policy`, `2 policies`: a count with the noun's own singular and plural.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The `s` of a regular plural.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A server's or a file's text, bounded: at most `max` characters, with a
/// marker where it was cut, and escaped as [`one_line`].
pub fn clipped(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    let mut out = one_line(&head).into_owned();
    if chars.next().is_some() {
        out.push_str(" […]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_line_or_a_hidden_text_stays_visible() {
        let name = "ok\nSummary [0.1s] 99 cases run: 99 passed\u{1b}[8m";
        let escaped = one_line(name);
        assert!(!escaped.contains('\n') && !escaped.contains('\u{1b}'));
        assert_eq!(
            escaped,
            "ok\\nSummary [0.1s] 99 cases run: 99 passed\\u{1b}[8m"
        );
        assert_eq!(one_line("plain name"), Cow::Borrowed("plain name"));
        assert_eq!(one_line("a\u{202E}b"), "a\\u{202e}b");
    }

    #[test]
    fn lines_keep_their_breaks() {
        assert_eq!(lines("a\nb\u{7}"), "a\nb\\u{7}");
    }

    #[test]
    fn snippets_keep_every_offset() {
        for text in ["a\u{1b}[8mb\r\nc", "x\u{85}y", "p\u{202E}q\tr", "clean"] {
            let safe = same_offsets(text);
            assert_eq!(safe.len(), text.len(), "{text:?}");
            assert!(
                !safe
                    .chars()
                    .any(|c| is_unsafe(c) && !matches!(c, '\n' | '\t' | '\r'))
            );
        }
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(counted(1, "step"), "1 step");
        assert_eq!(counted(0, "step"), "0 steps");
        assert_eq!(counted(2, "validation error"), "2 validation errors");
    }

    #[test]
    fn clipping_marks_the_cut() {
        assert_eq!(clipped("abcdef", 3), "abc […]");
        assert_eq!(clipped("ab", 3), "ab");
    }
}
