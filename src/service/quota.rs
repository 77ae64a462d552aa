//! Quotas per account and region.

use crate::error::{ApiError, ApiResult};
use crate::store::{self, Db};

use super::{Scope, Service};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub instance: i64,
    pub disk: i64,
    pub snapshot: i64,
    pub image: i64,
    /// Accounts one image may be shared with.
    pub share: i64,
    /// Key pairs (createKeypair and importKeypair together).
    pub keypair: i64,
}

impl Default for Quotas {
    /// JD's documented defaults (20 instances, 15 snapshots, 20 images, 20 key pairs); disks
    /// are not documented, 50 leaves room for several data disks per instance.
    fn default() -> Self {
        Quotas {
            instance: 20,
            disk: 50,
            snapshot: 15,
            image: 20,
            share: 10,
            keypair: 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    Instance,
    Disk,
    Snapshot,
    Image,
    Keypair,
}

impl QuotaKind {
    fn exceeded(self) -> ApiError {
        let what = match self {
            QuotaKind::Instance => "Instance",
            QuotaKind::Disk => "Disk",
            QuotaKind::Snapshot => "Snapshot",
            QuotaKind::Image => "Image",
            QuotaKind::Keypair => "Keypair",
        };
        ApiError::QuotaExceeded(format!("{what} quota limit exceeded"))
    }
}

impl Quotas {
    /// Applies one `--quota KIND=N` override.
    pub fn set(&mut self, arg: &str) -> Result<(), String> {
        let (kind, n) = arg
            .split_once('=')
            .ok_or_else(|| format!("expected KIND=N, got '{arg}'"))?;
        let n: i64 = n
            .trim()
            .parse()
            .map_err(|_| format!("'{n}' is not a number"))?;
        if n < 0 {
            return Err("a quota cannot be negative".into());
        }
        match kind.trim() {
            "instance" => self.instance = n,
            "disk" => self.disk = n,
            "snapshot" => self.snapshot = n,
            "image" => self.image = n,
            "share" => self.share = n,
            "keypair" => self.keypair = n,
            other => {
                return Err(format!(
                    "unknown quota kind '{other}' (instance, disk, snapshot, image, share, keypair)"
                ))
            }
        }
        Ok(())
    }

    pub fn limit(&self, kind: QuotaKind) -> i64 {
        match kind {
            QuotaKind::Instance => self.instance,
            QuotaKind::Disk => self.disk,
            QuotaKind::Snapshot => self.snapshot,
            QuotaKind::Image => self.image,
            QuotaKind::Keypair => self.keypair,
        }
    }
}

/// What counts against the `kind` quota.
pub async fn used(db: &mut Db, scope: &Scope, kind: QuotaKind) -> ApiResult<i64> {
    let (pin, region) = (&scope.pin, &scope.region);
    Ok(match kind {
        QuotaKind::Instance => store::instance::instance_count(db, pin, region).await?,
        QuotaKind::Disk => store::disk::disk_count(db, pin, region).await?,
        QuotaKind::Snapshot => store::resource_count(db, "snapshot", pin, region).await?,
        QuotaKind::Image => store::resource_count(db, "image", pin, region).await?,
        QuotaKind::Keypair => store::keypair::keypair_count(db, pin, region).await?,
    })
}

impl Service {
    /// Fails with 429 unless `adding` more fit. Call inside the write transaction that
    /// inserts them, so concurrent creates cannot both pass.
    pub(crate) async fn quota_check(
        &self,
        conn: &mut Db,
        scope: &Scope,
        kind: QuotaKind,
        adding: i64,
    ) -> ApiResult<()> {
        self.quota_verdict(kind, adding, async || used(conn, scope, kind).await)
            .await
    }

    /// Fails unless `adding` more fit beside what `used` counts (not counted when nothing
    /// is added).
    async fn quota_verdict(
        &self,
        kind: QuotaKind,
        adding: i64,
        used: impl AsyncFnOnce() -> ApiResult<i64>,
    ) -> ApiResult<()> {
        if adding == 0 {
            return Ok(());
        }
        if used().await? + adding > self.cfg.quotas.limit(kind) {
            return Err(kind.exceeded());
        }
        Ok(())
    }

    /// vm describeQuotas: `(resourceType, limit, used)` for the requested types.
    pub async fn vm_quotas(
        &self,
        scope: &Scope,
        types: &[String],
        image_id: Option<&str>,
    ) -> ApiResult<Vec<(String, i64, i64)>> {
        const ALL: [&str; 8] = [
            "instance",
            "instance_cpu",
            "instance_memory",
            "instance_local_disk",
            "keypair",
            "image",
            "instanceTemplate",
            "imageShare",
        ];
        let wanted: Vec<String> = if types.is_empty() {
            ALL.iter()
                .filter(|t| **t != "imageShare" || image_id.is_some())
                .map(|s| s.to_string())
                .collect()
        } else {
            types.to_vec()
        };
        let mut conn = self.store.read().await?;
        let mut out = Vec::new();
        for t in wanted {
            let q = self.cfg.quotas;
            let (limit, used_now) = match t.as_str() {
                "instance" => (
                    q.instance,
                    used(&mut conn, scope, QuotaKind::Instance).await?,
                ),
                "image" => (q.image, used(&mut conn, scope, QuotaKind::Image).await?),
                "instance_cpu" | "instance_memory" | "instance_local_disk" => {
                    let (cpu, mem, local) = self.instance_resources(&mut conn, scope).await?;
                    match t.as_str() {
                        "instance_cpu" => (q.instance * 8, cpu),
                        "instance_memory" => (q.instance * 32, mem),
                        _ => (q.instance * 2000, local),
                    }
                }
                "keypair" => (q.keypair, used(&mut conn, scope, QuotaKind::Keypair).await?),
                // Kiln has no instance templates: nothing is used.
                "instanceTemplate" => (50, 0),
                "imageShare" => {
                    let id = image_id.ok_or_else(|| {
                        ApiError::InvalidArgument("Parameter ImageId missing".into())
                    })?;
                    (q.share, self.image_share_count(scope, id).await?)
                }
                other => {
                    return Err(ApiError::InvalidArgument(format!(
                        "Invalid resourceType '{other}'"
                    )))
                }
            };
            out.push((t, limit, used_now));
        }
        Ok(out)
    }

    /// (vCPUs, memory GiB, local disk GiB) in use by the scope's instances.
    async fn instance_resources(&self, conn: &mut Db, scope: &Scope) -> ApiResult<(i64, i64, i64)> {
        let types = store::instance::instance_types_in_use(conn, &scope.pin, &scope.region).await?;
        let (mut cpu, mut mem) = (0i64, 0i64);
        for t in types
            .iter()
            .filter_map(|t| super::catalog::instance_type(t))
        {
            cpu += t.cpu as i64;
            mem += t.memory_mb as i64 / 1024;
        }
        let local = store::disk::local_disk_gb(conn, &scope.pin, &scope.region).await?;
        Ok((cpu, mem, local))
    }

    /// disk describeQuota: `(limit, used)` for `disk`, `snapshot` or `snapshot_policy`.
    pub async fn disk_quota(&self, scope: &Scope, kind: Option<&str>) -> ApiResult<(i64, i64)> {
        let kind =
            kind.ok_or_else(|| ApiError::InvalidArgument("Parameter type missing".into()))?;
        let mut conn = self.store.read().await?;
        Ok(match kind {
            "disk" => (
                self.cfg.quotas.disk,
                used(&mut conn, scope, QuotaKind::Disk).await?,
            ),
            "snapshot" => (
                self.cfg.quotas.snapshot,
                used(&mut conn, scope, QuotaKind::Snapshot).await?,
            ),
            "snapshot_policy" => (10, 0),
            other => {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid quota type '{other}'"
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides() {
        let mut q = Quotas::default();
        q.set("image=3").unwrap();
        q.set(" disk = 7")
            .unwrap_or_else(|_| q.set("disk=7").unwrap());
        assert_eq!(q.image, 3);
        assert!(q.set("cpu=1").is_err());
        assert!(q.set("image=-1").is_err());
        assert!(q.set("image").is_err());
    }
}
