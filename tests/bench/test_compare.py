"""Unit tests of bench/compare's regression rule on crafted result files (bench/README.md).

Runs the script as CI does (a subprocess, asserting on its exit status and table) and checks
the exact Mann-Whitney p-values against hand-computed ones.
"""

import importlib.machinery
import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPARE = os.path.join(ROOT, "bench", "compare")

# Five repetitions around 100 ns with a 60 % wide spread (70..130).
WIDE = [100.0, 70.0, 130.0, 85.0, 115.0]
TIGHT = [100.0, 101.0, 99.0, 100.5, 99.5]


def merged(benchmarks, stamp="20260101T000000Z"):
    """A merged run file: benchmarks maps run_name -> list of times (ns), or an error string."""
    entries = []
    for name, times in benchmarks.items():
        if isinstance(times, str):
            entries.append({"program": "bench_t", "name": name, "run_name": name,
                            "repetition_index": 0, "iterations": 0, "real_time": 0,
                            "cpu_time": 0, "time_unit": "ns", "error_occurred": True,
                            "error_message": times})
            continue
        for i, t in enumerate(times):
            # real_time is set apart from cpu_time so a test sees which one was compared.
            entries.append({"program": "bench_t", "name": name, "run_name": name,
                            "repetition_index": i, "iterations": 1000, "real_time": t * 3,
                            "cpu_time": t, "time_unit": "ns"})
    return {"schema": "yatagarasu-bench/1", "stamp": stamp, "benchmarks": entries}


def google_benchmark(benchmarks):
    """A raw Google Benchmark file (--benchmark_out_format=json, with repetitions)."""
    entries = []
    for name, times in benchmarks.items():
        for i, t in enumerate(times):
            entries.append({"name": name, "run_name": name, "run_type": "iteration",
                            "repetitions": len(times), "repetition_index": i, "iterations": 10,
                            "real_time": t / 1000, "cpu_time": t / 1000, "time_unit": "us"})
        entries.append({"name": name + "_median", "run_name": name, "run_type": "aggregate",
                        "aggregate_name": "median", "real_time": 1e9, "cpu_time": 1e9,
                        "time_unit": "ns"})
    return {"context": {"date": "2026-01-01T00:00:00+00:00", "executable": "./bench_t"},
            "benchmarks": entries}


def run(tmp_path, old, new, *args):
    paths = []
    for i, doc in enumerate((old, new)):
        p = tmp_path / ("%d.json" % i)
        p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        paths.append(str(p))
    r = subprocess.run([sys.executable, COMPARE, *args, *paths], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def verdict(out, name):
    for line in out.splitlines():
        if line.startswith("bench_t:" + name + " "):
            return line.split()[-1]
    raise AssertionError("no row for %s in:\n%s" % (name, out))


def load_compare():
    loader = importlib.machinery.SourceFileLoader("bench_compare", COMPARE)
    spec = importlib.util.spec_from_loader("bench_compare", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


# Two wide-spread runs with about the same median: no regression.
def test_noisy_but_equal_is_not_a_regression(tmp_path):
    new = [112.0, 75.0, 128.0, 88.0, 98.0]
    code, out = run(tmp_path, merged({"BM_A": WIDE}), merged({"BM_A": new}))
    assert code == 0, out
    assert verdict(out, "BM_A") == "same"


# 20 % slower with repetitions within 2 %: a regression, exit 1.
def test_twenty_percent_slower_with_tight_noise_regresses(tmp_path):
    code, out = run(tmp_path, merged({"BM_A": TIGHT}),
                    merged({"BM_A": [t * 1.2 for t in TIGHT]}))
    assert code == 1, out
    assert verdict(out, "BM_A") == "REGRESSION"
    assert "+20.0%" in out


# 20 % slower when the repetitions spread over 60 %: the samples overlap too much to tell.
def test_twenty_percent_slower_within_thirty_percent_noise_is_not_a_regression(tmp_path):
    code, out = run(tmp_path, merged({"BM_A": WIDE}), merged({"BM_A": [t * 1.2 for t in WIDE]}))
    assert code == 0, out
    assert verdict(out, "BM_A") == "noisy"


# 5 % slower, however clearly, stays under the 10 % threshold; --threshold 3 flags it.
def test_threshold_applies_to_the_median(tmp_path):
    old, new = merged({"BM_A": TIGHT}), merged({"BM_A": [t * 1.05 for t in TIGHT]})
    assert run(tmp_path, old, new)[0] == 0
    assert run(tmp_path, old, new, "--threshold", "3")[0] == 1


# Faster is reported, never a failure.
def test_faster_is_not_a_failure(tmp_path):
    code, out = run(tmp_path, merged({"BM_A": TIGHT}), merged({"BM_A": [t * 0.7 for t in TIGHT]}))
    assert code == 0, out
    assert verdict(out, "BM_A") == "faster"


# A benchmark in only one file is listed, not compared, not a failure.
def test_missing_benchmarks_are_listed(tmp_path):
    code, out = run(tmp_path, merged({"BM_A": TIGHT, "BM_Gone": TIGHT}),
                    merged({"BM_A": TIGHT, "BM_New": TIGHT}))
    assert code == 0, out
    assert "bench_t:BM_Gone" in out and "only in OLD" in out
    assert "bench_t:BM_New" in out and "only in NEW" in out


# No benchmark in common is bad input.
def test_no_common_benchmark_is_bad_input(tmp_path):
    code, out = run(tmp_path, merged({"BM_A": TIGHT}), merged({"BM_B": TIGHT}))
    assert code == 2, out


# One repetition gives no noise estimate: refused (exit 2) unless --allow-single.
def test_single_repetition_is_refused(tmp_path):
    old, new = merged({"BM_A": [100.0]}), merged({"BM_A": [130.0]})
    code, out = run(tmp_path, old, new)
    assert code == 2, out
    assert "single repetition" in out and "--allow-single" in out
    code, out = run(tmp_path, old, new, "--allow-single")
    assert code == 1, out


# Unreadable or foreign files: exit 2 with a message.
@pytest.mark.parametrize("doc", ["not json {", "[]", json.dumps({"hello": 1}),
                                 json.dumps({"schema": "yatagarasu-bench/1", "benchmarks": []})])
def test_bad_input_exits_2(tmp_path, doc):
    code, out = run(tmp_path, doc, merged({"BM_A": TIGHT}))
    assert code == 2, out
    assert "compare:" in out


# A benchmark that reported an error (SkipWithError) in NEW fails the comparison.
def test_error_in_new_fails(tmp_path):
    code, out = run(tmp_path, merged({"BM_A": TIGHT}),
                    merged({"BM_A": "redis-server unavailable"}))
    assert code == 1, out
    assert "ERROR: redis-server unavailable" in out


# UseRealTime() benchmarks ("/real_time" in the name) are judged on real_time, others on
# cpu_time: the crafted real_time is 3x cpu_time, so the column shows which one was read.
def test_metric_follows_use_real_time(tmp_path):
    docs = merged({"BM_Cpu": TIGHT, "BM_Io/real_time": TIGHT})
    code, out = run(tmp_path, docs, docs)
    assert code == 0, out
    assert " 100 ns " in [l for l in out.splitlines() if "BM_Cpu" in l][0]
    assert " 300 ns " in [l for l in out.splitlines() if "BM_Io" in l][0]


# With 2 repetitions a side no p-value can reach 0.05, so the rule falls back to "every new
# sample slower than every old one": the smoke's 1.5x copy regresses, an overlap does not.
def test_two_repetitions_use_complete_separation(tmp_path):
    old = merged({"BM_A": [100.0, 104.0]})
    assert run(tmp_path, old, merged({"BM_A": [150.0, 156.0]}))[0] == 1
    code, out = run(tmp_path, old, merged({"BM_A": [102.0, 160.0]}))
    assert code == 0, out
    assert verdict(out, "BM_A") == "noisy"


# --scale-new multiplies NEW (the smoke's synthetic slowdown); a raw Google Benchmark file is
# read too, its aggregate rows ignored.
def test_scale_new_and_raw_google_benchmark_files(tmp_path):
    doc = google_benchmark({"BM_A": TIGHT})
    assert run(tmp_path, doc, doc)[0] == 0
    code, out = run(tmp_path, doc, doc, "--scale-new", "1.5")
    assert code == 1, out
    assert "+50.0%" in out


# Exact one-sided Mann-Whitney p-values, checked by hand: complete separation of 5 vs 5 is
# 1 of C(10,5) = 252 orderings; of 3 vs 3, 1 of 20; one inversion of 5 vs 5 is 2 of 252.
def test_exact_mann_whitney_p_values():
    c = load_compare()
    assert c.p_greater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(1 / 252)
    assert c.p_greater([1, 2, 3], [4, 5, 6]) == pytest.approx(1 / 20)
    assert c.p_greater([1, 2, 3, 4, 6], [5, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    assert c.p_greater([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]) == pytest.approx(1.0)
    assert sum(c.u_distribution(4, 6)) == math.comb(10, 4)
