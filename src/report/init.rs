//! `avpctl init` for people and machines: the files of the new project.

use std::path::Path;

use serde::Serialize;

use crate::report::Style;
use crate::report::json::Version;
use crate::scaffold::ProjectFile;

pub fn human(dir: &Path, files: &[ProjectFile], style: Style) -> String {
    let dir = crate::text::one_line(&crate::source::display_path(dir)).into_owned();
    let mut out = format!("{} a policy project in {dir}:\n", style.bold("Created"));
    for file in files {
        out.push_str(&format!("  {}\n", crate::source::display_path(&file.path)));
    }
    out.push_str(&format!(
        "Next: `avpctl validate {dir}`, `avpctl test {dir}`, `avpctl deploy {dir} --yes` (to the local store .avpctl/store.json)\n"
    ));
    out
}

/// The init document (docs/output.md).
#[derive(Serialize)]
pub struct InitDocument {
    version: Version,
    dir: String,
    files: Vec<String>,
}

pub fn json(dir: &Path, files: &[ProjectFile]) -> InitDocument {
    InitDocument {
        version: Version,
        dir: crate::source::display_path(dir),
        files: files
            .iter()
            .map(|f| crate::source::display_path(&f.path))
            .collect(),
    }
}
