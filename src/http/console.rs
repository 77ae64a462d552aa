//! The web console (issue 20): static files embedded in the binary, served at `/console/` on
//! the API's own listener. The files need no signature (they hold no data); every request
//! the page makes is an ordinary signed JD Cloud call, signed in the browser.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

/// One embedded file: its name under `/console/`, its content type and its bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../console/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../console/app.js"),
    },
    Asset {
        name: "sign.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../console/sign.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../console/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../../console/favicon.svg"),
    },
];

/// The embedded file a path under `/console/` names (`""` is `index.html`), with its
/// content type; `None` for anything else (no directories, no `..`).
pub fn lookup(path: &str) -> Option<(&'static str, &'static str)> {
    let name = if path.is_empty() { "index.html" } else { path };
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| (a.content_type, a.body))
}

fn no_cache(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn serve(path: &str) -> Response {
    let resp = match lookup(path) {
        Some((content_type, body)) => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no console file '{path}'\n"),
        )
            .into_response(),
    };
    no_cache(resp)
}

/// `GET /console`: the page lives at `/console/` (relative links resolve against it).
pub async fn redirect() -> Response {
    no_cache(Redirect::permanent("/console/").into_response())
}

/// `GET /console/`.
pub async fn index() -> Response {
    serve("")
}

/// `GET /console/{*path}`.
pub async fn file(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    serve(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_and_nothing_else() {
        assert_eq!(lookup("").unwrap().0, "text/html; charset=utf-8");
        assert_eq!(lookup("index.html").unwrap().0, "text/html; charset=utf-8");
        assert!(lookup("app.js").unwrap().0.starts_with("text/javascript"));
        assert!(lookup("sign.js").unwrap().0.starts_with("text/javascript"));
        assert!(lookup("style.css").unwrap().0.starts_with("text/css"));
        assert_eq!(lookup("favicon.svg").unwrap().0, "image/svg+xml");
        for missing in ["nope.js", "../Cargo.toml", "/app.js", "app.js/", "APP.JS"] {
            assert!(lookup(missing).is_none(), "{missing}");
        }
    }

    #[test]
    fn the_page_loads_its_own_files() {
        let (_, html) = lookup("").unwrap();
        for name in ["app.js", "sign.js", "style.css", "favicon.svg"] {
            assert!(html.contains(name), "index.html does not load {name}");
        }
    }

    #[tokio::test]
    async fn responses_carry_type_cache_control_and_404() {
        let ok = serve("app.js");
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()[header::CACHE_CONTROL], "no-cache");
        let missing = serve("missing.css");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(missing.headers()[header::CACHE_CONTROL], "no-cache");
        let moved = redirect().await;
        assert_eq!(moved.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(moved.headers()[header::LOCATION], "/console/");
    }
}
