//! `avpctl import` for people and machines: where each store item went.

use std::path::Path;

use serde::Serialize;

use crate::import::{IdFrom, Imported, ImportedItem};
use crate::report::Style;
use crate::report::json::Version;

pub fn human(imported: &Imported, store: &str, dir: &Path, style: Style) -> String {
    let count = |kind: &str| imported.items.iter().filter(|i| i.kind == kind).count();
    let dir_text = crate::text::one_line(&crate::source::display_path(dir)).into_owned();
    let mut out = format!(
        "{} {}, {}, {} from {store} into {dir_text}\n",
        style.bold("Imported"),
        crate::text::count(count("policy"), "policy", "policies"),
        crate::text::count(count("template"), "template", "templates"),
        crate::text::count(count("link"), "link", "links"),
    );
    for item in &imported.items {
        out.push_str(&format!(
            "  {:<8} {} ← {} {}\n",
            item.kind,
            crate::text::one_line(&item.id),
            crate::text::one_line(&item.store_id),
            style.dim(match item.id_from {
                IdFrom::Name => "(by its name)",
                IdFrom::Description => "(unnamed: id from its description)",
                IdFrom::StoreId => "(unnamed, no description: id is its store id)",
            })
        ));
    }
    for note in &imported.notes {
        out.push_str(&format!(
            "{} {}\n",
            style.yellow("note:"),
            crate::text::one_line(note)
        ));
    }
    let unnamed = imported
        .items
        .iter()
        .filter(|i| i.id_from != IdFrom::Name && i.kind != "link")
        .count();
    let expect = if unnamed == 0 {
        "shows no difference".to_string()
    } else {
        format!(
            "lists only the {} the first deploy adopts (names in place, no access change)",
            crate::text::count(unnamed, "unnamed item", "unnamed items")
        )
    };
    out.push_str(&format!(
        "Next: `avpctl validate {dir_text}`; `avpctl diff {dir_text} --store {store}` {expect}.\n"
    ));
    out
}

/// The import document (docs/output.md).
#[derive(Serialize)]
pub struct ImportDocument<'a> {
    version: Version,
    store: &'a str,
    dir: String,
    items: &'a [ImportedItem],
    files: Vec<String>,
    notes: &'a [String],
}

pub fn json<'a>(imported: &'a Imported, store: &'a str, dir: &Path) -> ImportDocument<'a> {
    ImportDocument {
        version: Version,
        store,
        dir: crate::source::display_path(dir),
        items: &imported.items,
        files: imported
            .files
            .iter()
            .map(|f| crate::source::display_path(&f.path))
            .collect(),
        notes: &imported.notes,
    }
}
