//! `avpctl diff`: the project against a store (or every store of a group),
//! another directory or a git revision.

use serde_json::json;

use super::{ExitCode, Settings};
use crate::cli::{DiffArgs, PlainFormat};
use crate::diff::OldSide;
use crate::error::Error;
use crate::project::Project;
use crate::report;

pub fn run(args: &DiffArgs, settings: &Settings) -> Result<ExitCode, Error> {
    let project = crate::diff::load_clean(&args.dir)?;
    if let Some(group) = args
        .store
        .as_ref()
        .and_then(|g| project.config.store_groups.get(g))
    {
        return run_against_group(args, settings, &project, group);
    }
    let mut scratch = None;
    let old = crate::diff::old_side(args, &project, &mut scratch)?;
    let (code, rendered) = diff_one(args, settings, &project, &old)?;
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
    settings: &Settings,
    project: &Project,
    group: &[String],
) -> Result<ExitCode, Error> {
    let mut worst = ExitCode::Success;
    let mut human = String::new();
    let mut documents = Vec::new();
    let members = group
        .iter()
        .map(|member| crate::store::named_addresses(member, &project.config, &project.root))
        .collect::<Result<Vec<_>, _>>()?;
    for (name, address) in members.into_iter().flatten() {
        let (code, rendered) = match crate::diff::store_side(&address, name.as_deref(), args)
            .and_then(|old| diff_one(args, settings, project, &old))
        {
            Ok(done) => done,
            Err(err) => (
                ExitCode::Failure,
                match args.format {
                    PlainFormat::Json => Rendered::Json(json!({"error": err.to_string()})),
                    PlainFormat::Human => Rendered::Human(format!("error: {err}\n")),
                },
            ),
        };
        worst = worst.worst(code);
        let label = crate::store::label(name.as_deref(), address.describe());
        match rendered {
            Rendered::Human(text) => {
                human.push_str(&format!("== {}\n{text}\n", crate::text::one_line(&label)));
            }
            Rendered::Json(diff) => documents.push(json!({
                "name": name,
                "store": address.describe(),
                "exit_code": u8::from(code),
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

/// Findings when `--deny-widening` meets a widening, or `--exit-code` a
/// difference.
fn diff_one(
    args: &DiffArgs,
    settings: &Settings,
    project: &Project,
    old: &OldSide,
) -> Result<(ExitCode, Rendered), Error> {
    let found = crate::diff::compare(args, project, old)?;
    let new_label = args.dir.display().to_string();
    let rendered = match args.format {
        PlainFormat::Human => {
            Rendered::Human(report::diff::human(&found, old, &new_label, settings.out))
        }
        PlainFormat::Json => Rendered::Json(report::diff::json(&found, old, &new_label)),
    };
    let code = ExitCode::findings_if(
        (args.deny_widening && found.may_widen()) || (args.exit_code && found.differs(old)),
    );
    Ok((code, rendered))
}
