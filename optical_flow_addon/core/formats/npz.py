"""NumPy ``.npz``: every product of a frame in one uncompressed zip (np.load reads it).

Uncompressed because zip-compressing float flow is slow (measured 15× the write time at 640×480)
and HDF5 and EXR already offer compressed files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError
from ..products import PRODUCTS
from .common import FileSettings


def save_npz(path: Path, arrays: dict[str, np.ndarray], options: FileSettings) -> None:
    """``options`` has nothing for .npz: it is always uncompressed."""
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as file:
        if file.read(4) != b"PK\x03\x04":
            raise FlowError(f"{path} is not a .npz file (it does not start with the zip signature PK).")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in PRODUCTS if name in archive.files}
        if not arrays:
            raise FlowError(f"{path} holds no forward_flow or backward_flow "
                            f"(it holds: {', '.join(archive.files) or 'nothing'}).")
    return arrays
