//! Evaluating only the policies that can apply to a request.
//!
//! Cedar's authorizer evaluates every policy of the set for every request.
//! A policy whose scope does not match the request is never satisfied and
//! never raises an error (the scope is checked before the conditions, and
//! checking it cannot fail), so leaving it out changes neither the decision
//! nor the determining policies nor the errors. The slicer keeps, per
//! request, exactly the policies whose scope matches — decided with the
//! same entity hierarchy Cedar uses — and hands that smaller set to Cedar's
//! own authorizer. Templates are never evaluated; links are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cedar_policy::{
    ActionConstraint, Entities, EntityUid, Policy, PolicyId, PolicySet, PrincipalConstraint,
    ResourceConstraint,
};

pub struct Slicer {
    policies: Vec<Policy>,
    /// Each policy's scope, read once (index-aligned with `policies`).
    scopes: Vec<Scope>,
    /// Policies scoped to exactly one action, by that action.
    by_action: HashMap<EntityUid, Vec<u32>>,
    /// Policies scoped to any action or to action groups.
    any_action: Vec<u32>,
    /// The template of each linked policy (index-aligned with `policies`).
    templates: HashMap<PolicyId, cedar_policy::Template>,
    /// Sub-sets already built, by the indices they hold.
    cache: Mutex<HashMap<Box<[u32]>, Arc<PolicySet>>>,
}

/// Bound on cached sub-sets, so memory stays flat on millions of requests.
const CACHE_LIMIT: usize = 256;

impl Slicer {
    pub fn new(policy_set: &PolicySet) -> Slicer {
        let policies: Vec<Policy> = policy_set.policies().cloned().collect();
        let scopes: Vec<Scope> = policies.iter().map(Scope::of).collect();
        let mut by_action: HashMap<EntityUid, Vec<u32>> = HashMap::new();
        let mut any_action = Vec::new();
        for (i, scope) in scopes.iter().enumerate() {
            let i = index(i);
            match &scope.action {
                ActionConstraint::Eq(action) => {
                    by_action.entry(action.clone()).or_default().push(i)
                }
                _ => any_action.push(i),
            }
        }
        Slicer {
            policies,
            scopes,
            by_action,
            any_action,
            templates: policy_set
                .templates()
                .map(|t| (t.id().clone(), t.clone()))
                .collect(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The policies whose scope matches the request.
    pub fn slice(
        &self,
        principal: &EntityUid,
        action: &EntityUid,
        resource: &EntityUid,
        entities: &Entities,
    ) -> Arc<PolicySet> {
        let action_ancestors: Vec<&EntityUid> = entities
            .ancestors(action)
            .map(Iterator::collect)
            .unwrap_or_default();
        let exact = self.by_action.get(action).map_or(&[][..], Vec::as_slice);
        let mut matching: Vec<u32> = exact
            .iter()
            .chain(&self.any_action)
            .copied()
            .filter(|&i| {
                let scope = &self.scopes[i as usize];
                action_matches(&scope.action, action, &action_ancestors)
                    && principal_matches(&scope.principal, principal, entities)
                    && resource_matches(&scope.resource, resource, entities)
            })
            .collect();
        matching.sort_unstable();
        let matching = matching.into_boxed_slice();
        if let Some(set) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&matching).cloned())
        {
            return set;
        }
        let set = Arc::new(self.build(&matching));
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(matching, set.clone());
        }
        set
    }

    fn build(&self, indices: &[u32]) -> PolicySet {
        let mut set = PolicySet::new();
        for &i in indices {
            let policy = &self.policies[i as usize];
            // Ids are unique in the full set, so adding to a subset cannot
            // conflict; a failure here would only drop a policy, which the
            // conformance and property tests would catch.
            let _ = match policy.template_id() {
                None => set.add(policy.clone()),
                Some(template_id) => {
                    if set.template(template_id).is_none()
                        && let Some(template) = self.templates.get(template_id)
                    {
                        let _ = set.add_template(template.clone());
                    }
                    set.link(
                        template_id.clone(),
                        policy.id().clone(),
                        policy.template_links().unwrap_or_default(),
                    )
                }
            };
        }
        set
    }
}

struct Scope {
    principal: PrincipalConstraint,
    action: ActionConstraint,
    resource: ResourceConstraint,
}

impl Scope {
    fn of(policy: &Policy) -> Scope {
        Scope {
            principal: policy.principal_constraint(),
            action: policy.action_constraint(),
            resource: policy.resource_constraint(),
        }
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 policies")
}

fn is_in(entity: &EntityUid, group: &EntityUid, entities: &Entities) -> bool {
    entity == group || entities.is_ancestor_of(group, entity)
}

fn action_matches(
    constraint: &ActionConstraint,
    action: &EntityUid,
    ancestors: &[&EntityUid],
) -> bool {
    match constraint {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(uid) => uid == action,
        ActionConstraint::In(groups) => groups
            .iter()
            .any(|group| group == action || ancestors.contains(&group)),
    }
}

fn principal_matches(
    constraint: &PrincipalConstraint,
    principal: &EntityUid,
    entities: &Entities,
) -> bool {
    match constraint {
        PrincipalConstraint::Any => true,
        PrincipalConstraint::Eq(uid) => uid == principal,
        PrincipalConstraint::In(group) => is_in(principal, group, entities),
        PrincipalConstraint::Is(type_name) => principal.type_name() == type_name,
        PrincipalConstraint::IsIn(type_name, group) => {
            principal.type_name() == type_name && is_in(principal, group, entities)
        }
    }
}

fn resource_matches(
    constraint: &ResourceConstraint,
    resource: &EntityUid,
    entities: &Entities,
) -> bool {
    match constraint {
        ResourceConstraint::Any => true,
        ResourceConstraint::Eq(uid) => uid == resource,
        ResourceConstraint::In(group) => is_in(resource, group, entities),
        ResourceConstraint::Is(type_name) => resource.type_name() == type_name,
        ResourceConstraint::IsIn(type_name, group) => {
            resource.type_name() == type_name && is_in(resource, group, entities)
        }
    }
}
