//! What can go wrong talking to object storage, and how S3's error answers map to it.
//!
//! Messages end up in image tasks that API callers read, so none of them carries a signed
//! URL (it holds the access key id and a signature valid for an hour) or the endpoint.

/// An object storage failure. `what` is the `s3://bucket[/key]` the request was about.
#[derive(Debug, thiserror::Error)]
pub enum OssError {
    /// HTTP 404: `NoSuchKey` or `NoSuchBucket` (the text says which).
    #[error("not found: {0}")]
    NotFound(String),
    /// HTTP 403: `AccessDenied`, `SignatureDoesNotMatch`, `InvalidAccessKeyId`, …
    #[error("{what}: access denied ({code})")]
    AccessDenied { what: String, code: String },
    /// Any other failing status, with S3's error code and message.
    #[error("{what}: object storage answered HTTP {status} {code}: {message}")]
    Status {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
    /// The endpoint could not be reached, or a transfer broke off.
    #[error("{what}: object storage: {detail}")]
    Transport { what: String, detail: String },
    /// An answer Kiln cannot use (unparsable XML, a missing header, a short body).
    #[error("{what}: object storage answered unexpectedly: {detail}")]
    Protocol { what: String, detail: String },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The configured endpoint is unusable (`kiln serve --oss-endpoint`).
    #[error("object storage endpoint '{endpoint}': {detail}")]
    Config { endpoint: String, detail: String },
}

pub type OssResult<T> = Result<T, OssError>;

/// How much of an S3 error message is kept.
const MESSAGE_CHARS: usize = 200;

impl OssError {
    /// What a failing answer means. `body` is S3's XML error document, empty for a HEAD
    /// (whose answer has none): the status alone then names the error.
    pub(super) fn from_answer(what: &str, status: u16, body: &str) -> OssError {
        let code = xml_field(body, "Code").unwrap_or_else(|| code_of_status(status).into());
        match status {
            404 => OssError::NotFound(format!("{what} ({code})")),
            403 => OssError::AccessDenied {
                what: what.to_string(),
                code,
            },
            _ => OssError::Status {
                what: what.to_string(),
                status,
                code,
                message: xml_field(body, "Message")
                    .unwrap_or_default()
                    .chars()
                    .take(MESSAGE_CHARS)
                    .collect(),
            },
        }
    }

    /// A request that got no answer, or whose body broke off. reqwest's own text names the
    /// signed URL, so it is dropped; the causes (refused, reset, timed out) are kept.
    pub(super) fn transport(what: &str, e: reqwest::Error) -> OssError {
        let e = e.without_url();
        let mut detail = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            detail = format!("{detail}: {c}");
            cause = c.source();
        }
        OssError::Transport {
            what: what.to_string(),
            detail,
        }
    }

    pub(super) fn protocol(what: &str, detail: impl std::fmt::Display) -> OssError {
        OssError::Protocol {
            what: what.to_string(),
            detail: detail.to_string(),
        }
    }

    pub(super) fn io(path: &std::path::Path, source: std::io::Error) -> OssError {
        OssError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The error code S3 would have written, for answers without a body.
fn code_of_status(status: u16) -> &'static str {
    match status {
        404 => "NotFound",
        403 => "Forbidden",
        400 => "BadRequest",
        409 => "Conflict",
        412 => "PreconditionFailed",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "Unknown",
    }
}

/// The text of the first `<name>` element of an S3 XML document (a flat search: error
/// documents are one level deep), with XML's predefined entities decoded.
pub(super) fn xml_field(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&format!("</{name}>"))?;
    Some(unescape_xml(&body[start..start + len]))
}

fn unescape_xml(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENIED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match &amp; so on</Message><RequestId>1</RequestId></Error>"#;

    #[test]
    fn s3_error_documents_name_the_error() {
        let e = OssError::from_answer("s3://b/k", 403, DENIED);
        assert!(
            matches!(&e, OssError::AccessDenied { code, .. } if code == "SignatureDoesNotMatch")
        );
        assert_eq!(
            e.to_string(),
            "s3://b/k: access denied (SignatureDoesNotMatch)"
        );
        let body = "<Error><Code>NoSuchBucket</Code><Message>no</Message></Error>";
        let e = OssError::from_answer("s3://b/k", 404, body);
        assert_eq!(e.to_string(), "not found: s3://b/k (NoSuchBucket)");
        let body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        let e = OssError::from_answer("s3://b", 503, body);
        assert!(matches!(&e, OssError::Status { status: 503, code, .. } if code == "SlowDown"));
        assert_eq!(
            e.to_string(),
            "s3://b: object storage answered HTTP 503 SlowDown: Please reduce your request rate."
        );
    }

    #[test]
    fn answers_without_a_body_are_named_by_their_status() {
        assert!(matches!(
            OssError::from_answer("s3://b/k", 404, ""),
            OssError::NotFound(w) if w == "s3://b/k (NotFound)"
        ));
        assert!(matches!(
            OssError::from_answer("s3://b/k", 403, ""),
            OssError::AccessDenied { code, .. } if code == "Forbidden"
        ));
        assert!(matches!(
            OssError::from_answer("s3://b/k", 502, "<html>bad gateway</html>"),
            OssError::Status { status: 502, code, message, .. } if code == "Unknown" && message.is_empty()
        ));
    }

    #[test]
    fn long_messages_are_cut() {
        let body = format!(
            "<Error><Code>X</Code><Message>{}</Message></Error>",
            "m".repeat(5000)
        );
        let OssError::Status { message, .. } = OssError::from_answer("s3://b", 400, &body) else {
            panic!("not a status error");
        };
        assert_eq!(message.len(), MESSAGE_CHARS);
    }

    #[test]
    fn xml_fields() {
        assert_eq!(
            xml_field("<A><B>x &lt;y&gt;</B></A>", "B").as_deref(),
            Some("x <y>")
        );
        assert_eq!(xml_field("<B>unclosed", "B"), None);
        assert_eq!(xml_field("", "B"), None);
    }
}
