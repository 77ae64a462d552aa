//! Requests signed by the official Rust crate `jdcloud_signer` 0.1.0 (spec §2.3, §2.5) are
//! accepted: JDCLOUD2, `SignedHeaders=content-type;x-jdcloud-date;x-jdcloud-nonce` (no
//! `host`), the raw path with its `:action` unencoded, trim-and-collapse header values.
//! The crate signs an `http` 0.1 request; its headers are copied onto a reqwest request.
//! Changing any signed byte afterwards (body, path, query, a signed header, the date) gets
//! 401 ACCESS_ERROR.

use http01 as http;
use jdcloud_signer::{Credential, Signer};
use serde_json::{json, Value};

use crate::harness::*;

const NOT_SAME: &str = "sign result is not same [gw]";

/// `method path_and_query` with `body`, signed by `jdcloud_signer` for `service` in
/// `region`, with `content-type: application/json` as the SDK clients send it.
fn sign(
    s: &Server,
    service: &str,
    region: &str,
    method: &str,
    path_and_query: &str,
    body: &str,
) -> http::Request<String> {
    let signer = Signer::new(Credential::new(AK, SK), service, region);
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{}{path_and_query}", s.port()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .expect("http 0.1 request");
    signer.sign_request(&mut req).expect("jdcloud_signer signs");
    req
}

/// What the signer produced, to be sent as is or with one thing changed.
struct Signed {
    method: String,
    path_and_query: String,
    body: String,
    headers: Vec<(String, String)>,
}

impl Signed {
    fn of(req: &http::Request<String>) -> Signed {
        Signed {
            method: req.method().as_str().to_string(),
            path_and_query: req
                .uri()
                .path_and_query()
                .expect("path")
                .as_str()
                .to_string(),
            body: req.body().clone(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
                .collect(),
        }
    }

    fn header(&self, name: &str) -> &str {
        &self
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .1
    }

    fn with_header(mut self, name: &str, value: &str) -> Signed {
        for (k, v) in &mut self.headers {
            if k == name {
                *v = value.to_string();
            }
        }
        self
    }

    /// Sends it with reqwest; returns the HTTP status and the JSON body.
    async fn send(&self, s: &Server) -> (u16, Value) {
        let url = format!("http://127.0.0.1:{}{}", s.port(), self.path_and_query);
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap();
        let mut req = reqwest::Client::new().request(method, url);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if !self.body.is_empty() {
            req = req.body(self.body.clone());
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("HTTP {status}, not JSON ({e}): {text:?}"));
        (status, body)
    }
}

#[track_caller]
fn assert_refused((status, body): &(u16, Value), what: &str) {
    assert_eq!(*status, 401, "{what}: {body}");
    assert_eq!(
        body["error"],
        json!({"code": 401, "status": "ACCESS_ERROR", "message": NOT_SAME}),
        "{what}"
    );
    assert!(body.get("result").is_none(), "{what}: {body}");
}

/// Changes one character: the first `from` after byte `at_or_after` becomes `to`.
fn one_byte(s: &str, from: char, to: char, at_or_after: usize) -> String {
    let i = at_or_after + s[at_or_after..].find(from).expect("char to change");
    let mut out = s.to_string();
    out.replace_range(i..i + from.len_utf8(), &to.to_string());
    out
}

/// `x-jdcloud-date` one second later (still fresh, so only the signature can object).
fn a_second_later(stamp: &str) -> String {
    let t = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").expect("date");
    (t + chrono::Duration::seconds(1))
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

#[tokio::test]
async fn signed_by_the_official_rust_crate_is_accepted() {
    let s = Server::start(&[]).await;
    let mut spec = instance_spec("signed-by-rust");
    spec["systemDisk"] = json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let inst = s.launch(spec).await;

    // GET describeInstances with a query.
    let list = format!("/v1/regions/{REGION}/instances?pageNumber=1&pageSize=10");
    let req = sign(&s, "vm", REGION, "GET", &list, "");
    let auth = req.headers()["authorization"].to_str().unwrap().to_string();
    assert!(
        auth.starts_with(&format!("JDCLOUD2-HMAC-SHA256 Credential={AK}/"))
            && auth.contains("/vm/jdcloud2_request, ")
            && auth.contains("SignedHeaders=content-type;x-jdcloud-date;x-jdcloud-nonce, "),
        "the crate signs as documented (no host): {auth}"
    );
    let (status, body) = Signed::of(&req).send(&s).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["totalCount"], 1, "{body}");
    assert_eq!(body["result"]["instances"][0]["instanceId"], inst.as_str());

    // The disk service (its own signing service name).
    let disks = format!("/v1/regions/{REGION}/disks");
    let (status, body) = Signed::of(&sign(&s, "disk", REGION, "GET", &disks, ""))
        .send(&s)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["totalCount"], 1, "the system disk: {body}");

    // POST createImage: the `:createImage` path signed raw, as the crate does.
    let create = format!("/v1/regions/{REGION}/instances/{inst}:createImage");
    let req = sign(
        &s,
        "vm",
        REGION,
        "POST",
        &create,
        r#"{"name":"rust-signed"}"#,
    );
    assert_eq!(req.uri().path(), create, "the crate keeps ':' raw");
    let (status, body) = Signed::of(&req).send(&s).await;
    assert_eq!(status, 200, "{body}");
    let image = body["result"]["imageId"].as_str().unwrap().to_string();
    s.wait_image(&image, "ready").await;
    // A JD error answer through the same signer: an unknown instance.
    let missing = format!("/v1/regions/{REGION}/instances/i-zzzzzzzzzz:createImage");
    let (status, body) = Signed::of(&sign(
        &s,
        "vm",
        REGION,
        "POST",
        &missing,
        r#"{"name":"rust-signed"}"#,
    ))
    .send(&s)
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    assert_eq!(
        body["error"]["message"],
        "Instance 'i-zzzzzzzzzz' not found."
    );
}

#[tokio::test]
async fn changing_a_byte_signed_by_the_rust_crate_is_refused() {
    let s = Server::start(&[]).await;
    let inst = s.launch(instance_spec("tamper")).await;
    let list = format!("/v1/regions/{REGION}/instances?pageNumber=1&pageSize=10");
    let create = format!("/v1/regions/{REGION}/instances/{inst}:createImage");
    let body = r#"{"name":"rust-signed"}"#;
    // Each case signs afresh (a new nonce), then changes one thing.
    let get = || Signed::of(&sign(&s, "vm", REGION, "GET", &list, ""));
    let post = || Signed::of(&sign(&s, "vm", REGION, "POST", &create, body));

    // Query: pageSize=10 → pageSize=11.
    let mut r = get();
    r.path_and_query = one_byte(
        &r.path_and_query,
        '0',
        '1',
        r.path_and_query.find('?').unwrap(),
    );
    assert_refused(&r.send(&s).await, "query");
    // Path: the last character of the instance id.
    let mut r = post();
    let at = r.path_and_query.find(":createImage").unwrap() - 1;
    let last = r.path_and_query.as_bytes()[at] as char;
    let other = if last == 'a' { 'b' } else { 'a' };
    r.path_and_query.replace_range(at..=at, &other.to_string());
    assert_refused(&r.send(&s).await, "path");
    // The action in the path.
    let mut r = post();
    r.path_and_query = r.path_and_query.replace(":createImage", ":stopInstance");
    assert_refused(&r.send(&s).await, "action");
    // Body: one character of the image name.
    let mut r = post();
    r.body = one_byte(&r.body, 'r', 'R', 0);
    assert_refused(&r.send(&s).await, "body");
    // Signed header values: content-type, the nonce.
    let r = get().with_header("content-type", "application/jsoN");
    assert_refused(&r.send(&s).await, "content-type");
    let r = post();
    let nonce = one_byte(r.header("x-jdcloud-nonce"), '-', '_', 0);
    let r = r.with_header("x-jdcloud-nonce", &nonce);
    assert_refused(&r.send(&s).await, "nonce");
    // The date, one second on.
    for r in [get(), post()] {
        let later = a_second_later(r.header("x-jdcloud-date"));
        let r = r.with_header("x-jdcloud-date", &later);
        assert_refused(&r.send(&s).await, "date");
    }
    // The signature itself.
    let r = get();
    let auth = r.header("authorization").to_string();
    let last = auth.chars().last().unwrap();
    let flipped = format!(
        "{}{}",
        &auth[..auth.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let r = r.with_header("authorization", &flipped);
    assert_refused(&r.send(&s).await, "signature");

    // Untouched, the same requests still pass (nothing above was counted against them),
    // and the instance got no image and was not stopped by the tampered calls.
    let (status, body) = get().send(&s).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["instances"][0]["status"], "running");
    let r = s.get(&path("images?imageSource=private")).await;
    assert_eq!(r.ok()["totalCount"], 0);
    // A local system disk must be stopped first: the JD answer, through the crate.
    let (status, body) = post().send(&s).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        json!({"code": 400, "status": "FAILED_PRECONDITION", "message": "Please stop the instance first"})
    );
}
