//! `kiln demo`: the main job end to end, against an embedded server in a temporary
//! directory. Launch an instance, write guest data, bake a private image with data disks
//! (one excluded, one inserted), wait for `ready`, launch from it and verify the bytes.
//! `kiln demo --hypervisor qemu` does it with a running guest (`demo_guest`).
//! Each API step is a `kiln instance|image …` command line, run by the same code as typed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::client::{run_args, Ctx, Outcome};
use super::serve::{prepare, Prepared};
use super::ServeArgs;
use crate::cli::out::outln;
use crate::client::Client;
use crate::service::account::SuppliedKeys;

const REGION: &str = "cn-north-1";

/// Which demo: the emulated one (data written with qemu-io into the layers), or under
/// `--hypervisor qemu` the live one (a guest writes while its image is taken).
pub struct DemoArgs {
    pub keep: bool,
    pub hypervisor: crate::hypervisor::HypervisorKind,
    pub guest_kit: std::path::PathBuf,
}

pub async fn run(demo: DemoArgs) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("kiln-demo-").tempdir()?;
    let data_dir = dir.path().to_path_buf();
    let live = demo.hypervisor == crate::hypervisor::HypervisorKind::Qemu;
    let delay = |ms| Duration::from_millis(if live { 0 } else { ms });
    let args = ServeArgs {
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.clone(),
        transition_delay: delay(300),
        task_delay: delay(500),
        deleted_retention: Duration::from_secs(300),
        quotas: vec![],
        no_auth: false,
        auth_skew: Duration::from_secs(900),
        rate_limit: None,
        max_inflight_body: crate::http::gateway::DEFAULT_MAX_INFLIGHT_BODY,
        qemu_img: "qemu-img".into(),
        qemu_img_timeout: Duration::from_secs(600),
        database: None,
        task_lease: Duration::from_secs(60),
        file_roots: vec![],
        import_allow: vec![],
        oss_endpoint: None,
        oss_access_key: None,
        oss_secret_key: None,
        oss_region: "us-east-1".into(),
        db_busy_timeout: Duration::from_secs(10),
        log_format: super::LogFormat::Text,
        hypervisor: demo.hypervisor,
        accel: crate::hypervisor::Accel::Auto,
        guest_kit: demo.guest_kit.clone(),
        guest_memory_max: 256 << 20,
        qemu_system: "qemu-system-x86_64".into(),
        boot_timeout: Duration::from_secs(60),
        guest_stop_timeout: Duration::from_secs(30),
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
        "Started an embedded Kiln on http://{addr}, data in {}{}",
        data_dir.display(),
        if live {
            ", instances running under QEMU"
        } else {
            ""
        }
    ));

    let c = Client::new(
        &format!("http://{addr}"),
        keys.access_key.as_deref().unwrap_or_default(),
        keys.secret_key.as_deref().unwrap_or_default(),
        REGION,
    );
    // The same code as `kiln instance|image …` on the command line, shown as typed.
    let ctx = Ctx::new(c);
    let started = Instant::now();
    if live {
        let result = super::demo_guest::run(&ctx).await;
        super::demo_guest::stop_guests(&data_dir);
        result?;
    } else {
        emulated(&ctx, &data_dir).await?;
    }
    outln!(
        "\nDone in {:.1}s: the private image carries exactly the data the source held at createImage.",
        started.elapsed().as_secs_f64()
    );
    if demo.keep {
        let kept = dir.keep();
        outln!("Data directory kept at {}", kept.display());
    }
    Ok(())
}

/// Without a hypervisor: guest data written and checked with qemu-io in the layers.
async fn emulated(ctx: &Ctx, data_dir: &Path) -> anyhow::Result<()> {
    let source = kiln(
        ctx,
        &[
            "instance",
            "create",
            "--image",
            "img-ubuntu2204",
            "--name",
            "demo-source",
            "--system-disk",
            "cloud:ssd.gp1:40",
            "--disk",
            "vdb=ssd.gp1:20",
            "--disk",
            "vdc=hdd.std1:50",
            "--wait",
        ],
    )
    .await?
    .id()
    .to_string();

    let kiln_bin = std::env::current_exe()?;
    write_pattern(&kiln_bin, data_dir, &source, "vda", 0x11)?;
    write_pattern(&kiln_bin, data_dir, &source, "vdb", 0x22)?;
    write_pattern(&kiln_bin, data_dir, &source, "vdc", 0x33)?;
    step("Wrote guest data with qemu-io: vda=0x11, vdb=0x22, vdc=0x33 (1 MiB each at offset 0)");

    let image = kiln(
        ctx,
        &[
            "image",
            "create",
            &source,
            "--name",
            "demo-image",
            "--description",
            "baked by kiln demo",
            "--exclude",
            "vdc",
            "--disk",
            "vdd=ssd.gp1:30",
        ],
    )
    .await?
    .id()
    .to_string();
    step("vdc is excluded (noDevice), a blank 30 GB vdd is inserted");
    write_pattern(&kiln_bin, data_dir, &source, "vda", 0x99)?;
    step("Overwrote the source's vda with 0x99 after createImage: the image must not see it");
    kiln(ctx, &["image", "wait", &image]).await?;
    kiln(ctx, &["image", "show", &image]).await?;

    let copy = launch_copy(ctx, &image).await?;
    let shown = kiln(ctx, &["instance", "show", &copy]).await?;
    let devs: Vec<&str> = shown.result["instance"]["dataDisks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["deviceName"].as_str())
        .collect();
    if devs != ["vdb", "vdd"] {
        bail!("expected data disks vdb and vdd, got {devs:?}");
    }
    verify_pattern(&kiln_bin, data_dir, &copy, "vda", 0x11)?;
    verify_pattern(&kiln_bin, data_dir, &copy, "vdb", 0x22)?;
    verify_pattern(&kiln_bin, data_dir, &copy, "vdd", 0x00)?;
    step(
        "Verified with qemu-io: vda holds 0x11 (not the later 0x99), vdb holds 0x22, vdd is blank",
    );
    Ok(())
}

/// `kiln instance create --image IMAGE --name demo-copy --wait`: the instance from the
/// baked image.
pub(super) async fn launch_copy(ctx: &Ctx, image: &str) -> anyhow::Result<String> {
    let args = [
        "instance",
        "create",
        "--image",
        image,
        "--name",
        "demo-copy",
        "--wait",
    ];
    Ok(kiln(ctx, &args).await?.id().to_string())
}

/// Shows `kiln ARGS` as typed, then runs it through the command-line code.
pub(super) async fn kiln(ctx: &Ctx, args: &[&str]) -> anyhow::Result<Outcome> {
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.to_string()
            }
        })
        .collect();
    outln!("\n$ kiln {}", shown.join(" "));
    run_args(ctx, args)
        .await
        .map_err(|f| anyhow::anyhow!("kiln {}: {f}", args.join(" ")))
}

pub(super) fn step(msg: &str) {
    outln!("• {msg}");
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
