"""A real TLS front for an S3 server: Debian's nginx terminating HTTPS with throwaway
certificates and proxying to moto over plain HTTP (S3-2 tests, docs/testing.md).

    certs = TestPKI(tmp_dir)                       # a CA, made at test time
    loc = certs.server_cert("localhost", ["localhost"], ["127.0.0.1"])
    ngx = NginxTlsFront(tmp_dir, moto.url)
    port = ngx.add_listener([loc])                 # first entry = default server
    ngx.start() ... ngx.stop()                     # stopped by PID

The Host header is passed on unchanged (`proxy_set_header Host $http_host`), so the SigV4
signature the proxy made for `localhost:<nginx port>` still verifies at moto. Every request
is written to `access.log` with the SNI name nginx received and the server block (i.e. the
certificate) that answered it.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import yg_procs

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yatagarasu tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


@dataclass
class ServerCert:
    name: str  # nginx server_name (also the file stem)
    cert: Path
    key: Path


class TestPKI:
    """A throwaway CA (P-256, valid for a day) and server certificates signed by it."""

    __test__ = False  # not a pytest test class

    def __init__(self, workdir: Path, ca_name: str = "yatagarasu test CA"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(_name(ca_name)).issuer_name(_name(ca_name))
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(hours=1))
            .not_valid_after(self.now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()),
                           critical=False)
            .sign(self.ca_key, hashes.SHA256()))
        self.ca_file = self.dir / "ca.pem"
        self.ca_file.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def server_cert(self, name: str, dns: Sequence[str] = (),
                    ips: Sequence[str] = ()) -> ServerCert:
        key = ec.generate_private_key(ec.SECP256R1())
        sans: List[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(hours=1))
            .not_valid_after(self.now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.ca_key.public_key()), critical=False)
            .sign(self.ca_key, hashes.SHA256()))
        out = ServerCert(name, self.dir / f"{name}.crt", self.dir / f"{name}.key")
        # Leaf only: the client must chain it to the CA from its ca_file.
        out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(out.key, key)
        return out


class NginxTlsFront:
    """nginx in the foreground (`daemon off`, one process: `master_process off`), all files in
    `workdir`, listening on 127.0.0.1 only; stopped by PID."""

    LOG_FORMAT = ('sni="$ssl_server_name" server="$server_name" conn=$connection '
                  'conn_req=$connection_requests "$request" $status $body_bytes_sent')

    def __init__(self, workdir: Path, upstream_url: str):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.upstream = upstream_url
        self.listeners: List[tuple] = []  # (port, [ServerCert...]), first cert = default
        self.proc: Optional[subprocess.Popen] = None
        self.conf_path = self.dir / "nginx.conf"
        self.error_log = self.dir / "error.log"
        self.access_log = self.dir / "access.log"
        self.stderr_log = self.dir / "nginx.stderr.log"

    def add_listener(self, certs: Sequence[ServerCert]) -> int:
        """A TLS port whose server blocks use `certs`; the FIRST one is the default server
        (what a client without a matching SNI name gets)."""
        port = yg_procs.free_port()
        self.listeners.append((port, list(certs)))
        return port

    def _config(self) -> str:
        d = self.dir
        servers = []
        for port, certs in self.listeners:
            for i, c in enumerate(certs):
                default = " default_server" if i == 0 else ""
                servers.append(f"""
    server {{
        listen 127.0.0.1:{port} ssl{default};
        server_name {c.name};
        ssl_certificate {c.cert};
        ssl_certificate_key {c.key};
        location / {{
            proxy_pass {self.upstream};
            proxy_set_header Host $http_host;
        }}
    }}""")
        return f"""# generated by tests/support/tls_front.py
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 256; }}
http {{
    log_format yg '{self.LOG_FORMAT}';
    access_log {self.access_log} yg;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy_temp;
    fastcgi_temp_path {d}/fastcgi_temp;
    uwsgi_temp_path {d}/uwsgi_temp;
    scgi_temp_path {d}/scgi_temp;
    ssl_protocols TLSv1.2 TLSv1.3;
    proxy_http_version 1.1;
    proxy_buffering off;
    proxy_request_buffering off;
    keepalive_timeout 60s;
{''.join(servers)}
}}
"""

    def start(self, timeout: float = 15.0) -> "NginxTlsFront":
        assert self.listeners, "add_listener() first"
        self.conf_path.write_text(self._config())
        # -e: the error log before the config is read (else /var/log/nginx/error.log)
        cmd = [NGINX, "-p", str(self.dir), "-e", str(self.error_log), "-c", str(self.conf_path)]
        with open(self.stderr_log, "ab") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         cwd=self.dir, start_new_session=True,
                                         preexec_fn=yg_procs.die_with_parent)
        try:
            for port, _ in self.listeners:
                yg_procs.wait_port(port, timeout=timeout, proc=self.proc, what="nginx",
                                   log=self.error_log)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            yg_procs.stop_pid(self.proc, timeout=10)
            self.proc = None

    def access_lines(self) -> List[str]:
        try:
            return self.access_log.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def wait_access_lines(self, n: int, timeout: float = 3.0) -> List[str]:
        """nginx logs a request after its response went out, so the proxy's client may see
        the last byte first: wait (bounded) for `n` lines, then return what is there."""
        deadline = time.monotonic() + timeout
        while len(self.access_lines()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.access_lines()

    def error_tail(self, lines: int = 20) -> str:
        return yg_procs.tail_text(self.error_log, lines)
