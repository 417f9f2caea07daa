#!/usr/bin/env python3
"""Chaos under constant load (issue #9): four faults, each in three phases of equal length
(baseline / fault / recovery), while an open-loop client (tests/support/rate_client.py: a fresh
connection per request, status 200 and the SHA-256 of every body checked) keeps a constant rate.

  backend-errors  bucket /ha: primary = the FAKE fault server, secondary = moto (SigV4 on),
                  retries on; bucket /retry: the fault server alone, retries on. In the fault
                  phase the fault server answers 503 to a fixed fraction (--fail-fraction) of
                  requests -> failovers (/ha) and retries (/retry) must hide every one of them.
  backend-stall   /ha only: the primary accepts and never answers -> each attempt pays the
                  replica timeout (1 s) until the breaker opens, then the secondary serves.
  redis-killed    bucket /c on moto, cache_layers [redis] (a real redis-server): kill -9 in the
                  fault phase, restarted (empty) for the recovery -> served from S3 meanwhile,
                  Redis errors counted, Redis hits return after the restart.
  disk-full       bucket /d on nginx, cache_layers [disk], the cache directory on a tmpfs
                  (mount -t tmpfs -o size=...); in the fault phase a ballast file fills the
                  filesystem (ENOSPC) while the client asks for new objects (writes fail) and
                  cached ones (disk hits); the ballast is removed for the recovery, where the
                  objects whose write failed are asked again -> no partial file ever served.

Per scenario and phase: requests, failed, error rate, p50/p99, X-Cache, and the metric deltas
that prove the fault happened and what the proxy did about it (fault server's injected 503s and
stalls, upstream errors by kind, failovers, retries, breaker openings, Redis events and layer
errors, disk layer inserts/rejections/errors, the filesystem's free bytes). Checks (enforced in
--quick, CI): zero failed requests in every phase, and every fault verified as injected.

  load/chaos.py                 # 30 s per phase, 60 req/s (~6.5 min)
  load/chaos.py --quick         # 4 s per phase, 40 req/s (< 90 s)
  load/chaos.py --scenarios redis-killed,disk-full --phase-seconds 10

Needs root (CAP_SYS_ADMIN) for the tmpfs mount: without it the disk-full scenario is not run and
its check fails the run (never counted as passed); `--scenarios` without disk-full leaves it out.
Writes load/results/chaos_<stamp>.md/.json and chaos_<stamp>_timeline.png (per scenario:
per-second success rate and p99 with the fault phase shaded).
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "tests" / "support"))
import yg_load  # noqa: E402
import yg_moto  # noqa: E402
import yg_redis  # noqa: E402
from yg_campaign import Campaign, delta, fmt_table, percentile, scrape  # noqa: E402
from fault_server import FaultServer  # noqa: E402
from rate_client import ConstantLoad, LoadResult  # noqa: E402

SCENARIOS = ("backend-errors", "backend-stall", "redis-killed", "disk-full")
BUCKET = "chaos-bucket"
FAKE_KEYS = ("AKIAFAKEFAULTSERVER0", "the-fault-server-ignores-signatures")
REPLICA_TIMEOUT = 1
BREAKER = "{failure_threshold: 5, success_threshold: 2, timeout_seconds: 2, " \
          "half_open_max_requests: 2}"
RETRY = "{max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 50, budget_percent: 50}"
PHASES = ("baseline", "fault", "recovery")


def add_args(ap):
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help="comma-separated subset of " + ", ".join(SCENARIOS))
    ap.add_argument("--phase-seconds", type=float, help="default: 30 (quick: 4)")
    ap.add_argument("--rate", type=float, help="requests/s (default 60, quick 40)")
    ap.add_argument("--fail-fraction", type=float, default=0.2,
                    help="share of requests the fault server answers 503 in backend-errors")
    ap.add_argument("--tmpfs-mb", type=int, help="disk-full: tmpfs size (default 32, quick 16)")


# --------------------------------------------------------------------------------------------
# the timeline shared by every scenario


def run_phases(px, load: ConstantLoad, seconds: float, fault: Callable[[], dict],
               recover: Callable[[], dict]) -> dict:
    """baseline -> fault() -> recovery -> stop; /metrics scraped at every boundary."""
    snaps = [scrape(px.port)]
    load.start()
    t0 = load.started
    time.sleep(max(0.0, t0 + seconds - time.monotonic()))
    snaps.append(scrape(px.port))
    load.mark("fault")
    fault_info = fault() or {}
    time.sleep(max(0.0, t0 + 2 * seconds - time.monotonic()))
    snaps.append(scrape(px.port))
    load.mark("recover")
    recover_info = recover() or {}
    time.sleep(max(0.0, t0 + 3 * seconds - time.monotonic()))
    res = load.stop()
    time.sleep(0.3)  # the last responses' counters
    snaps.append(scrape(px.port))
    return {"res": res, "snaps": snaps, "fault_info": fault_info, "recover_info": recover_info}


def phase_outcomes(res: LoadResult) -> Dict[str, list]:
    b = [res.started, res.marks["fault"], res.marks["recover"], float("inf")]
    return {name: [o for o in res.outcomes if lo <= o.sent < hi]
            for name, lo, hi in zip(PHASES, b, b[1:])}


def phase_rows(scenario: str, run: dict, metrics: Dict[str, Callable]) -> List[dict]:
    """One row per phase: client figures + the deltas of `metrics` ({label: fn(after, before)})
    between the phase's boundary scrapes."""
    rows = []
    snaps = run["snaps"]
    for i, (name, outs) in enumerate(phase_outcomes(run["res"]).items()):
        lat = [o.latency * 1000 for o in outs]
        failed = [o for o in outs if not o.ok]
        xc: Dict[str, int] = {}
        for o in outs:
            xc[str(o.x_cache)] = xc.get(str(o.x_cache), 0) + 1
        row = {"scenario": scenario, "phase": name, "requests": len(outs),
               "failed": len(failed), "error_rate": len(failed) / len(outs) if outs else None,
               "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
               "max_ms": max(lat) if lat else None, "x_cache": xc,
               "metrics": {k: fn(snaps[i + 1], snaps[i]) for k, fn in metrics.items()}}
        if failed:
            row["first_failures"] = [f"{o.target} {o.status} {o.error[:160]}"
                                     for o in failed[:5]]
        rows.append(row)
    return rows


def per_second(res: LoadResult) -> dict:
    by: Dict[int, list] = {}
    for o in res.outcomes:
        by.setdefault(int(o.sent - res.started), []).append(o)
    secs = sorted(by)
    return {"t": secs,
            "success_pct": [100.0 * sum(o.ok for o in by[s]) / len(by[s]) for s in secs],
            "p99_ms": [percentile([o.latency * 1000 for o in by[s]], 99) for s in secs],
            "n": [len(by[s]) for s in secs]}


def stop_proxy(c: Campaign, px) -> None:
    t = time.monotonic()
    c.run.stop(px.proc)
    print(f"  {px.name}: stopped in {time.monotonic() - t:.1f} s (exit {px.proc.returncode})",
          flush=True)


def d(name: str, **labels) -> Callable:
    return lambda after, before: delta(after, before, name, **labels)


# --------------------------------------------------------------------------------------------
# scenarios


def fake_replica(fs: FaultServer, name: str, prio: int) -> str:
    return (f"        - {{name: {name}, priority: {prio}, bucket: fake-bucket, "
            f"endpoint: '{fs.url}', access_key: '{FAKE_KEYS[0]}', secret_key: '{FAKE_KEYS[1]}', "
            f"timeout: {REPLICA_TIMEOUT}}}\n")


def moto_replica(m, name: str, prio: int) -> str:
    return (f"        - {{name: {name}, priority: {prio}, bucket: {BUCKET}, endpoint: '{m.url}', "
            f"access_key: '{m.access_key}', secret_key: '{m.secret_key}', timeout: 10}}\n")


def head(port: int, threads: int = 2) -> str:
    return (f"server: {{address: 127.0.0.1, port: {port}, threads: {threads}, "
            "request_timeout: 30}\nlogging: {level: warn, format: json, access_log: false}\n")


def backend_scenarios(c: Campaign, moto, names: List[str], rate: float, secs: float) -> list:
    """backend-errors and backend-stall share one proxy and one fault server."""
    body = os.urandom(64 * 1024)
    moto.put(BUCKET, "obj.bin", body)
    fs = FaultServer(mode="ok", body=body, fail_fraction=c.args.fail_fraction).start()
    out = []
    try:
        def yaml(port):
            return (head(port) + "buckets:\n"
                    "  - name: ha\n    path_prefix: /ha\n    s3:\n"
                    f"      retry: {RETRY}\n      circuit_breaker: {BREAKER}\n"
                    "      replicas:\n" + fake_replica(fs, "primary", 1)
                    + moto_replica(moto, "secondary", 2) +
                    "  - name: retry\n    path_prefix: /retry\n    s3:\n"
                    f"      retry: {RETRY}\n      circuit_breaker: {{failure_threshold: 1000}}\n"
                    "      replicas:\n" + fake_replica(fs, "only", 1))
        px = c.start_proxy("backend", yaml)
        metrics = {
            "failovers(ha)": d("yatagarasu_upstream_failovers_total", bucket="ha"),
            "retries(ha)": d("yatagarasu_upstream_retries_total", bucket="ha"),
            "retries(retry)": d("yatagarasu_upstream_retries_total", bucket="retry"),
            "budget_exhausted": d("yatagarasu_upstream_retry_budget_exhausted_total"),
            "upstream_5xx": d("yatagarasu_upstream_errors_total", kind="server_error"),
            "timeouts": d("yatagarasu_upstream_errors_total", kind="timeout"),
            "breaker_opened(ha)": d("yatagarasu_circuit_breaker_opened_total", bucket="ha"),
            "secondary_200": d("yatagarasu_upstream_responses_total", bucket="ha",
                               replica="secondary", status="200"),
        }
        for name in names:
            targets = {"/ha/obj.bin": body}
            order = None
            if name == "backend-errors":
                # both buckets in a shuffled order: a strict alternation would line up with the
                # fault server's evenly spread 503s and send them all to one bucket
                targets["/retry/obj.bin"] = body
                order = list(targets) * 50
                random.Random(9).shuffle(order)
            load = ConstantLoad(px.port, targets, rate=rate, timeout=30, order=order)
            injected = {}

            def fault(name=name):
                injected["before"] = dict(fs.injected)
                fs.mode = "503-fraction" if name == "backend-errors" else "stall-before-headers"
                return {}

            def recover():
                fs.mode = "ok"
                injected["after"] = dict(fs.injected)
                return {}

            run = run_phases(px, load, secs, fault, recover)
            kind = "503" if name == "backend-errors" else "stall"
            n_inj = injected["after"].get(kind, 0) - injected["before"].get(kind, 0)
            rows = phase_rows(name, run, metrics)
            rows[1]["metrics"][f"fault_server_{kind}s"] = n_inj
            fm, bm = rows[1]["metrics"], rows[0]["metrics"]
            if name == "backend-errors":
                c.verify_config(f"{name}: the fault server answered 503s in the fault phase",
                                n_inj >= 0.5 * c.args.fail_fraction * rows[1]["requests"],
                                f"{n_inj} injected 503s for {rows[1]['requests']} requests")
                c.verify_config(f"{name}: the proxy saw them (5xx upstream errors)",
                                fm["upstream_5xx"] >= 0.8 * n_inj,
                                f"{fm['upstream_5xx']:.0f} server_error vs {n_inj} injected")
                c.verify_config(f"{name}: failovers (ha) and retries (retry) happened, none in "
                                "the baseline",
                                fm["failovers(ha)"] > 0 and fm["retries(retry)"] > 0
                                and bm["failovers(ha)"] == 0 and bm["retries(retry)"] == 0,
                                f"fault: {fm['failovers(ha)']:.0f} failovers, "
                                f"{fm['retries(retry)']:.0f} retries")
            else:
                c.verify_config(f"{name}: the primary stalled and the proxy timed out on it",
                                n_inj > 0 and fm["timeouts"] > 0,
                                f"{n_inj} stalled requests, {fm['timeouts']:.0f} timeouts")
                c.verify_config(f"{name}: failed over to the secondary, breaker opened",
                                fm["failovers(ha)"] > 0 and fm["breaker_opened(ha)"] >= 1
                                and fm["secondary_200"] > 0,
                                f"{fm['failovers(ha)']:.0f} failovers, breaker opened "
                                f"{fm['breaker_opened(ha)']:.0f}x, secondary 200s "
                                f"{fm['secondary_200']:.0f}")
                rm = rows[2]["metrics"]
                c.check(f"{name}: traffic back on the primary in the recovery",
                        rm["secondary_200"] < rows[2]["requests"] * 0.9,
                        f"secondary served {rm['secondary_200']:.0f} of {rows[2]['requests']}")
            out.append({"scenario": name, "rows": rows, "series": per_second(run["res"]),
                        "secs": secs})
        stop_proxy(c, px)
    finally:
        fs.stop()
    return out


def redis_scenario(c: Campaign, moto, rate: float, secs: float) -> dict:
    bodies = {}
    for i in range(10):
        b = os.urandom(16 * 1024)
        moto.put(BUCKET, f"r{i}.bin", b)
        bodies[f"/c/r{i}.bin"] = b
    rs = yg_redis.RedisServer(c.tmp / "redis").start()
    try:
        def yaml(port):
            return (head(port) +
                    "cache:\n  enabled: true\n  cache_layers: [redis]\n"
                    "  memory: {max_cache_size_mb: 64, max_item_size_mb: 4, "
                    "default_ttl_seconds: 3600}\n"
                    f"  redis: {{enabled: true, redis_url: '{rs.url()}', "
                    "redis_key_prefix: 'chaos:'}\n"
                    "buckets:\n  - name: c\n    path_prefix: /c\n    s3:\n"
                    "      replicas:\n" + moto_replica(moto, "moto", 1))
        px = c.start_proxy("redis", yaml)
        # warm: every object in Redis (writes are queued: wait until the layer has them all)
        import http.client
        for t in bodies:
            conn = http.client.HTTPConnection("127.0.0.1", px.port, timeout=10)
            conn.request("GET", t)
            conn.getresponse().read()
            conn.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(rs.keys("chaos:*")) < len(bodies):
            time.sleep(0.1)
        warmed = len(rs.keys("chaos:*"))
        metrics = {
            "redis_hits": d("yatagarasu_cache_layer_operations_total", layer="redis", op="hit"),
            "redis_inserts": d("yatagarasu_cache_layer_operations_total", layer="redis",
                               op="insert"),
            "redis_layer_errors": d("yatagarasu_cache_layer_operations_total", layer="redis",
                                    op="error"),
            "connect_failures": d("yatagarasu_redis_events_total", event="connect_failure"),
            "fast_failures": d("yatagarasu_redis_events_total", event="fast_failure"),
            "disconnects": d("yatagarasu_redis_events_total", event="disconnect"),
            "reconnects": d("yatagarasu_redis_events_total", event="connect"),
            "s3_responses": d("yatagarasu_upstream_responses_total", bucket="c"),
        }
        load = ConstantLoad(px.port, bodies, rate=rate, timeout=30)
        killed = {}

        def fault():
            killed["pid"] = rs.pid
            rs.kill()  # SIGKILL
            return {"killed_pid": killed["pid"]}

        def recover():
            rs.restart()
            return {"restarted_pid": rs.pid}

        run = run_phases(px, load, secs, fault, recover)
        rows = phase_rows("redis-killed", run, metrics)
        bm, fm, rm = (r["metrics"] for r in rows)
        c.verify_config("redis-killed: warmed, baseline served by Redis hits",
                        warmed == len(bodies) and bm["redis_hits"] >= 0.9 * rows[0]["requests"],
                        f"{warmed} keys in Redis; {bm['redis_hits']:.0f} hits for "
                        f"{rows[0]['requests']} requests")
        c.verify_config("redis-killed: Redis really gone in the fault phase (errors counted, "
                        "served from S3)",
                        fm["redis_layer_errors"] > 0
                        and fm["connect_failures"] + fm["fast_failures"] > 0
                        and fm["s3_responses"] >= 0.8 * rows[1]["requests"],
                        f"{fm['redis_layer_errors']:.0f} layer errors, "
                        f"{fm['connect_failures']:.0f} connect failures, "
                        f"{fm['fast_failures']:.0f} fast failures, "
                        f"{fm['s3_responses']:.0f} S3 responses")
        t_rec = run["res"].marks["recover"]
        late = [o for o in run["res"].outcomes if o.sent >= t_rec + secs / 2]
        late_hits = sum(1 for o in late if o.x_cache == "HIT")
        first_hit = next((o.sent - t_rec for o in run["res"].outcomes
                          if o.sent >= t_rec and o.x_cache == "HIT"), None)
        rows[2]["first_hit_after_restart_s"] = first_hit
        c.verify_config("redis-killed: Redis hits return after the restart",
                        rm["redis_hits"] > 0 and rm["reconnects"] > 0
                        and late_hits >= 0.25 * len(late),
                        f"{rm['redis_hits']:.0f} Redis hits, {rm['reconnects']:.0f} reconnects; "
                        f"second half of the recovery {late_hits}/{len(late)} X-Cache HIT; "
                        f"first hit {first_hit if first_hit is None else round(first_hit, 2)} "
                        "s after the restart began")
        stop_proxy(c, px)
        return {"scenario": "redis-killed", "rows": rows, "series": per_second(run["res"]),
                "secs": secs, "warmed_keys": warmed}
    finally:
        rs.stop()


def fill(path: Path) -> int:
    """Writes `path` until the filesystem is full (ENOSPC); returns the bytes written."""
    n = 0
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 16, 1 << 12):
            piece = chunk[:size]
            while True:
                try:
                    f.write(piece)
                    n += size
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return n


def disk_scenario(c: Campaign, rate: float, secs: float) -> dict:
    mnt = c.tmp / "diskcache"
    mnt.mkdir()
    size_mb = c.args.tmpfs_mb or (16 if c.args.quick else 32)
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if m.returncode != 0:
        c.check("disk-full: tmpfs mount (needs root / CAP_SYS_ADMIN)", False,
                m.stderr.strip() + " -- scenario not run")
        return {"scenario": "disk-full", "skipped": m.stderr.strip()}
    try:
        obj = 128 * 1024
        n_phase = int(rate * secs)
        hot = [f"d/hot{i}.bin" for i in range(8)]
        warm = [f"d/warm{i}.bin" for i in range(16)]
        fresh = [f"d/new{i}.bin" for i in range(n_phase // 2 + 8)]
        # the origin holds <bucket>/<key>; the proxy maps /d/<key> to it
        objects = {f"{BUCKET}/{k[2:]}": os.urandom(obj) for k in hot + warm + fresh}
        origin = yg_load.start_origin(c.run, c.tmp / "origin", objects)
        bodies = {"/" + k: objects[f"{BUCKET}/{k[2:]}"] for k in hot + warm + fresh}
        # the request order, by phase (ConstantLoad sends request i at started + i/rate):
        # baseline: hot and warm objects (all cached after the first pass); fault: hot (disk
        # hits) and new objects (writes hit ENOSPC); recovery: hot and the fault phase's new
        # objects again, a few times each (MISS + write, then disk hits of what was written).
        order: List[str] = []
        for i in range(n_phase):
            order.append("/" + (hot[(i // 2) % 8] if i % 2 == 0 else warm[(i // 2) % 16]))
        for i in range(n_phase):
            order.append("/" + (hot[(i // 2) % 8] if i % 2 == 0 else fresh[i // 2]))
        revisit = fresh[: max(8, n_phase // 8)]
        for i in range(n_phase + int(rate * 2)):
            order.append("/" + (hot[(i // 2) % 8] if i % 2 == 0
                                else revisit[(i // 2) % len(revisit)]))

        def yaml(port):
            return (head(port) +
                    "cache:\n  enabled: true\n  cache_layers: [disk]\n"
                    "  memory: {max_cache_size_mb: 64, max_item_size_mb: 4, "
                    "default_ttl_seconds: 3600}\n"
                    f"  disk: {{enabled: true, cache_dir: '{mnt}', "
                    f"max_disk_cache_size_mb: {size_mb * 8}}}\n"
                    + yg_load.origin_bucket_yaml(origin, BUCKET).replace(
                        '"bench"', '"d"').replace('"/bench"', '"/d"'))
        px = c.start_proxy("disk", yaml)
        metrics = {op: d("yatagarasu_cache_layer_operations_total", layer="disk", op=op)
                   for op in ("hit", "miss", "insert", "rejected", "error", "eviction")}
        metrics["write_queue_dropped"] = d("yatagarasu_cache_write_queue_dropped_total")
        metrics["origin_responses"] = d("yatagarasu_upstream_responses_total", bucket="d")
        load = ConstantLoad(px.port, bodies, rate=rate, timeout=30, order=order)
        ballast = mnt / "ballast.bin"
        free = {}

        def statfree():
            st = os.statvfs(mnt)
            return st.f_bavail * st.f_frsize

        def fault():
            free["before"] = statfree()
            written = fill(ballast)
            free["after_fill"] = statfree()
            return {"ballast_bytes": written, "free_before": free["before"],
                    "free_after_fill": free["after_fill"]}

        def recover():
            free["end_of_fault"] = statfree()
            ballast.unlink()
            free["after_removal"] = statfree()
            return {"free_end_of_fault": free["end_of_fault"],
                    "free_after_removal": free["after_removal"]}

        run = run_phases(px, load, secs, fault, recover)
        rows = phase_rows("disk-full", run, metrics)
        bm, fm, rm = (r["metrics"] for r in rows)
        fi = run["fault_info"]
        c.verify_config("disk-full: baseline served by disk hits",
                        bm["hit"] >= 0.8 * rows[0]["requests"] - 24,
                        f"{bm['hit']:.0f} disk hits for {rows[0]['requests']} requests")
        c.verify_config("disk-full: the filesystem really was full in the fault phase",
                        free["after_fill"] < obj and free["end_of_fault"] < obj,
                        f"ballast {fi['ballast_bytes'] >> 20} MiB; free after the fill "
                        f"{free['after_fill']} B, at the end of the phase "
                        f"{free['end_of_fault']} B")
        failed_writes = fm["rejected"] + fm["error"] + fm["write_queue_dropped"]
        c.verify_config("disk-full: disk writes failed and were counted, served from the origin",
                        failed_writes >= 0.5 * rows[1]["requests"] / 2
                        and fm["origin_responses"] >= 0.4 * rows[1]["requests"],
                        f"rejected {fm['rejected']:.0f}, error {fm['error']:.0f}, queue "
                        f"dropped {fm['write_queue_dropped']:.0f}, inserts {fm['insert']:.0f}; "
                        f"{fm['origin_responses']:.0f} origin responses")
        c.verify_config("disk-full: writes and hits again after the space came back",
                        rm["insert"] > 0 and rm["hit"] > 0.5 * rows[2]["requests"],
                        f"{rm['insert']:.0f} inserts, {rm['hit']:.0f} hits")
        stop_proxy(c, px)
        return {"scenario": "disk-full", "rows": rows, "series": per_second(run["res"]),
                "secs": secs, "tmpfs_mb": size_mb, "object_bytes": obj,
                "fault_info": fi, "recover_info": run["recover_info"]}
    finally:
        c.run.stop_all()  # the proxy holds files on the tmpfs
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# --------------------------------------------------------------------------------------------


def main() -> int:
    c = Campaign("chaos", __doc__, add_args=add_args)
    a = c.args
    secs = a.phase_seconds or (4.0 if a.quick else 30.0)
    rate = a.rate or (40.0 if a.quick else 60.0)
    names = [s for s in a.scenarios.split(",") if s]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}")
    results = []
    with c:
        c.preload_plotting()
        t_start = time.monotonic()

        def stamp(what):
            print(f"  [{time.monotonic() - t_start:5.1f} s] {what}", flush=True)
        moto = None
        if {"backend-errors", "backend-stall", "redis-killed"} & set(names):
            moto = yg_moto.MotoServer(c.tmp / "moto", auth=True).start()
            moto.create_bucket(BUCKET)
        try:
            stamp("moto up")
            back = [n for n in names if n.startswith("backend-")]
            if back:
                results += backend_scenarios(c, moto, back, rate, secs)
            stamp("backend scenarios done")
            if "redis-killed" in names:
                results.append(redis_scenario(c, moto, rate, secs))
                stamp("redis scenario done")
        finally:
            if moto:
                moto.stop()
        if "disk-full" in names:
            results.append(disk_scenario(c, rate, secs))
            stamp("disk scenario done")
        stamp("results")
        for r in results:
            for row in r.get("rows", ()):
                c.check(f"{r['scenario']}/{row['phase']}: no failed request",
                        row["failed"] == 0,
                        f"{row['failed']} of {row['requests']}"
                        + (f"; first: {row['first_failures'][0]}" if row["failed"] else ""))
        c.result = {"rate": rate, "phase_seconds": secs, "fail_fraction": a.fail_fraction,
                    "replica_timeout_s": REPLICA_TIMEOUT, "breaker": BREAKER, "retry": RETRY,
                    "scenarios": results}
        table_rows = []
        for r in results:
            for row in r.get("rows", ()):
                mm = ", ".join(f"{k} {v:.0f}" for k, v in row["metrics"].items() if v)
                table_rows.append((r["scenario"], row["phase"], row["requests"], row["failed"],
                                   f"{100 * (row['error_rate'] or 0):.2f}%", row["p50_ms"],
                                   row["p99_ms"], row["max_ms"],
                                   " ".join(f"{k}:{v}" for k, v in row["x_cache"].items()),
                                   mm or "–"))
        c.table = (f"Constant load {rate:g} req/s (fresh connection per request, every body's "
                   f"SHA-256 checked), phases of {secs:g} s.\n\n"
                   + fmt_table(["scenario", "phase", "requests", "failed", "error rate",
                                "p50 ms", "p99 ms", "max ms", "X-Cache", "metric deltas"],
                               table_rows))
        panels = []
        for r in results:
            if "series" not in r:
                continue
            s = r["series"]
            panels.append({"title": r["scenario"], "ylabel": "success %", "xlabel": "s",
                           "series": {"success %": (s["t"], s["success_pct"])},
                           "series2": {"p99 ms": (s["t"], s["p99_ms"])}, "ylabel2": "p99 ms",
                           "logy2": True, "legend": True, "ylim": (0, 102),
                           "spans": [(r["secs"], 2 * r["secs"], "fault")]})
        if panels:
            c.plot("timeline", panels)
    return c.exit_code()


if __name__ == "__main__":
    sys.exit(main())
