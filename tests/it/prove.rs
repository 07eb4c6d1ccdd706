//! `avpctl diff --prove`: pairs of policy sets (and schemas) with a known
//! relation, each asserted by verdict per request environment
//! (counterexample text varies by solver; its decisions do not).
//!
//! The tests that run the solver are `#[ignore = "needs cvc5"]`: a plain
//! `cargo test` shows them as ignored, not as passed. `cargo test --
//! --include-ignored` (as scripts/test.sh runs it) runs them, and each one
//! fails, never passes, when cvc5 is missing.

use crate::common::{self, avpctl, avpctl_in, project};
use serde_json::Value;

const SCHEMA: &str = r#"namespace App {
  entity Group;
  entity User in [Group] {
    level: Long,
    tags: Set<String>,
    home: ipaddr,
    score: decimal,
    joined: datetime,
  };
  entity Doc { owner: User, size: Long };
  action view, edit appliesTo {
    principal: [User],
    resource: [Doc],
    context: { mfa: Bool, ip: ipaddr, now: datetime },
  };
}
"#;

/// Fails the test unless cvc5 runs as avpctl will run it (`CVC5`, else
/// `cvc5` on PATH). The tests that call it are ignored for that reason; run
/// explicitly without the solver they must fail rather than pass.
pub(crate) fn require_solver() {
    let program = std::env::var_os("CVC5").unwrap_or_else(|| "cvc5".into());
    let runs = std::process::Command::new(&program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        runs,
        "this test needs the cvc5 SMT solver and `{} --version` does not run: install it (`apt-get install cvc5`; ./scripts/test.sh does) or set CVC5=/path/to/cvc5",
        program.to_string_lossy()
    );
}

/// Old and new projects from policy texts; returns the proof JSON and exit code.
fn prove(old: &str, new: &str, extra: &[&str]) -> (i32, Value) {
    prove_with_schemas((SCHEMA, old), (SCHEMA, new), extra)
}

/// Old and new projects from (schema, policies) pairs.
fn prove_with_schemas(old: (&str, &str), new: (&str, &str), extra: &[&str]) -> (i32, Value) {
    require_solver();
    let old_dir = project(&[("schema.cedarschema", old.0), ("policies/all.cedar", old.1)]);
    let new_dir = project(&[("schema.cedarschema", new.0), ("policies/all.cedar", new.1)]);
    let mut args = vec![
        "diff",
        new_dir.path().to_str().unwrap(),
        "--against",
        old_dir.path().to_str().unwrap(),
        "--prove",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let run = avpctl(&args);
    assert!(
        run.code == 0 || run.code == 1,
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let report = run.json();
    (run.code, report["proof"].clone())
}

fn verdict<'a>(proof: &'a Value, action: &str) -> &'a Value {
    let envs = proof["envs"].as_array().unwrap();
    envs.iter()
        .find(|e| e["action"] == format!("App::Action::\"{action}\""))
        .unwrap_or_else(|| panic!("{proof:#}"))
}

#[test]
#[ignore = "needs cvc5"]
fn splitting_an_or_into_two_permits_is_equivalent() {
    let (code, proof) = prove(
        r#"@id("p") permit(principal, action == App::Action::"view", resource) when { principal.level > 3 || resource.owner == principal };"#,
        r#"@id("p1") permit(principal, action == App::Action::"view", resource) when { principal.level > 3 };
           @id("p2") permit(principal, action == App::Action::"view", resource) when { resource.owner == principal };"#,
        &["--deny-widening"],
    );
    assert_eq!(code, 0);
    assert_eq!(verdict(&proof, "view")["verdict"], "equivalent");
    assert_eq!(
        verdict(&proof, "view")["solved"],
        true,
        "the solver proved it"
    );
    assert_eq!(
        verdict(&proof, "edit")["solved"],
        false,
        "an untouched environment needs no solver"
    );
}

#[test]
#[ignore = "needs cvc5"]
fn an_added_forbid_narrows() {
    let (code, proof) = prove(
        r#"@id("p") permit(principal, action, resource);"#,
        r#"@id("p") permit(principal, action, resource);
           @id("f") forbid(principal, action == App::Action::"edit", resource) unless { context.mfa };"#,
        &["--deny-widening"],
    );
    assert_eq!(code, 0, "narrowing passes the gate");
    assert_eq!(verdict(&proof, "edit")["verdict"], "narrows");
    let lost = &verdict(&proof, "edit")["newly_denied"];
    assert_eq!(lost["old_decision"], "allow");
    assert_eq!(lost["new_decision"], "deny");
    assert_eq!(lost["new_reasons"], serde_json::json!(["f"]));
    assert_eq!(lost["context"]["mfa"], false);
    assert_eq!(verdict(&proof, "view")["verdict"], "equivalent");
}

#[test]
#[ignore = "needs cvc5"]
fn a_relaxed_threshold_widens_with_a_counterexample_that_flips_and_fails_the_gate() {
    let (code, proof) = prove(
        r#"@id("senior") permit(principal, action == App::Action::"view", resource) when { principal.level >= 5 };"#,
        r#"@id("senior") permit(principal, action == App::Action::"view", resource) when { principal.level >= 3 };"#,
        &["--deny-widening"],
    );
    assert_eq!(code, 1, "--deny-widening fails on new access");
    let env = verdict(&proof, "view");
    assert_eq!(env["verdict"], "widens");
    let gained = &env["newly_allowed"];
    assert_eq!(gained["old_decision"], "deny");
    assert_eq!(gained["new_decision"], "allow");
    let principal = gained["principal"].as_str().unwrap();
    let user = gained["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            format!(
                "{}::{:?}",
                e["uid"]["type"].as_str().unwrap(),
                e["uid"]["id"].as_str().unwrap()
            ) == principal
        })
        .expect("the principal is among the entities");
    let level = user["attrs"]["level"]
        .as_i64()
        .unwrap_or_else(|| panic!("{gained:#}"));
    assert!(
        (3..5).contains(&level),
        "the witness sits between the thresholds: {level}"
    );
}

#[test]
#[ignore = "needs cvc5"]
fn one_action_widens_while_another_narrows() {
    let (_, proof) = prove(
        r#"@id("v") permit(principal, action == App::Action::"view", resource) when { principal.level > 5 };
           @id("e") permit(principal, action == App::Action::"edit", resource) when { principal.level > 5 };"#,
        r#"@id("v") permit(principal, action == App::Action::"view", resource) when { principal.level > 2 };
           @id("e") permit(principal, action == App::Action::"edit", resource) when { principal.level > 8 };"#,
        &[],
    );
    assert_eq!(verdict(&proof, "view")["verdict"], "widens");
    assert_eq!(verdict(&proof, "edit")["verdict"], "narrows");
    assert_eq!(proof["may_widen"], true);
}

#[test]
#[ignore = "needs cvc5"]
fn extension_types_hierarchy_sets_and_overflow_are_proven() {
    // ip ranges, decimals, datetimes, group membership and sets: a shift of
    // each bound is found in the right direction.
    let old = r#"@id("net") permit(principal, action == App::Action::"view", resource) when { context.ip.isInRange(ip("10.0.0.0/8")) && principal.score.greaterThan(decimal("0.5")) && context.now > datetime("2024-01-01") && principal in App::Group::"staff" && principal.tags.contains("reviewer") };"#;
    let new = r#"@id("net") permit(principal, action == App::Action::"view", resource) when { context.ip.isInRange(ip("10.0.0.0/16")) && principal.score.greaterThan(decimal("0.5")) && context.now > datetime("2024-01-01") && principal in App::Group::"staff" && principal.tags.contains("reviewer") };"#;
    let (_, proof) = prove(old, new, &[]);
    assert_eq!(
        verdict(&proof, "view")["verdict"],
        "narrows",
        "a smaller network narrows: {proof:#}"
    );

    // `level * 2 > 10` overflows for huge levels (an error: not satisfied),
    // so it is not the same as `level > 5`.
    let (_, proof) = prove(
        r#"@id("m") permit(principal, action == App::Action::"edit", resource) when { principal.level > 5 };"#,
        r#"@id("m") permit(principal, action == App::Action::"edit", resource) when { principal.level * 2 > 10 };"#,
        &[],
    );
    assert_eq!(
        verdict(&proof, "edit")["verdict"],
        "narrows",
        "overflow denies what `> 5` allowed: {proof:#}"
    );
    let lost = &verdict(&proof, "edit")["newly_denied"];
    let level = lost["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["attrs"]["level"].as_i64())
        .unwrap();
    assert!(level > i64::MAX / 2, "the witness overflows: {level}");
}

#[test]
#[ignore = "needs cvc5"]
fn a_counterexample_pastes_into_a_suite_as_a_passing_test() {
    require_solver();
    let old_dir = project(&[
        ("schema.cedarschema", SCHEMA),
        (
            "policies/all.cedar",
            r#"@id("s") permit(principal, action == App::Action::"view", resource) when { principal.level >= 5 };"#,
        ),
    ]);
    let new_dir = project(&[
        ("schema.cedarschema", SCHEMA),
        (
            "policies/all.cedar",
            r#"@id("s") permit(principal, action == App::Action::"view", resource) when { principal.level >= 3 };"#,
        ),
    ]);
    let run = avpctl_in(
        new_dir.path(),
        &[
            "diff",
            "--against",
            old_dir.path().to_str().unwrap(),
            "--prove",
            "--color",
            "never",
        ],
    );
    let start = run.stdout.find("      - name:").expect("a case is printed");
    let case: String = run.stdout[start..]
        .lines()
        .take_while(|l| l.starts_with("      ") || l.starts_with("        "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let suite = format!("cases:\n{case}\n");
    std::fs::create_dir_all(new_dir.path().join("tests")).unwrap();
    std::fs::write(new_dir.path().join("tests/regression.yaml"), &suite).unwrap();
    let test = avpctl_in(new_dir.path(), &["test"]);
    assert_eq!(test.code, 0, "{suite}\n{}\n{}", test.stdout, test.stderr);
    // And the same case fails on the old policies: it is a real regression test.
    std::fs::create_dir_all(old_dir.path().join("tests")).unwrap();
    std::fs::write(old_dir.path().join("tests/regression.yaml"), &suite).unwrap();
    assert_eq!(avpctl_in(old_dir.path(), &["test"]).code, 1);
}

#[test]
fn without_a_solver_prove_says_how_to_get_one_and_plain_diff_still_works() {
    let old_dir = project(&[
        ("schema.cedarschema", SCHEMA),
        (
            "policies/all.cedar",
            r#"@id("p") permit(principal, action, resource);"#,
        ),
    ]);
    let new_dir = project(&[
        ("schema.cedarschema", SCHEMA),
        (
            "policies/all.cedar",
            r#"@id("p") permit(principal, action == App::Action::"view", resource);"#,
        ),
    ]);
    let against = old_dir.path().to_str().unwrap();
    let mut command = common::command(new_dir.path(), &["diff", "--against", against, "--prove"]);
    command.env("CVC5", "/nonexistent/cvc5");
    let run = common::run_of(command.output().unwrap());
    assert_eq!(run.code, 2);
    assert!(
        run.stderr_text().contains("needs the cvc5 SMT solver"),
        "{}",
        run.stderr
    );
    assert!(run.stderr_text().contains("apt-get install cvc5"));
    let plain = avpctl_in(new_dir.path(), &["diff", "--against", against]);
    assert_eq!(plain.code, 0);
    assert!(plain.stdout.contains("Narrows access"), "{}", plain.stdout);
}

#[test]
#[ignore = "needs cvc5"]
fn policies_that_do_not_validate_cannot_be_proven() {
    require_solver();
    let old_dir = project(&[
        ("schema.cedarschema", SCHEMA),
        (
            "policies/all.cedar",
            r#"@id("p") permit(principal, action, resource) when { principal.nope };"#,
        ),
    ]);
    let new_dir = project(&[
        ("schema.cedarschema", SCHEMA),
        (
            "policies/all.cedar",
            r#"@id("p") permit(principal, action, resource);"#,
        ),
    ]);
    let run = avpctl_in(
        new_dir.path(),
        &[
            "diff",
            "--against",
            old_dir.path().to_str().unwrap(),
            "--prove",
        ],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr_text().contains("the old policies have 1 error"),
        "{}",
        run.stderr
    );
}

#[test]
#[ignore = "needs cvc5"]
fn validate_prove_flags_errors_dead_policies_and_conditions_that_always_hold() {
    require_solver();
    let policies = r#"@id("overflow") permit(principal, action == App::Action::"view", resource) when { principal.level * 2 > 10 };
@id("never") permit(principal, action == App::Action::"view", resource) when { principal.level > 5 && principal.level < 3 };
@id("always") permit(principal, action == App::Action::"edit", resource) when { principal.level > 5 || principal.level <= 5 };
@id("fine") permit(principal, action == App::Action::"edit", resource) when { principal.level > 5 };
"#;
    let dir = project(&[
        ("schema.cedarschema", SCHEMA),
        ("policies/all.cedar", policies),
    ]);
    let run = avpctl(&[
        "validate",
        dir.path().to_str().unwrap(),
        "--prove",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "proof findings are warnings: {}", run.stdout);
    let report = run.json();
    let found: Vec<(String, String)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["policy"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("prove-may-error".to_string(), "overflow".to_string()),
            ("prove-never-applies".to_string(), "never".to_string()),
            (
                "prove-conditions-always-hold".to_string(),
                "always".to_string()
            ),
        ],
        "{report:#}"
    );
    let overflow = &report["diagnostics"][0];
    assert_eq!(overflow["line"], 1);
    assert!(
        overflow["message"]
            .as_str()
            .unwrap()
            .contains("for example principal App::User")
    );
    let strict = avpctl(&[
        "validate",
        dir.path().to_str().unwrap(),
        "--prove",
        "--deny-warnings",
    ]);
    assert_eq!(strict.code, 1);
    // The example project proves clean.
    let example = avpctl(&["validate", "policies-example", "--prove", "--deny-warnings"]);
    assert_eq!(example.code, 0, "{}", example.stdout);
}

// Schema changes: an environment (principal type × action × resource type)
// that only one schema has is access that appears or disappears, because
// AVP in STRICT mode refuses a request that does not conform to the schema.

const VIEW_USERS: &str = r#"namespace App {
  entity User;
  entity Service;
  entity Doc;
  action view appliesTo { principal: [User], resource: [Doc] };
}
"#;

const VIEW_USERS_AND_SERVICES: &str = r#"namespace App {
  entity User;
  entity Service;
  entity Doc;
  action view appliesTo { principal: [User, Service], resource: [Doc] };
}
"#;

const VIEW_ALL: &str = r#"@id("p") permit (principal, action == App::Action::"view", resource);"#;

fn env_of<'a>(proof: &'a Value, principal: &str, action: &str) -> &'a Value {
    proof["envs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["principal"] == principal && e["action"] == format!("App::Action::\"{action}\"")
        })
        .unwrap_or_else(|| panic!("no {principal} × {action} in {proof:#}"))
}

/// The first case printed by `diff --prove` (human output), as a suite.
fn printed_suite(stdout: &str) -> String {
    let start = stdout.find("      - name:").expect("a case is printed");
    let case: String = stdout[start..]
        .lines()
        .take_while(|l| l.starts_with("      ") || l.starts_with("        "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    format!("cases:\n{case}\n")
}

#[test]
#[ignore = "needs cvc5"]
fn a_principal_type_added_to_an_action_widens_where_a_policy_allows_and_fails_the_gate() {
    let (code, proof) = prove_with_schemas(
        (VIEW_USERS, VIEW_ALL),
        (VIEW_USERS_AND_SERVICES, VIEW_ALL),
        &["--deny-widening"],
    );
    assert_eq!(
        code, 1,
        "new access through the schema fails the gate: {proof:#}"
    );
    assert_eq!(proof["may_widen"], true);
    let users = env_of(&proof, "App::User", "view");
    assert_eq!(users["in_schema"], "both");
    assert_eq!(users["verdict"], "equivalent");
    assert_eq!(users["solved"], false, "nothing changed there");
    let services = env_of(&proof, "App::Service", "view");
    assert_eq!(services["in_schema"], "new");
    assert_eq!(services["verdict"], "widens", "{proof:#}");
    let gained = &services["newly_allowed"];
    assert!(
        gained["principal"]
            .as_str()
            .unwrap()
            .starts_with("App::Service::"),
        "{gained:#}"
    );
    assert_eq!(gained["old_decision"], "invalid");
    assert_eq!(gained["new_decision"], "allow");
    assert_eq!(gained["new_reasons"], serde_json::json!(["p"]));
    assert_eq!(gained["old_reasons"], serde_json::json!([]));
    assert!(services["newly_denied"].is_null());
}

#[test]
#[ignore = "needs cvc5"]
fn the_witness_of_a_new_environment_pastes_as_a_case_that_passes_now_and_failed_before() {
    require_solver();
    let old_dir = project(&[
        ("schema.cedarschema", VIEW_USERS),
        ("policies/all.cedar", VIEW_ALL),
    ]);
    let new_dir = project(&[
        ("schema.cedarschema", VIEW_USERS_AND_SERVICES),
        ("policies/all.cedar", VIEW_ALL),
    ]);
    let against = old_dir.path().to_str().unwrap();
    let run = avpctl_in(
        new_dir.path(),
        &["diff", "--against", against, "--prove", "--color", "never"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("[only in the new schema]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("old: invalid: the old schema refuses the request; new: allow by p"),
        "{}",
        run.stdout
    );
    let suite = printed_suite(&run.stdout);
    assert!(suite.contains("App::Service::"), "{suite}");
    for (dir, code) in [(&new_dir, 0), (&old_dir, 1)] {
        std::fs::create_dir_all(dir.path().join("tests")).unwrap();
        std::fs::write(dir.path().join("tests/regression.yaml"), &suite).unwrap();
        let test = avpctl_in(dir.path(), &["test"]);
        assert_eq!(test.code, code, "{suite}\n{}\n{}", test.stdout, test.stderr);
    }
}

#[test]
#[ignore = "needs cvc5"]
fn a_new_environment_where_nothing_is_allowed_changes_no_access() {
    let users_only =
        r#"@id("p") permit (principal is App::User, action == App::Action::"view", resource);"#;
    let (code, proof) = prove_with_schemas(
        (VIEW_USERS, users_only),
        (VIEW_USERS_AND_SERVICES, users_only),
        &["--deny-widening"],
    );
    assert_eq!(code, 0, "{proof:#}");
    let services = env_of(&proof, "App::Service", "view");
    assert_eq!(services["in_schema"], "new");
    assert_eq!(services["verdict"], "equivalent");
    assert_eq!(proof["may_widen"], false);
}

#[test]
#[ignore = "needs cvc5"]
fn environments_the_new_schema_drops_narrow_with_the_request_they_allowed() {
    // Services lose `view`, and the `delete` action goes with its policy:
    // both environments narrow; the one both schemas keep is untouched.
    let old_schema = r#"namespace App {
  entity User;
  entity Service;
  entity Doc;
  action view appliesTo { principal: [User, Service], resource: [Doc] };
  action delete appliesTo { principal: [User], resource: [Doc] };
}
"#;
    let old_policies = r#"@id("p") permit (principal, action == App::Action::"view", resource);
@id("d") permit (principal, action == App::Action::"delete", resource);"#;
    let (code, proof) = prove_with_schemas(
        (old_schema, old_policies),
        (VIEW_USERS, VIEW_ALL),
        &["--deny-widening"],
    );
    assert_eq!(code, 0, "narrowing passes the gate: {proof:#}");
    let services = env_of(&proof, "App::Service", "view");
    assert_eq!(services["in_schema"], "old");
    assert_eq!(services["verdict"], "narrows", "{proof:#}");
    let lost = &services["newly_denied"];
    assert_eq!(lost["old_decision"], "allow");
    assert_eq!(lost["new_decision"], "invalid");
    assert_eq!(lost["old_reasons"], serde_json::json!(["p"]));
    let delete = env_of(&proof, "App::User", "delete");
    assert_eq!(delete["in_schema"], "old");
    assert_eq!(delete["verdict"], "narrows");
    assert_eq!(
        delete["newly_denied"]["old_reasons"],
        serde_json::json!(["d"])
    );
    let users = env_of(&proof, "App::User", "view");
    assert_eq!(users["verdict"], "equivalent", "{proof:#}");
    assert_eq!(proof["may_widen"], false);
}

// The plain diff (no solver) classifies a schema change by the request
// environments it adds and removes.

fn plain_schema_change(old: (&str, &str), new: (&str, &str)) -> (Value, String) {
    let old_dir = project(&[("schema.cedarschema", old.0), ("policies/all.cedar", old.1)]);
    let new_dir = project(&[("schema.cedarschema", new.0), ("policies/all.cedar", new.1)]);
    let against = old_dir.path().to_str().unwrap();
    let json = avpctl_in(
        new_dir.path(),
        &["diff", "--against", against, "--format", "json"],
    );
    assert_eq!(json.code, 0, "{}\n{}", json.stdout, json.stderr);
    let report = json.json();
    let change = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "schema")
        .unwrap_or_else(|| panic!("a schema change: {report:#}"))
        .clone();
    let human = avpctl_in(new_dir.path(), &["diff", "--against", against]);
    (change, human.stdout)
}

#[test]
fn plain_diff_a_schema_change_that_adds_environments_where_a_permit_applies_widens() {
    let (change, human) =
        plain_schema_change((VIEW_USERS, VIEW_ALL), (VIEW_USERS_AND_SERVICES, VIEW_ALL));
    assert_eq!(change["access"], "widens", "{change:#}");
    assert_eq!(
        change["environments"]["added"],
        serde_json::json!([{
            "principal": "App::Service",
            "action": "App::Action::\"view\"",
            "resource": "App::Doc",
            "permits": ["p"],
        }])
    );
    assert_eq!(change["environments"]["removed"], serde_json::json!([]));
    assert_eq!(change["environments"]["shapes_changed"], false);
    assert!(
        change["detail"]
            .as_str()
            .unwrap()
            .contains("request environments: 1 added, 0 removed"),
        "{change:#}"
    );
    let widens = human.find("Widens access").expect("a widens section");
    let line = human
        .find(
            "+ environment App::Service × App::Action::\"view\" × App::Doc: p can now grant access",
        )
        .unwrap_or_else(|| panic!("{human}"));
    assert!(line > widens, "{human}");
}

#[test]
fn plain_diff_a_schema_change_that_removes_environments_where_a_permit_applied_narrows() {
    let (change, human) =
        plain_schema_change((VIEW_USERS_AND_SERVICES, VIEW_ALL), (VIEW_USERS, VIEW_ALL));
    assert_eq!(change["access"], "narrows", "{change:#}");
    assert_eq!(change["environments"]["added"], serde_json::json!([]));
    assert_eq!(
        change["environments"]["removed"][0]["principal"],
        "App::Service"
    );
    assert!(human.contains("Narrows access"), "{human}");
}

#[test]
fn plain_diff_a_new_environment_no_permit_reaches_is_neutral_and_other_changes_are_not_classified()
{
    let users_only =
        r#"@id("p") permit (principal is App::User, action == App::Action::"view", resource);"#;
    let (change, human) = plain_schema_change(
        (VIEW_USERS, users_only),
        (VIEW_USERS_AND_SERVICES, users_only),
    );
    assert_eq!(change["access"], "neutral", "{change:#}");
    assert_eq!(
        change["environments"]["added"][0]["permits"],
        serde_json::json!([])
    );
    assert!(human.contains("no permit applies there"), "{human}");

    // An attribute is no environment: the report says it cannot tell.
    let with_attribute = VIEW_USERS.replace("entity Doc;", "entity Doc { size: Long };");
    let (change, _) = plain_schema_change((VIEW_USERS, VIEW_ALL), (&with_attribute, VIEW_ALL));
    assert_eq!(change["environments"]["shapes_changed"], true, "{change:#}");
    assert!(
        change["detail"]
            .as_str()
            .unwrap()
            .contains("not classified"),
        "{change:#}"
    );
}

// Cedar ↔ JSON: schemas are compared as Cedar resolves them, not as text.

const CEDAR_FORM: &str = r#"type Email = String;
type Owner = Corp::User;
namespace Corp {
  type Address = { street: String, city: String, zip?: String };
  type Who = User;
  type Ctx = { mfa: Bool, ip: ipaddr, owner: Owner };
  entity Group;
  entity Team in [Group];
  entity User in [Team] {
    email: Email,
    home: Address,
    manager?: User,
    buddy: Who,
    score: decimal,
    tags: Set<String>,
  } tags String;
  entity Doc { owner: Owner, readers: Set<User>, size: Long };
  action read;
  action write in [read];
  action view, edit in [read] appliesTo {
    principal: [User],
    resource: [Doc],
    context: Ctx,
  };
  action share in [write] appliesTo {
    principal: User,
    resource: Doc,
    context: { note?: String, level: Long },
  };
}
"#;

/// The same schema as a user writes it in JSON: entity references as
/// `Entity`, common types where the other form has none and none where
/// it has them, names qualified or not.
fn json_form() -> Value {
    serde_json::json!({
        "": {
            "commonTypes": {"Email": {"type": "String"}},
            "entityTypes": {},
            "actions": {}
        },
        "Corp": {
            "commonTypes": {
                "Place": {"type": "Record", "attributes": {
                    "street": {"type": "String"},
                    "city": {"type": "String"},
                    "zip": {"type": "String", "required": false}
                }}
            },
            "entityTypes": {
                "Group": {},
                "Team": {"memberOfTypes": ["Group"]},
                "User": {
                    "memberOfTypes": ["Corp::Team"],
                    "shape": {"type": "Record", "attributes": {
                        "email": {"type": "Email"},
                        "home": {"type": "Place"},
                        "manager": {"type": "Entity", "name": "User", "required": false},
                        "buddy": {"type": "Entity", "name": "Corp::User"},
                        "score": {"type": "Extension", "name": "decimal"},
                        "tags": {"type": "Set", "element": {"type": "String"}}
                    }},
                    "tags": {"type": "String"}
                },
                "Doc": {"shape": {"type": "Record", "attributes": {
                    "owner": {"type": "Entity", "name": "User"},
                    "readers": {"type": "Set", "element": {"type": "Entity", "name": "User"}},
                    "size": {"type": "Long"}
                }}}
            },
            "actions": {
                "read": {},
                "write": {"memberOf": [{"id": "read"}]},
                "view": {
                    "memberOf": [{"id": "read", "type": "Corp::Action"}],
                    "appliesTo": {
                        "principalTypes": ["User"],
                        "resourceTypes": ["Corp::Doc"],
                        "context": {"type": "Record", "attributes": {
                            "mfa": {"type": "Boolean"},
                            "ip": {"type": "Extension", "name": "ipaddr"},
                            "owner": {"type": "Entity", "name": "User"}
                        }}
                    }
                },
                "edit": {
                    "memberOf": [{"id": "read"}],
                    "appliesTo": {
                        "principalTypes": ["Corp::User"],
                        "resourceTypes": ["Doc"],
                        "context": {"type": "Record", "attributes": {
                            "mfa": {"type": "Boolean"},
                            "ip": {"type": "Extension", "name": "ipaddr"},
                            "owner": {"type": "Entity", "name": "Corp::User"}
                        }}
                    }
                },
                "share": {
                    "memberOf": [{"id": "write"}],
                    "appliesTo": {
                        "principalTypes": ["User"],
                        "resourceTypes": ["Doc"],
                        "context": {"type": "Record", "attributes": {
                            "note": {"type": "String", "required": false},
                            "level": {"type": "Long"}
                        }}
                    }
                }
            }
        }
    })
}

const CORP_POLICY: &str = r#"@id("readers") permit (principal, action in Corp::Action::"read", resource) when { principal in resource.readers };"#;

fn json_project(schema: &Value) -> tempfile::TempDir {
    project(&[
        (
            "schema.cedarschema.json",
            &serde_json::to_string_pretty(schema).unwrap(),
        ),
        ("policies/all.cedar", CORP_POLICY),
        ("avpctl.toml", "schema = \"schema.cedarschema.json\"\n"),
    ])
}

#[test]
fn a_cedarschema_and_the_same_schema_in_json_form_are_no_change() {
    let cedar = project(&[
        ("schema.cedarschema", CEDAR_FORM),
        ("policies/all.cedar", CORP_POLICY),
    ]);
    let json = json_project(&json_form());
    for dir in [&cedar, &json] {
        let validate = avpctl_in(dir.path(), &["validate"]);
        assert_eq!(validate.code, 0, "{}\n{}", validate.stdout, validate.stderr);
    }
    for (new, old) in [(&cedar, &json), (&json, &cedar)] {
        let run = avpctl_in(
            new.path(),
            &[
                "diff",
                "--against",
                old.path().to_str().unwrap(),
                "--exit-code",
                "--format",
                "json",
            ],
        );
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.json()["changes"], serde_json::json!([]));
    }
}

#[test]
fn a_real_change_between_the_two_forms_still_shows() {
    let cedar = project(&[
        ("schema.cedarschema", CEDAR_FORM),
        ("policies/all.cedar", CORP_POLICY),
    ]);
    // `buddy` becomes a Group, and `view` gains a resource type.
    let mut changed = json_form();
    changed["Corp"]["entityTypes"]["User"]["shape"]["attributes"]["buddy"]["name"] =
        serde_json::json!("Group");
    changed["Corp"]["actions"]["view"]["appliesTo"]["resourceTypes"] =
        serde_json::json!(["Doc", "Team"]);
    let json = json_project(&changed);
    let run = avpctl_in(
        json.path(),
        &[
            "diff",
            "--against",
            cedar.path().to_str().unwrap(),
            "--exit-code",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let change = &report["changes"][0];
    assert_eq!(change["kind"], "schema", "{report:#}");
    let diff = change["diff"].as_str().unwrap();
    assert!(diff.contains("\"Corp::Group\""), "{diff}");
    assert_eq!(
        change["environments"]["added"][0]["resource"], "Corp::Team",
        "{change:#}"
    );
    assert_eq!(change["environments"]["shapes_changed"], true);
}
