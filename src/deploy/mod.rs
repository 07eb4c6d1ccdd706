//! `avpctl deploy`: validate and test the project, plan the change to each
//! store, then apply it in the safe order (docs/deploy-order.md).

pub mod apply;

use std::io::{BufRead, IsTerminal, Write};

use serde_json::json;

use crate::cli::{ColorChoice, DeployArgs, PlainFormat};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::plan::{Side, StepOptions};
use crate::project::Project;
use crate::report::Style;
use crate::store::{Store, StoreAddress, StoreError, ValidationMode};

/// Why a deploy did not happen (exit 1) as opposed to could not (exit 2).
enum Gate {
    Open,
    Refused(String),
}

/// `avpctl deploy`.
pub fn run(args: &DeployArgs, color: ColorChoice) -> Result<u8, Error> {
    let style = Style::for_stdout(color);
    let loaded = crate::project::load(&args.dir)?;
    let named = addresses(args, &loaded.project)?;
    let names: Vec<Option<String>> = named.iter().map(|(name, _)| name.clone()).collect();
    let addresses: Vec<StoreAddress> = named.into_iter().map(|(_, address)| address).collect();
    let any_avp = addresses
        .iter()
        .any(|a| matches!(a, StoreAddress::Avp { .. }));
    let mut out = String::new();
    if let Gate::Refused(reason) = gates(&loaded, args, any_avp, style, &mut out)? {
        out.push_str(&format!("{} {reason}\n", style.red("deploy refused:")));
        print_or_json(args, &out, json!({"refused": reason}))?;
        return Ok(1);
    }
    // What the gates said goes out now, before any plan or prompt.
    if args.format == PlainFormat::Human {
        crate::output::print(&std::mem::take(&mut out))?;
    }
    let project = loaded.project;
    if addresses.len() == 1 {
        let (code, text, value) = deploy_one(&project, &addresses[0], args, style)?;
        out.push_str(&text);
        print_or_json(args, &out, json!({"stores": [value]}))?;
        return Ok(code);
    }
    let (code, text, results) = deploy_fleet(&project, &addresses, &names, args, style)?;
    out.push_str(&text);
    print_or_json(args, &out, json!({"stores": results}))?;
    Ok(code)
}

/// One project to many stores (one store per tenant): all at once, a line
/// per store and a summary; one store failing does not stop the others.
fn deploy_fleet(
    project: &Project,
    addresses: &[StoreAddress],
    names: &[Option<String>],
    args: &DeployArgs,
    style: Style,
) -> Result<(u8, String, Vec<serde_json::Value>), Error> {
    if !args.yes && !args.dry_run {
        return Err(Error::Usage(format!(
            "deploying to {} stores needs --yes (or --dry-run to only plan): avpctl does not prompt once per store",
            addresses.len()
        )));
    }
    let results: Vec<Result<(u8, String, serde_json::Value), Error>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = addresses
                .iter()
                .map(|address| {
                    std::thread::Builder::new()
                        .stack_size(crate::nesting::WORKER_STACK_BYTES)
                        .spawn_scoped(scope, move || deploy_one(project, address, args, style))
                })
                .collect();
            handles
                .into_iter()
                .map(|spawned| {
                    let stopped = || Error::Store("the deploy thread stopped unexpectedly".into());
                    match spawned {
                        Ok(handle) => handle.join().unwrap_or_else(|_| Err(stopped())),
                        Err(_) => Err(stopped()),
                    }
                })
                .collect()
        });
    let mut out = String::new();
    let mut values = Vec::new();
    let (mut applied, mut current, mut failed) = (0, 0, 0);
    for ((address, name), result) in addresses.iter().zip(names).zip(results) {
        // A fleet's members are known by the names avpctl.toml gives them.
        let label = match name {
            Some(name) => format!("{name} ({})", address.describe()),
            None => address.describe(),
        };
        match result {
            Ok((code, _, value)) => {
                let status = value["result"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let line = match status.as_str() {
                    "applied" => {
                        applied += 1;
                        style.green(&format!(
                            "applied {}",
                            crate::text::counted(
                                value["result"]["applied"].as_array().map_or(0, Vec::len),
                                "step"
                            )
                        ))
                    }
                    "up-to-date" => {
                        current += 1;
                        "up to date".to_string()
                    }
                    "planned" => {
                        current += 1;
                        format!(
                            "{} planned",
                            crate::text::counted(
                                value["result"]["planned"]["plan"]["steps"]
                                    .as_array()
                                    .map_or(0, Vec::len),
                                "step"
                            )
                        )
                    }
                    _ => {
                        failed += 1;
                        style.red(&format!(
                            "failed: {}",
                            value["result"]["failed"]["error"]
                                .as_str()
                                .unwrap_or(&status)
                        ))
                    }
                };
                if code != 0 && status == "applied" {
                    failed += 1;
                }
                out.push_str(&format!("  {label}: {line}\n"));
                let mut value = value;
                value["name"] = json!(name);
                values.push(value);
            }
            Err(err) => {
                failed += 1;
                out.push_str(&format!(
                    "  {label}: {}\n",
                    style.red(&format!("failed: {err}"))
                ));
                values.push(json!({"store": address.describe(), "name": name, "result": {"status": "failed", "failed": {"error": err.to_string()}}}));
            }
        }
    }
    out.push_str(&format!(
        "{} {} stores: {applied} applied, {current} {}, {failed} failed\n",
        style.bold("Summary"),
        addresses.len(),
        if args.dry_run {
            "planned"
        } else {
            "up to date"
        },
    ));
    Ok((u8::from(failed > 0), out, values))
}

fn print_or_json(args: &DeployArgs, text: &str, value: serde_json::Value) -> Result<(), Error> {
    match args.format {
        PlainFormat::Human => crate::output::print(text),
        PlainFormat::Json => crate::output::print(&format!("{value:#}\n")),
    }
}

/// The stores to deploy to, each with its name in avpctl.toml when it has one.
fn addresses(
    args: &DeployArgs,
    project: &Project,
) -> Result<Vec<(Option<String>, StoreAddress)>, Error> {
    let texts: Vec<&str> = if args.store.is_empty() {
        vec![crate::store::DEFAULT_STORE]
    } else {
        args.store.iter().map(String::as_str).collect()
    };
    let mut addresses = Vec::new();
    for text in texts {
        addresses.extend(crate::store::named_addresses(
            text,
            &project.config,
            &project.root,
        )?);
    }
    Ok(addresses)
}

/// Validation and tests before anything is written.
fn gates(
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

/// Plans and applies one store; returns (exit code, human text, JSON).
fn deploy_one(
    project: &Project,
    address: &StoreAddress,
    args: &DeployArgs,
    style: Style,
) -> Result<(u8, String, serde_json::Value), Error> {
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
    let result = plan_and_apply(project, store.as_mut(), args, style, &mut out);
    store.finish();
    let (code, value) = result?;
    Ok((code, out, json!({"store": label, "result": value})))
}

fn plan_and_apply(
    project: &Project,
    store: &mut dyn Store,
    args: &DeployArgs,
    style: Style,
    out: &mut String,
) -> Result<(u8, serde_json::Value), Error> {
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
        return Ok((0, json!({"status": "up-to-date", "steps": []})));
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
        return Ok((0, json!({"status": "planned", "planned": planned})));
    }
    if !args.yes {
        // Everything so far must be on screen before the question (the
        // JSON document comes whole at the end).
        let plan_text = std::mem::take(out);
        if args.format == PlainFormat::Human {
            crate::output::print(&plan_text)?;
        }
        if !confirm(&label, plan.steps.count())? {
            out.push_str("not applied\n");
            return Ok((1, json!({"status": "declined", "planned": planned})));
        }
    }
    let interactive = std::io::stderr().is_terminal() && plan.steps.count() > 5;
    let applied = apply::apply_against(store, &plan.steps, &state, &mut |n, total, step| {
        if interactive {
            crate::output::eprint(&format!("\r\x1b[2K[{n}/{total}] {}", step.label));
        }
    });
    if interactive {
        crate::output::eprint("\r\x1b[2K");
    }
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
                0,
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
                2,
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

/// Asks on the terminal; without one, refuses (deploy then needs --yes).
fn confirm(label: &str, steps: usize) -> Result<bool, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(format!(
            "not applying {} to {label}: there is no terminal to confirm on; pass --yes (or --dry-run to only plan)",
            crate::text::counted(steps, "step")
        )));
    }
    eprint!(
        "Apply {} to {label}? [y/N] ",
        crate::text::counted(steps, "step")
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| Error::io("stdin", err))?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}
