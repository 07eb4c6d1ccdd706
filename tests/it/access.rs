//! `avpctl access`: every answer is Cedar's. A differential test against
//! Cedar's `Authorizer` on every request, one by one, over the conformance
//! projects (Cedar's own test data: hierarchies, templates and links,
//! forbids, policies that error), and the command line on the example.

use std::collections::BTreeMap;

use avpctl::access::{Folding, Query, impact_with, review, review_with, snapshot};
use cedar_policy::{Authorizer, Context, Decision, Request};
use rayon::prelude::*;

use crate::common::{self, avpctl, repo};

pub(crate) type Triple = (String, String, String);

/// A request's principal, action and resource in Cedar's printed form.
pub(crate) fn triple_of(
    principal: &cedar_policy::EntityUid,
    action: &cedar_policy::EntityUid,
    resource: &cedar_policy::EntityUid,
) -> Triple {
    (
        principal.to_string(),
        action.to_string(),
        resource.to_string(),
    )
}

/// Every request the schema allows over the snapshot, with `context`
/// (actions whose context type it does not fit are left out).
pub(crate) fn all_requests(
    project: &avpctl::project::Project,
    entities: &cedar_policy::Entities,
    context: &serde_json::Value,
) -> Vec<(Triple, Request)> {
    let schema = project.schema().unwrap();
    let mut found = Vec::new();
    for action in schema.actions() {
        let Ok(context) = Context::from_json_value(context.clone(), Some((schema, action))) else {
            continue;
        };
        let of = |types: Option<Vec<&cedar_policy::EntityTypeName>>| {
            let types = types.unwrap_or_default();
            entities
                .iter()
                .map(|e| e.uid())
                .filter(|uid| types.contains(&uid.type_name()))
                .collect::<Vec<_>>()
        };
        let principals = of(schema.principals_for_action(action).map(Iterator::collect));
        let resources = of(schema.resources_for_action(action).map(Iterator::collect));
        for principal in &principals {
            for resource in &resources {
                let Ok(request) = Request::new(
                    principal.clone(),
                    action.clone(),
                    resource.clone(),
                    context.clone(),
                    Some(schema),
                ) else {
                    continue;
                };
                let triple = (
                    principal.to_string(),
                    action.to_string(),
                    resource.to_string(),
                );
                found.push((triple, request));
            }
        }
    }
    found
}

/// Cedar alone: every request the schema allows over the snapshot, the
/// whole policy set, no slicing.
fn brute_force(
    project: &avpctl::project::Project,
    entities: &cedar_policy::Entities,
) -> BTreeMap<Triple, (Decision, Vec<String>, Vec<String>)> {
    let authorizer = Authorizer::new();
    let mut found = BTreeMap::new();
    for (triple, request) in all_requests(project, entities, &serde_json::json!({})) {
        let response = authorizer.is_authorized(&request, &project.policy_set, entities);
        let mut reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        reasons.sort();
        let mut errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| {
                let cedar_policy::AuthorizationError::PolicyEvaluationError(inner) = e;
                inner.policy_id().to_string()
            })
            .collect();
        errors.sort();
        if response.decision() == Decision::Allow || !errors.is_empty() {
            found.insert(triple, (response.decision(), reasons, errors));
        }
    }
    found
}

/// The conformance projects that have a schema and entities.
fn conformance_projects() -> Vec<std::path::PathBuf> {
    let root = crate::conformance::conformance_dir();
    let mut projects: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("entities.json").is_file() && p.join("schema.cedarschema").is_file())
        .collect();
    projects.sort();
    assert!(projects.len() > 400, "{} projects", projects.len());
    projects
}

/// `check` on every conformance project and its snapshot, in parallel;
/// the sum of what it counts (a project whose snapshot does not load
/// counts 0).
fn over_conformance_projects(
    check: impl Fn(&std::path::Path, &avpctl::project::Project, &cedar_policy::Entities) -> usize + Sync,
) -> usize {
    common::in_process();
    conformance_projects()
        .par_iter()
        .map(|dir| {
            let project = avpctl::testing::usable(avpctl::project::load(dir).unwrap()).unwrap();
            match snapshot(&project, &[dir.join("entities.json")]) {
                Ok(entities) => check(dir, &project, &entities),
                Err(_) => 0,
            }
        })
        .sum()
}

/// Every request of the snapshot, with `context`.
fn everything(context: Option<serde_json::Value>) -> Query {
    Query {
        principal: None,
        action: None,
        resource: None,
        context,
    }
}

#[test]
fn every_answer_is_cedars_on_every_conformance_project() {
    let answers = over_conformance_projects(|dir, project, entities| {
        let answers = review(project, entities, &everything(Some(serde_json::json!({})))).unwrap();
        let printed: Vec<Triple> = answers
            .answers
            .iter()
            .map(|a| triple_of(&a.principal, &a.action, &a.resource))
            .map(|(principal, action, resource)| (action, principal, resource))
            .collect();
        assert!(
            printed.is_sorted(),
            "{}: answers not sorted by action, principal, resource",
            dir.display()
        );
        let ours: BTreeMap<Triple, (Decision, Vec<String>, Vec<String>)> = answers
            .answers
            .iter()
            .map(|a| {
                (
                    triple_of(&a.principal, &a.action, &a.resource),
                    (
                        a.decision.unwrap(),
                        a.reasons.clone(),
                        a.errors.iter().map(|e| e.policy.clone()).collect(),
                    ),
                )
            })
            .collect();
        let cedar = brute_force(project, entities);
        assert_eq!(ours, cedar, "{}", dir.display());
        cedar.len()
    });
    assert!(
        answers > 100,
        "the projects gave only {answers} allowed or errored requests"
    );
}

/// Folding (Cedar's partial evaluation of what requests share, then each
/// request on the residuals) changes no answer: not the decision, not the
/// reasons, not the errors and their messages. Folding from one request
/// on takes both ways of folding on every project where it applies.
#[test]
fn folded_answers_are_the_unfolded_ones_on_every_conformance_project() {
    let folded = over_conformance_projects(|dir, project, entities| {
        let query = everything(Some(serde_json::json!({})));
        let plain = review_with(project, entities, &query, Folding { from: usize::MAX }).unwrap();
        let folded = review_with(project, entities, &query, Folding { from: 1 }).unwrap();
        let printed = |review: &avpctl::access::Review| format!("{:?}", review.answers);
        assert_eq!(printed(&folded), printed(&plain), "{}", dir.display());
        assert_eq!(plain.folded, 0, "{}", dir.display());
        folded.folded
    });
    assert!(
        folded > 1000,
        "only {folded} requests were decided on residuals"
    );
}

#[test]
fn who_can_edit_document_42_on_the_example() {
    let run = avpctl(&[
        "access",
        "policies-example",
        "--entities",
        "policies-example/entities",
        "--action",
        r#"DocApp::Action::"editDocument""#,
        "--resource",
        r#"DocApp::Document::"42""#,
        "--context",
        r#"{"ip": "10.0.1.5", "mfa_present": true, "request_time": "2026-03-15T10:00:00Z"}"#,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["version"], 1);
    let who: Vec<&str> = report["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["principal"].as_str().unwrap())
        .collect();
    assert_eq!(
        who,
        [
            r#"DocApp::User::"alice""#,
            r#"DocApp::User::"carol""#,
            r#"DocApp::User::"dave""#,
            r#"DocApp::User::"erin""#
        ]
    );
    assert_eq!(report["summary"]["evaluated"], 5);
}

#[test]
fn csv_has_a_row_per_allowed_request_and_bad_input_is_a_usage_error() {
    let csv = avpctl(&[
        "access",
        "policies-example",
        "--entities",
        "policies-example/entities",
        "--principal",
        r#"DocApp::User::"bob""#,
        "--context",
        r#"{"ip": "10.0.1.5", "mfa_present": true, "request_time": "2026-03-15T10:00:00Z"}"#,
        "--format",
        "csv",
    ]);
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    let mut lines = csv.stdout.lines();
    assert_eq!(lines.next(), Some("principal,action,resource,reasons,when"));
    assert!(
        lines.all(|l| l.starts_with(r#""DocApp::User::""bob""","#)),
        "{}",
        csv.stdout
    );
    for (args, message) in [
        (vec!["--principal", "alice"], "--principal"),
        (vec!["--context", "[1]"], "--context must be a JSON object"),
        (
            vec!["--action", r#"DocApp::Action::"fly""#],
            "not declared in the schema",
        ),
    ] {
        let mut all = vec![
            "access",
            "policies-example",
            "--entities",
            "policies-example/entities",
        ];
        all.extend(args);
        let run = avpctl(&all);
        assert_eq!(run.code, 2, "{all:?}");
        assert!(
            run.stderr_text().contains(message),
            "{all:?}: {}",
            run.stderr
        );
    }
    let none = avpctl(&["access", repo().join("policies-example").to_str().unwrap()]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr_text().contains("no entity snapshot"),
        "{}",
        none.stderr
    );
}

/// `diff --impact` against Cedar alone: every request of the snapshot is
/// decided by both policy sets, whole, one by one.
#[test]
fn impact_flips_are_exactly_the_requests_cedar_decides_differently() {
    common::in_process();
    let new =
        avpctl::testing::usable(avpctl::project::load(&repo().join("policies-example")).unwrap())
            .unwrap();
    let old = avpctl::testing::usable(
        avpctl::project::load(&repo().join("fixtures/prove/example-without-mfa")).unwrap(),
    )
    .unwrap();
    let entities = snapshot(&new, &[repo().join("policies-example/entities")]).unwrap();
    let context = serde_json::json!({"ip": "10.0.1.5", "mfa_present": false, "request_time": "2026-03-15T10:00:00Z"});
    let query = Query {
        principal: None,
        action: None,
        resource: None,
        context: Some(context.clone()),
    };
    let impact = avpctl::access::impact(&new, &old.policy_set, &entities, &query).unwrap();
    let ours: Vec<Triple> = impact
        .flips
        .iter()
        .map(|f| triple_of(&f.principal, &f.action, &f.resource))
        .collect();
    let schema = new.schema().unwrap();
    let authorizer = Authorizer::new();
    let mut cedar = Vec::new();
    for action in schema.actions() {
        let Ok(context) = Context::from_json_value(context.clone(), Some((schema, action))) else {
            continue;
        };
        for principal in entities.iter().map(|e| e.uid()) {
            for resource in entities.iter().map(|e| e.uid()) {
                let Ok(request) = Request::new(
                    principal.clone(),
                    action.clone(),
                    resource.clone(),
                    context.clone(),
                    Some(schema),
                ) else {
                    continue;
                };
                let decide = |set| {
                    authorizer
                        .is_authorized(&request, set, &entities)
                        .decision()
                };
                if decide(&old.policy_set) != decide(&new.policy_set) {
                    cedar.push((
                        principal.to_string(),
                        action.to_string(),
                        resource.to_string(),
                    ));
                }
            }
        }
    }
    cedar.sort();
    let mut sorted = ours.clone();
    sorted.sort();
    assert_eq!(sorted, cedar);
    assert!(!cedar.is_empty(), "the fixture pair must flip something");
}

/// The project's policies as an older revision might have had them:
/// every third policy absent, and every third static one with the other
/// effect (same id, another policy).
fn older_revision(set: &cedar_policy::PolicySet) -> cedar_policy::PolicySet {
    let mut old = cedar_policy::PolicySet::new();
    for template in set.templates() {
        old.add_template(template.clone()).unwrap();
    }
    for (i, policy) in set.policies().enumerate() {
        match (i % 3, policy.template_id()) {
            (0, _) => {}
            (_, Some(template)) => old
                .link(
                    template.clone(),
                    policy.id().clone(),
                    policy.template_links().unwrap_or_default(),
                )
                .unwrap(),
            (1, None) => {
                let text = policy.to_string();
                let flipped = if text.contains("permit") {
                    text.replacen("permit", "forbid", 1)
                } else {
                    text.replacen("forbid", "permit", 1)
                };
                let changed = cedar_policy::Policy::parse(Some(policy.id().clone()), flipped)
                    .unwrap_or_else(|_| policy.clone());
                old.add(changed).unwrap();
            }
            (_, None) => old.add(policy.clone()).unwrap(),
        }
    }
    old
}

/// The flips of an impact, by request: (old decision, new decision).
pub(crate) fn flips_of(impact: &avpctl::access::Impact) -> BTreeMap<Triple, (Decision, Decision)> {
    impact
        .flips
        .iter()
        .map(|f| {
            let triple = triple_of(&f.principal, &f.action, &f.resource);
            (triple, (f.old, f.new))
        })
        .collect()
}

/// Cedar alone: every request of the snapshot with `context` that the
/// `old` policy set and the project's decide differently, each set whole.
pub(crate) fn cedar_flips(
    project: &avpctl::project::Project,
    old: &cedar_policy::PolicySet,
    entities: &cedar_policy::Entities,
    context: &serde_json::Value,
) -> BTreeMap<Triple, (Decision, Decision)> {
    let authorizer = Authorizer::new();
    all_requests(project, entities, context)
        .into_iter()
        .filter_map(|(triple, request)| {
            let decide = |set| authorizer.is_authorized(&request, set, entities).decision();
            let (before, after) = (decide(old), decide(&project.policy_set));
            (before != after).then_some((triple, (before, after)))
        })
        .collect()
}

#[test]
fn every_impact_flip_is_cedars_on_every_conformance_project() {
    let total = over_conformance_projects(|dir, project, entities| {
        let old = older_revision(&project.policy_set);
        let query = everything(Some(serde_json::json!({})));
        let impact = avpctl::access::impact(project, &old, entities, &query).unwrap();
        let printed: Vec<Triple> = impact
            .flips
            .iter()
            .map(|f| {
                (
                    f.action.to_string(),
                    f.principal.to_string(),
                    f.resource.to_string(),
                )
            })
            .collect();
        assert!(
            printed.is_sorted(),
            "{}: flips not sorted by action, principal, resource",
            dir.display()
        );
        let ours = flips_of(&impact);
        let cedar = cedar_flips(project, &old, entities, &serde_json::json!({}));
        assert_eq!(ours, cedar, "{}", dir.display());
        cedar.len()
    });
    assert!(total > 100, "the revisions flipped only {total} requests");
}

/// Folding each side's policies per principal changes no flip and no
/// reason.
#[test]
fn folded_flips_are_the_unfolded_ones_on_every_conformance_project() {
    let folded = over_conformance_projects(|dir, project, entities| {
        let old = older_revision(&project.policy_set);
        let query = everything(Some(serde_json::json!({})));
        let impact = |from| impact_with(project, &old, entities, &query, Folding { from }).unwrap();
        let (plain, folded) = (impact(usize::MAX), impact(1));
        assert_eq!(
            format!("{:?}", folded.flips),
            format!("{:?}", plain.flips),
            "{}",
            dir.display()
        );
        folded.folded
    });
    assert!(
        folded > 1000,
        "only {folded} requests were decided on residuals"
    );
}

#[test]
fn diff_impact_reports_flips_in_json_and_groups_them_for_people() {
    let args = [
        "diff",
        "fixtures/prove/example-without-mfa",
        "--against",
        "policies-example",
        "--impact",
        "--entities",
        "policies-example/entities",
        "--context",
        r#"{"ip": "10.0.1.5", "mfa_present": false, "request_time": "2026-03-15T10:00:00Z"}"#,
    ];
    let human = avpctl(&args);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human.stdout.contains(r#"+ 2 principals may now DocApp::Action::"approveDocument" on 5 resources, through `finance-approval-leads`"#),
        "{}",
        human.stdout
    );
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let report = avpctl(&json_args).json();
    let impact = report["impact"].as_array().unwrap();
    // The people's line counts distinct principals and resources.
    let distinct = |key: &str| {
        impact
            .iter()
            .map(|f| f[key].as_str().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    assert_eq!(
        (distinct("principal"), distinct("resource")),
        (2, 5),
        "{report:#}"
    );
    assert!(
        impact
            .iter()
            .all(|f| f["old"] == "deny" && f["new"] == "allow")
    );
    assert_eq!(
        impact[0]["new_reasons"],
        serde_json::json!(["finance-approval-leads"])
    );
    let plain = avpctl(&[
        "diff",
        "fixtures/prove/example-without-mfa",
        "--against",
        "policies-example",
        "--format",
        "json",
    ])
    .json();
    assert!(plain.get("impact").is_none(), "only with --impact");
}

#[test]
fn the_snapshot_named_in_the_config_stays_inside_the_project() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.json"), "[]").unwrap();
    let dir = common::example();
    let config = dir.path().join("avpctl.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "entities = [\"{}\"]\n{text}",
            outside.path().join("secret.json").display()
        ),
    )
    .unwrap();
    let refused = avpctl(&["access", dir.path().to_str().unwrap()]);
    assert_eq!(refused.code, 2);
    assert!(
        refused
            .stderr_text()
            .contains("outside the project directory"),
        "{}",
        refused.stderr
    );
    // Inside, the configured snapshot is the default.
    std::fs::write(&config, format!("entities = [\"entities\"]\n{text}")).unwrap();
    let run = avpctl(&[
        "access",
        dir.path().to_str().unwrap(),
        "--context",
        r#"{"ip": "10.0.1.5", "mfa_present": true, "request_time": "2026-03-15T10:00:00Z"}"#,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.json()["summary"]["allowed"].as_u64().unwrap() > 0);
}

/// Without a context, `access` answers with Cedar's partial evaluation. A
/// decision it gives must hold for every context, so in particular for
/// `{}` wherever the schema accepts `{}`: checked on every conformance
/// project whose policies validate (partial evaluation needs them to).
#[test]
fn partial_answers_hold_for_the_empty_context_on_every_conformance_project() {
    let total = over_conformance_projects(|dir, project, entities| {
        let Ok(partial) = review(project, entities, &everything(None)) else {
            return 0;
        };
        let cedar = brute_force(project, entities);
        let with_empty_context: std::collections::BTreeSet<Triple> =
            all_requests(project, entities, &serde_json::json!({}))
                .into_iter()
                .map(|(triple, _)| triple)
                .collect();
        let mut compared = 0;
        for answer in &partial.answers {
            let triple = triple_of(&answer.principal, &answer.action, &answer.resource);
            if !with_empty_context.contains(&triple) {
                continue;
            }
            compared += 1;
            let full = cedar.get(&triple);
            match answer.decision {
                Some(Decision::Allow) => {
                    let (decision, reasons, _) = full.unwrap_or_else(|| {
                        panic!(
                            "{}: {triple:?} allowed for every context, Cedar denies it with {{}}",
                            dir.display()
                        )
                    });
                    assert_eq!(*decision, Decision::Allow, "{}: {triple:?}", dir.display());
                    assert!(
                        answer.reasons.iter().all(|r| reasons.contains(r)),
                        "{}: {triple:?}: {:?} not among Cedar's {reasons:?}",
                        dir.display(),
                        answer.reasons
                    );
                }
                Some(Decision::Deny) => assert!(
                    full.is_none_or(|(d, _, _)| *d == Decision::Deny),
                    "{}: {triple:?} denied for every context, Cedar allows it with {{}}",
                    dir.display()
                ),
                None => assert!(!answer.residuals.is_empty(), "{triple:?}"),
            }
        }
        // Every request Cedar allows with `{}` is allowed, or allowed
        // depending on the context: never denied outright.
        for (triple, (decision, _, _)) in &cedar {
            if *decision != Decision::Allow {
                continue;
            }
            let answer = partial
                .answers
                .iter()
                .find(|a| triple_of(&a.principal, &a.action, &a.resource) == *triple);
            assert!(
                answer.is_some_and(|a| a.decision != Some(Decision::Deny)),
                "{}: Cedar allows {triple:?} with {{}}, partial evaluation denies it",
                dir.display()
            );
            compared += 1;
        }
        compared
    });
    assert!(total > 100, "only {total} partial answers compared");
}

#[test]
fn without_a_context_the_example_says_who_is_allowed_when() {
    let run = avpctl(&[
        "access",
        "policies-example",
        "--entities",
        "policies-example/entities",
        "--action",
        r#"DocApp::Action::"approveDocument""#,
        "--resource",
        r#"DocApp::Document::"42""#,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["query"]["context"], serde_json::Value::Null);
    let carol = report["allowed_when"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["principal"] == r#"DocApp::User::"carol""#)
        .expect("carol may approve 42 depending on the context");
    assert_eq!(carol["residuals"][0]["policy"], "finance-approval-leads");
    assert_eq!(carol["residuals"][0]["effect"], "permit");
    let residual = carol["residuals"][0]["residual"].as_str().unwrap();
    assert!(residual.contains("context.mfa_present"), "{residual}");
    // With the context, the answer is plain.
    let plain = avpctl(&[
        "access",
        "policies-example",
        "--entities",
        "policies-example/entities",
        "--action",
        r#"DocApp::Action::"approveDocument""#,
        "--resource",
        r#"DocApp::Document::"42""#,
        "--context",
        r#"{"ip": "10.0.1.5", "mfa_present": true, "request_time": "2026-03-15T10:00:00Z"}"#,
        "--format",
        "json",
    ])
    .json();
    assert_eq!(plain["allowed_when"], serde_json::json!([]));
    assert!(
        plain["allowed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["principal"] == r#"DocApp::User::"carol""#)
    );
}

#[test]
fn without_a_context_each_action_has_one_heading_over_its_allowed_and_conditional_answers() {
    let run = crate::common::avpctl(&[
        "access",
        "policies-example",
        "--principal",
        r#"DocApp::User::"carol""#,
        "--entities",
        "policies-example/entities",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("ALLOWED WHEN"), "{}", run.stdout);
    let headings: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("DocApp::Action::"))
        .collect();
    let unique: std::collections::BTreeSet<&str> = headings.iter().copied().collect();
    assert_eq!(headings.len(), unique.len(), "{}", run.stdout);
}
