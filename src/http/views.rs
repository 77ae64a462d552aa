//! Rows → JD Cloud JSON models (spec §4). Field names follow the SDK models exactly.

use chrono::{FixedOffset, TimeZone, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::service::disk::DiskDetail;
use crate::service::instance::InstanceDetail;
use crate::service::snapshot::SnapshotDetail;
use crate::store::{AttachmentRow, DiskRow, ImageBlockDevice, ImageRow, ImageTaskRow};

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

fn charge(mode: &str, since_ms: i64) -> Value {
    json!({
        "chargeMode": mode,
        "chargeStatus": "normal",
        "chargeStartTime": iso_time(since_ms),
        "chargeExpiredTime": "",
        "chargeRetireTime": "",
    })
}

pub fn disk(d: &DiskRow, attachments: &[AttachmentRow]) -> Value {
    json!({
        "diskId": d.id,
        "az": d.az,
        "name": d.name,
        "description": d.description,
        "diskType": d.disk_type,
        "diskSizeGB": d.size_gb,
        "iops": d.iops,
        "throughput": 0,
        "status": d.status,
        "attachments": attachments.iter().map(disk_attachment).collect::<Vec<_>>(),
        "snapshotId": d.snapshot_id,
        "multiAttachable": d.multi_attachable,
        "encrypted": d.encrypted,
        "encrypt": d.encrypted,
        "enabled": true,
        "createTime": local_time(d.created_at),
        "charge": charge(&d.charge_mode, d.created_at),
        "tags": [],
        "snapshotPolicies": [],
        "resourceGroupId": "",
        "canPutInRecycleBin": false,
        "trashTime": "",
    })
}

fn disk_attachment(a: &AttachmentRow) -> Value {
    json!({
        "attachmentId": format!("{}-{}", a.disk_id, a.instance_id),
        "diskId": a.disk_id,
        "instanceType": "vm",
        "instanceId": a.instance_id,
        "status": a.status,
        "attachTime": local_time(a.attached_at),
    })
}

pub fn disk_detail(d: &DiskDetail) -> Value {
    disk(&d.row, &d.attachments)
}

/// InstanceDiskAttachment: how an instance (or an image) sees one of its disks.
fn instance_disk(a: &AttachmentRow, d: &DiskRow) -> Value {
    let mut v = json!({
        "diskCategory": d.category,
        "autoDelete": a.auto_delete,
        "deviceName": a.device_name,
        "status": a.status,
    });
    if d.category == "local" {
        v["localDisk"] = json!({"diskType": d.disk_type, "diskSizeGB": d.size_gb});
    } else {
        v["cloudDisk"] = disk(d, std::slice::from_ref(a));
    }
    v
}

pub fn instance(i: &InstanceDetail) -> Value {
    let r = &i.row;
    let system = i
        .system_disk()
        .map(|(a, d)| instance_disk(a, d))
        .unwrap_or_else(|| json!({}));
    let data: Vec<Value> = i
        .disks
        .iter()
        .filter(|(a, _)| a.device_name != "vda")
        .map(|(a, d)| instance_disk(a, d))
        .collect();
    let nic = primary_nic(r.primary_nic.as_deref(), &r.id, &r.private_ip);
    let subnet = nic["networkInterface"]["subnetId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let vpc = nic["networkInterface"]["vpcId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    json!({
        "instanceId": r.id,
        "instanceName": r.name,
        "hostname": r.hostname,
        "instanceType": r.instance_type,
        "vpcId": vpc,
        "subnetId": subnet,
        "privateIpAddress": r.private_ip,
        "elasticIpId": "",
        "elasticIpAddress": "",
        "status": r.status,
        "description": r.description,
        "imageId": r.image_id,
        "systemDisk": system,
        "dataDisks": data,
        "primaryNetworkInterface": nic,
        "secondaryNetworkInterfaces": [],
        "launchTime": local_time(r.created_at),
        "az": r.az,
        "keyNames": [],
        "charge": charge(&r.charge_mode, r.created_at),
        "faultDomain": "",
        "tags": [],
        "chargeOnStopped": r.charge_on_stopped,
        "policies": [],
        "resourceGroupId": "",
        "cpu": i.instance_type.map(|t| t.cpu).unwrap_or(0),
        "memoryMB": i.instance_type.map(|t| t.memory_mb).unwrap_or(0),
    })
}

/// The primary interface as the client gave it (networking is out of scope), completed
/// with the fields clients read (interface id, private IP).
fn primary_nic(given: Option<&str>, instance_id: &str, ip: &str) -> Value {
    let mut nic: Value = given
        .and_then(|s| serde_json::from_str(s).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let obj = nic.as_object_mut().expect("object");
    obj.entry("deviceIndex").or_insert(json!(0));
    obj.entry("autoDelete").or_insert(json!(true));
    let ni = obj.entry("networkInterface").or_insert_with(|| json!({}));
    if !ni.is_object() {
        *ni = json!({});
    }
    let ni = ni.as_object_mut().expect("object");
    ni.entry("networkInterfaceId").or_insert(json!(format!(
        "port-{}",
        instance_id.trim_start_matches("i-")
    )));
    ni.entry("primaryIp")
        .or_insert(json!({"privateIpAddress": ip}));
    ni.entry("privateIpAddress").or_insert(json!(ip));
    nic
}

pub fn snapshot(s: &SnapshotDetail) -> Value {
    let r = &s.row;
    json!({
        "snapshotId": r.id,
        "snapshotSource": "self",
        "diskId": r.disk_id,
        "snapshotSizeGB": r.size_gb,
        "images": s.images,
        "name": r.name,
        "description": r.description,
        "status": r.status,
        "createTime": local_time(r.created_at),
        "expireTime": "",
        "sharInfo": [],
        "shareInfo": [],
        "encrypted": r.encrypted,
    })
}

/// A block device of an image, as an InstanceDiskAttachment.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDeviceView {
    disk_category: String,
    auto_delete: bool,
    device_name: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_disk: Option<LocalDiskView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud_disk: Option<ImageCloudDiskView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LocalDiskView {
    disk_type: String,
    #[serde(rename = "diskSizeGB")]
    disk_size_gb: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
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
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageView<'a> {
    image_id: &'a str,
    name: &'a str,
    platform: &'a str,
    os_version: &'a str,
    architecture: &'a str,
    #[serde(rename = "systemDiskSizeGB")]
    system_disk_size_gb: i64,
    image_source: &'a str,
    os_type: &'a str,
    status: &'a str,
    create_time: String,
    #[serde(rename = "sizeMB")]
    size_mb: i64,
    desc: &'a str,
    owner_pin: &'a str,
    login_name: &'a str,
    launch_permission: &'static str,
    system_disk: ImageDeviceView,
    data_disks: Vec<ImageDeviceView>,
    snapshot_id: &'a str,
    root_device_type: &'a str,
    progress: &'static str,
    offline: bool,
    service_code: &'static str,
    imported: bool,
    expired_time: &'static str,
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
        status: &i.status,
        create_time: local_time(i.created_at),
        size_mb: i.size_mb,
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
        progress: if i.status == "ready" { "100" } else { "0" },
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
pub fn image_task(t: &ImageTaskRow) -> Value {
    let objects: Vec<String> = serde_json::from_str(&t.objects).unwrap_or_default();
    let (oss_url, image_url) = if t.action == "ExportImage" {
        (t.url.as_str(), "")
    } else {
        ("", t.url.as_str())
    };
    json!({
        "taskId": t.id,
        "action": t.action,
        "taskStatus": t.status,
        "progress": t.progress,
        "errorInfo": t.error,
        "message": t.error,
        "createdTime": local_time(t.created_at),
        "finishedTime": if t.finished_at > 0 { local_time(t.finished_at) } else { String::new() },
        "imageId": t.image_id,
        "imageName": t.image_name,
        "imageUrl": image_url,
        "ossUrl": oss_url,
        "ossObject": objects.first().cloned().unwrap_or_default(),
        "ossObjects": objects,
    })
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
        let nic = primary_nic(
            Some(r#"{"networkInterface":{"subnetId":"subnet-1"}}"#),
            "i-abc",
            "10.0.0.2",
        );
        assert_eq!(nic["networkInterface"]["subnetId"], "subnet-1");
        assert_eq!(nic["networkInterface"]["networkInterfaceId"], "port-abc");
        assert_eq!(primary_nic(Some("[1]"), "i-x", "ip")["deviceIndex"], 0);
    }
}
