//! `avpctl access` (docs/access.md): who can do what, answered over an
//! entity snapshot. Any of principal, action and resource may be fixed; the
//! others range over what the schema allows there: every action it
//! declares, and every entity of the snapshot of a type the action takes.
//! Every answer is a decision of Cedar's authorizer, through the test
//! runner's slicing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cedar_policy::{Context, Decision, Entities, EntityUid, Request, Schema};
use rayon::prelude::*;

use crate::error::Error;
use crate::project::Project;
use crate::testing::outcome::PolicyError;
use crate::testing::runner::Runner;
use crate::testing::suite::ResolvedSource;

/// What is asked: `None` ranges over the snapshot (or the schema's actions).
#[derive(Debug, Clone)]
pub struct Query {
    pub principal: Option<EntityUid>,
    pub action: Option<EntityUid>,
    pub resource: Option<EntityUid>,
    /// Cedar JSON, read by the schema's type of each action's context.
    pub context: serde_json::Value,
}

/// One request and Cedar's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub principal: EntityUid,
    pub action: EntityUid,
    pub resource: EntityUid,
    pub decision: Decision,
    pub reasons: Vec<String>,
    pub errors: Vec<PolicyError>,
}

/// An action left out, and why (the context does not fit its type).
#[derive(Debug, Clone)]
pub struct Skipped {
    pub action: EntityUid,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Review {
    /// Allowed requests, and denied ones where a policy raised an error,
    /// sorted by action, principal, resource.
    pub answers: Vec<Answer>,
    pub evaluated: usize,
    pub skipped: Vec<Skipped>,
}

impl Review {
    pub fn allowed(&self) -> impl Iterator<Item = &Answer> {
        self.answers
            .iter()
            .filter(|a| a.decision == Decision::Allow)
    }
}

/// The entity snapshot: `paths` given on the command line (anywhere), or
/// else the project's `entities` list (inside the project).
pub fn snapshot(project: &Project, paths: &[PathBuf]) -> Result<Arc<Entities>, Error> {
    let (root, sources): (PathBuf, Vec<ResolvedSource>) = if paths.is_empty() {
        let listed = project.config.entities.iter().map(PathBuf::from).collect();
        (project.root.clone(), expand(&project.root, listed)?)
    } else {
        let absolute = paths
            .iter()
            .map(|p| std::path::absolute(p).map_err(|err| Error::io(p.display().to_string(), err)))
            .collect::<Result<Vec<_>, _>>()?;
        (PathBuf::from("/"), expand(Path::new("/"), absolute)?)
    };
    if sources.is_empty() {
        return Err(Error::Usage(
            "no entity snapshot: give `--entities FILE`, or list files in `entities = [...]` in avpctl.toml".into(),
        ));
    }
    let mut loader = crate::testing::entities::EntityLoader::new(&root, project.schema());
    let anchor = crate::source::SourceFile::new("avpctl.toml", "");
    loader
        .entities(&sources, &anchor)
        .map_err(|diagnostic| Error::Diagnosed {
            context: "the entity snapshot does not load".into(),
            diagnostics: vec![diagnostic],
        })
}

/// Files as given, directories as every `.json` file below them (sorted).
fn expand(root: &Path, paths: Vec<PathBuf>) -> Result<Vec<ResolvedSource>, Error> {
    let mut sources = Vec::new();
    for path in paths {
        let full = root.join(&path);
        if !full.is_dir() {
            sources.push(ResolvedSource::File(path));
            continue;
        }
        let (mut found, problems) = crate::project::discover_files(root, &path, "json");
        if !problems.is_empty() {
            return Err(Error::Diagnosed {
                context: format!("cannot read the entity directory {}", path.display()),
                diagnostics: problems,
            });
        }
        found.sort();
        sources.extend(found.into_iter().map(ResolvedSource::File));
    }
    Ok(sources)
}

/// The requests a query covers, action by action: the action's context
/// and the principals and resources it ranges over.
struct Requests {
    actions: Vec<(EntityUid, Context, Vec<EntityUid>, Vec<EntityUid>)>,
    skipped: Vec<Skipped>,
}

impl Requests {
    fn count(&self) -> usize {
        self.actions
            .iter()
            .map(|(_, _, p, r)| p.len() * r.len())
            .sum()
    }
}

fn requests<'s>(
    project: &'s Project,
    entities: &Entities,
    query: &Query,
) -> Result<(&'s Schema, Requests), Error> {
    let schema = project.schema().ok_or_else(|| {
        Error::Usage(
            "`access` needs a schema: it enumerates the principals, actions and resources the schema allows"
                .into(),
        )
    })?;
    let actions: Vec<EntityUid> = match &query.action {
        Some(action) => {
            if !schema.actions().any(|a| a == action) {
                return Err(Error::Usage(format!(
                    "the action {action} is not declared in the schema"
                )));
            }
            vec![action.clone()]
        }
        None => schema.actions().cloned().collect(),
    };
    let mut found = Requests {
        actions: Vec::new(),
        skipped: Vec::new(),
    };
    for action in actions {
        match Context::from_json_value(query.context.clone(), Some((schema, &action))) {
            Ok(context) => {
                let principals = candidates(
                    schema,
                    entities,
                    &action,
                    query.principal.as_ref(),
                    Side::Principal,
                );
                let resources = candidates(
                    schema,
                    entities,
                    &action,
                    query.resource.as_ref(),
                    Side::Resource,
                );
                found.actions.push((action, context, principals, resources));
            }
            Err(err) => found.skipped.push(Skipped {
                action,
                reason: format!(
                    "the context does not fit its schema type: {}",
                    crate::diagnostic::message_with_causes(&err)
                ),
            }),
        }
    }
    Ok((schema, found))
}

/// Calls `each` on every request of `requests`, in parallel, keeping what
/// it returns.
fn evaluate<T: Send>(
    schema: &Schema,
    requests: &Requests,
    each: impl Fn(Request, &EntityUid, &EntityUid, &EntityUid) -> Option<T> + Sync,
) -> Vec<T> {
    let mut found = Vec::new();
    for (action, context, principals, resources) in &requests.actions {
        let each = &each;
        // Over the pairs, not the principals: "what can P do" has one
        // principal and every resource.
        found.extend(
            principals
                .par_iter()
                .flat_map(|principal| {
                    resources.par_iter().filter_map(move |resource| {
                        let request = Request::new(
                            principal.clone(),
                            action.clone(),
                            resource.clone(),
                            context.clone(),
                            Some(schema),
                        )
                        .ok()?;
                        each(request, principal, action, resource)
                    })
                })
                .collect::<Vec<T>>(),
        );
    }
    found
}

/// Answers `query` over `entities` with the project's policies.
pub fn review(project: &Project, entities: &Entities, query: &Query) -> Result<Review, Error> {
    let (schema, requests) = requests(project, entities, query)?;
    let runner = Runner::new(project);
    let mut answers = evaluate(schema, &requests, |request, principal, action, resource| {
        let (decision, reasons, errors) = runner.decide(&request, entities);
        (decision == Decision::Allow || !errors.is_empty()).then(|| Answer {
            principal: principal.clone(),
            action: action.clone(),
            resource: resource.clone(),
            decision,
            reasons,
            errors,
        })
    });
    answers.sort_by_cached_key(|a| {
        (
            a.action.to_string(),
            a.principal.to_string(),
            a.resource.to_string(),
        )
    });
    Ok(Review {
        evaluated: requests.count(),
        answers,
        skipped: requests.skipped,
    })
}

/// A request whose decision a change flips.
#[derive(Debug, Clone)]
pub struct Flip {
    pub principal: EntityUid,
    pub action: EntityUid,
    pub resource: EntityUid,
    pub old: Decision,
    pub new: Decision,
    pub old_reasons: Vec<String>,
    pub new_reasons: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Impact {
    /// Sorted by action, principal, resource.
    pub flips: Vec<Flip>,
    pub evaluated: usize,
    pub skipped: Vec<Skipped>,
}

impl Impact {
    pub fn widens(&self) -> bool {
        self.flips.iter().any(|f| f.new == Decision::Allow)
    }
}

/// `diff --impact`: every request of the snapshot (as the project's schema
/// allows them) that `old_policies` and the project's decide differently.
pub fn impact(
    project: &Project,
    old_policies: &cedar_policy::PolicySet,
    entities: &Entities,
    query: &Query,
) -> Result<Impact, Error> {
    let (schema, requests) = requests(project, entities, query)?;
    let (old_runner, new_runner) = (
        Runner::with_policies(project, old_policies),
        Runner::new(project),
    );
    let mut flips = evaluate(schema, &requests, |request, principal, action, resource| {
        let (old, old_reasons, _) = old_runner.decide(&request, entities);
        let (new, new_reasons, _) = new_runner.decide(&request, entities);
        (old != new).then(|| Flip {
            principal: principal.clone(),
            action: action.clone(),
            resource: resource.clone(),
            old,
            new,
            old_reasons,
            new_reasons,
        })
    });
    flips.sort_by_cached_key(|f| {
        (
            f.action.to_string(),
            f.principal.to_string(),
            f.resource.to_string(),
        )
    });
    Ok(Impact {
        evaluated: requests.count(),
        flips,
        skipped: requests.skipped,
    })
}

/// `--context` as given: a JSON object (duplicate keys refused), `{}` when
/// absent.
pub fn parse_context(text: Option<&str>) -> Result<serde_json::Value, Error> {
    match text.map(crate::strict_json::from_str) {
        None => Ok(serde_json::Value::Object(Default::default())),
        Some(Ok(value @ serde_json::Value::Object(_))) => Ok(value),
        Some(Ok(_)) => Err(Error::Usage("--context must be a JSON object".into())),
        Some(Err(err)) => Err(Error::Usage(format!("--context is not JSON: {err}"))),
    }
}

#[derive(Clone, Copy)]
enum Side {
    Principal,
    Resource,
}

/// The principals (or resources) a request on `action` can have: the
/// fixed one when its type is allowed, else every entity of the snapshot
/// of an allowed type.
fn candidates(
    schema: &Schema,
    entities: &Entities,
    action: &EntityUid,
    fixed: Option<&EntityUid>,
    side: Side,
) -> Vec<EntityUid> {
    let allowed: Vec<&cedar_policy::EntityTypeName> = match side {
        Side::Principal => schema.principals_for_action(action).map(Iterator::collect),
        Side::Resource => schema.resources_for_action(action).map(Iterator::collect),
    }
    .unwrap_or_default();
    match fixed {
        Some(uid) if allowed.contains(&uid.type_name()) => vec![uid.clone()],
        Some(_) => Vec::new(),
        None => {
            let mut found: Vec<EntityUid> = entities
                .iter()
                .map(|e| e.uid())
                .filter(|uid| allowed.contains(&uid.type_name()))
                .collect();
            found.sort_by_cached_key(ToString::to_string);
            found
        }
    }
}
