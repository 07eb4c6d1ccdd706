//! JUnit XML, the test-report format GitLab, GitHub test reporters and
//! Jenkins read: one `<testsuite>` per suite file, one `<testcase>` per case.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::testing::outcome::{CaseOutcome, RunReport};
use crate::testing::runner::decision_name;

pub fn render(report: &RunReport) -> String {
    let summary = report.summary();
    let mut by_suite: BTreeMap<usize, Vec<&CaseOutcome>> = BTreeMap::new();
    for outcome in &report.outcomes {
        by_suite.entry(outcome.suite).or_default().push(outcome);
    }
    let problems = load_problems(report);
    let errored: usize = problems.values().map(Vec::len).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"avpctl\" tests=\"{}\" failures=\"{}\" errors=\"{errored}\" time=\"{:.3}\">",
        summary.total + errored,
        summary.failed,
        report.elapsed.as_secs_f64()
    );
    for (suite, outcomes) in by_suite {
        let file = report.suites[suite].file.display();
        let failures = outcomes.iter().filter(|o| !o.passed()).count();
        let time: f64 = outcomes.iter().map(|o| o.duration.as_secs_f64()).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">",
            escape(&file),
            outcomes.len()
        );
        for outcome in outcomes {
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.6}\"",
                escape(&outcome.check.name),
                escape(&file),
                escape(&file),
                outcome.check.location.line,
                outcome.duration.as_secs_f64()
            );
            if outcome.passed() {
                xml.push_str("/>\n");
                continue;
            }
            let message = outcome.failures.first().cloned().unwrap_or_default();
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
            let _ = writeln!(
                xml,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                escape(&message),
                outcome.decision.map_or("not-evaluated", decision_name),
                escape(&body)
            );
        }
        xml.push_str("  </testsuite>\n");
    }
    for (file, problems) in problems {
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"0\" errors=\"{}\" time=\"0.000\">",
            escape(&file),
            problems.len(),
            problems.len()
        );
        for problem in problems {
            let place = problem
                .location
                .as_ref()
                .map(|l| l.short())
                .unwrap_or_else(|| file.clone());
            let _ = writeln!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\"{}>\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>",
                escape(&format!("{place}: does not load")),
                escape(&file),
                escape(&file),
                problem
                    .location
                    .as_ref()
                    .map_or_else(String::new, |l| format!(" line=\"{}\"", l.line)),
                escape(&problem.message),
                escape(&problem.code),
                escape(problem.help.as_deref().unwrap_or_default())
            );
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Suites and entity files that failed to load, by file: test views show
/// errored test cases, not a count on the root element.
fn load_problems(report: &RunReport) -> BTreeMap<String, Vec<&crate::diagnostic::Diagnostic>> {
    let mut by_file: BTreeMap<String, Vec<&crate::diagnostic::Diagnostic>> = BTreeMap::new();
    for problem in report.diagnostics.iter().filter(|d| d.is_error()) {
        let file = problem
            .location
            .as_ref()
            .map_or_else(|| "avpctl test".to_string(), |l| l.file.display());
        by_file.entry(file).or_default().push(problem);
    }
    by_file
}

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\\u{1}"
        );
    }
}
