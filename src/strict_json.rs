//! JSON as avpctl reads it from a project: like `serde_json`, except that
//! a key given twice in one object is an error. `serde_json::Value` keeps
//! the last one silently, so `{"id": "alice", "id": "admin"}` would test
//! something other than what a reviewer reads (YAML refuses it too).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses `text`; errors carry serde_json's line and column.
pub fn from_str(text: &str) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = StrictValue.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key `{}` appears twice in one object",
                    crate::text::one_line(&key)
                )));
            }
            let value = map.next_value_seed(StrictValue)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_an_error_with_its_position() {
        let err =
            from_str("[{\"uid\": {\"type\": \"U\", \"id\": \"alice\"},\n \"id\": 1, \"id\": 2}]")
                .unwrap_err();
        assert!(
            err.to_string().contains("the key `id` appears twice"),
            "{err}"
        );
        assert_eq!(err.line(), 2);
    }

    #[test]
    fn everything_else_reads_as_serde_json_does() {
        let text =
            r#"{"a": [1, -2, 3.5, true, null, "x"], "b": {"c": {}}, "big": 18446744073709551615}"#;
        assert_eq!(
            from_str(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert!(from_str("{} trailing").is_err());
        // serde_json's recursion limit still applies.
        assert!(from_str(&format!("{}{}", "[".repeat(200), "]".repeat(200))).is_err());
    }
}

/// Where the values of a JSON text are, down to a few levels: enough to
/// point at one entity of a file, from the file's structure (never by
/// searching its text for an id). Call it on text [`from_str`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub span: std::ops::Range<usize>,
    pub children: Children,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Children {
    /// A scalar, or a value below the depth that was mapped.
    None,
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    /// The value under `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.children {
            Children::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, n)| n),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.children {
            Children::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Maps `text` to [`Node`]s down to `depth` levels (0: only the top value).
pub fn spans(text: &str, depth: usize) -> Option<Node> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        at: 0,
    };
    scanner.value(depth)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn skip_space(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// One value; below `depth` levels its inside is skipped, not mapped.
    fn value(&mut self, depth: usize) -> Option<Node> {
        self.skip_space();
        let start = self.at;
        let children = match self.peek()? {
            b'[' if depth > 0 => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek()? == b']' {
                        self.at += 1;
                        break;
                    }
                    items.push(self.value(depth - 1)?);
                    self.skip_space();
                    if self.peek()? == b',' {
                        self.at += 1;
                    }
                }
                Children::Array(items)
            }
            b'{' if depth > 0 => {
                self.at += 1;
                let mut members = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek()? == b'}' {
                        self.at += 1;
                        break;
                    }
                    let key_start = self.at;
                    self.skip_string()?;
                    let key: String =
                        serde_json::from_slice(&self.bytes[key_start..self.at]).ok()?;
                    self.skip_space();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.at += 1;
                    members.push((key, self.value(depth - 1)?));
                    self.skip_space();
                    if self.peek()? == b',' {
                        self.at += 1;
                    }
                }
                Children::Object(members)
            }
            _ => {
                self.skip_value()?;
                Children::None
            }
        };
        Some(Node {
            span: start..self.at,
            children,
        })
    }

    fn skip_string(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.at += 1;
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                b'\\' => self.at += 1,
                b'"' => return Some(()),
                _ => {}
            }
        }
        None
    }

    /// Skips a whole value, nested or not, without mapping it.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'[' | b'{' => {
                let mut open = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'[' | b'{' => open += 1,
                        b']' | b'}' => {
                            open -= 1;
                            if open == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                // A number, `true`, `false` or `null`.
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b']' | b'}') || c.is_ascii_whitespace() {
                        break;
                    }
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod span_tests {
    use super::*;

    #[test]
    fn items_and_members_are_mapped_where_they_are_written() {
        let text =
            "{\"entityList\": [\n  {\"a\": [1, {\"deep\": \"x\"}]},\n  {\"b\": \"q\\\"}\"}\n]}";
        let root = spans(text, 3).unwrap();
        let items = root.get("entityList").unwrap().items().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            &text[items[0].span.clone()],
            "{\"a\": [1, {\"deep\": \"x\"}]}"
        );
        assert_eq!(&text[items[1].span.clone()], "{\"b\": \"q\\\"}\"}");
        assert_eq!(&text[items[1].get("b").unwrap().span.clone()], "\"q\\\"}\"");
        let list = spans("[1, 22 ,\"x\"]", 1).unwrap();
        let texts: Vec<&str> = list
            .items()
            .unwrap()
            .iter()
            .map(|n| &"[1, 22 ,\"x\"]"[n.span.clone()])
            .collect();
        assert_eq!(texts, ["1", "22", "\"x\""]);
    }
}
