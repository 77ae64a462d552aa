//! Instances that run (`--hypervisor qemu`): the service's side of the QEMU driver. A
//! live freeze switches a running guest's disks to the overlays a snapshot or createImage
//! made, inside the transaction that records them; a guest that ends on its own leaves
//! its instance `stopped`; a restart finds the guests again or marks them stopped; and a
//! command can be run in a guest through its agent.

use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::freeze::Frozen;
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::hypervisor::qga::QgaError;
use crate::hypervisor::{
    ExecOutput, FreezeReport, GuestExit, Hypervisor, HypervisorError, LiveSwitch, QemuConfig,
    QemuDriver,
};
use crate::store::status::InstanceStatus;
use crate::store::{self, Db};

/// A transaction that froze disks did not commit; whether a guest already writes to the
/// new overlays (then they are recorded, and must not be removed).
pub(crate) struct CommitFailed {
    pub error: ApiError,
    pub overlays_in_use: bool,
}

/// How long typing into a serial console may take (it takes one client at a time).
const CONSOLE_WRITE: Duration = Duration::from_secs(5);

/// The longest a command run through `exec` may take.
pub const EXEC_TIMEOUT_MAX: Duration = Duration::from_secs(600);

/// The hypervisor `--hypervisor` asks for, and the channel its guests' exits come on.
pub(super) async fn open_hypervisor(
    qemu: Option<QemuConfig>,
) -> anyhow::Result<(Hypervisor, Option<UnboundedReceiver<GuestExit>>)> {
    let Some(cfg) = qemu else {
        return Ok((Hypervisor::none(), None));
    };
    let (tx, rx) = unbounded_channel();
    let driver = QemuDriver::new(cfg, tx).await?;
    Ok((Hypervisor::qemu(driver), Some(rx)))
}

impl From<HypervisorError> for ApiError {
    fn from(e: HypervisorError) -> ApiError {
        match e {
            HypervisorError::NotRunning(_) => ApiError::FailedPrecondition(
                "Invalid instance status: the guest is not running".into(),
            ),
            HypervisorError::NoAgent(id) => {
                ApiError::FailedPrecondition(format!("Instance '{id}' runs no guest agent"))
            }
            other => ApiError::internal(other),
        }
    }
}

impl Service {
    /// A guest that ended without Kiln asking leaves its running instance `stopped`.
    pub(super) fn follow_guest_exits(&self, mut exits: UnboundedReceiver<GuestExit>) {
        let svc = self.clone();
        tokio::spawn(async move {
            while let Some(exit) = exits.recv().await {
                if let Err(e) = svc.record_guest_exit(&exit.instance_id, &exit.reason).await {
                    tracing::error!(instance = %exit.instance_id, "recording the guest's end failed: {e}");
                }
            }
        });
    }

    async fn record_guest_exit(&self, instance_id: &str, reason: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let stopped = store::instance::instance_set_status_if(
            &mut tx,
            instance_id,
            InstanceStatus::Running,
            InstanceStatus::Stopped,
        )
        .await?;
        tx.commit().await?;
        if stopped {
            tracing::warn!(instance = %instance_id, "the instance is stopped: {reason}");
        }
        Ok(())
    }

    /// After a restart: every running instance whose guest still runs is followed again;
    /// the others are `stopped`. A guest whose instance is not meant to run (stopped,
    /// deleted) is stopped, so that a start never puts a second QEMU on its disks.
    pub async fn reconcile_guests(&self) -> ApiResult<()> {
        let Some(hv) = self.hypervisor.driver() else {
            return Ok(());
        };
        let found = hv.find_guests().await;
        let mut conn = self.store.read().await?;
        let running =
            store::instance::instances_in_status(&mut conn, InstanceStatus::Running).await?;
        let mut busy = Vec::new();
        for status in [
            InstanceStatus::Starting,
            InstanceStatus::Stopping,
            InstanceStatus::Rebooting,
            InstanceStatus::Deleting,
            InstanceStatus::Pending,
        ] {
            busy.extend(store::instance::instances_in_status(&mut conn, status).await?);
        }
        drop(conn);
        for id in &found {
            let wanted = running.iter().chain(&busy).any(|(i, _)| i == id);
            let disks_agree = wanted && self.guest_disks_agree(id).await.unwrap_or(false);
            if !disks_agree {
                tracing::warn!(instance = %id, "a guest runs that its instance does not record: stopping it");
                hv.kill(id).await;
            }
        }
        for (id, _) in &running {
            if !hv.is_running(id) {
                self.record_guest_exit(id, "no guest found after the restart")
                    .await?;
            }
        }
        Ok(())
    }

    /// Whether the guest writes to the top layers its instance's disks record. A device
    /// on an overlay of its recorded top that no row knows (Kiln stopped between a live
    /// switch and its commit) is adopted: the overlay is recorded as the disk's top, so
    /// none of the guest's writes is lost.
    async fn guest_disks_agree(&self, instance_id: &str) -> ApiResult<bool> {
        let Some(hv) = self.hypervisor.driver() else {
            return Ok(false);
        };
        let devices = hv.devices(instance_id).await?;
        let mut conn = self.store.read().await?;
        let disks = store::disk::attachments_of_instance(&mut conn, instance_id).await?;
        let mut adopt = Vec::new();
        for dev in &devices {
            let Some((_, disk)) = disks.iter().find(|(a, _)| a.device_name == dev.device) else {
                return Ok(false);
            };
            // Kiln names every node it opens after its layer (QEMU's file names may be
            // `json:{…}` once a backing chain was reopened).
            if dev.node == disk.top_layer() {
                continue;
            }
            match self.unrecorded_overlay(&mut conn, dev, disk).await? {
                Some(frozen) => adopt.push(frozen),
                None => {
                    tracing::warn!(instance = %instance_id, device = %dev.device, file = %dev.file,
                        node = %dev.node, backing = ?dev.backing_file, recorded = %disk.top_layer(),
                        "the guest writes to a file its disk does not record");
                    return Ok(false);
                }
            }
        }
        drop(conn);
        if !adopt.is_empty() {
            tracing::warn!(instance = %instance_id, disks = adopt.len(), "adopting overlays a guest writes to that were never recorded");
            let mut tx = self.store.write().await?;
            super::freeze::switch_tops(&mut tx, &adopt).await?;
            tx.commit().await?;
        }
        Ok(true)
    }

    /// `dev`'s top as a switch of `disk` to be recorded, if it is a layer of the store
    /// that no row knows, on the disk's recorded top.
    async fn unrecorded_overlay(
        &self,
        conn: &mut Db,
        dev: &crate::hypervisor::GuestDevice,
        disk: &store::DiskRow,
    ) -> ApiResult<Option<Frozen>> {
        let layer = dev.node.as_str();
        let in_store = layer.starts_with("lyr-") && self.block.exists(layer);
        let on_top = dev
            .backing_file
            .as_deref()
            .and_then(|b| std::path::Path::new(b).file_name())
            .is_some_and(|n| {
                n.to_string_lossy() == crate::block::BlockStore::layer_file_name(disk.top_layer())
            });
        let unknown = store::layer::layer_get(conn, layer).await?.is_none();
        Ok((in_store && on_top && unknown).then(|| Frozen {
            disk_id: disk.id.clone(),
            frozen_layer: disk.top_layer().to_string(),
            new_top: layer.to_string(),
            size_gb: disk.size_gb,
        }))
    }

    /// Commits a transaction that froze disks (`freeze_top_layers`, createImage), first
    /// switching the running guests that use them to their new overlays, at one instant
    /// per guest: a failed switch rolls the transaction back. Should the commit fail
    /// after a switch, the guest already writes to the overlays: the switch alone is
    /// recorded then ([`Service::keep_live_tops`]) so that none of its writes is lost.
    pub(crate) async fn commit_with_live_switch(
        &self,
        mut tx: store::WriteTx<'_>,
        plan: &[Frozen],
    ) -> Result<(), CommitFailed> {
        let failed = |error: ApiError, overlays_in_use| CommitFailed {
            error,
            overlays_in_use,
        };
        let switched = self
            .switch_live_tops(&mut tx, plan)
            .await
            .map_err(|e| failed(e, false))?;
        match tx.commit().await {
            Ok(()) => Ok(()),
            Err(e) if switched.is_empty() => Err(failed(e.into(), false)),
            Err(e) => {
                self.keep_live_tops(plan).await;
                Err(failed(e.into(), true))
            }
        }
    }

    /// Records the overlays of `plan` as their disks' tops, nothing else (the frozen
    /// layers stay in the chains below them), retrying a few times.
    async fn keep_live_tops(&self, plan: &[Frozen]) {
        for attempt in 1..=5 {
            let kept = async {
                let mut tx = self.store.write().await?;
                super::freeze::switch_tops(&mut tx, plan).await?;
                tx.commit().await
            }
            .await;
            match kept {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(
                        attempt,
                        "recording a live switch after a failed commit: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
    }

    /// Switches the running guests that use the frozen disks to their new overlays, at
    /// one instant per guest. Nothing to do for disks of stopped instances.
    async fn switch_live_tops(&self, db: &mut Db, plan: &[Frozen]) -> ApiResult<Vec<FreezeReport>> {
        let Some(hv) = self.hypervisor.driver() else {
            return Ok(Vec::new());
        };
        let mut by_instance: Vec<(String, Vec<LiveSwitch>)> = Vec::new();
        for f in plan {
            for a in store::disk::attachments_of_disk(db, &f.disk_id).await? {
                if !hv.is_running(&a.instance_id) {
                    continue;
                }
                let switch = LiveSwitch {
                    device: a.device_name.clone(),
                    overlay_path: self.block.layer_path(&f.new_top),
                    overlay_node: f.new_top.clone(),
                };
                match by_instance.iter_mut().find(|(i, _)| *i == a.instance_id) {
                    Some((_, switches)) => switches.push(switch),
                    None => by_instance.push((a.instance_id.clone(), vec![switch])),
                }
            }
        }
        let mut reports = Vec::new();
        for (instance_id, switches) in by_instance {
            let report = hv.switch_tops(&instance_id, &switches).await?;
            tracing::info!(
                instance = %instance_id,
                disks = switches.len(),
                filesystems_frozen = report.filesystems_frozen,
                held_ms = report.held.as_secs_f64() * 1e3,
                "live freeze"
            );
            reports.push(report);
        }
        Ok(reports)
    }

    /// Runs `/bin/sh -c command` in the instance's guest through its agent.
    pub async fn instance_exec(
        &self,
        scope: &Scope,
        id: &str,
        command: &str,
        timeout: Duration,
    ) -> ApiResult<ExecOutput> {
        let hv = self.running_guest(scope, id).await?;
        let timeout = timeout.min(EXEC_TIMEOUT_MAX);
        match hv.exec(id, command, timeout).await {
            Err(HypervisorError::Qga(QgaError::Timeout(_))) => {
                Err(ApiError::FailedPrecondition(format!(
                    "The command did not end within {}s (it may still run in the guest)",
                    timeout.as_secs()
                )))
            }
            other => Ok(other?),
        }
    }

    /// The instance's serial console log (kept after the guest stops) from byte `from`,
    /// or its last `tail` bytes; at most `max` bytes. Where the next read starts, and the
    /// bytes.
    pub async fn instance_console_read(
        &self,
        scope: &Scope,
        id: &str,
        from: Option<u64>,
        tail: u64,
        max: usize,
    ) -> ApiResult<(u64, Vec<u8>)> {
        use std::io::{Read, Seek, SeekFrom};
        let hv = self.guest_driver(scope, id).await?;
        let Ok(mut log) = std::fs::File::open(hv.guest_dir(id).console_log()) else {
            return Ok((0, Vec::new()));
        };
        let len = log.metadata().map_err(ApiError::internal)?.len();
        let start = from.unwrap_or(len.saturating_sub(tail)).min(len);
        log.seek(SeekFrom::Start(start))
            .map_err(ApiError::internal)?;
        let mut bytes = Vec::new();
        log.take(max as u64)
            .read_to_end(&mut bytes)
            .map_err(ApiError::internal)?;
        Ok((start + bytes.len() as u64, bytes))
    }

    /// Types `input` into the running guest's serial console.
    pub async fn instance_console_write(
        &self,
        scope: &Scope,
        id: &str,
        input: &[u8],
    ) -> ApiResult<()> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let hv = self.running_guest(scope, id).await?;
        let socket = hv.guest_dir(id).console_socket();
        let typed = async {
            let mut console = tokio::net::UnixStream::connect(&socket).await?;
            console.write_all(input).await?;
            console.flush().await?;
            // QEMU's serial port takes a few bytes at a time and drops a client that hangs
            // up with input unread: wait until it took every byte, dropping what the
            // console prints meanwhile (its log keeps that).
            let mut sink = [0u8; 4096];
            while unread_by_peer(&console)? > 0 {
                tokio::select! {
                    read = console.read(&mut sink) => if read? == 0 {
                        break;
                    },
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
            console.shutdown().await
        };
        match tokio::time::timeout(CONSOLE_WRITE, typed).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ApiError::internal(e)),
            Err(_) => Err(ApiError::FailedPrecondition(format!(
                "The console of instance '{id}' is busy"
            ))),
        }
    }

    async fn guest_driver(&self, scope: &Scope, id: &str) -> ApiResult<&QemuDriver> {
        let mut conn = self.store.read().await?;
        store::instance::instance_get(&mut conn, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        self.hypervisor.driver().map(|d| &**d).ok_or_else(|| {
            ApiError::FailedPrecondition(
                "Instances do not run on this server (kiln serve --hypervisor none)".into(),
            )
        })
    }

    async fn running_guest(&self, scope: &Scope, id: &str) -> ApiResult<&QemuDriver> {
        let hv = self.guest_driver(scope, id).await?;
        if !hv.is_running(id) {
            return Err(ApiError::FailedPrecondition(format!(
                "Instance '{id}' is not running"
            )));
        }
        Ok(hv)
    }
}

/// The bytes written to a unix stream socket that its peer has not read yet (Linux's
/// SIOCOUTQ).
fn unread_by_peer(stream: &tokio::net::UnixStream) -> std::io::Result<i64> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ's number) writes one int through the pointer given.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(i64::from(n))
}
