//! `avpctl validate`: load → check → report.

use super::{ExitCode, Settings};
use crate::cli::{ValidateArgs, ValidateFormat};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::report;
use crate::validate::Report;

pub fn run(args: &ValidateArgs, settings: &Settings) -> Result<ExitCode, Error> {
    let loaded = crate::project::load(&args.dir)?;
    let mut found = crate::validate::validate(&loaded);
    if args.prove {
        found
            .diagnostics
            .extend(crate::validate::proven(&loaded.project)?);
        found.diagnostics.sort_by_key(Diagnostic::sort_key);
    }
    let out = match args.format {
        ValidateFormat::Human => report::validate::human(&found, settings.out, &args.dir),
        ValidateFormat::Json => report::json::pretty(&report::validate::json(&found)),
        ValidateFormat::Github => report::github::annotations(&found.diagnostics, &args.dir),
        ValidateFormat::Sarif => {
            format!("{:#}\n", report::sarif::log(&found.diagnostics, &args.dir))
        }
        ValidateFormat::Markdown => report::validate::markdown(&found, &args.dir, &settings.links),
    };
    crate::output::print(&out)?;
    Ok(exit_code(&found, args.deny_warnings))
}

/// Failure when an input could not be read; findings for errors (and for
/// warnings under `--deny-warnings`).
pub(super) fn exit_code(found: &Report, deny_warnings: bool) -> ExitCode {
    let counts = found.counts();
    if found.diagnostics.iter().any(|d| d.unreadable) {
        ExitCode::Failure
    } else {
        ExitCode::findings_if(counts.errors > 0 || (deny_warnings && counts.warnings > 0))
    }
}
