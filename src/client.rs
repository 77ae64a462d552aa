//! A small JD Cloud API client that signs like the official SDKs (JDCLOUD2), for Kiln's own
//! commands (`kiln demo` and the resource subcommands `kiln instance|image|disk|snapshot|quota`
//! and the vpc service's `kiln vpc|subnet|security-group|eip`).

use serde_json::Value;

use crate::signing;

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `http://host:port`
    endpoint: String,
    access_key: String,
    secret_key: String,
    pub region: String,
}

/// An error answer: the JD envelope's fields. A call that got no JD answer at all has
/// status `TRANSPORT`, code 0 and `transport` saying what went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message} (requestId {request_id})")]
pub struct CallError {
    pub code: u16,
    pub status: String,
    pub message: String,
    pub request_id: String,
    pub transport: Option<Transport>,
}

/// Why a call got no JD answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Nothing listens at the endpoint's address.
    Refused,
    /// The host name does not resolve.
    UnknownHost,
    /// No answer within the client's timeout.
    Timeout,
    /// Connecting failed otherwise (unreachable network, TLS, …).
    Connect,
    /// Something answered, but not with a JD Cloud envelope.
    NotJd,
    /// The exchange broke off.
    Other,
}

impl CallError {
    fn transport(kind: Transport, message: String) -> CallError {
        CallError {
            code: 0,
            status: "TRANSPORT".into(),
            message,
            request_id: String::new(),
            transport: Some(kind),
        }
    }

    /// What a failed exchange was, in words: what failed, then the innermost cause from the
    /// error's source chain ("cannot connect to http://127.0.0.1:8700: connection refused").
    fn from_reqwest(e: &reqwest::Error, base: &str) -> CallError {
        let mut io_kind = None;
        let mut innermost: &dyn std::error::Error = e;
        while let Some(next) = innermost.source() {
            if let Some(io) = next.downcast_ref::<std::io::Error>() {
                io_kind = Some(io.kind());
            }
            innermost = next;
        }
        let cause = innermost.to_string();
        let unknown_host = cause.contains("failed to lookup address")
            || cause.contains("Name or service not known");
        use std::io::ErrorKind as K;
        let (kind, what, cause) = if e.is_timeout() || io_kind == Some(K::TimedOut) {
            (
                Transport::Timeout,
                "no answer in time from",
                "timed out".into(),
            )
        } else if io_kind == Some(K::ConnectionRefused) {
            (
                Transport::Refused,
                "cannot connect to",
                "connection refused".into(),
            )
        } else if unknown_host {
            (
                Transport::UnknownHost,
                "cannot connect to",
                "unknown host name".into(),
            )
        } else if e.is_connect() {
            (Transport::Connect, "cannot connect to", cause)
        } else {
            (
                Transport::Other,
                "the exchange with",
                format!("broke off: {cause}"),
            )
        };
        CallError::transport(kind, format!("{what} {base}: {cause}"))
    }
}

impl Client {
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: region.into(),
        }
    }

    /// Sets a per-request timeout (the `jdc` profile's `timeout`, in seconds there).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Client {
        self.http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        self
    }

    /// The endpoint, as given (`http://127.0.0.1:8700`, `https://vm.jdcloud-api.com`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `scheme://host[:port]` for `service`. Kiln serves every service on one listener; JD
    /// Cloud has one host per service, so an endpoint on `jdcloud-api.com` (`www.`, `vm.`,
    /// `disk.` or `vpc.`, as the `jdc` CLI and the SDKs write it) becomes
    /// `{service}.jdcloud-api.com`.
    pub fn base_url(&self, service: &str) -> String {
        let (scheme, host) = self
            .endpoint
            .split_once("://")
            .unwrap_or(("https", &self.endpoint));
        // The Host header leaves out a default port, so the signed host must too.
        let host = match scheme {
            "https" => host.strip_suffix(":443").unwrap_or(host),
            _ => host.strip_suffix(":80").unwrap_or(host),
        };
        let jd = ["www.", "vm.", "disk.", "vpc.", ""]
            .iter()
            .any(|p| host == format!("{p}jdcloud-api.com"));
        if jd {
            format!("{scheme}://{service}.jdcloud-api.com")
        } else {
            format!("{scheme}://{host}")
        }
    }

    /// Calls `METHOD /v1/regions/{region}{path}?{query}` on `service` (`vm`, `disk`, `vpc`) and
    /// returns the `result` object (or `null` for actions without one).
    pub async fn call(
        &self,
        service: &str,
        method: reqwest::Method,
        path: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        let full_path = format!("/v1/regions/{}{}", self.region, path);
        self.send(service, method, &full_path, query, body).await
    }

    /// Calls Kiln's own API for a running guest of this region:
    /// `METHOD /kiln/v1/regions/{region}/instances/{instance_id}/{verb}` (see
    /// `http::kiln_guest`); the `result` object.
    pub async fn guest_call(
        &self,
        method: reqwest::Method,
        instance_id: &str,
        verb: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        let full_path = format!(
            "/kiln/v1/regions/{}/instances/{instance_id}/{verb}",
            self.region
        );
        self.send("vm", method, &full_path, query, body).await
    }

    /// Signs and sends one request to `full_path`; the `result` object.
    async fn send(
        &self,
        service: &str,
        method: reqwest::Method,
        full_path: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        let body_bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let base = self.base_url(service);
        let host = base.split("://").nth(1).unwrap_or(&base).to_string();
        let headers = signing::sign_headers(
            &self.access_key,
            &self.secret_key,
            service,
            &self.region,
            method.as_str(),
            &host,
            full_path,
            query,
            &body_bytes,
        );
        // `:action` is sent as `%3A`, as the Go SDK sends it (both forms sign the same).
        let sent_path = full_path.replace(':', "%3A");
        let url = if query.is_empty() {
            format!("{base}{sent_path}")
        } else {
            format!("{base}{sent_path}?{query}")
        };
        let mut req = self.http.request(method, url).body(body_bytes);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let transport = |e: reqwest::Error| CallError::from_reqwest(&e, &base);
        let resp = req.send().await.map_err(transport)?;
        let http_status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            CallError::transport(
                Transport::NotJd,
                format!(
                    "{base} answered HTTP {http_status} with no JD Cloud response (not JSON: {e})"
                ),
            )
        })?;
        if let Some(e) = v.get("error") {
            return Err(CallError {
                code: e["code"].as_u64().unwrap_or(0) as u16,
                status: e["status"].as_str().unwrap_or("").into(),
                message: e["message"].as_str().unwrap_or("").into(),
                request_id: v["requestId"].as_str().unwrap_or("").into(),
                transport: None,
            });
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }

    pub async fn get(&self, service: &str, path: &str, query: &str) -> Result<Value, CallError> {
        self.call(service, reqwest::Method::GET, path, query, None)
            .await
    }

    pub async fn post(&self, service: &str, path: &str, body: &Value) -> Result<Value, CallError> {
        self.call(service, reqwest::Method::POST, path, "", Some(body))
            .await
    }

    pub async fn delete(&self, service: &str, path: &str, query: &str) -> Result<Value, CallError> {
        self.call(service, reqwest::Method::DELETE, path, query, None)
            .await
    }

    /// JD's modify* of disks, snapshots and vpc resources.
    pub async fn patch(&self, service: &str, path: &str, body: &Value) -> Result<Value, CallError> {
        self.call(service, reqwest::Method::PATCH, path, "", Some(body))
            .await
    }
}
