//! The proof of a diff, per request environment, for people and as JSON.

use serde_json::{Value, json};

use crate::prove::{Counterexample, Proof, Verdict, case_yaml};
use crate::report::Style;
use crate::testing::runner::decision_name;

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
        let timing = if env.solved {
            format!("  ({:.2} s)", env.duration.as_secs_f64())
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {:<width$}  {verdict}{}\n",
            label(env),
            style.dim(&timing)
        ));
        for (title, example) in [
            ("gains access", &env.newly_allowed),
            ("loses access", &env.newly_denied),
        ] {
            if let Some(example) = example {
                out.push_str(&format!(
                    "    a request that {title} ({}); paste it into a suite to keep it:\n",
                    reasons(example)
                ));
                let name = format!("{title}: {} {} {}", env.principal, env.action, env.resource);
                for line in case_yaml(&name, example).lines() {
                    out.push_str(&format!("      {line}\n"));
                }
            }
        }
    }
    let count = |f: fn(&Verdict) -> bool| proof.envs.iter().filter(|e| f(&e.verdict)).count();
    out.push_str(&format!(
        "{} environments: {} equivalent, {} narrow, {} widen, {} both ways, {} unknown; {} needed the solver [{:.2}s]\n",
        proof.envs.len(),
        count(|v| *v == Verdict::Equivalent),
        count(|v| *v == Verdict::Narrows),
        count(|v| *v == Verdict::Widens),
        count(|v| *v == Verdict::Both),
        count(|v| matches!(v, Verdict::Unknown(_))),
        proof.envs.iter().filter(|e| e.solved).count(),
        proof.duration.as_secs_f64()
    ));
    out
}

fn label(env: &crate::prove::EnvResult) -> String {
    format!("{} × {} × {}", env.principal, env.action, env.resource)
}

fn reasons(example: &Counterexample) -> String {
    let show = |ids: &[String]| {
        if ids.is_empty() {
            "no policy".to_string()
        } else {
            ids.join(", ")
        }
    };
    format!(
        "old: {} by {}; new: {} by {}",
        decision_name(example.old),
        show(&example.old_reasons),
        decision_name(example.new),
        show(&example.new_reasons)
    )
}

fn example_json(example: &Counterexample) -> Value {
    json!({
        "principal": example.principal.to_string(),
        "action": example.action.to_string(),
        "resource": example.resource.to_string(),
        "context": example.context,
        "entities": example.entities,
        "old_decision": decision_name(example.old),
        "new_decision": decision_name(example.new),
        "old_reasons": example.old_reasons,
        "new_reasons": example.new_reasons,
    })
}

pub fn json(proof: &Proof) -> Value {
    json!({
        "may_widen": proof.may_widen(),
        "seconds": proof.duration.as_secs_f64(),
        "envs": proof.envs.iter().map(|e| json!({
            "principal": e.principal,
            "action": e.action,
            "resource": e.resource,
            "verdict": e.verdict.as_str(),
            "unknown_reason": match &e.verdict { Verdict::Unknown(why) => Some(why.clone()), _ => None },
            "solved": e.solved,
            "seconds": e.duration.as_secs_f64(),
            "newly_allowed": e.newly_allowed.as_ref().map(example_json),
            "newly_denied": e.newly_denied.as_ref().map(example_json),
        })).collect::<Vec<_>>(),
    })
}
