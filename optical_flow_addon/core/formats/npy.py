"""NumPy ``.npy``: one array per file, as BlenderProc writes flow and masks."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError


def save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as file:
        np.save(file, array)


def load_npy(path: Path, mask: bool = False) -> np.ndarray:
    """The array, after checking that the header's shape and dtype match the bytes that follow."""
    with open(path, "rb") as file:
        version = np.lib.format.read_magic(file)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(file)
        if dtype.hasobject:
            raise FlowError(f"{path} holds Python objects ({dtype}); flow is float32 and masks are bool.")
        expected = int(np.prod(shape)) * dtype.itemsize
        present = Path(path).stat().st_size - file.tell()
        if present != expected:
            raise FlowError(f"{path} is truncated or padded: its header says {dtype} {shape} ({expected} bytes) "
                            f"but {present} bytes follow.")
        file.seek(0)
        return np.load(file, allow_pickle=False)
