"""A small PNG codec for 8- and 16-bit pictures (zlib + struct + numpy).

None of the add-on's dependencies writes 16-bit RGB PNG (KITTI flow), and Pillow cannot either, so this
module keeps it to the few lines the format needs. Writing uses the Sub filter on every row (on flow it
packs smaller and faster than None, Up or Paeth); reading undoes all five PNG filters, so files from
libpng, OpenCV or the KITTI devkit read as well. Reading is plain numpy, as Blender ships nothing else:
no PNG library on PyPI reads 16-bit RGB into numpy without a compiled wheel per platform (OpenCV) or
pure-Python loops (pypng). Writing can deflate with ISA-L (the optional ``isal`` module, bundled in the
extension zips) instead of zlib: on flow, several times faster for files somewhat larger.
"""
from __future__ import annotations

import functools
import struct
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import FlowError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type → samples per pixel (grey, RGB, grey+alpha, RGBA)
SUB, UP, AVERAGE, PAETH = 1, 2, 3, 4  # PNG row filters


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def isal_zlib() -> ModuleType | None:
    """ISA-L's deflate, or None where the isal module is not installed (zlib does the work then)."""
    try:
        from isal import isal_zlib as module
    except ImportError:
        return None
    return module


def encode_png(pixels: np.ndarray, level: int = 6, strategy: int = zlib.Z_DEFAULT_STRATEGY,
               fast: bool = False) -> bytes:
    """PNG bytes of an H×W (grey), H×W×3 (RGB) or H×W×4 (RGBA) uint8 or uint16 array, compressed with zlib's
    ``level`` and ``strategy`` (``zlib.Z_RLE`` packs masks and noisy images smaller and faster than the default).
    ``fast``: with ISA-L's level 1 instead where it is installed."""
    shape_ok = pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (3, 4))
    if pixels.dtype.kind != "u" or pixels.dtype.itemsize > 2 or not shape_ok:  # uint8, uint16 of either byte order
        raise ValueError(f"PNG needs H×W, H×W×3 or H×W×4 uint8/uint16 pixels, got {pixels.dtype} {pixels.shape}")
    height, width = pixels.shape[:2]
    colour_type = {2: 0, 3: 2, 4: 6}[pixels.ndim if pixels.ndim == 2 else pixels.shape[2]]
    depth = pixels.dtype.itemsize * 8
    raw = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder(">")).view(np.uint8)
    bpp = raw.size // max(height * width, 1)  # bytes per pixel
    x = raw.reshape(height, width * bpp)
    rows = np.empty((height, 1 + width * bpp), np.uint8)  # each row: its filter byte, then the filtered bytes
    rows[:, 0] = SUB
    rows[:, 1:1 + bpp] = x[:, :bpp]
    np.subtract(x[:, bpp:], x[:, :-bpp], out=rows[:, 1 + bpp:])  # uint8 wraps mod 256, as Sub's bytes do
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    if fast and (isal := isal_zlib()) is not None:
        data = isal.compress(rows, 1)
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 8, strategy)
        data = compressor.compress(rows) + compressor.flush()
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


METADATA = {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"}  # chunks of text, time and Exif: no pixels, no colours


def without_metadata(data: bytes, path: Path) -> bytes:
    """The PNG ``data`` without its text, time and Exif chunks, every other chunk byte for byte. Blender writes
    the render's date and time there, so two renders of one frame differ only in those chunks."""
    if not data.startswith(SIGNATURE):
        raise FlowError(f"{path} is not a PNG file (it does not start with the PNG signature).")
    kept, position, view = [SIGNATURE], len(SIGNATURE), memoryview(data)  # slices of the view copy nothing
    while position + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if kind not in METADATA:
            kept.append(view[position:end])
        position = end
    if position != len(data):
        raise FlowError(f"{path} is truncated: a PNG chunk is cut off at byte {min(position, len(data))}.")
    return b"".join(kept)


@functools.cache
def _predictions() -> np.ndarray:
    """What Sub, Up, Average and Paeth predict, less the upper-left byte c, for every a − c and b − c.

    All four predictors depend on the neighbours' differences only (Average: ⌊(a + b) / 2⌋ = c + ⌊(a − c + b − c) / 2⌋),
    so one table look-up replaces a dozen numpy calls per decoding step."""
    left, up = np.meshgrid(*[np.arange(-255, 256, dtype=np.int16)] * 2, indexing="ij")  # a − c, b − c
    near_left, near_up, near_corner = np.abs(up), np.abs(left), np.abs(left + up)  # |p − a|, |p − b|, |p − c|
    paeth = np.where((near_left <= near_up) & (near_left <= near_corner), left, np.where(near_up <= near_corner, up, 0))
    return np.stack([left, up, (left + up) >> 1, paeth]).astype(np.int32).reshape(-1)


def _diagonals(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """A writable height×width view of a T×height×… array: element (r, j) is array[r + j, r]."""
    strides = (array.strides[0] + array.strides[1], array.strides[0], *array.strides[2:])
    return np.lib.stride_tricks.as_strided(array, (height, width, *array.shape[2:]), strides)


def _unfilter_sums(filtered: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Undo None, Sub and Up rows at once: Sub is a running sum along the row, Up one down the column."""
    out = filtered.copy()
    sub = kinds == SUB
    out[sub] = np.cumsum(filtered[sub], axis=1, dtype=np.uint8)  # uint8 sums wrap as PNG's bytes do
    up = kinds == UP
    if up.any():  # an Up row adds the rows above it, back to the last other row (or the top)
        total = np.cumsum(out, axis=0, dtype=np.uint8)
        above = np.concatenate([np.zeros_like(total[:1]), total[:-1]])
        start = np.maximum.accumulate(np.where(up, 0, np.arange(len(kinds))))
        out = total - above[start]
    return out


def _unfilter_diagonals(filtered: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Undo rows of any filter. A byte waits for its left, upper and upper-left neighbours, so all the
    pixels of one anti-diagonal are decoded together: H + W − 1 numpy steps, on arrays skewed so that
    each step reads and writes plain slices."""
    height, width, bpp = filtered.shape
    flat = filtered.copy()
    none = kinds == 0
    flat[none, 1:] = np.diff(filtered[none], axis=1)  # a None row decodes as the Sub row of these bytes
    span = 511  # a − c and b − c lie in −255…255
    table_start = ((np.maximum(kinds, SUB).astype(np.int32) - SUB) * span + 255) * span + 255
    base = np.repeat(table_start[:, None], bpp, axis=1)
    steps = height + width - 1
    skewed = np.zeros((steps, height, bpp), np.uint8)
    _diagonals(skewed, height, width)[...] = flat  # skewed[t, r]: pixel (r, t − r)
    decoded = np.zeros((steps + 2, height + 1, bpp), np.int32)  # pixel (r, t − r) at [t + 2, r + 1]; zeros around
    index, prediction = np.empty((height, bpp), np.int32), np.empty((height, bpp), np.int32)
    predictions = _predictions()
    for t in range(steps):
        top, bottom = max(0, t - width + 1), min(height, t + 1)
        left, up, corner = decoded[t + 1, top + 1:bottom + 1], decoded[t + 1, top:bottom], decoded[t, top:bottom]
        i = np.subtract(left, corner, out=index[:bottom - top])
        i *= span
        i += up
        i -= corner
        i += base[top:bottom]
        p = predictions.take(i, out=prediction[:bottom - top])
        p += corner
        p += skewed[t, top:bottom]
        np.bitwise_and(p, 0xFF, out=decoded[t + 2, top + 1:bottom + 1])
    return _diagonals(decoded[2:, 1:], height, width).astype(np.uint8)


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
    filtered = rows[:, 1:].reshape(height, width, channels * sample_bytes)
    pixels = (_unfilter_sums if kinds.max() < AVERAGE else _unfilter_diagonals)(filtered, kinds)
    dtype = np.dtype(">u2") if depth == 16 else np.dtype(np.uint8)
    samples = pixels.reshape(height, stride).view(dtype).reshape(height, width, channels)
    return samples.astype(dtype.newbyteorder("="))

