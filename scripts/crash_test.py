#!/usr/bin/env python3
"""Kiln crash test (run through `scripts/crash-test`).

Each trial owns a temporary directory with a Kiln data directory and runs several rounds on
it (state builds up from round to round):

  1. start `kiln serve --no-auth` on a free loopback port with random --transition-delay
     (0-200ms) and --task-delay (0-300ms);
  2. run a random mix of operations from several threads: createInstances (cloud and local
     system disks, data disks blank or from snapshots, from public or private images),
     writes of known byte patterns into disks with qemu-io (path from `kiln admin
     disk-path`), createSnapshot, createDisks (blank / from snapshot), attach/detach,
     createImage (plain, dataDisks excluding, replacing, inserting blank or from a snapshot),
     stop/start/reboot, deleteImage (deleteSnapshot true/false), deleteDisk, deleteSnapshot,
     deleteInstance, importImage from generated qcow2/raw files, exportImage, copyImages
     (to this region and another), convertImage (localDisk image to cloudDisk);
  3. SIGKILL the server at a random moment (uniform in [0, --max-kill-at] seconds);
  4. restart it on the same data directory and wait (bounded) until nothing is in flight;
  5. check the invariants, through the API and, with the server stopped, through a read-only
     look at <data>/kiln.db, the layer files and `kiln admin fsck`.

With faults on (every trial by default; `--faults off` for none, `--faults auto` for about
half), the server runs qemu-img through a generated wrapper that fails (exit 1) or stalls
before exec'ing the real qemu-img, with probability --fault-rate per run.

With storage-full faults on (every trial by default when run as root; `--storage-full off` for
none), the trial's data directory and export directory live on a tmpfs of their own, sized
after the first start to what the catalog uses plus --full-headroom, and a ballast file
fills that filesystem to the last byte for 0.2-0.8 s at random moments of the mix: every
write meets ENOSPC (qemu-img, downloads, the SQLite database and its WAL).

Invariants (each violation is reported with the trial's seed and round):
  I1  every private image is `ready` or `error`; a ready image's data is the data its source
      held when createImage was sent (cloudDisk: each snapshot of the mapping; localDisk: the
      image layer; importImage: the source file); the same for createSnapshot snapshots,
      exported files and every live disk (its top layer, through its backing chain). Only
      bytes known for sure are compared: no write races with a freeze (a lock orders them)
      and a failed write makes its bytes unknown.
  I2  nothing of an `error` image is left: no snapshot named `<imageId>-vd*` or made for it,
      no image layer.
  I3  the `*.qcow2` files in <data>/layers are exactly the `layers` rows; every layer row is
      referenced (disks.top_layer_id, snapshots.layer_id, images.layer_id, layers.backing_id);
      every reference names a row; no other file lies in the layer directory.
  I4  quota usage equals live resources (vm describeQuotas instance/image, disk
      describeQuota disk/snapshot vs the describe* totalCount).
  I5  once no task is pending, no instance or disk is busy (task column) and no resource is in
      a transitional status; the server settles within --settle-timeout.
  I6  no task is `failed` unless a fault was injected (its error must then name the injected
      qemu-img failure, the qemu-img timeout, or, once the storage was filled, the full storage).
  plus: `kiln admin fsck` finds nothing; the server never answers 5xx (except, to a call made
  while the storage was full, 503 SERVICE UNAVAILABLE or 500 INSUFFICIENT_CAPACITY), never
  dies on its own, restarts after every kill and stops on SIGTERM.

Reproduce a trial with `--trial-seed S` (thread timing still varies from run to run).
"""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REGION = "cn-north-1"
AZ = "cn-north-1a"

# Disk data is tracked in a few 64 KiB slots (at 1 MiB, 2 MiB, ...; the public images keep
# their label in the first sector, below the first slot).
SLOTS = 6
SLOT_LEN = 64 << 10
ZERO = (0,) * SLOTS
UNKNOWN = (None,) * SLOTS


def slot_off(i):
    return (i + 1) << 20


TRANSITIONAL = {
    "instance": {"pending", "starting", "stopping", "rebooting", "deleting"},
    "disk": {"creating", "deleting", "extending", "restoring"},
    "attachment": {"attaching", "detaching"},
    "snapshot": {"creating", "deleting", "copying"},
    "image": {"pending", "deleting", "creating"},
    "image_task": {"pending", "running"},
}
IMAGE_SNAP_RE = re.compile(r"^(img-[A-Za-z0-9]+)-(vd[a-z]+)$")
INJECTED_MARK = "kiln-crash-test: injected qemu-img failure"
# What a task's error says when it met the full storage (qemu-img's ENOSPC, SQLite's own).
FULL_MARKS = ("No space left on device", "database or disk is full", "storage is full",
              "not enough capacity")
# The answers a call may get while the storage is full: "not now" and "does not fit".
FULL_ANSWERS = {(503, "SERVICE UNAVAILABLE"), (500, "INSUFFICIENT_CAPACITY")}
TIMEOUT_MARK = "no answer within"


def fmt_content(c):
    return "[" + " ".join("??" if v is None else "%02x" % v for v in c) + "]"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------------------------------
# HTTP client (urllib, no signing: the server runs with --no-auth)
# ------------------------------------------------------------------------------------------

class Transport(Exception):
    """No HTTP answer (connection refused/reset, timeout): the outcome is unknown."""


class Resp(object):
    def __init__(self, ok, status, result=None, error=None):
        self.ok, self.status, self.result, self.error = ok, status, result or {}, error or {}

    def msg(self):
        return "%s %s %s" % (self.status, self.error.get("status"), self.error.get("message"))


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, no proxy


class Api(object):
    def __init__(self, port):
        self.root = "http://127.0.0.1:%d" % port
        self.base = self.root + "/v1/regions/" + REGION

    def call(self, method, path, query=None, body=None, timeout=5.0):
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            try:
                with _OPENER.open(req, timeout=timeout) as r:
                    status, raw = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, raw = e.code, e.read()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise Transport("%s %s: %s" % (method, path, e))
        try:
            doc = json.loads(raw.decode() or "{}")
        except ValueError:
            return Resp(False, status, error={"status": "UNPARSABLE", "message": raw[:200]})
        if isinstance(doc, dict) and doc.get("error"):
            return Resp(False, status, error=doc["error"])
        if status >= 400:
            return Resp(False, status, error={"status": "HTTP", "message": str(doc)[:200]})
        return Resp(True, status, result=(doc.get("result") if isinstance(doc, dict) else None))

    def healthy(self):
        try:
            with _OPENER.open(self.root + "/healthz", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            return False

    def list_all(self, path, key, query=None):
        """Every item of a describe* list (all pages); raises Transport or RuntimeError."""
        out, page = [], 1
        while True:
            q = dict(query or {})
            q.update({"pageNumber": page, "pageSize": 100})
            r = self.call("GET", path, q)
            if not r.ok:
                raise RuntimeError("%s: %s" % (path, r.msg()))
            items = r.result.get(key) or []
            out.extend(items)
            total = r.result.get("totalCount", len(out))
            if not items or len(out) >= total:
                return out, total
            page += 1


# ------------------------------------------------------------------------------------------
# small concurrency helpers
# ------------------------------------------------------------------------------------------

class RWLock(object):
    """Writes into disks share it; freezes (createSnapshot, createImage) take it alone, so no
    write races with a freeze and the data each snapshot/image must hold is known."""

    def __init__(self):
        self.cond = threading.Condition()
        self.readers = 0
        self.writer = False
        self.waiting_writers = 0

    def acquire_read(self):
        with self.cond:
            while self.writer or self.waiting_writers:
                self.cond.wait()
            self.readers += 1

    def release_read(self):
        with self.cond:
            self.readers -= 1
            self.cond.notify_all()

    def acquire_write(self):
        with self.cond:
            self.waiting_writers += 1
            while self.writer or self.readers:
                self.cond.wait()
            self.waiting_writers -= 1
            self.writer = True

    def release_write(self):
        with self.cond:
            self.writer = False
            self.cond.notify_all()


# ------------------------------------------------------------------------------------------
# the server under test
# ------------------------------------------------------------------------------------------

class Server(object):
    def __init__(self, trial, args):
        self.trial = trial
        self.bin = trial.kiln_bin
        self.proc = None
        self.api = None
        self.starts = 0
        self.pgids = []
        self.port = None

    def start(self, wait=True, plain=False):
        t = self.trial
        self.starts += 1
        if t.db_url:
            # On PostgreSQL a node is known by its host and listener: restarting on the same
            # one lets it recognise the killed process as its own predecessor (as a service
            # manager restarting it would), instead of waiting out that "other node's" lease.
            if self.port is None:
                self.port = free_port()
            port = self.port
        else:
            port = free_port()
        log_path = t.dir / ("server-%d.log" % self.starts)
        cmd = [str(self.bin), "serve", "--no-auth", "--listen", "127.0.0.1:%d" % port,
               "--data-dir", str(t.data), "--transition-delay", "%dms" % t.transition_ms,
               "--task-delay", "%dms" % t.task_ms, "--file-root", str(t.dir)]
        if t.db_url:
            cmd += ["--database", t.db_url]
        if t.faults and not plain:
            cmd += ["--qemu-img", str(t.wrapper)]
            if t.qemu_timeout:
                cmd += ["--qemu-img-timeout", t.qemu_timeout]
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         cwd=str(t.dir))
        self.pgids.append(self.proc.pid)
        self.api = Api(port)
        t.log("start #%d pid %d port %d: %s" % (self.starts, self.proc.pid, port, " ".join(cmd[1:])))
        if not wait:
            return
        deadline = time.monotonic() + 20
        while not self.api.healthy():
            if self.proc.poll() is not None:
                raise StartError("exited with %s before becoming healthy:\n%s"
                                 % (self.proc.returncode, tail(log_path)))
            if time.monotonic() > deadline:
                raise StartError("not healthy after 20s:\n%s" % tail(log_path))
            time.sleep(0.02)
        t.log("start #%d healthy" % self.starts)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self, group=False):
        """SIGKILL the server process (with `group`, its whole process group, as a service
        manager or container runtime would); returns how many of its children (qemu-img
        runs) outlive it."""
        if group:
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        left = group_members(self.proc.pid)
        for pid in left:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            except OSError:
                cmd = "?"
            self.trial.log("  outlived the server: pid %d %s" % (pid, cmd[:300]))
        return len(left)

    def stop(self, timeout=15.0):
        """SIGTERM and wait; True if it stopped in time."""
        if not self.alive():
            return True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return False

    def cleanup(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        for pg in self.pgids:
            try:
                os.killpg(pg, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class StartError(Exception):
    pass


def group_members(pgid):
    """Live processes of a process group (from /proc)."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(p))
        except (OSError, ValueError, IndexError):
            pass
    return out


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# ------------------------------------------------------------------------------------------
# qemu-io helpers
# ------------------------------------------------------------------------------------------

def run(cmd, timeout=30):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(cmd, 124, stdout=e.stdout or "", stderr="timed out")


def verify_file(path, content):
    """Compare the known slots of a qcow2 file (read through its backing chain) with
    `content`. Returns a list of problems (empty when all match)."""
    cmds = []
    for i, v in enumerate(content):
        if v is not None:
            cmds += ["-c", "read -P 0x%02x %d %d" % (v, slot_off(i), SLOT_LEN)]
    if not cmds:
        return []
    p = run(["qemu-io", "-r", "-f", "qcow2"] + cmds + [str(path)])
    failed = [int(x) for x in re.findall(r"Pattern verification failed at offset (\d+)", p.stdout)]
    if p.returncode != 0 and not failed:
        return ["cannot read %s: rc=%d %s %s" % (path, p.returncode, p.stdout.strip()[-200:],
                                                   p.stderr.strip()[-300:])]
    problems = []
    for off in failed:
        slot = (off >> 20) - 1
        problems.append("slot %d (offset %#x): expected %#04x, found %s"
                        % (slot, off, content[slot], describe_slot(path, off, content[slot])))
    return problems


def describe_slot(path, off, expected):
    """What a mismatching slot holds: the bytes found, where the first difference is."""
    p = run(["qemu-io", "-r", "-f", "qcow2", "-c", "read -v %d %d" % (off, SLOT_LEN), str(path)])
    data = bytearray()
    for m in re.finditer(r"^[0-9a-f]{8}:\s+((?:[0-9a-f]{2} ){1,16})", p.stdout, re.M):
        data.extend(int(x, 16) for x in m.group(1).split())
    if len(data) != SLOT_LEN:
        return "(unreadable)"
    bad = [i for i, b in enumerate(data) if b != expected]
    values = sorted(set(data[i] for i in bad))
    return "%d differing byte(s) from +%#x, values %s" % (
        len(bad), bad[0], " ".join("%#04x" % v for v in values[:8]))


# ------------------------------------------------------------------------------------------
# one trial
# ------------------------------------------------------------------------------------------

class StorageFull(object):
    """ENOSPC on demand: the trial's `vol` directory on a tmpfs of its own, and a ballast file
    that fills it to the last byte for a moment, again and again while the mix runs."""

    def __init__(self, trial, wanted):
        self.t = trial
        self.enabled = False
        self.wanted = wanted
        self.why_not = None
        self.ballast = trial.vol / "ballast"
        self.mu = threading.Lock()
        self.active = False
        self.episodes = 0  # fills so far; a call that saw it change ran while full
        self.refused = 0  # calls answered 503/INSUFFICIENT_CAPACITY while full

    def mount(self):
        if not self.wanted:
            return
        if os.geteuid() != 0:
            self.why_not = "not root (a tmpfs needs mount)"
            return
        p = run(["mount", "-t", "tmpfs", "-o", "size=4g,mode=0755", "kiln-crash-full", str(self.t.vol)])
        if p.returncode != 0:
            self.why_not = "mount tmpfs: %s" % p.stderr.strip()
            return
        self.enabled = True

    def size_to_use(self):
        """After the first start: what the catalog uses plus the headroom, so that a fill
        allocates at most that much memory."""
        if not self.enabled:
            return
        st = os.statvfs(str(self.t.vol))
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        size_mb = (used >> 20) + self.t.opts.full_headroom
        p = run(["mount", "-o", "remount,size=%dm" % size_mb, str(self.t.vol)])
        if p.returncode != 0:
            raise RuntimeError("remount tmpfs: %s" % p.stderr.strip())
        self.t.log("storage: tmpfs of %d MiB (%d MiB used by the catalog)" % (size_mb, used >> 20))

    def unmount(self, keep):
        if not self.enabled:
            return
        self.release()
        if keep:  # the artifacts outlive the mount: copy them out first
            saved = self.t.dir / "vol.saved"
            shutil.copytree(str(self.t.vol), str(saved), symlinks=True, dirs_exist_ok=True)
        p = run(["umount", "-l", str(self.t.vol)])
        if p.returncode != 0:
            self.t.log("umount %s: %s" % (self.t.vol, p.stderr.strip()))
        self.enabled = False
        if keep:
            os.rmdir(str(self.t.vol))
            os.rename(str(self.t.dir / "vol.saved"), str(self.t.vol))

    def fill(self):
        """Allocates every free byte (chunks halving down to a page: Kiln writes meanwhile)."""
        fd = os.open(str(self.ballast), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            off, chunk = 0, 64 << 20
            while chunk >= 4096:
                try:
                    os.posix_fallocate(fd, off, chunk)
                    off += chunk
                except OSError:
                    chunk //= 4
            return off
        finally:
            os.close(fd)

    def release(self):
        try:
            os.unlink(str(self.ballast))
        except FileNotFoundError:
            pass
        with self.mu:
            self.active = False

    def run_during(self, stop_ev, rng):
        """The mix's storage-full thread: idle, fill, hold, release, until `stop_ev`."""
        try:
            while not stop_ev.wait(rng.uniform(0.05, 0.6)):
                with self.mu:
                    self.active = True
                    self.episodes += 1
                n = self.fill()
                hold = rng.uniform(0.2, 0.8)
                self.t.log("storage full: ballast of %d MiB for %.2fs" % (n >> 20, hold))
                stop_ev.wait(hold)
                self.release()
                self.t.log("storage free again")
        finally:
            self.release()

    def seen(self):
        """A mark to take before a call: `overlapped(mark)` after it says whether the storage
        was full at any moment of the call."""
        with self.mu:
            return (self.active, self.episodes)

    def overlapped(self, mark):
        with self.mu:
            return mark[0] or self.active or self.episodes != mark[1]


class Trial(object):
    def __init__(self, index, seed, opts, base_dir):
        self.index = index
        self.seed = seed
        self.opts = opts
        self.rng = random.Random(seed)
        self.kiln_bin = opts.kiln_bin
        self.dir = Path(tempfile.mkdtemp(prefix="kiln-crash-%d-" % seed, dir=base_dir))
        # Where the server writes: its own tmpfs with storage-full faults (see StorageFull).
        self.vol = self.dir / "vol"
        self.vol.mkdir()
        self.data = self.vol / "data"
        # With --database postgres, a fresh database per trial, dropped at the end.
        self.db_name = None
        self.db_url = None
        if opts.database == "postgres":
            self.db_name = "kiln_crash_%d_%d" % (seed, os.getpid())
            admin = opts.pg_url
            pg_admin(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db_name)
            p = pg_admin(admin, "CREATE DATABASE %s" % self.db_name)
            if p.returncode != 0:
                raise RuntimeError("creating database %s: %s" % (self.db_name, p.stderr.strip()))
            self.db_url = admin.rsplit("/", 1)[0] + "/" + self.db_name
        self.export_dir = self.vol / "export"
        self.src_dir = self.dir / "src"
        self.src_dir.mkdir()
        self.log_path = self.dir / "trial.log"
        self.logf = open(self.log_path, "w")
        self.log_mu = threading.Lock()
        self.t0 = time.monotonic()
        # configuration drawn from the seed
        self.transition_ms = self.rng.randint(0, 200)
        self.task_ms = self.rng.randint(0, 300)
        # Drawn whatever the mode, so a seed draws the same configuration in every mode.
        drawn = self.rng.random() < 0.5
        self.faults = {"on": True, "off": False}.get(opts.faults, drawn)
        self.qemu_timeout = None
        if self.faults and self.rng.random() < 0.5:
            self.qemu_timeout = "1s"
        # Drawn last, so that a seed draws the configuration above as before.
        drawn = self.rng.random() < 0.5
        self.storage_full = StorageFull(self, {"on": True, "off": False}.get(opts.storage_full, drawn))
        self.rounds = opts.rounds
        self.wrapper = self.dir / "qemu-img-faulty"
        self.fault_ctl = self.dir / "fault-rate"
        self.fault_log = self.dir / "faults.log"
        # results
        self.violations = []  # (round, code, message)
        self._seen = set()
        self.kills = 0
        self.orphans = 0
        self.round = 0
        self.failed_tasks_seen = set()
        self.failed_tasks = 0
        self.compared = {}  # category -> [files compared, files whose data is unknown]
        self.ops = {}  # op name -> (attempted, succeeded)
        self.elapsed = 0.0
        self.freeze_lock = RWLock()
        self.server = Server(self, opts)
        self.model = Model(self)

    # -- bookkeeping --------------------------------------------------------------------

    def log(self, msg):
        with self.log_mu:
            if not self.logf.closed:
                self.logf.write("%8.3f %s\n" % (time.monotonic() - self.t0, msg))
                self.logf.flush()

    def count(self, name, res):
        with self.log_mu:
            a, s = self.ops.get(name, (0, 0))
            self.ops[name] = (a + 1, s + (1 if res is True else 0))

    def violation(self, code, msg):
        key = (code, msg)
        if key in self._seen:
            return
        self._seen.add(key)
        self.violations.append((self.round, code, msg))
        self.log("VIOLATION [%s] %s" % (code, msg))

    def fault_counts(self):
        fails = sleeps = 0
        try:
            with open(self.fault_log) as f:
                for line in f:
                    if line.startswith("fail"):
                        fails += 1
                    elif line.startswith("sleep"):
                        sleeps += 1
        except OSError:
            pass
        return fails, sleeps

    # -- set-up ---------------------------------------------------------------------------

    def write_wrapper(self):
        real = shutil.which("qemu-img")
        self.wrapper.write_text("""#!/bin/bash
# Generated by scripts/crash_test.py: qemu-img with injected faults. With probability
# RATE/1000 (RATE read from %(ctl)s) a run either fails at once or stalls 0.1-1.5s first.
rate=0
[ -r "%(ctl)s" ] && read -r rate < "%(ctl)s"
if [ "${rate:-0}" -gt 0 ] && [ $((RANDOM %% 1000)) -lt "$rate" ]; then
  if [ $((RANDOM %% 2)) -eq 0 ]; then
    echo "fail $$ $*" >> "%(log)s"
    echo "%(mark)s" >&2
    exit 1
  fi
  echo "sleep $$ $*" >> "%(log)s"
  sleep "$((RANDOM %% 2)).$((RANDOM %% 9 + 1))"
fi
exec "%(real)s" "$@"
""" % {"ctl": self.fault_ctl, "log": self.fault_log, "mark": INJECTED_MARK, "real": real})
        self.wrapper.chmod(0o755)
        self.fault_ctl.write_text("0\n")

    def make_sources(self):
        """Files for importImage: a qcow2 (1 GiB) and a raw (64 MiB) with known slots."""
        self.sources = []
        q = self.src_dir / "a.qcow2"
        content = tuple(self.rng.choice([0, self.rng.randint(1, 255)]) for _ in range(SLOTS))
        r = run(["qemu-img", "create", "-q", "-f", "qcow2", str(q), "1G"])
        if r.returncode != 0:
            raise RuntimeError("qemu-img create: %s" % r.stderr)
        cmds = []
        for i, v in enumerate(content):
            if v:
                cmds += ["-c", "write -P 0x%02x %d %d" % (v, slot_off(i), SLOT_LEN)]
        if cmds:
            r = run(["qemu-io", "-f", "qcow2"] + cmds + [str(q)])
            if r.returncode != 0:
                raise RuntimeError("qemu-io: %s" % r.stderr)
        self.sources.append(("qcow2", str(q), content))
        raw = self.src_dir / "b.raw"
        content = tuple(self.rng.randint(1, 255) for _ in range(SLOTS))
        with open(raw, "wb") as f:
            f.truncate(64 << 20)
            for i, v in enumerate(content):
                f.seek(slot_off(i))
                f.write(bytes([v]) * SLOT_LEN)
        self.sources.append(("raw", str(raw), content))

    # -- the trial ------------------------------------------------------------------------

    def run(self):
        started = time.monotonic()
        self.log("trial %d seed %d: transition %dms task %dms faults %s qemu-img-timeout %s rounds %d"
                 % (self.index, self.seed, self.transition_ms, self.task_ms, self.faults,
                    self.qemu_timeout, self.rounds))
        try:
            self.storage_full.mount()
            self.export_dir.mkdir()
            self.make_sources()
            if self.faults:
                self.write_wrapper()
            # First start: the public catalog is generated (with the real qemu-img, no
            # timeout: that start is not under test), then a clean stop.
            rounds = self.rounds
            try:
                self.server.start(plain=True)
                if not self.server.stop():
                    self.violation("stop", "server did not stop within 15s of SIGTERM")
                self.storage_full.size_to_use()
            except StartError as e:
                self.violation("restart", "server did not start on a fresh data directory: %s" % e)
                rounds = 0
            for r in range(1, rounds + 1):
                self.round = r
                if not self.one_round():
                    break
        except Exception:
            self.violation("harness", "crash test error: %s" % traceback.format_exc())
        finally:
            self.server.cleanup()
            keep = self.opts.keep == "always" or (self.opts.keep == "failed" and self.violations)
            self.storage_full.unmount(keep)
        self.elapsed = time.monotonic() - started
        self.logf.close()

    def one_round(self):
        """One start → mix → SIGKILL → restart → settle → check. False to end the trial."""
        srv = self.server
        try:
            srv.start()
        except StartError as e:
            self.violation("restart", "server did not start: %s" % e)
            return False
        if self.faults:
            self.fault_ctl.write_text("%d\n" % int(self.opts.fault_rate * 1000))
        kill_at = self.rng.uniform(0, self.opts.max_kill_at)
        self.log("round %d: mix, SIGKILL at %.3fs" % (self.round, kill_at))
        mix = Mix(self, srv.api, self.rng.randrange(1 << 30))
        mix.start()
        time.sleep(kill_at)
        if not srv.alive():
            self.violation("server-died", "server exited by itself (rc %s) during the mix:\n%s"
                           % (srv.proc.returncode, tail(self.dir / ("server-%d.log" % srv.starts))))
        else:
            orphans = srv.kill9(group=self.opts.kill_mode == "group")
            self.kills += 1
            self.orphans += orphans
            self.log("SIGKILL sent (%d child process(es) outlived it)" % orphans)
        mix.stop()
        if self.rng.random() < self.opts.recovery_kill:
            # A second crash during recovery (start-up sweep, resumed steps).
            srv.start(wait=False)
            time.sleep(self.rng.uniform(0.0, 0.15))
            if srv.alive():
                orphans = srv.kill9(group=self.opts.kill_mode == "group")
                self.kills += 1
                self.orphans += orphans
                self.log("SIGKILL during recovery (%d child process(es) outlived it)" % orphans)
            else:
                self.violation("server-died", "server exited by itself during start-up (rc %s):\n%s"
                               % (srv.proc.returncode, tail(self.dir / ("server-%d.log" % srv.starts))))
        try:
            srv.start()
        except StartError as e:
            self.violation("restart", "server did not restart after SIGKILL: %s" % e)
            return False
        settled = self.settle(srv.api)
        if not srv.alive():
            self.violation("server-died", "server exited by itself after restart:\n%s"
                           % tail(self.dir / ("server-%d.log" % srv.starts)))
            return False
        self.model.refresh(srv.api, final=True)
        Checker(self).api_checks(srv.api)
        if not srv.stop():
            self.violation("stop", "server did not stop within 15s of SIGTERM")
        Checker(self).offline_checks()
        return settled

    def settle(self, api):
        """Waits (bounded) until no resource is in a transitional status and no task is
        pending."""
        deadline = time.monotonic() + self.opts.settle_timeout
        last = None
        while time.monotonic() < deadline:
            try:
                busy = in_flight(api) + pending_tasks(self)
            except (Transport, RuntimeError, sqlite3.Error) as e:
                busy = ["(unreadable: %s)" % e]
            if not busy:
                self.log("settled")
                return True
            last = busy
            time.sleep(0.1)
        self.violation("I5-settle", "still in flight %.0fs after restart: %s"
                       % (self.opts.settle_timeout, "; ".join(last[:12])))
        return False


def in_flight(api):
    busy = []
    insts, _ = api.list_all("/instances", "instances")
    for i in insts:
        if i["status"] in TRANSITIONAL["instance"]:
            busy.append("instance %s %s" % (i["instanceId"], i["status"]))
    disks, _ = api.list_all("/disks", "disks")
    for d in disks:
        if d["status"] in TRANSITIONAL["disk"]:
            busy.append("disk %s %s" % (d["diskId"], d["status"]))
        for a in d.get("attachments") or []:
            if a["status"] in TRANSITIONAL["attachment"]:
                busy.append("attachment %s %s" % (d["diskId"], a["status"]))
    snaps, _ = api.list_all("/snapshots", "snapshots")
    for s in snaps:
        if s["status"] in TRANSITIONAL["snapshot"]:
            busy.append("snapshot %s %s" % (s["snapshotId"], s["status"]))
    imgs, _ = api.list_all("/images", "images", {"imageSource": "private"})
    for i in imgs:
        if i["status"] in TRANSITIONAL["image"]:
            busy.append("image %s %s" % (i["imageId"], i["status"]))
    return busy


class PgError(sqlite3.Error):
    """A PostgreSQL query failed (a subclass of sqlite3.Error so one `except` serves both)."""


class PgResult(object):
    def __init__(self, rows):
        self.rows = rows

    def fetchall(self):
        return self.rows


class PgCon(object):
    """The few read-only queries the checks make, through `psql` (no Python driver needed):
    each `?` is replaced by a quoted literal and rows come back as dicts via json_agg."""

    def __init__(self, url):
        self.url = url

    @staticmethod
    def literal(v):
        if v is None:
            return "NULL"
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, (int, float)):
            return str(v)
        return "'" + str(v).replace("'", "''") + "'"

    def execute(self, sql, args=()):
        parts = sql.split("?")
        if len(parts) - 1 != len(args):
            raise PgError("placeholder count mismatch in %r" % sql)
        text = parts[0] + "".join(self.literal(a) + rest for a, rest in zip(args, parts[1:]))
        wrapped = "SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t" % text
        p = subprocess.run(["psql", self.url, "-v", "ON_ERROR_STOP=1", "-qAtc", wrapped],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise PgError(p.stderr.strip()[-500:])
        return PgResult(json.loads(p.stdout or "[]"))

    def close(self):
        pass


def pg_admin(url, sql):
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                          capture_output=True, text=True, timeout=60)


def open_db(trial):
    if trial.db_url:
        return PgCon(trial.db_url)
    con = sqlite3.connect("file:%s?mode=ro" % (trial.data / "kiln.db"), uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    return con


def pending_tasks(trial):
    con = open_db(trial)
    try:
        rows = con.execute("SELECT id, kind, target_id, step FROM tasks WHERE state = 'pending'").fetchall()
        return ["task %s %s(%s) step %d pending" % (r["id"], r["kind"], r["target_id"], r["step"]) for r in rows]
    finally:
        con.close()


# ------------------------------------------------------------------------------------------
# what the test knows: the data each disk, snapshot and image must hold
# ------------------------------------------------------------------------------------------

class Model(object):
    """Shared by the mix threads and the checker; every field under `mu`.

    Disks are keyed by cloud disk id, or `local:<instanceId>:<device>` for local disks.
    Names given by the test are unique within a trial, so a create whose answer was lost to
    the SIGKILL is recognised by name after the restart."""

    def __init__(self, trial):
        self.trial = trial
        self.mu = threading.RLock()
        self.content = {}        # disk key -> content tuple
        self.disk_locks = {}
        self.inst_plan = {}      # instance name -> {device: content}
        self.disk_plan = {}      # createDisks name -> content
        self.snap_expect = {}    # createSnapshot name -> content
        self.image_expect = {}   # image name -> {"kind": create|import, ...}
        self.derived_expect = {} # image id (copyImages, convertImage) -> {device: content}
        self.image_names = {}    # image id -> name
        self.exports = []        # (image id, file path) of exportImage calls
        self.view = {"instances": {}, "disks": {}, "snapshots": {}, "images": {}}
        self.counter = 0

    def next_name(self, prefix):
        with self.mu:
            self.counter += 1
            return "%s%d" % (prefix, self.counter)

    def disk_lock(self, key):
        with self.mu:
            return self.disk_locks.setdefault(key, threading.Lock())

    # -- expectations ---------------------------------------------------------------------

    def snapshot_expectation(self, name, disk_id):
        with self.mu:
            if name in self.snap_expect:
                return self.snap_expect[name]
            m = IMAGE_SNAP_RE.match(name or "")
            if m and m.group(1) in self.derived_expect:
                return self.derived_expect[m.group(1)].get(m.group(2), UNKNOWN)
            if m:
                e = self.image_expect.get(self.image_names.get(m.group(1)))
                if e and e["kind"] == "create":
                    return e["record"].get(disk_id, UNKNOWN)
                if e and e["kind"] == "import":
                    return e["devices"].get(m.group(2), UNKNOWN)
            return UNKNOWN

    def image_device_plan(self, image):
        """{device: content} of the disks an instance launched from `image` (API json) gets."""
        plan = {}
        if image.get("imageSource") == "public":
            return {"vda": ZERO}
        e = self.image_expect.get(image.get("name"))
        devices = [image.get("systemDisk") or {}] + list(image.get("dataDisks") or [])
        for d in devices:
            dev = d.get("deviceName")
            if not dev:
                continue
            if d.get("diskCategory") == "local":
                if dev == "vda" and e and e["kind"] == "create":
                    plan[dev] = e["record"].get("local:%s:vda" % e["instance"], UNKNOWN)
                else:
                    plan[dev] = UNKNOWN
                continue
            sid = (d.get("cloudDisk") or {}).get("snapshotId") or ""
            if not sid:
                plan[dev] = ZERO
                continue
            s = self.view["snapshots"].get(sid)
            plan[dev] = self.snapshot_expectation(s["name"], s.get("diskId")) if s else UNKNOWN
        return plan

    # -- what the server shows ------------------------------------------------------------

    def refresh(self, api, final=False):
        """Lists everything; learns new disks (their initial data from the plans). With
        `final`, disks no plan explains become UNKNOWN and vanished ones are dropped."""
        insts, _ = api.list_all("/instances", "instances")
        disks, _ = api.list_all("/disks", "disks")
        snaps, _ = api.list_all("/snapshots", "snapshots")
        imgs, _ = api.list_all("/images", "images", {"imageSource": "private"})
        with self.mu:
            self.view = {
                "instances": {i["instanceId"]: i for i in insts},
                "disks": {d["diskId"]: d for d in disks},
                "snapshots": {s["snapshotId"]: s for s in snaps},
                "images": {i["imageId"]: i for i in imgs},
            }
            for i in imgs:
                self.image_names.setdefault(i["imageId"], i["name"])
            live = set()
            for i in insts:
                plan = self.inst_plan.get(i["instanceName"], {})
                for d in [i.get("systemDisk") or {}] + list(i.get("dataDisks") or []):
                    key = disk_key(i["instanceId"], d)
                    if key is None:
                        continue
                    live.add(key)
                    if key not in self.content and d.get("status") != "detaching":
                        if d.get("diskCategory") == "local" or key.startswith("vol-") and \
                                self.view["disks"].get(key, {}).get("name") == i["instanceName"]:
                            self.content[key] = plan.get(d["deviceName"], UNKNOWN)
            for d in disks:
                live.add(d["diskId"])
                if d["diskId"] not in self.content and d["name"] in self.disk_plan:
                    self.content[d["diskId"]] = self.disk_plan[d["name"]]
                elif d["diskId"] not in self.content and final:
                    self.trial.log("disk %s (%s) not explained by any plan: unknown data"
                                   % (d["diskId"], d["name"]))
                    self.content[d["diskId"]] = UNKNOWN
            if final:
                for k in list(self.content):
                    if k not in live:
                        del self.content[k]


def disk_key(instance_id, d):
    if d.get("diskCategory") == "local":
        return "local:%s:%s" % (instance_id, d.get("deviceName"))
    cd = d.get("cloudDisk") or {}
    return cd.get("diskId")


# ------------------------------------------------------------------------------------------
# the random mix of operations
# ------------------------------------------------------------------------------------------

class Mix(object):
    def __init__(self, trial, api, seed):
        self.trial = trial
        self.api = api
        self.model = trial.model
        self.seed = seed
        self.stop_ev = threading.Event()
        self.freeze = trial.freeze_lock
        self.threads = []

    def start(self):
        try:
            self.model.refresh(self.api)
        except (Transport, RuntimeError) as e:
            self.trial.log("initial refresh failed: %s" % e)
        t = threading.Thread(target=self.refresher, daemon=True)
        t.start()
        self.threads.append(t)
        for w in range(self.trial.opts.workers):
            t = threading.Thread(target=self.worker, args=(random.Random(self.seed + w),), daemon=True)
            t.start()
            self.threads.append(t)
        if self.trial.storage_full.enabled:
            t = threading.Thread(target=self.trial.storage_full.run_during,
                                 args=(self.stop_ev, random.Random(self.seed - 1)), daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self):
        self.stop_ev.set()
        deadline = time.monotonic() + 60
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
            if t.is_alive():
                self.trial.violation("harness", "a mix thread did not stop within 60s")

    def refresher(self):
        while not self.stop_ev.is_set():
            try:
                self.model.refresh(self.api)
            except (Transport, RuntimeError):
                pass
            self.stop_ev.wait(0.1)

    # -- op selection ---------------------------------------------------------------------

    def worker(self, rng):
        ops = [
            (self.op_write, 7), (self.op_create_instance, 3), (self.op_power, 2),
            (self.op_create_snapshot, 2), (self.op_create_disk, 2), (self.op_attach, 2),
            (self.op_detach, 1), (self.op_create_image, 4), (self.op_import, 1),
            (self.op_export, 0.5), (self.op_copy, 1), (self.op_convert, 1),
            (self.op_delete_image, 1), (self.op_delete_snapshot, 1),
            (self.op_delete_disk, 1), (self.op_delete_instance, 0.7),
        ]
        while not self.stop_ev.is_set():
            with self.model.mu:
                v = self.model.view
                n_inst, n_disk = len(v["instances"]), len(v["disks"])
                n_snap, n_img = len(v["snapshots"]), len(v["images"])
            weights = []
            for fn, w in ops:
                if fn == self.op_create_instance and n_inst >= 5:
                    w = 0
                if fn == self.op_delete_instance and n_inst >= 4:
                    w += 2
                if fn == self.op_delete_disk and n_disk > 12:
                    w += 2
                if fn == self.op_delete_snapshot and n_snap > 8:
                    w += 2
                if fn == self.op_delete_image and n_img > 5:
                    w += 2
                if fn in (self.op_create_image, self.op_import, self.op_copy, self.op_convert) \
                        and (n_img > 8 or n_snap > 11):
                    w = 0
                weights.append(w)
            fn = rng.choices([o[0] for o in ops], weights)[0]
            name = fn.__name__[3:]
            try:
                res = fn(rng)
            except Transport as e:
                res = "transport"
                self.trial.log("%s: no answer (%s)" % (name, e))
            except Exception:
                res = "error"
                self.trial.violation("harness", "op %s raised: %s" % (name, traceback.format_exc()))
            if res is None:
                continue  # nothing to act on
            self.trial.count(name, res)
            if res is not True:
                time.sleep(0.01)

    def call(self, op, method, path, query=None, body=None):
        full = self.trial.storage_full
        mark = full.seen()
        r = self.api.call(method, path, query, body)
        if r.status >= 500:
            status = (r.error or {}).get("status")
            if (r.status, status) in FULL_ANSWERS and full.overlapped(mark):
                with full.mu:
                    full.refused += 1
            else:
                self.trial.violation("5xx", "%s %s %s answered %s" % (op, method, path, r.msg()))
        self.trial.log("%s %s %s -> %s" % (op, method, path,
                                          "ok %s" % json.dumps(r.result)[:160] if r.ok else r.msg()))
        return r

    def pick(self, rng, items):
        items = list(items)
        return rng.choice(items) if items else None

    def snapshot_of_view(self):
        with self.model.mu:
            return self.model.view

    # -- operations (each returns True on success, False on a refusal, None if nothing to do)

    def op_write(self, rng):
        v = self.snapshot_of_view()
        cands = []
        for d in v["disks"].values():
            if d["status"] in ("available", "in-use"):
                cands.append((d["diskId"], d["diskId"], None))
        for i in v["instances"].values():
            if i["status"] not in ("running", "stopped"):
                continue
            for d in [i.get("systemDisk") or {}] + list(i.get("dataDisks") or []):
                if d.get("diskCategory") == "local":
                    cands.append(("local:%s:%s" % (i["instanceId"], d["deviceName"]),
                                  i["instanceId"], d["deviceName"]))
        with self.model.mu:
            cands = [c for c in cands if c[0] in self.model.content]
        c = self.pick(rng, cands)
        if c is None:
            return None
        key, ident, dev = c
        slot = rng.randrange(SLOTS)
        byte = rng.randint(1, 255)
        self.freeze.acquire_read()
        lock = self.model.disk_lock(key)
        lock.acquire()
        try:
            cmd = [str(self.trial.kiln_bin), "admin", "disk-path", "--data-dir", str(self.trial.data), ident]
            if dev:
                cmd.append(dev)
            p = run(cmd, timeout=20)
            path = p.stdout.strip().splitlines()[-1] if p.returncode == 0 and p.stdout.strip() else None
            if not path:
                self.trial.log("write %s: no path (%s)" % (key, p.stderr.strip()[-200:]))
                return False
            w = run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x%02x %d %d" % (byte, slot_off(slot), SLOT_LEN),
                     path], timeout=20)
            with self.model.mu:
                cur = self.model.content.get(key)
                if cur is not None:
                    new = list(cur)
                    new[slot] = byte if w.returncode == 0 else None
                    self.model.content[key] = tuple(new)
            self.trial.log("write %s slot %d = %#04x into %s: %s" % (
                key, slot, byte, os.path.basename(path),
                "ok" if w.returncode == 0 else "FAILED rc=%d %s" % (w.returncode, w.stderr.strip()[-200:])))
            return w.returncode == 0
        finally:
            lock.release()
            self.freeze.release_read()

    def op_create_instance(self, rng):
        v = self.snapshot_of_view()
        private = [i for i in v["images"].values() if i["status"] == "ready"]
        image = None
        if private and rng.random() < 0.5:
            image = rng.choice(private)
        if image is None:
            image = {"imageId": rng.choice(["img-ubuntu2204", "img-centos0708"]), "imageSource": "public"}
            sys_cat = rng.choice(["cloud", "local"])
        else:
            sys_cat = "local" if image.get("rootDeviceType") == "localDisk" else "cloud"
        with self.model.mu:
            plan = self.model.image_device_plan(image)
        itype = rng.choice(["g.n2.medium", "g.n2.large", "s.n2.xlarge"])
        used = set(plan)
        moved = None
        if itype == "s.n2.xlarge":
            # Its local data disk keeps vdb; an image disk recorded at vdb moves to the first
            # device left free once the launch's own disks are placed.
            moved = plan.get("vdb")
            plan["vdb"] = ZERO
            used.add("vdb")
        data = []
        snaps = [s for s in v["snapshots"].values() if s["status"] == "available"]
        for _ in range(rng.choice([0, 0, 1, 2])):
            dev = next(n for n in ("vd" + chr(c) for c in range(ord("b"), ord("z") + 1)) if n not in used)
            used.add(dev)
            spec = {"diskType": rng.choice(["ssd.gp1", "hdd.std1"]), "diskSizeGB": 20}
            content = ZERO
            s = self.pick(rng, snaps) if rng.random() < 0.5 else None
            if s is not None:
                spec["snapshotId"] = s["snapshotId"]
                spec["diskSizeGB"] = max(20, s.get("snapshotSizeGB") or 20)
                content = self.model.snapshot_expectation(s["name"], s.get("diskId"))
            data.append({"diskCategory": "cloud", "deviceName": dev, "autoDelete": rng.random() < 0.5,
                         "cloudDiskSpec": spec})
            plan[dev] = content
        if moved is not None:
            plan[next(n for n in ("vd" + chr(c) for c in range(ord("b"), ord("z") + 1)) if n not in used)] = moved
        name = self.model.next_name("ct-i")
        spec = {"az": AZ, "instanceType": itype, "imageId": image["imageId"], "name": name,
                "systemDisk": {"diskCategory": sys_cat}, "dataDisks": data}
        if sys_cat == "cloud":
            spec["systemDisk"]["autoDelete"] = rng.random() < 0.8
        with self.model.mu:
            self.model.inst_plan[name] = plan
        r = self.call("createInstances", "POST", "/instances", body={"instanceSpec": spec, "maxCount": 1})
        return r.ok

    def op_power(self, rng):
        v = self.snapshot_of_view()
        i = self.pick(rng, [i for i in v["instances"].values() if i["status"] in ("running", "stopped")])
        if i is None:
            return None
        if i["status"] == "stopped":
            action = "startInstance"
        else:
            action = "rebootInstance" if rng.random() < 0.2 else "stopInstance"
        return self.call(action, "POST", "/instances/%s:%s" % (i["instanceId"], action), body={}).ok

    def op_create_snapshot(self, rng):
        v = self.snapshot_of_view()
        d = self.pick(rng, [d for d in v["disks"].values() if d["status"] in ("available", "in-use")])
        if d is None:
            return None
        name = self.model.next_name("ct-s")
        self.freeze.acquire_write()
        try:
            with self.model.mu:
                self.model.snap_expect[name] = self.model.content.get(d["diskId"], UNKNOWN)
            self.trial.log("createSnapshot %s of %s expects %s" % (name, d["diskId"], fmt_content(self.model.snap_expect[name])))
            r = self.call("createSnapshot", "POST", "/snapshots",
                          body={"snapshotSpec": {"name": name, "diskId": d["diskId"]}})
            return r.ok
        finally:
            self.freeze.release_write()

    def op_create_disk(self, rng):
        v = self.snapshot_of_view()
        name = self.model.next_name("ct-d")
        spec = {"az": AZ, "name": name, "diskType": rng.choice(["ssd.gp1", "hdd.std1"]), "diskSizeGB": 20}
        content = ZERO
        snaps = [s for s in v["snapshots"].values() if s["status"] == "available"]
        if snaps and rng.random() < 0.6:
            s = rng.choice(snaps)
            spec["snapshotId"] = s["snapshotId"]
            spec["diskSizeGB"] = max(20, s.get("snapshotSizeGB") or 20)
            content = self.model.snapshot_expectation(s["name"], s.get("diskId"))
        with self.model.mu:
            self.model.disk_plan[name] = content
        r = self.call("createDisks", "POST", "/disks", body={"diskSpec": spec, "maxCount": 1})
        if r.ok:
            with self.model.mu:
                for did in r.result.get("diskIds") or []:
                    self.model.content.setdefault(did, content)
        return r.ok

    def op_attach(self, rng):
        v = self.snapshot_of_view()
        d = self.pick(rng, [d for d in v["disks"].values() if d["status"] == "available"])
        i = self.pick(rng, [i for i in v["instances"].values() if i["status"] in ("running", "stopped")])
        if d is None or i is None:
            return None
        return self.call("attachDisk", "POST", "/instances/%s:attachDisk" % i["instanceId"],
                         body={"diskId": d["diskId"], "autoDelete": rng.random() < 0.3}).ok

    def op_detach(self, rng):
        v = self.snapshot_of_view()
        cands = []
        for i in v["instances"].values():
            if i["status"] not in ("running", "stopped"):
                continue
            for d in i.get("dataDisks") or []:
                if d.get("diskCategory") == "cloud" and d.get("status") == "attached":
                    cands.append((i["instanceId"], d["cloudDisk"]["diskId"]))
            if i["status"] == "stopped" and rng.random() < 0.1:
                sd = i.get("systemDisk") or {}
                if sd.get("diskCategory") == "cloud":
                    cands.append((i["instanceId"], sd["cloudDisk"]["diskId"]))
        c = self.pick(rng, cands)
        if c is None:
            return None
        return self.call("detachDisk", "POST", "/instances/%s:detachDisk" % c[0], body={"diskId": c[1]}).ok

    def op_create_image(self, rng):
        v = self.snapshot_of_view()
        i = self.pick(rng, [i for i in v["instances"].values() if i["status"] in ("running", "stopped")])
        if i is None:
            return None
        iid = i["instanceId"]
        if i["status"] == "running" and (i.get("systemDisk") or {}).get("diskCategory") == "local":
            # A local system disk is imaged stopped (as Packer does): stop, wait (bounded).
            if not self.call("stopInstance", "POST", "/instances/%s:stopInstance" % iid, body={}).ok:
                return False
            deadline = time.monotonic() + 3
            while not self.stop_ev.is_set() and time.monotonic() < deadline:
                r = self.api.call("GET", "/instances/%s" % iid)
                if not r.ok or r.result["instance"]["status"] == "stopped":
                    break
                time.sleep(0.05)
            r = self.api.call("GET", "/instances/%s" % iid)
            if not r.ok or r.result["instance"]["status"] != "stopped":
                return False
            i = r.result["instance"]
        devs = [d for d in i.get("dataDisks") or [] if d.get("diskCategory") == "cloud"]
        used = {"vda"} | {d.get("deviceName") for d in i.get("dataDisks") or []}
        free = [n for n in ("vd" + chr(c) for c in range(ord("b"), ord("z") + 1)) if n not in used]
        data_disks = []
        variant = rng.choice(["plain", "plain", "exclude", "replace", "blank", "snapshot"])
        if variant == "exclude" and devs:
            data_disks.append({"deviceName": rng.choice(devs)["deviceName"], "noDevice": True})
        elif variant == "replace" and devs:
            d = rng.choice(devs)
            size = (d.get("cloudDisk") or {}).get("diskSizeGB") or 20
            data_disks.append({"deviceName": d["deviceName"], "diskCategory": "cloud",
                               "cloudDiskSpec": {"diskType": "hdd.std1", "diskSizeGB": size + rng.choice([0, 10])}})
        elif variant == "blank":
            data_disks.append({"deviceName": free[0], "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20},
                               "autoDelete": rng.random() < 0.5})
        elif variant == "snapshot":
            s = self.pick(rng, [s for s in v["snapshots"].values() if s["status"] == "available"])
            if s is not None:
                data_disks.append({"deviceName": free[0], "cloudDiskSpec": {"snapshotId": s["snapshotId"]}})
        name = self.model.next_name("ct-m")
        body = {"name": name}
        if data_disks:
            body["dataDisks"] = data_disks
        self.freeze.acquire_write()
        try:
            with self.model.mu:
                record = dict(self.model.content)
                self.model.image_expect[name] = {"kind": "create", "record": record, "instance": iid}
            r = self.call("createImage", "POST", "/instances/%s:createImage" % iid, body=body)
        finally:
            self.freeze.release_write()
        if r.ok:
            with self.model.mu:
                self.model.image_names[r.result["imageId"]] = name
        return r.ok

    def op_import(self, rng):
        fmt, path, content = rng.choice(self.trial.sources)
        name = self.model.next_name("ct-p")
        body = {"architecture": "x86_64", "osType": "linux", "platform": "Other Linux",
                "diskFormat": fmt, "systemDiskSizeGB": 40, "imageUrl": "file://" + path,
                "imageName": name}
        devices = {"vda": content}
        if rng.random() < 0.4:
            f2, p2, c2 = rng.choice(self.trial.sources)
            body["dataDisks"] = [{"diskFormat": f2, "dataDiskSizeGB": 20, "imageUrl": "file://" + p2}]
            devices["vdb"] = c2
        with self.model.mu:
            self.model.image_expect[name] = {"kind": "import", "devices": devices}
        r = self.call("importImage", "POST", "/images:import", body=body)
        if r.ok:
            with self.model.mu:
                self.model.image_names[r.result["imageId"]] = name
        return r.ok

    def op_export(self, rng):
        v = self.snapshot_of_view()
        img = self.pick(rng, [i for i in v["images"].values()
                              if i["status"] == "ready" and i.get("rootDeviceType") == "cloudDisk"])
        if img is None:
            return None
        prefix = self.model.next_name("x")
        with self.model.mu:
            content = self.model.image_device_plan(img).get("vda", UNKNOWN)
        r = self.call("exportImage", "POST", "/images/%s:exportImage" % img["imageId"],
                      body={"roleName": "kiln-crash-test", "ossUrl": "file://%s" % self.trial.export_dir,
                            "ossPrefix": prefix})
        with self.model.mu:
            self.model.exports.append((img["imageId"], str(self.trial.export_dir / ("%s%s.qcow2" % (prefix, img["imageId"]))),
                                       r.result.get("taskId") if r.ok else None, content))
        return r.ok

    def op_copy(self, rng):
        """copyImages of a ready private image, to this region or another (whose copies
        only the database-level checks see): each copy's disks hold the source's data."""
        v = self.snapshot_of_view()
        img = self.pick(rng, [i for i in v["images"].values() if i["status"] == "ready"])
        if img is None:
            return None
        with self.model.mu:
            devices = self.model.image_device_plan(img)
        dest = rng.choice([REGION, REGION, "cn-east-2"])
        r = self.call("copyImages", "POST", "/images:copyImages",
                      body={"sourceImageIds": [img["imageId"]], "destinationRegion": dest})
        if r.ok:
            with self.model.mu:
                for c in r.result.get("copyImages") or []:
                    self.model.derived_expect[c["destinationImageId"]] = dict(devices)
                    self.model.image_names[c["destinationImageId"]] = img["name"]
        return r.ok

    def op_convert(self, rng):
        """convertImage of a ready localDisk image: the new cloudDisk image's system disk
        holds the local system disk's data; its data disks are the source's snapshots."""
        v = self.snapshot_of_view()
        img = self.pick(rng, [i for i in v["images"].values()
                              if i["status"] == "ready" and i.get("rootDeviceType") == "localDisk"])
        if img is None:
            return None
        with self.model.mu:
            devices = self.model.image_device_plan(img)
        r = self.call("convertImage", "POST", "/images/%s:convertImage" % img["imageId"], body={})
        if r.ok:
            with self.model.mu:
                self.model.derived_expect[r.result["imageId"]] = dict(devices)
                self.model.image_names[r.result["imageId"]] = img["name"]
        return r.ok

    def op_delete_image(self, rng):
        v = self.snapshot_of_view()
        img = self.pick(rng, [i for i in v["images"].values() if i["status"] in ("ready", "error")])
        if img is None:
            return None
        ds = rng.choice(["true", "false"])
        return self.call("deleteImage", "DELETE", "/images/%s" % img["imageId"], query={"deleteSnapshot": ds}).ok

    def op_delete_snapshot(self, rng):
        v = self.snapshot_of_view()
        s = self.pick(rng, [s for s in v["snapshots"].values()
                            if s["status"] in ("available", "error_create", "error_delete")])
        if s is None:
            return None
        return self.call("deleteSnapshot", "DELETE", "/snapshots/%s" % s["snapshotId"]).ok

    def op_delete_disk(self, rng):
        v = self.snapshot_of_view()
        d = self.pick(rng, [d for d in v["disks"].values()
                            if d["status"] in ("available", "error_create", "error_delete")])
        if d is None:
            return None
        return self.call("deleteDisk", "DELETE", "/disks/%s" % d["diskId"]).ok

    def op_delete_instance(self, rng):
        v = self.snapshot_of_view()
        i = self.pick(rng, [i for i in v["instances"].values() if i["status"] in ("running", "stopped", "error")])
        if i is None:
            return None
        return self.call("deleteInstance", "DELETE", "/instances/%s" % i["instanceId"]).ok


# ------------------------------------------------------------------------------------------
# invariants
# ------------------------------------------------------------------------------------------

class Checker(object):
    def __init__(self, trial):
        self.t = trial
        self.model = trial.model

    def v(self, code, msg):
        self.t.violation(code, msg)

    # -- through the API, server up and settled -------------------------------------------

    def api_checks(self, api):
        try:
            insts, n_inst = api.list_all("/instances", "instances")
            disks, n_disk = api.list_all("/disks", "disks")
            snaps, n_snap = api.list_all("/snapshots", "snapshots")
            imgs, n_img = api.list_all("/images", "images", {"imageSource": "private"})
            vm = api.call("GET", "/quotas")
            dq = api.call("GET", "/quotas", {"type": "disk"})
            sq = api.call("GET", "/quotas", {"type": "snapshot"})
        except (Transport, RuntimeError) as e:
            self.v("api", "cannot list resources after restart: %s" % e)
            return
        for i in imgs:
            if i["status"] not in ("ready", "error"):
                self.v("I1-status", "image %s (%s) is '%s' after settling" % (i["imageId"], i["name"], i["status"]))
        for i in insts:
            if i["status"] in TRANSITIONAL["instance"]:
                self.v("I5-status", "instance %s is '%s' after settling" % (i["instanceId"], i["status"]))
        for d in disks:
            if d["status"] in TRANSITIONAL["disk"]:
                self.v("I5-status", "disk %s is '%s' after settling" % (d["diskId"], d["status"]))
        for s in snaps:
            if s["status"] in TRANSITIONAL["snapshot"]:
                self.v("I5-status", "snapshot %s is '%s' after settling" % (s["snapshotId"], s["status"]))
        # I2 through the API: an error image's snapshots are gone
        err_ids = {i["imageId"] for i in imgs if i["status"] == "error"}
        for s in snaps:
            m = IMAGE_SNAP_RE.match(s["name"])
            if m and m.group(1) in err_ids:
                self.v("I2-leftover", "snapshot %s (%s) of error image %s still exists"
                       % (s["snapshotId"], s["name"], m.group(1)))
        # I4 quotas
        if not (vm.ok and dq.ok and sq.ok):
            self.v("I4-quota", "quota calls failed: %s / %s / %s" % (vm.msg(), dq.msg(), sq.msg()))
            return
        used = {q["resourceType"]: q["used"] for q in vm.result.get("quotas") or []}
        for kind, live in (("instance", n_inst), ("image", n_img)):
            if used.get(kind) != live:
                self.v("I4-quota", "vm quota '%s' used %s but %d live" % (kind, used.get(kind), live))
        for kind, r, live in (("disk", dq, n_disk), ("snapshot", sq, n_snap)):
            u = (r.result.get("quota") or {}).get("used")
            if u != live:
                self.v("I4-quota", "disk quota '%s' used %s but %d live" % (kind, u, live))

    # -- with the server stopped ----------------------------------------------------------

    def offline_checks(self):
        t = self.t
        try:
            con = open_db(t)
        except sqlite3.Error as e:
            self.v("db", "cannot open the database read-only: %s" % e)
            return
        try:
            self.db_checks(con)
            self.data_checks(con)
        finally:
            con.close()
        self.fsck()

    def db_checks(self, con):
        t = self.t
        q = lambda sql, *a: con.execute(sql, a).fetchall()
        pending = q("SELECT id, kind, target_id, step FROM tasks WHERE state = 'pending'")
        for r in pending:
            self.v("I5-pending", "task %s %s(%s) still pending at step %d after settling"
                   % (r["id"], r["kind"], r["target_id"], r["step"]))
        if not pending:
            for r in q("SELECT id, status, task FROM instances WHERE task IS NOT NULL"):
                self.v("I5-busy", "instance %s (%s) busy in '%s' with no task pending" % (r["id"], r["status"], r["task"]))
            for r in q("SELECT id, category, status, task FROM disks WHERE task IS NOT NULL"):
                self.v("I5-busy", "%s disk %s (%s) busy in '%s' with no task pending"
                       % (r["category"], r["id"], r["status"], r["task"]))
            for table, kind in (("instances", "instance"), ("disks", "disk"), ("snapshots", "snapshot"),
                                ("images", "image")):
                for r in q("SELECT id, status FROM %s" % table):
                    if r["status"] in TRANSITIONAL[kind]:
                        self.v("I5-status", "%s %s is '%s' with no task pending" % (kind, r["id"], r["status"]))
            for r in q("SELECT disk_id, instance_id, status FROM attachments"):
                if r["status"] in TRANSITIONAL["attachment"]:
                    self.v("I5-status", "attachment %s/%s is '%s' with no task pending"
                           % (r["disk_id"], r["instance_id"], r["status"]))
            for r in q("SELECT id, action, status FROM image_tasks"):
                if r["status"] in TRANSITIONAL["image_task"]:
                    self.v("I5-status", "image task %s (%s) is '%s' with no task pending"
                           % (r["id"], r["action"], r["status"]))
        # I6 failed tasks
        fails, _ = t.fault_counts()
        for r in q("SELECT id, kind, target_id, step, error FROM tasks WHERE state = 'failed'"):
            if r["id"] in t.failed_tasks_seen:
                continue
            t.failed_tasks_seen.add(r["id"])
            err = r["error"] or ""
            t.failed_tasks += 1
            explained = (t.faults and ((fails and INJECTED_MARK in err) or TIMEOUT_MARK in err)) \
                or (t.storage_full.episodes and any(m in err for m in FULL_MARKS))
            t.log("failed task %s %s(%s) step %d: %s" % (r["id"], r["kind"], r["target_id"], r["step"], err))
            if not explained:
                self.v("I6-failed", "task %s %s(%s) failed at step %d without an injected fault: %s"
                       % (r["id"], r["kind"], r["target_id"], r["step"], err[:500]))
        # I3 layers
        rows = {r["id"]: r["backing_id"] for r in q("SELECT id, backing_id FROM layers")}
        refs = {}
        # A disk whose creation failed has no layer (NULL): it holds nothing.
        for r in q("SELECT id, top_layer_id FROM disks WHERE top_layer_id IS NOT NULL"):
            refs.setdefault(r["top_layer_id"], []).append("disk " + r["id"])
        for r in q("SELECT id, layer_id FROM snapshots WHERE layer_id IS NOT NULL"):
            refs.setdefault(r["layer_id"], []).append("snapshot " + r["id"])
        for r in q("SELECT id, layer_id FROM images WHERE layer_id IS NOT NULL"):
            refs.setdefault(r["layer_id"], []).append("image " + r["id"])
        for lid, b in rows.items():
            if b:
                refs.setdefault(b, []).append("layer " + lid)
        layer_dir = t.data / "layers"
        files, strays = set(), []
        for n in os.listdir(layer_dir):
            if n.endswith(".qcow2"):
                files.add(n[:-len(".qcow2")])
            else:
                strays.append(n)
        for lid in sorted(files - set(rows)):
            self.v("I3-layers", "file %s.qcow2 has no layer row" % lid)
        for lid in sorted(set(rows) - files):
            self.v("I3-layers", "layer %s has a row but no file (referenced by %s)" % (lid, refs.get(lid, "nothing")))
        for lid in sorted(set(rows) - set(refs)):
            self.v("I3-layers", "layer %s is referenced by nothing (leaked)" % lid)
        for lid in sorted(set(refs) - set(rows)):
            self.v("I3-layers", "layer %s is referenced by %s but has no row" % (lid, refs[lid]))
        for n in sorted(strays):
            self.v("I3-layers", "stray file %s in the layer directory" % n)
        # I2 error images leave nothing
        for r in q("SELECT id, name, layer_id FROM images WHERE status = 'error'"):
            if r["layer_id"]:
                self.v("I2-leftover", "error image %s still holds layer %s" % (r["id"], r["layer_id"]))
            for s in q("SELECT id, name FROM snapshots WHERE made_for_image = ? OR name LIKE ?",
                       r["id"], r["id"] + "-vd%"):
                self.v("I2-leftover", "error image %s left snapshot %s (%s)" % (r["id"], s["id"], s["name"]))
        # ready images hold their data
        for r in q("SELECT id, root_device_type, layer_id, snapshot_id, block_devices FROM images "
                   "WHERE status = 'ready' AND pin <> ''"):
            if r["root_device_type"] == "localDisk" and not r["layer_id"]:
                self.v("I1-hollow", "ready localDisk image %s has no layer" % r["id"])
            for d in json.loads(r["block_devices"] or "[]"):
                sid = d.get("snapshotId") or d.get("snapshot_id") or ""
                if not sid:
                    continue
                s = q("SELECT status, layer_id FROM snapshots WHERE id = ?", sid)
                if not s or s[0]["status"] != "available" or not s[0]["layer_id"]:
                    self.v("I1-hollow", "ready image %s device %s names snapshot %s which is %s"
                           % (r["id"], d.get("deviceName") or d.get("device_name"), sid,
                              "missing" if not s else "%s/layer %s" % (s[0]["status"], s[0]["layer_id"])))

    def data_checks(self, con):
        t, m = self.t, self.model
        q = lambda sql, *a: con.execute(sql, a).fetchall()
        layer_dir = t.data / "layers"
        counts = t.compared  # category -> [compared, unknown]

        def check(category, what, layer, content, path=None):
            c = counts.setdefault(category, [0, 0])
            if layer is None and path is None:
                return
            if all(x is None for x in content):
                c[1] += 1
                return
            c[0] += 1
            for p in verify_file(path or layer_dir / (layer + ".qcow2"), content):
                self.v("I1-data", "%s (%s): %s" % (what, path or "layer " + layer, p))

        with m.mu:
            snap_rows = q("SELECT id, name, disk_id, layer_id, status, made_for_image FROM snapshots")
            for r in snap_rows:
                if r["layer_id"] and r["status"] == "available":
                    cat = ("other-snapshot" if not r["made_for_image"] else
                           "import-snapshot" if not r["disk_id"] else "createImage-snapshot")
                    if r["name"] in m.snap_expect:
                        cat = "snapshot"
                    derived = IMAGE_SNAP_RE.match(r["name"] or "")
                    if derived and derived.group(1) in m.derived_expect:
                        cat = "copy-convert-snapshot"
                    check(cat, "snapshot %s (%s)" % (r["id"], r["name"]), r["layer_id"],
                          m.snapshot_expectation(r["name"], r["disk_id"]))
            for r in q("SELECT id, name, layer_id, instance_id FROM images "
                       "WHERE status = 'ready' AND root_device_type = 'localDisk' AND pin <> ''"):
                e = m.image_expect.get(r["name"])
                content = UNKNOWN
                if e and e["kind"] == "create":
                    content = e["record"].get("local:%s:vda" % e["instance"], UNKNOWN)
                check("localDisk-image", "localDisk image %s (%s)" % (r["id"], r["name"]), r["layer_id"], content)
            disks = q("SELECT d.id, d.category, d.top_layer_id, a.instance_id, a.device_name "
                      "FROM disks d LEFT JOIN attachments a ON a.disk_id = d.id")
            seen = set()
            for r in disks:
                if r["category"] == "local" and not r["instance_id"]:
                    self.v("I3-orphan", "local disk %s belongs to no instance" % r["id"])
                    continue
                key = r["id"] if r["category"] == "cloud" else "local:%s:%s" % (r["instance_id"], r["device_name"])
                if key in seen:
                    continue
                seen.add(key)
                content = m.content.get(key, UNKNOWN)
                check(r["category"] + "-disk", "%s disk %s" % (r["category"], key), r["top_layer_id"], content)
            # exports: a finished export holds the image's system disk data
            for image_id, path, task_id, content in m.exports:
                if not task_id:
                    continue
                it = q("SELECT status, error FROM image_tasks WHERE id = ?", task_id)
                if not it:
                    continue
                if it[0]["status"] == "finished":
                    if not os.path.exists(path):
                        self.v("export", "export task %s finished but %s does not exist" % (task_id, path))
                    else:
                        check("export", "exported file of image %s" % image_id, None, content, path=path)
                elif it[0]["status"] == "failed" and os.path.exists(path):
                    self.v("export", "export task %s failed but left %s" % (task_id, path))
        for n in os.listdir(t.export_dir):
            if n.endswith(".part"):
                self.v("export", "partial export file %s left behind" % n)
        t.log("data checks so far (compared, unknown): %s" % counts)

    def fsck(self):
        t = self.t
        p = run([str(t.kiln_bin), "admin", "fsck", "--data-dir", str(t.data)], timeout=60)
        if "unrecognized subcommand" in p.stderr or "unexpected argument" in p.stderr:
            return
        problems = [l for l in p.stdout.splitlines() if l.startswith("problem:")]
        for l in problems:
            self.v("fsck", l)
        if p.returncode != 0 and not problems:
            self.v("fsck", "kiln admin fsck exited %d: %s %s" % (p.returncode, p.stdout.strip()[-300:],
                                                               p.stderr.strip()[-300:]))


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(
        prog="scripts/crash-test",
        description="Kill Kiln with SIGKILL in the middle of random work, restart it and check that "
                    "nothing is lost, leaked or left busy.")
    ap.add_argument("trials", nargs="?", type=int, default=10, help="number of trials (default 10)")
    ap.add_argument("--seed", type=int, default=None, help="master seed (default: random; printed)")
    ap.add_argument("--trial-seed", type=int, action="append", default=[],
                    help="run only the trial with this seed (repeatable); N is then ignored")
    ap.add_argument("--rounds", type=int, default=3,
                    help="SIGKILL/restart rounds per trial on the same data directory (default 3)")
    ap.add_argument("--workers", type=int, default=6, help="concurrent client threads (default 6)")
    ap.add_argument("--faults", choices=["on", "off", "auto"], default="on",
                    help="qemu-img fault injection: on = every trial (default), off = none "
                         "(checks that nothing fails without a cause), auto = about half the "
                         "trials, drawn from the seed")
    ap.add_argument("--fault-rate", type=float, default=0.25,
                    help="probability that one qemu-img run fails or stalls (default 0.25)")
    ap.add_argument("--storage-full", choices=["on", "off", "auto"], default="on",
                    help="ENOSPC injection (root only): the data directory on a tmpfs of its own that "
                         "a ballast file fills to the last byte for 0.2-0.8s at random moments; on = "
                         "every trial (default), off = none, auto = about half the trials")
    ap.add_argument("--full-headroom", type=int, default=768,
                    help="MiB of the trial's tmpfs beyond what the catalog uses (default 768)")
    ap.add_argument("--max-kill-at", type=float, default=1.5,
                    help="SIGKILL uniformly within this many seconds of the mix (default 1.5)")
    ap.add_argument("--kill-mode", choices=["process", "group"], default="process",
                    help="SIGKILL the server process only (default; its qemu-img children live on, "
                         "as after `kill -9`), or its whole process group (as systemd or a container "
                         "runtime would)")
    ap.add_argument("--recovery-kill", type=float, default=0.3,
                    help="probability that the restart itself is SIGKILLed within 150ms, before it "
                         "is healthy (default 0.3)")
    ap.add_argument("--settle-timeout", type=float, default=30.0,
                    help="longest wait for nothing in flight after a restart (default 30s)")
    ap.add_argument("--keep", choices=["never", "failed", "always"], default="failed",
                    help="keep trial directories under --artifacts (default: failed ones)")
    ap.add_argument("--artifacts", default=str(REPO / "target" / "crash-test"),
                    help="where kept trial directories go (default target/crash-test)")
    ap.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite",
                    help="metadata backend: SQLite in the data directory (default) or a fresh "
                         "PostgreSQL database per trial on --pg-url")
    ap.add_argument("--pg-url", default=os.environ.get("KILN_TEST_PG_URL",
                                                       "postgres://postgres@127.0.0.1:5432/test"),
                    help="an existing database to create the trial databases from "
                         "(default $KILN_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/test)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every violation in full as found")
    opts = ap.parse_args()
    kb = Path(os.environ.get("KILN_BIN", "target/debug/kiln"))
    if not kb.is_absolute():
        kb = REPO / kb
    if not kb.is_file():
        print("kiln binary not found at %s (cargo build --bins, or set KILN_BIN)" % kb, file=sys.stderr)
        return 2
    opts.kiln_bin = kb

    def on_term(signum, frame):  # a CI timeout: stop the servers, remove the temp dirs
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(1 << 31)
    master = random.Random(seed)
    seeds = opts.trial_seed or [master.randrange(1 << 31) for _ in range(opts.trials)]
    print("kiln crash test: %d trial(s), seed %d, binary %s, database %s" % (len(seeds), seed, kb, opts.database))
    sys.stdout.flush()
    base = Path(tempfile.mkdtemp(prefix="kiln-crash-test-"))
    t_start = time.monotonic()
    totals = {"kills": 0, "fails": 0, "sleeps": 0, "failed_tasks": 0, "orphans": 0,
              "full_episodes": 0, "full_refused": 0, "full_unavailable": None}
    ops_total = {}
    compared_total = {}
    all_violations = []
    interrupted = False
    try:
        for n, s in enumerate(seeds, 1):
            t = Trial(n, s, opts, base)
            try:
                t.run()
            except KeyboardInterrupt:
                interrupted = True
                t.server.cleanup()
                t.elapsed = 0
            fails, sleeps = t.fault_counts()
            totals["kills"] += t.kills
            totals["fails"] += fails
            totals["sleeps"] += sleeps
            totals["failed_tasks"] += t.failed_tasks
            totals["orphans"] += t.orphans
            for k, (a, b) in t.compared.items():
                pa, pb = compared_total.get(k, (0, 0))
                compared_total[k] = (pa + a, pb + b)
            att = sum(a for a, _ in t.ops.values())
            ok = sum(b for _, b in t.ops.values())
            for k, (a, b) in t.ops.items():
                pa, pb = ops_total.get(k, (0, 0))
                ops_total[k] = (pa + a, pb + b)
            kept = ""
            if t.db_name and not (opts.keep == "always" or (opts.keep == "failed" and t.violations)):
                pg_admin(opts.pg_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % t.db_name)
            if opts.keep == "always" or (opts.keep == "failed" and t.violations):
                dest = Path(opts.artifacts) / ("seed-%d" % s)
                if dest.exists():
                    shutil.rmtree(dest, ignore_errors=True)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(t.dir), str(dest))
                kept = " kept in %s" % dest
            else:
                shutil.rmtree(t.dir, ignore_errors=True)
            full = t.storage_full
            totals["full_episodes"] += full.episodes
            totals["full_refused"] += full.refused
            if full.why_not:
                totals["full_unavailable"] = full.why_not
            print("trial %2d/%d seed=%-10d rounds=%d kills=%d faults=%s full=%s ops=%d/%d ok failed-tasks=%d "
                  "compared=%d violations=%d %.1fs [transition %dms, task %dms%s]%s"
                  % (n, len(seeds), s, t.round, t.kills,
                     ("%d fail/%d stall" % (fails, sleeps)) if t.faults else "off",
                     ("%d fills/%d refused" % (full.episodes, full.refused)) if full.episodes else "off",
                     ok, att, t.failed_tasks, sum(a for a, _ in t.compared.values()), len(t.violations), t.elapsed,
                     t.transition_ms, t.task_ms,
                     (", qemu-img timeout %s" % t.qemu_timeout) if t.qemu_timeout else "", kept))
            for (rnd, code, msg) in t.violations:
                all_violations.append((n, s, rnd, code, msg))
                first = msg.splitlines()[0] if not opts.verbose else msg
                print("    round %d [%s] %s" % (rnd, code, first[:300] if not opts.verbose else first))
            sys.stdout.flush()
            if interrupted:
                break
    finally:
        shutil.rmtree(base, ignore_errors=True)
    elapsed = time.monotonic() - t_start
    att = sum(a for a, _ in ops_total.values())
    ok = sum(b for _, b in ops_total.values())
    print()
    print("== summary (seed %d)" % seed)
    print("trials:                 %d" % len(seeds))
    print("SIGKILLs:               %d (children outliving the server: %d)" % (totals["kills"], totals["orphans"]))
    print("qemu-img faults:        %d failures, %d stalls injected; %d task(s) failed"
          % (totals["fails"], totals["sleeps"], totals["failed_tasks"]))
    print("storage full (ENOSPC):  %d fills; %d calls answered 503/INSUFFICIENT_CAPACITY meanwhile%s"
          % (totals["full_episodes"], totals["full_refused"],
             ("; unavailable: %s" % totals["full_unavailable"]) if totals["full_unavailable"] else ""))
    print("operations:             %d attempted, %d succeeded" % (att, ok))
    print("    " + ", ".join("%s %d/%d" % (k, b, a) for k, (a, b) in sorted(ops_total.items())))
    print("data comparisons:       %d files compared (%d with unknown data skipped)"
          % (sum(a for a, _ in compared_total.values()), sum(b for _, b in compared_total.values())))
    print("    " + ", ".join("%s %d" % (k, a) for k, (a, b) in sorted(compared_total.items())))
    print("invariant violations:   %d" % len(all_violations))
    by_code = {}
    for v in all_violations:
        by_code.setdefault(v[3], []).append(v)
    for code, vs in sorted(by_code.items()):
        print("  [%s] %d" % (code, len(vs)))
        for (n, s, rnd, _, msg) in vs[:20]:
            print("    trial %d (--trial-seed %d) round %d: %s" % (n, s, rnd, msg.splitlines()[0][:400]))
        if len(vs) > 20:
            print("    ... %d more" % (len(vs) - 20))
    print("elapsed:                %.1fs" % elapsed)
    if interrupted:
        return 130
    return 1 if all_violations else 0


if __name__ == "__main__":
    sys.exit(main())
