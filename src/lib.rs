//! avpctl: authorization policy as code for Cedar and Amazon Verified
//! Permissions.
//!
//! The layout follows the data: [`project`] loads a policy project into a
//! Cedar policy set with ids and locations, each subcommand module checks it
//! ([`validate`], …), and [`report`] renders the findings. [`cli`] holds
//! every flag; `main.rs` only dispatches.

// A finding travels as a `Diagnostic` (its file, span, labels, help) on
// error paths only, where its size costs nothing worth a `Box`.
#![allow(clippy::result_large_err)]

pub mod atomic;
pub mod avp_json;
pub mod cli;
pub mod config;
pub mod deploy;
pub mod diagnostic;
pub mod diff;
pub mod error;
pub mod fmt;
pub mod fuzz;
pub mod nesting;
pub mod output;
pub mod plan;
pub mod project;
pub mod prove;
pub mod report;
pub mod source;
pub mod store;
pub mod strict_json;
pub mod suggest;
pub mod testing;
pub mod text;
pub mod uid;
pub mod validate;
pub mod yaml;

use cli::{Cli, Command};
use error::Error;

/// Runs a parsed command line; returns the process exit code (README "Exit codes").
pub fn run(cli: Cli) -> u8 {
    let color = cli.color;
    output::set_verbose(cli.verbose);
    let jobs = match &cli.command {
        Command::Test(args) => args.jobs,
        _ => None,
    };
    configure_worker_threads(jobs);
    let result = match &cli.command {
        Command::Validate(args) => validate::run(args, color),
        Command::Test(args) => testing::run(args, color),
        Command::Fmt(args) => fmt::run(args, color),
        Command::Diff(args) => diff::run(args, color),
        Command::Deploy(args) => deploy::run(args, color),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "avpctl", &mut std::io::stdout());
            Ok(0)
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let diagnostics: Vec<diagnostic::Diagnostic> = error.into();
            if let Some(format) = machine_format(&cli.command) {
                let document =
                    report::failure::render(format, command_name(&cli.command), &diagnostics);
                let _ = output::print(&document);
            }
            report_diagnostics(&diagnostics, color);
            2
        }
    }
}

/// The machine-readable format the command line asked for, if any.
fn machine_format(command: &Command) -> Option<report::failure::MachineFormat> {
    use cli::{PlainFormat, TestFormat, ValidateFormat};
    use report::failure::MachineFormat;
    match command {
        Command::Validate(args) => match args.format {
            ValidateFormat::Human => None,
            ValidateFormat::Json => Some(MachineFormat::Json),
            ValidateFormat::Github => Some(MachineFormat::Github),
            ValidateFormat::Sarif => Some(MachineFormat::Sarif),
        },
        Command::Test(args) => match args.format {
            TestFormat::Human => None,
            TestFormat::Json => Some(MachineFormat::Json),
            TestFormat::Junit => Some(MachineFormat::Junit),
            TestFormat::Github => Some(MachineFormat::Github),
        },
        Command::Fmt(cli::FmtArgs { format, .. })
        | Command::Diff(cli::DiffArgs { format, .. })
        | Command::Deploy(cli::DeployArgs { format, .. }) => {
            (*format == PlainFormat::Json).then_some(MachineFormat::Json)
        }
        Command::Completions { .. } => None,
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Validate(_) => "validate",
        Command::Test(_) => "test",
        Command::Fmt(_) => "fmt",
        Command::Diff(_) => "diff",
        Command::Deploy(_) => "deploy",
        Command::Completions { .. } => "completions",
    }
}

/// A command line clap refused: the message on standard error as clap
/// writes it, and, when the arguments ask for a machine-readable format,
/// the failure document on standard output. Returns the exit code.
pub fn report_usage_error(error: &clap::Error, args: &[std::ffi::OsString]) -> u8 {
    let code = u8::try_from(error.exit_code()).unwrap_or(2);
    let _ = error.print();
    if code == 0 {
        return 0;
    }
    let format =
        requested_format(args).and_then(|name| report::failure::MachineFormat::from_name(&name));
    if let Some(format) = format {
        let command = args
            .iter()
            .skip(1)
            .filter_map(|a| a.to_str())
            .find(|a| !a.starts_with('-'))
            .unwrap_or("avpctl");
        let rendered = error.render().to_string();
        let message = rendered
            .lines()
            .next()
            .unwrap_or("invalid command line")
            .trim_start_matches("error: ")
            .to_string();
        let diagnostic = diagnostic::Diagnostic::error("usage", message)
            .with_help("run `avpctl help` for the command line");
        let document = report::failure::render(format, command, &[diagnostic]);
        let _ = output::print(&document);
    }
    2
}

/// `--format NAME` or `--format=NAME` among raw arguments.
fn requested_format(args: &[std::ffi::OsString]) -> Option<String> {
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    args.iter().enumerate().find_map(|(i, arg)| {
        if let Some(name) = arg.strip_prefix("--format=") {
            return Some(name.to_string());
        }
        (*arg == "--format").then(|| args.get(i + 1).map(|n| n.to_string()))?
    })
}

/// Every thread that may run Cedar gets the stack the depth budget was
/// measured with (see [`nesting`]); rayon's default is 2 MiB, which 150
/// nested parentheses overflow.
pub fn configure_worker_threads(jobs: Option<usize>) {
    let mut pool = rayon::ThreadPoolBuilder::new().stack_size(nesting::WORKER_STACK_BYTES);
    if let Some(jobs) = jobs {
        pool = pool.num_threads(jobs.max(1));
    }
    // Only the first call configures the pool (tests call `run` repeatedly).
    let _ = pool.build_global();
}

/// Prints an error that stopped the run, with its snippet when it has one.
pub fn report_error(error: Error, color: cli::ColorChoice) {
    let diagnostics: Vec<diagnostic::Diagnostic> = error.into();
    report_diagnostics(&diagnostics, color);
}

fn report_diagnostics(diagnostics: &[diagnostic::Diagnostic], color: cli::ColorChoice) {
    let style = report::Style::for_stderr(color);
    for d in diagnostics {
        output::eprint(&report::human::render(d, style, std::path::Path::new("")));
    }
}
