"""MPI Sintel's depth (``.dpt``) and camera (``.cam``) files, as the Sintel SDK's ``sintel_io.py`` reads them.

Both start with the float32 tag 202021.25, whose little-endian bytes are ``PIEH`` as in ``.flo``.
``.dpt``: int32 width and height, then float32 depth row by row, top row first.
``.cam``: the 3×3 intrinsic matrix M then the 3×4 extrinsic matrix N as float64, row by row, so that
``x = M N X`` takes homogeneous world points X to homogeneous pixels x (world-to-camera, OpenCV axes).
All little-endian.

The stereo release's disparity PNG (``disparity_read`` in the SDK): 8-bit RGB with d = R·4 + G/2⁶ + B/2¹⁴ px, so
that R, G, B are the big-endian bytes of the whole number d·2¹⁴. It holds 0 to (2²⁴ − 1)/2¹⁴ ≈ 1023.99994 px in steps
of 1/16384 px; values are rounded to the nearest step (the SDK's writer truncates), so within 1/32768 px.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..atomic import file_buffer, write_uncached
from ..errors import FlowError
from .common import read_bytes
from .flo import TAG
from .png import decode_png, encode_png

DISPARITY_STEPS = 2.0 ** 14  # steps per pixel of Sintel's disparity PNG: its blue channel counts 1/16384 px
LARGEST_STEP = 2 ** 24 - 1  # three bytes


def save_dpt(path: Path, depth: np.ndarray) -> None:
    height, width = depth.shape
    data = file_buffer(TAG + struct.pack("<ii", width, height), 4 * height * width)
    data[12:].view("<f4").reshape(height, width)[...] = depth
    write_uncached(path, data)


def save_cam(path: Path, intrinsics: np.ndarray, world_to_camera: np.ndarray) -> None:
    """``intrinsics`` 3×3, ``world_to_camera`` 3×4 (rotation and translation, OpenCV camera axes)."""
    with open(path, "wb") as file:
        file.write(TAG)
        file.write(np.ascontiguousarray(intrinsics, "<f8").tobytes())
        file.write(np.ascontiguousarray(world_to_camera[:3, :4], "<f8").tobytes())


def disparity_fits(disparity: np.ndarray) -> np.ndarray:
    """Where the disparity can be stored: a number that rounds to 0 … 2²⁴ − 1 steps (NaN compares False)."""
    steps = np.rint(np.asarray(disparity, np.float64) * DISPARITY_STEPS)
    return (steps >= 0) & (steps <= LARGEST_STEP)


def save_disparity(path: Path, disparity: np.ndarray) -> None:
    """Sintel's RGB disparity PNG of float disparity (px). FlowError where a pixel does not fit (the layout
    refuses such a frame before writing any of its files)."""
    fits = disparity_fits(disparity)
    if not fits.all():
        raise FlowError(f"{path}: {int((~fits).sum())} disparity value(s) outside the 0 to "
                        f"{LARGEST_STEP / DISPARITY_STEPS:.5f} px that Sintel's disparity PNG holds.")
    steps = np.rint(np.asarray(disparity, np.float64) * DISPARITY_STEPS).astype(">u4")
    rgb = steps.view(np.uint8).reshape(*steps.shape, 4)[..., 1:]  # the three low bytes, high first: R, G, B
    Path(path).write_bytes(encode_png(np.ascontiguousarray(rgb), 3, fast=True))


def load_disparity(path: Path) -> np.ndarray:
    """Float32 disparity (px) of Sintel's RGB disparity PNG, as the SDK's ``disparity_read`` decodes it."""
    pixels = decode_png(read_bytes(path), path)
    if pixels.dtype != np.uint8 or pixels.shape[2] != 3:
        raise FlowError(f"{path} is a PNG with {pixels.dtype.itemsize * 8}-bit samples and {pixels.shape[2]} "
                        "channel(s); Sintel's disparity is an 8-bit RGB PNG.")
    r, g, b = pixels.astype(np.float64).transpose(2, 0, 1)
    return (r * 4 + g / 2 ** 6 + b / 2 ** 14).astype(np.float32)
