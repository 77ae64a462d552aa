"""Private images: createImage (seed/createImage.zh.md, spec 6.1), describeImage(s) for private
images (6.2, 6.3), deleteImage (6.4) and createInstances from a private image (6.12), all through
the official SDK, plus the data each image carries (qemu-io / qemu-img on the qcow2 layers).

Servers:
- the shared session server (`--task-delay 200ms --transition-delay 200ms`, quotas 20 images /
  15 snapshots) for everything that does not depend on timing windows or small quotas;
- `quota_env`: `--quota image=1 --quota snapshot=2`, for the two 429 rows;
- `slow_env`: `--task-delay 3s` (an image stays `pending` for 3 s, a snapshot `creating` for 3 s)
  and `--qemu-img` pointing at a wrapper that fails while a marker file exists, for the
  pending-window rows and for an instance whose creation failed.
"""

import json
import os
import re
import stat
import subprocess

import pytest

from jdcloud_sdk.services.disk.apis.DescribeSnapshotsRequest import DescribeSnapshotsParameters, DescribeSnapshotsRequest
from jdcloud_sdk.services.vm.apis.DetachDiskRequest import DetachDiskParameters, DetachDiskRequest
from jdcloud_sdk.services.vm.models.InstanceDiskAttachmentSpec import InstanceDiskAttachmentSpec

from kiln_helpers import (
    REGION, cloud_data_disk, cloud_disk_spec, create_disks_resp, create_image_resp, create_instances_resp,
    create_snapshot_resp, delete_image_resp, delete_instance_resp, delete_snapshot_resp, describe_image,
    describe_images_resp, describe_instance, describe_snapshot, disk_path, disk_status, expect_error, filters,
    image_status, instance_status, ok, pick_image, public_images, qemu_io, raw_signed_request, read_matches,
    snapshot_status, stop_instance_resp, uniq, wait_disk_status, wait_for, wait_image_gone, wait_image_status,
    wait_instance_gone, wait_instance_status, wait_snapshot_status, write_pattern,
)

# The request example of seed/createImage.zh.md, character for character (ids are substituted).
SEED_INSTANCE_PLACEHOLDER = "i-eumm****d6"
SEED_SNAPSHOT_PLACEHOLDER = "snapshot-h8u1****36"
SEED_REQUEST_BODY = """{
    "name":"test",
    "description":"test",
    "dataDisks":[
        {
            "deviceName":"vdc",
            "noDevice":true
        },
        {
            "deviceName":"vde",
            "autoDelete":true,
            "CloudDiskSpec":{
            \t"snapshotId":"snapshot-h8u1****36",
                "diskType":"ssd.io1",
                "diskSizeGB":40,
                "iops":500,
                "encrypt":false
            }
        },
        {
            "deviceName":"vdh",
            "CloudDiskSpec":{
                "diskType":"ssd.gp1",
                "diskSizeGB":40
            }
        }
    ]
}"""
SEED_PATH = "/v1/regions/cn-north-1/instances/i-eumm****d6:createImage"

CREATE_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
IMAGE_KEYS = {
    "imageId", "name", "platform", "osVersion", "architecture", "systemDiskSizeGB", "imageSource", "osType",
    "status", "createTime", "sizeMB", "desc", "ownerPin", "loginName", "launchPermission", "systemDisk",
    "dataDisks", "snapshotId", "rootDeviceType", "progress", "offline", "serviceCode", "imported",
    "expiredTime", "instanceId", "bootMode",
}
FP = "FAILED_PRECONDITION"


# ------------------------------------------------------------------------------------------ helpers

def _launch(vm, tracker, image_id, wait="running", **kw):
    res = ok(create_instances_resp(vm, image_id, **kw))
    (iid,) = res["instanceIds"]
    if tracker is not None:
        tracker.instance(iid)
    if wait:
        wait_instance_status(vm, iid, wait)
    return iid


def _instance(vm, iid):
    return ok(describe_instance(vm, iid))["instance"]


def _data_by_dev(inst):
    out = {}
    for d in inst.get("dataDisks") or []:
        assert d["deviceName"] not in out, "device %s listed twice: %r" % (d["deviceName"], inst["dataDisks"])
        out[d["deviceName"]] = d
    return out


def _disk_id(inst, device):
    if device == "vda":
        return inst["systemDisk"]["cloudDisk"]["diskId"]
    return _data_by_dev(inst)[device]["cloudDisk"]["diskId"]


def _create_image(vm, tracker, iid, name=None, **kw):
    resp = create_image_resp(vm, iid, name or uniq("img"), **kw)
    res = ok(resp)
    assert set(res) == {"imageId"}, res
    img = res["imageId"]
    assert isinstance(img, str) and img.startswith("img-"), res
    if tracker is not None:
        tracker.image(img)
    return img


def _image(vm, img):
    return ok(describe_image(vm, img))["image"]


def _expect_create_error(vm, tracker, iid, code, status, message=None, startswith=None, name=None, **kw):
    resp = create_image_resp(vm, iid, name if name is not None else uniq("img"), **kw)
    if resp.error is None and resp.result and tracker is not None:
        tracker.image(resp.result.get("imageId"))  # wrongly accepted: clean it up
    return expect_error(resp, code, status, message, startswith=startswith)


def _snapshots(disk, **named_filters):
    p = DescribeSnapshotsParameters(REGION)
    p.setPageSize(100)
    if named_filters:
        p.setFilters(filters(**named_filters))
    return ok(disk.send(DescribeSnapshotsRequest(p)))


def _private_images(vm, **setters):
    return ok(describe_images_resp(vm, imageSource="private", **setters))


def _ids(images):
    return [i["imageId"] for i in images]


def _assert_image_shape(img):
    missing = IMAGE_KEYS - set(img)
    assert not missing, "image lacks %s: %r" % (sorted(missing), img)
    assert img["imageSource"] == "private", img
    assert isinstance(img["systemDiskSizeGB"], int), img
    assert isinstance(img["sizeMB"], int), img
    assert CREATE_TIME_RE.match(img["createTime"]), img["createTime"]
    assert img["offline"] is False and img["imported"] is False, img
    assert img["rootDeviceType"] in ("cloudDisk", "localDisk"), img
    assert isinstance(img["dataDisks"], list), img
    sysd = img["systemDisk"]
    assert sysd["deviceName"] == "vda", sysd
    assert isinstance(sysd["autoDelete"], bool), sysd
    for d in [sysd] + img["dataDisks"]:
        assert d["diskCategory"] in ("local", "cloud"), d
        assert isinstance(d.get("autoDelete"), bool), d
        if d["diskCategory"] == "cloud":
            cd = d["cloudDisk"]
            assert isinstance(cd["diskType"], str) and cd["diskType"], d
            assert isinstance(cd["diskSizeGB"], int), d
            assert isinstance(cd["snapshotId"], str), d
            assert isinstance(cd.get("encrypt"), bool) and isinstance(cd.get("encrypted"), bool), d
        else:
            ld = d["localDisk"]
            assert isinstance(ld["diskSizeGB"], int) and ld["diskSizeGB"] > 0, d
    for d in img["dataDisks"]:
        assert d["deviceName"] != "vda" and d["diskCategory"] == "cloud", d


def _qemu_img_compare(a, b):
    """qemu-img compare of the guest-visible contents (backing chains followed): 0 same, 1 different."""
    p = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", a, b],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 1), "qemu-img compare %s %s failed: %r %r" % (a, b, p.stdout, p.stderr)
    return p.returncode


def _assert_reads(path, pattern, what):
    assert read_matches(path, pattern), "%s (%s) must read %s in [0, 1M)" % (what, path, pattern)
    p = qemu_io(path, "read -P 0x99 0 1M", readonly=True)
    assert "Pattern verification failed" in p.stdout + p.stderr, \
        "%s (%s) must not hold the post-createImage writes (0x99)" % (what, path)


@pytest.fixture(scope="module")
def cloud_image(public_image_list):
    return pick_image(public_image_list, "cloudDisk")


@pytest.fixture(scope="module")
def local_image(public_image_list):
    img = pick_image(public_image_list, "localDisk")
    assert img["rootDeviceType"] == "localDisk", "no public localDisk image: %r" % img
    return img


# ------------------------------------------------------------------ 1. the seed's request example

def test_seed_request_example_verbatim(vm_client, disk_client, kiln_server, tracker, cloud_image):
    iid = _launch(vm_client, tracker, cloud_image["imageId"],
                  data_disks=[cloud_data_disk("vdb", 20), cloud_data_disk("vdc", 20)])
    inst = _instance(vm_client, iid)
    vda_id, vdb_id, vdc_id = (_disk_id(inst, d) for d in ("vda", "vdb", "vdc"))

    (src,) = ok(create_disks_resp(disk_client, uniq("seedsrc"), size_gb=20))["diskIds"]
    tracker.disk_ids(src)
    wait_disk_status(disk_client, src, "available")
    sid = tracker.snapshot(ok(create_snapshot_resp(disk_client, src, uniq("seedsnap")))["snapshotId"])
    wait_snapshot_status(disk_client, sid, "available")

    assert SEED_REQUEST_BODY.count(SEED_SNAPSHOT_PLACEHOLDER) == 1
    body = SEED_REQUEST_BODY.replace(SEED_SNAPSHOT_PLACEHOLDER, sid)
    path = SEED_PATH.replace(SEED_INSTANCE_PLACEHOLDER, iid)
    raw, resp = raw_signed_request(kiln_server, "POST", path, body)
    if resp.error is None and resp.result:
        tracker.image(resp.result.get("imageId"))
    assert raw.status_code == 200, (raw.status_code, raw.text)
    envelope = json.loads(raw.content)
    assert set(envelope) == {"requestId", "result"}, envelope
    assert isinstance(envelope["requestId"], str) and envelope["requestId"], envelope
    assert set(envelope["result"]) == {"imageId"}, envelope
    img_id = envelope["result"]["imageId"]
    assert img_id.startswith("img-"), envelope
    assert resp.error is None and resp.result == {"imageId": img_id}

    img = wait_image_status(vm_client, img_id, "ready")
    _assert_image_shape(img)
    assert img["name"] == "test" and img["desc"] == "test", img
    assert img["rootDeviceType"] == "cloudDisk" and img["instanceId"] == iid, img
    assert img["systemDisk"]["diskCategory"] == "cloud", img["systemDisk"]
    assert img["systemDisk"]["cloudDisk"]["snapshotId"] == img["snapshotId"] != "", img
    devs = _data_by_dev(img)
    assert sorted(devs) == ["vdb", "vde", "vdh"], "vdc is excluded (noDevice), vde/vdh inserted: %r" % img["dataDisks"]

    vdb = devs["vdb"]["cloudDisk"]
    assert vdb["snapshotId"].startswith("snapshot-") and vdb["snapshotId"] != sid, devs["vdb"]
    assert (vdb["diskType"], vdb["diskSizeGB"]) == ("ssd.gp1", 20), devs["vdb"]
    vde = devs["vde"]
    assert vde["autoDelete"] is True, vde
    assert vde["cloudDisk"]["snapshotId"] == sid, vde
    assert (vde["cloudDisk"]["diskType"], vde["cloudDisk"]["diskSizeGB"], vde["cloudDisk"]["iops"]) == \
        ("ssd.io1", 40, 500), vde
    assert vde["cloudDisk"]["encrypt"] is False, vde
    vdh = devs["vdh"]
    assert vdh["cloudDisk"]["snapshotId"] == "", "vdh is a blank disk: %r" % vdh
    assert (vdh["cloudDisk"]["diskType"], vdh["cloudDisk"]["diskSizeGB"]) == ("ssd.gp1", 40), vdh
    assert vdh["autoDelete"] is False, "autoDelete defaults to false: %r" % vdh

    # the snapshots createImage made: system disk and vdb, not vdc
    snaps = {s["diskId"]: s for s in _snapshots(disk_client, diskId=[vda_id, vdb_id, vdc_id])["snapshots"]}
    assert set(snaps) == {vda_id, vdb_id}, snaps
    assert snaps[vda_id]["snapshotId"] == img["snapshotId"], snaps
    assert snaps[vdb_id]["snapshotId"] == vdb["snapshotId"], snaps
    for s in snaps.values():
        assert s["status"] == "available" and s["images"] == [img_id], s
    assert img_id in ok(describe_snapshot(disk_client, sid))["snapshot"]["images"]

    # an instance launched from it gets exactly that mapping
    launched = _instance(vm_client, _launch(vm_client, tracker, img_id))
    ldevs = _data_by_dev(launched)
    assert sorted(ldevs) == ["vdb", "vde", "vdh"], launched["dataDisks"]
    assert ldevs["vde"]["cloudDisk"]["snapshotId"] == sid, ldevs["vde"]
    assert (ldevs["vde"]["cloudDisk"]["diskType"], ldevs["vde"]["cloudDisk"]["diskSizeGB"],
            ldevs["vde"]["cloudDisk"]["iops"]) == ("ssd.io1", 40, 500), ldevs["vde"]
    assert ldevs["vde"]["autoDelete"] is True, ldevs["vde"]
    assert (ldevs["vdh"]["cloudDisk"]["diskType"], ldevs["vdh"]["cloudDisk"]["diskSizeGB"]) == ("ssd.gp1", 40)
    assert ldevs["vdb"]["cloudDisk"]["diskSizeGB"] == 20, ldevs["vdb"]

    # the same dataDisks through the SDK itself (plain dicts keep the capitalised key; the SDK adds
    # regionId/instanceId to the body), with `description: ""`, which is accepted
    seed_disks = json.loads(body)["dataDisks"]
    assert "CloudDiskSpec" in seed_disks[1]
    img2 = _create_image(vm_client, tracker, iid, description="", data_disks=seed_disks)
    img2_view = wait_image_status(vm_client, img2, "ready")
    assert img2_view["desc"] == "", img2_view
    devs2 = _data_by_dev(img2_view)
    assert sorted(devs2) == ["vdb", "vde", "vdh"], img2_view["dataDisks"]
    assert devs2["vde"]["cloudDisk"]["snapshotId"] == sid and devs2["vde"]["cloudDisk"]["iops"] == 500, devs2
    assert devs2["vdb"]["cloudDisk"]["snapshotId"] not in ("", vdb["snapshotId"]), devs2


# ------------------------------------------------------------------------------- 2. lifecycle

def test_lifecycle_cloud_system_disk(vm_client, disk_client, tracker, cloud_image):
    iid = _launch(vm_client, tracker, cloud_image["imageId"], data_disks=[cloud_data_disk("vdb", 20)])
    inst = _instance(vm_client, iid)
    vda_id, vdb_id = _disk_id(inst, "vda"), _disk_id(inst, "vdb")

    name = uniq("life")
    img_id = _create_image(vm_client, tracker, iid, name=name, description="lifecycle")  # running is fine
    img = _image(vm_client, img_id)
    assert img["status"] == "pending", img
    assert img["snapshotId"].startswith("snapshot-"), img
    img = wait_image_status(vm_client, img_id, "ready")
    _assert_image_shape(img)
    assert img["name"] == name and img["desc"] == "lifecycle", img
    assert img["rootDeviceType"] == "cloudDisk", img
    assert img["instanceId"] == iid, img
    assert img["progress"] == "100", img
    assert img["systemDiskSizeGB"] == 40, img
    for key in ("platform", "osType", "architecture"):
        assert img[key] == cloud_image[key], key
    sysd = img["systemDisk"]
    assert sysd["diskCategory"] == "cloud", sysd
    assert sysd["cloudDisk"]["snapshotId"] == img["snapshotId"], sysd
    assert (sysd["cloudDisk"]["diskType"], sysd["cloudDisk"]["diskSizeGB"]) == ("ssd.gp1", 40), sysd
    devs = _data_by_dev(img)
    assert list(devs) == ["vdb"], img["dataDisks"]
    vdb_snap = devs["vdb"]["cloudDisk"]["snapshotId"]
    assert vdb_snap.startswith("snapshot-") and vdb_snap != img["snapshotId"], devs
    assert (devs["vdb"]["cloudDisk"]["diskType"], devs["vdb"]["cloudDisk"]["diskSizeGB"]) == ("ssd.gp1", 20)
    assert instance_status(vm_client, iid) == "running"

    res = _snapshots(disk_client, snapshotId=[img["snapshotId"], vdb_snap])
    assert res["totalCount"] == 2, res
    by_id = {s["snapshotId"]: s for s in res["snapshots"]}
    assert by_id[img["snapshotId"]]["diskId"] == vda_id and by_id[vdb_snap]["diskId"] == vdb_id, by_id
    for s in by_id.values():
        assert s["status"] == "available", s
        assert s["images"] == [img_id], s
    # a snapshot an image uses cannot be deleted
    for sid in (img["snapshotId"], vdb_snap):
        expect_error(delete_snapshot_resp(disk_client, sid), 400, FP)
        assert snapshot_status(disk_client, sid) == "available"

    # stopped is fine too
    ok(stop_instance_resp(vm_client, iid), allow_empty=True)
    wait_instance_status(vm_client, iid, "stopped")
    img2 = _create_image(vm_client, tracker, iid)
    img2_view = wait_image_status(vm_client, img2, "ready")
    assert img2_view["rootDeviceType"] == "cloudDisk" and img2_view["snapshotId"] not in ("", img["snapshotId"])
    assert instance_status(vm_client, iid) == "stopped"


def test_lifecycle_local_system_disk(vm_client, disk_client, tracker, local_image):
    iid = _launch(vm_client, tracker, local_image["imageId"], system_disk="local",
                  data_disks=[cloud_data_disk("vdb", 20)])
    inst = _instance(vm_client, iid)
    assert inst["systemDisk"]["diskCategory"] == "local", inst["systemDisk"]
    vdb_id = _disk_id(inst, "vdb")

    _expect_create_error(vm_client, tracker, iid, 400, FP, "Please stop the instance first")
    ok(stop_instance_resp(vm_client, iid), allow_empty=True)
    wait_instance_status(vm_client, iid, "stopped")

    img_id = _create_image(vm_client, tracker, iid, description="local")
    assert image_status(vm_client, img_id) == "pending"
    img = wait_image_status(vm_client, img_id, "ready")
    _assert_image_shape(img)
    assert img["rootDeviceType"] == "localDisk", img
    assert img["snapshotId"] == "", "a localDisk image has no system-disk snapshot: %r" % img
    sysd = img["systemDisk"]
    assert sysd["diskCategory"] == "local", sysd
    assert sysd["localDisk"]["diskSizeGB"] == img["systemDiskSizeGB"] == \
        inst["systemDisk"]["localDisk"]["diskSizeGB"], (sysd, inst["systemDisk"])
    devs = _data_by_dev(img)
    assert list(devs) == ["vdb"], img["dataDisks"]
    vdb_snap = devs["vdb"]["cloudDisk"]["snapshotId"]
    s = ok(describe_snapshot(disk_client, vdb_snap))["snapshot"]
    assert s["diskId"] == vdb_id and s["status"] == "available" and s["images"] == [img_id], s
    expect_error(delete_snapshot_resp(disk_client, vdb_snap), 400, FP)
    assert instance_status(vm_client, iid) == "stopped"


# ---------------------------------------------------------------------------------- 3. errors

def test_create_image_argument_errors(vm_client, disk_client, tracker, cloud_image):
    iid = _launch(vm_client, tracker, cloud_image["imageId"], data_disks=[cloud_data_disk("vdb", 40)])
    inst = _instance(vm_client, iid)
    own_disks = [_disk_id(inst, "vda"), _disk_id(inst, "vdb")]

    def err(code, status, message=None, **kw):
        return _expect_create_error(vm_client, tracker, iid, code, status, message, **kw)

    # name: 2~32 of CJK, letters, digits, _ - .
    for bad in ("a", "x" * 33, "bad name", "bad/name"):
        err(400, "INVALID_ARGUMENT", name=bad)
    err(400, "INVALID_ARGUMENT", description="d" * 257)
    expect_error(create_image_resp(vm_client, "i-nope", uniq("img")), 404, "NOT_FOUND", "Instance 'i-nope' not found.")

    blank40 = {"diskType": "ssd.gp1", "diskSizeGB": 40}
    err(400, "DUPLICATE", "Duplicate deviceName",
        data_disks=[{"deviceName": "vdh", "noDevice": True}, {"deviceName": "vdh", "cloudDiskSpec": blank40}])
    err(400, "DUPLICATE", "Duplicate deviceName",
        data_disks=[{"deviceName": "vdb", "noDevice": True}, {"deviceName": "vdb", "noDevice": True}])

    missing_type = "Parameter DataDisks.CloudDiskSpec.DiskType missing"
    err(400, "INVALID_ARGUMENT", missing_type, data_disks=[{"deviceName": "vdh", "cloudDiskSpec": {"diskSizeGB": 40}}])
    err(400, "INVALID_ARGUMENT", missing_type, data_disks=[{"deviceName": "vdh"}])

    size_range = "DataDisks.CloudDiskSpec.DiskSizeGB out of range"
    err(400, "OUT_OF_RANGE", size_range, data_disks=[{"deviceName": "vdh", "cloudDiskSpec": {"diskType": "ssd.gp1"}}])
    for size in (10, 25, 16010):
        err(400, "OUT_OF_RANGE", size_range,
            data_disks=[{"deviceName": "vdh", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": size}}])
    # the SDK model (nulls included) reaches the same check
    err(400, "OUT_OF_RANGE", size_range,
        data_disks=[InstanceDiskAttachmentSpec(deviceName="vdh", cloudDiskSpec=cloud_disk_spec("ssd.gp1", 16010))])

    err(400, "OUT_OF_RANGE", "Device 'vdb' size can only be larger than the original size",
        data_disks=[{"deviceName": "vdb", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 30}}])

    iops_range = "DataDisks.CloudDiskSpec.Iops out of range."
    for iops in (2010, 190, 505):  # 40 GB ssd.io1: [200, 2000], step 10
        err(400, "OUT_OF_RANGE", iops_range,
            data_disks=[{"deviceName": "vdh", "cloudDiskSpec": {"diskType": "ssd.io1", "diskSizeGB": 40, "iops": iops}}])

    err(404, "NOT_FOUND", "Snapshot 'snapshot-nope' not found",
        data_disks=[{"deviceName": "vdh", "cloudDiskSpec": {"snapshotId": "snapshot-nope", "diskType": "ssd.gp1",
                                                             "diskSizeGB": 40}}])

    # nothing was made by the refused calls, and the instance is idle
    assert _private_images(vm_client, instanceIds=[iid])["totalCount"] == 0
    assert _snapshots(disk_client, diskId=own_disks)["totalCount"] == 0
    assert instance_status(vm_client, iid) == "running"

    # the bounds themselves are accepted: 32-char name (CJK . _ -), 256-char description, vdb replaced
    # by a same-size ssd.io1 disk at the iops maximum (a replaced disk is not snapshotted)
    name = ("镜像.img_" + "x" * 32)[:32]
    img_id = _create_image(vm_client, tracker, iid, name=name, description="d" * 256,
                           data_disks=[{"deviceName": "vdb", "cloudDiskSpec": {"diskType": "ssd.io1", "diskSizeGB": 40,
                                                                               "iops": 2000}}])
    img = wait_image_status(vm_client, img_id, "ready")
    assert img["name"] == name and img["desc"] == "d" * 256, img
    devs = _data_by_dev(img)
    assert list(devs) == ["vdb"], img["dataDisks"]
    assert devs["vdb"]["cloudDisk"]["snapshotId"] == "", "a replaced disk is not snapshotted: %r" % devs["vdb"]
    assert (devs["vdb"]["cloudDisk"]["diskType"], devs["vdb"]["cloudDisk"]["iops"]) == ("ssd.io1", 2000), devs
    assert {s["diskId"] for s in _snapshots(disk_client, diskId=own_disks)["snapshots"]} == {own_disks[0]}


def test_create_image_instance_state_errors(vm_client, disk_client, tracker, cloud_image):
    iid = _launch(vm_client, tracker, cloud_image["imageId"])
    sys_id = _disk_id(_instance(vm_client, iid), "vda")
    tracker.disk_ids(sys_id)  # it ends up detached below

    # during a stop transition (status `stopping`, underlay task `stop`)
    ok(stop_instance_resp(vm_client, iid), allow_empty=True)
    assert instance_status(vm_client, iid) == "stopping"
    _expect_create_error(vm_client, tracker, iid, 400, FP, startswith="Conflict with underlay task")
    wait_instance_status(vm_client, iid, "stopped")

    # without a system disk (a stopped cloud-system-disk instance may detach it)
    ok(vm_client.send(DetachDiskRequest(DetachDiskParameters(REGION, iid, sys_id))), allow_empty=True)
    wait_disk_status(disk_client, sys_id, "available")
    _expect_create_error(vm_client, tracker, iid, 400, FP, "System disk not found")
    assert _private_images(vm_client, instanceIds=[iid])["totalCount"] == 0


def test_quota_limits(spawn_kiln):
    env = spawn_kiln("--quota", "image=1", "--quota", "snapshot=2")
    vm, disk = env.vm, env.disk
    image = pick_image(public_images(vm), "cloudDisk")
    three = _launch(vm, None, image["imageId"], data_disks=[cloud_data_disk("vdb", 20), cloud_data_disk("vdc", 20)])
    one = _launch(vm, None, image["imageId"])

    # vda + vdb + vdc = 3 snapshots > 2
    expect_error(create_image_resp(vm, three, uniq("q")), 429, "QUOTA_EXCEEDED", "Snapshot quota limit exceeded")
    assert _private_images(vm)["totalCount"] == 0 and _snapshots(disk)["totalCount"] == 0
    # without vdc: 2 snapshots, 1 image, both quotas now full
    first = _create_image(vm, None, three, data_disks=[{"deviceName": "vdc", "noDevice": True}])
    wait_image_status(vm, first, "ready")
    assert _snapshots(disk)["totalCount"] == 2
    expect_error(create_image_resp(vm, one, uniq("q")), 429, "QUOTA_EXCEEDED", "Image quota limit exceeded")
    assert _private_images(vm)["totalCount"] == 1 and _snapshots(disk)["totalCount"] == 2

    # deleting the image with its snapshots gives both back
    ok(delete_image_resp(vm, first, delete_snapshot=True), allow_empty=True)
    wait_image_gone(vm, first)
    wait_for(lambda: _snapshots(disk)["totalCount"], lambda n: n == 0, what="image snapshots to go")
    second = _create_image(vm, None, one)
    wait_image_status(vm, second, "ready")


# ------------------------------------------------------- the pending window (3 s task delay server)

@pytest.fixture(scope="module")
def slow_env(spawn_kiln, tmp_path_factory):
    """A server whose tasks take 3 s, running qemu-img through a wrapper that fails while
    `env.fail_marker` exists."""
    base = tmp_path_factory.mktemp("qemu-wrap")
    marker = base / "fail-qemu-img"
    wrapper = base / "qemu-img"
    wrapper.write_text('#!/bin/sh\nif [ -e "%s" ]; then echo "conformance: injected qemu-img failure" >&2; exit 1; fi\n'
                       'exec qemu-img "$@"\n' % marker)
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = spawn_kiln("--task-delay", "3s", "--qemu-img", str(wrapper))
    env.fail_marker = marker
    env.cloud_image = pick_image(public_images(env.vm), "cloudDisk")
    return env


def test_pending_window_errors(slow_env):
    vm, disk = slow_env.vm, slow_env.disk
    iid = _launch(vm, None, slow_env.cloud_image["imageId"], data_disks=[cloud_data_disk("vdb", 20)])
    vdb_id = _disk_id(_instance(vm, iid), "vdb")

    # a data disk with a snapshot in flight
    sid = ok(create_snapshot_resp(disk, vdb_id, uniq("busy")))["snapshotId"]
    assert snapshot_status(disk, sid) == "creating"
    _expect_create_error(vm, None, iid, 400, FP, "Disk '%s' busy in 'createSnapshot'" % vdb_id)
    assert _private_images(vm)["totalCount"] == 0
    wait_snapshot_status(disk, sid, "available")

    img_id = _create_image(vm, None, iid)
    assert image_status(vm, img_id) == "pending"
    _expect_create_error(vm, None, iid, 400, FP, startswith="Conflict with underlay task")
    expect_error(stop_instance_resp(vm, iid), 400, FP, startswith="Conflict with underlay task")
    expect_error(delete_image_resp(vm, img_id), 400, FP)
    expect_error(delete_image_resp(vm, img_id, delete_snapshot=True), 400, FP)
    resp = create_instances_resp(vm, img_id)
    assert resp.error is not None, "launch from a pending image accepted: %r" % (resp.result,)
    expect_error(resp, 400, FP, "Image '%s' not ready" % img_id)
    assert _ids(_private_images(vm, status="pending", ids=[img_id])["images"]) == [img_id]
    assert _private_images(vm, status="ready", ids=[img_id])["totalCount"] == 0
    img = _image(vm, img_id)
    assert img["status"] == "pending", "the checks above must have run inside the pending window: %r" % img
    for s in _snapshots(disk, snapshotId=[img["snapshotId"], _data_by_dev(img)["vdb"]["cloudDisk"]["snapshotId"]])[
            "snapshots"]:
        assert s["status"] == "creating" and s["images"] == [img_id], s

    wait_image_status(vm, img_id, "ready")
    ok(delete_image_resp(vm, img_id), allow_empty=True)
    assert image_status(vm, img_id) == "deleting"
    expect_error(delete_image_resp(vm, img_id), 400, FP)
    wait_image_gone(vm, img_id)


def test_instance_whose_creation_failed(slow_env):
    """A storage fault during creation (the image's base layer is missing) leaves the instance
    in `error` with its system disk never attached."""
    vm = slow_env.vm
    probe = _launch(vm, None, slow_env.cloud_image["imageId"])
    top = disk_path(slow_env.data_dir, _instance(vm, probe)["systemDisk"]["cloudDisk"]["diskId"])
    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", top], check=True,
                                     capture_output=True, text=True, timeout=20).stdout)
    base = os.path.join(os.path.dirname(top), info["backing-filename"])
    assert os.path.isfile(base), base
    os.rename(base, base + ".away")
    try:
        iid = _launch(vm, None, slow_env.cloud_image["imageId"], wait="error")
    finally:
        os.rename(base + ".away", base)
    inst = _instance(vm, iid)
    # Both seed rows describe this instance (status `error`, system disk never attached); which
    # check comes first is not documented.
    e = _expect_create_error(vm, None, iid, 400, FP)
    assert e.message in ("Invalid instance status error", "Invalid system disk mount state"), \
        (e.message, inst["status"], inst["systemDisk"])
    assert _private_images(vm, instanceIds=[iid])["totalCount"] == 0


# ------------------------------------------------------------------------------- 4. deleteImage

def test_delete_image(vm_client, disk_client, tracker, cloud_image, public_image_list):
    iid = _launch(vm_client, tracker, cloud_image["imageId"], data_disks=[cloud_data_disk("vdb", 20)])
    keep = _create_image(vm_client, tracker, iid)
    keep_view = wait_image_status(vm_client, keep, "ready")
    drop = _create_image(vm_client, tracker, iid)
    drop_view = wait_image_status(vm_client, drop, "ready")

    def snaps(view):
        return [view["snapshotId"]] + [d["cloudDisk"]["snapshotId"] for d in view["dataDisks"]]

    keep_snaps, drop_snaps = snaps(keep_view), snaps(drop_view)
    assert len(set(keep_snaps + drop_snaps)) == 4, (keep_snaps, drop_snaps)

    # default: the snapshots stay, no longer used by any image
    ok(delete_image_resp(vm_client, keep), allow_empty=True)
    assert image_status(vm_client, keep) in ("deleting", None)
    wait_image_gone(vm_client, keep)
    expect_error(describe_image(vm_client, keep), 404, "NOT_FOUND", "Image '%s' not found" % keep)
    expect_error(delete_image_resp(vm_client, keep), 404, "NOT_FOUND", "Image '%s' not found" % keep)
    assert _private_images(vm_client, ids=[keep])["totalCount"] == 0
    tracker.snapshot(*keep_snaps)
    for sid in keep_snaps:
        s = ok(describe_snapshot(disk_client, sid))["snapshot"]
        assert s["status"] == "available" and s["images"] == [], s
    ok(delete_snapshot_resp(disk_client, keep_snaps[1]), allow_empty=True)  # now deletable

    # deleteSnapshot=True: they go with it
    ok(delete_image_resp(vm_client, drop, delete_snapshot=True), allow_empty=True)
    wait_image_gone(vm_client, drop)
    for sid in drop_snaps:
        wait_for(lambda: snapshot_status(disk_client, sid), lambda s: s is None, what="snapshot %s gone" % sid)
    # the source instance and its disks are untouched
    assert instance_status(vm_client, iid) == "running"

    # public images cannot be deleted
    expect_error(delete_image_resp(vm_client, cloud_image["imageId"]), 400, FP)
    assert image_status(vm_client, cloud_image["imageId"]) == "ready"
    expect_error(delete_image_resp(vm_client, "img-nope"), 404, "NOT_FOUND", "Image 'img-nope' not found")


# --------------------------------------------------------------------------- 5. describeImages

def test_describe_private_images(vm_client, tracker, cloud_image, local_image):
    tag = uniq("dsc")
    cloud_vm = _launch(vm_client, tracker, cloud_image["imageId"])
    local_vm = _launch(vm_client, tracker, local_image["imageId"], system_disk="local")
    ok(stop_instance_resp(vm_client, local_vm), allow_empty=True)
    wait_instance_status(vm_client, local_vm, "stopped")

    alpha = _create_image(vm_client, tracker, cloud_vm, name=tag + "-alpha")
    locals_ = []
    for n in range(11):  # 12 images in all, to page with the smallest page size (10)
        img = _create_image(vm_client, tracker, local_vm, name="%s-loc%02d" % (tag, n))
        wait_image_status(vm_client, img, "ready")
        locals_.append(img)
    wait_image_status(vm_client, alpha, "ready")
    everything = set([alpha] + locals_)

    def q(**kw):
        res = _private_images(vm_client, **kw)
        assert isinstance(res["totalCount"], int), res
        assert all(i["imageSource"] == "private" for i in res["images"]), res
        return res

    res = q(ids=[alpha, locals_[3]])
    assert set(_ids(res["images"])) == {alpha, locals_[3]} and res["totalCount"] == 2, res
    res = q(imageName=tag, pageSize=100)
    assert set(_ids(res["images"])) == everything and res["totalCount"] == 12, res
    res = q(imageName=tag + "-alp")
    assert _ids(res["images"]) == [alpha] and res["totalCount"] == 1, res
    res = q(imageName="lpha", instanceIds=[cloud_vm])  # fuzzy: a substring in the middle
    assert _ids(res["images"]) == [alpha], res
    res = q(imageName=tag, rootDeviceType="cloudDisk")
    assert _ids(res["images"]) == [alpha] and res["totalCount"] == 1, res
    res = q(imageName=tag, rootDeviceType="localDisk", pageSize=100)
    assert set(_ids(res["images"])) == set(locals_) and res["totalCount"] == 11, res
    assert all(i["rootDeviceType"] == "localDisk" for i in res["images"]), res
    res = q(imageName=tag, status="ready", pageSize=100)
    assert res["totalCount"] == 12, res
    res = q(imageName=tag, status="pending")
    assert res["totalCount"] == 0 and res["images"] == [], res
    res = q(instanceIds=[cloud_vm])
    assert _ids(res["images"]) == [alpha] and res["totalCount"] == 1, res
    res = q(instanceIds=[local_vm], pageSize=100)
    assert set(_ids(res["images"])) == set(locals_), res
    res = q(instanceIds=[cloud_vm, local_vm], pageSize=100)
    assert set(_ids(res["images"])) == everything and res["totalCount"] == 12, res
    res = q(instanceIds=[local_vm], rootDeviceType="cloudDisk")
    assert res["totalCount"] == 0 and res["images"] == [], res

    # pages: 10 + 2, disjoint, same total, in the order of the full listing
    full = _ids(q(imageName=tag, pageSize=100)["images"])
    p1 = q(imageName=tag, pageSize=10, pageNumber=1)
    p2 = q(imageName=tag, pageSize=10, pageNumber=2)
    p3 = q(imageName=tag, pageSize=10, pageNumber=3)
    assert p1["totalCount"] == p2["totalCount"] == p3["totalCount"] == 12, (p1, p2, p3)
    assert len(p1["images"]) == 10 and len(p2["images"]) == 2 and p3["images"] == [], (p1, p2, p3)
    assert _ids(p1["images"]) + _ids(p2["images"]) == full
    expect_error(describe_images_resp(vm_client, imageSource="private", pageSize=5), 400, "OUT_OF_RANGE",
                 "PageSize out of range")


# ----------------------------------------------------------------------- 6. data round trips

def test_data_round_trip_cloud_system_disk(vm_client, disk_client, data_dir, tracker, cloud_image):
    iid = _launch(vm_client, tracker, cloud_image["imageId"], data_disks=[cloud_data_disk("vdb", 20)])
    inst = _instance(vm_client, iid)
    vda_id, vdb_id = _disk_id(inst, "vda"), _disk_id(inst, "vdb")
    vda0, vdb0 = disk_path(data_dir, vda_id), disk_path(data_dir, vdb_id)
    assert disk_path(data_dir, iid, "vda") == vda0
    write_pattern(vda0, "0x11")
    write_pattern(vdb0, "0x22")

    img_id = _create_image(vm_client, tracker, iid)
    # right away (the image is pending or just ready): the source disks write into new top layers
    vda1, vdb1 = disk_path(data_dir, vda_id), disk_path(data_dir, vdb_id)
    assert vda1 != vda0 and vdb1 != vdb0, "createImage must give the source disks new top layers"
    write_pattern(vda1, "0x99")
    write_pattern(vdb1, "0x99")
    wait_image_status(vm_client, img_id, "ready")
    vda2, vdb2 = disk_path(data_dir, vda_id), disk_path(data_dir, vdb_id)
    write_pattern(vda2, "0x99")
    write_pattern(vdb2, "0x99")
    assert read_matches(vda0, "0x11") and read_matches(vdb0, "0x22"), "the frozen layers must not change"

    # launch from the image
    new = _launch(vm_client, tracker, img_id)
    ninst = _instance(vm_client, new)
    assert ninst["imageId"] == img_id and ninst["systemDisk"]["diskCategory"] == "cloud", ninst
    assert list(_data_by_dev(ninst)) == ["vdb"], ninst["dataDisks"]
    nvda, nvdb = disk_path(data_dir, _disk_id(ninst, "vda")), disk_path(data_dir, _disk_id(ninst, "vdb"))
    assert not {nvda, nvdb} & {vda0, vda1, vda2, vdb0, vdb1, vdb2}
    _assert_reads(nvda, "0x11", "vda of the instance launched from the image")
    _assert_reads(nvdb, "0x22", "vdb of the instance launched from the image")
    assert _qemu_img_compare(nvda, vda0) == 0, "launched vda must equal the source vda as of createImage"
    assert _qemu_img_compare(nvdb, vdb0) == 0, "launched vdb must equal the source vdb as of createImage"
    assert _qemu_img_compare(nvda, vda2) == 1, "launched vda must not see the later writes"

    # noDevice drops the image's vdb; a new disk can be added next to it
    dropped = _instance(vm_client, _launch(vm_client, tracker, img_id, data_disks=[{"deviceName": "vdb",
                                                                                     "noDevice": True}]))
    assert not [d for d in dropped.get("dataDisks") or [] if d["diskCategory"] == "cloud"], dropped["dataDisks"]
    added = _instance(vm_client, _launch(vm_client, tracker, img_id, data_disks=[cloud_data_disk("vdc", 30)]))
    adevs = _data_by_dev(added)
    assert sorted(adevs) == ["vdb", "vdc"], added["dataDisks"]
    assert adevs["vdc"]["cloudDisk"]["diskSizeGB"] == 30 and adevs["vdc"]["cloudDisk"]["snapshotId"] == "", adevs
    _assert_reads(disk_path(data_dir, _disk_id(added, "vdb")), "0x22", "vdb of the second launched instance")
    assert read_matches(disk_path(data_dir, _disk_id(added, "vdc")), "0x00"), "a new disk is blank"

    # a cloudDisk image cannot give a local system disk
    resp = create_instances_resp(vm_client, img_id, system_disk="local")
    if resp.error is None and resp.result:
        tracker.instance(*resp.result.get("instanceIds", []))
    expect_error(resp, 400, FP, "Image constraints. Only support cloud system disk")

    # deleting the image with its snapshots keeps the launched disks' data
    ok(delete_image_resp(vm_client, img_id, delete_snapshot=True), allow_empty=True)
    wait_image_gone(vm_client, img_id)
    _assert_reads(nvda, "0x11", "launched vda after the image and its snapshots were deleted")
    _assert_reads(nvdb, "0x22", "launched vdb after the image and its snapshots were deleted")


def test_data_round_trip_local_system_disk(vm_client, disk_client, data_dir, tracker, local_image):
    iid = _launch(vm_client, tracker, local_image["imageId"], system_disk="local",
                  data_disks=[cloud_data_disk("vdb", 20)])
    vdb_id = _disk_id(_instance(vm_client, iid), "vdb")
    ok(stop_instance_resp(vm_client, iid), allow_empty=True)
    wait_instance_status(vm_client, iid, "stopped")
    vda0, vdb0 = disk_path(data_dir, iid, "vda"), disk_path(data_dir, vdb_id)
    write_pattern(vda0, "0x11")
    write_pattern(vdb0, "0x22")

    img_id = _create_image(vm_client, tracker, iid)
    vda1, vdb1 = disk_path(data_dir, iid, "vda"), disk_path(data_dir, vdb_id)
    assert vda1 != vda0 and vdb1 != vdb0, "createImage must give the source disks new top layers"
    write_pattern(vda1, "0x99")
    write_pattern(vdb1, "0x99")
    img = wait_image_status(vm_client, img_id, "ready")
    assert img["rootDeviceType"] == "localDisk", img
    vda2, vdb2 = disk_path(data_dir, iid, "vda"), disk_path(data_dir, vdb_id)
    write_pattern(vda2, "0x99")
    write_pattern(vdb2, "0x99")

    new = _launch(vm_client, tracker, img_id, system_disk="local")
    ninst = _instance(vm_client, new)
    assert ninst["systemDisk"]["diskCategory"] == "local", ninst["systemDisk"]
    assert ninst["systemDisk"]["localDisk"]["diskSizeGB"] == img["systemDiskSizeGB"], ninst["systemDisk"]
    nvda, nvdb = disk_path(data_dir, new, "vda"), disk_path(data_dir, _disk_id(ninst, "vdb"))
    assert not {nvda, nvdb} & {vda0, vda1, vda2, vdb0, vdb1, vdb2}
    _assert_reads(nvda, "0x11", "local vda of the instance launched from the image")
    _assert_reads(nvdb, "0x22", "vdb of the instance launched from the image")
    assert _qemu_img_compare(nvda, vda0) == 0, "launched vda must equal the source vda as of createImage"
    assert _qemu_img_compare(nvdb, vdb0) == 0, "launched vdb must equal the source vdb as of createImage"

    # a localDisk image cannot give a cloud system disk
    resp = create_instances_resp(vm_client, img_id, system_disk="cloud")
    if resp.error is None and resp.result:
        tracker.instance(*resp.result.get("instanceIds", []))
    expect_error(resp, 400, FP, "Image constraints. Only support local system disk")

    # and it cannot be deleted while an instance made from it exists
    expect_error(delete_image_resp(vm_client, img_id), 400, FP,
                 "Local-System-Disk image cannot be deleted if it has been used to create instances")
    assert image_status(vm_client, img_id) == "ready"
    ok(delete_instance_resp(vm_client, new), allow_empty=True)
    wait_instance_gone(vm_client, new)
    ok(delete_image_resp(vm_client, img_id, delete_snapshot=True), allow_empty=True)
    wait_image_gone(vm_client, img_id)
    # the source instance keeps its own data
    assert read_matches(disk_path(data_dir, iid, "vda"), "0x99")
