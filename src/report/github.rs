//! GitHub Actions workflow commands: each diagnostic becomes an annotation
//! on the pull request's changed lines.

use std::path::Path;

use crate::diagnostic::{Diagnostic, Severity};

/// One `::error …::message` line per diagnostic. `prefix` is the project
/// directory as given on the command line, so paths are relative to the
/// repository root where the workflow runs.
pub fn annotations(diagnostics: &[Diagnostic], prefix: &Path) -> String {
    diagnostics
        .iter()
        .map(|d| annotation(d, prefix))
        .collect::<Vec<_>>()
        .join("")
}

pub fn annotation(d: &Diagnostic, prefix: &Path) -> String {
    let command = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut properties = Vec::new();
    if let Some(location) = &d.location {
        let path = crate::report::human::shown_path(prefix, &location.file);
        properties.push(format!("file={}", escape_property(&path)));
        properties.push(format!("line={}", location.line));
        properties.push(format!("col={}", location.column));
        if let Some(label) = d.labels.first() {
            let (end_line, end_column) = location.file.line_column(label.span.end);
            properties.push(format!("endLine={end_line}"));
            if end_line == location.line {
                properties.push(format!("endColumn={end_column}"));
            }
        }
    }
    properties.push(format!(
        "title={}",
        escape_property(&format!("avpctl {}", d.code))
    ));
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    format!(
        "::{command} {}::{}\n",
        properties.join(","),
        escape_data(&message)
    )
}

/// `avpctl test --format github`: an `::error` on each failed case's line,
/// and one per problem that kept a suite from loading, then a `::notice`
/// with the summary line.
pub fn test_annotations(report: &crate::testing::outcome::RunReport, prefix: &Path) -> String {
    let mut out = String::new();
    for d in report.diagnostics.iter().chain(&report.warnings) {
        out.push_str(&annotation(d, prefix));
    }
    for outcome in report.outcomes.iter().filter(|o| !o.passed()) {
        let check = &outcome.check;
        let mut message = format!("{}: {}", check.name, outcome.failures.join("; "));
        if !outcome.reasons.is_empty() {
            message.push_str(&format!(
                "\ndetermining policies: {}",
                outcome.reasons.join(", ")
            ));
        }
        let failed = Diagnostic::error("test-failed", message).at(check.location.clone());
        out.push_str(&annotation(&failed, prefix));
    }
    let summary = report.summary();
    out.push_str(&format!(
        "::notice title={}::{}\n",
        escape_property("avpctl test"),
        escape_data(&format!(
            "{} cases run: {} passed, {} failed",
            summary.total, summary.passed, summary.failed
        ))
    ));
    out
}

/// Escaping rules of the runner's workflow-command parser.
fn escape_data(text: &str) -> String {
    crate::text::lines(text)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    #[test]
    fn a_message_or_property_cannot_start_another_command() {
        let file = SourceFile::new("tests/a,b:c.yaml", "x\n");
        let d = Diagnostic::error("x", "ok\n::error::forged\r%0A").at(file.location(0..1));
        let line = annotation(&d, Path::new(""));
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.contains("file=tests/a%2Cb%3Ac.yaml,"), "{line}");
        assert!(line.ends_with("::ok%0A::error::forged\\r%250A\n"), "{line}");
    }

    #[test]
    fn an_annotation_carries_file_line_column_and_escapes_newlines() {
        let file = SourceFile::new(
            "policies/a.cedar",
            "permit(principal, action, resource)\nwhen { 1 };\n",
        );
        let d = Diagnostic::error("type", "not a boolean\nat all: 100%").at(file.location(43..44));
        let line = annotation(&d, Path::new("project"));
        assert_eq!(
            line,
            "::error file=project/policies/a.cedar,line=2,col=8,endLine=2,endColumn=9,title=avpctl type::not a boolean%0Aat all: 100%25\n"
        );
    }
}
