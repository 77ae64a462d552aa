"""Conformance suite for Kiln, driven by the official JD Cloud Python SDK (jdcloud-sdk 1.6.354).

Run (from the repo root, after `cargo build`):
    python3.11 -m venv .venv && .venv/bin/pip install -r tests/conformance/requirements.txt
    .venv/bin/pytest -x -q tests/conformance

The session fixture `kiln_server` starts `$KILN_BIN serve` (default target/debug/kiln) as a real
process on a free 127.0.0.1 port with a fresh data dir and stops it at the end. Every test talks to
it only through `VmClient` / `DiskClient` (and `kiln admin disk-path` + qemu-io for disk data).
With KILN_TEST_DATABASE=postgres every server runs on PostgreSQL instead: a fresh database
`kiln_t_<random>` on KILN_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test), dropped when
the server stops.
Tests that need other server settings (small quotas, a long task delay, a wrapped qemu-img) start
their own servers with the module fixture `spawn_kiln(*extra_serve_args)`.
On a failure the report gets extra sections: the last SDK exchanges (url, body, response) and the
tail of each running server's log.
"""

import collections
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from jdcloud_sdk.core.config import Config
from jdcloud_sdk.core.const import SCHEME_HTTP
from jdcloud_sdk.core.credential import Credential
from jdcloud_sdk.core.logger import ERROR, INFO, Logger
from jdcloud_sdk.services.disk.client.DiskClient import DiskClient
from jdcloud_sdk.services.vm.client.VmClient import VmClient

from kiln_helpers import (  # noqa: F401  (re-exported: `from conftest import wait_for` also works)
    AZ, MAX_WAIT, REGION, REPO_ROOT, Tracker, disk_path, kiln_bin, uniq, wait_for,
)

ACCESS_KEY = "KILNTESTACCESSKEY0001"
SECRET_KEY = "kiln-test-secret-key-0001"
HEALTH_TIMEOUT = 20.0

_SDK_LOG = collections.deque(maxlen=60)
_STATE = {"server_logs": {}}


class RecordingLogger(Logger):
    """SDK logger that keeps the last request urls/bodies and raw responses instead of printing."""

    def __init__(self, tag):
        super(RecordingLogger, self).__init__(INFO)
        self.tag = tag

    def log(self, level, message):
        if isinstance(message, (bytes, bytearray)):
            _SDK_LOG.append("%s <- %s" % (self.tag, bytes(message).decode("utf-8", "replace")[:2000]))
        elif isinstance(message, str) and (message.startswith("url=") or message.startswith("body=")):
            _SDK_LOG.append("%s -> %s" % (self.tag, message[:2000]))
        elif level <= ERROR:
            _SDK_LOG.append("%s !! %s" % (self.tag, str(message)[:2000]))


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _tail(path, n=60):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return "(no server log)"


class KilnServer(object):
    def __init__(self, bin_path, port, data_dir, log_path, proc):
        self.bin = bin_path
        self.port = port
        self.endpoint = "127.0.0.1:%d" % port
        self.base_url = "http://" + self.endpoint
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc = proc
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY


def _postgres_mode():
    return os.environ.get("KILN_TEST_DATABASE", "").startswith("postgres")


def _pg_admin_url():
    return os.environ.get("KILN_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")


def _psql(sql):
    subprocess.run(["psql", _pg_admin_url(), "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def _create_database():
    """A fresh PostgreSQL database for one server: (name, url)."""
    name = "kiln_t_" + uniq("").replace("-", "_").lower() + "%06x" % (os.getpid() & 0xffffff)
    _psql("CREATE DATABASE %s" % name)
    return name, _pg_admin_url().rsplit("/", 1)[0] + "/" + name


def _healthy(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _start_kiln(base, extra_args=(), label="kiln"):
    """Start `$KILN_BIN serve` on a free 127.0.0.1 port with a fresh data dir under `base`.

    Delays default to 200ms (transition and task) unless `extra_args` sets them, e.g.
    ("--task-delay", "3s", "--quota", "image=1").
    """
    bin_path = kiln_bin()
    if not bin_path.is_file():
        pytest.fail("kiln binary not found at %s (build it with `cargo build`, or set KILN_BIN)" % bin_path,
                    pytrace=False)
    data_dir = base / "data"
    data_dir.mkdir()
    log_path = base / "server.log"
    port = _free_port()
    cmd = [str(bin_path), "serve", "--listen", "127.0.0.1:%d" % port, "--data-dir", str(data_dir)]
    for flag in ("--transition-delay", "--task-delay"):
        if flag not in extra_args:
            cmd += [flag, "200ms"]
    # A deleted disk reads `deleted` briefly, then is gone (404), as tests that wait expect.
    if "--deleted-retention" not in extra_args:
        cmd += ["--deleted-retention", "1s"]
    # importImage/exportImage use files under the temporary directory (pytest's tmp_path).
    cmd += ["--file-root", tempfile.gettempdir()]
    cmd += list(extra_args)
    database = None
    if _postgres_mode():
        database, url = _create_database()
        cmd += ["--database", url]
        if "--task-lease" not in extra_args:
            cmd += ["--task-lease", "2s"]
    env = dict(os.environ, KILN_ACCESS_KEY=ACCESS_KEY, KILN_SECRET_KEY=SECRET_KEY)
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            cwd=str(REPO_ROOT))
    log.close()  # the child keeps its own descriptor
    _STATE["server_logs"][label] = str(log_path)
    server = KilnServer(bin_path, port, data_dir, log_path, proc)
    server.database = database
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while not _healthy(server.base_url + "/healthz"):
        if proc.poll() is not None:
            pytest.fail("kiln serve exited with %s before becoming healthy:\n%s\n%s"
                        % (proc.returncode, " ".join(cmd), _tail(log_path)), pytrace=False)
        if time.monotonic() > deadline:
            _stop_kiln(server)
            pytest.fail("kiln serve not healthy after %.0fs at %s/healthz:\n%s"
                        % (HEALTH_TIMEOUT, server.base_url, _tail(log_path)), pytrace=False)
        time.sleep(0.1)
    return server


def _stop_kiln(server, label=None):
    proc = server.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if label is not None:
        _STATE["server_logs"].pop(label, None)
    if getattr(server, "database", None):
        try:
            _psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % server.database)
        except subprocess.CalledProcessError:
            pass
        server.database = None


@pytest.fixture(scope="session")
def kiln_server(tmp_path_factory):
    server = _start_kiln(tmp_path_factory.mktemp("kiln"), label="kiln")
    try:
        yield server
    finally:
        _stop_kiln(server)


class KilnEnv(object):
    """An extra server with its own clients (see `spawn_kiln`)."""

    def __init__(self, server):
        self.server = server
        self.data_dir = server.data_dir
        cred = Credential(server.access_key, server.secret_key)
        self.credential = cred
        self.vm = VmClient(cred, _config(server), RecordingLogger("vm@%d" % server.port))
        self.disk = DiskClient(cred, _config(server), RecordingLogger("disk@%d" % server.port))


@pytest.fixture(scope="module")
def spawn_kiln(tmp_path_factory):
    """spawn_kiln(*extra_serve_args) -> KilnEnv: a further `kiln serve` (own port and data dir) for
    settings the shared server must not have (small quotas, long task delay, a wrapped qemu-img).
    Every server it started is stopped when the module ends."""
    started = []

    def spawn(*extra_args):
        label = "kiln#%d" % (len(started) + 1)
        server = _start_kiln(tmp_path_factory.mktemp("kiln-extra"), extra_args, label=label)
        started.append((server, label))
        return KilnEnv(server)

    yield spawn
    for server, label in started:
        _stop_kiln(server, label)


@pytest.fixture(scope="session")
def data_dir(kiln_server):
    """The server's --data-dir (for `disk_path(data_dir, ...)`)."""
    return kiln_server.data_dir


def _config(server):
    return Config(server.endpoint, scheme=SCHEME_HTTP, timeout=20)


@pytest.fixture(scope="session")
def credential(kiln_server):
    return Credential(kiln_server.access_key, kiln_server.secret_key)


@pytest.fixture(scope="session")
def vm_client(kiln_server, credential):
    return VmClient(credential, _config(kiln_server), RecordingLogger("vm"))


@pytest.fixture(scope="session")
def disk_client(kiln_server, credential):
    return DiskClient(credential, _config(kiln_server), RecordingLogger("disk"))


@pytest.fixture(scope="session")
def make_clients(kiln_server):
    """make_clients(ak, sk) -> (VmClient, DiskClient) with other credentials (auth tests)."""
    def make(ak, sk):
        cred = Credential(ak, sk)
        return (VmClient(cred, _config(kiln_server), RecordingLogger("vm")),
                DiskClient(cred, _config(kiln_server), RecordingLogger("disk")))
    return make


@pytest.fixture(scope="session")
def public_image_list(vm_client):
    from kiln_helpers import public_images
    return public_images(vm_client)


@pytest.fixture
def tracker(vm_client, disk_client):
    """Register created resources (tracker.instance(id), .disk_ids(id), .snapshot(id)); they are
    deleted after the test, best effort, so quotas do not leak between tests."""
    t = Tracker(vm_client, disk_client)
    yield t
    problems = t.cleanup()
    if problems:
        _SDK_LOG.append("cleanup problems: " + "; ".join(problems))


@pytest.fixture(autouse=True)
def _reset_sdk_log():
    _SDK_LOG.clear()
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.failed:
        if _SDK_LOG:
            rep.sections.append(("kiln: last SDK exchanges", "\n".join(_SDK_LOG)))
        for label, path in list(_STATE["server_logs"].items()):
            rep.sections.append(("%s: server log tail" % label, _tail(path, 40)))
    return rep
