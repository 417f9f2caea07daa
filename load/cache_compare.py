#!/usr/bin/env python3
"""Cache-hit throughput and latency: Yatagarasu vs nginx proxy_cache vs Varnish, in one run.

One Debian nginx is the origin (files in /<bucket>/<key> layout, signatures ignored, access log
on so every backend request is counted). In front of it, all at once and all caching:

  ours         build/yatagarasu, cache_layers: [memory] (256 MiB, 10 MiB item limit, TTL 1 h)
  nginx        nginx proxy_cache, cache dir on /dev/shm (tmpfs: nginx's cache is file-based)
  varnish      varnishd -s malloc,256m, built-in VCL (-b origin), default TTL 1 h
  ours-disk    build/yatagarasu, cache_layers: [disk] in a dir on the normal filesystem
  nginx-disk   nginx proxy_cache with its cache dir on that same filesystem

`ours`, `nginx`, `varnish` are the memory-hit comparison; `ours-disk` vs `nginx-disk` the
disk-hit one (the OS page cache serves both of those). For each worker budget (default 1 and 2:
proxy server.threads, nginx worker_processes, varnish thread_pools; below the CPU count every
contender is pinned to that many CPUs and wrk to the others) the contenders are started, every
object is requested through each until it reports a hit (X-Cache: HIT, X-Cache-Status: HIT,
X-Varnish with two ids) and its SHA-256 checked, then `wrk -t<workers> -c32 --latency` runs
against each contender and object size in turn, round after round (the contender order
rotates), and medians of req/s, p50 and p99 are reported with the ratios ours/nginx and
ours/varnish. Origin requests during the measured windows are counted (should be 0: hits).

  python3 load/cache_compare.py                        # 5 rounds x 5 s
  python3 load/cache_compare.py --quick                # 1 round x 2 s
  python3 load/cache_compare.py --contenders nginx,varnish,nginx-disk
  python3 load/cache_compare.py --ours-cache off       # proxy without cache (plumbing check)

Writes load/results/cache_compare_<timestamp>.md and .json. Everything started is stopped by
PID, also on error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
import yg_data  # noqa: E402
import yg_load  # noqa: E402
import yg_procs  # noqa: E402
from yg_load import (LineCounter, Run, make_temp_dirs, nginx_binary, parse_wrk_args,  # noqa: E402
                     raise_on_sigterm, start_origin, wrk, write_results)

BUCKET = "bench-bucket"
ALL = ("ours", "nginx", "varnish", "ours-disk", "nginx-disk")
GROUPS = {"memory": ("ours", "nginx", "varnish"), "disk": ("ours-disk", "nginx-disk")}
LABEL = {
    "ours": "yatagarasu (memory)",
    "nginx": "nginx proxy_cache (tmpfs)",
    "varnish": "varnish (malloc)",
    "ours-disk": "yatagarasu (disk)",
    "nginx-disk": "nginx proxy_cache (disk)",
}
SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": 1 << 20, "mib": 1 << 20}

NGINX_CACHE_CONF = """\
worker_processes {workers};
daemon off;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/{name}-body;
    proxy_temp_path {tmp}/{name}-proxy;
    fastcgi_temp_path {tmp}/{name}-fastcgi;
    uwsgi_temp_path {tmp}/{name}-uwsgi;
    scgi_temp_path {tmp}/{name}-scgi;
    sendfile {sendfile};
    tcp_nopush {tcp_nopush};
    keepalive_requests 100000;
    open_file_cache {open_file_cache};
    proxy_cache_path {cache_dir} levels=1:2 keys_zone=ygcmp:16m max_size=256m inactive=1h
                     use_temp_path=off;
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache ygcmp;
            proxy_cache_valid 200 1h;
            proxy_cache_lock on;
            proxy_cache_bypass $http_x_cache_bypass;
            proxy_no_cache $http_x_cache_bypass;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([a-z]*)", text.strip().lower())
    if not m or m.group(2) not in SIZE_UNITS:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 1k, 64k, 1m)")
    return int(m.group(1)) * SIZE_UNITS[m.group(2)]


def size_label(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n >> 10} KiB"
    return f"{n} B"


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--contenders", default=",".join(ALL),
                    help=f"comma list from {','.join(ALL)} (default: all)")
    ap.add_argument("--ours-cache", choices=("on", "off"), default="on",
                    help="off: run our proxy without its cache (pass-through; plumbing check)")
    ap.add_argument("--sizes", default="1k,64k,1m", help="object sizes (default 1k,64k,1m)")
    ap.add_argument("--workers", default="1,2",
                    help="worker budgets to measure (default 1,2); wrk gets as many threads")
    ap.add_argument("--nginx-sendfile", choices=("on", "off"), default="on")
    ap.add_argument("--nginx-tcp-nopush", choices=("on", "off"), default="off",
                    help="default off: on, 64 KiB hits stall ~40 ms on loopback (see README)")
    ap.add_argument("--nginx-open-file-cache", default="max=1000 inactive=1h",
                    help="nginx open_file_cache argument ('off' to disable)")
    ap.add_argument("--shm-dir", type=Path, default=Path("/dev/shm"),
                    help="tmpfs for nginx's memory-comparison cache (default /dev/shm)")
    ap.add_argument("--disk-dir", type=Path, default=Path(tempfile.gettempdir()),
                    help="normal filesystem for the disk caches (default: the temp dir)")
    ap.add_argument("--no-pin", action="store_true",
                    help="do not pin contenders/wrk to CPUs when workers < CPUs")
    ap.add_argument("--varnishd", default=os.environ.get("YG_VARNISHD", ""))
    ap.add_argument("--keep-tmp", action="store_true")


# --- HTTP probe (raw socket: the exact head size is part of what a hit costs) ---------------

def fetch(port: int, path: str, timeout: float = 10.0, headers: dict = None) -> dict:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
                  "Connection: close\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError(f"127.0.0.1:{port}{path}: connection closed in the head")
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "-1"))
        while length < 0 or len(body) < length:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            body += chunk
    return {"status": status, "headers": headers, "body": body, "head_bytes": len(head) + 4}


def is_hit(name: str, headers: dict) -> bool:
    if name.startswith("ours"):
        return headers.get("x-cache", "").upper() == "HIT"
    if name.startswith("nginx"):
        return headers.get("x-cache-status", "").upper() == "HIT"
    return len(headers.get("x-varnish", "").split()) == 2  # "<this xid> <stored object's xid>"


# The origin's access log lines (= backend requests) since the last call.
OriginLog = LineCounter


def fs_type(path: Path) -> str:
    """The filesystem type of the mount holding `path` (from /proc/mounts)."""
    best, kind = "", "?"
    real = os.path.realpath(path)
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1]
                if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return f"{kind} ({best})"


def version(cmd: list) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr) else "?"


# --- contenders -----------------------------------------------------------------------------

def ours_yaml(port: int, origin: int, threads: int, layer: str, cache_on: bool,
              disk_dir: Path) -> str:
    cache = ""
    if cache_on and layer == "memory":
        cache = """cache:
  enabled: true
  cache_layers: [memory]
  memory:
    max_cache_size_mb: 256
    max_item_size_mb: 10
    default_ttl_seconds: 3600
"""
    elif cache_on:
        cache = f"""cache:
  enabled: true
  cache_layers: [disk]
  memory:
    max_item_size_mb: 10
    default_ttl_seconds: 3600
  disk:
    enabled: true
    cache_dir: "{disk_dir}"
    max_disk_cache_size_mb: 1024
    fsync: false
"""
    return yg_load.cached_proxy_yaml(port, threads, cache, origin, BUCKET)


def check_ours_config(binary: Path, cfg: Path) -> None:
    out = subprocess.run([str(binary), "--test", "--config", str(cfg)], capture_output=True,
                         text=True, timeout=30)
    if out.returncode != 0:
        raise SystemExit(
            f"{binary} refuses the config {cfg}:\n{out.stderr.strip()}\n"
            "Measure without our proxy (--contenders nginx,varnish,nginx-disk) or with its "
            "cache off (--ours-cache off).")


class Contender:
    def __init__(self, name: str, port: int, path_prefix: str, cache_dir: Path = None):
        self.name, self.port, self.prefix, self.cache_dir = name, port, path_prefix, cache_dir

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}/{key}"


def start_contenders(run: Run, names: list, workers: int, origin: int, tmp: Path, args,
                     cpus) -> dict:
    out = {}
    wdir = tmp / f"w{workers}"
    wdir.mkdir()
    for name in names:
        port = yg_procs.free_port()
        if name.startswith("ours"):
            layer = "disk" if name == "ours-disk" else "memory"
            cache_dir = None
            if layer == "disk":
                cache_dir = Path(tempfile.mkdtemp(prefix=f"yg-cmp-ours-w{workers}-",
                                                  dir=args.disk_dir))
            cfg = wdir / f"{name}.yaml"
            cfg.write_text(ours_yaml(port, origin, workers, layer, args.ours_cache == "on",
                                     cache_dir))
            if args.ours_cache == "on":
                check_ours_config(args.binary, cfg)
            log = wdir / f"{name}.log"
            p = run.start(name, [str(args.binary), "--config", str(cfg)], log, cpus=cpus)
            yg_procs.wait_http_ok(f"http://127.0.0.1:{port}/health", proc=p, what=name, log=log)
            out[name] = Contender(name, port, "/bench", cache_dir)
        elif name.startswith("nginx"):
            parent = args.shm_dir if name == "nginx" else args.disk_dir
            cache_dir = Path(tempfile.mkdtemp(prefix=f"yg-cmp-{name}-w{workers}-", dir=parent))
            cache_dir.chmod(0o755)
            make_temp_dirs(wdir, prefix=f"{name}-")
            conf = wdir / f"{name}.conf"
            conf.write_text(NGINX_CACHE_CONF.format(
                workers=workers, tmp=wdir, name=name, sendfile=args.nginx_sendfile,
                tcp_nopush=args.nginx_tcp_nopush, open_file_cache=args.nginx_open_file_cache,
                cache_dir=cache_dir, origin=origin, port=port))
            err = wdir / f"{name}-error.log"
            p = run.start(name, [nginx_binary(), "-p", str(wdir), "-c", str(conf), "-e",
                                 str(err)], wdir / f"{name}.out", stop_sig=signal.SIGTERM, cpus=cpus)
            yg_procs.wait_port(port, proc=p, what=name, log=err)
            out[name] = Contender(name, port, f"/{BUCKET}", cache_dir)
        else:  # varnish
            log = wdir / "varnish.log"
            p = run.start(name, [args.varnishd, "-F", "-a", f"127.0.0.1:{port}",
                                 "-b", f"127.0.0.1:{origin}", "-n", str(wdir / "varnish"),
                                 "-s", "malloc,256m", "-t", "3600",
                                 "-p", f"thread_pools={workers}"], log, cpus=cpus)
            yg_procs.wait_port(port, proc=p, what="varnishd", log=log)
            out[name] = Contender(name, port, f"/{BUCKET}")
    return out


def warm_and_verify(c: Contender, keys: dict, expect_hit: bool) -> dict:
    """Requests each object until the contender reports a hit, then checks the hit's SHA-256."""
    info = {}
    for key, (size, digest) in keys.items():
        tries, r = 0, None
        deadline = time.monotonic() + 15
        while True:
            tries += 1
            r = fetch(c.port, f"{c.prefix}/{key}")
            if r["status"] != 200:
                raise RuntimeError(f"{c.name} {key}: status {r['status']} {r['headers']}")
            if not expect_hit or is_hit(c.name, r["headers"]):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{c.name} {key}: no hit after {tries} requests; last "
                                   f"headers {r['headers']}")
            time.sleep(0.05 if tries > 2 else 0)
        got = hashlib.sha256(r["body"]).hexdigest()
        if len(r["body"]) != size or got != digest:
            raise RuntimeError(f"{c.name} {key}: {len(r['body'])} bytes, sha256 {got}; "
                               f"expected {size} bytes, {digest}")
        info[key] = {"requests_until_hit": tries, "hit": is_hit(c.name, r["headers"]),
                     "head_bytes": r["head_bytes"], "sha256_ok": True,
                     "headers": {k: v for k, v in r["headers"].items()
                                 if k not in ("date", "x-request-id")}}
    return info


def main(argv=None) -> int:
    args = parse_wrk_args(__doc__, argv, add_args)
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    bad = [n for n in names if n not in ALL]
    if bad or not names:
        print(f"unknown contender(s) {bad}; choose from {','.join(ALL)}", file=sys.stderr)
        return 2
    names = [n for n in ALL if n in names]
    sizes = sorted({parse_size(s) for s in args.sizes.split(",") if s.strip()})
    workers_list = [int(w) for w in args.workers.split(",") if w.strip()]
    if not shutil.which("wrk") or not os.access(nginx_binary(), os.X_OK):
        print("needs wrk and nginx: scripts/install-deps.sh", file=sys.stderr)
        return 2
    if any(n.startswith("ours") for n in names) and not os.access(args.binary, os.X_OK):
        print(f"no proxy binary at {args.binary} (make build, or --binary)", file=sys.stderr)
        return 2
    if "varnish" in names and not args.varnishd:
        args.varnishd = shutil.which("varnishd") or "/usr/sbin/varnishd"
        if not os.access(args.varnishd, os.X_OK):
            out = subprocess.run([str(REPO / "scripts" / "install-load-tools.sh"), "varnish"],
                                 stdout=subprocess.PIPE, text=True, check=True, timeout=900)
            m = re.search(r"^varnishd=(.+)$", out.stdout, re.M)
            args.varnishd = m.group(1) if m else "/usr/sbin/varnishd"
    if "nginx" in names and not args.shm_dir.is_dir():
        print(f"--shm-dir {args.shm_dir} does not exist (a tmpfs for nginx's cache)",
              file=sys.stderr)
        return 2
    all_cpus = sorted(os.sched_getaffinity(0))

    raise_on_sigterm()
    tmp = Path(tempfile.mkdtemp(prefix="yg-cache-cmp-"))
    tmp.chmod(0o755)  # nginx workers drop root (to nobody) and must read www/
    run = Run()
    scratch = []  # cache dirs outside tmp
    try:
        objects, keys = {}, {}
        for i, size in enumerate(sizes):
            key = f"obj-{size}.bin"
            data = b"".join(yg_data.chunks(size, 1000 + i))
            objects[f"{BUCKET}/{key}"] = data
            keys[key] = (size, hashlib.sha256(data).hexdigest())
        origin = start_origin(run, tmp, objects, access_log=str(tmp / "origin-access.log"))
        origin_log = OriginLog(tmp / "origin-access.log")

        runs = {}      # workers -> size -> contender -> [wrk results]
        backend = {}   # workers -> size -> contender -> origin requests in measured windows
        warm = {}
        pinning = {}
        for w in workers_list:
            pin = not args.no_pin and w < len(all_cpus)
            c_cpus = all_cpus[:w] if pin else None
            wrk_cpus = all_cpus[w:] if pin else None
            pinning[str(w)] = {"contenders": c_cpus, "wrk": wrk_cpus}
            print(f"== {w} worker(s): starting {', '.join(names)}"
                  + (f" (pinned to CPU {c_cpus}, wrk to {wrk_cpus})" if pin else ""), flush=True)
            first_proc = len(run.procs)
            cs = start_contenders(run, names, w, origin, tmp, args, c_cpus)
            scratch += [c.cache_dir for c in cs.values() if c.cache_dir]
            warm[str(w)] = {}
            for n, c in cs.items():
                expect = not (n.startswith("ours") and args.ours_cache == "off")
                warm[str(w)][n] = warm_and_verify(c, keys, expect)
                # One unmeasured wrk second per object: connection paths, allocators, threads.
                for key in keys:
                    wrk(c.url(key), 1, args.connections, threads=w, cpus=wrk_cpus)
                print(f"  {n}: warm, sha256 ok, head {warm[str(w)][n][next(iter(keys))]['head_bytes']} B "
                      f"({'hits' if expect else 'pass-through'})", flush=True)
            runs[str(w)] = {str(s): {n: [] for n in names} for s in sizes}
            backend[str(w)] = {str(s): {n: 0 for n in names} for s in sizes}
            origin_log.advance()
            for r in range(args.rounds):
                order = names[r % len(names):] + names[:r % len(names)]
                for size in sizes:
                    key = f"obj-{size}.bin"
                    for n in order:
                        res = wrk(cs[n].url(key), args.seconds, args.connections, threads=w,
                                  cpus=wrk_cpus)
                        res["origin_requests"] = origin_log.advance()
                        runs[str(w)][str(size)][n].append(res)
                        backend[str(w)][str(size)][n] += res["origin_requests"]
                        print(f"round {r + 1}/{args.rounds} w{w} {size_label(size):>7} {n:10s} "
                              f"{res['rps']:9.0f} req/s  p50 {res['p50_ms']:.3f} ms  p99 "
                              f"{res['p99_ms']:.3f} ms  origin {res['origin_requests']}",
                              flush=True)
            for _, p, _ in list(run.procs[first_proc:]):
                run.stop(p)

        med = {w: {s: {n: {k: statistics.median(x[k] for x in lst)
                           for k in ("rps", "p50_ms", "p99_ms")}
                       for n, lst in per.items()}
                   for s, per in bysize.items()}
               for w, bysize in runs.items()}

        def ratio(m, a, b, k):
            return m[a][k] / m[b][k] if a in m and b in m and m[b][k] else None

        ratios = {}
        for w, bysize in med.items():
            ratios[w] = {}
            for s, m in bysize.items():
                ratios[w][s] = {
                    "rps_ours_over_nginx": ratio(m, "ours", "nginx", "rps"),
                    "rps_ours_over_varnish": ratio(m, "ours", "varnish", "rps"),
                    "p99_ours_over_nginx": ratio(m, "ours", "nginx", "p99_ms"),
                    "p99_ours_over_varnish": ratio(m, "ours", "varnish", "p99_ms"),
                    "p50_ours_over_nginx": ratio(m, "ours", "nginx", "p50_ms"),
                    "p50_ours_over_varnish": ratio(m, "ours", "varnish", "p50_ms"),
                    "rps_ours_disk_over_nginx_disk": ratio(m, "ours-disk", "nginx-disk", "rps"),
                    "p99_ours_disk_over_nginx_disk": ratio(m, "ours-disk", "nginx-disk",
                                                           "p99_ms"),
                    "p50_ours_disk_over_nginx_disk": ratio(m, "ours-disk", "nginx-disk",
                                                           "p50_ms"),
                }
        result = {
            "benchmark": "cache_compare",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(), "cpus": len(all_cpus), "rounds": args.rounds,
            "seconds": args.seconds, "connections": args.connections,
            "sizes": sizes, "workers": workers_list, "contenders": names,
            "ours_cache": args.ours_cache, "pinning": pinning,
            "nginx": {"sendfile": args.nginx_sendfile, "tcp_nopush": args.nginx_tcp_nopush,
                      "open_file_cache": args.nginx_open_file_cache},
            "filesystems": {"shm_dir": f"{args.shm_dir}: {fs_type(args.shm_dir)}",
                            "disk_dir": f"{args.disk_dir}: {fs_type(args.disk_dir)}"},
            "versions": {
                "yatagarasu": version([str(args.binary), "--version"])
                if any(n.startswith("ours") for n in names) else None,
                "nginx": version([nginx_binary(), "-v"]),
                "varnish": version([args.varnishd, "-V"]) if "varnish" in names else None,
                "wrk": version(["wrk", "-v"]),
            },
            "warm": warm, "runs": runs, "median": med, "ratios": ratios,
            "origin_requests_measured": backend,
        }
        table = render(result)
        print("\n" + table)
        write_results(args.out_dir, "cache_compare", result, table)
        return 0
    finally:
        run.stop_all()
        for d in scratch:
            shutil.rmtree(d, ignore_errors=True)
        if args.keep_tmp:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def render(r: dict) -> str:
    names = r["contenders"]
    off = r["ours_cache"] == "off"

    def f(x, fmt="{:.2f}"):
        return "–" if x is None else fmt.format(x)

    head = r["warm"][str(r["workers"][0])]
    first_key = f"obj-{r['sizes'][0]}.bin"
    heads = ", ".join(f"{n} {head[n][first_key]['head_bytes']} B" for n in names)
    lines = [
        f"# Cache hits: yatagarasu vs nginx proxy_cache vs Varnish ({r['date']})",
        "",
        f"{r['cpus']} CPUs (shared by client, contenders and origin); wrk -t<workers> "
        f"-c{r['connections']} -d{r['seconds']}s --latency, {r['rounds']} round(s), contenders "
        "alternating (order rotated each round); medians. Workers = proxy `server.threads`, "
        "nginx `worker_processes`, Varnish `thread_pools`"
        + ("; below the CPU count contenders are pinned to that many CPUs and wrk to the rest."
           if any(v["contenders"] for v in r["pinning"].values()) else "."),
        f"nginx: sendfile {r['nginx']['sendfile']}, tcp_nopush {r['nginx']['tcp_nopush']}, "
        f"open_file_cache {r['nginx']['open_file_cache']}, keep-alive upstream, reuseport; "
        f"tmpfs cache {r['filesystems']['shm_dir']}, disk caches {r['filesystems']['disk_dir']}. "
        f"Varnish: -s malloc,256m, built-in VCL. Response head size: {heads}.",
    ]
    if off:
        lines += ["", "**Our proxy ran with its cache OFF (pass-through to the origin): its "
                      "figures are not cache hits and its ratios are not a cache comparison.**"]
    for group, members in GROUPS.items():
        present = [n for n in members if n in names]
        if not present:
            continue
        lines += ["", f"## {'Memory' if group == 'memory' else 'Disk'} hits", "",
                  "| workers | object | contender | req/s | p50 ms | p99 ms | origin requests |",
                  "|---|---|---|---|---|---|---|"]
        for w in map(str, r["workers"]):
            for s in map(str, r["sizes"]):
                for n in present:
                    m = r["median"][w][s][n]
                    lines.append(f"| {w} | {size_label(int(s))} | {LABEL[n]} | {m['rps']:.0f} | "
                                 f"{m['p50_ms']:.3f} | {m['p99_ms']:.3f} | "
                                 f"{r['origin_requests_measured'][w][s][n]} |")
        if group == "memory" and "ours" in present and len(present) > 1:
            lines += ["", "| workers | object | req/s ours/nginx | req/s ours/varnish | "
                          "p99 ours/nginx | p99 ours/varnish |", "|---|---|---|---|---|---|"]
            for w in map(str, r["workers"]):
                for s in map(str, r["sizes"]):
                    q = r["ratios"][w][s]
                    lines.append(f"| {w} | {size_label(int(s))} | "
                                 f"**{f(q['rps_ours_over_nginx'])}** | "
                                 f"**{f(q['rps_ours_over_varnish'])}** | "
                                 f"{f(q['p99_ours_over_nginx'])} | "
                                 f"{f(q['p99_ours_over_varnish'])} |")
        if group == "disk" and len(present) == 2:
            lines += ["", "| workers | object | req/s ours/nginx | p99 ours/nginx |",
                      "|---|---|---|---|"]
            for w in map(str, r["workers"]):
                for s in map(str, r["sizes"]):
                    q = r["ratios"][w][s]
                    lines.append(f"| {w} | {size_label(int(s))} | "
                                 f"**{f(q['rps_ours_disk_over_nginx_disk'])}** | "
                                 f"{f(q['p99_ours_disk_over_nginx_disk'])} |")
    lines += ["", "req/s ratios > 1 and p99 ratios < 1 favour yatagarasu. \"origin requests\": "
                  "lines in the origin's access log during that contender's measured runs "
                  "(0 = every request was a hit)."]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
