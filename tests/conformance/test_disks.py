"""Cloud disks: createDisks / describeDisk(s) / deleteDisk and vm attachDisk / detachDisk
(spec 7.1-7.4, 6.19, 6.20)."""

from jdcloud_sdk.services.disk.apis.DeleteDiskRequest import DeleteDiskParameters, DeleteDiskRequest
from jdcloud_sdk.services.disk.apis.DescribeDisksRequest import DescribeDisksParameters, DescribeDisksRequest
from jdcloud_sdk.services.vm.apis.AttachDiskRequest import AttachDiskParameters, AttachDiskRequest
from jdcloud_sdk.services.vm.apis.DetachDiskRequest import DetachDiskParameters, DetachDiskRequest

from kiln_helpers import (
    AZ, REGION, create_disks_resp, create_instances_resp, delete_disk_resp, describe_disk, describe_instance,
    expect_error, filters, ok, pick_image, uniq, wait_disk_gone, wait_disk_status, wait_for,
    wait_instance_status,
)


def _describe_disks(disk, page_size=None, **named_filters):
    p = DescribeDisksParameters(REGION)
    if page_size is not None:
        p.setPageSize(page_size)
    if named_filters:
        p.setFilters(filters(**named_filters))
    return disk.send(DescribeDisksRequest(p))


def _new_disks(disk, tracker, name, count=1, **kw):
    res = ok(create_disks_resp(disk, name, max_count=count, **kw))
    ids = res["diskIds"]
    tracker.disk_ids(*ids)
    return ids


def test_create_disks_batch(disk_client, tracker):
    name = uniq("dsk")
    token = uniq("tok")
    ids = _new_disks(disk_client, tracker, name, count=2, client_token=token, size_gb=30)
    assert len(ids) == 2 and len(set(ids)) == 2 and all(i.startswith("vol-") for i in ids), ids
    for did in ids:
        wait_disk_status(disk_client, did, "available")

    disks = [ok(describe_disk(disk_client, did))["disk"] for did in ids]
    assert sorted(d["name"] for d in disks) == [name + "-1", name + "-2"], disks
    for d in disks:
        assert d["az"] == AZ
        assert d["diskType"] == "ssd.gp1"
        assert d["diskSizeGB"] == 30
        assert d["status"] == "available"
        assert not d.get("attachments"), d

    res = ok(_describe_disks(disk_client, diskId=ids))
    assert res["totalCount"] == 2 and {d["diskId"] for d in res["disks"]} == set(ids), res

    res = ok(_describe_disks(disk_client, diskId=ids, status=["in-use"]))
    assert res["totalCount"] == 0, res

    res = ok(_describe_disks(disk_client, diskId=ids + ["vol-nope"], status=["available"], diskType=["ssd.gp1"]))
    assert res["totalCount"] == 2, res

    res = ok(_describe_disks(disk_client, name=[name]))  # fuzzy name match
    assert {d["diskId"] for d in res["disks"]} == set(ids), res


def test_create_disks_idempotent_client_token(disk_client, tracker):
    name = uniq("idem")
    token = uniq("tok")
    first = _new_disks(disk_client, tracker, name, count=2, client_token=token)
    again = ok(create_disks_resp(disk_client, name, max_count=2, client_token=token))["diskIds"]
    tracker.disk_ids(*again)
    assert sorted(again) == sorted(first)
    res = ok(_describe_disks(disk_client, page_size=100, name=[name]))
    assert res["totalCount"] == 2, res


def test_attach_detach(vm_client, disk_client, tracker, public_image_list):
    image = pick_image(public_image_list, "cloudDisk")
    (iid,) = ok(create_instances_resp(vm_client, image["imageId"]))["instanceIds"]
    tracker.instance(iid)
    (did,) = _new_disks(disk_client, tracker, uniq("att"))
    wait_disk_status(disk_client, did, "available")
    wait_instance_status(vm_client, iid, "running")

    p = AttachDiskParameters(REGION, iid, did)
    p.setDeviceName("vdb")
    ok(vm_client.send(AttachDiskRequest(p)), allow_empty=True)
    wait_disk_status(disk_client, did, "in-use")
    d = ok(describe_disk(disk_client, did))["disk"]
    atts = d.get("attachments") or []
    assert len(atts) == 1 and atts[0]["instanceId"] == iid, d
    assert atts[0].get("diskId") in (None, did), atts
    wait_for(lambda: ok(describe_disk(disk_client, did))["disk"]["attachments"][0].get("status"),
             lambda s: s == "attached", what="attachment status attached")

    inst = ok(describe_instance(vm_client, iid))["instance"]
    vdb = [a for a in inst.get("dataDisks") or [] if a.get("deviceName") == "vdb"]
    assert len(vdb) == 1 and vdb[0]["cloudDisk"]["diskId"] == did, inst.get("dataDisks")
    assert vdb[0]["diskCategory"] == "cloud"

    res = ok(_describe_disks(disk_client, instanceId=[iid]))
    assert did in {x["diskId"] for x in res["disks"]}, res

    # attaching the same disk again / deleting an in-use disk
    p2 = AttachDiskParameters(REGION, iid, did)
    p2.setDeviceName("vdc")
    resp = vm_client.send(AttachDiskRequest(p2))
    expect_error(resp, 400, "FAILED_PRECONDITION")
    expect_error(delete_disk_resp(disk_client, did), 400, "FAILED_PRECONDITION",
                 "Cannot delete disk in status 'in-use'")

    ok(vm_client.send(DetachDiskRequest(DetachDiskParameters(REGION, iid, did))), allow_empty=True)
    wait_disk_status(disk_client, did, "available")
    d = ok(describe_disk(disk_client, did))["disk"]
    assert not [a for a in d.get("attachments") or [] if a.get("status") in ("attached", "attaching")], d
    inst = ok(describe_instance(vm_client, iid))["instance"]
    assert did not in [(a.get("cloudDisk") or {}).get("diskId") for a in inst.get("dataDisks") or []
                       if a.get("status") in (None, "attached", "attaching")], inst["dataDisks"]


def test_attach_unknown_disk_and_instance(vm_client, disk_client, tracker, public_image_list):
    expect_error(vm_client.send(AttachDiskRequest(AttachDiskParameters(REGION, "i-nope", "vol-nope"))),
                 404, "NOT_FOUND")
    image = pick_image(public_image_list, "cloudDisk")
    (iid,) = ok(create_instances_resp(vm_client, image["imageId"]))["instanceIds"]
    tracker.instance(iid)
    wait_instance_status(vm_client, iid, "running")
    expect_error(vm_client.send(AttachDiskRequest(AttachDiskParameters(REGION, iid, "vol-nope"))),
                 404, "NOT_FOUND", "Disk 'vol-nope' not found.")


def test_delete_disk(disk_client, tracker):
    (did,) = _new_disks(disk_client, tracker, uniq("del"))
    wait_disk_status(disk_client, did, "available")
    p = DeleteDiskParameters(REGION, did)
    p.setPutInRecycleBin(False)  # sent as `putInRecycleBin=False`
    ok(disk_client.send(DeleteDiskRequest(p)), allow_empty=True)
    wait_disk_gone(disk_client, did)
    expect_error(describe_disk(disk_client, did), 404, "NOT_FOUND", "Disk '%s' not found" % did)
    res = ok(_describe_disks(disk_client, diskId=[did]))
    assert res["totalCount"] == 0, res


def test_unknown_disk(disk_client):
    expect_error(describe_disk(disk_client, "vol-nope"), 404, "NOT_FOUND", "Disk 'vol-nope' not found")
    expect_error(delete_disk_resp(disk_client, "vol-nope"), 404, "NOT_FOUND", "Disk 'vol-nope' not found")


def test_invalid_disk_type(disk_client, tracker):
    resp = create_disks_resp(disk_client, uniq("bad"), disk_type="xxx")
    if resp.error is None and resp.result:
        tracker.disk_ids(*resp.result.get("diskIds", []))
    expect_error(resp, 400, "INVALID_ARGUMENT", "Invalid disk type 'xxx'")
    resp = create_disks_resp(disk_client, uniq("bad"), disk_type="ssd.gp9")
    if resp.error is None and resp.result:
        tracker.disk_ids(*resp.result.get("diskIds", []))
    expect_error(resp, 400, "INVALID_ARGUMENT", "Invalid disk type 'ssd.gp9'")


def test_disk_page_size_out_of_range(disk_client):
    resp = _describe_disks(disk_client, page_size=5)
    expect_error(resp, 400, "OUT_OF_RANGE")
