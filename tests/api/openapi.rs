//! The OpenAPI document: what `GET /openapi.json` serves is exactly the checked-in
//! `openapi/kiln.json`, so a change to the API surface that is not regenerated fails here.

use reqwest::Method;
use serde_json::Value;

use crate::harness::*;

const CHECKED_IN: &str = "openapi/kiln.json";
/// `cargo test` has built the binary already.
const REGENERATE: &str = "target/debug/kiln admin openapi > openapi/kiln.json";

async fn fetch(s: &Server) -> (u16, Option<String>, String) {
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/openapi.json", s.port()))
        .send()
        .await
        .expect("GET /openapi.json");
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, ctype, r.text().await.expect("body"))
}

/// The first JSON pointer at which two values differ, for a readable failure.
fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => first_difference(p, q, here),
                    _ => Some(here),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, format!("{at}/{i}"))),
        _ => (a != b).then_some(if at.is_empty() { "/".into() } else { at }),
    }
}

#[tokio::test]
async fn served_document_equals_the_checked_in_file() {
    // Signatures on: the document needs none.
    let s = Server::start(&[]).await;
    let (status, ctype, text) = fetch(&s).await;
    assert_eq!(status, 200, "GET /openapi.json: {text}");
    assert_eq!(ctype.as_deref(), Some("application/json"));
    let served: Value = serde_json::from_str(&text).expect("/openapi.json is JSON");
    assert_eq!(served["openapi"], "3.0.3");

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CHECKED_IN);
    let file = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nCreate it with: {REGENERATE}",
            path.display()
        )
    });
    let checked_in: Value = serde_json::from_str(&file).unwrap_or_else(|e| {
        panic!("{CHECKED_IN} is not JSON ({e})\nRegenerate it with: {REGENERATE}")
    });
    assert!(
        served == checked_in,
        "{CHECKED_IN} is out of date with what the server serves at /openapi.json \
         (first difference at {}).\nRegenerate it with: {REGENERATE}",
        first_difference(&served, &checked_in, String::new()).unwrap_or_default()
    );
}

#[tokio::test]
async fn every_jd_operation_is_documented_with_the_envelopes() {
    let s = Server::start(&[]).await;
    let (_, _, text) = fetch(&s).await;
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut ids = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ids.push(op["operationId"].as_str().unwrap().to_string());
            if !path.starts_with("/v1/regions/{regionId}/") {
                assert_eq!(op["security"], serde_json::json!([]), "{method} {path}");
                continue;
            }
            for code in ["200", "400", "401", "404", "413", "414", "429", "500"] {
                assert!(
                    op["responses"].get(code).is_some(),
                    "{method} {path} lacks {code}"
                );
            }
        }
    }
    ids.sort();
    // The README's list, plus imageTasks/importImage/exportImage and Kiln's own two.
    for id in [
        "createInstances",
        "describeInstances",
        "describeInstance",
        "startInstance",
        "stopInstance",
        "rebootInstance",
        "deleteInstance",
        "attachDisk",
        "detachDisk",
        "createImage",
        "describeImages",
        "describeImage",
        "deleteImage",
        "importImage",
        "exportImage",
        "imageTasks",
        "describeQuotas",
        "createDisks",
        "describeDisks",
        "describeDisk",
        "deleteDisk",
        "createSnapshot",
        "describeSnapshots",
        "describeSnapshot",
        "deleteSnapshot",
        "healthz",
        "openapi",
    ] {
        assert!(ids.binary_search(&id.to_string()).is_ok(), "{id} missing");
    }
    // disk describeQuota shares GET /quotas with vm describeQuotas.
    let quotas = &doc["paths"]["/v1/regions/{regionId}/quotas"]["get"]["x-jdcloud"];
    assert!(quotas.to_string().contains("describeQuota\""), "{quotas}");
}

#[tokio::test]
async fn other_methods_on_kiln_paths_answer_the_jd_404() {
    let s = Server::start(&[]).await;
    for path in ["/openapi.json", "/healthz"] {
        let r = s
            .send_with(Method::POST, path, Some(b"{}".to_vec()), Auth::Unsigned)
            .await;
        r.err(
            404,
            "NOT_FOUND",
            "no route and no API found with those values",
        );
    }
}
