//! `avpctl diff`: the project against a store (or every store of a group),
//! another directory or a git revision.

use super::{ExitCode, Settings};
use crate::cli::{DiffArgs, DiffFormat};
use crate::diff::{Comparison, OldSide};
use crate::error::Error;
use crate::plan::Side;
use crate::project::Project;
use crate::report;
use crate::report::diff::{GroupDiff, GroupMember};

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
    let new = Side::from_project(&project);
    let old = crate::diff::old_side(args, &project, &new, &mut scratch)?;
    let (code, found) = diff_one(args, &project, &new, &old)?;
    let new_label = new_label(args);
    crate::output::print(&match args.format {
        DiffFormat::Human => report::diff::human(&found, &old, &new_label, settings.out),
        DiffFormat::Json => report::json::pretty(&report::diff::json(&found, &old, &new_label)),
        DiffFormat::Markdown => {
            report::diff::markdown(&found, &old, &new_label, &args.dir, &settings.links)
        }
    })?;
    Ok(code)
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
    let new_label = new_label(args);
    let new = Side::from_project(project);
    let members = group
        .iter()
        .map(|member| crate::store::named_addresses(member, &project.config, &project.root))
        .collect::<Result<Vec<_>, _>>()?;
    let mut compared_members = Vec::new();
    for (name, address) in members.into_iter().flatten() {
        let compared = crate::diff::store_side(&address, name.as_deref(), &new, args)
            .and_then(|old| Ok((diff_one(args, project, &new, &old)?, reported(old))));
        let code = compared
            .as_ref()
            .map_or(ExitCode::Failure, |((code, _), _)| *code);
        worst = worst.worst(code);
        let kept = compared.map(|((_, found), old)| (found, old));
        compared_members.push((name, address, code, kept));
    }
    crate::output::print(&match args.format {
        DiffFormat::Human => {
            let mut human = String::new();
            for (name, address, _, kept) in &compared_members {
                let text = match kept {
                    Ok((found, old)) => report::diff::human(found, old, &new_label, settings.out),
                    Err(err) => format!("error: {err}\n"),
                };
                let label = crate::store::label(name.as_deref(), address.describe());
                human.push_str(&format!("== {}\n{text}\n", crate::text::one_line(&label)));
            }
            human
        }
        DiffFormat::Json => {
            let stores = compared_members
                .iter()
                .map(|(name, address, code, kept)| GroupMember {
                    name: name.as_deref(),
                    store: address.describe(),
                    exit_code: u8::from(*code),
                    diff: match kept {
                        Ok((found, old)) => {
                            GroupDiff::Diff(Box::new(report::diff::json(found, old, &new_label)))
                        }
                        Err(err) => GroupDiff::Error {
                            error: err.to_string(),
                        },
                    },
                })
                .collect();
            report::json::pretty(&report::diff::group_json(stores))
        }
        DiffFormat::Markdown => {
            let members: Vec<_> = compared_members
                .iter()
                .map(|(name, address, _, kept)| {
                    let label = crate::store::label(name.as_deref(), address.describe());
                    let kept = match kept {
                        Ok((found, old)) => Ok((found, old)),
                        Err(err) => Err(err.to_string()),
                    };
                    (label, kept)
                })
                .collect();
            report::diff::group_markdown(&members, &new_label, &args.dir, &settings.links)
        }
    })?;
    Ok(worst)
}

/// The new side as the report names it: the project directory.
fn new_label(args: &DiffArgs) -> String {
    args.dir.display().to_string()
}

/// What a group member's diff document reports of its store: the label,
/// the calls, unmanaged items and duplicate names. The store's policies,
/// the bulk of it, are let go before the next store is read.
fn reported(old: OldSide) -> OldSide {
    OldSide {
        label: old.label,
        side: Side {
            unmanaged: old.side.unmanaged,
            duplicates: old.side.duplicates,
            ..Side::default()
        },
        policy_set: cedar_policy::PolicySet::new(),
        calls: old.calls,
    }
}

/// The comparison, with findings when `--deny-widening` meets a widening,
/// or `--exit-code` a difference.
fn diff_one(
    args: &DiffArgs,
    project: &Project,
    new: &Side,
    old: &OldSide,
) -> Result<(ExitCode, Comparison), Error> {
    let found = crate::diff::compare(args, project, new, old)?;
    let code = ExitCode::findings_if(
        (args.deny_widening && found.may_widen()) || (args.exit_code && found.differs(old)),
    );
    Ok((code, found))
}
