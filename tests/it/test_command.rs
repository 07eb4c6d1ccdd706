//! `avpctl test`: the suite format, failure reports, bad input, selection,
//! coverage and output formats, run on fixture projects.

use std::path::Path;

use crate::common::{self, avpctl, case, copy_dir, diagnostic, repo};
use serde_json::Value;

/// A copy of fixtures/test/base with the given suites in its tests/.
pub(crate) fn project_with(suites: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("fixtures/test/base"), dir.path());
    for extra in ["replay", "bad-entities"] {
        copy_dir(
            &repo().join("fixtures/test").join(extra),
            &dir.path().join(extra),
        );
    }
    std::fs::create_dir_all(dir.path().join("tests")).unwrap();
    for suite in suites {
        std::fs::copy(
            repo()
                .join("fixtures/test/suites")
                .join(format!("{suite}.yaml")),
            dir.path().join("tests").join(format!("{suite}.yaml")),
        )
        .unwrap();
    }
    dir
}

fn test_json(dir: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["test", dir.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let run = avpctl(&args);
    (run.code, run.json())
}

#[test]
fn the_example_suites_pass_and_record_the_teams_decisions() {
    let (code, report) = test_json(&repo().join("policies-example"), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["failed"], 0);
    let alice = case(
        &report,
        "alice edits doc 42 through her team's workspace grant",
    );
    assert_eq!(alice["decision"], "allow");
    assert_eq!(alice["reasons"], serde_json::json!(["team-edit-workspace"]));
    let bob = case(
        &report,
        "bob cannot edit doc 42, marketing has no grant on the finance workspace",
    );
    assert_eq!(bob["decision"], "deny");
    assert_eq!(bob["reasons"], serde_json::json!([]));
}

#[test]
fn every_feature_of_the_format_passes() {
    let dir = project_with(&["passing"]);
    let (code, report) = test_json(dir.path(), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["total"], 14);
    assert_eq!(
        case(&report, "entity files may use AVP's entityList form")["reasons"],
        serde_json::json!(["senior-view"])
    );
    assert_eq!(
        case(&report, "no edit without MFA, even for the owner")["reasons"],
        serde_json::json!(["edit-needs-mfa"])
    );
    assert_eq!(
        case(&report, "an overflow is an expected error")["errors"],
        serde_json::json!(["overflowing"])
    );
    // Table rows are reported one by one.
    let memo = case(&report, "alice's feed › App::Doc::\"memo\"");
    assert_eq!(memo["decision"], "deny");
    assert_eq!(
        case(&report, "who can view the plan › App::User::\"bob\"")["reasons"],
        serde_json::json!(["bob-reads-plan"])
    );
    // Replayed AVP requests, with AVP's entity and context shapes.
    assert_eq!(
        case(&report, "replayed IsAuthorized call")["decision"],
        "allow"
    );
    assert_eq!(
        case(&report, "replayed BatchIsAuthorized call › request 1")["decision"],
        "deny"
    );
}

#[test]
fn failures_say_why() {
    let dir = project_with(&["failing"]);
    let (code, report) = test_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(report["summary"]["failed"], 8);
    assert_eq!(report["summary"]["passed"], 0);
    let failures = |name: &str| {
        case(&report, name)["failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(failures("wrong expectation"), "expected allow, got deny");
    assert!(failures("wrong determining policies").contains("unexpected senior-view"));
    assert!(
        failures("an evaluation error nobody expected")
            .contains("policies raised evaluation errors: overflowing")
    );
    assert!(failures("a misspelt policy id").contains("did you mean `owner`?"));
    assert!(failures("a template named as a reason").contains("`share` is a template"));
    assert!(
        failures("an action the schema does not declare").contains("is not declared in the schema")
    );
    assert!(failures("a principal of the wrong type").contains("does not conform to the schema"));
    assert!(
        failures("a context of the wrong shape").contains("context `{mfa: \"yes\"}` is not valid")
    );
}

#[test]
fn a_failure_report_shows_location_decision_policies_and_entities() {
    let dir = project_with(&["failing"]);
    let run = avpctl(&[
        "test",
        dir.path().to_str().unwrap(),
        "--filter",
        "wrong determining",
    ]);
    assert_eq!(run.code, 1);
    let text = run
        .stdout
        .replace(dir.path().to_str().unwrap(), "<project>");
    insta::assert_snapshot!(
        "test_human_failure",
        text.lines()
            .filter(|l| !l.starts_with("Summary"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(text.contains("Summary ["));
    assert!(text.contains("1 case run: 0 passed, 1 failed"));
}

#[test]
fn junit_output_marks_each_failure() {
    let dir = project_with(&["failing"]);
    let run = avpctl(&[
        "test",
        dir.path().to_str().unwrap(),
        "--format",
        "junit",
        "--filter",
        "wrong",
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with("<?xml"));
    assert!(
        run.stdout
            .contains("<testsuites name=\"avpctl\" tests=\"4\" failures=\"4\""),
        "{}",
        run.stdout
    );
    let case = element(&run.stdout, "<testcase name=\"wrong expectation\"");
    for attribute in [
        "classname=\"tests/failing.yaml\"",
        "file=\"tests/failing.yaml\"",
        "line=\"5\"",
    ] {
        assert!(case.contains(attribute), "{attribute} in {case}");
    }
    assert!(
        run.stdout
            .contains("<failure message=\"expected allow, got deny\" type=\"deny\">")
    );
}

/// The opening tag that starts with `start` (attributes in any order).
fn element<'a>(xml: &'a str, start: &str) -> &'a str {
    let at = xml
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in\n{xml}"));
    let end = xml[at..].find('>').map_or(xml.len(), |e| at + e + 1);
    &xml[at..end]
}

/// GitLab's and GitHub's test views show test cases, not the root's
/// `errors` count: a suite that does not load is an errored case in a
/// suite named after its file.
#[test]
fn junit_shows_a_suite_that_does_not_load_as_an_errored_case() {
    let dir = project_with(&["passing", "malformed"]);
    let run = avpctl(&["test", dir.path().to_str().unwrap(), "--format", "junit"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let suite = element(&run.stdout, "<testsuite name=\"tests/malformed.yaml\"");
    for attribute in ["tests=\"1\"", "failures=\"0\"", "errors=\"1\""] {
        assert!(suite.contains(attribute), "{attribute} in {suite}");
    }
    let case = element(
        &run.stdout,
        "<testcase name=\"tests/malformed.yaml:5:6: does not load\"",
    );
    for attribute in [
        "classname=\"tests/malformed.yaml\"",
        "file=\"tests/malformed.yaml\"",
        "line=\"5\"",
    ] {
        assert!(case.contains(attribute), "{attribute} in {case}");
    }
    assert!(run.stdout.contains("<error message="), "{}", run.stdout);
}

#[test]
fn filter_and_fail_fast_select_cases() {
    let dir = project_with(&["passing", "failing"]);
    let (code, report) = test_json(dir.path(), &["--filter", "passing.yaml"]);
    assert_eq!(code, 0);
    assert_eq!(report["summary"]["total"], 14);
    let (_, report) = test_json(dir.path(), &["--filter", "feed"]);
    assert_eq!(report["summary"]["total"], 2);
    let (code, report) = test_json(dir.path(), &["--fail-fast"]);
    assert_eq!(code, 1);
    assert_eq!(report["summary"]["failed"], 1, "stops at the first failure");
    assert_eq!(
        report["cases"].as_array().unwrap().last().unwrap()["name"],
        "wrong expectation"
    );
    assert!(report["summary"]["skipped"].as_u64().unwrap() > 0);
}

#[test]
fn a_run_without_cases_fails_unless_allowed() {
    let dir = project_with(&[]);
    let (code, report) = test_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(report["summary"]["total"], 0);
    let (code, _) = test_json(dir.path(), &["--allow-empty"]);
    assert_eq!(code, 0);
}

#[test]
fn coverage_flags_what_no_case_exercised() {
    let dir = project_with(&["passing"]);
    let (code, report) = test_json(dir.path(), &["--coverage", "--filter", "MFA"]);
    assert_eq!(code, 0);
    let items = report["coverage"]["items"].as_array().unwrap();
    let item = |id: &str| items.iter().find(|i| i["id"] == id).unwrap();
    assert_eq!(item("edit-needs-mfa")["determined"], 1);
    assert_eq!(item("owner")["exercised"], false);
    assert_eq!(item("share")["kind"], "template");
    assert_eq!(item("share")["exercised"], false);
    // One of four policies and one template: 1 of 5 exercised.
    assert_eq!(report["coverage"]["percent"], 20.0);
    let untested = report["coverage"]["untested_request_envs"]
        .as_array()
        .unwrap();
    assert_eq!(untested.len(), 1, "view is never requested");
    assert_eq!(untested[0]["action"], "App::Action::\"view\"");
    let (code, _) = test_json(dir.path(), &["--filter", "MFA", "--min-coverage", "50"]);
    assert_eq!(code, 1, "below the minimum fails");
    let (code, _) = test_json(dir.path(), &["--min-coverage", "100"]);
    assert_eq!(code, 0, "the whole suite exercises everything");
}

fn bad_input(suite: &str, code: &str) -> Value {
    let dir = project_with(&[suite]);
    let (exit, report) = test_json(dir.path(), &[]);
    assert_eq!(exit, 2, "{suite}: {report:#}");
    diagnostic(&report, code).clone()
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let d = bad_input("malformed", "syntax");
    assert_eq!(d["file"], "tests/malformed.yaml");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(5), Some(6))
    );
}

#[test]
fn a_case_without_expect_is_refused() {
    let d = bad_input("missing-expect", "missing-expect");
    assert_eq!(d["line"], 4);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("says nothing about the decision")
    );
}

#[test]
fn an_unknown_key_is_refused_with_the_closest_key() {
    let d = bad_input("unknown-key", "syntax");
    assert_eq!(d["line"], 8);
    assert_eq!(d["help"], "did you mean `expect`?");
}

#[test]
fn a_missing_entity_file_is_named() {
    let d = bad_input("missing-entity-file", "entities");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("entities/nope.json does not exist")
    );
}

#[test]
fn an_entity_file_that_does_not_parse_is_located() {
    let d = bad_input("broken-entity-file", "json");
    assert_eq!(d["file"], "bad-entities/broken.json");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(70))
    );
}

#[test]
fn an_undeclared_parent_is_a_warning_and_evaluates_as_cedar_does() {
    let dir = project_with(&["undeclared-parent"]);
    let (exit, report) = test_json(dir.path(), &[]);
    assert_eq!(exit, 0, "{report:#}");
    assert_eq!(report["summary"]["passed"], 1);
    let warning = diagnostic(&report, "undeclared-parent");
    assert_eq!(warning["severity"], "warning");
    assert_eq!(warning["file"], "bad-entities/orphan.json");
    // The entity that names the parent, where it is written.
    assert_eq!(
        (warning["line"].as_u64(), warning["column"].as_u64()),
        (Some(2), Some(3))
    );
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("App::Team::\"platfrom\"")
    );
    let (exit, _) = test_json(dir.path(), &["--deny-warnings"]);
    assert_eq!(exit, 1);
}

/// `cedar authorize` allows `principal in Role::"admin"` for a user whose
/// parent Role::"admin" no entity data declares; so does avpctl.
#[test]
fn a_parent_known_only_by_name_grants_membership() {
    let dir = common::project(&[
        (
            "schema.cedarschema",
            "namespace App { entity Role; entity User in [Role]; entity Doc; action view appliesTo { principal: User, resource: Doc }; }\n",
        ),
        (
            "policies/admins.cedar",
            "permit(principal in App::Role::\"admin\", action == App::Action::\"view\", resource);\n",
        ),
        (
            "tests/t.yaml",
            concat!(
                "entities:\n",
                "  - {uid: {type: App::User, id: alice}, attrs: {}, parents: [{type: App::Role, id: admin}]}\n",
                "cases:\n",
                "  - name: an admin by an undeclared role views\n",
                "    principal: 'App::User::\"alice\"'\n",
                "    action: 'App::Action::\"view\"'\n",
                "    resource: 'App::Doc::\"d\"'\n",
                "    expect: allow\n",
                "    reasons: [admins]\n",
            ),
        ),
    ]);
    let (exit, report) = test_json(dir.path(), &[]);
    assert_eq!(exit, 0, "{report:#}");
    let warning = diagnostic(&report, "undeclared-parent");
    assert_eq!(warning["file"], "tests/t.yaml");
    assert_eq!(warning["line"], 2);
}

#[test]
fn entities_that_break_the_schema_are_refused() {
    let d = bad_input("nonconforming-entities", "entities");
    assert_eq!(d["line"], 2);
    assert!(d["message"].as_str().unwrap().contains("type mismatch"));
}

#[test]
fn a_uid_that_does_not_parse_is_refused() {
    let d = bad_input("bad-uid", "bad-uid");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("`alice` is not an entity UID")
    );
}

#[test]
fn duplicate_case_names_are_refused() {
    let d = bad_input("duplicate-name", "duplicate-case");
    assert_eq!(d["line"], 9);
}

#[test]
fn an_alias_bomb_is_refused_quickly() {
    // The budget message says the expansion was cut short; the time bound
    // is the point too (an alias bomb expands exponentially), so it stays,
    // generous, as a limit after which the run is killed and the test fails.
    let dir = project_with(&["alias-bomb"]);
    let run = common::avpctl_within(
        std::time::Duration::from_secs(20),
        &["test", dir.path().to_str().unwrap(), "--format", "json"],
    );
    let report = run.json();
    assert_eq!(run.code, 2, "alias-bomb: {report:#}");
    let d = diagnostic(&report, "syntax");
    assert!(d["message"].as_str().unwrap().contains("budget breached"));
}

#[test]
fn a_100_megabyte_suite_is_refused_before_it_is_read() {
    let dir = project_with(&[]);
    let file = std::fs::File::create(dir.path().join("tests/huge.yaml")).unwrap();
    file.set_len(100 * 1024 * 1024).unwrap();
    let (code, report) = test_json(dir.path(), &[]);
    assert_eq!(code, 2);
    let d = diagnostic(&report, "file-too-large");
    assert!(d["message"].as_str().unwrap().contains("tests/huge.yaml"));
}

#[test]
fn table_rows_take_names_and_generated_names_are_unique() {
    let dir = project_with(&[]);
    std::fs::write(
        dir.path().join("tests/rows.yaml"),
        concat!(
            "entities: [../entities/org.json]\n",
            "cases:\n",
            "  - name: alice edits\n",
            "    principal: 'App::User::\"alice\"'\n",
            "    action: 'App::Action::\"edit\"'\n",
            "    resources:\n",
            "      - {name: with MFA, resource: 'App::Doc::\"plan\"', context: {mfa: true}, expect: allow}\n",
            "      - {resource: 'App::Doc::\"plan\"', context: {mfa: false}, expect: deny}\n",
            "      - {resource: 'App::Doc::\"plan\"', context: {mfa: false}, expect: deny}\n",
        ),
    )
    .unwrap();
    let (exit, report) = test_json(dir.path(), &[]);
    let names: Vec<&str> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "alice edits › with MFA",
            "alice edits › App::Doc::\"plan\"",
            "alice edits › App::Doc::\"plan\" [row 3]"
        ],
        "{report:#}"
    );
    assert_eq!(exit, 0, "{report:#}");
}

#[test]
fn github_format_annotates_each_failed_case_on_its_line() {
    let dir = project_with(&["failing"]);
    let run = avpctl(&[
        "test",
        dir.path().to_str().unwrap(),
        "--format",
        "github",
        "--filter",
        "wrong",
    ]);
    assert_eq!(run.code, 1);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 4, "{}", run.stdout);
    assert!(
        errors[0].starts_with("::error file=") && errors[0].contains("tests/failing.yaml,line=5,"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("::wrong expectation: expected allow, got deny"),
        "{}",
        errors[0]
    );
    assert!(
        run.stdout.lines().last().unwrap().starts_with("::notice "),
        "{}",
        run.stdout
    );
}

#[test]
fn an_undeclared_action_is_named_with_the_closest_one() {
    let dir = project_with(&[]);
    std::fs::write(
        dir.path().join("tests/typo.yaml"),
        "entities: [../entities/org.json]\ncases:\n  - name: typo\n    principal: 'App::User::\"alice\"'\n    action: 'App::Action::\"veiw\"'\n    resource: 'App::Doc::\"plan\"'\n    context: {mfa: true}\n    expect: allow\n",
    )
    .unwrap();
    let (exit, report) = test_json(dir.path(), &[]);
    assert_eq!(exit, 1, "{report:#}");
    let failure = report["cases"][0]["failures"][0].as_str().unwrap();
    assert!(
        failure.contains("the action App::Action::\"veiw\" is not declared in the schema (did you mean App::Action::\"view\"?)"),
        "{failure}"
    );
}
