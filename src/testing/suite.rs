//! The YAML test-suite format (docs/testing.md), read into [`Check`]s: one
//! request with its expectation each. A table case gives one check per
//! row, a replayed AVP batch one per request.

use std::collections::HashMap;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cedar_policy::{Decision, EntityUid};
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::diagnostic::Diagnostic;
use crate::source::{Location, SourceFile, display_path};
use crate::uid::UidSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    #[serde(default)]
    entities: Vec<Spanned<EntitySource>>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
    #[serde(default)]
    validate_request: Option<bool>,
    #[serde(default)]
    cases: Vec<Spanned<RawCase>>,
}

/// An entry of an `entities:` list: a file path, or an entity written inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EntitySource {
    File(String),
    Inline(Value),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    principal: Option<UidSpec>,
    action: Option<UidSpec>,
    resource: Option<UidSpec>,
    context: Option<Map<String, Value>>,
    entities: Option<Vec<Spanned<EntitySource>>>,
    expect: Option<Expectation>,
    reasons: Option<Vec<String>>,
    errors: Option<Vec<String>>,
    validate_request: Option<bool>,
    /// Table form: one principal and action against many resources.
    resources: Option<Vec<Spanned<RawRow>>>,
    /// Table form: many principals against one action and resource.
    principals: Option<Vec<Spanned<RawRow>>>,
    /// An AVP IsAuthorized or BatchIsAuthorized input to replay.
    replay: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    Allow,
    Deny,
}

impl Expected {
    pub fn decision(self) -> Decision {
        match self {
            Expected::Allow => Decision::Allow,
            Expected::Deny => Decision::Deny,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Expectation {
    One(Expected),
    /// One per request of a replayed batch, in order.
    Many(Vec<Expected>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    /// Names the row in reports (default: the row's principal or resource).
    name: Option<String>,
    principal: Option<UidSpec>,
    resource: Option<UidSpec>,
    expect: Option<Expected>,
    reasons: Option<Vec<String>>,
    errors: Option<Vec<String>>,
    context: Option<Map<String, Value>>,
}

/// One suite file, its entity sources and its checks.
#[derive(Debug)]
pub struct Suite {
    pub file: SourceFile,
    /// Entity sources of the suite, file paths resolved relative to the
    /// project root.
    pub entities: Vec<ResolvedSource>,
    pub checks: Vec<Arc<Check>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResolvedSource {
    /// Relative to the project root.
    File(PathBuf),
    /// Entity JSON written in the suite, and where (a byte offset in the
    /// suite's file).
    Inline(String, usize),
}

/// Which entities a check is evaluated with.
#[derive(Debug, Clone)]
pub enum CheckEntities {
    /// The suite's entities.
    Suite,
    /// The suite's entities and these, for this case only.
    SuitePlus(Vec<ResolvedSource>),
    /// Only these (a replayed AVP request carries its own).
    Own(Vec<ResolvedSource>),
}

/// One request and what it must give.
#[derive(Debug, Clone)]
pub struct Check {
    /// The case name, with the row for table and replay cases.
    pub name: String,
    pub location: Location,
    pub principal: EntityUid,
    pub action: EntityUid,
    pub resource: EntityUid,
    /// Cedar JSON context (suite defaults merged under the case's own).
    pub context: Value,
    pub entities: CheckEntities,
    pub expect: Decision,
    pub reasons: Option<BTreeSet<String>>,
    pub errors: Option<BTreeSet<String>>,
    pub validate_request: bool,
}

/// Reads one suite; `relative` is its path below the project root.
pub fn load_suite(root: &Path, relative: &Path) -> Result<Suite, Vec<Diagnostic>> {
    let file = crate::files::read(root, relative).map_err(|err| vec![Diagnostic::from(&err)])?;
    let raw: Option<RawSuite> =
        crate::yaml::parse(&file).map_err(|err| vec![Diagnostic::from(&err)])?;
    let raw = raw.unwrap_or(RawSuite {
        entities: Vec::new(),
        context: None,
        validate_request: None,
        cases: Vec::new(),
    });
    let base = relative.parent().unwrap_or(Path::new(""));
    let mut reader = SuiteReader {
        root,
        base,
        file: &file,
        defaults: raw.context.unwrap_or_default(),
        validate_request: raw.validate_request.unwrap_or(true),
        problems: Vec::new(),
        uids: HashMap::new(),
    };
    let entities = raw
        .entities
        .iter()
        .map(|source| reader.resolve_source(source))
        .collect();
    let mut names = HashSet::new();
    let mut checks = Vec::new();
    for spanned in raw.cases {
        let location = crate::yaml::location(&file, &spanned.referenced);
        let case = spanned.value;
        if !names.insert(case.name.clone()) {
            reader.problem(
                &location,
                "duplicate-case",
                format!("two cases are named `{}`", case.name),
                "case names must be unique in their file",
            );
            continue;
        }
        checks.extend(reader.case_checks(case, location).into_iter().map(Arc::new));
    }
    if reader.problems.is_empty() {
        Ok(Suite {
            file: file.clone(),
            entities,
            checks,
        })
    } else {
        Err(reader.problems)
    }
}

struct SuiteReader<'a> {
    root: &'a Path,
    /// The suite's directory, relative to the root.
    base: &'a Path,
    file: &'a SourceFile,
    defaults: Map<String, Value>,
    validate_request: bool,
    problems: Vec<Diagnostic>,
    /// UIDs already parsed: suites repeat the same few principals and
    /// resources thousands of times, and a clone shares the parsed one.
    uids: HashMap<UidSpec, EntityUid>,
}

impl SuiteReader<'_> {
    fn problem(&mut self, location: &Location, code: &str, message: String, help: &str) {
        let mut diagnostic = Diagnostic::error(code, message)
            .at(location.clone())
            .with_help(help);
        diagnostic.unreadable = true;
        self.problems.push(diagnostic);
    }

    fn resolve_source(&mut self, source: &Spanned<EntitySource>) -> ResolvedSource {
        match &source.value {
            EntitySource::File(path) => {
                let relative = normalize(&self.base.join(path));
                self.check_inside(&relative, &source.referenced);
                ResolvedSource::File(relative)
            }
            EntitySource::Inline(value) => {
                let at = crate::yaml::location(self.file, &source.referenced);
                ResolvedSource::Inline(value.to_string(), at.span.start)
            }
        }
    }

    /// A file the suite names must be inside the project (docs/security.md);
    /// the refusal points at the name in the suite, never at the file.
    fn check_inside(&mut self, relative: &Path, at: &serde_saphyr::Location) {
        if let Err(err @ crate::error::Error::OutsideProject { .. }) =
            crate::files::resolve_inside(self.root, relative)
        {
            let location = crate::yaml::location(self.file, at);
            let help = err.help().unwrap_or_default();
            self.problem(&location, err.code(), err.to_string(), &help);
        }
    }

    fn uid(
        &mut self,
        spec: Option<&UidSpec>,
        what: &str,
        case: &str,
        location: &Location,
    ) -> Option<EntityUid> {
        let Some(spec) = spec else {
            self.problem(
                location,
                "missing-field",
                format!("case `{case}` has no `{what}`"),
                "every case names a principal, an action and a resource",
            );
            return None;
        };
        if let Some(uid) = self.uids.get(spec) {
            return Some(uid.clone());
        }
        match spec.resolve() {
            Ok(uid) => {
                self.uids.insert(spec.clone(), uid.clone());
                Some(uid)
            }
            Err(message) => {
                self.problem(
                    location,
                    "bad-uid",
                    format!("case `{case}`: {what}: {message}"),
                    "write an entity as 'Namespace::Type::\"id\"' or {type: ..., id: ...}",
                );
                None
            }
        }
    }

    fn context(&self, own: Option<&Map<String, Value>>) -> Value {
        let mut merged = self.defaults.clone();
        if let Some(own) = own {
            merged.extend(own.clone());
        }
        Value::Object(merged)
    }

    fn case_checks(&mut self, case: RawCase, location: Location) -> Vec<Check> {
        if let Some(replay) = case.replay.clone() {
            return self.replay_checks(case, &replay, location);
        }
        let table = match (&case.resources, &case.principals) {
            (Some(_), Some(_)) => {
                self.problem(
                    &location,
                    "bad-table",
                    format!("case `{}` has both `resources` and `principals`", case.name),
                    "a table varies one side: give one of them",
                );
                return Vec::new();
            }
            (Some(rows), None) => Some((rows, true)),
            (None, Some(rows)) => Some((rows, false)),
            (None, None) => None,
        };
        let entities = match &case.entities {
            Some(sources) => {
                CheckEntities::SuitePlus(sources.iter().map(|s| self.resolve_source(s)).collect())
            }
            None => CheckEntities::Suite,
        };
        let validate_request = case.validate_request.unwrap_or(self.validate_request);
        let action = self.uid(case.action.as_ref(), "action", &case.name, &location);
        let Some((rows, by_resource)) = table else {
            let principal = self.uid(case.principal.as_ref(), "principal", &case.name, &location);
            let resource = self.uid(case.resource.as_ref(), "resource", &case.name, &location);
            let expect = match case.expect {
                Some(Expectation::One(expected)) => Some(expected),
                Some(Expectation::Many(_)) => {
                    self.problem(
                        &location,
                        "bad-expect",
                        format!(
                            "case `{}`: `expect` is a list, which only a replayed batch takes",
                            case.name
                        ),
                        "write `expect: allow` or `expect: deny`",
                    );
                    None
                }
                None => {
                    self.problem(
                        &location,
                        "missing-expect",
                        format!("case `{}` has no `expect`", case.name),
                        "add `expect: allow` or `expect: deny`",
                    );
                    None
                }
            };
            let (Some(principal), Some(action), Some(resource), Some(expect)) =
                (principal, action, resource, expect)
            else {
                return Vec::new();
            };
            return vec![Check {
                name: case.name,
                location,
                principal,
                action,
                resource,
                context: self.context(case.context.as_ref()),
                entities,
                expect: expect.decision(),
                reasons: case.reasons.map(|r| r.into_iter().collect()),
                errors: case.errors.map(|e| e.into_iter().collect()),
                validate_request,
            }];
        };
        // Table form: the fixed side comes from the case, the varying side
        // and the expectation from each row.
        let fixed = if by_resource {
            self.uid(case.principal.as_ref(), "principal", &case.name, &location)
        } else {
            self.uid(case.resource.as_ref(), "resource", &case.name, &location)
        };
        if case.expect.is_some() {
            self.problem(
                &location,
                "bad-table",
                format!("case `{}` is a table: `expect` goes on each row", case.name),
                "move `expect` into the rows",
            );
        }
        let (Some(fixed), Some(action)) = (fixed, action) else {
            return Vec::new();
        };
        let mut checks = Vec::new();
        let mut names = HashSet::new();
        for (number, row) in rows.iter().enumerate().map(|(i, r)| (i + 1, r)) {
            let row_location = crate::yaml::location(self.file, &row.referenced);
            let row = &row.value;
            let (spec, what) = if by_resource {
                (row.resource.as_ref(), "resource")
            } else {
                (row.principal.as_ref(), "principal")
            };
            let Some(varying) = self.uid(spec, what, &case.name, &row_location) else {
                continue;
            };
            let Some(expected) = row.expect else {
                self.problem(
                    &row_location,
                    "missing-expect",
                    format!("a row of case `{}` has no `expect`", case.name),
                    "add `expect: allow` or `expect: deny` to the row",
                );
                continue;
            };
            let (principal, resource) = if by_resource {
                (fixed.clone(), varying.clone())
            } else {
                (varying.clone(), fixed.clone())
            };
            let mut context = self.context(case.context.as_ref());
            if let (Some(own), Value::Object(merged)) = (&row.context, &mut context) {
                merged.extend(own.clone());
            }
            let name = match &row.name {
                Some(own) => format!("{} › {own}", case.name),
                None => format!("{} › {varying}", case.name),
            };
            // Rows for the same principal or resource would otherwise get
            // the same name; reports and filters need each to be unique.
            let name = if names.contains(&name) {
                if row.name.is_some() {
                    self.problem(
                        &row_location,
                        "duplicate-case",
                        format!("two rows of case `{}` are named `{name}`", case.name),
                        "row names must be unique in their case",
                    );
                    continue;
                }
                format!("{name} [row {number}]")
            } else {
                name
            };
            names.insert(name.clone());
            checks.push(Check {
                name,
                location: row_location,
                principal,
                action: action.clone(),
                resource,
                context,
                entities: entities.clone(),
                expect: expected.decision(),
                reasons: row.reasons.clone().map(|r| r.into_iter().collect()),
                errors: row.errors.clone().map(|e| e.into_iter().collect()),
                validate_request,
            });
        }
        checks
    }

    fn replay_checks(&mut self, case: RawCase, replay: &str, location: Location) -> Vec<Check> {
        let relative = normalize(&self.base.join(replay));
        let input = match read_json(self.root, &relative) {
            Ok((_, input)) => input,
            Err(diagnostic) if diagnostic.location.is_none() => {
                self.problems.push(diagnostic.at(location));
                return Vec::new();
            }
            Err(diagnostic) => {
                self.problems.push(diagnostic);
                return Vec::new();
            }
        };
        let requests = match replay_requests(&input) {
            Ok(requests) => requests,
            Err(message) => {
                self.problem(
                    &location,
                    "bad-replay",
                    format!(
                        "case `{}`: {}: {message}",
                        case.name,
                        display_path(&relative)
                    ),
                    "give an AVP IsAuthorized or BatchIsAuthorized input as JSON",
                );
                return Vec::new();
            }
        };
        let expected: Vec<Expected> = match case.expect {
            Some(Expectation::One(one)) => vec![one; requests.len()],
            Some(Expectation::Many(many)) => many,
            None => {
                self.problem(
                    &location,
                    "missing-expect",
                    format!("case `{}` has no `expect`", case.name),
                    "add `expect: allow`, or a list with one decision per request of the batch",
                );
                return Vec::new();
            }
        };
        if expected.len() != requests.len() {
            self.problem(
                &location,
                "bad-expect",
                format!(
                    "case `{}`: `expect` lists {} decisions for {} requests",
                    case.name,
                    expected.len(),
                    requests.len()
                ),
                "give one decision per request of the batch, in order",
            );
            return Vec::new();
        }
        let single = requests.len() == 1;
        let validate_request = case.validate_request.unwrap_or(self.validate_request);
        let own = vec![ResolvedSource::File(relative.clone())];
        requests
            .into_iter()
            .zip(expected)
            .enumerate()
            .map(|(i, (request, expected))| Check {
                name: if single {
                    case.name.clone()
                } else {
                    format!("{} › request {i}", case.name)
                },
                location: location.clone(),
                principal: request.principal,
                action: request.action,
                resource: request.resource,
                context: request.context,
                entities: CheckEntities::Own(own.clone()),
                expect: expected.decision(),
                reasons: if single {
                    case.reasons.clone().map(|r| r.into_iter().collect())
                } else {
                    None
                },
                errors: if single {
                    case.errors.clone().map(|e| e.into_iter().collect())
                } else {
                    None
                },
                validate_request,
            })
            .collect()
    }
}

struct ReplayRequest {
    principal: EntityUid,
    action: EntityUid,
    resource: EntityUid,
    context: Value,
}

/// The requests of an AVP IsAuthorized input (one) or BatchIsAuthorized
/// input (its `requests`, in order).
fn replay_requests(input: &Value) -> Result<Vec<ReplayRequest>, String> {
    use crate::avp_json::{context_to_cedar, identifier};
    let one = |request: &Value| -> Result<ReplayRequest, String> {
        let uid = |key: &str, type_key: &str, id_key: &str| -> Result<EntityUid, String> {
            let value = request
                .get(key)
                .ok_or_else(|| format!("a request needs `{key}`"))?;
            let (t, i) = identifier(value, type_key, id_key)?;
            crate::uid::from_parts(t, i)
        };
        Ok(ReplayRequest {
            principal: uid("principal", "entityType", "entityId")?,
            action: uid("action", "actionType", "actionId")?,
            resource: uid("resource", "entityType", "entityId")?,
            context: match request.get("context") {
                Some(context) => context_to_cedar(context)?,
                None => Value::Object(Map::new()),
            },
        })
    };
    match input.get("requests") {
        Some(Value::Array(requests)) => requests
            .iter()
            .enumerate()
            .map(|(i, r)| one(r).map_err(|err| format!("requests[{i}]: {err}")))
            .collect(),
        Some(_) => Err("`requests` must be a list".into()),
        None => one(input).map(|r| vec![r]),
    }
}

/// Reads a JSON file below the root, with line and column on a syntax error.
pub fn read_json(root: &Path, relative: &Path) -> Result<(SourceFile, Value), Diagnostic> {
    let file = crate::files::read(root, relative).map_err(|err| Diagnostic::from(&err))?;
    let value = crate::strict_json::from_str(file.text()).map_err(|err| {
        let offset = file.offset_of(err.line(), err.column());
        let mut diagnostic = Diagnostic::error(
            "json",
            format!("{} is not valid JSON: {err}", file.display()),
        )
        .at(file.location(offset..offset));
        diagnostic.unreadable = true;
        diagnostic
    })?;
    Ok((file, value))
}

/// `tests/../entities/a.json` → `entities/a.json`, without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                // `..` beyond the start stays `..` (and is refused as
                // outside the project when the file is read).
                let climbed_out = matches!(
                    out.components().next_back(),
                    None | Some(std::path::Component::ParentDir)
                );
                if climbed_out || !out.pop() {
                    out.push("..");
                }
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every suite file below the tests directory, sorted.
pub fn suite_files(root: &Path, tests_dir: &str) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let (mut yaml, mut diagnostics) =
        crate::project::discover_files(root, Path::new(tests_dir), "yaml");
    let (yml, more) = crate::project::discover_files(root, Path::new(tests_dir), "yml");
    yaml.extend(yml);
    yaml.sort();
    diagnostics.extend(more);
    (yaml, diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_parent_components() {
        assert_eq!(
            normalize(Path::new("tests/../entities/a.json")),
            PathBuf::from("entities/a.json")
        );
        assert_eq!(
            normalize(Path::new("tests/./sub/../b.json")),
            PathBuf::from("tests/b.json")
        );
    }
}
