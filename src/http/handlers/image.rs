use serde_json::json;

use super::{Call, Reply};
use crate::error::ApiResult;
use crate::http::views;
use crate::service::image::ImageListInput;
use crate::service::Service;

pub async fn describe_image(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let i = svc.image_fetch(&call.scope, id).await?;
    Ok(Reply::Result(json!({ "image": views::image(&i) })))
}

pub async fn describe_images(svc: &Service, call: Call) -> ApiResult<Reply> {
    let p = &call.params;
    let page = p.page()?;
    // `offline` only concerns marketplace images, which Kiln does not have; validated only.
    p.bool("offline")?;
    let input = ImageListInput {
        image_source: p.str("imageSource")?,
        ids: p.str_list("ids")?,
        platform: p.str("platform")?,
        image_name: p.str("imageName")?,
        root_device_type: p.str("rootDeviceType")?,
        launch_permission: p.str("launchPermission")?,
        status: p.str("status")?,
        architecture: p.str("architecture")?,
        instance_ids: p.str_list("instanceIds")?,
        offset: page.offset() as i64,
        limit: page.size as i64,
    };
    let (list, total) = svc.image_list(&call.scope, input).await?;
    Ok(Reply::Result(json!({
        "images": list.iter().map(views::image).collect::<Vec<_>>(),
        "totalCount": total,
    })))
}
