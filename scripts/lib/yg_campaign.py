"""What the load campaigns under load/ share (issue #9): the command line (--quick/--full),
starting proxies from a config and proving the config does what the figure claims (metrics
scraped during the run), sampling processes over time (RSS, fds, CPU, threads), checks that fail
the run in --quick mode (CI), plots (PNG via matplotlib), and results with the machine
description.

    from yg_campaign import Campaign
    c = Campaign("pipeline", __doc__)          # parses --quick etc.
    with c:                                    # stops every process on exit, writes results
        px = c.start_proxy("ours", yaml_fn)     # yaml_fn(port) -> config text
        ...
        c.check("no errors", errors == 0, f"{errors} errors")
        c.plot("latency.png", ...)
        c.result["rows"] = rows
        c.table = render(rows)

Results go to load/results/<name>_<stamp>.md/.json (+ plots named <name>_<stamp>_<what>.png);
the .json carries `machine`, `args`, `checks` and the campaign's own `result`.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import yg_procs
from yg_load import REPO, LineCounter, Run, raise_on_sigterm  # noqa: F401 - LineCounter re-exported

sys.path.insert(0, str(REPO / "tests" / "support"))

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


# --------------------------------------------------------------------------------------------
# metrics


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> Samples:
    """Every sample of /metrics as {(name, sorted label items): value}."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as r:
        text = r.read().decode()
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(m: Samples, name: str, **labels) -> float:
    """Sum of every series of `name` whose labels include `labels` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in m.items() if n == name and want <= set(ls))


def delta(after: Samples, before: Samples, name: str, **labels) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


# --------------------------------------------------------------------------------------------
# processes


def proc_stats(pid: int) -> dict:
    """RSS and peak RSS (bytes), open fds, threads and CPU seconds (user+system) of a process."""
    out = {"rss": 0, "hwm": 0, "fds": 0, "threads": 0, "cpu_s": 0.0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, rest = line.partition(":")
                if k == "VmRSS":
                    out["rss"] = int(rest.split()[0]) * 1024
                elif k == "VmHWM":
                    out["hwm"] = int(rest.split()[0]) * 1024
                elif k == "Threads":
                    out["threads"] = int(rest.split()[0])
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        out["cpu_s"] = (int(fields[11]) + int(fields[12])) / tck
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return out


def thread_cpu(pid: int) -> Dict[str, float]:
    """CPU seconds per thread name (threads sharing a name are summed)."""
    tck = os.sysconf("SC_CLK_TCK")
    out: Dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tck
    return out


class Sampler(threading.Thread):
    """Samples processes every `interval` s until stop(): rows of {t, <name>.rss, .fds, .cpu_s,
    .threads} plus whatever `extra(t)` returns (e.g. metrics read from /metrics)."""

    def __init__(self, pids: Dict[str, int], interval: float = 1.0,
                 extra: Optional[Callable[[float], dict]] = None):
        super().__init__(daemon=True)
        self.pids, self.interval, self.extra = pids, interval, extra
        self.rows: List[dict] = []
        self.t0 = time.monotonic()
        self._stop_ev = threading.Event()
        self.errors: List[str] = []

    def sample(self) -> dict:
        t = time.monotonic() - self.t0
        row = {"t": round(t, 3)}
        for name, pid in self.pids.items():
            for k, v in proc_stats(pid).items():
                row[f"{name}.{k}"] = v
        if self.extra:
            try:
                row.update(self.extra(t))
            except Exception as e:  # noqa: BLE001 - a missed sample is recorded, not fatal
                self.errors.append(repr(e))
        return row

    def run(self):
        while not self._stop_ev.is_set():
            self.rows.append(self.sample())
            self._stop_ev.wait(self.interval)

    def stop(self) -> List[dict]:
        self._stop_ev.set()
        self.join(timeout=10)
        self.rows.append(self.sample())
        return self.rows

    def column(self, key: str) -> Tuple[List[float], List[float]]:
        xs = [r["t"] for r in self.rows if key in r]
        return xs, [r[key] for r in self.rows if key in r]


def children(pid: int) -> List[int]:
    """The direct children of a process (e.g. nginx's workers, varnishd's cache process)."""
    out: List[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                out += [int(x) for x in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except FileNotFoundError:
                continue
    except FileNotFoundError:
        pass
    return sorted(set(out))


def raise_nofile(n: int) -> Tuple[int, int]:
    """Raises this process's RLIMIT_NOFILE (soft and, as root, hard) to at least `n`; the
    processes started afterwards inherit it. Returns (old soft, new soft)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return soft, want
        except (ValueError, PermissionError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return soft, want


def growth_after_warmup(xs: Sequence[float], ys: Sequence[float], warmup_frac: float = 0.25
                        ) -> dict:
    """The slope check of the endurance runs: a least-squares line through the samples after
    the warm-up; growth = (fitted end - fitted start) / fitted start. Robust to one spike."""
    pts = [(x, y) for x, y in zip(xs, ys) if x >= xs[0] + (xs[-1] - xs[0]) * warmup_frac]
    if len(pts) < 3:
        return {"samples": len(pts), "growth": None}
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts) or 1e-9
    slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    start = my + slope * (pts[0][0] - mx)
    end = my + slope * (pts[-1][0] - mx)
    return {"samples": n, "slope_per_s": slope, "start": start, "end": end,
            "growth": (end - start) / start if start else None}


def percentile(xs: Sequence[float], q: float) -> Optional[float]:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))]


# --------------------------------------------------------------------------------------------
# constant-rate load (vegeta)


def vegeta_attack(targets: Sequence[str], rate: int, seconds: float,
                  headers: Optional[Dict[str, str]] = None, workers: int = 32,
                  max_workers: int = 0, timeout_s: int = 30, keepalive: bool = True,
                  cpus: Optional[Iterable[int]] = None, max_body: Optional[int] = None
                  ) -> List[dict]:
    """`vegeta attack` at `rate` req/s for `seconds` over `targets` (full URLs, round robin);
    returns one row per request: {t (s from the first), ms, code, bytes, error, url, clen (the
    Content-Length header, -1 when none), x_cache}. Blocks.

    `max_body`: vegeta's -max-body (bytes of each body kept in its results); the row then also
    carries the kept bytes as `body`. Large objects and long runs want it: without it every
    body is stored whole and encoded (base64 JSON), minutes of CPU for a 2-minute run of
    32 KiB objects. vegeta still reads the rest (a body shorter than its Content-Length is an
    error row) but `bytes` is then what was kept: check `clen` instead."""
    import vegeta  # tests/support/vegeta.py: the pinned binary, built when missing

    d = Path(tempfile.mkdtemp(prefix="yg-vegeta-"))
    lines = []
    for t in targets:
        lines.append(f"GET {t}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        lines.append("")
    (d / "targets.txt").write_text("\n".join(lines))
    cmd = [str(vegeta.binary()), "attack", "-rate", f"{rate}/s", "-duration", f"{seconds}s",
           f"-keepalive={'true' if keepalive else 'false'}", "-timeout", f"{timeout_s}s",
           "-workers", str(workers), "-targets", str(d / "targets.txt"),
           "-output", str(d / "results.bin")]
    if max_workers:
        cmd += ["-max-workers", str(max_workers)]
    if max_body is not None:
        cmd += ["-max-body", str(max_body)]
    cpu_set = set(cpus) if cpus else None
    subprocess.run(cmd, check=True, timeout=seconds + timeout_s + 60, stdout=subprocess.DEVNULL,
                   preexec_fn=(lambda: os.sched_setaffinity(0, cpu_set)) if cpu_set else None)
    enc = subprocess.run([str(vegeta.binary()), "encode", "-to", "json", str(d / "results.bin")],
                         capture_output=True, text=True, check=True, timeout=300)
    rows = []
    for line in enc.stdout.splitlines():
        r = json.loads(line)
        hdr = r.get("headers") or {}
        row = {"ts": r["timestamp"], "ms": r["latency"] / 1e6, "code": r["code"],
               "bytes": r["bytes_in"], "error": r.get("error", ""), "url": r.get("url", ""),
               "clen": int((hdr.get("Content-Length") or ["-1"])[0]),
               "x_cache": (hdr.get("X-Cache") or [""])[0]}
        if max_body is not None:
            row["body"] = base64.b64decode(r.get("body") or "")
        rows.append(row)
    rows.sort(key=lambda r: r["ts"])
    if rows:
        t0 = _rfc3339_s(rows[0]["ts"])
        for r in rows:
            r["t"] = _rfc3339_s(r.pop("ts")) - t0
    for f in d.iterdir():
        f.unlink()
    d.rmdir()
    return rows


def _rfc3339_s(ts: str) -> float:
    # vegeta writes nanosecond RFC 3339 stamps; Python parses microseconds
    head, _, frac = ts.partition(".")
    tz = ""
    for sep in ("Z", "+", "-"):
        if sep in frac:
            i = frac.index(sep)
            frac, tz = frac[:i], frac[i:]
            break
    base = datetime.datetime.fromisoformat(head + (tz.replace("Z", "+00:00") or "+00:00"))
    return base.timestamp() + (float("0." + frac) if frac else 0.0)


def per_second(rows: Sequence[dict], ok: Callable[[dict], bool] = lambda r: r["code"] == 200
               ) -> List[dict]:
    """Buckets vegeta rows by second: {t, n, errors, p50_ms, p99_ms}."""
    by: Dict[int, List[dict]] = {}
    for r in rows:
        by.setdefault(int(r["t"]), []).append(r)
    out = []
    for sec in sorted(by):
        rs = by[sec]
        lat = [r["ms"] for r in rs]
        out.append({"t": sec, "n": len(rs), "errors": sum(1 for r in rs if not ok(r)),
                    "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)})
    return out


def summary(rows: Sequence[dict], ok: Callable[[dict], bool] = lambda r: r["code"] == 200
            ) -> dict:
    lat = [r["ms"] for r in rows]
    span = (rows[-1]["t"] - rows[0]["t"]) if len(rows) > 1 else 0.0
    return {"requests": len(rows), "errors": sum(1 for r in rows if not ok(r)),
            "rate": (len(rows) - 1) / span if span else None,
            "p50_ms": percentile(lat, 50), "p90_ms": percentile(lat, 90),
            "p99_ms": percentile(lat, 99), "max_ms": max(lat) if lat else None,
            "codes": {str(c): sum(1 for r in rows if r["code"] == c)
                      for c in sorted({r["code"] for r in rows})}}


# --------------------------------------------------------------------------------------------
# the machine


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {"cpu": cpu, "cpus": os.cpu_count(), "mem_bytes": mem, "kernel": platform.release(),
            "os": _os_release(), "git": rev, "loadavg_at_start": [round(x, 2) for x in load],
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


# --------------------------------------------------------------------------------------------
# the campaign


class Proxy:
    """A started yatagarasu: its port, process, config path and log."""

    def __init__(self, name: str, port: int, proc: subprocess.Popen, config: Path, log: Path):
        self.name, self.port, self.proc, self.config, self.log = name, port, proc, config, log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def metrics(self) -> Samples:
        return scrape(self.port)


class Campaign:
    """One load campaign: argument parsing, a temp dir, the process set, checks and results."""

    def __init__(self, name: str, doc: str, argv=None,
                 add_args: Optional[Callable[[argparse.ArgumentParser], None]] = None):
        ap = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
        ap.add_argument("--quick", action="store_true",
                        help="the short CI mode: small sizes, short windows, checks enforced")
        ap.add_argument("--binary", type=Path, default=Path(os.environ.get(
            "YG_BINARY", REPO / "build" / "yatagarasu")))
        ap.add_argument("--out-dir", type=Path, default=REPO / "load" / "results")
        ap.add_argument("--no-checks", action="store_true",
                        help="report failed checks but exit 0 (exploratory full runs)")
        if add_args:
            add_args(ap)
        self.args = ap.parse_args(argv)
        self.name = name
        self.mode = "quick" if self.args.quick else "full"
        self.run = Run()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"yg-{name}-"))
        self.tmp.chmod(0o755)  # nginx workers drop root and must read what is in here
        self.checks: List[dict] = []
        self.result: dict = {}
        self.table = ""
        self.plots: List[Path] = []
        self.configs: Dict[str, str] = {}  # proxy name -> the config it ran (in the .json)
        self.stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.machine = machine()
        self.started = time.monotonic()

    # -- lifecycle
    def __enter__(self) -> "Campaign":
        raise_on_sigterm()
        print(f"{self.name} ({self.mode}); temp dir {self.tmp}", flush=True)
        return self

    def __exit__(self, exc_type, exc, tb):
        self.run.stop_all()
        if exc_type is not None:
            print(f"{self.name}: aborted by {exc_type.__name__}: {exc}; logs and configs kept "
                  f"in {self.tmp}", file=sys.stderr)
            return False
        self._write()
        if self.failed() and not os.environ.get("YG_CAMPAIGN_DELETE_TMP"):
            print(f"{self.name}: failed checks; logs and configs kept in {self.tmp}")
        else:
            # Objects of gigabytes live here: never leave them behind after a good run.
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    # -- processes
    def start_proxy(self, name: str, yaml_fn: Callable[[int], str], cpus=None,
                    check_config: bool = True, env: Optional[dict] = None) -> Proxy:
        """Writes yaml_fn(port) to the temp dir, checks it with --test, starts the proxy and
        waits for /health."""
        port = yg_procs.free_port()
        cfg = self.tmp / f"{name}.yaml"
        text = yaml_fn(port)
        cfg.write_text(text)
        self.configs[name] = text
        if check_config:
            out = subprocess.run([str(self.args.binary), "--config", str(cfg), "--test"],
                                 capture_output=True, text=True, timeout=60)
            if out.returncode != 0:
                raise RuntimeError(f"{name}: config refused:\n{out.stderr}")
        log = self.tmp / f"{name}.log"
        cmd = [str(self.args.binary), "--config", str(cfg)]
        if env:
            old = dict(os.environ)
            os.environ.update(env)
        try:
            p = self.run.start(name, cmd, log, cpus=cpus)
        finally:
            if env:
                os.environ.clear()
                os.environ.update(old)
        yg_procs.wait_http_ok(f"http://127.0.0.1:{port}/health", proc=p, what=name, log=log)
        return Proxy(name, port, p, cfg, log)

    # -- checks
    def check(self, what: str, ok: bool, detail: str = "") -> bool:
        """A number that must hold on any machine (zero errors, RSS bound, hit rate, a
        generous ratio). Failed checks fail the run (exit 1) unless --no-checks."""
        self.checks.append({"check": what, "ok": bool(ok), "detail": detail})
        print(f"  [{'ok' if ok else 'FAILED'}] {what}" + (f": {detail}" if detail else ""),
              flush=True)
        return bool(ok)

    def verify_config(self, what: str, ok: bool, detail: str = "") -> bool:
        """A check that the setup does what the figure claims (from metrics scraped during
        the run): always enforced, a figure from a misconfigured run is worse than none."""
        return self.check(f"config verified: {what}", ok, detail)

    def failed(self) -> List[dict]:
        return [c for c in self.checks if not c["ok"]]

    # -- plots
    @staticmethod
    def preload_plotting() -> threading.Thread:
        """Imports matplotlib in a background thread (call it at the start): on a loaded
        machine the import alone can take 10 s, which a --quick budget feels at the end."""
        def load():
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot  # noqa: F401

        t = threading.Thread(target=load, name="preload-matplotlib", daemon=True)
        t.start()
        return t

    def plot(self, what: str, panels: List[dict], title: str = "",
             vline: Optional[Tuple[float, str]] = None) -> Path:
        """A PNG with one subplot per panel: {"title", "ylabel", "xlabel", "series":
        {label: (xs, ys)}, optional "kind": "line"|"bar"|"grouped", "logy"/"logx": bool, "hline":
        (y, label), "spans": [(x0, x1, label)] shaded, "ylim": (lo, hi), "vlines": [(x, label)],
        "series2" + "ylabel2" (+ "logy2"): series on a right-hand axis}. "grouped": "groups" is
        the list of x labels and each series is a list of values aligned to it (None: no bar),
        one bar per series within each group. `vline` (x, label): a dashed vertical line on
        every line panel (e.g. the end of a warm-up)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = len(panels)
        fig, axes = plt.subplots(n, 1, figsize=(9, 3.2 * n), squeeze=False)
        for ax, p in zip(axes[:, 0], panels):
            kind = p.get("kind", "line")
            series = p["series"]
            if kind == "grouped":
                groups = p["groups"]
                k = max(1, len(series))
                width = 0.8 / k
                for j, (label, vals) in enumerate(series.items()):
                    xs = [i - 0.4 + width * (j + 0.5) for i in range(len(groups))]
                    pts = [(x, v) for x, v in zip(xs, vals) if v is not None]
                    ax.bar([x for x, _ in pts], [v for _, v in pts], width, label=label)
                    for x, v in pts:
                        ax.annotate(f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}", (x, v),
                                    ha="center", va="bottom", fontsize=6)
                ax.set_xticks(range(len(groups)))
                ax.set_xticklabels(groups, fontsize=8)
                ax.legend(fontsize=8)
            elif kind == "bar":
                labels = list(series.keys())
                vals = [series[k] for k in labels]
                ax.bar(labels, vals, color=["#3b6ea5" if "ours" in k or "yatagarasu" in k
                                            else "#999999" for k in labels])
                for i, v in enumerate(vals):
                    ax.annotate(f"{v:,.3g}", (i, v), ha="center", va="bottom", fontsize=8)
                ax.tick_params(axis="x", labelrotation=15, labelsize=8)
            else:
                for label, (xs, ys) in series.items():
                    ax.plot(xs, ys, label=label, marker="." if len(xs) < 40 else None)
                if len(series) > 1 or p.get("legend"):
                    ax.legend(fontsize=8)
            for x0, x1, lab in p.get("spans", ()):  # shaded phases, e.g. a fault window
                ax.axvspan(x0, x1, color="#f4a582", alpha=0.3, label=lab)
            if p.get("spans"):
                ax.legend(fontsize=8, loc="upper left")
            if "ylim" in p:
                ax.set_ylim(*p["ylim"])
            for x, lab in p.get("vlines", ()):  # events, e.g. a signal or a reload
                ax.axvline(x, color="#b2182b", linestyle=":", linewidth=0.8)
                if lab:
                    ax.annotate(lab, (x, 1), xycoords=("data", "axes fraction"), fontsize=7,
                                rotation=90, va="top", ha="right")
            if p.get("series2"):  # a second y axis on the right
                ax2 = ax.twinx()
                for label, (xs, ys) in p["series2"].items():
                    ax2.plot(xs, ys, label=label, color="#d6604d", linewidth=1,
                             marker="." if len(xs) < 40 else None)
                ax2.set_ylabel(p.get("ylabel2", ""))
                if p.get("logy2"):
                    ax2.set_yscale("log")
                ax2.legend(fontsize=8, loc="lower right")
            if vline is not None and kind not in ("bar", "grouped"):
                ax.axvline(vline[0], color="gray", linestyle=":", linewidth=1, label=vline[1])
            if "hline" in p:
                y, lab = p["hline"]
                ax.axhline(y, color="red", linestyle="--", linewidth=1, label=lab)
                ax.legend(fontsize=8)
            if p.get("logy"):
                ax.set_yscale("log")
            if p.get("logx"):
                ax.set_xscale("log")
            ax.set_title(p.get("title", ""), fontsize=10)
            ax.set_ylabel(p.get("ylabel", ""))
            ax.set_xlabel(p.get("xlabel", ""))
            ax.grid(True, alpha=0.3)
        fig.suptitle(title or f"{self.name} ({self.mode}, {self.machine['cpus']} CPUs, "
                     f"{self.machine['date_utc'][:10]}, {self.machine['git']})", fontsize=10)
        fig.tight_layout()
        self.args.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.args.out_dir / f"{self.name}_{self.stamp}_{what}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        self.plots.append(path)
        return path

    # -- results
    def _write(self) -> None:
        out = self.args.out_dir
        out.mkdir(parents=True, exist_ok=True)
        args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.args).items()}
        doc = {"campaign": self.name, "mode": self.mode, "machine": self.machine, "args": args,
               "seconds": round(time.monotonic() - self.started, 1), "checks": self.checks,
               "plots": [p.name for p in self.plots], "configs": self.configs,
               "result": self.result}
        (out / f"{self.name}_{self.stamp}.json").write_text(json.dumps(doc, indent=2) + "\n")
        m = self.machine
        head = (f"# {self.name} ({self.mode})\n\n{m['date_utc']} · git {m['git']} · "
                f"{m['cpus']} x {m['cpu']} · {m['mem_bytes'] >> 30} GiB · {m['os']} "
                f"{m['kernel']} · load at start {m['loadavg_at_start']}\n\n")
        checks = "\n".join(f"- [{'x' if c['ok'] else ' '}] {c['check']}"
                           + (f" — {c['detail']}" if c["detail"] else "") for c in self.checks)
        plots = "\n".join(f"![{p.stem}]({p.name})" for p in self.plots)
        md = out / f"{self.name}_{self.stamp}.md"
        md.write_text(head + self.table.rstrip() + "\n\n## Checks\n\n" + (checks or "(none)")
                      + "\n" + (f"\n## Plots\n\n{plots}\n" if plots else ""))
        print(self.table)
        print(f"wrote {md}, .json" + (f" and {len(self.plots)} plot(s)" if self.plots else ""))

    def exit_code(self) -> int:
        bad = self.failed()
        if bad:
            print(f"{self.name}: {len(bad)} check(s) failed: "
                  + "; ".join(c["check"] for c in bad), file=sys.stderr)
            return 0 if self.args.no_checks else 1
        return 0


def fmt_table(headers: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A Markdown table; floats printed with 3 significant digits (thousands separated)."""

    def cell(v) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            if abs(v) >= 1000:
                return f"{v:,.0f}"
            return f"{v:.3g}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        lines.append("| " + " | ".join(cell(v) for v in r) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# key sets for the cache campaigns (cache_size, endurance)


def zipf_sequence(n_keys: int, n_samples: int, s: float = 1.0, seed: int = 1) -> List[int]:
    """`n_samples` key indexes in 0..n_keys-1 drawn from a Zipf-like law (P(rank k) ~ 1/k^s),
    shuffled; index 0 is the most popular. For vegeta's round-robin target lists."""
    import bisect
    import itertools
    import random

    weights = [1.0 / (k + 1) ** s for k in range(n_keys)]
    cum = list(itertools.accumulate(weights))
    rng = random.Random(seed)
    return [min(n_keys - 1, bisect.bisect_left(cum, rng.random() * cum[-1]))
            for _ in range(n_samples)]


def link_objects(tmp: Path, bucket: str, keys: Iterable[str], data: bytes,
                 blob_name: str = "") -> Path:
    """Many origin keys, one file: writes `data` once under tmp/blobs and hard-links
    tmp/www/<bucket>/<key> to it for every key (start_origin serves tmp/www), so a working set
    of GiBs costs the disk one object per size. Keys differ, so a cache holds each separately.
    A file taking no more links (ext4: 65000) gets a copy that the next keys link to.
    Returns the last blob's path."""
    import errno

    blobs = tmp / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    base = blob_name or f"blob-{len(data)}"
    copy = 0
    blob = blobs / base

    def make(b: Path) -> None:
        if not b.exists():
            b.write_bytes(data)
            b.chmod(0o644)

    make(blob)
    for key in keys:
        path = tmp / "www" / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            continue
        try:
            os.link(blob, path)
        except OSError as e:
            if e.errno != errno.EMLINK:  # ext4: at most 65000 links per file
                raise
            copy += 1
            blob = blobs / f"{base}.{copy}"
            make(blob)
            os.link(blob, path)
    return blob


def curl_bulk(urls: Sequence[str], parallel: int = 4, timeout_s: int = 600,
              cpus: Optional[Iterable[int]] = None) -> dict:
    """GETs every URL exactly once with one `curl --parallel` (C, keep-alive, bodies to
    /dev/null): for fills and fixed-count request sequences, where wrk/vegeta (time-bounded)
    do not fit. Returns {requests, seconds, codes: {code: n}, sizes: {bytes: n},
    x_cache: {value: n}}."""
    d = Path(tempfile.mkdtemp(prefix="yg-curl-"))
    cfg = d / "urls.cfg"
    with open(cfg, "w") as f:
        for u in urls:
            f.write(f'url = "{u}"\noutput = "/dev/null"\n')
    fmt = "%{http_code} %{size_download} %header{x-cache}\\n"
    cpu_set = set(cpus) if cpus else None
    t0 = time.monotonic()
    out = subprocess.run(["curl", "-sS", "--parallel", "--parallel-max", str(parallel),
                          "-K", str(cfg), "-w", fmt], capture_output=True, text=True,
                         timeout=timeout_s,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cpu_set)) if cpu_set
                         else None)
    secs = time.monotonic() - t0
    cfg.unlink()
    d.rmdir()
    res: dict = {"requests": 0, "seconds": secs, "codes": {}, "sizes": {}, "x_cache": {},
                 "stderr": out.stderr[-500:]}
    for line in out.stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) < 2:
            continue
        res["requests"] += 1
        res["codes"][parts[0]] = res["codes"].get(parts[0], 0) + 1
        res["sizes"][parts[1]] = res["sizes"].get(parts[1], 0) + 1
        xc = parts[2].strip().upper() if len(parts) > 2 else ""
        res["x_cache"][xc] = res["x_cache"].get(xc, 0) + 1
    return res
