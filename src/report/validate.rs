//! `avpctl validate` for people (each finding with its snippet, the notes,
//! then one summary line), as JSON and as Markdown.

use std::path::Path;

use serde::Serialize;

use crate::report::Style;
use crate::report::json::{DiagnosticJson, Version};
use crate::report::markdown::{self, Links, Markdown};
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
    let checked = checked(report);
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

/// "7 policies, 1 template, 2 links in 8 files".
fn checked(report: &Report) -> String {
    let stats = report.stats;
    [
        count(stats.policies, "policy", "policies"),
        count(stats.templates, "template", "templates"),
        count(stats.links, "link", "links"),
    ]
    .join(", ")
        + &format!(" in {}", count(stats.files, "file", "files"))
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

/// The validate report for a pull-request comment or a step summary.
pub fn markdown(report: &Report, dir: &Path, links: &Links) -> String {
    let counts = report.counts();
    let verdict = match (counts.errors, counts.warnings) {
        (0, 0) => "✅ valid".to_string(),
        (0, w) => format!("✅ valid with {w} warning{}", plural(w)),
        (e, w) => format!("❌ {e} error{}, {w} warning{}", plural(e), plural(w)),
    };
    let mut md = Markdown::new();
    md.heading(2, &format!("avpctl validate: {verdict}"));
    md.paragraph(&markdown::text(&format!("{}.", checked(report))));
    if !report.diagnostics.is_empty() {
        markdown::diagnostics_table(&mut md, &report.diagnostics, dir, links);
    }
    if !report.notes.is_empty() {
        let notes: Vec<String> = report.notes.iter().map(|n| markdown::text(n)).collect();
        md.list(notes.iter().map(String::as_str));
    }
    md.finish()
}
