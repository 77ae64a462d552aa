"""stop/start/reboot/delete state machines and their precondition errors (spec 6.15-6.18)."""

from jdcloud_sdk.services.vm.apis.RebootInstanceRequest import RebootInstanceParameters, RebootInstanceRequest
from jdcloud_sdk.services.vm.apis.StartInstanceRequest import StartInstanceParameters, StartInstanceRequest
from jdcloud_sdk.services.vm.apis.StopInstanceRequest import StopInstanceParameters, StopInstanceRequest

from kiln_helpers import (
    REGION, cloud_data_disk, create_instances_resp, delete_instance_resp, describe_disk, describe_instance,
    disk_status, expect_error, instance_status, ok, pick_image, wait_disk_gone, wait_disk_status,
    wait_instance_gone, wait_instance_status,
)


def _stop(vm, iid):
    return vm.send(StopInstanceRequest(StopInstanceParameters(REGION, iid)))


def _start(vm, iid):
    return vm.send(StartInstanceRequest(StartInstanceParameters(REGION, iid)))


def _reboot(vm, iid):
    return vm.send(RebootInstanceRequest(RebootInstanceParameters(REGION, iid)))


def _running_instance(vm, tracker, images, **kw):
    image = pick_image(images, "cloudDisk")
    res = ok(create_instances_resp(vm, image["imageId"], **kw))
    (iid,) = res["instanceIds"]
    tracker.instance(iid)
    wait_instance_status(vm, iid, "running")
    return iid


def test_stop_start_reboot(vm_client, tracker, public_image_list):
    iid = _running_instance(vm_client, tracker, public_image_list)

    ok(_stop(vm_client, iid), allow_empty=True)
    assert instance_status(vm_client, iid) == "stopping"
    wait_instance_status(vm_client, iid, "stopped")

    ok(_start(vm_client, iid), allow_empty=True)
    assert instance_status(vm_client, iid) == "starting"
    wait_instance_status(vm_client, iid, "running")

    ok(_reboot(vm_client, iid), allow_empty=True)
    assert instance_status(vm_client, iid) == "rebooting"
    wait_instance_status(vm_client, iid, "running")


def test_invalid_status_errors(vm_client, tracker, public_image_list):
    iid = _running_instance(vm_client, tracker, public_image_list)

    # start while running
    expect_error(_start(vm_client, iid), 400, "FAILED_PRECONDITION", startswith="Invalid instance status")

    ok(_stop(vm_client, iid), allow_empty=True)
    wait_instance_status(vm_client, iid, "stopped")
    # stop / reboot while stopped
    expect_error(_stop(vm_client, iid), 400, "FAILED_PRECONDITION", startswith="Invalid instance status")
    expect_error(_reboot(vm_client, iid), 400, "FAILED_PRECONDITION", startswith="Invalid instance status")


def test_conflict_with_underlay_task(vm_client, tracker, public_image_list):
    iid = _running_instance(vm_client, tracker, public_image_list)

    # during `rebooting`
    ok(_reboot(vm_client, iid), allow_empty=True)
    expect_error(_stop(vm_client, iid), 400, "FAILED_PRECONDITION", startswith="Conflict with underlay task")
    wait_instance_status(vm_client, iid, "running")

    # during `stopping`
    ok(_stop(vm_client, iid), allow_empty=True)
    expect_error(_stop(vm_client, iid), 400, "FAILED_PRECONDITION", startswith="Conflict with underlay task")
    expect_error(_start(vm_client, iid), 400, "FAILED_PRECONDITION", startswith="Conflict with underlay task")
    wait_instance_status(vm_client, iid, "stopped")

    # during `starting`
    ok(_start(vm_client, iid), allow_empty=True)
    expect_error(_stop(vm_client, iid), 400, "FAILED_PRECONDITION", startswith="Conflict with underlay task")
    wait_instance_status(vm_client, iid, "running")


def test_conflict_while_pending(vm_client, tracker, public_image_list):
    image = pick_image(public_image_list, "cloudDisk")
    (iid,) = ok(create_instances_resp(vm_client, image["imageId"]))["instanceIds"]
    tracker.instance(iid)
    expect_error(_stop(vm_client, iid), 400, "FAILED_PRECONDITION", startswith="Conflict with underlay task")
    wait_instance_status(vm_client, iid, "running")


def test_actions_on_unknown_instance(vm_client):
    for resp in (_stop(vm_client, "i-nope"), _start(vm_client, "i-nope"), _reboot(vm_client, "i-nope"),
                 delete_instance_resp(vm_client, "i-nope")):
        expect_error(resp, 404, "NOT_FOUND", "Instance 'i-nope' not found.")


def test_delete_stopped_instance_with_auto_delete_disk(vm_client, disk_client, tracker, public_image_list):
    iid = _running_instance(vm_client, tracker, public_image_list,
                            data_disks=[cloud_data_disk("vdb", 20, auto_delete=True),
                                        cloud_data_disk("vdc", 20, auto_delete=False)])
    inst = ok(describe_instance(vm_client, iid))["instance"]
    by_dev = {d["deviceName"]: d for d in inst["dataDisks"]}
    assert set(by_dev) == {"vdb", "vdc"}, inst["dataDisks"]
    assert by_dev["vdb"]["autoDelete"] is True, by_dev["vdb"]
    assert by_dev["vdc"]["autoDelete"] is False, by_dev["vdc"]
    auto_id = by_dev["vdb"]["cloudDisk"]["diskId"]
    keep_id = by_dev["vdc"]["cloudDisk"]["diskId"]
    tracker.disk_ids(keep_id)
    assert disk_status(disk_client, auto_id) == "in-use"

    ok(_stop(vm_client, iid), allow_empty=True)
    wait_instance_status(vm_client, iid, "stopped")

    ok(delete_instance_resp(vm_client, iid), allow_empty=True)
    assert instance_status(vm_client, iid) == "deleting"
    # no second delete / action while deleting
    resp = delete_instance_resp(vm_client, iid)
    assert resp.error is not None and resp.error.code in (400, 404), resp.error and vars(resp.error)
    wait_instance_gone(vm_client, iid)
    expect_error(describe_instance(vm_client, iid), 404, "NOT_FOUND", "Instance '%s' not found." % iid)

    wait_disk_gone(disk_client, auto_id)
    expect_error(describe_disk(disk_client, auto_id), 404, "NOT_FOUND", "Disk '%s' not found" % auto_id)
    # the non-autoDelete data disk survives, detached
    wait_disk_status(disk_client, keep_id, "available")
    d = ok(describe_disk(disk_client, keep_id))["disk"]
    assert not [a for a in d.get("attachments") or [] if a.get("status") in ("attached", "attaching")], d


def test_delete_running_instance(vm_client, tracker, public_image_list):
    # deleteInstance accepts running instances too (spec 6.18: running, stopped or error)
    iid = _running_instance(vm_client, tracker, public_image_list)
    ok(delete_instance_resp(vm_client, iid), allow_empty=True)
    wait_instance_gone(vm_client, iid)
