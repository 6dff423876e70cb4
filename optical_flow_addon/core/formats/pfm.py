"""Portable Float Map ``.pfm``: a text header (``PF`` three channels or ``Pf`` one, width height, scale
whose sign gives the byte order, negative = little-endian) and float32 rows from the bottom up.

Flow is written as ``PF`` with channels u, v, 0, the layout of the FlyingThings3D / Sintel-style
flow files most loaders expect (they drop the third channel). Masks go to their own ``Pf`` file, 1 = valid.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError
from .common import read_bytes


def save_pfm(path: Path, array: np.ndarray) -> None:
    """A float32 H×W×2 flow as ``PF`` (u, v, 0) or a bool H×W mask as ``Pf`` (1, 0)."""
    if array.dtype == bool:
        kind, data = b"Pf", array.astype("<f4")
    else:
        kind, data = b"PF", np.dstack([array, np.zeros(array.shape[:2], np.float32)]).astype("<f4")
    height, width = array.shape[:2]
    with open(path, "wb") as file:
        file.write(kind + f"\n{width} {height}\n-1.0\n".encode("ascii"))
        file.write(np.ascontiguousarray(data[::-1]).tobytes())


def load_pfm(path: Path, mask: bool = False) -> np.ndarray:
    """Flow (float32 H×W×2, first two channels of a ``PF``) or a mask (bool H×W, a ``Pf`` not 0), top row first."""
    data = read_bytes(path)
    lines = data.split(b"\n", 3)
    if lines[0].rstrip() not in (b"PF", b"Pf"):
        raise FlowError(f"{path} is not a PFM file: it starts with {lines[0][:8]!r}, expected a line b'PF' or b'Pf'.")
    if len(lines) < 4:
        raise FlowError(f"{path} is truncated: its PFM header (type, width height, scale) is incomplete.")
    try:
        width, height = (int(n) for n in lines[1].split())
        scale = float(lines[2])
    except ValueError:
        raise FlowError(f"{path} has a broken PFM header: expected 'width height' and a scale, found "
                        f"{lines[1][:40]!r} and {lines[2][:40]!r}.") from None
    channels = 3 if lines[0].rstrip() == b"PF" else 1
    if mask != (channels == 1):
        raise FlowError(f"{path} has {channels} channel(s); a {'mask' if mask else 'flow'} PFM has {1 if mask else 3}.")
    if width <= 0 or height <= 0 or scale == 0:
        raise FlowError(f"{path} has an impossible PFM header: size {width}×{height}, scale {scale}.")
    pixels = lines[3]
    expected = width * height * channels * 4
    if len(pixels) != expected:
        raise FlowError(f"{path} holds {len(pixels)} bytes of pixels; a {width}×{height} PFM with {channels} "
                        f"channel(s) has {expected}.")
    array = np.frombuffer(pixels, "<f4" if scale < 0 else ">f4").reshape(height, width, channels)[::-1]
    return array[..., 0] != 0 if mask else array[..., :2].astype(np.float32)
