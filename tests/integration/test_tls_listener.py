"""The TLS listener (OPS-6, docs/TLS.md): HTTPS on the main port with server.tls.

Certificates are made at test time by the `cryptography` package (tests/support/tls_front.py's
TestPKI: a throwaway CA and server certificates); the clients are independent of the proxy:
Python's ssl/http.client, requests, curl and `openssl s_client`. Objects come from the
signature-checking moto, so every 200 also proves the SigV4 path behind the TLS front.
metrics.port stays plain HTTP and is where the tests scrape and wait for /health.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import yaml
from cryptography import x509

import catalog
import yg_data
import yg_procs
from checks import recv_until_closed
from httpc import request
from prom import eventually, scrape, series_or_zero
from proxy import bucket_block, register_secret, run_cli, s3_block
from tls_front import TestPKI

SMALL = catalog.SMALL      # 4096 random bytes
MEDIUM = catalog.MEDIUM    # 10 MiB + 12345, multipart in moto
RANGE_OBJ = catalog.RANGE_OBJ
HOST = "127.0.0.1"


# --- fixtures and helpers -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """One CA; two server certificates for 127.0.0.1/localhost (the second for swaps)."""
    ca = TestPKI(tmp_path_factory.mktemp("listener-pki"))
    first = ca.server_cert("first", dns=["localhost"], ips=[HOST])
    second = ca.server_cert("second", dns=["localhost"], ips=[HOST])
    for c in (first, second):
        # Any line of a private key in a proxy log fails the run (OBS-3).
        for line in c.key.read_text().splitlines():
            if not line.startswith("-----") and len(line) >= 32:
                register_secret(line)
    return SimpleNamespace(ca_file=ca.ca_file, first=first, second=second)


def serial_of(pem_or_der) -> int:
    if isinstance(pem_or_der, Path):
        return x509.load_pem_x509_certificate(pem_or_der.read_bytes()).serial_number
    return x509.load_der_x509_certificate(pem_or_der).serial_number


def public_bucket(moto_auth, **extra) -> dict:
    return bucket_block("public", "/public",
                        s3_block(moto_auth.url, catalog.BUCKET_PUBLIC, moto_auth.access_key,
                                 moto_auth.secret_key), **extra)


def tls_block(cert: Path, key: Path, **extra) -> dict:
    b = {"cert_path": str(cert), "key_path": str(key)}
    b.update(extra)
    return b


def start_tls(proxy_factory, buckets, tls: dict, *, server=None, extra=None, name=None):
    """A proxy whose main listener speaks TLS; /health and /metrics on a plain metrics.port."""
    mport = yg_procs.free_port()
    ext = {"metrics": {"enabled": True, "port": mport}}
    ext.update(extra or {})
    srv = {"tls": tls}
    srv.update(server or {})
    p = proxy_factory(buckets, server=srv, extra=ext, name=name, start=False)
    p.metrics_port = mport
    p.health_port = mport
    p.start()
    return p


def client_ctx(pki, *, minimum=None, maximum=None, seclevel0=False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_file))
    if seclevel0:
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def https(p, pki, **kw) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(HOST, p.port, timeout=30, context=client_ctx(pki, **kw))


def get(conn: http.client.HTTPSConnection, target: str, headers=None, method: str = "GET"):
    conn.request(method, target, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    return r, body


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def metrics(p):
    return scrape(p.metrics_port)


def handshakes(m, version: str) -> float:
    return series_or_zero(m, "yatagarasu_tls_handshakes_total", version=version)


def failures(m, reason: str) -> float:
    return series_or_zero(m, "yatagarasu_tls_handshake_failures_total", reason=reason)


def until(p, pred, timeout: float = 5.0):
    """Scrapes metrics.port until pred(samples) holds; returns those samples."""
    def check(m):
        assert pred(m), "not yet"
    return eventually(p.metrics_port, check, timeout=timeout)


def reload_and_wait(p, result: str) -> None:
    before = series_or_zero(metrics(p), "yatagarasu_config_reloads_total", result=result)
    p.send_signal(signal.SIGHUP)
    until(p, lambda m: series_or_zero(m, "yatagarasu_config_reloads_total",
                                      result=result) == before + 1)


def rewrite_tls(p, tls: dict) -> None:
    doc = yaml.safe_load(p.config_path.read_text())
    doc["server"]["tls"] = tls
    p.config_path.write_text(yaml.safe_dump(doc, sort_keys=False))


def peer_serial(p, pki) -> int:
    """Serial of the certificate a NEW connection is served."""
    with socket.create_connection((HOST, p.port), timeout=10) as raw:
        with client_ctx(pki).wrap_socket(raw, server_hostname=HOST) as s:
            return serial_of(s.getpeercert(binary_form=True))


def handshake_fails(p, ctx: ssl.SSLContext) -> str:
    """Attempts a handshake with `ctx`; returns the client's error text (fails if it works)."""
    with socket.create_connection((HOST, p.port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=HOST) as s:
                pytest.fail(f"handshake succeeded with {s.version()}")
        except (ssl.SSLError, ConnectionError) as e:
            return str(e)
    return ""


# --- bytes over TLS -----------------------------------------------------------------------------

def test_objects_ranges_head_and_keepalive_on_one_connection(proxy_factory, moto_auth, pki):
    """Small and 10 MiB objects, a range, HEAD: exact bytes, all on ONE TLS connection."""
    p = start_tls(proxy_factory, [public_bucket(moto_auth)], tls_block(pki.first.cert,
                                                                       pki.first.key))
    m0 = metrics(p)
    conn = https(p, pki)
    try:
        r, body = get(conn, "/public/" + SMALL.key)
        assert r.status == 200 and sha(body) == SMALL.sha256
        sock = conn.sock
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        assert sock.selected_alpn_protocol() is None  # http.client offers no ALPN

        r, body = get(conn, "/public/" + MEDIUM.key)
        assert r.status == 200, r.status
        assert len(body) == MEDIUM.size and sha(body) == MEDIUM.sha256

        first, last = 1_000_003, 4_000_000  # a 3 MiB range (the relay's long-body path)
        r, body = get(conn, "/public/" + MEDIUM.key, {"Range": f"bytes={first}-{last}"})
        assert r.status == 206, r.status
        assert r.getheader("Content-Range") == f"bytes {first}-{last}/{MEDIUM.size}"
        want = b"".join(yg_data.chunks(MEDIUM.size, MEDIUM.seed))[first:last + 1]
        assert body == want

        r, body = get(conn, "/public/" + RANGE_OBJ.key, {"Range": "bytes=100-199"})
        assert r.status == 206 and body == RANGE_OBJ.body[100:200]

        r, body = get(conn, "/public/" + MEDIUM.key, method="HEAD")
        assert r.status == 200 and body == b""
        assert r.getheader("Content-Length") == str(MEDIUM.size)

        r, body = get(conn, "/health")
        assert r.status == 200 and b'"ok"' in body
        assert conn.sock is sock, "the TLS connection was not kept alive"
    finally:
        conn.close()
    m = until(p, lambda m: series_or_zero(m, "yatagarasu_requests_total", bucket="public",
                                          method="HEAD", status="200") == 1)
    # One connection, one handshake, for six requests.
    done = sum(handshakes(m, v) - handshakes(m0, v) for v in ("TLSv1.2", "TLSv1.3"))
    assert done == 1, done


def test_curl_and_requests_get_exact_bytes(proxy_factory, moto_auth, pki, tmp_path):
    p = start_tls(proxy_factory, [public_bucket(moto_auth)], tls_block(pki.first.cert,
                                                                       pki.first.key))
    curl = shutil.which("curl")
    assert curl, "curl is required (Debian package)"
    out = tmp_path / "medium.bin"
    # --http2 offers h2 and http/1.1 by ALPN: the proxy must pick http/1.1.
    res = subprocess.run([curl, "-sS", "--http2", "--cacert", str(pki.ca_file), "-o", str(out),
                          "-w", "%{http_code} %{http_version} %{ssl_verify_result}",
                          f"https://{HOST}:{p.port}/public/{MEDIUM.key}",
                          f"https://localhost:{p.port}/public/{SMALL.key}", "-o",
                          str(tmp_path / "small.bin")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "200 1.1 0200 1.1 0", res.stdout
    assert hashlib.sha256(out.read_bytes()).hexdigest() == MEDIUM.sha256
    assert (tmp_path / "small.bin").read_bytes() == SMALL.body

    with requests.Session() as s:
        s.verify = str(pki.ca_file)
        for _ in range(3):
            r = s.get(f"https://{HOST}:{p.port}/public/{SMALL.key}", timeout=30,
                      verify=str(pki.ca_file))
            assert r.status_code == 200 and r.content == SMALL.body
        r = s.get(f"https://{HOST}:{p.port}/public/{RANGE_OBJ.key}",
                  headers={"Range": "bytes=-1000"}, timeout=30, verify=str(pki.ca_file))
        assert r.status_code == 206 and r.content == RANGE_OBJ.body[-1000:]


def test_disk_cache_hit_over_tls_sends_exact_bytes(proxy_factory, moto_auth, pki, tmp_path):
    """A disk hit above the sendfile threshold: sendfile(2) would write the file's plain bytes
    to the socket, so TLS must read and encrypt them instead; the bytes must be identical."""
    cache = {"enabled": True, "cache_layers": ["disk"],
             "memory": {"max_item_size_mb": 16, "default_ttl_seconds": 3600},
             "disk": {"enabled": True, "cache_dir": str(tmp_path / "disk"),
                      "max_disk_cache_size_mb": 64,
                      "sendfile": {"enabled": True, "threshold_bytes": 1024}}}
    p = start_tls(proxy_factory, [public_bucket(moto_auth)],
                  tls_block(pki.first.cert, pki.first.key), extra={"cache": cache})
    conn = https(p, pki)
    try:
        r, body = get(conn, "/public/" + RANGE_OBJ.key)
        assert r.status == 200 and r.getheader("X-Cache") == "MISS"
        assert body == RANGE_OBJ.body
        deadline = time.monotonic() + 10
        while True:
            r, body = get(conn, "/public/" + RANGE_OBJ.key)
            if r.getheader("X-Cache") == "HIT" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        # Served from the disk layer (the only one): a file-backed hit above the threshold.
        assert r.status == 200 and r.getheader("X-Cache") == "HIT", r.getheader("X-Cache")
        assert body == RANGE_OBJ.body
        r, body = get(conn, "/public/" + RANGE_OBJ.key, {"Range": "bytes=5000-70000"})
        assert r.status == 206 and r.getheader("X-Cache") == "HIT"
        assert body == RANGE_OBJ.body[5000:70001]
    finally:
        conn.close()


def test_truncated_upstream_body_cuts_the_tls_connection(proxy_factory, fault_server, pki):
    """S3 stalls mid-body: the proxy resets the connection (no close_notify), so the client
    sees an error, never a short body passing for the whole object."""
    body = bytes(range(256)) * 4096  # 1 MiB
    fs = fault_server("stall-mid-body", body=body)
    p = start_tls(proxy_factory,
                  [bucket_block("f", "/f", s3_block(fs.url, "b", "AK", "SK", timeout=1))],
                  tls_block(pki.first.cert, pki.first.key))
    conn = https(p, pki)
    try:
        conn.request("GET", "/f/obj")
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Content-Length") == str(len(body))
        with pytest.raises((http.client.IncompleteRead, ConnectionError, ssl.SSLError)):
            r.read()
    finally:
        conn.close()
    until(p, lambda m: series_or_zero(m, "yatagarasu_responses_aborted_total", bucket="f",
                                      cause="upstream") == 1)


# --- versions, refusals, ALPN ------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls12_and_tls13_negotiate_and_old_versions_are_refused(proxy_factory, moto_auth, pki):
    p = start_tls(proxy_factory, [public_bucket(moto_auth)], tls_block(pki.first.cert,
                                                                       pki.first.key))
    m0 = metrics(p)
    for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3,
                                                                "TLSv1.3")):
        conn = https(p, pki, minimum=version, maximum=version)
        try:
            r, body = get(conn, "/public/" + SMALL.key)
            assert r.status == 200 and body == SMALL.body
            assert conn.sock.version() == name
        finally:
            conn.close()
    # TLS 1.0 and 1.1 at security level 0, so the CLIENT is willing and only the server's
    # floor can refuse.
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        err = handshake_fails(p, client_ctx(pki, minimum=version, maximum=version,
                                            seclevel0=True))
        assert "PROTOCOL_VERSION" in err.upper() or "UNSUPPORTED" in err.upper(), err
    openssl = shutil.which("openssl")
    assert openssl
    res = subprocess.run([openssl, "s_client", "-connect", f"{HOST}:{p.port}", "-tls1_1",
                          "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", str(pki.ca_file)],
                         input=b"", capture_output=True, timeout=20)
    assert res.returncode != 0
    assert b"alert protocol version" in res.stdout + res.stderr, res.stderr[-500:]

    m = until(p, lambda m: failures(m, "version") - failures(m0, "version") == 3)
    assert handshakes(m, "TLSv1.2") - handshakes(m0, "TLSv1.2") == 1
    assert handshakes(m, "TLSv1.3") - handshakes(m0, "TLSv1.3") == 1


def test_min_version_13_refuses_a_tls12_client(proxy_factory, moto_auth, pki):
    p = start_tls(proxy_factory, [public_bucket(moto_auth)],
                  tls_block(pki.first.cert, pki.first.key, min_version="1.3"))
    err = handshake_fails(p, client_ctx(pki, maximum=ssl.TLSVersion.TLSv1_2))
    assert "PROTOCOL_VERSION" in err.upper() or "UNSUPPORTED" in err.upper(), err
    conn = https(p, pki)
    try:
        r, body = get(conn, "/public/" + SMALL.key)
        assert r.status == 200 and body == SMALL.body and conn.sock.version() == "TLSv1.3"
    finally:
        conn.close()
    until(p, lambda m: failures(m, "version") == 1 and handshakes(m, "TLSv1.3") == 1)


def test_cipher_settings_apply(proxy_factory, moto_auth, pki):
    """server.tls.ciphers limits TLS 1.2: a client offering only another cipher is refused."""
    p = start_tls(proxy_factory, [public_bucket(moto_auth)],
                  tls_block(pki.first.cert, pki.first.key,
                            ciphers="ECDHE-ECDSA-AES256-GCM-SHA384"))
    ctx = client_ctx(pki, maximum=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    handshake_fails(p, ctx)
    ctx = client_ctx(pki, maximum=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    with socket.create_connection((HOST, p.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=HOST) as s:
            assert s.cipher()[0] == "ECDHE-ECDSA-AES256-GCM-SHA384"
    until(p, lambda m: failures(m, "cipher") == 1)


def test_plain_http_on_the_tls_port_is_closed_and_serving_goes_on(proxy_factory, moto_auth, pki):
    p = start_tls(proxy_factory, [public_bucket(moto_auth)], tls_block(pki.first.cert,
                                                                       pki.first.key))
    t0 = time.monotonic()
    with socket.create_connection((HOST, p.port), timeout=10) as s:
        s.sendall(b"GET /public/small.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        got = recv_until_closed(s)
    assert time.monotonic() - t0 < 5, "the proxy held a plain-HTTP connection open"
    assert b"HTTP/1." not in got and SMALL.body not in got
    conn = https(p, pki)
    try:
        r, body = get(conn, "/public/" + SMALL.key)
        assert r.status == 200 and body == SMALL.body
    finally:
        conn.close()
    assert p.alive()
    until(p, lambda m: failures(m, "not_tls") == 1)
    assert "TLS handshake from 127.0.0.1 failed (not_tls)" in p.logs().decode(errors="replace")
    assert request(HOST, p.metrics_port, "GET", "/metrics").status == 200  # plain HTTP


def test_silent_client_is_cut_at_header_read_timeout(proxy_factory, moto_auth, pki):
    p = start_tls(proxy_factory, [public_bucket(moto_auth)],
                  tls_block(pki.first.cert, pki.first.key), server={"header_read_timeout": 1})
    t0 = time.monotonic()
    with socket.create_connection((HOST, p.port), timeout=10) as s:
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
    took = time.monotonic() - t0
    assert 0.8 < took < 4, took
    until(p, lambda m: failures(m, "timeout") == 1)


# --- reload, startup, --test, drain -------------------------------------------------------------

def test_sighup_swaps_the_certificate_for_new_connections_only(proxy_factory, moto_auth, pki):
    p = start_tls(proxy_factory, [public_bucket(moto_auth)], tls_block(pki.first.cert,
                                                                       pki.first.key))
    first, second = serial_of(pki.first.cert), serial_of(pki.second.cert)
    assert peer_serial(p, pki) == first
    old = https(p, pki)
    try:
        r, body = get(old, "/public/" + SMALL.key)
        assert r.status == 200 and body == SMALL.body
        assert serial_of(old.sock.getpeercert(binary_form=True)) == first

        rewrite_tls(p, tls_block(pki.second.cert, pki.second.key))
        reload_and_wait(p, "success")
        assert peer_serial(p, pki) == second
        # The keep-alive connection made before the reload goes on, with its session.
        sock = old.sock
        r, body = get(old, "/public/" + RANGE_OBJ.key)
        assert r.status == 200 and body == RANGE_OBJ.body
        assert old.sock is sock
        assert serial_of(old.sock.getpeercert(binary_form=True)) == first
    finally:
        old.close()


@pytest.mark.parametrize("case", ["wrong_key", "missing_key", "garbage_cert"])
def test_reload_with_bad_files_is_refused_and_the_old_certificate_stays(
        proxy_factory, moto_auth, pki, tmp_path, case):
    p = start_tls(proxy_factory, [public_bucket(moto_auth)], tls_block(pki.first.cert,
                                                                       pki.first.key))
    first = serial_of(pki.first.cert)
    if case == "wrong_key":
        bad = tls_block(pki.first.cert, pki.second.key)
        named, why = str(pki.second.key), "does not match the certificate"
    elif case == "missing_key":
        bad = tls_block(pki.second.cert, tmp_path / "nope.key")
        named, why = str(tmp_path / "nope.key"), "No such file or directory"
    else:
        junk = tmp_path / "junk.crt"
        junk.write_text("not a certificate\n")
        bad = tls_block(junk, pki.second.key)
        named, why = str(junk), "cannot load certificate file"
    rewrite_tls(p, bad)
    reload_and_wait(p, "failure")
    logs = p.logs().decode(errors="replace")
    line = next((ln for ln in logs.splitlines()
                 if "refused, configuration unchanged" in ln and named in ln), None)
    assert line is not None, logs[-2000:]
    assert why in line, line
    assert peer_serial(p, pki) == first
    conn = https(p, pki)
    try:
        r, body = get(conn, "/public/" + SMALL.key)
        assert r.status == 200 and body == SMALL.body
    finally:
        conn.close()


def test_reload_cannot_turn_tls_off(proxy_factory, moto_auth, pki):
    p = start_tls(proxy_factory, [public_bucket(moto_auth)], tls_block(pki.first.cert,
                                                                       pki.first.key))
    doc = yaml.safe_load(p.config_path.read_text())
    del doc["server"]["tls"]
    p.config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    reload_and_wait(p, "failure")
    assert "turning TLS on or off needs a restart" in p.logs().decode(errors="replace")
    assert peer_serial(p, pki) == serial_of(pki.first.cert)


def test_startup_and_test_mode_check_the_files(proxy_factory, moto_auth, pki, yg_binary):
    p = proxy_factory([public_bucket(moto_auth)],
                      server={"tls": tls_block(pki.first.cert, pki.second.key)}, start=False)
    res = run_cli(yg_binary, "--test", "--config", str(p.config_path))
    assert res.returncode == 1
    err = res.stderr.decode()
    assert str(pki.second.key) in err and "does not match the certificate" in err, err

    # The same file fails startup, naming the file; no key material is printed.
    res = run_cli(yg_binary, "--config", str(p.config_path), timeout=20)
    assert res.returncode == 1
    out = (res.stdout + res.stderr).decode()
    assert "startup failed" in out and str(pki.second.key) in out, out
    assert "PRIVATE KEY" not in out

    doc = yaml.safe_load(p.config_path.read_text())
    doc["server"]["tls"] = tls_block(pki.first.cert, pki.first.key)
    p.config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    res = run_cli(yg_binary, "--test", "--config", str(p.config_path))
    assert res.returncode == 0, res.stderr.decode()


def test_sigterm_with_an_idle_tls_keepalive_connection_exits_promptly(proxy_factory, moto_auth,
                                                                      pki):
    p = start_tls(proxy_factory, [public_bucket(moto_auth)], tls_block(pki.first.cert,
                                                                       pki.first.key))
    conn = https(p, pki)
    try:
        r, body = get(conn, "/public/" + SMALL.key)
        assert r.status == 200 and body == SMALL.body
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        status = p.wait_exit(timeout=10)
        took = time.monotonic() - t0
        assert status == 0, status
        assert took < 2.0, took
        # The idle connection was closed by the proxy (close_notify or EOF), not left hanging.
        conn.sock.settimeout(2)
        try:
            assert conn.sock.recv(1) == b""
        except (ssl.SSLError, ConnectionError):
            pass
    finally:
        conn.close()
