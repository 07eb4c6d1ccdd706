//! `avpctl test`: YAML test suites evaluated with Cedar's authorizer.
//!
//! Data flows one way: [`suite`] reads the YAML into checks, [`entities`]
//! builds each distinct entity set once, [`runner`] evaluates (through the
//! [`slicer`], which hands Cedar only the policies that can apply), and the
//! report modules render the [`outcome`].

pub mod coverage;
pub mod entities;
pub mod outcome;
pub mod remote;
pub mod runner;
pub mod slicer;
pub mod suite;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::project::{Loaded, Project};
use outcome::{RunReport, SuiteInfo};
use runner::{Prepared, Runner};
use suite::{CheckEntities, Suite};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Substrings; a check runs when its suite file or case name contains any.
    pub filters: Vec<String>,
    pub fail_fast: bool,
    pub coverage: bool,
    /// The caller has validated the policies already (deploy).
    pub skip_validation_warning: bool,
    /// Show a progress line on standard error (a terminal, many cases).
    pub progress: bool,
}

/// Below this many cases a run is too quick to need a progress line.
const PROGRESS_FROM: usize = 2000;

/// Runs `work` while a `[done/total]` line on standard error follows the
/// runner, for big runs on a terminal.
fn with_progress<T>(runner: &Runner, total: usize, enabled: bool, work: impl FnOnce() -> T) -> T {
    if !enabled || total < PROGRESS_FROM {
        return work();
    }
    let finished = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(std::sync::atomic::Ordering::Relaxed) {
                let done = runner.done.load(std::sync::atomic::Ordering::Relaxed);
                crate::output::eprint(&format!("\r\x1b[2K[{done}/{total}] cases evaluated"));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            crate::output::eprint("\r\x1b[2K");
        });
        let result = work();
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    })
}

/// Loads the project at `dir` and runs its suites.
pub fn run_project(dir: &Path, options: &Options) -> Result<(Project, RunReport), Error> {
    let loaded = crate::project::load(dir)?;
    let project = usable(loaded)?;
    let report = run_suites(&project, options);
    Ok((project, report))
}

/// A project whose policies failed to load cannot be tested: its load
/// problems become the error.
fn usable(loaded: Loaded) -> Result<Project, Error> {
    let errors: Vec<Diagnostic> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if errors.is_empty() {
        return Ok(loaded.project);
    }
    Err(Error::Diagnosed {
        context: "the project does not load; run `avpctl validate` for details".into(),
        diagnostics: errors,
    })
}

/// The project's suites, read and ready to evaluate: every check with its
/// entities, plus what could not be loaded.
pub struct Collected {
    pub suites: Vec<SuiteInfo>,
    pub prepared: Vec<Prepared>,
    pub diagnostics: Vec<Diagnostic>,
    /// Findings that did not stop any case (an undeclared parent).
    pub warnings: Vec<Diagnostic>,
}

/// Reads every suite under the tests directory and builds each distinct
/// entity set once.
pub fn collect(project: &Project, filters: &[String]) -> Collected {
    let mut collected = Collected {
        suites: Vec::new(),
        prepared: Vec::new(),
        diagnostics: Vec::new(),
        warnings: Vec::new(),
    };
    let (files, walk_problems) = suite::suite_files(&project.root, &project.config.tests);
    collected.diagnostics.extend(walk_problems);
    let mut suites: Vec<Suite> = Vec::new();
    for relative in files {
        match suite::load_suite(&project.root, &relative) {
            Ok(suite) => suites.push(suite),
            Err(problems) => collected.diagnostics.extend(problems),
        }
    }
    let mut loader = entities::EntityLoader::new(&project.root, project.schema());
    for (index, suite) in suites.iter().enumerate() {
        collected.suites.push(SuiteInfo {
            file: suite.file.clone(),
        });
        let file_name = suite.file.display();
        for check in &suite.checks {
            if !selected(filters, &file_name, &check.name) {
                continue;
            }
            let sources = match &check.entities {
                CheckEntities::Suite => suite.entities.clone(),
                CheckEntities::SuitePlus(extra) => {
                    suite.entities.iter().chain(extra).cloned().collect()
                }
                CheckEntities::Own(own) => own.clone(),
            };
            let entities = loader.entities(&sources, &suite.file).map_err(|problem| {
                let message = problem.message.clone();
                if !collected
                    .diagnostics
                    .iter()
                    .any(|d| d.message == problem.message)
                {
                    collected.diagnostics.push(problem);
                }
                message
            });
            collected.prepared.push(Prepared {
                suite: index,
                check: Arc::clone(check),
                entities,
            });
        }
    }
    collected.warnings = loader.take_warnings();
    collected
}

pub fn run_suites(project: &Project, options: &Options) -> RunReport {
    run_suites_keeping_checks(project, options).0
}

/// [`run_suites`], also returning the prepared checks (index-aligned with
/// the outcomes) for a replay against a store.
pub fn run_suites_keeping_checks(
    project: &Project,
    options: &Options,
) -> (RunReport, Vec<Prepared>) {
    let started = Instant::now();
    let mut report = RunReport::default();
    if !options.skip_validation_warning {
        report.warnings.extend(validation_warning(project));
    }
    let collected = collect(project, &options.filters);
    report.suites = collected.suites;
    report.diagnostics.extend(collected.diagnostics);
    report.warnings.extend(collected.warnings);
    let runner = Runner::new(project);
    report.outcomes = with_progress(&runner, collected.prepared.len(), options.progress, || {
        runner.run(&collected.prepared, options.fail_fast)
    });
    report.skipped = collected.prepared.len() - report.outcomes.len();
    if options.coverage {
        report.coverage = Some(coverage::measure(project, &report.outcomes));
    }
    report.elapsed = started.elapsed();
    (report, collected.prepared)
}

fn selected(filters: &[String], file: &str, name: &str) -> bool {
    filters.is_empty()
        || filters
            .iter()
            .any(|f| file.contains(f.as_str()) || name.contains(f.as_str()))
}

/// Cedar evaluates policies that do not validate; so does `test`, with a
/// warning that points to `validate`.
fn validation_warning(project: &Project) -> Option<Diagnostic> {
    project.schema()?;
    let errors = crate::validate::strict_validation(project)
        .into_iter()
        .filter(Diagnostic::is_error)
        .count();
    (errors > 0).then(|| {
        Diagnostic::warning(
            "not-validated",
            format!(
                "{errors} strict-validation error{} in the policies; they are evaluated anyway",
                crate::validate::plural(errors)
            ),
        )
        .with_help("run `avpctl validate` to see them")
    })
}

/// The exit code of a run (README "Exit codes").
pub fn exit_code(
    report: &RunReport,
    allow_empty: bool,
    min_coverage: Option<f64>,
    deny_warnings: bool,
) -> u8 {
    if report.diagnostics.iter().any(|d| d.unreadable) {
        return 2;
    }
    let summary = report.summary();
    let below_minimum = match (min_coverage, &report.coverage) {
        (Some(minimum), Some(coverage)) => coverage.percent() < minimum,
        _ => false,
    };
    if summary.failed > 0
        || (summary.total == 0 && !allow_empty)
        || below_minimum
        || !report.diagnostics.is_empty()
        || (deny_warnings && !report.warnings.is_empty())
    {
        1
    } else {
        0
    }
}

/// `avpctl test`.
pub fn run(args: &crate::cli::TestArgs, color: crate::cli::ColorChoice) -> Result<u8, Error> {
    use crate::cli::TestFormat;

    let options = Options {
        filters: args.filter.clone(),
        fail_fast: args.fail_fast,
        coverage: args.coverage || args.min_coverage.is_some(),
        skip_validation_warning: false,
        progress: args.format == TestFormat::Human
            && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let loaded = crate::project::load(&args.dir)?;
    let project = usable(loaded)?;
    let (mut report, prepared) = run_suites_keeping_checks(&project, &options);
    let stores = match &args.store {
        Some(text) => crate::store::named_addresses(text, &project.config, &project.root)?,
        None => Vec::new(),
    };
    if stores.len() > 1 {
        return run_against_fleet(args, color, &project, &report, &prepared, &stores);
    }
    if let Some((name, address)) = stores.into_iter().next() {
        replay_on(
            &project,
            &prepared,
            &mut report,
            name.as_deref(),
            &address,
            &args.aws,
        )?;
    }
    print_report(args, color, &project, &report)?;
    Ok(exit_code(
        &report,
        args.allow_empty,
        args.min_coverage,
        args.deny_warnings,
    ))
}

/// Asks one store the cases' requests and records its answers beside the
/// local ones.
fn replay_on(
    project: &Project,
    prepared: &[Prepared],
    report: &mut RunReport,
    name: Option<&str>,
    address: &crate::store::StoreAddress,
    aws: &crate::cli::AwsArgs,
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let mut store = crate::store::open(address, aws)?;
    remote::replay(project, prepared, &mut report.outcomes, store.as_mut())?;
    report.store = Some(match name {
        Some(name) => format!("{name} ({})", store.describe()),
        None => store.describe(),
    });
    // The summary's time covers the store's answers too.
    report.elapsed += started.elapsed();
    Ok(())
}

/// `test --store GROUP`: the local run once, then each store of the group
/// asked in turn, each reported as its own run; the exit code is the worst.
fn run_against_fleet(
    args: &crate::cli::TestArgs,
    color: crate::cli::ColorChoice,
    project: &Project,
    local: &RunReport,
    prepared: &[Prepared],
    stores: &[(Option<String>, crate::store::StoreAddress)],
) -> Result<u8, Error> {
    use crate::cli::TestFormat;
    if !matches!(args.format, TestFormat::Human | TestFormat::Json) {
        return Err(Error::Usage(
            "a store group is reported with --format human or json".into(),
        ));
    }
    let mut worst = 0;
    let mut documents = Vec::new();
    for (name, address) in stores {
        let mut report = local.clone();
        let code = match replay_on(
            project,
            prepared,
            &mut report,
            name.as_deref(),
            address,
            &args.aws,
        ) {
            Ok(()) => exit_code(
                &report,
                args.allow_empty,
                args.min_coverage,
                args.deny_warnings,
            ),
            Err(err) => {
                report.diagnostics.push(Diagnostic::from(&err));
                report.store = Some(name.clone().unwrap_or_else(|| address.describe()));
                2
            }
        };
        worst = worst.max(code);
        match args.format {
            TestFormat::Json => {
                let mut text = Vec::new();
                crate::report::testrun::write_json(&report, &mut text)
                    .map_err(|err| Error::io("report", err))?;
                documents.push(format!(
                    "{{\"name\": {}, \"store\": {}, \"exit_code\": {code}, \"report\": {}}}",
                    serde_json::json!(name),
                    serde_json::json!(address.describe()),
                    String::from_utf8_lossy(&text).trim_end()
                ));
            }
            _ => {
                let label = report.store.clone().unwrap_or_default();
                crate::output::print(&format!("== {}\n", crate::text::one_line(&label)))?;
                print_report(args, color, project, &report)?;
            }
        }
    }
    if args.format == TestFormat::Json {
        crate::output::print(&format!(
            "{{\"version\": 1, \"stores\": [\n{}\n]}}\n",
            documents.join(",\n")
        ))?;
    }
    Ok(worst)
}

fn print_report(
    args: &crate::cli::TestArgs,
    color: crate::cli::ColorChoice,
    project: &Project,
    report: &RunReport,
) -> Result<(), Error> {
    use crate::cli::TestFormat;
    use crate::report;
    match args.format {
        TestFormat::Human => {
            let style = report::Style::for_stdout(color);
            let text = report::testrun::human(report, project, style, &args.dir, args.min_coverage);
            crate::output::print(&text)?;
        }
        TestFormat::Json => crate::output::stream(|out| report::testrun::write_json(report, out))?,
        TestFormat::Junit => crate::output::print(&report::junit::render(report))?,
        TestFormat::Github => {
            crate::output::print(&report::github::test_annotations(report, &args.dir))?;
        }
    }
    if args.format != TestFormat::Human {
        // Load problems still reach a person reading the CI log.
        let style = report::Style::for_stderr(color);
        for d in report.diagnostics.iter().chain(&report.warnings) {
            crate::output::eprint(&report::human::render(d, style, &args.dir));
        }
    }
    Ok(())
}

/// A test case whose decision differs between two policy sets.
#[derive(Debug, Clone)]
pub struct Flip {
    pub file: String,
    pub check: Arc<suite::Check>,
    pub old: Option<cedar_policy::Decision>,
    pub new: Option<cedar_policy::Decision>,
}

/// Runs the project's cases against `old` and against the project's own
/// policies and lists the cases whose decision differs: the concrete
/// evidence of what a change does.
pub fn decision_flips(
    project: &Project,
    old: &cedar_policy::PolicySet,
) -> (Vec<Flip>, Vec<Diagnostic>) {
    let collected = collect(project, &[]);
    let before = Runner::with_policies(project, old).run(&collected.prepared, false);
    let after = Runner::new(project).run(&collected.prepared, false);
    let flips = before
        .into_iter()
        .zip(after)
        .filter(|(b, a)| b.decision != a.decision)
        .map(|(b, a)| Flip {
            file: collected.suites[a.suite].file.display(),
            check: Arc::clone(&a.check),
            old: b.decision,
            new: a.decision,
        })
        .collect();
    (flips, collected.diagnostics)
}
