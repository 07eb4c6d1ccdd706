//! The embedded store: one JSON file that holds what an AVP policy store
//! holds, for projects that need no cloud account (and for tests).
//!
//! Every operation rewrites the file atomically (temporary file, fsync,
//! rename), so a crash leaves the state before or after the operation; an
//! OS advisory lock on the canonical store path keeps two deploys apart
//! (and ends with its process, however it ends). The rules AVP enforces are enforced
//! here too — unique names, strict validation against the schema, no update
//! of a policy's effect, scope or kind — so a plan that applies here applies
//! there. The format is documented in docs/stores.md.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{Policy, PolicySet, Schema, Template, ValidationMode as CedarMode, Validator};
use serde::{Deserialize, Serialize};

use super::{
    Definition, NewDefinition, Operation, Store, StoreError, StoreState, StoredIdentitySource,
    StoredPolicy, StoredTemplate, TemplateRef, ValidationMode,
};

pub const FORMAT: &str = "avpctl-local-store";
pub const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    format: String,
    version: u32,
    /// The next numeric part of a generated id.
    next_id: u64,
    #[serde(flatten)]
    state: StoreState,
}

pub struct LocalStore {
    path: PathBuf,
    /// The validation mode of the store before its file exists.
    default_mode: ValidationMode,
    /// The state as last read or written, with the id counter.
    loaded: Option<(StoreState, u64)>,
    /// The open lock file while this store holds the lock; closing it
    /// releases the lock (the kernel does so too when the process dies).
    lock: Option<std::fs::File>,
    /// The file's bytes as last read or written (`None`: no file). A save
    /// refuses when the file no longer holds them: someone else wrote it.
    seen: Option<Option<Vec<u8>>>,
    calls: std::collections::BTreeMap<String, usize>,
}

impl LocalStore {
    /// A store at `path`; a directory means `path/store.json`. Nothing is
    /// read or created until it is used.
    pub fn new(path: &Path) -> LocalStore {
        let path = if path.is_dir() {
            path.join("store.json")
        } else {
            path.to_path_buf()
        };
        LocalStore {
            path,
            default_mode: ValidationMode::Strict,
            loaded: None,
            lock: None,
            seen: None,
            calls: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The validation mode the store gets when its file is first written
    /// (an AVP store is created with one too).
    pub fn with_default_mode(mut self, mode: ValidationMode) -> LocalStore {
        self.default_mode = mode;
        self
    }

    /// The lock file: `<store>.lock` next to the canonical store file, so
    /// every address of one store (a symbolic link, `./x/../store.json`)
    /// takes the same lock. The file is kept; only the lock on it matters.
    pub fn lock_path(&self) -> Result<PathBuf, StoreError> {
        let canonical = crate::atomic::canonical_target(&self.path)
            .map_err(|err| io_error(&self.path, &err))?;
        let mut name = canonical.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        Ok(canonical.with_file_name(name))
    }

    fn load(&mut self) -> Result<(StoreState, u64), StoreError> {
        if let Some(loaded) = &self.loaded {
            return Ok(loaded.clone());
        }
        let bytes = current_bytes(&self.path)?;
        let mut loaded = parse_file(&self.path, bytes.as_deref())?;
        if bytes.is_none() {
            loaded.0.validation_mode = self.default_mode;
        }
        self.loaded = Some(loaded.clone());
        self.seen = Some(bytes);
        Ok(loaded)
    }

    fn save(&mut self, state: StoreState, next_id: u64) -> Result<(), StoreError> {
        let file = StoreFile {
            format: FORMAT.into(),
            version: VERSION,
            next_id,
            state,
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| io_error(parent, &err))?;
        }
        // The state being saved was computed from `seen`: writing it over
        // anything else would lose that other writer's change.
        if let Some(seen) = &self.seen
            && current_bytes(&self.path)? != *seen
        {
            self.loaded = None;
            return Err(StoreError::Changed(format!(
                "{} changed since avpctl read it (another program wrote to it); nothing was written",
                self.path.display()
            )));
        }
        let bytes = format!("{text}\n").into_bytes();
        crate::atomic::write(&self.path, &bytes).map_err(|err| match err {
            crate::atomic::WriteError::Io(err) => io_error(&self.path, &err),
            other => StoreError::Unreachable(format!("{} {other}", self.path.display())),
        })?;
        self.loaded = Some((file.state, next_id));
        self.seen = Some(Some(bytes));
        Ok(())
    }
}

/// Deletes the temporary files a killed write of `store` left beside it
/// (`.<name>.*.avpctl.tmp`, and `.<name>.avpctl-<pid>.tmp` of older
/// releases). Only called under the lock, when no other write can be
/// under way. Best effort: what cannot be deleted stays, harmlessly.
fn remove_leftovers(store: &Path) {
    let (Some(directory), Some(name)) = (store.parent(), store.file_name()) else {
        return;
    };
    let name = name.to_string_lossy();
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let ours = rest.ends_with(crate::atomic::TEMPORARY_SUFFIX)
            || (rest.starts_with("avpctl-") && rest.ends_with(".tmp"));
        let not_a_directory = entry.file_type().is_ok_and(|t| !t.is_dir());
        if ours && not_a_directory {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn io_error(path: &Path, err: &std::io::Error) -> StoreError {
    StoreError::Unreachable(format!("{}: {err}", path.display()))
}

/// The store file's bytes, `None` when there is no file.
fn current_bytes(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error(path, &err)),
    }
}

/// Parses a store file's bytes (`None`: no file, an empty store).
fn parse_file(path: &Path, bytes: Option<&[u8]>) -> Result<(StoreState, u64), StoreError> {
    let Some(bytes) = bytes else {
        return Ok((StoreState::empty(), 1));
    };
    let corrupt = |detail: String| {
        StoreError::Corrupt(format!(
            "{} is not a readable avpctl store ({detail}); restore it from a backup, or delete it and deploy again",
            path.display()
        ))
    };
    let text = std::str::from_utf8(bytes).map_err(|err| corrupt(format!("not UTF-8: {err}")))?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|err| {
        corrupt(format!(
            "invalid JSON at line {} column {}: {err}",
            err.line(),
            err.column()
        ))
    })?;
    let format = value.get("format").and_then(|f| f.as_str());
    if format != Some(FORMAT) {
        return Err(corrupt(format!(
            "`format` is {format:?}, expected \"{FORMAT}\""
        )));
    }
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(VERSION)) {
        return Err(StoreError::Corrupt(format!(
            "{} has store format version {}, this avpctl reads version {VERSION}; use the avpctl release that wrote it",
            path.display(),
            version.map_or_else(|| "(none)".to_string(), |v| v.to_string())
        )));
    }
    let file: StoreFile = serde_json::from_value(value).map_err(|err| corrupt(err.to_string()))?;
    Ok((file.state, file.next_id))
}

impl Store for LocalStore {
    fn describe(&self) -> String {
        format!(
            "local:{}",
            crate::source::display_path(&self.path).trim_start_matches("./")
        )
    }

    fn identity(&self) -> String {
        format!(
            "local:{}",
            crate::source::display_path(&canonical_as_far_as_it_exists(&self.path))
        )
    }

    fn read(&mut self) -> Result<StoreState, StoreError> {
        self.loaded = None;
        *self.calls.entry("Read".into()).or_default() += 1;
        self.load().map(|(state, _)| state)
    }

    fn lock(&mut self) -> Result<(), StoreError> {
        if self.lock.is_some() {
            return Ok(());
        }
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| io_error(parent, &err))?;
        }
        let lock = self.lock_path()?;
        let mut options = std::fs::OpenOptions::new();
        // Never truncated or written: its content is irrelevant (and a lock
        // file left by an older avpctl, holding a process id, is just a file).
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // A link planted at the lock's name is not followed.
            options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let file = options.open(&lock).map_err(|err| io_error(&lock, &err))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(format!(
                    "{} is locked: another avpctl deploy to this store is running (it holds {}); wait for it to finish",
                    self.path.display(),
                    lock.display()
                )));
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(io_error(&lock, &err)),
        }
        self.lock = Some(file);
        if let Some(store) = lock
            .parent()
            .map(|dir| dir.join(lock.file_stem().unwrap_or_default()))
        {
            remove_leftovers(&store);
        }
        Ok(())
    }

    fn finish(&mut self) {
        self.lock = None;
    }

    fn apply(&mut self, operation: &Operation) -> Result<Option<String>, StoreError> {
        *self.calls.entry(operation.verb().into()).or_default() += 1;
        let (mut state, mut next_id) = self.load()?;
        let created = apply_to(&mut state, &mut next_id, operation)?;
        self.save(state, next_id)?;
        Ok(created)
    }

    /// A wave's operations may run in any order, so the file is written
    /// once per wave: the same states, a fraction of the I/O on a big store.
    fn apply_all(&mut self, operations: &[Operation]) -> Vec<Result<Option<String>, StoreError>> {
        let (mut state, mut next_id) = match self.load() {
            Ok(loaded) => loaded,
            Err(err) => return vec![Err(err)],
        };
        let mut results = Vec::with_capacity(operations.len());
        for operation in operations {
            *self.calls.entry(operation.verb().into()).or_default() += 1;
            let result = apply_to(&mut state, &mut next_id, operation);
            let failed = result.is_err();
            results.push(result);
            if failed {
                break;
            }
        }
        if results.iter().any(Result::is_ok)
            && let Err(err) = self.save(state, next_id)
        {
            // Nothing of the wave reached the disk.
            return vec![Err(err)];
        }
        results
    }

    fn calls(&self) -> std::collections::BTreeMap<String, usize> {
        self.calls.clone()
    }

    /// Cedar's authorizer over the stored policies, under their store ids.
    fn authorize(
        &mut self,
        requests: &[super::AuthzRequest],
    ) -> Result<Vec<super::AuthzAnswer>, StoreError> {
        let (state, _) = self.load()?;
        let schema = schema_of(&state)?;
        let policies = policy_set_with_store_ids(&state);
        let authorizer = cedar_policy::Authorizer::new();
        requests
            .iter()
            .map(|request| {
                let entities = cedar_policy::Entities::from_json_value(
                    serde_json::Value::Array(request.entities.clone()),
                    schema.as_ref(),
                )
                .map_err(|err| StoreError::Refused(format!("entities: {err}")))?;
                let context = cedar_policy::Context::from_json_value(request.context.clone(), None)
                    .map_err(|err| StoreError::Refused(format!("context: {err}")))?;
                let cedar_request = cedar_policy::Request::new(
                    request.principal.clone(),
                    request.action.clone(),
                    request.resource.clone(),
                    context,
                    schema.as_ref(),
                )
                .map_err(|err| StoreError::Refused(format!("request: {err}")))?;
                let response = authorizer.is_authorized(&cedar_request, &policies, &entities);
                Ok(super::AuthzAnswer {
                    decision: response.decision(),
                    determining: response
                        .diagnostics()
                        .reason()
                        .map(ToString::to_string)
                        .collect(),
                    errors: response
                        .diagnostics()
                        .errors()
                        .map(ToString::to_string)
                        .collect(),
                })
            })
            .collect()
    }
}

/// The stored policies as a Cedar policy set under their store ids.
pub fn policy_set_with_store_ids(state: &StoreState) -> PolicySet {
    let mut set = PolicySet::new();
    for template in &state.templates {
        if let Ok(parsed) = Template::from_str(&template.statement) {
            let _ = set.add_template(parsed.new_id(cedar_policy::PolicyId::new(&template.id)));
        }
    }
    for policy in &state.policies {
        match &policy.definition {
            Definition::Static { statement } => {
                if let Ok(parsed) = Policy::from_str(statement) {
                    let _ = set.add(parsed.new_id(cedar_policy::PolicyId::new(&policy.id)));
                }
            }
            Definition::TemplateLinked {
                policy_template_id,
                principal,
                resource,
            } => {
                let values = crate::uid::slot_values(principal, resource);
                let _ = set.link(
                    cedar_policy::PolicyId::new(policy_template_id),
                    cedar_policy::PolicyId::new(&policy.id),
                    values,
                );
            }
        }
    }
    set
}

impl Drop for LocalStore {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Applies one operation to a state in memory, with AVP's rules.
pub fn apply_to(
    state: &mut StoreState,
    next_id: &mut u64,
    operation: &Operation,
) -> Result<Option<String>, StoreError> {
    let mut new_id = |prefix: &str| {
        let id = format!("{prefix}{next_id:016}");
        *next_id += 1;
        id
    };
    match operation {
        Operation::UpdateStoreSettings {
            validation_mode,
            deletion_protection,
            description,
        } => {
            state.validation_mode = *validation_mode;
            state.deletion_protection = *deletion_protection;
            state.description = description.clone();
            Ok(None)
        }
        Operation::PutSchema { schema } => {
            let parsed = Schema::from_json_value(schema.clone())
                .map_err(|err| StoreError::Refused(format!("the schema is invalid: {err}")))?;
            if state.validation_mode == ValidationMode::Strict {
                check_all_valid(state, &parsed)?;
            }
            state.schema = Some(schema.clone());
            Ok(None)
        }
        Operation::CreateTemplate {
            name,
            description,
            statement,
        } => {
            unique_name(
                state.templates.iter().map(|t| t.name.as_deref()),
                name,
                "template",
            )?;
            check_template(state, statement, name)?;
            let id = new_id("T");
            state.templates.push(StoredTemplate {
                id: id.clone(),
                name: Some(name.clone()),
                description: description.clone(),
                statement: statement.clone(),
            });
            Ok(Some(id))
        }
        Operation::UpdateTemplate {
            id,
            name,
            description,
            statement,
        } => {
            let index = state
                .templates
                .iter()
                .position(|t| &t.id == id)
                .ok_or_else(|| StoreError::NotFound(format!("template {id}")))?;
            let label = state.templates[index]
                .name
                .clone()
                .unwrap_or_else(|| id.clone());
            check_template(state, statement, &label)?;
            same_shape(&state.templates[index].statement, statement, &label, true)?;
            if let Some(new_name) = name {
                let others = state
                    .templates
                    .iter()
                    .filter(|t| &t.id != id)
                    .map(|t| t.name.as_deref());
                unique_name(others, new_name, "template")?;
            }
            let template = &mut state.templates[index];
            template.statement = statement.clone();
            template.description = description.clone();
            if let Some(new_name) = name {
                template.name = Some(new_name.clone());
            }
            Ok(None)
        }
        Operation::DeleteTemplate { id } => {
            // AVP deletes a template's linked policies with it.
            state.templates.retain(|t| &t.id != id);
            state.policies.retain(|p| !matches!(&p.definition, Definition::TemplateLinked { policy_template_id, .. } if policy_template_id == id));
            Ok(None)
        }
        Operation::CreatePolicy {
            name,
            description,
            definition,
        } => {
            unique_name(
                state.policies.iter().map(|p| p.name.as_deref()),
                name,
                "policy",
            )?;
            let definition = match definition {
                NewDefinition::Static { statement } => {
                    check_static(state, statement, name)?;
                    Definition::Static {
                        statement: statement.clone(),
                    }
                }
                NewDefinition::Linked {
                    template,
                    principal,
                    resource,
                } => {
                    let template_id = match template {
                        TemplateRef::StoreId(id) => id.clone(),
                        TemplateRef::Name(template_name) => state
                            .templates
                            .iter()
                            .find(|t| t.name.as_deref() == Some(template_name))
                            .map(|t| t.id.clone())
                            .ok_or_else(|| {
                                StoreError::NotFound(format!(
                                    "template {template_name} for policy {name}"
                                ))
                            })?,
                    };
                    if !state.templates.iter().any(|t| t.id == template_id) {
                        return Err(StoreError::NotFound(format!(
                            "template {template_id} for policy {name}"
                        )));
                    }
                    Definition::TemplateLinked {
                        policy_template_id: template_id,
                        principal: principal.clone(),
                        resource: resource.clone(),
                    }
                }
            };
            let id = new_id("P");
            state.policies.push(StoredPolicy {
                id: id.clone(),
                name: Some(name.clone()),
                description: description.clone(),
                definition,
            });
            Ok(Some(id))
        }
        Operation::UpdatePolicy {
            id,
            name,
            description,
            statement,
        } => {
            let index = state
                .policies
                .iter()
                .position(|p| &p.id == id)
                .ok_or_else(|| StoreError::NotFound(format!("policy {id}")))?;
            let label = state.policies[index]
                .name
                .clone()
                .unwrap_or_else(|| id.clone());
            let Definition::Static { statement: old } = &state.policies[index].definition else {
                return Err(StoreError::Refused(format!(
                    "{label} is template-linked; only static policies can be updated"
                )));
            };
            same_shape(old, statement, &label, false)?;
            check_static(state, statement, &label)?;
            if let Some(new_name) = name {
                let others = state
                    .policies
                    .iter()
                    .filter(|p| &p.id != id)
                    .map(|p| p.name.as_deref());
                unique_name(others, new_name, "policy")?;
            }
            let policy = &mut state.policies[index];
            policy.definition = Definition::Static {
                statement: statement.clone(),
            };
            policy.description = description.clone();
            if let Some(new_name) = name {
                policy.name = Some(new_name.clone());
            }
            Ok(None)
        }
        Operation::DeletePolicy { id } => {
            // Deleting what is already gone succeeds, as in AVP.
            state.policies.retain(|p| &p.id != id);
            Ok(None)
        }
        Operation::CreateIdentitySource { source } => {
            if let Some(existing) = &state.identity_source {
                return Err(StoreError::QuotaExceeded(format!(
                    "the store has an identity source ({}) and AVP allows one per store (userguide quotas.html)",
                    existing.id
                )));
            }
            let id = new_id("IS");
            state.identity_source = Some(StoredIdentitySource {
                id: id.clone(),
                source: source.normalized(),
            });
            Ok(Some(id))
        }
        Operation::UpdateIdentitySource { id, source } => {
            let Some(existing) = state.identity_source.as_mut().filter(|e| &e.id == id) else {
                return Err(StoreError::NotFound(format!("identity source {id}")));
            };
            if !existing.source.same_kind(source) {
                return Err(StoreError::Refused(format!(
                    "identity source {id} is a {}; AVP cannot change the kind of an identity source in place: delete it and create another (userguide cognito-edit.html)",
                    existing.source.kind()
                )));
            }
            existing.source = source.normalized();
            Ok(None)
        }
        Operation::DeleteIdentitySource { id } => {
            match &state.identity_source {
                Some(existing) if &existing.id == id => state.identity_source = None,
                _ => return Err(StoreError::NotFound(format!("identity source {id}"))),
            }
            Ok(None)
        }
    }
}

fn unique_name<'a>(
    mut names: impl Iterator<Item = Option<&'a str>>,
    name: &str,
    kind: &str,
) -> Result<(), StoreError> {
    if names.any(|n| n == Some(name)) {
        return Err(StoreError::Conflict(format!(
            "a {kind} named {name} already exists"
        )));
    }
    Ok(())
}

fn schema_of(state: &StoreState) -> Result<Option<Schema>, StoreError> {
    // A deploy checks thousands of policies against the same schema: parse
    // it once, not once per operation.
    thread_local! {
        static PARSED: std::cell::RefCell<Option<(serde_json::Value, Schema)>> = const { std::cell::RefCell::new(None) };
    }
    let Some(json) = &state.schema else {
        return Ok(None);
    };
    if let Some(schema) = PARSED.with(|p| {
        p.borrow()
            .as_ref()
            .filter(|(cached, _)| cached == json)
            .map(|(_, s)| s.clone())
    }) {
        return Ok(Some(schema));
    }
    let schema = Schema::from_json_value(json.clone())
        .map_err(|err| StoreError::Corrupt(format!("the stored schema is invalid: {err}")))?;
    PARSED.with(|p| *p.borrow_mut() = Some((json.clone(), schema.clone())));
    Ok(Some(schema))
}

fn check_static(state: &StoreState, statement: &str, label: &str) -> Result<(), StoreError> {
    let policy = Policy::from_str(statement).map_err(|err| {
        StoreError::Refused(format!("{label}: the statement does not parse: {err}"))
    })?;
    let mut set = PolicySet::new();
    set.add(policy)
        .map_err(|err| StoreError::Refused(format!("{label}: {err}")))?;
    validate(state, &set, label)
}

fn check_template(state: &StoreState, statement: &str, label: &str) -> Result<(), StoreError> {
    let template = Template::from_str(statement).map_err(|err| {
        StoreError::Refused(format!("{label}: the template does not parse: {err}"))
    })?;
    let mut set = PolicySet::new();
    set.add_template(template)
        .map_err(|err| StoreError::Refused(format!("{label}: {err}")))?;
    validate(state, &set, label)
}

fn validate(state: &StoreState, set: &PolicySet, label: &str) -> Result<(), StoreError> {
    if state.validation_mode == ValidationMode::Off {
        return Ok(());
    }
    let Some(schema) = schema_of(state)? else {
        return Err(StoreError::Refused(format!(
            "{label}: the store validates in STRICT mode and has no schema"
        )));
    };
    let result = Validator::new(schema).validate(set, CedarMode::Strict);
    match result.validation_errors().next() {
        Some(err) => Err(StoreError::Refused(format!(
            "{label} does not validate against the store's schema: {err}"
        ))),
        None => Ok(()),
    }
}

/// Every policy and template of the store against a new schema: what a
/// STRICT store checks before taking the schema.
fn check_all_valid(state: &StoreState, schema: &Schema) -> Result<(), StoreError> {
    let set = policy_set_with_store_ids(state);
    let result = Validator::new(schema.clone()).validate(&set, CedarMode::Strict);
    if let Some(err) = result.validation_errors().next() {
        let owner = err.policy_id().to_string();
        let name = state
            .policies
            .iter()
            .find(|p| p.id == owner)
            .and_then(|p| p.name.clone())
            .or_else(|| {
                state
                    .templates
                    .iter()
                    .find(|t| t.id == owner)
                    .and_then(|t| t.name.clone())
            })
            .unwrap_or(owner);
        return Err(StoreError::Refused(format!(
            "the new schema would invalidate {name}: {err}"
        )));
    }
    Ok(())
}

/// AVP cannot change a policy's effect, principal or resource scope in
/// place; those changes must be planned as a replacement.
/// AVP's rule for updates in place (the effect, principal and resource
/// stay), with the statement's meaning parsed as everywhere else.
fn same_shape(old: &str, new: &str, label: &str, template: bool) -> Result<(), StoreError> {
    let parses = crate::statement::shape(old, template).is_some();
    if parses && !crate::statement::same_shape(old, new, template) {
        return Err(StoreError::Refused(format!(
            "{label}: an update cannot change the effect, principal or resource; replace the policy instead"
        )));
    }
    Ok(())
}

/// `path` made absolute with its longest existing ancestor canonical (the
/// store file and its folder may not exist before the first deploy), so
/// that every address of one store names it the same way.
fn canonical_as_far_as_it_exists(path: &Path) -> std::path::PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(existing) {
            return missing
                .iter()
                .rev()
                .fold(canonical, |acc: std::path::PathBuf, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(json: serde_json::Value) -> crate::identity::IdentitySource {
        serde_json::from_value(json).unwrap()
    }

    fn cognito() -> crate::identity::IdentitySource {
        source(
            serde_json::json!({"principalEntityType": "A::User", "configuration": {"cognitoUserPoolConfiguration": {"userPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_X"}}}),
        )
    }

    fn oidc() -> crate::identity::IdentitySource {
        source(
            serde_json::json!({"principalEntityType": "A::User", "configuration": {"openIdConnectConfiguration": {"issuer": "https://id.example.com", "tokenSelection": {"accessTokenOnly": {}}}}}),
        )
    }

    /// AVP's rules for identity sources: one per store (userguide
    /// quotas.html), no change of kind in place (cognito-edit.html), and
    /// updates and deletes of a source that exists.
    #[test]
    fn identity_sources_keep_avps_rules() {
        let mut state = StoreState::empty();
        let mut next = 1;
        let create = |source| Operation::CreateIdentitySource { source };
        let id = apply_to(&mut state, &mut next, &create(cognito()))
            .unwrap()
            .unwrap();
        assert!(matches!(
            apply_to(&mut state, &mut next, &create(oidc())),
            Err(StoreError::QuotaExceeded(_))
        ));
        let update = |id: &str, source| Operation::UpdateIdentitySource {
            id: id.to_string(),
            source,
        };
        assert!(matches!(
            apply_to(&mut state, &mut next, &update(&id, oidc())),
            Err(StoreError::Refused(message)) if message.contains("cannot change the kind")
        ));
        assert!(matches!(
            apply_to(&mut state, &mut next, &update("IS-other", cognito())),
            Err(StoreError::NotFound(_))
        ));
        apply_to(&mut state, &mut next, &update(&id, cognito())).unwrap();
        let delete = |id: &str| Operation::DeleteIdentitySource { id: id.to_string() };
        assert!(matches!(
            apply_to(&mut state, &mut next, &delete("IS-other")),
            Err(StoreError::NotFound(_))
        ));
        apply_to(&mut state, &mut next, &delete(&id)).unwrap();
        assert_eq!(state.identity_source, None);
        apply_to(&mut state, &mut next, &create(oidc())).unwrap();
    }
}
