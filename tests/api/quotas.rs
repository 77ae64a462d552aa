//! vm describeQuotas and disk describeQuota on the same `/quotas` path (spec §6.21, §7.9),
//! told apart by the signature's service, else by the `type` parameter.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;

const TYPES: &str =
    "filters.1.name=resourceTypes&filters.1.values.1=instance&filters.1.values.2=image";

async fn vm_quotas(s: &Server, query: &str) -> Vec<Value> {
    let r = s.get(&path(&format!("quotas?{query}"))).await;
    r.ok()["quotas"]
        .as_array()
        .unwrap_or_else(|| panic!("no quotas list: {}", r.body))
        .clone()
}

async fn disk_quota(s: &Server, kind: &str) -> Value {
    let r = s.get(&path(&format!("quotas?type={kind}"))).await;
    r.ok()["quota"].clone()
}

#[tokio::test]
async fn vm_quotas_count_instances() {
    let s = Server::start(&[]).await;
    assert_eq!(
        vm_quotas(&s, TYPES).await,
        [
            json!({"resourceType": "instance", "limit": 20, "used": 0}),
            json!({"resourceType": "image", "limit": 20, "used": 0}),
        ]
    );
    let a = s.launch(instance_spec("qa")).await;
    let storage = json!({"az": AZ, "instanceType": "s.n2.xlarge", "imageId": IMAGE, "name": "qb"});
    s.launch(storage).await;
    assert_eq!(
        vm_quotas(&s, TYPES).await,
        [
            json!({"resourceType": "instance", "limit": 20, "used": 2}),
            json!({"resourceType": "image", "limit": 20, "used": 0}),
        ]
    );
    // Every type when no filter is given (imageShare needs an imageId).
    let all = vm_quotas(&s, "").await;
    let by_type = |t: &str| all.iter().find(|q| q["resourceType"] == t).cloned();
    let types: Vec<&str> = all
        .iter()
        .map(|q| q["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "instance",
            "instance_cpu",
            "instance_memory",
            "instance_local_disk",
            "keypair",
            "image",
            "instanceTemplate"
        ]
    );
    assert_eq!(by_type("instance").unwrap()["used"], 2);
    // g.n2.medium (1 vCPU, 4 GiB) + s.n2.xlarge (4 vCPU, 32 GiB).
    assert_eq!(by_type("instance_cpu").unwrap()["used"], 5);
    assert_eq!(by_type("instance_memory").unwrap()["used"], 36);
    // Two 40 GiB local system disks and the 1780 GiB local data disk.
    assert_eq!(
        by_type("instance_local_disk").unwrap()["used"],
        40 + 40 + 1780
    );
    assert_eq!(by_type("keypair").unwrap()["used"], 0);

    s.delete(&instance_path(&a)).await.ok();
    s.wait_gone(&instance_path(&a)).await;
    assert_eq!(
        vm_quotas(
            &s,
            "filters.1.name=resourceTypes&filters.1.values.1=instance"
        )
        .await,
        [json!({"resourceType": "instance", "limit": 20, "used": 1})]
    );

    let share = "filters.1.name=resourceTypes&filters.1.values.1=imageShare";
    s.get(&path(&format!("quotas?{share}"))).await.err(
        400,
        "INVALID_ARGUMENT",
        "Parameter ImageId missing",
    );
    assert_eq!(
        vm_quotas(&s, &format!("{share}&imageId={IMAGE}")).await,
        [json!({"resourceType": "imageShare", "limit": 10, "used": 0})]
    );
    s.get(&path(&format!("quotas?{share}&imageId=img-nope")))
        .await
        .err(404, "NOT_FOUND", "Image 'img-nope' not found");
    s.get(&path(
        "quotas?filters.1.name=resourceTypes&filters.1.values.1=gpu",
    ))
    .await
    .err(400, "INVALID_ARGUMENT", "Invalid resourceType 'gpu'");
}

#[tokio::test]
async fn disk_and_snapshot_quota() {
    let s = Server::start(&[]).await;
    assert_eq!(
        disk_quota(&s, "disk").await,
        json!({"limit": 50, "used": 0})
    );
    assert_eq!(
        disk_quota(&s, "snapshot").await,
        json!({"limit": 15, "used": 0})
    );
    assert_eq!(
        disk_quota(&s, "snapshot_policy").await,
        json!({"limit": 10, "used": 0})
    );
    let d = s.new_disk("qd", 20).await;
    let mut spec = instance_spec("qi");
    spec["systemDisk"] = json!({"cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    s.launch(spec).await;
    // A local-system-disk instance uses no disk quota.
    s.launch(instance_spec("ql")).await;
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": "qs", "diskId": d}}),
        )
        .await;
    let sid = r.ok()["snapshotId"].as_str().unwrap().to_string();
    s.wait_snapshot(&sid, "available").await;
    assert_eq!(
        disk_quota(&s, "disk").await,
        json!({"limit": 50, "used": 2})
    );
    assert_eq!(
        disk_quota(&s, "snapshot").await,
        json!({"limit": 15, "used": 1})
    );
    s.get(&path("quotas?type=bogus")).await.err(
        400,
        "INVALID_ARGUMENT",
        "Invalid quota type 'bogus'",
    );
}

#[tokio::test]
async fn quotas_path_is_split_by_signing_service() {
    let s = Server::start(&[]).await;
    let as_service = |service: &'static str| Auth::Sign {
        service,
        access_key: AK.into(),
        secret_key: SK.into(),
    };
    // Signed for `disk` without a type: the disk API, which needs one.
    let r = s
        .send_with(Method::GET, &path("quotas"), None, as_service("disk"))
        .await;
    r.err(400, "INVALID_ARGUMENT", "Parameter type missing");
    let r = s
        .send_with(
            Method::GET,
            &path("quotas?type=snapshot"),
            None,
            as_service("disk"),
        )
        .await;
    assert_eq!(r.ok()["quota"], json!({"limit": 15, "used": 0}));
    // Signed for `vm`: the vm API, whatever the query says.
    let r = s
        .send_with(
            Method::GET,
            &path(&format!("quotas?type=disk&{TYPES}")),
            None,
            as_service("vm"),
        )
        .await;
    assert_eq!(
        r.ok()["quotas"][0]["resourceType"],
        "instance",
        "{}",
        r.body
    );
}

#[tokio::test]
async fn quota_overrides() {
    let s = Server::start(&[
        "--quota",
        "instance=5",
        "--quota",
        "image=7",
        "--quota",
        "disk=9",
        "--quota",
        "snapshot=4",
    ])
    .await;
    assert_eq!(
        vm_quotas(&s, TYPES).await,
        [
            json!({"resourceType": "instance", "limit": 5, "used": 0}),
            json!({"resourceType": "image", "limit": 7, "used": 0}),
        ]
    );
    assert_eq!(disk_quota(&s, "disk").await["limit"], 9);
    assert_eq!(disk_quota(&s, "snapshot").await["limit"], 4);
}
