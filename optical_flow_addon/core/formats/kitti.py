"""KITTI flow PNG: 16-bit RGB with R = u·64 + 2¹⁵, G = v·64 + 2¹⁵ and B = 1 where the flow is valid.

As in the KITTI devkit, invalid pixels are stored as 0, 0, 0 and read back as flow 0. Values are
rounded to the nearest 1/64 px (the devkit truncates), so the stored flow is within 1/128 px. Flow
beyond the format's ±512 px cannot be stored and is written as invalid rather than clipped.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError
from .common import read_bytes
from .png import decode_png, encode_png

SCALE, OFFSET = 64.0, 2.0 ** 15
COMPRESSION = 3  # zlib level: on 1280×720 flow, levels 1–3 take a third of level 6's time for files twice as large


def _stored(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flow's 16-bit values and where they fit in 0..65535 (NaN compares False: does not fit).

    In float32, exactly as in float64: multiplying by 64 and rounding are exact, and adding the even 2¹⁵ to a
    whole number keeps it whole and keeps rint's ties going to the even neighbour."""
    stored = np.rint(np.asarray(flow, np.float32) * np.float32(SCALE))
    stored += np.float32(OFFSET)
    inside = (stored >= 0) & (stored <= 65535)
    return stored, inside[..., 0] & inside[..., 1]


def fits(flow: np.ndarray) -> np.ndarray:
    """Where the flow is a number within the format's ±512 px, so that it can be stored."""
    return _stored(flow)[1]


def save_kitti(path: Path, flow: np.ndarray, valid: np.ndarray) -> None:
    stored, storable = _stored(flow)
    valid = valid & storable
    pixels = np.zeros((*flow.shape[:2], 3), np.uint16)
    np.copyto(pixels[..., :2], stored, casting="unsafe", where=valid[..., None])
    pixels[..., 2] = valid
    Path(path).write_bytes(encode_png(pixels, COMPRESSION))


def load_kitti(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Flow (invalid pixels hold 0) and its validity mask, read as the KITTI devkit does."""
    pixels = decode_png(read_bytes(path), path)
    if pixels.dtype != np.uint16 or pixels.shape[2] != 3:
        raise FlowError(f"{path} is a PNG with {pixels.dtype.itemsize * 8}-bit samples "
                        f"and {pixels.shape[2]} channel(s); "
                        "KITTI flow is a 16-bit RGB PNG (a colour picture of flow cannot be read back as flow).")
    valid = pixels[..., 2] > 0
    flow = (pixels[..., :2].astype(np.float32) - np.float32(OFFSET)) / np.float32(SCALE)
    return np.where(valid[..., None], flow, np.float32(0)), valid
