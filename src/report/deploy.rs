//! `avpctl deploy` for people and machines: the plan, and what happened
//! to each store.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::deploy::{Gates, Planned, Record};
use crate::error::Error;
use crate::report::Style;
use crate::report::json::Version;
use crate::report::plan::{self, ChangeJson, FlipJson, StepsJson};
use crate::store::StoreError;

/// What the checks before a deploy found, as people read it.
pub fn gates_human(gates: &Gates, style: Style, dir: &std::path::Path) -> String {
    let mut out = String::new();
    for d in &gates.blocking {
        out.push_str(&crate::report::human::render(d, style, dir));
    }
    for failing in &gates.failing {
        out.push_str(&format!("  {}\n", crate::text::one_line(failing)));
    }
    match (&gates.refused, gates.passed) {
        (Some(_), _) => {}
        (None, Some(passed)) => out.push_str(&format!(
            "{} {passed} test cases pass\n",
            style.green("tests:")
        )),
        (None, None) => out.push_str(&format!(
            "{} --no-tests: deploying without running the test suites\n",
            style.yellow("warning:")
        )),
    }
    out
}

/// The plan as people read it: what changes (widening first), what flips,
/// then the numbered steps.
pub fn plan_human(planned: &Planned, style: Style) -> String {
    let plan = &planned.plan;
    let mut out = format!("{} {}\n\n", style.bold("Plan for"), planned.label);
    out.push_str(&crate::report::plan::changes_human(
        &plan.changes,
        if planned.prune { &[] } else { &plan.unmanaged },
        &planned.flips,
        style,
    ));
    out.push_str(&format!(
        "{} ({}, in this order):\n",
        style.bold("Steps"),
        crate::text::counted(plan.steps.count(), "step")
    ));
    out.push_str(&crate::report::plan::steps_human(&plan.steps, style));
    out
}

/// What happened to one store; `plan_shown` when the plan was already on
/// screen before the question.
pub fn human(record: &Record, style: Style, plan_shown: bool) -> String {
    let plan = |planned: &Planned| {
        if plan_shown {
            String::new()
        } else {
            plan_human(planned, style)
        }
    };
    match record {
        Record::UpToDate { label, unmanaged } => {
            let mut out = format!("{label}: up to date, nothing to do\n");
            if *unmanaged > 0 {
                out.push_str(&format!(
                    "  ({unmanaged} item(s) not managed by this project are kept; --prune deletes them)\n"
                ));
            }
            out
        }
        Record::Planned(planned) => plan_human(planned, style) + "\n--dry-run: nothing applied\n",
        Record::Saved(planned, _) => plan_human(planned, style) + "\n--plan-out: nothing applied\n",
        Record::Stale { label, reasons } => stale_human(label, reasons, style),
        Record::Declined(planned) => plan(planned) + "not applied\n",
        Record::Applied {
            planned, applied, ..
        } => format!(
            "{}\n{} {} to {}\n",
            plan(planned),
            style.green("Applied"),
            crate::text::counted(applied.len(), "step"),
            planned.label
        ),
        Record::Failed {
            planned,
            applied,
            step,
            error,
            not_applied,
            ..
        } => plan(planned) + &failure_human(planned, applied, step, error, not_applied, style),
    }
}

/// Where the plan went, and the command that applies it.
pub fn saved_human(dir: &std::path::Path, path: &std::path::Path, stores: &[String]) -> String {
    let shown =
        |p: &std::path::Path| crate::text::one_line(&crate::source::display_path(p)).into_owned();
    let path = shown(path);
    let dir = if dir == std::path::Path::new(".") {
        String::new()
    } else {
        format!(" {}", shown(dir))
    };
    let store: String = stores
        .iter()
        .map(|s| format!(" --store {}", crate::text::one_line(s)))
        .collect();
    format!(
        "Plan saved to {path}; apply exactly it with `avpctl deploy{dir}{store} --plan {path}`\n"
    )
}

/// Why a saved plan was not applied.
fn stale_human(label: &str, reasons: &[String], style: Style) -> String {
    let mut out = format!(
        "{} the saved plan for {label} no longer holds, so nothing was written:\n",
        style.red("deploy refused:")
    );
    const SHOWN: usize = 10;
    for reason in reasons.iter().take(SHOWN) {
        out.push_str(&format!("  - {}\n", crate::text::one_line(reason)));
    }
    if reasons.len() > SHOWN {
        out.push_str(&format!(
            "  - and {} more (`--format json` lists them all)\n",
            reasons.len() - SHOWN
        ));
    }
    out.push_str(
        "Make a new plan (`avpctl deploy --plan-out FILE`), review it, and apply that one.\n",
    );
    out
}

/// Exactly what was applied, what failed, and what was not attempted.
fn failure_human(
    planned: &Planned,
    applied: &[String],
    step: &str,
    error: &StoreError,
    not_applied: &[String],
    style: Style,
) -> String {
    let total = planned.plan.steps.count();
    let mut out = if let StoreError::Changed(_) = error {
        format!(
            "\n{} before step {} of {total} ({step}): {error}\n",
            style.red("Deploy stopped"),
            applied.len() + 1
        )
    } else {
        format!(
            "\n{} at step {} of {total}: {step}: {error}\n",
            style.red("Deploy failed"),
            applied.len() + 1
        )
    };
    out.push_str(&format!("  applied ({}):\n", applied.len()));
    for label in applied {
        out.push_str(&format!("    ✓ {label}\n"));
    }
    out.push_str(&format!("  not applied ({}):\n", not_applied.len() + 1));
    out.push_str(&format!("    ✗ {step}\n"));
    for label in not_applied {
        out.push_str(&format!("    · {label}\n"));
    }
    out.push_str(match error {
        StoreError::Changed(_) => {
            "  Nothing more was written. Find out who else writes to this store; a new deploy plans against what it holds now.\n"
        }
        StoreError::Vanished(_) => {
            "  The policy store does not exist any more: nothing was or can be written to it.\n"
        }
        _ => "  The store is consistent; run the deploy again to finish it.\n",
    });
    out
}

/// The deploy document (docs/output.md): an entry per store, a
/// [`StoreJson`] for one store, a [`FleetJson`] for each of a fleet.
#[derive(Serialize)]
pub struct DeployDocument<T> {
    version: Version,
    stores: Vec<T>,
}

pub fn document<T: Serialize>(stores: Vec<T>) -> DeployDocument<T> {
    DeployDocument {
        version: Version,
        stores,
    }
}

/// The deploy document of a deploy the gates refused.
#[derive(Serialize)]
pub struct RefusedDocument<'a> {
    version: Version,
    refused: &'a str,
}

pub fn refused(reason: &str) -> RefusedDocument<'_> {
    RefusedDocument {
        version: Version,
        refused: reason,
    }
}

/// What happened to one store.
#[derive(Serialize)]
pub struct StoreJson<'a> {
    store: &'a str,
    result: ResultJson<'a>,
}

/// A fleet's store: its entry with its name in avpctl.toml after it; or,
/// when its deploy could not start (the store could not be opened or
/// read), the error, the name before it. The two orders are the ones the
/// document has always had.
#[derive(Serialize)]
#[serde(untagged)]
pub enum FleetJson<'a> {
    Deployed {
        #[serde(flatten)]
        entry: StoreJson<'a>,
        name: Option<&'a str>,
    },
    NotStarted {
        store: String,
        name: Option<&'a str>,
        result: NotStartedJson,
    },
}

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
enum ResultJson<'a> {
    /// `steps` is always empty.
    UpToDate {
        steps: [(); 0],
    },
    Planned {
        planned: PlannedJson<'a>,
    },
    Declined {
        planned: PlannedJson<'a>,
    },
    /// `--plan-out`.
    Saved {
        planned: PlannedJson<'a>,
    },
    /// `--plan`, refused: why the saved plan no longer holds.
    Stale {
        reasons: &'a [String],
    },
    Applied {
        applied: &'a [String],
        calls: &'a BTreeMap<String, usize>,
        planned: PlannedJson<'a>,
    },
    Failed {
        applied: &'a [String],
        failed: FailedJson<'a>,
        not_applied: &'a [String],
        calls: &'a BTreeMap<String, usize>,
    },
}

#[derive(Serialize)]
struct PlannedJson<'a> {
    changes: Vec<ChangeJson<'a>>,
    plan: StepsJson<'a>,
    flips: Vec<FlipJson<'a>>,
}

#[derive(Serialize)]
struct FailedJson<'a> {
    step: &'a str,
    error: String,
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(tag = "status", rename = "failed")]
pub struct NotStartedJson {
    failed: ErrorJson,
}

#[derive(Serialize)]
struct ErrorJson {
    error: String,
}

fn planned_json(planned: &Planned) -> PlannedJson<'_> {
    PlannedJson {
        changes: planned.plan.changes.iter().map(plan::change_json).collect(),
        plan: plan::steps_json(&planned.plan.steps),
        flips: planned.flips.iter().map(plan::flip_json).collect(),
    }
}

/// One store's entry of the deploy document.
pub fn json(record: &Record) -> StoreJson<'_> {
    let result = match record {
        Record::UpToDate { .. } => ResultJson::UpToDate { steps: [] },
        Record::Planned(planned) => ResultJson::Planned {
            planned: planned_json(planned),
        },
        Record::Declined(planned) => ResultJson::Declined {
            planned: planned_json(planned),
        },
        Record::Saved(planned, _) => ResultJson::Saved {
            planned: planned_json(planned),
        },
        Record::Stale { reasons, .. } => ResultJson::Stale { reasons },
        Record::Applied {
            planned,
            applied,
            calls,
        } => ResultJson::Applied {
            applied,
            calls,
            planned: planned_json(planned),
        },
        Record::Failed {
            applied,
            step,
            error,
            not_applied,
            calls,
            ..
        } => ResultJson::Failed {
            applied,
            failed: FailedJson {
                step,
                error: error.to_string(),
                kind: failure_kind(error),
            },
            not_applied,
            calls,
        },
    };
    StoreJson {
        store: record.label(),
        result,
    }
}

/// A fleet's store that was deployed (whatever came of it).
pub fn fleet_json<'a>(record: &'a Record, name: Option<&'a str>) -> FleetJson<'a> {
    FleetJson::Deployed {
        entry: json(record),
        name,
    }
}

/// A fleet's store whose deploy could not start.
pub fn fleet_not_started<'a>(store: String, name: Option<&'a str>, error: &Error) -> FleetJson<'a> {
    FleetJson::NotStarted {
        store,
        name,
        result: NotStartedJson {
            failed: ErrorJson {
                error: error.to_string(),
            },
        },
    }
}

/// Why a deploy stopped, for the JSON report.
fn failure_kind(error: &StoreError) -> &'static str {
    match error {
        StoreError::Changed(_) => "store-changed",
        StoreError::Vanished(_) => "store-vanished",
        _ => "step-failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Plan, Steps};

    fn planned() -> Planned {
        Planned {
            label: "local:s.json".into(),
            plan: Plan {
                changes: Vec::new(),
                unmanaged: Vec::new(),
                steps: Steps::default(),
            },
            flips: Vec::new(),
            prune: false,
        }
    }

    /// The entries no command-line test reaches without an emulator: a
    /// deploy that stopped part-way, and one declined at the prompt.
    #[test]
    fn a_failed_and_a_declined_deploy_have_their_documented_keys() {
        let failed = Record::Failed {
            planned: planned(),
            applied: vec!["put the schema".into()],
            step: "create policy `a`".into(),
            error: StoreError::Changed("someone else wrote".into()),
            not_applied: vec!["create policy `b`".into()],
            calls: [("PutSchema".to_string(), 1)].into_iter().collect(),
        };
        assert_eq!(
            serde_json::to_string(&json(&failed)).unwrap(),
            r#"{"store":"local:s.json","result":{"status":"failed","applied":["put the schema"],"failed":{"step":"create policy `a`","error":"someone else wrote","kind":"store-changed"},"not_applied":["create policy `b`"],"calls":{"PutSchema":1}}}"#
        );
        assert_eq!(
            serde_json::to_string(&json(&Record::Declined(planned()))).unwrap(),
            r#"{"store":"local:s.json","result":{"status":"declined","planned":{"changes":[],"plan":{"steps":[],"warnings":[]},"flips":[]}}}"#
        );
    }
}
