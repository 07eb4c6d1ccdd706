//! Diagnostics as JSON (docs/output.md): stable keys, `file` relative to the
//! project, `line`/`column` from 1.

use serde_json::{Value, json};

use crate::diagnostic::Diagnostic;
use crate::validate::Report;

pub fn diagnostic(d: &Diagnostic) -> Value {
    let (file, line, column, end_line, end_column) = match &d.location {
        Some(location) => {
            let end = d
                .labels
                .first()
                .map_or(location.span.end, |label| label.span.end);
            let (end_line, end_column) = location.file.line_column(end);
            (
                Value::from(location.file.display()),
                Value::from(location.line),
                Value::from(location.column),
                Value::from(end_line),
                Value::from(end_column),
            )
        }
        None => (
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ),
    };
    json!({
        "severity": d.severity.as_str(),
        "code": d.code,
        "file": file,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "message": d.message,
        "help": d.help,
        "policy": d.policy,
        "related": d.related.iter().map(diagnostic).collect::<Vec<_>>(),
    })
}

pub fn validate_report(report: &Report) -> Value {
    let counts = report.counts();
    json!({
        "version": 1,
        "summary": {
            "errors": counts.errors,
            "warnings": counts.warnings,
            "files": report.stats.files,
            "policies": report.stats.policies,
            "templates": report.stats.templates,
            "links": report.stats.links,
        },
        "notes": report.notes,
        "diagnostics": report.diagnostics.iter().map(diagnostic).collect::<Vec<_>>(),
    })
}
