//! The instance steps' part under `--hypervisor qemu`: what a guest runs on (its disks'
//! top layers, its type's memory) and the driver calls that make start, stop, reboot,
//! delete, attach and detach real. Under `--hypervisor none` each is a no-op.

use super::{StepError, TaskCtx};
use crate::hypervisor::{GuestDisk, GuestSpec, HypervisorError};
use crate::service::catalog;
use crate::store::status::{AttachmentStatus, InstanceStatus};
use crate::store::{disk, instance, AttachmentRow, DiskRow};

type StepResult<T = ()> = Result<T, StepError>;

/// virtio-blk serial numbers hold at most 20 bytes.
const SERIAL_BYTES: usize = 20;

/// A disk as the guest sees it: the attachment's device, the disk's top layer.
pub(crate) fn guest_disk(ctx: &TaskCtx, a: &AttachmentRow, d: &DiskRow) -> GuestDisk {
    GuestDisk {
        device: a.device_name.clone(),
        path: ctx.block.layer_path(d.top_layer()),
        node: d.top_layer().to_string(),
        serial: d.id.chars().take(SERIAL_BYTES).collect(),
    }
}

/// The guest of an instance as its rows say: every disk attached or being attached, in
/// device order, and the memory and CPUs of its type.
async fn guest_spec(ctx: &TaskCtx, instance_id: &str) -> StepResult<GuestSpec> {
    let mut conn = ctx.store.read().await?;
    let row = instance::instance_by_id(&mut conn, instance_id)
        .await?
        .ok_or_else(|| StepError::Invalid(format!("instance {instance_id} vanished")))?;
    let mut disks = disk::attachments_of_instance(&mut conn, instance_id).await?;
    drop(conn);
    disks.retain(|(a, _)| {
        matches!(
            a.status,
            AttachmentStatus::Attached | AttachmentStatus::Attaching
        )
    });
    disks.sort_by(|(a, _), (b, _)| a.device_name.cmp(&b.device_name));
    let ty = catalog::instance_type(&row.instance_type);
    Ok(GuestSpec {
        instance_id: instance_id.to_string(),
        memory_mib: ty.map_or(1024, |t| u64::from(t.memory_mb)),
        vcpus: ty.map_or(1, |t| t.cpu),
        disks: disks.iter().map(|(a, d)| guest_disk(ctx, a, d)).collect(),
    })
}

/// Boots the instance's guest. The status it ends in: `running`, or `stopped` when the
/// guest did not boot (the reason is logged, with the console's last lines).
pub(super) async fn boot(ctx: &TaskCtx, instance_id: &str) -> StepResult<InstanceStatus> {
    let Some(hv) = ctx.hypervisor.driver() else {
        return Ok(InstanceStatus::Running);
    };
    let spec = guest_spec(ctx, instance_id).await?;
    match hv.start(&spec).await {
        Ok(()) => Ok(InstanceStatus::Running),
        Err(HypervisorError::BootFailed(why)) => {
            tracing::warn!(instance = %instance_id, "stays stopped: {why}");
            Ok(InstanceStatus::Stopped)
        }
        Err(e) => Err(e.into()),
    }
}

/// Powers the guest down (hard after the stop timeout).
pub(super) async fn power_down(ctx: &TaskCtx, instance_id: &str) -> StepResult {
    if let Some(hv) = ctx.hypervisor.driver() {
        hv.stop(instance_id).await?;
    }
    Ok(())
}

/// Resets the guest; one that is not running (it ended meanwhile) is booted.
pub(super) async fn reset(ctx: &TaskCtx, instance_id: &str) -> StepResult<InstanceStatus> {
    match ctx.hypervisor.driver() {
        Some(hv) if hv.is_running(instance_id) => {
            hv.reboot(instance_id).await?;
            Ok(InstanceStatus::Running)
        }
        Some(_) => boot(ctx, instance_id).await,
        None => Ok(InstanceStatus::Running),
    }
}

/// Stops the guest at once and forgets its directory: the instance is being deleted.
pub(super) async fn discard(ctx: &TaskCtx, instance_id: &str) {
    if let Some(hv) = ctx.hypervisor.driver() {
        hv.kill(instance_id).await;
        hv.guest_dir(instance_id).remove();
    }
}

/// Hot-plugs a newly attached disk into the running guest.
pub(super) async fn plug(ctx: &TaskCtx, instance_id: &str, disk_id: &str) -> StepResult {
    let Some(hv) = ctx
        .hypervisor
        .driver()
        .filter(|hv| hv.is_running(instance_id))
    else {
        return Ok(());
    };
    let mut conn = ctx.store.read().await?;
    let found = disk::attachments_of_instance(&mut conn, instance_id)
        .await?
        .into_iter()
        .find(|(a, _)| a.disk_id == disk_id);
    drop(conn);
    if let Some((a, d)) = found {
        hv.attach(instance_id, &guest_disk(ctx, &a, &d)).await?;
    }
    Ok(())
}

/// Hot-unplugs a disk being detached from the running guest (nothing to read or do
/// without one).
pub(super) async fn unplug(ctx: &TaskCtx, instance_id: &str, disk_id: &str) -> StepResult {
    let Some(hv) = ctx
        .hypervisor
        .driver()
        .filter(|hv| hv.is_running(instance_id))
    else {
        return Ok(());
    };
    let mut conn = ctx.store.read().await?;
    let device = disk::attachments_of_disk(&mut conn, disk_id)
        .await?
        .into_iter()
        .find(|a| a.instance_id == instance_id)
        .map(|a| a.device_name);
    drop(conn);
    if let Some(device) = device {
        hv.detach(instance_id, &device).await?;
    }
    Ok(())
}
