#!/usr/bin/env python3
"""What authorization (OPA, OpenFGA) costs per request, at a fixed rate (vegeta), in one run.

One nginx serves a 1 KiB object as a signature-ignoring S3 origin; one proxy (1 worker thread)
mounts it five times, all behind the same top-level HS256 `jwt`:

  /jwt       auth.enabled only (the baseline: JWT verification, no authorization)
  /opa       + authorization type opa      (decision cache on: warm, every request a hit)
  /fga       + authorization type openfga  (decision cache on: warm)
  /opa-cold  + authorization type opa      (decision cache off: every request asks OPA)
  /fga-cold  + authorization type openfga  (decision cache off: every request asks OpenFGA)

plus two targets without the proxy, for scale: opa-direct and fga-direct, where vegeta POSTs
the very request the proxy sends to the engine for /opa-cold and /fga-cold.

"Cold" is the decision cache switched off, so that every request pays a round trip to the
engine (a real cache miss costs that plus one lookup and one insert). The engines are the real
servers of scripts/lib/yg_authz.py: OPA with config/examples/opa/yatagarasu.rego (the token
carries roles: [admin], which that policy allows; OPA runs without its console decision log
unless --opa-decision-log), OpenFGA (memory datastore) with config/examples/openfga/model.json
and the tuple `user:bench viewer bucket:<bucket>`, reached through the contextual parent tuple
the proxy sends for file:<bucket>/small.bin.

Before measuring, every prefix must answer 200 with the object's bytes, 401 without a token,
and (authorization prefixes) 403 for a token the engine denies, and the engine must have been
asked exactly as often as the cache setting says (OPA's /metrics, OpenFGA's check counter, the
proxy's yatagarasu_authz_* counters). Every measured run is checked the same way afterwards
(warm: hits, no misses; cold: no lookups, one engine call per request).

(1) Fixed rate (vegeta attack -rate R, keep-alive): each target in turn, rounds alternating
    (order reversed every other round); medians of p50/p99 and the latency added vs /jwt.
(2) Saturation of /jwt, /opa-cold, /fga-cold (full mode also opa-direct, fga-direct): the rate
    doubles (full mode: then one step between the last good and the first bad rate) until a
    step fails: success < 99 %, or p99 > 10x the target's p99 in (1), or successful
    throughput < 95 % of the asked rate. A failing step is repeated once before it counts.
    The CPU each process used during the step (and the whole machine's, "other" being
    everything not started here) shows who ran out: the proxy (1 thread: 100 % = its core),
    the engine, nginx, vegeta, or the machine. 2 cores are shared by all of them.

Writes load/results/authz_<timestamp>.md and .json. Needs nginx, opa + openfga
(scripts/install-authz-servers.sh) and vegeta (scripts/install-load-tools.sh, run by this
script when the binary is missing).

  python3 load/authz_overhead.py            # 3 rounds x 10 s at 500 req/s; 5 s steps from 250
  python3 load/authz_overhead.py --quick    # 1 round x 3 s; 2 s steps from 500 (< 90 s)
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import jwt as pyjwt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
sys.path.insert(0, str(REPO / "load"))
import yg_authz  # noqa: E402
import yg_procs  # noqa: E402
from observability_cost import BUCKET, KEY, start_small_origin  # noqa: E402
from yg_load import Run  # noqa: E402

VEGETA_VERSION = "v12.13.0"
PREFIXES = ("jwt", "opa", "fga", "opa-cold", "fga-cold")
# The engines alone, no proxy: vegeta POSTs the body the proxy sends for /opa-cold, /fga-cold.
DIRECT = ("opa-direct", "fga-direct")
TARGETS = PREFIXES + DIRECT
ENGINE = {"jwt": None, "opa": "opa", "fga": "openfga", "opa-cold": "opa",
          "fga-cold": "openfga", "opa-direct": "opa", "fga-direct": "openfga"}
WARM = {"opa", "fga"}
SATURATE = ("jwt", "opa-cold", "fga-cold")          # quick mode
SATURATE_FULL = SATURATE + DIRECT
SUB = "bench"
ENGINE_TIMEOUT_MS = 1000
# Saturation: a step fails on any of these.
MIN_SUCCESS, MAX_P99_FACTOR, MIN_THROUGHPUT = 0.99, 10.0, 0.95

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- command line ---------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    """parse_wrk_args' options (less --connections: vegeta is open-loop) plus the rate ones."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="1 round x 3 s, 2 s saturation steps from 500 req/s (< 90 s)")
    ap.add_argument("--rounds", type=int, help="fixed-rate rounds (3; quick 1)")
    ap.add_argument("--seconds", type=int, help="seconds per fixed-rate run (10; quick 3)")
    ap.add_argument("--rate", type=int, default=500, help="fixed rate, req/s (500)")
    ap.add_argument("--step-seconds", type=int, help="seconds per saturation step (5; quick 2)")
    ap.add_argument("--start-rate", type=int, help="first saturation step (250; quick 500)")
    ap.add_argument("--max-rate", type=int, help="last saturation step (16000; quick 8000)")
    ap.add_argument("--opa-decision-log", action="store_true",
                    help="run OPA with its console decision log (one JSON line per decision)")
    ap.add_argument("--binary", type=Path, default=Path(os.environ.get(
        "YG_BINARY", REPO / "build" / "yatagarasu")))
    ap.add_argument("--out-dir", type=Path, default=REPO / "load" / "results")
    a = ap.parse_args(argv)
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.seconds = a.seconds or (3 if a.quick else 10)
    a.step_seconds = a.step_seconds or (2 if a.quick else 5)
    a.start_rate = a.start_rate or (500 if a.quick else 250)
    a.max_rate = a.max_rate or (8000 if a.quick else 16000)
    a.refine = not a.quick
    return a


# --- tools ----------------------------------------------------------------------------------

def vegeta_binary() -> Path:
    env = os.environ.get("YG_VEGETA")
    path = Path(env) if env else (yg_authz.tools_dir() / "go" / f"vegeta-{VEGETA_VERSION}"
                                  / "vegeta")
    if not (path.is_file() and os.access(path, os.X_OK)):
        out = subprocess.run([str(REPO / "scripts" / "install-load-tools.sh")],
                             stdout=subprocess.PIPE, text=True, check=True, timeout=900)
        m = re.search(r"^vegeta=(.+)$", out.stdout, re.M)
        path = Path(m.group(1)) if m else path
    return path


class QuietOpa(yg_authz.Opa):
    """OPA without the console decision log (a synchronous JSON line per decision would be part
    of what is measured); decisions are counted from OPA's own /metrics instead."""

    def _command(self):
        cmd = super()._command()
        i = cmd.index("decision_logs.console=true")
        del cmd[i - 1:i + 1]
        return cmd

    def decision_count(self) -> int:
        status, text = yg_authz.http("GET", self.url + "/metrics")
        if status != 200:
            raise yg_authz.HttpError("GET", self.url + "/metrics", status, text[:200])
        return int(sum(float(m.group(1)) for m in re.finditer(
            r'^http_request_duration_seconds_count\{[^}]*handler="v1/data"[^}]*\} (\S+)$',
            text, re.M)))


# --- measurements ---------------------------------------------------------------------------

def get(url: str, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token
                                 else {})
    try:
        with _opener.open(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def scrape(port: int) -> dict:
    """The proxy's /metrics as {(name, frozenset(labels)): value}."""
    status, body = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200, status
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r'^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$', line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def bucket_counts(metrics: dict, bucket: str) -> dict:
    def val(name, **labels):
        want = {("bucket", bucket), *labels.items()}
        return sum(v for (n, ls), v in metrics.items() if n == name and want <= ls)
    return {
        "allowed": val("yatagarasu_authz_requests_total", outcome="allowed"),
        "denied": val("yatagarasu_authz_requests_total", outcome="denied"),
        "failed_closed": val("yatagarasu_authz_requests_total", outcome="failed_closed"),
        "failed_open": val("yatagarasu_authz_requests_total", outcome="failed_open"),
        "cache_hit": val("yatagarasu_authz_cache_lookups_total", result="hit"),
        "cache_miss": val("yatagarasu_authz_cache_lookups_total", result="miss"),
        "engine_asked": val("yatagarasu_authz_engine_duration_seconds_count"),
        "engine_seconds": val("yatagarasu_authz_engine_duration_seconds_sum"),
        "engine_errors": val("yatagarasu_authz_engine_errors_total"),
    }


def anonymize(text: str) -> str:
    """Request ids out, so that equal messages group."""
    return re.sub(r"\b[0-9a-f]{16,}\b", "<id>", text)


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads) and its direct children (nginx's worker)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU-seconds the whole machine spent busy (all CPUs, /proc/stat)."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, vegeta: Path, tmp: Path, port: int, pids: dict, opa, fga,
                 token: str, direct: dict):
        self.vegeta, self.tmp, self.port, self.pids = vegeta, tmp, port, pids
        self.opa, self.fga, self.token, self.direct = opa, fga, token, direct
        self.sent = {t: 0 for t in TARGETS}          # requests vegeta sent
        self.ok = {t: 0 for t in TARGETS}            # of which answered 200
        self.engine_calls = {t: 0 for t in TARGETS}  # engine-side count during their runs
        self.direct_bytes: dict = {}                 # the engine's answer size, by target

    def engine_count(self, target: str) -> int:
        e = ENGINE[target]
        return self.opa.decision_count() if e == "opa" else (
            self.fga.check_count() if e == "openfga" else 0)

    def targets_file(self, target: str) -> Path:
        path = self.tmp / f"targets-{target}.txt"
        if target in DIRECT:  # (url, body): the proxy's request to the engine
            url, body = self.direct[target]
            (self.tmp / f"body-{target}.json").write_text(body)
            path.write_text(f"POST {url}\nContent-Type: application/json\n"
                            f"@{self.tmp / f'body-{target}.json'}\n\n")
        else:
            path.write_text(f"GET http://127.0.0.1:{self.port}/{target}/{KEY}\n"
                            f"Authorization: Bearer {self.token}\n\n")
        return path

    def other_answers(self, results: Path) -> dict:
        """The distinct non-200 answers of a run (status, error, body start), with counts."""
        enc = subprocess.run([str(self.vegeta), "encode", "-to", "json", str(results)],
                             capture_output=True, text=True, check=True, timeout=120).stdout
        seen: dict = {}
        for line in enc.splitlines():
            x = json.loads(line)
            if x.get("code") == 200:
                continue
            body = base64.b64decode(x.get("body") or "").decode("utf-8", "replace")
            key = anonymize(f"{x.get('code')} {x.get('error', '')} {body[:200]}".strip())
            seen[key] = seen.get(key, 0) + 1
        return dict(sorted(seen.items(), key=lambda kv: -kv[1])[:5])

    def attack(self, target: str, rate: int, seconds: float) -> dict:
        targets = self.targets_file(target)
        out = self.tmp / "vegeta.bin"
        bucket = target if target in PREFIXES else None
        m0 = bucket_counts(scrape(self.port), bucket) if bucket else None
        e0 = self.engine_count(target)
        c0 = {n: cpu_seconds(pid) for n, pid in self.pids.items()}
        b0 = machine_busy_seconds()
        ru0 = os.times()
        t0 = time.monotonic()
        # Open-loop: workers are added while all are busy, up to 512 (under the proxy's
        # max_concurrent_requests of 1000), so a server that falls behind shows as latency,
        # errors and a sent rate below the asked one.
        subprocess.run([str(self.vegeta), "attack", "-targets", str(targets),
                        "-rate", f"{rate}/1s", "-duration", f"{seconds}s", "-keepalive=true",
                        "-workers", str(max(16, rate // 100)), "-max-workers", "512",
                        "-timeout", "5s", "-output", str(out)], check=True,
                       timeout=seconds + 60, stdin=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        ru1 = os.times()
        b1 = machine_busy_seconds()
        c1 = {n: cpu_seconds(pid) for n, pid in self.pids.items()}
        rep = json.loads(subprocess.run([str(self.vegeta), "report", "-type=json", str(out)],
                                        capture_output=True, text=True, check=True,
                                        timeout=120).stdout)
        e1 = self.engine_count(target)
        lat = rep["latencies"]
        codes = {str(k): int(v) for k, v in (rep.get("status_codes") or {}).items()}
        cpu = {n: (c1[n] - c0[n]) / wall for n in c0}
        cpu["vegeta"] = ((ru1.children_user + ru1.children_system)
                         - (ru0.children_user + ru0.children_system)) / wall
        cpu["machine"] = (b1 - b0) / wall
        cpu["other"] = max(0.0, cpu["machine"] - sum(cpu[n] for n in self.pids) - cpu["vegeta"])
        r = {"target": target, "rate_asked": rate, "seconds": seconds,
             "requests": rep["requests"], "rate_sent": rep["rate"],
             "throughput": rep["throughput"], "success": rep["success"],
             "p50_ms": lat["50th"] / 1e6, "p90_ms": lat["90th"] / 1e6,
             "p99_ms": lat["99th"] / 1e6, "max_ms": lat["max"] / 1e6,
             "mean_ms": lat["mean"] / 1e6, "bytes_in_mean": rep["bytes_in"]["mean"],
             "status_codes": codes, "errors": (rep.get("errors") or [])[:5],
             "cpu": cpu, "engine_calls": e1 - e0}
        if set(codes) - {"200"}:
            r["other_answers"] = self.other_answers(out)
        if bucket:
            m1 = bucket_counts(scrape(self.port), bucket)
            r["proxy_metrics"] = d = {k: m1[k] - m0[k] for k in m0}
            if d["engine_asked"]:
                r["engine_ms_mean"] = 1e3 * d["engine_seconds"] / d["engine_asked"]
        self.sent[target] += rep["requests"]
        self.ok[target] += codes.get("200", 0)
        self.engine_calls[target] += e1 - e0
        check_run(r, self.direct_bytes.get(target, 1024))
        return r


def check_run(r: dict, body_bytes: int) -> None:
    """What the run must show for its figures to mean what the table says; the checks that
    did not hold go to r['notes'] (printed, and listed under the tables)."""
    t, n = r["target"], r["requests"]
    notes = []
    ok200 = r["status_codes"].get("200", 0)
    if ok200 == n and abs(r["bytes_in_mean"] - body_bytes) > 0.01:
        notes.append(f"{r['bytes_in_mean']:.1f} bytes per answer, not {body_bytes}")
    if t in DIRECT:
        if r["engine_calls"] != n:
            notes.append(f"engine counted {r['engine_calls']} calls for {n} requests")
    elif ENGINE[t]:
        d = r["proxy_metrics"]
        if d["allowed"] != ok200:
            notes.append(f"proxy counted {d['allowed']:.0f} allowed for {ok200} answers 200")
        if d["denied"]:
            notes.append(f"{d['denied']:.0f} denied")
        if t in WARM:
            if d["cache_hit"] + d["cache_miss"] != d["allowed"] + d["denied"]:
                notes.append("cache lookups do not add up to the authorized requests")
            if d["cache_miss"] > 0.01 * n:
                notes.append(f"warm run had {d['cache_miss']:.0f} cache misses")
        else:
            if d["cache_hit"] or d["cache_miss"]:
                notes.append("cold run made cache lookups (the cache should be off)")
            answered = d["allowed"] + d["denied"] + d["failed_closed"] + d["failed_open"]
            if d["engine_asked"] != answered:
                notes.append(f"engine asked {d['engine_asked']:.0f} times for {answered:.0f} "
                             "authorizations")
        # The engine may also count an attempt whose answer came too late for the proxy.
        want = d["engine_asked"]
        if not want <= r["engine_calls"] <= want + d["engine_errors"]:
            notes.append(f"engine counted {r['engine_calls']} calls, proxy asked {want:.0f}")
    r["notes"] = notes


def verify(port: int, tokens: dict, body: bytes, bench: Bench) -> list:
    """Each prefix: the object for the good token, 401 without one, 403 for a token the engine
    denies, and the engine asked as often as the cache setting says; each direct target: the
    engine allows the body. Returns lines to print."""
    lines = []
    for p in PREFIXES:
        url = f"http://127.0.0.1:{port}/{p}/{KEY}"
        m0, e0 = bucket_counts(scrape(port), p), bench.engine_count(p)
        for _ in range(3):
            status, got = get(url, tokens["good"])
            if status != 200 or got != body:
                raise RuntimeError(f"/{p}: GET with the bench token -> {status}, "
                                   f"{len(got)} bytes (want 200 and the 1 KiB object)")
        status, _ = get(url)
        if status != 401:
            raise RuntimeError(f"/{p}: GET without a token -> {status} (want 401)")
        if ENGINE[p]:
            status, _ = get(url, tokens["denied"])
            if status != 403:
                raise RuntimeError(f"/{p}: GET with a token {ENGINE[p]} denies -> {status} "
                                   "(want 403)")
        m1, e1 = bucket_counts(scrape(port), p), bench.engine_count(p)
        d = {k: m1[k] - m0[k] for k in m0}
        bench.engine_calls[p] += e1 - e0
        if ENGINE[p]:
            # 3 allowed + 1 denied; warm: the first allowed and the denied one are misses.
            want_asked = 2 if p in WARM else 4
            want = {"allowed": 3, "denied": 1, "engine_asked": want_asked,
                    "cache_hit": 2 if p in WARM else 0, "cache_miss": 2 if p in WARM else 0}
            got = {k: int(d[k]) for k in want}
            if got != want or e1 - e0 != want_asked:
                raise RuntimeError(f"/{p}: proxy counters {got}, {ENGINE[p]} counted "
                                   f"{e1 - e0} calls; want {want} and {want_asked} calls")
            lines.append(f"  /{p:8s} 200 + the 1 KiB object, 401 without token, 403 when "
                         f"{ENGINE[p]} denies; {ENGINE[p]} asked {e1 - e0}x for 4 requests "
                         f"(cache hits {got['cache_hit']}, misses {got['cache_miss']})")
        else:
            if any(d.values()):
                raise RuntimeError(f"/{p}: authorization counters moved: {d}")
            lines.append(f"  /{p:8s} 200 + the 1 KiB object, 401 without token; "
                         "no authorization")
    for t in DIRECT:
        url, req = bench.direct[t]
        e0 = bench.engine_count(t)
        status, text = yg_authz.http("POST", url, json.loads(req))
        e1 = bench.engine_count(t)
        bench.engine_calls[t] += e1 - e0
        doc = json.loads(text) if status == 200 else {}
        if status != 200 or not (doc.get("result") is True or doc.get("allowed") is True) \
                or e1 - e0 != 1:
            raise RuntimeError(f"{t}: POST {url} -> {status} {text[:200]}, engine counted "
                               f"{e1 - e0} calls (want an allow, 1 call)")
        bench.direct_bytes[t] = len(text.encode())
        lines.append(f"  {t} POST {url.split('/', 3)[3][:40]}: {text.strip()[:60]}")
    return lines


def step_verdict(r: dict, ref_p99: float) -> str:
    why = []
    if r["success"] < MIN_SUCCESS:
        why.append(f"success {100 * r['success']:.1f} %")
    if r["p99_ms"] > MAX_P99_FACTOR * ref_p99:
        why.append(f"p99 {r['p99_ms']:.1f} ms > {MAX_P99_FACTOR:.0f}x {ref_p99:.2f}")
    if r["throughput"] < MIN_THROUGHPUT * r["rate_asked"]:
        why.append(f"ok {r['throughput']:.0f}/s")
    return ", ".join(why)


def cpu_text(cpu: dict, target: str) -> str:
    names = (["proxy"] if target in PREFIXES else []) + ([ENGINE[target]] if ENGINE[target]
                                                         else [])
    names += ["nginx"] if target in PREFIXES else []
    return (" ".join(f"{n} {100 * cpu[n]:.0f}" for n in names + ["vegeta", "other"])
            + f" = {100 * cpu['machine']:.0f} %")


def label(t: str) -> str:
    return f"/{t}" if t in PREFIXES else t


def saturate(bench: Bench, target: str, ref_p99: float, args) -> dict:
    steps, good, bad = [], None, None

    def run_step(rate):
        for attempt in (1, 2):
            r = bench.attack(target, rate, args.step_seconds)
            r["verdict"] = step_verdict(r, ref_p99)
            r["attempt"] = attempt
            steps.append(r)
            odd = set(r["status_codes"]) - {"200"}
            print(f"  sat {label(target):10s} {rate:5d}/s #{attempt}: sent {r['rate_sent']:5.0f}"
                  f" ok {r['throughput']:5.0f}/s  p50 {r['p50_ms']:7.2f} p99 {r['p99_ms']:8.2f}"
                  f" ms  cpu% {cpu_text(r['cpu'], target)}"
                  f"  {'FAIL: ' + r['verdict'] if r['verdict'] else 'ok'}"
                  + (f"  codes {r['status_codes']}" if odd else "")
                  + (f"  NOTE {r['notes']}" if r["notes"] else ""), flush=True)
            for answer, count in r.get("other_answers", {}).items():
                print(f"      {count:6d} x {answer}")
            time.sleep(1)  # let queued work and closing connections drain
            if not r["verdict"]:
                return r
        return None

    rate = args.start_rate
    while rate <= args.max_rate:
        r = run_step(rate)
        if r is None:
            bad = rate
            break
        good = r
        rate *= 2
    if bad and good and args.refine:
        mid = (good["rate_asked"] + bad) // 2
        r = run_step(mid)
        if r is not None:
            good = r
        else:
            bad = mid
    bad_step = next((s for s in reversed(steps) if s["verdict"]), None) if bad else None
    return {"target": target, "ref_p99_ms": ref_p99, "steps": steps,
            "last_good_rate": good["rate_asked"] if good else None, "first_bad_rate": bad,
            "why": bad_step["verdict"] if bad_step else f"none up to {args.max_rate}/s",
            "good": good, "bad_step": bad_step}


# --- main -----------------------------------------------------------------------------------

def proxy_yaml(port, origin, secret, opa_url, fga_url, store, model) -> str:
    s3 = (f'{{bucket: "{BUCKET}", region: us-east-1, endpoint: "http://127.0.0.1:{origin}",\n'
          '          access_key: AKIABENCHNGINX000000, secret_key: nginx-ignores-signatures}')
    cache_on = "{enabled: true, ttl_seconds: 3600, negative_ttl_seconds: 30, max_entries: 10000}"
    authz = {
        "jwt": "",
        "opa": (f'    authorization: {{type: opa, opa_url: "{opa_url}", '
                f'opa_policy_path: yatagarasu/authz/allow,\n'
                f'                    opa_timeout_ms: {ENGINE_TIMEOUT_MS}, cache: {cache_on}}}\n'),
        "fga": (f'    authorization: {{type: openfga, openfga_endpoint: "{fga_url}",\n'
                f'                    openfga_store_id: "{store}", '
                f'openfga_authorization_model_id: "{model}",\n'
                f'                    openfga_timeout_ms: {ENGINE_TIMEOUT_MS}, '
                f'cache: {cache_on}}}\n'),
    }
    authz["opa-cold"] = authz["opa"].replace(cache_on, "{enabled: false}")
    authz["fga-cold"] = authz["fga"].replace(cache_on, "{enabled: false}")
    buckets = "".join(f"""  - name: "{p}"
    path_prefix: "/{p}"
    s3: {s3}
    auth: {{enabled: true}}
{authz[p]}""" for p in PREFIXES)
    return f"""server: {{address: "127.0.0.1", port: {port}, threads: 1}}
logging: {{level: warn, format: json}}
jwt: {{enabled: true, algorithm: HS256, secret: "{secret}"}}
buckets:
{buckets}"""


def direct_requests(opa, fga, store, model, claims) -> dict:
    """What the proxy POSTs to the engine for GET /opa-cold/small.bin and /fga-cold/small.bin
    (src/authz/opa.cc opa_input, openfga.cc openfga_check_body), as (url, JSON text)."""
    opa_body = {"input": {"jwt_claims": claims, "bucket": "opa-cold",
                          "path": f"/opa-cold/{KEY}", "key": KEY, "method": "GET",
                          "client_ip": "127.0.0.1", "request_id": "0123456789abcdef",
                          "headers": {}}}
    obj = f"file:fga-cold/{KEY}"
    fga_body = {"tuple_key": {"user": f"user:{SUB}", "relation": "viewer", "object": obj},
                "contextual_tuples": {"tuple_keys": [
                    {"user": "bucket:fga-cold", "relation": "parent", "object": obj}]},
                "authorization_model_id": model}
    return {"opa-direct": (f"{opa.url}/v1/data/yatagarasu/authz/allow", json.dumps(opa_body)),
            "fga-direct": (f"{fga.url}/stores/{store}/check", json.dumps(fga_body))}


def main(argv=None) -> int:
    args = parse_args(argv)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        print("needs nginx: scripts/install-deps.sh", file=sys.stderr)
        return 2
    try:
        yg_authz.opa_binary(), yg_authz.openfga_binary()
    except yg_authz.MissingBinary as e:
        print(f"{e}", file=sys.stderr)
        return 2
    vegeta = vegeta_binary()
    t_start = time.monotonic()
    load_start = os.getloadavg()

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="yg-authz-cost-"))
    tmp.chmod(0o755)
    run = Run()
    opa = (yg_authz.Opa if args.opa_decision_log else QuietOpa)()
    fga = yg_authz.OpenFga()
    try:
        origin = start_small_origin(run, tmp, nginx)
        body = (tmp / "www" / BUCKET / KEY).read_bytes()
        nginx_pid = run.procs[-1][1].pid

        rego = (REPO / "config" / "examples" / "opa" / "yatagarasu.rego").read_text()
        opa.start(tmp / "opa", policies={"yatagarasu": rego})
        fga.start(tmp / "openfga")
        store = fga.create_store("authz-overhead")
        model = fga.write_model(store, json.loads(
            (REPO / "config" / "examples" / "openfga" / "model.json").read_text()))
        fga_tuples = [(f"user:{SUB}", "viewer", f"bucket:{b}") for b in ("fga", "fga-cold")]
        fga.write_tuples(store, fga_tuples, model)

        secret = os.urandom(32).hex()
        claims = {"sub": SUB, "roles": ["admin"], "exp": int(time.time()) + 3 * 3600}
        tokens = {  # admin: yatagarasu.rego allows; user:bench is a viewer of both fga buckets
            "good": pyjwt.encode(claims, secret, algorithm="HS256"),
            # neither admin nor a public/, users/<sub>/ key; no tuple for user:nobody
            "denied": pyjwt.encode({"sub": "nobody", "roles": ["user"], "exp": claims["exp"]},
                                   secret, algorithm="HS256")}
        port = yg_procs.free_port()
        cfg = proxy_yaml(port, origin, secret, opa.url, fga.url, store, model)
        (tmp / "proxy.yaml").write_text(cfg)
        test = subprocess.run([str(args.binary), "--test", "-c", str(tmp / "proxy.yaml")],
                              capture_output=True, text=True, timeout=30)
        if test.returncode != 0:
            raise RuntimeError(f"config rejected:\n{test.stderr}{cfg}")
        print(f"proxy config ({args.binary} --test: valid):\n{cfg}")
        print(f"opa {yg_authz.OPA_VERSION}: config/examples/opa/yatagarasu.rego, decision log "
              f"{'console' if args.opa_decision_log else 'off'}; openfga "
              f"{yg_authz.OPENFGA_VERSION} (memory): config/examples/openfga/model.json, "
              f"tuples {fga_tuples}")
        print(f"token claims {json.dumps(claims)}; vegeta {VEGETA_VERSION} ({vegeta})")

        px = run.start("yatagarasu", [str(args.binary), "--config", str(tmp / "proxy.yaml")],
                       tmp / "proxy.log")
        yg_procs.wait_http_ok(f"http://127.0.0.1:{port}/health", proc=px, what="yatagarasu",
                              log=tmp / "proxy.log")
        pids = {"proxy": px.pid, "opa": opa.pid, "openfga": fga.pid, "nginx": nginx_pid}
        bench = Bench(vegeta, tmp, port, pids, opa, fga, tokens["good"],
                      direct_requests(opa, fga, store, model, claims))

        print("verification:")
        for line in verify(port, tokens, body, bench):
            print(line)
        rss = {"after_verify": yg_procs.vm_status(px.pid)["VmRSS"]}

        # Unmeasured warm-up: connections to the engines (the warm caches are primed).
        for t in TARGETS:
            bench.attack(t, args.rate, 1)

        # (1) fixed rate
        res = {t: [] for t in TARGETS}
        for i in range(args.rounds):
            for t in (TARGETS if i % 2 == 0 else tuple(reversed(TARGETS))):
                r = bench.attack(t, args.rate, args.seconds)
                res[t].append(r)
                extra = f" engine {r['engine_ms_mean']:.2f}" if "engine_ms_mean" in r else ""
                print(f"round {i + 1}/{args.rounds} {label(t):10s} {r['rate_sent']:4.0f}/s "
                      f"success {100 * r['success']:5.1f} %  p50 {r['p50_ms']:6.3f} p99 "
                      f"{r['p99_ms']:7.3f}{extra} ms  cpu% {cpu_text(r['cpu'], t)}"
                      + (f"  NOTE {r['notes']}" if r["notes"] else ""), flush=True)
        med = {t: {k: statistics.median(x[k] for x in res[t])
                   for k in ("p50_ms", "p99_ms", "mean_ms", "success", "throughput")}
               for t in TARGETS}
        for t in TARGETS:
            em = [x["engine_ms_mean"] for x in res[t] if "engine_ms_mean" in x]
            med[t]["engine_ms_mean"] = statistics.median(em) if em else None
            for n in ("proxy", "opa", "openfga", "machine"):
                med[t][f"cpu_{n}"] = statistics.median(x["cpu"][n] for x in res[t])
        rss["after_fixed_rate"] = yg_procs.vm_status(px.pid)["VmRSS"]

        # (2) saturation
        sat = {}
        for t in (SATURATE if args.quick else SATURATE_FULL):
            sat[t] = saturate(bench, t, med[t]["p99_ms"], args)

        # After the run: every request counted where it should be.
        final = scrape(port)
        counts = {p: bucket_counts(final, p) for p in PREFIXES}
        rss["end"] = yg_procs.vm_status(px.pid)["VmRSS"]
        fds = len(os.listdir(f"/proc/{px.pid}/fd"))
        alive = px.poll() is None
        log_lines = (tmp / "proxy.log").read_text(errors="replace").splitlines()
        log_kinds: dict = {}
        for line in log_lines:
            try:
                doc = json.loads(line)
                k = f"{doc.get('level', '?')}: {doc.get('msg', doc.get('message', line))}"
            except ValueError:
                k = line
            k = anonymize(k)[:200]
            log_kinds[k] = log_kinds.get(k, 0) + 1
        notes = {t: sorted({n for x in res[t] + (sat[t]["steps"] if t in sat else [])
                            for n in x["notes"]}) for t in TARGETS}
        result = {
            "benchmark": "authz_overhead",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
            "quick": args.quick, "rounds": args.rounds, "seconds": args.seconds,
            "rate": args.rate, "step_seconds": args.step_seconds,
            "start_rate": args.start_rate, "max_rate": args.max_rate,
            "object_bytes": len(body), "proxy_threads": 1,
            "engine_timeout_ms": ENGINE_TIMEOUT_MS, "opa_decision_log": args.opa_decision_log,
            "versions": {"opa": yg_authz.OPA_VERSION, "openfga": yg_authz.OPENFGA_VERSION,
                         "vegeta": VEGETA_VERSION},
            "proxy_config": cfg.replace(secret, "<random per run>"), "token_claims": claims,
            "openfga_tuples": fga_tuples,
            "direct_requests": {t: {"url": u, "body": json.loads(b)}
                                for t, (u, b) in bench.direct.items()},
            "runs": res, "median": med,
            "added_vs_jwt": {p: {"p50_ms": med[p]["p50_ms"] - med["jwt"]["p50_ms"],
                                 "p99_ms": med[p]["p99_ms"] - med["jwt"]["p99_ms"]}
                             for p in PREFIXES},
            "saturation": sat,
            "totals": {t: {"sent": bench.sent[t], "ok_200": bench.ok[t],
                           "engine_calls": bench.engine_calls[t], **counts.get(t, {})}
                       for t in TARGETS},
            "proxy_alive": alive, "proxy_rss_bytes": rss, "proxy_open_fds_end": fds,
            "proxy_log_lines": len(log_lines),
            "proxy_log_kinds": dict(sorted(log_kinds.items(), key=lambda kv: -kv[1])[:10]),
            "notes": notes, "wall_seconds": time.monotonic() - t_start,
        }
        table = render(result)
        print("\n" + table)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        (args.out_dir / f"authz_{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out_dir / f"authz_{stamp}.md").write_text(table + "\n")
        print(f"wrote {args.out_dir}/authz_{stamp}.md and .json "
              f"({result['wall_seconds']:.0f} s)")
        return 0
    finally:
        run.stop_all()
        opa.stop()
        fga.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def render(r: dict) -> str:
    m, add, sat, tot = r["median"], r["added_vs_jwt"], r["saturation"], r["totals"]
    la, lb = r["loadavg_start"], r["loadavg_end"]
    lines = [
        f"# Authorization overhead ({r['date']}, {'quick' if r['quick'] else 'full'})", "",
        f"{r['cpus']} CPUs shared by everything: vegeta, nginx, the proxy (1 worker thread), "
        f"OPA, OpenFGA and whatever else runs (load average {la[0]:.1f} at the start, "
        f"{lb[0]:.1f} at the end). 1 KiB object from nginx; one HS256 token (roles [admin]) "
        f"for every prefix. OPA {r['versions']['opa']} (decision log "
        f"{'console' if r['opa_decision_log'] else 'off'}), OpenFGA "
        f"{r['versions']['openfga']} (memory datastore), engine timeout "
        f"{r['engine_timeout_ms']} ms, fail closed. Cold = decision cache off: every request "
        "asks the engine. `*-direct`: vegeta POSTs the proxy's engine request straight to the "
        "engine (no proxy).", "",
        f"## Fixed rate: {r['rate']} req/s, vegeta {r['versions']['vegeta']} keep-alive, "
        f"{r['seconds']} s per run, {r['rounds']} alternating round(s); medians", "",
        "| target | decision cache | success | p50 ms | p99 ms | mean ms | added p50 ms "
        "| added p99 ms | engine ms, proxy's view (mean) | CPU % proxy / engine / machine |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for t in TARGETS:
        x = m[t]
        cache = ("-" if not ENGINE[t] or t in DIRECT else
                 ("on, warm" if t in WARM else "off (cold)"))
        em = "-" if x["engine_ms_mean"] is None else f"{x['engine_ms_mean']:.3f}"
        eng = f"{100 * x['cpu_' + ENGINE[t]]:.0f}" if ENGINE[t] else "-"
        px = f"{100 * x['cpu_proxy']:.0f}" if t in PREFIXES else "-"
        added = (f"{add[t]['p50_ms']:+.3f} | {add[t]['p99_ms']:+.3f}" if t in PREFIXES
                 else "- | -")
        lines.append(
            f"| {label(t)} | {cache} | {100 * x['success']:.2f} % | {x['p50_ms']:.3f} | "
            f"{x['p99_ms']:.3f} | {x['mean_ms']:.3f} | {added} | {em} | "
            f"{px} / {eng} / {100 * x['cpu_machine']:.0f} |")
    lines += [
        "", "## Saturation", "",
        f"The rate doubles from {r['start_rate']} req/s up to {r['max_rate']} "
        f"req/s ({r['step_seconds']} s steps"
        + ("" if r["quick"] else ", then one step between the last good and the first bad rate")
        + f"). A step fails on success < {100 * MIN_SUCCESS:.0f} %, p99 > "
        f"{MAX_P99_FACTOR:.0f}x the target's fixed-rate p99, or successful throughput < "
        f"{100 * MIN_THROUGHPUT:.0f} % of the asked rate; a failing step is tried twice. CPU: "
        f"% of one core per process during the step; machine = all {r['cpus']} CPUs "
        f"({100 * r['cpus']} % = full).", "",
        "| target | last good rate | p50 / p99 ms there | CPU % there | first failing rate "
        "| why | CPU % there |",
        "|---|---|---|---|---|---|---|"]
    for t, s in sat.items():
        g, b = s["good"], s["bad_step"]
        odd = b and set(b["status_codes"]) - {"200"}
        lines.append(
            f"| {label(t)} | {s['last_good_rate'] or '-'} req/s | "
            + (f"{g['p50_ms']:.2f} / {g['p99_ms']:.2f} | {cpu_text(g['cpu'], t)} | "
               if g else "- | - | ")
            + f"{s['first_bad_rate'] or '-'} | {s['why']}"
            + (f"; sent {b['rate_sent']:.0f}/s" if b else "")
            + (f"; codes {b['status_codes']}" if odd else "")
            + "".join(f"; {n} x `{a[:90]}`" for a, n in
                      list((b or {}).get("other_answers", {}).items())[:2])
            + f" | {cpu_text(b['cpu'], t) if b else '-'} |")
    lines += ["", "## Checks (whole run)", "",
              "Proxy and engine counters include the verification requests (per authorization "
              "prefix 3 allowed + 1 denied; per direct target 1).", "",
              "| target | vegeta requests | answered 200 | proxy: allowed | denied "
              "| failed closed | cache hit | cache miss | proxy asked engine | engine counted |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for t in TARGETS:
        x = tot[t]
        if t in PREFIXES:
            lines.append(f"| {label(t)} | {x['sent']} | {x['ok_200']} | {x['allowed']:.0f} | "
                         f"{x['denied']:.0f} | {x['failed_closed']:.0f} | "
                         f"{x['cache_hit']:.0f} | {x['cache_miss']:.0f} | "
                         f"{x['engine_asked']:.0f} | "
                         f"{x['engine_calls'] if ENGINE[t] else '-'} |")
        else:
            lines.append(f"| {t} | {x['sent']} | {x['ok_200']} | - | - | - | - | - | - | "
                         f"{x['engine_calls']} |")
    rss = r["proxy_rss_bytes"]
    lines += ["", f"Warm runs: " + ", ".join(
        f"/{p} {tot[p]['cache_hit']:.0f} hits / {tot[p]['cache_miss']:.0f} misses"
        for p in PREFIXES if p in WARM) + "; cold runs: no cache lookups, engine asked "
        + ", ".join(f"/{p} {tot[p]['engine_asked']:.0f}x for "
                    f"{tot[p]['allowed'] + tot[p]['denied'] + tot[p]['failed_closed']:.0f} "
                    "authorizations" for p in PREFIXES if ENGINE[p] and p not in WARM)
        + f". Proxy alive at the end: {r['proxy_alive']}; RSS "
        + ", ".join(f"{v / 2**20:.1f} MiB {k.replace('_', ' ')}" for k, v in rss.items())
        + f"; {r['proxy_open_fds_end']} open fds at the end; {r['proxy_log_lines']} lines in "
        "its log (level warn)" + "".join(f"; {n} x `{k}`" for k, n in
                                         r["proxy_log_kinds"].items()) + "."]
    bad = {t: n for t, n in r["notes"].items() if n}
    if bad:
        lines += ["", "Run notes (checks that did not hold in some run): "
                  + "; ".join(f"{label(t)}: {', '.join(n)}" for t, n in bad.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
