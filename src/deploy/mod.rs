//! `avpctl deploy`: validate and test the project, plan the change to each
//! store, then apply it in the safe order (docs/deploy-order.md).

pub mod apply;

use crate::cli::{DeployArgs, PlainFormat};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::plan::saved::{Basis, SavedPlan};
use crate::plan::{Side, StepOptions};
use crate::project::Project;
use crate::store::{Store, StoreAddress, StoreError, ValidationMode};

/// What the checks before a deploy found.
#[derive(Debug)]
pub struct Gates {
    /// Why the deploy does not happen (exit 1, as opposed to could not:
    /// those are errors), if it does not.
    pub refused: Option<String>,
    /// The validation findings that block it.
    pub blocking: Vec<Diagnostic>,
    /// Failed test cases (suite file › case: why), the first ten.
    pub failing: Vec<String>,
    /// How many test cases pass; `None` with `--no-tests`.
    pub passed: Option<usize>,
}

/// Validation and tests before anything is written.
pub fn gates(
    loaded: &crate::project::Loaded,
    args: &DeployArgs,
    strict_avp: bool,
) -> Result<Gates, Error> {
    let mut gates = Gates {
        refused: None,
        blocking: Vec::new(),
        failing: Vec::new(),
        passed: None,
    };
    let report = crate::validate::validate(loaded);
    if report.diagnostics.iter().any(|d| d.unreadable) {
        return Err(Error::Diagnosed {
            context: "the project cannot be read".into(),
            diagnostics: report.diagnostics,
        });
    }
    gates.blocking = report
        .diagnostics
        .into_iter()
        .filter(|d| {
            d.is_error()
                || (strict_avp
                    && d.code.starts_with("avp-")
                    && !args.allow_preflight.contains(&d.code))
        })
        .collect();
    if !gates.blocking.is_empty() {
        let errors = crate::text::counted(gates.blocking.len(), "validation error");
        let what = if gates.blocking.iter().all(Diagnostic::is_error) {
            errors
        } else {
            format!("{errors} or AVP pre-flight warnings")
        };
        gates.refused = Some(format!("{what}; run `avpctl validate`"));
        return Ok(gates);
    }
    if args.no_tests {
        return Ok(gates);
    }
    let tests = crate::testing::run_suites(
        &loaded.project,
        &crate::testing::Options {
            skip_validation_warning: true,
            ..Default::default()
        },
    );
    if tests.diagnostics.iter().any(|d| d.unreadable) {
        return Err(Error::Diagnosed {
            context: "the test suites cannot be read".into(),
            diagnostics: tests.diagnostics,
        });
    }
    let summary = tests.summary();
    if summary.failed > 0 {
        gates.failing = tests
            .outcomes
            .iter()
            .filter(|o| !o.passed())
            .take(10)
            .map(|o| {
                format!(
                    "{} › {}: {}",
                    tests.suite_file(o).display(),
                    o.check.name,
                    o.failures.join("; ")
                )
            })
            .collect();
        gates.refused = Some(format!(
            "{} of {} test cases fail; run `avpctl test`",
            summary.failed, summary.total
        ));
        return Ok(gates);
    }
    gates.passed = Some(summary.total);
    Ok(gates)
}

/// What a deploy needs from whoever runs it: where the plan is shown
/// before the question, the question itself, and progress. The core never
/// touches the terminal; `cmd::deploy` implements this for it.
pub trait Interaction: Sync {
    /// Shows the plan before asking.
    fn show_plan(&self, planned: &Planned) -> Result<(), Error>;
    /// Asks whether to apply `steps` steps to `label`.
    fn confirm(&self, label: &str, steps: usize) -> Result<bool, Error>;
    /// Step `n` of `total` is being applied.
    fn progress(&self, n: usize, total: usize, label: &str);
    fn progress_done(&self);
}

/// How a deploy to one store ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    UpToDate,
    /// `--dry-run`: this many steps would be applied.
    Planned {
        steps: usize,
    },
    /// The prompt was answered no.
    Declined,
    Applied {
        steps: usize,
    },
    /// `--plan-out`: the plan was saved, nothing applied.
    Saved {
        steps: usize,
    },
    /// `--plan`: the store or the project is no longer what the saved plan
    /// was made against; nothing was written.
    Stale,
    /// Stopped part-way (or before the first write); the report says what
    /// was applied.
    Failed {
        error: String,
    },
}

/// The plan for one store, with the test cases whose decision it flips.
#[derive(Debug)]
pub struct Planned {
    pub label: String,
    pub plan: crate::plan::Plan,
    pub flips: Vec<crate::testing::Flip>,
    /// `--prune`: unmanaged items are deleted, not listed as kept.
    pub prune: bool,
}

/// What a deploy to one store did, as data for the reporters.
#[derive(Debug)]
pub enum Record {
    UpToDate {
        label: String,
        /// Items of the store the project does not manage, kept.
        unmanaged: usize,
    },
    /// `--dry-run`.
    Planned(Planned),
    /// `--plan-out`: the plan, and what it was made against, to be written
    /// to the plan file.
    Saved(Planned, Basis),
    /// `--plan`: the saved plan no longer holds, for these reasons.
    Stale {
        label: String,
        reasons: Vec<String>,
    },
    Declined(Planned),
    Applied {
        planned: Planned,
        applied: Vec<String>,
        calls: std::collections::BTreeMap<String, usize>,
    },
    /// Stopped at `step`; what was applied before it is in the store.
    Failed {
        planned: Planned,
        applied: Vec<String>,
        step: String,
        error: StoreError,
        not_applied: Vec<String>,
        calls: std::collections::BTreeMap<String, usize>,
    },
}

impl Record {
    pub fn outcome(&self) -> Outcome {
        match self {
            Record::UpToDate { .. } => Outcome::UpToDate,
            Record::Planned(planned) => Outcome::Planned {
                steps: planned.plan.steps.count(),
            },
            Record::Saved(planned, _) => Outcome::Saved {
                steps: planned.plan.steps.count(),
            },
            Record::Stale { .. } => Outcome::Stale,
            Record::Declined(_) => Outcome::Declined,
            Record::Applied { applied, .. } => Outcome::Applied {
                steps: applied.len(),
            },
            Record::Failed { error, .. } => Outcome::Failed {
                error: error.to_string(),
            },
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Record::UpToDate { label, .. } | Record::Stale { label, .. } => label,
            Record::Planned(planned) | Record::Declined(planned) | Record::Saved(planned, _) => {
                &planned.label
            }
            Record::Applied { planned, .. } | Record::Failed { planned, .. } => &planned.label,
        }
    }
}

/// Plans and applies one store; with `saved` (`--plan`), applies that plan
/// if it still holds.
pub fn deploy_one(
    project: &Project,
    address: &StoreAddress,
    args: &DeployArgs,
    saved: Option<&SavedPlan>,
    interaction: &dyn Interaction,
) -> Result<Record, Error> {
    let mut store: Box<dyn Store> = match address {
        // A new embedded store validates strictly when there is a schema.
        StoreAddress::Local(path) => {
            let mode = if project.schema.is_some() {
                ValidationMode::Strict
            } else {
                ValidationMode::Off
            };
            Box::new(crate::store::local::LocalStore::new(path).with_default_mode(mode))
        }
        StoreAddress::Avp { .. } => crate::store::open(address, &args.aws)?,
    };
    let label = store.describe();
    let fail = |message: String| Error::Store(format!("{label}: {message}"));
    if !only_plans(args) {
        store.lock().map_err(|e| fail(e.to_string()))?;
    }
    let result = plan_and_apply(project, store.as_mut(), args, saved, interaction);
    store.finish();
    result
}

/// `--dry-run` and `--plan-out` write nothing to the store.
fn only_plans(args: &DeployArgs) -> bool {
    args.dry_run || args.plan_out.is_some()
}

fn plan_and_apply(
    project: &Project,
    store: &mut dyn Store,
    args: &DeployArgs,
    saved: Option<&SavedPlan>,
    interaction: &dyn Interaction,
) -> Result<Record, Error> {
    let label = store.describe();
    let fail = |message: String| Error::Store(format!("{label}: {message}"));
    let state = store.read().map_err(|e| fail(e.to_string()))?;
    let new = Side::from_project(project);
    let mode = new
        .settings
        .as_ref()
        .and_then(|wanted| wanted.validation_mode)
        .unwrap_or(state.validation_mode);
    if mode == ValidationMode::Strict && project.schema.is_none() {
        return Err(fail("the store validates policies in STRICT mode and the project has no schema (avp-strict-no-schema); add schema.cedarschema".into()));
    }
    let old = Side::from_store(&state).adopt(&new);
    if !old.duplicates.is_empty() {
        return Err(fail(format!(
            "{}; avpctl cannot tell which copy is the project's, so it deploys nothing. Delete the extra copies (`avpctl diff` lists their store ids), then deploy again",
            crate::plan::side::duplicates_sentence(&old.duplicates)
        )));
    }
    let prune = saved.map_or(args.prune, |saved| saved.prune);
    let plan = crate::plan::plan(
        &old,
        &new,
        StepOptions {
            prune,
            validation_mode: state.validation_mode,
        },
    )
    .map_err(|e| fail(e.to_string()))?;
    // Hashing the store and the project is only for saved plans; a plain
    // deploy does not pay for it.
    let saving = args.plan_out.is_some();
    let basis =
        (saving || saved.is_some()).then(|| Basis::of(store.identity(), &state, &new, &plan.steps));
    if let (Some(saved), Some(basis)) = (saved, &basis) {
        let reasons = saved.stale(basis);
        if !reasons.is_empty() {
            return Ok(Record::Stale { label, reasons });
        }
    }
    if plan.steps.is_empty() && !saving {
        return Ok(Record::UpToDate {
            label,
            unmanaged: plan.unmanaged.len(),
        });
    }
    let (flips, _) = crate::testing::decision_flips(project, &old.policy_set());
    let planned = Planned {
        label: label.clone(),
        plan,
        flips,
        prune,
    };
    if args.dry_run {
        return Ok(Record::Planned(planned));
    }
    if let (true, Some(basis)) = (saving, basis) {
        return Ok(Record::Saved(planned, basis));
    }
    // A saved plan was reviewed when it was made: applying it does not ask.
    if !args.yes && saved.is_none() {
        // Everything so far must be on screen before the question.
        if args.format == PlainFormat::Human {
            interaction.show_plan(&planned)?;
        }
        if !interaction.confirm(&label, planned.plan.steps.count())? {
            return Ok(Record::Declined(planned));
        }
    }
    let applied =
        apply::apply_against(store, &planned.plan.steps, &state, &mut |n, total, step| {
            interaction.progress(n, total, &step.label);
        });
    interaction.progress_done();
    let calls: std::collections::BTreeMap<String, usize> = store
        .calls()
        .into_iter()
        .filter(|(k, _)| k != "Read")
        .collect();
    Ok(match applied.failed {
        None => Record::Applied {
            planned,
            applied: applied.applied,
            calls,
        },
        Some((step, error)) => Record::Failed {
            planned,
            applied: applied.applied,
            step,
            error,
            not_applied: applied.not_applied,
            calls,
        },
    })
}
