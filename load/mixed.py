#!/usr/bin/env python3
"""Mixed traffic (issue #9, PERF-2): do large streamed downloads hurt small cached requests?

One proxy (server.threads 2, memory cache, item limit 1 MiB) in front of one Debian nginx
origin serving two objects: a 1 KiB one (cached: every measured request is a memory hit) and a
large one (64 MiB; quick: 8 MiB) above the item limit, so it is never cached and every request
streams it from the origin (X-Cache: BYPASS). vegeta runs three windows at fixed rates:

  baseline   only the small object, at <rate>/2 req/s
  mixed      small and large alternating (50 % / 50 % of requests) at <rate> req/s in total,
             so the small object gets the same <rate>/2 req/s as in the baseline

  mixed-direct  as mixed, but the large downloads go straight to the origin (not through the
             proxy): the same bytes move through the machine, so this window separates what
             the shared CPUs cost the small requests from what the proxy itself adds

and the small object's p50/p99 with streams running is compared with the baseline
(isolation ratio = mixed p99 / baseline p99; proxy's share = mixed p99 / mixed-direct p99),
with the large objects' throughput, latency, the error count (must be 0) and the proxy's RSS
(sampled every second).

Checked: every answer 200; small bodies byte-exact, the first KiB of each large body exact
(vegeta keeps 1 KiB of each body; a body cut short is a vegeta error), one large download's
SHA-256 before and after; /metrics: cache hits rose by ~the small request count, cache
bypasses by ~the large count, memory-layer inserts 0, response bytes ~= what the requests
imply, the origin answered ~one request per large download and none for small ones.

  load/mixed.py                 # 64 MiB, <rate> 8/s, 60 s per window
  load/mixed.py --quick         # 8 MiB, 24/s, 15 s per window (< 90 s)
  load/mixed.py --rate 20 --large-mib 32 --seconds 30

The default full rate: 4 large downloads/s of 64 MiB (256 MiB/s through the proxy), about half
of what the shared 2-CPU machine sustained for 64 MiB streams with vegeta as the client
(~440-600 MiB/s, proxy or direct, at 8 and 16 downloads/s: latency then grows without bound;
load/README.md, section mixed.py), so the window measures interference, not a saturated box.

Writes load/results/mixed_<stamp>.md/.json and _latency.png (per-second p99 of the small and
the large requests, baseline and mixed; RSS). Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "load"))
import cache_compare as cc  # noqa: E402
import yg_data  # noqa: E402
import yg_load  # noqa: E402
from yg_campaign import (Campaign, Sampler, delta, fmt_table, per_second, scrape,  # noqa: E402
                         summary, vegeta_attack)

BUCKET = cc.BUCKET
SMALL = 1024
KEEP = 1024  # body bytes vegeta keeps per response


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--rate", type=int, help="total req/s in the mixed window (default 8; "
                                             "quick 24); the small object gets half")
    ap.add_argument("--seconds", type=int, help="per window (default 60; quick 15)")
    ap.add_argument("--large-mib", type=int, help="large object size (default 64; quick 8)")
    ap.add_argument("--threads", type=int, default=2, help="proxy server.threads")


CACHE = yg_load.memory_cache_yaml()


def sha256_url(url: str) -> tuple:
    h, n = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=60) as r:
        xc = r.headers.get("X-Cache", "")
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    return h.hexdigest(), n, xc


def main() -> int:
    c = Campaign("mixed", __doc__, add_args=add_args)
    a = c.args
    rate = a.rate or (24 if a.quick else 8)
    seconds = a.seconds or (15 if a.quick else 60)
    large = (a.large_mib or (8 if a.quick else 64)) << 20
    small_rate = rate // 2
    with c:
        small_data = b"".join(yg_data.chunks(SMALL, 21))
        large_data = b"".join(yg_data.chunks(large, 22))
        large_sha = hashlib.sha256(large_data).hexdigest()
        large_head = large_data[:KEEP]
        origin = yg_load.start_origin(c.run, c.tmp, {f"{BUCKET}/small.bin": small_data,
                                                     f"{BUCKET}/large.bin": large_data},
                                      workers=2, access_log=str(c.tmp / "origin-access.log"))
        del large_data
        olog = cc.OriginLog(c.tmp / "origin-access.log")
        px = c.start_proxy("ours", lambda port: yg_load.cached_proxy_yaml(
            port, a.threads, CACHE, origin, BUCKET))
        small_url, large_url = px.url("/bench/small.bin"), px.url("/bench/large.bin")
        large_direct = f"http://127.0.0.1:{origin}/{BUCKET}/large.bin"

        # set-up checks: the small object is a hit with the right bytes, the large one streams
        for _ in range(3):
            r = cc.fetch(px.port, "/bench/small.bin")
        c.verify_config("small object served from the memory cache",
                        r["status"] == 200 and r["headers"].get("x-cache") == "HIT"
                        and r["body"] == small_data, f"{r['status']} X-Cache "
                        f"{r['headers'].get('x-cache')}, {len(r['body'])} B")
        got, n, xc = sha256_url(large_url)
        c.verify_config(f"large object ({large >> 20} MiB) streams uncached (X-Cache BYPASS)",
                        xc == "BYPASS", f"X-Cache {xc}")
        c.check("large object: exact bytes (sha256) before the run", got == large_sha,
                f"{n} B")
        c.verify_config("server.threads", delta(scrape(px.port), {}, "yatagarasu_worker_threads")
                        == a.threads, "")
        olog.advance()

        sampler = Sampler({"proxy": px.pid}, interval=1.0)
        sampler.start()
        windows = {}
        plan = (("baseline", [small_url], small_rate), ("mixed", [small_url, large_url], rate),
                ("mixed-direct", [small_url, large_direct], rate))
        for name, targets, r_ in plan:
            print(f"== {name}: {r_} req/s for {seconds} s over {len(targets)} target(s)",
                  flush=True)
            t_start = sampler.rows[-1]["t"] if sampler.rows else 0.0
            before = scrape(px.port)
            rows = vegeta_attack(targets, r_, seconds, max_body=KEEP, timeout_s=60)
            origin_n = olog.advance()
            after = scrape(px.port)
            t_end = sampler.rows[-1]["t"] if sampler.rows else 0.0
            windows[name] = {"rows": rows, "before": before, "after": after,
                             "origin": origin_n, "t": (t_start, t_end),
                             "large_url": targets[1] if len(targets) > 1 else None}
        sampler.stop()
        got, n, xc = sha256_url(large_url)
        c.check("large object: exact bytes (sha256) after the run", got == large_sha, f"{n} B")

        res, per = {}, {}
        for name, wdw in windows.items():
            rows = wdw["rows"]
            sm = [r for r in rows if r["url"] == small_url]
            lg = [r for r in rows if r["url"] == wdw["large_url"]]
            via_proxy = wdw["large_url"] == large_url
            bad_small = sum(1 for r in sm if r["code"] == 200 and r["body"] != small_data)
            bad_large = sum(1 for r in lg if r["code"] == 200 and r["body"] != large_head)
            s_sum = summary(sm)
            l_sum = summary(lg) if lg else None
            errors = s_sum["errors"] + (l_sum["errors"] if l_sum else 0)
            span = max(r["t"] + r["ms"] / 1000 for r in rows) - min(r["t"] for r in rows)
            res[name] = {"rate": rate if lg else small_rate, "seconds": seconds,
                         "small": s_sum, "large": l_sum, "errors": errors,
                         "wrong_bytes": bad_small + bad_large, "origin_requests": wdw["origin"],
                         "large_mib_per_s": (len(lg) * large / span / 2**20) if lg else None,
                         "error_samples": sorted({r["error"] for r in rows if r["error"]})[:5]}
            per[name] = {"small": per_second(sm), "large": per_second(lg) if lg else []}
            b, a_ = wdw["before"], wdw["after"]
            hits = delta(a_, b, "yatagarasu_cache_requests_total", result="hit")
            byp = delta(a_, b, "yatagarasu_cache_requests_total", result="bypass")
            mem_hits = delta(a_, b, "yatagarasu_cache_layer_operations_total", layer="memory",
                             op="hit")
            inserts = delta(a_, b, "yatagarasu_cache_layer_operations_total", layer="memory",
                            op="insert")
            rbytes = delta(a_, b, "yatagarasu_response_bytes_total")
            want_bytes = len(sm) * SMALL + (len(lg) * large if via_proxy else 0)
            ok_small = len(sm) - 2 <= hits <= len(sm) + 2 and abs(mem_hits - hits) <= 2
            ok_large = (abs(byp - (len(lg) if via_proxy else 0)) <= 2
                        and abs(wdw["origin"] - len(lg)) <= 2)
            c.verify_config(
                f"{name}: small requests were memory hits, large ones streamed from the origin"
                + ("" if via_proxy else " directly (not through the proxy)" if lg
                   else " (no large requests in this window)"),
                ok_small and ok_large and inserts == 0,
                f"{len(sm)} small / {hits:.0f} hits / {mem_hits:.0f} memory-layer hits; "
                f"{len(lg)} large / {byp:.0f} bypasses / {wdw['origin']} origin requests; "
                f"{inserts:.0f} inserts")
            c.verify_config(f"{name}: response bytes match the requests",
                            abs(rbytes - want_bytes) <= max(1, want_bytes * 0.001),
                            f"{rbytes:.0f} B counted, {want_bytes} B expected")
            c.check(f"{name}: 0 errors", errors == 0,
                    f"{errors} ({res[name]['error_samples']}); codes small "
                    f"{s_sum['codes']}" + (f", large {l_sum['codes']}" if l_sum else ""))
            c.check(f"{name}: exact bytes in every answer", res[name]["wrong_bytes"] == 0,
                    f"{res[name]['wrong_bytes']} wrong")
            c.check(f"{name}: the asked rate was delivered (>= 90 %)",
                    len(rows) >= 0.9 * res[name]["rate"] * seconds,
                    f"{len(rows)} requests in {seconds} s at {res[name]['rate']}/s")
        # RSS over the whole run
        rss = [r["proxy.rss"] for r in sampler.rows if "proxy.rss" in r]
        hwm = max((r["proxy.hwm"] for r in sampler.rows if "proxy.hwm" in r), default=0)
        base_p99 = res["baseline"]["small"]["p99_ms"]
        mix_p99 = res["mixed"]["small"]["p99_ms"]
        iso = mix_p99 / base_p99 if base_p99 else None
        iso_direct = (res["mixed-direct"]["small"]["p99_ms"] / base_p99 if base_p99 else None)
        iso50 = (res["mixed"]["small"]["p50_ms"] / res["baseline"]["small"]["p50_ms"]
                 if res["baseline"]["small"]["p50_ms"] else None)
        c.check("proxy peak RSS < 256 MiB (streams are not buffered whole)",
                hwm < 256 << 20, f"{hwm / 2**20:.1f} MiB")
        # Generous: on 2 shared cores the streams take CPU from the small requests; the bound
        # catches head-of-line blocking (a small request waiting for a stream), not noise.
        c.check("small p99 with streams < max(20 x baseline p99, 250 ms)",
                mix_p99 < max(20 * base_p99, 250.0),
                f"{mix_p99:.2f} ms vs baseline {base_p99:.2f} ms")
        base_p50, mix_p50 = res["baseline"]["small"]["p50_ms"], res["mixed"]["small"]["p50_ms"]
        c.check("small p50 with streams < 5 x baseline p50 + 5 ms (most small requests are "
                "not queued behind a stream)", mix_p50 < 5 * base_p50 + 5,
                f"{mix_p50:.2f} ms vs baseline {base_p50:.2f} ms")

        c.result = {"rate": rate, "small_rate": small_rate, "seconds": seconds,
                    "large_bytes": large, "small_bytes": SMALL, "threads": a.threads,
                    "windows": res, "per_second": per, "isolation_p99": iso,
                    "isolation_p50": iso50, "isolation_p99_direct": iso_direct,
                    "rss_peak_bytes": hwm,
                    "rss_max_sampled": max(rss) if rss else None, "samples": sampler.rows}
        rows_t = []
        for name in ("baseline", "mixed", "mixed-direct"):
            r = res[name]
            for kind in ("small", "large"):
                s = r[kind]
                if not s:
                    continue
                rows_t.append((name, f"{kind} ({SMALL} B)" if kind == "small" else
                               f"large ({large >> 20} MiB)", s["requests"], s["rate"],
                               s["p50_ms"], s["p99_ms"], s["max_ms"], s["errors"],
                               r["large_mib_per_s"] if kind == "large" else None))
        c.table = "\n".join([
            f"vegeta, keep-alive: baseline = small only at {small_rate}/s; mixed = small + "
            f"large alternating at {rate}/s in total ({small_rate}/s each), {seconds} s per "
            f"window. Proxy server.threads {a.threads}, memory cache (1 KiB object: hits), "
            f"{large >> 20} MiB object above the 1 MiB item limit (streamed, BYPASS).", "",
            fmt_table(("window", "object", "requests", "req/s", "p50 ms", "p99 ms", "max ms",
                       "errors", "MiB/s"), rows_t), "",
            fmt_table(("measure", "value"), [
                ("small p99 isolation ratio (mixed / baseline)", iso),
                ("small p50 ratio (mixed / baseline)", iso50),
                ("small p99 ratio, large downloads NOT through the proxy (mixed-direct / "
                 "baseline): the machine's share of the interference", iso_direct),
                ("small p99 ratio mixed / mixed-direct: the proxy's share",
                 mix_p99 / res["mixed-direct"]["small"]["p99_ms"]),
                ("large-object throughput (MiB/s)", res["mixed"]["large_mib_per_s"]),
                ("errors (all windows)", sum(r["errors"] for r in res.values())),
                ("proxy peak RSS (MiB)", hwm / 2**20)])])

        def xy(ps, key):
            return [p["t"] for p in ps], [p[key] for p in ps]
        xs_rss, ys_rss = sampler.column("proxy.rss")
        c.plot("latency", [
            {"title": "p99 per second (ms), by window", "ylabel": "ms", "xlabel": "s",
             "logy": True, "series": {
                 f"small {SMALL} B (with streams)": xy(per["mixed"]["small"], "p99_ms"),
                 f"large {large >> 20} MiB": xy(per["mixed"]["large"], "p99_ms"),
                 f"small {SMALL} B, baseline window": xy(per["baseline"]["small"], "p99_ms"),
                 f"small {SMALL} B, large ones direct from the origin":
                     xy(per["mixed-direct"]["small"], "p99_ms")}},
            {"title": "small-object p50 per second (ms)", "ylabel": "ms", "xlabel": "s",
             "series": {"with streams": xy(per["mixed"]["small"], "p50_ms"),
                        "baseline": xy(per["baseline"]["small"], "p50_ms")}},
            {"title": "proxy RSS (MiB), the three windows in turn", "ylabel": "MiB", "xlabel": "s",
             "series": {"RSS": (xs_rss, [y / 2**20 for y in ys_rss])}}])
    return c.exit_code()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
