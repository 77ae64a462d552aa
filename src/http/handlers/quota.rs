use serde_json::json;

use super::{filter_values, Call, Reply};
use crate::error::ApiResult;
use crate::service::Service;

pub async fn describe_quotas(svc: &Service, call: Call) -> ApiResult<Reply> {
    let p = &call.params;
    let types = filter_values(&p.filters()?, "resourceTypes");
    let image_id = p.str("imageId")?;
    let quotas = svc
        .vm_quotas(&call.scope, &types, image_id.as_deref())
        .await?;
    let list: Vec<_> = quotas
        .into_iter()
        .map(|(t, limit, used)| json!({"resourceType": t, "limit": limit, "used": used}))
        .collect();
    Ok(Reply::Result(json!({ "quotas": list })))
}

pub async fn describe_quota(svc: &Service, call: Call) -> ApiResult<Reply> {
    let kind = call.params.str("type")?;
    let (limit, used) = svc.disk_quota(&call.scope, kind.as_deref()).await?;
    Ok(Reply::Result(
        json!({ "quota": {"limit": limit, "used": used} }),
    ))
}
