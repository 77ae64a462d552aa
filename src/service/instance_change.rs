//! Changes to an existing instance: modifyInstanceAttribute, modifyInstancePassword,
//! modifyInstanceDiskAttribute, resizeInstance, rebuildInstance, and vm's
//! associate/disassociateElasticIp (through the primary network interface).

use super::catalog;
use super::spec;
use super::{Scope, Service};
use crate::block::GIB;
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::status::{ImageStatus, InstanceStatus};
use crate::store::{self, elastic_ip, network_interface, now_ms, Db, InstanceRow, LayerRow};

/// rebuildInstance's request.
#[derive(Debug, Clone, Default)]
pub struct RebuildInput {
    /// Default: the image the instance runs.
    pub image_id: Option<String>,
    pub password: Option<String>,
    pub hostname: Option<String>,
    pub key_names: Vec<String>,
}

impl Service {
    pub async fn instance_modify(
        &self,
        scope: &Scope,
        id: &str,
        name: Option<String>,
        description: Option<String>,
        hostname: Option<String>,
    ) -> ApiResult<()> {
        if let Some(n) = name.as_deref().filter(|n| !spec::instance_name_ok(n)) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid instance name '{n}'"
            )));
        }
        if description
            .as_deref()
            .is_some_and(|d| !spec::description_ok(d))
        {
            return Err(ApiError::InvalidArgument(
                "Invalid parameter Description".into(),
            ));
        }
        if let Some(h) = hostname.as_deref().filter(|h| !spec::hostname_ok(h)) {
            return Err(ApiError::InvalidArgument(format!("Invalid hostname '{h}'")));
        }
        let mut tx = self.store.write().await?;
        self.instance_for_change(&mut tx, scope, id).await?;
        store::instance::instance_set_attributes(
            &mut tx,
            id,
            name.as_deref(),
            description.as_deref(),
            hostname.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// modifyInstancePassword: the new password takes effect at the next start, so the
    /// instance may be running or stopped (Terraform stops it first).
    pub async fn instance_set_password(
        &self,
        scope: &Scope,
        id: &str,
        password: Option<String>,
    ) -> ApiResult<()> {
        let password = password
            .ok_or_else(|| ApiError::InvalidArgument("Parameter password missing".into()))?;
        if !spec::password_ok(&password) {
            return Err(ApiError::InvalidArgument("Invalid password".into()));
        }
        let mut tx = self.store.write().await?;
        let row = self.instance_for_change(&mut tx, scope, id).await?;
        check_idle_in(&row, &[InstanceStatus::Running, InstanceStatus::Stopped])?;
        store::instance::instance_set_password_hash(&mut tx, id, &password_hash(&password)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// modifyInstanceDiskAttribute: whether each named cloud disk goes with the instance.
    pub async fn instance_disk_auto_delete(
        &self,
        scope: &Scope,
        id: &str,
        disks: Vec<(Option<String>, Option<bool>)>,
    ) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        self.instance_for_change(&mut tx, scope, id).await?;
        let attached = store::disk::attachments_of_instance(&mut tx, id).await?;
        for (disk_id, auto_delete) in disks {
            let disk_id = disk_id.ok_or_else(|| {
                ApiError::InvalidArgument("Parameter dataDisks.diskId missing".into())
            })?;
            let Some((_, d)) = attached.iter().find(|(a, _)| a.disk_id == disk_id) else {
                return Err(ApiError::disk_not_found(&disk_id));
            };
            if d.category != "cloud" {
                return Err(ApiError::FailedPrecondition(format!(
                    "Disk '{disk_id}' is not a cloud disk"
                )));
            }
            if let Some(auto) = auto_delete {
                store::disk::attachment_set_auto_delete(&mut tx, &disk_id, id, auto).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// resizeInstance: a stopped instance to another type of the catalog that its image
    /// allows.
    pub async fn instance_resize(
        &self,
        scope: &Scope,
        id: &str,
        instance_type: Option<String>,
    ) -> ApiResult<()> {
        let name = instance_type
            .ok_or_else(|| ApiError::InvalidArgument("Parameter instanceType missing".into()))?;
        let itype = catalog::instance_type(&name)
            .ok_or_else(|| ApiError::NotFound(format!("InstanceType '{name}' not found")))?;
        let mut tx = self.store.write().await?;
        let row = self.instance_for_change(&mut tx, scope, id).await?;
        check_idle_in(&row, &[InstanceStatus::Stopped])?;
        if row.instance_type == name {
            return Err(ApiError::InvalidArgument(format!(
                "Instance '{id}' is already of type '{name}'"
            )));
        }
        super::image_constraint::check_instance_type(&row.image_id, itype)?;
        let data_disks = store::disk::attachments_of_instance(&mut tx, id)
            .await?
            .iter()
            .filter(|(a, d)| a.device_name != "vda" && d.category == "cloud")
            .count();
        if data_disks > itype.max_data_disks {
            return Err(ApiError::FailedPrecondition(format!(
                "Instance type '{name}' takes at most {} data disks",
                itype.max_data_disks
            )));
        }
        if !store::instance::instance_set_type(&mut tx, id, &name).await? {
            return Err(ApiError::invalid_instance_status(row.status));
        }
        tx.commit().await?;
        Ok(())
    }

    /// rebuildInstance: a stopped instance gets a new system disk from an image (its own by
    /// default): a fresh top layer on the image's boot layer replaces the old disk's data,
    /// whose layers are collected; data disks are kept.
    pub async fn instance_rebuild(
        &self,
        scope: &Scope,
        id: &str,
        input: RebuildInput,
    ) -> ApiResult<()> {
        if input
            .password
            .as_deref()
            .is_some_and(|p| !spec::password_ok(p))
        {
            return Err(ApiError::InvalidArgument("Invalid password".into()));
        }
        if let Some(h) = input.hostname.as_deref().filter(|h| !spec::hostname_ok(h)) {
            return Err(ApiError::InvalidArgument(format!("Invalid hostname '{h}'")));
        }
        let mut db = self.store.read().await?;
        let row = store::instance::instance_get(&mut db, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        check_idle_in(&row, &[InstanceStatus::Stopped])?;
        let image_id = input.image_id.clone().unwrap_or(row.image_id.clone());
        let image = self.launchable_image(&mut db, scope, &image_id).await?;
        let itype = catalog::instance_type(&row.instance_type)
            .ok_or_else(|| ApiError::internal(format!("unknown type {}", row.instance_type)))?;
        super::image_constraint::check_instance_type(&image.id, itype)?;
        self.check_key_names(&mut db, scope, &input.key_names)
            .await?;
        let disks = store::disk::attachments_of_instance(&mut db, id).await?;
        let (_, system) = disks
            .into_iter()
            .find(|(a, _)| a.device_name == "vda")
            .ok_or_else(|| ApiError::NotFound("System disk not found".into()))?;
        check_system_category(&image, &system.category)?;
        if image.system_disk_size_gb > system.size_gb {
            return Err(ApiError::OutOfRange(
                "NewSysDiskSizeGB out of range. Less than the image system disk capacity.".into(),
            ));
        }
        let boot = super::launch_disks::image_boot_layer(&mut db, &image).await?;
        drop(db);

        // The new layer's file first: a failure after it leaves an unrecorded file, which
        // is removed here (or by the start-up sweep after a crash).
        let layer = LayerRow {
            id: ids::layer_id(),
            backing_id: Some(boot.clone()),
            size_bytes: system.size_gb * GIB as i64,
            created_at: now_ms(),
        };
        self.block
            .create_overlay(&layer.id, &boot, Some(layer.size_bytes as u64))
            .await?;
        let recorded = self
            .record_rebuild(
                scope,
                &row,
                &system.id,
                system.size_gb,
                &layer,
                &image.id,
                &input,
            )
            .await;
        let freed = match recorded {
            Ok(freed) => freed,
            Err(e) => {
                let _ = self.block.remove(&layer.id).await;
                return Err(e);
            }
        };
        crate::tasks::collect_layers(&self.task_ctx(), freed.into_iter().collect()).await?;
        Ok(())
    }

    /// rebuildInstance's one transaction: the instance still stopped and idle, its system
    /// disk on the new layer, the image, password and key pairs recorded. The old top
    /// layer, to collect.
    #[allow(clippy::too_many_arguments)]
    async fn record_rebuild(
        &self,
        scope: &Scope,
        row: &InstanceRow,
        system_disk: &str,
        size_gb: i64,
        layer: &LayerRow,
        image_id: &str,
        input: &RebuildInput,
    ) -> ApiResult<Option<String>> {
        let mut tx = self.store.write().await?;
        let now = self.instance_for_change(&mut tx, scope, &row.id).await?;
        check_idle_in(&now, &[InstanceStatus::Stopped])?;
        self.check_key_names(&mut tx, scope, &input.key_names)
            .await?;
        store::layer::layer_insert(&mut tx, layer).await?;
        let old = store::disk::disk_release_layer(&mut tx, system_disk).await?;
        store::disk::disk_set_top_layer(&mut tx, system_disk, &layer.id, size_gb).await?;
        if !store::instance::instance_set_image(&mut tx, &row.id, image_id).await? {
            return Err(ApiError::invalid_instance_status(now.status));
        }
        if let Some(h) = &input.hostname {
            store::instance::instance_set_attributes(&mut tx, &row.id, None, None, Some(h)).await?;
        }
        if let Some(p) = &input.password {
            store::instance::instance_set_password_hash(&mut tx, &row.id, &password_hash(p))
                .await?;
        }
        if !input.key_names.is_empty() {
            let names = serde_json::to_string(&input.key_names).map_err(ApiError::internal)?;
            store::instance::instance_set_key_names(&mut tx, &row.id, &names).await?;
        }
        tx.commit().await?;
        Ok(old)
    }

    /// vm associateElasticIp: onto the instance's primary network interface.
    pub async fn instance_associate_elastic_ip(
        &self,
        scope: &Scope,
        id: &str,
        elastic_ip_id: Option<String>,
    ) -> ApiResult<()> {
        let eip_id = elastic_ip_id
            .ok_or_else(|| ApiError::InvalidArgument("Parameter elasticIpId missing".into()))?;
        let mut tx = self.store.write().await?;
        self.instance_for_change(&mut tx, scope, id).await?;
        let nic = primary_interface(&mut tx, id).await?;
        let eip = self
            .named_elastic_ip(&mut tx, scope, Some(eip_id.clone()), None)
            .await?;
        self.associate_in(&mut tx, &eip, &nic).await?;
        tx.commit().await?;
        Ok(())
    }

    /// vm disassociateElasticIp: from the instance's primary network interface.
    pub async fn instance_disassociate_elastic_ip(
        &self,
        scope: &Scope,
        id: &str,
        elastic_ip_id: Option<String>,
    ) -> ApiResult<()> {
        let eip_id = elastic_ip_id
            .ok_or_else(|| ApiError::InvalidArgument("Parameter elasticIpId missing".into()))?;
        let mut tx = self.store.write().await?;
        self.instance_for_change(&mut tx, scope, id).await?;
        let eip = self
            .named_elastic_ip(&mut tx, scope, Some(eip_id.clone()), None)
            .await?;
        if eip.instance_id.as_deref() != Some(id) {
            return Err(ApiError::FailedPrecondition(format!(
                "ElasticIp '{eip_id}' is not associated with instance '{id}'"
            )));
        }
        elastic_ip::eip_set_association(&mut tx, &eip, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The caller's instance, in a transaction that will change it.
    async fn instance_for_change(
        &self,
        tx: &mut Db,
        scope: &Scope,
        id: &str,
    ) -> ApiResult<InstanceRow> {
        store::instance::instance_get(tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))
    }

    /// An image the caller may launch from: public, its own, shared with it or released;
    /// `ready`.
    pub(crate) async fn launchable_image(
        &self,
        db: &mut Db,
        scope: &Scope,
        image_id: &str,
    ) -> ApiResult<store::ImageRow> {
        let image = match store::image::image_get_visible(db, &scope.pin, &scope.region, image_id)
            .await?
        {
            Some(own) => own,
            None => store::image_share::image_get_received(db, &scope.pin, &scope.region, image_id)
                .await?
                .ok_or_else(|| ApiError::image_not_found(image_id))?,
        };
        if image.status != ImageStatus::Ready {
            return Err(ApiError::FailedPrecondition(format!(
                "Image '{image_id}' not ready"
            )));
        }
        Ok(image)
    }
}

/// No task running, and in one of `allowed`.
fn check_idle_in(row: &InstanceRow, allowed: &[InstanceStatus]) -> ApiResult<()> {
    if let Some(t) = &row.task {
        return Err(ApiError::underlay_conflict(t));
    }
    if !allowed.contains(&row.status) {
        return Err(ApiError::invalid_instance_status(row.status));
    }
    Ok(())
}

/// A private image keeps the kind of system disk it was made from (public ones fit both).
fn check_system_category(image: &store::ImageRow, category: &str) -> ApiResult<()> {
    if image.image_source == "public" {
        return Ok(());
    }
    match (image.root_device_type.as_str(), category) {
        ("cloudDisk", "local") => Err(ApiError::FailedPrecondition(
            "Image constraints. Only support cloud system disk".into(),
        )),
        ("localDisk", "cloud") => Err(ApiError::FailedPrecondition(
            "Image constraints. Only support local system disk".into(),
        )),
        _ => Ok(()),
    }
}

/// The instance's primary network interface.
async fn primary_interface(
    db: &mut Db,
    instance_id: &str,
) -> ApiResult<network_interface::NetworkInterfaceRow> {
    network_interface::nics_of_instance(db, instance_id)
        .await?
        .into_iter()
        .find(|n| n.role == "Primary")
        .ok_or_else(|| {
            ApiError::FailedPrecondition(format!(
                "Instance '{instance_id}' has no network interface"
            ))
        })
}

/// `salt$hex(sha256(salt ‖ password))`: the password itself is never stored.
pub(crate) fn password_hash(password: &str) -> String {
    use sha2::{Digest, Sha256};
    let salt = ids::random_suffix(16);
    let digest = Sha256::digest(format!("{salt}{password}").as_bytes());
    format!("{salt}${}", hex::encode(digest))
}
