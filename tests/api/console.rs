//! The web console (issue 20): its static files are served unsigned at `/console/` on the
//! API's listener, with their content types and `Cache-Control: no-cache`; anything else
//! there is a 404, and the API itself stays signed. (The page in a browser: the WebDriver
//! tests.)

use crate::harness::*;

struct Got {
    status: u16,
    content_type: String,
    cache_control: String,
    location: String,
    body: String,
}

async fn get_unsigned(s: &Server, path: &str) -> Got {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .get(format!("http://127.0.0.1:{}{path}", s.port()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    Got {
        status: r.status().as_u16(),
        content_type: header("content-type"),
        cache_control: header("cache-control"),
        location: header("location"),
        body: r.text().await.expect("body"),
    }
}

#[tokio::test]
async fn console_files_are_served_unsigned() {
    let s = Server::start(&[]).await;

    let page = get_unsigned(&s, "/console/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert_eq!(page.cache_control, "no-cache");
    assert!(page.body.contains("<form id=\"signin\""), "{}", page.body);
    assert!(page.body.contains("app.js") && page.body.contains("sign.js"));

    let index = get_unsigned(&s, "/console/index.html").await;
    assert_eq!(index.status, 200);
    assert_eq!(index.body, page.body);

    for (file, kind) in [
        ("app.js", "text/javascript"),
        ("sign.js", "text/javascript"),
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let got = get_unsigned(&s, &format!("/console/{file}")).await;
        assert_eq!(got.status, 200, "{file}");
        assert!(
            got.content_type.starts_with(kind),
            "{file}: {}",
            got.content_type
        );
        assert_eq!(got.cache_control, "no-cache", "{file}");
        assert!(!got.body.is_empty(), "{file}");
    }
    let signer = get_unsigned(&s, "/console/sign.js").await;
    assert!(signer.body.contains("JDCLOUD2-HMAC-SHA256"));

    let moved = get_unsigned(&s, "/console").await;
    assert_eq!(moved.status, 308);
    assert_eq!(moved.location, "/console/");

    for missing in ["/console/nope.js", "/console/a/b.css", "/console/APP.JS"] {
        let got = get_unsigned(&s, missing).await;
        assert_eq!(got.status, 404, "{missing}");
        assert_eq!(got.cache_control, "no-cache", "{missing}");
    }
}

#[tokio::test]
async fn the_api_beside_the_console_stays_signed() {
    let s = Server::start(&[]).await;
    let unsigned = get_unsigned(&s, "/v1/regions/cn-north-1/instances").await;
    assert_eq!(unsigned.status, 401, "{}", unsigned.body);
    assert!(unsigned.body.contains("lack of header authorization"));
    let signed = s.get("/v1/regions/cn-north-1/instances").await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
}
