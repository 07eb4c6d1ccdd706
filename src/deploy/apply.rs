//! Applying a plan to a store, wave by wave, stopping at the first failure
//! and saying exactly what was applied.

use std::collections::HashMap;

use crate::plan::{Step, Steps};
use crate::store::{NewDefinition, Operation, Store, StoreError, TemplateRef};

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

/// Applies `steps`. `progress` is told about every step before it runs
/// (its number from 1, the total, the step).
pub fn apply(
    store: &mut dyn Store,
    steps: &Steps,
    progress: &mut dyn FnMut(usize, usize, &Step),
) -> Applied {
    let total = steps.count();
    let mut done = 0;
    let mut created: HashMap<String, String> = HashMap::new();
    let mut applied = Vec::new();
    for (index, (_, wave)) in steps.waves.iter().enumerate() {
        let operations: Vec<Operation> = wave.iter().map(|step| resolve(step, &created)).collect();
        for step in wave {
            done += 1;
            progress(done, total, step);
        }
        let results = store.apply_all(&operations);
        let mut failure = None;
        for (i, step) in wave.iter().enumerate() {
            match results.get(i) {
                Some(Ok(new_id)) => {
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
