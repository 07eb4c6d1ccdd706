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
        check_size(&combined).map_err(|message| {
            unreadable(Diagnostic::error("entities-too-large", message))
                .with_help("split the data across suites, or flatten the hierarchy (docs/security.md lists avpctl's limits)")
                .with_fallback_file(&parsed)
        })?;
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

/// The most entities one request may be evaluated against: far above a
/// test fixture or an organisation's snapshot, and small enough that
/// Cedar's hierarchy computation stays within seconds and a few GB.
pub const MAX_ENTITIES: usize = 250_000;

/// The longest chain of parents. Cedar computes every entity's ancestors
/// up front, which is quadratic in the chain's length (a chain of 6,000
/// takes 27 s and 3.8 GB); real hierarchies are a few levels deep.
pub const MAX_HIERARCHY_DEPTH: usize = 100;

/// Refuses entity data beyond [`MAX_ENTITIES`] or [`MAX_HIERARCHY_DEPTH`],
/// in time linear in its size.
fn check_size(entities: &[Value]) -> Result<(), String> {
    if entities.len() > MAX_ENTITIES {
        return Err(format!(
            "{} entities; avpctl evaluates a request against at most {MAX_ENTITIES}",
            entities.len()
        ));
    }
    let index: HashMap<String, usize> = entities
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Some((uid_text(e.get("uid")?), i)))
        .collect();
    let parents: Vec<Vec<usize>> = entities
        .iter()
        .map(|e| {
            e.get("parents")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .filter_map(|p| index.get(&uid_text(p)).copied())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    // Depth of each entity's longest parent chain, by an explicit stack
    // (a recursive walk would itself overflow on a deep chain). A cycle
    // ends the chain where it closes.
    const UNSEEN: usize = usize::MAX;
    const ON_PATH: usize = usize::MAX - 1;
    let mut depth = vec![UNSEEN; entities.len()];
    for start in 0..entities.len() {
        if depth[start] != UNSEEN {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        depth[start] = ON_PATH;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&parent) = parents[node].get(*next) {
                *next += 1;
                if depth[parent] == UNSEEN {
                    depth[parent] = ON_PATH;
                    stack.push((parent, 0));
                }
                continue;
            }
            let deepest = parents[node]
                .iter()
                .map(|&p| if depth[p] >= ON_PATH { 0 } else { depth[p] + 1 })
                .max()
                .unwrap_or(0);
            if deepest > MAX_HIERARCHY_DEPTH {
                let uid = entities[node]
                    .get("uid")
                    .map(Value::to_string)
                    .unwrap_or_default();
                return Err(format!(
                    "entity {uid} has a chain of more than {MAX_HIERARCHY_DEPTH} ancestors; avpctl accepts at most {MAX_HIERARCHY_DEPTH} levels"
                ));
            }
            depth[node] = deepest;
            stack.pop();
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(length: usize) -> Vec<Value> {
        (0..length)
            .map(|i| {
                let parents = if i + 1 < length {
                    vec![serde_json::json!({"type": "G", "id": (i + 1).to_string()})]
                } else {
                    vec![]
                };
                serde_json::json!({"uid": {"type": "G", "id": i.to_string()}, "attrs": {}, "parents": parents})
            })
            .collect()
    }

    #[test]
    fn hierarchies_up_to_the_limit_pass_and_deeper_ones_are_refused_quickly() {
        assert_eq!(check_size(&chain(MAX_HIERARCHY_DEPTH + 1)), Ok(()));
        let err = check_size(&chain(MAX_HIERARCHY_DEPTH + 2)).unwrap_err();
        assert!(err.contains("more than 100 ancestors"), "{err}");
        // 6,000 levels: refused by a linear walk, not computed.
        assert!(check_size(&chain(6_000)).is_err());
    }

    #[test]
    fn a_cycle_ends_the_chain() {
        let mut data = chain(3);
        data[2]["parents"] = serde_json::json!([{"type": "G", "id": "0"}]);
        assert_eq!(check_size(&data), Ok(()));
    }

    #[test]
    fn too_many_entities_are_refused_before_cedar_sees_them() {
        let many: Vec<Value> = (0..=MAX_ENTITIES)
            .map(|i| serde_json::json!({"uid": {"type": "U", "id": i.to_string()}, "attrs": {}, "parents": []}))
            .collect();
        assert!(check_size(&many).unwrap_err().contains("250001 entities"));
    }
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
