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
