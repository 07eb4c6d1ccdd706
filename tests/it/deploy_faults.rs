//! Deploys that fail part-way (faults injected in the store layer) leave
//! the store consistent, report exactly what was applied, and finish when
//! run again; schema changes are ordered so a STRICT store takes every call.

use std::str::FromStr;

use avpctl::plan::side::{Body, SidePolicy, SideTemplate};
use avpctl::plan::{Side, StepOptions};
use avpctl::store::local::LocalStore;
use avpctl::store::{Operation, Store, StoreError, StoreState, ValidationMode};

/// A local store whose `fail_at`-th operation fails.
struct Faulty {
    inner: LocalStore,
    fail_at: usize,
    seen: usize,
}

impl Store for Faulty {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn read(&mut self) -> Result<StoreState, StoreError> {
        self.inner.read()
    }

    fn apply(&mut self, operation: &Operation) -> Result<Option<String>, StoreError> {
        self.seen += 1;
        if self.seen == self.fail_at {
            return Err(StoreError::Unreachable(
                "injected fault: connection reset".into(),
            ));
        }
        self.inner.apply(operation)
    }
}

fn policy(statement: &str) -> SidePolicy {
    SidePolicy {
        body: Body::Static {
            statement: statement.into(),
        },
        description: None,
        store_id: None,
    }
}

fn link(template: &str, principal: &str, resource: &str) -> SidePolicy {
    SidePolicy {
        body: Body::Linked {
            template: template.into(),
            principal: Some(principal.into()),
            resource: Some(resource.into()),
        },
        description: None,
        store_id: None,
    }
}

fn template(statement: &str) -> SideTemplate {
    SideTemplate {
        statement: statement.into(),
        description: None,
        store_id: None,
    }
}

fn old_side() -> Side {
    let mut side = Side::default();
    side.policies.insert(
        "read-all".into(),
        policy("permit(principal, action == Action::\"read\", resource);"),
    );
    side.policies.insert(
        "no-secrets".into(),
        policy("forbid(principal, action, resource == D::\"secret\");"),
    );
    side.policies.insert(
        "no-drafts".into(),
        policy("forbid(principal, action == Action::\"write\", resource == D::\"draft\");"),
    );
    side.policies.insert(
        "old-permit".into(),
        policy("permit(principal == U::\"root\", action, resource);"),
    );
    side.templates.insert(
        "deny-doc".into(),
        template("forbid(principal == ?principal, action, resource == ?resource);"),
    );
    side.policies
        .insert("ban-a".into(), link("deny-doc", "U::\"a\"", "D::\"x\""));
    side
}

fn new_side() -> Side {
    let mut side = Side::default();
    // Changed condition (in place, with a stand-in), changed scope
    // (replacement under a temporary name), removed, added, link moved.
    side.policies.insert(
        "read-all".into(),
        policy("permit(principal, action == Action::\"read\", resource) when { context.ok };"),
    );
    side.policies.insert(
        "no-secrets".into(),
        policy("forbid(principal, action, resource == D::\"vault\");"),
    );
    side.policies.insert("no-drafts".into(), policy("forbid(principal, action == Action::\"write\", resource == D::\"draft\") unless { principal == U::\"editor\" };"));
    side.policies.insert(
        "writers".into(),
        policy("permit(principal == U::\"w\", action == Action::\"write\", resource);"),
    );
    side.templates.insert(
        "deny-doc".into(),
        template("forbid(principal == ?principal, action, resource == ?resource);"),
    );
    side.policies
        .insert("ban-a".into(), link("deny-doc", "U::\"a\"", "D::\"y\""));
    side
}

fn options() -> StepOptions {
    StepOptions {
        prune: false,
        validation_mode: ValidationMode::Off,
    }
}

fn fresh_store(dir: &std::path::Path) -> LocalStore {
    let mut store = LocalStore::new(&dir.join("store.json")).with_default_mode(ValidationMode::Off);
    let plan = avpctl::plan::plan(
        &Side::from_store(&store.read().unwrap()),
        &old_side(),
        options(),
    )
    .unwrap();
    assert!(avpctl::deploy::apply::apply(&mut store, &plan.steps, &mut |_, _, _| {}).succeeded());
    store
}

#[test]
fn every_failure_point_is_reported_exactly_and_the_next_deploy_finishes() {
    let probe = tempfile::tempdir().unwrap();
    let mut store = fresh_store(probe.path());
    let total = avpctl::plan::plan(
        &Side::from_store(&store.read().unwrap()),
        &new_side(),
        options(),
    )
    .unwrap()
    .steps
    .count();
    assert!(
        total >= 10,
        "a plan with stand-ins, replacements and renames: {total} steps"
    );

    for fail_at in 1..=total {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh_store(dir.path());
        let mut faulty = Faulty {
            inner: store,
            fail_at,
            seen: 0,
        };
        let plan = avpctl::plan::plan(
            &Side::from_store(&faulty.read().unwrap()),
            &new_side(),
            options(),
        )
        .unwrap();
        let applied = avpctl::deploy::apply::apply(&mut faulty, &plan.steps, &mut |_, _, _| {});
        let (failed_step, error) = applied
            .failed
            .clone()
            .expect("the injected fault stops the deploy");
        assert!(error.to_string().contains("injected fault"));
        assert_eq!(
            applied.applied.len(),
            fail_at - 1,
            "fail at {fail_at}: every step before the fault is reported applied"
        );
        assert_eq!(
            applied.applied.len() + 1 + applied.not_applied.len(),
            plan.steps.count(),
            "fail at {fail_at}: applied + failed + not applied = the plan"
        );
        assert!(!applied.applied.contains(&failed_step));

        // The file is whole and readable, and a new deploy finishes the job.
        let mut store = LocalStore::new(&dir.path().join("store.json"));
        let state = store.read().expect("the store is consistent");
        let resume = avpctl::plan::plan(&Side::from_store(&state), &new_side(), options()).unwrap();
        assert!(
            resume.steps.count() <= plan.steps.count() + 2,
            "fail at {fail_at}: the resumed plan is no bigger than the rest of the work"
        );
        let finished = avpctl::deploy::apply::apply(&mut store, &resume.steps, &mut |_, _, _| {});
        assert!(
            finished.succeeded(),
            "fail at {fail_at}: {:?}",
            finished.failed
        );
        let done = store.read().unwrap();
        let final_side = Side::from_store(&done);
        assert!(
            final_side.in_flight.is_empty(),
            "fail at {fail_at}: no temporary policy is left: {:?}",
            final_side.in_flight
        );
        assert!(
            final_side.unmanaged.is_empty(),
            "fail at {fail_at}: {:?}",
            final_side.unmanaged
        );
        let again = avpctl::plan::plan(&final_side, &new_side(), options()).unwrap();
        assert!(
            again.steps.is_empty(),
            "fail at {fail_at}: the store equals the project: {:?}",
            again.steps
        );
    }
    store.finish();
}

fn schema(entities: &[&str]) -> serde_json::Value {
    let types: serde_json::Map<String, serde_json::Value> = entities
        .iter()
        .map(|e| (e.to_string(), serde_json::json!({})))
        .collect();
    serde_json::json!({"App": {
        "entityTypes": types,
        "actions": {"view": {"appliesTo": {"principalTypes": ["User"], "resourceTypes": entities.iter().filter(|e| **e != "User").collect::<Vec<_>>()}}}
    }})
}

#[test]
fn a_schema_change_that_adds_and_removes_goes_through_a_merged_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LocalStore::new(&dir.path().join("store.json"));
    let mut old = Side {
        schema: Some(schema(&["User", "Doc"])),
        ..Side::default()
    };
    old.policies.insert(
        "docs".into(),
        policy("permit(principal, action == App::Action::\"view\", resource is App::Doc);"),
    );
    let strict = StepOptions {
        prune: false,
        validation_mode: ValidationMode::Strict,
    };
    let plan = avpctl::plan::plan(&Side::from_store(&store.read().unwrap()), &old, strict).unwrap();
    assert!(avpctl::deploy::apply::apply(&mut store, &plan.steps, &mut |_, _, _| {}).succeeded());

    // Doc goes, File comes: neither schema validates both policy sets.
    let mut new = Side {
        schema: Some(schema(&["User", "File"])),
        ..Side::default()
    };
    new.policies.insert(
        "files".into(),
        policy("permit(principal, action == App::Action::\"view\", resource is App::File);"),
    );
    let plan = avpctl::plan::plan(&Side::from_store(&store.read().unwrap()), &new, strict).unwrap();
    let verbs: Vec<&str> = plan
        .steps
        .waves
        .iter()
        .flat_map(|(_, w)| w.iter().map(|s| s.operation.verb()))
        .collect();
    assert_eq!(verbs.first(), Some(&"PutSchema"), "{verbs:?}");
    assert_eq!(verbs.last(), Some(&"PutSchema"), "{verbs:?}");
    // The STRICT local store validates every call, as AVP does.
    let applied = avpctl::deploy::apply::apply(&mut store, &plan.steps, &mut |_, _, _| {});
    assert!(applied.succeeded(), "{:?}", applied.failed);
    let state = store.read().unwrap();
    assert_eq!(
        avpctl::plan::changes::normalize(state.schema.as_ref().unwrap()),
        avpctl::plan::changes::normalize(&schema(&["User", "File"]))
    );
    let _ = cedar_policy::Schema::from_str;
}

#[test]
fn the_strict_local_store_refuses_what_avp_refuses() {
    use avpctl::store::NewDefinition;
    use avpctl::store::local::apply_to;
    let mut state = StoreState::empty();
    let mut next = 1;
    let create = |name: &str, statement: &str| Operation::CreatePolicy {
        name: name.into(),
        description: None,
        definition: NewDefinition::Static {
            statement: statement.into(),
        },
    };
    // STRICT without a schema refuses every policy.
    let err = apply_to(
        &mut state,
        &mut next,
        &create("name/a", "permit(principal, action, resource);"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("STRICT mode and has no schema"),
        "{err}"
    );
    apply_to(
        &mut state,
        &mut next,
        &Operation::PutSchema {
            schema: schema(&["User", "Doc"]),
        },
    )
    .unwrap();
    let id = apply_to(
        &mut state,
        &mut next,
        &create(
            "name/a",
            "permit(principal, action == App::Action::\"view\", resource);",
        ),
    )
    .unwrap()
    .unwrap();
    // Names are unique.
    let err = apply_to(
        &mut state,
        &mut next,
        &create(
            "name/a",
            "permit(principal, action == App::Action::\"view\", resource);",
        ),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    // An update cannot change the effect.
    let err = apply_to(
        &mut state,
        &mut next,
        &Operation::UpdatePolicy {
            id: id.clone(),
            name: None,
            description: None,
            statement: "forbid(principal, action == App::Action::\"view\", resource);".into(),
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("cannot change the effect"),
        "{err}"
    );
    // A policy that does not validate is refused.
    let err = apply_to(
        &mut state,
        &mut next,
        &create(
            "name/b",
            "permit(principal, action, resource) when { principal.nope };",
        ),
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not validate"), "{err}");
    // A schema that would invalidate a stored policy is refused.
    let err = apply_to(&mut state, &mut next, &Operation::PutSchema { schema: serde_json::json!({"App": {"entityTypes": {"User": {}, "Doc": {}}, "actions": {}}}) }).unwrap_err();
    assert!(err.to_string().contains("would invalidate name/a"), "{err}");
    // Deleting what is gone succeeds, as in AVP.
    apply_to(
        &mut state,
        &mut next,
        &Operation::DeletePolicy {
            id: "P-missing".into(),
        },
    )
    .unwrap();
}

/// A local store that someone else writes to (a second `LocalStore` on the
/// same file, as a second deploy or a person editing it would) right after
/// the `after`-th wave.
struct Intruded {
    inner: LocalStore,
    path: std::path::PathBuf,
    after: usize,
    waves: usize,
}

impl Store for Intruded {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn read(&mut self) -> Result<StoreState, StoreError> {
        self.inner.read()
    }

    fn apply(&mut self, operation: &Operation) -> Result<Option<String>, StoreError> {
        self.inner.apply(operation)
    }

    fn apply_all(&mut self, operations: &[Operation]) -> Vec<Result<Option<String>, StoreError>> {
        let results = self.inner.apply_all(operations);
        self.waves += 1;
        if self.waves == self.after {
            intrude(&self.path);
        }
        results
    }
}

fn intrude(path: &std::path::Path) {
    let mut other = LocalStore::new(path).with_default_mode(ValidationMode::Off);
    other.read().unwrap();
    other
        .apply(&Operation::CreatePolicy {
            name: "name/intruder".into(),
            description: None,
            definition: avpctl::store::NewDefinition::Static {
                statement: "permit(principal, action, resource);".into(),
            },
        })
        .unwrap();
}

#[test]
fn a_store_changed_between_waves_stops_the_deploy_and_says_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let store = fresh_store(dir.path());
    let mut intruded = Intruded {
        inner: store,
        path: path.clone(),
        after: 1,
        waves: 0,
    };
    let planned = intruded.read().unwrap();
    let plan = avpctl::plan::plan(&Side::from_store(&planned), &new_side(), options()).unwrap();
    assert!(plan.steps.waves.len() >= 2, "{:?}", plan.steps.waves);
    let first_wave = plan.steps.waves[0].1.len();
    let applied = avpctl::deploy::apply::apply_against(
        &mut intruded,
        &plan.steps,
        &planned,
        &mut |_, _, _| {},
    );
    let (step, error) = applied.failed.clone().expect("the deploy stops");
    assert!(matches!(error, StoreError::Changed(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("the store changed since the plan was made"),
        "{message}"
    );
    assert!(message.contains("(name/intruder) was added"), "{message}");
    assert_eq!(applied.applied.len(), first_wave, "only the first wave ran");
    assert_eq!(step, plan.steps.waves[1].1[0].label);
    assert_eq!(
        applied.applied.len() + 1 + applied.not_applied.len(),
        plan.steps.count()
    );
    // The other writer's policy is not lost, and nothing more was written.
    let state = LocalStore::new(&path).read().unwrap();
    assert!(
        state
            .policies
            .iter()
            .any(|p| p.name.as_deref() == Some("name/intruder"))
    );
}

#[test]
fn a_store_changed_after_planning_is_not_written_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let mut store = fresh_store(dir.path());
    let planned = store.read().unwrap();
    let plan = avpctl::plan::plan(&Side::from_store(&planned), &new_side(), options()).unwrap();
    // Between the plan (and the prompt) and the first write.
    intrude(&path);
    let before = std::fs::read_to_string(&path).unwrap();
    let applied =
        avpctl::deploy::apply::apply_against(&mut store, &plan.steps, &planned, &mut |_, _, _| {});
    let (_, error) = applied.failed.clone().expect("the deploy stops");
    assert!(
        error.to_string().contains("(name/intruder) was added"),
        "{error}"
    );
    assert!(applied.applied.is_empty());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "nothing written"
    );
}

#[test]
fn a_deploy_that_nobody_interrupts_is_not_mistaken_for_a_changed_store() {
    // Every wave re-reads the store; what the deploy wrote itself (creates,
    // updates, deletes, renames, a template deleted with its links) is not
    // someone else's change.
    let dir = tempfile::tempdir().unwrap();
    let mut store = fresh_store(dir.path());
    let planned = store.read().unwrap();
    let plan = avpctl::plan::plan(&Side::from_store(&planned), &new_side(), options()).unwrap();
    let applied =
        avpctl::deploy::apply::apply_against(&mut store, &plan.steps, &planned, &mut |_, _, _| {});
    assert!(applied.succeeded(), "{:?}", applied.failed);
    assert_eq!(applied.applied.len(), plan.steps.count());
}

#[test]
fn a_write_by_someone_else_between_read_and_save_is_never_overwritten() {
    // Inside one wave: the embedded store computed its new state from what
    // it read; saving it over another writer's change would lose that.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let mut store = fresh_store(dir.path());
    store.read().unwrap();
    intrude(&path);
    let result = store.apply_all(&[Operation::CreatePolicy {
        name: "name/mine".into(),
        description: None,
        definition: avpctl::store::NewDefinition::Static {
            statement: "forbid(principal, action, resource);".into(),
        },
    }]);
    assert!(
        matches!(result.as_slice(), [Err(StoreError::Changed(_))]),
        "{result:?}"
    );
    let state = LocalStore::new(&path).read().unwrap();
    let names: Vec<_> = state
        .policies
        .iter()
        .filter_map(|p| p.name.as_deref())
        .collect();
    assert!(names.contains(&"name/intruder"), "{names:?}");
    assert!(!names.contains(&"name/mine"), "{names:?}");
}
