//! An order-preserving JSON tree, parsed by `serde_json`.
//!
//! Why not `serde_json::Value`: without the `preserve_order` feature its objects are sorted maps,
//! and turning that feature on would reorder every map in the workspace (Cargo unifies features).
//! Falco's k8saudit and json plugins print sub-objects (`ka.req.configmap.obj`,
//! `jevt.value[/requestObject/spec/volumes]`, `json.obj`) in the order the API server wrote them,
//! so this tree keeps objects as vectors of (key, value) pairs. Parsing is serde_json's (with its
//! recursion limit); only the tree shape is ours.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::fmt;

/// A JSON value with object keys in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parse a JSON text.
    pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The member `key` of an object (the first one, as fastjson does with duplicate keys).
    #[inline]
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follow a path of object keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Json> {
        let mut v = self;
        for k in keys {
            v = v.get(k)?;
        }
        Some(v)
    }

    /// Like fastjson's `Get(key)`: object member, or array element when `key` is a decimal index.
    pub fn get_any(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(_) => self.get(key),
            Json::Array(a) => parse_go_int(key).and_then(|n| usize::try_from(n).ok()).and_then(|n| a.get(n)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Falco's value-to-text rule: strings verbatim, anything else as compact JSON.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        match self {
            Json::String(s) => out.extend_from_slice(s.as_bytes()),
            other => other.write_compact(out),
        }
    }

    /// The value as text (see [`Json::write_text`]).
    pub fn to_text(&self) -> String {
        let mut v = Vec::new();
        self.write_text(&mut v);
        String::from_utf8(v).unwrap_or_default()
    }

    /// Compact JSON.
    pub fn write_compact(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail, and every value of this tree is serialisable.
        let _ = serde_json::to_writer(out, self);
    }

    /// Compact JSON text.
    pub fn to_compact(&self) -> String {
        let mut v = Vec::new();
        self.write_compact(&mut v);
        String::from_utf8(v).unwrap_or_default()
    }

    /// JSON indented with two spaces (what Go's `json.Indent(…, "", "  ")` gives for compact input).
    pub fn to_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Go's `strconv.Atoi` (what fastjson uses for array indexes): optional sign, decimal digits.
fn parse_go_int(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v).map(Json::Number).ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Json::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut v = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some((k, x)) = map.next_entry::<String, Json>()? {
            v.push((k, x));
        }
        Ok(Json::Object(v))
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(x) => s.serialize_str(x),
            Json::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for x in a {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Json::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_back_to_the_same_value() {
        // Found by the fuzzer: without correctly rounded float parsing, an integer beyond u64 and
        // its shortest printed form parsed one ULP apart, so a stored payload did not read back.
        for text in
            ["193526390034347645780", "18446744073709551616", "1.7976931348623157e308", "0.1", "-2.5e-300"]
        {
            let j = Json::parse(format!("{{\"n\":{text}}}").as_bytes()).unwrap();
            let back = Json::parse(j.to_compact().as_bytes()).unwrap();
            assert_eq!(back, j, "{text}");
        }
    }

    #[test]
    fn keeps_key_order_and_prints_like_go() {
        let j = Json::parse(br#" {"b": 1, "a": {"z": [1, "x", null], "y": {}}, "c": []} "#).unwrap();
        assert_eq!(j.to_compact(), r#"{"b":1,"a":{"z":[1,"x",null],"y":{}},"c":[]}"#);
        assert_eq!(
            j.to_pretty(),
            "{\n  \"b\": 1,\n  \"a\": {\n    \"z\": [\n      1,\n      \"x\",\n      null\n    ],\n    \"y\": {}\n  },\n  \"c\": []\n}"
        );
        assert_eq!(j.get("a").unwrap().get("z").unwrap().get_any("1").unwrap().to_text(), "x");
        assert_eq!(j.get("a").unwrap().get("z").unwrap().get_any("+1").unwrap().to_text(), "x");
        assert!(j.get("a").unwrap().get("z").unwrap().get_any("3").is_none());
        assert!(j.get("a").unwrap().get("z").unwrap().get_any("-1").is_none());
        assert_eq!(j.get("b").unwrap().to_text(), "1");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(Json::parse(deep.as_bytes()).is_err());
    }
}
