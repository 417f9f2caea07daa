"""Replica failover, circuit breakers and retries (FEATURES.md OPS-1, OPS-2; docs/OPERATIONS.md).

The healthy replica is moto with signature checking on (real S3); the sick one is the FAKE fault
server (no real S3 refuses, resets, stalls or answers 503 on demand). The two serve different
bytes for the same key, so the body says which replica answered.
"""

from __future__ import annotations

import hashlib
import time

import pytest

import catalog
from checks import assert_json_error
from httpc import request
from layouts import FAKE_ACCESS_KEY, FAKE_SECRET_KEY
from prom import eventually, scrape, series, series_or_zero
from proxy import register_secret

FAKE_BODY = b"served by the FAKE primary replica\n" * 10
KEY = "/ha/" + catalog.SMALL.key


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def fake_replica(server, name="primary", priority=1, timeout=2) -> dict:
    return {"name": name, "bucket": "fake-bucket", "region": "us-east-1", "endpoint": server.url,
            "access_key": FAKE_ACCESS_KEY, "secret_key": register_secret(FAKE_SECRET_KEY),
            "priority": priority, "timeout": timeout}


def moto_replica(moto, name="secondary", priority=2, timeout=5) -> dict:
    return {"name": name, "bucket": catalog.SMALL.bucket, "region": "us-east-1",
            "endpoint": moto.url, "access_key": moto.access_key, "secret_key": moto.secret_key,
            "priority": priority, "timeout": timeout}


def ha_bucket(replicas, **s3_extra) -> dict:
    s3 = {"replicas": replicas}
    s3.update(s3_extra)
    return {"name": "ha", "path_prefix": "/ha", "s3": s3}


def get(p, target=KEY, **kw):
    return request(p.host, p.port, "GET", target, timeout=kw.pop("timeout", 15), **kw)


def served_by_secondary(r) -> bool:
    return r.status == 200 and sha(r.body) == catalog.SMALL.sha256


def served_by_primary(r) -> bool:
    return r.status == 200 and r.body == FAKE_BODY


def metric(p, name, **labels) -> float:
    return series_or_zero(scrape(p.port), name, **labels)


# --- failover before the first byte -----------------------------------------------------------

@pytest.mark.parametrize("mode", ["refused", "reset", "503-always", "500-always",
                                  "stall-before-headers"])
def test_failed_primary_attempt_is_answered_by_the_secondary(proxy_factory, fault_server,
                                                             moto_auth, mode):
    fake = fault_server("ok" if mode == "refused" else mode, body=FAKE_BODY)
    if mode == "refused":
        fake.stop_listening()
    p = proxy_factory([ha_bucket([fake_replica(fake, timeout=1), moto_replica(moto_auth)])])
    t0 = time.monotonic()
    r = get(p)
    assert served_by_secondary(r), (r.status, r.body[:200])
    assert r.header("X-Cache") is not None
    if mode == "stall-before-headers":
        assert 0.9 <= time.monotonic() - t0 < 4, "the primary's 1 s timeout bounds the failover"
    m = scrape(p.port)
    assert series(m, "yatagarasu_upstream_failovers_total", bucket="ha") == 1
    assert series(m, "yatagarasu_requests_total", bucket="ha", method="GET", status="200") == 1
    kind = {"refused": "connect", "reset": "io", "503-always": "server_error",
            "500-always": "server_error", "stall-before-headers": "timeout"}[mode]
    assert series(m, "yatagarasu_upstream_errors_total", bucket="ha", replica="primary",
                  kind=kind) == 1
    if mode != "refused":
        assert len(fake.requests) == 1


def test_body_failure_after_first_byte_is_not_retried_or_failed_over(proxy_factory,
                                                                     fault_server, moto_auth):
    """Once bytes reached the client, another replica cannot continue the body: the connection
    is cut (never a short body passed off as whole) and nothing is retried."""
    fake = fault_server("die-mid-body", body=FAKE_BODY * 100)
    p = proxy_factory([ha_bucket([fake_replica(fake), moto_replica(moto_auth)],
                                 retry={"max_attempts": 3, "initial_backoff_ms": 10})])
    import http.client
    conn = http.client.HTTPConnection(p.host, p.port, timeout=10)
    conn.request("GET", KEY)
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
        resp.read()
    conn.close()
    assert len(fake.requests) == 1
    m = eventually(p.port, lambda m: series(m, "yatagarasu_responses_aborted_total",
                                            bucket="ha", cause="upstream") == 1)
    assert series_or_zero(m, "yatagarasu_upstream_failovers_total", bucket="ha") == 0
    assert series_or_zero(m, "yatagarasu_upstream_retries_total", bucket="ha") == 0


# --- circuit breakers ---------------------------------------------------------------------------

def test_breaker_opens_skips_the_primary_and_traffic_returns_after_recovery(
        proxy_factory, fault_server, moto_auth):
    fake = fault_server("503-always", body=FAKE_BODY)
    cb = {"failure_threshold": 3, "success_threshold": 2, "timeout_seconds": 2,
          "half_open_max_requests": 1}
    p = proxy_factory([ha_bucket([fake_replica(fake), moto_replica(moto_auth)],
                                 circuit_breaker=cb)])
    for _ in range(3):
        assert served_by_secondary(get(p))
    assert len(fake.requests) == 3
    m = scrape(p.port)
    assert series(m, "yatagarasu_circuit_breaker_state", bucket="ha", replica="primary") == 1
    assert series(m, "yatagarasu_circuit_breaker_state", bucket="ha", replica="secondary") == 0
    assert series(m, "yatagarasu_circuit_breaker_opened_total", bucket="ha",
                  replica="primary") == 1
    # Open: the primary is not asked at all (no timeout paid, no load on it).
    opened_at = time.monotonic()
    for _ in range(10):
        r = get(p)
        assert served_by_secondary(r)
        assert r.elapsed < 1.0
    assert len(fake.requests) == 3
    ready = request(p.host, p.port, "GET", "/ready")
    assert ready.status == 200, ready.body  # the bucket still has a usable replica
    doc = ready.json()
    assert doc["buckets"]["ha"]["replicas"] == {"primary": "open", "secondary": "closed"}
    # The primary recovers; after timeout_seconds probes go to it and traffic comes back.
    fake.mode = "ok"
    time.sleep(max(0.0, 2.1 - (time.monotonic() - opened_at)))
    r = get(p)
    assert served_by_primary(r), "the half-open probe goes to the primary"
    assert served_by_primary(get(p))  # second success: closed (success_threshold 2)
    m = scrape(p.port)
    assert series(m, "yatagarasu_circuit_breaker_state", bucket="ha", replica="primary") == 0
    for _ in range(5):
        assert served_by_primary(get(p))
    assert request(p.host, p.port, "GET", "/ready").json()["buckets"]["ha"]["replicas"][
        "primary"] == "closed"


def test_failed_probe_reopens_the_breaker(proxy_factory, fault_server, moto_auth):
    fake = fault_server("500-always", body=FAKE_BODY)
    cb = {"failure_threshold": 1, "success_threshold": 1, "timeout_seconds": 1,
          "half_open_max_requests": 1}
    p = proxy_factory([ha_bucket([fake_replica(fake), moto_replica(moto_auth)],
                                 circuit_breaker=cb)])
    assert served_by_secondary(get(p))
    time.sleep(1.1)
    assert served_by_secondary(get(p))  # the probe failed over too
    assert len(fake.requests) == 2
    assert served_by_secondary(get(p))
    assert len(fake.requests) == 2, "re-opened: not asked again before another second"
    assert metric(p, "yatagarasu_circuit_breaker_opened_total", bucket="ha",
                  replica="primary") == 2


def test_every_replica_open_answers_503_with_the_configured_retry_after_fast(
        proxy_factory, fault_server):
    a = fault_server("503-always", body=FAKE_BODY)
    b = fault_server("reset", body=FAKE_BODY)
    cb = {"failure_threshold": 2, "success_threshold": 1, "timeout_seconds": 7}
    p = proxy_factory([ha_bucket([fake_replica(a, "east", 1), fake_replica(b, "west", 2)],
                                 circuit_breaker=cb)])
    for _ in range(2):
        r = get(p)
        assert_json_error(r, 502, allow_statuses=(503,))
        assert r.status != 200
    assert len(a.requests) == 2 and len(b.requests) == 2
    r = get(p)
    assert_json_error(r, 503)
    assert r.elapsed < 0.5, "an open circuit answers at once"
    assert 6 <= int(r.header("Retry-After")) <= 7
    assert "circuit" in r.json()["message"]
    assert len(a.requests) == 2 and len(b.requests) == 2
    ready = request(p.host, p.port, "GET", "/ready")
    assert ready.status == 503
    assert ready.json()["status"] == "degraded"
    assert ready.json()["buckets"]["ha"]["status"] == "unavailable"
    assert metric(p, "yatagarasu_circuit_open_rejections_total", bucket="ha") == 1


def test_single_replica_circuit_breaker_retry_after_is_the_timeout(proxy_factory, fault_server):
    fake = fault_server("500-always", body=FAKE_BODY)
    p = proxy_factory([{"name": "one", "path_prefix": "/one", "s3": {
        "bucket": "fake-bucket", "endpoint": fake.url, "access_key": FAKE_ACCESS_KEY,
        "secret_key": register_secret(FAKE_SECRET_KEY), "timeout": 2,
        "circuit_breaker": {"failure_threshold": 2, "timeout_seconds": 42}}}])
    for _ in range(2):
        assert_json_error(get(p, "/one/x"), 502)
    r = get(p, "/one/x")
    assert_json_error(r, 503)
    assert r.header("Retry-After") in ("41", "42")
    assert len(fake.requests) == 2


# --- retries ------------------------------------------------------------------------------------

def one_replica(fake, **s3_extra) -> dict:
    s3 = {"bucket": "fake-bucket", "endpoint": fake.url, "access_key": FAKE_ACCESS_KEY,
          "secret_key": register_secret(FAKE_SECRET_KEY), "timeout": 2}
    s3.update(s3_extra)
    return {"name": "r", "path_prefix": "/r", "s3": s3}


def test_retry_waits_with_backoff_then_gives_up(proxy_factory, fault_server):
    fake = fault_server("503-always", body=FAKE_BODY)
    p = proxy_factory([one_replica(fake, retry={"max_attempts": 3, "initial_backoff_ms": 200,
                                                "max_backoff_ms": 400})])
    t0 = time.monotonic()
    r = get(p, "/r/x")
    elapsed = time.monotonic() - t0
    assert r.status in (502, 503) and r.status != 200
    assert len(fake.requests) == 3
    # Equal jitter: retry 1 waits 100..200 ms, retry 2 200..400 ms.
    gaps = [b.received_at - a.received_at for a, b in zip(fake.requests, fake.requests[1:])]
    assert 0.1 <= gaps[0] <= 0.2 + 0.15, gaps
    assert 0.2 <= gaps[1] <= 0.4 + 0.15, gaps
    assert elapsed < 2
    assert metric(p, "yatagarasu_upstream_retries_total", bucket="r") == 2


def test_retry_succeeds_and_the_client_sees_only_the_answer(proxy_factory, fault_server):
    fake = fault_server("503-fraction", body=FAKE_BODY, fail_fraction=0.5)  # ok, 503, ok, ...
    p = proxy_factory([one_replica(fake, retry={"max_attempts": 2, "initial_backoff_ms": 20})])
    assert get(p, "/r/x").body == FAKE_BODY  # request 0: ok
    r = get(p, "/r/x")  # request 1: 503, retried as request 2: ok
    assert r.status == 200 and r.body == FAKE_BODY
    assert len(fake.requests) == 3
    m = scrape(p.port)
    assert series(m, "yatagarasu_upstream_retries_total", bucket="r") == 1
    assert series(m, "yatagarasu_requests_total", bucket="r", method="GET", status="200") == 2


def test_head_is_retried_too(proxy_factory, fault_server):
    fake = fault_server("503-fraction", body=FAKE_BODY, fail_fraction=1.0)
    p = proxy_factory([one_replica(fake, retry={"max_attempts": 4, "initial_backoff_ms": 5})])
    r = request(p.host, p.port, "HEAD", "/r/x")
    assert r.status in (502, 503)
    assert [q.method for q in fake.requests] == ["HEAD"] * 4


def test_no_retry_for_client_errors(proxy_factory, moto_auth):
    s3 = {"bucket": catalog.SMALL.bucket, "endpoint": moto_auth.url,
          "access_key": moto_auth.access_key, "secret_key": moto_auth.secret_key,
          "retry": {"max_attempts": 5, "initial_backoff_ms": 5}}
    p = proxy_factory([{"name": "m", "path_prefix": "/m", "s3": s3}])
    assert_json_error(get(p, "/m/no-such-key"), 404)
    m = scrape(p.port)
    assert series_or_zero(m, "yatagarasu_upstream_retries_total", bucket="m") == 0
    assert sum(v for (n, l), v in m.items()
               if n == "yatagarasu_upstream_responses_total" and ("bucket", "m") in l) == 1


def test_retries_stay_within_the_request_deadline(proxy_factory, fault_server):
    fake = fault_server("503-always", body=FAKE_BODY)
    p = proxy_factory([one_replica(fake, retry={"max_attempts": 5, "initial_backoff_ms": 5000,
                                                "max_backoff_ms": 5000})],
                      server={"request_timeout": 2})
    r = get(p, "/r/x")
    assert r.status in (502, 503, 504)
    assert r.elapsed < 1.5, "a backoff that would end after the deadline is not slept"
    assert len(fake.requests) == 1


def test_retry_budget_protects_a_sick_backend(proxy_factory, fault_server):
    fake = fault_server("503-always", body=FAKE_BODY)
    p = proxy_factory([one_replica(fake, retry={"max_attempts": 3, "initial_backoff_ms": 5,
                                                "max_backoff_ms": 10, "budget_percent": 0,
                                                "budget_min_per_second": 1})])
    for _ in range(10):
        assert get(p, "/r/x").status != 200
    # 10 requests; the budget allows one retry per (sliding) second instead of 20.
    assert 10 <= len(fake.requests) <= 13
    m = scrape(p.port)
    assert series(m, "yatagarasu_upstream_retry_budget_exhausted_total", bucket="r") >= 7
    assert series(m, "yatagarasu_upstream_retries_total", bucket="r") == len(fake.requests) - 10


def test_breakers_survive_a_reload_that_keeps_the_replica(proxy_factory, fault_server, moto_auth):
    import signal
    fake = fault_server("503-always", body=FAKE_BODY)
    cb = {"failure_threshold": 1, "timeout_seconds": 60}
    doc_buckets = [ha_bucket([fake_replica(fake), moto_replica(moto_auth)], circuit_breaker=cb)]
    p = proxy_factory(doc_buckets)
    assert served_by_secondary(get(p))
    assert len(fake.requests) == 1
    gen = metric(p, "yatagarasu_config_generation")
    from proxy import config_doc
    doc = config_doc(p.port, doc_buckets + [{"name": "other", "path_prefix": "/other",
                                             "s3": dict(moto_replica(moto_auth), timeout=5)}])
    for k in ("name", "priority"):
        doc["buckets"][1]["s3"].pop(k)
    p.write_config(doc)
    p.send_signal(signal.SIGHUP)
    eventually(p.port, lambda m: series(m, "yatagarasu_config_generation") == gen + 1)
    assert served_by_secondary(get(p))
    assert len(fake.requests) == 1, "the open breaker was kept: the primary is still skipped"


# --- under load ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_failover_under_constant_load_drops_nothing(proxy_factory, fault_server, moto_auth):
    """100 req/s while the primary refuses connections, then answers 503, then stalls, then
    recovers: every request gets the exact object (from one replica or the other), and traffic
    returns to the primary at the end."""
    from rate_client import ConstantLoad
    fake = fault_server("ok", body=catalog.SMALL.body)
    cb = {"failure_threshold": 3, "success_threshold": 1, "timeout_seconds": 1,
          "half_open_max_requests": 1}
    p = proxy_factory([ha_bucket([fake_replica(fake, timeout=1), moto_replica(moto_auth)],
                                 circuit_breaker=cb)])
    load = ConstantLoad(p.port, {KEY: catalog.SMALL.body}, rate=100).start()
    time.sleep(1)
    load.mark("refuse")
    fake.stop_listening()
    time.sleep(1.5)
    fake.listen_again()
    fake.mode = "503-always"
    load.mark("503")
    time.sleep(1.5)
    fake.mode = "stall-before-headers"
    load.mark("stall")
    time.sleep(2.0)
    fake.mode = "ok"
    load.mark("recover")
    time.sleep(2.5)
    at_end = len(fake.requests)
    time.sleep(1.0)
    res = load.stop()
    assert not res.failures(), res.summary()
    assert len(res.outcomes) >= 800
    assert len(fake.requests) - at_end >= 50, "traffic is back on the primary"
    m = scrape(p.port)
    assert series(m, "yatagarasu_upstream_failovers_total", bucket="ha") >= 3
    assert series(m, "yatagarasu_circuit_breaker_opened_total", bucket="ha",
                  replica="primary") >= 3
    assert series(m, "yatagarasu_circuit_breaker_state", bucket="ha", replica="primary") == 0


def test_a_replica_that_cuts_bodies_short_opens_its_breaker(proxy_factory, fault_server,
                                                            moto_auth):
    """A 200 head followed by a body that dies counts against the replica (the client's
    connection is cut each time): after failure_threshold such answers it is skipped."""
    fake = fault_server("die-mid-body", body=FAKE_BODY * 100)
    p = proxy_factory([ha_bucket([fake_replica(fake), moto_replica(moto_auth)],
                                 circuit_breaker={"failure_threshold": 2, "timeout_seconds": 60})])
    import http.client
    for _ in range(2):
        conn = http.client.HTTPConnection(p.host, p.port, timeout=10)
        conn.request("GET", KEY)
        resp = conn.getresponse()
        with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
            resp.read()
        conn.close()
    m = eventually(p.port, lambda m: series(m, "yatagarasu_circuit_breaker_state", bucket="ha",
                                            replica="primary") == 1)
    assert series(m, "yatagarasu_circuit_breaker_opened_total", bucket="ha",
                  replica="primary") == 1
    assert served_by_secondary(get(p))
    assert len(fake.requests) == 2
