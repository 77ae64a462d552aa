"""createInstances / describeInstance(s) (spec 6.12-6.14)."""

import os

from jdcloud_sdk.services.disk.apis.DescribeDisksRequest import DescribeDisksParameters, DescribeDisksRequest
from jdcloud_sdk.services.vm.apis.DescribeInstancesRequest import DescribeInstancesParameters, DescribeInstancesRequest
from jdcloud_sdk.services.vm.apis.CreateInstancesRequest import CreateInstancesParameters, CreateInstancesRequest

from kiln_helpers import (
    AZ, REGION, cloud_data_disk, create_instances_resp, describe_instance, disk_path, expect_error, filters, ok,
    pick_image, uniq, wait_instance_status,
)


def _describe_instances(vm, page_size=None, **named_filters):
    p = DescribeInstancesParameters(REGION)
    if page_size is not None:
        p.setPageSize(page_size)
    if named_filters:
        p.setFilters(filters(**named_filters))
    return vm.send(DescribeInstancesRequest(p))


def _launch(vm, tracker, image, **kw):
    res = ok(create_instances_resp(vm, image["imageId"], **kw))
    ids = res["instanceIds"]
    tracker.instance(*ids)
    return ids


def test_create_two_cloud_instances(vm_client, disk_client, tracker, public_image_list):
    image = pick_image(public_image_list, "cloudDisk")
    name = uniq("web")
    ids = _launch(vm_client, tracker, image, name=name, max_count=2,
                  data_disks=[cloud_data_disk("vdb", 20)])
    assert len(ids) == 2 and len(set(ids)) == 2, ids
    assert all(i.startswith("i-") for i in ids), ids

    first = ok(describe_instance(vm_client, ids[0]))["instance"]
    assert first["status"] == "pending", "a fresh instance should be pending, got %r" % first["status"]

    for iid in ids:
        wait_instance_status(vm_client, iid, "running")

    res = ok(_describe_instances(vm_client, instanceId=ids))
    assert res["totalCount"] == 2, res
    got = {i["instanceId"]: i for i in res["instances"]}
    assert set(got) == set(ids)
    for iid in ids:
        inst = got[iid]
        assert inst["status"] == "running"
        assert inst["instanceType"] == "g.n2.medium"
        assert inst["az"] == AZ
        assert inst["imageId"] == image["imageId"]
        assert inst["privateIpAddress"], inst
        assert inst["instanceName"].startswith(name), inst
        sysd = inst["systemDisk"]
        assert sysd["diskCategory"] == "cloud", sysd
        assert sysd["deviceName"] == "vda", sysd
        assert sysd["cloudDisk"]["diskId"].startswith("vol-"), sysd
        assert sysd["cloudDisk"]["diskType"] == "ssd.gp1", sysd
        assert sysd["cloudDisk"]["diskSizeGB"] == 40, sysd
        vdb = [d for d in inst.get("dataDisks") or [] if d.get("deviceName") == "vdb"]
        assert len(vdb) == 1, inst.get("dataDisks")
        assert vdb[0]["diskCategory"] == "cloud"
        assert vdb[0]["cloudDisk"]["diskType"] == "ssd.gp1"
        assert vdb[0]["cloudDisk"]["diskSizeGB"] == 20
        assert vdb[0]["cloudDisk"]["diskId"].startswith("vol-")
    # both instances got distinct disks
    assert len({got[i]["dataDisks"][0]["cloudDisk"]["diskId"] for i in ids}) == 2
    assert got[ids[0]]["privateIpAddress"] != got[ids[1]]["privateIpAddress"]


def test_describe_instances_filters(vm_client, tracker, public_image_list):
    image = pick_image(public_image_list, "cloudDisk")
    ids = _launch(vm_client, tracker, image, max_count=2)
    for iid in ids:
        wait_instance_status(vm_client, iid, "running")

    res = ok(_describe_instances(vm_client, instanceId=ids, status=["running"]))
    assert res["totalCount"] == 2 and {i["instanceId"] for i in res["instances"]} == set(ids), res

    res = ok(_describe_instances(vm_client, instanceId=ids, status=["stopped"]))
    assert res["totalCount"] == 0 and res["instances"] == [], res

    # values inside one filter are OR-ed
    res = ok(_describe_instances(vm_client, instanceId=[ids[0]], status=["stopped", "running"]))
    assert res["totalCount"] == 1 and res["instances"][0]["instanceId"] == ids[0], res

    res = ok(_describe_instances(vm_client, instanceId=["i-doesnotexist"]))
    assert res["totalCount"] == 0, res

    # plain listing contains them too
    res = ok(_describe_instances(vm_client, page_size=100))
    listed = {i["instanceId"] for i in res["instances"]}
    assert set(ids) <= listed, res
    assert res["totalCount"] >= 2


def test_describe_instances_page_size_out_of_range(vm_client):
    expect_error(_describe_instances(vm_client, page_size=5), 400, "OUT_OF_RANGE", "PageSize out of range")


def test_instance_cloud_disks_visible_in_disk_service(vm_client, disk_client, data_dir, tracker, public_image_list):
    image = pick_image(public_image_list, "cloudDisk")
    (iid,) = _launch(vm_client, tracker, image, data_disks=[cloud_data_disk("vdb", 20)])
    wait_instance_status(vm_client, iid, "running")
    inst = ok(describe_instance(vm_client, iid))["instance"]
    sys_id = inst["systemDisk"]["cloudDisk"]["diskId"]
    data_id = inst["dataDisks"][0]["cloudDisk"]["diskId"]

    p = DescribeDisksParameters(REGION)
    p.setFilters(filters(instanceId=[iid]))
    res = ok(disk_client.send(DescribeDisksRequest(p)))
    disks = {d["diskId"]: d for d in res["disks"]}
    assert {sys_id, data_id} <= set(disks), res
    for did in (sys_id, data_id):
        d = disks[did]
        assert d["status"] == "in-use", d
        assert any(a.get("instanceId") == iid for a in d.get("attachments") or []), d
    # the writable layers exist on disk
    assert os.path.isfile(disk_path(data_dir, data_id))


def test_local_system_disk_instance(vm_client, data_dir, tracker, public_image_list):
    image = pick_image(public_image_list, "localDisk")
    (iid,) = _launch(vm_client, tracker, image, system_disk="local")
    wait_instance_status(vm_client, iid, "running")
    inst = ok(describe_instance(vm_client, iid))["instance"]
    sysd = inst["systemDisk"]
    assert sysd["diskCategory"] == "local", sysd
    assert sysd.get("deviceName") == "vda", sysd
    assert sysd.get("localDisk") and sysd["localDisk"].get("diskSizeGB"), sysd
    assert not (sysd.get("cloudDisk") or {}).get("diskId"), "a local system disk has no cloud disk: %r" % sysd
    assert os.path.isfile(disk_path(data_dir, iid, "vda"))


def test_instance_type_with_local_data_disk(vm_client, tracker, public_image_list):
    image = pick_image(public_image_list, "cloudDisk")
    (iid,) = _launch(vm_client, tracker, image, instance_type="s.n2.xlarge")
    wait_instance_status(vm_client, iid, "running")
    inst = ok(describe_instance(vm_client, iid))["instance"]
    assert inst["instanceType"] == "s.n2.xlarge"
    local = [d for d in inst.get("dataDisks") or [] if d.get("diskCategory") == "local"]
    assert len(local) >= 1, inst.get("dataDisks")
    ld = local[0]["localDisk"]
    assert ld.get("diskType") and isinstance(ld.get("diskSizeGB"), int) and ld["diskSizeGB"] > 0, local[0]
    assert local[0].get("deviceName", "").startswith("vd"), local[0]


def test_create_with_plain_dict_spec(vm_client, tracker, public_image_list):
    """The doc shape `{"diskCategory":"cloud","cloudDiskSpec":{"diskType":"ssd.gp1","diskSizeGB":40}}`
    sent as plain JSON (no nulls), exactly as a user passing dicts to the SDK would."""
    image = pick_image(public_image_list, "cloudDisk")
    spec = {"name": uniq("dict"), "az": AZ, "instanceType": "g.n2.medium", "imageId": image["imageId"],
            "systemDisk": {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}},
            "dataDisks": [{"diskCategory": "cloud", "deviceName": "vdb",
                           "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}]}
    res = ok(vm_client.send(CreateInstancesRequest(CreateInstancesParameters(REGION, spec))))
    assert len(res["instanceIds"]) == 1, res
    iid = tracker.instance(res["instanceIds"][0])
    wait_instance_status(vm_client, iid, "running")
    inst = ok(describe_instance(vm_client, iid))["instance"]
    assert inst["systemDisk"]["diskCategory"] == "cloud"
    assert [d["deviceName"] for d in inst["dataDisks"]] == ["vdb"]


# ---------------------------------------------------------------------------- errors

def test_unknown_instance(vm_client):
    expect_error(describe_instance(vm_client, "i-nope"), 404, "NOT_FOUND", "Instance 'i-nope' not found.")


def _create_expect_error(vm, tracker, code, status, message, **kw):
    resp = create_instances_resp(vm, **kw)
    if resp.error is None and resp.result:
        tracker.instance(*resp.result.get("instanceIds", []))  # server wrongly accepted: clean up
    expect_error(resp, code, status, message)


def test_unknown_instance_type(vm_client, tracker, public_image_list):
    image = pick_image(public_image_list, "cloudDisk")
    _create_expect_error(vm_client, tracker, 404, "NOT_FOUND", "InstanceType 'x.y' not found",
                         image_id=image["imageId"], instance_type="x.y")


def test_max_count_out_of_range(vm_client, tracker, public_image_list):
    image = pick_image(public_image_list, "cloudDisk")
    _create_expect_error(vm_client, tracker, 400, "OUT_OF_RANGE", "Maxcount out of range",
                         image_id=image["imageId"], max_count=101)


def test_missing_image_id(vm_client, tracker):
    _create_expect_error(vm_client, tracker, 400, "INVALID_ARGUMENT", "Parameter InstanceSpec.ImageId missing",
                         image_id=None)


def test_unknown_image_id(vm_client, tracker):
    _create_expect_error(vm_client, tracker, 404, "NOT_FOUND", "Image 'img-nope' not found", image_id="img-nope")
