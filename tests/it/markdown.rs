//! `--format markdown` of validate, test and diff: pinned by snapshots and
//! checked to be well-formed GitHub-flavoured Markdown by a CommonMark
//! parser (pulldown-cmark, with GFM tables): every table row has its
//! header's number of cells, untrusted text stays text, no ANSI escape.

use std::path::Path;

use pulldown_cmark::{Options, Parser};

use crate::common::{avpctl, avpctl_in, project};

/// Parses `markdown` and checks what a pull-request comment needs; returns
/// the HTML GitHub would show (minus its sanitiser).
fn rendered(markdown: &str) -> String {
    assert!(!markdown.contains('\u{1b}'), "an ANSI escape:\n{markdown}");
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    // pulldown-cmark pads or cuts a row to the header's width, so the
    // widths are checked on the source: unescaped pipes per row.
    for block in markdown.split("\n\n") {
        let rows: Vec<&str> = block.lines().filter(|l| l.starts_with('|')).collect();
        let Some(first) = rows.first() else { continue };
        let width = cell_separators(first);
        for row in &rows {
            assert_eq!(cell_separators(row), width, "a row of another width: {row}");
        }
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, Parser::new_ext(markdown, options));
    html
}

fn cell_separators(row: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in row.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => count += 1,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
    }
    count
}

fn tables_in(html: &str) -> usize {
    html.matches("<table>").count()
}

fn normalized(text: &str, dir: &Path) -> String {
    let mut text = text.to_string();
    let mut forms = vec![dir.to_string_lossy().into_owned()];
    if let Ok(canonical) = dir.canonicalize() {
        forms.push(canonical.to_string_lossy().into_owned());
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    for form in forms {
        text = text.replace(&form, "<project>");
    }
    text
}

#[test]
fn validate_markdown_is_a_table_of_findings_with_links() {
    let run = avpctl(&[
        "validate",
        "fixtures/validate/type-errors",
        "--format",
        "markdown",
    ]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let html = rendered(&run.stdout);
    assert_eq!(tables_in(&html), 1, "{html}");
    assert!(
        html.contains(r#"<a href="fixtures/validate/type-errors/policies/rules.cedar#L3">"#),
        "{html}"
    );
    insta::assert_snapshot!("validate_markdown_type_errors", run.stdout);
}

#[test]
fn validate_markdown_of_a_valid_project_says_so() {
    let run = avpctl(&["validate", "policies-example", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    rendered(&run.stdout);
    assert!(
        run.stdout.starts_with("## avpctl validate: ✅ valid\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn links_point_at_the_commit_on_github_inside_actions() {
    let run = crate::common::avpctl_env(
        &crate::common::repo(),
        &[
            "validate",
            "fixtures/validate/type-errors",
            "--format",
            "markdown",
        ],
        &[
            ("GITHUB_SERVER_URL", "https://github.com".into()),
            ("GITHUB_REPOSITORY", "acme/policies".into()),
            ("GITHUB_SHA", "0123abc".into()),
        ],
    );
    let html = rendered(&run.stdout);
    assert!(
        html.contains(r#"href="https://github.com/acme/policies/blob/0123abc/fixtures/validate/type-errors/policies/rules.cedar#L3""#),
        "{html}"
    );
}

#[test]
fn test_markdown_lists_failing_cases_and_folds_the_passing_ones() {
    let dir = crate::test_command::project_with(&["passing", "failing"]);
    let run = avpctl(&["test", dir.path().to_str().unwrap(), "--format", "markdown"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let html = rendered(&run.stdout);
    assert!(html.contains("<details><summary>"), "{html}");
    assert!(tables_in(&html) >= 2, "failing and passing cases: {html}");
    insta::assert_snapshot!("test_markdown_failing", normalized(&run.stdout, dir.path()));
}

#[test]
fn untrusted_text_in_markdown_stays_text() {
    // A case name and a policy id that try to open a cell, a tag, a link
    // and an emphasis.
    let dir = project(&[
        (
            "policies/p.cedar",
            "@id(\"x|y<img src=z>\")\npermit (principal, action, resource);\n",
        ),
        (
            "tests/t.yaml",
            "cases:\n  - name: 'a | b <script>alert(1)</script> [x](http://e) **bold**'\n    principal: 'U::\"a\"'\n    action: 'Action::\"go\"'\n    resource: 'R::\"r\"'\n    expect: deny\n",
        ),
    ]);
    let run = avpctl_in(dir.path(), &["test", "--format", "markdown"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let html = rendered(&run.stdout);
    for forbidden in ["<script", "<img", "<strong>bold", "href=\"http://e\""] {
        assert!(!html.contains(forbidden), "{forbidden} in {html}");
    }
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(html.contains("x|y&lt;img src=z&gt;"), "{html}");
}

/// render.rs's changed example, and a forbid added (so that access both
/// widens and narrows).
fn changed_example() -> tempfile::TempDir {
    let dir = crate::render::changed_example();
    std::fs::write(
        dir.path().join("policies/no-deletes.cedar"),
        "@id(\"no-deletes\")\nforbid (principal, action == DocApp::Action::\"deleteDocument\", resource);\n",
    )
    .unwrap();
    dir
}

#[test]
fn diff_markdown_classes_changes_and_lists_the_flipped_cases() {
    let dir = changed_example();
    let run = avpctl_in(dir.path(), &["diff", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let html = rendered(&run.stdout);
    for heading in [
        "Widens access",
        "Narrows access",
        "Test cases whose decision changes",
    ] {
        assert!(html.contains(heading), "{heading} in {html}");
    }
    assert!(html.contains(r#"<code class="language-diff">"#), "{html}");
    assert!(
        html.contains("<summary>Statement diff of <code>finance-approval-leads</code></summary>"),
        "{html}"
    );
    insta::assert_snapshot!("diff_markdown_changes", normalized(&run.stdout, dir.path()));
}

#[test]
fn diff_markdown_with_impact_groups_the_flips() {
    let dir = changed_example();
    let run = avpctl_in(
        dir.path(),
        &[
            "diff",
            "--format",
            "markdown",
            "--impact",
            "--entities",
            "entities",
            "--context",
            r#"{"ip":"10.0.1.5","mfa_present":false,"request_time":"2026-03-15T10:00:00Z"}"#,
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let html = rendered(&run.stdout);
    assert!(html.contains("Impact on the entity snapshot"), "{html}");
    assert!(html.contains("may now"), "{html}");
    let impact = &run.stdout[run.stdout.find("### Impact").unwrap()..];
    insta::assert_snapshot!("diff_markdown_impact", impact);
}

#[test]
#[ignore = "needs cvc5"]
fn diff_markdown_with_a_proof_has_a_row_per_environment() {
    crate::prove::require_solver();
    let run = avpctl(&[
        "diff",
        "fixtures/prove/example-without-mfa",
        "--against",
        "policies-example",
        "--prove",
        "--format",
        "markdown",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let html = rendered(&run.stdout);
    assert!(
        html.contains("Proof, for every request the schema allows"),
        "{html}"
    );
    assert!(html.contains("widens"), "{html}");
    assert!(
        html.contains(r#"<code class="language-yaml">"#),
        "a counterexample: {html}"
    );
}

#[test]
fn a_run_that_cannot_start_still_prints_markdown() {
    let run = avpctl(&["diff", "no/such/dir", "--format", "markdown"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    rendered(&run.stdout);
    assert!(
        run.stdout.starts_with("## avpctl diff: ❌ could not run"),
        "{}",
        run.stdout
    );
}
