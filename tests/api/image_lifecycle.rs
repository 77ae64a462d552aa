//! convertImage and createImageFromSnapshots: images made of other images' or snapshots'
//! data, which launches read back byte for byte; every error row.

use serde_json::json;

use crate::harness::*;

fn image_path(id: &str) -> String {
    path(&format!("images/{id}"))
}

fn cloud_system(size_gb: i64) -> serde_json::Value {
    json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": size_gb}})
}

/// Launches from `image` with a cloud system disk of `size_gb`, waits for `running`, and
/// returns the file of its system disk's top layer.
async fn launch_cloud(s: &Server, image: &str, name: &str, size_gb: i64) -> std::path::PathBuf {
    let mut spec = instance_spec(name);
    spec["imageId"] = json!(image);
    spec["systemDisk"] = cloud_system(size_gb);
    let inst = s.launch(spec).await;
    s.top_layer(&inst, Some("vda"))
}

#[tokio::test]
async fn a_converted_local_image_launches_with_the_sources_bytes_on_a_cloud_disk() {
    let s = Server::start(&["--task-delay", "1s"]).await;
    // A stopped instance with a local system disk holding a pattern, imaged.
    let mut spec = instance_spec("local-src");
    spec["systemDisk"] = json!({"diskCategory": "local"});
    let inst = s.launch(spec).await;
    s.post(&action_path(&inst, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&inst, "stopped").await;
    write_pattern(&s.top_layer(&inst, Some("vda")), "0x5a", "1M");
    let r = s
        .post(
            &action_path(&inst, "createImage"),
            json!({"name": "local-img"}),
        )
        .await;
    let local = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_image(&local, "ready").await;

    // Error rows.
    let convert = |id: &str| image_path(&format!("{id}:convertImage"));
    s.post(&convert("img-zzzzzzzzzz"), json!({})).await.err(
        404,
        "NOT_FOUND",
        "Image 'img-zzzzzzzzzz' not found",
    );
    s.post(&convert("img-ubuntu2204"), json!({})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Can't use this image",
    );

    let r = s.post(&convert(&local), json!({})).await;
    let cloud = r.ok()["imageId"].as_str().unwrap().to_string();
    assert_ne!(cloud, local);
    // The source is busy until the new image is ready.
    let r = s.get(&image_path(&cloud)).await;
    assert_eq!(r.ok()["image"]["status"], "pending", "{}", r.body);
    s.post(&convert(&local), json!({})).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("The image '{local}' is busy"),
    );
    s.delete(&image_path(&local)).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("The image '{local}' is busy"),
    );
    let img = s.wait_image(&cloud, "ready").await;
    assert_eq!(
        img["result"]["image"]["rootDeviceType"], "cloudDisk",
        "{img}"
    );
    let r = s.get(&path("imageTasks?taskAction=ConvertImage")).await;
    let task = &r.ok()["taskSet"][0];
    assert_eq!(task["imageId"], cloud.as_str(), "{}", r.body);
    assert_eq!(task["taskStatus"], "finished", "{}", r.body);
    s.post(&convert(&cloud), json!({})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Only support localDisk image",
    );

    // A launch from the converted image reads the source's bytes.
    let top = launch_cloud(&s, &cloud, "from-converted", 40).await;
    assert!(
        reads(&top, "0x5a", "1M"),
        "the converted image lost the data"
    );
    // Both images stand alone: the source goes, the converted one still launches.
    s.delete(&image_path(&local)).await.ok();
    s.wait_gone(&image_path(&local)).await;
    let top = launch_cloud(&s, &cloud, "after-source-gone", 40).await;
    assert!(reads(&top, "0x5a", "1M"));
}

#[tokio::test]
async fn an_image_from_snapshots_launches_with_their_bytes() {
    let s = Server::start(&[]).await;
    let disk = s.new_disk("snap-src", 40).await;
    write_pattern(&s.top_layer(&disk, None), "0x6b", "512k");
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": "sys", "diskId": disk}}),
        )
        .await;
    let snap = r.ok()["snapshotId"].as_str().unwrap().to_string();
    s.wait_snapshot(&snap, "available").await;
    let p = path("images:createImageFromSnapshots");
    let body = |disks: serde_json::Value| {
        json!({"name": "from-snaps", "platform": "Ubuntu", "architecture": "x86_64",
               "bootMode": "bios", "cloudDisks": disks})
    };

    s.post(&p, body(json!([])))
        .await
        .err(400, "OUT_OF_RANGE", "CloudDisks out of range");
    s.post(&p, body(json!([{"snapshotId": snap, "deviceName": "vdb"}])))
        .await
        .err(400, "INVALID_ARGUMENT", "Parameter cloudDisks.vda missing");
    s.post(
        &p,
        body(json!([{"snapshotId": "snapshot-zzzzzzzzzz", "deviceName": "vda"}])),
    )
    .await
    .err(404, "NOT_FOUND", "Snapshot 'snapshot-zzzzzzzzzz' not found");
    s.post(
        &p,
        body(json!([{"snapshotId": snap, "deviceName": "vda", "diskSizeGB": 30}])),
    )
    .await
    .err(400, "OUT_OF_RANGE", "Device 'vda' size out of range");
    let mut bad = body(json!([{"snapshotId": snap, "deviceName": "vda"}]));
    bad["platform"] = json!("Plan9");
    s.post(&p, bad)
        .await
        .err(400, "INVALID_ARGUMENT", "Invalid platform 'Plan9'");

    let r = s
        .post(
            &p,
            body(json!([{"snapshotId": snap, "deviceName": "vda", "diskSizeGB": 50}])),
        )
        .await;
    let img_id = r.ok()["imageId"].as_str().unwrap().to_string();
    let img = s.wait_image(&img_id, "ready").await;
    assert_eq!(
        img["result"]["image"]["rootDeviceType"], "cloudDisk",
        "{img}"
    );
    assert_eq!(img["result"]["image"]["platform"], "Ubuntu", "{img}");
    let top = launch_cloud(&s, &img_id, "from-snaps", 50).await;
    assert!(
        reads(&top, "0x6b", "512k"),
        "the image lost the snapshot's data"
    );
    // The snapshot serves the image: it cannot go while the image exists.
    let r = s.delete(&snapshot_path(&snap)).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn a_copied_image_holds_its_own_data_in_the_destination_region() {
    let s = Server::start(&["--task-delay", "1s"]).await;
    // A cloud image of an instance with a system disk and a data disk, each with a pattern.
    let mut spec = instance_spec("copy-src");
    spec["systemDisk"] = cloud_system(40);
    spec["dataDisks"] = json!([{"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]);
    let inst = s.launch(spec).await;
    write_pattern(&s.top_layer(&inst, Some("vda")), "0x3c", "1M");
    write_pattern(&s.top_layer(&inst, Some("vdb")), "0x4d", "256k");
    let r = s
        .post(
            &action_path(&inst, "createImage"),
            json!({"name": "copy-me"}),
        )
        .await;
    let src = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_image(&src, "ready").await;

    let p = path("images:copyImages");
    s.post(
        &p,
        json!({"sourceImageIds": [src], "destinationRegion": "xx"}),
    )
    .await
    .err(400, "INVALID_ARGUMENT", "Invalid region 'xx'");
    s.post(
        &p,
        json!({"sourceImageIds": ["img-ubuntu2204"], "destinationRegion": "cn-east-2"}),
    )
    .await
    .err(400, "FAILED_PRECONDITION", "Can't use this image");
    s.post(
        &p,
        json!({"sourceImageIds": ["img-zzzzzzzzzz"], "destinationRegion": "cn-east-2"}),
    )
    .await
    .err(404, "NOT_FOUND", "Image 'img-zzzzzzzzzz' not found");

    let r = s
        .post(
            &p,
            json!({"sourceImageIds": [src], "destinationRegion": "cn-east-2", "name": "copied"}),
        )
        .await;
    let copies = r.ok()["copyImages"].as_array().unwrap().clone();
    assert_eq!(copies.len(), 1, "{}", r.body);
    assert_eq!(copies[0]["sourceImageId"], src.as_str());
    let copy = copies[0]["destinationImageId"]
        .as_str()
        .unwrap()
        .to_string();
    // The source is busy while its copy runs; the copy is pending in the destination.
    s.post(
        &p,
        json!({"sourceImageIds": [src], "destinationRegion": "cn-east-2"}),
    )
    .await
    .err(
        400,
        "FAILED_PRECONDITION",
        &format!("The image '{src}' is busy"),
    );
    let dest = format!("/v1/regions/cn-east-2/images/{copy}");
    let r = s.get(&dest).await;
    assert_eq!(r.ok()["image"]["status"], "pending", "{}", r.body);
    s.get(&path(&format!("images/{copy}"))).await.err(
        404,
        "NOT_FOUND",
        &format!("Image '{copy}' not found"),
    );
    let done = s
        .wait_status(&dest, "/result/image/status", "ready", WAIT)
        .await;
    assert_eq!(done["result"]["image"]["name"], "copied");
    assert_eq!(done["result"]["image"]["progress"], "100");
    // The copy shows in imageTasks, finished.
    let r = s.get(&path("imageTasks?taskAction=CopyImage")).await;
    let task = &r.ok()["taskSet"][0];
    assert_eq!(task["taskStatus"], "finished", "{}", r.body);
    assert_eq!(task["progress"], 100, "{}", r.body);

    // Nothing of the copy depends on the source: the source image, its instance and disks
    // go; a launch from the copy in the destination still reads both disks' data.
    s.delete(&path(&format!("images/{src}?deleteSnapshot=true")))
        .await
        .ok();
    s.wait_gone(&path(&format!("images/{src}"))).await;
    s.delete(&instance_path(&inst)).await.ok();
    s.wait_gone(&instance_path(&inst)).await;
    let body = json!({"instanceSpec": {"az": "cn-east-2a", "instanceType": "g.n2.medium",
        "imageId": copy, "name": "from-copy", "systemDisk": cloud_system(40)}});
    let r = s.post("/v1/regions/cn-east-2/instances", body).await;
    let launched = ids(r.ok(), "instanceIds")[0].clone();
    s.wait_status(
        &format!("/v1/regions/cn-east-2/instances/{launched}"),
        "/result/instance/status",
        "running",
        WAIT,
    )
    .await;
    assert!(reads(&s.top_layer(&launched, Some("vda")), "0x3c", "1M"));
    assert!(reads(&s.top_layer(&launched, Some("vdb")), "0x4d", "256k"));
}

/// sizeMB is the system disk's size for every kind of image (it was 0 for private cloudDisk
/// images and 1 for local and imported ones).
#[tokio::test]
async fn size_mb_is_the_system_disks_for_every_image() {
    let s = Server::start(&[]).await;
    let mut spec = instance_spec("size-src");
    spec["systemDisk"] = cloud_system(60);
    let inst = s.launch(spec).await;
    let r = s
        .post(&action_path(&inst, "createImage"), json!({"name": "sized"}))
        .await;
    let img = r.ok()["imageId"].as_str().unwrap().to_string();
    let done = s.wait_image(&img, "ready").await;
    assert_eq!(done["result"]["image"]["sizeMB"], 60 * 1024);
    let public = s.get(&image_path("img-ubuntu2204")).await;
    assert_eq!(public.ok()["image"]["sizeMB"], 40 * 1024);
}
