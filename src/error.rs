//! The one error type of Kiln and its mapping to JD Cloud's wire envelope.
//!
//! Every layer returns `ApiError`; `http::envelope` renders it exactly once as
//! `{"requestId", "error": {"code", "status", "message"}}`. The (code, status) pairs are a
//! compatibility contract: real clients branch on them (Terraform retries on
//! `400 FAILED_PRECONDITION`), so each variant names the JD status it stands for.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    /// 400 INVALID_ARGUMENT: a parameter is missing or malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// 400 OUT_OF_RANGE: a number or size outside its documented range.
    #[error("{0}")]
    OutOfRange(String),
    /// 400 FAILED_PRECONDITION: the resource is in the wrong state or busy.
    #[error("{0}")]
    FailedPrecondition(String),
    /// 400 DUPLICATE: the same name given twice (e.g. a deviceName).
    #[error("{0}")]
    Duplicate(String),
    /// 400 CONFLICT.
    #[error("{0}")]
    Conflict(String),
    /// 401 ACCESS_ERROR: the gateway refused the credentials.
    #[error("{0}")]
    AccessError(String),
    /// 403 PERMISSION_DENIED: the account may not do this (Kiln's own operator APIs).
    #[error("{0}")]
    PermissionDenied(String),
    /// 404 NOT_FOUND: the resource does not exist (or belongs to another account).
    #[error("{0}")]
    NotFound(String),
    /// 404 NOT_FOUND from the gateway: no API matches method and path.
    #[error("no route and no API found with those values")]
    NoRoute,
    /// 413 from the gateway.
    #[error("Payload too large")]
    PayloadTooLarge,
    /// 414 from the gateway: the URI is longer than 8 KB.
    #[error("URI too long")]
    UriTooLong,
    /// 429 from the gateway: the account's per-minute request limit.
    #[error("minute rate limit exceeded, role:ak")]
    RateLimited,
    /// 429 QUOTA_EXCEEDED.
    #[error("{0}")]
    QuotaExceeded(String),
    /// 500 INSUFFICIENT_CAPACITY: the storage cannot hold what the call would write.
    #[error("There is not enough capacity to fulfill your request. You can wait for additional capacity to become available ({0})")]
    InsufficientCapacity(String),
    /// A fault rule's answer (`kiln admin fault add --error CODE:STATUS:MESSAGE`): whatever
    /// code, status and message the operator chose.
    #[error("{message}")]
    Injected {
        code: u16,
        status: String,
        message: String,
    },
    /// 503 from the gateway: the request bodies in memory would pass `--max-inflight-body`.
    #[error("The upstream server is currently unavailable")]
    GatewayUnavailable,
    /// 503 SERVICE UNAVAILABLE (JD's disk documents spell it with a space): the database
    /// could not take the call now (busy or locked past `--db-busy-timeout`, its storage
    /// full, out of connections). Nothing was changed; the same call may succeed later.
    #[error("Service unavailable")]
    ServiceUnavailable(String),
    /// 500 INTERNAL: something broke inside Kiln; the detail is logged, never sent.
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status, also sent as the integer `error.code`.
    pub fn http_code(&self) -> u16 {
        match self {
            ApiError::InvalidArgument(_)
            | ApiError::OutOfRange(_)
            | ApiError::FailedPrecondition(_)
            | ApiError::Duplicate(_)
            | ApiError::Conflict(_) => 400,
            ApiError::AccessError(_) => 401,
            ApiError::PermissionDenied(_) => 403,
            ApiError::NotFound(_) | ApiError::NoRoute => 404,
            ApiError::PayloadTooLarge => 413,
            ApiError::UriTooLong => 414,
            ApiError::RateLimited => 429,
            ApiError::QuotaExceeded(_) => 429,
            ApiError::Internal(_) | ApiError::InsufficientCapacity(_) => 500,
            ApiError::GatewayUnavailable | ApiError::ServiceUnavailable(_) => 503,
            ApiError::Injected { code, .. } => *code,
        }
    }

    /// The symbolic JD status string (`error.status`).
    pub fn jd_status(&self) -> &str {
        match self {
            ApiError::InvalidArgument(_) => "INVALID_ARGUMENT",
            ApiError::OutOfRange(_) => "OUT_OF_RANGE",
            ApiError::FailedPrecondition(_) => "FAILED_PRECONDITION",
            ApiError::Duplicate(_) => "DUPLICATE",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::AccessError(_) => "ACCESS_ERROR",
            ApiError::PermissionDenied(_) => "PERMISSION_DENIED",
            ApiError::NotFound(_) | ApiError::NoRoute => "NOT_FOUND",
            ApiError::PayloadTooLarge => "HTTP_REQUEST_ENTITY_TOO_LARGE",
            ApiError::UriTooLong => "HTTP_URI_TOO_LONG",
            ApiError::RateLimited => "HTTP_RATE_LIMIT_EXCEEDED",
            ApiError::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            ApiError::Internal(_) => "INTERNAL",
            ApiError::InsufficientCapacity(_) => "INSUFFICIENT_CAPACITY",
            ApiError::GatewayUnavailable => "HTTP_SERVICE_UNAVAILABLE",
            ApiError::ServiceUnavailable(_) => "SERVICE UNAVAILABLE",
            ApiError::Injected { status, .. } => status,
        }
    }

    /// The message clients see. Internal details stay in the log, and a value the client
    /// sent is echoed only as a short prefix (see [`cut_echoed_values`]).
    pub fn wire_message(&self) -> String {
        cut_echoed_values(&self.to_string())
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    // Constructors for the messages that several resources share, so the exact
    // wording (including JD's inconsistent trailing dots) lives in one place.
    pub fn invalid_region(region: &str) -> Self {
        ApiError::InvalidArgument(format!("Invalid region '{region}'"))
    }
    pub fn instance_not_found(id: &str) -> Self {
        ApiError::NotFound(format!("Instance '{id}' not found."))
    }
    pub fn disk_not_found(id: &str) -> Self {
        ApiError::NotFound(format!("Disk '{id}' not found"))
    }
    pub fn snapshot_not_found(id: &str) -> Self {
        ApiError::NotFound(format!("Snapshot '{id}' not found"))
    }
    pub fn image_not_found(id: &str) -> Self {
        ApiError::NotFound(format!("Image '{id}' not found"))
    }
    pub fn underlay_conflict(task: &str) -> Self {
        ApiError::FailedPrecondition(format!("Conflict with underlay task {task}"))
    }
    pub fn invalid_instance_status(status: crate::store::InstanceStatus) -> Self {
        ApiError::FailedPrecondition(format!("Invalid instance status {status}"))
    }
    pub fn page_size_out_of_range() -> Self {
        ApiError::OutOfRange("PageSize out of range".into())
    }
}

/// Database errors are classified here, once: "not now" (see [`crate::store::is_transient`])
/// is a 503 the client may retry, a unique key already taken is a conflict (two calls
/// racing for one name or client token), anything else is Kiln's own fault.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if crate::store::is_transient(&e) {
            return ApiError::ServiceUnavailable(format!("database: {e}"));
        }
        if let sqlx::Error::Database(d) = &e {
            if d.is_unique_violation() {
                return ApiError::Conflict("The resource already exists".into());
            }
        }
        ApiError::Internal(format!("database: {e}"))
    }
}

/// A full storage met by a call's own block work is the capacity error a client can act
/// on (wait, or free something); any other block failure is Kiln's.
impl From<crate::block::BlockError> for ApiError {
    fn from(e: crate::block::BlockError) -> Self {
        if e.is_storage_full() {
            return ApiError::InsufficientCapacity("the storage is full".into());
        }
        ApiError::Internal(format!("block: {e}"))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// How much of a value a message echoes back.
const ECHO_MAX_CHARS: usize = 64;
/// The longest run of a message outside quotes (no message of Kiln's own comes near it).
const UNQUOTED_MAX_CHARS: usize = 1024;

/// Messages quote the values they echo (`Invalid image name '…'`); a quoted run longer than
/// [`ECHO_MAX_CHARS`] is cut to that prefix and an ellipsis, so an error never sends back a
/// 12 MB name whole. Cutting on the wire, in one place, covers every message.
pub fn cut_echoed_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(1024));
    for (i, part) in msg.split('\'').enumerate() {
        if i > 0 {
            out.push('\'');
        }
        // Odd parts lie between quotes. An unpaired quote leaves the rest of the message as
        // one part; it is cut all the same.
        if i % 2 == 1 && part.chars().count() > ECHO_MAX_CHARS {
            out.extend(part.chars().take(ECHO_MAX_CHARS));
            out.push('…');
        } else if part.chars().count() > UNQUOTED_MAX_CHARS {
            out.extend(part.chars().take(UNQUOTED_MAX_CHARS));
            out.push('…');
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_storage_is_a_capacity_error_other_block_failures_internal() {
        let full = crate::block::BlockError::Io {
            path: "/x".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let e = ApiError::from(full);
        assert_eq!(
            (e.http_code(), e.jd_status()),
            (500, "INSUFFICIENT_CAPACITY")
        );
        let qemu_full = crate::block::BlockError::Failed {
            command: "qemu-img convert".into(),
            status: "exit status: 1".into(),
            stderr: "qemu-img: error while writing at byte 0: No space left on device".into(),
        };
        assert!(matches!(
            ApiError::from(qemu_full),
            ApiError::InsufficientCapacity(_)
        ));
        let denied = crate::block::BlockError::Io {
            path: "/x".into(),
            source: std::io::Error::from_raw_os_error(libc::EACCES),
        };
        let e = ApiError::from(denied);
        assert_eq!((e.http_code(), e.jd_status()), (500, "INTERNAL"));
    }

    #[test]
    fn failed_precondition_is_400_not_412() {
        let e = ApiError::underlay_conflict("stop");
        assert_eq!(e.http_code(), 400);
        assert_eq!(e.jd_status(), "FAILED_PRECONDITION");
        assert_eq!(e.wire_message(), "Conflict with underlay task stop");
    }

    #[test]
    fn echoed_values_are_cut_to_a_prefix() {
        let long = "n".repeat(12 * 1024 * 1024);
        let msg = ApiError::InvalidArgument(format!("Invalid image name '{long}'")).wire_message();
        assert_eq!(
            msg,
            format!("Invalid image name '{}…'", "n".repeat(ECHO_MAX_CHARS))
        );
        let short = ApiError::InvalidArgument("Invalid image name 'ok'".into());
        assert_eq!(short.wire_message(), "Invalid image name 'ok'");
        // Several quoted values, each cut on its own; an unpaired quote too.
        let two = format!(
            "Invalid snapshot '{}' status '{}'",
            "s".repeat(100),
            "ready"
        );
        assert_eq!(
            cut_echoed_values(&two),
            format!(
                "Invalid snapshot '{}…' status 'ready'",
                "s".repeat(ECHO_MAX_CHARS)
            )
        );
        let unpaired = format!("Invalid name '{}", "x".repeat(5000));
        assert_eq!(
            cut_echoed_values(&unpaired).chars().count(),
            14 + ECHO_MAX_CHARS + 1
        );
        // Wide characters count as characters, and are never split.
        let wide = format!("Invalid image name '{}'", "镜".repeat(100));
        assert_eq!(
            cut_echoed_values(&wide),
            format!("Invalid image name '{}…'", "镜".repeat(ECHO_MAX_CHARS))
        );
    }

    #[test]
    fn internal_detail_is_not_sent() {
        let e = ApiError::internal("disk /secret/path exploded");
        assert_eq!(e.wire_message(), "Internal server error");
        assert_eq!(e.http_code(), 500);
    }

    #[test]
    fn instance_not_found_keeps_trailing_dot() {
        assert_eq!(
            ApiError::instance_not_found("i-x").wire_message(),
            "Instance 'i-x' not found."
        );
        assert_eq!(
            ApiError::image_not_found("img-x").wire_message(),
            "Image 'img-x' not found"
        );
    }
}
