"""Disk and snapshot changes through the official SDK's requests (disk service): extendDisk,
restoreDisk, modifyDiskAttribute, modifySnapshotAttribute, deleteSnapshots,
describeSnapshotChain, and a deleted disk reading `deleted` before it is gone.
"""

import json
import subprocess

from jdcloud_sdk.services.disk.apis.DeleteDiskRequest import DeleteDiskParameters, DeleteDiskRequest
from jdcloud_sdk.services.disk.apis.DeleteSnapshotsRequest import DeleteSnapshotsParameters, DeleteSnapshotsRequest
from jdcloud_sdk.services.disk.apis.DescribeSnapshotChainRequest import (
    DescribeSnapshotChainParameters, DescribeSnapshotChainRequest,
)
from jdcloud_sdk.services.disk.apis.ExtendDiskRequest import ExtendDiskParameters, ExtendDiskRequest
from jdcloud_sdk.services.disk.apis.ModifyDiskAttributeRequest import (
    ModifyDiskAttributeParameters, ModifyDiskAttributeRequest,
)
from jdcloud_sdk.services.disk.apis.ModifySnapshotAttributeRequest import (
    ModifySnapshotAttributeParameters, ModifySnapshotAttributeRequest,
)
from jdcloud_sdk.services.disk.apis.RestoreDiskRequest import RestoreDiskParameters, RestoreDiskRequest

from kiln_helpers import (
    REGION, create_disks_resp, create_snapshot_resp, describe_disk, describe_snapshot, disk_path, expect_error,
    ok, read_matches, uniq, wait_disk_status, wait_snapshot_status, write_pattern,
)


def _new_disk(disk, tracker, size_gb=20):
    (did,) = ok(create_disks_resp(disk, uniq("chg"), size_gb=size_gb))["diskIds"]
    tracker.disk_ids(did)
    wait_disk_status(disk, did, "available")
    return did


def _snapshot(disk, tracker, did):
    sid = ok(create_snapshot_resp(disk, did, uniq("s")))["snapshotId"]
    tracker.snapshot(sid)
    wait_snapshot_status(disk, sid, "available")
    return sid


def _extend(disk, did, size):
    return disk.send(ExtendDiskRequest(ExtendDiskParameters(REGION, did, size)))


def _restore(disk, did, sid):
    return disk.send(RestoreDiskRequest(RestoreDiskParameters(REGION, did, sid)))


def test_extend_keeps_data_and_grows(disk_client, data_dir, tracker):
    did = _new_disk(disk_client, tracker)
    write_pattern(disk_path(data_dir, did), "0x5a")
    expect_error(_extend(disk_client, did, 20), 400, "INVALID_ARGUMENT", "Invalid diskSizeGB '20'")
    expect_error(_extend(disk_client, did, 25), 400, "INVALID_ARGUMENT", "Invalid diskSizeGB '25'")
    expect_error(_extend(disk_client, "vol-nope", 40), 404, "NOT_FOUND", "Disk 'vol-nope' not found")
    ok(_extend(disk_client, did, 40), allow_empty=True)
    wait_disk_status(disk_client, did, "available")
    top = disk_path(data_dir, did)
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", "-U", str(top)],
                                     capture_output=True, check=True).stdout)
    assert info["virtual-size"] == 40 << 30
    assert read_matches(top, "0x5a")
    assert ok(describe_disk(disk_client, did))["disk"]["diskSizeGB"] == 40


def test_restore_rolls_back(disk_client, data_dir, tracker):
    did = _new_disk(disk_client, tracker)
    other = _new_disk(disk_client, tracker)
    write_pattern(disk_path(data_dir, did), "0xaa")
    sid = _snapshot(disk_client, tracker, did)
    write_pattern(disk_path(data_dir, did), "0xbb")
    theirs = _snapshot(disk_client, tracker, other)
    expect_error(_restore(disk_client, did, theirs), 400, "FAILED_PRECONDITION",
                 "Snapshot was not created by this disk")
    expect_error(_restore(disk_client, did, "snapshot-nope"), 404, "NOT_FOUND", "Snapshot 'snapshot-nope' not found")
    ok(_restore(disk_client, did, sid), allow_empty=True)
    wait_disk_status(disk_client, did, "available")
    assert read_matches(disk_path(data_dir, did), "0xaa")


def test_modify_attributes(disk_client, tracker):
    did = _new_disk(disk_client, tracker)
    p = ModifyDiskAttributeParameters(REGION, did)
    p.setName("renamed")
    p.setDescription("by the sdk")
    ok(disk_client.send(ModifyDiskAttributeRequest(p)), allow_empty=True)
    d = ok(describe_disk(disk_client, did))["disk"]
    assert (d["name"], d["description"]) == ("renamed", "by the sdk")
    expect_error(disk_client.send(ModifyDiskAttributeRequest(ModifyDiskAttributeParameters(REGION, did))),
                 400, "INVALID_ARGUMENT", "Parameter name missing")
    sid = _snapshot(disk_client, tracker, did)
    p = ModifySnapshotAttributeParameters(REGION, sid)
    p.setName("snap-renamed")
    ok(disk_client.send(ModifySnapshotAttributeRequest(p)), allow_empty=True)
    assert ok(describe_snapshot(disk_client, sid))["snapshot"]["name"] == "snap-renamed"


def test_delete_snapshots_and_chain(disk_client, tracker):
    did = _new_disk(disk_client, tracker)
    a = _snapshot(disk_client, tracker, did)
    b = _snapshot(disk_client, tracker, did)
    p = DescribeSnapshotChainParameters(REGION)
    p.setDiskId(did)
    chain = ok(disk_client.send(DescribeSnapshotChainRequest(p)))["snapshotChain"]
    assert (chain["diskId"], chain["snapshotTotalCount"]) == (did, 2)
    r = ok(disk_client.send(DeleteSnapshotsRequest(DeleteSnapshotsParameters(REGION, [a, "snapshot-nope", b]))))
    assert (r["successCount"], r["failedCount"]) == (2, 1), r
    assert [s["success"] for s in r["snapshots"]] == [True, False, True]
    assert r["snapshots"][1]["detail"] == "Snapshot 'snapshot-nope' not found"


def test_deleted_disk_reads_deleted(spawn_kiln):
    env = spawn_kiln("--deleted-retention", "30s")
    disk = env.disk
    (did,) = ok(create_disks_resp(disk, uniq("gone")))["diskIds"]
    wait_disk_status(disk, did, "available")
    ok(disk.send(DeleteDiskRequest(DeleteDiskParameters(REGION, did))), allow_empty=True)
    wait_disk_status(disk, did, "deleted")
    expect_error(disk.send(DeleteDiskRequest(DeleteDiskParameters(REGION, did))), 404, "NOT_FOUND",
                 "Disk '%s' not found" % did)
