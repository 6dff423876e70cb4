"""What every reader shares: errors that name the file, and checks of the arrays read."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import FlowError
from ..products import at_image_size, kind_of


class FileSettings(Protocol):
    """What a format needs of a bake to write a frame's files (the bake's options have it): formats depend on this,
    not on the options, which check formats by name."""

    overwrite: bool
    blender_image_coordinate_style: bool
    hdf5_compression: str
    picture_max_radius: float


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
    """Each product has one dtype and shape (flow float32 H×W×2, a mask bool H×W, ...);
    anything else is named and refused."""
    array = np.asarray(array)
    kind = kind_of(name)
    if not kind.fits(array):
        raise FlowError(f"{path}: {name} should be {kind.description}, found {array.dtype} with shape {array.shape}.")
    return array


def check_frame(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check every dataset, and that the frame's images share one size and the rest (its truth) one size: the
    images' or, at truth_scale 2, twice it per axis."""
    arrays = {name: check_dataset(path, name, array) for name, array in arrays.items()}
    sizes = {name: array.shape[:2] for name, array in arrays.items()}
    images = {size for name, size in sizes.items() if at_image_size(name)}
    truth = {size for name, size in sizes.items() if not at_image_size(name)}
    if len(images) > 1 or len(truth) > 1 or any(t not in ((h, w), (2 * h, 2 * w)) for h, w in images for t in truth):
        found = ", ".join(f"{name} {h}×{w}" for name, (h, w) in sizes.items())
        raise FlowError(f"{path}: the products of one frame differ in size ({found}); expected one H×W, and for "
                        "the products other than images 2H×2W if the bake's truth scale was 2.")
    return arrays
