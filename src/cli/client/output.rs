//! Output: human tables by default, `--output json` (the JD `result` object, as the API
//! returned it), `--quiet` (ids only, one per line). Also the query-string builder.

use clap::ValueEnum;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

use super::Ctx;
use crate::cli::out::outln;

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The JD `result` object, pretty-printed.
    Json,
}

impl Ctx {
    /// Prints a command's answer: ids (`--quiet`), the JD result (`--output json`) or
    /// the human text made by `human`.
    pub fn emit(&self, ids: &[String], result: &Value, human: impl FnOnce() -> String) {
        if self.quiet {
            for id in ids {
                outln!("{id}");
            }
        } else if self.format == Format::Json {
            outln!(
                "{}",
                serde_json::to_string_pretty(result).unwrap_or_else(|_| result.to_string())
            );
        } else {
            let text = human();
            if !text.is_empty() {
                outln!("{}", text.trim_end_matches('\n'));
            }
        }
    }

    /// The end of a call that is done when it answers (create, rename, delete, …): one
    /// line for people, else the ids (`--quiet`) or the JD result (`{}` when it has none).
    pub fn finished(
        &self,
        ids: Vec<String>,
        result: Value,
        line: impl FnOnce() -> String,
    ) -> super::Outcome {
        let result = if result.is_null() {
            serde_json::json!({})
        } else {
            result
        };
        self.emit(&ids, &result, line);
        super::Outcome::new(ids, result)
    }

    /// Whether human text goes to stdout (table mode, not quiet).
    pub fn human(&self) -> bool {
        !self.quiet && self.format == Format::Table
    }
}

/// Aligned columns under upper-case headers, two spaces apart. Cells are padded by their
/// width on a terminal, so wide (CJK) characters keep the columns aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.width());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.into_iter().enumerate() {
            s.push_str(&c);
            if i < last {
                let pad = widths[i] + 2 - c.width();
                s.push_str(&" ".repeat(pad));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(headers.iter().map(|h| h.to_uppercase()).collect());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.clone()));
        out.push('\n');
    }
    out
}

/// A time for people, with its zone: JD answers `2026-12-03 15:44:06` meaning UTC+8
/// (China Standard Time) without saying so; shown as UTC `2026-12-03T07:44:06Z`, the
/// form `kiln account list` uses. A time that names its zone is shown in UTC too;
/// anything else as it came.
pub fn time(v: &Value, pointer: &str) -> String {
    let raw = s(v, pointer);
    let text = raw.trim();
    let utc = if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        Some(t.with_timezone(&chrono::Utc))
    } else {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .ok()
            .and_then(|naive| naive.and_local_timezone(jd_zone()).single())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    match utc {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => raw,
    }
}

/// The zone of JD Cloud's zone-less times.
fn jd_zone() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// `Field: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(&format!("{:<w$} {}\n", format!("{k}:"), v, w = w));
    }
    out
}

/// A string field of a JSON object ("" if absent); numbers and booleans as text.
pub fn s(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(x) => x.to_string(),
    }
}

/// `-` for empty cells.
pub fn dash(x: String) -> String {
    if x.is_empty() {
        "-".into()
    } else {
        x
    }
}

/// The items of the array at `key`.
pub fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A query string in JD's form: arrays 1-based and dotted (`ids.1=…`,
/// `filters.1.name=status&filters.1.values.1=running`), values percent-encoded.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
    filters: usize,
}

const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    pub fn push(&mut self, key: &str, value: impl Into<String>) -> &mut Query {
        self.pairs.push((key.to_string(), value.into()));
        self
    }

    /// Adds `key` when `value` is set.
    pub fn opt(&mut self, key: &str, value: Option<&str>) -> &mut Query {
        if let Some(v) = value {
            self.push(key, v);
        }
        self
    }

    /// `key.1=a&key.2=b`.
    pub fn list(&mut self, key: &str, values: &[String]) -> &mut Query {
        for (i, v) in values.iter().enumerate() {
            self.push(&format!("{key}.{}", i + 1), v.clone());
        }
        self
    }

    /// One `filters.N` entry, skipped when `values` is empty.
    pub fn filter(&mut self, name: &str, values: &[String]) -> &mut Query {
        if values.is_empty() {
            return self;
        }
        self.filters += 1;
        let n = self.filters;
        self.push(&format!("filters.{n}.name"), name);
        for (i, v) in values.iter().enumerate() {
            self.push(&format!("filters.{n}.values.{}", i + 1), v.clone());
        }
        self
    }

    pub fn encode(&self) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, ENCODE),
                    utf8_percent_encode(v, ENCODE)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(
            &["id", "name"],
            &[
                vec!["i-1".into(), "a b".into()],
                vec!["i-12345".into(), "c".into()],
            ],
        );
        assert_eq!(t, "ID       NAME\ni-1      a b\ni-12345  c\n");
    }

    #[test]
    fn wide_characters_keep_columns_aligned() {
        let t = table(
            &["name", "status"],
            &[
                vec!["Ubuntu".into(), "ready".into()],
                vec!["中文镜像名称".into(), "ready".into()],
                vec!["mixé混合".into(), "pending".into()],
            ],
        );
        // The STATUS column starts at the same terminal column on every line.
        let columns: Vec<usize> = t
            .lines()
            .map(|l| {
                let cut = l.rfind("  ").unwrap() + 2;
                l[..cut].width()
            })
            .collect();
        assert_eq!(columns, vec![14, 14, 14, 14], "{t}");
        assert!(t.contains("中文镜像名称  ready"), "{t}");
    }

    #[test]
    fn times_show_their_zone() {
        let v = serde_json::json!({
            "jd": "2026-12-03 15:44:06",
            "iso": "2026-12-03T15:44:06+08:00",
            "utc": "2026-12-03T07:44:06Z",
            "odd": "yesterday",
        });
        assert_eq!(time(&v, "/jd"), "2026-12-03T07:44:06Z");
        assert_eq!(time(&v, "/iso"), "2026-12-03T07:44:06Z");
        assert_eq!(time(&v, "/utc"), "2026-12-03T07:44:06Z");
        assert_eq!(time(&v, "/odd"), "yesterday");
        assert_eq!(time(&v, "/missing"), "");
        // Across midnight and a date boundary: 02:00 in UTC+8 is the previous day in UTC.
        let v = serde_json::json!({"t": "2026-01-01 02:00:00"});
        assert_eq!(time(&v, "/t"), "2025-12-31T18:00:00Z");
    }

    #[test]
    fn query_shapes() {
        let mut q = Query::new();
        q.push("imageSource", "private")
            .list("ids", &["img-1".into(), "img 2".into()])
            .filter("status", &["running".into(), "stopped".into()])
            .filter("name", &[])
            .filter("az", &["cn-north-1a".into()]);
        assert_eq!(
            q.encode(),
            "imageSource=private&ids.1=img-1&ids.2=img%202&filters.1.name=status&filters.1.values.1=running&filters.1.values.2=stopped&filters.2.name=az&filters.2.values.1=cn-north-1a"
        );
    }
}
