//! `avpctl deploy`: validate, test, plan, then apply — to one store or to
//! every store of a fleet at once.

use std::io::{BufRead, Write};

use super::{ExitCode, Settings};
use crate::cli::{DeployArgs, PlainFormat};
use crate::deploy;
use crate::error::Error;
use crate::plan::saved::SavedPlan;
use crate::project::Project;
use crate::report::{self, Style};
use crate::store::StoreAddress;

/// The terminal a deploy talks to: the plan before the question, the
/// question, and a progress line on standard error.
struct Terminal {
    progress: bool,
    stdin_is_terminal: bool,
    style: Style,
}

impl deploy::Interaction for Terminal {
    fn show_plan(&self, planned: &deploy::Planned) -> Result<(), Error> {
        crate::output::print(&report::deploy::plan_human(planned, self.style))
    }

    fn confirm(&self, label: &str, steps: usize) -> Result<bool, Error> {
        confirm(label, steps, self.stdin_is_terminal)
    }

    fn progress(&self, n: usize, total: usize, label: &str) {
        if self.progress && total > 5 {
            crate::output::eprint(&format!(
                "\r\x1b[2K[{n}/{total}] {}",
                crate::text::one_line(label)
            ));
        }
    }

    fn progress_done(&self) {
        if self.progress {
            crate::output::eprint("\r\x1b[2K");
        }
    }
}

/// The plan went to the terminal before the question (people's output,
/// no `--yes`), so the final report leaves it out.
fn plan_shown(args: &DeployArgs) -> bool {
    // `--plan-out` and `--plan` never ask.
    !args.yes && args.format == PlainFormat::Human && args.plan_out.is_none() && args.plan.is_none()
}

/// A store that could not be brought up to date is a failure, whether it
/// is the only one or one of a fleet; a declined prompt is a finding.
fn exit_code(outcome: &deploy::Outcome) -> ExitCode {
    match outcome {
        deploy::Outcome::UpToDate
        | deploy::Outcome::Planned { .. }
        | deploy::Outcome::Saved { .. }
        | deploy::Outcome::Applied { .. } => ExitCode::Success,
        deploy::Outcome::Declined | deploy::Outcome::Stale => ExitCode::Findings,
        deploy::Outcome::Failed { .. } => ExitCode::Failure,
    }
}

pub fn run(args: &DeployArgs, settings: &Settings) -> Result<ExitCode, Error> {
    let style = settings.out;
    let terminal = Terminal {
        progress: settings.stderr_is_terminal,
        stdin_is_terminal: settings.stdin_is_terminal,
        style: settings.out,
    };
    let loaded = crate::project::load(&args.dir)?;
    let named = addresses(args, &loaded.project)?;
    let names: Vec<Option<String>> = named.iter().map(|(name, _)| name.clone()).collect();
    let addresses: Vec<StoreAddress> = named.into_iter().map(|(_, address)| address).collect();
    let any_avp = addresses
        .iter()
        .any(|a| matches!(a, StoreAddress::Avp { .. }));
    let gates = deploy::gates(&loaded, args, any_avp)?;
    let mut out = report::deploy::gates_human(&gates, style, &args.dir);
    if let Some(reason) = gates.refused {
        out.push_str(&format!("{} {reason}\n", style.red("deploy refused:")));
        print_or_json(args, &out, &report::deploy::refused(&reason))?;
        return Ok(ExitCode::Findings);
    }
    // What the gates said goes out now, before any plan or prompt.
    if args.format == PlainFormat::Human {
        crate::output::print(&std::mem::take(&mut out))?;
    }
    let project = loaded.project;
    if addresses.len() == 1 {
        let saved = args.plan.as_deref().map(read_plan).transpose()?;
        let record = deploy::deploy_one(&project, &addresses[0], args, saved.as_ref(), &terminal)?;
        out.push_str(&report::deploy::human(&record, style, plan_shown(args)));
        if let (deploy::Record::Saved(planned, basis), Some(path)) = (&record, &args.plan_out) {
            write_plan(path, planned, basis)?;
            out.push_str(&report::deploy::saved_human(&args.dir, path, &args.store));
        }
        let document = report::deploy::document(vec![report::deploy::json(&record)]);
        print_or_json(args, &out, &document)?;
        return Ok(exit_code(&record.outcome()));
    }
    let (code, text, results) = deploy_fleet(&project, &addresses, &names, args, style, &terminal)?;
    out.push_str(&text);
    let stores = addresses
        .iter()
        .zip(&names)
        .zip(&results)
        .map(|((address, name), result)| match result {
            Ok(record) => report::deploy::fleet_json(record, name.as_deref()),
            Err(err) => report::deploy::fleet_not_started(address.describe(), name.as_deref(), err),
        })
        .collect();
    print_or_json(args, &out, &report::deploy::document(stores))?;
    Ok(code)
}

/// A fleet member's deploy: its record, or why it could not start.
type Deployed = Result<deploy::Record, Error>;

/// One project to many stores (one store per tenant): all at once, a line
/// per store and a summary; one store failing does not stop the others.
fn deploy_fleet(
    project: &Project,
    addresses: &[StoreAddress],
    names: &[Option<String>],
    args: &DeployArgs,
    style: Style,
    terminal: &Terminal,
) -> Result<(ExitCode, String, Vec<Deployed>), Error> {
    if args.plan_out.is_some() || args.plan.is_some() {
        return Err(Error::Usage(format!(
            "a saved plan is for one store, and this deploy goes to {}; plan and apply each store on its own (`--store NAME --plan-out FILE`)",
            addresses.len()
        )));
    }
    if !args.yes && !args.dry_run {
        return Err(Error::Usage(format!(
            "deploying to {} stores needs --yes (or --dry-run to only plan): avpctl does not prompt once per store",
            addresses.len()
        )));
    }
    let results: Vec<Deployed> = std::thread::scope(|scope| {
        let handles: Vec<_> = addresses
            .iter()
            .map(|address| {
                std::thread::Builder::new()
                    .stack_size(crate::nesting::WORKER_STACK_BYTES)
                    .spawn_scoped(scope, move || {
                        deploy::deploy_one(project, address, args, None, terminal)
                    })
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
    let (mut applied, mut current, mut failed) = (0, 0, 0);
    let mut worst = ExitCode::Success;
    for ((address, name), result) in addresses.iter().zip(names).zip(&results) {
        // A fleet's members are known by the names avpctl.toml gives them.
        let label = crate::store::label(name.as_deref(), address.describe());
        match result {
            Ok(record) => {
                let outcome = record.outcome();
                worst = worst.worst(exit_code(&outcome));
                let line = match &outcome {
                    deploy::Outcome::Applied { steps } => {
                        applied += 1;
                        style.green(&format!("applied {}", crate::text::counted(*steps, "step")))
                    }
                    deploy::Outcome::UpToDate => {
                        current += 1;
                        "up to date".to_string()
                    }
                    deploy::Outcome::Planned { steps } => {
                        current += 1;
                        format!("{} planned", crate::text::counted(*steps, "step"))
                    }
                    deploy::Outcome::Declined => "declined".to_string(),
                    // A fleet never saves or applies a saved plan.
                    deploy::Outcome::Saved { .. } | deploy::Outcome::Stale => String::new(),
                    deploy::Outcome::Failed { error } => {
                        failed += 1;
                        style.red(&format!("failed: {}", crate::text::one_line(error)))
                    }
                };
                out.push_str(&format!("  {label}: {line}\n"));
            }
            Err(err) => {
                failed += 1;
                worst = ExitCode::Failure;
                out.push_str(&format!(
                    "  {label}: {}\n",
                    style.red(&format!("failed: {err}"))
                ));
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
    // A store that failed is a failure, the same as for one store; a store
    // that only declined or found something is its own code.
    Ok((worst, out, results))
}

fn print_or_json(
    args: &DeployArgs,
    text: &str,
    document: &impl serde::Serialize,
) -> Result<(), Error> {
    match args.format {
        PlainFormat::Human => crate::output::print(text),
        PlainFormat::Json => crate::output::print(&report::json::pretty(document)),
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

/// Reads a plan file (`--plan FILE`); a file that is not one is an error
/// that names it (exit 2).
fn read_plan(path: &std::path::Path) -> Result<SavedPlan, Error> {
    let file = crate::files::read_chosen(path, path)?;
    let saved: SavedPlan = serde_json::from_str(file.text()).map_err(|err| {
        let offset = file.offset_of(err.line(), err.column());
        Error::Syntax {
            message: format!("{} is not an avpctl plan file: {err}", file.display()),
            location: file.location(offset..offset),
            help: Some("write one with `avpctl deploy --plan-out FILE`".into()),
        }
    })?;
    saved.check_format().map_err(|problem| {
        Error::Usage(format!(
            "{} is not a plan this avpctl can apply: {problem}; make a new one with `avpctl deploy --plan-out FILE`",
            file.display()
        ))
    })?;
    Ok(saved)
}

/// Writes the plan file of `--plan-out`, whole or not at all.
fn write_plan(
    path: &std::path::Path,
    planned: &deploy::Planned,
    basis: &crate::plan::saved::Basis,
) -> Result<(), Error> {
    let saved = SavedPlan::new(planned.prune, &planned.plan, basis);
    let text = report::json::pretty(&saved);
    crate::atomic::write(path, text.as_bytes()).map_err(|err| {
        Error::io(
            crate::source::display_path(path),
            std::io::Error::other(err.to_string()),
        )
    })
}

/// Asks on the terminal; without one, refuses (deploy then needs --yes).
fn confirm(label: &str, steps: usize, stdin_is_terminal: bool) -> Result<bool, Error> {
    if !stdin_is_terminal {
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
