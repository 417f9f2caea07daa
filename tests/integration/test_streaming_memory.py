"""Streaming (S3-3): exact bytes of a 1 GiB object, bounded memory towards a slow reader,
client disconnects mid-stream (the proxy keeps serving; the upstream read is cancelled).

`slow` tests use the 1 GiB object (uploaded once per session, ~30 s); `rss` measures the
proxy's peak RSS and is excluded under ASan, which inflates memory."""

from __future__ import annotations

import hashlib
import socket
import struct
import time

import pytest

import catalog
import yg_data
from httpc import RawConn, request, request_bytes, stream_digest
from layouts import fake_bucket, moto_bucket, standard_buckets

MiB = yg_data.MiB
RSS_LIMIT = 100 * MiB


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_1gib_object_exact_sha256(proxy, big_object):
    d = stream_digest(proxy.host, proxy.port, "/public/" + big_object.key, timeout=120)
    assert d.status == 200
    assert d.header("content-length") == str(big_object.size)
    assert d.size == big_object.size
    assert d.sha256 == big_object.sha256
    print(f"1 GiB through the proxy in {d.elapsed:.1f}s ({big_object.size / d.elapsed / MiB:.0f} MiB/s)")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_1gib_object_head_and_ranges(proxy, big_object):
    path = "/public/" + big_object.key
    h = request(proxy.host, proxy.port, "HEAD", path)
    assert h.status == 200 and h.header("content-length") == str(big_object.size)
    for first, last in [(512 * MiB - 5, 512 * MiB + 5), (big_object.size - MiB, big_object.size - 1),
                        (777_777_777, 777_777_777 + 3 * MiB)]:
        d = stream_digest(proxy.host, proxy.port, path, headers={"Range": f"bytes={first}-{last}"})
        want = yg_data.expected_slice(big_object.size, big_object.seed, first, last)
        assert d.status == 206
        assert d.header("content-range") == f"bytes {first}-{last}/{big_object.size}"
        assert d.sha256 == hashlib.sha256(want).hexdigest()


@pytest.mark.slow
@pytest.mark.rss
@pytest.mark.timeout(900)
def test_peak_rss_while_streaming_1gib_to_a_slow_reader(proxy_factory, moto_auth, big_object):
    """A reader with a small receive buffer that first stops reading for 3 s, then reads in
    16 KiB pieces with pauses (~50 MiB/s, far below what moto sends): the proxy must apply
    backpressure, so its peak RSS (VmHWM) stays under 100 MiB."""
    p = proxy_factory(standard_buckets(moto_auth), name="rss-proxy")
    before = p.vm_status()
    samples = []
    h = hashlib.sha256()
    got = 0
    deadline = time.monotonic() + 600
    with RawConn(p.host, p.port, timeout=60, rcvbuf=16 * 1024) as c:
        c.send(request_bytes("GET", "/public/" + big_object.key))
        head = c._read_until(b"\r\n\r\n").decode("latin-1")
        assert head.startswith("HTTP/1.1 200"), head[:200]
        if c.buf:
            h.update(c.buf)
            got += len(c.buf)
            c.buf = b""
        sock = c.sock
        while got < MiB:
            piece = sock.recv(16 * 1024)
            assert piece, "connection closed early"
            h.update(piece)
            got += len(piece)
        stall_end = time.monotonic() + 3.0
        while time.monotonic() < stall_end:  # reader stalls; upstream keeps offering data
            samples.append(p.vm_status()["VmRSS"])
            time.sleep(0.25)
        n = 0
        while got < big_object.size:
            piece = sock.recv(16 * 1024)
            assert piece, f"connection closed after {got} bytes"
            h.update(piece)
            got += len(piece)
            n += 1
            if n % 4 == 0:
                time.sleep(0.001)
            if n % 4096 == 0:
                samples.append(p.vm_status()["VmRSS"])
                assert time.monotonic() < deadline, "slow read exceeded its time bound"
    after = p.vm_status()
    assert got == big_object.size
    assert h.hexdigest() == big_object.sha256
    peak = after["VmHWM"]
    print(f"proxy VmHWM before {before['VmHWM'] / MiB:.1f} MiB, after {peak / MiB:.1f} MiB; "
          f"max sampled VmRSS {max(samples) / MiB:.1f} MiB")
    assert peak < RSS_LIMIT, f"peak RSS {peak / MiB:.1f} MiB >= 100 MiB while streaming 1 GiB"


def _abandon(host, port, target, read_bytes, rst):
    c = RawConn(host, port, timeout=30, rcvbuf=4096)
    try:
        c.send(request_bytes("GET", target))
        while len(c.buf) < read_bytes:
            if not c._fill():
                break
        if rst:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        c.close()


def test_client_disconnect_mid_stream_proxy_keeps_serving(proxy):
    target = "/public/" + catalog.MEDIUM.key
    for i in range(12):
        _abandon(proxy.host, proxy.port, target, read_bytes=64 * 1024, rst=bool(i % 2))
    assert proxy.alive()
    d = stream_digest(proxy.host, proxy.port, target)
    assert d.status == 200 and d.sha256 == catalog.MEDIUM.sha256
    assert request(proxy.host, proxy.port, "GET", "/health").status == 200


def test_client_disconnect_cancels_the_upstream_read(proxy_factory, fault_server, moto_auth):
    """S3-3: a client that goes away cancels the upstream read. The FAKE backend trickles a
    20 MB body over ~15 s; after the client leaves, the proxy must close its upstream
    connection within a few seconds, long before the body is done."""
    body = bytes(range(256)) * (20 * 4096)  # 20 MiB
    fake = fault_server("trickle", body=body, trickle_bytes=64 * 1024, trickle_interval=0.05)
    p = proxy_factory([fake_bucket(fake, timeout=5),
                       moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)])
    _abandon(p.host, p.port, "/fake/big.bin", read_bytes=200 * 1024, rst=False)
    left = time.monotonic()
    assert fake.wait_all_closed(6), "proxy kept reading from S3 after the client left"
    closed = max(c.closed_at for c in fake.connections)
    assert closed - left < 6
    assert all(c.bytes_sent < len(body) for c in fake.connections)
    r = request(p.host, p.port, "GET", "/public/hello.txt")
    assert r.status == 200 and r.body == catalog.HELLO.body


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_client_disconnect_mid_1gib_proxy_keeps_serving(proxy, big_object):
    for rst in (False, True):
        _abandon(proxy.host, proxy.port, "/public/" + big_object.key, read_bytes=8 * MiB, rst=rst)
    r = request(proxy.host, proxy.port, "GET", "/public/hello.txt")
    assert r.status == 200 and r.body == catalog.HELLO.body
