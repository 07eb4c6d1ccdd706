//! `avpctl init [DIR]`: write the starter project (scaffold::starter_files)
//! into an absent or empty directory, and say what to run next.

use super::{ExitCode, Settings};
use crate::cli::InitArgs;
use crate::error::Error;

pub fn run(args: &InitArgs, settings: &Settings) -> Result<ExitCode, Error> {
    crate::scaffold::require_new_directory(&args.dir, "init")?;
    let files = crate::scaffold::starter_files();
    crate::scaffold::write_project(&args.dir, &files)?;
    let dir = crate::text::one_line(&crate::source::display_path(&args.dir)).into_owned();
    let style = settings.out;
    let mut out = format!("{} a policy project in {dir}:\n", style.bold("Created"));
    for file in &files {
        out.push_str(&format!("  {}\n", crate::source::display_path(&file.path)));
    }
    out.push_str(&format!(
        "Next: `avpctl validate {dir}`, `avpctl test {dir}`, `avpctl deploy {dir} --yes` (to the local store .avpctl/store.json)\n"
    ));
    crate::output::print(&out)?;
    Ok(ExitCode::Success)
}
