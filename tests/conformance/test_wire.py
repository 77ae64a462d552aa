"""Wire envelope and authentication as the Python SDK sees it (spec sections 1 and 2).

The SDK hides response headers, so `raw_responses` wraps `requests.request` inside the SDK to keep
the raw `requests.Response` objects as well.
"""

import json
import re

import pytest

import jdcloud_sdk.core.jdcloudclient as sdk_client_module
from jdcloud_sdk.services.disk.apis.DescribeDisksRequest import DescribeDisksParameters, DescribeDisksRequest
from jdcloud_sdk.services.vm.apis.DescribeImagesRequest import DescribeImagesParameters, DescribeImagesRequest
from jdcloud_sdk.services.vm.apis.DescribeInstanceRequest import DescribeInstanceParameters, DescribeInstanceRequest
from jdcloud_sdk.services.vm.apis.DescribeInstancesRequest import DescribeInstancesParameters, DescribeInstancesRequest

from kiln_helpers import REGION, expect_error, ok

REQUEST_ID_RE = re.compile(r"^[a-z0-9]{32}$")


@pytest.fixture
def raw_responses(monkeypatch):
    captured = []
    real = sdk_client_module.requests.request

    def spy(*a, **kw):
        r = real(*a, **kw)
        captured.append(r)
        return r

    monkeypatch.setattr(sdk_client_module.requests, "request", spy)
    return captured


def _check_envelope(raw, sdk_resp):
    assert raw.headers.get("Content-Type", "").startswith("application/json"), raw.headers
    body = json.loads(raw.content)
    assert "requestId" in body, body
    assert REQUEST_ID_RE.match(body["requestId"]), "requestId should be 32 chars [a-z0-9]: %r" % body["requestId"]
    assert raw.headers.get("x-jdcloud-request-id") == body["requestId"], dict(raw.headers)
    assert sdk_resp.request_id == body["requestId"]
    return body


def test_success_envelope(vm_client, raw_responses):
    resp = vm_client.send(DescribeInstancesRequest(DescribeInstancesParameters(REGION)))
    ok(resp)
    raw = raw_responses[-1]
    assert raw.status_code == 200
    body = _check_envelope(raw, resp)
    assert "error" not in body and "result" in body, body


def test_error_envelope(vm_client, raw_responses):
    resp = vm_client.send(DescribeInstanceRequest(DescribeInstanceParameters(REGION, "i-nope")))
    expect_error(resp, 404, "NOT_FOUND", "Instance 'i-nope' not found.")
    raw = raw_responses[-1]
    assert raw.status_code == 404
    body = _check_envelope(raw, resp)
    assert body["error"]["code"] == 404 and isinstance(body["error"]["code"], int), body
    assert "result" not in body, body


def test_request_ids_are_unique(vm_client):
    ids = set()
    for _ in range(5):
        resp = vm_client.send(DescribeInstancesRequest(DescribeInstancesParameters(REGION)))
        ok(resp)
        ids.add(resp.request_id)
    assert len(ids) == 5


def test_wrong_secret_key_rejected(make_clients):
    vm, _ = make_clients("KILNTESTACCESSKEY0001", "not-the-secret")
    resp = vm.send(DescribeInstancesRequest(DescribeInstancesParameters(REGION)))
    e = expect_error(resp, 401, "ACCESS_ERROR")
    assert "sign result is not same" in e.message, e.message


def test_unknown_access_key_rejected(make_clients):
    _, disk = make_clients("NO-SUCH-AK", "whatever")
    resp = disk.send(DescribeDisksRequest(DescribeDisksParameters(REGION)))
    expect_error(resp, 401, "ACCESS_ERROR")


def test_signed_get_with_query_and_booleans(vm_client):
    # PYSDK writes booleans as True/False in the query string; must be accepted.
    p = DescribeImagesParameters(REGION)
    p.setImageSource("public")
    p.setOffline(False)
    p.setPageSize(10)
    res = ok(vm_client.send(DescribeImagesRequest(p)))
    assert isinstance(res["images"], list)
