"""The test environment itself: moto really checks signatures, the no-auth moto serves the
hostile keys, the FAKE fault server misbehaves as documented, the data generator is exact.
These run without the proxy binary, so a broken environment is told apart from a broken proxy.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

import catalog
import yg_data
from fault_server import FaultServer


def test_moto_auth_serves_objects_to_the_right_key(moto_auth):
    body = moto_auth.client().get_object(Bucket=catalog.HELLO.bucket,
                                         Key=catalog.HELLO.key)["Body"].read()
    assert body == catalog.HELLO.body


def test_moto_auth_rejects_a_wrong_secret(moto_auth):
    bad = moto_auth.client(secret_key="not-the-secret-" + moto_auth.secret_key[:4])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.get_object(Bucket=catalog.HELLO.bucket, Key=catalog.HELLO.key)
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_moto_auth_rejects_an_unknown_access_key(moto_auth):
    bad = moto_auth.client(access_key="AKIAUNKNOWNKEY000000")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.get_object(Bucket=catalog.HELLO.bucket, Key=catalog.HELLO.key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_moto_auth_rejects_unsigned_requests(moto_auth):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{moto_auth.url}/{catalog.HELLO.bucket}/{catalog.HELLO.key}",
                               timeout=5)
    assert e.value.code == 403


def test_moto_auth_verifier_still_rejects_hostile_keys(moto_auth):
    """DESIGN.md §5: moto 5.2.1 rejects botocore's correct signature for such keys, which is
    why they are served from moto_noauth. If this starts passing, move them over."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        moto_auth.put(catalog.BUCKET_PUBLIC, "plus+sign-probe.txt", b"x")
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


@pytest.mark.parametrize("obj", catalog.HOSTILE_OBJECTS, ids=lambda o: o.key)
def test_moto_noauth_serves_hostile_keys_exactly(moto_noauth, obj):
    body = moto_noauth.client().get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == obj.sha256


def test_moto_noauth_holds_the_traversal_trap_and_neighbour(moto_noauth):
    s3 = moto_noauth.client()
    trap = s3.get_object(Bucket=catalog.BUCKET_HOSTILE, Key=catalog.TRAP_KEY)["Body"].read()
    assert catalog.NEIGHBOUR_MARKER in trap
    n = s3.get_object(Bucket=catalog.BUCKET_NEIGHBOUR, Key="secret.txt")["Body"].read()
    assert n == catalog.NEIGHBOUR_SECRET.body


def test_medium_object_matches_its_generator(moto_auth):
    r = moto_auth.client().get_object(Bucket=catalog.MEDIUM.bucket, Key=catalog.MEDIUM.key)
    h = hashlib.sha256()
    n = 0
    for piece in r["Body"].iter_chunks(1 << 20):
        h.update(piece)
        n += len(piece)
    assert n == catalog.MEDIUM.size
    assert h.hexdigest() == catalog.MEDIUM.sha256


def test_versioned_bucket_has_two_versions(moto_auth):
    assert len(catalog.VERSION_IDS) == 2 and catalog.VERSION_IDS[0] != catalog.VERSION_IDS[1]


def test_expected_slice_matches_the_stream():
    size, seed = 3 * yg_data.MiB + 17, 9
    whole = b"".join(yg_data.chunks(size, seed))
    assert hashlib.sha256(whole).hexdigest() == yg_data.sha256_of(size, seed)
    for a, b in [(0, 0), (5, 100), (yg_data.MiB - 3, yg_data.MiB + 3), (size - 10, size + 50)]:
        assert yg_data.expected_slice(size, seed, a, b) == whole[a:b + 1]
    assert b"".join(yg_data.parts(size, seed, yg_data.MiB)) == whole


def test_png_is_a_png():
    data = yg_data.png(8, 4)
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")


# --- the FAKE fault server ---------------------------------------------------------------

def _get(server, timeout=5.0):
    c = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    c.request("GET", "/fake-bucket/key")
    return c, c.getresponse()


def test_fault_ok_serves_and_records():
    with FaultServer(mode="ok", body=b"abc") as s:
        c, r = _get(s)
        assert r.status == 200 and r.read() == b"abc"
        c.close()
        reqs = s.wait_for_requests(1)
        assert reqs[0].method == "GET" and reqs[0].target == "/fake-bucket/key"


def test_fault_stall_before_headers_says_nothing():
    with FaultServer(mode="stall-before-headers") as s:
        with pytest.raises(socket.timeout):
            _get(s, timeout=1.0)
        assert s.wait_all_closed(3)


def test_fault_stall_mid_body_sends_half():
    with FaultServer(mode="stall-mid-body", body=b"z" * 100_000) as s:
        c, r = _get(s, timeout=1.0)
        assert r.status == 200 and int(r.getheader("content-length")) == 100_000
        got = b""
        with pytest.raises(socket.timeout):
            while True:
                piece = r.read1(65536)
                if not piece:
                    break
                got += piece
        assert len(got) == 50_000
        c.close()


def test_fault_reset_resets():
    with FaultServer(mode="reset") as s:
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
            _get(s)


def test_fault_503_always():
    with FaultServer(mode="503-always") as s:
        c, r = _get(s)
        assert r.status == 503 and b"SlowDown" in r.read()


def test_fault_trickle_is_slow_but_complete():
    with FaultServer(mode="trickle", body=b"t" * 1000, trickle_bytes=100,
                     trickle_interval=0.05) as s:
        t0 = time.monotonic()
        c, r = _get(s)
        assert r.read() == b"t" * 1000
        assert time.monotonic() - t0 >= 0.4


def test_fault_chunked_frames_every_piece_in_its_own_write():
    body = bytes(range(256)) * 449 + b"tail"  # 114_948 bytes: the last chunk is shorter
    with FaultServer(mode="chunked", body=body) as s:
        c, r = _get(s)
        assert r.status == 200 and r.getheader("content-length") is None
        assert r.getheader("transfer-encoding") == "chunked"
        assert r.read() == body
        assert [len(x) for x in s.chunks()] == [1, 4093, 100 * 1024, 17, 8437]
        assert s.connections[0].bytes_sent > len(body)  # sizes + CRLFs counted too
        c.close()


def test_fault_chunked_truncated_has_no_last_chunk():
    body = b"q" * 110_000
    with FaultServer(mode="chunked-truncated", body=body, truncate_after_chunks=3) as s:
        c, r = _get(s)
        assert r.status == 200
        with pytest.raises(http.client.IncompleteRead) as e:
            r.read()
        assert e.value.partial == body[:1 + 4093 + 100 * 1024]
        c.close()

