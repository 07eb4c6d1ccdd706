//! `avpctl diff --prove`: pairs of policy sets with a known relation, each
//! asserted by verdict per request environment (counterexample text varies
//! by solver; its decisions do not).

mod common;

use std::path::Path;

use common::{avpctl, avpctl_in, project};
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

fn solver_available() -> bool {
    std::env::var_os("CVC5").is_some()
        || std::process::Command::new("cvc5")
            .arg("--version")
            .output()
            .is_ok()
}

/// Old and new projects from policy texts; returns the proof JSON and exit code.
fn prove(old: &str, new: &str, extra: &[&str]) -> Option<(i32, Value)> {
    if !solver_available() {
        assert!(
            std::env::var("AVPCTL_REQUIRE_FAKECLOUD").as_deref() != Ok("1"),
            "cvc5 is required (scripts/test.sh installs it)"
        );
        eprintln!("SKIPPED: cvc5 is not installed");
        return None;
    }
    let old_dir = project(&[("schema.cedarschema", SCHEMA), ("policies/all.cedar", old)]);
    let new_dir = project(&[("schema.cedarschema", SCHEMA), ("policies/all.cedar", new)]);
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
    Some((run.code, report["proof"].clone()))
}

fn verdict<'a>(proof: &'a Value, action: &str) -> &'a Value {
    let envs = proof["envs"].as_array().unwrap();
    envs.iter()
        .find(|e| e["action"] == format!("App::Action::\"{action}\""))
        .unwrap_or_else(|| panic!("{proof:#}"))
}

#[test]
fn splitting_an_or_into_two_permits_is_equivalent() {
    let Some((code, proof)) = prove(
        r#"@id("p") permit(principal, action == App::Action::"view", resource) when { principal.level > 3 || resource.owner == principal };"#,
        r#"@id("p1") permit(principal, action == App::Action::"view", resource) when { principal.level > 3 };
           @id("p2") permit(principal, action == App::Action::"view", resource) when { resource.owner == principal };"#,
        &["--deny-widening"],
    ) else {
        return;
    };
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
fn an_added_forbid_narrows() {
    let Some((code, proof)) = prove(
        r#"@id("p") permit(principal, action, resource);"#,
        r#"@id("p") permit(principal, action, resource);
           @id("f") forbid(principal, action == App::Action::"edit", resource) unless { context.mfa };"#,
        &["--deny-widening"],
    ) else {
        return;
    };
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
fn a_relaxed_threshold_widens_with_a_counterexample_that_flips_and_fails_the_gate() {
    let Some((code, proof)) = prove(
        r#"@id("senior") permit(principal, action == App::Action::"view", resource) when { principal.level >= 5 };"#,
        r#"@id("senior") permit(principal, action == App::Action::"view", resource) when { principal.level >= 3 };"#,
        &["--deny-widening"],
    ) else {
        return;
    };
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
fn one_action_widens_while_another_narrows() {
    let Some((_, proof)) = prove(
        r#"@id("v") permit(principal, action == App::Action::"view", resource) when { principal.level > 5 };
           @id("e") permit(principal, action == App::Action::"edit", resource) when { principal.level > 5 };"#,
        r#"@id("v") permit(principal, action == App::Action::"view", resource) when { principal.level > 2 };
           @id("e") permit(principal, action == App::Action::"edit", resource) when { principal.level > 8 };"#,
        &[],
    ) else {
        return;
    };
    assert_eq!(verdict(&proof, "view")["verdict"], "widens");
    assert_eq!(verdict(&proof, "edit")["verdict"], "narrows");
    assert_eq!(proof["may_widen"], true);
}

#[test]
fn extension_types_hierarchy_sets_and_overflow_are_proven() {
    // ip ranges, decimals, datetimes, group membership and sets: a shift of
    // each bound is found in the right direction.
    let old = r#"@id("net") permit(principal, action == App::Action::"view", resource) when { context.ip.isInRange(ip("10.0.0.0/8")) && principal.score.greaterThan(decimal("0.5")) && context.now > datetime("2024-01-01") && principal in App::Group::"staff" && principal.tags.contains("reviewer") };"#;
    let new = r#"@id("net") permit(principal, action == App::Action::"view", resource) when { context.ip.isInRange(ip("10.0.0.0/16")) && principal.score.greaterThan(decimal("0.5")) && context.now > datetime("2024-01-01") && principal in App::Group::"staff" && principal.tags.contains("reviewer") };"#;
    let Some((_, proof)) = prove(old, new, &[]) else {
        return;
    };
    assert_eq!(
        verdict(&proof, "view")["verdict"],
        "narrows",
        "a smaller network narrows: {proof:#}"
    );

    // `level * 2 > 10` overflows for huge levels (an error: not satisfied),
    // so it is not the same as `level > 5`.
    let Some((_, proof)) = prove(
        r#"@id("m") permit(principal, action == App::Action::"edit", resource) when { principal.level > 5 };"#,
        r#"@id("m") permit(principal, action == App::Action::"edit", resource) when { principal.level * 2 > 10 };"#,
        &[],
    ) else {
        return;
    };
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
fn a_counterexample_pastes_into_a_suite_as_a_passing_test() {
    if !solver_available() {
        return;
    }
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
    let _ = Path::new("");
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
fn policies_that_do_not_validate_cannot_be_proven() {
    if !solver_available() {
        return;
    }
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
fn validate_prove_flags_errors_dead_policies_and_conditions_that_always_hold() {
    if !solver_available() {
        return;
    }
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
