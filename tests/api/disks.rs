//! createDisks, describeDisk(s), deleteDisk (spec §7.1-7.4).

use serde_json::{json, Value};

use crate::harness::*;
use crate::images::is_local_time;

async fn total_disks(s: &Server) -> i64 {
    s.get(&path("disks")).await.ok()["totalCount"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn create_two_disks() {
    let s = Server::start(&["--task-delay", "600ms"]).await;
    let mut spec = disk_spec("data", 40);
    spec["description"] = json!("two of them");
    let r = s
        .post(
            &path("disks"),
            json!({"diskSpec": spec, "maxCount": 2, "clientToken": "disk-token-1"}),
        )
        .await;
    let res = r.ok().clone();
    assert_eq!(res["policyRelations"], json!([]));
    assert_eq!(res["tagmsg"], "");
    let ids = ids(&res, "diskIds");
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    for (n, id) in ids.iter().enumerate() {
        assert!(id.starts_with("vol-"), "{id}");
        let d = s.disk(id).await;
        assert_eq!(d["status"], "creating", "{d}");
        assert_eq!(d["name"], format!("data-{}", n + 1));
    }
    // Same token: same ids, nothing new.
    let r = s
        .post(
            &path("disks"),
            json!({"diskSpec": disk_spec("again", 20), "maxCount": 1, "clientToken": "disk-token-1"}),
        )
        .await;
    assert_eq!(crate::harness::ids(r.ok(), "diskIds"), ids);
    assert_eq!(total_disks(&s).await, 2);

    for id in &ids {
        let d = s.wait_disk(id, "available").await["result"]["disk"].clone();
        assert_eq!(d["diskId"], id.as_str());
        assert_eq!(d["az"], AZ);
        assert_eq!(d["diskType"], "ssd.gp1");
        assert_eq!(d["diskSizeGB"], 40);
        assert_eq!(d["iops"], 3800);
        assert_eq!(d["description"], "two of them");
        assert_eq!(d["attachments"], json!([]));
        assert_eq!(d["snapshotId"], "");
        assert_eq!(d["multiAttachable"], false);
        assert_eq!(d["encrypted"], false);
        assert_eq!(d["charge"]["chargeMode"], "postpaid_by_duration");
        assert!(is_local_time(d["createTime"].as_str().unwrap()), "{d}");
        // A real, empty layer.
        assert!(reads(&s.top_layer(id, None), "0x00", "1M"));
    }

    // ssd.io1 keeps the iops asked for; other types derive them.
    let r = s
        .post(
            &path("disks"),
            json!({"diskSpec": {"az": AZ, "name": "fast", "diskType": "ssd.io1", "diskSizeGB": 20,
                                "iops": 1000, "encrypt": true, "multiAttachable": true},
                   "maxCount": 1}),
        )
        .await;
    let fast = crate::harness::ids(r.ok(), "diskIds").remove(0);
    let d = s.wait_disk(&fast, "available").await["result"]["disk"].clone();
    assert_eq!(d["name"], "fast", "a single disk keeps its name");
    assert_eq!(d["diskType"], "ssd.io1");
    assert_eq!(d["iops"], 1000);
    assert_eq!(d["encrypted"], true);
    assert_eq!(d["multiAttachable"], true);
}

#[tokio::test]
async fn create_disks_errors() {
    let s = Server::start(&[]).await;
    let base = disk_spec("bad", 20);
    let with = |key: &str, v: Value| {
        let mut spec = base.clone();
        spec[key] = v;
        json!({"diskSpec": spec, "maxCount": 1})
    };
    let without = |key: &str| {
        let mut spec = base.clone();
        spec.as_object_mut().unwrap().remove(key);
        json!({"diskSpec": spec, "maxCount": 1})
    };
    let long_desc = "d".repeat(257);
    let long_token = "t".repeat(65);
    let cases: Vec<(Value, u16, &str, String)> = vec![
        (
            json!({"maxCount": 1}),
            400,
            "INVALID_ARGUMENT",
            "Parameter disk spec missing".into(),
        ),
        (
            json!({"diskSpec": base}),
            400,
            "INVALID_ARGUMENT",
            "Parameter max count missing".into(),
        ),
        (
            without("az"),
            400,
            "INVALID_ARGUMENT",
            "Parameter az missing".into(),
        ),
        (
            without("name"),
            400,
            "INVALID_ARGUMENT",
            "Parameter disk name missing".into(),
        ),
        (
            without("diskType"),
            400,
            "INVALID_ARGUMENT",
            "Parameter disk type missing".into(),
        ),
        (
            without("diskSizeGB"),
            400,
            "INVALID_ARGUMENT",
            "Parameter disk size missing".into(),
        ),
        (
            with("name", json!("a.b")),
            400,
            "INVALID_ARGUMENT",
            "Malformed disk name 'a.b'".into(),
        ),
        (
            with("name", json!("x".repeat(33))),
            400,
            "INVALID_ARGUMENT",
            format!("Malformed disk name '{}'", "x".repeat(33)),
        ),
        (
            with("description", json!(long_desc)),
            400,
            "INVALID_ARGUMENT",
            format!("Malformed disk description '{long_desc}'"),
        ),
        (
            json!({"diskSpec": base, "maxCount": 1, "clientToken": long_token}),
            400,
            "INVALID_ARGUMENT",
            format!("Malformed client token '{long_token}'"),
        ),
        (
            with("az", json!("cn-north-1d")),
            400,
            "INVALID_ARGUMENT",
            "Invalid availability zone 'cn-north-1d'".into(),
        ),
        (
            with("az", json!("cn-east-1a")),
            400,
            "INVALID_ARGUMENT",
            "Invalid availability zone 'cn-east-1a'".into(),
        ),
        (
            with("diskType", json!("bogus")),
            400,
            "INVALID_ARGUMENT",
            "Invalid disk type 'bogus'".into(),
        ),
        (
            with("diskSizeGB", json!(25)),
            400,
            "INVALID_ARGUMENT",
            "Invalid disk size '25'".into(),
        ),
        (
            with("diskSizeGB", json!(10)),
            400,
            "INVALID_ARGUMENT",
            "Invalid disk size '10'".into(),
        ),
        (
            with("diskSizeGB", json!(16010)),
            400,
            "INVALID_ARGUMENT",
            "Invalid disk size '16010'".into(),
        ),
        (
            json!({"diskSpec": {"az": AZ, "name": "old", "diskType": "ssd", "diskSizeGB": 1010}, "maxCount": 1}),
            400,
            "INVALID_ARGUMENT",
            "Invalid disk size '1010'".into(),
        ),
        (
            with("charge", json!({"chargeMode": "weird"})),
            400,
            "INVALID_ARGUMENT",
            "Invalid charge type 'weird'".into(),
        ),
        (
            json!({"diskSpec": {"az": AZ, "name": "io", "diskType": "ssd.io1", "diskSizeGB": 20, "iops": 1010}, "maxCount": 1}),
            400,
            "INVALID_ARGUMENT",
            "Invalid iops number for ssd.io1".into(),
        ),
        (
            json!({"diskSpec": {"az": AZ, "name": "io", "diskType": "ssd.io1", "diskSizeGB": 20, "iops": 195}, "maxCount": 1}),
            400,
            "INVALID_ARGUMENT",
            "Invalid iops number for ssd.io1".into(),
        ),
        (
            json!({"diskSpec": base, "maxCount": 0}),
            400,
            "OUT_OF_RANGE",
            "Max count out of range".into(),
        ),
        (
            json!({"diskSpec": base, "maxCount": 101}),
            400,
            "OUT_OF_RANGE",
            "Max count out of range".into(),
        ),
        (
            with("snapshotId", json!("snapshot-nope")),
            404,
            "NOT_FOUND",
            "Snapshot id 'snapshot-nope' not found".into(),
        ),
    ];
    for (body, code, status, message) in cases {
        s.post(&path("disks"), body).await.err(
            code,
            status,
            &kiln::error::cut_echoed_values(&message),
        );
    }
    assert_eq!(total_disks(&s).await, 0, "a refused request created a disk");
    assert_eq!(s.layer_files().len(), 3);
}

#[tokio::test]
async fn describe_disks_filters() {
    let s = Server::start(&[]).await;
    let a = s.new_disk("alpha", 20).await;
    let mut spec = disk_spec("beta", 30);
    spec["az"] = json!("cn-north-1b");
    spec["diskType"] = json!("hdd.std1");
    let r = s
        .post(&path("disks"), json!({"diskSpec": spec, "maxCount": 1}))
        .await;
    let b = ids(r.ok(), "diskIds").remove(0);
    s.wait_disk(&b, "available").await;
    let mut cloud_sys = instance_spec("gamma");
    cloud_sys["systemDisk"] = json!({"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let inst = s.launch(cloud_sys).await;
    let c = attached_cloud_disk(&s.instance(&inst).await, "vda").unwrap();

    let list = |q: String| {
        let s = &s;
        async move {
            let r = s.get(&path(&format!("disks?{q}"))).await;
            let res = r.ok().clone();
            let mut ids: Vec<String> = res["disks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["diskId"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            assert_eq!(res["totalCount"], ids.len() as i64, "{res}");
            ids
        }
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<String>>()
    };
    let f = |name: &str, values: &[&str]| {
        let mut q = format!("filters.1.name={name}");
        for (i, v) in values.iter().enumerate() {
            q.push_str(&format!("&filters.1.values.{}={v}", i + 1));
        }
        q
    };
    assert_eq!(list(String::new()).await, sorted(vec![&a, &b, &c]));
    assert_eq!(
        list(f("diskId", &[&a, &b, "vol-nope"])).await,
        sorted(vec![&a, &b])
    );
    assert_eq!(list(f("status", &["in-use"])).await, vec![c.clone()]);
    assert_eq!(
        list(f("status", &["available"])).await,
        sorted(vec![&a, &b])
    );
    assert_eq!(list(f("az", &["cn-north-1b"])).await, vec![b.clone()]);
    assert_eq!(list(f("name", &["lph"])).await, vec![a.clone()]);
    assert_eq!(list(f("diskType", &["hdd.std1"])).await, vec![b.clone()]);
    assert_eq!(list(f("diskType", &["hdd.std1", "ssd.gp1"])).await.len(), 3);
    assert_eq!(list(f("instanceId", &[&inst])).await, vec![c.clone()]);
    assert_eq!(list(f("instanceType", &["vm"])).await.len(), 3);
    assert_eq!(list(f("encrypted", &["false"])).await.len(), 3);
    let q = format!(
        "{}&filters.2.name=diskId&filters.2.values.1={a}",
        f("status", &["available"])
    );
    assert_eq!(list(q).await, vec![a.clone()]);

    for (q, message) in [
        (f("diskType", &["floppy"]), "Invalid disk type 'floppy'"),
        (f("status", &["lost"]), "Invalid disk status 'lost'"),
        (
            f("az", &["cn-east-1a"]),
            "Invalid availability zone 'cn-east-1a'",
        ),
        (f("instanceType", &["nx"]), "Invalid instance type 'nx'"),
    ] {
        s.get(&path(&format!("disks?{q}")))
            .await
            .err(400, "INVALID_ARGUMENT", message);
    }
    s.get(&disk_path("vol-nope"))
        .await
        .err(404, "NOT_FOUND", "Disk 'vol-nope' not found");
    s.get(&disk_path("abc"))
        .await
        .err(400, "INVALID_ARGUMENT", "Malformed disk id 'abc'");
    // Paging.
    let r = s.get(&path("disks?pageSize=10&pageNumber=2")).await;
    assert_eq!(r.ok()["totalCount"], 3);
    assert_eq!(r.ok()["disks"], json!([]));
}

#[tokio::test]
async fn delete_disk() {
    let s = Server::start(&["--task-delay", "700ms"]).await;
    let creating = s.create_disk("young", 20).await;
    s.delete(&disk_path(&creating)).await.err(
        400,
        "FAILED_PRECONDITION",
        "Cannot delete disk in status 'creating'",
    );
    s.wait_disk(&creating, "available").await;
    let layer = s.top_layer(&creating, None);
    s.delete(&disk_path(&creating)).await.ok();
    assert_eq!(s.disk(&creating).await["status"], "deleting");
    s.delete(&disk_path(&creating)).await.err(
        400,
        "FAILED_PRECONDITION",
        "Cannot delete disk in status 'deleting'",
    );
    let r = s.wait_gone(&disk_path(&creating)).await;
    r.err(404, "NOT_FOUND", &format!("Disk '{creating}' not found"));
    s.wait_file_gone(&layer).await;
    assert_eq!(s.layer_files().len(), 3);

    s.delete(&disk_path("vol-nope"))
        .await
        .err(404, "NOT_FOUND", "Disk 'vol-nope' not found");
    s.delete(&disk_path("nope"))
        .await
        .err(400, "INVALID_ARGUMENT", "Malformed disk id 'nope'");

    // In use by an instance.
    let mut spec = instance_spec("holder");
    spec["systemDisk"] = json!({"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let inst = s.launch(spec).await;
    let vda = attached_cloud_disk(&s.instance(&inst).await, "vda").unwrap();
    s.delete(&disk_path(&vda)).await.err(
        400,
        "FAILED_PRECONDITION",
        "Cannot delete disk in status 'in-use'",
    );
    // Local disks are no cloud disks: describeDisks does not list them.
    s.launch(instance_spec("local")).await;
    let r = s.get(&path("disks")).await;
    assert_eq!(ids_of(r.ok()), vec![vda]);
}

fn ids_of(res: &Value) -> Vec<String> {
    res["disks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["diskId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn disk_quota() {
    let s = Server::start(&["--quota", "disk=1"]).await;
    let create = |name: &str, count: i64| {
        let s = &s;
        let body = json!({"diskSpec": disk_spec(name, 20), "maxCount": count});
        async move { s.post(&path("disks"), body).await }
    };
    create("q", 2)
        .await
        .err(429, "QUOTA_EXCEEDED", "Disk quota limit exceeded");
    assert_eq!(total_disks(&s).await, 0, "a refused batch created disks");
    let one = s.new_disk("q1", 20).await;
    create("q2", 1)
        .await
        .err(429, "QUOTA_EXCEEDED", "Disk quota limit exceeded");
    // An instance's cloud disks count too.
    let mut spec = instance_spec("q-inst");
    spec["systemDisk"] = json!({"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let body = json!({"instanceSpec": spec, "maxCount": 1});
    s.post(&path("instances"), body.clone()).await.err(
        429,
        "QUOTA_EXCEEDED",
        "Disk quota limit exceeded",
    );
    assert_eq!(
        s.get(&path("instances")).await.ok()["totalCount"],
        0,
        "the refused instance was created"
    );
    // A local-system-disk instance needs no disk quota.
    s.launch(instance_spec("q-local")).await;
    // Deleting frees the place.
    s.delete(&disk_path(&one)).await.ok();
    s.wait_gone(&disk_path(&one)).await;
    let ids = s.create_instances(body).await;
    s.wait_instance(&ids[0], "running").await;
    create("q3", 1)
        .await
        .err(429, "QUOTA_EXCEEDED", "Disk quota limit exceeded");
    assert_eq!(total_disks(&s).await, 1);
}
