//! An AVP store's identity source through the SDK: read with
//! `ListIdentitySources`, written with `Create`/`Update`/`DeleteIdentitySource`
//! at most once a second per store (the default quota of each, userguide
//! `quotas.html`), and the conversions between the SDK's types and the
//! project's document.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_verifiedpermissions as vp;
use vp::types;

use super::avp::map_error;
use super::{StoreError, StoredIdentitySource};
use crate::identity::IdentitySource;
use crate::identity::source::{
    AccessTokenOnly, Cognito, CognitoGroups, Configuration, IdentityTokenOnly, Oidc, OidcGroups,
    TokenSelection,
};

/// AVP's default rate for identity-source writes, per store.
const WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// The last identity-source write to each store by this process.
static LAST_WRITE: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);

/// Waits until a write to `store_id`'s identity source keeps to the rate.
async fn keep_rate(store_id: &str) {
    let wait = match LAST_WRITE.lock() {
        Ok(mut last) => reserve(
            last.get_or_insert_with(HashMap::new),
            store_id,
            Instant::now(),
        ),
        Err(_) => return,
    };
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// Books the next write slot of `store_id` at `now` or later, at least
/// [`WRITE_INTERVAL`] after the one before; returns how long to wait.
fn reserve(slots: &mut HashMap<String, Instant>, store_id: &str, now: Instant) -> Duration {
    let next = slots
        .get(store_id)
        .map_or(now, |at| (*at + WRITE_INTERVAL).max(now));
    slots.insert(store_id.to_string(), next);
    next - now
}

pub async fn read(
    client: &vp::Client,
    store_id: &str,
) -> Result<Option<StoredIdentitySource>, StoreError> {
    let mut found = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .list_identity_sources()
            .policy_store_id(store_id)
            .max_results(50)
            .set_next_token(next.clone())
            .send()
            .await
            .map_err(|e| map_error(&format!("identity sources of {store_id}"), e))?;
        found.extend(page.identity_sources().iter().cloned());
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    if found.len() > 1 {
        return Err(StoreError::Refused(format!(
            "policy store {store_id} has {} identity sources; AVP allows one per store (userguide quotas.html)",
            found.len()
        )));
    }
    let Some(item) = found.pop() else {
        return Ok(None);
    };
    let configuration = item.configuration().ok_or_else(|| {
        StoreError::Corrupt(format!(
            "identity source {} of {store_id} has no configuration",
            item.identity_source_id()
        ))
    })?;
    let configuration = from_item(configuration).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "identity source {} of {store_id} has a configuration avpctl does not know",
            item.identity_source_id()
        ))
    })?;
    Ok(Some(StoredIdentitySource {
        id: item.identity_source_id().to_string(),
        source: IdentitySource::from_parts(item.principal_entity_type(), configuration)
            .normalized(),
    }))
}

pub async fn create(
    client: &vp::Client,
    store_id: &str,
    source: &IdentitySource,
) -> Result<String, StoreError> {
    keep_rate(store_id).await;
    let out = client
        .create_identity_source()
        .policy_store_id(store_id)
        .configuration(to_configuration(source)?)
        .set_principal_entity_type(source.principal_entity_type.clone())
        .send()
        .await
        .map_err(|e| map_error("identity source", e))?;
    Ok(out.identity_source_id().to_string())
}

pub async fn update(
    client: &vp::Client,
    store_id: &str,
    id: &str,
    source: &IdentitySource,
) -> Result<(), StoreError> {
    keep_rate(store_id).await;
    client
        .update_identity_source()
        .policy_store_id(store_id)
        .identity_source_id(id)
        .update_configuration(to_update(source)?)
        .set_principal_entity_type(source.principal_entity_type.clone())
        .send()
        .await
        .map_err(|e| map_error(&format!("identity source {id}"), e))?;
    Ok(())
}

pub async fn delete(client: &vp::Client, store_id: &str, id: &str) -> Result<(), StoreError> {
    keep_rate(store_id).await;
    client
        .delete_identity_source()
        .policy_store_id(store_id)
        .identity_source_id(id)
        .send()
        .await
        .map_err(|e| map_error(&format!("identity source {id}"), e))?;
    Ok(())
}

fn built<T>(result: Result<T, vp::error::BuildError>) -> Result<T, StoreError> {
    result.map_err(|err| StoreError::Refused(format!("identity source: {err}")))
}

/// `CreateIdentitySource` and `UpdateIdentitySource` take two families of
/// SDK types of the same shape (`Configuration`, `UpdateConfiguration`, …):
/// one conversion, written once for both.
macro_rules! sdk_configuration {
    ($name:ident, $config:ident, $cognito:ident, $cognito_groups:ident, $oidc:ident,
     $oidc_groups:ident, $selection:ident, $access:ident, $identity:ident) => {
        fn $name(source: &IdentitySource) -> Result<types::$config, StoreError> {
            Ok(match &source.configuration {
                Configuration::CognitoUserPoolConfiguration(c) => {
                    let groups = match &c.group_configuration {
                        Some(g) => Some(built(
                            types::$cognito_groups::builder()
                                .group_entity_type(&g.group_entity_type)
                                .build(),
                        )?),
                        None => None,
                    };
                    types::$config::CognitoUserPoolConfiguration(built(
                        types::$cognito::builder()
                            .user_pool_arn(&c.user_pool_arn)
                            .set_client_ids(Some(c.client_ids.clone()))
                            .set_group_configuration(groups)
                            .build(),
                    )?)
                }
                Configuration::OpenIdConnectConfiguration(o) => {
                    let groups = match &o.group_configuration {
                        Some(g) => Some(built(
                            types::$oidc_groups::builder()
                                .group_claim(&g.group_claim)
                                .group_entity_type(&g.group_entity_type)
                                .build(),
                        )?),
                        None => None,
                    };
                    let selection = match &o.token_selection {
                        TokenSelection::AccessTokenOnly(a) => types::$selection::AccessTokenOnly(
                            types::$access::builder()
                                .set_principal_id_claim(a.principal_id_claim.clone())
                                .set_audiences(a.audiences.clone())
                                .build(),
                        ),
                        TokenSelection::IdentityTokenOnly(i) => {
                            types::$selection::IdentityTokenOnly(
                                types::$identity::builder()
                                    .set_principal_id_claim(i.principal_id_claim.clone())
                                    .set_client_ids(Some(i.client_ids.clone()))
                                    .build(),
                            )
                        }
                    };
                    types::$config::OpenIdConnectConfiguration(built(
                        types::$oidc::builder()
                            .issuer(&o.issuer)
                            .set_entity_id_prefix(o.entity_id_prefix.clone())
                            .set_group_configuration(groups)
                            .token_selection(selection)
                            .build(),
                    )?)
                }
            })
        }
    };
}

sdk_configuration!(
    to_configuration,
    Configuration,
    CognitoUserPoolConfiguration,
    CognitoGroupConfiguration,
    OpenIdConnectConfiguration,
    OpenIdConnectGroupConfiguration,
    OpenIdConnectTokenSelection,
    OpenIdConnectAccessTokenConfiguration,
    OpenIdConnectIdentityTokenConfiguration
);

sdk_configuration!(
    to_update,
    UpdateConfiguration,
    UpdateCognitoUserPoolConfiguration,
    UpdateCognitoGroupConfiguration,
    UpdateOpenIdConnectConfiguration,
    UpdateOpenIdConnectGroupConfiguration,
    UpdateOpenIdConnectTokenSelection,
    UpdateOpenIdConnectAccessTokenConfiguration,
    UpdateOpenIdConnectIdentityTokenConfiguration
);

/// A listed configuration in the project's shape; `None` for a kind this
/// SDK does not know.
fn from_item(item: &types::ConfigurationItem) -> Option<Configuration> {
    let text = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    Some(match item {
        types::ConfigurationItem::CognitoUserPoolConfiguration(c) => {
            Configuration::CognitoUserPoolConfiguration(Cognito {
                user_pool_arn: c.user_pool_arn().to_string(),
                client_ids: c.client_ids().to_vec(),
                group_configuration: c
                    .group_configuration()
                    .and_then(|g| g.group_entity_type())
                    .map(|t| CognitoGroups {
                        group_entity_type: t.to_string(),
                    }),
                issuer: None,
            })
        }
        types::ConfigurationItem::OpenIdConnectConfiguration(o) => {
            let token_selection = match o.token_selection()? {
                types::OpenIdConnectTokenSelectionItem::AccessTokenOnly(a) => {
                    TokenSelection::AccessTokenOnly(AccessTokenOnly {
                        principal_id_claim: text(a.principal_id_claim()),
                        audiences: Some(a.audiences().to_vec()),
                    })
                }
                types::OpenIdConnectTokenSelectionItem::IdentityTokenOnly(i) => {
                    TokenSelection::IdentityTokenOnly(IdentityTokenOnly {
                        principal_id_claim: text(i.principal_id_claim()),
                        client_ids: i.client_ids().to_vec(),
                    })
                }
                _ => return None,
            };
            Configuration::OpenIdConnectConfiguration(Oidc {
                issuer: o.issuer().to_string(),
                entity_id_prefix: o.entity_id_prefix().map(str::to_string),
                group_configuration: o.group_configuration().map(|g| OidcGroups {
                    group_claim: g.group_claim().to_string(),
                    group_entity_type: g.group_entity_type().to_string(),
                }),
                token_selection,
            })
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_to_one_store_are_a_second_apart_and_other_stores_do_not_wait() {
        let mut slots = HashMap::new();
        let start = Instant::now();
        assert_eq!(reserve(&mut slots, "PS1", start), Duration::ZERO);
        // Three writes at once: the second waits a second, the third two.
        assert_eq!(reserve(&mut slots, "PS1", start), WRITE_INTERVAL);
        assert_eq!(reserve(&mut slots, "PS1", start), 2 * WRITE_INTERVAL);
        assert_eq!(reserve(&mut slots, "PS2", start), Duration::ZERO);
        // Long after the last slot, no wait.
        let later = start + 10 * WRITE_INTERVAL;
        assert_eq!(reserve(&mut slots, "PS1", later), Duration::ZERO);
    }
}
