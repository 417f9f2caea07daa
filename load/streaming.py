#!/usr/bin/env python3
"""Large objects streamed through the proxy (issue #9 item 2): throughput vs the origin, the
proxy's RSS over time, and (PERF-3) nginx and Varnish as plain streaming proxies side by side.
Supersedes load/stream_throughput.py.

One Debian nginx is the origin (files in /<bucket>/<key> layout, signatures ignored, sendfile,
access log on: every backend request is counted). In front of it:

  direct        curl straight from the origin: the baseline of every ratio
  ours          build/yatagarasu (--binary), no cache: every request streams from the origin
  nginx         nginx proxy_pass, proxy_buffering off (proxy_buffer_size 256k), keep-alive
                upstream, worker_processes = --threads
  varnish       varnishd 7.1, VCL `return (pipe)`: the bytes copied between the two sockets
  varnish-pass  VCL `return (pass)` + `beresp.do_stream = true`: streams, but keeps the whole
                body in Transient storage (7.1 has no beresp.transit_buffer), RSS ~ object size;
                so only objects <= --varnish-pass-max-mib (1024) at concurrency 1 (--quick)

Objects (yg_data's pattern: a seeded 1 MiB block, each chunk stamped with its index, so any
dropped, repeated or shifted range changes the SHA-256): full 5 GiB then 10 GiB (the 5 GiB
file is grown in place to 10 GiB and renamed: at most 10 GiB of disk, deleted at the end),
quick 256 MiB. Each object is first downloaded once through ours (--sha-all, default in
--quick: through every contender) with the SHA-256 computed over the stream. Then for each
concurrency (full 1 and 5, quick 1 and 2) every contender in turn (order rotated per case)
serves N simultaneous `curl -o /dev/null` downloads; each must report 200 and size_download ==
object size. Throughput = N x size / wall time of the N downloads (MB/s = 10^6 B/s); ratios
against `direct` in the same run. --compare (default on) adds nginx and varnish; in --quick
only at concurrency 1. --budget-s (full: 840) skips comparison runs that would not leave time
for the remaining direct/ours runs (listed in the results).

RSS of ours, nginx's workers (summed) and varnish's cache (child) process is sampled every
second (0.1 s in --quick); ours' VmHWM (peak RSS) is checked: < 100 MiB full, < 150 MiB quick.
Config verified from ours' /metrics per download set (yatagarasu_response_bytes_total grew by
exactly N x size, N upstream 200s, N requests answered, 0 aborted; over the run every request
X-Cache bypass and 0 cache layer operations) and from the origin's access log (each contender
made exactly N backend requests: nothing cached, nothing retried).

  python3 load/streaming.py                  # 5 + 10 GiB, 1 and 5 concurrent, nginx + varnish
  python3 load/streaming.py --quick          # 256 MiB, 1 and 2 concurrent (CI, < 60 s)
  python3 load/streaming.py --sizes-mib 1024 --concurrency 1,3 --no-compare --reps 3

Writes load/results/streaming_<stamp>.md/.json and _rss.png (RSS over time per case and
contender) and _throughput.png (MB/s bars per case).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
import yg_campaign as ygc  # noqa: E402
import yg_data  # noqa: E402
import yg_load  # noqa: E402
import yg_procs  # noqa: E402

MiB, GiB = yg_data.MiB, yg_data.GiB
BUCKET = "bench-bucket"
SEED = 4242
# SHA-256 of yg_data.chunks(<MiB> * MiB, SEED), so the big files need not be hashed as written
# (CPU time on a shared 2-core machine); other sizes are hashed while written.
KNOWN_SHA256 = {
    256: "aaaf54eed13b4863381d880714b9a7f4a1bea81c296afab2e9e7c20366637632",
    5120: "bb15fc956fa10bbb16873a0983358334a9532caf9224ee0277bcc2a2807b4725",
    10240: "0e9577b0ae42853bbbafb2af452d8555dfdf5c9bceac7861c32a0cad35c8f64e",
}
CONTENDERS = ("direct", "ours", "nginx", "varnish", "varnish-pass")
LABEL = {"direct": "direct (origin nginx)", "ours": "yatagarasu",
         "nginx": "nginx proxy_pass (buffering off)", "varnish": "varnish (pipe)",
         "varnish-pass": "varnish (pass, do_stream)"}

NGINX_PROXY_CONF = """\
worker_processes {workers};
daemon off;
pid {tmp}/ngp.pid;
error_log {tmp}/ngp-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/ngp-body;
    proxy_temp_path {tmp}/ngp-proxy;
    fastcgi_temp_path {tmp}/ngp-fastcgi;
    uwsgi_temp_path {tmp}/ngp-uwsgi;
    scgi_temp_path {tmp}/ngp-scgi;
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 16; }}
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
            proxy_read_timeout 300s;
        }}
    }}
}}
"""

# Varnish 7.1 as a streaming proxy. `pass` + do_stream streams, but the whole body is kept in
# Transient storage while it is delivered (Varnish 7.1 has no beresp.transit_buffer to bound how far
# the fetch runs ahead): RSS ~ the object size, so it runs only on small objects (--varnish-pass-max-mib).
# `pipe` copies the bytes between the two connections: the memory-bounded way, measured at every size.
VARNISH_VCL = {
    "pass": """\
vcl 4.1;
backend origin {{ .host = "127.0.0.1"; .port = "{origin}"; .between_bytes_timeout = 300s; }}
sub vcl_recv {{ return (pass); }}
sub vcl_backend_response {{ set beresp.do_stream = true; }}
""",
    "pipe": """\
vcl 4.1;
backend origin {{ .host = "127.0.0.1"; .port = "{origin}"; .between_bytes_timeout = 300s; }}
sub vcl_recv {{ return (pipe); }}
""",
}


def add_args(ap) -> None:
    ap.add_argument("--sizes-mib", default="",
                    help="object sizes in MiB, ascending (default 5120,10240; quick 256)")
    ap.add_argument("--concurrency", default="",
                    help="simultaneous downloads per case (default 1,5; quick 1,2)")
    ap.add_argument("--compare", dest="compare", action="store_true", default=None,
                    help="also measure nginx and varnish (default on; quick: at concurrency 1)")
    ap.add_argument("--no-compare", dest="compare", action="store_false")
    ap.add_argument("--sha-all", dest="sha_all", action="store_true", default=None,
                    help="SHA-256-check a download through every contender, not only ours "
                         "(default: quick only; hashing 10 GiB in Python takes a while)")
    ap.add_argument("--budget-s", type=int, default=None,
                    help="time budget in s (default 840 full, none quick): comparison runs that "
                         "would not leave time for the remaining direct/ours runs are skipped "
                         "(listed in the results)")
    ap.add_argument("--reps", type=int, default=0,
                    help="repetitions per case and contender (default 1; quick 2), median kept")
    ap.add_argument("--threads", type=int, default=2,
                    help="proxy server.threads = nginx worker_processes (default 2)")
    ap.add_argument("--rss-limit-mib", type=float, default=0,
                    help="bound on ours' peak RSS (default 100; quick 150)")
    ap.add_argument("--varnishd", default=os.environ.get("YG_VARNISHD", ""))
    ap.add_argument("--varnish-pass-max-mib", type=int, default=1024,
                    help="largest object sent through varnish in pass mode, at concurrency 1 "
                         "(it keeps the whole body in memory; default 1024)")


# --- objects --------------------------------------------------------------------------------

class ObjectFile:
    """The test object on disk, grown in place: extend(to) appends yg_data chunks (the same
    pattern and seed, so a smaller object is a prefix of a larger one) and renames the file."""

    def __init__(self, www: Path, need_hash: bool = True):
        self.need_hash = need_hash
        self.dir = www / BUCKET
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = None
        self.size = 0
        self.hasher = hashlib.sha256()
        self.base = yg_data._base_block(SEED)

    def extend(self, size: int) -> tuple:
        assert size >= self.size and size % MiB == 0 and self.size % MiB == 0
        key = f"obj-{size // MiB}m.bin"
        new = self.dir / key
        if self.path is None:
            new.touch()
        else:
            self.path.rename(new)
        self.path = new
        import struct
        with open(new, "ab") as f:
            for index in range(self.size // MiB, size // MiB):
                chunk = struct.pack(">Q", index) + self.base[8:]
                if self.need_hash:
                    self.hasher.update(chunk)
                f.write(chunk)
        self.size = size
        new.chmod(0o644)
        if (size // MiB) in KNOWN_SHA256:
            return key, KNOWN_SHA256[size // MiB]
        return key, self.hasher.copy().hexdigest()

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


# --- downloads ------------------------------------------------------------------------------

def sha_download(port: int, path: str, timeout: float) -> dict:
    """GET with the body hashed as it arrives (1 MiB reads), the bytes counted."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        h = hashlib.sha256()
        buf = bytearray(1 << 20)
        mv = memoryview(buf)
        n = 0
        while True:
            k = r.readinto(mv)
            if not k:
                break
            h.update(mv[:k])
            n += k
        headers = {k.lower(): v for k, v in r.getheaders()}
        return {"status": r.status, "bytes": n, "sha256": h.hexdigest(),
                "seconds": time.monotonic() - t0, "headers": headers}
    finally:
        conn.close()


def curl_many(url: str, n: int, timeout: int) -> dict:
    """n simultaneous curl downloads to /dev/null; wall time of the whole set."""
    fmt = "%{http_code} %{size_download} %{time_total}"
    t0 = time.monotonic()
    procs = [subprocess.Popen(["curl", "-sS", "--max-time", str(timeout), "-o", "/dev/null",
                               "-w", fmt, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(n)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout + 30)
        parts = out.split()
        outs.append({"rc": p.returncode, "err": err.strip(),
                     "code": int(parts[0]) if parts else 0,
                     "bytes": int(parts[1]) if len(parts) > 1 else 0,
                     "seconds": float(parts[2]) if len(parts) > 2 else 0.0})
    wall = time.monotonic() - t0
    return {"wall_s": wall, "downloads": outs}


# --- contenders -----------------------------------------------------------------------------

def ours_yaml(origin: int, threads: int):
    def fn(port: int) -> str:
        return f"""server:
  address: "127.0.0.1"
  port: {port}
  threads: {threads}
  request_timeout: 3600
logging:
  level: warn
  format: json
  access_log: false
{yg_load.origin_bucket_yaml(origin, BUCKET)}"""
    return fn


def start_nginx_proxy(c: ygc.Campaign, origin: int, workers: int) -> tuple:
    port = yg_procs.free_port()
    yg_load.make_temp_dirs(c.tmp, prefix="ngp-")
    conf = c.tmp / "ngp.conf"
    conf.write_text(NGINX_PROXY_CONF.format(workers=workers, tmp=c.tmp, origin=origin, port=port))
    c.configs["nginx"] = conf.read_text()
    err = c.tmp / "ngp-error.log"
    p = c.run.start("nginx-proxy", [yg_load.nginx_binary(), "-p", str(c.tmp), "-c", str(conf),
                                    "-e", str(err)], c.tmp / "ngp.out", stop_sig=signal.SIGQUIT)
    yg_procs.wait_port(port, proc=p, what="nginx proxy", log=err)
    return port, p


def start_varnish(c: ygc.Campaign, origin: int, varnishd: str, mode: str) -> tuple:
    name = "varnish" if mode == "pipe" else "varnish-pass"
    port = yg_procs.free_port()
    vcl = c.tmp / f"{name}.vcl"
    vcl.write_text(VARNISH_VCL[mode].format(origin=origin))
    c.configs[name] = vcl.read_text()
    log = c.tmp / f"{name}.log"
    (c.tmp / "varnish").mkdir(exist_ok=True)
    p = c.run.start(name, [varnishd, "-F", "-a", f"127.0.0.1:{port}", "-f", str(vcl),
                           "-n", str(c.tmp / "varnish" / name), "-s", "malloc,64m"], log)
    yg_procs.wait_port(port, proc=p, what="varnishd", log=log)
    return port, p


def wait_children(pid: int, want: int, timeout: float = 15.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        kids = ygc.children(pid)
        if len(kids) >= want or time.monotonic() > deadline:
            return kids
        time.sleep(0.1)


# --- the campaign ---------------------------------------------------------------------------

def main(argv=None) -> int:
    c = ygc.Campaign("streaming", __doc__, argv, add_args)
    a = c.args
    quick = a.quick
    sizes = [int(s) * MiB for s in (a.sizes_mib or ("256" if quick else "5120,10240")).split(",")]
    concs = [int(s) for s in (a.concurrency or ("1,2" if quick else "1,5")).split(",")]
    compare = a.compare if a.compare is not None else True
    sha_all = a.sha_all if a.sha_all is not None else quick
    a.reps = a.reps or (2 if quick else 1)
    rss_limit = (a.rss_limit_mib or (150 if quick else 100)) * MiB
    if sizes != sorted(sizes):
        print("--sizes-mib must be ascending (the object file is grown in place)", file=sys.stderr)
        return 2
    if compare and not a.varnishd:
        a.varnishd = shutil.which("varnishd") or "/usr/sbin/varnishd"
        if not os.access(a.varnishd, os.X_OK):
            print("varnishd not found: scripts/install-load-tools.sh varnish, or --no-compare",
                  file=sys.stderr)
            return 2
    free = shutil.disk_usage(c.tmp).free
    if free < sizes[-1] + 4 * GiB:
        print(f"needs {sizes[-1] / GiB:.1f} GiB + 4 GiB free in {c.tmp}, has {free / GiB:.1f}",
              file=sys.stderr)
        return 2

    def in_case(name: str, n: int, size: int) -> bool:
        if name in ("direct", "ours"):
            return True
        if name == "varnish-pass" and (n > 1 or size > a.varnish_pass_max_mib * MiB):
            return False
        return compare and (not quick or n == 1)

    obj = ObjectFile(c.tmp / "www", any(x // MiB not in KNOWN_SHA256 for x in sizes))
    with c:
        try:
            origin = yg_load.start_origin(c.run, c.tmp, {}, workers=a.threads,
                                          access_log=str(c.tmp / "origin-access.log"))
            origin_log = ygc.LineCounter(c.tmp / "origin-access.log")
            ports = {"direct": origin}
            prefix = {"direct": f"/{BUCKET}", "ours": "/bench", "nginx": f"/{BUCKET}",
                      "varnish": f"/{BUCKET}", "varnish-pass": f"/{BUCKET}"}
            px = c.start_proxy("ours", ours_yaml(origin, a.threads))
            ports["ours"] = px.port
            pids = {"ours": px.pid}
            versions = {"nginx": ygc_version([yg_load.nginx_binary(), "-v"])}
            if compare:
                ports["nginx"], ngp = start_nginx_proxy(c, origin, a.threads)
                for i, w in enumerate(wait_children(ngp.pid, a.threads)):
                    pids[f"nginx.w{i}"] = w
                for mode in ("pipe", "pass"):
                    name = "varnish" if mode == "pipe" else "varnish-pass"
                    if mode == "pass" and sizes[0] > a.varnish_pass_max_mib * MiB:
                        continue
                    ports[name], vp = start_varnish(c, origin, a.varnishd, mode)
                    kids = wait_children(vp.pid, 1)
                    if not kids:
                        raise RuntimeError(f"{name}: varnishd started no cache process")
                    pids[name] = kids[0]
                versions["varnish"] = ygc_version([a.varnishd, "-V"])
            active = [n for n in CONTENDERS if n in ports]
            idle = {n: rss_of(n, ygc_sample(pids)) for n in active if n != "direct"}
            sampler = ygc.Sampler(pids, interval=0.1 if quick else 1.0)
            sampler.start()
            m_start = px.metrics()
            ours_bytes = 0
            ours_requests = 0
            verify, cases, windows = [], [], []
            # The plan: (kind, size, concurrency, rep, contender) in order; `gen` and `sha`
            # steps and every direct/ours run are mandatory, a comparison run is skipped when
            # the time budget would not leave room for the mandatory steps after it (and, for
            # a concurrent one, for the later single-download comparison runs).
            plan = []
            case_no = 0
            for size in sizes:
                plan.append(("gen", size, 0, 0, ""))
                plan += [("sha", size, 1, 0, x) for x in active
                         if in_case(x, 1, size) and (sha_all or x == "ours")]
                for n in concs:
                    names = [x for x in active if in_case(x, n, size)]
                    k = case_no % len(names)
                    case_no += 1
                    for rep in range(a.reps):
                        plan += [("run", size, n, rep, x) for x in names[k:] + names[:k]]
            rate = {}  # measured bytes/s per (kind or contender), the slowest seen
            guess = {"gen": 150e6, "sha": 150e6, "direct": 300e6, "ours": 300e6}

            def est(step) -> float:
                kind, size, n, _, name = step
                key = name if kind == "run" else kind
                return max(n, 1) * size / rate.get(key, guess.get(key, 150e6))

            def prio(step) -> int:
                kind, _, n, _, name = step
                if kind != "run" or name in ("direct", "ours"):
                    return 0
                return 1 if n == 1 else 2

            def seen(key, nbytes, seconds):
                r = nbytes / max(seconds, 1e-3)
                rate[key] = min(rate.get(key, r), r)

            budget = a.budget_s if a.budget_s is not None else (0 if quick else 840)
            skipped = []
            key = digest = None
            for i, step in enumerate(plan):
                kind, size, n, rep, name = step
                timeout = max(120, int(size / (20 * MiB)) * max(concs))
                if kind == "gen":
                    print(f"== object {size // MiB} MiB: writing ...", flush=True)
                    t0 = time.monotonic()
                    grown = size - obj.size
                    key, digest = obj.extend(size)
                    seen("gen", grown, time.monotonic() - t0)
                    print(f"   written in {time.monotonic() - t0:.1f} s; sha256 {digest[:16]}...",
                          flush=True)
                    continue
                if kind == "sha":
                    # The SHA-256 of the stream as it arrives: the bytes are right (and the
                    # page cache and connection paths warm).
                    origin_log.advance(0.05)
                    before = px.metrics() if name == "ours" else None
                    r = sha_download(ports[name], f"{prefix[name]}/{key}", timeout)
                    seen("sha", r["bytes"], r["seconds"])
                    backend = origin_log.advance()
                    ok = r["status"] == 200 and r["bytes"] == size and r["sha256"] == digest
                    verify.append({"size": size, "contender": name, "status": r["status"],
                                   "bytes": r["bytes"], "sha256_ok": r["sha256"] == digest,
                                   "seconds": round(r["seconds"], 2), "origin_requests": backend,
                                   "content_length": r["headers"].get("content-length"),
                                   "transfer_encoding": r["headers"].get("transfer-encoding"),
                                   "x_varnish": r["headers"].get("x-varnish")})
                    c.check(f"{size // MiB} MiB via {name}: 200, {size} bytes, SHA-256 of the "
                            "stream matches", ok,
                            f"status {r['status']}, {r['bytes']} bytes, sha ok "
                            f"{r['sha256'] == digest}, {r['seconds']:.1f} s")
                    c.verify_config(f"{size // MiB} MiB via {name}: one origin request "
                                    "(nothing cached)", backend == 1, f"{backend} origin requests")
                    if name == "ours":
                        ours_bytes += r["bytes"]
                        ours_requests += 1
                        check_ours_metrics(c, px.metrics(), before, 1, size,
                                           f"{size // MiB} MiB SHA download")
                    continue
                if budget and prio(step) > 0:
                    # what must still fit after this run: the mandatory steps, and for a
                    # concurrent comparison run also the single-download comparison runs
                    mandatory = sum(est(x) for x in plan[i + 1:] if prio(x) < prio(step))
                    left = budget - (time.monotonic() - c.started)
                    if est(step) + mandatory > left:
                        skipped.append({"size": size, "concurrency": n, "rep": rep,
                                        "contender": name, "estimate_s": round(est(step)),
                                        "left_s": round(left)})
                        print(f"   {size // MiB} MiB x{n} {name:8s} rep {rep}: SKIPPED (needs "
                              f"~{est(step):.0f} s + {mandatory:.0f} s mandatory, "
                              f"{left:.0f} s of the budget left)", flush=True)
                        continue
                url = f"http://127.0.0.1:{ports[name]}{prefix[name]}/{key}"
                origin_log.advance(0.05)
                before = px.metrics() if name == "ours" else None
                w0 = time.monotonic() - sampler.t0
                res = curl_many(url, n, timeout)
                w1 = time.monotonic() - sampler.t0
                seen(name, n * size, res["wall_s"])
                backend = origin_log.advance()
                dls = res["downloads"]
                bad = [d for d in dls if d["rc"] != 0 or d["code"] != 200 or d["bytes"] != size]
                mbps = n * size / res["wall_s"] / 1e6
                cases.append({"size": size, "concurrency": n, "contender": name, "rep": rep,
                              "wall_s": round(res["wall_s"], 3), "MB_s": round(mbps, 1),
                              "bad_downloads": len(bad), "downloads": dls,
                              "origin_requests": backend, "window": [round(w0, 2), round(w1, 2)]})
                windows.append((name, size, n, w0, w1))
                print(f"   {size // MiB} MiB x{n} {name:8s} rep {rep}: {mbps:8.0f} MB/s "
                      f"({res['wall_s']:.2f} s)", flush=True)
                c.check(f"{size // MiB} MiB x{n} via {name} rep {rep}: every download 200 with "
                        f"{size} bytes", not bad, f"{len(bad)} bad: {bad[:2]}" if bad else "")
                c.verify_config(f"{size // MiB} MiB x{n} via {name} rep {rep}: {n} origin "
                                "request(s)", backend == n, f"{backend} origin requests")
                if name == "ours":
                    ours_bytes += sum(d["bytes"] for d in dls)
                    ours_requests += n
                    check_ours_metrics(c, px.metrics(), before, n, size,
                                       f"{size // MiB} MiB x{n} rep {rep}")
            rows = sampler.stop()
            m_end = px.metrics()
        finally:
            obj.remove()

        # whole-run metric checks (ours)
        got = ygc.delta(m_end, m_start, "yatagarasu_response_bytes_total")
        c.verify_config("ours: yatagarasu_response_bytes_total grew by every byte downloaded "
                        "through it", got == ours_bytes, f"{got:.0f} vs {ours_bytes}")
        results = {dict(ls).get("result"): v for (n_, ls), v in m_end.items()
                   if n_ == "yatagarasu_cache_requests_total" and v}
        layer_ops = ygc.total(m_end, "yatagarasu_cache_layer_operations_total")
        c.verify_config("ours: no cache (every request X-Cache bypass, 0 cache layer "
                        "operations)", set(results) <= {"bypass"} and layer_ops == 0
                        and results.get("bypass", 0) == ours_requests,
                        f"cache results {results}, {layer_ops:.0f} layer operations, "
                        f"{ours_requests} requests")
        hwm = {n: 0 for n in idle}
        hwm["ours"] = ygc.proc_stats(px.pid)["hwm"]
        for n in idle:
            if n != "ours":
                hwm[n] = sum(ygc.proc_stats(p)["hwm"] for k, p in pids.items()
                             if k.split(".")[0] == n)
        c.check(f"ours: peak RSS (VmHWM) < {rss_limit / MiB:.0f} MiB", hwm["ours"] < rss_limit,
                f"{hwm['ours'] / MiB:.1f} MiB (idle {idle['ours'] / MiB:.1f} MiB)")

        # per-case summary: median MB/s over reps, peak sampled RSS inside the windows
        summary = []
        for size in sizes:
            for n in concs:
                row = {"size": size, "concurrency": n}
                for name in active:
                    cs = [x for x in cases if x["size"] == size and x["concurrency"] == n
                          and x["contender"] == name]
                    if not cs:
                        continue
                    row[f"{name}_MB_s"] = round(statistics.median(x["MB_s"] for x in cs), 1)
                    if name != "direct":
                        rs = [rss_of(name, r) for r in rows
                              if any(w[0] == name and w[1] == size and w[2] == n
                                     and w[3] <= r["t"] <= w[4] + 0.5 for w in windows)]
                        row[f"{name}_rss_MiB"] = round(max(rs) / MiB, 1) if rs else None
                d = row.get("direct_MB_s")
                for name in CONTENDERS[1:]:
                    if d and row.get(f"{name}_MB_s"):
                        row[f"{name}_ratio"] = round(row[f"{name}_MB_s"] / d, 3)
                summary.append(row)
        floor = 0.25 if quick else 0.5
        for row in summary:
            r = row.get("ours_ratio")
            c.check(f"{row['size'] // MiB} MiB x{row['concurrency']}: ours/direct throughput "
                    f">= {floor}", r is not None and r >= floor, f"{r}")

        c.result = {"sizes": sizes, "concurrency": concs, "compare": compare,
                    "threads": a.threads, "reps": a.reps, "versions": versions,
                    "rss_limit_MiB": rss_limit / MiB,
                    "idle_rss_MiB": {k: round(v / MiB, 1) for k, v in idle.items()},
                    "peak_rss_hwm_MiB": {k: round(v / MiB, 1) for k, v in hwm.items()},
                    "summary": summary, "verify": verify, "cases": cases,
                    "samples": rows, "pids": pids, "skipped": skipped,
                    "rates_slowest_MB_s": {k: round(v / 1e6, 1) for k, v in rate.items()},
                    "nginx_proxy": "proxy_buffering off, proxy_buffer_size 256k, keepalive 16 "
                                   f"upstream, worker_processes {a.threads}",
                    "varnish": "VCL return(pipe); RSS = its cache (child) process",
                    "varnish_pass": "VCL return(pass) + beresp.do_stream = true, -s malloc,64m, "
                                    "Transient storage default (unbounded); objects <= "
                                    f"{a.varnish_pass_max_mib} MiB at concurrency 1 only"}
        c.table = render(summary, active, idle, hwm, a, versions, skipped)
        plots(c, summary, rows, windows, active, sizes, concs)
    # the processes are stopped: drop varnish's working dir (its shared-memory log files)
    shutil.rmtree(c.tmp / "varnish", ignore_errors=True)
    return c.exit_code()


def check_ours_metrics(c, after, before, n, size, what) -> None:
    got = ygc.delta(after, before, "yatagarasu_response_bytes_total")
    ups = ygc.delta(after, before, "yatagarasu_upstream_responses_total", status="200")
    reqs = ygc.delta(after, before, "yatagarasu_requests_total", status="200")
    aborted = ygc.delta(after, before, "yatagarasu_responses_aborted_total")
    c.verify_config(f"ours {what}: response_bytes_total +{n * size}, {n} upstream 200s, "
                    f"{n} requests answered 200, 0 aborted",
                    got == n * size and ups == n and reqs == n and aborted == 0,
                    f"+{got:.0f} bytes, {ups:.0f} upstream 200s, {reqs:.0f} requests, "
                    f"{aborted:.0f} aborted")


def ygc_version(cmd) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return ((out.stdout + out.stderr).strip().splitlines() or ["?"])[0]
    except OSError:
        return "?"


def ygc_sample(pids: dict) -> dict:
    row = {}
    for name, pid in pids.items():
        row[f"{name}.rss"] = ygc.proc_stats(pid)["rss"]
    return row


def rss_of(name: str, row: dict) -> int:
    """The contender's RSS in one sample row: ours, nginx's workers summed, varnish's child."""
    return sum(v for k, v in row.items() if k.endswith(".rss") and k.split(".")[0] == name)


def render(summary, active, idle, hwm, a, versions, skipped) -> str:
    names = [n for n in CONTENDERS if n in active]
    head = ["object", "conc."] + [f"{n} MB/s" for n in names] \
        + [f"{n}/direct" for n in names if n != "direct"] \
        + [f"{n} RSS MiB" for n in names if n != "direct"]
    rows = []
    for r in summary:
        rows.append([f"{r['size'] // MiB} MiB", r["concurrency"]]
                    + [r.get(f"{n}_MB_s") for n in names]
                    + [r.get(f"{n}_ratio") for n in names if n != "direct"]
                    + [r.get(f"{n}_rss_MiB") for n in names if n != "direct"])
    lines = [ygc.fmt_table(head, rows), "",
             "MB/s = 10^6 bytes/s, aggregate over the concurrent downloads (N x size / wall "
             "time); ratios against `direct` (curl from the origin nginx) in the same run. "
             "RSS columns: the peak of the samples taken during that case (nginx: its workers "
             "summed; varnish: its cache process).", "",
             ygc.fmt_table(["process", "idle RSS MiB", "peak RSS (VmHWM) MiB"],
                           [[LABEL[n], round(idle[n] / MiB, 1), round(hwm[n] / MiB, 1)]
                            for n in names if n != "direct"]), "",
             f"Proxy `server.threads: {a.threads}`, nginx `worker_processes {a.threads}` "
             f"(origin and proxy), {versions.get('nginx', '')}"
             + (f", {versions['varnish']}" if "varnish" in versions else "")
             + f"; {a.reps} repetition(s) per case and contender, order rotated per case."]
    if skipped:
        lines += ["", "Skipped to stay within the time budget (--budget-s): "
                  + ", ".join(f"{x['contender']} {x['size'] // MiB} MiB x{x['concurrency']}"
                              for x in skipped) + "."]
    return "\n".join(lines)


def plots(c, summary, rows, windows, active, sizes, concs) -> None:
    panels = []
    for size in sizes:
        for n in concs:
            series = {}
            for name in CONTENDERS[1:]:  # the same order (and colour) in every panel
                w = [x for x in windows if x[0] == name and x[1] == size and x[2] == n]
                if not w:
                    continue
                w0, w1 = w[0][3], w[0][4]
                pts = [(r["t"] - w0, rss_of(name, r) / MiB) for r in rows
                       if w0 - 1 <= r["t"] <= w1 + 1]
                if pts:
                    series[LABEL[name]] = ([p[0] for p in pts], [p[1] for p in pts])
            if series:
                panels.append({"title": f"RSS while streaming {size // MiB} MiB x{n} (first rep)",
                               "xlabel": "s since the contender's downloads started",
                               "ylabel": "RSS MiB", "series": series, "legend": True,
                               "hline": (c.args.rss_limit_mib or (150 if c.args.quick else 100),
                                         "ours' RSS bound")})
    c.plot("rss", panels)
    bars = []
    for r in summary:
        series = {LABEL[n]: r[f"{n}_MB_s"] for n in CONTENDERS if r.get(f"{n}_MB_s")}
        bars.append({"title": f"{r['size'] // MiB} MiB x{r['concurrency']}: aggregate MB/s",
                     "kind": "bar", "ylabel": "MB/s", "series": series})
    c.plot("throughput", bars)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
