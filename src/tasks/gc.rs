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
        let Some(layer) = store::layer::layer_get(&mut tx, &layer_id).await? else {
            continue;
        };
        if store::layer::layer_is_referenced(&mut tx, &layer_id).await? {
            continue;
        }
        store::layer::layer_delete(&mut tx, &layer_id).await?;
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

/// Start-up clean-up of the data directory after a crash: half-written temp files,
/// layer files that no metadata row names (an overlay created by a call that never
/// committed), and layer rows nothing references any more (a delete that committed but
/// was killed before its collection). Run before the worker starts.
///
/// When other nodes are live on the same store and storage root (`alone` false, from
/// `TaskCtx::join`), a file without a row may be one another node is writing or is about
/// to commit: then only files untouched for [`TaskCtx::orphan_grace`] go. A node alone
/// removes every orphan file last written before the sweep began (a node starting at the
/// same moment writes only after its own sweep). Layer rows are always safe to collect: a
/// layer row is inserted in the same transaction as the row that references it, and the
/// reference check runs under the writer lock.
pub async fn sweep_after_restart(ctx: &TaskCtx, alone: bool) -> DbResult<usize> {
    let started = std::time::SystemTime::now();
    let grace = (!alone).then(|| ctx.orphan_grace());
    let cutoff = match grace {
        Some(g) => started - g,
        None => started,
    };
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
                if orphan && written_before(&e.path(), cutoff) {
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
        // With other nodes live, re-check a layer file against the rows committed since
        // `known` was read.
        if let (Some(id), Some(_)) = (name.strip_suffix(".qcow2"), grace) {
            let mut conn = ctx.store.read().await?;
            if store::layer::layer_get(&mut conn, id).await?.is_some() {
                continue;
            }
        }
        if tokio::fs::remove_file(&path).await.is_ok() {
            tracing::info!("removed orphan file {name}");
            removed += 1;
        }
    }
    match grace {
        None if !ctx.store.shared() => {
            let _ = tokio::fs::remove_dir_all(&ctx.scratch).await;
        }
        _ => {
            if let Ok(entries) = std::fs::read_dir(&ctx.scratch) {
                for e in entries.flatten() {
                    if written_before(&e.path(), cutoff) {
                        let _ = std::fs::remove_dir_all(e.path());
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
    }
    removed += collect_layers(ctx, unreferenced).await?.len();
    Ok(removed)
}

/// Whether the file was last modified before `cutoff`.
fn written_before(path: &std::path::Path, cutoff: std::time::SystemTime) -> bool {
    match std::fs::symlink_metadata(path).and_then(|m| m.modified()) {
        Ok(t) => t < cutoff,
        Err(_) => false,
    }
}
