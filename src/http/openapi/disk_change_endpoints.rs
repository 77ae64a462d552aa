//! The disk service's changes in OpenAPI: modifyDiskAttribute, extendDisk, restoreDisk,
//! modifySnapshotAttribute, deleteSnapshots, describeSnapshotChain (the other disk
//! endpoints are in `endpoints`).

use super::endpoints::{inline, schema, Answer, Doc, SAMPLE_DISK, SAMPLE_SNAPSHOT};
use crate::http::endpoint::{Endpoint, ServiceName::Disk};
use crate::http::handlers::{disk_change, snapshot_change};

/// One value of every endpoint documented here.
pub fn representatives() -> Vec<Endpoint> {
    use Endpoint::*;
    let d = || SAMPLE_DISK.to_string();
    let s = || SAMPLE_SNAPSHOT.to_string();
    vec![
        ModifyDiskAttribute { disk_id: d() },
        ExtendDisk { disk_id: d() },
        RestoreDisk { disk_id: d() },
        ModifySnapshotAttribute { snapshot_id: s() },
        DeleteSnapshots,
        DescribeSnapshotChain,
    ]
}

/// The documentation of one of them (`endpoints::doc` sends only these here).
pub fn doc(e: &Endpoint) -> Doc {
    use Endpoint::*;
    const DISK: &str = "/v1/regions/{regionId}/disks/{diskId}";
    const SNAPSHOTS: &str = "/v1/regions/{regionId}/snapshots";
    const SNAPSHOT: &str = "/v1/regions/{regionId}/snapshots/{snapshotId}";
    let d = |method, path, summary| Doc {
        method,
        path,
        operation_id: e.action(),
        service: Disk,
        summary,
        description: "",
        query: vec![],
        body: None,
        result: Answer::Nothing,
        creates: None,
    };
    match e {
        ModifyDiskAttribute { .. } => Doc {
            description: "At least one of `name` and `description`.",
            body: Some((schema::<disk_change::ModifyDiskAttribute>, true)),
            ..d("PATCH", DISK, "Rename or describe a cloud disk")
        },
        ExtendDisk { .. } => Doc {
            description: "The disk must be `available`; it reads `extending`, then \
                 `available` at the new size with its data kept.",
            body: Some((schema::<disk_change::ExtendDisk>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/disks/{diskId}:extend",
                "Grow a cloud disk",
            )
        },
        RestoreDisk { .. } => Doc {
            description: "The disk must be `available` and the snapshot an `available` one \
                 of this disk; the disk's data becomes the snapshot's (`restoring`, then \
                 `available`), its size stays.",
            body: Some((schema::<disk_change::RestoreDisk>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/disks/{diskId}:restore",
                "Roll a cloud disk back to a snapshot",
            )
        },
        ModifySnapshotAttribute { .. } => Doc {
            description: "At least one of `name`, `description` and `expireTime`.",
            body: Some((schema::<snapshot_change::ModifySnapshotAttribute>, true)),
            ..d("PATCH", SNAPSHOT, "Rename or describe a snapshot")
        },
        DeleteSnapshots => Doc {
            description: "Each snapshot by deleteSnapshot's rules; one refused does not stop \
                 the others: the answer says per snapshot (`success`, `detail`).",
            query: vec![inline::<snapshot_change::DeleteSnapshots>],
            result: Answer::One(schema::<snapshot_change::DeleteSnapshotsResult>),
            ..d("DELETE", SNAPSHOTS, "Delete several snapshots")
        },
        DescribeSnapshotChain => Doc {
            description: "How many snapshots a disk (`diskId`, or the disk of `snapshotId`) \
                 has and how many bytes they hold.",
            query: vec![inline::<snapshot_change::DescribeSnapshotChain>],
            result: Answer::One(schema::<snapshot_change::DescribeSnapshotChainResult>),
            ..d(
                "GET",
                "/v1/regions/{regionId}/snapshots:chain",
                "A disk's snapshot chain",
            )
        },
        other => unreachable!("{} is not a disk change endpoint", other.action()),
    }
}
