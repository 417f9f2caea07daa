"""Protocol resilience and process lifecycle: chunked upstream bodies (whole and cut), a
slow-loris request head, SIGHUP reload, SIGTERM drain, and max_concurrent_requests saturation.

Chunked and cut-chunked upstreams come from the FAKE fault server (no real S3 answers a GET that
way on demand); everything else is served by moto with signature checking on.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import select
import signal
import socket
import threading
import time

import pytest
import yaml

import catalog
from checks import assert_json_error, log_messages, wait_for
from fault_server import DEFAULT_CHUNK_SIZES
from httpc import RawConn, on_conn, request, request_bytes
from layouts import fake_bucket, moto_bucket
from proxy import config_doc

CHUNKED_BODY = random.Random(4242).randbytes(sum(DEFAULT_CHUNK_SIZES))  # 115_000 bytes


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()






def assert_serves(p, target: str, obj) -> None:
    r = request(p.host, p.port, "GET", target, timeout=10)
    assert r.status == 200, f"GET {target}: {r.status} {r.body[:200]!r}"
    assert sha(r.body) == obj.sha256, f"GET {target}: {len(r.body)} bytes, not the object"


# --- 1. chunked upstream ---------------------------------------------------------------------

def test_chunked_upstream_exact_bytes_twice_on_one_keep_alive_connection(proxy_factory,
                                                                         fault_server):
    """A relay that ends the body early (e.g. on a read that returned only a chunk-size line)
    would leak the rest into the next response on the same connection: the second request on
    the same HTTPConnection then fails or returns other bytes."""
    fake = fault_server("chunked", body=CHUNKED_BODY)
    assert len(fake.chunks()) == 5 and max(map(len, fake.chunks())) == 100 * 1024
    p = proxy_factory([fake_bucket(fake)])
    conn = http.client.HTTPConnection(p.host, p.port, timeout=10)
    try:
        conn.connect()
        sock_id, local = id(conn.sock), conn.sock.getsockname()
        for i in range(2):
            r = on_conn(conn, "GET", "/fake/chunked.bin")
            assert r.status == 200, f"request {i}: {r.status} {r.body[:200]!r}"
            assert len(r.body) == len(CHUNKED_BODY) and sha(r.body) == sha(CHUNKED_BODY), (
                f"request {i}: {len(r.body)} bytes, want {len(CHUNKED_BODY)} exact")
            te = (r.header("transfer-encoding") or "").lower()
            cl = r.header("content-length")
            assert te == "chunked" or cl == str(len(CHUNKED_BODY)), (te, cl)
            assert (r.header("connection") or "").lower() != "close", f"closed after {i}"
            assert conn.sock is not None and id(conn.sock) == sock_id, f"reconnected after {i}"
            assert conn.sock.getsockname() == local
    finally:
        conn.close()
    assert len(fake.wait_for_requests(2)) == 2


def test_chunked_upstream_to_http10_client_is_close_delimited(proxy_factory, fault_server):
    """An HTTP/1.0 client cannot read chunked framing: the body comes raw, ended by close."""
    fake = fault_server("chunked", body=CHUNKED_BODY)
    p = proxy_factory([fake_bucket(fake)])
    with RawConn(p.host, p.port, timeout=10) as c:
        c.send(b"GET /fake/chunked.bin HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert "chunked" not in (r.header("transfer-encoding") or "").lower(), (
            f"chunked framing sent to an HTTP/1.0 client: {r.headers}")
        assert len(r.body) == len(CHUNKED_BODY) and sha(r.body) == sha(CHUNKED_BODY), (
            f"{len(r.body)} bytes, want {len(CHUNKED_BODY)} exact")
        assert c.closed_by_peer(3)


# --- 2. chunked upstream cut before the last-chunk ------------------------------------------

def test_chunked_upstream_truncated_is_never_a_complete_response(proxy_factory, fault_server):
    fake = fault_server("chunked-truncated", body=CHUNKED_BODY, truncate_after_chunks=3)
    sent = sum(len(x) for x in fake.chunks()[:3])
    p = proxy_factory([fake_bucket(fake)])
    conn = http.client.HTTPConnection(p.host, p.port, timeout=10)
    t0 = time.monotonic()
    status, data, outcome = None, b"", None
    try:
        conn.request("GET", "/fake/cut.bin")
        r = conn.getresponse()
        status = r.status
        try:
            data = r.read()
        except http.client.IncompleteRead as e:
            outcome, data = e, e.partial
        except (ConnectionError, http.client.HTTPException) as e:
            outcome = e
    except (ConnectionError, http.client.RemoteDisconnected) as e:
        outcome = e
    finally:
        conn.close()
    elapsed = time.monotonic() - t0
    if outcome is None:
        # A complete response is acceptable only if it is not a success (an error the proxy
        # chose before sending the head); a complete 200 would pass a cut object for a whole one.
        assert not (200 <= (status or 0) < 300), (
            f"cut chunked upstream delivered as a complete {status} with {len(data)} bytes "
            f"(upstream sent {sent} of {len(CHUNKED_BODY)})")
    else:
        assert len(data) <= sent, f"{len(data)} bytes delivered, upstream only sent {sent}"
        assert data == CHUNKED_BODY[:len(data)], "the partial body is not a prefix of the object"
    assert elapsed < 8, f"the cut took {elapsed:.2f}s to reach the client"
    assert request(p.host, p.port, "GET", "/health").status == 200, "proxy stopped serving"


def test_chunked_upstream_truncated_is_not_complete_for_an_http10_client(proxy_factory,
                                                                          fault_server):
    """Towards HTTP/1.0 the body is delimited by the close, so a clean FIN after the cut would
    make the partial object look complete (docs/architecture.md: "a client can never take a
    partial object for a complete one"). The only signal left is an abortive close (RST)."""
    fake = fault_server("chunked-truncated", body=CHUNKED_BODY, truncate_after_chunks=3)
    sent = sum(len(x) for x in fake.chunks()[:3])
    p = proxy_factory([fake_bucket(fake)])
    data, end = b"", None
    with socket.create_connection((p.host, p.port), timeout=10) as s:
        s.sendall(b"GET /fake/cut.bin HTTP/1.0\r\n\r\n")
        try:
            while True:
                piece = s.recv(65536)
                if not piece:
                    end = "clean close (FIN)"
                    break
                data += piece
        except ConnectionResetError:
            end = "reset"
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    if end != "reset":
        assert status_line.split(" ")[1:2] != ["200"], (
            f"cut chunked upstream reached an HTTP/1.0 client as '{status_line}' + {len(body)} "
            f"bytes ended by a {end}: indistinguishable from a complete object "
            f"(upstream sent {sent} of {len(CHUNKED_BODY)})")
    assert request(p.host, p.port, "GET", "/health").status == 200, "proxy stopped serving"


# --- 3. slow-loris request head ----------------------------------------------------------------

def test_slow_loris_head_is_cut_at_header_read_timeout(proxy_factory, moto_auth):
    """header_read_timeout bounds the whole head from its first byte: one byte every 0.5 s
    (which would last ~20 s) must not keep the connection open past ~2 s."""
    p = proxy_factory([moto_bucket(moto_auth, "pub", "/pub", catalog.BUCKET_PUB)],
                      server={"header_read_timeout": 2})
    drip = b"Host: 127.0.0.1\r\nX-Slow: " + b"a" * 40  # 1 byte / 0.5 s: ~33 s worth
    s = socket.create_connection((p.host, p.port), timeout=5)
    got = b""
    closed_at = None
    try:
        t0 = time.monotonic()
        s.sendall(b"GET /pub/x HTTP/1.1\r\n")
        for byte in drip:
            tick = time.monotonic() + 0.5
            while closed_at is None:
                left = tick - time.monotonic()
                if left <= 0:
                    break
                readable, _, _ = select.select([s], [], [], left)
                if not readable:
                    continue
                try:
                    data = s.recv(65536)
                except ConnectionResetError:
                    data = b""
                if data:
                    got += data
                else:
                    closed_at = time.monotonic()
            if closed_at is not None or time.monotonic() - t0 > 6:
                break
            try:
                s.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
    finally:
        s.close()
    assert closed_at is not None, (
        f"connection still open {time.monotonic() - t0:.1f}s after the first head byte "
        "with header_read_timeout 2")
    elapsed = closed_at - t0
    assert 1.5 <= elapsed <= 3.0, f"slow head cut after {elapsed:.2f}s (header_read_timeout 2)"
    assert got == b"" or got.startswith(b"HTTP/1.1 408"), f"unexpected answer {got[:200]!r}"
    assert_serves(p, "/pub/hello.txt", catalog.PUB_HELLO)


# --- 4. SIGHUP reload --------------------------------------------------------------------------

def test_sighup_reload_moves_a_prefix_and_refuses_an_invalid_file(proxy_factory, moto_auth):
    obj = catalog.SMALL

    def layout(prefix):
        return [moto_bucket(moto_auth, "movable", prefix, catalog.BUCKET_PUBLIC)]

    p = proxy_factory(layout("/a"))
    assert_serves(p, "/a/small.bin", obj)
    assert request(p.host, p.port, "GET", "/b/small.bin").status == 404

    p.write_config(config_doc(p.port, layout("/b")))
    t0 = time.monotonic()
    p.send_signal(signal.SIGHUP)
    moved = wait_for(lambda: request(p.host, p.port, "GET", "/b/small.bin").status == 200, 2.0)
    assert moved, (f"/b/small.bin not served {time.monotonic() - t0:.1f}s after SIGHUP\n"
                   + p.log_tail(20))
    assert_serves(p, "/b/small.bin", obj)
    assert request(p.host, p.port, "GET", "/a/small.bin").status == 404, "old prefix still routed"

    # An unknown key: the reload must change nothing, and say where the problem is.
    text = yaml.safe_dump(config_doc(p.port, layout("/c"), server={"bogus_reload_key": 1}),
                          sort_keys=False)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "bogus_reload_key" in l)
    p.write_config(text)
    p.send_signal(signal.SIGHUP)
    where = f"{p.config_path}:{line}"

    def refusal():
        return [m for m in log_messages(p) if "refused" in m and "bogus_reload_key" in m]
    lines = wait_for(refusal, 2.0)
    assert lines, f"no 'reload refused' log line naming the key\n{p.log_tail(20)}"
    assert any(where in m for m in lines), f"refusal does not name {where}: {lines}"
    assert p.alive(), "the proxy died on an invalid reload"
    assert_serves(p, "/b/small.bin", obj)
    assert request(p.host, p.port, "GET", "/c/small.bin").status == 404, "invalid file applied"
    assert request(p.host, p.port, "GET", "/a/small.bin").status == 404


# --- 5. SIGTERM drain --------------------------------------------------------------------------

def _slow_download(host, port, target, out: dict, started: threading.Event) -> None:
    """GET with a 64 KiB receive buffer, reading 128 KiB every 50 ms (~2.5 MiB/s)."""
    h = hashlib.sha256()
    n = 0
    try:
        c = RawConn(host, port, timeout=15, rcvbuf=64 * 1024)
        with c:
            c.send(request_bytes("GET", target))
            while b"\r\n\r\n" not in c.buf:
                if not c._fill():
                    raise EOFError(f"closed before the head: {c.buf[:200]!r}")
            head, _, rest = c.buf.partition(b"\r\n\r\n")
            c.buf = b""
            lines = head.decode("latin-1").split("\r\n")
            out["status"] = int(lines[0].split(" ")[1])
            hdrs = {k.strip().lower(): v.strip()
                    for k, _, v in (x.partition(":") for x in lines[1:])}
            out["headers"] = hdrs
            length = int(hdrs["content-length"])
            h.update(rest)
            n = len(rest)
            while n < length:
                budget = 128 * 1024
                while budget > 0 and n < length:
                    piece = c.sock.recv(min(budget, length - n, 65536))
                    if not piece:
                        raise EOFError(f"closed after {n} of {length} bytes")
                    h.update(piece)
                    n += len(piece)
                    budget -= len(piece)
                if n >= 1 << 20:
                    started.set()
                time.sleep(0.05)
    except Exception as e:  # reported by the test
        out["error"] = repr(e)
    finally:
        out["size"], out["sha256"] = n, h.hexdigest()
        started.set()


def test_sigterm_drains_an_inflight_download_then_exits_0(proxy_factory, moto_auth):
    obj = catalog.MEDIUM  # 10 MiB + 12345, multipart, on the signature-checking moto
    p = proxy_factory([moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)],
                      extra={"shutdown": {"timeout_seconds": 10}})
    out: dict = {}
    started = threading.Event()
    t = threading.Thread(target=_slow_download,
                         args=(p.host, p.port, "/public/medium.bin", out, started), daemon=True)
    t.start()
    assert started.wait(8), "the download did not start"
    assert "error" not in out, out
    t_sig = time.monotonic()
    p.send_signal(signal.SIGTERM)

    # During the drain: /ready answers 503, or new connections are not served at all.
    time.sleep(0.3)
    try:
        ready = request(p.host, p.port, "GET", "/ready", timeout=3)
        ready_outcome = ready.status
    except (ConnectionError, http.client.RemoteDisconnected, socket.timeout) as e:
        ready = None
        ready_outcome = type(e).__name__
    assert t.is_alive(), "the download finished before the drain could be observed"
    assert ready is None or ready.status == 503, (
        f"/ready during the drain: {ready_outcome} {ready.body[:200]!r}")

    t.join(12)
    assert not t.is_alive(), "the in-flight download did not finish"
    assert "error" not in out, f"in-flight download broken by SIGTERM: {out}\n{p.log_tail(20)}"
    assert out["status"] == 200
    assert out["size"] == obj.size and out["sha256"] == obj.sha256, (
        f"in-flight download: {out['size']} bytes, want {obj.size} exact")

    status = p.wait_exit(max(0.5, 11 - (time.monotonic() - t_sig)))
    exited = time.monotonic() - t_sig
    assert status is not None, f"still running {exited:.1f}s after SIGTERM\n{p.log_tail(20)}"
    assert status == 0, f"exit status {status} after SIGTERM\n{p.log_tail(20)}"
    assert exited <= 10.5, f"exited {exited:.1f}s after SIGTERM (shutdown.timeout_seconds 10)"
    msgs = log_messages(p)
    assert any("draining" in m for m in msgs), "no drain log line"
    assert not any("shutdown timeout" in m for m in msgs), "drain hit the timeout"


# --- 6. saturation: /health stays 200, objects get 503 + Retry-After ------------------------------

def test_health_stays_200_while_max_concurrent_requests_is_saturated(proxy_factory, fault_server,
                                                                     moto_auth):
    body = random.Random(6).randbytes(90_000)
    fake = fault_server("trickle", body=body, trickle_bytes=3000, trickle_interval=0.1)  # ~3 s
    p = proxy_factory([fake_bucket(fake, timeout=5),
                       moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)],
                      server={"max_concurrent_requests": 1})
    out: dict = {}

    def slow():
        try:
            out["r"] = request(p.host, p.port, "GET", "/fake/slow.bin", timeout=15)
        except Exception as e:  # reported below
            out["error"] = repr(e)

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    assert len(fake.wait_for_requests(1, timeout=5)) == 1, "slow download never reached upstream"
    assert wait_for(lambda: fake.connections and fake.connections[0].bytes_sent > 0, 3)

    health = request(p.host, p.port, "GET", "/health", timeout=5)
    assert health.status == 200, f"/health {health.status} while saturated: {health.body!r}"
    refused = [request(p.host, p.port, "GET", target, timeout=5)
               for target in ("/public/hello.txt", "/fake/other.bin")]
    assert t.is_alive(), "the slow download ended before the check; saturation not observed"
    for other in refused:
        assert_json_error(other, 503)
        retry = other.header("retry-after")
        assert retry is not None and retry.strip().isdigit() and int(retry) >= 1, (
            f"503 without a usable Retry-After: {other.headers}")
    assert len(fake.requests) == 1, (
        f"a refused request still reached the upstream: {[r.target for r in fake.requests]}")

    t.join(12)
    assert "error" not in out, out
    assert out["r"].status == 200 and sha(out["r"].body) == sha(body)
    # The slot is released when the proxy finishes the request (after its last byte reached
    # the client, and after recording it), a moment after the client has the whole body.
    wait_for(lambda: request(p.host, p.port, "GET", "/public/hello.txt", timeout=5).status == 200,
             2)
    assert_serves(p, "/public/hello.txt", catalog.HELLO)
