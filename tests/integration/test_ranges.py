"""Range requests (HTTP-8): single, open-ended, suffix, clipped, unsatisfiable -> 416 with
Content-Range bytes */SIZE; invalid syntax ignored (full 200); multi-range -> full 200
(our documented choice: see docs/testing.md)."""

from __future__ import annotations

import hashlib

import pytest

import catalog
import yg_data
from checks import assert_json_error, assert_proxied
from httpc import request, stream_digest

OBJ = catalog.RANGE_OBJ  # 100 000 random bytes
PATH = "/public/" + OBJ.key
SIZE = OBJ.size


def get_range(proxy, value, path=PATH):
    return request(proxy.host, proxy.port, "GET", path, headers={"Range": value})


@pytest.mark.parametrize("value,first,last", [
    ("bytes=100-199", 100, 199),           # middle
    ("bytes=0-0", 0, 0),                   # first byte
    ("bytes=-500", SIZE - 500, SIZE - 1),  # suffix
    ("bytes=99000-", 99000, SIZE - 1),     # open-ended
    ("bytes=99990-200000", 99990, SIZE - 1),  # last-pos past the end is clipped
    ("bytes=-200000", 0, SIZE - 1),        # suffix longer than the object: whole object
    ("bytes=0-99999", 0, SIZE - 1),
])
def test_satisfiable_range_is_206_with_exact_bytes(proxy, value, first, last):
    r = get_range(proxy, value)
    assert r.status == 206, r.body[:200]
    assert r.header("content-range") == f"bytes {first}-{last}/{SIZE}"
    assert r.header("content-length") == str(last - first + 1)
    assert r.body == OBJ.body[first:last + 1]
    assert_proxied(r)


@pytest.mark.parametrize("value", ["bytes=100000-", "bytes=200000-300000", "bytes=100000-100000"])
def test_unsatisfiable_range_is_416_with_size(proxy, value):
    r = get_range(proxy, value)
    assert_json_error(r, 416)
    assert r.header("content-range") == f"bytes */{SIZE}"


def test_range_on_empty_object_is_416(proxy):
    r = get_range(proxy, "bytes=0-0", path="/public/" + catalog.EMPTY.key)
    assert_json_error(r, 416)
    assert r.header("content-range") == "bytes */0"


@pytest.mark.parametrize("value", [
    "bytes=abc", "bytes=5-1", "items=0-5", "bytes 0-5", "bytes=--5", "bytes=", "bytes=1-2-3",
    "bytes=0x10-0x20", "=0-5",
])
def test_invalid_range_syntax_is_ignored(proxy, value):
    """RFC 9110 §14.2: a Range the server does not understand is ignored -> full 200."""
    r = get_range(proxy, value)
    assert r.status == 200, f"{value!r} -> {r.status} {r.header('content-range')}"
    assert r.header("content-range") is None
    assert hashlib.sha256(r.body).hexdigest() == OBJ.sha256


@pytest.mark.parametrize("value", ["bytes=0-1,5-6", "bytes=0-9, 20-29, -5"])
def test_multi_range_returns_full_object(proxy, value):
    """Documented choice for now: multi-range is answered with the whole object (allowed by
    RFC 9110 §14.2, which lets a server ignore Range)."""
    r = get_range(proxy, value)
    assert r.status == 200
    assert hashlib.sha256(r.body).hexdigest() == OBJ.sha256


def test_range_across_chunk_boundaries_of_medium_object(proxy):
    m = catalog.MEDIUM
    first, last = yg_data.MiB - 7, 3 * yg_data.MiB + 11
    d = stream_digest(proxy.host, proxy.port, "/public/" + m.key,
                      headers={"Range": f"bytes={first}-{last}"})
    assert d.status == 206
    assert d.header("content-range") == f"bytes {first}-{last}/{m.size}"
    want = yg_data.expected_slice(m.size, m.seed, first, last)
    assert d.size == len(want)
    assert d.sha256 == hashlib.sha256(want).hexdigest()


def test_range_with_if_none_match_current_etag_is_304(proxy):
    etag = request(proxy.host, proxy.port, "GET", PATH).header("etag")
    r = request(proxy.host, proxy.port, "GET", PATH,
                headers={"Range": "bytes=0-9", "If-None-Match": etag})
    assert r.status == 304
    assert r.body == b""
