//! Reading the schema in either of Cedar's forms, detected by the ending.

use cedar_policy::Schema;

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::SourceFile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaFormat {
    /// `*.cedarschema`: Cedar's own schema syntax.
    Cedar,
    /// `*.json` (`*.cedarschema.json`): Cedar's JSON schema form.
    Json,
}

impl SchemaFormat {
    pub fn of(file: &SourceFile) -> SchemaFormat {
        if file.path().extension().is_some_and(|e| e == "json") {
            SchemaFormat::Json
        } else {
            SchemaFormat::Cedar
        }
    }
}

/// Parses a schema file; warnings (e.g. shadowed names) come back beside it.
pub fn parse_schema(
    file: &SourceFile,
) -> Result<(Schema, SchemaFormat, Vec<Diagnostic>), Vec<Diagnostic>> {
    let format = SchemaFormat::of(file);
    if format == SchemaFormat::Cedar {
        crate::nesting::check_file(file).map_err(|too_deep| vec![too_deep])?;
    }
    match format {
        SchemaFormat::Cedar => match Schema::from_cedarschema_str(file.text()) {
            Ok((schema, warnings)) => {
                let warnings = warnings
                    .map(|w| {
                        Diagnostic::from_miette(&w, Severity::Warning, file, None)
                            .with_code("cedar-schema-warning")
                    })
                    .collect();
                Ok((schema, format, warnings))
            }
            Err(err) => Err(vec![
                Diagnostic::from_miette(&err, Severity::Error, file, None)
                    .with_code("cedar-schema"),
            ]),
        },
        SchemaFormat::Json => {
            let value: serde_json::Value =
                crate::strict_json::from_str(file.text()).map_err(|err| {
                    let offset = file.offset_of(err.line(), err.column());
                    vec![
                        Diagnostic::error(
                            "cedar-schema",
                            format!("schema is not valid JSON: {err}"),
                        )
                        .at(file.location(offset..offset)),
                    ]
                })?;
            match Schema::from_json_value(value) {
                Ok(schema) => Ok((schema, format, Vec::new())),
                Err(err) => {
                    // Cedar's spans for the JSON form point into its own
                    // rendering of a name, not into the file: place the
                    // error at the name it mentions instead.
                    let help = miette::Diagnostic::help(&err).map(|h| h.to_string());
                    let mentioned = format!("{err} {}", help.as_deref().unwrap_or(""));
                    let span = first_mentioned_name(file.text(), &mentioned).unwrap_or(0..0);
                    let mut diagnostic =
                        Diagnostic::error("cedar-schema", err.to_string()).at(file.location(span));
                    diagnostic.help = help;
                    Err(vec![diagnostic])
                }
            }
        }
    }
}

/// Cedar's JSON-schema errors carry no position; point at the first quoted
/// occurrence of a name the message mentions in backticks.
fn first_mentioned_name(text: &str, message: &str) -> Option<std::ops::Range<usize>> {
    message.split('`').skip(1).step_by(2).find_map(|name| {
        let simple = name.rsplit("::").next().unwrap_or(name);
        let needle = format!("\"{simple}\"");
        text.find(&needle).map(|at| at..at + needle.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cedar_schema_syntax_error_has_a_position() {
        let file = SourceFile::new(
            "schema.cedarschema",
            "entity User;\nentity Doc {\n  owner: User\n",
        );
        let errors = parse_schema(&file).unwrap_err();
        assert!(errors[0].location.as_ref().unwrap().line >= 3);
    }

    #[test]
    fn json_syntax_error_has_its_line() {
        let file = SourceFile::new(
            "schema.cedarschema.json",
            "{\n  \"\": {\n    \"entityTypes\": {,}\n",
        );
        let errors = parse_schema(&file).unwrap_err();
        assert_eq!(errors[0].location.as_ref().unwrap().line, 3);
    }

    #[test]
    fn json_semantic_error_points_at_the_name() {
        let text = r#"{"": {"entityTypes": {"User": {"shape": {"type": "Record", "attributes": {"t": {"type": "Entity", "name": "Team"}}}}}, "actions": {}}}"#;
        let file = SourceFile::new("schema.cedarschema.json", text);
        let errors = parse_schema(&file).unwrap_err();
        let span = &errors[0].labels[0].span;
        assert_eq!(&text[span.clone()], "\"Team\"");
    }
}
