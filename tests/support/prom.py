"""The proxy's /metrics, parsed by prometheus_client (a real Prometheus text-format parser), as
{(name, sorted labels): value} for exact assertions."""

from __future__ import annotations

import time
from typing import Callable, Dict, Tuple

from prometheus_client.parser import text_string_to_metric_families

import httpc

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


def scrape(port: int, host: str = "127.0.0.1") -> Samples:
    """Every sample of /metrics."""
    r = httpc.request(host, port, "GET", "/metrics")
    assert r.status == 200, r.text_dump()
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    out = {}
    for fam in text_string_to_metric_families(r.body.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def series(m: Samples, name: str, **labels) -> float:
    return m[(name, tuple(sorted(labels.items())))]


def series_or_zero(m: Samples, name: str, **labels) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def family(m: Samples, name: str) -> Dict[Tuple[Tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in m.items() if n == name}


def eventually(port: int, check: Callable[[Samples], None], timeout: float = 5.0) -> Samples:
    """Scrapes until check(samples) passes (it raises AssertionError/KeyError until then) and
    returns those samples. A request is recorded just after its last byte is written, so a
    scrape made right after a response may not count it yet; this waits for that, never for a
    value that is wrong."""
    deadline = time.monotonic() + timeout
    while True:
        m = scrape(port)
        try:
            check(m)
            return m
        except (AssertionError, KeyError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
