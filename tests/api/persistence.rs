//! Durability: state and in-flight work survive SIGKILL; the generated account's
//! credentials file.

use std::os::unix::fs::PermissionsExt;

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn state_survives_sigkill() {
    let mut s = Server::start(&[]).await;
    let spec = json!({
        "az": AZ, "instanceType": "g.n2.large", "imageId": IMAGE, "name": "durable",
        "description": "survives", "hostname": "keep-me",
        "systemDisk": {"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 50}},
        "dataDisks": [{"deviceName": "vdc", "autoDelete": true,
                       "cloudDiskSpec": {"diskType": "hdd.std1", "diskSizeGB": 30}}]
    });
    let inst = s.launch(spec).await;
    let local = s.launch(instance_spec("durable-local")).await;
    let disk = s.new_disk("durable-disk", 20).await;
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": "durable-snap", "diskId": disk}}),
        )
        .await;
    let snap = r.ok()["snapshotId"].as_str().unwrap().to_string();
    s.wait_snapshot(&snap, "available").await;
    write_pattern(&s.top_layer(&disk, None), "0xee", "256k");
    let layers = s.layer_files();

    let lists = [
        path("instances?pageSize=100"),
        path("disks?pageSize=100"),
        path("snapshots?pageSize=100"),
        path("images?imageSource=public"),
        instance_path(&inst),
        instance_path(&local),
        disk_path(&disk),
        snapshot_path(&snap),
        path("quotas"),
        path("quotas?type=disk"),
        path("quotas?type=snapshot"),
    ];
    let mut before = Vec::new();
    for p in &lists {
        before.push(s.get(p).await.ok().clone());
    }
    assert_eq!(before[0]["totalCount"], 2);
    assert_eq!(before[1]["totalCount"], 3);

    s.restart().await;

    for (p, want) in lists.iter().zip(&before) {
        let got = s.get(p).await.ok().clone();
        assert_eq!(&got, want, "GET {p} changed across a restart");
    }
    assert_eq!(s.layer_files(), layers);
    assert!(reads(&s.top_layer(&disk, None), "0xee", "256k"));
    // And it keeps working.
    s.post(&action_path(&inst, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&inst, "stopped").await;
}

#[tokio::test]
async fn in_flight_work_finishes_after_restart() {
    let mut s = Server::start(&[]).await;
    let inst = s.launch(instance_spec("inflight")).await;
    let host = s.launch(instance_spec("inflight-host")).await;
    let disk = s.new_disk("inflight-src", 20).await;
    let spare = s.new_disk("inflight-spare", 20).await;
    let top_before = s.top_layer(&disk, None);
    write_pattern(&top_before, "0xaa", "64k");
    // A client token outlives the process.
    let token_body =
        json!({"diskSpec": disk_spec("tok", 20), "maxCount": 1, "clientToken": "persist-tok"});
    let tok_ids = ids(
        s.post(&path("disks"), token_body.clone()).await.ok(),
        "diskIds",
    );

    s.restart_with(&["--transition-delay", "3s", "--task-delay", "3s"])
        .await;
    s.post(&action_path(&inst, "stopInstance"), json!({}))
        .await
        .ok();
    assert_eq!(s.instance(&inst).await["status"], "stopping");
    let new_disk = s.create_disk("inflight-new", 20).await;
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": "inflight-snap", "diskId": disk}}),
        )
        .await;
    let snap = r.ok()["snapshotId"].as_str().unwrap().to_string();
    s.post(&action_path(&host, "attachDisk"), json!({"diskId": spare}))
        .await
        .ok();
    let created = s
        .create_instances(json!({"instanceSpec": instance_spec("inflight-new"), "maxCount": 1}))
        .await;
    let new_inst = created[0].clone();
    assert_eq!(s.instance(&new_inst).await["status"], "pending");
    assert_eq!(s.disk(&new_disk).await["status"], "creating");
    assert_eq!(
        s.get(&snapshot_path(&snap)).await.ok()["snapshot"]["status"],
        "creating"
    );

    // SIGKILL in the middle of all of them, then start again.
    s.restart().await;
    assert_eq!(s.instance(&inst).await["status"], "stopping");
    assert_eq!(s.instance(&new_inst).await["status"], "pending");
    s.wait_instance(&inst, "stopped").await;
    s.wait_instance(&new_inst, "running").await;
    let d = s.wait_disk(&spare, "in-use").await["result"]["disk"].clone();
    assert_eq!(d["attachments"][0]["instanceId"], host.as_str());
    assert_eq!(d["attachments"][0]["status"], "attached");
    s.wait_disk(&new_disk, "available").await;
    s.wait_snapshot(&snap, "available").await;
    assert_eq!(s.disk(&disk).await["status"], "available");
    let top_after = s.top_layer(&disk, None);
    assert_ne!(top_before, top_after, "the snapshot froze no layer");
    assert!(reads(&top_before, "0xaa", "64k"));
    assert!(reads(&top_after, "0xaa", "64k"), "the disk lost its data");
    let again = ids(s.post(&path("disks"), token_body).await.ok(), "diskIds");
    assert_eq!(
        again, tok_ids,
        "the client token was forgotten across a restart"
    );
    // The underlay task is over: the instance takes new work.
    s.post(&action_path(&inst, "startInstance"), json!({}))
        .await
        .ok();
    assert_eq!(s.instance(&inst).await["status"], "starting");
}

#[tokio::test]
async fn generated_credentials_file() {
    let mut s = Server::start_without_keys(&[]).await;
    let file = s.data_dir().join("credentials");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", file.display());
    let (ak, sk) = s.credentials_file_keys();
    assert_ne!(ak, AK);
    assert!(ak.len() >= 16 && sk.len() >= 16, "{ak} / {sk}");
    assert_eq!(s.access_key, ak);
    // The client signs with the file's keys; the test keys are unknown here.
    let r = s.get(&path("images?imageSource=public")).await;
    assert_eq!(r.ok()["totalCount"], 3);
    let r = s
        .send_with(
            Method::GET,
            &path("images?imageSource=public"),
            None,
            Auth::Sign {
                service: "vm",
                access_key: AK.into(),
                secret_key: SK.into(),
            },
        )
        .await;
    r.err(401, "ACCESS_ERROR", "Invalid accessKey");
    assert!(
        s.log_tail(50).contains(&ak),
        "the generated access key is printed at first start"
    );

    // A restart keeps the account and the file.
    let text = std::fs::read_to_string(&file).unwrap();
    s.restart().await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let r = s.get(&path("images?imageSource=public")).await;
    assert_eq!(r.ok()["totalCount"], 3);
    assert_eq!(
        s.log_tail(200).matches("Created account").count(),
        1,
        "keys are shown once"
    );
}

/// After a crash the restart removes what no metadata names: half-written temp files and
/// layer files of calls that never committed. Layers that metadata names stay.
#[tokio::test]
async fn restart_sweeps_orphan_files() {
    let mut s = Server::start(&[]).await;
    let disk = s.new_disk("keep", 20).await;
    let top = s.top_layer(&disk, None);
    let before = s.layer_files();
    s.kill();
    let layers = s.data_dir().join("layers");
    let orphan = layers.join("lyr-orphanoverlay0001.qcow2");
    std::fs::copy(&top, &orphan).unwrap();
    std::fs::write(layers.join("lyr-half.qcow2.tmp"), b"partial").unwrap();
    s.restart().await;
    assert_eq!(
        s.layer_files(),
        before,
        "orphans must go, known layers stay"
    );
    assert!(!layers.join("lyr-half.qcow2.tmp").exists());
    assert!(top.exists());
    s.wait_disk(&disk, "available").await;
}
