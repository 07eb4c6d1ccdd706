//! `avpctl fmt` for people and machines.

use std::path::Path;

use serde::Serialize;

use crate::fmt::{FileOutcome, FileStatus};
use crate::report::Style;
use crate::report::json::{DiagnosticJson, Version};
use crate::source::display_path;

pub fn colour_diff(diff: &str, style: Style) -> String {
    diff.lines()
        .map(|line| style.diff_line(line))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

pub fn human(outcomes: &[FileOutcome], check: bool, style: Style) -> String {
    let mut out = String::new();
    for outcome in outcomes {
        match &outcome.status {
            FileStatus::Unchanged => {}
            FileStatus::Reformatted => {
                out.push_str(&format!("reformatted {}\n", display_path(&outcome.path)))
            }
            FileStatus::WouldReformat => {
                out.push_str(&format!(
                    "{} {}\n",
                    style.yellow("would reformat"),
                    display_path(&outcome.path)
                ));
                out.push_str(&colour_diff(&outcome.diff, style));
            }
            FileStatus::Failed(diagnostics) | FileStatus::Skipped(diagnostics) => {
                for d in diagnostics {
                    out.push_str(&crate::report::human::render(d, style, Path::new("")));
                }
            }
        }
    }
    let count = |wanted| tally(outcomes, wanted);
    let changed = count(|s| matches!(s, FileStatus::Reformatted | FileStatus::WouldReformat));
    let unchanged = count(|s| matches!(s, FileStatus::Unchanged));
    let failed = count(|s| matches!(s, FileStatus::Failed(_)));
    let skipped = count(|s| matches!(s, FileStatus::Skipped(_)));
    let verb = if check {
        "would be reformatted"
    } else {
        "reformatted"
    };
    out.push_str(&format!(
        "fmt: {}, {unchanged} already formatted",
        crate::text::count(changed, &format!("file {verb}"), &format!("files {verb}"))
    ));
    if failed > 0 {
        out.push_str(&format!(
            ", {}",
            style.red(&format!("{failed} could not be formatted"))
        ));
    }
    if skipped > 0 {
        out.push_str(&format!(", {}", style.red(&format!("{skipped} skipped"))));
    }
    out.push('\n');
    out
}

/// How many files have a status `wanted` accepts.
fn tally(outcomes: &[FileOutcome], wanted: fn(&FileStatus) -> bool) -> usize {
    outcomes.iter().filter(|o| wanted(&o.status)).count()
}

/// The fmt document (docs/output.md).
#[derive(Serialize)]
pub struct FmtDocument<'a> {
    version: Version,
    check: bool,
    summary: FmtSummary,
    files: Vec<FileJson<'a>>,
}

#[derive(Serialize)]
struct FmtSummary {
    files: usize,
    changed: usize,
    failed: usize,
    skipped: usize,
}

/// A file: `diff` only when it changes, `diagnostics` only when it could
/// not be formatted or was skipped.
#[derive(Serialize)]
struct FileJson<'a> {
    file: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostics: Option<Vec<DiagnosticJson<'a>>>,
}

pub fn json(outcomes: &[FileOutcome], check: bool) -> FmtDocument<'_> {
    let files = outcomes
        .iter()
        .map(|o| FileJson {
            file: display_path(&o.path),
            status: o.status.as_str(),
            diff: Some(o.diff.as_str()).filter(|diff| !diff.is_empty()),
            diagnostics: match &o.status {
                FileStatus::Failed(diagnostics) | FileStatus::Skipped(diagnostics) => {
                    Some(crate::report::json::diagnostics(diagnostics))
                }
                _ => None,
            },
        })
        .collect();
    let count = |wanted| tally(outcomes, wanted);
    FmtDocument {
        version: Version,
        check,
        summary: FmtSummary {
            files: outcomes.len(),
            changed: count(|s| matches!(s, FileStatus::Reformatted | FileStatus::WouldReformat)),
            failed: count(|s| matches!(s, FileStatus::Failed(_))),
            skipped: count(|s| matches!(s, FileStatus::Skipped(_))),
        },
        files,
    }
}
