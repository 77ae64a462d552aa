//! What each kind of task carries in its row's `payload`: one serde struct per kind, its
//! kind tied to it ([`Payload::KIND`]), written by `tasks::enqueue` and read back in one
//! place ([`decode`]). The JSON keys are those earlier versions wrote, so tasks left
//! pending by an upgraded node still decode.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StepError;
use crate::store::{InstanceStatus, TaskKind, TaskRow};

/// A task kind's payload.
pub trait Payload: Serialize + DeserializeOwned {
    const KIND: TaskKind;
}

/// The payload of `task`, as the struct of its kind.
pub fn decode<P: Payload>(task: &TaskRow) -> Result<P, StepError> {
    if task.kind != P::KIND {
        return Err(StepError::Invalid(format!(
            "task {} is {}, not {}",
            task.id,
            task.kind,
            P::KIND
        )));
    }
    serde_json::from_str(&task.payload)
        .map_err(|e| StepError::Invalid(format!("task {} payload: {e}", task.id)))
}

macro_rules! payloads {
    ($($(#[$meta:meta])* $name:ident = $kind:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty),* $(,)? })+) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            #[serde(rename_all = "camelCase")]
            pub struct $name {
                $($(#[$fmeta])* pub $field: $ty,)*
            }

            impl Payload for $name {
                const KIND: TaskKind = TaskKind::$kind;
            }
        )+
    };
}

payloads! {
    /// Materialize the new instance's disks, then `running`.
    InstanceCreate = InstanceCreate {}
    /// start, stop or reboot: the underlay task's name and the status it ends in.
    InstanceTransition = InstanceTransition {
        task: String,
        #[serde(rename = "final")]
        final_status: InstanceStatus,
    }
    InstanceDelete = InstanceDelete {}
    DiskCreate = DiskCreate {}
    DiskDelete = DiskDelete {}
    DiskAttach = DiskAttach { instance_id: String }
    DiskDetach = DiskDetach { instance_id: String }
    /// extendDisk: the size (GiB) and IOPS the disk ends with.
    DiskExtend = DiskExtend { size_gb: i64, iops: i64 }
    DiskRestore = DiskRestore {}
    SnapshotCreate = SnapshotCreate {}
    SnapshotDelete = SnapshotDelete {}
    /// The instance imaged and every disk frozen by the createImage call.
    ImageCreate = ImageCreate { instance_id: String, freeze: Vec<Freeze> }
    ImageDelete = ImageDelete {
        #[serde(default)]
        delete_snapshot: bool,
    }
    /// The imageTasks record to report to, and what to fetch for each snapshot.
    ImageImport = ImageImport { image_task_id: String, sources: Vec<ImportSource> }
    /// The imageTasks record to report to, and the file each layer goes to.
    ImageExport = ImageExport { image_task_id: String, files: Vec<ExportFile> }
    /// convertImage (target: the source image): the new image and the snapshot of its
    /// system disk, made for it.
    ImageConvert = ImageConvert {
        image_id: String,
        snapshot_id: String,
        /// The imageTasks record (`ConvertImage`); none in rows of an earlier version.
        #[serde(default)]
        image_task_id: String,
    }
    /// createImageFromSnapshots: nothing to carry (the image names its snapshots).
    ImageFromSnapshots = ImageFromSnapshots {}
    /// copyImages (target: the source image): the copy, its imageTasks record, and each
    /// disk's layer to copy from and the snapshot and layer it becomes.
    ImageCopy = ImageCopy { image_id: String, image_task_id: String, disks: Vec<CopyDisk> }
}

/// One disk frozen by createImage: the layer holding the image's data, and the snapshot
/// made of it (empty for a local system disk, which is copied instead).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Freeze {
    pub disk_id: String,
    pub frozen_layer_id: String,
    pub snapshot_id: String,
}

/// One disk of an imported image: where its data comes from and the layer it becomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSource {
    pub snapshot_id: String,
    pub url: String,
    /// qemu-img's name of the source's format.
    pub format: String,
    pub size_gb: i64,
    pub layer_id: String,
}

/// One disk of an image copy: a standalone copy of `source_layer_id`'s chain becomes
/// `layer_id`, the layer of the destination's snapshot `snapshot_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyDisk {
    pub source_layer_id: String,
    pub snapshot_id: String,
    pub layer_id: String,
}

/// One file of an export.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportFile {
    pub layer_id: String,
    pub dest: String,
    pub object: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: TaskKind, payload: &str) -> TaskRow {
        let empty = ImageDelete {
            delete_snapshot: false,
        };
        let mut t = super::super::new_task("target", &empty, Default::default());
        t.kind = kind;
        t.payload = payload.to_string();
        t
    }

    /// Payloads as the previous version wrote them (`json!` with these keys) decode.
    #[test]
    fn rows_of_the_previous_version_decode() {
        let t = row(
            TaskKind::ImageCreate,
            r#"{"instanceId":"i-1","freeze":[{"diskId":"vol-1","frozenLayerId":"lyr-1","snapshotId":""}]}"#,
        );
        let p: ImageCreate = decode(&t).unwrap();
        assert_eq!(p.instance_id, "i-1");
        assert_eq!(p.freeze[0].frozen_layer_id, "lyr-1");
        let t = row(
            TaskKind::InstanceTransition,
            r#"{"task":"stop","final":"stopped"}"#,
        );
        let p: InstanceTransition = decode(&t).unwrap();
        assert_eq!(p.final_status, InstanceStatus::Stopped);
        let p: ImageDelete = decode(&row(TaskKind::ImageDelete, "{}")).unwrap();
        assert!(!p.delete_snapshot);
        let t = row(
            TaskKind::ImageImport,
            r#"{"imageTaskId":"7","sources":[{"snapshotId":"s","url":"file:///x","format":"qcow2","sizeGb":40,"layerId":"lyr-2"}]}"#,
        );
        let p: ImageImport = decode(&t).unwrap();
        assert_eq!((p.image_task_id.as_str(), p.sources[0].size_gb), ("7", 40));
    }

    /// A payload read as another kind's, or one missing a key, is an error, not a default.
    #[test]
    fn a_wrong_kind_or_a_missing_key_is_refused() {
        let t = row(TaskKind::DiskAttach, r#"{"instanceId":"i-1"}"#);
        assert!(decode::<DiskDetach>(&t).is_err());
        assert_eq!(decode::<DiskAttach>(&t).unwrap().instance_id, "i-1");
        let t = row(TaskKind::DiskAttach, r#"{}"#);
        assert!(decode::<DiskAttach>(&t).is_err());
    }
}
