//! vm describeInstanceTypes: the catalog Kiln launches, as the SDK's InstanceType model.

use schemars::JsonSchema;
use serde::Serialize;

use crate::service::catalog::InstanceType;

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTypeStateView {
    az: String,
    in_stock: bool,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalDiskView {
    disk_type: &'static str,
    #[serde(rename = "diskSizeGB")]
    disk_size_gb: i64,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "InstanceType")]
pub struct InstanceTypeView {
    /// The type's family (`g.n2`).
    family: String,
    instance_type: &'static str,
    cpu: u32,
    architecture: &'static str,
    #[serde(rename = "memoryMB")]
    memory_mb: u32,
    nic_limit: i64,
    /// Cloud data disks it takes.
    cloud_disk_count_limit: usize,
    desc: String,
    /// In stock in every zone of the region.
    state: Vec<InstanceTypeStateView>,
    local_disks: Vec<LocalDiskView>,
    generation: i64,
}

pub fn instance_type(t: &InstanceType, zones: &[String]) -> InstanceTypeView {
    let family = t.name.rsplit_once('.').map_or(t.name, |(f, _)| f);
    InstanceTypeView {
        family: family.to_string(),
        instance_type: t.name,
        cpu: t.cpu,
        architecture: "x86_64",
        memory_mb: t.memory_mb,
        nic_limit: 1,
        cloud_disk_count_limit: t.max_data_disks,
        desc: format!("{} vCPU, {} GiB", t.cpu, t.memory_mb / 1024),
        state: zones
            .iter()
            .map(|az| InstanceTypeStateView {
                az: az.clone(),
                in_stock: true,
            })
            .collect(),
        local_disks: t
            .local_data_disk_gb
            .map(|gb| LocalDiskView {
                disk_type: "local",
                disk_size_gb: gb,
            })
            .into_iter()
            .collect(),
        generation: 2,
    }
}
