"""Key pairs through the official SDK's vm client: createKeypair, importKeypair, describeKeypairs,
deleteKeypair, attachKeypair, detachKeypair, and the keyNames describeInstance shows.

Fingerprints are checked against the RFC 4716 MD5 of the public key blob computed here, and
(when the machine has ssh-keygen) the private key createKeypair answers is read by `ssh-keygen -y`.
"""

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest

from jdcloud_sdk.services.vm.apis.AttachKeypairRequest import AttachKeypairParameters, AttachKeypairRequest
from jdcloud_sdk.services.vm.apis.CreateKeypairRequest import CreateKeypairParameters, CreateKeypairRequest
from jdcloud_sdk.services.vm.apis.DeleteKeypairRequest import DeleteKeypairParameters, DeleteKeypairRequest
from jdcloud_sdk.services.vm.apis.DescribeKeypairsRequest import DescribeKeypairsParameters, DescribeKeypairsRequest
from jdcloud_sdk.services.vm.apis.DetachKeypairRequest import DetachKeypairParameters, DetachKeypairRequest
from jdcloud_sdk.services.vm.apis.DescribeQuotasRequest import DescribeQuotasParameters, DescribeQuotasRequest
from jdcloud_sdk.services.vm.apis.ImportKeypairRequest import ImportKeypairParameters, ImportKeypairRequest

from kiln_helpers import (
    REGION, create_instances_resp, describe_instance, expect_error, filters, ok, pick_image, uniq,
    wait_instance_status,
)

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti me@host"


def md5_fingerprint(public_key_line):
    """RFC 4716: MD5 of the base64-decoded key blob, lowercase hex pairs joined by ':'."""
    blob = base64.b64decode(public_key_line.split()[1])
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def create(vm, name):
    return vm.send(CreateKeypairRequest(CreateKeypairParameters(REGION, name)))


def import_key(vm, name, public_key):
    return vm.send(ImportKeypairRequest(ImportKeypairParameters(REGION, name, public_key)))


def delete(vm, name):
    return vm.send(DeleteKeypairRequest(DeleteKeypairParameters(REGION, name)))


def describe(vm, *names, page_size=None):
    p = DescribeKeypairsParameters(REGION)
    if names:
        p.setFilters(filters(keyNames=names))
    if page_size is not None:
        p.setPageSize(page_size)
    return vm.send(DescribeKeypairsRequest(p))


@pytest.fixture
def key_names(vm_client):
    """Names the test made; deleted afterwards so the shared server stays under its quota of 20."""
    made = []
    yield made
    for name in made:
        delete(vm_client, name)


def test_create_answers_a_usable_private_key_and_only_the_public_half_is_listed(vm_client, key_names):
    name = uniq("kp")
    res = ok(create(vm_client, name))
    key_names.append(name)
    assert res["keyName"] == name
    assert res["privateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----"), res
    listed = ok(describe(vm_client, name))
    assert listed["totalCount"] == 1
    (k,) = listed["keypairs"]
    assert set(k) == {"keyName", "keyFingerprint", "createTime", "instanceIds"}, k
    assert k["keyFingerprint"] == res["keyFingerprint"] and k["instanceIds"] == []
    assert len(k["createTime"]) == 19 and k["createTime"][10] == " ", k

    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("no ssh-keygen on this machine: the private key was not read back")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "key.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(res["privateKey"])
        public = subprocess.run([keygen, "-y", "-f", path], check=True, capture_output=True, text=True).stdout
    assert public.startswith("ssh-rsa AAAA"), public
    assert md5_fingerprint(public) == res["keyFingerprint"]


def test_import_answers_the_md5_fingerprint_and_refuses_malformed_keys(vm_client, key_names):
    name = uniq("kp")
    res = ok(import_key(vm_client, name, ED25519))
    key_names.append(name)
    assert res == {"keyName": name, "keyFingerprint": md5_fingerprint(ED25519)}, res
    assert ok(describe(vm_client, name))["keypairs"][0]["keyFingerprint"] == md5_fingerprint(ED25519)

    bad = uniq("kp")
    for garbage in ["not a key", "ssh-rsa AAAA", ED25519.replace("AAAAC3", "AAAAB3")]:
        expect_error(import_key(vm_client, bad, garbage), 400, "FAILED_PRECONDITION",
                     startswith="Malformed PublicKey '")
    assert ok(describe(vm_client, bad))["totalCount"] == 0


def test_duplicates_names_and_not_found_as_jd_words_them(vm_client, key_names):
    name = uniq("kp")
    ok(create(vm_client, name))
    key_names.append(name)
    msg = "KeyName '%s' already in use" % name
    expect_error(create(vm_client, name), 400, "FAILED_PRECONDITION", msg)
    expect_error(import_key(vm_client, name, ED25519), 400, "FAILED_PRECONDITION", msg)
    expect_error(create(vm_client, "bad name"), 400, "INVALID_ARGUMENT")
    expect_error(create(vm_client, "k" * 33), 400, "INVALID_ARGUMENT")
    missing = uniq("gone")
    expect_error(delete(vm_client, missing), 404, "NOT_FOUND", "Keypair '%s' not found" % missing)
    expect_error(describe(vm_client, page_size=5), 400, "OUT_OF_RANGE", "PageSize out of range")
    expect_error(vm_client.send(AttachKeypairRequest(AttachKeypairParameters(REGION, missing, ["i-x"], "yes"))),
                 404, "NOT_FOUND", "Keypair '%s' not found" % missing)


def test_attach_and_detach_show_on_the_instance(vm_client, tracker, key_names, public_image_list):
    name = uniq("kp")
    ok(create(vm_client, name))
    key_names.append(name)
    linux = [i for i in public_image_list if i.get("osType") == "linux"]
    image = pick_image(linux, "cloudDisk")
    (iid,) = ok(create_instances_resp(vm_client, image["imageId"]))["instanceIds"]
    tracker.instance(iid)
    wait_instance_status(vm_client, iid, "running")

    res = ok(vm_client.send(AttachKeypairRequest(AttachKeypairParameters(REGION, name, [iid], "no"))))
    assert res == {"successInstanceId": [iid], "failInstanceId": []}, res
    assert ok(describe_instance(vm_client, iid))["instance"]["keyNames"] == [name]
    assert ok(describe(vm_client, name))["keypairs"][0]["instanceIds"] == [iid]
    expect_error(vm_client.send(AttachKeypairRequest(AttachKeypairParameters(REGION, name, [iid], "yes"))),
                 400, "FAILED_PRECONDITION", "Already attached key pair. instance id %s" % iid)

    res = ok(vm_client.send(DetachKeypairRequest(DetachKeypairParameters(REGION, name, [iid]))))
    assert res == {"successInstanceId": [iid], "failInstanceId": []}, res
    assert ok(describe_instance(vm_client, iid))["instance"]["keyNames"] == []
    expect_error(vm_client.send(DetachKeypairRequest(DetachKeypairParameters(REGION, name, [iid]))),
                 400, "FAILED_PRECONDITION", "Already attached other keypair. instance id %s" % iid)


def test_keypair_quota(spawn_kiln):
    env = spawn_kiln("--quota", "keypair=1")
    ok(create(env.vm, "first"))
    expect_error(import_key(env.vm, "second", ED25519), 429, "QUOTA_EXCEEDED", "Keypair quota limit exceeded")
    p = DescribeQuotasParameters(REGION)
    p.setFilters(filters(resourceTypes=["keypair"]))
    quotas = ok(env.vm.send(DescribeQuotasRequest(p)))["quotas"]
    assert quotas == [{"resourceType": "keypair", "limit": 1, "used": 1}], quotas
    ok(delete(env.vm, "first"), allow_empty=True)
    ok(import_key(env.vm, "second", ED25519))
