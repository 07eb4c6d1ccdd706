//! `avpctl validate` on good and bad projects: messages, positions, exit codes.

use crate::common::{self, avpctl, fixture, project};
use serde_json::Value;

fn validate_json(dir: &std::path::Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["validate", dir.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let run = avpctl(&args);
    (run.code, run.json())
}

fn diagnostics(report: &Value) -> &Vec<Value> {
    report["diagnostics"].as_array().expect("diagnostics array")
}

fn only(report: &Value, code: &str) -> Value {
    let matching: Vec<&Value> = diagnostics(report)
        .iter()
        .filter(|d| d["code"] == code)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one `{code}` diagnostic expected in {report:#}"
    );
    matching[0].clone()
}

#[test]
fn the_example_project_is_valid_in_strict_mode() {
    let (code, report) = validate_json(
        &common::repo().join("policies-example"),
        &["--deny-warnings"],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["errors"], 0);
    assert_eq!(report["summary"]["warnings"], 0);
    assert!(report["summary"]["policies"].as_u64().unwrap() >= 6);
    assert_eq!(report["summary"]["templates"], 1);
}

#[test]
fn an_empty_directory_is_not_a_project() {
    let run = avpctl(&[
        "validate",
        fixture("validate/empty-project").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a policy project"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_directory_is_exit_2() {
    let run = avpctl(&["validate", "/nonexistent/avpctl-project"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no such directory"), "{}", run.stderr);
}

#[test]
fn a_schema_named_in_the_config_but_missing_is_exit_2_at_the_config_key() {
    let (code, report) = validate_json(&fixture("validate/missing-schema"), &[]);
    assert_eq!(code, 2);
    let d = only(&report, "missing-schema");
    assert_eq!(d["file"], "avpctl.toml");
    assert_eq!(d["line"], 1);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("missing.cedarschema")
    );
}

#[test]
fn a_schema_that_does_not_parse_is_reported_at_its_position() {
    let (code, report) = validate_json(&fixture("validate/bad-schema"), &[]);
    assert_eq!(code, 1);
    let d = only(&report, "cedar-schema");
    assert_eq!(d["file"], "schema.cedarschema");
    assert_eq!(d["line"], 8);
    assert_eq!(d["column"], 5);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("unexpected token `resource`")
    );
    assert!(
        report["notes"].as_array().unwrap().is_empty(),
        "no 'no schema' note when the schema is broken"
    );
}

#[test]
fn a_policy_file_that_is_not_utf8_is_exit_2_with_its_position() {
    let (code, report) = validate_json(&fixture("validate/not-utf8"), &[]);
    assert_eq!(code, 2);
    let d = only(&report, "not-utf8");
    assert_eq!(d["file"], "policies/latin1.cedar");
    assert_eq!(d["line"], 2);
    assert_eq!(d["column"], 28);
}

#[test]
fn a_syntax_error_on_the_last_line_is_located_there() {
    let (code, report) = validate_json(&fixture("validate/syntax-error-last-line"), &[]);
    assert_eq!(code, 1);
    let d = only(&report, "cedar-syntax");
    assert_eq!(d["file"], "policies/rules.cedar");
    assert_eq!(d["line"], 6);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("unexpected end of input")
    );
}

#[test]
fn a_static_policy_used_as_a_template_is_refused() {
    let (code, report) = validate_json(&fixture("validate/template-as-static"), &[]);
    assert_eq!(code, 1);
    let d = only(&report, "link-static-policy");
    assert_eq!(d["file"], "links.yaml");
    assert_eq!(d["line"], 1);
    assert_eq!(d["policy"], "alice-view");
    assert_eq!(d["related"][0]["file"], "policies/view.cedar");
}

#[test]
fn a_link_to_a_missing_template_suggests_the_closest_one() {
    let (code, report) = validate_json(&fixture("validate/link-missing-template"), &[]);
    assert_eq!(code, 1);
    let d = only(&report, "link-unknown-template");
    assert_eq!(d["file"], "links.yaml");
    assert_eq!(d["help"], "did you mean `share-view`?");
}

#[test]
fn a_duplicate_id_names_both_places() {
    let (code, report) = validate_json(&fixture("validate/duplicate-ids"), &[]);
    assert_eq!(code, 1);
    let d = only(&report, "duplicate-id");
    assert_eq!(d["file"], "policies/b/read.cedar");
    assert_eq!(d["line"], 2);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("policies/a/read.cedar:1:1")
    );
    assert_eq!(d["related"][0]["file"], "policies/a/read.cedar");
}

#[test]
fn strict_validation_errors_are_located_in_their_policy() {
    let (code, report) = validate_json(&fixture("validate/type-errors"), &[]);
    assert_eq!(code, 1);
    let incompatible = only(&report, "cedar-incompatible-types");
    assert_eq!(
        (
            incompatible["line"].as_u64(),
            incompatible["column"].as_u64()
        ),
        (Some(3), Some(8))
    );
    assert_eq!(incompatible["policy"], "level-is-a-number");
    let optional = only(&report, "cedar-unsafe-optional-attribute-access");
    assert_eq!(optional["line"], 7);
    let unknown = only(&report, "cedar-unrecognized-action-id");
    assert_eq!(unknown["policy"], "unknown-action");
    assert_eq!(unknown["line"], 10);
}

#[test]
fn avp_preflight_findings_are_warnings_that_deny_warnings_turns_into_failure() {
    let dir = fixture("validate/avp-preflight");
    let (code, report) = validate_json(&dir, &[]);
    assert_eq!(code, 0, "warnings alone pass: {report:#}");
    for code in [
        "avp-policy-size",
        "avp-policy-name",
        "avp-description-length",
        "avp-namespace",
        "avp-template-slots",
    ] {
        let d = only(&report, code);
        assert_eq!(d["severity"], "warning");
    }
    let (code, _) = validate_json(&dir, &["--deny-warnings"]);
    assert_eq!(code, 1);
}

#[test]
fn too_many_templates_and_too_many_bytes_on_one_resource_are_flagged() {
    let mut files: Vec<(String, String)> = (0..41)
        .map(|i| {
            (
                format!("templates/t{i:02}.cedar"),
                format!("permit(principal == ?principal, action, resource == ?resource) when {{ {i} == {i} }};"),
            )
        })
        .collect();
    let padding = "x".repeat(9_000);
    for i in 0..23 {
        files.push((
            format!("policies/p{i:02}.cedar"),
            format!("permit(principal, action, resource == Doc::\"shared\") when {{ context.note != \"{padding}\" }};"),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let dir = project(&refs);
    let (code, report) = validate_json(dir.path(), &[]);
    assert_eq!(code, 0, "{report:#}");
    let count = only(&report, "avp-template-count");
    assert_eq!(count["file"], "templates/t40.cedar");
    let per_resource = only(&report, "avp-resource-policy-size");
    assert!(
        per_resource["message"]
            .as_str()
            .unwrap()
            .contains("Doc::\"shared\"")
    );
}

#[test]
fn a_symlink_loop_is_reported_not_followed() {
    let dir = project(&[(
        "policies/a/ok.cedar",
        "permit(principal, action, resource);",
    )]);
    #[cfg(unix)]
    std::os::unix::fs::symlink("..", dir.path().join("policies/a/back")).unwrap();
    let (code, report) = validate_json(dir.path(), &[]);
    assert_eq!(code, 2);
    let d = only(&report, "symlink-loop");
    assert!(d["message"].as_str().unwrap().contains("policies/a/back"));
    assert_eq!(
        report["summary"]["policies"], 1,
        "the rest of the project still loads"
    );
}

#[test]
fn a_ten_megabyte_policy_file_is_validated_without_trouble() {
    // 10 MB of real policies: each is checked, none is lost.
    let policy = "permit(principal, action, resource) when { context.level > 3 && context.name == \"abcdefghijklmnopqrstuvwxyz\" };\n";
    let count = 10_000_000 / policy.len();
    let dir = project(&[("policies/huge.cedar", &policy.repeat(count))]);
    // A generous bound: the point is "no hang", not a speed target. The
    // run is killed and the test fails once the bound is passed, so a hang
    // fails here rather than stalling the suite.
    let run = common::avpctl_within(
        std::time::Duration::from_secs(120),
        &["validate", dir.path().to_str().unwrap(), "--format", "json"],
    );
    let (code, report) = (run.code, run.json());
    assert_eq!(code, 0);
    assert_eq!(report["summary"]["policies"].as_u64(), Some(count as u64));
}

#[test]
fn a_single_ten_megabyte_policy_is_one_size_warning() {
    let big = format!(
        "permit(principal, action, resource) when {{ context.note != \"{}\" }};",
        "y".repeat(10_000_000)
    );
    let dir = project(&[("policies/big.cedar", &big)]);
    let (code, report) = validate_json(dir.path(), &[]);
    assert_eq!(code, 0);
    let d = only(&report, "avp-policy-size");
    assert_eq!(d["line"], 1);
}

#[test]
fn human_output_shows_the_snippet_and_a_summary() {
    let run = avpctl(&["validate", "fixtures/validate/type-errors"]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!("validate_human_type_errors", run.stdout);
}

#[test]
fn github_output_is_one_annotation_per_finding() {
    let run = avpctl(&[
        "validate",
        "fixtures/validate/duplicate-ids",
        "--format",
        "github",
    ]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!("validate_github_duplicate_ids", run.stdout);
}

#[test]
fn sarif_output_is_a_sarif_2_1_0_log() {
    let run = avpctl(&[
        "validate",
        "fixtures/validate/type-errors",
        "--format",
        "sarif",
    ]);
    assert_eq!(run.code, 1);
    let log = run.json();
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(results.len() >= 3);
    let first = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(
        first["artifactLocation"]["uri"],
        "fixtures/validate/type-errors/policies/rules.cedar"
    );
    assert_eq!(first["region"]["startLine"], 3);
    let rules: Vec<&str> = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"cedar-incompatible-types"));
}

#[test]
fn completions_are_generated_for_bash() {
    let run = avpctl(&["completions", "bash"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("complete -F _avpctl"), "{}", run.stdout);
    assert!(run.stdout.contains("validate"));
}

#[test]
fn a_link_slot_of_a_type_the_schema_does_not_allow_is_an_error_at_the_link() {
    let (code, report) = validate_json(&fixture("validate/link-slot-type"), &[]);
    assert_eq!(code, 1);
    let wrong_type = diagnostics(&report)
        .iter()
        .find(|d| d["code"] == "link-slot-type" && d["policy"] == "doc-views-doc")
        .expect("the wrong type is reported");
    assert_eq!(wrong_type["file"], "links.yaml");
    assert_eq!(wrong_type["line"], 6);
    assert_eq!(wrong_type["policy"], "doc-views-doc");
    assert!(
        wrong_type["message"]
            .as_str()
            .unwrap()
            .contains("type App::Doc")
    );
    let unknown = diagnostics(&report)
        .iter()
        .find(|d| d["code"] == "cedar-unrecognized-entity-type" && d["policy"] == "ghost-views-doc")
        .expect("the undeclared type is reported");
    assert_eq!(unknown["severity"], "error");
    assert_eq!(unknown["file"], "links.yaml");
    assert_eq!(report["summary"]["links"], 3);
}
