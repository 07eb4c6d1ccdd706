//! Property: evaluating only the policies the slicer keeps gives exactly the
//! decision, determining policies and errors of Cedar's authorizer over the
//! whole set — over generated policy sets (scopes of every form, templates
//! and links, conditions that error) and generated requests.

use std::collections::BTreeSet;
use std::str::FromStr;

use avpctl::testing::slicer::Slicer;
use cedar_policy::{
    Authorizer, Context, Entities, EntityUid, PolicyId, PolicySet, Request, SlotId,
};

use crate::common::Rng;

const USERS: [&str; 5] = ["u0", "u1", "u2", "u3", "u4"];
const GROUPS: [&str; 3] = ["g0", "g1", "g2"];
const DOCS: [&str; 5] = ["d0", "d1", "d2", "d3", "d4"];
const FOLDERS: [&str; 3] = ["f0", "f1", "f2"];
const ACTIONS: [&str; 3] = ["view", "edit", "share"];

fn principal_scope(rng: &mut Rng, slot: bool) -> String {
    if slot && rng.below(2) == 0 {
        return "principal == ?principal".into();
    }
    let user = rng.pick(&USERS);
    let group = rng.pick(&GROUPS);
    match rng.below(7) {
        0 | 1 => "principal".into(),
        2 => format!("principal == User::\"{user}\""),
        3 => format!("principal in Group::\"{group}\""),
        4 => "principal is User".into(),
        5 => format!("principal is User in Group::\"{group}\""),
        _ => format!("principal == Group::\"{group}\""),
    }
}

fn action_scope(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => "action".into(),
        1 => format!("action == Action::\"{}\"", rng.pick(&ACTIONS)),
        2 => "action in [Action::\"view\", Action::\"edit\"]".into(),
        3 => "action in Action::\"readActions\"".into(),
        _ => "action in [Action::\"readActions\", Action::\"share\"]".into(),
    }
}

fn resource_scope(rng: &mut Rng, slot: bool) -> String {
    if slot && rng.below(2) == 0 {
        return "resource in ?resource".into();
    }
    let doc = rng.pick(&DOCS);
    let folder = rng.pick(&FOLDERS);
    match rng.below(6) {
        0 | 1 => "resource".into(),
        2 => format!("resource == Doc::\"{doc}\""),
        3 => format!("resource in Folder::\"{folder}\""),
        4 => "resource is Doc".into(),
        _ => format!("resource is Doc in Folder::\"{folder}\""),
    }
}

fn condition(rng: &mut Rng) -> String {
    match rng.below(7) {
        0 => String::new(),
        // Errors for principals without `level` (groups).
        1 => format!(" when {{ principal.level > {} }}", rng.below(4)),
        2 => " when { resource.owner == principal }".into(),
        3 => " unless { context.flag }".into(),
        // Overflows for the maximal level.
        4 => " when { principal.level + 1 > 0 }".into(),
        5 => " when { context.flag && resource has owner }".into(),
        _ => " when { principal in resource.owner }".into(),
    }
}

fn policy_set(rng: &mut Rng) -> PolicySet {
    let mut text = String::new();
    let statics = 5 + rng.below(25);
    for i in 0..statics {
        let effect = if rng.below(4) == 0 {
            "forbid"
        } else {
            "permit"
        };
        text.push_str(&format!(
            "@id(\"p{i}\") {effect}({}, {}, {}){};\n",
            principal_scope(rng, false),
            action_scope(rng),
            resource_scope(rng, false),
            condition(rng)
        ));
    }
    for i in 0..3 {
        text.push_str(&format!(
            "@id(\"t{i}\") permit(principal == ?principal, {}, {}){};\n",
            action_scope(rng),
            resource_scope(rng, true),
            condition(rng)
        ));
    }
    let parsed = PolicySet::from_str(&text).unwrap();
    let mut set = PolicySet::new();
    for p in parsed.policies() {
        set.add(p.new_id(PolicyId::new(p.annotation("id").unwrap())))
            .unwrap();
    }
    for t in parsed.templates() {
        set.add_template(t.new_id(PolicyId::new(t.annotation("id").unwrap())))
            .unwrap();
    }
    let templates: Vec<(PolicyId, bool)> = set
        .templates()
        .map(|t| (t.id().clone(), t.slots().any(|s| *s == SlotId::resource())))
        .collect();
    for link in 0..6 {
        let (template, has_resource) = &templates[rng.below(templates.len())];
        let mut values = std::collections::HashMap::new();
        values.insert(SlotId::principal(), uid("User", rng.pick(&USERS)));
        if *has_resource {
            let resource = if rng.below(2) == 0 {
                uid("Doc", rng.pick(&DOCS))
            } else {
                uid("Folder", rng.pick(&FOLDERS))
            };
            values.insert(SlotId::resource(), resource);
        }
        set.link(template.clone(), PolicyId::new(format!("l{link}")), values)
            .unwrap();
    }
    set
}

fn uid(type_name: &str, id: &str) -> EntityUid {
    EntityUid::from_str(&format!("{type_name}::\"{id}\"")).unwrap()
}

fn entities(rng: &mut Rng) -> Entities {
    let mut list = Vec::new();
    let parent = |rng: &mut Rng, kind: &str, names: &[&str]| -> Vec<serde_json::Value> {
        (0..rng.below(3))
            .map(|_| serde_json::json!({"type": kind, "id": names[rng.below(names.len())]}))
            .collect()
    };
    for group in GROUPS {
        let parents = if group == "g0" {
            vec![serde_json::json!({"type": "Group", "id": "g1"})]
        } else {
            vec![]
        };
        list.push(serde_json::json!({"uid": {"type": "Group", "id": group}, "attrs": {}, "parents": parents}));
    }
    for (i, user) in USERS.iter().enumerate() {
        let level: i64 = if i == 4 { i64::MAX } else { i as i64 };
        let parents = parent(rng, "Group", &GROUPS);
        list.push(serde_json::json!({"uid": {"type": "User", "id": user}, "attrs": {"level": level}, "parents": parents}));
    }
    for folder in FOLDERS {
        let parents = if folder == "f0" {
            vec![serde_json::json!({"type": "Folder", "id": "f2"})]
        } else {
            vec![]
        };
        list.push(serde_json::json!({"uid": {"type": "Folder", "id": folder}, "attrs": {}, "parents": parents}));
    }
    for doc in DOCS {
        let parents = parent(rng, "Folder", &FOLDERS);
        let owner = rng.pick(&USERS);
        let attrs = if rng.below(3) == 0 {
            serde_json::json!({})
        } else {
            serde_json::json!({"owner": {"__entity": {"type": "User", "id": owner}}})
        };
        list.push(serde_json::json!({"uid": {"type": "Doc", "id": doc}, "attrs": attrs, "parents": parents}));
    }
    list.push(serde_json::json!({"uid": {"type": "Action", "id": "readActions"}, "attrs": {}, "parents": []}));
    list.push(serde_json::json!({"uid": {"type": "Action", "id": "view"}, "attrs": {}, "parents": [{"type": "Action", "id": "readActions"}]}));
    for action in ["edit", "share"] {
        list.push(serde_json::json!({"uid": {"type": "Action", "id": action}, "attrs": {}, "parents": []}));
    }
    Entities::from_json_value(serde_json::Value::Array(list), None).unwrap()
}

type Answer = (cedar_policy::Decision, BTreeSet<String>, BTreeSet<String>);

fn answer(response: &cedar_policy::Response) -> Answer {
    (
        response.decision(),
        response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect(),
        response
            .diagnostics()
            .errors()
            .map(|e| {
                let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = e;
                e.policy_id().to_string()
            })
            .collect(),
    )
}

#[test]
fn sliced_evaluation_equals_full_evaluation() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let authorizer = Authorizer::new();
    let mut compared = 0;
    let mut pruned = 0usize;
    for _ in 0..60 {
        let set = policy_set(&mut rng);
        let entities = entities(&mut rng);
        let slicer = Slicer::new(&set);
        for _ in 0..150 {
            let principal = if rng.below(6) == 0 {
                uid("Group", rng.pick(&GROUPS))
            } else {
                uid("User", rng.pick(&USERS))
            };
            let action = uid("Action", rng.pick(&ACTIONS));
            let resource = if rng.below(6) == 0 {
                uid("Folder", rng.pick(&FOLDERS))
            } else {
                uid("Doc", rng.pick(&DOCS))
            };
            let context =
                Context::from_json_value(serde_json::json!({"flag": rng.below(2) == 0}), None)
                    .unwrap();
            let request = Request::new(
                principal.clone(),
                action.clone(),
                resource.clone(),
                context,
                None,
            )
            .unwrap();
            let full = answer(&authorizer.is_authorized(&request, &set, &entities));
            let slice = slicer.slice(&principal, &action, &resource, &entities);
            pruned += set.policies().count() - slice.policies().count();
            let sliced = answer(&authorizer.is_authorized(&request, &slice, &entities));
            assert_eq!(
                sliced, full,
                "request {principal} {action} {resource}\npolicies:\n{set}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 9000);
    // The property is only interesting if slicing actually removes policies.
    assert!(
        pruned > compared * 5,
        "slicing pruned only {pruned} policy evaluations"
    );
}
