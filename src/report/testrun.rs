//! Test-run reports for people (in the style of cargo-nextest) and as JSON
//! (docs/output.md).

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::project::Project;
use crate::report::Style;
use crate::report::json::{Layout, Streamed};
use crate::report::markdown::{self, Links, Markdown};
use crate::testing::coverage::{Coverage, ItemKind};
use crate::testing::outcome::{CaseOutcome, RunReport};
use crate::text::decision_name;
use crate::text::one_line;

/// Above this many cases, passing cases are not listed one per line.
const LIST_LIMIT: usize = 200;

pub fn human(
    report: &RunReport,
    project: &Project,
    style: Style,
    dir: &Path,
    min_coverage: Option<f64>,
) -> String {
    let mut out = String::new();
    for diagnostic in report.diagnostics.iter().chain(&report.warnings) {
        out.push_str(&crate::report::human::render(diagnostic, style, dir));
        out.push('\n');
    }
    let list_passes = report.outcomes.len() <= LIST_LIMIT;
    for outcome in &report.outcomes {
        if outcome.passed() && !list_passes {
            continue;
        }
        let label = if outcome.passed() {
            style.green("    PASS")
        } else {
            style.red("    FAIL")
        };
        out.push_str(&format!("{label} {}\n", case_title(report, outcome, dir)));
    }
    let failures: Vec<&CaseOutcome> = report.outcomes.iter().filter(|o| !o.passed()).collect();
    for outcome in &failures {
        out.push_str(&failure_detail(report, project, outcome, style, dir));
    }
    if let Some(coverage) = &report.coverage {
        out.push_str(&coverage_table(coverage, style, min_coverage));
    }
    out.push_str(&summary_line(report, style, list_passes));
    out
}

fn case_title(report: &RunReport, outcome: &CaseOutcome, dir: &Path) -> String {
    let file = crate::report::human::shown_path(dir, report.suite_file(outcome));
    format!("{} › {}", one_line(&file), one_line(&outcome.check.name))
}

fn failure_detail(
    report: &RunReport,
    project: &Project,
    outcome: &CaseOutcome,
    style: Style,
    dir: &Path,
) -> String {
    let check = &outcome.check;
    let file = crate::report::human::shown_path(dir, report.suite_file(outcome));
    let mut out = format!(
        "\n{} {}:{}:{} › {}\n",
        style.red("--- FAIL"),
        one_line(&file),
        check.location.line,
        check.location.column,
        style.bold(&one_line(&check.name))
    );
    for failure in &outcome.failures {
        out.push_str(&format!(
            "    {} {}\n",
            style.red("✗"),
            one_line(&failure.to_string())
        ));
    }
    let decision = outcome
        .decision
        .map_or("none (not evaluated)", decision_name);
    out.push_str(&format!("    expected:  {}\n", check.expect.as_str()));
    out.push_str(&format!("    decision:  {decision}\n"));
    if let Some(token) = &check.token {
        out.push_str(&format!(
            "    token:     {}; the identity source names the principal\n",
            token.kind.as_str()
        ));
    }
    if let Some(refusal) = &outcome.refusal {
        out.push_str(&format!(
            "    refused:   {}\n",
            one_line(&refusal.to_string())
        ));
    }
    if let (Some(store), Some(label)) = (&outcome.store, &report.store) {
        let reasons = if store.reasons.is_empty() {
            "none".to_string()
        } else {
            one_line(&store.reasons.join(", ")).into_owned()
        };
        out.push_str(&format!(
            "    {label}: {} (determining: {reasons})\n",
            decision_name(store.decision)
        ));
        // The store's own words: "deny" alone would hide that it found the
        // request invalid.
        for error in &store.errors {
            out.push_str(&format!(
                "      {} {}\n",
                style.yellow("store error:"),
                crate::text::clipped(error, 300)
            ));
        }
    }
    out.push_str(&format!(
        "    request:   principal {}, action {}, resource {}\n",
        check.principal, check.action, check.resource
    ));
    if check.context.as_object().is_some_and(|c| !c.is_empty()) {
        out.push_str(&format!("    context:   {}\n", check.context));
    }
    if outcome.decision.is_some() {
        out.push_str("    determining policies:");
        if outcome.reasons.is_empty() {
            out.push_str(" none\n");
        } else {
            out.push('\n');
            for id in &outcome.reasons {
                out.push_str(&format!(
                    "      {}{}\n",
                    one_line(id),
                    place(project, id, dir)
                ));
            }
        }
    }
    for error in &outcome.errors {
        out.push_str(&format!(
            "    {} {}{}: {}\n",
            style.yellow("error in"),
            one_line(&error.policy),
            place(project, &error.policy, dir),
            one_line(&error.message)
        ));
    }
    if !outcome.involved.is_empty() {
        out.push_str("    entities:\n");
        for (uid, data) in &outcome.involved {
            match data {
                Some(data) => {
                    let attrs = &data["attrs"];
                    let parents = &data["parents"];
                    out.push_str(&format!("      {uid}  attrs {attrs}  parents {parents}\n"));
                }
                None => out.push_str(&format!("      {uid}  (not in the entity data)\n")),
            }
        }
    }
    out
}

fn place(project: &Project, id: &str, dir: &Path) -> String {
    project.locate(id).map_or_else(String::new, |location| {
        format!(
            " ({}:{}:{})",
            crate::report::human::shown_path(dir, &location.file),
            location.line,
            location.column
        )
    })
}

fn coverage_table(coverage: &Coverage, style: Style, min_coverage: Option<f64>) -> String {
    let mut out = format!("\n{}\n", style.bold("Coverage"));
    let width = coverage.items.iter().map(|i| i.id.len()).max().unwrap_or(0);
    for item in &coverage.items {
        let marker = if item.exercised() {
            style.green("✓")
        } else {
            style.red("✗")
        };
        let mut line = format!(
            "  {marker} {:<width$}  {:<8}  determined {} case{}",
            one_line(&item.id),
            item.kind.as_str(),
            item.determined,
            crate::text::plural(item.determined)
        );
        if item.errored > 0 {
            line.push_str(&format!(", errored in {}", item.errored));
        }
        if !item.exercised() {
            line.push_str(&format!(
                "  {}",
                style.red(if item.kind == ItemKind::Template {
                    "no link exercised"
                } else {
                    "not exercised"
                })
            ));
        }
        out.push_str(&line);
        out.push('\n');
    }
    let percent = coverage.percent();
    out.push_str(&format!(
        "  policies and templates exercised: {percent:.1}%"
    ));
    if let Some(minimum) = min_coverage {
        let verdict = if percent >= minimum {
            style.green("ok")
        } else {
            style.red("below")
        };
        out.push_str(&format!(" (minimum {minimum:.1}%: {verdict})"));
    }
    out.push('\n');
    if coverage.total_envs > 0 {
        out.push_str(&format!(
            "  request environments requested: {} of {}\n",
            coverage.total_envs - coverage.untested_envs.len(),
            coverage.total_envs
        ));
        for (principal, action, resource) in &coverage.untested_envs {
            out.push_str(&format!(
                "    {} {principal} → {action} → {resource}\n",
                style.yellow("untested")
            ));
        }
    }
    out
}

fn summary_line(report: &RunReport, style: Style, listed: bool) -> String {
    let summary = report.summary();
    let mut out = String::from("\n");
    if !listed && summary.passed > 0 {
        out.push_str(&style.dim(&format!("({} passing cases not listed)\n", summary.passed)));
    }
    if summary.total == 0 {
        out.push_str(&format!(
            "{} no test cases found\n",
            style.yellow("Summary")
        ));
        return out;
    }
    let counts = format!("{} passed, {} failed", summary.passed, summary.failed);
    let counts = if summary.failed > 0 {
        style.red(&counts)
    } else {
        style.green(&counts)
    };
    out.push_str(&format!(
        "{} [{:.3}s] {} case{} run: {counts}",
        style.bold("Summary"),
        report.elapsed.as_secs_f64(),
        summary.total,
        crate::text::plural(summary.total)
    ));
    if report.skipped > 0 {
        out.push_str(&format!(", {} not run (--fail-fast)", report.skipped));
    }
    out.push('\n');
    if let Some(label) = &report.store {
        let (replayed, differ) = replayed(report);
        let verdict = if differ == 0 {
            style.green(AGREE)
        } else {
            style.red(&disagree(differ))
        };
        out.push_str(&format!(
            "Store [{label}] {replayed} cases replayed: {verdict}\n"
        ));
    }
    out
}

const AGREE: &str = "local Cedar and the store agree on every case";

fn disagree(differ: usize) -> String {
    format!("{differ} decided differently by the store")
}

/// How many cases were replayed on the store, and how many of them the
/// store decided differently.
fn replayed(report: &RunReport) -> (usize, usize) {
    let replayed: Vec<&CaseOutcome> = report
        .outcomes
        .iter()
        .filter(|o| o.store.is_some())
        .collect();
    let differ = replayed
        .iter()
        .filter(|o| o.store.as_ref().map(|s| s.decision) != o.decision)
        .count();
    (replayed.len(), differ)
}

fn store_verdict(report: &RunReport, label: &str) -> String {
    let (replayed, differ) = replayed(report);
    let verdict = if differ == 0 {
        AGREE.to_string()
    } else {
        disagree(differ)
    };
    format!("Store [{label}] {replayed} cases replayed: {verdict}")
}

/// The test run for a pull-request comment or a step summary: the
/// verdict, load problems, failing cases with links to their lines and to
/// the determining policies, coverage, and the passing cases folded.
pub fn markdown(report: &RunReport, project: &Project, dir: &Path, links: &Links) -> String {
    let summary = report.summary();
    let verdict = if summary.total == 0 {
        "⚠️ no test cases found".to_string()
    } else if summary.failed > 0 {
        format!("❌ {} failed, {} passed", summary.failed, summary.passed)
    } else {
        format!("✅ {} passed", summary.passed)
    };
    let mut md = Markdown::new();
    md.heading(2, &format!("avpctl test: {verdict}"));
    let mut line = format!(
        "{} run in {}",
        crate::text::count(summary.total, "case", "cases"),
        crate::text::count(report.suites.len(), "suite", "suites")
    );
    if report.skipped > 0 {
        line.push_str(&format!("; {} not run (--fail-fast)", report.skipped));
    }
    md.paragraph(&markdown::text(&format!("{line}.")));
    if !report.diagnostics.is_empty() || !report.warnings.is_empty() {
        md.heading(3, "Problems");
        markdown::diagnostics_table(
            &mut md,
            report.diagnostics.iter().chain(&report.warnings),
            dir,
            links,
        );
    }
    let failing: Vec<&CaseOutcome> = report.outcomes.iter().filter(|o| !o.passed()).collect();
    if !failing.is_empty() {
        md.heading(3, "Failing cases");
        let rows: Vec<Vec<String>> = failing
            .iter()
            .map(|o| failing_row(report, project, o, dir, links))
            .collect();
        md.table(
            &crate::text::count(rows.len(), "failing case", "failing cases"),
            &[
                "Case",
                "Expected",
                "Decision",
                "Why",
                "Determining policies",
            ],
            &rows,
        );
    }
    if let Some(label) = &report.store {
        md.paragraph(&markdown::text(&store_verdict(report, label)));
    }
    if let Some(coverage) = &report.coverage {
        coverage_markdown(&mut md, coverage);
    }
    let passing: Vec<Vec<String>> = report
        .outcomes
        .iter()
        .filter(|o| o.passed())
        .map(|o| {
            let place = links.place(
                &crate::report::human::shown_path(dir, report.suite_file(o)),
                o.check.location.line,
            );
            vec![
                place,
                markdown::text(&o.check.name),
                o.check.expect.as_str().to_string(),
            ]
        })
        .collect();
    if !passing.is_empty() {
        md.details(
            &crate::text::count(passing.len(), "passing case", "passing cases"),
            |inner| inner.open_table(&["Case", "Name", "Decision"], &passing),
        );
    }
    md.finish()
}

fn failing_row(
    report: &RunReport,
    project: &Project,
    outcome: &CaseOutcome,
    dir: &Path,
    links: &Links,
) -> Vec<String> {
    let check = &outcome.check;
    let file = crate::report::human::shown_path(dir, report.suite_file(outcome));
    let case = format!(
        "{} › {}",
        links.place(&file, check.location.line),
        markdown::text(&check.name)
    );
    let mut why: Vec<String> = outcome
        .failures
        .iter()
        .map(|f| markdown::text_lines(f))
        .collect();
    if let Some(refusal) = &outcome.refusal {
        why.push(format!("refused: {}", markdown::text(&refusal.to_string())));
    }
    for error in &outcome.errors {
        why.push(format!(
            "error in {}: {}",
            markdown::code(&error.policy),
            markdown::text_lines(&error.message)
        ));
    }
    if let (Some(store), Some(label)) = (&outcome.store, &report.store) {
        why.push(markdown::text(&format!(
            "{label}: {}",
            decision_name(store.decision)
        )));
    }
    let reasons: Vec<String> = outcome
        .reasons
        .iter()
        .map(|id| match project.locate(id) {
            Some(location) => format!(
                "{} ({})",
                markdown::code(id),
                links.place(
                    &crate::report::human::shown_path(dir, &location.file),
                    location.line
                )
            ),
            None => markdown::code(id),
        })
        .collect();
    vec![
        case,
        check.expect.as_str().to_string(),
        outcome
            .decision
            .map_or("not evaluated", decision_name)
            .to_string(),
        why.join("<br>"),
        if reasons.is_empty() {
            "none".to_string()
        } else {
            reasons.join("<br>")
        },
    ]
}

fn coverage_markdown(md: &mut Markdown, coverage: &Coverage) {
    md.heading(3, "Coverage");
    md.paragraph(&format!(
        "Policies and templates exercised: {:.1}%.",
        coverage.percent()
    ));
    let rows: Vec<Vec<String>> = coverage
        .items
        .iter()
        .map(|item| {
            vec![
                if item.exercised() { "✅" } else { "❌" }.to_string(),
                markdown::code(&item.id),
                item.kind.as_str().to_string(),
                item.determined.to_string(),
                item.errored.to_string(),
            ]
        })
        .collect();
    md.table(
        &crate::text::count(rows.len(), "policy or template", "policies and templates"),
        &["", "Id", "Kind", "Determined", "Errored"],
        &rows,
    );
}

/// Writes the test document (docs/output.md) case by case, so a run of a
/// hundred thousand cases never holds its whole report in memory: the
/// summary, each case and the tail are typed values, written one by one.
pub fn write_json(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    write_document(report, out)?;
    writeln!(out)
}

/// The test document without its final newline.
fn write_document(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    let mut document = Streamed::document(out, Layout::Lines)?;
    document.field("summary", &summary_json(report))?;
    document.rendered_list("cases", &report.outcomes, |outcome| {
        Some(case_json(report, outcome))
    })?;
    document.field(
        "diagnostics",
        &crate::report::json::diagnostics(report.diagnostics.iter().chain(&report.warnings)),
    )?;
    if let Some(coverage) = &report.coverage {
        document.field("coverage", &coverage_json(coverage))?;
    }
    document.end()
}

/// One store's run in the test-group document (`test --store GROUP`).
pub struct GroupMember<'a> {
    pub name: Option<&'a str>,
    pub store: String,
    pub exit_code: u8,
    pub report: &'a RunReport,
}

/// A store's entry of the test-group document, its test document inside.
pub fn write_group_entry(member: &GroupMember<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut entry = Streamed::object(out, Layout::Inline)?;
    entry.field("name", &member.name)?;
    entry.field("store", &member.store)?;
    entry.field("exit_code", &member.exit_code)?;
    entry.field_with("report", |out| write_document(member.report, out))?;
    entry.end()
}

/// The test-group document (docs/output.md) around the entries
/// [`write_group_entry`] wrote, an entry a line. Each store's run is
/// written as soon as it is done: the group holds text, not every run.
pub fn write_group_json(entries: &[Vec<u8>], out: &mut dyn Write) -> io::Result<()> {
    let mut document = Streamed::document(out, Layout::Inline)?;
    document.list("stores", entries, |out, entry| out.write_all(entry))?;
    document.end()?;
    writeln!(out)
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    total: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
    duration_ms: f64,
    store: Option<&'a str>,
}

fn summary_json(report: &RunReport) -> SummaryJson<'_> {
    let summary = report.summary();
    SummaryJson {
        total: summary.total,
        passed: summary.passed,
        failed: summary.failed,
        skipped: report.skipped,
        duration_ms: report.elapsed.as_secs_f64() * 1000.0,
        store: report.store.as_deref(),
    }
}

#[derive(Serialize)]
struct CaseJson<'a> {
    file: String,
    line: usize,
    name: &'a str,
    status: &'static str,
    expected: &'static str,
    decision: Option<&'static str>,
    reasons: &'a [String],
    errors: Vec<&'a str>,
    error_messages: Vec<PolicyErrorJson<'a>>,
    failures: &'a [String],
    principal: String,
    action: String,
    resource: String,
    duration_ms: f64,
    store_decision: Option<&'static str>,
    store_reasons: Option<&'a [String]>,
    store_errors: Option<&'a [String]>,
    /// `identity` or `access` for a case that gives a token.
    token: Option<&'static str>,
    refusal: Option<RefusalJson<'a>>,
}

#[derive(Serialize)]
struct RefusalJson<'a> {
    code: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct PolicyErrorJson<'a> {
    policy: &'a str,
    message: &'a str,
}

fn case_json<'a>(report: &RunReport, o: &'a CaseOutcome) -> CaseJson<'a> {
    CaseJson {
        file: report.suite_file(o).display(),
        line: o.check.location.line,
        name: &o.check.name,
        status: o.status.as_str(),
        expected: o.check.expect.as_str(),
        decision: o.decision.map(decision_name),
        reasons: &o.reasons,
        errors: o.errors.iter().map(|e| e.policy.as_str()).collect(),
        error_messages: o
            .errors
            .iter()
            .map(|e| PolicyErrorJson {
                policy: &e.policy,
                message: &e.message,
            })
            .collect(),
        failures: &o.failures,
        principal: o.check.principal.to_string(),
        action: o.check.action.to_string(),
        resource: o.check.resource.to_string(),
        duration_ms: o.duration.as_secs_f64() * 1000.0,
        store_decision: o.store.as_ref().map(|s| decision_name(s.decision)),
        store_reasons: o.store.as_ref().map(|s| s.reasons.as_slice()),
        store_errors: o.store.as_ref().map(|s| s.errors.as_slice()),
        token: o.check.token.as_ref().map(|t| match t.kind {
            crate::identity::TokenKind::Identity => "identity",
            crate::identity::TokenKind::Access => "access",
        }),
        refusal: o.refusal.as_ref().map(|r| RefusalJson {
            code: r.code,
            message: &r.message,
        }),
    }
}

#[derive(Serialize)]
struct CoverageJson<'a> {
    percent: f64,
    items: Vec<CoverageItemJson<'a>>,
    untested_request_envs: Vec<RequestEnvJson<'a>>,
    request_envs: usize,
}

#[derive(Serialize)]
struct CoverageItemJson<'a> {
    id: &'a str,
    kind: &'static str,
    determined: usize,
    errored: usize,
    exercised: bool,
}

#[derive(Serialize)]
struct RequestEnvJson<'a> {
    principal: &'a str,
    action: &'a str,
    resource: &'a str,
}

fn coverage_json(coverage: &Coverage) -> CoverageJson<'_> {
    CoverageJson {
        percent: coverage.percent(),
        items: coverage
            .items
            .iter()
            .map(|i| CoverageItemJson {
                id: &i.id,
                kind: i.kind.as_str(),
                determined: i.determined,
                errored: i.errored,
                exercised: i.exercised(),
            })
            .collect(),
        untested_request_envs: coverage
            .untested_envs
            .iter()
            .map(|(principal, action, resource)| RequestEnvJson {
                principal,
                action,
                resource,
            })
            .collect(),
        request_envs: coverage.total_envs,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::source::SourceFile;
    use crate::testing::outcome::{CaseOutcome, Status, StoreOutcome, SuiteInfo};
    use crate::testing::suite::{Check, CheckEntities};

    /// A store that finds a request invalid says so; "deny" alone would
    /// hide it.
    #[test]
    fn the_store_error_text_is_shown_under_a_failed_case() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies-example");
        let project = crate::project::load(&root).unwrap().project;
        let file = SourceFile::new("tests/a.yaml", "cases:\n  - name: x\n");
        let check = Check {
            name: "x".into(),
            location: file.location(10..11),
            principal: r#"DocApp::User::"alice""#.parse().unwrap(),
            action: r#"DocApp::Action::"viewDocument""#.parse().unwrap(),
            resource: r#"DocApp::Document::"42""#.parse().unwrap(),
            context: serde_json::json!({}),
            entities: CheckEntities::Suite,
            expect: crate::testing::suite::Expected::Allow,
            refusal: None,
            reasons: None,
            errors: None,
            validate_request: true,
            token: None,
        };
        let report = RunReport {
            suites: vec![SuiteInfo { file }],
            outcomes: vec![CaseOutcome {
                suite: 0,
                check: Arc::new(check),
                status: Status::Fail,
                decision: Some(cedar_policy::Decision::Allow),
                reasons: vec![],
                errors: vec![],
                failures: vec!["the store decided deny".into()],
                involved: vec![],
                refusal: None,
                store: Some(StoreOutcome {
                    decision: cedar_policy::Decision::Deny,
                    reasons: vec![],
                    errors: vec!["request is invalid: context is missing `mfa`\u{1b}[8m".into()],
                }),
                duration: std::time::Duration::ZERO,
            }],
            store: Some("avp:PSEXAMPLE".into()),
            ..RunReport::default()
        };
        let text = human(
            &report,
            &project,
            Style::plain(),
            std::path::Path::new(""),
            None,
        );
        assert!(
            text.contains("store error: request is invalid: context is missing `mfa`\\u{1b}[8m"),
            "{text}"
        );
    }
}
