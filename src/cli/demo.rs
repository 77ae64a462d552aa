//! `kiln demo`: the main job end to end, against an embedded server in a temporary
//! directory. Launch an instance, write guest data, bake a private image with data disks
//! (one excluded, one inserted), wait for `ready`, launch from it and verify the bytes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::serve::{prepare, Prepared};
use super::ServeArgs;
use crate::client::Client;
use crate::service::account::SuppliedKeys;

const REGION: &str = "cn-north-1";

pub async fn run(keep: bool) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("kiln-demo-").tempdir()?;
    let data_dir = dir.path().to_path_buf();
    let args = ServeArgs {
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.clone(),
        transition_delay: Duration::from_millis(300),
        task_delay: Duration::from_millis(500),
        quotas: vec![],
        no_auth: false,
        auth_skew: Duration::from_secs(900),
        rate_limit: None,
        qemu_img: "qemu-img".into(),
        qemu_img_timeout: Duration::from_secs(600),
    };
    let keys = SuppliedKeys {
        access_key: Some("KILNDEMOACCESSKEY".into()),
        secret_key: Some(crate::ids::random_suffix(32)),
    };
    let Prepared {
        listener, state, ..
    } = prepare(&args, keys.clone()).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, crate::http::router(Arc::new(state))).await });
    step(&format!(
        "Started an embedded Kiln on http://{addr}, data in {}",
        data_dir.display()
    ));

    let c = Client::new(
        &format!("http://{addr}"),
        keys.access_key.as_deref().unwrap_or_default(),
        keys.secret_key.as_deref().unwrap_or_default(),
        REGION,
    );
    let started = Instant::now();
    let r = c
        .post(
            "vm",
            "/instances",
            &json!({"instanceSpec": {
                "az": "cn-north-1a", "instanceType": "g.n2.medium", "imageId": "img-ubuntu2204",
                "name": "demo-source",
                "systemDisk": {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}},
                "dataDisks": [
                    {"deviceName": "vdb", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}},
                    {"deviceName": "vdc", "cloudDiskSpec": {"diskType": "hdd.std1", "diskSizeGB": 50}}
                ]}}),
        )
        .await?;
    let source = r["instanceIds"][0]
        .as_str()
        .context("no instance id")?
        .to_string();
    step(&format!(
        "createInstances → {source} (cloud system disk vda, data disks vdb and vdc)"
    ));
    wait_for(
        &c,
        &format!("/instances/{source}"),
        "/instance/status",
        "running",
    )
    .await?;

    let kiln = std::env::current_exe()?;
    write_pattern(&kiln, &data_dir, &source, "vda", 0x11)?;
    write_pattern(&kiln, &data_dir, &source, "vdb", 0x22)?;
    write_pattern(&kiln, &data_dir, &source, "vdc", 0x33)?;
    step("Wrote guest data with qemu-io: vda=0x11, vdb=0x22, vdc=0x33 (1 MiB each at offset 0)");

    let r = c
        .post(
            "vm",
            &format!("/instances/{source}:createImage"),
            &json!({"name": "demo-image", "description": "baked by kiln demo",
            "dataDisks": [
                {"deviceName": "vdc", "noDevice": true},
                {"deviceName": "vdd", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 30}}
            ]}),
        )
        .await?;
    let image = r["imageId"].as_str().context("no image id")?.to_string();
    step(&format!(
        "createImage → {image} (vdc excluded with noDevice, blank vdd inserted)"
    ));
    write_pattern(&kiln, &data_dir, &source, "vda", 0x99)?;
    step("Overwrote the source's vda with 0x99 after createImage: the image must not see it");
    let t = Instant::now();
    wait_for(&c, &format!("/images/{image}"), "/image/status", "ready").await?;
    step(&format!(
        "Image is ready after {:.2}s",
        t.elapsed().as_secs_f64()
    ));
    let img = c.get("vm", &format!("/images/{image}"), "").await?;
    let devices: Vec<String> = img["image"]["dataDisks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "{} ({}, snapshot {})",
                d["deviceName"].as_str().unwrap_or(""),
                d["cloudDisk"]["diskType"].as_str().unwrap_or(""),
                d["cloudDisk"]["snapshotId"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("none")
            )
        })
        .collect();
    step(&format!(
        "Image {}: rootDeviceType {}, system snapshot {}, data disks: {}",
        image,
        img["image"]["rootDeviceType"].as_str().unwrap_or(""),
        img["image"]["snapshotId"].as_str().unwrap_or(""),
        devices.join(", ")
    ));

    let r = c
        .post(
            "vm",
            "/instances",
            &json!({"instanceSpec": {"az": "cn-north-1a", "instanceType": "g.n2.medium",
                    "imageId": image, "name": "demo-copy"}}),
        )
        .await?;
    let copy = r["instanceIds"][0]
        .as_str()
        .context("no instance id")?
        .to_string();
    step(&format!("createInstances from {image} → {copy}"));
    wait_for(
        &c,
        &format!("/instances/{copy}"),
        "/instance/status",
        "running",
    )
    .await?;
    let inst = c.get("vm", &format!("/instances/{copy}"), "").await?;
    let devs: Vec<&str> = inst["instance"]["dataDisks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["deviceName"].as_str())
        .collect();
    step(&format!("{copy} is running with vda + {}", devs.join(", ")));
    if devs != ["vdb", "vdd"] {
        bail!("expected data disks vdb and vdd, got {devs:?}");
    }
    verify_pattern(&kiln, &data_dir, &copy, "vda", 0x11)?;
    verify_pattern(&kiln, &data_dir, &copy, "vdb", 0x22)?;
    verify_pattern(&kiln, &data_dir, &copy, "vdd", 0x00)?;
    step(
        "Verified with qemu-io: vda holds 0x11 (not the later 0x99), vdb holds 0x22, vdd is blank",
    );
    println!(
        "\nDone in {:.1}s: the private image carries exactly the data the source held at createImage.",
        started.elapsed().as_secs_f64()
    );
    if keep {
        let kept = dir.keep();
        println!("Data directory kept at {}", kept.display());
    }
    Ok(())
}

fn step(msg: &str) {
    println!("• {msg}");
}

async fn wait_for(c: &Client, path: &str, pointer: &str, want: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    loop {
        let v = c.get("vm", path, "").await?;
        let status = v
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if status == want {
            return Ok(());
        }
        if status != last {
            step(&format!("  {path}: {status}"));
            last = status.clone();
        }
        if status == "error" || Instant::now() > deadline {
            bail!("{path} ended in '{status}', wanted '{want}'");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn disk_path(kiln: &Path, data_dir: &Path, instance: &str, device: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new(kiln)
        .args(["admin", "disk-path", "--data-dir"])
        .arg(data_dir)
        .args([instance, device])
        .output()?;
    if !out.status.success() {
        bail!("disk-path failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn qemu_io(path: &str, cmd: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", cmd, path])
        .output()
        .context("running qemu-io")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || text.contains("Pattern verification failed") {
        bail!(
            "qemu-io {cmd} on {path}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(text)
}

fn write_pattern(
    kiln: &Path,
    data_dir: &Path,
    instance: &str,
    device: &str,
    byte: u8,
) -> anyhow::Result<()> {
    let path = disk_path(kiln, data_dir, instance, device)?;
    qemu_io(&path, &format!("write -P 0x{byte:02x} 0 1M"))?;
    Ok(())
}

fn verify_pattern(
    kiln: &Path,
    data_dir: &Path,
    instance: &str,
    device: &str,
    byte: u8,
) -> anyhow::Result<()> {
    let path = disk_path(kiln, data_dir, instance, device)?;
    qemu_io(&path, &format!("read -P 0x{byte:02x} 0 1M"))?;
    Ok(())
}
