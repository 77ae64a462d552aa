//! createInstances, describeInstance(s), start/stop/reboot/delete (spec §6.12-6.18).

use serde_json::{json, Value};

use crate::harness::*;
use crate::images::is_local_time;

fn cloud_system(size_gb: i64) -> Value {
    json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": size_gb}})
}

fn with(mut spec: Value, key: &str, value: Value) -> Value {
    spec[key] = value;
    spec
}

async fn total_instances(s: &Server) -> i64 {
    s.get(&path("instances")).await.ok()["totalCount"]
        .as_i64()
        .unwrap()
}

async fn total_disks(s: &Server) -> i64 {
    s.get(&path("disks")).await.ok()["totalCount"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn create_with_local_system_disk() {
    let s = Server::start(&["--transition-delay", "800ms"]).await;
    let spec = with(
        instance_spec("local-sys"),
        "description",
        json!("a local one"),
    );
    let ids = s
        .create_instances(json!({"instanceSpec": spec, "maxCount": 1}))
        .await;
    assert_eq!(ids.len(), 1);
    let id = &ids[0];
    assert!(
        id.starts_with("i-") && id.len() > 2 && id[2..].bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id}"
    );
    let inst = s.instance(id).await;
    assert_eq!(inst["status"], "pending", "{inst}");
    let inst = s.wait_instance(id, "running").await["result"]["instance"].clone();
    assert_eq!(inst["instanceId"], id.as_str());
    assert_eq!(inst["instanceName"], "local-sys");
    assert_eq!(inst["hostname"], id.as_str(), "hostname defaults to the id");
    assert_eq!(inst["description"], "a local one");
    assert_eq!(inst["instanceType"], "g.n2.medium");
    assert_eq!(inst["cpu"], 1);
    assert_eq!(inst["memoryMB"], 4096);
    assert_eq!(inst["imageId"], IMAGE);
    assert_eq!(inst["az"], AZ);
    assert_eq!(inst["chargeOnStopped"], "keepCharging");
    assert_eq!(inst["charge"]["chargeMode"], "postpaid_by_duration");
    assert!(
        is_local_time(inst["launchTime"].as_str().unwrap()),
        "{inst}"
    );
    let ip = inst["privateIpAddress"].as_str().unwrap();
    assert!(ip.starts_with("10."), "{ip}");
    assert_eq!(
        inst["primaryNetworkInterface"]["networkInterface"]["privateIpAddress"],
        ip
    );
    let sys = &inst["systemDisk"];
    assert_eq!(sys["diskCategory"], "local", "{sys}");
    assert_eq!(sys["deviceName"], "vda");
    assert_eq!(sys["autoDelete"], true);
    assert_eq!(sys["status"], "attached");
    assert_eq!(sys["localDisk"]["diskType"], "local");
    assert_eq!(sys["localDisk"]["diskSizeGB"], 40);
    assert!(sys.get("cloudDisk").is_none(), "{sys}");
    assert_eq!(inst["dataDisks"], json!([]));
    // A local disk is no cloud disk.
    assert_eq!(total_disks(&s).await, 0);
    // Its data lives in a qcow2 overlay on the image.
    let top = s.top_layer(id, Some("vda"));
    assert!(
        !reads(&top, "0x00", "512"),
        "the image's label must show through the system disk's overlay"
    );
}

#[tokio::test]
async fn create_with_cloud_system_disk() {
    let s = Server::start(&[]).await;
    let spec = with(instance_spec("cloud-sys"), "systemDisk", cloud_system(50));
    let spec = with(spec, "hostname", json!("my-host"));
    let id = s.launch(spec).await;
    let inst = s.instance(&id).await;
    assert_eq!(inst["hostname"], "my-host");
    let sys = &inst["systemDisk"];
    assert_eq!(sys["diskCategory"], "cloud", "{sys}");
    assert_eq!(sys["deviceName"], "vda");
    assert_eq!(sys["autoDelete"], true);
    assert_eq!(sys["status"], "attached");
    let cd = &sys["cloudDisk"];
    let did = cd["diskId"].as_str().unwrap().to_string();
    assert!(did.starts_with("vol-"), "{cd}");
    assert_eq!(cd["diskType"], "ssd.gp1");
    assert_eq!(cd["diskSizeGB"], 50);
    assert_eq!(cd["status"], "in-use");
    assert_eq!(cd["az"], AZ);
    assert_eq!(
        cd["name"], "cloud-sys",
        "disk name defaults to the instance name"
    );
    // The disk service sees it too.
    let d = s.disk(&did).await;
    assert_eq!(d["status"], "in-use");
    let att = d["attachments"].as_array().unwrap();
    assert_eq!(att.len(), 1, "{d}");
    assert_eq!(att[0]["instanceId"], id.as_str());
    assert_eq!(att[0]["status"], "attached");
    assert_eq!(att[0]["instanceType"], "vm");
    let r = s
        .get(&path(&format!(
            "disks?filters.1.name=instanceId&filters.1.values.1={id}"
        )))
        .await;
    assert_eq!(r.ok()["totalCount"], 1, "{}", r.body);
    // Default size: the image's (40 GiB).
    let spec = with(
        instance_spec("cloud-default"),
        "systemDisk",
        json!({"cloudDiskSpec": {"diskType": "ssd.gp1"}}),
    );
    let id2 = s.launch(spec).await;
    let inst2 = s.instance(&id2).await;
    assert_eq!(inst2["systemDisk"]["diskCategory"], "cloud");
    assert_eq!(inst2["systemDisk"]["cloudDisk"]["diskSizeGB"], 40);
    assert_ne!(inst["privateIpAddress"], inst2["privateIpAddress"]);
    // Its writable layer is a real file.
    s.top_layer(&did, None);
}

#[tokio::test]
async fn storage_type_has_a_local_data_disk() {
    let s = Server::start(&[]).await;
    let spec = json!({
        "az": AZ, "instanceType": "s.n2.xlarge", "imageId": IMAGE, "name": "storage",
        "dataDisks": [{"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]
    });
    let id = s.launch(spec).await;
    let inst = s.instance(&id).await;
    assert_eq!(inst["instanceType"], "s.n2.xlarge");
    assert_eq!(inst["cpu"], 4);
    assert_eq!(inst["memoryMB"], 32768);
    assert_eq!(inst["systemDisk"]["diskCategory"], "local");
    let data = inst["dataDisks"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{inst}");
    let vdb = data.iter().find(|d| d["deviceName"] == "vdb").unwrap();
    assert_eq!(vdb["diskCategory"], "local", "{vdb}");
    assert_eq!(vdb["localDisk"]["diskType"], "local");
    assert_eq!(vdb["localDisk"]["diskSizeGB"], 1780);
    assert_eq!(vdb["autoDelete"], true);
    // The cloud data disk takes the next free device.
    let vdc = data.iter().find(|d| d["deviceName"] == "vdc").unwrap();
    assert_eq!(vdc["diskCategory"], "cloud", "{vdc}");
    assert_eq!(vdc["cloudDisk"]["diskSizeGB"], 20);
    s.top_layer(&id, Some("vdb"));
    assert_eq!(
        total_disks(&s).await,
        1,
        "only the cloud data disk is a disk"
    );
}

/// A storage-type instance launched from an image that recorded a cloud disk at vdb: its own
/// local data disk keeps vdb and the image's disk moves to the next free device.
#[tokio::test]
async fn storage_type_from_an_image_with_a_vdb_disk() {
    let s = Server::start(&["--task-delay", "0s"]).await;
    let source = s
        .launch(json!({
            "az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE, "name": "src",
            "systemDisk": cloud_system(40),
            "dataDisks": [{"diskCategory": "cloud", "deviceName": "vdb",
                           "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 30}}]
        }))
        .await;
    let r = s
        .post(
            &action_path(&source, "createImage"),
            json!({"name": "with-vdb"}),
        )
        .await;
    let image = r.ok()["imageId"].as_str().unwrap().to_string();
    let ready = s.wait_image(&image, "ready").await;
    // With no task delay the image turns ready in its task's first transaction, with all
    // the task finishes: the snapshot is available and the instance and disks are idle.
    let snap = ready["result"]["image"]["snapshotId"].as_str().unwrap();
    let got = s.get(&snapshot_path(snap)).await;
    assert_eq!(got.ok()["snapshot"]["status"], "available", "{}", got.body);
    let again = s
        .post(
            &action_path(&source, "createImage"),
            json!({"name": "again"}),
        )
        .await;
    s.wait_image(again.ok()["imageId"].as_str().unwrap(), "ready")
        .await;
    let id = s
        .launch(json!({"az": AZ, "instanceType": "s.n2.xlarge", "imageId": image, "name": "st"}))
        .await;
    let inst = s.instance(&id).await;
    let data = inst["dataDisks"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{inst}");
    let vdb = data.iter().find(|d| d["deviceName"] == "vdb").unwrap();
    assert_eq!(vdb["diskCategory"], "local", "{vdb}");
    let vdc = data.iter().find(|d| d["deviceName"] == "vdc").unwrap();
    assert_eq!(vdc["diskCategory"], "cloud", "{vdc}");
    assert_eq!(vdc["cloudDisk"]["diskSizeGB"], 30, "{vdc}");
}

#[tokio::test]
async fn new_cloud_data_disks() {
    let s = Server::start(&[]).await;
    let spec = json!({
        "az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE, "name": "with-data",
        "dataDisks": [
            {"diskCategory": "cloud", "autoDelete": true,
             "cloudDiskSpec": {"diskType": "ssd.io1", "diskSizeGB": 20, "iops": 1000}},
            {"deviceName": "vdd",
             "cloudDiskSpec": {"diskType": "hdd.std1", "diskSizeGB": 30, "name": "logs",
                               "description": "log disk"}},
            {"deviceName": "vdc", "noDevice": true},
        ]
    });
    let id = s.launch(spec).await;
    let inst = s.instance(&id).await;
    let data = inst["dataDisks"].as_array().unwrap();
    assert_eq!(data.len(), 2, "noDevice entries are skipped: {inst}");
    let vdb = data.iter().find(|d| d["deviceName"] == "vdb").unwrap();
    assert_eq!(vdb["diskCategory"], "cloud");
    assert_eq!(vdb["autoDelete"], true);
    assert_eq!(vdb["status"], "attached");
    assert_eq!(vdb["cloudDisk"]["diskType"], "ssd.io1");
    assert_eq!(vdb["cloudDisk"]["diskSizeGB"], 20);
    assert_eq!(vdb["cloudDisk"]["iops"], 1000);
    assert_eq!(vdb["cloudDisk"]["name"], "with-data");
    let vdd = data.iter().find(|d| d["deviceName"] == "vdd").unwrap();
    assert_eq!(
        vdd["autoDelete"], false,
        "data disks default to autoDelete false"
    );
    assert_eq!(vdd["cloudDisk"]["diskType"], "hdd.std1");
    assert_eq!(vdd["cloudDisk"]["diskSizeGB"], 30);
    assert_eq!(vdd["cloudDisk"]["name"], "logs");
    assert_eq!(vdd["cloudDisk"]["description"], "log disk");
    assert_eq!(vdd["cloudDisk"]["status"], "in-use");
    assert_eq!(total_disks(&s).await, 2);
}

#[tokio::test]
async fn batch_names_and_client_token() {
    let s = Server::start(&[]).await;
    let body = json!({
        "instanceSpec": instance_spec("web-[01]"),
        "maxCount": 3,
        "clientToken": "batch-token-1"
    });
    let ids = s.create_instances(body).await;
    assert_eq!(ids.len(), 3, "{ids:?}");
    let mut names = Vec::new();
    let mut ips = Vec::new();
    for id in &ids {
        let inst = s.wait_instance(id, "running").await["result"]["instance"].clone();
        names.push(inst["instanceName"].as_str().unwrap().to_string());
        ips.push(inst["privateIpAddress"].as_str().unwrap().to_string());
    }
    assert_eq!(names, ["web-01", "web-02", "web-03"]);
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "private IPs must be distinct: {ips:?}");

    // A retry with the same token (even a different body) creates nothing new.
    let again = s
        .create_instances(json!({
            "instanceSpec": instance_spec("other-[1]"),
            "maxCount": 1,
            "clientToken": "batch-token-1"
        }))
        .await;
    assert_eq!(again, ids);
    assert_eq!(total_instances(&s).await, 3);

    // Wider placeholders and no placeholder at all.
    let ids = s
        .create_instances(json!({"instanceSpec": instance_spec("db-[0098]"), "maxCount": 3}))
        .await;
    let mut names = Vec::new();
    for id in &ids {
        names.push(
            s.instance(id).await["instanceName"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(names, ["db-0098", "db-0099", "db-0100"]);
    let ids = s
        .create_instances(json!({"instanceSpec": instance_spec("same"), "maxCount": 2}))
        .await;
    for id in &ids {
        assert_eq!(s.instance(id).await["instanceName"], "same");
    }
    assert_eq!(total_instances(&s).await, 8);
}

#[tokio::test]
async fn lifecycle_and_disks_on_delete() {
    let s = Server::start(&["--transition-delay", "700ms"]).await;
    let spec = json!({
        "az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE, "name": "life",
        "systemDisk": cloud_system(40),
        "dataDisks": [
            {"deviceName": "vdb", "autoDelete": true,
             "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}},
            {"deviceName": "vdc", "autoDelete": false,
             "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}},
        ]
    });
    let ids = s
        .create_instances(json!({"instanceSpec": spec, "maxCount": 1}))
        .await;
    let id = ids[0].clone();
    let inst = s.instance(&id).await;
    assert_eq!(inst["status"], "pending");
    assert_eq!(inst["systemDisk"]["status"], "attaching", "{inst}");
    assert_eq!(
        inst["systemDisk"]["cloudDisk"]["status"], "creating",
        "{inst}"
    );
    s.wait_instance(&id, "running").await;
    let inst = s.instance(&id).await;
    let sys = attached_cloud_disk(&inst, "vda").unwrap();
    let vdb = attached_cloud_disk(&inst, "vdb").unwrap();
    let vdc = attached_cloud_disk(&inst, "vdc").unwrap();
    let sys_layer = s.top_layer(&sys, None);
    let vdb_layer = s.top_layer(&vdb, None);
    let vdc_layer = s.top_layer(&vdc, None);

    for (action, during, after) in [
        ("stopInstance", "stopping", "stopped"),
        ("startInstance", "starting", "running"),
        ("rebootInstance", "rebooting", "running"),
        ("stopInstance", "stopping", "stopped"),
    ] {
        s.post(&action_path(&id, action), json!({})).await.ok();
        assert_eq!(s.instance(&id).await["status"], during, "after {action}");
        s.wait_instance(&id, after).await;
    }

    s.delete(&instance_path(&id)).await.ok();
    assert_eq!(s.instance(&id).await["status"], "deleting");
    let r = s.wait_gone(&instance_path(&id)).await;
    r.err(404, "NOT_FOUND", &format!("Instance '{id}' not found."));
    // autoDelete disks went with it; the other one is back to available.
    for did in [&sys, &vdb] {
        let r = s.get(&disk_path(did)).await;
        r.err(404, "NOT_FOUND", &format!("Disk '{did}' not found"));
    }
    let d = s.disk(&vdc).await;
    assert_eq!(d["status"], "available", "{d}");
    assert_eq!(d["attachments"], json!([]));
    // Deleted disks' layers go (just after the commit that frees them); the kept one stays.
    s.wait_file_gone(&sys_layer).await;
    s.wait_file_gone(&vdb_layer).await;
    settle().await;
    assert!(vdc_layer.exists());
    let r = s.get(&path("instances")).await;
    assert_eq!(r.ok()["totalCount"], 0);

    // A local-system-disk instance can be deleted while stopped.
    let id = s.launch(instance_spec("local-life")).await;
    let local_layer = s.top_layer(&id, Some("vda"));
    s.post(&action_path(&id, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&id, "stopped").await;
    s.delete(&instance_path(&id)).await.ok();
    s.wait_gone(&instance_path(&id)).await;
    s.wait_file_gone(&local_layer).await;
}

#[tokio::test]
async fn create_errors() {
    let s = Server::start(&[]).await;
    let create = |body: Value| {
        let s = &s;
        async move { s.post(&path("instances"), body).await }
    };
    let one = |spec: Value| json!({"instanceSpec": spec, "maxCount": 1});
    let base = instance_spec("bad");
    let without = |key: &str| {
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove(key);
        v
    };
    let data = |disks: Value| with(base.clone(), "dataDisks", disks);
    let gp1 = |size: i64| json!({"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": size}});
    let long_token = "t".repeat(65);
    let long_desc = "d".repeat(257);

    let cases: Vec<(Value, u16, &str, String)> = vec![
        (
            json!({"maxCount": 1}),
            400,
            "INVALID_ARGUMENT",
            "Parameter InstanceSpec missing".into(),
        ),
        (
            json!({"instanceSpec": base, "maxCount": 0}),
            400,
            "OUT_OF_RANGE",
            "Maxcount out of range".into(),
        ),
        (
            json!({"instanceSpec": base, "maxCount": 101}),
            400,
            "OUT_OF_RANGE",
            "Maxcount out of range".into(),
        ),
        (
            json!({"instanceSpec": base, "maxCount": 1, "clientToken": long_token}),
            400,
            "INVALID_ARGUMENT",
            format!("Malformed client token '{long_token}'"),
        ),
        (
            one(without("imageId")),
            400,
            "INVALID_ARGUMENT",
            "Parameter InstanceSpec.ImageId missing".into(),
        ),
        (
            one(without("name")),
            400,
            "INVALID_ARGUMENT",
            "Parameter InstanceSpec.Name missing".into(),
        ),
        (
            one(with(base.clone(), "name", json!(".web"))),
            400,
            "INVALID_ARGUMENT",
            "Invalid instance name '.web'".into(),
        ),
        (
            one(with(base.clone(), "name", json!("a"))),
            400,
            "INVALID_ARGUMENT",
            "Invalid instance name 'a'".into(),
        ),
        (
            one(with(base.clone(), "name", json!("has space"))),
            400,
            "INVALID_ARGUMENT",
            "Invalid instance name 'has space'".into(),
        ),
        (
            one(without("az")),
            400,
            "INVALID_ARGUMENT",
            "Parameter InstanceSpec.Az missing".into(),
        ),
        (
            one(with(base.clone(), "az", json!("cn-east-1a"))),
            400,
            "INVALID_ARGUMENT",
            "Invalid availability zone 'cn-east-1a'".into(),
        ),
        (
            one(with(base.clone(), "az", json!("cn-north-1d"))),
            400,
            "INVALID_ARGUMENT",
            "Invalid availability zone 'cn-north-1d'".into(),
        ),
        (
            one(without("instanceType")),
            400,
            "INVALID_ARGUMENT",
            "Parameter InstanceSpec.InstanceType missing".into(),
        ),
        (
            one(with(base.clone(), "instanceType", json!("x.y"))),
            404,
            "NOT_FOUND",
            "InstanceType 'x.y' not found".into(),
        ),
        (
            one(with(base.clone(), "description", json!(long_desc))),
            400,
            "INVALID_ARGUMENT",
            "Invalid parameter InstanceSpec.Description".into(),
        ),
        (
            one(with(
                base.clone(),
                "charge",
                json!({"chargeMode": "postpaid_by_usage"}),
            )),
            400,
            "INVALID_ARGUMENT",
            "Invalid charge mode 'postpaid_by_usage'".into(),
        ),
        (
            one(with(base.clone(), "imageId", json!("img-x"))),
            404,
            "NOT_FOUND",
            "Image 'img-x' not found".into(),
        ),
        (
            one(with(
                base.clone(),
                "systemDisk",
                json!({"diskCategory": "floppy"}),
            )),
            400,
            "INVALID_ARGUMENT",
            "Invalid disk category 'floppy'".into(),
        ),
        (
            one(with(
                base.clone(),
                "systemDisk",
                json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "bogus"}}),
            )),
            400,
            "INVALID_ARGUMENT",
            "Invalid disk type 'bogus'".into(),
        ),
        (
            one(with(base.clone(), "systemDisk", cloud_system(30))),
            400,
            "OUT_OF_RANGE",
            "InstanceSpec.SystemDisk.CloudDiskSpec.DiskSizeGB out of range".into(),
        ),
        (
            one(with(base.clone(), "systemDisk", cloud_system(510))),
            400,
            "OUT_OF_RANGE",
            "InstanceSpec.SystemDisk.CloudDiskSpec.DiskSizeGB out of range".into(),
        ),
        (
            one(with(base.clone(), "systemDisk", cloud_system(45))),
            400,
            "OUT_OF_RANGE",
            "InstanceSpec.SystemDisk.CloudDiskSpec.DiskSizeGB out of range".into(),
        ),
        (
            one(data(
                json!([{"diskCategory": "local", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]),
            )),
            400,
            "INVALID_ARGUMENT",
            "Invalid disk category 'local': data disks can only be cloud".into(),
        ),
        (
            one(data(json!([{"diskCategory": "cloud"}]))),
            400,
            "INVALID_ARGUMENT",
            "Parameter InstanceSpec.DataDisks.CloudDiskSpec missing".into(),
        ),
        (
            one(data(
                json!([{"cloudDiskSpec": {"diskType": "ssd.gp1", "snapshotId": "snapshot-nope"}}]),
            )),
            404,
            "NOT_FOUND",
            "Snapshot 'snapshot-nope' not found".into(),
        ),
        (
            one(data(json!([{"cloudDiskSpec": {"diskSizeGB": 20}}]))),
            400,
            "INVALID_ARGUMENT",
            "Parameter InstanceSpec.DataDisks.CloudDiskSpec.DiskType missing".into(),
        ),
        (
            one(data(
                json!([{"cloudDiskSpec": {"diskType": "bogus", "diskSizeGB": 20}}]),
            )),
            400,
            "INVALID_ARGUMENT",
            "Invalid disk type 'bogus'".into(),
        ),
        (
            one(data(json!([gp1(25)]))),
            400,
            "OUT_OF_RANGE",
            "InstanceSpec.DataDisks.CloudDiskSpec.DiskSizeGB out of range".into(),
        ),
        (
            one(data(json!([{"cloudDiskSpec": {"diskType": "ssd.gp1"}}]))),
            400,
            "OUT_OF_RANGE",
            "InstanceSpec.DataDisks.CloudDiskSpec.DiskSizeGB out of range".into(),
        ),
        (
            one(data(
                json!([{"cloudDiskSpec": {"diskType": "ssd.io1", "diskSizeGB": 20, "iops": 1010}}]),
            )),
            400,
            "OUT_OF_RANGE",
            "InstanceSpec.DataDisks.CloudDiskSpec.Iops out of range".into(),
        ),
        (
            one(data(
                json!([{"deviceName": "vda", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]),
            )),
            400,
            "INVALID_ARGUMENT",
            "Invalid deviceName 'vda'".into(),
        ),
        (
            one(data(
                json!([{"deviceName": "vdbn", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]),
            )),
            400,
            "INVALID_ARGUMENT",
            "Invalid deviceName 'vdbn'".into(),
        ),
        (
            one(data(json!([
                {"deviceName": "vdc", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}},
                {"deviceName": "vdc", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}},
            ]))),
            400,
            "DUPLICATE",
            "Duplicate deviceName".into(),
        ),
        (
            one(data(Value::Array(vec![gp1(20); 9]))),
            400,
            "FAILED_PRECONDITION",
            "DataDisks out of range".into(),
        ),
        (
            one(with(base.clone(), "chargeOnStopped", json!("stopCharging"))),
            400,
            "FAILED_PRECONDITION",
            "stopCharging only applied to cloud system disk".into(),
        ),
        (
            one(with(
                with(
                    with(base.clone(), "systemDisk", cloud_system(40)),
                    "chargeOnStopped",
                    json!("stopCharging"),
                ),
                "charge",
                json!({"chargeMode": "prepaid_by_duration"}),
            )),
            400,
            "FAILED_PRECONDITION",
            "stopCharging only applied to postpaid by duration".into(),
        ),
        (
            one(with(base.clone(), "chargeOnStopped", json!("sometimes"))),
            400,
            "INVALID_ARGUMENT",
            "Invalid chargeOnStopped 'sometimes'".into(),
        ),
    ];
    for (body, code, status, message) in cases {
        let r = create(body.clone()).await;
        // A value longer than the echo limit comes back as its prefix.
        r.err(code, status, &kiln::error::cut_echoed_values(&message));
    }
    // Nothing was created by any of them.
    assert_eq!(total_instances(&s).await, 0);
    assert_eq!(total_disks(&s).await, 0);
    assert_eq!(s.layer_files().len(), 3, "only the public images' layers");
}

#[tokio::test]
async fn transition_errors_and_underlay_conflicts() {
    let s = Server::start(&["--transition-delay", "800ms"]).await;
    let disk = s.new_disk("spare", 20).await;
    for r in [
        s.get(&instance_path("i-x")).await,
        s.post(&action_path("i-x", "startInstance"), json!({}))
            .await,
        s.post(&action_path("i-x", "stopInstance"), json!({})).await,
        s.post(&action_path("i-x", "rebootInstance"), json!({}))
            .await,
        s.delete(&instance_path("i-x")).await,
        s.post(&action_path("i-x", "attachDisk"), json!({"diskId": disk}))
            .await,
        s.post(&action_path("i-x", "detachDisk"), json!({"diskId": disk}))
            .await,
    ] {
        r.err(404, "NOT_FOUND", "Instance 'i-x' not found.");
    }

    let ids = s
        .create_instances(json!({"instanceSpec": instance_spec("busy"), "maxCount": 1}))
        .await;
    let id = ids[0].clone();
    let conflict = |task: &str| format!("Conflict with underlay task {task}");
    // While pending (task "create").
    s.post(&action_path(&id, "stopInstance"), json!({}))
        .await
        .err(400, "FAILED_PRECONDITION", &conflict("create"));
    s.delete(&instance_path(&id))
        .await
        .err(400, "FAILED_PRECONDITION", &conflict("create"));
    s.post(&action_path(&id, "attachDisk"), json!({"diskId": disk}))
        .await
        .err(400, "FAILED_PRECONDITION", &conflict("create"));
    s.wait_instance(&id, "running").await;

    s.post(&action_path(&id, "startInstance"), json!({}))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            "Invalid instance status running",
        );
    s.post(
        &action_path(&id, "stopInstance"),
        json!({"chargeOnStopped": "sometimes"}),
    )
    .await
    .err(
        400,
        "INVALID_ARGUMENT",
        "Invalid chargeOnStopped 'sometimes'",
    );
    s.post(
        &action_path(&id, "stopInstance"),
        json!({"chargeOnStopped": "stopCharging"}),
    )
    .await
    .err(
        400,
        "FAILED_PRECONDITION",
        "stopCharging only applied to cloud system disk",
    );
    assert_eq!(s.instance(&id).await["status"], "running");

    s.post(&action_path(&id, "stopInstance"), json!({}))
        .await
        .ok();
    for action in ["startInstance", "stopInstance", "rebootInstance"] {
        s.post(&action_path(&id, action), json!({})).await.err(
            400,
            "FAILED_PRECONDITION",
            &conflict("stop"),
        );
    }
    s.delete(&instance_path(&id))
        .await
        .err(400, "FAILED_PRECONDITION", &conflict("stop"));
    s.post(&action_path(&id, "attachDisk"), json!({"diskId": disk}))
        .await
        .err(400, "FAILED_PRECONDITION", &conflict("stop"));
    s.post(&action_path(&id, "detachDisk"), json!({"diskId": disk}))
        .await
        .err(400, "FAILED_PRECONDITION", &conflict("stop"));
    s.wait_instance(&id, "stopped").await;

    for action in ["stopInstance", "rebootInstance"] {
        s.post(&action_path(&id, action), json!({})).await.err(
            400,
            "FAILED_PRECONDITION",
            "Invalid instance status stopped",
        );
    }
    s.post(&action_path(&id, "startInstance"), json!({}))
        .await
        .ok();
    s.post(&action_path(&id, "stopInstance"), json!({}))
        .await
        .err(400, "FAILED_PRECONDITION", &conflict("start"));
    s.wait_instance(&id, "running").await;
    s.post(&action_path(&id, "rebootInstance"), json!({}))
        .await
        .ok();
    s.post(&action_path(&id, "stopInstance"), json!({}))
        .await
        .err(400, "FAILED_PRECONDITION", &conflict("reboot"));
    s.wait_instance(&id, "running").await;
    s.delete(&instance_path(&id)).await.ok();
    s.post(&action_path(&id, "startInstance"), json!({}))
        .await
        .err(400, "FAILED_PRECONDITION", &conflict("delete"));
    s.delete(&instance_path(&id))
        .await
        .err(400, "FAILED_PRECONDITION", &conflict("delete"));
    s.wait_gone(&instance_path(&id)).await;
    // The spare disk was never touched.
    assert_eq!(s.disk(&disk).await["status"], "available");
}

#[tokio::test]
async fn instance_quota() {
    let s = Server::start(&["--quota", "instance=2"]).await;
    let r = s
        .post(
            &path("instances"),
            json!({"instanceSpec": instance_spec("q-[1]"), "maxCount": 3}),
        )
        .await;
    r.err(429, "QUOTA_EXCEEDED", "Instance quota limit exceeded");
    assert_eq!(
        total_instances(&s).await,
        0,
        "a refused batch creates nothing"
    );
    let ids = s
        .create_instances(json!({"instanceSpec": instance_spec("q-[1]"), "maxCount": 2}))
        .await;
    assert_eq!(ids.len(), 2);
    let r = s
        .post(
            &path("instances"),
            json!({"instanceSpec": instance_spec("q-3"), "maxCount": 1}),
        )
        .await;
    r.err(429, "QUOTA_EXCEEDED", "Instance quota limit exceeded");
    // Deleting one frees its place.
    s.wait_instance(&ids[0], "running").await;
    s.delete(&instance_path(&ids[0])).await.ok();
    s.wait_gone(&instance_path(&ids[0])).await;
    let again = s
        .create_instances(json!({"instanceSpec": instance_spec("q-3"), "maxCount": 1}))
        .await;
    assert_eq!(again.len(), 1);
    assert_eq!(total_instances(&s).await, 2);
}

#[tokio::test]
async fn describe_instances_filters_and_paging() {
    let s = Server::start(&[]).await;
    let many = s
        .create_instances(json!({"instanceSpec": instance_spec("pg-[01]"), "maxCount": 11}))
        .await;
    assert_eq!(many.len(), 11);
    let other_spec = json!({"az": "cn-north-1b", "instanceType": "g.n2.large", "imageId": "img-centos0708", "name": "other"});
    let other = s.launch(other_spec).await;
    for id in &many {
        s.wait_instance(id, "running").await;
    }
    s.post(&action_path(&other, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&other, "stopped").await;
    let other_ip = s.instance(&other).await["privateIpAddress"]
        .as_str()
        .unwrap()
        .to_string();

    let names = |res: &Value| -> Vec<String> {
        res["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["instanceName"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |q: String| {
        let s = &s;
        async move {
            let r = s.get(&path(&format!("instances?{q}"))).await;
            r.ok().clone()
        }
    };
    // Paging: creation order, totalCount over all pages.
    let p1 = list("pageSize=10&pageNumber=1".into()).await;
    assert_eq!(p1["totalCount"], 12);
    let want: Vec<String> = (1..=10).map(|n| format!("pg-{n:02}")).collect();
    assert_eq!(names(&p1), want);
    let p2 = list("pageSize=10&pageNumber=2".into()).await;
    assert_eq!(p2["totalCount"], 12);
    assert_eq!(names(&p2), ["pg-11", "other"]);
    let p3 = list("pageSize=10&pageNumber=3".into()).await;
    assert_eq!(p3["totalCount"], 12);
    assert_eq!(p3["instances"], json!([]));
    let all = list(String::new()).await;
    assert_eq!(
        all["instances"].as_array().unwrap().len(),
        12,
        "default pageSize 20"
    );

    let f = |name: &str, values: &[&str]| {
        let mut q = format!("pageSize=100&filters.1.name={name}");
        for (i, v) in values.iter().enumerate() {
            q.push_str(&format!("&filters.1.values.{}={v}", i + 1));
        }
        q
    };
    let r = list(f("instanceId", &[&many[0], &other, "i-nope"])).await;
    assert_eq!(names(&r), ["pg-01", "other"]);
    assert_eq!(r["totalCount"], 2);
    let r = list(f("status", &["stopped"])).await;
    assert_eq!(names(&r), ["other"]);
    let r = list(f("status", &["running"])).await;
    assert_eq!(r["totalCount"], 11);
    let r = list(f("status", &["pending"])).await;
    assert_eq!(r["totalCount"], 0);
    let r = list(f("name", &["pg-1"])).await;
    assert_eq!(names(&r), ["pg-10", "pg-11"], "name matches fuzzily");
    let r = list(f("az", &["cn-north-1b"])).await;
    assert_eq!(names(&r), ["other"]);
    let r = list(f("az", &["cn-north-1a", "cn-north-1b"])).await;
    assert_eq!(r["totalCount"], 12);
    let r = list(f("instanceType", &["g.n2.large"])).await;
    assert_eq!(names(&r), ["other"]);
    let r = list(f("imageId", &["img-centos0708"])).await;
    assert_eq!(names(&r), ["other"]);
    let r = list(f("privateIpAddress", &[&other_ip])).await;
    assert_eq!(names(&r), ["other"]);
    // Filters are AND-ed.
    let q = "pageSize=100&filters.1.name=az&filters.1.values.1=cn-north-1a&filters.2.name=status&filters.2.values.1=stopped";
    let r = list(q.into()).await;
    assert_eq!(r["totalCount"], 0);
    assert_eq!(r["instances"], json!([]));
    // Other regions see none of them.
    let r = s.get("/v1/regions/cn-east-1/instances").await;
    assert_eq!(r.ok()["totalCount"], 0);
}

#[tokio::test]
async fn launch_rules_for_private_images() {
    let s = Server::start(&["--task-delay", "800ms"]).await;
    let cloud = s
        .launch(with(
            instance_spec("img-cloud"),
            "systemDisk",
            cloud_system(40),
        ))
        .await;
    let local = s.launch(instance_spec("img-local")).await;
    s.post(&action_path(&local, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&local, "stopped").await;

    let create_image = |inst: &str, name: &str| {
        let s = &s;
        let p = action_path(inst, "createImage");
        let body = json!({"name": name});
        async move {
            let r = s.post(&p, body).await;
            r.ok()["imageId"].as_str().unwrap().to_string()
        }
    };
    let cloud_img = create_image(&cloud, "cloud-img").await;
    let from = |img: &str| with(instance_spec("from-img"), "imageId", json!(img));
    s.post(
        &path("instances"),
        json!({"instanceSpec": from(&cloud_img), "maxCount": 1}),
    )
    .await
    .err(
        400,
        "FAILED_PRECONDITION",
        &format!("Image '{cloud_img}' not ready"),
    );
    let local_img = create_image(&local, "local-img").await;
    for img in [&cloud_img, &local_img] {
        s.wait_image(img, "ready").await;
    }
    s.post(
        &path("instances"),
        json!({"instanceSpec": with(from(&cloud_img), "systemDisk", json!({"diskCategory": "local"})), "maxCount": 1}),
    )
    .await
    .err(
        400,
        "FAILED_PRECONDITION",
        "Image constraints. Only support cloud system disk",
    );
    s.post(
        &path("instances"),
        json!({"instanceSpec": with(from(&local_img), "systemDisk", cloud_system(40)), "maxCount": 1}),
    )
    .await
    .err(
        400,
        "FAILED_PRECONDITION",
        "Image constraints. Only support local system disk",
    );
    // Each launches with its own kind of system disk.
    for (img, category) in [(&cloud_img, "cloud"), (&local_img, "local")] {
        let id = s.launch(from(img)).await;
        let inst = s.instance(&id).await;
        assert_eq!(inst["imageId"], img.as_str());
        assert_eq!(inst["systemDisk"]["diskCategory"], category, "{inst}");
    }
}
