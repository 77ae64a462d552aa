//! `kiln image convert|copy|modify|share|unshare|members|release|unrelease|constraints|
//! from-snapshots`: the image lifecycle after createImage.

use clap::Args;
use serde_json::{json, Value};

use super::args::ImageId;
use super::output::{items, s, table};
use super::wait::{Target, Want};
use super::{Ctx, Failure, Outcome, WaitFlag};
use crate::cli::out::outln;

#[derive(Args, Debug)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub id: ImageId,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Source images (1–10).
    #[arg(required = true, value_name = "IMAGE_ID")]
    pub ids: Vec<String>,
    /// The destination region (the current one too).
    #[arg(long, visible_alias = "destination-region", value_name = "REGION")]
    pub to: String,
    /// The copies' name (default: each source's).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Wait until every copy is ready (copies into the current region only).
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Args, Debug)]
pub struct ModifyArgs {
    #[command(flatten)]
    pub id: ImageId,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Args, Debug)]
pub struct PinsArgs {
    #[command(flatten)]
    pub id: ImageId,
    /// An account (pin). Repeatable.
    #[arg(long = "pin", required = true, value_name = "PIN")]
    pub pins: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ConstraintsArgs {
    /// Images (one or more).
    #[arg(required = true, value_name = "IMAGE_ID")]
    pub ids: Vec<String>,
}

#[derive(Args, Debug)]
pub struct FromSnapshotsArgs {
    #[arg(long)]
    pub name: String,
    /// CentOS, Ubuntu, Windows Server, OpenEuler, Rocky Linux, Others Linux.
    #[arg(long, default_value = "Others Linux")]
    pub platform: String,
    /// x86_64 or arm64.
    #[arg(long, default_value = "x86_64")]
    pub architecture: String,
    /// bios or uefi.
    #[arg(long, default_value = "bios")]
    pub boot_mode: String,
    #[arg(long)]
    pub description: Option<String>,
    /// A disk: DEVICE=SNAPSHOT[:SIZE_GB[:TYPE]] (vda required). Repeatable.
    #[arg(long = "disk", required = true, value_name = "DEVICE=SNAPSHOT[:GB[:TYPE]]", value_parser = parse_snapshot_disk)]
    pub disks: Vec<Value>,
    #[command(flatten)]
    pub wait: WaitFlag,
}

/// `vda=snapshot-abc:50:ssd.gp1` → a CloudDiskSpec of createImageFromSnapshots.
fn parse_snapshot_disk(s: &str) -> Result<Value, String> {
    let bad = || format!("'{s}': say DEVICE=SNAPSHOT[:SIZE_GB[:TYPE]], e.g. vda=snapshot-abc:50");
    let (device, rest) = s.split_once('=').ok_or_else(bad)?;
    let mut parts = rest.split(':');
    let snapshot = parts.next().filter(|p| !p.is_empty()).ok_or_else(bad)?;
    let mut disk = json!({"deviceName": device, "snapshotId": snapshot});
    if let Some(size) = parts.next() {
        disk["diskSizeGB"] = json!(size.parse::<i64>().map_err(|_| bad())?);
    }
    if let Some(t) = parts.next() {
        disk["diskType"] = json!(t);
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(disk)
}

/// An image call answered by a new image's id, then optionally waited for.
async fn new_image(ctx: &Ctx, r: Value, verb: &str, wait: bool) -> Result<Outcome, Failure> {
    let id = s(&r, "/imageId");
    if ctx.human() {
        outln!("{verb} image {id}");
    }
    if wait {
        ctx.wait_for(&Target::Image(id.clone()), Want::Status("ready"))
            .await?;
    }
    let ids = vec![id];
    if !ctx.human() {
        ctx.emit(&ids, &r, String::new);
    }
    Ok(Outcome::new(ids, r))
}

/// A call answered by nothing: says what was done.
fn done(ctx: &Ctx, id: String, r: Value, what: &str) -> Outcome {
    let ids = vec![id];
    ctx.emit(&ids, &r, || format!("{what} {}", ids[0]));
    Outcome::new(ids, r)
}

pub async fn convert(ctx: &Ctx, a: ConvertArgs) -> Result<Outcome, Failure> {
    let id = a.id.get();
    let r = ctx
        .post("vm", &format!("/images/{id}:convertImage"), &json!({}))
        .await?;
    new_image(ctx, r, "Converting into", a.wait.wait).await
}

pub async fn copy(ctx: &Ctx, a: CopyArgs) -> Result<Outcome, Failure> {
    let mut body = json!({"sourceImageIds": a.ids, "destinationRegion": a.to});
    if let Some(n) = &a.name {
        body["name"] = json!(n);
    }
    if let Some(d) = &a.description {
        body["description"] = json!(d);
    }
    let r = ctx.post("vm", "/images:copyImages", &body).await?;
    let copies = items(&r, "copyImages");
    let ids: Vec<String> = copies.iter().map(|c| s(c, "/destinationImageId")).collect();
    if a.wait.wait && a.to == ctx.region() {
        for id in &ids {
            ctx.wait_for(&Target::Image(id.clone()), Want::Status("ready"))
                .await?;
        }
    }
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = copies
            .iter()
            .map(|c| {
                vec![
                    s(c, "/sourceImageId"),
                    s(c, "/destinationImageId"),
                    a.to.clone(),
                ]
            })
            .collect();
        table(&["source", "copy", "region"], &rows)
    });
    Ok(Outcome::new(ids, r))
}

pub async fn modify(ctx: &Ctx, a: ModifyArgs) -> Result<Outcome, Failure> {
    let id = a.id.get();
    let mut body = json!({});
    if let Some(n) = &a.name {
        body["name"] = json!(n);
    }
    if let Some(d) = &a.description {
        body["description"] = json!(d);
    }
    let r = ctx
        .post("vm", &format!("/images/{id}:modifyImageAttribute"), &body)
        .await?;
    Ok(done(ctx, id, r, "Modified"))
}

pub async fn share(ctx: &Ctx, a: PinsArgs, action: &str) -> Result<Outcome, Failure> {
    let id = a.id.get();
    let body = json!({"pins": a.pins});
    let r = ctx
        .post("vm", &format!("/images/{id}:{action}"), &body)
        .await?;
    let what = if action == "share" {
        "Shared"
    } else {
        "Stopped sharing"
    };
    Ok(done(ctx, id, r, what))
}

pub async fn members(ctx: &Ctx, id: ImageId) -> Result<Outcome, Failure> {
    let id = id.get();
    let r = ctx.get("vm", &format!("/images/{id}/members"), "").await?;
    let pins: Vec<String> = items(&r, "pins")
        .iter()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    ctx.emit(&pins, &r, || {
        let rows: Vec<Vec<String>> = pins.iter().map(|p| vec![p.clone()]).collect();
        table(&["pin"], &rows)
    });
    Ok(Outcome::new(pins, r))
}

pub async fn release(ctx: &Ctx, id: ImageId, action: &str) -> Result<Outcome, Failure> {
    let id = id.get();
    let r = ctx
        .post("vm", &format!("/images/{id}:{action}"), &json!({}))
        .await?;
    let what = if action == "release" {
        "Released"
    } else {
        "Took back"
    };
    Ok(done(ctx, id, r, what))
}

pub async fn constraints(ctx: &Ctx, a: ConstraintsArgs) -> Result<Outcome, Failure> {
    let q: Vec<String> = a
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!("ids.{}={id}", i + 1))
        .collect();
    let r = ctx.get("vm", "/imageConstraints", &q.join("&")).await?;
    let list = items(&r, "imageConstraints");
    ctx.emit(&a.ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|c| {
                let t = &c["imageInstanceTypeConstraint"];
                let types: Vec<String> = items(t, "instanceTypes")
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect();
                vec![
                    s(c, "/imageId"),
                    if t.is_null() {
                        "-".into()
                    } else {
                        s(t, "/constraintsType")
                    },
                    types.join(","),
                ]
            })
            .collect();
        table(&["image", "constraint", "instance types"], &rows)
    });
    Ok(Outcome::new(a.ids.clone(), r))
}

pub async fn from_snapshots(ctx: &Ctx, a: FromSnapshotsArgs) -> Result<Outcome, Failure> {
    let mut body = json!({"name": a.name, "platform": a.platform, "architecture": a.architecture,
        "bootMode": a.boot_mode, "cloudDisks": a.disks});
    if let Some(d) = &a.description {
        body["description"] = json!(d);
    }
    let r = ctx
        .post("vm", "/images:createImageFromSnapshots", &body)
        .await?;
    new_image(ctx, r, "Creating", a.wait.wait).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_disk_rules() {
        assert_eq!(
            parse_snapshot_disk("vda=snapshot-a:50:ssd.gp1").unwrap(),
            json!({"deviceName": "vda", "snapshotId": "snapshot-a", "diskSizeGB": 50, "diskType": "ssd.gp1"})
        );
        assert_eq!(
            parse_snapshot_disk("vdb=snapshot-b").unwrap(),
            json!({"deviceName": "vdb", "snapshotId": "snapshot-b"})
        );
        for bad in ["vda", "vda=", "vda=s:x", "vda=s:1:t:extra"] {
            assert!(parse_snapshot_disk(bad).is_err(), "{bad}");
        }
    }
}
