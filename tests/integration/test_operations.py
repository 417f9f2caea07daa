"""OPS-4 hot reload (SIGHUP and POST /admin/reload), OPS-5 graceful shutdown, daemon mode with a
pid file, systemd's notify protocol and the shipped unit. Real moto (signature checking on)
behind a real proxy; the fault server's trickle mode provides streams that outlive a signal.

The two under-load tests are marked slow (the ASan run deselects them); they print what they
measured (requests, failures, reload and drain times) for docs/OPERATIONS.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

import catalog
import httpc
from checks import log_messages, recv_until_closed, wait_for
import prom
import yg_procs
from jwks_server import make_key
from layouts import fake_bucket, moto_bucket
from proxy import SANITIZER_RE, config_doc, register_secret, run_cli
from held_request import held_get
from rate_client import ConstantLoad
import vegeta

H = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]


# --- helpers -----------------------------------------------------------------------------------

def get(p, target, headers=None, timeout=10.0):
    return httpc.request(H, p.port, "GET", target, headers=headers, timeout=timeout)


def get_port(port, target):
    return httpc.request(H, port, "GET", target, timeout=10)


def post_reload(p, headers=None):
    return httpc.request(H, p.port, "POST", "/admin/reload", headers=headers, timeout=30)


def generation(p) -> int:
    return int(prom.series(prom.scrape(p.port), "yatagarasu_config_generation"))


def reload_counts(p) -> tuple:
    m = prom.scrape(p.port)
    return (int(prom.series(m, "yatagarasu_config_reloads_total", result="success")),
            int(prom.series(m, "yatagarasu_config_reloads_total", result="failure")))


def write_atomic(path: Path, doc) -> None:
    """The proxy may read the file at any moment (SIGHUP): never let it see half a file."""
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def bearer(tok: str) -> dict:
    return {"Authorization": f"Bearer {register_secret(tok)}"}


def hs_jwt(secret: str, **extra) -> dict:
    cfg = {"enabled": True, "algorithm": "HS256", "secret": register_secret(secret)}
    cfg.update(extra)
    return cfg


def reaped(p, want_status: int) -> None:
    """For tests whose proxy exits by itself with `want_status` (a second SIGTERM exits 1): check
    what Proxy.stop() would check, then hand the proxy back as already stopped."""
    assert p.proc.returncode == want_status, p.log_tail(30)
    logs = p.logs()
    assert not SANITIZER_RE.search(logs), "sanitizer report in the proxy log"
    p.exit_status, p.proc = p.proc.returncode, None


@pytest.fixture(scope="module")
def second_key(moto_auth):
    """A second valid access key of moto's IAM user (AWS allows two per user): S3 credentials can
    then alternate between two keys that both work."""
    import boto3

    iam = boto3.client("iam", endpoint_url=moto_auth.url, region_name="us-east-1",
                       aws_access_key_id=moto_auth.access_key,
                       aws_secret_access_key=moto_auth.secret_key)
    k = iam.create_access_key(UserName="yatagarasu-proxy")["AccessKey"]
    register_secret(k["SecretAccessKey"])
    yield k["AccessKeyId"], k["SecretAccessKey"]
    iam.delete_access_key(UserName="yatagarasu-proxy", AccessKeyId=k["AccessKeyId"])


def s3_with(moto, bucket: dict, key: tuple) -> dict:
    b = json.loads(json.dumps(bucket))
    b["s3"]["access_key"], b["s3"]["secret_key"] = key
    return b


# --- 1. POST /admin/reload -----------------------------------------------------------------------

def test_post_admin_reload_applies_the_file_and_refuses_an_invalid_one(proxy_factory, moto_auth,
                                                                       second_key):
    public = moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)
    pub = moto_bucket(moto_auth, "pub", "/pub", catalog.BUCKET_PUB)
    p = proxy_factory([public])
    g0 = generation(p)
    assert reload_counts(p) == (0, 0)
    assert get(p, "/pub/hello.txt").status == 404

    # GET is not a reload.
    r = get(p, "/admin/reload")
    assert r.status == 405, r.text_dump()
    assert r.header("Allow") == "POST"
    assert generation(p) == g0

    # A new bucket, and the S3 credentials switched to the second key.
    p.write_config(config_doc(p.port, [s3_with(moto_auth, public, second_key), pub]))
    r = post_reload(p)
    assert r.status == 200, r.text_dump()
    assert r.header("Content-Type").startswith("application/json")
    assert r.json() == {"status": "reloaded", "generation": g0 + 1, "warnings": [], "errors": []}
    assert get(p, "/pub/hello.txt").body == catalog.PUB_HELLO.body
    assert get(p, "/public/hello.txt").body == catalog.HELLO.body
    assert generation(p) == g0 + 1 and reload_counts(p) == (1, 0)

    # Credentials really are rebuilt: a wrong secret now fails upstream...
    wrong = ("AKIAWRONGWRONGWRONG0", register_secret("reload-wrong-secret-do-not-log"))
    p.write_config(config_doc(p.port, [s3_with(moto_auth, public, wrong)]))
    assert post_reload(p).status == 200
    assert get(p, "/public/hello.txt").status in (403, 502)
    assert get(p, "/pub/hello.txt").status == 404, "removed bucket still routed"

    # ... and a restart-only key is applied to nothing, with a warning that names it.
    p.write_config(config_doc(p.port, [public], server={"threads": 3}))
    r = post_reload(p)
    assert r.status == 200, r.text_dump()
    doc = r.json()
    assert doc["generation"] == g0 + 3
    assert any(w.startswith("server.threads changed") for w in doc["warnings"]), doc
    assert get(p, "/public/hello.txt").body == catalog.HELLO.body

    # Invalid YAML: 422, the error with file and line, nothing changes.
    good = p.config_path.read_text()
    bad = good.replace("buckets:", "buckets: [\n  unterminated:", 1)
    line = next(i for i, l in enumerate(bad.splitlines(), 1) if "unterminated" in l)
    p.write_config(bad)
    r = post_reload(p)
    assert r.status == 422, r.text_dump()
    doc = r.json()
    assert doc["status"] == "refused" and doc["generation"] == g0 + 3, doc
    assert len(doc["errors"]) >= 1 and str(p.config_path) in doc["errors"][0], doc
    assert re.search(rf":{line}:|:{line + 1}:", doc["errors"][0]), (line, doc)
    assert get(p, "/public/hello.txt").body == catalog.HELLO.body
    assert generation(p) == g0 + 3 and reload_counts(p) == (3, 1)
    assert any("refused" in m and str(p.config_path) in m for m in log_messages(p))

    # A semantic error (an unknown claim operator): same, and the key path is named.
    doc_cfg = config_doc(p.port, [public, pub], extra={"jwt": hs_jwt(
        "semantic-error-secret-0123456789abcdef",
        claims=[{"claim": "sub", "operator": "resembles", "value": "x"}])})
    p.write_config(doc_cfg)
    r = post_reload(p)
    assert r.status == 422, r.text_dump()
    errs = r.json()["errors"]
    assert any("jwt.claims[0].operator" in e for e in errs), errs
    assert get(p, "/pub/hello.txt").status == 404, "a refused file was partly applied"
    assert reload_counts(p) == (3, 2) and generation(p) == g0 + 3
    # Neither the response nor the log carries the secrets of the file.
    assert "semantic-error-secret" not in r.body.decode()
    register_secret("semantic-error-secret-0123456789abcdef")


def test_sighup_reload_rotates_the_jwt_secret(proxy_factory, moto_auth):
    k1, k2 = make_key("HS256", "k1"), make_key("HS256", "k2")
    private = moto_bucket(moto_auth, "private", "/private", catalog.BUCKET_PUBLIC)
    private["auth"] = {"enabled": True}
    p = proxy_factory([private], extra={"jwt": hs_jwt(k1.private.decode())})
    t1, t2 = k1.mint(kid=None), k2.mint(kid=None)
    assert get(p, "/private/hello.txt", bearer(t1)).status == 200
    assert get(p, "/private/hello.txt", bearer(t2)).status == 401
    g0 = generation(p)
    p.write_config(config_doc(p.port, [private], extra={"jwt": hs_jwt(k2.private.decode())}))
    p.send_signal(signal.SIGHUP)
    assert wait_for(lambda: generation(p) == g0 + 1, 5), p.log_tail(20)
    assert get(p, "/private/hello.txt", bearer(t2)).body == catalog.HELLO.body
    assert get(p, "/private/hello.txt", bearer(t1)).status == 401, "old secret still accepted"


def test_admin_reload_needs_admin_claims(proxy_factory, moto_auth):
    k = make_key("HS256", "adm")
    cfg = hs_jwt(k.private.decode(),
                 admin_claims=[{"claim": "roles", "operator": "contains", "value": "admin"}])
    p = proxy_factory([moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)],
                      extra={"jwt": cfg})
    g0 = generation(p)
    assert post_reload(p).status == 401
    assert post_reload(p, bearer(k.mint({"roles": ["reader"]}, kid=None))).status == 403
    assert generation(p) == g0 and reload_counts(p) == (0, 0), "refused caller reloaded"
    r = post_reload(p, bearer(k.mint({"roles": ["admin"]}, kid=None)))
    assert r.status == 200 and r.json()["generation"] == g0 + 1, r.text_dump()


# --- 2. reload under load ----------------------------------------------------------------------

@pytest.mark.slow
def test_fifty_reloads_under_constant_load_drop_nothing(proxy_factory, moto_auth, second_key):
    """150 req/s (110 from our byte-checking client on fresh connections, 40 from vegeta on
    keep-alive ones) on a bucket whose S3 credentials alternate between two valid keys, while the
    file is reloaded 50 times (odd: SIGHUP, even: POST /admin/reload), each time also adding or
    removing a second bucket and switching the protected bucket's JWT secret; 5 invalid files in
    between are refused. Zero failed requests; every reload visibly applied."""
    keys = [(moto_auth.access_key, moto_auth.secret_key), second_key]
    secrets = [make_key("HS256", "a"), make_key("HS256", "b")]
    tokens = [s.mint(kid=None, lifetime=3600) for s in secrets]
    stable = moto_bucket(moto_auth, "stable", "/stable", catalog.BUCKET_PUBLIC)
    extra = moto_bucket(moto_auth, "extra", "/extra", catalog.BUCKET_PUB)
    private = moto_bucket(moto_auth, "private", "/private", catalog.BUCKET_PUBLIC)

    def phase_buckets(i: int) -> list:
        # The bucket's own jwt (a global one would also guard /admin/reload with admin_claims).
        prot = dict(private, auth={"enabled": True,
                                   "jwt": hs_jwt(secrets[i % 2].private.decode())})
        buckets = [s3_with(moto_auth, stable, keys[i % 2]), prot]
        if i % 2 == 1:
            buckets.append(extra)
        return buckets

    def phase_extra(i: int) -> dict:
        return {}

    def phase_doc(i: int, port: int) -> dict:
        return config_doc(port, phase_buckets(i), extra=phase_extra(i))

    p = proxy_factory(phase_buckets(0), extra=phase_extra(0))
    g0 = generation(p)
    # Two clients: ours (a fresh connection per request, every body checked byte for byte) and
    # vegeta on keep-alive connections that live across the reloads (status codes checked).
    # Together 150 req/s: moto (single-threaded Python, SigV4 checked) is the limit here.
    attack = vegeta.Attack(p.base_url, ["/stable/hello.txt", "/stable/small.bin"], rate=40)
    attack.start()
    load = ConstantLoad(p.port, {"/stable/hello.txt": catalog.HELLO.body,
                                 "/stable/small.bin": catalog.SMALL.body,
                                 "/stable/range.bin": catalog.RANGE_OBJ.body}, rate=110).start()
    took = []
    ok_reloads = 0
    try:
        time.sleep(1.0)
        for i in range(1, 51):
            # One reload every >= 0.2 s: the 50 spread over >= 10 s of load.
            next_at = time.monotonic() + 0.2
            if i % 10 == 5:
                write_atomic(p.config_path, "buckets: [ {{{ not yaml\n")
                r = post_reload(p)
                assert r.status == 422 and r.json()["generation"] == g0 + ok_reloads, r.text_dump()
            write_atomic(p.config_path, phase_doc(i, p.port))
            t0 = time.monotonic()
            if i % 2 == 1:
                p.send_signal(signal.SIGHUP)
                assert wait_for(lambda: generation(p) == g0 + ok_reloads + 1, 5), (
                    f"reload {i} (SIGHUP) not applied\n{p.log_tail(20)}")
            else:
                r = post_reload(p)
                assert r.status == 200, r.text_dump()
                assert r.json()["generation"] == g0 + ok_reloads + 1, r.text_dump()
            took.append(time.monotonic() - t0)
            ok_reloads += 1
            # This phase's settings, and only them.
            want_extra = 200 if i % 2 == 1 else 404
            assert get(p, "/extra/hello.txt").status == want_extra, f"reload {i}: /extra"
            cur, old = tokens[i % 2], tokens[(i + 1) % 2]
            assert get(p, "/private/hello.txt", bearer(cur)).status == 200, f"reload {i}: token"
            assert get(p, "/private/hello.txt", bearer(old)).status == 401, (
                f"reload {i}: the removed JWT secret is still accepted")
            time.sleep(max(0.0, next_at - time.monotonic()))
        time.sleep(1.0)
    finally:
        res = load.stop()
        report = attack.stop()
    print(f"\nreloads under load: {ok_reloads} applied + 5 refused; {res.summary()}; reload "
          f"time p50 {sorted(took)[len(took) // 2] * 1000:.1f} ms max {max(took) * 1000:.1f} ms; "
          f"vegeta: {report['requests']} requests, status codes {report['status_codes']}, "
          f"success {report['success']}")
    assert not res.failures(), res.summary()
    assert report["requests"] >= 40 * 10, report
    assert report["status_codes"] == {"200": report["requests"]}, report
    assert report["success"] == 1 and not report.get("errors"), report
    assert len(res.outcomes) >= 110 * 10, res.summary()
    assert generation(p) == g0 + 50
    assert reload_counts(p) == (50, 5)


# --- 3. graceful shutdown ----------------------------------------------------------------------

def _read_response(sock: socket.socket, timeout: float = 30.0) -> tuple:
    """(status, headers, body) of one Content-Length response."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        piece = sock.recv(65536)
        if not piece:
            raise EOFError(f"closed before the head: {buf[:200]!r}")
        buf += piece
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    n = int(hdrs["content-length"])
    while len(body) < n:
        piece = sock.recv(65536)
        if not piece:
            raise EOFError(f"closed after {len(body)} of {n} bytes")
        body += piece
    return int(lines[0].split(" ")[1]), hdrs, body


def _closed_within(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def _refused(port: int) -> bool:
    try:
        socket.create_connection((H, port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def test_sigterm_sequence_ready_503_keepalive_closes_audit_flushed(proxy_factory, fault_server,
                                                                    moto_auth, tmp_path):
    body = random.Random(11).randbytes(60_000)
    slow = fault_server("trickle", body=body, trickle_bytes=3000, trickle_interval=0.1)  # ~2 s
    mport = yg_procs.free_port()
    audit = tmp_path / "audit.log"
    p = proxy_factory([fake_bucket(slow, prefix="/slow"),
                       moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)],
                      extra={"metrics": {"port": mport}, "shutdown": {"timeout_seconds": 10},
                             "audit_log": {"enabled": True, "outputs": ["file"],
                                           "file": {"path": str(audit)}}})
    idle = socket.create_connection((H, p.port))
    idle.sendall(b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _read_response(idle)[2] == catalog.HELLO.body
    busy = socket.create_connection((H, p.port))
    busy.sendall(b"GET /slow/obj HTTP/1.1\r\nHost: x\r\nX-Request-ID: drain-slow-1\r\n\r\n")
    busy.settimeout(5)
    first = busy.recv(100)
    assert first.startswith(b"HTTP/1.1 200"), first

    t_sig = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert _closed_within(idle, 2.0), "an idle keep-alive connection stayed open in the drain"
    assert wait_for(lambda: _refused(p.port), 2.0), "the listener still accepts after SIGTERM"
    r = httpc.request(H, mport, "GET", "/ready")
    assert r.status == 503 and r.json()["status"] == "draining", r.text_dump()

    # The request in flight finishes, then its keep-alive connection closes.
    rest = first
    busy.settimeout(10)
    while True:
        piece = busy.recv(65536)
        if not piece:
            break
        rest += piece
    head, _, got = rest.partition(b"\r\n\r\n")
    assert got == body, f"in-flight body: {len(got)} of {len(body)} bytes"
    status = p.wait_exit(10)
    elapsed = time.monotonic() - t_sig
    assert status == 0, p.log_tail(30)
    assert elapsed < 5, f"exit {elapsed:.1f}s after SIGTERM with a 2 s stream"
    lines = [json.loads(l) for l in audit.read_text().splitlines()]
    assert any(l.get("request_id") == "drain-slow-1" and l.get("status") == 200 for l in lines), (
        "the in-flight request's audit line was not flushed at exit")
    msgs = log_messages(p)
    assert any("drained in" in m for m in msgs), msgs[-5:]


def test_exit_flushes_the_disk_cache(proxy_factory, moto_auth, tmp_path):
    cache_dir = tmp_path / "cache"
    cache = {"enabled": True, "cache_layers": ["memory", "disk"],
             "memory": {"max_cache_size_mb": 16, "max_item_size_mb": 4, "default_ttl_seconds": 600},
             "disk": {"enabled": True, "cache_dir": str(cache_dir), "max_disk_cache_size_mb": 64}}
    buckets = [moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)]
    p1 = proxy_factory(buckets, extra={"cache": cache}, name="first")
    r = get(p1, "/public/range.bin")
    assert r.body == catalog.RANGE_OBJ.body and r.header("X-Cache") == "MISS"
    p1.send_signal(signal.SIGTERM)  # at once: the disk write may still be queued
    assert p1.wait_exit(15) == 0, p1.log_tail(30)
    p2 = proxy_factory(buckets, extra={"cache": cache}, name="second")
    r = get(p2, "/public/range.bin")
    assert r.body == catalog.RANGE_OBJ.body
    assert r.header("X-Cache") == "HIT", "the entry written at exit was not on disk"


def slow_stream(proxy_factory, fault_server, seed: int, shutdown_timeout: int):
    """A proxy streaming a 10 s trickled body to a raw socket: (proxy, socket, body, the first
    bytes received, which start with the 200 head)."""
    body = random.Random(seed).randbytes(200_000)
    slow = fault_server("trickle", body=body, trickle_bytes=2000, trickle_interval=0.1)  # 10 s
    p = proxy_factory([fake_bucket(slow, prefix="/slow")],
                      extra={"shutdown": {"timeout_seconds": shutdown_timeout}})
    s = socket.create_connection((H, p.port))
    s.sendall(b"GET /slow/obj HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    got = s.recv(100)
    assert got.startswith(b"HTTP/1.1 200")
    return p, s, body, got


def test_second_sigterm_exits_at_once_with_status_1(proxy_factory, fault_server):
    p, s, _, _ = slow_stream(proxy_factory, fault_server, 12, 30)
    p.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert p.alive(), "exited with a stream in flight and 30 s to finish it"
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    status = p.wait_exit(5)
    elapsed = time.monotonic() - t0
    print(f"\nsecond SIGTERM: exit status {status} {elapsed * 1000:.0f} ms after it")
    assert status == 1, f"status {status}\n{p.log_tail(20)}"
    assert elapsed < 2, f"second SIGTERM took {elapsed:.1f}s"
    assert any("again during the drain" in m for m in log_messages(p))
    s.close()
    reaped(p, 1)


def test_shutdown_timeout_cuts_a_stream_and_exit_is_clean(proxy_factory, fault_server):
    p, s, body, got = slow_stream(proxy_factory, fault_server, 13, 2)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    status = p.wait_exit(8)
    elapsed = time.monotonic() - t0
    print(f"\nshutdown timeout 2 s: exit status {status} {elapsed:.2f} s after SIGTERM")
    assert status == 0, f"status {status}\n{p.log_tail(20)}"
    assert 1.8 <= elapsed <= 4.0, f"exit {elapsed:.2f}s after SIGTERM (timeout 2 s)"
    s.settimeout(3)
    got += recv_until_closed(s)
    assert len(got) < len(body), "the stream was not cut"
    assert any("shutdown timeout" in m for m in log_messages(p))


@pytest.mark.slow
def test_sigterm_under_500_inflight_requests_drops_nothing(proxy_factory, fault_server, moto_auth):
    """500 requests in flight (350 trickle streams of ~3 s, 150 moto objects up to 10 MiB whose
    clients only read once the signal is sent), SIGTERM: every one completes with its exact bytes,
    new connections are refused, exit 0 well within shutdown.timeout_seconds."""
    body = random.Random(14).randbytes(60_000)
    slow = fault_server("trickle", body=body, trickle_bytes=2000, trickle_interval=0.1)
    p = proxy_factory([fake_bucket(slow, prefix="/slow", timeout=10),
                       moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)],
                      server={"max_concurrent_requests": 2000},
                      extra={"shutdown": {"timeout_seconds": 25}})
    want_slow = hashlib.sha256(body).hexdigest()
    moto_objs = [catalog.MEDIUM] * 10 + [catalog.RANGE_OBJ] * 70 + [catalog.SMALL] * 70
    jobs = [("/slow/obj", want_slow)] * 350 + [
        (f"/public/{o.key}", o.sha256) for o in moto_objs]
    random.Random(15).shuffle(jobs)
    outs = [dict() for _ in jobs]
    result = {}

    async def run():
        go = asyncio.Event()
        tasks = [asyncio.create_task(held_get(p.port, t, w, go, o))
                 for (t, w), o in zip(jobs, outs)]
        deadline = time.monotonic() + 20
        while sum(1 for o in outs if "head" in o or "error" in o) < len(jobs):
            assert time.monotonic() < deadline, "not every request got its head"
            await asyncio.sleep(0.02)
        result["t_sig"] = time.monotonic()
        p.send_signal(signal.SIGTERM)
        go.set()
        await asyncio.sleep(0.3)
        result["refused"] = await asyncio.get_running_loop().run_in_executor(
            None, _refused, p.port)
        await asyncio.gather(*tasks)
        result["t_done"] = time.monotonic()

    asyncio.run(run())
    status = p.wait_exit(30)
    t_exit = time.monotonic() - result["t_sig"]
    failed = [o for o in outs if not o.get("ok")]
    print(f"\nshutdown under load: {len(jobs)} in flight at SIGTERM, {len(failed)} failed, last "
          f"response {result['t_done'] - result['t_sig']:.2f} s and exit {t_exit:.2f} s after SIGTERM")
    assert not failed, f"{len(failed)} failed, first: {failed[0]}"
    assert result["refused"], "a new connection was accepted after SIGTERM"
    assert status == 0, p.log_tail(30)
    assert t_exit < 25, f"exit {t_exit:.1f}s after SIGTERM"
    assert not any("shutdown timeout" in m for m in log_messages(p))


# --- 4. daemon mode and the pid file -----------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _kill_if_alive(pid: int) -> None:
    if pid > 0 and _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_daemon_with_pid_file_serves_reloads_and_removes_the_file(yg_binary, moto_auth, tmp_path):
    port = yg_procs.free_port()
    cfg = tmp_path / "daemon.yaml"
    pid_file = tmp_path / "run" / "yatagarasu.pid"
    pid_file.parent.mkdir()
    log = tmp_path / "daemon.stderr.log"
    public = moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)
    cfg.write_text(yaml.safe_dump(config_doc(port, [public])))
    # A stale pid file (a process that has exited) is replaced.
    dead = subprocess.Popen(["true"])
    dead.wait()
    pid_file.write_text(f"{dead.pid}\n")
    pid = 0
    try:
        t0 = time.monotonic()
        r = run_cli(yg_binary, "-d", "--config", str(cfg), "--pid-file", str(pid_file),
                    "--log-file", str(log), cwd=tmp_path)
        assert r.returncode == 0, r.stderr.decode()
        assert time.monotonic() - t0 < 15
        pid = int(pid_file.read_text())
        assert pid != dead.pid and _pid_alive(pid)
        # Ready when the command returned: no wait needed.
        assert get_port(port, "/public/hello.txt").body == catalog.HELLO.body
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        assert os.getsid(pid) != os.getsid(0), "the daemon did not leave the session"

        cfg.write_text(yaml.safe_dump(config_doc(port, [public, moto_bucket(
            moto_auth, "pub", "/pub", catalog.BUCKET_PUB)])))
        os.kill(pid, signal.SIGHUP)
        assert wait_for(lambda: get_port(port, "/pub/hello.txt").status == 200, 5), log.read_text()

        # A second instance with the same pid file refuses to start.
        r2 = run_cli(yg_binary, "-d", "--config", str(cfg), "--pid-file", str(pid_file))
        assert r2.returncode != 0
        assert f"names a running process ({pid})" in r2.stderr.decode(), r2.stderr.decode()
        assert int(pid_file.read_text()) == pid

        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: not _pid_alive(pid), 10), "the daemon did not exit"
        assert not pid_file.exists(), "pid file left behind"
        text = log.read_text()
        assert "started" in text and "stopped" in text and "reloaded" in text, text[-2000:]
        assert not SANITIZER_RE.search(text.encode())
    finally:
        _kill_if_alive(pid)


def test_daemon_reports_a_bind_failure_to_the_starting_command(yg_binary, moto_auth, tmp_path):
    busy = socket.socket()
    busy.bind((H, 0))
    busy.listen()
    port = busy.getsockname()[1]
    cfg = tmp_path / "busy.yaml"
    cfg.write_text(yaml.safe_dump(config_doc(port, [moto_bucket(
        moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)])))
    pid_file = tmp_path / "busy.pid"
    try:
        r = run_cli(yg_binary, "--daemon", "--config", str(cfg), "--pid-file", str(pid_file))
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert f"127.0.0.1:{port}" in err and "in use" in err, err
        assert not pid_file.exists()
    finally:
        busy.close()


def test_live_pid_file_refuses_start(yg_binary, moto_auth, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(config_doc(yg_procs.free_port(), [moto_bucket(
        moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)])))
    pid_file = tmp_path / "live.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # this test's process: alive
    r = run_cli(yg_binary, "--config", str(cfg), "--pid-file", str(pid_file))
    assert r.returncode == 1
    assert f"names a running process ({os.getpid()})" in r.stderr.decode(), r.stderr.decode()
    assert pid_file.read_text() == f"{os.getpid()}\n", "a live pid file was overwritten"


# --- 5. systemd ----------------------------------------------------------------------------------

def test_sd_notify_ready_reloading_stopping(proxy_factory, moto_auth, tmp_path):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(10)

    def recv() -> dict:
        msg = sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in msg.split("\n") if line)

    try:
        p = proxy_factory([moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)],
                          env={"NOTIFY_SOCKET": str(sock_path)})
        m = recv()
        assert m.get("READY") == "1" and m.get("MAINPID") == str(p.pid), m
        for trigger in ("SIGHUP", "POST"):
            if trigger == "SIGHUP":
                p.send_signal(signal.SIGHUP)
            else:
                assert post_reload(p).status == 200
            m = recv()
            assert m.get("RELOADING") == "1", (trigger, m)
            usec = int(m["MONOTONIC_USEC"])
            assert abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)) < 10, m
            assert recv().get("READY") == "1"
        p.send_signal(signal.SIGTERM)
        assert recv().get("STOPPING") == "1"
        assert p.wait_exit(10) == 0
    finally:
        sock.close()


def _unit(path: Path) -> dict:
    """systemd unit file -> {section: {key: [values]}} (keys may repeat)."""
    out: dict = {}
    section = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = out.setdefault(line.strip("[]"), {})
            continue
        k, _, v = line.partition("=")
        section.setdefault(k.strip(), []).append(v.strip())
    return out


def _seconds(v: str) -> float:
    m = re.fullmatch(r"(\d+)\s*(s|sec|min|m)?", v)
    assert m, v
    return int(m.group(1)) * (60 if m.group(2) in ("min", "m") else 1)


def test_systemd_unit_file(yg_binary):
    u = _unit(REPO / "deploy" / "yatagarasu.service")
    svc = u["Service"]
    one = {k: v[-1] for k, v in svc.items()}
    assert one["Type"] == "notify"
    assert "--config" in one["ExecStart"] and " -d" not in one["ExecStart"]
    assert re.fullmatch(r"/bin/kill -(HUP|SIGHUP|s HUP) \$MAINPID", one["ExecReload"]), one
    assert one["KillSignal"] == "SIGTERM"
    default_timeout = int(re.search(r"shutdown_timeout_secs = (\d+)",
                                    (REPO / "src/config/config.h").read_text()).group(1))
    assert _seconds(one["TimeoutStopSec"]) > default_timeout
    assert one["Restart"] == "on-failure"
    assert one["NoNewPrivileges"] == "yes" and one["ProtectSystem"] == "strict"
    assert int(one["LimitNOFILE"]) >= 65536
    assert "WantedBy" in u["Install"]
    help_text = run_cli(yg_binary, "--help").stdout.decode()
    for word in ("--daemon", "--pid-file", "--log-file", "SIGHUP", "SIGTERM", "POST /admin/reload",
                 "NOTIFY_SOCKET"):
        assert word in help_text, word


def test_open_files_soft_limit_raised_to_the_hard_limit(yg_binary, moto_auth, tmp_path):
    """Started with a soft RLIMIT_NOFILE of 256 (hard limit untouched), the proxy raises its
    soft limit to the hard one, logs it, and holds more client connections than 256."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.fail(f"the test needs a hard open-files limit of at least 1024, not {hard}")
    port = yg_procs.free_port()
    cfg = tmp_path / "nofile.yaml"
    cfg.write_text(yaml.safe_dump(config_doc(port, [moto_bucket(
        moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)], server={"threads": 1})))
    log = tmp_path / "nofile.log"

    def low_soft_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    with open(log, "wb") as out:
        p = subprocess.Popen([str(yg_binary), "--config", str(cfg)], stdout=out,
                             stderr=subprocess.STDOUT, preexec_fn=low_soft_limit)
    socks = []
    try:
        yg_procs.wait_http_ok(f"http://127.0.0.1:{port}/health", proc=p, log=log)
        limits = Path(f"/proc/{p.pid}/limits").read_text()
        row = next(l for l in limits.splitlines() if l.startswith("Max open files")).split()
        want = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        assert row[3] == want and row[4] == want, row
        assert "open files limit raised from 256 to" in log.read_text()
        for _ in range(400):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        # The last connection is served: the proxy holds 400 clients past its old limit.
        last = socks[-1]
        last.sendall(b"GET /public/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = recv_until_closed(last)
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(catalog.HELLO.body), data[:200]
        assert len(os.listdir(f"/proc/{p.pid}/fd")) > 400
    finally:
        for s in socks:
            s.close()
        yg_procs.stop_pid(p)
