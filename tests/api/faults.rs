//! Real faults, not simulated ones: the storage filling up (the data directory on a small
//! tmpfs) and the database held busy by another process. Each ends in a documented state
//! with nothing leaked, the server stays up, and work goes on once the fault is gone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::json;
use sqlx::Connection;

use crate::fsck::fsck;
use crate::harness::*;
use crate::reliability::faulty_qemu_img;

/// Unmounts the tmpfs when the test ends, however it ends (declared before the server, so
/// dropped after it).
struct Unmount(Arc<Mutex<Option<PathBuf>>>);

impl Drop for Unmount {
    fn drop(&mut self) {
        if let Some(dir) = self.0.lock().unwrap().take() {
            // The harness detaches it first when it removes the server's directory.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&dir)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("stat")
        .args(["-f", "-c", "%a %S"])
        .arg(dir)
        .output()
        .expect("stat -f");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    it.next().unwrap() * it.next().unwrap()
}

async fn image_status(s: &Server, id: &str) -> String {
    let r = s.get(&path(&format!("images/{id}"))).await;
    r.ok()["image"]["status"].as_str().unwrap().to_string()
}

async fn create_image(s: &Server, instance: &str, name: &str) -> String {
    let r = s
        .post(&action_path(instance, "createImage"), json!({"name": name}))
        .await;
    r.ok()["imageId"].as_str().unwrap().to_string()
}

/// A loopback HTTP server that streams `len` bytes chunked, announcing no size (HEAD gets
/// no Content-Length either).
fn chunked_server(len: usize) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(4) {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            );
            if buf[..n].starts_with(b"HEAD") {
                continue;
            }
            let chunk = vec![0x5au8; 1 << 20];
            for _ in 0..len / chunk.len() {
                let head = format!("{:x}\r\n", chunk.len());
                if conn.write_all(head.as_bytes()).is_err()
                    || conn.write_all(&chunk).is_err()
                    || conn.write_all(b"\r\n").is_err()
                {
                    break;
                }
            }
            let _ = conn.write_all(b"0\r\n\r\n");
        }
    });
    port
}

async fn stopped_local_instance(s: &Server) -> String {
    let id = s
        .launch(
            json!({"az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE, "name": "full",
                       "systemDisk": {"diskCategory": "local"}}),
        )
        .await;
    s.post(&action_path(&id, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&id, "stopped").await;
    id
}

#[tokio::test]
async fn storage_full_ends_in_error_and_recovers() {
    let mounted = Arc::new(Mutex::new(None));
    let _unmount = Unmount(mounted.clone());
    let mut s = Server::start_prepared(&["--task-delay", "0s"], |dir| {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=96m", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|st| st.success());
        if ok {
            *mounted.lock().unwrap() = Some(dir.to_path_buf());
        }
    })
    .await;
    if mounted.lock().unwrap().is_none() {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); storage-full not exercised");
        return;
    }
    let inst = stopped_local_instance(&s).await;
    // 24 MiB of guest data: a localDisk image is a full copy of it.
    let vda = s.top_layer(&inst, Some("vda"));
    let w = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x5c 1M 24M"])
        .arg(&vda)
        .output()
        .unwrap();
    assert!(w.status.success(), "{w:?}");
    let layers_before = s.layer_files();

    // Fill the filesystem, leaving room for metadata but not for the copy.
    let filler = s.data_dir().join("filler");
    let fill = free_bytes(&s.data_dir()).saturating_sub(6 << 20);
    let st = Command::new("fallocate")
        .args(["-l", &fill.to_string()])
        .arg(&filler)
        .status()
        .unwrap();
    assert!(st.success());

    // A full copy that cannot fit is refused by the call, before anything is made.
    let images = s.get(&path("images?imageSource=private")).await.ok()["totalCount"].clone();
    let r = s
        .post(&action_path(&inst, "createImage"), json!({"name": "full"}))
        .await;
    assert_eq!(r.status, 500, "{:?}", r.body);
    assert_eq!(r.body["error"]["status"], "INSUFFICIENT_CAPACITY");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("copying the local system disk needs"),
        "{:?}",
        r.body
    );
    assert_eq!(
        s.get(&path("images?imageSource=private")).await.ok()["totalCount"],
        images
    );
    assert_eq!(s.layer_files(), layers_before);

    // A download whose size nobody announced runs into the full disk mid-task: the import
    // ends in error and its partial download and layer go at once, not at the next start.
    let url = format!("http://127.0.0.1:{}/big.raw", chunked_server(24 << 20));
    let info = s
        .failed_import(
            json!({"architecture": "x86_64", "osType": "linux", "platform": "Ubuntu",
            "diskFormat": "raw", "systemDiskSizeGB": 40, "imageUrl": url, "imageName": "full"}),
        )
        .await;
    assert!(info.contains("No space left on device"), "{info}");
    let staged: Vec<_> = std::fs::read_dir(s.data_dir().join("tmp"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(staged.is_empty(), "left in tmp/: {staged:?}");
    let leftovers: Vec<String> = std::fs::read_dir(s.data_dir().join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".qcow2"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(s.layer_files(), layers_before);
    // The server is up and the instance usable.
    assert_eq!(s.instance(&inst).await["status"], "stopped");

    // Space again: the same call now works, and the copy holds the guest data.
    std::fs::remove_file(&filler).unwrap();
    let ok = create_image(&s, &inst, "fine").await;
    s.wait_image(&ok, "ready").await;
    assert_eq!(image_status(&s, &ok).await, "ready");
    assert!(s.terminate().success());
    let (clean, report) = fsck(&s, false);
    assert!(clean, "fsck after the storage-full episode:\n{report}");
}

#[tokio::test]
async fn a_busy_database_fails_calls_cleanly_and_tasks_resume() {
    if postgres_mode() {
        // Another process holding SQLite's lock; PostgreSQL's equivalent (lock_timeout on
        // the writer row) is not exercised here.
        eprintln!("SQLite-specific; skipped on PostgreSQL");
        return;
    }
    let faults = tempfile::tempdir().unwrap();
    let qemu = faulty_qemu_img(faults.path());
    let mut s = Server::start(&[
        "--task-delay",
        "0s",
        "--qemu-img",
        qemu.to_str().unwrap(),
        "--db-busy-timeout",
        "1s",
    ])
    .await;
    let inst = stopped_local_instance(&s).await;
    let disks_before = s.get(&path("disks")).await.ok()["totalCount"].clone();
    // The image's copy (qemu-img) stalls while `hang` exists: its step is under way.
    let hang = faults.path().join("hang");
    std::fs::write(&hang, b"").unwrap();
    let image = create_image(&s, &inst, "during").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Another process takes the database's write lock and keeps it for 6 s, well past the
    // server's busy timeout (1 s here).
    let url = format!("sqlite://{}", s.data_dir().join("kiln.db").display());
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let r = s
        .post(
            &path("disks"),
            json!({"diskSpec": {"az": AZ, "name": "blocked", "diskType": "ssd.gp1", "diskSizeGB": 20}, "maxCount": 1}),
        )
        .await;
    // "Not now", not "broken": the client may retry, and nothing was made.
    r.err(503, "SERVICE UNAVAILABLE", "Service unavailable");
    // Reads go on (WAL): the server is up and answers.
    let r = s.get(&path("images?imageSource=private")).await;
    assert_eq!(r.ok()["totalCount"], 1);
    // The copy finishes now; recording it meets the lock.
    std::fs::remove_file(&hang).unwrap();
    let hold = std::time::Duration::from_secs(6).saturating_sub(started.elapsed());
    tokio::time::sleep(hold).await;
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();

    // The refused call created nothing; the image's step is retried and completes.
    let r = s.get(&path("disks")).await;
    assert_eq!(r.ok()["totalCount"], disks_before);
    s.wait_image(&image, "ready").await;
    assert!(
        s.log_tail(10_000).contains("step will be retried"),
        "the image's step should have met the busy database: {}",
        s.log_tail(20)
    );
    assert!(s.terminate().success());
    let (clean, report) = fsck(&s, false);
    assert!(clean, "fsck after the busy episode:\n{report}");
}

/// Copies that take long (qemu-img stalled) do not hold up the other tasks: a step gives
/// up its place among the few that run at once once it outlasts a short time.
#[tokio::test]
async fn long_copies_do_not_hold_up_other_tasks() {
    let faults = tempfile::tempdir().unwrap();
    let qemu = faulty_qemu_img(faults.path());
    let s = Server::start(&["--task-delay", "0s", "--qemu-img", qemu.to_str().unwrap()]).await;
    let mut locals = Vec::new();
    for _ in 0..6 {
        locals.push(stopped_local_instance(&s).await);
    }
    let hang = faults.path().join("hang");
    std::fs::write(&hang, b"").unwrap();
    let mut copies = Vec::new();
    for (n, inst) in locals.iter().enumerate() {
        copies.push(create_image(&s, inst, &format!("copy-{n}")).await);
    }
    // More stalled copies than steps may run at once; a new instance and its image still
    // go through while every copy is stalled.
    let mut spec = instance_spec("meanwhile");
    spec["systemDisk"] = json!({"diskCategory": "cloud",
        "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let cloud = s.launch(spec).await;
    let image = create_image(&s, &cloud, "meanwhile").await;
    s.wait_image(&image, "ready").await;
    for id in &copies {
        assert_eq!(
            image_status(&s, id).await,
            "pending",
            "{id} should still be copying"
        );
    }
    std::fs::remove_file(&hang).unwrap();
    for id in &copies {
        s.wait_image(id, "ready").await;
    }
}
