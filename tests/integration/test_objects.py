"""GET/HEAD of objects through the proxy against moto with signature checking on:
exact bytes, the headers passed back (HTTP-6), conditionals (HTTP-7), versions, 404s."""

from __future__ import annotations

import hashlib
import urllib.parse

import pytest

import catalog
from checks import assert_json_error, assert_proxied, assert_request_id
from httpc import RawConn, request, request_bytes, stream_digest


def path_of(obj) -> str:
    for _name, (prefix, bucket) in catalog.ROUTES.items():
        if bucket == obj.bucket:
            return prefix + "/" + urllib.parse.quote(obj.key, safe="/")
    raise KeyError(obj.bucket)


def get(proxy, target, headers=None, method="GET"):
    return request(proxy.host, proxy.port, method, target, headers=headers)


def moto_headers(moto, obj) -> dict:
    h = moto.client().head_object(Bucket=obj.bucket, Key=obj.key)
    return h["ResponseMetadata"]["HTTPHeaders"]


SMALL = [catalog.HELLO, catalog.SMALL, catalog.NESTED, catalog.RANGE_OBJ, catalog.PUB_HELLO,
         catalog.AB_X, catalog.A_BX]


@pytest.mark.parametrize("obj", SMALL, ids=lambda o: f"{o.bucket}/{o.key}")
def test_get_returns_exact_bytes_and_s3_headers(proxy, moto_auth, obj):
    r = get(proxy, path_of(obj))
    assert r.status == 200, r.body[:300]
    assert hashlib.sha256(r.body).hexdigest() == obj.sha256
    assert r.header("content-length") == str(obj.size)
    assert_proxied(r)
    upstream = moto_headers(moto_auth, obj)
    assert r.header("etag") == upstream["etag"]
    assert r.header("etag").startswith('"') and r.header("etag").endswith('"')
    assert r.header("last-modified") == upstream["last-modified"]
    assert r.header("content-type") == upstream["content-type"]
    assert r.header("accept-ranges") == "bytes"


def test_get_empty_object(proxy):
    r = get(proxy, path_of(catalog.EMPTY))
    assert r.status == 200
    assert r.body == b""
    assert r.header("content-length") == "0"
    assert_proxied(r)


def test_get_medium_object_exact_sha256(proxy):
    d = stream_digest(proxy.host, proxy.port, "/public/" + catalog.MEDIUM.key)
    assert d.status == 200
    assert d.size == catalog.MEDIUM.size
    assert d.header("content-length") == str(catalog.MEDIUM.size)
    assert d.sha256 == catalog.MEDIUM.sha256


def test_head_has_get_headers_and_no_body(proxy):
    g = get(proxy, "/public/" + catalog.MEDIUM.key, headers={"Range": "bytes=0-0"})
    with RawConn(proxy.host, proxy.port) as c:
        # HEAD then GET on one connection: had the proxy sent body bytes after the HEAD
        # response, the second response would not parse.
        c.send(request_bytes("HEAD", "/public/" + catalog.MEDIUM.key)
               + request_bytes("GET", path_of(catalog.HELLO)))
        h = c.read_response(head_request=True)
        after = c.read_response()
    assert h.status == 200
    assert h.header("content-length") == str(catalog.MEDIUM.size)
    assert h.header("etag") == g.header("etag")
    assert h.header("last-modified") == g.header("last-modified")
    assert_proxied(h)
    assert after.status == 200 and after.body == catalog.HELLO.body


def test_head_missing_key_is_404_without_body(proxy):
    with RawConn(proxy.host, proxy.port) as c:
        c.send(request_bytes("HEAD", "/public/no-such-key.txt")
               + request_bytes("GET", path_of(catalog.HELLO)))
        h = c.read_response(head_request=True)
        after = c.read_response()
    assert h.status == 404
    assert_request_id(h)
    assert after.status == 200 and after.body == catalog.HELLO.body


def test_content_headers_and_user_metadata_passed_back(proxy, moto_auth):
    obj = catalog.HEADERS_OBJ
    r = get(proxy, path_of(obj))
    assert r.status == 200
    assert r.body == obj.body, "Content-Encoding: gzip body must pass through undecoded"
    up = moto_headers(moto_auth, obj)
    for h in ("content-type", "content-encoding", "content-disposition", "content-language",
              "cache-control", "expires", "etag", "last-modified", "x-amz-meta-owner",
              "x-amz-meta-purpose"):
        assert h in up, f"moto did not send {h}; test premise broken"
        assert r.header(h) == up[h], f"{h}: proxy {r.header(h)!r} != S3 {up[h]!r}"
    assert r.header("content-encoding") == "gzip"
    assert r.header("x-amz-meta-owner") == "team-a"


def test_s3_internal_headers_not_passed_back(proxy):
    r = get(proxy, path_of(catalog.HELLO))
    assert r.status == 200
    for h in ("x-amz-request-id", "x-amzn-requestid", "x-amz-id-2", "x-amz-content-sha256"):
        assert r.header(h) is None, f"S3-internal header {h} leaked to the client"


def test_latest_version_carries_version_id(proxy):
    r = get(proxy, f"/versioned/{catalog.VERSIONED_KEY}")
    assert r.status == 200
    assert r.body == catalog.VERSION_BODIES[-1]
    assert r.header("x-amz-version-id") == catalog.VERSION_IDS[-1]


def test_version_id_query_is_forwarded_and_signed(proxy):
    vid = catalog.VERSION_IDS[0]
    r = get(proxy, f"/versioned/{catalog.VERSIONED_KEY}?versionId={urllib.parse.quote(vid)}")
    assert r.status == 200, r.body[:300]
    assert r.body == catalog.VERSION_BODIES[0]
    assert r.header("x-amz-version-id") == vid


@pytest.mark.parametrize("query", ["acl", "tagging", "list-type=2", "uploads", "x-id=GetObjectAcl",
                                   "torrent", "response-cache-control=no-cache&foo=bar"])
def test_other_query_parameters_do_not_change_the_object(proxy, query):
    """Only versionId (and response-* if supported) may reach S3; ?acl or ?tagging must not
    turn a GET into another S3 operation."""
    r = get(proxy, path_of(catalog.HELLO) + "?" + query)
    assert r.status == 200, r.body[:300]
    assert r.body == catalog.HELLO.body


def test_response_override_query_with_slash_on_unchecked_s3(proxy):
    """response-content-type=text/... is served from the no-auth moto: moto's verifier
    rejects botocore's correct signature for that query (a '/' in the value)."""
    obj = catalog.HOSTILE_OBJECTS[0]
    r = get(proxy, "/hostile/" + urllib.parse.quote(obj.key) +
            "?response-content-type=text/evil&foo=bar")
    assert r.status == 200, r.body[:300]
    assert r.body == obj.body


def test_missing_key_is_json_404(proxy):
    r = get(proxy, "/public/does/not/exist.txt")
    assert_json_error(r, 404)
    assert b"<Error>" not in r.body, "S3's XML error leaked through"


# --- conditionals (HTTP-7) ---------------------------------------------------------------

@pytest.fixture
def hello_validators(proxy):
    r = get(proxy, path_of(catalog.HELLO))
    assert r.status == 200
    return r.header("etag"), r.header("last-modified")


def test_if_none_match_same_etag_is_304(proxy, hello_validators):
    etag, _ = hello_validators
    r = get(proxy, path_of(catalog.HELLO), headers={"If-None-Match": etag})
    assert r.status == 304
    assert r.body == b""
    assert r.header("etag") == etag
    assert_request_id(r)


def test_if_none_match_other_etag_is_200(proxy, hello_validators):
    r = get(proxy, path_of(catalog.HELLO), headers={"If-None-Match": '"0123abcd"'})
    assert r.status == 200 and r.body == catalog.HELLO.body


@pytest.mark.parametrize("form", ["list", "weak", "star"])
def test_if_none_match_lists_weak_and_star_are_304(proxy, hello_validators, form):
    """RFC 9110 §13.1.2: a list matches if any member does; comparison is weak; * matches any
    current representation. (moto itself answers 200 to all three, so the proxy has to
    evaluate the condition on S3's ETag.)"""
    etag, _ = hello_validators
    value = {"list": f'"nope", {etag}, "other"', "weak": f"W/{etag}", "star": "*"}[form]
    r = get(proxy, path_of(catalog.HELLO), headers={"If-None-Match": value})
    assert r.status == 304, r.body[:200]
    assert r.body == b""


def test_if_modified_since_last_modified_is_304(proxy, hello_validators):
    _, lm = hello_validators
    r = get(proxy, path_of(catalog.HELLO), headers={"If-Modified-Since": lm})
    assert r.status == 304


def test_if_modified_since_old_date_is_200(proxy):
    r = get(proxy, path_of(catalog.HELLO),
            headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
    assert r.status == 200 and r.body == catalog.HELLO.body


def test_if_match_mismatch_is_412(proxy):
    r = get(proxy, path_of(catalog.HELLO), headers={"If-Match": '"0123abcd"'})
    assert_json_error(r, 412)


def test_if_unmodified_since_old_date_is_412(proxy):
    r = get(proxy, path_of(catalog.HELLO),
            headers={"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
    assert_json_error(r, 412)
