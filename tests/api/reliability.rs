//! Races, injected faults and graceful shutdown: every path ends in a documented state
//! with nothing leaked, and the server stays up.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::harness::*;

fn instances_path() -> String {
    format!("/v1/regions/{REGION}/instances")
}

async fn running_cloud_instance(s: &Server) -> String {
    let id = s
        .launch(json!({
            "az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE, "name": "race",
            "systemDisk": {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}},
            "dataDisks": [{"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]
        }))
        .await;
    s.wait_instance(&id, "running").await;
    id
}

#[tokio::test]
async fn sixty_four_create_images_one_wins() {
    let s = Arc::new(Server::start(&["--quota", "image=100", "--quota", "snapshot=200"]).await);
    let id = running_cloud_instance(&s).await;
    let mut set = tokio::task::JoinSet::new();
    for n in 0..64 {
        let (s, id) = (s.clone(), id.clone());
        set.spawn(async move {
            let r = s
                .post(
                    &format!("{}/{id}:createImage", instances_path()),
                    json!({"name": format!("race-{n}")}),
                )
                .await;
            (r.status, r.body)
        });
    }
    let (mut ok, mut conflicts) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (status, body) = r.unwrap();
        if status == 200 {
            ok += 1;
        } else {
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"]["status"], "FAILED_PRECONDITION", "{body}");
            assert_eq!(
                body["error"]["message"], "Conflict with underlay task createImage",
                "{body}"
            );
            conflicts += 1;
        }
    }
    assert_eq!((ok, conflicts), (1, 63));
    let images = s
        .get(&format!("/v1/regions/{REGION}/images?imageSource=private"))
        .await;
    assert_eq!(images.ok()["totalCount"], 1);
    // One image took exactly one snapshot per cloud disk (vda, vdb).
    let snaps = s.get(&format!("/v1/regions/{REGION}/snapshots")).await;
    assert_eq!(snaps.ok()["totalCount"], 2);
}

/// More createImage calls at once than a node has database connections (16 on PostgreSQL),
/// each on its own instance: all are accepted and all images get ready. (A transaction
/// holding the writer lock once asked the pool for a second connection while every other
/// one was a transaction waiting for that lock: all waited out the lock timeout.)
#[tokio::test]
async fn more_simultaneous_create_images_than_connections_all_succeed() {
    let quotas = ["image=100", "instance=30", "snapshot=100"];
    let mut args = vec!["--task-delay", "0s"];
    args.extend(quotas.iter().flat_map(|q| ["--quota", q]));
    let s = Arc::new(Server::start(&args).await);
    let spec = json!({
        "az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE, "name": "many",
        "systemDisk": {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}},
    });
    let ids = s
        .create_instances(json!({"instanceSpec": spec, "maxCount": 24}))
        .await;
    for id in &ids {
        s.wait_instance(id, "running").await;
    }
    let mut set = tokio::task::JoinSet::new();
    for (n, id) in ids.iter().enumerate() {
        let (s, id) = (s.clone(), id.clone());
        set.spawn(async move {
            s.post(
                &format!("{}/{id}:createImage", instances_path()),
                json!({"name": format!("many-{n}")}),
            )
            .await
        });
    }
    let mut images = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        images.push(r.ok()["imageId"].as_str().unwrap().to_string());
    }
    for image in &images {
        s.wait_image(image, "ready").await;
    }
    assert_eq!(images.len(), 24);
}

#[tokio::test]
async fn simultaneous_creates_never_exceed_a_quota() {
    let s = Arc::new(Server::start(&["--quota", "disk=5"]).await);
    let mut set = tokio::task::JoinSet::new();
    for n in 0..20 {
        let s = s.clone();
        set.spawn(async move {
            s.post(
                &format!("/v1/regions/{REGION}/disks"),
                json!({"diskSpec": {"az": AZ, "name": format!("q{n}"), "diskType": "ssd.gp1", "diskSizeGB": 20}, "maxCount": 1}),
            )
            .await
            .status
        });
    }
    let mut codes = Vec::new();
    while let Some(r) = set.join_next().await {
        codes.push(r.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 5, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 15, "{codes:?}");
    let q = s
        .get(&format!("/v1/regions/{REGION}/quotas?type=disk"))
        .await;
    assert_eq!(q.ok()["quota"]["used"], 5);
}

#[tokio::test]
async fn one_disk_two_simultaneous_attaches() {
    let s = Arc::new(Server::start(&[]).await);
    let a = running_cloud_instance(&s).await;
    let b = running_cloud_instance(&s).await;
    let disk = s.new_disk("shared", 20).await;
    let mut set = tokio::task::JoinSet::new();
    for inst in [a.clone(), b.clone()] {
        let (s, disk) = (s.clone(), disk.clone());
        set.spawn(async move {
            let r = s
                .post(
                    &format!("{}/{inst}:attachDisk", instances_path()),
                    json!({"diskId": disk}),
                )
                .await;
            (r.status, r.body)
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        let (status, body) = r.unwrap();
        if status == 200 {
            ok += 1;
        } else {
            assert_eq!(body["error"]["status"], "FAILED_PRECONDITION", "{body}");
        }
    }
    assert_eq!(ok, 1);
    let d = s.wait_disk(&disk, "in-use").await;
    assert_eq!(
        d["result"]["disk"]["attachments"].as_array().unwrap().len(),
        1,
        "{d}"
    );
}

#[tokio::test]
async fn start_racing_stop_ends_in_the_first_ones_state() {
    let s = Arc::new(Server::start(&[]).await);
    let id = running_cloud_instance(&s).await;
    let mut set = tokio::task::JoinSet::new();
    for action in ["stopInstance", "startInstance"] {
        let (s, id) = (s.clone(), id.clone());
        set.spawn(async move {
            let r = s
                .post(&format!("{}/{id}:{action}", instances_path()), json!({}))
                .await;
            (action, r.status, r.body)
        });
    }
    while let Some(r) = set.join_next().await {
        let (action, status, body) = r.unwrap();
        match action {
            // On a running instance only stop is valid; start is refused whatever the order.
            "stopInstance" => assert_eq!(status, 200, "{body}"),
            _ => {
                assert_eq!(status, 400, "{body}");
                let m = body["error"]["message"].as_str().unwrap();
                assert!(
                    m == "Invalid instance status running"
                        || m == "Conflict with underlay task stop",
                    "{m}"
                );
            }
        }
    }
    s.wait_instance(&id, "stopped").await;
}

/// A qemu-img wrapper in `dir` that runs the shell lines `prelude` before the real one.
pub fn qemu_img_wrapper(dir: &std::path::Path, prelude: &str) -> std::path::PathBuf {
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v qemu-img"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let path = dir.join("qemu-img");
    std::fs::write(
        &path,
        format!("#!/bin/sh\n{prelude}exec {} \"$@\"\n", real.trim()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A qemu-img that works until `<dir>/fail` exists, then fails as a full disk does, and
/// hangs while `<dir>/hang` exists (at most 30 s).
pub fn faulty_qemu_img(dir: &std::path::Path) -> std::path::PathBuf {
    let d = dir.display();
    qemu_img_wrapper(
        dir,
        &format!(
            "i=0; while [ -e {d}/hang ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n\
             if [ -e {d}/fail ]; then echo 'qemu-img: No space left on device' >&2; exit 1; fi\n"
        ),
    )
}

#[tokio::test]
async fn qemu_img_failures_end_cleanly() {
    let faults = tempfile::tempdir().unwrap();
    let qemu = faulty_qemu_img(faults.path());
    let qemu_s = qemu.to_str().unwrap().to_string();
    let s = Server::start(&["--qemu-img", &qemu_s, "--qemu-img-timeout", "1s"]).await;
    // A stopped instance with a local system disk: its image is a full copy (qemu-img).
    let inst = s
        .launch(json!({"az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE, "name": "local",
                       "systemDisk": {"diskCategory": "local"},
                       "dataDisks": [{"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]}))
        .await;
    s.wait_instance(&inst, "running").await;
    s.post(
        &format!("{}/{inst}:stopInstance", instances_path()),
        json!({}),
    )
    .await
    .ok();
    s.wait_instance(&inst, "stopped").await;
    let layers_before = s.layer_files();

    // Storage full while copying: the image ends `error` with nothing of it left.
    std::fs::write(faults.path().join("fail"), b"").unwrap();
    let r = s
        .post(
            &format!("{}/{inst}:createImage", instances_path()),
            json!({"name": "full"}),
        )
        .await;
    let image = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_status(
        &format!("/v1/regions/{REGION}/images/{image}"),
        "/result/image/status",
        "error",
        WAIT,
    )
    .await;
    let snaps = s.get(&format!("/v1/regions/{REGION}/snapshots")).await;
    assert_eq!(
        snaps.ok()["totalCount"],
        0,
        "the image's snapshot of vdb is gone"
    );
    assert_eq!(s.instance(&inst).await["status"], "stopped");
    let q = s
        .get(&format!("/v1/regions/{REGION}/quotas?type=snapshot"))
        .await;
    assert_eq!(q.ok()["quota"]["used"], 0);
    // Freezing added one overlay per captured disk (vda, vdb); the copy left no file.
    assert_eq!(
        s.layer_files().len(),
        layers_before.len() + 2,
        "{:?}",
        s.layer_files()
    );
    s.delete(&format!("/v1/regions/{REGION}/images/{image}"))
        .await
        .ok();
    s.wait_gone(&format!("/v1/regions/{REGION}/images/{image}"))
        .await;

    // A hung qemu-img (an import) is killed after --qemu-img-timeout; the task says why.
    std::fs::remove_file(faults.path().join("fail")).unwrap();
    std::fs::write(faults.path().join("hang"), b"").unwrap();
    let src = faults.path().join("src.qcow2");
    std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&src)
        .arg("1G")
        .status()
        .unwrap();
    let r = s
        .post(
            &format!("/v1/regions/{REGION}/images:import"),
            json!({"architecture": "x86_64", "osType": "linux", "platform": "Ubuntu", "diskFormat": "qcow2",
                   "systemDiskSizeGB": 40, "imageUrl": format!("file://{}", src.display()), "imageName": "hung"}),
        )
        .await;
    let hung = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_status(
        &format!("/v1/regions/{REGION}/images/{hung}"),
        "/result/image/status",
        "error",
        WAIT,
    )
    .await;
    let tasks = s
        .get(&format!(
            "/v1/regions/{REGION}/imageTasks?taskStatus=failed"
        ))
        .await;
    let info = tasks.ok()["taskSet"][0]["errorInfo"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(info.contains("no answer within"), "{info}");

    // Healthy again: the same operations now work.
    std::fs::remove_file(faults.path().join("hang")).unwrap();
    let r = s
        .post(
            &format!("{}/{inst}:createImage", instances_path()),
            json!({"name": "fine"}),
        )
        .await;
    let image = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_status(
        &format!("/v1/regions/{REGION}/images/{image}"),
        "/result/image/status",
        "ready",
        WAIT,
    )
    .await;
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_a_restart_resumes() {
    let mut s = Server::start(&["--task-delay", "2s"]).await;
    let disk = s.create_disk("graceful", 20).await;
    let status = s.terminate();
    assert!(status.success(), "kiln exited with {status}");
    s.start_again().await;
    let d: Value = s.wait_disk(&disk, "available").await;
    assert_eq!(d["result"]["disk"]["name"], "graceful");
}

/// deleteImage waits for a running export: the export reads the image's layers, so the
/// image is refused as busy until the export has finished, and the export succeeds.
#[tokio::test]
async fn an_image_being_exported_is_not_deleted() {
    let faults = tempfile::tempdir().unwrap();
    let qemu = faulty_qemu_img(faults.path());
    let qemu_s = qemu.to_str().unwrap().to_string();
    let s = Server::start(&["--qemu-img", &qemu_s, "--task-delay", "0s"]).await;
    let src = faults.path().join("src.qcow2");
    std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&src)
        .arg("1G")
        .status()
        .unwrap();
    let r = s
        .post(
            &format!("/v1/regions/{REGION}/images:import"),
            json!({"architecture": "x86_64", "osType": "linux", "platform": "Ubuntu", "diskFormat": "qcow2",
                   "systemDiskSizeGB": 40, "imageUrl": format!("file://{}", src.display()), "imageName": "exp"}),
        )
        .await;
    let image = r.ok()["imageId"].as_str().unwrap().to_string();
    let image_path = format!("/v1/regions/{REGION}/images/{image}");
    s.wait_status(&image_path, "/result/image/status", "ready", WAIT)
        .await;

    // The export's qemu-img stalls while `hang` exists.
    std::fs::write(faults.path().join("hang"), b"").unwrap();
    let out = faults.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let r = s
        .post(
            &format!("{image_path}:exportImage"),
            json!({"roleName": "r", "ossUrl": format!("file://{}", out.display())}),
        )
        .await;
    let task = r.ok()["taskId"].as_str().unwrap().to_string();
    settle().await;
    s.delete(&image_path).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("The image '{image}' is busy"),
    );
    std::fs::remove_file(faults.path().join("hang")).unwrap();
    s.wait_status(
        &format!("/v1/regions/{REGION}/imageTasks?taskIds.1={task}"),
        "/result/taskSet/0/taskStatus",
        "finished",
        WAIT,
    )
    .await;
    assert!(out.join(format!("{image}.qcow2")).exists());
    s.delete(&image_path).await.ok();
    s.wait_gone(&image_path).await;
}

/// An export is all or nothing: when the second disk's file fails, the first disk's
/// finished file is removed too, and the task says failed.
#[tokio::test]
async fn a_failed_export_leaves_none_of_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let wrapper = qemu_img_wrapper(
        dir.path(),
        "case \"$*\" in *-vdb.qcow2.part*) echo 'qemu-img: No space left on device' >&2; exit 1;; esac\n",
    );
    let s = Server::start(&[
        "--qemu-img",
        wrapper.to_str().unwrap(),
        "--task-delay",
        "0s",
    ])
    .await;
    let inst = s
        .launch(json!({"az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE, "name": "two",
                       "systemDisk": {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}},
                       "dataDisks": [{"deviceName": "vdb", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]}))
        .await;
    let r = s
        .post(
            &format!("{}/{inst}:createImage", instances_path()),
            json!({"name": "two-disks"}),
        )
        .await;
    let image = r.ok()["imageId"].as_str().unwrap().to_string();
    let image_path = format!("/v1/regions/{REGION}/images/{image}");
    s.wait_status(&image_path, "/result/image/status", "ready", WAIT)
        .await;
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let r = s
        .post(
            &format!("{image_path}:exportImage"),
            json!({"roleName": "r", "ossUrl": format!("file://{}", out.display()), "isAllDisk": true}),
        )
        .await;
    let task = r.ok()["taskId"].as_str().unwrap().to_string();
    let t = s
        .wait_status(
            &format!("/v1/regions/{REGION}/imageTasks?taskIds.1={task}"),
            "/result/taskSet/0/taskStatus",
            "failed",
            WAIT,
        )
        .await;
    let info = t["result"]["taskSet"][0]["errorInfo"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(info.contains("No space left"), "{info}");
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(left.is_empty(), "a failed export left {left:?}");
}
