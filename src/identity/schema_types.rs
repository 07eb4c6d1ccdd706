//! What the schema declares for the types an identity source fills in: the
//! principal's parents and attributes, and each action's context. Cedar's
//! public API does not expose attribute types, so they are read from the
//! schema's JSON form, which Cedar itself produces from either syntax.

use std::collections::{BTreeMap, HashMap};

/// A declared type, with common types expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrType {
    String,
    Long,
    Bool,
    Set(Box<AttrType>),
    Record(BTreeMap<String, AttrType>),
    /// An entity reference or an extension type: claims are passed as they
    /// are and Cedar judges them.
    Other,
}

#[derive(Debug, Clone, Default)]
pub struct EntityDecl {
    /// Fully qualified names of the types it may be a member of.
    pub member_of: Vec<String>,
    pub shape: Option<AttrType>,
}

#[derive(Debug, Clone, Default)]
pub struct SchemaTypes {
    entities: HashMap<String, EntityDecl>,
    /// Keyed by the action's UID text (`NS::Action::"view"`).
    contexts: HashMap<String, AttrType>,
}

/// Common types expand at most this deep (Cedar refuses cycles; this only
/// bounds the walk).
const MAX_EXPANSION: usize = 32;

impl SchemaTypes {
    /// From a schema's text, in Cedar's JSON form or its own syntax.
    pub fn of(text: &str, json_form: bool) -> Option<SchemaTypes> {
        let json = if json_form {
            crate::strict_json::from_str(text).ok()?
        } else {
            let (fragment, _) = cedar_policy::SchemaFragment::from_cedarschema_str(text).ok()?;
            fragment.to_json_value().ok()?
        };
        Some(SchemaTypes::from_json(&json))
    }

    pub fn from_json(json: &serde_json::Value) -> SchemaTypes {
        let mut types = SchemaTypes::default();
        let Some(namespaces) = json.as_object() else {
            return types;
        };
        let reader = Reader { namespaces: json };
        for (namespace, body) in namespaces {
            let qualify = |name: &str| qualified(namespace, name);
            let entity_types = body.get("entityTypes").and_then(|e| e.as_object());
            for (name, decl) in entity_types.into_iter().flatten() {
                let member_of = decl
                    .get("memberOfTypes")
                    .and_then(|m| m.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str())
                    .map(qualify)
                    .collect();
                let shape = decl
                    .get("shape")
                    .map(|shape| reader.resolve(namespace, shape, 0));
                types
                    .entities
                    .insert(qualify(name), EntityDecl { member_of, shape });
            }
            let actions = body.get("actions").and_then(|a| a.as_object());
            for (name, decl) in actions.into_iter().flatten() {
                let context = decl.get("appliesTo").and_then(|a| a.get("context"));
                if let Some(context) = context {
                    let action = format!("{}::\"{}\"", qualify("Action"), escape(name));
                    types
                        .contexts
                        .insert(action, reader.resolve(namespace, context, 0));
                }
            }
        }
        types
    }

    pub fn entity(&self, name: &str) -> Option<&EntityDecl> {
        self.entities.get(name)
    }

    /// The declared context of `action`; `None` when it declares none.
    pub fn context(&self, action: &str) -> Option<&AttrType> {
        self.contexts.get(action)
    }
}

struct Reader<'a> {
    namespaces: &'a serde_json::Value,
}

impl Reader<'_> {
    fn resolve(&self, namespace: &str, ty: &serde_json::Value, depth: usize) -> AttrType {
        if depth > MAX_EXPANSION {
            return AttrType::Other;
        }
        let kind = ty.get("type").and_then(|t| t.as_str()).unwrap_or_default();
        let name = ty.get("name").and_then(|n| n.as_str());
        match (kind, name) {
            ("String", _) => AttrType::String,
            ("Long", _) => AttrType::Long,
            ("Boolean" | "Bool", _) => AttrType::Bool,
            ("Set", _) => match ty.get("element") {
                Some(element) => {
                    AttrType::Set(Box::new(self.resolve(namespace, element, depth + 1)))
                }
                None => AttrType::Other,
            },
            ("Record", _) => {
                let attributes = ty.get("attributes").and_then(|a| a.as_object());
                AttrType::Record(
                    attributes
                        .into_iter()
                        .flatten()
                        .map(|(key, value)| {
                            (key.clone(), self.resolve(namespace, value, depth + 1))
                        })
                        .collect(),
                )
            }
            ("Entity" | "Extension", _) => AttrType::Other,
            ("EntityOrCommon", Some(name)) => self.common(namespace, name, depth),
            (other, _) => self.common(namespace, other, depth),
        }
    }

    /// A name that may be a common type: the namespace's own, then the
    /// empty namespace's, then a qualified one (Cedar's lookup order).
    fn common(&self, namespace: &str, name: &str, depth: usize) -> AttrType {
        match name {
            "String" | "__cedar::String" => return AttrType::String,
            "Long" | "__cedar::Long" => return AttrType::Long,
            "Bool" | "Boolean" | "__cedar::Bool" => return AttrType::Bool,
            _ => {}
        }
        let (owner, local) = match name.rsplit_once("::") {
            Some((owner, local)) => (vec![owner], local),
            None => (vec![namespace, ""], name),
        };
        for owner in owner {
            let found = self
                .namespaces
                .get(owner)
                .and_then(|ns| ns.get("commonTypes"))
                .and_then(|c| c.get(local));
            if let Some(found) = found {
                return self.resolve(owner, found, depth + 1);
            }
        }
        AttrType::Other
    }
}

fn qualified(namespace: &str, name: &str) -> String {
    if namespace.is_empty() || name.contains("::") {
        name.to_string()
    } else {
        format!("{namespace}::{name}")
    }
}

fn escape(name: &str) -> String {
    name.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_types_expand_in_shapes_and_contexts() {
        let (fragment, _) = cedar_policy::SchemaFragment::from_cedarschema_str(
            r#"namespace App {
                type Token = { scope: Set<String>, "client_id": String };
                entity Group;
                entity User in [Group] { "cognito:username"?: String, level: Long, ok: Bool };
                entity Doc;
                action view appliesTo { principal: User, resource: Doc, context: { token: Token } };
            }"#,
        )
        .unwrap();
        let types = SchemaTypes::from_json(&fragment.to_json_value().unwrap());
        let user = types.entity("App::User").unwrap();
        assert_eq!(user.member_of, vec!["App::Group".to_string()]);
        let Some(AttrType::Record(attrs)) = &user.shape else {
            panic!("{:?}", user.shape)
        };
        assert_eq!(attrs["cognito:username"], AttrType::String);
        assert_eq!(attrs["level"], AttrType::Long);
        assert_eq!(attrs["ok"], AttrType::Bool);
        let Some(AttrType::Record(context)) = types.context(r#"App::Action::"view""#) else {
            panic!("no context")
        };
        let AttrType::Record(token) = &context["token"] else {
            panic!("{context:?}")
        };
        assert_eq!(token["scope"], AttrType::Set(Box::new(AttrType::String)));
    }
}
