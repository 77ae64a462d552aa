//! Snapshots with real data (spec §7.5-7.8; design.md "Data plane: layers"): bytes are
//! written into a disk's writable top layer with qemu-io, the path coming from
//! `kiln admin disk-path` (re-read after each snapshot: the top layer changes).

use serde_json::{json, Value};

use crate::harness::*;
use crate::images::is_local_time;

async fn create_snapshot(s: &Server, disk: &str, name: &str) -> String {
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": name, "diskId": disk}}),
        )
        .await;
    let id = r.ok()["snapshotId"].as_str().unwrap().to_string();
    assert!(id.starts_with("snapshot-"), "{id}");
    id
}

async fn disk_from_snapshot(s: &Server, name: &str, snapshot: &str, size_gb: i64) -> String {
    let mut spec = disk_spec(name, size_gb);
    spec["snapshotId"] = json!(snapshot);
    let r = s
        .post(&path("disks"), json!({"diskSpec": spec, "maxCount": 1}))
        .await;
    let id = ids(r.ok(), "diskIds").remove(0);
    s.wait_disk(&id, "available").await;
    id
}

async fn delete_disk_and_wait(s: &Server, id: &str) {
    s.delete(&disk_path(id)).await.ok();
    s.wait_gone(&disk_path(id)).await;
}

#[tokio::test]
async fn snapshot_data_and_layer_reference_counts() {
    let s = Server::start(&["--task-delay", "500ms"]).await;
    let public_layers = s.layer_files();
    assert_eq!(public_layers.len(), 3, "{public_layers:?}");

    let src = s.new_disk("src", 20).await;
    let top1 = s.top_layer(&src, None);
    write_pattern(&top1, "0xaa", "1M");
    assert!(reads(&top1, "0xaa", "1M"));

    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": "snap1", "description": "first", "diskId": src},
                   "clientToken": "snap-token-1"}),
        )
        .await;
    let sid = r.ok()["snapshotId"].as_str().unwrap().to_string();
    assert!(sid.starts_with("snapshot-"), "{sid}");
    let snap = s.get(&snapshot_path(&sid)).await.ok()["snapshot"].clone();
    assert_eq!(snap["status"], "creating", "{snap}");
    let snap = s.wait_snapshot(&sid, "available").await["result"]["snapshot"].clone();
    assert_eq!(snap["snapshotId"], sid.as_str());
    assert_eq!(snap["diskId"], src.as_str());
    assert_eq!(snap["name"], "snap1");
    assert_eq!(snap["description"], "first");
    assert_eq!(snap["snapshotSizeGB"], 20);
    assert_eq!(snap["snapshotSource"], "self");
    assert_eq!(snap["images"], json!([]));
    assert_eq!(snap["encrypted"], false);
    assert!(
        is_local_time(snap["createTime"].as_str().unwrap()),
        "{snap}"
    );
    // The same client token answers the same snapshot.
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": "snap1", "diskId": src}, "clientToken": "snap-token-1"}),
        )
        .await;
    assert_eq!(r.ok()["snapshotId"], sid.as_str());
    assert_eq!(s.get(&path("snapshots")).await.ok()["totalCount"], 1);
    assert_eq!(s.disk(&src).await["status"], "available");

    // The disk got a new top layer; later writes go there, the frozen one keeps 0xaa.
    let top2 = s.top_layer(&src, None);
    assert_ne!(
        top1, top2,
        "the top layer must change when a snapshot is taken"
    );
    write_pattern(&top2, "0xbb", "1M");
    assert!(reads(&top2, "0xbb", "1M"));
    assert!(reads(&top1, "0xaa", "1M"), "the frozen layer changed");

    let new1 = disk_from_snapshot(&s, "from-snap", &sid, 20).await;
    let d = s.disk(&new1).await;
    assert_eq!(d["snapshotId"], sid.as_str());
    assert_eq!(d["diskSizeGB"], 20);
    let top3 = s.top_layer(&new1, None);
    assert!(top3 != top1 && top3 != top2);
    assert!(
        reads(&top3, "0xaa", "1M"),
        "a disk from the snapshot must hold its data"
    );
    assert!(!reads(&top3, "0xbb", "1M"));
    assert_eq!(
        qemu_img_compare(&top3, &top2),
        1,
        "the disk from the snapshot must differ from the source written after it"
    );
    assert!(
        reads(&top2, "0xbb", "1M"),
        "the source must still read 0xbb"
    );
    // A bigger disk from the same snapshot.
    let bigger = disk_from_snapshot(&s, "bigger", &sid, 40).await;
    assert_eq!(s.disk(&bigger).await["diskSizeGB"], 40);
    assert!(reads(&s.top_layer(&bigger, None), "0xaa", "1M"));
    delete_disk_and_wait(&s, &bigger).await;

    // Layers are reference-counted: the source can go, its snapshot stays usable.
    delete_disk_and_wait(&s, &src).await;
    s.wait_file_gone(&top2).await;
    settle().await;
    assert!(
        top1.exists(),
        "the snapshot's layer was deleted with its source disk"
    );
    assert_eq!(
        s.wait_snapshot(&sid, "available").await["result"]["snapshot"]["diskId"],
        src.as_str()
    );
    let new2 = disk_from_snapshot(&s, "after-src", &sid, 20).await;
    assert!(reads(&s.top_layer(&new2, None), "0xaa", "1M"));
    assert!(reads(&top3, "0xaa", "1M"));

    // The snapshot can go while disks made from it live on.
    s.delete(&snapshot_path(&sid)).await.ok();
    assert_eq!(
        s.get(&snapshot_path(&sid)).await.ok()["snapshot"]["status"],
        "deleting"
    );
    let r = s.wait_gone(&snapshot_path(&sid)).await;
    r.err(404, "NOT_FOUND", &format!("Snapshot '{sid}' not found"));
    settle().await;
    assert!(top1.exists(), "a layer still backing two disks was deleted");
    assert!(reads(&top3, "0xaa", "1M"));
    assert!(reads(&s.top_layer(&new2, None), "0xaa", "1M"));

    delete_disk_and_wait(&s, &new1).await;
    s.wait_file_gone(&top3).await;
    settle().await;
    assert!(top1.exists(), "a layer still backing a disk was deleted");
    delete_disk_and_wait(&s, &new2).await;
    // Every layer of the deleted disks and snapshot is gone: only the public ones remain.
    s.wait_layer_files(&public_layers).await;
}

#[tokio::test]
async fn snapshot_errors_and_quota() {
    let s = Server::start(&["--quota", "snapshot=1", "--task-delay", "800ms"]).await;
    let post = |body: Value| {
        let s = &s;
        async move { s.post(&path("snapshots"), body).await }
    };
    let disk = s.new_disk("snapsrc", 30).await;
    write_pattern(&s.top_layer(&disk, None), "0xdd", "64k");
    let long_desc = "d".repeat(257);
    let long_token = "t".repeat(65);
    let cases: Vec<(Value, u16, &str, String)> = vec![
        (
            json!({}),
            400,
            "INVALID_ARGUMENT",
            "Parameter snapshot spec missing".into(),
        ),
        (
            json!({"snapshotSpec": {"diskId": disk}}),
            400,
            "INVALID_ARGUMENT",
            "Parameter snapshot name missing".into(),
        ),
        (
            json!({"snapshotSpec": {"name": "a.b", "diskId": disk}}),
            400,
            "INVALID_ARGUMENT",
            "Malformed snapshot name 'a.b'".into(),
        ),
        (
            json!({"snapshotSpec": {"name": "ok", "description": long_desc, "diskId": disk}}),
            400,
            "INVALID_ARGUMENT",
            format!("Malformed snapshot description '{long_desc}'"),
        ),
        (
            json!({"snapshotSpec": {"name": "ok"}}),
            400,
            "INVALID_ARGUMENT",
            "Parameter disk id missing".into(),
        ),
        (
            json!({"snapshotSpec": {"name": "ok", "diskId": disk}, "clientToken": long_token}),
            400,
            "INVALID_ARGUMENT",
            format!("Malformed client token '{long_token}'"),
        ),
        (
            json!({"snapshotSpec": {"name": "ok", "diskId": "vol-nope"}}),
            404,
            "NOT_FOUND",
            "Disk 'vol-nope' not found".into(),
        ),
    ];
    for (body, code, status, message) in cases {
        post(body)
            .await
            .err(code, status, &kiln::error::cut_echoed_values(&message));
    }
    s.get(&snapshot_path("snapshot-nope")).await.err(
        404,
        "NOT_FOUND",
        "Snapshot 'snapshot-nope' not found",
    );
    s.delete(&snapshot_path("snapshot-nope")).await.err(
        404,
        "NOT_FOUND",
        "Snapshot 'snapshot-nope' not found",
    );
    let young = s.create_disk("young", 20).await;
    post(json!({"snapshotSpec": {"name": "ok", "diskId": young}}))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            &format!("Disk '{young}' busy in 'create'"),
        );
    assert_eq!(s.get(&path("snapshots")).await.ok()["totalCount"], 0);

    let r =
        post(json!({"snapshotSpec": {"name": "s1", "diskId": disk}, "clientToken": "s1-token"}))
            .await;
    let s1 = r.ok()["snapshotId"].as_str().unwrap().to_string();
    // While it is being created.
    post(json!({"snapshotSpec": {"name": "s2", "diskId": disk}}))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            &format!("Disk '{disk}' busy in 'createSnapshot'"),
        );
    s.delete(&snapshot_path(&s1)).await.err(
        400,
        "FAILED_PRECONDITION",
        "Invalid snapshot status 'creating'",
    );
    let mut spec = disk_spec("early", 30);
    spec["snapshotId"] = json!(s1);
    s.post(&path("disks"), json!({"diskSpec": spec, "maxCount": 1}))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            "Invalid snapshot status 'creating'",
        );
    let mut ispec = instance_spec("early");
    ispec["dataDisks"] = json!([{"cloudDiskSpec": {"diskType": "ssd.gp1", "snapshotId": s1}}]);
    s.post(
        &path("instances"),
        json!({"instanceSpec": ispec, "maxCount": 1}),
    )
    .await
    .err(
        400,
        "FAILED_PRECONDITION",
        &format!("Invalid snapshot '{s1}' status 'creating'"),
    );
    s.wait_snapshot(&s1, "available").await;

    // Quota: one snapshot.
    post(json!({"snapshotSpec": {"name": "s2", "diskId": disk}}))
        .await
        .err(429, "QUOTA_EXCEEDED", "Snapshot quota limit exceeded");
    // A retry of s1 is no new snapshot.
    let r =
        post(json!({"snapshotSpec": {"name": "s1", "diskId": disk}, "clientToken": "s1-token"}))
            .await;
    assert_eq!(r.ok()["snapshotId"], s1.as_str());

    // A disk from a snapshot is at least as big as the snapshot.
    let mut spec = disk_spec("small", 20);
    spec["snapshotId"] = json!(s1);
    s.post(&path("disks"), json!({"diskSpec": spec, "maxCount": 1}))
        .await
        .err(400, "INVALID_ARGUMENT", "Invalid disk size '20'");
    let mut ispec = instance_spec("small");
    ispec["dataDisks"] =
        json!([{"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20, "snapshotId": s1}}]);
    s.post(
        &path("instances"),
        json!({"instanceSpec": ispec, "maxCount": 1}),
    )
    .await
    .err(
        400,
        "OUT_OF_RANGE",
        "InstanceSpec.DataDisks.CloudDiskSpec.DiskSizeGB out of range",
    );
    // An instance data disk from the snapshot: its size and data.
    let mut ispec = instance_spec("restored");
    ispec["dataDisks"] = json!([{"cloudDiskSpec": {"diskType": "ssd.gp1", "snapshotId": s1}}]);
    let inst = s.launch(ispec).await;
    let i = s.instance(&inst).await;
    let vdb = &i["dataDisks"][0];
    assert_eq!(vdb["deviceName"], "vdb", "{i}");
    assert_eq!(vdb["cloudDisk"]["diskSizeGB"], 30);
    assert_eq!(vdb["cloudDisk"]["snapshotId"], s1.as_str());
    assert!(reads(&s.top_layer(&inst, Some("vdb")), "0xdd", "64k"));

    // Deleting frees the quota.
    s.delete(&snapshot_path(&s1)).await.ok();
    s.delete(&snapshot_path(&s1)).await.err(
        400,
        "FAILED_PRECONDITION",
        "Invalid snapshot status 'deleting'",
    );
    s.wait_gone(&snapshot_path(&s1)).await;
    let s2 = create_snapshot(&s, &disk, "s2").await;
    s.wait_snapshot(&s2, "available").await;
}

#[tokio::test]
async fn describe_snapshots_filters() {
    let s = Server::start(&[]).await;
    let a = s.new_disk("fa", 20).await;
    let mut spec = instance_spec("snapinst");
    spec["systemDisk"] = json!({"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let inst = s.launch(spec).await;
    let vda = attached_cloud_disk(&s.instance(&inst).await, "vda").unwrap();
    let s1 = create_snapshot(&s, &a, "alpha-one").await;
    s.wait_snapshot(&s1, "available").await;
    let s2 = create_snapshot(&s, &a, "alpha-two").await;
    // An in-use disk (a running instance's system disk) can be snapshotted.
    let s3 = create_snapshot(&s, &vda, "beta").await;
    s.wait_snapshot(&s2, "available").await;
    let snap3 = s.wait_snapshot(&s3, "available").await["result"]["snapshot"].clone();
    assert_eq!(snap3["snapshotSizeGB"], 40);
    assert_eq!(s.disk(&vda).await["status"], "in-use");

    let list = |q: String| {
        let s = &s;
        async move {
            let r = s.get(&path(&format!("snapshots?{q}"))).await;
            let res = r.ok().clone();
            let mut ids: Vec<String> = res["snapshots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["snapshotId"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            assert_eq!(res["totalCount"], ids.len() as i64, "{res}");
            ids
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let f = |name: &str, values: &[&str]| {
        let mut q = format!("filters.1.name={name}");
        for (i, v) in values.iter().enumerate() {
            q.push_str(&format!("&filters.1.values.{}={v}", i + 1));
        }
        q
    };
    let all = sorted(vec![s1.clone(), s2.clone(), s3.clone()]);
    assert_eq!(list(String::new()).await, all);
    assert_eq!(list("snapshotSource=private".into()).await, all);
    assert_eq!(
        list("snapshotSource=others".into()).await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(f("diskId", &[&a])).await,
        sorted(vec![s1.clone(), s2.clone()])
    );
    assert_eq!(list(f("diskId", &[&a, &vda])).await, all);
    assert_eq!(list(f("snapshotId", &[&s3])).await, vec![s3.clone()]);
    assert_eq!(list(f("status", &["available"])).await, all);
    assert_eq!(
        list(f("status", &["creating", "deleting"])).await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(f("name", &["alpha"])).await,
        sorted(vec![s1.clone(), s2.clone()])
    );
    let q = format!(
        "{}&filters.2.name=name&filters.2.values.1=two",
        f("diskId", &[&a])
    );
    assert_eq!(list(q).await, vec![s2.clone()]);
    s.get(&path(&format!("snapshots?{}", f("status", &["lost"]))))
        .await
        .err(400, "INVALID_ARGUMENT", "Invalid snapshot status 'lost'");
    s.get(&path("snapshots?snapshotSource=bogus")).await.err(
        400,
        "INVALID_ARGUMENT",
        "Invalid snapshotSource 'bogus'",
    );
    let r = s.get(&path("snapshots?pageSize=10&pageNumber=2")).await;
    assert_eq!(r.ok()["totalCount"], 3);
    assert_eq!(r.ok()["snapshots"], json!([]));
}
