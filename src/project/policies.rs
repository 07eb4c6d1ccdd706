//! Parsing one `.cedar` file into policies and templates with project ids.

use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{Policy, PolicyId, PolicySet, Template};

use super::PolicyKind;
use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{SourceFile, display_path};

#[derive(Debug)]
pub enum Parsed {
    Static(Policy),
    Template(Template),
}

/// One policy of a file, already renamed to its project id.
#[derive(Debug)]
pub struct ParsedPolicy {
    pub id: String,
    pub span: Range<usize>,
    pub policy: Parsed,
}

impl ParsedPolicy {
    pub fn kind(&self) -> PolicyKind {
        match self.policy {
            Parsed::Static(_) => PolicyKind::Static,
            Parsed::Template(_) => PolicyKind::Template,
        }
    }
}

/// The id a policy gets from its file when it has no `@id`: the path below
/// `policies/` (or `templates/`) without `.cedar` (README "A tour").
pub fn id_for_path(dir: &Path, file: &Path) -> String {
    let below = file.strip_prefix(dir).unwrap_or(file);
    let text = display_path(below);
    text.strip_suffix(".cedar").unwrap_or(&text).to_string()
}

/// Cedar allows a template's slots only in its scope. The help says what to
/// write instead, since the usual intent (`when { principal == ?principal }`)
/// has a direct equivalent.
fn slot_in_condition(message: &str) -> Option<String> {
    let slot = ["?principal", "?resource"]
        .into_iter()
        .find(|slot| message.starts_with(&format!("found template slot {slot} in a")))?;
    let variable = &slot[1..];
    Some(format!(
        "Cedar allows {slot} only in the scope: move the comparison there, e.g. `permit ({variable} == {slot}, action, resource) when {{ … }};` (or `{variable} in {slot}` for a group), and keep the rest of the condition; for a value that is not the {variable} itself, write one policy per value instead of a template"
    ))
}

/// Parses every policy and template of `file`. Ids come from `@id` or from
/// `base_id`, with `/N` appended when the file holds more than one policy.
pub fn parse_policy_file(
    file: &SourceFile,
    base_id: &str,
) -> Result<Vec<ParsedPolicy>, Vec<Diagnostic>> {
    crate::nesting::check_file(file).map_err(|too_deep| vec![too_deep])?;
    let text = file.text();
    let set = PolicySet::from_str(text).map_err(|errors| {
        errors
            .iter()
            .map(|err| {
                let diagnostic = Diagnostic::from_miette(err, Severity::Error, file, None)
                    .with_code("cedar-syntax");
                match slot_in_condition(&err.to_string()) {
                    Some(help) => diagnostic.with_help(help),
                    None => diagnostic,
                }
            })
            .collect::<Vec<_>>()
    })?;

    // Cedar names the policies of a text `policy0`, `policy1`, … in the
    // order they are written, statics and templates alike.
    let mut in_order: Vec<(usize, Parsed)> = set
        .policies()
        .map(|p| (generated_index(p.id()), Parsed::Static(p.clone())))
        .chain(
            set.templates()
                .map(|t| (generated_index(t.id()), Parsed::Template(t.clone()))),
        )
        .collect();
    in_order.sort_by_key(|(index, _)| *index);

    let numbered = in_order.len() > 1;
    let mut cursor = 0;
    let mut parsed = Vec::with_capacity(in_order.len());
    let mut problems = Vec::new();
    for (position, (_, policy)) in in_order.into_iter().enumerate() {
        let (own_text, annotation) = match &policy {
            Parsed::Static(p) => (p.to_cedar().unwrap_or_default(), p.annotation("id")),
            Parsed::Template(t) => (t.to_cedar(), t.annotation("id")),
        };
        // The policy texts are slices of the file in order, so searching
        // from the end of the previous one finds each at its own place.
        let start = text[cursor..]
            .find(own_text.as_str())
            .map_or(cursor, |found| cursor + found);
        let span = start..start + own_text.len();
        cursor = span.end.min(text.len());

        let id = match annotation {
            Some(id) if id.trim().is_empty() => {
                problems.push(
                    Diagnostic::error("empty-id", "the @id annotation is empty")
                        .at(file.location(span.clone()))
                        .with_help("write a non-empty id, e.g. @id(\"team-edit\")"),
                );
                continue;
            }
            Some(id) => id.to_string(),
            None if numbered => format!("{base_id}/{position}"),
            None => base_id.to_string(),
        };
        let policy_id = PolicyId::new(&id);
        let policy = match policy {
            Parsed::Static(p) => Parsed::Static(p.new_id(policy_id)),
            Parsed::Template(t) => Parsed::Template(t.new_id(policy_id)),
        };
        parsed.push(ParsedPolicy { id, span, policy });
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}

fn generated_index(id: &PolicyId) -> usize {
    id.to_string()
        .strip_prefix("policy")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str, base: &str) -> Vec<String> {
        let file = SourceFile::new("policies/x.cedar", text);
        parse_policy_file(&file, base)
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect()
    }

    #[test]
    fn a_single_policy_takes_the_file_id() {
        assert_eq!(
            ids("permit(principal, action, resource);", "finance/approve"),
            ["finance/approve"]
        );
    }

    #[test]
    fn several_policies_are_numbered_in_file_order_statics_and_templates_alike() {
        let text = "permit(principal, action, resource);\n\
                    permit(principal == ?principal, action, resource == ?resource);\n\
                    @id(\"named\") forbid(principal, action, resource);";
        assert_eq!(ids(text, "f"), ["f/0", "f/1", "named"]);
    }

    #[test]
    fn spans_cover_each_policy_even_when_texts_repeat() {
        let text = "permit(principal, action, resource);\npermit(principal, action, resource);\n";
        let file = SourceFile::new("policies/x.cedar", text);
        let parsed = parse_policy_file(&file, "x").unwrap();
        assert_eq!(parsed[0].span, 0..36);
        assert_eq!(parsed[1].span, 37..73);
    }

    #[test]
    fn id_for_path_strips_the_directory_and_ending() {
        assert_eq!(
            id_for_path(
                Path::new("policies"),
                Path::new("policies/finance/approve.cedar")
            ),
            "finance/approve"
        );
    }

    #[test]
    fn a_syntax_error_points_at_its_line() {
        let file = SourceFile::new(
            "p.cedar",
            "permit(principal, action, resource);\nforbid(principal action, resource);",
        );
        let errors = parse_policy_file(&file, "p").unwrap_err();
        let location = errors[0].location.as_ref().unwrap();
        assert_eq!(location.line, 2);
    }
}
