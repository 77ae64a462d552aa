"""The image lifecycle after createImage, driven by the official SDK: modifyImageAttribute,
shareImage / unShareImage / describeImageMembers, releaseImage / unReleaseImage,
describeImageConstraints(Batch), copyImages, createImageFromSnapshots, and convertImage (in
JD's documents only: a raw signed request). Each test runs on a server of its own."""

import json
import subprocess

from jdcloud_sdk.core.config import Config
from jdcloud_sdk.core.const import SCHEME_HTTP
from jdcloud_sdk.core.credential import Credential
from jdcloud_sdk.services.vm.apis.CopyImagesRequest import CopyImagesParameters, CopyImagesRequest
from jdcloud_sdk.services.vm.apis.CreateImageFromSnapshotsRequest import (
    CreateImageFromSnapshotsParameters, CreateImageFromSnapshotsRequest,
)
from jdcloud_sdk.services.vm.apis.DescribeImageConstraintsBatchRequest import (
    DescribeImageConstraintsBatchParameters, DescribeImageConstraintsBatchRequest,
)
from jdcloud_sdk.services.vm.apis.DescribeImageConstraintsRequest import (
    DescribeImageConstraintsParameters, DescribeImageConstraintsRequest,
)
from jdcloud_sdk.services.vm.apis.DescribeImageMembersRequest import (
    DescribeImageMembersParameters, DescribeImageMembersRequest,
)
from jdcloud_sdk.services.vm.apis.ModifyImageAttributeRequest import (
    ModifyImageAttributeParameters, ModifyImageAttributeRequest,
)
from jdcloud_sdk.services.vm.apis.ReleaseImageRequest import ReleaseImageParameters, ReleaseImageRequest
from jdcloud_sdk.services.vm.apis.ShareImageRequest import ShareImageParameters, ShareImageRequest
from jdcloud_sdk.services.vm.apis.UnReleaseImageRequest import UnReleaseImageParameters, UnReleaseImageRequest
from jdcloud_sdk.services.vm.apis.UnShareImageRequest import UnShareImageParameters, UnShareImageRequest
from jdcloud_sdk.services.vm.client.VmClient import VmClient
from jdcloud_sdk.services.vm.models.CloudDiskSpec import CloudDiskSpec

from kiln_helpers import (
    REGION, create_image_resp, create_instances_resp, create_snapshot_resp, describe_image,
    describe_images_resp, disk_path, expect_error, kiln_bin, ok, raw_signed_request, read_matches,
    stop_instance_resp, uniq, wait_for, wait_image_status, wait_instance_status, wait_snapshot_status,
    write_pattern,
)

FP = "FAILED_PRECONDITION"
DEST = "cn-east-2"


def _launch(vm, **kw):
    (iid,) = ok(create_instances_resp(vm, "img-ubuntu2204", **kw))["instanceIds"]
    wait_instance_status(vm, iid, "running")
    return iid


def _image_of(vm, iid, name):
    img = ok(create_image_resp(vm, iid, name))["imageId"]
    wait_image_status(vm, img, "ready")
    return img


def _receiver(env, name):
    """A second account on `env`'s data directory, with its own VmClient."""
    out = subprocess.run([kiln_bin(), "account", "create", "--name", name, "--data-dir", env.data_dir],
                         check=True, capture_output=True, text=True).stdout
    keys = json.loads(out)
    cfg = Config(env.server.endpoint, scheme=SCHEME_HTTP, timeout=20)
    return keys["pin"], VmClient(Credential(keys["accessKey"], keys["secretKey"]), cfg)


def _image_ids(resp):
    return [i["imageId"] for i in ok(resp)["images"]]


def test_modify_share_release_and_members(spawn_kiln):
    env = spawn_kiln()
    vm = env.vm
    img = _image_of(vm, _launch(vm), "cf-share")
    pin, other = _receiver(env, "cf-receiver")

    p = ModifyImageAttributeParameters(REGION, img)
    expect_error(vm.send(ModifyImageAttributeRequest(p)), 400, "INVALID_ARGUMENT",
                 "Parameter name、description missing")
    p.setName("cf-renamed")
    ok(vm.send(ModifyImageAttributeRequest(p)), allow_empty=True)
    assert ok(describe_image(vm, img))["image"]["name"] == "cf-renamed"

    sp = ShareImageParameters(REGION, img)
    sp.setPins(["kiln-nobody"])
    expect_error(vm.send(ShareImageRequest(sp)), 400, FP, "Pin 'kiln-nobody' not found")
    sp.setPins([pin])
    ok(vm.send(ShareImageRequest(sp)), allow_empty=True)
    members = ok(vm.send(DescribeImageMembersRequest(DescribeImageMembersParameters(REGION, img))))
    assert members["pins"] == [pin], members
    got = ok(describe_image(other, img))["image"]
    assert got["imageSource"] == "shared", got
    assert _image_ids(describe_images_resp(other, imageSource="shared")) == [img]
    expect_error(other.send(ModifyImageAttributeRequest(p)), 400, FP, "Can't use this image")

    up = UnShareImageParameters(REGION, img)
    up.setPins([pin])
    ok(vm.send(UnShareImageRequest(up)), allow_empty=True)
    expect_error(describe_image(other, img), 404, "NOT_FOUND", "Image '%s' not found" % img)

    ok(vm.send(ReleaseImageRequest(ReleaseImageParameters(REGION, img))), allow_empty=True)
    assert _image_ids(describe_images_resp(other, imageSource="community")) == [img]
    expect_error(vm.send(ShareImageRequest(sp)), 400, FP, "Community image can't be shared")
    ok(vm.send(UnReleaseImageRequest(UnReleaseImageParameters(REGION, img))), allow_empty=True)
    assert _image_ids(describe_images_resp(other, imageSource="community")) == []


def test_constraints(spawn_kiln):
    vm = spawn_kiln().vm
    one = ok(vm.send(DescribeImageConstraintsRequest(DescribeImageConstraintsParameters(REGION, "img-winsrv2019"))))
    c = one["imageConstraints"]["imageInstanceTypeConstraint"]
    assert c["constraintsType"] == "excludes" and c["instanceTypes"] == ["g.n2.medium"], one
    bp = DescribeImageConstraintsBatchParameters(REGION)
    bp.setIds(["img-winsrv2019", "img-ubuntu2204"])
    batch = ok(vm.send(DescribeImageConstraintsBatchRequest(bp)))["imageConstraints"]
    assert [b["imageId"] for b in batch] == ["img-winsrv2019", "img-ubuntu2204"], batch
    expect_error(create_instances_resp(vm, "img-winsrv2019", instance_type="g.n2.medium"), 400, FP,
                 "Image constraints. Instance type 'g.n2.medium' not supported")


def test_copy_images_to_another_region(spawn_kiln):
    env = spawn_kiln()
    vm = env.vm
    iid = _launch(vm)
    write_pattern(disk_path(env.data_dir, iid, "vda"), "0x2e")
    img = _image_of(vm, iid, "cf-copy")
    cp = CopyImagesParameters(REGION, [img], "nowhere-1")
    expect_error(vm.send(CopyImagesRequest(cp)), 400, "INVALID_ARGUMENT", "Invalid region 'nowhere-1'")
    res = ok(vm.send(CopyImagesRequest(CopyImagesParameters(REGION, [img], DEST))))
    (pair,) = res["copyImages"]
    assert pair["sourceImageId"] == img, res
    copy = pair["destinationImageId"]
    wait_for(lambda: ok(describe_image(vm, copy, region=DEST))["image"]["status"], lambda s: s == "ready",
             what="copy %s ready in %s" % (copy, DEST))
    got = ok(describe_image(vm, copy, region=DEST))["image"]
    assert got["rootDeviceType"] == "cloudDisk" and got["progress"] == "100", got
    expect_error(describe_image(vm, copy), 404, "NOT_FOUND", "Image '%s' not found" % copy)


def test_create_image_from_snapshots_and_convert(spawn_kiln):
    env = spawn_kiln()
    vm, disk = env.vm, env.disk
    iid = _launch(vm)
    from kiln_helpers import describe_instance
    inst = ok(describe_instance(vm, iid))["instance"]
    vol = inst["systemDisk"]["cloudDisk"]["diskId"]
    write_pattern(disk_path(env.data_dir, iid, "vda"), "0x71")
    snap = ok(create_snapshot_resp(disk, vol, uniq("snap")))["snapshotId"]
    wait_snapshot_status(disk, snap, "available")

    p = CreateImageFromSnapshotsParameters(REGION, "cf-from-snaps", "Ubuntu", "x86_64", "bios")
    p.setCloudDisks([CloudDiskSpec(snapshotId=snap, deviceName="vdb")])
    expect_error(vm.send(CreateImageFromSnapshotsRequest(p)), 400, "INVALID_ARGUMENT",
                 "Parameter cloudDisks.vda missing")
    p.setCloudDisks([CloudDiskSpec(snapshotId=snap, deviceName="vda", diskSizeGB=40)])
    img = ok(vm.send(CreateImageFromSnapshotsRequest(p)))["imageId"]
    wait_image_status(vm, img, "ready")
    launched = _launch_from(vm, img)
    assert read_matches(disk_path(env.data_dir, launched, "vda"), "0x71")

    # convertImage: a localDisk image of a stopped instance, converted.
    (local_iid,) = ok(create_instances_resp(vm, "img-ubuntu2204", system_disk="local"))["instanceIds"]
    wait_instance_status(vm, local_iid, "running")
    ok(stop_instance_resp(vm, local_iid), allow_empty=True)
    wait_instance_status(vm, local_iid, "stopped")
    write_pattern(disk_path(env.data_dir, local_iid, "vda"), "0x19")
    local = _image_of(vm, local_iid, "cf-local")
    path = "/v1/regions/%s/images/%s:convertImage" % (REGION, local)
    raw, parsed = raw_signed_request(env.server, "POST", path, body="{}")
    assert raw.status_code == 200, raw.text
    cloud = parsed.result["imageId"]
    wait_image_status(vm, cloud, "ready")
    assert ok(describe_image(vm, cloud))["image"]["rootDeviceType"] == "cloudDisk"
    converted = _launch_from(vm, cloud)
    assert read_matches(disk_path(env.data_dir, converted, "vda"), "0x19")
    raw, _ = raw_signed_request(env.server, "POST", "/v1/regions/%s/images/%s:convertImage" % (REGION, cloud),
                                body="{}")
    assert raw.status_code == 400 and "Only support localDisk image" in raw.text, raw.text


def _launch_from(vm, image_id):
    (iid,) = ok(create_instances_resp(vm, image_id))["instanceIds"]
    wait_instance_status(vm, iid, "running")
    return iid
