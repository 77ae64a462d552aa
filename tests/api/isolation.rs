//! Tenant isolation: two accounts on one server (the second made with `kiln account create`
//! on the running server's data directory). For every resource type and every API, account
//! B cannot see, list, change or use account A's resources: each answer is the 404
//! NOT_FOUND a non-existent id gets, with the very same message; lists and filters return
//! nothing of A's; quotas count each account's own resources only. Public images are
//! visible to both.

use reqwest::Method;
use serde_json::{json, Value};

use crate::accounts::{create_account, Tenant};
use crate::harness::*;

const NO_INSTANCE: &str = "i-zzzzzzzzzz";
const NO_DISK: &str = "vol-zzzzzzzzzz";
const NO_SNAPSHOT: &str = "snapshot-zzzzzzzzzz";
const NO_IMAGE: &str = "img-zzzzzzzzzz";

/// Sends the request `req` builds for A's id and for a non-existent id of the same shape,
/// as B, and asserts both are 404 NOT_FOUND with the same message (`expected`, naming
/// `theirs`; the other naming `missing`).
async fn hidden<F>(b: &Tenant<'_>, theirs: &str, missing: &str, expected: &str, req: F)
where
    F: Fn(&str) -> (Method, String, Option<Value>),
{
    assert!(expected.contains(theirs), "{expected} names {theirs}");
    let (m, p, body) = req(missing);
    let r = b.send(m, &p, body).await;
    r.err(404, "NOT_FOUND", &expected.replace(theirs, missing));
    let (m, p, body) = req(theirs);
    let r = b.send(m, &p, body).await;
    r.err(404, "NOT_FOUND", expected);
}

fn get(p: String) -> (Method, String, Option<Value>) {
    (Method::GET, p, None)
}

fn post(p: String, body: Value) -> (Method, String, Option<Value>) {
    (Method::POST, p, Some(body))
}

fn delete(p: String) -> (Method, String, Option<Value>) {
    (Method::DELETE, p, None)
}

fn cloud_system() -> Value {
    json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}})
}

/// An instance spec with a cloud system disk (so createImage works while it runs).
fn cloud_spec(name: &str) -> Value {
    let mut spec = instance_spec(name);
    spec["systemDisk"] = cloud_system();
    spec
}

fn total(r: &Resp) -> i64 {
    r.ok()["totalCount"].as_i64().expect("totalCount")
}

/// The ids in `result[list][*][field]`.
fn listed(r: &Resp, list: &str, field: &str) -> Vec<String> {
    r.ok()[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {}", r.body))
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

/// A snapshot of `disk` by A, waited for.
async fn snapshot_of(s: &Server, disk: &str, name: &str) -> String {
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": name, "diskId": disk}}),
        )
        .await;
    let id = r.ok()["snapshotId"].as_str().unwrap().to_string();
    s.wait_snapshot(&id, "available").await;
    id
}

#[tokio::test]
async fn instances_of_another_account_cannot_be_seen_or_touched() {
    let s = Server::start(&[]).await;
    // A: a running instance with a cloud system disk and a cloud data disk on vdb.
    let mut spec = cloud_spec("a-inst");
    spec["dataDisks"] = json!([{"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]);
    let ia = s.launch(spec).await;
    let a_inst = s.instance(&ia).await;
    let vdb_a = attached_cloud_disk(&a_inst, "vdb").expect("A's vdb");
    let b = Tenant::new(&s, create_account(&s, "tenant-b"));
    let ib = b.launch(cloud_spec("b-inst")).await;
    let db = b.new_disk("b-disk", 20).await;

    // See.
    hidden(
        &b,
        &ia,
        NO_INSTANCE,
        &format!("Instance '{ia}' not found."),
        |id| get(instance_path(id)),
    )
    .await;
    let r = b.get(&path("instances")).await;
    assert_eq!(listed(&r, "instances", "instanceId"), [ib.as_str()]);
    assert_eq!(total(&r), 1);
    for q in [
        format!("filters.1.name=instanceId&filters.1.values.1={ia}"),
        format!("filters.1.name=instanceId&filters.1.values.1={ia}&filters.1.values.2={ib}"),
        "filters.1.name=name&filters.1.values.1=a-inst".to_string(),
        format!("filters.1.name=imageId&filters.1.values.1={IMAGE}"),
        "filters.1.name=status&filters.1.values.1=running".to_string(),
    ] {
        let r = b.get(&path(&format!("instances?{q}"))).await;
        let got = listed(&r, "instances", "instanceId");
        assert!(!got.contains(&ia), "{q}: B lists A's instance: {}", r.body);
        assert_eq!(total(&r), got.len() as i64, "{q}: {}", r.body);
    }
    let r = b
        .get(&path(&format!(
            "disks?filters.1.name=instanceId&filters.1.values.1={ia}"
        )))
        .await;
    assert_eq!(total(&r), 0, "{}", r.body);

    // Change: delete, stop, start, reboot, attach, detach, createImage on A's instance.
    hidden(
        &b,
        &ia,
        NO_INSTANCE,
        &format!("Instance '{ia}' not found."),
        |id| delete(instance_path(id)),
    )
    .await;
    for action in ["stopInstance", "startInstance", "rebootInstance"] {
        hidden(
            &b,
            &ia,
            NO_INSTANCE,
            &format!("Instance '{ia}' not found."),
            |id| post(action_path(id, action), json!({})),
        )
        .await;
    }
    hidden(
        &b,
        &ia,
        NO_INSTANCE,
        &format!("Instance '{ia}' not found."),
        |id| post(action_path(id, "attachDisk"), json!({"diskId": db})),
    )
    .await;
    hidden(
        &b,
        &ia,
        NO_INSTANCE,
        &format!("Instance '{ia}' not found."),
        |id| post(action_path(id, "detachDisk"), json!({"diskId": vdb_a})),
    )
    .await;
    hidden(
        &b,
        &ia,
        NO_INSTANCE,
        &format!("Instance '{ia}' not found."),
        |id| post(action_path(id, "createImage"), json!({"name": "stolen"})),
    )
    .await;
    // Use: A's disk attached to (or detached from) B's own instance.
    hidden(
        &b,
        &vdb_a,
        NO_DISK,
        &format!("Disk '{vdb_a}' not found."),
        |id| post(action_path(&ib, "attachDisk"), json!({"diskId": id})),
    )
    .await;
    hidden(
        &b,
        &vdb_a,
        NO_DISK,
        &format!("Disk '{vdb_a}' not found."),
        |id| post(action_path(&ib, "detachDisk"), json!({"diskId": id})),
    )
    .await;

    // A's instance is untouched: still running, vdb still attached, no image made.
    settle().await;
    let after = s.instance(&ia).await;
    assert_eq!(after["status"], "running", "{after}");
    assert_eq!(attached_cloud_disk(&after, "vdb"), Some(vdb_a.clone()));
    let r = s.get(&path("images?imageSource=private")).await;
    assert_eq!(total(&r), 0, "{}", r.body);
    let r = s.get(&path("instances")).await;
    assert_eq!(listed(&r, "instances", "instanceId"), [ia.as_str()]);
    // B's own instance still works normally.
    b.post(
        action_path(&ib, "attachDisk").as_str(),
        json!({"diskId": db}),
    )
    .await
    .ok();
}

#[tokio::test]
async fn disks_and_snapshots_of_another_account_cannot_be_seen_or_used() {
    let s = Server::start(&[]).await;
    let da = s.new_disk("a-disk", 20).await;
    let sa = snapshot_of(&s, &da, "a-snap").await;
    let b = Tenant::new(&s, create_account(&s, "tenant-b"));
    let ib = b.launch(cloud_spec("b-inst")).await;
    let db = b.new_disk("b-disk", 20).await;

    // Disks: see, list, delete, snapshot, attach.
    hidden(&b, &da, NO_DISK, &format!("Disk '{da}' not found"), |id| {
        get(disk_path(id))
    })
    .await;
    let r = b.get(&path("disks")).await;
    let mine = listed(&r, "disks", "diskId");
    assert_eq!(mine.len(), 2, "B's system disk and dB: {}", r.body);
    assert!(mine.contains(&db) && !mine.contains(&da), "{}", r.body);
    for q in [
        format!("filters.1.name=diskId&filters.1.values.1={da}"),
        "filters.1.name=name&filters.1.values.1=a-disk".to_string(),
        "filters.1.name=status&filters.1.values.1=available".to_string(),
    ] {
        let r = b.get(&path(&format!("disks?{q}"))).await;
        let got = listed(&r, "disks", "diskId");
        assert!(!got.contains(&da), "{q}: B lists A's disk: {}", r.body);
        assert_eq!(total(&r), got.len() as i64, "{q}");
    }
    hidden(&b, &da, NO_DISK, &format!("Disk '{da}' not found"), |id| {
        delete(disk_path(id))
    })
    .await;
    hidden(&b, &da, NO_DISK, &format!("Disk '{da}' not found"), |id| {
        post(
            path("snapshots"),
            json!({"snapshotSpec": {"name": "stolen", "diskId": id}}),
        )
    })
    .await;
    hidden(&b, &da, NO_DISK, &format!("Disk '{da}' not found."), |id| {
        post(action_path(&ib, "attachDisk"), json!({"diskId": id}))
    })
    .await;

    // Snapshots: see, list, delete, and use (createDisks, createInstances, createImage).
    hidden(
        &b,
        &sa,
        NO_SNAPSHOT,
        &format!("Snapshot '{sa}' not found"),
        |id| get(snapshot_path(id)),
    )
    .await;
    for q in [
        String::new(),
        format!("filters.1.name=snapshotId&filters.1.values.1={sa}"),
        format!("filters.1.name=diskId&filters.1.values.1={da}"),
        "filters.1.name=name&filters.1.values.1=a-snap".to_string(),
    ] {
        let r = b.get(&path(&format!("snapshots?{q}"))).await;
        assert_eq!(total(&r), 0, "{q}: {}", r.body);
        assert_eq!(r.ok()["snapshots"], json!([]), "{q}");
    }
    hidden(
        &b,
        &sa,
        NO_SNAPSHOT,
        &format!("Snapshot '{sa}' not found"),
        |id| delete(snapshot_path(id)),
    )
    .await;
    hidden(
        &b,
        &sa,
        NO_SNAPSHOT,
        &format!("Snapshot id '{sa}' not found"),
        |id| {
            let mut spec = disk_spec("from-a", 20);
            spec["snapshotId"] = json!(id);
            post(path("disks"), json!({"diskSpec": spec, "maxCount": 1}))
        },
    )
    .await;
    hidden(
        &b,
        &sa,
        NO_SNAPSHOT,
        &format!("Snapshot '{sa}' not found"),
        |id| {
            let mut spec = instance_spec("from-a");
            spec["dataDisks"] = json!([{"diskCategory": "cloud",
            "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20, "snapshotId": id}}]);
            post(
                path("instances"),
                json!({"instanceSpec": spec, "maxCount": 1}),
            )
        },
    )
    .await;
    hidden(&b, &sa, NO_SNAPSHOT, &format!("Snapshot '{sa}' not found"), |id| {
        post(
            action_path(&ib, "createImage"),
            json!({"name": "with-a-snap", "dataDisks": [{"deviceName": "vdc", "diskCategory": "cloud",
                   "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20, "snapshotId": id}}]}),
        )
    })
    .await;

    // The same clientToken in two accounts makes two resources.
    let token = "shared-client-token";
    let body = json!({"diskSpec": disk_spec("tok", 20), "maxCount": 1, "clientToken": token});
    let a_tok = ids(s.post(&path("disks"), body.clone()).await.ok(), "diskIds");
    let b_tok = ids(b.post(&path("disks"), body.clone()).await.ok(), "diskIds");
    assert_ne!(a_tok, b_tok, "B's retry must not answer with A's disk");
    assert_eq!(
        ids(s.post(&path("disks"), body.clone()).await.ok(), "diskIds"),
        a_tok
    );
    b.get(&disk_path(&b_tok[0])).await.ok();
    hidden(
        &b,
        &a_tok[0],
        NO_DISK,
        &format!("Disk '{}' not found", a_tok[0]),
        |id| get(disk_path(id)),
    )
    .await;

    // Nothing of A's changed.
    settle().await;
    assert_eq!(s.disk(&da).await["status"], "available");
    s.wait_snapshot(&sa, "available").await;
    let r = s.get(&path("snapshots")).await;
    assert_eq!(listed(&r, "snapshots", "snapshotId"), [sa.as_str()]);
    let r = s.get(&path("disks")).await;
    assert_eq!(total(&r), 2, "dA and A's token disk: {}", r.body);
    // B made nothing from A's snapshot.
    let r = b.get(&path("disks")).await;
    assert_eq!(
        total(&r),
        3,
        "B's system disk, dB, B's token disk: {}",
        r.body
    );
    let r = b.get(&path("images?imageSource=private")).await;
    assert_eq!(total(&r), 0);
}

#[tokio::test]
async fn private_images_and_image_tasks_of_another_account_stay_private() {
    let s = Server::start(&[]).await;
    let ia = s.launch(cloud_spec("a-inst")).await;
    let r = s
        .post(&action_path(&ia, "createImage"), json!({"name": "a-image"}))
        .await;
    let img_a = r.ok()["imageId"].as_str().unwrap().to_string();
    let image_path = |id: &str| path(&format!("images/{id}"));
    s.wait_status(&image_path(&img_a), "/result/image/status", "ready", WAIT)
        .await;
    // A's import and export tasks.
    let files = tempfile::tempdir().unwrap();
    let src = files.path().join("src.qcow2");
    let ok = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&src)
        .arg("1G")
        .status()
        .unwrap();
    assert!(ok.success());
    let r = s
        .post(
            &path("images:import"),
            json!({"architecture": "x86_64", "osType": "linux", "platform": "Ubuntu", "diskFormat": "qcow2",
                   "systemDiskSizeGB": 40, "imageUrl": format!("file://{}", src.display()), "imageName": "a-imported"}),
        )
        .await;
    let imported = r.ok()["imageId"].as_str().unwrap().to_string();
    let import_task = r.ok()["taskId"].as_str().unwrap().to_string();
    let out_dir = files.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let r = s
        .post(
            &path(&format!("images/{img_a}:exportImage")),
            json!({"roleName": "r", "ossUrl": format!("file://{}", out_dir.display())}),
        )
        .await;
    let export_task = r.ok()["taskId"].as_str().unwrap().to_string();

    let b = Tenant::new(&s, create_account(&s, "tenant-b"));

    // See.
    for img in [&img_a, &imported] {
        hidden(
            &b,
            img,
            NO_IMAGE,
            &format!("Image '{img}' not found"),
            |id| get(image_path(id)),
        )
        .await;
    }
    for q in [
        "imageSource=private".to_string(),
        format!("ids.1={img_a}"),
        format!("ids.1={imported}"),
        format!("imageSource=private&ids.1={img_a}"),
        format!("imageSource=private&instanceIds.1={ia}"),
        "imageSource=private&imageName=a-image".to_string(),
    ] {
        let r = b.get(&path(&format!("images?{q}"))).await;
        assert_eq!(total(&r), 0, "{q}: {}", r.body);
        assert_eq!(r.ok()["images"], json!([]), "{q}");
    }
    let r = b
        .get(&path(&format!("images?ids.1={img_a}&ids.2={IMAGE}")))
        .await;
    assert_eq!(listed(&r, "images", "imageId"), [IMAGE]);
    // Public images: the same three for both.
    for r in [
        s.get(&path("images?imageSource=public")).await,
        b.get(&path("images?imageSource=public")).await,
    ] {
        assert_eq!(total(&r), 3, "{}", r.body);
    }
    b.get(&image_path(IMAGE)).await.ok();
    // Image tasks.
    for q in [
        String::new(),
        format!("taskIds.1={import_task}&taskIds.2={export_task}"),
        "taskAction=ExportImage".to_string(),
        "taskAction=ImportImage".to_string(),
    ] {
        let r = b.get(&path(&format!("imageTasks?{q}"))).await;
        assert_eq!(total(&r), 0, "{q}: {}", r.body);
        assert_eq!(r.ok()["taskSet"], json!([]), "{q}");
    }
    assert_eq!(total(&s.get(&path("imageTasks")).await), 2);

    // Change or use: delete, export, launch from A's image.
    hidden(
        &b,
        &img_a,
        NO_IMAGE,
        &format!("Image '{img_a}' not found"),
        |id| delete(image_path(id)),
    )
    .await;
    let out = format!("file://{}", out_dir.display());
    hidden(
        &b,
        &img_a,
        NO_IMAGE,
        &format!("Image '{img_a}' not found"),
        |id| {
            post(
                path(&format!("images/{id}:exportImage")),
                json!({"roleName": "r", "ossUrl": out}),
            )
        },
    )
    .await;
    hidden(
        &b,
        &img_a,
        NO_IMAGE,
        &format!("Image '{img_a}' not found"),
        |id| {
            let mut spec = cloud_spec("from-a");
            spec["imageId"] = json!(id);
            post(
                path("instances"),
                json!({"instanceSpec": spec, "maxCount": 1}),
            )
        },
    )
    .await;
    // B launches from a public image like anyone.
    let ib = b.launch(instance_spec("b-public")).await;
    assert_eq!(total(&b.get(&path("instances")).await), 1);

    // A's image is still there and ready; B's account has no image or task.
    settle().await;
    let r = s.get(&image_path(&img_a)).await;
    assert_eq!(r.ok()["image"]["status"], "ready");
    let r = s.get(&path("images?imageSource=private")).await;
    assert_eq!(total(&r), 2, "{}", r.body);
    assert_eq!(total(&s.get(&path("imageTasks")).await), 2);
    assert_eq!(total(&b.get(&path("imageTasks")).await), 0);
    let r = b.get(&path("images?imageSource=private")).await;
    assert_eq!(total(&r), 0);
    b.get(&instance_path(&ib)).await.ok();
}

const QUOTA_TYPES: &str = "filters.1.name=resourceTypes&filters.1.values.1=instance\
    &filters.1.values.2=instance_cpu&filters.1.values.3=instance_memory\
    &filters.1.values.4=instance_local_disk&filters.1.values.5=image";

/// resourceType → (used, limit) from vm describeQuotas.
async fn vm_used(t: &Tenant<'_>) -> Vec<(String, i64, i64)> {
    let r = t.get(&path(&format!("quotas?{QUOTA_TYPES}"))).await;
    r.ok()["quotas"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.body))
        .iter()
        .map(|q| {
            (
                q["resourceType"].as_str().unwrap().to_string(),
                q["used"].as_i64().unwrap(),
                q["limit"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn disk_used(t: &Tenant<'_>, kind: &str) -> (i64, i64) {
    let r = t.get(&path(&format!("quotas?type={kind}"))).await;
    let q = &r.ok()["quota"];
    (q["used"].as_i64().unwrap(), q["limit"].as_i64().unwrap())
}

#[tokio::test]
async fn quotas_count_each_account_on_its_own() {
    let s = Server::start(&["--quota", "instance=1", "--quota", "snapshot=2"]).await;
    let a = Tenant::new(
        &s,
        crate::accounts::Keys {
            pin: String::new(),
            access_key: AK.into(),
            secret_key: SK.into(),
        },
    );
    // A uses its whole instance quota, a disk, snapshots and an image.
    let ia = a.launch(cloud_spec("a-inst")).await;
    let da = a.new_disk("a-disk", 20).await;
    snapshot_of(&s, &da, "a-snap").await;
    let r = a
        .post(&action_path(&ia, "createImage"), json!({"name": "a-image"}))
        .await;
    let img_a = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_status(
        &path(&format!("images/{img_a}")),
        "/result/image/status",
        "ready",
        WAIT,
    )
    .await;
    let r = a
        .post(
            &path("instances"),
            json!({"instanceSpec": instance_spec("a-2"), "maxCount": 1}),
        )
        .await;
    assert_eq!(r.status, 429, "A is at its instance quota: {}", r.body);
    assert_eq!(r.body["error"]["status"], "QUOTA_EXCEEDED");

    let b = Tenant::new(&s, create_account(&s, "tenant-b"));
    let zero = |used: &[(String, i64, i64)]| used.iter().all(|(_, u, _)| *u == 0);
    let a_vm = vm_used(&a).await;
    assert!(
        a_vm.iter()
            .all(|(t, u, _)| *u > 0 || t == "instance_local_disk"),
        "{a_vm:?}"
    );
    assert!(zero(&vm_used(&b).await), "{:?}", vm_used(&b).await);
    assert_eq!(disk_used(&b, "disk").await, (0, 50));
    assert_eq!(disk_used(&b, "snapshot").await, (0, 2));
    assert_eq!(disk_used(&a, "disk").await.0, 2, "A's system disk and dA");
    assert!(disk_used(&a, "snapshot").await.0 >= 1);

    // B has its own full quota: one instance, then quota exceeded, as for A.
    let ib = b.launch(instance_spec("b-inst")).await;
    let r = b
        .post(
            &path("instances"),
            json!({"instanceSpec": instance_spec("b-2"), "maxCount": 1}),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["error"]["status"], "QUOTA_EXCEEDED");
    let db = b.new_disk("b-disk", 20).await;
    snapshot_of_tenant(&b, &db).await;
    snapshot_of_tenant(&b, &db).await;
    let b_vm = vm_used(&b).await;
    let used = |t: &str| b_vm.iter().find(|(n, _, _)| n == t).unwrap().1;
    assert_eq!(used("instance"), 1);
    assert_eq!(used("instance_cpu"), 1, "g.n2.medium");
    assert_eq!(used("instance_memory"), 4);
    assert_eq!(used("instance_local_disk"), 40);
    assert_eq!(used("image"), 0);
    assert_eq!(disk_used(&b, "disk").await, (1, 50));
    assert_eq!(disk_used(&b, "snapshot").await, (2, 2));
    // A's counts did not move with B's usage.
    assert_eq!(vm_used(&a).await, a_vm);
    assert_eq!(disk_used(&a, "disk").await.0, 2);
    b.get(&instance_path(&ib)).await.ok();
}

async fn snapshot_of_tenant(t: &Tenant<'_>, disk: &str) -> String {
    let r = t
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": "b-snap", "diskId": disk}}),
        )
        .await;
    let id = r.ok()["snapshotId"].as_str().unwrap().to_string();
    t.wait_status(&snapshot_path(&id), "/result/snapshot/status", "available")
        .await;
    id
}

/// importImage and exportImage reach the server's own filesystem only under its
/// `--file-root` directories (the harness names the temporary directory): another path,
/// a `..` escape or a symlink out of the root is refused, and nothing is created.
#[tokio::test]
async fn file_urls_stay_inside_the_file_roots() {
    let s = Server::start(&["--task-delay", "0s"]).await;
    let import = |url: String| {
        json!({"architecture": "x86_64", "osType": "linux", "platform": "Ubuntu", "diskFormat": "raw",
               "systemDiskSizeGB": 40, "imageUrl": url, "imageName": "probe"})
    };
    let outside = "the path is outside the server's --file-root directories";
    let tmp = std::env::temp_dir();
    for url in [
        "file:///etc/passwd".to_string(),
        format!("file://{}/../etc/passwd", tmp.display()),
    ] {
        let r = s.post(&path("images:import"), import(url.clone())).await;
        r.err(
            400,
            "INVALID_ARGUMENT",
            &format!("Invalid imageUrl '{url}': {outside}"),
        );
    }
    let r = s.get(&path("images?imageSource=private")).await;
    assert_eq!(r.ok()["totalCount"], 0, "nothing was created");

    // A symlink inside the root that points out of it fails the task, not the call.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("escape.raw");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    let r = s
        .post(
            &path("images:import"),
            import(format!("file://{}", link.display())),
        )
        .await;
    let image = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_status(
        &path(&format!("images/{image}")),
        "/result/image/status",
        "error",
        WAIT,
    )
    .await;
    let r = s.get(&path("imageTasks?taskStatus=failed")).await;
    let info = r.ok()["taskSet"][0]["errorInfo"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(info.contains("outside the server's --file-root"), "{info}");

    // Exports: a directory outside the roots is refused before anything starts.
    let r = s
        .post(
            &path(&format!("images/{image}:exportImage")),
            json!({"roleName": "r", "ossUrl": "file:///etc"}),
        )
        .await;
    r.err(
        400,
        "INVALID_ARGUMENT",
        &format!("Invalid ossUrl 'file:///etc': {outside}"),
    );
}
