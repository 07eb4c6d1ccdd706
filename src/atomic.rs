//! Replacing a file so that a reader (or a crash) sees either the old or
//! the new content, never a mix: write a temporary file beside it, flush it
//! to disk, then rename it over the original.
//!
//! The temporary file is created exclusively (`O_CREAT|O_EXCL`, a random
//! name `.<name>.XXXXXX.avpctl.tmp`, by the `tempfile` crate), so a symbolic
//! link planted under a predictable name cannot redirect the write. A file
//! is never replaced when replacing it would lose something the user did
//! not ask to lose: a read-only file, a hard link (renaming breaks it), or
//! the file's owner, group and mode.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The suffix of every temporary file avpctl writes; the prefix is
/// `.<name>.`, so `.<name>.*.avpctl.tmp` finds the leftovers of a killed
/// write of `<name>`.
pub const TEMPORARY_SUFFIX: &str = ".avpctl.tmp";

/// Why a file was not replaced. The messages read after the file's path.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("is read-only; avpctl does not replace a file it may not write")]
    ReadOnly,
    #[error(
        "has {0} hard links; replacing it would break the link, so it was left as it is (format a copy, or remove the other links)"
    )]
    HardLinked(u64),
    #[error("is a symbolic link; format its target instead")]
    Symlink,
    #[error("is not a regular file")]
    NotRegular,
    #[error("changed while formatting; run fmt again")]
    Changed,
    #[error("cannot keep its owner and group ({0}); it was left as it is")]
    Ownership(std::io::Error),
}

impl WriteError {
    /// A short code for diagnostics.
    pub fn code(&self) -> &'static str {
        match self {
            WriteError::Io(_) => "io",
            WriteError::ReadOnly => "fmt-read-only",
            WriteError::HardLinked(_) => "fmt-hard-link",
            WriteError::Symlink => "fmt-symlink",
            WriteError::NotRegular => "fmt-not-regular",
            WriteError::Changed => "fmt-changed",
            WriteError::Ownership(_) => "fmt-ownership",
        }
    }
}

/// Writes `content` to `path` atomically (the embedded store's file). A
/// symbolic link is followed, even a dangling one: its target is replaced
/// (or created), never the link itself.
pub fn write(path: &Path, content: &[u8]) -> Result<(), WriteError> {
    let target = resolve_links(path);
    replace_at(&target, content, &mut || Ok(()))
}

/// Replaces the existing file at `path` without following a symbolic link
/// (`fmt`). `before_rename` runs once the new content is on disk,
/// immediately before the rename: an error from it leaves the file as it is
/// (that is where `fmt` checks that nobody changed the file meanwhile).
pub fn replace(
    path: &Path,
    content: &[u8],
    before_rename: &mut dyn FnMut() -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    replace_at(path, content, before_rename)
}

fn replace_at(
    target: &Path,
    content: &[u8],
    before_rename: &mut dyn FnMut() -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    let existing = match std::fs::symlink_metadata(target) {
        Ok(metadata) => Some(metadata),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err.into()),
    };
    if let Some(metadata) = &existing {
        check_replaceable(target, metadata)?;
    }
    let directory = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    // Exclusive creation with a random name: nothing planted beside the
    // target can be followed or overwritten. Dropping `temporary` on any
    // error below removes it.
    let mut temporary = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(TEMPORARY_SUFFIX)
        .tempfile_in(directory)?;
    temporary.write_all(content)?;
    if let Some(metadata) = &existing {
        keep_owner_and_mode(temporary.as_file(), metadata)?;
    }
    temporary.as_file().sync_all()?;
    before_rename()?;
    temporary.persist(target).map_err(|err| err.error)?;
    sync_directory(directory);
    Ok(())
}

/// The checks before replacing an existing file: a regular file, with one
/// link, that the user may write.
fn check_replaceable(target: &Path, metadata: &std::fs::Metadata) -> Result<(), WriteError> {
    if metadata.file_type().is_symlink() {
        return Err(WriteError::Symlink);
    }
    if !metadata.is_file() {
        return Err(WriteError::NotRegular);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if metadata.nlink() > 1 {
            return Err(WriteError::HardLinked(metadata.nlink()));
        }
    }
    if metadata.permissions().readonly() {
        return Err(WriteError::ReadOnly);
    }
    // The kernel's own answer to "may this user write it" (owner, group,
    // ACLs): open it for writing without truncating, which changes nothing.
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    match options.open(target) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => Err(WriteError::ReadOnly),
        Err(err) => Err(err.into()),
    }
}

/// Gives the new file the old one's owner, group and permission bits. The
/// owner and group go first: changing them may clear set-id bits.
fn keep_owner_and_mode(
    file: &std::fs::File,
    metadata: &std::fs::Metadata,
) -> Result<(), WriteError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let new = file.metadata()?;
        let uid = (new.uid() != metadata.uid()).then_some(metadata.uid());
        let gid = (new.gid() != metadata.gid()).then_some(metadata.gid());
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::fchown(file, uid, gid).map_err(WriteError::Ownership)?;
        }
    }
    file.set_permissions(metadata.permissions())?;
    Ok(())
}

/// Follows symbolic links from `path` to the file they end at, whether or
/// not it exists (a store alias may point to a store not yet written). A
/// loop, or a chain longer than the kernel's own limit, stops where it is.
pub fn resolve_links(path: &Path) -> PathBuf {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let Ok(target) = std::fs::read_link(&current) else {
                    break;
                };
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            _ => break,
        }
    }
    current
}

/// The canonical path of the file `path` ends at (links followed, the
/// directory canonicalized), whether or not the file exists yet. The
/// directory must exist.
pub fn canonical_target(path: &Path) -> std::io::Result<PathBuf> {
    let target = resolve_links(path);
    let directory = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    Ok(std::fs::canonicalize(directory)?.join(name))
}

/// Makes the rename itself durable (on Unix, the directory entry).
fn sync_directory(directory: &Path) {
    #[cfg(unix)]
    if let Ok(directory) = std::fs::File::open(directory) {
        let _ = directory.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cedar");
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        write(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o640
            );
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_at_the_old_temporary_name_cannot_redirect_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("a.cedar");
        std::fs::write(&path, "old").unwrap();
        // The name the previous version used, and names of the new pattern
        // an attacker might guess: none is opened.
        for planted in [
            format!(".a.cedar.avpctl-{}.tmp", std::process::id()),
            ".a.cedar.000000.avpctl.tmp".to_string(),
        ] {
            std::os::unix::fs::symlink(&victim, dir.path().join(planted)).unwrap();
        }
        write(&path, b"new").unwrap();
        replace(&path, b"newer", &mut || Ok(())).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "newer");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[cfg(unix)]
    #[test]
    fn read_only_and_hard_linked_files_are_not_replaced() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let read_only = dir.path().join("ro.cedar");
        std::fs::write(&read_only, "old").unwrap();
        std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
        assert!(matches!(
            replace(&read_only, b"new", &mut || Ok(())),
            Err(WriteError::ReadOnly)
        ));
        assert_eq!(std::fs::read_to_string(&read_only).unwrap(), "old");

        let linked = dir.path().join("linked.cedar");
        let other = dir.path().join("other-name.cedar");
        std::fs::write(&linked, "old").unwrap();
        std::fs::hard_link(&linked, &other).unwrap();
        assert!(matches!(
            replace(&linked, b"new", &mut || Ok(())),
            Err(WriteError::HardLinked(2))
        ));
        assert_eq!(std::fs::read_to_string(&linked).unwrap(), "old");
        assert_eq!(
            std::fs::metadata(&linked).unwrap().ino(),
            std::fs::metadata(&other).unwrap().ino(),
            "the link is intact"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "no temporary file left: {names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn replace_refuses_a_symlink_and_write_replaces_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("store.json");
        let alias = dir.path().join("alias.json");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink("store.json", &alias).unwrap();
        assert!(matches!(
            replace(&alias, b"new", &mut || Ok(())),
            Err(WriteError::Symlink)
        ));
        write(&alias, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&alias)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert_eq!(
            canonical_target(&alias).unwrap(),
            std::fs::canonicalize(&real).unwrap()
        );
    }

    #[test]
    fn an_error_before_the_rename_leaves_the_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cedar");
        std::fs::write(&path, "old").unwrap();
        let result = replace(&path, b"new", &mut || Err(WriteError::Changed));
        assert!(matches!(result, Err(WriteError::Changed)));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
