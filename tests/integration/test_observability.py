"""OBS-2..OBS-4: metrics with exact values, access lines, audit records (file + syslog),
trace context propagation, the metrics port. Real moto behind the proxy; the fault server only
where S3 must record what it received (traceparent)."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import List

import pytest

import catalog
import httpc
import yg_procs
from layouts import fake_bucket, moto_bucket
from prom import family, scrape, series
from proxy import bucket_block, register_secret, s3_block

H = "127.0.0.1"


def get(p, target, headers=None, method="GET"):
    return httpc.request(H, p.port, method, target, headers=headers)


def obs_buckets(moto_auth) -> list:
    return [moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC),
            bucket_block("broken", "/broken",
                         s3_block(f"http://{H}:{yg_procs.closed_port()}", "nope", moto_auth.access_key,
                                  moto_auth.secret_key, timeout=2))]


def access_lines(p, n: int, timeout: float = 5.0) -> List[dict]:
    """The proxy's access lines (JSON format), waiting for at least n (the logger is async)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(l) for l in p.log_path.read_text().splitlines()
                 if l.startswith("{") and '"module":"access"' in l]
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Metrics

def test_metrics_have_exact_values_after_a_scripted_sequence(proxy_factory, moto_auth):
    p = proxy_factory(obs_buckets(moto_auth))
    body_bytes = {"public": 0, "broken": 0, "_none": 0}
    # Start-up probes (/health) already happened: endpoint and connection counts are deltas.
    m0 = scrape(p.port)
    health0 = series(m0, "yatagarasu_endpoint_requests_total", endpoint="health")
    conns = series(m0, "yatagarasu_connections_accepted_total")
    assert family(m0, "yatagarasu_requests_total") == {}

    def go(bucket, target, expect, **kw):
        nonlocal conns
        r = get(p, target, **kw)
        conns += 1
        assert r.status == expect, r.text_dump()
        body_bytes[bucket] += len(r.body)
        return r

    for _ in range(3):
        assert go("public", "/public/hello.txt", 200).body == catalog.HELLO.body
    go("public", "/public/hello.txt", 200, method="HEAD")
    go("public", "/public/missing.txt", 404)
    go("public", "/public/missing.txt", 404)
    r = go("public", "/public/range.bin", 206, headers={"Range": "bytes=0-99"})
    assert r.body == catalog.RANGE_OBJ.body[:100]
    go("_none", "/nowhere/x", 404)
    go("_none", "/public/%2e%2e/secret", 400)
    go("_none", "/public/hello.txt", 405, method="DELETE")
    go("broken", "/broken/x", 502)
    # The start-up /health probes of a slow (sanitized) proxy may be counted after m0: the
    # health count is taken again just before our own probes.
    health0 = series(scrape(p.port), "yatagarasu_endpoint_requests_total", endpoint="health")
    conns += 1
    for _ in range(2):
        assert get(p, "/health").status == 200
        conns += 1

    m = scrape(p.port)
    conns += 1
    req = family(m, "yatagarasu_requests_total")
    assert req == {
        (("bucket", "public"), ("method", "GET"), ("status", "200")): 3,
        (("bucket", "public"), ("method", "HEAD"), ("status", "200")): 1,
        (("bucket", "public"), ("method", "GET"), ("status", "404")): 2,
        (("bucket", "public"), ("method", "GET"), ("status", "206")): 1,
        (("bucket", "_none"), ("method", "GET"), ("status", "404")): 1,
        (("bucket", "_none"), ("method", "GET"), ("status", "400")): 1,
        (("bucket", "_none"), ("method", "other"), ("status", "405")): 1,
        (("bucket", "broken"), ("method", "GET"), ("status", "502")): 1,
    }, req
    # Bytes: exactly what the client received, error bodies included.
    for b, n in body_bytes.items():
        assert series(m, "yatagarasu_response_bytes_total", bucket=b) == n, b
    # Histograms: one observation per request, in _count, +Inf and the request totals.
    for b, n in {"public": 7, "_none": 3, "broken": 1}.items():
        for h in ("yatagarasu_request_duration_seconds", "yatagarasu_time_to_first_byte_seconds"):
            assert series(m, h + "_count", bucket=b) == n, (h, b)
            assert series(m, h + "_bucket", bucket=b, le="+Inf") == n, (h, b)
            assert series(m, h + "_sum", bucket=b) > 0
    # S3 side: 7 responses from moto, one refused connection for the broken bucket.
    up = family(m, "yatagarasu_upstream_responses_total")
    assert up == {
        (("bucket", "public"), ("replica", "primary"), ("status", "200")): 4,
        (("bucket", "public"), ("replica", "primary"), ("status", "404")): 2,
        (("bucket", "public"), ("replica", "primary"), ("status", "206")): 1,
    }, up
    assert series(m, "yatagarasu_upstream_request_duration_seconds_count", bucket="public",
                  replica="primary") == 7
    assert series(m, "yatagarasu_upstream_request_duration_seconds_count", bucket="broken",
                  replica="primary") == 0
    errs = {dict(k)["kind"]: v for k, v in family(m, "yatagarasu_upstream_errors_total").items()
            if dict(k)["bucket"] == "broken"}
    assert errs == {"connect": 1, "timeout": 0, "io": 0, "body_truncated": 0, "auth": 0,
                    "server_error": 0}
    assert sum(v for k, v in family(m, "yatagarasu_upstream_errors_total").items()
               if dict(k)["bucket"] == "public") == 0
    rej = {dict(k)["reason"]: v for k, v in family(m, "yatagarasu_rejected_requests_total").items()}
    assert rej["bad_path"] == 1 and rej["method_not_allowed"] == 1
    assert sum(rej.values()) == 2
    ep = {dict(k)["endpoint"]: v for k, v in family(m, "yatagarasu_endpoint_requests_total").items()}
    assert ep == {"health": health0 + 2, "ready": 0, "metrics": 2, "admin": 0}
    assert series(m, "yatagarasu_connections_accepted_total") == conns
    assert series(m, "yatagarasu_inflight_requests") == 0
    assert series(m, "yatagarasu_active_connections") >= 1
    assert series(m, "yatagarasu_request_bytes_total") > 0
    assert series(m, "yatagarasu_config_generation") == 1
    assert series(m, "yatagarasu_process_resident_memory_bytes") > 1e6
    assert series(m, "yatagarasu_process_open_fds") > 3
    assert series(m, "yatagarasu_build_info", version=get(p, "/health").json()["version"]) == 1

    # The scrape itself is counted once it has been answered.
    m2 = scrape(p.port)
    assert series(m2, "yatagarasu_endpoint_requests_total", endpoint="metrics") == 3
    assert series(m2, "yatagarasu_endpoint_requests_total", endpoint="health") == health0 + 3


def test_reload_metrics(proxy_factory, moto_auth):
    p = proxy_factory(obs_buckets(moto_auth))
    good = p.config_path.read_text()
    p.send_signal(signal.SIGHUP)
    yg_procs.wait_until(lambda: series(scrape(p.port), "yatagarasu_config_generation") == 2,
                        timeout=10, what="generation 2 after a good reload")
    p.config_path.write_text(good + "\nnot: [valid\n")
    p.send_signal(signal.SIGHUP)
    yg_procs.wait_until(
        lambda: series(scrape(p.port), "yatagarasu_config_reloads_total", result="failure") == 1,
        timeout=10, what="a failed reload counted")
    m = scrape(p.port)
    assert series(m, "yatagarasu_config_reloads_total", result="success") == 1
    assert series(m, "yatagarasu_config_generation") == 2


def test_aborted_streams_are_counted(proxy_factory, moto_auth):
    p = proxy_factory(obs_buckets(moto_auth))
    # A client that leaves after the head of the 10 MiB object.
    with httpc.RawConn(H, p.port, rcvbuf=4096) as c:
        c.send(httpc.request_bytes("GET", f"/public/{catalog.MEDIUM.key}"))
        c.sock.recv(1024)
    yg_procs.wait_until(
        lambda: series(scrape(p.port), "yatagarasu_responses_aborted_total", bucket="public",
                       cause="client") == 1, timeout=10, what="client abort counted")
    m = scrape(p.port)
    assert series(m, "yatagarasu_responses_aborted_total", bucket="public", cause="upstream") == 0
    assert series(m, "yatagarasu_response_bytes_total", bucket="public") < catalog.MEDIUM.size


def test_metrics_port_serves_metrics_only(proxy_factory, moto_auth):
    mport = yg_procs.free_port()
    p = proxy_factory(obs_buckets(moto_auth), extra={"metrics": {"port": mport}})
    assert get(p, "/public/hello.txt").status == 200
    m = scrape(mport)
    assert series(m, "yatagarasu_requests_total", bucket="public", method="GET", status="200") == 1
    assert httpc.request(H, mport, "GET", "/health").status == 200
    r = httpc.request(H, mport, "GET", "/public/hello.txt")
    assert r.status == 404 and catalog.HELLO.body not in r.body
    assert httpc.request(H, mport, "GET", "/admin/").status == 404
    assert get(p, "/metrics").status == 200  # the main listener keeps /metrics


def test_metrics_disabled(proxy_factory, moto_auth):
    p = proxy_factory(obs_buckets(moto_auth), extra={"metrics": {"enabled": False}})
    r = get(p, "/metrics")
    assert r.status == 404
    assert b"yatagarasu_" not in r.body


# ---------------------------------------------------------------------------------------------
# Access log and trace context

def test_access_line_per_request(proxy_factory, moto_auth):
    p = proxy_factory(obs_buckets(moto_auth))
    r1 = get(p, "/public/hello.txt", headers={"X-Request-ID": "req-one", "User-Agent": "ua/1"})
    r2 = get(p, "/public/missing.txt")
    r3 = get(p, "/broken/x")
    r4 = get(p, "/public/range.bin", headers={"Range": "bytes=10-19"})
    lines = access_lines(p, 4)
    assert len(lines) == 4, lines
    by_id = {l["request_id"]: l for l in lines}
    one = by_id["req-one"]
    assert r1.header("X-Request-ID") == "req-one"
    assert one["status"] == 200 and one["bytes"] == len(catalog.HELLO.body)
    assert one["bucket"] == "public" and one["key"] == "hello.txt"
    assert one["method"] == "GET" and one["path"] == "/public/hello.txt"
    assert one["replica"] == "primary" and one["cache_status"] == "bypass"
    assert one["client_ip"] == "127.0.0.1"
    assert 0 < one["ttfb_ms"] <= one["duration_ms"]
    assert 0 < one["upstream_ms"] <= one["duration_ms"]
    assert len(one["trace_id"]) == 32
    miss = by_id[r2.header("X-Request-ID")]
    assert miss["status"] == 404 and miss["bytes"] == len(r2.body) and miss["error"]
    broken = by_id[r3.header("X-Request-ID")]
    assert broken["status"] == 502 and broken["upstream_ms"] is None and broken["replica"] is None
    rng = by_id[r4.header("X-Request-ID")]
    assert rng["status"] == 206 and rng["bytes"] == 10
    # Probes are logged at debug only: none at info.
    assert get(p, "/health").status == 200
    time.sleep(0.3)
    assert len(access_lines(p, 5, timeout=0.5)) == 4


def test_access_log_text_format_and_switch(proxy_factory, moto_auth):
    p = proxy_factory(obs_buckets(moto_auth), logging={"format": "text"})
    r = get(p, "/public/hello.txt", headers={"X-Request-ID": "txt-1"})
    assert r.status == 200
    yg_procs.wait_until(lambda: "request_id=txt-1" in p.log_path.read_text(), timeout=5,
                        what="text access line")
    line = next(l for l in p.log_path.read_text().splitlines() if "request_id=txt-1" in l)
    assert "[access]" in line and "status=200" in line and "bucket=public" in line
    q = proxy_factory(obs_buckets(moto_auth), logging={"access_log": False})
    assert get(q, "/public/hello.txt", headers={"X-Request-ID": "off-1"}).status == 200
    time.sleep(0.3)
    assert "off-1" not in q.log_path.read_text()


def test_traceparent_is_joined_and_propagated(proxy_factory, fault_server):
    fake = fault_server("ok", body=b"traced")
    p = proxy_factory([fake_bucket(fake)])
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r = get(p, "/fake/obj", headers={"traceparent": incoming, "tracestate": "vendor=1",
                                     "X-Request-ID": "tr-1"})
    assert r.status == 200 and r.body == b"traced"
    up = fake.wait_for_requests(1)[0]
    sent = up.header("traceparent")
    assert sent is not None
    version, trace, span, flags = sent.split("-")
    assert (version, trace, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert span != "00f067aa0ba902b7" and len(span) == 16 and int(span, 16) != 0
    assert up.header("tracestate") == "vendor=1"
    assert "traceparent" not in (up.header("x-amz-signedheaders") or "")
    line = next(l for l in access_lines(p, 1) if l["request_id"] == "tr-1")
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"

    # Without (or with a broken) traceparent the proxy starts a trace and still propagates it.
    for hdrs in ({}, {"traceparent": "00-zz-bad-01"}):
        assert get(p, "/fake/obj", headers=hdrs).status == 200
    reqs = fake.wait_for_requests(3)
    new = [q.header("traceparent") for q in reqs[1:]]
    assert all(t and t.startswith("00-") and t.endswith("-00") for t in new), new
    assert new[0].split("-")[1] != new[1].split("-")[1]
    assert all(q.header("tracestate") is None for q in reqs[1:])


def test_slow_query_log(proxy_factory, fault_server):
    fake = fault_server("trickle", body=b"x" * 600, trickle_bytes=200, trickle_interval=0.2)
    p = proxy_factory([fake_bucket(fake)],
                      extra={"observability": {"slow_query": {"enabled": True,
                                                              "threshold_ms": 200}}})
    r = get(p, "/fake/slow", headers={"X-Request-ID": "slow-1"})
    assert r.status == 200 and len(r.body) == 600
    assert get(p, "/health").status == 200
    yg_procs.wait_until(lambda: "slow-1" in p.log_path.read_text(), timeout=5, what="slow line")
    slow = [json.loads(l) for l in p.log_path.read_text().splitlines()
            if '"module":"slow"' in l]
    assert len(slow) == 1 and "request_id=slow-1" in slow[0]["msg"], slow
    assert slow[0]["level"] == "warning"


# ---------------------------------------------------------------------------------------------
# Audit log

def audit_cfg(path: Path, **extra) -> dict:
    cfg = {"enabled": True, "outputs": ["file"], "file": {"path": str(path)}}
    cfg.update(extra)
    return {"audit_log": cfg}


def read_audit(path: Path) -> List[dict]:
    return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


def test_audit_records_each_request(proxy_factory, moto_auth, tmp_path):
    path = tmp_path / "audit.log"
    p = proxy_factory(obs_buckets(moto_auth), extra=audit_cfg(path))
    r1 = get(p, "/public/hello.txt?x-id=GetObject",
             headers={"User-Agent": "audit-test/1", "Referer": "https://example.test/page"})
    r2 = get(p, "/public/missing.txt")
    d = httpc.stream_digest(H, p.port, f"/public/{catalog.MEDIUM.key}",
                            headers={"X-Request-ID": "medium-1"})
    assert d.sha256 == catalog.MEDIUM.sha256
    r4 = get(p, "/nowhere")
    assert get(p, "/health").status == 200  # not audited
    yg_procs.wait_until(lambda: len(read_audit(path)) >= 4, timeout=5, what="4 audit lines")
    recs = {r["request_id"]: r for r in read_audit(path)}
    assert len(recs) == 4
    a = recs[r1.header("X-Request-ID")]
    assert a["method"] == "GET" and a["path"] == "/public/hello.txt"  # no query
    assert a["bucket"] == "public" and a["object_key"] == "hello.txt"
    assert a["status"] == 200 and a["response_size_bytes"] == len(catalog.HELLO.body)
    assert a["user_agent"] == "audit-test/1" and a["referer"] == "https://example.test/page"
    assert a["user"] is None and a["cache_status"] == "bypass" and a["client_ip"] == "127.0.0.1"
    assert a["timestamp"].endswith("Z") and "T" in a["timestamp"]
    assert a["duration_ms"] >= 0 and a["complete"] is True
    b = recs[r2.header("X-Request-ID")]
    assert b["status"] == 404 and b["response_size_bytes"] == len(r2.body)
    m = recs["medium-1"]
    assert m["status"] == 200 and m["response_size_bytes"] == catalog.MEDIUM.size
    n = recs[r4.header("X-Request-ID")]
    assert n["status"] == 404 and n["bucket"] == ""
    metrics = scrape(p.port)
    assert series(metrics, "yatagarasu_audit_records_written_total", sink="file") == 4
    assert series(metrics, "yatagarasu_audit_records_dropped_total", sink="file") == 0


def test_audit_counts_bytes_actually_sent_when_the_client_leaves(proxy_factory, moto_auth,
                                                                 tmp_path):
    path = tmp_path / "audit.log"
    p = proxy_factory(obs_buckets(moto_auth), extra=audit_cfg(path))
    with httpc.RawConn(H, p.port, rcvbuf=4096) as c:
        c.send(httpc.request_bytes("GET", f"/public/{catalog.MEDIUM.key}",
                                   headers=[("X-Request-ID", "leaver")]))
        c.sock.recv(1024)
    yg_procs.wait_until(lambda: any(r["request_id"] == "leaver" for r in read_audit(path)),
                        timeout=15, what="audit line of the aborted stream")
    rec = next(r for r in read_audit(path) if r["request_id"] == "leaver")
    assert rec["status"] == 200 and rec["complete"] is False
    assert 0 <= rec["response_size_bytes"] < catalog.MEDIUM.size


class SyslogCollector:
    """A UDP or TCP syslog listener on a free port (what an rsyslog would be)."""

    def __init__(self, proto: str):
        self.proto = proto
        self.messages: List[str] = []
        self.sock = socket.socket(socket.AF_INET,
                                  socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
        self.sock.bind((H, 0))
        self.port = self.sock.getsockname()[1]
        if proto == "tcp":
            self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        buf = b""
        conn = None
        while not self.stop:
            try:
                if self.proto == "udp":
                    data, _ = self.sock.recvfrom(65536)
                    self.messages.append(data.decode())
                    continue
                if conn is None:
                    conn, _ = self.sock.accept()
                    conn.settimeout(0.2)
                data = conn.recv(65536)
                if not data:
                    conn = None
                    continue
                buf += data
                while b" " in buf:  # RFC 6587 octet counting: "LEN SP MSG"
                    n, rest = buf.split(b" ", 1)
                    if len(rest) < int(n):
                        break
                    self.messages.append(rest[:int(n)].decode())
                    buf = rest[int(n):]
            except socket.timeout:
                continue

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_audit_to_syslog(proxy_factory, moto_auth, proto):
    col = SyslogCollector(proto)
    try:
        p = proxy_factory(obs_buckets(moto_auth), extra={"audit_log": {
            "enabled": True, "outputs": ["syslog"],
            "syslog": {"address": f"{H}:{col.port}", "protocol": proto, "facility": "local2"}}})
        ids = [get(p, "/public/hello.txt").header("X-Request-ID") for _ in range(3)]
        yg_procs.wait_until(lambda: len(col.messages) >= 3, timeout=5, what="3 syslog messages")
        assert len(col.messages) == 3
        for msg, rid in zip(col.messages, ids):
            # <PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID SD MSG ; local2 = 18, info = 6
            head, payload = msg.split(" - ", 1)
            parts = head.split(" ")
            assert parts[0] == "<150>1" and parts[1].endswith("Z")
            assert parts[3] == "yatagarasu" and parts[4] == str(p.pid) and parts[5] == "audit"
            rec = json.loads(payload)
            assert rec["request_id"] == rid and rec["status"] == 200
    finally:
        col.close()


def test_slow_audit_disk_never_blocks_requests_and_drops_are_counted(proxy_factory, moto_auth,
                                                                     tmp_path):
    """The audit file is a FIFO nobody reads: the writer thread blocks like on a dead disk.
    Requests keep being answered; lines beyond the queue are dropped and counted; SIGTERM then
    flushes what was queued once the 'disk' comes back."""
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the proxy's open() succeed
    try:
        p = proxy_factory(obs_buckets(moto_auth), extra=audit_cfg(fifo, queue_size=20))
        # Fill the pipe (64 KiB) and the queue: each line is ~400 bytes.
        ids = []
        for i in range(400):
            r = get(p, "/public/hello.txt", headers={"X-Request-ID": f"q{i}"})
            assert r.status == 200 and r.body == catalog.HELLO.body
            ids.append(f"q{i}")
        # A record is queued just after its response is written: the last request's record may
        # be counted a moment after the client has its answer. Wait until the drop count holds
        # still (the sink is wedged and the queue full, so every further record is a drop).
        m = scrape(p.port)
        settle = time.monotonic() + 10
        while time.monotonic() < settle:
            time.sleep(0.3)
            again = scrape(p.port)
            key = "yatagarasu_audit_records_dropped_total"
            if series(again, key, sink="file") == series(m, key, sink="file"):
                break
            m = again
        dropped = series(m, "yatagarasu_audit_records_dropped_total", sink="file")
        written = series(m, "yatagarasu_audit_records_written_total", sink="file")
        queued = series(m, "yatagarasu_audit_queue_length", sink="file")
        assert dropped > 0, "a wedged sink must cause counted drops"
        assert queued <= 20
        # SIGTERM while the sink is still wedged; then the disk 'recovers' (we read).
        p.send_signal(signal.SIGTERM)
        got = b""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                chunk = os.read(reader, 65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                got += chunk
            elif chunk == b"" and not p.alive():
                break
            else:
                time.sleep(0.02)
        assert p.wait_exit(10) == 0
        lines = [json.loads(l) for l in got.decode().splitlines()]
        # Everything accepted was written at exit: 400 requests = written + dropped.
        assert len(lines) + dropped == 400, (len(lines), written, dropped, queued)
        assert [l["request_id"] for l in lines] == [i for i in ids
                                                    if i in {l["request_id"] for l in lines}]
        assert b"audit log closed: " in p.logs()
    finally:
        os.close(reader)


# ---------------------------------------------------------------------------------------------
# Secrets never logged (OBS-3)

def test_tokens_signatures_and_presigned_queries_never_logged(proxy_factory, moto_auth,
                                                             tmp_path):
    bearer = register_secret("eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.sig-NEVER-LOG-1")
    sig = register_secret("f00dfacecafe0123456789abcdef0123456789abcdef0123456789abcdefbeef")
    cookie = register_secret("session=NEVER-LOG-COOKIE-7")
    cred = register_secret("AKIANEVERLOGCRED0001")
    path = tmp_path / "audit.log"
    p = proxy_factory(obs_buckets(moto_auth), extra=audit_cfg(path),
                      logging={"level": "debug"})
    q = (f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}%2F20261125%2Fus-east-1"
         f"%2Fs3%2Faws4_request&X-Amz-Signature={sig}&token={bearer}")
    for target in ("/public/hello.txt" + q, "/public/missing.txt" + q, "/broken/x" + q,
                   "/nowhere" + q):
        r = get(p, target, headers={"Authorization": f"Bearer {bearer}", "Cookie": cookie,
                                    "X-Api-Key": sig})
        assert bearer.encode() not in r.body and sig.encode() not in r.body
    yg_procs.wait_until(lambda: len(read_audit(path)) >= 4, timeout=5, what="audit lines")
    p.stop()  # checks stderr, stdout and every *.log file in the proxy's dir for secrets
    everything = p.logs() + path.read_bytes()
    assert len(everything) > 1000
    for s in (bearer, sig, cookie, cred, moto_auth.secret_key):
        assert s.encode() not in everything, s[:6]
