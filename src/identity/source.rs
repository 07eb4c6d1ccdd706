//! The identity-source document of a project: AVP's own shape, what
//! `CreateIdentitySource` takes and `GetIdentitySource` returns (without the
//! store id), read with positions and checked against the constraints of
//! AVP's API model (docs/identity.md cites each).

use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;
use crate::source::{Location, SourceFile};
use crate::strict_json::Node;

/// What AVP names the principal type when `principalEntityType` is left out
/// (userguide `cognito-create.html`, `oidc-create.html`).
pub const DEFAULT_PRINCIPAL_TYPE: &str = "AWS::Cognito";
/// The group type of a Cognito source without `groupConfiguration` (API
/// reference `API_CognitoGroupConfiguration.html`).
pub const DEFAULT_COGNITO_GROUP_TYPE: &str = "AWS::CognitoGroup";
/// The claim an OIDC source reads the principal's id from by default (API
/// model: `principalIdClaim` `@default "sub"`).
pub const DEFAULT_PRINCIPAL_ID_CLAIM: &str = "sub";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentitySource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_entity_type: Option<String>,
    pub configuration: Configuration,
    /// Read-only fields a `GetIdentitySource` output carries: accepted so
    /// that the output can be pasted, never compared or sent.
    #[serde(default, skip_serializing)]
    identity_source_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    created_date: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    last_updated_date: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    details: Option<serde_json::Value>,
    /// Refused with a clear message: the store is chosen at deploy time.
    #[serde(default, skip_serializing)]
    pub(super) policy_store_id: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Configuration {
    CognitoUserPoolConfiguration(Cognito),
    OpenIdConnectConfiguration(Oidc),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cognito {
    pub user_pool_arn: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_configuration: Option<CognitoGroups>,
    /// Only in a `GetIdentitySource` output; must then be the pool's issuer.
    #[serde(default, skip_serializing)]
    pub issuer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CognitoGroups {
    pub group_entity_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Oidc {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_configuration: Option<OidcGroups>,
    pub token_selection: TokenSelection,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcGroups {
    pub group_claim: String,
    pub group_entity_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum TokenSelection {
    AccessTokenOnly(AccessTokenOnly),
    IdentityTokenOnly(IdentityTokenOnly),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessTokenOnly {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id_claim: Option<String>,
    /// `None` and `[]` differ: AVP takes one to 255 audiences when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityTokenOnly {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_ids: Vec<String>,
}

impl IdentitySource {
    pub fn principal_type(&self) -> &str {
        self.principal_entity_type
            .as_deref()
            .unwrap_or(DEFAULT_PRINCIPAL_TYPE)
    }

    /// The entity type groups become; `None` for an OIDC source without
    /// `groupConfiguration` (its tokens give no groups).
    pub fn group_type(&self) -> Option<&str> {
        match &self.configuration {
            Configuration::CognitoUserPoolConfiguration(cognito) => Some(
                cognito
                    .group_configuration
                    .as_ref()
                    .map_or(DEFAULT_COGNITO_GROUP_TYPE, |g| &g.group_entity_type),
            ),
            Configuration::OpenIdConnectConfiguration(oidc) => oidc
                .group_configuration
                .as_ref()
                .map(|g| g.group_entity_type.as_str()),
        }
    }

    /// What goes before `|` in the ids of the principals and groups it
    /// makes: the user pool id, or the OIDC `entityIdPrefix`.
    pub fn id_prefix(&self) -> Option<&str> {
        match &self.configuration {
            Configuration::CognitoUserPoolConfiguration(cognito) => {
                Some(user_pool_id(&cognito.user_pool_arn))
            }
            Configuration::OpenIdConnectConfiguration(oidc) => oidc.entity_id_prefix.as_deref(),
        }
    }

    /// The id of a principal or group it makes from a claim's value:
    /// `<prefix>|<value>`, or the bare value without a prefix.
    pub fn entity_id(&self, value: &str) -> String {
        match self.id_prefix() {
            Some(prefix) => format!("{prefix}|{value}"),
            None => value.to_string(),
        }
    }

    /// The `iss` its tokens must carry.
    pub fn issuer(&self) -> String {
        match &self.configuration {
            Configuration::CognitoUserPoolConfiguration(cognito) => {
                cognito_issuer(&cognito.user_pool_arn)
            }
            Configuration::OpenIdConnectConfiguration(oidc) => oidc.issuer.clone(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.configuration {
            Configuration::CognitoUserPoolConfiguration(_) => "Cognito user pool",
            Configuration::OpenIdConnectConfiguration(_) => "OIDC provider",
        }
    }

    /// AVP cannot turn one kind into the other in place (userguide
    /// `cognito-edit.html`): a change of kind is a delete and a create.
    pub fn same_kind(&self, other: &IdentitySource) -> bool {
        std::mem::discriminant(&self.configuration) == std::mem::discriminant(&other.configuration)
    }

    /// The document as `CreateIdentitySource` takes it (no read-only keys),
    /// for the store and for plans.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The same source as AVP holds it: defaults spelt out, read-only
    /// keys gone. Two sources that AVP treats alike compare equal so.
    pub fn normalized(&self) -> IdentitySource {
        let default_claim = |claim: &Option<String>| {
            claim
                .clone()
                .filter(|c| !c.is_empty() && c != DEFAULT_PRINCIPAL_ID_CLAIM)
        };
        let configuration = match &self.configuration {
            Configuration::CognitoUserPoolConfiguration(c) => {
                Configuration::CognitoUserPoolConfiguration(Cognito {
                    user_pool_arn: c.user_pool_arn.clone(),
                    client_ids: c.client_ids.clone(),
                    group_configuration: c
                        .group_configuration
                        .clone()
                        .filter(|g| g.group_entity_type != DEFAULT_COGNITO_GROUP_TYPE),
                    issuer: None,
                })
            }
            Configuration::OpenIdConnectConfiguration(o) => {
                Configuration::OpenIdConnectConfiguration(Oidc {
                    token_selection: match &o.token_selection {
                        TokenSelection::AccessTokenOnly(a) => {
                            TokenSelection::AccessTokenOnly(AccessTokenOnly {
                                principal_id_claim: default_claim(&a.principal_id_claim),
                                audiences: a.audiences.clone().filter(|a| !a.is_empty()),
                            })
                        }
                        TokenSelection::IdentityTokenOnly(i) => {
                            TokenSelection::IdentityTokenOnly(IdentityTokenOnly {
                                principal_id_claim: default_claim(&i.principal_id_claim),
                                client_ids: i.client_ids.clone(),
                            })
                        }
                    },
                    ..o.clone()
                })
            }
        };
        IdentitySource::from_parts(self.principal_type(), configuration)
    }

    /// A source as a store returns it (`principalEntityType` is always set
    /// there).
    pub fn from_parts(principal_entity_type: &str, configuration: Configuration) -> IdentitySource {
        IdentitySource {
            principal_entity_type: Some(principal_entity_type.to_string()),
            configuration,
            identity_source_id: None,
            created_date: None,
            last_updated_date: None,
            details: None,
            policy_store_id: None,
        }
    }
}

/// Which tokens a changed identity source accepts, against the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The same principals from the same tokens, and more tokens accepted.
    More,
    /// The same principals, fewer tokens accepted.
    Fewer,
    /// Other principals, groups or attributes: any decision may change.
    Different,
}

/// How `new` differs from `old`, and a phrase saying so.
pub fn compare(old: &IdentitySource, new: &IdentitySource) -> (Reach, String) {
    let (old, new) = (old.normalized(), new.normalized());
    if !old.same_kind(&new) {
        return (
            Reach::Different,
            format!("{} → {}: deleted and created again", old.kind(), new.kind()),
        );
    }
    if old.principal_type() != new.principal_type() || old.group_type() != new.group_type() {
        return (
            Reach::Different,
            "the principal or group type changes every token-derived decision".into(),
        );
    }
    let (old_allowed, new_allowed) = (accepted(&old), accepted(&new));
    let mut old_rest = old.clone();
    let mut new_rest = new.clone();
    clear_accepted(&mut old_rest);
    clear_accepted(&mut new_rest);
    if old_rest != new_rest {
        return (
            Reach::Different,
            "the issuer, pool, prefix or claims change the principals tokens become".into(),
        );
    }
    // An empty list accepts every client (userguide cognito-validation.html).
    let within = |a: &[String], b: &[String]| {
        b.is_empty() || (!a.is_empty() && a.iter().all(|x| b.contains(x)))
    };
    if within(&old_allowed, &new_allowed) {
        (
            Reach::More,
            "accepts tokens of more clients or audiences".into(),
        )
    } else if within(&new_allowed, &old_allowed) {
        (
            Reach::Fewer,
            "accepts tokens of fewer clients or audiences".into(),
        )
    } else {
        (
            Reach::Different,
            "accepts tokens of other clients or audiences".into(),
        )
    }
}

/// The client ids or audiences a source checks tokens against.
fn accepted(source: &IdentitySource) -> Vec<String> {
    match &source.configuration {
        Configuration::CognitoUserPoolConfiguration(c) => c.client_ids.clone(),
        Configuration::OpenIdConnectConfiguration(o) => match &o.token_selection {
            TokenSelection::AccessTokenOnly(a) => a.audiences.clone().unwrap_or_default(),
            TokenSelection::IdentityTokenOnly(i) => i.client_ids.clone(),
        },
    }
}

fn clear_accepted(source: &mut IdentitySource) {
    match &mut source.configuration {
        Configuration::CognitoUserPoolConfiguration(c) => c.client_ids.clear(),
        Configuration::OpenIdConnectConfiguration(o) => match &mut o.token_selection {
            TokenSelection::AccessTokenOnly(a) => a.audiences = None,
            TokenSelection::IdentityTokenOnly(i) => i.client_ids.clear(),
        },
    }
}

/// `arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_EXAMPLE`
/// → `us-east-1_EXAMPLE`.
pub fn user_pool_id(arn: &str) -> &str {
    arn.rsplit_once("userpool/").map_or(arn, |(_, id)| id)
}

/// The issuer of a user pool's tokens (`GetIdentitySource` returns it as
/// `issuer`: `https://cognito-idp.<region>.amazonaws.com/<pool id>`).
pub fn cognito_issuer(arn: &str) -> String {
    let region = arn.split(':').nth(3).unwrap_or_default();
    format!(
        "https://cognito-idp.{region}.amazonaws.com/{}",
        user_pool_id(arn)
    )
}

/// The project's identity source and the file it was read from.
#[derive(Debug, Clone)]
pub struct ProjectIdentity {
    pub source: IdentitySource,
    pub file: SourceFile,
}

/// Reads the document; every problem comes back located in the file, the
/// warnings beside a usable source.
pub fn parse(file: &SourceFile) -> Result<(ProjectIdentity, Vec<Diagnostic>), Vec<Diagnostic>> {
    let json_error = |err: serde_json::Error, what: &str| {
        let offset = file.offset_of(err.line(), err.column());
        Diagnostic::error("identity-source", format!("{what}: {err}"))
            .at(file.location(offset..offset))
            .with_help("write AVP's identity-source shape: {\"principalEntityType\": ..., \"configuration\": {\"cognitoUserPoolConfiguration\": ...} or {\"openIdConnectConfiguration\": ...}} (docs/identity.md)")
    };
    crate::strict_json::from_str(file.text())
        .map_err(|err| vec![json_error(err, "the identity source is not valid JSON")])?;
    let source: IdentitySource = serde_json::from_str(file.text()).map_err(|err| {
        vec![json_error(
            err,
            "the identity source does not have AVP's shape",
        )]
    })?;
    let problems = super::rules::check(&source, file);
    if problems.iter().any(Diagnostic::is_error) {
        return Err(problems);
    }
    let identity = ProjectIdentity {
        source,
        file: file.clone(),
    };
    Ok((identity, problems))
}

/// Where the value at `path` (object keys from the top) is written, or the
/// nearest enclosing value that is.
pub fn locate(file: &SourceFile, path: &[&str]) -> Location {
    let Some(mut node) = crate::strict_json::spans(file.text(), path.len() + 1) else {
        return file.location(0..0);
    };
    for key in path {
        match Node::get(&node, key) {
            Some(inner) => node = inner.clone(),
            None => break,
        }
    }
    file.location(node.span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_id_and_issuer_come_from_the_arn() {
        let arn = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_EXAMPLE";
        assert_eq!(user_pool_id(arn), "us-east-1_EXAMPLE");
        assert_eq!(
            cognito_issuer(arn),
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE"
        );
    }
}
