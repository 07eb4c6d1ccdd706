//! Every JSON document avpctl prints matches its JSON Schema in
//! docs/schemas/ (docs/output.md): the schemas are checked against real
//! output of every command, success and failure alike.

use std::path::Path;

use crate::common::{avpctl, avpctl_in, example, repo};

fn check(schema_name: &str, document: &str, what: &str) {
    let path = repo().join(format!("docs/schemas/{schema_name}.schema.json"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let instance: serde_json::Value = serde_json::from_str(document)
        .unwrap_or_else(|err| panic!("{what}: not JSON ({err}):\n{document}"));
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let location = format!("file://{}", path.display());
    compiler.add_resource(&location, schema).unwrap();
    let index = compiler
        .compile(&location, &mut schemas)
        .unwrap_or_else(|err| panic!("{schema_name}.schema.json does not compile: {err}"));
    if let Err(err) = schemas.validate(&instance, index) {
        panic!("{what} does not match {schema_name}.schema.json: {err:#}\n{instance:#}");
    }
}

#[test]
fn validate_documents_match_their_schema() {
    for fixture in [
        "validate/duplicate-ids",
        "validate/type-errors",
        "validate/avp-preflight",
    ] {
        let dir = repo().join("fixtures").join(fixture);
        let run = avpctl(&["validate", dir.to_str().unwrap(), "--format", "json"]);
        check("validate", &run.stdout, fixture);
    }
}

#[test]
fn test_documents_match_their_schema() {
    let dir = example();
    let run = avpctl(&[
        "test",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
        "--coverage",
    ]);
    check("test", &run.stdout, "test --coverage");
    let failing = repo().join("fixtures/validate/type-errors");
    let run = avpctl(&["test", failing.to_str().unwrap(), "--format", "json"]);
    check("test", &run.stdout, "test of a project without cases");
}

#[test]
fn fmt_diff_and_deploy_documents_match_their_schema() {
    let dir = example();
    let path = dir.path().to_str().unwrap();
    check(
        "fmt",
        &avpctl(&["fmt", "--check", path, "--format", "json"]).stdout,
        "fmt --check",
    );
    check(
        "diff",
        &avpctl(&["diff", path, "--format", "json"]).stdout,
        "diff against an empty store",
    );
    check(
        "deploy",
        &avpctl(&["deploy", path, "--yes", "--format", "json"]).stdout,
        "deploy",
    );
    check(
        "deploy",
        &avpctl(&["deploy", path, "--yes", "--format", "json"]).stdout,
        "a deploy with nothing to do",
    );
    check(
        "diff",
        &avpctl(&["diff", path, "--format", "json"]).stdout,
        "diff with no difference",
    );
}

#[test]
fn store_group_documents_match_their_schema() {
    let dir = example();
    let mut config = std::fs::read_to_string(dir.path().join("avpctl.toml")).unwrap_or_default();
    config.push_str("\n[stores.a]\nuri = \"local:a.json\"\n\n[stores.b]\nuri = \"local:b.json\"\n\n[store_groups]\nboth = [\"a\", \"b\"]\n");
    std::fs::write(dir.path().join("avpctl.toml"), config).unwrap();
    let deploy = avpctl_in(
        dir.path(),
        &["deploy", "--store", "both", "--yes", "--format", "json"],
    );
    check("deploy", &deploy.stdout, "fleet deploy");
    let diff = avpctl_in(dir.path(), &["diff", "--store", "both", "--format", "json"]);
    check("diff-group", &diff.stdout, "diff --store GROUP");
    let test = avpctl_in(dir.path(), &["test", "--store", "both", "--format", "json"]);
    check("test-group", &test.stdout, "test --store GROUP");
}

#[test]
fn failure_documents_match_their_schema() {
    for args in [
        vec!["validate", "/no/such/project", "--format", "json"],
        vec!["test", "/no/such/project", "--format", "json"],
        vec!["deploy", ".", "--store", "s3:bucket", "--format", "json"],
        vec!["diff", ".", "--no-such-flag", "--format", "json"],
    ] {
        let run = avpctl_in(Path::new("/"), &args);
        assert_eq!(run.code, 2, "{args:?}");
        check("failure", &run.stdout, &args.join(" "));
    }
}

/// The check itself can fail: a document with the wrong version, or a
/// missing key, is caught.
#[test]
fn a_document_that_breaks_its_schema_is_caught() {
    let dir = repo().join("fixtures/validate/duplicate-ids");
    let run = avpctl(&["validate", dir.to_str().unwrap(), "--format", "json"]);
    let mut document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    document["version"] = serde_json::json!(2);
    let wrong_version = std::panic::catch_unwind(|| check("validate", &document.to_string(), "v2"));
    assert!(wrong_version.is_err(), "version 2 passed the schema");
    document["version"] = serde_json::json!(1);
    document["diagnostics"][0]
        .as_object_mut()
        .unwrap()
        .remove("severity");
    let missing =
        std::panic::catch_unwind(|| check("validate", &document.to_string(), "no severity"));
    assert!(
        missing.is_err(),
        "a diagnostic without severity passed the schema"
    );
}

#[test]
fn access_documents_match_their_schema() {
    let run = avpctl(&[
        "access",
        "policies-example",
        "--entities",
        "policies-example/entities",
        "--principal",
        r#"DocApp::User::"bob""#,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    check(
        "access",
        &run.stdout,
        "access --principal bob without a context (partial evaluation)",
    );
    let run = avpctl(&[
        "access",
        "policies-example",
        "--entities",
        "policies-example/entities",
        "--context",
        r#"{"ip": "10.0.1.5", "mfa_present": true, "request_time": "2026-03-15T10:00:00Z"}"#,
        "--format",
        "json",
    ]);
    check("access", &run.stdout, "access over the whole snapshot");
}

#[test]
fn import_and_saved_plan_documents_match_their_schema() {
    let out = tempfile::tempdir().unwrap();
    let store = format!(
        "local:{}",
        repo().join("fixtures/stores/console-made.json").display()
    );
    let import = avpctl_in(
        out.path(),
        &["import", "--store", &store, "p", "--format", "json"],
    );
    check("import", &import.stdout, "import");
    let dir = example();
    let saved = avpctl_in(
        dir.path(),
        &["deploy", "--plan-out", "plan.json", "--format", "json"],
    );
    check("deploy", &saved.stdout, "deploy --plan-out");
    let _ = avpctl_in(dir.path(), &["deploy", "--yes"]);
    let stale = avpctl_in(
        dir.path(),
        &["deploy", "--plan", "plan.json", "--format", "json"],
    );
    assert_eq!(stale.code, 1, "{}", stale.stdout);
    check("deploy", &stale.stdout, "deploy --plan, refused");
    let adopted = avpctl_in(
        out.path(),
        &["diff", "p", "--store", &store, "--format", "json"],
    );
    check("diff", &adopted.stdout, "diff with adoptions");
    let init = avpctl_in(out.path(), &["init", "new", "--format", "json"]);
    check("init", &init.stdout, "init");
}
