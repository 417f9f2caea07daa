"""A counting TCP relay in front of a real S3 server (moto) for the cache tests.

The proxy's bucket endpoint points at the relay; the relay forwards every byte unchanged in
both directions (Host header included), so a SigV4 signature the proxy computed for the relay's
host:port is still valid when moto checks it. On the way in it parses the request stream
(keep-alive aware: request heads, Content-Length and chunked bodies) and records each request's
method, target and headers, so a test can assert how many requests reached S3 per path and what
they carried (e.g. the If-None-Match of a revalidation).

Controls:
  stop() / start()    S3 down / up: the listener is closed (connect() gets ECONNREFUSED) and
                      every open connection is reset; start() listens again on the same port.
  response_delay      seconds to hold the first bytes of each response (makes concurrent
                      requests overlap, e.g. for request coalescing).

Threads only (two per relayed connection); stopped by the test that started it.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import List, Optional, Tuple


@dataclass
class RelayedRequest:
    method: str
    target: str
    headers: List[Tuple[str, str]]
    at: float
    conn_id: int

    @property
    def path(self) -> str:
        """The target without its query, percent-decoded."""
        return urllib.parse.unquote(self.target.split("?", 1)[0])

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class _RequestParser:
    """Incremental parser for the client->server byte stream: yields request heads, skips
    bodies (Content-Length or chunked). Works on a copy; the relay forwards the raw bytes."""

    def __init__(self):
        self.buf = b""
        self.body_left = 0
        self.chunked = False
        self.chunk_left = -1   # -1: expecting a chunk-size line
        self.trailers = False

    def feed(self, data: bytes) -> List[Tuple[str, str, List[Tuple[str, str]]]]:
        self.buf += data
        out = []
        while True:
            if self.body_left > 0:
                n = min(self.body_left, len(self.buf))
                self.buf = self.buf[n:]
                self.body_left -= n
                if self.body_left > 0:
                    return out
                continue
            if self.chunked:
                if not self._skip_chunked():
                    return out
                continue
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return out
            head, self.buf = self.buf[:i], self.buf[i + 4:]
            lines = head.decode("latin-1").split("\r\n")
            while lines and not lines[0]:
                lines.pop(0)  # tolerate stray CRLFs between requests
            if not lines:
                continue
            parts = lines[0].split(" ")
            method, target = (parts + ["", ""])[:2]
            headers = []
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers.append((k.strip(), v.strip()))
            out.append((method, target, headers))
            te = ",".join(v for k, v in headers if k.lower() == "transfer-encoding").lower()
            cl = next((v for k, v in headers if k.lower() == "content-length"), None)
            if "chunked" in te:
                self.chunked, self.chunk_left, self.trailers = True, -1, False
            elif cl is not None and cl.isdigit():
                self.body_left = int(cl)

    def _skip_chunked(self) -> bool:
        """Consumes chunked body bytes; True when the body ended, False when more are needed."""
        while True:
            if self.trailers:
                i = self.buf.find(b"\r\n")
                if i < 0:
                    return False
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                if not line:
                    self.chunked = False
                    return True
                continue
            if self.chunk_left < 0:
                i = self.buf.find(b"\r\n")
                if i < 0:
                    return False
                size = int(self.buf[:i].split(b";")[0].strip() or b"0", 16)
                self.buf = self.buf[i + 2:]
                if size == 0:
                    self.trailers = True
                    continue
                self.chunk_left = size + 2  # data + CRLF
            n = min(self.chunk_left, len(self.buf))
            self.buf = self.buf[n:]
            self.chunk_left -= n
            if self.chunk_left > 0:
                return False
            self.chunk_left = -1


class _Conn:
    def __init__(self, relay: "CountingRelay", cid: int, client: socket.socket,
                 upstream: socket.socket):
        self.relay, self.cid = relay, cid
        self.client, self.upstream = client, upstream
        self.parser = _RequestParser()
        self.awaiting_response = threading.Event()
        self.done = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        for target, name in ((self._client_to_server, "c2s"), (self._server_to_client, "s2c")):
            threading.Thread(target=target, name=f"relay-{self.cid}-{name}", daemon=True).start()

    def _client_to_server(self) -> None:
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                for method, target, headers in self.parser.feed(data):
                    self.relay._record(RelayedRequest(method, target, headers, time.monotonic(),
                                                      self.cid))
                    self.awaiting_response.set()
                self.upstream.sendall(data)
            _shutdown_wr(self.upstream)
        except OSError:
            self.abort()
        finally:
            self._finish()

    def _server_to_client(self) -> None:
        try:
            while True:
                data = self.upstream.recv(65536)
                if not data:
                    break
                if self.awaiting_response.is_set():
                    self.awaiting_response.clear()
                    delay = self.relay.response_delay
                    if delay > 0:
                        time.sleep(delay)
                self.client.sendall(data)
            _shutdown_wr(self.client)
        except OSError:
            self.abort()
        finally:
            self._finish()

    def _finish(self) -> None:
        with self.lock:
            self.done += 1
            last = self.done == 2
        if last:
            self.close()

    def abort(self) -> None:
        """Resets both sides (RST), as a crashed S3 would."""
        for s in (self.client, self.upstream):
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        for s in (self.client, self.upstream):
            try:
                s.close()
            except OSError:
                pass
        self.relay._forget(self)


def _shutdown_wr(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class CountingRelay:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1",
                 port: int = 0, response_delay: float = 0.0):
        self.upstream = (upstream_host, upstream_port)
        self.host, self.port = host, port
        self.response_delay = response_delay
        self.requests: List[RelayedRequest] = []
        self.connections_accepted = 0
        self._lock = threading.Lock()
        self._conns: set = set()
        self._listener: Optional[socket.socket] = None
        self._accept_thread: Optional[threading.Thread] = None
        self._next_id = 0

    @classmethod
    def to_url(cls, url: str, **kw) -> "CountingRelay":
        u = urllib.parse.urlsplit(url)
        return cls(u.hostname, u.port or 80, **kw)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._listener is not None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "CountingRelay":
        assert self._listener is None, "relay already running"
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                ls.bind((self.host, self.port))
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    ls.close()
                    raise
                time.sleep(0.05)
        ls.listen(512)
        self.port = ls.getsockname()[1]
        self._listener = ls
        self._accept_thread = threading.Thread(target=self._accept_loop, args=(ls,),
                                               name=f"relay-accept-{self.port}", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """S3 down: no listener (connection refused) and every open connection reset."""
        ls, self._listener = self._listener, None
        if ls is not None:
            try:
                ls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            ls.close()
        if self._accept_thread is not None:
            self._accept_thread.join(5)
            self._accept_thread = None
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.abort()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            if self._listener is not ls:
                client.close()
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._next_id += 1
                self.connections_accepted += 1
                conn = _Conn(self, self._next_id, client, upstream)
                self._conns.add(conn)
            conn.run()

    def _record(self, r: RelayedRequest) -> None:
        with self._lock:
            self.requests.append(r)

    def _forget(self, c: _Conn) -> None:
        with self._lock:
            self._conns.discard(c)

    # --- queries -----------------------------------------------------------------------------

    def matching(self, method: Optional[str] = None,
                 path: Optional[str] = None) -> List[RelayedRequest]:
        """Requests seen so far, filtered by method and by decoded path (query ignored)."""
        with self._lock:
            reqs = list(self.requests)
        return [r for r in reqs if (method is None or r.method == method)
                and (path is None or r.path == path)]

    def count(self, method: Optional[str] = None, path: Optional[str] = None) -> int:
        return len(self.matching(method, path))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
