//! `kiln snapshot …`: createSnapshot, describeSnapshots/describeSnapshot, deleteSnapshot
//! (deleteSnapshots for several), modifySnapshotAttribute, describeSnapshotChain.

use clap::{Args, Subcommand};
use serde_json::json;

use super::args::{DiskId, Paging, SnapshotId};
use super::output::{dash, fields, items, s, table, time, Query};
use super::wait::{Target, Want};
use super::{Ctx, Failure, Outcome, WaitFlag};
use crate::cli::out::outln;

pub const GROUP_HELP: &str = "\
Example:
  kiln snapshot create vol-abc123 --name before-upgrade --wait
  kiln disk create --name restored --snapshot snapshot-def456 --wait";

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Snapshot a cloud disk (createSnapshot).
    #[command(
        after_help = "Example:\n  kiln snapshot create vol-abc123 --name before-upgrade --wait"
    )]
    Create(CreateArgs),
    /// List snapshots (describeSnapshots; every page, or the one --page-number names).
    #[command(after_help = "\
Examples:
  kiln snapshot list
  kiln snapshot list --disk vol-abc123 -q")]
    List(ListArgs),
    /// Show one snapshot (describeSnapshot).
    #[command(after_help = "Example:\n  kiln snapshot show snapshot-abc123")]
    Show {
        #[command(flatten)]
        id: SnapshotId,
    },
    /// Delete a snapshot (deleteSnapshot), or several at once (deleteSnapshots).
    #[command(after_help = "\
Examples:
  kiln snapshot delete snapshot-abc123 --wait
  kiln snapshot delete snapshot-abc123 snapshot-def456 snapshot-ghi789")]
    Delete {
        #[command(flatten)]
        id: SnapshotId,
        /// More snapshots to delete in the same call.
        #[arg(value_name = "MORE")]
        more: Vec<String>,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Rename a snapshot or change its description (modifySnapshotAttribute).
    #[command(after_help = "Example:\n  kiln snapshot modify snapshot-abc123 --name nightly")]
    Modify {
        #[command(flatten)]
        id: SnapshotId,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New description (up to 256 characters).
        #[arg(long)]
        description: Option<String>,
    },
    /// How many snapshots a disk has and how many bytes they hold (describeSnapshotChain).
    #[command(after_help = "Example:\n  kiln snapshot chain vol-abc123")]
    Chain {
        #[command(flatten)]
        disk: DiskId,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The disk to snapshot.
    #[command(flatten)]
    pub disk: DiskId,
    /// Snapshot name.
    #[arg(long)]
    pub name: String,
    /// Description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only of these disks (repeatable).
    #[arg(long)]
    pub disk: Vec<String>,
    /// Only in these statuses (repeatable).
    #[arg(long)]
    pub status: Vec<String>,
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
        Cmd::Delete { id, more, wait } if !more.is_empty() => {
            delete_many(ctx, id.get(), more, wait.wait).await
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
            let r = ctx
                .patch("disk", &format!("/snapshots/{id}"), &body)
                .await?;
            if ctx.human() {
                outln!("Modified snapshot {id}");
            } else {
                ctx.emit(std::slice::from_ref(&id), &r, String::new);
            }
            Ok(Outcome::new(vec![id], r))
        }
        Cmd::Chain { disk } => {
            let disk = disk.get();
            let mut q = Query::new();
            q.push("diskId", disk.as_str());
            let r = ctx.get("disk", "/snapshots:chain", &q.encode()).await?;
            let c = &r["snapshotChain"];
            ctx.emit(std::slice::from_ref(&disk), &r, || {
                fields(&[
                    ("Disk", s(c, "/diskId")),
                    ("Snapshots", s(c, "/snapshotTotalCount")),
                    ("Bytes", s(c, "/snapshotChainSize")),
                ])
            });
            Ok(Outcome::new(vec![disk], r))
        }
        Cmd::Delete { id, wait, .. } => {
            let id = id.get();
            let r = ctx.delete("disk", &format!("/snapshots/{id}"), "").await?;
            ctx.accepted(
                "snapshot",
                &id,
                r,
                "Deleting",
                wait.wait,
                Target::Snapshot(id.clone()),
                Want::Gone,
            )
            .await
        }
    }
}

/// deleteSnapshots: one line per snapshot; fails (exit 1) when any was refused, after
/// waiting (`--wait`) for those accepted.
async fn delete_many(
    ctx: &Ctx,
    first: String,
    more: Vec<String>,
    wait: bool,
) -> Result<Outcome, Failure> {
    let mut q = Query::new();
    for (i, id) in std::iter::once(&first).chain(&more).enumerate() {
        q.push(&format!("snapshotIds.{}", i + 1), id.as_str());
    }
    let r = ctx.delete("disk", "/snapshots", &q.encode()).await?;
    let results = items(&r, "snapshots");
    let deleted: Vec<String> = results
        .iter()
        .filter(|d| d["success"] == true)
        .map(|d| s(d, "/snapshotId"))
        .collect();
    let refused: Vec<String> = results
        .iter()
        .filter(|d| d["success"] != true)
        .map(|d| format!("{}: {}", s(d, "/snapshotId"), s(d, "/detail")))
        .collect();
    if ctx.human() {
        for id in &deleted {
            outln!("Deleting snapshot {id}");
        }
    } else {
        ctx.emit(&deleted, &r, String::new);
    }
    if wait {
        for id in &deleted {
            ctx.wait_for(&Target::Snapshot(id.clone()), Want::Gone)
                .await?;
        }
    }
    if !refused.is_empty() {
        return Err(Failure::Other(format!(
            "not deleted: {}",
            refused.join("; ")
        )));
    }
    Ok(Outcome::new(deleted, r))
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<Outcome, Failure> {
    let disk = a.disk.get();
    let mut spec = json!({ "name": a.name, "diskId": disk });
    if let Some(d) = &a.description {
        spec["description"] = json!(d);
    }
    let body = json!({
        "snapshotSpec": spec,
        "clientToken": crate::ids::random_suffix(32),
    });
    let r = ctx.post("disk", "/snapshots", &body).await?;
    let id = s(&r, "/snapshotId");
    if ctx.human() {
        outln!("Creating snapshot {id} of {disk}");
    }
    if a.wait.wait {
        ctx.wait_for(&Target::Snapshot(id.clone()), Want::Status("available"))
            .await?;
    }
    let ids = vec![id];
    if !ctx.human() {
        ctx.emit(&ids, &r, String::new);
    }
    Ok(Outcome::new(ids, r))
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<Outcome, Failure> {
    let mut q = Query::new();
    q.filter("snapshotId", &a.id)
        .filter("diskId", &a.disk)
        .filter("status", &a.status)
        .filter("name", &a.name.into_iter().collect::<Vec<_>>());
    let r = ctx
        .get_all("disk", "/snapshots", &q, "snapshots", a.paging)
        .await?;
    let list = items(&r, "snapshots");
    let ids: Vec<String> = list.iter().map(|x| s(x, "/snapshotId")).collect();
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|x| {
                vec![
                    s(x, "/snapshotId"),
                    s(x, "/name"),
                    s(x, "/status"),
                    s(x, "/diskId"),
                    format!("{}G", s(x, "/snapshotSizeGB")),
                    dash(images(x)),
                    time(x, "/createTime"),
                ]
            })
            .collect();
        table(
            &["id", "name", "status", "disk", "size", "images", "created"],
            &rows,
        )
    });
    Ok(Outcome::new(ids, r))
}

fn images(x: &serde_json::Value) -> String {
    items(x, "images")
        .iter()
        .filter_map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

async fn show(ctx: &Ctx, id: &str) -> Result<Outcome, Failure> {
    let r = ctx.get("disk", &format!("/snapshots/{id}"), "").await?;
    let x = &r["snapshot"];
    let ids = vec![s(x, "/snapshotId")];
    ctx.emit(&ids, &r, || {
        fields(&[
            ("ID", s(x, "/snapshotId")),
            ("Name", s(x, "/name")),
            ("Status", s(x, "/status")),
            ("Disk", s(x, "/diskId")),
            ("Size", format!("{}G", s(x, "/snapshotSizeGB"))),
            ("Images", dash(images(x))),
            ("Created", time(x, "/createTime")),
            ("Description", dash(s(x, "/description"))),
        ])
    });
    Ok(Outcome::new(ids, r))
}
