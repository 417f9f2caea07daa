#!/usr/bin/env python3
"""The Redis cache layer under load, in one run (~5 min; --quick ~1.5 min):

  1. hits by layer: the same proxy binary with cache_layers [memory], [disk] (page cache warm)
     and [redis] (a local redis-server), 1 and 2 workers (server.threads), 1 KiB / 64 KiB /
     1 MiB objects, the same wrk connections; req/s, p50, p99, CPU per process; the ratios
     redis/memory and redis/disk.
  2. horizontal: 1, 2, 3 proxy instances (1 worker each) sharing one redis-server, one wrk per
     instance at once (the connections split over them), 64 KiB; [redis] alone (Redis is on
     every hit's path) and [memory, redis] (the realistic set-up); aggregate req/s,
     redis-server's CPU, the load generators' CPU share, the machine's.
  3. purge propagation: 3 instances [memory, redis]; the object a memory hit on all three, a
     purge on one, the others polled (GET /admin/cache/info) until it is gone; 50 times.
  4. cross-instance coalescing: 3 instances [memory, redis], 30 clients (10 per instance) ask
     for the same new 1 MiB object at once; origin GETs counted by a relay (which also holds
     each origin response --origin-delay-ms, an S3-like first byte), fill_lock_ms 5000 vs 0.

Every measured window is checked: 0 origin requests (the origin nginx's access log), every
proxied request a cache hit (yatagarasu_cache_requests_total deltas; X-Cache: HIT probes
before and after), no Redis layer errors. Figures are medians of alternating rounds and are
meant to be read as ratios within this run: the machine (2 shared cores) runs wrk, the
proxies, redis-server and the origin together.

  python3 load/redis_compare.py                 # 3 rounds x 3 s, 50 purges, 5 coalescing reps
  python3 load/redis_compare.py --quick         # 1 round x 1 s, 10 purges, 2 reps
  python3 load/redis_compare.py --parts 1,3     # only some parts

Writes load/results/redis_compare_<timestamp>.md and .json. Everything started is stopped by
PID, also on error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import os
import platform
import resource
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "load"))
sys.path.insert(0, str(REPO / "tests" / "support"))
import yg_data  # noqa: E402
import yg_load  # noqa: E402
import yg_procs  # noqa: E402
import yg_redis  # noqa: E402
from cache_compare import (Contender, OriginLog, fetch, fs_type, parse_size,  # noqa: E402
                           size_label, version, warm_and_verify)
from counting_relay import CountingRelay  # noqa: E402
from yg_load import Run, parse_wrk, parse_wrk_args, raise_on_sigterm, start_origin  # noqa: E402

BUCKET = "bench-bucket"   # the S3 bucket (a directory of the origin nginx)
CFG_BUCKET = "bench"      # its name in the proxy config (path prefix /bench, admin URLs)
LAYER_SETS = {"memory": ["memory"], "disk": ["disk"], "redis": ["redis"],
              "memory+redis": ["memory", "redis"]}
HZ = os.sysconf("SC_CLK_TCK")
NCPU = len(os.sched_getaffinity(0))


def add_args(ap: argparse.ArgumentParser) -> None:
    # -1: "not given" (parse_wrk_args fills only falsy values); resolved in main().
    ap.set_defaults(rounds=-1, seconds=-1)
    ap.add_argument("--parts", default="1,2,3,4", help="which parts to run (default 1,2,3,4)")
    ap.add_argument("--sizes", default="1k,64k,1m", help="part 1 object sizes")
    ap.add_argument("--workers", default="1,2", help="part 1 worker counts (server.threads)")
    ap.add_argument("--horizontal-size", default="64k", help="part 2 object size")
    ap.add_argument("--instances", type=int, default=3, help="part 2: up to this many")
    ap.add_argument("--purges", type=int, help="part 3 repetitions (default 50, quick 10)")
    ap.add_argument("--coalesce-reps", type=int, help="part 4 repetitions (default 5, quick 2)")
    ap.add_argument("--clients-per-instance", type=int, default=10)
    ap.add_argument("--origin-delay-ms", type=int, default=100,
                    help="part 4: the relay holds each origin response this long (default 100)")
    ap.add_argument("--pool-size", type=int, help="cache.redis.pool_size (default: the proxy's)")
    ap.add_argument("--command-timeout-ms", type=int,
                    help="cache.redis.command_timeout_ms (default: the proxy's)")
    ap.add_argument("--disk-dir", type=Path, default=Path(tempfile.gettempdir()),
                    help="parent of the disk layer's cache dirs (default: the temp dir)")
    ap.add_argument("--keep-tmp", action="store_true")


# --- CPU accounting ---------------------------------------------------------------------------

def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(rest[11]) + int(rest[12])) / HZ


def machine_cpu() -> tuple:
    """(busy, total, irq + softirq) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait, irq + softirq


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class CpuWindow:
    """CPU used by named processes, by our reaped children (the wrk runs: nothing else is
    reaped inside a window) and by the whole machine between start() and stop(); as % of one
    core, the machine's as % of all CPUs."""

    def __init__(self, pids: dict):
        self.pids = pids

    def start(self):
        self.t0 = time.monotonic()
        self.p0 = {n: proc_cpu_s(p) for n, p in self.pids.items()}
        self.c0 = children_cpu_s()
        self.m0 = machine_cpu()
        return self

    def stop(self) -> dict:
        dt = time.monotonic() - self.t0
        m1 = machine_cpu()
        out = {f"{n}_cpu_pct": 100 * (proc_cpu_s(p) - self.p0[n]) / dt
               for n, p in self.pids.items()}
        out["wrk_cpu_pct"] = 100 * (children_cpu_s() - self.c0) / dt
        busy, total = m1[0] - self.m0[0], m1[1] - self.m0[1]
        out["machine_busy_pct"] = 100 * busy / total if total else 0.0
        # irq/softirq time (loopback TCP is processed there) is charged to no process.
        out["softirq_pct"] = 100 * NCPU * (m1[2] - self.m0[2]) / total if total else 0.0
        out["window_s"] = dt
        return out


# --- metrics ----------------------------------------------------------------------------------

METRIC_LINE = re.compile(r'^(yatagarasu_[a-z_]+)(?:\{([^}]*)\})?\s+([-+0-9.eE]+|NaN)\s*$', re.M)
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
COUNTERS = {
    "yatagarasu_cache_requests_total": "result",
    "yatagarasu_cache_layer_operations_total": ("layer", "op"),
    "yatagarasu_cache_fill_lock_total": "outcome",
    "yatagarasu_cache_coalesced_total": "outcome",
    "yatagarasu_cache_purge_propagation_total": "direction",
    "yatagarasu_redis_events_total": "event",
    "yatagarasu_cache_write_queue_dropped_total": None,
}


def scrape(port: int) -> dict:
    """The counters above as {"<metric>|<label value(s)>": value} (cache requests of our
    bucket only)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
    finally:
        c.close()
    out = {}
    for name, labels, value in METRIC_LINE.findall(text):
        if name not in COUNTERS:
            continue
        lab = dict(LABEL.findall(labels or ""))
        if name == "yatagarasu_cache_requests_total" and lab.get("bucket") != CFG_BUCKET:
            continue
        keys = COUNTERS[name]
        if keys is None:
            k = name
        elif isinstance(keys, tuple):
            k = name + "|" + ",".join(lab.get(x, "") for x in keys)
        else:
            k = name + "|" + lab.get(keys, "")
        out[k] = out.get(k, 0.0) + float(value)
    return out


def delta(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


def short(d: dict) -> dict:
    """Counter deltas with shorter names for the JSON/notes."""
    return {k.replace("yatagarasu_", "").replace("_total", ""): int(v) for k, v in d.items()}


# --- proxies ----------------------------------------------------------------------------------

class Proxy(Contender):
    def __init__(self, name, port, proc, layers, cfg_text):
        super().__init__(name, port, "/bench")
        self.proc, self.layers, self.cfg_text = proc, layers, cfg_text


def proxy_yaml(port: int, origin: int, threads: int, layers: list, redis_url: str, prefix: str,
               disk_dir, fill_lock_ms: int, args) -> str:
    cache = f"""cache:
  enabled: true
  cache_layers: [{", ".join(layers)}]
  memory:
    max_cache_size_mb: 256
    max_item_size_mb: 10
    default_ttl_seconds: 3600
"""
    if "disk" in layers:
        cache += f"""  disk:
    enabled: true
    cache_dir: "{disk_dir}"
    max_disk_cache_size_mb: 1024
    fsync: false
"""
    if "redis" in layers:
        cache += f"""  redis:
    enabled: true
    redis_url: "{redis_url}"
    redis_key_prefix: "{prefix}"
    purge_propagation: true
    fill_lock_ms: {fill_lock_ms}
"""
        if args.pool_size:
            cache += f"    pool_size: {args.pool_size}\n"
        if args.command_timeout_ms:
            cache += f"    command_timeout_ms: {args.command_timeout_ms}\n"
    return yg_load.cached_proxy_yaml(port, threads, cache, origin, BUCKET)


class Fleet:
    """Starts proxies (kept in the script's Run) and the disk dirs they need."""

    def __init__(self, run: Run, tmp: Path, args, redis: yg_redis.RedisServer):
        self.run, self.tmp, self.args, self.redis = run, tmp, args, redis
        self.scratch = []

    def start(self, name, layers, threads, origin, prefix="yg-bench:", fill_lock_ms=5000) -> Proxy:
        port = yg_procs.free_port()
        disk_dir = None
        if "disk" in layers:
            disk_dir = Path(tempfile.mkdtemp(prefix=f"yg-redis-cmp-{name}-",
                                             dir=self.args.disk_dir))
            self.scratch.append(disk_dir)
        text = proxy_yaml(port, origin, threads, layers, self.redis.url(db=0), prefix,
                          disk_dir, fill_lock_ms, self.args)
        cfg = self.tmp / f"{name}.yaml"
        cfg.write_text(text)
        chk = subprocess.run([str(self.args.binary), "--test", "--config", str(cfg)],
                             capture_output=True, text=True, timeout=30)
        if chk.returncode != 0:
            raise SystemExit(f"{self.args.binary} refuses {cfg}:\n{chk.stderr.strip()}")
        log = self.tmp / f"{name}.log"
        p = self.run.start(name, [str(self.args.binary), "--config", str(cfg)], log)
        yg_procs.wait_http_ok(f"http://127.0.0.1:{port}/health", proc=p, what=name, log=log)
        return Proxy(name, port, p, layers, text)

    def stop(self, proxies) -> None:
        for px in proxies:
            self.run.stop(px.proc)

    def check_alive(self, proxies) -> None:
        for px in proxies:
            if px.proc.poll() is not None:
                raise RuntimeError(f"{px.name} exited with status {px.proc.returncode}:\n"
                                   + yg_procs.tail_text(self.tmp / f"{px.name}.log", 40))


def xcache(px: Proxy, key: str) -> str:
    r = fetch(px.port, f"/bench/{key}")
    return f"{r['status']} {r['headers'].get('x-cache', '-')}"


# --- one measured window ----------------------------------------------------------------------

def split(total: int, n: int) -> list:
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def window(targets: list, key: str, seconds: int, conns: int, threads: int, redis_pid: int,
           origin_log: OriginLog) -> dict:
    """One wrk per target proxy at once (connections split over them); CPU, counter deltas,
    origin requests and X-Cache probes before/after."""
    before_probe = [xcache(px, key) for px in targets]
    m0 = [scrape(px.port) for px in targets]
    origin_log.advance(settle=0.05)
    pids = {"redis": redis_pid, **{f"proxy{i}": px.proc.pid for i, px in enumerate(targets)}}
    cpu = CpuWindow(pids).start()
    procs = []
    for px, c in zip(targets, split(conns, len(targets))):
        cmd = ["wrk", f"-t{threads}", f"-c{c}", f"-d{seconds}s", "--latency", px.url(key)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outs = []
    for p in procs:
        o, e = p.communicate(timeout=seconds + 30)
        outs.append((p.returncode, o, e))
    used = cpu.stop()
    origin = origin_log.advance()
    m1 = [scrape(px.port) for px in targets]
    after_probe = [xcache(px, key) for px in targets]
    per = []
    problems = []
    for px, (rc, o, e), a, b in zip(targets, outs, m1, m0):
        if rc != 0 or "Non-2xx" in o or "Socket errors" in o:
            problems.append(f"{px.name}: wrk rc={rc} {o.strip()[-300:]} {e.strip()[-200:]}")
            res = {"rps": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan"), "requests": 0}
            try:
                res.update(parse_wrk(o))
            except ValueError:
                pass
        else:
            res = parse_wrk(o)
        d = delta(a, b)
        hits = d.get("yatagarasu_cache_requests_total|hit", 0)
        nonhit = {k: v for k, v in d.items()
                  if k.startswith("yatagarasu_cache_requests_total|") and not k.endswith("|hit")}
        errors = {k: v for k, v in d.items() if k.endswith(",error")
                  or k.startswith("yatagarasu_redis_events_total|") and
                  any(k.endswith(x) for x in ("timeout", "connect_failure", "fast_failure",
                                              "disconnect"))}
        if nonhit:
            problems.append(f"{px.name}: non-HIT requests {short(nonhit)}")
        if errors:
            problems.append(f"{px.name}: errors {short(errors)}")
        if hits < res["requests"]:
            problems.append(f"{px.name}: {hits:.0f} hits counted < {res['requests']} wrk "
                            "requests")
        res.update({"proxy": px.name, "hits_counted": int(hits), "counters": short(d)})
        per.append(res)
    for px, pb, pa in zip(targets, before_probe, after_probe):
        if pb != "200 HIT" or pa != "200 HIT":
            problems.append(f"{px.name}: probe before {pb!r}, after {pa!r}")
    if origin:
        problems.append(f"{origin} origin requests")
    out = {
        "rps": sum(x["rps"] for x in per),
        "p50_ms": statistics.median(x["p50_ms"] for x in per),
        "p99_ms": max(x["p99_ms"] for x in per),
        "requests": sum(x["requests"] for x in per),
        "origin_requests": origin,
        "redis_cpu_pct": used["redis_cpu_pct"],
        "proxies_cpu_pct": sum(v for k, v in used.items() if k.startswith("proxy")),
        "wrk_cpu_pct": used["wrk_cpu_pct"],
        "machine_busy_pct": used["machine_busy_pct"],
        "window_s": used["window_s"],
        "per_instance": per,
        "problems": problems,
    }
    rq = out["requests"] or 1
    out["server_cpu_us_per_req"] = ((out["proxies_cpu_pct"] + out["redis_cpu_pct"]) / 100
                                    * used["window_s"] / rq * 1e6)
    out["wrk_share_pct"] = out["wrk_cpu_pct"] / NCPU  # of the machine's capacity
    out["softirq_pct"] = used["softirq_pct"]
    # Everything else that ran: other jobs on the machine, the (idle) origin.
    out["other_cpu_pct"] = max(0.0, out["machine_busy_pct"] * NCPU - out["proxies_cpu_pct"]
                               - out["redis_cpu_pct"] - out["wrk_cpu_pct"]
                               - out["softirq_pct"])
    out["redis_cpu_us_per_req"] = out["redis_cpu_pct"] / 100 * used["window_s"] / rq * 1e6
    return out


def med(runs: list, key: str):
    vals = [r[key] for r in runs if r.get(key) == r.get(key)]  # drop NaN
    return statistics.median(vals) if vals else None


MED_KEYS = ("rps", "p50_ms", "p99_ms", "redis_cpu_pct", "proxies_cpu_pct", "wrk_cpu_pct",
            "wrk_share_pct", "machine_busy_pct", "softirq_pct", "other_cpu_pct",
            "server_cpu_us_per_req",
            "redis_cpu_us_per_req")


def summarize(runs: list) -> dict:
    s = {k: med(runs, k) for k in MED_KEYS}
    s["origin_requests"] = sum(r["origin_requests"] for r in runs)
    s["problems"] = sum(len(r["problems"]) for r in runs)
    s["windows"] = len(runs)
    return s


def ratio(a, b):
    return a / b if a is not None and b else None


# --- part 1: hits by layer --------------------------------------------------------------------

def part1(fleet: Fleet, origin: int, origin_log: OriginLog, objects: dict, args, notes) -> dict:
    sizes, workers = args.sizes_list, args.workers_list
    layers = ["memory", "disk", "redis"]
    px = {}
    for w in workers:
        for layer in layers:
            name = f"ours-{layer}-w{w}"
            px[(layer, w)] = fleet.start(name, [layer], w, origin, prefix=f"p1-{layer}-w{w}:")
    keys = {f"hit-{s}.bin": objects[f"hit-{s}.bin"] for s in sizes}
    warm = {}
    mid = f"hit-{sizes[len(sizes) // 2]}.bin"
    for (layer, w), p in px.items():
        warm[p.name] = warm_and_verify(p, keys, True)
        # One unmeasured second per proxy (connection paths, allocator, Redis pool).
        yg_load.wrk(p.url(mid), 1, args.connections, threads=w)
        print(f"  {p.name}: warm (X-Cache HIT, sha256 ok)", flush=True)
    runs = {str(w): {str(s): {la: [] for la in layers} for s in sizes} for w in workers}
    for r in range(args.rounds):
        order = layers[r % 3:] + layers[:r % 3]
        for size in sizes:
            key = f"hit-{size}.bin"
            for w in workers:
                for layer in order:
                    p = px[(layer, w)]
                    res = window([p], key, args.seconds, args.connections, w, fleet.redis.pid,
                                 origin_log)
                    fleet.check_alive([p])
                    runs[str(w)][str(size)][layer].append(res)
                    for prob in res["problems"]:
                        notes.append(f"part 1 round {r + 1} {size_label(size)} w{w} {layer}: "
                                     + prob)
                    print(f"round {r + 1}/{args.rounds} w{w} {size_label(size):>7} "
                          f"{layer:6s} {res['rps']:9.0f} req/s  p50 {res['p50_ms']:.3f} ms  "
                          f"p99 {res['p99_ms']:.3f} ms  proxy {res['proxies_cpu_pct']:.0f}% "
                          f"redis {res['redis_cpu_pct']:.0f}% wrk {res['wrk_cpu_pct']:.0f}% "
                          f"machine {res['machine_busy_pct']:.0f}%  origin "
                          f"{res['origin_requests']}"
                          + ("  PROBLEMS" if res["problems"] else ""), flush=True)
    fleet.stop(px.values())
    summary = {w: {s: {la: summarize(lst) for la, lst in per.items()}
                   for s, per in bys.items()} for w, bys in runs.items()}
    ratios = {}
    for w, bys in summary.items():
        ratios[w] = {}
        for s, m in bys.items():
            ratios[w][s] = {
                f"{k}_redis_over_{base}": ratio(m["redis"][k], m[base][k])
                for base in ("memory", "disk") for k in ("rps", "p50_ms", "p99_ms",
                                                         "server_cpu_us_per_req")}
    return {"runs": runs, "median": summary, "ratios": ratios, "warm": warm,
            "config_example": px[("redis", workers[0])].cfg_text}


# --- part 2: horizontal -----------------------------------------------------------------------

def part2(fleet: Fleet, origin: int, origin_log: OriginLog, objects: dict, args, notes) -> dict:
    size = args.horizontal_size_b
    key = f"hit-{size}.bin"
    groups = {}
    for cfg, prefix in (("redis", "p2-redis:"), ("memory+redis", "p2-memredis:")):
        groups[cfg] = [fleet.start(f"ours-h-{cfg.replace('+', '-')}-{i}", LAYER_SETS[cfg], 1,
                                   origin, prefix=prefix) for i in range(args.instances)]
    for cfg, ps in groups.items():
        for p in ps:  # the first fills Redis, the others hit it (then their memory, if any)
            warm_and_verify(p, {key: objects[key]}, True)
            yg_load.wrk(p.url(key), 1, max(1, args.connections // len(ps)))
        print(f"  {cfg}: {len(ps)} instances warm", flush=True)
    combos = [(cfg, n) for cfg in groups for n in range(1, args.instances + 1)]
    runs = {cfg: {str(n): [] for n in range(1, args.instances + 1)} for cfg in groups}
    for r in range(args.rounds):
        k = r % len(combos)
        for cfg, n in combos[k:] + combos[:k]:
            res = window(groups[cfg][:n], key, args.seconds, args.connections, 1,
                         fleet.redis.pid, origin_log)
            fleet.check_alive(groups[cfg])
            runs[cfg][str(n)].append(res)
            for prob in res["problems"]:
                notes.append(f"part 2 round {r + 1} {cfg} x{n}: {prob}")
            print(f"round {r + 1}/{args.rounds} {cfg:12s} x{n} {res['rps']:9.0f} req/s  "
                  f"p50 {res['p50_ms']:.3f} ms  p99(max) {res['p99_ms']:.3f} ms  proxies "
                  f"{res['proxies_cpu_pct']:.0f}% redis {res['redis_cpu_pct']:.0f}% wrk "
                  f"{res['wrk_cpu_pct']:.0f}% machine {res['machine_busy_pct']:.0f}%  origin "
                  f"{res['origin_requests']}" + ("  PROBLEMS" if res["problems"] else ""),
                  flush=True)
    summary = {cfg: {n: summarize(lst) for n, lst in per.items()} for cfg, per in runs.items()}
    for cfg, per in summary.items():
        base = per["1"]["rps"]
        for n, s in per.items():
            s["rps_over_1"] = ratio(s["rps"], base)
            s["bottleneck"] = bottleneck(s)
            us = s["redis_cpu_us_per_req"]
            # Only meaningful when every hit reads Redis.
            s["rps_at_one_redis_core"] = 1e6 / us if us and cfg == "redis" else None
    return {"runs": runs, "median": summary, "size": size,
            "groups": {cfg: [p.name for p in ps] for cfg, ps in groups.items()},
            "_proxies": groups}


def bottleneck(s: dict) -> str:
    parts = []
    if (s["redis_cpu_pct"] or 0) >= 90:
        parts.append("redis-server (~1 core)")
    if (s["machine_busy_pct"] or 0) >= 90:
        parts.append(f"the machine ({NCPU} CPUs busy)")
    return " + ".join(parts) if parts else "neither (latency-bound)"


# --- part 3: purge propagation ----------------------------------------------------------------

def info_status(conn: http.client.HTTPConnection, key: str) -> tuple:
    conn.request("GET", f"/admin/cache/info?key={CFG_BUCKET}:{key}")
    r = conn.getresponse()
    return r.status, r.read()


def ensure_memory_hit_everywhere(ps: list, key: str, timeout: float = 10.0) -> None:
    for p in ps:
        deadline = time.monotonic() + timeout
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)
        try:
            while True:
                r = fetch(p.port, f"/bench/{key}")
                if r["status"] != 200:
                    raise RuntimeError(f"{p.name} {key}: status {r['status']}")
                st, body = info_status(c, key)
                if st == 200 and b'"memory"' in body and r["headers"].get("x-cache") == "HIT":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{p.name} {key}: not a memory hit after {timeout} s "
                                       f"(info {st} {body[:300]!r}, X-Cache "
                                       f"{r['headers'].get('x-cache')})")
                time.sleep(0.002)
        finally:
            c.close()


def pct(vals: list, q: float):
    """Nearest-rank percentile."""
    if not vals:
        return None
    s = sorted(vals)
    return s[max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))]


def part3(ps: list, args, notes) -> dict:
    key = "purge-1k.bin"
    sys.setswitchinterval(0.0002)  # pollers and the purger hand the GIL over quickly
    m0 = [scrape(p.port) for p in ps]
    # Poll resolution: one info round trip on a present key.
    ensure_memory_hit_everywhere(ps, key)
    c = http.client.HTTPConnection("127.0.0.1", ps[1].port, timeout=5)
    t = []
    for _ in range(200):
        t0 = time.perf_counter()
        info_status(c, key)
        t.append(time.perf_counter() - t0)
    c.close()
    poll_rtt_ms = statistics.median(t) * 1e3
    samples = []  # one per (purge, other instance)
    for rep in range(args.purges):
        src = ps[rep % len(ps)]
        others = [p for p in ps if p is not src]
        ensure_memory_hit_everywhere(ps, key)
        gone = {}
        go = threading.Event()
        stop = threading.Event()

        def poll(p):
            conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)
            n = 0
            try:
                go.wait()
                while not stop.is_set():
                    st, _ = info_status(conn, key)
                    n += 1
                    if st == 404:
                        gone[p.name] = (time.perf_counter(), n)
                        return
                    if st != 200:
                        gone[p.name] = (None, f"status {st}")
                        return
            except Exception as e:  # noqa: BLE001 - reported as a note
                gone[p.name] = (None, repr(e))
            finally:
                conn.close()

        threads = [threading.Thread(target=poll, args=(p,)) for p in others]
        for th in threads:
            th.start()
        pc = http.client.HTTPConnection("127.0.0.1", src.port, timeout=5)
        pc.connect()
        go.set()
        time.sleep(0.001)  # the pollers are in their loop
        t_send = time.perf_counter()
        pc.request("POST", f"/admin/cache/purge/{CFG_BUCKET}/{key}")
        resp = pc.getresponse()
        body = resp.read()
        t_resp = time.perf_counter()
        pc.close()
        if resp.status != 200:
            notes.append(f"part 3 purge {rep}: {src.name} answered {resp.status} {body[:200]!r}")
        for th in threads:
            th.join(5)
        stop.set()
        for th in threads:
            th.join(1)
        for p in others:
            at, n = gone.get(p.name, (None, "not gone within 5 s"))
            if at is None:
                notes.append(f"part 3 purge {rep} on {src.name}: {p.name}: {n}")
                continue
            samples.append({"rep": rep, "source": src.name, "instance": p.name,
                            "after_response_ms": (at - t_resp) * 1e3,
                            "after_request_ms": (at - t_send) * 1e3,
                            "purge_rtt_ms": (t_resp - t_send) * 1e3, "polls": n})
    m1 = [scrape(p.port) for p in ps]
    prop = {p.name: {k.split("|")[1]: int(v) for k, v in delta(a, b).items()
                     if k.startswith("yatagarasu_cache_purge_propagation_total|")}
            for p, a, b in zip(ps, m1, m0)}
    applied = sum(v.get("applied", 0) for v in prop.values())
    expect = args.purges * (len(ps) - 1)
    if applied != expect:
        notes.append(f"part 3: purge_propagation applied {applied}, expected {expect} "
                     f"({prop})")
    after_resp = [s["after_response_ms"] for s in samples]
    after_req = [s["after_request_ms"] for s in samples]
    summary = {"samples": len(samples), "purges": args.purges,
               "poll_rtt_ms": poll_rtt_ms,
               "after_response_ms": {"p50": pct(after_resp, 50), "p99": pct(after_resp, 99),
                                     "max": max(after_resp) if after_resp else None,
                                     "min": min(after_resp) if after_resp else None},
               "after_request_ms": {"p50": pct(after_req, 50), "p99": pct(after_req, 99),
                                    "max": max(after_req) if after_req else None},
               "purge_rtt_ms_p50": pct([s["purge_rtt_ms"] for s in samples], 50),
               "gone_before_response": sum(1 for s in samples if s["after_response_ms"] < 0),
               "propagation_counters": prop}
    return {"summary": summary, "samples": samples}


# --- part 4: cross-instance coalescing --------------------------------------------------------

def part4(fleet: Fleet, nginx_port: int, objects: dict, args, notes) -> dict:
    relay = CountingRelay("127.0.0.1", nginx_port,
                          response_delay=args.origin_delay_ms / 1000.0).start()
    out = {}
    try:
        groups = {}
        for lock in (5000, 0):
            groups[lock] = [fleet.start(f"ours-coal-lock{lock}-{i}", ["memory", "redis"], 1,
                                        relay.port, prefix=f"p4-lock{lock}:", fill_lock_ms=lock)
                            for i in range(3)]
        for rep in range(args.coalesce_reps):
            for lock in ((5000, 0) if rep % 2 == 0 else (0, 5000)):
                ps = groups[lock]
                key = f"coal-{lock}-{rep}.bin"
                size, digest = objects[key]
                m0 = [scrape(p.port) for p in ps]
                before = relay.count("GET", f"/{BUCKET}/{key}")
                conns = []
                for p in ps:
                    for _ in range(args.clients_per_instance):
                        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=30)
                        c.connect()
                        conns.append((p, c))
                barrier = threading.Barrier(len(conns))
                results = [None] * len(conns)

                def client(i, p, c):
                    try:
                        barrier.wait()
                        t0 = time.perf_counter()
                        c.request("GET", f"/bench/{key}")
                        r = c.getresponse()
                        body = r.read()
                        results[i] = {"instance": p.name, "status": r.status,
                                      "x_cache": r.getheader("X-Cache", "-"),
                                      "ok": len(body) == size
                                      and hashlib.sha256(body).hexdigest() == digest,
                                      "ms": (time.perf_counter() - t0) * 1e3}
                    except Exception as e:  # noqa: BLE001 - reported as a note
                        results[i] = {"instance": p.name, "status": 0, "x_cache": repr(e),
                                      "ok": False, "ms": None}
                    finally:
                        c.close()

                ths = [threading.Thread(target=client, args=(i, p, c))
                       for i, (p, c) in enumerate(conns)]
                for th in ths:
                    th.start()
                for th in ths:
                    th.join(60)
                time.sleep(0.3)  # late origin requests still get counted
                fleet.check_alive(ps)
                gets = relay.count("GET", f"/{BUCKET}/{key}") - before
                m1 = [scrape(p.port) for p in ps]
                d = {}
                for a, b in zip(m1, m0):
                    for k, v in delta(a, b).items():
                        if k.startswith(("yatagarasu_cache_fill_lock_total|",
                                         "yatagarasu_cache_coalesced_total|")):
                            d[k] = d.get(k, 0) + v
                xc = {}
                for x in results:
                    xc[x["x_cache"]] = xc.get(x["x_cache"], 0) + 1
                bad = [x for x in results if x["status"] != 200 or not x["ok"]]
                if bad:
                    notes.append(f"part 4 lock {lock} rep {rep}: {len(bad)} bad answers, "
                                 f"e.g. {bad[0]}")
                ms = [x["ms"] for x in results if x["ms"] is not None]
                entry = {"rep": rep, "origin_gets": gets, "x_cache": xc, "bad": len(bad),
                         "client_ms_p50": pct(ms, 50), "client_ms_max": max(ms) if ms else None,
                         "counters": short(d)}
                out.setdefault(str(lock), []).append(entry)
                print(f"coalescing fill_lock_ms {lock:5d} rep {rep + 1}/{args.coalesce_reps}: "
                      f"{gets} origin GET(s), X-Cache {xc}, slowest client "
                      f"{entry['client_ms_max']:.0f} ms, {short(d)}", flush=True)
        fleet.stop([p for ps in groups.values() for p in ps])
    finally:
        relay.stop()
    summary = {}
    for lock, reps in out.items():
        g = [e["origin_gets"] for e in reps]
        summary[lock] = {"origin_gets": g, "median": statistics.median(g), "max": max(g),
                         "min": min(g), "bad_answers": sum(e["bad"] for e in reps),
                         "client_ms_max": max(e["client_ms_max"] or 0 for e in reps)}
    return {"reps": out, "summary": summary, "origin_delay_ms": args.origin_delay_ms,
            "clients": 3 * args.clients_per_instance}


# --- main -------------------------------------------------------------------------------------

def main(argv=None) -> int:
    args = parse_wrk_args(__doc__, argv, add_args)
    if args.rounds == -1:
        args.rounds = 1 if args.quick else 3
    if args.seconds == -1:
        args.seconds = 1 if args.quick else 3
    args.purges = args.purges or (10 if args.quick else 50)
    args.coalesce_reps = args.coalesce_reps or (2 if args.quick else 5)
    parts = {int(x) for x in args.parts.split(",") if x.strip()}
    args.sizes_list = sorted({parse_size(s) for s in args.sizes.split(",") if s.strip()})
    args.workers_list = [int(w) for w in args.workers.split(",") if w.strip()]
    args.horizontal_size_b = parse_size(args.horizontal_size)
    if not shutil.which("wrk"):
        print("needs wrk: scripts/install-load-tools.sh (or scripts/install-deps.sh)",
              file=sys.stderr)
        return 2
    if not os.access(args.binary, os.X_OK):
        print(f"no proxy binary at {args.binary} (cmake --build build --target yatagarasu)",
              file=sys.stderr)
        return 2
    yg_redis.require_binaries()

    raise_on_sigterm()
    t_start = time.monotonic()
    m0 = machine_cpu()
    time.sleep(1.0)  # what the machine does without us: other jobs compete for the CPUs
    m1 = machine_cpu()
    background = 100 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
    tmp = Path(tempfile.mkdtemp(prefix="yg-redis-cmp-"))
    tmp.chmod(0o755)  # nginx workers drop root and must read www/
    run = Run()
    redis = yg_redis.RedisServer(tmp / "redis", maxmemory="512mb")
    fleet = None
    notes = []
    try:
        redis.start()
        objects, www = {}, {}
        sizes = set(args.sizes_list) | {args.horizontal_size_b}
        for i, size in enumerate(sorted(sizes)):
            objects[f"hit-{size}.bin"] = (size, 1000 + i)
        objects["purge-1k.bin"] = (1024, 2000)
        for lock in (5000, 0):
            for rep in range(args.coalesce_reps):
                objects[f"coal-{lock}-{rep}.bin"] = (1 << 20, 3000 + 100 * rep + (lock > 0))
        keys = {}
        for key, (size, seed) in objects.items():
            data = b"".join(yg_data.chunks(size, seed))
            www[f"{BUCKET}/{key}"] = data
            keys[key] = (size, hashlib.sha256(data).hexdigest())
        origin = start_origin(run, tmp, www, access_log=str(tmp / "origin-access.log"))
        origin_log = OriginLog(tmp / "origin-access.log")
        fleet = Fleet(run, tmp, args, redis)
        result = {
            "benchmark": "redis_compare",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(), "cpus": NCPU, "rounds": args.rounds,
            "seconds": args.seconds, "connections": args.connections,
            "load_before": os.getloadavg(),
            "background_busy_pct": background,
            "versions": {"yatagarasu": version([str(args.binary), "--version"]),
                         "binary_mtime": datetime.datetime.fromtimestamp(
                             args.binary.stat().st_mtime).isoformat(timespec="seconds"),
                         "redis": version(["/usr/bin/redis-server", "--version"]),
                         "wrk": version(["wrk", "-v"])},
            "redis_settings": {"pool_size": args.pool_size or "default (2)",
                               "command_timeout_ms": args.command_timeout_ms or "default (250)",
                               "maxmemory": "512mb"},
            "disk_dir": f"{args.disk_dir}: {fs_type(args.disk_dir)}",
            "parts": sorted(parts),
        }
        elapsed = result["part_elapsed_s"] = {}
        if 1 in parts:
            print("== part 1: hits by layer", flush=True)
            t0 = time.monotonic()
            result["part1"] = part1(fleet, origin, origin_log, keys, args, notes)
            elapsed["1"] = time.monotonic() - t0
        p23 = None
        if 2 in parts or 3 in parts:
            if 2 in parts:
                print("== part 2: horizontal", flush=True)
                t0 = time.monotonic()
                result["part2"] = part2(fleet, origin, origin_log, keys, args, notes)
                elapsed["2"] = time.monotonic() - t0
                p23 = result["part2"].pop("_proxies")
                mr = p23["memory+redis"][:3]
            if 3 in parts:
                print("== part 3: purge propagation", flush=True)
                if p23 is None or len(mr) < 3:
                    mr = [fleet.start(f"ours-purge-{i}", ["memory", "redis"], 1, origin,
                                      prefix="p3:") for i in range(3)]
                t0 = time.monotonic()
                result["part3"] = part3(mr, args, notes)
                elapsed["3"] = time.monotonic() - t0
                s = result["part3"]["summary"]["after_response_ms"]
                print(f"purge propagation: p50 {s['p50']:.2f} ms  p99 {s['p99']:.2f} ms  "
                      f"max {s['max']:.2f} ms", flush=True)
            if p23:
                fleet.stop([p for ps in p23.values() for p in ps])
        if 4 in parts:
            print("== part 4: cross-instance coalescing", flush=True)
            nginx_port = int(re.search(r"listen 127\.0\.0\.1:(\d+)",
                                       (tmp / "nginx.conf").read_text()).group(1))
            t0 = time.monotonic()
            result["part4"] = part4(fleet, nginx_port, keys, args, notes)
            elapsed["4"] = time.monotonic() - t0
        result["notes"] = notes
        result["load_after"] = os.getloadavg()
        result["elapsed_s"] = time.monotonic() - t_start
        table = render(result)
        print("\n" + table)
        yg_load.write_results(args.out_dir, "redis_compare", result, table)
        return 0
    finally:
        run.stop_all()
        redis.stop()
        if fleet:
            for d in fleet.scratch:
                shutil.rmtree(d, ignore_errors=True)
        if args.keep_tmp:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def render(r: dict) -> str:
    def f(x, fmt="{:.2f}"):
        return "–" if x is None else fmt.format(x)

    rv = re.search(r"v=(\S+)", r["versions"]["redis"])
    lines = [
        f"# Redis cache layer under load ({r['date']})",
        "",
        f"{r['cpus']} CPUs shared by wrk, the proxies, redis-server and the origin nginx (no "
        f"pinning; before the run the machine was {r['background_busy_pct']:.0f} % busy "
        f"without us; load average before {r['load_before'][0]:.2f}, after "
        f"{r['load_after'][0]:.2f}); {r['rounds']} alternating round(s) x {r['seconds']} s, "
        f"medians; wrk --latency with {r['connections']} connections in all. Redis: a local "
        f"redis-server {rv.group(1) if rv else '?'}, "
        f"pool_size {r['redis_settings']['pool_size']}, command_timeout_ms "
        f"{r['redis_settings']['command_timeout_ms']}. CPU columns: % of one core over the "
        f"window (wrk: its user+sys); machine: % of all {r['cpus']} CPUs. Run time "
        f"{r['elapsed_s']:.0f} s (parts: "
        + ", ".join(f"{k}: {v:.0f} s" for k, v in r["part_elapsed_s"].items()) + ").",
    ]
    if "part1" in r:
        p = r["part1"]
        lines += ["", "## 1. Hits by layer (one proxy, cache_layers [memory] / [disk] / [redis])",
                  "", "| workers | object | layer | req/s | p50 ms | p99 ms | proxy CPU % | "
                  "redis CPU % | wrk CPU % | softirq % | other CPU % | machine % | "
                  "server CPU µs/req | origin req | problems |", "|---" * 15 + "|"]
        for w, bys in p["median"].items():
            for s, per in bys.items():
                for la, m in per.items():
                    lines.append(
                        f"| {w} | {size_label(int(s))} | {la} | {f(m['rps'], '{:.0f}')} | "
                        f"{f(m['p50_ms'], '{:.3f}')} | {f(m['p99_ms'], '{:.3f}')} | "
                        f"{f(m['proxies_cpu_pct'], '{:.0f}')} | "
                        f"{f(m['redis_cpu_pct'], '{:.0f}')} | "
                        f"{f(m['wrk_cpu_pct'], '{:.0f}')} | {f(m['softirq_pct'], '{:.0f}')} | "
                        f"{f(m['other_cpu_pct'], '{:.0f}')} | "
                        f"{f(m['machine_busy_pct'], '{:.0f}')} | "
                        f"{f(m['server_cpu_us_per_req'], '{:.1f}')} | {m['origin_requests']} | "
                        f"{m['problems']} |")
        lines += ["", "| workers | object | req/s redis/memory | req/s redis/disk | "
                  "p50 redis/memory | p99 redis/memory | p99 redis/disk | "
                  "server CPU/req redis/memory |", "|---|---|---|---|---|---|---|---|"]
        for w, bys in p["ratios"].items():
            for s, q in bys.items():
                lines.append(f"| {w} | {size_label(int(s))} | **{f(q['rps_redis_over_memory'])}** "
                             f"| **{f(q['rps_redis_over_disk'])}** | "
                             f"{f(q['p50_ms_redis_over_memory'])} | "
                             f"{f(q['p99_ms_redis_over_memory'])} | "
                             f"{f(q['p99_ms_redis_over_disk'])} | "
                             f"{f(q['server_cpu_us_per_req_redis_over_memory'])} |")
        lines += ["", "server CPU µs/req = (proxy + redis-server CPU time) / requests; softirq: "
                  "the machine's irq + softirq time (loopback TCP, charged to no process); "
                  "other = the rest of the machine's busy time (other jobs on the machine). "
                  "\"origin req\": origin access-log lines during the measured windows; "
                  "\"problems\": windows with a non-HIT, a Redis error, a failed probe or "
                  "origin traffic (see notes)."]
    if "part2" in r:
        p = r["part2"]
        lines += ["", f"## 2. Horizontal: N proxies (1 worker each) sharing one redis-server, "
                  f"{size_label(p['size'])}", "",
                  "One wrk (-t1) per instance at once, the connections split over them; req/s "
                  "summed, p50 the median of the instances', p99 the worst.", "",
                  "| layers | instances | req/s | x 1 instance | p50 ms | p99 ms | proxies CPU % "
                  "| redis CPU % | wrk CPU % (share of machine) | softirq % | other CPU % | "
                  "machine % | redis µs/req | req/s at 1 redis core | origin req | problems | "
                  "limit |", "|---" * 17 + "|"]
        for cfg, per in p["median"].items():
            for n, m in per.items():
                lines.append(
                    f"| [{cfg.replace('+', ', ')}] | {n} | {f(m['rps'], '{:.0f}')} | "
                    f"{f(m['rps_over_1'])} | {f(m['p50_ms'], '{:.3f}')} | "
                    f"{f(m['p99_ms'], '{:.3f}')} | {f(m['proxies_cpu_pct'], '{:.0f}')} | "
                    f"{f(m['redis_cpu_pct'], '{:.0f}')} | {f(m['wrk_cpu_pct'], '{:.0f}')} "
                    f"({f(m['wrk_share_pct'], '{:.0f}')} %) | {f(m['softirq_pct'], '{:.0f}')} | "
                    f"{f(m['other_cpu_pct'], '{:.0f}')} | "
                    f"{f(m['machine_busy_pct'], '{:.0f}')} | "
                    f"{f(m['redis_cpu_us_per_req'], '{:.1f}')} | "
                    f"{f(m['rps_at_one_redis_core'], '{:.0f}')} | {m['origin_requests']} | "
                    f"{m['problems']} | {m['bottleneck']} |")
        lines += ["", f"On {r['cpus']} CPUs the instances, the wrk processes and redis-server "
                  "compete for the same cores: more instances cannot add CPU, so an aggregate "
                  "that stays flat with the machine near 100 % is the machine's limit, not "
                  "Redis's; Redis is the bottleneck only when redis-server itself nears 100 % "
                  "of a core. \"req/s at 1 redis core\" extrapolates redis-server's CPU per "
                  "request linearly to 100 % of one core: a rough ceiling for this object size "
                  "(pipelining makes Redis cheaper per request under more load, so it is "
                  "conservative); with [memory, redis] the hits never reach Redis."]
    if "part3" in r:
        s = r["part3"]["summary"]
        a, q = s["after_response_ms"], s["after_request_ms"]
        lines += ["", "## 3. Purge propagation (3 instances, [memory, redis])", "",
                  f"{s['purges']} purges (`POST /admin/cache/purge/{CFG_BUCKET}/<key>`, on each "
                  "instance in turn) of an object that was a memory hit on all three; the other "
                  "two polled with `GET /admin/cache/info` (404 = no layer has it) from before "
                  f"the purge was sent. One poll round trip: {f(s['poll_rtt_ms'], '{:.3f}')} ms "
                  "(the resolution).", "",
                  "| measured from | samples | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|",
                  f"| the purge's response | {s['samples']} | {f(a['p50'], '{:.3f}')} | "
                  f"{f(a['p99'], '{:.3f}')} | {f(a['max'], '{:.3f}')} |",
                  f"| the purge's request | {s['samples']} | {f(q['p50'], '{:.3f}')} | "
                  f"{f(q['p99'], '{:.3f}')} | {f(q['max'], '{:.3f}')} |", "",
                  f"Purge round trip (POST to its answer) p50 {f(s['purge_rtt_ms_p50'], '{:.3f}')} "
                  f"ms; gone on the other instance before the purge answered in "
                  f"{s['gone_before_response']} of {s['samples']} samples (a negative time). "
                  f"Counters (purge_propagation_total deltas per instance): "
                  f"{s['propagation_counters']}."]
    if "part4" in r:
        p = r["part4"]
        lines += ["", f"## 4. Cross-instance coalescing (3 instances [memory, redis], "
                  f"{p['clients']} clients at once, new 1 MiB object, origin delay "
                  f"{p['origin_delay_ms']} ms)", "",
                  "| fill_lock_ms | origin GETs per repetition | median | max | bad answers | "
                  "slowest client ms |", "|---|---|---|---|---|---|"]
        for lock, s in p["summary"].items():
            lines.append(f"| {lock} | {', '.join(map(str, s['origin_gets']))} | {s['median']} | "
                         f"{s['max']} | {s['bad_answers']} | {s['client_ms_max']:.0f} |")
        for lock, reps in p["reps"].items():
            lines.append("")
            lines.append(f"fill_lock_ms {lock}, X-Cache and counters per repetition: " + "; ".join(
                f"{e['x_cache']} {e['counters']}" for e in reps))
    lines += ["", "## Notes", ""]
    lines += [f"- {n}" for n in r["notes"]] or ["- none: every measured window had 0 origin "
                                                "requests, only HITs, no Redis errors."]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
