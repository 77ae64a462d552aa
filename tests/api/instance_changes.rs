//! Changes to an existing instance, with their error rows: modifyInstanceAttribute,
//! modifyInstancePassword, modifyInstanceDiskAttribute, resizeInstance, rebuildInstance
//! (real data: the old system disk's layers go, the image's come, data disks stay), vm's
//! associate/disassociateElasticIp, and the brief listings (describeInstanceTypes,
//! describeInstanceStatus, describeInstancePrivateIpAddress, describeBriefInstances).

use serde_json::json;

use crate::harness::*;

async fn stop(s: &Server, id: &str) {
    s.post(&action_path(id, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(id, "stopped").await;
}

#[tokio::test]
async fn attributes_password_and_disk_auto_delete() {
    let s = Server::start(&[]).await;
    let mut spec = instance_spec("before");
    spec["dataDisks"] = json!([{"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}, "autoDelete": true}]);
    let inst = s.launch(spec).await;
    let modify = action_path(&inst, "modifyInstanceAttribute");
    s.post(&modify, json!({"name": "."})).await.err(
        400,
        "INVALID_ARGUMENT",
        "Invalid instance name '.'",
    );
    s.post(
        &modify,
        json!({"name": "after", "description": "renamed", "hostname": "web-1"}),
    )
    .await
    .ok();
    let i = s.get(&instance_path(&inst)).await.ok()["instance"].clone();
    assert_eq!(
        (&i["instanceName"], &i["description"], &i["hostname"]),
        (&json!("after"), &json!("renamed"), &json!("web-1"))
    );

    let password = action_path(&inst, "modifyInstancePassword");
    s.post(&password, json!({"password": "short"})).await.err(
        400,
        "INVALID_ARGUMENT",
        "Invalid password",
    );
    s.post(&password, json!({"password": "Kiln-2026-ok"}))
        .await
        .ok();
    s.post(
        &action_path("i-nope", "modifyInstancePassword"),
        json!({"password": "Kiln-2026-ok"}),
    )
    .await
    .err(404, "NOT_FOUND", "Instance 'i-nope' not found.");

    // The data disk made with autoDelete stays when told so, and outlives the instance.
    let data = i["dataDisks"][0]["cloudDisk"]["diskId"]
        .as_str()
        .unwrap()
        .to_string();
    let disks = action_path(&inst, "modifyInstanceDiskAttribute");
    s.post(
        &disks,
        json!({"dataDisks": [{"diskId": "vol-nope", "autoDelete": false}]}),
    )
    .await
    .err(404, "NOT_FOUND", "Disk 'vol-nope' not found");
    s.post(
        &disks,
        json!({"dataDisks": [{"diskId": data, "autoDelete": false}]}),
    )
    .await
    .ok();
    let i = s.get(&instance_path(&inst)).await.ok()["instance"].clone();
    assert_eq!(i["dataDisks"][0]["autoDelete"], false, "{i}");
    s.delete(&instance_path(&inst)).await.ok();
    s.wait_status(&instance_path(&inst), "/error/status", "NOT_FOUND", WAIT)
        .await;
    s.wait_disk(&data, "available").await;
}

#[tokio::test]
async fn key_names_must_name_the_callers_key_pairs() {
    let s = Server::start(&[]).await;
    let mut spec = instance_spec("keyed");
    spec["keyNames"] = json!(["nokey"]);
    s.post(&path("instances"), json!({"instanceSpec": spec}))
        .await
        .err(404, "NOT_FOUND", "KeyPair 'nokey' not found");
    let r = s.get(&path("instances")).await;
    assert_eq!(r.ok()["totalCount"], 0, "a refused launch left an instance");
    s.post(&path("keypairs"), json!({"keyName": "deploy"}))
        .await
        .ok();
    spec["keyNames"] = json!(["deploy"]);
    let inst = s.launch(spec).await;
    let i = s.get(&instance_path(&inst)).await.ok()["instance"].clone();
    assert_eq!(i["keyNames"], json!(["deploy"]));
    stop(&s, &inst).await;
    s.post(
        &action_path(&inst, "rebuildInstance"),
        json!({"keyNames": ["gone"]}),
    )
    .await
    .err(404, "NOT_FOUND", "KeyPair 'gone' not found");
}

#[tokio::test]
async fn resize_takes_a_stopped_instance_to_a_catalog_type() {
    let s = Server::start(&[]).await;
    let inst = s.launch(instance_spec("grow")).await;
    let resize = action_path(&inst, "resizeInstance");
    s.post(&resize, json!({"instanceType": "g.n2.large"}))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            "Invalid instance status running",
        );
    stop(&s, &inst).await;
    s.post(&resize, json!({"instanceType": "g.n9.huge"}))
        .await
        .err(404, "NOT_FOUND", "InstanceType 'g.n9.huge' not found");
    s.post(&resize, json!({"instanceType": "g.n2.large"}))
        .await
        .ok();
    let i = s.get(&instance_path(&inst)).await.ok()["instance"].clone();
    assert_eq!(i["instanceType"], "g.n2.large");
    assert_eq!(i["cpu"], 2);

    // The catalog it takes types from.
    let r = s.get(&path("instanceTypes")).await;
    let types: Vec<&str> = r.ok()["instanceTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["instanceType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"g.n2.large") && types.contains(&"g.n2.medium"),
        "{types:?}"
    );
    assert_eq!(r.ok()["totalCount"], types.len());
    let r = s
        .get(&path(
            "instanceTypes?filters.1.name=instanceTypes&filters.1.values.1=g.n2.large",
        ))
        .await;
    assert_eq!(r.ok()["totalCount"], 1);
}

#[tokio::test]
async fn rebuild_replaces_the_system_disk_and_keeps_data_disks() {
    let s = Server::start(&[]).await;
    let mut spec = instance_spec("rebuilt");
    spec["systemDisk"] = json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    spec["dataDisks"] = json!([{"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]);
    let inst = s.launch(spec).await;
    let old_system = s.top_layer(&inst, Some("vda"));
    write_pattern(&old_system, "0x5a", "1M");
    write_pattern(&s.top_layer(&inst, Some("vdb")), "0x6b", "1M");
    let rebuild = action_path(&inst, "rebuildInstance");
    s.post(&rebuild, json!({})).await.err(
        400,
        "FAILED_PRECONDITION",
        "Invalid instance status running",
    );
    stop(&s, &inst).await;
    s.post(&rebuild, json!({"imageId": "img-nope"})).await.err(
        404,
        "NOT_FOUND",
        "Image 'img-nope' not found",
    );
    s.post(&rebuild, json!({"password": "weak"})).await.err(
        400,
        "INVALID_ARGUMENT",
        "Invalid password",
    );
    s.post(&rebuild, json!({"password": "Kiln-2026-ok"}))
        .await
        .ok();

    // The system disk is a fresh layer on the image: the old data and its file are gone;
    // the data disk holds what was written.
    let new_system = s.top_layer(&inst, Some("vda"));
    assert_ne!(new_system, old_system);
    assert!(
        !old_system.exists(),
        "the old system layer was not collected"
    );
    assert!(
        !reads(&new_system, "0x5a", "1M"),
        "old data survived the rebuild"
    );
    assert!(reads(&s.top_layer(&inst, Some("vdb")), "0x6b", "1M"));
    let i = s.get(&instance_path(&inst)).await.ok()["instance"].clone();
    assert_eq!(i["status"], "stopped");
    assert_eq!(i["imageId"], IMAGE);
    s.post(&action_path(&inst, "startInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&inst, "running").await;
}

#[tokio::test]
async fn elastic_ips_through_vm_and_the_brief_listings() {
    let s = Server::start(&[]).await;
    let inst = s.launch(instance_spec("eip")).await;
    let r = s
        .post(
            &path("elasticIps/"),
            json!({"maxCount": 1, "elasticIpSpec": {"bandwidthMbps": 2, "provider": "bgp"}}),
        )
        .await;
    let eip = r.ok()["elasticIpIds"][0].as_str().unwrap().to_string();
    s.post(
        &action_path(&inst, "associateElasticIp"),
        json!({"elasticIpId": "fip-nope"}),
    )
    .await
    .err(404, "NOT_FOUND", "ElasticIp 'fip-nope' not found");
    s.post(
        &action_path(&inst, "associateElasticIp"),
        json!({"elasticIpId": eip}),
    )
    .await
    .ok();
    let i = s.get(&instance_path(&inst)).await.ok()["instance"].clone();
    assert_eq!(i["elasticIpId"], eip.as_str());
    let address = i["elasticIpAddress"].as_str().unwrap().to_string();
    let r = s
        .get(&path(&format!(
            "instances?filters.1.name=elasticIpAddress&filters.1.values.1={address}"
        )))
        .await;
    assert_eq!(r.ok()["totalCount"], 1);

    let r = s.get(&path("instanceStatus")).await;
    assert_eq!(
        r.ok()["instanceStatuses"],
        json!([{"instanceId": inst, "status": "running"}])
    );
    let r = s.get(&path("instancePrivateIpAddress")).await;
    assert_eq!(
        r.ok()["instancePrivateIpAddress"][0]["privateIpAddress"],
        i["privateIpAddress"]
    );
    let r = s.get(&path("instances:describeBriefInstances")).await;
    assert_eq!(r.ok()["instances"][0]["instanceId"], inst.as_str());

    s.post(
        &action_path(&inst, "disassociateElasticIp"),
        json!({"elasticIpId": eip}),
    )
    .await
    .ok();
    let i = s.get(&instance_path(&inst)).await.ok()["instance"].clone();
    assert_eq!(i["elasticIpAddress"], "");
    s.post(
        &action_path(&inst, "disassociateElasticIp"),
        json!({"elasticIpId": eip}),
    )
    .await
    .err(
        400,
        "FAILED_PRECONDITION",
        &format!("ElasticIp '{eip}' is not associated with instance '{inst}'"),
    );
}
