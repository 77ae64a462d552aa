//! Which accelerator QEMU uses. `/dev/kvm` existing is not enough: inside a micro-VM
//! without nested virtualisation KVM opens fine and QEMU then aborts at the first vCPU
//! reset ("failed to set MSR 0x10a"). `auto` therefore starts a tiny paused machine with
//! KVM once and uses KVM only if that machine comes up.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accel {
    /// KVM where it really works, else TCG.
    #[default]
    Auto,
    Kvm,
    /// Software emulation: works everywhere, slower.
    Tcg,
}

/// The accelerator a guest is started with, after `auto` was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Kvm,
    Tcg,
}

impl Resolved {
    /// `-machine …,accel=` and the CPU model that goes with it.
    pub fn machine_args(self) -> [&'static str; 4] {
        match self {
            Resolved::Kvm => ["-machine", "pc,accel=kvm", "-cpu", "host"],
            Resolved::Tcg => ["-machine", "pc,accel=tcg", "-cpu", "max"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Resolved::Kvm => "kvm",
            Resolved::Tcg => "tcg",
        }
    }
}

/// Resolves `accel` for `qemu` (probing KVM for `auto`).
pub async fn resolve(accel: Accel, qemu: &Path) -> Resolved {
    match accel {
        Accel::Kvm => Resolved::Kvm,
        Accel::Tcg => Resolved::Tcg,
        Accel::Auto if kvm_works(qemu).await => Resolved::Kvm,
        Accel::Auto => Resolved::Tcg,
    }
}

/// Whether a paused KVM machine starts and quits cleanly (bounded to a few seconds).
pub async fn kvm_works(qemu: &Path) -> bool {
    let readable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !readable {
        return false;
    }
    let child = tokio::process::Command::new(qemu)
        .args(Resolved::Kvm.machine_args())
        .args([
            "-m",
            "32",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
        ])
        .args(["-S", "-qmp", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let quit = b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n";
        let _ = stdin.write_all(quit).await;
    }
    matches!(
        tokio::time::timeout(Duration::from_secs(5), child.wait()).await,
        Ok(Ok(status)) if status.success()
    )
}
