//! Changes to disks and snapshots (disk API: modifyDiskAttribute, extendDisk, restoreDisk,
//! modifySnapshotAttribute, deleteSnapshots, describeSnapshotChain) with real data written
//! by qemu-io, JD's error rows (bad input changes nothing), and a deleted disk reading
//! `deleted` for `--deleted-retention` before it is gone.

use std::process::Command;

use serde_json::{json, Value};

use crate::harness::*;

fn extend_path(id: &str) -> String {
    path(&format!("disks/{id}:extend"))
}

fn restore_path(id: &str) -> String {
    path(&format!("disks/{id}:restore"))
}

async fn snapshot_of(s: &Server, disk: &str, name: &str) -> String {
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": name, "diskId": disk}}),
        )
        .await;
    let id = r.ok()["snapshotId"].as_str().unwrap().to_string();
    s.wait_snapshot(&id, "available").await;
    id
}

fn virtual_size(file: &std::path::Path) -> u64 {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(file)
        .output()
        .expect("run qemu-img info");
    let info: Value = serde_json::from_slice(&out.stdout).expect("qemu-img info json");
    info["virtual-size"].as_u64().unwrap()
}

const GIB: u64 = 1 << 30;

#[tokio::test]
async fn modify_disk_attribute_renames_and_refuses_bad_input() {
    let s = Server::start(&[]).await;
    let d = s.new_disk("before", 20).await;
    let p = disk_path(&d);
    s.patch(&p, json!({"name": "after", "description": "data disk"}))
        .await
        .ok();
    let disk = s.disk(&d).await;
    assert_eq!(
        (disk["name"].as_str(), disk["description"].as_str()),
        (Some("after"), Some("data disk"))
    );
    // Only the description: the name stays.
    s.patch(&p, json!({"description": "only this"})).await.ok();
    assert_eq!(s.disk(&d).await["name"], "after");

    s.patch(&p, json!({}))
        .await
        .err(400, "INVALID_ARGUMENT", "Parameter name missing");
    s.patch(&p, json!({"name": "bad name!"})).await.err(
        400,
        "INVALID_ARGUMENT",
        "Malformed name 'bad name!'",
    );
    let long = "x".repeat(257);
    s.patch(&p, json!({"name": "ok", "description": long}))
        .await
        .err(
            400,
            "INVALID_ARGUMENT",
            &format!("Malformed description '{}…'", &long[..64]),
        );
    s.patch(&disk_path("nope"), json!({"name": "x"})).await.err(
        400,
        "INVALID_ARGUMENT",
        "Malformed disk id 'nope'",
    );
    s.patch(&disk_path("vol-nope"), json!({"name": "x"}))
        .await
        .err(404, "NOT_FOUND", "Disk 'vol-nope' not found");
    let disk = s.disk(&d).await;
    assert_eq!(
        (disk["name"].as_str(), disk["description"].as_str()),
        (Some("after"), Some("only this"))
    );
}

#[tokio::test]
async fn extend_disk_grows_the_top_layer_and_keeps_the_data() {
    let s = Server::start(&["--task-delay", "400ms"]).await;
    let d = s.new_disk("grow", 20).await;
    let top = s.top_layer(&d, None);
    write_pattern(&top, "0x5a", "1M");

    // JD's error rows; none changes anything.
    let p = extend_path(&d);
    s.post(&p, json!({}))
        .await
        .err(400, "INVALID_ARGUMENT", "Parameter diskSizeGB missing");
    for bad in [20, 10, 35, 16010] {
        s.post(&p, json!({"diskSizeGB": bad})).await.err(
            400,
            "INVALID_ARGUMENT",
            &format!("Invalid diskSizeGB '{bad}'"),
        );
    }
    s.post(&extend_path("vol-nope"), json!({"diskSizeGB": 40}))
        .await
        .err(404, "NOT_FOUND", "Disk 'vol-nope' not found");
    s.post(&extend_path("disk-1"), json!({"diskSizeGB": 40}))
        .await
        .err(400, "INVALID_ARGUMENT", "Malformed disk id 'disk-1'");
    assert_eq!(s.disk(&d).await["diskSizeGB"], 20);

    s.post(&p, json!({"diskSizeGB": 40, "iops": 5000}))
        .await
        .ok();
    assert_eq!(s.disk(&d).await["status"], "extending");
    // Busy while it grows.
    s.post(&p, json!({"diskSizeGB": 50})).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("Disk '{d}' busy in 'extend'"),
    );
    let disk = s.wait_disk(&d, "available").await["result"]["disk"].clone();
    assert_eq!(disk["diskSizeGB"], 40, "{disk}");
    let top = s.top_layer(&d, None);
    assert_eq!(virtual_size(&top), 40 * GIB);
    assert!(reads(&top, "0x5a", "1M"), "data lost by the extend");
    // The new end reads as zeros and takes writes.
    assert!(qemu_io(&top, &format!("read -P 0 {} 1M", 39 * GIB)));
    assert!(qemu_io(&top, &format!("write -P 0x11 {} 1M", 39 * GIB)));
}

#[tokio::test]
async fn extend_an_io1_disk_checks_its_iops() {
    let s = Server::start(&[]).await;
    let mut spec = disk_spec("io", 20);
    spec["diskType"] = json!("ssd.io1");
    let r = s
        .post(&path("disks"), json!({"diskSpec": spec, "maxCount": 1}))
        .await;
    let d = ids(r.ok(), "diskIds").remove(0);
    s.wait_disk(&d, "available").await;
    s.post(&extend_path(&d), json!({"diskSizeGB": 30, "iops": 1505}))
        .await
        .err(400, "INVALID_ARGUMENT", "Invalid iops number for ssd.io1");
    s.post(&extend_path(&d), json!({"diskSizeGB": 30, "iops": 1500}))
        .await
        .ok();
    let disk = s.wait_disk(&d, "available").await["result"]["disk"].clone();
    assert_eq!(
        (disk["diskSizeGB"].as_i64(), disk["iops"].as_i64()),
        (Some(30), Some(1500))
    );
}

#[tokio::test]
async fn restore_disk_rolls_back_exactly_and_collects_the_old_layers() {
    let s = Server::start(&["--task-delay", "300ms"]).await;
    let d = s.new_disk("rollback", 20).await;
    write_pattern(&s.top_layer(&d, None), "0xaa", "2M");
    let snap = snapshot_of(&s, &d, "a").await;
    let top = s.top_layer(&d, None);
    write_pattern(&top, "0xbb", "1M");
    assert!(qemu_io(&top, "write -P 0xcc 8M 1M"));
    let layers_before = s.layer_files();

    s.post(&restore_path(&d), json!({"snapshotId": snap}))
        .await
        .ok();
    assert_eq!(s.disk(&d).await["status"], "restoring");
    s.wait_disk(&d, "available").await;
    let top = s.top_layer(&d, None);
    assert!(reads(&top, "0xaa", "2M"), "A is not back");
    assert!(qemu_io(&top, "read -P 0 8M 1M"), "B is still there");
    // The written top layer went; the snapshot's stays.
    settle().await;
    let after = s.layer_files();
    assert_eq!(
        after.len(),
        layers_before.len(),
        "{layers_before:?} → {after:?}"
    );
    assert_eq!(
        s.get(&snapshot_path(&snap)).await.ok()["snapshot"]["status"],
        "available"
    );
    // The snapshot still restores after writes to the restored disk.
    write_pattern(&top, "0xdd", "1M");
    s.post(&restore_path(&d), json!({"snapshotId": snap}))
        .await
        .ok();
    s.wait_disk(&d, "available").await;
    assert!(reads(&s.top_layer(&d, None), "0xaa", "2M"));
}

#[tokio::test]
async fn restore_disk_error_rows() {
    let s = Server::start(&["--task-delay", "500ms"]).await;
    let d = s.new_disk("mine", 20).await;
    let other = s.new_disk("other", 20).await;
    let theirs = snapshot_of(&s, &other, "theirs").await;
    let p = restore_path(&d);
    s.post(&p, json!({}))
        .await
        .err(400, "INVALID_ARGUMENT", "Parameter snapshotId missing");
    s.post(&p, json!({"snapshotId": "snap-1"})).await.err(
        400,
        "INVALID_ARGUMENT",
        "Malformed snapshot id 'snap-1'",
    );
    s.post(&restore_path("x"), json!({"snapshotId": theirs}))
        .await
        .err(400, "INVALID_ARGUMENT", "Malformed disk id 'x'");
    s.post(&restore_path("vol-nope"), json!({"snapshotId": theirs}))
        .await
        .err(404, "NOT_FOUND", "Disk 'vol-nope' not found");
    s.post(&p, json!({"snapshotId": "snapshot-nope"}))
        .await
        .err(404, "NOT_FOUND", "Snapshot 'snapshot-nope' not found");
    s.post(&p, json!({"snapshotId": theirs})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Snapshot was not created by this disk",
    );
    // A snapshot still being made: the disk is busy with it.
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": "new", "diskId": d}}),
        )
        .await;
    let fresh = r.ok()["snapshotId"].as_str().unwrap().to_string();
    s.post(&p, json!({"snapshotId": fresh})).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("Disk '{d}' busy in 'createSnapshot'"),
    );
    s.wait_snapshot(&fresh, "available").await;
    // A snapshot being deleted.
    s.delete(&snapshot_path(&fresh)).await.ok();
    s.post(&p, json!({"snapshotId": fresh})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Invalid snapshot status 'deleting'",
    );
    // A disk being extended.
    let mine = snapshot_of(&s, &d, "mine").await;
    s.post(&extend_path(&d), json!({"diskSizeGB": 30}))
        .await
        .ok();
    s.post(&p, json!({"snapshotId": mine})).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("Disk '{d}' busy in 'extend'"),
    );
    s.wait_disk(&d, "available").await;
    assert_eq!(s.disk(&d).await["diskSizeGB"], 30);
    // Restored to a snapshot taken at 20 GiB, the disk keeps its 30.
    s.post(&p, json!({"snapshotId": mine})).await.ok();
    let disk = s.wait_disk(&d, "available").await["result"]["disk"].clone();
    assert_eq!(disk["diskSizeGB"], 30);
    assert_eq!(virtual_size(&s.top_layer(&d, None)), 30 * GIB);
}

#[tokio::test]
async fn extend_and_restore_refuse_an_attached_disk() {
    let s = Server::start(&[]).await;
    let d = s.new_disk("att", 20).await;
    let snap = snapshot_of(&s, &d, "att").await;
    let inst = s.launch(instance_spec("holder")).await;
    s.wait_instance(&inst, "running").await;
    s.post(&action_path(&inst, "attachDisk"), json!({"diskId": d}))
        .await
        .ok();
    s.wait_disk(&d, "in-use").await;
    s.post(&extend_path(&d), json!({"diskSizeGB": 30}))
        .await
        .err(400, "FAILED_PRECONDITION", "Invalid disk status 'in-use'");
    s.post(&restore_path(&d), json!({"snapshotId": snap}))
        .await
        .err(400, "FAILED_PRECONDITION", "Invalid disk status 'in-use'");
    assert_eq!(s.disk(&d).await["diskSizeGB"], 20);
}

#[tokio::test]
async fn snapshot_attribute_batch_delete_and_chain() {
    let s = Server::start(&["--task-delay", "300ms"]).await;
    let d = s.new_disk("chain", 20).await;
    let chain = path(&format!("snapshots:chain?diskId={d}"));
    let empty = s.get(&chain).await.ok()["snapshotChain"].clone();
    assert_eq!(
        empty,
        json!({"diskId": d, "snapshotTotalCount": 0, "snapshotChainSize": 0})
    );

    write_pattern(&s.top_layer(&d, None), "0x01", "1M");
    let a = snapshot_of(&s, &d, "a").await;
    write_pattern(&s.top_layer(&d, None), "0x02", "1M");
    let b = snapshot_of(&s, &d, "b").await;
    let c = s.get(&chain).await.ok()["snapshotChain"].clone();
    assert_eq!(c["snapshotTotalCount"], 2, "{c}");
    assert!(c["snapshotChainSize"].as_i64().unwrap() >= 2 << 20, "{c}");
    let by_snapshot = s
        .get(&path(&format!("snapshots:chain?snapshotId={b}")))
        .await;
    assert_eq!(by_snapshot.ok()["snapshotChain"], c);
    s.get(&path("snapshots:chain"))
        .await
        .err(400, "INVALID_ARGUMENT", "Parameter diskId missing");
    s.get(&path("snapshots:chain?diskId=vol-nope")).await.err(
        404,
        "NOT_FOUND",
        "Disk 'vol-nope' not found",
    );
    s.get(&path("snapshots:chain?snapshotId=snapshot-nope"))
        .await
        .err(404, "NOT_FOUND", "Snapshot 'snapshot-nope' not found");

    // modifySnapshotAttribute
    let pa = snapshot_path(&a);
    s.patch(&pa, json!({"name": "renamed", "description": "first"}))
        .await
        .ok();
    let snap = s.get(&pa).await.ok()["snapshot"].clone();
    assert_eq!(
        (snap["name"].as_str(), snap["description"].as_str()),
        (Some("renamed"), Some("first"))
    );
    s.patch(&pa, json!({}))
        .await
        .err(400, "INVALID_ARGUMENT", "Parameter name missing");
    s.patch(&pa, json!({"name": "no spaces"})).await.err(
        400,
        "INVALID_ARGUMENT",
        "Malformed snapshot name 'no spaces'",
    );
    s.patch(&snapshot_path("snapshot-nope"), json!({"name": "x"}))
        .await
        .err(404, "NOT_FOUND", "Snapshot 'snapshot-nope' not found");
    assert_eq!(s.get(&pa).await.ok()["snapshot"]["name"], "renamed");

    // deleteSnapshots: one refused (in use by an image would do; a missing one is simpler)
    // does not stop the others.
    s.delete(&path("snapshots")).await.err(
        400,
        "INVALID_ARGUMENT",
        "Parameter snapshotIds missing",
    );
    let r = s
        .delete(&path(&format!(
            "snapshots?snapshotIds.1={a}&snapshotIds.2=snapshot-nope&snapshotIds.3={b}&snapshotIds.4={a}"
        )))
        .await;
    let res = r.ok().clone();
    assert_eq!(
        (res["successCount"].as_i64(), res["failedCount"].as_i64()),
        (Some(2), Some(1)),
        "{res}"
    );
    assert_eq!(
        res["snapshots"],
        json!([
            {"snapshotId": a, "success": true, "detail": ""},
            {"snapshotId": "snapshot-nope", "success": false, "detail": "Snapshot 'snapshot-nope' not found"},
            {"snapshotId": b, "success": true, "detail": ""},
        ])
    );
    s.wait_gone(&snapshot_path(&a)).await;
    s.wait_gone(&snapshot_path(&b)).await;
    // Deleting again: each one fails, the call does not.
    let again = s
        .delete(&path(&format!("snapshots?snapshotIds.1={a}")))
        .await;
    assert_eq!(again.ok()["failedCount"], 1);
    let c = s.get(&chain).await.ok()["snapshotChain"].clone();
    assert_eq!(c["snapshotTotalCount"], 0, "{c}");
}

#[tokio::test]
async fn a_deleted_disk_reads_deleted_then_is_gone() {
    let s = Server::start(&["--deleted-retention", "3s"]).await;
    let quota = || async {
        s.get(&path("quotas?type=disk")).await.ok()["quota"]["used"]
            .as_i64()
            .unwrap()
    };
    let d = s.new_disk("bye", 20).await;
    let keep = s.new_disk("stay", 20).await;
    let snap = snapshot_of(&s, &d, "survivor").await;
    assert_eq!(quota().await, 2);
    s.delete(&disk_path(&d)).await.ok();
    let disk = s.wait_disk(&d, "deleted").await["result"]["disk"].clone();
    assert_eq!(disk["diskId"], d.as_str());

    // Every other call: gone.
    assert_eq!(quota().await, 1);
    let listed = s.get(&path("disks")).await.ok()["disks"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["diskId"], keep.as_str());
    let q = path("disks?filters.1.name=status&filters.1.values.1=deleted");
    let deleted = s.get(&q).await.ok()["disks"].clone();
    assert_eq!(deleted.as_array().unwrap().len(), 1, "{deleted}");
    s.delete(&disk_path(&d))
        .await
        .err(404, "NOT_FOUND", &format!("Disk '{d}' not found"));
    s.patch(&disk_path(&d), json!({"name": "x"})).await.err(
        404,
        "NOT_FOUND",
        &format!("Disk '{d}' not found"),
    );
    s.post(&extend_path(&d), json!({"diskSizeGB": 30}))
        .await
        .err(404, "NOT_FOUND", &format!("Disk '{d}' not found"));
    s.post(&restore_path(&d), json!({"snapshotId": snap}))
        .await
        .err(404, "NOT_FOUND", &format!("Disk '{d}' not found"));
    s.post(
        &path("snapshots"),
        json!({"snapshotSpec": {"name": "n", "diskId": d}}),
    )
    .await
    .err(404, "NOT_FOUND", &format!("Disk '{d}' not found"));
    // Its snapshot survives, and with it its chain.
    let c = s.get(&path(&format!("snapshots:chain?diskId={d}"))).await;
    assert_eq!(c.ok()["snapshotChain"]["snapshotTotalCount"], 1);

    // After the retention window: 404, also under the status filter.
    s.wait_gone(&disk_path(&d)).await;
    let deleted = s.get(&q).await.ok()["disks"].clone();
    assert_eq!(deleted.as_array().unwrap().len(), 0, "{deleted}");
    // The next deleteDisk purges the row.
    s.delete(&disk_path(&keep)).await.ok();
    s.wait_disk(&keep, "deleted").await;
}
