"""KITTI flow PNG: 16-bit RGB with R = u·64 + 2¹⁵, G = v·64 + 2¹⁵ and B = 1 where the flow is valid.

As in the KITTI devkit, invalid pixels are stored as 0, 0, 0 and read back as flow 0. Values are
rounded to the nearest 1/64 px (the devkit truncates), so the stored flow is within 1/128 px. Flow
beyond the format's ±512 px cannot be stored and is written as invalid rather than clipped.

KITTI 2015's disparity PNG: 16-bit grey holding disparity·256, 0 where there is none. It holds 0 to 65535/256 ≈
255.996 px, rounded to the nearest 1/256 px; a valid disparity under half a step is stored as one step (1/256 px),
so that it does not read as missing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FlowError
from .common import read_bytes
from .png import decode_png, encode_png

SCALE, OFFSET = 64.0, 2.0 ** 15
COMPRESSION = 3  # zlib level without ISA-L: on 1280×720 flow, a third of level 6's time for files twice as large


@dataclass(frozen=True)
class Quantised:
    """Flow as the PNG stores it, worked out once for all the files of one flow (KITTI's flow_occ and
    flow_noc differ only in which pixels are valid)."""

    flow: np.ndarray  # as given, H×W×2
    pairs: np.ndarray  # H×W uint32: each pixel's R and G as the PNG's four big-endian bytes (anything where not fits)
    fits: np.ndarray  # H×W bool: see fits()


def quantise(flow: np.ndarray) -> Quantised:
    """The flow scaled, rounded and offset as the PNG stores it. In float32, exactly as in float64: multiplying
    by 64 and rounding are exact, and adding the even 2¹⁵ to a whole number keeps it whole and keeps rint's ties
    going to the even neighbour."""
    stored = np.multiply(flow, np.float32(SCALE), dtype=np.float32, order="C")
    np.rint(stored, out=stored)
    stored += np.float32(OFFSET)
    with np.errstate(invalid="ignore"):  # NaN and values beyond ±512 px cast to anything: they do not fit
        pairs = stored.astype(">u2").view(np.uint32)[..., 0]
    return Quantised(flow, pairs, fits(flow))


def fits(flow: np.ndarray) -> np.ndarray:
    """Where the flow is a number within the format's ±512 px, so that it can be stored: rint(64·u) + 2¹⁵ is in
    0..65535 exactly when −32768.5 ≤ 64·u < 32767.5 (rint takes the tie −32768.5 to the even −32768, and
    32767.5 to 32768), for u and v in float32. NaN compares False: it does not fit."""
    flow = np.asarray(flow, np.float32)
    inside = flow >= np.float32(-32768.5 / SCALE)
    inside &= flow < np.float32(32767.5 / SCALE)
    return np.ascontiguousarray(inside).view(np.uint16)[..., 0] == 0x0101  # both bytes of a pixel true: u and v fit


PIXEL = np.dtype([("uv", np.uint32), ("valid", ">u2")])  # the PNG's six bytes: R and G as one number, then B


def save_kitti(path: Path, flow: np.ndarray | Quantised, valid: np.ndarray) -> None:
    """The pixels are built as records of R and G together, then B: numpy writes whole fields of records
    several times faster than every third sample of an H×W×3 array."""
    quantised = flow if isinstance(flow, Quantised) else quantise(flow)
    valid = valid & quantised.fits
    pixels = np.empty(valid.shape, PIXEL)
    np.multiply(quantised.pairs, valid, out=pixels["uv"])  # 0, 0 where invalid
    pixels["valid"] = valid
    rgb = pixels.view(">u2").reshape(*valid.shape, 3)
    Path(path).write_bytes(encode_png(rgb, COMPRESSION, fast=True))


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


DISPARITY_SCALE = 256.0
LARGEST_DISPARITY = 65535 / DISPARITY_SCALE


def disparity_fits(disparity: np.ndarray) -> np.ndarray:
    """Where the disparity can be stored: a number from 0 to rounding to 65535 steps (NaN compares False)."""
    steps = np.rint(np.asarray(disparity, np.float64) * DISPARITY_SCALE)
    return (disparity >= 0) & (steps <= 65535)


def save_kitti_disparity(path: Path, disparity: np.ndarray, valid: np.ndarray) -> None:
    """KITTI's disparity PNG, 0 where not ``valid``. FlowError where a valid pixel does not fit (the layout refuses
    such a frame before writing any of its files)."""
    unfit = valid & ~disparity_fits(disparity)
    if unfit.any():
        raise FlowError(f"{path}: {int(unfit.sum())} valid disparity value(s) outside the 0 to "
                        f"{LARGEST_DISPARITY:.3f} px that KITTI's 16-bit disparity PNG holds.")
    steps = np.clip(np.rint(np.where(valid, disparity, 0) * DISPARITY_SCALE), 1, 65535)
    Path(path).write_bytes(encode_png(np.where(valid, steps, 0).astype(np.uint16), COMPRESSION, fast=True))


def load_kitti_disparity(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Disparity (px, 0 where none) and its validity mask, read as the KITTI devkit does."""
    pixels = decode_png(read_bytes(path), path)
    if pixels.dtype != np.uint16 or pixels.shape[2] != 1:
        raise FlowError(f"{path} is a PNG with {pixels.dtype.itemsize * 8}-bit samples and {pixels.shape[2]} "
                        "channel(s); KITTI's disparity is a 16-bit grey PNG.")
    steps = pixels[..., 0]
    return (steps / DISPARITY_SCALE).astype(np.float32), steps > 0
