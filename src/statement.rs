//! A statement (a policy's or template's text, as a project or a store
//! holds it) with its meaning parsed once per run, and the three questions
//! every part of avpctl asks of two statements: the same meaning? the same
//! shape (what AVP can update in place)? Planning compares, classifies and
//! orders thousands of policies, each several times; parsing each text once
//! keeps a no-op diff of a big store fast.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use cedar_policy::{Effect, Policy, Template};
use serde_json::Value;

pub struct ParsedPolicy {
    pub policy: Policy,
    /// Cedar's JSON form: equal for texts that differ only in layout and
    /// comments.
    pub json: Value,
}

pub struct ParsedTemplate {
    pub template: Template,
    pub json: Value,
}

type Cache<T> = Mutex<HashMap<String, Option<Arc<T>>>>;

fn cached<T>(
    cache: &'static OnceLock<Cache<T>>,
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Option<Arc<T>> {
    let cache = cache.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(text).cloned()) {
        return found;
    }
    let parsed = parse(text).map(Arc::new);
    if let Ok(mut c) = cache.lock() {
        c.insert(text.to_string(), parsed.clone());
    }
    parsed
}

pub fn policy(statement: &str) -> Option<Arc<ParsedPolicy>> {
    static CACHE: OnceLock<Cache<ParsedPolicy>> = OnceLock::new();
    cached(&CACHE, statement, |text| {
        let policy = Policy::from_str(text).ok()?;
        let json = policy.to_json().ok()?;
        Some(ParsedPolicy { policy, json })
    })
}

pub fn template(statement: &str) -> Option<Arc<ParsedTemplate>> {
    static CACHE: OnceLock<Cache<ParsedTemplate>> = OnceLock::new();
    cached(&CACHE, statement, |text| {
        let template = Template::from_str(text).ok()?;
        let json = template.to_json().ok()?;
        Some(ParsedTemplate { template, json })
    })
}

/// Cedar's JSON form, annotations and all.
pub fn raw_json(statement: &str, template: bool) -> Option<Value> {
    if template {
        self::template(statement).map(|t| t.json.clone())
    } else {
        policy(statement).map(|p| p.json.clone())
    }
}

/// Annotations that carry a store item's name and description, which the
/// store keeps in fields of their own: avpctl compares those fields, so the
/// annotations are left out of a statement's meaning (a store item made
/// without them says the same as a project's with them).
const METADATA_ANNOTATIONS: [&str; 2] = ["id", "description"];

/// Cedar's JSON form of a policy (`template` false) or template text,
/// without the metadata annotations.
pub fn canonical(statement: &str, template: bool) -> Option<Value> {
    let mut json = raw_json(statement, template)?;
    if let Some(object) = json.as_object_mut() {
        if let Some(annotations) = object.get_mut("annotations").and_then(Value::as_object_mut) {
            for key in METADATA_ANNOTATIONS {
                annotations.remove(key);
            }
        }
        // Cedar leaves the key out when there are none: the same then.
        if object
            .get("annotations")
            .and_then(Value::as_object)
            .is_some_and(serde_json::Map::is_empty)
        {
            object.remove("annotations");
        }
    }
    Some(json)
}

/// The same statement by meaning: both parse and Cedar gives them the same
/// JSON form (layout and comments aside). The one definition every part of
/// the plan uses (changes, the safe order, stand-ins, the store's sides).
pub fn same_meaning(a: &str, b: &str, template: bool) -> bool {
    match (canonical(a, template), canonical(b, template)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// What AVP's `UpdatePolicy` and `UpdatePolicyTemplate` cannot change:
/// the effect, the principal and the resource scope (Cedar's JSON of each).
pub fn shape(statement: &str, template: bool) -> Option<(Value, Value, Value)> {
    let json = canonical(statement, template)?;
    Some((
        json["effect"].clone(),
        json["principal"].clone(),
        json["resource"].clone(),
    ))
}

/// Whether `new` can replace `old` in place (both must parse).
pub fn same_shape(old: &str, new: &str, template: bool) -> bool {
    match (shape(old, template), shape(new, template)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

pub fn policy_effect(statement: &str) -> Option<Effect> {
    policy(statement).map(|p| p.policy.effect())
}

pub fn template_effect(statement: &str) -> Option<Effect> {
    template(statement).map(|t| t.template.effect())
}
