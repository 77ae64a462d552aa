//! importImage, exportImage and imageTasks. Images come from OSS (the server's S3 endpoint),
//! `file:///absolute/path` or `http(s)://` URLs, and are exported to OSS or a `file:///directory`.

use crate::block::file_roots::FileRoots;
use crate::store::status::{ImageStatus, ImageTaskStatus, SnapshotStatus};

use super::quota::QuotaKind;
use super::spec;
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::image_task::ImageTaskQuery;
use crate::store::{self, now_ms, ImageBlockDevice, ImageRow, ImageTaskRow, SnapshotRow};
use crate::tasks::{self, payload};

#[derive(Debug, Clone, Default)]
pub struct ImportDataDisk {
    pub disk_format: Option<String>,
    pub size_gb: Option<i64>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportImageInput {
    pub architecture: Option<String>,
    pub os_type: Option<String>,
    pub platform: Option<String>,
    pub disk_format: Option<String>,
    pub system_disk_size_gb: Option<i64>,
    pub image_url: Option<String>,
    pub os_version: Option<String>,
    pub image_name: Option<String>,
    pub description: Option<String>,
    pub data_disks: Vec<ImportDataDisk>,
    pub client_token: Option<String>,
    pub boot_mode: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ExportImageInput {
    pub role_name: Option<String>,
    pub oss_url: Option<String>,
    pub oss_prefix: Option<String>,
    pub client_token: Option<String>,
    pub all_disks: bool,
}

const IMPORT_OP: &str = "importImage";
const EXPORT_OP: &str = "exportImage";

fn required<T>(v: Option<T>, name: &str) -> ApiResult<T> {
    v.ok_or_else(|| ApiError::InvalidArgument(format!("Parameter {name} missing")))
}

fn one_of(v: &str, allowed: &[&str], name: &str) -> ApiResult<()> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(format!("Invalid {name} '{v}'")))
    }
}

/// `file:///absolute/path`, `http://…` or `https://…`; anything else is refused.
pub fn check_source_url(url: &str) -> ApiResult<()> {
    let ok = url
        .strip_prefix("file://")
        .is_some_and(|p| p.starts_with('/'))
        || url.starts_with("http://")
        || url.starts_with("https://");
    if ok {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(format!(
            "Invalid imageUrl '{url}': use file:///absolute/path, http:// or https://"
        )))
    }
}

/// An importImage request that passed every check.
struct ValidImport {
    name: String,
    description: String,
    platform: String,
    os_type: String,
    os_version: String,
    architecture: String,
    size: i64,
    url: String,
    /// (url, format, size GiB, device) per disk, the system disk first.
    sources: Vec<(String, String, i64, String)>,
    client_token: Option<String>,
}

impl Service {
    /// An import source the server may read: the scheme, then a `file://` path under a
    /// `--file-root`, or an `http(s)://` host whose every address the import policy
    /// allows (see `download`). Checked when the call arrives: a refused URL makes no task.
    async fn check_source(&self, key: &str, url: &str) -> ApiResult<()> {
        if crate::oss::looks_like_oss(url) {
            return Ok(());
        }
        check_source_url(url)?;
        if let Some(path) = url.strip_prefix("file://") {
            return check_file_root(&self.cfg.file_roots, key, url, path);
        }
        self.cfg
            .import_addresses
            .check_url(url)
            .await
            .map_err(|e| ApiError::InvalidArgument(format!("Invalid {key} '{url}': {e}")))
    }
}

impl Service {
    /// Where an export writes: `s3://bucket/prefix/` for an OSS URL (the server's object
    /// storage, the URL's region the caller's), else a `file://` directory under a
    /// `--file-root`. Files are named under it.
    fn export_target(&self, scope: &Scope, oss_url: &str) -> ApiResult<String> {
        if crate::oss::looks_like_oss(oss_url) {
            let loc = self.oss_location(scope, "ossUrl", oss_url)?;
            let prefix = match loc.key.as_str() {
                "" => String::new(),
                k if k.ends_with('/') => k.to_string(),
                k => format!("{k}/"),
            };
            return Ok(format!("s3://{}/{prefix}", loc.bucket));
        }
        let dir = oss_url
            .strip_prefix("file://")
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| {
                ApiError::InvalidArgument(format!(
                    "Invalid ossUrl '{oss_url}': use an OSS bucket URL or file:///absolute/directory"
                ))
            })?
            .to_string();
        check_file_root(&self.cfg.file_roots, "ossUrl", oss_url, &dir)?;
        Ok(dir)
    }

    /// What an import task reads: an OSS URL as `s3://bucket/key` (an object, not a bucket),
    /// any other URL as given.
    fn import_source(&self, scope: &Scope, key: &str, url: &str) -> ApiResult<String> {
        if !crate::oss::looks_like_oss(url) {
            return Ok(url.to_string());
        }
        let loc = self.oss_location(scope, key, url)?;
        if loc.key.is_empty() || loc.key.ends_with('/') {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid {key} '{url}': name an object, not a bucket"
            )));
        }
        Ok(loc.to_string())
    }

    /// An OSS URL as the server's object storage sees it: configured, the URL well formed,
    /// its region (JD's forms name one) the caller's.
    pub(crate) fn oss_location(
        &self,
        scope: &Scope,
        key: &str,
        url: &str,
    ) -> ApiResult<crate::oss::OssLocation> {
        if self.cfg.oss.is_none() {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid {key} '{url}': object storage is not configured on this server (kiln serve --oss-endpoint)"
            )));
        }
        if let Some(region) = crate::oss::oss_url_region(url).filter(|r| *r != scope.region) {
            return Err(ApiError::Conflict(format!(
                "OssRegion '{region}' not match current region '{}'",
                scope.region
            )));
        }
        crate::oss::parse_oss_url(url)
            .map_err(|e| ApiError::InvalidArgument(format!("Invalid {key} '{url}': {e}")))
    }
}

/// A `file://` path must lie under one of the server's `--file-root` directories.
fn check_file_root(roots: &FileRoots, key: &str, url: &str, path: &str) -> ApiResult<()> {
    if roots.admits(std::path::Path::new(path)) {
        return Ok(());
    }
    let why = if roots.is_empty() {
        "file:// URLs are not enabled on this server (kiln serve --file-root DIR)"
    } else {
        "the path is outside the server's --file-root directories"
    };
    Err(ApiError::InvalidArgument(format!(
        "Invalid {key} '{url}': {why}"
    )))
}

/// qemu-img's name for a JD disk format.
pub fn qemu_format(disk_format: &str) -> &'static str {
    match disk_format {
        "vhd" => "vpc",
        "vmdk" => "vmdk",
        "raw" => "raw",
        _ => "qcow2",
    }
}

/// Import names (公共参数规范): Chinese, digits, letters, `_`, `-`; 1–32 characters.
fn import_name_ok(name: &str) -> bool {
    let n = name.chars().count();
    (1..=32).contains(&n)
        && name.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || c == '_'
                || c == '-'
                || ('\u{4e00}'..='\u{9fa5}').contains(&c)
        })
}

impl Service {
    pub async fn image_import(
        &self,
        scope: &Scope,
        input: ImportImageInput,
    ) -> ApiResult<(String, String)> {
        let import = self.validate_import(scope, input).await?;
        let token = import.client_token.clone();
        let mut tx = self.store.write().await?;
        if let Some(r) =
            super::idempotency::replay(&mut tx, scope, IMPORT_OP, token.as_deref()).await?
        {
            let (img, task) = r.split_once(',').unwrap_or((&r, ""));
            return Ok((img.to_string(), task.to_string()));
        }
        self.quota_check(&mut tx, scope, QuotaKind::Image, 1)
            .await?;
        let snapshots = import.sources.len() as i64;
        self.quota_check(&mut tx, scope, QuotaKind::Snapshot, snapshots)
            .await?;
        let (image_id, task_id) = self.record_import(&mut tx, scope, import).await?;
        let answer = format!("{image_id},{task_id}");
        super::idempotency::remember(&mut tx, scope, IMPORT_OP, token.as_deref(), &answer).await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok((image_id, task_id))
    }

    /// importImage's checks, in the documented order, and the room the import needs.
    async fn validate_import(
        &self,
        scope: &Scope,
        input: ImportImageInput,
    ) -> ApiResult<ValidImport> {
        let architecture = required(input.architecture, "architecture")?;
        one_of(&architecture, &["x86_64", "arm64", "i386"], "architecture")?;
        let os_type = required(input.os_type, "osType")?;
        one_of(&os_type, &["linux", "windows"], "osType")?;
        let platform = required(input.platform, "platform")?;
        one_of(
            &platform,
            &[
                "Ubuntu",
                "CentOS",
                "Windows Server",
                "Other Linux",
                "Other Windows",
            ],
            "platform",
        )?;
        let disk_format = required(input.disk_format, "diskFormat")?;
        one_of(&disk_format, &["qcow2", "vhd", "vmdk", "raw"], "diskFormat")?;
        let size = required(input.system_disk_size_gb, "systemDiskSizeGB")?;
        if size % 10 != 0 {
            return Err(ApiError::OutOfRange(
                "SystemDiskSizeGB must be multiple of 10".into(),
            ));
        }
        if !(40..=500).contains(&size) {
            return Err(ApiError::OutOfRange("SystemDiskSizeGB out of range".into()));
        }
        let url = required(input.image_url, "imageUrl")?;
        self.check_source("imageUrl", &url).await?;
        let system_source = self.import_source(scope, "imageUrl", &url)?;
        let name = required(input.image_name, "imageName")?;
        if !import_name_ok(&name) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid imageName '{name}'"
            )));
        }
        let description = input.description.unwrap_or_default();
        if !spec::description_ok(&description) {
            return Err(ApiError::InvalidArgument(
                "Invalid description: at most 256 characters".into(),
            ));
        }
        if let Some(b) = &input.boot_mode {
            one_of(b, &["bios", "uefi"], "bootMode")?;
        }
        let mut sources = vec![(system_source, disk_format.clone(), size, "vda".to_string())];
        for (i, dd) in input.data_disks.iter().enumerate() {
            let u = required(dd.url.clone(), "dataDisks.imageUrl")?;
            self.check_source("dataDisks.imageUrl", &u).await?;
            let u = self.import_source(scope, "dataDisks.imageUrl", &u)?;
            let f = dd.disk_format.clone().unwrap_or_else(|| "qcow2".into());
            one_of(&f, &["qcow2", "vhd", "vmdk", "raw"], "dataDisks.diskFormat")?;
            let s = required(dd.size_gb, "dataDisks.dataDiskSizeGB")?;
            if !spec::size_ok("ssd.gp1", s) {
                return Err(ApiError::OutOfRange(
                    "DataDisks.DataDiskSizeGB out of range".into(),
                ));
            }
            let device = spec::data_device_names()
                .nth(i)
                .ok_or_else(|| ApiError::OutOfRange("DataDisks out of range".into()))?;
            sources.push((u, f, s, device));
        }
        super::idempotency::check_token(input.client_token.as_deref())?;
        let client_token = input.client_token;
        let urls: Vec<&str> = sources.iter().map(|s| s.0.as_str()).collect();
        let need = self.import_bytes(&urls).await?;
        self.ensure_room(need, "importing the image")?;

        Ok(ValidImport {
            name,
            description,
            platform,
            os_type,
            os_version: input.os_version.unwrap_or_default(),
            architecture,
            size,
            url,
            sources,
            client_token,
        })
    }

    /// The imported image's rows: a snapshot per source, the image, its imageTasks record
    /// and the task that fetches the data. The image id and the image task id.
    async fn record_import(
        &self,
        c: &mut store::Db,
        scope: &Scope,
        import: ValidImport,
    ) -> ApiResult<(String, String)> {
        let ValidImport {
            name,
            description,
            platform,
            os_type,
            os_version,
            architecture,
            size,
            url,
            sources,
            ..
        } = import;
        let image_id = ids::image_id();
        let now = now_ms();
        let mut devices = Vec::new();
        let mut plan = Vec::new();
        for (u, f, s, device) in &sources {
            let sid = ids::snapshot_id();
            store::snapshot::snapshot_insert(
                c,
                &SnapshotRow {
                    id: sid.clone(),
                    pin: scope.pin.clone(),
                    region: scope.region.clone(),
                    disk_id: String::new(),
                    name: format!("{image_id}-{device}"),
                    description: format!("Imported for {image_id}"),
                    status: SnapshotStatus::Creating,
                    size_gb: *s,
                    layer_id: None,
                    encrypted: false,
                    made_for_image: image_id.clone(),
                    created_at: now,
                    seq: self.store.next_seq(),
                },
            )
            .await?;
            devices.push(ImageBlockDevice {
                device_name: device.clone(),
                disk_category: "cloud".into(),
                disk_type: "ssd.gp1".into(),
                disk_size_gb: *s,
                iops: spec::default_iops("ssd.gp1", *s),
                snapshot_id: sid.clone(),
                auto_delete: device == "vda",
                encrypted: false,
            });
            plan.push(payload::ImportSource {
                snapshot_id: sid.clone(),
                url: u.clone(),
                format: qemu_format(f).to_string(),
                size_gb: *s,
                layer_id: ids::layer_id(),
            });
        }
        store::image::image_insert(
            c,
            &ImageRow {
                id: image_id.clone(),
                pin: scope.pin.clone(),
                region: scope.region.clone(),
                name: name.clone(),
                description,
                image_source: "private".into(),
                platform,
                os_version,
                os_type: os_type.clone(),
                architecture,
                system_disk_size_gb: size,
                status: ImageStatus::Pending,
                root_device_type: "cloudDisk".into(),
                layer_id: None,
                snapshot_id: devices[0].snapshot_id.clone(),
                instance_id: String::new(),
                size_mb: 0,
                login_name: if os_type == "windows" {
                    "Administrator"
                } else {
                    "root"
                }
                .into(),
                imported: true,
                block_devices: serde_json::to_string(&devices).map_err(ApiError::internal)?,
                created_at: now,
                seq: self.store.next_seq(),
                released: false,
                progress: 0,
            },
        )
        .await?;
        let task_id = store::counter_next(c, "image_task").await?.to_string();
        store::image_task::image_task_insert(
            c,
            &ImageTaskRow {
                id: task_id.clone(),
                pin: scope.pin.clone(),
                region: scope.region.clone(),
                action: "ImportImage".into(),
                status: ImageTaskStatus::Pending,
                progress: 0,
                image_id: image_id.clone(),
                image_name: name,
                url,
                objects: "[]".into(),
                error: String::new(),
                created_at: now,
                finished_at: 0,
                seq: self.store.next_seq(),
            },
        )
        .await?;
        tasks::enqueue(
            c,
            &image_id,
            &payload::ImageImport {
                image_task_id: task_id.clone(),
                sources: plan,
            },
            Default::default(),
        )
        .await?;
        Ok((image_id, task_id))
    }

    pub async fn image_export(
        &self,
        scope: &Scope,
        image_id: &str,
        input: ExportImageInput,
    ) -> ApiResult<String> {
        let role = required(input.role_name, "roleName")?;
        if role.trim().is_empty() {
            return Err(ApiError::InvalidArgument(
                "Parameter roleName missing".into(),
            ));
        }
        let oss_url = required(input.oss_url, "ossUrl")?;
        let dir = self.export_target(scope, &oss_url)?;
        let prefix = input.oss_prefix.unwrap_or_default();
        if prefix.chars().count() > 32 || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid ossPrefix '{prefix}'"
            )));
        }
        super::idempotency::check_token(input.client_token.as_deref())?;
        let mut tx = self.store.write().await?;
        let c = &mut *tx;
        if let Some(r) =
            super::idempotency::replay(c, scope, EXPORT_OP, input.client_token.as_deref()).await?
        {
            return Ok(r);
        }
        let image = self
            .image_for_change(c, scope, image_id, "Can't use this image")
            .await?;
        if image.status != ImageStatus::Ready {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid image status '{}'",
                image.status
            )));
        }
        if image.root_device_type != "cloudDisk" {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid image type '{}'",
                image.root_device_type
            )));
        }
        if image.platform == "Windows Server" && !image.imported {
            return Err(ApiError::FailedPrecondition(
                "Windows image can't export".into(),
            ));
        }
        let mut files = Vec::new();
        for d in image.devices() {
            if d.device_name != "vda" && !input.all_disks {
                continue;
            }
            if d.snapshot_id.is_empty() {
                continue;
            }
            let snap = store::snapshot::snapshot_by_id(c, &d.snapshot_id)
                .await?
                .and_then(|s| s.layer_id)
                .ok_or_else(|| ApiError::FailedPrecondition("Can't use this image".into()))?;
            let file = if d.device_name == "vda" {
                format!("{prefix}{image_id}.qcow2")
            } else {
                format!("{prefix}{image_id}-{}.qcow2", d.device_name)
            };
            files.push(payload::ExportFile {
                layer_id: snap,
                dest: format!("{}/{file}", dir.trim_end_matches('/')),
                object: file,
            });
        }
        let task_id = store::counter_next(c, "image_task").await?.to_string();
        store::image_task::image_task_insert(
            c,
            &ImageTaskRow {
                id: task_id.clone(),
                pin: scope.pin.clone(),
                region: scope.region.clone(),
                action: "ExportImage".into(),
                status: ImageTaskStatus::Pending,
                progress: 0,
                image_id: image_id.to_string(),
                image_name: image.name.clone(),
                url: oss_url,
                objects: "[]".into(),
                error: String::new(),
                created_at: now_ms(),
                finished_at: 0,
                seq: self.store.next_seq(),
            },
        )
        .await?;
        tasks::enqueue(
            c,
            image_id,
            &payload::ImageExport {
                image_task_id: task_id.clone(),
                files,
            },
            Default::default(),
        )
        .await?;
        super::idempotency::remember(c, scope, EXPORT_OP, input.client_token.as_deref(), &task_id)
            .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(task_id)
    }

    pub async fn image_tasks(&self, q: ImageTaskQuery) -> ApiResult<(Vec<ImageTaskRow>, i64)> {
        for a in &q.actions {
            one_of(
                a,
                &["ImportImage", "ExportImage", "CopyImage", "ConvertImage"],
                "taskAction",
            )?;
        }
        for s in &q.statuses {
            if s.parse::<ImageTaskStatus>().is_err() {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid taskStatus '{s}'"
                )));
            }
        }
        let mut conn = self.store.read().await?;
        Ok(store::image_task::image_task_list(&mut conn, &q).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_need_a_file_root() {
        let none = FileRoots::default();
        let e = check_file_root(&none, "imageUrl", "file:///tmp/a", "/tmp/a").unwrap_err();
        assert!(
            e.wire_message().contains("not enabled"),
            "{}",
            e.wire_message()
        );
        let tmp = std::env::temp_dir();
        let roots = FileRoots::new(std::slice::from_ref(&tmp)).unwrap();
        let inside = tmp.join("a.qcow2");
        assert!(check_file_root(&roots, "imageUrl", "u", inside.to_str().unwrap()).is_ok());
        let e = check_file_root(&roots, "ossUrl", "u", "/etc").unwrap_err();
        assert!(e.wire_message().contains("outside"), "{}", e.wire_message());
    }

    #[test]
    fn source_urls() {
        assert!(check_source_url("file:///tmp/a.qcow2").is_ok());
        assert!(check_source_url("http://127.0.0.1:9/a.raw").is_ok());
        assert!(check_source_url("file://relative").is_err());
        assert!(check_source_url("https://oss.example/a").is_ok());
        assert!(check_source_url("ftp://oss.example/a").is_err());
        assert_eq!(qemu_format("vhd"), "vpc");
    }
}
