"""Quotas: vm describeQuotas (spec 6.21) and disk describeQuota (spec 7.9)."""

from jdcloud_sdk.services.disk.apis.DescribeDisksRequest import DescribeDisksParameters, DescribeDisksRequest
from jdcloud_sdk.services.disk.apis.DescribeQuotaRequest import DescribeQuotaParameters, DescribeQuotaRequest
from jdcloud_sdk.services.disk.apis.DescribeSnapshotsRequest import DescribeSnapshotsParameters, DescribeSnapshotsRequest
from jdcloud_sdk.services.vm.apis.DescribeImagesRequest import DescribeImagesParameters, DescribeImagesRequest
from jdcloud_sdk.services.vm.apis.DescribeInstancesRequest import DescribeInstancesParameters, DescribeInstancesRequest
from jdcloud_sdk.services.vm.apis.DescribeQuotasRequest import DescribeQuotasParameters, DescribeQuotasRequest

from kiln_helpers import (
    REGION, create_disks_resp, create_instances_resp, create_snapshot_resp, delete_snapshot_resp, filters, ok,
    pick_image, snapshot_status, uniq, wait_disk_status, wait_for, wait_instance_status, wait_snapshot_status,
)


def _vm_quotas(vm, *types):
    p = DescribeQuotasParameters(REGION)
    if types:
        p.setFilters(filters(resourceTypes=types))
    res = ok(vm.send(DescribeQuotasRequest(p)))
    quotas = res["quotas"]
    by_type = {q["resourceType"]: q for q in quotas}
    assert len(by_type) == len(quotas), "duplicate resourceType in %r" % quotas
    return by_type


def _instance_count(vm):
    p = DescribeInstancesParameters(REGION)
    p.setPageSize(100)
    return ok(vm.send(DescribeInstancesRequest(p)))["totalCount"]


def _private_image_count(vm):
    p = DescribeImagesParameters(REGION)
    p.setImageSource("private")
    return ok(vm.send(DescribeImagesRequest(p)))["totalCount"]


def _disk_quota(disk, type_):
    q = ok(disk.send(DescribeQuotaRequest(DescribeQuotaParameters(REGION, type_))))["quota"]
    assert isinstance(q["limit"], int) and isinstance(q["used"], int), q
    return q


def test_vm_quotas_instance_and_image(vm_client, tracker, public_image_list):
    q = _vm_quotas(vm_client, "instance", "image")
    assert set(q) == {"instance", "image"}, q
    assert q["instance"]["limit"] == 20, q
    assert q["image"]["limit"] == 20, q
    assert q["instance"]["used"] == _instance_count(vm_client), q
    assert q["image"]["used"] == _private_image_count(vm_client), q

    before = q["instance"]["used"]
    image = pick_image(public_image_list, "cloudDisk")
    (iid,) = ok(create_instances_resp(vm_client, image["imageId"]))["instanceIds"]
    tracker.instance(iid)
    assert _vm_quotas(vm_client, "instance")["instance"]["used"] == before + 1
    wait_instance_status(vm_client, iid, "running")
    q = _vm_quotas(vm_client, "instance")
    assert set(q) == {"instance"} and q["instance"]["used"] == before + 1, q


def test_vm_quotas_without_filter(vm_client):
    q = _vm_quotas(vm_client)
    assert {"instance", "image"} <= set(q), q
    for item in q.values():
        assert isinstance(item["limit"], int) and isinstance(item["used"], int), item


def test_disk_quota_snapshot(disk_client, tracker):
    q = _disk_quota(disk_client, "snapshot")
    assert q["limit"] == 15, q
    p = DescribeSnapshotsParameters(REGION)
    p.setPageSize(100)
    assert q["used"] == ok(disk_client.send(DescribeSnapshotsRequest(p)))["totalCount"], q

    (did,) = ok(create_disks_resp(disk_client, uniq("qd")))["diskIds"]
    tracker.disk_ids(did)
    wait_disk_status(disk_client, did, "available")
    sid = ok(create_snapshot_resp(disk_client, did, uniq("qs")))["snapshotId"]
    tracker.snapshot(sid)
    assert _disk_quota(disk_client, "snapshot")["used"] == q["used"] + 1
    wait_snapshot_status(disk_client, sid, "available")
    ok(delete_snapshot_resp(disk_client, sid), allow_empty=True)
    wait_for(lambda: snapshot_status(disk_client, sid), lambda s: s is None, what="snapshot gone")
    assert _disk_quota(disk_client, "snapshot")["used"] == q["used"]


def test_disk_quota_disk(disk_client, tracker):
    q = _disk_quota(disk_client, "disk")
    assert q["limit"] > 0, q
    p = DescribeDisksParameters(REGION)
    p.setPageSize(100)
    assert q["used"] == ok(disk_client.send(DescribeDisksRequest(p)))["totalCount"], q
    ids = ok(create_disks_resp(disk_client, uniq("qd"), max_count=2))["diskIds"]
    tracker.disk_ids(*ids)
    assert _disk_quota(disk_client, "disk")["used"] == q["used"] + 2
