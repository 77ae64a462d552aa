//! `kiln demo --hypervisor qemu`: the main job with a running guest. A Kiln Linux instance
//! writes an increasing counter to a file on `vda`, then on `vdb`, synced, without pause;
//! its image is taken while it writes; the instance launched from the image boots, and its
//! two counters are one instant (vdb's equals vda's or is one behind).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::client::Ctx;
use super::demo::{kiln, launch_copy, step};

/// Starts the guest's writer in the background: a counter to /root/counter (vda) first,
/// then /mnt/vdb/counter (vdb), each an atomic rename and a sync, without pause. Also
/// what the guest tests run.
pub const WRITER: &str = "cat > /root/writer.sh <<'EOF'
i=0
while :; do
  i=$((i+1))
  echo $i > /root/counter.new && mv /root/counter.new /root/counter && sync
  echo $i > /mnt/vdb/counter.new && mv /mnt/vdb/counter.new /mnt/vdb/counter && sync
done
EOF
setsid sh /root/writer.sh >/dev/null 2>&1 </dev/null &";

pub(super) async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let source = kiln(
        ctx,
        &[
            "instance",
            "create",
            "--image",
            "img-kiln-linux",
            "--name",
            "demo-guest",
            "--system-disk",
            "cloud:ssd.gp1:40",
            "--disk",
            "vdb=ssd.gp1:20",
            "--wait",
        ],
    )
    .await?
    .id()
    .to_string();
    step("The guest booted: `running` means its agent answered");
    guest(
        ctx,
        &source,
        "mkfs.ext4 -q /dev/vdb && mkdir -p /mnt/vdb && mount /dev/vdb /mnt/vdb",
    )
    .await?;
    guest(ctx, &source, WRITER).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while counter(ctx, &source, "/root/counter").await? < 10 {
        if Instant::now() > deadline {
            bail!("the guest's writer does not count");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    step("The guest writes a counter to vda, then vdb, synced, without pause");

    let image = kiln(
        ctx,
        &["image", "create", &source, "--name", "demo-live", "--wait"],
    )
    .await?
    .id()
    .to_string();
    let went_on = counter(ctx, &source, "/root/counter").await?;
    step(&format!(
        "Image taken from the running guest (its disks switched to new layers in one QMP \
         transaction, filesystems frozen around it); the guest is at {went_on} and counting"
    ));

    let copy = launch_copy(ctx, &image).await?;
    guest(ctx, &copy, "mkdir -p /mnt/vdb && mount /dev/vdb /mnt/vdb").await?;
    let on_vda = counter(ctx, &copy, "/root/counter").await?;
    let on_vdb = counter(ctx, &copy, "/mnt/vdb/counter").await?;
    if !(on_vdb == on_vda || on_vdb + 1 == on_vda) {
        bail!("not one instant across disks: vda {on_vda}, vdb {on_vdb}");
    }
    step(&format!(
        "The copy booted from the image: vda's counter {on_vda}, vdb's {on_vdb} — one instant \
         across both disks"
    ));
    for id in [&source, &copy] {
        kiln(ctx, &["instance", "delete", id, "--wait"]).await?;
    }
    Ok(())
}

/// Runs `command` in the guest (`kiln instance exec`); its output, trimmed.
async fn guest(ctx: &Ctx, id: &str, command: &str) -> anyhow::Result<String> {
    let out = kiln(ctx, &["instance", "exec", id, "--", command]).await?;
    let code = out.result["exitCode"].as_i64().unwrap_or(-1);
    if code != 0 {
        bail!(
            "`{command}` exited {code}: {}",
            out.result["stderr"].as_str().unwrap_or_default()
        );
    }
    Ok(out.result["stdout"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string())
}

async fn counter(ctx: &Ctx, id: &str, file: &str) -> anyhow::Result<u64> {
    guest(ctx, id, &format!("cat {file}"))
        .await?
        .parse()
        .with_context(|| format!("{file} holds no number"))
}

/// Guests outlive the server by design; the demo's go with it.
pub(super) fn stop_guests(data_dir: &Path) {
    let Ok(dirs) = std::fs::read_dir(data_dir.join("guests")) else {
        return;
    };
    for dir in dirs.flatten() {
        let id = dir.file_name().to_string_lossy().into_owned();
        crate::hypervisor::GuestDir::new(&data_dir.join("guests"), &id).kill();
    }
}
