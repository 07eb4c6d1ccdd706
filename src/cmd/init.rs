//! `avpctl init [DIR]`: write the starter project (scaffold::starter_files)
//! into an absent or empty directory, and say what to run next.

use super::{ExitCode, Settings};
use crate::cli::{InitArgs, PlainFormat};
use crate::error::Error;
use crate::report;

pub fn run(args: &InitArgs, settings: &Settings) -> Result<ExitCode, Error> {
    crate::scaffold::require_new_directory(&args.dir, "init")?;
    let files = crate::scaffold::starter_files();
    crate::scaffold::write_project(&args.dir, &files)?;
    crate::output::print(&match args.format {
        PlainFormat::Human => report::init::human(&args.dir, &files, settings.out),
        PlainFormat::Json => report::json::pretty(&report::init::json(&args.dir, &files)),
    })?;
    Ok(ExitCode::Success)
}
