//! Evaluating checks with Cedar's authorizer, in parallel, in a
//! deterministic order.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request, Schema,
};
use rayon::prelude::*;

use super::memo::{self, Memo, PolicyReads};
use super::outcome::{CaseOutcome, PolicyError, Status};
use super::slicer::Slicer;
use super::suite::Check;
use crate::project::Project;

/// A check ready to run: which suite it belongs to and its entities.
pub struct Prepared {
    pub suite: usize,
    pub check: Arc<Check>,
    /// `Err` when the entity data could not be built (reported apart). For
    /// a token case, without what the token derives: that is added per
    /// case ([`Prepared::case_entities`]), so the suite's data is built
    /// once however many tokens its cases give.
    pub entities: Result<Arc<Entities>, String>,
    /// Why AVP refuses the case's token, before any evaluation.
    pub refusal: Option<crate::identity::Refusal>,
    /// The entity data with the token's principal and groups, built ahead
    /// for a token that several cases give (see [`Prepared::case_entities`]).
    pub with_token: Option<Arc<Entities>>,
}

impl Prepared {
    /// The entity data the case is evaluated with: the suite's and its
    /// own, and the principal and groups its token derives. A token only
    /// this case gives is added here, when the case runs, so that its
    /// entity set lives only while the case does.
    pub fn case_entities(&self, schema: Option<&Schema>) -> Result<Arc<Entities>, String> {
        if let Some(ready) = &self.with_token {
            return Ok(Arc::clone(ready));
        }
        let base = self.entities.clone()?;
        let Some(Ok(derived)) = self.check.token.as_ref().map(|t| &t.derived) else {
            return Ok(base);
        };
        Entities::clone(&base)
            .add_entities_from_json_value(derived.as_ref().clone(), schema)
            .map(Arc::new)
            .map_err(|err| {
                format!(
                    "the token's principal does not match the schema: {}",
                    crate::diagnostic::message_with_causes(&err)
                )
            })
    }
}

pub struct Runner<'a> {
    project: &'a Project,
    slicer: Slicer,
    authorizer: Authorizer,
    /// Contexts already read by the schema, by action, `validate_request`
    /// and JSON text: suites repeat a few contexts over many cases, and
    /// Cedar's reading of one costs more than the case's evaluation.
    contexts: RwLock<FastMap<ContextKey, Context>>,
    /// What each policy reads, for the memos.
    reads: PolicyReads,
    /// Cedar's outcomes by what the policies read (module `memo`), per
    /// entity set of a suite, action and context: a suite's cases ask
    /// about the same policies on entities they do not tell apart. Keyed
    /// by the entity set's address, which the kept `Arc` holds.
    memos: RwLock<FastMap<MemoKey, KeptMemo>>,
}

/// An entity set's address, and the action and context.
type MemoKey = (usize, ContextKey);

/// A memo, with the entity set whose address keys it (kept, so that the
/// address is not reused while the memo is).
type KeptMemo = (Arc<Entities>, Arc<Memo>);

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

type ContextKey = (EntityUid, bool, String);

/// Bound on remembered contexts and memos, so memory stays flat.
const CONTEXT_CACHE_LIMIT: usize = 4096;

impl Drop for Runner<'_> {
    /// A large run's memos hold many small maps, and freeing them took a
    /// tenth of a 100,000-case run on one core: they are freed on the
    /// thread pool, off the caller's path.
    fn drop(&mut self) {
        if let Ok(memos) = self.memos.get_mut() {
            let memos = std::mem::take(memos);
            rayon::spawn(move || drop(memos));
        }
    }
}

impl<'a> Runner<'a> {
    pub fn new(project: &'a Project) -> Runner<'a> {
        Runner::with_policies(project, &project.policy_set)
    }

    /// Evaluates the project's cases against another policy set (the other
    /// side of a diff).
    pub fn with_policies(project: &'a Project, policies: &PolicySet) -> Runner<'a> {
        let slicer = Slicer::new(policies);
        Runner {
            project,
            reads: PolicyReads::new(&slicer),
            slicer,
            authorizer: Authorizer::new(),
            contexts: RwLock::new(HashMap::default()),
            memos: RwLock::new(HashMap::default()),
        }
    }

    /// Runs every check; with `fail_fast`, stops after the first failure
    /// (in report order) and returns the outcomes up to it.
    pub fn run(
        &self,
        prepared: &[Prepared],
        fail_fast: bool,
        events: &dyn super::events::Events,
    ) -> Vec<CaseOutcome> {
        let evaluate = |p: &Prepared| {
            let outcome = self.evaluate(p);
            events.event(super::events::Event::CaseFinished { outcome: &outcome });
            outcome
        };
        if !fail_fast {
            return prepared.par_iter().map(evaluate).collect();
        }
        let mut outcomes = Vec::new();
        for chunk in prepared.chunks(256) {
            let results: Vec<CaseOutcome> = chunk.par_iter().map(evaluate).collect();
            if let Some(first_failure) = results.iter().position(|o| !o.passed()) {
                outcomes.extend(results.into_iter().take(first_failure + 1));
                return outcomes;
            }
            outcomes.extend(results);
        }
        outcomes
    }

    pub fn evaluate(&self, prepared: &Prepared) -> CaseOutcome {
        let started = Instant::now();
        let check: &Check = &prepared.check;
        let mut outcome = CaseOutcome {
            suite: prepared.suite,
            check: Arc::clone(&prepared.check),
            status: Status::Fail,
            decision: None,
            reasons: Vec::new(),
            errors: Vec::new(),
            failures: Vec::new(),
            involved: Vec::new(),
            refusal: None,
            store: None,
            duration: Default::default(),
        };
        if let Some(refusal) = &prepared.refusal {
            outcome.failures = refusal_failures(check, refusal);
            outcome.refusal = Some(refusal.clone());
            if outcome.failures.is_empty() {
                outcome.status = Status::Pass;
            }
            outcome.duration = started.elapsed();
            return outcome;
        }
        let entities = prepared.case_entities(self.project.schema());
        let result = match &entities {
            Ok(entities) => {
                // The suite's own entity set, shared by its cases (not one
                // a token adds to for this case alone).
                let shared = prepared
                    .entities
                    .as_ref()
                    .is_ok_and(|base| Arc::ptr_eq(base, entities));
                self.authorize(check, entities, shared)
            }
            Err(message) => Err(format!("entity data could not be loaded: {message}")),
        };
        match result {
            Ok((decision, reasons, errors)) => {
                outcome.decision = Some(decision);
                outcome.reasons = reasons;
                outcome.errors = errors;
                outcome.failures = self.compare(check, &outcome);
            }
            Err(failure) => outcome.failures.push(failure),
        }
        if outcome.failures.is_empty() {
            outcome.status = Status::Pass;
        } else if let Ok(entities) = &entities {
            outcome.involved = [&check.principal, &check.resource]
                .into_iter()
                .map(|uid| {
                    let data = entities.get(uid).and_then(|e| e.to_json_value().ok());
                    (uid.to_string(), data)
                })
                .collect();
        }
        outcome.duration = started.elapsed();
        outcome
    }

    fn authorize(
        &self,
        check: &Check,
        entities: &Arc<Entities>,
        shared: bool,
    ) -> Result<(Decision, Vec<String>, Vec<PolicyError>), String> {
        let schema = self.project.schema();
        let key: ContextKey = (
            check.action.clone(),
            check.validate_request,
            check.context.to_string(),
        );
        let context = self.context(&key, check)?;
        let request = Request::new(
            check.principal.clone(),
            check.action.clone(),
            check.resource.clone(),
            context,
            schema.filter(|_| check.validate_request),
        )
        .map_err(|err| {
            format!(
                "the request does not conform to the schema: {} (set `validate_request: false` to evaluate it anyway)",
                crate::diagnostic::message_with_causes(&err)
            )
        })?;
        if !shared {
            return Ok(self.decide(&request, entities));
        }
        let memo = self.memo(entities, key);
        let bits = self
            .slicer
            .bits(&check.principal, &check.action, &check.resource, entities);
        let decided = memo::decide(
            &memo,
            &self.slicer,
            &bits,
            (&check.principal, &check.resource, entities),
            |bits| (!bits.is_empty()).then(|| self.slicer.policy_set(bits)),
            |policies| self.decide_with(&request, policies, entities),
        );
        Ok((decided.decision, decided.reasons, decided.errors))
    }

    /// The memo of the cases on `entities` with the action and context of
    /// `key`.
    fn memo(&self, entities: &Arc<Entities>, key: ContextKey) -> Arc<Memo> {
        let key = (Arc::as_ptr(entities) as usize, key);
        if let Some((_, memo)) = self.memos.read().ok().and_then(|m| m.get(&key).cloned()) {
            return memo;
        }
        let action_bits = self.slicer.action_bits(&key.1.0, entities);
        let Ok(mut memos) = self.memos.write() else {
            return Arc::new(self.reads.memo(&self.slicer, &action_bits));
        };
        if memos.len() >= CONTEXT_CACHE_LIMIT {
            memos.clear();
        }
        let (_, memo) = memos.entry(key).or_insert_with(|| {
            let memo = self.reads.memo(&self.slicer, &action_bits);
            (Arc::clone(entities), Arc::new(memo))
        });
        Arc::clone(memo)
    }

    /// Cedar's decision on `request`, asking Cedar's authorizer with only
    /// the policies whose scope matches (none: deny, without asking).
    /// Determining policies and errors come back sorted.
    pub fn decide(
        &self,
        request: &Request,
        entities: &Entities,
    ) -> (Decision, Vec<String>, Vec<PolicyError>) {
        let (Some(principal), Some(action), Some(resource)) =
            (request.principal(), request.action(), request.resource())
        else {
            return (Decision::Deny, Vec::new(), Vec::new());
        };
        let policies = self.slicer.slice(principal, action, resource, entities);
        self.decide_with(request, &policies, entities)
    }

    /// The scope index the runner slices with, for callers that walk many
    /// requests and reuse the principal's or the action's part of it.
    pub fn slicer(&self) -> &Slicer {
        &self.slicer
    }

    /// Cedar's decision on `request` with `policies`, which must hold every
    /// policy whose scope matches it (a slice of [`Runner::slicer`]).
    pub fn decide_with(
        &self,
        request: &Request,
        policies: &PolicySet,
        entities: &Entities,
    ) -> (Decision, Vec<String>, Vec<PolicyError>) {
        if policies.is_empty() {
            return (Decision::Deny, Vec::new(), Vec::new());
        }
        let response = self.authorizer.is_authorized(request, policies, entities);
        let mut reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        reasons.sort();
        let mut errors: Vec<PolicyError> = response
            .diagnostics()
            .errors()
            .map(|e| {
                let cedar_policy::AuthorizationError::PolicyEvaluationError(inner) = e;
                PolicyError {
                    policy: inner.policy_id().to_string(),
                    message: crate::diagnostic::message_with_causes(inner.inner()),
                }
            })
            .collect();
        errors.sort_by(|a, b| a.policy.cmp(&b.policy));
        (response.decision(), reasons, errors)
    }

    /// [`context`], remembered.
    fn context(&self, key: &ContextKey, check: &Check) -> Result<Context, String> {
        if let Some(known) = self.contexts.read().ok().and_then(|c| c.get(key).cloned()) {
            return Ok(known);
        }
        let read = context(check, self.project.schema())?;
        if let Ok(mut contexts) = self.contexts.write() {
            if contexts.len() >= CONTEXT_CACHE_LIMIT {
                contexts.clear();
            }
            contexts.insert(key.clone(), read.clone());
        }
        Ok(read)
    }

    /// Every way the outcome differs from the expectation.
    fn compare(&self, check: &Check, outcome: &CaseOutcome) -> Vec<String> {
        let mut failures = Vec::new();
        if outcome.decision != check.expect.decision() {
            failures.push(format!(
                "expected {}, got {}",
                describe_expectation(check),
                outcome
                    .decision
                    .map_or("no decision", crate::text::decision_name)
            ));
        }
        if let Some(expected) = &check.reasons {
            let actual: BTreeSet<String> = outcome.reasons.iter().cloned().collect();
            if &actual != expected {
                failures.push(set_difference("determining policies", expected, &actual));
                failures.extend(self.unknown_ids(expected));
            }
        }
        let actual_errors = outcome.error_ids();
        match &check.errors {
            Some(expected) if &actual_errors != expected => {
                failures.push(set_difference("erroring policies", expected, &actual_errors));
                failures.extend(self.unknown_ids(expected));
            }
            None if !actual_errors.is_empty() => failures.push(format!(
                "policies raised evaluation errors: {} (list them in `errors:` if they are expected)",
                actual_errors.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
            _ => {}
        }
        failures
    }

    fn unknown_ids<'b>(&self, ids: &'b BTreeSet<String>) -> impl Iterator<Item = String> + 'b
    where
        'a: 'b,
    {
        let project = self.project;
        ids.iter().filter(move |id| !project.knows(id) || project.policy(id).is_some_and(|p| p.kind == crate::project::PolicyKind::Template)).map(move |id| {
            if project.policy(id).is_some() {
                format!("`{id}` is a template: templates are never evaluated; name the id of a link instead")
            } else {
                let hint = crate::suggest::closest(id, project.ids())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                format!("`{id}` is not a policy id of the project{hint}")
            }
        })
    }
}

/// How a case whose token AVP refuses differs from its expectation.
fn refusal_failures(check: &Check, refusal: &crate::identity::Refusal) -> Vec<String> {
    if check.expect != super::suite::Expected::Refused {
        return vec![format!(
            "expected {}, but AVP refuses the token: {refusal}",
            check.expect.as_str()
        )];
    }
    match &check.refusal {
        Some(code) if code != refusal.code => vec![format!(
            "expected the refusal `{code}`, but the token is refused for another reason: {refusal}"
        )],
        _ => Vec::new(),
    }
}

fn describe_expectation(check: &Check) -> String {
    match &check.refusal {
        Some(code) => format!("the token to be refused ({code})"),
        None if check.expect == super::suite::Expected::Refused => {
            "the token to be refused".to_string()
        }
        None => check.expect.as_str().to_string(),
    }
}

/// The case's context, read by the schema when there is one (as the
/// request will be validated), else as plain Cedar JSON.
pub(crate) fn context(check: &Check, schema: Option<&Schema>) -> Result<Context, String> {
    if let Some(schema) = schema
        && check.validate_request
        && !schema.actions().any(|a| a == &check.action)
    {
        let declared: Vec<String> = schema.actions().map(ToString::to_string).collect();
        let hint = crate::suggest::closest(
            &check.action.to_string(),
            declared.iter().map(String::as_str),
        )
        .map(|c| format!(" (did you mean {c}?)"))
        .unwrap_or_default();
        return Err(format!(
            "the action {} is not declared in the schema{hint}",
            check.action
        ));
    }
    let with_schema =
        schema.map(|s| Context::from_json_value(check.context.clone(), Some((s, &check.action))));
    match with_schema {
        Some(Ok(context)) => Ok(context),
        Some(Err(err)) if check.validate_request => Err(format!(
            "the context does not conform to the schema: {}",
            crate::diagnostic::message_with_causes(&err)
        )),
        _ => Context::from_json_value(check.context.clone(), None).map_err(|err| {
            format!(
                "the context is not valid Cedar JSON: {}",
                crate::diagnostic::message_with_causes(&err)
            )
        }),
    }
}

fn set_difference(what: &str, expected: &BTreeSet<String>, actual: &BTreeSet<String>) -> String {
    let show = |set: &BTreeSet<String>| {
        if set.is_empty() {
            "none".to_string()
        } else {
            set.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    let missing: BTreeSet<String> = expected.difference(actual).cloned().collect();
    let extra: BTreeSet<String> = actual.difference(expected).cloned().collect();
    let mut detail = Vec::new();
    if !missing.is_empty() {
        detail.push(format!("missing {}", show(&missing)));
    }
    if !extra.is_empty() {
        detail.push(format!("unexpected {}", show(&extra)));
    }
    format!(
        "{what} differ: expected [{}], got [{}] ({})",
        show(expected),
        show(actual),
        detail.join("; ")
    )
}
