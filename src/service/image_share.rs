//! An image's other users and its attributes: modifyImageAttribute; shareImage,
//! unShareImage and describeImageMembers (named accounts); releaseImage and unReleaseImage
//! (a community image for every account of the region); and how an image another account
//! shared or released looks to its receivers.

use super::{spec, Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::image_share::{self, Received};
use crate::store::status::ImageStatus;
use crate::store::{self, now_ms, Db, ImageRow};

/// What `image_for_change` says to a caller who may see the image but not change it.
const NOT_OURS: &str = "Can't use this image";

impl Service {
    /// The caller's own private image, for a change: 404 as for a nonexistent id when the
    /// caller cannot see it; `refusal` when it sees it but does not own it (a public image,
    /// or one shared with it or released).
    pub(crate) async fn image_for_change(
        &self,
        db: &mut Db,
        scope: &Scope,
        id: &str,
        refusal: &str,
    ) -> ApiResult<ImageRow> {
        let refused = || ApiError::FailedPrecondition(refusal.into());
        if let Some(img) =
            store::image::image_get_visible(db, &scope.pin, &scope.region, id).await?
        {
            return match img.image_source.as_str() {
                "private" if img.pin == scope.pin => Ok(img),
                _ => Err(refused()),
            };
        }
        match image_share::image_get_received(db, &scope.pin, &scope.region, id).await? {
            Some(_) => Err(refused()),
            None => Err(ApiError::image_not_found(id)),
        }
    }

    /// An image shared with the caller or released by another account, as the caller sees
    /// it (`imageSource` shared or community).
    pub(crate) async fn image_received(
        &self,
        scope: &Scope,
        id: &str,
    ) -> ApiResult<Option<ImageRow>> {
        let mut db = self.store.read().await?;
        let found = image_share::image_get_received(&mut db, &scope.pin, &scope.region, id).await?;
        Ok(found.map(|img| as_received(img, &scope.pin)))
    }

    /// describeImages with imageSource shared or community.
    pub(crate) async fn image_list_received(
        &self,
        q: &store::image::ImageQuery,
        kind: Received,
    ) -> ApiResult<(Vec<ImageRow>, i64)> {
        let mut db = self.store.read().await?;
        let (rows, total) = image_share::image_list_received(&mut db, q, kind).await?;
        let rows = rows.into_iter().map(|r| as_received(r, &q.pin)).collect();
        Ok((rows, total))
    }

    /// modifyImageAttribute: a new name and/or description for the caller's private image.
    pub async fn image_modify(
        &self,
        scope: &Scope,
        id: &str,
        name: Option<String>,
        description: Option<String>,
    ) -> ApiResult<()> {
        if name.is_none() && description.is_none() {
            return Err(ApiError::InvalidArgument(
                "Parameter name、description missing".into(),
            ));
        }
        if let Some(n) = name.as_deref().filter(|n| !spec::image_name_ok(n)) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid image name '{n}'"
            )));
        }
        if description
            .as_deref()
            .is_some_and(|d| !spec::description_ok(d))
        {
            return Err(ApiError::InvalidArgument(
                "Invalid image description: at most 256 characters".into(),
            ));
        }
        let mut tx = self.store.write().await?;
        let img = self.image_for_change(&mut tx, scope, id, NOT_OURS).await?;
        check_no_image_task(&img)?;
        image_share::image_set_attributes(&mut tx, id, name.as_deref(), description.as_deref())
            .await?;
        Ok(tx.commit().await?)
    }

    /// shareImage: the caller's ready private image for the accounts `pins` (at most
    /// `--quota share` accounts per image).
    pub async fn image_share(&self, scope: &Scope, id: &str, pins: Vec<String>) -> ApiResult<()> {
        if pins.is_empty() {
            return Err(ApiError::InvalidArgument("Parameter pins missing".into()));
        }
        let mut tx = self.store.write().await?;
        let img = self.image_for_change(&mut tx, scope, id, NOT_OURS).await?;
        if img.released {
            return Err(ApiError::FailedPrecondition(
                "Community image can't be shared".into(),
            ));
        }
        check_no_image_task(&img)?;
        check_ready(&img)?;
        if let Some(sid) = encrypted_snapshot(&img) {
            return Err(ApiError::FailedPrecondition(format!(
                "Share encrypted snapshot '{sid}' is not support."
            )));
        }
        for pin in &pins {
            check_receiver(&mut tx, scope, pin).await?;
        }
        let mut members = image_share::image_share_pins(&mut tx, id).await?;
        for pin in pins {
            if !members.contains(&pin) {
                members.push(pin);
            }
        }
        if members.len() as i64 > self.cfg.quotas.share {
            return Err(ApiError::QuotaExceeded(
                "Image share quota limit exceeded".into(),
            ));
        }
        let now = now_ms();
        for pin in &members {
            image_share::image_share_add(&mut tx, id, pin, now).await?;
        }
        Ok(tx.commit().await?)
    }

    /// unShareImage: the accounts `pins` no longer see the image; what they launched from
    /// it keeps running.
    pub async fn image_unshare(&self, scope: &Scope, id: &str, pins: Vec<String>) -> ApiResult<()> {
        if pins.is_empty() {
            return Err(ApiError::InvalidArgument("Parameter pins missing".into()));
        }
        let mut tx = self.store.write().await?;
        self.image_for_change(&mut tx, scope, id, NOT_OURS).await?;
        for pin in &pins {
            image_share::image_share_remove(&mut tx, id, pin).await?;
        }
        Ok(tx.commit().await?)
    }

    /// describeImageMembers: the accounts the caller's image is shared with.
    pub async fn image_members(&self, scope: &Scope, id: &str) -> ApiResult<Vec<String>> {
        let mut db = self.store.read().await?;
        self.image_for_change(&mut db, scope, id, NOT_OURS).await?;
        Ok(image_share::image_share_pins(&mut db, id).await?)
    }

    /// How many accounts the caller's image is shared with (describeQuotas' imageShare).
    /// Any image the caller may see (404 otherwise); shares count on its own images only.
    pub(crate) async fn image_share_count(&self, scope: &Scope, id: &str) -> ApiResult<i64> {
        let image = self.image_fetch(scope, id).await?;
        if image.pin != scope.pin || image.image_source != "private" {
            return Ok(0);
        }
        let mut db = self.store.read().await?;
        Ok(image_share::image_share_pins(&mut db, id).await?.len() as i64)
    }

    /// releaseImage: the caller's ready cloudDisk image becomes a community image; every
    /// share is revoked.
    pub async fn image_release(&self, scope: &Scope, id: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let img = self
            .image_for_change(&mut tx, scope, id, "Can't use non-private image")
            .await?;
        if img.root_device_type != "cloudDisk" {
            return Err(ApiError::FailedPrecondition(
                "Only cloud disk can be released".into(),
            ));
        }
        check_no_image_task(&img)?;
        check_ready(&img)?;
        if encrypted_snapshot(&img).is_some() {
            return Err(ApiError::FailedPrecondition(
                "Release encrypted snapshot is not support.".into(),
            ));
        }
        image_share::image_shares_clear(&mut tx, id).await?;
        image_share::image_set_released(&mut tx, id, true).await?;
        Ok(tx.commit().await?)
    }

    /// unReleaseImage: the image is the caller's alone again.
    pub async fn image_unrelease(&self, scope: &Scope, id: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        self.image_for_change(&mut tx, scope, id, "Can't use non-private image")
            .await?;
        image_share::image_set_released(&mut tx, id, false).await?;
        Ok(tx.commit().await?)
    }
}

/// `img` as a receiver sees it: its source is how the receiver got it.
fn as_received(mut img: ImageRow, _pin: &str) -> ImageRow {
    img.image_source = if img.released { "community" } else { "shared" }.into();
    img
}

/// An image being made, copied or converted cannot change hands or names.
fn check_no_image_task(img: &ImageRow) -> ApiResult<()> {
    match img.status {
        ImageStatus::Pending | ImageStatus::Deleting => Err(ApiError::FailedPrecondition(format!(
            "The image '{}' is busy",
            img.id
        ))),
        _ => Ok(()),
    }
}

fn check_ready(img: &ImageRow) -> ApiResult<()> {
    if img.status != ImageStatus::Ready {
        return Err(ApiError::FailedPrecondition(format!(
            "Invalid image status '{}'",
            img.status
        )));
    }
    Ok(())
}

/// The first encrypted disk snapshot of the image, if any.
fn encrypted_snapshot(img: &ImageRow) -> Option<String> {
    img.devices()
        .into_iter()
        .find(|d| d.encrypted && !d.snapshot_id.is_empty())
        .map(|d| d.snapshot_id)
}

/// A receiver must be another existing account.
async fn check_receiver(db: &mut Db, scope: &Scope, pin: &str) -> ApiResult<()> {
    if pin == scope.pin || pin.is_empty() || pin.len() > 64 {
        return Err(ApiError::FailedPrecondition(format!("Invalid pin '{pin}'")));
    }
    if store::account::account_by_pin(db, pin).await?.is_none() {
        return Err(ApiError::FailedPrecondition(format!(
            "Pin '{pin}' not found"
        )));
    }
    Ok(())
}
