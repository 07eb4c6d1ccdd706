//! The AVP pre-flight: what Amazon Verified Permissions refuses although
//! local Cedar accepts it, so that `deploy` never fails on something
//! `validate` could have said. Limits and their sources: docs/avp-preflight.md.

use std::collections::BTreeMap;

use cedar_policy::{ResourceConstraint, SchemaFragment};

use crate::diagnostic::Diagnostic;
use crate::project::{PolicyEntry, PolicyKind, Project, SchemaFormat};

/// Quota: "Policy size", bytes of one policy or template statement.
pub const MAX_POLICY_BYTES: usize = 10_000;
/// Quota: "Schema size" (the stricter of the two published figures).
pub const MAX_SCHEMA_BYTES: usize = 100_000;
/// Quota: "Policy templates per policy store".
pub const MAX_TEMPLATES: usize = 40;
/// Quota: "Total size of policies per resource".
pub const MAX_BYTES_PER_RESOURCE: usize = 200_000;
/// `name/<id>` must fit AVP's 150-character policy name.
pub const MAX_ID_CHARS: usize = 145;
/// Quota on a policy or template description.
pub const MAX_DESCRIPTION_CHARS: usize = 150;
pub const RESERVED_NAMESPACES: [&str; 3] = ["aws", "amazon", "cedar"];
const UNSPECIFIED: &str = "unspecified";

pub fn preflight(project: &Project) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for entry in &project.policies {
        found.extend(policy_size(entry));
        found.extend(
            policy_name(&entry.id).map(|d| d.at(entry.head_location()).for_policy(&entry.id)),
        );
        found.extend(description_length(project, entry));
        if entry.kind == PolicyKind::Template {
            found.extend(template_slots(project, entry));
        }
    }
    for link in &project.links {
        found.extend(
            policy_name(&link.id).map(|d| d.at(link.location.clone()).for_policy(&link.id)),
        );
    }
    found.extend(template_count(project));
    found.extend(bytes_per_resource(project));
    found.extend(schema_checks(project));
    found
}

fn warning(code: &str, message: String) -> Diagnostic {
    Diagnostic::warning(code, message)
}

fn policy_size(entry: &PolicyEntry) -> Option<Diagnostic> {
    let size = entry.text().len();
    (size > MAX_POLICY_BYTES).then(|| {
        warning(
            "avp-policy-size",
            format!(
                "`{}` is {size} bytes; AVP accepts policies of at most {MAX_POLICY_BYTES} bytes",
                entry.id
            ),
        )
        .at(entry.head_location())
        .with_help("split it into several policies, or move lists of values into entity attributes")
        .for_policy(&entry.id)
    })
}

/// Whether `id` can be the `<id>` of an AVP policy name `name/<id>`.
pub fn is_valid_avp_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
}

fn policy_name(id: &str) -> Option<Diagnostic> {
    if is_valid_avp_id(id) {
        return None;
    }
    let reason = if id.chars().count() > MAX_ID_CHARS {
        format!("it is longer than {MAX_ID_CHARS} characters")
    } else {
        let bad: String = id
            .chars()
            .filter(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/')))
            .take(5)
            .collect();
        format!("it contains {bad:?}")
    };
    Some(
        warning(
            "avp-policy-name",
            format!("id `{id}` cannot be an AVP policy name (`name/{id}`): {reason}"),
        )
        .with_help("use only letters, digits, `-`, `_` and `/`, at most 145 characters (set @id(\"...\") or rename the file)"),
    )
}

fn description_length(project: &Project, entry: &PolicyEntry) -> Option<Diagnostic> {
    let id = cedar_policy::PolicyId::new(&entry.id);
    let description = match entry.kind {
        PolicyKind::Static => project.policy_set.annotation(&id, "description"),
        PolicyKind::Template => project.policy_set.template_annotation(&id, "description"),
    }?;
    let length = description.chars().count();
    (length > MAX_DESCRIPTION_CHARS).then(|| {
        warning(
            "avp-description-length",
            format!("the @description of `{}` is {length} characters; AVP accepts at most {MAX_DESCRIPTION_CHARS}", entry.id),
        )
        .at(entry.head_location())
        .with_help("shorten it; longer explanations belong in a // comment")
        .for_policy(&entry.id)
    })
}

/// AWS's "Differences between Amazon Verified Permissions and the Cedar
/// policy language" page: AVP rejects a template whose `principal` or
/// `resource` is unconstrained (a slot or a concrete entity both count; one
/// slot is enough). Reported uses of such templates exist, so a deploy can
/// pass it with `--allow-preflight avp-template-slots`.
fn template_slots(project: &Project, entry: &PolicyEntry) -> Option<Diagnostic> {
    use cedar_policy::{TemplatePrincipalConstraint as P, TemplateResourceConstraint as R};
    let template = project
        .policy_set
        .template(&cedar_policy::PolicyId::new(&entry.id))?;
    let mut bare = Vec::new();
    if matches!(template.principal_constraint(), P::Any) {
        bare.push("principal");
    }
    if matches!(template.resource_constraint(), R::Any) {
        bare.push("resource");
    }
    (!bare.is_empty()).then(|| {
        warning(
            "avp-template-slots",
            format!(
                "template `{}` leaves {} unconstrained; AWS documents that AVP rejects such templates (one slot is fine, a bare scope is not)",
                entry.id,
                bare.join(" and ")
            ),
        )
        .at(entry.head_location())
        .with_help("scope it with a slot (`principal == ?principal`, `resource in ?resource`), a concrete entity or `is T`; or deploy with `--allow-preflight avp-template-slots` if your store accepts it")
        .for_policy(&entry.id)
    })
}

fn template_count(project: &Project) -> Option<Diagnostic> {
    let templates: Vec<&PolicyEntry> = project.templates().collect();
    (templates.len() > MAX_TEMPLATES).then(|| {
        let extra = templates[MAX_TEMPLATES];
        warning(
            "avp-template-count",
            format!(
                "the project has {} templates; an AVP policy store holds at most {MAX_TEMPLATES}",
                templates.len()
            ),
        )
        .at(extra.head_location())
        .with_label("the 41st template")
        .with_help("merge templates that differ only in their action, or use several stores")
    })
}

/// AVP counts, per resource named in a scope, the bytes of every policy
/// scoped to it; a template-linked policy counts only the lengths of its
/// principal and resource.
fn bytes_per_resource(project: &Project) -> Vec<Diagnostic> {
    let mut per_resource: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for policy in project.policy_set.policies() {
        // Policies that name no resource share AVP's "unspecified" total.
        let resource = match policy.resource_constraint() {
            ResourceConstraint::Eq(uid)
            | ResourceConstraint::In(uid)
            | ResourceConstraint::IsIn(_, uid) => uid.to_string(),
            ResourceConstraint::Any | ResourceConstraint::Is(_) => UNSPECIFIED.to_string(),
        };
        let id = policy.id().to_string();
        let size = if policy.is_static() {
            project.policy(&id).map_or(0, |entry| entry.text().len())
        } else {
            let links = policy.template_links().unwrap_or_default();
            links.values().map(|uid| uid.to_string().len()).sum()
        };
        let slot = per_resource.entry(resource).or_default();
        slot.0 += size;
        slot.1.push(id);
    }
    per_resource
        .into_iter()
        .filter(|(_, (size, _))| *size > MAX_BYTES_PER_RESOURCE)
        .map(|(resource, (size, ids))| {
            let mut diagnostic = warning(
                "avp-resource-policy-size",
                format!(
                    "policies scoped to {} total {size} bytes ({} policies); AVP accepts at most {MAX_BYTES_PER_RESOURCE} bytes per resource",
                    if resource == UNSPECIFIED { "no particular resource (AVP's \"unspecified\" total)".to_string() } else { resource.clone() },
                    ids.len()
                ),
            )
            .with_help("scope some of them to a parent (`resource in …`) or move conditions into attributes");
            if let Some(location) = ids.last().and_then(|id| project.locate(id)) {
                diagnostic = diagnostic.at(crate::project::first_line(&location));
            }
            diagnostic
        })
        .collect()
}

fn schema_checks(project: &Project) -> Vec<Diagnostic> {
    let Some(schema) = &project.schema else {
        return Vec::new();
    };
    let file = &schema.file;
    let fragment = match schema.format {
        SchemaFormat::Cedar => SchemaFragment::from_cedarschema_str(file.text())
            .map(|(f, _)| f)
            .ok(),
        SchemaFormat::Json => SchemaFragment::from_json_str(file.text()).ok(),
    };
    let Some(fragment) = fragment else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let json_size = fragment
        .to_json_string()
        .map(|json| json.len())
        .unwrap_or_else(|_| file.text().len());
    if json_size > MAX_SCHEMA_BYTES {
        found.push(
            warning(
                "avp-schema-size",
                format!("the schema is {json_size} bytes in the JSON form AVP stores; AVP accepts at most {MAX_SCHEMA_BYTES}"),
            )
            .at(file.location(0..0))
            .with_help("remove unused entity types and attributes, or use common types for repeated shapes"),
        );
    }
    let namespaces: Vec<_> = fragment.namespaces().collect();
    if namespaces.len() > 1 {
        found.push(
            warning(
                "avp-namespace-count",
                format!("the schema declares {} namespaces; an AVP policy store's schema has exactly one", namespaces.len()),
            )
            .at(file.location(0..0))
            .with_help("move every declaration into one namespace"),
        );
    }
    if schema.format == SchemaFormat::Json && has_empty_key(file.text()) {
        found.push(
            warning(
                "avp-schema-empty-key",
                "the schema JSON has an empty key (\"\"); AVP requires every key to be non-empty"
                    .to_string(),
            )
            .at(file.location(0..0))
            .with_help("name the namespace, attribute or type"),
        );
    }
    for namespace in namespaces {
        let problem = match &namespace {
            None => Some((
                "declares entity types or actions outside any namespace".to_string(),
                "wrap the declarations in `namespace MyApp { … }`".to_string(),
            )),
            Some(ns) => {
                let name = ns.to_string();
                let reserved = name
                    .split("::")
                    .any(|part| RESERVED_NAMESPACES.contains(&part.to_lowercase().as_str()));
                reserved.then(|| {
                    (
                        format!("uses the reserved namespace `{ns}`"),
                        format!("rename the namespace (and the `{ns}::` prefixes in policies)"),
                    )
                })
            }
        };
        if let Some((problem, help)) = problem {
            let at = namespace
                .as_ref()
                .and_then(|ns| file.text().find(&ns.to_string()))
                .unwrap_or(0);
            found.push(
                warning("avp-namespace", format!("the schema {problem}; AVP requires a namespace that is not reserved (aws, amazon, cedar)"))
                    .at(file.location(at..at))
                    .with_help(help),
            );
        }
    }
    found
}

fn has_empty_key(json: &str) -> bool {
    fn walk(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.is_empty() || walk(v)),
            serde_json::Value::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    serde_json::from_str(json).is_ok_and(|v| walk(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avp_ids_allow_letters_digits_dash_underscore_slash_up_to_145() {
        assert!(is_valid_avp_id("finance/approve-2_x"));
        assert!(is_valid_avp_id(&"a".repeat(145)));
        assert!(!is_valid_avp_id(&"a".repeat(146)));
        assert!(!is_valid_avp_id("has space"));
        assert!(!is_valid_avp_id("dot.ted"));
        assert!(!is_valid_avp_id(""));
    }
}
