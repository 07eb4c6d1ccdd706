//! JUnit XML through `quick-junit`, the test-report format GitLab, GitHub
//! test reporters and Jenkins read: one `<testsuite>` per suite file, one
//! `<testcase>` per case, and a suite with an errored case for each file
//! that did not load (test views show cases, not the root's counts).

use std::collections::BTreeMap;
use std::fmt::Write;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::diagnostic::Diagnostic;
use crate::testing::outcome::{CaseOutcome, RunReport};
use crate::text::decision_name;

pub fn render(report: &RunReport) -> String {
    let mut junit = Report::new("avpctl");
    junit.set_time(report.elapsed);
    let mut by_suite: BTreeMap<usize, Vec<&CaseOutcome>> = BTreeMap::new();
    for outcome in &report.outcomes {
        by_suite.entry(outcome.suite).or_default().push(outcome);
    }
    for (suite, outcomes) in by_suite {
        let file = report.suites[suite].file.display();
        let mut junit_suite = TestSuite::new(file.clone());
        junit_suite.set_time(outcomes.iter().map(|o| o.duration).sum());
        junit_suite.add_test_cases(outcomes.into_iter().map(|o| case(o, &file)));
        junit.add_test_suite(junit_suite);
    }
    for (file, problems) in load_problems(report) {
        junit.add_test_suite(errored_suite(&file, &file, &problems));
    }
    finish(&junit)
}

/// The document `--format junit` prints when avpctl cannot do its job.
pub fn failure(command: &str, problems: &[Diagnostic]) -> String {
    let mut junit = Report::new("avpctl");
    let problems: Vec<&Diagnostic> = problems.iter().collect();
    junit.add_test_suite(errored_suite(
        &format!("avpctl {command}"),
        command,
        &problems,
    ));
    finish(&junit)
}

fn case(outcome: &CaseOutcome, file: &str) -> TestCase {
    let status = if outcome.passed() {
        TestCaseStatus::success()
    } else {
        let mut failed = TestCaseStatus::non_success(NonSuccessKind::Failure);
        failed
            .set_message(outcome.failures.first().cloned().unwrap_or_default())
            .set_type(outcome.decision.map_or("not-evaluated", decision_name))
            .set_description(failure_body(outcome));
        failed
    };
    let mut case = TestCase::new(outcome.check.name.clone(), status);
    case.set_classname(file.to_string())
        .set_time(outcome.duration);
    case.extra.insert("file".into(), file.into());
    case.extra.insert(
        "line".into(),
        outcome.check.location.line.to_string().into(),
    );
    case
}

/// Everything a reader of the CI log needs to see why a case failed.
fn failure_body(outcome: &CaseOutcome) -> String {
    let mut body = outcome.failures.join("\n");
    let _ = write!(
        body,
        "\nrequest: principal {}, action {}, resource {}\ndetermining policies: {}",
        outcome.check.principal,
        outcome.check.action,
        outcome.check.resource,
        if outcome.reasons.is_empty() {
            "none".to_string()
        } else {
            outcome.reasons.join(", ")
        }
    );
    for error in &outcome.errors {
        let _ = write!(body, "\nerror in {}: {}", error.policy, error.message);
    }
    body
}

/// A suite named `name` with one errored case per problem, named after its
/// place (`tests/a.yaml:5:6: does not load`).
fn errored_suite(name: &str, classname: &str, problems: &[&Diagnostic]) -> TestSuite {
    let mut suite = TestSuite::new(name.to_string());
    for problem in problems {
        let place = problem
            .location
            .as_ref()
            .map_or_else(|| problem.code.clone(), |l| l.short());
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status
            .set_message(problem.message.clone())
            .set_type(problem.code.clone())
            .set_description(problem.help.clone().unwrap_or_default());
        let mut case = TestCase::new(format!("{place}: does not load"), status);
        case.set_classname(classname.to_string());
        if let Some(location) = &problem.location {
            case.extra
                .insert("file".into(), location.file.display().into());
            case.extra
                .insert("line".into(), location.line.to_string().into());
        }
        suite.add_test_case(case);
    }
    suite
}

/// Suites and entity files that failed to load, by file.
fn load_problems(report: &RunReport) -> BTreeMap<String, Vec<&Diagnostic>> {
    let mut by_file: BTreeMap<String, Vec<&Diagnostic>> = BTreeMap::new();
    for problem in report.diagnostics.iter().filter(|d| d.is_error()) {
        let file = problem
            .location
            .as_ref()
            .map_or_else(|| "avpctl test".to_string(), |l| l.file.display());
        by_file.entry(file).or_default().push(problem);
    }
    by_file
}

fn finish(junit: &Report) -> String {
    junit.to_string().unwrap_or_else(|err| {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- avpctl could not write the report: {err} -->\n<testsuites name=\"avpctl\"/>\n")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    #[test]
    fn markup_and_control_characters_cannot_break_the_document() {
        let file = SourceFile::new("tests/a.yaml", "x\n");
        let problem =
            Diagnostic::error("syntax", "a<b & \"c\"\u{1}\u{1b}[8m").at(file.location(0..1));
        let xml = failure("test", &[problem]);
        assert!(xml.contains("a&lt;b &amp; &quot;c&quot;"), "{xml}");
        assert!(!xml.contains('\u{1}') && !xml.contains('\u{1b}'), "{xml:?}");
    }
}
