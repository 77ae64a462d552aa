//! Where in object storage an `ossUrl` / `imageUrl` points: JD's bucket URLs
//! (`https://<bucket>.s3[-internal].<region>.jdcloud-oss.com[/<key>]`) or `s3://<bucket>[/<key>]`.

use std::fmt;

/// A bucket and a key in it (empty: the bucket itself, or a prefix to add to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssLocation {
    pub bucket: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OssUrlError {
    #[error("not an OSS URL (https://<bucket>.s3.<region>.jdcloud-oss.com/… or s3://<bucket>/…)")]
    NotOss,
    #[error("invalid bucket name '{0}'")]
    Bucket(String),
    #[error("invalid object key")]
    Key,
}

impl fmt::Display for OssLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl OssLocation {
    /// The object `name` under this location taken as a prefix (`key` + `name`).
    pub fn child(&self, name: &str) -> OssLocation {
        OssLocation {
            bucket: self.bucket.clone(),
            key: format!("{}{name}", self.key),
        }
    }
}

/// The region a JD OSS URL names (`<bucket>.s3.<region>.jdcloud-oss.com`); none for `s3://`.
pub fn oss_url_region(s: &str) -> Option<&str> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let host = rest.split('/').next()?.strip_suffix(".jdcloud-oss.com")?;
    let endpoint = host.split_once('.')?.1;
    endpoint
        .strip_prefix("s3.")
        .or_else(|| endpoint.strip_prefix("s3-internal."))
}

/// Whether `s` is meant as an OSS URL (so a parse error is the answer, not another scheme).
pub fn looks_like_oss(s: &str) -> bool {
    s.starts_with("s3://") || s.contains(".jdcloud-oss.com")
}

pub fn parse_oss_url(s: &str) -> Result<OssLocation, OssUrlError> {
    let (bucket, rest) = if let Some(rest) = s.strip_prefix("s3://") {
        rest.split_once('/').unwrap_or((rest, ""))
    } else {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or(OssUrlError::NotOss)?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = host
            .strip_suffix(".jdcloud-oss.com")
            .ok_or(OssUrlError::NotOss)?;
        let (bucket, endpoint) = host.split_once('.').ok_or(OssUrlError::NotOss)?;
        let region = endpoint
            .strip_prefix("s3.")
            .or_else(|| endpoint.strip_prefix("s3-internal."))
            .ok_or(OssUrlError::NotOss)?;
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(OssUrlError::NotOss);
        }
        (bucket, path)
    };
    if !bucket_ok(bucket) {
        return Err(OssUrlError::Bucket(bucket.chars().take(64).collect()));
    }
    Ok(OssLocation {
        bucket: bucket.to_string(),
        key: key_of(rest)?,
    })
}

/// S3's rules: 3–63 of lowercase letters, digits, `-` and `.`, a letter or digit at each end.
fn bucket_ok(b: &str) -> bool {
    let edge = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && edge(b.bytes().next())
        && edge(b.bytes().last())
}

/// The key from a URL path: percent-decoded; no `..` or empty segments, no control
/// characters (an empty path is the bucket itself).
fn key_of(path: &str) -> Result<String, OssUrlError> {
    let key = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| OssUrlError::Key)?
        .into_owned();
    if key.is_empty() {
        return Ok(key);
    }
    let segments: Vec<&str> = key.split('/').collect();
    let last = segments.len() - 1;
    let bad_segment = segments
        .iter()
        .enumerate()
        .any(|(i, s)| *s == ".." || *s == "." || (s.is_empty() && i != last));
    if bad_segment || key.chars().any(char::is_control) || key.len() > 1024 {
        return Err(OssUrlError::Key);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn loc(bucket: &str, key: &str) -> OssLocation {
        OssLocation {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    #[test]
    fn jd_forms_and_s3_urls() {
        let p = |s: &str| parse_oss_url(s);
        assert_eq!(
            p("https://images.s3.cn-north-1.jdcloud-oss.com"),
            Ok(loc("images", ""))
        );
        assert_eq!(
            p("https://images.s3-internal.cn-east-2.jdcloud-oss.com/exp/a.qcow2"),
            Ok(loc("images", "exp/a.qcow2"))
        );
        assert_eq!(
            p("http://b-1.s3.cn-north-1.jdcloud-oss.com/x%20y"),
            Ok(loc("b-1", "x y"))
        );
        assert_eq!(p("s3://bucket/dir/"), Ok(loc("bucket", "dir/")));
        assert_eq!(p("s3://bucket"), Ok(loc("bucket", "")));
        assert_eq!(p("https://example.com/x"), Err(OssUrlError::NotOss));
        assert_eq!(p("file:///tmp/x"), Err(OssUrlError::NotOss));
        assert_eq!(
            p("https://b.s4.cn-north-1.jdcloud-oss.com"),
            Err(OssUrlError::NotOss)
        );
        assert!(matches!(p("s3://UPPER/x"), Err(OssUrlError::Bucket(_))));
        assert!(matches!(p("s3://ab/x"), Err(OssUrlError::Bucket(_))));
        assert_eq!(p("s3://bucket/a/../b"), Err(OssUrlError::Key));
        assert_eq!(p("s3://bucket/a//b"), Err(OssUrlError::Key));
        assert_eq!(p("s3://bucket/a%0Ab"), Err(OssUrlError::Key));
        assert!(looks_like_oss("s3://x") && !looks_like_oss("http://h/x"));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,120}") {
            let _ = parse_oss_url(&s);
        }

        #[test]
        fn an_s3_url_round_trips(bucket in "[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]", key in "([a-z0-9_]{1,8}/){0,3}[a-z0-9_][a-z0-9_.]{0,7}") {
            let l = loc(&bucket, &key);
            prop_assert_eq!(parse_oss_url(&l.to_string()), Ok(l));
        }
    }
}
