"""The peer's load: boto3 against a moto server, with the same concurrency model as
kiln-loadgen (N client threads, each with its own boto3 client and keep-alive connection,
closed loop). Prints one JSON object.

  populate      --endpoint URL --images N --instances M --instances-out F --ids-out F
  describe      --endpoint URL --op image|images --ids F --pages P --concurrency C
                --duration S --warmup S [--min-ops N --max-duration S]
  create-images --endpoint URL --instances F --concurrency C --duration S [--rate R]
  (--server-pid PID --server-cpu N: report the server's CPU use, and other processes' use
  of its core, over the measured window)
"""

import argparse
import itertools
import json
import os
import random
import threading
import time

import boto3
import botocore.config

REGION = "us-east-1"


_SESSION = None


def client(endpoint, pool=2):
    # One session: its loader caches the service model, so N clients are cheap to make.
    # Clients (not sessions) are safe to use from several threads; each thread gets its own.
    global _SESSION
    if _SESSION is None:
        _SESSION = boto3.session.Session(aws_access_key_id="testing",
                                         aws_secret_access_key="testing", region_name=REGION)
    s = _SESSION
    cfg = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                 max_pool_connections=pool, tcp_keepalive=True)
    return s.client("ec2", endpoint_url=endpoint, config=cfg)


def stats(lat):
    if not lat:
        return {"n": 0}
    lat = sorted(lat)
    n = len(lat)

    def pct(p):
        import math
        return lat[min(n, max(1, math.ceil(p / 100 * n))) - 1] * 1000

    return {"n": n, "mean_ms": sum(lat) / n * 1000, "p50_ms": pct(50), "p90_ms": pct(90),
            "p99_ms": pct(99), "max_ms": lat[-1] * 1000}


class CpuWindow:
    """CPU time of the server process, and of anything else on the server's core, over
    the measured window."""

    def __init__(self, pid, cpu):
        self.pid, self.cpu = pid, cpu

    def _proc(self):
        try:
            f = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
            return sum(int(f[i]) for i in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")
        except (OSError, TypeError):
            return 0.0

    def _core(self):
        for line in open("/proc/stat"):
            if line.startswith(f"cpu{self.cpu} "):
                v = [int(x) for x in line.split()[1:]]
                # user nice system idle iowait irq softirq steal
                return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
        return 0.0

    def start(self):
        self.t0, self.p0, self.c0 = time.perf_counter(), self._proc(), self._core()

    def stop(self):
        wall = time.perf_counter() - self.t0
        proc, core = self._proc() - self.p0, self._core() - self.c0
        return {"server_cpu_pct": proc / wall * 100,
                "other_cpu_pct": max(0.0, core - proc) / wall * 100}


def page_name(page):
    return f"bench-p{page:04d}"


def populate(a):
    ec2 = client(a.endpoint)
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    bdm = [{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 40}}] + [
        {"DeviceName": f"/dev/sd{c}", "Ebs": {"VolumeSize": 20}} for c in "bcd"]
    instances = []
    while len(instances) < a.instances:
        n = min(100, a.instances - len(instances))
        r = ec2.run_instances(ImageId=ami, MinCount=n, MaxCount=n, InstanceType="t3.medium",
                              BlockDeviceMappings=bdm)
        instances += [i["InstanceId"] for i in r["Instances"]]
    t0 = time.time()
    ids = [None] * a.images
    lock = threading.Lock()
    nxt = [0]

    def work(w):
        c = client(a.endpoint)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= a.images:
                return
            # 100 images share a name prefix: a "page" is the images of one prefix.
            r = c.create_image(InstanceId=instances[i % len(instances)],
                               Name=f"{page_name(i // 100)}-{i:05d}")
            ids[i] = r["ImageId"]

    ts = [threading.Thread(target=work, args=(w,)) for w in range(a.threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    took = time.time() - t0
    open(a.ids_out, "w").write("\n".join(ids) + "\n")
    open(a.instances_out, "w").write("\n".join(instances) + "\n")
    return {"mode": "populate", "images": len(ids), "instances": len(instances),
            "seconds": took, "images_per_s": len(ids) / took}


def run_threads(conc, body):
    """Runs body(worker, client_state) in `conc` threads; returns their results."""
    out = [None] * conc
    ts = [threading.Thread(target=lambda w=w: out.__setitem__(w, body(w))) for w in range(conc)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return out


def describe(a):
    ids = [l.strip() for l in open(a.ids) if l.strip()] if a.ids else []
    clients = [client(a.endpoint) for _ in range(a.concurrency)]
    cpu = CpuWindow(a.server_pid, a.server_cpu)
    cpu.start()
    start = time.perf_counter()
    measure_from = start + a.warmup
    end = measure_from + a.duration
    # A slow peer gets more time, up to --max-duration, to finish at least --min-ops.
    hard_end = measure_from + max(a.duration, a.max_duration)
    done = [0]
    last = [measure_from]

    def body(w):
        c = clients[w]
        rnd = random.Random(w + 1)
        lat, errors, first_error, validated = [], 0, None, None
        while True:
            t0 = time.perf_counter()
            if t0 >= hard_end or (t0 >= end and done[0] >= a.min_ops):
                break
            try:
                if a.op == "image":
                    want = ids[rnd.randrange(len(ids))]
                    r = c.describe_images(ImageIds=[want])
                    ok = len(r["Images"]) == 1 and r["Images"][0]["ImageId"] == want
                else:
                    page = rnd.randrange(a.pages)
                    # moto 5.2.5 ignores MaxResults/NextToken (no pagination): a page of
                    # 100 is asked for as the 100 images sharing a name prefix.
                    r = c.describe_images(Owners=["self"], MaxResults=100, Filters=[
                        {"Name": "name", "Values": [f"{page_name(page)}-*"]}])
                    ok = len(r["Images"]) == 100
                t1 = time.perf_counter()
                if validated is None:
                    validated = ok
                if t0 >= measure_from and t1 <= hard_end:
                    lat.append(t1 - t0)
                    done[0] += 1
                    last[0] = max(last[0], t1)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors += 1
                first_error = first_error or repr(e)[:300]
                time.sleep(0.01)
        return lat, errors, first_error, bool(validated)

    res = run_threads(a.concurrency, body)
    window = cpu.stop()
    lat = [x for r in res for x in r[0]]
    # Requests finishing after the planned end count only if the run was extended.
    measured = max(a.duration, last[0] - measure_from)
    return {"mode": "describe", "op": a.op, "concurrency": a.concurrency, **window,
            "duration_s": measured, "ops": len(lat), "ops_per_s": len(lat) / measured,
            "latency": stats(lat), "errors": sum(r[1] for r in res),
            "first_error": next((r[2] for r in res if r[2]), None),
            "validated": all(r[3] for r in res)}


def create_images(a):
    instances = [l.strip() for l in open(a.instances) if l.strip()]
    assert len(instances) >= a.concurrency, "each client needs its own instance"
    clients = [client(a.endpoint) for _ in range(a.concurrency)]
    cpu = CpuWindow(a.server_pid, a.server_cpu)
    cpu.start()
    start = time.perf_counter()
    end = start + a.duration

    due = itertools.count()
    due_lock = threading.Lock()

    def body(w):
        c = clients[w]
        lat, errors, first_error, ids, n = [], 0, None, [], 0
        while time.perf_counter() < end:
            n += 1
            t0 = time.perf_counter()
            if a.rate:
                # Open loop, as kiln-loadgen --rate: calls fall due at `rate` per second;
                # a client free early waits for the call, a late one counts its lateness.
                with due_lock:
                    at = start + next(due) / a.rate
                if at >= end:
                    break
                if t0 < at:
                    time.sleep(at - t0)
                    t0 = time.perf_counter()
                else:
                    t0 = at
            try:
                r = c.create_image(InstanceId=instances[w], Name=f"cb-{w}-{n}-{int(start)}")
                lat.append(time.perf_counter() - t0)
                ids.append(r["ImageId"])
            except Exception as e:  # noqa: BLE001
                errors += 1
                first_error = first_error or repr(e)[:300]
        return lat, errors, first_error, ids

    res = run_threads(a.concurrency, body)
    elapsed = time.perf_counter() - start
    window = cpu.stop()
    lat = [x for r in res for x in r[0]]
    ids = [i for r in res for i in r[3]]
    # moto's CreateImage answers with an image that is already `available`: check one.
    state = None
    if ids:
        state = clients[0].describe_images(ImageIds=[ids[-1]])["Images"][0]["State"]
    return {"mode": "create-images", "concurrency": a.concurrency, "rate": a.rate or None, **window,
            "images_accepted": len(lat),
            "images_ready": len(lat) if state == "available" else 0, "state_on_return": state,
            "elapsed_s": elapsed, "images_per_s": len(lat) / elapsed, "accepted": stats(lat),
            "errors": sum(r[1] for r in res),
            "first_error": next((r[2] for r in res if r[2]), None)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["populate", "describe", "create-images"])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--images", type=int, default=0)
    p.add_argument("--instances")
    p.add_argument("--instances-out")
    p.add_argument("--ids")
    p.add_argument("--ids-out")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--op")
    p.add_argument("--pages", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--rate", type=float, default=0,
                   help="create-images: calls per second in all (open loop); 0: closed loop")
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--min-ops", type=int, default=0)
    p.add_argument("--max-duration", type=float, default=0)
    p.add_argument("--server-pid", type=int, default=0)
    p.add_argument("--server-cpu", type=int, default=0)
    a = p.parse_args()
    if a.mode == "populate":
        a.instances = int(a.instances or 1)
        r = populate(a)
    elif a.mode == "describe":
        r = describe(a)
    else:
        r = create_images(a)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
