"""Small HTTP clients for the integration tests.

http.client sends the request target exactly as given (requests/urllib3 would remove dot
segments and re-encode), which the routing and traversal tests depend on. RawConn speaks
bytes on a socket for the protocol tests (smuggling shapes, pipelining, limits).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

Headers = List[Tuple[str, str]]


@dataclass
class Response:
    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    elapsed: float = 0.0

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> List[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def text_dump(self) -> str:
        """Status line, headers and body as one string, for leak checks and messages."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers)
        return f"{self.status} {self.reason}\n{head}\n\n" + self.body.decode("utf-8", "replace")


def _headers_of(resp: http.client.HTTPResponse) -> Headers:
    return [(k, v) for k, v in resp.getheaders()]


def request(host: str, port: int, method: str, target: str,
            headers: Optional[Dict[str, str]] = None, body: Optional[bytes] = None,
            timeout: float = 30.0) -> Response:
    """One request on a fresh connection; the target is sent byte for byte."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, _headers_of(r), data, time.monotonic() - t0)
    finally:
        conn.close()


def on_conn(conn: http.client.HTTPConnection, method: str, target: str,
            headers: Optional[Dict[str, str]] = None) -> Response:
    """One request on an existing (keep-alive) connection."""
    t0 = time.monotonic()
    conn.putrequest(method, target, skip_accept_encoding=True)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    conn.endheaders()
    r = conn.getresponse()
    data = r.read()
    return Response(r.status, r.reason, _headers_of(r), data, time.monotonic() - t0)


@dataclass
class Digest:
    status: int
    headers: Headers
    size: int
    sha256: str
    elapsed: float

    def header(self, name: str) -> Optional[str]:
        return Response(self.status, "", self.headers).header(name)


def stream_digest(host: str, port: int, target: str, headers: Optional[Dict[str, str]] = None,
                  timeout: float = 60.0, chunk: int = 1 << 20) -> Digest:
    """GET and hash the body as it arrives (never held whole in memory)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        h = hashlib.sha256()
        n = 0
        while True:
            piece = r.read(chunk)
            if not piece:
                break
            h.update(piece)
            n += len(piece)
        return Digest(r.status, _headers_of(r), n, h.hexdigest(), time.monotonic() - t0)
    finally:
        conn.close()


class RawConn:
    """A plain TCP connection for hand-written requests."""

    def __init__(self, host: str, port: int, timeout: float = 10.0,
                 rcvbuf: Optional[int] = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Must be set before connect() so the window is advertised small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _read_until(self, marker: bytes, limit: int = 1 << 20) -> bytes:
        while marker not in self.buf:
            if len(self.buf) > limit or not self._fill():
                raise EOFError(f"connection closed before {marker!r}; got {self.buf[:200]!r}")
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed after {len(self.buf)} of {n} body bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_request: bool = False) -> Response:
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers.append((k.strip(), v.strip()))
        resp = Response(status, reason, headers)
        if head_request or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            body = b""
            while True:
                size_line = self._read_until(b"\r\n").strip()
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n")  # no trailers expected
                    break
                body += self._read_exact(size)
                self._read_exact(2)
            resp.body = body
        elif resp.header("content-length") is not None:
            resp.body = self._read_exact(int(resp.header("content-length")))
        else:
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def closed_by_peer(self, wait: float = 3.0) -> bool:
        """After a response: True when the server closes (FIN or RST) within `wait` s with no
        further bytes."""
        if self.eof:
            return not self.buf
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return not self.buf
        except socket.timeout:
            return False
        if data:
            self.buf += data
            return False
        self.eof = True
        return not self.buf

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def request_bytes(method: str, target: str, host: str = "127.0.0.1",
                  headers: Iterable[Tuple[str, str]] = (), connection: Optional[str] = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if connection:
        lines.append(f"Connection: {connection}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
