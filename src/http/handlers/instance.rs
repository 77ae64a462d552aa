use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::vpc::{ElasticIpSpec, NetworkInterfaceAttachmentSpec};
use super::{ChargeSpec, InstanceDiskAttachmentSpec, Paging};
use crate::error::{ApiError, ApiResult};
use crate::http::params::Filters;
use crate::http::views::{self, InstanceView};
use crate::http::{Call, Reply};
use crate::service::instance::{InstanceOp, InstanceSpecInput};
use crate::service::instance_create::CreateInstancesInput;
use crate::service::listing::InstanceFilters;
use crate::service::Service;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceSpec {
    #[schemars(schema_with = "crate::http::schema::zone")]
    #[serde(default)]
    pub az: Option<String>,
    #[schemars(schema_with = "crate::http::schema::instance_type")]
    #[serde(default)]
    pub instance_type: Option<String>,
    /// A `ready` image.
    #[schemars(example = &"img-ubuntu2204")]
    pub image_id: Option<String>,
    /// 2–128 of Chinese, letters, digits, `_`, `-`, `.`; not starting or ending with `.`.
    #[schemars(
        regex(
            pattern = r"^[\u4e00-\u9fa5A-Za-z0-9_-]([\u4e00-\u9fa5A-Za-z0-9_.-]{0,126}[\u4e00-\u9fa5A-Za-z0-9_-])$"
        ),
        example = &"web-1"
    )]
    pub name: Option<String>,
    pub hostname: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    pub system_disk: Option<InstanceDiskAttachmentSpec>,
    #[serde(default)]
    pub data_disks: Vec<InstanceDiskAttachmentSpec>,
    /// The primary network interface's subnet (and address, security groups); none: the
    /// region's default subnet.
    pub primary_network_interface: Option<NetworkInterfaceAttachmentSpec>,
    /// A new elastic IP on the primary interface, released with the instance.
    pub elastic_ip: Option<ElasticIpSpec>,
    /// One key pair name (Linux).
    #[serde(default)]
    pub key_names: Vec<String>,
    /// 8–30 characters of at least three of: upper case, lower case, digits, specials.
    pub password: Option<String>,
    pub charge: Option<ChargeSpec>,
    #[schemars(schema_with = "crate::http::schema::charge_on_stopped")]
    #[serde(default)]
    pub charge_on_stopped: Option<String>,
}

/// Required in practice: `instanceSpec` with `az`, `instanceType`, `imageId` and `name`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateInstances {
    #[schemars(required)]
    pub instance_spec: Option<InstanceSpec>,
    /// How many instances, [1,100]; default 1.
    #[schemars(example = 1)]
    pub max_count: Option<i64>,
    /// Idempotency token: a retry with the same token answers the first result.
    #[schemars(length(min = 1, max = 64))]
    pub client_token: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateInstancesResult {
    /// Instance ids (`i-…`).
    pub instance_ids: Vec<String>,
}

pub async fn create_instances(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: CreateInstances = call.params.decode()?;
    let spec = r.instance_spec.map(|s| InstanceSpecInput {
        az: s.az,
        instance_type: s.instance_type,
        image_id: s.image_id,
        name: s.name,
        hostname: s.hostname,
        description: s.description,
        system_disk: s.system_disk.map(Into::into),
        data_disks: s.data_disks.into_iter().map(Into::into).collect(),
        primary_nic: s
            .primary_network_interface
            .map(|a| a.network_interface.unwrap_or_default().into()),
        elastic_ip: s.elastic_ip.map(Into::into),
        key_names: s.key_names,
        password: s.password,
        charge_mode: s.charge.and_then(|c| c.charge_mode),
        charge_on_stopped: s.charge_on_stopped,
    });
    let input = CreateInstancesInput {
        instance_spec: spec,
        max_count: r.max_count,
        client_token: r.client_token,
    };
    let instance_ids = svc.instances_create(&call.scope, input).await?;
    Reply::serialize(&CreateInstancesResult { instance_ids })
}

#[derive(Serialize, JsonSchema)]
pub struct DescribeInstanceResult<'a> {
    pub instance: InstanceView<'a>,
}

pub async fn describe_instance(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let i = svc.instance_fetch(&call.scope, id).await?;
    Reply::serialize(&DescribeInstanceResult {
        instance: views::instance(&i),
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeInstances {
    pub filters: Option<Filters<InstanceFilters>>,
}

pub async fn describe_instances(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeInstances = call.params.decode()?;
    let filters = r.filters.map(|f| f.0).unwrap_or_default();
    let (list, total) = svc.instances_describe(&call.scope, filters, page).await?;
    Reply::list(
        "instances",
        list.iter().map(views::instance).collect(),
        total,
    )
}

pub async fn start_instance(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.instance_transition(&call.scope, id, InstanceOp::Start)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StopInstance {
    #[schemars(schema_with = "crate::http::schema::charge_on_stopped")]
    #[serde(default)]
    pub charge_on_stopped: Option<String>,
}

pub async fn stop_instance(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: StopInstance = call.params.decode()?;
    let charge_on_stopped = r.charge_on_stopped.filter(|s| !s.is_empty());
    svc.instance_transition(&call.scope, id, InstanceOp::Stop { charge_on_stopped })
        .await?;
    Ok(Reply::Empty)
}

pub async fn reboot_instance(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.instance_transition(&call.scope, id, InstanceOp::Reboot)
        .await?;
    Ok(Reply::Empty)
}

pub async fn delete_instance(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.instance_delete(&call.scope, id).await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachDisk {
    /// The cloud disk (`vol-…`).
    #[schemars(required)]
    pub disk_id: Option<String>,
    /// `vda` (system disk) or a data device `vdb`…`vdbm`.
    #[schemars(regex(pattern = r"^vd([a-z]|a[a-z]|b[a-m])$"))]
    pub device_name: Option<String>,
    /// Delete the disk with the instance; default false.
    pub auto_delete: Option<bool>,
}

fn required_disk_id(disk_id: Option<String>) -> ApiResult<String> {
    disk_id.ok_or_else(|| ApiError::InvalidArgument("Parameter DiskId missing".into()))
}

pub async fn attach_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: AttachDisk = call.params.decode()?;
    let disk_id = required_disk_id(r.disk_id)?;
    let auto_delete = r.auto_delete.unwrap_or(false);
    svc.instance_attach_disk(&call.scope, id, &disk_id, r.device_name, auto_delete)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DetachDisk {
    /// The attached disk (`vol-…`).
    #[schemars(required)]
    pub disk_id: Option<String>,
    /// Accepted and validated; Kiln has no guest IO to cut.
    #[expect(dead_code, reason = "validated, then ignored")]
    pub force: Option<bool>,
}

pub async fn detach_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: DetachDisk = call.params.decode()?;
    let disk_id = required_disk_id(r.disk_id)?;
    svc.instance_detach_disk(&call.scope, id, &disk_id).await?;
    Ok(Reply::Empty)
}
