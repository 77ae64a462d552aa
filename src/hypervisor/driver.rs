//! The QEMU driver: starts guests and waits for them to boot, stops, reboots, hot-plugs
//! disks, switches disks to new overlays at one instant (a live freeze), runs commands
//! through the guest agent, and watches for guests that end on their own.
//!
//! One operation per guest at a time (a per-instance lock); the service runs them from
//! task steps, which are already one per instance.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::accel::{self, Resolved};
use super::qga::GuestAgent;
use super::qmp::{Qmp, QmpEvent};
use super::{launch, GuestDir, GuestExit, GuestSpec, HvResult, HypervisorError, QemuConfig};

/// How long a guest agent may take to answer once the guest has booted.
pub(super) const AGENT_CALL: Duration = Duration::from_secs(5);
/// How long `quit`, and then the process's end, may take after a power-down timed out.
pub(super) const HARD_STOP: Duration = Duration::from_secs(5);
/// How long a guest may take to let go of a hot-unplugged disk (ACPI eject).
pub(super) const UNPLUG: Duration = Duration::from_secs(20);

pub struct QemuDriver {
    pub(super) cfg: QemuConfig,
    accel: Resolved,
    /// The kernel command line of the boot kit.
    cmdline: String,
    pub(super) guests: GuestTable,
    /// One operation per instance at a time.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    exits: UnboundedSender<GuestExit>,
}

/// The guests Kiln is connected to, by instance id.
type GuestTable = Arc<Mutex<HashMap<String, Arc<Guest>>>>;

/// A running guest Kiln is connected to.
pub(super) struct Guest {
    pub(super) dir: GuestDir,
    /// QEMU's process, from its pid file when Kiln connected: a stop waits for it to be
    /// gone (its image locks released), not only for QMP to close.
    pub(super) pid: Option<i32>,
    pub(super) qmp: Qmp,
    /// The guest agent's connection, made when it first answered. Shared: the agent
    /// client serializes its own calls, so a long exec never holds up a freeze.
    agent: Mutex<Option<Arc<GuestAgent>>>,
    /// Set when Kiln ends the guest, so its exit is not reported as unexpected.
    pub(super) stopping: AtomicBool,
    /// Why the guest last shut down (QMP's `SHUTDOWN` event), for the log.
    shutdown_reason: Mutex<Option<String>>,
}

impl Guest {
    pub(super) fn agent(&self) -> Option<Arc<GuestAgent>> {
        self.agent.lock().unwrap().clone()
    }

    /// Keeps `agent` as the guest's connection (none: drops it, freeing the socket,
    /// which takes one client at a time).
    pub(super) fn set_agent(&self, agent: Option<GuestAgent>) {
        *self.agent.lock().unwrap() = agent.map(Arc::new);
    }
}

impl QemuDriver {
    /// Checks the boot kit and resolves the accelerator (probing KVM for `auto`).
    pub async fn new(cfg: QemuConfig, exits: UnboundedSender<GuestExit>) -> HvResult<QemuDriver> {
        for f in ["vmlinuz", "initrd.img", "cmdline"] {
            let path = cfg.kit.join(f);
            if !path.is_file() {
                return Err(HypervisorError::Invalid(format!(
                    "boot kit file {} missing (build it with scripts/build-kiln-linux)",
                    path.display()
                )));
            }
        }
        let cmdline_path = cfg.kit.join("cmdline");
        let cmdline = std::fs::read_to_string(&cmdline_path)
            .map_err(|source| HypervisorError::Io {
                path: cmdline_path,
                source,
            })?
            .trim()
            .to_string();
        std::fs::create_dir_all(&cfg.run_dir).map_err(|source| HypervisorError::Io {
            path: cfg.run_dir.clone(),
            source,
        })?;
        let accel = accel::resolve(cfg.accel, &cfg.binary).await;
        tracing::info!(accel = accel.name(), kit = %cfg.kit.display(), "QEMU driver ready");
        Ok(QemuDriver {
            cfg,
            accel,
            cmdline,
            guests: GuestTable::default(),
            locks: Mutex::default(),
            exits,
        })
    }

    pub fn guest_dir(&self, instance_id: &str) -> GuestDir {
        GuestDir::new(&self.cfg.run_dir, instance_id)
    }

    pub fn is_running(&self, instance_id: &str) -> bool {
        self.guest(instance_id).is_some()
    }

    pub(super) fn guest(&self, instance_id: &str) -> Option<Arc<Guest>> {
        self.guests.lock().unwrap().get(instance_id).cloned()
    }

    pub(super) fn running(&self, instance_id: &str) -> HvResult<Arc<Guest>> {
        self.guest(instance_id)
            .ok_or_else(|| HypervisorError::NotRunning(instance_id.to_string()))
    }

    pub(super) async fn lock(&self, instance_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .unwrap()
            .entry(instance_id.to_string())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Starts the guest and returns once it has booted (its agent answers; a guest without
    /// one counts as booted when the boot timeout passes with QEMU still running). A guest
    /// already running is only waited for. A guest that ends while booting is an error
    /// naming the console's last lines.
    pub async fn start(&self, spec: &GuestSpec) -> HvResult<()> {
        let _op = self.lock(&spec.instance_id).await;
        let guest = match self.guest(&spec.instance_id) {
            Some(g) => g,
            None => self.spawn(spec).await?,
        };
        self.wait_booted(&spec.instance_id, &guest).await
    }

    /// Runs QEMU for `spec` (daemonized) and connects to it.
    async fn spawn(&self, spec: &GuestSpec) -> HvResult<Arc<Guest>> {
        let dir = self.guest_dir(&spec.instance_id);
        dir.prepare()?;
        // Never two QEMU processes on one disk: a leftover of this guest goes first.
        dir.kill();
        dir.clear_runtime();
        let args = launch::qemu_args(&self.cfg, self.accel, &self.cmdline, spec, &dir);
        let log = std::fs::File::create(dir.qemu_log()).map_err(|source| HypervisorError::Io {
            path: dir.qemu_log(),
            source,
        })?;
        let status = tokio::process::Command::new(&self.cfg.binary)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .status()
            .await
            .map_err(|e| HypervisorError::Spawn(format!("{}: {e}", self.cfg.binary.display())))?;
        if !status.success() {
            let err = std::fs::read_to_string(dir.qemu_log()).unwrap_or_default();
            dir.clear_runtime();
            return Err(HypervisorError::Spawn(format!("{status}: {}", err.trim())));
        }
        tracing::info!(instance = %spec.instance_id, accel = self.accel.name(), "QEMU started");
        self.connect(&spec.instance_id, dir).await
    }

    /// Connects to a running QEMU of this guest and watches it.
    pub(super) async fn connect(&self, instance_id: &str, dir: GuestDir) -> HvResult<Arc<Guest>> {
        let qmp = Qmp::connect(&dir.qmp(), Duration::from_secs(5)).await?;
        let guest = Arc::new(Guest {
            pid: dir.live_pid(),
            dir,
            qmp,
            agent: Mutex::new(None),
            stopping: AtomicBool::new(false),
            shutdown_reason: Mutex::new(None),
        });
        self.guests
            .lock()
            .unwrap()
            .insert(instance_id.to_string(), guest.clone());
        self.watch(instance_id.to_string(), guest.clone());
        Ok(guest)
    }

    /// Follows the guest's events until QEMU ends; an end Kiln did not ask for is reported.
    fn watch(&self, instance_id: String, guest: Arc<Guest>) {
        let mut events = guest.qmp.events();
        let exits = self.exits.clone();
        let guests = self.guests.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    ev = events.recv() => match ev {
                        Ok(QmpEvent { name, data, .. }) if name == "SHUTDOWN" => {
                            let reason = data.get("reason").and_then(|r| r.as_str()).unwrap_or("unknown");
                            *guest.shutdown_reason.lock().unwrap() = Some(reason.to_string());
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => break,
                    },
                    _ = guest.qmp.closed() => break,
                }
            }
            {
                let mut table = guests.lock().unwrap();
                if table
                    .get(&instance_id)
                    .is_some_and(|g| Arc::ptr_eq(g, &guest))
                {
                    table.remove(&instance_id);
                }
            }
            guest.dir.clear_runtime();
            if !guest.stopping.load(Ordering::SeqCst) {
                let reason = match guest.shutdown_reason.lock().unwrap().clone() {
                    Some(r) => format!("QEMU ended ({r}); console: {}", guest.dir.console_tail(3)),
                    None => format!(
                        "QEMU ended unexpectedly; console: {}",
                        guest.dir.console_tail(3)
                    ),
                };
                let _ = exits.send(GuestExit {
                    instance_id,
                    reason,
                });
            }
        });
    }
}
