//! A depth budget for Cedar text, checked before Cedar sees it.
//!
//! Cedar's parser, validator, evaluator and even its destructors recurse
//! once per level of an expression: 150 nested parentheses or a chain of
//! 10,000 `||` overflow a thread's stack, which aborts the process with no
//! message. avpctl runs Cedar on threads with large stacks
//! ([`WORKER_STACK_BYTES`]) and refuses, with a location, any text whose
//! estimated depth exceeds [`MAX_DEPTH`]; tests run every command at the
//! budget and beyond it (tests/it/security.rs, docs/security.md).
//!
//! The estimate is lexical and errs on the deep side: every bracket opens
//! a level, and within a level every operator (`||`, `.`, `!`, `in`, …)
//! may add one, since Cedar nests a chain of binary operators one node per
//! operator. A comma or `;` ends the chain it belongs to.

use std::ops::Range;

/// The deepest expression avpctl hands to Cedar: an eighth of the measured
/// bound (16,000 nested parentheses pass through every command of a debug
/// build on [`WORKER_STACK_BYTES`], 24,000 overflow it; docs/security.md).
pub const MAX_DEPTH: usize = 2_000;

/// The stack of every thread that runs Cedar. It is address space: pages
/// are only used as deep inputs touch them.
pub const WORKER_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Where a text first goes deeper than the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    pub span: Range<usize>,
    pub depth: usize,
}

impl TooDeep {
    pub fn message(&self) -> String {
        format!(
            "this expression nests deeper than {MAX_DEPTH} levels (brackets and chained operators); avpctl refuses it before parsing"
        )
    }

    pub fn help() -> &'static str {
        "split the condition into several policies (permits combine with `or`, a forbid per case), or use a set: `principal.id in [\"a\", \"b\"]`"
    }
}

/// Checks the text of a project file, as a located finding.
pub fn check_file(file: &crate::source::SourceFile) -> Result<(), crate::diagnostic::Diagnostic> {
    check(file.text()).map_err(|too_deep| {
        crate::diagnostic::Diagnostic::error("too-deep", too_deep.message())
            .at(file.location(too_deep.span.clone()))
            .with_label(format!("level {} starts here", MAX_DEPTH + 1))
            .with_help(TooDeep::help())
    })
}

/// Checks Cedar policy or schema text against [`MAX_DEPTH`].
pub fn check(text: &str) -> Result<(), TooDeep> {
    let bytes = text.as_bytes();
    // Operators seen in the current chain of each open level.
    let mut levels: Vec<usize> = vec![0];
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        i += 1;
        match c {
            b'"' => i = skip_string(bytes, i),
            b'/' if bytes.get(i) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                levels.push(0);
                depth += 1;
            }
            b')' | b']' | b'}' if levels.len() > 1 => {
                let chain = levels.pop().unwrap_or(0);
                depth -= 1 + chain;
            }
            b',' | b';' => {
                let chain = levels.last_mut().map_or(0, std::mem::take);
                depth -= chain;
            }
            b'|' | b'&' | b'=' if bytes.get(i) == Some(&c) => {
                i += 1;
                add_operator(&mut levels, &mut depth);
            }
            b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'.' => {
                if bytes.get(i) == Some(&b'=') {
                    i += 1;
                }
                add_operator(&mut levels, &mut depth);
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if matches!(
                    &bytes[start..i],
                    b"in" | b"has" | b"like" | b"is" | b"if" | b"then" | b"else"
                ) {
                    add_operator(&mut levels, &mut depth);
                }
            }
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Err(TooDeep {
                span: start..i.max(start + 1).min(bytes.len()),
                depth,
            });
        }
    }
    Ok(())
}

fn add_operator(levels: &mut [usize], depth: &mut usize) {
    if let Some(chain) = levels.last_mut() {
        *chain += 1;
        *depth += 1;
    }
}

/// The index after the string whose opening quote was just read.
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parens(n: usize) -> String {
        format!(
            "permit(principal, action, resource) when {{ {}true{} }};",
            "(".repeat(n),
            ")".repeat(n)
        )
    }

    fn or_chain(n: usize) -> String {
        format!(
            "permit(principal, action, resource) when {{ {} }};",
            vec!["principal.level == 1"; n].join(" || ")
        )
    }

    #[test]
    fn ordinary_policies_are_far_below_the_budget() {
        let policy = r#"
            @id("x")
            permit (principal in Group::"a", action in [Action::"r", Action::"w"], resource)
            when { resource.owner == principal && context.ip.isInRange(ip("10.0.0.0/8")) }
            unless { resource has locked && resource.locked || !(principal.level >= 3) };"#;
        assert_eq!(check(policy), Ok(()));
        // Sets and records are wide, not deep.
        let wide = format!(
            "permit(principal, action, resource) when {{ principal.id in [{}] }};",
            vec!["\"a.b || c\""; 5000].join(", ")
        );
        assert_eq!(check(&wide), Ok(()));
    }

    #[test]
    fn deep_brackets_and_long_chains_are_refused_where_they_cross_the_budget() {
        assert!(check(&parens(MAX_DEPTH - 10)).is_ok());
        let err = check(&parens(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(&parens(MAX_DEPTH + 1)[err.span.clone()], "(");
        // Each `principal.level == 1` adds two operators to the chain.
        assert!(check(&or_chain(MAX_DEPTH / 4)).is_ok());
        assert!(check(&or_chain(10_000)).is_err());
        let nested_sets = format!(
            "permit(principal, action, resource) when {{ {}1{} }};",
            "[".repeat(5_000),
            "]".repeat(5_000)
        );
        assert!(check(&nested_sets).is_err());
    }

    #[test]
    fn strings_and_comments_do_not_count() {
        let text = format!(
            "// {}\npermit(principal, action, resource) when {{ principal.name == \"{}\\\"\" }};",
            "(".repeat(1000),
            "(".repeat(1000)
        );
        assert_eq!(check(&text), Ok(()));
    }

    #[test]
    fn separate_policies_do_not_add_up() {
        let many = or_chain(MAX_DEPTH / 4).repeat(50);
        assert_eq!(check(&many), Ok(()));
    }
}
