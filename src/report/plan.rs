//! Diffs and deploy plans for people, and the parts of the diff and deploy
//! documents that describe them.

use serde::Serialize;

use crate::plan::changes::{Environment, SchemaEnvironments};
use crate::plan::{Access, Change, Steps, Unmanaged};
use crate::report::Style;
use crate::report::markdown::{self, Links, Markdown};
use crate::testing::Flip;
use crate::text::decision_name;

/// The changes, most dangerous first, with statement diffs.
pub fn changes_human(
    changes: &[Change],
    unmanaged: &[Unmanaged],
    flips: &[Flip],
    style: Style,
) -> String {
    let mut out = String::new();
    for (access, title) in [
        (Access::Widens, "Widens access"),
        (Access::Narrows, "Narrows access"),
        (
            Access::Changes,
            "Changes access (either way, depending on the request)",
        ),
        (Access::Neutral, "No direct effect on access"),
    ] {
        let group: Vec<&Change> = changes.iter().filter(|c| c.access == access).collect();
        if group.is_empty() {
            continue;
        }
        let heading = match access {
            Access::Widens => style.red(title),
            Access::Narrows => style.green(title),
            Access::Changes => style.yellow(title),
            Access::Neutral => style.dim(title),
        };
        out.push_str(&format!("{}\n", style.bold(&heading)));
        for change in group {
            out.push_str(&change_line(change, style));
            if let Some(envs) = &change.environments {
                out.push_str(&environment_lines(envs, style));
            }
            if let Some(diff) = &change.diff {
                for line in diff.lines() {
                    out.push_str(&format!("      {}\n", style.diff_line(line)));
                }
            }
        }
        out.push('\n');
    }
    if !unmanaged.is_empty() {
        out.push_str(&format!(
            "{}\n",
            style.bold("Not managed by this project (kept; `deploy --prune` deletes them)")
        ));
        for item in unmanaged {
            out.push_str(&format!(
                "  ? {:<8} {} {}\n",
                item.kind,
                crate::text::one_line(item.name.as_deref().unwrap_or(&item.store_id)),
                style.dim(&crate::text::one_line(&item.summary))
            ));
        }
        out.push('\n');
    }
    if !flips.is_empty() {
        out.push_str(&format!(
            "{}\n",
            style.bold("Test cases whose decision changes")
        ));
        for flip in flips {
            let show = |d: Option<cedar_policy::Decision>| d.map_or("error", decision_name);
            let arrow = format!("{} → {}", show(flip.old), show(flip.new));
            let arrow = if flip.new == Some(cedar_policy::Decision::Allow) {
                style.red(&arrow)
            } else {
                style.green(&arrow)
            };
            out.push_str(&format!(
                "  {arrow}  {}:{} › {}  (expected {})\n",
                flip.file,
                flip.check.location.line,
                flip.check.name,
                flip.check.expect.as_str()
            ));
        }
        out.push('\n');
    }
    out
}

/// The changes as Markdown tables, one per class of access (widen,
/// narrow, either way, neutral), each statement diff folded under its
/// table; then unmanaged items and the test cases whose decision flips.
pub fn changes_markdown(
    md: &mut Markdown,
    changes: &[Change],
    unmanaged: &[Unmanaged],
    flips: &[Flip],
    dir: &std::path::Path,
    links: &Links,
) {
    for (access, title) in [
        (Access::Widens, "🔴 Widens access"),
        (Access::Narrows, "🟢 Narrows access"),
        (Access::Changes, "🟡 Changes access either way"),
        (Access::Neutral, "⚪ No direct effect on access"),
    ] {
        let group: Vec<&Change> = changes.iter().filter(|c| c.access == access).collect();
        if group.is_empty() {
            continue;
        }
        md.heading(3, &format!("{title} ({})", group.len()));
        let rows: Vec<Vec<String>> = group.iter().map(|c| change_row(c)).collect();
        md.table(
            &crate::text::count(rows.len(), "change", "changes"),
            &["", "Kind", "Id", "Effect", "Detail"],
            &rows,
        );
        for change in group {
            if let Some(diff) = &change.diff {
                md.details(
                    &format!("Statement diff of {}", markdown::html_code(&change.id)),
                    |inner| inner.code_block("diff", diff),
                );
            }
        }
    }
    if !unmanaged.is_empty() {
        md.heading(3, "Not managed by this project");
        md.paragraph("Kept; `deploy --prune` deletes them.");
        let rows: Vec<Vec<String>> = unmanaged
            .iter()
            .map(|item| {
                vec![
                    item.kind.to_string(),
                    markdown::code(item.name.as_deref().unwrap_or(&item.store_id)),
                    markdown::code(&item.store_id),
                    markdown::text(&item.summary),
                ]
            })
            .collect();
        md.table(
            &crate::text::count(rows.len(), "unmanaged item", "unmanaged items"),
            &["Kind", "Name", "Store id", "Summary"],
            &rows,
        );
    }
    if !flips.is_empty() {
        md.heading(
            3,
            &format!("Test cases whose decision changes ({})", flips.len()),
        );
        let rows: Vec<Vec<String>> = flips
            .iter()
            .map(|flip| {
                let show = |d: Option<cedar_policy::Decision>| d.map_or("error", decision_name);
                vec![
                    format!(
                        "{} › {}",
                        links.place(
                            &markdown::project_path(dir, &flip.file),
                            flip.check.location.line
                        ),
                        markdown::text(&flip.check.name)
                    ),
                    format!("{} → {}", show(flip.old), show(flip.new)),
                    flip.check.expect.as_str().to_string(),
                ]
            })
            .collect();
        md.table(
            &crate::text::count(rows.len(), "flipped case", "flipped cases"),
            &["Case", "Decision", "Expected"],
            &rows,
        );
    }
}

fn change_row(change: &Change) -> Vec<String> {
    let mut detail = change
        .detail
        .as_deref()
        .map(markdown::text)
        .unwrap_or_default();
    if change.replace {
        if !detail.is_empty() {
            detail.push_str("<br>");
        }
        detail.push_str("replaced: AVP cannot update it in place");
    }
    if let Some(envs) = &change.environments {
        for (sign, list) in [("+", &envs.added), ("−", &envs.removed)] {
            for env in list {
                if !detail.is_empty() {
                    detail.push_str("<br>");
                }
                let permits = if env.permits.is_empty() {
                    "no permit applies there".to_string()
                } else {
                    env.permits
                        .iter()
                        .map(|p| markdown::code(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                detail.push_str(&format!(
                    "{sign} environment {}: {permits}",
                    markdown::code(&format!(
                        "{} × {} × {}",
                        env.principal, env.action, env.resource
                    ))
                ));
            }
        }
        if let Some(why) = &envs.unknown {
            detail.push_str(&format!("<br>? {}", markdown::text(why)));
        }
    }
    vec![
        format!("{} {}", change.status.sign(), change.status.as_str()),
        change.kind.as_str().to_string(),
        markdown::code(&change.id),
        change.effect.map(effect_name).unwrap_or("").to_string(),
        detail,
    ]
}

/// The request environments a schema change adds and removes, each with
/// the permits that can apply there (the access it can grant or take away).
fn environment_lines(envs: &SchemaEnvironments, style: Style) -> String {
    let mut out = String::new();
    for (sign, list, verb) in [
        (style.red("+"), &envs.added, "can now grant access"),
        (
            style.green("-"),
            &envs.removed,
            "granted access that is now refused",
        ),
    ] {
        for env in list {
            let label = format!("{} × {} × {}", env.principal, env.action, env.resource);
            let label = crate::text::one_line(&label);
            let what = if env.permits.is_empty() {
                style.dim("no permit applies there")
            } else {
                format!("{} {verb}", crate::text::one_line(&env.permits.join(", ")))
            };
            out.push_str(&format!("      {sign} environment {label}: {what}\n"));
        }
    }
    if let Some(why) = &envs.unknown {
        out.push_str(&format!(
            "      {} {}\n",
            style.yellow("?"),
            crate::text::one_line(why)
        ));
    }
    out
}

fn change_line(change: &Change, style: Style) -> String {
    let sign = match change.status.sign() {
        "+" => style.green("+"),
        "-" => style.red("-"),
        other => style.yellow(other),
    };
    let effect = change
        .effect
        .map(|e| format!(" ({})", effect_name(e)))
        .unwrap_or_default();
    let mut line = format!(
        "  {sign} {:<8} {}{effect}",
        change.kind.as_str(),
        crate::text::one_line(&change.id)
    );
    if let Some(detail) = &change.detail {
        line.push_str(&format!(": {detail}"));
    }
    if change.replace {
        line.push_str(&style.dim(" [replaced: AVP cannot update it in place]"));
    }
    line.push('\n');
    line
}

fn effect_name(effect: cedar_policy::Effect) -> &'static str {
    match effect {
        cedar_policy::Effect::Permit => "permit",
        cedar_policy::Effect::Forbid => "forbid",
    }
}

/// How many changes there are, by what they do to access.
#[derive(Serialize)]
pub struct CountsJson {
    changes: usize,
    widens: usize,
    narrows: usize,
    changes_either_way: usize,
    neutral: usize,
}

pub fn summary_counts(changes: &[Change]) -> CountsJson {
    let count = |a: Access| changes.iter().filter(|c| c.access == a).count();
    CountsJson {
        changes: changes.len(),
        widens: count(Access::Widens),
        narrows: count(Access::Narrows),
        changes_either_way: count(Access::Changes),
        neutral: count(Access::Neutral),
    }
}

/// A change, in the diff and deploy documents; `environments` only for a
/// changed schema (`null` otherwise).
#[derive(Serialize)]
pub struct ChangeJson<'a> {
    kind: &'static str,
    id: &'a str,
    status: &'static str,
    access: &'static str,
    effect: Option<&'static str>,
    detail: Option<&'a str>,
    diff: Option<&'a str>,
    replace: bool,
    environments: Option<EnvironmentsJson<'a>>,
}

#[derive(Serialize)]
struct EnvironmentsJson<'a> {
    added: Vec<EnvironmentJson<'a>>,
    removed: Vec<EnvironmentJson<'a>>,
    shapes_changed: bool,
    unknown: Option<&'a str>,
}

#[derive(Serialize)]
struct EnvironmentJson<'a> {
    principal: &'a str,
    action: &'a str,
    resource: &'a str,
    permits: &'a [String],
}

fn environment_json(env: &Environment) -> EnvironmentJson<'_> {
    EnvironmentJson {
        principal: &env.principal,
        action: &env.action,
        resource: &env.resource,
        permits: &env.permits,
    }
}

pub fn change_json(change: &Change) -> ChangeJson<'_> {
    ChangeJson {
        kind: change.kind.as_str(),
        id: &change.id,
        status: change.status.as_str(),
        access: change.access.as_str(),
        effect: change.effect.map(effect_name),
        detail: change.detail.as_deref(),
        diff: change.diff.as_deref(),
        replace: change.replace,
        environments: change.environments.as_ref().map(|envs| EnvironmentsJson {
            added: envs.added.iter().map(environment_json).collect(),
            removed: envs.removed.iter().map(environment_json).collect(),
            shapes_changed: envs.shapes_changed,
            unknown: envs.unknown.as_deref(),
        }),
    }
}

/// An item of the store the project does not manage.
#[derive(Serialize)]
pub struct UnmanagedJson<'a> {
    kind: &'static str,
    store_id: &'a str,
    name: Option<&'a str>,
    summary: &'a str,
}

pub fn unmanaged_json(item: &Unmanaged) -> UnmanagedJson<'_> {
    UnmanagedJson {
        kind: item.kind,
        store_id: &item.store_id,
        name: item.name.as_deref(),
        summary: &item.summary,
    }
}

/// A test case whose decision the change flips.
#[derive(Serialize)]
pub struct FlipJson<'a> {
    file: &'a str,
    line: usize,
    name: &'a str,
    old: Option<&'static str>,
    new: Option<&'static str>,
    expected: &'static str,
}

pub fn flip_json(flip: &Flip) -> FlipJson<'_> {
    FlipJson {
        file: &flip.file,
        line: flip.check.location.line,
        name: &flip.check.name,
        old: flip.old.map(decision_name),
        new: flip.new.map(decision_name),
        expected: flip.check.expect.as_str(),
    }
}

/// The steps of a deploy, numbered, wave by wave.
pub fn steps_human(steps: &Steps, style: Style) -> String {
    let mut out = String::new();
    let mut n = 0;
    for (_, wave) in &steps.waves {
        for step in wave {
            n += 1;
            out.push_str(&format!(
                "  {:>3}. {} {}\n",
                n,
                step.label,
                style.dim(&format!("({})", step.operation.verb()))
            ));
        }
    }
    for warning in &steps.warnings {
        out.push_str(&format!("  {} {warning}\n", style.yellow("warning:")));
    }
    out
}

/// The steps of a deploy, each with its wave (from 1), and the warnings.
#[derive(Serialize)]
pub struct StepsJson<'a> {
    steps: Vec<StepJson<'a>>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct StepJson<'a> {
    wave: usize,
    operation: &'static str,
    label: &'a str,
}

pub fn steps_json(steps: &Steps) -> StepsJson<'_> {
    StepsJson {
        steps: steps
            .waves
            .iter()
            .enumerate()
            .flat_map(|(wave, (_, steps))| {
                steps.iter().map(move |s| StepJson {
                    wave: wave + 1,
                    operation: s.operation.verb(),
                    label: &s.label,
                })
            })
            .collect(),
        warnings: &steps.warnings,
    }
}
