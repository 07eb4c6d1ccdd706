//! Finding a project's `.cedar` files (and suites): recursive with
//! `walkdir`, in a stable order, safe against symbolic link loops, and never
//! leaving the project.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::source::display_path;

/// Directories nested deeper than this are not followed (a guard beside the
/// loop detection, for absurd trees).
const MAX_DEPTH: usize = 64;

/// Every `*.cedar` file below `root/dir`, as paths relative to `root`,
/// sorted by path so ids and reports do not depend on the file system.
/// A missing `dir` is an empty project part, not an error.
pub fn cedar_files(root: &Path, dir: &Path) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    files_with_extension(root, dir, "cedar")
}

pub fn files_with_extension(
    root: &Path,
    dir: &Path,
    extension: &str,
) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    if !root.join(dir).is_dir() {
        return (files, diagnostics);
    }
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let relative = |path: &Path| path.strip_prefix(root).unwrap_or(path).to_path_buf();
    // Where an entry really is, after every link (the containment rule of
    // crate::files, with the project's canonical path computed once).
    let inside = |full: &Path| {
        full.canonicalize()
            .is_ok_and(|canonical| canonical.starts_with(&canonical_root))
    };
    let mut entries = WalkDir::new(root.join(dir))
        .follow_links(true)
        .max_depth(MAX_DEPTH + 1)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = entries.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                diagnostics.push(walk_problem(&err, &relative));
                continue;
            }
        };
        let path = relative(entry.path());
        let kind = entry.file_type();
        let named_like_one = path.extension().is_some_and(|e| e == extension);
        if kind.is_dir() {
            if let Some(problem) = unwalkable(inside(entry.path()), &path, entry.depth()) {
                diagnostics.push(problem);
                entries.skip_current_dir();
            }
        } else if !named_like_one {
            continue;
        } else if kind.is_file() {
            // A file reached through a link that leaves the project is
            // reported, never read.
            if inside(entry.path()) {
                files.push(path);
            } else {
                diagnostics.push(Diagnostic::from(&Error::OutsideProject {
                    path: display_path(&path),
                }));
            }
        } else if let Ok(meta) = entry.metadata() {
            // A FIFO or device named like a policy is reported, never
            // opened (opening a FIFO blocks).
            let err = Error::NotARegularFile {
                path: display_path(&path),
                kind: crate::files::file_kind(&meta),
            };
            diagnostics.push(Diagnostic::from(&err));
        }
    }
    files.sort();
    (files, diagnostics)
}

/// Why a directory is not walked: a link to elsewhere (`policies/x ->
/// /etc`: its files are not the project's), or a tree deeper than
/// [`MAX_DEPTH`].
fn unwalkable(inside: bool, path: &Path, depth: usize) -> Option<Diagnostic> {
    if !inside {
        return Some(Diagnostic::from(&Error::OutsideProject {
            path: display_path(path),
        }));
    }
    (depth > MAX_DEPTH).then(|| {
        Diagnostic::error(
            "too-deep",
            format!(
                "{} is nested more than {MAX_DEPTH} directories deep; not read",
                display_path(path)
            ),
        )
        .with_help("flatten the directory tree")
    })
}

fn walk_problem(err: &walkdir::Error, relative: &dyn Fn(&Path) -> PathBuf) -> Diagnostic {
    let path = err.path().map(relative).unwrap_or_default();
    let error = if err.loop_ancestor().is_some()
        || err.io_error().and_then(std::io::Error::raw_os_error) == Some(40)
    {
        // A link back to an ancestor, or (ELOOP) a link to itself.
        Error::SymlinkLoop {
            path: display_path(&path),
            target: err
                .loop_ancestor()
                .map_or_else(|| display_path(&path), |a| display_path(&relative(a))),
        }
    } else {
        let source = err
            .io_error()
            .map(|e| std::io::Error::new(e.kind(), e.to_string()))
            .unwrap_or_else(|| std::io::Error::other(err.to_string()));
        Error::io(display_path(&path), source)
    };
    Diagnostic::from(&error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_come_sorted_and_recursive() {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir_all(policies.join("b")).unwrap();
        std::fs::write(policies.join("z.cedar"), "").unwrap();
        std::fs::write(policies.join("b/a.cedar"), "").unwrap();
        std::fs::write(policies.join("a.txt"), "").unwrap();
        let (files, diagnostics) = cedar_files(dir.path(), Path::new("policies"));
        assert!(diagnostics.is_empty());
        assert_eq!(
            files,
            vec![
                PathBuf::from("policies/b/a.cedar"),
                PathBuf::from("policies/z.cedar")
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_back_to_an_ancestor_is_reported_once_and_walking_ends() {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir_all(policies.join("sub")).unwrap();
        std::fs::write(policies.join("sub/p.cedar"), "").unwrap();
        std::os::unix::fs::symlink("..", policies.join("sub/loop")).unwrap();
        let (files, diagnostics) = cedar_files(dir.path(), Path::new("policies"));
        assert_eq!(files, vec![PathBuf::from("policies/sub/p.cedar")]);
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, "symlink-loop");
        assert!(diagnostics[0].message.contains("policies/sub/loop"));
    }
}
