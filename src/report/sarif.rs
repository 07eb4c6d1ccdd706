//! SARIF 2.1.0 for code-scanning tools (GitHub code scanning, GitLab, IDEs).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::diagnostic::{Diagnostic, Severity};

pub fn log(diagnostics: &[Diagnostic], prefix: &Path) -> Value {
    let mut rules: BTreeMap<&str, &str> = BTreeMap::new();
    for d in diagnostics {
        rules.entry(d.code.as_str()).or_insert(d.message.as_str());
    }
    let rules: Vec<Value> = rules
        .keys()
        .map(|code| {
            json!({
                "id": code,
                "name": code,
                "shortDescription": {"text": rule_description(code)},
                "helpUri": "https://github.com/avpctl/avpctl/blob/main/docs/validate.md",
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "avpctl",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/avpctl/avpctl",
                "rules": rules,
            }},
            "results": diagnostics.iter().map(|d| result(d, prefix)).collect::<Vec<_>>(),
        }],
    })
}

fn rule_description(code: &str) -> String {
    if code.starts_with("avp-") {
        format!("Amazon Verified Permissions pre-flight: {code}")
    } else if code.starts_with("cedar") {
        format!("Cedar: {code}")
    } else {
        format!("avpctl: {code}")
    }
}

fn result(d: &Diagnostic, prefix: &Path) -> Value {
    let mut text = d.message.clone();
    if let Some(help) = &d.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    let mut value = json!({
        "ruleId": d.code,
        "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "message": {"text": text},
    });
    if let Some(location) = &d.location {
        let path = crate::report::human::shown_path(prefix, &location.file);
        let end = d.labels.first().map_or(location.span.end, |l| l.span.end);
        let (end_line, end_column) = location.file.line_column(end);
        value["locations"] = json!([{
            "physicalLocation": {
                "artifactLocation": {"uri": path},
                "region": {
                    "startLine": location.line,
                    "startColumn": location.column,
                    "endLine": end_line,
                    "endColumn": end_column,
                },
            },
        }]);
    }
    if let Some(policy) = &d.policy {
        value["properties"] = json!({"policy": policy});
    }
    value
}
