//! The gateway in front of every API: signatures bound to every signed byte, freshness,
//! nonce replay, body/URI limits and the per-account rate limit.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

struct Raw {
    method: &'static str,
    path: String,
    query: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

/// A request signed like the Go SDK, at `timestamp` with `nonce`.
fn signed(
    s: &Server,
    method: &'static str,
    path: &str,
    query: &str,
    body: &[u8],
    timestamp: &str,
    nonce: &str,
) -> Raw {
    let host = format!("127.0.0.1:{}", s.port());
    let service = if path.contains("/disks") || path.contains("/snapshots") {
        "disk"
    } else {
        "vm"
    };
    let headers = kiln::signing::sign_headers_at(
        &s.access_key,
        &s.secret_key,
        service,
        REGION,
        method,
        &host,
        path,
        query,
        body,
        timestamp,
        nonce,
    );
    Raw {
        method,
        path: path.into(),
        query: query.into(),
        body: body.to_vec(),
        headers,
    }
}

fn now_stamp(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs))
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

fn nonce() -> String {
    kiln::ids::random_suffix(24)
}

async fn send(s: &Server, r: &Raw) -> (u16, Value) {
    let url = if r.query.is_empty() {
        format!("http://127.0.0.1:{}{}", s.port(), r.path)
    } else {
        format!("http://127.0.0.1:{}{}?{}", s.port(), r.path, r.query)
    };
    let mut req = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(r.method.as_bytes()).unwrap(),
            url,
        )
        .body(r.body.clone());
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn assert_access_error(got: &(u16, Value), what: &str) {
    assert_eq!(got.0, 401, "{what}: {}", got.1);
    assert_eq!(
        got.1["error"]["status"], "ACCESS_ERROR",
        "{what}: {}",
        got.1
    );
    assert_eq!(got.1["error"]["code"], 401, "{what}");
}

#[tokio::test]
async fn every_signed_byte_counts() {
    let s = Server::start(&[]).await;
    let path = format!("/v1/regions/{REGION}/disks");
    let body = json!({"diskSpec": {"az": AZ, "name": "g1", "diskType": "ssd.gp1", "diskSizeGB": 20}, "maxCount": 1})
        .to_string()
        .into_bytes();
    let ts = now_stamp(0);

    // Each variant: sign one request, then change exactly one signed thing.
    let mut body_changed = signed(&s, "POST", &path, "", &body, &ts, &nonce());
    let at = body_changed.body.len() - 2;
    body_changed.body[at] = b'2';
    assert_access_error(&send(&s, &body_changed).await, "body changed");

    let mut path_changed = signed(
        &s,
        "GET",
        &format!("/v1/regions/{REGION}/disks"),
        "pageSize=10",
        b"",
        &ts,
        &nonce(),
    );
    path_changed.path = format!("/v1/regions/{REGION}/snapshots");
    assert_access_error(&send(&s, &path_changed).await, "path changed");

    let mut query_changed = signed(&s, "GET", &path, "pageSize=10", b"", &ts, &nonce());
    query_changed.query = "pageSize=11".into();
    assert_access_error(&send(&s, &query_changed).await, "query changed");

    let mut header_changed = signed(&s, "GET", &path, "", b"", &ts, &nonce());
    for (k, v) in &mut header_changed.headers {
        if k == "x-jdcloud-nonce" {
            v.push('x');
        }
    }
    assert_access_error(&send(&s, &header_changed).await, "signed header changed");

    let mut date_changed = signed(&s, "GET", &path, "", b"", &ts, &nonce());
    for (k, v) in &mut date_changed.headers {
        if k == "x-jdcloud-date" {
            *v = now_stamp(-1);
        }
    }
    assert_access_error(&send(&s, &date_changed).await, "date changed");

    // The untouched request is accepted, exactly once.
    let good = signed(&s, "POST", &path, "", &body, &ts, &nonce());
    let first = send(&s, &good).await;
    assert_eq!(first.0, 200, "{}", first.1);
    let replay = send(&s, &good).await;
    assert_access_error(&replay, "replayed nonce");
    assert_eq!(
        replay.1["error"]["message"],
        "x-jdcloud-nonce has already been used"
    );
    // The replay created nothing.
    let disks = s.get(&format!("{path}?pageSize=10")).await;
    assert_eq!(disks.ok()["totalCount"], 1);
}

#[tokio::test]
async fn stale_and_future_dates_are_refused() {
    let s = Server::start(&["--auth-skew", "5m"]).await;
    let path = format!("/v1/regions/{REGION}/instances");
    for offset in [-6 * 60, 6 * 60, -24 * 3600] {
        let r = signed(&s, "GET", &path, "", b"", &now_stamp(offset), &nonce());
        let got = send(&s, &r).await;
        assert_access_error(&got, "date out of window");
        assert!(
            got.1["error"]["message"]
                .as_str()
                .unwrap()
                .contains("300 seconds"),
            "{}",
            got.1
        );
    }
    let r = signed(&s, "GET", &path, "", b"", &now_stamp(-4 * 60), &nonce());
    assert_eq!(send(&s, &r).await.0, 200);
}

async fn raw_http(port: u16, request: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn body_and_uri_limits() {
    let s = Server::start(&[]).await;
    let (status, body) = raw_http(
        s.port(),
        &format!(
            "POST /v1/regions/{REGION}/disks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: 104857601\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["status"], "HTTP_REQUEST_ENTITY_TOO_LARGE");
    assert_eq!(v["error"]["code"], 413);

    let long = format!("/v1/regions/{REGION}/instances?x={}", "a".repeat(9000));
    let (status, body) = raw_http(
        s.port(),
        &format!("GET {long} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 414, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["status"], "HTTP_URI_TOO_LONG");
    assert!(v["requestId"].as_str().is_some_and(|r| r.len() == 32));
}

#[tokio::test]
async fn rate_limit_per_account() {
    let s = Server::start(&["--rate-limit", "3"]).await;
    let path = format!("/v1/regions/{REGION}/instances");
    for _ in 0..3 {
        s.get(&path).await.ok();
    }
    let r = s.get(&path).await;
    r.err(
        429,
        "HTTP_RATE_LIMIT_EXCEEDED",
        "minute rate limit exceeded, role:ak",
    );
}
