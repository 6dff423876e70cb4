"""Middlebury ``.flo``: tag ``PIEH`` (202021.25 as float32), int32 width and height, then float32 u, v
interleaved row by row, little-endian. Unknown flow is stored as 1e10; readers treat any component
above 1e9 (``UNKNOWN_FLOW_THRESH`` in the Middlebury code) or NaN as unknown."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..atomic import file_buffer, write_uncached
from ..errors import FlowError
from .common import read_bytes

TAG = b"PIEH"
UNKNOWN_FLOW = 1e10
UNKNOWN_FLOW_THRESHOLD = 1e9


def pixel_words(flow: np.ndarray) -> np.ndarray:
    """H×W×2 flow as H×W little-endian float32 pairs, each (u, v) one 8-byte word: numpy picks or copies
    whole pixels many times faster than it applies a mask broadcast over their two components."""
    return np.ascontiguousarray(flow, "<f4").view(np.uint64)[..., 0]


UNKNOWN_PIXEL = pixel_words(np.full((1, 1, 2), UNKNOWN_FLOW, np.float32))[0, 0]


def fill_flow(words: np.ndarray, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Copy ``flow`` into ``words`` (H×W 8-byte words, a view of a file's bytes), each pixel unknown (1e10 in
    both components) where ``valid`` is False."""
    np.copyto(words, pixel_words(flow))
    if valid is not None:
        np.copyto(words, UNKNOWN_PIXEL, where=~valid)


def save_flo(path: Path, flow: np.ndarray, valid: np.ndarray) -> None:
    height, width = flow.shape[:2]
    data = file_buffer(TAG + struct.pack("<ii", width, height), 8 * height * width)
    fill_flow(data[12:].view(np.uint64).reshape(height, width), flow, valid)
    write_uncached(path, data)


def known(flow: np.ndarray) -> np.ndarray:
    """Where flow holds a motion, not Middlebury's unknown value (1e10; NaN compares False: unknown too)."""
    return np.all(np.abs(flow) <= UNKNOWN_FLOW_THRESHOLD, axis=-1)


def load_flo(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Flow (unknown pixels hold 0) and its validity mask."""
    data = read_bytes(path)
    if not data.startswith(TAG) and not TAG.startswith(data):
        raise FlowError(f"{path} is not a Middlebury .flo file: it starts with {data[:4]!r}, expected {TAG!r}.")
    if len(data) < 12:
        raise FlowError(f"{path} is truncated: {len(data)} bytes, too short for the .flo header (12 bytes).")
    width, height = struct.unpack("<ii", data[4:12])
    if width <= 0 or height <= 0:
        raise FlowError(f"{path} has an impossible .flo size {width}×{height}.")
    expected = 12 + 8 * width * height
    if len(data) != expected:
        raise FlowError(f"{path} holds {len(data)} bytes; a {width}×{height} .flo file has {expected}.")
    flow = np.frombuffer(data, "<f4", offset=12).reshape(height, width, 2).astype(np.float32)
    valid = known(flow)
    return np.where(valid[..., None], flow, np.float32(0)), valid
