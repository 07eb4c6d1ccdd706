//! Reading the files a project names, safely: the containment rule (a path
//! from the project must resolve inside it), regular files only, and a
//! size limit on every read (docs/security.md).

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::source::{SourceFile, display_path};

/// Files larger than this are refused before they are read into memory.
/// AVP's own limit is 10,000 bytes per policy, so a legitimate project is
/// far below it.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a file the project names: `relative` below `root`. It must
/// resolve, after following every symbolic link, to a regular file
/// inside `root` (a pull request may name `/proc/self/environ` or link
/// to it; neither is read). See docs/security.md.
pub fn read(root: &Path, relative: &Path) -> Result<SourceFile, Error> {
    let full = resolve_inside(root, relative)?;
    read_resolved(&full, relative)
}

/// Reads a file the user chose on the command line: it may be anywhere,
/// but it is still only read when it is a regular file within the size
/// limit. `shown` is how reports name it.
pub fn read_chosen(path: &Path, shown: &Path) -> Result<SourceFile, Error> {
    read_resolved(path, shown)
}

fn read_resolved(full: &Path, shown: &Path) -> Result<SourceFile, Error> {
    let bytes = read_regular_file(full, shown)?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(shown, text)),
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&err.as_bytes()[..valid]).into_owned();
            let file = SourceFile::new(shown, prefix);
            let location = file.location(valid..valid);
            Err(Error::NotUtf8 {
                location,
                byte: valid,
            })
        }
    }
}

/// Where `relative` (a path the project names) really is: the canonical
/// path, which must lie inside the canonical `root`. Nothing is read.
pub fn resolve_inside(root: &Path, relative: &Path) -> Result<PathBuf, Error> {
    let shown = || display_path(relative);
    let io_error = |source| Error::Io {
        path: shown(),
        source,
    };
    let canonical_root = root.canonicalize().map_err(io_error)?;
    let canonical = root.join(relative).canonicalize().map_err(io_error)?;
    if !canonical.starts_with(&canonical_root) {
        return Err(Error::OutsideProject { path: shown() });
    }
    Ok(canonical)
}

/// Like [`resolve_inside`] for a file that may not exist yet (a store the
/// first deploy creates): the part of the path that exists must resolve
/// inside `root`, and the rest may not climb out with `..`.
pub fn resolve_inside_for_write(root: &Path, relative: &Path) -> Result<PathBuf, Error> {
    let outside = || Error::OutsideProject {
        path: display_path(relative),
    };
    let canonical_root = root.canonicalize().map_err(|source| Error::Io {
        path: display_path(root),
        source,
    })?;
    let full = root.join(relative);
    let mut existing = full.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
            return Err(outside());
        };
        rest.push(name.to_os_string());
        existing = parent;
    }
    let mut resolved = existing.canonicalize().map_err(|source| Error::Io {
        path: display_path(relative),
        source,
    })?;
    for name in rest.iter().rev() {
        if name == ".." || name == "." {
            return Err(outside());
        }
        resolved.push(name);
    }
    if !resolved.starts_with(&canonical_root) {
        return Err(outside());
    }
    Ok(resolved)
}

/// The bytes of a regular file of at most [`MAX_FILE_BYTES`]. Devices,
/// FIFOs and directories are refused before anything is read (a FIFO would
/// block, `/dev/zero` never ends), and the limit holds for files whose
/// size the file system does not know (`/proc`).
fn read_regular_file(full: &Path, shown: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let io_error = |source| Error::Io {
        path: display_path(shown),
        source,
    };
    let not_regular = |meta: &std::fs::Metadata| Error::NotARegularFile {
        path: display_path(shown),
        kind: file_kind(meta),
    };
    let before = std::fs::metadata(full).map_err(io_error)?;
    if !before.is_file() {
        return Err(not_regular(&before));
    }
    let too_large = |size| Error::FileTooLarge {
        path: display_path(shown),
        size,
        limit: MAX_FILE_BYTES,
    };
    if before.len() > MAX_FILE_BYTES {
        return Err(too_large(before.len()));
    }
    let file = std::fs::File::open(full).map_err(io_error)?;
    // The path may have been swapped between the check and the open.
    let opened = file.metadata().map_err(io_error)?;
    if !opened.is_file() {
        return Err(not_regular(&opened));
    }
    let mut bytes = Vec::with_capacity(opened.len().min(MAX_FILE_BYTES) as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}
