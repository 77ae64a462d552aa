use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{Conn, DbResult, ImageRow, Stmt, IMAGE_COLUMNS};

/// describeImages conditions. `pin`/`region` select what the caller may see.
#[derive(Debug, Default, Clone)]
pub struct ImageQuery {
    pub pin: String,
    pub region: String,
    pub sources: Vec<String>,
    pub ids: Vec<String>,
    pub platforms: Vec<String>,
    pub names: Vec<String>,
    pub root_device_types: Vec<String>,
    pub statuses: Vec<String>,
    pub architectures: Vec<String>,
    pub instance_ids: Vec<String>,
    pub offset: i64,
    pub limit: i64,
}

/// Counts changes to `images`: every statement that changes it bumps it before it runs,
/// and the write transaction that ran it bumps it again after it commits (`WriteTx::commit`). A row read while the
/// count stayed the same is still the committed row, which is what [`ImageCache`] relies on.
static CHANGES: AtomicU64 = AtomicU64::new(0);

pub(crate) fn images_changing() {
    CHANGES.fetch_add(1, Ordering::SeqCst);
}

pub(crate) fn images_changes() -> u64 {
    CHANGES.load(Ordering::SeqCst)
}

/// Held by a write transaction from its begin: after its commit, [`ImagesWatch::committed`]
/// bumps [`CHANGES`] again only if images changed meanwhile, so only a transaction that
/// changed images invalidates cached rows (the task worker's claims, once a second even
/// when idle, used to empty the cache).
pub(crate) struct ImagesWatch(u64);

impl ImagesWatch {
    pub(crate) fn begin() -> ImagesWatch {
        ImagesWatch(images_changes())
    }

    pub(crate) fn committed(&self) {
        if images_changes() != self.0 {
            images_changing();
        }
    }
}

/// Image rows by id, as last read (SQLite only: with PostgreSQL other nodes change rows
/// behind this process's back). describeImage is the hottest call; a hit skips the
/// database (a hand-off to its connection thread and SQLite's locking). An entry is used
/// only while no change to `images` has started or committed since it was read.
#[derive(Default)]
pub struct ImageCache {
    rows: Mutex<HashMap<String, (u64, ImageRow)>>,
}

/// Entries kept at most (about 1 KiB each); the cache starts over beyond.
const IMAGE_CACHE_MAX: usize = 50_000;

impl ImageCache {
    /// The image `id` if the caller may see it (public, or its own in the region); a
    /// connection is taken from `store` only when the cache cannot answer.
    pub async fn get_visible(
        &self,
        store: &super::Store,
        pin: &str,
        region: &str,
        id: &str,
    ) -> DbResult<Option<ImageRow>> {
        let seen = CHANGES.load(Ordering::SeqCst);
        let cached = {
            let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
            rows.get(id)
                .filter(|(at, _)| *at == seen)
                .map(|(_, row)| row.clone())
        };
        let row = match cached {
            Some(row) => Some(row),
            None => {
                let row = store.image_by_id(id).await?;
                if let Some(r) = &row {
                    let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
                    if rows.len() >= IMAGE_CACHE_MAX {
                        rows.clear();
                    }
                    rows.insert(id.to_string(), (seen, r.clone()));
                }
                row
            }
        };
        Ok(row.filter(|r| {
            (r.pin.is_empty() && r.region.is_empty()) || (r.pin == pin && r.region == region)
        }))
    }
}

pub async fn image_insert(conn: &mut Conn, i: &ImageRow) -> DbResult<()> {
    image_insert_stmt(i).execute(conn).await?;
    Ok(())
}

/// The insert of `i` (one row). Building it counts as a change to images (see
/// [`images_changing`]): it is built to be run.
pub fn image_insert_stmt(i: &ImageRow) -> Stmt {
    images_changing();
    Stmt::new(
        "INSERT INTO images(id, pin, region, name, description, image_source, platform,
            os_version, os_type, architecture, system_disk_size_gb, status, root_device_type,
            layer_id, snapshot_id, instance_id, size_mb, login_name, block_devices, created_at, seq,
            imported)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)",
    )
    .bind(i.id.clone())
    .bind(i.pin.clone())
    .bind(i.region.clone())
    .bind(i.name.clone())
    .bind(i.description.clone())
    .bind(i.image_source.clone())
    .bind(i.platform.clone())
    .bind(i.os_version.clone())
    .bind(i.os_type.clone())
    .bind(i.architecture.clone())
    .bind(i.system_disk_size_gb)
    .bind(i.status.clone())
    .bind(i.root_device_type.clone())
    .bind(i.layer_id.clone())
    .bind(i.snapshot_id.clone())
    .bind(i.instance_id.clone())
    .bind(i.size_mb)
    .bind(i.login_name.clone())
    .bind(i.block_devices.clone())
    .bind(i.created_at)
    .bind(i.seq)
    .bind(i.imported)
}

/// An image the caller may see: public ones, or its own in this region.
pub async fn image_get_visible(
    conn: &mut Conn,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<ImageRow>> {
    sqlx::query_as(
        "SELECT * FROM images WHERE id = $1
           AND ((pin = '' AND region = '') OR (pin = $2 AND region = $3))",
    )
    .bind(id)
    .bind(pin)
    .bind(region)
    .fetch_optional(conn)
    .await
}

/// A page of the images `q` selects, and how many it selects in all.
pub async fn image_list(conn: &mut Conn, q: &ImageQuery) -> DbResult<(Vec<ImageRow>, i64)> {
    let counts: Vec<(i64, i64)> = image_count_stmt(q).fetch_all(&mut *conn).await?;
    let (public, own) = arm_totals(q, counts.first().copied().unwrap_or_default());
    let total = public + own;
    if total == 0 || q.offset >= total {
        return Ok((vec![], total));
    }
    let rows = image_page_stmt(q, public, own).fetch_all(conn).await?;
    Ok((rows, total))
}

/// [`image_list`] on a direct SQLite reader (see [`super::direct`]).
pub fn image_list_direct(
    conn: &rusqlite::Connection,
    q: &ImageQuery,
) -> rusqlite::Result<(Vec<ImageRow>, i64)> {
    let counts = image_count_stmt(q).query_direct(conn, |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (public, own) = arm_totals(q, counts.first().copied().unwrap_or_default());
    let total = public + own;
    if total == 0 || q.offset >= total {
        return Ok((vec![], total));
    }
    let rows = image_page_stmt(q, public, own).query_direct(conn, ImageRow::from_direct)?;
    Ok((rows, total))
}

/// [`image_by_id`] on a direct SQLite reader.
pub fn image_by_id_direct(
    conn: &rusqlite::Connection,
    id: &str,
) -> rusqlite::Result<Option<ImageRow>> {
    let mut rows = Stmt::new(format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1"))
        .bind(id.to_string())
        .query_direct(conn, ImageRow::from_direct)?;
    Ok(rows.pop())
}

// What the caller sees is two disjoint sets: the public catalog (pin and region empty)
// and its own images in the region. Each is one arm that an index walks in `seq`
// order, so a page is a merge of two ordered index scans (no sort of every visible
// row, no OR that defeats the index); the page's ids come from the index alone and
// only those rows are read.
fn push_arm(st: &mut Stmt, q: &ImageQuery, select: &str, public: bool) {
    st.push(&format!("SELECT {select} FROM images WHERE pin = "));
    if public {
        st.push("'' AND region = ''");
    } else {
        st.push_bind(q.pin.clone());
        st.push(" AND region = ");
        st.push_bind(q.region.clone());
    }
    st.push_in("image_source", &q.sources)
        .push_in("id", &q.ids)
        .push_in("platform", &q.platforms)
        .push_in("root_device_type", &q.root_device_types)
        .push_in("status", &q.statuses)
        .push_in("architecture", &q.architectures)
        .push_in("instance_id", &q.instance_ids)
        .push_like_any("name", &q.names);
}

/// How many images each arm holds: (public catalog, the account's own in the region).
/// Without filters beyond the source, each arm's size is a counter row; otherwise the
/// arms are counted from the index.
fn image_count_stmt(q: &ImageQuery) -> Stmt {
    let only_sources = q.ids.is_empty()
        && q.platforms.is_empty()
        && q.names.is_empty()
        && q.root_device_types.is_empty()
        && q.statuses.is_empty()
        && q.architectures.is_empty()
        && q.instance_ids.is_empty();
    if only_sources {
        let mut st = Stmt::new(
            "SELECT CAST(COALESCE(SUM(CASE WHEN pin = '' AND region = '' THEN n ELSE 0 END), 0)
                     AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN pin = '' AND region = '' THEN 0 ELSE n END), 0)
                     AS BIGINT)
             FROM resource_counts WHERE kind = 'image' AND ((pin = '' AND region = '') OR (pin = ",
        );
        st.push_bind(q.pin.clone())
            .push(" AND region = ")
            .push_bind(q.region.clone())
            .push("))")
            .push_in("source", &q.sources);
        return st;
    }
    let mut st = Stmt::new("SELECT (");
    push_arm(&mut st, q, "COUNT(*)", true);
    st.push("), (");
    push_arm(&mut st, q, "COUNT(*)", false);
    st.push(")");
    st
}

/// The arms' sizes as a listing counts them: a caller whose own arm is the public catalog
/// (no account, no region) sees it once.
fn arm_totals(q: &ImageQuery, (public, own): (i64, i64)) -> (i64, i64) {
    let own_is_public = q.pin.is_empty() && q.region.is_empty();
    (public, if own_is_public { 0 } else { own })
}

/// The rows of the page `q` asks for, in listing order; an empty arm is left out (one
/// index scan instead of a merge of two).
fn image_page_stmt(q: &ImageQuery, public: i64, own: i64) -> Stmt {
    let mut st = Stmt::new(format!(
        "SELECT {IMAGE_COLUMNS} FROM images WHERE id IN (SELECT id FROM ("
    ));
    match (public > 0, own > 0) {
        (true, true) => {
            push_arm(&mut st, q, "id, seq", true);
            st.push(" UNION ALL ");
            push_arm(&mut st, q, "id, seq", false);
        }
        (true, false) => push_arm(&mut st, q, "id, seq", true),
        _ => push_arm(&mut st, q, "id, seq", false),
    }
    st.push(" ORDER BY seq, id LIMIT ")
        .push_bind(q.limit)
        .push(" OFFSET ")
        .push_bind(q.offset)
        .push(") AS page) ORDER BY seq, id");
    st
}

pub async fn image_public_count(conn: &mut Conn) -> DbResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM images WHERE image_source = 'public'")
        .fetch_one(conn)
        .await
}

pub async fn image_by_id(conn: &mut Conn, id: &str) -> DbResult<Option<ImageRow>> {
    sqlx::query_as("SELECT * FROM images WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn image_set_layer(
    conn: &mut Conn,
    id: &str,
    layer_id: Option<&str>,
    size_mb: i64,
) -> DbResult<()> {
    image_set_layer_stmt(id, layer_id, size_mb)
        .execute(conn)
        .await?;
    Ok(())
}

/// [`image_set_layer`] as a statement. Building it counts as a change to images (see
/// [`images_changing`]).
pub fn image_set_layer_stmt(id: &str, layer_id: Option<&str>, size_mb: i64) -> Stmt {
    images_changing();
    Stmt::new("UPDATE images SET layer_id = $1, size_mb = $2 WHERE id = $3")
        .bind(layer_id)
        .bind(size_mb)
        .bind(id)
}

/// Moves an image to `status` only from one of `from`; false if it was not there.
pub async fn image_transition(
    conn: &mut Conn,
    id: &str,
    from: &[&str],
    status: &str,
) -> DbResult<bool> {
    Ok(image_transition_stmt(id, from, status)
        .execute(conn)
        .await?
        == 1)
}

/// [`image_transition`] as a statement (it changes one row when the image was in `from`).
/// Building it counts as a change to images (see [`images_changing`]).
pub fn image_transition_stmt(id: &str, from: &[&str], status: &str) -> Stmt {
    images_changing();
    super::guarded_update_stmt("images", id, &[("status", Some(status))], false, from)
}

pub async fn image_delete(conn: &mut Conn, id: &str) -> DbResult<()> {
    images_changing();
    sqlx::query("DELETE FROM images WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How many instances were launched from the image and still exist.
pub async fn image_instance_count(conn: &mut Conn, id: &str) -> DbResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE image_id = $1")
        .bind(id)
        .fetch_one(conn)
        .await
}

pub async fn image_set_size(conn: &mut Conn, id: &str, size_mb: i64) -> DbResult<()> {
    images_changing();
    sqlx::query("UPDATE images SET size_mb = $1 WHERE id = $2")
        .bind(size_mb)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing read by a direct reader is the listing sqlx reads, row for row and count
    /// for count, whatever the filters, the page and the caller.
    #[tokio::test]
    async fn direct_listing_is_the_sqlx_listing() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(dir.path()).await.unwrap();
        let mut tx = store.write().await.unwrap();
        for i in 0..40i64 {
            let (pin, region) = match i % 4 {
                0 => ("p1", "r1"),
                1 => ("p2", "r1"),
                2 => ("p1", "r2"),
                _ => ("p1", "r1"),
            };
            let mut row = ImageRow::for_test(&format!("img-{i:02}"), pin, region, 1000 + i);
            row.name = ["web_1", "db%2", "back\\slash", "web-3"][(i % 4) as usize].into();
            row.status = if i % 3 == 0 { "ready" } else { "pending" }.into();
            row.platform = if i % 5 == 0 { "CentOS" } else { "Ubuntu" }.into();
            // Every column its own value, so a column read in the wrong place shows.
            row.description = format!("d{i}");
            row.os_version = format!("v{i}");
            row.os_type = format!("t{i}");
            row.architecture = format!("a{i}");
            row.system_disk_size_gb = 40 + i;
            row.root_device_type = format!("rd{i}");
            row.snapshot_id = format!("snap-{i}");
            row.instance_id = format!("i-{i}");
            row.block_devices = format!("[{i}]");
            row.created_at = 7 * i;
            row.size_mb = i * 3;
            row.login_name = if i % 2 == 0 { "root" } else { "" }.into();
            row.imported = i % 7 == 0;
            image_insert(tx.conn(), &row).await.unwrap();
        }
        tx.commit().await.unwrap();
        let base = ImageQuery {
            pin: "p1".into(),
            region: "r1".into(),
            limit: 7,
            ..Default::default()
        };
        let queries = [
            base.clone(),
            ImageQuery {
                offset: 14,
                ..base.clone()
            },
            ImageQuery {
                offset: 1000,
                ..base.clone()
            },
            ImageQuery {
                sources: vec!["private".into()],
                limit: 100,
                ..base.clone()
            },
            ImageQuery {
                statuses: vec!["ready".into()],
                ..base.clone()
            },
            ImageQuery {
                names: vec!["_".into()],
                limit: 100,
                ..base.clone()
            },
            ImageQuery {
                names: vec!["%".into(), "\\".into()],
                limit: 100,
                ..base.clone()
            },
            ImageQuery {
                ids: vec!["img-03".into(), "img-01".into(), "img-07".into()],
                ..base.clone()
            },
            ImageQuery {
                platforms: vec!["CentOS".into()],
                ..base.clone()
            },
            ImageQuery {
                pin: "p2".into(),
                ..base.clone()
            },
            ImageQuery {
                pin: "nobody".into(),
                ..base.clone()
            },
            ImageQuery {
                pin: String::new(),
                region: String::new(),
                ..base.clone()
            },
        ];
        let direct = store.direct.clone().expect("SQLite has direct readers");
        for q in &queries {
            let via_sqlx = image_list(&mut store.read().await.unwrap(), q)
                .await
                .unwrap();
            let via_direct = direct.run(|c| image_list_direct(c, q)).unwrap();
            assert_eq!(format!("{via_direct:?}"), format!("{via_sqlx:?}"), "{q:?}");
        }
        // Not vacuous: the filters select something, and differently.
        let (page, total) = direct.run(|c| image_list_direct(c, &queries[0])).unwrap();
        assert_eq!((page.len(), total), (7, 20));
        let (names, _) = direct.run(|c| image_list_direct(c, &queries[5])).unwrap();
        assert!(names.iter().all(|r| r.name == "web_1"), "{names:?}");
        assert!(!names.is_empty());
        for id in ["img-03", "img-00", "img-nope"] {
            let via_sqlx = image_by_id(&mut store.read().await.unwrap(), id)
                .await
                .unwrap();
            let via_direct = direct.run(|c| image_by_id_direct(c, id)).unwrap();
            assert_eq!(format!("{via_direct:?}"), format!("{via_sqlx:?}"));
        }
    }
}
