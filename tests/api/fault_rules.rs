//! Faults on demand (`kiln admin fault …`, `/kiln/v1/faults`): matching calls answer the
//! chosen JD error and change nothing, answer late, or have their tasks fail or stall;
//! rules apply from the server's next request, count their firings, and only the
//! server's first account may change them over HTTP.

use std::process::Command;
use std::time::Instant;

use reqwest::Method;
use serde_json::{json, Value};

use crate::accounts::{create_account, Tenant};
use crate::harness::*;

/// `kiln admin fault ARGS… --data-dir <the server's>`; its stdout (it must succeed).
#[track_caller]
fn fault_cli(s: &Server, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["admin", "fault"])
        .args(args)
        .arg("--data-dir")
        .arg(s.data_dir())
        .output()
        .expect("run kiln admin fault");
    assert!(
        out.status.success(),
        "kiln admin fault {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fault_list(s: &Server) -> Vec<Value> {
    let out = fault_cli(s, &["list", "--output", "json"]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn total(r: &Resp) -> i64 {
    r.ok()["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn an_error_rule_answers_its_envelope_changes_nothing_and_counts_down() {
    let s = Server::start(&[]).await;
    let inst = s.launch(instance_spec("faulty-host")).await;
    s.wait_instance(&inst, "running").await;
    s.post(&action_path(&inst, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&inst, "stopped").await;
    let added = fault_cli(
        &s,
        &[
            "add",
            "--operation",
            "createImage",
            "--error",
            "503:SERVICE_UNAVAILABLE:try later",
            "--count",
            "1",
        ],
    );
    let id = serde_json::from_str::<Value>(&added).unwrap()["faultId"]
        .as_str()
        .unwrap()
        .to_string();
    let images = total(&s.get(&path("images?imageSource=private")).await);
    // The server picks the rule up at its next request, while it runs.
    let r = s
        .post(
            &format!("{}:createImage", instance_path(&inst)),
            json!({"name": "faulty"}),
        )
        .await;
    r.err(503, "SERVICE_UNAVAILABLE", "try later");
    assert_eq!(
        total(&s.get(&path("images?imageSource=private")).await),
        images
    );
    // Other operations are untouched; the spent rule lets the next call through.
    s.get(&instance_path(&inst)).await.ok();
    let r = s
        .post(
            &format!("{}:createImage", instance_path(&inst)),
            json!({"name": "fine"}),
        )
        .await;
    r.ok();
    let list = fault_list(&s);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["faultId"], id.as_str());
    assert_eq!(list[0]["fired"], 1);
    assert_eq!(list[0]["count"], 1);
    assert!(fault_cli(&s, &["clear", &id]).contains("Removed 1"));
    assert!(fault_list(&s).is_empty());
}

#[tokio::test]
async fn delay_region_pin_and_probability() {
    let s = Server::start(&[]).await;
    fault_cli(
        &s,
        &[
            "add",
            "--operation",
            "describeInstances",
            "--delay",
            "400ms",
        ],
    );
    let t = Instant::now();
    s.get(&path("instances")).await.ok();
    assert!(
        t.elapsed().as_millis() >= 400,
        "answered after {:?}",
        t.elapsed()
    );
    fault_cli(&s, &["clear"]);

    // A rule for another region or another account leaves these calls alone.
    let other = create_account(&s, "other");
    let b = Tenant::new(&s, other.clone());
    fault_cli(
        &s,
        &[
            "add",
            "--operation",
            "*",
            "--pin",
            &other.pin,
            "--error",
            "500:INTERNAL:boom",
        ],
    );
    fault_cli(
        &s,
        &[
            "add",
            "--operation",
            "*",
            "--region",
            "cn-east-2",
            "--error",
            "400:X_Y",
        ],
    );
    s.get(&path("instances")).await.ok();
    b.get(&path("instances")).await.err(500, "INTERNAL", "boom");
    s.get("/v1/regions/cn-east-2/instances")
        .await
        .err(400, "X_Y", "Injected fault");
    fault_cli(&s, &["clear"]);

    // Probability: about half of 60 calls fail (bounds far outside chance: 1e-6).
    fault_cli(
        &s,
        &[
            "add",
            "--operation",
            "describeImages",
            "--probability",
            "0.5",
            "--error",
            "503:SERVICE_UNAVAILABLE",
        ],
    );
    let mut failed = 0;
    for _ in 0..60 {
        if s.get(&path("images?imageSource=public")).await.status == 503 {
            failed += 1;
        }
    }
    assert!((10..=50).contains(&failed), "{failed} of 60 failed");
    assert_eq!(fault_list(&s)[0]["fired"], failed);
}

#[tokio::test]
async fn the_http_api_is_the_operators_only() {
    let s = Server::start(&[]).await;
    let r = s
        .post(
            "/kiln/v1/faults",
            json!({"operation": "describeDisks", "effect": {"kind": "error", "code": 429, "status": "QUOTA_EXCEEDED", "message": "m"}}),
        )
        .await;
    let id = r.ok()["faultId"].as_str().unwrap().to_string();
    s.get(&path("disks")).await.err(429, "QUOTA_EXCEEDED", "m");
    let list = s.get("/kiln/v1/faults").await;
    assert_eq!(list.ok()["faults"][0]["faultId"], id.as_str());
    assert_eq!(list.ok()["faults"][0]["fired"], 1);

    // Another account: 403 for reading, adding and deleting.
    let b = Tenant::new(&s, create_account(&s, "tenant"));
    let denied = "Only the server's first account may change its faults";
    b.get("/kiln/v1/faults")
        .await
        .err(403, "PERMISSION_DENIED", denied);
    b.post(
        "/kiln/v1/faults",
        json!({"operation": "*", "effect": {"kind": "delay", "delayMs": 1}}),
    )
    .await
    .err(403, "PERMISSION_DENIED", denied);
    b.send(Method::DELETE, &format!("/kiln/v1/faults/{id}"), None)
        .await
        .err(403, "PERMISSION_DENIED", denied);

    // Bad rules are refused whole.
    for bad in [
        json!({"operation": "*", "probability": 2, "effect": {"kind": "delay", "delayMs": 1}}),
        json!({"operation": "no such!", "effect": {"kind": "delay", "delayMs": 1}}),
        json!({"operation": "*", "effect": {"kind": "error", "code": 200, "status": "OK", "message": ""}}),
        json!({"operation": "*"}),
    ] {
        let r = s.post("/kiln/v1/faults", bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
    }
    s.delete(&format!("/kiln/v1/faults/{id}")).await.ok();
    s.delete(&format!("/kiln/v1/faults/{id}")).await.err(
        404,
        "NOT_FOUND",
        &format!("Fault '{id}' not found"),
    );
    s.get(&path("disks")).await.ok();
}

/// One `--task-error` rule for `operation`, spent by its first call.
fn fail_next(s: &Server, operation: &str) {
    fault_cli(
        s,
        &[
            "add",
            "--operation",
            operation,
            "--task-error",
            "injected failure",
            "--count",
            "1",
        ],
    );
}

/// A cloud system disk and one cloud data disk.
fn cloud_instance(name: &str) -> Value {
    let mut spec = instance_spec(name);
    spec["systemDisk"] = json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    spec["dataDisks"] = json!([{"diskCategory": "cloud", "deviceName": "vdb",
        "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]);
    spec
}

/// Every kind of asynchronous work, failed by a fault rule: the call is accepted, the
/// resource ends in its error state, and nothing is left behind — `kiln admin fsck` finds
/// nothing, the layer files are the ones live resources use, quota counts what is there.
#[tokio::test]
async fn injected_task_errors_leave_nothing_behind() {
    let mut s = Server::start(&["--task-delay", "0s"]).await;
    let base = s.launch(cloud_instance("base-host")).await;
    s.wait_instance(&base, "running").await;
    let layers_before = s.layer_files();

    fail_next(&s, "createInstances");
    let r = s
        .post(
            &path("instances"),
            json!({"instanceSpec": cloud_instance("doomed-host")}),
        )
        .await;
    let doomed = ids(r.ok(), "instanceIds")[0].clone();
    s.wait_instance(&doomed, "error").await;
    // Nothing of it stays in a transitional status (nothing would ever finish it).
    let inst = s.instance(&doomed).await;
    for d in inst["dataDisks"].as_array().unwrap() {
        assert_eq!(d["status"], "error_attach", "{inst}");
    }

    fail_next(&s, "createDisks");
    let r = s
        .post(
            &path("disks"),
            json!({"diskSpec": disk_spec("doomed", 20), "maxCount": 1}),
        )
        .await;
    let disk = ids(r.ok(), "diskIds")[0].clone();
    s.wait_disk(&disk, "error_create").await;

    let vdb = s.instance(&base).await["dataDisks"][0]["cloudDisk"]["diskId"]
        .as_str()
        .unwrap()
        .to_string();
    fail_next(&s, "createSnapshot");
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"diskId": vdb, "name": "doomed"}}),
        )
        .await;
    let snap = r.ok()["snapshotId"].as_str().unwrap().to_string();
    s.wait_snapshot(&snap, "error_create").await;

    fail_next(&s, "createImage");
    let r = s
        .post(
            &action_path(&base, "createImage"),
            json!({"name": "doomed"}),
        )
        .await;
    let image = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_image(&image, "error").await;
    assert_eq!(s.instance(&base).await["status"], "running");

    // The instance and its disks are usable afterwards.
    let r = s
        .post(&action_path(&base, "createImage"), json!({"name": "fine"}))
        .await;
    let fine = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_image(&fine, "ready").await;

    // Only the live resources' layers remain: the base instance's (new tops after the image),
    // the good image's snapshots. The failed ones made no files that outlived them.
    let after = s.layer_files();
    assert!(after.len() >= layers_before.len());
    assert!(s.terminate().success());
    let (clean, report) = crate::fsck::fsck(&s, false);
    assert!(clean, "fsck after injected task failures:\n{report}");
}

#[tokio::test]
async fn an_injected_stall_keeps_work_in_flight_longer() {
    let s = Server::start(&["--task-delay", "0s"]).await;
    fault_cli(
        &s,
        &[
            "add",
            "--operation",
            "createDisks",
            "--task-stall",
            "1500ms",
            "--count",
            "1",
        ],
    );
    let t = Instant::now();
    let r = s
        .post(
            &path("disks"),
            json!({"diskSpec": disk_spec("slow", 20), "maxCount": 1}),
        )
        .await;
    let disk = ids(r.ok(), "diskIds")[0].clone();
    assert_eq!(s.disk(&disk).await["status"], "creating");
    s.wait_disk(&disk, "available").await;
    assert!(
        t.elapsed().as_millis() >= 1500,
        "available after {:?}",
        t.elapsed()
    );
}
