//! `avpctl fmt`: Cedar files in canonical form (`--check` only reports).

use std::io::Read;
use std::path::Path;

use super::{ExitCode, Settings};
use crate::cli::{FmtArgs, PlainFormat};
use crate::error::Error;
use crate::fmt::{FileOutcome, FileStatus, StdinOutcome};
use crate::report;

pub fn run(args: &FmtArgs, settings: &Settings) -> Result<ExitCode, Error> {
    if args.paths.iter().any(|p| p.as_os_str() == "-") {
        if args.paths.len() > 1 {
            return Err(Error::Usage(
                "`-` (stdin) cannot be combined with other paths".into(),
            ));
        }
        return stdin(args, settings);
    }
    let outcomes = crate::fmt::format_paths(args)?;
    let out = match args.format {
        PlainFormat::Human => report::fmt::human(&outcomes, args.check, settings.out),
        PlainFormat::Json => report::json::pretty(&report::fmt::json(&outcomes, args.check)),
    };
    crate::output::print(&out)?;
    Ok(exit_code(&outcomes))
}

/// Failure when a file could not be formatted or was left alone on purpose;
/// findings when one would be reformatted.
fn exit_code(outcomes: &[FileOutcome]) -> ExitCode {
    let any = |wanted: fn(&FileStatus) -> bool| outcomes.iter().any(|o| wanted(&o.status));
    if any(|s| matches!(s, FileStatus::Failed(_) | FileStatus::Skipped(_))) {
        ExitCode::Failure
    } else {
        ExitCode::findings_if(any(|s| matches!(s, FileStatus::WouldReformat)))
    }
}

/// `avpctl fmt -`: stdin to stdout, for editors; diagnostics go to stderr.
fn stdin(args: &FmtArgs, settings: &Settings) -> Result<ExitCode, Error> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|err| Error::io("<stdin>", err))?;
    match crate::fmt::format_stdin_text(args, text)? {
        StdinOutcome::Unchanged => Ok(ExitCode::Success),
        StdinOutcome::WouldReformat(diff) => {
            crate::output::print(&report::fmt::colour_diff(&diff, settings.out))?;
            Ok(ExitCode::Findings)
        }
        StdinOutcome::Formatted(formatted) => {
            crate::output::print(&formatted)?;
            Ok(ExitCode::Success)
        }
        StdinOutcome::Failed(diagnostics) => {
            for d in diagnostics {
                crate::output::eprint(&report::human::render(&d, settings.err, Path::new("")));
            }
            Ok(ExitCode::Failure)
        }
    }
}
