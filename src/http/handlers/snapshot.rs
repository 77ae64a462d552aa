use serde_json::json;

use super::{filter_values, Call, Reply};
use crate::error::{ApiError, ApiResult};
use crate::http::views;
use crate::service::snapshot::CreateSnapshotInput;
use crate::service::Service;
use crate::store::snapshot::SnapshotQuery;

pub async fn create_snapshot(svc: &Service, call: Call) -> ApiResult<Reply> {
    let p = &call.params;
    let spec = p.obj("snapshotSpec")?;
    let input = CreateSnapshotInput {
        has_spec: spec.is_some(),
        name: spec.as_ref().map(|s| s.str("name")).transpose()?.flatten(),
        description: spec
            .as_ref()
            .map(|s| s.str("description"))
            .transpose()?
            .flatten(),
        disk_id: spec
            .as_ref()
            .map(|s| s.str("diskId"))
            .transpose()?
            .flatten(),
        client_token: p.str("clientToken")?,
    };
    let id = svc.snapshot_create(&call.scope, input).await?;
    Ok(Reply::Result(json!({ "snapshotId": id })))
}

pub async fn describe_snapshot(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let s = svc.snapshot_fetch(&call.scope, id).await?;
    Ok(Reply::Result(json!({ "snapshot": views::snapshot(&s) })))
}

pub async fn describe_snapshots(svc: &Service, call: Call) -> ApiResult<Reply> {
    let p = &call.params;
    let page = p.page()?;
    let f = p.filters()?;
    let source = p.str("snapshotSource")?.unwrap_or_else(|| "private".into());
    if !["private", "others", "shared"].contains(&source.as_str()) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid snapshotSource '{source}'"
        )));
    }
    if source != "private" {
        // Snapshot sharing between accounts does not exist in Kiln yet.
        return Ok(Reply::Result(json!({"snapshots": [], "totalCount": 0})));
    }
    let q = SnapshotQuery {
        pin: call.scope.pin.clone(),
        region: call.scope.region.clone(),
        ids: filter_values(&f, "snapshotId"),
        disk_ids: filter_values(&f, "diskId"),
        statuses: filter_values(&f, "status"),
        names: filter_values(&f, "name"),
        offset: page.offset(),
        limit: page.size as i64,
    };
    let (list, total) = svc.snapshot_list(q).await?;
    Ok(Reply::Result(json!({
        "snapshots": list.iter().map(views::snapshot).collect::<Vec<_>>(),
        "totalCount": total,
    })))
}

pub async fn delete_snapshot(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.snapshot_delete(&call.scope, id).await?;
    Ok(Reply::Empty)
}
