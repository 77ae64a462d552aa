use serde_json::json;

use super::{Call, Reply};
use crate::error::{ApiError, ApiResult};
use crate::http::views;
use crate::service::image_transfer::{ExportImageInput, ImportDataDisk, ImportImageInput};
use crate::service::Service;
use crate::store::image_task::ImageTaskQuery;

pub async fn import_image(svc: &Service, call: Call) -> ApiResult<Reply> {
    let p = &call.params;
    let data_disks = p
        .list("dataDisks")?
        .iter()
        .map(|d| {
            Ok(ImportDataDisk {
                disk_format: d.str("diskFormat")?,
                size_gb: d.int("dataDiskSizeGB")?,
                url: d.str("imageUrl")?,
            })
        })
        .collect::<ApiResult<_>>()?;
    // Compliance checks of real guest OSes do not apply; `forceImport` is validated only.
    p.bool("forceImport")?;
    let input = ImportImageInput {
        architecture: p.str("architecture")?,
        os_type: p.str("osType")?,
        platform: p.str("platform")?,
        disk_format: p.str("diskFormat")?,
        system_disk_size_gb: p.int("systemDiskSizeGB")?,
        image_url: p.str("imageUrl")?,
        os_version: p.str("osVersion")?,
        image_name: p.str("imageName")?,
        description: p.str("description")?,
        data_disks,
        client_token: p.str("clientToken")?,
        boot_mode: p.str("bootMode")?,
    };
    let (image_id, task_id) = svc.image_import(&call.scope, input).await?;
    Ok(Reply::Result(
        json!({"imageId": image_id, "taskId": task_id}),
    ))
}

pub async fn export_image(svc: &Service, call: Call, image_id: &str) -> ApiResult<Reply> {
    let p = &call.params;
    let input = ExportImageInput {
        role_name: p.str("roleName")?,
        oss_url: p.str("ossUrl")?,
        oss_prefix: p.str("ossPrefix")?,
        client_token: p.str("clientToken")?,
        all_disks: p.bool("isAllDisk")?.unwrap_or(false),
    };
    let task_id = svc.image_export(&call.scope, image_id, input).await?;
    Ok(Reply::Result(json!({ "taskId": task_id })))
}

pub async fn image_tasks(svc: &Service, call: Call) -> ApiResult<Reply> {
    let p = &call.params;
    let number = p.int("pageNumber")?.unwrap_or(1);
    let size = p.int("pageSize")?.unwrap_or(10);
    if !(1..=100).contains(&size) {
        return Err(ApiError::page_size_out_of_range());
    }
    if number < 1 {
        return Err(ApiError::OutOfRange("PageNumber out of range".into()));
    }
    let time = |key: &str| -> ApiResult<Option<i64>> {
        match p.str(key)? {
            None => Ok(None),
            Some(s) => views::parse_local_time(&s)
                .map(Some)
                .ok_or_else(|| ApiError::InvalidArgument(format!("Invalid {key} '{s}'"))),
        }
    };
    let q = ImageTaskQuery {
        pin: call.scope.pin.clone(),
        region: call.scope.region.clone(),
        actions: p.str("taskAction")?.into_iter().collect(),
        ids: p.str_list("taskIds")?,
        statuses: p.str("taskStatus")?.into_iter().collect(),
        created_from: time("startTime")?,
        created_to: time("endTime")?,
        // Saturating: a huge pageNumber is an empty page, not an overflow.
        offset: (number - 1).saturating_mul(size),
        limit: size,
    };
    let (list, total) = svc.image_tasks(q).await?;
    Ok(Reply::Result(json!({
        "taskSet": list.iter().map(views::image_task).collect::<Vec<_>>(),
        "totalCount": total,
    })))
}
