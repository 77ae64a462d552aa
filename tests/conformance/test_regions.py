"""Region validation: every path starts with /regions/{regionId}; an unknown region is a 400."""

from jdcloud_sdk.services.disk.apis.DescribeDisksRequest import DescribeDisksParameters, DescribeDisksRequest
from jdcloud_sdk.services.disk.apis.DescribeQuotaRequest import DescribeQuotaParameters, DescribeQuotaRequest
from jdcloud_sdk.services.vm.apis.DescribeImagesRequest import DescribeImagesParameters, DescribeImagesRequest
from jdcloud_sdk.services.vm.apis.DescribeInstanceRequest import DescribeInstanceParameters, DescribeInstanceRequest
from jdcloud_sdk.services.vm.apis.DescribeInstancesRequest import DescribeInstancesParameters, DescribeInstancesRequest

from kiln_helpers import REGION, expect_error, ok

BAD = "xx-1"
MSG = "Invalid region 'xx-1'"


def test_known_region_works(vm_client):
    res = ok(vm_client.send(DescribeInstancesRequest(DescribeInstancesParameters(REGION))))
    assert isinstance(res["instances"], list)
    assert isinstance(res["totalCount"], int)


def test_unknown_region_vm_describe_instances(vm_client):
    resp = vm_client.send(DescribeInstancesRequest(DescribeInstancesParameters(BAD)))
    expect_error(resp, 400, "INVALID_ARGUMENT", MSG)


def test_unknown_region_vm_describe_images(vm_client):
    p = DescribeImagesParameters(BAD)
    p.setImageSource("public")
    expect_error(vm_client.send(DescribeImagesRequest(p)), 400, "INVALID_ARGUMENT", MSG)


def test_unknown_region_vm_describe_instance(vm_client):
    # region is checked before the instance lookup
    resp = vm_client.send(DescribeInstanceRequest(DescribeInstanceParameters(BAD, "i-nope")))
    expect_error(resp, 400, "INVALID_ARGUMENT", MSG)


def test_unknown_region_disk_describe_disks(disk_client):
    resp = disk_client.send(DescribeDisksRequest(DescribeDisksParameters(BAD)))
    expect_error(resp, 400, "INVALID_ARGUMENT", MSG)


def test_unknown_region_disk_quota(disk_client):
    resp = disk_client.send(DescribeQuotaRequest(DescribeQuotaParameters(BAD, "disk")))
    expect_error(resp, 400, "INVALID_ARGUMENT", MSG)
