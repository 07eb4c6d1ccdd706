//! What people read, pinned: insta snapshots of the human output of each
//! renderer (the plan and its changes, a proof, `fmt --check`'s diff, the
//! coverage table, a deploy's plan and summary) and of one JSON document,
//! through the real binary. The other tests check these outputs with
//! `contains`; these catch every other change to them, which is then
//! reviewed and accepted on purpose (`cargo insta review`, or by hand:
//! compare the `.snap.new` file with the `.snap` and rename it).
//!
//! Temporary directories and timings are replaced before comparing
//! (`<project>`, `<time>`); so are the values a solver chooses for a
//! counterexample (`<witness>`), which vary by solver version while the
//! decisions do not.

use std::path::Path;

use crate::common::{avpctl, avpctl_in, example, project};

/// Replaces `dir` (as given and canonical) with `name`, and timings such as
/// `[0.045s]` and `(0.11 s)` with `<time>`.
fn normalize(text: &str, dirs: &[(&Path, &str)]) -> String {
    let mut text = text.to_string();
    for (dir, name) in dirs {
        let mut forms = vec![dir.to_string_lossy().into_owned()];
        if let Ok(canonical) = dir.canonicalize() {
            forms.push(canonical.to_string_lossy().into_owned());
        }
        // Longest first, so that a path is not half replaced.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        for form in forms {
            text = text.replace(&form, name);
        }
    }
    timings(&text)
}

/// `[1.25s]`, `[0.003s]`, `(0.11 s)`, `(12ms)` → `[<time>]`, `(<time>)`.
fn timings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['[', '(']) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let open = &from[..1];
        let close = if open == "[" { ']' } else { ')' };
        let inner_end = from[1..].find(close).map(|i| i + 1);
        let is_time = inner_end.is_some_and(|end| {
            let inner = &from[1..end];
            let number = inner
                .strip_suffix("ms")
                .or_else(|| inner.strip_suffix('s'))
                .map(str::trim_end);
            number.is_some_and(|n| {
                !n.is_empty()
                    && n.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && n.chars().next().unwrap().is_ascii_digit()
            })
        });
        match inner_end {
            Some(end) if is_time => {
                out.push_str(open);
                out.push_str("<time>");
                out.push(close);
                rest = &from[end + 1..];
            }
            _ => {
                out.push_str(open);
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn timings_and_directories_are_normalized() {
    let dir = Path::new("/tmp/x");
    assert_eq!(
        normalize(
            "PASS /tmp/x/tests/a.yaml [ok] (2 of 3)\nSummary [0.045s] WIDENS  (0.11 s) (12ms) [3s]",
            &[(dir, "<project>")]
        ),
        "PASS <project>/tests/a.yaml [ok] (2 of 3)\nSummary [<time>] WIDENS  (<time>) (<time>) [<time>]"
    );
    // Nothing else is hidden: words in brackets, counts, versions stay.
    let text = "[only in the new schema] (expected deny) [row 3] (v1.2) (0.5x) ()";
    assert_eq!(normalize(text, &[]), text);
}

/// The values a solver picked for a pasted counterexample, which differ
/// between solver versions: the case's name, action and expectation stay.
fn redact_witnesses(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_entities = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if in_entities && trimmed.starts_with("- {") {
            continue;
        }
        in_entities = false;
        let key = ["principal:", "resource:", "context:"]
            .into_iter()
            .find(|k| trimmed.starts_with(k));
        if let Some(key) = key {
            out.push(format!("{indent}{key} <witness>"));
        } else if trimmed == "entities:" {
            out.push(line.to_string());
            out.push(format!("{indent}  - <witness>"));
            in_entities = true;
        } else {
            out.push(line.to_string());
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The example deployed to its local store, then changed: a forbid
/// removed, a permit added, a condition dropped, and a comment added (no
/// change in meaning, so not listed). The Markdown tests use it too.
pub(crate) fn changed_example() -> tempfile::TempDir {
    let dir = example();
    let deployed = avpctl_in(dir.path(), &["deploy", "--yes"]);
    assert_eq!(deployed.code, 0, "{}\n{}", deployed.stdout, deployed.stderr);
    std::fs::remove_file(dir.path().join("policies/forbid-edit-locked.cedar")).unwrap();
    std::fs::write(
        dir.path().join("policies/extra.cedar"),
        "@id(\"everyone-views\")\npermit (principal, action == DocApp::Action::\"viewDocument\", resource);\n",
    )
    .unwrap();
    let leads = dir.path().join("policies/finance-approval-leads.cedar");
    let text = std::fs::read_to_string(&leads).unwrap();
    let dropped = text.replace("  context.mfa_present &&\n", "");
    assert_ne!(dropped, text, "the condition is on a line of its own");
    std::fs::write(&leads, dropped).unwrap();
    let owners = dir.path().join("policies/owner-full-access.cedar");
    let mut text = std::fs::read_to_string(&owners).unwrap();
    text.push_str("// reviewed\n");
    std::fs::write(&owners, text).unwrap();
    dir
}

#[test]
fn diff_human_lists_changes_by_effect_on_access_and_the_cases_that_flip() {
    let dir = changed_example();
    let run = avpctl_in(dir.path(), &["diff"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    insta::assert_snapshot!(
        "diff_human_changes",
        normalize(&run.stdout, &[(dir.path(), "<project>")])
    );
}

#[test]
fn deploy_human_shows_the_plan_its_steps_and_a_summary() {
    let dir = example();
    let run = avpctl_in(dir.path(), &["deploy", "--yes"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    insta::assert_snapshot!(
        "deploy_human_fresh_local_store",
        normalize(&run.stdout, &[(dir.path(), "<project>")])
    );
}

#[test]
#[ignore = "needs cvc5"]
fn diff_prove_human_shows_each_environment_and_a_counterexample_to_paste() {
    crate::prove::require_solver();
    let run = avpctl(&[
        "diff",
        "fixtures/prove/example-without-mfa",
        "--against",
        "policies-example",
        "--prove",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    insta::assert_snapshot!(
        "diff_prove_human_example_without_mfa",
        redact_witnesses(&normalize(&run.stdout, &[]))
    );
}

#[test]
fn fmt_check_human_shows_a_unified_diff_per_file() {
    let dir = project(&[
        (
            "policies/a.cedar",
            "// Owners may view.\npermit(principal,action,resource) when {resource.owner==principal};\n",
        ),
        (
            "policies/b.cedar",
            "// Owners may view.\npermit (principal, action, resource)\nwhen { resource.owner == principal };\n",
        ),
    ]);
    let run = avpctl_in(dir.path(), &["fmt", "--check"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    insta::assert_snapshot!(
        "fmt_check_human_diff",
        normalize(&run.stdout, &[(dir.path(), "<project>")])
    );
}

#[test]
fn test_coverage_human_table() {
    let dir = crate::test_command::project_with(&["passing"]);
    let path = dir.path().to_str().unwrap();
    let all = avpctl(&["test", path, "--coverage"]);
    assert_eq!(all.code, 0, "{}\n{}", all.stdout, all.stderr);
    insta::assert_snapshot!(
        "test_coverage_human_all_cases",
        normalize(&all.stdout, &[(dir.path(), "<project>")])
    );
    // Part of the suite: what was not exercised, and a request environment
    // no case asks about.
    let some = avpctl(&["test", path, "--coverage", "--filter", "MFA"]);
    assert_eq!(some.code, 0, "{}\n{}", some.stdout, some.stderr);
    insta::assert_snapshot!(
        "test_coverage_human_filtered",
        normalize(&some.stdout, &[(dir.path(), "<project>")])
    );
}

#[test]
fn validate_json_document_shape() {
    let run = avpctl(&[
        "validate",
        "fixtures/validate/type-errors",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    run.json();
    insta::assert_snapshot!("validate_json_type_errors", run.stdout);
}
