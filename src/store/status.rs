//! The states a row can be in, one enum per resource, each spelled as JD Cloud spells it
//! (the serde name is the wire value and the stored text, written here once), and the
//! kinds of durable task. Rows hold these types, so a misspelled state does not compile.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Arg;

/// `states!(Name { Variant = "text", … })`: the enum, its text both ways (`as_str`,
/// `FromStr`), every value (`ALL`), and how both database drivers read and write it.
macro_rules! states {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the order JD's documents list them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<$name, UnknownState> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownState(format!(concat!(stringify!($name), " '{}'"), s))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for Arg {
            fn from(v: $name) -> Arg {
                Arg::Text(v.as_str().to_string())
            }
        }

        impl From<&$name> for Arg {
            fn from(v: &$name) -> Arg {
                (*v).into()
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<$name> {
                v.as_str()?
                    .parse()
                    .map_err(|e: UnknownState| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }

        impl sqlx::Type<sqlx::Any> for $name {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }
            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Any>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $name {
            fn decode(v: sqlx::any::AnyValueRef<'r>) -> Result<$name, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Any>>::decode(v)?;
                Ok(text.parse()?)
            }
        }
    };
}

/// A stored value no state of its kind has (a row written by a newer Kiln, or by hand).
#[derive(Debug, thiserror::Error)]
#[error("unknown {0}")]
pub struct UnknownState(String);

states!(
    /// An instance (`vm` `Instance.status`).
    InstanceStatus {
        Pending = "pending",
        Starting = "starting",
        Running = "running",
        Stopping = "stopping",
        Stopped = "stopped",
        Rebooting = "rebooting",
        Deleting = "deleting",
        Error = "error",
    }
);

states!(
    /// A disk (`disk` `Disk.status`).
    DiskStatus {
        Creating = "creating",
        Available = "available",
        InUse = "in-use",
        Extending = "extending",
        Restoring = "restoring",
        Deleting = "deleting",
        Deleted = "deleted",
        ErrorCreate = "error_create",
        ErrorDelete = "error_delete",
        ErrorRestore = "error_restore",
        ErrorExtend = "error_extend",
        InRecyclebin = "in-recyclebin",
    }
);

states!(
    /// A disk's attachment to an instance (`DiskAttachment.status`,
    /// `InstanceDiskAttachment.status`).
    AttachmentStatus {
        Attaching = "attaching",
        Attached = "attached",
        Detaching = "detaching",
        Detached = "detached",
        ErrorAttach = "error_attach",
        ErrorDetach = "error_detach",
    }
);

states!(
    /// A snapshot (`disk` `Snapshot.status`).
    SnapshotStatus {
        Creating = "creating",
        Available = "available",
        InUse = "in-use",
        Copying = "copying",
        Deleting = "deleting",
        ErrorCreate = "error_create",
        ErrorDelete = "error_delete",
    }
);

states!(
    /// An image (`vm` `Image.status`).
    ImageStatus {
        Pending = "pending",
        Ready = "ready",
        Deleting = "deleting",
        Error = "error",
    }
);

states!(
    /// An importImage/exportImage record (`ImageTask.taskStatus`).
    ImageTaskStatus {
        Pending = "pending",
        Running = "running",
        Failed = "failed",
        Finished = "finished",
    }
);

states!(
    /// A durable task of the worker.
    TaskState {
        Pending = "pending",
        Done = "done",
        Failed = "failed",
    }
);

states!(
    /// What a durable task does; each kind's steps are in `tasks::steps`.
    TaskKind {
        InstanceCreate = "instance_create",
        InstanceTransition = "instance_transition",
        InstanceDelete = "instance_delete",
        DiskCreate = "disk_create",
        DiskDelete = "disk_delete",
        DiskAttach = "disk_attach",
        DiskDetach = "disk_detach",
        /// extendDisk: the disk's top layer grows.
        DiskExtend = "disk_extend",
        /// restoreDisk: the data is already switched by the call; this ends `restoring`.
        DiskRestore = "disk_restore",
        SnapshotCreate = "snapshot_create",
        SnapshotDelete = "snapshot_delete",
        ImageCreate = "image_create",
        ImageDelete = "image_delete",
        ImageImport = "image_import",
        ImageExport = "image_export",
        /// convertImage; the task's target is the source image (busy while it runs).
        ImageConvert = "image_convert",
        ImageFromSnapshots = "image_from_snapshots",
        /// copyImages, one task per source image (its target: busy while it runs).
        ImageCopy = "image_copy",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value's text reads back as the value, and serde writes the same text.
    #[test]
    fn every_state_round_trips_through_its_text() {
        fn check<T>(all: &[T])
        where
            T: Copy + PartialEq + fmt::Debug + fmt::Display + Serialize,
            T: std::str::FromStr<Err = UnknownState>,
        {
            for v in all {
                let text = v.to_string();
                assert_eq!(text.parse::<T>().unwrap(), *v);
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(text));
            }
        }
        check(InstanceStatus::ALL);
        check(DiskStatus::ALL);
        check(AttachmentStatus::ALL);
        check(SnapshotStatus::ALL);
        check(ImageStatus::ALL);
        check(ImageTaskStatus::ALL);
        check(TaskState::ALL);
        check(TaskKind::ALL);
        assert!("in_use".parse::<DiskStatus>().is_err());
        assert_eq!(DiskStatus::InUse.as_str(), "in-use");
    }
}
