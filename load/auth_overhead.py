#!/usr/bin/env python3
"""What JWT verification costs per request, measured side by side in one run (wrk).

One nginx serves a 1 KiB object as a signature-ignoring S3 origin; one proxy (1 worker) mounts it
four times: /open (public), /hs256, /rs256, /es256 (each `auth.enabled` with its own `auth.jwt`).
Tokens are minted by PyJWT with keys generated for the run. wrk (1 thread, 32 connections,
--latency, the token in an Authorization header) hits each prefix in turn, rounds alternating;
medians are reported as ratios to /open. Writes load/results/auth_<timestamp>.md and .json.

  python3 load/auth_overhead.py            # 5 rounds x 5 s per prefix
  python3 load/auth_overhead.py --quick    # 1 round x 2 s
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
import time
from pathlib import Path

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "load"))
import yg_procs  # noqa: E402
from observability_cost import BUCKET, KEY, parse_wrk_args, start_small_origin, wrk  # noqa: E402
from yg_load import Run  # noqa: E402

VARIANTS = ("open", "hs256", "rs256", "es256")


def pem(priv) -> str:
    return priv.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def main(argv=None) -> int:
    args = parse_wrk_args(__doc__, argv)
    rounds, seconds = args.rounds, args.seconds
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="yg-auth-cost-"))
    tmp.chmod(0o755)
    run = Run()
    try:
        origin = start_small_origin(run, tmp, nginx)

        secret = os.urandom(32).hex()
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        (tmp / "rsa.pem").write_text(pem(rsa_key))
        (tmp / "ec.pem").write_text(pem(ec_key))
        claims = {"sub": "bench", "exp": int(time.time()) + 3600}
        tokens = {"open": None,
                  "hs256": pyjwt.encode(claims, secret, algorithm="HS256"),
                  "rs256": pyjwt.encode(claims, rsa_key, algorithm="RS256"),
                  "es256": pyjwt.encode(claims, ec_key, algorithm="ES256")}
        auth = {"open": "",
                "hs256": f'    auth: {{enabled: true, jwt: {{algorithm: HS256, secret: "{secret}"}}}}\n',
                "rs256": f'    auth: {{enabled: true, jwt: {{algorithm: RS256, rsa_public_key_path: "{tmp / "rsa.pem"}"}}}}\n',
                "es256": f'    auth: {{enabled: true, jwt: {{algorithm: ES256, ecdsa_public_key_path: "{tmp / "ec.pem"}"}}}}\n'}
        port = yg_procs.free_port()
        buckets = "".join(f"""  - name: "{v}"
    path_prefix: "/{v}"
    s3: {{bucket: "{BUCKET}", region: us-east-1, endpoint: "http://127.0.0.1:{origin}",
          access_key: AKIABENCHNGINX000000, secret_key: nginx-ignores-signatures}}
{auth[v]}""" for v in VARIANTS)
        (tmp / "proxy.yaml").write_text(f"""server: {{address: "127.0.0.1", port: {port}, threads: 1}}
logging: {{level: warn, format: json}}
buckets:
{buckets}""")
        px = run.start("yatagarasu", [str(args.binary), "--config", str(tmp / "proxy.yaml")],
                       tmp / "proxy.log")
        yg_procs.wait_http_ok(f"http://127.0.0.1:{port}/health", proc=px, what="yatagarasu",
                              log=tmp / "proxy.log")

        def hit(v, secs):
            hdr = [] if tokens[v] is None else ["-H", f"Authorization: Bearer {tokens[v]}"]
            return wrk(f"http://127.0.0.1:{port}/{v}/{KEY}", secs, args.connections, hdr)

        for v in VARIANTS:
            hit(v, 1)
        res = {v: [] for v in VARIANTS}
        for i in range(rounds):
            for v in VARIANTS:
                r = hit(v, seconds)
                res[v].append(r)
                print(f"round {i + 1}/{rounds} {v:6s} {r['rps']:9.0f} req/s  p50 "
                      f"{r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms", flush=True)
        med = {v: {k: statistics.median(x[k] for x in res[v]) for k in ("rps", "p50_ms",
                                                                          "p99_ms")}
               for v in VARIANTS}
        result = {
            "benchmark": "auth_overhead",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(), "rounds": rounds, "seconds": seconds,
            "connections": args.connections, "runs": res, "median": med,
            "ratios_rps_over_open": {v: med[v]["rps"] / med["open"]["rps"] for v in VARIANTS},
            "extra_us_per_request": {
                v: (1e6 / med[v]["rps"] - 1e6 / med["open"]["rps"]) for v in VARIANTS},
        }
        lines = [f"# JWT overhead ({result['date']})", "",
                 f"{result['cpus']} CPUs (shared), proxy threads 1, 1 KiB object from nginx, "
                 f"wrk -t1 -c{args.connections} -d{seconds}s, {rounds} alternating round(s); "
                 "medians.", "",
                 "| prefix | req/s | p50 ms | p99 ms | req/s vs /open | extra CPU-time per request |",
                 "|---|---|---|---|---|---|"]
        for v in VARIANTS:
            lines.append(f"| /{v} | {med[v]['rps']:.0f} | {med[v]['p50_ms']:.3f} | "
                         f"{med[v]['p99_ms']:.3f} | {result['ratios_rps_over_open'][v]:.3f} | "
                         f"{result['extra_us_per_request'][v]:.1f} µs |")
        table = "\n".join(lines)
        print("\n" + table)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        (args.out_dir / f"auth_{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out_dir / f"auth_{stamp}.md").write_text(table + "\n")
        print(f"wrote {args.out_dir}/auth_{stamp}.md and .json")
        return 0
    finally:
        run.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
