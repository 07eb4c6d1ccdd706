//! How the identity source fits the project (docs/identity.md), as
//! warnings: AVP accepts all of these, and production then silently does
//! the wrong thing. The schema must declare the types the source fills in,
//! and policies and links must name ids its tokens can produce.

use crate::diagnostic::Diagnostic;
use crate::identity::ProjectIdentity;
use crate::identity::schema_types::SchemaTypes;
use crate::identity::source::{Configuration, locate};
use crate::project::{Project, SchemaFormat};

/// How the identity source fits the project: the schema declares its types,
/// and the policies and links name ids its tokens can produce.
pub fn check_project(project: &Project) -> Vec<Diagnostic> {
    let Some(identity) = &project.identity else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let types = project.schema.as_ref().and_then(|schema| {
        SchemaTypes::of(schema.file.text(), schema.format == SchemaFormat::Json)
    });
    if let Some(types) = types {
        found.extend(schema_findings(identity, &types));
    }
    found.extend(prefix_findings(identity, project));
    found
}

fn schema_findings(identity: &ProjectIdentity, types: &SchemaTypes) -> Vec<Diagnostic> {
    let source = &identity.source;
    let file = &identity.file;
    let mut found = Vec::new();
    let principal = source.principal_type();
    let warn = |code: &str, message: String, help: &str, path: &[&str]| {
        Diagnostic::warning(code, message)
            .at(locate(file, path))
            .with_help(help)
    };
    let Some(declared) = types.entity(principal) else {
        found.push(warn(
            "identity-type-undeclared",
            format!("the schema does not declare the principal type `{principal}`: AVP refuses every token request as not matching the schema"),
            "declare the entity type in the schema, or fix `principalEntityType`",
            &["principalEntityType"],
        ));
        return found;
    };
    let Some(group) = source.group_type() else {
        return found;
    };
    let group_at: &[&str] = match &source.configuration {
        Configuration::CognitoUserPoolConfiguration(_) => &[
            "configuration",
            "cognitoUserPoolConfiguration",
            "groupConfiguration",
            "groupEntityType",
        ],
        Configuration::OpenIdConnectConfiguration(_) => &[
            "configuration",
            "openIdConnectConfiguration",
            "groupConfiguration",
            "groupEntityType",
        ],
    };
    if types.entity(group).is_none() {
        found.push(warn(
            "identity-type-undeclared",
            format!("the schema does not declare the group type `{group}`: a token with groups does not match the schema"),
            "declare the group entity type in the schema, or fix `groupEntityType`",
            group_at,
        ));
    } else if !declared.member_of.iter().any(|m| m == group) {
        found.push(warn(
            "identity-group-not-parent",
            format!("`{principal}` is not declared `in [{group}]`: the groups a token gives cannot be its parents"),
            &format!("add `{group}` to the memberOfTypes of `{principal}` in the schema"),
            group_at,
        ));
    }
    found
}

/// Policies and links that name a principal or group of the identity
/// source's types by an id its tokens never carry: the id of every entity
/// it makes starts with `<pool id>|` (Cognito) or `<entityIdPrefix>|`.
fn prefix_findings(identity: &ProjectIdentity, project: &Project) -> Vec<Diagnostic> {
    let source = &identity.source;
    let Some(prefix) = source.id_prefix() else {
        return Vec::new();
    };
    let expected = format!("{prefix}|");
    let types: Vec<&str> = std::iter::once(source.principal_type())
        .chain(source.group_type())
        .collect();
    let unreachable = |uid: &cedar_policy::EntityUid| {
        let type_name = uid.type_name().to_string();
        types.contains(&type_name.as_str()) && !uid.id().unescaped().starts_with(&expected)
    };
    let message = |uid: &cedar_policy::EntityUid| {
        format!(
            "{uid} can never be a token's principal or group: every id the {} makes starts with `{expected}`",
            source.kind()
        )
    };
    let help = format!("write the id as {expected}<id>, e.g. \"{expected}admins\"");
    let mut found = Vec::new();
    for policy in &project.policies {
        let Some(uids) = project_uids(project, &policy.id) else {
            continue;
        };
        for uid in uids.iter().filter(|uid| unreachable(uid)) {
            found.push(
                Diagnostic::warning("identity-unreachable-id", message(uid))
                    .at(policy.head_location())
                    .with_help(help.clone())
                    .for_policy(&policy.id),
            );
        }
    }
    for link in &project.links {
        for uid in [&link.principal, &link.resource].into_iter().flatten() {
            if unreachable(uid) {
                found.push(
                    Diagnostic::warning("identity-unreachable-id", message(uid))
                        .at(link.location.clone())
                        .with_help(help.clone())
                        .for_policy(&link.id),
                );
            }
        }
    }
    found
}

/// The entity literals of a policy or template, from Cedar's JSON form of it.
fn project_uids(project: &Project, id: &str) -> Option<Vec<cedar_policy::EntityUid>> {
    let policy_id = cedar_policy::PolicyId::new(id);
    let json = match project.policy_set.policy(&policy_id) {
        Some(policy) => policy.to_json().ok()?,
        None => project.policy_set.template(&policy_id)?.to_json().ok()?,
    };
    let mut found = Vec::new();
    collect_uids(&json, &mut found);
    Some(found)
}

fn collect_uids(json: &serde_json::Value, found: &mut Vec<cedar_policy::EntityUid>) {
    match json {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if (key == "entity" || key == "__entity")
                    && let Ok(uid) = cedar_policy::EntityUid::from_json(value.clone())
                {
                    found.push(uid);
                    continue;
                }
                if key == "entities" {
                    for item in value.as_array().into_iter().flatten() {
                        if let Ok(uid) = cedar_policy::EntityUid::from_json(item.clone()) {
                            found.push(uid);
                        }
                    }
                    continue;
                }
                collect_uids(value, found);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_uids(item, found)),
        _ => {}
    }
}
