"""HTTPS upstreams (S3-2): TLS verification on by default, `ca_file`, hostname checks, SNI,
the `tls_verify: false` escape hatch, pooled TLS connections.

The upstream is REAL: Debian's nginx terminates TLS with certificates made at test time (a
throwaway CA, tests/support/tls_front.py) and proxies to the signature-checking moto over
plain HTTP, passing the Host header through, so a 200 also proves the proxy signed for
`localhost:<nginx port>` and moto accepted that signature.
"""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
import time
from types import SimpleNamespace

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config
from cryptography import x509
from cryptography.x509.oid import NameOID

import catalog
from checks import assert_json_error, assert_proxied
from httpc import request, stream_digest
from proxy import bucket_block, s3_block
from tls_front import NginxTlsFront, TestPKI

SMALL = catalog.SMALL  # 4096 random bytes in yg-public
SMALL_PATH = "/tls/" + SMALL.key
MEDIUM_PATH = "/tls/" + catalog.MEDIUM.key  # 10 MiB + 12345, multipart in moto
FAST = 3.0  # s: a TLS failure must be answered well before the 5 s upstream timeout


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """One CA for the module; `localhost` (DNS:localhost, IP:127.0.0.1) and `example.test`
    (DNS:example.test only) server certificates signed by it."""
    ca = TestPKI(tmp_path_factory.mktemp("tls-pki"))
    return SimpleNamespace(
        ca_file=ca.ca_file,
        localhost=ca.server_cert("localhost", dns=["localhost"], ips=["127.0.0.1"]),
        wrong_name=ca.server_cert("example.test", dns=["example.test"]))


@pytest.fixture
def nginx_front(tmp_path, moto_auth):
    """Factory: nginx_front([[cert, ...], ...]) -> (front, [port, ...]); one TLS port per
    list, its first cert the default server. Stopped by PID after the test."""
    fronts = []

    def make(listeners):
        front = NginxTlsFront(tmp_path / f"nginx{len(fronts) + 1}", moto_auth.url)
        ports = [front.add_listener(certs) for certs in listeners]
        fronts.append(front)
        front.start()
        return front, ports

    yield make
    for f in fronts:
        f.stop()


def tls_bucket(moto_auth, endpoint: str, name: str = "tls", prefix: str = "/tls", **tls) -> dict:
    return bucket_block(name, prefix, s3_block(endpoint, catalog.BUCKET_PUBLIC,
                                               moto_auth.access_key, moto_auth.secret_key,
                                               timeout=5, **tls))


def diag(p, front=None) -> str:
    out = f"\n--- proxy log {p.log_path} (tail) ---\n{p.log_tail(20)}"
    if front is not None:
        out += ("\n--- nginx access log ---\n" + "\n".join(front.access_lines()[-10:])
                + f"\n--- nginx error log (tail) ---\n{front.error_tail(10)}")
    return out


def handshake_failure_lines(p, host: str, port: int) -> list:
    """The proxy's log lines a user sees for a failed upstream TLS handshake."""
    needle = f"TLS handshake with {host}:{port} failed"
    return [line for line in p.logs().decode("utf-8", "replace").splitlines() if needle in line]


def get_small(p):
    t0 = time.monotonic()
    r = request(p.host, p.port, "GET", SMALL_PATH, timeout=15)
    return r, time.monotonic() - t0


def assert_small_ok(r, p, front=None):
    assert r.status == 200, f"GET over HTTPS: {r.status} {r.body[:300]!r}" + diag(p, front)
    assert r.body == SMALL.body, (
        f"body differs: {len(r.body)} bytes, sha256 {hashlib.sha256(r.body).hexdigest()}, "
        f"want {SMALL.size} / {SMALL.sha256}")
    assert_proxied(r)


# --- the front itself (no proxy involved) -----------------------------------------------

def peer_cert_name(port: int, sni) -> str:
    """CN of the certificate nginx presents for `sni` (None: no SNI sent)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            der = tls.getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def s3_via_front(port: int, moto_auth, ca_file, secret_key=None):
    return boto3.client("s3", endpoint_url=f"https://localhost:{port}", region_name="us-east-1",
                        aws_access_key_id=moto_auth.access_key,
                        aws_secret_access_key=secret_key or moto_auth.secret_key,
                        verify=str(ca_file),
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


def test_front_premises(moto_auth, pki, nginx_front):
    """What the tests below rely on: the DEFAULT server has the wrong certificate and SNI
    `localhost` selects the right one; a request signed for `localhost:<nginx port>` is
    accepted by the signature-checking moto behind nginx (the Host header survives)."""
    front, (port,) = nginx_front([[pki.wrong_name, pki.localhost]])
    assert peer_cert_name(port, None) == "example.test"
    assert peer_cert_name(port, "localhost") == "localhost"
    s3 = s3_via_front(port, moto_auth, pki.ca_file)
    assert s3.get_object(Bucket=catalog.BUCKET_PUBLIC, Key=SMALL.key)["Body"].read() == SMALL.body
    bad = s3_via_front(port, moto_auth, pki.ca_file, secret_key="wrong" + moto_auth.secret_key)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.get_object(Bucket=catalog.BUCKET_PUBLIC, Key=SMALL.key)
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch", (
        "moto behind nginx does not check signatures")


# --- 1. the happy path -------------------------------------------------------------------

def test_https_upstream_with_ca_file_serves_exact_bytes(proxy_factory, moto_auth, pki,
                                                        nginx_front):
    front, (port,) = nginx_front([[pki.localhost]])
    p = proxy_factory([tls_bucket(moto_auth, f"https://localhost:{port}",
                                  ca_file=str(pki.ca_file))])

    r, _ = get_small(p)
    assert_small_ok(r, p, front)
    assert r.header("content-length") == str(SMALL.size)

    head = request(p.host, p.port, "HEAD", SMALL_PATH)
    assert head.status == 200, f"HEAD over HTTPS: {head.status}" + diag(p, front)
    assert head.body == b""
    assert head.header("content-length") == str(SMALL.size)
    assert head.header("etag") == r.header("etag")

    # 10 MiB through the TLS stream, hashed as it arrives.
    d = stream_digest(p.host, p.port, MEDIUM_PATH, timeout=30)
    assert d.status == 200, f"10 MiB GET over HTTPS: {d.status}" + diag(p, front)
    assert (d.size, d.sha256) == (catalog.MEDIUM.size, catalog.MEDIUM.sha256)

    # The requests really went through nginx's TLS listener, with SNI "localhost".
    lines = front.wait_access_lines(3)
    for method, key in (("GET", SMALL.key), ("HEAD", SMALL.key), ("GET", catalog.MEDIUM.key)):
        want = f'"{method} /{catalog.BUCKET_PUBLIC}/{key} HTTP/1.1" 200 '
        assert any(want in ln and 'sni="localhost"' in ln for ln in lines), (
            f"no {want} in nginx's access log:\n" + "\n".join(lines))
    assert not handshake_failure_lines(p, "localhost", port)


# --- 2. verification is on by default ----------------------------------------------------

def test_untrusted_ca_is_502_by_default(proxy_factory, moto_auth, pki, nginx_front):
    """No ca_file, no tls_verify: only the system trust store, which does not know our CA."""
    front, (port,) = nginx_front([[pki.localhost]])
    p = proxy_factory([tls_bucket(moto_auth, f"https://localhost:{port}")])

    r, elapsed = get_small(p)
    assert_json_error(r, 502)
    assert SMALL.body not in r.body
    assert elapsed < FAST, f"TLS failure took {elapsed:.2f}s to become a 502"
    assert request(p.host, p.port, "HEAD", SMALL_PATH).status == 502

    lines = handshake_failure_lines(p, "localhost", port)
    assert lines, "the proxy did not log the failed TLS handshake" + diag(p, front)
    assert '"level":"error"' in lines[0], lines[0]
    assert "certificate verify failed" in lines[0], lines[0]
    assert front.access_lines() == [], "a request went through the untrusted TLS connection"


# --- 3. hostname verification ------------------------------------------------------------

def test_certificate_for_another_name_is_502(proxy_factory, moto_auth, pki, nginx_front):
    """A certificate from the trusted CA, but for example.test: refused for `localhost`.
    A second bucket on a `localhost` certificate from the same CA is the control."""
    front, (wrong_port, good_port) = nginx_front([[pki.wrong_name], [pki.localhost]])
    ca = str(pki.ca_file)
    p = proxy_factory([tls_bucket(moto_auth, f"https://localhost:{wrong_port}", ca_file=ca),
                       tls_bucket(moto_auth, f"https://localhost:{good_port}", name="good",
                                  prefix="/good", ca_file=ca)])

    r, elapsed = get_small(p)
    assert_json_error(r, 502)
    assert SMALL.body not in r.body
    assert elapsed < FAST, f"TLS failure took {elapsed:.2f}s to become a 502"
    lines = handshake_failure_lines(p, "localhost", wrong_port)
    assert lines, "the proxy did not log the failed TLS handshake" + diag(p, front)
    assert '"level":"error"' in lines[0], lines[0]

    control = request(p.host, p.port, "GET", "/good/" + SMALL.key)
    assert control.status == 200 and control.body == SMALL.body, (
        f"control bucket (same CA, right name): {control.status}" + diag(p, front))


# --- 4. the escape hatch -----------------------------------------------------------------

def test_tls_verify_false_accepts_untrusted_and_misnamed_certs(proxy_factory, moto_auth, pki,
                                                               nginx_front):
    front, (port, wrong_port) = nginx_front([[pki.localhost], [pki.wrong_name]])
    p = proxy_factory([
        tls_bucket(moto_auth, f"https://localhost:{port}", tls_verify=False),
        tls_bucket(moto_auth, f"https://localhost:{wrong_port}", name="misnamed",
                   prefix="/misnamed", tls_verify=False)])

    r, _ = get_small(p)
    assert_small_ok(r, p, front)
    r2 = request(p.host, p.port, "GET", "/misnamed/" + SMALL.key)
    assert r2.status == 200 and r2.body == SMALL.body, (
        f"tls_verify: false with a misnamed cert: {r2.status}" + diag(p, front))
    assert request(p.host, p.port, "HEAD", SMALL_PATH).status == 200
    assert not handshake_failure_lines(p, "localhost", port)


# --- 5. SNI ------------------------------------------------------------------------------

def test_sni_selects_the_localhost_certificate(proxy_factory, moto_auth, pki, nginx_front):
    """One port, two certificates; the DEFAULT server has the wrong one (example.test), so
    only a client that sends SNI `localhost` gets a certificate that verifies."""
    front, (port,) = nginx_front([[pki.wrong_name, pki.localhost]])
    ca = str(pki.ca_file)
    p = proxy_factory([
        tls_bucket(moto_auth, f"https://localhost:{port}", ca_file=ca),
        # Control: an IP literal must not be sent as SNI (RFC 6066 §3), so nginx answers with
        # its default certificate (example.test, no IP SAN): proves the default is the wrong
        # one, i.e. the 200 on /tls is SNI's doing.
        tls_bucket(moto_auth, f"https://127.0.0.1:{port}", name="nosni", prefix="/nosni",
                   ca_file=ca)])

    r, _ = get_small(p)
    assert_small_ok(r, p, front)
    served = [ln for ln in front.wait_access_lines(1)
              if f"/{catalog.BUCKET_PUBLIC}/{SMALL.key} " in ln]
    assert served and all('sni="localhost" server="localhost"' in ln for ln in served), (
        "nginx did not see SNI localhost:\n" + "\n".join(front.access_lines()))

    r2 = request(p.host, p.port, "GET", "/nosni/" + SMALL.key, timeout=15)
    assert_json_error(r2, 502)
    assert handshake_failure_lines(p, "127.0.0.1", port), (
        "no TLS failure logged for the no-SNI control" + diag(p, front))


# --- keep-alive pool over TLS (S3-2) -----------------------------------------------------

def test_tls_connections_are_reused(proxy_factory, moto_auth, pki, nginx_front):
    """Sequential requests reuse pooled TLS connections (pools are per worker: at most one
    connection per proxy thread when requests never overlap)."""
    threads = 2
    front, (port,) = nginx_front([[pki.localhost]])
    p = proxy_factory([tls_bucket(moto_auth, f"https://localhost:{port}",
                                  ca_file=str(pki.ca_file))], server={"threads": threads})
    n = 8
    for _ in range(n):
        r = request(p.host, p.port, "GET", SMALL_PATH)
        assert r.status == 200 and r.body == SMALL.body, f"{r.status}" + diag(p, front)
    lines = front.wait_access_lines(n)
    assert len(lines) == n, "\n".join(lines)
    conns = {re.search(r"conn=(\d+)", ln).group(1) for ln in lines}
    assert len(conns) <= threads, (
        f"{n} sequential requests used {len(conns)} TLS connections (pool not reused):\n"
        + "\n".join(lines))
