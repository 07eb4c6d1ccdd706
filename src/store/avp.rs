//! The Amazon Verified Permissions store, through the AWS SDK.
//!
//! Reading costs ⌈policies/50⌉ `ListPolicies` + ⌈statics/100⌉
//! `BatchGetPolicy` + ⌈templates/50⌉ `ListPolicyTemplates` + one
//! `GetPolicyTemplate` per template (at most 40) + `GetPolicyStore` and
//! `GetSchema`. Writing is one call per operation, with a client token, at
//! most `concurrency` at a time within a wave, retried with backoff on
//! throttling and server errors by the SDK. Credentials come from the
//! standard AWS chain and never appear in any output.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_verifiedpermissions as vp;
use aws_sdk_verifiedpermissions::error::SdkError;
use tokio::runtime::Runtime;
use vp::types;

use super::{
    Definition, NewDefinition, Operation, Store, StoreError, StoreState, StoredPolicy,
    StoredTemplate, TemplateRef, ValidationMode,
};

/// How to reach a store; unset values come from the AWS configuration.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub store_id: String,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub concurrency: usize,
}

pub struct AvpStore {
    connection: Connection,
    client: vp::Client,
    runtime: Arc<Runtime>,
    calls: Arc<std::sync::Mutex<BTreeMap<String, usize>>>,
}

static TOKEN: AtomicU64 = AtomicU64::new(0);

/// An idempotency token: one per logical operation (the SDK resends the
/// same one when it retries), so a retried create cannot create twice.
fn client_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "avpctl-{}-{nanos:x}-{}",
        std::process::id(),
        TOKEN.fetch_add(1, Ordering::Relaxed)
    )
}

impl AvpStore {
    pub fn connect(connection: Connection) -> Result<AvpStore, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|err| {
                StoreError::Unreachable(format!("cannot start the AWS client runtime: {err}"))
            })?;
        let config = runtime.block_on(load_config(&connection));
        check_region(config.region().map(|r| r.as_ref()))?;
        runtime.block_on(check_credentials(&config))?;
        Ok(AvpStore {
            client: vp::Client::new(&config),
            connection,
            runtime: Arc::new(runtime),
            calls: Arc::default(),
        })
    }

    /// Counts a call and runs it, logged (see [`logged`]).
    async fn timed<T, E: std::fmt::Display>(
        &self,
        operation: &str,
        target: &str,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.tally(operation, 1);
        logged(&self.connection.store_id, operation, target, call).await
    }

    fn tally(&self, operation: &str, n: usize) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(operation.to_string()).or_default() += n;
        }
    }

    pub fn client(&self) -> &vp::Client {
        &self.client
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn store_id(&self) -> &str {
        &self.connection.store_id
    }

    async fn read_async(&self) -> Result<StoreState, StoreError> {
        let id = &self.connection.store_id;
        let store = self
            .timed(
                "GetPolicyStore",
                id,
                self.client.get_policy_store().policy_store_id(id).send(),
            )
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    vanished(id)
                } else {
                    map_error(&format!("policy store {id}"), e)
                }
            })?;
        if matches!(store.cedar_version(), Some(types::CedarVersion::Cedar2)) {
            return Err(StoreError::Refused(format!(
                "policy store {id} runs Cedar 2 (avp-cedar-version); avpctl deploys Cedar 4 policies: upgrade the account's stores to Cedar 4 first"
            )));
        }
        let validation_mode = match store.validation_settings().map(|s| s.mode()) {
            Some(types::ValidationMode::Off) => ValidationMode::Off,
            _ => ValidationMode::Strict,
        };
        let deletion_protection = store
            .deletion_protection()
            .map(|protection| matches!(protection, types::DeletionProtection::Enabled));
        let description = store
            .description()
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let schema = match self
            .timed(
                "GetSchema",
                id,
                self.client.get_schema().policy_store_id(id).send(),
            )
            .await
        {
            Ok(out) if out.schema().trim().is_empty() || out.schema().trim() == "{}" => None,
            Ok(out) => Some(serde_json::from_str(out.schema()).map_err(|err| {
                StoreError::Corrupt(format!("the schema of {id} is not JSON: {err}"))
            })?),
            Err(err) if is_not_found(&err) => None,
            Err(err) => return Err(map_error(&format!("schema of {id}"), err)),
        };
        let templates = self.read_templates().await?;
        let policies = self.read_policies().await?;
        let identity_source = self
            .timed(
                "ListIdentitySources",
                id,
                super::avp_identity::read(&self.client, id),
            )
            .await?;
        Ok(StoreState {
            schema,
            validation_mode,
            policies,
            templates,
            identity_source,
            deletion_protection,
            description,
        })
    }

    async fn read_templates(&self) -> Result<Vec<StoredTemplate>, StoreError> {
        let id = &self.connection.store_id;
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .timed(
                    "ListPolicyTemplates",
                    id,
                    self.client
                        .list_policy_templates()
                        .policy_store_id(id)
                        .max_results(50)
                        .set_next_token(next.clone())
                        .send(),
                )
                .await
                .map_err(|e| map_error(&format!("templates of {id}"), e))?;
            items.extend(page.policy_templates().iter().cloned());
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        let mut templates = Vec::with_capacity(items.len());
        for item in items {
            let template = self
                .timed(
                    "GetPolicyTemplate",
                    item.policy_template_id(),
                    self.client
                        .get_policy_template()
                        .policy_store_id(id)
                        .policy_template_id(item.policy_template_id())
                        .send(),
                )
                .await
                .map_err(|e| map_error(&format!("template {}", item.policy_template_id()), e))?;
            templates.push(StoredTemplate {
                id: item.policy_template_id().to_string(),
                name: template.name().or(item.name()).map(str::to_string),
                description: template.description().map(str::to_string),
                statement: template.statement().to_string(),
            });
        }
        Ok(templates)
    }

    async fn read_policies(&self) -> Result<Vec<StoredPolicy>, StoreError> {
        let id = &self.connection.store_id;
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .timed(
                    "ListPolicies",
                    id,
                    self.client
                        .list_policies()
                        .policy_store_id(id)
                        .max_results(50)
                        .set_next_token(next.clone())
                        .send(),
                )
                .await
                .map_err(|e| map_error(&format!("policies of {id}"), e))?;
            items.extend(page.policies().iter().cloned());
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        // Linked policies are complete in the listing; statements of static
        // policies come from BatchGetPolicy, a hundred at a time.
        let statics: Vec<&types::PolicyItem> = items
            .iter()
            .filter(|p| matches!(p.definition(), Some(types::PolicyDefinitionItem::Static(_))))
            .collect();
        let mut statements: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        for chunk in statics.chunks(100) {
            let requests = chunk
                .iter()
                .map(|p| {
                    types::BatchGetPolicyInputItem::builder()
                        .policy_store_id(id)
                        .policy_id(p.policy_id())
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| StoreError::Refused(err.to_string()))?;
            let out = self
                .timed(
                    "BatchGetPolicy",
                    id,
                    self.client
                        .batch_get_policy()
                        .set_requests(Some(requests))
                        .send(),
                )
                .await
                .map_err(|e| map_error(&format!("policies of {id}"), e))?;
            if let Some(error) = out.errors().first() {
                return Err(StoreError::NotFound(format!(
                    "policy {}: {}",
                    crate::text::one_line(error.policy_id()),
                    crate::text::clipped(error.message(), MAX_SERVER_TEXT)
                )));
            }
            for result in out.results() {
                if let Some(types::PolicyDefinitionDetail::Static(detail)) = result.definition() {
                    statements.insert(
                        result.policy_id().to_string(),
                        (
                            detail.statement().to_string(),
                            detail.description().map(str::to_string),
                        ),
                    );
                }
            }
        }
        let mut policies = Vec::with_capacity(items.len());
        for item in &items {
            let (definition, description) = match item.definition() {
                Some(types::PolicyDefinitionItem::TemplateLinked(linked)) => (
                    Definition::TemplateLinked {
                        policy_template_id: linked.policy_template_id().to_string(),
                        principal: linked.principal().map(uid_literal),
                        resource: linked.resource().map(uid_literal),
                    },
                    None,
                ),
                _ => {
                    let Some((statement, description)) = statements.get(item.policy_id()) else {
                        return Err(StoreError::NotFound(format!(
                            "the statement of policy {}",
                            item.policy_id()
                        )));
                    };
                    (
                        Definition::Static {
                            statement: statement.clone(),
                        },
                        description.clone(),
                    )
                }
            };
            policies.push(StoredPolicy {
                id: item.policy_id().to_string(),
                name: item.name().map(str::to_string),
                description,
                definition,
            });
        }
        Ok(policies)
    }
}

/// Runs one call, and with `--verbose` logs it: operation, target, result
/// and time (never a credential: the SDK's request is not shown).
async fn logged<T, E: std::fmt::Display>(
    store_id: &str,
    operation: &str,
    target: &str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let result = call.await;
    crate::output::verbose(|| {
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err(err) => format!("failed: {}", crate::text::clipped(&err.to_string(), 200)),
        };
        format!(
            "avp {store_id}: {operation} {} → {outcome} ({:.0} ms)",
            crate::text::one_line(target),
            started.elapsed().as_secs_f64() * 1000.0
        )
    });
    result
}

/// A region the SDK can build an endpoint from. CI systems give an unset
/// secret as an empty `AWS_REGION`, which the SDK reports only as "endpoint
/// params could not be built".
fn check_region(region: Option<&str>) -> Result<(), StoreError> {
    let fix = "pass --region, set AWS_REGION (e.g. us-east-1), or set `region` for the store in avpctl.toml";
    match region {
        None => Err(StoreError::Unreachable(format!("no AWS region: {fix}"))),
        Some("") => Err(StoreError::Unreachable(format!(
            "the AWS region is empty (AWS_REGION is set to nothing, as CI does for a secret that is not set): {fix}"
        ))),
        Some(region)
            if !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') =>
        {
            Err(StoreError::Unreachable(format!(
                "`{}` is not an AWS region: {fix}",
                crate::text::clipped(region, 40)
            )))
        }
        Some(_) => Ok(()),
    }
}

/// Credentials are resolved once before the first call, so that their
/// absence is said as such (the SDK reports it as a dispatch failure,
/// "other"). The error names the chain, never a value.
async fn check_credentials(config: &aws_config::SdkConfig) -> Result<(), StoreError> {
    use aws_sdk_verifiedpermissions::config::ProvideCredentials;
    let Some(provider) = config.credentials_provider() else {
        return Err(no_credentials("no credentials provider is configured"));
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(err) => Err(no_credentials(&crate::text::clipped(
            &error_chain(&err),
            300,
        ))),
    }
}

fn no_credentials(detail: &str) -> StoreError {
    StoreError::Unreachable(format!(
        "no AWS credentials ({detail}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE or --profile), SSO, or a web-identity role (in GitHub Actions, aws-actions/configure-aws-credentials); docs/avp.md#addressing-and-credentials"
    ))
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

async fn load_config(connection: &Connection) -> aws_config::SdkConfig {
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(6)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(8));
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(30))
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(region) = &connection.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(profile) = &connection.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &connection.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// `App::User::"alice"` from AVP's `{entityType, entityId}`.
pub fn uid_literal(identifier: &types::EntityIdentifier) -> String {
    crate::uid::from_parts(identifier.entity_type(), identifier.entity_id())
        .map(|uid| uid.to_string())
        .unwrap_or_else(|_| format!("{}::{:?}", identifier.entity_type(), identifier.entity_id()))
}

/// AVP's `{entityType, entityId}` from a UID literal.
pub fn identifier(literal: &str) -> Result<types::EntityIdentifier, StoreError> {
    let uid = cedar_policy::EntityUid::from_str(literal)
        .map_err(|err| StoreError::Refused(format!("`{literal}` is not an entity UID: {err}")))?;
    types::EntityIdentifier::builder()
        .entity_type(uid.type_name().to_string())
        .entity_id(uid.id().unescaped())
        .build()
        .map_err(|err| StoreError::Refused(err.to_string()))
}

fn is_not_found<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_verifiedpermissions::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some("ResourceNotFoundException")
}

/// An SDK error as a [`StoreError`] naming what it was about.
pub fn map_error<E, R>(what: &str, err: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_verifiedpermissions::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::DispatchFailure(failure) => {
            let detail = match failure.as_connector_error() {
                Some(connector) if connector.is_io() => format!(
                    "cannot connect ({}); check --endpoint-url or AWS_ENDPOINT_URL, the region, and the network",
                    crate::text::clipped(&error_chain(connector), 200)
                ),
                Some(connector) if connector.is_timeout() => {
                    "the connection timed out; check the endpoint and the network".to_string()
                }
                Some(connector) => crate::text::clipped(&error_chain(connector), 300),
                None => "the request could not be sent".to_string(),
            };
            return StoreError::Unreachable(format!(
                "{what}: cannot reach Verified Permissions: {detail}"
            ));
        }
        SdkError::TimeoutError(_) => {
            return StoreError::Unreachable(format!(
                "{what}: Verified Permissions did not answer in time"
            ));
        }
        SdkError::ResponseError(_) => {
            return StoreError::Unreachable(format!(
                "{what}: Verified Permissions sent a response avpctl cannot read"
            ));
        }
        _ => {}
    }
    let (code, message) = match err.as_service_error() {
        Some(service) => (
            crate::text::clipped(service.code().unwrap_or("Unknown"), 80),
            // The server's words, bounded and escaped: an endpoint may be
            // anything, and its answer is not ours to print verbatim.
            crate::text::clipped(service.message().unwrap_or(""), MAX_SERVER_TEXT),
        ),
        None => (
            "Unknown".to_string(),
            crate::text::clipped(&aws_smithy_error_text(&err), MAX_SERVER_TEXT),
        ),
    };
    let text = if message.is_empty() {
        format!("{what}: {code}")
    } else {
        format!("{what}: {message} ({code})")
    };
    match code.as_str() {
        "AccessDeniedException" => StoreError::AccessDenied(format!(
            "{text}; check the IAM permissions of the credentials in use"
        )),
        "ResourceNotFoundException" => StoreError::NotFound(text),
        "ConflictException" => StoreError::Conflict(text),
        "ServiceQuotaExceededException" => StoreError::QuotaExceeded(format!(
            "{text}; see docs/avp-preflight.md for AVP's quotas"
        )),
        "ValidationException" => StoreError::Refused(text),
        "ThrottlingException" | "InternalServerException" => {
            StoreError::Unreachable(format!("{text}, still after retries"))
        }
        _ => StoreError::Unreachable(text),
    }
}

/// The most of a server's own error text a report shows.
const MAX_SERVER_TEXT: usize = 300;

fn aws_smithy_error_text<E: std::error::Error + 'static, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The error for a policy store that does not exist (any more).
fn vanished(store_id: &str) -> StoreError {
    StoreError::Vanished(format!(
        "policy store {store_id} does not exist (it was deleted, or the id is wrong); nothing more was written to it"
    ))
}

/// Runs one operation. "Not found" is ambiguous: the policy or template
/// (a delete of something already gone has reached its goal), or the store
/// itself (a failure: nothing can be deployed). One `GetPolicyStore` call,
/// made only after a not-found answer, tells them apart.
async fn perform(
    client: vp::Client,
    store_id: String,
    operation: Operation,
    calls: Arc<std::sync::Mutex<BTreeMap<String, usize>>>,
) -> Result<Option<String>, StoreError> {
    let result = perform_call(&client, store_id.clone(), operation).await;
    let not_found = matches!(
        &result,
        Err(StoreError::NotFound(_)) | Ok(Outcome::AlreadyGone)
    );
    if not_found {
        if let Ok(mut calls) = calls.lock() {
            *calls.entry("GetPolicyStore".to_string()).or_default() += 1;
        }
        crate::output::verbose(|| {
            format!("avp {store_id}: GetPolicyStore (after a not-found answer)")
        });
        if let Err(err) = client
            .get_policy_store()
            .policy_store_id(&store_id)
            .send()
            .await
            && is_not_found(&err)
        {
            return Err(vanished(&store_id));
        }
    }
    result.map(|outcome| match outcome {
        Outcome::Done(created) => created,
        Outcome::AlreadyGone => None,
    })
}

/// What one call did.
enum Outcome {
    Done(Option<String>),
    /// A delete found nothing to delete.
    AlreadyGone,
}

async fn perform_call(
    client: &vp::Client,
    store_id: String,
    operation: Operation,
) -> Result<Outcome, StoreError> {
    match operation {
        Operation::UpdateStoreSettings {
            validation_mode,
            deletion_protection,
            description,
        } => {
            let mode = match validation_mode {
                ValidationMode::Strict => types::ValidationMode::Strict,
                ValidationMode::Off => types::ValidationMode::Off,
            };
            let settings = types::ValidationSettings::builder()
                .mode(mode)
                .build()
                .map_err(|e| StoreError::Refused(e.to_string()))?;
            client
                .update_policy_store()
                .policy_store_id(&store_id)
                .validation_settings(settings)
                .set_deletion_protection(deletion_protection.map(|on| {
                    if on {
                        types::DeletionProtection::Enabled
                    } else {
                        types::DeletionProtection::Disabled
                    }
                }))
                .set_description(description)
                .send()
                .await
                .map_err(|e| map_error("policy store settings", e))?;
            Ok(Outcome::Done(None))
        }
        Operation::PutSchema { schema } => {
            client
                .put_schema()
                .policy_store_id(&store_id)
                .definition(types::SchemaDefinition::CedarJson(schema.to_string()))
                .send()
                .await
                .map_err(|e| map_error("schema", e))?;
            Ok(Outcome::Done(None))
        }
        Operation::CreateTemplate {
            name,
            description,
            statement,
        } => {
            let out = client
                .create_policy_template()
                .policy_store_id(&store_id)
                .name(&name)
                .set_description(description)
                .statement(statement)
                .client_token(client_token())
                .send()
                .await
                .map_err(|e| map_error(&format!("template {name}"), e))?;
            Ok(Outcome::Done(Some(out.policy_template_id().to_string())))
        }
        Operation::UpdateTemplate {
            id,
            name,
            description,
            statement,
        } => {
            client
                .update_policy_template()
                .policy_store_id(&store_id)
                .policy_template_id(&id)
                .set_description(description)
                .statement(statement)
                .set_name(name)
                .send()
                .await
                .map_err(|e| map_error(&format!("template {id}"), e))?;
            Ok(Outcome::Done(None))
        }
        Operation::DeleteTemplate { id } => match client
            .delete_policy_template()
            .policy_store_id(&store_id)
            .policy_template_id(&id)
            .send()
            .await
        {
            Ok(_) => Ok(Outcome::Done(None)),
            // Already gone: the goal is reached (if the store still exists).
            Err(err) if is_not_found(&err) => Ok(Outcome::AlreadyGone),
            Err(err) => Err(map_error(&format!("template {id}"), err)),
        },
        Operation::CreatePolicy {
            name,
            description,
            definition,
        } => {
            let definition = match definition {
                NewDefinition::Static { statement } => types::PolicyDefinition::Static(
                    types::StaticPolicyDefinition::builder()
                        .statement(statement)
                        .set_description(description)
                        .build()
                        .map_err(|e| StoreError::Refused(e.to_string()))?,
                ),
                NewDefinition::Linked {
                    template,
                    principal,
                    resource,
                } => {
                    let template = match template {
                        TemplateRef::StoreId(id) | TemplateRef::Name(id) => id,
                    };
                    types::PolicyDefinition::TemplateLinked(
                        types::TemplateLinkedPolicyDefinition::builder()
                            .policy_template_id(template)
                            .set_principal(principal.as_deref().map(identifier).transpose()?)
                            .set_resource(resource.as_deref().map(identifier).transpose()?)
                            .build()
                            .map_err(|e| StoreError::Refused(e.to_string()))?,
                    )
                }
            };
            let out = client
                .create_policy()
                .policy_store_id(&store_id)
                .name(&name)
                .definition(definition)
                .client_token(client_token())
                .send()
                .await
                .map_err(|e| map_error(&format!("policy {name}"), e))?;
            Ok(Outcome::Done(Some(out.policy_id().to_string())))
        }
        Operation::UpdatePolicy {
            id,
            name,
            description,
            statement,
        } => {
            let definition = types::UpdatePolicyDefinition::Static(
                types::UpdateStaticPolicyDefinition::builder()
                    .statement(statement)
                    .set_description(description)
                    .build()
                    .map_err(|e| StoreError::Refused(e.to_string()))?,
            );
            client
                .update_policy()
                .policy_store_id(&store_id)
                .policy_id(&id)
                .definition(definition)
                .set_name(name)
                .send()
                .await
                .map_err(|e| map_error(&format!("policy {id}"), e))?;
            Ok(Outcome::Done(None))
        }
        Operation::DeletePolicy { id } => match client
            .delete_policy()
            .policy_store_id(&store_id)
            .policy_id(&id)
            .send()
            .await
        {
            Ok(_) => Ok(Outcome::Done(None)),
            // AVP answers 200 for a missing policy; some emulators 404.
            Err(err) if is_not_found(&err) => Ok(Outcome::AlreadyGone),
            Err(err) => Err(map_error(&format!("policy {id}"), err)),
        },
        Operation::CreateIdentitySource { source } => {
            super::avp_identity::create(client, &store_id, &source)
                .await
                .map(|id| Outcome::Done(Some(id)))
        }
        Operation::UpdateIdentitySource { id, source } => {
            super::avp_identity::update(client, &store_id, &id, &source).await?;
            Ok(Outcome::Done(None))
        }
        Operation::DeleteIdentitySource { id } => {
            super::avp_identity::delete(client, &store_id, &id).await?;
            Ok(Outcome::Done(None))
        }
    }
}

impl Store for AvpStore {
    fn describe(&self) -> String {
        format!("avp:{}", self.connection.store_id)
    }

    fn read(&mut self) -> Result<StoreState, StoreError> {
        self.runtime.block_on(self.read_async())
    }

    fn apply(&mut self, operation: &Operation) -> Result<Option<String>, StoreError> {
        self.apply_all(std::slice::from_ref(operation))
            .pop()
            .unwrap_or(Ok(None))
    }

    /// Up to `concurrency` calls at once; every call of the wave is made
    /// (they are independent), and each result is returned in order.
    fn apply_all(&mut self, operations: &[Operation]) -> Vec<Result<Option<String>, StoreError>> {
        for operation in operations {
            self.tally(operation.verb(), 1);
        }
        let limit = Arc::new(tokio::sync::Semaphore::new(
            self.connection.concurrency.max(1),
        ));
        let client = self.client.clone();
        let store_id = self.connection.store_id.clone();
        let calls = self.calls.clone();
        self.runtime.block_on(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for (index, operation) in operations.iter().cloned().enumerate() {
                let (client, store_id, limit, calls) = (
                    client.clone(),
                    store_id.clone(),
                    limit.clone(),
                    calls.clone(),
                );
                tasks.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    let (verb, target) = (operation.verb(), operation.target().to_string());
                    let call = perform(client, store_id.clone(), operation, calls);
                    (index, logged(&store_id, verb, &target, call).await)
                });
            }
            let mut results: Vec<Option<Result<Option<String>, StoreError>>> =
                vec![None; operations.len()];
            while let Some(joined) = tasks.join_next().await {
                if let Ok((index, result)) = joined {
                    results[index] = Some(result);
                }
            }
            results
                .into_iter()
                .map(|r| {
                    r.unwrap_or_else(|| {
                        Err(StoreError::Unreachable("the call did not complete".into()))
                    })
                })
                .collect()
        })
    }

    fn calls(&self) -> BTreeMap<String, usize> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// `BatchIsAuthorized`, 30 requests a call, each batch sharing its
    /// principal (or, for what is left, its resource) as AVP requires.
    fn authorize(
        &mut self,
        requests: &[super::AuthzRequest],
    ) -> Result<Vec<super::AuthzAnswer>, StoreError> {
        let mut answers: Vec<Option<super::AuthzAnswer>> = vec![None; requests.len()];
        for batch in batches(requests) {
            let items = batch
                .iter()
                .map(|&i| request_item(&requests[i]))
                .collect::<Result<Vec<_>, _>>()?;
            let entities = batch_entities(batch.iter().map(|&i| &requests[i]))?;
            let store_id = self.connection.store_id.clone();
            let call = self
                .client
                .batch_is_authorized()
                .policy_store_id(&store_id)
                .set_requests(Some(items))
                .entities(types::EntitiesDefinition::EntityList(entities))
                .send();
            let out = self
                .runtime
                .block_on(self.timed("BatchIsAuthorized", &store_id, call))
                .map_err(|e| map_error("BatchIsAuthorized", e))?;
            if out.results().len() != batch.len() {
                return Err(StoreError::Refused(format!(
                    "BatchIsAuthorized answered {} of {} requests",
                    out.results().len(),
                    batch.len()
                )));
            }
            for (&index, result) in batch.iter().zip(out.results()) {
                answers[index] = Some(super::AuthzAnswer {
                    decision: if matches!(result.decision(), types::Decision::Allow) {
                        cedar_policy::Decision::Allow
                    } else {
                        cedar_policy::Decision::Deny
                    },
                    determining: result
                        .determining_policies()
                        .iter()
                        .map(|p| p.policy_id().to_string())
                        .collect(),
                    errors: result
                        .errors()
                        .iter()
                        .map(|e| e.error_description().to_string())
                        .collect(),
                });
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| a.expect("every request is in a batch"))
            .collect())
    }
}

/// AVP's batch size.
const BATCH: usize = 30;

/// Indices grouped into batches that share a principal, then (for the rest)
/// a resource; a request with neither in common goes alone.
fn batches(requests: &[super::AuthzRequest]) -> Vec<Vec<usize>> {
    let mut by_principal: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, request) in requests.iter().enumerate() {
        by_principal
            .entry(request.principal.to_string())
            .or_default()
            .push(i);
    }
    let mut batches = Vec::new();
    let mut alone = Vec::new();
    for group in by_principal.into_values() {
        if group.len() == 1 {
            alone.extend(group);
        } else {
            batches.extend(consistent_batches(&group, requests));
        }
    }
    let mut by_resource: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in alone {
        by_resource
            .entry(requests[i].resource.to_string())
            .or_default()
            .push(i);
    }
    for group in by_resource.into_values() {
        batches.extend(consistent_batches(&group, requests));
    }
    batches
}

/// A call carries one entity list for all its requests, so requests go
/// together only when their entity data agree on every entity they share:
/// otherwise a case would be judged on another case's data (the same
/// document in Finance for one case and in HR for the next). Greedy, in
/// order: each request joins the first batch it agrees with.
fn consistent_batches(group: &[usize], requests: &[super::AuthzRequest]) -> Vec<Vec<usize>> {
    struct Open<'a> {
        members: Vec<usize>,
        entities: std::collections::HashMap<String, &'a serde_json::Value>,
    }
    let mut open: Vec<Open> = Vec::new();
    for &index in group {
        let own: Vec<(String, &serde_json::Value)> = requests[index]
            .entities
            .iter()
            .map(|e| (e["uid"].to_string(), e))
            .collect();
        let fits = |batch: &Open| {
            batch.members.len() < BATCH
                && own
                    .iter()
                    .all(|(uid, entity)| batch.entities.get(uid).is_none_or(|held| held == entity))
        };
        let target = match open.iter().position(fits) {
            Some(found) => found,
            None => {
                open.push(Open {
                    members: Vec::new(),
                    entities: std::collections::HashMap::new(),
                });
                open.len() - 1
            }
        };
        open[target].members.push(index);
        open[target].entities.extend(own);
    }
    open.into_iter().map(|batch| batch.members).collect()
}

fn request_item(
    request: &super::AuthzRequest,
) -> Result<types::BatchIsAuthorizedInputItem, StoreError> {
    let action = types::ActionIdentifier::builder()
        .action_type(request.action.type_name().to_string())
        .action_id(request.action.id().unescaped())
        .build()
        .map_err(|e| StoreError::Refused(e.to_string()))?;
    let context = request
        .context
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| attribute(v).map(|a| (k.clone(), a)))
                .collect::<Result<std::collections::HashMap<_, _>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(types::BatchIsAuthorizedInputItem::builder()
        .principal(identifier(&request.principal.to_string())?)
        .action(action)
        .resource(identifier(&request.resource.to_string())?)
        .context(types::ContextDefinition::ContextMap(context))
        .build())
}

/// The entities of a batch, each once, in AVP's `entityList` form.
fn batch_entities<'a>(
    requests: impl Iterator<Item = &'a super::AuthzRequest>,
) -> Result<Vec<types::EntityItem>, StoreError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut items = Vec::new();
    for entity in requests.flat_map(|r| r.entities.iter()) {
        let uid = &entity["uid"];
        let key = uid.to_string();
        if !seen.insert(key) {
            continue;
        }
        let literal = crate::uid::from_parts(
            uid["type"].as_str().unwrap_or_default(),
            uid["id"].as_str().unwrap_or_default(),
        )
        .map_err(StoreError::Refused)?
        .to_string();
        let attributes = entity["attrs"]
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(k, v)| attribute(v).map(|a| (k.clone(), a)))
                    .collect::<Result<std::collections::HashMap<_, _>, _>>()
            })
            .transpose()?;
        let parents = entity["parents"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|p| {
                        let p = p.get("__entity").unwrap_or(p);
                        crate::uid::from_parts(
                            p["type"].as_str().unwrap_or_default(),
                            p["id"].as_str().unwrap_or_default(),
                        )
                        .map_err(StoreError::Refused)
                        .and_then(|uid| identifier(&uid.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        items.push(
            types::EntityItem::builder()
                .identifier(identifier(&literal)?)
                .set_attributes(attributes)
                .set_parents(parents)
                .build(),
        );
    }
    Ok(items)
}

/// Cedar's explicit JSON value → AVP's `AttributeValue`.
/// A Cedar JSON value as the SDK's `AttributeValue`: avp_json decides the
/// AVP form (the one Cedar → AVP converter), this only builds the SDK type.
fn attribute(value: &serde_json::Value) -> Result<types::AttributeValue, StoreError> {
    let avp = crate::avp_json::cedar_to_attribute(value).map_err(StoreError::Refused)?;
    sdk_attribute(&avp)
}

/// AVP's `AttributeValue` JSON (`{"long": 3}`, `{"set": [...]}`, …) as the
/// SDK type.
fn sdk_attribute(avp: &serde_json::Value) -> Result<types::AttributeValue, StoreError> {
    use types::AttributeValue as A;
    let refused = |what: String| StoreError::Refused(what);
    let Some((kind, value)) = avp.as_object().and_then(|o| o.iter().next()) else {
        return Err(refused(format!("{avp} is not an AVP attribute value")));
    };
    let text = || value.as_str().unwrap_or_default().to_string();
    Ok(match kind.as_str() {
        "boolean" => A::Boolean(value.as_bool().unwrap_or_default()),
        "long" => A::Long(
            value
                .as_i64()
                .ok_or_else(|| refused(format!("{value} is not a Cedar Long")))?,
        ),
        "string" => A::String(text()),
        "ipaddr" => A::Ipaddr(text()),
        "decimal" => A::Decimal(text()),
        "datetime" => A::Datetime(text()),
        "duration" => A::Duration(text()),
        "set" => A::Set(
            value
                .as_array()
                .map(|items| items.iter().map(sdk_attribute).collect::<Result<_, _>>())
                .transpose()?
                .unwrap_or_default(),
        ),
        "record" => A::Record(
            value
                .as_object()
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| sdk_attribute(v).map(|a| (k.clone(), a)))
                        .collect::<Result<_, _>>()
                })
                .transpose()?
                .unwrap_or_default(),
        ),
        "entityIdentifier" => {
            let literal = crate::uid::from_parts(
                value["entityType"].as_str().unwrap_or_default(),
                value["entityId"].as_str().unwrap_or_default(),
            )
            .map_err(refused)?;
            A::EntityIdentifier(identifier(&literal.to_string())?)
        }
        other => return Err(refused(format!("`{other}` is not an AVP attribute kind"))),
    })
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use serde_json::Value;

    fn request(
        principal: &str,
        resource: &str,
        entities: Vec<Value>,
    ) -> crate::store::AuthzRequest {
        crate::store::AuthzRequest {
            principal: format!("App::User::{principal:?}").parse().unwrap(),
            action: r#"App::Action::"view""#.parse().unwrap(),
            resource: format!("App::Doc::{resource:?}").parse().unwrap(),
            context: serde_json::json!({}),
            entities,
        }
    }

    fn doc(id: &str, department: &str) -> Value {
        serde_json::json!({"uid": {"type": "App::Doc", "id": id}, "attrs": {"dept": department}, "parents": []})
    }

    /// What the store sees for each request of a batch is exactly the
    /// request's own entity data: batched replay equals one call per case.
    fn each_request_sees_its_own_data(requests: &[crate::store::AuthzRequest]) {
        let batches = batches(requests);
        let mut covered: Vec<usize> = batches.iter().flatten().copied().collect();
        covered.sort_unstable();
        assert_eq!(covered, (0..requests.len()).collect::<Vec<_>>());
        for batch in &batches {
            assert!(batch.len() <= BATCH);
            let first = &requests[batch[0]];
            assert!(
                batch
                    .iter()
                    .all(|&i| requests[i].principal == first.principal)
                    || batch
                        .iter()
                        .all(|&i| requests[i].resource == first.resource)
            );
            let mut sent: std::collections::HashMap<String, &Value> =
                std::collections::HashMap::new();
            for &i in batch {
                for entity in &requests[i].entities {
                    sent.entry(entity["uid"].to_string()).or_insert(entity);
                }
            }
            for &i in batch {
                for entity in &requests[i].entities {
                    assert_eq!(
                        sent[&entity["uid"].to_string()],
                        entity,
                        "request {i} would see another case's data"
                    );
                }
            }
        }
    }

    #[test]
    fn cases_with_different_data_for_one_entity_are_not_batched_together() {
        let requests = vec![
            request("alice", "x", vec![doc("x", "Finance")]),
            request("alice", "x", vec![doc("x", "HR")]),
            request("alice", "y", vec![doc("y", "HR"), doc("x", "Finance")]),
        ];
        let batches = batches(&requests);
        assert_eq!(batches, vec![vec![0, 2], vec![1]]);
        each_request_sees_its_own_data(&requests);
    }

    #[test]
    fn random_per_case_entity_data_never_mixes() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..200 {
            let count = 1 + next(80) as usize;
            let requests: Vec<_> = (0..count)
                .map(|_| {
                    let principal = format!("u{}", next(3));
                    let resource = format!("d{}", next(4));
                    let entities = (0..next(4))
                        .map(|_| {
                            doc(
                                &format!("d{}", next(4)),
                                ["Finance", "HR"][next(2) as usize],
                            )
                        })
                        .fold(Vec::<Value>::new(), |mut list, entity| {
                            // One entity per id within a case, as a case's data has.
                            if !list.iter().any(|e| e["uid"] == entity["uid"]) {
                                list.push(entity);
                            }
                            list
                        });
                    request(&principal, &resource, entities)
                })
                .collect();
            each_request_sees_its_own_data(&requests);
        }
    }
}
