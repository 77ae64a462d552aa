use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sqlx::QueryBuilder;

use super::{push_in, push_like_any, Conn, DbResult, ImageRow, Stmt};

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
                let row = image_by_id(&mut *store.read().await?, id).await?;
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

pub async fn image_list(conn: &mut Conn, q: &ImageQuery) -> DbResult<(Vec<ImageRow>, i64)> {
    // What the caller sees is two disjoint sets: the public catalog (pin and region empty)
    // and its own images in the region. Each is one arm that an index walks in `seq`
    // order, so a page is a merge of two ordered index scans (no sort of every visible
    // row, no OR that defeats the index); the page's ids come from the index alone and
    // only those rows are read.
    let own_is_public = q.pin.is_empty() && q.region.is_empty();
    let arm = |qb: &mut QueryBuilder<'_, sqlx::Any>, select: &str, public: bool| {
        qb.push(format!("SELECT {select} FROM images WHERE pin = "));
        if public {
            qb.push("'' AND region = ''");
        } else {
            qb.push_bind(q.pin.clone());
            qb.push(" AND region = ");
            qb.push_bind(q.region.clone());
        }
        push_in(qb, "image_source", &q.sources);
        push_in(qb, "id", &q.ids);
        push_in(qb, "platform", &q.platforms);
        push_in(qb, "root_device_type", &q.root_device_types);
        push_in(qb, "status", &q.statuses);
        push_in(qb, "architecture", &q.architectures);
        push_in(qb, "instance_id", &q.instance_ids);
        push_like_any(qb, "name", &q.names);
    };
    // Without filters beyond the source, each arm's size is a counter row; otherwise the
    // arms are counted from the index.
    let only_sources = q.ids.is_empty()
        && q.platforms.is_empty()
        && q.names.is_empty()
        && q.root_device_types.is_empty()
        && q.statuses.is_empty()
        && q.architectures.is_empty()
        && q.instance_ids.is_empty();
    let (public, own) = if only_sources {
        image_arm_counts(conn, q).await?
    } else {
        let mut count = QueryBuilder::new("SELECT (");
        arm(&mut count, "COUNT(*)", true);
        count.push("), (");
        if own_is_public {
            count.push("0");
        } else {
            arm(&mut count, "COUNT(*)", false);
        }
        count.push(")");
        let (sql, args) = super::finish(&mut count)?;
        sqlx::query_as_with(&sql, args)
            .fetch_one(&mut *conn)
            .await?
    };
    let total = public + own;
    if total == 0 || q.offset >= total {
        return Ok((vec![], total));
    }
    // An empty arm is left out: one index scan instead of a merge of two.
    let mut list = QueryBuilder::new("SELECT * FROM images WHERE id IN (SELECT id FROM (");
    match (public > 0, own > 0) {
        (true, true) => {
            arm(&mut list, "id, seq", true);
            list.push(" UNION ALL ");
            arm(&mut list, "id, seq", false);
        }
        (true, false) => arm(&mut list, "id, seq", true),
        _ => arm(&mut list, "id, seq", false),
    }
    list.push(" ORDER BY seq, id LIMIT ");
    list.push_bind(q.limit);
    list.push(" OFFSET ");
    list.push_bind(q.offset);
    list.push(") AS page) ORDER BY seq, id");
    let (sql, args) = super::finish(&mut list)?;
    let rows = sqlx::query_as_with(&sql, args)
        .fetch_all(&mut *conn)
        .await?;
    Ok((rows, total))
}

/// How many images of `sources` (every source if empty) are in each arm of a listing:
/// (public catalog, the account's own in the region), from `resource_counts`.
async fn image_arm_counts(conn: &mut Conn, q: &ImageQuery) -> DbResult<(i64, i64)> {
    let mut qb = QueryBuilder::new(
        "SELECT CAST(COALESCE(SUM(CASE WHEN pin = '' AND region = '' THEN n ELSE 0 END), 0)
                 AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN pin = '' AND region = '' THEN 0 ELSE n END), 0)
                 AS BIGINT)
         FROM resource_counts WHERE kind = 'image' AND ((pin = '' AND region = '') OR (pin = ",
    );
    qb.push_bind(q.pin.clone());
    qb.push(" AND region = ");
    qb.push_bind(q.region.clone());
    qb.push("))");
    push_in(&mut qb, "source", &q.sources);
    let (sql, args) = super::finish(&mut qb)?;
    let (public, own): (i64, i64) = sqlx::query_as_with(&sql, args)
        .fetch_one(&mut *conn)
        .await?;
    Ok((
        public,
        if q.pin.is_empty() && q.region.is_empty() {
            0
        } else {
            own
        },
    ))
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
    images_changing();
    sqlx::query("UPDATE images SET layer_id = $1, size_mb = $2 WHERE id = $3")
        .bind(layer_id)
        .bind(size_mb)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves an image to `status` only from one of `from`; false if it was not there.
pub async fn image_transition(
    conn: &mut Conn,
    id: &str,
    from: &[&str],
    status: &str,
) -> DbResult<bool> {
    images_changing();
    super::guarded_update(conn, "images", id, &[("status", Some(status))], false, from).await
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
