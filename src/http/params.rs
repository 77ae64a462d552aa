//! Request parameters as JD Cloud clients really send them.
//!
//! GET/DELETE carry parameters in the query string with 1-based dotted arrays
//! (`ids.1=a&filters.1.values.2=b`); POST carries a JSON body that also repeats the path
//! parameters and writes unset fields as `null`; documentation examples use PascalCase keys.
//! Both shapes decode into one tree, read through `Params` with case-insensitive keys,
//! `null` treated as absent and booleans accepted as `true`/`True`/`"true"`.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Default)]
pub struct Params(Map<String, Value>);

/// One `filters.N` entry: name, operator (default `eq`) and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

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
            if self.lookup(&k).is_none() {
                self.0.insert(k, v);
            }
        }
    }

    fn lookup(&self, key: &str) -> Option<&Value> {
        if let Some(v) = self.0.get(key) {
            return (!v.is_null()).then_some(v);
        }
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// The parameters as JSON text (for values Kiln stores and echoes unchanged).
    pub fn to_json_string(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    pub fn has(&self, key: &str) -> bool {
        self.lookup(key).is_some()
    }

    pub fn str(&self, key: &str) -> ApiResult<Option<String>> {
        match self.lookup(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(invalid_type(key)),
        }
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.lookup(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| invalid_type(key)),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid_type(key)),
            Some(_) => Err(invalid_type(key)),
        }
    }

    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.lookup(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => parse_bool(s).map(Some).ok_or_else(|| invalid_type(key)),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(invalid_type(key)),
            },
            Some(_) => Err(invalid_type(key)),
        }
    }

    pub fn obj(&self, key: &str) -> ApiResult<Option<Params>> {
        match self.lookup(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Params(m.clone()))),
            Some(_) => Err(invalid_type(key)),
        }
    }

    /// An array of objects (`dataDisks`, `filters`, …). A lone object counts as one element.
    pub fn list(&self, key: &str) -> ApiResult<Vec<Params>> {
        match self.lookup(key) {
            None => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::Object(m) => Ok(Params(m.clone())),
                    _ => Err(invalid_type(key)),
                })
                .collect(),
            Some(Value::Object(m)) => Ok(vec![Params(m.clone())]),
            Some(_) => Err(invalid_type(key)),
        }
    }

    /// An array of strings (`ids`, `values`). A lone string counts as one element.
    pub fn str_list(&self, key: &str) -> ApiResult<Vec<String>> {
        match self.lookup(key) {
            None => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(invalid_type(key)),
                })
                .collect(),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(_) => Err(invalid_type(key)),
        }
    }

    pub fn filters(&self) -> ApiResult<Vec<Filter>> {
        self.list("filters")?
            .into_iter()
            .map(|f| {
                let name = f.str("name")?.ok_or_else(|| {
                    ApiError::InvalidArgument("Parameter filters.name missing".into())
                })?;
                let values = f.str_list("values")?;
                Ok(Filter { name, values })
            })
            .collect()
    }

    /// `pageNumber` (default 1, ≥1) and `pageSize` (default 20, [10,100]).
    pub fn page(&self) -> ApiResult<Page> {
        let number = self.int("pageNumber")?.unwrap_or(1);
        let size = self.int("pageSize")?.unwrap_or(20);
        if !(10..=100).contains(&size) {
            return Err(ApiError::page_size_out_of_range());
        }
        if number < 1 {
            return Err(ApiError::OutOfRange("PageNumber out of range".into()));
        }
        Ok(Page {
            number: number as u64,
            size: size as u64,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    pub size: u64,
}

impl Page {
    /// Rows to skip, clamped to what SQL's OFFSET accepts: a page far past the end is simply
    /// empty (never a wrapped-around negative offset that would answer page 1 again).
    pub fn offset(&self) -> i64 {
        let rows = (self.number - 1).saturating_mul(self.size);
        i64::try_from(rows).unwrap_or(i64::MAX)
    }
}

fn invalid_type(key: &str) -> ApiError {
    ApiError::InvalidArgument(format!("Invalid parameter {key}"))
}

pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
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

    #[test]
    fn page_offset_never_wraps_negative() {
        let far = Page {
            number: u64::MAX,
            size: 100,
        };
        assert_eq!(far.offset(), i64::MAX);
        let huge = Page {
            number: (i64::MAX as u64) / 10,
            size: 10,
        };
        assert!(huge.offset() > 0);
        assert_eq!(
            Page {
                number: 3,
                size: 20
            }
            .offset(),
            40
        );
    }

    #[test]
    fn dotted_arrays_decode_in_index_order() {
        let p = Params::from_query("ids.2=b&ids.1=a&ids.10=c&pageSize=10");
        assert_eq!(p.str_list("ids").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(p.int("pageSize").unwrap(), Some(10));
    }

    #[test]
    fn nested_filters_decode() {
        let p = Params::from_query(
            "filters.1.name=status&filters.1.operator=eq&filters.1.values.1=running\
             &filters.1.values.2=stopped&filters.2.name=az&filters.2.values.1=cn-north-1a",
        );
        let f = p.filters().unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, "status");
        assert_eq!(f[0].values, vec!["running", "stopped"]);
        assert_eq!(f[1].values, vec!["cn-north-1a"]);
    }

    #[test]
    fn booleans_in_any_case() {
        let p = Params::from_query("a=True&b=false&c=TRUE&d=yes");
        assert_eq!(p.bool("a").unwrap(), Some(true));
        assert_eq!(p.bool("b").unwrap(), Some(false));
        assert_eq!(p.bool("c").unwrap(), Some(true));
        assert!(p.bool("d").is_err());
    }

    #[test]
    fn json_keys_are_case_insensitive_and_null_is_absent() {
        let p = Params::from_json(
            br#"{"regionId":"cn-north-1","name":"x","description":null,
                "dataDisks":[{"deviceName":"vde","CloudDiskSpec":{"diskSizeGB":40}}]}"#,
        )
        .unwrap();
        assert_eq!(p.str("description").unwrap(), None);
        let disks = p.list("DATADISKS").unwrap();
        let spec = disks[0].obj("cloudDiskSpec").unwrap().unwrap();
        assert_eq!(spec.int("disksizegb").unwrap(), Some(40));
    }

    #[test]
    fn percent_decoding_and_plus() {
        let p = Params::from_query("name=a%20b+c&x=%E4%B8%AD");
        assert_eq!(p.str("name").unwrap().unwrap(), "a b c");
        assert_eq!(p.str("x").unwrap().unwrap(), "中");
    }

    #[test]
    fn page_bounds() {
        assert!(Params::from_query("pageSize=5").page().is_err());
        assert!(Params::from_query("pageSize=101").page().is_err());
        assert_eq!(Params::from_query("").page().unwrap().size, 20);
        assert!(Params::from_query("pageNumber=0").page().is_err());
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
            let p = Params::from_query(&q);
            let _ = p.filters();
            let _ = p.page();
            let _ = p.str_list("ids");
        }

        #[test]
        fn dotted_keys_never_panic(keys in proptest::collection::vec("[a-z0-9.]{0,12}", 0..12)) {
            let q: Vec<String> = keys.iter().map(|k| format!("{k}=v")).collect();
            let _ = Params::from_query(&q.join("&")).filters();
        }

        #[test]
        fn json_decoding_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Params::from_json(&body) {
                let _ = p.list("dataDisks");
                let _ = p.bool("x");
            }
        }
    }
}
