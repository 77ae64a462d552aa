//! `kiln image …`: createImage, describeImages/describeImage, deleteImage, importImage,
//! exportImage (with imageTasks), and waiting for an image.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::args::{expand_ids, ImageId, InstanceId, Paging};
use super::image_lifecycle as lifecycle;
use super::instance::disk_table;
use super::output::{dash, fields, items, s, table, time, Query};
use super::rules::{self, DiskRule};
use super::wait::{Target, Want};
use super::{Ctx, Failure, Outcome, WaitFlag};
use crate::cli::out::outln;

pub const GROUP_HELP: &str = "\
Example:
  kiln image create i-abc123 --name baked --exclude vdc --disk vdd=30 --wait
  kiln image list --source public
  kiln instance create --image img-def456 --name web --wait";

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Bake a private image from an instance (createImage).
    ///
    /// Every cloud data disk of the instance is captured unless a rule says otherwise:
    /// --exclude DEVICE leaves it out; --disk DEVICE=… on a device the instance has
    /// replaces it with a new disk; on a new device inserts one, blank or from a snapshot.
    /// An instance with a local system disk must be stopped first.
    #[command(after_help = "\
Examples:
  kiln image create i-abc123 --name baked --wait
  # vdc left out, a blank 30 GB vdd inserted:
  kiln image create i-abc123 --name baked --exclude vdc --disk vdd=30 --wait
  # vdb replaced by a blank 50 GB hdd.std1 disk, vde inserted from a snapshot:
  kiln image create i-abc123 --name baked --disk vdb=hdd.std1:50 --disk vde=snapshot-xyz789 -q")]
    Create(CreateArgs),
    /// List images (describeImages; every page, or the one --page-number names).
    #[command(after_help = "\
Examples:
  kiln image list                    # your private images
  kiln image list --source public
  kiln image list --status ready -o json")]
    List(ListArgs),
    /// Show one image with its disks (describeImage).
    #[command(after_help = "Example:\n  kiln image show img-abc123")]
    Show {
        #[command(flatten)]
        id: ImageId,
    },
    /// Delete a private image (deleteImage).
    #[command(after_help = "Example:\n  kiln image delete img-abc123 --delete-snapshots --wait")]
    Delete {
        #[command(flatten)]
        id: ImageId,
        /// Also delete the snapshots the image made.
        #[arg(long, visible_alias = "delete-snapshot")]
        delete_snapshots: bool,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Import an image from disk files (importImage). Kiln reads http:// URLs, and
    /// file:///absolute/path under a directory its server names with `--file-root`.
    #[command(after_help = "\
Example:
  kiln image import --url file:///srv/images/app.qcow2 --name app --size 40 --wait
  kiln image import --url http://127.0.0.1:8000/os.raw --format raw --name os --size 40 \\
      --platform Ubuntu --data-disk file:///srv/images/data.qcow2:100 --wait")]
    Import(ImportArgs),
    /// Export an image's disks as qcow2 files (exportImage); --wait waits for the task.
    /// Kiln writes into file:///absolute/directory under a server `--file-root`.
    #[command(
        after_help = "Example:\n  kiln image export img-abc123 --oss-url file:///srv/exports --all-disks --wait"
    )]
    Export(ExportArgs),
    /// A new cloudDisk image of a ready localDisk image (convertImage); the source stays.
    #[command(after_help = "Example:\n  kiln image convert img-abc123 --wait")]
    Convert(lifecycle::ConvertArgs),
    /// Copy images into a region (copyImages): real copies of their data.
    #[command(after_help = "Example:\n  kiln image copy img-abc123 img-def456 --to cn-east-2")]
    Copy(lifecycle::CopyArgs),
    /// Rename an image or change its description (modifyImageAttribute).
    #[command(after_help = "Example:\n  kiln image modify img-abc123 --name baked-2")]
    Modify(lifecycle::ModifyArgs),
    /// Share an image with other accounts (shareImage).
    #[command(after_help = "Example:\n  kiln image share img-abc123 --pin kiln-ab12cd34")]
    Share(lifecycle::PinsArgs),
    /// Stop sharing an image with accounts (unShareImage).
    #[command(after_help = "Example:\n  kiln image unshare img-abc123 --pin kiln-ab12cd34")]
    Unshare(lifecycle::PinsArgs),
    /// The accounts an image is shared with (describeImageMembers).
    #[command(after_help = "Example:\n  kiln image members img-abc123")]
    Members {
        #[command(flatten)]
        id: ImageId,
    },
    /// Make an image a community image for every account (releaseImage).
    #[command(after_help = "Example:\n  kiln image release img-abc123")]
    Release {
        #[command(flatten)]
        id: ImageId,
    },
    /// Take a community image back (unReleaseImage).
    #[command(after_help = "Example:\n  kiln image unrelease img-abc123")]
    Unrelease {
        #[command(flatten)]
        id: ImageId,
    },
    /// The instance types images may run on (describeImageConstraintsBatch).
    #[command(after_help = "Example:\n  kiln image constraints img-winsrv2019")]
    Constraints(lifecycle::ConstraintsArgs),
    /// An image of snapshots (createImageFromSnapshots).
    #[command(
        after_help = "Example:\n  kiln image from-snapshots --name baked --disk vda=snapshot-abc:50 --wait"
    )]
    FromSnapshots(lifecycle::FromSnapshotsArgs),
    /// Wait until an image is ready (or, with --deleted, gone), with a progress display.
    #[command(after_help = "Example:\n  kiln image wait img-abc123 --wait-timeout 10m")]
    Wait {
        #[command(flatten)]
        id: ImageId,
        /// Wait until the image no longer exists.
        #[arg(long)]
        deleted: bool,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The instance to capture.
    #[command(flatten)]
    pub instance: InstanceId,
    /// Image name (2–32 characters: letters, digits, CJK, `_`, `-`, `.`).
    #[arg(long)]
    pub name: String,
    /// Description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// Leave this data disk of the instance out of the image. Repeatable.
    #[arg(long = "exclude", short = 'x', value_name = "DEVICE", value_parser = rules::parse_device)]
    pub excludes: Vec<String>,
    /// Replace an instance disk or insert a new one: `DEVICE=` then `:`-joined SIZE, TYPE,
    /// snapshot-ID, auto-delete (e.g. vdd=30, vdb=hdd.std1:50, vde=snapshot-abc). Repeatable.
    #[arg(long = "disk", value_name = "RULE", value_parser = rules::parse_disk_rule)]
    pub disks: Vec<DiskRule>,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// private, public, shared, thirdparty or community.
    #[arg(long, visible_alias = "image-source", default_value = "private")]
    pub source: String,
    /// Only in this status (pending, ready, deleting, error).
    #[arg(long)]
    pub status: Option<String>,
    /// Name contains this.
    #[arg(long, visible_alias = "image-name")]
    pub name: Option<String>,
    /// Ubuntu, CentOS, Windows Server, …
    #[arg(long)]
    pub platform: Option<String>,
    /// localDisk or cloudDisk.
    #[arg(long)]
    pub root_device_type: Option<String>,
    /// Only these ids (repeatable, or jdc's JSON list `--ids '["img-1","img-2"]'`; then
    /// --source is not sent).
    #[arg(long, visible_alias = "ids")]
    pub id: Vec<String>,
    #[command(flatten)]
    pub paging: Paging,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The system disk file.
    #[arg(long, visible_alias = "image-url", value_name = "URL")]
    pub url: String,
    /// Image name.
    #[arg(long, visible_alias = "image-name")]
    pub name: String,
    /// System disk size in GB (40–500, a multiple of 10).
    #[arg(long, visible_alias = "system-disk-size-gb", value_name = "GB")]
    pub size: i64,
    /// qcow2, raw, vhd or vmdk.
    #[arg(long, visible_alias = "disk-format", default_value = "qcow2")]
    pub format: String,
    /// linux or windows.
    #[arg(long, default_value = "linux")]
    pub os_type: String,
    /// Ubuntu, CentOS, Windows Server, Other Linux or Other Windows.
    #[arg(long, default_value = "Other Linux")]
    pub platform: String,
    /// x86_64 or arm64.
    #[arg(long, default_value = "x86_64")]
    pub architecture: String,
    /// OS version, e.g. 22.04.
    #[arg(long)]
    pub os_version: Option<String>,
    /// Description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// bios or uefi.
    #[arg(long)]
    pub boot_mode: Option<String>,
    /// A data disk: URL:SIZE_GB[:FORMAT]. Repeatable.
    #[arg(long = "data-disk", value_name = "URL:GB[:FORMAT]", value_parser = parse_data_disk)]
    pub data_disks: Vec<(String, i64, Option<String>)>,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub id: ImageId,
    /// Where to: an OSS bucket URL (https://<bucket>.s3.<region>.jdcloud-oss.com or
    /// s3://bucket, on the server's --oss-endpoint) or file:///absolute/directory.
    #[arg(long, value_name = "URL")]
    pub oss_url: String,
    /// File name prefix (letters and digits).
    #[arg(long, visible_alias = "oss-prefix")]
    pub prefix: Option<String>,
    /// The service role JD Cloud exports as.
    #[arg(long, default_value = "kiln")]
    pub role_name: String,
    /// Export the data disks too (else the system disk only).
    #[arg(long)]
    pub all_disks: bool,
    #[command(flatten)]
    pub wait: WaitFlag,
}

/// `URL:GB[:FORMAT]`, the URL itself containing `:`.
fn parse_data_disk(s: &str) -> Result<(String, i64, Option<String>), String> {
    let bad = || format!("'{s}': say URL:SIZE_GB[:FORMAT], e.g. file:///d.qcow2:100");
    let (head, last) = s.rsplit_once(':').ok_or_else(bad)?;
    if let Ok(n) = last.parse::<i64>() {
        return Ok((head.to_string(), n, None));
    }
    let (url, size) = head.rsplit_once(':').ok_or_else(bad)?;
    let n = size.parse::<i64>().map_err(|_| bad())?;
    Ok((url.to_string(), n, Some(last.to_string())))
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<Outcome, Failure> {
    match cmd {
        Cmd::Create(a) => create(ctx, a).await,
        Cmd::List(a) => list(ctx, a).await,
        Cmd::Show { id } => show(ctx, &id.get()).await,
        Cmd::Delete {
            id,
            delete_snapshots,
            wait,
        } => {
            let id = id.get();
            let q = if delete_snapshots {
                "deleteSnapshot=true"
            } else {
                ""
            };
            let r = ctx.delete("vm", &format!("/images/{id}"), q).await?;
            ctx.accepted(
                "image",
                &id,
                r,
                "Deleting",
                wait.wait,
                Target::Image(id.clone()),
                Want::Gone,
            )
            .await
        }
        Cmd::Import(a) => import(ctx, a).await,
        Cmd::Convert(a) => lifecycle::convert(ctx, a).await,
        Cmd::Copy(a) => lifecycle::copy(ctx, a).await,
        Cmd::Modify(a) => lifecycle::modify(ctx, a).await,
        Cmd::Share(a) => lifecycle::share(ctx, a, "share").await,
        Cmd::Unshare(a) => lifecycle::share(ctx, a, "unshare").await,
        Cmd::Members { id } => lifecycle::members(ctx, id).await,
        Cmd::Release { id } => lifecycle::release(ctx, id, "release").await,
        Cmd::Unrelease { id } => lifecycle::release(ctx, id, "unrelease").await,
        Cmd::Constraints(a) => lifecycle::constraints(ctx, a).await,
        Cmd::FromSnapshots(a) => lifecycle::from_snapshots(ctx, a).await,
        Cmd::Export(a) => export(ctx, a).await,
        Cmd::Wait { id, deleted } => {
            let id = id.get();
            let want = if deleted {
                Want::Gone
            } else {
                Want::Status("ready")
            };
            let last = ctx.wait_for(&Target::Image(id.clone()), want).await?;
            let ids = vec![id];
            let r = if last.is_null() {
                json!({})
            } else {
                json!({ "image": last })
            };
            if !ctx.human() {
                ctx.emit(&ids, &r, String::new);
            }
            Ok(Outcome::new(ids, r))
        }
    }
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<Outcome, Failure> {
    let instance = a.instance.get();
    let mut body = json!({ "name": a.name });
    if let Some(d) = &a.description {
        body["description"] = json!(d);
    }
    let mut data: Vec<Value> = a.excludes.iter().map(|d| rules::exclude_json(d)).collect();
    data.extend(a.disks.iter().map(DiskRule::to_json));
    if !data.is_empty() {
        body["dataDisks"] = Value::Array(data);
    }
    let r = ctx
        .post("vm", &format!("/instances/{instance}:createImage"), &body)
        .await?;
    let id = s(&r, "/imageId");
    if ctx.human() {
        outln!("Creating image {id} from {instance}");
    }
    if a.wait.wait {
        ctx.wait_for(&Target::Image(id.clone()), Want::Status("ready"))
            .await?;
    }
    let ids = vec![id];
    if !ctx.human() {
        ctx.emit(&ids, &r, String::new);
    }
    Ok(Outcome::new(ids, r))
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<Outcome, Failure> {
    let ids = expand_ids(&a.id);
    let mut q = Query::new();
    if ids.is_empty() {
        q.push("imageSource", a.source);
    }
    q.list("ids", &ids)
        .opt("status", a.status.as_deref())
        .opt("imageName", a.name.as_deref())
        .opt("platform", a.platform.as_deref())
        .opt("rootDeviceType", a.root_device_type.as_deref());
    let r = ctx.get_all("vm", "/images", &q, "images", a.paging).await?;
    let list = items(&r, "images");
    let ids: Vec<String> = list.iter().map(|i| s(i, "/imageId")).collect();
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|i| {
                vec![
                    s(i, "/imageId"),
                    s(i, "/name"),
                    s(i, "/status"),
                    s(i, "/imageSource"),
                    s(i, "/platform"),
                    s(i, "/rootDeviceType"),
                    format!("{}G", s(i, "/systemDiskSizeGB")),
                    dash(
                        items(i, "dataDisks")
                            .iter()
                            .map(|d| s(d, "/deviceName"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    time(i, "/createTime"),
                ]
            })
            .collect();
        table(
            &[
                "id",
                "name",
                "status",
                "source",
                "platform",
                "root",
                "size",
                "data disks",
                "created",
            ],
            &rows,
        )
    });
    Ok(Outcome::new(ids, r))
}

async fn show(ctx: &Ctx, id: &str) -> Result<Outcome, Failure> {
    let r = ctx.get("vm", &format!("/images/{id}"), "").await?;
    let i = &r["image"];
    let ids = vec![s(i, "/imageId")];
    ctx.emit(&ids, &r, || {
        let progress = s(i, "/progress");
        let mut out = fields(&[
            ("ID", s(i, "/imageId")),
            ("Name", s(i, "/name")),
            (
                "Status",
                if s(i, "/status") == "pending" && !progress.is_empty() {
                    format!("pending ({progress}%)")
                } else {
                    s(i, "/status")
                },
            ),
            ("Source", s(i, "/imageSource")),
            ("Platform", s(i, "/platform")),
            ("OS", format!("{} {}", s(i, "/osType"), s(i, "/osVersion"))),
            ("Architecture", s(i, "/architecture")),
            ("Root device", s(i, "/rootDeviceType")),
            ("System disk", format!("{}G", s(i, "/systemDiskSizeGB"))),
            ("Snapshot", dash(s(i, "/snapshotId"))),
            ("From instance", dash(s(i, "/instanceId"))),
            ("Created", time(i, "/createTime")),
            ("Description", dash(s(i, "/desc"))),
        ]);
        out.push('\n');
        out.push_str(&disk_table(&i["systemDisk"], items(i, "dataDisks")));
        out
    });
    Ok(Outcome::new(ids, r))
}

async fn import(ctx: &Ctx, a: ImportArgs) -> Result<Outcome, Failure> {
    let data: Vec<Value> = a
        .data_disks
        .iter()
        .map(|(url, gb, fmt)| {
            json!({"imageUrl": url, "dataDiskSizeGB": gb,
                   "diskFormat": fmt.clone().unwrap_or_else(|| "qcow2".into())})
        })
        .collect();
    let mut body = json!({
        "architecture": a.architecture,
        "osType": a.os_type,
        "platform": a.platform,
        "diskFormat": a.format,
        "systemDiskSizeGB": a.size,
        "imageUrl": a.url,
        "imageName": a.name,
        "clientToken": crate::ids::random_suffix(32),
    });
    if !data.is_empty() {
        body["dataDisks"] = Value::Array(data);
    }
    for (k, v) in [
        ("osVersion", &a.os_version),
        ("description", &a.description),
        ("bootMode", &a.boot_mode),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    let r = ctx.post("vm", "/images:import", &body).await?;
    let id = s(&r, "/imageId");
    if ctx.human() {
        outln!("Importing image {id} (task {})", s(&r, "/taskId"));
    }
    if a.wait.wait {
        ctx.wait_for(&Target::Image(id.clone()), Want::Status("ready"))
            .await?;
    }
    let ids = vec![id];
    if !ctx.human() {
        ctx.emit(&ids, &r, String::new);
    }
    Ok(Outcome::new(ids, r))
}

async fn export(ctx: &Ctx, a: ExportArgs) -> Result<Outcome, Failure> {
    let image = a.id.get();
    let mut body = json!({
        "roleName": a.role_name,
        "ossUrl": a.oss_url,
        "isAllDisk": a.all_disks,
        "clientToken": crate::ids::random_suffix(32),
    });
    if let Some(p) = &a.prefix {
        body["ossPrefix"] = json!(p);
    }
    let r = ctx
        .post("vm", &format!("/images/{image}:exportImage"), &body)
        .await?;
    let task = s(&r, "/taskId");
    if ctx.human() {
        outln!("Exporting image {image} (task {task})");
    }
    if a.wait.wait {
        let t = ctx
            .wait_for(&Target::ImageTask(task.clone()), Want::Status("finished"))
            .await?;
        if ctx.human() {
            for o in items(&t, "ossObjects") {
                outln!("  {}", o.as_str().unwrap_or_default());
            }
        }
    }
    let ids = vec![task];
    if !ctx.human() {
        ctx.emit(&ids, &r, String::new);
    }
    Ok(Outcome::new(ids, r))
}

#[cfg(test)]
mod tests {
    #[test]
    fn data_disk_args() {
        assert_eq!(
            super::parse_data_disk("file:///a/b.qcow2:100").unwrap(),
            ("file:///a/b.qcow2".into(), 100, None)
        );
        assert_eq!(
            super::parse_data_disk("http://h:8080/d.raw:50:raw").unwrap(),
            ("http://h:8080/d.raw".into(), 50, Some("raw".into()))
        );
        assert!(super::parse_data_disk("file:///a").is_err());
    }
}
