//! avpctl: authorization policy as code for Cedar and Amazon Verified
//! Permissions.
//!
//! The layout follows the data: [`project`] loads a policy project into a
//! Cedar policy set with ids and locations, the core modules check it
//! ([`validate`], [`testing`], [`plan`], …) and return data, [`report`]
//! renders it, and [`cmd`] holds one `run()` per subcommand: resolve the
//! settings once, call the core, hand the result to a reporter, map it to
//! an exit code. [`cli`] holds every flag; `main.rs` only starts [`cmd`].
//! docs/architecture.md draws the layout.

// A finding travels as a `Diagnostic` (its file, span, labels, help) on
// error paths only, where its size costs nothing worth a `Box`.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod atomic;
pub mod avp_json;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod deploy;
pub mod diagnostic;
pub mod diff;
pub mod error;
pub mod files;
pub mod fmt;
pub mod fuzz;
pub mod identity;
pub mod import;
pub mod nesting;
pub mod output;
pub mod plan;
pub mod project;
pub mod prove;
pub mod report;
pub mod scaffold;
pub mod source;
pub mod statement;
pub mod store;
pub mod strict_json;
pub mod suggest;
pub mod testing;
pub mod text;
pub mod uid;
pub mod validate;
pub mod yaml;

pub use cmd::{configure_worker_threads, report_usage_error, run};
