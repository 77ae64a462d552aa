//! Rows → JD Cloud JSON models (spec §4). Field names follow the SDK models exactly.

pub mod catalog;
pub mod keypair;
mod nic;
pub mod vpc;

use chrono::{FixedOffset, TimeZone, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::schema::{Empty, OrEmptyObject, NONE};
use crate::service::disk::DiskDetail;
use crate::service::instance::InstanceDetail;
use crate::service::snapshot::SnapshotDetail;
use crate::service::{
    AttachmentRow, AttachmentStatus, DiskRow, DiskStatus, ImageBlockDevice, ImageRow, ImageStatus,
    ImageTaskRow, ImageTaskStatus, InstanceStatus, SnapshotStatus,
};

/// `createTime`/`launchTime`: `YYYY-MM-DD HH:MM:SS` in UTC+8, no zone marker.
pub fn local_time(ms: i64) -> String {
    let tz = FixedOffset::east_opt(8 * 3600).expect("fixed offset");
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// `charge.*Time`: ISO 8601 UTC with `Z`.
pub fn iso_time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Charge (spec §4): pay-as-you-go since the resource was made.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Charge")]
struct ChargeView<'a> {
    #[schemars(schema_with = "super::schema::charge_mode")]
    charge_mode: &'a str,
    #[schemars(schema_with = "charge_status")]
    charge_status: &'static str,
    /// ISO 8601 UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    charge_start_time: String,
    charge_expired_time: &'static str,
    charge_retire_time: &'static str,
}

fn charge_status(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    super::schema::one_of(&["normal", "overdue", "arrear"], "")
}

fn charge(mode: &str, since_ms: i64) -> ChargeView<'_> {
    ChargeView {
        charge_mode: mode,
        charge_status: "normal",
        charge_start_time: iso_time(since_ms),
        charge_expired_time: "",
        charge_retire_time: "",
    }
}

/// Disk (spec §4). Views in this file are serialized straight from rows: list calls answer
/// up to 100 of them, and a `Value` tree (a BTreeMap per object) was half their CPU.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Disk")]
pub struct DiskView<'a> {
    /// `vol-…` (`local-…` never appears here).
    disk_id: &'a str,
    az: &'a str,
    name: &'a str,
    description: &'a str,
    disk_type: &'a str,
    #[serde(rename = "diskSizeGB")]
    disk_size_gb: i64,
    iops: i64,
    throughput: i64,
    status: DiskStatus,
    attachments: Vec<DiskAttachmentView<'a>>,
    /// The snapshot it was made from, or empty.
    snapshot_id: &'a str,
    multi_attachable: bool,
    encrypted: bool,
    /// Same as `encrypted`.
    encrypt: bool,
    enabled: bool,
    /// `YYYY-MM-DD HH:MM:SS`, UTC+8.
    create_time: String,
    charge: ChargeView<'a>,
    tags: Empty,
    snapshot_policies: Empty,
    resource_group_id: &'static str,
    can_put_in_recycle_bin: bool,
    trash_time: &'static str,
}

pub fn disk<'a>(d: &'a DiskRow, attachments: &'a [AttachmentRow]) -> DiskView<'a> {
    DiskView {
        disk_id: &d.id,
        az: &d.az,
        name: &d.name,
        description: &d.description,
        disk_type: &d.disk_type,
        disk_size_gb: d.size_gb,
        iops: d.iops,
        throughput: 0,
        status: d.status,
        attachments: attachments.iter().map(disk_attachment).collect(),
        snapshot_id: &d.snapshot_id,
        multi_attachable: d.multi_attachable,
        encrypted: d.encrypted,
        encrypt: d.encrypted,
        enabled: true,
        create_time: local_time(d.created_at),
        charge: charge(&d.charge_mode, d.created_at),
        tags: NONE,
        snapshot_policies: NONE,
        resource_group_id: "",
        can_put_in_recycle_bin: false,
        trash_time: "",
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "DiskAttachment")]
struct DiskAttachmentView<'a> {
    attachment_id: String,
    disk_id: &'a str,
    /// `vm`.
    instance_type: &'static str,
    instance_id: &'a str,
    status: AttachmentStatus,
    /// `YYYY-MM-DD HH:MM:SS`, UTC+8.
    attach_time: String,
}

fn disk_attachment(a: &AttachmentRow) -> DiskAttachmentView<'_> {
    DiskAttachmentView {
        attachment_id: format!("{}-{}", a.disk_id, a.instance_id),
        disk_id: &a.disk_id,
        instance_type: "vm",
        instance_id: &a.instance_id,
        status: a.status,
        attach_time: local_time(a.attached_at),
    }
}

pub fn disk_detail(d: &DiskDetail) -> DiskView<'_> {
    disk(&d.row, &d.attachments)
}

/// InstanceDiskAttachment: how an instance sees one of its disks.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "InstanceDiskAttachment")]
struct InstanceDiskView<'a> {
    #[schemars(schema_with = "super::schema::disk_category")]
    disk_category: &'a str,
    auto_delete: bool,
    /// `vda` for the system disk.
    device_name: &'a str,
    status: AttachmentStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_disk: Option<InstanceLocalDiskView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud_disk: Option<DiskView<'a>>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "LocalDisk")]
struct InstanceLocalDiskView<'a> {
    disk_type: &'a str,
    #[serde(rename = "diskSizeGB")]
    disk_size_gb: i64,
}

fn instance_disk<'a>(a: &'a AttachmentRow, d: &'a DiskRow) -> InstanceDiskView<'a> {
    let local = d.category == "local";
    InstanceDiskView {
        disk_category: &d.category,
        auto_delete: a.auto_delete,
        device_name: &a.device_name,
        status: a.status,
        local_disk: local.then_some(InstanceLocalDiskView {
            disk_type: &d.disk_type,
            disk_size_gb: d.size_gb,
        }),
        cloud_disk: (!local).then(|| disk(d, std::slice::from_ref(a))),
    }
}

/// Instance (spec §4).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Instance")]
pub struct InstanceView<'a> {
    instance_id: &'a str,
    instance_name: &'a str,
    hostname: &'a str,
    instance_type: &'a str,
    vpc_id: String,
    subnet_id: String,
    private_ip_address: &'a str,
    elastic_ip_id: &'a str,
    elastic_ip_address: &'a str,
    status: InstanceStatus,
    description: &'a str,
    image_id: &'a str,
    /// `{}` when the instance has no system disk (a half-deleted one).
    system_disk: OrEmptyObject<InstanceDiskView<'a>>,
    data_disks: Vec<InstanceDiskView<'a>>,
    /// The primary network interface (InstanceNetworkInterfaceAttachment): its id, MAC,
    /// VPC, subnet, security groups and `primaryIp` with the elastic IP on it.
    #[schemars(schema_with = "super::schema::free_object")]
    primary_network_interface: nic::PrimaryNicView<'a>,
    secondary_network_interfaces: Empty,
    /// `YYYY-MM-DD HH:MM:SS`, UTC+8.
    launch_time: String,
    az: &'a str,
    key_names: Vec<String>,
    charge: ChargeView<'a>,
    fault_domain: &'static str,
    tags: Empty,
    /// `keepCharging` or `stopCharging`.
    charge_on_stopped: &'a str,
    policies: Empty,
    resource_group_id: &'static str,
    /// vCPUs of the instance type.
    cpu: i64,
    /// Memory of the instance type.
    #[serde(rename = "memoryMB")]
    memory_mb: i64,
}

pub fn instance(i: &InstanceDetail) -> InstanceView<'_> {
    let r = &i.row;
    let system = OrEmptyObject(i.system_disk().map(|(a, d)| instance_disk(a, d)));
    let nic = nic::primary_nic(r);
    // Rows from before the vpc service kept the subnet only inside the given JSON.
    let nic_field = |k: &str, column: &str| {
        if column.is_empty() {
            nic.given_field(k)
        } else {
            column.to_string()
        }
    };
    InstanceView {
        instance_id: &r.id,
        instance_name: &r.name,
        hostname: &r.hostname,
        instance_type: &r.instance_type,
        vpc_id: nic_field("vpcId", &r.vpc_id),
        subnet_id: nic_field("subnetId", &r.subnet_id),
        private_ip_address: &r.private_ip,
        elastic_ip_id: &r.elastic_ip_id,
        elastic_ip_address: &r.elastic_ip_address,
        status: r.status,
        description: &r.description,
        image_id: &r.image_id,
        system_disk: system,
        data_disks: i
            .disks
            .iter()
            .filter(|(a, _)| a.device_name != "vda")
            .map(|(a, d)| instance_disk(a, d))
            .collect(),
        primary_network_interface: nic,
        secondary_network_interfaces: NONE,
        launch_time: local_time(r.created_at),
        az: &r.az,
        key_names: serde_json::from_str(&r.key_names).unwrap_or_default(),
        charge: charge(&r.charge_mode, r.created_at),
        fault_domain: "",
        tags: NONE,
        charge_on_stopped: &r.charge_on_stopped,
        policies: NONE,
        resource_group_id: "",
        cpu: i.instance_type.map(|t| t.cpu as i64).unwrap_or(0),
        memory_mb: i.instance_type.map(|t| t.memory_mb as i64).unwrap_or(0),
    }
}

/// Snapshot (spec §4).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Snapshot")]
pub struct SnapshotView<'a> {
    snapshot_id: &'a str,
    /// `self`.
    snapshot_source: &'static str,
    disk_id: &'a str,
    #[serde(rename = "snapshotSizeGB")]
    snapshot_size_gb: i64,
    /// Image ids.
    images: &'a [String],
    name: &'a str,
    description: &'a str,
    status: SnapshotStatus,
    /// `YYYY-MM-DD HH:MM:SS`, UTC+8.
    create_time: String,
    expire_time: &'static str,
    /// JD's misspelt twin of `shareInfo`; always empty.
    shar_info: Empty,
    share_info: Empty,
    encrypted: bool,
}

pub fn snapshot(s: &SnapshotDetail) -> SnapshotView<'_> {
    let r = &s.row;
    SnapshotView {
        snapshot_id: &r.id,
        snapshot_source: "self",
        disk_id: &r.disk_id,
        snapshot_size_gb: r.size_gb,
        images: &s.images,
        name: &r.name,
        description: &r.description,
        status: r.status,
        create_time: local_time(r.created_at),
        expire_time: "",
        shar_info: NONE,
        share_info: NONE,
        encrypted: r.encrypted,
    }
}

/// A block device of an image, as an InstanceDiskAttachment.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "ImageDiskAttachment")]
pub struct ImageDeviceView {
    #[schemars(schema_with = "super::schema::disk_category")]
    disk_category: String,
    auto_delete: bool,
    device_name: String,
    #[schemars(schema_with = "super::schema::attachment_status")]
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_disk: Option<LocalDiskView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud_disk: Option<ImageCloudDiskView>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "ImageLocalDisk")]
struct LocalDiskView {
    disk_type: String,
    #[serde(rename = "diskSizeGB")]
    disk_size_gb: i64,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "ImageCloudDisk")]
struct ImageCloudDiskView {
    disk_type: String,
    #[serde(rename = "diskSizeGB")]
    disk_size_gb: i64,
    iops: i64,
    snapshot_id: String,
    encrypt: bool,
    encrypted: bool,
}

impl From<ImageBlockDevice> for ImageDeviceView {
    fn from(d: ImageBlockDevice) -> Self {
        let (local_disk, cloud_disk) = if d.disk_category == "local" {
            let local = LocalDiskView {
                disk_type: d.disk_type,
                disk_size_gb: d.disk_size_gb,
            };
            (Some(local), None)
        } else {
            let cloud = ImageCloudDiskView {
                disk_type: d.disk_type,
                disk_size_gb: d.disk_size_gb,
                iops: d.iops,
                snapshot_id: d.snapshot_id,
                encrypt: d.encrypted,
                encrypted: d.encrypted,
            };
            (None, Some(cloud))
        };
        ImageDeviceView {
            disk_category: d.disk_category,
            auto_delete: d.auto_delete,
            device_name: d.device_name,
            status: "",
            local_disk,
            cloud_disk,
        }
    }
}

/// Image (spec §4), serialized straight from the row: describeImages answers up to 100
/// of these per call, so no intermediate `Value` tree is built.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Image")]
pub struct ImageView<'a> {
    image_id: &'a str,
    name: &'a str,
    platform: &'a str,
    os_version: &'a str,
    architecture: &'a str,
    #[serde(rename = "systemDiskSizeGB")]
    system_disk_size_gb: i64,
    /// `public` or `private`.
    image_source: &'a str,
    /// `linux` or `windows`.
    os_type: &'a str,
    status: ImageStatus,
    /// `YYYY-MM-DD HH:MM:SS`, UTC+8.
    create_time: String,
    /// The system disk's size in MiB, for every kind of image.
    #[serde(rename = "sizeMB")]
    size_mb: i64,
    /// The description (JD's field name).
    desc: &'a str,
    owner_pin: &'a str,
    login_name: &'a str,
    /// `all` (public) or `ownerOnly`.
    launch_permission: &'static str,
    system_disk: ImageDeviceView,
    data_disks: Vec<ImageDeviceView>,
    /// System-disk snapshot; empty for localDisk images.
    snapshot_id: &'a str,
    #[schemars(schema_with = "super::schema::root_device_type")]
    root_device_type: &'a str,
    /// Percent, as a string (`"100"` when ready).
    progress: String,
    offline: bool,
    service_code: &'static str,
    imported: bool,
    expired_time: &'static str,
    /// The instance it was made from, or empty.
    instance_id: &'a str,
    boot_mode: &'static str,
    uefi_support: bool,
}

pub fn image(i: &ImageRow) -> ImageView<'_> {
    let mut system = None;
    let mut data_disks = Vec::new();
    for d in i.devices() {
        if d.device_name == "vda" && system.is_none() {
            system = Some(ImageDeviceView::from(d));
        } else if d.device_name != "vda" {
            data_disks.push(ImageDeviceView::from(d));
        }
    }
    // An image without a recorded system device (public catalog): its local system disk.
    let system = system.unwrap_or_else(|| ImageDeviceView {
        disk_category: "local".into(),
        auto_delete: true,
        device_name: "vda".into(),
        status: "",
        local_disk: Some(LocalDiskView {
            disk_type: "local".into(),
            disk_size_gb: i.system_disk_size_gb,
        }),
        cloud_disk: None,
    });
    ImageView {
        image_id: &i.id,
        name: &i.name,
        platform: &i.platform,
        os_version: &i.os_version,
        architecture: &i.architecture,
        system_disk_size_gb: i.system_disk_size_gb,
        image_source: &i.image_source,
        os_type: &i.os_type,
        status: i.status,
        create_time: local_time(i.created_at),
        size_mb: i.system_disk_size_gb * 1024,
        desc: &i.description,
        owner_pin: &i.pin,
        login_name: &i.login_name,
        launch_permission: if i.image_source == "public" {
            "all"
        } else {
            "ownerOnly"
        },
        system_disk: system,
        data_disks,
        snapshot_id: &i.snapshot_id,
        root_device_type: &i.root_device_type,
        progress: match i.status {
            ImageStatus::Ready => "100".into(),
            ImageStatus::Pending => i.progress.to_string(),
            _ => "0".into(),
        },
        offline: false,
        service_code: "",
        imported: i.imported,
        expired_time: "",
        instance_id: &i.instance_id,
        boot_mode: "bios",
        uefi_support: false,
    }
}

/// TaskInfo (imageTasks).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "TaskInfo")]
pub struct TaskInfoView<'a> {
    task_id: &'a str,
    #[schemars(schema_with = "super::schema::task_action")]
    action: &'a str,
    task_status: ImageTaskStatus,
    /// Percent.
    progress: i64,
    error_info: &'a str,
    message: &'a str,
    /// `YYYY-MM-DD HH:MM:SS`, UTC+8.
    created_time: String,
    /// Empty until finished.
    finished_time: String,
    image_id: &'a str,
    image_name: &'a str,
    image_url: &'a str,
    oss_url: &'a str,
    oss_object: String,
    oss_objects: Vec<String>,
}

pub fn image_task(t: &ImageTaskRow) -> TaskInfoView<'_> {
    let objects: Vec<String> = serde_json::from_str(&t.objects).unwrap_or_default();
    let (oss_url, image_url) = if t.action == "ExportImage" {
        (t.url.as_str(), "")
    } else {
        ("", t.url.as_str())
    };
    TaskInfoView {
        task_id: &t.id,
        action: &t.action,
        task_status: t.status,
        progress: t.progress,
        error_info: &t.error,
        message: &t.error,
        created_time: local_time(t.created_at),
        finished_time: if t.finished_at > 0 {
            local_time(t.finished_at)
        } else {
            String::new()
        },
        image_id: &t.image_id,
        image_name: &t.image_name,
        image_url,
        oss_url,
        oss_object: objects.first().cloned().unwrap_or_default(),
        oss_objects: objects,
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS` in UTC+8 (the form the docs use for times) to ms.
pub fn parse_local_time(s: &str) -> Option<i64> {
    let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    let tz = FixedOffset::east_opt(8 * 3600)?;
    tz.from_local_datetime(&naive)
        .single()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn disk_row(id: &str, category: &str) -> DiskRow {
        DiskRow {
            id: id.into(),
            pin: "p".into(),
            region: "r".into(),
            az: "az1".into(),
            category: category.into(),
            name: format!("name-{id}"),
            description: String::new(),
            disk_type: "ssd".into(),
            size_gb: 40,
            iops: 1000,
            status: DiskStatus::InUse,
            task: None,
            top_layer_id: Some("lyr".into()),
            snapshot_id: String::new(),
            multi_attachable: false,
            encrypted: true,
            charge_mode: "postpaid_by_duration".into(),
            created_at: 1_626_697_997_000,
            seq: 1,
        }
    }

    fn attachment(disk: &str, device: &str) -> AttachmentRow {
        AttachmentRow {
            disk_id: disk.into(),
            instance_id: "i-1".into(),
            device_name: device.into(),
            status: AttachmentStatus::Attached,
            auto_delete: true,
            attached_at: 1_626_697_997_000,
        }
    }

    fn keys(v: &Value) -> Vec<&str> {
        let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }

    /// The instance view has every field of the SDK's Instance model; a local disk shows
    /// as `localDisk`, a cloud disk as `cloudDisk` (a whole Disk with its attachment), and
    /// an instance without a system disk shows `{}`.
    /// An instance row from before the vpc service: its subnet only in the given JSON.
    fn sample_row() -> crate::service::InstanceRow {
        crate::service::InstanceRow {
            id: "i-1".into(),
            pin: "p".into(),
            region: "r".into(),
            az: "az1".into(),
            name: "web".into(),
            hostname: "web".into(),
            description: String::new(),
            instance_type: "g.n2.medium".into(),
            image_id: "img-1".into(),
            status: InstanceStatus::Running,
            task: None,
            private_ip: "10.0.0.9".into(),
            primary_nic: Some(
                r#"{"networkInterface":{"subnetId":"subnet-1","vpcId":"vpc-1"}}"#.into(),
            ),
            charge_mode: "postpaid_by_duration".into(),
            charge_on_stopped: "keepCharging".into(),
            created_at: 1_626_697_997_000,
            seq: 1,
            vpc_id: String::new(),
            subnet_id: String::new(),
            elastic_ip_id: String::new(),
            elastic_ip_address: String::new(),
            key_names: "[]".into(),
        }
    }

    #[test]
    fn instance_view_has_the_sdk_fields() {
        let row = sample_row();
        let detail = InstanceDetail {
            instance_type: crate::service::catalog::instance_type("g.n2.medium"),
            disks: vec![
                (attachment("vol-sys", "vda"), disk_row("vol-sys", "local")),
                (attachment("vol-data", "vdb"), disk_row("vol-data", "cloud")),
            ],
            row,
        };
        let v = serde_json::to_value(instance(&detail)).unwrap();
        assert_eq!(
            keys(&v),
            [
                "az",
                "charge",
                "chargeOnStopped",
                "cpu",
                "dataDisks",
                "description",
                "elasticIpAddress",
                "elasticIpId",
                "faultDomain",
                "hostname",
                "imageId",
                "instanceId",
                "instanceName",
                "instanceType",
                "keyNames",
                "launchTime",
                "memoryMB",
                "policies",
                "primaryNetworkInterface",
                "privateIpAddress",
                "resourceGroupId",
                "secondaryNetworkInterfaces",
                "status",
                "subnetId",
                "systemDisk",
                "tags",
                "vpcId",
            ]
        );
        assert_eq!(
            (v["vpcId"].as_str(), v["subnetId"].as_str()),
            (Some("vpc-1"), Some("subnet-1"))
        );
        assert_eq!(v["cpu"], 1);
        assert_eq!(v["launchTime"], "2021-07-19 20:33:17");
        let sys = &v["systemDisk"];
        assert_eq!(
            sys["localDisk"],
            json!({"diskType": "ssd", "diskSizeGB": 40})
        );
        assert!(sys.get("cloudDisk").is_none());
        let data = &v["dataDisks"][0];
        assert_eq!(data["deviceName"], "vdb");
        assert!(data.get("localDisk").is_none());
        let disk = &data["cloudDisk"];
        assert_eq!(
            keys(disk),
            [
                "attachments",
                "az",
                "canPutInRecycleBin",
                "charge",
                "createTime",
                "description",
                "diskId",
                "diskSizeGB",
                "diskType",
                "enabled",
                "encrypt",
                "encrypted",
                "iops",
                "multiAttachable",
                "name",
                "snapshotId",
                "snapshotPolicies",
                "status",
                "tags",
                "throughput",
                "trashTime",
                "resourceGroupId",
            ]
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
        assert_eq!(disk["attachments"][0]["attachmentId"], "vol-data-i-1");
        assert_eq!(disk["charge"]["chargeStartTime"], "2021-07-19T12:33:17Z");
        assert_eq!(disk["tags"], json!([]));

        let bare = InstanceDetail {
            disks: vec![],
            ..detail
        };
        let v = serde_json::to_value(instance(&bare)).unwrap();
        assert_eq!(v["systemDisk"], json!({}));
        assert_eq!(v["dataDisks"], json!([]));
    }

    #[test]
    fn time_formats_match_the_docs() {
        // 2021-07-19T12:33:17Z is "2021-07-19 20:33:17" in UTC+8 (describeInstance example).
        let ms = 1_626_697_997_000;
        assert_eq!(local_time(ms), "2021-07-19 20:33:17");
        assert_eq!(iso_time(ms), "2021-07-19T12:33:17Z");
        assert_eq!(parse_local_time("2021-07-19 20:33:17"), Some(ms));
        assert_eq!(parse_local_time("yesterday"), None);
    }

    #[test]
    fn nic_is_echoed_and_completed() {
        let mut row = sample_row();
        row.id = "i-abc".into();
        row.primary_nic = Some(r#"{"networkInterface":{"subnetId":"subnet-1"}}"#.into());
        row.elastic_ip_address = "114.67.0.1".into();
        let nic = serde_json::to_value(nic::primary_nic(&row)).unwrap();
        assert_eq!(nic["networkInterface"]["subnetId"], "subnet-1");
        assert_eq!(nic["networkInterface"]["networkInterfaceId"], "port-abc");
        assert_eq!(
            nic["networkInterface"]["primaryIp"]["elasticIpAddress"],
            "114.67.0.1"
        );
        row.primary_nic = Some("[1]".into());
        let nic = serde_json::to_value(nic::primary_nic(&row)).unwrap();
        assert_eq!(nic["deviceIndex"], 0);
    }
}
