//! Layer garbage collection: a layer goes when nothing depends on it any more.

use super::TaskCtx;
use crate::store::{self, DbResult};

/// Deletes each candidate layer (and, in turn, its backing layers) that no disk, snapshot,
/// image or layer references. Rows go first, files after the commit: a crash in between
/// leaves an orphan file (found by fsck), never a row pointing at a missing file.
pub async fn collect_layers(ctx: &TaskCtx, candidates: Vec<String>) -> DbResult<Vec<String>> {
    let mut removed = Vec::new();
    let mut queue = candidates;
    while let Some(layer_id) = queue.pop() {
        let mut tx = ctx.store.write().await?;
        let Some(layer) = store::layer::layer_get(tx.conn(), &layer_id).await? else {
            continue;
        };
        if store::layer::layer_is_referenced(tx.conn(), &layer_id).await? {
            continue;
        }
        store::layer::layer_delete(tx.conn(), &layer_id).await?;
        tx.commit().await?;
        if let Err(e) = ctx.block.remove(&layer_id).await {
            tracing::warn!("removing layer file {layer_id}: {e}");
        }
        removed.push(layer_id);
        if let Some(b) = layer.backing_id {
            queue.push(b);
        }
    }
    Ok(removed)
}

/// Start-up clean-up of a single node's data directory after a crash: half-written temp
/// files, layer files that no metadata row names (an overlay created by a call that never
/// committed), and layer rows nothing references any more (a delete that committed but
/// was killed before its collection). Run before the worker starts.
pub async fn sweep_after_restart(ctx: &TaskCtx) -> DbResult<usize> {
    let mut conn = ctx.store.read().await?;
    let known: std::collections::HashSet<String> = store::layer::layer_ids(&mut conn)
        .await?
        .into_iter()
        .collect();
    // Only layers nothing references are candidates: one query, not one probe (and one
    // write transaction) per layer, so start-up stays fast with many layers.
    let unreferenced = store::layer::layer_unreferenced(&mut conn).await?;
    drop(conn);
    // One blocking pass over the directory (tens of thousands of entries).
    let dir = ctx.block.dir().to_path_buf();
    let orphans = tokio::task::spawn_blocking(move || {
        let mut orphans = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let orphan = match name.strip_suffix(".qcow2") {
                    Some(id) => !known.contains(id),
                    None => name.ends_with(".tmp") || name.ends_with(".label.raw"),
                };
                if orphan {
                    orphans.push((name, e.path()));
                }
            }
        }
        orphans
    })
    .await
    .unwrap_or_default();
    let mut removed = 0;
    for (name, path) in orphans {
        if tokio::fs::remove_file(&path).await.is_ok() {
            tracing::info!("removed orphan file {name}");
            removed += 1;
        }
    }
    let _ = tokio::fs::remove_dir_all(&ctx.scratch).await;
    removed += collect_layers(ctx, unreferenced).await?.len();
    Ok(removed)
}
