//! createInstances: validate the request, plan each instance's disks (see
//! [`super::launch_disks`]), write the instances with their disks and attachments, and
//! schedule their tasks.

use super::catalog::{self, InstanceType};
use super::instance::InstanceSpecInput;
use super::launch_disks::PlannedDisk;
use super::quota::QuotaKind;
use super::spec;
use super::vpc::{ElasticIpSpecInput, InstanceNetwork};
use super::{idempotency, Scope, Service};
use crate::block::GIB;
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::status::{AttachmentStatus, DiskStatus, InstanceStatus};
use crate::store::{self, now_ms, AttachmentRow, Db, DiskRow, ImageRow, InstanceRow, LayerRow};
use crate::tasks::{self, payload};

#[derive(Debug, Clone, Default)]
pub struct CreateInstancesInput {
    pub instance_spec: Option<InstanceSpecInput>,
    pub max_count: Option<i64>,
    pub client_token: Option<String>,
}

const TOKEN_OP: &str = "createInstances";

/// A launch request that passed every check: what each of its instances gets.
struct Launch {
    count: i64,
    name: String,
    az: String,
    itype: &'static InstanceType,
    image: ImageRow,
    spec: InstanceSpecInput,
    charge_mode: String,
    charge_on_stopped: String,
    disks: Vec<PlannedDisk>,
    network: InstanceNetwork,
    elastic_ip: Option<ElasticIpSpecInput>,
}

impl Service {
    pub async fn instances_create(
        &self,
        scope: &Scope,
        input: CreateInstancesInput,
    ) -> ApiResult<Vec<String>> {
        let count = check_shape(&input)?;
        let token = input.client_token.clone();
        let token = token.as_deref();
        idempotency::check_token(token)?;
        // A retry answers with the first result before anything else is checked.
        if let Some(ids) = replayed(&mut *self.store.read().await?, scope, token).await? {
            return Ok(ids);
        }
        let launch = self.validate_launch(scope, input, count).await?;
        let mut tx = self.store.write().await?;
        // A concurrent retry may have won while this one was checked.
        if let Some(ids) = replayed(&mut tx, scope, token).await? {
            return Ok(ids);
        }
        // In the transaction that records the key names, so the key cannot go meanwhile.
        self.check_key_names(&mut tx, scope, &launch.spec.key_names)
            .await?;
        self.check_launch_quotas(&mut tx, scope, &launch).await?;
        let subnet = self
            .launch_subnet(&mut tx, scope, &launch.network, launch.count)
            .await?;
        let mut ids_out = Vec::new();
        for n in 0..launch.count {
            let id = self
                .record_instance(&mut tx, scope, &launch, &subnet, n)
                .await?;
            ids_out.push(id);
        }
        idempotency::remember(&mut tx, scope, TOKEN_OP, token, &ids_out.join(",")).await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(ids_out)
    }

    /// Every documented rule of the request, in the documented order; the disks planned.
    async fn validate_launch(
        &self,
        scope: &Scope,
        input: CreateInstancesInput,
        count: i64,
    ) -> ApiResult<Launch> {
        let spec = input.instance_spec.unwrap_or_default();
        let missing = |what: &str| ApiError::InvalidArgument(format!("Parameter {what} missing"));
        let image_id = spec
            .image_id
            .clone()
            .ok_or_else(|| missing("InstanceSpec.ImageId"))?;
        let name = spec
            .name
            .clone()
            .ok_or_else(|| missing("InstanceSpec.Name"))?;
        if !spec::instance_name_ok(&strip_placeholder(&name)) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid instance name '{name}'"
            )));
        }
        let az = spec.az.clone().ok_or_else(|| missing("InstanceSpec.Az"))?;
        if !catalog::is_zone_of(&scope.region, &az) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid availability zone '{az}'"
            )));
        }
        let type_name = spec
            .instance_type
            .clone()
            .ok_or_else(|| missing("InstanceSpec.InstanceType"))?;
        let itype = catalog::instance_type(&type_name)
            .ok_or_else(|| ApiError::NotFound(format!("InstanceType '{type_name}' not found")))?;
        if spec
            .description
            .as_deref()
            .is_some_and(|d| !spec::description_ok(d))
        {
            return Err(ApiError::InvalidArgument(
                "Invalid parameter InstanceSpec.Description".into(),
            ));
        }
        let charge_mode = spec
            .charge_mode
            .clone()
            .unwrap_or_else(|| "postpaid_by_duration".into());
        if !["postpaid_by_duration", "prepaid_by_duration"].contains(&charge_mode.as_str()) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid charge mode '{charge_mode}'"
            )));
        }
        let charge_on_stopped = spec
            .charge_on_stopped
            .clone()
            .unwrap_or_else(|| "keepCharging".into());
        if spec
            .password
            .as_deref()
            .is_some_and(|p| !spec::password_ok(p))
        {
            return Err(ApiError::InvalidArgument("Invalid password".into()));
        }
        if let Some(e) = &spec.elastic_ip {
            super::vpc::check_eip_spec(e)?;
        }

        let mut db = self.store.read().await?;
        let image = self.launchable_image(&mut db, scope, &image_id).await?;
        super::image_constraint::check_instance_type(&image.id, itype)?;
        let disks = self
            .plan_disks(&mut db, scope, &spec, &image, itype)
            .await?;
        let network = self
            .check_instance_network(&mut db, scope, spec.primary_nic.clone(), count)
            .await?;
        drop(db);
        check_charge_on_stopped(&charge_on_stopped, &charge_mode, &disks[0])?;
        Ok(Launch {
            count,
            name,
            az,
            itype,
            image,
            charge_mode,
            charge_on_stopped,
            disks,
            elastic_ip: spec.elastic_ip.clone(),
            network,
            spec,
        })
    }

    /// Instances and their cloud disks against the account's quotas.
    async fn check_launch_quotas(
        &self,
        tx: &mut Db,
        scope: &Scope,
        launch: &Launch,
    ) -> ApiResult<()> {
        let cloud_per_instance = launch
            .disks
            .iter()
            .filter(|d| d.category == "cloud")
            .count();
        self.quota_check(tx, scope, QuotaKind::Instance, launch.count)
            .await?;
        let disks = launch.count * cloud_per_instance as i64;
        self.quota_check(tx, scope, QuotaKind::Disk, disks).await
    }

    /// The `n`th instance of the launch: its row, its primary network interface (and
    /// elastic IP), each planned disk with its layer and attachment, and its task. Its id.
    async fn record_instance(
        &self,
        tx: &mut Db,
        scope: &Scope,
        launch: &Launch,
        subnet: &store::vpc::SubnetRow,
        n: i64,
    ) -> ApiResult<String> {
        let now = now_ms();
        let id = ids::instance_id();
        let nic = self
            .record_primary_nic(tx, scope, subnet, &launch.network, &id)
            .await?;
        let spec = &launch.spec;
        let row = InstanceRow {
            id: id.clone(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            az: launch.az.clone(),
            name: expand_placeholder(&launch.name, n),
            hostname: spec.hostname.clone().unwrap_or_else(|| id.clone()),
            description: spec.description.clone().unwrap_or_default(),
            instance_type: launch.itype.name.to_string(),
            image_id: launch.image.id.clone(),
            status: InstanceStatus::Pending,
            task: Some("create".into()),
            private_ip: nic.row.private_ip.clone(),
            primary_nic: Some(nic.attachment_json(tx).await?),
            charge_mode: launch.charge_mode.clone(),
            charge_on_stopped: launch.charge_on_stopped.clone(),
            created_at: now,
            seq: self.store.next_seq(),
            vpc_id: nic.row.vpc_id.clone(),
            subnet_id: nic.row.subnet_id.clone(),
            elastic_ip_id: String::new(),
            elastic_ip_address: String::new(),
            key_names: serde_json::to_string(&spec.key_names).map_err(ApiError::internal)?,
        };
        store::instance::instance_insert(tx, &row).await?;
        if let Some(p) = &spec.password {
            let hash = super::instance_change::password_hash(p);
            store::instance::instance_set_password_hash(tx, &id, &hash).await?;
        }
        if let Some(e) = &launch.elastic_ip {
            let eip = self
                .record_elastic_ip(tx, scope, e, String::new(), true)
                .await?;
            self.associate_in(tx, &eip, &nic.row).await?;
        }
        for d in &launch.disks {
            self.record_launch_disk(tx, scope, launch, &row, d).await?;
        }
        tasks::enqueue(tx, &id, &payload::InstanceCreate {}, Default::default()).await?;
        Ok(id)
    }

    /// One planned disk of a new instance: its layer (on the image's or the snapshot's
    /// data), the disk, and its attachment, `attaching` until the task ends.
    async fn record_launch_disk(
        &self,
        tx: &mut Db,
        scope: &Scope,
        launch: &Launch,
        instance: &InstanceRow,
        d: &PlannedDisk,
    ) -> ApiResult<()> {
        let now = instance.created_at;
        let disk_id = if d.category == "cloud" {
            ids::disk_id()
        } else {
            ids::local_disk_id()
        };
        let layer_id = ids::layer_id();
        let layer = LayerRow {
            id: layer_id.clone(),
            backing_id: d.backing_layer.clone(),
            size_bytes: d.size_gb * GIB as i64,
            created_at: now,
        };
        store::layer::layer_insert(tx, &layer).await?;
        let disk = DiskRow {
            id: disk_id.clone(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            az: launch.az.clone(),
            category: d.category.into(),
            name: if d.name.is_empty() {
                instance.name.clone()
            } else {
                d.name.clone()
            },
            description: d.description.clone(),
            disk_type: d.disk_type.clone(),
            size_gb: d.size_gb,
            iops: d.iops,
            status: DiskStatus::Creating,
            task: Some("create".into()),
            top_layer_id: Some(layer_id),
            snapshot_id: d.snapshot_id.clone(),
            multi_attachable: false,
            encrypted: false,
            charge_mode: launch.charge_mode.clone(),
            created_at: now,
            seq: self.store.next_seq(),
        };
        store::disk::disk_insert(tx, &disk).await?;
        let attachment = AttachmentRow {
            disk_id,
            instance_id: instance.id.clone(),
            device_name: d.device.clone(),
            status: AttachmentStatus::Attaching,
            auto_delete: d.auto_delete,
            attached_at: now,
        };
        store::disk::attachment_insert(tx, &attachment).await?;
        Ok(())
    }
}

/// The checks that come before the client token's: a spec, and how many instances
/// (1–100).
fn check_shape(input: &CreateInstancesInput) -> ApiResult<i64> {
    if input.instance_spec.is_none() {
        return Err(ApiError::InvalidArgument(
            "Parameter InstanceSpec missing".into(),
        ));
    }
    let count = input.max_count.unwrap_or(1);
    if !(1..=100).contains(&count) {
        return Err(ApiError::OutOfRange("Maxcount out of range".into()));
    }
    Ok(count)
}

/// The first answer to the client token, if this is a retry.
async fn replayed(
    db: &mut Db,
    scope: &Scope,
    token: Option<&str>,
) -> ApiResult<Option<Vec<String>>> {
    let first = idempotency::replay(db, scope, TOKEN_OP, token).await?;
    Ok(first.map(|r| r.split(',').map(str::to_string).collect()))
}

/// `stopCharging` only for a cloud system disk and postpaid_by_duration.
fn check_charge_on_stopped(
    charge_on_stopped: &str,
    charge_mode: &str,
    system_disk: &PlannedDisk,
) -> ApiResult<()> {
    match charge_on_stopped {
        "keepCharging" => Ok(()),
        "stopCharging" if system_disk.category != "cloud" => Err(ApiError::FailedPrecondition(
            "stopCharging only applied to cloud system disk".into(),
        )),
        "stopCharging" if charge_mode != "postpaid_by_duration" => {
            Err(ApiError::FailedPrecondition(
                "stopCharging only applied to postpaid by duration".into(),
            ))
        }
        "stopCharging" => Ok(()),
        other => Err(ApiError::InvalidArgument(format!(
            "Invalid chargeOnStopped '{other}'"
        ))),
    }
}

/// `web-[001]` → `web-001`, `web-002`, …: JD's ordered batch names. Without a
/// placeholder every instance gets the same name.
fn expand_placeholder(name: &str, n: i64) -> String {
    let re = regex::Regex::new(r"\[(\d{1,4})\]").expect("static regex");
    match re.captures(name) {
        Some(c) => {
            let digits = &c[1];
            let start: i64 = digits.parse().unwrap_or(0);
            let v = format!("{:0width$}", start + n, width = digits.len());
            re.replace(name, v.as_str()).into_owned()
        }
        None => name.to_string(),
    }
}

fn strip_placeholder(name: &str) -> String {
    expand_placeholder(name, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_names() {
        assert_eq!(expand_placeholder("web-[001]", 4), "web-005");
        assert_eq!(expand_placeholder("web", 4), "web");
    }
}
