//! Instances that run: under `--hypervisor qemu` each running instance is a
//! `qemu-system-x86_64` process on its disks' qcow2 layer files, driven over QMP, and over
//! the guest agent when the guest runs one. Below the service, as `block` is for qemu-img:
//! this module knows processes, sockets and files, never rows. The service tells it what
//! to run (a [`GuestSpec`]) and hears back when a guest ends on its own ([`GuestExit`]).
//!
//! Guests outlive `kiln serve` (QEMU runs daemonized): a restart finds them again through
//! `<data-dir>/guests/<instance-id>/` (pid file and QMP socket), or stops them.

pub mod accel;
mod driver;
mod guest_dir;
mod launch;
mod ops;
pub mod qga;
pub mod qmp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use accel::Accel;
pub use driver::QemuDriver;
pub use guest_dir::GuestDir;

/// Which hypervisor runs instances.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HypervisorKind {
    /// Instances are rows: `running` is a status (fast emulation, no guest).
    #[default]
    None,
    /// Each running instance is a QEMU process on its disks.
    Qemu,
}

/// How QEMU guests are run.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// The `qemu-system-x86_64` program.
    pub binary: PathBuf,
    pub accel: Accel,
    /// The boot kit (`scripts/build-kiln-linux`): `vmlinuz`, `initrd.img`, `cmdline`.
    pub kit: PathBuf,
    /// Guest memory is the instance type's, at most this.
    pub memory_max_mib: u64,
    /// Where each guest's sockets, pid file and console log live.
    pub run_dir: PathBuf,
    /// How long a guest may take from process start to its agent answering.
    pub boot_timeout: Duration,
    /// How long an ACPI power-down may take before the guest is stopped hard.
    pub stop_timeout: Duration,
}

/// What to run for one instance.
#[derive(Debug, Clone)]
pub struct GuestSpec {
    pub instance_id: String,
    pub memory_mib: u64,
    pub vcpus: u32,
    /// In device order: `vda` first.
    pub disks: Vec<GuestDisk>,
}

/// One disk of a guest: the device name Kiln shows (`vda`, `vdb`, …), the writable top
/// layer's file, and the QEMU node name for it (the layer id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestDisk {
    pub device: String,
    pub path: PathBuf,
    pub node: String,
    /// Shown to the guest as the disk's serial number (`/sys/block/vdX/serial`).
    pub serial: String,
}

/// A disk device of a running guest as QEMU has it: its top node and file, and the
/// backing file name the top names (as written in it: Kiln's are relative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestDevice {
    pub device: String,
    pub node: String,
    pub file: String,
    pub backing_file: Option<String>,
}

/// A disk's switch to a new, already created overlay (see `service::freeze`).
#[derive(Debug, Clone)]
pub struct LiveSwitch {
    pub device: String,
    pub overlay_path: PathBuf,
    pub overlay_node: String,
}

/// What a live freeze did.
#[derive(Debug, Clone, Copy)]
pub struct FreezeReport {
    /// Filesystems the guest agent froze (0: no agent, crash-consistent only).
    pub filesystems_frozen: u32,
    /// How long the guest's writes were held: from the agent's freeze (or the QMP
    /// transaction, without one) until the thaw.
    pub held: Duration,
}

/// A guest that ended without Kiln asking (powered off inside, crashed, killed).
#[derive(Debug, Clone)]
pub struct GuestExit {
    pub instance_id: String,
    pub reason: String,
}

/// What a command run in a guest printed and how it ended.
pub use qga::ExecOutput;

#[derive(Debug, thiserror::Error)]
pub enum HypervisorError {
    #[error("instance '{0}' has no running guest")]
    NotRunning(String),
    #[error("the guest of instance '{0}' runs no guest agent")]
    NoAgent(String),
    #[error("starting QEMU failed: {0}")]
    Spawn(String),
    #[error("the guest did not boot: {0}")]
    BootFailed(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Qmp(#[from] qmp::QmpError),
    #[error(transparent)]
    Qga(#[from] qga::QgaError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type HvResult<T> = Result<T, HypervisorError>;

/// The hypervisor the service runs instances with: none, or a QEMU driver.
#[derive(Clone, Default)]
pub struct Hypervisor(Option<Arc<QemuDriver>>);

impl Hypervisor {
    pub fn none() -> Hypervisor {
        Hypervisor(None)
    }

    pub fn qemu(driver: QemuDriver) -> Hypervisor {
        Hypervisor(Some(Arc::new(driver)))
    }

    /// The QEMU driver, when instances really run.
    pub fn driver(&self) -> Option<&Arc<QemuDriver>> {
        self.0.as_ref()
    }
}
