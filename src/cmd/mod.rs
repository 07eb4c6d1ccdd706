//! One `run()` per subcommand, each in its own file: resolve the settings
//! once ([`Settings`]), call the core, hand the result to a reporter, map it
//! to an [`ExitCode`]. Only this layer (and the reporters it calls) writes
//! to standard output or standard error, and only here is an exit code
//! decided.

mod access;
mod deploy;
mod diff;
mod fmt;
mod import;
mod init;
mod test;
mod validate;

use crate::cli::{self, Cli, ColorChoice, Command};
use crate::{diagnostic, output, report};

/// What a run ends with (README "Exit codes"), the same for every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Every check holds.
    Success = 0,
    /// A check found something: a validation error, a failed test, a file
    /// to reformat, a difference with `--exit-code`, a widening with
    /// `--deny-widening`.
    Findings = 1,
    /// avpctl could not do its job: bad arguments, unreadable input, a
    /// store that could not be read or written.
    Failure = 2,
}

impl ExitCode {
    /// The worse of two outcomes (a fleet reports its worst store).
    pub fn worst(self, other: ExitCode) -> ExitCode {
        self.max(other)
    }

    pub fn findings_if(found: bool) -> ExitCode {
        if found {
            ExitCode::Findings
        } else {
            ExitCode::Success
        }
    }
}

impl From<ExitCode> for u8 {
    fn from(code: ExitCode) -> u8 {
        code as u8
    }
}

/// Everything about the terminal and the run that commands would otherwise
/// each look up: decided once, before any work (the way ripgrep turns raw
/// flags into one checked value).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub color: ColorChoice,
    /// Colour on standard output.
    pub out: report::Style,
    /// Colour on standard error.
    pub err: report::Style,
    pub stderr_is_terminal: bool,
    pub stdin_is_terminal: bool,
    /// Where Markdown reports link file:line places (GitHub when run there).
    pub links: report::markdown::Links,
}

impl Settings {
    pub fn resolve(cli: &Cli) -> Settings {
        use std::io::IsTerminal;
        Settings {
            color: cli.color,
            out: report::Style::for_stdout(cli.color),
            err: report::Style::for_stderr(cli.color),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            stdin_is_terminal: std::io::stdin().is_terminal(),
            links: report::markdown::Links::from_env(|name| std::env::var(name).ok()),
        }
    }
}

/// Runs a parsed command line; returns the process exit code (README "Exit codes").
pub fn run(cli: Cli) -> u8 {
    output::set_verbose(cli.verbose);
    let jobs = match &cli.command {
        Command::Test(args) => args.jobs,
        _ => None,
    };
    configure_worker_threads(jobs);
    let settings = Settings::resolve(&cli);
    let result = match &cli.command {
        Command::Validate(args) => validate::run(args, &settings),
        Command::Test(args) => test::run(args, &settings),
        Command::Fmt(args) => fmt::run(args, &settings),
        Command::Diff(args) => diff::run(args, &settings),
        Command::Deploy(args) => deploy::run(args, &settings),
        Command::Access(args) => access::run(args, &settings),
        Command::Import(args) => import::run(args, &settings),
        Command::Init(args) => init::run(args, &settings),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "avpctl", &mut std::io::stdout());
            Ok(ExitCode::Success)
        }
    };
    match result {
        Ok(code) => code.into(),
        Err(error) => {
            let diagnostics: Vec<diagnostic::Diagnostic> = error.into();
            if let Some(format) = machine_format(&cli.command) {
                let document =
                    report::failure::render(format, command_name(&cli.command), &diagnostics);
                let _ = output::print(&document);
            }
            report_diagnostics(&diagnostics, settings.color);
            ExitCode::Failure.into()
        }
    }
}

/// The machine-readable format the command line asked for, if any.
fn machine_format(command: &Command) -> Option<report::failure::MachineFormat> {
    use cli::{DiffFormat, PlainFormat, TestFormat, ValidateFormat};
    use report::failure::MachineFormat;
    match command {
        Command::Validate(args) => match args.format {
            ValidateFormat::Human => None,
            ValidateFormat::Json => Some(MachineFormat::Json),
            ValidateFormat::Github => Some(MachineFormat::Github),
            ValidateFormat::Sarif => Some(MachineFormat::Sarif),
            ValidateFormat::Markdown => Some(MachineFormat::Markdown),
        },
        Command::Test(args) => match args.format {
            TestFormat::Human => None,
            TestFormat::Json => Some(MachineFormat::Json),
            TestFormat::Junit => Some(MachineFormat::Junit),
            TestFormat::Github => Some(MachineFormat::Github),
            TestFormat::Markdown => Some(MachineFormat::Markdown),
        },
        Command::Diff(args) => match args.format {
            DiffFormat::Human => None,
            DiffFormat::Json => Some(MachineFormat::Json),
            DiffFormat::Markdown => Some(MachineFormat::Markdown),
        },
        Command::Fmt(cli::FmtArgs { format, .. })
        | Command::Import(cli::ImportArgs { format, .. })
        | Command::Init(cli::InitArgs { format, .. })
        | Command::Deploy(cli::DeployArgs { format, .. }) => {
            (*format == PlainFormat::Json).then_some(MachineFormat::Json)
        }
        Command::Access(args) => {
            (args.format == cli::AccessFormat::Json).then_some(MachineFormat::Json)
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
        Command::Access(_) => "access",
        Command::Import(_) => "import",
        Command::Init(_) => "init",
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
    let mut pool = rayon::ThreadPoolBuilder::new().stack_size(crate::nesting::WORKER_STACK_BYTES);
    if let Some(jobs) = jobs {
        pool = pool.num_threads(jobs.max(1));
    }
    // Only the first call configures the pool (tests call `run` repeatedly).
    let _ = pool.build_global();
}

/// Prints what stopped the run, with its snippet when it has one.
fn report_diagnostics(diagnostics: &[diagnostic::Diagnostic], color: cli::ColorChoice) {
    let style = report::Style::for_stderr(color);
    for d in diagnostics {
        output::eprint(&report::human::render(d, style, std::path::Path::new("")));
    }
}
