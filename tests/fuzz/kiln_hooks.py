"""Schemathesis hooks for scripts/schemathesis.

`before_call` keeps the run inside its sandbox: Kiln reads `importImage` sources from
`file://` paths and `http://` URLs and writes `exportImage` output into `file://`
directories, so every such URL a test case carries is rewritten before it is sent: `file://`
sources to one small qcow2 in the sandbox, export directories to the sandbox's export
directory, `http://` sources to a closed loopback port. Nothing else is changed.

`jd_envelope` (a check): each response to a JD path (`/v1/...`) is JSON in JD Cloud's envelope
(`{"requestId", "result"}`, `{"requestId"}`, or `{"requestId", "error": {"code", "status",
"message"}}` with `code` equal to the HTTP status) and carries the same request id in the
`x-jdcloud-request-id` header; `/openapi.json` answers JSON and `/healthz` answers 200 `ok`.
"""

import json
import os

import schemathesis

# Set by scripts/schemathesis: a temporary directory holding files/source.qcow2 and export/.
SANDBOX = os.environ.get("KILN_FUZZ_SANDBOX", "/nonexistent-kiln-fuzz-sandbox")
URL_KEYS = {"imageurl": "source", "ossurl": "export"}


def _confined(url, kind):
    if url.startswith("file://"):
        if kind == "source":
            return f"file://{SANDBOX}/files/source.qcow2"
        return f"file://{SANDBOX}/export"
    if url.startswith("http://"):
        return "http://127.0.0.1:9/source.qcow2"
    return url


def _confine(value):
    if isinstance(value, dict):
        for key, v in list(value.items()):
            kind = URL_KEYS.get(key.lower()) if isinstance(key, str) else None
            if kind and isinstance(v, str):
                value[key] = _confined(v, kind)
            else:
                _confine(v)
    elif isinstance(value, list):
        for v in value:
            _confine(v)


@schemathesis.hook
def before_call(context, case, kwargs):
    _confine(case.body)
    _confine(case.query)


def _header(response, name):
    # Schemathesis keeps response headers with lowercase names and lists of values.
    values = response.headers.get(name) or [None]
    return values[0] if isinstance(values, list) else values


def _text(response):
    return response.content.decode("utf-8", "replace")


def _fail(case, response, why):
    raise AssertionError(
        f"{why}\n  request: {case.method} {response.request.url}\n"
        f"  status: {response.status_code}\n"
        f"  content-type: {_header(response, 'content-type')}\n"
        f"  body: {_text(response)[:300]!r}"
    )


@schemathesis.check
def jd_envelope(ctx, response, case):
    path = case.operation.path
    ctype = _header(response, "content-type") or ""
    if path == "/healthz" and case.method.upper() in ("GET", "HEAD"):
        if response.status_code != 200 or _text(response) not in ("ok\n", ""):
            _fail(case, response, "/healthz did not answer 200 ok")
        return None
    if not ctype.startswith("application/json"):
        _fail(case, response, "not a JSON answer")
    try:
        body = json.loads(_text(response))
    except ValueError:
        _fail(case, response, "body is not JSON")
    if path == "/openapi.json" and response.status_code == 200:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("requestId"), str):
        _fail(case, response, "no requestId in the body")
    rid = _header(response, "x-jdcloud-request-id")
    if rid != body["requestId"]:
        _fail(case, response, "x-jdcloud-request-id differs from the body's requestId")
    if response.status_code == 200:
        if "error" in body:
            _fail(case, response, "200 with an error object")
        return None
    err = body.get("error")
    if not (
        isinstance(err, dict)
        and err.get("code") == response.status_code
        and isinstance(err.get("status"), str)
        and isinstance(err.get("message"), str)
    ):
        _fail(case, response, "error answer without {code = HTTP status, status, message}")
    return None
