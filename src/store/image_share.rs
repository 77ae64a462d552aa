//! Who else may use an image: shares (shareImage, to named accounts) and release
//! (releaseImage: a community image, for every account in its region). The owner's pin is on
//! the image; `image_shares` holds the others.

use super::image::ImageQuery;
use super::{Db, DbResult, ImageRow, Stmt, IMAGE_COLUMNS};

pub async fn image_share_add(db: &mut Db, image_id: &str, pin: &str, now: i64) -> DbResult<()> {
    let st = Stmt::new(
        "INSERT INTO image_shares(image_id, pin, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (image_id, pin) DO NOTHING",
    )
    .bind(image_id)
    .bind(pin)
    .bind(now);
    db.execute(st).await?;
    Ok(())
}

pub async fn image_share_remove(db: &mut Db, image_id: &str, pin: &str) -> DbResult<()> {
    let st = Stmt::new("DELETE FROM image_shares WHERE image_id = $1 AND pin = $2")
        .bind(image_id)
        .bind(pin);
    db.execute(st).await?;
    Ok(())
}

/// Revokes every share of the image (releaseImage).
pub async fn image_shares_clear(db: &mut Db, image_id: &str) -> DbResult<()> {
    let st = Stmt::new("DELETE FROM image_shares WHERE image_id = $1").bind(image_id);
    db.execute(st).await?;
    Ok(())
}

/// The accounts the image is shared with, in the order they got it.
pub async fn image_share_pins(db: &mut Db, image_id: &str) -> DbResult<Vec<String>> {
    let st = Stmt::new("SELECT pin FROM image_shares WHERE image_id = $1 ORDER BY created_at, pin")
        .bind(image_id);
    db.scalar_all(st).await
}

pub async fn image_set_released(db: &mut Db, image_id: &str, released: bool) -> DbResult<()> {
    let st = Stmt::new("UPDATE images SET released = $1 WHERE id = $2")
        .bind(released)
        .bind(image_id);
    db.execute(st).await?;
    Ok(())
}

/// An image of another account that `pin` may use in `region`: shared with it, or
/// released (community).
pub async fn image_get_received(
    db: &mut Db,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<ImageRow>> {
    let st = Stmt::new(format!(
        "SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1 AND region = $2 AND pin <> $3
           AND pin <> '' AND (released = $4
             OR EXISTS (SELECT 1 FROM image_shares s WHERE s.image_id = images.id AND s.pin = $3))"
    ))
    .bind(id)
    .bind(region)
    .bind(pin)
    .bind(true);
    db.fetch_optional(st).await
}

/// Which of another account's images `pin` sees under an image source of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// imageSource=shared: shared with `pin`.
    Shared,
    /// imageSource=community: released, by any account but `pin`.
    Community,
    /// Either of them (describeImages by `ids` without an imageSource).
    Either,
}

/// A page of the images `q.pin` receives in `q.region` (`seq` order) that meet the other
/// conditions of `q`, and how many there are.
pub async fn image_list_received(
    db: &mut Db,
    q: &ImageQuery,
    kind: Received,
) -> DbResult<(Vec<ImageRow>, i64)> {
    let (pin, region) = (&q.pin, &q.region);
    let select = |cols: &str| {
        let mut st = Stmt::new(format!("SELECT {cols} FROM images WHERE region = "));
        st.push_bind(region.to_string())
            .push(" AND pin <> '' AND pin <> ")
            .push_bind(pin.to_string());
        match kind {
            Received::Community => {
                st.push(" AND released = ").push_bind(true);
            }
            Received::Shared => {
                st.push(" AND id IN (SELECT image_id FROM image_shares WHERE pin = ")
                    .push_bind(pin.to_string())
                    .push(")");
            }
            Received::Either => {
                st.push(" AND (released = ")
                    .push_bind(true)
                    .push(" OR id IN (SELECT image_id FROM image_shares WHERE pin = ")
                    .push_bind(pin.to_string())
                    .push("))");
            }
        }
        super::image::push_conditions(&mut st, q);
        st
    };
    super::list_page(db, select, IMAGE_COLUMNS, "seq, id", (q.limit, q.offset)).await
}

pub async fn image_set_attributes(
    db: &mut Db,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> DbResult<()> {
    super::set_name_and_description(db, "images", id, name, description).await
}
