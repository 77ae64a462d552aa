//! describe* lists: paging and the `filters` each list understands, turned into store
//! queries here so the http layer never builds one.

use schemars::JsonSchema;
use serde::Deserialize;

use super::disk::DiskDetail;
use super::instance::InstanceDetail;
use super::snapshot::SnapshotDetail;
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::disk::DiskQuery;
use crate::store::image_task::ImageTaskQuery;
use crate::store::instance::InstanceQuery;
use crate::store::snapshot::SnapshotQuery;
use crate::store::ImageTaskRow;

/// One page of a list: 1-based `number`, `size` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    pub size: u64,
}

impl Page {
    /// describe* lists: `pageNumber` ≥ 1 (default 1), `pageSize` in [10,100] (default 20).
    pub fn new(number: Option<i64>, size: Option<i64>) -> ApiResult<Page> {
        Page::bounded(number, size.unwrap_or(20), 10)
    }

    /// imageTasks: `pageSize` in [1,100], default 10.
    pub fn for_image_tasks(number: Option<i64>, size: Option<i64>) -> ApiResult<Page> {
        Page::bounded(number, size.unwrap_or(10), 1)
    }

    fn bounded(number: Option<i64>, size: i64, min_size: i64) -> ApiResult<Page> {
        let number = number.unwrap_or(1);
        if !(min_size..=100).contains(&size) {
            return Err(ApiError::page_size_out_of_range());
        }
        if number < 1 {
            return Err(ApiError::OutOfRange("PageNumber out of range".into()));
        }
        Ok(Page {
            number: number.unsigned_abs(),
            size: size.unsigned_abs(),
        })
    }

    /// Rows to skip, clamped to what SQL's OFFSET accepts: a page far past the end is simply
    /// empty (never a wrapped-around negative offset that would answer page 1 again).
    pub fn offset(&self) -> i64 {
        let rows = (self.number - 1).saturating_mul(self.size);
        i64::try_from(rows).unwrap_or(i64::MAX)
    }

    pub fn limit(&self) -> i64 {
        i64::try_from(self.size).unwrap_or(i64::MAX)
    }
}

/// describeInstances filters. E.g. `filters.1.name=status&filters.1.values.1=running`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceFilters {
    pub instance_id: Vec<String>,
    pub status: Vec<String>,
    pub az: Vec<String>,
    pub name: Vec<String>,
    pub private_ip_address: Vec<String>,
    pub image_id: Vec<String>,
    pub instance_type: Vec<String>,
    pub subnet_id: Vec<String>,
    pub vpc_id: Vec<String>,
    /// Its primary interface's elastic IP.
    pub elastic_ip_address: Vec<String>,
}

/// describeDisks filters. E.g. `filters.1.name=status&filters.1.values.1=available`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct DiskFilters {
    pub disk_id: Vec<String>,
    pub disk_type: Vec<String>,
    pub instance_id: Vec<String>,
    /// `vm` or `nc`.
    pub instance_type: Vec<String>,
    pub status: Vec<String>,
    pub az: Vec<String>,
    pub name: Vec<String>,
    pub multi_attach: Option<bool>,
    pub encrypted: Option<bool>,
}

/// describeSnapshots filters. E.g. `filters.1.name=status&filters.1.values.1=available`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SnapshotFilters {
    pub snapshot_id: Vec<String>,
    pub disk_id: Vec<String>,
    pub status: Vec<String>,
    pub name: Vec<String>,
}

/// describeQuotas filters. E.g. `filters.1.name=resourceTypes&filters.1.values.1=instance`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct QuotaFilters {
    pub resource_types: Vec<String>,
}

/// imageTasks conditions (top-level parameters there, not `filters`).
#[derive(Debug, Default)]
pub struct ImageTaskFilters {
    pub actions: Vec<String>,
    pub ids: Vec<String>,
    pub statuses: Vec<String>,
    /// Unix milliseconds.
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
}

/// Where describeSnapshots looks (`snapshotSource`).
pub const SNAPSHOT_SOURCES: [&str; 3] = ["private", "others", "shared"];

impl Service {
    pub async fn instances_describe(
        &self,
        scope: &Scope,
        f: InstanceFilters,
        page: Page,
    ) -> ApiResult<(Vec<InstanceDetail>, i64)> {
        self.instance_list(InstanceQuery {
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            ids: f.instance_id,
            statuses: f.status,
            azs: f.az,
            names: f.name,
            private_ips: f.private_ip_address,
            image_ids: f.image_id,
            instance_types: f.instance_type,
            subnet_ids: f.subnet_id,
            vpc_ids: f.vpc_id,
            elastic_ip_addresses: f.elastic_ip_address,
            offset: page.offset(),
            limit: page.limit(),
        })
        .await
    }

    pub async fn disks_describe(
        &self,
        scope: &Scope,
        f: DiskFilters,
        page: Page,
    ) -> ApiResult<(Vec<DiskDetail>, i64)> {
        if let Some(t) = f.instance_type.iter().find(|t| *t != "vm" && *t != "nc") {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid instance type '{t}'"
            )));
        }
        self.disk_list(DiskQuery {
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            ids: f.disk_id,
            disk_types: f.disk_type,
            instance_ids: f.instance_id,
            statuses: f.status,
            azs: f.az,
            names: f.name,
            multi_attach: f.multi_attach,
            encrypted: f.encrypted,
            deleted_after: self.deleted_after(),
            offset: page.offset(),
            limit: page.limit(),
        })
        .await
    }

    /// `source` defaults to `private`; sharing between accounts does not exist in Kiln yet,
    /// so `others` and `shared` are always empty.
    pub async fn snapshots_describe(
        &self,
        scope: &Scope,
        source: Option<&str>,
        f: SnapshotFilters,
        page: Page,
    ) -> ApiResult<(Vec<SnapshotDetail>, i64)> {
        let source = source.unwrap_or("private");
        if !SNAPSHOT_SOURCES.contains(&source) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid snapshotSource '{source}'"
            )));
        }
        if source != "private" {
            return Ok((vec![], 0));
        }
        self.snapshot_list(SnapshotQuery {
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            ids: f.snapshot_id,
            disk_ids: f.disk_id,
            statuses: f.status,
            names: f.name,
            offset: page.offset(),
            limit: page.limit(),
        })
        .await
    }

    pub async fn image_tasks_describe(
        &self,
        scope: &Scope,
        f: ImageTaskFilters,
        page: Page,
    ) -> ApiResult<(Vec<ImageTaskRow>, i64)> {
        self.image_tasks(ImageTaskQuery {
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            actions: f.actions,
            ids: f.ids,
            statuses: f.statuses,
            created_from: f.created_from,
            created_to: f.created_to,
            offset: page.offset(),
            limit: page.limit(),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_offset_never_wraps_negative() {
        let far = Page {
            number: u64::MAX,
            size: 100,
        };
        assert_eq!(far.offset(), i64::MAX);
        let huge = Page {
            number: (i64::MAX as u64) / 10,
            size: 10,
        };
        assert!(huge.offset() > 0);
        assert_eq!(Page::new(Some(3), None).unwrap().offset(), 40);
    }

    #[test]
    fn page_bounds() {
        assert!(Page::new(None, Some(5)).is_err());
        assert!(Page::new(None, Some(101)).is_err());
        assert_eq!(Page::new(None, None).unwrap().size, 20);
        assert!(Page::new(Some(0), None).is_err());
        assert_eq!(Page::for_image_tasks(None, None).unwrap().size, 10);
        assert_eq!(Page::for_image_tasks(None, Some(1)).unwrap().size, 1);
        assert!(Page::for_image_tasks(None, Some(0)).is_err());
    }
}
