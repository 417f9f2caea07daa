#!/usr/bin/env python3
"""Large-object streaming throughput: the proxy vs. its origin, side by side in one run.

Starts Debian's nginx (generated nginx.conf in a temp dir) as a fast S3-like origin that
serves files in /<bucket>/<key> layout and ignores signatures, writes one big object
(1 GiB; 256 MiB with --quick), starts build/yatagarasu with that nginx as its S3 endpoint,
then downloads the object with curl alternately straight from nginx and through the proxy
(--reps times each; median reported) while sampling the proxy's VmRSS/VmHWM.

Writes load/results/stream_<timestamp>.md and .json. Targets: proxy/direct >= 0.9,
proxy peak RSS < 100 MiB. Everything started is stopped by PID, also on error or Ctrl-C.

  python3 load/stream_throughput.py            # 1 GiB, 3 repetitions
  python3 load/stream_throughput.py --quick    # 256 MiB, 1 repetition (CI)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
import yg_data  # noqa: E402
import yg_procs  # noqa: E402
from yg_load import NGINX_CONF, Run, origin_conf  # noqa: E402,F401 (re-exported)

MiB = yg_data.MiB
BUCKET, KEY = "bench-bucket", "big.bin"
TARGET_RATIO = 0.9
TARGET_RSS = 100 * MiB

# The same kind of hop done by nginx itself (PERF-3 baseline): a second nginx instance that
# streams from the origin without buffering to disk, over a keep-alive upstream.
NGINX_PROXY_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx-proxy.pid;
error_log {tmp}/nginx-proxy-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/pbody;
    proxy_temp_path {tmp}/pproxy;
    fastcgi_temp_path {tmp}/pfastcgi;
    uwsgi_temp_path {tmp}/puwsgi;
    scgi_temp_path {tmp}/pscgi;
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_buffer_size 256k;
            proxy_buffers 4 256k;
            proxy_busy_buffers_size 256k;
        }}
    }}
}}
"""


def write_object(path: Path, size: int, seed: int = 4242) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for c in yg_data.chunks(size, seed):
            f.write(c)


def curl_speed(url: str, size: int, timeout: int) -> dict:
    out = subprocess.run(
        ["curl", "-sS", "--max-time", str(timeout), "-o", "/dev/null", "-w",
         "%{http_code} %{size_download} %{speed_download} %{time_total} %{time_starttransfer}",
         url], capture_output=True, text=True, timeout=timeout + 10)
    if out.returncode != 0:
        raise RuntimeError(f"curl {url} failed: {out.stderr.strip()}")
    code, got, speed, total, ttfb = out.stdout.split()
    if code != "200" or int(got) != size:
        raise RuntimeError(f"curl {url}: status {code}, {got} of {size} bytes")
    return {"bytes_per_s": float(speed), "seconds": float(total), "ttfb": float(ttfb)}


class RssSampler(threading.Thread):
    def __init__(self, pid: int, period: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.max_rss = 0
        self.hwm = 0
        self.stop_flag = threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                s = yg_procs.vm_status(self.pid)
            except OSError:
                return
            self.max_rss = max(self.max_rss, s["VmRSS"])
            self.hwm = max(self.hwm, s["VmHWM"])
            self.stop_flag.wait(self.period)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="256 MiB, 1 repetition (CI)")
    ap.add_argument("--size-mib", type=int, help="object size in MiB (default 1024, quick 256)")
    ap.add_argument("--reps", type=int, help="repetitions per side (default 3, quick 1)")
    ap.add_argument("--threads", type=int, default=2, help="proxy server.threads (default 2)")
    ap.add_argument("--nginx-workers", type=int, default=1)
    ap.add_argument("--binary", type=Path, default=Path(os.environ.get(
        "YG_BINARY", REPO / "build" / "yatagarasu")))
    ap.add_argument("--out-dir", type=Path, default=REPO / "load" / "results")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args(argv)

    size = (args.size_mib or (256 if args.quick else 1024)) * MiB
    reps = args.reps or (1 if args.quick else 3)
    if not os.access(args.binary, os.X_OK):
        print(f"no proxy binary at {args.binary} (make build, or --binary)", file=sys.stderr)
        return 2
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK) or not shutil.which("curl"):
        print("needs nginx and curl: scripts/install-deps.sh", file=sys.stderr)
        return 2

    # SIGTERM (e.g. from CI) unwinds through the finally below like Ctrl-C does.
    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="yg-stream-"))
    tmp.chmod(0o755)  # nginx workers drop root (to nobody) and must read www/
    run = Run()
    try:
        obj = tmp / "www" / BUCKET / KEY
        print(f"writing {size // MiB} MiB test object ...", flush=True)
        write_object(obj, size)
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp / d).mkdir()
            (tmp / ("p" + d)).mkdir()

        nginx_port = yg_procs.free_port()
        (tmp / "nginx.conf").write_text(origin_conf(tmp, nginx_port, args.nginx_workers))
        ng = run.start("nginx", [nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e",
                                 str(tmp / "nginx-error.log")], tmp / "nginx.out")
        yg_procs.wait_port(nginx_port, proc=ng, what="nginx", log=tmp / "nginx-error.log")

        ngp_port = yg_procs.free_port()
        (tmp / "nginx-proxy.conf").write_text(NGINX_PROXY_CONF.format(
            tmp=tmp, port=ngp_port, origin=nginx_port))
        ngp = run.start("nginx-proxy", [nginx, "-p", str(tmp), "-c", str(tmp / "nginx-proxy.conf"),
                                        "-e", str(tmp / "nginx-proxy-error.log")],
                        tmp / "nginx-proxy.out")
        yg_procs.wait_port(ngp_port, proc=ngp, what="nginx proxy",
                           log=tmp / "nginx-proxy-error.log")

        proxy_port = yg_procs.free_port()
        (tmp / "proxy.yaml").write_text(f"""\
server:
  address: "127.0.0.1"
  port: {proxy_port}
  threads: {args.threads}
  request_timeout: 600
logging:
  level: warn
  format: json
buckets:
  - name: "bench"
    path_prefix: "/bench"
    s3:
      bucket: "{BUCKET}"
      region: "us-east-1"
      endpoint: "http://127.0.0.1:{nginx_port}"
      access_key: "AKIABENCHNGINX000000"
      secret_key: "nginx-ignores-signatures"
      timeout: 30
""")
        px = run.start("yatagarasu", [str(args.binary), "--config", str(tmp / "proxy.yaml")],
                       tmp / "proxy.log")
        yg_procs.wait_http_ok(f"http://127.0.0.1:{proxy_port}/health", proc=px,
                              what="yatagarasu", log=tmp / "proxy.log")
        idle = yg_procs.vm_status(px.pid)

        direct_url = f"http://127.0.0.1:{nginx_port}/{BUCKET}/{KEY}"
        proxy_url = f"http://127.0.0.1:{proxy_port}/bench/{KEY}"
        ngp_url = f"http://127.0.0.1:{ngp_port}/{BUCKET}/{KEY}"
        timeout = max(120, size // MiB)
        # Warm the page cache and both connection paths once, unmeasured.
        curl_speed(direct_url, size, timeout)
        curl_speed(proxy_url, size, timeout)
        curl_speed(ngp_url, size, timeout)

        sampler = RssSampler(px.pid)
        sampler.start()
        direct, proxied, ngproxied = [], [], []
        for i in range(reps):
            print(f"rep {i + 1}/{reps}: direct ...", end="", flush=True)
            direct.append(curl_speed(direct_url, size, timeout))
            print(f" {direct[-1]['bytes_per_s'] / MiB:.0f} MiB/s; proxy ...", end="", flush=True)
            proxied.append(curl_speed(proxy_url, size, timeout))
            print(f" {proxied[-1]['bytes_per_s'] / MiB:.0f} MiB/s; nginx proxy ...", end="",
                  flush=True)
            ngproxied.append(curl_speed(ngp_url, size, timeout))
            print(f" {ngproxied[-1]['bytes_per_s'] / MiB:.0f} MiB/s", flush=True)
        sampler.stop_flag.set()
        sampler.join()
        final = yg_procs.vm_status(px.pid)
        peak = max(final["VmHWM"], sampler.hwm)

        d_med = statistics.median(r["bytes_per_s"] for r in direct)
        p_med = statistics.median(r["bytes_per_s"] for r in proxied)
        n_med = statistics.median(r["bytes_per_s"] for r in ngproxied)
        ratio = p_med / d_med if d_med else 0.0
        result = {
            "benchmark": "stream_throughput",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "object_bytes": size, "repetitions": reps, "proxy_threads": args.threads,
            "nginx_workers": args.nginx_workers, "cpus": os.cpu_count(),
            "host": platform.node(), "client": "curl -o /dev/null",
            "direct_MiB_s": [r["bytes_per_s"] / MiB for r in direct],
            "proxy_MiB_s": [r["bytes_per_s"] / MiB for r in proxied],
            "direct_median_MiB_s": d_med / MiB, "proxy_median_MiB_s": p_med / MiB,
            "ratio_proxy_over_direct": ratio, "target_ratio": TARGET_RATIO,
            "nginx_proxy_MiB_s": [r["bytes_per_s"] / MiB for r in ngproxied],
            "nginx_proxy_median_MiB_s": n_med / MiB,
            "ratio_nginx_proxy_over_direct": n_med / d_med if d_med else 0.0,
            "ratio_proxy_over_nginx_proxy": p_med / n_med if n_med else 0.0,
            "proxy_idle_rss_MiB": idle["VmRSS"] / MiB,
            "proxy_peak_rss_MiB": peak / MiB, "proxy_max_sampled_rss_MiB": sampler.max_rss / MiB,
            "target_peak_rss_MiB": TARGET_RSS / MiB,
            "ratio_ok": ratio >= TARGET_RATIO, "rss_ok": peak < TARGET_RSS,
        }
        table = render(result)
        print("\n" + table)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        (args.out_dir / f"stream_{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out_dir / f"stream_{stamp}.md").write_text(table + "\n")
        print(f"wrote {args.out_dir}/stream_{stamp}.md and .json")
        if args.strict and not (result["ratio_ok"] and result["rss_ok"]):
            return 1
        return 0
    finally:
        run.stop_all()
        if args.keep_tmp:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def render(r: dict) -> str:
    def mark(ok):
        return "ok" if ok else "MISSED"

    lines = [
        f"# Streaming throughput, {r['object_bytes'] // MiB} MiB object ({r['date']})",
        "",
        f"{r['cpus']} CPUs, proxy threads {r['proxy_threads']}, nginx workers "
        f"{r['nginx_workers']}, client `{r['client']}`, {r['repetitions']} repetition(s) per side, "
        "alternating; median reported. Origin: Debian nginx serving the file (sendfile on).",
        "",
        "| path | runs (MiB/s) | median (MiB/s) |",
        "|---|---|---|",
        f"| direct (nginx) | {', '.join(f'{x:.0f}' for x in r['direct_MiB_s'])} | "
        f"{r['direct_median_MiB_s']:.0f} |",
        f"| through yatagarasu | {', '.join(f'{x:.0f}' for x in r['proxy_MiB_s'])} | "
        f"{r['proxy_median_MiB_s']:.0f} |",
        f"| through nginx proxy_pass (baseline) | "
        f"{', '.join(f'{x:.0f}' for x in r['nginx_proxy_MiB_s'])} | "
        f"{r['nginx_proxy_median_MiB_s']:.0f} |",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        f"| proxy / direct | {r['ratio_proxy_over_direct']:.3f} | >= {r['target_ratio']} | "
        f"{mark(r['ratio_ok'])} |",
        f"| nginx proxy / direct | {r['ratio_nginx_proxy_over_direct']:.3f} | | |",
        f"| yatagarasu / nginx proxy | {r['ratio_proxy_over_nginx_proxy']:.3f} | | |",
        f"| proxy peak RSS (VmHWM) | {r['proxy_peak_rss_MiB']:.1f} MiB | < "
        f"{r['target_peak_rss_MiB']:.0f} MiB | {mark(r['rss_ok'])} |",
        f"| proxy RSS at idle | {r['proxy_idle_rss_MiB']:.1f} MiB | | |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
