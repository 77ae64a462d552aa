use serde_json::json;

use super::{disk_spec, filter_bool, filter_values, Call, Reply};
use crate::error::{ApiError, ApiResult};
use crate::http::views;
use crate::service::disk::CreateDisksInput;
use crate::service::Service;
use crate::store::disk::DiskQuery;

pub async fn create_disks(svc: &Service, call: Call) -> ApiResult<Reply> {
    let p = &call.params;
    let input = CreateDisksInput {
        disk_spec: p.obj("diskSpec")?.map(|s| disk_spec(&s)).transpose()?,
        max_count: p.int("maxCount")?,
        client_token: p.str("clientToken")?,
    };
    let ids = svc.disks_create(&call.scope, input).await?;
    Ok(Reply::Result(
        json!({"diskIds": ids, "policyRelations": [], "tagmsg": ""}),
    ))
}

pub async fn describe_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let d = svc.disk_fetch(&call.scope, id).await?;
    Ok(Reply::Result(json!({ "disk": views::disk_detail(&d) })))
}

pub async fn describe_disks(svc: &Service, call: Call) -> ApiResult<Reply> {
    let p = &call.params;
    let page = p.page()?;
    let f = p.filters()?;
    for t in filter_values(&f, "instanceType") {
        if t != "vm" && t != "nc" {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid instance type '{t}'"
            )));
        }
    }
    let q = DiskQuery {
        pin: call.scope.pin.clone(),
        region: call.scope.region.clone(),
        ids: filter_values(&f, "diskId"),
        disk_types: filter_values(&f, "diskType"),
        instance_ids: filter_values(&f, "instanceId"),
        statuses: filter_values(&f, "status"),
        azs: filter_values(&f, "az"),
        names: filter_values(&f, "name"),
        multi_attach: filter_bool(&f, "multiAttach")?,
        encrypted: filter_bool(&f, "encrypted")?,
        offset: page.offset(),
        limit: page.size as i64,
    };
    let (list, total) = svc.disk_list(q).await?;
    Reply::list(
        "disks",
        list.iter().map(views::disk_detail).collect(),
        total,
    )
}

pub async fn delete_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    // Kiln has no recycle bin: `putInRecycleBin` is validated and the disk deleted.
    call.params.bool("putInRecycleBin")?;
    svc.disk_delete(&call.scope, id).await?;
    Ok(Reply::Empty)
}
