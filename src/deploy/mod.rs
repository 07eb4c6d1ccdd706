//! `avpctl deploy`: validate and test the project, plan the change to each
//! store, then apply it in the safe order (docs/deploy-order.md).

pub mod apply;

use serde_json::json;

use crate::cli::{DeployArgs, PlainFormat};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::plan::{Side, StepOptions};
use crate::project::Project;
use crate::report::Style;
use crate::store::{Store, StoreAddress, StoreError, ValidationMode};

/// Why a deploy did not happen (exit 1) as opposed to could not (exit 2).
pub enum Gate {
    Open,
    Refused(String),
}

/// Validation and tests before anything is written.
pub fn gates(
    loaded: &crate::project::Loaded,
    args: &DeployArgs,
    strict_avp: bool,
    style: Style,
    out: &mut String,
) -> Result<Gate, Error> {
    let report = crate::validate::validate(loaded);
    if report.diagnostics.iter().any(|d| d.unreadable) {
        return Err(Error::Diagnosed {
            context: "the project cannot be read".into(),
            diagnostics: report.diagnostics,
        });
    }
    let blocking: Vec<&Diagnostic> = report
        .diagnostics
        .iter()
        .filter(|d| {
            d.is_error()
                || (strict_avp
                    && d.code.starts_with("avp-")
                    && !args.allow_preflight.contains(&d.code))
        })
        .collect();
    if !blocking.is_empty() {
        for d in &blocking {
            out.push_str(&crate::report::human::render(d, style, &args.dir));
        }
        let what = if blocking.iter().all(|d| d.is_error()) {
            crate::text::counted(blocking.len(), "validation error")
        } else {
            format!(
                "{} or AVP pre-flight warnings",
                crate::text::counted(blocking.len(), "validation error")
            )
        };
        return Ok(Gate::Refused(format!("{what}; run `avpctl validate`")));
    }
    if args.no_tests {
        out.push_str(&format!(
            "{} --no-tests: deploying without running the test suites\n",
            style.yellow("warning:")
        ));
        return Ok(Gate::Open);
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
        let failing: Vec<String> = tests
            .outcomes
            .iter()
            .filter(|o| !o.passed())
            .take(10)
            .map(|o| {
                format!(
                    "  {} › {}: {}\n",
                    tests.suite_file(o).display(),
                    o.check.name,
                    o.failures.join("; ")
                )
            })
            .collect();
        out.push_str(&failing.concat());
        return Ok(Gate::Refused(format!(
            "{} of {} test cases fail; run `avpctl test`",
            summary.failed, summary.total
        )));
    }
    out.push_str(&format!(
        "{} {} test cases pass\n",
        style.green("tests:"),
        summary.total
    ));
    Ok(Gate::Open)
}

/// What a deploy needs from whoever runs it: where the plan is shown
/// before the question, the question itself, and progress. The core never
/// touches the terminal; `cmd::deploy` implements this for it.
pub trait Interaction: Sync {
    /// Shows the plan so far, before asking (people's output only).
    fn show_plan(&self, text: &str) -> Result<(), Error>;
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
    /// Stopped part-way (or before the first write); the report says what
    /// was applied.
    Failed {
        error: String,
    },
}

/// A deploy to one store: how it ended, the report for people, and the
/// store's entry of the JSON document.
#[derive(Debug)]
pub struct StoreDeploy {
    pub outcome: Outcome,
    pub text: String,
    pub document: serde_json::Value,
}

/// Plans and applies one store.
pub fn deploy_one(
    project: &Project,
    address: &StoreAddress,
    args: &DeployArgs,
    style: Style,
    interaction: &dyn Interaction,
) -> Result<StoreDeploy, Error> {
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
    let mut out = String::new();
    let fail = |message: String| Error::Store(format!("{label}: {message}"));
    if !args.dry_run {
        store.lock().map_err(|e| fail(e.to_string()))?;
    }
    let result = plan_and_apply(project, store.as_mut(), args, style, interaction, &mut out);
    store.finish();
    let (outcome, value) = result?;
    Ok(StoreDeploy {
        outcome,
        text: out,
        document: json!({"store": label, "result": value}),
    })
}

fn plan_and_apply(
    project: &Project,
    store: &mut dyn Store,
    args: &DeployArgs,
    style: Style,
    interaction: &dyn Interaction,
    out: &mut String,
) -> Result<(Outcome, serde_json::Value), Error> {
    let label = store.describe();
    let fail = |message: String| Error::Store(format!("{label}: {message}"));
    let state = store.read().map_err(|e| fail(e.to_string()))?;
    if state.validation_mode == ValidationMode::Strict && project.schema.is_none() {
        return Err(fail("the store validates policies in STRICT mode and the project has no schema (avp-strict-no-schema); add schema.cedarschema".into()));
    }
    let old = Side::from_store(&state);
    if !old.duplicates.is_empty() {
        return Err(fail(format!(
            "{}; avpctl cannot tell which copy is the project's, so it deploys nothing. Delete the extra copies (`avpctl diff` lists their store ids), then deploy again",
            crate::plan::side::duplicates_sentence(&old.duplicates)
        )));
    }
    let new = Side::from_project(project);
    let plan = crate::plan::plan(
        &old,
        &new,
        StepOptions {
            prune: args.prune,
            validation_mode: state.validation_mode,
        },
    )
    .map_err(|e| fail(e.to_string()))?;
    if plan.steps.is_empty() {
        out.push_str(&format!("{label}: up to date, nothing to do\n"));
        if !plan.unmanaged.is_empty() {
            out.push_str(&format!(
                "  ({} item(s) not managed by this project are kept; --prune deletes them)\n",
                plan.unmanaged.len()
            ));
        }
        return Ok((
            Outcome::UpToDate,
            json!({"status": "up-to-date", "steps": []}),
        ));
    }
    let (flips, _) = crate::testing::decision_flips(project, &old.policy_set());
    out.push_str(&format!("{} {label}\n\n", style.bold("Plan for")));
    out.push_str(&crate::report::plan::changes_human(
        &plan.changes,
        if args.prune { &[] } else { &plan.unmanaged },
        &flips,
        style,
    ));
    out.push_str(&format!(
        "{} ({}, in this order):\n",
        style.bold("Steps"),
        crate::text::counted(plan.steps.count(), "step")
    ));
    out.push_str(&crate::report::plan::steps_human(&plan.steps, style));
    let planned = json!({
        "changes": plan.changes.iter().map(crate::report::plan::change_json).collect::<Vec<_>>(),
        "plan": crate::report::plan::steps_json(&plan.steps),
        "flips": flips.iter().map(crate::report::plan::flip_json).collect::<Vec<_>>(),
    });
    if args.dry_run {
        out.push_str("\n--dry-run: nothing applied\n");
        return Ok((
            Outcome::Planned {
                steps: plan.steps.count(),
            },
            json!({"status": "planned", "planned": planned}),
        ));
    }
    if !args.yes {
        // Everything so far must be on screen before the question (the
        // JSON document comes whole at the end).
        let plan_text = std::mem::take(out);
        if args.format == PlainFormat::Human {
            interaction.show_plan(&plan_text)?;
        }
        if !interaction.confirm(&label, plan.steps.count())? {
            out.push_str("not applied\n");
            return Ok((
                Outcome::Declined,
                json!({"status": "declined", "planned": planned}),
            ));
        }
    }
    let applied = apply::apply_against(store, &plan.steps, &state, &mut |n, total, step| {
        interaction.progress(n, total, &step.label);
    });
    interaction.progress_done();
    let calls: serde_json::Value = store
        .calls()
        .into_iter()
        .filter(|(k, _)| k != "Read")
        .map(|(k, v)| (k, json!(v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    match &applied.failed {
        None => {
            out.push_str(&format!(
                "\n{} {} to {label}\n",
                style.green("Applied"),
                crate::text::counted(applied.applied.len(), "step")
            ));
            Ok((
                Outcome::Applied {
                    steps: applied.applied.len(),
                },
                json!({"status": "applied", "applied": applied.applied, "calls": calls, "planned": planned}),
            ))
        }
        Some((step, err)) => {
            if let StoreError::Changed(_) = err {
                out.push_str(&format!(
                    "\n{} before step {} of {} ({step}): {err}\n",
                    style.red("Deploy stopped"),
                    applied.applied.len() + 1,
                    plan.steps.count()
                ));
            } else {
                out.push_str(&format!(
                    "\n{} at step {} of {}: {step}: {err}\n",
                    style.red("Deploy failed"),
                    applied.applied.len() + 1,
                    plan.steps.count()
                ));
            }
            out.push_str(&format!("  applied ({}):\n", applied.applied.len()));
            for label in &applied.applied {
                out.push_str(&format!("    ✓ {label}\n"));
            }
            out.push_str(&format!(
                "  not applied ({}):\n",
                applied.not_applied.len() + 1
            ));
            out.push_str(&format!("    ✗ {step}\n"));
            for label in &applied.not_applied {
                out.push_str(&format!("    · {label}\n"));
            }
            out.push_str(match err {
                StoreError::Changed(_) => {
                    "  Nothing more was written. Find out who else writes to this store; a new deploy plans against what it holds now.\n"
                }
                StoreError::Vanished(_) => {
                    "  The policy store does not exist any more: nothing was or can be written to it.\n"
                }
                _ => "  The store is consistent; run the deploy again to finish it.\n",
            });
            Ok((
                Outcome::Failed {
                    error: err.to_string(),
                },
                json!({"status": "failed", "applied": applied.applied, "failed": {"step": step, "error": err.to_string(), "kind": failure_kind(err)}, "not_applied": applied.not_applied, "calls": calls}),
            ))
        }
    }
}

/// Why a deploy stopped, for the JSON report.
fn failure_kind(err: &StoreError) -> &'static str {
    match err {
        StoreError::Changed(_) => "store-changed",
        StoreError::Vanished(_) => "store-vanished",
        _ => "step-failed",
    }
}
