//! `avpctl diff`: what differs between the project (the new side) and a
//! store, another project or the project at a git revision (the old side),
//! judged on meaning and classed by what it does to access, with the test
//! cases whose decision flips.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::DiffArgs;
use crate::error::Error;
use crate::plan::{Side, changes};
use crate::project::Project;

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

/// The old side the arguments name; `new` is the project's side, which a
/// store side adopts from.
pub fn old_side(
    args: &DiffArgs,
    project: &Project,
    new: &Side,
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
    let address = crate::store::default_relative_to_project(text, address, &project.root);
    store_side(&address, None, new, args)
}

/// A store as the old side; `name` is its name in avpctl.toml, if any.
/// Its unnamed items that say what the project's (`new`) say are shown as
/// adopted (plan::adopt), as `deploy` would take them over.
pub fn store_side(
    address: &crate::store::StoreAddress,
    name: Option<&str>,
    new: &Side,
    args: &DiffArgs,
) -> Result<OldSide, Error> {
    let mut store = crate::store::open(address, &args.aws)?;
    let state = store
        .read()
        .map_err(|err| Error::Store(format!("{}: {err}", store.describe())))?;
    let side = Side::from_store(&state).adopt(new);
    let policy_set = side.policy_set();
    Ok(OldSide {
        label: crate::store::label(name, store.describe()),
        side,
        policy_set,
        calls: store.calls(),
    })
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

/// What `diff` found: the changes by meaning, the test cases whose
/// decision flips, the proof when asked for, and the old side it was made
/// against.
pub struct Comparison {
    pub changes: Vec<crate::plan::Change>,
    pub flips: Vec<crate::testing::Flip>,
    pub proof: Option<crate::prove::Proof>,
    /// `--impact`: the snapshot's requests whose decision flips.
    pub impact: Option<crate::access::Impact>,
}

impl Comparison {
    /// Whether the store or directory differs from the project (duplicate
    /// names count: they are drift).
    pub fn differs(&self, old: &OldSide) -> bool {
        !self.changes.is_empty() || !old.side.duplicates.is_empty()
    }

    /// The proof finds an environment that gains access, or the impact a
    /// request that turns to allow.
    pub fn may_widen(&self) -> bool {
        self.proof
            .as_ref()
            .is_some_and(crate::prove::Proof::may_widen)
            || self
                .impact
                .as_ref()
                .is_some_and(crate::access::Impact::widens)
    }
}

/// Compares `old` with the project.
pub fn compare(
    args: &DiffArgs,
    project: &Project,
    new: &Side,
    old: &OldSide,
) -> Result<Comparison, Error> {
    let changes = changes::compare(&old.side, new);
    let (flips, _) = crate::testing::decision_flips(project, &old.policy_set);
    let proof = if args.prove || args.deny_widening {
        Some(prove(args, project, old)?)
    } else {
        None
    };
    let impact = if args.impact {
        let entities = crate::access::snapshot(project, &args.entities)?;
        let query = crate::access::Query {
            principal: None,
            action: None,
            resource: None,
            context: Some(crate::access::parse_context(args.context.as_deref())?),
        };
        Some(crate::access::impact(
            project,
            &old.policy_set,
            &entities,
            &query,
        )?)
    } else {
        None
    };
    Ok(Comparison {
        changes,
        flips,
        proof,
        impact,
    })
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
