//! OSS import and export over the S3 protocol, against a real S3 server (moto's, from the
//! repository's `.venv`; `scripts/test` installs it): an image exported as qcow2 objects
//! comes back byte for byte through importImage; the error rows (no object storage
//! configured, another region's bucket). The client itself: `oss_client.rs`.

use serde_json::json;

use kiln::oss::{OssClient, OssConfig, OssLocation};

use crate::harness::*;
use crate::oss_client::Moto;

fn client(s3: &Moto) -> OssClient {
    OssClient::new(OssConfig {
        endpoint: s3.endpoint.clone(),
        access_key: "kiln-test".into(),
        secret_key: "kiln-test-secret".into(),
        region: "us-east-1".into(),
    })
}

fn oss_args(s3: &Moto) -> Vec<String> {
    vec![
        "--oss-endpoint".into(),
        s3.endpoint.clone(),
        "--oss-access-key".into(),
        "kiln-test".into(),
        "--oss-secret-key".into(),
        "kiln-test-secret".into(),
    ]
}

#[tokio::test]
async fn an_image_exported_to_oss_imports_back_byte_for_byte() {
    let Some(s3) = Moto::start().await else {
        return;
    };
    client(&s3).create_bucket("kiln-images").await.unwrap();
    let args = oss_args(&s3);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start(&args).await;
    let mut spec = instance_spec("oss-src");
    spec["systemDisk"] = json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    spec["dataDisks"] = json!([{"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]);
    let inst = s.launch(spec).await;
    write_pattern(&s.top_layer(&inst, Some("vda")), "0x81", "2M");
    write_pattern(&s.top_layer(&inst, Some("vdb")), "0x92", "1M");
    let r = s
        .post(
            &action_path(&inst, "createImage"),
            json!({"name": "to-oss"}),
        )
        .await;
    let img = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_image(&img, "ready").await;
    let export = path(&format!("images/{img}:exportImage"));
    let bucket_url = "https://kiln-images.s3.cn-north-1.jdcloud-oss.com";

    // Another region's bucket.
    s.post(
        &export,
        json!({"roleName": "r", "ossUrl": "https://kiln-images.s3.cn-east-2.jdcloud-oss.com"}),
    )
    .await
    .err(
        400,
        "CONFLICT",
        "OssRegion 'cn-east-2' not match current region 'cn-north-1'",
    );

    let r = s
        .post(
            &export,
            json!({"roleName": "r", "ossUrl": bucket_url, "ossPrefix": "exp", "isAllDisk": true}),
        )
        .await;
    let task = r.ok()["taskId"].as_str().unwrap().to_string();
    let done = s
        .wait_status(
            &path(&format!("imageTasks?taskIds.1={task}")),
            "/result/taskSet/0/taskStatus",
            "finished",
            WAIT,
        )
        .await;
    let objects = done["result"]["taskSet"][0]["ossObjects"].clone();
    let system_object = format!("exp{img}.qcow2");
    assert_eq!(
        objects,
        json!([system_object, format!("exp{img}-vdb.qcow2")]),
        "{done}"
    );
    let c = client(&s3);
    let loc = OssLocation {
        bucket: "kiln-images".into(),
        key: system_object.clone(),
    };
    assert!(c.head(&loc).await.unwrap().is_some_and(|n| n > 0));

    // Import the system disk's object back; a launch reads the exported bytes.
    let body = json!({"architecture": "x86_64", "osType": "linux", "platform": "Ubuntu",
        "diskFormat": "qcow2", "systemDiskSizeGB": 40, "imageName": "from-oss",
        "imageUrl": format!("{bucket_url}/{system_object}")});
    let r = s.post(&path("images:import"), body.clone()).await;
    let imported = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_image(&imported, "ready").await;
    let mut spec = instance_spec("from-oss");
    spec["imageId"] = json!(imported);
    spec["systemDisk"] = json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let launched = s.launch(spec).await;
    assert!(reads(&s.top_layer(&launched, Some("vda")), "0x81", "2M"));

    // A missing object is refused at the call.
    let mut missing = body.clone();
    missing["imageUrl"] = json!(format!("{bucket_url}/nothing.qcow2"));
    let r = s.post(&path("images:import"), missing).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.to_string().contains("no such object"), "{}", r.body);
}

#[tokio::test]
async fn oss_urls_are_refused_without_object_storage() {
    let s = Server::start(&[]).await;
    let body = json!({"architecture": "x86_64", "osType": "linux", "platform": "Ubuntu",
        "diskFormat": "qcow2", "systemDiskSizeGB": 40, "imageName": "no-oss",
        "imageUrl": "https://b-1.s3.cn-north-1.jdcloud-oss.com/a.qcow2"});
    s.post(&path("images:import"), body).await.err(
        400,
        "INVALID_ARGUMENT",
        "Invalid imageUrl 'https://b-1.s3.cn-north-1.jdcloud-oss.com/a.qcow2': object storage is not configured on this server (kiln serve --oss-endpoint)",
    );
}

/// All or nothing: an export whose second disk fails leaves no object in the bucket, not
/// even the first disk's finished one, and its image task says `failed`.
#[tokio::test]
async fn a_failed_export_leaves_no_object_behind() {
    let Some(s3) = Moto::start().await else {
        return;
    };
    client(&s3).create_bucket("kiln-fail").await.unwrap();
    let faults = tempfile::tempdir().unwrap();
    let d = faults.path().display();
    // Once `armed` exists, the second `qemu-img convert` (the second disk's flattening) fails.
    let qemu = crate::reliability::qemu_img_wrapper(
        faults.path(),
        &format!(
            "if [ -e {d}/armed ] && [ \"$1\" = convert ]; then\n\
               n=$(cat {d}/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > {d}/n\n\
               if [ $n -ge 2 ]; then echo 'qemu-img: I/O error' >&2; exit 1; fi\n\
             fi\n"
        ),
    );
    let mut args = oss_args(&s3);
    args.extend(["--qemu-img".into(), qemu.to_str().unwrap().into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start(&args).await;
    let mut spec = instance_spec("oss-fail");
    spec["systemDisk"] = json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    spec["dataDisks"] = json!([{"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]);
    let inst = s.launch(spec).await;
    write_pattern(&s.top_layer(&inst, Some("vda")), "0x81", "1M");
    let r = s
        .post(&action_path(&inst, "createImage"), json!({"name": "half"}))
        .await;
    let img = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_image(&img, "ready").await;

    std::fs::write(faults.path().join("armed"), b"").unwrap();
    let r = s
        .post(
            &path(&format!("images/{img}:exportImage")),
            json!({"roleName": "r", "ossUrl": "https://kiln-fail.s3.cn-north-1.jdcloud-oss.com",
                   "ossPrefix": "half", "isAllDisk": true}),
        )
        .await;
    let task = r.ok()["taskId"].as_str().unwrap().to_string();
    let done = s
        .wait_status(
            &path(&format!("imageTasks?taskIds.1={task}")),
            "/result/taskSet/0/taskStatus",
            "failed",
            WAIT,
        )
        .await;
    let n: u32 = std::fs::read_to_string(faults.path().join("n"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(n >= 2, "the second disk was never reached: {done}");
    let left = client(&s3).list("kiln-fail", "half").await.unwrap();
    assert!(left.is_empty(), "objects left behind: {left:?}");
    // The image itself is untouched and can be exported again once the fault is gone.
    std::fs::remove_file(faults.path().join("armed")).unwrap();
    s.wait_image(&img, "ready").await;
}
