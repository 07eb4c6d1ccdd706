//! What every JSON document (docs/output.md) shares: the `"version"` they
//! start with, diagnostics in one stable shape (`file` relative to the
//! project, `line`/`column` from 1), and how a document is printed.
//!
//! Each document is a `#[derive(Serialize)]` type in the reporter that
//! renders its command (`report/validate.rs`, `testrun.rs`, `fmt.rs`,
//! `diff.rs`, `deploy.rs`, `failure.rs`), its first field a [`Version`];
//! the order of the fields is the order of the keys.

use std::io::{self, Write};

use serde::{Serialize, Serializer};

use crate::diagnostic::Diagnostic;

/// `"version": 1`, the first key of every document: a field of this type
/// cannot hold another value. A change that removes or changes a key
/// raises the number here, for every document at once.
#[derive(Debug, Clone, Copy)]
pub struct Version;

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(1)
    }
}

/// A document as printed: indented by two, then a newline.
pub fn pretty(document: &impl Serialize) -> String {
    // Documents are plain data with string keys: serializing cannot fail.
    let mut text = serde_json::to_string_pretty(document).expect("a document serializes");
    text.push('\n');
    text
}

/// A finding as every document lists it.
#[derive(Serialize)]
pub struct DiagnosticJson<'a> {
    severity: &'static str,
    code: &'a str,
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    message: &'a str,
    help: Option<&'a str>,
    policy: Option<&'a str>,
    related: Vec<DiagnosticJson<'a>>,
}

pub fn diagnostic(d: &Diagnostic) -> DiagnosticJson<'_> {
    let (file, line, column, end_line, end_column) = match &d.location {
        Some(location) => {
            let end = d
                .labels
                .first()
                .map_or(location.span.end, |label| label.span.end);
            let (end_line, end_column) = location.file.line_column(end);
            (
                Some(location.file.display()),
                Some(location.line),
                Some(location.column),
                Some(end_line),
                Some(end_column),
            )
        }
        None => (None, None, None, None, None),
    };
    DiagnosticJson {
        severity: d.severity.as_str(),
        code: &d.code,
        file,
        line,
        column,
        end_line,
        end_column,
        message: &d.message,
        help: d.help.as_deref(),
        policy: d.policy.as_deref(),
        related: diagnostics(&d.related),
    }
}

pub fn diagnostics<'a>(list: impl IntoIterator<Item = &'a Diagnostic>) -> Vec<DiagnosticJson<'a>> {
    list.into_iter().map(diagnostic).collect()
}

/// How a [`Streamed`] document lays out its keys.
#[derive(Debug, Clone, Copy)]
pub enum Layout {
    /// `{\n"key": value,\n"key": value\n}`: one key a line.
    Lines,
    /// `{"key": value, "key": value}`.
    Inline,
}

/// A JSON object written a key at a time, each value compact: for the
/// documents too large to hold in memory (the test document, a case a
/// line), whose layout neither of serde_json's formatters writes. A
/// document opened with [`Streamed::document`] has `"version"` first.
pub struct Streamed<'w> {
    out: &'w mut dyn Write,
    layout: Layout,
    empty: bool,
}

impl<'w> Streamed<'w> {
    /// A top-level document, `"version": 1` written.
    pub fn document(out: &'w mut dyn Write, layout: Layout) -> io::Result<Streamed<'w>> {
        let mut document = Streamed::object(out, layout)?;
        document.field("version", &Version)?;
        Ok(document)
    }

    /// An object inside a document.
    pub fn object(out: &'w mut dyn Write, layout: Layout) -> io::Result<Streamed<'w>> {
        out.write_all(match layout {
            Layout::Lines => b"{\n",
            Layout::Inline => b"{",
        })?;
        Ok(Streamed {
            out,
            layout,
            empty: true,
        })
    }

    pub fn field(&mut self, key: &str, value: &impl Serialize) -> io::Result<()> {
        self.field_with(key, |out| Ok(serde_json::to_writer(out, value)?))
    }

    /// A key whose value `write` writes.
    pub fn field_with(
        &mut self,
        key: &str,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        if !std::mem::replace(&mut self.empty, false) {
            self.out.write_all(match self.layout {
                Layout::Lines => b",\n",
                Layout::Inline => b", ",
            })?;
        }
        serde_json::to_writer(&mut *self.out, key)?;
        self.out.write_all(b": ")?;
        write(&mut *self.out)
    }

    /// A key whose value is a list, one item a line (`[\n1,\n2\n]`).
    pub fn list<T>(
        &mut self,
        key: &str,
        items: impl IntoIterator<Item = T>,
        mut write_item: impl FnMut(&mut dyn Write, T) -> io::Result<()>,
    ) -> io::Result<()> {
        self.field_with(key, |out| {
            out.write_all(b"[\n")?;
            let mut first = true;
            for item in items {
                if !std::mem::replace(&mut first, false) {
                    out.write_all(b",\n")?;
                }
                write_item(&mut *out, item)?;
            }
            out.write_all(if first { b"]" } else { b"\n]" })
        })
    }

    /// A key whose value is the list of the entries `entries` makes of
    /// `items`, rendered on all cores ([`rendered`]), one a line.
    pub fn rendered_list<'a, T, I>(
        &mut self,
        key: &str,
        items: &'a [T],
        entries: impl Fn(&'a T) -> I + Sync + 'a,
    ) -> io::Result<()>
    where
        T: Sync,
        I: IntoIterator,
        I::Item: Serialize,
    {
        self.list(key, rendered(items, entries), |out, piece| {
            out.write_all(&piece?)
        })
    }

    pub fn end(self) -> io::Result<()> {
        self.out.write_all(match self.layout {
            Layout::Lines => b"\n}",
            Layout::Inline => b"}",
        })
    }
}

/// Items rendered together on one core, and rendered at a time.
const ITEMS_PER_PIECE: usize = 1024;
const ITEMS_AT_A_TIME: usize = 16 * ITEMS_PER_PIECE;

/// The entries `entries` makes of `items`, each compact JSON, in order, in
/// pieces of consecutive entries joined as [`Streamed::list`] joins its
/// items (an empty piece is left out). A list of a hundred thousand
/// entries is tens of MB of JSON, a tenth of a run on one core: a few
/// pieces are rendered at a time on all cores, so memory stays bounded.
fn rendered<'a, T, I>(
    items: &'a [T],
    entries: impl Fn(&'a T) -> I + Sync + 'a,
) -> impl Iterator<Item = io::Result<Vec<u8>>> + 'a
where
    T: Sync,
    I: IntoIterator,
    I::Item: Serialize,
{
    use rayon::prelude::*;
    items.chunks(ITEMS_AT_A_TIME).flat_map(move |window| {
        window
            .par_chunks(ITEMS_PER_PIECE)
            .map(|piece| {
                let mut out = Vec::new();
                for entry in piece.iter().flat_map(&entries) {
                    if !out.is_empty() {
                        out.extend_from_slice(b",\n");
                    }
                    serde_json::to_writer(&mut out, &entry)?;
                }
                Ok(out)
            })
            .filter(|piece| !matches!(piece, Ok(text) if text.is_empty()))
            .collect::<Vec<_>>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::failure::{MachineFormat, render};

    fn first_key(document: &str) -> (String, serde_json::Value) {
        let value: serde_json::Value = serde_json::from_str(document)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {document}"));
        let (key, value) = value.as_object().unwrap().iter().next().unwrap();
        (key.clone(), value.clone())
    }

    fn streamed(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Every top-level document, however it is built, starts with
    /// `"version": 1`.
    #[test]
    fn every_document_starts_with_version_1() {
        use crate::report::{deploy, diff, fmt, testrun, validate};
        let report = crate::validate::Report {
            diagnostics: Vec::new(),
            notes: Vec::new(),
            stats: Default::default(),
        };
        let found = crate::diff::Comparison {
            changes: Vec::new(),
            flips: Vec::new(),
            proof: None,
            impact: None,
        };
        let old = crate::diff::OldSide {
            label: "old".into(),
            side: Default::default(),
            policy_set: cedar_policy::PolicySet::new(),
            calls: Default::default(),
        };
        let run = crate::testing::outcome::RunReport::default();
        let documents = [
            ("validate", pretty(&validate::json(&report))),
            ("fmt", pretty(&fmt::json(&[], true))),
            ("diff", pretty(&diff::json(&found, &old, "new"))),
            ("diff-group", pretty(&diff::group_json(Vec::new()))),
            (
                "deploy",
                pretty(&deploy::document::<deploy::StoreJson>(Vec::new())),
            ),
            ("refused deploy", pretty(&deploy::refused("no"))),
            ("failure", render(MachineFormat::Json, "test", &[])),
            ("test", streamed(|out| testrun::write_json(&run, out))),
            (
                "test-group",
                streamed(|out| testrun::write_group_json(&[], out)),
            ),
        ];
        for (name, document) in documents {
            assert_eq!(
                first_key(&document),
                ("version".to_string(), serde_json::json!(1)),
                "{name}: {document}"
            );
        }
    }

    #[test]
    fn a_streamed_document_has_a_key_a_line_and_a_list_item_a_line() {
        let text = streamed(|out| {
            let mut document = Streamed::document(out, Layout::Lines)?;
            document.field("a", &[1, 2])?;
            document.list("none", Vec::<u8>::new(), |_, _| Ok(()))?;
            document.list("two", ["x", "y"], |out, item| {
                let mut entry = Streamed::object(out, Layout::Inline)?;
                entry.field("item", &item)?;
                entry.field("n", &None::<u8>)?;
                entry.end()
            })?;
            document.end()
        });
        assert_eq!(
            text,
            "{\n\"version\": 1,\n\"a\": [1,2],\n\"none\": [\n],\n\"two\": [\n{\"item\": \"x\", \"n\": null},\n{\"item\": \"y\", \"n\": null}\n]\n}"
        );
    }

    /// Entries rendered on all cores come out in order, joined as one
    /// list, whatever the pieces hold (none, one, many entries).
    #[test]
    fn rendered_entries_are_one_list_in_order() {
        let items: Vec<usize> = (0..3 * ITEMS_AT_A_TIME + 7).collect();
        // Every third item gives no entry, every fifth two.
        let entries = |&n: &usize| match (n % 3, n % 5) {
            (0, _) => vec![],
            (_, 0) => vec![n, n],
            _ => vec![n],
        };
        let listed = |items: &[usize]| {
            let text = streamed(|out| {
                let mut document = Streamed::document(out, Layout::Lines)?;
                document.rendered_list("items", items, entries)?;
                document.end()
            });
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            value["items"].clone()
        };
        let expected: Vec<usize> = items.iter().flat_map(entries).collect();
        assert_eq!(listed(&items), serde_json::json!(expected));
        let none: Vec<usize> = (0..2 * ITEMS_PER_PIECE).map(|n| n * 3).collect();
        assert_eq!(listed(&none), serde_json::json!([]));
    }
}
