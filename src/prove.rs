//! `avpctl diff --prove`: for every request environment (principal type ×
//! action × resource type) of the old and the new schema, whether the new
//! side allows exactly what the old one allows, only less, only more, or
//! both — proven for *every* request the schemas allow, with Cedar's
//! symbolic compiler (`cedar-policy-symcc`) and the cvc5 SMT solver. Where
//! access changes, a concrete request shows it, re-checked with the plain
//! authorizer and printed as a test case.
//!
//! An environment that only one schema has is access that appears or
//! disappears with the schema: AVP in STRICT mode refuses a request that
//! does not conform to the store's schema, so a request valid only under
//! the new schema and allowed by the new policies is new access.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cedar_policy::{
    Authorizer, Decision, Entities, EntityUid, Policy, PolicyId, PolicySet, Request, RequestEnv,
    Schema, ValidationMode, Validator,
};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicySet, Env};
use serde_json::{Value, json};

/// What one environment's two sides do relative to each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Equivalent,
    /// The new side allows a subset of what the old one allowed.
    Narrows,
    /// The new side allows a superset.
    Widens,
    /// Some requests gain access, others lose it.
    Both,
    /// The solver could not decide (e.g. the time limit), or what it found
    /// did not hold up when Cedar's authorizer re-checked it.
    Unknown(String),
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Equivalent => "equivalent",
            Verdict::Narrows => "narrows",
            Verdict::Widens => "widens",
            Verdict::Both => "changes both ways",
            Verdict::Unknown(_) => "unknown",
        }
    }

    /// Whether a CI gate against new access must fail on it.
    pub fn may_widen(&self) -> bool {
        matches!(self, Verdict::Widens | Verdict::Both | Verdict::Unknown(_))
    }
}

/// Which schemas have a request environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Both,
    /// Only the new schema: its requests were refused before.
    OnlyNew,
    /// Only the old schema: its requests are refused now.
    OnlyOld,
}

impl Presence {
    /// The value of `in_schema` in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Both => "both",
            Presence::OnlyNew => "new",
            Presence::OnlyOld => "old",
        }
    }
}

/// A request whose decision differs, with everything to replay it.
#[derive(Debug, Clone)]
pub struct Counterexample {
    pub principal: EntityUid,
    pub action: EntityUid,
    pub resource: EntityUid,
    pub context: Value,
    /// Entity JSON, sorted, without action entities (the schema has them).
    pub entities: Vec<Value>,
    /// `None`: the request does not conform to that side's schema (Cedar's
    /// `Request::new` refuses it), so AVP in STRICT mode would refuse it.
    pub old: Option<Decision>,
    pub new: Option<Decision>,
    pub old_reasons: Vec<String>,
    pub new_reasons: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct EnvResult {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub presence: Presence,
    pub verdict: Verdict,
    /// False when no relevant policy changed (equivalent by construction).
    pub solved: bool,
    pub duration: Duration,
    pub newly_allowed: Option<Counterexample>,
    pub newly_denied: Option<Counterexample>,
}

#[derive(Debug, Clone)]
pub struct Proof {
    pub envs: Vec<EnvResult>,
    pub duration: Duration,
}

impl Proof {
    pub fn may_widen(&self) -> bool {
        self.envs.iter().any(|e| e.verdict.may_widen())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error(
        "--prove needs the cvc5 SMT solver: install it (`apt-get install cvc5`, or a release from https://github.com/cvc5/cvc5/releases) or set CVC5=/path/to/cvc5"
    )]
    NoSolver,
    #[error("--prove needs a schema: the proof covers every request the schema allows")]
    NoSchema,
    #[error(
        "--prove needs policies that pass strict validation; the {side} policies have {errors} error(s) against the {schema} schema (run `avpctl validate`): {first}"
    )]
    NotValid {
        side: &'static str,
        /// Which schema they were validated against: "old" or "project's".
        schema: &'static str,
        errors: usize,
        first: String,
    },
    #[error("the old side's schema is not a schema Cedar reads: {0}")]
    OldSchema(String),
    #[error("the symbolic compiler failed for {env}: {message}")]
    Compile { env: String, message: String },
    #[error("the solver failed: {0}")]
    Solver(String),
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Limit for one solver query.
    pub query_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            query_timeout: Duration::from_secs(60),
        }
    }
}

/// One side of the comparison: its policies and, when it has one, its own
/// schema (`None`: judged under the other side's schema).
#[derive(Clone, Copy)]
pub struct SideRef<'a> {
    pub policies: &'a PolicySet,
    pub schema: Option<&'a Schema>,
}

/// Compares `old` and `new` in every request environment of their
/// schemas. The new side must have a schema; an old side without one is
/// compared under the new schema (it had no environments of its own).
/// Runs on its own thread: the symbolic encoder recurses deeply on big sets.
pub fn prove(old: SideRef<'_>, new: SideRef<'_>, options: Options) -> Result<Proof, ProveError> {
    let new_schema = new.schema.ok_or(ProveError::NoSchema)?.clone();
    let old_schema = old.schema.cloned();
    let (old, new) = (old.policies.clone(), new.policies.clone());
    std::thread::Builder::new()
        .name("prove".into())
        .stack_size(512 * 1024 * 1024)
        .spawn(move || prove_here(&old, old_schema.as_ref(), &new, &new_schema, options))
        .map_err(|err| ProveError::Solver(err.to_string()))?
        .join()
        .unwrap_or_else(|_| Err(ProveError::Solver("the proof stopped unexpectedly".into())))
}

/// A side made ready: links inlined, and per environment of its own
/// schema the policies that can apply there.
struct Prepared {
    set: PolicySet,
    relevant: BTreeMap<RequestEnv, Vec<(String, PolicyId)>>,
}

impl Prepared {
    fn new(set: &PolicySet, schema: &Schema) -> Prepared {
        let set = inline_links(set);
        let relevant = relevant(&set, schema);
        Prepared { set, relevant }
    }

    /// The policies that can apply in `env`, as a set of their own.
    /// Cedar's validator says the others are false for every request of
    /// `env`, so leaving them out changes no decision there; it keeps a
    /// policy about an action the other schema lacks from stopping the
    /// compilation of an environment it has nothing to do with.
    fn subset(&self, env: &RequestEnv) -> PolicySet {
        let mut out = PolicySet::new();
        for (_, id) in self.relevant.get(env).into_iter().flatten() {
            if let Some(policy) = self.set.policy(id) {
                let _ = out.add(policy.clone());
            }
        }
        out
    }

    fn meanings(&self, env: &RequestEnv) -> Vec<&str> {
        self.relevant
            .get(env)
            .into_iter()
            .flatten()
            .map(|(meaning, _)| meaning.as_str())
            .collect()
    }
}

fn prove_here(
    old: &PolicySet,
    old_schema: Option<&Schema>,
    new: &PolicySet,
    new_schema: &Schema,
    options: Options,
) -> Result<Proof, ProveError> {
    let started = Instant::now();
    let old_judge = old_schema.unwrap_or(new_schema);
    for (side, set, schema, which) in [
        (
            "old",
            old,
            old_judge,
            if old_schema.is_some() {
                "old"
            } else {
                "project's"
            },
        ),
        ("new", new, new_schema, "project's"),
    ] {
        let result = Validator::new(schema.clone()).validate(set, ValidationMode::Strict);
        let errors: Vec<String> = result
            .validation_errors()
            .map(ToString::to_string)
            .collect();
        if let Some(first) = errors.first() {
            return Err(ProveError::NotValid {
                side,
                schema: which,
                errors: errors.len(),
                first: first.clone(),
            });
        }
    }
    let old = Prepared::new(old, old_judge);
    let new = Prepared::new(new, new_schema);
    let mut envs: BTreeMap<RequestEnv, Presence> = BTreeMap::new();
    for env in new_schema.request_envs() {
        envs.insert(env, Presence::OnlyNew);
    }
    for env in old_judge.request_envs() {
        envs.entry(env)
            .and_modify(|p| *p = Presence::Both)
            .or_insert(Presence::OnlyOld);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| ProveError::Solver(err.to_string()))?;
    runtime.block_on(async {
        let mut compiler: Option<CedarSymCompiler<LocalSolver>> = None;
        let mut results = Vec::with_capacity(envs.len());
        for (env, presence) in &envs {
            let env_started = Instant::now();
            let mut result = EnvResult {
                principal: env.principal().to_string(),
                action: env.action().to_string(),
                resource: env.resource().to_string(),
                presence: *presence,
                verdict: Verdict::Equivalent,
                solved: false,
                duration: Duration::ZERO,
                newly_allowed: None,
                newly_denied: None,
            };
            // Only environments whose relevant policies changed, or that
            // one schema lacks, need the solver; the others are equivalent
            // by construction (both sides are compiled under one schema).
            let needs_solver = match presence {
                Presence::Both => old.meanings(env) != new.meanings(env),
                Presence::OnlyNew => !new.meanings(env).is_empty(),
                Presence::OnlyOld => !old.meanings(env).is_empty(),
            };
            if needs_solver {
                let compiler = match &mut compiler {
                    Some(compiler) => compiler,
                    None => compiler.insert(start_solver(options)?),
                };
                match presence {
                    Presence::Both => {
                        prove_env(compiler, &old, &new, env, new_schema, &mut result).await?;
                    }
                    Presence::OnlyNew => {
                        let side = OneSide {
                            prepared: &new,
                            schema: new_schema,
                            other: old_judge,
                            is_new: true,
                        };
                        prove_one_side(compiler, side, env, &mut result).await?;
                    }
                    Presence::OnlyOld => {
                        let side = OneSide {
                            prepared: &old,
                            schema: old_judge,
                            other: new_schema,
                            is_new: false,
                        };
                        prove_one_side(compiler, side, env, &mut result).await?;
                    }
                }
                result.solved = true;
            }
            result.duration = env_started.elapsed();
            results.push(result);
        }
        Ok(Proof {
            envs: results,
            duration: started.elapsed(),
        })
    })
}

fn start_solver(options: Options) -> Result<CedarSymCompiler<LocalSolver>, ProveError> {
    // Not `LocalSolver::cvc5()`: its --tlimit bounds the whole process's
    // life, idle time included; --tlimit-per bounds each query.
    let args = [
        format!("--tlimit-per={}", options.query_timeout.as_millis()),
        "--strings-exp".to_string(),
    ];
    let solver = LocalSolver::cvc5_with_args(args).map_err(|err| {
        if matches!(&err, cedar_policy_symcc::solver::SolverError::Io(io) if io.kind() == std::io::ErrorKind::NotFound) {
            ProveError::NoSolver
        } else {
            ProveError::Solver(crate::diagnostic::message_with_causes(&err))
        }
    })?;
    CedarSymCompiler::new(solver)
        .map_err(|err| ProveError::Solver(crate::diagnostic::message_with_causes(&err)))
}

fn env_label(env: &RequestEnv) -> String {
    format!(
        "{} × {} × {}",
        env.principal(),
        env.action(),
        env.resource()
    )
}

/// An environment both schemas have: the old and the new policies that can
/// apply there, compiled under the new schema, compared both ways.
async fn prove_env(
    compiler: &mut CedarSymCompiler<LocalSolver>,
    old: &Prepared,
    new: &Prepared,
    env: &RequestEnv,
    schema: &Schema,
    result: &mut EnvResult,
) -> Result<(), ProveError> {
    let (old_subset, new_subset) = (old.subset(env), new.subset(env));
    let compiled_old = match CompiledPolicySet::compile(&old_subset, env, schema) {
        Ok(compiled) => compiled,
        Err(err) => {
            // Validated against their own schema, the old policies can
            // still fail to type-check against the new one (an attribute
            // they read is gone): SymCC cannot compare them here.
            result.verdict = Verdict::Unknown(format!(
                "the old policies do not type-check against the new schema in this environment: {}",
                crate::diagnostic::message_with_causes(&err)
            ));
            return Ok(());
        }
    };
    let compiled_new = CompiledPolicySet::compile(&new_subset, env, schema).map_err(|err| {
        ProveError::Compile {
            env: env_label(env),
            message: crate::diagnostic::message_with_causes(&err),
        }
    })?;
    // old ⇒ new fails: a request the old policies allow and the new deny;
    // new ⇒ old fails: one the new allow and the old deny.
    let denied = match implication(compiler, &compiled_old, &compiled_new).await? {
        Ok(found) => found,
        Err(unknown) => {
            result.verdict = Verdict::Unknown(unknown);
            return Ok(());
        }
    };
    let allowed = match implication(compiler, &compiled_new, &compiled_old).await? {
        Ok(found) => found,
        Err(unknown) => {
            result.verdict = Verdict::Unknown(unknown);
            return Ok(());
        }
    };
    let sides = Sides {
        old: &old.set,
        new: &new.set,
    };
    let mut unconfirmed = false;
    if let Some(found) = denied {
        result.newly_denied = counterexample(&found, sides, None, Decision::Allow);
        unconfirmed |= result.newly_denied.is_none();
    }
    if let Some(found) = allowed {
        result.newly_allowed = counterexample(&found, sides, None, Decision::Deny);
        unconfirmed |= result.newly_allowed.is_none();
    }
    result.verdict = verdict_of(result, unconfirmed);
    Ok(())
}

/// The verdict from the confirmed counterexamples; a solver's finding that
/// Cedar's authorizer does not confirm leaves the answer open rather than
/// passing for "equivalent".
fn verdict_of(result: &EnvResult, unconfirmed: bool) -> Verdict {
    if unconfirmed {
        return Verdict::Unknown(
            "the solver's counterexample did not re-check with Cedar's authorizer".to_string(),
        );
    }
    match (&result.newly_allowed, &result.newly_denied) {
        (None, None) => Verdict::Equivalent,
        (Some(_), None) => Verdict::Widens,
        (None, Some(_)) => Verdict::Narrows,
        (Some(_), Some(_)) => Verdict::Both,
    }
}

/// The side of an environment that only one schema has.
#[derive(Clone, Copy)]
struct OneSide<'a> {
    prepared: &'a Prepared,
    schema: &'a Schema,
    /// The other side's schema, which has no such environment.
    other: &'a Schema,
    is_new: bool,
}

/// An environment only one schema has: whatever that side allows there is
/// access that appears (new side) or disappears (old side) with the schema.
async fn prove_one_side(
    compiler: &mut CedarSymCompiler<LocalSolver>,
    side: OneSide<'_>,
    env: &RequestEnv,
    result: &mut EnvResult,
) -> Result<(), ProveError> {
    let subset = side.prepared.subset(env);
    let compiled = CompiledPolicySet::compile(&subset, env, side.schema).map_err(|err| {
        ProveError::Compile {
            env: env_label(env),
            message: crate::diagnostic::message_with_causes(&err),
        }
    })?;
    // "Always denies" fails with a request the side allows.
    let found = match compiler
        .check_always_denies_with_counterexample_opt(&compiled)
        .await
    {
        Ok(found) => found,
        Err(cedar_policy_symcc::err::Error::SolverUnknown) => {
            result.verdict = Verdict::Unknown(GAVE_UP.to_string());
            return Ok(());
        }
        Err(other) => {
            return Err(ProveError::Solver(crate::diagnostic::message_with_causes(
                &other,
            )));
        }
    };
    let Some(found) = found else {
        // Nothing is allowed there: the environment changes no access.
        return Ok(());
    };
    let empty = PolicySet::new();
    let (sides, rejected_by) = if side.is_new {
        (
            Sides {
                old: &empty,
                new: &side.prepared.set,
            },
            Rejected::Old(side.other),
        )
    } else {
        (
            Sides {
                old: &side.prepared.set,
                new: &empty,
            },
            Rejected::New(side.other),
        )
    };
    let expected_old = if side.is_new {
        Decision::Deny
    } else {
        Decision::Allow
    };
    let confirmed = counterexample(&found, sides, Some(rejected_by), expected_old);
    let unconfirmed = confirmed.is_none();
    if side.is_new {
        result.newly_allowed = confirmed;
    } else {
        result.newly_denied = confirmed;
    }
    result.verdict = verdict_of(result, unconfirmed);
    Ok(())
}

const GAVE_UP: &str = "the solver gave up (time limit per query; see --prove-timeout)";

/// A request `first` allows and `second` denies, if any; the inner `Err`
/// says why the solver could not decide.
async fn implication(
    compiler: &mut CedarSymCompiler<LocalSolver>,
    first: &CompiledPolicySet,
    second: &CompiledPolicySet,
) -> Result<Result<Option<Env>, String>, ProveError> {
    match compiler
        .check_implies_with_counterexample_opt(first, second)
        .await
    {
        Ok(found) => Ok(Ok(found)),
        Err(cedar_policy_symcc::err::Error::SolverUnknown) => Ok(Err(GAVE_UP.to_string())),
        Err(other) => Err(ProveError::Solver(crate::diagnostic::message_with_causes(
            &other,
        ))),
    }
}

#[derive(Clone, Copy)]
struct Sides<'a> {
    old: &'a PolicySet,
    new: &'a PolicySet,
}

/// The side whose schema must refuse the request (an environment it lacks).
#[derive(Clone, Copy)]
enum Rejected<'a> {
    Old(&'a Schema),
    New(&'a Schema),
}

/// The solver's model as a concrete case, kept only if Cedar confirms it:
/// the plain authorizer's decision flips (`old_decision` on the old side),
/// and a side whose schema lacks the environment refuses the request.
fn counterexample(
    env: &Env,
    sides: Sides<'_>,
    rejected: Option<Rejected<'_>>,
    old_decision: Decision,
) -> Option<Counterexample> {
    let request: &Request = &env.request;
    let (principal, action, resource) = (
        request.principal()?.clone(),
        request.action()?.clone(),
        request.resource()?.clone(),
    );
    let conforms = |schema: &Schema| {
        let context = request.context()?.clone();
        Some(
            Request::new(
                principal.clone(),
                action.clone(),
                resource.clone(),
                context,
                Some(schema),
            )
            .is_ok(),
        )
    };
    // The side whose schema lacks the environment must refuse the request;
    // if Cedar accepted it there, its policies would have to be asked too.
    let (old_valid, new_valid) = match rejected {
        None => (true, true),
        Some(Rejected::Old(schema)) => match conforms(schema)? {
            true => return None,
            false => (false, true),
        },
        Some(Rejected::New(schema)) => match conforms(schema)? {
            true => return None,
            false => (true, false),
        },
    };
    let authorizer = Authorizer::new();
    let before = authorizer.is_authorized(request, sides.old, &env.entities);
    let after = authorizer.is_authorized(request, sides.new, &env.entities);
    // A request the schema refuses is no access, whatever the policies say.
    let granted = |valid: bool, decision: Decision| valid && decision == Decision::Allow;
    let old_allows = granted(old_valid, before.decision());
    let new_allows = granted(new_valid, after.decision());
    if old_allows != (old_decision == Decision::Allow) || new_allows == old_allows {
        return None;
    }
    let reasons = |r: &cedar_policy::Response, valid: bool| {
        if !valid {
            return Vec::new();
        }
        let mut ids: Vec<String> = r.diagnostics().reason().map(ToString::to_string).collect();
        ids.sort();
        ids
    };
    Some(Counterexample {
        principal,
        action,
        resource,
        context: request
            .context()
            .and_then(|c| c.to_json_value().ok())
            .unwrap_or(json!({})),
        entities: entity_json(&env.entities),
        old: old_valid.then(|| before.decision()),
        new: new_valid.then(|| after.decision()),
        old_reasons: reasons(&before, old_valid),
        new_reasons: reasons(&after, new_valid),
    })
}

fn entity_json(entities: &Entities) -> Vec<Value> {
    let mut list: Vec<Value> = entities
        .iter()
        .filter(|e| !crate::uid::is_action(&e.uid()))
        .filter_map(|e| e.to_json_value().ok())
        .collect();
    list.sort_by_key(|e| e["uid"].to_string());
    list
}

/// Links as the static policies they stand for (SymCC compiles static
/// policies only); ids are kept.
fn inline_links(set: &PolicySet) -> PolicySet {
    let mut out = PolicySet::new();
    for policy in set.policies() {
        let inlined = if policy.is_static() {
            Some(policy.clone())
        } else {
            policy
                .to_json()
                .ok()
                .and_then(|json| Policy::from_json(Some(policy.id().clone()), json).ok())
        };
        if let Some(inlined) = inlined {
            let _ = out.add(inlined);
        }
    }
    out
}

/// Per environment, the policies that can apply there, with their meaning
/// (Cedar's JSON without annotations): equal lists mean equal decisions.
fn relevant(set: &PolicySet, schema: &Schema) -> BTreeMap<RequestEnv, Vec<(String, PolicyId)>> {
    let mut map: BTreeMap<RequestEnv, Vec<(String, PolicyId)>> = BTreeMap::new();
    for policy in set.policies() {
        let Ok(mut json) = policy.to_json() else {
            continue;
        };
        if let Some(object) = json.as_object_mut() {
            object.remove("annotations");
        }
        let meaning = json.to_string();
        for env in policy.get_valid_request_envs(schema) {
            map.entry(env)
                .or_default()
                .push((meaning.clone(), policy.id().clone()));
        }
    }
    for list in map.values_mut() {
        list.sort();
    }
    map
}

/// The request of a counterexample in a suite's YAML, without `expect`.
pub fn request_yaml(name: &str, example: &Counterexample) -> String {
    let quote = |uid: &EntityUid| format!("'{}'", uid.to_string().replace('\'', "''"));
    let mut yaml = format!(
        "- name: {}\n  principal: {}\n  action: {}\n  resource: {}\n  context: {}\n",
        serde_json::to_string(name).unwrap_or_default(),
        quote(&example.principal),
        quote(&example.action),
        quote(&example.resource),
        example.context
    );
    if example.entities.is_empty() {
        yaml.push_str("  entities: []\n");
    } else {
        yaml.push_str("  entities:\n");
        for entity in &example.entities {
            yaml.push_str(&format!("    - {entity}\n"));
        }
    }
    yaml
}

/// A counterexample as a test case of a suite (docs/testing.md), ready to
/// paste as a regression test; `None` when the new schema refuses the
/// request (such a case would fail on the schema, not on the decision).
pub fn case_yaml(name: &str, example: &Counterexample) -> Option<String> {
    let decision = example.new?;
    let mut yaml = request_yaml(name, example);
    yaml.push_str(&format!(
        "  expect: {}\n",
        crate::text::decision_name(decision)
    ));
    Some(yaml)
}

/// What `validate --prove` found about one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyFindingKind {
    /// Some request of the environment makes it raise an error.
    MayError,
    /// It applies to no request in any environment it is scoped to.
    NeverApplies,
    /// Its conditions hold for every request of an environment it applies to.
    ConditionsAlwaysHold,
}

#[derive(Debug, Clone)]
pub struct PolicyFinding {
    pub policy: String,
    pub kind: PolicyFindingKind,
    /// `principal type × action × resource type`.
    pub env: String,
    /// A request showing it (an error, or the policy applying).
    pub witness: Option<String>,
}

/// Per policy and per request environment it can apply to: whether it can
/// raise an error, whether it can apply at all, and whether its conditions
/// always hold. Policies that do not validate are skipped (validate reports
/// them); templates are checked through their links.
pub fn prove_policies(
    set: &PolicySet,
    schema: &Schema,
    options: Options,
) -> Result<Vec<PolicyFinding>, ProveError> {
    let (set, schema) = (inline_links(set), schema.clone());
    std::thread::Builder::new()
        .name("prove".into())
        .stack_size(512 * 1024 * 1024)
        .spawn(move || prove_policies_here(&set, &schema, options))
        .map_err(|err| ProveError::Solver(err.to_string()))?
        .join()
        .unwrap_or_else(|_| Err(ProveError::Solver("the proof stopped unexpectedly".into())))
}

fn prove_policies_here(
    set: &PolicySet,
    schema: &Schema,
    options: Options,
) -> Result<Vec<PolicyFinding>, ProveError> {
    use cedar_policy_symcc::CompiledPolicy;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| ProveError::Solver(err.to_string()))?;
    runtime.block_on(async {
        let mut compiler = start_solver(options)?;
        let mut findings = Vec::new();
        let mut policies: Vec<&Policy> = set.policies().collect();
        policies.sort_by_key(|p| p.id().to_string());
        for policy in policies {
            let id = policy.id().to_string();
            let mut envs: Vec<RequestEnv> = policy.get_valid_request_envs(schema).collect();
            envs.sort();
            let mut applies_somewhere = false;
            for env in &envs {
                let label = format!(
                    "{} × {} × {}",
                    env.principal(),
                    env.action(),
                    env.resource()
                );
                let Ok(compiled) = CompiledPolicy::compile(policy, env, schema) else {
                    // Does not type-check: `validate` reports it already.
                    applies_somewhere = true;
                    continue;
                };
                let unknown = |err: cedar_policy_symcc::err::Error| match err {
                    cedar_policy_symcc::err::Error::SolverUnknown => Ok(None),
                    other => Err(ProveError::Solver(crate::diagnostic::message_with_causes(
                        &other,
                    ))),
                };
                if let Some(witness) = compiler
                    .check_never_errors_with_counterexample_opt(&compiled)
                    .await
                    .or_else(unknown)?
                {
                    findings.push(PolicyFinding {
                        policy: id.clone(),
                        kind: PolicyFindingKind::MayError,
                        env: label.clone(),
                        witness: Some(describe(&witness)),
                    });
                }
                match compiler
                    .check_never_matches_with_counterexample_opt(&compiled)
                    .await
                    .or_else(unknown)?
                {
                    Some(_) => applies_somewhere = true,
                    None => continue,
                }
                if policy.has_non_scope_constraint()
                    && compiler
                        .check_always_matches_with_counterexample_opt(&compiled)
                        .await
                        .or_else(unknown)?
                        .is_none()
                {
                    findings.push(PolicyFinding {
                        policy: id.clone(),
                        kind: PolicyFindingKind::ConditionsAlwaysHold,
                        env: label,
                        witness: None,
                    });
                }
            }
            if !applies_somewhere {
                let env = if envs.is_empty() {
                    "no request environment of the schema".to_string()
                } else {
                    format!("{} request environment(s)", envs.len())
                };
                findings.push(PolicyFinding {
                    policy: id,
                    kind: PolicyFindingKind::NeverApplies,
                    env,
                    witness: None,
                });
            }
        }
        Ok(findings)
    })
}

/// A witness in one line: the request and what the context holds.
fn describe(env: &Env) -> String {
    let request = &env.request;
    let show = |uid: Option<&EntityUid>| uid.map_or_else(|| "?".to_string(), ToString::to_string);
    let context = request
        .context()
        .and_then(|c| c.to_json_value().ok())
        .unwrap_or(json!({}));
    format!(
        "principal {}, action {}, resource {}, context {context}",
        show(request.principal()),
        show(request.action()),
        show(request.resource())
    )
}
