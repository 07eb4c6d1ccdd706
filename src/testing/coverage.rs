//! Which policies the cases exercised, and which request environments of
//! the schema no case asks about.

use std::collections::{BTreeMap, BTreeSet};

use super::outcome::CaseOutcome;
use crate::project::{PolicyKind, Project};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Policy,
    Template,
    Link,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Policy => "policy",
            ItemKind::Template => "template",
            ItemKind::Link => "link",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ItemCoverage {
    pub id: String,
    pub kind: ItemKind,
    /// Cases in which the policy was a determining policy (for a template:
    /// summed over its links).
    pub determined: usize,
    /// Cases in which it raised an evaluation error.
    pub errored: usize,
}

impl ItemCoverage {
    pub fn exercised(&self) -> bool {
        self.determined + self.errored > 0
    }
}

#[derive(Debug, Clone)]
pub struct Coverage {
    pub items: Vec<ItemCoverage>,
    /// `(principal type, action, resource type)` the schema allows and no
    /// case requested.
    pub untested_envs: Vec<(String, String, String)>,
    pub total_envs: usize,
}

impl Coverage {
    /// Percentage of static policies and templates exercised (links are
    /// instances of their template and count through it).
    pub fn percent(&self) -> f64 {
        let counted: Vec<&ItemCoverage> = self
            .items
            .iter()
            .filter(|i| i.kind != ItemKind::Link)
            .collect();
        if counted.is_empty() {
            return 100.0;
        }
        let exercised = counted.iter().filter(|i| i.exercised()).count();
        100.0 * exercised as f64 / counted.len() as f64
    }
}

pub fn measure(project: &Project, outcomes: &[CaseOutcome]) -> Coverage {
    let mut determined: BTreeMap<&str, usize> = BTreeMap::new();
    let mut errored: BTreeMap<&str, usize> = BTreeMap::new();
    let mut requested = BTreeSet::new();
    for outcome in outcomes {
        for id in &outcome.reasons {
            *determined.entry(id.as_str()).or_default() += 1;
        }
        for error in &outcome.errors {
            *errored.entry(error.policy.as_str()).or_default() += 1;
        }
        let check = &outcome.check;
        requested.insert((
            check.principal.type_name().to_string(),
            check.action.to_string(),
            check.resource.type_name().to_string(),
        ));
    }
    let count = |map: &BTreeMap<&str, usize>, id: &str| map.get(id).copied().unwrap_or(0);
    let mut items = Vec::new();
    for policy in &project.policies {
        let (kind, determined, errored) = match policy.kind {
            PolicyKind::Static => (
                ItemKind::Policy,
                count(&determined, &policy.id),
                count(&errored, &policy.id),
            ),
            PolicyKind::Template => {
                let links = project.links.iter().filter(|l| l.template == policy.id);
                links.fold((ItemKind::Template, 0, 0), |(kind, d, e), link| {
                    (
                        kind,
                        d + count(&determined, &link.id),
                        e + count(&errored, &link.id),
                    )
                })
            }
        };
        items.push(ItemCoverage {
            id: policy.id.clone(),
            kind,
            determined,
            errored,
        });
    }
    for link in &project.links {
        items.push(ItemCoverage {
            id: link.id.clone(),
            kind: ItemKind::Link,
            determined: count(&determined, &link.id),
            errored: count(&errored, &link.id),
        });
    }
    let (untested_envs, total_envs) = match project.schema() {
        Some(schema) => {
            let all: BTreeSet<(String, String, String)> = schema
                .request_envs()
                .map(|env| {
                    (
                        env.principal().to_string(),
                        env.action().to_string(),
                        env.resource().to_string(),
                    )
                })
                .collect();
            let total = all.len();
            (
                all.into_iter()
                    .filter(|env| !requested.contains(env))
                    .collect(),
                total,
            )
        }
        None => (Vec::new(), 0),
    };
    Coverage {
        items,
        untested_envs,
        total_envs,
    }
}
