//! `avpctl validate` for people (each finding with its snippet, the notes,
//! then one summary line) and as JSON.

use std::path::Path;

use serde::Serialize;

use crate::report::Style;
use crate::report::json::{DiagnosticJson, Version};
use crate::text::{count, plural};
use crate::validate::Report;

pub fn human(report: &Report, style: Style, dir: &Path) -> String {
    let mut out = String::new();
    for diagnostic in &report.diagnostics {
        out.push_str(&crate::report::human::render(diagnostic, style, dir));
        out.push('\n');
    }
    for note in &report.notes {
        out.push_str(&format!("{} {note}\n", style.cyan("note:")));
    }
    let counts = report.counts();
    let stats = report.stats;
    let checked = [
        count(stats.policies, "policy", "policies"),
        count(stats.templates, "template", "templates"),
        count(stats.links, "link", "links"),
    ]
    .join(", ")
        + &format!(" in {}", count(stats.files, "file", "files"));
    let verdict = match (counts.errors, counts.warnings) {
        (0, 0) => style.green("valid"),
        (0, w) => style.yellow(&format!("valid with {w} warning{}", plural(w))),
        (e, w) => style.red(&format!("{e} error{}, {w} warning{}", plural(e), plural(w))),
    };
    out.push_str(&format!(
        "{} {checked}: {verdict}\n",
        style.bold("validate:")
    ));
    out
}

/// The validate document (docs/output.md).
#[derive(Serialize)]
pub struct ValidateDocument<'a> {
    version: Version,
    summary: ValidateSummary,
    notes: &'a [String],
    diagnostics: Vec<DiagnosticJson<'a>>,
}

#[derive(Serialize)]
struct ValidateSummary {
    errors: usize,
    warnings: usize,
    files: usize,
    policies: usize,
    templates: usize,
    links: usize,
}

pub fn json(report: &Report) -> ValidateDocument<'_> {
    let counts = report.counts();
    let stats = report.stats;
    ValidateDocument {
        version: Version,
        summary: ValidateSummary {
            errors: counts.errors,
            warnings: counts.warnings,
            files: stats.files,
            policies: stats.policies,
            templates: stats.templates,
            links: stats.links,
        },
        notes: &report.notes,
        diagnostics: crate::report::json::diagnostics(&report.diagnostics),
    }
}
