#!/usr/bin/env python3
"""Cache size: how the memory and disk tiers behave as they grow (issue #9 item 2).

For each tier size (full: memory 1, 4, 16 GiB and disk 10, 50 GiB; quick: memory 64 MiB and
disk 256 MiB; a size that does not fit the machine is scaled down with a printed note: memory
leaves 4 GiB of MemAvailable, disk leaves 10 GB free on the cache directory's filesystem) a
fresh proxy (2 worker threads, one cache tier) in front of one nginx origin. The origin serves
many keys as hard links to ONE file per object size (keys differ, so the cache holds them as
distinct objects; the working set costs the disk nothing). Phases, per size:

  1. near-empty hit latency: 8 small (4 KiB) keys cached, 300 sequential keep-alive GETs, p50;
  2. misses that do not evict: M fresh 1 MiB keys, sequential GETs, p50 and MB/s;
  3. fill: 1 MiB objects, keys 0..1.05*capacity (`curl --parallel`); verified: items and bytes
     at the tier's capacity (disk: passes repeat until the background writes land);
  4. misses that evict: M fresh 1 MiB keys into the full cache, p50 and MB/s (the eviction
     counter must rise by ~M);
  5. hit rate under a Zipf-like (s=1) key law over a working set of 2x the capacity (1 MiB
     objects): a fixed request sequence (4 x the keys, at most --zipf-requests) in two halves, the hit rate of the second half from
     yatagarasu_cache_requests_total deltas (and the tier's own `hit` counter); "ideal" is the
     Zipf mass of the most popular capacity-many keys (a perfect static cache) for reference;
  6. disk only: start-up over the full directory: the proxy is stopped (SIGTERM) and started
     again on the same cache_dir; time to /health answering and to yatagarasu_cache_items
     {layer=disk} back at the count before the stop (verified equal), then a sample hit;
  7. small objects, a second fresh proxy: N 4 KiB objects (N: quick 4000, full 50000, fewer
     if the tier is smaller), then per-entry overhead: memory (RSS delta - cache_bytes delta) /
     items, and RSS delta / items; disk: index memory = RSS delta / items, on-disk overhead =
     (allocated bytes (du) - cache_bytes) / items; hit latency p50 with N entries vs near-empty
     (index lookup); disk: start-up time over the N-entry directory.

  python3 load/cache_size.py --quick                       # < 90 s
  python3 load/cache_size.py                               # full, ~10 min (fills ~350 MB/s)
  python3 load/cache_size.py --memory-gib 1,4 --disk-gib 10 --small-objects 50000

Writes load/results/cache_size_<stamp>.md/.json/_sizes.png (hit rate, overhead per entry and
start-up time vs size).
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "load"))
import yg_campaign as yc  # noqa: E402
import yg_data  # noqa: E402
import yg_load  # noqa: E402
import yg_procs  # noqa: E402
from cache_compare import fetch  # noqa: E402

BUCKET = "bench-bucket"
BIG = 1 << 20
SMALL = 4096
MiB = 1 << 20
GiB = 1 << 30
THREADS = 2  # worker threads of every proxy here (fills run ~2x faster than with 1)


def add_args(ap):
    ap.add_argument("--memory-gib", default="", help="comma list (full: 1,4,16)")
    ap.add_argument("--disk-gib", default="", help="comma list (full: 10,50)")
    ap.add_argument("--memory-mib", default="", help="comma list in MiB (quick: 64)")
    ap.add_argument("--disk-mib", default="", help="comma list in MiB (quick: 256)")
    ap.add_argument("--small-objects", type=int, default=0, help="quick 4000, full 50000")
    ap.add_argument("--zipf-requests", type=int, default=0,
                    help="requests of the hit-rate run (quick 1200, full 8000 max)")
    ap.add_argument("--fresh-misses", type=int, default=0, help="M; quick 16, full 64")
    ap.add_argument("--disk-dir", type=Path, default=None,
                    help="where the disk caches go (default: the campaign temp dir)")
    ap.add_argument("--parallel", type=int, default=8, help="curl --parallel-max")


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True,
                         text=True, timeout=600)
    return int(out.stdout.split()[0]) if out.stdout else 0


def proxy_yaml(tier: str, cap_mb: int, origin: int, disk_dir: Path | None):
    def fn(port):
        if tier == "memory":
            cache = f"""cache:
  enabled: true
  cache_layers: [memory]
  memory:
    max_cache_size_mb: {cap_mb}
    max_item_size_mb: 2
    default_ttl_seconds: 86400
"""
        else:
            cache = f"""cache:
  enabled: true
  cache_layers: [disk]
  memory:
    max_item_size_mb: 2
    default_ttl_seconds: 86400
  disk:
    enabled: true
    cache_dir: "{disk_dir}"
    max_disk_cache_size_mb: {cap_mb}
"""
        return yg_load.cached_proxy_yaml(port, THREADS, cache, origin, BUCKET)
    return fn


class Client:
    """One keep-alive connection; timed sequential GETs."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str):
        t0 = time.perf_counter()
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t0) * 1000
        return r.status, r.getheader("X-Cache", ""), body, ms

    def close(self):
        self.conn.close()


def timed_gets(port, paths, size, digest=None):
    """Sequential GETs: {p50_ms, mean_ms, mb_s, bad, x_cache counts}."""
    cl = Client(port)
    lat, bad, xc = [], 0, {}
    t0 = time.perf_counter()
    for p in paths:
        st, x, body, ms = cl.get(p)
        lat.append(ms)
        xc[x] = xc.get(x, 0) + 1
        if st != 200 or len(body) != size or (digest and hashlib.sha256(body).hexdigest()
                                               != digest):
            bad += 1
    secs = time.perf_counter() - t0
    cl.close()
    return {"n": len(paths), "p50_ms": yc.percentile(lat, 50), "p90_ms": yc.percentile(lat, 90),
            "mean_ms": sum(lat) / len(lat), "mb_s": len(paths) * size / MiB / secs,
            "bad": bad, "x_cache": xc}


def zipf_ideal(n_keys: int, cap_entries: int, s: float = 1.0) -> float:
    w = [1.0 / (k + 1) ** s for k in range(n_keys)]
    return sum(w[:cap_entries]) / sum(w)


def main() -> int:
    c = yc.Campaign("cache_size", __doc__, add_args=add_args)
    a = c.args
    q = a.quick

    def lst(text, unit):
        return [int(float(x) * unit) for x in text.split(",") if x.strip()]
    mem_sizes = lst(a.memory_mib, MiB) + lst(a.memory_gib, GiB)
    disk_sizes = lst(a.disk_mib, MiB) + lst(a.disk_gib, GiB)
    if not mem_sizes and not disk_sizes:
        mem_sizes = [64 * MiB] if q else [1 * GiB, 4 * GiB, 16 * GiB]
        disk_sizes = [256 * MiB] if q else [10 * GiB, 50 * GiB]
    n_small_max = a.small_objects or (4000 if q else 50000)
    m_fresh = a.fresh_misses or (16 if q else 64)
    zipf_max = a.zipf_requests or (1200 if q else 8000)
    disk_parent = a.disk_dir or c.tmp
    notes = []
    with c:
        # scale sizes to the machine
        avail = mem_available()
        fit = []
        for s in mem_sizes:
            if s + 4 * GiB > avail:
                new = max(64 * MiB, (avail - 4 * GiB) // GiB * GiB)
                notes.append(f"memory {s / GiB:g} GiB does not fit (MemAvailable "
                             f"{avail / GiB:.1f} GiB, 4 GiB kept free): measured {new / GiB:g} "
                             "GiB instead")
                s = new
            fit.append(s)
        mem_sizes = fit
        free = shutil.disk_usage(disk_parent).free
        fit = []
        for s in disk_sizes:
            need = s + n_small_max * 8192 + 10 * 10**9
            if need > free:
                new = max(256 * MiB, (free - n_small_max * 8192 - 10 * 10**9) // GiB * GiB)
                notes.append(f"disk {s / GiB:g} GiB does not fit ({free / 1e9:.1f} GB free on "
                             f"{disk_parent}, 10 GB kept free): measured {new / GiB:g} GiB")
                s = new
            fit.append(s)
        disk_sizes = fit
        for n in notes:
            print("NOTE: " + n, flush=True)

        # origin: one blob per size, many hard links
        big = b"".join(yg_data.chunks(BIG, 11))
        small = b"".join(yg_data.chunks(SMALL, 12))
        big_sha, small_sha = hashlib.sha256(big).hexdigest(), hashlib.sha256(small).hexdigest()
        max_entries = max(s // BIG for s in mem_sizes + disk_sizes)
        n_big = 2 * max_entries + 64
        t0 = time.monotonic()
        yc.link_objects(c.tmp, BUCKET, [f"b/{i}" for i in range(n_big)], big)
        yc.link_objects(c.tmp, BUCKET, [f"nf/{i}" for i in range(m_fresh)]
                        + [f"ef/{i}" for i in range(m_fresh)], big)
        yc.link_objects(c.tmp, BUCKET, [f"s/{i}" for i in range(n_small_max)], small)
        print(f"origin: {n_big + 2 * m_fresh} big and {n_small_max} small keys linked in "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        origin = yg_load.start_origin(c.run, c.tmp, {})

        rows = []
        for tier, sizes in (("memory", mem_sizes), ("disk", disk_sizes)):
            for cap in sizes:
                rows.append(measure(c, a, tier, cap, origin, disk_parent, big_sha, small_sha,
                                    n_small_max, m_fresh, zipf_max, q))
        c.result = {"notes": notes, "rows": rows, "object_bytes": BIG, "small_bytes": SMALL}

        def f(v, scale=1.0):
            return None if v is None else v / scale
        table = yc.fmt_table(
            ["tier", "size", "entries (1 MiB)", "fill MB/s", "hit rate (Zipf, 2x)", "ideal",
             "miss p50 ms no evict", "miss p50 ms evicting", "evict/no-evict",
             "hit p50 ms empty", f"hit p50 ms N small", "N small", "RSS/entry B",
             "overhead/entry B", "disk overhead/entry B", "start-up /health s",
             "start-up items s (1 MiB)", "start-up items s (N small)"],
            [[r["tier"], r["size_label"], r["entries_full"], r["fill_mb_s"], r["hit_rate"],
              r["ideal_hit_rate"], r["miss_no_evict"]["p50_ms"], r["miss_evict"]["p50_ms"],
              r["evict_ratio"], r["hit_empty"]["p50_ms"], r["hit_small_full"]["p50_ms"],
              r["small_items"], r["rss_per_entry"], r["overhead_per_entry"],
              r.get("disk_overhead_per_entry"), (r.get("startup") or {}).get("health_s"),
              (r.get("startup") or {}).get("items_s"),
              (r.get("startup_small") or {}).get("items_s")] for r in rows])
        c.table = ("\n".join(f"NOTE: {n}" for n in notes) + ("\n\n" if notes else "")
                   + table + "\n\nRSS/entry: RSS growth / entries after the small-object "
                   "(4 KiB) fill (memory: includes the 4 KiB body); overhead/entry: memory = "
                   "(RSS growth - yatagarasu_cache_bytes growth) / entries; disk: index memory "
                   "= RSS growth / entries (bodies are in files) and on-disk overhead = (du "
                   "allocated - cache_bytes) / entries.\n")
        labels = [f"{r['tier']} {r['size_label']}" for r in rows]
        c.plot("sizes", [
            {"title": "hit rate, Zipf s=1 over 2x capacity (1 MiB objects)", "kind": "bar",
             "ylabel": "hit rate", "series": {lab: r["hit_rate"] or 0
                                              for lab, r in zip(labels, rows)}},
            {"title": "overhead per entry (4 KiB objects): memory beyond cache_bytes, disk "
                      "index RSS", "kind": "bar", "ylabel": "bytes",
             "series": {lab: r["overhead_per_entry"] or 0 for lab, r in zip(labels, rows)}},
            {"title": "disk start-up: s until cache_items{disk} restored (1 MiB dir / small dir)",
             "kind": "bar", "ylabel": "s",
             "series": {**{f"{lab} 1MiB": (r.get("startup") or {}).get("items_s") or 0
                           for lab, r in zip(labels, rows) if r["tier"] == "disk"},
                        **{f"{lab} {r['small_items']}x4KiB":
                           (r.get("startup_small") or {}).get("items_s") or 0
                           for lab, r in zip(labels, rows) if r["tier"] == "disk"}}},
            {"title": "miss p50: evicting / not evicting; hit p50: N small entries / empty",
             "kind": "bar", "ylabel": "ratio",
             "series": {**{f"{lab} evict": r["evict_ratio"] or 0
                           for lab, r in zip(labels, rows)},
                        **{f"{lab} lookup": r["lookup_ratio"] or 0
                           for lab, r in zip(labels, rows)}}},
        ])
    return c.exit_code()


def size_label(n):
    return f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"


def wait_disk_settled(px, timeout=120.0):
    """Waits for the background write queue to drain."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = px.metrics()
        if yc.total(m, "yatagarasu_cache_write_queue_pending") == 0:
            return m
        time.sleep(0.2)
    return px.metrics()


def restart_timed(c, px, name, timeout=300.0):
    """Stops px and starts the same config again; seconds to /health and to the disk item
    count before the stop."""
    m = wait_disk_settled(px)
    items_before = yc.total(m, "yatagarasu_cache_items", layer="disk")
    bytes_before = yc.total(m, "yatagarasu_cache_bytes", layer="disk")
    c.run.stop(px.proc)
    log = c.tmp / f"{name}-restart.log"
    t0 = time.monotonic()
    p = c.run.start(name + "-restart", [str(c.args.binary), "--config", str(px.config)], log)
    yg_procs.wait_http_ok(px.url("/health"), proc=p, what=name, log=log, timeout=timeout)
    t_health = time.monotonic() - t0
    items_at_health = None
    t_items = None
    items = 0
    while time.monotonic() - t0 < timeout:
        m = yc.scrape(px.port)
        items = yc.total(m, "yatagarasu_cache_items", layer="disk")
        if items_at_health is None:
            items_at_health = items
        if items >= items_before:
            t_items = time.monotonic() - t0
            break
        time.sleep(0.02)
    new = yc.Proxy(px.name, px.port, p, px.config, log)
    return new, {"items_before": items_before, "bytes_before": bytes_before,
                 "items_after": items, "items_at_health": items_at_health,
                 "bytes_after": yc.total(m, "yatagarasu_cache_bytes", layer="disk"),
                 "health_s": t_health, "items_s": t_items}


def measure(c, a, tier, cap, origin, disk_parent, big_sha, small_sha, n_small_max, m_fresh,
            zipf_max, quick):
    label = size_label(cap)
    name = f"{tier}-{label.replace(' ', '')}"
    print(f"== {name}", flush=True)
    t_start = time.monotonic()
    cap_mb = cap // MiB
    entries = cap // BIG
    disk_dir = None
    if tier == "disk":
        disk_dir = Path(disk_parent) / f"yg-cache-size-{name}-{c.stamp}"
        disk_dir.mkdir(parents=True)
    px = c.start_proxy(name, proxy_yaml(tier, cap_mb, origin, disk_dir))
    row = {"tier": tier, "size_bytes": cap, "size_label": label, "entries_capacity": entries}
    base = lambda k: f"http://127.0.0.1:{px.port}/bench/{k}"  # noqa: E731

    # 1. near-empty hit latency (small keys)
    for i in range(8):
        fetch(px.port, f"/bench/s/{i}")
    if tier == "disk":
        wait_disk_settled(px)
    row["hit_empty"] = timed_gets(px.port, [f"/bench/s/{i % 8}" for i in range(300)], SMALL,
                                  small_sha)
    # 2. misses that do not evict
    m0 = px.metrics()
    row["miss_no_evict"] = timed_gets(px.port, [f"/bench/nf/{i}" for i in range(m_fresh)], BIG,
                                      big_sha)
    m1 = wait_disk_settled(px) if tier == "disk" else px.metrics()
    ev0 = yc.delta(m1, m0, "yatagarasu_cache_layer_operations_total", layer=tier, op="eviction")
    c.verify_config(f"{name}: fresh misses before the fill evicted nothing", ev0 == 0,
                    f"{ev0:.0f} evictions")
    # 3. fill to capacity
    n_fill = int(entries * 1.05) + 8
    t0 = time.monotonic()
    fills = []
    for attempt in range(4 if tier == "disk" else 1):
        r = yc.curl_bulk([base(f"b/{i}") for i in range(n_fill)], parallel=a.parallel,
                         timeout_s=3600)
        fills.append(r)
        m = wait_disk_settled(px) if tier == "disk" else px.metrics()
        byt = yc.total(m, "yatagarasu_cache_bytes", layer=tier)
        if byt >= 0.95 * cap:
            break
    fill_s = time.monotonic() - t0
    bad = sum(r["requests"] - r["codes"].get("200", 0) for r in fills) + sum(
        r["requests"] - r["sizes"].get(str(BIG), 0) for r in fills)
    c.check(f"{name}: fill answers all 200 with {BIG} bytes", bad == 0 and fills[0]["requests"]
            == n_fill, f"{bad} bad, {fills[0]['requests']} of {n_fill}")
    items = yc.total(m, "yatagarasu_cache_items", layer=tier)
    byt = yc.total(m, "yatagarasu_cache_bytes", layer=tier)
    capb = yc.total(m, "yatagarasu_cache_capacity_bytes", layer=tier)
    row.update({"fill_s": fill_s, "fill_passes": len(fills),
                "fill_mb_s": sum(r["requests"] for r in fills) * BIG / MiB / fill_s,
                "entries_full": items, "bytes_full": byt, "capacity_bytes": capb})
    # the memory tier is 16 shards with a byte budget each: a shard holds whole objects, so
    # up to one object per shard of the budget can stay unused
    c.verify_config(f"{name}: filled to capacity (bytes >= 90 % of (capacity - 16 objects), "
                    "<= capacity)",
                    0.9 * (cap - 16 * BIG) <= byt <= capb and capb == cap,
                    f"{items:.0f} items, {byt / MiB:.0f} MiB of {capb / MiB:.0f} MiB, "
                    f"{len(fills)} pass(es)")
    # 4. misses that evict
    m0 = px.metrics()
    row["miss_evict"] = timed_gets(px.port, [f"/bench/ef/{i}" for i in range(m_fresh)], BIG,
                                   big_sha)
    m1 = wait_disk_settled(px) if tier == "disk" else px.metrics()
    ev = yc.delta(m1, m0, "yatagarasu_cache_layer_operations_total", layer=tier, op="eviction")
    c.verify_config(f"{name}: misses into the full cache evicted (~1 per miss)",
                    ev >= 0.8 * m_fresh, f"{ev:.0f} evictions for {m_fresh} misses")
    row["evictions_per_miss"] = ev / m_fresh
    row["evict_ratio"] = row["miss_evict"]["p50_ms"] / row["miss_no_evict"]["p50_ms"]
    # 5. Zipf hit rate over 2x capacity
    n_keys = 2 * max(1, int(items))
    n_req = min(zipf_max, max(1000, 4 * n_keys))
    seq = yc.zipf_sequence(n_keys, n_req, s=1.0, seed=5)
    half = n_req // 2
    zr = yc.curl_bulk([base(f"b/{i}") for i in seq[:half]], parallel=a.parallel, timeout_s=3600)
    if tier == "disk":
        wait_disk_settled(px)
    m0 = px.metrics()
    zr2 = yc.curl_bulk([base(f"b/{i}") for i in seq[half:]], parallel=a.parallel,
                       timeout_s=3600)
    m1 = wait_disk_settled(px) if tier == "disk" else px.metrics()
    res = {k: yc.delta(m1, m0, "yatagarasu_cache_requests_total", result=k)
           for k in ("hit", "miss", "stale", "revalidated", "bypass")}
    tot = sum(res.values())
    row["hit_rate"] = res["hit"] / tot if tot else None
    row["ideal_hit_rate"] = zipf_ideal(n_keys, int(items))
    layer_hits = yc.delta(m1, m0, "yatagarasu_cache_layer_operations_total", layer=tier, op="hit")
    row["zipf"] = {"keys": n_keys, "requests": n_req, "results": res, "layer_hits": layer_hits,
                   "seconds": zr["seconds"] + zr2["seconds"]}
    zbad = sum(r["requests"] - r["codes"].get("200", 0) + r["requests"]
               - r["sizes"].get(str(BIG), 0) for r in (zr, zr2))
    c.check(f"{name}: Zipf run answers all 200 with {BIG} bytes", zbad == 0, f"{zbad} bad")
    c.verify_config(f"{name}: Zipf hits were {tier}-layer hits, one result per request",
                    abs(tot - (n_req - half)) <= 2 and abs(layer_hits - res["hit"]) <= 2,
                    f"{res}, {tier} layer hits {layer_hits:.0f}")
    c.check(f"{name}: hit rate (second half) in [0.3 x ideal, 1]",
            row["hit_rate"] is not None and row["hit_rate"] >= 0.3 * row["ideal_hit_rate"],
            f"{(row['hit_rate'] or 0):.3f} (ideal {row['ideal_hit_rate']:.3f})")
    # 6. disk start-up over the full directory
    if tier == "disk":
        px, st = restart_timed(c, px, name)
        row["startup"] = st
        ok, d = sample_any_hit(px, big_sha)
        c.verify_config(f"{name}: restart restored every disk entry",
                        st["items_s"] is not None and st["items_after"] == st["items_before"]
                        and st["bytes_after"] == st["bytes_before"],
                        f"{st['items_before']:.0f} -> {st['items_after']:.0f} items in "
                        f"{st['items_s'] or -1:.2f} s (/health after {st['health_s']:.2f} s, "
                        f"{st['items_at_health']:.0f} items then)")
        c.verify_config(f"{name}: a cached entry is a disk HIT after the restart", ok, d)
    c.run.stop(px.proc)
    if disk_dir:
        shutil.rmtree(disk_dir, ignore_errors=True)

    # 7. small objects on a fresh proxy
    n_small = min(n_small_max, int(cap * 0.8 / (SMALL + 1024)))
    sdir = None
    if tier == "disk":
        sdir = Path(disk_parent) / f"yg-cache-size-{name}-small-{c.stamp}"
        sdir.mkdir(parents=True)
    spx = c.start_proxy(name + "-small", proxy_yaml(tier, cap_mb, origin, sdir))
    for i in range(8):
        fetch(spx.port, f"/bench/s/{i}")
    ms0 = wait_disk_settled(spx) if tier == "disk" else spx.metrics()
    time.sleep(0.5)
    rss0 = yc.proc_stats(spx.pid)["rss"]
    items0 = yc.total(ms0, "yatagarasu_cache_items", layer=tier)
    bytes0 = yc.total(ms0, "yatagarasu_cache_bytes", layer=tier)
    sf = []
    for attempt in range(4 if tier == "disk" else 1):
        sf.append(yc.curl_bulk([f"http://127.0.0.1:{spx.port}/bench/s/{i}"
                                for i in range(n_small)], parallel=a.parallel, timeout_s=3600))
        ms1 = wait_disk_settled(spx) if tier == "disk" else spx.metrics()
        if yc.total(ms1, "yatagarasu_cache_items", layer=tier) >= 0.99 * n_small:
            break
    sbad = sum(r["requests"] - r["codes"].get("200", 0) + r["requests"]
               - r["sizes"].get(str(SMALL), 0) for r in sf)
    c.check(f"{name}: small-object fill answers all 200 with {SMALL} bytes", sbad == 0,
            f"{sbad} bad")
    time.sleep(0.5)
    rss1 = yc.proc_stats(spx.pid)["rss"]
    ms1 = spx.metrics()
    items1 = yc.total(ms1, "yatagarasu_cache_items", layer=tier)
    bytes1 = yc.total(ms1, "yatagarasu_cache_bytes", layer=tier)
    ev = yc.delta(ms1, ms0, "yatagarasu_cache_layer_operations_total", layer=tier, op="eviction")
    c.verify_config(f"{name}: {n_small} small objects cached, none evicted",
                    items1 - items0 >= 0.99 * n_small and ev == 0,
                    f"{items1 - items0:.0f} new items, {ev:.0f} evictions")
    d_items = max(1.0, items1 - items0)
    row["small_items"] = int(items1)
    row["rss_per_entry"] = (rss1 - rss0) / d_items
    row["cache_bytes_per_entry"] = (bytes1 - bytes0) / d_items
    if tier == "memory":
        row["overhead_per_entry"] = (rss1 - rss0 - (bytes1 - bytes0)) / d_items
    else:
        row["overhead_per_entry"] = row["rss_per_entry"]  # index memory per entry
        du = du_bytes(sdir)
        row["disk_du_bytes"] = du
        row["disk_overhead_per_entry"] = (du - bytes1) / max(1.0, items1)
        row["disk_bytes_per_entry"] = du / max(1.0, items1)
    row["hit_small_full"] = timed_gets(spx.port, [f"/bench/s/{i % 8}" for i in range(300)],
                                       SMALL, small_sha)
    row["lookup_ratio"] = row["hit_small_full"]["p50_ms"] / row["hit_empty"]["p50_ms"]
    for k in ("hit_empty", "hit_small_full"):
        c.check(f"{name}: {k} GETs all HIT with the right bytes",
                row[k]["bad"] == 0 and row[k]["x_cache"].get("HIT", 0) == row[k]["n"],
                f"{row[k]['x_cache']}, {row[k]['bad']} bad")
    for k in ("miss_no_evict", "miss_evict"):
        c.check(f"{name}: {k} GETs all MISS with the right bytes",
                row[k]["bad"] == 0 and row[k]["x_cache"].get("MISS", 0) == row[k]["n"],
                f"{row[k]['x_cache']}, {row[k]['bad']} bad")
    if tier == "disk":
        spx, st = restart_timed(c, spx, name + "-small")
        row["startup_small"] = st
        c.verify_config(f"{name}: restart restored every small disk entry",
                        st["items_s"] is not None and st["items_after"] == st["items_before"],
                        f"{st['items_before']:.0f} -> {st['items_after']:.0f} items in "
                        f"{st['items_s'] or -1:.2f} s (/health after {st['health_s']:.2f} s)")
    c.run.stop(spx.proc)
    if sdir:
        shutil.rmtree(sdir, ignore_errors=True)
    row["seconds"] = time.monotonic() - t_start
    print(f"   {name}: hit rate {row['hit_rate']:.3f} (ideal {row['ideal_hit_rate']:.3f}), "
          f"miss p50 {row['miss_no_evict']['p50_ms']:.2f} -> {row['miss_evict']['p50_ms']:.2f} "
          f"ms evicting, hit p50 {row['hit_empty']['p50_ms']:.3f} -> "
          f"{row['hit_small_full']['p50_ms']:.3f} ms at {row['small_items']} entries, "
          f"overhead/entry {row['overhead_per_entry']:.0f} B, {row['seconds']:.0f} s",
          flush=True)
    return row


def sample_any_hit(px, big_sha):
    """GETs a few of the most popular keys; at least one must be a disk hit with the right
    bytes (every answer must have the right bytes)."""
    hits, bad = 0, 0
    for i in range(4):
        r = fetch(px.port, f"/bench/b/{i}")
        if r["status"] != 200 or hashlib.sha256(r["body"]).hexdigest() != big_sha:
            bad += 1
        elif r["headers"].get("x-cache", "").upper() == "HIT":
            hits += 1
    return hits > 0 and bad == 0, f"{hits} of 4 HIT, {bad} bad"


if __name__ == "__main__":
    sys.exit(main())
