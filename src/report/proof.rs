//! The proof of a diff, per request environment, for people and as JSON.

use cedar_policy::Decision;
use serde::Serialize;
use serde_json::Value;

use crate::prove::{Counterexample, EnvResult, Presence, Proof, Verdict, case_yaml, request_yaml};
use crate::report::Style;
use crate::report::markdown::{self, Markdown};
use crate::text::decision_name;

pub fn human(proof: &Proof, style: Style) -> String {
    let mut out = format!(
        "\n{}\n",
        style.bold("Proof, for every request the schema allows (cedar-policy-symcc, cvc5)")
    );
    let width = proof
        .envs
        .iter()
        .map(|e| label(e).chars().count())
        .max()
        .unwrap_or(0);
    for env in &proof.envs {
        let verdict = match &env.verdict {
            Verdict::Equivalent => style.dim("equivalent"),
            Verdict::Narrows => style.green("narrows"),
            Verdict::Widens => style.red("WIDENS"),
            Verdict::Both => style.red("CHANGES BOTH WAYS"),
            Verdict::Unknown(why) => style.yellow(&format!("unknown: {why}")),
        };
        let presence = match env.presence {
            Presence::Both => String::new(),
            Presence::OnlyNew => format!("  {}", style.bold("[only in the new schema]")),
            Presence::OnlyOld => format!("  {}", style.bold("[only in the old schema]")),
        };
        let timing = if env.solved {
            format!("  ({:.2} s)", env.duration.as_secs_f64())
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {:<width$}  {verdict}{presence}{}\n",
            label(env),
            style.dim(&timing)
        ));
        for (title, example) in [
            ("gains access", &env.newly_allowed),
            ("loses access", &env.newly_denied),
        ] {
            let Some(example) = example else { continue };
            let name = format!("{title}: {} {} {}", env.principal, env.action, env.resource);
            match case_yaml(&name, example) {
                Some(case) => {
                    out.push_str(&format!(
                        "    a request that {title} ({}); paste it into a suite to keep it:\n",
                        reasons(example)
                    ));
                    for line in case.lines() {
                        out.push_str(&format!("      {line}\n"));
                    }
                }
                None => {
                    // The new schema refuses it: as a test case it would
                    // fail on the schema, so it is shown as a request only.
                    out.push_str(&format!(
                        "    a request that {title} ({}):\n",
                        reasons(example)
                    ));
                    for line in request_yaml(&name, example).lines() {
                        out.push_str(&format!("      {line}\n"));
                    }
                }
            }
        }
    }
    let only = |p: Presence| proof.envs.iter().filter(|e| e.presence == p).count();
    let schema_note = match (only(Presence::OnlyNew), only(Presence::OnlyOld)) {
        (0, 0) => String::new(),
        (new, old) => format!(" ({new} only in the new schema, {old} only in the old)"),
    };
    out.push_str(&format!(
        "{} environments{schema_note}: {}; {} needed the solver [{:.2}s]\n",
        proof.envs.len(),
        verdict_counts(proof),
        proof.envs.iter().filter(|e| e.solved).count(),
        proof.duration.as_secs_f64()
    ));
    out
}

/// "3 equivalent, 1 narrow, 0 widen, 0 both ways, 0 unknown".
fn verdict_counts(proof: &Proof) -> String {
    let count = |f: fn(&Verdict) -> bool| proof.envs.iter().filter(|e| f(&e.verdict)).count();
    format!(
        "{} equivalent, {} narrow, {} widen, {} both ways, {} unknown",
        count(|v| *v == Verdict::Equivalent),
        count(|v| *v == Verdict::Narrows),
        count(|v| *v == Verdict::Widens),
        count(|v| *v == Verdict::Both),
        count(|v| matches!(v, Verdict::Unknown(_))),
    )
}

/// The proof for a pull-request comment: one row per request
/// environment, the changed ones first, and each counterexample as a test
/// case to paste, folded.
pub fn markdown(md: &mut Markdown, proof: &Proof) {
    md.heading(3, "Proof, for every request the schema allows");
    md.paragraph(&format!(
        "{} environments: {} (cedar-policy-symcc, cvc5).",
        proof.envs.len(),
        verdict_counts(proof)
    ));
    let mut envs: Vec<&EnvResult> = proof.envs.iter().collect();
    envs.sort_by_key(|e| e.verdict == Verdict::Equivalent);
    let rows: Vec<Vec<String>> = envs
        .iter()
        .map(|env| {
            let verdict = match &env.verdict {
                Verdict::Equivalent => "equivalent".to_string(),
                Verdict::Narrows => "🟢 narrows".to_string(),
                Verdict::Widens => "🔴 **widens**".to_string(),
                Verdict::Both => "🔴 **changes both ways**".to_string(),
                Verdict::Unknown(why) => format!("🟡 unknown: {}", markdown::text(why)),
            };
            let presence = match env.presence {
                Presence::Both => "",
                Presence::OnlyNew => "only in the new schema",
                Presence::OnlyOld => "only in the old schema",
            };
            vec![markdown::code(&label(env)), verdict, presence.to_string()]
        })
        .collect();
    md.table(
        &crate::text::count(rows.len(), "environment", "environments"),
        &["Environment", "Verdict", "Schema"],
        &rows,
    );
    for env in &proof.envs {
        for (title, example) in [
            ("gains access", &env.newly_allowed),
            ("loses access", &env.newly_denied),
        ] {
            let Some(example) = example else { continue };
            let name = format!("{title}: {} {} {}", env.principal, env.action, env.resource);
            let yaml = case_yaml(&name, example).unwrap_or_else(|| request_yaml(&name, example));
            md.details(
                &format!(
                    "A request that {title} in {} ({})",
                    markdown::html_code(&label(env)),
                    markdown::html(&reasons(example))
                ),
                |inner| inner.code_block("yaml", &yaml),
            );
        }
    }
}

fn label(env: &EnvResult) -> String {
    format!("{} × {} × {}", env.principal, env.action, env.resource)
}

/// A decision, or that the side's schema refuses the request.
fn decision_text(decision: Option<Decision>) -> &'static str {
    decision.map_or("invalid", decision_name)
}

fn reasons(example: &Counterexample) -> String {
    let show = |decision: Option<Decision>, ids: &[String], side: &str| match decision {
        None => format!("invalid: the {side} schema refuses the request"),
        Some(decision) if ids.is_empty() => format!("{} by no policy", decision_name(decision)),
        Some(decision) => format!("{} by {}", decision_name(decision), ids.join(", ")),
    };
    format!(
        "old: {}; new: {}",
        show(example.old, &example.old_reasons, "old"),
        show(example.new, &example.new_reasons, "new")
    )
}

/// The proof in the diff document (docs/output.md, docs/prove.md).
#[derive(Serialize)]
pub struct ProofJson<'a> {
    may_widen: bool,
    seconds: f64,
    envs: Vec<EnvJson<'a>>,
}

/// One request environment's verdict.
#[derive(Serialize)]
struct EnvJson<'a> {
    principal: &'a str,
    action: &'a str,
    resource: &'a str,
    in_schema: &'static str,
    verdict: &'static str,
    unknown_reason: Option<&'a str>,
    solved: bool,
    seconds: f64,
    newly_allowed: Option<ExampleJson<'a>>,
    newly_denied: Option<ExampleJson<'a>>,
}

/// A request that shows the change; its context and entities as the
/// solver found them.
#[derive(Serialize)]
struct ExampleJson<'a> {
    principal: String,
    action: String,
    resource: String,
    context: &'a Value,
    entities: &'a [Value],
    old_decision: &'static str,
    new_decision: &'static str,
    old_reasons: &'a [String],
    new_reasons: &'a [String],
}

fn example_json(example: &Counterexample) -> ExampleJson<'_> {
    ExampleJson {
        principal: example.principal.to_string(),
        action: example.action.to_string(),
        resource: example.resource.to_string(),
        context: &example.context,
        entities: &example.entities,
        old_decision: decision_text(example.old),
        new_decision: decision_text(example.new),
        old_reasons: &example.old_reasons,
        new_reasons: &example.new_reasons,
    }
}

pub fn json(proof: &Proof) -> ProofJson<'_> {
    ProofJson {
        may_widen: proof.may_widen(),
        seconds: proof.duration.as_secs_f64(),
        envs: proof
            .envs
            .iter()
            .map(|e| EnvJson {
                principal: &e.principal,
                action: &e.action,
                resource: &e.resource,
                in_schema: e.presence.as_str(),
                verdict: e.verdict.as_str(),
                unknown_reason: match &e.verdict {
                    Verdict::Unknown(why) => Some(why),
                    _ => None,
                },
                solved: e.solved,
                seconds: e.duration.as_secs_f64(),
                newly_allowed: e.newly_allowed.as_ref().map(example_json),
                newly_denied: e.newly_denied.as_ref().map(example_json),
            })
            .collect(),
    }
}
