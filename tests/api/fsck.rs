//! `kiln admin fsck`: finds what does not match between metadata and storage, repairs what
//! is safe, and says so in its exit status.

use std::process::Command;

use crate::harness::*;

pub fn fsck(s: &Server, repair: bool) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(["admin", "fsck", "--data-dir"]).arg(s.data_dir());
    if repair {
        cmd.arg("--repair");
    }
    let out = cmd.output().expect("run kiln admin fsck");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs one statement on the server's database behind its back (to corrupt it on purpose).
async fn execute_sql(s: &Server, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = s
        .database()
        .map(str::to_string)
        .unwrap_or_else(|| format!("sqlite://{}", s.data_dir().join("kiln.db").display()));
    let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query(sql).execute(&mut c).await.unwrap();
    c.close().await.unwrap();
}

#[tokio::test]
async fn fsck_finds_and_repairs() {
    let mut s = Server::start(&[]).await;
    let disk = s.new_disk("fsck", 20).await;
    let snap = s
        .post(
            &format!("/v1/regions/{REGION}/snapshots"),
            serde_json::json!({"snapshotSpec": {"name": "s1", "diskId": disk}, "clientToken": "fsck-1"}),
        )
        .await;
    let snap_id = snap.ok()["snapshotId"].as_str().unwrap().to_string();
    s.wait_snapshot(&snap_id, "available").await;
    s.kill();

    let (ok, text) = fsck(&s, false);
    assert!(ok, "a healthy data dir must pass: {text}");

    // The per-account counters (kept by triggers) are checked against the rows and
    // recounted on repair.
    execute_sql(
        &s,
        "UPDATE resource_counts SET n = n + 5 WHERE kind = 'snapshot'",
    )
    .await;
    let (ok, text) = fsck(&s, false);
    assert!(!ok, "{text}");
    assert!(text.contains("snapshot count of"), "{text}");
    assert!(text.contains("says 6, the rows say 1"), "{text}");
    let (ok, text) = fsck(&s, true);
    assert!(ok, "{text}");
    assert!(text.contains("recounted images and snapshots"), "{text}");
    let (ok, text) = fsck(&s, false);
    assert!(ok, "after the recount: {text}");

    let layers = s.data_dir().join("layers");
    std::fs::write(layers.join("lyr-orphan0000000001.qcow2"), b"x").unwrap();
    std::fs::write(layers.join("lyr-half.qcow2.tmp"), b"x").unwrap();
    let (ok, text) = fsck(&s, false);
    assert!(!ok, "{text}");
    assert!(
        text.contains("file lyr-orphan0000000001.qcow2 belongs to no layer"),
        "{text}"
    );
    assert!(text.contains("stray file lyr-half.qcow2.tmp"), "{text}");

    let (ok, text) = fsck(&s, true);
    assert!(ok, "{text}");
    assert!(
        text.contains("repaired: removed orphan file lyr-orphan0000000001.qcow2"),
        "{text}"
    );
    let (ok, text) = fsck(&s, false);
    assert!(ok, "after repair: {text}");

    // A referenced layer whose file is gone is data loss: reported, never "repaired".
    let top = s.top_layer(&disk, None);
    std::fs::remove_file(&top).unwrap();
    let (ok, text) = fsck(&s, true);
    assert!(!ok, "{text}");
    assert!(text.contains("its file is missing"), "{text}");
    s.restart().await;
}
