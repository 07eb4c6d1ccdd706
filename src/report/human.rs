//! Diagnostics for people: miette's graphical reports, with the source
//! snippet of the file each diagnostic points into.

use std::fmt;
use std::path::Path;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};

use crate::diagnostic::{Diagnostic, Severity};
use crate::report::Style;

/// Renders one diagnostic (and its related places) as miette draws it.
/// File names are shown below `prefix` (the project directory as the user
/// typed it), so a terminal or editor can open them from where avpctl ran.
pub fn render(diagnostic: &Diagnostic, style: Style, prefix: &Path) -> String {
    let theme = if style.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_links(false)
        .with_width(100);
    let view = View::new(diagnostic, prefix);
    let mut out = String::new();
    if handler.render_report(&mut out, &view).is_err() {
        out = format!("{diagnostic}\n");
    }
    out
}

pub fn shown_path(prefix: &Path, file: &crate::source::SourceFile) -> String {
    let joined = crate::source::display_path(&prefix.join(file.path()));
    joined
        .strip_prefix("./")
        .map(str::to_string)
        .unwrap_or(joined)
}

/// Lines longer than this are not drawn as a snippet (a minified JSON file
/// is one line; miette cannot draw past column 65,535): the message names
/// the place and quotes the text around it instead.
const MAX_SNIPPET_LINE: usize = 1_000;

/// Characters quoted on each side of a span on a line too long to draw.
const EXCERPT_CONTEXT: usize = 40;

/// Adapts a [`Diagnostic`] to `miette::Diagnostic`.
struct View<'a> {
    diagnostic: &'a Diagnostic,
    /// The message as printed: control characters escaped, and on a line
    /// too long to draw, the text around the place.
    message: String,
    /// A related place is drawn as advice under its main diagnostic.
    is_related: bool,
    source: Option<NamedSource<std::sync::Arc<str>>>,
    related: Vec<View<'a>>,
}

impl<'a> View<'a> {
    fn new(diagnostic: &'a Diagnostic, prefix: &Path) -> Self {
        View::with_role(diagnostic, prefix, false)
    }

    fn with_role(diagnostic: &'a Diagnostic, prefix: &Path, is_related: bool) -> Self {
        let mut message = crate::text::one_line(&diagnostic.message).into_owned();
        let drawable = diagnostic.location.as_ref().filter(|location| {
            let fits = snippet_fits(diagnostic, location);
            if !fits {
                message.push_str(&format!(", near `{}`", excerpt(location)));
            }
            fits
        });
        View {
            diagnostic,
            message,
            is_related,
            source: drawable.map(|location| {
                let text: std::sync::Arc<str> =
                    match crate::text::same_offsets(location.file.text()) {
                        std::borrow::Cow::Borrowed(_) => location.file.shared_text(),
                        std::borrow::Cow::Owned(safe) => safe.into(),
                    };
                NamedSource::new(shown_path(prefix, &location.file), text).with_language("cedar")
            }),
            related: diagnostic
                .related
                .iter()
                .map(|r| View::with_role(r, prefix, true))
                .collect(),
        }
    }
}

/// Whether every line the diagnostic underlines is short enough to draw.
fn snippet_fits(diagnostic: &Diagnostic, location: &crate::source::Location) -> bool {
    let file = &location.file;
    std::iter::once(location.span.start)
        .chain(
            diagnostic
                .labels
                .iter()
                .flat_map(|l| [l.span.start, l.span.end]),
        )
        .all(|offset| file.line_span(offset).len() <= MAX_SNIPPET_LINE)
}

/// The text around a place, on one line and bounded.
fn excerpt(location: &crate::source::Location) -> String {
    let text = location.file.text();
    let line = location.file.line_span(location.span.start);
    let line_text = &text[line.clone()];
    let at = location.span.start.clamp(line.start, line.end) - line.start;
    let before: String = {
        let chars: Vec<char> = line_text[..crate::source::floor_char_boundary(line_text, at)]
            .chars()
            .collect();
        chars[chars.len().saturating_sub(EXCERPT_CONTEXT)..]
            .iter()
            .collect()
    };
    let after: String = line_text[crate::source::floor_char_boundary(line_text, at)..]
        .chars()
        .take(EXCERPT_CONTEXT)
        .collect();
    crate::text::one_line(&format!("…{before}{after}…")).into_owned()
}

impl fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.diagnostic.location, &self.source) {
            // Without a snippet the place must be in the message itself.
            (Some(location), None) => {
                write!(
                    f,
                    "{}: {}",
                    crate::text::one_line(&location.short()),
                    self.message
                )
            }
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for View<'_> {}

impl miette::Diagnostic for View<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        if self.is_related {
            return None;
        }
        Some(Box::new(&self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        if self.is_related {
            return Some(miette::Severity::Advice);
        }
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(crate::text::lines(h).into_owned()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let labels = self.diagnostic.labels.iter().enumerate().map(|(i, label)| {
            let span = (label.span.start, label.span.len());
            let text = label
                .text
                .as_deref()
                .map(|t| crate::text::one_line(t).into_owned());
            if i == 0 {
                LabeledSpan::new_primary_with_span(text, span)
            } else {
                LabeledSpan::new_with_span(text, span)
            }
        });
        Some(Box::new(labels))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    #[test]
    fn the_snippet_names_the_file_and_underlines_the_span() {
        let file = SourceFile::new(
            "policies/a.cedar",
            "permit(principal, action, resource)\nwhen { 1 };\n",
        );
        let diagnostic = Diagnostic::error("test-code", "not a boolean")
            .at(file.location(43..44))
            .with_label("this");
        let text = render(&diagnostic, Style::plain(), Path::new("project"));
        assert!(text.contains("project/policies/a.cedar:2:8"), "{text}");
        assert!(text.contains("not a boolean"), "{text}");
        assert!(text.contains("this"), "{text}");
    }

    #[test]
    fn a_place_far_along_a_long_line_is_quoted_not_drawn() {
        let mut text = "[".to_string();
        text.push_str(&"1,".repeat(40_000));
        text.push_str("x]");
        let at = text.len() - 2;
        let file = SourceFile::new("entities/min.json", text);
        let diagnostic = Diagnostic::error("json", "expected value")
            .at(file.location(at..at + 1))
            .with_label("here");
        let out = render(&diagnostic, Style::plain(), Path::new(""));
        assert!(out.contains("entities/min.json:1:80002"), "{out}");
        assert!(out.contains("near `…1,1,1,"), "{out}");
        assert!(out.len() < 1_000, "{out}");
    }

    #[test]
    fn control_characters_in_a_snippet_or_message_are_escaped() {
        let file = SourceFile::new("tests/a.yaml", "name: \"x\u{1b}[8my\"\n");
        let diagnostic = Diagnostic::error("code", "case `a\nSummary: 9 passed`")
            .at(file.location(7..9))
            .with_label("lab\u{1b}el");
        let out = render(&diagnostic, Style::plain(), Path::new(""));
        assert!(!out.contains('\u{1b}'), "{out:?}");
        assert!(out.contains("a\\nSummary"), "{out}");
    }
}
