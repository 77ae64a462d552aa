//! Room on the storage before data-plane work starts. A task that fills the disk midway
//! fails and leaves the disk full for whatever comes next; where the bytes a task will
//! write can be known when the call arrives, a call that cannot fit is refused instead
//! (500 INSUFFICIENT_CAPACITY, as JD's disk service answers), and nothing is made.

use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::layer;
use crate::store::status::InstanceStatus;

/// A human size: `40.0 MiB`.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl Service {
    /// Refuses unless the layer store has `need` bytes free for `what`.
    pub(super) fn ensure_room(&self, need: u64, what: &str) -> ApiResult<()> {
        let free = self.block.free_bytes()?;
        if need <= free {
            return Ok(());
        }
        Err(ApiError::InsufficientCapacity(format!(
            "{what} needs {} on the storage, {} is free",
            mib(need),
            mib(free)
        )))
    }

    /// The bytes createImage's full copy of a stopped instance's local system disk writes
    /// at most: the allocated bytes of its layer chain, from the files' sizes (no qemu-img
    /// at call time: a call must not wait on, or fail by, a process). Nothing for a cloud
    /// system disk: its image is snapshots, made in place.
    /// Errors of the call itself (no such instance, wrong state) are left to the call.
    pub(super) async fn full_copy_bytes(&self, scope: &Scope, instance_id: &str) -> ApiResult<u64> {
        let Ok(Some((inst, disks))) = self.instance_with_disks(scope, instance_id).await else {
            return Ok(0);
        };
        let system = disks
            .iter()
            .find(|(a, d)| a.device_name == "vda" && d.category == "local");
        match system {
            Some((_, d)) if inst.status == InstanceStatus::Stopped && inst.task.is_none() => {
                let chain =
                    layer::layer_chain(&mut *self.store.read().await?, d.top_layer()).await?;
                Ok(self.block.chain_allocated_bytes(&chain).await?)
            }
            _ => Ok(0),
        }
    }

    /// The bytes importing `urls` writes at most at once, as far as the call can know:
    /// a `file://` source is converted from its file (its allocated bytes again as the
    /// layer: a sparse file's holes are not copied); an
    /// `http(s)://` source is downloaded whole first, then converted (twice its announced
    /// Content-Length). A source whose size cannot be known counts nothing.
    pub(super) async fn import_bytes(&self, urls: &[&str]) -> ApiResult<u64> {
        let mut need = 0u64;
        for url in urls {
            if url.starts_with("s3://") {
                need += self.oss_object_bytes(url).await?.saturating_mul(2);
                continue;
            }
            need += match url.strip_prefix("file://") {
                Some(path) => tokio::fs::metadata(path).await.map_or(0, |m| {
                    use std::os::unix::fs::MetadataExt;
                    m.blocks() * 512
                }),
                None => self
                    .cfg
                    .import_addresses
                    .announced_length(url)
                    .await
                    .map_err(|e| {
                        ApiError::InvalidArgument(format!("Invalid imageUrl '{url}': {e}"))
                    })?
                    .map_or(0, |n| n.saturating_mul(2)),
            };
        }
        Ok(need)
    }

    /// The size of the object an `s3://` import source names; 400 when there is none.
    async fn oss_object_bytes(&self, url: &str) -> ApiResult<u64> {
        let client = self.cfg.oss.clone().map(crate::oss::OssClient::new);
        let (Some(client), Ok(loc)) = (client, crate::oss::parse_oss_url(url)) else {
            return Ok(0);
        };
        match client.head(&loc).await {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err(ApiError::InvalidArgument(format!(
                "Invalid imageUrl '{url}': no such object"
            ))),
            Err(e) => Err(ApiError::InvalidArgument(format!(
                "Invalid imageUrl '{url}': {e}"
            ))),
        }
    }
}
