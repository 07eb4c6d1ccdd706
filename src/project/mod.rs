//! A policy project as README "A tour" lays it out: configuration, schema,
//! policies and templates with their ids, and template links.
//!
//! [`load`] reads everything it can and reports every problem it meets as a
//! [`Diagnostic`]; only a directory that is not a project at all is an
//! [`Error`]. The [`Project`] it returns holds one Cedar [`PolicySet`] whose
//! policy ids are the project's ids, plus where each policy came from.

mod discover;
mod links;
mod policies;
mod schema;

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use cedar_policy::{EntityUid, PolicyId, PolicySet, Schema};
use rayon::prelude::*;

use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::source::{Location, SourceFile};

pub use discover::files_with_extension as discover_files;
pub use policies::{ParsedPolicy, id_for_path, parse_policy_file};
pub use schema::{SchemaFormat, parse_schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Static,
    Template,
}

/// A static policy or template of the project and where it stands.
#[derive(Debug, Clone)]
pub struct PolicyEntry {
    pub id: String,
    pub kind: PolicyKind,
    pub file: SourceFile,
    /// The policy's own text inside `file` (annotations through `;`).
    pub span: Range<usize>,
}

impl PolicyEntry {
    pub fn text(&self) -> &str {
        &self.file.text()[self.span.clone()]
    }

    /// The policy's first line: where a finding about the policy as a whole
    /// points, so a report does not reprint a long policy.
    pub fn head_location(&self) -> Location {
        let text = self.text();
        let end = text.find('\n').unwrap_or(text.len());
        self.file.location(self.span.start..self.span.start + end)
    }

    pub fn location(&self) -> Location {
        self.file.location(self.span.clone())
    }
}

/// A template-linked policy from `links.yaml`.
#[derive(Debug, Clone)]
pub struct LinkEntry {
    pub id: String,
    pub template: String,
    pub principal: Option<EntityUid>,
    pub resource: Option<EntityUid>,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub struct ProjectSchema {
    pub schema: Schema,
    pub file: SourceFile,
    pub format: SchemaFormat,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
    pub schema: Option<ProjectSchema>,
    /// `identity_source` of avpctl.toml, when it is set and reads.
    pub identity: Option<crate::identity::ProjectIdentity>,
    /// Static policies and templates in load order (by file path, then
    /// position in the file).
    pub policies: Vec<PolicyEntry>,
    pub links: Vec<LinkEntry>,
    /// Every policy, template and link that loaded, under the project's ids.
    pub policy_set: PolicySet,
    /// Every `.cedar` file read, in load order, parsed or not.
    pub policy_files: Vec<SourceFile>,
    index: HashMap<String, Place>,
}

#[derive(Debug, Clone, Copy)]
enum Place {
    Policy(usize),
    Link(usize),
}

/// A project and everything loading it found wrong.
#[derive(Debug)]
pub struct Loaded {
    pub project: Project,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn has_unreadable(&self) -> bool {
        self.diagnostics.iter().any(|d| d.unreadable)
    }
}

/// Loads the project at `root`.
pub fn load(root: &Path) -> Result<Loaded, Error> {
    if !root.is_dir() {
        return Err(Error::NotAProject {
            path: root.display().to_string(),
            message: "no such directory".into(),
        });
    }
    let (config, config_file) = Config::load(root)?;
    let mut diagnostics = Vec::new();

    let schema = load_schema(root, &config, config_file.as_ref(), &mut diagnostics);
    let identity = load_identity(root, &config, config_file.as_ref(), &mut diagnostics);
    if let Some(config_file) = &config_file {
        check_configured_paths(root, &config, config_file, &mut diagnostics);
    }

    let mut policy_files = Vec::new();
    let mut policies = Vec::new();
    let mut policy_set = PolicySet::new();
    let mut index = HashMap::new();
    let mut files = Vec::new();
    for dir in [&config.policies, &config.templates] {
        let (found, walk_diagnostics) = discover::cedar_files(root, Path::new(dir));
        diagnostics.extend(walk_diagnostics);
        files.extend(
            found
                .into_iter()
                .map(|relative| (id_for_path(Path::new(dir), &relative), relative)),
        );
    }
    // Reading and parsing are independent per file: spread them over the
    // cores, then assemble in file order so ids and reports stay stable.
    let parsed: Vec<_> = files
        .par_iter()
        .map(|(base_id, relative)| {
            let file = crate::files::read(root, relative)?;
            let policies = parse_policy_file(&file, base_id);
            Ok((file, policies))
        })
        .collect();
    for result in parsed {
        match result {
            Ok((file, Ok(parsed))) => {
                for policy in parsed {
                    add_policy(
                        policy,
                        &file,
                        &mut policies,
                        &mut policy_set,
                        &mut index,
                        &mut diagnostics,
                    );
                }
                policy_files.push(file);
            }
            Ok((file, Err(parse_diagnostics))) => {
                diagnostics.extend(parse_diagnostics);
                policy_files.push(file);
            }
            Err(err) => diagnostics.push(Diagnostic::from(&err)),
        }
    }

    let nothing_here = config_file.is_none()
        && config.schema_path(root).is_none()
        && policy_files.is_empty()
        && diagnostics.is_empty()
        && !root.join(&config.links).exists();
    if nothing_here {
        return Err(Error::NotAProject {
            path: root.display().to_string(),
            message: format!(
                "not a policy project: no avpctl.toml, no schema and no .cedar files under {}/ or {}/",
                config.policies, config.templates
            ),
        });
    }

    let links = links::load(root, &config.links, &mut diagnostics);
    let links = links::link_all(
        links,
        &policies,
        &mut policy_set,
        &mut index,
        &mut diagnostics,
    );

    Ok(Loaded {
        project: Project {
            root: root.to_path_buf(),
            config,
            schema,
            identity,
            policies,
            links,
            policy_set,
            policy_files,
            index,
        },
        diagnostics,
    })
}

/// A path set in avpctl.toml must exist: a misspelt `links` would otherwise
/// read as "no links", and a deploy would then delete every link.
fn check_configured_paths(
    root: &Path,
    config: &Config,
    config_file: &SourceFile,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let keys = [
        ("policies", &config.policies),
        ("templates", &config.templates),
        ("links", &config.links),
        ("tests", &config.tests),
    ];
    let identity = config
        .identity_source
        .as_ref()
        .map(|path| ("identity_source", path));
    for (key, path) in keys.into_iter().chain(identity) {
        if !config.is_set(key) || root.join(path).exists() {
            continue;
        }
        let mut diagnostic = Diagnostic::error(
            "missing-path",
            format!("`{key}` in avpctl.toml names `{path}`, which does not exist"),
        )
        .with_help(format!(
            "create `{path}`, fix the path, or remove the `{key}` key to use the default"
        ));
        if let Some(location) = config.key_location(config_file, key) {
            diagnostic = diagnostic.at(location);
        }
        diagnostic.unreadable = true;
        diagnostics.push(diagnostic);
    }
}

fn load_schema(
    root: &Path,
    config: &Config,
    config_file: Option<&SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ProjectSchema> {
    let relative = config.schema_path(root)?;
    if let (false, Some(config_file)) = (root.join(&relative).exists(), config_file) {
        let mut diagnostic = Diagnostic::error(
            "missing-schema",
            format!(
                "the schema file `{}` named in avpctl.toml does not exist",
                relative.display()
            ),
        )
        .with_help("create the schema, or fix the `schema` key");
        if let Some(location) = config.key_location(config_file, "schema") {
            diagnostic = diagnostic.at(location);
        }
        diagnostic.unreadable = true;
        diagnostics.push(diagnostic);
        return None;
    }
    let file = match crate::files::read(root, &relative) {
        Ok(file) => file,
        Err(err) => {
            diagnostics.push(Diagnostic::from(&err));
            return None;
        }
    };
    match parse_schema(&file) {
        Ok((schema, format, warnings)) => {
            diagnostics.extend(warnings);
            Some(ProjectSchema {
                schema,
                file,
                format,
            })
        }
        Err(errors) => {
            diagnostics.extend(errors);
            None
        }
    }
}

/// The identity source avpctl.toml names (its absence was reported with the
/// other configured paths).
fn load_identity(
    root: &Path,
    config: &Config,
    config_file: Option<&SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<crate::identity::ProjectIdentity> {
    let relative = config.identity_source.as_ref()?;
    if !root.join(relative).exists() {
        return None;
    }
    let file = match crate::files::read(root, Path::new(relative)) {
        Ok(file) => file,
        Err(err) => {
            // Refused before reading: the place to fix is the key.
            let mut diagnostic = Diagnostic::from(&err);
            if let Some(location) = config_file
                .filter(|_| diagnostic.location.is_none())
                .and_then(|file| config.key_location(file, "identity_source"))
            {
                diagnostic = diagnostic.at(location);
            }
            diagnostics.push(diagnostic);
            return None;
        }
    };
    match crate::identity::source::parse(&file) {
        Ok((identity, warnings)) => {
            diagnostics.extend(warnings);
            Some(identity)
        }
        Err(problems) => {
            diagnostics.extend(problems);
            None
        }
    }
}

fn add_policy(
    parsed: ParsedPolicy,
    file: &SourceFile,
    policies: &mut Vec<PolicyEntry>,
    policy_set: &mut PolicySet,
    index: &mut HashMap<String, Place>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let entry = PolicyEntry {
        id: parsed.id.clone(),
        kind: parsed.kind(),
        file: file.clone(),
        span: parsed.span.clone(),
    };
    if let Some(&Place::Policy(first)) = index.get(&parsed.id) {
        diagnostics.push(duplicate_id(&entry, &policies[first].location()));
        return;
    }
    if let Some(reserved) = reserved_id(&entry.id) {
        diagnostics.push(reserved.at(entry.head_location()).for_policy(&entry.id));
        return;
    }
    let added = match parsed.policy {
        policies::Parsed::Static(policy) => policy_set.add(policy),
        policies::Parsed::Template(template) => policy_set.add_template(template),
    };
    if let Err(err) = added {
        diagnostics.push(
            Diagnostic::from_miette(
                &err,
                crate::diagnostic::Severity::Error,
                file,
                Some(entry.span.clone()),
            )
            .for_policy(&entry.id),
        );
        return;
    }
    index.insert(entry.id.clone(), Place::Policy(policies.len()));
    policies.push(entry);
}

/// Ids avpctl gives its own temporary policies in a store while it
/// replaces one (`name/avpctl-replacing/…`); a project may not use them, or
/// a deploy would take its own policy for a leftover.
pub const RESERVED_ID_PREFIX: &str = "avpctl-replacing/";

pub(crate) fn reserved_id(id: &str) -> Option<Diagnostic> {
    id.starts_with(RESERVED_ID_PREFIX).then(|| {
        Diagnostic::error(
            "reserved-id",
            format!("id `{id}` starts with `{RESERVED_ID_PREFIX}`, which avpctl reserves for its temporary policies during a deploy"),
        )
        .with_help("choose another @id(\"...\"), or rename the file")
    })
}

pub(crate) fn duplicate_id(entry: &PolicyEntry, first: &Location) -> Diagnostic {
    Diagnostic::error(
        "duplicate-id",
        format!(
            "policy id `{}` is used twice: here and at {}",
            entry.id,
            first.short()
        ),
    )
    .at(entry.head_location())
    .with_label("second use of the id")
    .with_help("give one of them another @id(\"...\") annotation, or rename its file")
    .for_policy(&entry.id)
    .with_related(
        Diagnostic::error("duplicate-id", format!("`{}` first defined here", entry.id))
            .at(first_line(first)),
    )
}

/// The first line of a located span.
pub(crate) fn first_line(location: &Location) -> Location {
    let text = &location.file.text()[location.span.clone()];
    let end = text.find('\n').unwrap_or(text.len());
    location
        .file
        .location(location.span.start..location.span.start + end)
}

impl Project {
    pub fn policy(&self, id: &str) -> Option<&PolicyEntry> {
        match self.index.get(id)? {
            Place::Policy(i) => self.policies.get(*i),
            Place::Link(_) => None,
        }
    }

    pub fn link(&self, id: &str) -> Option<&LinkEntry> {
        match self.index.get(id)? {
            Place::Link(i) => self.links.get(*i),
            Place::Policy(_) => None,
        }
    }

    /// Where the policy, template or link with this id is written.
    pub fn locate(&self, id: &str) -> Option<Location> {
        match self.index.get(id)? {
            Place::Policy(i) => self.policies.get(*i).map(PolicyEntry::location),
            Place::Link(i) => self.links.get(*i).map(|link| link.location.clone()),
        }
    }

    /// Whether `id` names a static policy, template or link of the project.
    pub fn knows(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.policies
            .iter()
            .map(|p| p.id.as_str())
            .chain(self.links.iter().map(|l| l.id.as_str()))
    }

    pub fn templates(&self) -> impl Iterator<Item = &PolicyEntry> {
        self.policies
            .iter()
            .filter(|p| p.kind == PolicyKind::Template)
    }

    /// Static policies and links: what the authorizer evaluates.
    pub fn evaluated_ids(&self) -> impl Iterator<Item = &str> {
        self.policies
            .iter()
            .filter(|p| p.kind == PolicyKind::Static)
            .map(|p| p.id.as_str())
            .chain(self.links.iter().map(|l| l.id.as_str()))
    }

    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref().map(|s| &s.schema)
    }

    pub fn tests_dir(&self) -> PathBuf {
        self.root.join(&self.config.tests)
    }

    pub fn policy_id(id: &str) -> PolicyId {
        PolicyId::new(id)
    }
}
