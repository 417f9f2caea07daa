"""CACHE-1..3, CACHE-5..9 (docs/CACHE.md) end to end: the built proxy with the response cache on,
moto with SigV4 checking behind a counting relay (tests/support/counting_relay.py), so every test
can assert what the client saw (status, X-Cache, headers, exact bytes by SHA-256) AND how many
requests reached S3. Every object is put by its test under a unique key.

Layout: each test starts its own proxy (proxy_factory) whose buckets point at a relay that
forwards to moto byte for byte; the relay counts requests per path, records their headers, can
hold the first response bytes (coalescing) and can go down (stale-if-error).
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import hashlib
import http.client
import os
import random
import signal
import socket
import string
import struct
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import botocore.exceptions
import pytest

import httpc
import yg_procs
from counting_relay import CountingRelay
from fault_server import FaultServer
from jwks_server import make_key
from prom import eventually, scrape, series, series_or_zero
from proxy import bucket_block, config_doc, register_secret, s3_block

H = "127.0.0.1"
SANITIZED = os.environ.get("YG_SANITIZED") == "1"
KiB, MiB = 1024, 1024 * 1024

# S3 buckets on the signature-checking moto, only for this module.
S3_A = "yg-cache-a"
S3_B = "yg-cache-b"

# HTTP-6: what a hit must carry exactly as the miss that stored it did.
HTTP6_HEADERS = ("content-type", "content-length", "etag", "last-modified", "cache-control",
                 "content-disposition", "content-encoding", "content-language", "expires",
                 "accept-ranges", "x-amz-version-id")


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3(moto_auth):
    for b in (S3_A, S3_B):
        moto_auth.ensure_bucket(b)
    return moto_auth


@pytest.fixture
def keys():
    return make_key("HS256")


# --- helpers -----------------------------------------------------------------------------------

def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def rand_bytes(n: int, seed: Optional[int] = None) -> bytes:
    return random.Random(seed).randbytes(n)


def new_key(tag: str) -> str:
    return f"{tag}/{uuid.uuid4().hex[:12]}.bin"


def put(s3, key: str, body: bytes, bucket: str = S3_A, **extra) -> str:
    """Puts an object; returns its ETag exactly as S3 sends it (with quotes)."""
    return s3.put(bucket, key, body, **extra)["ETag"]


def cache_section(layers=("memory",), *, mem_mb: int = 64, item_mb: int = 10,
                  ttl: int = 3600, disk_dir: Optional[Path] = None, disk_mb: int = 256,
                  stale: Optional[int] = None) -> dict:
    c = {"enabled": True, "cache_layers": list(layers),
         "memory": {"max_cache_size_mb": mem_mb, "max_item_size_mb": item_mb,
                    "default_ttl_seconds": ttl}}
    if disk_dir is not None:
        c["disk"] = {"enabled": True, "cache_dir": str(disk_dir),
                     "max_disk_cache_size_mb": disk_mb}
    if stale is not None:
        c["stale_if_error_seconds"] = stale
    return c


def relay_bucket(relay: CountingRelay, s3, name: str = "c", prefix: str = "/c",
                 s3_bucket: str = S3_A, cache: Optional[dict] = None, **extra) -> dict:
    b = bucket_block(name, prefix, s3_block(relay.url, s3_bucket, s3.access_key, s3.secret_key),
                     **extra)
    if cache is not None:
        b["cache"] = cache
    return b


def start(proxy_factory, buckets: List[dict], cache: dict, *, jwt: Optional[dict] = None,
          name: Optional[str] = None, server: Optional[dict] = None):
    extra = {"cache": cache}
    if jwt is not None:
        extra["jwt"] = jwt
    return proxy_factory(buckets, extra=extra, name=name, server=server)


def get(p, target: str, headers: Optional[Dict[str, str]] = None, method: str = "GET"):
    return httpc.request(H, p.port, method, target, headers=headers)


def target(prefix: str, key: str) -> str:
    return prefix + "/" + urllib.parse.quote(key, safe="/")


def s3_gets(relay: CountingRelay, key: str, bucket: str = S3_A) -> int:
    return relay.count("GET", f"/{bucket}/{key}")


def xc(r) -> Optional[str]:
    return r.header("X-Cache")


def assert_body(r, body: bytes, x_cache=None, status: int = 200):
    """Status, exact bytes and Content-Length; X-Cache when given (a value or a set)."""
    assert r.status == status, f"want {status}\n{r.text_dump()[:600]}"
    assert sha(r.body) == sha(body), (f"wrong bytes: {len(r.body)} bytes, want {len(body)} "
                                      f"(X-Cache {xc(r)})")
    assert r.header("Content-Length") == str(len(body)), r.headers
    if x_cache is not None:
        want = {x_cache} if isinstance(x_cache, str) else set(x_cache)
        assert xc(r) in want, f"X-Cache {xc(r)!r}, want {sorted(want)}; headers {r.headers}"


def assert_age(r, at_least: int = 0) -> int:
    age = r.header("Age")
    assert age is not None and age.isdigit(), f"Age {age!r} on a {xc(r)} response: {r.headers}"
    assert int(age) >= at_least, f"Age {age} < {at_least}"
    return int(age)


def http6(r) -> dict:
    out = {h: r.header(h) for h in HTTP6_HEADERS if r.header(h) is not None}
    out.update({k.lower(): v for k, v in r.headers if k.lower().startswith("x-amz-meta-")})
    return out


def admin_json(p, method: str, path: str, status: int = 200, token: Optional[str] = None):
    hdrs = {"Authorization": f"Bearer {register_secret(token)}"} if token else None
    r = get(p, path, hdrs, method=method)
    assert r.status == status, f"{method} {path}: want {status}\n{r.text_dump()[:600]}"
    ctype = (r.header("Content-Type") or "").split(";")[0].strip()
    assert ctype == "application/json", f"{method} {path}: Content-Type {ctype!r}"
    return r.json()


def stats(p) -> dict:
    return admin_json(p, "GET", "/admin/cache/stats")


def info(p, bucket: str, key: str) -> Optional[dict]:
    q = urllib.parse.quote(f"{bucket}:{key}", safe="")
    r = get(p, f"/admin/cache/info?key={q}")
    if r.status == 404:
        return None
    assert r.status == 200, r.text_dump()[:600]
    return r.json()


def wait_stored(p, bucket: str, key: str, layer: str = "memory", timeout: float = 5.0) -> dict:
    """Waits until /admin/cache/info shows the entry in `layer` (a fill commits as its body
    completes; disk writes go through a background queue)."""
    got: dict = {}

    def stored():
        doc = info(p, bucket, key)
        got["doc"] = doc
        return doc is not None and layer in doc.get("layers", {})

    yg_procs.wait_until(stored, timeout=timeout,
                        what=f"{bucket}:{key} in the {layer} layer (last info: {got.get('doc')})")
    return got["doc"]


def wait_disk_items(p, n: int, timeout: float = 10.0) -> dict:
    last: dict = {}

    def ok():
        s = stats(p)
        last["s"] = s
        return (s["layers"]["disk"]["items"] == n and s["write_queue"]["pending"] == 0)

    yg_procs.wait_until(ok, timeout=timeout,
                        what=f"{n} disk items and an empty write queue (last: {last.get('s')})")
    return last["s"]


def kill9(p) -> None:
    """SIGKILL by PID, then reap it and run the usual log checks (sanitizer, secrets)."""
    p.proc.send_signal(signal.SIGKILL)
    p.proc.wait(10)
    problems = [x for x in p.stop(check=False) if "exited on its own" not in x]
    assert not problems, "; ".join(problems) + "\n" + p.log_tail(40)


def entry_files(cache_dir: Path) -> List[Path]:
    return sorted(f for f in cache_dir.rglob("*")
                  if f.is_file() and "tmp" not in f.relative_to(cache_dir).parts[:-1])


def expect(cond: bool) -> None:
    """For prom.eventually checks written as lambdas: they must raise, not return False."""
    assert cond


def jwt_cfg(k, **extra) -> dict:
    cfg = {"algorithm": "HS256", "secret": register_secret(k.private.decode())}
    cfg.update(extra)
    return cfg


def bearer(tok: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {register_secret(tok)}"}


# --- 0. the harness itself ---------------------------------------------------------------------

def test_relay_counts_signed_requests_and_goes_down(s3, relay):
    """The relay passes SigV4-signed requests unchanged (moto accepts them), counts one per
    request on keep-alive connections, records headers, and refuses connections when stopped."""
    import boto3
    from botocore.config import Config

    key = new_key("relay")
    body = rand_bytes(70_000, 1)
    put(s3, key, body)
    c = boto3.client("s3", endpoint_url=relay.url, region_name="us-east-1",
                     aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret_key,
                     config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                   connect_timeout=2, read_timeout=10))
    got = c.get_object(Bucket=S3_A, Key=key)
    assert got["Body"].read() == body
    assert s3_gets(relay, key) == 1
    etag = got["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.get_object(Bucket=S3_A, Key=key, IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert s3_gets(relay, key) == 2
    assert relay.matching("GET", f"/{S3_A}/{key}")[-1].header("If-None-Match") == etag
    # A wrong secret through the relay is still refused: the relay does not weaken SigV4.
    bad = boto3.client("s3", endpoint_url=relay.url, region_name="us-east-1",
                       aws_access_key_id=s3.access_key,
                       aws_secret_access_key="wrong" + s3.secret_key,
                       config=Config(s3={"addressing_style": "path"},
                                     retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.get_object(Bucket=S3_A, Key=key)
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    # Two pipelined requests on one connection are both counted (moto answers the first with
    # Connection: close; the relay counts what the client sent).
    before = relay.connections_accepted
    with httpc.RawConn(H, relay.port) as rc:
        rc.send(httpc.request_bytes("GET", f"/{S3_A}/{key}")
                + httpc.request_bytes("HEAD", f"/{S3_A}/{key}"))
        assert rc.read_response().status == 403  # unsigned
    yg_procs.wait_until(lambda: relay.count("HEAD", f"/{S3_A}/{key}") == 1, timeout=5,
                        what="the pipelined HEAD counted")
    assert relay.connections_accepted == before + 1
    assert s3_gets(relay, key) == 4
    # Down: refused. Up again: same port, works.
    relay.stop()
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(H, relay.port, timeout=2).connect()
    relay.start()
    assert c.get_object(Bucket=S3_A, Key=key)["Body"].read() == body
    # response_delay holds the response.
    relay.response_delay = 0.3
    t0 = time.monotonic()
    c.get_object(Bucket=S3_A, Key=key)["Body"].read()
    assert time.monotonic() - t0 >= 0.3


# --- 1. miss, hit, freshness -------------------------------------------------------------------

def test_miss_then_hit_same_bytes_and_headers(proxy_factory, s3, relay):
    key = new_key("hit")
    body = gzip.compress(rand_bytes(40_000, 2), mtime=0)
    etag = put(s3, key, body, ContentType="text/plain; charset=utf-8", ContentEncoding="gzip",
               ContentDisposition='attachment; filename="x.txt"', ContentLanguage="en-GB",
               CacheControl="public, max-age=600", Metadata={"team": "cache", "run": "one"})
    p = start(proxy_factory, [relay_bucket(relay, s3)], cache_section())
    miss = get(p, target("/c", key))
    assert_body(miss, body, "MISS")
    assert miss.header("ETag") == etag and etag.startswith('"'), (miss.header("ETag"), etag)
    wait_stored(p, "c", key)
    hit = get(p, target("/c", key))
    assert_body(hit, body, "HIT")
    assert_age(hit)
    assert http6(hit) == http6(miss)
    assert hit.header("x-amz-meta-team") == "cache" and hit.header("content-encoding") == "gzip"
    assert hit.header("Cache-Control") == "public, max-age=600"
    assert hit.header("X-Request-ID") and hit.header("X-Request-ID") != miss.header("X-Request-ID")
    assert s3_gets(relay, key) == 1, "S3 saw more than the one GET that filled the cache"


def test_changed_object_is_served_from_cache_until_ttl_expires(proxy_factory, s3, relay):
    key = new_key("ttl")
    v1, v2 = rand_bytes(5000, 3), rand_bytes(6000, 4)
    put(s3, key, v1)
    p = start(proxy_factory, [relay_bucket(relay, s3, cache={"ttl_seconds": 2})], cache_section())
    t0 = time.monotonic()
    assert_body(get(p, target("/c", key)), v1, "MISS")
    wait_stored(p, "c", key)
    put(s3, key, v2)
    assert_body(get(p, target("/c", key)), v1, "HIT")
    assert s3_gets(relay, key) == 1
    time.sleep(max(0.0, t0 + 2.4 - time.monotonic()))
    assert_body(get(p, target("/c", key)), v2, "MISS")
    wait_stored(p, "c", key)
    assert_body(get(p, target("/c", key)), v2, "HIT")
    assert s3_gets(relay, key) == 2


def test_head_ranges_and_conditionals_are_answered_from_the_cache(proxy_factory, s3, relay):
    key = new_key("cond")
    n = 100_000
    body = rand_bytes(n, 5)
    etag = put(s3, key, body, ContentType="application/x-test")
    p = start(proxy_factory, [relay_bucket(relay, s3)], cache_section())
    t = target("/c", key)
    # On a miss, a Range request goes to S3 and is not stored.
    r = get(p, t, {"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == body[10:20] and xc(r) == "MISS", r.text_dump()[:400]
    miss = get(p, t)
    assert_body(miss, body, "MISS")
    wait_stored(p, "c", key)
    assert s3_gets(relay, key) == 2
    lm = miss.header("Last-Modified")

    h = get(p, t, method="HEAD")
    assert h.status == 200 and h.body == b"" and xc(h) == "HIT", h.headers
    assert h.header("Content-Length") == str(n) and h.header("ETag") == etag
    assert h.header("Content-Type") == "application/x-test"

    r = get(p, t, {"Range": "bytes=100-199"})
    assert r.status == 206 and r.body == body[100:200] and xc(r) == "HIT", r.headers
    assert r.header("Content-Range") == f"bytes 100-199/{n}"
    assert r.header("Content-Length") == "100" and r.header("ETag") == etag

    r = get(p, t, {"Range": "bytes=-500"})
    assert r.status == 206 and r.body == body[-500:] and xc(r) == "HIT", r.headers
    assert r.header("Content-Range") == f"bytes {n - 500}-{n - 1}/{n}"

    r = get(p, t, {"Range": f"bytes={n - 10}-"})
    assert r.status == 206 and r.body == body[-10:] and xc(r) == "HIT", r.headers

    r = get(p, t, {"Range": f"bytes={n}-"})
    assert r.status == 416 and xc(r) == "HIT", r.text_dump()[:400]
    assert r.header("Content-Range") == f"bytes */{n}"

    r = get(p, t, {"Range": "bytes=0-1,5-6"})  # several ranges: the full object, as on a miss
    assert_body(r, body, "HIT")

    r = get(p, t, {"If-None-Match": etag})
    assert r.status == 304 and r.body == b"" and xc(r) == "HIT", r.headers
    assert r.header("ETag") == etag
    r = get(p, t, {"If-None-Match": '"something-else"'})
    assert_body(r, body, "HIT")

    r = get(p, t, {"If-Match": '"not-the-etag"'})
    assert r.status == 412 and xc(r) == "HIT", r.text_dump()[:400]
    r = get(p, t, {"If-Match": etag})
    assert_body(r, body, "HIT")

    r = get(p, t, {"If-Modified-Since": lm})
    assert r.status == 304 and xc(r) == "HIT", r.headers
    day_before = http_date(parse_http_date(lm) - datetime.timedelta(days=1))
    assert_body(get(p, t, {"If-Modified-Since": day_before}), body, "HIT")
    r = get(p, t, {"If-Unmodified-Since": day_before})
    assert r.status == 412 and xc(r) == "HIT", r.text_dump()[:400]

    assert s3_gets(relay, key) == 2, "a request answerable from the cache went to S3"
    assert relay.count("HEAD", f"/{S3_A}/{key}") == 0


def parse_http_date(s: str) -> datetime.datetime:
    return datetime.datetime.strptime(s, "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=datetime.timezone.utc)


def rfc3339(s: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def http_date(d: datetime.datetime) -> str:
    return d.strftime("%a, %d %b %Y %H:%M:%S GMT")


def test_uncacheable_answers_bypass_and_max_age_bounds_the_ttl(proxy_factory, s3, relay):
    p = start(proxy_factory, [relay_bucket(relay, s3, cache={"ttl_seconds": 60})],
              cache_section())
    for cc in ("no-store", "private", "no-cache"):
        key = new_key("cc")
        body = rand_bytes(3000)
        put(s3, key, body, CacheControl=cc)
        for _ in range(2):
            r = get(p, target("/c", key))
            assert_body(r, body, "BYPASS")
        assert s3_gets(relay, key) == 2, f"Cache-Control: {cc}: S3 must see every request"
        assert info(p, "c", key) is None, f"Cache-Control: {cc} was stored"
    key = new_key("cc0")
    body = rand_bytes(3000)
    put(s3, key, body, CacheControl="max-age=0")
    for _ in range(2):
        r = get(p, target("/c", key))
        assert_body(r, body)
        assert xc(r) != "HIT", "max-age=0 must not be stored"
    assert s3_gets(relay, key) == 2

    # max-age=1 bounds the bucket's 60 s.
    key = new_key("cc1")
    body = rand_bytes(3000)
    put(s3, key, body, CacheControl="max-age=1")
    t0 = time.monotonic()
    assert_body(get(p, target("/c", key)), body, "MISS")
    mem = wait_stored(p, "c", key)["layers"]["memory"]
    lifetime = (rfc3339(mem["expires"]) - rfc3339(mem["stored"])).total_seconds()
    assert 0 < lifetime <= 1.0, f"max-age=1 under a 60 s bucket TTL: stored for {lifetime} s"
    time.sleep(max(0.0, t0 + 1.5 - time.monotonic()))
    r = get(p, target("/c", key))
    assert_body(r, body, {"MISS", "REVALIDATED"})
    assert s3_gets(relay, key) == 2

    # A response-* override is not keyed on: bypass.
    key = new_key("q")
    body = rand_bytes(2000)
    put(s3, key, body)
    assert_body(get(p, target("/c", key)), body, "MISS")
    wait_stored(p, "c", key)
    # (no "/" in the value: moto rejects correct signatures for those, see test_objects.py)
    r = get(p, target("/c", key) + "?response-content-language=fr")
    assert r.status == 200 and r.body == body and xc(r) == "BYPASS", r.headers


def test_item_limit_and_disabled_bucket_bypass(proxy_factory, s3, relay):
    """2 MiB object: over a 1 MiB item limit (global or per bucket) it streams through
    (BYPASS, S3 sees every request); under the limit it is cached. A bucket with
    cache.enabled: false bypasses."""
    big = rand_bytes(2 * MiB, 6)
    k_small_limit, k_global, k_big_ok, k_off = (new_key(t) for t in ("lim", "glob", "ok", "off"))
    for k in (k_small_limit, k_global, k_big_ok):
        put(s3, k, big)
    small = rand_bytes(1000)
    put(s3, k_off, small)
    p = start(proxy_factory,
              [relay_bucket(relay, s3, "c", "/c"),
               relay_bucket(relay, s3, "lim", "/lim", cache={"max_item_size_mb": 1}),
               relay_bucket(relay, s3, "off", "/off", cache={"enabled": False})],
              cache_section(item_mb=10))
    for _ in range(2):
        assert_body(get(p, target("/lim", k_small_limit)), big, "BYPASS")
        assert_body(get(p, target("/off", k_off)), small, "BYPASS")
    assert s3_gets(relay, k_small_limit) == 2 and s3_gets(relay, k_off) == 2
    assert_body(get(p, target("/c", k_big_ok)), big, "MISS")
    wait_stored(p, "c", k_big_ok)
    assert_body(get(p, target("/c", k_big_ok)), big, "HIT")
    assert s3_gets(relay, k_big_ok) == 1

    p2 = start(proxy_factory, [relay_bucket(relay, s3)], cache_section(item_mb=1), name="glob")
    for _ in range(2):
        assert_body(get(p2, target("/c", k_global)), big, "BYPASS")
    assert s3_gets(relay, k_global) == 2


# --- 2. disk layer -----------------------------------------------------------------------------

def disk_cache(cache_dir: Path, **kw) -> dict:
    return cache_section(("memory", "disk"), disk_dir=cache_dir, **kw)


def test_disk_layer_survives_a_clean_restart(proxy_factory, s3, relay, tmp_path):
    cache_dir = tmp_path / "cache"
    key = new_key("disk")
    body = rand_bytes(300_000, 7)
    put(s3, key, body, ContentType="image/x-test", CacheControl="max-age=600",
        Metadata={"layer": "disk"})
    buckets = [relay_bucket(relay, s3)]
    p1 = start(proxy_factory, buckets, disk_cache(cache_dir), name="first")
    miss = get(p1, target("/c", key))
    assert_body(miss, body, "MISS")
    wait_stored(p1, "c", key, "disk")
    p1.send_signal(signal.SIGTERM)
    assert p1.wait_exit(15) == 0, p1.log_tail(30)
    p1.stop()

    p2 = start(proxy_factory, buckets, disk_cache(cache_dir), name="second")
    doc = wait_stored(p2, "c", key, "disk")
    assert doc["layers"]["disk"]["size"] == len(body), doc
    hit = get(p2, target("/c", key))
    assert_body(hit, body, "HIT")
    assert_age(hit)
    assert http6(hit) == http6(miss)
    assert hit.header("x-amz-meta-layer") == "disk"
    # The disk hit is copied to memory in the background.
    wait_stored(p2, "c", key, "memory")
    assert_body(get(p2, target("/c", key)), body, "HIT")
    assert s3_gets(relay, key) == 1


def test_disk_layer_after_kill9_drops_torn_and_temp_files(proxy_factory, s3, relay, tmp_path):
    cache_dir = tmp_path / "cache"
    objs = {new_key("k9"): rand_bytes(50_000 + i * 10_000, 10 + i) for i in range(3)}
    for k, b in objs.items():
        put(s3, k, b)
    buckets = [relay_bucket(relay, s3)]
    p1 = start(proxy_factory, buckets, disk_cache(cache_dir), name="first")
    for k, b in objs.items():
        assert_body(get(p1, target("/c", k)), b, "MISS")
    wait_disk_items(p1, 3)
    kill9(p1)

    files = entry_files(cache_dir)
    assert len(files) >= 3, f"expected 3 entry files under {cache_dir}: {files}"
    real = max(files, key=lambda f: f.stat().st_size)
    stem, dot, ext = real.name.partition(".")
    fake_stem = "".join("e" if c in string.hexdigits else c for c in stem)
    if fake_stem == stem:
        fake_stem = "torn-" + stem
    torn = real.with_name(fake_stem + dot + ext)
    data = real.read_bytes()
    torn.write_bytes(data[: len(data) // 2])
    (cache_dir / "tmp").mkdir(exist_ok=True)
    tmp_in_tmp = cache_dir / "tmp" / "0123456789abcdef.tmp"
    tmp_in_tmp.write_bytes(data[:1000])
    tmp_at_root = cache_dir / "leftover.tmp"
    tmp_at_root.write_bytes(b"partial")

    p2 = start(proxy_factory, buckets, disk_cache(cache_dir), name="second")
    wait_disk_items(p2, 3)
    for f in (torn, tmp_in_tmp, tmp_at_root):
        assert not f.exists(), f"{f} survived the restart's index rebuild"
    for k, b in objs.items():
        r = get(p2, target("/c", k))
        assert_body(r, b, "HIT")
        assert s3_gets(relay, k) == 1


def test_kill9_right_after_a_large_fill_never_serves_wrong_bytes(proxy_factory, s3, relay,
                                                                  tmp_path):
    cache_dir = tmp_path / "cache"
    key = new_key("midwrite")
    body = rand_bytes(5 * MiB, 20)
    put(s3, key, body)
    buckets = [relay_bucket(relay, s3)]
    cfg = disk_cache(cache_dir, item_mb=10)
    p1 = start(proxy_factory, buckets, cfg, name="first")
    assert_body(get(p1, target("/c", key)), body, "MISS")
    kill9(p1)  # the background disk write may be in progress
    tmp_dir = cache_dir / "tmp"
    partial = [f for f in tmp_dir.rglob("*") if f.is_file()] if tmp_dir.exists() else []

    p2 = start(proxy_factory, buckets, cfg, name="second")
    # The start-time rebuild removes the killed process's temporary files (checked before any
    # request, so a new write cannot reuse a name).
    yg_procs.wait_until(lambda: not any(f.exists() for f in partial), timeout=5,
                        what=f"the killed process's temporary files removed: {partial}")
    time.sleep(0.2)
    r = get(p2, target("/c", key))
    assert_body(r, body, {"HIT", "MISS"})
    assert s3_gets(relay, key) == (1 if xc(r) == "HIT" else 2)
    if xc(r) == "MISS":
        wait_stored(p2, "c", key, "disk", timeout=10)
    assert_body(get(p2, target("/c", key)), body, "HIT")


@pytest.fixture
def tiny_tmpfs(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a 1 MiB tmpfs on {d} (this test needs root / CAP_SYS_ADMIN): "
                    f"{r.stderr.strip()}", pytrace=False)
    try:
        yield d
    finally:
        if subprocess.run(["umount", str(d)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(d)], capture_output=True)


def test_disk_full_keeps_serving_and_counts_errors(tiny_tmpfs, proxy_factory, s3, relay):
    objs = {new_key("full"): rand_bytes(300 * KiB, 30 + i) for i in range(6)}
    for k, b in objs.items():
        put(s3, k, b)
    p = start(proxy_factory, [relay_bucket(relay, s3)],
              disk_cache(tiny_tmpfs, mem_mb=1, item_mb=1, disk_mb=64))
    for k, b in objs.items():
        assert_body(get(p, target("/c", k)), b, "MISS")
    last: dict = {}

    def drained():
        last["s"] = stats(p)
        return last["s"]["write_queue"]["pending"] == 0
    yg_procs.wait_until(drained, timeout=10, what="the disk write queue to drain")
    for k, b in objs.items():
        assert_body(get(p, target("/c", k)), b, {"HIT", "MISS"})
    assert p.alive()
    s = stats(p)
    disk = s["layers"]["disk"]
    assert disk["errors"] + disk["rejected"] + s["write_queue"]["dropped"] >= 1, (
        f"6 x 300 KiB into a 1 MiB filesystem, yet no disk error/rejection counted: {s}")
    assert disk["bytes"] <= 1 * MiB, disk
    m = scrape(p.port)
    assert (series_or_zero(m, "yatagarasu_cache_layer_operations_total", layer="disk", op="error")
            + series_or_zero(m, "yatagarasu_cache_layer_operations_total", layer="disk",
                             op="rejected")
            + series_or_zero(m, "yatagarasu_cache_write_queue_dropped_total")) >= 1
    # Still serving new objects.
    k, b = new_key("after"), rand_bytes(1000)
    put(s3, k, b)
    assert_body(get(p, target("/c", k)), b, "MISS")
    p.stop()  # before the tmpfs is unmounted


# --- 3. coalescing -----------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str               # "ok" (a full response read) or "cut" (connection ended early)
    status: int = 0
    body: bytes = b""
    x_cache: Optional[str] = None
    error: str = ""


def fetch(port: int, tgt: str, timeout: float = 30.0) -> Outcome:
    """http.client raises IncompleteRead when a body ends before its Content-Length (or a
    chunked body without its last chunk): a short body is never returned as complete."""
    conn = http.client.HTTPConnection(H, port, timeout=timeout)
    try:
        conn.request("GET", tgt)
        r = conn.getresponse()
        body = r.read()
        return Outcome("ok", r.status, body, r.getheader("X-Cache"))
    except (http.client.IncompleteRead, ConnectionError) as e:
        return Outcome("cut", error=type(e).__name__)
    finally:
        conn.close()


def concurrent_fetch(port: int, tgt: str, n: int) -> List[Outcome]:
    barrier = threading.Barrier(n)
    out: List[Optional[Outcome]] = [None] * n

    def run(i):
        barrier.wait(10)
        try:
            out[i] = fetch(port, tgt)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            out[i] = Outcome("exception", error=repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(o is not None for o in out), "a client thread did not finish"
    return out  # type: ignore[return-value]


def test_concurrent_misses_make_one_s3_request(proxy_factory, s3, relay):
    key = new_key("coalesce")
    body = rand_bytes(256 * KiB, 40)
    put(s3, key, body)
    p = start(proxy_factory, [relay_bucket(relay, s3)], cache_section())
    relay.response_delay = 0.3  # the leader's answer is slow: the others arrive meanwhile
    outs = concurrent_fetch(p.port, target("/c", key), 100)
    bad = [o for o in outs if o.kind != "ok" or o.status != 200 or sha(o.body) != sha(body)]
    assert not bad, f"{len(bad)} of 100 failed, e.g. {bad[0].kind} {bad[0].status} {bad[0].error}"
    assert s3_gets(relay, key) == 1, f"S3 saw {s3_gets(relay, key)} GETs for 100 concurrent misses"
    kinds = sorted(o.x_cache for o in outs)
    assert kinds.count("MISS") == 1 and kinds.count("HIT") == 99, kinds
    s = stats(p)
    assert s["coalesced"] >= 1 and s["buckets"]["c"]["miss"] == 1, s
    assert s["buckets"]["c"]["hit"] == 99, s
    eventually(p.port, lambda m: expect(
        series(m, "yatagarasu_cache_coalesced_total", outcome="hit") >= 1))


@dataclass
class DieOnceServer(FaultServer):
    """FAKE S3: the first GET is answered slowly, with headers and half the body, then the
    connection is reset; every later request gets the whole object (mode ok)."""
    first_delay: float = 0.3

    def __post_init__(self):
        super().__post_init__()
        self._answered = 0

    async def _respond(self, req, reader, writer, rec):
        with self._lock:
            first = self._answered == 0 and req.method == "GET"
            self._answered += 1
        if not first:
            return await super()._respond(req, reader, writer, rec)
        await asyncio.sleep(self.first_delay)
        writer.write(self._headers("200 OK", len(self.body), self.content_type))
        half = self.body[: len(self.body) // 2]
        writer.write(half)
        await writer.drain()
        rec.bytes_sent += len(half)
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False


def test_leader_failing_mid_body_never_yields_a_short_body(proxy_factory):
    body = rand_bytes(256 * KiB, 41)
    srv = DieOnceServer(mode="ok", body=body).start()
    try:
        b = bucket_block("fake", "/fake", s3_block(srv.url, "fake-bucket", "AKIAFAKEBACKEND00000",
                                                   register_secret("fake-backend-secret-Zq8vW3xK")))
        p = start(proxy_factory, [b], cache_section())
        outs = concurrent_fetch(p.port, "/fake/obj.bin", 20)
        for o in outs:
            if o.kind == "cut":
                continue  # a clean error: the connection ended before Content-Length bytes
            assert o.kind == "ok", o
            if o.status >= 500:
                continue
            assert o.status == 200 and sha(o.body) == sha(body), (
                f"status {o.status}, {len(o.body)} bytes, X-Cache {o.x_cache}: "
                "a client got wrong or short bytes presented as complete")
        assert sum(o.kind == "cut" or o.status >= 500 for o in outs) >= 1, (
            "the leader's upstream died mid-body, yet no client saw an error")
        after = fetch(p.port, "/fake/obj.bin")
        assert after.kind == "ok" and after.status == 200 and after.body == body, after
        got = [r for r in srv.requests if r.method == "GET"]
        assert len(got) == 2, (f"S3 saw {len(got)} GETs: after the leader failed, the first "
                               "waiter to retry should have become the only new leader")
        assert after.x_cache == "HIT", after
    finally:
        srv.stop()


# --- 4. stale-if-error and revalidation --------------------------------------------------------

def test_stale_if_error_then_error_after_grace_then_revalidated(proxy_factory, s3, relay):
    key = new_key("stale")
    body = rand_bytes(20_000, 50)
    etag = put(s3, key, body)
    t = target("/c", key)
    bucket = relay_bucket(relay, s3, cache={"ttl_seconds": 1})
    long_grace = start(proxy_factory, [bucket], cache_section(stale=30), name="grace30")
    short_grace = start(proxy_factory, [bucket], cache_section(stale=2), name="grace2")
    for p in (long_grace, short_grace):
        assert_body(get(p, t), body, "MISS")
        wait_stored(p, "c", key)
    t_filled = time.monotonic()
    assert s3_gets(relay, key) == 2

    time.sleep(1.3)
    relay.stop()  # S3 down
    for p in (long_grace, short_grace):
        r = get(p, t)
        assert_body(r, body, "STALE")
        assert_age(r, at_least=1)

    time.sleep(max(0.0, t_filled + 3.6 - time.monotonic()))  # past 1 s TTL + 2 s grace
    r = get(short_grace, t)
    assert r.status in (502, 504), f"past the grace: want 502/504\n{r.text_dump()[:400]}"
    assert r.body != body
    assert_body(get(long_grace, t), body, "STALE")

    relay.start()
    n = s3_gets(relay, key)
    r = get(long_grace, t)
    assert_body(r, body, "REVALIDATED")
    assert r.header("Age") == "0", r.headers
    reqs = relay.matching("GET", f"/{S3_A}/{key}")
    assert len(reqs) == n + 1
    assert reqs[-1].header("If-None-Match") == etag, (
        f"revalidation must send If-None-Match {etag}; sent {reqs[-1].headers}")
    r = get(long_grace, t)
    assert_body(r, body, "HIT")
    assert s3_gets(relay, key) == n + 1


# --- 5. admin API ------------------------------------------------------------------------------

def test_purge_stats_and_info(proxy_factory, s3, relay, tmp_path):
    a1, a2, b1 = "dir/one.bin", "two.bin", "bee.bin"
    pre = uuid.uuid4().hex[:8] + "/"
    a1, a2, b1 = pre + a1, pre + a2, pre + b1
    bodies = {a1: rand_bytes(10_000, 60), a2: rand_bytes(20_000, 61), b1: rand_bytes(30_000, 62)}
    put(s3, a1, bodies[a1])
    put(s3, a2, bodies[a2])
    put(s3, b1, bodies[b1], bucket=S3_B)
    p = start(proxy_factory, [relay_bucket(relay, s3, "ba", "/ba"),
                              relay_bucket(relay, s3, "bb", "/bb", s3_bucket=S3_B)],
              disk_cache(tmp_path / "cache"))
    for pre_, k in (("/ba", a1), ("/ba", a2), ("/bb", b1)):
        assert_body(get(p, target(pre_, k)), bodies[k], "MISS")
    wait_disk_items(p, 3)
    assert_body(get(p, target("/ba", a1)), bodies[a1], "HIT")

    s = stats(p)
    assert s["enabled"] is True
    assert s["layers"]["memory"]["items"] == 3 and s["layers"]["disk"]["items"] == 3, s
    assert s["layers"]["memory"]["bytes"] >= sum(len(b) for b in bodies.values())
    assert s["layers"]["memory"]["capacity_bytes"] == 64 * MiB
    assert s["layers"]["memory"]["inserts"] == 3
    ba, bb = s["buckets"]["ba"], s["buckets"]["bb"]
    assert (ba["hit"], ba["miss"], ba["bypass"]) == (1, 2, 0), ba
    assert (bb["hit"], bb["miss"]) == (0, 1), bb
    assert ba["layers"]["memory"]["items"] == 2 and bb["layers"]["memory"]["items"] == 1
    assert ba["layers"]["disk"]["items"] == 2
    assert ba["layers"]["memory"]["bytes"] >= len(bodies[a1]) + len(bodies[a2])
    one = admin_json(p, "GET", "/admin/cache/stats/ba")
    assert one["bucket"] == "ba" and one["hit"] == 1 and one["miss"] == 2
    admin_json(p, "GET", "/admin/cache/stats/no-such-bucket", status=404)

    doc = info(p, "ba", a1)
    assert doc["bucket"] == "ba" and doc["key"] == a1
    assert set(doc["layers"]) == {"memory", "disk"}, doc
    mem = doc["layers"]["memory"]
    assert mem["size"] == len(bodies[a1]) and mem["fresh"] is True
    assert mem["etag"] == get(p, target("/ba", a1), method="HEAD").header("ETag")
    assert abs((rfc3339(mem["expires"]) - rfc3339(mem["stored"])).total_seconds() - 3600) <= 2, mem
    assert info(p, "ba", "no/such/key.bin") is None
    assert get(p, "/admin/cache/info").status == 400
    assert get(p, "/admin/cache/info?key=no-colon").status == 400
    assert get(p, "/admin/cache/purge").status == 405

    q = urllib.parse.quote(a1, safe="/")
    doc = admin_json(p, "POST", f"/admin/cache/purge/ba/{q}")
    assert doc == {"scope": "object", "bucket": "ba", "key": a1,
                   "purged": {"memory": 1, "disk": 1}, "total": 2}, doc
    assert info(p, "ba", a1) is None
    assert_body(get(p, target("/ba", a1)), bodies[a1], "MISS")
    wait_disk_items(p, 3)

    doc = admin_json(p, "POST", "/admin/cache/purge/ba")
    assert doc == {"scope": "bucket", "bucket": "ba", "purged": {"memory": 2, "disk": 2},
                   "total": 4}, doc
    assert_body(get(p, target("/ba", a2)), bodies[a2], "MISS")
    assert_body(get(p, target("/bb", b1)), bodies[b1], "HIT")  # bucket bb untouched
    wait_disk_items(p, 2)

    doc = admin_json(p, "POST", "/admin/cache/purge")
    assert doc == {"scope": "all", "purged": {"memory": 2, "disk": 2}, "total": 4}, doc
    assert_body(get(p, target("/bb", b1)), bodies[b1], "MISS")
    # A request is counted just after its last byte: poll.
    last: dict = {}

    def counted():
        last["s"] = s = stats(p)
        return (s["buckets"]["bb"]["miss"] == 2 and s["buckets"]["bb"]["hit"] == 1
                and s["buckets"]["ba"]["miss"] == 4)

    yg_procs.wait_until(counted, timeout=5.0, what=f"per-bucket counts (last: {last.get('s')})")
    assert s_gets_all(relay, {a1: 2, a2: 2}) and s3_gets(relay, b1, S3_B) == 2


def s_gets_all(relay, want: Dict[str, int]) -> bool:
    got = {k: s3_gets(relay, k) for k in want}
    assert got == want, f"S3 GET counts {got}, want {want}"
    return True


def test_admin_cache_api_needs_admin_claims(proxy_factory, s3, relay, keys):
    jwt = jwt_cfg(keys, admin_claims=[{"claim": "roles", "operator": "contains",
                                       "value": "admin"}])
    p = start(proxy_factory, [relay_bucket(relay, s3)], cache_section(), jwt=jwt)
    key = new_key("guard")
    body = rand_bytes(1000)
    put(s3, key, body)
    assert_body(get(p, target("/c", key)), body, "MISS")
    reader, admin = keys.mint({"roles": ["reader"]}, kid=None), keys.mint({"roles": ["admin"]},
                                                                          kid=None)
    for path in ("/admin/cache/purge", f"/admin/cache/purge/c/{key}"):
        assert get(p, path, method="POST").status == 401
        assert get(p, path, bearer(reader), method="POST").status == 403
    assert get(p, "/admin/cache/stats").status == 401
    assert get(p, "/admin/cache/stats", bearer(reader)).status == 403
    assert_body(get(p, target("/c", key)), body, "HIT")  # refused purges purged nothing
    doc = admin_json(p, "POST", "/admin/cache/purge", token=admin)
    assert doc["scope"] == "all" and doc["purged"].get("memory") == 1 and doc["total"] == 1, doc
    assert sum(doc["purged"].values()) == 1, doc
    assert admin_json(p, "GET", "/admin/cache/stats", token=admin)["enabled"] is True
    assert_body(get(p, target("/c", key)), body, "MISS")


# --- 6. reload, protected buckets, metrics ----------------------------------------------------

def test_reload_keeps_entries_and_applies_bucket_overrides(proxy_factory, s3, relay):
    key = new_key("reload")
    body = rand_bytes(8000)
    put(s3, key, body)
    cache = cache_section()
    p = start(proxy_factory, [relay_bucket(relay, s3)], cache)
    assert_body(get(p, target("/c", key)), body, "MISS")
    wait_stored(p, "c", key)

    def reload(buckets, generation):
        p.write_config(config_doc(p.port, buckets, extra={"cache": cache}))
        p.send_signal(signal.SIGHUP)
        yg_procs.wait_until(
            lambda: series(scrape(p.port), "yatagarasu_config_generation") == generation,
            timeout=10, what=f"config generation {generation}\n{p.log_tail(10)}")

    extra_bucket = relay_bucket(relay, s3, "other", "/other")
    reload([relay_bucket(relay, s3), extra_bucket], 2)
    assert_body(get(p, target("/c", key)), body, "HIT")
    reload([relay_bucket(relay, s3, cache={"enabled": False}), extra_bucket], 3)
    assert_body(get(p, target("/c", key)), body, "BYPASS")
    reload([relay_bucket(relay, s3), extra_bucket], 4)
    assert_body(get(p, target("/c", key)), body, "HIT")
    assert s3_gets(relay, key) == 2

    # Bucket "c" now fetches from another S3 bucket holding other bytes under the same key: the
    # reload purges its cached objects, so the old origin's copy is never served again.
    other_body = rand_bytes(8000)
    put(s3, key, other_body, bucket=S3_B)
    reload([relay_bucket(relay, s3, s3_bucket=S3_B), extra_bucket], 5)
    assert_body(get(p, target("/c", key)), other_body, "MISS")
    yg_procs.wait_until(lambda: "origin changed" in p.log_tail(200), timeout=5,
                        what="the purge's log line")


def test_protected_bucket_hits_need_a_token_and_stay_private(proxy_factory, s3, relay, keys):
    key = new_key("prot")
    body = rand_bytes(9000)
    put(s3, key, body, CacheControl="max-age=300, public")
    p = start(proxy_factory, [relay_bucket(relay, s3, "prot", "/prot", auth={"enabled": True})],
              cache_section(), jwt=jwt_cfg(keys))
    t = target("/prot", key)
    miss = get(p, t, bearer(keys.mint(kid=None)))
    assert_body(miss, body, "MISS")
    # No /admin/cache/info wait here: with a global jwt and no admin_claims the admin API refuses
    # every token. The fill commits right after the last byte; a request arriving before that
    # waits for it (coalescing), so the next GET is a HIT either way.
    hit = get(p, t, bearer(keys.mint({"sub": "someone-else"}, kid=None)))
    assert_body(hit, body, "HIT")
    cc = hit.header("Cache-Control") or ""
    assert "private" in [d.strip() for d in cc.split(",")], f"Cache-Control {cc!r} on a hit"
    assert cc == miss.header("Cache-Control")
    for hdrs in (None, bearer("not-a-token"), bearer(make_key("HS256").mint(kid=None))):
        r = get(p, t, hdrs)
        assert r.status == 401, r.text_dump()[:400]
        assert body[:64] not in r.body
    assert s3_gets(relay, key) == 1


def test_cache_request_metrics(proxy_factory, s3, relay):
    key, k_nostore, k_off = new_key("m"), new_key("m-ns"), new_key("m-off")
    body = rand_bytes(4000)
    put(s3, key, body)
    put(s3, k_nostore, body, CacheControl="no-store")
    put(s3, k_off, body)
    p = start(proxy_factory, [relay_bucket(relay, s3, "m", "/m"),
                              relay_bucket(relay, s3, "off", "/off", cache={"enabled": False})],
              cache_section())
    assert xc(get(p, target("/m", key))) == "MISS"
    # Not /admin/cache/info: an admin lookup must not be able to change the counters checked.
    eventually(p.port, lambda m: expect(series(m, "yatagarasu_cache_items", layer="memory") == 1))
    assert xc(get(p, target("/m", key))) == "HIT"
    assert xc(get(p, target("/m", key), method="HEAD")) == "HIT"
    assert xc(get(p, target("/m", k_nostore))) == "BYPASS"
    assert xc(get(p, target("/off", k_off))) == "BYPASS"

    def check(m):
        def req(bucket, result):
            return series_or_zero(m, "yatagarasu_cache_requests_total", bucket=bucket,
                                  result=result)
        got = {(b, r): req(b, r) for b in ("m", "off")
               for r in ("hit", "miss", "bypass", "stale", "revalidated")}
        want = {(b, r): 0.0 for (b, r) in got}
        want.update({("m", "hit"): 2, ("m", "miss"): 1, ("m", "bypass"): 1,
                     ("off", "bypass"): 1})
        assert got == want, got
        assert series(m, "yatagarasu_cache_requests_total", bucket="m", result="hit") == 2
        assert series(m, "yatagarasu_cache_layer_operations_total", layer="memory",
                      op="insert") == 1
        assert series(m, "yatagarasu_cache_layer_operations_total", layer="memory",
                      op="hit") == 2
        assert series(m, "yatagarasu_cache_items", layer="memory") == 1
        assert series(m, "yatagarasu_cache_capacity_bytes", layer="memory") == 64 * MiB
        assert series(m, "yatagarasu_cache_bytes", layer="memory") >= len(body)
        assert series(m, "yatagarasu_cache_fills_total", outcome="committed") == 1
        assert series(m, "yatagarasu_cache_fills_total", outcome="refused") == 1

    eventually(p.port, check)


def test_ambiguous_version_queries_bypass_and_purge_paths_are_exact(proxy_factory, s3, relay):
    """A versionId given twice or empty could store one version under another's key: such
    requests bypass the cache. A purge path with an empty segment is refused, never widened."""
    p = start(proxy_factory, [relay_bucket(relay, s3)], cache_section())
    key = new_key("ver")
    body = rand_bytes(2500)
    put(s3, key, body)
    before = s3_gets(relay, key)
    for q in ("?versionId=&versionId=null", "?versionId=", "?versionId=a&versionId=b"):
        for _ in range(2):
            r = get(p, target("/c", key) + q)
            # S3 answers these with errors (no such version): no X-Cache on an error, but never
            # a cache hit, and S3 is asked every time.
            assert xc(r) in (None, "BYPASS"), (q, r.status, r.headers)
    assert s3_gets(relay, key) == before + 6
    assert info(p, "c", key) is None, "an ambiguous version query was stored"
    assert_body(get(p, target("/c", key)), body, "MISS")
    wait_stored(p, "c", key)
    for path in ("/admin/cache/purge/", "/admin/cache/purge/c/", "/admin/cache/purge//x"):
        r = get(p, path, method="POST")
        assert r.status == 400, (path, r.status)
    assert_body(get(p, target("/c", key)), body, "HIT")
