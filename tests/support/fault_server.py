"""A FAKE S3 backend that misbehaves on purpose (asyncio, runs in a background thread).

Real S3 servers cannot stall, reset, trickle or answer a GET with a chunked (or a cut
chunked) body on demand, so only these cases use a fake (DESIGN.md §5); everything else in the
integration suite talks to moto. It ignores
signatures, answers every GET/HEAD according to its `mode`, and records what it received
(request line + headers) so tests can check what the proxy sent upstream.

Modes:
  ok                    200 with `body` and S3-like headers (HEAD: headers only)
  stall-before-headers  reads the request, then says nothing until the peer goes away
  stall-mid-body        sends headers (Content-Length = len(body)) and half the body, then stalls
  reset                 reads the request, then closes with a TCP RST (SO_LINGER 0)
  503-always            503 SlowDown with an S3 XML error body
  trickle               200; body sent `trickle_bytes` at a time every `trickle_interval` s
  chunked               200 with `Transfer-Encoding: chunked` and no Content-Length; `body` is
                        cut into chunks of `chunk_sizes` (the last one takes the rest) and each
                        chunk-size line, its data and its CRLF go out as SEPARATE TCP writes
                        `chunk_interval` s apart (TCP_NODELAY), then the last-chunk `0\r\n\r\n`
  chunked-truncated     like `chunked`, but after `truncate_after_chunks` chunks it closes the
                        connection (FIN) without the last-chunk
  500-always            500 InternalError with an S3 XML error body
  503-fraction          like `ok`, but a `fail_fraction` share of requests (spread evenly and
                        deterministically: request n fails when floor(n*f) moved) get 503
  die-mid-body          sends headers and half the body, then closes the connection (FIN)

Refusing connections: stop_listening() closes the listening socket (connects are refused with
RST by the kernel) and listen_again() reopens it on the same port.

Standalone:  python3 tests/support/fault_server.py --mode stall-before-headers [--port N]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

MODES = ("ok", "stall-before-headers", "stall-mid-body", "reset", "503-always", "trickle",
         "chunked", "chunked-truncated", "500-always", "503-fraction", "die-mid-body")

# Five chunks of varying sizes, one of them 100 KiB (sum: 115_000 bytes).
DEFAULT_CHUNK_SIZES = (1, 4093, 100 * 1024, 17, 8489)


@dataclass
class RecordedRequest:
    method: str
    target: str
    headers: List[Tuple[str, str]]
    raw_head: bytes
    received_at: float

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class ConnectionRecord:
    opened_at: float
    closed_at: Optional[float] = None
    bytes_sent: int = 0
    # True when the body could not be finished because the peer went away (or we stalled
    # and the peer then closed).
    peer_closed_early: bool = False


@dataclass
class FaultServer:
    mode: str = "ok"
    body: bytes = b"fake object body\n"
    content_type: str = "application/octet-stream"
    trickle_bytes: int = 64
    trickle_interval: float = 0.05
    chunk_sizes: Tuple[int, ...] = DEFAULT_CHUNK_SIZES
    chunk_interval: float = 0.02
    truncate_after_chunks: int = 3
    fail_fraction: float = 0.5
    host: str = "127.0.0.1"
    port: int = 0
    requests: List[RecordedRequest] = field(default_factory=list)
    connections: List[ConnectionRecord] = field(default_factory=list)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; one of {MODES}")
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server: Optional[asyncio.base_events.Server] = None
        self._lock = threading.Lock()
        self._tasks: set = set()
        self._served = 0  # requests answered (503-fraction's counter)
        # Faults injected so far, by kind ("503", "500", "stall", "reset", "die"): load runs
        # check that the fault they report on really happened.
        self.injected: dict = {}

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "FaultServer":
        ready = threading.Event()
        error: list = []

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self.host, self.port, reuse_address=True))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as e:  # surfaced to start()'s caller
                error.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fault-server-{self.mode}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if error:
            raise error[0]
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def shutdown():
            if self._server is not None:
                self._server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- helpers for tests -------------------------------------------------------------

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> List[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.02)
        with self._lock:
            return list(self.requests)

    def wait_all_closed(self, timeout: float) -> bool:
        """True once every connection the proxy opened has been closed by it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.connections and all(c.closed_at is not None for c in self.connections):
                    return True
            time.sleep(0.02)
        return False

    # --- protocol ----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        self._tasks.add(task)
        rec = ConnectionRecord(opened_at=time.monotonic())
        with self._lock:
            self.connections.append(rec)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                req = self._parse(head)
                with self._lock:
                    self.requests.append(req)
                await self._drain_body(reader, req)
                keep = await self._respond(req, reader, writer, rec)
                if not keep:
                    return
        except (ConnectionError, asyncio.CancelledError):
            rec.peer_closed_early = True
        finally:
            rec.closed_at = time.monotonic()
            try:
                writer.close()
            except Exception:
                pass
            self._tasks.discard(task)

    @staticmethod
    def _parse(head: bytes) -> RecordedRequest:
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
        headers = []
        for line in lines[1:]:
            if not line:
                continue
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        return RecordedRequest(method, target, headers, head, time.monotonic())

    @staticmethod
    async def _drain_body(reader, req: RecordedRequest) -> None:
        n = req.header("content-length")
        if n and n.isdigit() and int(n) > 0:
            await reader.readexactly(int(n))

    def _headers(self, status: str, length: Optional[int], ctype: str, extra: str = "") -> bytes:
        """`length` None: no Content-Length (the caller frames the body another way)."""
        framing = "" if length is None else f"Content-Length: {length}\r\n"
        return (f"HTTP/1.1 {status}\r\n"
                f"Content-Type: {ctype}\r\n"
                f"{framing}"
                "ETag: \"fa4e0000000000000000000000000001\"\r\n"
                "Last-Modified: Tue, 01 Jan 2030 00:00:00 GMT\r\n"
                "Accept-Ranges: bytes\r\n"
                "x-amz-request-id: FAKE0000REQUEST\r\n"
                "x-amz-meta-served-by: fault-server\r\n"
                "Server: FaultServer (fake)\r\n"
                f"{extra}\r\n").encode()

    def chunks(self) -> List[bytes]:
        """`body` cut by `chunk_sizes` (the last chunk takes whatever is left)."""
        out, i = [], 0
        for n in self.chunk_sizes:
            if i >= len(self.body):
                break
            out.append(self.body[i:i + n])
            i += n
        if i < len(self.body):
            if out:
                out[-1] += self.body[i:]
            else:
                out.append(self.body)
        return out

    async def _send_chunked(self, writer, rec: ConnectionRecord, truncate: bool) -> bool:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        chunks = self.chunks()
        if truncate:
            chunks = chunks[:self.truncate_after_chunks]
        for data in chunks:
            # Size line, data and CRLF each in its own write, with a pause between, so the
            # proxy's parser sees every boundary split across reads.
            for piece in (f"{len(data):x}\r\n".encode(), data, b"\r\n"):
                await asyncio.sleep(self.chunk_interval)
                writer.write(piece)
                await writer.drain()
                rec.bytes_sent += len(piece)
        if truncate:
            await asyncio.sleep(self.chunk_interval)
            return False  # close (FIN) without the last-chunk
        await asyncio.sleep(self.chunk_interval)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _wait_peer_close(self, reader, rec: ConnectionRecord) -> None:
        """Stall: keep the connection open, send nothing, return when the peer closes."""
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
        rec.peer_closed_early = True

    def stop_listening(self) -> None:
        """Closes the listening socket: new connections are refused until listen_again()."""
        async def close():
            self._server.close()
            await self._server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)

    def listen_again(self) -> None:
        async def reopen():
            self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                      reuse_address=True)
        asyncio.run_coroutine_threadsafe(reopen(), self._loop).result(10)

    async def _error(self, writer, status: str, code: bytes, head_only: bool) -> bool:
        xml = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + code +
               b'</Code><Message>injected failure</Message>'
               b'<RequestId>FAKE0000REQUEST</RequestId></Error>')
        writer.write(self._headers(status, len(xml), "application/xml"))
        if not head_only:
            writer.write(xml)
        await writer.drain()
        return True

    async def _respond(self, req, reader, writer, rec) -> bool:
        mode = self.mode
        head_only = req.method == "HEAD"
        n = self._served
        self._served += 1
        kind = {"500-always": "500", "503-always": "503", "stall-before-headers": "stall",
                "stall-mid-body": "stall", "reset": "reset", "die-mid-body": "die"}.get(mode)
        f = self.fail_fraction
        if mode == "503-fraction" and int((n + 1) * f) > int(n * f):
            kind = "503"
        if kind and not (head_only and kind == "die"):
            self.injected[kind] = self.injected.get(kind, 0) + 1
        if mode == "500-always":
            return await self._error(writer, "500 Internal Server Error", b"InternalError",
                                     head_only)
        if mode == "503-fraction":
            f = self.fail_fraction
            if int((n + 1) * f) > int(n * f):
                return await self._error(writer, "503 Service Unavailable", b"SlowDown",
                                         head_only)
            mode = "ok"
        if mode == "die-mid-body" and not head_only:
            writer.write(self._headers("200 OK", len(self.body), self.content_type))
            half = self.body[: max(1, len(self.body) // 2)]
            writer.write(half)
            await writer.drain()
            rec.bytes_sent += len(half)
            writer.close()
            return False
        if mode == "stall-before-headers":
            await self._wait_peer_close(reader, rec)
            return False
        if mode == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if mode == "503-always":
            xml = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                   b'<Message>Please reduce your request rate.</Message>'
                   b'<RequestId>FAKE0000REQUEST</RequestId></Error>')
            writer.write(self._headers("503 Service Unavailable", len(xml), "application/xml"))
            if not head_only:
                writer.write(xml)
            await writer.drain()
            return True
        if mode in ("chunked", "chunked-truncated"):
            writer.write(self._headers("200 OK", None, self.content_type,
                                       "Transfer-Encoding: chunked\r\n"))
            await writer.drain()
            if head_only:
                return True
            return await self._send_chunked(writer, rec, truncate=mode == "chunked-truncated")
        writer.write(self._headers("200 OK", len(self.body), self.content_type))
        await writer.drain()
        if head_only:
            return True
        if mode == "ok":
            writer.write(self.body)
            await writer.drain()
            rec.bytes_sent += len(self.body)
            return True
        if mode == "stall-mid-body":
            half = self.body[: max(1, len(self.body) // 2)]
            writer.write(half)
            await writer.drain()
            rec.bytes_sent += len(half)
            await self._wait_peer_close(reader, rec)
            return False
        if mode == "trickle":
            for i in range(0, len(self.body), self.trickle_bytes):
                piece = self.body[i:i + self.trickle_bytes]
                writer.write(piece)
                await writer.drain()
                rec.bytes_sent += len(piece)
                if i + self.trickle_bytes < len(self.body):
                    await asyncio.sleep(self.trickle_interval)
            return True
        raise AssertionError(mode)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="fault-injecting FAKE S3 backend")
    ap.add_argument("--mode", choices=MODES, default="ok")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--body-size", type=int, default=1 << 20)
    args = ap.parse_args(argv)
    srv = FaultServer(mode=args.mode, port=args.port, body=b"x" * args.body_size).start()
    print(f"fault server (FAKE) mode={args.mode} listening on {srv.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
