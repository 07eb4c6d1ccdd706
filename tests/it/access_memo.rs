//! `avpctl access`, `diff --impact` and `avpctl test` remember Cedar's
//! outcomes by what policies read (src/testing/memo.rs). The conformance projects have a few
//! entities each, so a memo is seldom hit there; this differential test
//! generates a project whose many users and documents share the values the
//! policies read — the case the memo is for — with hierarchies, `x in x`,
//! templates and links, forbids, entity-valued and extension attributes,
//! and conditions that raise errors on some entities. Every answer, every
//! flip and every test case's outcome is compared with Cedar's
//! `Authorizer` on every request, one by one.

use std::collections::BTreeMap;

use avpctl::access::{Folding, Query, impact_with, review_with, snapshot};
use cedar_policy::{Authorizer, Decision};

use crate::access::{Triple, all_requests, cedar_flips, flips_of, triple_of};
use crate::common;

const SCHEMA: &str = r#"namespace G {
  entity Team in [Team];
  entity User in [Team] {
    level: Long, dept: String, manager?: User, tags: Set<String>, home: Folder,
  };
  entity Folder in [Folder];
  entity Doc in [Folder] {
    owner: User, classification: Long, locked: Bool, addr: ipaddr,
  };
  action read;
  action edit, share in [read] appliesTo {
    principal: [User], resource: [Doc, Folder], context: { level: Long, mfa: Bool },
  };
  action audit appliesTo {
    principal: [User], resource: [Doc], context: { level: Long, mfa: Bool },
  };
}
"#;

const POLICIES: &str = r#"
@id("team-edits-unlocked")
permit(principal in G::Team::"t1", action == G::Action::"edit", resource in G::Folder::"f1")
when { resource is G::Doc && !resource.locked };

@id("owner-reads")
permit(principal, action in G::Action::"read", resource)
when { resource is G::Doc && resource.owner == principal };

@id("above-level")
forbid(principal, action, resource)
when { resource is G::Doc && resource.classification > principal.level };

@id("self-or-team-shares")
permit(principal, action == G::Action::"share", resource)
when { principal in G::User::"u3" || principal in G::Team::"t2" };

@id("managed-by-senior")
permit(principal is G::User, action, resource is G::Doc)
when { principal has manager && principal.manager.level > 2 };

@id("engineers-with-mfa")
permit(principal, action == G::Action::"edit", resource)
when { context.mfa && principal.dept like "eng*" && resource in G::Folder::"f0" };

@id("overflowing-share")
forbid(principal, action == G::Action::"share", resource)
when { principal.level * 4611686018427387904 > 0 };

@id("internal-tagged")
permit(principal, action == G::Action::"audit", resource)
when { resource.addr.isInRange(ip("10.0.0.0/8")) && principal.tags.contains("audit") };

@id("home-folder")
permit(principal, action, resource)
when { resource in principal.home && context.level >= 2 };

@id("managers-of-owners")
permit(principal, action == G::Action::"audit", resource)
when { resource.owner has manager && resource.owner.manager == principal };
"#;

const TEMPLATE: &str = r#"@id("grant")
permit(principal == ?principal, action == G::Action::"edit", resource in ?resource)
when { resource is G::Doc && resource.classification <= 2 };
"#;

const LINKS: &str = r#"
- id: u1-edits-f2
  template: grant
  principal: 'G::User::"u1"'
  resource: 'G::Folder::"f2"'
- id: u7-edits-d5
  template: grant
  principal: 'G::User::"u7"'
  resource: 'G::Doc::"d5"'
- id: u9-edits-f0
  template: grant
  principal: 'G::User::"u9"'
  resource: 'G::Folder::"f0"'
"#;

const USERS: usize = 40;
const DOCS: usize = 60;
const FOLDERS: usize = 6;

fn entities() -> serde_json::Value {
    use serde_json::json;
    let mut rng = common::Rng(0x6d65_6d6f);
    let uid = |kind: &str, id: String| json!({"type": format!("G::{kind}"), "id": id});
    let mut all = vec![
        json!({"uid": uid("Team", "t0".into()), "attrs": {}, "parents": []}),
        json!({"uid": uid("Team", "t1".into()), "attrs": {}, "parents": [uid("Team", "t0".into())]}),
        json!({"uid": uid("Team", "t2".into()), "attrs": {}, "parents": []}),
    ];
    for f in 0..FOLDERS {
        // f1 and f2 are inside f0.
        let parents: Vec<_> = (f == 1 || f == 2)
            .then(|| uid("Folder", "f0".into()))
            .into_iter()
            .collect();
        all.push(json!({"uid": uid("Folder", format!("f{f}")), "attrs": {}, "parents": parents}));
    }
    for u in 0..USERS {
        let dept = ["eng-a", "eng-b", "ops"][rng.below(3)];
        let mut attrs = json!({
            "level": rng.below(5),
            "dept": dept,
            "tags": if rng.below(3) == 0 { json!(["audit"]) } else { json!([]) },
            "home": uid("Folder", format!("f{}", rng.below(FOLDERS))),
        });
        // Some managers are users the snapshot lacks: reading their level
        // raises an error.
        match rng.below(4) {
            0 => attrs["manager"] = uid("User", format!("u{}", rng.below(USERS))),
            1 => attrs["manager"] = uid("User", "gone".into()),
            _ => {}
        }
        let parents = vec![uid("Team", format!("t{}", rng.below(3)))];
        all.push(json!({"uid": uid("User", format!("u{u}")), "attrs": attrs, "parents": parents}));
    }
    for d in 0..DOCS {
        let addr = ["10.1.2.3", "192.168.0.1", "10.200.0.9"][rng.below(3)];
        let attrs = json!({
            "owner": uid("User", format!("u{}", rng.below(USERS))),
            "classification": rng.below(5),
            "locked": rng.below(4) == 0,
            "addr": {"__extn": {"fn": "ip", "arg": addr}},
        });
        let parents = vec![uid("Folder", format!("f{}", rng.below(FOLDERS)))];
        all.push(json!({"uid": uid("Doc", format!("d{d}")), "attrs": attrs, "parents": parents}));
    }
    serde_json::Value::Array(all)
}

/// The generated project, in a temporary directory.
fn generated(policies: &str) -> tempfile::TempDir {
    let snapshot = serde_json::to_string_pretty(&entities()).unwrap();
    common::project(&[
        ("schema.cedarschema", SCHEMA),
        ("policies/all.cedar", policies),
        ("templates/grant.cedar", TEMPLATE),
        ("links.yaml", LINKS),
        ("entities.json", &snapshot),
    ])
}

fn load(
    dir: &std::path::Path,
) -> (
    avpctl::project::Project,
    std::sync::Arc<cedar_policy::Entities>,
) {
    let project = avpctl::testing::usable(avpctl::project::load(dir).unwrap()).unwrap();
    let entities = snapshot(&project, &[dir.join("entities.json")]).unwrap();
    (project, entities)
}

/// Decision, determining policies and erring policies with Cedar's message.
type Outcome = (Decision, Vec<String>, Vec<(String, String)>);

fn cedar_outcome(response: &cedar_policy::Response) -> Outcome {
    let mut reasons: Vec<String> = response
        .diagnostics()
        .reason()
        .map(ToString::to_string)
        .collect();
    reasons.sort();
    let mut errors: Vec<(String, String)> = response
        .diagnostics()
        .errors()
        .map(|e| {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(inner) = e;
            (
                inner.policy_id().to_string(),
                avpctl::diagnostic::message_with_causes(inner.inner()),
            )
        })
        .collect();
    errors.sort();
    (response.decision(), reasons, errors)
}

/// `ours` equals `cedar`, or the requests where they differ are shown.
fn assert_same<V: PartialEq + std::fmt::Debug>(
    ours: &BTreeMap<Triple, V>,
    cedar: &BTreeMap<Triple, V>,
    what: &str,
) {
    let differing: Vec<_> = ours
        .keys()
        .chain(cedar.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|triple| ours.get(*triple) != cedar.get(*triple))
        .take(10)
        .map(|triple| (triple, ours.get(triple), cedar.get(triple)))
        .collect();
    assert!(
        differing.is_empty(),
        "{what}: (request, ours, Cedar's) {differing:#?}"
    );
}

fn context() -> serde_json::Value {
    serde_json::json!({"level": 3, "mfa": true})
}

fn query() -> Query {
    Query {
        principal: None,
        action: None,
        resource: None,
        context: Some(context()),
    }
}

#[test]
fn every_answer_is_cedars_when_many_requests_read_the_same_values() {
    common::in_process();
    let dir = generated(POLICIES);
    let (project, entities) = load(dir.path());
    let authorizer = Authorizer::new();
    let cedar: BTreeMap<Triple, Outcome> = all_requests(&project, &entities, &context())
        .into_iter()
        .map(|(triple, request)| {
            let response = authorizer.is_authorized(&request, &project.policy_set, &entities);
            (triple, cedar_outcome(&response))
        })
        .filter(|(_, (decision, _, errors))| *decision == Decision::Allow || !errors.is_empty())
        .collect();
    for from in [1, 64, usize::MAX] {
        let review = review_with(&project, &entities, &query(), Folding { from }).unwrap();
        let ours: BTreeMap<Triple, Outcome> = review
            .answers
            .iter()
            .map(|a| {
                let triple = triple_of(&a.principal, &a.action, &a.resource);
                let errors = a
                    .errors
                    .iter()
                    .map(|e| (e.policy.clone(), e.message.clone()))
                    .collect();
                (triple, (a.decision.unwrap(), a.reasons.clone(), errors))
            })
            .collect();
        assert_same(&ours, &cedar, &format!("answers, folding from {from}"));
        if from == 1 {
            assert!(review.folded > 0, "nothing was folded");
        }
        // The memo served answers (each checked above against Cedar's).
        assert!(
            review.remembered > 100,
            "folding from {from}: {} of {} requests answered from memory",
            review.remembered,
            review.evaluated
        );
    }
    let errors = cedar.values().filter(|(_, _, e)| !e.is_empty()).count();
    let allowed = cedar
        .values()
        .filter(|(d, _, _)| *d == Decision::Allow)
        .count();
    assert!(
        errors > 50 && allowed > 200,
        "{errors} errors, {allowed} allowed"
    );
}

#[test]
fn every_flip_is_cedars_when_many_requests_read_the_same_values() {
    common::in_process();
    // The old side: without the forbid on classification, and with the
    // engineers' permit on any folder.
    let old_text = POLICIES
        .replace("@id(\"above-level\")\nforbid(principal, action, resource)\nwhen { resource is G::Doc && resource.classification > principal.level };", "")
        .replace(r#" && resource in G::Folder::"f0" }"#, " }");
    assert_ne!(old_text.len(), POLICIES.len());
    let old_dir = generated(&old_text);
    let (old, _) = load(old_dir.path());
    let dir = generated(POLICIES);
    let (project, entities) = load(dir.path());
    let cedar = cedar_flips(&project, &old.policy_set, &entities, &context());
    for from in [1, usize::MAX] {
        let impact = impact_with(
            &project,
            &old.policy_set,
            &entities,
            &query(),
            Folding { from },
        )
        .unwrap();
        assert_same(
            &flips_of(&impact),
            &cedar,
            &format!("flips, folding from {from}"),
        );
    }
    assert!(cedar.len() > 100, "only {} flips", cedar.len());
}

/// `avpctl test` remembers Cedar's outcomes per suite entity set, action
/// and context the same way: every request of the generated project as a
/// case of one suite, and each case's decision, determining policies and
/// errors compared with Cedar's on the whole policy set.
#[test]
fn every_case_outcome_is_cedars_when_many_cases_read_the_same_values() {
    common::in_process();
    let dir = generated(POLICIES);
    let (project, entities) = load(dir.path());
    let requests = all_requests(&project, &entities, &context());
    let authorizer = Authorizer::new();
    let cedar: BTreeMap<Triple, Outcome> = requests
        .iter()
        .map(|(triple, request)| {
            let response = authorizer.is_authorized(request, &project.policy_set, &entities);
            (triple.clone(), cedar_outcome(&response))
        })
        .collect();
    let mut suite =
        String::from("entities: [../entities.json]\ncontext: {level: 3, mfa: true}\ncases:\n");
    for (n, (principal, action, resource)) in cedar.keys().enumerate() {
        let quoted = |uid: &str| format!("'{}'", uid.replace('\'', "''"));
        suite.push_str(&format!(
            "  - {{name: c{n}, principal: {}, action: {}, resource: {}, expect: allow}}\n",
            quoted(principal),
            quoted(action),
            quoted(resource)
        ));
    }
    std::fs::create_dir_all(dir.path().join("tests")).unwrap();
    std::fs::write(dir.path().join("tests/all.yaml"), suite).unwrap();
    let project = avpctl::testing::usable(avpctl::project::load(dir.path()).unwrap()).unwrap();
    let report = avpctl::testing::run_suites(
        &project,
        &avpctl::testing::Options {
            filters: Vec::new(),
            fail_fast: false,
            coverage: false,
            skip_validation_warning: true,
        },
    );
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
    let ours: BTreeMap<Triple, Outcome> = report
        .outcomes
        .iter()
        .map(|o| {
            let check = &o.check;
            let errors = o
                .errors
                .iter()
                .map(|e| (e.policy.clone(), e.message.clone()))
                .collect();
            let triple = triple_of(&check.principal, &check.action, &check.resource);
            (triple, (o.decision.unwrap(), o.reasons.clone(), errors))
        })
        .collect();
    assert_eq!(ours.len(), cedar.len());
    assert_same(&ours, &cedar, "case outcomes");
}
