//! The files of a project as read from disk, and positions inside them.
//!
//! Every diagnostic points into a [`SourceFile`]; the file keeps its text so
//! that reports can show a snippet long after loading finished.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;

/// Files larger than this are refused before they are read into memory.
/// AVP's own limit is 10,000 bytes per policy, so a legitimate project is
/// far below it.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct SourceFile(Arc<Inner>);

struct Inner {
    /// Path relative to the project root, as reports print it.
    path: PathBuf,
    text: Arc<str>,
    /// Byte offset of the start of every line, for offset → line/column.
    line_starts: Vec<usize>,
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SourceFile").field(&self.0.path).finish()
    }
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> SourceFile {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile(Arc::new(Inner {
            path: path.into(),
            text,
            line_starts,
        }))
    }

    /// Reads a file the project names: `relative` below `root`. It must
    /// resolve, after following every symbolic link, to a regular file
    /// inside `root` (a pull request may name `/proc/self/environ` or link
    /// to it; neither is read). See docs/security.md.
    pub fn read(root: &Path, relative: &Path) -> Result<SourceFile, Error> {
        let full = resolve_inside(root, relative)?;
        SourceFile::read_resolved(&full, relative)
    }

    /// Reads a file the user chose on the command line: it may be anywhere,
    /// but it is still only read when it is a regular file within the size
    /// limit. `shown` is how reports name it.
    pub fn read_chosen(path: &Path, shown: &Path) -> Result<SourceFile, Error> {
        SourceFile::read_resolved(path, shown)
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

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// The path with `/` separators whatever the platform, as reports show it.
    pub fn display(&self) -> String {
        display_path(&self.0.path)
    }

    pub fn text(&self) -> &str {
        &self.0.text
    }

    pub fn shared_text(&self) -> Arc<str> {
        self.0.text.clone()
    }

    /// Line and column (both from 1, column in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.0.text.len());
        let line_index = match self.0.line_starts.binary_search(&offset) {
            Ok(exact) => exact,
            Err(next) => next - 1,
        };
        let line_start = self.0.line_starts[line_index];
        let column = self.0.text[line_start..floor_char_boundary(&self.0.text, offset)]
            .chars()
            .count();
        (line_index + 1, column + 1)
    }

    /// The byte range of the line holding `offset`, without its line break.
    pub fn line_span(&self, offset: usize) -> Range<usize> {
        let offset = offset.min(self.0.text.len());
        let (line, _) = self.line_column(offset);
        let start = self.0.line_starts[line - 1];
        let end = self
            .0
            .line_starts
            .get(line)
            .map_or(self.0.text.len(), |next| next - 1);
        start..end.max(start)
    }

    /// Byte offset of a line and column (both from 1), clamped to the text.
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let Some(&line_start) = self.0.line_starts.get(line.saturating_sub(1)) else {
            return self.0.text.len();
        };
        self.0.text[line_start..]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(self.0.text.len(), |(i, _)| line_start + i)
    }

    pub fn location(&self, span: Range<usize>) -> Location {
        let (line, column) = self.line_column(span.start);
        Location {
            file: self.clone(),
            span,
            line,
            column,
        }
    }

    pub fn same_file(&self, other: &SourceFile) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A place in a file: what every diagnostic and report points at.
#[derive(Debug, Clone)]
pub struct Location {
    pub file: SourceFile,
    pub span: Range<usize>,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// `file:line:column`, the form editors and terminals make clickable.
    pub fn short(&self) -> String {
        format!("{}:{}:{}", self.file.display(), self.line, self.column)
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

/// Whether `relative` resolves inside `root` (a missing file does not).
pub fn is_inside(root: &Path, relative: &Path) -> bool {
    resolve_inside(root, relative).is_ok()
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

pub fn display_path(path: &Path) -> String {
    path.components()
        .map(|c| match c {
            // Joining ["", "work"] with "/" gives "/work".
            std::path::Component::RootDir => "".into(),
            other => other.as_os_str().to_string_lossy(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_from_one_in_characters() {
        let file = SourceFile::new("a.cedar", "ab\nçd\n\nx");
        assert_eq!(file.line_column(0), (1, 1));
        assert_eq!(file.line_column(1), (1, 2));
        assert_eq!(file.line_column(3), (2, 1));
        // 'ç' is two bytes; 'd' is the second character of line 2.
        assert_eq!(file.line_column(5), (2, 2));
        assert_eq!(file.line_column(7), (3, 1));
        assert_eq!(file.line_column(8), (4, 1));
        assert_eq!(file.line_column(100), (4, 2));
    }

    #[test]
    fn offset_of_inverts_line_column() {
        let file = SourceFile::new("a.cedar", "ab\nçd\n\nx");
        for offset in [0, 1, 3, 5, 7, 8] {
            let (line, column) = file.line_column(offset);
            assert_eq!(file.offset_of(line, column), offset);
        }
    }
}
