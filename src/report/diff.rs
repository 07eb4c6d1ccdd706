//! `avpctl diff` for people and machines.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diff::{Comparison, OldSide};
use crate::plan::Access;
use crate::report::Style;
use crate::report::json::Version;
use crate::report::markdown::{self, Links, Markdown};
use crate::report::plan::{self, ChangeJson, CountsJson, FlipJson, UnmanagedJson};
use crate::report::proof::ProofJson;

/// The diff as people read it: the changes (widening first), unmanaged
/// items, decision flips, duplicate names, then the proof.
pub fn human(found: &Comparison, old: &OldSide, new_label: &str, style: Style) -> String {
    let mut out = String::new();
    let duplicates = &old.side.duplicates;
    if found.changes.is_empty() && duplicates.is_empty() {
        out.push_str(&format!(
            "No differences: {new_label} and {} agree.\n",
            old.label
        ));
    } else {
        out.push_str(&format!(
            "{} {} → {new_label}\n\n",
            style.bold("diff"),
            old.label
        ));
        out.push_str(&crate::report::plan::changes_human(
            &found.changes,
            &old.side.unmanaged,
            &found.flips,
            style,
        ));
        out.push_str(&summary_line(&found.changes, found.flips.len()));
    }
    if !duplicates.is_empty() {
        out.push_str(&duplicates_human(duplicates, style));
    }
    if found.changes.is_empty() && !old.side.unmanaged.is_empty() {
        out.push_str(&crate::report::plan::changes_human(
            &[],
            &old.side.unmanaged,
            &[],
            style,
        ));
    }
    if let Some(proof) = &found.proof {
        out.push_str(&crate::report::proof::human(proof, style));
    }
    if let Some(impact) = &found.impact {
        out.push_str(&impact_human(impact, style));
    }
    out
}

/// The flips of `--impact` that share an action, a direction and the
/// policies that decide them: "+37 principals may now editDocument on
/// 1,204 documents, through `team-edit-workspace`".
struct ImpactGroup<'a> {
    action: String,
    widens: bool,
    /// The new side's determining policies when it widens, else the old's.
    reasons: &'a [String],
    principals: usize,
    resources: usize,
}

fn impact_groups(impact: &crate::access::Impact) -> Vec<ImpactGroup<'_>> {
    use cedar_policy::Decision;
    use std::collections::BTreeSet;
    type Key<'a> = (String, bool, &'a [String]);
    let mut groups: BTreeMap<Key<'_>, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for flip in &impact.flips {
        let widens = flip.new == Decision::Allow;
        let reasons = if widens {
            &flip.new_reasons
        } else {
            &flip.old_reasons
        };
        let entry = groups
            .entry((flip.action.to_string(), widens, reasons.as_slice()))
            .or_default();
        entry.0.insert(flip.principal.to_string());
        entry.1.insert(flip.resource.to_string());
    }
    groups
        .into_iter()
        .map(
            |((action, widens, reasons), (principals, resources))| ImpactGroup {
                action,
                widens,
                reasons,
                principals: principals.len(),
                resources: resources.len(),
            },
        )
        .collect()
}

/// `--impact` for people: the flips grouped ([`ImpactGroup`]).
fn impact_human(impact: &crate::access::Impact, style: Style) -> String {
    let mut out = format!(
        "\n{} ({} of the snapshot evaluated)\n",
        style.bold("Impact on the entity snapshot"),
        crate::text::count(impact.evaluated, "request", "requests")
    );
    if impact.flips.is_empty() {
        out.push_str("  no request changes decision\n");
    }
    for group in impact_groups(impact) {
        let through = if group.reasons.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = group
                .reasons
                .iter()
                .map(|r| format!("`{}`", crate::text::one_line(r)))
                .collect();
            format!(
                ", {} {}",
                if group.widens { "through" } else { "was" },
                ids.join(", ")
            )
        };
        let (sign, verb) = if group.widens {
            (style.red("+"), "may now")
        } else {
            (style.green("-"), "can no longer")
        };
        out.push_str(&format!(
            "  {sign} {} {verb} {} on {}{through}\n",
            crate::text::count(group.principals, "principal", "principals"),
            crate::text::one_line(&group.action),
            crate::text::count(group.resources, "resource", "resources"),
        ));
    }
    for skipped in &impact.skipped {
        out.push_str(&format!(
            "  {} {} not evaluated: {}\n",
            style.yellow("note:"),
            skipped.action,
            crate::text::one_line(&skipped.reason)
        ));
    }
    out
}

/// The diff for a pull-request comment or a step summary.
pub fn markdown(
    found: &Comparison,
    old: &OldSide,
    new_label: &str,
    dir: &std::path::Path,
    links: &Links,
) -> String {
    let mut md = Markdown::new();
    markdown_into(&mut md, found, old, new_label, dir, links);
    md.finish()
}

fn markdown_into(
    md: &mut Markdown,
    found: &Comparison,
    old: &OldSide,
    new_label: &str,
    dir: &std::path::Path,
    links: &Links,
) {
    let duplicates = &old.side.duplicates;
    let sides = format!(
        "{} → {}",
        markdown::code(&old.label),
        markdown::code(new_label)
    );
    if found.changes.is_empty() && duplicates.is_empty() {
        md.heading(2, &format!("avpctl diff: no differences ({sides})"));
    } else {
        let widens = found.changes.iter().any(|c| c.access == Access::Widens);
        let mark = if widens || found.may_widen() {
            "🔴"
        } else {
            "🟡"
        };
        md.heading(2, &format!("avpctl diff: {mark} {sides}"));
        md.paragraph(&markdown::text(
            summary_line(&found.changes, found.flips.len()).trim_end(),
        ));
    }
    crate::report::plan::changes_markdown(
        md,
        &found.changes,
        &old.side.unmanaged,
        &found.flips,
        dir,
        links,
    );
    if !duplicates.is_empty() {
        md.heading(3, "Duplicate names in the store");
        md.paragraph(
            "Drift: two deploys raced, or a copy was made outside avpctl; `deploy` refuses until one copy is left.",
        );
        let rows: Vec<Vec<String>> = duplicates
            .iter()
            .map(|d| {
                vec![
                    d.kind.to_string(),
                    markdown::code(&d.name),
                    d.store_ids
                        .iter()
                        .map(|id| markdown::code(id))
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })
            .collect();
        md.table(
            &crate::text::count(rows.len(), "duplicate name", "duplicate names"),
            &["Kind", "Name", "Store ids"],
            &rows,
        );
    }
    if let Some(proof) = &found.proof {
        crate::report::proof::markdown(md, proof);
    }
    if let Some(impact) = &found.impact {
        impact_markdown(md, impact);
    }
}

/// `--impact` for a pull-request comment: the groups, then every flip
/// folded.
fn impact_markdown(md: &mut Markdown, impact: &crate::access::Impact) {
    md.heading(3, "Impact on the entity snapshot");
    md.paragraph(&format!(
        "{} evaluated; {} change decision.",
        crate::text::count(impact.evaluated, "request", "requests"),
        crate::text::count(impact.flips.len(), "request", "requests"),
    ));
    let rows: Vec<Vec<String>> = impact_groups(impact)
        .iter()
        .map(|group| {
            let (what, verb) = if group.widens {
                ("🔴 widens", "may now")
            } else {
                ("🟢 narrows", "can no longer")
            };
            vec![
                what.to_string(),
                format!(
                    "{} {verb} {} on {}",
                    crate::text::count(group.principals, "principal", "principals"),
                    markdown::code(&group.action),
                    crate::text::count(group.resources, "resource", "resources"),
                ),
                format!(
                    "{} ({} side)",
                    group
                        .reasons
                        .iter()
                        .map(|r| markdown::code(r))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if group.widens { "new" } else { "old" }
                ),
            ]
        })
        .collect();
    if !rows.is_empty() {
        md.table(
            &crate::text::count(rows.len(), "group", "groups"),
            &["", "Who", "Determining policies"],
            &rows,
        );
    }
    let flips: Vec<Vec<String>> = impact
        .flips
        .iter()
        .map(|f| {
            vec![
                markdown::code(&f.principal.to_string()),
                markdown::code(&f.action.to_string()),
                markdown::code(&f.resource.to_string()),
                format!(
                    "{} → {}",
                    crate::text::decision_name(f.old),
                    crate::text::decision_name(f.new)
                ),
            ]
        })
        .collect();
    if !flips.is_empty() {
        md.details(
            &crate::text::count(flips.len(), "request that flips", "requests that flip"),
            |inner| inner.open_table(&["Principal", "Action", "Resource", "Decision"], &flips),
        );
    }
    let notes: Vec<String> = impact
        .skipped
        .iter()
        .map(|s| {
            format!(
                "{} not evaluated: {}",
                markdown::code(&s.action.to_string()),
                markdown::text(&s.reason)
            )
        })
        .collect();
    if !notes.is_empty() {
        md.list(notes.iter().map(String::as_str));
    }
}

/// A store of a group as Markdown reports it: its label, and its diff or
/// why there is none.
pub type MarkdownMember<'a> = (String, Result<(&'a Comparison, &'a OldSide), String>);

/// `diff --store GROUP` as Markdown: each member's diff in turn, or why
/// there is none.
pub fn group_markdown(
    members: &[MarkdownMember<'_>],
    new_label: &str,
    dir: &std::path::Path,
    links: &Links,
) -> String {
    let mut md = Markdown::new();
    for (label, compared) in members {
        match compared {
            Ok((found, old)) => markdown_into(&mut md, found, old, new_label, dir, links),
            Err(error) => {
                md.heading(2, &format!("avpctl diff: ❌ {}", markdown::code(label)));
                md.paragraph(&format!("error: {}", markdown::text_lines(error)));
            }
        }
    }
    md.finish()
}

/// The diff document (docs/output.md).
#[derive(Serialize)]
pub struct DiffDocument<'a> {
    version: Version,
    old: &'a str,
    new: &'a str,
    summary: DiffSummary,
    duplicates: Vec<DuplicateJson<'a>>,
    changes: Vec<ChangeJson<'a>>,
    unmanaged: Vec<UnmanagedJson<'a>>,
    flips: Vec<FlipJson<'a>>,
    store_calls: &'a BTreeMap<String, usize>,
    proof: Option<ProofJson<'a>>,
    /// `--impact` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    impact: Option<Vec<ImpactJson<'a>>>,
}

/// A request of the snapshot whose decision the change flips.
#[derive(Serialize)]
struct ImpactJson<'a> {
    principal: String,
    action: String,
    resource: String,
    old: &'static str,
    new: &'static str,
    old_reasons: &'a [String],
    new_reasons: &'a [String],
}

#[derive(Serialize)]
struct DiffSummary {
    counts: CountsJson,
    flips: usize,
    unmanaged: usize,
    duplicates: usize,
}

/// A managed name more than one store item carries.
#[derive(Serialize)]
struct DuplicateJson<'a> {
    kind: &'static str,
    name: &'a str,
    store_ids: &'a [String],
}

pub fn json<'a>(found: &'a Comparison, old: &'a OldSide, new_label: &'a str) -> DiffDocument<'a> {
    let side = &old.side;
    DiffDocument {
        version: Version,
        old: &old.label,
        new: new_label,
        summary: DiffSummary {
            counts: plan::summary_counts(&found.changes),
            flips: found.flips.len(),
            unmanaged: side.unmanaged.len(),
            duplicates: side.duplicates.len(),
        },
        duplicates: side
            .duplicates
            .iter()
            .map(|d| DuplicateJson {
                kind: d.kind,
                name: &d.name,
                store_ids: &d.store_ids,
            })
            .collect(),
        changes: found.changes.iter().map(plan::change_json).collect(),
        unmanaged: side.unmanaged.iter().map(plan::unmanaged_json).collect(),
        flips: found.flips.iter().map(plan::flip_json).collect(),
        store_calls: &old.calls,
        proof: found.proof.as_ref().map(crate::report::proof::json),
        impact: found.impact.as_ref().map(|impact| {
            impact
                .flips
                .iter()
                .map(|f| ImpactJson {
                    principal: f.principal.to_string(),
                    action: f.action.to_string(),
                    resource: f.resource.to_string(),
                    old: crate::text::decision_name(f.old),
                    new: crate::text::decision_name(f.new),
                    old_reasons: &f.old_reasons,
                    new_reasons: &f.new_reasons,
                })
                .collect()
        }),
    }
}

/// The diff-group document (`diff --store GROUP`, docs/output.md).
#[derive(Serialize)]
pub struct DiffGroupDocument<'a> {
    version: Version,
    stores: Vec<GroupMember<'a>>,
}

/// A store of the group: its diff document, or why there is none.
#[derive(Serialize)]
pub struct GroupMember<'a> {
    pub name: Option<&'a str>,
    pub store: String,
    pub exit_code: u8,
    pub diff: GroupDiff<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum GroupDiff<'a> {
    Diff(Box<DiffDocument<'a>>),
    Error { error: String },
}

pub fn group_json(stores: Vec<GroupMember<'_>>) -> DiffGroupDocument<'_> {
    DiffGroupDocument {
        version: Version,
        stores,
    }
}

/// Duplicate managed names: drift the store has whatever the project says.
fn duplicates_human(duplicates: &[crate::plan::side::Duplicate], style: Style) -> String {
    let mut out = format!(
        "\n{} (drift: two deploys raced, or a copy was made outside avpctl; `deploy` refuses until one copy is left)\n",
        style.red("Duplicate names in the store")
    );
    for duplicate in duplicates {
        out.push_str(&format!(
            "  ! {:<8} {} ({} copies: {})\n",
            duplicate.kind,
            crate::text::one_line(&duplicate.name),
            duplicate.store_ids.len(),
            crate::text::one_line(&duplicate.store_ids.join(", "))
        ));
    }
    out
}

pub fn summary_line(changes: &[crate::plan::Change], flips: usize) -> String {
    let count = |a: Access| changes.iter().filter(|c| c.access == a).count();
    format!(
        "{} change{}: {} widen, {} narrow, {} either way, {} neutral; {} test decision{} flip\n",
        changes.len(),
        crate::text::plural(changes.len()),
        count(Access::Widens),
        count(Access::Narrows),
        count(Access::Changes),
        count(Access::Neutral),
        flips,
        crate::text::plural(flips)
    )
}
