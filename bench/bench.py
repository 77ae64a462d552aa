"""Kiln's benchmark driver (run by scripts/bench): starts Kiln and the moto peer pinned to
one core, drives them from the other, runs scenarios A–E several times and writes the
results table (BENCHMARKS.md) and the raw figures (JSON).

Servers run under `taskset -c SERVER_CPU`, every client (kiln-loadgen, boto3, this
driver's own probes) under `taskset -c CLIENT_CPU`. Kiln runs with signature verification
on; every request of every client is signed.
"""

import argparse
import datetime
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_api import ApiError, Kiln, cloud_disk  # noqa: E402

GIB = 1 << 30
# scripts/bench-compare's section of BENCHMARKS.md (bench/compare.py) lies between these
# markers; a full run that rewrites the file keeps it.
COMPARE_START = "<!-- bench-compare: start -->"
COMPARE_END = "<!-- bench-compare: end -->"
REGION = "cn-north-1"

PROFILES = {
    "full": dict(
        runs=3, images=10000, instances=1000, populate_clients=32,
        a_duration=5.0, a_warmup=1.0, moto_duration=6.0, moto_list_duration=8.0,
        b_duration=5.0, b_clients=32, b_rate=200, c_write_mib=1024, d_write_mib=1024, d_pairs=6,
        moto_images=10000,
        moto_min_ops=10, moto_max_duration=30.0,
        # F (SQLite vs PostgreSQL vs two PostgreSQL nodes): a smaller image set than A's
        # and shorter runs, so that three set-ups fit in a few minutes.
        f_runs=3, f_images=2000, f_populate_clients=16, f_a_duration=3.0, f_a_warmup=0.5,
        f_b_duration=3.0, f_b_clients=32,
        # G (copyImages vs qemu-img convert): MiB of guest data written into each of the
        # source image's two disks; H (OSS export/import): MiB written into the system disk.
        g_write_mib=1024, g_pairs=12, h_write_mib=2048, h_runs=3,
        # I (guests under QEMU/TCG): runs of boot, createImage while writing, stop, start;
        # the guest's writer runs i_settle_s before createImage and after `ready`.
        i_runs=5, i_settle_s=3.0,
    ),
    # CI's smoke run (scripts/bench --smoke): every scenario once with tiny counts, to
    # prove the benchmark still runs end to end and yields every figure. Never judged on
    # timings.
    "smoke": dict(
        runs=1, images=40, instances=8, populate_clients=4,
        a_duration=0.3, a_warmup=0.1, moto_duration=0.5, moto_list_duration=0.5,
        b_duration=0.5, b_clients=4, b_rate=20, c_write_mib=4, d_write_mib=8, d_pairs=1, moto_images=20,
        moto_min_ops=1, moto_max_duration=2.0,
        f_runs=1, f_images=20, f_populate_clients=4, f_a_duration=0.3, f_a_warmup=0.1,
        f_b_duration=0.5, f_b_clients=4,
        g_write_mib=8, g_pairs=1, h_write_mib=16, h_runs=1,
        i_runs=1, i_settle_s=1.0,
    ),
    "quick": dict(
        runs=2, images=1000, instances=100, populate_clients=16,
        a_duration=1.5, a_warmup=0.5, moto_duration=2.0, moto_list_duration=3.0,
        b_duration=2.0, b_clients=32, b_rate=200, c_write_mib=64, d_write_mib=128, d_pairs=2,
        moto_images=500,
        moto_min_ops=5, moto_max_duration=6.0,
        f_runs=2, f_images=500, f_populate_clients=16, f_a_duration=1.5, f_a_warmup=0.5,
        f_b_duration=2.0, f_b_clients=32,
        g_write_mib=256, g_pairs=2, h_write_mib=256, h_runs=2,
        i_runs=2, i_settle_s=2.0,
    ),
}

# --------------------------------------------------------------------------------------
# Helpers


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def try_sh(cmd):
    try:
        return subprocess.run(cmd, text=True, capture_output=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def proc_status(pid):
    """VmRSS / VmHWM of a process in bytes."""
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


def reset_peak_rss(pid):
    """Resets a process's VmHWM to its current RSS (Linux ≥ 4.0); False where not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every `every` s until end(): (peak bytes, samples)."""

    def __init__(self, pid, every=0.1):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples = []
        self.stop_ev = threading.Event()

    def begin(self):
        self.start()
        return self

    def run(self):
        while True:
            rss = proc_status(self.pid).get("VmRSS")
            if rss:
                self.samples.append(rss)
            if self.stop_ev.wait(self.every):
                break

    def end(self):
        self.stop_ev.set()
        self.join()
        return (max(self.samples) if self.samples else None), len(self.samples)


# H's baseline: boto3 in a process of its own (on the server core, where Kiln sends from).
# argv: op endpoint bucket key path access-key secret-key shape. shape "default": boto3's
# default TransferConfig (8 MiB parts / ranged GETs, up to 10 threads); "serial": Kiln's
# shape (one thread; 16 MiB parts up, one GET down). The client is made and has connected
# (head_bucket) before the clock starts; a download's fsync is timed apart (Kiln's download
# fsyncs before it converts).
S3_HELPER = r"""
import json, os, sys, time
import boto3
from boto3.s3.transfer import TransferConfig
op, endpoint, bucket, key, path, ak, sk, shape = sys.argv[1:9]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=ak, aws_secret_access_key=sk)
s3.head_bucket(Bucket=bucket)
if shape == "serial":
    cfg = TransferConfig(use_threads=False, multipart_chunksize=16 << 20,
                         multipart_threshold=(16 << 20) if op == "upload" else (1 << 62))
else:
    cfg = TransferConfig()
out = {}
t0 = time.perf_counter()
if op == "upload":
    s3.upload_file(path, bucket, key, Config=cfg)
    out["seconds"] = time.perf_counter() - t0
else:
    s3.download_file(bucket, key, path, Config=cfg)
    out["seconds"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    out["fsync_seconds"] = time.perf_counter() - t1
out["bytes"] = os.path.getsize(path)
print(json.dumps(out))
"""


def own_cpu_seconds(pid):
    """utime+stime of the process's own threads (not its children)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime+stime of the process (all threads) and of its reaped children."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick


def core_busy(cpu):
    """Busy CPU seconds of one core (all processes)."""
    try:
        for line in open("/proc/stat"):
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
    except OSError:
        pass
    return 0.0


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def agg(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    m = statistics.median(xs)
    return {"median": m, "min": min(xs), "max": max(xs), "n": len(xs),
            "spread_pct": (max(xs) - min(xs)) / m * 100 if m else 0.0, "runs": xs}


class Pin:
    def __init__(self, enabled, server_cpu, client_cpu):
        self.enabled = enabled
        self.server_cpu, self.client_cpu = server_cpu, client_cpu

    def server(self):
        return ["taskset", "-c", str(self.server_cpu)] if self.enabled else []

    def client(self):
        return ["taskset", "-c", str(self.client_cpu)] if self.enabled else []


# --------------------------------------------------------------------------------------
# Servers


class KilnServer:
    AK = "KILNBENCHACCESSKEY0001"

    def __init__(self, binary, data_dir, pin, sk, database=None, log_name=None, extra_args=()):
        self.binary, self.data_dir, self.pin, self.sk = binary, data_dir, pin, sk
        self.database = database  # postgres://… (None: SQLite in the data directory)
        self.extra_args = list(extra_args)  # e.g. H's --oss-endpoint …
        self.log_name = log_name or os.path.basename(data_dir)
        self.proc = None
        self.port = None

    def start(self):
        """Starts the server; returns seconds until it answered a signed request."""
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = free_port()
        # Signed requests this process has verified (its nonce table is in memory).
        self.requests = 0
        env = dict(os.environ, KILN_ACCESS_KEY=self.AK, KILN_SECRET_KEY=self.sk)
        cmd = self.pin.server() + [
            self.binary, "serve", "--listen", f"127.0.0.1:{self.port}",
            "--data-dir", self.data_dir, "--task-delay", "0s", "--transition-delay", "0s",
            "--quota", "image=200000", "--quota", "snapshot=1000000",
            "--quota", "instance=2000", "--quota", "disk=10000",
        ]
        if self.database:
            cmd += ["--database", self.database]
        cmd += self.extra_args
        self.cmd = cmd
        self.log_path = os.path.join(os.path.dirname(self.data_dir), self.log_name + ".log")
        logf = open(self.log_path, "a")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=logf)
        api = self.api(timeout=2)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kiln exited with {self.proc.returncode}; see {logf.name}")
            try:
                api.request("GET", "/images/img-ubuntu2204")
                took = time.perf_counter() - t0
                api.close()
                return took
            except (OSError, ConnectionError):
                api.close()
                time.sleep(0.002)
            if time.perf_counter() - t0 > 120:
                raise TimeoutError("kiln did not start in 120 s")

    def api(self, timeout=60, region=REGION):
        return Kiln("127.0.0.1", self.port, self.AK, self.sk, region, timeout=timeout)

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class MotoServer:
    def __init__(self, venv_bin, pin, logdir, on_client_core=False):
        self.venv_bin, self.pin, self.logdir = venv_bin, pin, logdir
        # H runs moto as the object store on the client core, so that the server core is
        # the sender's alone (Kiln, or the baseline's boto3 and qemu-img).
        self.on_client_core = on_client_core
        self.proc = None

    def start(self):
        self.port = free_port()
        logf = open(os.path.join(self.logdir, "moto.log"), "a")
        pin = self.pin.client() if self.on_client_core else self.pin.server()
        cmd = pin + [os.path.join(self.venv_bin, "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=logf)
        t0 = time.perf_counter()
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return time.perf_counter() - t0
            except OSError:
                if self.proc.poll() is not None or time.perf_counter() - t0 > 60:
                    raise RuntimeError("moto_server did not start; see moto.log")
                time.sleep(0.02)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Qga:
    """qemu-guest-agent on a bare QEMU's chardev socket (scenario I), waited for as Kiln's
    driver waits (src/hypervisor/qga.rs): one connection, a guest-sync-delimited every
    0.5 s until one is answered."""

    def __init__(self, path, timeout):
        deadline = time.perf_counter() + timeout
        self.buf = b""
        self.ids = set()
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.perf_counter() > deadline:
                    raise
                time.sleep(0.05)
        while True:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no guest agent on {path} in {timeout} s")
            i = random.randint(1, 2 ** 31 - 1)
            self.ids.add(i)
            self.sock.sendall(json.dumps(
                {"execute": "guest-sync-delimited", "arguments": {"id": i}}).encode() + b"\n")
            attempt = min(deadline, time.perf_counter() + 0.5)
            try:
                while True:
                    if self._reply(attempt).get("return") in self.ids:
                        return
            except socket.timeout:
                continue

    def _reply(self, deadline):
        """The next JSON line (0xFF delimiters dropped)."""
        while b"\n" not in self.buf:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("guest agent socket closed")
            self.buf += data.replace(b"\xff", b"")
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return {}

    def cmd(self, execute, timeout=10, **arguments):
        msg = {"execute": execute}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.perf_counter() + timeout
        while True:
            r = self._reply(deadline)
            if "error" in r:
                raise RuntimeError(f"qemu-ga {execute}: {r['error']}")
            if "return" in r and not (isinstance(r["return"], int) and r["return"] in self.ids):
                return r["return"]  # (late answers to earlier syncs skipped)

    def sh(self, script, timeout=60):
        """`/bin/sh -c script` through guest-exec; its stdout (fails on a nonzero exit)."""
        import base64
        pid = self.cmd("guest-exec", path="/bin/sh", arg=["-c", script],
                       **{"capture-output": True})["pid"]
        deadline = time.perf_counter() + timeout
        while True:
            st = self.cmd("guest-exec-status", pid=pid)
            if st.get("exited"):
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"guest-exec {script[:60]!r} still running")
            time.sleep(0.01)
        if st.get("exitcode") != 0:
            raise RuntimeError(f"guest-exec {script[:60]!r} exited {st.get('exitcode')}: "
                               f"{base64.b64decode(st.get('err-data', '')).decode(errors='replace')[:300]}")
        return base64.b64decode(st.get("out-data", "")).decode(errors="replace")

    def close(self):
        self.sock.close()


class Qmp:
    """A minimal QMP client (scenario I's bare QEMU)."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.f = self.sock.makefile("rb")
        json.loads(self.f.readline())  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, execute, **arguments):
        msg = {"execute": execute}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = json.loads(self.f.readline())
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(f"QMP {execute}: {r['error']}")
            return r.get("return")

    def close(self):
        self.f.close()
        self.sock.close()


# --------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, a):
        self.a = a
        self.p = PROFILES[a.mode]
        if a.runs:
            self.p["runs"] = a.runs
        self.pin = Pin(a.pin, a.server_cpu, a.client_cpu)
        self.work = a.workdir
        self.sk = "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
        self.results = {"mode": a.mode, "profile": self.p, "started": datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec="seconds"),
            "loadavg_start": open("/proc/loadavg").read().split()[:3]}
        self.servers = []
        self.discarded = []

    # ---- clients

    def loadgen(self, server, *args):
        cmd = self.pin.client() + [self.a.loadgen, *args, "--addr", server.addr,
                                   "--ak", server.AK, "--sk", server.sk, "--region", REGION]
        pid = server.proc.pid
        c0, t0, o0 = cpu_seconds(pid), time.perf_counter(), core_busy(self.a.server_cpu)
        out = sh(cmd)
        c1, t1, o1 = cpu_seconds(pid), time.perf_counter(), core_busy(self.a.server_cpu)
        r = json.loads(out)
        r["server_cpu_pct"] = (c1 - c0) / (t1 - t0) * 100
        r["other_cpu_pct"] = max(0.0, (o1 - o0) - (c1 - c0)) / (t1 - t0) * 100
        r["requests_before"] = server.requests
        server.requests += r.get("requests_signed", 0)
        if r.get("errors") or r.get("failed_images"):
            log(f"  !! errors: {r.get('errors')} failed: {r.get('failed_images')} first: {r.get('first_error')}")
        return r

    def moto(self, server, *args):
        cmd = self.pin.client() + [os.path.join(self.a.venv_bin, "python"), self.a.moto_load,
                                   *args, "--endpoint", server.endpoint, "--server-pid",
                                   str(server.proc.pid), "--server-cpu", str(self.a.server_cpu)]
        r = json.loads(sh(cmd))
        if r.get("errors"):
            log(f"  !! moto errors: {r.get('errors')} first: {r.get('first_error')}")
        return r

    def discard(self, data_dir):
        """Leaves a finished scenario's data directory for the clean-up after the whole run.
        Deleting tens of thousands of layer files between scenarios made the next one pay
        for it: ext4 without a journal skips inodes freed in the last ~30 s when it allocates
        new ones, so every file Kiln (or qemu-img) created meanwhile scanned past them
        (perf: ~40% of server CPU in recently_deleted/find_inode_bit)."""
        self.discarded.append(data_dir)

    def kiln(self, name):
        s = KilnServer(self.a.kiln, os.path.join(self.work, name), self.pin, self.sk)
        self.servers.append(s)
        return s

    def disk_path(self, server, instance, device):
        return sh([self.a.kiln, "admin", "disk-path", "--data-dir", server.data_dir, instance,
                   device]).strip()

    def write_guest_data(self, path, mib, byte):
        """Writes `mib` MiB of a byte pattern into a qcow2 (in 16 pieces spread over the
        disk's virtual size), as a guest would, with qemu-io."""
        info = json.loads(sh(["qemu-img", "info", "-U", "--output=json", path]))
        size = info["virtual-size"]
        pieces = 16 if mib >= 16 else 1
        chunk = mib // pieces
        cmds = []
        for i in range(pieces):
            off = (size // pieces) * i
            off -= off % (1 << 20)
            cmds += ["-c", f"write -P 0x{byte:02x} {off} {chunk}M"]
        sh(self.pin.client() + ["qemu-io", "-f", "qcow2", *cmds, path])

    def wait_instances(self, api, ids):
        api.wait_instances(ids, "running")

    def create_instances(self, api, n, system_disk, data_disks=(), name="bench"):
        ids = []
        while len(ids) < n:
            k = min(100, n - len(ids))
            ids += api.create_instances(k, name, system_disk, data_disks)
        api.wait_instances(ids, "running", timeout=1800)
        return ids

    # ---- scenarios

    def scenario_e_idle(self):
        log("E: start-up time and memory of an empty server")
        runs = []
        for r in range(self.p["runs"]):
            s = self.kiln(f"e-idle-{r}")
            took = s.start()
            time.sleep(1.0)
            st = proc_status(s.proc.pid)
            s.stop()
            runs.append({"startup_s": took, "rss": st.get("VmRSS"), "hwm": st.get("VmHWM")})
            self.discard(s.data_dir)
        self.results["e_idle"] = runs

    def scenario_a(self):
        p = self.p
        s = self.kiln("a")
        self.results["a_first_start_s"] = s.start()
        api = s.api()
        log(f"A: creating {p['instances']} instances (cloud system disk)")
        t0 = time.perf_counter()
        inst = self.create_instances(api, p["instances"], {"diskCategory": "cloud"}, name="bench-a")
        t_inst = time.perf_counter() - t0
        inst_file = os.path.join(self.work, "a-instances.txt")
        open(inst_file, "w").write("\n".join(inst) + "\n")
        log(f"A: {len(inst)} instances in {t_inst:.1f}s; populating {p['images']} private images "
            f"with createImage ({p['populate_clients']} clients)")
        ids_file = os.path.join(self.work, "a-images.txt")
        pop = self.loadgen(s, "create-images", "--instances", inst_file, "--concurrency",
                           str(p["populate_clients"]), "--total", str(p["images"]),
                           "--poll-ms", "5", "--name-prefix", "pop", "--ids-out", ids_file,
                           "--timeout", "300")
        n_ids = sum(1 for line in open(ids_file) if line.strip())
        log(f"A: populated {n_ids} images in {pop['elapsed_s']:.1f}s ({pop['images_per_s']:.0f}/s)")
        if n_ids < p["images"]:
            log(f"A: !! only {n_ids} of {p['images']} images were made: {pop.get('first_error')}")
        self.results["a_setup"] = {"instances": len(inst), "instances_s": t_inst,
                                   "populate": pop, "images": n_ids}
        s.stop()

        # E with 10,000 images: restart on the populated data directory.
        log("E: start-up time and memory with the populated data directory")
        e10k = []
        for r in range(p["runs"]):
            took = s.start()
            time.sleep(1.0)
            st = proc_status(s.proc.pid)
            e10k.append({"startup_s": took, "rss": st.get("VmRSS"), "hwm": st.get("VmHWM")})
            if r < p["runs"] - 1:
                s.stop()
        self.results["e_populated"] = e10k

        log("A: describe runs")
        pages_img = max(1, n_ids // 100)
        pages_inst = max(1, len(inst) // 100)
        out = []
        for r in range(p["runs"]):
            for op, extra in (("image", ["--ids", ids_file]),
                              ("images", ["--pages", str(pages_img)]),
                              ("instances", ["--pages", str(pages_inst)])):
                for c in (1, 8):
                    res = self.loadgen(s, "describe", "--op", op, "--concurrency", str(c),
                                       "--duration", str(p["a_duration"]),
                                       "--warmup", str(p["a_warmup"]), *extra)
                    res["run"] = r
                    out.append(res)
                    log(f"  kiln run {r} {op:9s} c={c}: {res['ops_per_s']:9.0f} ops/s "
                        f"p50 {res['latency'].get('p50_ms', 0):.3f} p99 {res['latency'].get('p99_ms', 0):.3f} ms "
                        f"cpu {res['server_cpu_pct']:.0f}%")
        self.results["a_kiln"] = out
        st = proc_status(s.proc.pid)
        self.results["e_under_load"] = {"rss": st.get("VmRSS"), "hwm": st.get("VmHWM")}
        s.stop()
        self.discard(s.data_dir)

    def scenario_a_moto(self):
        p = self.p
        m = MotoServer(self.a.venv_bin, self.pin, self.work)
        self.servers.append(m)
        m.start()
        log(f"A/moto: populating {p['moto_images']} images with CreateImage")
        ids_file = os.path.join(self.work, "moto-images.txt")
        pop = self.moto(m, "populate", "--images", str(p["moto_images"]), "--instances", "32",
                        "--instances-out", os.path.join(self.work, "moto-a-instances.txt"),
                        "--ids-out", ids_file)
        log(f"A/moto: {pop['images']} images in {pop['seconds']:.1f}s")
        out = []
        pages = max(1, p["moto_images"] // 100)
        for r in range(p["runs"]):
            for op in ("image", "images"):
                for c in (1, 8):
                    d = p["moto_list_duration"] if op == "images" else p["moto_duration"]
                    res = self.moto(m, "describe", "--op", op, "--ids", ids_file, "--pages",
                                    str(pages), "--concurrency", str(c), "--duration", str(d),
                                    "--warmup", "1", "--min-ops", str(p["moto_min_ops"]),
                                    "--max-duration", str(p["moto_max_duration"]))
                    res["run"] = r
                    out.append(res)
                    log(f"  moto run {r} {op:9s} c={c}: {res['ops_per_s']:9.2f} ops/s "
                        f"p50 {res['latency'].get('p50_ms', 0):.1f} p99 {res['latency'].get('p99_ms', 0):.1f} ms")
        self.results["a_moto"] = out
        self.results["moto_populate"] = pop
        m.stop()

    def scenario_b(self):
        p = self.p
        s = self.kiln("b")
        s.start()
        api = s.api()
        n = p["b_clients"]
        log(f"B: {n} instances with a system disk and three data disks")
        data = [cloud_disk(20, d) for d in ("vdb", "vdc", "vdd")]
        inst = self.create_instances(api, n, {"diskCategory": "cloud"}, data, name="bench-b")
        f_all = os.path.join(self.work, "b-instances.txt")
        open(f_all, "w").write("\n".join(inst) + "\n")
        out = []
        for r in range(p["runs"]):
            # Closed loop with 1 and N clients, then N clients offered the target's rate.
            for c, poll, rate in ((1, 2, None), (n, 5, None), (n, 5, p["b_rate"])):
                extra = ["--rate", str(rate)] if rate else []
                res = self.loadgen(s, "create-images", "--instances", f_all, "--concurrency",
                                   str(c), "--duration", str(p["b_duration"]), "--poll-ms",
                                   str(poll), "--name-prefix", f"b{r}{'r' if rate else ''}",
                                   "--timeout", "120", *extra)
                res["run"] = r
                out.append(res)
                log(f"  kiln run {r} createImage c={c}{f' at {rate}/s' if rate else ''}: accepted p50 {res['accepted'].get('p50_ms', 0):.2f} "
                    f"p99 {res['accepted'].get('p99_ms', 0):.2f} ms; ready p50 {res['ready'].get('p50_ms', 0):.1f} "
                    f"p99 {res['ready'].get('p99_ms', 0):.1f} ms; {res['images_per_s']:.0f} images/s "
                    f"cpu {res['server_cpu_pct']:.0f}%")
        self.results["b_kiln"] = out
        s.stop()
        self.discard(s.data_dir)

    def scenario_b_moto(self):
        p = self.p
        m = MotoServer(self.a.venv_bin, self.pin, self.work)
        self.servers.append(m)
        m.start()
        n = p["b_clients"]
        # Instances with a root and three data volumes; no images made beforehand.
        self.moto(m, "populate", "--images", "0", "--instances", str(n), "--instances-out",
                  os.path.join(self.work, "moto-b-instances.txt"), "--ids-out",
                  os.path.join(self.work, "moto-b-none.txt"))
        out = []
        for r in range(p["runs"]):
            for c, rate in ((1, None), (n, None), (n, p["b_rate"])):
                extra = ["--rate", str(rate)] if rate else []
                res = self.moto(m, "create-images", "--instances",
                                os.path.join(self.work, "moto-b-instances.txt"),
                                "--concurrency", str(c), "--duration", str(p["b_duration"]),
                                *extra)
                res["run"] = r
                out.append(res)
                log(f"  moto run {r} CreateImage c={c}{f' at {rate}/s' if rate else ''}: p50 {res['accepted'].get('p50_ms', 0):.1f} "
                    f"p99 {res['accepted'].get('p99_ms', 0):.1f} ms; {res['images_per_s']:.0f} images/s")
        self.results["b_moto"] = out
        m.stop()

    def scenario_c(self):
        p = self.p
        s = self.kiln("c")
        s.start()
        api = s.api()
        shapes = {
            "small": ({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}},
                      [cloud_disk(20, d) for d in ("vdb", "vdc", "vdd")]),
            "large": ({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 500}},
                      [cloud_disk(2050, d) for d in ("vdb", "vdc", "vdd")]),
        }
        inst = {}
        for k, (sysd, data) in shapes.items():
            inst[k] = self.create_instances(api, 1, sysd, data, name=f"bench-c-{k}")[0]
        out = []
        log(f"C: time to ready, {p['c_write_mib']} MiB written into each of 4 disks "
            "(system 40 GiB + 3 × 20 GiB  vs  system 500 GiB + 3 × 2050 GiB)")
        for r in range(p["runs"]):
            for k in ("small", "large"):
                paths = [self.disk_path(s, inst[k], d) for d in ("vda", "vdb", "vdc", "vdd")]
                for path in paths:
                    self.write_guest_data(path, p["c_write_mib"], 0x40 + r)
                sh(["sync"])
                f1 = os.path.join(self.work, f"c-{k}.txt")
                open(f1, "w").write(inst[k] + "\n")
                res = self.loadgen(s, "create-images", "--instances", f1, "--concurrency", "1",
                                   "--total", "1", "--poll-ms", "1", "--name-prefix", f"c{k}{r}")
                res["run"], res["shape"] = r, k
                res["virtual_gib"] = sum(json.loads(sh(["qemu-img", "info", "-U", "--output=json", x]))
                                         ["virtual-size"] for x in paths) / GIB
                out.append(res)
                log(f"  run {r} {k}: accepted {res['accepted'].get('p50_ms', 0):.2f} ms, "
                    f"ready {res['ready'].get('p50_ms', 0):.2f} ms ({res['virtual_gib']:.0f} GiB virtual)")
        self.results["c"] = out
        s.stop()
        self.discard(s.data_dir)

    def scenario_d(self):
        p = self.p
        s = self.kiln("d")
        s.start()
        api = s.api()
        inst = self.create_instances(api, 1, {"diskCategory": "local"}, name="bench-d")[0]
        api.request("POST", f"/instances/{inst}:stopInstance", body={})
        api.wait_instances([inst], "stopped")
        f1 = os.path.join(self.work, "d-instance.txt")
        open(f1, "w").write(inst + "\n")
        out = []
        log(f"D: localDisk image (full copy) vs qemu-img convert of the same chain, "
            f"{p['d_write_mib']} MiB of guest data")
        # Pairs rather than runs: each pair is a few seconds, and the copy times swing with
        # the machine's write-back, so more pairs (judged by the median of their ratios).
        for r in range(p.get("d_pairs", p["runs"])):
            top = self.disk_path(s, inst, "vda")
            self.write_guest_data(top, p["d_write_mib"], 0x60 + r)
            sh(["sync"])
            chain_alloc = self.allocated_data(top)
            dst = os.path.join(self.work, f"d-convert-{r}.qcow2")

            def convert():
                # The same data: the instance's current top over its chain (after the
                # image, an empty overlay on the frozen layer).
                src = self.disk_path(s, inst, "vda")
                sh(["sync"])
                t0 = time.perf_counter()
                sh(self.pin.server() + ["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2",
                                        src, dst])
                took = time.perf_counter() - t0
                stored = os.stat(dst).st_blocks * 512
                os.remove(dst)
                return took, stored

            def kiln_copy():
                sh(["sync"])
                return self.loadgen(s, "create-images", "--instances", f1, "--concurrency", "1",
                                    "--total", "1", "--poll-ms", "1", "--name-prefix", f"d{r}",
                                    "--ids-out", os.path.join(self.work, "d-image.txt"))

            # Each starts with nothing dirty in the page cache (sync), and they take turns
            # going first, so neither pays for the other's write-back.
            if r % 2 == 0:
                res = kiln_copy()
                t_conv, conv_stored = convert()
            else:
                t_conv, conv_stored = convert()
                res = kiln_copy()
            image_id = open(os.path.join(self.work, "d-image.txt")).read().split()[0]
            layer = os.path.join(s.data_dir, "layers", f"lyr-{image_id}.qcow2")
            kiln_stored = os.stat(layer).st_blocks * 512
            top = self.disk_path(s, inst, "vda")
            t_kiln = res["ready"].get("p50_ms", 0) / 1000
            row = {"run": r, "chain_allocated": chain_alloc, "kiln_ready_s": t_kiln,
                   "kiln_accepted_ms": res["accepted"].get("p50_ms"),
                   "convert_s": t_conv, "kiln_stored": kiln_stored, "convert_stored": conv_stored,
                   "kiln_mib_s": chain_alloc / (1 << 20) / t_kiln if t_kiln else None,
                   "convert_mib_s": chain_alloc / (1 << 20) / t_conv,
                   "chain_depth": self.chain_depth(top), "errors": res.get("errors")}
            out.append(row)
            log(f"  run {r}: kiln {t_kiln:.3f}s ({row['kiln_mib_s'] or 0:.0f} MiB/s), qemu-img convert "
                f"{t_conv:.3f}s ({row['convert_mib_s']:.0f} MiB/s); stored {kiln_stored / (1 << 20):.0f} MiB "
                f"vs allocated {chain_alloc / (1 << 20):.0f} MiB")
        self.results["d"] = out
        s.stop()
        self.discard(s.data_dir)

    # ---- F: one SQLite node, one PostgreSQL node, two PostgreSQL nodes

    def pg_admin_url(self):
        # The same convention as the test suite and scripts/cluster-test.
        return os.environ.get("KILN_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")

    def pg_create(self, name):
        admin = self.pg_admin_url()
        sh(["psql", admin, "-v", "ON_ERROR_STOP=1", "-qAtc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
        sh(["psql", admin, "-v", "ON_ERROR_STOP=1", "-qAtc", f"CREATE DATABASE {name}"])
        return admin.rsplit("/", 1)[0] + "/" + name

    def pg_drop(self, name):
        try:
            sh(["psql", self.pg_admin_url(), "-qAtc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
        except subprocess.CalledProcessError as e:
            log(f"F: !! could not drop database {name}: {e.stderr.strip()}")

    def pg_version(self):
        return try_sh(["psql", self.pg_admin_url(), "-qAtc", "SHOW server_version"])

    def loadgen_nodes(self, nodes, *args):
        """kiln-loadgen against several nodes: client connection i goes to node i % n.
        server CPU is the sum over the nodes' processes."""
        cmd = self.pin.client() + [self.a.loadgen, *args, "--addr", ",".join(n.addr for n in nodes),
                                   "--ak", nodes[0].AK, "--sk", nodes[0].sk, "--region", REGION]
        pids = [n.proc.pid for n in nodes]
        c0, t0 = sum(cpu_seconds(x) for x in pids), time.perf_counter()
        o0 = core_busy(self.a.server_cpu)
        out = sh(cmd)
        c1, t1 = sum(cpu_seconds(x) for x in pids), time.perf_counter()
        o1 = core_busy(self.a.server_cpu)
        r = json.loads(out)
        r["server_cpu_pct"] = (c1 - c0) / (t1 - t0) * 100
        r["other_cpu_pct"] = max(0.0, (o1 - o0) - (c1 - c0)) / (t1 - t0) * 100
        if r.get("errors") or r.get("failed_images"):
            log(f"  !! errors: {r.get('errors')} failed: {r.get('failed_images')} first: {r.get('first_error')}")
        return r

    F_SETUPS = (("sqlite", "1 SQLite node", False, 1),
                ("pg1", "1 PostgreSQL node", True, 1),
                ("pg2", "2 PostgreSQL nodes", True, 2))

    def scenario_f(self):
        p = self.p
        runs = self.a.runs or p["f_runs"]
        self.results["f_meta"] = {
            "mode": self.a.mode, "runs": runs, "images": p["f_images"],
            "a_duration": p["f_a_duration"], "a_warmup": p["f_a_warmup"],
            "b_duration": p["f_b_duration"], "b_clients": p["f_b_clients"],
            "populate_clients": p["f_populate_clients"], "postgres": self.pg_version(),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        rows = []
        t_start = time.perf_counter()
        for key, label, pg, n_nodes in self.F_SETUPS:
            db = f"kiln_bench_{os.getpid()}_{key}" if pg else None
            url = self.pg_create(db) if pg else None
            data_dir = os.path.join(self.work, f"f-{key}")
            nodes = [KilnServer(self.a.kiln, data_dir, self.pin, self.sk, database=url,
                                log_name=f"f-{key}-node{i}") for i in range(n_nodes)]
            self.servers += nodes
            try:
                for nd in nodes:
                    nd.start()
                log(f"F [{label}]: {n_nodes} node(s) on {', '.join(nd.addr for nd in nodes)}"
                    + (f", database {db}" if db else ""))
                api = nodes[0].api()
                pop_inst = self.create_instances(api, p["f_populate_clients"], {"diskCategory": "cloud"},
                                                 name="bench-f-pop")
                pop_file = os.path.join(self.work, f"f-{key}-pop-instances.txt")
                open(pop_file, "w").write("\n".join(pop_inst) + "\n")
                data = [cloud_disk(20, d) for d in ("vdb", "vdc", "vdd")]
                b_inst = self.create_instances(api, p["f_b_clients"], {"diskCategory": "cloud"}, data,
                                               name="bench-f-b")
                b_file = os.path.join(self.work, f"f-{key}-b-instances.txt")
                open(b_file, "w").write("\n".join(b_inst) + "\n")
                api.close()
                ids_file = os.path.join(self.work, f"f-{key}-images.txt")
                pop = self.loadgen_nodes(nodes, "create-images", "--instances", pop_file,
                                         "--concurrency", str(p["f_populate_clients"]), "--total",
                                         str(p["f_images"]), "--poll-ms", "5", "--name-prefix", "fpop",
                                         "--ids-out", ids_file, "--timeout", "300")
                n_ids = sum(1 for line in open(ids_file) if line.strip())
                log(f"F [{label}]: populated {n_ids} images in {pop['elapsed_s']:.1f}s "
                    f"({pop['images_per_s']:.0f}/s)")
                rows.append(dict(pop, setup=key, nodes=n_nodes, kind="populate", images=n_ids))
                pages = max(1, n_ids // 100)
                for r in range(runs):
                    for op, extra in (("image", ["--ids", ids_file]), ("images", ["--pages", str(pages)])):
                        for c in (1, 8):
                            res = self.loadgen_nodes(nodes, "describe", "--op", op, "--concurrency", str(c),
                                                     "--duration", str(p["f_a_duration"]),
                                                     "--warmup", str(p["f_a_warmup"]), *extra)
                            res.update(setup=key, nodes=n_nodes, kind="a", run=r)
                            rows.append(res)
                            log(f"  F [{key}] run {r} {op:6s} c={c}: {res['ops_per_s']:8.0f} ops/s "
                                f"p50 {res['latency'].get('p50_ms', 0):.3f} ms cpu {res['server_cpu_pct']:.0f}%")
                    for c, poll in ((1, 2), (p["f_b_clients"], 5)):
                        res = self.loadgen_nodes(nodes, "create-images", "--instances", b_file,
                                                 "--concurrency", str(c), "--duration", str(p["f_b_duration"]),
                                                 "--poll-ms", str(poll), "--name-prefix", f"f{r}",
                                                 "--timeout", "120")
                        res.update(setup=key, nodes=n_nodes, kind="b", run=r)
                        rows.append(res)
                        log(f"  F [{key}] run {r} createImage c={c}: {res['images_per_s']:.0f} images/s, "
                            f"accepted p50 {res['accepted'].get('p50_ms', 0):.2f} ms cpu {res['server_cpu_pct']:.0f}%")
            finally:
                for nd in nodes:
                    nd.stop()
                if db:
                    self.pg_drop(db)
                self.discard(data_dir)
        self.results["f"] = rows
        self.results["f_meta"]["runtime_s"] = time.perf_counter() - t_start

    # ---- G: copyImages against qemu-img convert of the same chains

    def image_layers(self, server, image_id):
        """The layer files of the snapshots an image was made with (createImage, copyImages,
        importImage record them in the data directory's SQLite database)."""
        db = sqlite3.connect(f"file:{os.path.join(server.data_dir, 'kiln.db')}?mode=ro", uri=True,
                             timeout=30)
        try:
            rows = db.execute("SELECT layer_id FROM snapshots WHERE made_for_image = ? "
                              "AND layer_id IS NOT NULL ORDER BY id", (image_id,)).fetchall()
        finally:
            db.close()
        return [os.path.join(server.data_dir, "layers", f"{r[0]}.qcow2") for r in rows]

    def convert_chains(self, layers, out_prefix):
        """`qemu-img convert -O qcow2` of each chain in turn on the server core (what
        Kiln runs for the same work): (seconds, bytes stored, CPU seconds of qemu-img)."""
        sh(["sync"])
        u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        outs = []
        for i, src in enumerate(layers):
            dst = f"{out_prefix}-{i}.qcow2"
            sh(self.pin.server() + ["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2", src, dst])
            outs.append(dst)
        took = time.perf_counter() - t0
        u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        stored = sum(os.stat(x).st_blocks * 512 for x in outs)
        for x in outs:
            os.remove(x)
        cpu = (u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime)
        return took, stored, cpu

    def timed_kiln(self, server, start, done, poll):
        """Times one asynchronous Kiln call: `start()` sends it (the clock runs from just
        before) and returns what `done(x)` polls every `poll` s until it is true. The
        server's CPU time (its threads and the qemu-img processes it ran) and other
        processes' CPU time on the server core over the same interval; the server's own
        threads' part of its CPU time is left in self.last_own_cpu."""
        sh(["sync"])
        pid = server.proc.pid
        c0, o0, s0 = cpu_seconds(pid), core_busy(self.a.server_cpu), own_cpu_seconds(pid)
        t0 = time.perf_counter()
        x = start()
        while not done(x):
            if time.perf_counter() - t0 > 3600:
                raise TimeoutError("no end in an hour")
            time.sleep(poll)
        took = time.perf_counter() - t0
        c1, o1, s1 = cpu_seconds(pid), core_busy(self.a.server_cpu), own_cpu_seconds(pid)
        self.last_own_cpu = s1 - s0
        return x, took, c1 - c0, max(0.0, (o1 - o0) - (c1 - c0)) / took * 100

    def delete_image(self, api, server, image_id):
        """Deletes an image with its snapshots and waits (up to a minute, untimed) until its
        layer files are gone, so that a long run does not fill the disk (G makes a 2 GiB
        copy per pair) and the collection does not overlap the next timed call."""
        files = self.image_layers(server, image_id)
        api.request("DELETE", f"/images/{image_id}", {"deleteSnapshot": "true"})
        deadline = time.time() + 60
        while any(os.path.exists(x) for x in files):
            if time.time() > deadline:
                log(f"  !! layers of {image_id} still there after 60 s")
                return
            time.sleep(0.05)

    def scenario_g(self):
        p = self.p
        s = self.kiln("g")
        s.start()
        api = s.api()
        dest_region = "cn-east-2"
        dest_api = s.api(region=dest_region)
        sysd = {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}}
        inst = self.create_instances(api, 1, sysd, [cloud_disk(20, "vdb")], name="bench-g")[0]
        mib = p["g_write_mib"]
        log(f"G: copyImages vs qemu-img convert, {mib} MiB of guest data in each of 2 disks")
        for dev, byte in (("vda", 0x71), ("vdb", 0x72)):
            self.write_guest_data(self.disk_path(s, inst, dev), mib, byte)
        img = api.request("POST", f"/instances/{inst}:createImage", body={"name": "bench-g-src"})["imageId"]
        if api.wait_image(img, timeout=1800, interval=0.01) != "ready":
            raise RuntimeError(f"G: source image {img} in error")
        layers = self.image_layers(s, img)
        chain_alloc = sum(self.allocated_data(x) for x in layers)
        depth = [self.chain_depth(x) for x in layers]
        meta = {"mode": self.a.mode, "write_mib_per_disk": mib, "disks": len(layers),
                "chain_allocated": chain_alloc, "chain_depths": depth,
                "virtual_gib": sum(json.loads(sh(["qemu-img", "info", "-U", "--output=json", x]))
                                   ["virtual-size"] for x in layers) / GIB,
                "poll_ms": 10, **binary_id(self.a),
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self.results["g_meta"] = meta
        # One untimed convert first, so that neither side of the first pair pays for a first
        # read of the source (or anything else a first run meets).
        self.convert_chains(layers, os.path.join(self.work, "g-warmup"))
        out = []
        t_start = time.perf_counter()
        for r in range(p["g_pairs"]):
            def kiln_copy():
                def start():
                    res = api.request("POST", "/images:copyImages", body={
                        "sourceImageIds": [img], "destinationRegion": dest_region, "name": f"bench-g-{r}"})
                    return res["copyImages"][0]["destinationImageId"]

                def done(copy):
                    st = dest_api.request("GET", f"/images/{copy}")["image"]["status"]
                    if st == "error":
                        raise RuntimeError(f"G: copy {copy} in error")
                    return st == "ready"
                copy, took, cpu, other = self.timed_kiln(s, start, done, 0.01)
                own = self.last_own_cpu
                stored = sum(os.stat(x).st_blocks * 512 for x in self.image_layers(s, copy))
                # Its output goes at once, as qemu-img's does: the next timed call then starts
                # from the same state whichever side it is (on this VM, writing into page
                # cache just freed is far cheaper than into fresh memory).
                self.delete_image(dest_api, s, copy)
                return took, cpu, other, own, stored

            def convert():
                return self.convert_chains(layers, os.path.join(self.work, f"g-convert-{r}"))

            # Alternating which goes first; each starts with nothing dirty (sync).
            if r % 2 == 0:
                t_kiln, cpu_kiln, other, own, kiln_stored = kiln_copy()
                t_conv, conv_stored, cpu_conv = convert()
            else:
                t_conv, conv_stored, cpu_conv = convert()
                t_kiln, cpu_kiln, other, own, kiln_stored = kiln_copy()
            row = {"run": r, "first": "kiln" if r % 2 == 0 else "qemu-img",
                   "chain_allocated": chain_alloc, "kiln_ready_s": t_kiln, "convert_s": t_conv,
                   "kiln_mib_s": chain_alloc / (1 << 20) / t_kiln,
                   "convert_mib_s": chain_alloc / (1 << 20) / t_conv,
                   "kiln_cpu_s": cpu_kiln, "kiln_own_cpu_s": own, "convert_cpu_s": cpu_conv,
                   "other_cpu_pct": other,
                   "kiln_stored": kiln_stored, "convert_stored": conv_stored}
            row["ratio"] = row["kiln_mib_s"] / row["convert_mib_s"]
            out.append(row)
            log(f"  pair {r}: copyImages {t_kiln:.3f}s ({row['kiln_mib_s']:.0f} MiB/s, CPU {cpu_kiln:.2f}s), "
                f"qemu-img convert {t_conv:.3f}s ({row['convert_mib_s']:.0f} MiB/s, CPU {cpu_conv:.2f}s): "
                f"ratio {row['ratio']:.2f}; other load {other:.0f}%")
        meta["runtime_s"] = time.perf_counter() - t_start
        self.results["g"] = out
        api.close()
        dest_api.close()
        s.stop()
        self.discard(s.data_dir)

    # ---- H: exportImage / importImage through a local S3 server (moto)

    H_BUCKET = "kiln-bench"
    # boto3's default (ranged, threaded) download is timed only up to this object size.
    H_RANGED_MAX = 256 << 20
    H_KEYS = ("bench", "bench-secret")

    def s3_helper(self, moto, op, key, path, shape="default"):
        """boto3's upload_file / download_file in a process of its own on the server core,
        timed from the first byte's request (client made and connected before the clock);
        a download is then fsynced, timed apart. Adds moto's CPU seconds over the call."""
        cmd = self.pin.server() + [os.path.join(self.a.venv_bin, "python"), "-c", S3_HELPER, op,
                                   moto.endpoint, self.H_BUCKET, key, path, *self.H_KEYS, shape]
        c0 = cpu_seconds(moto.proc.pid)
        out = json.loads(sh(cmd))
        out["moto_cpu_s"] = cpu_seconds(moto.proc.pid) - c0
        return out

    def scenario_h(self):
        import boto3  # moto's dependency, in .venv-bench

        p = self.p
        m = MotoServer(self.a.venv_bin, self.pin, self.work, on_client_core=True)
        self.servers.append(m)
        m.start()
        s3 = boto3.client("s3", endpoint_url=m.endpoint, region_name="us-east-1",
                          aws_access_key_id=self.H_KEYS[0], aws_secret_access_key=self.H_KEYS[1])
        s3.create_bucket(Bucket=self.H_BUCKET)
        s = KilnServer(self.a.kiln, os.path.join(self.work, "h"), self.pin, self.sk, extra_args=[
            "--oss-endpoint", m.endpoint, "--oss-access-key", self.H_KEYS[0],
            "--oss-secret-key", self.H_KEYS[1]])
        self.servers.append(s)
        s.start()
        api = s.api()
        sysd = {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}}
        inst = self.create_instances(api, 1, sysd, name="bench-h")[0]
        mib = p["h_write_mib"]
        log(f"H: exportImage / importImage through moto's S3, {mib} MiB of guest data in a "
            "40 GiB system disk")
        self.write_guest_data(self.disk_path(s, inst, "vda"), mib, 0x5a)
        img = api.request("POST", f"/instances/{inst}:createImage", body={"name": "bench-h-src"})["imageId"]
        if api.wait_image(img, timeout=1800, interval=0.01) != "ready":
            raise RuntimeError(f"H: source image {img} in error")
        layers = self.image_layers(s, img)
        bucket_url = f"https://{self.H_BUCKET}.s3.{REGION}.jdcloud-oss.com"
        meta = {"mode": self.a.mode, "write_mib": mib, "chain_allocated": self.allocated_data(layers[0]),
                "chain_depth": self.chain_depth(layers[0]), "poll_ms": 20, "rss_every_ms": 100,
                "moto": "client core" if self.pin.enabled else "unpinned", **binary_id(self.a),
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self.results["h_meta"] = meta
        t_start = time.perf_counter()
        out = []
        for r in range(p["h_runs"]):
            row = {"run": r, "first": "kiln" if r % 2 == 0 else "baseline"}

            def task_done(task):
                t = api.request("GET", "/imageTasks", [("taskIds.1", task)])["taskSet"][0]
                if t["taskStatus"] == "failed":
                    raise RuntimeError(f"H: export failed: {t}")
                if t["taskStatus"] == "finished":
                    row["object"] = json.loads(t["ossObjects"]) if isinstance(t["ossObjects"], str) \
                        else t["ossObjects"]
                    return True
                return False

            def kiln_export():
                pid = s.proc.pid
                rss_before = proc_status(pid).get("VmRSS")
                reset = reset_peak_rss(pid)
                sampler = RssSampler(pid).begin()
                body = {"roleName": "bench", "ossUrl": bucket_url, "ossPrefix": f"h{r}x",
                        "isAllDisk": False}
                m0 = cpu_seconds(m.proc.pid)
                try:
                    _, took, cpu, other = self.timed_kiln(
                        s, lambda: api.request("POST", f"/images/{img}:exportImage", body=body)["taskId"],
                        task_done, 0.02)
                finally:
                    peak, n = sampler.end()
                key = row["object"][0]
                size = s3.head_object(Bucket=self.H_BUCKET, Key=key)["ContentLength"]
                row.update(export_s=took, export_cpu_s=cpu, export_other_cpu_pct=other,
                           export_own_cpu_s=self.last_own_cpu,
                           export_moto_cpu_s=cpu_seconds(m.proc.pid) - m0,
                           object_key=key, object_bytes=size, rss_before=rss_before,
                           rss_peak_sampled=peak, rss_samples=n,
                           rss_hwm=proc_status(pid).get("VmHWM") if reset else None)

            def baseline_export():
                f1 = os.path.join(self.work, f"h-base-{r}.qcow2")
                sh(["sync"])
                t0 = time.perf_counter()
                sh(self.pin.server() + ["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2",
                                        layers[0], f1])
                row["base_convert_s"] = time.perf_counter() - t0
                # The same file up twice: boto3's default transfer, and Kiln's shape (one
                # thread, 16 MiB parts), in turns.
                for shape in (("default", "serial") if r % 2 == 0 else ("serial", "default")):
                    sh(["sync"])
                    up = self.s3_helper(m, "upload", f"h-base-{r}-{shape}.qcow2", f1, shape)
                    sfx = "" if shape == "default" else "_serial"
                    row[f"base_upload{sfx}_s"] = up["seconds"]
                    row[f"base_upload{sfx}_moto_cpu_s"] = up["moto_cpu_s"]
                    row["base_upload_bytes"] = up["bytes"]
                os.remove(f1)

            def kiln_import():
                pid = s.proc.pid
                reset = reset_peak_rss(pid)
                sampler = RssSampler(pid).begin()
                body = {"architecture": "x86_64", "osType": "linux", "platform": "Ubuntu",
                        "diskFormat": "qcow2", "systemDiskSizeGB": 40, "imageName": f"bench-h-{r}",
                        "imageUrl": f"{bucket_url}/{row['object_key']}"}

                def ready(image):
                    st = api.request("GET", f"/images/{image}")["image"]["status"]
                    if st == "error":
                        raise RuntimeError(f"H: imported image {image} in error")
                    return st == "ready"
                m0 = cpu_seconds(m.proc.pid)
                try:
                    image, took, cpu, other = self.timed_kiln(
                        s, lambda: api.request("POST", "/images:import", body=body)["imageId"], ready, 0.02)
                finally:
                    peak, _ = sampler.end()
                row.update(import_s=took, import_cpu_s=cpu, import_other_cpu_pct=other,
                           import_own_cpu_s=self.last_own_cpu,
                           import_moto_cpu_s=cpu_seconds(m.proc.pid) - m0,
                           import_rss_peak_sampled=peak,
                           import_rss_hwm=proc_status(pid).get("VmHWM") if reset else None,
                           imported_allocated=self.allocated_data(self.image_layers(s, image)[0]))
                # Gone at once, as the baseline's converted file is.
                self.delete_image(api, s, image)

            def baseline_import():
                # The same work as Kiln's import: one GET, fsync, convert. boto3's default
                # download_file (8 MiB ranged GETs, 10 threads) is timed alone, and only on
                # small objects: moto answers each ranged GET by reading the whole object, so
                # a 2 GiB object took 386 s that way (5 MiB/s), a figure about moto alone.
                f2 = os.path.join(self.work, f"h-down-{r}.qcow2")
                ranged = row["object_bytes"] <= self.H_RANGED_MAX
                for shape in (("serial", "default") if r % 2 == 0 else ("default", "serial")):
                    if shape == "default" and not ranged:
                        continue
                    sh(["sync"])
                    down = self.s3_helper(m, "download", row["object_key"], f2, shape)
                    if shape == "default":
                        row.update(base_download_s=down["seconds"],
                                   base_download_moto_cpu_s=down["moto_cpu_s"])
                        os.remove(f2)
                        continue
                    t0 = time.perf_counter()
                    sh(self.pin.server() + ["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2",
                                            f2, f2 + ".layer"])
                    row.update(base_download_serial_s=down["seconds"], base_fsync_s=down["fsync_seconds"],
                               base_download_serial_moto_cpu_s=down["moto_cpu_s"],
                               base_import_convert_s=time.perf_counter() - t0)
                    os.remove(f2)
                    os.remove(f2 + ".layer")

            if r % 2 == 0:
                kiln_export()
                baseline_export()
                kiln_import()
                baseline_import()
            else:
                baseline_export()
                kiln_export()
                baseline_import()
                kiln_import()
            mb = row["object_bytes"] / (1 << 20)
            row["export_mib_s"] = mb / row["export_s"]
            row["base_export_s"] = row["base_convert_s"] + row["base_upload_s"]
            row["base_export_mib_s"] = mb / row["base_export_s"]
            row["base_upload_mib_s"] = mb / row["base_upload_s"]
            row["import_mib_s"] = mb / row["import_s"]
            row["base_import_s"] = (row["base_download_serial_s"] + row["base_fsync_s"]
                                    + row["base_import_convert_s"])
            row["base_import_mib_s"] = mb / row["base_import_s"]
            row["base_download_mib_s"] = mb / row["base_download_s"] if row.get("base_download_s") else None
            row["base_upload_serial_mib_s"] = mb / row["base_upload_serial_s"]
            row["base_download_serial_mib_s"] = mb / row["base_download_serial_s"]
            out.append(row)
            log(f"  run {r}: export {row['export_s']:.2f}s ({row['export_mib_s']:.0f} MiB/s) vs convert+upload "
                f"{row['base_export_s']:.2f}s ({row['base_export_mib_s']:.0f} MiB/s; upload alone "
                f"{row['base_upload_mib_s']:.0f}, serial {row['base_upload_serial_mib_s']:.0f}); "
                f"import {row['import_s']:.2f}s ({row['import_mib_s']:.0f} MiB/s) "
                f"vs download+fsync+convert {row['base_import_s']:.2f}s ({row['base_import_mib_s']:.0f} MiB/s; "
                f"ranged download_file alone {f(row['base_download_mib_s'], 0)}, one GET "
                f"{row['base_download_serial_mib_s']:.0f}); moto CPU export/upload/serial "
                f"{row['export_moto_cpu_s'] / row['export_s'] * 100:.0f}/"
                f"{row['base_upload_moto_cpu_s'] / row['base_upload_s'] * 100:.0f}/"
                f"{row['base_upload_serial_moto_cpu_s'] / row['base_upload_serial_s'] * 100:.0f}%; RSS {row['rss_before'] / (1 << 20):.1f} MiB "
                f"before, peak {row['rss_peak_sampled'] / (1 << 20):.1f} MiB during the export "
                f"({row['rss_samples']} samples)")
            for key in (row["object_key"], f"h-base-{r}-default.qcow2", f"h-base-{r}-serial.qcow2"):
                s3.delete_object(Bucket=self.H_BUCKET, Key=key)
        meta["runtime_s"] = time.perf_counter() - t_start
        self.results["h"] = out
        api.close()
        s.stop()
        m.stop()
        self.discard(s.data_dir)

    # ---- I: guests under QEMU (TCG): boot, stop/start, createImage of a writing guest

    # The guest's writer: a small file written and synced on vda, then on vdb, then the
    # guest's uptime appended to /run/ticks (tmpfs: never frozen), for ever.
    I_WRITER = ("cat > /root/w.sh <<'EOF'\n"
                "while :; do echo x > /root/w; sync; echo x > /mnt/vdb/w; sync; "
                "cut -d' ' -f1 /proc/uptime >> /run/ticks; done\nEOF\n"
                "rm -f /run/ticks; setsid sh /root/w.sh >/dev/null 2>&1 </dev/null &")
    I_MOUNT_VDB = "mkfs.ext4 -q /dev/vdb && mkdir -p /mnt/vdb && mount /dev/vdb /mnt/vdb"
    I_QEMU = "qemu-system-x86_64"

    def guest_kit(self):
        """The Kiln Linux kit in the repository's target/kiln-linux, built if missing."""
        kit = os.path.join(self.a.repo, "target", "kiln-linux")
        if not all(os.path.isfile(os.path.join(kit, f)) for f in
                   ("vmlinuz", "initrd.img", "rootfs.qcow2", "cmdline")):
            log(f"I: building the Kiln Linux kit in {kit}")
            sh([os.path.join(self.a.repo, "scripts", "build-kiln-linux"), kit])
        return kit

    @staticmethod
    def kill_guests(pid_files):
        """Kills the (daemonized) QEMU of each pid file that still names a QEMU process."""
        for pf in pid_files:
            try:
                pid = int(open(pf).read().strip())
                if b"qemu-system" not in open(f"/proc/{pid}/cmdline", "rb").read():
                    continue
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                continue
            for _ in range(100):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.02)

    def guest_exec(self, api, inst, command, timeout=60):
        """Kiln's exec endpoint: `/bin/sh -c command` in the instance's guest."""
        return api.request("POST", f"/kiln/v1/regions/{REGION}/instances/{inst}/exec",
                           body={"command": command, "timeoutSeconds": timeout})

    def guest_sh(self, api, inst, command, timeout=60):
        r = self.guest_exec(api, inst, command, timeout)
        if r.get("exitCode") != 0:
            raise RuntimeError(f"I: `{command[:60]}` in {inst} exited {r.get('exitCode')} "
                               f"(signal {r.get('signal')}): {(r.get('stderr') or '')[:300]}")
        return r.get("stdout") or ""

    @staticmethod
    def wait_instance(api, inst, status, t0, timeout=180, poll=0.02):
        """Seconds from t0 until describeInstance says `status` (polled every `poll` s)."""
        while True:
            st = api.request("GET", f"/instances/{inst}")["instance"]["status"]
            if st == status:
                return time.perf_counter() - t0
            if st == "error":
                raise RuntimeError(f"I: instance {inst} in error (waiting for {status})")
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"I: instance {inst} still {st} after {timeout} s")
            time.sleep(poll)

    @staticmethod
    def guest_clock(read):
        """`read()` returns the guest's /proc/uptime (s): (uptime, host time before, host
        time after), so that the guest's clock at host time t lies in
        [uptime + t − after, uptime + t − before]."""
        h0 = time.perf_counter()
        up = float(read().split()[0])
        return up, h0, time.perf_counter()

    @staticmethod
    def tick_gaps(ticks, lo, hi):
        """Gaps (ms) between consecutive writer ticks (guest uptimes): the largest of those
        that overlap the window [lo, hi], the median of those entirely outside it."""
        inside, outside = [], []
        for x, y in zip(ticks, ticks[1:]):
            (inside if y >= lo and x <= hi else outside).append((y - x) * 1000)
        return {"max_gap_ms": max(inside) if inside else None,
                "median_gap_ms": med(outside), "gaps_in_window": len(inside),
                "gaps_outside": len(outside), "window_ms": (hi - lo) * 1000}

    @staticmethod
    def freeze_line(log_path, inst, timeout=5.0):
        """Kiln's `live freeze` log line for `inst`: (held_ms, disks, filesystems_frozen)."""
        import re
        pat = re.compile(r"live freeze.*instance=" + re.escape(inst) + r"\b.*?disks=(\d+).*?"
                         r"filesystems_frozen=(\d+).*?held_ms=([0-9.]+)")
        deadline = time.time() + timeout
        while True:
            text = re.sub(r"\x1b\[[0-9;]*m", "", open(log_path, errors="replace").read())
            m = [x for x in pat.finditer(text)]
            if m:
                return float(m[-1].group(3)), int(m[-1].group(1)), int(m[-1].group(2))
            if time.time() > deadline:
                return None, None, None
            time.sleep(0.05)

    def i_kiln_run(self, s, api, r, settle, row):
        """One run against Kiln: boot, (writer,) createImage, stop, start."""
        sysd = {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}}
        datad = {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}}
        t0 = time.perf_counter()
        inst = api.create_instances(1, f"bench-i-{r}", sysd, [datad], image="img-kiln-linux")[0]
        row["boot_s"] = self.wait_instance(api, inst, "running", t0)
        row["instance"] = inst
        exec_ok = True
        try:
            t = time.perf_counter()
            self.guest_sh(api, inst, "true")
            row["exec_true_ms"] = (time.perf_counter() - t) * 1000
        except ApiError as e:
            if e.status not in (404, 405):
                raise
            exec_ok = False
            row["exec"] = f"unavailable (HTTP {e.status})"
            log(f"  !! Kiln has no exec endpoint (HTTP {e.status}): no in-guest writer")
        if exec_ok:
            self.guest_sh(api, inst, self.I_MOUNT_VDB)
            self.guest_sh(api, inst, self.I_WRITER)
        time.sleep(settle)
        if exec_ok:
            up, h0, h1 = self.guest_clock(lambda: self.guest_sh(api, inst, "cat /proc/uptime"))
        tc = time.perf_counter()
        img = api.request("POST", f"/instances/{inst}:createImage", body={"name": f"bench-i-{r}"})["imageId"]
        row["accepted_ms"] = (time.perf_counter() - tc) * 1000
        if api.wait_image(img, timeout=600, interval=0.01) != "ready":
            raise RuntimeError(f"I: image {img} in error")
        tr = time.perf_counter()
        row["ready_s"] = tr - tc
        held, disks, fs = self.freeze_line(s.log_path, inst)
        row.update(held_ms=held, freeze_disks=disks, filesystems_frozen=fs)
        if exec_ok:
            time.sleep(settle)
            ticks = [float(x) for x in self.guest_sh(api, inst, "cat /run/ticks").split()]
            row["ticks"] = len(ticks)
            row.update(self.tick_gaps(ticks, up + tc - h1 - 0.01, up + tr - h0 + 0.01))
            row["clock_uncertainty_ms"] = (h1 - h0) * 1000
        t0 = time.perf_counter()
        api.request("POST", f"/instances/{inst}:stopInstance", body={})
        row["stop_s"] = self.wait_instance(api, inst, "stopped", t0)
        t0 = time.perf_counter()
        api.request("POST", f"/instances/{inst}:startInstance", body={})
        row["start_s"] = self.wait_instance(api, inst, "running", t0)
        api.request("DELETE", f"/instances/{inst}")
        log(f"  run {r} Kiln: boot→running {row['boot_s']:.2f}s, createImage accepted "
            f"{row['accepted_ms']:.0f} ms, ready {row['ready_s']:.2f}s, held {f(held, 1)} ms "
            f"({fs} filesystems, {disks} disks), guest max gap {f(row.get('max_gap_ms'), 0)} ms vs "
            f"median {f(row.get('median_gap_ms'), 0)} ms ({row.get('ticks')} ticks), stop "
            f"{row['stop_s']:.2f}s, start {row['start_s']:.2f}s")

    def i_bare_run(self, kit, d, r, settle, row):
        """One run of bare QEMU: the same kit and command line shape as Kiln's driver
        (launch.rs), boot to agent, then the writer, then guest-fsfreeze + one QMP
        transaction of blockdev-snapshot-sync (mode existing) for both disks + thaw."""
        os.makedirs(d, exist_ok=True)
        vda, vdb = os.path.join(d, "vda.qcow2"), os.path.join(d, "vdb.qcow2")
        sh(["qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.join(kit, "rootfs.qcow2"),
            "-F", "qcow2", vda, "40G"])
        sh(["qemu-img", "create", "-q", "-f", "qcow2", vdb, "20G"])
        cmdline = open(os.path.join(kit, "cmdline")).read().strip()
        argv = self.pin.server() + [
            self.I_QEMU, "-machine", "pc,accel=tcg", "-cpu", "max", "-m", "256", "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-name", f"kiln-bare-{r}",
            "-kernel", os.path.join(kit, "vmlinuz"), "-initrd", os.path.join(kit, "initrd.img"),
            "-append", cmdline]
        for dev, path, slot in (("vda", vda, 0x08), ("vdb", vdb, 0x09)):
            argv += ["-blockdev", f"driver=qcow2,node-name=bare-{dev},file.driver=file,file.filename={path}",
                     "-device", f"virtio-blk-pci,drive=bare-{dev},id={dev},addr={slot:#04x},serial=bare-{dev}"]
        argv += ["-chardev", f"socket,id=serial0,path={d}/console.sock,server=on,wait=off,"
                             f"logfile={d}/console.log,logappend=on",
                 "-serial", "chardev:serial0", "-device", "virtio-serial-pci,id=vser0",
                 "-chardev", f"socket,id=qga0,path={d}/qga.sock,server=on,wait=off",
                 "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
                 "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off",
                 "-pidfile", f"{d}/qemu.pid", "-daemonize"]
        t0 = time.perf_counter()
        with open(os.path.join(d, "qemu.log"), "w") as qlog:
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=qlog, stderr=qlog)
        agent = Qga(os.path.join(d, "qga.sock"), 120)
        agent.cmd("guest-ping")
        row["bare_boot_s"] = time.perf_counter() - t0
        try:
            agent.sh(self.I_MOUNT_VDB)
            agent.sh(self.I_WRITER)
            time.sleep(settle)
            overlays = {}
            for dev, path in (("vda", vda), ("vdb", vdb)):
                o = os.path.join(d, f"{dev}-o.qcow2")
                sh(["qemu-img", "create", "-q", "-f", "qcow2", "-b", path, "-F", "qcow2", o])
                overlays[dev] = o
            qmp = Qmp(os.path.join(d, "qmp.sock"))
            actions = [{"type": "blockdev-snapshot-sync", "data": {
                "node-name": f"bare-{dev}", "snapshot-file": o, "snapshot-node-name": f"bare-{dev}-o",
                "format": "qcow2", "mode": "existing"}} for dev, o in overlays.items()]
            up, h0, h1 = self.guest_clock(lambda: agent.sh("cat /proc/uptime"))
            tc = time.perf_counter()
            frozen = agent.cmd("guest-fsfreeze-freeze", timeout=30)
            try:
                qmp.cmd("transaction", actions=actions)
            finally:
                agent.cmd("guest-fsfreeze-thaw", timeout=30)
            tr = time.perf_counter()
            qmp.close()
            row.update(bare_held_ms=(tr - tc) * 1000, bare_filesystems_frozen=frozen)
            time.sleep(settle)
            ticks = [float(x) for x in agent.sh("cat /run/ticks").split()]
            g = self.tick_gaps(ticks, up + tc - h1 - 0.01, up + tr - h0 + 0.01)
            row.update({"bare_" + k: v for k, v in g.items()}, bare_ticks=len(ticks))
        finally:
            agent.close()
            self.kill_guests([os.path.join(d, "qemu.pid")])
        log(f"  run {r} bare QEMU: boot→agent {row['bare_boot_s']:.2f}s, freeze+transaction+thaw "
            f"{row['bare_held_ms']:.1f} ms ({row['bare_filesystems_frozen']} filesystems), guest max gap "
            f"{f(row.get('bare_max_gap_ms'), 0)} ms vs median {f(row.get('bare_median_gap_ms'), 0)} ms")

    def scenario_i(self):
        p = self.p
        if not shutil.which(self.I_QEMU):
            raise RuntimeError(f"I: {self.I_QEMU} is required (apt-get install qemu-system-x86)")
        kit = self.guest_kit()
        s = KilnServer(self.a.kiln, os.path.join(self.work, "i"), self.pin, self.sk, extra_args=[
            "--hypervisor", "qemu", "--accel", "tcg", "--guest-kit", kit])
        self.servers.append(s)
        runs, settle = p["i_runs"], p["i_settle_s"]
        log(f"I: guests under QEMU/TCG: {runs} run(s) of boot, createImage while the guest "
            "writes, stop, start; and bare QEMU with the same kit")
        manifest = {}
        try:
            manifest = json.load(open(os.path.join(kit, "manifest.json")))
        except (OSError, ValueError):
            pass
        meta = {"mode": self.a.mode, "runs": runs, "settle_s": settle, "accel": "tcg",
                "memory_mib": 256, "vcpus": 1, "kit": manifest, "poll_ms": 20,
                "qemu": (try_sh([self.I_QEMU, "--version"]).splitlines() or ["?"])[0],
                "dev_kvm": os.path.exists("/dev/kvm"), **binary_id(self.a),
                "loadavg_start": open("/proc/loadavg").read().split()[:3],
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self.results["i_meta"] = meta
        out = []
        t_start = time.perf_counter()
        bare_dirs = []
        try:
            s.start()
            api = s.api(timeout=120)
            for r in range(runs):
                row = {"run": r, "first": "kiln" if r % 2 == 0 else "bare"}
                bare = os.path.join(self.work, f"i-bare-{r}")
                bare_dirs.append(bare)
                if r % 2 == 0:
                    self.i_kiln_run(s, api, r, settle, row)
                    self.i_bare_run(kit, bare, r, settle, row)
                else:
                    self.i_bare_run(kit, bare, r, settle, row)
                    self.i_kiln_run(s, api, r, settle, row)
                row["boot_ratio"] = row["boot_s"] / row["bare_boot_s"]
                out.append(row)
            api.close()
        finally:
            s.stop()
            import glob
            self.kill_guests(glob.glob(os.path.join(s.data_dir, "guests", "*", "qemu.pid"))
                             + [os.path.join(d, "qemu.pid") for d in bare_dirs])
            meta["runtime_s"] = time.perf_counter() - t_start
            meta["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
            self.results["i"] = out
        self.discard(s.data_dir)

    @staticmethod
    def allocated_data(path):
        m = json.loads(sh(["qemu-img", "map", "-U", "--output=json", path]))
        return sum(e["length"] for e in m if e.get("data"))

    @staticmethod
    def chain_depth(path):
        info = json.loads(sh(["qemu-img", "info", "-U", "--backing-chain", "--output=json", path]))
        return len(info)

    def run(self):
        t0 = time.perf_counter()
        os.makedirs(self.work, exist_ok=True)
        only = self.a.only
        try:
            if not only:
                self.scenario_e_idle()
                self.scenario_a()
                self.scenario_a_moto()
                self.scenario_b()
                self.scenario_b_moto()
                self.scenario_c()
                self.scenario_d()
            if self.a.with_f or "F" in only:
                self.scenario_f()
            if not only or "G" in only:
                self.scenario_g()
            if not only or "H" in only:
                self.scenario_h()
            if not only or "I" in only:
                self.scenario_i()
        finally:
            for s in self.servers:
                s.stop()
        self.results["runtime_s"] = time.perf_counter() - t0
        self.results["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        return self.results


# --------------------------------------------------------------------------------------
# The report


def versions(a):
    def first_line(cmd):
        return try_sh(cmd).splitlines()[0] if try_sh(cmd) else "n/a"

    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    rev = try_sh(["git", "-C", a.repo, "rev-parse", "--short=12", "HEAD"])
    dirty = try_sh(["git", "-C", a.repo, "status", "--porcelain", "--", "src", "Cargo.toml",
                    "Cargo.lock", "migrations"])
    return {
        "cpu": cpu, "nproc": f"{try_sh(['nproc', '--all'])} (os.cpu_count {os.cpu_count()})",
        "mem_gib": mem / GIB,
        "kernel": platform.release(),
        "kiln_rev": rev + (" (+ uncommitted changes in src/Cargo)" if dirty else ""),
        "kiln_sha256": try_sh(["sha256sum", a.kiln]).split(" ")[0][:16],
        "rustc": first_line(["rustc", "--version"]),
        "qemu_img": first_line(["qemu-img", "--version"]),
        "python": platform.python_version(),
        "moto": try_sh([os.path.join(a.venv_bin, "python"), "-c", "import moto; print(moto.__version__)"]),
        "boto3": try_sh([os.path.join(a.venv_bin, "python"), "-c", "import boto3; print(boto3.__version__)"]),
        "taskset": "yes" if a.pin else "no (not found: servers and clients share all cores)",
    }


def f(x, nd=1):
    if x is None:
        return "–"
    if isinstance(x, float) and abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def fm(a, nd=1, scale=1.0):
    """median (min–max) of an aggregate."""
    if not a:
        return "–"
    return f"{f(a['median'] * scale, nd)} ({f(a['min'] * scale, nd)}–{f(a['max'] * scale, nd)})"


def pick(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def closed(rows, c):
    """B's closed-loop runs with `c` clients (older results have no `rate`)."""
    return pick(rows, concurrency=c, rate=None)


def open_loop(rows):
    """B's runs at a fixed offered rate."""
    return [r for r in rows if r.get("rate")]


def lat(rows, key, field):
    return agg([r[key].get(field) for r in rows if r[key].get("n")])


F_HEADING = "## F. One SQLite node, one PostgreSQL node, two PostgreSQL nodes"


def d_ratios(d):
    """Kiln / qemu-img convert throughput of each D pair (measured back to back)."""
    return [r["kiln_mib_s"] / r["convert_mib_s"] for r in d
            if r.get("kiln_mib_s") and r.get("convert_mib_s")]


def d_ratio(d):
    return med(d_ratios(d)) if d_ratios(d) else 0.0


def report_f(res, a):
    """Section F as markdown (self-contained, so that `--only F` can splice it into an
    existing report)."""
    rows, m = res.get("f") or [], res.get("f_meta") or {}
    L = []
    w = L.append
    w(F_HEADING + "\n")
    if not rows:
        w(f"Not run: {res.get('f_skipped', 'no figures')}.\n")
        return "\n".join(L) + "\n"
    rev = try_sh(["git", "-C", a.repo, "rev-parse", "--short=12", "HEAD"])
    quick = "" if m.get("mode") == "full" else f" — **{m.get('mode', '?').upper()} run: small counts, not for comparison**"
    w(f"Generated by `scripts/bench{'' if m.get('mode') == 'full' else ' --' + m.get('mode', '')}` "
      f"(also alone: `scripts/bench --only F`) on {m.get('started')}, kiln rev {rev}, "
      f"PostgreSQL {m.get('postgres') or '?'}{quick}. Every figure is the median of {m.get('runs')} runs "
      f"(min–max in parentheses); ratios are medians over the median of the single SQLite node. "
      f"Section run time {m.get('runtime_s', 0) / 60:.1f} min.\n")
    pops = {r["setup"]: r for r in rows if r.get("kind") == "populate"}
    n_img = min((r.get("images", 0) for r in pops.values()), default=0)
    w(f"- **Smaller data set than A**: {n_img:,} private images (A uses {PROFILES['full']['images']:,}), "
      f"made through the API with createImage ({m.get('populate_clients')} clients, one-disk instances); "
      f"no 1,000-instance set (describeInstances is not measured here). "
      f"A runs: {m.get('a_warmup')} s warm-up + {m.get('a_duration')} s measured; B runs: "
      f"{m.get('b_duration')} s, {m.get('b_clients')} instances with a system disk + three data disks, "
      "as in B.")
    w("- Set-ups: (1) `kiln serve` with SQLite in its data directory; (2) `kiln serve --database "
      "postgres://127.0.0.1:5432/<fresh database>`; (3) two `kiln serve` processes on different ports with "
      "the same `--database` and the same `--data-dir`. A fresh data directory and a fresh database "
      "(created with `CREATE DATABASE`, dropped afterwards) per set-up.")
    w("- Clients are `bench/loadgen` with `--addr A,B`: client connection *i* goes to node *i* mod 2 "
      "(round-robin, as behind a load balancer), every request signed for the first node's host "
      "name. createImage's shared `ready` poller is one more connection (to node *C* mod 2).")
    w(f"- **Pinning**: every Kiln node runs on the server core (`taskset -c {a.server_cpu}`), so the two "
      "nodes share one core: set-up (3) measures the cost of spreading the work over two processes "
      "on one database, not the capacity that two machines would add. PostgreSQL runs unpinned "
      "(its CPU time is not in *server CPU*, which sums the Kiln nodes), so it competes with the "
      "clients and the nodes for this machine's cores.\n")

    def ag(setup, kind, key, **kw):
        sel = [r for r in rows if r.get("setup") == setup and r.get("kind") == kind
               and all(r.get(k) == v for k, v in kw.items())]
        if key == "accepted_p50":
            return agg([r["accepted"].get("p50_ms") for r in sel if r["accepted"].get("n")])
        return agg([r.get(key) for r in sel])

    setups = [s for s in Bench.F_SETUPS if any(r.get("setup") == s[0] for r in rows)]
    w("| scenario | clients | " + " | ".join(
        lab + ("" if k == "sqlite" else " | ratio") for k, lab, _, _ in setups) + " |")
    w("|---|---|" + "|".join("---" if k == "sqlite" else "---|---" for k, _, _, _ in setups) + "|")
    lines = [("A: describeImage by id, ops/s", "a", "ops_per_s", dict(op="image"), (1, 8), 0),
             ("A: describeImages page of 100, ops/s", "a", "ops_per_s", dict(op="images"), (1, 8), 0),
             ("B: createImage, images/s reaching ready", "b", "images_per_s", {}, (1, m.get("b_clients")), 0),
             ("B: createImage accepted p50 ms", "b", "accepted_p50", {}, (1, m.get("b_clients")), 2)]
    for lab, kind, key, kw, cs, nd in lines:
        for c in cs:
            base = ag("sqlite", kind, key, concurrency=c, **kw)
            cells = []
            for k, _, _, _ in setups:
                v = ag(k, kind, key, concurrency=c, **kw)
                cells.append(fm(v, nd))
                if k != "sqlite":
                    cells.append(f"{v['median'] / base['median']:.2f}×" if v and base and base["median"] else "–")
            w(f"| {lab} | {c} | " + " | ".join(cells) + " |")
    w("")
    w("Server CPU (sum over the Kiln nodes, median over all runs of the call): " + "; ".join(
        f"{lab}: A {f(med([r['server_cpu_pct'] for r in rows if r.get('setup') == k and r.get('kind') == 'a']), 0)}%, "
        f"B {f(med([r['server_cpu_pct'] for r in rows if r.get('setup') == k and r.get('kind') == 'b']), 0)}%"
        for k, lab, _, _ in setups) + ". Other load on the server core (CPU time of other processes "
      "there, e.g. PostgreSQL or anything else on this shared machine): " + "; ".join(
        f"{lab}: {f(med([r.get('other_cpu_pct') for r in rows if r.get('setup') == k and r.get('kind') in ('a', 'b')]), 0)}%"
        for k, lab, _, _ in setups) + ".")
    w("Populating the images (createImage → `ready`, once per set-up): " + "; ".join(
        f"{lab}: {pops[k]['images_per_s']:.0f} images/s" for k, lab, _, _ in setups if k in pops) + ".")
    errs = sum(r.get("errors", 0) + r.get("failed_images", 0) for r in rows)
    w(f"Errors (all set-ups, runs and populating): {errs}. Responses checked (first answer of each "
      f"client carries the asked image / a full page): "
      f"{all(r.get('validated') for r in rows if r.get('kind') == 'a')}.\n")
    w("<details><summary>F: every run</summary>\n")
    w("| set-up | run | call | clients | ops/s or images/s | p50 ms | p99 ms | errors | server CPU |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("kind") == "a":
            w(f"| {r['setup']} | {r['run']} | {r['op']} | {r['concurrency']} | {f(r['ops_per_s'], 0)} | "
              f"{f(r['latency'].get('p50_ms'), 3)} | {f(r['latency'].get('p99_ms'), 3)} | {r.get('errors', 0)} | "
              f"{f(r['server_cpu_pct'], 0)}% |")
        elif r.get("kind") == "b":
            w(f"| {r['setup']} | {r['run']} | createImage (accepted) | {r['concurrency']} | "
              f"{f(r['images_per_s'], 0)} | {f(r['accepted'].get('p50_ms'), 2)} | "
              f"{f(r['accepted'].get('p99_ms'), 2)} | {r.get('errors', 0) + r.get('failed_images', 0)} | "
              f"{f(r['server_cpu_pct'], 0)}% |")
    w("\n</details>\n")
    return "\n".join(L) + "\n"


def splice_f(text, section):
    """Replaces section F in a report (or inserts it where it belongs)."""
    return splice_section(text, "F", section)


def _section_end(lines, start):
    """The line after a section: the next `## ` heading or HTML comment (bench-compare's
    marker), or the end."""
    return next((i for i in range(start + 1, len(lines))
                 if lines[i].startswith("## ") or lines[i].startswith("<!-- ")), len(lines))


def splice_section(text, letter, section):
    """Replaces the lettered section (`## X. …`) of a report in place; a report without it
    gets it after the last lettered section before it (or before the per-run appendix),
    so bench-compare's block and the appendix stay where they are."""
    lines = text.split("\n")
    heads = [(i, l[3]) for i, l in enumerate(lines)
             if len(l) > 5 and l.startswith("## ") and l[3].isupper() and l[4:6] == ". "]
    own = [i for i, x in heads if x == letter]
    if own:
        start = own[0]
        end = _section_end(lines, start)
    else:
        before = [i for i, x in heads if x < letter]
        if before:
            start = end = _section_end(lines, before[-1])
        else:
            start = end = next((i for i, l in enumerate(lines)
                                if l.startswith("## Per-run figures")), len(lines))
    # Keep a blank line before what follows.
    return "\n".join(lines[:start] + section.rstrip("\n").split("\n") + [""] + lines[end:])


def binary_id(a):
    """The kiln binary a scenario ran: its commit (KILN_BIN_REV when the binary was built
    elsewhere, else the repository's HEAD then) and its sha256."""
    rev = os.environ.get("KILN_BIN_REV") or try_sh(["git", "-C", a.repo, "rev-parse", "--short=12", "HEAD"])
    return {"kiln_rev": rev[:12],
            "kiln_sha256": try_sh(["sha256sum", a.kiln]).split(" ")[0][:16]}


def _generated(res_meta, a, letter):
    mode = res_meta.get("mode", "?")
    rev = res_meta.get("kiln_rev") or try_sh(["git", "-C", a.repo, "rev-parse", "--short=12", "HEAD"])
    if res_meta.get("kiln_sha256"):
        rev += f" (binary sha256 {res_meta['kiln_sha256']}…)"
    note = "" if mode == "full" else f" — **{mode.upper()} run: small sizes, not for comparison**"
    return (f"Generated by `scripts/bench{'' if mode == 'full' else ' --' + mode}` (also alone: "
            f"`scripts/bench --only {letter}`) on {res_meta.get('started')}, kiln rev {rev}{note}. "
            f"Section run time {res_meta.get('runtime_s', 0) / 60:.1f} min.")


G_HEADING = "## G. copyImages vs `qemu-img convert` of the same chains"
H_HEADING = "## H. exportImage / importImage through a local S3 server (moto)"


def g_ratio(rows):
    """Kiln / qemu-img throughput over the whole run: qemu-img's total time over Kiln's (the
    same bytes each pair). Each side went first in half the pairs, so an order effect
    cancels out here, where a median of single pairs can fall either side of it."""
    k, c = sum(r["kiln_ready_s"] for r in rows), sum(r["convert_s"] for r in rows)
    return c / k if k else 0.0


def report_g(res, a):
    rows, m = res.get("g") or [], res.get("g_meta") or {}
    L = []
    w = L.append
    w(G_HEADING + "\n")
    if not rows:
        w("Not run.\n")
        return "\n".join(L) + "\n"
    mib = 1 << 20
    w(_generated(m, a, "G") + f" {len(rows)} pair{'s' if len(rows) > 1 else ''}; every figure is the median over the pairs "
      "(min–max in parentheses).\n")
    w(f"- Source: an instance with a 40 GiB system disk and a 20 GiB data disk (cloud); "
      f"{m.get('write_mib_per_disk')} MiB of non-zero guest data written into each with qemu-io "
      "(16 pieces spread over the disk), then createImage → `ready`. Its snapshot layers "
      f"(chains of {'/'.join(str(x) for x in m.get('chain_depths', []))} layers) hold "
      f"**{m.get('chain_allocated', 0) / mib:,.0f} MiB** of allocated data (`qemu-img map`) in "
      f"{m.get('virtual_gib', 0):.0f} GiB of virtual disk.")
    w(f"- Kiln: `copyImages` of that image to cn-east-2, timed from the request until the copy is "
      f"seen `ready` (describeImage in cn-east-2 every {m.get('poll_ms')} ms). Kiln flattens each "
      "disk's chain into a standalone layer with `qemu-img convert -O qcow2`, a child of the "
      f"server on its core (`taskset -c {a.server_cpu}`).")
    w(f"- qemu-img: `qemu-img convert -q -f qcow2 -O qcow2` of the same two snapshot layers (the "
      f"same chains, the same bytes), one after the other, on the server core. Each side starts "
      "after a `sync` (nothing dirty left by the other), and they take turns going first. "
      "One untimed convert of the chains runs before the first pair. "
      "Each side's output is deleted right after it is timed (Kiln's copy with deleteImage, "
      "waiting for its layers to go), so every timed call starts after 2 GiB of page cache was "
      "freed. Throughput = allocated data of the chains / time. *CPU s*: for Kiln, the server "
      "process's CPU time (its threads and the qemu-img it ran) over the copy; for the baseline, "
      "qemu-img's own.\n")
    ka = agg([r["kiln_ready_s"] for r in rows])
    ca = agg([r["convert_s"] for r in rows])
    kt = agg([r["kiln_mib_s"] for r in rows])
    ct = agg([r["convert_mib_s"] for r in rows])
    w("| | time s | throughput MiB/s | CPU s | bytes stored MiB |\n|---|---|---|---|---|")
    w(f"| Kiln copyImages → `ready` | {fm(ka, 3)} | {fm(kt, 0)} | "
      f"{fm(agg([r['kiln_cpu_s'] for r in rows]), 2)} | {f(med([r['kiln_stored'] for r in rows]) / mib, 1)} |")
    w(f"| qemu-img convert (same chains) | {fm(ca, 3)} | {fm(ct, 0)} | "
      f"{fm(agg([r['convert_cpu_s'] for r in rows]), 2)} | {f(med([r['convert_stored'] for r in rows]) / mib, 1)} |")
    ratio = g_ratio(rows)
    w(f"\nThroughput ratio Kiln / qemu-img convert over all {len(rows)} pairs (qemu-img's total time "
      f"/ Kiln's: {f(sum(r['convert_s'] for r in rows), 2)} s / {f(sum(r['kiln_ready_s'] for r in rows), 2)} s) "
      f"= **{ratio:.2f}×**. Target ≥ 0.9×: **{'PASS' if ratio >= 0.9 else 'FAIL'}**. Also: the "
      f"median of the pairs' ratios {g_pair_median(rows):.2f} (pairs "
      f"{', '.join(f'{x:.2f}' for x in (r['ratio'] for r in rows))}); the ratio of the medians "
      f"{kt['median'] / ct['median']:.2f}; the ratio of the best times, each side's shortest, "
      f"**{ca['min'] / ka['min']:.2f}×** ({f(ka['min'], 3)} s against {f(ca['min'], 3)} s). "
      + (f"Kiln's own threads (not its qemu-img) used {f(med([r['kiln_own_cpu_s'] for r in rows]), 2)} s "
         f"of CPU per copy, {f(med([r['kiln_own_cpu_s'] / r['kiln_ready_s'] * 100 for r in rows]), 1)}% of "
         "its time, taken from the core its qemu-img runs on (answering the benchmark's polls and "
         "writing the copy's progress every 250 ms). "
         if all(r.get("kiln_own_cpu_s") is not None for r in rows) else "")
      + f"Other load on the server core during Kiln's copies (CPU time of other processes there): "
      f"median {f(med([r.get('other_cpu_pct') for r in rows]), 0)}% "
      f"(max {f(max(r.get('other_cpu_pct') or 0 for r in rows), 0)}%).\n")
    firsts = [(r["kiln_ready_s"], r["convert_s"]) if r["first"] == "kiln" else (r["convert_s"], r["kiln_ready_s"])
              for r in rows]
    slower_first = sum(1 for a_, b_ in firsts if a_ > b_)
    if len(rows) >= 4 and (slower_first >= 0.75 * len(rows) or slower_first <= 0.25 * len(rows)):
        w(f"**Order effect**: the {'first' if slower_first >= 0.75 * len(rows) else 'second'} call of a "
          f"pair was the slower in {max(slower_first, len(rows) - slower_first)} of {len(rows)} pairs, "
          "whichever side it was; as each side went first in half the pairs, the total-time ratio "
          "is the figure to judge, not a single pair's.\n")
    if ca["max"] > 3 * ca["min"] or ka["max"] > 3 * ka["min"]:
        w(f"**Noise**: the same 2-disk flatten took {f(ca['min'], 2)}–{f(ca['max'], 2)} s by qemu-img "
          f"alone and {f(ka['min'], 2)}–{f(ka['max'], 2)} s by Kiln in this run, and CPU time follows "
          "wall time (the slow runs are kernel time, not waiting). On this VM (virtio-balloon with "
          "free page reporting, DAMON reclaim on) `perf` puts ~60% of a slow convert in the "
          "kernel's page-cache copies (`copy_folio_from_iter_atomic`, `_copy_to_iter`): writing "
          "into guest memory the host has to back again is slow, reusing memory already backed is "
          "fast, and which one a run gets is luck. So a single pair's ratio means little; the "
          "median of the pairs and the ratio of the best times (each side's fastest run, when "
          "neither paid for that) are the figures to read.\n")
    w("<details><summary>G: every pair</summary>\n")
    w("| pair | first | copyImages s | MiB/s | CPU s | qemu-img s | MiB/s | CPU s | ratio | other load |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w(f"| {r['run']} | {r['first']} | {r['kiln_ready_s']:.3f} | {r['kiln_mib_s']:.0f} | "
          f"{r['kiln_cpu_s']:.2f} | {r['convert_s']:.3f} | {r['convert_mib_s']:.0f} | "
          f"{r['convert_cpu_s']:.2f} | {r['ratio']:.2f} | {f(r.get('other_cpu_pct'), 0)}% |")
    w("\n</details>\n")
    return "\n".join(L) + "\n"


def g_pair_median(rows):
    return med([r.get("ratio") for r in rows]) or 0.0


def h_ratios(rows, num, den):
    """Kiln / baseline throughput of each H run (the same object, the same run)."""
    return [r[num] / r[den] for r in rows if r.get(num) and r.get(den)]


def report_h(res, a):
    rows, m = res.get("h") or [], res.get("h_meta") or {}
    L = []
    w = L.append
    w(H_HEADING + "\n")
    if not rows:
        w("Not run.\n")
        return "\n".join(L) + "\n"
    mib = 1 << 20
    obj = med([r["object_bytes"] for r in rows]) / mib
    w(_generated(m, a, "H") + f" {len(rows)} run{'s' if len(rows) > 1 else ''}; every figure is the median over the runs "
      "(min–max in parentheses); ratios are the median of each run's Kiln/baseline ratio.\n")
    w(f"- Object store: `moto_server` (moto[server] from `.venv-bench`) on loopback, on the "
      f"{m.get('moto', 'client core')} (`taskset -c {a.client_cpu}`), so the server core holds "
      "the sender alone: Kiln (`kiln serve --oss-endpoint http://127.0.0.1:PORT --oss-access-key … "
      "--oss-secret-key …`) with its qemu-img, or the baseline's boto3 and qemu-img. moto keeps "
      "objects in Python (a multipart upload is joined in memory); it is the peer of both sides.")
    w(f"- Source: an instance with a 40 GiB cloud system disk; {m.get('write_mib')} MiB of "
      f"non-zero guest data written into it with qemu-io, then createImage → `ready` (chain of "
      f"{m.get('chain_depth')} layers, {m.get('chain_allocated', 0) / mib:,.0f} MiB allocated). "
      f"exportImage (`isAllDisk: false`) writes it as one qcow2 object of **{obj:,.0f} MiB**; "
      "throughput = object size / time for every row.")
    w(f"- **Kiln export** = exportImage request → its imageTasks record `finished` (polled every "
      f"{m.get('poll_ms')} ms): the chain flattened into a scratch qcow2 (`qemu-img convert`), then "
      "uploaded multipart, 16 MiB parts one at a time, each with its Content-MD5. **Baseline**: "
      "`qemu-img convert` of the same chain into a file, then boto3 `upload_file` of that file "
      "(default TransferConfig: 8 MiB parts, up to 10 threads; and again in Kiln's shape: one "
      "thread, 16 MiB parts), both on the server core.")
    w("- **Kiln import** = importImage of the exported object (its `https://<bucket>.s3.<region>."
      "jdcloud-oss.com/<key>` URL) → the image `ready`: the object streamed into a scratch file "
      "and fsynced, then converted into a layer (`qemu-img convert -O qcow2`). **Baseline**: boto3 "
      "`download_file` in one GET + fsync + `qemu-img convert` of the download, on the server "
      f"core. boto3's default download (8 MiB ranged GETs, up to 10 threads) is timed alone only "
      f"for objects up to {Bench.H_RANGED_MAX >> 20} MiB: moto answers each ranged GET by reading "
      "the whole object, so a 2 GiB object took 386 s that way (5 MiB/s) — a figure about moto. "
      "*moto's CPU* = moto's CPU time over the transfer / its time (100%: the object store was "
      "the bottleneck).")
    w(f"- Each side starts after a `sync`; Kiln and the baseline take turns going first. RSS = "
      f"VmRSS of the `kiln serve` process (not its qemu-img children) from `/proc/PID/status`, "
      f"sampled every {m.get('rss_every_ms')} ms; VmHWM is its peak, reset (`clear_refs` 5) just "
      "before the call.\n")

    def row(label, key_s, key_mib, moto_cpu=None, ratio=None):
        ra = ""
        if ratio:
            rs = h_ratios(rows, *ratio)
            ra = f"{med(rs):.2f}× ({min(rs):.2f}–{max(rs):.2f})" if rs else "–"
        mc = f(med([r[moto_cpu] / r[key_s] * 100 for r in rows if r.get(moto_cpu) is not None]), 0) + "%" \
            if moto_cpu else ""
        w(f"| {label} | {fm(agg([r[key_s] for r in rows]), 2)} | {fm(agg([r[key_mib] for r in rows]), 0)} | "
          f"{mc} | {ra} |")

    w("| | time s | throughput MiB/s | moto's CPU (of the time) | Kiln / this (throughput) |")
    w("|---|---|---|---|---|")
    row("**Kiln exportImage** → finished", "export_s", "export_mib_s", "export_moto_cpu_s")
    row("qemu-img convert + boto3 upload_file", "base_export_s", "base_export_mib_s", None,
        ("export_mib_s", "base_export_mib_s"))
    row("boto3 upload_file alone (default: 8 MiB parts, 10 threads)", "base_upload_s", "base_upload_mib_s",
        "base_upload_moto_cpu_s", ("export_mib_s", "base_upload_mib_s"))
    row("boto3 upload_file alone, Kiln's shape (16 MiB parts, one thread)", "base_upload_serial_s",
        "base_upload_serial_mib_s", "base_upload_serial_moto_cpu_s", ("export_mib_s", "base_upload_serial_mib_s"))
    row("**Kiln importImage** → ready", "import_s", "import_mib_s", "import_moto_cpu_s")
    row("boto3 download_file (one GET) + fsync + qemu-img convert", "base_import_s", "base_import_mib_s",
        None, ("import_mib_s", "base_import_mib_s"))
    row("boto3 download_file alone (one GET, Kiln's shape)", "base_download_serial_s",
        "base_download_serial_mib_s", "base_download_serial_moto_cpu_s",
        ("import_mib_s", "base_download_serial_mib_s"))
    if all(r.get("base_download_s") for r in rows):
        row("boto3 download_file alone (default: 8 MiB ranged GETs, 10 threads)", "base_download_s",
            "base_download_mib_s", "base_download_moto_cpu_s", ("import_mib_s", "base_download_mib_s"))
    w(f"\nBaseline parts (median s): export: qemu-img convert {f(med([r['base_convert_s'] for r in rows]), 2)}, "
      f"upload {f(med([r['base_upload_s'] for r in rows]), 2)}; import: download (one GET) "
      f"{f(med([r['base_download_serial_s'] for r in rows]), 2)}, fsync {f(med([r['base_fsync_s'] for r in rows]), 2)}, "
      f"qemu-img convert {f(med([r['base_import_convert_s'] for r in rows]), 2)}. Kiln's CPU time "
      f"(process + its qemu-img): export {f(med([r['export_cpu_s'] for r in rows]), 2)} s "
      f"(own threads {f(med([r.get('export_own_cpu_s') for r in rows]), 2)} s), import "
      f"{f(med([r['import_cpu_s'] for r in rows]), 2)} s "
      f"(own threads {f(med([r.get('import_own_cpu_s') for r in rows]), 2)} s). Other load on the server core during "
      f"Kiln's calls: export {f(med([r.get('export_other_cpu_pct') for r in rows]), 0)}%, import "
      f"{f(med([r.get('import_other_cpu_pct') for r in rows]), 0)}%.\n")
    hwm = [r["rss_hwm"] for r in rows if r.get("rss_hwm")]
    ihwm = [r["import_rss_hwm"] for r in rows if r.get("import_rss_hwm")]
    w(f"Kiln's memory (`kiln serve`, VmRSS) during the export of the {obj:,.0f} MiB object:\n")
    w("| | MiB |\n|---|---|")
    w(f"| before the export | {fm(agg([r['rss_before'] for r in rows]), 1, 1 / mib)} |")
    w(f"| peak during the export, sampled every {m.get('rss_every_ms')} ms | "
      f"{fm(agg([r['rss_peak_sampled'] for r in rows]), 1, 1 / mib)} |")
    w(f"| peak during the export, VmHWM | {fm(agg(hwm), 1, 1 / mib) if hwm else '– (clear_refs not allowed)'} |")
    w(f"| peak during the import, sampled | {fm(agg([r['import_rss_peak_sampled'] for r in rows]), 1, 1 / mib)} |")
    w(f"| peak during the import, VmHWM | {fm(agg(ihwm), 1, 1 / mib) if ihwm else '–'} |")
    w("")
    w("Peak − before, export by export: " + ", ".join(
        f"+{(r['rss_peak_sampled'] - r['rss_before']) / mib:.1f}" for r in rows) + " MiB (Kiln "
      "reads and sends one 16 MiB part at a time); RSS before each export: " + ", ".join(
        f"{r['rss_before'] / mib:.1f}" for r in rows) + " MiB (what an export allocated is kept by "
      "the allocator for the next one, not handed back).\n")
    mc = {k: med([r.get(k) for r in rows]) for k in (
        "export_moto_cpu_s", "base_upload_moto_cpu_s", "base_upload_serial_moto_cpu_s")}
    if all(mc.values()):
        w(f"Why Kiln's export is slower than boto3's upload of the same file here: moto spent "
          f"{mc['export_moto_cpu_s']:.1f} s of CPU on Kiln's upload against "
          f"{mc['base_upload_moto_cpu_s']:.1f} s (default boto3) and "
          f"{mc['base_upload_serial_moto_cpu_s']:.1f} s (one thread) on boto3's (medians). Kiln's "
          "CreateMultipartUpload names no checksum algorithm, so moto 5.2.5 makes a FULL_OBJECT "
          "checksum (CRC64NVME; crc32 without awscrt) over a second in-memory copy of the whole "
          "object at CompleteMultipartUpload (`MultipartChecksumBuilder`; py-spy: about a quarter "
          "of moto's busy time during Kiln's export), where boto3 ≥ 1.36 asks for CRC32 "
          "COMPOSITE (per-part checksums). And Kiln sends its parts one at a time, each read and "
          "MD5-hashed before it is sent, so moto waits meanwhile (*moto's CPU* column). Against "
          "JD OSS or S3 the first cost is the store's, not on this path; the second is Kiln's.\n")
    w("<details><summary>H: every run</summary>\n")
    w("| run | first | export s | MiB/s | convert+upload s | upload s | upload, one thread s | import s | "
      "MiB/s | download+fsync+convert s | download s | RSS before / peak MiB | samples |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w(f"| {r['run']} | {r['first']} | {r['export_s']:.2f} | {r['export_mib_s']:.0f} | "
          f"{r['base_export_s']:.2f} | {r['base_upload_s']:.2f} | {r['base_upload_serial_s']:.2f} | "
          f"{r['import_s']:.2f} | {r['import_mib_s']:.0f} | {r['base_import_s']:.2f} | "
          f"{r['base_download_serial_s']:.2f} | "
          f"{r['rss_before'] / mib:.1f} / {r['rss_peak_sampled'] / mib:.1f} | {r['rss_samples']} |")
    w("\n</details>\n")
    return "\n".join(L) + "\n"


def check_g(res):
    rows = res.get("g") or []
    if not rows:
        return ["G: did not run"]
    missing = []
    for r in rows:
        if not all(_num(r.get(k)) and r[k] > 0 for k in ("chain_allocated", "kiln_ready_s", "convert_s",
                                                          "kiln_mib_s", "convert_mib_s", "ratio",
                                                          "kiln_stored")):
            missing.append(f"G: pair without figures: {r}")
    return missing


def check_h(res):
    rows = res.get("h") or []
    if not rows:
        return ["H: did not run"]
    missing = []
    keys = ("object_bytes", "export_s", "export_mib_s", "base_export_mib_s", "base_upload_mib_s",
            "import_s", "import_mib_s", "base_import_mib_s", "rss_before",
            "rss_peak_sampled", "import_rss_peak_sampled", "imported_allocated",
            "base_upload_serial_mib_s", "base_download_serial_mib_s")
    for r in rows:
        bad = [k for k in keys if not (_num(r.get(k)) and r[k] > 0)]
        if bad:
            missing.append(f"H: run {r.get('run')} without {', '.join(bad)}")
    return missing


I_HEADING = "## I. Guests under QEMU (TCG): boot, stop/start, createImage of a writing guest"


def report_i(res, a):
    rows, m = res.get("i") or [], res.get("i_meta") or {}
    L = []
    w = L.append
    w(I_HEADING + "\n")
    if not rows:
        w("Not run.\n")
        return "\n".join(L) + "\n"
    kit = m.get("kit") or {}
    kver = (f"Debian kernel {kit.get('kernel', '?')}, busybox {kit.get('busybox', '?')}, "
            f"qemu-guest-agent {kit.get('qemu_ga', '?')}")
    w(_generated(m, a, "I") + f" {len(rows)} run{'s' if len(rows) > 1 else ''}; every figure is the "
      "median over the runs (min–max in parentheses).\n")
    w(f"- Kiln: `kiln serve --hypervisor qemu --accel tcg --guest-kit target/kiln-linux "
      f"--task-delay 0s --transition-delay 0s` on the server core (`taskset -c {a.server_cpu}`; "
      "the guests' QEMU inherits it). Each run creates one instance of `img-kiln-linux` "
      "(g.n2.medium: 1 vCPU, memory capped at 256 MiB; a 40 GiB cloud system disk and a 20 GiB "
      f"cloud data disk) and polls describeInstance every {m.get('poll_ms')} ms. *boot* = "
      "createInstances → `running` (Kiln says running once the guest agent answered). Then "
      "`mkfs.ext4` + mount of vdb and the writer, started through Kiln's exec endpoint: `while :; "
      "do echo x > /root/w; sync; echo x > /mnt/vdb/w; sync; cut -d' ' -f1 /proc/uptime >> "
      f"/run/ticks; done` (/run is tmpfs). After {m.get('settle_s')} s, createImage: *accepted* = "
      "the call's latency, *ready* = the call → describeImage `ready`. *held* = Kiln's own "
      "`live freeze … held_ms` log line for that image: guest-fsfreeze-freeze, the one QMP "
      "`transaction` switching both disks to their overlays, guest-fsfreeze-thaw. "
      f"{m.get('settle_s')} s later /run/ticks is read: *guest write pause* = the largest gap "
      "between consecutive ticks that overlaps the window from the createImage call to `ready` "
      "(mapped to guest uptime by reading /proc/uptime just before the call; the window is "
      "widened by that read's round trip), against the median gap outside the window (one "
      "writer iteration). /proc/uptime counts in 10 ms. Then stopInstance → `stopped` (ACPI "
      "power-down) and startInstance → `running`; the instance is deleted.")
    w(f"- Bare QEMU: `{m.get('qemu', 'qemu-system-x86_64')}` started by hand with the same kit and "
      "the command line shape of Kiln's driver (`src/hypervisor/launch.rs`: `-machine "
      "pc,accel=tcg -cpu max -m 256 -smp 1`, direct kernel boot, virtio-blk at the same slots on a "
      "qcow2 overlay of rootfs.qcow2 (40 GiB) and a blank 20 GiB qcow2, serial, agent and QMP "
      "sockets, `-daemonize`), on the same core; *boot* = QEMU spawned → guest agent answers "
      "(guest-sync-delimited every 0.5 s on one connection, as Kiln's driver waits, then "
      "guest-ping). Then the same mount and writer through guest-exec, and the freeze Kiln does "
      "by hand: guest-fsfreeze-freeze, one QMP `transaction` of two `blockdev-snapshot-sync` "
      "(`mode: existing`, overlays made beforehand), guest-fsfreeze-thaw, timed around the three "
      "calls; the write pause is read the same way around them. Kiln and bare QEMU take turns "
      "going first.")
    w(f"- Guest: Kiln Linux ({kver}); accelerator **TCG** (software emulation). /dev/kvm "
      f"{'exists' if m.get('dev_kvm') else 'does not exist'} on this host, but it has no nested "
      "virtualisation: a KVM guest aborts at its first vCPU reset (\"failed to set MSR 0x10a\"), so "
      "`--accel auto` finds KVM unusable and uses TCG."
      + (f" Load average (1/5/15 min) at the start / end of the section: "
         f"{' '.join(m['loadavg_start'])} / {' '.join(m.get('loadavg_end') or [])} (a shared "
         "machine: other work on the server core slows the TCG guest as much as Kiln)."
         if m.get("loadavg_start") else "") + "\n")

    def agg_of(key, scale=1.0):
        xs = [r[key] * scale for r in rows if _num(r.get(key))]
        return agg(xs) if xs else None

    def cell(key, nd, scale=1.0):
        x = agg_of(key, scale)
        return fm(x, nd) if x else "–"

    def ratio_cell(xs):
        return f"{med(xs):.2f}× ({min(xs):.2f}–{max(xs):.2f})" if xs else "–"

    bk, bb = agg_of("boot_s"), agg_of("bare_boot_s")
    ratios = [r["boot_ratio"] for r in rows if _num(r.get("boot_ratio"))]
    hk, hb = agg_of("held_ms"), agg_of("bare_held_ms")
    w("| | Kiln | bare QEMU | Kiln / bare |\n|---|---|---|---|")
    w(f"| boot → running (Kiln) / → agent answers (bare), s | {cell('boot_s', 2)} | "
      f"{cell('bare_boot_s', 2)} | {ratio_cell(ratios)} |")
    w(f"| stop → stopped, s | {cell('stop_s', 2)} | – | |")
    w(f"| start → running, s | {cell('start_s', 2)} | – | |")
    w(f"| createImage accepted, ms | {cell('accepted_ms', 0)} | – | |")
    w(f"| createImage → ready, s | {cell('ready_s', 2)} | – | |")
    hr = [r["held_ms"] / r["bare_held_ms"] for r in rows if _num(r.get("held_ms")) and _num(r.get("bare_held_ms"))]
    w(f"| freeze held (fsfreeze + QMP transaction + thaw), ms | {cell('held_ms', 1)} | "
      f"{cell('bare_held_ms', 1)} | {ratio_cell(hr)} |")
    w(f"| guest write pause: largest tick gap around the freeze, ms | {cell('max_gap_ms', 0)} | "
      f"{cell('bare_max_gap_ms', 0)} | |")
    w(f"| guest write loop: median tick gap outside it, ms | {cell('median_gap_ms', 0)} | "
      f"{cell('bare_median_gap_ms', 0)} | |")
    fs = sorted({r.get("filesystems_frozen") for r in rows if r.get("filesystems_frozen") is not None})
    ah = [r["accepted_ms"] - r["held_ms"] for r in rows if _num(r.get("accepted_ms")) and _num(r.get("held_ms"))]
    w("")
    if bk and bb:
        w(f"**How to read it.** Kiln's boot → running is {bk['median']:.2f} s against "
          f"{bb['median']:.2f} s for QEMU alone from spawn to agent: the difference, "
          f"{bk['median'] - bb['median']:.2f} s (ratio {med(ratios):.2f}×), is Kiln's API call, "
          "its task steps and the disks it makes (overlays of the image's layers), QMP set-up and "
          "the describeInstance poll; the rest is the guest booting under TCG. Stop is the guest's "
          "ACPI power-down, start a second boot of the same disks. *accepted* includes the live "
          "freeze: the switch happens inside createImage's database transaction, before it "
          "answers, and *held* is how long the guest's filesystems stayed frozen"
          + (f" ({'/'.join(str(x) for x in fs)} filesystem{'s' if fs[-1] != 1 else ''} frozen: "
             f"{'the root on vda and /mnt/vdb' if fs[-1] >= 2 else 'the root on vda'})" if fs else "")
          + (f"; createImage's own work besides the freeze (accepted − held) was "
             f"{med(ah):.1f} ms" if ah else "")
          + ". The guest's own view is the write pause: the largest gap in its write loop around "
          "the freeze against one ordinary iteration (two writes + two syncs + a fork under TCG); "
          "the pause is at least the freeze, plus what was dirty when it began (fsfreeze flushes "
          "it) and whatever else the shared core was doing then (Kiln's createImage work, "
          "writing the overlays' qcow2 headers). Bare QEMU's freeze is the floor for the same three "
          "calls without Kiln's driver around them.")
        w("")
    w("**What KVM would change.** Everything the guest does runs under TCG here: the kernel's "
      "and init's boot, qemu-ga, the writer's forks and syncs, fsfreeze's flush. With KVM "
      "(a host with /dev/kvm that works: bare metal or nested virtualisation; `--accel auto` "
      "picks it) the boot, stop and start figures and the guest's loop shrink to roughly "
      "the guest kernel's own boot time, and the freeze's fsfreeze/thaw calls to the "
      "agent's round trips; Kiln's part — the API, task steps, writing the overlays' "
      "qcow2 headers, the QMP transaction, the database commit — is the same either way, so "
      "its share of each figure grows.\n")
    w("<details><summary>I: every run</summary>\n")
    w("| run | first | boot s | bare boot s | ratio | stop s | start s | accepted ms | ready s | held ms | "
      "bare held ms | max gap ms | median gap ms | bare max gap ms | bare median gap ms | ticks |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w(f"| {r['run']} | {r.get('first')} | {f(r.get('boot_s'), 2)} | {f(r.get('bare_boot_s'), 2)} | "
          f"{f(r.get('boot_ratio'), 2)} | {f(r.get('stop_s'), 2)} | {f(r.get('start_s'), 2)} | "
          f"{f(r.get('accepted_ms'), 0)} | {f(r.get('ready_s'), 2)} | {f(r.get('held_ms'), 1)} | "
          f"{f(r.get('bare_held_ms'), 1)} | {f(r.get('max_gap_ms'), 0)} | {f(r.get('median_gap_ms'), 0)} | "
          f"{f(r.get('bare_max_gap_ms'), 0)} | {f(r.get('bare_median_gap_ms'), 0)} | {r.get('ticks', '–')} |")
    w("\n</details>\n")
    return "\n".join(L) + "\n"


def check_i(res):
    rows = res.get("i") or []
    if not rows:
        return ["I: did not run"]
    missing = []
    keys = ("boot_s", "bare_boot_s", "boot_ratio", "stop_s", "start_s", "accepted_ms", "ready_s",
            "held_ms", "bare_held_ms", "max_gap_ms", "median_gap_ms", "bare_max_gap_ms",
            "bare_median_gap_ms")
    for r in rows:
        bad = [k for k in keys if not (_num(r.get(k)) and r[k] > 0)]
        if bad:
            missing.append(f"I: run {r.get('run')} without {', '.join(bad)}"
                           + (f" (exec {r['exec']})" if r.get("exec") else ""))
    return missing


# --only: the scenarios that can run alone, their result keys, section and check.
ONLY = {
    "F": (("f", "f_meta"), lambda res, a: report_f(res, a), lambda res: check_f(res)),
    "G": (("g", "g_meta"), lambda res, a: report_g(res, a), lambda res: check_g(res)),
    "H": (("h", "h_meta"), lambda res, a: report_h(res, a), lambda res: check_h(res)),
    "I": (("i", "i_meta"), lambda res, a: report_i(res, a), lambda res: check_i(res)),
}


def report(res, a, v):
    p = res["profile"]
    L = []
    w = L.append
    mode_note = "" if res["mode"] == "full" else " — **QUICK smoke run: small counts, not for comparison**"
    w("# Kiln benchmarks\n")
    w(f"Generated by `scripts/bench{' --quick' if res['mode'] == 'quick' else ''}` on "
      f"{res['started']}{mode_note}. Every figure is the median of {p['runs']} runs, "
      f"with the range (min–max) over the runs in parentheses; *spread* is (max−min)/median. "
      f"Total benchmark time {res['runtime_s'] / 60:.1f} min (build excluded).\n")
    w("## How to run\n")
    w("```\nscripts/bench            # full run (~22 min + build), writes BENCHMARKS.md\n"
      "scripts/bench --quick    # smoke run (~3 min), writes target-bench/BENCHMARKS-quick.md\n"
      "scripts/bench --only F   # section F alone (~4 min), replaced in place in BENCHMARKS.md\n"
      "scripts/bench --only G,H # sections G and H alone (~10 min), likewise\n"
      "scripts/bench --only I   # section I alone (~2.5 min): QEMU guests under TCG, likewise\n```\n")
    w("`scripts/bench` builds Kiln (`cargo build --release`, target dir `target-bench/`) and "
      "the load generator (`bench/loadgen`, its own cargo project), creates `.venv-bench` with "
      f"`moto[server]=={v['moto']}` and boto3, then runs `bench/bench.py`. Raw per-run figures "
      "go to `target-bench/bench-results.json`.\n")
    w("## Machine and versions\n")
    w("| | |\n|---|---|")
    for k, lab in (("cpu", "CPU"), ("nproc", "cores (nproc)"), ("mem_gib", "memory"),
                   ("kernel", "kernel"), ("kiln_rev", "kiln git rev"),
                   ("kiln_sha256", "kiln binary sha256 (prefix)"), ("rustc", "rustc"),
                   ("qemu_img", "qemu-img"), ("python", "python"), ("moto", "moto (peer)"),
                   ("boto3", "boto3 (peer client)"), ("taskset", "pinning with taskset")):
        val = f"{v[k]:.1f} GiB" if k == "mem_gib" else v[k]
        w(f"| {lab} | {val} |")
    w(f"| load average (1/5/15 min) at start / end | {' '.join(res.get('loadavg_start', []))} / "
      f"{' '.join(res.get('loadavg_end', []))} |")
    w("")
    w("## Method\n")
    w(f"- Servers run under `taskset -c {a.server_cpu}`, clients under `taskset -c {a.client_cpu}` "
      "(Kiln's tokio runtime then has one worker thread; its SQLite threads and the qemu-img "
      "processes it spawns inherit the same core). Everything is on loopback.")
    w("- Kiln: `kiln serve --task-delay 0s --transition-delay 0s --quota image=200000 "
      "--quota snapshot=1000000 --quota instance=2000 --quota disk=10000`, **signature "
      "verification on** (keys from `KILN_ACCESS_KEY`/`KILN_SECRET_KEY`). A fresh data "
      "directory per scenario.")
    w("- Kiln's client is `bench/loadgen` (Rust, one thread, tokio + hyper): every request is "
      "signed JDCLOUD2-HMAC-SHA256 as the Go SDK signs it (`content-type;host;x-jdcloud-date;"
      "x-jdcloud-nonce`, `:` as `%3A`, a fresh nonce per request), each client holds one "
      "keep-alive HTTP/1.1 connection, closed loop (next request when the answer is in).")
    w("- moto: `moto_server` from `moto[server]` in `.venv-bench`, driven by boto3 "
      "(`ec2` client with `endpoint_url`) with the same model: N threads, one client and "
      "connection each, closed loop.")
    w(f"- A: {p['a_warmup']}s warm-up then {p['a_duration']}s measured per run (moto: "
      f"{p['moto_duration']}s, listing {p['moto_list_duration']}s, as it is slow). describeImage "
      "picks a random image id; describeImages asks a random page of 100 of the private "
      "images (`imageSource=private&pageSize=100`); describeInstances a random page of 100. "
      "moto 5.2.5 ignores `MaxResults`/`NextToken` on DescribeImages (it always answers every "
      "match), so its \"page of 100\" is `DescribeImages(Owners=[self], MaxResults=100, "
      "Filters=[name=bench-pNNNN-*])`, the 100 images sharing a name prefix — the same "
      "answer size from the same 10,000-image set. moto's by-id call is "
      "`DescribeImages(ImageIds=[id])`.")
    w(f"- B: each client has its own instance (cloud system disk + three 20 GiB data disks); "
      f"it calls createImage, waits for `ready`, repeats, for {p['b_duration']}s (then lets "
      "in-flight images finish). *accepted* = createImage request → response; *ready* = "
      "request → the image is seen `ready`. One shared poller asks `describeImages?ids.N=…` "
      "for all pending images every 2 ms (1 client) / 5 ms (32 clients), so *ready* includes up "
      "to one poll interval. images/s = images ready / (last ready − start). moto's "
      "CreateImage answers with an image already `available`, so its accepted = ready. "
      "With 32 clients this is a closed loop on a saturated core: each client either waits "
      "for its createImage or for `ready`, so 32 = images/s × cycle (at 900 images/s, 35 ms "
      "per cycle whatever order the server works in). The order only splits the cycle "
      "between accepted and ready: taken first come, first served, a call's accepted time "
      "is mostly its wait behind the calls the same poll answer freed just before it "
      "(Kiln's own work on one call is about 0.5 ms, 0.3 ms of it holding the writer). "
      "Only more images/s shortens the cycle; accepted p99 ≤ 5 ms here would take about "
      "3,000 images/s on this core, or holding images back from `ready`. So B also runs "
      f"{p['b_clients']} clients *offered* {p.get('b_rate', 200)} images/s (the full run offers "
      "200, the throughput the target names) in an open "
      "loop: calls fall due at that rate, each is taken by a free client, and a call that "
      "found every client busy counts its wait from when it fell due (no coordinated "
      "omission); a client free early sends when the call falls due. moto gets the same "
      "offered rate.")
    w(f"- C: one instance per shape; before each run {p['c_write_mib']} MiB of guest data is "
      "written with qemu-io into each of its 4 disks (16 pieces spread over the virtual size), "
      "then one createImage → `ready` (poll 1 ms).")
    w(f"- D: an instance with a **local** system disk (from the 40 GiB public image), stopped; "
      f"before each run {p['d_write_mib']} MiB of guest data is written into it; then "
      "createImage → `ready` (Kiln flattens the chain into a standalone qcow2 with "
      "`qemu-img convert`), against `qemu-img convert -f qcow2 -O qcow2` of the same chain "
      "run directly on the server core. Throughput = allocated guest data of the chain "
      "(`qemu-img map`) / time. Both read a chain whose data is in the page cache; each starts "
      "after a `sync` (nothing dirty left by the other) and they take turns going first.")
    w("- E: start-up = process spawn → first signed request answered 200. RSS from "
      "`/proc/PID/status` (VmRSS now, VmHWM = peak) 1 s after start-up; *under load A* is VmHWM "
      "after all A runs.")
    w("- *server CPU* = the server process's CPU time (all threads + reaped children) / wall "
      "time during the run: ~100% means the server core was the bottleneck. *other load* = "
      "CPU time that other processes took on the server's core during the run (from "
      "`/proc/stat`): this machine is shared, and a high figure there means the run was "
      "disturbed.")
    w("- Data directories of finished scenarios are deleted only after the whole run: on this "
      "machine's ext4 (no journal) the inode allocator skips inodes freed in the last ~30 s, "
      "so deleting a scenario's tens of thousands of layer files made every file created in "
      "the next scenario scan past them (perf showed ~40% of the server's CPU there).\n")

    # ---------------- targets
    ak, am = res.get("a_kiln", []), res.get("a_moto", [])
    bk, bm = res.get("b_kiln", []), res.get("b_moto", [])
    targets = []

    def ops(rows, op, c):
        return agg([r["ops_per_s"] for r in pick(rows, op=op, concurrency=c)])

    for op, lab in (("image", "describeImage by id"), ("images", "describeImages (listing, 100/page)")):
        for c in (1, 8):
            k, m_ = ops(ak, op, c), ops(am, op, c)
            if k and m_ and m_["median"]:
                ratio = k["median"] / m_["median"]
                targets.append((f"A: {lab}, {c} client{'s' if c > 1 else ''}: ≥ 50× moto ops/s",
                                f"{f(k['median'], 0)} vs {f(m_['median'], 2)} ops/s = {ratio:,.0f}×",
                                ratio >= 50))
    p99 = lat(pick(ak, op="image", concurrency=8), "latency", "p99_ms")
    if p99:
        targets.append(("A: describeImage p99 ≤ 2 ms with 8 clients",
                        f"{p99['median']:.3f} ms (runs {p99['min']:.3f}–{p99['max']:.3f})",
                        p99["median"] <= 2.0))
    for c in (1, p["b_clients"]):
        acc = lat(closed(bk, c), "accepted", "p99_ms")
        if acc:
            targets.append((f"B: createImage accepted p99 ≤ 5 ms, {c} client{'s' if c > 1 else ''}"
                            f"{' (closed loop)' if c > 1 else ''}",
                            f"{acc['median']:.2f} ms (runs {acc['min']:.2f}–{acc['max']:.2f})",
                            acc["median"] <= 5.0))
    ok = open_loop(bk)
    acc = lat(ok, "accepted", "p99_ms")
    if acc:
        targets.append((f"B: createImage accepted p99 ≤ 5 ms, {p['b_clients']} clients offered "
                        f"{f(ok[0]['rate'], 0)} images/s (open loop; see B)",
                        f"{acc['median']:.2f} ms (runs {acc['min']:.2f}–{acc['max']:.2f})",
                        acc["median"] <= 5.0))
    ips = agg([r["images_per_s"] for r in closed(bk, p["b_clients"])])
    if ips:
        targets.append((f"B: ≥ 200 images/s reaching ready with {p['b_clients']} clients",
                        f"{ips['median']:.0f} images/s (runs {ips['min']:.0f}–{ips['max']:.0f})",
                        ips["median"] >= 200))
    c_rows = res.get("c", [])
    rs = agg([r["ready"].get("p50_ms") for r in c_rows if r["shape"] == "small"])
    rl = agg([r["ready"].get("p50_ms") for r in c_rows if r["shape"] == "large"])
    if rs and rl:
        ratio = rl["median"] / rs["median"]
        targets.append(("C: ready(2 TiB) / ready(20 GiB) ≤ 1.2",
                        f"{rl['median']:.2f} / {rs['median']:.2f} ms = {ratio:.2f}", ratio <= 1.2))
    d = res.get("d", [])
    if d:
        targets.append(("D: localDisk copy throughput ≥ 0.9× qemu-img convert (median of the pairs)",
                        f"{d_ratio(d):.2f}×", d_ratio(d) >= 0.9))
        stored = med([r["kiln_stored"] for r in d]) / med([r["chain_allocated"] for r in d])
        targets.append(("D: bytes stored ≤ 1.05× bytes allocated", f"{stored:.3f}×", stored <= 1.05))
    g = res.get("g") or []
    if g:
        targets.append(("G: copyImages throughput ≥ 0.9× qemu-img convert of the same chains "
                        "(total time over the pairs)", f"{g_ratio(g):.2f}×", g_ratio(g) >= 0.9))
    mib = 1 << 20
    pop = res.get("e_populated") or []
    if pop:
        up = med([r["startup_s"] for r in pop]) * 1000
        targets.append((f"E: start-up ≤ 200 ms with {res['a_setup']['images']:,} images",
                        f"{up:.0f} ms", up <= 200))
    idle = res.get("e_idle") or []
    if idle:
        rss = med([r["rss"] for r in idle]) / mib
        targets.append(("E: RSS ≤ 50 MiB idle", f"{rss:.1f} MiB", rss <= 50))
    ul = (res.get("e_under_load") or {}).get("hwm")
    if ul:
        targets.append(("E: peak RSS ≤ 200 MiB under load A", f"{ul / mib:.1f} MiB", ul / mib <= 200))
    w("## Targets\n")
    w("PASS/FAIL is judged on the median over the runs, in this run, on this machine.\n")
    w("| target | measured (median) | result |\n|---|---|---|")
    for t, m_, ok in targets:
        w(f"| {t} | {m_} | **{'PASS' if ok else 'FAIL'}** |")
    w("")

    # ---------------- A
    w(f"## A. Describe ({res['a_setup']['images']:,} private images, "
      f"{res['a_setup']['instances']:,} instances)\n")
    w("| call | clients | Kiln ops/s | Kiln p50 ms | Kiln p99 ms | Kiln server CPU / other load | spread (ops/s) | "
      "moto ops/s | moto p50 ms | moto p99 ms | ratio Kiln/moto |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for op, lab in (("image", "describeImage by id"), ("images", "describeImages, page of 100"),
                    ("instances", "describeInstances, page of 100")):
        for c in (1, 8):
            k = pick(ak, op=op, concurrency=c)
            m_ = pick(am, op=op, concurrency=c)
            ko, mo = ops(ak, op, c), ops(am, op, c)
            ratio = f"{ko['median'] / mo['median']:,.0f}×" if ko and mo and mo["median"] else "– (no peer)"
            w(f"| {lab} | {c} | {fm(ko, 0)} | {fm(lat(k, 'latency', 'p50_ms'), 3)} | "
              f"{fm(lat(k, 'latency', 'p99_ms'), 3)} | {f(med([r['server_cpu_pct'] for r in k]), 0)}% / "
              f"{f(med([r.get('other_cpu_pct') for r in k]), 0)}% | "
              f"{f(ko['spread_pct'], 0) if ko else '–'}% | "
              f"{fm(mo, 2) if mo else '–'} | {fm(lat(m_, 'latency', 'p50_ms'), 1) if m_ else '–'} | "
              f"{fm(lat(m_, 'latency', 'p99_ms'), 1) if m_ else '–'} | {ratio} |")
    errs = sum(r.get("errors", 0) for r in ak)
    merrs = sum(r.get("errors", 0) for r in am)
    w(f"\nErrors: Kiln {errs}, moto {merrs}. Responses checked (first answer of each client "
      f"carries the asked image / a full page): Kiln {all(r.get('validated') for r in ak)}, "
      f"moto {all(r.get('validated') for r in am)}.\n")
    sa = res["a_setup"]
    pop = sa["populate"]
    mp = res.get("moto_populate", {})
    w("Set-up (once per benchmark, not repeated):\n")
    w(f"- Kiln: {sa['instances']:,} instances (cloud system disk, createInstances ×100 per call) "
      f"running in {sa['instances_s']:.1f} s; {sa['images']:,} private images populated through "
      f"the API (createImage → `ready`, {p['populate_clients']} clients round-robin over the "
      f"instances) in **{pop['elapsed_s']:.1f} s ({pop['images_per_s']:.0f} images/s)**, "
      f"accepted p50/p99 {pop['accepted'].get('p50_ms', 0):.2f}/{pop['accepted'].get('p99_ms', 0):.2f} ms, "
      f"errors {pop.get('errors', 0)}.")
    if mp:
        w(f"- moto: {mp['images']:,} images made with CreateImage (8 boto3 threads) in "
          f"{mp['seconds']:.1f} s ({mp['images_per_s']:.0f} images/s).\n")

    # ---------------- B
    w("## B. createImage (system disk + 3 data disks, `--task-delay 0s`)\n")
    w("| server | clients | accepted p50 ms | accepted p99 ms | ready p50 ms | ready p99 ms | "
      "images/s reaching ready | images per run | server CPU / other load |")
    w("|---|---|---|---|---|---|---|---|---|")
    rate = next((r["rate"] for r in open_loop(bk)), None)
    shapes = [(c, closed(bk, c), closed(bm, c), str(c)) for c in (1, p["b_clients"])]
    if rate:
        shapes.append((p["b_clients"], open_loop(bk), open_loop(bm),
                       f"{p['b_clients']}, offered {f(rate, 0)}/s"))
    for _, k, _, label in shapes:
        w(f"| Kiln | {label} | {fm(lat(k, 'accepted', 'p50_ms'), 2)} | {fm(lat(k, 'accepted', 'p99_ms'), 2)} | "
          f"{fm(lat(k, 'ready', 'p50_ms'), 1)} | {fm(lat(k, 'ready', 'p99_ms'), 1)} | "
          f"{fm(agg([r['images_per_s'] for r in k]), 0)} | {f(med([r['images_ready'] for r in k]), 0)} | "
          f"{f(med([r['server_cpu_pct'] for r in k]), 0)}% / {f(med([r.get('other_cpu_pct') for r in k]), 0)}% |")
    for _, _, m_, label in shapes:
        w(f"| moto | {label} | {fm(lat(m_, 'accepted', 'p50_ms'), 1)} | {fm(lat(m_, 'accepted', 'p99_ms'), 1)} | "
          f"= accepted | = accepted | {fm(agg([r['images_per_s'] for r in m_]), 0)} | "
          f"{f(med([r['images_ready'] for r in m_]), 0)} | {f(med([r['server_cpu_pct'] for r in m_]), 0)}% / "
          f"{f(med([r.get('other_cpu_pct') for r in m_]), 0)}% |")
    for _, k_rows, m_rows, label in shapes:
        k = agg([r["images_per_s"] for r in k_rows])
        m_ = agg([r["images_per_s"] for r in m_rows])
        kp = lat(k_rows, "accepted", "p50_ms")
        mp_ = lat(m_rows, "accepted", "p50_ms")
        if k and m_ and m_["median"] and kp and mp_:
            w(f"\nRatio Kiln/moto, {label} (clients): images/s {k['median'] / m_['median']:.1f}×; "
              f"accepted p50 {mp_['median'] / max(1e-9, kp['median']):.1f}× faster.")
    berr = sum(r.get("errors", 0) + r.get("failed_images", 0) for r in bk)
    w(f"\nErrors: Kiln {berr}, moto {sum(r.get('errors', 0) for r in bm)}. Each Kiln image "
      "freezes 4 disks (4 snapshots); the disks' layer chains grow by one per image over the runs.\n")

    # ---------------- C
    w("## C. Time to `ready` against disk size\n")
    w("| shape | virtual size (4 disks) | data written | createImage accepted ms | time to ready ms | spread |")
    w("|---|---|---|---|---|---|")
    for k, lab in (("small", "system 40 GiB + 3 × 20 GiB"), ("large", "system 500 GiB + 3 × 2050 GiB")):
        rows = [r for r in c_rows if r["shape"] == k]
        ready = agg([r["ready"].get("p50_ms") for r in rows])
        acc = agg([r["accepted"].get("p50_ms") for r in rows])
        vg = rows[0]["virtual_gib"] if rows else 0
        w(f"| {lab} | {vg:,.0f} GiB | 4 × {p['c_write_mib']} MiB | {fm(acc, 2)} | {fm(ready, 2)} | "
          f"{f(ready['spread_pct'], 0) if ready else '–'}% |")
    if rs and rl:
        w(f"\nready(2 TiB) / ready(20 GiB) = **{rl['median'] / rs['median']:.2f}** (system disks "
          "are capped at 500 GiB by the API, so the large shape is 500 GiB + 3 × 2050 GiB).\n")

    # ---------------- D
    d = res.get("d", [])
    w("## D. localDisk image (full copy) vs `qemu-img convert`\n")
    if d:
        ka = agg([r["kiln_ready_s"] for r in d])
        ca = agg([r["convert_s"] for r in d])
        kt = agg([r["kiln_mib_s"] for r in d])
        ct = agg([r["convert_mib_s"] for r in d])
        alloc = med([r["chain_allocated"] for r in d]) / (1 << 20)
        w("| | time s | throughput MiB/s | bytes stored MiB |\n|---|---|---|---|")
        w(f"| Kiln createImage → ready | {fm(ka, 3)} | {fm(kt, 0)} | "
          f"{f(med([r['kiln_stored'] for r in d]) / (1 << 20), 1)} |")
        w(f"| qemu-img convert (same chain) | {fm(ca, 3)} | {fm(ct, 0)} | "
          f"{f(med([r['convert_stored'] for r in d]) / (1 << 20), 1)} |")
        w(f"\nAllocated guest data in the chain: {alloc:.1f} MiB (virtual size 40 GiB; chain depth "
          f"{d[0]['chain_depth']}–{d[-1]['chain_depth']} layers; {len(d)} pairs, taking turns "
          f"going first). Throughput ratio Kiln / qemu-img convert, median of the pairs' ratios = "
          f"**{d_ratio(d):.2f}** (pairs {', '.join(f'{x:.2f}' for x in d_ratios(d))}; ratio of "
          f"the medians {kt['median'] / ct['median']:.2f}); bytes stored / bytes allocated = "
          f"**{med([r['kiln_stored'] for r in d]) / med([r['chain_allocated'] for r in d]):.3f}** "
          f"(Kiln), {med([r['convert_stored'] for r in d]) / med([r['chain_allocated'] for r in d]):.3f} "
          "(qemu-img convert).\n")

    # ---------------- E
    w("## E. Start-up time and memory\n")
    w("| state | start-up ms | RSS MiB | peak RSS (VmHWM) MiB |\n|---|---|---|---|")
    mib = 1 << 20
    for key, lab in (("e_idle", "empty data directory (idle)"),
                     ("e_populated", f"{res['a_setup']['images']:,} images, {res['a_setup']['instances']:,} instances (idle)")):
        rows = res.get(key, [])
        w(f"| {lab} | {fm(agg([r['startup_s'] for r in rows]), 1, 1000)} | "
          f"{fm(agg([r['rss'] for r in rows]), 1, 1 / mib)} | {fm(agg([r['hwm'] for r in rows]), 1, 1 / mib)} |")
    ul = res.get("e_under_load", {})
    w(f"| after load A (all runs) | – | {f((ul.get('rss') or 0) / mib, 1)} | {f((ul.get('hwm') or 0) / mib, 1)} |")
    w(f"\nFirst start on a new data directory (creates the database): "
      f"{res.get('a_first_start_s', 0) * 1000:.0f} ms.\n")

    # ---------------- F, G, H
    if res.get("f") or res.get("f_skipped"):
        w(report_f(res, a))
    if res.get("g"):
        w(report_g(res, a))
    if res.get("h"):
        w(report_h(res, a))
    if res.get("i"):
        w(report_i(res, a))

    # ---------------- per-run appendix
    w("## Per-run figures\n")
    w("<details><summary>A: every run</summary>\n")
    w("*requests before* = signed requests the server process had already verified when the "
      "run started (load generator's count, since the server's last start).\n")
    w("| server | run | call | clients | ops/s | p50 ms | p99 ms | max ms | errors | server CPU | other load | requests before |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in (("Kiln", ak), ("moto", am)):
        for r in rows:
            l_ = r["latency"]
            w(f"| {name} | {r['run']} | {r['op']} | {r['concurrency']} | {f(r['ops_per_s'], 1)} | "
              f"{f(l_.get('p50_ms'), 3)} | {f(l_.get('p99_ms'), 3)} | {f(l_.get('max_ms'), 2)} | "
              f"{r.get('errors', 0)} | {f(r['server_cpu_pct'], 0)}% | {f(r.get('other_cpu_pct'), 0)}% | "
              f"{r['requests_before'] if 'requests_before' in r else '–'} |")
    w("\n</details>\n")
    w("<details><summary>B: every run</summary>\n")
    w("| server | run | clients | images ready | images/s | accepted p50/p99 ms | ready p50/p99 ms | errors | server CPU | other load |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in (("Kiln", bk), ("moto", bm)):
        for r in rows:
            rd = r.get("ready", r["accepted"])
            c = f"{r['concurrency']}" + (f" at {f(r['rate'], 0)}/s" if r.get("rate") else "")
            w(f"| {name} | {r['run']} | {c} | {r['images_ready']} | {f(r['images_per_s'], 0)} | "
              f"{f(r['accepted'].get('p50_ms'), 2)}/{f(r['accepted'].get('p99_ms'), 2)} | "
              f"{f(rd.get('p50_ms'), 1)}/{f(rd.get('p99_ms'), 1)} | {r.get('errors', 0)} | "
              f"{f(r['server_cpu_pct'], 0)}% | {f(r.get('other_cpu_pct'), 0)}% |")
    w("\n</details>\n")
    return "\n".join(L) + "\n"


def add_run_args(ap):
    """The arguments every driver of these scenarios takes (bench.py, compare.py)."""
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--venv-bin", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--json-out", required=True)
    ap.add_argument("--no-pin", dest="pin", action="store_false")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=list(PROFILES), default="full")
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--kiln", required=True)
    add_run_args(ap)
    ap.add_argument("--check", action="store_true",
                    help="fail unless every scenario ran and produced its figures")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the report from --json-out without running")
    ap.add_argument("--only", default="",
                    help="run only these scenarios (F, G, H, I; comma-separated); their results are "
                         "merged into --json-out and their sections replaced in --out, the rest kept")
    ap.add_argument("--with-f", action="store_true",
                    help="run scenario F after A–E (PostgreSQL on KILN_TEST_PG_URL)")
    a = ap.parse_args()
    a.only = [x.strip().upper() for x in a.only.split(",") if x.strip()]
    if set(a.only) - set(ONLY):
        sys.exit(f"bench: --only supports {', '.join(ONLY)}, not {','.join(sorted(set(a.only) - set(ONLY)))}")
    if a.only:
        return main_only(a)
    a.moto_load = os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto_load.py")
    if a.report_only:
        res = json.load(open(a.json_out))
    else:
        if os.path.exists(a.workdir):
            shutil.rmtree(a.workdir)
        res = Bench(a).run()
        json.dump(res, open(a.json_out, "w"), indent=1)
        shutil.rmtree(a.workdir, ignore_errors=True)
    v = versions(a)
    res["versions"] = v
    write_keeping_compare(a.out, report(res, a, v))
    json.dump(res, open(a.json_out, "w"), indent=1)
    log(f"wrote {a.out} and {a.json_out} ({res['runtime_s'] / 60:.1f} min)")
    if a.check:
        missing = check_complete(res) + check_g(res) + check_h(res) + check_i(res)
        if a.with_f:
            missing += check_f(res)
        if missing:
            for m in missing:
                log(f"!! {m}")
            sys.exit(f"bench: {len(missing)} scenario figure(s) missing")
        log("every scenario ran and produced its figures")


def write_keeping_compare(path, text):
    """Writes the report, carrying over bench-compare's section from the file it replaces."""
    if os.path.exists(path):
        old = open(path).read()
        if COMPARE_START in old and COMPARE_END in old:
            kept = COMPARE_START + old.split(COMPARE_START, 1)[1].split(COMPARE_END, 1)[0] + COMPARE_END
            text = text.rstrip("\n") + "\n\n" + kept + "\n"
    open(path, "w").write(text)


def main_only(a):
    """--only F,G,H: runs those scenarios alone, merges their figures into the JSON of this
    mode and replaces their sections of --out in place (or writes a file with those
    sections alone if --out does not exist)."""
    prev = {}
    if os.path.exists(a.json_out):
        try:
            prev = json.load(open(a.json_out))
        except ValueError:
            prev = {}
    if not a.report_only:
        if os.path.exists(a.workdir):
            shutil.rmtree(a.workdir)
        res = Bench(a).run()
        shutil.rmtree(a.workdir, ignore_errors=True)
        for x in a.only:
            for k in ONLY[x][0]:
                prev[k] = res.get(k)
        if "F" in a.only:
            prev.pop("f_skipped", None)
        json.dump(prev, open(a.json_out, "w"), indent=1)
    res = prev
    text = open(a.out).read() if os.path.exists(a.out) else "# Kiln benchmarks\n\n"
    for x in sorted(a.only):
        text = splice_section(text, x, ONLY[x][1](res, a))
    open(a.out, "w").write(text)
    log(f"wrote section(s) {','.join(sorted(a.only))} of {a.out} and merged {a.json_out}")
    if a.check:
        missing = [m for x in sorted(a.only) for m in ONLY[x][2](res)]
        if missing:
            for m in missing:
                log(f"!! {m}")
            sys.exit(f"bench: {len(missing)} scenario figure(s) missing")
        log(f"scenario(s) {','.join(sorted(a.only))} ran and produced their figures")


def check_f(res):
    missing = []
    rows = res.get("f") or []
    if not rows:
        return ["F: did not run" + (f" ({res['f_skipped']})" if res.get("f_skipped") else "")]
    b_clients = (res.get("f_meta") or {}).get("b_clients")
    for key, _, _, n in Bench.F_SETUPS:
        for op in ("image", "images"):
            for c in (1, 8):
                got = [r for r in rows if r.get("setup") == key and r.get("kind") == "a"
                       and r.get("op") == op and r.get("concurrency") == c]
                if not got:
                    missing.append(f"F: {key} {op} c={c} did not run")
                for r in got:
                    if not (_num(r.get("ops_per_s")) and r["ops_per_s"] > 0):
                        missing.append(f"F: {key} {op} c={c} without figures")
                    if r.get("errors"):
                        missing.append(f"F: {key} {op} c={c} had errors: {r.get('first_error')}")
                    if r.get("addrs") != n:
                        missing.append(f"F: {key} {op} c={c} ran against {r.get('addrs')} node(s), not {n}")
        for c in (1, b_clients):
            got = [r for r in rows if r.get("setup") == key and r.get("kind") == "b" and r.get("concurrency") == c]
            if not got:
                missing.append(f"F: {key} createImage c={c} did not run")
            for r in got:
                if not (_num(r.get("images_per_s")) and r["images_per_s"] > 0):
                    missing.append(f"F: {key} createImage c={c} without figures")
                if r.get("errors") or r.get("failed_images"):
                    missing.append(f"F: {key} createImage c={c} had errors: {r.get('first_error')}")
    return missing


def _num(x):
    return isinstance(x, (int, float)) and x == x and x not in (float("inf"), float("-inf"))


def check_complete(res):
    """What a run failed to produce: every scenario must have run (each call and client
    count, Kiln and moto) with numbers and no errors. Never looks at how fast anything
    was."""
    missing = []

    def need(cond, what):
        if not cond:
            missing.append(what)

    for key in ("e_idle", "e_populated"):
        rows = res.get(key) or []
        need(rows, f"E: no runs in {key}")
        for r in rows:
            need(_num(r.get("startup_s")) and _num(r.get("rss")), f"E: {key} run without figures: {r}")
    need(_num((res.get("e_under_load") or {}).get("hwm")), "E: no peak RSS under load A")
    need((res.get("a_setup") or {}).get("images", 0) > 0, "A: no images populated")
    for server, ops in (("a_kiln", ("image", "images", "instances")), ("a_moto", ("image", "images"))):
        rows = res.get(server) or []
        for op in ops:
            for c in (1, 8):
                got = [r for r in rows if r.get("op") == op and r.get("concurrency") == c]
                need(got, f"A: {server} {op} c={c} did not run")
                for r in got:
                    need(_num(r.get("ops_per_s")) and r["ops_per_s"] > 0
                         and _num((r.get("latency") or {}).get("p99_ms")),
                         f"A: {server} {op} c={c} without figures")
                    need(not r.get("errors"), f"A: {server} {op} c={c} had errors: {r.get('first_error')}")
    for server in ("b_kiln", "b_moto"):
        rows = res.get(server) or []
        need(len({r.get("concurrency") for r in rows}) == 2, f"B: {server} did not run with 1 and N clients")
        need(bool(open_loop(rows)), f"B: {server} did not run at a fixed offered rate")
        for r in rows:
            need(_num(r.get("images_per_s")) and r["images_per_s"] > 0
                 and _num((r.get("accepted") or {}).get("p99_ms")),
                 f"B: {server} c={r.get('concurrency')} without figures")
            need(not r.get("errors") and not r.get("failed_images"),
                 f"B: {server} c={r.get('concurrency')} had errors: {r.get('first_error')}")
    rows = res.get("c") or []
    need({r.get("shape") for r in rows} == {"small", "large"}, "C: both shapes must run")
    for r in rows:
        need(_num((r.get("ready") or {}).get("p50_ms")) and not r.get("errors"),
             f"C: {r.get('shape')} without a time to ready")
    rows = res.get("d") or []
    need(rows, "D: did not run")
    for r in rows:
        need(all(_num(r.get(k)) and r[k] > 0 for k in ("kiln_ready_s", "convert_s", "kiln_stored",
                                                        "chain_allocated")) and not r.get("errors"),
             f"D: run without figures: {r}")
    return missing


if __name__ == "__main__":
    main()
