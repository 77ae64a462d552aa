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
