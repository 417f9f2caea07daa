"""CACHE-4 and OPS-7 end to end: the Redis cache layer of the built proxy against Debian's real
redis-server (standalone with requirepass / ACL users / TLS, and a 6-node Redis Cluster), started
by scripts/lib/yg_redis.py on free ports and stopped by PID.

Like test_cache.py, every test starts its own proxies whose bucket points at moto (signatures
on) through a counting relay, and asserts what a client sees (status, X-Cache, exact bytes by
SHA-256, HTTP-6 headers), how many requests reached S3, what Redis holds (keys under the prefix,
their TTL, via redis-cli) and the metrics:
  yatagarasu_cache_layer_operations_total{layer="redis",op}, yatagarasu_redis_connections,
  yatagarasu_redis_events_total{event}, yatagarasu_cache_purge_propagation_total{direction},
  yatagarasu_redis_subscribed.

Scenarios: (a) password + db 3 round trip across a proxy restart, TTL bound, an ACL user, a wrong
password (a miss, never a 5xx, the password never logged); [memory, disk, redis] with versions,
a Range and a HEAD answered from Redis; (b) Redis down at start, then up;
(c) Redis killed (-9) and frozen (SIGSTOP) under a constant-rate client: no failed request, the
outage and the recovery visible in the metrics; (d) three instances sharing Redis: hits across
instances, purges (object, bucket, all) propagated by pub/sub, with the latency printed, and a
request right after a purge not held up by the purged object's fill lock;
(e) Redis Cluster: round trip, keys on several masters, a failover under load, purge reaching
every master; (f) rediss:// with the right and a wrong CA; (g) max_value_size_mb.

A missing redis-server is a failure, never a skip.
"""

from __future__ import annotations

import gzip
import os
import signal
import time
import urllib.parse
import uuid
import zlib
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import pytest

import yg_procs
import yg_redis
from prom import eventually, family, scrape
from proxy import bucket_block, config_doc, register_secret, s3_block
from rate_client import ConstantLoad, LoadResult
# Shared with the response-cache suite (same proxy layout and assertions).
from test_cache import (assert_age, assert_body, cache_section, get, http6, new_key, rand_bytes,
                        relay_bucket, target, xc)

SANITIZED = os.environ.get("YG_SANITIZED") == "1"
KiB, MiB = 1024, 1024 * 1024
S3_R = "yg-redis"           # this module's S3 buckets on the signature-checking moto
S3_RV = "yg-redis-versioned"  # (versioning enabled)
RATE = 50 if SANITIZED else 100   # constant-load requests per second
PREFIX = "yatagarasu:"      # the default redis_key_prefix


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3(moto_auth):
    moto_auth.ensure_bucket(S3_R)
    moto_auth.ensure_bucket(S3_RV, versioned=True)
    return moto_auth


@pytest.fixture
def redis_factory(tmp_path):
    """Makes RedisServer(s) in the test's tmp dir (started unless start=False); every password
    is registered as a secret (no proxy log may contain it). Stopped by PID after the test."""
    servers: List[yg_redis.RedisServer] = []
    yg_redis.require_binaries()  # raises: a missing redis-server fails the test

    def make(start: bool = True, **kw) -> yg_redis.RedisServer:
        if kw.get("password"):
            register_secret(kw["password"])
        for _, pw in kw.get("users", ()):
            register_secret(pw)
        r = yg_redis.RedisServer(tmp_path / f"redis{len(servers) + 1}",
                                 name=f"redis{len(servers) + 1}", **kw)
        servers.append(r)
        if start:
            r.start()
        return r

    yield make
    for r in servers:
        r.stop()


@pytest.fixture
def redis_cluster(tmp_path):
    pw = register_secret("cluster-pw-" + uuid.uuid4().hex[:12])
    c = yg_redis.RedisCluster(tmp_path / "cluster", password=pw).start()
    yield c
    c.stop()


# --- helpers -----------------------------------------------------------------------------------

def secret(tag: str) -> str:
    return register_secret(f"{tag}-{uuid.uuid4().hex[:16]}")


def put(s3, key: str, body: bytes, **extra) -> str:
    return s3.put(S3_R, key, body, **extra)["ETag"]


def bucket(relay, s3, name: str = "c", prefix: str = "/c", **kw) -> dict:
    return relay_bucket(relay, s3, name, prefix, s3_bucket=S3_R, **kw)


def cache_key(bucket_name: str, key: str, version: Optional[str] = None) -> str:
    """The proxy's cache key (src/cache/policy.h): "<len>:<bucket><len>:<key>[?v=<version>]",
    lengths in bytes."""
    b, k = bucket_name.encode(), key.encode()
    out = f"{len(b)}:{bucket_name}{len(k)}:{key}"
    return out + (f"?v={version}" if version else "")


def rkey(key: str, bucket_name: str = "c", prefix: str = PREFIX) -> str:
    """The Redis key of an object."""
    return prefix + cache_key(bucket_name, key)


def redis_cache(layers: Iterable[str], redis: dict, **kw) -> dict:
    """cache: section with the given layers and a cache.redis block (enabled: true + `redis`)."""
    c = cache_section(tuple(layers), **kw)
    c["redis"] = {"enabled": True, **redis}
    return c


def start_proxy(proxy_factory, buckets: List[dict], cache: dict, name: Optional[str] = None):
    return proxy_factory(buckets, extra={"cache": cache}, name=name)


def s3_gets(relay, key: str) -> int:
    return relay.count("GET", f"/{S3_R}/{key}")


def msum(m, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels` (other labels, e.g. a node,
    are summed over)."""
    want = set(labels.items())
    return sum(v for lbls, v in family(m, name).items() if want <= set(lbls))


def rop(m, op: str) -> float:
    return msum(m, "yatagarasu_cache_layer_operations_total", layer="redis", op=op)


def mop(m, op: str) -> float:
    return msum(m, "yatagarasu_cache_layer_operations_total", layer="memory", op=op)


def rev(m, event: str) -> float:
    return msum(m, "yatagarasu_redis_events_total", event=event)


def conns(m) -> float:
    return msum(m, "yatagarasu_redis_connections")


def prop(m, direction: str) -> float:
    return msum(m, "yatagarasu_cache_purge_propagation_total", direction=direction)


def req_total(m, bucket_name: str, result: str) -> float:
    return msum(m, "yatagarasu_cache_requests_total", bucket=bucket_name, result=result)


def redis_metrics(m) -> str:
    """The Redis-related samples, for failure messages and printed reports."""
    out = []
    for (name, labels), v in sorted(m.items()):
        if "redis" in name or "purge_propagation" in name or (
                name == "yatagarasu_cache_layer_operations_total"
                and ("layer", "redis") in labels):
            out.append(f"{name}{{{','.join(f'{k}={v2}' for k, v2 in labels)}}} {v:g}")
    return "\n".join(out)


def wait_keys(r, keys: Iterable[str], db: Optional[int] = None, timeout: float = 10.0,
              present: bool = True) -> None:
    """Until every one of `keys` is in (or absent from) Redis `r` (a RedisServer or a
    RedisCluster): the proxy writes Redis through a background queue."""
    keys = set(keys)

    def ok():
        if isinstance(r, yg_redis.RedisCluster):
            have = set(r.keys("*"))
        else:
            have = set(r.keys("*", db=db))
        return keys <= have if present else not (keys & have)

    yg_procs.wait_until(ok, timeout=timeout,
                        what=f"{sorted(keys)} {'in' if present else 'gone from'} Redis")


def entries(r, db: Optional[int] = None) -> List[str]:
    """The cache entries in Redis: every key under the prefix except the cross-instance fill
    locks (`<prefix>lock:<cache key>`, docs/REDIS.md), which expire on their own."""
    return [k for k in r.keys(PREFIX + "*", db=db) if not k.startswith(PREFIX + "lock:")]


def admin_post(p, path: str) -> dict:
    r = get(p, path, method="POST")
    assert r.status == 200, f"POST {path}: {r.text_dump()[:600]}"
    return r.json()


def info_layers(p, bucket_name: str, key: str) -> set:
    """The layers /admin/cache/info says hold the object (empty on 404)."""
    q = urllib.parse.quote(f"{bucket_name}:{key}", safe="")
    r = get(p, f"/admin/cache/info?key={q}")
    if r.status == 404:
        return set()
    assert r.status == 200, r.text_dump()[:600]
    return set(r.json().get("layers", {}))


def objects(n: int, tag: str, lo: int = 8 * KiB, hi: int = 64 * KiB) -> Dict[str, bytes]:
    step = (hi - lo) // max(1, n - 1)
    return {new_key(f"{tag}{i}"): rand_bytes(lo + i * step, zlib.crc32(f"{tag}{i}".encode()))
            for i in range(n)}


def warm(p, relay, objs: Dict[str, bytes], bucket_name: str = "c", prefix: str = "/c") -> None:
    for k, b in objs.items():
        assert_body(get(p, target(prefix, k)), b, "MISS")
    assert all(s3_gets(relay, k) == 1 for k in objs)


def secrets_absent(p, *secrets: str) -> None:
    logs = p.logs()
    for s in secrets:
        assert s.encode() not in logs, f"a Redis password ({s[:4]}...) is in {p.name}'s log"
        assert urllib.parse.quote(s, safe="").encode() not in logs


# --- (a) standalone: password, db, prefix, TTL, ACL user, wrong password ------------------------

def test_password_db3_entry_survives_a_proxy_restart(redis_factory, proxy_factory, s3, relay):
    """MISS on one proxy; a fresh proxy (empty memory) then gets a HIT from Redis db 3 with the
    same bytes and HTTP-6 headers and no S3 request. The keys live in db 3 under the prefix with
    TTL = min(freshness + stale grace (1 h), redis_ttl_seconds)."""
    pw = secret("redis-pw")
    r = redis_factory(password=pw)
    prefix = "ygtest-a:"
    k1, k2 = new_key("a-default"), new_key("a-maxage")
    b1 = gzip.compress(rand_bytes(40_000, 101), mtime=0)
    b2 = rand_bytes(70_000, 102)
    put(s3, k1, b1, ContentType="text/plain; charset=utf-8", ContentEncoding="gzip",
        ContentDisposition='attachment; filename="a.txt"', ContentLanguage="en-GB",
        Metadata={"team": "redis", "run": "one"})
    put(s3, k2, b2, ContentType="application/x-test", CacheControl="public, max-age=60")
    redis_ttl = 5000
    common = {"redis_key_prefix": prefix, "redis_ttl_seconds": redis_ttl}
    # First instance: URL without credentials, password and db as their own keys.
    p1 = start_proxy(proxy_factory, [bucket(relay, s3)],
                     redis_cache(("memory", "redis"),
                                 {"redis_url": r.url(auth=False), "redis_password": pw,
                                  "redis_db": 3, **common}), name="first")
    miss1, miss2 = get(p1, target("/c", k1)), get(p1, target("/c", k2))
    assert_body(miss1, b1, "MISS")
    assert_body(miss2, b2, "MISS")
    rk1, rk2 = rkey(k1, prefix=prefix), rkey(k2, prefix=prefix)
    wait_keys(r, [rk1, rk2], db=3)
    assert r.keys("*", db=0) == [], "the proxy wrote to db 0 although redis_db is 3"
    # TTL: no max-age -> 3600 + 3600 grace > 5000 -> 5000; max-age=60 -> 60 + 3600.
    ttl1, ttl2 = r.ttl(rk1, db=3), r.ttl(rk2, db=3)
    assert redis_ttl - 15 <= ttl1 <= redis_ttl, f"TTL {ttl1}, want min(7200, {redis_ttl})"
    assert 3660 - 15 <= ttl2 <= 3660, f"TTL {ttl2}, want min(60 + 3600 grace, {redis_ttl})"
    value = r.cli_bytes("GET", rk2, db=3)
    assert b2 in value and len(value) > len(b2), (
        f"the Redis value ({len(value)} bytes) does not hold the body ({len(b2)} bytes)")
    eventually(p1.port, lambda m: expect(rop(m, "insert") == 2 and rop(m, "miss") == 2,
                                         redis_metrics(m)))
    p1.send_signal(signal.SIGTERM)
    assert p1.wait_exit(15) == 0, p1.log_tail(30)
    p1.stop()

    # Second instance: credentials and db in the URL. Its memory is empty: hits come from Redis.
    p2 = start_proxy(proxy_factory, [bucket(relay, s3)],
                     redis_cache(("memory", "redis"), {"redis_url": r.url(db=3), **common}),
                     name="second")
    hit1, hit2 = get(p2, target("/c", k1)), get(p2, target("/c", k2))
    assert_body(hit1, b1, "HIT")
    assert_body(hit2, b2, "HIT")
    assert_age(hit1)
    assert http6(hit1) == http6(miss1), (http6(hit1), http6(miss1))
    assert http6(hit2) == http6(miss2)
    assert hit1.header("x-amz-meta-team") == "redis" and hit1.header("Content-Encoding") == "gzip"
    assert s3_gets(relay, k1) == 1 and s3_gets(relay, k2) == 1, "a Redis hit went to S3"

    def served_from_redis(m):
        assert rop(m, "hit") == 2, redis_metrics(m)
        assert req_total(m, "c", "hit") == 2
        assert rev(m, "connect") >= 1 and conns(m) >= 1, redis_metrics(m)
    eventually(p2.port, served_from_redis)
    # The Redis hit is promoted to memory (in the background); the next hit comes from there.
    eventually(p2.port, lambda m: expect(
        msum(m, "yatagarasu_cache_items", layer="memory") == 2))
    assert_body(get(p2, target("/c", k1)), b1, "HIT")
    eventually(p2.port, lambda m: expect(rop(m, "hit") == 2 and mop(m, "hit") == 1,
                                         redis_metrics(m)))
    assert {"memory", "redis"} <= info_layers(p2, "c", k1)
    assert s3_gets(relay, k1) == 1
    secrets_absent(p2, pw)


def test_acl_user_in_the_url_and_as_redis_username(redis_factory, proxy_factory, s3, relay):
    """An ACL user (not the default user) given as redis://user:pw@ or redis_username +
    redis_password; the connections really authenticate as that user (CLIENT LIST)."""
    default_pw, user_pw = secret("default-pw"), secret("acl-user-pw")
    r = redis_factory(password=default_pw, users=[("yg-cache", user_pw)])
    key = new_key("acl")
    body = rand_bytes(30_000, 103)
    put(s3, key, body)
    p1 = start_proxy(proxy_factory, [bucket(relay, s3)],
                     redis_cache(["redis"], {"redis_url": r.url(user="yg-cache",
                                                                password=user_pw)}),
                     name="url-user")
    assert_body(get(p1, target("/c", key)), body, "MISS")
    wait_keys(r, [rkey(key)])
    assert_body(get(p1, target("/c", key)), body, "HIT")  # [redis] only: a Redis hit
    clients = r.cli("CLIENT", "LIST")
    assert "user=yg-cache" in clients, f"no connection authenticated as yg-cache:\n{clients}"

    p2 = start_proxy(proxy_factory, [bucket(relay, s3)],
                     redis_cache(["redis"], {"redis_url": r.url(auth=False),
                                             "redis_username": "yg-cache",
                                             "redis_password": user_pw}),
                     name="username-key")
    assert_body(get(p2, target("/c", key)), body, "HIT")
    assert s3_gets(relay, key) == 1
    eventually(p2.port, lambda m: expect(rop(m, "hit") == 1, redis_metrics(m)))
    for p in (p1, p2):
        secrets_absent(p, user_pw, default_pw)


def test_wrong_password_is_a_miss_never_an_error(redis_factory, proxy_factory, s3, relay):
    """A wrong password: every request still 200 with the right bytes from S3 (MISS), nothing
    written to Redis, the layer counted as error/miss, connect failures counted, no connection
    held; neither the right nor the wrong password in the log."""
    good, wrong = secret("good-pw"), secret("wrong-pw")
    r = redis_factory(password=good)
    key = new_key("wrongpw")
    body = rand_bytes(20_000, 104)
    put(s3, key, body)
    p = start_proxy(proxy_factory, [bucket(relay, s3)],
                    redis_cache(["redis"], {"redis_url": r.url(auth=False),
                                            "redis_password": wrong}))
    for _ in range(3):
        resp = get(p, target("/c", key))
        assert_body(resp, body, "MISS")
    assert s3_gets(relay, key) == 3
    time.sleep(0.3)  # let a (refused) background write happen if one was queued
    assert r.keys() == [], "something was written with a wrong password"

    def counted(m):
        assert rop(m, "error") + rop(m, "miss") >= 3, redis_metrics(m)
        assert rev(m, "connect_failure") >= 1, redis_metrics(m)
        assert conns(m) == 0, redis_metrics(m)
        assert req_total(m, "c", "miss") == 3
    eventually(p.port, counted)
    secrets_absent(p, good, wrong)
    assert b"redis" in p.logs().lower(), "a Redis that refuses our password is not logged"


def test_memory_disk_redis_tiers_versions_ranges_and_head(redis_factory, proxy_factory, s3,
                                                           relay, tmp_path):
    """[memory, disk, redis]: a fresh instance (empty memory and disk) answers a versioned GET,
    a Range and a HEAD from Redis with no S3 request, and copies the entry into its faster
    layers. Versions have their own keys ("?v=<versionId>"); an object purge removes them all."""
    r = redis_factory(password=secret("tier-pw"))
    key = new_key("tier")
    v1, v2 = rand_bytes(50_000, 130), rand_bytes(60_000, 131)
    vid1 = s3.put(S3_RV, key, v1, ContentType="application/x-v1")["VersionId"]
    vid2 = s3.put(S3_RV, key, v2, ContentType="application/x-v2")["VersionId"]
    vb = relay_bucket(relay, s3, "v", "/v", s3_bucket=S3_RV)

    def cfg(disk: Path) -> dict:
        return redis_cache(("memory", "disk", "redis"), {"redis_url": r.url()}, disk_dir=disk)

    def gets() -> int:
        return relay.count("GET", f"/{S3_RV}/{key}")

    p1 = start_proxy(proxy_factory, [vb], cfg(tmp_path / "disk1"), name="tier1")
    t_v1 = target("/v", key) + "?versionId=" + urllib.parse.quote(vid1, safe="")
    assert_body(get(p1, t_v1), v1, "MISS")
    assert_body(get(p1, target("/v", key)), v2, "MISS")
    k_v1, k_latest = PREFIX + cache_key("v", key, vid1), PREFIX + cache_key("v", key)
    wait_keys(r, [k_v1, k_latest])
    assert gets() == 2

    p2 = start_proxy(proxy_factory, [vb], cfg(tmp_path / "disk2"), name="tier2")
    hit = get(p2, t_v1)
    assert_body(hit, v1, "HIT")
    assert hit.header("x-amz-version-id") == vid1 and hit.header("Content-Type") == "application/x-v1"
    rng = get(p2, target("/v", key), {"Range": "bytes=100-199"})
    assert rng.status == 206 and rng.body == v2[100:200] and xc(rng) == "HIT", rng.headers
    assert rng.header("Content-Range") == f"bytes 100-199/{len(v2)}"
    head = get(p2, target("/v", key), method="HEAD")
    assert head.status == 200 and head.body == b"" and xc(head) == "HIT", head.headers
    assert head.header("Content-Length") == str(len(v2)) and head.header("x-amz-version-id") == vid2
    assert gets() == 2 and relay.count("HEAD", f"/{S3_RV}/{key}") == 0, (
        "a request answerable from Redis went to S3")
    eventually(p2.port, lambda m: expect(rop(m, "hit") >= 2, redis_metrics(m)))
    yg_procs.wait_until(lambda: {"memory", "disk", "redis"} <= info_layers(p2, "v", key),
                        timeout=10, what="the Redis hit copied into memory and disk")

    doc = admin_post(p2, "/admin/cache/purge/v/" + urllib.parse.quote(key, safe="/"))
    assert doc["purged"].get("redis") == 2, f"both versions' Redis entries: {doc}"
    assert entries(r) == []
    assert_body(get(p1, t_v1), v1, "MISS")  # propagated to p1's memory and disk
    assert gets() == 3


# --- (b) Redis down at start ------------------------------------------------------------------

def test_redis_down_at_start_then_up_without_a_proxy_restart(redis_factory, proxy_factory, s3,
                                                             relay):
    pw = secret("late-pw")
    r = redis_factory(start=False, password=pw)  # port reserved, nothing listening yet
    key = new_key("late")
    body = rand_bytes(50_000, 105)
    put(s3, key, body)
    p = start_proxy(proxy_factory, [bucket(relay, s3)],
                    redis_cache(["redis"], {"redis_url": r.url()}))
    for _ in range(2):
        assert_body(get(p, target("/c", key)), body, "MISS")
    assert s3_gets(relay, key) == 2
    eventually(p.port, lambda m: expect(
        rev(m, "connect_failure") + rev(m, "fast_failure") >= 1 and conns(m) == 0,
        redis_metrics(m)))

    r.start()
    t0 = time.monotonic()
    seen: List[str] = []

    def hit():
        resp = get(p, target("/c", key))
        assert_body(resp, body)  # always 200 and the exact bytes while it reconnects
        seen.append(xc(resp))
        return xc(resp) == "HIT"

    yg_procs.wait_until(hit, timeout=20, interval=0.1,
                        what="a Redis hit after Redis came up")
    print(f"\n[redis-late] first Redis hit {time.monotonic() - t0:.2f} s after Redis started "
          f"({len(seen)} requests: {seen.count('MISS')} MISS)")
    assert rkey(key) in r.keys()
    n = s3_gets(relay, key)
    assert_body(get(p, target("/c", key)), body, "HIT")
    assert s3_gets(relay, key) == n
    eventually(p.port, lambda m: expect(
        rev(m, "connect") >= 1 and conns(m) >= 1 and rop(m, "hit") >= 2, redis_metrics(m)))


# --- (c) Redis killed / frozen under constant load ----------------------------------------------

def _load_until_recovered(load: ConstantLoad, mark: str, min_seconds: float,
                          min_hits: int = 20, timeout: float = 25.0) -> LoadResult:
    """Keeps the load running at least `min_seconds` in all and until `min_hits` HITs were
    answered to requests sent after `mark` (at most `timeout` s), then stops it."""
    t_mark = load.marks[mark]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hits = sum(1 for o in load.snapshot() if o.sent >= t_mark and o.x_cache == "HIT")
        if hits >= min_hits and load.elapsed() >= min_seconds:
            break
        time.sleep(0.1)
    return load.stop()


def _outage_setup(redis_factory, proxy_factory, s3, relay, tag: str):
    pw = secret(f"{tag}-pw")
    r = redis_factory(password=pw)
    objs = objects(16, tag)
    for k, b in objs.items():
        put(s3, k, b)
    # [redis] only, so every request goes to Redis (a memory layer would hide the outage).
    p = start_proxy(proxy_factory, [bucket(relay, s3)],
                    redis_cache(["redis"], {"redis_url": r.url(), "command_timeout_ms": 250,
                                            "connect_timeout_ms": 500}))
    warm(p, relay, objs)
    wait_keys(r, [rkey(k) for k in objs])
    for k, b in objs.items():
        assert_body(get(p, target("/c", k)), b, "HIT")
    load = ConstantLoad(p.port, {target("/c", k): b for k, b in objs.items()}, rate=RATE)
    return r, p, objs, load


def test_redis_killed_under_load_no_failed_request(redis_factory, proxy_factory, s3, relay):
    r, p, objs, load = _outage_setup(redis_factory, proxy_factory, s3, relay, "kill9")
    load.start()
    time.sleep(2.5)
    m0 = scrape(p.port)
    r.kill()
    load.mark("killed")
    time.sleep(2.0)
    m_down = scrape(p.port)
    load.mark("restart")
    r.restart()  # empty: entries are refilled by the next misses
    load.mark("restarted")
    m_up = scrape(p.port)
    res = _load_until_recovered(load, "restarted", min_seconds=9.0)
    m1 = scrape(p.port)
    print(f"\n[redis-kill9] {res.summary()}\n  during the outage: "
          f"{res.x_cache_counts(res.between('killed', 'restart'))}; after the restart: "
          f"{res.x_cache_counts(res.after('restarted'))}\n{redis_metrics(m1)}")
    assert not res.failures(), res.summary()
    assert len(res.outcomes) >= RATE * 8, f"the client fell short of its rate: {res.summary()}"
    # The outage shows in the metrics...
    broke = ((rev(m_down, "disconnect") - rev(m0, "disconnect"))
             + (rev(m_down, "connect_failure") - rev(m0, "connect_failure"))
             + (rev(m_down, "fast_failure") - rev(m0, "fast_failure")))
    assert broke >= 1, f"no disconnect/connect failure counted while Redis was dead:\n" \
                       f"{redis_metrics(m_down)}"
    assert rop(m_down, "error") > rop(m0, "error"), redis_metrics(m_down)
    # ...the requests during it were answered from S3 (a HIT only for coalesced followers)...
    during = res.between("killed", "restart")
    coalesced = (msum(m_down, "yatagarasu_cache_coalesced_total")
                 - msum(m0, "yatagarasu_cache_coalesced_total"))
    assert sum(o.x_cache == "HIT" for o in during) <= coalesced, res.x_cache_counts(during)
    assert sum(o.x_cache == "MISS" for o in during) >= 1
    # ...and so does the recovery: Redis hits again after the restart, reconnected on its own.
    assert len(res.after("restarted", "HIT")) >= 20, res.x_cache_counts(res.after("restarted"))
    assert rop(m1, "hit") > rop(m_up, "hit") + 10, redis_metrics(m1)
    assert rev(m1, "connect") > rev(m0, "connect"), redis_metrics(m1)
    assert conns(m1) >= 1
    wait_keys(r, [rkey(k) for k in objs])  # refilled after the restart


def test_redis_frozen_under_load_no_failed_request(redis_factory, proxy_factory, s3, relay):
    r, p, objs, load = _outage_setup(redis_factory, proxy_factory, s3, relay, "sigstop")
    load.start()
    time.sleep(2.5)
    m0 = scrape(p.port)
    load.mark("stop")
    r.pause()
    time.sleep(2.0)
    r.resume()
    load.mark("cont")
    m_cont = scrape(p.port)
    res = _load_until_recovered(load, "cont", min_seconds=9.0)
    m1 = scrape(p.port)
    during = res.between("stop", "cont")
    worst = max((o.latency for o in during), default=0.0)
    print(f"\n[redis-sigstop] {res.summary()}\n  during the freeze: {res.x_cache_counts(during)},"
          f" slowest {worst * 1000:.0f} ms; after: {res.x_cache_counts(res.after('cont'))}\n"
          f"{redis_metrics(m1)}")
    assert not res.failures(), res.summary()
    assert len(res.outcomes) >= RATE * 8, f"the client fell short of its rate: {res.summary()}"
    assert rev(m_cont, "timeout") > rev(m0, "timeout"), (
        f"no Redis timeout counted during a 2 s freeze:\n{redis_metrics(m_cont)}")
    assert rop(m_cont, "error") > rop(m0, "error"), redis_metrics(m_cont)
    # Timeouts bound the wait: no request waited for the freeze to end.
    assert worst < 2.0, f"a request took {worst:.2f} s while Redis was frozen for 2 s"
    assert sum(o.x_cache == "MISS" for o in during) >= 1, res.x_cache_counts(during)
    assert len(res.after("cont", "HIT")) >= 20, res.x_cache_counts(res.after("cont"))
    assert rop(m1, "hit") > rop(m_cont, "hit") + 10, redis_metrics(m1)


# --- (d) several instances sharing one Redis: hits and purge propagation -------------------------

def _wait_gone(procs: Dict[str, object], bucket_name: str, key: str, t0: float,
               timeout: float = 5.0) -> Dict[str, float]:
    """Polls /admin/cache/info on each proxy until it no longer holds the object in memory;
    returns {name: seconds since t0}."""
    left = dict(procs)
    out: Dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for name, p in list(left.items()):
            if "memory" not in info_layers(p, bucket_name, key):
                out[name] = time.monotonic() - t0
                del left[name]
        time.sleep(0.002)
    assert not left, f"{sorted(left)} still hold {bucket_name}:{key} in memory after {timeout} s"
    return out


def test_three_instances_share_redis_and_purges_propagate(redis_factory, proxy_factory, s3, relay,
                                                          record_property):
    pw = secret("shared-pw")
    r = redis_factory(password=pw)
    cache = redis_cache(("memory", "redis"), {"redis_url": r.url()})
    buckets = [bucket(relay, s3, "c", "/c"), bucket(relay, s3, "d", "/d")]
    p1, p2, p3 = (start_proxy(proxy_factory, buckets, cache, name=f"inst{i}") for i in (1, 2, 3))
    ps = {"inst1": p1, "inst2": p2, "inst3": p3}
    for p in ps.values():
        eventually(p.port, lambda m: expect(msum(m, "yatagarasu_redis_subscribed") == 1,
                                            redis_metrics(m)))

    # An object fetched through instance 1 is a hit on 2 and 3 (from Redis, then memory).
    key = new_key("shared")
    body = rand_bytes(60_000, 106)
    put(s3, key, body, ContentType="application/x-shared")
    miss = get(p1, target("/c", key))
    assert_body(miss, body, "MISS")
    wait_keys(r, [rkey(key)])
    for p in (p2, p3):
        hit = get(p, target("/c", key))
        assert_body(hit, body, "HIT")
        assert http6(hit) == http6(miss)
        eventually(p.port, lambda m: expect(
            rop(m, "hit") == 1 and msum(m, "yatagarasu_cache_items", layer="memory") == 1,
            redis_metrics(m)))
        assert_body(get(p, target("/c", key)), body, "HIT")
        eventually(p.port, lambda m: expect(rop(m, "hit") == 1 and mop(m, "hit") == 1,
                                            redis_metrics(m)))
    assert s3_gets(relay, key) == 1, "another instance went to S3 for an object in Redis"

    # Object purge on instance 2: gone from Redis and from the memory of 1 and 3 (pub/sub).
    key2 = new_key("shared2")
    body2 = rand_bytes(30_000, 107)
    put(s3, key2, body2)
    assert_body(get(p1, target("/c", key2)), body2, "MISS")
    wait_keys(r, [rkey(key2)])
    for p in (p2, p3):
        assert_body(get(p, target("/c", key2)), body2, "HIT")
    for p in ps.values():
        yg_procs.wait_until(lambda: {"memory", "redis"} <= info_layers(p, "c", key)
                            and "memory" in info_layers(p, "c", key2), timeout=5,
                            what=f"both objects in {p.name}'s memory")
    t0 = time.monotonic()
    doc = admin_post(p2, "/admin/cache/purge/c/" + urllib.parse.quote(key, safe="/"))
    t_resp = time.monotonic() - t0
    lat = _wait_gone({"inst1": p1, "inst3": p3}, "c", key, t0)
    report = (f"object purge on inst2: response in {t_resp * 1000:.1f} ms; memory copies "
              f"dropped on inst1 after {lat['inst1'] * 1000:.1f} ms, on inst3 after "
              f"{lat['inst3'] * 1000:.1f} ms (from the POST)")
    print(f"\n[redis-purge-propagation] {report}")
    record_property("purge_propagation", report)
    assert doc["scope"] == "object" and doc["purged"].get("redis") == 1, doc
    assert doc["purged"].get("memory") == 1 and doc["total"] == 2, doc
    assert rkey(key) not in r.keys() and rkey(key2) in r.keys()
    eventually(p2.port, lambda m: expect(prop(m, "published") == 1, redis_metrics(m)))
    for p in (p1, p3):
        eventually(p.port, lambda m: expect(prop(m, "applied") == 1
                                            and prop(m, "received") >= 1, redis_metrics(m)))
    # The next request on 1 and on 3 is a MISS (key: purged everywhere). key2 is untouched.
    n = s3_gets(relay, key)
    assert_body(get(p1, target("/c", key)), body, "MISS")
    assert s3_gets(relay, key) == n + 1
    for p in ps.values():
        assert_body(get(p, target("/c", key2)), body2, "HIT")
    # Instance 3 dropped its copy too: purge again from 2 and make 3 the first to ask.
    wait_keys(r, [rkey(key)])
    assert_body(get(p3, target("/c", key)), body, "HIT")  # from Redis, then promoted
    yg_procs.wait_until(lambda: "memory" in info_layers(p3, "c", key), timeout=5,
                        what="inst3 holding the object again")
    admin_post(p2, "/admin/cache/purge/c/" + urllib.parse.quote(key, safe="/"))
    _wait_gone({"inst3": p3}, "c", key, time.monotonic())
    n = s3_gets(relay, key)
    assert_body(get(p3, target("/c", key)), body, "MISS")
    assert s3_gets(relay, key) == n + 1

    # Bucket purge on instance 3: bucket c gone from Redis and every memory, bucket d kept.
    kd = new_key("shared-d")
    bd = rand_bytes(10_000, 108)
    put(s3, kd, bd)
    assert_body(get(p1, target("/d", kd)), bd, "MISS")
    wait_keys(r, [rkey(kd, "d"), rkey(key), rkey(key2)])
    for p in ps.values():
        for t, b in ((target("/c", key), body), (target("/d", kd), bd)):
            assert_body(get(p, t), b, "HIT")
        yg_procs.wait_until(lambda: all("memory" in info_layers(p, b, k) for b, k in
                                        (("c", key), ("c", key2), ("d", kd))),
                            timeout=5, what=f"three objects in {p.name}'s memory")
    t0 = time.monotonic()
    doc = admin_post(p3, "/admin/cache/purge/c")
    assert doc["scope"] == "bucket" and doc["purged"].get("redis") == 2, doc
    lat_b = _wait_gone({"inst1": p1, "inst2": p2}, "c", key2, t0)
    print(f"[redis-purge-propagation] bucket purge on inst3: dropped on inst1 after "
          f"{lat_b['inst1'] * 1000:.1f} ms, on inst2 after {lat_b['inst2'] * 1000:.1f} ms")
    assert r.keys(PREFIX + "1:c*") == [], r.keys()
    assert entries(r) == [rkey(kd, "d")]
    for p in ps.values():
        assert "memory" not in info_layers(p, "c", key)
        assert "memory" in info_layers(p, "d", kd), f"{p.name}: bucket d was purged too"

    # Full purge on instance 1: nothing left anywhere.
    t0 = time.monotonic()
    doc = admin_post(p1, "/admin/cache/purge")
    assert doc["scope"] == "all" and doc["purged"].get("redis") == 1, doc
    lat_a = _wait_gone({"inst2": p2, "inst3": p3}, "d", kd, t0)
    print(f"[redis-purge-propagation] full purge on inst1: dropped on inst2 after "
          f"{lat_a['inst2'] * 1000:.1f} ms, on inst3 after {lat_a['inst3'] * 1000:.1f} ms")
    assert entries(r) == []
    for name, p in ps.items():
        eventually(p.port, lambda m: expect(
            msum(m, "yatagarasu_cache_items", layer="memory") == 0, redis_metrics(m)))
    # Each instance published its own purges and applied the others': inst2 purged the object
    # twice, inst3 the bucket, inst1 everything.
    want = {"inst1": (1, 3), "inst2": (2, 2), "inst3": (1, 3)}
    for name, p in ps.items():
        pub, applied = want[name]
        eventually(p.port, lambda m: expect(
            prop(m, "published") == pub and prop(m, "applied") == applied
            and prop(m, "publish_failed") == 0, f"{name}:\n{redis_metrics(m)}"))


def test_a_request_right_after_a_purge_is_not_held_up(redis_factory, proxy_factory, s3, relay):
    """Purge an object moments after it was filled (e.g. a new version was uploaded), then ask
    another instance for it: it must fetch it at once. The fill left its cross-instance lock
    (`<prefix>lock:<key>`, fill_lock_ms = 5 s by default); if a purge leaves that lock behind,
    the next miss waits the lock out for an object that will never appear."""
    r = redis_factory(password=secret("lock-pw"))
    cache = redis_cache(("memory", "redis"), {"redis_url": r.url()})
    p1, p2 = (start_proxy(proxy_factory, [bucket(relay, s3)], cache, name=f"inst{i}")
              for i in (1, 2))
    for p in (p1, p2):
        eventually(p.port, lambda m: expect(msum(m, "yatagarasu_redis_subscribed") == 1))
    key = new_key("purge-lock")
    v1, v2 = rand_bytes(20_000, 120), rand_bytes(21_000, 121)
    put(s3, key, v1)
    assert_body(get(p1, target("/c", key)), v1, "MISS")
    wait_keys(r, [rkey(key)])
    put(s3, key, v2)  # a new version is uploaded, and the old copy purged everywhere
    admin_post(p1, "/admin/cache/purge/c/" + urllib.parse.quote(key, safe="/"))
    left = r.keys(PREFIX + "*")
    t0 = time.monotonic()
    resp = get(p2, target("/c", key))
    took = time.monotonic() - t0
    assert_body(resp, v2, "MISS")
    assert took < 2.0, (
        f"the first request after the purge took {took:.2f} s (Redis keys left by the purge: "
        f"{left}): the fill lock of the purged object outlived the purge, so this miss waited "
        "for an object that cannot appear. A purge should delete the matching "
        "<prefix>lock:<key> keys too (or a stored fill should release its lock).")
    assert s3_gets(relay, key) == 2


# --- (e) Redis Cluster -------------------------------------------------------------------------

def test_cluster_round_trip_failover_under_load_and_purge(redis_cluster, proxy_factory, s3,
                                                          relay):
    c = redis_cluster
    objs = objects(12, "cl")
    for k, b in objs.items():
        put(s3, k, b)
    # Cluster mode: seeds, password as its own key, no redis_url.
    rcfg = {"cluster": c.seeds(), "redis_password": c.password}
    p1 = start_proxy(proxy_factory, [bucket(relay, s3)],
                     redis_cache(("memory", "redis"), rcfg), name="cl-first")
    warm(p1, relay, objs)
    rkeys = {rkey(k) for k in objs}
    wait_keys(c, rkeys)
    by_master = c.keys_by_master(PREFIX + "*")
    spread = {m: len(ks) for m, ks in by_master.items() if ks}
    assert len(spread) >= 2, f"12 keys all on one master: {spread}"
    for k in objs:  # each key is on the master that owns its slot
        assert rkey(k) in by_master[c.master_of(rkey(k))]
    p1.stop()

    # A fresh proxy (memory empty), URL form for scheme + credentials: every object a HIT.
    p2 = start_proxy(proxy_factory, [bucket(relay, s3)],
                     redis_cache(["redis"], {"cluster": c.seeds()[3:], "redis_url": c.url()}),
                     name="cl-second")
    for k, b in objs.items():
        assert_body(get(p2, target("/c", k)), b, "HIT")
    assert all(s3_gets(relay, k) == 1 for k in objs), "a hit in the cluster went to S3"
    eventually(p2.port, lambda m: expect(rop(m, "hit") == 12, redis_metrics(m)))

    # Failover of the master holding the most keys, under constant load.
    victim = max(spread, key=lambda m: spread[m])
    load = ConstantLoad(p2.port, {target("/c", k): b for k, b in objs.items()},
                        rate=RATE).start()
    time.sleep(2.0)
    m0 = scrape(p2.port)
    load.mark("failover")
    new_master = c.failover(victim)
    load.mark("done")
    res = _load_until_recovered(load, "done", min_seconds=7.0)
    m1 = scrape(p2.port)
    print(f"\n[redis-cluster-failover] {victim} -> {new_master} in "
          f"{res.marks['done'] - res.marks['failover']:.2f} s; {res.summary()}\n"
          f"  during: {res.x_cache_counts(res.between('failover', 'done'))}; after: "
          f"{res.x_cache_counts(res.after('done'))}\n{redis_metrics(m1)}")
    assert not res.failures(), res.summary()
    assert new_master in c.masters() and victim not in c.masters()
    assert len(res.after("done", "HIT")) >= 20, res.x_cache_counts(res.after("done"))
    moved_keys = [k for k in objs if c.master_of(rkey(k)) == new_master]
    assert moved_keys, "no key on the failed-over shard"
    # The proxy followed the new topology: a redirection or a refresh is counted, and the
    # failed-over shard's objects are Redis hits again.
    seen = sum(rev(m1, e) - rev(m0, e) for e in ("moved", "ask", "topology_refresh"))
    assert seen >= 1, f"no MOVED/topology refresh counted across a failover:\n{redis_metrics(m1)}"
    h = rop(scrape(p2.port), "hit")
    for k in moved_keys:
        assert_body(get(p2, target("/c", k)), objs[k], "HIT")
    eventually(p2.port, lambda m: expect(rop(m, "hit") == h + len(moved_keys), redis_metrics(m)))

    # Purge by bucket reaches the keys on every master.
    wait_keys(c, rkeys)
    doc = admin_post(p2, "/admin/cache/purge/c")
    assert doc["scope"] == "bucket" and doc["purged"].get("redis") == 12, doc
    left = c.keys_by_master(PREFIX + "*")
    assert not any(left.values()), f"keys left after a bucket purge: {left}"
    k0, b0 = next(iter(objs.items()))
    n = s3_gets(relay, k0)
    assert_body(get(p2, target("/c", k0)), b0, "MISS")
    assert s3_gets(relay, k0) == n + 1


# --- (f) TLS -----------------------------------------------------------------------------------

def test_tls_with_the_right_ca_and_a_wrong_one(redis_factory, proxy_factory, s3, relay):
    pw = secret("tls-pw")
    r = redis_factory(password=pw, tls=True)
    assert r.url().startswith("rediss://")
    key, key2 = new_key("tls"), new_key("tls-bad")
    body, body2 = rand_bytes(40_000, 109), rand_bytes(40_000, 110)
    put(s3, key, body)
    put(s3, key2, body2)
    p = start_proxy(proxy_factory, [bucket(relay, s3)],
                    redis_cache(["redis"], {"redis_url": r.url(),
                                            "tls_ca_file": str(r.ca_file)}), name="right-ca")
    assert_body(get(p, target("/c", key)), body, "MISS")
    wait_keys(r, [rkey(key)])
    assert_body(get(p, target("/c", key)), body, "HIT")
    assert s3_gets(relay, key) == 1
    eventually(p.port, lambda m: expect(rop(m, "hit") == 1 and conns(m) >= 1, redis_metrics(m)))

    bad = start_proxy(proxy_factory, [bucket(relay, s3)],
                      redis_cache(["redis"], {"redis_url": r.url(),
                                              "tls_ca_file": str(r.tls.other_ca_file)}),
                      name="wrong-ca")
    for _ in range(2):
        assert_body(get(bad, target("/c", key2)), body2, "MISS")
    assert_body(get(bad, target("/c", key)), body, "MISS")  # in Redis, but not reachable
    assert s3_gets(relay, key2) == 2 and s3_gets(relay, key) == 2
    time.sleep(0.3)
    assert rkey(key2) not in r.keys()

    def refused(m):
        assert rev(m, "connect_failure") >= 1 and conns(m) == 0, redis_metrics(m)
        assert rop(m, "error") + rop(m, "miss") >= 3, redis_metrics(m)
        assert rop(m, "hit") == 0
    eventually(bad.port, refused)
    logs = bad.logs().lower()
    assert b"redis" in logs and (b"certificate" in logs or b"verify" in logs
                                 or b"tls" in logs or b"ssl" in logs), (
        "a TLS verification failure towards Redis is not logged")
    secrets_absent(bad, pw)


# --- (g) max_value_size_mb ---------------------------------------------------------------------

def test_objects_over_max_value_size_are_not_stored_in_redis(redis_factory, proxy_factory, s3,
                                                             relay):
    r = redis_factory(password=secret("big-pw"))
    k_over, k_under = new_key("over"), new_key("under")
    b_over = rand_bytes(1 * MiB + 64 * KiB, 111)   # over 1 MiB, whatever the header adds
    b_under = rand_bytes(1 * MiB - 8 * KiB, 112)   # under it, header and metadata included
    put(s3, k_over, b_over)
    put(s3, k_under, b_under)
    cache = redis_cache(("memory", "redis"), {"redis_url": r.url(), "max_value_size_mb": 1},
                        item_mb=10)
    p1 = start_proxy(proxy_factory, [bucket(relay, s3)], cache, name="big-first")
    assert_body(get(p1, target("/c", k_over)), b_over, "MISS")
    assert_body(get(p1, target("/c", k_under)), b_under, "MISS")
    wait_keys(r, [rkey(k_under)])
    eventually(p1.port, lambda m: expect(rop(m, "rejected") >= 1 and rop(m, "insert") == 1,
                                         redis_metrics(m)))
    assert rkey(k_over) not in r.keys(), "an object over max_value_size_mb was stored in Redis"
    # Memory still has both (its item limit is 10 MiB).
    assert_body(get(p1, target("/c", k_over)), b_over, "HIT")
    assert_body(get(p1, target("/c", k_under)), b_under, "HIT")

    p2 = start_proxy(proxy_factory, [bucket(relay, s3)], cache, name="big-second")
    hit = get(p2, target("/c", k_under))
    assert_body(hit, b_under, "HIT")
    assert s3_gets(relay, k_under) == 1
    assert_body(get(p2, target("/c", k_over)), b_over, "MISS")
    assert s3_gets(relay, k_over) == 2


def expect(cond: bool, msg: str = "") -> None:
    """For prom.eventually checks written as lambdas: they must raise, not return False."""
    assert cond, msg


def test_reload_keeps_serving_and_a_changed_origin_is_purged_from_redis(redis_factory,
                                                                        proxy_factory, s3, relay):
    """SIGHUP with the Redis layer on: a reload that keeps the origin keeps the entries; one that
    points the bucket at another origin purges its objects from memory and Redis (the reload's
    purge runs on a private io_context that the pooled Redis connections must not hold open);
    the proxy then stops cleanly."""
    r = redis_factory()
    cache = redis_cache(("memory", "redis"), {"redis_url": r.url()})
    p = start_proxy(proxy_factory, [bucket(relay, s3)], cache)
    key = new_key("reload")
    body = rand_bytes(9000, 301)
    put(s3, key, body)
    assert_body(get(p, target("/c", key)), body, "MISS")
    wait_keys(r, [rkey(key)])

    def reload(buckets, generation):
        p.write_config(config_doc(p.port, buckets, extra={"cache": cache}))
        p.send_signal(signal.SIGHUP)
        yg_procs.wait_until(
            lambda: msum(scrape(p.port), "yatagarasu_config_generation") == generation,
            timeout=10, what=f"config generation {generation}\n{p.log_tail(10)}")

    reload([bucket(relay, s3)], 2)
    assert_body(get(p, target("/c", key)), body, "HIT")
    assert rkey(key) in entries(r), "a reload with the same origin dropped the Redis entry"

    direct = bucket_block("c", "/c", s3_block(s3.url, S3_R, s3.access_key, s3.secret_key))
    reload([direct], 3)
    wait_keys(r, [rkey(key)], present=False, timeout=5)
    through_relay = s3_gets(relay, key)
    assert_body(get(p, target("/c", key)), body, "MISS")
    assert s3_gets(relay, key) == through_relay, "fetched from the old origin after the reload"
    p.send_signal(signal.SIGTERM)
    assert p.wait_exit(15) == 0, p.log_tail(30)
