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
