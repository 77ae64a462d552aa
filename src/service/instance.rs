//! Instances: createInstances, describe, start/stop/reboot/delete, attach/detach.

use super::catalog::{self, InstanceType};
use super::spec::AttachmentSpecInput;
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::instance::InstanceQuery;
use crate::store::status::{AttachmentStatus, InstanceStatus};
use crate::store::{self, AttachmentRow, Db, DiskRow, InstanceRow};
use crate::tasks::{self, payload};

/// How long a detached disk stays in its instance's describeInstance, as `detached`.
pub const DETACHED_SHOWN_FOR_MS: i64 = 60_000;

#[derive(Debug, Clone, Default)]
pub struct InstanceSpecInput {
    pub az: Option<String>,
    pub instance_type: Option<String>,
    pub image_id: Option<String>,
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub description: Option<String>,
    pub system_disk: Option<AttachmentSpecInput>,
    pub data_disks: Vec<AttachmentSpecInput>,
    /// `primaryNetworkInterface.networkInterface`; none: the region's default subnet.
    pub primary_nic: Option<super::vpc::PrimaryNicInput>,
    /// A new elastic IP for the primary interface, released with the instance.
    pub elastic_ip: Option<super::vpc::ElasticIpSpecInput>,
    pub key_names: Vec<String>,
    pub password: Option<String>,
    pub charge_mode: Option<String>,
    pub charge_on_stopped: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateInstancesInput {
    pub instance_spec: Option<InstanceSpecInput>,
    pub max_count: Option<i64>,
    pub client_token: Option<String>,
}

/// An instance with its disks, as describeInstance shows it.
#[derive(Debug, Clone)]
pub struct InstanceDetail {
    pub row: InstanceRow,
    pub instance_type: Option<&'static InstanceType>,
    pub disks: Vec<(AttachmentRow, DiskRow)>,
}

impl InstanceDetail {
    pub fn system_disk(&self) -> Option<&(AttachmentRow, DiskRow)> {
        self.disks
            .iter()
            .find(|(a, _)| a.device_name == "vda" && a.status != AttachmentStatus::Detached)
    }
}

impl Service {
    /// The caller's instance with its attachments and disks, on a reader.
    pub(crate) async fn instance_with_disks(
        &self,
        scope: &Scope,
        id: &str,
    ) -> store::DbResult<Option<store::InstanceWithDisks>> {
        let mut db = self.store.read().await?;
        store::instance_with_disks(&mut db, &scope.pin, &scope.region, id).await
    }

    /// describeInstance: the instance with its disks, and those detached from it in the
    /// last [`DETACHED_SHOWN_FOR_MS`] as `detached` (as JD shows them; Terraform's detach
    /// waits for that status).
    pub async fn instance_fetch(&self, scope: &Scope, id: &str) -> ApiResult<InstanceDetail> {
        let mut conn = self.store.read().await?;
        let row = store::instance::instance_get(&mut conn, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        let mut d = detail(&mut conn, row).await?;
        let since = store::now_ms() - DETACHED_SHOWN_FOR_MS;
        let detached = store::disk::recent_detachments_of(&mut conn, id, since).await?;
        d.disks.extend(detached);
        Ok(d)
    }

    pub async fn instance_list(&self, q: InstanceQuery) -> ApiResult<(Vec<InstanceDetail>, i64)> {
        let (page, total) = store::instance_page(&mut *self.store.read().await?, &q).await?;
        let out = page
            .into_iter()
            .map(|(row, disks)| InstanceDetail {
                instance_type: catalog::instance_type(&row.instance_type),
                disks,
                row,
            })
            .collect();
        Ok((out, total))
    }

    /// start/stop/reboot: `from` status → transitional status for `--transition-delay` →
    /// final status.
    pub async fn instance_transition(
        &self,
        scope: &Scope,
        id: &str,
        op: InstanceOp,
    ) -> ApiResult<()> {
        let (from, task, during, final_status) = op.states();
        let mut tx = self.store.write().await?;
        let row = store::instance::instance_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        if let Some(t) = &row.task {
            return Err(ApiError::underlay_conflict(t));
        }
        if !from.contains(&row.status) {
            return Err(ApiError::invalid_instance_status(row.status));
        }
        if let InstanceOp::Stop {
            charge_on_stopped: Some(c),
        } = &op
        {
            match c.as_str() {
                "keepCharging" => {}
                "stopCharging" => {
                    let disks = store::disk::attachments_of_instance(&mut tx, id).await?;
                    let cloud_sys = disks
                        .iter()
                        .any(|(a, d)| a.device_name == "vda" && d.category == "cloud");
                    if !cloud_sys {
                        return Err(ApiError::FailedPrecondition(
                            "stopCharging only applied to cloud system disk".into(),
                        ));
                    }
                    if row.charge_mode != "postpaid_by_duration" {
                        return Err(ApiError::FailedPrecondition(
                            "stopCharging only applied to postpaid by duration".into(),
                        ));
                    }
                }
                other => {
                    return Err(ApiError::InvalidArgument(format!(
                        "Invalid chargeOnStopped '{other}'"
                    )))
                }
            }
        }
        if matches!(op, InstanceOp::Start) {
            let disks = store::disk::attachments_of_instance(&mut tx, id).await?;
            match disks.iter().find(|(a, _)| a.device_name == "vda") {
                None => return Err(ApiError::NotFound("System disk not found".into())),
                Some((a, _)) if a.status != AttachmentStatus::Attached => {
                    return Err(ApiError::NotFound("Invalid system disk mount state".into()))
                }
                Some(_) => {}
            }
        }
        if !store::instance::instance_begin_task(&mut tx, id, from, task, during).await? {
            return Err(ApiError::underlay_conflict(task));
        }
        tasks::enqueue(
            &mut tx,
            id,
            &payload::InstanceTransition {
                task: task.into(),
                final_status,
            },
            self.cfg.delays.transition,
        )
        .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(())
    }

    pub async fn instance_delete(&self, scope: &Scope, id: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let row = store::instance::instance_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        if let Some(t) = &row.task {
            return Err(ApiError::underlay_conflict(t));
        }
        const FROM: [InstanceStatus; 3] = [
            InstanceStatus::Running,
            InstanceStatus::Stopped,
            InstanceStatus::Error,
        ];
        if !FROM.contains(&row.status) {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid instance status '{}'",
                row.status
            )));
        }
        if !store::instance::instance_begin_task(
            &mut tx,
            id,
            &FROM,
            "delete",
            InstanceStatus::Deleting,
        )
        .await?
        {
            return Err(ApiError::underlay_conflict("delete"));
        }
        tasks::enqueue(
            &mut tx,
            id,
            &payload::InstanceDelete {},
            self.cfg.delays.transition,
        )
        .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub enum InstanceOp {
    Start,
    Stop { charge_on_stopped: Option<String> },
    Reboot,
}

impl InstanceOp {
    /// (allowed statuses, task name, transitional status, final status)
    fn states(
        &self,
    ) -> (
        &'static [InstanceStatus],
        &'static str,
        InstanceStatus,
        InstanceStatus,
    ) {
        use InstanceStatus::{Rebooting, Running, Starting, Stopped, Stopping};
        match self {
            InstanceOp::Start => (&[Stopped], "start", Starting, Running),
            InstanceOp::Stop { .. } => (&[Running], "stop", Stopping, Stopped),
            InstanceOp::Reboot => (&[Running], "reboot", Rebooting, Running),
        }
    }
}

async fn detail(conn: &mut Db, row: InstanceRow) -> ApiResult<InstanceDetail> {
    let disks = store::disk::attachments_of_instance(conn, &row.id).await?;
    Ok(InstanceDetail {
        instance_type: catalog::instance_type(&row.instance_type),
        row,
        disks,
    })
}
