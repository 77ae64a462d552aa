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
