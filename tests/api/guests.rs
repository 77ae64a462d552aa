//! `kiln serve --hypervisor qemu`: instances that really run Kiln Linux under QEMU (TCG).
//! A guest writes a counter to files on `vda` and `vdb` without pause while createImage
//! freezes it; the instance launched from that image boots and its counters agree. Plus
//! start/stop/reboot/attach/detach, a guest powering itself off, a restart of Kiln, and an
//! image that does not boot.
//!
//! The boot kit is built by `scripts/build-kiln-linux` (first use here builds it when
//! missing). The guest tests run one at a time: each guest is a TCG process on a 2-core
//! machine. They run on the SQLite pass; the hypervisor does not depend on the backend.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

/// Guests boot in ~3 s alone under TCG; with the rest of the suite running beside them,
/// give them much longer.
const BOOT: Duration = WAIT_GUEST;

/// One guest test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The boot kit, built once if missing.
fn kit() -> PathBuf {
    static KIT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    KIT.get_or_init(|| {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let kit = std::env::var_os("KILN_GUEST_KIT")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target/kiln-linux"));
        let status = std::process::Command::new(repo.join("scripts/build-kiln-linux"))
            .arg(&kit)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run scripts/build-kiln-linux");
        assert!(status.success(), "scripts/build-kiln-linux failed");
        kit
    })
    .clone()
}

async fn qemu_server() -> Server {
    Server::start(&qemu_args(&kit(), "30s")).await
}

/// `kiln serve` arguments for guests under TCG with no artificial delays.
fn qemu_args<'a>(kit: &'a std::path::Path, stop_timeout: &'a str) -> Vec<&'a str> {
    vec![
        "--hypervisor",
        "qemu",
        "--accel",
        "tcg",
        "--guest-kit",
        kit.to_str().unwrap(),
        "--transition-delay",
        "0s",
        "--task-delay",
        "0s",
        "--guest-stop-timeout",
        stop_timeout,
    ]
}

/// A Kiln Linux instance with a cloud system disk and, optionally, one 20 GiB cloud data
/// disk, once it has booted.
async fn launch_kiln_linux(s: &Server, name: &str, image: &str, data_disk: bool) -> String {
    let mut spec = json!({
        "az": AZ, "instanceType": "g.n2.medium", "imageId": image, "name": name,
        "systemDisk": {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}},
    });
    if data_disk {
        spec["dataDisks"] = json!([{"diskCategory": "cloud",
            "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]);
    }
    let ids = s
        .create_instances(json!({"instanceSpec": spec, "maxCount": 1}))
        .await;
    wait_instance_long(s, &ids[0], "running").await;
    ids[0].clone()
}

async fn wait_instance_long(s: &Server, id: &str, status: &str) -> Value {
    s.wait_status(&instance_path(id), "/result/instance/status", status, BOOT)
        .await
}

fn kiln_path(id: &str, verb: &str) -> String {
    format!("/kiln/v1/regions/{REGION}/instances/{id}/{verb}")
}

/// Runs `command` in the guest; its exit code and stdout.
async fn exec(s: &Server, id: &str, command: &str) -> (i64, String) {
    let r = s
        .post(
            &kiln_path(id, "exec"),
            json!({"command": command, "timeoutSeconds": 60}),
        )
        .await;
    let out = r.ok();
    (
        out["exitCode"].as_i64().expect("exitCode"),
        out["stdout"].as_str().unwrap_or_default().to_string(),
    )
}

/// Runs `command` and insists it succeeds; its stdout, trimmed.
async fn sh(s: &Server, id: &str, command: &str) -> String {
    let (code, out) = exec(s, id, command).await;
    assert_eq!(code, 0, "`{command}` exited {code}: {out}");
    out.trim().to_string()
}

async fn counter(s: &Server, id: &str, file: &str) -> u64 {
    sh(s, id, &format!("cat {file}"))
        .await
        .parse()
        .unwrap_or_else(|e| panic!("{file} is not a number: {e}"))
}

/// The demo's writer: a counter to vda, then vdb, synced, without pause, in the background.
const WRITER: &str = kiln::cli::demo_guest::WRITER;

#[tokio::test]
async fn an_image_of_a_writing_guest_is_consistent_across_disks_and_boots() {
    if postgres_mode() {
        return; // runs on the SQLite pass
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let mut s = qemu_server().await;
    let a = launch_kiln_linux(&s, "writer", "img-kiln-linux", true).await;

    // A filesystem on the data disk, a blob with its checksum, then the writer.
    sh(
        &s,
        &a,
        "mkfs.ext4 -q /dev/vdb && mkdir -p /mnt/vdb && mount /dev/vdb /mnt/vdb",
    )
    .await;
    sh(
        &s,
        &a,
        "head -c 1048576 /dev/urandom > /root/blob && md5sum /root/blob > /root/blob.md5 && sync",
    )
    .await;
    sh(&s, &a, WRITER).await;
    let deadline = tokio::time::Instant::now() + BOOT;
    while counter(&s, &a, "/root/counter").await < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writer is stuck"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // createImage while it writes.
    let r = s
        .post(
            &action_path(&a, "createImage"),
            json!({"name": "live-writer", "description": "taken while writing"}),
        )
        .await;
    let image = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_status(
        &path(&format!("images/{image}")),
        "/result/image/status",
        "ready",
        BOOT,
    )
    .await;
    // The guest was thawed: it goes on writing.
    let after = counter(&s, &a, "/root/counter").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        counter(&s, &a, "/root/counter").await > after,
        "writes stopped after the freeze"
    );

    // A restart of Kiln finds the guest on the overlays the freeze switched it to.
    s.restart().await;
    assert_eq!(s.instance(&a).await["status"], "running");
    let after = counter(&s, &a, "/root/counter").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        counter(&s, &a, "/root/counter").await > after,
        "writes stopped after the restart"
    );

    // A snapshot of the running data disk, while it writes, too.
    let vdb = attached_cloud_disk(&s.instance(&a).await, "vdb").expect("vdb");
    let r = s
        .post(
            &path("snapshots"),
            json!({"snapshotSpec": {"name": "live-vdb", "diskId": vdb}}),
        )
        .await;
    let snap = r.ok()["snapshotId"].as_str().unwrap().to_string();
    s.wait_snapshot(&snap, "available").await;

    // The image boots, and its disks hold one instant: vdb's counter equals vda's or is
    // one behind (vda is written first), and the blob is intact.
    let b = launch_kiln_linux(&s, "from-image", &image, false).await;
    let b_detail = s.instance(&b).await;
    assert!(
        attached_cloud_disk(&b_detail, "vdb").is_some(),
        "the image's data disk came with it: {b_detail}"
    );
    sh(&s, &b, "mkdir -p /mnt/vdb && mount /dev/vdb /mnt/vdb").await;
    let on_vda = counter(&s, &b, "/root/counter").await;
    let on_vdb = counter(&s, &b, "/mnt/vdb/counter").await;
    assert!(on_vda >= 20, "vda counter {on_vda}");
    assert!(
        on_vdb == on_vda || on_vdb + 1 == on_vda,
        "not one instant across disks: vda {on_vda}, vdb {on_vdb}"
    );
    sh(&s, &b, "md5sum -c /root/blob.md5").await;
    let (_, writer) = exec(&s, &b, "ls /root/writer.sh").await;
    assert_eq!(writer.trim(), "/root/writer.sh");

    // The live snapshot as a new disk, hot-plugged into the new instance.
    let r = s
        .post(
            &path("disks"),
            json!({"diskSpec": {"az": AZ, "name": "from-live-snap", "diskType": "ssd.gp1",
                "diskSizeGB": 20, "snapshotId": snap}, "maxCount": 1}),
        )
        .await;
    let disk = ids(r.ok(), "diskIds")[0].clone();
    s.wait_disk(&disk, "available").await;
    s.post(&action_path(&b, "attachDisk"), json!({"diskId": disk}))
        .await
        .ok();
    s.wait_disk(&disk, "in-use").await;
    let dev = attached_device(&s.instance(&b).await, &disk);
    let snap_counter = sh(
        &s,
        &b,
        &format!(
            "for i in $(seq 50); do [ -b /dev/{dev} ] && break; sleep 0.1; done; \
             mkdir -p /mnt/snap && mount -o ro /dev/{dev} /mnt/snap && cat /mnt/snap/counter"
        ),
    )
    .await;
    let snap_counter: u64 = snap_counter.parse().expect("counter on the snapshot");
    assert!(snap_counter >= on_vdb, "snapshot taken after the image");

    // Hot-unplug: the guest lets the disk go.
    sh(&s, &b, "umount /mnt/snap").await;
    s.post(&action_path(&b, "detachDisk"), json!({"diskId": disk}))
        .await
        .ok();
    s.wait_disk(&disk, "available").await;
    let (code, _) = exec(&s, &b, &format!("test -e /sys/block/{dev}")).await;
    assert_ne!(code, 0, "/dev/{dev} still in the guest after detach");
}

/// The device an instance has `disk_id` at.
fn attached_device(instance: &Value, disk_id: &str) -> String {
    instance["dataDisks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["cloudDisk"]["diskId"] == disk_id)
        .and_then(|d| d["deviceName"].as_str())
        .unwrap_or_else(|| panic!("{disk_id} not attached: {instance}"))
        .to_string()
}

#[tokio::test]
async fn start_stop_reboot_and_a_guest_that_powers_itself_off() {
    if postgres_mode() {
        return; // runs on the SQLite pass
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let mut s = qemu_server().await;
    let a = launch_kiln_linux(&s, "cycler", "img-kiln-linux", false).await;
    let pid_file = s.data_dir().join("guests").join(&a).join("qemu.pid");
    assert!(pid_file.exists());
    sh(&s, &a, "echo kept > /root/kept && sync").await;

    // Stop: an ACPI power-down; QEMU is gone, the console log stays.
    s.post(&action_path(&a, "stopInstance"), json!({}))
        .await
        .ok();
    wait_instance_long(&s, &a, "stopped").await;
    assert!(!pid_file.exists(), "QEMU's pid file outlived the stop");
    let r = s
        .post(&kiln_path(&a, "exec"), json!({"command": "true"}))
        .await;
    r.err(
        400,
        "FAILED_PRECONDITION",
        &format!("Instance '{a}' is not running"),
    );

    // Start again: the data written before is there.
    s.post(&action_path(&a, "startInstance"), json!({}))
        .await
        .ok();
    wait_instance_long(&s, &a, "running").await;
    assert_eq!(sh(&s, &a, "cat /root/kept").await, "kept");

    // Reboot: a reset, a fresh boot (uptime starts over).
    sh(&s, &a, "sleep 3").await;
    let before: f64 = sh(&s, &a, "cut -d' ' -f1 /proc/uptime")
        .await
        .parse()
        .unwrap();
    s.post(&action_path(&a, "rebootInstance"), json!({}))
        .await
        .ok();
    wait_instance_long(&s, &a, "running").await;
    let after: f64 = sh(&s, &a, "cut -d' ' -f1 /proc/uptime")
        .await
        .parse()
        .unwrap();
    assert!(after < before, "no reboot: uptime {before} -> {after}");

    // Typed at the serial console (a root shell), it runs.
    s.post(
        &kiln_path(&a, "console"),
        json!({"input": "echo typed-at-the-console > /root/typed; sync\n"}),
    )
    .await
    .ok();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while exec(&s, &a, "cat /root/typed").await.1.trim() != "typed-at-the-console" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "console input never ran"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A command past its timeout is an error saying so.
    s.post(
        &kiln_path(&a, "exec"),
        json!({"command": "sleep 5", "timeoutSeconds": 1}),
    )
    .await
    .err(
        400,
        "FAILED_PRECONDITION",
        "The command did not end within 1s (it may still run in the guest)",
    );

    // The console log kept the boots.
    let r = s.get(&kiln_path(&a, "console")).await;
    let console = r.ok()["output"].as_str().unwrap_or_default().to_string();
    assert!(console.contains("Kiln Linux booted"), "{console}");

    // A guest that ignores the power button is stopped hard after the stop timeout.
    s.restart_with(&qemu_args(&kit(), "2s")).await;
    sh(&s, &a, "killall acpid").await;
    let asked = std::time::Instant::now();
    s.post(&action_path(&a, "stopInstance"), json!({}))
        .await
        .ok();
    wait_instance_long(&s, &a, "stopped").await;
    assert!(
        asked.elapsed() >= Duration::from_secs(2),
        "stopped before the timeout"
    );
    assert!(!pid_file.exists(), "QEMU outlived the hard stop");
    s.post(&action_path(&a, "startInstance"), json!({}))
        .await
        .ok();
    wait_instance_long(&s, &a, "running").await;

    // A guest that powers itself off leaves its instance stopped.
    let _ = s
        .post(&kiln_path(&a, "exec"), json!({"command": "poweroff"}))
        .await;
    wait_instance_long(&s, &a, "stopped").await;

    // Delete: the guest's directory goes with it.
    s.delete(&instance_path(&a)).await.ok();
    s.wait_gone(&instance_path(&a)).await;
    assert!(!s.data_dir().join("guests").join(&a).exists());
}

#[tokio::test]
async fn a_restart_finds_running_guests_again_and_a_dead_guest_stops_its_instance() {
    if postgres_mode() {
        return; // runs on the SQLite pass
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let mut s = qemu_server().await;
    let a = launch_kiln_linux(&s, "survivor", "img-kiln-linux", false).await;
    let pid_file = s.data_dir().join("guests").join(&a).join("qemu.pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();

    // Kiln dies and comes back: the same QEMU runs on, and answers.
    s.restart().await;
    assert_eq!(s.instance(&a).await["status"], "running");
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid);
    assert_eq!(sh(&s, &a, "echo back").await, "back");

    // Kiln dies between a live switch and its commit (played here by hand over QMP while
    // it is down): the restart adopts the overlay the guest now writes to.
    s.kill();
    switch_vda_by_hand(&s.data_dir().join("guests").join(&a)).await;
    s.start_again().await;
    assert_eq!(s.instance(&a).await["status"], "running");
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid);
    sh(&s, &a, "echo after > /root/after && sync").await;
    let (clean, report) = crate::fsck::fsck(&s, false);
    assert!(clean, "fsck after adopting an overlay: {report}");

    // QEMU dies: the instance is stopped, and starts again on a fresh QEMU.
    let status = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_instance_long(&s, &a, "stopped").await;
    s.post(&action_path(&a, "startInstance"), json!({}))
        .await
        .ok();
    wait_instance_long(&s, &a, "running").await;
    assert_ne!(std::fs::read_to_string(&pid_file).unwrap(), pid);

    // A guest killed while Kiln is down: the restart marks its instance stopped.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    s.kill();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status();
    s.start_again().await;
    assert_eq!(s.instance(&a).await["status"], "stopped");
}

#[tokio::test]
async fn an_image_without_an_operating_system_does_not_boot_and_says_why() {
    if postgres_mode() {
        return; // runs on the SQLite pass
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let s = qemu_server().await;
    // The synthetic public images hold a label, no filesystem.
    let ids = s
        .create_instances(json!({"instanceSpec": instance_spec("hollow"), "maxCount": 1}))
        .await;
    wait_instance_long(&s, &ids[0], "stopped").await;
    let r = s.get(&kiln_path(&ids[0], "console")).await;
    let console = r.ok()["output"].as_str().unwrap_or_default().to_string();
    assert!(
        console.contains("kiln-linux: no root filesystem on /dev/vda"),
        "{console}"
    );
}

/// Without a hypervisor (the default) an instance has no guest: exec and console say so;
/// another account's instance is not found; a bad body is refused before anything runs.
#[tokio::test]
async fn exec_and_console_without_a_guest_say_why() {
    let s = Server::start(&[]).await;
    let id = s.launch(instance_spec("rows-only")).await;
    let none = "Instances do not run on this server (kiln serve --hypervisor none)";
    s.post(&kiln_path(&id, "exec"), json!({"command": "true"}))
        .await
        .err(400, "FAILED_PRECONDITION", none);
    s.get(&kiln_path(&id, "console"))
        .await
        .err(400, "FAILED_PRECONDITION", none);
    for (body, message) in [
        (json!({}), "Parameter command missing"),
        (
            json!({"command": "true", "timeoutSeconds": 0}),
            "Parameter timeoutSeconds out of range (1..600)",
        ),
    ] {
        s.post(&kiln_path(&id, "exec"), body)
            .await
            .err(400, "INVALID_ARGUMENT", message);
    }
    s.post(&kiln_path("i-missing", "exec"), json!({"command": "true"}))
        .await
        .err(404, "NOT_FOUND", "Instance 'i-missing' not found.");

    // Another account's instance is not found either.
    let b = crate::accounts::Tenant::new(&s, crate::accounts::create_account(&s, "tenant-b"));
    b.post(&kiln_path(&id, "exec"), json!({"command": "true"}))
        .await
        .err(404, "NOT_FOUND", &format!("Instance '{id}' not found."));

    // The command line: JD's message and exit code 4 (a failed precondition).
    let run = crate::cli::Env::for_server(&s).kiln(&["instance", "exec", &id, "--", "true"]);
    assert_eq!(run.code, 4, "{run:#?}");
    assert!(run.stderr.contains(none), "{run:#?}");
}

/// What a live switch does, by hand: an overlay on vda's top in the layer store, and a
/// QMP `transaction` putting the guest on it (no row records it).
async fn switch_vda_by_hand(guest_dir: &std::path::Path) {
    use kiln::hypervisor::qmp::{self, Qmp};
    let qmp = Qmp::connect(&guest_dir.join("qmp.sock"), Duration::from_secs(5))
        .await
        .expect("QMP of the guest");
    let vda = qmp
        .execute(&qmp::QueryBlock)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.qdev.as_deref().is_some_and(|q| q.contains("/vda/")))
        .and_then(|b| b.inserted)
        .expect("vda");
    let top = PathBuf::from(&vda.file);
    let overlay = top.with_file_name("lyr-adoptedoverlay01.qcow2");
    // -u: the top is QEMU's (locked); the size is the system disk's.
    let made = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-u", "-F", "qcow2", "-b"])
        .arg(top.file_name().unwrap())
        .arg(&overlay)
        .arg("40G")
        .status()
        .unwrap();
    assert!(made.success());
    let action =
        qmp::TransactionAction::BlockdevSnapshotSync(qmp::BlockdevSnapshotSync::existing_qcow2(
            vda.node_name.expect("node name"),
            overlay.to_string_lossy(),
            "lyr-adoptedoverlay01",
        ));
    qmp.execute(&qmp::Transaction {
        actions: vec![action],
    })
    .await
    .expect("switch vda");
}
