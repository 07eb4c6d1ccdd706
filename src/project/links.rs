//! `links.yaml`: template-linked policies.

use std::collections::HashMap;
use std::path::Path;

use cedar_policy::{EntityUid, PolicyId, PolicySet, SlotId};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{LinkEntry, Place, PolicyEntry, PolicyKind};
use crate::diagnostic::{Diagnostic, Severity};
use crate::uid::UidSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    id: String,
    template: String,
    principal: Option<UidSpec>,
    resource: Option<UidSpec>,
}

/// Reads `links.yaml` if the project has one; problems become diagnostics.
pub(super) fn load(
    root: &Path,
    relative: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<LinkEntry> {
    if !root.join(relative).is_file() {
        return Vec::new();
    }
    let file = match crate::files::read(root, Path::new(relative)) {
        Ok(file) => file,
        Err(err) => {
            diagnostics.push(Diagnostic::from(&err));
            return Vec::new();
        }
    };
    let raw: Option<Vec<Spanned<RawLink>>> =
        match crate::yaml::parse(&file) {
            Ok(raw) => raw,
            Err(err) => {
                let mut diagnostic = Diagnostic::from(&err);
                // A malformed links file is a finding of `validate`, like a
                // policy that does not parse.
                diagnostic.unreadable = false;
                diagnostics.push(diagnostic.with_help_if_none(
                    "links.yaml is a list of {id, template, principal, resource}",
                ));
                return Vec::new();
            }
        };
    raw.unwrap_or_default()
        .into_iter()
        .filter_map(|spanned| {
            let location = crate::yaml::location(&file, &spanned.referenced);
            let raw = spanned.value;
            let mut resolve = |spec: Option<UidSpec>, slot: &str| match spec.map(|s| s.resolve()) {
                None => Ok(None),
                Some(Ok(uid)) => Ok(Some(uid)),
                Some(Err(message)) => {
                    diagnostics.push(
                        Diagnostic::error(
                            "link-uid",
                            format!("link `{}`: {slot}: {message}", raw.id),
                        )
                        .at(location.clone())
                        .for_policy(&raw.id),
                    );
                    Err(())
                }
            };
            let principal = resolve(raw.principal, "principal");
            let resource = resolve(raw.resource, "resource");
            Some(LinkEntry {
                id: raw.id,
                template: raw.template,
                principal: principal.ok()?,
                resource: resource.ok()?,
                location,
            })
        })
        .collect()
}

/// Links every entry into `policy_set`, reporting unknown templates, slot
/// mismatches and duplicate ids; returns the links that were made.
pub(super) fn link_all(
    links: Vec<LinkEntry>,
    policies: &[PolicyEntry],
    policy_set: &mut PolicySet,
    index: &mut HashMap<String, Place>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<LinkEntry> {
    let mut made = Vec::new();
    for link in links {
        match check_link(&link, policies, policy_set, &made, index) {
            Ok(slots) => {
                let linked = policy_set.link(
                    PolicyId::new(&link.template),
                    PolicyId::new(&link.id),
                    slots,
                );
                match linked {
                    Ok(()) => {
                        index.insert(link.id.clone(), Place::Link(made.len()));
                        made.push(link);
                    }
                    Err(err) => diagnostics.push(
                        Diagnostic::from_miette(
                            &err,
                            Severity::Error,
                            &link.location.file,
                            Some(link.location.span.clone()),
                        )
                        .for_policy(&link.id),
                    ),
                }
            }
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    made
}

fn check_link(
    link: &LinkEntry,
    policies: &[PolicyEntry],
    policy_set: &PolicySet,
    made: &[LinkEntry],
    index: &HashMap<String, Place>,
) -> Result<HashMap<SlotId, EntityUid>, Diagnostic> {
    let error = |code: &str, message: String| {
        Diagnostic::error(code, message)
            .at(link.location.clone())
            .for_policy(&link.id)
    };
    if let Some(reserved) = super::reserved_id(&link.id) {
        return Err(reserved.at(link.location.clone()).for_policy(&link.id));
    }
    match index.get(&link.id) {
        Some(Place::Policy(i)) => {
            let first = policies[*i].location();
            return Err(error(
                "duplicate-id",
                format!(
                    "link id `{}` is already the id of the policy at {}",
                    link.id,
                    first.short()
                ),
            )
            .with_related(Diagnostic::error("duplicate-id", "first defined here").at(first)));
        }
        Some(Place::Link(i)) => {
            let first = made[*i].location.clone();
            return Err(error(
                "duplicate-id",
                format!(
                    "link id `{}` is used twice (first at {})",
                    link.id,
                    first.short()
                ),
            )
            .with_related(Diagnostic::error("duplicate-id", "first defined here").at(first)));
        }
        None => {}
    }
    let template = match index.get(&link.template) {
        Some(Place::Policy(i)) => &policies[*i],
        Some(Place::Link(_)) | None => {
            let known = policies
                .iter()
                .filter(|p| p.kind == PolicyKind::Template)
                .map(|p| p.id.as_str());
            let mut diagnostic = error(
                "link-unknown-template",
                format!(
                    "link `{}` names template `{}`, which the project does not have",
                    link.id, link.template
                ),
            );
            if let Some(closest) = crate::suggest::closest(&link.template, known) {
                diagnostic = diagnostic.with_help(format!("did you mean `{closest}`?"));
            }
            return Err(diagnostic);
        }
    };
    if template.kind == PolicyKind::Static {
        return Err(error(
            "link-static-policy",
            format!(
                "link `{}` names `{}`, a static policy (it has no ?principal or ?resource slot), not a template",
                link.id, link.template
            ),
        )
        .with_help("link a template, or add slots to the policy to make it one")
        .with_related(Diagnostic::error("link-static-policy", "the static policy").at(template.location())));
    }
    let template_slots: Vec<SlotId> = policy_set
        .template(&PolicyId::new(&template.id))
        .map(|t| t.slots().cloned().collect())
        .unwrap_or_default();
    let mut slots = HashMap::new();
    for (slot, name, value) in [
        (SlotId::principal(), "principal", &link.principal),
        (SlotId::resource(), "resource", &link.resource),
    ] {
        let in_template = template_slots.contains(&slot);
        match (in_template, value) {
            (true, Some(uid)) => {
                slots.insert(slot, uid.clone());
            }
            (true, None) => {
                return Err(error(
                    "link-missing-slot",
                    format!(
                        "link `{}` gives no `{name}`, but template `{}` has ?{name}",
                        link.id, link.template
                    ),
                )
                .with_help(format!(
                    "add `{name}: 'Namespace::Type::\"id\"'` to the link"
                )));
            }
            (false, Some(_)) => {
                return Err(error(
                    "link-extra-slot",
                    format!(
                        "link `{}` gives a `{name}`, but template `{}` has no ?{name} slot",
                        link.id, link.template
                    ),
                )
                .with_help(format!("remove `{name}` from the link")));
            }
            (false, None) => {}
        }
    }
    Ok(slots)
}

trait WithHelpIfNone {
    fn with_help_if_none(self, help: &str) -> Self;
}

impl WithHelpIfNone for Diagnostic {
    fn with_help_if_none(mut self, help: &str) -> Self {
        if self.help.is_none() {
            self.help = Some(help.to_string());
        }
        self
    }
}
