#!/usr/bin/env python3
"""Kiln multi-node fault test (run through `scripts/cluster-test`).

Starts N `kiln serve --no-auth` nodes on free loopback ports, all on one PostgreSQL database
(a fresh `kiln_cluster_<random>` on KILN_TEST_PG_URL, default
postgres://postgres@127.0.0.1:5432/test, dropped afterwards unless --keep) and one storage
root (--data-dir). Client threads spray requests round-robin over the nodes (createInstances
with cloud or local system disks, createDisks, createSnapshot, createImage, deletes); a
killer SIGKILLs a random node at random moments and restarts it. Afterwards, with the killer
stopped and the clients done, it waits until nothing is in flight, then checks:

  C1  every private image is `ready` or `error`; every disk, snapshot and instance is in a
      stable status (no creating/deleting/pending/stopping… and no busy task left);
  C2  no node ever answered 5xx;
  C3  `kiln admin fsck` on the shared data directory finds nothing wrong, after all nodes
      stopped and one node started alone once (its start-up sweep may remove the files of
      calls a killed node never committed; with other nodes live it leaves them alone).

Prints what it did and what it found; exit status 0 when no check failed.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

REGION = "cn-north-1"
AZ = "cn-north-1a"
IMAGE = "img-ubuntu2204"
STABLE = {
    "instances": {"running", "stopped", "error"},
    "disks": {"available", "in-use", "error_create", "error_delete"},
    "snapshots": {"available", "error_create", "error_delete"},
    "images": {"ready", "error"},
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Node(object):
    def __init__(self, idx, kiln, data, url, args, logdir):
        self.idx = idx
        self.kiln = kiln
        self.data = data
        self.url = url
        self.args = args
        self.port = free_port()
        self.log = os.path.join(logdir, "node%d.log" % idx)
        self.proc = None
        self.kills = 0
        self.starts = 0

    def start(self):
        cmd = [self.kiln, "serve", "--no-auth", "--listen", "127.0.0.1:%d" % self.port,
               "--data-dir", self.data, "--database", self.url] + self.args
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.starts += 1
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("node %d exited with %s:\n%s" % (self.idx, self.proc.returncode, tail(self.log)))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("node %d not healthy in 30s:\n%s" % (self.idx, tail(self.log)))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.kills += 1
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return ""


class Stats(object):
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.server_errors = []

    def add(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1


def call(nodes, rr, stats, method, path, body=None, op=None):
    """One request round-robin over the live nodes; retried on the next node while the chosen
    one is down (a request that reached a killed node may or may not have taken effect)."""
    for attempt in range(len(nodes) * 4):
        node = nodes[(next(rr)) % len(nodes)]
        try:
            c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=20)
            data = json.dumps(body).encode() if body is not None else None
            c.request(method, path, body=data, headers={"content-type": "application/json"})
            r = c.getresponse()
            payload = json.loads(r.read() or b"{}")
            if r.status >= 500:
                stats.server_errors.append("%s %s -> %s %s (node %d)" % (method, path, r.status, payload, node.idx))
            stats.add("%s %d" % (op or method, r.status))
            return r.status, payload
        except (OSError, http.client.HTTPException, ValueError):
            stats.add("transport error (node down)")
            time.sleep(0.1)
    return None, None


def counter():
    i = 0
    lock = threading.Lock()
    while True:
        with lock:
            i += 1
        yield i


def p(rest):
    return "/v1/regions/%s/%s" % (REGION, rest)


def client(nodes, stats, stop, seed, created):
    rnd = random.Random(seed)
    rr = counter()
    for _ in range(rnd.randrange(len(nodes))):
        next(rr)
    while not stop.is_set():
        op = rnd.choice(["instance", "instance", "disk", "disk", "snapshot", "image", "image",
                         "delete_disk", "delete_image", "delete_instance"])
        if op == "instance":
            spec = {"az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE, "name": "ct%d" % rnd.randrange(10**6)}
            if rnd.random() < 0.6:
                spec["systemDisk"] = {"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}}
            if rnd.random() < 0.4:
                spec["dataDisks"] = [{"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 20}, "deviceName": "vdb"}]
            s, r = call(nodes, rr, stats, "POST", p("instances"), {"instanceSpec": spec, "maxCount": 1}, op="createInstances")
            if s == 200:
                created["instances"].extend(r["result"]["instanceIds"])
        elif op == "disk":
            s, r = call(nodes, rr, stats, "POST", p("disks"), {"diskSpec": {"az": AZ, "name": "cd", "diskType": "ssd.gp1", "diskSizeGB": 20}, "maxCount": 1}, op="createDisks")
            if s == 200:
                created["disks"].extend(r["result"]["diskIds"])
        elif op == "snapshot" and created["disks"]:
            d = rnd.choice(created["disks"])
            s, r = call(nodes, rr, stats, "POST", p("snapshots"), {"snapshotSpec": {"diskId": d, "name": "cs"}}, op="createSnapshot")
            if s == 200:
                created["snapshots"].append(r["result"]["snapshotId"])
        elif op == "image" and created["instances"]:
            i = rnd.choice(created["instances"])
            s, r = call(nodes, rr, stats, "POST", p("instances/%s:createImage" % i), {"name": "ci%d" % rnd.randrange(10**6), "description": "cluster test"}, op="createImage")
            if s == 200:
                created["images"].append(r["result"]["imageId"])
        elif op.startswith("delete_"):
            kind = op[len("delete_"):] + "s"
            if len(created[kind]) > 3:
                victim = rnd.choice(created[kind])
                s, _ = call(nodes, rr, stats, "DELETE", p("%s/%s" % (kind, victim)), op="delete " + kind[:-1])
                if s in (200, 404) and victim in created[kind]:
                    created[kind].remove(victim)
        time.sleep(rnd.uniform(0, 0.05))


def listing(nodes, stats, kind):
    rr = counter()
    out, page = [], 1
    while True:
        q = "pageNumber=%d&pageSize=100" % page
        if kind == "images":
            q += "&imageSource=private"
        s, r = call(nodes, rr, stats, "GET", p("%s?%s" % (kind, q)))
        if s != 200:
            return None
        items = r["result"].get(kind) or []
        out.extend(items)
        if len(out) >= r["result"].get("totalCount", 0) or not items:
            return out
        page += 1


def unsettled(nodes, stats):
    bad = []
    for kind in ("instances", "disks", "snapshots", "images"):
        items = listing(nodes, stats, kind)
        if items is None:
            bad.append("%s: listing failed" % kind)
            continue
        for it in items:
            st = it.get("status")
            rid = it.get("instanceId") or it.get("diskId") or it.get("snapshotId") or it.get("imageId")
            if st not in STABLE[kind]:
                bad.append("%s %s is %s" % (kind[:-1], rid, st))
    return bad


def psql(url, sql):
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("nodes", nargs="?", type=int, default=3)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load and kills")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--kill-every", type=float, default=3.0, help="mean seconds between kills")
    ap.add_argument("--lease", default="3s", help="--task-lease of every node")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--settle-timeout", type=float, default=120.0)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(10**9)
    rnd = random.Random(seed)
    kiln = os.path.abspath(os.environ.get("KILN_BIN", "target/debug/kiln"))
    admin = os.environ.get("KILN_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
    dbname = "kiln_cluster_%d" % rnd.randrange(10**9)
    psql(admin, "CREATE DATABASE %s" % dbname)
    url = admin.rsplit("/", 1)[0] + "/" + dbname
    root = tempfile.mkdtemp(prefix="kiln-cluster-")
    data = os.path.join(root, "data")
    os.mkdir(data)
    node_args = ["--transition-delay", "100ms", "--task-delay", "300ms", "--task-lease", args.lease,
                 "--quota", "instance=60", "--quota", "disk=150", "--quota", "snapshot=60",
                 "--quota", "image=60"]
    nodes = [Node(i, kiln, data, url, node_args, root) for i in range(args.nodes)]
    print("cluster test: %d nodes, %d clients, %.0fs, kill every ~%.1fs, lease %s, seed %d"
          % (args.nodes, args.clients, args.duration, args.kill_every, args.lease, seed))
    print("  database %s, storage root %s" % (url, data))
    failures = []
    stats = Stats()
    created = {"instances": [], "disks": [], "snapshots": [], "images": []}
    t0 = time.time()
    try:
        for n in nodes:
            n.start()
        stop = threading.Event()
        threads = [threading.Thread(target=client, args=(nodes, stats, stop, seed + i, created), daemon=True)
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        kills = []
        end = time.time() + args.duration
        while time.time() < end:
            time.sleep(rnd.expovariate(1.0 / args.kill_every))
            victim = rnd.choice(nodes)
            victim.kill()
            at = time.time() - t0
            time.sleep(rnd.uniform(0.2, 1.5))
            victim.start()
            kills.append("%.1fs node%d" % (at, victim.idx))
        stop.set()
        for t in threads:
            t.join(timeout=60)
        print("  load: %s" % ", ".join("%s x%d" % kv for kv in sorted(stats.counts.items())))
        print("  live at the end (by the clients' count): %s" % ", ".join("%d %s" % (len(v), k) for k, v in created.items()))
        print("  SIGKILLs: %d (%s)" % (len(kills), "; ".join(kills)))
        # C1: everything settles on the surviving/restarted nodes.
        deadline = time.time() + args.settle_timeout
        bad = unsettled(nodes, stats)
        while bad and time.time() < deadline:
            time.sleep(1)
            bad = unsettled(nodes, stats)
        settled_in = time.time() - (deadline - args.settle_timeout)
        if bad:
            failures.append("C1 not settled after %.0fs: %s" % (args.settle_timeout, "; ".join(bad[:20])))
        else:
            print("  C1 ok: everything settled %.1fs after the load stopped" % settled_in)
        imgs = listing(nodes, stats, "images") or []
        states = {}
        for i in imgs:
            states[i["status"]] = states.get(i["status"], 0) + 1
        print("  images: %s" % (", ".join("%d %s" % (v, k) for k, v in sorted(states.items())) or "none"))
        # C2
        if stats.server_errors:
            failures.append("C2 %d 5xx answers: %s" % (len(stats.server_errors), "; ".join(stats.server_errors[:5])))
        else:
            print("  C2 ok: no 5xx answer")
        # C3
        for n in nodes:
            n.stop()
        nodes[0].start()
        nodes[0].stop()
        fsck = subprocess.run([kiln, "admin", "fsck", "--data-dir", data], capture_output=True, text=True)
        if fsck.returncode != 0:
            failures.append("C3 kiln admin fsck: %s%s" % (fsck.stdout, fsck.stderr))
        else:
            print("  C3 ok: %s" % fsck.stdout.strip().splitlines()[-1])
    except Exception as e:  # a node that would not start is a failure too
        failures.append("error: %s" % e)
    finally:
        for n in nodes:
            n.kill()
        if not args.keep:
            try:
                psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % dbname)
            except subprocess.CalledProcessError:
                pass
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("  kept %s and database %s" % (root, url))
    print("  took %.0fs" % (time.time() - t0))
    if failures:
        for f in failures:
            print("FAILED " + f)
        for n in nodes:
            print("---- node%d log tail\n%s" % (n.idx, tail(n.log, 15)))
        return 1
    print("cluster test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
