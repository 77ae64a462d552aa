//! The QEMU command line of a guest: a `pc` machine booting the kit's kernel and initrd
//! directly (no firmware boot loader to wait for), one virtio-blk device per disk at a
//! fixed PCI slot per device name (the guest names disks in slot order, so `vdb` is
//! `/dev/vdb`), the serial console on a socket with a log, the guest agent's
//! virtio-serial port, and QMP. Daemonized, with a pid file: the guest outlives
//! `kiln serve` and is found again by its directory.

use std::ffi::OsString;

use super::accel::Resolved;
use super::{GuestDir, GuestDisk, GuestSpec, QemuConfig};

/// The first PCI slot used for disks; `vda` takes it, `vdb` the next, and so on.
const FIRST_DISK_SLOT: u32 = 0x08;
/// The last slot of the `pc` machine's bus.
const LAST_SLOT: u32 = 0x1f;

/// The PCI slot of a device name (`vda` → 0x08, `vdb` → 0x09, …), for start-up and
/// hot-plug alike.
pub fn disk_slot(device: &str) -> Option<u32> {
    let letter = device.strip_prefix("vd")?.bytes().next()?;
    let slot = FIRST_DISK_SLOT + u32::from(letter.checked_sub(b'a')?);
    (letter.is_ascii_lowercase() && slot <= LAST_SLOT).then_some(slot)
}

/// `-blockdev` for a disk's top layer: QEMU opens the backing chain from the file's own
/// (relative) backing names.
pub fn blockdev_arg(disk: &GuestDisk) -> String {
    format!(
        "driver=qcow2,node-name={},file.driver=file,file.filename={}",
        disk.node,
        escape_commas(&disk.path.to_string_lossy())
    )
}

/// `-device` for a disk: virtio-blk at its slot, with the disk's id as serial number.
pub fn device_arg(disk: &GuestDisk) -> String {
    let slot = disk_slot(&disk.device).unwrap_or(FIRST_DISK_SLOT);
    format!(
        "virtio-blk-pci,drive={},id={},addr={slot:#04x},serial={}",
        disk.node, disk.device, disk.serial
    )
}

/// QEMU option values separate on commas; a literal comma is doubled.
fn escape_commas(s: &str) -> String {
    s.replace(',', ",,")
}

/// The whole argument list.
pub fn qemu_args(
    cfg: &QemuConfig,
    accel: Resolved,
    cmdline: &str,
    spec: &GuestSpec,
    dir: &GuestDir,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |a: &str| args.push(a.into());
    for a in accel.machine_args() {
        push(a);
    }
    let memory = spec.memory_mib.clamp(64, cfg.memory_max_mib.max(64));
    push("-m");
    push(&memory.to_string());
    push("-smp");
    push(&spec.vcpus.max(1).to_string());
    for a in ["-nodefaults", "-no-user-config", "-display", "none"] {
        push(a);
    }
    push("-name");
    push(&format!("kiln-{}", spec.instance_id));
    push("-kernel");
    push(&escape_commas(&cfg.kit.join("vmlinuz").to_string_lossy()));
    push("-initrd");
    push(&escape_commas(
        &cfg.kit.join("initrd.img").to_string_lossy(),
    ));
    push("-append");
    push(cmdline);
    for disk in &spec.disks {
        push("-blockdev");
        push(&blockdev_arg(disk));
        push("-device");
        push(&device_arg(disk));
    }
    let path = |p: std::path::PathBuf| escape_commas(&p.to_string_lossy());
    push("-chardev");
    push(&format!(
        "socket,id=serial0,path={},server=on,wait=off,logfile={},logappend=on",
        path(dir.console_socket()),
        path(dir.console_log())
    ));
    push("-serial");
    push("chardev:serial0");
    push("-device");
    push("virtio-serial-pci,id=vser0");
    push("-chardev");
    push(&format!(
        "socket,id=qga0,path={},server=on,wait=off",
        path(dir.qga())
    ));
    push("-device");
    push("virtserialport,chardev=qga0,name=org.qemu.guest_agent.0");
    push("-qmp");
    push(&format!("unix:{},server=on,wait=off", path(dir.qmp())));
    push("-pidfile");
    push(&path(dir.pid_file()));
    push("-daemonize");
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn disk(device: &str) -> GuestDisk {
        GuestDisk {
            device: device.into(),
            path: PathBuf::from(format!("/data/layers/lyr-{device}.qcow2")),
            node: format!("lyr-{device}"),
            serial: format!("vol-{device}"),
        }
    }

    #[test]
    fn devices_take_slots_in_name_order() {
        assert_eq!(disk_slot("vda"), Some(0x08));
        assert_eq!(disk_slot("vdb"), Some(0x09));
        assert_eq!(disk_slot("vdx"), Some(0x1f));
        assert_eq!(disk_slot("vdy"), None);
        assert_eq!(disk_slot("sda"), None);
        assert_eq!(disk_slot("vd"), None);
        assert_eq!(
            device_arg(&disk("vdc")),
            "virtio-blk-pci,drive=lyr-vdc,id=vdc,addr=0x0a,serial=vol-vdc"
        );
    }

    #[test]
    fn the_command_line_names_every_disk_and_socket() {
        let cfg = QemuConfig {
            binary: "qemu-system-x86_64".into(),
            accel: super::super::Accel::Tcg,
            kit: "/kit,dir".into(),
            memory_max_mib: 256,
            run_dir: "/run".into(),
            boot_timeout: std::time::Duration::from_secs(1),
            stop_timeout: std::time::Duration::from_secs(1),
        };
        let spec = GuestSpec {
            instance_id: "i-x".into(),
            memory_mib: 4096,
            vcpus: 2,
            disks: vec![disk("vda"), disk("vdb")],
        };
        let dir = GuestDir::new(&cfg.run_dir, "i-x");
        let args: Vec<String> = qemu_args(&cfg, Resolved::Tcg, "console=ttyS0", &spec, &dir)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let joined = args.join(" ");
        // Memory is capped; the comma in the kit path is doubled.
        assert!(joined.contains("-m 256 "), "{joined}");
        assert!(joined.contains("-kernel /kit,,dir/vmlinuz"), "{joined}");
        assert_eq!(args.iter().filter(|a| *a == "-blockdev").count(), 2);
        assert!(joined.contains("id=vdb,addr=0x09"), "{joined}");
        assert!(joined.contains("-qmp unix:/run/i-x/qmp.sock,server=on,wait=off"));
        assert!(joined.ends_with("-daemonize"));
    }
}
