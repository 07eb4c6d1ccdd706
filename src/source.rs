//! The files of a project as read from disk, and positions inside them.
//!
//! Every diagnostic points into a [`SourceFile`]; the file keeps its text so
//! that reports can show a snippet long after loading finished.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

    /// [`SourceFile::location`] of each span, for spans in file order, in
    /// one pass: thousands of places on one long (minified) line cost one
    /// walk of the line, not one per place.
    pub fn locations(&self, spans: impl IntoIterator<Item = Range<usize>>) -> Vec<Location> {
        let mut out: Vec<Location> = Vec::new();
        for span in spans {
            let start = floor_char_boundary(&self.0.text, span.start.min(self.0.text.len()));
            let (line, column) = match out.last() {
                Some(previous) if previous.span.start <= start => {
                    let from = floor_char_boundary(&self.0.text, previous.span.start);
                    let between = &self.0.text[from..start];
                    match between.rfind('\n') {
                        Some(newline) => (
                            previous.line + between.matches('\n').count(),
                            between[newline + 1..].chars().count() + 1,
                        ),
                        None => (previous.line, previous.column + between.chars().count()),
                    }
                }
                _ => self.line_column(start),
            };
            out.push(Location {
                file: self.clone(),
                span,
                line,
                column,
            });
        }
        out
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

/// The nearest character boundary at or before `offset`.
pub fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
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

#[cfg(test)]
mod locations_tests {
    use super::*;

    #[test]
    fn places_in_one_pass_match_places_one_by_one() {
        let file = SourceFile::new(
            "e.json",
            "[{\"a\": \"é\"}, {\"b\": 1},\n  {\"c\": 2}, {}]\n",
        );
        let spans: Vec<Range<usize>> = [1, 14, 26, 36].into_iter().map(|s| s..s + 1).collect();
        let together = file.locations(spans.clone());
        for (span, place) in spans.into_iter().zip(together) {
            let alone = file.location(span);
            assert_eq!((place.line, place.column), (alone.line, alone.column));
        }
    }
}
