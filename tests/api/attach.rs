//! attachDisk / detachDisk (spec §6.19, §6.20).

use serde_json::{json, Value};

use crate::harness::*;

fn data_disk<'a>(inst: &'a Value, device: &str) -> Option<&'a Value> {
    inst["dataDisks"]
        .as_array()?
        .iter()
        .find(|d| d["deviceName"] == device)
}

async fn multi_disk(s: &Server, name: &str, size_gb: i64) -> String {
    let mut spec = disk_spec(name, size_gb);
    spec["multiAttachable"] = json!(true);
    let r = s
        .post(&path("disks"), json!({"diskSpec": spec, "maxCount": 1}))
        .await;
    let id = ids(r.ok(), "diskIds").remove(0);
    s.wait_disk(&id, "available").await;
    id
}

#[tokio::test]
async fn attach_and_detach_keep_the_data() {
    let s = Server::start(&["--transition-delay", "700ms"]).await;
    let inst = s.launch(instance_spec("att")).await;
    let a = s.new_disk("att-a", 20).await;
    let b = s.new_disk("att-b", 30).await;
    let a_layer = s.top_layer(&a, None);
    write_pattern(&a_layer, "0xcc", "64k");

    s.post(&action_path(&inst, "attachDisk"), json!({"diskId": a}))
        .await
        .ok();
    let i = s.instance(&inst).await;
    let vdb = data_disk(&i, "vdb").unwrap_or_else(|| panic!("no vdb: {i}"));
    assert_eq!(vdb["status"], "attaching", "{vdb}");
    assert_eq!(vdb["cloudDisk"]["diskId"], a.as_str());
    let d = s.wait_disk(&a, "in-use").await["result"]["disk"].clone();
    let att = d["attachments"].as_array().unwrap();
    assert_eq!(att.len(), 1, "{d}");
    assert_eq!(att[0]["instanceId"], inst.as_str());
    assert_eq!(att[0]["diskId"], a.as_str());
    assert_eq!(att[0]["status"], "attached");
    assert_eq!(att[0]["instanceType"], "vm");
    let i = s.instance(&inst).await;
    assert_eq!(i["status"], "running");
    let vdb = data_disk(&i, "vdb").unwrap();
    assert_eq!(vdb["status"], "attached");
    assert_eq!(vdb["autoDelete"], false);
    assert_eq!(vdb["diskCategory"], "cloud");
    assert_eq!(vdb["cloudDisk"]["status"], "in-use");

    // A chosen device name and autoDelete.
    s.post(
        &action_path(&inst, "attachDisk"),
        json!({"diskId": b, "deviceName": "vdf", "autoDelete": true}),
    )
    .await
    .ok();
    s.wait_disk(&b, "in-use").await;
    let i = s.instance(&inst).await;
    let vdf = data_disk(&i, "vdf").unwrap_or_else(|| panic!("no vdf: {i}"));
    assert_eq!(vdf["autoDelete"], true);
    assert_eq!(vdf["cloudDisk"]["diskId"], b.as_str());
    let r = s
        .get(&path(&format!(
            "disks?filters.1.name=instanceId&filters.1.values.1={inst}"
        )))
        .await;
    assert_eq!(r.ok()["totalCount"], 2, "{}", r.body);

    s.post(
        &action_path(&inst, "detachDisk"),
        json!({"diskId": a, "force": true}),
    )
    .await
    .ok();
    let i = s.instance(&inst).await;
    assert_eq!(data_disk(&i, "vdb").unwrap()["status"], "detaching", "{i}");
    let d = s.wait_disk(&a, "available").await["result"]["disk"].clone();
    assert_eq!(d["attachments"], json!([]));
    // For a while it is still listed, `detached` (as JD shows it; Terraform waits for it).
    let i = s.instance(&inst).await;
    assert_eq!(data_disk(&i, "vdb").unwrap()["status"], "detached", "{i}");
    assert!(data_disk(&i, "vdf").is_some(), "{i}");
    assert!(
        reads(&s.top_layer(&a, None), "0xcc", "64k"),
        "the data went missing"
    );

    // Attaching to a stopped instance works too, and vdb is free again.
    s.post(&action_path(&inst, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&inst, "stopped").await;
    s.post(&action_path(&inst, "attachDisk"), json!({"diskId": a}))
        .await
        .ok();
    s.wait_disk(&a, "in-use").await;
    let i = s.instance(&inst).await;
    assert_eq!(i["status"], "stopped");
    assert_eq!(
        data_disk(&i, "vdb").unwrap()["cloudDisk"]["diskId"],
        a.as_str()
    );

    // Deleting the instance: autoDelete b goes, a comes back.
    s.delete(&instance_path(&inst)).await.ok();
    s.wait_gone(&instance_path(&inst)).await;
    s.get(&disk_path(&b))
        .await
        .err(404, "NOT_FOUND", &format!("Disk '{b}' not found"));
    assert_eq!(s.disk(&a).await["status"], "available");
}

#[tokio::test]
async fn attach_and_detach_errors() {
    let s = Server::start(&["--transition-delay", "800ms", "--task-delay", "800ms"]).await;
    let cloud_sys = json!({"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let mut spec = instance_spec("err-1");
    spec["systemDisk"] = cloud_sys;
    let i1 = s.launch(spec).await;
    let i2 = s.launch(instance_spec("err-2")).await;
    let a = s.new_disk("err-a", 20).await;
    let b = s.new_disk("err-b", 20).await;
    let attach = |inst: &str, body: Value| {
        let s = &s;
        let p = action_path(inst, "attachDisk");
        async move { s.post(&p, body).await }
    };
    let detach = |inst: &str, body: Value| {
        let s = &s;
        let p = action_path(inst, "detachDisk");
        async move { s.post(&p, body).await }
    };

    attach(&i1, json!({}))
        .await
        .err(400, "INVALID_ARGUMENT", "Parameter DiskId missing");
    detach(&i1, json!({"force": false})).await.err(
        400,
        "INVALID_ARGUMENT",
        "Parameter DiskId missing",
    );
    attach(&i1, json!({"diskId": "vol-nope"})).await.err(
        404,
        "NOT_FOUND",
        "Disk 'vol-nope' not found.",
    );
    detach(&i1, json!({"diskId": "vol-nope"})).await.err(
        404,
        "NOT_FOUND",
        "Disk 'vol-nope' not found.",
    );
    attach(&i1, json!({"diskId": a, "deviceName": "sdb"}))
        .await
        .err(400, "FAILED_PRECONDITION", "DataDisks out of range");
    attach(&i1, json!({"diskId": a, "deviceName": "vdbn"}))
        .await
        .err(400, "FAILED_PRECONDITION", "DataDisks out of range");
    attach(&i1, json!({"diskId": a, "deviceName": "vda"}))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            "Invalid instance status running",
        );
    detach(&i1, json!({"diskId": a})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Invalid disk status 'available'",
    );

    // A disk still being created is busy.
    let creating = s.create_disk("err-new", 20).await;
    attach(&i1, json!({"diskId": creating})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Disk busy in 'create'",
    );
    // Another zone.
    let mut far = disk_spec("err-far", 20);
    far["az"] = json!("cn-north-1b");
    let r = s
        .post(&path("disks"), json!({"diskSpec": far, "maxCount": 1}))
        .await;
    let far = ids(r.ok(), "diskIds").remove(0);
    s.wait_disk(&far, "available").await;
    attach(&i1, json!({"diskId": far})).await.err(
        400,
        "FAILED_PRECONDITION",
        "The instance and disk are not in the same az",
    );

    attach(&i1, json!({"diskId": a, "deviceName": "vdb"}))
        .await
        .ok();
    // While attaching, the instance is busy.
    attach(&i1, json!({"diskId": b})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Conflict with underlay task attachDisk",
    );
    detach(&i1, json!({"diskId": a})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Conflict with underlay task attachDisk",
    );
    s.wait_disk(&a, "in-use").await;
    attach(&i1, json!({"diskId": a})).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("Disk '{a}' already attached"),
    );
    attach(&i2, json!({"diskId": a})).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("Disk '{a}' already attached"),
    );
    attach(&i1, json!({"diskId": b, "deviceName": "vdb"}))
        .await
        .err(400, "FAILED_PRECONDITION", "DeviceName 'vdb' has been used");
    detach(&i2, json!({"diskId": a})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Invalid disk status 'in-use'",
    );
    let vda = attached_cloud_disk(&s.instance(&i1).await, "vda").unwrap();
    detach(&i1, json!({"diskId": vda})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Please stop the instance first",
    );
    s.delete(&disk_path(&a)).await.err(
        400,
        "FAILED_PRECONDITION",
        "Cannot delete disk in status 'in-use'",
    );
    // While detaching, the disk and the instance are busy.
    detach(&i1, json!({"diskId": a})).await.ok();
    detach(&i1, json!({"diskId": a})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Conflict with underlay task detachDisk",
    );
    s.wait_disk(&a, "available").await;

    // Stopped local-system-disk instance: vda is taken.
    s.post(&action_path(&i2, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&i2, "stopped").await;
    attach(&i2, json!({"diskId": b, "deviceName": "vda"}))
        .await
        .err(400, "FAILED_PRECONDITION", "Duplicated system disk");

    // Multi-attach disks go to several instances, but never as vda.
    let m = multi_disk(&s, "err-multi", 40).await;
    attach(&i1, json!({"diskId": m})).await.ok();
    s.wait_disk(&m, "in-use").await;
    attach(&i2, json!({"diskId": m})).await.ok();
    let d = s
        .wait_status(
            &disk_path(&m),
            "/result/disk/attachments/1/status",
            "attached",
            WAIT,
        )
        .await;
    assert_eq!(d["result"]["disk"]["status"], "in-use");
    let owners: Vec<&str> = d["result"]["disk"]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["instanceId"].as_str().unwrap())
        .collect();
    assert_eq!(owners.len(), 2);
    assert!(owners.contains(&i1.as_str()) && owners.contains(&i2.as_str()));
    attach(&i1, json!({"diskId": m})).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("Disk '{m}' already attached"),
    );
}

#[tokio::test]
async fn data_disk_attachment_limit() {
    let s = Server::start(&[]).await;
    let eight: Vec<Value> = (0..8)
        .map(|_| json!({"cloudDiskSpec": {"diskType": "hdd.std1", "diskSizeGB": 20}}))
        .collect();
    let mut spec = instance_spec("full");
    spec["dataDisks"] = Value::Array(eight);
    let inst = s.launch(spec).await;
    let i = s.instance(&inst).await;
    let devices: Vec<&str> = i["dataDisks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["deviceName"].as_str().unwrap())
        .collect();
    assert_eq!(
        devices,
        ["vdb", "vdc", "vdd", "vde", "vdf", "vdg", "vdh", "vdi"]
    );
    let extra = s.new_disk("ninth", 20).await;
    s.post(&action_path(&inst, "attachDisk"), json!({"diskId": extra}))
        .await
        .err(400, "FAILED_PRECONDITION", "Disk attachment limit exceeded");
    s.post(
        &action_path(&inst, "attachDisk"),
        json!({"diskId": extra, "deviceName": "vdz"}),
    )
    .await
    .err(400, "FAILED_PRECONDITION", "Disk attachment limit exceeded");
}

#[tokio::test]
async fn system_disk_detach_and_reattach() {
    let s = Server::start(&[]).await;
    let mut spec = instance_spec("sysdisk");
    spec["systemDisk"] = json!({"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let inst = s.launch(spec).await;
    let vda = attached_cloud_disk(&s.instance(&inst).await, "vda").unwrap();
    let detach_vda = json!({"diskId": vda});
    s.post(&action_path(&inst, "detachDisk"), detach_vda.clone())
        .await
        .err(400, "FAILED_PRECONDITION", "Please stop the instance first");
    s.post(&action_path(&inst, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&inst, "stopped").await;
    s.post(&action_path(&inst, "detachDisk"), detach_vda)
        .await
        .ok();
    let d = s.wait_disk(&vda, "available").await["result"]["disk"].clone();
    assert_eq!(d["attachments"], json!([]));
    let i = s.instance(&inst).await;
    assert_eq!(i["systemDisk"], json!({}), "{i}");
    assert_eq!(i["status"], "stopped");
    s.post(&action_path(&inst, "startInstance"), json!({}))
        .await
        .err(404, "NOT_FOUND", "System disk not found");

    // Only a plain disk of 40-500 GiB can become the system disk.
    let small = s.new_disk("small", 20).await;
    s.post(
        &action_path(&inst, "attachDisk"),
        json!({"diskId": small, "deviceName": "vda"}),
    )
    .await
    .err(400, "FAILED_PRECONDITION", "System disk size constraints");
    let m = multi_disk(&s, "shared", 40).await;
    s.post(
        &action_path(&inst, "attachDisk"),
        json!({"diskId": m, "deviceName": "vda"}),
    )
    .await
    .err(
        400,
        "FAILED_PRECONDITION",
        "The system disk does not support shared disk",
    );

    s.post(
        &action_path(&inst, "attachDisk"),
        json!({"diskId": vda, "deviceName": "vda"}),
    )
    .await
    .ok();
    s.wait_disk(&vda, "in-use").await;
    let i = s.instance(&inst).await;
    assert_eq!(i["systemDisk"]["cloudDisk"]["diskId"], vda.as_str());
    assert_eq!(i["systemDisk"]["status"], "attached");
    s.post(&action_path(&inst, "startInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&inst, "running").await;
}
