//! The document a machine-readable format prints when avpctl cannot do its
//! job (exit 2): a usage error, a project that does not load, a locked,
//! corrupt or unreachable store. A CI step that parses stdout always gets
//! one well-formed document, with the error in it (docs/output.md).

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::diagnostic::Diagnostic;
use crate::report::json::{DiagnosticJson, Version};

/// The machine-readable formats, whatever the subcommand calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineFormat {
    Json,
    Sarif,
    Junit,
    Github,
    Markdown,
}

impl MachineFormat {
    /// `--format NAME` as typed; `human` and unknown names are not machine formats.
    pub fn from_name(name: &str) -> Option<MachineFormat> {
        match name {
            "json" => Some(MachineFormat::Json),
            "sarif" => Some(MachineFormat::Sarif),
            "junit" => Some(MachineFormat::Junit),
            "github" => Some(MachineFormat::Github),
            "markdown" => Some(MachineFormat::Markdown),
            _ => None,
        }
    }
}

/// The failure document of `format` for `command` (e.g. `test`).
pub fn render(format: MachineFormat, command: &str, diagnostics: &[Diagnostic]) -> String {
    match format {
        MachineFormat::Json => json_document(command, diagnostics),
        MachineFormat::Sarif => sarif_document(diagnostics),
        MachineFormat::Junit => crate::report::junit::failure(command, diagnostics),
        MachineFormat::Github => crate::report::github::annotations(diagnostics, Path::new("")),
        MachineFormat::Markdown => markdown_document(command, diagnostics),
    }
}

/// A heading that says the run could not be done, and every problem.
fn markdown_document(command: &str, diagnostics: &[Diagnostic]) -> String {
    use crate::report::markdown::{self, Links, Markdown};
    let mut md = Markdown::new();
    md.heading(2, &format!("avpctl {command}: ❌ could not run"));
    markdown::diagnostics_table(&mut md, diagnostics, Path::new(""), &Links::default());
    md.finish()
}

/// The failure document (docs/output.md): the first problem as `error`,
/// every problem in `diagnostics`.
#[derive(Serialize)]
struct FailureDocument<'a> {
    version: Version,
    command: &'a str,
    error: ErrorJson<'a>,
    diagnostics: Vec<DiagnosticJson<'a>>,
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    code: Option<&'a str>,
    message: Option<&'a str>,
    help: Option<&'a str>,
}

fn json_document(command: &str, diagnostics: &[Diagnostic]) -> String {
    let first = diagnostics.first();
    crate::report::json::pretty(&FailureDocument {
        version: Version,
        command,
        error: ErrorJson {
            code: first.map(|d| d.code.as_str()),
            message: first.map(|d| d.message.as_str()),
            help: first.and_then(|d| d.help.as_deref()),
        },
        diagnostics: crate::report::json::diagnostics(diagnostics),
    })
}

fn sarif_document(diagnostics: &[Diagnostic]) -> String {
    let mut log = crate::report::sarif::log(diagnostics, Path::new(""));
    log["runs"][0]["invocations"] = json!([{
        "executionSuccessful": false,
        "exitCode": 2,
        "toolExecutionNotifications": diagnostics.iter().map(|d| json!({
            "level": "error",
            "message": {"text": d.message},
            "descriptor": {"id": d.code},
        })).collect::<Vec<_>>(),
    }]);
    format!("{log:#}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem() -> Vec<Diagnostic> {
        vec![
            Diagnostic::error("store", "local:s.json is locked by another deploy")
                .with_help("wait"),
        ]
    }

    #[test]
    fn every_format_carries_the_error() {
        let json: serde_json::Value =
            serde_json::from_str(&render(MachineFormat::Json, "deploy", &problem())).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["error"]["code"], "store");
        let sarif: serde_json::Value =
            serde_json::from_str(&render(MachineFormat::Sarif, "validate", &problem())).unwrap();
        assert_eq!(
            sarif["runs"][0]["invocations"][0]["executionSuccessful"],
            false
        );
        let junit = render(MachineFormat::Junit, "test", &problem());
        assert!(
            junit.contains("<error message=\"local:s.json is locked by another deploy\""),
            "{junit}"
        );
        assert!(render(MachineFormat::Github, "validate", &problem()).starts_with("::error "));
    }
}
