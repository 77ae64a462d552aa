use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::http::views::{self, TaskInfoView};
use crate::http::{Call, Reply};
use crate::service::image_transfer::{ExportImageInput, ImportDataDisk, ImportImageInput};
use crate::service::listing::{ImageTaskFilters, Page};
use crate::service::Service;

/// Where Kiln reads an image from: `file:///absolute/path` on the server, or an `http://`
/// URL it downloads.
const IMAGE_URL_EXAMPLE: &str = "file:///var/lib/kiln/import/disk.qcow2";

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "ImportDataDisk")]
pub struct ImportDataDiskSpec {
    #[schemars(schema_with = "crate::http::schema::disk_format")]
    #[serde(default)]
    pub disk_format: Option<String>,
    #[serde(rename = "dataDiskSizeGB")]
    #[schemars(required)]
    pub data_disk_size_gb: Option<i64>,
    /// `file:///absolute/path` on the server, or an `http://` URL Kiln downloads.
    #[schemars(required, example = IMAGE_URL_EXAMPLE)]
    pub image_url: Option<String>,
}

/// Kiln imports from `file:///absolute/path` or `http://` URLs on the server's side.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportImage {
    #[schemars(required, schema_with = "architecture")]
    pub architecture: Option<String>,
    #[schemars(required, schema_with = "os_type")]
    pub os_type: Option<String>,
    #[schemars(required, schema_with = "platform")]
    pub platform: Option<String>,
    #[schemars(required, schema_with = "crate::http::schema::disk_format")]
    pub disk_format: Option<String>,
    /// [40,500], a multiple of 10.
    #[serde(rename = "systemDiskSizeGB")]
    #[schemars(required, example = 40)]
    pub system_disk_size_gb: Option<i64>,
    /// `file:///absolute/path` on the server, or an `http://` URL Kiln downloads.
    #[schemars(required, example = IMAGE_URL_EXAMPLE)]
    pub image_url: Option<String>,
    pub os_version: Option<String>,
    /// 1–32 of Chinese, letters, digits, `_`, `-`.
    #[schemars(required, example = &"imported-1")]
    pub image_name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    /// Validated and ignored (no compliance checks).
    #[expect(dead_code, reason = "validated, then ignored")]
    pub force_import: Option<bool>,
    #[serde(default)]
    pub data_disks: Vec<ImportDataDiskSpec>,
    /// Idempotency token: a retry with the same token answers the first result.
    #[schemars(length(min = 1, max = 64))]
    pub client_token: Option<String>,
    #[schemars(schema_with = "boot_mode")]
    #[serde(default)]
    pub boot_mode: Option<String>,
}

fn architecture(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    crate::http::schema::one_of(&["x86_64", "arm64", "i386"], "")
}

fn os_type(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    crate::http::schema::one_of(&["linux", "windows"], "")
}

fn platform(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let platforms = [
        "Ubuntu",
        "CentOS",
        "Windows Server",
        "Other Linux",
        "Other Windows",
    ];
    crate::http::schema::one_of(&platforms, "")
}

fn boot_mode(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    crate::http::schema::one_of(&["bios", "uefi"], "")
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportImageResult {
    /// The new image (`img-…`).
    pub image_id: String,
    /// The import task (see imageTasks).
    pub task_id: String,
}

pub async fn import_image(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: ImportImage = call.params.decode()?;
    let input = ImportImageInput {
        architecture: r.architecture,
        os_type: r.os_type,
        platform: r.platform,
        disk_format: r.disk_format,
        system_disk_size_gb: r.system_disk_size_gb,
        image_url: r.image_url,
        os_version: r.os_version,
        image_name: r.image_name,
        description: r.description,
        data_disks: r
            .data_disks
            .into_iter()
            .map(|d| ImportDataDisk {
                disk_format: d.disk_format,
                size_gb: d.data_disk_size_gb,
                url: d.image_url,
            })
            .collect(),
        client_token: r.client_token,
        boot_mode: r.boot_mode,
    };
    let (image_id, task_id) = svc.image_import(&call.scope, input).await?;
    Reply::serialize(&ImportImageResult { image_id, task_id })
}

/// A private, `ready`, cloudDisk image, exported as qcow2 into a directory on the server.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportImage {
    /// Service role name; must not be blank.
    #[schemars(required, example = &"kiln-export")]
    pub role_name: Option<String>,
    /// `file:///absolute/directory` on the server.
    #[schemars(required, example = &"file:///var/lib/kiln/export")]
    pub oss_url: Option<String>,
    /// Letters and digits, at most 32.
    pub oss_prefix: Option<String>,
    /// Idempotency token: a retry with the same token answers the first result.
    #[schemars(length(min = 1, max = 64))]
    pub client_token: Option<String>,
    /// Export the data disks too; default false.
    pub is_all_disk: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskIdResult {
    /// The export task (see imageTasks).
    pub task_id: String,
}

pub async fn export_image(svc: &Service, call: Call, image_id: &str) -> ApiResult<Reply> {
    let r: ExportImage = call.params.decode()?;
    let input = ExportImageInput {
        role_name: r.role_name,
        oss_url: r.oss_url,
        oss_prefix: r.oss_prefix,
        client_token: r.client_token,
        all_disks: r.is_all_disk.unwrap_or(false),
    };
    let task_id = svc.image_export(&call.scope, image_id, input).await?;
    Reply::serialize(&TaskIdResult { task_id })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageTasks {
    #[schemars(schema_with = "crate::http::schema::task_action")]
    #[serde(default)]
    pub task_action: Option<String>,
    /// Task ids.
    #[serde(default)]
    #[schemars(example = ["task-abcdefghijklmnop"])]
    pub task_ids: Vec<String>,
    #[schemars(schema_with = "crate::http::schema::task_status")]
    #[serde(default)]
    pub task_status: Option<String>,
    /// Created at or after; `YYYY-MM-DD HH:MM:SS` in UTC+8.
    #[schemars(example = &"2024-07-02 17:34:44")]
    pub start_time: Option<String>,
    /// Created at or before; `YYYY-MM-DD HH:MM:SS` in UTC+8.
    #[schemars(example = &"2099-12-31 23:59:59")]
    pub end_time: Option<String>,
    /// 1-based; default 1.
    #[schemars(range(min = 1), extend("default" = 1))]
    pub page_number: Option<i64>,
    /// [1,100]; default 10.
    #[schemars(range(min = 1, max = 100), extend("default" = 10))]
    pub page_size: Option<i64>,
}

/// A JD time parameter (`YYYY-MM-DD HH:MM:SS`, UTC+8) as unix milliseconds.
fn local_time(key: &str, value: Option<String>) -> ApiResult<Option<i64>> {
    value
        .map(|s| {
            views::parse_local_time(&s)
                .ok_or_else(|| ApiError::InvalidArgument(format!("Invalid {key} '{s}'")))
        })
        .transpose()
}

pub async fn image_tasks(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: ImageTasks = call.params.decode()?;
    let page = Page::for_image_tasks(r.page_number, r.page_size)?;
    let filters = ImageTaskFilters {
        actions: r.task_action.into_iter().collect(),
        ids: r.task_ids,
        statuses: r.task_status.into_iter().collect(),
        created_from: local_time("startTime", r.start_time)?,
        created_to: local_time("endTime", r.end_time)?,
    };
    let (list, total) = svc.image_tasks_describe(&call.scope, filters, page).await?;
    Reply::list(
        "taskSet",
        list.iter()
            .map(views::image_task)
            .collect::<Vec<TaskInfoView>>(),
        total,
    )
}
