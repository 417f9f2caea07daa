"""Deterministic test data: large objects generated chunk by chunk (never held whole in
memory), their digests, and a tiny PNG made with the standard library only.

The big-object pattern: one 1 MiB block of seeded pseudo-random bytes; chunk i is that
block with its first 8 bytes replaced by i (big-endian). Any dropped, repeated, reordered
or shifted range of the stream changes the SHA-256, and `expected_slice` can rebuild any
byte range without generating the rest.
"""

from __future__ import annotations

import hashlib
import random
import struct
import zlib
from typing import Iterator

CHUNK = 1 << 20
MiB = 1 << 20
GiB = 1 << 30


def _base_block(seed: int) -> bytes:
    return random.Random(seed).randbytes(CHUNK)


def chunks(size: int, seed: int) -> Iterator[bytes]:
    base = _base_block(seed)
    index = 0
    for off in range(0, size, CHUNK):
        n = min(CHUNK, size - off)
        yield (struct.pack(">Q", index) + base[8:])[:n]
        index += 1


def sha256_of(size: int, seed: int) -> str:
    h = hashlib.sha256()
    for c in chunks(size, seed):
        h.update(c)
    return h.hexdigest()


def expected_slice(size: int, seed: int, start: int, end_inclusive: int) -> bytes:
    """Bytes [start, end_inclusive] of the object chunks(size, seed)."""
    end_inclusive = min(end_inclusive, size - 1)
    base = _base_block(seed)
    out = bytearray()
    pos = start
    while pos <= end_inclusive:
        index, off = divmod(pos, CHUNK)
        block = struct.pack(">Q", index) + base[8:]
        take = min(CHUNK - off, end_inclusive - pos + 1)
        out += block[off:off + take]
        pos += take
    return bytes(out)


def parts(size: int, seed: int, part_size: int) -> Iterator[bytes]:
    """The object cut into multipart-upload parts (part_size must be a multiple of CHUNK)."""
    assert part_size % CHUNK == 0
    buf = []
    have = 0
    for c in chunks(size, seed):
        buf.append(c)
        have += len(c)
        if have >= part_size:
            yield b"".join(buf)
            buf, have = [], 0
    if buf:
        yield b"".join(buf)


def png(width: int = 64, height: int = 64) -> bytes:
    """An RGB PNG (a colour gradient) built with zlib + struct; no imaging library."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type None
        for x in range(width):
            rows += bytes((x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), 160))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))
