//! Rows as stored. The wire views are built from these in `http::views`.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::status::{
    AttachmentStatus, DiskStatus, ImageStatus, ImageTaskStatus, InstanceStatus, SnapshotStatus,
    TaskKind, TaskState,
};

/// `direct_row!(Row, COLUMNS, [field, …])`: `COLUMNS` names the fields as a select list,
/// and `Row::from_sqlite` reads a SQLite row selected with it, by position (looking
/// columns up by name was a quarter of a listing's CPU). One list for both, so they
/// cannot disagree; the struct literal fails to compile if a field is left out.
macro_rules! direct_row {
    ($row:ident, $cols:ident, [$first:ident $(, $rest:ident)* $(,)?]) => {
        pub const $cols: &str = concat!(stringify!($first) $(, ", ", stringify!($rest))*);

        impl super::Row for $row {
            fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<$row> {
                let mut i = 0;
                let mut next = || {
                    i += 1;
                    i - 1
                };
                Ok($row {
                    $first: r.get(next())?,
                    $($rest: r.get(next())?,)*
                })
            }
        }
    };
}

/// A fault rule (see `service::fault`): the rule as JSON, and how often it fired.
#[derive(Debug, Clone, FromRow)]
pub struct FaultRow {
    pub id: String,
    /// The `FaultSpec` as JSON.
    pub spec: String,
    pub fired: i64,
    pub created_at: i64,
}

direct_row!(FaultRow, FAULT_COLUMNS, [id, spec, fired, created_at]);

#[derive(Clone, FromRow)]
pub struct AccountRow {
    pub pin: String,
    pub name: String,
    pub access_key: String,
    pub secret_key: String,
    #[sqlx(try_from = "super::DbBool")]
    pub disabled: bool,
    pub created_at: i64,
}

direct_row!(
    AccountRow,
    ACCOUNT_COLUMNS,
    [pin, name, access_key, secret_key, disabled, created_at]
);

/// Never prints the secret key (so no `{:?}` can put it into a log).
impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("pin", &self.pin)
            .field("name", &self.name)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct LayerRow {
    pub id: String,
    pub backing_id: Option<String>,
    pub size_bytes: i64,
    pub created_at: i64,
}

direct_row!(
    LayerRow,
    LAYER_COLUMNS,
    [id, backing_id, size_bytes, created_at]
);

#[derive(Debug, Clone, FromRow)]
pub struct InstanceRow {
    pub id: String,
    pub pin: String,
    pub region: String,
    pub az: String,
    pub name: String,
    pub hostname: String,
    pub description: String,
    pub instance_type: String,
    pub image_id: String,
    pub status: InstanceStatus,
    pub task: Option<String>,
    pub private_ip: String,
    pub primary_nic: Option<String>,
    pub charge_mode: String,
    pub charge_on_stopped: String,
    pub created_at: i64,
    pub seq: i64,
    /// The primary network interface's VPC and subnet.
    pub vpc_id: String,
    pub subnet_id: String,
    /// The elastic IP on the primary network interface, if any (`""`).
    pub elastic_ip_id: String,
    pub elastic_ip_address: String,
    /// Key pair names, a JSON list.
    pub key_names: String,
}

direct_row!(
    InstanceRow,
    INSTANCE_COLUMNS,
    [
        id,
        pin,
        region,
        az,
        name,
        hostname,
        description,
        instance_type,
        image_id,
        status,
        task,
        private_ip,
        primary_nic,
        charge_mode,
        charge_on_stopped,
        created_at,
        seq,
        vpc_id,
        subnet_id,
        elastic_ip_id,
        elastic_ip_address,
        key_names,
    ]
);

#[derive(Debug, Clone, FromRow)]
pub struct DiskRow {
    pub id: String,
    pub pin: String,
    pub region: String,
    pub az: String,
    pub category: String,
    pub name: String,
    pub description: String,
    pub disk_type: String,
    pub size_gb: i64,
    pub iops: i64,
    pub status: DiskStatus,
    pub task: Option<String>,
    /// None for a disk whose creation failed: it holds no data.
    pub top_layer_id: Option<String>,
    pub snapshot_id: String,
    #[sqlx(try_from = "super::DbBool")]
    pub multi_attachable: bool,
    #[sqlx(try_from = "super::DbBool")]
    pub encrypted: bool,
    pub charge_mode: String,
    pub created_at: i64,
    pub seq: i64,
}

impl DiskRow {
    /// The layer a disk's data is in. Every disk that came to be has one; only a disk whose
    /// creation failed has none (its status says so), and nothing reads its data.
    pub fn top_layer(&self) -> &str {
        self.top_layer_id.as_deref().unwrap_or_default()
    }
}

direct_row!(
    DiskRow,
    DISK_COLUMNS,
    [
        id,
        pin,
        region,
        az,
        category,
        name,
        description,
        disk_type,
        size_gb,
        iops,
        status,
        task,
        top_layer_id,
        snapshot_id,
        multi_attachable,
        encrypted,
        charge_mode,
        created_at,
        seq,
    ]
);

#[derive(Debug, Clone, FromRow)]
pub struct AttachmentRow {
    pub disk_id: String,
    pub instance_id: String,
    pub device_name: String,
    pub status: AttachmentStatus,
    #[sqlx(try_from = "super::DbBool")]
    pub auto_delete: bool,
    pub attached_at: i64,
}

direct_row!(
    AttachmentRow,
    ATTACHMENT_COLUMNS,
    [
        disk_id,
        instance_id,
        device_name,
        status,
        auto_delete,
        attached_at,
    ]
);

#[derive(Debug, Clone, FromRow)]
pub struct SnapshotRow {
    pub id: String,
    pub pin: String,
    pub region: String,
    pub disk_id: String,
    pub name: String,
    pub description: String,
    pub status: SnapshotStatus,
    pub size_gb: i64,
    pub layer_id: Option<String>,
    #[sqlx(try_from = "super::DbBool")]
    pub encrypted: bool,
    /// The image whose createImage/importImage made the snapshot; empty otherwise.
    pub made_for_image: String,
    pub created_at: i64,
    pub seq: i64,
}

direct_row!(
    SnapshotRow,
    SNAPSHOT_COLUMNS,
    [
        id,
        pin,
        region,
        disk_id,
        name,
        description,
        status,
        size_gb,
        layer_id,
        encrypted,
        made_for_image,
        created_at,
        seq,
    ]
);

#[derive(Debug, Clone, FromRow)]
pub struct ImageRow {
    pub id: String,
    pub pin: String,
    pub region: String,
    pub name: String,
    pub description: String,
    pub image_source: String,
    pub platform: String,
    pub os_version: String,
    pub os_type: String,
    pub architecture: String,
    pub system_disk_size_gb: i64,
    pub status: ImageStatus,
    pub root_device_type: String,
    pub layer_id: Option<String>,
    pub snapshot_id: String,
    pub instance_id: String,
    pub size_mb: i64,
    pub login_name: String,
    #[sqlx(try_from = "super::DbBool")]
    pub imported: bool,
    /// JSON of `Vec<ImageBlockDevice>`.
    pub block_devices: String,
    pub created_at: i64,
    pub seq: i64,
    /// releaseImage: a community image, listed for every account.
    #[sqlx(try_from = "super::DbBool")]
    pub released: bool,
    /// How far a pending image's data has come (copyImages), in percent.
    pub progress: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct ImageTaskRow {
    pub id: String,
    pub pin: String,
    pub region: String,
    pub action: String,
    pub status: ImageTaskStatus,
    pub progress: i64,
    pub image_id: String,
    pub image_name: String,
    pub url: String,
    pub objects: String,
    pub error: String,
    pub created_at: i64,
    pub finished_at: i64,
    pub seq: i64,
}

direct_row!(
    ImageTaskRow,
    IMAGE_TASK_COLUMNS,
    [
        id,
        pin,
        region,
        action,
        status,
        progress,
        image_id,
        image_name,
        url,
        objects,
        error,
        created_at,
        finished_at,
        seq,
    ]
);

#[derive(Debug, Clone, FromRow)]
pub struct TaskRow {
    pub id: String,
    pub kind: TaskKind,
    pub target_id: String,
    pub step: i64,
    pub state: TaskState,
    pub run_after: i64,
    pub lease_until: i64,
    pub payload: String,
    pub error: Option<String>,
    pub created_at: i64,
    /// A fault injected by a fault rule (`tasks::TaskFault` as JSON), for its first step.
    pub fault: Option<String>,
}

direct_row!(
    TaskRow,
    TASK_COLUMNS,
    [
        id,
        kind,
        target_id,
        step,
        state,
        run_after,
        lease_until,
        payload,
        error,
        created_at,
        fault,
    ]
);

/// One disk of a private image's block-device mapping (system disk `vda` first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageBlockDevice {
    pub device_name: String,
    /// `local` or `cloud`.
    pub disk_category: String,
    pub disk_type: String,
    pub disk_size_gb: i64,
    pub iops: i64,
    /// The snapshot the disk is made from; empty for a blank inserted disk and for a
    /// local system disk (whose data is the image's own layer).
    pub snapshot_id: String,
    pub auto_delete: bool,
    pub encrypted: bool,
}

direct_row!(
    ImageRow,
    IMAGE_COLUMNS,
    [
        id,
        pin,
        region,
        name,
        description,
        image_source,
        platform,
        os_version,
        os_type,
        architecture,
        system_disk_size_gb,
        status,
        root_device_type,
        layer_id,
        snapshot_id,
        instance_id,
        size_mb,
        login_name,
        imported,
        block_devices,
        created_at,
        seq,
        released,
        progress,
    ]
);

impl ImageRow {
    /// A private pending image of `pin` in `region`, for tests.
    #[cfg(test)]
    pub fn for_test(id: &str, pin: &str, region: &str, seq: i64) -> ImageRow {
        ImageRow {
            id: id.into(),
            pin: pin.into(),
            region: region.into(),
            name: "n".into(),
            description: String::new(),
            image_source: "private".into(),
            platform: "Ubuntu".into(),
            os_version: String::new(),
            os_type: "linux".into(),
            architecture: "x86_64".into(),
            system_disk_size_gb: 40,
            status: ImageStatus::Pending,
            root_device_type: "cloudDisk".into(),
            layer_id: None,
            snapshot_id: String::new(),
            instance_id: String::new(),
            size_mb: 0,
            login_name: String::new(),
            imported: false,
            block_devices: "[]".into(),
            created_at: 0,
            seq,
            released: false,
            progress: 0,
        }
    }

    pub fn devices(&self) -> Vec<ImageBlockDevice> {
        serde_json::from_str(&self.block_devices).unwrap_or_default()
    }
}
