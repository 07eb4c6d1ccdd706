//! Entity data for test cases: files in Cedar's entity JSON or AVP's
//! `entityList` form, read once each and combined into one Cedar
//! [`Entities`] per distinct list of sources (so a suite's entities are
//! built once, however many cases use them).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use cedar_policy::{Entities, Entity, Schema};
use serde_json::Value;

use super::suite::ResolvedSource;
use crate::diagnostic::Diagnostic;
use crate::source::{Location, SourceFile, display_path};

/// Entity JSON of one source, in Cedar's form, with where each entity is
/// written (index-aligned; `None` where the structure does not say).
struct Parsed {
    entities: Vec<Value>,
    /// Found only when a diagnostic needs them: on a snapshot of 100,000
    /// entities, finding every place costs more than a warning-free load.
    places: OnceLock<Vec<Option<Location>>>,
    file: Option<SourceFile>,
}

impl Parsed {
    fn places(&self) -> &[Option<Location>] {
        self.places.get_or_init(|| match &self.file {
            Some(file) => entity_places(file, self.entities.len()),
            None => vec![None; self.entities.len()],
        })
    }
}

pub struct EntityLoader<'a> {
    root: &'a Path,
    schema: Option<&'a Schema>,
    parsed: HashMap<ResolvedSource, Result<Arc<Parsed>, Diagnostic>>,
    built: HashMap<Vec<ResolvedSource>, Result<Arc<Entities>, Diagnostic>>,
    warnings: Vec<Diagnostic>,
    /// Whether to look for warnings at all (an access snapshot has no use
    /// for them, and on 100,000 entities the search is not free).
    warn: bool,
}

impl<'a> EntityLoader<'a> {
    pub fn new(root: &'a Path, schema: Option<&'a Schema>) -> Self {
        EntityLoader {
            root,
            schema,
            parsed: HashMap::new(),
            built: HashMap::new(),
            warnings: Vec::new(),
            warn: true,
        }
    }

    /// A loader that reports errors only.
    pub fn without_warnings(mut self) -> Self {
        self.warn = false;
        self
    }

    /// The entities of `sources` together (plus the schema's actions), built
    /// once per distinct list. `suite` is the file inline entities are
    /// written in.
    pub fn entities(
        &mut self,
        sources: &[ResolvedSource],
        suite: &SourceFile,
    ) -> Result<Arc<Entities>, Diagnostic> {
        if let Some(done) = self.built.get(sources) {
            return done.clone();
        }
        let result = self.build(sources, suite);
        self.built.insert(sources.to_vec(), result.clone());
        result
    }

    /// Findings that do not stop evaluation (a parent no entity declares),
    /// each once.
    pub fn take_warnings(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.warnings)
    }

    fn build(
        &mut self,
        sources: &[ResolvedSource],
        suite: &SourceFile,
    ) -> Result<Arc<Entities>, Diagnostic> {
        let parsed: Vec<Arc<Parsed>> = sources
            .iter()
            .map(|source| self.parse(source, suite))
            .collect::<Result<_, _>>()?;
        let combined = combine(&parsed);
        check_size(&combined).map_err(|message| {
            unreadable(Diagnostic::error("entities-too-large", message))
                .with_help("split the data across suites, or flatten the hierarchy (docs/security.md lists avpctl's limits)")
                .with_fallback_file(&parsed)
        })?;
        let warnings = if self.warn {
            self.undeclared_parents(&parsed)
        } else {
            Vec::new()
        };
        for warning in warnings {
            if !self.warnings.iter().any(|w| w.message == warning.message) {
                self.warnings.push(warning);
            }
        }
        cedar_entities(&combined, self.schema)
            .map(Arc::new)
            .map_err(|err| self.explain(&parsed, &err))
    }

    /// Cedar refused the data as a whole: find the entity it refuses on its
    /// own (Cedar judges each one), and point at where it is written.
    fn explain(
        &self,
        parsed: &[Arc<Parsed>],
        err: &cedar_policy::entities_errors::EntitiesError,
    ) -> Diagnostic {
        let help = "entity data must conform to the schema: declared attributes of the declared types, parents of allowed types";
        for source in parsed {
            for (entity, place) in source.entities.iter().zip(source.places()) {
                let alone = Value::Array(vec![entity.clone()]);
                if let Err(own) = Entities::from_json_value(alone, self.schema) {
                    let message = crate::diagnostic::message_with_causes(&own);
                    return at_place(
                        unreadable(Diagnostic::error("entities", message)),
                        place.as_ref(),
                        parsed,
                    )
                    .with_help(help);
                }
            }
        }
        let message = crate::diagnostic::message_with_causes(err);
        let duplicate = parsed.iter().find_map(|source| {
            let mut seen = HashSet::new();
            source
                .entities
                .iter()
                .zip(source.places())
                .find(|(entity, _)| !seen.insert(entity.get("uid").map(uid_text)))
                .map(|(_, place)| place.clone())
        });
        at_place(
            unreadable(Diagnostic::error("entities", message)),
            duplicate.flatten().as_ref(),
            parsed,
        )
        .with_help(help)
    }

    fn parse(
        &mut self,
        source: &ResolvedSource,
        suite: &SourceFile,
    ) -> Result<Arc<Parsed>, Diagnostic> {
        if let Some(done) = self.parsed.get(source) {
            return done.clone();
        }
        let result = match source {
            ResolvedSource::File(path) => self.parse_file(path),
            ResolvedSource::Inline(text, offset) => {
                parse_inline(text, suite.location(*offset..*offset))
            }
        };
        self.parsed.insert(source.clone(), result.clone());
        result
    }

    fn parse_file(&self, path: &Path) -> Result<Arc<Parsed>, Diagnostic> {
        if !self.root.join(path).exists() {
            return Err(unreadable(Diagnostic::error(
                "entities",
                format!("entity file {} does not exist", display_path(path)),
            ))
            .with_help("entity paths in a suite are relative to the suite's own file"));
        }
        let (file, document) = super::suite::read_json(self.root, path)?;
        let entities = crate::avp_json::entities_to_cedar(document).map_err(|err| {
            unreadable(
                Diagnostic::error("entities", format!("{}: {err}", display_path(path)))
                    .at(file.location(0..0)),
            )
        })?;
        Ok(Arc::new(Parsed {
            entities,
            places: OnceLock::new(),
            file: Some(file),
        }))
    }

    /// A parent that no entity data declares is valid Cedar (AVP entity
    /// lists routinely name a role only as a parent), and Cedar evaluates
    /// it as an entity with no attributes; a misspelt group is still worth
    /// a warning, which `test --deny-warnings` makes fatal.
    fn undeclared_parents(&self, parsed: &[Arc<Parsed>]) -> Vec<Diagnostic> {
        let declared: HashSet<(&str, &str)> = parsed
            .iter()
            .flat_map(|p| p.entities.iter())
            .filter_map(|e| uid_key(e.get("uid")?))
            .collect();
        let actions: HashSet<String> = self
            .schema
            .map(|s| s.actions().map(|a| a.to_string()).collect())
            .unwrap_or_default();
        let mut reported = HashSet::new();
        let mut warnings = Vec::new();
        for source in parsed {
            for (n, entity) in source.entities.iter().enumerate() {
                let Some(parents) = entity.get("parents").and_then(Value::as_array) else {
                    continue;
                };
                for (type_name, id) in parents.iter().filter_map(uid_key) {
                    let literal = format!(
                        "{type_name}::{}",
                        serde_json::to_string(&id).unwrap_or_default()
                    );
                    if declared.contains(&(type_name, id))
                        || actions.contains(&literal)
                        || !reported.insert(literal.clone())
                    {
                        continue;
                    }
                    let child = entity
                        .get("uid")
                        .and_then(uid_key)
                        .map(|(t, i)| {
                            format!("{t}::{}", serde_json::to_string(&i).unwrap_or_default())
                        })
                        .unwrap_or_default();
                    let warning = Diagnostic::warning(
                        "undeclared-parent",
                        format!("entity {child} has parent {literal}, which no entity data of this suite declares; Cedar evaluates it as an entity with no attributes and no parents"),
                    )
                    .with_help(format!("if the name is misspelt, fix it; to silence this, add {literal} to an entity file (with \"parents\": [])"));
                    let place = source.places()[n].as_ref();
                    warnings.push(at_place(warning, place, parsed));
                }
            }
        }
        warnings
    }
}

fn parse_inline(text: &str, place: Location) -> Result<Arc<Parsed>, Diagnostic> {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let list = match value {
        Value::Array(_) => value,
        single => Value::Array(vec![single]),
    };
    match crate::avp_json::entities_to_cedar(list) {
        Ok(entities) => Ok(Arc::new(Parsed {
            places: OnceLock::from(vec![Some(place); entities.len()]),
            entities,
            file: None,
        })),
        Err(err) => Err(unreadable(
            Diagnostic::error("entities", format!("inline entity: {err}")).at(place),
        )),
    }
}

/// Where each entity of an entity file is written, from the file's JSON
/// structure: the items of its list, of its `entityList`, or of the
/// `entities` of a whole IsAuthorized input.
fn entity_places(file: &SourceFile, count: usize) -> Vec<Option<Location>> {
    let root = crate::strict_json::spans(file.text(), 3);
    let list = root.as_ref().and_then(|root| {
        let container = root.get("entities").unwrap_or(root);
        container
            .items()
            .or_else(|| container.get("entityList").and_then(|l| l.items()))
    });
    match list {
        Some(items) if items.len() == count => file
            .locations(
                items
                    .iter()
                    .map(|item| item.span.start..item.span.start + 1),
            )
            .into_iter()
            .map(Some)
            .collect(),
        _ => vec![Some(file.location(0..0)); count],
    }
}

fn at_place(
    diagnostic: Diagnostic,
    place: Option<&Location>,
    parsed: &[Arc<Parsed>],
) -> Diagnostic {
    match place {
        Some(place) => diagnostic.at(place.clone()),
        None => diagnostic.with_fallback_file(parsed),
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
fn check_size(entities: &[&Value]) -> Result<(), String> {
    if entities.len() > MAX_ENTITIES {
        return Err(format!(
            "{} entities; avpctl evaluates a request against at most {MAX_ENTITIES}",
            entities.len()
        ));
    }
    let index: HashMap<(&str, &str), usize> = entities
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Some((uid_key(e.get("uid")?)?, i)))
        .collect();
    let parents: Vec<Vec<usize>> = entities
        .iter()
        .map(|e| {
            e.get("parents")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .filter_map(|p| index.get(&uid_key(p)?).copied())
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
fn combine(parsed: &[Arc<Parsed>]) -> Vec<&Value> {
    let mut combined: Vec<&Value> = Vec::new();
    for source in parsed {
        if !combined.is_empty() {
            let replaced: HashSet<Option<(&str, &str)>> = source
                .entities
                .iter()
                .map(|e| e.get("uid").and_then(uid_key))
                .collect();
            combined.retain(|e| {
                let uid = e.get("uid").and_then(uid_key);
                uid.is_none() || !replaced.contains(&uid)
            });
        }
        combined.extend(&source.entities);
    }
    combined
}

/// Below this many entities, Cedar reads them in one piece.
const PARALLEL_FROM: usize = 4096;

/// Cedar's entities of `values`, read with the schema. A large snapshot is
/// read entity by entity on all cores (`Entity::from_json_value`: Cedar
/// reads and checks each entity on its own, as it does in a whole list),
/// then put together, with the schema's actions, in one [`Entities`] that
/// computes the ancestors once. Any failure is Cedar's error on the whole,
/// read again in one piece.
fn cedar_entities(
    values: &[&Value],
    schema: Option<&Schema>,
) -> Result<Entities, cedar_policy::entities_errors::EntitiesError> {
    let whole = || {
        let list = Value::Array(values.iter().map(|&v| v.clone()).collect());
        Entities::from_json_value(list, schema)
    };
    if values.len() < PARALLEL_FROM {
        return whole();
    }
    use rayon::prelude::*;
    let read: Result<Vec<Entity>, _> = values
        .par_iter()
        .with_min_len(256)
        .map(|&value| Entity::from_json_value(value.clone(), schema))
        .collect();
    let Ok(mut all) = read else {
        return whole();
    };
    // As in Cedar's whole reading, the schema's actions replace any given
    // (each was checked against the schema's own).
    if let Some(schema) = schema {
        let Ok(actions) = schema.action_entities() else {
            return whole();
        };
        let declared: HashSet<cedar_policy::EntityUid> = actions.iter().map(Entity::uid).collect();
        all.retain(|entity| {
            let uid = entity.uid();
            uid.type_name().basename() != "Action" || !declared.contains(&uid)
        });
        all.extend(actions);
    }
    Entities::from_entities(all, None).or_else(|_| whole())
}

fn uid_text(uid: &Value) -> String {
    uid_key(uid).map_or_else(|| uid.to_string(), |(t, i)| format!("{t}\u{0}{i}"))
}

fn unreadable(mut diagnostic: Diagnostic) -> Diagnostic {
    diagnostic.unreadable = true;
    diagnostic
}

/// `{"type": T, "id": I}` or `{"__entity": {...}}` → (T, I).
fn uid_key(value: &Value) -> Option<(&str, &str)> {
    let value = value.get("__entity").unwrap_or(value);
    Some((value.get("type")?.as_str()?, value.get("id")?.as_str()?))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(values: &[Value]) -> Vec<&Value> {
        values.iter().collect()
    }

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
        assert_eq!(check_size(&refs(&chain(MAX_HIERARCHY_DEPTH + 1))), Ok(()));
        let err = check_size(&refs(&chain(MAX_HIERARCHY_DEPTH + 2))).unwrap_err();
        assert!(err.contains("more than 100 ancestors"), "{err}");
        // 6,000 levels: refused by a linear walk, not computed.
        assert!(check_size(&refs(&chain(6_000))).is_err());
    }

    #[test]
    fn a_cycle_ends_the_chain() {
        let mut data = chain(3);
        data[2]["parents"] = serde_json::json!([{"type": "G", "id": "0"}]);
        assert_eq!(check_size(&refs(&data)), Ok(()));
    }

    #[test]
    fn too_many_entities_are_refused_before_cedar_sees_them() {
        let many: Vec<Value> = (0..=MAX_ENTITIES)
            .map(|i| serde_json::json!({"uid": {"type": "U", "id": i.to_string()}, "attrs": {}, "parents": []}))
            .collect();
        assert!(
            check_size(&refs(&many))
                .unwrap_err()
                .contains("250001 entities")
        );
    }

    fn snapshot(users: usize) -> Vec<Value> {
        let mut data: Vec<Value> = (0..10)
            .map(|g| serde_json::json!({"uid": {"type": "G", "id": format!("g{g}")}, "attrs": {}, "parents": []}))
            .collect();
        data.extend((0..users).map(|u| {
            serde_json::json!({
                "uid": {"type": "U", "id": format!("u{u}")},
                "attrs": {"boss": {"type": "U", "id": format!("u{}", u / 2)}, "level": u % 7},
                "parents": [{"type": "G", "id": format!("g{}", u % 10)}]
            })
        }));
        data
    }

    #[test]
    fn a_large_snapshot_read_entity_by_entity_equals_cedars_reading_in_one() {
        let (schema, _) = Schema::from_cedarschema_str(
            "entity G; entity U in [G] { boss: U, level: Long }; action view appliesTo { principal: U, resource: G };",
        )
        .unwrap();
        let data = snapshot(3 * PARALLEL_FROM);
        let ours = cedar_entities(&refs(&data), Some(&schema)).unwrap();
        let whole = Entities::from_json_value(Value::Array(data.clone()), Some(&schema)).unwrap();
        assert!(ours.deep_eq(&whole));
        let view: cedar_policy::EntityUid = r#"Action::"view""#.parse().unwrap();
        assert!(ours.get(&view).is_some(), "the schema's action is kept");
        // An entity given twice, the same or not, and actions given in the
        // data, declared or not: Cedar's own answer.
        let outcome = |result: Result<Entities, cedar_policy::entities_errors::EntitiesError>| {
            result.map_err(|e| e.to_string())
        };
        let mut same_twice = data.clone();
        same_twice.push(data[20].clone());
        let mut changed = data[20].clone();
        changed["attrs"]["level"] = serde_json::json!(99);
        let mut different_twice = data.clone();
        different_twice.push(changed);
        let with_action = |id: &str| {
            let mut data = data.clone();
            data.push(serde_json::json!({"uid": {"type": "Action", "id": id}, "attrs": {}, "parents": []}));
            data
        };
        for given in [
            same_twice,
            different_twice,
            with_action("view"),
            with_action("edit"),
        ] {
            let ours = outcome(cedar_entities(&refs(&given), Some(&schema)));
            let cedar = outcome(Entities::from_json_value(
                Value::Array(given),
                Some(&schema),
            ));
            match (ours, cedar) {
                (Ok(ours), Ok(cedar)) => assert!(ours.deep_eq(&cedar)),
                (ours, cedar) => assert_eq!(ours.err(), cedar.err()),
            }
        }
    }
}
