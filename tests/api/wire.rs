//! The wire (spec §1, §9): envelopes, request ids, routing of `:action` paths, parameter
//! decoding quirks, signatures.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;

const NO_ROUTE: &str = "no route and no API found with those values";

#[track_caller]
fn assert_json_utf8(r: &Resp) {
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json; charset=utf-8"),
        "{} {} -> {:?}",
        r.method,
        r.path,
        r.headers
    );
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn unknown_routes_answer_the_gateway_404() {
    let s = Server::start(&[]).await;
    for p in [
        "/v1/regions/cn-north-1/bogus",
        "/v2/regions/cn-north-1/instances",
        "/v1/regions/cn-north-1/instances/i-abc/extra",
        "/",
    ] {
        let r = s.get(p).await;
        r.err(404, "NOT_FOUND", NO_ROUTE);
        assert_json_utf8(&r);
    }
    let r = s
        .post(&action_path("i-abc", "bogusAction"), json!({}))
        .await;
    r.err(404, "NOT_FOUND", NO_ROUTE);
    // A known path with a method it does not have.
    let r = s
        .send_with(
            Method::PUT,
            &path("instances"),
            None,
            Auth::Sign {
                service: "vm",
                access_key: AK.into(),
                secret_key: SK.into(),
            },
        )
        .await;
    r.err(404, "NOT_FOUND", NO_ROUTE);
    let r = s.delete(&path("instances")).await;
    r.err(404, "NOT_FOUND", NO_ROUTE);
    let r = s.post(&path("disks/vol-abc"), json!({})).await;
    r.err(404, "NOT_FOUND", NO_ROUTE);
}

#[tokio::test]
async fn unknown_region_is_invalid_argument() {
    let s = Server::start(&[]).await;
    let r = s.get("/v1/regions/xx/instances").await;
    r.err(400, "INVALID_ARGUMENT", "Invalid region 'xx'");
    assert_json_utf8(&r);
    let r = s
        .post(
            "/v1/regions/xx/disks",
            json!({"diskSpec": disk_spec("d", 20), "maxCount": 1}),
        )
        .await;
    r.err(400, "INVALID_ARGUMENT", "Invalid region 'xx'");
    let r = s
        .get("/v1/regions/cn-north-9/images?imageSource=public")
        .await;
    r.err(400, "INVALID_ARGUMENT", "Invalid region 'cn-north-9'");
    // Every documented region answers.
    for region in ["cn-north-1", "cn-east-1", "cn-east-2", "cn-south-1"] {
        let r = s
            .get(&format!("/v1/regions/{region}/images?imageSource=public"))
            .await;
        assert_eq!(r.ok()["totalCount"], 3, "{region}: {}", r.body);
    }
}

#[tokio::test]
async fn envelope_content_type_and_request_ids() {
    let s = Server::start(&[]).await;
    let a = s.get(&path("images?imageSource=public")).await;
    a.ok();
    assert_json_utf8(&a);
    let keys = sorted_keys(&a.body);
    assert_eq!(keys, ["requestId", "result"], "{}", a.body);
    let b = s.get(&path("images/img-x")).await;
    b.err(404, "NOT_FOUND", "Image 'img-x' not found");
    assert_json_utf8(&b);
    let keys = sorted_keys(&b.body);
    assert_eq!(keys, ["error", "requestId"], "{}", b.body);
    assert_ne!(a.body["requestId"], b.body["requestId"]);
    // Actions without a result answer only the requestId.
    let id = s.launch(instance_spec("envelope")).await;
    let r = s.post(&action_path(&id, "stopInstance"), json!({})).await;
    r.ok();
    assert_json_utf8(&r);
    let keys = sorted_keys(&r.body);
    assert_eq!(keys, ["requestId"], "{}", r.body);
}

#[tokio::test]
async fn percent_encoded_and_raw_colon_actions() {
    let s = Server::start(&["--transition-delay", "600ms"]).await;
    let id = s.launch(instance_spec("colons")).await;
    let enc = path(&format!("instances/{id}%3AstopInstance"));
    s.post(&enc, json!({})).await.ok();
    assert_eq!(s.instance(&id).await["status"], "stopping");
    s.wait_instance(&id, "stopped").await;
    s.post(&action_path(&id, "startInstance"), json!({}))
        .await
        .ok();
    assert_eq!(s.instance(&id).await["status"], "starting");
    s.wait_instance(&id, "running").await;
    let lower = path(&format!("instances/{id}%3arebootInstance"));
    s.post(&lower, json!({})).await.ok();
    assert_eq!(s.instance(&id).await["status"], "rebooting");
    s.wait_instance(&id, "running").await;
}

#[tokio::test]
async fn json_keys_are_case_insensitive() {
    let s = Server::start(&[]).await;
    // The shape of the documentation's own createInstances example.
    let body = json!({
        "MaxCount": 1,
        "InstanceSpec": {
            "Az": AZ,
            "ImageId": IMAGE,
            "InstanceType": "g.n2.large",
            "Name": "pascal-case",
            "SystemDisk": {"CloudDiskSpec": {"DiskType": "ssd.gp1", "DiskSizeGB": 60}},
            "DataDisks": [{"DiskCategory": "cloud", "DeviceName": "vdc",
                           "CloudDiskSpec": {"DiskType": "hdd.std1", "DiskSizeGB": 30}}]
        }
    });
    let ids = s.create_instances(body).await;
    assert_eq!(ids.len(), 1);
    let inst = s.wait_instance(&ids[0], "running").await["result"]["instance"].clone();
    assert_eq!(inst["instanceName"], "pascal-case");
    assert_eq!(inst["instanceType"], "g.n2.large");
    assert_eq!(inst["imageId"], IMAGE);
    assert_eq!(inst["az"], AZ);
    assert_eq!(inst["systemDisk"]["diskCategory"], "cloud");
    assert_eq!(inst["systemDisk"]["cloudDisk"]["diskSizeGB"], 60);
    assert_eq!(inst["systemDisk"]["cloudDisk"]["diskType"], "ssd.gp1");
    let data = inst["dataDisks"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{inst}");
    assert_eq!(data[0]["deviceName"], "vdc");
    assert_eq!(data[0]["cloudDisk"]["diskType"], "hdd.std1");
    assert_eq!(data[0]["cloudDisk"]["diskSizeGB"], 30);
    // Query keys too.
    let r = s.get(&path("images?ImageSource=public&PageSize=10")).await;
    assert_eq!(r.ok()["totalCount"], 3, "{}", r.body);
}

#[tokio::test]
async fn nulls_and_path_parameters_in_bodies_are_ignored() {
    let s = Server::start(&[]).await;
    // The Python SDK sends every field, unset ones as null, plus the path parameters.
    let r = s
        .post(
            &path("disks"),
            json!({
                "regionId": "cn-east-1",
                "diskSpec": {"az": AZ, "name": "nulls", "diskType": "ssd.gp1", "diskSizeGB": 20,
                             "description": null, "snapshotId": null, "iops": null,
                             "charge": null, "multiAttachable": null, "encrypt": null},
                "maxCount": 1,
                "clientToken": null,
                "userTags": null
            }),
        )
        .await;
    let did = ids(r.ok(), "diskIds").remove(0);
    // The path's region wins over the body's regionId.
    let d = s.wait_disk(&did, "available").await["result"]["disk"].clone();
    assert_eq!(d["description"], "");
    assert_eq!(d["snapshotId"], "");
    assert_eq!(d["az"], AZ);
    let r = s.get(&format!("/v1/regions/cn-east-1/disks/{did}")).await;
    r.err(404, "NOT_FOUND", &format!("Disk '{did}' not found"));

    let ids = s
        .create_instances(json!({
            "regionId": REGION,
            "instanceSpec": {"az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE,
                             "name": "nulls", "hostname": null, "description": null,
                             "systemDisk": null, "dataDisks": null, "charge": null,
                             "chargeOnStopped": null, "primaryNetworkInterface": null},
            "maxCount": null,
            "clientToken": null
        }))
        .await;
    assert_eq!(ids.len(), 1);
    let id = ids[0].clone();
    let inst = s.wait_instance(&id, "running").await["result"]["instance"].clone();
    assert_eq!(inst["systemDisk"]["diskCategory"], "local");
    assert_eq!(inst["dataDisks"], json!([]));
    assert_eq!(inst["chargeOnStopped"], "keepCharging");
    // stopInstance with another instanceId (and a null) in the body acts on the path's.
    s.post(
        &action_path(&id, "stopInstance"),
        json!({"regionId": REGION, "instanceId": "i-someoneelse", "chargeOnStopped": null}),
    )
    .await
    .ok();
    s.wait_instance(&id, "stopped").await;
}

#[tokio::test]
async fn dotted_query_arrays() {
    let s = Server::start(&[]).await;
    // ids.N, given out of order.
    let r = s
        .get(&path(
            "images?ids.2=img-centos0708&ids.1=img-ubuntu2204&pageSize=10",
        ))
        .await;
    let res = r.ok();
    assert_eq!(res["totalCount"], 2, "{res}");
    let got: Vec<&str> = res["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["imageId"].as_str().unwrap())
        .collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["img-centos0708", "img-ubuntu2204"]);

    let a = s.launch(instance_spec("arr-a")).await;
    let b = s.launch(instance_spec("arr-b")).await;
    s.post(&action_path(&b, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&b, "stopped").await;
    let list = |q: String| {
        let s = &s;
        async move {
            let r = s.get(&path(&format!("instances?{q}"))).await;
            let res = r.ok().clone();
            let mut ids: Vec<String> = res["instances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["instanceId"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            (res["totalCount"].as_i64().unwrap(), ids)
        }
    };
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    // filters.N.values.M: values OR-ed, filters AND-ed.
    let q = "filters.1.name=status&filters.1.values.1=stopped&filters.1.values.2=running";
    assert_eq!(list(q.into()).await, (2, both.clone()));
    let q = format!(
        "filters.1.name=status&filters.1.values.1=stopped&filters.2.name=instanceId&filters.2.values.1={a}&filters.2.values.2={b}"
    );
    assert_eq!(list(q).await, (1, vec![b.clone()]));
    let q = format!(
        "filters.1.name=instanceId&filters.1.operator=eq&filters.1.values.1={a}&filters.1.values.2={b}"
    );
    assert_eq!(list(q).await, (2, both));
    // Percent-encoded UTF-8 values (and a signature over them).
    let c = s.launch(instance_spec("中文机器-1")).await;
    let q = "filters.1.name=name&filters.1.values.1=%E4%B8%AD%E6%96%87".to_string();
    assert_eq!(list(q).await, (1, vec![c.clone()]));
    assert_eq!(s.instance(&c).await["instanceName"], "中文机器-1");
}

#[tokio::test]
async fn query_booleans_in_any_case() {
    let s = Server::start(&[]).await;
    for v in ["True", "true", "False", "false", "TRUE"] {
        let r = s
            .get(&path(&format!("images?imageSource=public&offline={v}")))
            .await;
        assert_eq!(r.ok()["totalCount"], 3, "offline={v}: {}", r.body);
    }
    let r = s
        .get(&path("images?imageSource=public&offline=maybe"))
        .await;
    r.err(400, "INVALID_ARGUMENT", "Invalid parameter offline");

    let did = s.new_disk("bools", 20).await;
    for v in ["True", "false"] {
        let r = s
            .get(&path(&format!(
                "disks?filters.1.name=multiAttach&filters.1.values.1={v}"
            )))
            .await;
        let want = if v == "false" { 1 } else { 0 };
        assert_eq!(r.ok()["totalCount"], want, "multiAttach={v}: {}", r.body);
    }
    let r = s
        .get(&path(
            "disks?filters.1.name=multiAttach&filters.1.values.1=sometimes",
        ))
        .await;
    r.err(
        400,
        "INVALID_ARGUMENT",
        "Invalid filter value 'sometimes' for multiAttach",
    );
    // The Python SDK's `putInRecycleBin=True`.
    s.delete(&format!("{}?putInRecycleBin=True", disk_path(&did)))
        .await
        .ok();
    s.wait_gone(&disk_path(&did)).await;
}

#[tokio::test]
async fn malformed_json_is_invalid_argument() {
    let s = Server::start(&[]).await;
    for raw in [
        &b"{nope"[..],
        b"{\"diskSpec\": {",
        b"\"just a string",
        b"{}}",
    ] {
        let expected = serde_json::from_slice::<Value>(raw).unwrap_err();
        let r = s.post_raw(&path("disks"), raw).await;
        r.err(
            400,
            "INVALID_ARGUMENT",
            &format!("Malformed JSON body: {expected}"),
        );
        assert_json_utf8(&r);
    }
    for raw in [&b"[1, 2]"[..], b"42", b"\"s\""] {
        let r = s.post_raw(&path("disks"), raw).await;
        r.err(
            400,
            "INVALID_ARGUMENT",
            "Request body must be a JSON object",
        );
    }
    // A wrongly typed value.
    let r = s
        .post(
            &path("disks"),
            json!({"diskSpec": disk_spec("typed", 20), "maxCount": "many"}),
        )
        .await;
    r.err(400, "INVALID_ARGUMENT", "Invalid parameter maxCount");
}

#[tokio::test]
async fn page_size_out_of_range() {
    let s = Server::start(&[]).await;
    for list in [
        "instances?",
        "disks?",
        "snapshots?",
        "images?imageSource=public&",
    ] {
        for size in [5, 9, 101] {
            let r = s.get(&path(&format!("{list}pageSize={size}"))).await;
            r.err(400, "OUT_OF_RANGE", "PageSize out of range");
        }
        for size in [10, 100] {
            s.get(&path(&format!("{list}pageSize={size}"))).await.ok();
        }
        let r = s.get(&path(&format!("{list}pageNumber=0"))).await;
        r.err(400, "OUT_OF_RANGE", "PageNumber out of range");
    }
}

#[tokio::test]
async fn signatures_are_checked() {
    let s = Server::start(&[]).await;
    let p = path("images?imageSource=public");
    let r = s.send_with(Method::GET, &p, None, Auth::Unsigned).await;
    r.err(401, "ACCESS_ERROR", "lack of header authorization");
    let sign = |ak: &str, sk: &str| Auth::Sign {
        service: "vm",
        access_key: ak.into(),
        secret_key: sk.into(),
    };
    let r = s
        .send_with(Method::GET, &p, None, sign(AK, "WRONGSECRET"))
        .await;
    r.err(401, "ACCESS_ERROR", "sign result is not same [gw]");
    let r = s
        .send_with(Method::GET, &p, None, sign("NOSUCHAK", SK))
        .await;
    r.err(401, "ACCESS_ERROR", "Invalid accessKey");
    let r = s.send_with(Method::GET, &p, None, sign(AK, SK)).await;
    assert_eq!(r.ok()["totalCount"], 3);
    // A signed POST body cannot be altered.
    let body =
        serde_json::to_vec(&json!({"diskSpec": disk_spec("sig", 20), "maxCount": 1})).unwrap();
    let r = s
        .send_with(
            Method::POST,
            &path("disks"),
            Some(body),
            sign(AK, "WRONGSECRET"),
        )
        .await;
    r.err(401, "ACCESS_ERROR", "sign result is not same [gw]");
    let r = s.get(&path("disks")).await;
    assert_eq!(r.ok()["totalCount"], 0, "a refused request created a disk");
}
