//! Memory stays bounded whatever clients send: credentials are checked before a body is
//! read, bodies in memory are capped server-wide (`--max-inflight-body`), and error
//! messages echo only a prefix of what was sent.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

const MIB: u64 = 1024 * 1024;
const BIG: usize = 90 * 1000 * 1000;

/// Sends one POST with `body` as fast as the server takes it, reading the answer while
/// it writes (a server that answers early and closes may reset the connection: status 0
/// then). `expect_continue` sends `Expect: 100-continue` and the body only if asked for.
async fn post_body(
    s: &Server,
    path: &str,
    body: Arc<Vec<u8>>,
    signed: bool,
    expect_continue: bool,
) -> u16 {
    let host = format!("127.0.0.1:{}", s.port());
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !signed {
        head.push_str("Content-Type: application/json\r\n");
    } else {
        for (k, v) in kiln::signing::sign_headers(
            &s.access_key,
            &s.secret_key,
            "vm",
            REGION,
            "POST",
            &host,
            path,
            "",
            &body,
        ) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if expect_continue {
        head.push_str("Expect: 100-continue\r\n");
    }
    head.push_str("\r\n");
    let stream = TcpStream::connect(&host).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match tokio::time::timeout(WAIT, rd.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => {
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    // A final answer (not 100 Continue) with its whole JSON body.
                    if let Some(code) = final_status(&text) {
                        return (code, true);
                    }
                    if text.starts_with("HTTP/1.1 100") && !text.contains("\r\n\r\nHTTP/") {
                        continue;
                    }
                }
                _ => {
                    return (
                        final_status(&String::from_utf8_lossy(&buf)).unwrap_or(0),
                        false,
                    )
                }
            }
        }
    });
    // The writer keeps its half open until the answer is in: hyper closes a connection
    // whose client has shut down its side.
    let writer = tokio::spawn(async move {
        if wr.write_all(head.as_bytes()).await.is_err() {
            return wr;
        }
        if expect_continue {
            // The body goes only after 100 Continue, which never comes when the server
            // answers from the headers.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        for piece in body.chunks(1 << 20) {
            if wr.write_all(piece).await.is_err() {
                break;
            }
        }
        wr
    });
    let (code, _) = reader.await.unwrap();
    let _ = writer.await;
    code
}

/// The status of the last complete non-100 response in `text`, once its body is in.
fn final_status(text: &str) -> Option<u16> {
    let start = text.rfind("HTTP/1.1 ")?;
    let resp = &text[start..];
    let code: u16 = resp.get(9..12)?.parse().ok()?;
    if code == 100 {
        return None;
    }
    let body = resp.split_once("\r\n\r\n")?.1;
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .map(|_| code)
}

#[tokio::test]
async fn sixteen_90_mb_bodies_signed_and_unsigned_keep_memory_bounded() {
    let s = Server::start(&[]).await;
    let target = path("instances/i-none:createImage");
    let body = Arc::new(vec![b' '; BIG]);
    let before = s.peak_rss();
    let sends = (0..16).map(|i| {
        let (s, target, body) = (&s, target.clone(), body.clone());
        async move { post_body(s, &target, body, i % 2 == 0, false).await }
    });
    let codes = futures_util::future::join_all(sends).await;
    let peak = s.peak_rss();
    assert!(
        peak < 200 * MIB,
        "peak RSS {} MiB (before {} MiB); answers {codes:?}",
        peak / MIB,
        before / MIB
    );
    // Answered from the headers (or cut off): never read and then refused.
    for (i, code) in codes.iter().enumerate() {
        let want = if i % 2 == 0 { 503 } else { 401 };
        assert!(
            *code == want || *code == 0,
            "request {i}: {code} (want {want}): {codes:?}"
        );
    }
    // The server is fine afterwards.
    s.get(&path("instances")).await.ok();
}

#[tokio::test]
async fn refusals_come_from_the_headers_before_the_body() {
    let s = Server::start(&[]).await;
    let path = path("instances/i-none:createImage");
    // Expect: 100-continue: a server that answers from the headers never asks for the body.
    let big = Arc::new(vec![b' '; 64 << 20]);
    assert_eq!(post_body(&s, &path, big.clone(), false, true).await, 401);
    assert_eq!(post_body(&s, &path, big, true, true).await, 503);
    // Within the budget the body is read, hashed as it streams and checked.
    let small = Arc::new(br#"{"name": "ok"}"#.to_vec());
    assert_eq!(post_body(&s, &path, small, true, true).await, 404);
}

#[tokio::test]
async fn a_body_past_a_raised_budget_is_still_read_and_echoed_values_are_cut() {
    let s = Server::start(&["--max-inflight-body", "64MiB"]).await;
    // A 12 MB image name: read (the budget allows it), refused, echoed as a prefix.
    let r = s
        .post(
            &path("instances/i-none:createImage"),
            json!({"name": "n".repeat(12 * 1024 * 1024)}),
        )
        .await;
    r.err(
        400,
        "INVALID_ARGUMENT",
        &format!("Invalid image name '{}…'", "n".repeat(64)),
    );
}
