//! `avpctl diff --prove`: for every request environment of the schema
//! (principal type × action × resource type), whether the new policies
//! allow exactly what the old ones allow, only less, only more, or both —
//! proven for *every* request the schema allows, with Cedar's symbolic
//! compiler (`cedar-policy-symcc`) and the cvc5 SMT solver. Where access
//! changes, a concrete request shows it, re-checked with the plain
//! authorizer and printed as a test case.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cedar_policy::{
    Authorizer, Decision, Entities, EntityUid, Policy, PolicySet, Request, RequestEnv, Schema,
    ValidationMode, Validator,
};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicySet, Env};
use serde_json::{Value, json};

/// What one environment's two policy sets do relative to each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Equivalent,
    /// The new policies allow a subset of what the old ones allowed.
    Narrows,
    /// The new policies allow a superset.
    Widens,
    /// Some requests gain access, others lose it.
    Both,
    /// The solver could not decide (e.g. the time limit).
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

/// A request whose decision differs, with everything to replay it.
#[derive(Debug, Clone)]
pub struct Counterexample {
    pub principal: EntityUid,
    pub action: EntityUid,
    pub resource: EntityUid,
    pub context: Value,
    /// Entity JSON, sorted, without action entities (the schema has them).
    pub entities: Vec<Value>,
    pub old: Decision,
    pub new: Decision,
    pub old_reasons: Vec<String>,
    pub new_reasons: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct EnvResult {
    pub principal: String,
    pub action: String,
    pub resource: String,
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
        "--prove needs policies that pass strict validation; the {side} policies have {errors} error(s) against the project's schema (run `avpctl validate`): {first}"
    )]
    NotValid {
        side: &'static str,
        errors: usize,
        first: String,
    },
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

/// Compares `old` and `new` under `schema` in every request environment.
/// Runs on its own thread: the symbolic encoder recurses deeply on big sets.
pub fn prove(
    old: &PolicySet,
    new: &PolicySet,
    schema: &Schema,
    options: Options,
) -> Result<Proof, ProveError> {
    let (old, new, schema) = (old.clone(), new.clone(), schema.clone());
    std::thread::Builder::new()
        .name("prove".into())
        .stack_size(512 * 1024 * 1024)
        .spawn(move || prove_here(&old, &new, &schema, options))
        .map_err(|err| ProveError::Solver(err.to_string()))?
        .join()
        .unwrap_or_else(|_| Err(ProveError::Solver("the proof stopped unexpectedly".into())))
}

fn prove_here(
    old: &PolicySet,
    new: &PolicySet,
    schema: &Schema,
    options: Options,
) -> Result<Proof, ProveError> {
    let started = Instant::now();
    for (side, set) in [("old", old), ("new", new)] {
        let result = Validator::new(schema.clone()).validate(set, ValidationMode::Strict);
        let errors: Vec<String> = result
            .validation_errors()
            .map(ToString::to_string)
            .collect();
        if let Some(first) = errors.first() {
            return Err(ProveError::NotValid {
                side,
                errors: errors.len(),
                first: first.clone(),
            });
        }
    }
    let (old, new) = (inline_links(old), inline_links(new));
    let mut envs: Vec<RequestEnv> = schema.request_envs().collect();
    envs.sort();
    let relevant_old = relevant(&old, schema);
    let relevant_new = relevant(&new, schema);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| ProveError::Solver(err.to_string()))?;
    runtime.block_on(async {
        let mut compiler: Option<CedarSymCompiler<LocalSolver>> = None;
        let mut results = Vec::with_capacity(envs.len());
        for env in &envs {
            let env_started = Instant::now();
            let mut result = EnvResult {
                principal: env.principal().to_string(),
                action: env.action().to_string(),
                resource: env.resource().to_string(),
                verdict: Verdict::Equivalent,
                solved: false,
                duration: Duration::ZERO,
                newly_allowed: None,
                newly_denied: None,
            };
            // Only environments whose relevant policies changed need the
            // solver; the others are equivalent by construction.
            if relevant_old.get(env) != relevant_new.get(env) {
                let compiler = match &mut compiler {
                    Some(compiler) => compiler,
                    None => compiler.insert(start_solver(options)?),
                };
                prove_env(compiler, &old, &new, env, schema, &mut result).await?;
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

async fn prove_env(
    compiler: &mut CedarSymCompiler<LocalSolver>,
    old: &PolicySet,
    new: &PolicySet,
    env: &RequestEnv,
    schema: &Schema,
    result: &mut EnvResult,
) -> Result<(), ProveError> {
    let label = format!(
        "{} × {} × {}",
        env.principal(),
        env.action(),
        env.resource()
    );
    let compile = |set: &PolicySet| {
        CompiledPolicySet::compile(set, env, schema).map_err(|err| ProveError::Compile {
            env: label.clone(),
            message: crate::diagnostic::message_with_causes(&err),
        })
    };
    let (compiled_old, compiled_new) = (compile(old)?, compile(new)?);
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
    result.newly_denied =
        denied.and_then(|env| counterexample(&env, old, new, schema, Decision::Allow));
    result.newly_allowed =
        allowed.and_then(|env| counterexample(&env, old, new, schema, Decision::Deny));
    result.verdict = match (&result.newly_allowed, &result.newly_denied) {
        (None, None) => Verdict::Equivalent,
        (Some(_), None) => Verdict::Widens,
        (None, Some(_)) => Verdict::Narrows,
        (Some(_), Some(_)) => Verdict::Both,
    };
    Ok(())
}

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
        Err(cedar_policy_symcc::err::Error::SolverUnknown) => Ok(Err(
            "the solver gave up (time limit per query; see --prove-timeout)".to_string(),
        )),
        Err(other) => Err(ProveError::Solver(crate::diagnostic::message_with_causes(
            &other,
        ))),
    }
}

/// The solver's model as a concrete case, kept only if the plain authorizer
/// confirms that the decision flips (`old_decision` on the old side).
fn counterexample(
    env: &Env,
    old: &PolicySet,
    new: &PolicySet,
    schema: &Schema,
    old_decision: Decision,
) -> Option<Counterexample> {
    let request: &Request = &env.request;
    let authorizer = Authorizer::new();
    let before = authorizer.is_authorized(request, old, &env.entities);
    let after = authorizer.is_authorized(request, new, &env.entities);
    if before.decision() != old_decision || after.decision() == old_decision {
        return None;
    }
    let _ = schema;
    let reasons = |r: &cedar_policy::Response| {
        let mut ids: Vec<String> = r.diagnostics().reason().map(ToString::to_string).collect();
        ids.sort();
        ids
    };
    Some(Counterexample {
        principal: request.principal()?.clone(),
        action: request.action()?.clone(),
        resource: request.resource()?.clone(),
        context: request
            .context()
            .and_then(|c| c.to_json_value().ok())
            .unwrap_or(json!({})),
        entities: entity_json(&env.entities),
        old: before.decision(),
        new: after.decision(),
        old_reasons: reasons(&before),
        new_reasons: reasons(&after),
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

/// Per environment, the policies that can apply there, as their meaning
/// (Cedar's JSON without annotations): equal lists mean equal decisions.
fn relevant(set: &PolicySet, schema: &Schema) -> BTreeMap<RequestEnv, Vec<String>> {
    let mut map: BTreeMap<RequestEnv, Vec<String>> = BTreeMap::new();
    for policy in set.policies() {
        let Ok(mut json) = policy.to_json() else {
            continue;
        };
        if let Some(object) = json.as_object_mut() {
            object.remove("annotations");
        }
        let meaning = json.to_string();
        for env in policy.get_valid_request_envs(schema) {
            map.entry(env).or_default().push(meaning.clone());
        }
    }
    for list in map.values_mut() {
        list.sort();
    }
    map
}

/// A counterexample as a test case of docs/testing.md, ready to paste into
/// a suite as a regression test.
pub fn case_yaml(name: &str, example: &Counterexample) -> String {
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
    yaml.push_str(&format!(
        "  expect: {}\n",
        crate::testing::runner::decision_name(example.new)
    ));
    yaml
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
