"""A small PNG codec for 8- and 16-bit pictures (zlib + struct + numpy).

None of the add-on's dependencies writes 16-bit RGB PNG (KITTI flow), and Pillow cannot either, so this
module keeps it to the few lines the format needs. Writing uses the Sub filter on every row (on flow it
packs smaller and faster than None, Up or Paeth); reading undoes all five PNG filters, so files from
libpng, OpenCV or the KITTI devkit read as well.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import FlowError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type → samples per pixel (grey, RGB, grey+alpha, RGBA)
SUB, PAETH = 1, 4


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The PNG Paeth predictor: whichever of left, above, above-left is closest to left + above − above-left."""
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def encode_png(pixels: np.ndarray, level: int = 6) -> bytes:
    """PNG bytes of an H×W (grey), H×W×3 (RGB) or H×W×4 (RGBA) uint8 or uint16 array."""
    if pixels.dtype not in (np.uint8, np.uint16) or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
        raise ValueError(f"PNG needs H×W, H×W×3 or H×W×4 uint8/uint16 pixels, got {pixels.dtype} {pixels.shape}")
    height, width = pixels.shape[:2]
    colour_type = {2: 0, 3: 2, 4: 6}[pixels.ndim if pixels.ndim == 2 else pixels.shape[2]]
    depth = pixels.dtype.itemsize * 8
    raw = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder(">")).view(np.uint8)
    bpp = raw.size // max(height * width, 1)  # bytes per pixel
    x = raw.reshape(height, width, bpp)
    filtered = np.diff(x, axis=1, prepend=np.uint8(0)).reshape(height, width * bpp)  # uint8 wraps mod 256
    rows = np.hstack([np.full((height, 1), SUB, np.uint8), filtered])
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + _chunk(b"IEND", b"")


def _unfilter(filtered: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Undo the row filters of H×W×bpp bytes. A byte depends on its left, upper and upper-left
    neighbours only, so every pixel on one anti-diagonal is decoded at once: H + W numpy steps."""
    height, width, _ = filtered.shape
    if not kinds.any():
        return filtered
    x = filtered.astype(np.int32)
    out = np.zeros((height + 1, width + 1, x.shape[2]), np.int32)  # zero row above, zero column left
    for diagonal in range(height + width - 1):
        rows = np.arange(max(0, diagonal - width + 1), min(height, diagonal + 1))
        cols = diagonal - rows
        a, b, c = out[rows + 1, cols], out[rows, cols + 1], out[rows, cols]
        predictor = np.choose(kinds[rows][:, None], [np.zeros_like(a), a, b, (a + b) // 2, _paeth(a, b, c)])
        out[rows + 1, cols + 1] = (x[rows, cols] + predictor) & 0xFF
    return out[1:, 1:].astype(np.uint8)


def decode_png(data: bytes, path: Path) -> np.ndarray:
    """H×W×C uint8 or uint16 pixels of a non-interlaced 8/16-bit grey, grey+alpha, RGB or RGBA PNG."""
    if not data.startswith(SIGNATURE):
        raise FlowError(f"{path} is not a PNG file (it does not start with the PNG signature).")
    chunks, position = {}, len(SIGNATURE)
    while position < len(data):
        if position + 12 > len(data):
            raise FlowError(f"{path} is truncated: a PNG chunk header is cut off at byte {position}.")
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if len(body) < length or position + 12 + length > len(data):
            raise FlowError(f"{path} is truncated: its {kind.decode('latin-1')} chunk is cut off.")
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        if crc != zlib.crc32(kind + body):
            raise FlowError(f"{path} is corrupt: the checksum of its {kind.decode('latin-1')} chunk does not match.")
        chunks.setdefault(kind, []).append(body)
        position += 12 + length
        if kind == b"IEND":
            break
    if b"IHDR" not in chunks or b"IEND" not in chunks or len(chunks[b"IHDR"][0]) != 13:
        raise FlowError(f"{path} is truncated or corrupt: it lacks a PNG header (IHDR) or end (IEND) chunk.")
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][0])
    if colour_type not in CHANNELS or depth not in (8, 16) or interlace:
        raise FlowError(f"{path} is a PNG with colour type {colour_type}, bit depth {depth}"
                        f"{', interlaced' if interlace else ''}; only non-interlaced 8/16-bit grey or RGB(A) is read.")
    if not 0 < width * height <= 1 << 28:
        raise FlowError(f"{path} has an impossible PNG size {width}×{height}.")
    channels, sample_bytes = CHANNELS[colour_type], depth // 8
    stride = width * channels * sample_bytes
    expected = height * (stride + 1)
    try:  # never unpack more than the header promises, however small the file
        raw = zlib.decompressobj().decompress(b"".join(chunks.get(b"IDAT", [])), expected + 1)
    except zlib.error as error:
        raise FlowError(f"{path} is corrupt: its compressed image data cannot be unpacked ({error}).") from error
    if len(raw) != expected:
        raise FlowError(f"{path} holds {'more than ' if len(raw) > expected else ''}{len(raw)} bytes of image data; "
                        f"a {width}×{height} PNG needs {expected}.")
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    kinds = rows[:, 0]
    if kinds.max() > PAETH:
        raise FlowError(f"{path} is corrupt: row {int(np.argmax(kinds > PAETH))} has unknown PNG filter {kinds.max()}.")
    pixels = _unfilter(rows[:, 1:].reshape(height, width, channels * sample_bytes), kinds)
    dtype = np.dtype(">u2") if depth == 16 else np.dtype(np.uint8)
    samples = pixels.reshape(height, stride).view(dtype).reshape(height, width, channels)
    return samples.astype(dtype.newbyteorder("="))

