"""Snapshots with real data (spec 7.5-7.8; design.md "Data plane: layers").

Data is written straight into the disk's writable top qcow2 layer with qemu-io; the path comes
from `kiln admin disk-path`. Taking a snapshot freezes the top layer and gives the disk a new one,
so the path is re-queried after every snapshot.
"""

from jdcloud_sdk.services.disk.apis.DescribeSnapshotsRequest import DescribeSnapshotsParameters, DescribeSnapshotsRequest

from kiln_helpers import (
    REGION, create_disks_resp, create_snapshot_resp, delete_snapshot_resp, describe_disk, describe_snapshot,
    disk_path, expect_error, filters, ok, read_matches, snapshot_status, uniq, wait_disk_status, wait_for,
    wait_snapshot_status, write_pattern,
)


def _new_disk(disk, tracker, size_gb=20, snapshot_id=None):
    (did,) = ok(create_disks_resp(disk, uniq("snapd"), size_gb=size_gb, snapshot_id=snapshot_id))["diskIds"]
    tracker.disk_ids(did)
    wait_disk_status(disk, did, "available")
    return did


def _describe_snapshots(disk, **named_filters):
    p = DescribeSnapshotsParameters(REGION)
    if named_filters:
        p.setFilters(filters(**named_filters))
    return disk.send(DescribeSnapshotsRequest(p))


def test_snapshot_preserves_data(disk_client, data_dir, tracker):
    src = _new_disk(disk_client, tracker)
    top1 = disk_path(data_dir, src)
    write_pattern(top1, "0xaa")
    assert read_matches(top1, "0xaa")

    name = uniq("snap")
    sid = ok(create_snapshot_resp(disk_client, src, name))["snapshotId"]
    tracker.snapshot(sid)
    assert sid.startswith("snapshot-"), sid
    assert snapshot_status(disk_client, sid) == "creating"
    wait_snapshot_status(disk_client, sid, "available")

    snap = ok(describe_snapshot(disk_client, sid))["snapshot"]
    assert snap["snapshotId"] == sid and snap["diskId"] == src and snap["name"] == name, snap
    assert snap["status"] == "available"
    assert snap.get("snapshotSizeGB") == 20, snap

    # the disk got a new writable top layer; writes after the snapshot go there
    top2 = disk_path(data_dir, src)
    assert top2 != top1, "the disk's top layer must change when a snapshot is taken"
    write_pattern(top2, "0xbb")
    assert read_matches(top2, "0xbb")
    assert read_matches(top1, "0xaa"), "the frozen layer must not change"

    restored = _new_disk(disk_client, tracker, snapshot_id=sid)
    d = ok(describe_disk(disk_client, restored))["disk"]
    assert d.get("snapshotId") == sid, d
    rpath = disk_path(data_dir, restored)
    assert rpath not in (top1, top2)
    assert read_matches(rpath, "0xaa"), "disk from snapshot must hold the data as of the snapshot"
    assert read_matches(rpath, "0x00", offset="1M", length="1M"), "untouched area must read zeros"

    # writing into the restored disk does not leak back into the source
    write_pattern(rpath, "0xcc")
    assert read_matches(disk_path(data_dir, src), "0xbb")


def test_describe_and_delete_snapshots(disk_client, tracker):
    src = _new_disk(disk_client, tracker)
    other = _new_disk(disk_client, tracker)
    s1 = ok(create_snapshot_resp(disk_client, src, uniq("s")))["snapshotId"]
    tracker.snapshot(s1)
    wait_snapshot_status(disk_client, s1, "available")
    s2 = ok(create_snapshot_resp(disk_client, src, uniq("s")))["snapshotId"]
    tracker.snapshot(s2)
    s3 = ok(create_snapshot_resp(disk_client, other, uniq("s")))["snapshotId"]
    tracker.snapshot(s3)
    for sid in (s2, s3):
        wait_snapshot_status(disk_client, sid, "available")

    res = ok(_describe_snapshots(disk_client, diskId=[src]))
    assert {s["snapshotId"] for s in res["snapshots"]} == {s1, s2} and res["totalCount"] == 2, res
    assert all(s["diskId"] == src for s in res["snapshots"])

    res = ok(_describe_snapshots(disk_client, diskId=[src, other], status=["available"]))
    assert {s["snapshotId"] for s in res["snapshots"]} == {s1, s2, s3}, res

    res = ok(_describe_snapshots(disk_client, snapshotId=[s3]))
    assert [s["snapshotId"] for s in res["snapshots"]] == [s3], res

    ok(delete_snapshot_resp(disk_client, s1), allow_empty=True)
    wait_for(lambda: snapshot_status(disk_client, s1), lambda s: s is None, what="snapshot %s gone" % s1)
    expect_error(describe_snapshot(disk_client, s1), 404, "NOT_FOUND", "Snapshot '%s' not found" % s1)
    res = ok(_describe_snapshots(disk_client, diskId=[src]))
    assert {s["snapshotId"] for s in res["snapshots"]} == {s2}, res

    # the source disk is unaffected by snapshot deletion
    assert ok(describe_disk(disk_client, src))["disk"]["status"] == "available"


def test_snapshot_client_token_idempotent(disk_client, tracker):
    src = _new_disk(disk_client, tracker)
    token = uniq("tok")
    name = uniq("s")
    a = ok(create_snapshot_resp(disk_client, src, name, client_token=token))["snapshotId"]
    tracker.snapshot(a)
    b = ok(create_snapshot_resp(disk_client, src, name, client_token=token))["snapshotId"]
    tracker.snapshot(b)
    assert a == b
    wait_snapshot_status(disk_client, a, "available")


def test_unknown_snapshot(disk_client):
    expect_error(describe_snapshot(disk_client, "snapshot-nope"), 404, "NOT_FOUND",
                 "Snapshot 'snapshot-nope' not found")
    expect_error(delete_snapshot_resp(disk_client, "snapshot-nope"), 404, "NOT_FOUND",
                 "Snapshot 'snapshot-nope' not found")


def test_snapshot_of_unknown_disk(disk_client, tracker):
    resp = create_snapshot_resp(disk_client, "vol-nope", uniq("s"))
    if resp.error is None and resp.result:
        tracker.snapshot(resp.result["snapshotId"])
    expect_error(resp, 404, "NOT_FOUND", "Disk 'vol-nope' not found")


def test_disk_from_unknown_snapshot(disk_client, tracker):
    resp = create_disks_resp(disk_client, uniq("d"), snapshot_id="snapshot-nope")
    if resp.error is None and resp.result:
        tracker.disk_ids(*resp.result.get("diskIds", []))
    expect_error(resp, 404, "NOT_FOUND", "Snapshot id 'snapshot-nope' not found")
