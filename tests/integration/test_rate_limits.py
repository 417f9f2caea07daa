"""Rate limits, ip_filter and the client address behind trusted proxies (FEATURES.md OPS-3;
docs/OPERATIONS.md). Objects come from moto with signature checking on."""

from __future__ import annotations

import hashlib
import http.client
import threading
import time

import pytest

import catalog
from checks import assert_json_error
from httpc import request
from layouts import moto_bucket
from prom import scrape, series, series_or_zero

SMALL = "/public/" + catalog.SMALL.key


def get(p, target=SMALL, xff=None):
    headers = {"X-Forwarded-For": xff} if xff else None
    return request(p.host, p.port, "GET", target, headers=headers, timeout=10)


def ok(r) -> bool:
    return r.status == 200 and hashlib.sha256(r.body).hexdigest() == catalog.SMALL.sha256


def public(moto, **extra):
    b = moto_bucket(moto, "public", "/public", catalog.SMALL.bucket)
    b.update(extra)
    return b


def test_global_limit_burst_then_429_with_retry_after(proxy_factory, moto_auth):
    p = proxy_factory([public(moto_auth)], server={"rate_limit": {
        "enabled": True, "global": {"requests_per_second": 1, "burst": 5}}})
    results = [get(p) for _ in range(6)]
    assert all(ok(r) for r in results[:5]), [r.status for r in results]
    r = results[5]
    doc = assert_json_error(r, 429)
    assert r.header("Retry-After") == "1"
    assert "too many requests" in doc["message"]
    # Probes are never limited: a busy proxy is still alive and ready.
    assert request(p.host, p.port, "GET", "/health").status == 200
    assert request(p.host, p.port, "GET", "/ready").status == 200
    time.sleep(1.05)
    assert ok(get(p))
    m = scrape(p.port)
    assert series(m, "yatagarasu_rejected_requests_total", reason="rate_limit_global") == 1
    assert series(m, "yatagarasu_requests_total", bucket="_none", method="GET",
                  status="429") == 1


def test_per_ip_limit_isolates_clients_behind_a_trusted_proxy(proxy_factory, moto_auth):
    p = proxy_factory([public(moto_auth)], server={
        "trusted_proxies": ["127.0.0.1/32"],
        "rate_limit": {"enabled": True, "per_ip": {"requests_per_second": 1, "burst": 3}}})
    assert all(ok(get(p, xff="203.0.113.1")) for _ in range(3))
    assert_json_error(get(p, xff="203.0.113.1"), 429)
    # Another client is unaffected, and so is one whose proxy chain ends at a trusted hop.
    assert ok(get(p, xff="203.0.113.2"))
    assert ok(get(p, xff="198.51.100.9, 127.0.0.1"))
    assert_json_error(get(p, xff="203.0.113.1, 127.0.0.1"), 429)
    m = scrape(p.port)
    assert series(m, "yatagarasu_rejected_requests_total", reason="rate_limit_ip") == 2
    assert series(m, "yatagarasu_rate_limit_tracked_clients") >= 3


def test_x_forwarded_for_is_ignored_without_trusted_proxies(proxy_factory, moto_auth):
    p = proxy_factory([public(moto_auth)], server={"rate_limit": {
        "enabled": True, "per_ip": {"requests_per_second": 1, "burst": 2}}})
    assert ok(get(p, xff="203.0.113.1"))
    assert ok(get(p, xff="203.0.113.2"))
    # A client cannot escape its limit by writing a new X-Forwarded-For each time.
    assert_json_error(get(p, xff="203.0.113.3"), 429)


def test_per_bucket_limit_leaves_other_buckets_alone(proxy_factory, moto_auth):
    limited = public(moto_auth)
    limited["s3"]["rate_limit"] = {"requests_per_second": 1, "burst": 2}
    other = moto_bucket(moto_auth, "pub", "/pub", catalog.PUB_HELLO.bucket)
    p = proxy_factory([limited, other])
    assert ok(get(p)) and ok(get(p))
    r = get(p)
    assert_json_error(r, 429)
    assert r.header("Retry-After") == "1"
    for _ in range(5):
        assert get(p, "/pub/" + catalog.PUB_HELLO.key).body == catalog.PUB_HELLO.body
    m = scrape(p.port)
    assert series(m, "yatagarasu_rejected_requests_total", reason="rate_limit_bucket") == 1
    assert series(m, "yatagarasu_requests_total", bucket="public", method="GET",
                  status="429") == 1


def test_ip_filter_allowlist_and_blocklist(proxy_factory, moto_auth):
    b = public(moto_auth, ip_filter={"allowlist": ["10.0.0.0/8", "2001:db8::/32"],
                                     "blocklist": ["10.6.6.6"]})
    p = proxy_factory([b], server={"trusted_proxies": ["127.0.0.1"]})
    assert ok(get(p, xff="10.1.2.3"))
    assert ok(get(p, xff="2001:db8::1"))
    assert_json_error(get(p, xff="10.6.6.6"), 403)  # the blocklist wins
    doc = assert_json_error(get(p, xff="192.0.2.1"), 403)
    assert "address" in doc["message"]
    assert_json_error(get(p), 403)  # no header: the peer, 127.0.0.1, is not allowed
    assert series(scrape(p.port), "yatagarasu_rejected_requests_total", reason="ip_filter") == 3


@pytest.mark.slow
def test_a_flood_of_distinct_addresses_stays_bounded(proxy_factory, moto_auth):
    """Per-IP buckets are bounded by max_tracked_ips: 20 000 distinct client addresses (a scan
    through a trusted proxy) leave at most 1000 behind, and memory does not grow with them."""
    p = proxy_factory([public(moto_auth)], server={
        "trusted_proxies": ["127.0.0.1"],
        "rate_limit": {"enabled": True, "max_tracked_ips": 1000,
                       "per_ip": {"requests_per_second": 1000, "burst": 1000}}})
    rss0 = p.vm_status().get("VmRSS")

    def worker(base: int, n: int, errors: list):
        conn = http.client.HTTPConnection(p.host, p.port, timeout=10)
        try:
            for i in range(base, base + n):
                ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
                conn.request("GET", "/nowhere/x", headers={"X-Forwarded-For": ip})
                r = conn.getresponse()
                r.read()
                if r.status != 404:
                    errors.append(r.status)
        finally:
            conn.close()

    errors: list = []
    threads = [threading.Thread(target=worker, args=(k * 5000, 5000, errors)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    m = scrape(p.port)
    assert series(m, "yatagarasu_rate_limit_tracked_clients") <= 1000
    assert series_or_zero(m, "yatagarasu_rejected_requests_total", reason="rate_limit_ip") == 0
    rss1 = p.vm_status().get("VmRSS")
    if rss0 and rss1:
        assert rss1 - rss0 < 16 << 20, f"RSS grew {(rss1 - rss0) >> 10} KiB"


def test_max_concurrent_requests_covers_streams_with_retry_after(proxy_factory, fault_server):
    from layouts import fake_bucket
    slow = fault_server("trickle", body=b"x" * 4096, trickle_bytes=512, trickle_interval=0.25)
    p = proxy_factory([fake_bucket(slow)], server={"max_concurrent_requests": 1})
    conn = http.client.HTTPConnection(p.host, p.port, timeout=10)
    conn.request("GET", "/fake/stream")
    resp = conn.getresponse()  # the head is out; the body trickles for ~2 s
    assert resp.status == 200
    r = request(p.host, p.port, "GET", "/fake/other")
    assert_json_error(r, 503)
    assert r.header("Retry-After") == "1"
    assert resp.read() == b"x" * 4096
    conn.close()
    assert series(scrape(p.port), "yatagarasu_rejected_requests_total", reason="overloaded") == 1
