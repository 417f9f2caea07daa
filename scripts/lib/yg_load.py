"""Helpers shared by the load scripts under load/: the process set they start and stop by PID,
the nginx origin (an S3 stand-in that serves files in /<bucket>/<key> layout and ignores
signatures), wrk runs and their parsing, and writing results.

    from yg_load import Run, start_origin, wrk, write_results
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Sequence

import yg_procs

REPO = Path(__file__).resolve().parents[2]

# The origin nginx. `access_log` is a full directive argument: "off" or "<path>".
NGINX_CONF = """\
worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {access_log};
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
        location / {{ }}
    }}
}}
"""


def origin_conf(tmp: Path, port: int, workers: int = 1, access_log: str = "off") -> str:
    return NGINX_CONF.format(tmp=tmp, port=port, workers=workers, access_log=access_log)


def cached_proxy_yaml(port: int, threads: int, cache_yaml: str, origin_port: int,
                      s3_bucket: str) -> str:
    """A whole proxy config for the cache benchmarks: quiet JSON logs, no access log,
    `cache_yaml` (a `cache:` block, or ""), and the origin bucket."""
    return f"""server:
  address: "127.0.0.1"
  port: {port}
  threads: {threads}
logging:
  level: warn
  format: json
  access_log: false
{cache_yaml}{origin_bucket_yaml(origin_port, s3_bucket)}"""


def origin_bucket_yaml(origin_port: int, s3_bucket: str) -> str:
    """The `buckets:` block of a proxy config whose one bucket, /bench, is the nginx origin
    (which ignores SigV4: the keys are placeholders)."""
    return f"""buckets:
  - name: "bench"
    path_prefix: "/bench"
    s3:
      bucket: "{s3_bucket}"
      region: "us-east-1"
      endpoint: "http://127.0.0.1:{origin_port}"
      access_key: "AKIABENCHNGINX000000"
      secret_key: "nginx-ignores-signatures"
      timeout: 30
"""


def nginx_binary() -> str:
    import shutil
    return shutil.which("nginx") or "/usr/sbin/nginx"


class Run:
    """Everything a script starts, stopped by PID in reverse order (also on error/Ctrl-C).

    `stop_sig` defaults to SIGQUIT (nginx's graceful stop) for the process named "nginx" and
    SIGTERM for everything else (the proxy drains on it). `cpus`: CPU ids the process (and
    its threads and children) may run on (sched_setaffinity before exec)."""

    def __init__(self):
        self.procs: list = []

    def start(self, name, cmd, log: Path, cwd=None, stop_sig: Optional[int] = None,
              cpus: Optional[Iterable[int]] = None) -> subprocess.Popen:
        cpu_set = set(cpus) if cpus else None

        def pre():
            yg_procs.die_with_parent()
            if cpu_set:
                os.sched_setaffinity(0, cpu_set)

        with open(log, "ab") as f:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 cwd=cwd, start_new_session=True, preexec_fn=pre)
        if stop_sig is None:
            stop_sig = signal.SIGQUIT if name == "nginx" else signal.SIGTERM
        self.procs.append((name, p, stop_sig))
        return p

    def stop(self, p: subprocess.Popen) -> None:
        """Stops one process this Run started and forgets it."""
        for i, (_, q, sig) in enumerate(self.procs):
            if q is p:
                yg_procs.stop_pid(q, timeout=10, sig=sig)
                del self.procs[i]
                return

    def stop_all(self):
        for _, p, sig in reversed(self.procs):
            yg_procs.stop_pid(p, timeout=10, sig=sig)
        self.procs.clear()


def make_temp_dirs(tmp: Path, prefix: str = "") -> None:
    """The temp directories an nginx config from here names ({prefix}body, {prefix}proxy...)."""
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / (prefix + d)).mkdir(exist_ok=True)


def start_origin(run: Run, tmp: Path, objects: Dict[str, bytes], workers: int = 1,
                 access_log: str = "off", nginx: Optional[str] = None) -> int:
    """Debian nginx serving `objects` ({"<bucket>/<key>": bytes}) from tmp/www; returns its
    port. `tmp` must be readable by nginx's workers (they drop root: chmod 0755)."""
    for rel, data in objects.items():
        path = tmp / "www" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    make_temp_dirs(tmp)
    port = yg_procs.free_port()
    (tmp / "nginx.conf").write_text(origin_conf(tmp, port, workers, access_log))
    ng = run.start("nginx", [nginx or nginx_binary(), "-p", str(tmp), "-c", str(tmp / "nginx.conf"),
                             "-e", str(tmp / "nginx-error.log")], tmp / "nginx.out")
    yg_procs.wait_port(port, proc=ng, what="nginx", log=tmp / "nginx-error.log")
    return port


def parse_wrk_args(doc: str, argv=None,
                   add_args: Optional[Callable[[argparse.ArgumentParser], None]] = None
                   ) -> argparse.Namespace:
    """The command line the wrk-based load scripts share (--quick, --rounds, --seconds,
    --connections, --binary, --out-dir); fills rounds/seconds defaults (quick: 1 x 2 s, else
    5 x 5 s). `add_args` adds a script's own options to the parser."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round x 2 s (CI smoke)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--binary", type=Path, default=Path(os.environ.get(
        "YG_BINARY", REPO / "build" / "yatagarasu")))
    ap.add_argument("--out-dir", type=Path, default=REPO / "load" / "results")
    if add_args:
        add_args(ap)
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 5)
    args.seconds = args.seconds or (2 if args.quick else 5)
    return args


WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_LAT = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
WRK_TOTAL = re.compile(r"^\s*(\d+) requests in", re.M)


def parse_wrk(text: str) -> dict:
    """req/s, requests and the --latency percentiles (ms) of one wrk run's stdout."""
    lat = {}
    for q, v, unit in WRK_LAT.findall(text):
        lat[q] = float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    rps = WRK_RPS.search(text)
    if rps is None or "50" not in lat or "99" not in lat:
        raise ValueError(f"unparsable wrk output:\n{text}")
    total = WRK_TOTAL.search(text)
    return {"rps": float(rps.group(1)), "p50_ms": lat["50"], "p99_ms": lat["99"],
            "requests": int(total.group(1)) if total else 0}


WRK_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def parse_wrk_errors(text: str) -> dict:
    """wrk's error lines: {connect, read, write, timeout, non2xx} (0 when wrk printed none)."""
    out = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx": 0}
    m = WRK_SOCKET_ERRORS.search(text)
    if m:
        out.update(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    m = WRK_NON2XX.search(text)
    if m:
        out["non2xx"] = int(m.group(1))
    return out


def wrk(url: str, seconds: int, conns: int, extra: Sequence[str] = (), threads: int = 1,
        cpus: Optional[Iterable[int]] = None, check: bool = True) -> dict:
    """One `wrk -t<threads> -c<conns> -d<seconds>s --latency` run; raises on non-2xx answers
    or socket errors (check=False: returns them under "errors" instead). `cpus`: pin wrk to
    these CPU ids."""
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", *extra, url]
    cpu_set = set(cpus) if cpus else None
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cpu_set)) if cpu_set else None)
    if check and (out.returncode != 0 or "Non-2xx" in out.stdout
                  or "Socket errors" in out.stdout):
        raise RuntimeError(f"wrk {url}:\n{out.stdout}\n{out.stderr}")
    if out.returncode != 0:
        raise RuntimeError(f"wrk {url} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    res = parse_wrk(out.stdout)
    res["errors"] = parse_wrk_errors(out.stdout)
    return res


def raise_on_sigterm() -> None:
    """SIGTERM (e.g. from CI) unwinds through the caller's finally like Ctrl-C does."""

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


def write_results(out_dir: Path, name: str, result: dict, table: str) -> Path:
    """load/results/<name>_<timestamp>.md + .json; returns the .md path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out_dir / f"{name}_{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    md = out_dir / f"{name}_{stamp}.md"
    md.write_text(table + "\n")
    print(f"wrote {md} and .json")
    return md


class LineCounter:
    """Counts lines appended to a file (e.g. an origin's access log = backend requests) since
    the last advance()."""

    def __init__(self, path: Path):
        self.path, self.offset = Path(path), 0

    def _read(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        self.offset += len(data)
        return data.count(b"\n")

    def advance(self, settle: float = 0.2) -> int:
        """Lines since the last call, once the file has not grown for `settle` s: requests
        still in flight when a load run stopped are logged when they finish, and belong to the
        run that sent them, not to the next one."""
        n = self._read()
        while True:
            time.sleep(settle)
            more = self._read()
            if not more:
                return n
            n += more


def memory_cache_yaml(size_mb: int = 64, item_mb: int = 1, ttl_s: int = 3600) -> str:
    """A `cache:` block with the memory layer only (for cached_proxy_yaml)."""
    return f"""cache:
  enabled: true
  cache_layers: [memory]
  memory:
    max_cache_size_mb: {size_mb}
    max_item_size_mb: {item_mb}
    default_ttl_seconds: {ttl_s}
"""
