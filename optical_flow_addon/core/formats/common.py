"""What every flow reader shares: errors that name the file, and checks of the arrays read."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import FlowError

FLOW_NAMES = ("forward_flow", "backward_flow")
DATASET_NAMES = ("forward_flow", "forward_flow_valid", "backward_flow", "backward_flow_valid")
# Occlusion masks and scene flow: in the .npy, .npz and HDF5 files.
MOTION_NAMES = ("forward_flow_occluded", "forward_scene_flow", "backward_flow_occluded", "backward_scene_flow")
ALL_DATASET_NAMES = DATASET_NAMES + MOTION_NAMES


def is_mask(name: str) -> bool:
    return name.endswith(("_valid", "_occluded"))


@contextmanager
def reading(path: Path, kind: str) -> Iterator[None]:
    """Any failure while reading ``path`` becomes a FlowError naming it, never a traceback from a library."""
    try:
        yield
    except FlowError:
        raise
    except OSError as error:
        raise FlowError(f"Cannot read {path} as {kind}: {error.strerror or error}") from error
    except Exception as error:  # numpy, zipfile, h5py and OpenEXR each raise their own types on bad files
        raise FlowError(f"{path} is not a readable {kind} file: {error}") from error


def read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise FlowError(f"Cannot read {path}: {error.strerror or error}") from error


def check_dataset(path: Path, name: str, array: np.ndarray) -> np.ndarray:
    """Flow must be float32 H×W×2, scene flow float32 H×W×3 and a mask bool H×W; anything else is named and refused."""
    array = np.asarray(array)
    mask = is_mask(name)
    channels = 3 if name.endswith("_scene_flow") else 2
    dtype, what = (np.dtype(bool), "bool H×W") if mask else (np.dtype(np.float32), f"float32 H×W×{channels}")
    shape_ok = array.ndim == 2 if mask else array.ndim == 3 and array.shape[2] == channels
    if array.dtype != dtype or not shape_ok or 0 in array.shape:
        raise FlowError(f"{path}: {name} should be {what}, found {array.dtype} with shape {array.shape}.")
    return array


def check_frame(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check every dataset and that flows and masks of one frame share one size."""
    arrays = {name: check_dataset(path, name, array) for name, array in arrays.items()}
    sizes = {name: array.shape[:2] for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        found = ", ".join(f"{name} {h}×{w}" for name, (h, w) in sizes.items())
        raise FlowError(f"{path}: flow and masks differ in size ({found}); expected one H×W.")
    return arrays
