//! One exhaustive match from endpoint to handler; one module per resource. Each module
//! declares its endpoints' request structs (decoded once from JD's parameters by
//! `Params::decode`) and result structs; `openapi` documents both from their derives.

pub(super) mod disk;
pub(super) mod disk_change;
pub(super) mod elastic_ip;
pub(super) mod image;
pub(super) mod image_share;
pub(super) mod image_transfer;
pub(super) mod instance;
pub(super) mod instance_change;
pub(super) mod keypair;
pub(super) mod quota;
pub(super) mod security_group;
pub(super) mod snapshot;
pub(super) mod snapshot_change;
pub(super) mod vpc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::endpoint::Endpoint;
use super::{Call, Reply};
use crate::error::ApiResult;
use crate::service::listing::Page;
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
        ModifyInstanceAttribute { instance_id } => {
            instance_change::modify_attribute(svc, call, &instance_id).await
        }
        ModifyInstancePassword { instance_id } => {
            instance_change::modify_password(svc, call, &instance_id).await
        }
        ModifyInstanceDiskAttribute { instance_id } => {
            instance_change::modify_disk_attribute(svc, call, &instance_id).await
        }
        ResizeInstance { instance_id } => instance_change::resize(svc, call, &instance_id).await,
        RebuildInstance { instance_id } => instance_change::rebuild(svc, call, &instance_id).await,
        AssociateInstanceElasticIp { instance_id } => {
            instance_change::associate_elastic_ip(svc, call, &instance_id).await
        }
        DisassociateInstanceElasticIp { instance_id } => {
            instance_change::disassociate_elastic_ip(svc, call, &instance_id).await
        }
        DescribeInstanceTypes => instance_change::describe_instance_types(svc, call).await,
        DescribeInstanceStatus => instance_change::describe_instance_status(svc, call).await,
        DescribeBriefInstances => instance_change::describe_brief_instances(svc, call).await,
        DescribeInstancePrivateIpAddress => {
            instance_change::describe_private_ip_address(svc, call).await
        }
        DescribeImages => image::describe_images(svc, call).await,
        DeleteImage { image_id } => image::delete_image(svc, call, &image_id).await,
        ImportImage => image_transfer::import_image(svc, call).await,
        ExportImage { image_id } => image_transfer::export_image(svc, call, &image_id).await,
        ImageTasks => image_transfer::image_tasks(svc, call).await,
        DescribeImage { image_id } => image::describe_image(svc, call, &image_id).await,
        ModifyImageAttribute { image_id } => {
            image_share::modify_image_attribute(svc, call, &image_id).await
        }
        ShareImage { image_id } => image_share::share_image(svc, call, &image_id).await,
        UnShareImage { image_id } => image_share::unshare_image(svc, call, &image_id).await,
        DescribeImageMembers { image_id } => {
            image_share::describe_image_members(svc, call, &image_id).await
        }
        ReleaseImage { image_id } => image_share::release_image(svc, call, &image_id).await,
        UnReleaseImage { image_id } => image_share::unrelease_image(svc, call, &image_id).await,
        DescribeImageConstraints { image_id } => {
            image_share::describe_image_constraints(svc, call, &image_id).await
        }
        DescribeImageConstraintsBatch => {
            image_share::describe_image_constraints_batch(svc, call).await
        }
        ConvertImage { image_id } => image_share::convert_image(svc, call, &image_id).await,
        CreateImageFromSnapshots => image_share::create_image_from_snapshots(svc, call).await,
        CopyImages => image_share::copy_images(svc, call).await,
        DescribeQuotas => quota::describe_quotas(svc, call).await,
        CreateKeypair => keypair::create_keypair(svc, call).await,
        ImportKeypair => keypair::import_keypair(svc, call).await,
        DescribeKeypairs => keypair::describe_keypairs(svc, call).await,
        DeleteKeypair { key_name } => keypair::delete_keypair(svc, call, &key_name).await,
        AttachKeypair { key_name } => keypair::attach_keypair(svc, call, &key_name).await,
        DetachKeypair { key_name } => keypair::detach_keypair(svc, call, &key_name).await,
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
        ModifyDiskAttribute { disk_id } => disk_change::modify_disk(svc, call, &disk_id).await,
        ExtendDisk { disk_id } => disk_change::extend_disk(svc, call, &disk_id).await,
        RestoreDisk { disk_id } => disk_change::restore_disk(svc, call, &disk_id).await,
        ModifySnapshotAttribute { snapshot_id } => {
            snapshot_change::modify_snapshot(svc, call, &snapshot_id).await
        }
        DeleteSnapshots => snapshot_change::delete_snapshots(svc, call).await,
        DescribeSnapshotChain => snapshot_change::describe_snapshot_chain(svc, call).await,
        DescribeQuota => quota::describe_quota(svc, call).await,
        CreateVpc => vpc::create_vpc(svc, call).await,
        DescribeVpcs => vpc::describe_vpcs(svc, call).await,
        DescribeVpc { vpc_id } => vpc::describe_vpc(svc, call, &vpc_id).await,
        ModifyVpc { vpc_id } => vpc::modify_vpc(svc, call, &vpc_id).await,
        DeleteVpc { vpc_id } => vpc::delete_vpc(svc, call, &vpc_id).await,
        CreateSubnet => vpc::create_subnet(svc, call).await,
        DescribeSubnets => vpc::describe_subnets(svc, call).await,
        DescribeSubnet { subnet_id } => vpc::describe_subnet(svc, call, &subnet_id).await,
        ModifySubnet { subnet_id } => vpc::modify_subnet(svc, call, &subnet_id).await,
        DeleteSubnet { subnet_id } => vpc::delete_subnet(svc, call, &subnet_id).await,
        DescribeVpcQuota => vpc::describe_vpc_quota(svc, call).await,
        CreateNetworkSecurityGroup => security_group::create_security_group(svc, call).await,
        DescribeNetworkSecurityGroups => security_group::describe_security_groups(svc, call).await,
        DescribeNetworkSecurityGroup { group_id } => {
            security_group::describe_security_group(svc, call, &group_id).await
        }
        ModifyNetworkSecurityGroup { group_id } => {
            security_group::modify_security_group(svc, call, &group_id).await
        }
        DeleteNetworkSecurityGroup { group_id } => {
            security_group::delete_security_group(svc, call, &group_id).await
        }
        AddNetworkSecurityGroupRules { group_id } => {
            security_group::add_rules(svc, call, &group_id).await
        }
        RemoveNetworkSecurityGroupRules { group_id } => {
            security_group::remove_rules(svc, call, &group_id).await
        }
        CreateElasticIps => elastic_ip::create_elastic_ips(svc, call).await,
        DescribeElasticIps => elastic_ip::describe_elastic_ips(svc, call).await,
        DescribeElasticIp { elastic_ip_id } => {
            elastic_ip::describe_elastic_ip(svc, call, &elastic_ip_id).await
        }
        DeleteElasticIp { elastic_ip_id } => {
            elastic_ip::delete_elastic_ip(svc, call, &elastic_ip_id).await
        }
        DescribeNetworkInterfaces => elastic_ip::describe_network_interfaces(svc, call).await,
        DescribeNetworkInterface {
            network_interface_id,
        } => elastic_ip::describe_network_interface(svc, call, &network_interface_id).await,
        AssociateElasticIp {
            network_interface_id,
        } => elastic_ip::associate_elastic_ip(svc, call, &network_interface_id).await,
        DisassociateElasticIp {
            network_interface_id,
        } => elastic_ip::disassociate_elastic_ip(svc, call, &network_interface_id).await,
    }
}

/// `pageNumber` and `pageSize` of a describe* list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    /// 1-based; default 1.
    #[schemars(range(min = 1), extend("default" = 1))]
    pub page_number: Option<i64>,
    /// [10,100]; default 20; otherwise 400 OUT_OF_RANGE.
    #[schemars(range(min = 10, max = 100), extend("default" = 20))]
    pub page_size: Option<i64>,
}

impl Paging {
    fn page(&self) -> ApiResult<Page> {
        Page::new(self.page_number, self.page_size)
    }
}

/// Kiln reads `chargeMode`; the other JD ChargeSpec fields are accepted and ignored.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeSpec {
    /// Default postpaid_by_duration.
    #[schemars(schema_with = "super::schema::charge_mode")]
    #[serde(default)]
    pub charge_mode: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiskSpec {
    /// A zone of the path's region; ignored in createInstances.
    #[schemars(schema_with = "super::schema::zone")]
    #[serde(default)]
    pub az: Option<String>,
    /// 1–32 of Chinese, letters, digits, `_`, `-`.
    #[schemars(regex(pattern = r"^[\u4e00-\u9fa5A-Za-z0-9_-]{1,32}$"), example = &"data-1")]
    pub name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    #[schemars(schema_with = "super::schema::disk_type")]
    #[serde(default)]
    pub disk_type: Option<String>,
    /// GiB, a multiple of 10; [20,16000] for current types.
    #[serde(rename = "diskSizeGB")]
    #[schemars(example = 20)]
    pub disk_size_gb: Option<i64>,
    /// `ssd.io1` only: [200, min(32000, 50×size)], step 10.
    pub iops: Option<i64>,
    /// Create from this snapshot.
    pub snapshot_id: Option<String>,
    pub multi_attachable: Option<bool>,
    pub encrypt: Option<bool>,
    pub charge: Option<ChargeSpec>,
}

impl From<DiskSpec> for DiskSpecInput {
    fn from(s: DiskSpec) -> Self {
        DiskSpecInput {
            az: s.az,
            name: s.name,
            description: s.description,
            disk_type: s.disk_type,
            disk_size_gb: s.disk_size_gb,
            iops: s.iops,
            snapshot_id: s.snapshot_id,
            multi_attachable: s.multi_attachable,
            encrypt: s.encrypt,
            charge_mode: s.charge.and_then(|c| c.charge_mode),
        }
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceDiskAttachmentSpec {
    #[schemars(schema_with = "super::schema::disk_category")]
    #[serde(default)]
    pub disk_category: Option<String>,
    pub auto_delete: Option<bool>,
    pub cloud_disk_spec: Option<DiskSpec>,
    /// `vda` (system disk) or a data device `vdb`…`vdbm`.
    #[schemars(regex(pattern = r"^vd([a-z]|a[a-z]|b[a-m])$"))]
    pub device_name: Option<String>,
    /// With `deviceName`: leave that disk out.
    pub no_device: Option<bool>,
}

impl From<InstanceDiskAttachmentSpec> for AttachmentSpecInput {
    fn from(s: InstanceDiskAttachmentSpec) -> Self {
        AttachmentSpecInput {
            disk_category: s.disk_category,
            auto_delete: s.auto_delete,
            cloud_disk_spec: s.cloud_disk_spec.map(Into::into),
            device_name: s.device_name,
            no_device: s.no_device,
        }
    }
}

/// A body Kiln ignores (SDKs send the path parameters again): startInstance and
/// rebootInstance read nothing; this documents that.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct Ignored {}
