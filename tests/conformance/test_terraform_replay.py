"""Replay of what Terraform's JD Cloud provider (hashicorp/terraform-provider-jdcloud) sends for
its `jdcloud_instance` and `jdcloud_disk_attachment` resources, call for call and with its
polling (StateChangeConf: 3 s delay, then backing off from 1 s to 10 s), through the official
SDK: create (maxCount 1, subnet, security groups, password, elastic IP, a data disk) and wait
pending/starting -> running; read the fields the provider reads; update the name and
description, then the password the provider's way (stop, wait stopped, modifyInstancePassword,
start); a disk created with a client token, attached (wait attaching -> attached in the
instance's dataDisks), its autoDelete changed, detached (wait attached/detaching ->
`detached`); delete the instance (stop, wait, delete, wait until describeInstance answers 404,
which the provider reads as status ""); the disk deleted and waited for `deleted`; key pairs
created and imported, read through describeKeypairs' keyNames filter, deleted."""

import time

from jdcloud_sdk.core.config import Config
from jdcloud_sdk.core.const import SCHEME_HTTP
from jdcloud_sdk.services.common.models.Filter import Filter
from jdcloud_sdk.services.disk.apis.CreateDisksRequest import CreateDisksParameters, CreateDisksRequest
from jdcloud_sdk.services.disk.apis.DeleteDiskRequest import DeleteDiskParameters, DeleteDiskRequest
from jdcloud_sdk.services.disk.apis.DescribeDiskRequest import DescribeDiskParameters, DescribeDiskRequest
from jdcloud_sdk.services.disk.models.DiskSpec import DiskSpec
from jdcloud_sdk.services.vm.apis.AttachDiskRequest import AttachDiskParameters, AttachDiskRequest
from jdcloud_sdk.services.vm.apis.CreateKeypairRequest import CreateKeypairParameters, CreateKeypairRequest
from jdcloud_sdk.services.vm.apis.DeleteKeypairRequest import DeleteKeypairParameters, DeleteKeypairRequest
from jdcloud_sdk.services.vm.apis.DescribeKeypairsRequest import (
    DescribeKeypairsParameters, DescribeKeypairsRequest,
)
from jdcloud_sdk.services.vm.apis.ImportKeypairRequest import ImportKeypairParameters, ImportKeypairRequest
from jdcloud_sdk.services.vm.apis.CreateInstancesRequest import (
    CreateInstancesParameters, CreateInstancesRequest,
)
from jdcloud_sdk.services.vm.apis.DeleteInstanceRequest import DeleteInstanceParameters, DeleteInstanceRequest
from jdcloud_sdk.services.vm.apis.DescribeInstanceRequest import (
    DescribeInstanceParameters, DescribeInstanceRequest,
)
from jdcloud_sdk.services.vm.apis.DetachDiskRequest import DetachDiskParameters, DetachDiskRequest
from jdcloud_sdk.services.vm.apis.ModifyInstanceAttributeRequest import (
    ModifyInstanceAttributeParameters, ModifyInstanceAttributeRequest,
)
from jdcloud_sdk.services.vm.apis.ModifyInstanceDiskAttributeRequest import (
    ModifyInstanceDiskAttributeParameters, ModifyInstanceDiskAttributeRequest,
)
from jdcloud_sdk.services.vm.apis.ModifyInstancePasswordRequest import (
    ModifyInstancePasswordParameters, ModifyInstancePasswordRequest,
)
from jdcloud_sdk.services.vm.apis.StartInstanceRequest import StartInstanceParameters, StartInstanceRequest
from jdcloud_sdk.services.vm.apis.StopInstanceRequest import StopInstanceParameters, StopInstanceRequest
from jdcloud_sdk.services.vm.models.InstanceDiskAttachmentSpec import InstanceDiskAttachmentSpec
from jdcloud_sdk.services.vm.models.InstanceDiskAttribute import InstanceDiskAttribute
from jdcloud_sdk.services.vm.models.InstanceNetworkInterfaceAttachmentSpec import (
    InstanceNetworkInterfaceAttachmentSpec,
)
from jdcloud_sdk.services.vm.models.InstanceSpec import InstanceSpec
from jdcloud_sdk.services.vpc.apis.CreateNetworkSecurityGroupRequest import (
    CreateNetworkSecurityGroupParameters, CreateNetworkSecurityGroupRequest,
)
from jdcloud_sdk.services.vpc.apis.CreateSubnetRequest import CreateSubnetParameters, CreateSubnetRequest
from jdcloud_sdk.services.vpc.apis.CreateVpcRequest import CreateVpcParameters, CreateVpcRequest
from jdcloud_sdk.services.vpc.client.VpcClient import VpcClient
from jdcloud_sdk.services.vpc.models.ElasticIpSpec import ElasticIpSpec
from jdcloud_sdk.services.vpc.models.NetworkInterfaceSpec import NetworkInterfaceSpec

from kiln_helpers import AZ, REGION, cloud_disk_spec, ok, uniq

IMAGE = "img-ubuntu2204"


def wait_for_state(refresh, pending, target, timeout=60):
    """Terraform's resource.StateChangeConf: Delay 3 s, then MinTimeout 1 s doubling to 10 s;
    a state outside pending and target is an error."""
    time.sleep(3)
    interval, deadline = 1.0, time.monotonic() + timeout
    while True:
        obj, state = refresh()
        if state in target:
            return obj
        assert state in pending, "unexpected state %r (pending %r, target %r)" % (state, pending, target)
        assert time.monotonic() < deadline, "timed out waiting for %r" % (target,)
        time.sleep(interval)
        interval = min(interval * 2, 10)


def describe(vm, instance_id):
    return vm.send(DescribeInstanceRequest(DescribeInstanceParameters(REGION, instance_id)))


def instance_refresh(vm, instance_id):
    """instanceStatusRefreshFunc: a 404 reads as the zero Instance, status "" (VM_DELETED)."""
    def refresh():
        resp = describe(vm, instance_id)
        if resp.error is not None:
            return {}, ""
        return resp.result["instance"], resp.result["instance"]["status"]
    return refresh


def attachment_refresh(vm, instance_id, disk_id):
    """diskAttachmentStatusRefreshFunc: the disk's entry in the instance's dataDisks; a disk
    missing from them is an error (DiskNotFound)."""
    def refresh():
        inst = ok(describe(vm, instance_id))["instance"]
        for d in inst["dataDisks"]:
            if (d.get("cloudDisk") or {}).get("diskId") == disk_id:
                return d, d["status"]
        raise AssertionError("DiskNotFound: %s not in %r" % (disk_id, inst["dataDisks"]))
    return refresh


def retry(call, retryable, timeout=60):
    """resource.Retry: repeat `call` while `retryable(resp)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        resp = call()
        if resp.error is None or not retryable(resp) or time.monotonic() > deadline:
            return resp
        time.sleep(1)


def stop_vm(vm, instance_id):
    """StopVmInstance: retried while 400 FAILED_PRECONDITION; then wait stopped."""
    resp = retry(lambda: vm.send(StopInstanceRequest(StopInstanceParameters(REGION, instance_id))),
                 lambda r: r.error.code == 400 and r.error.status == "FAILED_PRECONDITION")
    ok(resp, allow_empty=True)
    wait_for_state(instance_refresh(vm, instance_id), ["running", "stopping"], ["stopped", ""])


def test_terraform_instance_and_disk_attachment(spawn_kiln):
    # JD keeps a deleted disk readable as `deleted` for a while; the provider's first look
    # comes 3 s after deleteDisk.
    env = spawn_kiln("--deleted-retention", "60s")
    vm, disk = env.vm, env.disk
    vpc = VpcClient(env.credential, Config(env.server.endpoint, scheme=SCHEME_HTTP, timeout=20))
    vpc_id = ok(vpc.send(CreateVpcRequest(CreateVpcParameters(REGION, "tf"))))["vpcId"]
    subnet_id = ok(vpc.send(CreateSubnetRequest(
        CreateSubnetParameters(REGION, vpc_id, "tf", "10.0.0.0/24"))))["subnetId"]
    sg_id = ok(vpc.send(CreateNetworkSecurityGroupRequest(
        CreateNetworkSecurityGroupParameters(REGION, vpc_id, "tf-sg"))))["networkSecurityGroupId"]

    # jdcloud_instance create.
    nic = NetworkInterfaceSpec(subnetId=subnet_id, securityGroups=[sg_id])
    data = InstanceDiskAttachmentSpec(diskCategory="cloud", cloudDiskSpec=cloud_disk_spec(size_gb=20),
                                      autoDelete=True)
    spec = InstanceSpec(name=uniq("tf"), az=AZ, instanceType="g.n2.medium", imageId=IMAGE,
                        password="Terraform-1x", description="made by terraform",
                        primaryNetworkInterface=InstanceNetworkInterfaceAttachmentSpec(networkInterface=nic),
                        dataDisks=[data], elasticIp=ElasticIpSpec(2, "bgp"))
    p = CreateInstancesParameters(REGION, spec)
    p.setMaxCount(1)
    instance_id = ok(vm.send(CreateInstancesRequest(p)))["instanceIds"][0]
    wait_for_state(instance_refresh(vm, instance_id), ["pending", "starting"], ["running"])

    # Read: the fields the provider sets from describeInstance.
    inst = ok(describe(vm, instance_id))["instance"]
    assert inst["subnetId"] == subnet_id and inst["az"] == AZ
    assert inst["imageId"] == IMAGE and inst["instanceType"] == "g.n2.medium"
    assert inst["description"] == "made by terraform"
    assert inst["elasticIpAddress"], inst
    ni = inst["primaryNetworkInterface"]["networkInterface"]
    assert ni["primaryIp"]["privateIpAddress"] == inst["privateIpAddress"]
    assert [g["groupId"] for g in ni["securityGroups"]] == [sg_id]
    assert ni["secondaryIps"] == []
    assert inst["keyNames"] == []
    assert len(inst["dataDisks"]) == 1 and inst["systemDisk"]["deviceName"] == "vda"

    # Update: name and description, then the password (stop, modify, start).
    p = ModifyInstanceAttributeParameters(REGION, instance_id)
    p.setName("tf-renamed")
    p.setDescription("changed by terraform")
    ok(vm.send(ModifyInstanceAttributeRequest(p)), allow_empty=True)
    stop_vm(vm, instance_id)
    ok(vm.send(ModifyInstancePasswordRequest(
        ModifyInstancePasswordParameters(REGION, instance_id, "Terraform-2y"))), allow_empty=True)
    ok(vm.send(StartInstanceRequest(StartInstanceParameters(REGION, instance_id))), allow_empty=True)
    wait_for_state(instance_refresh(vm, instance_id), ["stopped", "starting"], ["running"])
    inst = ok(describe(vm, instance_id))["instance"]
    assert (inst["instanceName"], inst["description"]) == ("tf-renamed", "changed by terraform")

    # jdcloud_disk: createDisks with a client token; describeDisk creating -> available;
    # the provider only accepts answers with a charge mode.
    p = CreateDisksParameters(REGION, DiskSpec(AZ, "tf-disk", "ssd.gp1", 20), 1, uniq("tok"))
    disk_id = ok(disk.send(CreateDisksRequest(p)))["diskIds"][0]

    def disk_refresh():
        d = ok(disk.send(DescribeDiskRequest(DescribeDiskParameters(REGION, disk_id))))["disk"]
        assert d["charge"]["chargeMode"], d
        return d, d["status"]
    wait_for_state(disk_refresh, ["creating"], ["available"])

    # jdcloud_disk_attachment: attach (retried on a task conflict), wait attached; auto_delete
    # changed; detach, wait `detached` in the instance's dataDisks.
    attach = AttachDiskParameters(REGION, instance_id, disk_id)
    attach.setAutoDelete(False)
    resp = retry(lambda: vm.send(AttachDiskRequest(attach)),
                 lambda r: "Conflict with underlay task" in (r.error.message or ""))
    ok(resp, allow_empty=True)
    wait_for_state(attachment_refresh(vm, instance_id, disk_id), ["attaching"], ["attached"])
    p = ModifyInstanceDiskAttributeParameters(REGION, instance_id)
    p.setDataDisks([InstanceDiskAttribute(diskId=disk_id, autoDelete=True)])
    ok(vm.send(ModifyInstanceDiskAttributeRequest(p)), allow_empty=True)
    d, _ = attachment_refresh(vm, instance_id, disk_id)()
    assert d["autoDelete"] is True, d
    resp = retry(lambda: vm.send(DetachDiskRequest(DetachDiskParameters(REGION, instance_id, disk_id))),
                 lambda r: "Conflict with underlay task" in (r.error.message or ""))
    ok(resp, allow_empty=True)
    wait_for_state(attachment_refresh(vm, instance_id, disk_id), ["attached", "detaching"], ["detached"])

    # jdcloud_instance delete: stop, wait, delete (retried on 403), wait until gone.
    stop_vm(vm, instance_id)
    resp = retry(lambda: vm.send(DeleteInstanceRequest(DeleteInstanceParameters(REGION, instance_id))),
                 lambda r: r.error.code == 403 and r.error.status == "PERMISSION_DENIED")
    ok(resp, allow_empty=True)
    wait_for_state(instance_refresh(vm, instance_id), ["running", "stopping", "deleting"], [""])
    # The detached disk outlives the instance.
    d = ok(disk.send(DescribeDiskRequest(DescribeDiskParameters(REGION, disk_id))))["disk"]
    assert d["status"] == "available", d

    # jdcloud_disk delete: deleteDisk, then describeDisk deleting -> `deleted`.
    ok(disk.send(DeleteDiskRequest(DeleteDiskParameters(REGION, disk_id))), allow_empty=True)
    wait_for_state(disk_refresh, ["deleting", "available"], ["deleted"])


def describe_keypair(vm, name):
    """resourceJDCloudKeyPairsRead: describeKeypairs filtered by keyNames; 0 found = gone."""
    p = DescribeKeypairsParameters(REGION)
    p.setFilters([Filter("keyNames", [name])])
    result = ok(vm.send(DescribeKeypairsRequest(p)))
    return result["keypairs"][0] if result["totalCount"] else None


def test_terraform_key_pairs(spawn_kiln):
    env = spawn_kiln()
    vm = env.vm
    # Created by Kiln: the provider keeps privateKey (and may write it to key_file).
    made = ok(vm.send(CreateKeypairRequest(CreateKeypairParameters(REGION, "tf-made"))))
    assert made["keyName"] == "tf-made" and made["privateKey"].startswith("-----BEGIN")
    assert describe_keypair(vm, "tf-made")["keyFingerprint"] == made["keyFingerprint"]
    # Imported from public_key (the provider's own test key).
    public_key = ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCx8uSTa3lpmPN/YIoxg6+y6R1PLNiCwPjHUJKS/a"
                  "BFzJxJwF9NkJ8tHWfYaV0ZP4CR+uH8f7yW9Fo9uCrNwxZ0IwfLdFD3BGsT3b2mdRj/"
                  "+3tq3e4ds7Nxh3ktSlWVNt4BvfKKGxfojXOgSs6F4vhL+c3iOpP1FbJHE2K3CDtQd8HJ"
                  "c/7vaG5kaUqy1SLRFgqzrl+z46FGVt8L5mGqoFimw0WkV0dMdLTQRe9Xo8EHZyFrTZiY"
                  "75HGXB/0Q/J3C4XlaXdTkOfiKuGo9YCLqYHZTi/w6GVLgEhFw1OSnxkVXeCdF0hajGlT"
                  "sjpq8Y9nS3Uk1VxDgUKr4uJhfkhnlS35 tf")
    imported = ok(vm.send(ImportKeypairRequest(ImportKeypairParameters(REGION, "tf-imported", public_key))))
    assert describe_keypair(vm, "tf-imported")["keyFingerprint"] == imported["keyFingerprint"]
    # Delete: afterwards the read finds nothing and the resource is gone.
    for name in ("tf-made", "tf-imported"):
        ok(vm.send(DeleteKeypairRequest(DeleteKeypairParameters(REGION, name))), allow_empty=True)
        assert describe_keypair(vm, name) is None
