//! The wire: JD Cloud paths, parameters and envelopes. Handlers parse, call one service
//! method, and render the result; they know no rules and open no transactions.

mod auth;
mod body;
mod console;
pub mod endpoint;
pub mod gateway;
mod handlers;
mod kiln_api;
mod kiln_guest;
pub mod openapi;
pub mod params;
mod schema;
pub mod views;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::service::fault::OnCall;
use crate::service::{catalog, Scope, Service};
use endpoint::{access_key_from_authorization, service_from_authorization, Route, ServiceName};
use params::Params;

/// The gateway's body limit (100 MB).
pub const MAX_BODY: usize = 100 * 1024 * 1024;
/// The gateway's URI limit (8 KB).
pub const MAX_URI: usize = 8 * 1024;

/// What every request handler shares.
pub struct AppState {
    pub service: Service,
    /// False only with `--no-auth`: requests act as the first account, unsigned.
    pub verify_signatures: bool,
    pub gateway: gateway::Gateway,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { (StatusCode::OK, "ok\n") }).fallback(dispatch),
        )
        .route("/openapi.json", get(openapi::serve).fallback(dispatch))
        // The web console's static files: unsigned, embedded in the binary.
        .route("/console", get(console::redirect))
        .route("/console/", get(console::index))
        .route("/console/{*path}", get(console::file))
        .fallback(dispatch)
        .with_state(state)
}

/// What a handler answers: a `result` (its result struct, serialized straight to JSON
/// without a `Value` tree), or nothing (actions like stopInstance).
pub enum Reply {
    Serialized(String),
    Empty,
}

impl Reply {
    pub fn serialize(result: &impl serde::Serialize) -> ApiResult<Reply> {
        serde_json::to_string(result)
            .map(Reply::Serialized)
            .map_err(ApiError::internal)
    }

    /// A describe* list: `{"<key>": [items…], "totalCount": total}`, serialized straight
    /// from the items.
    pub fn list<T: serde::Serialize>(
        key: &'static str,
        items: Vec<T>,
        total: i64,
    ) -> ApiResult<Reply> {
        struct List<T> {
            key: &'static str,
            items: Vec<T>,
            total: i64,
        }
        impl<T: serde::Serialize> serde::Serialize for List<T> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry(self.key, &self.items)?;
                m.serialize_entry("totalCount", &self.total)?;
                m.end()
            }
        }
        Reply::serialize(&List { key, items, total })
    }
}

/// A request as handlers see it.
pub struct Call {
    pub scope: Scope,
    pub params: Params,
}

async fn dispatch(State(state): State<Arc<AppState>>, req: Request) -> Response {
    use futures_util::FutureExt;
    let request_id = ids::request_id();
    // A bug that panics inside one request answers that request 500 INTERNAL (JD's
    // envelope, logged) instead of dropping the connection without a word.
    let outcome = std::panic::AssertUnwindSafe(handle(&state, req, &request_id))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(ApiError::Internal(format!("panic: {what}")))
        });
    match &outcome {
        Err(ApiError::Internal(detail)) => tracing::error!(%request_id, "internal error: {detail}"),
        Err(ApiError::ServiceUnavailable(detail)) => {
            tracing::warn!(%request_id, "refused for now: {detail}")
        }
        _ => {}
    }
    envelope(&request_id, outcome)
}

async fn handle(state: &AppState, req: Request, request_id: &str) -> ApiResult<Reply> {
    let svc = &state.service;
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    if parts.uri.to_string().len() > MAX_URI {
        return Err(ApiError::UriTooLong);
    }
    let declared_length = header_str(headers, header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let auth = header_str(headers, header::AUTHORIZATION.as_str());
    let query = parts.uri.query().unwrap_or("");
    let mut params = Params::from_query(query);
    let service_name = auth
        .and_then(service_from_authorization)
        .or_else(|| params.has("type").then_some(ServiceName::Disk));
    let target = match kiln_api::KilnEndpoint::parse(parts.method.as_str(), parts.uri.path()) {
        Some(kiln) => Target::Kiln(kiln),
        None => Target::Jd(
            Route::parse(parts.method.as_str(), parts.uri.path(), service_name)
                .ok_or(ApiError::NoRoute)?,
        ),
    };
    // Everything the headers can prove is checked before the body is read.
    let credentials = if state.verify_signatures {
        let credentials = auth::Credentials::check(svc, &state.gateway, &parts).await?;
        state.gateway.check_rate(credentials.pin())?;
        Some(credentials)
    } else {
        None
    };
    let body = state
        .gateway
        .bodies
        .read(body, declared_length, MAX_BODY)
        .await?;
    let account = match credentials {
        Some(credentials) => credentials.verify(&state.gateway, &body.sha256_hex).await?,
        None => {
            let account = svc
                .account_for_key(auth.and_then(access_key_from_authorization))
                .await?
                .ok_or_else(|| ApiError::AccessError("Invalid accessKey".into()))?;
            state.gateway.check_rate(&account.pin)?;
            account
        }
    };
    let route = match target {
        Target::Kiln(kiln) => {
            return kiln_api::handle(svc, kiln, &account, query, &body.bytes).await
        }
        Target::Jd(route) => route,
    };
    if parts.method == Method::POST || parts.method == Method::PATCH {
        // The JSON body wins; the query may carry extras some clients add.
        let mut from_body = Params::from_json(&body.bytes)?;
        from_body.merge_missing(params);
        params = from_body;
    }
    catalog::check_region(&route.region)?;
    let call = Call {
        scope: Scope {
            pin: account.pin,
            region: route.region.clone(),
        },
        params,
    };
    let fired = svc
        .fault_for_call(route.endpoint.action(), &call.scope.region, &call.scope.pin)
        .await?;
    let Some(fired) = fired else {
        return handlers::handle(svc, route.endpoint, call).await;
    };
    tracing::warn!(
        %request_id,
        fault_id = %fired.fault_id,
        operation = route.endpoint.action(),
        "injected fault: {:?}",
        fired.effect
    );
    match fired.effect.on_call() {
        OnCall::Fail(e) => Err(e),
        OnCall::Delay(d) => {
            tokio::time::sleep(d).await;
            handlers::handle(svc, route.endpoint, call).await
        }
        OnCall::Tasks(fault) => {
            crate::tasks::with_injected_fault(fault, handlers::handle(svc, route.endpoint, call))
                .await
        }
    }
}

/// What a request is for: one of JD's APIs, or Kiln's own (`/kiln/v1/…`).
enum Target {
    Jd(Route),
    Kiln(kiln_api::KilnEndpoint),
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The one place an `ApiError` becomes bytes on the wire.
fn envelope(request_id: &str, outcome: ApiResult<Reply>) -> Response {
    let (status, body) = match outcome {
        Ok(Reply::Serialized(result)) => (
            200,
            format!(
                "{{\"requestId\":{},\"result\":{result}}}",
                Value::from(request_id)
            ),
        ),
        Ok(Reply::Empty) => (200, json!({"requestId": request_id}).to_string()),
        Err(e) => (
            e.http_code(),
            json!({
                "requestId": request_id,
                "error": {"code": e.http_code(), "status": e.jd_status(), "message": e.wire_message()},
            })
            .to_string(),
        ),
    };
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-jdcloud-request-id", v);
    }
    resp
}
