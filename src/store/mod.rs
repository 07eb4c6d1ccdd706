//! Policy stores: what an AVP policy store holds, and the operations that
//! change it. The embedded [`local`] store and the Amazon Verified
//! Permissions store implement the same [`Store`] trait, so the planner and
//! `diff`/`deploy` never know which one they talk to.

pub mod avp;
mod avp_identity;
pub mod local;
mod uri;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use uri::{
    DEFAULT_STORE, StoreAddress, default_relative_to_project, label, named_addresses,
    resolve_address,
};

/// Opens the store at an address.
pub fn open(
    address: &StoreAddress,
    aws: &crate::cli::AwsArgs,
) -> Result<Box<dyn Store>, crate::error::Error> {
    match address {
        StoreAddress::Local(path) => Ok(Box::new(local::LocalStore::new(path))),
        StoreAddress::Avp {
            id,
            region,
            profile,
            endpoint_url,
        } => {
            let connection = avp::Connection {
                store_id: id.clone(),
                region: aws.region.clone().or_else(|| region.clone()),
                profile: aws.profile.clone().or_else(|| profile.clone()),
                endpoint_url: aws.endpoint_url.clone().or_else(|| endpoint_url.clone()),
                concurrency: aws.concurrency,
            };
            avp::AvpStore::connect(connection)
                .map(|store| Box::new(store) as Box<dyn Store>)
                .map_err(|err| crate::error::Error::Store(format!("{}: {err}", address.describe())))
        }
    }
}

/// The prefix AVP policy names carry; a policy named `name/<id>` is managed
/// by avpctl as the project's policy `<id>` (README "A tour").
pub const NAME_PREFIX: &str = "name/";

pub fn managed_name(id: &str) -> String {
    format!("{NAME_PREFIX}{id}")
}

pub fn managed_id(name: &str) -> Option<&str> {
    name.strip_prefix(NAME_PREFIX).filter(|id| !id.is_empty())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ValidationMode {
    Strict,
    Off,
}

impl ValidationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationMode::Strict => "STRICT",
            ValidationMode::Off => "OFF",
        }
    }
}

/// Everything a store holds, as read in one go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreState {
    /// Cedar's JSON schema form, as AVP stores it.
    pub schema: Option<Value>,
    pub validation_mode: ValidationMode,
    pub policies: Vec<StoredPolicy>,
    pub templates: Vec<StoredTemplate>,
    /// AVP allows one per store (userguide `quotas.html`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<StoredIdentitySource>,
    /// Whether the store refuses to be deleted (`deletionProtection`);
    /// `None` when the store does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection: Option<bool>,
    /// The policy store's own description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl StoreState {
    pub fn empty() -> StoreState {
        StoreState {
            schema: None,
            validation_mode: ValidationMode::Strict,
            policies: Vec::new(),
            templates: Vec::new(),
            identity_source: None,
            deletion_protection: None,
            description: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIdentitySource {
    /// The store's own id (AVP's `identitySourceId`).
    pub id: String,
    pub source: crate::identity::IdentitySource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// The store's own id (AVP's `policyId`).
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub definition: Definition,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Definition {
    Static {
        statement: String,
    },
    #[serde(rename_all = "camelCase")]
    TemplateLinked {
        /// The store id of the template.
        policy_template_id: String,
        principal: Option<String>,
        resource: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTemplate {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub statement: String,
}

/// What identifies a [`StoreState`] for change detection: every policy and
/// template by store id with its name and a hash of its content, a hash of
/// the schema, the validation mode. Small enough to keep for the whole
/// deploy, and stable across runs and machines (SHA-256), so a saved plan
/// keeps it: equal fingerprints mean nobody changed the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SavedFingerprint", into = "SavedFingerprint")]
pub struct Fingerprint {
    schema: String,
    validation_mode: ValidationMode,
    /// Deletion protection and description.
    settings: String,
    items: BTreeMap<(FingerprintKind, String), (Option<String>, String)>,
}

/// What a fingerprint lists, by store id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FingerprintKind {
    Policy,
    Template,
    IdentitySource,
}

impl FingerprintKind {
    fn as_str(self) -> &'static str {
        match self {
            FingerprintKind::Policy => "policy",
            FingerprintKind::Template => "template",
            FingerprintKind::IdentitySource => "identity source",
        }
    }
}

/// A fingerprint as a saved plan writes it (JSON has no tuple keys).
#[derive(Serialize, Deserialize)]
struct SavedFingerprint {
    schema: String,
    validation_mode: ValidationMode,
    settings: String,
    items: Vec<SavedItem>,
}

#[derive(Serialize, Deserialize)]
struct SavedItem {
    kind: FingerprintKind,
    id: String,
    name: Option<String>,
    hash: String,
}

impl From<Fingerprint> for SavedFingerprint {
    fn from(print: Fingerprint) -> SavedFingerprint {
        SavedFingerprint {
            schema: print.schema,
            validation_mode: print.validation_mode,
            settings: print.settings,
            items: print
                .items
                .into_iter()
                .map(|((kind, id), (name, hash))| SavedItem {
                    kind,
                    id,
                    name,
                    hash,
                })
                .collect(),
        }
    }
}

impl From<SavedFingerprint> for Fingerprint {
    fn from(saved: SavedFingerprint) -> Fingerprint {
        Fingerprint {
            schema: saved.schema,
            validation_mode: saved.validation_mode,
            settings: saved.settings,
            items: saved
                .items
                .into_iter()
                .map(|item| ((item.kind, item.id), (item.name, item.hash)))
                .collect(),
        }
    }
}

/// What a deploy itself may have changed since the store was last read:
/// those changes are not someone else's.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub schema: bool,
    /// The validation mode, deletion protection and description.
    pub settings: bool,
    /// Store ids of policies and templates this deploy created, changed or
    /// deleted (a deleted template takes its links with it).
    pub ids: BTreeSet<String>,
}

/// SHA-256 of a value's JSON form, in hex: the same on every machine and
/// release, which a saved plan needs.
pub fn content_hash(value: &impl Serialize) -> String {
    use sha2::Digest;
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = sha2::Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl StoreState {
    pub fn fingerprint(&self) -> Fingerprint {
        let mut items = BTreeMap::new();
        for policy in &self.policies {
            items.insert(
                (FingerprintKind::Policy, policy.id.clone()),
                (
                    policy.name.clone(),
                    content_hash(&(&policy.description, &policy.definition)),
                ),
            );
        }
        for template in &self.templates {
            items.insert(
                (FingerprintKind::Template, template.id.clone()),
                (
                    template.name.clone(),
                    content_hash(&(&template.description, &template.statement)),
                ),
            );
        }
        if let Some(identity) = &self.identity_source {
            items.insert(
                (FingerprintKind::IdentitySource, identity.id.clone()),
                (None, content_hash(&identity.source.to_json())),
            );
        }
        Fingerprint {
            schema: content_hash(&self.schema),
            validation_mode: self.validation_mode,
            settings: content_hash(&(self.deletion_protection, &self.description)),
            items,
        }
    }
}

impl Fingerprint {
    /// What changed from `self` to `now` that `expected` does not account
    /// for, one line per item, for the user to read.
    pub fn unexpected_changes(&self, now: &Fingerprint, expected: &Expected) -> Vec<String> {
        let mut changes = Vec::new();
        if self.schema != now.schema && !expected.schema {
            changes.push("the schema changed".to_string());
        }
        if self.validation_mode != now.validation_mode && !expected.settings {
            changes.push(format!(
                "the validation mode changed from {} to {}",
                self.validation_mode.as_str(),
                now.validation_mode.as_str()
            ));
        }
        if self.settings != now.settings && !expected.settings {
            changes.push("the store's deletion protection or description changed".to_string());
        }
        let describe = |(kind, id): &(FingerprintKind, String), name: &Option<String>| match name {
            Some(name) => format!("{} {id} ({name})", kind.as_str()),
            None => format!("{} {id} (unnamed)", kind.as_str()),
        };
        let keys: BTreeSet<&(FingerprintKind, String)> =
            self.items.keys().chain(now.items.keys()).collect();
        for key in keys {
            if expected.ids.contains(&key.1) {
                continue;
            }
            match (self.items.get(key), now.items.get(key)) {
                (None, Some((name, _))) => {
                    changes.push(format!("{} was added", describe(key, name)))
                }
                (Some((name, _)), None) => {
                    changes.push(format!("{} was deleted", describe(key, name)))
                }
                (Some(before), Some(after)) if before != after => {
                    changes.push(format!("{} was changed", describe(key, &after.0)))
                }
                _ => {}
            }
        }
        changes
    }
}

/// Where a link's template comes from when a step creates the link: a
/// template already in the store, or one an earlier step of the same
/// deploy creates (known then only by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TemplateRef {
    StoreId(String),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum NewDefinition {
    Static {
        statement: String,
    },
    Linked {
        template: TemplateRef,
        principal: Option<String>,
        resource: Option<String>,
    },
}

/// One call to the store. Each maps to one AVP API operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Operation {
    PutSchema {
        schema: Value,
    },
    CreateTemplate {
        name: String,
        description: Option<String>,
        statement: String,
    },
    /// The name moves with `name` when it is given (an adoption).
    UpdateTemplate {
        id: String,
        name: Option<String>,
        description: Option<String>,
        statement: String,
    },
    DeleteTemplate {
        id: String,
    },
    CreatePolicy {
        name: String,
        description: Option<String>,
        definition: NewDefinition,
    },
    /// Only static policies can be updated (AVP's rule); the name moves
    /// with `name` when it is given.
    UpdatePolicy {
        id: String,
        name: Option<String>,
        description: Option<String>,
        statement: String,
    },
    DeletePolicy {
        id: String,
    },
    CreateIdentitySource {
        source: crate::identity::IdentitySource,
    },
    /// AVP updates a source in place only within its kind (Cognito or
    /// OIDC); a change of kind is a delete and a create.
    UpdateIdentitySource {
        id: String,
        source: crate::identity::IdentitySource,
    },
    DeleteIdentitySource {
        id: String,
    },
    /// AVP's UpdatePolicyStore, with every setting as it should end up.
    UpdateStoreSettings {
        validation_mode: ValidationMode,
        deletion_protection: Option<bool>,
        description: Option<String>,
    },
}

impl Operation {
    pub fn verb(&self) -> &'static str {
        match self {
            Operation::PutSchema { .. } => "PutSchema",
            Operation::CreateTemplate { .. } => "CreatePolicyTemplate",
            Operation::UpdateTemplate { .. } => "UpdatePolicyTemplate",
            Operation::DeleteTemplate { .. } => "DeletePolicyTemplate",
            Operation::CreatePolicy { .. } => "CreatePolicy",
            Operation::UpdatePolicy { .. } => "UpdatePolicy",
            Operation::DeletePolicy { .. } => "DeletePolicy",
            Operation::CreateIdentitySource { .. } => "CreateIdentitySource",
            Operation::UpdateIdentitySource { .. } => "UpdateIdentitySource",
            Operation::DeleteIdentitySource { .. } => "DeleteIdentitySource",
            Operation::UpdateStoreSettings { .. } => "UpdatePolicyStore",
        }
    }

    /// What the call is about, for logs: a name or a store id.
    pub fn target(&self) -> &str {
        match self {
            Operation::PutSchema { .. } => "schema",
            Operation::UpdateStoreSettings { .. } => "store settings",
            Operation::CreateIdentitySource { .. } => "identity source",
            Operation::CreateTemplate { name, .. } | Operation::CreatePolicy { name, .. } => name,
            Operation::UpdatePolicy {
                name: Some(name), ..
            } => name,
            Operation::UpdateTemplate { id, .. }
            | Operation::DeleteTemplate { id }
            | Operation::UpdatePolicy { id, .. }
            | Operation::DeletePolicy { id }
            | Operation::UpdateIdentitySource { id, .. }
            | Operation::DeleteIdentitySource { id } => id,
        }
    }
}

/// One authorization request sent to a store (`avpctl test --store`), in
/// Cedar's explicit JSON forms (no schema needed to read them).
#[derive(Debug, Clone)]
pub struct AuthzRequest {
    pub principal: cedar_policy::EntityUid,
    pub action: cedar_policy::EntityUid,
    pub resource: cedar_policy::EntityUid,
    pub context: Value,
    /// Entity JSON, without action entities (the store's schema has them).
    pub entities: Vec<Value>,
}

/// The store's answer, with policies by the store's own ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzAnswer {
    pub decision: cedar_policy::Decision,
    pub determining: Vec<String>,
    pub errors: Vec<String>,
}

/// What went wrong in a store; the message names the policy involved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Locked(String),
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    #[error("refused: {0}")]
    Refused(String),
    /// Someone else wrote to the store while a deploy ran.
    #[error("{0}")]
    Changed(String),
    /// The store itself does not exist (any more).
    #[error("{0}")]
    Vanished(String),
}

/// A policy store. `apply` performs one operation and returns the id of
/// what it created, if anything.
pub trait Store: Send {
    /// The address as the user should read it (`local:…`, `avp:…`).
    fn describe(&self) -> String;

    /// What names this store whatever address reached it (a saved plan
    /// keeps it): a local store's absolute, canonical path.
    fn identity(&self) -> String {
        self.describe()
    }

    fn read(&mut self) -> Result<StoreState, StoreError>;

    fn apply(&mut self, operation: &Operation) -> Result<Option<String>, StoreError>;

    /// Applies operations that may run in any order (one wave of a plan).
    /// Stores that can, run them concurrently; results come back in order.
    fn apply_all(&mut self, operations: &[Operation]) -> Vec<Result<Option<String>, StoreError>> {
        let mut results = Vec::with_capacity(operations.len());
        for operation in operations {
            let result = self.apply(operation);
            let failed = result.is_err();
            results.push(result);
            if failed {
                break;
            }
        }
        results
    }

    /// Takes the store for a deploy: no other deploy may change it until
    /// [`Store::finish`].
    fn lock(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Called once the deploy is over, applied or not (releases locks).
    fn finish(&mut self) {}

    /// Answers authorization requests with the policies in the store.
    fn authorize(&mut self, requests: &[AuthzRequest]) -> Result<Vec<AuthzAnswer>, StoreError> {
        let _ = requests;
        Err(StoreError::Refused(format!(
            "{} cannot answer authorization requests",
            self.describe()
        )))
    }

    /// Store calls made so far, by operation name (for reports and the
    /// "proportional to the change" benchmarks).
    fn calls(&self) -> std::collections::BTreeMap<String, usize> {
        std::collections::BTreeMap::new()
    }
}
