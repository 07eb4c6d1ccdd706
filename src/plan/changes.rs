//! What differs between two sides, judged on meaning, and what each change
//! can do to access.

use cedar_policy::Effect;
use serde_json::Value;

use super::side::{Body, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ItemKind {
    Schema,
    Template,
    Policy,
    Link,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Schema => "schema",
            ItemKind::Template => "template",
            ItemKind::Policy => "policy",
            ItemKind::Link => "link",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Added,
    Removed,
    Changed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Removed => "removed",
            Status::Changed => "changed",
        }
    }

    pub fn sign(self) -> &'static str {
        match self {
            Status::Added => "+",
            Status::Removed => "-",
            Status::Changed => "~",
        }
    }
}

/// What a change can do to the set of allowed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// May allow requests that were denied (a new or widened permit, a
    /// removed or narrowed forbid).
    Widens,
    /// Can only deny requests that were allowed.
    Narrows,
    /// Either, depending on the request.
    Changes,
    /// Grants and denies nothing by itself (a description, a template with
    /// no link, the schema).
    Neutral,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Widens => "widens",
            Access::Narrows => "narrows",
            Access::Changes => "changes",
            Access::Neutral => "neutral",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ItemKind,
    pub id: String,
    pub status: Status,
    pub access: Access,
    pub effect: Option<Effect>,
    /// A short explanation (e.g. "effect permit → forbid").
    pub detail: Option<String>,
    /// Unified diff of the statement, old → new.
    pub diff: Option<String>,
    /// AVP cannot update it in place (effect, principal or resource scope,
    /// or static ↔ linked changed): it is deleted and created again.
    pub replace: bool,
}

pub fn compare(old: &Side, new: &Side) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some(change) = schema_change(old.schema.as_ref(), new.schema.as_ref()) {
        changes.push(change);
    }
    let template_ids: std::collections::BTreeSet<&String> =
        old.templates.keys().chain(new.templates.keys()).collect();
    for id in template_ids {
        if let Some(change) = template_change(id, old, new) {
            changes.push(change);
        }
    }
    let policy_ids: std::collections::BTreeSet<&String> =
        old.policies.keys().chain(new.policies.keys()).collect();
    for id in policy_ids {
        if let Some(change) = policy_change(id, old, new) {
            changes.push(change);
        }
    }
    // What widens access leads the report.
    changes.sort_by(|a, b| (a.access, a.kind, &a.id).cmp(&(b.access, b.kind, &b.id)));
    changes
}

/// Cedar's JSON for a statement: equal for texts that differ only in
/// layout and comments.
fn canonical_policy(statement: &str) -> Option<Value> {
    super::parsed::canonical(statement, false)
}

fn canonical_template(statement: &str) -> Option<Value> {
    super::parsed::canonical(statement, true)
}

fn same_statement(old: &str, new: &str, template: bool) -> bool {
    let canonical = if template {
        canonical_template
    } else {
        canonical_policy
    };
    match (canonical(old), canonical(new)) {
        (Some(a), Some(b)) => a == b,
        _ => old == new,
    }
}

fn text_diff(old: &str, new: &str, id: &str) -> String {
    // Statements are compared by meaning; a missing final newline is not
    // part of it and would only add "\ No newline at end of file".
    let with_newline = |text: &str| {
        if text.ends_with('\n') {
            text.to_string()
        } else {
            format!("{text}\n")
        }
    };
    let (old, new) = (with_newline(old), with_newline(new));
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{id} (old)"), &format!("{id} (new)"))
        .to_string()
}

#[cfg(test)]
mod text_diff_tests {
    #[test]
    fn a_missing_final_newline_is_not_shown() {
        let diff = super::text_diff(
            "permit (principal, action, resource);",
            "forbid (principal, action, resource);\n",
            "p",
        );
        assert!(!diff.contains("No newline"), "{diff}");
        assert!(
            diff.contains("-permit") && diff.contains("+forbid"),
            "{diff}"
        );
    }
}

fn schema_change(old: Option<&Value>, new: Option<&Value>) -> Option<Change> {
    let (status, detail) = match (old, new) {
        (None, None) => return None,
        (None, Some(_)) => (Status::Added, None),
        // A project without a schema leaves the store's schema alone.
        (Some(_), None) => return None,
        (Some(a), Some(b)) if normalize(a) == normalize(b) => return None,
        (Some(a), Some(b)) => (Status::Changed, Some(schema_summary(a, b))),
    };
    let diff = match (old, new) {
        (Some(a), Some(b)) => Some(text_diff(
            &serde_json::to_string_pretty(&normalize(a)).unwrap_or_default(),
            &serde_json::to_string_pretty(&normalize(b)).unwrap_or_default(),
            "schema",
        )),
        _ => None,
    };
    Some(Change {
        kind: ItemKind::Schema,
        id: "schema".into(),
        status,
        access: Access::Neutral,
        effect: None,
        detail,
        diff,
        replace: false,
    })
}

/// Key order and the order of lists do not matter in a schema.
pub fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), normalize(v)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalize).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// "entity types +Team −Group; actions +share" from two JSON schemas.
fn schema_summary(old: &Value, new: &Value) -> String {
    let names = |schema: &Value, section: &str| -> std::collections::BTreeSet<String> {
        schema
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(namespace, body)| {
                body.get(section)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(move |(name, _)| {
                        if namespace.is_empty() {
                            name.clone()
                        } else {
                            format!("{namespace}::{name}")
                        }
                    })
            })
            .collect()
    };
    let mut parts = Vec::new();
    for (section, label) in [
        ("entityTypes", "entity types"),
        ("actions", "actions"),
        ("commonTypes", "common types"),
    ] {
        let (before, after) = (names(old, section), names(new, section));
        let added: Vec<String> = after.difference(&before).map(|n| format!("+{n}")).collect();
        let removed: Vec<String> = before.difference(&after).map(|n| format!("-{n}")).collect();
        if !added.is_empty() || !removed.is_empty() {
            parts.push(format!(
                "{label} {}",
                added
                    .into_iter()
                    .chain(removed)
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    if parts.is_empty() {
        "attributes or hierarchy changed".into()
    } else {
        parts.join("; ")
    }
}

fn template_change(id: &str, old: &Side, new: &Side) -> Option<Change> {
    let (before, after) = (old.templates.get(id), new.templates.get(id));
    let effect = new.template_effect(id).or_else(|| old.template_effect(id));
    let change = |status, access, detail, diff, replace| Change {
        kind: ItemKind::Template,
        id: id.to_string(),
        status,
        access,
        effect,
        detail,
        diff,
        replace,
    };
    match (before, after) {
        (None, None) => None,
        (None, Some(_)) => Some(change(Status::Added, Access::Neutral, None, None, false)),
        (Some(_), None) => Some(change(Status::Removed, Access::Neutral, None, None, false)),
        (Some(a), Some(b)) => {
            let same = same_statement(&a.statement, &b.statement, true);
            if same && a.description == b.description {
                return None;
            }
            let diff = (!same).then(|| text_diff(&a.statement, &b.statement, id));
            let links = new
                .policies
                .values()
                .filter(|p| matches!(&p.body, Body::Linked { template, .. } if template == id))
                .count();
            let (access, detail, replace) = if same {
                (Access::Neutral, Some("description".to_string()), false)
            } else {
                let (access, detail, replace) = statement_access(&a.statement, &b.statement, true);
                (
                    if links == 0 { Access::Neutral } else { access },
                    Some(format!(
                        "{detail}; applies to {links} link{}",
                        if links == 1 { "" } else { "s" }
                    )),
                    replace,
                )
            };
            Some(change(Status::Changed, access, detail, diff, replace))
        }
    }
}

fn policy_change(id: &str, old: &Side, new: &Side) -> Option<Change> {
    let (before, after) = (old.policies.get(id), new.policies.get(id));
    let kind = match after.or(before).map(|p| &p.body) {
        Some(Body::Linked { .. }) => ItemKind::Link,
        _ => ItemKind::Policy,
    };
    let effect = new.effect(id).or_else(|| old.effect(id));
    let grant = |adding: bool| match (effect, adding) {
        (Some(Effect::Permit), true) | (Some(Effect::Forbid), false) => Access::Widens,
        (Some(Effect::Forbid), true) | (Some(Effect::Permit), false) => Access::Narrows,
        (None, _) => Access::Changes,
    };
    let change = |status, access, detail, diff, replace| Change {
        kind,
        id: id.to_string(),
        status,
        access,
        effect,
        detail,
        diff,
        replace,
    };
    match (before, after) {
        (None, None) => None,
        (None, Some(_)) => Some(change(Status::Added, grant(true), None, None, false)),
        (Some(_), None) => Some(change(Status::Removed, grant(false), None, None, false)),
        (Some(a), Some(b)) => match (&a.body, &b.body) {
            (Body::Static { statement: s1 }, Body::Static { statement: s2 }) => {
                let same = same_statement(s1, s2, false);
                if same && a.description == b.description {
                    return None;
                }
                if same {
                    return Some(change(
                        Status::Changed,
                        Access::Neutral,
                        Some("description".into()),
                        None,
                        false,
                    ));
                }
                let (access, detail, replace) = statement_access(s1, s2, false);
                Some(change(
                    Status::Changed,
                    access,
                    Some(detail),
                    Some(text_diff(s1, s2, id)),
                    replace,
                ))
            }
            (
                Body::Linked {
                    template: t1,
                    principal: p1,
                    resource: r1,
                },
                Body::Linked {
                    template: t2,
                    principal: p2,
                    resource: r2,
                },
            ) => {
                if a.body.same_meaning(&b.body) {
                    return None;
                }
                let show = |t: &str, p: &Option<String>, r: &Option<String>| {
                    format!(
                        "{t}(principal {}, resource {})",
                        p.as_deref().unwrap_or("-"),
                        r.as_deref().unwrap_or("-")
                    )
                };
                let detail = format!("{} → {}", show(t1, p1, r1), show(t2, p2, r2));
                Some(change(
                    Status::Changed,
                    Access::Changes,
                    Some(detail),
                    None,
                    true,
                ))
            }
            _ => Some(change(
                Status::Changed,
                Access::Changes,
                Some("static ↔ template-linked".into()),
                None,
                true,
            )),
        },
    }
}

/// Classifies a changed statement. A change of effect is decisive; a scope
/// that grew (or shrank) with the same conditions widens (or narrows) for a
/// permit and the reverse for a forbid; anything else may do either.
/// Returns (access, explanation, needs replacement).
fn statement_access(old: &str, new: &str, template: bool) -> (Access, String, bool) {
    let parsed = |text: &str| {
        if template {
            canonical_template(text)
        } else {
            canonical_policy(text)
        }
    };
    let (Some(a), Some(b)) = (parsed(old), parsed(new)) else {
        return (Access::Changes, "statement changed".into(), true);
    };
    let effect = |v: &Value| v["effect"].as_str().unwrap_or_default().to_string();
    let replace = a["effect"] != b["effect"]
        || a["principal"] != b["principal"]
        || a["resource"] != b["resource"];
    if effect(&a) != effect(&b) {
        let access = if effect(&b) == "forbid" {
            Access::Narrows
        } else {
            Access::Widens
        };
        return (
            access,
            format!("effect {} → {}", effect(&a), effect(&b)),
            true,
        );
    }
    let conditions_equal = a["conditions"] == b["conditions"];
    let grows = conditions_equal
        && ["principal", "action", "resource"]
            .iter()
            .all(|k| scope_within(&a[*k], &b[*k]));
    let shrinks = conditions_equal
        && ["principal", "action", "resource"]
            .iter()
            .all(|k| scope_within(&b[*k], &a[*k]));
    let permit = effect(&b) == "permit";
    let scope_changed = ["principal", "action", "resource"]
        .iter()
        .any(|k| a[*k] != b[*k]);
    let what = match (scope_changed, conditions_equal) {
        (true, true) => "scope changed",
        (false, false) => "conditions changed",
        (true, false) => "scope and conditions changed",
        (false, true) => "annotations changed",
    };
    let access = match (grows, shrinks) {
        (true, true) => Access::Neutral,
        (true, false) => {
            if permit {
                Access::Widens
            } else {
                Access::Narrows
            }
        }
        (false, true) => {
            if permit {
                Access::Narrows
            } else {
                Access::Widens
            }
        }
        (false, false) => Access::Changes,
    };
    (access, what.to_string(), replace)
}

/// Whether every request matching scope `inner` matches `outer` (EST form),
/// as far as can be told without the entity hierarchy.
fn scope_within(inner: &Value, outer: &Value) -> bool {
    if inner == outer || outer["op"] == "All" {
        return true;
    }
    let entities = |v: &Value| -> Option<Vec<Value>> {
        match v["op"].as_str()? {
            "==" => Some(vec![v["entity"].clone()]),
            "in" => match (&v["entities"], &v["entity"]) {
                (Value::Array(list), _) => Some(list.clone()),
                (_, entity) if !entity.is_null() => Some(vec![entity.clone()]),
                _ => None,
            },
            _ => None,
        }
    };
    // `==` is a special case of `in`; a list of actions grows by adding.
    match (
        inner["op"].as_str(),
        outer["op"].as_str(),
        entities(inner),
        entities(outer),
    ) {
        (Some("==" | "in"), Some("in"), Some(a), Some(b)) => a.iter().all(|e| b.contains(e)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(old: &str, new: &str) -> Access {
        statement_access(old, new, false).0
    }

    #[test]
    fn formatting_and_comments_are_no_change() {
        assert!(same_statement(
            "permit(principal,action,resource) when {context.a>1};",
            "// a comment\npermit (\n  principal,\n  action,\n  resource\n)\nwhen { context.a > 1 };",
            false
        ));
        assert!(!same_statement(
            "permit(principal,action,resource) when {context.a>1};",
            "permit(principal,action,resource) when {context.a>2};",
            false
        ));
    }

    #[test]
    fn classification_of_changed_statements() {
        let base = "permit(principal, action == A::Action::\"read\", resource);";
        assert_eq!(
            access(
                base,
                "permit(principal, action in [A::Action::\"read\", A::Action::\"write\"], resource);"
            ),
            Access::Widens
        );
        assert_eq!(
            access(
                "permit(principal, action in [A::Action::\"read\", A::Action::\"write\"], resource);",
                base
            ),
            Access::Narrows
        );
        assert_eq!(
            access(
                base,
                "forbid(principal, action == A::Action::\"read\", resource);"
            ),
            Access::Narrows
        );
        assert_eq!(
            access(
                "forbid(principal, action, resource);",
                "permit(principal, action, resource);"
            ),
            Access::Widens
        );
        assert_eq!(
            access(
                "permit(principal, action, resource) when { context.a > 1 };",
                "permit(principal, action, resource) when { context.a > 2 };"
            ),
            Access::Changes
        );
        let forbid = "forbid(principal, action == A::Action::\"read\", resource);";
        assert_eq!(
            access(forbid, "forbid(principal, action, resource);"),
            Access::Narrows
        );
    }

    #[test]
    fn effect_and_scope_changes_need_replacement_conditions_do_not() {
        assert!(
            statement_access(
                "permit(principal, action, resource);",
                "forbid(principal, action, resource);",
                false
            )
            .2
        );
        assert!(
            statement_access(
                "permit(principal, action, resource);",
                "permit(principal == A::U::\"a\", action, resource);",
                false
            )
            .2
        );
        assert!(
            !statement_access(
                "permit(principal, action, resource);",
                "permit(principal, action, resource) when { context.x };",
                false
            )
            .2
        );
        assert!(
            !statement_access(
                "permit(principal, action, resource);",
                "permit(principal, action == A::Action::\"r\", resource);",
                false
            )
            .2
        );
    }

    #[test]
    fn schema_order_is_no_change() {
        let a = serde_json::json!({"N": {"entityTypes": {"U": {"memberOfTypes": ["G", "H"]}, "G": {}}, "actions": {}}});
        let b = serde_json::json!({"N": {"actions": {}, "entityTypes": {"G": {}, "U": {"memberOfTypes": ["H", "G"]}}}});
        assert_eq!(normalize(&a), normalize(&b));
    }
}
