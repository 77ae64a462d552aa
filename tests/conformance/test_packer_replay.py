"""Replay of what Packer's JD Cloud builder (hashicorp/packer-plugin-jdcloud) sends, call for call
and with its polling, through the official SDK (vm and vpc clients): validate or create the
subnet (vpc createVpc `created_by_packer` + createSubnet 192.168.0.0/20), describeImage, a
temporary key pair (createKeypair; or a password), createInstances into the subnet, wait pending/starting -> running (3 s delay, then backing off
from 1 s to 10 s), createElasticIps (1 Mbps, bgp), associateElasticIp on the instance's primary
network interface with its private address, describeElasticIp (the SSH host), stopInstance and
wait running/stopping -> stopped, createImage (description "") and wait for `ready`, then the
clean-up: deleteElasticIp, deleteInstance. Both with a subnet given and without."""

import time

from jdcloud_sdk.core.config import Config
from jdcloud_sdk.core.const import SCHEME_HTTP
from jdcloud_sdk.services.vm.apis.CreateImageRequest import CreateImageParameters, CreateImageRequest
from jdcloud_sdk.services.vm.apis.CreateKeypairRequest import CreateKeypairParameters, CreateKeypairRequest
from jdcloud_sdk.services.vm.apis.CreateInstancesRequest import (
    CreateInstancesParameters, CreateInstancesRequest,
)
from jdcloud_sdk.services.vm.apis.DeleteInstanceRequest import DeleteInstanceParameters, DeleteInstanceRequest
from jdcloud_sdk.services.vm.apis.DescribeImageRequest import DescribeImageParameters, DescribeImageRequest
from jdcloud_sdk.services.vm.apis.DescribeInstanceRequest import (
    DescribeInstanceParameters, DescribeInstanceRequest,
)
from jdcloud_sdk.services.vm.apis.StopInstanceRequest import StopInstanceParameters, StopInstanceRequest
from jdcloud_sdk.services.vm.models.InstanceNetworkInterfaceAttachmentSpec import (
    InstanceNetworkInterfaceAttachmentSpec,
)
from jdcloud_sdk.services.vm.models.InstanceSpec import InstanceSpec
from jdcloud_sdk.services.vpc.apis.AssociateElasticIpRequest import (
    AssociateElasticIpParameters, AssociateElasticIpRequest,
)
from jdcloud_sdk.services.vpc.apis.CreateElasticIpsRequest import (
    CreateElasticIpsParameters, CreateElasticIpsRequest,
)
from jdcloud_sdk.services.vpc.apis.CreateSubnetRequest import CreateSubnetParameters, CreateSubnetRequest
from jdcloud_sdk.services.vpc.apis.CreateVpcRequest import CreateVpcParameters, CreateVpcRequest
from jdcloud_sdk.services.vpc.apis.DeleteElasticIpRequest import (
    DeleteElasticIpParameters, DeleteElasticIpRequest,
)
from jdcloud_sdk.services.vpc.apis.DescribeElasticIpRequest import (
    DescribeElasticIpParameters, DescribeElasticIpRequest,
)
from jdcloud_sdk.services.vpc.apis.DescribeElasticIpsRequest import (
    DescribeElasticIpsParameters, DescribeElasticIpsRequest,
)
from jdcloud_sdk.services.vpc.apis.DescribeSubnetRequest import DescribeSubnetParameters, DescribeSubnetRequest
from jdcloud_sdk.services.vpc.client.VpcClient import VpcClient
from jdcloud_sdk.services.vpc.models.ElasticIpSpec import ElasticIpSpec
from jdcloud_sdk.services.vpc.models.NetworkInterfaceSpec import NetworkInterfaceSpec

from kiln_helpers import AZ, REGION, expect_error, ok, uniq

IMAGE = "img-ubuntu2204"


def vpc_client(env):
    return VpcClient(env.credential, Config(env.server.endpoint, scheme=SCHEME_HTTP, timeout=20))


def packer_wait(refresh, pending, target, timeout=60):
    """Packer's StateChangeConf: wait Delay (3 s), then poll, backing off from MinTimeout
    (1 s) doubling to 10 s; a status neither pending nor target fails; 20 not-found answers
    in a row give up."""
    time.sleep(3)
    interval, not_found, deadline = 1.0, 0, time.monotonic() + timeout
    while True:
        obj, status = refresh()
        if obj is None:
            not_found += 1
            assert not_found < 20, "gave up after 20 not-found answers"
        elif status in target:
            return obj
        else:
            not_found = 0
            assert status in pending, "unexpected status %r (pending %r)" % (status, pending)
        assert time.monotonic() < deadline, "timed out waiting for %r" % (target,)
        time.sleep(interval)
        interval = min(interval * 2, 10)


def instance_refresher(vm, instance_id):
    def refresh():
        resp = vm.send(DescribeInstanceRequest(DescribeInstanceParameters(REGION, instance_id)))
        if resp.error is not None:
            return None, ""
        return resp.result["instance"], resp.result["instance"]["status"]
    return refresh


def run_packer_build(env, subnet_id=None, temporary_key=False):
    vm, vpc = env.vm, vpc_client(env)
    # 1. The subnet: validated, or a VPC and subnet made for the build.
    if subnet_id:
        subnet = ok(vpc.send(DescribeSubnetRequest(DescribeSubnetParameters(REGION, subnet_id))))["subnet"]
        assert subnet["subnetName"] and subnet["vpcId"] and subnet["subnetId"] == subnet_id
    else:
        vpc_id = ok(vpc.send(CreateVpcRequest(CreateVpcParameters(REGION, "created_by_packer"))))["vpcId"]
        subnet_id = ok(vpc.send(CreateSubnetRequest(
            CreateSubnetParameters(REGION, vpc_id, "created_by_packer", "192.168.0.0/20"))))["subnetId"]
    # 2. The base image.
    image = ok(vm.send(DescribeImageRequest(DescribeImageParameters(REGION, IMAGE))))["image"]
    assert image["name"]
    # 3. A temporary key pair (never deleted), or a password.
    credentials = {"password": "Packer-Build-1"}
    if temporary_key:
        key_name = "packer_%s" % uniq("k").replace("-", "_")
        key = ok(vm.send(CreateKeypairRequest(CreateKeypairParameters(REGION, key_name))))
        assert "PRIVATE KEY-----" in key["privateKey"]
        credentials = {"keyNames": [key_name]}
    # 4. The instance, in the subnet; wait running.
    nic = NetworkInterfaceSpec(subnetId=subnet_id, az=AZ)
    spec = InstanceSpec(name=uniq("packer"), az=AZ, instanceType="g.n2.medium", imageId=IMAGE,
                        primaryNetworkInterface=InstanceNetworkInterfaceAttachmentSpec(networkInterface=nic),
                        **credentials)
    instance_id = ok(vm.send(CreateInstancesRequest(CreateInstancesParameters(REGION, spec))))["instanceIds"][0]
    instance = packer_wait(instance_refresher(vm, instance_id), ["pending", "starting"], ["running"])
    private_ip = instance["privateIpAddress"]
    assert instance["keyNames"] == credentials.get("keyNames", [])
    nic_id = instance["primaryNetworkInterface"]["networkInterface"]["networkInterfaceId"]
    assert instance["subnetId"] == subnet_id and private_ip and nic_id
    # 5. An elastic IP onto the primary interface; its address is the SSH host.
    eip_id = ok(vpc.send(CreateElasticIpsRequest(
        CreateElasticIpsParameters(REGION, 1, ElasticIpSpec(1, "bgp")))))["elasticIpIds"][0]
    p = AssociateElasticIpParameters(REGION, nic_id)
    p.setElasticIpId(eip_id)
    p.setPrivateIpAddress(private_ip)
    ok(vpc.send(AssociateElasticIpRequest(p)), allow_empty=True)
    eip = ok(vpc.send(DescribeElasticIpRequest(DescribeElasticIpParameters(REGION, eip_id))))["elasticIp"]
    host = eip["elasticIpAddress"]
    assert host and eip["privateIpAddress"] == private_ip and eip["instanceId"] == instance_id
    # 7. Stop; wait stopped.
    ok(vm.send(StopInstanceRequest(StopInstanceParameters(REGION, instance_id))), allow_empty=True)
    packer_wait(instance_refresher(vm, instance_id), ["running", "stopping"], ["stopped"])
    # 8. The image; wait ready (Packer's waiter polls describeImage).
    p = CreateImageParameters(REGION, instance_id, uniq("packer-img"))
    p.setDescription("")
    image_id = ok(vm.send(CreateImageRequest(p)))["imageId"]

    def image_refresh():
        resp = vm.send(DescribeImageRequest(DescribeImageParameters(REGION, image_id)))
        return (None, "") if resp.error else (resp.result["image"], resp.result["image"]["status"])
    packer_wait(image_refresh, ["pending"], ["ready"])
    # 9. Clean-up, in Packer's order: the elastic IP, then the instance.
    ok(vpc.send(DeleteElasticIpRequest(DeleteElasticIpParameters(REGION, eip_id))), allow_empty=True)
    ok(vm.send(DeleteInstanceRequest(DeleteInstanceParameters(REGION, instance_id))), allow_empty=True)
    return image_id, host


def test_packer_build_creating_its_own_subnet(spawn_kiln):
    env = spawn_kiln()
    image_id, host = run_packer_build(env, temporary_key=True)
    # Nothing of the build is left but the image: no elastic IP.
    eips = ok(vpc_client(env).send(DescribeElasticIpsRequest(DescribeElasticIpsParameters(REGION))))
    assert eips["totalCount"] == 0, eips
    assert ok(env.vm.send(DescribeImageRequest(DescribeImageParameters(REGION, image_id))))["image"]["status"] == "ready"


def test_packer_build_in_a_given_subnet(spawn_kiln):
    env = spawn_kiln()
    vpc = vpc_client(env)
    vpc_id = ok(vpc.send(CreateVpcRequest(CreateVpcParameters(REGION, "builds"))))["vpcId"]
    subnet_id = ok(vpc.send(CreateSubnetRequest(
        CreateSubnetParameters(REGION, vpc_id, "builds", "10.20.0.0/24"))))["subnetId"]
    run_packer_build(env, subnet_id)
    # A subnet that does not exist stops the build at its first call, as on JD Cloud.
    expect_error(vpc.send(DescribeSubnetRequest(DescribeSubnetParameters(REGION, "subnet-nope"))),
                 404, "NOT_FOUND", "Subnet 'subnet-nope' not found")
