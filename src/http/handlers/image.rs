use serde_json::json;

use super::{attachment_spec, Call, Reply};
use crate::error::ApiResult;
use crate::http::views;
use crate::service::image::ImageListInput;
use crate::service::image_create::CreateImageInput;
use crate::service::Service;

pub async fn describe_image(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let i = svc.image_fetch(&call.scope, id).await?;
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        image: views::ImageView<'a>,
    }
    Reply::serialize(&Answer {
        image: views::image(&i),
    })
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
        offset: page.offset(),
        limit: page.size as i64,
    };
    let (list, total) = svc.image_list(&call.scope, input).await?;
    Reply::list("images", list.iter().map(views::image).collect(), total)
}

pub async fn create_image(svc: &Service, call: Call, instance_id: &str) -> ApiResult<Reply> {
    let p = &call.params;
    let input = CreateImageInput {
        name: p.str("name")?,
        description: p.str("description")?,
        data_disks: p
            .list("dataDisks")?
            .iter()
            .map(attachment_spec)
            .collect::<ApiResult<_>>()?,
    };
    let id = svc.image_create(&call.scope, instance_id, input).await?;
    Ok(Reply::Result(json!({ "imageId": id })))
}

pub async fn delete_image(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let delete_snapshot = call.params.bool("deleteSnapshot")?.unwrap_or(false);
    svc.image_delete(&call.scope, id, delete_snapshot).await?;
    Ok(Reply::Empty)
}
