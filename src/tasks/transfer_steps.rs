//! The `image_import` and `image_export` tasks, reported to clients through imageTasks.
//!
//! import: (0) fetch each source (`file://` read in place, `http://` downloaded to the
//! scratch directory), convert it into a standalone qcow2 layer owned by the image's
//! snapshot; (1) after `--task-delay`, snapshots `available`, image `ready`.
//! export: (0) flatten each snapshot layer into `<dir>/<prefix><image>.qcow2`; (1) finish.

use std::path::{Path, PathBuf};

use super::payload::{decode, ExportFile, ImageExport, ImageImport};
use super::{collect_layers, finish_step, Outcome, StepError, TaskCtx};
use crate::block::GIB;
use crate::store::status::{ImageStatus, ImageTaskStatus, SnapshotStatus, TaskKind, TaskState};
use crate::store::{self, image, image_task, now_ms, snapshot, LayerRow, TaskRow};

type StepResult = Result<(), StepError>;

async fn set_progress(ctx: &TaskCtx, id: &str, progress: i64) -> StepResult {
    let mut tx = ctx.store.write().await?;
    image_task::image_task_update(&mut tx, id, ImageTaskStatus::Running, progress, None, "", 0)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A local path holding the source: the file itself, or a download of the URL.
async fn fetch(ctx: &TaskCtx, url: &str, name: &str) -> Result<(PathBuf, bool), StepError> {
    if let Some(path) = url.strip_prefix("file://") {
        let p = PathBuf::from(path);
        if !p.is_file() {
            return Err(StepError::Invalid(format!("imageUrl {url}: no such file")));
        }
        // Symlinks resolved: the real file must still be under a --file-root.
        let real = ctx
            .file_roots
            .resolve(&p)
            .map_err(|e| StepError::Invalid(format!("imageUrl {url}: {e}")))?;
        return Ok((real, false));
    }
    tokio::fs::create_dir_all(&ctx.scratch)
        .await
        .map_err(|e| StepError::Invalid(e.to_string()))?;
    let dest = ctx.scratch.join(format!("{name}.download"));
    if url.starts_with("s3://") {
        let loc = crate::oss::parse_oss_url(url)
            .map_err(|e| StepError::Invalid(format!("imageUrl {url}: {e}")))?;
        oss(ctx)?
            .get_to_file(&loc, &dest, |_, _| {})
            .await
            .map_err(|e| StepError::Invalid(e.to_string()))?;
        return Ok((dest, true));
    }
    ctx.import_addresses
        .download(url, &dest)
        .await
        .map_err(|e| StepError::Invalid(e.to_string()))?;
    Ok((dest, true))
}

pub(super) async fn import_layers(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let ImageImport {
        image_task_id: it,
        sources,
    } = decode(task)?;
    set_progress(ctx, &it, 5).await?;
    let total = sources.len() as i64;
    for (i, s) in sources.iter().enumerate() {
        if !ctx.block.exists(&s.layer_id) {
            let (path, downloaded) = fetch(ctx, &s.url, &s.layer_id).await?;
            let result = ctx
                .block
                .import(&s.layer_id, &path, &s.format, s.size_gb as u64 * GIB)
                .await;
            if downloaded {
                let _ = tokio::fs::remove_file(&path).await;
            }
            result?;
        }
        set_progress(ctx, &it, 5 + 90 * (i as i64 + 1) / total).await?;
    }
    let mut tx = ctx.store.write().await?;
    for s in &sources {
        if store::layer::layer_get(&mut tx, &s.layer_id)
            .await?
            .is_none()
        {
            store::layer::layer_insert(
                &mut tx,
                &LayerRow {
                    id: s.layer_id.clone(),
                    backing_id: None,
                    size_bytes: s.size_gb * GIB as i64,
                    created_at: now_ms(),
                },
            )
            .await?;
        }
        snapshot::snapshot_set_layer(&mut tx, &s.snapshot_id, &s.layer_id).await?;
    }
    finish_step(&mut tx, task, Outcome::Next(ctx.delays.task)).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn finish_import(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let ImageImport {
        image_task_id: it,
        sources,
    } = decode(task)?;
    let mut bytes = 0u64;
    for s in &sources {
        bytes += ctx.block.allocated_bytes(&s.layer_id).await.unwrap_or(0);
    }
    let mut tx = ctx.store.write().await?;
    let c = &mut *tx;
    for s in &sources {
        snapshot::snapshot_transition(
            c,
            &s.snapshot_id,
            &[SnapshotStatus::Creating],
            SnapshotStatus::Available,
        )
        .await?;
    }
    image::image_set_size(c, &task.target_id, (bytes as i64 + (1 << 20) - 1) >> 20).await?;
    image::image_transition(
        c,
        &task.target_id,
        &[ImageStatus::Pending],
        ImageStatus::Ready,
    )
    .await?;
    image_task::image_task_update(c, &it, ImageTaskStatus::Finished, 100, None, "", now_ms())
        .await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn export_files(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let ImageExport {
        image_task_id: it,
        files,
    } = decode(task)?;
    set_progress(ctx, &it, 5).await?;
    let total = files.len().max(1) as i64;
    for (i, f) in files.iter().enumerate() {
        if f.dest.starts_with("s3://") {
            upload(ctx, &f.layer_id, &f.dest).await?;
            set_progress(ctx, &it, 5 + 90 * (i as i64 + 1) / total).await?;
            continue;
        }
        let dest = Path::new(&f.dest);
        match dest.parent() {
            Some(dir) if dir.is_dir() => {
                ctx.file_roots
                    .resolve(dir)
                    .map_err(|e| StepError::Invalid(format!("ossUrl: {e}")))?;
            }
            _ => {
                return Err(StepError::Invalid(format!(
                    "ossUrl: directory of {} does not exist",
                    f.dest
                )))
            }
        }
        ctx.block.export(&f.layer_id, dest).await?;
        set_progress(ctx, &it, 5 + 90 * (i as i64 + 1) / total).await?;
    }
    let objects: Vec<&str> = files.iter().map(|f| f.object.as_str()).collect();
    let mut tx = ctx.store.write().await?;
    let objects = serde_json::to_string(&objects).map_err(|e| StepError::Invalid(e.to_string()))?;
    image_task::image_task_update(
        &mut tx,
        &it,
        ImageTaskStatus::Running,
        95,
        Some(&objects),
        "",
        0,
    )
    .await?;
    finish_step(&mut tx, task, Outcome::Next(ctx.delays.task)).await?;
    tx.commit().await?;
    Ok(())
}

/// The object storage of the server (a task that needs it was accepted only with it).
fn oss(ctx: &TaskCtx) -> Result<&crate::oss::OssClient, StepError> {
    ctx.oss
        .as_ref()
        .ok_or_else(|| StepError::Invalid("object storage is not configured".into()))
}

/// Exports a layer to an object: flattened into a scratch qcow2 file, uploaded in parts,
/// the scratch file removed whatever happens.
async fn upload(ctx: &TaskCtx, layer_id: &str, dest: &str) -> StepResult {
    let loc = crate::oss::parse_oss_url(dest)
        .map_err(|e| StepError::Invalid(format!("ossUrl {dest}: {e}")))?;
    tokio::fs::create_dir_all(&ctx.scratch)
        .await
        .map_err(|e| StepError::Invalid(e.to_string()))?;
    let file = ctx.scratch.join(format!("{layer_id}.export.qcow2"));
    let result = async {
        ctx.block.export(layer_id, &file).await?;
        oss(ctx)?
            .put_file(&loc, &file, |_, _| {})
            .await
            .map_err(|e| StepError::Invalid(e.to_string()))?;
        Ok::<(), StepError>(())
    }
    .await;
    let _ = tokio::fs::remove_file(&file).await;
    result
}

pub(super) async fn finish_export(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let it = decode::<ImageExport>(task)?.image_task_id;
    let mut tx = ctx.store.write().await?;
    image_task::image_task_update(
        &mut tx,
        &it,
        ImageTaskStatus::Finished,
        100,
        None,
        "",
        now_ms(),
    )
    .await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

/// A failed import leaves an `error` image with nothing behind it; a failed export leaves
/// none of its files. Either way the image task says `failed` and why.
pub(super) async fn fail_transfer(ctx: &TaskCtx, task: &TaskRow, error: &str) -> StepResult {
    // An export's files go before the transaction, so no network round trip holds the
    // writer; a crash before the commit runs this step again, and removing is idempotent.
    if task.kind == TaskKind::ImageExport {
        remove_exported_files(ctx, &decode::<ImageExport>(task)?.files).await;
    }
    let mut freed = Vec::new();
    let mut tx = ctx.store.write().await?;
    let c = &mut *tx;
    let it = if task.kind == TaskKind::ImageImport {
        let ImageImport {
            image_task_id,
            sources,
        } = decode(task)?;
        for s in &sources {
            snapshot::snapshot_delete(c, &s.snapshot_id).await?;
            freed.push(s.layer_id.clone());
        }
        image::image_transition(
            c,
            &task.target_id,
            &[ImageStatus::Pending],
            ImageStatus::Error,
        )
        .await?;
        image_task_id
    } else {
        decode::<ImageExport>(task)?.image_task_id
    };
    let message: String = error.chars().take(500).collect();
    image_task::image_task_update(c, &it, ImageTaskStatus::Failed, 0, None, &message, now_ms())
        .await?;
    store::task::task_finish(c, &task.id, TaskState::Failed, Some(error)).await?;
    tx.commit().await?;
    for l in &freed {
        let mut conn = ctx.store.read().await?;
        let recorded = store::layer::layer_get(&mut conn, l).await?.is_some();
        drop(conn);
        if !recorded {
            ctx.block.remove(l).await?;
        }
    }
    collect_layers(ctx, freed).await?;
    Ok(())
}

/// All or nothing: the files a failed export already finished go too (objects in OSS,
/// files and their `.part` in a directory); what is already gone is no error.
async fn remove_exported_files(ctx: &TaskCtx, files: &[ExportFile]) {
    for f in files {
        if f.dest.starts_with("s3://") {
            if let (Ok(client), Ok(loc)) = (oss(ctx), crate::oss::parse_oss_url(&f.dest)) {
                if let Err(e) = client.delete(&loc).await {
                    tracing::warn!(object = %f.dest, error = %e, "removing an exported object failed");
                }
            }
            continue;
        }
        let _ = tokio::fs::remove_file(Path::new(&f.dest).with_extension("qcow2.part")).await;
        let _ = tokio::fs::remove_file(&f.dest).await;
    }
}
