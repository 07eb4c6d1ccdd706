//! The layout docs/architecture.md draws, checked: no import cycle between
//! the top-level modules of `src/`, and nothing below `cmd/` and `report/`
//! writes to the terminal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests may use anything.
            let code = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_string();
            out.push((path.display().to_string(), code));
        }
    }
}

/// `src/a/b.rs` → `a`, `src/c.rs` → `c`.
fn top_module(src: &Path, file: &str) -> String {
    let relative = Path::new(file).strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Each top-level module with the modules it uses, and every file's code.
type Layout = (BTreeMap<String, BTreeSet<String>>, Vec<(String, String)>);

fn modules() -> Layout {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, code) in &files {
        let top = top_module(&src, file);
        if top == "main" || top == "lib" {
            continue;
        }
        let mut note = |name: &str| {
            if name != top && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                uses.entry(top.clone())
                    .or_default()
                    .insert(name.to_string());
            }
        };
        for part in code.split("crate::").skip(1) {
            note(
                part.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap(),
            );
        }
        for group in code.split("use crate::{").skip(1) {
            let inside = group.split('}').next().unwrap_or_default();
            for item in inside.split(',') {
                note(item.trim().split("::").next().unwrap_or_default());
            }
        }
    }
    (uses, files)
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let (uses, _) = modules();
    // Depth-first search for a path back to the start.
    for start in uses.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((module, path)) = stack.pop() {
            for next in uses.get(&module).into_iter().flatten() {
                if next == start {
                    panic!("import cycle: {} → {start}", path.join(" → "));
                }
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(
        uses.contains_key("cmd"),
        "the scan found the modules: {uses:?}"
    );
}

#[test]
fn only_commands_and_reporters_write_to_the_terminal() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (_, files) = modules();
    let writers = [
        "output::print(",
        "output::eprint(",
        "output::stream(",
        "println!(",
        "eprintln!(",
        "print!(",
        "eprint!(",
    ];
    for (file, code) in &files {
        let top = top_module(&src, file);
        if matches!(top.as_str(), "cmd" | "report" | "output" | "main") {
            continue;
        }
        for writer in writers {
            assert!(
                !code.contains(writer),
                "{file} writes to the terminal ({writer}); hand the data to a reporter in cmd/ instead"
            );
        }
    }
}
