//! `kiln admin fsck`: every inconsistency between metadata and storage, and the safe
//! repairs. Run it with the server stopped: a running server legitimately has files in
//! flight.

use std::collections::HashSet;

use super::Service;
use crate::error::ApiResult;
use crate::store;

#[derive(Debug, Default)]
pub struct FsckReport {
    /// Inconsistencies found (each one line).
    pub problems: Vec<String>,
    /// What `--repair` did.
    pub repairs: Vec<String>,
    /// Problems that cannot be repaired safely (data is missing).
    pub unrepairable: usize,
}

impl Service {
    pub async fn fsck(&self, repair: bool) -> ApiResult<FsckReport> {
        let mut r = FsckReport::default();
        let mut conn = self.store.read().await?;
        let rows: HashSet<String> = store::layer::layer_ids(&mut conn)
            .await?
            .into_iter()
            .collect();
        let referenced: HashSet<String> = store::fsck::referenced_layers(&mut conn)
            .await?
            .into_iter()
            .collect();
        let stuck = store::fsck::stuck_rows(&mut conn).await?;
        let hollow = store::fsck::hollow_rows(&mut conn).await?;
        let miscounted = store::fsck::miscounted(&mut conn).await?;
        drop(conn);

        let mut files = HashSet::new();
        let mut stray = Vec::new();
        let mut entries = tokio::fs::read_dir(self.block.dir())
            .await
            .map_err(crate::error::ApiError::internal)?;
        while let Ok(Some(e)) = entries.next_entry().await {
            let name = e.file_name().to_string_lossy().into_owned();
            match name.strip_suffix(".qcow2") {
                Some(id) => {
                    files.insert(id.to_string());
                }
                None => stray.push(name),
            }
        }
        for id in rows.difference(&files) {
            r.problems.push(format!(
                "layer {id} is in the metadata but its file is missing"
            ));
            r.unrepairable += 1;
        }
        for id in referenced.difference(&rows) {
            r.problems
                .push(format!("layer {id} is referenced but has no metadata row"));
            r.unrepairable += 1;
        }
        let orphan_files: Vec<&String> = files.difference(&rows).collect();
        for id in &orphan_files {
            r.problems
                .push(format!("file {id}.qcow2 belongs to no layer"));
        }
        for name in &stray {
            r.problems
                .push(format!("stray file {name} in the layer directory"));
        }
        let leaked: Vec<String> = rows
            .difference(&referenced)
            .filter(|id| files.contains(*id))
            .cloned()
            .collect();
        for id in &leaked {
            r.problems
                .push(format!("layer {id} is referenced by nothing (leaked)"));
        }
        for (table, id, status) in &stuck {
            r.problems.push(format!(
                "{table} {id} is '{status}' but no task will finish it"
            ));
        }
        for (kind, id) in &hollow {
            r.problems
                .push(format!("{kind} {id} says it is usable but holds no data"));
            r.unrepairable += 1;
        }
        for (kind, pin, region, source, recorded, actual) in &miscounted {
            r.problems.push(format!(
                "{kind} count of {pin:?} in {region:?} (source {source:?}) says {recorded}, \
                 the rows say {actual}"
            ));
        }
        if !repair {
            return Ok(r);
        }
        if !miscounted.is_empty() {
            let mut tx = self.store.write().await?;
            store::fsck::recount(&mut tx).await?;
            tx.commit().await?;
            r.repairs.push("recounted images and snapshots".into());
        }
        for id in orphan_files {
            self.block.remove(id).await?;
            r.repairs.push(format!("removed orphan file {id}.qcow2"));
        }
        for name in stray {
            let _ = tokio::fs::remove_file(self.block.dir().join(&name)).await;
            r.repairs.push(format!("removed stray file {name}"));
        }
        let collected = crate::tasks::collect_layers(&self.task_ctx(), leaked).await?;
        for id in collected {
            r.repairs.push(format!("deleted leaked layer {id}"));
        }
        if !stuck.is_empty() {
            let mut tx = self.store.write().await?;
            for (table, id, _) in &stuck {
                store::fsck::mark_stuck_failed(&mut tx, table, id).await?;
                r.repairs
                    .push(format!("marked {table} {id} failed and idle"));
            }
            tx.commit().await?;
        }
        Ok(r)
    }
}
