"""A PNG encoder and decoder written straight from the PNG specification, one byte at a time.

Slow and independent of ``core.formats.png``: it checks that module's bytes and feeds it rows
with every filter type."""
from __future__ import annotations

import struct
import zlib

import numpy as np

COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels → colour type (grey, RGB, RGBA)


def predict(kind: int, a: int, b: int, c: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return a
    if kind == 2:
        return b
    if kind == 3:
        return (a + b) // 2
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode(pixels: np.ndarray, kinds: list[int]) -> bytes:
    """PNG of H×W×C uint8/uint16 pixels; row r uses filter kinds[r % len(kinds)]."""
    height, width, channels = pixels.shape
    depth = pixels.dtype.itemsize * 8
    bpp = channels * pixels.dtype.itemsize
    rows = [bytes(np.ascontiguousarray(row, dtype=pixels.dtype.newbyteorder(">")).tobytes()) for row in pixels]
    out, previous = bytearray(), bytes(len(rows[0]))
    for r, row in enumerate(rows):
        kind = kinds[r % len(kinds)]
        out.append(kind)
        for i, value in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            c = previous[i - bpp] if i >= bpp else 0
            out.append((value - predict(kind, a, previous[i], c)) & 0xFF)
        previous = row
    header = struct.pack(">IIBBBBB", width, height, depth, COLOUR_TYPES[channels], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(out))) + chunk(b"IEND", b"")


def decode(data: bytes) -> tuple[np.ndarray, list[int]]:
    """Pixels (H×W×C) and the filter of each row of a non-interlaced 8/16-bit PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        assert struct.unpack(">I", data[position + 8 + length:position + 12 + length])[0] == zlib.crc32(kind + body)
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    bpp = channels * depth // 8
    raw, out, kinds, previous = zlib.decompress(idat), bytearray(), [], bytearray(width * bpp)
    for r in range(height):
        start = r * (width * bpp + 1)
        kind, row = raw[start], bytearray(raw[start + 1:start + 1 + width * bpp])
        for i in range(len(row)):
            a = row[i - bpp] if i >= bpp else 0
            c = previous[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + predict(kind, a, previous[i], c)) & 0xFF
        kinds.append(kind)
        out += row
        previous = row
    dtype = ">u2" if depth == 16 else "u1"
    return np.frombuffer(bytes(out), dtype).reshape(height, width, channels).astype(dtype.replace(">", "=")), kinds
