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

/// A small HTTP server on loopback: GET gets a redirect to `location`; HEAD gets the same
/// redirect when `head_too`, else a 200 announcing a small body.
fn redirecting_server(location: &'static str, head_too: bool) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(8) {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            let answer = if buf[..n].starts_with(b"HEAD") && !head_too {
                "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n".to_string()
            } else {
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            };
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    port
}

const METADATA: &str = "http://169.254.169.254/latest/meta-data";

#[tokio::test]
async fn a_redirect_to_a_link_local_address_is_refused_by_the_call() {
    let s = Server::start(&[]).await;
    let url = format!(
        "http://127.0.0.1:{}/image.qcow2",
        redirecting_server(METADATA, true)
    );
    let r = s
        .post(&path("images:import"), import_body(&url, None))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("169.254.169.254 is a link-local address"),
        "{msg}"
    );
    assert_eq!(total(&s.get(&path("imageTasks")).await), 0);
}

#[tokio::test]
async fn a_redirect_met_only_by_the_download_fails_the_import_task() {
    let s = Server::start(&[]).await;
    let url = format!(
        "http://127.0.0.1:{}/image.qcow2",
        redirecting_server(METADATA, false)
    );
    let info = s.failed_import(import_body(&url, None)).await;
    assert!(
        info.contains("169.254.169.254 is a link-local address"),
        "{info}"
    );
}

/// A one-shot HTTP server on loopback announcing a body of `length` bytes to HEAD.
fn announcing_server(length: u64) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(4) {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
            );
        }
    });
    port
}

#[tokio::test]
async fn an_import_that_cannot_fit_is_refused_by_the_call() {
    let sources = tempfile::tempdir().unwrap();
    let src = sources.path().join("big.qcow2");
    let run = |cmd: &mut std::process::Command| assert!(cmd.status().unwrap().success());
    run(std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&src)
        .arg("1G"));
    run(std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x5a 0 40M"])
        .arg(&src));
    let mounted = std::cell::Cell::new(false);
    let root = sources.path().to_str().unwrap().to_string();
    let s = Server::start_prepared(&["--file-root", &root], |dir| {
        mounted.set(
            std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=32m", "tmpfs"])
                .arg(dir)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|st| st.success()),
        );
    })
    .await;
    if !mounted.get() {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the free-space check not exercised"
        );
        return;
    }
    let announced = format!("http://127.0.0.1:{}/big.qcow2", announcing_server(40 << 20));
    for url in [format!("file://{}", src.display()), announced] {
        let r = s
            .post(&path("images:import"), import_body(&url, None))
            .await;
        assert_eq!(r.status, 500, "{url}: {:?}", r.body);
        assert_eq!(r.body["error"]["status"], "INSUFFICIENT_CAPACITY");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("There is not enough capacity to fulfill your request.")
                && msg.contains("importing the image needs"),
            "{msg}"
        );
    }
    assert_eq!(total(&s.get(&path("images?imageSource=private")).await), 0);
    assert_eq!(total(&s.get(&path("imageTasks")).await), 0);
    // A source that fits is accepted as before.
    let small = sources.path().join("small.qcow2");
    run(std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&small)
        .arg("1G"));
    let r = s
        .post(
            &path("images:import"),
            import_body(&format!("file://{}", small.display()), None),
        )
        .await;
    let image = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_status(
        &path(&format!("images/{image}")),
        "/result/image/status",
        "ready",
        WAIT,
    )
    .await;
}
