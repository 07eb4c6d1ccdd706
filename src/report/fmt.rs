//! `avpctl fmt` for people and machines.

use std::path::Path;

use serde_json::json;

use crate::fmt::{FileOutcome, FileStatus};
use crate::report::Style;
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
    let count =
        |wanted: fn(&FileStatus) -> bool| outcomes.iter().filter(|o| wanted(&o.status)).count();
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

pub fn json(outcomes: &[FileOutcome], check: bool) -> serde_json::Value {
    let files: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let mut file = json!({"file": display_path(&o.path), "status": o.status.as_str()});
            if !o.diff.is_empty() {
                file["diff"] = json!(o.diff);
            }
            if let FileStatus::Failed(diagnostics) | FileStatus::Skipped(diagnostics) = &o.status {
                file["diagnostics"] = diagnostics
                    .iter()
                    .map(crate::report::json::diagnostic)
                    .collect();
            }
            file
        })
        .collect();
    json!({
        "version": 1,
        "check": check,
        "summary": {
            "files": outcomes.len(),
            "changed": outcomes.iter().filter(|o| matches!(o.status, FileStatus::Reformatted | FileStatus::WouldReformat)).count(),
            "failed": outcomes.iter().filter(|o| matches!(o.status, FileStatus::Failed(_))).count(),
            "skipped": outcomes.iter().filter(|o| matches!(o.status, FileStatus::Skipped(_))).count(),
        },
        "files": files,
    })
}
