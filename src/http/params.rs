//! Request parameters as JD Cloud clients really send them, decoded into typed requests.
//!
//! GET/DELETE carry parameters in the query string with 1-based dotted arrays
//! (`ids.1=a&filters.1.values.2=b`); POST carries a JSON body that also repeats the path
//! parameters and writes unset fields as `null`; documentation examples use PascalCase keys.
//! Both shapes decode into one tree (`Params`), and `Params::decode` turns that tree into an
//! endpoint's request struct (a plain `serde::Deserialize`) with JD's quirks: keys matched
//! case-insensitively, `null` treated as absent, numbers and booleans accepted as strings
//! (`"40"`, `True`, `"true"`), and a lone value where a list is expected counting as one
//! element. A value of the wrong shape answers `Invalid parameter <key>`.

use std::collections::BTreeMap;
use std::fmt;

use percent_encoding::percent_decode_str;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Default)]
pub struct Params(Map<String, Value>);

impl Params {
    pub fn from_json(body: &[u8]) -> ApiResult<Params> {
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Params::default());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(Params(m)),
            Ok(Value::Null) => Ok(Params::default()),
            Ok(_) => Err(ApiError::InvalidArgument(
                "Request body must be a JSON object".into(),
            )),
            Err(e) => Err(ApiError::InvalidArgument(format!(
                "Malformed JSON body: {e}"
            ))),
        }
    }

    pub fn from_query(query: &str) -> Params {
        let mut root = Node::Map(BTreeMap::new());
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode_component(k);
            if key.is_empty() {
                continue;
            }
            let value = decode_component(v);
            let segments: Vec<&str> = key.split('.').collect();
            root.insert(&segments, value);
        }
        match root.into_value() {
            Value::Object(m) => Params(m),
            _ => Params::default(),
        }
    }

    /// Merge another set of parameters in; keys already present win.
    pub fn merge_missing(&mut self, other: Params) {
        for (k, v) in other.0 {
            if lookup(&self.0, &k).is_none() {
                self.0.insert(k, v);
            }
        }
    }

    pub fn has(&self, key: &str) -> bool {
        lookup(&self.0, key).is_some()
    }

    /// The parameters as the request struct `T`, decoded once.
    pub fn decode<T: DeserializeOwned>(&self) -> ApiResult<T> {
        decode_object(&self.0, Mode::Param)
    }
}

/// A key's value: an exact match first, else the first key equal ignoring ASCII case;
/// `null` is absent.
fn lookup<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(key) {
        return (!v.is_null()).then_some(v);
    }
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn decode_object<T: DeserializeOwned>(map: &Map<String, Value>, mode: Mode) -> ApiResult<T> {
    T::deserialize(Object { map, mode }).map_err(|e| e.0)
}

fn invalid_type(key: &str) -> ApiError {
    ApiError::InvalidArgument(format!("Invalid parameter {key}"))
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A decoding failure: always the JD error the client sees.
#[derive(Debug)]
pub struct DecodeError(ApiError);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError(ApiError::InvalidArgument(msg.to_string()))
    }
}

/// How values are read: request parameters, elements of a list, or the merged values of
/// one `filters` name.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Param,
    Element,
    Filter,
}

/// A whole object as a struct: only the struct's own fields are read, each found by
/// `lookup`; other keys (SDKs repeat the path parameters) are ignored.
struct Object<'a> {
    map: &'a Map<String, Value>,
    mode: Mode,
}

impl<'de> de::Deserializer<'de> for Object<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        Value::Object(self.map.clone())
            .deserialize_any(v)
            .map_err(de::Error::custom)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DecodeError> {
        let entries: Vec<(&'static str, &Value)> = fields
            .iter()
            .filter_map(|f| lookup(self.map, f).map(|v| (*f, v)))
            .collect();
        v.visit_map(Entries {
            entries: entries.into_iter(),
            next: None,
            mode: self.mode,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

struct Entries<'a, I> {
    entries: I,
    next: Option<(&'static str, &'a Value)>,
    mode: Mode,
}

impl<'de, 'a, I: Iterator<Item = (&'static str, &'a Value)>> de::MapAccess<'de> for Entries<'a, I> {
    type Error = DecodeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.next = Some((key, value));
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let (key, value) = self.next.take().expect("a key before its value");
        let mode = if self.mode == Mode::Filter {
            Mode::Filter
        } else {
            Mode::Param
        };
        seed.deserialize(Field { value, key, mode })
    }
}

/// One value, read leniently as what the request struct asks for.
struct Field<'a> {
    value: &'a Value,
    /// The parameter's name, for error messages.
    key: &'static str,
    mode: Mode,
}

impl Field<'_> {
    fn invalid(&self) -> DecodeError {
        DecodeError(invalid_type(self.key))
    }

    fn int(&self) -> Result<i64, DecodeError> {
        match self.value {
            Value::Number(n) => n.as_i64().ok_or_else(|| self.invalid()),
            Value::String(s) => s.trim().parse().map_err(|_| self.invalid()),
            _ => Err(self.invalid()),
        }
    }

    fn boolean(&self) -> Result<bool, DecodeError> {
        if self.mode == Mode::Filter {
            // A filter's first value decides; its own message names the filter.
            let first = match self.value {
                Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or_default(),
                _ => "",
            };
            return parse_bool(first).ok_or_else(|| {
                DecodeError(ApiError::InvalidArgument(format!(
                    "Invalid filter value '{first}' for {}",
                    self.key
                )))
            });
        }
        match self.value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) => parse_bool(s).ok_or_else(|| self.invalid()),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(self.invalid()),
            },
            _ => Err(self.invalid()),
        }
    }
}

macro_rules! int_via_i64 {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
            v.visit_i64(self.int()?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Field<'_> {
    type Error = DecodeError;

    /// Free-form values (`primaryNetworkInterface`) are kept exactly as sent.
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        self.value
            .clone()
            .deserialize_any(v)
            .map_err(de::Error::custom)
    }

    int_via_i64! { deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
    deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        v.visit_bool(self.boolean()?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        match self.value {
            Value::String(s) => v.visit_str(s),
            Value::Number(n) => v.visit_string(n.to_string()),
            Value::Bool(b) if self.mode == Mode::Param => v.visit_string(b.to_string()),
            _ => Err(self.invalid()),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        if self.value.is_null() {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DecodeError> {
        v.visit_newtype_struct(self)
    }

    /// Lists skip `null` elements; a lone string or object is a list of one.
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        let items: Vec<&Value> = match self.value {
            Value::Array(a) => a.iter().filter(|x| !x.is_null()).collect(),
            one @ (Value::String(_) | Value::Object(_)) => vec![one],
            _ => return Err(self.invalid()),
        };
        let key = self.key;
        v.visit_seq(de::value::SeqDeserializer::new(items.into_iter().map(
            |value| Field {
                value,
                key,
                mode: Mode::Element,
            },
        )))
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DecodeError> {
        match self.value {
            Value::Object(_) => self.deserialize_any(v),
            _ => Err(self.invalid()),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DecodeError> {
        match self.value {
            Value::Object(map) => Object {
                map,
                mode: Mode::Param,
            }
            .deserialize_struct(name, fields, v),
            _ => Err(self.invalid()),
        }
    }

    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char bytes byte_buf unit unit_struct tuple tuple_struct enum
        identifier ignored_any
    }
}

impl IntoDeserializer<'_, DecodeError> for Field<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// JD `filters` (`[{name, operator, values}]`) read as the struct `T`, whose fields are the
/// filter names Kiln knows (matched ignoring case; values of one name merged; unknown names
/// ignored). A boolean filter takes its first value.
#[derive(Debug, Default)]
pub struct Filters<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Filters<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Entry {
            name: Option<String>,
            #[serde(default)]
            values: Vec<String>,
        }
        let entries = Vec::<Entry>::deserialize(d)?;
        let mut merged: Map<String, Value> = Map::new();
        for e in entries {
            let name = e
                .name
                .ok_or_else(|| <D::Error as de::Error>::custom("Parameter filters.name missing"))?;
            let values = merged
                .entry(name.to_ascii_lowercase())
                .or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(list) = values {
                list.extend(e.values.into_iter().map(Value::String));
            }
        }
        merged.retain(|_, v| v.as_array().is_some_and(|a| !a.is_empty()));
        decode_object(&merged, Mode::Filter)
            .map(Filters)
            .map_err(|e| <D::Error as de::Error>::custom(e.wire_message()))
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Filters<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("{}List", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    /// `[{name, operator, values}]` with `name` one of `T`'s fields; `T`'s description
    /// (which says what a filter looks like) becomes the list's.
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let known = T::json_schema(g);
        let names: Vec<Value> = known
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().map(|k| Value::from(k.as_str())).collect())
            .unwrap_or_default();
        let description = known.get("description").cloned().unwrap_or_default();
        schemars::json_schema!({
            "type": "array",
            "description": description,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "enum": names},
                    "operator": {"type": "string", "description": "Accepted and ignored."},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
            },
        })
    }
}

fn decode_component(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Intermediate tree for dotted query keys; maps whose keys are all numbers become arrays.
enum Node {
    Leaf(String),
    Map(BTreeMap<String, Node>),
    Repeated(Vec<String>),
}

impl Node {
    fn insert(&mut self, segments: &[&str], value: String) {
        let Node::Map(map) = self else { return };
        let (head, rest) = (segments[0], &segments[1..]);
        if rest.is_empty() {
            match map.remove(head) {
                None => {
                    map.insert(head.to_string(), Node::Leaf(value));
                }
                // `ids=a&ids=b` (no index): keep every value, in order.
                Some(Node::Leaf(prev)) => {
                    map.insert(head.to_string(), Node::Repeated(vec![prev, value]));
                }
                Some(Node::Repeated(mut vs)) => {
                    vs.push(value);
                    map.insert(head.to_string(), Node::Repeated(vs));
                }
                // A scalar and a nested key under one name: the nested form wins.
                Some(m @ Node::Map(_)) => {
                    map.insert(head.to_string(), m);
                }
            }
            return;
        }
        let child = map
            .entry(head.to_string())
            .or_insert_with(|| Node::Map(BTreeMap::new()));
        if !matches!(child, Node::Map(_)) {
            *child = Node::Map(BTreeMap::new());
        }
        child.insert(rest, value);
    }

    fn into_value(self) -> Value {
        match self {
            Node::Leaf(s) => Value::String(s),
            Node::Repeated(vs) => Value::Array(vs.into_iter().map(Value::String).collect()),
            Node::Map(map) => {
                let numeric = !map.is_empty() && map.keys().all(|k| k.parse::<u32>().is_ok());
                if numeric {
                    let mut items: Vec<(u32, Node)> = map
                        .into_iter()
                        .map(|(k, v)| (k.parse::<u32>().unwrap_or(0), v))
                        .collect();
                    items.sort_by_key(|(i, _)| *i);
                    Value::Array(items.into_iter().map(|(_, v)| v.into_value()).collect())
                } else {
                    Value::Object(map.into_iter().map(|(k, v)| (k, v.into_value())).collect())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, rename_all = "camelCase")]
    struct Probe {
        ids: Vec<String>,
        page_size: Option<i64>,
        name: Option<String>,
        description: Option<String>,
        data_disks: Vec<Disk>,
        a: Option<bool>,
        filters: Option<Filters<ProbeFilters>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, rename_all = "camelCase")]
    struct Disk {
        device_name: Option<String>,
        cloud_disk_spec: Option<Spec>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Spec {
        #[serde(rename = "diskSizeGB")]
        disk_size_gb: Option<i64>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct ProbeFilters {
        status: Vec<String>,
        az: Vec<String>,
        encrypted: Option<bool>,
    }

    fn query(q: &str) -> ApiResult<Probe> {
        Params::from_query(q).decode()
    }

    fn message(e: ApiError) -> String {
        e.wire_message()
    }

    #[test]
    fn dotted_arrays_decode_in_index_order() {
        let p = query("ids.2=b&ids.1=a&ids.10=c&pageSize=10").unwrap();
        assert_eq!(p.ids, vec!["a", "b", "c"]);
        assert_eq!(p.page_size, Some(10));
        assert_eq!(query("ids=a&ids=b").unwrap().ids, vec!["a", "b"]);
        assert_eq!(query("ids=a").unwrap().ids, vec!["a"]);
    }

    #[test]
    fn nested_filters_decode_and_merge() {
        let p = query(
            "filters.1.name=status&filters.1.operator=eq&filters.1.values.1=running\
             &filters.1.values.2=stopped&filters.2.name=AZ&filters.2.values.1=cn-north-1a\
             &filters.3.name=Status&filters.3.values.1=error&filters.4.name=other",
        )
        .unwrap();
        let f = p.filters.unwrap().0;
        assert_eq!(f.status, vec!["running", "stopped", "error"]);
        assert_eq!(f.az, vec!["cn-north-1a"]);
        assert_eq!(f.encrypted, None);
        let missing = query("filters.1.values.1=x").unwrap_err();
        assert_eq!(message(missing), "Parameter filters.name missing");
        let bad = query("filters.1.name=encrypted&filters.1.values.1=maybe").unwrap_err();
        assert_eq!(message(bad), "Invalid filter value 'maybe' for encrypted");
        let yes = query("filters.1.name=encrypted&filters.1.values.1=True").unwrap();
        assert_eq!(yes.filters.unwrap().0.encrypted, Some(true));
    }

    #[test]
    fn booleans_in_any_case() {
        assert_eq!(query("a=True").unwrap().a, Some(true));
        assert_eq!(query("a=false").unwrap().a, Some(false));
        assert_eq!(query("a=TRUE").unwrap().a, Some(true));
        assert_eq!(message(query("a=yes").unwrap_err()), "Invalid parameter a");
        let json: Probe = Params::from_json(br#"{"a": 1}"#).unwrap().decode().unwrap();
        assert_eq!(json.a, Some(true));
    }

    #[test]
    fn json_keys_are_case_insensitive_and_null_is_absent() {
        let p: Probe = Params::from_json(
            br#"{"regionId":"cn-north-1","Name":"x","description":null,
                "dataDisks":[null,{"deviceName":"vde","CloudDiskSpec":{"diskSizeGB":"40"}}]}"#,
        )
        .unwrap()
        .decode()
        .unwrap();
        assert_eq!(p.name.as_deref(), Some("x"));
        assert_eq!(p.description, None);
        assert_eq!(p.data_disks.len(), 1);
        let spec = p.data_disks[0].cloud_disk_spec.as_ref().unwrap();
        assert_eq!(spec.disk_size_gb, Some(40));
    }

    #[test]
    fn wrong_shapes_name_the_parameter() {
        let decode = |body: &[u8]| -> String {
            message(
                Params::from_json(body)
                    .unwrap()
                    .decode::<Probe>()
                    .unwrap_err(),
            )
        };
        assert_eq!(
            decode(br#"{"pageSize": "ten"}"#),
            "Invalid parameter pageSize"
        );
        assert_eq!(decode(br#"{"name": {"a": 1}}"#), "Invalid parameter name");
        assert_eq!(decode(br#"{"ids": [true]}"#), "Invalid parameter ids");
        assert_eq!(decode(br#"{"ids": 5}"#), "Invalid parameter ids");
        assert_eq!(
            decode(br#"{"dataDisks": ["x"]}"#),
            "Invalid parameter dataDisks"
        );
        assert_eq!(
            decode(br#"{"dataDisks": {"cloudDiskSpec": 3}}"#),
            "Invalid parameter cloudDiskSpec"
        );
        // A number or boolean where a string is expected is that text.
        let p: Probe = Params::from_json(br#"{"name": 12, "description": true}"#)
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(
            (p.name.unwrap(), p.description.unwrap()),
            ("12".into(), "true".into())
        );
    }

    #[test]
    fn percent_decoding_and_plus() {
        let p = query("name=a%20b+c&description=%E4%B8%AD").unwrap();
        assert_eq!(p.name.unwrap(), "a b c");
        assert_eq!(p.description.unwrap(), "中");
    }

    #[test]
    fn malformed_json_is_invalid_argument() {
        let e = Params::from_json(b"{nope").unwrap_err();
        assert_eq!(e.jd_status(), "INVALID_ARGUMENT");
        assert!(Params::from_json(b"[1]").is_err());
        assert!(Params::from_json(b"").unwrap().0.is_empty());
    }

    proptest! {
        // Hostile query strings never panic and always give an object.
        #[test]
        fn query_decoding_never_panics(q in ".{0,200}") {
            let _ = query(&q);
        }

        #[test]
        fn dotted_keys_never_panic(keys in proptest::collection::vec("[a-z0-9.]{0,12}", 0..12)) {
            let q: Vec<String> = keys.iter().map(|k| format!("{k}=v")).collect();
            let _ = query(&q.join("&"));
        }

        #[test]
        fn json_decoding_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Params::from_json(&body) {
                let _ = p.decode::<Probe>();
            }
        }
    }
}
