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
pub mod output;
pub mod plan;
pub mod project;
pub mod prove;
pub mod report;
pub mod source;
pub mod store;
pub mod suggest;
pub mod testing;
pub mod uid;
pub mod validate;
pub mod yaml;

use cli::{Cli, Command};
use error::Error;

/// Runs a parsed command line; returns the process exit code (SPEC section 5).
pub fn run(cli: Cli) -> u8 {
    let color = cli.color;
    output::set_verbose(cli.verbose);
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
            report_error(error, color);
            2
        }
    }
}

/// Prints an error that stopped the run, with its snippet when it has one.
pub fn report_error(error: Error, color: cli::ColorChoice) {
    let style = report::Style::for_stderr(color);
    let diagnostics: Vec<diagnostic::Diagnostic> = error.into();
    for d in &diagnostics {
        output::eprint(&report::human::render(d, style, std::path::Path::new("")));
    }
}
