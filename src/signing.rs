//! JD Cloud request signatures (`JDCLOUD2-HMAC-SHA256` and `JDCLOUD3-HMAC-SHA256`), shared by
//! the server's verifier and Kiln's own clients. An AWS SigV4 derivative; the official SDKs
//! differ in how they canonicalise (spec §2.3), so the server's check
//! (`http::auth::authenticate`) tries each SDK's form.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    V2,
    V3,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::V2 => "JDCLOUD2-HMAC-SHA256",
            Algorithm::V3 => "JDCLOUD3-HMAC-SHA256",
        }
    }
    fn key_prefix(self) -> &'static str {
        match self {
            Algorithm::V2 => "JDCLOUD2",
            Algorithm::V3 => "JDCLOUD3",
        }
    }
    pub fn terminator(self) -> &'static str {
        match self {
            Algorithm::V2 => "jdcloud2_request",
            Algorithm::V3 => "jdcloud3_request",
        }
    }
    pub fn from_name(s: &str) -> Option<Algorithm> {
        match s {
            "JDCLOUD2-HMAC-SHA256" => Some(Algorithm::V2),
            "JDCLOUD3-HMAC-SHA256" => Some(Algorithm::V3),
            _ => None,
        }
    }
}

/// The parts of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub algorithm: Algorithm,
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub terminator: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Why an `Authorization` header could not be used; messages are the gateway's (§1.6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("lack of header authorization")]
    MissingAuthorization,
    #[error("lack of credential in the header authorization")]
    MissingCredential,
    #[error("lack of header signedHeaders")]
    MissingSignedHeaders,
    #[error("Invalid authentication credentials")]
    Malformed,
}

pub fn parse_authorization(header: &str) -> Result<Authorization, AuthError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(AuthError::MissingAuthorization);
    }
    let (alg, rest) = header.split_once(' ').ok_or(AuthError::MissingCredential)?;
    let algorithm = Algorithm::from_name(alg).ok_or(AuthError::Malformed)?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential.ok_or(AuthError::MissingCredential)?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [ak, date, region, service, terminator] = parts.as_slice() else {
        return Err(AuthError::MissingCredential);
    };
    if ak.is_empty() {
        return Err(AuthError::MissingCredential);
    }
    let signed = signed
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::MissingSignedHeaders)?;
    let signature = signature
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::Malformed)?;
    Ok(Authorization {
        algorithm,
        access_key: ak.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        terminator: terminator.to_string(),
        signed_headers: signed
            .split(';')
            .map(|s| s.trim().to_ascii_lowercase())
            .collect(),
        signature: signature.to_ascii_lowercase(),
    })
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn encode(s: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str, plus_is_space: bool) -> Vec<u8> {
    let s = if plus_is_space {
        s.replace('+', " ")
    } else {
        s.to_string()
    };
    percent_encoding::percent_decode_str(&s).collect()
}

/// The canonical URI of the PY/GO/Java SDKs and the docs: decoded, `//` collapsed, each
/// byte but unreserved and `/` percent-encoded (so `:` becomes `%3A`).
pub fn canonical_uri(path: &str) -> String {
    let decoded = decode(path, false);
    let mut collapsed = Vec::with_capacity(decoded.len());
    for &b in &decoded {
        if b == b'/' && collapsed.last() == Some(&b'/') {
            continue;
        }
        collapsed.push(b);
    }
    if collapsed.is_empty() {
        return "/".into();
    }
    encode(&collapsed, true)
}

/// The canonical query: pairs decoded and re-encoded, sorted by key then value. A bare
/// key (no `=`) is dropped (PY SDK) or kept as `key=` (Rust signer).
pub fn canonical_query(query: &str, keep_bare: bool) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for item in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = match item.split_once('=') {
            Some((k, v)) => (k, v),
            None if keep_bare => (item, ""),
            None => continue,
        };
        if k.is_empty() {
            continue;
        }
        pairs.push((
            encode(&decode(k, true), false),
            encode(&decode(v, true), false),
        ));
    }
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value as signed: trimmed, and with runs of spaces collapsed if `collapse`.
pub fn canonical_header_value(v: &str, collapse: bool) -> String {
    let t = v.trim();
    if !collapse {
        return t.to_string();
    }
    let mut out = String::with_capacity(t.len());
    let mut prev_space = false;
    for c in t.chars() {
        if c == ' ' {
            if !prev_space {
                out.push(c);
            }
            prev_space = true;
        } else {
            out.push(c);
            prev_space = false;
        }
    }
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// Everything that goes into one signature.
pub struct Canonical<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub query: &'a str,
    /// `(lowercase name, canonical value)` in `SignedHeaders` order.
    pub headers: &'a [(String, String)],
    pub payload_hash: &'a str,
}

impl Canonical<'_> {
    pub fn request(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.method, self.uri, self.query);
        for (k, v) in self.headers {
            s.push_str(&format!("{k}:{v}\n"));
        }
        s.push('\n');
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        s.push_str(&names.join(";"));
        s.push('\n');
        s.push_str(self.payload_hash);
        s
    }
}

pub struct Scope<'a> {
    pub algorithm: Algorithm,
    /// `yyyymmdd` for the key derivation.
    pub date: &'a str,
    /// The full `x-jdcloud-date` value.
    pub timestamp: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

pub fn signature(secret_key: &str, scope: &Scope, canonical_request: &str) -> String {
    let alg = scope.algorithm;
    let credential_scope = format!(
        "{}/{}/{}/{}",
        scope.date,
        scope.region,
        scope.service,
        alg.terminator()
    );
    let string_to_sign = format!(
        "{}\n{}\n{}\n{}",
        alg.name(),
        scope.timestamp,
        credential_scope,
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac(
        format!("{}{}", alg.key_prefix(), secret_key).as_bytes(),
        scope.date.as_bytes(),
    );
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    let k_signing = hmac(&k_service, alg.terminator().as_bytes());
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

/// Compares two hex signatures in constant time.
pub fn signatures_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Headers that sign a request the way the Go SDK does (JDCLOUD2, signing
/// `content-type;host;x-jdcloud-date;x-jdcloud-nonce`). `host` is `host[:port]`.
#[allow(clippy::too_many_arguments)]
pub fn sign_headers(
    access_key: &str,
    secret_key: &str,
    service: &str,
    region: &str,
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    let now = chrono::Utc::now();
    let timestamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let nonce = crate::ids::random_suffix(32);
    sign_headers_at(
        access_key, secret_key, service, region, method, host, path, query, body, &timestamp,
        &nonce,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn sign_headers_at(
    access_key: &str,
    secret_key: &str,
    service: &str,
    region: &str,
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    body: &[u8],
    timestamp: &str,
    nonce: &str,
) -> Vec<(String, String)> {
    let content_type = "application/json";
    let headers = vec![
        ("content-type".to_string(), content_type.to_string()),
        ("host".to_string(), host.to_string()),
        ("x-jdcloud-date".to_string(), timestamp.to_string()),
        ("x-jdcloud-nonce".to_string(), nonce.to_string()),
    ];
    let uri = canonical_uri(path);
    let q = canonical_query(query, false);
    let hash = sha256_hex(body);
    let canonical = Canonical {
        method,
        uri: &uri,
        query: &q,
        headers: &headers,
        payload_hash: &hash,
    };
    let date = &timestamp[..8.min(timestamp.len())];
    let scope = Scope {
        algorithm: Algorithm::V2,
        date,
        timestamp,
        region,
        service,
    };
    let sig = signature(secret_key, &scope, &canonical.request());
    let auth = format!(
        "{} Credential={}/{}/{}/{}/{}, SignedHeaders=content-type;host;x-jdcloud-date;x-jdcloud-nonce, Signature={}",
        Algorithm::V2.name(),
        access_key,
        date,
        region,
        service,
        Algorithm::V2.terminator(),
        sig
    );
    vec![
        ("x-jdcloud-date".into(), timestamp.into()),
        ("x-jdcloud-nonce".into(), nonce.into()),
        ("content-type".into(), content_type.into()),
        ("authorization".into(), auth),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), canonical_header_value(v, true)))
            .collect()
    }

    /// §2.4 A: the documentation's worked example, v2 and v3.
    #[test]
    fn vector_a_doc_example() {
        let headers = hv(&[
            ("x-jdcloud-date", "20190214T104514Z"),
            ("x-jdcloud-nonce", "testnonce"),
            ("x-my-header", "test"),
            ("x-my-header_blank", " blank"),
        ]);
        let uri = canonical_uri("/v1/resource:action");
        let q = canonical_query("p1=p1&p0=p0&o=%&u=u", false);
        assert_eq!(uri, "/v1/resource%3Aaction");
        assert_eq!(q, "o=%25&p0=p0&p1=p1&u=u");
        let hash = sha256_hex(b"body data");
        let c = Canonical {
            method: "POST",
            uri: &uri,
            query: &q,
            headers: &headers,
            payload_hash: &hash,
        };
        assert_eq!(
            sha256_hex(c.request().as_bytes()),
            "fb2e317056269590681d091f8eb22272967c0b922b2deda887312215ea4eed4c"
        );
        let mut scope = Scope {
            algorithm: Algorithm::V2,
            date: "20190214",
            timestamp: "20190214T104514Z",
            region: "cn-north-1",
            service: "test",
        };
        assert_eq!(
            signature("TESTSK", &scope, &c.request()),
            "2a98f83c074e7bee260bfc8ef64f009c07595bd93f7f0c3f4e156bf6479ed9bf"
        );
        scope.algorithm = Algorithm::V3;
        assert_eq!(
            signature("TESTSK", &scope, &c.request()),
            "206d4346b2b41f73e1088d01ff490ed425ca58f7232ae1db2fa6743d2f68793c"
        );
    }

    /// §2.4 B: the Rust signer's unit test (no host, v2).
    #[test]
    fn vector_b_rust_signer() {
        let headers = hv(&[
            ("content-type", "application/json"),
            ("x-jdcloud-date", "20180405T010203Z"),
            ("x-jdcloud-nonce", "55f3919e-3a7d-4174-b117-f150ff25e274"),
        ]);
        let uri = "/v1/regions/cn-north-1/instances";
        let q = canonical_query("pageNumber=2&pageSize=10", true);
        let hash = sha256_hex(b"");
        let c = Canonical {
            method: "GET",
            uri,
            query: &q,
            headers: &headers,
            payload_hash: &hash,
        };
        let scope = Scope {
            algorithm: Algorithm::V2,
            date: "20180405",
            timestamp: "20180405T010203Z",
            region: "cn-north-1",
            service: "service_name",
        };
        assert_eq!(
            signature("sk", &scope, &c.request()),
            "cea138630c57ba3de51933926e3b1657c34b4d1b6f86d360511bf40a09f63729"
        );
    }

    /// §2.4 C: the Python SDK (v3, `content-type;host`) and the Go style (v2) of one request.
    #[test]
    fn vector_c_python_and_go() {
        let uri = canonical_uri("/v1/regions/cn-north-1/instances/i-abc:createImage");
        assert_eq!(uri, "/v1/regions/cn-north-1/instances/i-abc%3AcreateImage");
        let hash = sha256_hex(br#"{"name":"img1"}"#);
        let py = hv(&[
            ("content-type", "application/json"),
            ("host", "vm.jdcloud-api.com"),
        ]);
        let c = Canonical {
            method: "POST",
            uri: &uri,
            query: "",
            headers: &py,
            payload_hash: &hash,
        };
        let scope = Scope {
            algorithm: Algorithm::V3,
            date: "20240101",
            timestamp: "20240101T000000Z",
            region: "cn-north-1",
            service: "vm",
        };
        assert_eq!(
            signature("TESTSK", &scope, &c.request()),
            "85d08f9833f4c598c66f19273a876d1e4cface9b2959925b581138c9ce61b624"
        );
        let headers = sign_headers_at(
            "TESTAK",
            "TESTSK",
            "vm",
            "cn-north-1",
            "POST",
            "vm.jdcloud-api.com",
            "/v1/regions/cn-north-1/instances/i-abc:createImage",
            "",
            br#"{"name":"img1"}"#,
            "20240101T000000Z",
            "11111111-2222-3333-4444-555555555555",
        );
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.ends_with("d24b03369fd9b30fd2e6efb87bfd8235cb26f0c6ccd95f65eab2f7b22b9f3a59"),
            "{auth}"
        );
        let parsed = parse_authorization(auth).unwrap();
        assert_eq!(parsed.access_key, "TESTAK");
        assert_eq!(parsed.service, "vm");
        assert_eq!(
            parsed.signed_headers,
            ["content-type", "host", "x-jdcloud-date", "x-jdcloud-nonce"]
        );
    }

    #[test]
    fn authorization_errors() {
        assert_eq!(
            parse_authorization(""),
            Err(AuthError::MissingAuthorization)
        );
        assert_eq!(
            parse_authorization("JDCLOUD2-HMAC-SHA256 SignedHeaders=a, Signature=b"),
            Err(AuthError::MissingCredential)
        );
        assert_eq!(
            parse_authorization("JDCLOUD2-HMAC-SHA256 Credential=a/b/c/d/e, Signature=b"),
            Err(AuthError::MissingSignedHeaders)
        );
        assert_eq!(
            parse_authorization("AWS4 Credential=a/b/c/d/e"),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn uri_collapses_slashes_and_keeps_tilde() {
        assert_eq!(canonical_uri("//v1//a~b c"), "/v1/a~b%20c");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_query("b=2&a=1&a=0&x&=y", false), "a=0&a=1&b=2");
        assert_eq!(canonical_query("x", true), "x=");
    }

    proptest! {
        #[test]
        fn authorization_parser_never_panics(h in ".{0,200}") {
            let _ = parse_authorization(&h);
        }

        #[test]
        fn canonicaliser_never_panics(p in ".{0,100}", q in ".{0,100}") {
            let _ = canonical_uri(&p);
            let _ = canonical_query(&q, true);
            let _ = canonical_header_value(&q, true);
        }

        #[test]
        fn canonical_query_is_order_independent(mut pairs in proptest::collection::vec(("[a-z]{1,4}", "[a-z0-9 %]{0,4}"), 0..6)) {
            let q1: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            pairs.reverse();
            let q2: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            prop_assert_eq!(canonical_query(&q1.join("&"), false), canonical_query(&q2.join("&"), false));
        }
    }
}
