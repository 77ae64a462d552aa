//! `clientToken`: a retried create returns the first call's result and creates nothing.
//! Results are kept per account, region and operation; the lookup runs inside the
//! create's own write transaction, so two racing retries cannot both create.

use super::{spec, Scope};
use crate::error::{ApiError, ApiResult};
use crate::store::{token, Db};

/// A client token is 1–64 characters.
pub fn check_token(token: Option<&str>) -> ApiResult<()> {
    match token {
        Some(t) if !spec::client_token_ok(t) => Err(ApiError::InvalidArgument(format!(
            "Malformed client token '{t}'"
        ))),
        _ => Ok(()),
    }
}

/// The recorded result of an earlier call with this token, if any.
pub async fn replay(
    conn: &mut Db,
    scope: &Scope,
    op: &str,
    token: Option<&str>,
) -> ApiResult<Option<String>> {
    match token {
        Some(t) => Ok(token::token_get(conn, &scope.pin, &scope.region, op, t).await?),
        None => Ok(None),
    }
}

/// Records the result of this call under its token (no-op without one).
pub async fn remember(
    conn: &mut Db,
    scope: &Scope,
    op: &str,
    token: Option<&str>,
    result: &str,
) -> ApiResult<()> {
    if let Some(t) = token {
        token::token_put(conn, &scope.pin, &scope.region, op, t, result).await?;
    }
    Ok(())
}
