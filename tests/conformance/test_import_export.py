"""importImage / exportImage / imageTasks through the official SDK, with real image files.

Kiln reads images from file:// paths and http:// URLs in qcow2, raw, vmdk and vhd, and exports
qcow2 into a file:// directory. The round trip is checked on the data: what comes out equals
what went in (qemu-img compare), and an instance launched from the import reads it.
"""
import functools
import http.server
import subprocess
import threading

import pytest

from jdcloud_sdk.services.vm.apis.ExportImageRequest import ExportImageParameters, ExportImageRequest
from jdcloud_sdk.services.vm.apis.ImageTasksRequest import ImageTasksParameters, ImageTasksRequest
from jdcloud_sdk.services.vm.apis.ImportImageRequest import ImportImageParameters, ImportImageRequest

from kiln_helpers import (
    REGION, delete_image_resp, disk_path, expect_error, ok, read_matches, uniq, wait_for,
    wait_image_status, create_instances_resp, wait_instance_status,
)

QEMU_FORMAT = {"qcow2": "qcow2", "raw": "raw", "vmdk": "vmdk", "vhd": "vpc"}


def make_source(tmp_path, fmt, pattern="0x5a"):
    raw = tmp_path / "src.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), "64M"], check=True)
    subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P %s 0 2M" % pattern, str(raw)],
                   check=True, capture_output=True)
    if fmt == "raw":
        return raw, raw
    out = tmp_path / ("src." + fmt)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", QEMU_FORMAT[fmt], str(raw), str(out)], check=True)
    return raw, out


def import_resp(vm, url, fmt, name, size=40):
    p = ImportImageParameters(REGION, "x86_64", "linux", "Ubuntu", fmt, size, url, name)
    return vm.send(ImportImageRequest(p))


def image_task(vm, task_id):
    p = ImageTasksParameters(REGION)
    p.setTaskIds([task_id])
    r = ok(vm.send(ImageTasksRequest(p)))
    assert r["totalCount"] == 1, r
    return r["taskSet"][0]


def wait_task(vm, task_id, status):
    return wait_for(lambda: image_task(vm, task_id), lambda t: t["taskStatus"] == status,
                    what="image task %s %s" % (task_id, status))


def same_data(a, a_fmt, b):
    p = subprocess.run(["qemu-img", "compare", "-f", a_fmt, "-F", "qcow2", str(a), str(b)],
                       capture_output=True, text=True)
    return p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("fmt", ["qcow2", "raw", "vmdk", "vhd"])
def test_import_export_round_trip(vm_client, tmp_path, fmt):
    raw, src = make_source(tmp_path, fmt)
    r = ok(import_resp(vm_client, "file://" + str(src), fmt, uniq("imp")))
    image_id, task_id = r["imageId"], r["taskId"]
    image = wait_image_status(vm_client, image_id, "ready")
    assert image["imported"] is True
    assert image["rootDeviceType"] == "cloudDisk"
    assert image["snapshotId"].startswith("snapshot-")
    assert image["systemDiskSizeGB"] == 40
    t = wait_task(vm_client, task_id, "finished")
    assert t["action"] == "ImportImage" and t["progress"] == 100 and t["imageId"] == image_id

    out_dir = tmp_path / "export"
    out_dir.mkdir()
    p = ExportImageParameters(REGION, image_id, "kiln-role", "file://" + str(out_dir))
    p.setOssPrefix("exp1")
    export_task = ok(vm_client.send(ExportImageRequest(p)))["taskId"]
    t = wait_task(vm_client, export_task, "finished")
    assert t["action"] == "ExportImage"
    assert t["ossObjects"] == ["exp1%s.qcow2" % image_id]
    exported = out_dir / ("exp1%s.qcow2" % image_id)
    same, detail = same_data(raw, "raw", exported)
    assert same, detail
    # Deleting the image while nothing runs on it works; its export stays.
    ok(delete_image_resp(vm_client, image_id, delete_snapshot=True), allow_empty=True)
    assert exported.exists()


def test_import_over_http_and_launch(vm_client, data_dir, tmp_path, tracker):
    _, src = make_source(tmp_path, "qcow2", pattern="0x6b")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/%s" % (httpd.server_address[1], src.name)
        r = ok(import_resp(vm_client, url, "qcow2", uniq("http")))
        wait_image_status(vm_client, r["imageId"], "ready")
    finally:
        httpd.shutdown()
    inst = ok(create_instances_resp(vm_client, r["imageId"], system_disk="cloud"))["instanceIds"][0]
    tracker.instance(inst)
    wait_instance_status(vm_client, inst, "running")
    assert read_matches(disk_path(data_dir, inst, "vda"), "0x6b", length="2M")


def test_import_errors(vm_client, tmp_path):
    expect_error(import_resp(vm_client, "file:///tmp/x.qcow2", "qcow2", uniq("e"), size=45),
                 400, "OUT_OF_RANGE", "SystemDiskSizeGB must be multiple of 10")
    expect_error(import_resp(vm_client, "ftp://oss.example/x", "qcow2", uniq("e")), 400, "INVALID_ARGUMENT")
    expect_error(import_resp(vm_client, "file:///tmp/x", "iso", uniq("e")), 400, "INVALID_ARGUMENT",
                 "Invalid diskFormat 'iso'")
    # A source that is not there fails the task, not the call; the image ends in error.
    r = ok(import_resp(vm_client, "file://" + str(tmp_path / "missing.qcow2"), "qcow2", uniq("miss")))
    t = wait_task(vm_client, r["taskId"], "failed")
    assert "no such file" in t["errorInfo"]
    wait_image_status(vm_client, r["imageId"], "error")
    ok(delete_image_resp(vm_client, r["imageId"]), allow_empty=True)
    # A source larger than systemDiskSizeGB is refused by the task.
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), "60G"], check=True)
    r = ok(import_resp(vm_client, "file://" + str(big), "qcow2", uniq("big")))
    wait_task(vm_client, r["taskId"], "failed")
    ok(delete_image_resp(vm_client, r["imageId"]), allow_empty=True)


def test_export_errors(vm_client, public_image_list, tmp_path):
    pub = public_image_list[0]["imageId"]
    expect_error(vm_client.send(ExportImageRequest(ExportImageParameters(REGION, pub, "r", "file:///tmp"))),
                 400, "FAILED_PRECONDITION", "Can't use this image")
    expect_error(vm_client.send(ExportImageRequest(ExportImageParameters(REGION, "img-nope", "r", "file:///tmp"))),
                 404, "NOT_FOUND", "Image 'img-nope' not found")
    expect_error(vm_client.send(ExportImageRequest(ExportImageParameters(REGION, pub, "r", "https://bucket"))),
                 400, "INVALID_ARGUMENT")
    p = ImageTasksParameters(REGION)
    p.setTaskAction("Bogus")
    expect_error(vm_client.send(ImageTasksRequest(p)), 400, "INVALID_ARGUMENT")
