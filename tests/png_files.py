"""PNG files made and read by other programs, to check the core's own PNG codec against.

pypng (a pure-Python library) writes every colour type and bit depth and reads every filter, but
writes the None filter only; Debian's optipng (libpng) rewrites a file with the filter asked for."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np
import png
import pytest

LIBPNG_CHOICE = 5  # optipng's -f5: libpng picks a filter for each row, as OpenCV, Blender and the KITTI devkit write
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels → PNG colour type: grey, grey + alpha, RGB, RGBA


def read(data: bytes) -> np.ndarray:
    """H×W×C pixels, as pypng reads them."""
    width, height, rows, info = png.Reader(bytes=data).read()
    dtype = np.uint16 if info["bitdepth"] == 16 else np.uint8
    return np.array([np.asarray(row, dtype) for row in rows]).reshape(height, width, info["planes"])


def write(pixels: np.ndarray) -> bytes:
    """pypng's PNG (None filter on every row) of H×W×C uint8/uint16 pixels, C = 1…4."""
    height, width, channels = pixels.shape
    writer = png.Writer(width, height, greyscale=channels < 3, alpha=channels in (2, 4),
                        bitdepth=pixels.dtype.itemsize * 8)
    file = io.BytesIO()
    writer.write(file, pixels.reshape(height, width * channels))
    return file.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    file = io.BytesIO()
    png.write_chunk(file, kind, body)
    return file.getvalue()


def row_filters(data: bytes) -> list[int]:
    """The filter type byte of every row of a non-interlaced PNG."""
    chunks = list(png.Reader(bytes=data).chunks())
    width, _, depth, colour_type = np.frombuffer(dict(chunks)[b"IHDR"][:10], ">u4,>u4,u1,u1")[0]
    channels = {value: key for key, value in COLOUR_TYPES.items()}[colour_type]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    return list(raw[::int(width) * channels * int(depth) // 8 + 1])


def with_filter(data: bytes, kind: int) -> bytes:
    """The same PNG rewritten by libpng (optipng) with filter ``kind`` on every row, or LIBPNG_CHOICE."""
    optipng = shutil.which("optipng")
    if optipng is None:
        message = "optipng is not installed (Debian package optipng; tools/test.sh installs it)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.png", Path(folder) / "out.png"
        source.write_bytes(data)
        subprocess.run([optipng, "-quiet", "-force", "-nx", "-o1", f"-f{kind}", "-out", str(target), str(source)],
                       check=True)  # -nx: keep the bit depth and colour type
        return target.read_bytes()
