"""Portable Float Map ``.pfm``: a text header (``PF`` three channels or ``Pf`` one, width height, scale
whose sign gives the byte order, negative = little-endian) and float32 rows from the bottom up.

Flow is written as ``PF`` with channels u, v, 0, the layout of the FlyingThings3D / Sintel-style
flow files most loaders expect (they drop the third channel). Masks go to their own ``Pf`` file, 1 = valid.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import file_buffer, write_uncached
from ..errors import FlowError
from .common import read_bytes
from .flo import fill_flow

# A PF pixel: u and v as one 8-byte word (as flo.fill_flow writes them), then the third channel, left 0.
PF_PIXEL = np.dtype({"names": ["uv"], "formats": [np.uint64], "offsets": [0], "itemsize": 12})


def save_pfm(path: Path, array: np.ndarray, valid: np.ndarray | None = None) -> None:
    """A float32 H×W×2 flow as ``PF`` (u, v, 0), and one channel (a bool H×W mask as 1, 0; disparity) as ``Pf``.
    With ``valid``, the flow is stored as unknown (1e10, as in .flo) where it is False. Rows are flipped while filling
    the one array written."""
    height, width = array.shape[:2]
    single = array.ndim == 2
    header = f"{'Pf' if single else 'PF'}\n{width} {height}\n-1.0\n".encode("ascii")
    data = file_buffer(header, (4 if single else 12) * height * width)
    if single:
        data[len(header):].view("<f4").reshape(height, width)[...] = array[::-1]
    else:
        fill_flow(data[len(header):].view(PF_PIXEL).reshape(height, width)["uv"][::-1], array, valid)
    write_uncached(path, data)


def read_pfm(path: Path) -> np.ndarray:
    """Every channel of a PFM (float32 H×W×1 or H×W×3), top row first: what it holds is for the caller to say."""
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
    if width <= 0 or height <= 0 or scale == 0:
        raise FlowError(f"{path} has an impossible PFM header: size {width}×{height}, scale {scale}.")
    pixels = lines[3]
    expected = width * height * channels * 4
    if len(pixels) != expected:
        raise FlowError(f"{path} holds {len(pixels)} bytes of pixels; a {width}×{height} PFM with {channels} "
                        f"channel(s) has {expected}.")
    return np.frombuffer(pixels, "<f4" if scale < 0 else ">f4").reshape(height, width, channels)[::-1]


def load_pfm(path: Path, mask: bool = False) -> np.ndarray:
    """Flow (float32 H×W×2, first two channels of a ``PF``) or a mask (bool H×W, a ``Pf`` not 0), top row first."""
    array = read_pfm(path)
    channels = array.shape[2]
    if mask != (channels == 1):
        raise FlowError(f"{path} has {channels} channel(s); a {'mask' if mask else 'flow'} PFM has {1 if mask else 3}.")
    return array[..., 0] != 0 if mask else array[..., :2].astype(np.float32)
