//! `http(s)://` import sources reach only the addresses the import policy allows: the
//! address is checked when the call arrives (a refused URL makes no task) and again at
//! every redirect when the task downloads.

use std::io::{Read, Write};

use serde_json::{json, Value};

use crate::harness::*;

fn import_body(url: &str, data_url: Option<&str>) -> Value {
    let mut body = json!({"architecture": "x86_64", "osType": "linux", "platform": "Ubuntu",
        "diskFormat": "qcow2", "systemDiskSizeGB": 40, "imageUrl": url, "imageName": "imp"});
    if let Some(d) = data_url {
        body["dataDisks"] = json!([{"imageUrl": d, "diskFormat": "qcow2", "dataDiskSizeGB": 20}]);
    }
    body
}

fn total(r: &Resp) -> i64 {
    r.ok()["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn a_link_local_source_is_refused_by_the_call_and_nothing_is_made() {
    let s = Server::start(&[]).await;
    let images_before = total(&s.get(&path("images?imageSource=private")).await);
    let meta = "http://169.254.169.254/latest/meta-data/iam";
    let r = s
        .post(&path("images:import"), import_body(meta, None))
        .await;
    r.err(
        400,
        "INVALID_ARGUMENT",
        &format!(
            "Invalid imageUrl '{meta}': 169.254.169.254 is a link-local address (such as a cloud \
             metadata service); Kiln never imports from one"
        ),
    );
    // Written as IPv6, or as a data disk's source: refused the same way.
    for (url, data) in [
        ("http://[::ffff:169.254.169.254]/x", None),
        ("http://[fe80::1]:8080/x", None),
        (
            "http://127.0.0.1:9/a.qcow2",
            Some("http://169.254.1.1/d.qcow2"),
        ),
    ] {
        let r = s.post(&path("images:import"), import_body(url, data)).await;
        assert_eq!(r.status, 400, "{url}: {:?}", r.body);
        assert_eq!(r.body["error"]["status"], "INVALID_ARGUMENT");
    }
    assert_eq!(
        total(&s.get(&path("images?imageSource=private")).await),
        images_before
    );
    assert_eq!(total(&s.get(&path("imageTasks")).await), 0);
}

/// A one-shot HTTP server on loopback that answers every request with a redirect.
fn redirecting_server(location: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(4) {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    port
}

#[tokio::test]
async fn a_redirect_to_a_link_local_address_fails_the_import_task() {
    let s = Server::start(&[]).await;
    let port = redirecting_server("http://169.254.169.254/latest/meta-data");
    let url = format!("http://127.0.0.1:{port}/image.qcow2");
    let r = s
        .post(&path("images:import"), import_body(&url, None))
        .await;
    let image = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_status(
        &path(&format!("images/{image}")),
        "/result/image/status",
        "error",
        WAIT,
    )
    .await;
    let tasks = s.get(&path("imageTasks?taskStatus=failed")).await;
    let info = tasks.ok()["taskSet"][0]["errorInfo"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        info.contains("169.254.169.254 is a link-local address"),
        "{info}"
    );
}
