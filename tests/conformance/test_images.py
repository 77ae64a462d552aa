"""vm describeImages / describeImage (spec 6.2, 6.3, 4.1, 5.2)."""

from jdcloud_sdk.services.vm.apis.DescribeImageRequest import DescribeImageParameters, DescribeImageRequest
from jdcloud_sdk.services.vm.apis.DescribeImagesRequest import DescribeImagesParameters, DescribeImagesRequest

from kiln_helpers import REGION, expect_error, ok

PLATFORMS = ("Ubuntu", "CentOS", "Windows Server")


def _describe_images(vm, **setters):
    p = DescribeImagesParameters(REGION)
    for k, v in setters.items():
        setattr(p, k, v)
    return vm.send(DescribeImagesRequest(p))


def test_public_images_listed(vm_client):
    res = ok(_describe_images(vm_client, imageSource="public"))
    images = res["images"]
    assert isinstance(res["totalCount"], int) and res["totalCount"] >= 3, res
    assert len(images) >= 3
    platforms = {i.get("platform") for i in images}
    for plat in PLATFORMS:
        assert plat in platforms, "no public %s image; platforms=%r" % (plat, platforms)
    for img in images:
        assert img["imageId"].startswith("img-"), img
        assert img["imageSource"] == "public", img
        assert img["status"] == "ready", img
        assert img.get("rootDeviceType") in ("localDisk", "cloudDisk"), img
        assert img.get("osType") in ("linux", "windows"), img
        assert isinstance(img.get("systemDiskSizeGB"), int) and img["systemDiskSizeGB"] > 0, img
        assert img.get("name"), img


def test_public_images_offline_false_boolean(vm_client):
    # `offline=False` is sent as the Python literal `False` in the query string
    res = ok(_describe_images(vm_client, imageSource="public", offline=False))
    assert res["totalCount"] >= 3, res


def test_public_images_platform_filter(vm_client):
    res = ok(_describe_images(vm_client, imageSource="public", platform="Ubuntu"))
    assert res["images"], res
    assert all(i["platform"] == "Ubuntu" for i in res["images"]), res


def test_describe_image_by_id(vm_client, public_image_list):
    img = public_image_list[0]
    res = ok(vm_client.send(DescribeImageRequest(DescribeImageParameters(REGION, img["imageId"]))))
    got = res["image"]
    assert got["imageId"] == img["imageId"]
    for key in ("name", "platform", "status", "rootDeviceType", "imageSource", "systemDiskSizeGB"):
        assert got.get(key) == img.get(key), key


def test_describe_images_by_ids_without_image_source(vm_client, public_image_list):
    wanted = sorted(i["imageId"] for i in public_image_list[:2])
    res = ok(_describe_images(vm_client, ids=wanted))
    assert sorted(i["imageId"] for i in res["images"]) == wanted, res
    assert res["totalCount"] == 2, res


def test_unknown_image(vm_client):
    resp = vm_client.send(DescribeImageRequest(DescribeImageParameters(REGION, "img-nope")))
    expect_error(resp, 404, "NOT_FOUND", "Image 'img-nope' not found")


def test_image_source_missing(vm_client):
    resp = _describe_images(vm_client)
    expect_error(resp, 400, "FAILED_PRECONDITION", "Parameter ImageSource missing")


def test_page_size_out_of_range(vm_client):
    resp = _describe_images(vm_client, imageSource="public", pageSize=5)
    expect_error(resp, 400, "OUT_OF_RANGE", "PageSize out of range")


def test_page_size_bounds_accepted(vm_client):
    ok(_describe_images(vm_client, imageSource="public", pageSize=10))
    ok(_describe_images(vm_client, imageSource="public", pageSize=100))
    expect_error(_describe_images(vm_client, imageSource="public", pageSize=101), 400, "OUT_OF_RANGE",
                 "PageSize out of range")


def test_pagination(vm_client):
    all_ids = [i["imageId"] for i in ok(_describe_images(vm_client, imageSource="public", pageSize=100))["images"]]
    page = ok(_describe_images(vm_client, imageSource="public", pageSize=10, pageNumber=1))
    assert page["totalCount"] == len(all_ids)
    assert [i["imageId"] for i in page["images"]] == all_ids[:10]


def test_private_images_empty_or_owned(vm_client):
    res = ok(_describe_images(vm_client, imageSource="private"))
    assert isinstance(res["images"], list)
    assert all(i["imageSource"] == "private" for i in res["images"]), res
