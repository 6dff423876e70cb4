"""MPI Sintel's depth (``.dpt``) and camera (``.cam``) files, as the Sintel SDK's ``sintel_io.py`` reads them.

Both start with the float32 tag 202021.25, whose little-endian bytes are ``PIEH`` as in ``.flo``.
``.dpt``: int32 width and height, then float32 depth row by row, top row first.
``.cam``: the 3×3 intrinsic matrix M then the 3×4 extrinsic matrix N as float64, row by row, so that
``x = M N X`` takes homogeneous world points X to homogeneous pixels x (world-to-camera, OpenCV axes).
All little-endian.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..atomic import file_buffer, write_uncached
from .flo import TAG


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
