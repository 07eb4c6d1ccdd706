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

/// Adapts a [`Diagnostic`] to `miette::Diagnostic`.
struct View<'a> {
    diagnostic: &'a Diagnostic,
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
        View {
            diagnostic,
            is_related,
            source: diagnostic.location.as_ref().map(|location| {
                NamedSource::new(
                    shown_path(prefix, &location.file),
                    location.file.shared_text(),
                )
                .with_language("cedar")
            }),
            related: diagnostic
                .related
                .iter()
                .map(|r| View::with_role(r, prefix, true))
                .collect(),
        }
    }
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
                write!(f, "{}: {}", location.short(), self.diagnostic.message)
            }
            _ => f.write_str(&self.diagnostic.message),
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
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let labels = self.diagnostic.labels.iter().enumerate().map(|(i, label)| {
            let span = (label.span.start, label.span.len());
            if i == 0 {
                LabeledSpan::new_primary_with_span(label.text.clone(), span)
            } else {
                LabeledSpan::new_with_span(label.text.clone(), span)
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
}
