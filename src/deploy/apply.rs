//! Applying a plan to a store, wave by wave, stopping at the first failure
//! and saying exactly what was applied.
//!
//! Immediately before the first write and between waves the store is read
//! again and its [`Fingerprint`] compared with the state the plan was made
//! against (plus what this deploy itself wrote): when someone else changed
//! it, the deploy stops there, writing nothing more, and says what changed.

use std::collections::HashMap;

use crate::plan::{Step, Steps};
use crate::store::{
    Definition, Expected, Fingerprint, NewDefinition, Operation, Store, StoreError, StoreState,
    TemplateRef,
};

#[derive(Debug)]
pub struct Applied {
    /// Labels of the steps that were applied, in order.
    pub applied: Vec<String>,
    /// The step that failed and why.
    pub failed: Option<(String, StoreError)>,
    /// Labels of the steps that were not attempted.
    pub not_applied: Vec<String>,
}

impl Applied {
    pub fn succeeded(&self) -> bool {
        self.failed.is_none()
    }
}

/// Applies `steps` to the store as it is now (read first). `progress` is
/// told about every step before it runs (its number from 1, the total, the
/// step).
pub fn apply(
    store: &mut dyn Store,
    steps: &Steps,
    progress: &mut dyn FnMut(usize, usize, &Step),
) -> Applied {
    match store.read() {
        Ok(state) => apply_against(store, steps, &state, progress),
        Err(err) => stopped(steps, 0, Vec::new(), err),
    }
}

/// Applies `steps`, planned against `planned`: the store must still hold
/// that state before the first write, and between waves must differ from
/// it only by what this deploy wrote.
pub fn apply_against(
    store: &mut dyn Store,
    steps: &Steps,
    planned: &StoreState,
    progress: &mut dyn FnMut(usize, usize, &Step),
) -> Applied {
    let total = steps.count();
    let mut done = 0;
    let mut created: HashMap<String, String> = HashMap::new();
    let mut applied = Vec::new();
    let mut last_seen: Fingerprint = planned.fingerprint();
    let mut ours = Expected::default();
    for (index, (_, wave)) in steps.waves.iter().enumerate() {
        let now = match store.read() {
            Ok(now) => now,
            Err(err) => return stopped(steps, index, applied, err),
        };
        let fingerprint = now.fingerprint();
        let unexpected = last_seen.unexpected_changes(&fingerprint, &ours);
        if !unexpected.is_empty() {
            return stopped(steps, index, applied, changed_error(&unexpected));
        }
        last_seen = fingerprint;
        let operations: Vec<Operation> = wave.iter().map(|step| resolve(step, &created)).collect();
        expect_own_writes(&mut ours, &operations, &now);
        for step in wave {
            done += 1;
            progress(done, total, step);
        }
        let results = store.apply_all(&operations);
        let mut failure = None;
        for (i, step) in wave.iter().enumerate() {
            match results.get(i) {
                Some(Ok(new_id)) => {
                    if let Some(id) = new_id {
                        ours.ids.insert(id.clone());
                    }
                    if let (Some(id), Some(name)) = (new_id, created_name(&operations[i])) {
                        created.insert(name, id.clone());
                    }
                    applied.push(step.label.clone());
                }
                Some(Err(err)) if failure.is_none() => {
                    failure = Some((step.label.clone(), err.clone()))
                }
                _ => {}
            }
        }
        if let Some(failure) = failure {
            let attempted: Vec<&String> =
                applied.iter().chain(std::iter::once(&failure.0)).collect();
            let not_applied = steps
                .waves
                .iter()
                .skip(index)
                .flat_map(|(_, w)| w.iter().map(|s| s.label.clone()))
                .filter(|label| !attempted.contains(&label))
                .collect();
            return Applied {
                applied,
                failed: Some(failure),
                not_applied,
            };
        }
    }
    Applied {
        applied,
        failed: None,
        not_applied: Vec::new(),
    }
}

/// The deploy stopped before wave `index`: nothing of it was attempted.
fn stopped(steps: &Steps, index: usize, applied: Vec<String>, err: StoreError) -> Applied {
    let mut rest = steps
        .waves
        .iter()
        .skip(index)
        .flat_map(|(_, w)| w.iter().map(|s| s.label.clone()));
    match rest.next() {
        Some(first) => Applied {
            applied,
            failed: Some((first, err)),
            not_applied: rest.collect(),
        },
        None => Applied {
            applied,
            failed: None,
            not_applied: Vec::new(),
        },
    }
}

/// At most this many changes are listed; the count says the rest.
const SHOWN_CHANGES: usize = 10;

fn changed_error(unexpected: &[String]) -> StoreError {
    let mut listed = unexpected
        .iter()
        .take(SHOWN_CHANGES)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if unexpected.len() > SHOWN_CHANGES {
        listed.push_str(&format!("; and {} more", unexpected.len() - SHOWN_CHANGES));
    }
    StoreError::Changed(format!(
        "the store changed since the plan was made (another deploy or a person wrote to it): {listed}"
    ))
}

/// Records what the wave's operations will change, so the next check does
/// not take it for someone else's change. A deleted template takes its
/// links (AVP deletes them with it).
fn expect_own_writes(ours: &mut Expected, operations: &[Operation], now: &StoreState) {
    for operation in operations {
        match operation {
            Operation::PutSchema { .. } => ours.schema = true,
            Operation::UpdateStoreSettings { .. } => ours.settings = true,
            Operation::UpdateTemplate { id, .. }
            | Operation::UpdatePolicy { id, .. }
            | Operation::DeletePolicy { id }
            | Operation::UpdateIdentitySource { id, .. }
            | Operation::DeleteIdentitySource { id } => {
                ours.ids.insert(id.clone());
            }
            Operation::DeleteTemplate { id } => {
                ours.ids.insert(id.clone());
                for policy in &now.policies {
                    if matches!(&policy.definition, Definition::TemplateLinked { policy_template_id, .. } if policy_template_id == id)
                    {
                        ours.ids.insert(policy.id.clone());
                    }
                }
            }
            Operation::CreatePolicy { .. }
            | Operation::CreateTemplate { .. }
            | Operation::CreateIdentitySource { .. } => {}
        }
    }
}

fn created_name(operation: &Operation) -> Option<String> {
    match operation {
        Operation::CreatePolicy { name, .. } | Operation::CreateTemplate { name, .. } => {
            Some(name.clone())
        }
        _ => None,
    }
}

/// Fills in store ids that only exist once an earlier step has run.
fn resolve(step: &Step, created: &HashMap<String, String>) -> Operation {
    let mut operation = step.operation.clone();
    if let (Some(name), Operation::UpdatePolicy { id, .. } | Operation::DeletePolicy { id }) =
        (&step.created_target, &mut operation)
        && let Some(store_id) = created.get(name)
    {
        *id = store_id.clone();
    }
    if let Operation::CreatePolicy {
        definition: NewDefinition::Linked { template, .. },
        ..
    } = &mut operation
        && let TemplateRef::Name(name) = template
        && let Some(store_id) = created.get(name)
    {
        *template = TemplateRef::StoreId(store_id.clone());
    }
    operation
}
