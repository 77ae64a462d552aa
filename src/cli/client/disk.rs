//! `kiln disk …`: createDisks, describeDisks/describeDisk, deleteDisk, modifyDiskAttribute,
//! extendDisk, restoreDisk.

use clap::{Args, Subcommand};
use serde_json::json;

use super::args::{DiskId, Paging};
use super::output::{dash, fields, items, s, table, time, Query};
use super::wait::{Target, Want};
use super::{Ctx, Failure, Outcome, WaitFlag};
use crate::cli::out::outln;

pub const GROUP_HELP: &str = "\
Example:
  kiln disk create --name data --size 50 --wait
  kiln instance attach-disk i-abc123 vol-def456 --wait
  kiln disk list --status available";

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create cloud disks, blank or from a snapshot (createDisks).
    #[command(after_help = "\
Examples:
  kiln disk create --name data --size 50 --wait
  kiln disk create --name restored --snapshot snapshot-abc123 --type ssd.io1 --size 100 --wait")]
    Create(CreateArgs),
    /// List cloud disks (describeDisks; every page, or the one --page-number names).
    #[command(after_help = "\
Examples:
  kiln disk list
  kiln disk list --instance i-abc123 -o json")]
    List(ListArgs),
    /// Show one disk and its attachments (describeDisk).
    #[command(after_help = "Example:\n  kiln disk show vol-abc123")]
    Show {
        #[command(flatten)]
        id: DiskId,
    },
    /// Delete an available disk (deleteDisk).
    #[command(after_help = "Example:\n  kiln disk delete vol-abc123 --wait")]
    Delete {
        #[command(flatten)]
        id: DiskId,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Rename a disk or change its description (modifyDiskAttribute).
    #[command(
        after_help = "Example:\n  kiln disk modify vol-abc123 --name logs --description 'app logs'"
    )]
    Modify {
        #[command(flatten)]
        id: DiskId,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New description (up to 256 characters).
        #[arg(long)]
        description: Option<String>,
    },
    /// Grow an available disk; its data stays (extendDisk).
    #[command(after_help = "Example:\n  kiln disk extend vol-abc123 --size 100 --wait")]
    Extend {
        #[command(flatten)]
        id: DiskId,
        /// The new size in GB (larger than now, a multiple of 10).
        #[arg(long, value_name = "GB")]
        size: i64,
        /// New IOPS (ssd.io1 only).
        #[arg(long)]
        iops: Option<i64>,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Roll an available disk back to one of its snapshots (restoreDisk).
    #[command(
        after_help = "Example:\n  kiln disk restore vol-abc123 --snapshot snapshot-def456 --wait"
    )]
    Restore {
        #[command(flatten)]
        id: DiskId,
        /// The snapshot (of this disk) to restore.
        #[arg(long, value_name = "SNAPSHOT_ID")]
        snapshot: String,
        #[command(flatten)]
        wait: WaitFlag,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Disk name.
    #[arg(long)]
    pub name: String,
    /// Size in GB [default: 20, or the snapshot's size].
    #[arg(long, value_name = "GB")]
    pub size: Option<i64>,
    /// ssd.gp1, ssd.io1, hdd.std1, …
    #[arg(long = "type", value_name = "TYPE", default_value = "ssd.gp1")]
    pub disk_type: String,
    /// Availability zone [default: <region>a].
    #[arg(long)]
    pub az: Option<String>,
    /// Create from this snapshot.
    #[arg(long, value_name = "SNAPSHOT_ID")]
    pub snapshot: Option<String>,
    /// Description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// IOPS (ssd.io1 only).
    #[arg(long)]
    pub iops: Option<i64>,
    /// How many disks (maxCount; names get -1, -2, …).
    #[arg(long, visible_alias = "max-count", default_value_t = 1)]
    pub count: u32,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only in these statuses (repeatable).
    #[arg(long)]
    pub status: Vec<String>,
    /// Only attached to these instances (repeatable).
    #[arg(long)]
    pub instance: Vec<String>,
    /// Only of these types (repeatable).
    #[arg(long = "type")]
    pub disk_type: Vec<String>,
    /// Name contains this.
    #[arg(long)]
    pub name: Option<String>,
    /// Only these ids (repeatable).
    #[arg(long)]
    pub id: Vec<String>,
    #[command(flatten)]
    pub paging: Paging,
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<Outcome, Failure> {
    match cmd {
        Cmd::Create(a) => create(ctx, a).await,
        Cmd::List(a) => list(ctx, a).await,
        Cmd::Show { id } => show(ctx, &id.get()).await,
        Cmd::Delete { id, wait } => {
            let id = id.get();
            let r = ctx.delete("disk", &format!("/disks/{id}"), "").await?;
            ctx.accepted(
                "disk",
                &id,
                r,
                "Deleting",
                wait.wait,
                Target::Disk(id.clone()),
                Want::Gone,
            )
            .await
        }
        Cmd::Modify {
            id,
            name,
            description,
        } => {
            let id = id.get();
            let mut body = json!({});
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let r = ctx.patch("disk", &format!("/disks/{id}"), &body).await?;
            if ctx.human() {
                outln!("Modified disk {id}");
            } else {
                ctx.emit(std::slice::from_ref(&id), &r, String::new);
            }
            Ok(Outcome::new(vec![id], r))
        }
        Cmd::Extend {
            id,
            size,
            iops,
            wait,
        } => {
            let id = id.get();
            let mut body = json!({"diskSizeGB": size});
            if let Some(n) = iops {
                body["iops"] = json!(n);
            }
            let r = ctx
                .post("disk", &format!("/disks/{id}:extend"), &body)
                .await?;
            let target = Target::Disk(id.clone());
            let want = Want::Status("available");
            ctx.accepted("disk", &id, r, "Extending", wait.wait, target, want)
                .await
        }
        Cmd::Restore { id, snapshot, wait } => {
            let id = id.get();
            let body = json!({"snapshotId": snapshot});
            let r = ctx
                .post("disk", &format!("/disks/{id}:restore"), &body)
                .await?;
            let target = Target::Disk(id.clone());
            let want = Want::Status("available");
            ctx.accepted("disk", &id, r, "Restoring", wait.wait, target, want)
                .await
        }
    }
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<Outcome, Failure> {
    let mut spec = json!({
        "az": a.az.clone().unwrap_or_else(|| ctx.default_az()),
        "name": a.name,
        "diskType": a.disk_type,
    });
    // createDisks wants a size even from a snapshot: the snapshot's, unless given.
    let size = match (a.size, &a.snapshot) {
        (Some(n), _) => json!(n),
        (None, None) => json!(super::rules::DEFAULT_DATA_DISK_GB),
        (None, Some(sn)) => ctx.get("disk", &format!("/snapshots/{sn}"), "").await?["snapshot"]
            ["snapshotSizeGB"]
            .clone(),
    };
    spec["diskSizeGB"] = size;
    if let Some(sn) = &a.snapshot {
        spec["snapshotId"] = json!(sn);
    }
    if let Some(d) = &a.description {
        spec["description"] = json!(d);
    }
    if let Some(n) = a.iops {
        spec["iops"] = json!(n);
    }
    let body = json!({
        "diskSpec": spec,
        "maxCount": a.count,
        "clientToken": crate::ids::random_suffix(32),
    });
    let r = ctx.post("disk", "/disks", &body).await?;
    let ids: Vec<String> = items(&r, "diskIds")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if ctx.human() {
        for id in &ids {
            outln!("Creating disk {id}");
        }
    }
    if a.wait.wait {
        for id in &ids {
            ctx.wait_for(&Target::Disk(id.clone()), Want::Status("available"))
                .await?;
        }
    }
    if !ctx.human() {
        ctx.emit(&ids, &r, String::new);
    }
    Ok(Outcome::new(ids, r))
}

fn attached_to(d: &serde_json::Value) -> String {
    items(d, "attachments")
        .iter()
        .map(|a| s(a, "/instanceId"))
        .collect::<Vec<_>>()
        .join(",")
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<Outcome, Failure> {
    let mut q = Query::new();
    q.filter("diskId", &a.id)
        .filter("status", &a.status)
        .filter("instanceId", &a.instance)
        .filter("diskType", &a.disk_type)
        .filter("name", &a.name.into_iter().collect::<Vec<_>>());
    let r = ctx.get_all("disk", "/disks", &q, "disks", a.paging).await?;
    let list = items(&r, "disks");
    let ids: Vec<String> = list.iter().map(|d| s(d, "/diskId")).collect();
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|d| {
                vec![
                    s(d, "/diskId"),
                    s(d, "/name"),
                    s(d, "/status"),
                    s(d, "/diskType"),
                    format!("{}G", s(d, "/diskSizeGB")),
                    s(d, "/az"),
                    dash(attached_to(d)),
                    dash(s(d, "/snapshotId")),
                    time(d, "/createTime"),
                ]
            })
            .collect();
        table(
            &[
                "id",
                "name",
                "status",
                "type",
                "size",
                "az",
                "attached to",
                "snapshot",
                "created",
            ],
            &rows,
        )
    });
    Ok(Outcome::new(ids, r))
}

async fn show(ctx: &Ctx, id: &str) -> Result<Outcome, Failure> {
    let r = ctx.get("disk", &format!("/disks/{id}"), "").await?;
    let d = &r["disk"];
    let ids = vec![s(d, "/diskId")];
    ctx.emit(&ids, &r, || {
        let mut out = fields(&[
            ("ID", s(d, "/diskId")),
            ("Name", s(d, "/name")),
            ("Status", s(d, "/status")),
            ("Type", s(d, "/diskType")),
            ("Size", format!("{}G", s(d, "/diskSizeGB"))),
            ("IOPS", s(d, "/iops")),
            ("AZ", s(d, "/az")),
            ("Snapshot", dash(s(d, "/snapshotId"))),
            ("Created", time(d, "/createTime")),
            ("Description", dash(s(d, "/description"))),
        ]);
        let rows: Vec<Vec<String>> = items(d, "attachments")
            .iter()
            .map(|a| vec![s(a, "/instanceId"), s(a, "/status"), time(a, "/attachTime")])
            .collect();
        if !rows.is_empty() {
            out.push('\n');
            out.push_str(&table(&["instance", "status", "attached"], &rows));
        }
        out
    });
    Ok(Outcome::new(ids, r))
}
