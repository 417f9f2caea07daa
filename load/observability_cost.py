#!/usr/bin/env python3
"""What observability costs on the request path, measured side by side in one run (wrk).

One Debian nginx serves a 1 KiB object as a signature-ignoring S3 origin. Five proxies run
against it at once, identical except for what they record:

  off        metrics.enabled: false, logging.access_log: false   (the baseline)
  on         metrics + one JSON access line per request (the default)
  scraped    as `on`, while a scraper reads /metrics every 50 ms during the run
  audit      as `on`, plus the audit log to a file
  slow-disk  as `audit`, but the audit "file" is a FIFO drained at ~64 KiB/s: a disk that
             cannot keep up. Requests must not slow down; drops are counted.

wrk (1 thread, 32 connections, --latency) hits each variant in turn, rounds alternating, and the
medians of requests/s and p50/p99 latency are reported as ratios to `off` (and `scraped` to
`on`, `slow-disk` to `audit`). Writes load/results/observability_<timestamp>.md and .json.

  python3 load/observability_cost.py            # 5 rounds x 5 s per variant
  python3 load/observability_cost.py --quick    # 1 round x 2 s (CI smoke)
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "load"))
import yg_load  # noqa: E402
import yg_procs  # noqa: E402
from yg_load import Run, parse_wrk_args, start_origin, wrk  # noqa: E402,F401 (re-exported)

BUCKET, KEY = "bench-bucket", "small.bin"
VARIANTS = ("off", "on", "scraped", "audit", "slow-disk")


def proxy_yaml(port: int, origin: int, variant: str, tmp: Path) -> str:
    metrics = variant != "off"
    access = variant != "off"
    audit = ""
    if variant == "audit":
        audit = f"""audit_log:
  enabled: true
  outputs: [file]
  file: {{path: "{tmp / 'audit.log'}", max_file_size_mb: 512}}
"""
    elif variant == "slow-disk":
        audit = f"""audit_log:
  enabled: true
  outputs: [file]
  queue_size: 10000
  file: {{path: "{tmp / 'audit.fifo'}"}}
"""
    return f"""server:
  address: "127.0.0.1"
  port: {port}
  threads: 1
logging:
  level: info
  format: json
  access_log: {str(access).lower()}
metrics:
  enabled: {str(metrics).lower()}
{audit}{yg_load.origin_bucket_yaml(origin, BUCKET)}"""


class Scraper(threading.Thread):
    def __init__(self, url: str, period: float = 0.05):
        super().__init__(daemon=True)
        self.url, self.period = url, period
        self.stop_flag = threading.Event()
        self.scrapes = 0

    def run(self):
        while not self.stop_flag.is_set():
            with urllib.request.urlopen(self.url, timeout=5) as r:
                r.read()
            self.scrapes += 1
            self.stop_flag.wait(self.period)


class SlowReader(threading.Thread):
    """Drains the FIFO at about `rate` bytes/s: the slow disk."""

    def __init__(self, fd: int, rate: int = 64 * 1024):
        super().__init__(daemon=True)
        self.fd, self.rate = fd, rate
        self.stop_flag = threading.Event()
        self.bytes = 0

    def run(self):
        chunk = self.rate // 20
        while not self.stop_flag.is_set():
            try:
                self.bytes += len(os.read(self.fd, chunk))
            except BlockingIOError:
                pass
            self.stop_flag.wait(0.05)


def metric(port: int, name: str) -> float:
    """Sum of every sample of `name` (all label sets)."""
    total, seen = 0.0, False
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
                seen = True
    return total if seen else float("nan")


def start_small_origin(run, tmp: Path, nginx: str) -> int:
    """Debian nginx serving a 1 KiB object at /<BUCKET>/<KEY> (an S3 stand-in that ignores
    signatures); returns its port."""
    return start_origin(run, tmp, {f"{BUCKET}/{KEY}": os.urandom(1024)}, nginx=nginx)


def main(argv=None) -> int:
    args = parse_wrk_args(__doc__, argv)
    rounds, seconds = args.rounds, args.seconds
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not shutil.which("wrk") or not os.access(nginx, os.X_OK):
        print("needs wrk and nginx: scripts/install-deps.sh", file=sys.stderr)
        return 2

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="yg-obs-cost-"))
    tmp.chmod(0o755)
    run = Run()
    reader_fd = None
    slow = None
    try:
        origin = start_small_origin(run, tmp, nginx)

        os.mkfifo(tmp / "audit.fifo")
        reader_fd = os.open(tmp / "audit.fifo", os.O_RDONLY | os.O_NONBLOCK)
        slow = SlowReader(reader_fd)
        slow.start()

        ports = {}
        for v in VARIANTS:
            port = yg_procs.free_port()
            cfg = tmp / f"{v}.yaml"
            cfg.write_text(proxy_yaml(port, origin, v, tmp))
            px = run.start(f"yatagarasu-{v}", [str(args.binary), "--config", str(cfg)],
                           tmp / f"{v}.log")
            yg_procs.wait_http_ok(f"http://127.0.0.1:{port}/health", proc=px, what=v,
                                  log=tmp / f"{v}.log")
            ports[v] = port
        # Warm every path once, unmeasured.
        for v in VARIANTS:
            wrk(f"http://127.0.0.1:{ports[v]}/bench/{KEY}", 1, args.connections)

        res = {v: [] for v in VARIANTS}
        scrapes = 0
        for i in range(rounds):
            for v in VARIANTS:
                scraper = None
                if v == "scraped":
                    scraper = Scraper(f"http://127.0.0.1:{ports[v]}/metrics")
                    scraper.start()
                try:
                    r = wrk(f"http://127.0.0.1:{ports[v]}/bench/{KEY}", seconds,
                            args.connections)
                finally:
                    if scraper:
                        scraper.stop_flag.set()
                        scraper.join()
                        scrapes += scraper.scrapes
                res[v].append(r)
                print(f"round {i + 1}/{rounds} {v:9s} {r['rps']:9.0f} req/s  p50 "
                      f"{r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms", flush=True)

        med = {v: {k: statistics.median(x[k] for x in res[v]) for k in ("rps", "p50_ms",
                                                                          "p99_ms")}
               for v in VARIANTS}
        dropped = metric(ports["slow-disk"], "yatagarasu_audit_records_dropped_total")
        written_slow = metric(ports["slow-disk"], "yatagarasu_audit_records_written_total")
        written_audit = metric(ports["audit"], "yatagarasu_audit_records_written_total")

        def ratio(a, b, k):
            return med[a][k] / med[b][k] if med[b][k] else float("nan")

        result = {
            "benchmark": "observability_cost",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(), "rounds": rounds, "seconds": seconds,
            "connections": args.connections, "object_bytes": 1024, "proxy_threads": 1,
            "runs": res, "median": med, "scrapes_during_scraped_runs": scrapes,
            "ratios": {
                "on_over_off_rps": ratio("on", "off", "rps"),
                "on_over_off_p99": ratio("on", "off", "p99_ms"),
                "scraped_over_on_rps": ratio("scraped", "on", "rps"),
                "scraped_over_on_p99": ratio("scraped", "on", "p99_ms"),
                "audit_over_on_rps": ratio("audit", "on", "rps"),
                "slow_disk_over_audit_rps": ratio("slow-disk", "audit", "rps"),
                "slow_disk_over_audit_p99": ratio("slow-disk", "audit", "p99_ms"),
            },
            "audit_lines_written_file": written_audit,
            "audit_lines_written_slow_disk": written_slow,
            "audit_lines_dropped_slow_disk": dropped,
            "slow_disk_bytes_drained": slow.bytes,
        }
        table = render(result)
        print("\n" + table)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        (args.out_dir / f"observability_{stamp}.json").write_text(
            json.dumps(result, indent=2) + "\n")
        (args.out_dir / f"observability_{stamp}.md").write_text(table + "\n")
        print(f"wrote {args.out_dir}/observability_{stamp}.md and .json")
        return 0
    finally:
        if slow:
            slow.stop_flag.set()
        # Let the slow-disk proxy flush on SIGTERM: drain the FIFO fast while it stops.
        drain_stop = threading.Event()

        def drain():
            while not drain_stop.is_set() and reader_fd is not None:
                try:
                    if not os.read(reader_fd, 1 << 16):
                        time.sleep(0.01)
                except BlockingIOError:
                    time.sleep(0.01)
                except OSError:
                    return

        d = threading.Thread(target=drain, daemon=True)
        d.start()
        run.stop_all()
        drain_stop.set()
        d.join(2)
        if reader_fd is not None:
            os.close(reader_fd)
        shutil.rmtree(tmp, ignore_errors=True)


def render(r: dict) -> str:
    m, q = r["median"], r["ratios"]
    lines = [
        f"# Observability cost ({r['date']})",
        "",
        f"{r['cpus']} CPUs (shared), proxy threads {r['proxy_threads']}, 1 KiB object from "
        f"nginx, wrk -t1 -c{r['connections']} -d{r['seconds']}s, {r['rounds']} alternating "
        "round(s); medians.",
        "",
        "| variant | req/s | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for v in VARIANTS:
        lines.append(f"| {v} | {m[v]['rps']:.0f} | {m[v]['p50_ms']:.3f} | {m[v]['p99_ms']:.3f} |")
    lines += [
        "",
        "| ratio | value |",
        "|---|---|",
        f"| req/s metrics+access log on / off | {q['on_over_off_rps']:.3f} |",
        f"| p99 on / off | {q['on_over_off_p99']:.3f} |",
        f"| req/s scraped every 50 ms / not scraped | {q['scraped_over_on_rps']:.3f} |",
        f"| p99 scraped / not scraped | {q['scraped_over_on_p99']:.3f} |",
        f"| req/s with audit file / without | {q['audit_over_on_rps']:.3f} |",
        f"| req/s audit on a slow disk / audit on a normal file | "
        f"{q['slow_disk_over_audit_rps']:.3f} |",
        f"| p99 audit on a slow disk / normal file | {q['slow_disk_over_audit_p99']:.3f} |",
        "",
        f"Audit on a normal file: {r['audit_lines_written_file']:.0f} lines written. On the slow "
        f"disk (~64 KiB/s): {r['audit_lines_written_slow_disk']:.0f} written, "
        f"{r['audit_lines_dropped_slow_disk']:.0f} dropped and counted; "
        f"{r['scrapes_during_scraped_runs']} scrapes during the `scraped` runs.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
