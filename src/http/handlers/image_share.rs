//! modifyImageAttribute, shareImage / unShareImage / describeImageMembers, releaseImage /
//! unReleaseImage, describeImageConstraints(Batch): translate, call the service, answer.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::image::ImageIdResult;
use crate::error::ApiResult;
use crate::http::{Call, Reply};
use crate::service::image_constraint::ImageConstraint;
use crate::service::image_convert::{FromSnapshotsInput, SnapshotDiskInput};
use crate::service::image_copy::CopyImagesInput;
use crate::service::Service;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModifyImageAttribute {
    /// 2–32 of Chinese, letters, digits, `_`, `-`, `.`.
    #[schemars(regex(pattern = r"^[\u4e00-\u9fa5A-Za-z0-9_.-]{2,32}$"))]
    pub name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

pub async fn modify_image_attribute(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ModifyImageAttribute = call.params.decode()?;
    svc.image_modify(&call.scope, id, r.name, r.description)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharePins {
    /// The accounts (pins) to share with or to stop sharing with.
    #[serde(default)]
    #[schemars(example = ["jdcloud-pin-2"])]
    pub pins: Vec<String>,
    /// Accepted as the Go SDK sends it; Kiln names accounts by pin.
    #[serde(default)]
    #[expect(dead_code, reason = "accepted, not used")]
    pub login_names: Vec<String>,
}

pub async fn share_image(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: SharePins = call.params.decode()?;
    svc.image_share(&call.scope, id, r.pins).await?;
    Ok(Reply::Empty)
}

pub async fn unshare_image(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: SharePins = call.params.decode()?;
    svc.image_unshare(&call.scope, id, r.pins).await?;
    Ok(Reply::Empty)
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageMembersResult {
    /// The accounts the image is shared with.
    pub pins: Vec<String>,
}

pub async fn describe_image_members(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let pins = svc.image_members(&call.scope, id).await?;
    Reply::serialize(&ImageMembersResult { pins })
}

pub async fn release_image(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.image_release(&call.scope, id).await?;
    Ok(Reply::Empty)
}

pub async fn unrelease_image(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.image_unrelease(&call.scope, id).await?;
    Ok(Reply::Empty)
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageConstraintResult {
    pub image_constraints: ImageConstraint,
}

pub async fn describe_image_constraints(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let image_constraints = svc.image_constraint(&call.scope, id).await?;
    Reply::serialize(&ImageConstraintResult { image_constraints })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintIds {
    /// Image ids.
    #[serde(default)]
    #[schemars(example = ["img-winsrv2019"])]
    pub ids: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageConstraintsBatchResult {
    pub image_constraints: Vec<ImageConstraint>,
}

pub async fn describe_image_constraints_batch(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: ConstraintIds = call.params.decode()?;
    let mut image_constraints = Vec::new();
    for id in &r.ids {
        image_constraints.push(svc.image_constraint(&call.scope, id).await?);
    }
    Reply::serialize(&ImageConstraintsBatchResult { image_constraints })
}

pub async fn convert_image(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let image_id = svc.image_convert(&call.scope, id).await?;
    Reply::serialize(&ImageIdResult { image_id })
}

/// One disk of createImageFromSnapshots.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotDisk {
    #[schemars(required, example = &"snapshot-sample")]
    pub snapshot_id: Option<String>,
    /// `vda` for the system disk, `vdb`… for data disks.
    #[schemars(required, example = &"vda")]
    pub device_name: Option<String>,
    /// Default `ssd.gp1`.
    #[schemars(schema_with = "crate::http::schema::disk_type")]
    pub disk_type: Option<String>,
    /// At least the snapshot's; system disk 40–500, data disk 20–32000.
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: Option<i64>,
    pub auto_delete: Option<bool>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateImageFromSnapshots {
    #[schemars(required, regex(pattern = r"^[\u4e00-\u9fa5A-Za-z0-9_.-]{2,32}$"), example = &"from-snaps")]
    pub name: Option<String>,
    /// CentOS, Ubuntu, Windows Server, OpenEuler, Rocky Linux, Others Linux.
    #[schemars(required, example = &"Ubuntu")]
    pub platform: Option<String>,
    /// `x86_64` or `arm64`.
    #[schemars(required, example = &"x86_64")]
    pub architecture: Option<String>,
    /// `uefi` or `bios`.
    #[schemars(required, example = &"bios")]
    pub boot_mode: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    pub os_version: Option<String>,
    /// Accepted; idempotency is not kept for this call.
    #[expect(dead_code, reason = "accepted, not used")]
    pub client_token: Option<String>,
    #[serde(default)]
    pub cloud_disks: Vec<SnapshotDisk>,
}

pub async fn create_image_from_snapshots(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: CreateImageFromSnapshots = call.params.decode()?;
    let input = FromSnapshotsInput {
        name: r.name,
        platform: r.platform,
        architecture: r.architecture,
        boot_mode: r.boot_mode,
        description: r.description,
        os_version: r.os_version,
        cloud_disks: r
            .cloud_disks
            .into_iter()
            .map(|d| SnapshotDiskInput {
                snapshot_id: d.snapshot_id,
                device_name: d.device_name,
                disk_type: d.disk_type,
                disk_size_gb: d.disk_size_gb,
                auto_delete: d.auto_delete,
            })
            .collect(),
    };
    let image_id = svc.image_from_snapshots(&call.scope, input).await?;
    Reply::serialize(&ImageIdResult { image_id })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CopyImages {
    /// 1–10 image ids.
    #[serde(default)]
    #[schemars(required, example = ["img-sample"])]
    pub source_image_ids: Vec<String>,
    /// A region id (the current one too).
    #[schemars(required, example = &"cn-east-2")]
    pub destination_region: Option<String>,
    /// Every copy's name (default: its source's).
    pub name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CopiedImage {
    pub source_image_id: String,
    pub destination_image_id: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CopyImagesResult {
    pub copy_images: Vec<CopiedImage>,
}

pub async fn copy_images(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: CopyImages = call.params.decode()?;
    let input = CopyImagesInput {
        source_image_ids: r.source_image_ids,
        destination_region: r.destination_region,
        name: r.name,
        description: r.description,
    };
    let copies = svc.images_copy(&call.scope, input).await?;
    let copy_images = copies
        .into_iter()
        .map(|(s, d)| CopiedImage {
            source_image_id: s,
            destination_image_id: d,
        })
        .collect();
    Reply::serialize(&CopyImagesResult { copy_images })
}
