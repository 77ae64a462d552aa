//! What the driver does to a running guest: boot wait, stop, reboot, hot-plug, the live
//! freeze, commands through the guest agent, and finding guests again after a restart.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::{Guest, QemuDriver, AGENT_CALL, HARD_STOP, UNPLUG};
use super::guest_dir;
use super::qga::{ExecOutput, GuestAgent};
use super::qmp;
use super::{launch, FreezeReport, GuestDevice, GuestDisk, HvResult, HypervisorError, LiveSwitch};

impl QemuDriver {
    /// Waits until the guest agent answers, QEMU ends (an error with the console's last
    /// lines) or the boot timeout passes (booted without an agent).
    pub(super) async fn wait_booted(&self, instance_id: &str, guest: &Guest) -> HvResult<()> {
        // The agent's socket takes one client: a connection of an earlier boot goes first.
        guest.set_agent(None);
        let qga = guest.dir.qga();
        let connect = GuestAgent::connect(&qga, self.cfg.boot_timeout);
        tokio::select! {
            agent = connect => match agent {
                Ok(agent) => {
                    guest.set_agent(Some(agent));
                    tracing::info!(instance = %instance_id, "guest booted (agent answered)");
                    Ok(())
                }
                Err(e) if !guest.qmp.is_closed() => {
                    tracing::warn!(instance = %instance_id, "no guest agent answered ({e}); the guest counts as booted");
                    Ok(())
                }
                Err(_) => Err(self.boot_failed(guest)),
            },
            _ = guest.qmp.closed() => Err(self.boot_failed(guest)),
        }
    }

    fn boot_failed(&self, guest: &Guest) -> HypervisorError {
        guest.stopping.store(true, Ordering::SeqCst);
        HypervisorError::BootFailed(format!(
            "QEMU ended while booting; console: {}",
            guest.dir.console_tail(3)
        ))
    }

    /// ACPI power-down; after the stop timeout `quit`, then SIGKILL. Returns once the QEMU
    /// process is gone (its files are free). A guest not running is already stopped.
    pub async fn stop(&self, instance_id: &str) -> HvResult<()> {
        let _op = self.lock(instance_id).await;
        let Some(guest) = self.guest(instance_id) else {
            self.guest_dir(instance_id).kill();
            return Ok(());
        };
        guest.stopping.store(true, Ordering::SeqCst);
        let _ = guest.qmp.execute(&qmp::SystemPowerdown).await;
        if tokio::time::timeout(self.cfg.stop_timeout, guest.qmp.closed())
            .await
            .is_err()
        {
            tracing::warn!(instance = %instance_id, "guest did not power down in {:?}: stopping it hard", self.cfg.stop_timeout);
        }
        self.end(instance_id, &guest).await;
        Ok(())
    }

    /// Stops the guest at once (`quit`, then SIGKILL): for delete and clean-up.
    pub async fn kill(&self, instance_id: &str) {
        let _op = self.lock(instance_id).await;
        match self.guest(instance_id) {
            Some(guest) => {
                guest.stopping.store(true, Ordering::SeqCst);
                self.end(instance_id, &guest).await;
            }
            None => self.guest_dir(instance_id).kill(),
        }
    }

    /// `quit`, SIGKILL if that is not enough, and wait for the process to be gone.
    async fn end(&self, instance_id: &str, guest: &Guest) {
        if !guest.qmp.is_closed() {
            let _ = tokio::time::timeout(HARD_STOP, guest.qmp.execute(&qmp::Quit)).await;
            let _ = tokio::time::timeout(HARD_STOP, guest.qmp.closed()).await;
        }
        let deadline = Instant::now() + HARD_STOP;
        while let Some(pid) = guest.pid.filter(|p| guest.dir.runs_in(*p)) {
            if Instant::now() > deadline {
                guest_dir::kill_pid(pid);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.forget(instance_id, guest);
        guest.dir.clear_runtime();
    }

    /// A reset, as pressing the reset button; returns once the guest has booted again.
    pub async fn reboot(&self, instance_id: &str) -> HvResult<()> {
        let _op = self.lock(instance_id).await;
        let guest = self.running(instance_id)?;
        let mut events = guest.qmp.events();
        guest.qmp.execute(&qmp::SystemReset).await?;
        wait_event(&mut events, "RESET", Duration::from_secs(10)).await?;
        self.wait_booted(instance_id, &guest).await
    }

    /// Hot-plugs a disk: its top layer as a node, then a virtio-blk device at its slot.
    pub async fn attach(&self, instance_id: &str, disk: &GuestDisk) -> HvResult<()> {
        let _op = self.lock(instance_id).await;
        let guest = self.running(instance_id)?;
        let slot = launch::disk_slot(&disk.device).ok_or_else(|| {
            HypervisorError::Invalid(format!("no PCI slot for device '{}'", disk.device))
        })?;
        guest
            .qmp
            .execute(&qmp::BlockdevAdd::qcow2(
                &disk.node,
                disk.path.to_string_lossy(),
            ))
            .await?;
        let device = qmp::DeviceAdd::new("virtio-blk-pci", &disk.device)
            .drive(&disk.node)
            .addr(format!("{slot:#04x}"))
            .serial(&disk.serial);
        if let Err(e) = guest.qmp.execute(&device).await {
            let _ = guest
                .qmp
                .execute(&qmp::BlockdevDel {
                    node_name: disk.node.clone(),
                })
                .await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Hot-unplugs the disk at `device`: the guest lets go of it (ACPI eject), then its
    /// node is closed. A device the guest does not have is already detached.
    pub async fn detach(&self, instance_id: &str, device: &str) -> HvResult<()> {
        let _op = self.lock(instance_id).await;
        let guest = self.running(instance_id)?;
        let Some(node) = device_nodes(&guest.qmp)
            .await?
            .into_iter()
            .find(|d| d.device == device)
            .map(|d| d.node)
        else {
            return Ok(());
        };
        let mut events = guest.qmp.events();
        guest
            .qmp
            .execute(&qmp::DeviceDel {
                id: device.to_string(),
            })
            .await?;
        wait_event_where(&mut events, "DEVICE_DELETED", UNPLUG, |data| {
            data.get("device").and_then(|d| d.as_str()) == Some(device)
        })
        .await?;
        guest
            .qmp
            .execute(&qmp::BlockdevDel { node_name: node })
            .await?;
        Ok(())
    }

    /// Switches every named disk of the running guest to its new overlay in one QMP
    /// transaction: one instant for all disks (crash-consistent across them). With a
    /// guest agent the guest's filesystems are frozen around it (consistent as a clean
    /// unmount would leave them); they are thawed whatever happens.
    pub async fn switch_tops(
        &self,
        instance_id: &str,
        switches: &[LiveSwitch],
    ) -> HvResult<FreezeReport> {
        let _op = self.lock(instance_id).await;
        let guest = self.running(instance_id)?;
        let nodes = device_nodes(&guest.qmp).await?;
        let actions = switches
            .iter()
            .map(|s| {
                let node = nodes
                    .iter()
                    .find(|d| d.device == s.device)
                    .map(|d| d.node.clone())
                    .ok_or_else(|| {
                        HypervisorError::Invalid(format!("the guest has no device '{}'", s.device))
                    })?;
                Ok(qmp::TransactionAction::BlockdevSnapshotSync(
                    qmp::BlockdevSnapshotSync::existing_qcow2(
                        node,
                        s.overlay_path.to_string_lossy(),
                        &s.overlay_node,
                    ),
                ))
            })
            .collect::<HvResult<Vec<_>>>()?;
        let start = Instant::now();
        let frozen = self.agent_freeze(&guest).await;
        let switched = guest.qmp.execute(&qmp::Transaction { actions }).await;
        if frozen > 0 {
            self.agent_thaw(instance_id, &guest).await;
        }
        switched?;
        Ok(FreezeReport {
            filesystems_frozen: frozen,
            held: start.elapsed(),
        })
    }

    /// Freezes the guest's filesystems through its agent: how many (0 without an agent
    /// or when the freeze fails: the switch is then crash-consistent only).
    async fn agent_freeze(&self, guest: &Guest) -> u32 {
        let Some(a) = guest.agent() else { return 0 };
        match tokio::time::timeout(AGENT_CALL, a.fsfreeze_freeze()).await {
            Ok(Ok(n)) => n,
            failed => {
                tracing::warn!(
                    "guest filesystem freeze failed ({failed:?}): crash-consistent only"
                );
                // A freeze that half happened (or late) is undone at once.
                let _ = tokio::time::timeout(AGENT_CALL, a.fsfreeze_thaw()).await;
                0
            }
        }
    }

    async fn agent_thaw(&self, instance_id: &str, guest: &Guest) {
        if let Some(a) = guest.agent() {
            match tokio::time::timeout(AGENT_CALL, a.fsfreeze_thaw()).await {
                Ok(Ok(_)) => {}
                failed => {
                    tracing::error!(instance = %instance_id, "guest filesystem thaw failed: {failed:?}")
                }
            }
        }
    }

    /// Runs `/bin/sh -c command` in the guest through its agent.
    pub async fn exec(
        &self,
        instance_id: &str,
        command: &str,
        timeout: Duration,
    ) -> HvResult<ExecOutput> {
        let guest = self.running(instance_id)?;
        let agent = match guest.agent() {
            Some(a) => a,
            None => {
                let a = GuestAgent::connect(&guest.dir.qga(), AGENT_CALL)
                    .await
                    .map_err(|_| HypervisorError::NoAgent(instance_id.to_string()))?;
                guest.set_agent(Some(a));
                guest.agent().expect("just set")
            }
        };
        let argv = ["/bin/sh", "-c", command].map(String::from);
        Ok(agent.exec_within(&argv, None, timeout).await?)
    }

    /// The guest's disk devices as QEMU has them now.
    pub async fn devices(&self, instance_id: &str) -> HvResult<Vec<GuestDevice>> {
        let guest = self.running(instance_id)?;
        device_nodes(&guest.qmp).await
    }

    /// Connects to every guest still running from before a restart; stops what is left
    /// of the others (a QEMU that no longer answers). The instance ids found running.
    pub async fn find_guests(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.cfg.run_dir) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let dir = self.guest_dir(&id);
            if self.guest(&id).is_some() {
                found.push(id);
                continue;
            }
            if dir.live_pid().is_none() {
                dir.clear_runtime();
                continue;
            }
            match self.connect(&id, dir.clone()).await {
                Ok(guest) => {
                    if let Ok(agent) = GuestAgent::connect(&dir.qga(), Duration::from_secs(2)).await
                    {
                        guest.set_agent(Some(agent));
                    }
                    tracing::info!(instance = %id, "found a running guest again");
                    found.push(id);
                }
                Err(e) => {
                    tracing::warn!(instance = %id, "a QEMU left running does not answer ({e}): killing it");
                    dir.kill();
                    dir.clear_runtime();
                }
            }
        }
        found
    }

    fn forget(&self, instance_id: &str, guest: &Guest) {
        let mut table = self.guests.lock().unwrap();
        if table
            .get(instance_id)
            .is_some_and(|g| std::ptr::eq(Arc::as_ptr(g), guest))
        {
            table.remove(instance_id);
        }
    }
}

/// The guest's disk devices as QEMU has them.
async fn device_nodes(qmp: &qmp::Qmp) -> HvResult<Vec<GuestDevice>> {
    let blocks = qmp.execute(&qmp::QueryBlock).await?;
    Ok(blocks
        .into_iter()
        .filter_map(|b| {
            let device = qdev_id(b.qdev.as_deref()?)?;
            let inserted = b.inserted?;
            Some(GuestDevice {
                device,
                node: inserted.node_name?,
                file: inserted.file,
                backing_file: inserted.backing_file,
            })
        })
        .collect())
}

/// The device id in a qdev path: `vdb` or `/machine/peripheral/vdb/virtio-backend`.
fn qdev_id(qdev: &str) -> Option<String> {
    match qdev.strip_prefix("/machine/peripheral/") {
        Some(rest) => rest.split('/').next().map(str::to_string),
        None if !qdev.starts_with('/') => Some(qdev.to_string()),
        None => None,
    }
}

async fn wait_event(
    events: &mut tokio::sync::broadcast::Receiver<qmp::QmpEvent>,
    name: &str,
    timeout: Duration,
) -> HvResult<qmp::QmpEvent> {
    wait_event_where(events, name, timeout, |_| true).await
}

async fn wait_event_where(
    events: &mut tokio::sync::broadcast::Receiver<qmp::QmpEvent>,
    name: &str,
    timeout: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> HvResult<qmp::QmpEvent> {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(ev) if ev.name == name && pred(&ev.data) => return Ok(ev),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return Err(qmp::QmpError::Closed.into()),
            }
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| HypervisorError::Invalid(format!("no {name} event within {timeout:?}")))?
}

#[cfg(test)]
mod tests {
    use super::qdev_id;

    #[test]
    fn device_ids_come_from_qdev_paths() {
        assert_eq!(
            qdev_id("/machine/peripheral/vdb/virtio-backend").as_deref(),
            Some("vdb")
        );
        assert_eq!(qdev_id("vda").as_deref(), Some("vda"));
        assert_eq!(qdev_id("/machine/unattached/device[3]"), None);
    }
}
