use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{Db, DbResult, ImageRow, ImageStatus, Stmt, IMAGE_COLUMNS};

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

/// Image rows by id, as last read (SQLite only: with PostgreSQL other nodes change rows
/// behind this process's back). describeImage is the hottest call; a hit skips the
/// database. An entry is used only while no transaction that changed `images` has
/// committed since it was read: every such commit calls [`ImageCache::changed`]
/// (`WriteTx::commit`, which knows from the statements it ran). A row read before a
/// commit is tagged with the count before it, so it is never used after.
#[derive(Default)]
pub struct ImageCache {
    rows: Mutex<HashMap<String, (u64, ImageRow)>>,
    changes: AtomicU64,
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
        let seen = self.changes.load(Ordering::SeqCst);
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

    /// A transaction that changed `images` committed: every entry read before is stale.
    pub(super) fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }
}

pub async fn image_insert(db: &mut Db, i: &ImageRow) -> DbResult<()> {
    let st = Stmt::new(
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
    .bind(i.status)
    .bind(i.root_device_type.clone())
    .bind(i.layer_id.clone())
    .bind(i.snapshot_id.clone())
    .bind(i.instance_id.clone())
    .bind(i.size_mb)
    .bind(i.login_name.clone())
    .bind(i.block_devices.clone())
    .bind(i.created_at)
    .bind(i.seq)
    .bind(i.imported);
    db.execute(st).await?;
    Ok(())
}

/// An image the caller may see: public ones, or its own in this region.
pub async fn image_get_visible(
    db: &mut Db,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<ImageRow>> {
    db.fetch_optional(
        Stmt::new(format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1
           AND ((pin = '' AND region = '') OR (pin = $2 AND region = $3))",
        ))
        .bind(id)
        .bind(pin)
        .bind(region),
    )
    .await
}

/// A page of the images `q` selects, and how many it selects in all.
pub async fn image_list(db: &mut Db, q: &ImageQuery) -> DbResult<(Vec<ImageRow>, i64)> {
    let counts: Vec<(i64, i64)> = db.fetch_all(image_count_stmt(q)).await?;
    let (public, own) = arm_totals(q, counts.first().copied().unwrap_or_default());
    let total = public + own;
    if total == 0 || q.offset >= total {
        return Ok((vec![], total));
    }
    let rows = db.fetch_all(image_page_stmt(q, public, own)).await?;
    Ok((rows, total))
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
    st.push_in("image_source", &q.sources);
    push_conditions(st, q);
}

/// The conditions of `q` besides who sees what and the source.
pub(super) fn push_conditions(st: &mut Stmt, q: &ImageQuery) {
    st.push_in("id", &q.ids)
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

pub async fn image_by_id(db: &mut Db, id: &str) -> DbResult<Option<ImageRow>> {
    db.fetch_optional(
        Stmt::new(format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1")).bind(id),
    )
    .await
}

pub async fn image_set_layer(
    db: &mut Db,
    id: &str,
    layer_id: Option<&str>,
    size_mb: i64,
) -> DbResult<()> {
    let st = Stmt::new("UPDATE images SET layer_id = $1, size_mb = $2 WHERE id = $3")
        .bind(layer_id)
        .bind(size_mb)
        .bind(id);
    db.execute(st).await?;
    Ok(())
}

/// Moves an image to `status` only from one of `from`; false if it was not there.
pub async fn image_transition(
    db: &mut Db,
    id: &str,
    from: &[ImageStatus],
    status: ImageStatus,
) -> DbResult<bool> {
    super::guarded_update(db, "images", id, &[("status", status.into())], false, from).await
}

pub async fn image_delete(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(Stmt::new("DELETE FROM images WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

/// How far a pending image's data has come, in percent.
pub async fn image_set_progress(db: &mut Db, id: &str, progress: i64) -> DbResult<()> {
    let st = Stmt::new("UPDATE images SET progress = $1 WHERE id = $2")
        .bind(progress)
        .bind(id);
    db.execute(st).await?;
    Ok(())
}

/// How many instances were launched from the image and still exist.
pub async fn image_instance_count(db: &mut Db, id: &str) -> DbResult<i64> {
    db.scalar(Stmt::new("SELECT COUNT(*) FROM instances WHERE image_id = $1").bind(id))
        .await
}

pub async fn image_set_size(db: &mut Db, id: &str, size_mb: i64) -> DbResult<()> {
    db.execute(
        Stmt::new("UPDATE images SET size_mb = $1 WHERE id = $2")
            .bind(size_mb)
            .bind(id),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What describeImages should answer, computed from the rows themselves: the public
    /// ones and the caller's own in the region, every filter applied, in `seq, id` order.
    fn expected(rows: &[ImageRow], q: &ImageQuery) -> (Vec<String>, i64) {
        let any = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        let mut seen: Vec<&ImageRow> = rows
            .iter()
            .filter(|r| {
                let public = r.pin.is_empty() && r.region.is_empty();
                public || (r.pin == q.pin && r.region == q.region)
            })
            .filter(|r| any(&q.sources, &r.image_source) && any(&q.ids, &r.id))
            .filter(|r| any(&q.platforms, &r.platform) && any(&q.statuses, r.status.as_str()))
            .filter(|r| q.names.is_empty() || q.names.iter().any(|n| r.name.contains(n.as_str())))
            .collect();
        seen.sort_by_key(|r| (r.seq, r.id.clone()));
        let total = seen.len() as i64;
        let page = seen
            .into_iter()
            .skip(q.offset as usize)
            .take(q.limit as usize)
            .map(|r| r.id.clone())
            .collect();
        (page, total)
    }

    /// A listing is what the rows say it should be, whatever the filters (LIKE's own
    /// characters taken literally), the page and the caller; every column reads back
    /// where it was written.
    #[tokio::test]
    async fn listing_answers_what_the_rows_say() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(dir.path()).await.unwrap();
        let mut tx = store.write().await.unwrap();
        let mut inserted = Vec::new();
        for i in 0..44i64 {
            let (pin, region) = match i % 4 {
                _ if i >= 40 => ("", ""),
                0 => ("p1", "r1"),
                1 => ("p2", "r1"),
                2 => ("p1", "r2"),
                _ => ("p1", "r1"),
            };
            let mut row = ImageRow::for_test(&format!("img-{i:02}"), pin, region, 1000 + i);
            if pin.is_empty() {
                row.image_source = "public".into();
            }
            row.name = ["web_1", "db%2", "back\\slash", "web-3"][(i % 4) as usize].into();
            row.status = if i % 3 == 0 {
                ImageStatus::Ready
            } else {
                ImageStatus::Pending
            };
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
            image_insert(&mut tx, &row).await.unwrap();
            inserted.push(row);
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
        for q in &queries {
            let (page, total) = image_list(&mut store.read().await.unwrap(), q)
                .await
                .unwrap();
            let ids: Vec<String> = page.iter().map(|r| r.id.clone()).collect();
            assert_eq!((ids, total), expected(&inserted, q), "{q:?}");
        }
        // Not vacuous: the filters select something, and differently.
        let (page, total) = expected(&inserted, &queries[0]);
        assert_eq!((page.len(), total), (7, 24));
        let (names, _) = expected(&inserted, &queries[5]);
        assert!(!names.is_empty() && names.len() < 24, "{names:?}");
        for row in &inserted {
            let read = image_by_id(&mut store.read().await.unwrap(), &row.id)
                .await
                .unwrap();
            assert_eq!(format!("{read:?}"), format!("{:?}", Some(row)));
        }
        assert!(image_by_id(&mut store.read().await.unwrap(), "img-nope")
            .await
            .unwrap()
            .is_none());
    }
}
