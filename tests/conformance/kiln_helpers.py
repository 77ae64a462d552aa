"""Helpers shared by the conformance tests (imported by conftest.py and the test modules).

Everything here talks to Kiln only through the official `jdcloud-sdk` (1.6.354) or through the
`kiln admin` CLI; nothing reaches beyond 127.0.0.1.

SDK facts these helpers rely on (see SDK_NOTES.md):
- `client.send(request)` returns a JDCloudResponse with `.request_id`, `.result` (the raw JSON
  dict, or None when `result` is absent/empty) and `.error` (ErrorResponse with `.code` (the
  JSON `error.code`, an int HTTP status), `.status`, `.message`; None on success).
- The SDK never looks at the HTTP status code of a JSON response: only the body decides.
"""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import requests

from jdcloud_sdk.core.jdcloudresponse import JDCloudResponse
from jdcloud_sdk.core.logger import Logger
from jdcloud_sdk.core.signer import Signer
from jdcloud_sdk.core.version import VERSION as SDK_CORE_VERSION
from jdcloud_sdk.services.common.models.Filter import Filter
from jdcloud_sdk.services.disk.apis.CreateDisksRequest import CreateDisksParameters, CreateDisksRequest
from jdcloud_sdk.services.disk.apis.CreateSnapshotRequest import CreateSnapshotParameters, CreateSnapshotRequest
from jdcloud_sdk.services.disk.apis.DeleteDiskRequest import DeleteDiskParameters, DeleteDiskRequest
from jdcloud_sdk.services.disk.apis.DeleteSnapshotRequest import DeleteSnapshotParameters, DeleteSnapshotRequest
from jdcloud_sdk.services.disk.apis.DescribeDiskRequest import DescribeDiskParameters, DescribeDiskRequest
from jdcloud_sdk.services.disk.apis.DescribeSnapshotRequest import DescribeSnapshotParameters, DescribeSnapshotRequest
from jdcloud_sdk.services.disk.models.DiskSpec import DiskSpec
from jdcloud_sdk.services.disk.models.SnapshotSpec import SnapshotSpec
from jdcloud_sdk.services.vm.apis.CreateImageRequest import CreateImageParameters, CreateImageRequest
from jdcloud_sdk.services.vm.apis.CreateInstancesRequest import CreateInstancesParameters, CreateInstancesRequest
from jdcloud_sdk.services.vm.apis.DeleteImageRequest import DeleteImageParameters, DeleteImageRequest
from jdcloud_sdk.services.vm.apis.DeleteInstanceRequest import DeleteInstanceParameters, DeleteInstanceRequest
from jdcloud_sdk.services.vm.apis.DescribeImageRequest import DescribeImageParameters, DescribeImageRequest
from jdcloud_sdk.services.vm.apis.DescribeImagesRequest import DescribeImagesParameters, DescribeImagesRequest
from jdcloud_sdk.services.vm.apis.DescribeInstanceRequest import DescribeInstanceParameters, DescribeInstanceRequest
from jdcloud_sdk.services.vm.apis.StopInstanceRequest import StopInstanceParameters, StopInstanceRequest
from jdcloud_sdk.services.vm.models.InstanceDiskAttachmentSpec import InstanceDiskAttachmentSpec
from jdcloud_sdk.services.vm.models.InstanceSpec import InstanceSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "cn-north-1"
AZ = "cn-north-1a"
MAX_WAIT = 30.0  # every wait in this suite is bounded by this many seconds


def kiln_bin():
    """Path of the server binary: $KILN_BIN (relative paths are relative to the repo root)."""
    p = Path(os.environ.get("KILN_BIN", "target/debug/kiln"))
    if not p.is_absolute():
        p = REPO_ROOT / p
    return p


def uniq(prefix="cf"):
    """A short unique name: letters, digits and '-' only (valid for instances, disks, snapshots)."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


# --------------------------------------------------------------------------------------------
# response assertions
# --------------------------------------------------------------------------------------------

def _describe(resp):
    e = resp.error
    err = None if e is None else {"code": e.code, "status": e.status, "message": e.message}
    return "request_id=%r error=%r result=%r" % (resp.request_id, err, resp.result)


def ok(resp, allow_empty=False):
    """Assert success; return `resp.result` (a dict).

    The SDK leaves `result` as None when the body has no `result` or an empty one, which is
    legitimate for actions (start/stop/delete...): pass allow_empty=True there.
    """
    assert resp.error is None, "expected success, got " + _describe(resp)
    assert resp.request_id, "response without requestId: " + _describe(resp)
    if not allow_empty:
        assert isinstance(resp.result, dict), "expected a result object, got " + _describe(resp)
    return resp.result


def expect_error(resp, code, status, message=None, startswith=None):
    """Assert a JD error envelope: error.code (int HTTP status), error.status, error.message."""
    assert resp.error is not None, "expected error %s %s, got success: %s" % (code, status, _describe(resp))
    e = resp.error
    assert resp.request_id, "error response without requestId (the SDK then drops the error!): " + _describe(resp)
    assert e.code == code and isinstance(e.code, int), "error.code: " + _describe(resp)
    assert e.status == status, "error.status: " + _describe(resp)
    if message is not None:
        assert e.message == message, "error.message: " + _describe(resp)
    if startswith is not None:
        assert isinstance(e.message, str) and e.message.startswith(startswith), "error.message: " + _describe(resp)
    return e


def is_not_found(resp):
    return resp.error is not None and resp.error.code == 404


# --------------------------------------------------------------------------------------------
# polling
# --------------------------------------------------------------------------------------------

def wait_for(fn, predicate, timeout=MAX_WAIT, interval=0.1, what=None):
    """Call fn() until predicate(value) is true; return that value. Bounded by `timeout` seconds."""
    timeout = min(timeout, MAX_WAIT)
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if predicate(last):
            return last
        if time.monotonic() >= deadline:
            desc = what or getattr(fn, "__name__", "condition")
            raise AssertionError("timed out after %.1fs waiting for %s; last value: %r" % (timeout, desc, last))
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# data plane helpers (kiln admin + qemu-io)
# --------------------------------------------------------------------------------------------

def disk_path(data_dir, disk_id_or_instance_id, device=None):
    """Path of the writable top qcow2 layer of a disk.

    `kiln admin disk-path --data-dir DIR DISK_ID` or `... INSTANCE_ID DEVICE` (e.g. `i-x vda`, for
    local disks). The top layer changes when a snapshot is taken, so re-query after snapshots.
    """
    cmd = [str(kiln_bin()), "admin", "disk-path", "--data-dir", str(data_dir), disk_id_or_instance_id]
    if device is not None:
        cmd.append(device)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, "%s failed (rc=%d): stdout=%r stderr=%r" % (cmd, p.returncode, p.stdout, p.stderr)
    lines = [l.strip() for l in p.stdout.splitlines() if l.strip()]
    assert lines, "%s printed nothing (stderr=%r)" % (cmd, p.stderr)
    path = os.path.abspath(lines[-1])  # a relative answer is taken relative to our cwd (the admin's too)
    assert os.path.isfile(path), "%s printed %r which is not a file" % (cmd, path)
    return path


def qemu_io(path, command, readonly=False):
    """Run one qemu-io command on a qcow2 file; returns CompletedProcess (rc 1 on pattern mismatch)."""
    cmd = ["qemu-io"] + (["-r"] if readonly else []) + ["-f", "qcow2", "-c", command, path]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def write_pattern(path, pattern, offset=0, length="1M"):
    p = qemu_io(path, "write -P %s %s %s" % (pattern, offset, length))
    assert p.returncode == 0 and "wrote" in p.stdout, "qemu-io write failed on %s: %r %r" % (path, p.stdout, p.stderr)


def read_matches(path, pattern, offset=0, length="1M"):
    """True iff the bytes at [offset, offset+length) all equal `pattern`."""
    p = qemu_io(path, "read -P %s %s %s" % (pattern, offset, length), readonly=True)
    out = p.stdout + p.stderr
    if "Pattern verification failed" in out:
        return False
    assert p.returncode == 0 and "read " in p.stdout, "qemu-io read failed on %s: %r %r" % (path, p.stdout, p.stderr)
    return True


# --------------------------------------------------------------------------------------------
# SDK call wrappers
# --------------------------------------------------------------------------------------------

def describe_instance(vm, instance_id, region=REGION):
    return vm.send(DescribeInstanceRequest(DescribeInstanceParameters(region, instance_id)))


def instance_status(vm, instance_id):
    """Current status string, or None when the instance is gone (404)."""
    resp = describe_instance(vm, instance_id)
    if is_not_found(resp):
        return None
    return ok(resp)["instance"]["status"]


def wait_instance_status(vm, instance_id, status, timeout=MAX_WAIT):
    return wait_for(lambda: instance_status(vm, instance_id), lambda s: s == status, timeout,
                    what="instance %s status %r" % (instance_id, status))


def wait_instance_gone(vm, instance_id, timeout=MAX_WAIT):
    return wait_for(lambda: instance_status(vm, instance_id), lambda s: s is None, timeout,
                    what="instance %s to be gone (404)" % instance_id)


def describe_disk(disk, disk_id, region=REGION):
    return disk.send(DescribeDiskRequest(DescribeDiskParameters(region, disk_id)))


def disk_status(disk, disk_id):
    resp = describe_disk(disk, disk_id)
    if is_not_found(resp):
        return None
    return ok(resp)["disk"]["status"]


def wait_disk_status(disk, disk_id, status, timeout=MAX_WAIT):
    return wait_for(lambda: disk_status(disk, disk_id), lambda s: s == status, timeout,
                    what="disk %s status %r" % (disk_id, status))


def wait_disk_gone(disk, disk_id, timeout=MAX_WAIT):
    return wait_for(lambda: disk_status(disk, disk_id), lambda s: s is None, timeout,
                    what="disk %s to be gone (404)" % disk_id)


def describe_snapshot(disk, snapshot_id, region=REGION):
    return disk.send(DescribeSnapshotRequest(DescribeSnapshotParameters(region, snapshot_id)))


def snapshot_status(disk, snapshot_id):
    resp = describe_snapshot(disk, snapshot_id)
    if is_not_found(resp):
        return None
    return ok(resp)["snapshot"]["status"]


def wait_snapshot_status(disk, snapshot_id, status, timeout=MAX_WAIT):
    return wait_for(lambda: snapshot_status(disk, snapshot_id), lambda s: s == status, timeout,
                    what="snapshot %s status %r" % (snapshot_id, status))


def create_image_resp(vm, instance_id, name, description=None, data_disks=None):
    """vm createImage; `data_disks` is a list of InstanceDiskAttachmentSpec objects or plain dicts."""
    p = CreateImageParameters(REGION, instance_id, name)
    if description is not None:
        p.setDescription(description)
    if data_disks is not None:
        p.setDataDisks(data_disks)
    return vm.send(CreateImageRequest(p))


def describe_image(vm, image_id, region=REGION):
    return vm.send(DescribeImageRequest(DescribeImageParameters(region, image_id)))


def describe_images_resp(vm, **setters):
    """describeImages with the given DescribeImagesParameters attributes (imageSource=..., ids=[...], ...)."""
    p = DescribeImagesParameters(REGION)
    for k, v in setters.items():
        assert hasattr(p, k), "DescribeImagesParameters has no %r" % k
        setattr(p, k, v)
    return vm.send(DescribeImagesRequest(p))


def delete_image_resp(vm, image_id, delete_snapshot=None):
    p = DeleteImageParameters(REGION, image_id)
    if delete_snapshot is not None:
        p.setDeleteSnapshot(delete_snapshot)
    return vm.send(DeleteImageRequest(p))


def image_status(vm, image_id):
    """Current image status, or None when the image is gone (404)."""
    resp = describe_image(vm, image_id)
    if is_not_found(resp):
        return None
    return ok(resp)["image"]["status"]


def wait_image_status(vm, image_id, status, timeout=MAX_WAIT):
    wait_for(lambda: image_status(vm, image_id), lambda s: s == status, timeout,
             what="image %s status %r" % (image_id, status))
    return ok(describe_image(vm, image_id))["image"]


def wait_image_gone(vm, image_id, timeout=MAX_WAIT):
    return wait_for(lambda: image_status(vm, image_id), lambda s: s is None, timeout,
                    what="image %s to be gone (404)" % image_id)


def stop_instance_resp(vm, instance_id):
    return vm.send(StopInstanceRequest(StopInstanceParameters(REGION, instance_id)))


class _QuietLogger(Logger):
    def log(self, level, message):
        pass


def raw_signed_request(server, method, path, body="", service="vm", region=REGION, timeout=20):
    """Send `body` byte for byte (no re-serialisation) to `server` at `path` (e.g.
    "/v1/regions/cn-north-1/instances/i-x:createImage"), signed exactly as the SDK signs (its own
    `Signer`, JDCLOUD3, SignedHeaders=content-type;host) and with the SDK's headers.

    Returns (requests.Response, JDCloudResponse parsed by the SDK's own response parser)."""
    url = server.base_url + path
    headers = {"User-Agent": "JdcloudSdkPython/%s %s/raw" % (SDK_CORE_VERSION, service),
               "Content-Type": "application/json"}
    cred = _Cred(server.access_key, server.secret_key)
    Signer(_QuietLogger(0)).sign(method=method, service=service, region=region, uri=url, headers=headers,
                                 data=body, credential=cred, security_token="")
    raw = requests.request(method, url, data=body.encode("utf-8"), headers=headers, timeout=timeout)
    parsed = JDCloudResponse()
    parsed.fill_value(raw.content.decode("utf-8"))
    return raw, parsed


class _Cred(object):
    def __init__(self, access_key, secret_key):
        self.access_key = access_key
        self.secret_key = secret_key


def public_images(vm, **kw):
    p = DescribeImagesParameters(REGION)
    p.setImageSource("public")
    p.setPageSize(100)
    for k, v in kw.items():
        setattr(p, k, v)
    return ok(vm.send(DescribeImagesRequest(p)))["images"]


def pick_image(images, root_device_type=None, max_size_gb=40):
    """A Linux public image (Ubuntu/CentOS first) with system disk <= max_size_gb, preferring
    `root_device_type` when given (falls back to any Linux image so the server's answer shows)."""
    linux = [i for i in images if i.get("osType") == "linux" or i.get("platform") in ("Ubuntu", "CentOS")]
    linux = [i for i in linux if (i.get("systemDiskSizeGB") or 0) <= max_size_gb] or linux
    assert linux, "no Linux public image in %r" % images
    linux.sort(key=lambda i: (i.get("platform") != "Ubuntu", i.get("imageId")))
    if root_device_type:
        pref = [i for i in linux if i.get("rootDeviceType") == root_device_type]
        if pref:
            return pref[0]
    return linux[0]


def cloud_disk_spec(disk_type="ssd.gp1", size_gb=40, snapshot_id=None):
    """DiskSpec for createInstances: az/name are optional there, so they go out as JSON null."""
    return DiskSpec(None, None, disk_type, size_gb, snapshotId=snapshot_id)


def cloud_system_disk(size_gb=40, disk_type="ssd.gp1"):
    return InstanceDiskAttachmentSpec(diskCategory="cloud", cloudDiskSpec=cloud_disk_spec(disk_type, size_gb))


def cloud_data_disk(device="vdb", size_gb=20, disk_type="ssd.gp1", auto_delete=None):
    return InstanceDiskAttachmentSpec(diskCategory="cloud", deviceName=device, autoDelete=auto_delete,
                                      cloudDiskSpec=cloud_disk_spec(disk_type, size_gb))


def create_instances_resp(vm, image_id, name=None, instance_type="g.n2.medium", az=AZ, system_disk="cloud",
                          data_disks=None, max_count=None, client_token=None):
    """Send createInstances; `system_disk` is 'cloud', 'local', None or any spec object/dict."""
    if system_disk == "cloud":
        system_disk = cloud_system_disk()
    elif system_disk == "local":
        system_disk = {"diskCategory": "local"}
    spec = InstanceSpec(name=name or uniq("vm"), az=az, instanceType=instance_type, imageId=image_id,
                        systemDisk=system_disk, dataDisks=data_disks)
    p = CreateInstancesParameters(REGION, spec)
    if max_count is not None:
        p.setMaxCount(max_count)
    if client_token is not None:
        p.setClientToken(client_token)
    return vm.send(CreateInstancesRequest(p))


def create_disks_resp(disk, name, disk_type="ssd.gp1", size_gb=20, max_count=1, client_token=None,
                      snapshot_id=None, az=AZ):
    spec = DiskSpec(az, name, disk_type, size_gb, snapshotId=snapshot_id)
    p = CreateDisksParameters(REGION, spec, max_count, client_token or uniq("tok"))
    return disk.send(CreateDisksRequest(p))


def create_snapshot_resp(disk, disk_id, name, client_token=None):
    p = CreateSnapshotParameters(REGION, SnapshotSpec(name, disk_id), client_token or uniq("tok"))
    return disk.send(CreateSnapshotRequest(p))


def delete_instance_resp(vm, instance_id):
    return vm.send(DeleteInstanceRequest(DeleteInstanceParameters(REGION, instance_id)))


def delete_disk_resp(disk, disk_id):
    return disk.send(DeleteDiskRequest(DeleteDiskParameters(REGION, disk_id)))


def delete_snapshot_resp(disk, snapshot_id):
    return disk.send(DeleteSnapshotRequest(DeleteSnapshotParameters(REGION, snapshot_id)))


def filters(**named):
    """filters(instanceId=['i-1','i-2'], status=['running']) -> [Filter, ...]"""
    return [Filter(name, list(values)) for name, values in named.items()]


def instance_cloud_disk_ids(instance):
    ids = []
    for att in [instance.get("systemDisk")] + list(instance.get("dataDisks") or []):
        if att and att.get("diskCategory") == "cloud" and (att.get("cloudDisk") or {}).get("diskId"):
            ids.append(att["cloudDisk"]["diskId"])
    return ids


class Tracker(object):
    """Records what a test created and removes it afterwards (best effort, bounded), so the
    session-wide server stays under its quotas (instance 20, snapshot 15, image 20) and tests stay
    independent. Images are deleted with deleteSnapshot=True."""

    def __init__(self, vm, disk):
        self.vm = vm
        self.disk = disk
        self.instances = []
        self.disks = []
        self.snapshots = []
        self.images = []

    def instance(self, *ids):
        self.instances.extend(i for i in ids if i not in self.instances)
        return ids[0] if len(ids) == 1 else ids

    def disk_ids(self, *ids):
        self.disks.extend(i for i in ids if i not in self.disks)
        return ids[0] if len(ids) == 1 else ids

    def snapshot(self, *ids):
        self.snapshots.extend(i for i in ids if i not in self.snapshots)
        return ids[0] if len(ids) == 1 else ids

    def image(self, *ids):
        self.images.extend(i for i in ids if i not in self.images)
        return ids[0] if len(ids) == 1 else ids

    def cleanup(self):
        problems = []
        # A pending image keeps its instance busy (deleteInstance would be refused): let it settle.
        for img in self.images:
            try:
                wait_for(lambda: image_status(self.vm, img), lambda s: s != "pending", 15,
                         what="image %s to settle" % img)
            except Exception as e:
                problems.append("image %s: %s" % (img, e))
        stable = ("running", "stopped", "error", None)
        for iid in self.instances:
            try:
                st = wait_for(lambda: instance_status(self.vm, iid), lambda s: s in stable + ("deleting",), 15,
                              what="instance %s to settle" % iid)
                if st is None:
                    continue
                resp = describe_instance(self.vm, iid)
                if resp.error is None and resp.result:
                    for did in instance_cloud_disk_ids(resp.result["instance"]):
                        if did not in self.disks:
                            self.disks.append(did)
                if st != "deleting":
                    delete_instance_resp(self.vm, iid)
                wait_instance_gone(self.vm, iid, 15)
            except Exception as e:  # cleanup must not mask the test's own result
                problems.append("instance %s: %s" % (iid, e))
        # after the instances (a localDisk image cannot go while instances use it), before the
        # snapshots (a snapshot an image uses cannot be deleted); the image's snapshots go with it
        deleting = []
        for img in self.images:
            try:
                st = wait_for(lambda: image_status(self.vm, img), lambda s: s in ("ready", "error", "deleting", None),
                              10, what="image %s to settle" % img)
                if st in ("ready", "error"):
                    delete_image_resp(self.vm, img, delete_snapshot=True)
                deleting.append(img)
            except Exception as e:
                problems.append("image %s: %s" % (img, e))
        for img in deleting:
            try:
                wait_image_gone(self.vm, img, 15)
            except Exception as e:
                problems.append("image %s: %s" % (img, e))
        for did in self.disks:
            try:
                st = wait_for(lambda: disk_status(self.disk, did),
                              lambda s: s in ("available", "error_create", "deleting", "deleted", None), 10,
                              what="disk %s to settle" % did)
                if st in ("available", "error_create"):
                    delete_disk_resp(self.disk, did)
            except Exception as e:
                problems.append("disk %s: %s" % (did, e))
        for sid in self.snapshots:
            try:
                st = wait_for(lambda: snapshot_status(self.disk, sid),
                              lambda s: s in ("available", "error_create", "deleting", None), 10,
                              what="snapshot %s to settle" % sid)
                if st in ("available", "error_create"):
                    delete_snapshot_resp(self.disk, sid)
                    wait_for(lambda: snapshot_status(self.disk, sid), lambda s: s is None, 10)
            except Exception as e:
                problems.append("snapshot %s: %s" % (sid, e))
        return problems
