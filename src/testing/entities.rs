//! Entity data for test cases: files in Cedar's entity JSON or AVP's
//! `entityList` form, read once each and combined into one Cedar
//! [`Entities`] per distinct list of sources (so a suite's entities are
//! built once, however many cases use them).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use cedar_policy::{Entities, Schema};
use serde_json::Value;

use super::suite::ResolvedSource;
use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, display_path};

/// Entity JSON of one source, in Cedar's form, with the file it came from.
struct Parsed {
    entities: Vec<Value>,
    file: Option<SourceFile>,
}

pub struct EntityLoader<'a> {
    root: &'a Path,
    schema: Option<&'a Schema>,
    parsed: HashMap<ResolvedSource, Result<Arc<Parsed>, Diagnostic>>,
    built: HashMap<Vec<ResolvedSource>, Result<Arc<Entities>, Diagnostic>>,
}

impl<'a> EntityLoader<'a> {
    pub fn new(root: &'a Path, schema: Option<&'a Schema>) -> Self {
        EntityLoader {
            root,
            schema,
            parsed: HashMap::new(),
            built: HashMap::new(),
        }
    }

    /// The entities of `sources` together (plus the schema's actions), built
    /// once per distinct list.
    pub fn entities(&mut self, sources: &[ResolvedSource]) -> Result<Arc<Entities>, Diagnostic> {
        if let Some(done) = self.built.get(sources) {
            return done.clone();
        }
        let result = self.build(sources);
        self.built.insert(sources.to_vec(), result.clone());
        result
    }

    fn build(&mut self, sources: &[ResolvedSource]) -> Result<Arc<Entities>, Diagnostic> {
        let parsed: Vec<Arc<Parsed>> = sources
            .iter()
            .map(|source| self.parse(source))
            .collect::<Result<_, _>>()?;
        let combined = combine(&parsed);
        self.check_parents(&parsed)?;
        Entities::from_json_value(Value::Array(combined), self.schema)
            .map(Arc::new)
            .map_err(|err| {
                let message = crate::diagnostic::message_with_causes(&err);
                locate(&parsed, &message, "entities", message.clone())
                    .with_help("entity data must conform to the schema: declared attributes of the declared types, parents of allowed types")
            })
    }

    fn parse(&mut self, source: &ResolvedSource) -> Result<Arc<Parsed>, Diagnostic> {
        if let Some(done) = self.parsed.get(source) {
            return done.clone();
        }
        let result = match source {
            ResolvedSource::File(path) => self.parse_file(path),
            ResolvedSource::Inline(text) => {
                let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                let list = match value {
                    Value::Array(_) => value,
                    single => Value::Array(vec![single]),
                };
                crate::avp_json::entities_to_cedar(&list)
                    .map(|entities| {
                        Arc::new(Parsed {
                            entities,
                            file: None,
                        })
                    })
                    .map_err(|err| {
                        unreadable(Diagnostic::error(
                            "entities",
                            format!("inline entity: {err}"),
                        ))
                    })
            }
        };
        self.parsed.insert(source.clone(), result.clone());
        result
    }

    fn parse_file(&self, path: &Path) -> Result<Arc<Parsed>, Diagnostic> {
        if !self.root.join(path).is_file() {
            return Err(unreadable(Diagnostic::error(
                "entities",
                format!("entity file {} does not exist", display_path(path)),
            ))
            .with_help("entity paths in a suite are relative to the suite's own file"));
        }
        let document = super::suite::read_json(self.root, path)?;
        let file = SourceFile::read(self.root, path).map_err(|err| Diagnostic::from(&err))?;
        let entities = crate::avp_json::entities_to_cedar(&document).map_err(|err| {
            unreadable(
                Diagnostic::error("entities", format!("{}: {err}", display_path(path)))
                    .at(file.location(0..0)),
            )
        })?;
        Ok(Arc::new(Parsed {
            entities,
            file: Some(file),
        }))
    }

    /// Every parent must itself be an entity of the data (or an action of
    /// the schema): a misspelt group otherwise silently grants nothing.
    fn check_parents(&self, parsed: &[Arc<Parsed>]) -> Result<(), Diagnostic> {
        let declared: HashSet<(String, String)> = parsed
            .iter()
            .flat_map(|p| p.entities.iter())
            .filter_map(|e| uid_key(e.get("uid")?))
            .collect();
        let actions: HashSet<String> = self
            .schema
            .map(|s| s.actions().map(|a| a.to_string()).collect())
            .unwrap_or_default();
        for entity in parsed.iter().flat_map(|p| p.entities.iter()) {
            let Some(parents) = entity.get("parents").and_then(Value::as_array) else {
                continue;
            };
            for parent in parents {
                let Some((type_name, id)) = uid_key(parent) else {
                    continue;
                };
                if declared.contains(&(type_name.clone(), id.clone())) {
                    continue;
                }
                let literal = format!(
                    "{type_name}::{}",
                    serde_json::to_string(&id).unwrap_or_default()
                );
                if actions.contains(&literal) {
                    continue;
                }
                let child = entity
                    .get("uid")
                    .and_then(uid_key)
                    .map(|(t, i)| format!("{t}::{}", serde_json::to_string(&i).unwrap_or_default()))
                    .unwrap_or_default();
                let message = format!(
                    "entity {child} has parent {literal}, which no entity data of this suite declares"
                );
                return Err(locate(parsed, &format!("`{child}`"), "undeclared-parent", message)
                    .with_help(format!("add {literal} to an entity file (with \"parents\": [] if it has none), or fix the parent's name")));
            }
        }
        Ok(())
    }
}

/// The entities of all sources; an entity of a later source replaces one
/// with the same UID from an earlier source (a case's own entities override
/// the suite's). Duplicates within one source are left for Cedar to report.
fn combine(parsed: &[Arc<Parsed>]) -> Vec<Value> {
    let mut combined: Vec<Value> = Vec::new();
    for source in parsed {
        let replaced: std::collections::HashSet<String> = source
            .entities
            .iter()
            .filter_map(|e| e.get("uid").map(uid_text))
            .collect();
        if !combined.is_empty() {
            combined.retain(|e| {
                e.get("uid")
                    .map(uid_text)
                    .is_none_or(|uid| !replaced.contains(&uid))
            });
        }
        combined.extend(source.entities.iter().cloned());
    }
    combined
}

fn uid_text(uid: &Value) -> String {
    uid_key(uid).map_or_else(|| uid.to_string(), |(t, i)| format!("{t}\u{0}{i}"))
}

fn unreadable(mut diagnostic: Diagnostic) -> Diagnostic {
    diagnostic.unreadable = true;
    diagnostic
}

/// `{"type": T, "id": I}` or `{"__entity": {...}}` → (T, I).
fn uid_key(value: &Value) -> Option<(String, String)> {
    let value = value.get("__entity").unwrap_or(value);
    Some((
        value.get("type")?.as_str()?.to_string(),
        value.get("id")?.as_str()?.to_string(),
    ))
}

/// Places an entity problem at the entity the message names (Cedar's
/// messages quote a UID in backticks), in whichever file holds it.
fn locate(parsed: &[Arc<Parsed>], mentions: &str, code: &str, message: String) -> Diagnostic {
    let mut diagnostic = unreadable(Diagnostic::error(code, message));
    let uid = mentions
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|quoted| quoted.contains("::\""));
    let Some(uid) = uid else {
        return diagnostic.with_fallback_file(parsed);
    };
    let Some((_, id)) = uid.rsplit_once("::") else {
        return diagnostic.with_fallback_file(parsed);
    };
    for file in parsed.iter().filter_map(|p| p.file.as_ref()) {
        if let Some(at) = file
            .text()
            .find(&format!("\"id\": {id}"))
            .or_else(|| file.text().find(&format!("\"id\":{id}")))
            .or_else(|| file.text().find(id))
        {
            diagnostic = diagnostic.at(file.location(at..at + id.len()));
            return diagnostic;
        }
    }
    diagnostic.with_fallback_file(parsed)
}

trait FallbackFile {
    fn with_fallback_file(self, parsed: &[Arc<Parsed>]) -> Self;
}

impl FallbackFile for Diagnostic {
    fn with_fallback_file(self, parsed: &[Arc<Parsed>]) -> Self {
        match parsed.iter().find_map(|p| p.file.as_ref()) {
            Some(file) if self.location.is_none() => self.at(file.location(0..0)),
            _ => self,
        }
    }
}
