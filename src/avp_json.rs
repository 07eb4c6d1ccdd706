//! AVP's JSON shapes for entities, context and authorization requests, and
//! their translation to and from Cedar's own JSON forms.
//!
//! AVP wraps every value in a one-key object naming its type
//! (`{"string": "x"}`, `{"entityIdentifier": {...}}`); Cedar's JSON writes
//! plain values with `__entity`/`__extn` escapes. Requests an application
//! logged for AVP can thus be replayed locally, and local test cases sent to
//! AVP.

use serde_json::{Map, Value, json};

/// Converts one AVP `AttributeValue` to Cedar's JSON value form.
pub fn attribute_to_cedar(value: &Value) -> Result<Value, String> {
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| format!("an AVP attribute value is an object with one type key, e.g. {{\"string\": \"x\"}}; found {value}"))?;
    let (kind, inner) = object.iter().next().expect("one key");
    let extension = |function: &str| -> Result<Value, String> {
        let arg = inner
            .as_str()
            .ok_or_else(|| format!("`{kind}` takes a string, found {inner}"))?;
        Ok(json!({"__extn": {"fn": function, "arg": arg}}))
    };
    match kind.as_str() {
        "boolean" | "long" | "string" => Ok(inner.clone()),
        "set" => inner
            .as_array()
            .ok_or_else(|| format!("`set` takes a list, found {inner}"))?
            .iter()
            .map(attribute_to_cedar)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        "record" => record_to_cedar(inner).map(Value::Object),
        "entityIdentifier" => {
            let (type_name, id) = identifier(inner, "entityType", "entityId")?;
            Ok(json!({"__entity": {"type": type_name, "id": id}}))
        }
        "ipaddr" => extension("ip"),
        "decimal" => extension("decimal"),
        "datetime" => extension("datetime"),
        "duration" => extension("duration"),
        other => Err(format!(
            "unknown AVP attribute type `{other}` (expected boolean, long, string, set, record, entityIdentifier, ipaddr, decimal, datetime or duration)"
        )),
    }
}

/// Converts an AVP record (`{"name": AttributeValue, ...}`) to a Cedar record.
pub fn record_to_cedar(record: &Value) -> Result<Map<String, Value>, String> {
    record
        .as_object()
        .ok_or_else(|| format!("expected an object of attributes, found {record}"))?
        .iter()
        .map(|(key, value)| {
            attribute_to_cedar(value)
                .map(|v| (key.clone(), v))
                .map_err(|err| format!("attribute `{key}`: {err}"))
        })
        .collect()
}

/// `{"entityType": T, "entityId": I}` (or the action form) → `(T, I)`.
pub fn identifier<'a>(
    value: &'a Value,
    type_key: &str,
    id_key: &str,
) -> Result<(&'a str, &'a str), String> {
    let type_name = value.get(type_key).and_then(Value::as_str);
    let id = value.get(id_key).and_then(Value::as_str);
    match (type_name, id) {
        (Some(t), Some(i)) => Ok((t, i)),
        _ => Err(format!(
            "expected {{\"{type_key}\": ..., \"{id_key}\": ...}}, found {value}"
        )),
    }
}

/// One entity of AVP's `entityList` → Cedar's entity JSON.
pub fn entity_to_cedar(entity: &Value) -> Result<Value, String> {
    let identifier_value = entity
        .get("identifier")
        .ok_or_else(|| "an AVP entity needs an `identifier`".to_string())?;
    let (type_name, id) = identifier(identifier_value, "entityType", "entityId")?;
    let attrs = match entity.get("attributes") {
        Some(attributes) => record_to_cedar(attributes)?,
        None => Map::new(),
    };
    let parents = entity
        .get("parents")
        .and_then(Value::as_array)
        .map(|parents| {
            parents
                .iter()
                .map(|p| {
                    identifier(p, "entityType", "entityId")
                        .map(|(t, i)| json!({"type": t, "id": i}))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let mut cedar =
        json!({"uid": {"type": type_name, "id": id}, "attrs": attrs, "parents": parents});
    if let Some(tags) = entity.get("tags") {
        cedar["tags"] = Value::Object(record_to_cedar(tags)?);
    }
    Ok(cedar)
}

/// An entities document in any accepted shape → Cedar's entity JSON list:
/// Cedar's own list, AVP's `{"entityList": [...]}`, or AVP's
/// `{"cedarJson": "<Cedar entity JSON as a string>"}`.
pub fn entities_to_cedar(document: Value) -> Result<Vec<Value>, String> {
    match document {
        Value::Array(list) => Ok(list),
        Value::Object(object) => {
            if let Some(list) = object.get("entityList") {
                let list = list
                    .as_array()
                    .ok_or_else(|| "`entityList` must be a list".to_string())?;
                return list
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        entity_to_cedar(e).map_err(|err| format!("entityList[{i}]: {err}"))
                    })
                    .collect();
            }
            if let Some(text) = object.get("cedarJson").and_then(Value::as_str) {
                let inner: Value = crate::strict_json::from_str(text)
                    .map_err(|err| format!("`cedarJson` is not JSON: {err}"))?;
                return entities_to_cedar(inner);
            }
            // A whole IsAuthorized / BatchIsAuthorized input: its entities.
            if object.contains_key("entities") {
                let mut object = object;
                return entities_to_cedar(object.remove("entities").unwrap_or_default());
            }
            if ["principal", "requests", "policyStoreId"]
                .iter()
                .any(|k| object.contains_key(*k))
            {
                return Ok(Vec::new());
            }
            Err(
                "expected a list of Cedar entities, or an object with `entityList` or `cedarJson`"
                    .into(),
            )
        }
        _ => Err(
            "expected a list of Cedar entities, or an object with `entityList` or `cedarJson`"
                .into(),
        ),
    }
}

/// AVP's context (`{"contextMap": {...}}` or `{"cedarJson": "..."}`) →
/// Cedar's context JSON.
pub fn context_to_cedar(context: &Value) -> Result<Value, String> {
    if let Some(map) = context.get("contextMap") {
        return record_to_cedar(map).map(Value::Object);
    }
    if let Some(text) = context.get("cedarJson").and_then(Value::as_str) {
        return crate::strict_json::from_str(text)
            .map_err(|err| format!("`cedarJson` is not JSON: {err}"));
    }
    if context.as_object().is_some_and(Map::is_empty) {
        return Ok(json!({}));
    }
    Err(format!(
        "expected {{\"contextMap\": ...}} or {{\"cedarJson\": ...}}, found {context}"
    ))
}

/// Cedar's JSON value → AVP `AttributeValue` (for sending local cases to AVP).
pub fn cedar_to_attribute(value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::Bool(b) => json!({"boolean": b}),
        Value::Number(n) => json!({"long": n}),
        Value::String(s) => json!({"string": s}),
        Value::Array(items) => {
            json!({"set": items.iter().map(cedar_to_attribute).collect::<Result<Vec<_>, _>>()?})
        }
        Value::Object(object) => {
            if let Some(entity) = object.get("__entity") {
                json!({"entityIdentifier": {"entityType": entity["type"], "entityId": entity["id"]}})
            } else if let Some(extension) = object.get("__extn") {
                let function = extension["fn"].as_str().unwrap_or_default();
                let kind = match function {
                    "ip" => "ipaddr",
                    "decimal" | "datetime" | "duration" => function,
                    other => return Err(format!("extension `{other}` has no AVP attribute form")),
                };
                json!({kind: extension["arg"]})
            } else if object.len() == 2
                && object.contains_key("type")
                && object.contains_key("id")
                && object.values().all(Value::is_string)
            {
                // Cedar's JSON allows a bare {type, id} where the schema says entity.
                json!({"entityIdentifier": {"entityType": object["type"], "entityId": object["id"]}})
            } else {
                let record: Map<String, Value> = object
                    .iter()
                    .map(|(k, v)| cedar_to_attribute(v).map(|a| (k.clone(), a)))
                    .collect::<Result<_, _>>()?;
                json!({"record": record})
            }
        }
        Value::Null => return Err("null has no AVP attribute form".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attribute_kind_converts() {
        let avp = json!({
            "dept": {"string": "finance"},
            "level": {"long": 3},
            "active": {"boolean": true},
            "teams": {"set": [{"entityIdentifier": {"entityType": "App::Team", "entityId": "a"}}]},
            "home": {"ipaddr": "10.0.0.1"},
            "score": {"decimal": "1.5"},
            "since": {"datetime": "2024-01-01"},
            "ttl": {"duration": "1h"},
            "nested": {"record": {"x": {"long": 1}}}
        });
        let cedar = record_to_cedar(&avp).unwrap();
        assert_eq!(cedar["dept"], json!("finance"));
        assert_eq!(
            cedar["teams"],
            json!([{"__entity": {"type": "App::Team", "id": "a"}}])
        );
        assert_eq!(
            cedar["home"],
            json!({"__extn": {"fn": "ip", "arg": "10.0.0.1"}})
        );
        assert_eq!(cedar["nested"], json!({"x": 1}));
        // And back again.
        for (key, value) in &cedar {
            assert_eq!(&cedar_to_attribute(value).unwrap(), &avp[key], "{key}");
        }
    }

    #[test]
    fn an_avp_entity_list_becomes_cedar_entities() {
        let avp = json!({"entityList": [{
            "identifier": {"entityType": "App::User", "entityId": "alice"},
            "attributes": {"dept": {"string": "x"}},
            "parents": [{"entityType": "App::Team", "entityId": "t"}]
        }]});
        let cedar = entities_to_cedar(avp).unwrap();
        assert_eq!(
            cedar,
            vec![
                json!({"uid": {"type": "App::User", "id": "alice"}, "attrs": {"dept": "x"}, "parents": [{"type": "App::Team", "id": "t"}]})
            ]
        );
    }

    #[test]
    fn an_unknown_attribute_type_is_named() {
        let err = attribute_to_cedar(&json!({"text": "x"})).unwrap_err();
        assert!(err.contains("unknown AVP attribute type `text`"));
    }
}
