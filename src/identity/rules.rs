//! What AVP refuses in an identity source (errors: the constraints of its
//! API model, `verifiedpermissions-2021-12-01.json`, which
//! `CreateIdentitySource` answers with a `ValidationException`) and what
//! makes one silently useless with the project (warnings: the schema does
//! not declare its types, a policy names an id no token can produce).

use std::sync::LazyLock;

use regex::Regex;

use super::schema_types::SchemaTypes;
use super::source::{Configuration, IdentitySource, ProjectIdentity, TokenSelection, locate};
use crate::diagnostic::Diagnostic;
use crate::project::Project;
use crate::source::SourceFile;

static USER_POOL_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^arn:[a-zA-Z0-9-]+:cognito-idp:(([a-zA-Z0-9-]+:\d{12}:userpool/[\w-]+_[0-9a-zA-Z]+))$",
    )
    .expect("a valid pattern")
});
static ENTITY_TYPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([_a-zA-Z][_a-zA-Z0-9]*::)*[_a-zA-Z][_a-zA-Z0-9]*$").expect("a valid pattern")
});

/// Collects the refusals of one document, each located at its key.
struct Checker<'a> {
    file: &'a SourceFile,
    found: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn refuse(&mut self, path: &[&str], message: String, help: &str) {
        self.found.push(
            Diagnostic::error("identity-source", message)
                .at(locate(self.file, path))
                .with_help(help),
        );
    }

    fn length(&mut self, path: &[&str], value: &str, min: usize, max: usize) {
        let length = value.chars().count();
        if length < min || length > max {
            let name = path.last().copied().unwrap_or_default();
            self.refuse(
                path,
                format!("`{name}` is {length} characters long; AVP takes {min} to {max}"),
                "AVP's API model bounds this field (docs/identity.md)",
            );
        }
    }

    fn list(&mut self, path: &[&str], items: &[String], min: usize, max: usize) {
        let name = path.last().copied().unwrap_or_default();
        if items.len() < min || items.len() > max {
            self.refuse(
                path,
                format!(
                    "`{name}` lists {} values; AVP takes {min} to {max}",
                    items.len()
                ),
                "AVP's API model bounds this list (docs/identity.md)",
            );
        }
        for item in items {
            self.length(path, item, 1, 255);
        }
    }

    fn entity_type(&mut self, path: &[&str], value: &str) {
        self.length(path, value, 1, 200);
        if !ENTITY_TYPE.is_match(value) {
            self.refuse(
                path,
                format!("`{value}` is not an entity type name"),
                "write a Cedar type name such as `DocApp::UserGroup`",
            );
        }
    }
}

/// AVP's constraints on the document.
pub fn check(source: &IdentitySource, file: &SourceFile) -> Vec<Diagnostic> {
    let mut checker = Checker {
        file,
        found: Vec::new(),
    };
    if source.policy_store_id.is_some() {
        checker.refuse(
            &["policyStoreId"],
            "the identity source names a policy store".into(),
            "remove `policyStoreId`: the store is the one `avpctl deploy` writes to",
        );
    }
    if let Some(principal) = &source.principal_entity_type {
        checker.length(&["principalEntityType"], principal, 1, 200);
    }
    match &source.configuration {
        Configuration::CognitoUserPoolConfiguration(cognito) => {
            let at = ["configuration", "cognitoUserPoolConfiguration"];
            let arn_at = [at[0], at[1], "userPoolArn"];
            checker.length(&arn_at, &cognito.user_pool_arn, 1, 255);
            if !USER_POOL_ARN.is_match(&cognito.user_pool_arn) {
                checker.refuse(
                    &arn_at,
                    format!("`{}` is not a Cognito user pool ARN", cognito.user_pool_arn),
                    "write arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID",
                );
            }
            checker.list(&[at[0], at[1], "clientIds"], &cognito.client_ids, 0, 1000);
            if let Some(groups) = &cognito.group_configuration {
                let path = [at[0], at[1], "groupConfiguration", "groupEntityType"];
                checker.entity_type(&path, &groups.group_entity_type);
            }
            let expected = super::source::cognito_issuer(&cognito.user_pool_arn);
            if let Some(issuer) = cognito.issuer.as_deref().filter(|i| *i != expected) {
                checker.refuse(
                    &[at[0], at[1], "issuer"],
                    format!("`issuer` is `{issuer}`, but the user pool's issuer is `{expected}`"),
                    "remove `issuer` (AVP derives it from the ARN) or fix the ARN",
                );
            }
        }
        Configuration::OpenIdConnectConfiguration(oidc) => {
            let at = ["configuration", "openIdConnectConfiguration"];
            let issuer_at = [at[0], at[1], "issuer"];
            checker.length(&issuer_at, &oidc.issuer, 1, 2048);
            if !oidc.issuer.starts_with("https://") {
                checker.refuse(
                    &issuer_at,
                    format!("the issuer `{}` does not start with https://", oidc.issuer),
                    "AVP discovers the provider at ISSUER/.well-known/openid-configuration, over HTTPS",
                );
            }
            if let Some(prefix) = &oidc.entity_id_prefix {
                checker.length(&[at[0], at[1], "entityIdPrefix"], prefix, 1, 100);
            }
            if let Some(groups) = &oidc.group_configuration {
                let path = [at[0], at[1], "groupConfiguration"];
                checker.length(
                    &[path[0], path[1], path[2], "groupClaim"],
                    &groups.group_claim,
                    1,
                    usize::MAX,
                );
                checker.entity_type(
                    &[path[0], path[1], path[2], "groupEntityType"],
                    &groups.group_entity_type,
                );
            }
            let selection = [at[0], at[1], "tokenSelection"];
            match &oidc.token_selection {
                TokenSelection::AccessTokenOnly(access) => {
                    let path = [selection[0], selection[1], selection[2], "accessTokenOnly"];
                    if let Some(claim) = &access.principal_id_claim {
                        checker.length(
                            &[path[0], path[1], path[2], path[3], "principalIdClaim"],
                            claim,
                            1,
                            usize::MAX,
                        );
                    }
                    if let Some(audiences) = &access.audiences {
                        checker.list(
                            &[path[0], path[1], path[2], path[3], "audiences"],
                            audiences,
                            1,
                            255,
                        );
                    }
                }
                TokenSelection::IdentityTokenOnly(identity) => {
                    let path = [
                        selection[0],
                        selection[1],
                        selection[2],
                        "identityTokenOnly",
                    ];
                    if let Some(claim) = &identity.principal_id_claim {
                        checker.length(
                            &[path[0], path[1], path[2], path[3], "principalIdClaim"],
                            claim,
                            1,
                            usize::MAX,
                        );
                    }
                    checker.list(
                        &[path[0], path[1], path[2], path[3], "clientIds"],
                        &identity.client_ids,
                        0,
                        1000,
                    );
                }
            }
        }
    }
    if source.principal_entity_type.is_none() {
        checker.found.push(
            Diagnostic::warning(
                "identity-principal-type",
                format!(
                    "no `principalEntityType`: AVP names the principals `{}`, a type no schema can declare",
                    super::source::DEFAULT_PRINCIPAL_TYPE
                ),
            )
            .at(locate(file, &[]))
            .with_help("set `principalEntityType` to the schema's user type, e.g. \"DocApp::User\""),
        );
    }
    checker.found
}

/// How the identity source fits the project: the schema declares its types,
/// and the policies and links name ids its tokens can produce.
pub fn check_project(project: &Project) -> Vec<Diagnostic> {
    let Some(identity) = &project.identity else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if let Some(types) = project.schema.as_ref().and_then(SchemaTypes::of) {
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
                if key == "entity" || key == "__entity" {
                    if let Ok(uid) = cedar_policy::EntityUid::from_json(value.clone()) {
                        found.push(uid);
                        continue;
                    }
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
