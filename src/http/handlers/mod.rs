//! One exhaustive match from endpoint to handler; one module per resource.

mod disk;
mod image;
mod image_transfer;
mod instance;
mod quota;
mod snapshot;

use super::endpoint::Endpoint;
use super::params::Params;
use super::{Call, Reply};
use crate::error::ApiResult;
use crate::service::spec::{AttachmentSpecInput, DiskSpecInput};
use crate::service::Service;

pub async fn handle(svc: &Service, endpoint: Endpoint, call: Call) -> ApiResult<Reply> {
    use Endpoint::*;
    match endpoint {
        CreateInstances => instance::create_instances(svc, call).await,
        DescribeInstances => instance::describe_instances(svc, call).await,
        DescribeInstance { instance_id } => {
            instance::describe_instance(svc, call, &instance_id).await
        }
        DeleteInstance { instance_id } => instance::delete_instance(svc, call, &instance_id).await,
        StartInstance { instance_id } => instance::start_instance(svc, call, &instance_id).await,
        StopInstance { instance_id } => instance::stop_instance(svc, call, &instance_id).await,
        RebootInstance { instance_id } => instance::reboot_instance(svc, call, &instance_id).await,
        AttachDisk { instance_id } => instance::attach_disk(svc, call, &instance_id).await,
        DetachDisk { instance_id } => instance::detach_disk(svc, call, &instance_id).await,
        CreateImage { instance_id } => image::create_image(svc, call, &instance_id).await,
        DescribeImages => image::describe_images(svc, call).await,
        DeleteImage { image_id } => image::delete_image(svc, call, &image_id).await,
        ImportImage => image_transfer::import_image(svc, call).await,
        ExportImage { image_id } => image_transfer::export_image(svc, call, &image_id).await,
        ImageTasks => image_transfer::image_tasks(svc, call).await,
        DescribeImage { image_id } => image::describe_image(svc, call, &image_id).await,
        DescribeQuotas => quota::describe_quotas(svc, call).await,
        CreateDisks => disk::create_disks(svc, call).await,
        DescribeDisks => disk::describe_disks(svc, call).await,
        DescribeDisk { disk_id } => disk::describe_disk(svc, call, &disk_id).await,
        DeleteDisk { disk_id } => disk::delete_disk(svc, call, &disk_id).await,
        CreateSnapshot => snapshot::create_snapshot(svc, call).await,
        DescribeSnapshots => snapshot::describe_snapshots(svc, call).await,
        DescribeSnapshot { snapshot_id } => {
            snapshot::describe_snapshot(svc, call, &snapshot_id).await
        }
        DeleteSnapshot { snapshot_id } => snapshot::delete_snapshot(svc, call, &snapshot_id).await,
        DescribeQuota => quota::describe_quota(svc, call).await,
    }
}

pub(super) fn disk_spec(p: &Params) -> ApiResult<DiskSpecInput> {
    let charge = p.obj("charge")?;
    Ok(DiskSpecInput {
        az: p.str("az")?,
        name: p.str("name")?,
        description: p.str("description")?,
        disk_type: p.str("diskType")?,
        disk_size_gb: p.int("diskSizeGB")?,
        iops: p.int("iops")?,
        snapshot_id: p.str("snapshotId")?,
        multi_attachable: p.bool("multiAttachable")?,
        encrypt: p.bool("encrypt")?,
        charge_mode: match charge {
            Some(c) => c.str("chargeMode")?,
            None => None,
        },
    })
}

pub(super) fn attachment_spec(p: &Params) -> ApiResult<AttachmentSpecInput> {
    Ok(AttachmentSpecInput {
        disk_category: p.str("diskCategory")?,
        auto_delete: p.bool("autoDelete")?,
        cloud_disk_spec: p.obj("cloudDiskSpec")?.map(|s| disk_spec(&s)).transpose()?,
        device_name: p.str("deviceName")?,
        no_device: p.bool("noDevice")?,
    })
}

/// Filter values by name (filters with the same name are merged).
pub(super) fn filter_values(filters: &[super::params::Filter], name: &str) -> Vec<String> {
    filters
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(name))
        .flat_map(|f| f.values.iter().cloned())
        .collect()
}

pub(super) fn filter_bool(
    filters: &[super::params::Filter],
    name: &str,
) -> ApiResult<Option<bool>> {
    match filter_values(filters, name).first() {
        None => Ok(None),
        Some(v) => super::params::parse_bool(v).map(Some).ok_or_else(|| {
            crate::error::ApiError::InvalidArgument(format!(
                "Invalid filter value '{v}' for {name}"
            ))
        }),
    }
}
