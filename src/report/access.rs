//! `avpctl access` for people, machines (docs/output.md) and spreadsheets.

use std::io::{self, Write};

use serde::Serialize;

use cedar_policy::Decision;

use crate::access::{Answer, Query, Review};
use crate::error::Error;
use crate::project::Project;
use crate::report::Style;
use crate::report::json::{Layout, Streamed};
use crate::text::{decision_name, one_line};

/// Allowed requests grouped by action, each with its determining policies
/// and where they are written; then the requests a policy errored on.
pub fn human(review: &Review, project: &Project, style: Style) -> String {
    let mut out = String::new();
    let mut current_action = None;
    // Allowed and conditional answers together, in the review's order (by
    // action), so that each action has one heading.
    for answer in review
        .answers
        .iter()
        .filter(|a| a.decision != Some(Decision::Deny))
    {
        if current_action != Some(&answer.action) {
            out.push_str(&format!("{}\n", style.bold(&answer.action.to_string())));
            current_action = Some(&answer.action);
        }
        let (label, why) = match answer.decision {
            Some(_) => (
                style.green("ALLOW"),
                style.dim(&format!("({})", reasons(project, &answer.reasons))),
            ),
            None => (
                style.yellow("ALLOWED WHEN"),
                style.dim(&conditions(project, answer)),
            ),
        };
        out.push_str(&format!(
            "  {label} {} → {}  {why}\n",
            one_line(&answer.principal.to_string()),
            one_line(&answer.resource.to_string()),
        ));
    }
    let errored: Vec<&Answer> = review
        .answers
        .iter()
        .filter(|a| !a.errors.is_empty())
        .collect();
    if !errored.is_empty() {
        out.push_str(&format!(
            "\n{}\n",
            style.yellow("Policies that raised errors")
        ));
        for answer in errored {
            for error in &answer.errors {
                out.push_str(&format!(
                    "  {} → {} → {}: {}: {}\n",
                    one_line(&answer.principal.to_string()),
                    answer.action,
                    one_line(&answer.resource.to_string()),
                    one_line(&error.policy),
                    one_line(&error.message)
                ));
            }
        }
    }
    for skipped in &review.skipped {
        out.push_str(&format!(
            "{} {} not evaluated: {}\n",
            style.yellow("note:"),
            skipped.action,
            one_line(&skipped.reason)
        ));
    }
    let allowed = review.allowed().count();
    let conditional = review.conditional().count();
    let depending = if conditional > 0 {
        format!(", {conditional} depending on the context")
    } else {
        String::new()
    };
    out.push_str(&format!(
        "access: {} evaluated, {} allowed{depending}\n",
        crate::text::count(review.evaluated, "request", "requests"),
        allowed
    ));
    if conditional > 0 {
        out.push_str("(no --context: answers are Cedar's partial evaluation; give --context for plain answers)\n");
    }
    out
}

/// What a conditional answer depends on: the policies already satisfied,
/// then each residual policy (`permit … when`, `forbid … unless`).
fn conditions(project: &Project, answer: &Answer) -> String {
    let mut parts = Vec::new();
    if !answer.reasons.is_empty() {
        parts.push(format!(
            "permitted by {}",
            reasons(project, &answer.reasons)
        ));
    }
    for residual in &answer.residuals {
        let word = match residual.effect {
            cedar_policy::Effect::Permit => "when",
            cedar_policy::Effect::Forbid => "unless",
        };
        parts.push(format!(
            "{word} {}: {}",
            reasons(project, std::slice::from_ref(&residual.policy)),
            one_line(&collapsed(&residual.residual))
        ));
    }
    parts.join("; ")
}

/// A residual policy on one line.
fn collapsed(policy: &str) -> String {
    policy.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `owner (policies/owner.cedar:1)`, for each determining policy.
fn reasons(project: &Project, ids: &[String]) -> String {
    ids.iter()
        .map(|id| match project.locate(id) {
            Some(place) => format!("{} {}:{}", one_line(id), place.file.display(), place.line),
            None => one_line(id).into_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Serialize)]
struct QueryJson {
    principal: Option<String>,
    action: Option<String>,
    resource: Option<String>,
    context: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct AnswerJson<'a> {
    principal: String,
    action: String,
    resource: String,
    reasons: &'a [String],
}

#[derive(Serialize)]
struct ConditionalJson<'a> {
    principal: String,
    action: String,
    resource: String,
    reasons: &'a [String],
    residuals: Vec<ResidualJson<'a>>,
}

#[derive(Serialize)]
struct ResidualJson<'a> {
    policy: &'a str,
    effect: &'static str,
    residual: &'a str,
}

#[derive(Serialize)]
struct ErroredJson<'a> {
    principal: String,
    action: String,
    resource: String,
    decision: &'static str,
    policy: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct SkippedJson<'a> {
    action: String,
    reason: &'a str,
}

#[derive(Serialize)]
struct SummaryJson {
    evaluated: usize,
    allowed: usize,
    allowed_when: usize,
}

/// The access document (docs/output.md), written a key at a time, one
/// entry of each list a line: a "what can" answer lists hundreds of
/// thousands of requests, whose entries are rendered on all cores
/// ([`Streamed::rendered_list`]) and never held whole.
pub fn write_json(review: &Review, query: &Query, out: &mut dyn Write) -> io::Result<()> {
    let text = |uid: &Option<cedar_policy::EntityUid>| uid.as_ref().map(ToString::to_string);
    let mut document = Streamed::document(out, Layout::Lines)?;
    document.field(
        "query",
        &QueryJson {
            principal: text(&query.principal),
            action: text(&query.action),
            resource: text(&query.resource),
            context: query.context.clone(),
        },
    )?;
    document.rendered_list("allowed", &review.answers, |a| {
        a.is_allowed().then(|| answer_json(a))
    })?;
    document.rendered_list("allowed_when", &review.answers, |a| {
        a.decision.is_none().then(|| conditional_json(a))
    })?;
    document.rendered_list("errors", &review.answers, |a| {
        a.errors.iter().map(move |e| ErroredJson {
            principal: a.principal.to_string(),
            action: a.action.to_string(),
            resource: a.resource.to_string(),
            decision: a.decision.map_or("depends on the context", decision_name),
            policy: &e.policy,
            message: &e.message,
        })
    })?;
    let skipped = review.skipped.iter().map(|s| SkippedJson {
        action: s.action.to_string(),
        reason: &s.reason,
    });
    document.list("skipped", skipped, |out, s| {
        Ok(serde_json::to_writer(out, &s)?)
    })?;
    document.field(
        "summary",
        &SummaryJson {
            evaluated: review.evaluated,
            allowed: review.allowed().count(),
            allowed_when: review.conditional().count(),
        },
    )?;
    document.end()?;
    writeln!(out)
}

fn answer_json(a: &Answer) -> AnswerJson<'_> {
    AnswerJson {
        principal: a.principal.to_string(),
        action: a.action.to_string(),
        resource: a.resource.to_string(),
        reasons: &a.reasons,
    }
}

fn conditional_json(a: &Answer) -> ConditionalJson<'_> {
    ConditionalJson {
        principal: a.principal.to_string(),
        action: a.action.to_string(),
        resource: a.resource.to_string(),
        reasons: &a.reasons,
        residuals: a
            .residuals
            .iter()
            .map(|r| ResidualJson {
                policy: &r.policy,
                effect: effect_name(r.effect),
                residual: &r.residual,
            })
            .collect(),
    }
}

fn effect_name(effect: cedar_policy::Effect) -> &'static str {
    match effect {
        cedar_policy::Effect::Permit => "permit",
        cedar_policy::Effect::Forbid => "forbid",
    }
}

/// `principal,action,resource,reasons,when`: one row per allowed request,
/// the determining policies separated by spaces; then one per request
/// allowed depending on the context, with its residual policies, one line
/// each, in `when`.
pub fn csv(review: &Review) -> Result<String, Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |err: csv::Error| Error::Usage(format!("cannot write CSV: {err}"));
    writer
        .write_record(["principal", "action", "resource", "reasons", "when"])
        .map_err(failed)?;
    for answer in review.allowed().chain(review.conditional()) {
        let when: Vec<String> = answer
            .residuals
            .iter()
            .map(|r| collapsed(&r.residual))
            .collect();
        writer
            .write_record([
                answer.principal.to_string(),
                answer.action.to_string(),
                answer.resource.to_string(),
                answer.reasons.join(" "),
                when.join(" "),
            ])
            .map_err(failed)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|err| Error::Usage(format!("cannot write CSV: {err}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
