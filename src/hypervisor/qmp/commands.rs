//! The QMP commands Kiln sends, as typed structs: each serializes to the command's
//! `arguments` and names the type its `return` is read into, so a misspelt argument or a
//! changed reply is a compile error or a clear `Protocol` error, not a silent `null`.
//! Only the fields Kiln reads are declared; QEMU's other fields are ignored.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};

/// A QMP command: its arguments are `Self` serialized (a unit struct sends none).
pub trait QmpCommand: Serialize {
    const NAME: &'static str;
    type Reply: DeserializeOwned;
}

/// The `{}` most commands return.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Empty {}

macro_rules! no_argument_commands {
    ($($(#[$doc:meta])* $ty:ident = $name:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, Serialize)]
        pub struct $ty;
        impl QmpCommand for $ty {
            const NAME: &'static str = $name;
            type Reply = Empty;
        }
    )*};
}

no_argument_commands! {
    /// Asks the guest to power off (ACPI); answers at once, `SHUTDOWN` follows if it obeys.
    SystemPowerdown = "system_powerdown";
    /// A hard reset of the guest.
    SystemReset = "system_reset";
    /// Ends QEMU: it answers, then closes the socket.
    Quit = "quit";
    /// Pauses the vCPUs.
    Stop = "stop";
    /// Resumes (or first starts, under `-S`) the vCPUs.
    Cont = "cont";
}

/// `query-status`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct QueryStatus;

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct StatusInfo {
    /// `running`, `paused`, `prelaunch`, `shutdown`, …
    pub status: String,
    pub running: bool,
}

impl QmpCommand for QueryStatus {
    const NAME: &'static str = "query-status";
    type Reply = StatusInfo;
}

/// `query-block`: the block backends (one per disk device).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct QueryBlock;

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BlockInfo {
    /// The legacy drive name: empty for `-blockdev`/`blockdev-add` disks.
    pub device: String,
    /// The device's QOM path (`/machine/peripheral/vda/virtio-backend`).
    pub qdev: Option<String>,
    pub inserted: Option<BlockInserted>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct BlockInserted {
    /// The top node's name (the current overlay after a snapshot).
    pub node_name: Option<String>,
    /// The top node's file name as opened; a `json:{…}` pseudo-filename when its options are
    /// more than the header says (after `blockdev-snapshot` of a node added with
    /// `Backing::Detached`): identify layers by `node_name`.
    pub file: String,
    /// The header's name (relative in Kiln's store) when QEMU opened the chain itself; the
    /// backing node's file name (absolute) when it was attached by `blockdev-snapshot`.
    #[serde(rename = "backing_file")]
    pub backing_file: Option<String>,
    pub ro: bool,
    pub drv: String,
}

impl QmpCommand for QueryBlock {
    const NAME: &'static str = "query-block";
    type Reply = Vec<BlockInfo>;
}

/// `blockdev-add` of a qcow2 node over a file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BlockdevAdd {
    pub driver: &'static str,
    pub node_name: String,
    pub file: FileNode,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Backing::is_from_image")]
    pub backing: Backing,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileNode {
    pub driver: &'static str,
    pub filename: String,
}

/// Where a qcow2 node's backing comes from.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Backing {
    /// QEMU opens the chain named in the image header (`backing` not sent).
    #[default]
    FromImage,
    /// No backing node for now (`"backing": null`): an overlay to be attached with
    /// `blockdev-snapshot`.
    Detached,
    /// An existing node.
    Node(String),
}

impl Backing {
    fn is_from_image(&self) -> bool {
        *self == Backing::FromImage
    }
}

impl Serialize for Backing {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Backing::FromImage | Backing::Detached => s.serialize_none(),
            Backing::Node(n) => s.serialize_str(n),
        }
    }
}

impl BlockdevAdd {
    /// A writable qcow2 node `node_name` over `path`, its backing chain from the header.
    pub fn qcow2(node_name: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            driver: "qcow2",
            node_name: node_name.into(),
            file: FileNode {
                driver: "file",
                filename: path.into(),
            },
            read_only: false,
            backing: Backing::FromImage,
        }
    }

    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    pub fn backing(mut self, backing: Backing) -> Self {
        self.backing = backing;
        self
    }
}

impl QmpCommand for BlockdevAdd {
    const NAME: &'static str = "blockdev-add";
    type Reply = Empty;
}

/// `blockdev-del`: fails while a device or another node still uses the node.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BlockdevDel {
    pub node_name: String,
}

impl QmpCommand for BlockdevDel {
    const NAME: &'static str = "blockdev-del";
    type Reply = Empty;
}

/// `device_add`, e.g. `DeviceAdd::new("virtio-blk-pci", "vdb").drive("vdb-node")`.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAdd {
    pub driver: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drive: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// A disk's serial number as the guest sees it (virtio-blk: at most 20 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl DeviceAdd {
    pub fn new(driver: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            driver: driver.into(),
            id: id.into(),
            drive: None,
            bus: None,
            addr: None,
            serial: None,
        }
    }

    pub fn serial(mut self, serial: impl Into<String>) -> Self {
        self.serial = Some(serial.into());
        self
    }

    pub fn drive(mut self, node_name: impl Into<String>) -> Self {
        self.drive = Some(node_name.into());
        self
    }

    pub fn bus(mut self, bus: impl Into<String>) -> Self {
        self.bus = Some(bus.into());
        self
    }

    pub fn addr(mut self, addr: impl Into<String>) -> Self {
        self.addr = Some(addr.into());
        self
    }
}

impl QmpCommand for DeviceAdd {
    const NAME: &'static str = "device_add";
    type Reply = Empty;
}

/// `device_del`: only a request; the device is gone at the `DEVICE_DELETED` event, which
/// for a PCI device needs the guest's acknowledgement.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceDel {
    pub id: String,
}

impl QmpCommand for DeviceDel {
    const NAME: &'static str = "device_del";
    type Reply = Empty;
}

/// `transaction`: all the actions or none, at one point in the guest's time.
#[derive(Debug, Clone, Serialize)]
pub struct Transaction {
    pub actions: Vec<TransactionAction>,
}

impl QmpCommand for Transaction {
    const NAME: &'static str = "transaction";
    type Reply = Empty;
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "kebab-case")]
pub enum TransactionAction {
    BlockdevSnapshotSync(BlockdevSnapshotSync),
    BlockdevSnapshot(BlockdevSnapshot),
}

/// Puts the image `snapshot_file` on top of node `node_name`; with `mode: existing` the file
/// must exist (Kiln makes its overlays itself) and its header's backing name is kept.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BlockdevSnapshotSync {
    pub node_name: String,
    pub snapshot_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_node_name: Option<String>,
    pub format: String,
    pub mode: SnapshotMode,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotMode {
    Existing,
    AbsolutePaths,
}

impl BlockdevSnapshotSync {
    /// A qcow2 overlay that already exists at `snapshot_file`.
    pub fn existing_qcow2(
        node_name: impl Into<String>,
        snapshot_file: impl Into<String>,
        snapshot_node_name: impl Into<String>,
    ) -> Self {
        Self {
            node_name: node_name.into(),
            snapshot_file: snapshot_file.into(),
            snapshot_node_name: Some(snapshot_node_name.into()),
            format: "qcow2".into(),
            mode: SnapshotMode::Existing,
        }
    }
}

/// Puts the already added node `overlay` (added with `Backing::Detached`) on top of `node`.
#[derive(Debug, Clone, Serialize)]
pub struct BlockdevSnapshot {
    pub node: String,
    pub overlay: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, to_value};

    #[test]
    fn arguments_are_spelt_as_qmp_wants() {
        let add = BlockdevAdd::qcow2("n1", "/d/a.qcow2").read_only(true);
        assert_eq!(
            to_value(&add).unwrap(),
            json!({"driver": "qcow2", "node-name": "n1", "read-only": true,
                   "file": {"driver": "file", "filename": "/d/a.qcow2"}})
        );
        let detached = add.clone().backing(Backing::Detached);
        assert_eq!(to_value(&detached).unwrap()["backing"], json!(null));
        let on = add.backing(Backing::Node("n0".into()));
        assert_eq!(to_value(&on).unwrap()["backing"], json!("n0"));
        let dev = DeviceAdd::new("virtio-blk-pci", "vdb").drive("n1");
        assert_eq!(
            to_value(&dev).unwrap(),
            json!({"driver": "virtio-blk-pci", "id": "vdb", "drive": "n1"})
        );
        assert_eq!(to_value(QueryStatus).unwrap(), json!(null));
    }

    #[test]
    fn transaction_actions_are_tagged() {
        let t = Transaction {
            actions: vec![
                TransactionAction::BlockdevSnapshotSync(BlockdevSnapshotSync::existing_qcow2(
                    "n0",
                    "/d/o.qcow2",
                    "n1",
                )),
                TransactionAction::BlockdevSnapshot(BlockdevSnapshot {
                    node: "a".into(),
                    overlay: "b".into(),
                }),
            ],
        };
        assert_eq!(
            to_value(&t).unwrap(),
            json!({"actions": [
                {"type": "blockdev-snapshot-sync", "data": {"node-name": "n0",
                 "snapshot-file": "/d/o.qcow2", "snapshot-node-name": "n1",
                 "format": "qcow2", "mode": "existing"}},
                {"type": "blockdev-snapshot", "data": {"node": "a", "overlay": "b"}},
            ]})
        );
    }

    #[test]
    fn replies_read_the_fields_kiln_needs() {
        let reply = json!([{"device": "", "qdev": "/machine/peripheral/vda/virtio-backend",
            "locked": false, "inserted": {"node-name": "top", "file": "/d/o.qcow2",
            "backing_file": "x.qcow2", "ro": false, "drv": "qcow2", "backing_file_depth": 1}}]);
        let blocks: Vec<BlockInfo> = serde_json::from_value(reply).unwrap();
        let ins = blocks[0].inserted.as_ref().unwrap();
        assert_eq!(ins.backing_file.as_deref(), Some("x.qcow2"));
        assert_eq!(ins.node_name.as_deref(), Some("top"));
        let status: StatusInfo = serde_json::from_value(
            json!({"status": "paused", "running": false, "singlestep": false}),
        )
        .unwrap();
        assert!(!status.running);
    }
}
