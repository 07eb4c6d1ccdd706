//! Saved plans (`deploy --plan-out FILE`, `deploy --plan FILE`): a plan
//! with what it was made against — the store's [`Fingerprint`], a content
//! hash of every item the project deploys, avpctl's version — so that what
//! is applied is exactly what was reviewed. Applying re-reads the store and
//! the project, plans again, and refuses unless all of it is unchanged and
//! the new plan's steps are the saved ones (Terraform's stale-plan rule).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::side::{Body, Side};
use super::{Plan, Steps};
use crate::store::{Expected, Fingerprint, content_hash};

/// What the `kind` key of a plan file says.
pub const KIND: &str = "avpctl-plan";

/// The plan file's layout version; another one is refused.
pub const FORMAT: u32 = 1;

/// What a plan was made against, and its steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Basis {
    /// The store, whatever address reached it (`Store::identity`).
    pub store_identity: String,
    pub store: Fingerprint,
    pub project: ProjectPrint,
    /// The steps as they serialize: compared as a whole when applying.
    pub steps: Value,
}

impl Basis {
    pub fn of(
        store_identity: String,
        state: &crate::store::StoreState,
        new: &Side,
        steps: &Steps,
    ) -> Basis {
        Basis {
            store_identity,
            store: state.fingerprint(),
            project: ProjectPrint::of(new),
            steps: serde_json::to_value(steps).unwrap_or(Value::Null),
        }
    }
}

/// A content hash of each item a project deploys: the schema, each policy,
/// template and link by id (statement text exactly, description), the
/// identity source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProjectPrint(BTreeMap<String, String>);

impl ProjectPrint {
    pub fn of(side: &Side) -> ProjectPrint {
        let mut items = BTreeMap::new();
        if let Some(schema) = &side.schema {
            items.insert("schema".to_string(), content_hash(schema));
        }
        for (id, policy) in &side.policies {
            let body = match &policy.body {
                Body::Static { statement } => ("static", statement, &None, &None),
                Body::Linked {
                    template,
                    principal,
                    resource,
                } => ("linked", template, principal, resource),
            };
            items.insert(
                format!("policy `{id}`"),
                content_hash(&(body, &policy.description)),
            );
        }
        for (id, template) in &side.templates {
            items.insert(
                format!("template `{id}`"),
                content_hash(&(&template.statement, &template.description)),
            );
        }
        if let (true, Some(identity)) = (side.manages_identity, &side.identity) {
            items.insert(
                "identity source".to_string(),
                content_hash(&identity.source.to_json()),
            );
        }
        ProjectPrint(items)
    }

    /// "policy `a` changed", "template `t` was added", one per item.
    fn changes_to(&self, now: &ProjectPrint) -> Vec<String> {
        let keys: BTreeSet<&String> = self.0.keys().chain(now.0.keys()).collect();
        keys.into_iter()
            .filter_map(|key| match (self.0.get(key), now.0.get(key)) {
                (None, Some(_)) => Some(format!("the project adds {key}")),
                (Some(_), None) => Some(format!("the project no longer has {key}")),
                (Some(a), Some(b)) if a != b => Some(format!("the project changes {key}")),
                _ => None,
            })
            .collect()
    }
}

/// A plan file (docs/saved-plans.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub version: u32,
    pub kind: String,
    /// The avpctl release that made it; another release refuses it.
    pub avpctl: String,
    /// The store it was made for: `avp:ID`, or a local store's canonical
    /// path, whatever address reached it.
    pub store: String,
    pub prune: bool,
    pub store_state: Fingerprint,
    pub project: ProjectPrint,
    pub summary: SavedSummary,
    pub steps: Value,
}

/// What the plan does, for a person opening the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedSummary {
    pub changes: usize,
    pub steps: usize,
    pub labels: Vec<String>,
}

impl SavedPlan {
    pub fn new(prune: bool, plan: &Plan, basis: &Basis) -> SavedPlan {
        SavedPlan {
            version: FORMAT,
            kind: KIND.to_string(),
            avpctl: env!("CARGO_PKG_VERSION").to_string(),
            store: basis.store_identity.clone(),
            prune,
            store_state: basis.store.clone(),
            project: basis.project.clone(),
            summary: SavedSummary {
                changes: plan.changes.len(),
                steps: plan.steps.count(),
                labels: plan
                    .steps
                    .waves
                    .iter()
                    .flat_map(|(_, wave)| wave.iter().map(|s| s.label.clone()))
                    .collect(),
            },
            steps: basis.steps.clone(),
        }
    }

    /// The layout problems that make a file not a plan this avpctl reads.
    pub fn check_format(&self) -> Result<(), String> {
        if self.kind != KIND {
            return Err(format!("`kind` is {:?}, not {KIND:?}", self.kind));
        }
        if self.version != FORMAT {
            return Err(format!(
                "plan file version {} (this avpctl reads version {FORMAT})",
                self.version
            ));
        }
        Ok(())
    }

    /// Why the plan can no longer be applied to `store` as it is now
    /// (`now`, re-planned from the project as it is now); empty when it
    /// can, exactly.
    pub fn stale(&self, now: &Basis) -> Vec<String> {
        let mut reasons = Vec::new();
        let ours = env!("CARGO_PKG_VERSION");
        if self.avpctl != ours {
            reasons.push(format!(
                "the plan was made by avpctl {}, this is avpctl {ours}",
                self.avpctl
            ));
        }
        if self.store != now.store_identity {
            reasons.push(format!(
                "the plan was made for {}, not {}",
                self.store, now.store_identity
            ));
            return reasons;
        }
        reasons.extend(
            self.store_state
                .unexpected_changes(&now.store, &Expected::default())
                .into_iter()
                .map(|change| format!("in the store, {change}")),
        );
        reasons.extend(self.project.changes_to(&now.project));
        if reasons.is_empty() && self.steps != now.steps {
            reasons.push("planned again, the same project and store give other steps".to_string());
        }
        reasons
    }
}
