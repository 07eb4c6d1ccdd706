//! `avpctl.toml`: where a project keeps its files and its named stores.
//!
//! Every key is optional; a project without the file gets the defaults of
//! SPEC section 2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::source::SourceFile;

pub const CONFIG_FILE: &str = "avpctl.toml";

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
    pub fmt: FmtConfig,
    pub stores: BTreeMap<String, StoreConfig>,
    /// Named groups of stores deployed together (the per-tenant model).
    pub store_groups: BTreeMap<String, Vec<String>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            schema: None,
            policies: "policies".into(),
            templates: "templates".into(),
            links: "links.yaml".into(),
            tests: "tests".into(),
            fmt: FmtConfig::default(),
            stores: BTreeMap::new(),
            store_groups: BTreeMap::new(),
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

impl Config {
    /// Reads `avpctl.toml` from `root`, or the defaults when there is none.
    /// Returns the file too, so that later diagnostics can point into it.
    pub fn load(root: &Path) -> Result<(Config, Option<SourceFile>), Error> {
        let path = root.join(CONFIG_FILE);
        if !path.is_file() {
            return Ok((Config::default(), None));
        }
        let file = SourceFile::read(root, Path::new(CONFIG_FILE))?;
        let config = toml::from_str::<Config>(file.text()).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            Error::Config {
                message: err.message().to_string(),
                location: file.location(span),
            }
        })?;
        Ok((config, Some(file)))
    }

    /// The schema's path relative to the project, if the project has one.
    pub fn schema_path(&self, root: &Path) -> Option<PathBuf> {
        if let Some(explicit) = &self.schema {
            return Some(PathBuf::from(explicit));
        }
        ["schema.cedarschema", "schema.cedarschema.json"]
            .into_iter()
            .map(PathBuf::from)
            .find(|candidate| root.join(candidate).is_file())
    }
}
