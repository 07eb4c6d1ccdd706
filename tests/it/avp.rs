//! The Amazon Verified Permissions store, end to end through the real AWS
//! SDK against an AVP-compatible endpoint (fakecloud, a separate process on
//! 127.0.0.1), with a fault-injecting proxy for throttling, server errors
//! and dropped connections. See docs/avp.md for what fakecloud does not
//! check and how avpctl checks it itself.
//!
//! Every test here is `#[ignore]`d: a plain `cargo test` shows them as
//! ignored. `cargo test -- --include-ignored` (scripts/test.sh) runs them,
//! and each fails, never passes, when fakecloud is missing.

use std::path::Path;

use crate::common::avp::{self, Fault, FaultProxy};
use crate::common::{Run, avpctl_env, example};

fn run(dir: &Path, port: u16, args: &[&str]) -> Run {
    let run = avpctl_env(dir, args, &avp::env(port));
    for secret in [avp::SECRET_KEY, avp::ACCESS_KEY] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "credentials leaked in the output of {args:?}"
        );
    }
    run
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn deploy_creates_the_store_then_diff_and_a_second_deploy_find_nothing_and_the_store_agrees() {
    let fc = avp::fakecloud();
    let store = format!("avp:{}", avp::new_store(fc.port));
    let dir = example();
    let deploy = run(
        dir.path(),
        fc.port,
        &["deploy", "--store", &store, "--yes", "--format", "json"],
    );
    assert_eq!(deploy.code, 0, "{}\n{}", deploy.stdout, deploy.stderr);
    let report = deploy.json();
    let result = &report["stores"][0]["result"];
    assert_eq!(result["status"], "applied");
    assert_eq!(
        result["calls"]["CreatePolicy"], 9,
        "7 policies and 2 links: {result:#}"
    );
    assert_eq!(result["calls"]["CreatePolicyTemplate"], 1);
    assert_eq!(result["calls"]["PutSchema"], 1);

    let diff = run(
        dir.path(),
        fc.port,
        &["diff", "--store", &store, "--exit-code", "--format", "json"],
    );
    assert_eq!(diff.code, 0, "{}", diff.stdout);
    assert_eq!(diff.json()["changes"].as_array().unwrap().len(), 0);

    let again = run(
        dir.path(),
        fc.port,
        &["deploy", "--store", &store, "--yes", "--format", "json"],
    );
    let result = &again.json()["stores"][0]["result"];
    assert_eq!(result["status"], "up-to-date", "{result:#}");

    let test = run(
        dir.path(),
        fc.port,
        &["test", "--store", &store, "--format", "json"],
    );
    assert_eq!(test.code, 0, "{}", test.stdout);
    let report = test.json();
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 44);
    for case in cases {
        assert_eq!(case["store_decision"], case["decision"], "{case:#}");
        assert_eq!(case["store_reasons"], case["reasons"], "{case:#}");
    }
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn reading_a_big_store_costs_list_and_batch_calls_not_one_call_per_policy() {
    let fc = avp::fakecloud();
    let store = format!("avp:{}", avp::new_store(fc.port));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("schema.cedarschema"), "namespace A { entity U; entity D; action read appliesTo { principal: [U], resource: [D] }; }").unwrap();
    for i in 0..230 {
        std::fs::write(
            dir.path().join(format!("policies/p{i:03}.cedar")),
            format!(
                "permit (principal == A::U::\"u{i}\", action == A::Action::\"read\", resource);\n"
            ),
        )
        .unwrap();
    }
    assert_eq!(
        run(dir.path(), fc.port, &["deploy", "--store", &store, "--yes"]).code,
        0
    );
    let diff = run(
        dir.path(),
        fc.port,
        &["diff", "--store", &store, "--format", "json"],
    );
    let report = diff.json();
    assert_eq!(report["changes"].as_array().unwrap().len(), 0, "{report:#}");
    let calls = &report["store_calls"];
    assert_eq!(calls["ListPolicies"], 5, "⌈230/50⌉ pages: {calls:#}");
    assert_eq!(calls["BatchGetPolicy"], 3, "⌈230/100⌉ batches: {calls:#}");
    assert!(calls.get("GetPolicy").is_none());
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn changes_replacements_and_unmanaged_policies_round_trip() {
    let fc = avp::fakecloud();
    let store_id = avp::new_store(fc.port);
    let store = format!("avp:{store_id}");
    let dir = example();
    assert_eq!(
        run(dir.path(), fc.port, &["deploy", "--store", &store, "--yes"]).code,
        0
    );

    // A forbid whose resource scope changes is replaced under a temporary
    // name and renamed (AVP cannot update a scope); one whose action
    // changes is updated in place behind a stand-in; a new link is created.
    let locked = dir.path().join("policies/forbid-edit-locked.cedar");
    let text = std::fs::read_to_string(&locked).unwrap();
    std::fs::write(
        &locked,
        text.replace("  resource\n", "  resource is DocApp::Document\n"),
    )
    .unwrap();
    let archived = dir.path().join("policies/forbid-archived-changes.cedar");
    let text = std::fs::read_to_string(&archived).unwrap();
    std::fs::write(
        &archived,
        text.replace(
            "DocApp::Action::\"shareDocument\"",
            "DocApp::Action::\"shareDocument\", DocApp::Action::\"deleteDocument\"",
        ),
    )
    .unwrap();
    let links = dir.path().join("links.yaml");
    let mut yaml = std::fs::read_to_string(&links).unwrap();
    yaml.push_str("- id: dave-views-roadmap\n  template: share-view\n  principal: 'DocApp::User::\"dave\"'\n  resource: 'DocApp::Document::\"roadmap\"'\n");
    std::fs::write(&links, yaml).unwrap();

    // A policy created by hand in the store, without a name: unmanaged.
    avp::call(
        fc.port,
        "CreatePolicy",
        &serde_json::json!({"policyStoreId": store_id, "definition": {"static": {"statement": "permit (principal, action == DocApp::Action::\"viewDocument\", resource == DocApp::Document::\"42\");"}}}),
    );

    let deploy = run(
        dir.path(),
        fc.port,
        &[
            "deploy",
            "--store",
            &store,
            "--yes",
            "--no-tests",
            "--format",
            "json",
        ],
    );
    assert_eq!(deploy.code, 0, "{}\n{}", deploy.stdout, deploy.stderr);
    let result = &deploy.json()["stores"][0]["result"];
    let labels: Vec<String> = result["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert!(
        labels
            .iter()
            .any(|l| l.contains("as name/avpctl-replacing/")),
        "{labels:#?}"
    );
    assert!(
        labels
            .iter()
            .any(|l| l.starts_with("rename name/avpctl-replacing/")),
        "{labels:#?}"
    );
    assert!(
        labels
            .iter()
            .any(|l| l == "create link `dave-views-roadmap`"),
        "{labels:#?}"
    );
    assert!(
        labels
            .iter()
            .any(|l| l == "update forbid `forbid-archived-changes`"),
        "{labels:#?}"
    );
    assert!(
        labels.iter().any(|l| l.starts_with("create stand-in ")
            && l.ends_with("for forbid `forbid-archived-changes`")),
        "{labels:#?}"
    );

    let diff = run(
        dir.path(),
        fc.port,
        &["diff", "--store", &store, "--format", "json"],
    )
    .json();
    assert_eq!(diff["changes"].as_array().unwrap().len(), 0, "{diff:#}");
    assert_eq!(
        diff["unmanaged"].as_array().unwrap().len(),
        1,
        "the hand-made policy is kept: {diff:#}"
    );
    let prune = run(
        dir.path(),
        fc.port,
        &[
            "deploy",
            "--store",
            &store,
            "--yes",
            "--no-tests",
            "--prune",
        ],
    );
    assert_eq!(prune.code, 0, "{}", prune.stdout);
    let diff = run(
        dir.path(),
        fc.port,
        &["diff", "--store", &store, "--format", "json"],
    )
    .json();
    assert_eq!(diff["unmanaged"].as_array().unwrap().len(), 0);
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn throttling_server_errors_and_dropped_connections_are_retried() {
    let fc = avp::fakecloud();
    let store = format!("avp:{}", avp::new_store(fc.port));
    // Every third request fails one way or another; the SDK's retries with
    // backoff get every operation through.
    let proxy = FaultProxy::start(
        fc.port,
        Box::new(|n, _| match n % 9 {
            2 => Fault::Throttle,
            5 => Fault::ServerError,
            8 => Fault::Drop,
            _ => Fault::Pass,
        }),
    );
    let dir = example();
    let deploy = run(
        dir.path(),
        proxy.port,
        &["deploy", "--store", &store, "--yes", "--concurrency", "2"],
    );
    assert_eq!(deploy.code, 0, "{}\n{}", deploy.stdout, deploy.stderr);
    assert!(
        proxy.faults() >= 3,
        "faults were injected: {:?}",
        proxy.requests.lock().unwrap()
    );
    let diff = run(
        dir.path(),
        fc.port,
        &["diff", "--store", &store, "--exit-code"],
    );
    assert_eq!(
        diff.code, 0,
        "everything arrived exactly once: {}",
        diff.stdout
    );
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn a_deploy_that_fails_part_way_says_what_was_applied_and_the_next_one_finishes() {
    let fc = avp::fakecloud();
    let store = format!("avp:{}", avp::new_store(fc.port));
    // Creating policies fails for good after the fourth: a lasting outage.
    let created = std::sync::atomic::AtomicUsize::new(0);
    let proxy = FaultProxy::start(
        fc.port,
        Box::new(move |_, operation| {
            if operation == "CreatePolicy"
                && created.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 4
            {
                Fault::ServerError
            } else {
                Fault::Pass
            }
        }),
    );
    let dir = example();
    let failed = run(
        dir.path(),
        proxy.port,
        &["deploy", "--store", &store, "--yes", "--concurrency", "1"],
    );
    assert_eq!(failed.code, 2, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed.stdout.contains("Deploy failed at step"),
        "{}",
        failed.stdout
    );
    assert!(
        failed.stdout.contains("applied (6):"),
        "schema, template and 4 policies: {}",
        failed.stdout
    );
    assert!(
        failed.stdout.contains("InternalServerException"),
        "{}",
        failed.stdout
    );
    assert!(failed.stdout.contains("run the deploy again to finish it"));

    let finish = run(
        dir.path(),
        fc.port,
        &["deploy", "--store", &store, "--yes", "--format", "json"],
    );
    assert_eq!(finish.code, 0, "{}", finish.stdout);
    let result = &finish.json()["stores"][0]["result"];
    assert_eq!(
        result["calls"]["CreatePolicy"], 5,
        "only what was missing: {result:#}"
    );
    assert_eq!(
        run(
            dir.path(),
            fc.port,
            &["diff", "--store", &store, "--exit-code"]
        )
        .code,
        0
    );
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn access_denied_is_a_clear_error_naming_what_was_refused() {
    let fc = avp::fakecloud();
    let store = format!("avp:{}", avp::new_store(fc.port));
    let proxy = FaultProxy::start(
        fc.port,
        Box::new(|_, operation| {
            if operation == "ListPolicies" {
                Fault::AccessDenied
            } else {
                Fault::Pass
            }
        }),
    );
    let dir = example();
    let diff = run(dir.path(), proxy.port, &["diff", "--store", &store]);
    assert_eq!(diff.code, 2);
    let text = diff.stderr_text();
    assert!(text.contains("access denied"), "{text}");
    assert!(text.contains("check the IAM permissions"), "{text}");
    assert!(text.contains(&store[4..]), "names the store: {text}");
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn an_unreachable_endpoint_is_exit_2_and_a_fleet_carries_on_without_it() {
    let fc = avp::fakecloud();
    let good = format!("avp:{}", avp::new_store(fc.port));
    let dir = example();
    // Nothing listens on port 9 of loopback.
    let lost = run(dir.path(), 9, &["diff", "--store", &good]);
    assert_eq!(lost.code, 2);
    assert!(
        lost.stderr_text()
            .contains("cannot reach Verified Permissions"),
        "{}",
        lost.stderr
    );

    let missing = "avp:PSdoesnotexist000000000";
    let fleet = run(
        dir.path(),
        fc.port,
        &["deploy", "--store", &good, "--store", missing, "--yes"],
    );
    assert_eq!(fleet.code, 2, "{}\n{}", fleet.stdout, fleet.stderr);
    assert!(
        fleet.stdout.contains(&format!("{good}: applied 11 steps")),
        "{}",
        fleet.stdout
    );
    assert!(
        fleet.stdout.contains(&format!("{missing}: failed")),
        "{}",
        fleet.stdout
    );
    assert!(
        fleet
            .stdout
            .contains("Summary 2 stores: 1 applied, 0 up to date, 1 failed"),
        "{}",
        fleet.stdout
    );
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn a_cedar_2_store_is_refused_with_what_to_do() {
    let fc = avp::fakecloud();
    let store = format!("avp:{}", avp::new_store(fc.port));
    let proxy = FaultProxy::start(
        fc.port,
        Box::new(|_, operation| {
            if operation == "GetPolicyStore" {
                Fault::Cedar2
            } else {
                Fault::Pass
            }
        }),
    );
    let dir = example();
    let deploy = run(
        dir.path(),
        proxy.port,
        &["deploy", "--store", &store, "--yes"],
    );
    assert_eq!(deploy.code, 2);
    let text = deploy.stderr_text();
    assert!(text.contains("runs Cedar 2"), "{text}");
    assert!(text.contains("upgrade"), "{text}");
    assert_eq!(proxy.count("CreatePolicy"), 0, "nothing is written");
}

// ---- No data lost (issue 10) ----

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn a_store_deleted_during_a_deploy_is_a_failure_naming_the_store_never_applied() {
    let fc = avp::fakecloud();
    let store_id = avp::new_store(fc.port);
    let store = format!("avp:{store_id}");
    let dir = example();
    assert_eq!(
        run(dir.path(), fc.port, &["deploy", "--store", &store, "--yes"]).code,
        0
    );
    // The next deploy only deletes, and each delete of a policy that is
    // already gone counts as done: unless the store itself is gone.
    for entry in std::fs::read_dir(dir.path().join("policies")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let (port, id) = (fc.port, store_id.clone());
    let deleted = std::sync::atomic::AtomicBool::new(false);
    let proxy = FaultProxy::start(
        fc.port,
        Box::new(move |_, operation| {
            if operation == "DeletePolicy"
                && !deleted.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                avp::call(
                    port,
                    "DeletePolicyStore",
                    &serde_json::json!({"policyStoreId": id}),
                );
            }
            Fault::Pass
        }),
    );
    let deploy = run(
        dir.path(),
        proxy.port,
        &["deploy", "--store", &store, "--yes", "--no-tests"],
    );
    let gone = avp::call(
        fc.port,
        "GetPolicyStore",
        &serde_json::json!({"policyStoreId": store_id}),
    );
    assert!(
        gone.get("policyStoreId").is_none(),
        "the store was deleted: {gone}"
    );
    assert_eq!(deploy.code, 2, "{}\n{}", deploy.stdout, deploy.stderr);
    assert!(!deploy.stdout.contains("Applied"), "{}", deploy.stdout);
    assert!(
        deploy
            .stdout
            .contains(&format!("policy store {store_id} does not exist")),
        "{}",
        deploy.stdout
    );
    assert!(
        !deploy.stdout.contains("run the deploy again to finish it"),
        "{}",
        deploy.stdout
    );
    assert!(
        proxy.count("GetPolicyStore") >= 2,
        "checked after the not-found answer"
    );

    // And a deploy that starts against a store that is gone says so.
    let again = run(
        dir.path(),
        fc.port,
        &["deploy", "--store", &store, "--yes", "--no-tests"],
    );
    assert_eq!(again.code, 2);
    assert!(
        again
            .stderr_text()
            .contains(&format!("policy store {store_id} does not exist")),
        "{}",
        again.stderr
    );
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn a_concurrent_write_between_waves_stops_an_avp_deploy_saying_what_changed() {
    let fc = avp::fakecloud();
    let store_id = avp::new_store(fc.port);
    let store = format!("avp:{store_id}");
    let dir = example();
    let (port, id) = (fc.port, store_id.clone());
    let intruded = std::sync::atomic::AtomicBool::new(false);
    // Another deploy writes while the first wave (the schema) runs.
    let proxy = FaultProxy::start(
        fc.port,
        Box::new(move |_, operation| {
            if operation == "PutSchema" && !intruded.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                avp::call(
                    port,
                    "CreatePolicy",
                    &serde_json::json!({"policyStoreId": id, "name": "name/intruder",
                        "definition": {"static": {"statement": "permit (principal, action, resource);"}}}),
                );
            }
            Fault::Pass
        }),
    );
    let deploy = run(
        dir.path(),
        proxy.port,
        &["deploy", "--store", &store, "--yes", "--format", "json"],
    );
    assert_eq!(deploy.code, 2, "{}\n{}", deploy.stdout, deploy.stderr);
    let report = deploy.json();
    let result = &report["stores"][0]["result"];
    assert_eq!(result["status"], "failed", "{result:#}");
    assert_eq!(result["failed"]["kind"], "store-changed", "{result:#}");
    let error = result["failed"]["error"].as_str().unwrap();
    assert!(error.contains("(name/intruder) was added"), "{error}");
    assert_eq!(
        result["applied"].as_array().unwrap().len(),
        1,
        "the schema only"
    );
    assert_eq!(
        proxy.count("CreatePolicyTemplate"),
        0,
        "nothing more written"
    );
    assert_eq!(proxy.count("CreatePolicy"), 0, "nothing more written");
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn duplicate_names_on_the_emulator_are_drift_that_diff_reports_and_deploy_refuses() {
    let fc = avp::fakecloud();
    let store_id = avp::new_store(fc.port);
    let store = format!("avp:{store_id}");
    let dir = example();
    assert_eq!(
        run(dir.path(), fc.port, &["deploy", "--store", &store, "--yes"]).code,
        0
    );
    // What two racing deploys leave on an emulator that does not enforce
    // unique names.
    let statement =
        std::fs::read_to_string(dir.path().join("policies/forbid-edit-locked.cedar")).unwrap();
    let created = avp::call(
        fc.port,
        "CreatePolicy",
        &serde_json::json!({"policyStoreId": store_id, "name": "name/forbid-edit-locked",
            "definition": {"static": {"statement": statement}}}),
    );
    let copy = created["policyId"].as_str().expect("created").to_string();

    let diff = run(
        dir.path(),
        fc.port,
        &["diff", "--store", &store, "--exit-code"],
    );
    assert_eq!(diff.code, 1, "{}\n{}", diff.stdout, diff.stderr);
    assert!(
        diff.stdout.contains("Duplicate names in the store"),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout.contains(&copy), "{}", diff.stdout);
    let json = run(
        dir.path(),
        fc.port,
        &["diff", "--store", &store, "--format", "json"],
    )
    .json();
    assert_eq!(
        json["duplicates"][0]["name"], "name/forbid-edit-locked",
        "{json:#}"
    );

    let deploy = run(
        dir.path(),
        fc.port,
        &["deploy", "--store", &store, "--yes", "--prune"],
    );
    assert_eq!(deploy.code, 2, "{}", deploy.stdout);
    let text = deploy.stderr_text();
    assert!(text.contains("1 duplicate name in the store"), "{text}");
    assert!(text.contains(&copy), "{text}");
}

/// `--verbose` logs every call, reads and writes, with what it was about,
/// how it ended and how long it took; `run` checks no credential appears.
#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn verbose_logs_every_call_with_target_result_and_time() {
    let fc = avp::fakecloud();
    let store_id = avp::new_store(fc.port);
    let store = format!("avp:{store_id}");
    let dir = example();
    let deploy = run(
        dir.path(),
        fc.port,
        &["--verbose", "deploy", "--store", &store, "--yes"],
    );
    assert_eq!(deploy.code, 0, "{}\n{}", deploy.stdout, deploy.stderr);
    let log: Vec<&str> = deploy
        .stderr
        .lines()
        .filter(|l| l.starts_with(&format!("avp {store_id}: ")))
        .collect();
    let has = |operation: &str, target: &str| {
        log.iter().any(|l| {
            l.contains(&format!(": {operation} {target}"))
                && l.contains(" → ok (")
                && l.ends_with(" ms)")
        })
    };
    assert!(has("GetPolicyStore", &store_id), "{log:#?}");
    assert!(has("ListPolicies", &store_id), "{log:#?}");
    assert!(has("PutSchema", "schema"), "{log:#?}");
    assert!(has("CreatePolicyTemplate", "name/share-view"), "{log:#?}");
    assert!(has("CreatePolicy", "name/owner-full-access"), "{log:#?}");
}

/// A store made by hand, as the console or CloudFormation make them: a
/// schema, unnamed policies (one with a description), an unnamed template
/// and two unnamed links to it.
fn hand_made_store(port: u16) -> String {
    let id = avp::new_store(port);
    let schema =
        std::fs::read_to_string(crate::common::repo().join("policies-example/schema.cedarschema"))
            .unwrap();
    let json = cedar_policy::SchemaFragment::from_cedarschema_str(&schema)
        .unwrap()
        .0
        .to_json_string()
        .unwrap();
    avp::call(
        port,
        "PutSchema",
        &serde_json::json!({"policyStoreId": id, "definition": {"cedarJson": json}}),
    );
    for (statement, description) in [
        (
            "permit (principal, action, resource) when { resource.owner == principal };",
            Some("Owners may do anything"),
        ),
        (
            "forbid (principal, action == DocApp::Action::\"editDocument\", resource) when { resource.locked };",
            None,
        ),
    ] {
        let mut body = serde_json::json!({"policyStoreId": id, "definition": {"static": {"statement": statement}}});
        if let Some(description) = description {
            body["definition"]["static"]["description"] = description.into();
        }
        let out = avp::call(port, "CreatePolicy", &body);
        assert!(out["policyId"].is_string(), "{out}");
    }
    let template = avp::call(
        port,
        "CreatePolicyTemplate",
        &serde_json::json!({"policyStoreId": id, "statement": "permit (principal == ?principal, action == DocApp::Action::\"viewDocument\", resource == ?resource);"}),
    );
    let template_id = template["policyTemplateId"].as_str().unwrap().to_string();
    for (user, doc) in [("bob", "Q4-Report"), ("carol", "roadmap")] {
        let out = avp::call(
            port,
            "CreatePolicy",
            &serde_json::json!({"policyStoreId": id, "definition": {"templateLinked": {
                "policyTemplateId": template_id,
                "principal": {"entityType": "DocApp::User", "entityId": user},
                "resource": {"entityType": "DocApp::Document", "entityId": doc}}}}),
        );
        assert!(out["policyId"].is_string(), "{out}");
    }
    id
}

/// Store id → name of every policy and template of the store.
fn names(port: u16, store_id: &str) -> std::collections::BTreeMap<String, Option<String>> {
    let mut found = std::collections::BTreeMap::new();
    let policies = avp::call(
        port,
        "ListPolicies",
        &serde_json::json!({"policyStoreId": store_id, "maxResults": 50}),
    );
    for p in policies["policies"].as_array().unwrap() {
        found.insert(
            p["policyId"].as_str().unwrap().to_string(),
            p["name"].as_str().map(str::to_string),
        );
    }
    let templates = avp::call(
        port,
        "ListPolicyTemplates",
        &serde_json::json!({"policyStoreId": store_id, "maxResults": 50}),
    );
    for t in templates["policyTemplates"].as_array().unwrap() {
        found.insert(
            t["policyTemplateId"].as_str().unwrap().to_string(),
            t["name"].as_str().map(str::to_string),
        );
    }
    found
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn import_of_a_hand_made_store_then_deploy_adopts_every_item_keeping_its_id() {
    let fc = avp::fakecloud();
    let store_id = hand_made_store(fc.port);
    let store = format!("avp:{store_id}");
    let before = names(fc.port, &store_id);
    assert_eq!(before.len(), 5);
    let out = tempfile::tempdir().unwrap();
    let import = run(
        out.path(),
        fc.port,
        &["import", "--store", &store, "p", "--format", "json"],
    );
    assert_eq!(import.code, 0, "{}\n{}", import.stdout, import.stderr);
    let items = import.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 5, "{items:#?}");
    assert!(
        items.iter().any(|i| i["id"] == "owners-may-do-anything"),
        "{items:#?}"
    );
    let toml = std::fs::read_to_string(out.path().join("p/avpctl.toml")).unwrap();
    assert!(toml.contains(&format!("uri = \"{store}\"")), "{toml}");
    assert_eq!(run(out.path(), fc.port, &["validate", "p"]).code, 0);
    assert_eq!(run(out.path(), fc.port, &["fmt", "--check", "p"]).code, 0);

    // The same meaning as the source: the links and their template are the
    // store's; the unnamed static policies and the template are adopted.
    let diff = run(
        out.path(),
        fc.port,
        &["diff", "p", "--store", "origin", "--format", "json"],
    );
    assert_eq!(diff.code, 0, "{}\n{}", diff.stdout, diff.stderr);
    let report = diff.json();
    let statuses: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "adopted").count(),
        3,
        "{report:#}"
    );
    assert!(
        statuses.iter().all(|s| *s == "adopted" || *s == "added"),
        "{report:#}"
    );
    for change in report["changes"].as_array().unwrap() {
        // The links are created next to their unnamed copies: no access changes.
        assert_eq!(change["access"], "neutral", "{change:#}");
    }
    assert_eq!(report["summary"]["flips"], 0, "{report:#}");

    let deploy = run(
        out.path(),
        fc.port,
        &[
            "deploy",
            "p",
            "--store",
            "origin",
            "--yes",
            "--no-tests",
            "--format",
            "json",
        ],
    );
    assert_eq!(deploy.code, 0, "{}\n{}", deploy.stdout, deploy.stderr);
    let after = names(fc.port, &store_id);
    let adopted: Vec<&String> = before
        .keys()
        .filter(|id| after.get(*id).is_some_and(|n| n.is_some()))
        .collect();
    assert!(
        adopted.len() >= 3,
        "the static policies and the template keep their ids and get names: {after:#?}"
    );
    for id in before.keys() {
        assert!(after.contains_key(id), "{id} kept: {after:#?}");
    }
    let clean = run(
        out.path(),
        fc.port,
        &["diff", "p", "--store", "origin", "--exit-code"],
    );
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn a_saved_plan_applies_on_avp_and_a_store_changed_since_makes_it_refuse_untouched() {
    let fc = avp::fakecloud();
    let store_id = avp::new_store(fc.port);
    let store = format!("avp:{store_id}");
    let dir = example();
    let plan = run(
        dir.path(),
        fc.port,
        &["deploy", "--store", &store, "--plan-out", "plan.json"],
    );
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    assert!(names(fc.port, &store_id).is_empty(), "nothing applied");
    let apply = run(
        dir.path(),
        fc.port,
        &["deploy", "--store", &store, "--plan", "plan.json"],
    );
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert_eq!(names(fc.port, &store_id).len(), 10);

    let links = dir.path().join("links.yaml");
    let mut yaml = std::fs::read_to_string(&links).unwrap();
    yaml.push_str("- id: erin-views-roadmap\n  template: share-view\n  principal: 'DocApp::User::\"erin\"'\n  resource: 'DocApp::Document::\"roadmap\"'\n");
    std::fs::write(&links, yaml).unwrap();
    let plan = run(
        dir.path(),
        fc.port,
        &["deploy", "--store", &store, "--plan-out", "plan.json"],
    );
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    avp::call(
        fc.port,
        "CreatePolicy",
        &serde_json::json!({"policyStoreId": store_id, "definition": {"static": {"statement": "forbid (principal, action, resource);"}}}),
    );
    let before = names(fc.port, &store_id);
    let refused = run(
        dir.path(),
        fc.port,
        &["deploy", "--store", &store, "--plan", "plan.json"],
    );
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stdout.contains("(unnamed) was added"),
        "{}",
        refused.stdout
    );
    assert_eq!(names(fc.port, &store_id), before, "the store is untouched");
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn a_deploy_that_another_finished_first_sees_its_writes_and_the_store_ends_equal_to_the_project() {
    let fc = avp::fakecloud();
    let store_id = avp::new_store(fc.port);
    let store = format!("avp:{store_id}");
    let first = example();
    let second = example();
    // The first deploy plans; just before it writes it reads the store
    // again, and the second deploy runs to the end in that moment.
    let (port, second_dir, second_store) = (fc.port, second.path().to_path_buf(), store.clone());
    let lists = std::sync::atomic::AtomicUsize::new(0);
    let proxy = FaultProxy::start(
        fc.port,
        Box::new(move |_, operation| {
            if operation == "ListPolicies"
                && lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1
            {
                // Checked below through the store; a panic here would
                // leave the first deploy's request unanswered.
                let _ = run(
                    &second_dir,
                    port,
                    &["deploy", "--store", &second_store, "--yes"],
                );
            }
            Fault::Pass
        }),
    );
    let deploy = run(
        first.path(),
        proxy.port,
        &["deploy", "--store", &store, "--yes", "--format", "json"],
    );
    let result = &deploy.json()["stores"][0]["result"];
    assert_eq!(deploy.code, 2, "{result:#}");
    assert_eq!(result["failed"]["kind"], "store-changed", "{result:#}");
    assert!(
        result["applied"].as_array().unwrap().is_empty(),
        "it wrote nothing: {result:#}"
    );
    // The store is the second deploy's: equal to the project, no copies.
    let diff = run(
        first.path(),
        fc.port,
        &["diff", "--store", &store, "--exit-code"],
    );
    assert_eq!(diff.code, 0, "{}\n{}", diff.stdout, diff.stderr);
    let again = run(
        first.path(),
        fc.port,
        &["deploy", "--store", &store, "--yes", "--format", "json"],
    );
    assert_eq!(again.json()["stores"][0]["result"]["status"], "up-to-date");
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn store_settings_are_deployed_with_update_policy_store_and_imported() {
    let fc = avp::fakecloud();
    let store_id = avp::new_store(fc.port);
    let store = format!("avp:{store_id}");
    let dir = example();
    let config = dir.path().join("avpctl.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[store]\ndeletion_protection = true\ndescription = \"DocApp production\"\n");
    std::fs::write(&config, text).unwrap();
    let deploy = run(dir.path(), fc.port, &["deploy", "--store", &store, "--yes"]);
    assert_eq!(deploy.code, 0, "{}\n{}", deploy.stdout, deploy.stderr);
    let got = avp::call(
        fc.port,
        "GetPolicyStore",
        &serde_json::json!({"policyStoreId": store_id}),
    );
    assert_eq!(got["deletionProtection"], "ENABLED", "{got:#}");
    assert_eq!(got["description"], "DocApp production", "{got:#}");
    assert_eq!(got["validationSettings"]["mode"], "STRICT", "{got:#}");
    let diff = run(
        dir.path(),
        fc.port,
        &["diff", "--store", &store, "--exit-code"],
    );
    assert_eq!(diff.code, 0, "{}\n{}", diff.stdout, diff.stderr);
    let out = tempfile::tempdir().unwrap();
    let import = run(out.path(), fc.port, &["import", "--store", &store, "p"]);
    assert_eq!(import.code, 0, "{}\n{}", import.stdout, import.stderr);
    let toml = std::fs::read_to_string(out.path().join("p/avpctl.toml")).unwrap();
    assert!(
        toml.contains("deletion_protection = true\ndescription = \"DocApp production\""),
        "{toml}"
    );
}
