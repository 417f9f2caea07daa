"""Routing and paths (ROUTE-1, ROUTE-2): longest prefix on a segment boundary, empty keys,
traversal in every encoding, hostile keys with exact bytes."""

from __future__ import annotations

import hashlib
import urllib.parse

import pytest

import catalog
from checks import assert_json_error, assert_proxied
from httpc import RawConn, request, request_bytes


def get(proxy, target, **kw):
    return request(proxy.host, proxy.port, "GET", target, **kw)


# --- longest prefix, segment boundaries --------------------------------------------------

def test_longest_prefix_wins(proxy):
    """/a and /a/b are different S3 buckets; /a/b/x.txt must come from the /a/b bucket even
    though bucket A also has a key b/x.txt."""
    r = get(proxy, "/a/b/x.txt")
    assert r.status == 200
    assert r.body == catalog.AB_X.body
    assert r.body != catalog.A_B_X.body


def test_shorter_prefix_still_serves_its_bucket(proxy):
    r = get(proxy, "/a/secret.txt")
    assert r.status == 200 and r.body == catalog.A_SECRET.body


def test_prefix_matches_only_on_segment_boundary(proxy):
    r = get(proxy, "/a/bx/y.txt")  # /a/b must not match /a/bx
    assert r.status == 200 and r.body == catalog.A_BX.body


def test_pub_and_public_are_different_buckets(proxy):
    assert get(proxy, "/pub/hello.txt").body == catalog.PUB_HELLO.body
    assert get(proxy, "/public/hello.txt").body == catalog.HELLO.body


@pytest.mark.parametrize("target", ["/pubx/hello.txt", "/publicx/hello.txt", "/nope/hello.txt",
                                    "/", "/favicon.ico", "/ab/x.txt", "/Public/hello.txt"])
def test_unknown_prefix_is_404(proxy, target):
    assert_json_error(get(proxy, target), 404)


@pytest.mark.parametrize("target", ["/public", "/public/", "/a/b", "/a/b/", "/public?list-type=2",
                                    "/public/?list-type=2&prefix=", "/a/b/?delimiter=/"])
def test_empty_key_is_404_never_a_listing(proxy, target):
    r = get(proxy, target)
    assert_json_error(r, 404)
    assert b"ListBucketResult" not in r.body
    assert b"hello.txt" not in r.body


def test_encoded_slash_in_key_is_decoded_once(proxy):
    """ROUTE-2: the key is the rest of the path percent-decoded once."""
    r = get(proxy, "/public/dir%2Fnested%2Fdeep.txt")
    assert r.status == 200 and r.body == catalog.NESTED.body


def test_percent_encoded_ascii_is_decoded(proxy):
    r = get(proxy, "/public/%68%65%6C%6C%6F.txt")  # "hello"
    assert r.status == 200 and r.body == catalog.HELLO.body


# --- traversal: 400 and never a byte of another bucket -----------------------------------
# Each path is tried from /public (moto with auth; the S3-level target is bucket A) and from
# /hostile (moto WITHOUT auth, which would really serve whatever a buggy proxy forwarded;
# the S3-level target is the unrouted neighbour bucket). {P} = prefix, {B} = target bucket.

TRAVERSALS = [
    "{P}/../a/secret.txt",
    "{P}/../{B}/secret.txt",
    "{P}/../../{B}/secret.txt",
    "{P}/./hello.txt",
    "{P}/hello.txt/..",
    "{P}/hello.txt/.",
    "{P}/x/../../a/secret.txt",
    "{P}//../a/secret.txt",
    "{P}/%2e%2e/a/secret.txt",
    "{P}/%2e%2e/{B}/secret.txt",
    "{P}/%2E%2E/a/secret.txt",
    "{P}/.%2e/a/secret.txt",
    "{P}/%2e./a/secret.txt",
    "{P}/%2e/hello.txt",
    "{P}/..%2fa%2fsecret.txt",
    "{P}/..%2F{B}%2Fsecret.txt",
    "{P}/%2e%2e%2f{B}%2fsecret.txt",
    "{P}/x%2f..%2f..%2f{B}%2fsecret.txt",
    "{P}/..%2f..%2f{B}%2fsecret.txt",
    # encoded NUL, overlong / invalid UTF-8, bad percent-encoding
    "{P}/hello.txt%00.png",
    "{P}/%00",
    "{P}/%c0%ae%c0%ae/{B}/secret.txt",
    "{P}/%c0%af",
    "{P}/%e0%80%ae%e0%80%ae/x",
    "{P}/%ff.txt",
    "{P}/%zz.txt",
    "{P}/%2",
    "{P}/abc%",
    "{P}/%%32%65%%32%65/x",
]
SIDES = {"public": ("/public", catalog.BUCKET_A), "hostile": ("/hostile", catalog.BUCKET_NEIGHBOUR)}


def _no_marker(body: bytes) -> None:
    for m in catalog.MARKERS:
        assert m not in body, "another bucket's bytes leaked"


@pytest.mark.parametrize("side", sorted(SIDES))
@pytest.mark.parametrize("template", TRAVERSALS)
def test_traversal_and_bad_encoding_are_400(proxy, side, template):
    prefix, bucket = SIDES[side]
    r = get(proxy, template.format(P=prefix, B=bucket))
    _no_marker(r.body)
    assert_json_error(r, 400)


@pytest.mark.parametrize("target", ["/a/b/..%2fsecret.txt", "/a/b/%2e%2e/secret.txt",
                                    "/a/b/../secret.txt", "/a/b/%2E%2e%2Fsecret.txt"])
def test_traversal_out_of_a_nested_prefix_is_400(proxy, target):
    r = get(proxy, target)
    _no_marker(r.body)
    assert_json_error(r, 400)


# Not traversal after ONE decoding: literal keys (on the no-auth moto, which accepts any key;
# moto with auth would refuse their signatures, see DESIGN.md §5). 404 (looked up) or 400
# (refused) are both fine; another bucket's bytes never are.
B = catalog.BUCKET_NEIGHBOUR
LOOKALIKES = [
    f"/hostile/%252e%252e/{B}/secret.txt",      # double-encoded: key "%2e%2e/yg-neighbour/.."
    f"/hostile/%252e%252e%252f{B}%252fsecret.txt",
    f"/hostile/..;/{B}/secret.txt",              # Tomcat-style path parameter
    f"/hostile/%ef%bc%8e%ef%bc%8e/{B}/secret.txt",  # fullwidth dots
    f"/hostile/..%5c{B}%5csecret.txt",           # backslashes
    "/hostile/...",
    f"/hostile/.../{B}/secret.txt",
]


@pytest.mark.parametrize("target", LOOKALIKES)
def test_traversal_lookalikes_never_leak(proxy, target):
    r = get(proxy, target)
    _no_marker(r.body)
    assert r.status in (400, 404), f"{target} -> {r.status}"
    assert_json_error(r, r.status)


def test_absolute_form_traversal_is_refused(proxy):
    """An absolute-form request target with dot segments gets the same treatment."""
    with RawConn(proxy.host, proxy.port) as c:
        c.send(request_bytes("GET", f"http://{proxy.host}:{proxy.port}/public/../a/secret.txt"))
        r = c.read_response()
    _no_marker(r.body)
    assert r.status == 400


# --- hostile keys (moto without auth; see DESIGN.md §5) ----------------------------------

def _quoted(key: str) -> str:
    return "/hostile/" + urllib.parse.quote(key, safe="/")


@pytest.mark.parametrize("obj", catalog.HOSTILE_OBJECTS, ids=lambda o: o.key)
def test_hostile_keys_return_exact_bytes(proxy, obj):
    r = get(proxy, _quoted(obj.key))
    assert r.status == 200, f"{obj.key!r}: {r.status} {r.body[:200]!r}"
    assert hashlib.sha256(r.body).hexdigest() == obj.sha256
    assert_proxied(r)


@pytest.mark.parametrize("target,key", [
    ("/hostile/plus+sign.txt", "plus+sign.txt"),                   # '+' in a path is not a space
    ("/hostile/amp&ersand=equals.txt", "amp&ersand=equals.txt"),
    ("/hostile/at@sign(parens).txt", "at@sign(parens).txt"),
    ("/hostile/tilde~file.txt", "tilde~file.txt"),
    ("/hostile/tilde%7Efile.txt", "tilde~file.txt"),
    ("/hostile/%C3%BCn%C3%AFc%C3%B6d%C3%A9-%E6%97%A5%E6%9C%AC%E8%AA%9E.txt", "ünïcödé-日本語.txt"),
    ("/hostile/percent%25literal.txt", "percent%literal.txt"),
    ("/hostile/percent%252Fencoded-looking.txt", "percent%2Fencoded-looking.txt"),
    ("/hostile/semi;colon,comma!star*quote'.txt", "semi;colon,comma!star*quote'.txt"),
])
def test_hostile_keys_in_other_client_spellings(proxy, target, key):
    obj = catalog.find(catalog.BUCKET_HOSTILE, key)
    r = get(proxy, target)
    assert r.status == 200, f"{target}: {r.status} {r.body[:200]!r}"
    assert r.body == obj.body


def test_raw_utf8_in_request_target(proxy):
    """Some clients send UTF-8 bytes unencoded; the proxy must encode them for SigV4."""
    key = "ünïcödé-日本語.txt"
    with RawConn(proxy.host, proxy.port) as c:
        c.send(b"GET /hostile/" + key.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
    assert r.status in (200, 400), r.status
    if r.status == 200:
        assert r.body == catalog.find(catalog.BUCKET_HOSTILE, key).body
