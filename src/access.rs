//! `avpctl access` (docs/access.md): who can do what, answered over an
//! entity snapshot. Any of principal, action and resource may be fixed; the
//! others range over what the schema allows there: every action it
//! declares, and every entity of the snapshot of a type the action takes.
//! Every answer is a decision of Cedar's authorizer, through the test
//! runner's slicing.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use cedar_policy::{
    Context, Decision, Entities, EntityTypeName, EntityUid, PartialEntityUid, Request, Schema,
};
use rayon::prelude::*;

use crate::error::Error;
use crate::project::Project;
use crate::testing::memo::{self, Decided};
use crate::testing::outcome::PolicyError;
use crate::testing::runner::Runner;
use crate::testing::slicer::{PolicyBits, Slicer};
use crate::testing::suite::ResolvedSource;

mod fold;

/// What is asked: `None` ranges over the snapshot (or the schema's actions).
#[derive(Debug, Clone)]
pub struct Query {
    pub principal: Option<EntityUid>,
    pub action: Option<EntityUid>,
    pub resource: Option<EntityUid>,
    /// Cedar JSON, read by the schema's type of each action's context.
    /// `None`: the context is unknown, and each request is answered by
    /// Cedar's partial evaluation ([`review`]).
    pub context: Option<serde_json::Value>,
}

/// One request and Cedar's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub principal: EntityUid,
    pub action: EntityUid,
    pub resource: EntityUid,
    /// `None`: with the context unknown, the decision depends on it
    /// ([`Answer::residuals`] say how).
    pub decision: Option<Decision>,
    /// The determining policies; with the context unknown, the policies
    /// that are satisfied whatever it is.
    pub reasons: Vec<String>,
    pub errors: Vec<PolicyError>,
    /// With the context unknown and no decision: what each policy that
    /// depends on it still requires (Cedar's residual policies).
    pub residuals: Vec<Residual>,
}

/// A policy as Cedar's partial evaluation leaves it: what is still
/// unknown (the context) in its condition.
#[derive(Debug, Clone)]
pub struct Residual {
    pub policy: String,
    pub effect: cedar_policy::Effect,
    /// Cedar's residual policy, as Cedar prints it.
    pub residual: String,
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
    /// Of the evaluated requests, those Cedar decided on the residuals of
    /// policies folded once for many requests ([`Folding`]).
    pub folded: usize,
    /// Of the evaluated requests, those given Cedar's answer on an earlier
    /// request whose policies read the same values (module `memo`).
    pub remembered: usize,
    pub skipped: Vec<Skipped>,
}

impl Answer {
    pub fn is_allowed(&self) -> bool {
        self.decision == Some(Decision::Allow)
    }

    /// The answer to `triple`, with nothing found yet.
    fn of(triple: &Triple, decision: Option<Decision>) -> Answer {
        Answer {
            principal: triple.principal.clone(),
            action: triple.action.clone(),
            resource: triple.resource().clone(),
            decision,
            reasons: Vec::new(),
            errors: Vec::new(),
            residuals: Vec::new(),
        }
    }
}

impl Review {
    pub fn allowed(&self) -> impl Iterator<Item = &Answer> {
        self.answers.iter().filter(|a| a.is_allowed())
    }

    /// Requests allowed or denied depending on the unknown context.
    pub fn conditional(&self) -> impl Iterator<Item = &Answer> {
        self.answers.iter().filter(|a| a.decision.is_none())
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
    let mut loader =
        crate::testing::entities::EntityLoader::new(&root, project.schema()).without_warnings();
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

/// The requests a query covers, action by action.
struct Requests {
    actions: Vec<ActionRequests>,
    skipped: Vec<Skipped>,
    /// The length of each distinct list the actions' resources range over.
    resource_lists: Vec<usize>,
}

/// One action's requests: its context and the principals and resources it
/// ranges over (every pair of them is a request the schema allows).
struct ActionRequests {
    action: EntityUid,
    /// `None` when the context is unknown.
    context: Option<Context>,
    principals: Vec<EntityUid>,
    resources: Listed,
}

/// The resources an action's requests range over. Actions that take the
/// same resources share one list, and what is found for each of its
/// entities (`ScopeCache`).
struct Listed {
    id: usize,
    uids: Arc<[EntityUid]>,
}

impl std::ops::Deref for Listed {
    type Target = [EntityUid];

    fn deref(&self) -> &[EntityUid] {
        &self.uids
    }
}

/// Each listed resource's policies by scope (the slicer's bits for it),
/// found on first use and shared by every request on the resource: "what
/// can P do" over five actions finds them once per resource, not five
/// times, and "who can A on R" once, not once per principal. A list whose
/// bits would take more than [`SCOPE_CACHE_BYTES`] is not kept: its bits
/// are found on each request, as before.
struct ScopeCache<'s> {
    slicer: &'s Slicer,
    lists: Vec<Option<Vec<OnceLock<PolicyBits>>>>,
}

const SCOPE_CACHE_BYTES: usize = 128 << 20;

impl<'s> ScopeCache<'s> {
    fn new(slicer: &'s Slicer, requests: &Requests) -> ScopeCache<'s> {
        ScopeCache::within(slicer, requests, SCOPE_CACHE_BYTES)
    }

    /// A cache that keeps the lists whose bits take at most `bytes`.
    fn within(slicer: &'s Slicer, requests: &Requests, bytes: usize) -> ScopeCache<'s> {
        let bytes_each = 8 * slicer.len().div_ceil(64) + 2 * std::mem::size_of::<PolicyBits>();
        let kept = |len: usize| {
            (len.saturating_mul(bytes_each) <= bytes)
                .then(|| (0..len).map(|_| OnceLock::new()).collect())
        };
        ScopeCache {
            slicer,
            lists: requests
                .resource_lists
                .iter()
                .map(|&len| kept(len))
                .collect(),
        }
    }

    /// The policies whose resource constraint `list`'s resource `at`
    /// satisfies.
    fn resource_bits(&self, list: &Listed, at: usize, entities: &Entities) -> Cow<'_, PolicyBits> {
        let find = || self.slicer.resource_bits(&list[at], entities);
        match &self.lists[list.id] {
            Some(found) => Cow::Borrowed(found[at].get_or_init(find)),
            None => Cow::Owned(find()),
        }
    }
}

impl Requests {
    /// What a fold that leaves `unknown` unknown ranges over, and knows.
    fn fold_unknown(&self, unknown: Side) -> fold::Unknown<'_> {
        let principals = || {
            self.actions
                .iter()
                .map(|a| a.principals.as_slice())
                .collect()
        };
        let resources = || self.actions.iter().map(|a| &a.resources[..]).collect();
        match unknown {
            Side::Principal => fold::Unknown {
                side: principals(),
                known: resources(),
            },
            Side::Resource => fold::Unknown {
                side: resources(),
                known: principals(),
            },
        }
    }

    fn count(&self) -> usize {
        self.actions
            .iter()
            .map(|a| a.principals.len() * a.resources.len())
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
        None => {
            let mut all: Vec<EntityUid> = schema.actions().cloned().collect();
            all.sort_by_cached_key(ToString::to_string);
            all
        }
    };
    let mut found = Requests {
        actions: Vec::new(),
        skipped: Vec::new(),
        resource_lists: Vec::new(),
    };
    let mut lists: Vec<Arc<[EntityUid]>> = Vec::new();
    let sorted = OnceLock::new();
    let sorted = || sorted.get_or_init(|| sorted_uids(entities)).as_slice();
    for action in actions {
        let principals = candidates(
            schema,
            sorted,
            &action,
            query.principal.as_ref(),
            Side::Principal,
        );
        let resources = candidates(
            schema,
            sorted,
            &action,
            query.resource.as_ref(),
            Side::Resource,
        );
        let context = query
            .context
            .as_ref()
            .map(|context| action_context(schema, &action, context, &principals, &resources))
            .transpose();
        match context {
            Ok(context) => found.actions.push(ActionRequests {
                action,
                context,
                principals,
                resources: listed(&mut lists, resources),
            }),
            Err(reason) => found.skipped.push(Skipped { action, reason }),
        }
    }
    found.resource_lists = lists.iter().map(|list| list.len()).collect();
    Ok((schema, found))
}

/// `uids` as a list of `lists`: the one already there with the same
/// entities, or a new one.
fn listed(lists: &mut Vec<Arc<[EntityUid]>>, uids: Vec<EntityUid>) -> Listed {
    let id = match lists.iter().position(|list| list[..] == uids[..]) {
        Some(id) => id,
        None => {
            lists.push(uids.into());
            lists.len() - 1
        }
    };
    Listed {
        id,
        uids: lists[id].clone(),
    }
}

/// The context of `action`'s requests, read by its schema type. Every
/// request of the action has that context and a principal and resource of
/// types the action takes, so when one request conforms to the schema they
/// all do: it is checked once, and the requests are then built without
/// checking each again.
fn action_context(
    schema: &Schema,
    action: &EntityUid,
    context: &serde_json::Value,
    principals: &[EntityUid],
    resources: &[EntityUid],
) -> Result<Context, String> {
    let context =
        Context::from_json_value(context.clone(), Some((schema, action))).map_err(|err| {
            format!(
                "the context does not fit its schema type: {}",
                crate::diagnostic::message_with_causes(&err)
            )
        })?;
    if let (Some(principal), Some(resource)) = (principals.first(), resources.first()) {
        Request::new(
            principal.clone(),
            action.clone(),
            resource.clone(),
            context.clone(),
            Some(schema),
        )
        .map_err(|err| {
            format!(
                "the request does not conform to the schema: {}",
                crate::diagnostic::message_with_causes(&err)
            )
        })?;
    }
    Ok(context)
}

/// One request of an enumeration, built into Cedar's form only when it
/// has to be evaluated.
struct Triple<'r> {
    principal: &'r EntityUid,
    action: &'r EntityUid,
    /// The action's resources, and where the request's is among them.
    resources: &'r Listed,
    resource_at: usize,
    context: Option<&'r Context>,
    /// Built when Cedar is first asked: most requests are answered by
    /// the memo without it.
    request: std::cell::OnceCell<Request>,
}

impl<'r> Triple<'r> {
    fn resource(&self) -> &'r EntityUid {
        &self.resources[self.resource_at]
    }

    /// The policies whose resource constraint the resource satisfies.
    fn resource_bits<'c>(
        &self,
        scopes: &'c ScopeCache,
        entities: &Entities,
    ) -> Cow<'c, PolicyBits> {
        scopes.resource_bits(self.resources, self.resource_at, entities)
    }

    /// The request, with the context given (`{}` if it is unknown; only
    /// partial evaluation takes an unknown one, and it does not ask).
    fn request(&self) -> &Request {
        self.request.get_or_init(|| {
            let context = self.context.cloned().unwrap_or_else(Context::empty);
            // Conformance was checked once for the action (`action_context`).
            Request::new(
                self.principal.clone(),
                self.action.clone(),
                self.resource().clone(),
                context,
                None,
            )
            .expect("a request without a schema has nothing to refuse")
        })
    }
}

/// Walks every request of `requests` in parallel: `for_action` prepares
/// what an action's requests share, `for_principal` what a principal's
/// share (`None`: none of them needs evaluating), and `each` answers one
/// request with both (`None`: nothing to report). The results come in
/// request order (action, then principal, then resource, as `requests`
/// lists them: each sorted by its printed form), so they need no sorting
/// afterwards, which would print every id again.
fn evaluate<A, P, T>(
    requests: &Requests,
    for_action: impl Fn(&ActionRequests) -> A,
    for_principal: impl Fn(&A, &ActionRequests, &EntityUid) -> Option<P> + Sync,
    each: impl Fn(&A, &P, &Triple) -> Option<T> + Sync,
) -> Vec<T>
where
    A: Sync,
    P: Send + Sync,
    T: Send,
{
    let mut found = Vec::new();
    for requested in &requests.actions {
        let shared = for_action(requested);
        let (shared, for_principal, each) = (&shared, &for_principal, &each);
        // Over the pairs, not the principals: "what can P do" has one
        // principal and every resource.
        found.extend(
            requested
                .principals
                .par_iter()
                .filter_map(|principal| {
                    Some((principal, for_principal(shared, requested, principal)?))
                })
                .flat_map(|(principal, prepared)| {
                    (0..requested.resources.len())
                        .into_par_iter()
                        .filter_map(move |resource_at| {
                            let triple = Triple {
                                principal,
                                action: &requested.action,
                                resources: &requested.resources,
                                resource_at,
                                context: requested.context.as_ref(),
                                request: std::cell::OnceCell::new(),
                            };
                            each(shared, &prepared, &triple)
                        })
                })
                .collect::<Vec<T>>(),
        );
    }
    found
}

/// Answers `query` over `entities` with the project's policies. With the
/// context unknown, each request is answered by Cedar's type-aware partial
/// evaluation (`PolicySet::tpe`): a decision where one holds for every
/// context, else the residual policies it depends on.
pub fn review(project: &Project, entities: &Entities, query: &Query) -> Result<Review, Error> {
    review_with(project, entities, query, Folding::default())
}

/// When [`review`] folds the policies of requests that share a principal
/// (or a resource) with Cedar's partial evaluation, evaluating each
/// request on the residuals (module `fold`).
#[derive(Debug, Clone, Copy)]
pub struct Folding {
    /// Fold when at least this many requests share the principal, or
    /// share each of a few resources. Below it, one partial evaluation
    /// costs more than the requests save.
    pub from: usize,
}

impl Default for Folding {
    fn default() -> Folding {
        Folding { from: 64 }
    }
}

/// [`review`], folding as `folding` says.
pub fn review_with(
    project: &Project,
    entities: &Entities,
    query: &Query,
    folding: Folding,
) -> Result<Review, Error> {
    let (schema, requests) = requests(project, entities, query)?;
    let partial = match &query.context {
        Some(_) => None,
        None => Some(partial_entities(project, schema, entities)?),
    };
    let runner = Runner::new(project);
    let slicer = runner.slicer();
    // Folds of a principal's requests (the resource unknown) and of a
    // resource's (the principal unknown).
    let folder = |unknown| {
        fold::LazyFolder::new(
            vec![&project.policy_set],
            schema,
            entities,
            requests.fold_unknown(unknown),
        )
    };
    let (principal_folder, resource_folder) = (folder(Side::Resource), folder(Side::Principal));
    let reads = memo::PolicyReads::new(slicer);
    let scopes = ScopeCache::new(slicer, &requests);
    let folded = std::sync::atomic::AtomicUsize::new(0);
    let remembered = std::sync::atomic::AtomicUsize::new(0);
    let answers = evaluate(
        &requests,
        |requested| {
            let bits = slicer.action_bits(&requested.action, entities);
            let folds = resource_folder
                .when(
                    folds_by_resource(requested, folding),
                    requested.context.as_ref(),
                )
                .map_or_else(Vec::new, |(folder, context)| {
                    resource_folds(schema, folder, slicer, &bits, requested, context, entities)
                });
            let memo = reads.lazy(slicer, &bits);
            (bits, folds, memo)
        },
        |(action_bits, resource_folds, _), requested, principal| {
            let bits = action_bits.and(&slicer.principal_bits(principal, entities));
            if bits.is_empty() {
                return None;
            }
            let worth_it = resource_folds.is_empty() && requested.resources.len() >= folding.from;
            let folds = principal_folder
                .when(worth_it, requested.context.as_ref())
                .map_or_else(Vec::new, |(folder, context)| {
                    principal_folds(schema, folder, slicer, &bits, principal, requested, context)
                });
            Some((bits, folds))
        },
        |(_, resource_folds, memo), (principal_bits, folds), triple| {
            let bits = principal_bits.and(&triple.resource_bits(&scopes, entities));
            // No policy's scope matches: Cedar denies, and nothing errs.
            if bits.is_empty() {
                return None;
            }
            let answer = match &partial {
                Some(partial) => partially(&slicer.policy_set(&bits), triple, schema, partial),
                None => {
                    let fold = fold_for(
                        resource_folds,
                        triple.resource(),
                        triple.principal.type_name(),
                    )
                    .or_else(|| fold_for(folds, triple.principal, triple.resource().type_name()));
                    if fold.is_some() {
                        folded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let decided = decided(&runner, slicer, &bits, fold, memo, triple, entities);
                    if decided.remembered {
                        remembered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Answer {
                        reasons: decided.reasons,
                        errors: decided.errors,
                        ..Answer::of(triple, Some(decided.decision))
                    }
                }
            };
            (answer.decision != Some(Decision::Deny) || !answer.errors.is_empty()).then_some(answer)
        },
    );
    Ok(Review {
        evaluated: requests.count(),
        folded: folded.into_inner(),
        remembered: remembered.into_inner(),
        answers,
        skipped: requests.skipped,
    })
}

/// A fold of one known entity's slice, for the requests whose other side
/// is of one type: (the known entity, the other side's type, the fold).
type Fold = (EntityUid, EntityTypeName, fold::Folded);

/// The fold of `known`'s slice for requests whose other side is of type
/// `unknown`.
fn fold_for<'f>(
    folds: &'f [Fold],
    known: &EntityUid,
    unknown: &EntityTypeName,
) -> Option<&'f fold::Folded> {
    folds
        .iter()
        .find(|(entity, type_name, _)| entity == known && type_name == unknown)
        .map(|(_, _, fold)| fold)
}

/// Whether an action's requests are folded per resource (a few resources,
/// many principals: "who can A on R") rather than per principal.
fn folds_by_resource(requested: &ActionRequests, folding: Folding) -> bool {
    requested.resources.len() <= FEW_RESOURCES && requested.principals.len() >= folding.from
}

const FEW_RESOURCES: usize = 4;

/// The principal's slice `bits` folded for each resource type of the
/// action (those Cedar cannot fold are left out).
fn principal_folds(
    schema: &Schema,
    folder: &fold::Folder,
    slicer: &Slicer,
    bits: &PolicyBits,
    principal: &EntityUid,
    requested: &ActionRequests,
    context: &Context,
) -> Vec<Fold> {
    let types = schema.resources_for_action(&requested.action);
    types
        .into_iter()
        .flatten()
        .filter_map(|type_name| {
            let folded = folder.fold(
                slicer,
                bits,
                PartialEntityUid::from_concrete(principal.clone()),
                &requested.action,
                PartialEntityUid::new(type_name.clone(), None),
                context,
            )?;
            Some((principal.clone(), type_name.clone(), folded))
        })
        .collect()
}

/// Each resource's slice of the action (`bits`) folded for each principal
/// type of the action.
fn resource_folds(
    schema: &Schema,
    folder: &fold::Folder,
    slicer: &Slicer,
    bits: &PolicyBits,
    requested: &ActionRequests,
    context: &Context,
    entities: &Entities,
) -> Vec<Fold> {
    let types: Vec<&EntityTypeName> = schema
        .principals_for_action(&requested.action)
        .into_iter()
        .flatten()
        .collect();
    let mut folds = Vec::new();
    for resource in requested.resources.iter() {
        let bits = bits.and(&slicer.resource_bits(resource, entities));
        for type_name in &types {
            let folded = folder.fold(
                slicer,
                &bits,
                PartialEntityUid::new((*type_name).clone(), None),
                &requested.action,
                PartialEntityUid::from_concrete(resource.clone()),
                context,
            );
            if let Some(folded) = folded {
                folds.push((resource.clone(), (*type_name).clone(), folded));
            }
        }
    }
    folds
}

/// Cedar's decision on `triple`'s request, whose slice is `bits`, with the
/// determining policies and the errors: on the residuals when the policies
/// are folded, and in full when they are not or when a residual errs (for
/// Cedar's own error message). Either way, the policies the memo knows to
/// be false on the request are left out first, and Cedar's answer on a
/// request that read the same values is given again (module `memo`).
fn decided(
    runner: &Runner,
    slicer: &Slicer,
    bits: &PolicyBits,
    folded: Option<&fold::Folded>,
    memo: &memo::LazyMemo,
    triple: &Triple,
    entities: &Entities,
) -> Decided {
    let set_of = |bits: &PolicyBits| match folded {
        Some(folded) => folded.residuals(slicer, bits),
        None => (!bits.is_empty()).then(|| slicer.policy_set(bits)),
    };
    // A fold's memo knows its live residuals only: the others are false.
    let (memo, bits) = match folded {
        Some(folded) => (folded.memo(), &folded.live_of(bits)),
        None => (memo.get(), bits),
    };
    let decided = memo::decide(
        memo,
        slicer,
        bits,
        (triple.principal, triple.resource(), entities),
        set_of,
        |policies| runner.decide_with(triple.request(), policies, entities),
    );
    if decided.errors.is_empty() || folded.is_none() {
        return decided;
    }
    // A residual erred: Cedar's own message comes from the policies.
    let answer = runner.decide_with(
        triple.request(),
        &slicer.policy_set(&decided.live),
        entities,
    );
    Decided::by_cedar(answer, decided.live)
}

/// The snapshot as Cedar's partial evaluation takes it, after checking
/// that it applies: partial evaluation is sound only for policies that
/// validate against the schema (strict mode).
fn partial_entities(
    project: &Project,
    schema: &Schema,
    entities: &Entities,
) -> Result<cedar_policy::PartialEntities, Error> {
    if !fold::strictly_valid(&project.policy_set, schema) {
        return Err(Error::Usage(
            "without --context, `access` answers with Cedar's partial evaluation, which needs policies that validate against the schema (run `avpctl validate`); give --context for plain answers".into(),
        ));
    }
    cedar_policy::PartialEntities::from_concrete(Entities::clone(entities), schema).map_err(|err| {
        Error::Usage(format!(
            "the entity snapshot does not suit partial evaluation: {}; give --context for plain answers",
            crate::diagnostic::message_with_causes(&err)
        ))
    })
}

/// Cedar's partial evaluation of one request whose context is unknown.
fn partially(
    policies: &cedar_policy::PolicySet,
    triple: &Triple,
    schema: &Schema,
    entities: &cedar_policy::PartialEntities,
) -> Answer {
    use cedar_policy::PartialRequest;
    let mut answer = Answer::of(triple, Some(Decision::Deny));
    let failed = |mut answer: Answer, message: String| {
        answer.errors.push(PolicyError {
            policy: String::new(),
            message: format!("Cedar's partial evaluation failed: {message}"),
        });
        answer
    };
    let request = match PartialRequest::new(
        PartialEntityUid::from_concrete(triple.principal.clone()),
        triple.action.clone(),
        PartialEntityUid::from_concrete(triple.resource().clone()),
        None,
        schema,
    ) {
        Ok(request) => request,
        Err(err) => return failed(answer, crate::diagnostic::message_with_causes(&err)),
    };
    let response = match policies.tpe(&request, entities, schema) {
        Ok(response) => response,
        Err(err) => return failed(answer, crate::diagnostic::message_with_causes(&err)),
    };
    answer.decision = response.decision();
    answer.reasons = match response.reason() {
        Some(reasons) => reasons.map(ToString::to_string).collect(),
        None => response.true_permits().map(ToString::to_string).collect(),
    };
    answer.reasons.sort();
    answer.errors = response
        .error_permits()
        .chain(response.error_forbids())
        .map(|id| PolicyError {
            policy: id.to_string(),
            message: "raises an error whatever the context".into(),
        })
        .collect();
    answer.errors.sort_by(|a, b| a.policy.cmp(&b.policy));
    if answer.decision.is_none() {
        answer.residuals = response
            .residual_policies()
            .map(|policy| Residual {
                policy: policy.id().to_string(),
                effect: policy.effect(),
                residual: policy.to_string(),
            })
            .collect();
        answer.residuals.sort_by(|a, b| a.policy.cmp(&b.policy));
    }
    answer
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
    /// Of the evaluated requests, those decided on both sides' residuals
    /// ([`Folding`]).
    pub folded: usize,
    pub skipped: Vec<Skipped>,
}

impl Impact {
    pub fn widens(&self) -> bool {
        self.flips.iter().any(|f| f.new == Decision::Allow)
    }
}

/// `diff --impact`: every request of the snapshot (as the project's schema
/// allows them) that `old_policies` and the project's decide differently.
///
/// A request is evaluated only when one side's slice holds a policy the
/// other side does not hold unchanged (else both slices are the same
/// policies, and Cedar's answers are equal), one side's slice holds a
/// `permit` (else both deny), and Cedar finds one of those changed
/// policies satisfied (else both sides decide as their shared policies).
pub fn impact(
    project: &Project,
    old_policies: &cedar_policy::PolicySet,
    entities: &Entities,
    query: &Query,
) -> Result<Impact, Error> {
    impact_with(project, old_policies, entities, query, Folding::default())
}

/// [`impact`], folding each side's policies as `folding` says (only per
/// principal: the impact ranges over every principal).
pub fn impact_with(
    project: &Project,
    old_policies: &cedar_policy::PolicySet,
    entities: &Entities,
    query: &Query,
    folding: Folding,
) -> Result<Impact, Error> {
    let (schema, requests) = requests(project, entities, query)?;
    let (old_runner, new_runner) = (
        Runner::with_policies(project, old_policies),
        Runner::new(project),
    );
    let (old, new) = (old_runner.slicer(), new_runner.slicer());
    let old_changed = old.select(|p| !held_unchanged(p, &project.policy_set));
    let new_changed = new.select(|p| !held_unchanged(p, old_policies));
    let folder = fold::LazyFolder::new(
        vec![old_policies, &project.policy_set],
        schema,
        entities,
        requests.fold_unknown(Side::Resource),
    );
    let (old_reads, new_reads) = (memo::PolicyReads::new(old), memo::PolicyReads::new(new));
    let (old_scopes, new_scopes) = (
        ScopeCache::new(old, &requests),
        ScopeCache::new(new, &requests),
    );
    let folded = std::sync::atomic::AtomicUsize::new(0);
    let flips = evaluate(
        &requests,
        |requested| {
            let sides = (
                old.action_bits(&requested.action, entities),
                new.action_bits(&requested.action, entities),
            );
            let memos = (old_reads.lazy(old, &sides.0), new_reads.lazy(new, &sides.1));
            (sides.0, sides.1, memos)
        },
        |(old_action, new_action, _), requested, principal| {
            let sides = (
                old_action.and(&old.principal_bits(principal, entities)),
                new_action.and(&new.principal_bits(principal, entities)),
            );
            if !(sides.0.meets(&old_changed) || sides.1.meets(&new_changed)) {
                return None;
            }
            let worth_it = requested.resources.len() >= folding.from;
            let folds = folder
                .when(worth_it, requested.context.as_ref())
                .map_or_else(Default::default, |(folder, context)| {
                    (
                        principal_folds(
                            schema, folder, old, &sides.0, principal, requested, context,
                        ),
                        principal_folds(
                            schema, folder, new, &sides.1, principal, requested, context,
                        ),
                    )
                });
            Some((sides, folds))
        },
        |(_, _, (old_memo, new_memo)),
         ((old_principal, new_principal), (old_folds, new_folds)),
         triple| {
            let old_bits = old_principal.and(&triple.resource_bits(&old_scopes, entities));
            let new_bits = new_principal.and(&triple.resource_bits(&new_scopes, entities));
            let differs = old_bits.meets(&old_changed) || new_bits.meets(&new_changed);
            if !differs || !(old.any_permit(&old_bits) || new.any_permit(&new_bits)) {
                return None;
            }
            let resource_type = triple.resource().type_name();
            let old_fold = fold_for(old_folds, triple.principal, resource_type);
            let new_fold = fold_for(new_folds, triple.principal, resource_type);
            if old_fold.is_some() && new_fold.is_some() {
                folded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            // Cedar evaluates each policy on its own: when no changed
            // policy of either side is satisfied, each side decides as the
            // policies both hold unchanged do, and the decisions are equal.
            let any_satisfied = |runner, slicer, bits: &PolicyBits, fold, memo| {
                let decided = decided(runner, slicer, bits, fold, memo, triple, entities);
                decided.decision == Decision::Allow || !decided.reasons.is_empty()
            };
            if !any_satisfied(
                &old_runner,
                old,
                &old_bits.and(&old_changed),
                old_fold,
                old_memo,
            ) && !any_satisfied(
                &new_runner,
                new,
                &new_bits.and(&new_changed),
                new_fold,
                new_memo,
            ) {
                return None;
            }
            let old_side = decided(
                &old_runner,
                old,
                &old_bits,
                old_fold,
                old_memo,
                triple,
                entities,
            );
            let new_side = decided(
                &new_runner,
                new,
                &new_bits,
                new_fold,
                new_memo,
                triple,
                entities,
            );
            (old_side.decision != new_side.decision).then(|| Flip {
                principal: triple.principal.clone(),
                action: triple.action.clone(),
                resource: triple.resource().clone(),
                old: old_side.decision,
                new: new_side.decision,
                old_reasons: old_side.reasons,
                new_reasons: new_side.reasons,
            })
        },
    );
    Ok(Impact {
        evaluated: requests.count(),
        folded: folded.into_inner(),
        flips,
        skipped: requests.skipped,
    })
}

/// Whether `policies` holds `policy` as it is: same id, same policy
/// (Cedar's equality of the parsed policy, links with their values).
fn held_unchanged(policy: &cedar_policy::Policy, policies: &cedar_policy::PolicySet) -> bool {
    policies.policy(policy.id()) == Some(policy)
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
fn candidates<'e>(
    schema: &Schema,
    sorted: impl Fn() -> &'e [EntityUid],
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
        None => sorted()
            .iter()
            .filter(|uid| allowed.contains(&uid.type_name()))
            .cloned()
            .collect(),
    }
}

/// Every entity of the snapshot, in the order of their printed UIDs (the
/// order requests are enumerated and answered in), sorted once for all
/// actions and both sides.
fn sorted_uids(entities: &Entities) -> Vec<EntityUid> {
    let mut all: Vec<EntityUid> = entities.iter().map(|e| e.uid()).collect();
    all.par_sort_by_cached_key(ToString::to_string);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each resource gets the slicer's own bits, from a kept list and
    /// from one too large to keep, in any order of asking.
    #[test]
    fn scope_cache_gives_each_resource_the_slicers_bits() {
        let policies: cedar_policy::PolicySet = r#"
            permit(principal, action, resource in F::"a");
            permit(principal, action, resource == D::"d2");
            permit(principal, action, resource);
            forbid(principal, action, resource in F::"b");
        "#
        .parse()
        .unwrap();
        let slicer = Slicer::new(&policies);
        let entities = Entities::from_json_value(
            serde_json::json!([
                {"uid": {"type": "F", "id": "a"}, "attrs": {}, "parents": []},
                {"uid": {"type": "F", "id": "b"}, "attrs": {}, "parents": [{"type": "F", "id": "a"}]},
                {"uid": {"type": "D", "id": "d1"}, "attrs": {}, "parents": [{"type": "F", "id": "b"}]},
                {"uid": {"type": "D", "id": "d2"}, "attrs": {}, "parents": []},
                {"uid": {"type": "D", "id": "d3"}, "attrs": {}, "parents": [{"type": "F", "id": "a"}]}
            ]),
            None,
        )
        .unwrap();
        let uids: Vec<EntityUid> = ["d1", "d2", "d3", "d4"]
            .iter()
            .map(|id| format!(r#"D::"{id}""#).parse().unwrap())
            .collect();
        let mut lists = Vec::new();
        let list = listed(&mut lists, uids.clone());
        assert_eq!(listed(&mut lists, uids.clone()).id, list.id, "one list");
        let requests = Requests {
            actions: Vec::new(),
            skipped: Vec::new(),
            resource_lists: vec![list.len()],
        };
        let kept = ScopeCache::new(&slicer, &requests);
        let unkept = ScopeCache::within(&slicer, &requests, 0);
        assert!(kept.lists[0].is_some() && unkept.lists[0].is_none());
        for at in [2, 0, 3, 1, 2, 0] {
            let expected = slicer.resource_bits(&uids[at], &entities);
            assert_eq!(*kept.resource_bits(&list, at, &entities), expected);
            assert_eq!(*unkept.resource_bits(&list, at, &entities), expected);
        }
        // d1 is below F::"b" and F::"a": both scopes match, and the
        // unscoped policy.
        assert_eq!(kept.resource_bits(&list, 0, &entities).indices().count(), 3);
    }
}
