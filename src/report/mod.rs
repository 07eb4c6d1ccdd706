//! Rendering results for people, editors and CI. Subcommands produce data
//! (diagnostics, test outcomes, plans); these modules only turn it into text.

pub mod access;
pub mod deploy;
pub mod diff;
pub mod failure;
pub mod fmt;
pub mod github;
pub mod human;
pub mod import;
pub mod init;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod plan;
pub mod proof;
pub mod sarif;
pub mod style;
pub mod testrun;
pub mod validate;

pub use style::Style;
