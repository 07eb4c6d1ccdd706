//! Comparing a project with a store (or another project) and planning the
//! deploy that makes the store equal to the project.

pub mod adopt;
pub mod changes;
pub mod saved;
pub mod side;
pub mod steps;

pub use changes::{Access, Change, ItemKind, Status};
pub use side::{Side, Unmanaged};
pub use steps::{PlanError, Step, StepOptions, Steps, Wave};

/// What differs, and the ordered steps that make `old` equal to `new`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub unmanaged: Vec<Unmanaged>,
    pub steps: Steps,
}

pub fn plan(old: &Side, new: &Side, options: StepOptions) -> Result<Plan, PlanError> {
    Ok(Plan {
        changes: changes::compare(old, new),
        unmanaged: old.unmanaged.clone(),
        steps: steps::plan_steps(old, new, options)?,
    })
}
