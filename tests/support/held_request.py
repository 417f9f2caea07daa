"""A GET held in flight across an event (a SIGTERM, a reload): the head is read at once, the
body only after `go` is set, and every byte is checked against a SHA-256. Shared by the
shutdown tests (tests/integration/test_operations.py) and load/reload_shutdown.py."""

from __future__ import annotations

import asyncio
import hashlib
import time

LOOPBACK = "127.0.0.1"


async def held_get(port: int, target: str, want_sha256: str, go: asyncio.Event, rec: dict,
                   slow_reader: bool = False, host: str = LOOPBACK) -> None:
    """Fills `rec`: t_start, head (True once the head arrived), t_head, status, ok (200 and the
    right bytes), error (why not), t_done. `slow_reader`: 64 KiB every 10 ms. Never raises."""
    rec["t_start"] = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        rec["head"] = True
        rec["t_head"] = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        rec["status"] = int(lines[0].split(" ")[1])
        n = next(int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length"))
        await go.wait()
        h = hashlib.sha256()
        size = 0
        while size < n:
            piece = await reader.read(65536)
            if not piece:
                raise EOFError(f"closed after {size} of {n} bytes")
            h.update(piece)
            size += len(piece)
            if slow_reader:
                await asyncio.sleep(0.01)
        rec["ok"] = rec["status"] == 200 and h.hexdigest() == want_sha256
        if not rec["ok"]:
            rec["error"] = f"status {rec['status']}, sha256 mismatch after {size} bytes"
        writer.close()
    except Exception as e:  # noqa: BLE001 - every failure is reported through rec
        rec["error"] = repr(e)
    rec["t_done"] = time.monotonic()
