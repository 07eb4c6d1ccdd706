//! Taking over what a store already holds, on the embedded store:
//! `import` writes a project equal to the store, `deploy` adopts unnamed
//! items instead of copying them, a saved plan applies exactly or refuses,
//! and `init` starts a project that works as it stands. The same against
//! the AVP emulator is in avp.rs.

use std::path::Path;

use serde_json::Value;

use crate::common::{Run, avpctl_in, example};

fn ok(run: &Run) {
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

/// The example deployed to its local store, then every static policy and
/// the template unnamed (as the console or CloudFormation make them);
/// every second one gets a description. Returns the project and the
/// store file.
fn unnamed_store() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = example();
    ok(&avpctl_in(dir.path(), &["deploy", "--yes"]));
    let path = dir.path().join(".avpctl/store.json");
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (i, policy) in state["policies"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        if policy["definition"].get("static").is_some() {
            policy["name"] = Value::Null;
            policy["description"] = if i % 2 == 0 {
                Value::String(format!("Rule {i} (from the console)"))
            } else {
                Value::Null
            };
        }
    }
    for template in state["templates"].as_array_mut().unwrap() {
        template["name"] = Value::Null;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    (dir, path)
}

fn store_items(path: &Path) -> Vec<(String, Option<String>)> {
    let state: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut items: Vec<(String, Option<String>)> = ["policies", "templates"]
        .iter()
        .flat_map(|key| state[key].as_array().unwrap().clone())
        .map(|item| {
            (
                item["id"].as_str().unwrap().to_string(),
                item["name"].as_str().map(str::to_string),
            )
        })
        .collect();
    items.sort();
    items
}

#[test]
fn deploy_adopts_unnamed_policies_and_templates_keeping_their_store_ids() {
    let (dir, path) = unnamed_store();
    let before = store_items(&path);
    let diff = avpctl_in(dir.path(), &["diff", "--format", "json"]);
    ok(&diff);
    let changes = diff.json()["changes"].as_array().unwrap().clone();
    assert_eq!(
        changes.len(),
        8,
        "7 policies and the template: {changes:#?}"
    );
    for change in &changes {
        assert_eq!(change["status"], "adopted", "{change:#}");
        assert_eq!(change["access"], "neutral", "{change:#}");
    }
    assert!(diff.json()["unmanaged"].as_array().unwrap().is_empty());

    ok(&avpctl_in(dir.path(), &["deploy", "--yes"]));
    let after = store_items(&path);
    let ids = |items: &[(String, Option<String>)]| -> Vec<String> {
        items.iter().map(|(id, _)| id.clone()).collect()
    };
    assert_eq!(ids(&after), ids(&before), "no item created or deleted");
    for (id, name) in &after {
        let name = name.as_deref().unwrap_or_default();
        assert!(name.starts_with("name/"), "{id} is named now: {name:?}");
    }
    let clean = avpctl_in(dir.path(), &["diff", "--exit-code"]);
    ok(&clean);
    assert!(
        clean.stdout.starts_with("No differences"),
        "{}",
        clean.stdout
    );
}

#[test]
fn an_unnamed_policy_that_says_something_else_is_not_adopted() {
    let (dir, path) = unnamed_store();
    let owners = dir.path().join("policies/owner-full-access.cedar");
    let text = std::fs::read_to_string(&owners).unwrap();
    std::fs::write(&owners, text.replace("permit", "forbid")).unwrap();
    let diff = avpctl_in(dir.path(), &["diff", "--format", "json"]);
    ok(&diff);
    let report = diff.json();
    let owner = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "owner-full-access")
        .unwrap()
        .clone();
    assert_eq!(owner["status"], "added", "{owner:#}");
    assert_eq!(
        report["unmanaged"].as_array().unwrap().len(),
        1,
        "the store's permit stays unmanaged"
    );
    let _ = path;
}

#[test]
fn import_of_a_deployed_store_validates_is_fmt_clean_and_has_no_difference() {
    let dir = example();
    ok(&avpctl_in(dir.path(), &["deploy", "--yes"]));
    let out = tempfile::tempdir().unwrap();
    let project = out.path().join("imported");
    let store = format!("local:{}", dir.path().join(".avpctl/store.json").display());
    let project_text = project.to_str().unwrap();
    let import = avpctl_in(out.path(), &["import", "--store", &store, project_text]);
    ok(&import);
    assert!(
        import
            .stdout
            .contains("Imported 7 policies, 1 template, 2 links"),
        "{}",
        import.stdout
    );
    ok(&avpctl_in(out.path(), &["validate", project_text]));
    ok(&avpctl_in(out.path(), &["fmt", "--check", project_text]));
    let diff = avpctl_in(
        out.path(),
        &["diff", project_text, "--store", &store, "--exit-code"],
    );
    ok(&diff);
    assert!(diff.stdout.starts_with("No differences"), "{}", diff.stdout);
    // The example's own suites pass on the imported policies.
    crate::common::copy_dir(&dir.path().join("tests"), &project.join("tests"));
    crate::common::copy_dir(&dir.path().join("entities"), &project.join("entities"));
    ok(&avpctl_in(out.path(), &["test", project_text]));
}

#[test]
fn import_names_unnamed_items_by_description_else_store_id_and_keeps_the_meaning() {
    let (dir, path) = unnamed_store();
    let out = tempfile::tempdir().unwrap();
    let store = format!("local:{}", path.display());
    let import = avpctl_in(
        out.path(),
        &[
            "import",
            "--store",
            &store,
            "p",
            "--schema-format",
            "json",
            "--format",
            "json",
        ],
    );
    ok(&import);
    let report = import.json();
    let items = report["items"].as_array().unwrap();
    let from = |how: &str| items.iter().filter(|i| i["id_from"] == how).count();
    assert_eq!(from("description"), 4, "{items:#?}");
    assert_eq!(
        from("store-id") + from("description") + from("name"),
        items.len()
    );
    let described = items
        .iter()
        .find(|i| i["id_from"] == "description")
        .unwrap();
    let file = out
        .path()
        .join("p")
        .join(described["file"].as_str().unwrap());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("@description(\"Rule"), "{text}");
    assert!(out.path().join("p/schema.cedarschema.json").is_file());
    ok(&avpctl_in(out.path(), &["validate", "p"]));
    ok(&avpctl_in(out.path(), &["fmt", "--check", "p"]));
    // The only differences are the namings the first deploy makes.
    let diff = avpctl_in(
        out.path(),
        &["diff", "p", "--store", &store, "--format", "json"],
    );
    ok(&diff);
    for change in diff.json()["changes"].as_array().unwrap() {
        assert_eq!(change["status"], "adopted", "{change:#}");
    }
    let _ = dir;
}

#[test]
fn import_refuses_a_directory_that_is_not_empty_and_a_missing_store() {
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("keep.txt"), "mine").unwrap();
    let run = avpctl_in(
        out.path(),
        &["import", "--store", "local:nowhere.json", "."],
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("is not empty"), "{}", run.stderr);
    let run = avpctl_in(
        out.path(),
        &["import", "--store", "local:nowhere.json", "new"],
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("no store there"), "{}", run.stderr);
    assert!(!out.path().join("new").exists(), "nothing written");
}

fn plan_json(dir: &Path, args: &[&str]) -> (Run, Value) {
    let mut all = vec!["deploy"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let run = avpctl_in(dir, &all);
    let json = run.json();
    (run, json)
}

#[test]
fn a_saved_plan_changes_nothing_then_applies_exactly_what_it_says() {
    let dir = example();
    let (run, report) = plan_json(dir.path(), &["--plan-out", "plan.json"]);
    ok(&run);
    assert_eq!(report["stores"][0]["result"]["status"], "saved");
    assert!(
        !dir.path().join(".avpctl/store.json").exists(),
        "nothing applied"
    );
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(saved["kind"], "avpctl-plan");
    assert_eq!(saved["summary"]["steps"], 11);

    let (run, report) = plan_json(dir.path(), &["--plan", "plan.json"]);
    ok(&run);
    let result = &report["stores"][0]["result"];
    assert_eq!(result["status"], "applied", "{result:#}");
    let applied: Vec<Value> = result["applied"].as_array().unwrap().clone();
    assert_eq!(Value::Array(applied), saved["summary"]["labels"]);
    ok(&avpctl_in(dir.path(), &["diff", "--exit-code"]));
}

#[test]
fn a_saved_plan_is_refused_once_the_store_or_the_project_changed_and_nothing_is_written() {
    let dir = example();
    ok(&avpctl_in(dir.path(), &["deploy", "--yes"]));
    // A change that is reviewed as a plan: a new description.
    let owners = dir.path().join("policies/owner-full-access.cedar");
    let text = std::fs::read_to_string(&owners).unwrap();
    std::fs::write(
        &owners,
        format!("@description(\"Owners may do anything\")\n{text}"),
    )
    .unwrap();
    let (run, _) = plan_json(dir.path(), &["--plan-out", "plan.json"]);
    ok(&run);

    // Someone deploys another version of the project meanwhile.
    let other = example();
    std::fs::create_dir_all(other.path().join(".avpctl")).unwrap();
    std::fs::remove_file(other.path().join("policies/forbid-edit-locked.cedar")).unwrap();
    let store = dir.path().join(".avpctl/store.json");
    let store_text = format!("local:{}", store.display());
    ok(&avpctl_in(
        other.path(),
        &["deploy", "--store", &store_text, "--yes", "--no-tests"],
    ));
    let before = std::fs::read(&store).unwrap();
    let (run, report) = plan_json(dir.path(), &["--plan", "plan.json"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let result = &report["stores"][0]["result"];
    assert_eq!(result["status"], "stale", "{result:#}");
    let reasons = result["reasons"].to_string();
    assert!(reasons.contains("in the store, policy"), "{reasons}");
    assert!(reasons.contains("was deleted"), "{reasons}");
    assert_eq!(
        std::fs::read(&store).unwrap(),
        before,
        "the store is untouched"
    );

    // A plan made now, then a change to the project: refused too.
    let (run, _) = plan_json(dir.path(), &["--plan-out", "plan.json"]);
    ok(&run);
    std::fs::write(&owners, text).unwrap();
    let refused = avpctl_in(dir.path(), &["deploy", "--plan", "plan.json"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stdout
            .contains("the project changes policy `owner-full-access`"),
        "{}",
        refused.stdout
    );
    assert_eq!(
        std::fs::read(&store).unwrap(),
        before,
        "the store is untouched"
    );
}

#[test]
fn a_plan_file_that_is_not_a_plan_is_exit_2_naming_the_file() {
    let dir = example();
    std::fs::write(
        dir.path().join("plan.json"),
        "{\"version\": 1,\n  \"kind\": 3}",
    )
    .unwrap();
    let run = avpctl_in(dir.path(), &["deploy", "--plan", "plan.json"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("plan.json"), "{}", run.stderr);
    assert!(
        run.stderr.contains("not an avpctl plan file"),
        "{}",
        run.stderr
    );
    let fleet = avpctl_in(
        dir.path(),
        &[
            "deploy",
            "--store",
            "local:a.json",
            "--store",
            "local:b.json",
            "--plan-out",
            "p.json",
        ],
    );
    assert_eq!(fleet.code, 2, "{}\n{}", fleet.stdout, fleet.stderr);
    assert!(
        fleet.stderr.contains("a saved plan is for one store"),
        "{}",
        fleet.stderr
    );
}

#[test]
fn init_starts_a_project_that_validates_tests_and_deploys() {
    let out = tempfile::tempdir().unwrap();
    let run = avpctl_in(out.path(), &["init", "policies"]);
    ok(&run);
    for file in [
        "avpctl.toml",
        "schema.cedarschema",
        "policies/owners-edit.cedar",
        "tests/owners.yaml",
        ".pre-commit-config.yaml",
        ".github/workflows/policies.yml",
    ] {
        assert!(out.path().join("policies").join(file).is_file(), "{file}");
    }
    let project = out.path().join("policies");
    ok(&avpctl_in(&project, &["validate", "--deny-warnings"]));
    ok(&avpctl_in(&project, &["fmt", "--check"]));
    let test = avpctl_in(&project, &["test"]);
    ok(&test);
    assert!(
        test.stdout.contains("2 passed, 0 failed"),
        "{}",
        test.stdout
    );
    ok(&avpctl_in(&project, &["deploy", "--yes"]));
    ok(&avpctl_in(&project, &["diff", "--exit-code"]));
    let again = avpctl_in(out.path(), &["init", "policies"]);
    assert_eq!(again.code, 2, "{}\n{}", again.stdout, again.stderr);
    // The working directory itself, when it is empty (no staging left behind).
    let here = tempfile::tempdir().unwrap();
    ok(&avpctl_in(here.path(), &["init"]));
    let mut entries: Vec<String> = std::fs::read_dir(here.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            ".github",
            ".gitignore",
            ".pre-commit-config.yaml",
            "avpctl.toml",
            "policies",
            "schema.cedarschema",
            "tests"
        ]
    );
}

#[test]
fn store_settings_are_planned_applied_and_imported_like_the_schema() {
    let dir = example();
    let config = dir.path().join("avpctl.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[store]\nvalidation_mode = \"strict\"\ndeletion_protection = true\ndescription = \"DocApp policies\"\n");
    std::fs::write(&config, &text).unwrap();
    let (run, report) = plan_json(dir.path(), &["--yes"]);
    ok(&run);
    let labels = report["stores"][0]["result"]["applied"].to_string();
    assert!(
        labels
            .contains("update the store settings (validation mode STRICT, deletion protection on)"),
        "{labels}"
    );
    let store = dir.path().join(".avpctl/store.json");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    assert_eq!(state["deletion_protection"], true);
    assert_eq!(state["description"], "DocApp policies");
    ok(&avpctl_in(dir.path(), &["diff", "--exit-code"]));

    std::fs::write(
        &config,
        text.replace("deletion_protection = true", "deletion_protection = false"),
    )
    .unwrap();
    let diff = avpctl_in(dir.path(), &["diff", "--format", "json"]);
    let change = diff.json()["changes"][0].clone();
    assert_eq!(change["kind"], "store-settings", "{change:#}");
    assert_eq!(change["access"], "neutral", "{change:#}");
    assert_eq!(
        change["detail"], "deletion protection on → off",
        "{change:#}"
    );

    let out = tempfile::tempdir().unwrap();
    let uri = format!("local:{}", store.display());
    ok(&avpctl_in(out.path(), &["import", "--store", &uri, "p"]));
    let imported = std::fs::read_to_string(out.path().join("p/avpctl.toml")).unwrap();
    assert!(imported.contains("[store]\nvalidation_mode = \"strict\"\ndeletion_protection = true\ndescription = \"DocApp policies\"\n"), "{imported}");
    ok(&avpctl_in(
        out.path(),
        &["diff", "p", "--store", &uri, "--exit-code"],
    ));
}

#[test]
fn a_store_description_avp_would_refuse_is_located_in_avpctl_toml() {
    let dir = example();
    let config = dir.path().join("avpctl.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[store]\ndescription = \"{}\"\n",
        "x".repeat(151)
    ));
    std::fs::write(&config, text).unwrap();
    let run = avpctl_in(dir.path(), &["deploy", "--yes"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("`store.description` has 151 characters"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("avpctl.toml:"), "{}", run.stderr);
}

#[test]
fn a_saved_plan_applies_from_another_directory_to_the_same_store_file() {
    let dir = example();
    let parent = dir.path().parent().unwrap();
    let name = dir.path().file_name().unwrap().to_str().unwrap();
    // Beside the project, under its (unique) name.
    let plan_name = format!("{name}.plan.json");
    let plan = avpctl_in(parent, &["deploy", name, "--plan-out", &plan_name]);
    ok(&plan);
    let plan_file = parent.join(&plan_name);
    let apply = avpctl_in(
        dir.path(),
        &["deploy", "--plan", plan_file.to_str().unwrap()],
    );
    let _ = std::fs::remove_file(&plan_file);
    ok(&apply);
    assert!(
        apply.stdout.contains("Applied 11 steps"),
        "{}",
        apply.stdout
    );
}

#[test]
fn import_keeps_the_identity_source_as_the_projects() {
    let out = tempfile::tempdir().unwrap();
    let source = out.path().join("cognito");
    crate::common::copy_dir(&crate::common::fixture("identity/cognito"), &source);
    ok(&avpctl_in(&source, &["deploy", "--yes", "--no-tests"]));
    let uri = format!("local:{}", source.join(".avpctl/store.json").display());
    ok(&avpctl_in(out.path(), &["import", "--store", &uri, "p"]));
    let config = std::fs::read_to_string(out.path().join("p/avpctl.toml")).unwrap();
    assert!(
        config.contains("identity_source = \"identity-source.json\""),
        "{config}"
    );
    ok(&avpctl_in(out.path(), &["validate", "p"]));
    let diff = avpctl_in(out.path(), &["diff", "p", "--store", &uri, "--exit-code"]);
    ok(&diff);
    assert!(diff.stdout.starts_with("No differences"), "{}", diff.stdout);
}
