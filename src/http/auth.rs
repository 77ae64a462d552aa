//! The gateway's signature check: which account is calling, proven by its secret key.

use axum::http::request::Parts;

use crate::error::{ApiError, ApiResult};
use crate::service::AccountRow;
use crate::service::Service;
use crate::signing::{self, Canonical, Scope};

const NOT_SAME: &str = "sign result is not same [gw]";

fn access_error(msg: impl Into<String>) -> ApiError {
    ApiError::AccessError(msg.into())
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// What the headers alone prove: a well-formed Authorization of a known, enabled account,
/// signed within the skew, with a nonce not seen yet. Checked before the body is read, so a
/// request without credentials costs no memory for its body.
pub struct Credentials<'p> {
    parts: &'p Parts,
    auth: signing::Authorization,
    timestamp: &'p str,
    signed: i64,
    account: AccountRow,
}

impl<'p> Credentials<'p> {
    pub async fn check(
        svc: &Service,
        gateway: &super::gateway::Gateway,
        parts: &'p Parts,
    ) -> ApiResult<Credentials<'p>> {
        let raw = header(parts, "authorization")
            .ok_or_else(|| access_error("lack of header authorization"))?;
        let auth = signing::parse_authorization(raw).map_err(|e| access_error(e.to_string()))?;
        let timestamp = header(parts, "x-jdcloud-date")
            .ok_or_else(|| access_error("lack of header x-jdcloud-date"))?;
        let signed = gateway.check_fresh(timestamp)?;
        let account = svc
            .account_by_access_key(&auth.access_key)
            .await?
            .filter(|a| !a.disabled)
            .ok_or_else(|| access_error("Invalid accessKey"))?;
        if let Some(nonce) = header(parts, "x-jdcloud-nonce") {
            gateway.precheck_nonce(&auth.access_key, nonce, signed)?;
        }
        Ok(Credentials {
            parts,
            auth,
            timestamp,
            signed,
            account,
        })
    }

    /// The account whose rate limit the request counts against.
    pub fn pin(&self) -> &str {
        &self.account.pin
    }

    /// Verifies the signature over the request and its body (by the body's SHA-256) and
    /// returns the calling account. Accepts every official SDK's canonical form (spec
    /// §2.3): the client's own `SignedHeaders`, the encoded (`%3A`) or the raw path,
    /// trimmed or collapsed header values.
    pub async fn verify(
        self,
        gateway: &super::gateway::Gateway,
        body_hash: &str,
    ) -> ApiResult<AccountRow> {
        let Credentials {
            parts,
            auth,
            timestamp,
            signed,
            account,
        } = self;
        if let Some(claimed) = header(parts, "x-jdcloud-content-sha256") {
            // The SDK's own hash must describe the body actually sent.
            if !claimed.trim().eq_ignore_ascii_case(body_hash) {
                return Err(access_error(NOT_SAME));
            }
        }
        if auth.terminator != auth.algorithm.terminator() {
            return Err(access_error(NOT_SAME));
        }
        let path = parts.uri.path();
        let query = parts.uri.query().unwrap_or("");
        let scope = Scope {
            algorithm: auth.algorithm,
            date: &auth.date,
            timestamp,
            region: &auth.region,
            service: &auth.service,
        };
        let uris = [signing::canonical_uri(path), path.to_string()];
        for collapse in [false, true] {
            let headers: Vec<(String, String)> = auth
                .signed_headers
                .iter()
                .map(|name| {
                    let values: Vec<&str> = parts
                        .headers
                        .get_all(name.as_str())
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .collect();
                    (
                        name.clone(),
                        signing::canonical_header_value(&values.join(","), collapse),
                    )
                })
                .collect();
            for keep_bare in [false, true] {
                let q = signing::canonical_query(query, keep_bare);
                for uri in &uris {
                    let c = Canonical {
                        method: parts.method.as_str(),
                        uri,
                        query: &q,
                        headers: &headers,
                        payload_hash: body_hash,
                    };
                    let expected = signing::signature(&account.secret_key, &scope, &c.request());
                    if signing::signatures_equal(&expected, &auth.signature) {
                        // Only a verified request spends its nonce (no one else can burn it).
                        if let Some(nonce) = header(parts, "x-jdcloud-nonce") {
                            gateway.claim_nonce(&auth.access_key, nonce, signed).await?;
                        }
                        return Ok(account);
                    }
                }
            }
        }
        Err(access_error(NOT_SAME))
    }
}
