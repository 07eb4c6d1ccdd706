//! What differs between two sides, judged on meaning, and what each change
//! can do to access.

use cedar_policy::{Effect, RequestEnv};
use serde_json::Value;

use super::side::{Body, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ItemKind {
    Schema,
    IdentitySource,
    Template,
    Policy,
    Link,
    StoreSettings,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::StoreSettings => "store-settings",
            ItemKind::Schema => "schema",
            ItemKind::IdentitySource => "identity-source",
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
    /// An unnamed store item taken over in place (plan::adopt).
    Adopted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Removed => "removed",
            Status::Changed => "changed",
            Status::Adopted => "adopted",
        }
    }

    pub fn sign(self) -> &'static str {
        match self {
            Status::Added => "+",
            Status::Removed => "-",
            Status::Changed => "~",
            Status::Adopted => "=",
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
    /// For a changed schema: the request environments it adds and removes.
    pub environments: Option<SchemaEnvironments>,
}

/// A request environment (principal type × action × resource type) that a
/// schema change adds or removes, with the permits that can apply there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// Ids of the permits (and links to permit templates) that Cedar's
    /// validator says can apply there, on the side whose schema has it.
    pub permits: Vec<String>,
}

/// What a schema change does to the request environments. AVP in STRICT
/// mode refuses a request that does not conform to the schema, so an
/// environment that appears where a permit can apply may grant access that
/// was refused, and one that disappears may take it away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaEnvironments {
    /// Only in the new schema.
    pub added: Vec<Environment>,
    /// Only in the old schema.
    pub removed: Vec<Environment>,
    /// Entity types, attributes, context or hierarchy changed as well: which
    /// requests and entities conform in the environments both schemas have
    /// can change too, and this classification cannot tell what that does.
    pub shapes_changed: bool,
    /// Why the environments could not be compared at all.
    pub unknown: Option<String>,
}

impl SchemaEnvironments {
    /// The access class of the schema change, from its environments.
    fn access(&self) -> Access {
        if self.unknown.is_some() {
            return Access::Changes;
        }
        let grants = |list: &[Environment]| list.iter().any(|e| !e.permits.is_empty());
        match (grants(&self.added), grants(&self.removed)) {
            (true, true) => Access::Changes,
            (true, false) => Access::Widens,
            (false, true) => Access::Narrows,
            (false, false) => Access::Neutral,
        }
    }
}

pub fn compare(old: &Side, new: &Side) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some(change) = schema_change(old, new) {
        changes.push(change);
    }
    if let Some(change) = identity_change(old, new) {
        changes.push(change);
    }
    if let Some(change) = settings_change(old, new) {
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
    changes.extend(old.adopted.iter().map(adoption_change));
    for change in &mut changes {
        if let (ItemKind::Link, Status::Added, Some(copy)) = (
            change.kind,
            change.status,
            old.unnamed_copies.get(&change.id),
        ) {
            // The store already grants it, through an unnamed link.
            let copy = &copy.store_id;
            change.access = Access::Neutral;
            change.detail = Some(format!(
                "the store's unnamed link {copy} says the same; AVP cannot name a link in place, so this named one is created and {copy} stays unmanaged (`--prune` deletes it)"
            ));
        }
    }
    // What widens access leads the report.
    changes.sort_by(|a, b| (a.access, a.kind, &a.id).cmp(&(b.access, b.kind, &b.id)));
    changes
}

/// What `[store]` changes of the store's settings. None of them decides a
/// request: the validation mode decides which policies the store accepts,
/// deletion protection whether it can be deleted.
fn settings_change(old: &Side, new: &Side) -> Option<Change> {
    let (Some(wanted), Some(current)) = (&new.settings, &old.settings) else {
        return None;
    };
    let mut parts = Vec::new();
    if let Some(mode) = wanted.validation_mode
        && Some(mode) != current.validation_mode
    {
        parts.push(format!(
            "validation mode {} → {}",
            current
                .validation_mode
                .map_or("unset", crate::store::ValidationMode::as_str),
            mode.as_str()
        ));
    }
    let on_off = |on: Option<bool>| match on {
        Some(true) => "on",
        Some(false) => "off",
        None => "unset",
    };
    if let Some(on) = wanted.deletion_protection
        && Some(on) != current.deletion_protection
    {
        parts.push(format!(
            "deletion protection {} → {}",
            on_off(current.deletion_protection),
            on_off(Some(on))
        ));
    }
    if let Some(description) = &wanted.description
        && Some(description) != current.description.as_ref()
    {
        parts.push(format!("description → {description:?}"));
    }
    if parts.is_empty() {
        return None;
    }
    Some(Change {
        kind: ItemKind::StoreSettings,
        id: "policy store".into(),
        status: Status::Changed,
        access: Access::Neutral,
        effect: None,
        detail: Some(parts.join("; ")),
        diff: None,
        replace: false,
        environments: None,
    })
}

/// An adoption changes no access: the store item already says what the
/// project item says.
fn adoption_change(adoption: &super::adopt::Adoption) -> Change {
    let kind = match adoption.kind {
        super::adopt::AdoptedKind::Policy => ItemKind::Policy,
        super::adopt::AdoptedKind::Template => ItemKind::Template,
    };
    let rewritten = if adoption.rewritten {
        " (with the project's text and description, the same rule)"
    } else {
        ""
    };
    Change {
        kind,
        id: adoption.id.clone(),
        status: Status::Adopted,
        access: Access::Neutral,
        effect: None,
        detail: Some(format!(
            "unnamed {} {} in the store says the same: adopted as `{}`{rewritten}",
            adoption.kind.as_str(),
            adoption.store_id,
            crate::store::managed_name(&adoption.id)
        )),
        diff: None,
        replace: false,
        environments: None,
    }
}

/// The identity source's change, when the new side manages it. Which
/// tokens AVP accepts, and what principal they become, is access: a new
/// source lets tokens in (widens), a removed one shuts them out (narrows).
/// A changed principal or group type, pool, issuer or prefix changes every
/// token-derived decision; more client ids or audiences only let more
/// tokens in, fewer only keep some out.
fn identity_change(old: &Side, new: &Side) -> Option<Change> {
    if !new.manages_identity {
        return None;
    }
    let text = |side: &Side| {
        side.identity
            .as_ref()
            .map(|i| serde_json::to_string_pretty(&i.source.to_json()).unwrap_or_default())
    };
    let (status, access, detail, replace) = match (&old.identity, &new.identity) {
        (None, None) => return None,
        (Some(a), Some(b)) if a.source == b.source => return None,
        (None, Some(b)) => (
            Status::Added,
            Access::Widens,
            format!("{}: tokens become principals", b.source.kind()),
            false,
        ),
        (Some(a), None) => (
            Status::Removed,
            Access::Narrows,
            format!("{}: token requests are refused", a.source.kind()),
            false,
        ),
        (Some(a), Some(b)) => {
            let (access, detail) = crate::identity::source::compare(&a.source, &b.source);
            (
                Status::Changed,
                access_of(access),
                detail,
                !a.source.same_kind(&b.source),
            )
        }
    };
    let (old_text, new_text) = (text(old).unwrap_or_default(), text(new).unwrap_or_default());
    Some(Change {
        kind: ItemKind::IdentitySource,
        id: "identity-source".into(),
        status,
        access,
        effect: None,
        detail: Some(detail),
        diff: Some(text_diff(&old_text, &new_text, "identity-source")),
        replace,
        environments: None,
    })
}

fn access_of(reach: crate::identity::source::Reach) -> Access {
    match reach {
        crate::identity::source::Reach::More => Access::Widens,
        crate::identity::source::Reach::Fewer => Access::Narrows,
        crate::identity::source::Reach::Different => Access::Changes,
    }
}

/// By meaning; texts Cedar cannot parse (a store's leftovers) are the
/// same only when they are the same text.
fn same_statement(old: &str, new: &str, template: bool) -> bool {
    match (
        crate::statement::canonical(old, template),
        crate::statement::canonical(new, template),
    ) {
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

fn schema_change(old_side: &Side, new_side: &Side) -> Option<Change> {
    let (old, new) = (old_side.schema.as_ref(), new_side.schema.as_ref());
    let (status, detail) = match (old, new) {
        (None, None) => return None,
        (None, Some(_)) => (Status::Added, None),
        // A project without a schema leaves the store's schema alone.
        (Some(_), None) => return None,
        (Some(a), Some(b)) if normalize(a) == normalize(b) => return None,
        (Some(a), Some(b)) => (Status::Changed, Some(schema_summary(a, b))),
    };
    let (diff, environments) = match (old, new) {
        (Some(a), Some(b)) => (
            Some(text_diff(
                &serde_json::to_string_pretty(&normalize(a)).unwrap_or_default(),
                &serde_json::to_string_pretty(&normalize(b)).unwrap_or_default(),
                "schema",
            )),
            Some(schema_environments(old_side, new_side, a, b)),
        ),
        _ => (None, None),
    };
    let access = environments
        .as_ref()
        .map_or(Access::Neutral, SchemaEnvironments::access);
    let detail = detail.map(|mut parts| {
        if let Some(envs) = &environments {
            parts.extend(environments_summary(envs));
        }
        if parts.is_empty() {
            parts.push("attributes or hierarchy changed".into());
        }
        parts.join("; ")
    });
    Some(Change {
        kind: ItemKind::Schema,
        id: "schema".into(),
        status,
        access,
        effect: None,
        detail,
        diff,
        replace: false,
        environments,
    })
}

/// "request environments: 1 added, 0 removed", and what cannot be told.
fn environments_summary(envs: &SchemaEnvironments) -> Vec<String> {
    if let Some(why) = &envs.unknown {
        return vec![format!("what it does to access cannot be told: {why}")];
    }
    let mut parts = Vec::new();
    if !envs.added.is_empty() || !envs.removed.is_empty() {
        parts.push(format!(
            "request environments: {} added, {} removed",
            envs.added.len(),
            envs.removed.len()
        ));
    }
    if envs.shapes_changed {
        parts.push(
            "types, attributes, context or hierarchy changed: what that does to access is not classified (see `diff --prove` and the test cases)".into(),
        );
    }
    parts
}

/// The request environments each schema has and the other lacks, each with
/// the permits of the side whose schema has it that can apply there.
fn schema_environments(
    old_side: &Side,
    new_side: &Side,
    old: &Value,
    new: &Value,
) -> SchemaEnvironments {
    let read = |json: &Value, which: &str| {
        cedar_policy::Schema::from_json_value(json.clone()).map_err(|err| {
            format!(
                "the {which} schema does not load: {}",
                crate::diagnostic::message_with_causes(&err)
            )
        })
    };
    let (old_schema, new_schema) = match (read(old, "old"), read(new, "new")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(why), _) | (_, Err(why)) => {
            return SchemaEnvironments {
                unknown: Some(why),
                ..SchemaEnvironments::default()
            };
        }
    };
    let old_envs: std::collections::BTreeSet<RequestEnv> = old_schema.request_envs().collect();
    let new_envs: std::collections::BTreeSet<RequestEnv> = new_schema.request_envs().collect();
    let only = |mine: &std::collections::BTreeSet<RequestEnv>,
                theirs: &std::collections::BTreeSet<RequestEnv>,
                side: &Side,
                schema: &cedar_policy::Schema| {
        let envs: Vec<&RequestEnv> = mine.difference(theirs).collect();
        if envs.is_empty() {
            return Vec::new();
        }
        let permits = permits_by_env(side, schema);
        envs.into_iter()
            .map(|env| Environment {
                principal: env.principal().to_string(),
                action: env.action().to_string(),
                resource: env.resource().to_string(),
                permits: permits.get(env).cloned().unwrap_or_default(),
            })
            .collect()
    };
    SchemaEnvironments {
        added: only(&new_envs, &old_envs, new_side, &new_schema),
        removed: only(&old_envs, &new_envs, old_side, &old_schema),
        shapes_changed: without_environments(normalize(old))
            != without_environments(normalize(new)),
        unknown: None,
    }
}

/// Per environment, the ids of the side's permits that Cedar's validator
/// says can apply there (a permit that cannot grants nothing there).
fn permits_by_env(
    side: &Side,
    schema: &cedar_policy::Schema,
) -> std::collections::BTreeMap<RequestEnv, Vec<String>> {
    let mut map: std::collections::BTreeMap<RequestEnv, Vec<String>> = Default::default();
    for policy in side.policy_set().policies() {
        if policy.effect() != Effect::Permit {
            continue;
        }
        for env in policy.get_valid_request_envs(schema) {
            map.entry(env).or_default().push(policy.id().to_string());
        }
    }
    for ids in map.values_mut() {
        ids.sort();
    }
    map
}

/// A resolved schema without the actions' principal and resource types:
/// what is left to differ when the environments are accounted for.
fn without_environments(mut schema: Value) -> Value {
    for namespace in schema
        .as_object_mut()
        .into_iter()
        .flat_map(|m| m.values_mut())
    {
        let actions = namespace
            .get_mut("actions")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|m| m.values_mut());
        for action in actions {
            if let Some(applies) = action.get_mut("appliesTo").and_then(Value::as_object_mut) {
                applies.remove("principalTypes");
                applies.remove("resourceTypes");
            }
        }
    }
    schema
}

/// A schema as Cedar resolves it: every type name fully qualified, common
/// types inlined, `Bool`/`Boolean`, `ipaddr`/`__cedar::ipaddr` and entity
/// references written either way in one form, the entity and action
/// hierarchy as its transitive closure (Cedar's validator works on the
/// closure too). `None` for a schema Cedar does not load.
fn resolved(value: &Value) -> Option<Value> {
    let schema = cedar_policy::Schema::from_json_value(value.clone()).ok()?;
    // `Schema` is a view of the validator's resolved schema; Cedar converts
    // that back to its JSON form itself (`to_json_schema`), so no name
    // resolution is re-implemented here.
    let core = AsRef::as_ref(&schema);
    let fragment = core.to_json_schema().ok()?;
    serde_json::to_value(&fragment).ok()
}

/// A schema in the form where equal meaning is equal JSON: resolved as
/// Cedar resolves it (see [`resolved`]), so a `.cedarschema` and the same
/// schema in JSON form compare equal, then with key and list order ignored.
/// Annotations are not compared (Cedar's resolved schema drops them; they
/// change no decision). A schema Cedar does not load is compared as written.
pub fn normalize(value: &Value) -> Value {
    sorted(&resolved(value).unwrap_or_else(|| value.clone()))
}

/// Key order and the order of lists do not matter in a schema.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(sorted).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// ["entity types +Team −Group", "actions +share"] from two JSON schemas.
fn schema_summary(old: &Value, new: &Value) -> Vec<String> {
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
    parts
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
        environments: None,
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
        environments: None,
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
            crate::statement::canonical(text, true)
        } else {
            crate::statement::canonical(text, false)
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
    // Conditions are conjunctive: a policy with a subset of another's
    // conditions applies wherever the other does (an erroring condition
    // only ever keeps a policy from applying).
    let grows = conditions_within(&b["conditions"], &a["conditions"])
        && ["principal", "action", "resource"]
            .iter()
            .all(|k| scope_within(&a[*k], &b[*k]));
    let shrinks = conditions_within(&a["conditions"], &b["conditions"])
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

/// Whether every condition of `fewer` is also one of `more` (as a
/// multiset of conjuncts: each `when` clause split at its top-level `&&`,
/// in Cedar's JSON form). Dropping a conjunct can only make a policy apply
/// to more requests: whatever satisfied every conjunct before still does.
fn conditions_within(fewer: &Value, more: &Value) -> bool {
    let (Some(fewer), Some(more)) = (conjuncts(fewer), conjuncts(more)) else {
        return fewer == more;
    };
    let mut left: Vec<&Value> = more.iter().collect();
    fewer.iter().all(
        |condition| match left.iter().position(|c| *c == condition) {
            Some(found) => {
                left.swap_remove(found);
                true
            }
            None => false,
        },
    )
}

/// The conditions of a policy (Cedar's JSON) as conjuncts.
fn conjuncts(conditions: &Value) -> Option<Vec<Value>> {
    fn split(body: &Value, out: &mut Vec<Value>) {
        match body.get("&&") {
            Some(and) => {
                split(&and["left"], out);
                split(&and["right"], out);
            }
            None => out.push(serde_json::json!({"when": body})),
        }
    }
    let mut out = Vec::new();
    for condition in conditions.as_array()? {
        match condition["kind"].as_str() {
            Some("when") => split(&condition["body"], &mut out),
            _ => out.push(condition.clone()),
        }
    }
    Some(out)
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
    fn dropping_a_condition_widens_a_permit_and_narrows_a_forbid() {
        let both =
            "permit(principal, action, resource) when { principal.a } unless { resource.b };";
        let one = "permit(principal, action, resource) when { principal.a };";
        assert_eq!(access(both, one), Access::Widens);
        assert_eq!(access(one, both), Access::Narrows);
        let forbid_both = both.replace("permit", "forbid");
        let forbid_one = one.replace("permit", "forbid");
        assert_eq!(access(&forbid_both, &forbid_one), Access::Narrows);
        assert_eq!(access(&forbid_one, &forbid_both), Access::Widens);
        // A changed condition may do either.
        let other = "permit(principal, action, resource) when { principal.c };";
        assert_eq!(access(one, other), Access::Changes);
        // A conjunct dropped inside one `when` widens as a clause does.
        let three = "permit(principal, action, resource) when { principal.a && principal.b && principal.c };";
        let two = "permit(principal, action, resource) when { principal.a && principal.c };";
        assert_eq!(access(three, two), Access::Widens);
        assert_eq!(access(two, three), Access::Narrows);
        // A disjunct is not a conjunct.
        let either = "permit(principal, action, resource) when { principal.a || principal.b };";
        assert_eq!(
            access(
                either,
                "permit(principal, action, resource) when { principal.a };"
            ),
            Access::Changes
        );
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
    fn a_common_type_and_an_entity_reference_resolve_alike() {
        let (fragment, _) = cedar_policy::SchemaFragment::from_cedarschema_str(
            "type Who = App::User; namespace App { entity User { boss: Who, ip: ipaddr, ok: Bool }; action view appliesTo { principal: User, resource: User }; }",
        )
        .unwrap();
        let cedar = fragment.to_json_value().unwrap();
        let json = serde_json::json!({"App": {
            "entityTypes": {"User": {"shape": {"type": "Record", "attributes": {
                "boss": {"type": "Entity", "name": "User"},
                "ip": {"type": "Extension", "name": "ipaddr"},
                "ok": {"type": "Boolean"}
            }}}},
            "actions": {"view": {"appliesTo": {"principalTypes": ["App::User"], "resourceTypes": ["User"]}}}
        }});
        assert_ne!(sorted(&cedar), sorted(&json), "the texts differ");
        assert_eq!(normalize(&cedar), normalize(&json), "the meanings do not");
        let mut other = json.clone();
        other["App"]["entityTypes"]["User"]["shape"]["attributes"]["ok"] =
            serde_json::json!({"type": "Long"});
        assert_ne!(normalize(&cedar), normalize(&other));
    }

    #[test]
    fn schema_order_is_no_change() {
        let a = serde_json::json!({"N": {"entityTypes": {"U": {"memberOfTypes": ["G", "H"]}, "G": {}}, "actions": {}}});
        let b = serde_json::json!({"N": {"actions": {}, "entityTypes": {"G": {}, "U": {"memberOfTypes": ["H", "G"]}}}});
        assert_eq!(normalize(&a), normalize(&b));
    }
}
