//! New project directories (`avpctl init`, `avpctl import`): the directory
//! must be absent or empty, and the files are written whole or not at all
//! (into a temporary directory inside it, moved into place at the end).

use std::path::{Path, PathBuf};

use crate::error::Error;

/// A file of a new project, relative to its directory.
#[derive(Debug, Clone)]
pub struct ProjectFile {
    pub path: PathBuf,
    pub content: String,
}

/// `dir` may be written as a new project: absent, or an empty directory.
pub fn require_new_directory(dir: &Path, command: &str) -> Result<(), Error> {
    let shown = crate::source::display_path(dir);
    match std::fs::read_dir(dir) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) if dir.exists() && !dir.is_dir() => Err(Error::Usage(format!(
            "{shown} is not a directory ({err}); `avpctl {command}` writes a new project into an absent or empty directory"
        ))),
        Err(err) => Err(Error::io(shown, err)),
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(Error::Usage(format!(
                "{shown} is not empty; `avpctl {command}` writes a new project into an absent or empty directory"
            ))),
        },
    }
}

/// Writes `files` below `dir`, all or nothing: they are written into a
/// temporary directory inside `dir` first, then moved up (renames within
/// one directory); a failure removes what was written, and `dir` itself
/// when this call created it.
pub fn write_project(dir: &Path, files: &[ProjectFile]) -> Result<(), Error> {
    let shown = crate::source::display_path(dir);
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|err| Error::io(shown.clone(), err))?;
    let result = stage_and_move(dir, files);
    if result.is_err() && created {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

fn stage_and_move(dir: &Path, files: &[ProjectFile]) -> Result<(), Error> {
    let shown = crate::source::display_path(dir);
    let staging = tempfile::Builder::new()
        .prefix(".avpctl-new-")
        .tempdir_in(dir)
        .map_err(|err| Error::io(shown.clone(), err))?;
    for file in files {
        if !is_plain_relative(&file.path) {
            return Err(Error::Usage(format!(
                "refusing to write {}: not a path inside the project",
                crate::source::display_path(&file.path)
            )));
        }
        let target = staging.path().join(&file.path);
        if let Some(folder) = target.parent() {
            std::fs::create_dir_all(folder).map_err(|err| Error::io(shown.clone(), err))?;
        }
        std::fs::write(&target, &file.content)
            .map_err(|err| Error::io(crate::source::display_path(&file.path), err))?;
    }
    let entries: Vec<_> = std::fs::read_dir(staging.path())
        .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
        .map_err(|err| Error::io(shown.clone(), err))?;
    let mut moved: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let target = dir.join(entry.file_name());
        if let Err(err) = std::fs::rename(entry.path(), &target) {
            for done in moved {
                let _ = remove_any(&done);
            }
            return Err(Error::io(shown, err));
        }
        moved.push(target);
    }
    Ok(())
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

/// Relative, without `..`, root or prefix components.
fn is_plain_relative(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// The project `avpctl init` writes: a schema, one policy and a passing
/// suite for it, a pre-commit configuration and a GitHub workflow that
/// uses the avpctl Action. It validates, tests and deploys as it stands.
pub fn starter_files() -> Vec<ProjectFile> {
    let file = |path: &str, content: &str| ProjectFile {
        path: PathBuf::from(path),
        content: content.to_string(),
    };
    vec![
        file("avpctl.toml", STARTER_CONFIG),
        file("schema.cedarschema", STARTER_SCHEMA),
        file("policies/owners-edit.cedar", STARTER_POLICY),
        file("tests/owners.yaml", STARTER_SUITE),
        file(".pre-commit-config.yaml", STARTER_PRE_COMMIT),
        file(".github/workflows/policies.yml", STARTER_WORKFLOW),
        file(
            ".gitignore",
            "# The embedded local store `avpctl deploy` writes by default.\n.avpctl/\n",
        ),
    ]
}

const STARTER_CONFIG: &str = r#"# avpctl project configuration (every key shown has its default value).
schema = "schema.cedarschema"
policies = "policies"
tests = "tests"
# templates = "templates"       # policy templates, when you add some
# links = "links.yaml"          # template-linked policies

# Name the stores you deploy to, then `avpctl deploy --store dev`:
# [stores.dev]
# uri = "avp:PSEXAMPLEabcdefg111111"
# region = "eu-west-1"
"#;

const STARTER_SCHEMA: &str = r#"// What the application's requests are about.
namespace App {
  entity User;

  entity Document {
    owner: User,
  };

  action view, edit appliesTo {
    principal: User,
    resource: Document,
  };
}
"#;

const STARTER_POLICY: &str = r#"// A document's owner may view and edit it.
@id("owners-edit")
permit (
  principal,
  action in [App::Action::"view", App::Action::"edit"],
  resource
)
when { resource.owner == principal };
"#;

const STARTER_SUITE: &str = r#"# Each case is one request with the decision it must get (docs/testing.md).
entities:
  - {uid: {type: App::User, id: alice}, attrs: {}, parents: []}
  - {uid: {type: App::User, id: bob}, attrs: {}, parents: []}
  - uid: {type: App::Document, id: plan}
    attrs: {owner: {__entity: {type: App::User, id: alice}}}
    parents: []
cases:
  - name: the owner edits her document
    principal: 'App::User::"alice"'
    action: 'App::Action::"edit"'
    resource: 'App::Document::"plan"'
    expect: allow
    reasons: [owners-edit]
  - name: someone else cannot view it
    principal: 'App::User::"bob"'
    action: 'App::Action::"view"'
    resource: 'App::Document::"plan"'
    expect: deny
"#;

const STARTER_PRE_COMMIT: &str = r#"# pre-commit (https://pre-commit.com): `pre-commit install`, then every
# commit is validated, tested and format-checked. Pin `rev` to an avpctl
# release tag; docs/ci.md in the avpctl repository lists the hooks.
repos:
  - repo: https://github.com/avpctl/avpctl
    rev: v0.1.0
    hooks:
      - id: avpctl-validate
      - id: avpctl-test
      - id: avpctl-fmt
"#;

const STARTER_WORKFLOW: &str = r#"# Validates and tests the policies on every pull request, with the report
# in the job summary and annotations on the changed lines.
name: policies
on:
  pull_request:
  push:
    branches: [main]
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: avpctl/avpctl@v0.1.0
        with:
          command: validate
      - uses: avpctl/avpctl@v0.1.0
        with:
          command: test
"#;
