//! `avpctl test`: the suites with Cedar's authorizer, optionally asked of a
//! store (or every store of a group) too.

use super::{ExitCode, Settings};
use crate::cli::{TestArgs, TestFormat};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::project::Project;
use crate::report::testrun::GroupMember;
use crate::testing::outcome::RunReport;
use crate::testing::runner::Prepared;
use crate::testing::{self, Options};

/// Failure when a suite or entity file could not be read; findings for a
/// failed case, an empty run, too little coverage, a load problem, or a
/// warning under `--deny-warnings`.
pub(super) fn exit_code(
    report: &RunReport,
    allow_empty: bool,
    min_coverage: Option<f64>,
    deny_warnings: bool,
) -> ExitCode {
    if report.diagnostics.iter().any(|d| d.unreadable) {
        return ExitCode::Failure;
    }
    let summary = report.summary();
    let below_minimum = match (min_coverage, &report.coverage) {
        (Some(minimum), Some(coverage)) => coverage.percent() < minimum,
        _ => false,
    };
    ExitCode::findings_if(
        summary.failed > 0
            || (summary.total == 0 && !allow_empty)
            || below_minimum
            || !report.diagnostics.is_empty()
            || (deny_warnings && !report.warnings.is_empty()),
    )
}

pub fn run(args: &TestArgs, settings: &Settings) -> Result<ExitCode, Error> {
    let options = Options {
        filters: args.filter.clone(),
        fail_fast: args.fail_fast,
        coverage: args.coverage || args.min_coverage.is_some(),
        skip_validation_warning: false,
    };
    let progress = Progress::new(args.format == TestFormat::Human && settings.stderr_is_terminal);
    let project = testing::usable(crate::project::load(&args.dir)?)?;
    let (mut report, prepared) = testing::run_suites_keeping_checks(&project, &options, &progress);
    let stores = match &args.store {
        Some(text) => crate::store::named_addresses(text, &project.config, &project.root)?,
        None => Vec::new(),
    };
    if stores.len() > 1 {
        return run_against_fleet(args, settings, &project, &report, &prepared, &stores);
    }
    if let Some((name, address)) = stores.into_iter().next() {
        testing::replay_on(
            &project,
            &prepared,
            &mut report,
            name.as_deref(),
            &address,
            &args.aws,
        )?;
    }
    print_report(args, settings, &project, &report)?;
    let code = exit_code(
        &report,
        args.allow_empty,
        args.min_coverage,
        args.deny_warnings,
    );
    // The process ends here: freeing every case and outcome one by one is
    // time the system saves by taking the memory back at once.
    std::mem::forget((report, prepared, project));
    Ok(code)
}

/// Below this many cases a run is too quick to need a progress bar.
const PROGRESS_FROM: usize = 2000;

/// A progress bar on standard error for big runs on a terminal (indicatif
/// hides it when standard error is not one); nothing otherwise.
struct Progress {
    enabled: bool,
    bar: std::sync::OnceLock<indicatif::ProgressBar>,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            bar: std::sync::OnceLock::new(),
        }
    }
}

impl testing::events::Events for Progress {
    fn event(&self, event: testing::events::Event<'_>) {
        use testing::events::Event;
        match event {
            Event::Started { total } if self.enabled && total >= PROGRESS_FROM => {
                let bar = indicatif::ProgressBar::new(total as u64).with_style(
                    indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} cases evaluated")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                let _ = self.bar.set(bar);
            }
            Event::CaseFinished { .. } => {
                if let Some(bar) = self.bar.get() {
                    bar.inc(1);
                }
            }
            Event::Finished => {
                if let Some(bar) = self.bar.get() {
                    bar.finish_and_clear();
                }
            }
            Event::Started { .. } => {}
        }
    }
}

/// `test --store GROUP`: the local run once, then each store of the group
/// asked in turn, each reported as its own run; the exit code is the worst.
fn run_against_fleet(
    args: &TestArgs,
    settings: &Settings,
    project: &Project,
    local: &RunReport,
    prepared: &[Prepared],
    stores: &[(Option<String>, crate::store::StoreAddress)],
) -> Result<ExitCode, Error> {
    if !matches!(args.format, TestFormat::Human | TestFormat::Json) {
        return Err(Error::Usage(
            "a store group is reported with --format human or json".into(),
        ));
    }
    let mut worst = ExitCode::Success;
    let mut entries = Vec::new();
    for (name, address) in stores {
        let mut report = local.clone();
        let code = match testing::replay_on(
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
                ExitCode::Failure
            }
        };
        worst = worst.worst(code);
        match args.format {
            TestFormat::Json => {
                let member = GroupMember {
                    name: name.as_deref(),
                    store: address.describe(),
                    exit_code: u8::from(code),
                    report: &report,
                };
                let mut entry = Vec::new();
                crate::report::testrun::write_group_entry(&member, &mut entry)
                    .map_err(|err| Error::io("report", err))?;
                entries.push(entry);
            }
            _ => {
                let label = report.store.clone().unwrap_or_default();
                crate::output::print(&format!("== {}\n", crate::text::one_line(&label)))?;
                print_report(args, settings, project, &report)?;
            }
        }
    }
    if args.format == TestFormat::Json {
        crate::output::stream(|out| crate::report::testrun::write_group_json(&entries, out))?;
    }
    Ok(worst)
}

fn print_report(
    args: &TestArgs,
    settings: &Settings,
    project: &Project,
    report: &RunReport,
) -> Result<(), Error> {
    use crate::report;
    match args.format {
        TestFormat::Human => {
            let text =
                report::testrun::human(report, project, settings.out, &args.dir, args.min_coverage);
            crate::output::print(&text)?;
        }
        TestFormat::Json => crate::output::stream(|out| report::testrun::write_json(report, out))?,
        TestFormat::Junit => crate::output::print(&report::junit::render(report))?,
        TestFormat::Github => {
            crate::output::print(&report::github::test_annotations(report, &args.dir))?;
        }
        TestFormat::Markdown => crate::output::print(&report::testrun::markdown(
            report,
            project,
            &args.dir,
            &settings.links,
        ))?,
    }
    if args.format != TestFormat::Human {
        // Load problems still reach a person reading the CI log.
        for d in report.diagnostics.iter().chain(&report.warnings) {
            crate::output::eprint(&report::human::render(d, settings.err, &args.dir));
        }
    }
    Ok(())
}
