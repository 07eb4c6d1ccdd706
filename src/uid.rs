//! Entity UIDs as users write them in YAML: a Cedar literal
//! (`'DocApp::User::"alice"'`), `{type, id}`, or AVP's `{entityType, entityId}`
//! and `{actionType, actionId}`.

use std::str::FromStr;

use cedar_policy::{EntityId, EntityTypeName, EntityUid};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(untagged)]
pub enum UidSpec {
    Literal(String),
    Typed(TypedUid),
    Avp(AvpEntityUid),
    AvpAction(AvpActionUid),
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct TypedUid {
    #[serde(rename = "type")]
    pub type_name: String,
    pub id: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AvpEntityUid {
    pub entity_type: String,
    pub entity_id: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AvpActionUid {
    pub action_type: String,
    pub action_id: String,
}

impl UidSpec {
    /// The UID, or a message saying why it is not one.
    pub fn resolve(&self) -> Result<EntityUid, String> {
        match self {
            UidSpec::Literal(text) => EntityUid::from_str(text).map_err(|err| {
                let hint = if text.contains("::\"") {
                    ""
                } else {
                    " (write it as Type::\"id\", e.g. 'App::User::\"alice\"')"
                };
                format!("`{text}` is not an entity UID: {err}{hint}")
            }),
            UidSpec::Typed(TypedUid { type_name, id })
            | UidSpec::Avp(AvpEntityUid {
                entity_type: type_name,
                entity_id: id,
            })
            | UidSpec::AvpAction(AvpActionUid {
                action_type: type_name,
                action_id: id,
            }) => from_parts(type_name, id),
        }
    }
}

pub fn from_parts(type_name: &str, id: &str) -> Result<EntityUid, String> {
    let type_name = EntityTypeName::from_str(type_name)
        .map_err(|err| format!("`{type_name}` is not an entity type name: {err}"))?;
    Ok(EntityUid::from_type_name_and_id(
        type_name,
        EntityId::new(id),
    ))
}

/// Whether a UID names an action (`Action::"x"`, `App::Action::"x"`):
/// stores and schemas supply those, requests must not.
pub fn is_action(uid: &EntityUid) -> bool {
    let type_name = uid.type_name().to_string();
    type_name == "Action" || type_name.ends_with("::Action")
}

/// A link's slot values as Cedar takes them; values that are not UIDs are
/// left out (the link then fails where it is made, with Cedar's message).
pub fn slot_values(
    principal: &Option<String>,
    resource: &Option<String>,
) -> std::collections::HashMap<cedar_policy::SlotId, EntityUid> {
    [
        (cedar_policy::SlotId::principal(), principal),
        (cedar_policy::SlotId::resource(), resource),
    ]
    .into_iter()
    .filter_map(|(slot, value)| {
        value
            .as_deref()
            .and_then(|v| EntityUid::from_str(v).ok())
            .map(|uid| (slot, uid))
    })
    .collect()
}

/// A UID literal in Cedar's own spelling, so equal UIDs compare equal
/// however they were written; text that is no UID is kept as it is.
pub fn normalized(value: &Option<String>) -> Option<String> {
    value.as_deref().map(|text| {
        EntityUid::from_str(text)
            .map(|uid| uid.to_string())
            .unwrap_or_else(|_| text.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_three_forms_name_the_same_uid() {
        let literal = UidSpec::Literal(r#"App::User::"alice""#.into()).resolve();
        let typed = UidSpec::Typed(TypedUid {
            type_name: "App::User".into(),
            id: "alice".into(),
        })
        .resolve();
        let avp = UidSpec::Avp(AvpEntityUid {
            entity_type: "App::User".into(),
            entity_id: "alice".into(),
        })
        .resolve();
        assert_eq!(literal, typed);
        assert_eq!(typed, avp);
    }

    #[test]
    fn a_bare_name_is_refused_with_the_expected_shape() {
        let err = UidSpec::Literal("alice".into()).resolve().unwrap_err();
        assert!(
            err.contains("Type::\\\"id\\\"") || err.contains("Type::\"id\""),
            "{err}"
        );
    }
}
