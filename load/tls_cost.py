#!/usr/bin/env python3
"""What the TLS listener (server.tls, docs/TLS.md) costs: memory-cache hits over plain HTTP vs
HTTPS, in one run.

One Debian nginx is the origin (files in /<bucket>/<key> layout, signatures ignored). Two
proxies run side by side with the same config (server.threads, a 256 MiB memory cache), one
plain and one with server.tls (a self-signed P-256 certificate made by `openssl req` for this
run; TLS 1.3 is what wrk negotiates). Every object is fetched through both until it is a hit
(X-Cache: HIT) and its SHA-256 checked, then for each round, object size and mode (the order
alternates between rounds) `wrk -c<connections>` runs for --seconds:

  keep-alive     hits on reused connections: the cost of encrypting the bytes
  new-conn       `Connection: close` on every request: a TCP (+TLS) handshake per request
                 (1 KiB only), the cost of the handshake

and the medians of req/s and MB/s are reported with the ratio tls/plain. Traffic stays on
127.0.0.1; the script stops by itself and stops what it started by PID, also on error or
Ctrl-C.

  python3 load/tls_cost.py                 # 5 rounds x 5 s
  python3 load/tls_cost.py --quick         # 1 round x 2 s

Writes load/results/tls_cost_<timestamp>.md and .json.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import ssl
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
import yg_procs  # noqa: E402
from yg_load import (Run, cached_proxy_yaml, parse_wrk_args, raise_on_sigterm,  # noqa: E402
                     start_origin, wrk, write_results)

BUCKET = "bench-bucket"
SIZES = {"1KiB": 1024, "1MiB": 1 << 20}
CACHE_YAML = """cache:
  enabled: true
  cache_layers: [memory]
  memory: {max_cache_size_mb: 256, max_item_size_mb: 10, default_ttl_seconds: 3600}
"""


def make_cert(tmp: Path) -> tuple:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def proxy_yaml(port: int, threads: int, origin_port: int, tls: tuple | None,
               metrics_port: int) -> str:
    text = cached_proxy_yaml(port, threads, CACHE_YAML, origin_port, BUCKET)
    text += f"metrics:\n  enabled: true\n  port: {metrics_port}\n"
    if tls is not None:
        text = text.replace("  threads:", f"  tls:\n    cert_path: \"{tls[0]}\"\n"
                                          f"    key_path: \"{tls[1]}\"\n  threads:", 1)
    return text


def fetch(url: str, ctx) -> tuple:
    with urllib.request.urlopen(url, timeout=30, context=ctx) as r:
        return r.headers.get("X-Cache"), r.read()


def warm(base: str, ctx, objects: dict) -> None:
    for name, data in objects.items():
        want = hashlib.sha256(data).hexdigest()
        url = f"{base}/bench/{name}"
        for _ in range(50):
            xc, body = fetch(url, ctx)
            if hashlib.sha256(body).hexdigest() != want:
                raise RuntimeError(f"{url}: wrong bytes")
            if xc == "HIT":
                break
        else:
            raise RuntimeError(f"{url}: never a cache hit")


def main(argv=None) -> int:
    def more(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--threads", type=int, default=1, help="proxy server.threads")

    args = parse_wrk_args(__doc__, argv, more)
    raise_on_sigterm()
    run = Run()
    tmp = Path(tempfile.mkdtemp(prefix="yg-tls-cost-"))
    os.chmod(tmp, 0o755)
    objects = {f"obj-{name}.bin": os.urandom(size) for name, size in SIZES.items()}
    results: dict = {}
    try:
        origin = start_origin(run, tmp, {f"{BUCKET}/{k}": v for k, v in objects.items()})
        cert, key = make_cert(tmp)
        bases = {}
        for mode in ("plain", "tls"):
            port, mport = yg_procs.free_port(), yg_procs.free_port()
            cfg = tmp / f"{mode}.yaml"
            cfg.write_text(proxy_yaml(port, args.threads, origin,
                                      (cert, key) if mode == "tls" else None, mport))
            p = run.start(f"yatagarasu-{mode}", [str(args.binary), "--config", str(cfg)],
                          tmp / f"{mode}.log")
            yg_procs.wait_http_ok(f"http://127.0.0.1:{mport}/health", proc=p,
                                  what=f"yatagarasu ({mode})", log=tmp / f"{mode}.log")
            bases[mode] = f"{'https' if mode == 'tls' else 'http'}://127.0.0.1:{port}"
        ctx = ssl.create_default_context(cafile=str(cert))
        for mode, base in bases.items():
            warm(base, ctx if mode == "tls" else None, objects)

        cases = [(name, "keep-alive") for name in SIZES] + [("1KiB", "new-conn")]
        samples = {(n, kind, mode): [] for n, kind in cases for mode in bases}
        for r in range(args.rounds):
            order = ["plain", "tls"] if r % 2 == 0 else ["tls", "plain"]
            for name, kind in cases:
                for mode in order:
                    extra = ["-H", "Connection: close"] if kind == "new-conn" else []
                    res = wrk(f"{bases[mode]}/bench/obj-{name}.bin", args.seconds,
                              args.connections, extra)
                    samples[(name, kind, mode)].append(res["rps"])
                    print(f"round {r + 1} {name:5} {kind:10} {mode:5} {res['rps']:10.0f} req/s",
                          flush=True)

        lines = ["# TLS listener cost: memory-cache hits, plain HTTP vs HTTPS", "",
                 f"{platform.node()}, {os.cpu_count()} CPUs, proxy threads {args.threads}, "
                 f"wrk -t1 -c{args.connections}, {args.rounds} rounds x {args.seconds} s "
                 "(medians), modes alternating; TLS 1.3 (wrk's choice), P-256 certificate.", "",
                 "| object | connections | plain req/s | TLS req/s | plain MB/s | TLS MB/s "
                 "| TLS / plain |", "|---|---|---|---|---|---|---|"]
        for name, kind in cases:
            plain = statistics.median(samples[(name, kind, "plain")])
            tls = statistics.median(samples[(name, kind, "tls")])
            size = SIZES[name]
            results[f"{name} {kind}"] = {"plain_rps": plain, "tls_rps": tls,
                                         "ratio": tls / plain if plain else 0,
                                         "samples": {m: samples[(name, kind, m)]
                                                     for m in bases}}
            lines.append(f"| {name} | {kind} | {plain:.0f} | {tls:.0f} | "
                         f"{plain * size / 1e6:.1f} | {tls * size / 1e6:.1f} | "
                         f"{tls / plain:.2f} |")
        table = "\n".join(lines)
        print(table)
        write_results(args.out_dir, "tls_cost", results, table)
        return 0
    finally:
        run.stop_all()


if __name__ == "__main__":
    sys.exit(main())
