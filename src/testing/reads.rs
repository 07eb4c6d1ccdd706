//! What a policy's condition reads from the request's principal and
//! resource.
//!
//! Within one action and one context, and over one entity snapshot, a
//! policy's condition is a function of what it reads from the principal
//! and the resource: `principal.level`, `resource has owner`,
//! `resource in Folder::"f"`, `principal == User::"u"`. Two requests that
//! read the same values get the same outcome from Cedar (the same value,
//! or an error). [`Reads`] lists those reads for each policy, from Cedar's
//! JSON form of the policy (`Policy::to_json`); the memo (module `memo`)
//! keys Cedar's outcomes by their values.
//!
//! Only the condition is read: the slicer admits a policy to a request
//! only when its scope matches, so the scope holds on every request the
//! policy is asked about. Any use of the principal or resource other than
//! those reads (the entity as a value, its tags, `in` an expression)
//! reads the whole entity: its id, which determines everything about it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use cedar_policy::{Entities, Entity, EntityTypeName, EntityUid, EvalResult, Policy};
use serde_json::Value;

use crate::testing::slicer::{PolicyBits, Slicer};

/// The request variable a read is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Var {
    Principal,
    Resource,
}

/// One thing read from the principal or the resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Feature {
    /// `x.name` or `x has name`.
    Attr(Var, String),
    /// `x in E` or `x in [E, …]`, with literal entities.
    In(Var, Vec<EntityUid>),
    /// `x == E`, with a literal entity.
    Eq(Var, EntityUid),
    /// `x is T`.
    Type(Var),
    /// Anything else: the entity itself.
    Whole(Var),
}

/// A feature's value on one request. Equal values mean equal reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureValue {
    Bool(bool),
    /// The snapshot does not hold the entity.
    NoEntity,
    /// The entity has no such attribute.
    NoAttr,
    Attr(EvalResult),
    /// The entity's id.
    Uid(EntityUid),
    /// The entity's type, for `is`.
    Type(EntityTypeName),
}

// By hand: Cedar's `EvalResult` has no `Hash`. Equal values hash alike,
// since sets and records iterate in their (ordered) storage order.
impl Hash for FeatureValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            FeatureValue::Bool(b) => b.hash(state),
            FeatureValue::NoEntity | FeatureValue::NoAttr => {}
            FeatureValue::Attr(value) => hash_value(value, state),
            FeatureValue::Uid(uid) => uid.hash(state),
            FeatureValue::Type(name) => name.hash(state),
        }
    }
}

fn hash_value<H: Hasher>(value: &EvalResult, state: &mut H) {
    std::mem::discriminant(value).hash(state);
    match value {
        EvalResult::Bool(b) => b.hash(state),
        EvalResult::Long(n) => n.hash(state),
        EvalResult::String(text) | EvalResult::ExtensionValue(text) => text.hash(state),
        EvalResult::EntityUid(uid) => uid.hash(state),
        EvalResult::Set(set) => {
            set.len().hash(state);
            for member in set.iter() {
                hash_value(member, state);
            }
        }
        EvalResult::Record(record) => {
            for (name, field) in record.iter() {
                name.hash(state);
                hash_value(field, state);
            }
        }
    }
}

/// Policies that read the same features.
pub struct Group {
    /// Indices into [`Reads::features`].
    pub features: Vec<usize>,
    pub members: PolicyBits,
}

/// What each of a set of policies reads, grouped by what they read.
pub struct Reads {
    pub features: Vec<Feature>,
    pub groups: Vec<Group>,
    /// Each policy's group, by the policy's index: a request visits the
    /// groups of its few policies, not every group (a folded action has
    /// one for each folder a scope names).
    group_of: Vec<Option<u32>>,
}

impl Reads {
    /// The reads of the policies `bits` of `slicer`, as `reads_of` finds
    /// them in each, given its index and the policy (in the policy itself,
    /// or in its residual after partial evaluation; `None` leaves the
    /// policy out of every group).
    pub fn new(
        slicer: &Slicer,
        bits: &PolicyBits,
        reads_of: impl Fn(u32, &Policy) -> Option<Vec<Feature>>,
    ) -> Reads {
        let mut features: Vec<Feature> = Vec::new();
        let mut feature_ids: HashMap<Feature, usize> = HashMap::new();
        let mut groups: Vec<Group> = Vec::new();
        let mut group_ids: HashMap<Vec<usize>, usize> = HashMap::new();
        let mut group_of = vec![None; slicer.len()];
        for (index, policy) in slicer.indexed_policies_of(bits) {
            let Some(read) = reads_of(index, policy) else {
                continue;
            };
            let mut signature: Vec<usize> = read
                .into_iter()
                .map(|feature| {
                    *feature_ids.entry(feature.clone()).or_insert_with(|| {
                        features.push(feature);
                        features.len() - 1
                    })
                })
                .collect();
            signature.sort_unstable();
            signature.dedup();
            let group = *group_ids.entry(signature.clone()).or_insert_with(|| {
                groups.push(Group {
                    features: signature,
                    members: bits.none(),
                });
                groups.len() - 1
            });
            groups[group].members.insert(index);
            group_of[index as usize] = Some(group as u32);
        }
        Reads {
            features,
            groups,
            group_of,
        }
    }

    /// The groups of the policies `bits`, in order.
    pub fn groups_of(&self, bits: &PolicyBits) -> Vec<usize> {
        let mut found: Vec<usize> = bits
            .indices()
            .filter_map(|index| self.group_of[index as usize])
            .map(|group| group as usize)
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// What `policy`'s conditions read from the principal and the resource.
pub fn condition_reads(policy: &Policy) -> Vec<Feature> {
    let mut found = Vec::new();
    let Ok(json) = policy.to_json() else {
        // Not expected (every parsed policy has a JSON form); reading the
        // whole of both entities is always right.
        return vec![
            Feature::Whole(Var::Principal),
            Feature::Whole(Var::Resource),
        ];
    };
    for condition in json["conditions"].as_array().into_iter().flatten() {
        walk(&condition["body"], &mut found);
    }
    found
}

/// The reads of one expression of Cedar's JSON policy format.
fn walk(expr: &Value, found: &mut Vec<Feature>) {
    let Some((op, arg)) = single_entry(expr) else {
        // Arrays of expressions (extension calls, sets).
        for item in expr.as_array().into_iter().flatten() {
            walk(item, found);
        }
        return;
    };
    match op {
        // A literal reads nothing (and its record keys are not operators).
        "Value" | "Slot" => {}
        "Var" => {
            if let Some(var) = request_var(arg) {
                found.push(Feature::Whole(var));
            }
        }
        "Record" => {
            for value in arg.as_object().into_iter().flat_map(|o| o.values()) {
                walk(value, found);
            }
        }
        "." | "has" => match (var_of(&arg["left"]), arg["attr"].as_str()) {
            (Some(var), Some(attr)) => found.push(Feature::Attr(var, attr.to_string())),
            _ => walk_all(arg, found),
        },
        "in" => match (var_of(&arg["left"]), literal_entities(&arg["right"])) {
            (Some(var), Some(targets)) => found.push(Feature::In(var, targets)),
            _ => walk_all(arg, found),
        },
        "==" => match equality(arg) {
            Some((var, uid)) => found.push(Feature::Eq(var, uid)),
            None => walk_all(arg, found),
        },
        "is" => match var_of(&arg["left"]) {
            Some(var) => {
                found.push(Feature::Type(var));
                if let Some(within) = arg.get("in") {
                    match literal_entities(within) {
                        Some(targets) => found.push(Feature::In(var, targets)),
                        None => {
                            found.push(Feature::Whole(var));
                            walk(within, found);
                        }
                    }
                }
            }
            None => walk_all(arg, found),
        },
        _ => walk_all(arg, found),
    }
}

/// The reads of every expression below `node` (an operator's arguments).
fn walk_all(node: &Value, found: &mut Vec<Feature>) {
    match node {
        Value::Object(fields) => {
            for value in fields.values() {
                walk(value, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, found);
            }
        }
        _ => {}
    }
}

/// The operator and argument of an expression node: an object with one
/// field.
fn single_entry(expr: &Value) -> Option<(&str, &Value)> {
    let fields = expr.as_object()?;
    if fields.len() != 1 {
        return None;
    }
    fields.iter().next().map(|(op, arg)| (op.as_str(), arg))
}

fn request_var(name: &Value) -> Option<Var> {
    match name.as_str()? {
        "principal" => Some(Var::Principal),
        "resource" => Some(Var::Resource),
        // The action and the context are the same on every request a memo
        // serves.
        _ => None,
    }
}

/// The variable `expr` is, when it is the principal or the resource.
fn var_of(expr: &Value) -> Option<Var> {
    match single_entry(expr)? {
        ("Var", name) => request_var(name),
        _ => None,
    }
}

/// `x == E` or `E == x`.
fn equality(arg: &Value) -> Option<(Var, EntityUid)> {
    let (left, right) = (&arg["left"], &arg["right"]);
    if let Some(var) = var_of(left) {
        return Some((var, literal_entity(right)?));
    }
    Some((var_of(right)?, literal_entity(left)?))
}

/// The entities of a literal entity, or of a literal set of them.
fn literal_entities(expr: &Value) -> Option<Vec<EntityUid>> {
    if let Some(uid) = literal_entity(expr) {
        return Some(vec![uid]);
    }
    match single_entry(expr)? {
        ("Set", items) => items.as_array()?.iter().map(literal_entity).collect(),
        ("Value", Value::Array(items)) => items.iter().map(entity_value).collect(),
        _ => None,
    }
}

fn literal_entity(expr: &Value) -> Option<EntityUid> {
    match single_entry(expr)? {
        ("Value", value) => entity_value(value),
        _ => None,
    }
}

/// An entity reference in Cedar's JSON value form.
fn entity_value(value: &Value) -> Option<EntityUid> {
    let reference = value.get("__entity").unwrap_or(value);
    if reference.as_object()?.len() != 2 {
        return None;
    }
    EntityUid::from_json(reference.clone()).ok()
}

/// A request's principal and resource in the snapshot, each looked up at
/// most once however many features read its attributes.
pub struct Subjects<'a> {
    principal: &'a EntityUid,
    resource: &'a EntityUid,
    entities: &'a Entities,
    found: [std::cell::OnceCell<Option<&'a Entity>>; 2],
}

impl<'a> Subjects<'a> {
    pub fn new(
        principal: &'a EntityUid,
        resource: &'a EntityUid,
        entities: &'a Entities,
    ) -> Subjects<'a> {
        Subjects {
            principal,
            resource,
            entities,
            found: Default::default(),
        }
    }

    fn uid(&self, var: Var) -> &'a EntityUid {
        match var {
            Var::Principal => self.principal,
            Var::Resource => self.resource,
        }
    }

    fn entity(&self, var: Var) -> Option<&'a Entity> {
        *self.found[var as usize].get_or_init(|| self.entities.get(self.uid(var)))
    }
}

impl Feature {
    /// This feature's value on the request of `subjects`.
    pub fn value(&self, subjects: &Subjects) -> FeatureValue {
        let of = |var: &Var| subjects.uid(*var);
        let entities = subjects.entities;
        match self {
            Feature::Attr(var, name) => attr_value(of(var), subjects.entity(*var), name),
            Feature::In(var, targets) => {
                let uid = of(var);
                // Cedar's `x in E` holds for `x == E` too, which
                // `is_ancestor_of` does not count when `x` is in the snapshot.
                FeatureValue::Bool(
                    targets
                        .iter()
                        .any(|t| t == uid || entities.is_ancestor_of(t, uid)),
                )
            }
            Feature::Eq(var, target) => FeatureValue::Bool(of(var) == target),
            Feature::Type(var) => FeatureValue::Type(of(var).type_name().clone()),
            Feature::Whole(var) => FeatureValue::Uid(of(var).clone()),
        }
    }
}

fn attr_value(uid: &EntityUid, entity: Option<&Entity>, name: &str) -> FeatureValue {
    let Some(entity) = entity else {
        return FeatureValue::NoEntity;
    };
    match entity.attr(name) {
        None => FeatureValue::NoAttr,
        // Extension values are compared by their printed form, which need
        // not be Cedar's equality; and an attribute that is not a value
        // cannot be compared. The entity's id stands in for both.
        Some(Ok(value)) if !has_extension(&value) => FeatureValue::Attr(value),
        Some(_) => FeatureValue::Uid(uid.clone()),
    }
}

fn has_extension(value: &EvalResult) -> bool {
    match value {
        EvalResult::ExtensionValue(_) => true,
        EvalResult::Set(set) => set.iter().any(has_extension),
        EvalResult::Record(record) => record.iter().any(|(_, v)| has_extension(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(text: &str) -> Vec<Feature> {
        let policy: Policy = text.parse().expect("a policy");
        condition_reads(&policy)
    }

    fn uid(text: &str) -> EntityUid {
        text.parse().expect("an entity id")
    }

    #[test]
    fn attributes_and_literal_tests_are_read_one_by_one() {
        let found = reads(
            r#"permit(principal in G::"g", action, resource)
               when { resource.owner.dept == "x" && principal has level
                      && resource in [F::"a", F::"b"] && principal == U::"u"
                      && resource is Doc && context.mfa };"#,
        );
        assert_eq!(
            found,
            vec![
                Feature::Attr(Var::Resource, "owner".into()),
                Feature::Attr(Var::Principal, "level".into()),
                Feature::In(Var::Resource, vec![uid(r#"F::"a""#), uid(r#"F::"b""#)]),
                Feature::Eq(Var::Principal, uid(r#"U::"u""#)),
                Feature::Type(Var::Resource),
            ]
        );
    }

    #[test]
    fn any_other_use_reads_the_whole_entity() {
        let found = reads(
            r#"permit(principal, action, resource)
               when { resource.owner == principal && principal in resource.viewers
                      && resource.hasTag("t") && { a: principal }.a == resource };"#,
        );
        assert!(found.contains(&Feature::Whole(Var::Principal)));
        assert!(found.contains(&Feature::Whole(Var::Resource)));
        assert!(found.contains(&Feature::Attr(Var::Resource, "viewers".into())));
    }

    #[test]
    fn an_entity_is_in_itself_as_cedar_says() {
        let entities = Entities::from_json_str(
            r#"[{"uid": {"type": "U", "id": "alice"}, "attrs": {}, "parents": [{"type": "G", "id": "g"}]}]"#,
            None,
        )
        .expect("entities");
        let (alice, bob, doc) = (uid(r#"U::"alice""#), uid(r#"U::"bob""#), uid(r#"D::"d""#));
        let within = |targets: Vec<EntityUid>, principal: &EntityUid| {
            Feature::In(Var::Principal, targets).value(&Subjects::new(principal, &doc, &entities))
        };
        assert_eq!(
            within(vec![alice.clone()], &alice),
            FeatureValue::Bool(true)
        );
        assert_eq!(
            within(vec![uid(r#"G::"g""#)], &alice),
            FeatureValue::Bool(true)
        );
        assert_eq!(within(vec![alice.clone()], &bob), FeatureValue::Bool(false));
        // Not in the snapshot: only itself.
        assert_eq!(within(vec![bob.clone()], &bob), FeatureValue::Bool(true));
        assert_eq!(
            within(vec![uid(r#"G::"g""#)], &bob),
            FeatureValue::Bool(false)
        );
    }

    #[test]
    fn equal_values_hash_alike_whatever_order_the_data_gave() {
        let entities = Entities::from_json_str(
            r#"[
              {"uid": {"type": "U", "id": "a"}, "parents": [],
               "attrs": {"tags": ["x", "y"], "home": {"city": "Oslo", "zip": 1}}},
              {"uid": {"type": "U", "id": "b"}, "parents": [],
               "attrs": {"tags": ["y", "x", "y"], "home": {"zip": 1, "city": "Oslo"}}},
              {"uid": {"type": "U", "id": "c"}, "parents": [],
               "attrs": {"tags": ["x"], "home": {"zip": 2, "city": "Oslo"}}}
            ]"#,
            None,
        )
        .expect("entities");
        let hash = |value: &FeatureValue| {
            let mut state = std::hash::DefaultHasher::new();
            value.hash(&mut state);
            state.finish()
        };
        let doc = uid(r#"D::"d""#);
        for attr in ["tags", "home"] {
            let read = |user: &str| {
                Feature::Attr(Var::Principal, attr.into()).value(&Subjects::new(
                    &uid(user),
                    &doc,
                    &entities,
                ))
            };
            let (a, b, c) = (read(r#"U::"a""#), read(r#"U::"b""#), read(r#"U::"c""#));
            assert_eq!(a, b, "{attr}");
            assert_eq!(hash(&a), hash(&b), "{attr}");
            assert_ne!(a, c, "{attr}");
        }
    }

    #[test]
    fn literals_read_nothing() {
        let found = reads(
            r#"permit(principal, action, resource)
               when { {"Var": "principal"} == context.r && context.x like "*Var*" };"#,
        );
        assert!(found.is_empty(), "{found:?}");
    }
}
