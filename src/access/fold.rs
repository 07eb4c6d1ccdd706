//! Folding what a principal's requests share into the policies, once.
//!
//! "What can P do" asks Cedar about one principal, one context and every
//! resource: each request evaluates the same conditions on the same
//! principal and context again. Cedar's type-aware partial evaluation
//! (`PolicySet::tpe`) with only the resource unknown evaluates them once:
//! each policy becomes a residual with its id — `true`, `false`, an error,
//! or what is left of its condition on the resource. Each request is then
//! decided by Cedar's authorizer on the residuals, the way Cedar's own
//! `PolicySet::query_resource` decides them, less the `false` ones, which
//! can neither be satisfied nor raise an error. "Who can A on R" is folded
//! the same way with the principal unknown (`query_principal`).
//!
//! Partial evaluation is sound only for policies that validate against the
//! schema in strict mode, so a [`Folder`] exists only for such projects.
//! A residual that raises an error says less than the policy did, so a
//! request on which one errs is evaluated again in full, for Cedar's own
//! message ([`Folded::residuals`] is only the fast path).

use std::sync::Arc;

use cedar_policy::{
    Context, Entities, EntityUid, PartialEntities, PartialEntityUid, PartialRequest, Policy,
    PolicyId, PolicySet, Schema,
};

use crate::testing::memo::Memo;
use crate::testing::reads::{Reads, condition_reads};
use crate::testing::slicer::{PolicyBits, SetCache, Slicer};

/// What folding needs and checks once per query.
pub struct Folder<'s> {
    schema: &'s Schema,
    entities: PartialEntities,
}

/// A [`Folder`] built on first use: its set-up (strict validation, Cedar's
/// partial entity set) costs a large snapshot's worth, which a query that
/// folds nothing should not pay.
pub struct LazyFolder<'a> {
    policies: Vec<&'a PolicySet>,
    schema: &'a Schema,
    entities: &'a Entities,
    unknown: Unknown<'a>,
    folder: std::sync::OnceLock<Option<Folder<'a>>>,
}

/// The entities the side a fold leaves unknown ranges over, and those of
/// the side it knows (an entity may be on both, as a user who is both a
/// principal and a resource).
pub struct Unknown<'a> {
    pub side: Vec<&'a [EntityUid]>,
    pub known: Vec<&'a [EntityUid]>,
}

impl<'a> LazyFolder<'a> {
    /// A folder for requests whose unknown side ranges over `unknown`:
    /// what those entities hold is left out of Cedar's partial entity set.
    pub fn new(
        policies: Vec<&'a PolicySet>,
        schema: &'a Schema,
        entities: &'a Entities,
        unknown: Unknown<'a>,
    ) -> LazyFolder<'a> {
        LazyFolder {
            policies,
            schema,
            entities,
            unknown,
            folder: std::sync::OnceLock::new(),
        }
    }

    /// The folder and the context to fold with, when `worth_it` and the
    /// context is known and folding is sound.
    pub fn when<'r>(
        &self,
        worth_it: bool,
        context: Option<&'r Context>,
    ) -> Option<(&Folder<'a>, &'r Context)> {
        let context = context.filter(|_| worth_it)?;
        let folder = self
            .folder
            .get_or_init(|| Folder::new(&self.policies, self.schema, self.entities, &self.unknown))
            .as_ref()?;
        Some((folder, context))
    }
}

/// A principal's policies on one action and one resource type, folded.
pub struct Folded {
    /// The policies whose residual is not `false`.
    live: PolicyBits,
    residuals: std::collections::HashMap<PolicyId, Policy>,
    sets: SetCache,
    /// Which residuals Cedar found false, by what they read.
    memo: Memo,
}

impl<'s> Folder<'s> {
    /// A folder for the policy sets `policies`; `None` when folding them
    /// would not be sound (one does not validate strictly) or the snapshot
    /// does not suit Cedar's partial evaluation.
    ///
    /// The entities only the side the folds leave unknown ranges over are
    /// left out of Cedar's partial entity set: a fold never knows which
    /// of them its request is about, and Cedar's partial evaluation takes
    /// an entity it lacks as unknown, leaving a residual that each request
    /// then decides on the whole snapshot. On "what can P do" over 100,000
    /// resources that leaves a set of a few hundred entities to build.
    pub fn new(
        policies: &[&PolicySet],
        schema: &'s Schema,
        entities: &Entities,
        unknown: &Unknown,
    ) -> Option<Folder<'s>> {
        // Both take a while on a large snapshot or policy set.
        let (valid, entities) = rayon::join(
            || policies.iter().all(|set| strictly_valid(set, schema)),
            || PartialEntities::from_concrete(known(entities, unknown)?, schema).ok(),
        );
        Some(Folder {
            schema,
            entities: entities.filter(|_| valid)?,
        })
    }

    /// The policies `bits` folded for requests on `action` with `context`,
    /// `principal` and `resource`, one of them known and the other only by
    /// its type (`bits` is the slice of the action and the known one);
    /// `None` when Cedar cannot fold them.
    pub fn fold(
        &self,
        slicer: &Slicer,
        bits: &PolicyBits,
        principal: PartialEntityUid,
        action: &EntityUid,
        resource: PartialEntityUid,
        context: &Context,
    ) -> Option<Folded> {
        let request = PartialRequest::new(
            principal,
            action.clone(),
            resource,
            Some(context.clone()),
            self.schema,
        )
        .ok()?;
        let response = slicer
            .policy_set(bits)
            .tpe(&request, &self.entities, self.schema)
            .ok()?;
        let never: std::collections::HashSet<&PolicyId> = response
            .false_permits()
            .chain(response.false_forbids())
            .collect();
        let live = slicer.select_within(bits, |p| !never.contains(p.id()));
        let residuals: std::collections::HashMap<PolicyId, Policy> = response
            .policies()
            .filter(|p| !never.contains(p.id()))
            .map(|p| (p.id().clone(), p))
            .collect();
        // Every live policy must have a residual Cedar accepts in a set, or
        // a subset would silently lack it.
        let mut all = PolicySet::new();
        for policy in slicer.policies_of(&live) {
            all.add(residuals.get(policy.id())?.clone()).ok()?;
        }
        let reads = Reads::new(slicer, &live, |_, policy| {
            residuals.get(policy.id()).map(condition_reads)
        });
        Some(Folded {
            live,
            residuals,
            sets: SetCache::default(),
            memo: Memo::new(Arc::new(reads)),
        })
    }
}

/// The entities of the snapshot but those only the unknown side ranges
/// over, with their ancestors.
fn known(entities: &Entities, unknown: &Unknown) -> Option<Entities> {
    type FastSet<'u> = std::collections::HashSet<&'u EntityUid, foldhash::fast::RandomState>;
    let kept: FastSet = unknown.known.iter().flat_map(|uids| uids.iter()).collect();
    let left_out: FastSet = unknown
        .side
        .iter()
        .flat_map(|uids| uids.iter())
        .filter(|uid| !kept.contains(uid))
        .collect();
    if left_out.is_empty() {
        return Some(entities.clone());
    }
    let known = entities
        .iter()
        .filter(|entity| !left_out.contains(&entity.uid()))
        .cloned();
    Entities::from_entities(known, None).ok()
}

/// Whether `policies` validate against `schema` in strict mode, which
/// Cedar's partial evaluation needs to be sound.
pub fn strictly_valid(policies: &PolicySet, schema: &Schema) -> bool {
    cedar_policy::Validator::new(schema.clone())
        .validate(policies, cedar_policy::ValidationMode::Strict)
        .validation_passed()
}

impl Folded {
    /// Which residuals Cedar found false, by what they read.
    pub fn memo(&self) -> &Memo {
        &self.memo
    }

    /// The policies of `bits` whose residual is not `false`.
    pub fn live_of(&self, bits: &PolicyBits) -> PolicyBits {
        bits.and(&self.live)
    }

    /// The residuals of the policies of `bits` that can still be satisfied
    /// or err, as a set for Cedar's authorizer; `None` when there are none
    /// (Cedar denies, and nothing errs).
    pub fn residuals(&self, slicer: &Slicer, bits: &PolicyBits) -> Option<Arc<PolicySet>> {
        let live = bits.and(&self.live);
        if live.is_empty() {
            return None;
        }
        Some(self.sets.get_or_build(&live, || {
            let mut set = PolicySet::new();
            for policy in slicer.policies_of(&live) {
                if let Some(residual) = self.residuals.get(policy.id()) {
                    // Checked in `Folder::fold`: each one adds.
                    let _ = set.add(residual.clone());
                }
            }
            set
        }))
    }
}
