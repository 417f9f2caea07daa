#!/usr/bin/env python3
"""Many concurrent keep-alive connections on memory-cache hits (issue #9 item 3): throughput,
latency, descriptors and memory as the connection count grows, and the memory one idle
keep-alive connection costs.

One Debian nginx origin (access log on: every backend request counted) serves a 1 KiB object;
one build/yatagarasu (`server.threads` 2, `cache_layers: [memory]`, `max_concurrent_requests`
raised above the largest step, `keepalive_timeout` 300 s) caches it. RLIMIT_NOFILE is raised
for this script and everything it starts (setrlimit, inherited: the proxy, wrk, the client).
`net.core.somaxconn` (the accept backlog cap) is read and reported, never changed.

1. Idle connections (a fresh proxy, before any load): an asyncio client opens N connections
   (full 10000, quick 2000; --idle), sends one GET on each (every answer checked: 200, X-Cache
   HIT, the object's bytes) and keeps them all open. Reported: RSS delta / N = bytes per idle
   connection (check < 64 KiB), the proxy's fds and yatagarasu_active_connections (both >= N).
   With the N connections still open, `wrk -c100` runs for a few seconds: the latency of
   active traffic beside N idle connections, as a ratio to the 100-connection step below.
2. Steps of concurrent connections (full 100, 1000, 2500, 5000, 10000; quick 100, 1000, 2000;
   --steps): `wrk -t2 -c<N> --latency --timeout 10s` for 10 s (quick 5 s) plus a ramp: a Lua
   delay() holds each connection's first request --ramp-ms (default 1000 + N/4 ms) so all N
   connections are open and accepted before the load starts (req/s is computed over the
   seconds after the ramp). Without it (--ramp-ms 0) the connections that arrive while the
   workers are busy wait in the accept queue for seconds (see README). The proxy is sampled
   every 0.2 s (RSS, fds; active_connections from /metrics in a loop of its own). Reported per
   step: req/s, p50, p99, Little's-law mean latency N / (req/s), when all N were accepted,
   peak fds, peak active_connections, peak RSS. Checks: 0 socket errors and 0 non-2xx, fds >= N
   and active_connections in [N, N + 5] at the peak, every request a memory hit (cache hits
   grew by at least wrk's count, 0 origin requests, response bytes = 1 KiB x requests
   answered). The degradation point is the first step whose p99 exceeds 5x the 100-connection
   p99. wrk is a closed loop: at saturation the mean latency is N / throughput by Little's
   law, so p99 grows with N even when nothing degrades; compare p99 with that figure, and read
   the idle-connections wrk run for the cost of open connections alone.

  python3 load/concurrency.py             # ~2 min: steps to 10000, 10000 idle
  python3 load/concurrency.py --quick     # < 60 s: steps to 2000, 2000 idle (CI)
  python3 load/concurrency.py --steps 100,500 --idle 500 --seconds 3

Writes load/results/concurrency_<stamp>.md/.json and _steps.png/_timeline.png.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
import yg_campaign as ygc  # noqa: E402
import yg_data  # noqa: E402
import yg_load  # noqa: E402

BUCKET = "bench-bucket"
KEY = "obj-1k.bin"
SIZE = 1024
KiB = 1024
MiB = 1 << 20
PER_CONN_LIMIT = 64 * KiB
DEGRADE_FACTOR = 5.0


def add_args(ap) -> None:
    ap.add_argument("--steps", default="", help="connection counts (default 100,1000,2500,"
                    "5000,10000; quick 100,1000,2000)")
    ap.add_argument("--idle", type=int, default=0,
                    help="idle keep-alive connections for the memory test (default: the largest "
                         "step)")
    ap.add_argument("--seconds", type=int, default=0, help="wrk seconds per step (10; quick 5)")
    ap.add_argument("--threads", type=int, default=2, help="proxy server.threads (default 2)")
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--ramp-ms", type=int, default=None,
                    help="hold each connection's first request this long so all connections "
                         "are accepted before the load (default 1000 + N/4; 0: no hold, the "
                         "connection storm)")


# wrk holds the first request of every connection (the first `first` delay() calls of each
# wrk thread) so that all N connections are open and accepted before the load starts: the
# steady state with N connections is measured, not the connection storm (see README: accepts
# wait behind busy connections). Later requests are not held (delay 0).
RAMP_LUA = """\
local n = 0
function delay()
  n = n + 1
  if n <= {first} then return {ms} end
  return 0
end
"""


def ramp_ms(a, n: int) -> int:
    if a.ramp_ms is not None:
        return a.ramp_ms
    return 1000 + n // 4


def proxy_yaml(origin: int, threads: int, max_conns: int):
    def fn(port: int) -> str:
        return f"""server:
  address: "127.0.0.1"
  port: {port}
  threads: {threads}
  max_concurrent_requests: {max(1000, 4 * max_conns)}
  keepalive_timeout: 300
logging:
  level: warn
  format: json
  access_log: false
{yg_load.memory_cache_yaml()}{yg_load.origin_bucket_yaml(origin, BUCKET)}"""
    return fn


def sockstat_tcp_pages() -> int:
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            f = line.split()
            return int(f[f.index("mem") + 1])
    return 0


def gauge(m: ygc.Samples, name: str) -> float:
    return ygc.total(m, name)


def hit_probe(port: int, digest: str) -> dict:
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/{KEY}", timeout=10) as r:
        body = r.read()
        return {"status": r.status, "x_cache": r.headers.get("X-Cache", ""),
                "ok": r.status == 200 and hashlib.sha256(body).hexdigest() == digest}


# --- idle connections -----------------------------------------------------------------------

async def _open_one(port: int, req: bytes, body: bytes, sem: asyncio.Semaphore):
    async with sem:
        for attempt in range(3):
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
                break
            except (OSError, asyncio.TimeoutError):
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2)
        w.write(req)
        await w.drain()
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdr = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdr[k.strip().lower()] = v.strip()
        got = await asyncio.wait_for(r.readexactly(int(hdr.get("content-length", "0"))), 30)
        ok = status == 200 and got == body and hdr.get("x-cache", "").upper() == "HIT"
        return r, w, ok, hdr.get("connection", "")


async def idle_test(port: int, n: int, body: bytes, measure) -> dict:
    """Opens n keep-alive connections with one request each, runs measure() (blocking, in a
    thread) while they are all open, then closes them."""
    req = f"GET /bench/{KEY} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    sem = asyncio.Semaphore(256)
    t0 = time.monotonic()
    res = await asyncio.gather(*[_open_one(port, req, body, sem) for _ in range(n)],
                               return_exceptions=True)
    opened = time.monotonic() - t0
    conns = [x for x in res if not isinstance(x, BaseException)]
    errors = [repr(x) for x in res if isinstance(x, BaseException)]
    bad = sum(1 for x in conns if not x[2])
    closed_by_server = sum(1 for x in conns if x[3].lower() == "close")
    out = {"asked": n, "open": len(conns), "errors": len(errors), "error_samples": errors[:3],
           "bad_answers": bad, "connection_close": closed_by_server,
           "open_seconds": round(opened, 2)}
    out.update(await asyncio.to_thread(measure))
    # still open after the measurement? (the proxy must not have dropped them)
    dropped = 0
    for r, w, _, _ in conns:
        if r.at_eof() or w.is_closing():
            dropped += 1
    out["dropped_during_measure"] = dropped
    for _, w, _, _ in conns:
        w.close()
    await asyncio.gather(*[w.wait_closed() for _, w, _, _ in conns], return_exceptions=True)
    return out


# --- the campaign ---------------------------------------------------------------------------

def main(argv=None) -> int:
    c = ygc.Campaign("concurrency", __doc__, argv, add_args)
    a = c.args
    steps = [int(x) for x in (a.steps or ("100,1000,2000" if a.quick
                                          else "100,1000,2500,5000,10000")).split(",")]
    idle_n = a.idle or max(steps)
    secs = a.seconds or (5 if a.quick else 10)
    limit_want = 2 * max(max(steps), idle_n) + 4096
    old_nofile, nofile = ygc.raise_nofile(max(65536, limit_want))
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if nofile < max(max(steps), idle_n) + 200:
        print(f"RLIMIT_NOFILE is {nofile} (hard limit {hard}, which this process cannot raise): "
              "too low for the largest step; lower --steps/--idle", file=sys.stderr)
        return 2
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    syn_backlog = int(Path("/proc/sys/net/ipv4/tcp_max_syn_backlog").read_text())
    port_range = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    print(f"RLIMIT_NOFILE {old_nofile} -> {nofile} (hard {hard}); net.core.somaxconn {somaxconn}, "
          f"tcp_max_syn_backlog {syn_backlog}, ip_local_port_range {port_range} (read only)",
          flush=True)

    body = b"".join(yg_data.chunks(SIZE, 77))
    digest = hashlib.sha256(body).hexdigest()
    with c:
        origin = yg_load.start_origin(c.run, c.tmp, {f"{BUCKET}/{KEY}": body}, workers=1,
                                      access_log=str(c.tmp / "origin-access.log"))
        origin_log = ygc.LineCounter(c.tmp / "origin-access.log")
        px = c.start_proxy("ours", proxy_yaml(origin, a.threads, max(max(steps), idle_n)))
        url = px.url(f"/bench/{KEY}")
        probes = [hit_probe(px.port, digest) for _ in range(3)]
        c.check("warm-up: the object answers 200 with its SHA-256, then X-Cache HIT",
                all(p["ok"] for p in probes) and probes[-1]["x_cache"].upper() == "HIT",
                f"{probes}")
        m = px.metrics()
        c.verify_config("memory cache on: yatagarasu_cache_capacity_bytes{layer=memory} = 64 MiB",
                        ygc.total(m, "yatagarasu_cache_capacity_bytes", layer="memory")
                        == 64 * MiB, f"{ygc.total(m, 'yatagarasu_cache_capacity_bytes'):.0f}")
        c.verify_config(f"yatagarasu_worker_threads = {a.threads}",
                        ygc.total(m, "yatagarasu_worker_threads") == a.threads,
                        f"{ygc.total(m, 'yatagarasu_worker_threads'):.0f}")
        origin_log.advance()
        # warm the allocator and the connection path once (unmeasured)
        yg_load.wrk(url, 1, 100, ["--timeout", "10s"], threads=a.wrk_threads, check=False)

        # -- 1. idle connections
        print(f"== {idle_n} idle keep-alive connections", flush=True)
        base = ygc.proc_stats(px.pid)
        base_sock = sockstat_tcp_pages()
        m0 = px.metrics()

        def measure() -> dict:
            time.sleep(1.0)
            st = ygc.proc_stats(px.pid)
            sock = sockstat_tcp_pages()
            mm = px.metrics()
            active = gauge(mm, "yatagarasu_active_connections")
            beside = yg_load.wrk(url, 3 if a.quick else 5, 100, ["--timeout", "10s"],
                                 threads=a.wrk_threads, check=False)
            st2 = ygc.proc_stats(px.pid)
            return {"rss": st["rss"], "fds": st["fds"], "active_connections": active,
                    "tcp_mem_pages": sock, "wrk_c100_beside_idle": beside,
                    "rss_after_wrk": st2["rss"]}

        idle = asyncio.run(idle_test(px.port, idle_n, body, measure))
        m1 = px.metrics()
        time.sleep(0.5)
        after_close = ygc.proc_stats(px.pid)
        per_conn = (idle["rss"] - base["rss"]) / max(1, idle["open"])
        idle.update({"rss_before": base["rss"], "fds_before": base["fds"],
                     "rss_after_close": after_close["rss"],
                     "bytes_per_idle_connection": round(per_conn),
                     "tcp_mem_pages_before": base_sock,
                     # /proc/net/sockstat is machine-wide: other jobs move it (json only)
                     "kernel_tcp_bytes_per_connection_both_ends_noisy":
                         round((idle["tcp_mem_pages"] - base_sock) * 4096 / max(1, idle["open"])),
                     "hits": ygc.delta(m1, m0, "yatagarasu_cache_requests_total", result="hit")})
        c.check(f"idle: {idle_n} connections opened, every answer 200 HIT with the object's "
                "bytes, none closed by the proxy",
                idle["open"] == idle_n and idle["bad_answers"] == 0
                and idle["connection_close"] == 0 and idle["dropped_during_measure"] == 0,
                f"open {idle['open']}, errors {idle['errors']} {idle['error_samples']}, bad "
                f"{idle['bad_answers']}, close {idle['connection_close']}, dropped "
                f"{idle['dropped_during_measure']}")
        c.check(f"idle: proxy fds >= {idle_n}", idle["fds"] >= idle_n, f"{idle['fds']} fds")
        c.verify_config(f"idle: yatagarasu_active_connections in [{idle_n}, {idle_n + 5}]",
                        idle_n <= idle["active_connections"] <= idle_n + 5,
                        f"{idle['active_connections']:.0f}")
        c.check(f"idle: RSS per idle connection < {PER_CONN_LIMIT // KiB} KiB",
                0 <= per_conn < PER_CONN_LIMIT,
                f"{per_conn:,.0f} bytes ({(idle['rss'] - base['rss']) / MiB:.1f} MiB over "
                f"{idle['open']} connections)")
        beside = idle["wrk_c100_beside_idle"]
        c.check("idle: wrk -c100 beside the idle connections: 0 errors",
                not any(beside["errors"].values()), f"{beside['errors']}")

        # -- 2. steps
        # fds/RSS every 0.2 s; /metrics in its own loop (a scrape waits its turn behind the
        # busy connections, up to the request latency, and must not hold the fd samples up)
        sampler = ygc.Sampler({"ours": px.pid}, interval=0.2)
        scraper = ygc.Sampler({}, interval=0.2, extra=lambda t: {
            "active": gauge(ygc.scrape(px.port, timeout=15), "yatagarasu_active_connections"),
            "answered_t": round(time.monotonic() - sampler.t0, 3)})
        scraper.t0 = sampler.t0
        sampler.start()
        scraper.start()
        rows = []
        for n in steps:
            ramp = ramp_ms(a, n)
            extra = ["--timeout", "10s"]
            if ramp:
                lua = c.tmp / f"ramp-{n}.lua"
                lua.write_text(RAMP_LUA.format(first=-(-n // a.wrk_threads), ms=ramp))
                extra += ["-s", str(lua)]
            dur = secs + -(-ramp // 1000)
            print(f"== wrk -t{a.wrk_threads} -c{n} -d{dur}s (first requests held {ramp} ms)",
                  flush=True)
            origin_log.advance(0.05)
            before = px.metrics()
            w0 = time.monotonic() - sampler.t0
            res = yg_load.wrk(url, dur, n, extra, threads=a.wrk_threads, check=False)
            w1 = time.monotonic() - sampler.t0
            # wrk divides by its whole run; the held first requests leave the ramp idle
            res["rps"] = res["requests"] / (dur - ramp / 1000.0)
            acc = [r["t"] - w0 for r in sampler.rows
                   if w0 <= r["t"] <= w1 and r.get("ours.fds", 0) >= n]
            all_accepted_s = round(acc[0], 2) if acc else None
            time.sleep(0.5)
            after = px.metrics()
            backend = origin_log.advance()
            win = [r for r in sampler.rows if w0 <= r["t"] <= w1]
            peak_fds = max((r.get("ours.fds", 0) for r in win), default=0)
            peak_act = max((r.get("active", 0) for r in scraper.rows
                            if "active" in r and w0 <= r["t"] and r["answered_t"] <= w1),
                           default=0)
            peak_rss = max((r.get("ours.rss", 0) for r in win), default=0)
            hits = ygc.delta(after, before, "yatagarasu_cache_requests_total", result="hit")
            other = ygc.delta(after, before, "yatagarasu_cache_requests_total") - hits
            answered = ygc.delta(after, before, "yatagarasu_requests_total", status="200")
            non200 = ygc.delta(after, before, "yatagarasu_requests_total") - answered
            rbytes = ygc.delta(after, before, "yatagarasu_response_bytes_total")
            rejected = ygc.delta(after, before, "yatagarasu_rejected_requests_total")
            row = {"connections": n, "rps": res["rps"], "requests": res["requests"],
                   "p50_ms": res["p50_ms"], "p99_ms": res["p99_ms"],
                   "littles_law_ms": round(n / res["rps"] * 1000, 2) if res["rps"] else None,
                   "errors": res["errors"], "peak_fds": peak_fds, "peak_active": peak_act,
                   "peak_rss": peak_rss, "hits": hits, "non_hits": other,
                   "answered_200": answered, "non_200": non200, "response_bytes": rbytes,
                   "rejected": rejected, "origin_requests": backend, "window": [w0, w1],
                   "ramp_ms": ramp, "wrk_seconds": dur, "all_accepted_after_s": all_accepted_s}
            rows.append(row)
            print(f"   {res['rps']:,.0f} req/s, p50 {res['p50_ms']:.2f} ms, p99 "
                  f"{res['p99_ms']:.2f} ms, fds {peak_fds}, active {peak_act:.0f}, RSS "
                  f"{peak_rss / MiB:.1f} MiB, errors {res['errors']}", flush=True)
            c.check(f"c{n}: 0 socket errors, 0 non-2xx", not any(res["errors"].values()),
                    f"{res['errors']}")
            c.check(f"c{n}: proxy fds >= {n} at the peak", peak_fds >= n, f"{peak_fds}")
            c.verify_config(f"c{n}: yatagarasu_active_connections in [{n}, {n + 5}] at the "
                            "peak", n <= peak_act <= n + 5, f"{peak_act:.0f}")
            c.verify_config(
                f"c{n}: every request a memory hit (hits >= wrk's {res['requests']}, 0 other "
                "cache results, 0 origin requests, response bytes = 1 KiB x answered, 0 "
                "rejected)",
                hits >= res["requests"] and other == 0 and backend == 0 and non200 == 0
                and rbytes == SIZE * answered and rejected == 0,
                f"hits {hits:.0f}, other {other:.0f}, origin {backend}, non-200 {non200:.0f}, "
                f"bytes {rbytes:.0f} vs {SIZE * answered:.0f}, rejected {rejected:.0f}")
        samples = sampler.stop()
        scrapes = [r for r in scraper.stop() if "active" in r]
        probe = hit_probe(px.port, digest)
        c.check("after the steps: the object still answers HIT with its SHA-256",
                probe["ok"] and probe["x_cache"].upper() == "HIT", f"{probe}")

        base_p99 = rows[0]["p99_ms"] if rows and rows[0]["connections"] == min(steps) else None
        degrade = None
        for r in rows:
            r["p99_vs_first"] = round(r["p99_ms"] / base_p99, 2) if base_p99 else None
            r["p99_vs_littles_law"] = round(r["p99_ms"] / r["littles_law_ms"], 2) \
                if r["littles_law_ms"] else None
            if degrade is None and base_p99 and r["p99_ms"] > DEGRADE_FACTOR * base_p99:
                degrade = r["connections"]
        beside_ratio = (beside["p99_ms"] / base_p99) if base_p99 and rows[0]["connections"] == 100 \
            else None
        c.result = {"steps": steps, "seconds": secs, "threads": a.threads,
                    "wrk_threads": a.wrk_threads, "nofile": [old_nofile, nofile, hard],
                    "somaxconn": somaxconn, "tcp_max_syn_backlog": syn_backlog,
                    "ip_local_port_range": port_range, "idle": idle, "rows": rows,
                    "degradation_point": degrade, "degrade_factor": DEGRADE_FACTOR,
                    "beside_idle_p99_ratio": beside_ratio, "samples": samples,
                    "scrapes": scrapes}
        c.table = render(c.result, base_p99)
        plot(c, rows, samples, scrapes, idle)
    return c.exit_code()


def render(r: dict, base_p99) -> str:
    rows = []
    for x in r["rows"]:
        rows.append([x["connections"], x["rps"], x["p50_ms"], x["p99_ms"], x["littles_law_ms"],
                     x["p99_vs_first"], x["all_accepted_after_s"], x["peak_fds"],
                     int(x["peak_active"]),
                     round(x["peak_rss"] / MiB, 1), sum(x["errors"].values())])
    idle = r["idle"]
    beside = idle["wrk_c100_beside_idle"]
    dp = r["degradation_point"]
    lines = [
        ygc.fmt_table(["connections", "req/s", "p50 ms", "p99 ms", "N/(req/s) ms",
                       "p99 / p99@first", "all accepted after s", "peak fds",
                       "peak active_connections",
                       "peak RSS MiB", "errors"], rows), "",
        f"Degradation point (first step with p99 > {r['degrade_factor']:g}x the "
        f"{r['rows'][0]['connections']}-connection p99 of {base_p99:.2f} ms): "
        + (f"**{dp} connections**" if dp else "none up to the largest step")
        + ". wrk is a closed loop: the mean latency is N / (req/s) by Little's law "
          "(column N/(req/s)), so p99 grows with N at a constant throughput; p99 near that "
          "figure means queueing, not a slower proxy.", "",
        ygc.fmt_table(["idle keep-alive connections", "value"], [
            ["connections held open (1 request each, HIT)", f"{idle['open']:,}"],
            ["opened in", f"{idle['open_seconds']} s"],
            ["proxy RSS before → with them open", f"{idle['rss_before'] / MiB:.1f} → "
             f"{idle['rss'] / MiB:.1f} MiB (after closing: {idle['rss_after_close'] / MiB:.1f})"],
            ["**proxy RSS per idle connection**", f"**{idle['bytes_per_idle_connection']:,} "
             "bytes**"],
            ["proxy fds / active_connections", f"{idle['fds']:,} / "
             f"{idle['active_connections']:,.0f}"],
            ["wrk -c100 beside them: req/s, p50, p99",
             f"{beside['rps']:,.0f}, {beside['p50_ms']:.2f} ms, {beside['p99_ms']:.2f} ms"
             + (f" (p99 {r['beside_idle_p99_ratio']:.2f}x the step without them)"
                if r["beside_idle_p99_ratio"] else "")],
        ]), "",
        f"Proxy `server.threads: {r['threads']}`, memory cache, 1 KiB object; wrk "
        f"-t{r['wrk_threads']}, {r['seconds']} s per step, --timeout 10s. RLIMIT_NOFILE "
        f"{r['nofile'][0]} → {r['nofile'][1]} (hard limit {r['nofile'][2]}; this script and "
        "its children); "
        f"net.core.somaxconn {r['somaxconn']}, tcp_max_syn_backlog "
        f"{r['tcp_max_syn_backlog']} (read, not changed).",
    ]
    return "\n".join(lines)


def plot(c, rows, samples, scrapes, idle) -> None:
    ns = [r["connections"] for r in rows]
    c.plot("steps", [
        {"title": "throughput per connection count (memory hits, 1 KiB)", "xlabel": "connections",
         "ylabel": "req/s", "logx": True, "series": {"yatagarasu": (ns, [r["rps"] for r in rows])},
         "legend": True},
        {"title": "latency (wrk closed loop) vs Little's law N / (req/s)", "xlabel": "connections",
         "ylabel": "ms", "logy": True, "logx": True, "series": {
             "p50": (ns, [r["p50_ms"] for r in rows]), "p99": (ns, [r["p99_ms"] for r in rows]),
             "N / (req/s)": (ns, [r["littles_law_ms"] for r in rows])}},
        {"title": "peak RSS per step", "xlabel": "connections", "ylabel": "MiB", "logx": True,
         "series": {"yatagarasu": (ns, [r["peak_rss"] / MiB for r in rows])}, "legend": True},
    ])
    xs = [s["t"] for s in samples]
    c.plot("timeline", [
        {"title": "proxy fds and yatagarasu_active_connections over the steps", "xlabel": "s",
         "ylabel": "count", "series": {
             "fds": (xs, [s.get("ours.fds", 0) for s in samples]),
             "active_connections (at the scrape's answer)": (
                 [s["answered_t"] for s in scrapes], [s["active"] for s in scrapes])}},
        {"title": "proxy RSS over the steps", "xlabel": "s", "ylabel": "MiB",
         "series": {"yatagarasu": (xs, [s.get("ours.rss", 0) / MiB for s in samples])},
         "legend": True},
        {"title": f"idle test: RSS with {idle['open']:,} idle connections", "kind": "bar",
         "ylabel": "MiB", "series": {"before": idle["rss_before"] / MiB,
                                     "yatagarasu, idle open": idle["rss"] / MiB,
                                     "after close": idle["rss_after_close"] / MiB}},
    ])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
