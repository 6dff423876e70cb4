"""Spring's HDF5 truth files: ``.flo5`` (dataset ``flow``, float32 H×W×2) and ``.dsp5`` (dataset ``disparity``,
float32 H×W), NaN where there is no truth.

That is what Spring's own readers (``flow_IO.readFlo5Flow``, ``readDsp5Disp``) and ptlflow's ``SpringDataset``
read: the one dataset, as it is; ptlflow turns NaN into invalid pixels. Spring gzips its files; here gzip level 1
with the byte shuffle (HDF5's own filters, which every reader has) keeps Spring's 2×-resolution truth small for
less of the processor time Cycles needs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dependencies import LazyModule
from ..errors import FlowError
from .common import reading
from .hdf5 import HDF5_COMPRESSIONS

h5py = LazyModule("h5py")

FLOW = "flow"
DISPARITY = "disparity"


def with_unknown(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``values`` as float32 with NaN, Spring's "no truth", where ``valid`` is false."""
    known = np.asarray(valid, bool)
    return np.where(known[..., None] if values.ndim == 3 else known, values, np.nan).astype(np.float32)


def without_unknown(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` with 0 where Spring has no truth (NaN), and where it has: the inverse of ``with_unknown``."""
    valid = np.isfinite(values).all(axis=-1) if values.ndim == 3 else np.isfinite(values)
    return np.where(valid[..., None] if values.ndim == 3 else valid, values, 0).astype(np.float32), valid


def save_truth(path: Path, dataset: str, values: np.ndarray) -> None:
    with h5py.File(path, "w") as file:
        file.create_dataset(dataset, data=np.asarray(values, np.float32), **HDF5_COMPRESSIONS["GZIP"])


def save_flo5(path: Path, flow: np.ndarray, valid: np.ndarray) -> None:
    save_truth(path, FLOW, with_unknown(flow, valid))


def save_dsp5(path: Path, disparity: np.ndarray, valid: np.ndarray) -> None:
    save_truth(path, DISPARITY, with_unknown(disparity, valid))


PER_PIXEL = {FLOW: (2,), DISPARITY: ()}  # each dataset's values per pixel, after its height and width


def truth_dataset(file, path: Path, dataset: str):
    """The file's ``dataset``, if it has Spring's shape; else a FlowError naming the file and what it holds."""
    found = file.get(dataset)
    if not isinstance(found, h5py.Dataset):
        raise FlowError(f"{path} has no {dataset!r} dataset (it holds: {', '.join(file) or 'nothing'}).")
    per_pixel = PER_PIXEL[dataset]
    if found.ndim != 2 + len(per_pixel) or found.shape[2:] != per_pixel:
        raise FlowError(f"{path}: its {dataset!r} dataset is {'×'.join(map(str, found.shape)) or 'a single value'}; "
                        f"Spring's is {'×'.join(['H', 'W', *map(str, per_pixel)])}.")
    return found


def load_truth(path: Path, dataset: str) -> np.ndarray:
    with reading(path, "Spring HDF5"), h5py.File(path, "r") as file:
        return truth_dataset(file, path, dataset)[()]


def load_flo5(path: Path) -> np.ndarray:
    return load_truth(path, FLOW)


def load_dsp5(path: Path) -> np.ndarray:
    return load_truth(path, DISPARITY)


def truth_size(path: Path) -> tuple[int, int]:
    """Height and width of a ``.flo5``'s or ``.dsp5``'s truth, read from its header (resuming a bake checks the
    files it keeps this way). FlowError if it is damaged or holds neither dataset."""
    dataset = FLOW if path.suffix == ".flo5" else DISPARITY
    with reading(path, "Spring HDF5"), h5py.File(path, "r") as file:
        return truth_dataset(file, path, dataset).shape[:2]
