"""Shared by bench/merge, bench/compare and bench/report (Python standard library only).

A result file is either our merged run file (bench/merge: "schema": "yatagarasu-bench/1") or a
single Google Benchmark JSON file (--benchmark_out_format=json). load_run() turns either into a
Run: benchmark key ("<program>:<run_name>") -> Samples, one value per repetition, in ns.
"""

import json
import math
import os

SCHEMA = "yatagarasu-bench/1"

_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


class BadInput(Exception):
    """A file that cannot be read as a benchmark result (exit status 2 in the scripts)."""


def metric_for(run_name):
    """cpu_time, unless the benchmark declared UseRealTime() ("/real_time" in its name): then
    its author said wall time is the figure (I/O waits, other threads, a server's work)."""
    return "real_time" if "/real_time" in run_name else "cpu_time"


class Samples:
    def __init__(self, program, run_name, metric):
        self.program = program
        self.run_name = run_name
        self.metric = metric
        self.values = []  # ns per iteration, one per repetition
        self.error = None  # error_message of a benchmark that reported SkipWithError
        self.counters = {}  # user counters of the last repetition (hit_ratio, bytes_per_second)

    @property
    def key(self):
        return self.program + ":" + self.run_name

    def median(self):
        return median(self.values)


class Run:
    def __init__(self, path, stamp, meta, samples):
        self.path = path
        self.stamp = stamp  # "20261126T170000Z" (sorts in time order)
        self.meta = meta  # git, machine, settings (merged files); {} otherwise
        self.samples = samples  # key -> Samples, in file order


def median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return math.nan
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def program_of(gb):
    exe = gb.get("context", {}).get("executable", "")
    return os.path.basename(exe) or "bench"


def _entries(doc):
    """(program, benchmark entry) pairs of a merged file or a Google Benchmark file."""
    if doc.get("schema") == SCHEMA:
        for b in doc.get("benchmarks", []):
            yield b.get("program", "bench"), b
    elif isinstance(doc.get("benchmarks"), list) and "context" in doc:
        program = program_of(doc)
        for b in doc["benchmarks"]:
            yield program, b
    else:
        raise BadInput("neither a merged bench file nor Google Benchmark JSON")


_NOT_COUNTERS = {
    "name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations",
    "real_time", "cpu_time", "time_unit", "family_index", "per_family_instance_index",
    "aggregate_name", "aggregate_unit", "error_occurred", "error_message", "program",
}


def samples_of(doc, metric="auto"):
    """metric: "auto" (metric_for each benchmark), "cpu_time" or "real_time"."""
    out = {}
    for program, b in _entries(doc):
        if b.get("run_type", "iteration") != "iteration":
            continue  # aggregates (mean, median, stddev, cv) are recomputed from the samples
        run_name = b.get("run_name") or b.get("name")
        if not run_name:
            raise BadInput("a benchmark entry without a name")
        key = program + ":" + run_name
        s = out.get(key)
        if s is None:
            m = metric_for(run_name) if metric == "auto" else metric
            s = out[key] = Samples(program, run_name, m)
        if b.get("error_occurred"):
            s.error = b.get("error_message") or "error"
            continue
        try:
            value = float(b[s.metric]) * _UNIT_NS[b.get("time_unit", "ns")]
        except (KeyError, TypeError, ValueError):
            raise BadInput("%s: no usable %s/time_unit" % (key, s.metric))
        s.values.append(value)
        s.counters = {k: v for k, v in b.items()
                      if k not in _NOT_COUNTERS and isinstance(v, (int, float))}
    if not out:
        raise BadInput("no benchmarks in the file")
    return out


def stamp_of(doc, path):
    if doc.get("stamp"):
        return doc["stamp"]
    date = doc.get("context", {}).get("date", "")
    return date or os.path.basename(path)


def load_run(path, metric="auto"):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise BadInput("%s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise BadInput("%s: not JSON (%s)" % (path, e))
    if not isinstance(doc, dict):
        raise BadInput("%s: not a JSON object" % path)
    try:
        samples = samples_of(doc, metric)
    except BadInput as e:
        raise BadInput("%s: %s" % (path, e))
    meta = {k: doc[k] for k in ("git", "machine", "settings") if k in doc}
    return Run(path, stamp_of(doc, path), meta, samples)


def format_ns(ns):
    if ns != ns:  # NaN
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return "%.3g %s" % (ns / scale, unit)
    return "%.3g ns" % ns
