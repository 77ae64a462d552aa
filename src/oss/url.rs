//! Where in object storage an `ossUrl` / `imageUrl` points: JD's bucket URLs
//! (`http(s)://<bucket>.s3[-internal].<region>.jdcloud-oss.com[/<key>]`) or
//! `s3://<bucket>[/<key>]`.
//!
//! The two forms differ in one way: a JD URL is a URL, so its path is percent-decoded; an
//! `s3://` key is taken literally, as the AWS tools take it. That is what lets
//! `OssLocation`'s `s3://bucket/key` form (which Kiln stores in tasks) parse back to the
//! same key whatever the key holds.

use std::fmt;

/// A bucket and a key in it (empty: the bucket itself, or a prefix to add to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssLocation {
    pub bucket: String,
    pub key: String,
}

/// Why a string is not an OSS location. The caller adds the string itself
/// (`Invalid ossUrl '…': <this>`), so only a short excerpt of a part is echoed here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OssUrlError {
    #[error("not an OSS URL (use https://<bucket>.s3.<region>.jdcloud-oss.com/<key> or s3://<bucket>/<key>)")]
    NotOss,
    #[error("a JD OSS URL takes no port, query string or fragment")]
    Extras,
    #[error("invalid region '{0}': lowercase letters, digits and hyphens only")]
    Region(String),
    #[error("invalid bucket name '{name}': {why}")]
    Bucket { name: String, why: &'static str },
    #[error("invalid object key: {0}")]
    Key(&'static str),
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

/// S3 keys are at most this many bytes.
const MAX_KEY_BYTES: usize = 1024;
/// How much of an offending bucket name or region an error repeats.
const ECHO_CHARS: usize = 64;

/// The region a JD OSS URL names (`<bucket>.s3.<region>.jdcloud-oss.com`); none for `s3://`
/// or anything that is not a JD OSS host.
pub fn oss_url_region(s: &str) -> Option<&str> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next()?;
    jd_host(host).map(|(_, region)| region)
}

/// Whether `s` is meant as an OSS URL (so a parse error is the answer, not another scheme).
pub fn looks_like_oss(s: &str) -> bool {
    s.starts_with("s3://") || s.contains(".jdcloud-oss.com")
}

/// The bucket and key an OSS URL names; see the module's doc for the accepted forms.
pub fn parse_oss_url(s: &str) -> Result<OssLocation, OssUrlError> {
    let (bucket, key) = if let Some(rest) = s.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        (bucket, key.to_string())
    } else {
        let (bucket, path) = split_jd_url(s)?;
        (bucket, percent_decoded(path)?)
    };
    check_bucket(bucket)?;
    check_key(&key)?;
    Ok(OssLocation {
        bucket: bucket.to_string(),
        key,
    })
}

/// A JD URL's bucket and raw path (after the slash that ends the host).
fn split_jd_url(s: &str) -> Result<(&str, &str), OssUrlError> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or(OssUrlError::NotOss)?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    // A presigned URL's query would otherwise end up in the key; a literal `?` or `#` in a
    // key is written percent-encoded.
    if host.contains(['?', '#', ':', '@']) || path.contains(['?', '#']) {
        return Err(if host.contains(".jdcloud-oss.com") {
            OssUrlError::Extras
        } else {
            OssUrlError::NotOss
        });
    }
    let (bucket, region) = jd_host(host).ok_or(OssUrlError::NotOss)?;
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(OssUrlError::Region(
            region.chars().take(ECHO_CHARS).collect(),
        ));
    }
    Ok((bucket, path))
}

/// `<bucket>.s3[-internal].<region>.jdcloud-oss.com` → bucket and region. The region has no
/// dots, so it is split off from the right: bucket names may contain dots.
fn jd_host(host: &str) -> Option<(&str, &str)> {
    let (front, region) = host.strip_suffix(".jdcloud-oss.com")?.rsplit_once('.')?;
    let bucket = front
        .strip_suffix(".s3")
        .or_else(|| front.strip_suffix(".s3-internal"))?;
    Some((bucket, region))
}

/// S3's naming rules for buckets (the ones every S3 service shares).
fn check_bucket(name: &str) -> Result<(), OssUrlError> {
    let edge_ok = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let why = if !(3..=63).contains(&name.len()) {
        "3 to 63 characters"
    } else if !name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
    {
        "lowercase letters, digits, hyphens and dots only"
    } else if !edge_ok(name.bytes().next()) || !edge_ok(name.bytes().last()) {
        "must start and end with a letter or digit"
    } else if name.contains("..") {
        "no two adjacent dots"
    } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
        "must not look like an IP address"
    } else {
        return Ok(());
    };
    Err(OssUrlError::Bucket {
        name: name.chars().take(ECHO_CHARS).collect(),
        why,
    })
}

fn percent_decoded(path: &str) -> Result<String, OssUrlError> {
    percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| OssUrlError::Key("not UTF-8 once percent-decoded"))
}

/// A key Kiln will write or read: no `.`/`..` or empty segments (a trailing `/` is allowed:
/// a prefix), no control characters, at most S3's 1024 bytes. Empty: the bucket itself.
fn check_key(key: &str) -> Result<(), OssUrlError> {
    if key.is_empty() {
        return Ok(());
    }
    // A trailing `/` makes a prefix, not an empty last segment.
    let body = key.strip_suffix('/').unwrap_or(key);
    let why = if key.len() > MAX_KEY_BYTES {
        "longer than 1024 bytes"
    } else if key.chars().any(char::is_control) {
        "control characters are not allowed"
    } else if body.split('/').any(|s| s == "." || s == "..") {
        "'.' and '..' segments are not allowed"
    } else if body.split('/').any(str::is_empty) {
        "empty path segment ('//' or a leading '/')"
    } else {
        return Ok(());
    };
    Err(OssUrlError::Key(why))
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

    fn p(s: &str) -> Result<OssLocation, OssUrlError> {
        parse_oss_url(s)
    }

    #[test]
    fn jd_bucket_urls_in_every_form() {
        assert_eq!(
            p("https://images.s3.cn-north-1.jdcloud-oss.com"),
            Ok(loc("images", ""))
        );
        assert_eq!(
            p("https://images.s3.cn-north-1.jdcloud-oss.com/"),
            Ok(loc("images", ""))
        );
        assert_eq!(
            p("https://images.s3-internal.cn-east-2.jdcloud-oss.com/exp/a.qcow2"),
            Ok(loc("images", "exp/a.qcow2"))
        );
        assert_eq!(
            p("http://b-1.s3.cn-north-1.jdcloud-oss.com/x%20y%3F"),
            Ok(loc("b-1", "x y?"))
        );
        assert_eq!(
            p("http://b.2.s3-internal.cn-south-1.jdcloud-oss.com/dir/"),
            Ok(loc("b.2", "dir/"))
        );
    }

    #[test]
    fn s3_urls_take_the_key_literally() {
        assert_eq!(p("s3://bucket/dir/"), Ok(loc("bucket", "dir/")));
        assert_eq!(p("s3://bucket"), Ok(loc("bucket", "")));
        assert_eq!(p("s3://bucket/"), Ok(loc("bucket", "")));
        assert_eq!(p("s3://bucket/a%20b?c"), Ok(loc("bucket", "a%20b?c")));
    }

    #[test]
    fn the_region_is_that_of_jd_urls_only() {
        let r = oss_url_region;
        assert_eq!(
            r("https://b.s3.cn-north-1.jdcloud-oss.com/k"),
            Some("cn-north-1")
        );
        assert_eq!(
            r("http://a.b.s3-internal.cn-east-2.jdcloud-oss.com"),
            Some("cn-east-2")
        );
        assert_eq!(r("s3://b/k"), None);
        assert_eq!(r("https://example.com/k"), None);
        assert!(looks_like_oss("s3://x") && !looks_like_oss("http://h/x"));
    }

    #[test]
    fn other_urls_are_not_oss() {
        for s in [
            "",
            "https://example.com/x",
            "file:///tmp/x",
            "ftp://b.s3.cn-north-1.jdcloud-oss.com/x",
            "https://b.s4.cn-north-1.jdcloud-oss.com",
            "https://b.cn-north-1.jdcloud-oss.com",
            "https://b.s3.cn-north-1.jdcloud-oss.com.evil.com/x",
            "S3://bucket/x",
        ] {
            assert_eq!(p(s), Err(OssUrlError::NotOss), "{s}");
        }
    }

    #[test]
    fn ports_queries_and_bad_regions_are_refused_with_the_reason() {
        for s in [
            "https://b-1.s3.cn-north-1.jdcloud-oss.com:443/x",
            "https://b-1.s3.cn-north-1.jdcloud-oss.com/x?X-Amz-Signature=1",
            "https://b-1.s3.cn-north-1.jdcloud-oss.com/x#frag",
            "https://u@b-1.s3.cn-north-1.jdcloud-oss.com/x",
        ] {
            assert_eq!(p(s), Err(OssUrlError::Extras), "{s}");
        }
        assert_eq!(
            p("https://b-1.s3.CN_north.jdcloud-oss.com/x"),
            Err(OssUrlError::Region("CN_north".into()))
        );
        assert_eq!(
            p("https://b-1.s3..jdcloud-oss.com/x"),
            Err(OssUrlError::Region(String::new()))
        );
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        let why = |s: &str| match p(&format!("s3://{s}/k")) {
            Err(OssUrlError::Bucket { why, .. }) => why,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(why("ab"), "3 to 63 characters");
        assert_eq!(why(&"a".repeat(64)), "3 to 63 characters");
        assert_eq!(
            why("UPPER"),
            "lowercase letters, digits, hyphens and dots only"
        );
        assert_eq!(
            why("a_b"),
            "lowercase letters, digits, hyphens and dots only"
        );
        assert_eq!(why("-ab"), "must start and end with a letter or digit");
        assert_eq!(why("ab."), "must start and end with a letter or digit");
        assert_eq!(why("a..b"), "no two adjacent dots");
        assert_eq!(why("192.168.1.1"), "must not look like an IP address");
        assert!(p(&format!("s3://{}/k", "a".repeat(63))).is_ok());
        assert!(p("s3://1.2.3/k").is_ok());
        let e = p("https://Images.s3.cn-north-1.jdcloud-oss.com/k").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid bucket name 'Images': lowercase letters, digits, hyphens and dots only"
        );
    }

    #[test]
    fn keys_that_could_mean_two_things_are_refused() {
        let why = |s: &str| match p(s) {
            Err(OssUrlError::Key(why)) => why,
            other => panic!("{s}: {other:?}"),
        };
        let jd = "https://b-1.s3.cn-north-1.jdcloud-oss.com";
        assert_eq!(
            why("s3://bucket/a/../b"),
            "'.' and '..' segments are not allowed"
        );
        assert_eq!(
            why("s3://bucket/.."),
            "'.' and '..' segments are not allowed"
        );
        assert_eq!(
            why("s3://bucket/./a"),
            "'.' and '..' segments are not allowed"
        );
        assert_eq!(
            why(&format!("{jd}/a/%2E%2E/b")),
            "'.' and '..' segments are not allowed"
        );
        assert_eq!(
            why("s3://bucket/a//b"),
            "empty path segment ('//' or a leading '/')"
        );
        assert_eq!(
            why("s3://bucket//a"),
            "empty path segment ('//' or a leading '/')"
        );
        assert_eq!(
            why("s3://bucket//"),
            "empty path segment ('//' or a leading '/')"
        );
        assert_eq!(
            why(&format!("{jd}//a")),
            "empty path segment ('//' or a leading '/')"
        );
        assert_eq!(
            why(&format!("{jd}/a%0Ab")),
            "control characters are not allowed"
        );
        assert_eq!(
            why("s3://bucket/a\u{7f}b"),
            "control characters are not allowed"
        );
        assert_eq!(why(&format!("{jd}/%FF")), "not UTF-8 once percent-decoded");
        assert_eq!(
            why(&format!("s3://bucket/{}", "k".repeat(1025))),
            "longer than 1024 bytes"
        );
        assert!(p(&format!("s3://bucket/{}", "k".repeat(1024))).is_ok());
        assert_eq!(
            p("s3://bucket/a//b").unwrap_err().to_string(),
            "invalid object key: empty path segment ('//' or a leading '/')"
        );
    }

    /// One key segment: anything but `/` and control characters, and not `.` or `..`.
    fn segment() -> impl Strategy<Value = String> {
        "[^/\\p{Cc}]{1,8}".prop_filter("dot segments are refused", |s| s != "." && s != "..")
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in any::<String>()) {
            let _ = parse_oss_url(&s);
            let _ = oss_url_region(&s);
        }

        #[test]
        fn parsing_never_panics_near_valid_urls(
            head in prop::sample::select(vec!["s3://", "https://", "http://b.s3.r-1.jdcloud-oss.com/"]),
            tail in ".{0,80}",
        ) {
            let _ = parse_oss_url(&format!("{head}{tail}"));
        }

        #[test]
        fn an_s3_url_round_trips(
            bucket in "[a-z0-9][a-z0-9-]{1,20}[a-z0-9]",
            segments in prop::collection::vec(segment(), 0..4),
            prefix in any::<bool>(),
        ) {
            let mut key = segments.join("/");
            if prefix && !key.is_empty() {
                key.push('/');
            }
            prop_assume!(key.len() <= MAX_KEY_BYTES);
            let l = loc(&bucket, &key);
            prop_assert_eq!(parse_oss_url(&l.to_string()), Ok(l));
        }
    }
}
