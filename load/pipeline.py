#!/usr/bin/env python3
"""Request pipeline rate and latency by path (issue #9, PERF-2/PERF-3): what one request costs
through Yatagarasu when it is answered by /health, a memory hit, a disk hit, a Redis hit, a
miss (every request goes to the origin), or a Range request on a cached object (206, exact
slice) — and, side by side, nginx proxy_cache and Varnish in front of the same origin.

One Debian nginx is the origin (files in /<bucket>/<key> layout, access log on: every backend
request is counted). In front of it, for each worker budget (server.threads / nginx
worker_processes / varnish thread_pools = 1, 2; below the CPU count all of them are pinned to
that many CPUs and wrk to the others):

  ours-memory  cache_layers: [memory]   health, memory hit (1 KiB), range (4 KiB of 64 KiB)
  ours-disk    cache_layers: [disk]     disk hit (1 KiB)
  ours-redis   cache_layers: [redis]    Redis hit (1 KiB), a real redis-server
  ours-none    no cache                 miss (1 KiB from the origin every time)
  nginx        nginx proxy_cache on tmpfs (load/cache_compare.py's contender)   --compare
  varnish      varnishd -s malloc (load/cache_compare.py's contender)            --compare
  direct       the origin itself: the baseline for a miss                        --compare

A miss on nginx / Varnish is a request they pass to the origin: `X-Cache-Bypass: 1`
(proxy_cache_bypass + proxy_no_cache) and a `Cookie` (Varnish's built-in VCL passes it).

Every target is warmed and checked (a hit where one is expected: X-Cache / X-Cache-Status /
X-Varnish; SHA-256 of the body; the 206's Content-Range and exact bytes), then
`wrk -t<workers> -c<connections> --latency` runs against each target in turn, round after
round (the targets of one scenario back to back, scenario order and order within a scenario
rotated each round), and medians of req/s, p50 and p99 are reported; ratios are the median of
the per-round ratios (the windows compared are seconds apart). Each measured window is
verified from /metrics and the origin's log: hit scenarios raised
yatagarasu_cache_requests_total{result="hit"} and yatagarasu_cache_layer_operations_total
{layer=<the layer>,op="hit"} by ~the wrk request count with no origin request; a miss sent
~one origin request per request; range answered ~that many 206s; the worker thread gauge is
the budget.

  load/pipeline.py                    # 5 rounds x 5 s, workers 1 and 2, with --compare
  load/pipeline.py --workers 1        # one budget (each budget takes ~6 min)
  load/pipeline.py --quick            # 1 round x 2 s, 1 worker; compare memory hit + miss only
  load/pipeline.py --no-compare       # ours only

Writes load/results/pipeline_<stamp>.md/.json and _bars.png (req/s and p99 per scenario per
contender). Exits non-zero when a check fails (unless --no-checks).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "load"))
import cache_compare as cc  # noqa: E402  (the nginx / Varnish contenders)
import yg_data  # noqa: E402
import yg_load  # noqa: E402
import yg_redis  # noqa: E402
from yg_campaign import Campaign, delta, fmt_table, proc_stats, scrape, total  # noqa: E402

BUCKET = cc.BUCKET
SMALL, LARGE = 1024, 64 * 1024
RANGE = (8192, 12287)  # 4 KiB out of the 64 KiB object
RANGE_HDR = f"Range: bytes={RANGE[0]}-{RANGE[1]}"
MISS_HDRS = {"X-Cache-Bypass": "1", "Cookie": "yg-bench=miss"}
SCENARIOS = ("health", "memory hit", "disk hit", "redis hit", "miss", "range")
CONTENDERS = ("ours", "nginx", "varnish", "direct")
LABEL = {"ours": "yatagarasu", "nginx": "nginx proxy_cache (tmpfs)", "varnish": "varnish (malloc)",
         "direct": "direct origin"}
OURS_PROXY = {"health": "memory", "memory hit": "memory", "range": "memory", "disk hit": "disk",
              "redis hit": "redis", "miss": "none"}
LAYER = {"memory hit": "memory", "range": "memory", "disk hit": "disk", "redis hit": "redis"}


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--rounds", type=int, help="default 5 (quick: 1)")
    ap.add_argument("--seconds", type=int, help="per wrk window, default 5 (quick: 2)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", help="worker budgets, default 1,2 (quick: 1)")
    ap.add_argument("--compare", dest="compare", action="store_true", default=None,
                    help="nginx / Varnish / direct origin side by side (default on; in quick "
                         "mode memory hit + miss only)")
    ap.add_argument("--no-compare", dest="compare", action="store_false")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--shm-dir", type=Path, default=Path("/dev/shm"))
    ap.add_argument("--disk-dir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--varnishd", default=os.environ.get("YG_VARNISHD", ""))


def cache_yaml(kind: str, disk_dir: Path, redis_url: str) -> str:
    head = """cache:
  enabled: true
  cache_layers: [{layer}]
  memory:
    max_cache_size_mb: 256
    max_item_size_mb: 10
    default_ttl_seconds: 3600
"""
    if kind == "memory":
        return head.format(layer="memory")
    if kind == "disk":
        return head.format(layer="disk") + f"""  disk:
    enabled: true
    cache_dir: "{disk_dir}"
    max_disk_cache_size_mb: 256
    fsync: false
"""
    if kind == "redis":
        return head.format(layer="redis") + f"""  redis:
    enabled: true
    redis_url: "{redis_url}"
    redis_ttl_seconds: 3600
"""
    return ""  # none: no cache at all


class Target:
    def __init__(self, contender: str, scenario: str, port: int, path: str, headers=None,
                 proxy=None):
        self.contender, self.scenario, self.port, self.path = contender, scenario, port, path
        self.headers = dict(headers or {})
        self.proxy = proxy  # ours: the yg_campaign Proxy (metrics)

    @property
    def key(self) -> str:
        return f"{self.contender}/{self.scenario}"

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def wrk_extra(self):
        out = []
        for k, v in self.headers.items():
            out += ["-H", f"{k}: {v}"]
        return out


def expect_hit(t: Target) -> bool:
    return t.scenario in ("memory hit", "disk hit", "redis hit", "range")


def warm_and_check(c: Campaign, t: Target, objects: dict) -> bool:
    """Brings the target to its steady state (cached where it should be) and checks one answer:
    status, bytes, hit marker."""
    if t.scenario == "health":
        r = cc.fetch(t.port, t.path)
        return c.check(f"{t.key}: /health answers 200", r["status"] == 200, f"{r['status']}")
    name = {"ours": "ours", "nginx": "nginx", "varnish": "varnish"}.get(t.contender, "direct")
    full_path = t.path
    want = objects[SMALL if t.scenario != "range" else LARGE]
    deadline = time.monotonic() + 20
    while True:  # fill the cache with a full GET (also for the range scenario)
        r = cc.fetch(t.port, full_path, headers=t.headers if t.scenario == "miss" else None)
        if r["status"] != 200:
            return c.check(f"{t.key}: 200 from {full_path}", False, f"{r['status']} {r['headers']}")
        hit = cc.is_hit(name, r["headers"]) if name != "direct" else False
        if not expect_hit(t) or hit or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    ok = c.check(f"{t.key}: exact bytes (sha256 of {len(want)} B)",
                 hashlib.sha256(r["body"]).digest() == hashlib.sha256(want).digest(),
                 f"{len(r['body'])} B")
    if expect_hit(t):
        marks = {k: v for k, v in r["headers"].items() if "cache" in k or "varnish" in k}
        ok &= c.verify_config(f"{t.key}: answered from the cache", hit, f"headers {marks}")
    if t.scenario == "range":
        r = cc.fetch(t.port, full_path, headers=t.headers)
        sl = want[RANGE[0]:RANGE[1] + 1]
        cr = r["headers"].get("content-range", "")
        ok &= c.check(f"{t.key}: 206 with the exact slice",
                      r["status"] == 206 and r["body"] == sl
                      and cr == f"bytes {RANGE[0]}-{RANGE[1]}/{LARGE}",
                      f"{r['status']}, {len(r['body'])} B, Content-Range {cr!r}")
    if t.scenario == "miss" and name in ("nginx", "varnish"):
        r2 = cc.fetch(t.port, full_path, headers=t.headers)
        ok &= c.verify_config(f"{t.key}: not answered from the cache",
                              not cc.is_hit(name, r2["headers"]), str(r2["headers"]))
    return ok


def round_order(targets: list, r: int) -> list:
    """Targets of one scenario run back to back (so a ratio compares windows seconds apart, not
    a minute apart on a machine whose load changes); the scenario order and the order within
    each scenario rotate every round."""
    groups = [[t for t in targets if t.scenario == s] for s in SCENARIOS]
    groups = [g for g in groups if g]
    k = r % len(groups)
    out = []
    for g in groups[k:] + groups[:k]:
        j = r % len(g)
        out += g[j:] + g[:j]
    return out


def paired_ratio(a: list, b: list, metric: str):
    """Median over rounds of a[round][metric] / b[round][metric] (rounds where both ran)."""
    bb = {x["round"]: x[metric] for x in b}
    qs = [x[metric] / bb[x["round"]] for x in a if bb.get(x["round"])]
    return statistics.median(qs) if qs else None


def near(got: float, want: float, conns: int) -> bool:
    """A counter delta matches a wrk request count: wrk counts completed responses; up to one
    request per connection may be answered after wrk stopped counting."""
    return want * 0.98 - 5 <= got <= want * 1.02 + conns + 5


def verify_window(c: Campaign, t: Target, res: dict, before, after, origin_n: int,
                  w: int, conns: int) -> bool:
    n = res["requests"]
    tag = f"w{w} {t.key}"
    ok = True
    if t.scenario == "miss":
        ok &= near(origin_n, n, conns)
        if t.contender == "ours":
            got = delta(after, before, "yatagarasu_requests_total", status="200")
            ok &= near(got, n, conns)
            ok &= delta(after, before, "yatagarasu_cache_requests_total", result="hit") == 0
        detail = f"{n} requests, {origin_n} origin requests"
    else:
        ok &= origin_n == 0
        detail = f"{n} requests, {origin_n} origin requests"
        if t.contender == "ours" and t.scenario != "health":
            hits = delta(after, before, "yatagarasu_cache_requests_total", result="hit")
            layer = delta(after, before, "yatagarasu_cache_layer_operations_total",
                          layer=LAYER[t.scenario], op="hit")
            ok &= near(hits, n, conns) and near(layer, n, conns)
            detail += f", cache hits +{hits:.0f}, {LAYER[t.scenario]} layer hits +{layer:.0f}"
            if t.scenario == "range":
                p = delta(after, before, "yatagarasu_requests_total", status="206")
                ok &= near(p, n, conns)
                detail += f", 206 answers +{p:.0f}"
    if t.contender == "ours":
        wt = total(after, "yatagarasu_worker_threads")
        ok &= wt == w
        detail += f", worker threads {wt:.0f}"
    res["verified"] = bool(ok)
    res["verify_detail"] = detail
    if not ok:  # every window is reported; a failed one fails the run
        c.verify_config(f"{tag} window measures what it claims", False, detail)
    return ok


def main() -> int:
    c = Campaign("pipeline", __doc__, add_args=add_args)
    a = c.args
    quick = a.quick
    rounds = a.rounds or (1 if quick else 5)
    seconds = a.seconds or (2 if quick else 5)
    conns = a.connections
    workers_list = [int(x) for x in (a.workers or ("1" if quick else "1,2")).split(",")]
    compare = a.compare if a.compare is not None else True
    cmp_scen = ("memory hit", "miss") if quick else ("memory hit", "miss", "range")
    if compare and not a.varnishd:
        a.varnishd = shutil.which("varnishd") or "/usr/sbin/varnishd"
    # what cache_compare.start_contenders reads from its args
    a.nginx_sendfile, a.nginx_tcp_nopush = "on", "off"
    a.nginx_open_file_cache, a.ours_cache = "max=1000 inactive=1h", "on"
    all_cpus = sorted(os.sched_getaffinity(0))
    redis = None
    scratch = []
    with c:
        try:
            objects = {SMALL: b"".join(yg_data.chunks(SMALL, 11)),
                       LARGE: b"".join(yg_data.chunks(LARGE, 12))}
            origin = yg_load.start_origin(
                c.run, c.tmp, {f"{BUCKET}/obj-1k.bin": objects[SMALL],
                               f"{BUCKET}/obj-64k.bin": objects[LARGE]},
                access_log=str(c.tmp / "origin-access.log"))
            olog = cc.OriginLog(c.tmp / "origin-access.log")
            redis = yg_redis.RedisServer(c.tmp / "redis").start()
            runs, rss = {}, {}
            for w in workers_list:
                pin = not a.no_pin and w < len(all_cpus)
                cpus = all_cpus[:w] if pin else None
                wrk_cpus = all_cpus[w:] if pin else None
                print(f"== {w} worker(s)" + (f": servers on CPU {cpus}, wrk on {wrk_cpus}"
                                             if pin else ""), flush=True)
                first = len(c.run.procs)
                redis.flushall()
                proxies = {}
                for kind in ("memory", "disk", "redis", "none"):
                    ddir = None
                    if kind == "disk":
                        ddir = Path(tempfile.mkdtemp(prefix=f"yg-pipeline-disk-w{w}-",
                                                     dir=a.disk_dir))
                        scratch.append(ddir)
                    yaml = cache_yaml(kind, ddir, redis.url(0))
                    proxies[kind] = c.start_proxy(
                        f"ours-{kind}-w{w}",
                        lambda port, y=yaml: yg_load.cached_proxy_yaml(port, w, y, origin, BUCKET),
                        cpus=cpus)
                targets = []
                for s in SCENARIOS:
                    px = proxies[OURS_PROXY[s]]
                    path = {"health": "/health", "range": "/bench/obj-64k.bin"}.get(
                        s, "/bench/obj-1k.bin")
                    hdr = {"range": dict([RANGE_HDR.split(": ")]), "miss": MISS_HDRS}.get(s)
                    targets.append(Target("ours", s, px.port, path, hdr, px))
                if compare:
                    cs = cc.start_contenders(c.run, ["nginx", "varnish"], w, origin, c.tmp, a,
                                             cpus)
                    scratch += [x.cache_dir for x in cs.values() if x.cache_dir]
                    for name in ("nginx", "varnish"):
                        for s in cmp_scen:
                            path = f"/{BUCKET}/" + ("obj-64k.bin" if s == "range" else "obj-1k.bin")
                            hdr = {"range": dict([RANGE_HDR.split(": ")]), "miss": MISS_HDRS}.get(s)
                            targets.append(Target(name, s, cs[name].port, path, hdr))
                    targets.append(Target("direct", "miss", origin, f"/{BUCKET}/obj-1k.bin"))
                for t in targets:
                    warm_and_check(c, t, objects)
                    try:  # one unmeasured second: connections, allocators, threads
                        yg_load.wrk(t.url(), 1, conns, t.wrk_extra(), threads=w, cpus=wrk_cpus)
                    except RuntimeError as e:
                        c.check(f"w{w} {t.key}: warm-up wrk without errors", False, str(e)[:300])
                olog.advance()
                runs[str(w)] = {t.key: [] for t in targets}
                for r in range(rounds):
                    for t in round_order(targets, r):
                        before = scrape(t.proxy.port) if t.proxy else None
                        try:
                            res = yg_load.wrk(t.url(), seconds, conns, t.wrk_extra(), threads=w,
                                              cpus=wrk_cpus)
                        except RuntimeError as e:
                            c.check(f"w{w} {t.key} round {r + 1}: wrk without errors", False,
                                    str(e)[-400:])
                            olog.advance()
                            continue
                        res["origin_requests"] = olog.advance()
                        res["round"] = r + 1
                        after = scrape(t.proxy.port) if t.proxy else None
                        verify_window(c, t, res, before, after, res["origin_requests"], w,
                                      conns)
                        runs[str(w)][t.key].append(res)
                        print(f"round {r + 1}/{rounds} w{w} {t.key:20s} {res['rps']:9.0f} req/s"
                              f"  p50 {res['p50_ms']:.3f} ms  p99 {res['p99_ms']:.3f} ms  "
                              f"origin {res['origin_requests']}"
                              + ("" if res["verified"] else "  NOT VERIFIED"), flush=True)
                for t in targets:  # still hits after the load, same bytes
                    if t.contender == "ours" and expect_hit(t):
                        r = cc.fetch(t.port, t.path, headers=t.headers)
                        want = (objects[LARGE][RANGE[0]:RANGE[1] + 1] if t.scenario == "range"
                                else objects[SMALL])
                        c.check(f"w{w} {t.key}: after the load a hit with the exact bytes",
                                cc.is_hit("ours", r["headers"]) and r["body"] == want,
                                f"{r['status']} X-Cache {r['headers'].get('x-cache')}")
                rss[str(w)] = {k: proc_stats(p.pid) for k, p in proxies.items()}
                for _, p, _ in list(c.run.procs[first:]):
                    c.run.stop(p)
        finally:
            if redis:
                redis.stop()
            for d in scratch:
                shutil.rmtree(d, ignore_errors=True)

        med = {w: {k: ({m: statistics.median(x[m] for x in lst)
                        for m in ("rps", "p50_ms", "p99_ms")} if lst else None)
                   for k, lst in per.items()} for w, per in runs.items()}
        ratios = {}  # median over rounds of the per-round ratio (windows seconds apart)
        for w, per in runs.items():
            q = {}
            for s in ("memory hit", "miss", "range"):
                for other in ("nginx", "varnish", "direct"):
                    a_, b_ = per.get(f"ours/{s}"), per.get(f"{other}/{s}")
                    if a_ and b_:
                        for metric, lab in (("rps", "req/s"), ("p99_ms", "p99"),
                                            ("p50_ms", "p50")):
                            q[f"{s}: {lab} ours/{other}"] = paired_ratio(a_, b_, metric)
            ratios[w] = q
        all_verified = all(x.get("verified") for per in runs.values() for lst in per.values()
                           for x in lst)
        c.verify_config("every measured window matched the metrics / origin log",
                        all_verified, "see the 'verified' column")
        for w, m in med.items():
            mh, ms = m.get("ours/memory hit"), m.get("ours/miss")
            for other in ("nginx", "varnish"):
                o = m.get(f"{other}/memory hit")
                if mh and o:
                    c.check(f"w{w} memory hit req/s ours >= 0.25 x {other}",
                            mh["rps"] >= 0.25 * o["rps"], f"{mh['rps']:.0f} vs {o['rps']:.0f}")
            if mh and ms:
                c.check(f"w{w} memory hit req/s >= 0.5 x miss req/s",
                        mh["rps"] >= 0.5 * ms["rps"], f"{mh['rps']:.0f} vs {ms['rps']:.0f}")
        for w, per in rss.items():
            for k, st in per.items():
                c.check(f"w{w} ours-{k} peak RSS < 256 MiB", st["hwm"] < 256 << 20,
                        f"{st['hwm'] / 2**20:.1f} MiB")

        c.result = {"rounds": rounds, "seconds": seconds, "connections": conns,
                    "workers": workers_list, "compare": compare, "objects": {
                        "small": SMALL, "range_object": LARGE, "range": list(RANGE)},
                    "runs": runs, "median": med, "ratios": ratios, "rss": rss,
                    "versions": {"nginx": cc.version([yg_load.nginx_binary(), "-v"]),
                                 "varnish": cc.version([a.varnishd, "-V"]) if compare else None,
                                 "wrk": cc.version(["wrk", "-v"])}}
        rows = []
        for w, m in med.items():
            for s in SCENARIOS:
                for ct in CONTENDERS:
                    k = f"{ct}/{s}"
                    if k not in runs[w]:
                        continue
                    lst = runs[w][k]
                    mm = m[k] or {}
                    rows.append((w, s, LABEL[ct], mm.get("rps"), mm.get("p50_ms"),
                                 mm.get("p99_ms"), sum(x["requests"] for x in lst),
                                 sum(x["origin_requests"] for x in lst),
                                 f"{sum(1 for x in lst if x['verified'])}/{len(lst)}"))
        table = [f"wrk -t<workers> -c{conns} -d{seconds}s --latency, {rounds} round(s), targets "
                 "alternating (one scenario's targets back to back, order rotated each round); "
                 "medians. Objects: 1 KiB; range = "
                 f"bytes {RANGE[0]}-{RANGE[1]} of a 64 KiB cached object. Miss: ours without a "
                 "cache, nginx/Varnish passing the request to the origin. verified = windows "
                 "whose /metrics deltas and origin log matched the scenario.", "",
                 fmt_table(("workers", "scenario", "contender", "req/s", "p50 ms", "p99 ms",
                            "wrk requests", "origin requests", "verified"), rows)]
        for w, q in ratios.items():
            if q:
                table += ["", f"Ratios, {w} worker(s): median over the rounds of each round's "
                              "ratio (req/s > 1 and p99 < 1 favour yatagarasu):",
                          "", fmt_table(("ratio", "value"), [(k, v) for k, v in q.items()
                                                            if ": p50" not in k])]
        c.table = "\n".join(table)
        for w, m in med.items():
            groups = [s for s in SCENARIOS if any(f"{ct}/{s}" in m for ct in CONTENDERS)]
            present = [ct for ct in CONTENDERS if any(f"{ct}/{s}" in m for s in groups)]

            def series(metric):
                return {LABEL[ct]: [(m.get(f"{ct}/{s}") or {}).get(metric) for s in groups]
                        for ct in present}
            c.plot(f"bars_w{w}", [
                {"title": f"req/s by scenario ({w} worker(s), median of {rounds})",
                 "kind": "grouped", "groups": groups, "series": series("rps"),
                 "ylabel": "req/s"},
                {"title": "p99 latency (ms)", "kind": "grouped", "groups": groups,
                 "series": series("p99_ms"), "ylabel": "ms"}])
    return c.exit_code()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
