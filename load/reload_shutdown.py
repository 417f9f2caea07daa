#!/usr/bin/env python3
"""Reload and shutdown under load (issue #9; docs/OPERATIONS.md "Hot reload", "Graceful
shutdown"), against moto (SigV4 on) and, for slow streams, the FAKE fault server (trickle).

  reload    a constant-rate client (tests/support/rate_client.py: fresh connection per request,
            every body's SHA-256 checked) plus vegeta on keep-alive connections that live across
            the reloads (status and size checked), while the file is reloaded K times
            alternating SIGHUP and POST /admin/reload (no global jwt: the admin API is open, as
            in tests/integration/test_operations.py). Each reload switches the bucket's S3
            credentials between two valid keys of moto's IAM user and adds or removes a second
            bucket (/extra answers 200 or 404: checked after every reload); a few invalid files
            in between must be refused (POST: 422; SIGHUP: the failure counter). Reported:
            failed requests (target 0), reload durations (POST round trip; SIGHUP until
            /metrics shows the new generation), p50/p99 of the requests that overlapped a
            reload vs the others; verified: yatagarasu_config_generation rose by exactly the
            successful reloads and yatagarasu_config_reloads_total{result} by both counts.
  shutdown  N requests in flight (70 % trickled streams of ~3 s from the fault server, 30 %
            moto objects of 16 KiB..4 MiB whose clients read slowly and only after the
            signal), then SIGTERM: every request must complete with its exact bytes, new
            connections must be refused (probed every 50 ms until the exit), exit status 0;
            reported: time to the last response and to the exit.

  load/reload_shutdown.py            # K=50 reloads at 100 req/s, N=500 in flight (~1.5 min)
  load/reload_shutdown.py --quick    # K=10 at 60 req/s, N=100 (< 90 s)

Writes load/results/reload_shutdown_<stamp>.md/.json and two plots: _reload.png (per-second
p50/p99 and requests with a line per reload, invalid ones labelled) and _shutdown.png
(requests in flight / completed and refused probes over time, SIGTERM marked).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import random
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "tests" / "support"))
import yg_moto  # noqa: E402
from yg_campaign import (Campaign, delta, fmt_table, percentile, scrape, total,  # noqa: E402
                         vegeta_attack)
from fault_server import FaultServer  # noqa: E402
from held_request import held_get  # noqa: E402
from rate_client import ConstantLoad  # noqa: E402

BUCKET = "reload-bucket"
H = "127.0.0.1"


def add_args(ap):
    ap.add_argument("--reloads", type=int, help="K (default 50, quick 10)")
    ap.add_argument("--inflight", type=int, help="N (default 500, quick 100)")
    ap.add_argument("--rate", type=float, help="byte-checked client req/s (default 100, "
                    "quick 60); vegeta adds a third of it on keep-alive connections")


def second_key(moto) -> tuple:
    import boto3
    iam = boto3.client("iam", endpoint_url=moto.url, region_name="us-east-1",
                       aws_access_key_id=moto.access_key, aws_secret_access_key=moto.secret_key)
    k = iam.create_access_key(UserName=yg_moto.IAM_USER)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def bucket_yaml(name: str, prefix: str, moto, key: tuple, timeout: int = 10) -> str:
    return (f"  - name: {name}\n    path_prefix: {prefix}\n    s3:\n"
            f"      bucket: {BUCKET}\n      region: us-east-1\n      endpoint: '{moto.url}'\n"
            f"      access_key: '{key[0]}'\n      secret_key: '{key[1]}'\n"
            f"      timeout: {timeout}\n")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def get(port: int, target: str) -> tuple:
    conn = http.client.HTTPConnection(H, port, timeout=10)
    try:
        conn.request("GET", target)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# reload under load


def reload_part(c: Campaign, moto, keys: List[tuple], bodies: Dict[str, bytes]) -> dict:
    a = c.args
    K = a.reloads or (10 if a.quick else 50)
    rate = a.rate or (60.0 if a.quick else 100.0)
    n_invalid = 2 if K <= 20 else 5
    step = K // n_invalid
    invalid_at = set(range(step // 2, K, step))
    pre_post = 2.0 if a.quick else 5.0
    gap = 0.4

    def doc(i: int, port: int) -> str:
        text = (f"server: {{address: 127.0.0.1, port: {port}, threads: 2, "
                "request_timeout: 30}\nlogging: {level: warn, format: json, access_log: false}\n"
                "buckets:\n" + bucket_yaml("stable", "/stable", moto, keys[i % 2]))
        if i % 2 == 1:
            text += bucket_yaml("extra", "/extra", moto, keys[0])
        return text

    px = c.start_proxy("reload", lambda port: doc(0, port))
    port = px.port
    m0 = scrape(port)
    g0 = total(m0, "yatagarasu_config_generation")
    load = ConstantLoad(port, {"/stable/" + k: b for k, b in bodies.items()}, rate=rate,
                        timeout=30)
    veg: dict = {}
    v_rate = max(10, int(rate / 3))
    v_secs = pre_post * 2 + K * gap + 3

    def vegeta_thread():
        veg["rows"] = vegeta_attack([px.url("/stable/hello.txt")], v_rate, v_secs, workers=8)

    vt = threading.Thread(target=vegeta_thread, daemon=True)
    load.start()
    vt.start()
    reloads: List[dict] = []
    applied_errors: List[str] = []
    ok = 0
    time.sleep(pre_post)
    for i in range(1, K + 1):
        next_at = time.monotonic() + gap
        via = "SIGHUP" if i % 2 == 1 else "POST"
        if i in invalid_at:
            write_atomic(px.config, "buckets: [ {{{ not yaml\n")
            fail0 = total(scrape(port), "yatagarasu_config_reloads_total", result="failure")
            t0 = time.monotonic()
            if via == "POST":
                status, body = post_reload(port)
                refused = status == 422 and body["generation"] == g0 + ok
            else:
                px.proc.send_signal(signal.SIGHUP)
                refused = False
                while time.monotonic() - t0 < 5:
                    if total(scrape(port), "yatagarasu_config_reloads_total",
                             result="failure") > fail0:
                        refused = True
                        break
                    time.sleep(0.005)
            t1 = time.monotonic()
            reloads.append({"i": i, "via": via, "valid": False, "t0": t0 - load.started,
                            "ms": (t1 - t0) * 1000, "refused": refused})
            if not refused:
                applied_errors.append(f"invalid file {i} ({via}) not refused")
        write_atomic(px.config, doc(i, port))
        t0 = time.monotonic()
        if via == "POST":
            status, body = post_reload(port)
            good = status == 200 and body["generation"] == g0 + ok + 1
        else:
            px.proc.send_signal(signal.SIGHUP)
            good = False
            while time.monotonic() - t0 < 5:
                if total(scrape(port), "yatagarasu_config_generation") >= g0 + ok + 1:
                    good = True
                    break
                time.sleep(0.005)
        t1 = time.monotonic()
        reloads.append({"i": i, "via": via, "valid": True, "t0": t0 - load.started,
                        "ms": (t1 - t0) * 1000, "applied": good})
        if good:
            ok += 1
        else:
            applied_errors.append(f"reload {i} ({via}) not applied")
        st, _ = get(port, "/extra/hello.txt")
        if st != (200 if i % 2 == 1 else 404):
            applied_errors.append(f"reload {i}: /extra answered {st}")
        time.sleep(max(0.0, next_at - time.monotonic()))
    time.sleep(pre_post)
    res = load.stop()
    vt.join(v_secs + 120)
    m1 = scrape(port)

    # requests overlapping a reload window vs the others
    wins = [(r["t0"], r["t0"] + r["ms"] / 1000 + 0.05) for r in reloads]

    def overlaps(o):
        s, e = o.sent - res.started, o.done - res.started
        return any(s < b and e > a_ for a_, b in wins)

    during = [o.latency * 1000 for o in res.outcomes if overlaps(o)]
    outside = [o.latency * 1000 for o in res.outcomes if not overlaps(o)]
    failed = res.failures()
    vrows = veg.get("rows", [])
    v_bad = [r for r in vrows if r["code"] != 200 or r["bytes"] != len(bodies["hello.txt"])]
    valid_ms = [r["ms"] for r in reloads if r["valid"]]
    gen_delta = total(m1, "yatagarasu_config_generation") - g0
    succ = delta(m1, m0, "yatagarasu_config_reloads_total", result="success")
    fail = delta(m1, m0, "yatagarasu_config_reloads_total", result="failure")

    c.check("reload: no failed request (byte-checked client)", not failed,
            f"{len(failed)} of {len(res.outcomes)}"
            + (f"; first: {failed[0].target} {failed[0].status} {failed[0].error[:160]}"
               if failed else ""))
    c.check("reload: no failed request (vegeta, keep-alive)", vrows and not v_bad,
            f"{len(v_bad)} of {len(vrows)}")
    c.check("reload: every reload applied, every invalid file refused", not applied_errors,
            "; ".join(applied_errors[:5]))
    c.verify_config("reload: config_generation rose by the successful reloads, the reload "
                    "counters by both", gen_delta == ok == K and succ == K
                    and fail == len(invalid_at),
                    f"generation +{gen_delta:.0f} for {ok} applied of {K}; reloads_total "
                    f"success +{succ:.0f}, failure +{fail:.0f} (invalid files {len(invalid_at)})")
    c.check("reload: enough load during the reloads", len(during) >= K,
            f"{len(during)} requests overlapped a reload")

    by: Dict[int, list] = {}
    for o in res.outcomes:
        by.setdefault(int(o.sent - res.started), []).append(o.latency * 1000)
    secs = sorted(by)
    out = {
        "reloads": K, "applied": ok, "invalid": len(invalid_at), "rate": rate,
        "vegeta_rate": v_rate, "requests": len(res.outcomes), "failed": len(failed),
        "vegeta_requests": len(vrows), "vegeta_failed": len(v_bad),
        "reload_ms": {"p50": percentile(valid_ms, 50), "p90": percentile(valid_ms, 90),
                      "max": max(valid_ms) if valid_ms else None,
                      "post_p50": percentile([r["ms"] for r in reloads
                                              if r["valid"] and r["via"] == "POST"], 50),
                      "sighup_p50": percentile([r["ms"] for r in reloads
                                                if r["valid"] and r["via"] == "SIGHUP"], 50)},
        "during": {"requests": len(during), "p50_ms": percentile(during, 50),
                   "p99_ms": percentile(during, 99)},
        "outside": {"requests": len(outside), "p50_ms": percentile(outside, 50),
                    "p99_ms": percentile(outside, 99)},
        "generation_delta": gen_delta, "reloads_success_delta": succ,
        "reloads_failure_delta": fail, "events": reloads,
        "per_second": {"t": secs, "p50_ms": [percentile(by[s], 50) for s in secs],
                       "p99_ms": [percentile(by[s], 99) for s in secs],
                       "n": [len(by[s]) for s in secs]},
    }
    if out["outside"]["p99_ms"]:
        out["p99_ratio_during_outside"] = out["during"]["p99_ms"] / out["outside"]["p99_ms"]
    c.run.stop(px.proc)
    return out


# --------------------------------------------------------------------------------------------
# shutdown under load


def post_reload(port: int) -> tuple:
    """POST /admin/reload: (status, the JSON answer)."""
    conn = http.client.HTTPConnection(H, port, timeout=30)
    try:
        conn.request("POST", "/admin/reload")
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def refused(port: int) -> bool:
    try:
        socket.create_connection((H, port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def shutdown_part(c: Campaign, moto, key: tuple, objs: Dict[str, bytes]) -> dict:
    N = c.args.inflight or (100 if c.args.quick else 500)
    body = random.Random(14).randbytes(60_000)
    fs = FaultServer(mode="trickle", body=body, trickle_bytes=2000,
                     trickle_interval=0.1).start()  # ~3 s per stream
    try:
        def yaml(port):
            return (f"server: {{address: 127.0.0.1, port: {port}, threads: 2, "
                    "request_timeout: 300, max_concurrent_requests: 4000}\n"
                    "logging: {level: warn, format: json, access_log: false}\n"
                    "shutdown: {timeout_seconds: 25}\n"
                    "buckets:\n"
                    "  - name: slow\n    path_prefix: /slow\n    s3:\n      bucket: fake\n"
                    f"      region: us-east-1\n      endpoint: '{fs.url}'\n"
                    "      access_key: AKIAFAKEFAULTSERVER0\n      secret_key: ignored-by-fake\n"
                    "      timeout: 20\n" + bucket_yaml("public", "/public", moto, key, 30))
        px = c.start_proxy("shutdown", yaml)
        want_slow = hashlib.sha256(body).hexdigest()
        n_slow = int(N * 0.7)
        names = sorted(objs)
        jobs = [("/slow/obj", want_slow, False)] * n_slow + [
            (f"/public/{names[i % len(names)]}",
             hashlib.sha256(objs[names[i % len(names)]]).hexdigest(), True)
            for i in range(N - n_slow)]
        random.Random(15).shuffle(jobs)
        recs = [dict() for _ in jobs]
        ev: dict = {"probes": []}

        async def run():
            go = asyncio.Event()
            t0 = time.monotonic()
            ev["t0"] = t0
            tasks = [asyncio.create_task(held_get(px.port, t, w, go, r, slow))
                     for (t, w, slow), r in zip(jobs, recs)]
            deadline = t0 + 90
            while sum(1 for r in recs if "t_head" in r or "error" in r) < len(jobs):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
            ev["all_heads"] = sum(1 for r in recs if "t_head" in r)
            ev["inflight_metric"] = total(scrape(px.port), "yatagarasu_inflight_requests")
            ev["t_sig"] = time.monotonic()
            px.proc.send_signal(signal.SIGTERM)
            go.set()
            loop = asyncio.get_running_loop()

            async def probe():
                while px.proc.poll() is None:
                    t = time.monotonic()
                    r = await loop.run_in_executor(None, refused, px.port)
                    ev["probes"].append((t - t0, r))
                    await asyncio.sleep(0.05)
            pt = asyncio.create_task(probe())
            await asyncio.gather(*tasks)
            ev["t_done"] = time.monotonic()
            await loop.run_in_executor(None, px.proc.wait, 40)
            ev["t_exit"] = time.monotonic()
            await pt

        asyncio.run(run())
        status = px.proc.returncode
        t0, t_sig = ev["t0"], ev["t_sig"]
        failed = [r for r in recs if not r.get("ok")]
        probes = ev["probes"]
        first_ref = next((t for t, r in probes if r), None)
        accepted_after = [t for t, r in probes if not r and first_ref is not None
                          and t > first_ref]
        c.check(f"shutdown: all {N} requests had their head before SIGTERM",
                ev["all_heads"] == N, f"{ev['all_heads']} of {N}")
        # The trickled streams are certainly still at the proxy; a moto object may already
        # be whole in the socket buffers (its request done as far as the proxy knows).
        c.verify_config("shutdown: the proxy counted the streams in flight",
                        ev["inflight_metric"] >= 0.9 * n_slow,
                        f"yatagarasu_inflight_requests {ev['inflight_metric']:.0f} at SIGTERM "
                        f"({n_slow} streams, {N - n_slow} objects)")
        c.check("shutdown: every in-flight request completed with its exact bytes", not failed,
                f"{len(failed)} failed" + (f"; first: {failed[0].get('error')}"
                                           if failed else ""))
        c.check("shutdown: new connections refused after SIGTERM (and never accepted again)",
                first_ref is not None and first_ref - (t_sig - t0) < 1.0 and not accepted_after,
                f"first refusal {((first_ref or 0) - (t_sig - t0)):.2f} s after SIGTERM, "
                f"{len(probes)} probes, {len(accepted_after)} accepted after it")
        c.check("shutdown: exit status 0", status == 0, f"status {status}")
        log = px.log.read_text(errors="replace")
        c.check("shutdown: drained, the shutdown timeout never hit",
                "shutdown timeout" not in log, "")
        # timeline: in flight / completed per 50 ms
        end = ev["t_exit"] - t0
        xs = [i * 0.05 for i in range(int(end / 0.05) + 2)]
        starts = sorted(r["t_start"] - t0 for r in recs)
        dones = sorted(r["t_done"] - t0 for r in recs)
        import bisect
        inflight = [bisect.bisect_right(starts, x) - bisect.bisect_right(dones, x) for x in xs]
        completed = [bisect.bisect_right(dones, x) for x in xs]
        return {"inflight": N, "slow_streams": n_slow, "objects": N - n_slow,
                "object_sizes": {k: len(v) for k, v in objs.items()},
                "failed": len(failed), "exit_status": status,
                "heads_before_sigterm": ev["all_heads"],
                "inflight_metric_at_sigterm": ev["inflight_metric"],
                "sigterm_at_s": t_sig - t0,
                "last_response_after_sigterm_s": ev["t_done"] - t_sig,
                "exit_after_sigterm_s": ev["t_exit"] - t_sig,
                "first_refusal_after_sigterm_s": (first_ref - (t_sig - t0))
                if first_ref is not None else None,
                "probes": len(probes), "accepted_after_first_refusal": len(accepted_after),
                "timeline": {"t": xs, "inflight": inflight, "completed": completed},
                "probe_times": probes,
                "first_failures": [r.get("error") for r in failed[:5]]}
    finally:
        fs.stop()


# --------------------------------------------------------------------------------------------


def main() -> int:
    c = Campaign("reload_shutdown", __doc__, add_args=add_args)
    with c:
        c.preload_plotting()
        moto = yg_moto.MotoServer(c.tmp / "moto", auth=True).start()
        try:
            moto.create_bucket(BUCKET)
            rnd = random.Random(21)
            objs = {"hello.txt": b"Hello from Yatagarasu!\n", "obj64k.bin": rnd.randbytes(65536)}
            for k, b in objs.items():
                moto.put(BUCKET, k, b)
            big = {"s16k.bin": rnd.randbytes(16 << 10), "s256k.bin": rnd.randbytes(256 << 10),
                   "s1m.bin": rnd.randbytes(1 << 20), "s4m.bin": rnd.randbytes(4 << 20)}
            for k, b in big.items():
                moto.put(BUCKET, k, b)
            keys = [(moto.access_key, moto.secret_key), second_key(moto)]
            rl = reload_part(c, moto, keys, objs)
            print(f"  reload: {rl['requests']} requests, {rl['failed']} failed; reload p50 "
                  f"{rl['reload_ms']['p50']:.1f} ms", flush=True)
            sd = shutdown_part(c, moto, keys[0], big)
        finally:
            moto.stop()
        c.result = {"reload": rl, "shutdown": sd}
        r = rl
        c.table = (
            "### Reload under load\n\n"
            f"{r['reloads']} reloads (alternating SIGHUP / POST /admin/reload, one every >= "
            f"0.4 s; S3 credentials switched and /extra added/removed each time) + "
            f"{r['invalid']} invalid files, under {r['rate']:g} req/s byte-checked (fresh "
            f"connections) + {r['vegeta_rate']} req/s vegeta (keep-alive).\n\n"
            + fmt_table(["requests", "failed", "vegeta requests", "vegeta failed", "applied",
                         "generation +", "failures +", "reload p50 ms", "p90 ms", "max ms",
                         "POST p50", "SIGHUP p50"],
                        [(r["requests"], r["failed"], r["vegeta_requests"], r["vegeta_failed"],
                          f"{r['applied']}/{r['reloads']}", r["generation_delta"],
                          r["reloads_failure_delta"], r["reload_ms"]["p50"],
                          r["reload_ms"]["p90"], r["reload_ms"]["max"],
                          r["reload_ms"]["post_p50"], r["reload_ms"]["sighup_p50"])])
            + "\n\n"
            + fmt_table(["requests", "n", "p50 ms", "p99 ms"],
                        [("overlapping a reload", r["during"]["requests"],
                          r["during"]["p50_ms"], r["during"]["p99_ms"]),
                         ("outside reloads", r["outside"]["requests"], r["outside"]["p50_ms"],
                          r["outside"]["p99_ms"]),
                         ("ratio during/outside (p99)", "", "",
                          r.get("p99_ratio_during_outside"))])
            + "\n\n### SIGTERM with requests in flight\n\n"
            + fmt_table(["in flight", "streams / objects", "failed", "inflight metric",
                         "refused after", "last response after", "exit after", "exit status"],
                        [(sd["inflight"], f"{sd['slow_streams']} / {sd['objects']}",
                          sd["failed"], sd["inflight_metric_at_sigterm"],
                          f"{sd['first_refusal_after_sigterm_s'] or 0:.2f} s",
                          f"{sd['last_response_after_sigterm_s']:.2f} s",
                          f"{sd['exit_after_sigterm_s']:.2f} s", sd["exit_status"])]))
        ps = r["per_second"]
        c.plot("reload", [
            {"title": "latency per second (byte-checked client); dotted: reloads, "
                      "x = invalid file", "ylabel": "ms", "xlabel": "s", "logy": True,
             "series": {"p50": (ps["t"], ps["p50_ms"]), "p99": (ps["t"], ps["p99_ms"])},
             "vlines": [(e["t0"], "" if e["valid"] else "x") for e in r["events"]]},
            {"title": "requests per second", "ylabel": "req/s", "xlabel": "s",
             "series": {"requests": (ps["t"], ps["n"])},
             "spans": [(r["events"][0]["t0"], r["events"][-1]["t0"], "reloading")],
             "legend": True}])
        tl = sd["timeline"]
        c.plot("shutdown", [
            {"title": f"{sd['inflight']} requests in flight at SIGTERM", "ylabel": "requests",
             "xlabel": "s", "series": {"in flight": (tl["t"], tl["inflight"]),
                                       "completed": (tl["t"], tl["completed"])},
             "vlines": [(sd["sigterm_at_s"], "SIGTERM"),
                        (sd["sigterm_at_s"] + sd["exit_after_sigterm_s"], "exit")]},
            {"title": "new-connection probes after SIGTERM (1 = refused)", "ylabel": "refused",
             "xlabel": "s", "series": {"refused": ([p[0] for p in sd["probe_times"]],
                                                   [1 if p[1] else 0
                                                    for p in sd["probe_times"]])},
             "vlines": [(sd["sigterm_at_s"], "SIGTERM")]}])
    return c.exit_code()


if __name__ == "__main__":
    sys.exit(main())
