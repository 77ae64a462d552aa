//! The rules: validation, state machines and quotas for each resource. One module per
//! resource; every public method takes the caller's `Scope` first. Nothing here formats
//! JSON or knows HTTP; asynchronous work is handed to `tasks`.

pub mod account;
pub mod attach;
mod capacity;
pub mod catalog;
pub mod disk;
pub mod disk_change;
pub mod disk_create;
pub mod fault;
pub mod freeze;
pub mod fsck;
pub mod guest;
pub mod idempotency;
pub mod image;
pub mod image_constraint;
pub mod image_convert;
pub mod image_copy;
pub mod image_create;
pub mod image_share;
pub mod image_transfer;
pub mod instance;
pub mod instance_change;
pub mod instance_create;
pub mod keypair;
pub mod keypair_material;
mod launch_disks;
pub mod listing;
pub mod nonce;
pub mod quota;
pub mod snapshot;
pub mod snapshot_change;
pub mod spec;
pub mod stamp;
pub mod vpc;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::block::{BlockStore, GIB};
use crate::error::ApiResult;
use crate::store::{self, now_ms, Store};
use crate::tasks::{Delays, TaskCtx};

/// The records the service answers with, and their states: what the http layer renders.
pub use crate::store::status::{
    AttachmentStatus, DiskStatus, ImageStatus, ImageTaskStatus, InstanceStatus, SnapshotStatus,
};
pub use crate::store::{
    AccountRow, AttachmentRow, DiskRow, ImageBlockDevice, ImageRow, ImageTaskRow, InstanceRow,
    SnapshotRow,
};
pub use quota::Quotas;

/// The layer of a public image (`lyr-public-ubuntu2204`, …).
fn public_layer_id(img: &catalog::PublicImage) -> String {
    format!("lyr-public-{}", img.id.trim_start_matches("img-"))
}

/// Who is calling and where: every tenant operation runs in one account and region.
#[derive(Debug, Clone)]
pub struct Scope {
    pub pin: String,
    pub region: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub delays: Delays,
    pub quotas: Quotas,
    /// The longest one qemu-img run may take.
    pub qemu_img_timeout: std::time::Duration,
    /// How long a claimed task stays this node's without renewal (see `TaskCtx::lease`).
    pub task_lease: std::time::Duration,
    /// A PostgreSQL URL; `None`: the database recorded in the data directory, else SQLite.
    pub database: Option<String>,
    /// Where `file://` imports may read and exports may write.
    pub file_roots: crate::block::file_roots::FileRoots,
    /// Which addresses `http(s)://` imports may reach.
    pub import_addresses: crate::download::AddressPolicy,
    /// How long a database write waits for another writer.
    pub db_busy_timeout: std::time::Duration,
    /// Object storage for `ossUrl` / OSS `imageUrl`s (`--oss-endpoint`); none: refused.
    pub oss: Option<crate::oss::OssConfig>,
    /// `--hypervisor qemu`: how guests run; none: instances are rows only.
    pub qemu: Option<crate::hypervisor::QemuConfig>,
}

#[derive(Clone)]
pub struct Service {
    pub(crate) store: Store,
    pub(crate) block: BlockStore,
    pub(crate) cfg: Arc<Config>,
    wake: Arc<Notify>,
    /// Task steps doing metadata work at once (see `TaskCtx::quick_steps`).
    quick_steps: Arc<tokio::sync::Semaphore>,
    /// This process's id among the nodes sharing the store.
    node_id: Arc<str>,
    /// Accounts by access key, for the signature check (see `AccountCache`).
    accounts: Arc<account::AccountCache>,
    /// Fault rules in force (see `fault`).
    faults: Arc<fault::FaultBook>,
    /// What runs instances (`--hypervisor`).
    pub(crate) hypervisor: crate::hypervisor::Hypervisor,
}

impl Service {
    /// Opens the data directory: metadata, layer store and the public catalog.
    pub async fn open(data_dir: &Path, qemu_img: PathBuf, cfg: Config) -> anyhow::Result<Service> {
        std::fs::create_dir_all(data_dir)?;
        let store = Store::open_at(data_dir, cfg.database.as_deref(), cfg.db_busy_timeout).await?;
        let block = BlockStore::open(data_dir, qemu_img)?.with_timeout(cfg.qemu_img_timeout);
        let (hypervisor, exits) = guest::open_hypervisor(cfg.qemu.clone()).await?;
        let svc = Service {
            store,
            block,
            hypervisor,
            cfg: Arc::new(cfg),
            wake: Arc::new(Notify::new()),
            quick_steps: Arc::new(tokio::sync::Semaphore::new(crate::tasks::QUICK_STEPS)),
            node_id: format!("node-{}", crate::ids::random_suffix(12)).into(),
            accounts: Arc::new(account::AccountCache::new(data_dir)),
            faults: Arc::new(fault::FaultBook::new(data_dir)),
        };
        if let Some(exits) = exits {
            svc.follow_guest_exits(exits);
        }
        Ok(svc)
    }

    pub fn task_ctx(&self) -> TaskCtx {
        TaskCtx {
            store: self.store.background(),
            scratch: self.block.dir().with_file_name("tmp"),
            block: self.block.clone(),
            delays: self.cfg.delays,
            wake: self.wake.clone(),
            quick_steps: self.quick_steps.clone(),
            lease: self.cfg.task_lease,
            node_id: self.node_id.clone(),
            file_roots: self.cfg.file_roots.clone(),
            import_addresses: self.cfg.import_addresses.clone(),
            oss: self.cfg.oss.clone().map(crate::oss::OssClient::new),
            hypervisor: self.hypervisor.clone(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn block(&self) -> &BlockStore {
        &self.block
    }

    /// Starts the task worker without waiting for its next poll.
    pub(crate) fn wake_tasks(&self) {
        self.wake.notify_one();
    }

    /// Generates the synthetic public images on first start (and re-creates a missing
    /// layer file, e.g. after a half-finished first start); under `--hypervisor qemu` also
    /// Kiln Linux, from the boot kit's root filesystem.
    pub async fn ensure_public_catalog(&self) -> anyhow::Result<()> {
        let size = catalog::PUBLIC_IMAGE_SIZE_GB as u64 * GIB;
        for img in catalog::PUBLIC_IMAGES {
            let layer_id = public_layer_id(img);
            if !self.block.exists(&layer_id) {
                let label = format!(
                    "{}\n{} {} ({}), generated by Kiln at first start.\n",
                    catalog::SYNTHETIC_NOTE,
                    img.platform,
                    img.os_version,
                    img.name
                );
                self.block.create_labelled(&layer_id, size, &label).await?;
            }
            self.ensure_public_image(img, catalog::SYNTHETIC_NOTE, size)
                .await?;
        }
        if let Some(qemu) = &self.cfg.qemu {
            let img = &catalog::KILN_LINUX;
            let rootfs = qemu.kit.join("rootfs.qcow2");
            let layer_id = public_layer_id(img);
            let size = self.block.virtual_size(&rootfs, "qcow2").await?;
            if !self.block.exists(&layer_id) {
                self.block.import(&layer_id, &rootfs, "qcow2", size).await?;
            }
            self.ensure_public_image(img, catalog::KILN_LINUX_NOTE, size)
                .await?;
        }
        Ok(())
    }

    /// The rows of a public image whose layer file exists: its layer and the image.
    async fn ensure_public_image(
        &self,
        img: &catalog::PublicImage,
        description: &str,
        size: u64,
    ) -> anyhow::Result<()> {
        let layer_id = public_layer_id(img);
        let size_gb = size.div_ceil(GIB) as i64;
        let mut tx = self.store.write().await?;
        if store::layer::layer_get(&mut tx, &layer_id).await?.is_none() {
            store::layer::layer_insert(
                &mut tx,
                &store::LayerRow {
                    id: layer_id.clone(),
                    backing_id: None,
                    size_bytes: size as i64,
                    created_at: now_ms(),
                },
            )
            .await?;
        }
        if store::image::image_get_visible(&mut tx, "", "", img.id)
            .await?
            .is_none()
        {
            store::image::image_insert(
                &mut tx,
                &store::ImageRow {
                    id: img.id.to_string(),
                    pin: String::new(),
                    region: String::new(),
                    name: img.name.to_string(),
                    description: description.to_string(),
                    image_source: "public".into(),
                    platform: img.platform.into(),
                    os_version: img.os_version.into(),
                    os_type: img.os_type.into(),
                    architecture: "x86_64".into(),
                    system_disk_size_gb: size_gb,
                    status: ImageStatus::Ready,
                    root_device_type: "localDisk".into(),
                    layer_id: Some(layer_id.clone()),
                    snapshot_id: String::new(),
                    instance_id: String::new(),
                    size_mb: size_gb * 1024,
                    login_name: img.login_name.into(),
                    imported: false,
                    block_devices: "[]".into(),
                    created_at: now_ms(),
                    seq: self.store.next_seq(),
                    released: false,
                    progress: 0,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The path of a disk's writable top layer: by cloud disk id, or by instance id and
    /// device name (local disks have no id of their own).
    pub async fn disk_top_path(&self, id: &str, device: Option<&str>) -> ApiResult<PathBuf> {
        let mut conn = self.store.read().await?;
        let layer = match device {
            None => store::disk::disk_by_id(&mut conn, id)
                .await?
                .filter(|d| d.category == "cloud")
                .and_then(|d| d.top_layer_id)
                .ok_or_else(|| crate::error::ApiError::disk_not_found(id))?,
            Some(dev) => store::disk::attachments_of_instance(&mut conn, id)
                .await?
                .into_iter()
                .find(|(a, _)| a.device_name == dev)
                .and_then(|(_, d)| d.top_layer_id)
                .ok_or_else(|| {
                    crate::error::ApiError::NotFound(format!(
                        "Device '{dev}' of instance '{id}' not found"
                    ))
                })?,
        };
        Ok(self.block.layer_path(&layer))
    }
}
