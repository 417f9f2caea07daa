#!/usr/bin/env python3
"""CPU scaling: 1 vs 2 worker threads on memory-cache hits (issue #9 item 2).

Two proxies in front of one nginx origin, identical except for `server.threads`:
  w1   server.threads: 1, pinned (sched_setaffinity) to CPU 0
  w2   server.threads: 2, pinned to CPUs 0 and 1
Both cache in memory; every object is warmed and checked (X-Cache: HIT, SHA-256) first. Then
`wrk -t2 -c64 --latency` (unpinned: the kernel places it; this machine has 2 CPUs and the load
generator needs CPU too) runs against w1 and w2 in turn for each object size (1 KiB, 64 KiB),
round after round. Per window the script reads the CPU time of wrk (RUSAGE_CHILDREN) and of
the whole machine (/proc/stat: other processes on a shared machine show up here), and from /proc the proxy's CPU seconds per thread
(worker threads are named yg-worker-N) and from /metrics the cache hits and
yatagarasu_worker_requests_total{worker}.

Because wrk shares the 2 CPUs, req/s alone cannot show linear scaling: with 1 worker, wrk has
CPU 1 to itself; with 2 workers, wrk and the proxy compete for both. The CPU-independent figure
is "requests per proxy CPU-second" (requests / proxy CPU seconds in the window), which stays
about constant when scaling is linear (no lock contention or cross-worker overhead). Reported:
  scaling efficiency     = rps(w2) / (2 * rps(w1))   (bounded by the wrk CPU share: caveat)
  per-CPU efficiency     = req-per-CPU-s(w2) / req-per-CPU-s(w1)   (~1.0 when linear)

Verified from metrics for every window (a figure from a misconfigured run is worse than none):
yatagarasu_worker_threads equals server.threads; cache hits (memory layer) rose by ~the wrk
request count and misses by 0; with 2 workers each worker answered > 20 % of the requests and
each yg-worker thread used > 20 % of the workers' CPU (the Rust reference's scaling runs were
flat because its worker count was fixed: this is the point of the campaign). Samples are
re-read after each window and their SHA-256 compared.

  python3 load/cpu_scaling.py --quick             # 1 round x 3 s per window (< 60 s)
  python3 load/cpu_scaling.py                     # 5 rounds x 10 s per window
  python3 load/cpu_scaling.py --rounds 3 --seconds 20 --connections 128

Writes load/results/cpu_scaling_<stamp>.md/.json/_scaling.png.
"""

from __future__ import annotations

import hashlib
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "load"))
import yg_campaign as yc  # noqa: E402
import yg_data  # noqa: E402
import yg_load  # noqa: E402
from cache_compare import fetch  # noqa: E402

BUCKET = "bench-bucket"
SIZES = {"1k": 1024, "64k": 64 * 1024}
# The first two CPUs this process may run on (a container's cpuset need not start at CPU 0).
_ALLOWED = sorted(os.sched_getaffinity(0))
CONFIGS = {"w1": (1, _ALLOWED[:1]), "w2": (2, _ALLOWED[:2])}


def add_args(ap):
    ap.add_argument("--rounds", type=int, default=0, help="default: quick 1, full 5")
    ap.add_argument("--seconds", type=int, default=0, help="per window; quick 3, full 10")
    ap.add_argument("--connections", type=int, default=64, help="wrk -c (>= 32)")
    ap.add_argument("--wrk-threads", type=int, default=2)


def proxy_yaml(threads: int, origin: int):
    cache = yg_load.memory_cache_yaml()
    return lambda port: yg_load.cached_proxy_yaml(port, threads, cache, origin, BUCKET)


def machine_busy():
    """(busy jiffies, total jiffies) of all CPUs from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return sum(f) - idle, sum(f)


def worker_shares(after, before, n):
    got = [yc.delta(after, before, "yatagarasu_worker_requests_total", worker=str(i))
           for i in range(n)]
    tot = sum(got) or 1
    return [g / tot for g in got], got


def main() -> int:
    c = yc.Campaign("cpu_scaling", __doc__, add_args=add_args)
    a = c.args
    rounds = a.rounds or (1 if a.quick else 5)
    secs = a.seconds or (3 if a.quick else 10)
    ncpu = os.cpu_count() or 1
    with c:
        if len(_ALLOWED) < 2:
            c.check("at least 2 CPUs to run on", False, f"CPUs allowed: {_ALLOWED}")
            return c.exit_code()
        www, sha = {}, {}
        for i, (label, size) in enumerate(SIZES.items()):
            data = b"".join(yg_data.chunks(size, 100 + i))
            www[f"{BUCKET}/obj-{label}.bin"] = data
            sha[label] = hashlib.sha256(data).hexdigest()
        origin = yg_load.start_origin(c.run, c.tmp, www)
        proxies = {}
        for name, (threads, cpus) in CONFIGS.items():
            proxies[name] = c.start_proxy(name, proxy_yaml(threads, origin), cpus=cpus)

        def check_bytes(px, label, want_hit=True):
            r = fetch(px.port, f"/bench/obj-{label}.bin")
            ok = (r["status"] == 200 and hashlib.sha256(r["body"]).hexdigest() == sha[label]
                  and (not want_hit or r["headers"].get("x-cache", "").upper() == "HIT"))
            return ok, f"{r['status']} x-cache={r['headers'].get('x-cache')} {len(r['body'])} B"

        for name, px in proxies.items():
            for label in SIZES:
                fetch(px.port, f"/bench/obj-{label}.bin")  # fill
                ok, d = check_bytes(px, label)
                c.verify_config(f"{name} {label} warmed: HIT with the right SHA-256", ok, d)
            m = px.metrics()
            want = CONFIGS[name][0]
            c.verify_config(f"{name}: yatagarasu_worker_threads == {want}",
                            yc.total(m, "yatagarasu_worker_threads") == want,
                            f"{yc.total(m, 'yatagarasu_worker_threads'):g}")
            aff = os.sched_getaffinity(px.pid)
            c.verify_config(f"{name}: pinned to CPUs {CONFIGS[name][1]}",
                            sorted(aff) == CONFIGS[name][1], f"{sorted(aff)}")

        windows = []
        bad_bytes = 0
        wrk_errors = []
        for rnd in range(rounds):
            order = list(CONFIGS) if rnd % 2 == 0 else list(reversed(CONFIGS))
            for label in SIZES:
                for name in order:
                    px = proxies[name]
                    threads = CONFIGS[name][0]
                    m0 = px.metrics()
                    tc0 = yc.thread_cpu(px.pid)
                    p0 = yc.proc_stats(px.pid)["cpu_s"]
                    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    s0 = machine_busy()
                    t0 = time.monotonic()
                    try:
                        w = yg_load.wrk(px.url(f"/bench/obj-{label}.bin"), secs,
                                        a.connections, threads=a.wrk_threads)
                    except RuntimeError as e:
                        wrk_errors.append(f"{name} {label}: {e}")
                        continue
                    wall = time.monotonic() - t0
                    s1 = machine_busy()
                    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    wrk_cpu = (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
                    busy = (s1[0] - s0[0]) / max(1, s1[1] - s0[1]) * ncpu
                    p1 = yc.proc_stats(px.pid)["cpu_s"]
                    tc1 = yc.thread_cpu(px.pid)
                    m1 = px.metrics()
                    for _ in range(3):
                        ok, _d = check_bytes(px, label)
                        bad_bytes += 0 if ok else 1
                    hits = yc.delta(m1, m0, "yatagarasu_cache_requests_total", result="hit")
                    miss = yc.delta(m1, m0, "yatagarasu_cache_requests_total", result="miss")
                    mem_hits = yc.delta(m1, m0, "yatagarasu_cache_layer_operations_total",
                                        layer="memory", op="hit")
                    shares, per_worker = worker_shares(m1, m0, threads)
                    wcpu = {k: tc1.get(k, 0) - tc0.get(k, 0) for k in tc1
                            if k.startswith("yg-worker")}
                    wsum = sum(wcpu.values()) or 1e-9
                    cpu_s = p1 - p0
                    row = {"round": rnd, "size": label, "config": name, "threads": threads,
                           "rps": w["rps"], "p50_ms": w["p50_ms"], "p99_ms": w["p99_ms"],
                           "requests": w["requests"], "wall_s": round(wall, 2),
                           "proxy_cpu_s": round(cpu_s, 2),
                           "proxy_cpu_util": cpu_s / wall if wall else None,
                           "wrk_cpu_util": wrk_cpu / wall if wall else None,
                           "machine_busy_cpus": busy,
                           "other_cpus": busy - (cpu_s + wrk_cpu) / wall if wall else None,
                           "req_per_cpu_s": w["requests"] / cpu_s if cpu_s > 0 else None,
                           "hits": hits, "misses": miss, "memory_hits": mem_hits,
                           "worker_requests": per_worker, "worker_shares": shares,
                           "worker_cpu_s": {k: round(v, 2) for k, v in sorted(wcpu.items())},
                           "worker_cpu_shares": {k: v / wsum for k, v in sorted(wcpu.items())}}
                    windows.append(row)
                    print(f"  r{rnd} {label:>4} {name}: {w['rps']:,.0f} req/s, p99 "
                          f"{w['p99_ms']:.2f} ms, CPUs proxy {row['proxy_cpu_util']:.2f} wrk "
                          f"{row['wrk_cpu_util']:.2f} others {row['other_cpus']:.2f}, "
                          f"proxy CPU {cpu_s:.1f} s "
                          f"({row['req_per_cpu_s'] or 0:,.0f} req/CPU-s), worker shares "
                          + ", ".join(f"{s:.0%}" for s in shares)
                          + " cpu " + ", ".join(f"{v:.0%}" for v in
                                                row["worker_cpu_shares"].values()), flush=True)
                    # config verification of this window
                    n = w["requests"]
                    okh = hits >= 0.98 * n and mem_hits >= 0.98 * n and miss == 0
                    c.verify_config(f"r{rnd} {label} {name}: memory hits ~ wrk requests, 0 misses",
                                    okh, f"hits {hits:.0f}, memory hits {mem_hits:.0f}, misses "
                                    f"{miss:.0f}, wrk {n}")
                    if threads > 1:
                        c.verify_config(
                            f"r{rnd} {label} {name}: every worker > 20 % of requests",
                            len(shares) == threads and min(shares) > 0.20,
                            ", ".join(f"{s:.1%}" for s in shares))
                        cs = list(row["worker_cpu_shares"].values())
                        c.verify_config(
                            f"r{rnd} {label} {name}: every yg-worker thread > 20 % of worker CPU",
                            len(cs) == threads and min(cs) > 0.20,
                            ", ".join(f"{k} {v:.1%}" for k, v in
                                      row["worker_cpu_shares"].items()))
        c.check("no wrk errors (non-2xx or socket errors)", not wrk_errors,
                "; ".join(wrk_errors)[:500])
        c.check("sampled bodies all HIT with the right SHA-256", bad_bytes == 0,
                f"{bad_bytes} bad of {3 * len(windows)}")

        # medians and ratios
        agg = {}
        for label in SIZES:
            for name in CONFIGS:
                rs = [w for w in windows if w["size"] == label and w["config"] == name]
                if not rs:
                    continue
                med = lambda k: statistics.median(r[k] for r in rs if r[k] is not None)  # noqa
                agg[(label, name)] = {k: med(k) for k in
                                      ("rps", "p50_ms", "p99_ms", "req_per_cpu_s",
                                       "proxy_cpu_util", "wrk_cpu_util", "other_cpus")}
                agg[(label, name)]["min_worker_share"] = min(min(r["worker_shares"])
                                                             for r in rs)
        rows, summary = [], {}
        for label in SIZES:
            g1, g2 = agg.get((label, "w1")), agg.get((label, "w2"))
            if not g1 or not g2:
                continue
            eff = g2["rps"] / (2 * g1["rps"])
            cpu_eff = g2["req_per_cpu_s"] / g1["req_per_cpu_s"]
            summary[label] = {"w1": g1, "w2": g2, "scaling_efficiency": eff,
                              "rps_ratio": g2["rps"] / g1["rps"], "per_cpu_efficiency": cpu_eff}
            for name, g in (("w1", g1), ("w2", g2)):
                rows.append([label, name, CONFIGS[name][0], g["rps"], g["p50_ms"], g["p99_ms"],
                             g["proxy_cpu_util"], g["wrk_cpu_util"], g["other_cpus"],
                             g["req_per_cpu_s"],
                             f"{g['min_worker_share']:.0%}" if name == "w2" else "100%",
                             f"{g2['rps'] / g1['rps']:.2f}" if name == "w2" else "1 (base)",
                             f"{eff:.2f}" if name == "w2" else "",
                             f"{cpu_eff:.2f}" if name == "w2" else ""])
            # generous: per-CPU efficiency must not collapse (lock contention, one busy worker)
            c.check(f"{label}: per-CPU efficiency req/CPU-s(w2)/req/CPU-s(w1) > 0.5",
                    cpu_eff > 0.5, f"{cpu_eff:.2f}")
        c.result = {"rounds": rounds, "seconds": secs, "connections": a.connections,
                    "wrk_threads": a.wrk_threads, "configs": {k: {"threads": t, "cpus": cp}
                                                              for k, (t, cp) in CONFIGS.items()},
                    "windows": windows, "summary": summary}
        c.table = ("wrk unpinned (shares the 2 CPUs with the proxy); medians of "
                   f"{rounds} round(s) x {secs} s, wrk -t{a.wrk_threads} -c{a.connections}\n\n"
                   + yc.fmt_table(["size", "config", "workers", "req/s", "p50 ms", "p99 ms",
                                   "proxy CPUs used", "wrk CPUs", "other processes' CPUs",
                                   "req per proxy CPU-s",
                                   "min worker share", "rps w2/w1",
                                   "scaling eff. rps2/(2 rps1)", "per-CPU eff."], rows)
                   + "\n\nscaling efficiency is bounded by the load generator sharing the CPUs; "
                   "per-CPU efficiency (requests per proxy CPU-second, w2 / w1) is ~1.0 when "
                   "the workers scale linearly.\n")
        labels = [f"{l} {n}" for l in SIZES for n in CONFIGS if (l, n) in agg]
        c.plot("scaling", [
            {"title": "req/s (wrk shares the CPUs)", "ylabel": "req/s", "kind": "bar",
             "series": {f"yatagarasu {k}": agg[tuple(k.split())]["rps"] for k in labels}},
            {"title": "requests per proxy CPU-second (flat = linear scaling)",
             "ylabel": "req / CPU-s", "kind": "bar",
             "series": {f"yatagarasu {k}": agg[tuple(k.split())]["req_per_cpu_s"]
                        for k in labels}},
            {"title": "proxy CPUs used", "ylabel": "CPUs", "kind": "bar",
             "series": {f"yatagarasu {k}": agg[tuple(k.split())]["proxy_cpu_util"]
                        for k in labels}},
        ])
    return c.exit_code()


if __name__ == "__main__":
    sys.exit(main())
