//! `avpctl.toml`: where a project keeps its files and its named stores.
//!
//! Every key is optional; a project without the file gets the defaults of
//! README "A tour".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::source::{Location, SourceFile};

pub const CONFIG_FILE: &str = "avpctl.toml";

/// Bounds of `[fmt]` (and of the matching flags): far beyond any real
/// style, small enough that formatting stays cheap.
pub const MAX_LINE_WIDTH: usize = 1_000;
pub const MAX_INDENT_WIDTH: usize = 16;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Path of the schema, relative to the project. When it is left at the
    /// default and the Cedar form is absent, the JSON form is looked for too.
    pub schema: Option<String>,
    pub policies: String,
    pub templates: String,
    pub links: String,
    pub tests: String,
    /// AVP's identity-source document (docs/identity.md); none when unset.
    pub identity_source: Option<String>,
    /// The entity snapshot `avpctl access` answers over: files, or
    /// directories of .json files (docs/access.md).
    pub entities: Vec<String>,
    pub fmt: FmtConfig,
    pub stores: BTreeMap<String, StoreConfig>,
    /// Named groups of stores deployed together (the per-tenant model).
    pub store_groups: BTreeMap<String, Vec<String>>,
    /// `[store]`: the settings of every store the project deploys to;
    /// a key left out is not managed (docs/stores.md).
    pub store: StoreSettings,
    /// Where each top-level key stands in the file, for located errors.
    #[serde(skip)]
    pub key_spans: BTreeMap<String, std::ops::Range<usize>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            schema: None,
            policies: "policies".into(),
            templates: "templates".into(),
            links: "links.yaml".into(),
            tests: "tests".into(),
            identity_source: None,
            entities: Vec::new(),
            fmt: FmtConfig::default(),
            stores: BTreeMap::new(),
            store_groups: BTreeMap::new(),
            store: StoreSettings::default(),
            key_spans: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FmtConfig {
    pub line_width: usize,
    pub indent_width: usize,
}

impl Default for FmtConfig {
    /// The official Cedar formatter's defaults.
    fn default() -> Self {
        FmtConfig {
            line_width: 80,
            indent_width: 2,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub uri: String,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// What `[store]` sets; `None` leaves the store's value as it is.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    pub validation_mode: Option<ValidationSetting>,
    pub deletion_protection: Option<bool>,
    pub description: Option<String>,
}

/// `[store] validation_mode`: how the store validates policies against its
/// schema (AVP's `validationSettings.mode`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ValidationSetting {
    #[serde(alias = "STRICT")]
    Strict,
    #[serde(alias = "OFF")]
    Off,
}

/// AVP's UpdatePolicyStore takes a description of at most this many
/// characters (API reference, UpdatePolicyStore: `description`, 0–150).
pub const MAX_STORE_DESCRIPTION: usize = 150;

impl Config {
    /// Reads `avpctl.toml` from `root`, or the defaults when there is none.
    /// Returns the file too, so that later diagnostics can point into it.
    pub fn load(root: &Path) -> Result<(Config, Option<SourceFile>), Error> {
        let path = root.join(CONFIG_FILE);
        if !path.is_file() {
            return Ok((Config::default(), None));
        }
        let file = crate::files::read(root, Path::new(CONFIG_FILE))?;
        let invalid = |err: toml::de::Error| {
            let span = err.span().unwrap_or(0..0);
            Error::Config {
                message: err.message().to_string(),
                location: file.location(span),
            }
        };
        let mut config = toml::from_str::<Config>(file.text()).map_err(invalid)?;
        let spans = toml::from_str::<BTreeMap<String, toml::Spanned<toml::Value>>>(file.text())
            .map_err(invalid)?;
        config.key_spans = spans
            .into_iter()
            .map(|(key, value)| (key, value.span()))
            .collect();
        config.check_limits(&file)?;
        Ok((config, Some(file)))
    }

    /// Whether the file sets `key` (else its default holds).
    pub fn is_set(&self, key: &str) -> bool {
        self.key_spans.contains_key(key)
    }

    /// The value of a top-level key in `file`, for a diagnostic about it.
    pub fn key_location(&self, file: &SourceFile, key: &str) -> Option<Location> {
        self.key_spans
            .get(key)
            .map(|span| file.location(span.clone()))
    }

    /// Settings that would make avpctl itself misbehave (a formatter asked
    /// for a 50-million-space indent allocates gigabytes) are refused.
    fn check_limits(&self, file: &SourceFile) -> Result<(), Error> {
        let fmt = self.fmt;
        let out_of_range = |key: &str, value: usize, max: usize| Error::Config {
            message: format!("`fmt.{key}` is {value}; it must be between 1 and {max}"),
            location: self
                .key_location(file, "fmt")
                .unwrap_or_else(|| file.location(0..0)),
        };
        if !(1..=MAX_LINE_WIDTH).contains(&fmt.line_width) {
            return Err(out_of_range("line_width", fmt.line_width, MAX_LINE_WIDTH));
        }
        if let Some(description) = &self.store.description
            && description.chars().count() > MAX_STORE_DESCRIPTION
        {
            return Err(Error::Config {
                message: format!(
                    "`store.description` has {} characters; AVP takes at most {MAX_STORE_DESCRIPTION} (UpdatePolicyStore)",
                    description.chars().count()
                ),
                location: self
                    .key_location(file, "store")
                    .unwrap_or_else(|| file.location(0..0)),
            });
        }
        if !(1..=MAX_INDENT_WIDTH).contains(&fmt.indent_width) {
            return Err(out_of_range(
                "indent_width",
                fmt.indent_width,
                MAX_INDENT_WIDTH,
            ));
        }
        Ok(())
    }

    /// The schema's path relative to the project, if the project has one.
    pub fn schema_path(&self, root: &Path) -> Option<PathBuf> {
        if let Some(explicit) = &self.schema {
            return Some(PathBuf::from(explicit));
        }
        ["schema.cedarschema", "schema.cedarschema.json"]
            .into_iter()
            .map(PathBuf::from)
            // Anything by that name counts, so that a FIFO or a directory is
            // refused when read rather than silently ignored.
            .find(|candidate| root.join(candidate).symlink_metadata().is_ok())
    }
}
