//! `avpctl import`: what a policy store holds, as the files of a project
//! that validates, is `fmt`-clean and that `diff --store` finds equal to
//! the store (docs/import.md). Returns the files as data; the command
//! writes them.
//!
//! Each item gets the project id its name gives (`name/<id>` → `<id>`),
//! else a slug of its description, else its store id; a taken id gets
//! `-2`, `-3`, …. Each statement is written with `@id` and, when the item
//! has one, `@description`: the annotations avpctl reads the name and
//! description from, and which it leaves out of a statement's meaning, so
//! the written policy says exactly what the stored one says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::scaffold::ProjectFile;
use crate::store::{Definition, StoreState, managed_id};

/// The schema's form in the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaForm {
    Cedar,
    Json,
}

/// Where an item's project id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdFrom {
    Name,
    Description,
    StoreId,
}

/// One store item and where it went.
#[derive(Debug, Clone, Serialize)]
pub struct ImportedItem {
    pub kind: &'static str,
    pub store_id: String,
    pub id: String,
    pub id_from: IdFrom,
    /// The file it is in, relative to the project.
    pub file: String,
}

#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub files: Vec<ProjectFile>,
    pub items: Vec<ImportedItem>,
    /// What the project does not hold of the store, and why.
    pub notes: Vec<String>,
}

/// What `[stores.origin]` of the new avpctl.toml says.
#[derive(Debug, Clone)]
pub enum Origin {
    /// An AVP store: its address text, and the region when one was given.
    Avp { uri: String, region: Option<String> },
    /// A local store: it lies outside the new project, where avpctl.toml
    /// may not name it (the containment rule, docs/security.md).
    Local { uri: String },
}

/// The project for `state`.
pub fn project_from(state: &StoreState, origin: &Origin, schema_form: SchemaForm) -> Imported {
    let mut imported = Imported::default();
    let mut ids = Ids::default();
    let schema_file = schema_file(state, schema_form, &mut imported);
    let mut template_ids = BTreeMap::new();
    for template in &state.templates {
        let (id, id_from) = ids.pick(
            template.name.as_deref(),
            template.description.as_deref(),
            &template.id,
        );
        template_ids.insert(template.id.clone(), id.clone());
        let file = format!("templates/{id}.cedar");
        imported.files.push(ProjectFile {
            path: PathBuf::from(&file),
            content: cedar_file(
                &template.statement,
                &id,
                template.description.as_deref(),
                true,
            ),
        });
        imported.items.push(ImportedItem {
            kind: "template",
            store_id: template.id.clone(),
            id,
            id_from,
            file,
        });
    }
    let mut links = String::new();
    for policy in &state.policies {
        let (id, id_from) = ids.pick(
            policy.name.as_deref(),
            policy.description.as_deref(),
            &policy.id,
        );
        match &policy.definition {
            Definition::Static { statement } => {
                let file = format!("policies/{id}.cedar");
                imported.files.push(ProjectFile {
                    path: PathBuf::from(&file),
                    content: cedar_file(statement, &id, policy.description.as_deref(), false),
                });
                imported.items.push(ImportedItem {
                    kind: "policy",
                    store_id: policy.id.clone(),
                    id,
                    id_from,
                    file,
                });
            }
            Definition::TemplateLinked {
                policy_template_id,
                principal,
                resource,
            } => {
                let Some(template) = template_ids.get(policy_template_id) else {
                    imported.notes.push(format!(
                        "link {} names template {policy_template_id}, which the store does not hold: left out",
                        policy.id
                    ));
                    continue;
                };
                if policy.description.is_some() {
                    imported.notes.push(format!(
                        "link `{id}` ({}) has a description, which links.yaml cannot hold: it is not kept",
                        policy.id
                    ));
                }
                links.push_str(&link_entry(&id, template, principal, resource));
                imported.items.push(ImportedItem {
                    kind: "link",
                    store_id: policy.id.clone(),
                    id,
                    id_from,
                    file: "links.yaml".into(),
                });
            }
        }
    }
    if !links.is_empty() {
        imported.files.push(ProjectFile {
            path: PathBuf::from("links.yaml"),
            content: format!("# Template-linked policies, imported from the store.\n{links}"),
        });
    }
    let identity_file = state.identity_source.as_ref().map(|identity| {
        let text = serde_json::to_string_pretty(&identity.source.to_json()).unwrap_or_default();
        imported.files.push(ProjectFile {
            path: PathBuf::from(IDENTITY_FILE),
            content: format!("{text}\n"),
        });
        IDENTITY_FILE
    });
    imported.files.push(ProjectFile {
        path: PathBuf::from("avpctl.toml"),
        content: config_file(state, origin, schema_file, identity_file),
    });
    imported.files.sort_by(|a, b| a.path.cmp(&b.path));
    imported
}

const IDENTITY_FILE: &str = "identity-source.json";

/// Writes the schema file, in Cedar's form unless JSON is asked for or the
/// schema has no Cedar form; returns its name.
fn schema_file(
    state: &StoreState,
    form: SchemaForm,
    imported: &mut Imported,
) -> Option<&'static str> {
    let schema = state.schema.as_ref()?;
    if form == SchemaForm::Cedar {
        match cedar_policy::SchemaFragment::from_json_value(schema.clone())
            .map_err(|e| e.to_string())
            .and_then(|fragment| fragment.to_cedarschema().map_err(|e| e.to_string()))
        {
            Ok(text) => {
                imported.files.push(ProjectFile {
                    path: PathBuf::from("schema.cedarschema"),
                    content: text,
                });
                return Some("schema.cedarschema");
            }
            Err(why) => imported.notes.push(format!(
                "the schema has no Cedar form ({why}): written as schema.cedarschema.json"
            )),
        }
    }
    let text = serde_json::to_string_pretty(schema).unwrap_or_default();
    imported.files.push(ProjectFile {
        path: PathBuf::from("schema.cedarschema.json"),
        content: format!("{text}\n"),
    });
    Some("schema.cedarschema.json")
}

/// Project ids, each used once across policies, templates and links.
#[derive(Default)]
struct Ids {
    taken: BTreeSet<String>,
}

impl Ids {
    fn pick(
        &mut self,
        name: Option<&str>,
        description: Option<&str>,
        store_id: &str,
    ) -> (String, IdFrom) {
        let (base, from) = match (name.and_then(managed_id), description.map(slug)) {
            (Some(id), _) if usable(id) => (id.to_string(), IdFrom::Name),
            (_, Some(slug)) if !slug.is_empty() => (slug, IdFrom::Description),
            _ => (store_id.to_string(), IdFrom::StoreId),
        };
        let mut id = base.clone();
        let mut n = 2;
        while !self.taken.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        (id, from)
    }
}

/// An id that is also a safe relative file path: AVP's name characters,
/// no empty, `.` or `..` segment.
fn usable(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
        && id.split('/').all(|segment| !segment.is_empty())
        && !id.starts_with(crate::project::RESERVED_ID_PREFIX)
}

/// "Allow managers to approve" → `allow-managers-to-approve` (at most 64
/// characters).
fn slug(description: &str) -> String {
    let mut out = String::new();
    for c in description.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 64 {
            break;
        }
    }
    out.trim_end_matches('-').to_string()
}

/// A policy or template file: `@id` and `@description` in front of the
/// stored statement (taken out of it when it already has them), then
/// formatted as `avpctl fmt` would.
fn cedar_file(statement: &str, id: &str, description: Option<&str>, template: bool) -> String {
    let body = without_metadata(statement, template).unwrap_or_else(|| statement.to_string());
    let mut text = format!("@id(\"{}\")\n", id.escape_default());
    if let Some(description) = description {
        text.push_str(&format!(
            "@description(\"{}\")\n",
            description.escape_default()
        ));
    }
    text.push_str(body.trim_start());
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let file = crate::source::SourceFile::new(format!("{id}.cedar"), text.clone());
    crate::fmt::format_text(&file, crate::config::FmtConfig::default()).unwrap_or(text)
}

/// The statement without `@id` and `@description`, when it has either;
/// `None` when it has neither (or does not parse), to keep its text and
/// comments as they are.
fn without_metadata(statement: &str, template: bool) -> Option<String> {
    let mut json = crate::statement::raw_json(statement, template)?;
    let annotations = json.get_mut("annotations")?.as_object_mut()?;
    if !annotations.contains_key("id") && !annotations.contains_key("description") {
        return None;
    }
    annotations.remove("id");
    annotations.remove("description");
    if template {
        cedar_policy::Template::from_json(None, json)
            .ok()
            .map(|t| t.to_string())
    } else {
        cedar_policy::Policy::from_json(None, json)
            .ok()
            .map(|p| p.to_string())
    }
}

fn link_entry(
    id: &str,
    template: &str,
    principal: &Option<String>,
    resource: &Option<String>,
) -> String {
    let quoted = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let mut entry = format!("- id: {}\n  template: {}\n", quoted(id), quoted(template));
    if let Some(principal) = principal {
        entry.push_str(&format!("  principal: {}\n", quoted(principal)));
    }
    if let Some(resource) = resource {
        entry.push_str(&format!("  resource: {}\n", quoted(resource)));
    }
    entry
}

fn config_file(
    state: &StoreState,
    origin: &Origin,
    schema: Option<&str>,
    identity: Option<&str>,
) -> String {
    let mut text = String::from(
        "# avpctl project configuration, written by `avpctl import`. Paths are\n# relative to this file; keys left out have their defaults.\n",
    );
    if let Some(schema) = schema {
        text.push_str(&format!("schema = \"{schema}\"\n"));
    }
    if let Some(identity) = identity {
        text.push_str(&format!("identity_source = \"{identity}\"\n"));
    }
    let toml_string = |s: &str| toml::Value::String(s.to_string()).to_string();
    text.push_str(&format!(
        "\n# The store's settings, which `deploy` keeps as they are here.\n[store]\nvalidation_mode = \"{}\"\n",
        state.validation_mode.as_str().to_lowercase()
    ));
    if let Some(on) = state.deletion_protection {
        text.push_str(&format!("deletion_protection = {on}\n"));
    }
    if let Some(description) = &state.description {
        text.push_str(&format!("description = {}\n", toml_string(description)));
    }
    match origin {
        Origin::Avp { uri, region } => {
            text.push_str(&format!("\n# The store this project was imported from.\n[stores.origin]\nuri = {}\n", toml_string(uri)));
            if let Some(region) = region {
                text.push_str(&format!("region = {}\n", toml_string(region)));
            }
        }
        Origin::Local { uri } => text.push_str(&format!(
            "\n# Imported from {uri}. A local store named here must be inside the\n# project, so it is named on the command line instead:\n#   avpctl diff --store {uri}\n# [stores.origin]\n# uri = {}\n",
            toml_string(uri)
        )),
    }
    text
}
