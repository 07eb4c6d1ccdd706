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
//!
//! The policies whose scope matches are found by a **scope index**, not by
//! a scan: for each of principal, action and resource, the policies that
//! constrain it to an entity (`==`, `in`, `is … in`) are filed under that
//! entity, and the rest (unconstrained, `is`) under nothing or the type.
//! A request's candidates for one slot are then a few lookups — the
//! entity itself and each of its ancestors — and its slice is the
//! intersection of the three slots' sets ([`PolicyBits`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cedar_policy::{
    ActionConstraint, Effect, Entities, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet,
    PrincipalConstraint, ResourceConstraint,
};

/// The fast hasher the index's lookups use (the keys are entity ids from
/// the project, not from an adversary that could choose collisions).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A set of the slicer's policies, by their index (one bit each).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyBits(Box<[u64]>);

impl PolicyBits {
    fn empty(policies: usize) -> PolicyBits {
        PolicyBits(vec![0; policies.div_ceil(64)].into_boxed_slice())
    }

    /// The set as words of 64 policies each.
    pub fn words(&self) -> &[u64] {
        &self.0
    }

    /// An empty set of the same policies.
    pub fn none(&self) -> PolicyBits {
        PolicyBits(vec![0; self.0.len()].into_boxed_slice())
    }

    pub fn insert(&mut self, index: u32) {
        self.0[index as usize / 64] |= 1 << (index % 64);
    }

    pub fn union_with(&mut self, other: &PolicyBits) {
        for (word, other) in self.0.iter_mut().zip(&other.0) {
            *word |= other;
        }
    }

    /// The policies in both sets.
    pub fn and(&self, other: &PolicyBits) -> PolicyBits {
        PolicyBits(self.0.iter().zip(&other.0).map(|(a, b)| a & b).collect())
    }

    /// The policies of this set that are not in `other`.
    pub fn without(&self, other: &PolicyBits) -> PolicyBits {
        PolicyBits(self.0.iter().zip(&other.0).map(|(a, b)| a & !b).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&word| word == 0)
    }

    /// Whether the two sets share a policy.
    pub fn meets(&self, other: &PolicyBits) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| a & b != 0)
    }

    /// The policies' indices, in order.
    pub fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some(w as u32 * 64 + bit)
            })
        })
    }
}

/// One slot's part of the index: which policies a principal (or action,
/// or resource) can match, found from the entity and its ancestors.
struct SlotIndex {
    /// No constraint on this slot.
    unconstrained: PolicyBits,
    /// `is T`, by type.
    by_type: FastMap<EntityTypeName, PolicyBits>,
    /// `== E`, by `E`.
    equal: FastMap<EntityUid, Vec<u32>>,
    /// `in E` (and for actions, `in [E, …]`), by `E`: matched by `E` and by
    /// every entity below it.
    within: FastMap<EntityUid, Vec<u32>>,
    /// `is T in E`, by `E`, with `T`.
    typed_within: FastMap<EntityUid, Vec<(u32, EntityTypeName)>>,
}

/// How one policy constrains one slot.
enum Constraint {
    Any,
    Is(EntityTypeName),
    Equal(EntityUid),
    Within(Vec<EntityUid>),
    TypedWithin(EntityTypeName, EntityUid),
}

impl SlotIndex {
    fn new(policies: usize, constraints: impl Iterator<Item = Constraint>) -> SlotIndex {
        let mut slot = SlotIndex {
            unconstrained: PolicyBits::empty(policies),
            by_type: FastMap::default(),
            equal: FastMap::default(),
            within: FastMap::default(),
            typed_within: FastMap::default(),
        };
        for (i, constraint) in constraints.enumerate() {
            let i = index(i);
            match constraint {
                Constraint::Any => slot.unconstrained.insert(i),
                Constraint::Is(type_name) => slot
                    .by_type
                    .entry(type_name)
                    .or_insert_with(|| PolicyBits::empty(policies))
                    .insert(i),
                Constraint::Equal(uid) => slot.equal.entry(uid).or_default().push(i),
                Constraint::Within(groups) => {
                    for group in groups {
                        slot.within.entry(group).or_default().push(i);
                    }
                }
                Constraint::TypedWithin(type_name, group) => slot
                    .typed_within
                    .entry(group)
                    .or_default()
                    .push((i, type_name)),
            }
        }
        slot
    }

    /// The policies whose constraint on this slot `uid` satisfies, with
    /// the hierarchy of `entities` (an entity they do not hold has no
    /// ancestors, as in Cedar).
    fn matching(&self, uid: &EntityUid, entities: &Entities) -> PolicyBits {
        let mut bits = self.unconstrained.clone();
        let type_name = uid.type_name();
        if let Some(typed) = self.by_type.get(type_name) {
            bits.union_with(typed);
        }
        for &i in self.equal.get(uid).into_iter().flatten() {
            bits.insert(i);
        }
        let ancestors = entities.ancestors(uid).into_iter().flatten();
        for group in std::iter::once(uid).chain(ancestors) {
            for &i in self.within.get(group).into_iter().flatten() {
                bits.insert(i);
            }
            for (i, wanted) in self.typed_within.get(group).into_iter().flatten() {
                if wanted == type_name {
                    bits.insert(*i);
                }
            }
        }
        bits
    }
}

pub struct Slicer {
    policies: Vec<Policy>,
    principals: SlotIndex,
    actions: SlotIndex,
    resources: SlotIndex,
    permits: PolicyBits,
    /// The template of each linked policy.
    templates: HashMap<PolicyId, cedar_policy::Template>,
    /// Sub-sets already built, by the policies they hold.
    cache: SetCache,
}

/// Policy sets already built, by the policies they hold; bounded, so
/// memory stays flat on millions of requests.
#[derive(Default)]
pub struct SetCache(RwLock<FastMap<PolicyBits, Arc<PolicySet>>>);

impl SetCache {
    /// The set `policies` names, built by `build` the first time.
    pub fn get_or_build(
        &self,
        policies: &PolicyBits,
        build: impl FnOnce() -> PolicySet,
    ) -> Arc<PolicySet> {
        if let Some(set) = self.0.read().ok().and_then(|c| c.get(policies).cloned()) {
            return set;
        }
        let set = Arc::new(build());
        if let Ok(mut cache) = self.0.write() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(policies.clone(), Arc::clone(&set));
        }
        set
    }
}

/// Bound on a [`SetCache`].
/// Requests over one resource tree share few distinct sets (one per
/// folder, say), so a few thousand cover an organisation's snapshot.
const CACHE_LIMIT: usize = 4096;

impl Slicer {
    pub fn new(policy_set: &PolicySet) -> Slicer {
        let policies: Vec<Policy> = policy_set.policies().cloned().collect();
        let count = policies.len();
        let permits = bits_where(&policies, |p| p.effect() == Effect::Permit);
        Slicer {
            principals: SlotIndex::new(
                count,
                policies.iter().map(|p| principal(p.principal_constraint())),
            ),
            actions: SlotIndex::new(
                count,
                policies.iter().map(|p| action(p.action_constraint())),
            ),
            resources: SlotIndex::new(
                count,
                policies.iter().map(|p| resource(p.resource_constraint())),
            ),
            permits,
            templates: policy_set
                .templates()
                .map(|t| (t.id().clone(), t.clone()))
                .collect(),
            policies,
            cache: SetCache::default(),
        }
    }

    /// How many policies the slicer holds (their indices are below it).
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The policies whose scope matches the request.
    pub fn slice(
        &self,
        principal: &EntityUid,
        action: &EntityUid,
        resource: &EntityUid,
        entities: &Entities,
    ) -> Arc<PolicySet> {
        self.policy_set(&self.bits(principal, action, resource, entities))
    }

    /// The policies whose scope the request of `principal`, `action` and
    /// `resource` satisfies.
    pub fn bits(
        &self,
        principal: &EntityUid,
        action: &EntityUid,
        resource: &EntityUid,
        entities: &Entities,
    ) -> PolicyBits {
        self.action_bits(action, entities)
            .and(&self.principal_bits(principal, entities))
            .and(&self.resource_bits(resource, entities))
    }

    /// The policies whose principal constraint `principal` satisfies.
    pub fn principal_bits(&self, principal: &EntityUid, entities: &Entities) -> PolicyBits {
        self.principals.matching(principal, entities)
    }

    /// The policies whose action constraint `action` satisfies.
    pub fn action_bits(&self, action: &EntityUid, entities: &Entities) -> PolicyBits {
        self.actions.matching(action, entities)
    }

    /// The policies whose resource constraint `resource` satisfies.
    pub fn resource_bits(&self, resource: &EntityUid, entities: &Entities) -> PolicyBits {
        self.resources.matching(resource, entities)
    }

    /// Whether some policy of `bits` is a `permit` (without one, Cedar
    /// denies).
    pub fn any_permit(&self, bits: &PolicyBits) -> bool {
        bits.meets(&self.permits)
    }

    /// The policies of `policies` as a set Cedar can evaluate (with the
    /// templates of its links).
    pub fn policy_set(&self, policies: &PolicyBits) -> Arc<PolicySet> {
        self.cache.get_or_build(policies, || self.build(policies))
    }

    /// The slicer's policies that `keep` selects, as bits.
    pub fn select(&self, keep: impl Fn(&Policy) -> bool) -> PolicyBits {
        bits_where(&self.policies, keep)
    }

    /// The policies of `bits` that `keep` selects.
    pub fn select_within(&self, bits: &PolicyBits, keep: impl Fn(&Policy) -> bool) -> PolicyBits {
        let mut kept = PolicyBits::empty(self.policies.len());
        for i in bits.indices() {
            if keep(&self.policies[i as usize]) {
                kept.insert(i);
            }
        }
        kept
    }

    /// The `permit` policies of `bits`.
    pub fn permits_of(&self, bits: &PolicyBits) -> PolicyBits {
        bits.and(&self.permits)
    }

    /// The policies of `bits` with their indices, in the slicer's order.
    pub fn indexed_policies_of<'s>(
        &'s self,
        bits: &'s PolicyBits,
    ) -> impl Iterator<Item = (u32, &'s Policy)> {
        bits.indices().map(|i| (i, &self.policies[i as usize]))
    }

    /// The policies of `bits`, in the slicer's order.
    pub fn policies_of<'s>(&'s self, bits: &'s PolicyBits) -> impl Iterator<Item = &'s Policy> {
        bits.indices().map(|i| &self.policies[i as usize])
    }

    fn build(&self, policies: &PolicyBits) -> PolicySet {
        let mut set = PolicySet::new();
        for i in policies.indices() {
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

/// The policies of `policies` that `keep` selects, by index.
fn bits_where(policies: &[Policy], keep: impl Fn(&Policy) -> bool) -> PolicyBits {
    let mut bits = PolicyBits::empty(policies.len());
    for (i, policy) in policies.iter().enumerate() {
        if keep(policy) {
            bits.insert(index(i));
        }
    }
    bits
}

fn index(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 policies")
}

fn principal(constraint: PrincipalConstraint) -> Constraint {
    match constraint {
        PrincipalConstraint::Any => Constraint::Any,
        PrincipalConstraint::Eq(uid) => Constraint::Equal(uid),
        PrincipalConstraint::In(group) => Constraint::Within(vec![group]),
        PrincipalConstraint::Is(type_name) => Constraint::Is(type_name),
        PrincipalConstraint::IsIn(type_name, group) => Constraint::TypedWithin(type_name, group),
    }
}

fn resource(constraint: ResourceConstraint) -> Constraint {
    match constraint {
        ResourceConstraint::Any => Constraint::Any,
        ResourceConstraint::Eq(uid) => Constraint::Equal(uid),
        ResourceConstraint::In(group) => Constraint::Within(vec![group]),
        ResourceConstraint::Is(type_name) => Constraint::Is(type_name),
        ResourceConstraint::IsIn(type_name, group) => Constraint::TypedWithin(type_name, group),
    }
}

fn action(constraint: ActionConstraint) -> Constraint {
    match constraint {
        ActionConstraint::Any => Constraint::Any,
        ActionConstraint::Eq(uid) => Constraint::Equal(uid),
        ActionConstraint::In(groups) => Constraint::Within(groups),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_hold_exactly_what_was_inserted() {
        let mut bits = PolicyBits::empty(130);
        for i in [0, 63, 64, 129] {
            bits.insert(i);
        }
        assert_eq!(bits.indices().collect::<Vec<_>>(), vec![0, 63, 64, 129]);
        let mut other = PolicyBits::empty(130);
        other.insert(64);
        assert_eq!(bits.and(&other).indices().collect::<Vec<_>>(), vec![64]);
        assert!(bits.meets(&other));
        assert!(!PolicyBits::empty(130).meets(&bits));
        assert!(PolicyBits::empty(130).is_empty());
    }

    #[test]
    fn an_action_list_files_the_policy_under_each_action() {
        let set: PolicySet = r#"
            @id("both") permit(principal, action in [Action::"a", Action::"b"], resource);
            @id("typed") permit(principal is User in Group::"g", action, resource);
        "#
        .parse()
        .unwrap();
        let slicer = Slicer::new(&set);
        let entities = Entities::empty();
        let uid = |text: &str| text.parse::<EntityUid>().unwrap();
        for (name, expected) in [("a", 2), ("b", 2), ("c", 1)] {
            let bits = slicer.action_bits(&uid(&format!("Action::\"{name}\"")), &entities);
            assert_eq!(bits.indices().count(), expected, "action {name}");
        }
        // `is User in Group::"g"`: the group itself is not a User.
        let group = slicer.principal_bits(&uid(r#"Group::"g""#), &entities);
        assert_eq!(group.indices().count(), 1);
    }
}
