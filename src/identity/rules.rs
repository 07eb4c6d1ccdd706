//! What AVP refuses in an identity source: the constraints of its API
//! model, `verifiedpermissions-2021-12-01.json`, which
//! `CreateIdentitySource` answers with a `ValidationException`. How the
//! source fits the rest of the project is `validate`'s (validate/identity.rs).

use std::sync::LazyLock;

use regex::Regex;

use super::source::{Configuration, IdentitySource, TokenSelection, locate};
use crate::diagnostic::Diagnostic;
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

/// The key path `keys` below `base`.
fn under<'a>(base: &[&'a str], keys: &[&'a str]) -> Vec<&'a str> {
    [base, keys].concat()
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
            let arn_at = under(&at, &["userPoolArn"]);
            checker.length(&arn_at, &cognito.user_pool_arn, 1, 255);
            if !USER_POOL_ARN.is_match(&cognito.user_pool_arn) {
                checker.refuse(
                    &arn_at,
                    format!("`{}` is not a Cognito user pool ARN", cognito.user_pool_arn),
                    "write arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID",
                );
            }
            checker.list(&under(&at, &["clientIds"]), &cognito.client_ids, 0, 1000);
            if let Some(groups) = &cognito.group_configuration {
                let path = under(&at, &["groupConfiguration", "groupEntityType"]);
                checker.entity_type(&path, &groups.group_entity_type);
            }
            let expected = super::source::cognito_issuer(&cognito.user_pool_arn);
            if let Some(issuer) = cognito.issuer.as_deref().filter(|i| *i != expected) {
                checker.refuse(
                    &under(&at, &["issuer"]),
                    format!("`issuer` is `{issuer}`, but the user pool's issuer is `{expected}`"),
                    "remove `issuer` (AVP derives it from the ARN) or fix the ARN",
                );
            }
        }
        Configuration::OpenIdConnectConfiguration(oidc) => {
            let at = ["configuration", "openIdConnectConfiguration"];
            let issuer_at = under(&at, &["issuer"]);
            checker.length(&issuer_at, &oidc.issuer, 1, 2048);
            if !oidc.issuer.starts_with("https://") {
                checker.refuse(
                    &issuer_at,
                    format!("the issuer `{}` does not start with https://", oidc.issuer),
                    "AVP discovers the provider at ISSUER/.well-known/openid-configuration, over HTTPS",
                );
            }
            if let Some(prefix) = &oidc.entity_id_prefix {
                checker.length(&under(&at, &["entityIdPrefix"]), prefix, 1, 100);
            }
            if let Some(groups) = &oidc.group_configuration {
                let path = under(&at, &["groupConfiguration"]);
                checker.length(
                    &under(&path, &["groupClaim"]),
                    &groups.group_claim,
                    1,
                    usize::MAX,
                );
                checker.entity_type(
                    &under(&path, &["groupEntityType"]),
                    &groups.group_entity_type,
                );
            }
            let selection = under(&at, &["tokenSelection"]);
            match &oidc.token_selection {
                TokenSelection::AccessTokenOnly(access) => {
                    let path = under(&selection, &["accessTokenOnly"]);
                    if let Some(claim) = &access.principal_id_claim {
                        checker.length(&under(&path, &["principalIdClaim"]), claim, 1, usize::MAX);
                    }
                    if let Some(audiences) = &access.audiences {
                        checker.list(&under(&path, &["audiences"]), audiences, 1, 255);
                    }
                }
                TokenSelection::IdentityTokenOnly(identity) => {
                    let path = under(&selection, &["identityTokenOnly"]);
                    if let Some(claim) = &identity.principal_id_claim {
                        checker.length(&under(&path, &["principalIdClaim"]), claim, 1, usize::MAX);
                    }
                    checker.list(&under(&path, &["clientIds"]), &identity.client_ids, 0, 1000);
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
