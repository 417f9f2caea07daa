"""A constant-rate HTTP client for tests that break something under load (Redis killed, frozen,
failed over) and then check that no client request failed.

    load = ConstantLoad(port, {"/c/a.bin": body_a, "/c/b.bin": body_b}, rate=100).start()
    time.sleep(3); load.mark("kill"); ...; load.mark("restart"); time.sleep(4)
    res = load.stop()
    assert not res.failures(), res.summary()
    res.after("restart", x_cache="HIT")    # outcomes sent after a mark

Requests are sent open-loop: a dispatcher thread submits one every 1/rate s (round robin over the
targets) to a thread pool, whatever the latency of earlier ones, so a slow proxy builds up
concurrency instead of silently lowering the rate (as vegeta does). Each request uses a fresh
connection and checks status 200 and the exact bytes (SHA-256) of the full body.
"""

from __future__ import annotations

import hashlib
import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional


@dataclass
class Outcome:
    target: str
    sent: float            # time.monotonic() when the request was started
    done: float = 0.0
    status: int = 0
    ok: bool = False       # 200 and exactly the expected bytes
    x_cache: Optional[str] = None
    error: str = ""

    @property
    def latency(self) -> float:
        return self.done - self.sent


@dataclass
class LoadResult:
    outcomes: List[Outcome]
    marks: Dict[str, float]
    started: float
    stopped: float
    rate: float

    def failures(self) -> List[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def after(self, mark: str, x_cache: Optional[str] = None) -> List[Outcome]:
        """Outcomes sent after `mark` (optionally only those with this X-Cache)."""
        t = self.marks[mark]
        return [o for o in self.outcomes
                if o.sent >= t and (x_cache is None or o.x_cache == x_cache)]

    def between(self, a: str, b: str) -> List[Outcome]:
        return [o for o in self.outcomes if self.marks[a] <= o.sent < self.marks[b]]

    def x_cache_counts(self, outcomes: Optional[List[Outcome]] = None) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for o in (self.outcomes if outcomes is None else outcomes):
            out[str(o.x_cache)] = out.get(str(o.x_cache), 0) + 1
        return out

    def summary(self) -> str:
        lat = sorted(o.latency for o in self.outcomes) or [0.0]
        fails = self.failures()
        marks = ", ".join(f"{k}@{v - self.started:.2f}s" for k, v in self.marks.items())
        s = (f"{len(self.outcomes)} requests in {self.stopped - self.started:.1f} s "
             f"(target {self.rate:g}/s), {len(fails)} failed; X-Cache {self.x_cache_counts()}; "
             f"latency p50 {lat[len(lat) // 2] * 1000:.1f} ms, "
             f"p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms; "
             f"marks: {marks}")
        if fails:
            f = fails[0]
            s += (f"; first failure at {f.sent - self.started:.2f}s: {f.target} status "
                  f"{f.status} X-Cache {f.x_cache} {f.error}")
        return s


class ConstantLoad:
    """`rate` GET requests per second over `bodies` ({target: expected bytes}), round robin."""

    def __init__(self, port: int, bodies: Dict[str, bytes], rate: float = 100.0,
                 host: str = "127.0.0.1", timeout: float = 15.0, max_threads: int = 128,
                 order: Optional[List[str]] = None):
        """`order`: the targets in the order they are requested (cycled; each must be a key
        of `bodies`); default: the keys of `bodies`."""
        assert bodies, "no targets"
        self.host, self.port = host, port
        self.targets = list(order) if order else list(bodies)
        assert all(t in bodies for t in self.targets), "a target without its body"
        self.digests = {t: hashlib.sha256(b).hexdigest() for t, b in bodies.items()}
        self.rate = rate
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="load")
        self.outcomes: List[Outcome] = []
        self.marks: Dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dispatcher: Optional[threading.Thread] = None
        self.started = 0.0

    def start(self) -> "ConstantLoad":
        self.started = time.monotonic()
        self._dispatcher = threading.Thread(target=self._dispatch, name="load-dispatch",
                                            daemon=True)
        self._dispatcher.start()
        return self

    def mark(self, name: str) -> float:
        """Records the current time under `name` (e.g. "kill", "restart")."""
        t = time.monotonic()
        self.marks[name] = t
        return t

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def count(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def snapshot(self) -> List[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def stop(self) -> LoadResult:
        """Stops sending, waits for the requests in flight, returns every outcome."""
        self._stop.set()
        if self._dispatcher is not None:
            self._dispatcher.join(10)
        stopped = time.monotonic()
        self.pool.shutdown(wait=True)
        with self._lock:
            outs = sorted(self.outcomes, key=lambda o: o.sent)
        return LoadResult(outs, dict(self.marks), self.started, stopped, self.rate)

    def _dispatch(self) -> None:
        i = 0
        while not self._stop.is_set():
            due = self.started + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                if self._stop.wait(delay):
                    return
            self.pool.submit(self._one, self.targets[i % len(self.targets)])
            i += 1

    def _one(self, target: str) -> None:
        o = Outcome(target, time.monotonic())
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", target)
            r = conn.getresponse()
            body = r.read()
            o.status = r.status
            o.x_cache = r.getheader("X-Cache")
            o.ok = r.status == 200 and hashlib.sha256(body).hexdigest() == self.digests[target]
            if not o.ok:
                o.error = f"{len(body)} bytes" + (f": {body[:200]!r}" if r.status != 200 else
                                                  " (wrong bytes)")
        except Exception as e:  # noqa: BLE001 - every failure is an outcome
            o.error = repr(e)
        finally:
            conn.close()
            o.done = time.monotonic()
            with self._lock:
                self.outcomes.append(o)
