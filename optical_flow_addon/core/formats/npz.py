"""NumPy ``.npz``: every product of a frame in one uncompressed zip (np.load reads it).

Uncompressed because zip-compressing float flow is slow (measured 15× the write time at 640×480)
and HDF5 and EXR already offer compressed files.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import FlowError
from ..products import PRODUCTS
from .common import FileSettings


def save_npz(path: Path, arrays: dict[str, np.ndarray], options: FileSettings) -> None:
    """``options`` has nothing for .npz: it is always uncompressed."""
    write_arrays(path, arrays)


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed .npz that ``np.load`` reads, the same bytes for the same arrays (np.savez stamps the time into
    the zip), so that a frame or a sequence baked again, or in chunks, gives the same file; each array is streamed
    into the zip, never copied whole."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(entry, "w", force_zip64=True) as file:
                np.lib.format.write_array(file, np.asanyarray(array), allow_pickle=False)


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
