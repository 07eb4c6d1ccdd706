//! `avpctl diff` for people and machines.

use serde_json::{Value, json};

use crate::diff::{Comparison, OldSide};
use crate::report::Style;

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
    out
}

/// The diff document (docs/output.md).
pub fn json(found: &Comparison, old: &OldSide, new_label: &str) -> Value {
    json!({
        "version": 1,
        "old": old.label,
        "new": new_label,
        "summary": {
            "counts": crate::report::plan::summary_counts(&found.changes),
            "flips": found.flips.len(),
            "unmanaged": old.side.unmanaged.len(),
            "duplicates": old.side.duplicates.len(),
        },
        "duplicates": old.side.duplicates.iter().map(|d| json!({"kind": d.kind, "name": d.name, "store_ids": d.store_ids})).collect::<Vec<_>>(),
        "changes": found.changes.iter().map(crate::report::plan::change_json).collect::<Vec<_>>(),
        "unmanaged": old.side.unmanaged.iter().map(crate::report::plan::unmanaged_json).collect::<Vec<_>>(),
        "flips": found.flips.iter().map(crate::report::plan::flip_json).collect::<Vec<_>>(),
        "store_calls": old.calls,
        "proof": found.proof.as_ref().map(crate::report::proof::json),
    })
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
    use crate::plan::Access;
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
