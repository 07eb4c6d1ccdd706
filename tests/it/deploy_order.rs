//! The safe order, proven step by step: between any old and new policy
//! sets, after every single store operation of a deploy, no request is
//! allowed that neither the old nor the new policies allow. Policy sets are
//! generated (permits and forbids, changes of condition, effect and scope,
//! templates and links), requests too.

use std::str::FromStr;

use avpctl::plan::side::{Body, SidePolicy, SideTemplate};
use avpctl::plan::{Side, StepOptions};
use avpctl::store::local::apply_to;
use avpctl::store::{Operation, Store, StoreError, StoreState, ValidationMode};
use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};

use crate::common::Rng;

const USERS: [&str; 3] = ["a", "b", "c"];
const DOCS: [&str; 3] = ["x", "y", "z"];
const ACTIONS: [&str; 2] = ["read", "write"];

fn statement(rng: &mut Rng) -> String {
    let effect = if rng.below(3) == 0 {
        "forbid"
    } else {
        "permit"
    };
    let principal = match rng.below(3) {
        0 => "principal".to_string(),
        _ => format!("principal == U::\"{}\"", USERS[rng.below(3)]),
    };
    let action = match rng.below(3) {
        0 => "action".to_string(),
        _ => format!("action == Action::\"{}\"", ACTIONS[rng.below(2)]),
    };
    let resource = match rng.below(3) {
        0 => "resource".to_string(),
        _ => format!("resource == D::\"{}\"", DOCS[rng.below(3)]),
    };
    let condition = match rng.below(4) {
        0 => String::new(),
        n => format!(" when {{ context.level > {n} }}"),
    };
    format!("{effect}({principal}, {action}, {resource}){condition};")
}

fn side(rng: &mut Rng) -> Side {
    let mut side = Side::default();
    for i in 0..8 {
        if rng.below(4) == 0 {
            continue; // absent on this side
        }
        side.policies.insert(
            format!("p{i}"),
            SidePolicy {
                body: Body::Static {
                    statement: statement(rng),
                },
                description: None,
                store_id: None,
            },
        );
    }
    let template_effect = if rng.below(2) == 0 {
        "permit"
    } else {
        "forbid"
    };
    let condition = if rng.below(2) == 0 {
        ""
    } else {
        " when { context.level > 1 }"
    };
    side.templates.insert(
        "t".into(),
        SideTemplate { statement: format!("{template_effect}(principal == ?principal, action, resource == ?resource){condition};"), description: None, store_id: None },
    );
    for i in 0..3 {
        if rng.below(3) == 0 {
            continue;
        }
        side.policies.insert(
            format!("l{i}"),
            SidePolicy {
                body: Body::Linked {
                    template: "t".into(),
                    principal: Some(format!("U::\"{}\"", USERS[rng.below(3)])),
                    resource: Some(format!("D::\"{}\"", DOCS[rng.below(3)])),
                },
                description: None,
                store_id: None,
            },
        );
    }
    side
}

fn requests() -> Vec<Request> {
    let mut all = Vec::new();
    for user in USERS {
        for action in ACTIONS {
            for doc in DOCS {
                for level in 0..5 {
                    let context =
                        Context::from_json_value(serde_json::json!({"level": level}), None)
                            .unwrap();
                    let uid =
                        |t: &str, id: &str| EntityUid::from_str(&format!("{t}::\"{id}\"")).unwrap();
                    all.push(
                        Request::new(
                            uid("U", user),
                            uid("Action", action),
                            uid("D", doc),
                            context,
                            None,
                        )
                        .unwrap(),
                    );
                }
            }
        }
    }
    all
}

fn allowed(set: &PolicySet, requests: &[Request]) -> Vec<bool> {
    let authorizer = Authorizer::new();
    let entities = Entities::empty();
    requests
        .iter()
        .map(|r| authorizer.is_authorized(r, set, &entities).decision() == Decision::Allow)
        .collect()
}

/// An in-memory store that checks the property after every operation.
struct CheckingStore {
    state: StoreState,
    next_id: u64,
    requests: Vec<Request>,
    old: Vec<bool>,
    new: Vec<bool>,
    operations: usize,
    violation: Option<String>,
    checking: bool,
}

impl Store for CheckingStore {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn read(&mut self) -> Result<StoreState, StoreError> {
        Ok(self.state.clone())
    }

    fn apply(&mut self, operation: &Operation) -> Result<Option<String>, StoreError> {
        let created = apply_to(&mut self.state, &mut self.next_id, operation)?;
        self.operations += 1;
        if !self.checking {
            return Ok(created);
        }
        let now = allowed(&Side::from_store(&self.state).policy_set(), &self.requests);
        for (i, allow) in now.iter().enumerate() {
            if *allow && !self.old[i] && !self.new[i] && self.violation.is_none() {
                self.violation = Some(format!(
                    "after operation {} ({operation:?}) request {} is allowed by neither side",
                    self.operations, self.requests[i]
                ));
            }
        }
        Ok(created)
    }
}

fn deploy_into(store: &mut CheckingStore, target: &Side) {
    let old = Side::from_store(&store.state);
    let plan = avpctl::plan::plan(
        &old,
        target,
        StepOptions {
            prune: false,
            validation_mode: ValidationMode::Off,
        },
    )
    .unwrap();
    let applied = avpctl::deploy::apply::apply(store, &plan.steps, &mut |_, _, _| {});
    assert!(applied.succeeded(), "{:?}", applied.failed);
}

/// One random old → new deploy, checked after every operation; returns the
/// number of operations checked.
fn check_round(round: u64, requests: &[Request]) -> usize {
    let mut rng = Rng(0xdead_beef_1234_5678 ^ (round.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let (old, new) = (side(&mut rng), side(&mut rng));
    let old_allowed = allowed(&old.policy_set(), requests);
    let new_allowed = allowed(&new.policy_set(), requests);
    let mut state = StoreState::empty();
    state.validation_mode = ValidationMode::Off;
    let mut store = CheckingStore {
        state,
        next_id: 1,
        requests: requests.to_vec(),
        old: old_allowed.clone(),
        new: new_allowed.clone(),
        operations: 0,
        violation: None,
        checking: false,
    };
    deploy_into(&mut store, &old);
    // The store now holds `old`; check every operation of the move to `new`.
    store.checking = true;
    let before = store.operations;
    let options = StepOptions {
        prune: false,
        validation_mode: ValidationMode::Off,
    };
    let plan = avpctl::plan::plan(&Side::from_store(&store.state), &new, options).unwrap();
    let applied = avpctl::deploy::apply::apply(&mut store, &plan.steps, &mut |_, _, _| {});
    assert!(applied.succeeded(), "round {round}: {:?}", applied.failed);
    assert!(
        plan.steps.warnings.is_empty(),
        "round {round}: {:?}",
        plan.steps.warnings
    );
    let labels: Vec<String> = plan
        .steps
        .waves
        .iter()
        .flat_map(|(_, w)| w.iter().map(|s| s.label.clone()))
        .collect();
    assert!(
        store.violation.is_none(),
        "round {round}: {}\nsteps: {labels:#?}\nold: {:#?}\nnew: {:#?}",
        store.violation.unwrap(),
        old.policies,
        new.policies
    );
    // The store ends equal to the project, and a second deploy plans nothing.
    assert_eq!(
        allowed(&Side::from_store(&store.state).policy_set(), requests),
        new_allowed,
        "round {round}\nsteps: {labels:#?}"
    );
    let again = avpctl::plan::plan(&Side::from_store(&store.state), &new, options).unwrap();
    assert!(
        again.steps.is_empty(),
        "round {round}: a second deploy plans nothing: {:?}",
        again.steps
    );
    store.operations - before
}

#[test]
fn no_intermediate_state_allows_what_neither_side_allows() {
    use rayon::prelude::*;
    crate::common::in_process();
    let requests = requests();
    let operations: usize = (0..120u64)
        .into_par_iter()
        .map(|round| check_round(round, &requests))
        .sum();
    assert!(
        operations > 500,
        "only {operations} operations were checked"
    );
}

#[test]
fn a_replaced_forbid_goes_through_a_temporary_name() {
    let mut old = Side::default();
    old.policies.insert(
        "f".into(),
        SidePolicy {
            body: Body::Static {
                statement: "forbid(principal, action, resource == D::\"x\");".into(),
            },
            description: None,
            store_id: None,
        },
    );
    let mut new = Side::default();
    new.policies.insert(
        "f".into(),
        SidePolicy {
            body: Body::Static {
                statement: "forbid(principal, action, resource == D::\"y\");".into(),
            },
            description: None,
            store_id: None,
        },
    );
    let mut state = StoreState::empty();
    state.validation_mode = ValidationMode::Off;
    let mut next = 1;
    apply_to(
        &mut state,
        &mut next,
        &Operation::CreatePolicy {
            name: "name/f".into(),
            description: None,
            definition: avpctl::store::NewDefinition::Static {
                statement: "forbid(principal, action, resource == D::\"x\");".into(),
            },
        },
    )
    .unwrap();
    let plan = avpctl::plan::plan(
        &Side::from_store(&state),
        &new,
        StepOptions {
            prune: false,
            validation_mode: ValidationMode::Off,
        },
    )
    .unwrap();
    let verbs: Vec<(&str, String)> = plan
        .steps
        .waves
        .iter()
        .flat_map(|(_, w)| w.iter().map(|s| (s.operation.verb(), s.label.clone())))
        .collect();
    assert_eq!(verbs.len(), 3, "{verbs:?}");
    assert_eq!(verbs[0].0, "CreatePolicy");
    assert!(verbs[0].1.contains("avpctl-replacing/"), "{verbs:?}");
    assert_eq!(verbs[1].0, "DeletePolicy");
    assert_eq!(verbs[2].0, "UpdatePolicy");
    assert!(verbs[2].1.starts_with("rename"));
    let _ = old;
}
