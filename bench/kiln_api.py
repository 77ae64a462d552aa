"""A small signed JD Cloud client for Kiln (set-up, polling and probes of the benchmark).

Signs JDCLOUD2-HMAC-SHA256 the way the Go SDK does (spec §2.3, src/signing.rs
`sign_headers`): signed headers `content-type;host;x-jdcloud-date;x-jdcloud-nonce`, the
canonical path percent-encoded with `:` as `%3A`, query pairs encoded and sorted, a fresh
UUID-style nonce per request. The signing key is derived once per day and service, so a
request costs two SHA-256 and one HMAC. One persistent HTTP/1.1 keep-alive connection per
client object (use one per thread).
"""

import hashlib
import hmac
import http.client
import json
import os
import time
import urllib.parse
import uuid

ALG = "JDCLOUD2-HMAC-SHA256"
TERMINATOR = "jdcloud2_request"
SIGNED = "content-type;host;x-jdcloud-date;x-jdcloud-nonce"
_SAFE = "-_.~"


def _enc(s, keep_slash=False):
    return urllib.parse.quote(str(s), safe=_SAFE + ("/" if keep_slash else ""))


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


class Kiln:
    def __init__(self, host, port, ak, sk, region="cn-north-1", timeout=60):
        self.host, self.port = host, port
        self.hostport = f"{host}:{port}"
        self.ak, self.sk, self.region = ak, sk, region
        self.timeout = timeout
        self._keys = {}
        self._conn = None

    def _key(self, date, service):
        k = self._keys.get((date, service))
        if k is None:
            k = hmac.new(("JDCLOUD2" + self.sk).encode(), date.encode(), hashlib.sha256).digest()
            for part in (self.region, service, TERMINATOR):
                k = hmac.new(k, part.encode(), hashlib.sha256).digest()
            self._keys[(date, service)] = k
        return k

    def sign(self, method, path, query_pairs, body, service="vm", timestamp=None, nonce=None):
        """Returns (encoded path, encoded query, headers)."""
        timestamp = timestamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        nonce = nonce or str(uuid.uuid4())
        enc_path = _enc(urllib.parse.unquote(path), keep_slash=True)
        pairs = sorted((_enc(k), _enc(v)) for k, v in query_pairs)
        query = "&".join(f"{k}={v}" for k, v in pairs)
        payload_hash = hashlib.sha256(body).hexdigest()
        canonical = (
            f"{method}\n{enc_path}\n{query}\n"
            f"content-type:application/json\nhost:{self.hostport}\n"
            f"x-jdcloud-date:{timestamp}\nx-jdcloud-nonce:{nonce}\n\n{SIGNED}\n{payload_hash}"
        )
        date = timestamp[:8]
        scope = f"{date}/{self.region}/{service}/{TERMINATOR}"
        sts = f"{ALG}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        sig = hmac.new(self._key(date, service), sts.encode(), hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "Host": self.hostport,
            "x-jdcloud-date": timestamp,
            "x-jdcloud-nonce": nonce,
            "Authorization": f"{ALG} Credential={self.ak}/{scope}, SignedHeaders={SIGNED}, Signature={sig}",
        }
        return enc_path, query, headers

    def request(self, method, path, query=None, body=None, service="vm"):
        """`path` below /v1/regions/<region>; `query` a dict or list of pairs (lists are
        expanded to `k.1`, `k.2`, …). A path under `/kiln/` (Kiln's own API, e.g.
        `/kiln/v1/regions/R/instances/I/exec`) is sent as it is. Returns the decoded
        `result`."""
        full = path if path.startswith("/kiln/") else f"/v1/regions/{self.region}{path}"
        pairs = []
        for k, v in (query.items() if isinstance(query, dict) else (query or [])):
            if isinstance(v, (list, tuple)):
                pairs += [(f"{k}.{i + 1}", x) for i, x in enumerate(v)]
            elif v is not None:
                pairs.append((k, v))
        data = json.dumps(body).encode() if body is not None else b""
        enc_path, q, headers = self.sign(method, full, pairs, data, service)
        url = enc_path + ("?" + q if q else "")
        for attempt in range(2):
            try:
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self._conn.request(method, url, body=data or None, headers=headers)
                resp = self._conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
                # A retry must carry a new nonce.
                enc_path, q, headers = self.sign(method, full, pairs, data, service)
        if resp.status != 200:
            raise ApiError(resp.status, raw)
        return json.loads(raw).get("result") or {}

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # Convenience calls used by the benchmark's set-up.
    def create_instances(self, count, name, system_disk, data_disks=(), image="img-ubuntu2204",
                         instance_type="g.n2.medium"):
        spec = {"az": f"{self.region}a", "instanceType": instance_type, "imageId": image,
                "name": name, "systemDisk": system_disk}
        if data_disks:
            spec["dataDisks"] = list(data_disks)
        body = {"instanceSpec": spec, "maxCount": count, "clientToken": uuid.uuid4().hex}
        return self.request("POST", "/instances", body=body)["instanceIds"]

    def wait_instances(self, ids, status="running", timeout=600):
        want = set(ids)
        deadline = time.time() + timeout
        while True:
            seen = {}
            ids_l = list(want)
            for i in range(0, len(ids_l), 100):
                r = self.request("GET", "/instances", [("pageSize", 100)] + [
                    (f"filters.1.values.{j + 1}", x) for j, x in enumerate(ids_l[i:i + 100])
                ] + [("filters.1.name", "instanceId")])
                for inst in r.get("instances", []):
                    seen[inst["instanceId"]] = inst["status"]
            left = [i for i in want if seen.get(i) != status]
            if not left:
                return
            bad = [i for i in left if seen.get(i) == "error"]
            if bad:
                raise RuntimeError(f"instances in error: {bad[:5]}")
            if time.time() > deadline:
                raise TimeoutError(f"{len(left)} instances not {status}: {left[:5]}")
            time.sleep(0.05)

    def wait_image(self, image_id, timeout=600, interval=0.002):
        deadline = time.time() + timeout
        while True:
            st = self.request("GET", f"/images/{image_id}")["image"]["status"]
            if st in ("ready", "error"):
                return st
            if time.time() > deadline:
                raise TimeoutError(f"image {image_id} still {st}")
            time.sleep(interval)


def cloud_disk(size_gb, device=None, disk_type="ssd.gp1"):
    d = {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": disk_type, "diskSizeGB": size_gb}}
    if device:
        d["deviceName"] = device
    d["autoDelete"] = True
    return d


if __name__ == "__main__":
    # Self-check against spec §2.4 C (Go-style v2 signature).
    k = Kiln("vm.jdcloud-api.com", 443, "TESTAK", "TESTSK")
    k.hostport = "vm.jdcloud-api.com"
    _, _, h = k.sign("POST", "/v1/regions/cn-north-1/instances/i-abc:createImage", [],
                     b'{"name":"img1"}', "vm", "20240101T000000Z",
                     "11111111-2222-3333-4444-555555555555")
    assert h["Authorization"].endswith(
        "d24b03369fd9b30fd2e6efb87bfd8235cb26f0c6ccd95f65eab2f7b22b9f3a59"), h
    print("kiln_api signer OK", os.path.basename(__file__))
