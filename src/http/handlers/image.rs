use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{InstanceDiskAttachmentSpec, Paging};
use crate::error::ApiResult;
use crate::http::views::{self, ImageView};
use crate::http::{Call, Reply};
use crate::service::image::ImageListInput;
use crate::service::image_create::CreateImageInput;
use crate::service::Service;

#[derive(Serialize, JsonSchema)]
pub struct DescribeImageResult<'a> {
    pub image: ImageView<'a>,
}

pub async fn describe_image(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let i = svc.image_fetch(&call.scope, id).await?;
    Reply::serialize(&DescribeImageResult {
        image: views::image(&i),
    })
}

/// Conditions are top-level parameters (no `filters`), AND-ed.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImages {
    /// Required unless `ids` is given.
    #[schemars(schema_with = "image_source")]
    #[serde(default)]
    pub image_source: Option<String>,
    /// Only concerns marketplace images; validated and ignored.
    #[expect(dead_code, reason = "validated, then ignored")]
    pub offline: Option<bool>,
    /// e.g. `Ubuntu`, `CentOS`, `Windows Server`.
    pub platform: Option<String>,
    /// Image ids.
    #[serde(default)]
    #[schemars(example = ["img-ubuntu2204"])]
    pub ids: Vec<String>,
    /// Image name.
    pub image_name: Option<String>,
    #[schemars(schema_with = "crate::http::schema::root_device_type")]
    #[serde(default)]
    pub root_device_type: Option<String>,
    #[schemars(schema_with = "launch_permission")]
    #[serde(default)]
    pub launch_permission: Option<String>,
    /// One image status (`pending`, `ready`, …).
    pub status: Option<String>,
    /// `x86_64` or `arm64`.
    pub architecture: Option<String>,
    /// Source instance ids.
    #[serde(default)]
    #[schemars(example = ["i-abcdefghij"])]
    pub instance_ids: Vec<String>,
}

fn image_source(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    crate::http::schema::one_of(crate::service::image::IMAGE_SOURCES, "")
}

fn launch_permission(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    crate::http::schema::one_of(&["all", "specifiedUsers", "ownerOnly"], "")
}

pub async fn describe_images(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeImages = call.params.decode()?;
    let input = ImageListInput {
        image_source: r.image_source,
        ids: r.ids,
        platform: r.platform,
        image_name: r.image_name,
        root_device_type: r.root_device_type,
        launch_permission: r.launch_permission,
        status: r.status,
        architecture: r.architecture,
        instance_ids: r.instance_ids,
        offset: page.offset(),
        limit: page.limit(),
    };
    let (list, total) = svc.image_list(&call.scope, input).await?;
    Reply::list("images", list.iter().map(views::image).collect(), total)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateImage {
    /// 2–32 of Chinese, letters, digits, `_`, `-`, `.`.
    #[schemars(
        required,
        regex(pattern = r"^[\u4e00-\u9fa5A-Za-z0-9_.-]{2,32}$"),
        example = &"baked-1"
    )]
    pub name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    #[serde(default)]
    pub data_disks: Vec<InstanceDiskAttachmentSpec>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageIdResult {
    /// The new image (`img-…`).
    pub image_id: String,
}

pub async fn create_image(svc: &Service, call: Call, instance_id: &str) -> ApiResult<Reply> {
    let r: CreateImage = call.params.decode()?;
    let input = CreateImageInput {
        name: r.name,
        description: r.description,
        data_disks: r.data_disks.into_iter().map(Into::into).collect(),
    };
    let image_id = svc.image_create(&call.scope, instance_id, input).await?;
    Reply::serialize(&ImageIdResult { image_id })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteImage {
    /// Also delete the image's snapshots; default false.
    pub delete_snapshot: Option<bool>,
}

pub async fn delete_image(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: DeleteImage = call.params.decode()?;
    svc.image_delete(&call.scope, id, r.delete_snapshot.unwrap_or(false))
        .await?;
    Ok(Reply::Empty)
}
