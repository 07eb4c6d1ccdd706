//! Diagnostics: what a check found, as data.
//!
//! Loading and validation produce [`Diagnostic`]s; the `report` module renders
//! them for people (miette), editors and CI (JSON, GitHub annotations, SARIF).
//! Cedar's own errors are `miette::Diagnostic`s whose spans point into the
//! text they were parsed from; [`Diagnostic::from_miette`] keeps those spans
//! and ties them to the project file they came from.

use std::fmt;
use std::ops::Range;

use crate::source::{Location, SourceFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Label {
    pub span: Range<usize>,
    pub text: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable code: Cedar's own (`cedar::validator::…`) or avpctl's
    /// (`duplicate-id`, `avp-policy-size`, …).
    pub code: String,
    pub message: String,
    pub help: Option<String>,
    pub location: Option<Location>,
    /// Spans in the location's file to underline; the first is the primary.
    pub labels: Vec<Label>,
    /// The policy, template or link the diagnostic is about.
    pub policy: Option<String>,
    /// Other places that belong to the same finding (the first definition of
    /// a duplicate id, the template behind a link).
    pub related: Vec<Diagnostic>,
    /// The input could not be read at all: the run exits 2, not 1.
    pub unreadable: bool,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code: code.into(),
            message: message.into(),
            help: None,
            location: None,
            labels: Vec::new(),
            policy: None,
            related: Vec::new(),
            unreadable: false,
        }
    }

    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic::new(Severity::Error, code, message)
    }

    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic::new(Severity::Warning, code, message)
    }

    pub fn at(mut self, location: Location) -> Self {
        if self.labels.is_empty() {
            self.labels.push(Label {
                span: location.span.clone(),
                text: None,
            });
        }
        self.location = Some(location);
        self
    }

    pub fn with_label(mut self, text: impl Into<String>) -> Self {
        if let Some(first) = self.labels.first_mut() {
            first.text = Some(text.into());
        }
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn for_policy(mut self, policy: impl Into<String>) -> Self {
        self.policy = Some(policy.into());
        self
    }

    pub fn with_related(mut self, related: Diagnostic) -> Self {
        self.related.push(related);
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = code.into();
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Converts one of Cedar's diagnostics whose spans point into `file`.
    /// `fallback` is where to point when Cedar gives no span (for example
    /// the whole policy the finding is about).
    pub fn from_miette(
        source: &dyn miette::Diagnostic,
        severity: Severity,
        file: &SourceFile,
        fallback: Option<Range<usize>>,
    ) -> Diagnostic {
        let text_len = file.text().len();
        let clamp = |span: Range<usize>| {
            let start = span.start.min(text_len);
            start..span.end.clamp(start, text_len)
        };
        let mut labels: Vec<Label> = source
            .labels()
            .into_iter()
            .flatten()
            .map(|label| Label {
                span: clamp(label.offset()..label.offset() + label.len()),
                text: label.label().map(str::to_string),
            })
            .collect();
        if labels.is_empty()
            && let Some(span) = fallback
        {
            labels.push(Label {
                span: clamp(span),
                text: None,
            });
        }
        let location = labels
            .first()
            .map(|label| file.location(label.span.clone()))
            .unwrap_or_else(|| file.location(0..0));
        Diagnostic {
            severity,
            code: source
                .code()
                .map_or_else(|| "cedar".to_string(), |code| code.to_string()),
            message: message_with_causes(source),
            help: source.help().map(|help| help.to_string()),
            location: Some(location),
            labels,
            policy: None,
            related: Vec::new(),
            unreadable: false,
        }
    }

    /// Sort key: file, then position, so reports read top to bottom.
    pub fn sort_key(&self) -> (String, usize, usize) {
        match &self.location {
            Some(location) => (location.file.display(), location.line, location.column),
            None => (String::new(), 0, 0),
        }
    }
}

pub fn message_with_causes(source: &dyn miette::Diagnostic) -> String {
    let mut message = source.to_string();
    let mut cause = std::error::Error::source(source);
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = inner.source();
    }
    message
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(
                f,
                "{}: {}: {}",
                location.short(),
                self.severity.as_str(),
                self.message
            ),
            None => write!(f, "{}: {}", self.severity.as_str(), self.message),
        }
    }
}

/// A stable kebab-case code from an error enum's variant name, for Cedar's
/// errors that carry no code of their own: `IncompatibleTypes(..)` →
/// `cedar-incompatible-types`.
pub fn variant_code(prefix: &str, value: &dyn fmt::Debug) -> String {
    let debug = format!("{value:?}");
    let variant: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut code = String::from(prefix);
    for c in variant.chars() {
        if c.is_ascii_uppercase() {
            code.push('-');
            code.push(c.to_ascii_lowercase());
        } else {
            code.push(c);
        }
    }
    code
}

/// Counts by severity, as every report's summary needs them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
}

impl Counts {
    pub fn of(diagnostics: &[Diagnostic]) -> Counts {
        diagnostics.iter().fold(Counts::default(), |mut counts, d| {
            match d.severity {
                Severity::Error => counts.errors += 1,
                Severity::Warning => counts.warnings += 1,
            }
            counts
        })
    }
}
