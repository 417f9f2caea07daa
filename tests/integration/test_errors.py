"""Upstream failures (HTTP-3, S3-4): wrong credentials, backend down, stalls, resets, 503s,
trickles. Stalls/resets/trickles come from the FAKE fault server (no real S3 does them on
demand); credentials and 404s from moto with signature checking on."""

from __future__ import annotations

import hashlib
import http.client
import time

import pytest

import catalog
import yg_procs
from checks import assert_json_error
from httpc import request
from layouts import fake_bucket, moto_bucket
from proxy import bucket_block, register_secret, s3_block

HELLO = "/public/hello.txt"


def good_bucket(moto_auth):
    return moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)


def assert_still_serving(p):
    r = request(p.host, p.port, "GET", HELLO)
    assert r.status == 200 and r.body == catalog.HELLO.body, "proxy stopped serving"
    assert request(p.host, p.port, "GET", "/health").status == 200


# --- credentials -------------------------------------------------------------------------

def test_wrong_secret_key_is_502(proxy_factory, moto_auth):
    wrong = register_secret("WrongSecretKey/" + moto_auth.secret_key[::-1][:20])
    bad = bucket_block("bad", "/bad", s3_block(moto_auth.url, catalog.BUCKET_PUBLIC,
                                               moto_auth.access_key, wrong))
    p = proxy_factory([bad, good_bucket(moto_auth)])
    r = request(p.host, p.port, "GET", "/bad/hello.txt")
    assert_json_error(r, 502)
    assert wrong not in r.text_dump() and moto_auth.secret_key not in r.text_dump()
    assert b"<Error>" not in r.body, "S3's XML error leaked through"
    head = request(p.host, p.port, "HEAD", "/bad/hello.txt")
    assert head.status == 502
    assert_still_serving(p)
    logs = p.logs().decode("utf-8", "replace")
    assert "SignatureDoesNotMatch" in logs or "signature" in logs.lower(), (
        "S3 refusing our signature must be logged loudly (HTTP-3)")


def test_unknown_access_key_is_502(proxy_factory, moto_auth):
    bad = bucket_block("bad", "/bad", s3_block(moto_auth.url, catalog.BUCKET_PUBLIC,
                                               "AKIAUNKNOWNKEY000000", moto_auth.secret_key))
    p = proxy_factory([bad, good_bucket(moto_auth)])
    assert_json_error(request(p.host, p.port, "GET", "/bad/hello.txt"), 502)
    assert_still_serving(p)


def test_missing_s3_bucket_is_404(proxy_factory, moto_auth):
    nob = moto_bucket(moto_auth, "nob", "/nob", "yg-no-such-bucket")
    p = proxy_factory([nob, good_bucket(moto_auth)])
    assert_json_error(request(p.host, p.port, "GET", "/nob/hello.txt"), 404)


# --- backend down / stalls / resets (FAKE backends) --------------------------------------

def test_backend_down_is_502_fast(proxy_factory, moto_auth):
    port = yg_procs.closed_port()
    down = bucket_block("down", "/down", s3_block(f"http://127.0.0.1:{port}", "b", "AKIA0000DOWN0000000",
                                                  "down-secret", timeout=5))
    p = proxy_factory([down, good_bucket(moto_auth)])
    t0 = time.monotonic()
    r = request(p.host, p.port, "GET", "/down/x.txt")
    elapsed = time.monotonic() - t0
    assert_json_error(r, 502)
    assert elapsed < 2.0, f"refused connection took {elapsed:.2f}s to turn into 502"
    assert_still_serving(p)


def test_backend_stall_before_headers_is_504_within_timeout(proxy_factory, fault_server,
                                                            moto_auth):
    fake = fault_server("stall-before-headers")
    p = proxy_factory([fake_bucket(fake, timeout=2), good_bucket(moto_auth)])
    t0 = time.monotonic()
    r = request(p.host, p.port, "GET", "/fake/obj.bin", timeout=30)
    elapsed = time.monotonic() - t0
    assert_json_error(r, 504)
    assert 1.5 <= elapsed <= 5.0, f"504 after {elapsed:.2f}s with s3.timeout 2"
    assert fake.wait_all_closed(5), "proxy kept the stalled upstream connection open"
    assert_still_serving(p)


def test_request_timeout_bounds_a_stalled_backend(proxy_factory, fault_server, moto_auth):
    """server.request_timeout (total) fires before a longer s3.timeout."""
    fake = fault_server("stall-before-headers")
    p = proxy_factory([fake_bucket(fake, timeout=20), good_bucket(moto_auth)],
                      server={"request_timeout": 2})
    t0 = time.monotonic()
    r = request(p.host, p.port, "GET", "/fake/obj.bin", timeout=30)
    elapsed = time.monotonic() - t0
    assert_json_error(r, 504)
    assert 1.5 <= elapsed <= 5.0, f"504 after {elapsed:.2f}s with request_timeout 2"
    assert_still_serving(p)


def test_stall_mid_body_cuts_the_response(proxy_factory, fault_server, moto_auth):
    """Headers already went out: the proxy cannot change the status, so it must end the
    connection early (the client sees fewer bytes than Content-Length), within the idle
    timeout, and not hang."""
    body = hashlib.sha256(b"x").digest() * 40_000  # 1.28 MB
    fake = fault_server("stall-mid-body", body=body)
    p = proxy_factory([fake_bucket(fake, timeout=2), good_bucket(moto_auth)])
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(p.host, p.port, timeout=20)
    try:
        conn.request("GET", "/fake/obj.bin")
        r = conn.getresponse()
        assert r.status == 200
        # The proxy resets the connection (so even a close-delimited body cannot look whole):
        # the client sees a short read or the reset itself, never a complete body.
        with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
            r.read()
    finally:
        conn.close()
    elapsed = time.monotonic() - t0
    assert elapsed <= 8.0, f"truncation took {elapsed:.2f}s with s3.timeout 2"
    assert fake.wait_all_closed(5)
    assert_still_serving(p)


def test_backend_reset_is_502(proxy_factory, fault_server, moto_auth):
    fake = fault_server("reset")
    p = proxy_factory([fake_bucket(fake), good_bucket(moto_auth)])
    assert_json_error(request(p.host, p.port, "GET", "/fake/obj.bin"), 502)
    assert_still_serving(p)


def test_backend_503_is_a_json_error(proxy_factory, fault_server, moto_auth):
    """S3 503 SlowDown: 502 or 503 are both defensible; S3's XML must not leak through."""
    fake = fault_server("503-always")
    p = proxy_factory([fake_bucket(fake), good_bucket(moto_auth)])
    r = request(p.host, p.port, "GET", "/fake/obj.bin")
    assert_json_error(r, 503, allow_statuses=(502,))
    assert b"<Error>" not in r.body
    assert_still_serving(p)


def test_trickling_backend_within_idle_timeout_is_served_whole(proxy_factory, fault_server,
                                                               moto_auth):
    """s3.timeout is an idle/first-byte timeout, not a total: a body arriving slowly but
    steadily (gaps 0.1 s, 3 s in all, timeout 2 s) is delivered complete."""
    body = bytes(range(256)) * 12  # 3072 bytes
    fake = fault_server("trickle", body=body, trickle_bytes=100, trickle_interval=0.1)
    p = proxy_factory([fake_bucket(fake, timeout=2), good_bucket(moto_auth)])
    r = request(p.host, p.port, "GET", "/fake/obj.bin", timeout=30)
    assert r.status == 200
    assert r.body == body
    assert r.elapsed >= 2.5


def test_fake_backend_headers_reach_the_client(proxy_factory, fault_server):
    fake = fault_server("ok", body=b"fake-body", content_type="text/x-fake")
    p = proxy_factory([fake_bucket(fake)])
    r = request(p.host, p.port, "GET", "/fake/some/key.txt")
    assert r.status == 200 and r.body == b"fake-body"
    assert r.header("content-type") == "text/x-fake"
    assert r.header("x-amz-meta-served-by") == "fault-server"
    reqs = fake.wait_for_requests(1)
    assert reqs[-1].target == "/fake-bucket/some/key.txt", "path-style request expected"
