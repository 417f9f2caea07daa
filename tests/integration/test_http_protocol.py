"""HTTP/1.1 at the byte level (HTTP-1, HTTP-3, HTTP-4, HTTP-9): keep-alive, pipelining,
concurrency, request smuggling shapes, size limits, methods, X-Request-ID."""

from __future__ import annotations

import concurrent.futures
import http.client
import threading

import pytest

import catalog
from checks import REQUEST_ID_RE, assert_json_error, assert_request_id
from httpc import RawConn, on_conn, request, request_bytes, stream_digest

HELLO = "/public/hello.txt"


# --- keep-alive, pipelining, concurrency -------------------------------------------------

def test_hundreds_of_requests_on_one_connection(proxy):
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=10)
    conn.connect()
    local = conn.sock.getsockname()
    sock_id = id(conn.sock)
    targets = [HELLO, "/public/small.bin", "/a/b/x.txt", "/public/nope.txt"]
    try:
        for i in range(300):
            t = targets[i % len(targets)]
            r = on_conn(conn, "GET", t)
            if t.endswith("nope.txt"):
                assert r.status == 404
            else:
                assert r.status == 200, (i, t, r.status)
                obj = {HELLO: catalog.HELLO, "/public/small.bin": catalog.SMALL,
                       "/a/b/x.txt": catalog.AB_X}[t]
                assert r.body == obj.body
            assert (r.header("connection") or "").lower() != "close", f"closed at request {i}"
            assert conn.sock is not None and id(conn.sock) == sock_id, f"reconnected at {i}"
            assert conn.sock.getsockname() == local
    finally:
        conn.close()


def test_pipelined_requests_are_answered_in_order(proxy):
    with RawConn(proxy.host, proxy.port) as c:
        c.send(request_bytes("GET", HELLO) + request_bytes("GET", "/public/small.bin")
               + request_bytes("GET", "/public/missing.txt") + request_bytes("GET", "/a/b/x.txt"))
        rs = [c.read_response() for _ in range(4)]
    assert [r.status for r in rs] == [200, 200, 404, 200]
    assert rs[0].body == catalog.HELLO.body
    assert rs[1].body == catalog.SMALL.body
    assert rs[3].body == catalog.AB_X.body


def test_connection_close_is_honoured(proxy):
    with RawConn(proxy.host, proxy.port) as c:
        c.send(request_bytes("GET", HELLO, connection="close"))
        r = c.read_response()
        assert r.status == 200 and r.body == catalog.HELLO.body
        assert c.closed_by_peer(3)


def test_http10_request_is_served_and_closed(proxy):
    with RawConn(proxy.host, proxy.port) as c:
        c.send(f"GET {HELLO} HTTP/1.0\r\n\r\n".encode())
        r = c.read_response()
        assert r.status == 200 and r.body == catalog.HELLO.body
        assert c.closed_by_peer(3)


def test_64_concurrent_clients(proxy):
    objs = {HELLO: catalog.HELLO, "/public/small.bin": catalog.SMALL,
            "/public/range.bin": catalog.RANGE_OBJ, "/a/b/x.txt": catalog.AB_X}
    ids, lock, start = [], threading.Lock(), threading.Barrier(64)

    def client(n):
        start.wait(10)
        conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
        try:
            for i, (t, o) in enumerate(list(objs.items()) * 3):
                r = on_conn(conn, "GET", t)
                assert r.status == 200, (n, t, r.status)
                assert r.body == o.body, (n, t)
                with lock:
                    ids.append(r.header("x-request-id"))
        finally:
            conn.close()
        if n % 8 == 0:
            d = stream_digest(proxy.host, proxy.port, "/public/" + catalog.MEDIUM.key)
            assert d.status == 200 and d.sha256 == catalog.MEDIUM.sha256, n
        return n

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        done = list(pool.map(client, range(64)))
    assert sorted(done) == list(range(64))
    assert len(ids) == 64 * 12
    assert all(i and REQUEST_ID_RE.match(i) for i in ids)
    assert len(set(ids)) == len(ids), "generated X-Request-IDs are not unique"


# --- smuggling shapes: 400 and the connection closed -------------------------------------

SMUGGLING = {
    "cl-and-te": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-and-cl": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Length: 5\r\n\r\n0\r\n\r\n",
    "duplicate-cl-differing": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                              b"Content-Length: 5\r\n\r\nhello",
    "duplicate-cl-same": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                         b"Content-Length: 5\r\n\r\nhello",
    "cl-list": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
    "cl-plus-sign": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
    "obs-fold": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n",
    "obs-fold-tab": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n",
    "bare-lf-headers": b"GET /public/hello.txt HTTP/1.1\nHost: x\nX-A: b\n\n",
    "bare-lf-one-line": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
    "bare-cr": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
    "space-in-name": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n",
    "space-before-colon": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nX-A : v\r\n\r\n",
    "te-space-before-colon": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello",
    "paren-in-name": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nX(a): v\r\n\r\n",
    "nul-in-name": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nX\x00A: v\r\n\r\n",
    "empty-name": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n",
    "nul-in-value": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "te-not-chunked-last": b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_shape_is_400_and_connection_closed(proxy, name):
    # A second request follows in the same write: it must never be answered.
    payload = SMUGGLING[name] + request_bytes("GET", "/a/secret.txt")
    with RawConn(proxy.host, proxy.port) as c:
        c.send(payload)
        r = c.read_response()
        assert r.status == 400, f"{name}: got {r.status}"
        assert catalog.SECRET_A_MARKER not in r.body
        assert c.closed_by_peer(3), f"{name}: connection left open after 400"
    assert_json_error(r, 400)


def test_missing_host_in_http11_is_400(proxy):
    """RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host."""
    with RawConn(proxy.host, proxy.port) as c:
        c.send(b"GET /public/hello.txt HTTP/1.1\r\nX-A: b\r\n\r\n")
        r = c.read_response()
    assert r.status == 400


def test_duplicate_host_is_400(proxy):
    with RawConn(proxy.host, proxy.port) as c:
        c.send(b"GET /public/hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        r = c.read_response()
    assert r.status == 400


def test_garbage_request_line_is_400(proxy):
    with RawConn(proxy.host, proxy.port) as c:
        c.send(b"HELLO THERE\r\n\r\n")
        r = c.read_response()
        assert r.status == 400
        assert c.closed_by_peer(3)


def test_proxy_survives_smuggling_attempts(proxy):
    for name in sorted(SMUGGLING):
        with RawConn(proxy.host, proxy.port) as c:
            c.send(SMUGGLING[name])
            c.read_response()
    r = request(proxy.host, proxy.port, "GET", HELLO)
    assert r.status == 200 and r.body == catalog.HELLO.body


# --- limits (defaults: header 64 KiB, URI 8 KiB, body 10 MiB) ----------------------------

def test_uri_too_long_is_414(proxy):
    r = request(proxy.host, proxy.port, "GET", "/public/" + "a" * 9000)
    assert_json_error(r, 414)


def test_long_uri_under_the_limit_is_routed(proxy):
    r = request(proxy.host, proxy.port, "GET", "/public/" + "a" * 1000)
    assert_json_error(r, 404)


def test_one_huge_header_is_431(proxy):
    with RawConn(proxy.host, proxy.port) as c:
        c.send(request_bytes("GET", HELLO, headers=[("X-Big", "b" * 70_000)]))
        r = c.read_response()
    assert_json_error(r, 431)


def test_many_headers_over_the_limit_is_431(proxy):
    hdrs = [(f"X-H{i}", "v" * 1000) for i in range(80)]
    with RawConn(proxy.host, proxy.port) as c:
        c.send(request_bytes("GET", HELLO, headers=hdrs))
        r = c.read_response()
    assert_json_error(r, 431)


def test_headers_under_the_limit_are_fine(proxy):
    hdrs = [(f"X-H{i}", "v" * 1000) for i in range(30)]
    with RawConn(proxy.host, proxy.port) as c:
        c.send(request_bytes("GET", HELLO, headers=hdrs))
        r = c.read_response()
    assert r.status == 200 and r.body == catalog.HELLO.body


def test_content_length_over_max_body_size_is_413(proxy):
    with RawConn(proxy.host, proxy.port) as c:
        c.send(request_bytes("GET", HELLO, headers=[("Content-Length", str(20 * 1024 * 1024))]))
        r = c.read_response()
    assert_json_error(r, 413)


def test_small_limits_from_config(proxy_factory, moto_auth):
    from layouts import standard_buckets
    p = proxy_factory(standard_buckets(moto_auth), server={"security_limits": {
        "max_body_size": 1024, "max_header_size": 2048, "max_uri_length": 256}})
    assert_json_error(request(p.host, p.port, "GET", "/public/" + "u" * 300), 414)
    assert request(p.host, p.port, "GET", "/public/" + "u" * 200).status == 404
    with RawConn(p.host, p.port) as c:
        c.send(request_bytes("GET", HELLO, headers=[("X-Big", "h" * 3000)]))
        assert_json_error(c.read_response(), 431)
    with RawConn(p.host, p.port) as c:
        c.send(request_bytes("GET", HELLO, headers=[("Content-Length", "2048")]))
        assert_json_error(c.read_response(), 413)
    r = request(p.host, p.port, "GET", HELLO)
    assert r.status == 200 and r.body == catalog.HELLO.body


# --- methods ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH", "TRACE", "PROPFIND"])
def test_other_methods_are_405_and_never_reach_s3(proxy, moto_auth, method):
    key = f"written-by-{method.lower()}.txt"
    r = request(proxy.host, proxy.port, method, f"/public/{key}", body=b"should not be stored")
    assert_json_error(r, 405)
    allow = {m.strip() for m in (r.header("allow") or "").split(",")}
    assert allow == {"GET", "HEAD", "OPTIONS"}, r.header("allow")
    listed = moto_auth.client().list_objects_v2(Bucket=catalog.BUCKET_PUBLIC, Prefix="written-by")
    assert listed.get("KeyCount", 0) == 0, "a write reached S3"


def test_delete_leaves_the_object(proxy):
    assert_json_error(request(proxy.host, proxy.port, "DELETE", HELLO), 405)
    r = request(proxy.host, proxy.port, "GET", HELLO)
    assert r.status == 200 and r.body == catalog.HELLO.body


def test_405_keeps_the_connection_usable(proxy):
    with RawConn(proxy.host, proxy.port) as c:
        c.send(b"DELETE /public/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n" + request_bytes("GET", HELLO))
        first = c.read_response()
        second = c.read_response()
    assert first.status == 405
    assert second.status == 200 and second.body == catalog.HELLO.body


# --- X-Request-ID (HTTP-4) -------------------------------------------------------------

@pytest.mark.parametrize("target", [HELLO, "/public/missing.txt", "/unknown/x", "/health",
                                    "/ready", "/public/../a/secret.txt"])
def test_sane_client_request_id_is_echoed_everywhere(proxy, target):
    rid = "client-Req.42:abc_def"
    r = request(proxy.host, proxy.port, "GET", target, headers={"X-Request-ID": rid})
    assert_request_id(r, sent=rid)
    if r.header("content-type") and "json" in r.header("content-type") and r.status >= 400:
        assert r.json()["request_id"] == rid


def test_128_char_request_id_is_kept(proxy):
    rid = "a" * 128
    assert_request_id(request(proxy.host, proxy.port, "GET", HELLO,
                              headers={"X-Request-ID": rid}), sent=rid)


@pytest.mark.parametrize("bad", ["a" * 129, "has space", "semi;colon", "<script>", "ü-unicode",
                                 "a/b", "quote\"d", ""])
def test_insane_request_id_is_replaced(proxy, bad):
    with RawConn(proxy.host, proxy.port) as c:
        c.send(request_bytes("GET", HELLO, headers=[("X-Request-ID", bad)]) if bad.isascii()
               else b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nX-Request-ID: "
               + bad.encode() + b"\r\n\r\n")
        r = c.read_response()
    rid = assert_request_id(r)
    assert rid != bad
    assert r.status == 200


def test_generated_request_ids_differ(proxy):
    ids = {request(proxy.host, proxy.port, "GET", HELLO).header("x-request-id") for _ in range(20)}
    assert len(ids) == 20
