//! Freezing disks at an instant: each disk's top layer becomes read-only and a new empty
//! overlay on it becomes the disk's writable top. The overlay files are made first (the
//! slow part), then one transaction records them and switches the disks, so the frozen
//! layers hold exactly the data of the moment of that commit.

use super::image_create::captured_by_default;
use super::{Scope, Service};
use crate::block::GIB;
use crate::error::ApiResult;
use crate::store::{self, now_ms};

/// The overlays one createImage call made: before taking the writer slot (`premade`, on
/// the disks as a read saw them) and under it (`made`, for disks whose top had moved).
#[derive(Default)]
pub(crate) struct Overlays {
    pub premade: Vec<Frozen>,
    pub made: Vec<String>,
}

/// A disk's top layer frozen by `freeze_top_layers`.
#[derive(Clone)]
pub(crate) struct Frozen {
    pub disk_id: String,
    /// The layer that became read-only (owned by a snapshot or copied into an image).
    pub frozen_layer: String,
    /// The new empty overlay that is now the disk's writable top.
    pub new_top: String,
    /// The disk's size, the overlay's virtual size.
    pub size_gb: i64,
}

impl Frozen {
    /// Whether this overlay was made on `disk` as it is now (same top, same size).
    fn fits(&self, disk: &store::DiskRow) -> bool {
        self.disk_id == disk.id
            && self.frozen_layer == disk.top_layer()
            && self.size_gb == disk.size_gb
    }
}

impl Service {
    /// Freezes the current top layer of every disk at one instant: the overlay files are
    /// created first (constant time each, in one blocking call), then the caller's transaction
    /// switches every disk to its overlay. Writes after that commit land in the overlays,
    /// so the frozen layers hold exactly the data of the call (a running guest's disks are
    /// switched by QEMU at the commit: `commit_with_live_switch`). If anything fails the
    /// new files are removed and nothing is switched.
    pub(crate) async fn freeze_top_layers(
        &self,
        db: &mut store::Db,
        disks: &[store::DiskRow],
    ) -> ApiResult<Vec<Frozen>> {
        let plan = self.make_overlays(disks).await?;
        if let Err(e) = switch_tops(db, &plan).await {
            self.remove_overlays(plan.iter().map(|f| f.new_top.clone()).collect())
                .await;
            return Err(e.into());
        }
        Ok(plan)
    }

    /// Creates an empty overlay on the current top of each disk (files only, nothing
    /// recorded; constant time each, in one blocking call). On failure none is left.
    pub(crate) async fn make_overlays(&self, disks: &[store::DiskRow]) -> ApiResult<Vec<Frozen>> {
        let plan: Vec<Frozen> = disks
            .iter()
            .map(|d| Frozen {
                disk_id: d.id.clone(),
                frozen_layer: d.top_layer().to_string(),
                new_top: crate::ids::layer_id(),
                size_gb: d.size_gb,
            })
            .collect();
        let overlays: Vec<(String, String, u64)> = plan
            .iter()
            .map(|f| {
                (
                    f.new_top.clone(),
                    f.frozen_layer.clone(),
                    f.size_gb as u64 * GIB,
                )
            })
            .collect();
        self.block.create_overlays(&overlays).await?;
        Ok(plan)
    }

    /// Removes overlays that were made but never recorded.
    pub(crate) async fn remove_overlays(&self, layers: Vec<String>) {
        for layer in layers {
            let _ = self.block.remove(&layer).await;
        }
    }

    /// Best effort: an overlay on the current top of every idle disk createImage may
    /// freeze ([`captured_by_default`]), or none if the read fails.
    pub(crate) async fn premake_overlays(&self, scope: &Scope, instance_id: &str) -> Vec<Frozen> {
        let candidates = match self.instance_with_disks(scope, instance_id).await {
            Ok(Some((inst, disks))) if inst.task.is_none() => disks
                .into_iter()
                .filter(|(a, d)| d.task.is_none() && captured_by_default(a, d))
                .map(|(_, d)| d)
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        if candidates.is_empty() {
            return Vec::new();
        }
        self.make_overlays(&candidates).await.unwrap_or_default()
    }

    /// The overlays for `disks`, in their order: the premade one where it fits the disk
    /// as read in this transaction, else a new one.
    pub(crate) async fn take_overlays(
        &self,
        disks: &[store::DiskRow],
        overlays: &mut Overlays,
    ) -> ApiResult<Vec<Frozen>> {
        let missing: Vec<store::DiskRow> = disks
            .iter()
            .filter(|d| !overlays.premade.iter().any(|f| f.fits(d)))
            .cloned()
            .collect();
        let mut made = if missing.is_empty() {
            Vec::new()
        } else {
            self.make_overlays(&missing).await?
        };
        overlays.made.extend(made.iter().map(|f| f.new_top.clone()));
        Ok(disks
            .iter()
            .map(|d| match overlays.premade.iter().find(|f| f.fits(d)) {
                Some(f) => f.clone(),
                None => {
                    let i = made.iter().position(|f| f.fits(d)).expect("made for it");
                    made.swap_remove(i)
                }
            })
            .collect())
    }
}

/// Makes each overlay of `plan` its disk's top: the layer rows, then the switch.
pub(crate) async fn switch_tops(db: &mut store::Db, plan: &[Frozen]) -> store::DbResult<()> {
    let now = now_ms();
    let layers: Vec<store::LayerRow> = plan
        .iter()
        .map(|f| store::LayerRow {
            id: f.new_top.clone(),
            backing_id: Some(f.frozen_layer.clone()),
            size_bytes: f.size_gb * GIB as i64,
            created_at: now,
        })
        .collect();
    let tops: Vec<(String, String)> = plan
        .iter()
        .map(|f| (f.disk_id.clone(), f.new_top.clone()))
        .collect();
    store::layer::layer_insert_many(db, &layers).await?;
    store::disk::disks_set_top_layers(db, &tops).await
}
