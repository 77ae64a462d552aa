//! Images: describeImage and describeImages (public catalog and private images).

use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::image::ImageQuery;
use crate::store::image_share::Received;
use crate::store::status::ImageStatus;
use crate::store::{self, ImageRow};
use crate::tasks::{self, payload};

pub const IMAGE_SOURCES: &[&str] = &["public", "thirdparty", "private", "shared", "community"];

#[derive(Debug, Clone, Default)]
pub struct ImageListInput {
    pub image_source: Option<String>,
    pub ids: Vec<String>,
    pub platform: Option<String>,
    pub image_name: Option<String>,
    pub root_device_type: Option<String>,
    pub launch_permission: Option<String>,
    pub status: Option<String>,
    pub architecture: Option<String>,
    pub instance_ids: Vec<String>,
    pub offset: i64,
    pub limit: i64,
}

impl Service {
    /// describeImage: a public image, the caller's own, or one another account shared
    /// with it or released.
    pub async fn image_fetch(&self, scope: &Scope, id: &str) -> ApiResult<ImageRow> {
        let own = self
            .store
            .image_visible(None, &scope.pin, &scope.region, id)
            .await?;
        let found = match own {
            Some(img) => Some(img),
            None => self.image_received(scope, id).await?,
        };
        found.ok_or_else(|| ApiError::image_not_found(id))
    }

    pub async fn image_list(
        &self,
        scope: &Scope,
        input: ImageListInput,
    ) -> ApiResult<(Vec<ImageRow>, i64)> {
        if input.image_source.is_none() && input.ids.is_empty() {
            return Err(ApiError::FailedPrecondition(
                "Parameter ImageSource missing".into(),
            ));
        }
        let mut q = ImageQuery {
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            ids: input.ids,
            instance_ids: input.instance_ids,
            offset: input.offset,
            limit: input.limit,
            ..Default::default()
        };
        if let Some(src) = input.image_source {
            if !IMAGE_SOURCES.contains(&src.as_str()) {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid imageSource '{src}'"
                )));
            }
            q.sources = vec![src];
        }
        let received = match q.sources.first().map(String::as_str) {
            Some("shared") => Some(Received::Shared),
            Some("community") => Some(Received::Community),
            _ => None,
        };
        if let Some(rdt) = input.root_device_type {
            if !["localDisk", "cloudDisk"].contains(&rdt.as_str()) {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid rootDeviceType '{rdt}'"
                )));
            }
            q.root_device_types = vec![rdt];
        }
        if let Some(lp) = input.launch_permission {
            if !["all", "specifiedUsers", "ownerOnly"].contains(&lp.as_str()) {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid launchPermission '{lp}'"
                )));
            }
            // Private images are owner-only until sharing exists; public ones are for all.
            let src = if lp == "all" { "public" } else { "private" };
            if lp == "specifiedUsers" {
                return Ok((vec![], 0));
            }
            q.sources.push(src.into());
            if q.sources.len() == 2 && q.sources[0] != q.sources[1] {
                return Ok((vec![], 0));
            }
        }
        q.platforms = input.platform.into_iter().collect();
        q.names = input.image_name.into_iter().collect();
        q.statuses = input.status.into_iter().collect();
        q.architectures = input.architecture.into_iter().collect();
        if let Some(kind) = received.filter(|_| q.sources.len() == 1) {
            q.sources.clear();
            return self.image_list_received(&q, kind).await;
        }
        if q.sources.is_empty() {
            return self.image_list_by_ids(q).await;
        }
        Ok(store::image::image_list(&mut *self.store.read().await?, &q).await?)
    }

    /// describeImages by `ids` without an imageSource: every image of those ids the caller
    /// may see, whatever its source — public, its own, shared with it or released. The ids
    /// bound the set, so both parts are read whole and paged together.
    async fn image_list_by_ids(&self, q: ImageQuery) -> ApiResult<(Vec<ImageRow>, i64)> {
        let (offset, limit) = (q.offset.max(0) as usize, q.limit.max(0) as usize);
        let whole = ImageQuery {
            offset: 0,
            limit: q.ids.len() as i64,
            ..q
        };
        let (mut rows, _) =
            store::image::image_list(&mut *self.store.read().await?, &whole).await?;
        let (received, _) = self.image_list_received(&whole, Received::Either).await?;
        rows.extend(received);
        rows.sort_by(|a, b| (a.seq, &a.id).cmp(&(b.seq, &b.id)));
        let total = rows.len() as i64;
        Ok((rows.into_iter().skip(offset).take(limit).collect(), total))
    }
}

impl Service {
    /// deleteImage: private `ready`/`error` images only; with `delete_snapshot` its
    /// snapshots go too (those no other image uses).
    pub async fn image_delete(
        &self,
        scope: &Scope,
        id: &str,
        delete_snapshot: bool,
    ) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let c = &mut *tx;
        let image = self
            .image_for_change(c, scope, id, "Can't delete this image")
            .await?;
        if image.released {
            return Err(ApiError::FailedPrecondition(
                "Can't delete community image".into(),
            ));
        }
        if !store::image_share::image_share_pins(c, id)
            .await?
            .is_empty()
        {
            return Err(ApiError::FailedPrecondition(
                "Can't delete shared image".into(),
            ));
        }
        if ![ImageStatus::Ready, ImageStatus::Error].contains(&image.status) {
            // Packer deletes the image it just made and relies on this refusal.
            return Err(ApiError::FailedPrecondition(format!(
                "The image '{id}' is busy"
            )));
        }
        // An export still reads the image's layers: the image stays until it is done.
        if self.image_busy(c, id).await? {
            return Err(ApiError::FailedPrecondition(format!(
                "The image '{id}' is busy"
            )));
        }
        if image.root_device_type == "localDisk"
            && store::image::image_instance_count(c, id).await? > 0
        {
            return Err(ApiError::FailedPrecondition(
                "Local-System-Disk image cannot be deleted if it has been used to create instances"
                    .into(),
            ));
        }
        if !store::image::image_transition(
            c,
            id,
            &[ImageStatus::Ready, ImageStatus::Error],
            ImageStatus::Deleting,
        )
        .await?
        {
            return Err(ApiError::FailedPrecondition(format!(
                "The image '{id}' is busy"
            )));
        }
        tasks::enqueue(
            c,
            id,
            &payload::ImageDelete { delete_snapshot },
            self.cfg.delays.task,
        )
        .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(())
    }
}
