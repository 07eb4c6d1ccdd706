//! Finding a project's `.cedar` files: recursive, in a stable order, and
//! safe against symbolic link loops.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

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
    let mut walk = Walk {
        root,
        canonical_root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
        extension,
        files: Vec::new(),
        diagnostics: Vec::new(),
    };
    if root.join(dir).is_dir() {
        let mut ancestors = HashSet::new();
        walk.visit(dir, &mut ancestors, 0);
    }
    walk.files.sort();
    (walk.files, walk.diagnostics)
}

struct Walk<'a> {
    root: &'a Path,
    canonical_root: PathBuf,
    extension: &'a str,
    files: Vec<PathBuf>,
    diagnostics: Vec<Diagnostic>,
}

impl Walk<'_> {
    fn visit(&mut self, dir: &Path, ancestors: &mut HashSet<PathBuf>, depth: usize) {
        let full = self.root.join(dir);
        let canonical = match full.canonicalize() {
            Ok(canonical) => canonical,
            Err(err) => return self.io_problem(dir, err),
        };
        if !canonical.starts_with(&self.canonical_root) {
            // A link to a directory elsewhere (`policies/x -> /etc`): its
            // files are not the project's, and are neither read nor listed.
            let err = Error::OutsideProject {
                path: display_path(dir),
            };
            self.diagnostics.push(Diagnostic::from(&err));
            return;
        }
        if !ancestors.insert(canonical.clone()) {
            let err = Error::SymlinkLoop {
                path: display_path(dir),
                target: canonical.display().to_string(),
            };
            self.diagnostics.push(Diagnostic::from(&err));
            return;
        }
        if depth > MAX_DEPTH {
            self.diagnostics.push(
                Diagnostic::error(
                    "too-deep",
                    format!(
                        "{} is nested more than {MAX_DEPTH} directories deep; not read",
                        display_path(dir)
                    ),
                )
                .with_help("flatten the directory tree"),
            );
            ancestors.remove(&canonical);
            return;
        }
        let entries = match std::fs::read_dir(&full) {
            Ok(entries) => entries,
            Err(err) => {
                ancestors.remove(&canonical);
                return self.io_problem(dir, err);
            }
        };
        let mut names: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            let relative = dir.join(&name);
            // `metadata` follows links; a dangling link or a link to itself
            // fails here and is reported with its path.
            match std::fs::metadata(self.root.join(&relative)) {
                Ok(meta) if meta.is_dir() => self.visit(&relative, ancestors, depth + 1),
                Ok(meta) if meta.is_file() => {
                    if relative.extension().is_some_and(|e| e == self.extension) {
                        self.push_file(relative);
                    }
                }
                Ok(meta) => {
                    // A FIFO or device named like a policy is reported, never
                    // opened (opening a FIFO blocks).
                    if relative.extension().is_some_and(|e| e == self.extension) {
                        let err = Error::NotARegularFile {
                            path: display_path(&relative),
                            kind: crate::source::file_kind(&meta),
                        };
                        self.diagnostics.push(Diagnostic::from(&err));
                    }
                }
                Err(err) => self.io_problem(&relative, err),
            }
        }
        ancestors.remove(&canonical);
    }

    /// A file reached through a link that leaves the project is reported,
    /// never read.
    fn push_file(&mut self, relative: PathBuf) {
        match crate::source::resolve_inside(self.root, &relative) {
            Ok(_) => self.files.push(relative),
            Err(err) => self.diagnostics.push(Diagnostic::from(&err)),
        }
    }

    fn io_problem(&mut self, path: &Path, err: std::io::Error) {
        let error = if err.raw_os_error() == Some(40) {
            // ELOOP: a link that resolves to itself.
            Error::SymlinkLoop {
                path: display_path(path),
                target: display_path(path),
            }
        } else {
            Error::io(display_path(path), err)
        };
        self.diagnostics.push(Diagnostic::from(&error));
    }
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
