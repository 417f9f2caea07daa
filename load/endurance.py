#!/usr/bin/env python3
"""Endurance: four cached proxies under a steady load at the same time, sampled over time
(issue #9 item 2): does anything grow (RSS, fds), do errors appear, does the hit rate drift?

One nginx origin serves a key set of equal-size objects (hard links to one file) larger than
every cache, and the caches are small, so they fill within the first ~30 s and then churn
(evictions) while a short TTL makes entries expire and revalidate (If-None-Match -> 304)
during the run. Four proxies, each with 1 worker thread, run AT THE SAME TIME:
  memory   cache_layers: [memory]
  disk     cache_layers: [disk]
  redis    cache_layers: [redis]            (a real redis-server, maxmemory + allkeys-lru)
  tiered   cache_layers: [memory, disk, redis]  (its own redis-server)
Each gets its own `vegeta attack` at a fixed modest rate over a Zipf-like (s=1) sequence of
keys (round robin over a shuffled list drawn from the law; 16 vegeta workers at most, so the
client connections, which count in the proxy's fds, stay bounded). Every --interval seconds the
sampler records each proxy's (and each redis-server's) RSS, open fds and CPU, and scrapes its
/metrics (cache results per request, layer operations); per interval the hit rate comes from
the yatagarasu_cache_requests_total deltas and the p99 from vegeta's per-request latencies.

Checks (after the warm-up = the first --warmup seconds):
  - 0 errors: every answer 200 with Content-Length = the object's size and the whole body
    read (vegeta -max-body 0 reads and discards bodies; a short one is an error), and
    SHA-256 of samples through every proxy at the end;
  - fds not growing: the median of the last 3 samples <= the median of the first 3 after
    the warm-up + 10;
  - RSS growth after warm-up < 5 % (least-squares line through the samples, yg_campaign.
    growth_after_warmup), for every proxy;
  - hit rate in the band [--hit-min, --hit-max] after warm-up, per proxy;
  - config verified from /metrics: each proxy's layers served hits (memory / disk / redis
    layer `hit`), the caches churned (`eviction` in the memory and disk layers, Redis
    evicted_keys) and expired (`revalidated` or `miss` after the TTL: layer `expiration` or
    cache result `revalidated` > 0), and yatagarasu_cache_items stayed within capacity.

  python3 load/endurance.py --quick           # 108 s, samples every 2 s, 30 s warm-up
  python3 load/endurance.py                   # 20 min, samples every 5 s, 5 min warm-up
  python3 load/endurance.py --minutes 240     # hours: what issue #9 really asks for
  python3 load/endurance.py --minutes 480 --rate 200 --interval 30   # a night

For hours, prefer a larger --interval (30-60 s) so the sample rows stay few; vegeta's
per-request rows are kept in memory until the run ends (~100 bytes each: 200 req/s for 8 h
per proxy is ~6 M rows, a few GiB of Python objects — use --rate 50 for such runs).

Writes load/results/endurance_<stamp>.md/.json/_timeline.png.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "load"))
import yg_campaign as yc  # noqa: E402
import yg_data  # noqa: E402
import yg_load  # noqa: E402
import yg_redis  # noqa: E402
from cache_compare import fetch  # noqa: E402

BUCKET = "bench-bucket"
CONFIGS = {"memory": ["memory"], "disk": ["disk"], "redis": ["redis"],
           "tiered": ["memory", "disk", "redis"]}


def add_args(ap):
    ap.add_argument("--minutes", type=float, default=0, help="quick 1.8, full 20")
    ap.add_argument("--interval", type=float, default=0, help="sample period s; quick 2, full 5")
    ap.add_argument("--warmup", type=float, default=0,
                    help="seconds excluded from the growth checks; quick 30, full 25%% of the run")
    ap.add_argument("--rate", type=int, default=0, help="req/s per proxy; quick 60, full 100")
    ap.add_argument("--keys", type=int, default=0, help="key set size; quick 2048, full 4096")
    ap.add_argument("--object-kib", type=int, default=32)
    ap.add_argument("--memory-mb", type=int, default=0, help="memory tier; quick 8, full 16")
    ap.add_argument("--disk-mb", type=int, default=0, help="disk tier; quick 16, full 32")
    ap.add_argument("--redis-mb", type=int, default=0, help="redis maxmemory; quick 16, full 32")
    ap.add_argument("--ttl", type=int, default=0, help="default_ttl_seconds; quick 20, full 60")
    ap.add_argument("--hit-min", type=float, default=0.2)
    ap.add_argument("--hit-max", type=float, default=0.99)
    ap.add_argument("--disk-dir", type=Path, default=None,
                    help="parent of the disk cache dirs (default: the campaign temp dir)")


def proxy_yaml(layers, origin, a, disk_dir, redis_url, prefix):
    def fn(port):
        cache = f"""cache:
  enabled: true
  cache_layers: [{", ".join(layers)}]
  memory:
    max_cache_size_mb: {a.memory_mb}
    max_item_size_mb: 1
    default_ttl_seconds: {a.ttl}
"""
        if "disk" in layers:
            cache += f"""  disk:
    enabled: true
    cache_dir: "{disk_dir}"
    max_disk_cache_size_mb: {a.disk_mb}
"""
        if "redis" in layers:
            cache += f"""  redis:
    enabled: true
    redis_url: "{redis_url}"
    redis_key_prefix: "{prefix}"
    redis_ttl_seconds: {max(a.ttl * 4, 60)}
"""
        return yg_load.cached_proxy_yaml(port, 1, cache, origin, BUCKET)
    return fn


RESULTS = ("hit", "miss", "stale", "revalidated", "bypass")


def main() -> int:
    c = yc.Campaign("endurance", __doc__, add_args=add_args)
    a = c.args
    q = a.quick
    a.minutes = a.minutes or (1.8 if q else 20)
    a.interval = a.interval or (2 if q else 5)
    a.rate = a.rate or (60 if q else 100)
    a.keys = a.keys or (2048 if q else 4096)
    a.memory_mb = a.memory_mb or (8 if q else 16)
    a.disk_mb = a.disk_mb or (16 if q else 32)
    a.redis_mb = a.redis_mb or (16 if q else 32)
    a.ttl = a.ttl or (20 if q else 60)
    duration = a.minutes * 60
    a.warmup = a.warmup or (30 if q else duration * 0.25)
    size = a.object_kib * 1024
    with c:
        data = b"".join(yg_data.chunks(size, 77))
        digest = hashlib.sha256(data).hexdigest()
        keys = [f"k/{i:06d}.bin" for i in range(a.keys)]
        yc.link_objects(c.tmp, BUCKET, keys, data)
        origin = yg_load.start_origin(c.run, c.tmp, {})
        redis = {}
        for name in ("redis", "tiered"):
            rs = yg_redis.RedisServer(c.tmp / f"redis-{name}", maxmemory=f"{a.redis_mb}mb",
                                      name=f"redis-{name}")
            rs.start()
            redis[name] = rs
        try:
            return run(c, a, origin, redis, keys, size, digest, duration)
        finally:
            for rs in redis.values():
                rs.stop()


def run(c, a, origin, redis, keys, size, digest, duration) -> int:
    disk_parent = a.disk_dir or c.tmp
    proxies = {}
    for name, layers in CONFIGS.items():
        disk_dir = Path(disk_parent) / f"disk-{name}-{c.stamp}"
        disk_dir.mkdir(parents=True, exist_ok=True)
        rs = redis.get(name)
        proxies[name] = c.start_proxy(name, proxy_yaml(layers, origin, a, disk_dir,
                                                       rs.url() if rs else "",
                                                       f"yg-endur-{name}:"))
    # the Zipf-like target list (round robin in vegeta)
    seq = yc.zipf_sequence(len(keys), 20000, s=1.0, seed=7)
    pids = {n: p.pid for n, p in proxies.items()}
    pids.update({f"redis-{n}": r.pid for n, r in redis.items()})

    def extra(_t):
        row = {}
        for n, p in proxies.items():
            m = p.metrics()
            for res in RESULTS:
                row[f"{n}.{res}"] = yc.total(m, "yatagarasu_cache_requests_total", result=res)
            for layer in CONFIGS[n]:
                row[f"{n}.{layer}.items"] = yc.total(m, "yatagarasu_cache_items", layer=layer)
        return row

    sampler = yc.Sampler(pids, interval=a.interval, extra=extra)
    sampler.start()
    time.sleep(a.interval)
    t_attack = time.monotonic() - sampler.t0
    rows = {}
    errs = {}

    def attack(n, px):
        try:
            t0 = time.monotonic()
            rows[n] = yc.vegeta_attack([px.url(f"/bench/{keys[i]}") for i in seq], a.rate,
                                       duration, workers=16, max_workers=16, max_body=0)
            print(f"  {n}: vegeta done after {time.monotonic() - t0:.1f} s", flush=True)
        except Exception as e:  # noqa: BLE001 - reported as a failed check
            errs[n] = repr(e)

    m_before = {n: p.metrics() for n, p in proxies.items()}
    ths = [threading.Thread(target=attack, args=(n, p)) for n, p in proxies.items()]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    t_end = t_attack + duration
    sampler.stop()
    m_after = {n: p.metrics() for n, p in proxies.items()}
    c.check("every vegeta attack ran", not errs, "; ".join(f"{k}: {v}" for k, v in errs.items()))
    alive = {n: p.proc.poll() is None for n, p in proxies.items()}
    c.check("every proxy still running", all(alive.values()), str(alive))

    # byte checks of samples at the end (hits or fresh fills)
    bad = []
    for n, px in proxies.items():
        for i in (0, 1, 2, len(keys) // 2, len(keys) - 1):
            r = fetch(px.port, f"/bench/{keys[i]}")
            if r["status"] != 200 or hashlib.sha256(r["body"]).hexdigest() != digest:
                bad.append(f"{n} {keys[i]} {r['status']} {len(r['body'])} B")
    c.check("SHA-256 of samples through every proxy", not bad, "; ".join(bad))

    samples = [r for r in sampler.rows if t_attack <= r["t"] <= t_end + a.interval / 2]
    # vegeta -max-body 0: bodies read and discarded; a short body is an error row
    ok_row = lambda r: r["code"] == 200 and not r["error"] and r["clen"] == size  # noqa: E731
    table_rows, series = [], {}
    result = {"minutes": a.minutes, "interval_s": a.interval, "warmup_s": a.warmup,
              "rate_per_proxy": a.rate, "keys": len(keys), "object_bytes": size,
              "working_set_mib": len(keys) * size / 2**20, "memory_mb": a.memory_mb,
              "disk_mb": a.disk_mb, "redis_maxmemory_mb": a.redis_mb, "ttl_s": a.ttl,
              "proxies": {}}
    for n, px in proxies.items():
        rs = rows.get(n, [])
        summ = yc.summary(rs, ok=ok_row) if rs else {"requests": 0, "errors": 0}
        # per-interval p99 from vegeta rows (vegeta t=0 ~ t_attack)
        buckets = {}
        for r in rs:
            buckets.setdefault(int(r["t"] // a.interval), []).append(r["ms"])
        p99_t = sorted(buckets)
        p99_x = [t_attack + (b + 0.5) * a.interval for b in p99_t]
        p99_y = [yc.percentile(buckets[b], 99) for b in p99_t]
        # per-interval hit rate from the metrics deltas
        hr_x, hr_y = [], []
        for r0, r1 in zip(samples, samples[1:]):
            if f"{n}.hit" not in r0 or f"{n}.hit" not in r1:
                continue
            d = {res: r1[f"{n}.{res}"] - r0[f"{n}.{res}"] for res in RESULTS}
            tot = sum(d.values())
            if tot > 0:
                hr_x.append(r1["t"])
                hr_y.append(d["hit"] / tot)
        xs = [r["t"] for r in samples if f"{n}.rss" in r]
        rss = [r[f"{n}.rss"] for r in samples if f"{n}.rss" in r]
        fds = [r[f"{n}.fds"] for r in samples if f"{n}.fds" in r]
        growth = yc.growth_after_warmup(xs, rss, warmup_frac=a.warmup / duration)
        after = [(x, f) for x, f in zip(xs, fds) if x >= t_attack + a.warmup]
        fd_warm = statistics.median(f for _, f in after[:3]) if after else None
        fd_end = statistics.median(f for _, f in after[-3:]) if after else None
        # whole-run hit rate after warm-up: from the samples at warm-up end and at the end
        warm_row = next((r for r in samples if r["t"] >= t_attack + a.warmup
                         and f"{n}.hit" in r), None)
        end_row = next((r for r in reversed(samples) if f"{n}.hit" in r), None)
        hit_rate = None
        if warm_row and end_row and warm_row is not end_row:
            d = {res: end_row[f"{n}.{res}"] - warm_row[f"{n}.{res}"] for res in RESULTS}
            hit_rate = d["hit"] / (sum(d.values()) or 1)
        mb, ma = m_before[n], m_after[n]
        ops = {f"{layer}.{op}": yc.delta(ma, mb, "yatagarasu_cache_layer_operations_total",
                                         layer=layer, op=op)
               for layer in CONFIGS[n] for op in ("hit", "miss", "insert", "eviction",
                                                  "expiration", "rejected", "error")}
        res_d = {res: yc.delta(ma, mb, "yatagarasu_cache_requests_total", result=res)
                 for res in RESULTS}
        items_max = {layer: max((r.get(f"{n}.{layer}.items", 0) for r in samples), default=0)
                     for layer in CONFIGS[n]}
        cap = {layer: yc.total(ma, "yatagarasu_cache_capacity_bytes", layer=layer)
               for layer in CONFIGS[n]}
        bytes_end = {layer: yc.total(ma, "yatagarasu_cache_bytes", layer=layer)
                     for layer in CONFIGS[n]}
        rinfo = {}
        if n in redis:
            info = redis[n].info("stats")
            rinfo = {"evicted_keys": int(info.get("evicted_keys", 0)),
                     "expired_keys": int(info.get("expired_keys", 0))}
        # checks
        c.check(f"{n}: 0 errors (200, Content-Length {size}, whole body read)", summ["requests"] > 0
                and summ["errors"] == 0, f"{summ['errors']} of {summ['requests']}, codes "
                f"{summ.get('codes')}")
        c.check(f"{n}: fds not growing (end <= after warm-up + 10)",
                fd_warm is not None and fd_end <= fd_warm + 10, f"{fd_warm} -> {fd_end}")
        g = growth.get("growth")
        c.check(f"{n}: RSS growth after warm-up < 5 %", g is not None and g < 0.05,
                f"{(g or 0) * 100:+.2f} % ({growth.get('start', 0) / 2**20:.1f} -> "
                f"{growth.get('end', 0) / 2**20:.1f} MiB fitted, {growth.get('samples')} samples)")
        c.check(f"{n}: hit rate after warm-up in [{a.hit_min}, {a.hit_max}]",
                hit_rate is not None and a.hit_min <= hit_rate <= a.hit_max,
                f"{(hit_rate or 0):.3f}")
        for layer in CONFIGS[n]:
            c.verify_config(f"{n}: layer {layer} served hits", ops[f"{layer}.hit"] > 0,
                            f"{ops[f'{layer}.hit']:.0f}")
            if layer in ("memory", "disk"):
                c.verify_config(f"{n}: layer {layer} churned (evictions > 0) within capacity",
                                ops[f"{layer}.eviction"] > 0 and bytes_end[layer] <= cap[layer],
                                f"{ops[f'{layer}.eviction']:.0f} evictions, "
                                f"{bytes_end[layer] / 2**20:.1f} of {cap[layer] / 2**20:.0f} MiB")
        if n in redis:
            c.verify_config(f"{n}: redis-server evicted keys (maxmemory churn)",
                            rinfo["evicted_keys"] > 0, str(rinfo))
        exp = res_d["revalidated"] + sum(ops.get(f"{lay}.expiration", 0) for lay in CONFIGS[n])
        c.verify_config(f"{n}: entries expired/revalidated during the run (TTL {a.ttl} s)",
                        exp > 0 or rinfo.get("expired_keys", 0) > 0,
                        f"revalidated {res_d['revalidated']:.0f}, expirations "
                        f"{sum(ops.get(f'{lay}.expiration', 0) for lay in CONFIGS[n]):.0f}, "
                        f"redis expired {rinfo.get('expired_keys', '-')}")
        result["proxies"][n] = {"layers": CONFIGS[n], "summary": summ, "hit_rate": hit_rate,
                                "rss_growth": growth, "fds_after_warmup": fd_warm,
                                "fds_end": fd_end, "layer_ops": ops, "results": res_d,
                                "items_max": items_max, "bytes_end": bytes_end,
                                "capacity": cap, "redis": rinfo,
                                "rss_end": rss[-1] if rss else None,
                                "hwm_end": samples[-1].get(f"{n}.hwm") if samples else None}
        table_rows.append([n, "+".join(CONFIGS[n]), summ["requests"], summ["errors"],
                           summ.get("rate"), summ.get("p50_ms"), summ.get("p99_ms"),
                           hit_rate, (rss[0] / 2**20) if rss else None,
                           (rss[-1] / 2**20) if rss else None,
                           f"{(g or 0) * 100:+.2f} %", f"{fd_warm} -> {fd_end}",
                           res_d["revalidated"],
                           sum(ops.get(f"{lay}.eviction", 0) for lay in CONFIGS[n])
                           + rinfo.get("evicted_keys", 0)])
        series[n] = {"rss": (xs, [v / 2**20 for v in rss]), "fds": (xs, fds),
                     "hit": (hr_x, hr_y), "p99": (p99_x, p99_y)}
    for n in redis:
        xs, ys = sampler.column(f"redis-{n}.rss")
        result.setdefault("redis_rss_mib", {})[n] = [v / 2**20 for v in ys[-1:]]
    result["samples"] = sampler.rows
    result["sampler_errors"] = sampler.errors[:20]
    c.result = result
    c.table = (f"{a.minutes:g} min at {a.rate} req/s per proxy (all four at once), "
               f"{len(keys)} keys x {a.object_kib} KiB ({len(keys) * size / 2**20:.0f} MiB, "
               f"Zipf s=1), memory {a.memory_mb} MiB, disk {a.disk_mb} MiB, redis maxmemory "
               f"{a.redis_mb} MiB, TTL {a.ttl} s, warm-up {a.warmup:g} s, samples every "
               f"{a.interval:g} s\n\n"
               + yc.fmt_table(["proxy", "layers", "requests", "errors", "req/s", "p50 ms",
                               "p99 ms", "hit rate after warm-up", "RSS start MiB",
                               "RSS end MiB", "RSS growth after warm-up (fit)",
                               "fds warm -> end", "revalidated", "evictions"], table_rows)
               + "\n")
    shade = (t_attack + a.warmup, f"end of warm-up ({a.warmup:g} s)")
    c.plot("timeline", [
        {"title": "RSS (MiB)", "ylabel": "MiB", "xlabel": "s",
         "series": {n: s["rss"] for n, s in series.items()}},
        {"title": "open fds", "ylabel": "fds", "xlabel": "s",
         "series": {n: s["fds"] for n, s in series.items()}},
        {"title": f"hit rate per {a.interval:g} s (cache_requests_total deltas)",
         "ylabel": "hit rate", "xlabel": "s",
         "series": {n: s["hit"] for n, s in series.items()}},
        {"title": f"p99 latency per {a.interval:g} s (vegeta)", "ylabel": "ms", "xlabel": "s",
         "logy": True, "series": {n: s["p99"] for n, s in series.items()}},
    ], vline=shade)
    return c.exit_code()


if __name__ == "__main__":
    sys.exit(main())
