//! `avpctl diff`: what differs between the project (the new side) and a
//! store, another project or the project at a git revision (the old side),
//! judged on meaning and classed by what it does to access, with the test
//! cases whose decision flips.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::cli::{ColorChoice, DiffArgs, PlainFormat};
use crate::error::Error;
use crate::plan::{Side, changes};
use crate::project::Project;
use crate::report::Style;

/// The store `diff` and `deploy` use when none is named.
pub use crate::store::DEFAULT_STORE;

/// The old side of a diff, ready to compare.
pub struct OldSide {
    pub label: String,
    pub side: Side,
    pub policy_set: cedar_policy::PolicySet,
    /// Store calls made to read it (empty for a directory).
    pub calls: std::collections::BTreeMap<String, usize>,
}

/// Loads a project that must load cleanly (it is compared, not checked).
pub fn load_clean(dir: &Path) -> Result<Project, Error> {
    let loaded = crate::project::load(dir)?;
    let errors: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        return Err(Error::Diagnosed {
            context: format!(
                "{} does not load; run `avpctl validate {}`",
                dir.display(),
                dir.display()
            ),
            diagnostics: errors,
        });
    }
    Ok(loaded.project)
}

fn old_side(
    args: &DiffArgs,
    project: &Project,
    scratch: &mut Option<tempfile::TempDir>,
) -> Result<OldSide, Error> {
    if let Some(other) = &args.against {
        let old = load_clean(other)?;
        return Ok(OldSide {
            label: other.display().to_string(),
            side: Side::from_project(&old),
            policy_set: old.policy_set.clone(),
            calls: Default::default(),
        });
    }
    if let Some(revision) = &args.against_git {
        let (dir, path) = export_revision(&args.dir, revision)?;
        let old = load_clean(&dir.path().join(&path))?;
        let side = Side::from_project(&old);
        let policy_set = old.policy_set.clone();
        *scratch = Some(dir);
        return Ok(OldSide {
            label: format!("{} at {revision}", args.dir.display()),
            side,
            policy_set,
            calls: Default::default(),
        });
    }
    let text = args.store.as_deref().unwrap_or(DEFAULT_STORE);
    let address = crate::store::resolve_address(text, &project.config, &project.root)?;
    let address = default_relative_to_project(text, address, &project.root);
    store_side(&address, None, args)
}

/// A store as the old side; `name` is its name in avpctl.toml, if any.
fn store_side(
    address: &crate::store::StoreAddress,
    name: Option<&str>,
    args: &DiffArgs,
) -> Result<OldSide, Error> {
    let mut store = crate::store::open(address, &args.aws)?;
    let state = store
        .read()
        .map_err(|err| Error::Store(format!("{}: {err}", store.describe())))?;
    let side = Side::from_store(&state);
    let policy_set = side.policy_set();
    Ok(OldSide {
        label: match name {
            Some(name) => format!("{name} ({})", store.describe()),
            None => store.describe(),
        },
        side,
        policy_set,
        calls: store.calls(),
    })
}

/// The default store lives in the project, wherever avpctl runs from.
pub fn default_relative_to_project(
    text: &str,
    address: crate::store::StoreAddress,
    root: &Path,
) -> crate::store::StoreAddress {
    match address {
        crate::store::StoreAddress::Local(path) if text == DEFAULT_STORE => {
            crate::store::StoreAddress::Local(root.join(path))
        }
        other => other,
    }
}

/// Extracts the project directory as it is at `revision` into a temporary
/// directory; returns it and the project's path inside it.
fn export_revision(dir: &Path, revision: &str) -> Result<(tempfile::TempDir, PathBuf), Error> {
    let git = |args: &[&str], cwd: &Path| Command::new("git").args(args).current_dir(cwd).output();
    let run_failed = |err: std::io::Error| Error::Usage(format!("--against-git needs git: {err}"));
    let top = git(&["rev-parse", "--show-toplevel"], dir).map_err(run_failed)?;
    if !top.status.success() {
        return Err(Error::Usage(format!(
            "--against-git: {} is not inside a git repository",
            dir.display()
        )));
    }
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    let verify = git(
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{revision}^{{commit}}"),
        ],
        &top,
    )
    .map_err(run_failed)?;
    if !verify.status.success() {
        return Err(Error::Usage(format!(
            "git revision `{revision}` does not exist (try `git fetch`, or a branch, tag or commit that does)"
        )));
    }
    let absolute = dir
        .canonicalize()
        .map_err(|err| Error::io(dir.display().to_string(), err))?;
    let inside = absolute
        .strip_prefix(top.canonicalize().unwrap_or(top.clone()))
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let scratch = tempfile::tempdir().map_err(|err| Error::io("temporary directory", err))?;
    let mut archive = vec![
        "archive".to_string(),
        "--format=tar".to_string(),
        revision.to_string(),
    ];
    if !inside.as_os_str().is_empty() {
        archive.push("--".into());
        archive.push(crate::source::display_path(&inside));
    }
    let tar = Command::new("git")
        .args(&archive)
        .current_dir(&top)
        .output()
        .map_err(run_failed)?;
    if !tar.status.success() {
        return Err(Error::Usage(format!(
            "git could not export {} at `{revision}`: {}",
            dir.display(),
            String::from_utf8_lossy(&tar.stderr).trim()
        )));
    }
    let mut extract = Command::new("tar")
        .args(["-x", "-C"])
        .arg(scratch.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| Error::Usage(format!("--against-git needs tar: {err}")))?;
    if let Some(mut stdin) = extract.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(&tar.stdout)
            .map_err(|err| Error::io("tar", err))?;
    }
    let status = extract.wait().map_err(|err| Error::io("tar", err))?;
    if !status.success() {
        return Err(Error::Usage(
            "tar could not extract the exported revision".into(),
        ));
    }
    let project = scratch.path().join(&inside);
    if !project.is_dir() {
        return Err(Error::Usage(format!(
            "{} did not exist at `{revision}`",
            dir.display()
        )));
    }
    Ok((scratch, inside))
}

/// `avpctl diff`.
pub fn run(args: &DiffArgs, color: ColorChoice) -> Result<u8, Error> {
    let project = load_clean(&args.dir)?;
    if let Some(group) = args
        .store
        .as_ref()
        .and_then(|g| project.config.store_groups.get(g))
    {
        return run_against_group(args, color, &project, group);
    }
    let mut scratch = None;
    let old = old_side(args, &project, &mut scratch)?;
    let (code, rendered) = diff_one(args, color, &project, &old)?;
    crate::output::print(&match rendered {
        Rendered::Human(text) => text,
        Rendered::Json(value) => format!("{value:#}\n"),
    })?;
    Ok(code)
}

/// A diff as people or machines read it.
enum Rendered {
    Human(String),
    Json(serde_json::Value),
}

/// `diff --store GROUP`: the project against each member in turn, each
/// reported as its own diff; the exit code is the worst of them.
fn run_against_group(
    args: &DiffArgs,
    color: ColorChoice,
    project: &Project,
    group: &[String],
) -> Result<u8, Error> {
    let mut worst = 0;
    let mut human = String::new();
    let mut documents = Vec::new();
    for (name, address) in group
        .iter()
        .map(|member| crate::store::named_addresses(member, &project.config, &project.root))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
    {
        let (code, rendered) = match store_side(&address, name.as_deref(), args)
            .and_then(|old| diff_one(args, color, project, &old))
        {
            Ok(done) => done,
            Err(err) => (
                2,
                match args.format {
                    PlainFormat::Json => Rendered::Json(json!({"error": err.to_string()})),
                    PlainFormat::Human => Rendered::Human(format!("error: {err}\n")),
                },
            ),
        };
        worst = worst.max(code);
        let label = match &name {
            Some(name) => format!("{name} ({})", address.describe()),
            None => address.describe(),
        };
        match rendered {
            Rendered::Human(text) => {
                human.push_str(&format!("== {}\n{text}\n", crate::text::one_line(&label)));
            }
            Rendered::Json(diff) => documents.push(json!({
                "name": name,
                "store": address.describe(),
                "exit_code": code,
                "diff": diff,
            })),
        }
    }
    crate::output::print(&match args.format {
        PlainFormat::Human => human,
        PlainFormat::Json => format!("{:#}\n", json!({"version": 1, "stores": documents})),
    })?;
    Ok(worst)
}

fn diff_one(
    args: &DiffArgs,
    color: ColorChoice,
    project: &Project,
    old: &OldSide,
) -> Result<(u8, Rendered), Error> {
    let project = project;
    let new = Side::from_project(project);
    let changes = changes::compare(&old.side, &new);
    let (flips, _) = crate::testing::decision_flips(project, &old.policy_set);
    let proof = if args.prove || args.deny_widening {
        Some(prove(args, project, old)?)
    } else {
        None
    };
    let new_label = args.dir.display().to_string();
    let out = match args.format {
        PlainFormat::Human => {
            let style = Style::for_stdout(color);
            let mut out = String::new();
            let duplicates = &old.side.duplicates;
            if changes.is_empty() && duplicates.is_empty() {
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
                    &changes,
                    &old.side.unmanaged,
                    &flips,
                    style,
                ));
                out.push_str(&summary_line(&changes, flips.len()));
            }
            if !duplicates.is_empty() {
                out.push_str(&duplicates_human(duplicates, style));
            }
            if changes.is_empty() && !old.side.unmanaged.is_empty() {
                out.push_str(&crate::report::plan::changes_human(
                    &[],
                    &old.side.unmanaged,
                    &[],
                    style,
                ));
            }
            if let Some(proof) = &proof {
                out.push_str(&crate::report::proof::human(proof, style));
            }
            Rendered::Human(out)
        }
        PlainFormat::Json => Rendered::Json(json!({
                "old": old.label,
                "new": new_label,
                "summary": {
                    "counts": crate::report::plan::summary_counts(&changes),
                    "flips": flips.len(),
                    "unmanaged": old.side.unmanaged.len(),
                    "duplicates": old.side.duplicates.len(),
                },
                "duplicates": old.side.duplicates.iter().map(|d| json!({"kind": d.kind, "name": d.name, "store_ids": d.store_ids})).collect::<Vec<_>>(),
                "changes": changes.iter().map(crate::report::plan::change_json).collect::<Vec<_>>(),
                "unmanaged": old.side.unmanaged.iter().map(crate::report::plan::unmanaged_json).collect::<Vec<_>>(),
                "flips": flips.iter().map(crate::report::plan::flip_json).collect::<Vec<_>>(),
                "store_calls": old.calls,
                "proof": proof.as_ref().map(crate::report::proof::json),
        })),
    };
    let widens = args.deny_widening && proof.as_ref().is_some_and(crate::prove::Proof::may_widen);
    let differs = !changes.is_empty() || !old.side.duplicates.is_empty();
    let code = if widens || (args.exit_code && differs) {
        1
    } else {
        0
    };
    Ok((code, out))
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
            crate::plan::side::printable(&duplicate.name),
            duplicate.store_ids.len(),
            crate::plan::side::printable(&duplicate.store_ids.join(", "))
        ));
    }
    out
}

/// The proof of the change: each side's policies under its own schema (an
/// old side without one is judged under the project's).
fn prove(args: &DiffArgs, project: &Project, old: &OldSide) -> Result<crate::prove::Proof, Error> {
    use crate::prove::{ProveError, SideRef};
    let schema = project
        .schema()
        .ok_or_else(|| Error::Usage(ProveError::NoSchema.to_string()))?;
    let old_schema = match &old.side.schema {
        Some(json) => Some(
            cedar_policy::Schema::from_json_value(json.clone()).map_err(|err| {
                Error::Usage(
                    ProveError::OldSchema(crate::diagnostic::message_with_causes(&err)).to_string(),
                )
            })?,
        ),
        None => None,
    };
    let options = crate::prove::Options {
        query_timeout: std::time::Duration::from_secs(args.prove_timeout.max(1)),
    };
    let sides = (
        SideRef {
            policies: &old.policy_set,
            schema: old_schema.as_ref(),
        },
        SideRef {
            policies: &project.policy_set,
            schema: Some(schema),
        },
    );
    crate::prove::prove(sides.0, sides.1, options).map_err(|err| match err {
        ProveError::NoSolver
        | ProveError::NotValid { .. }
        | ProveError::NoSchema
        | ProveError::OldSchema(_) => Error::Usage(err.to_string()),
        other => Error::Store(other.to_string()),
    })
}

pub fn summary_line(changes: &[crate::plan::Change], flips: usize) -> String {
    use crate::plan::Access;
    let count = |a: Access| changes.iter().filter(|c| c.access == a).count();
    format!(
        "{} change{}: {} widen, {} narrow, {} either way, {} neutral; {} test decision{} flip\n",
        changes.len(),
        crate::validate::plural(changes.len()),
        count(Access::Widens),
        count(Access::Narrows),
        count(Access::Changes),
        count(Access::Neutral),
        flips,
        crate::validate::plural(flips)
    )
}
